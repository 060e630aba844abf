import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator

from f1opt.metacost import MetaCost, balanced_cost_matrix, metacost_relabel


def _brute_relabel(proba, cost):
    out = []
    for p in proba:
        costs = [sum(p[i] * cost[i, j] for i in range(len(p))) for j in range(len(p))]
        out.append(min(range(len(p)), key=lambda j: (costs[j], j)))
    return np.array(out)


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_relabel_matches_brute_force(rng, n_classes):
    proba = rng.dirichlet(np.ones(n_classes), size=200)
    cost = rng.random((n_classes, n_classes)) * 5
    np.fill_diagonal(cost, 0)
    np.testing.assert_array_equal(metacost_relabel(proba, cost), _brute_relabel(proba, cost))


def test_relabel_zero_one_cost_is_argmax(rng):
    proba = rng.dirichlet(np.ones(4), size=100)
    np.testing.assert_array_equal(metacost_relabel(proba, 1 - np.eye(4)), proba.argmax(1))


def test_relabel_binary_threshold(rng):
    # with C[1,0] = c_fn and C[0,1] = c_fp, predict 1 iff p >= c_fp / (c_fp + c_fn)
    p = rng.random(500)
    proba = np.column_stack([1 - p, p])
    cost = np.array([[0.0, 1.0], [4.0, 0.0]])
    labels = metacost_relabel(proba, cost)
    np.testing.assert_array_equal(
        labels[np.abs(p - 0.2) > 1e-12], (p > 0.2)[np.abs(p - 0.2) > 1e-12]
    )


def test_balanced_cost_matrix():
    cost = balanced_cost_matrix([0] * 9 + [1], [0, 1])
    assert cost[1, 0] / cost[0, 1] == pytest.approx(9.0)
    assert cost[0, 0] == cost[1, 1] == 0


def test_bad_inputs():
    X, y = make_classification(n_samples=60, random_state=0)
    with pytest.raises(ValueError, match="shape"):
        MetaCost(LogisticRegression(), cost_matrix=np.zeros((3, 3))).fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        MetaCost(LogisticRegression(), cost_matrix="cheap").fit(X, y)
    with pytest.raises(ValueError, match="max_samples"):
        MetaCost(LogisticRegression(), max_samples=1.5).fit(X, y)
    with pytest.raises(ValueError, match="n_estimators"):
        MetaCost(LogisticRegression(), n_estimators=0).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        MetaCost(LogisticRegression()).fit(X, np.zeros_like(y))
    with pytest.raises(ValueError, match="2-D"):
        metacost_relabel(np.ones(3), np.eye(3))


def test_fit_relabels_with_costs_and_raises_recall():
    X, y = make_classification(
        n_samples=600, weights=[0.9], flip_y=0.05, class_sep=0.6, random_state=1
    )
    plain = LogisticRegression().fit(X, y)
    model = MetaCost(LogisticRegression(), cost_matrix="balanced", n_estimators=5, random_state=0)
    model.fit(X, y)
    assert len(model.estimators_) == 5
    np.testing.assert_array_equal(model.classes_, [0, 1])
    # relabelled data follow the rule of the bagged probabilities
    proba = np.mean([m.predict_proba(X) for m in model.estimators_], axis=0)
    np.testing.assert_array_equal(model.relabeled_, metacost_relabel(proba, model.cost_matrix_))
    assert model.n_relabeled_ == int(np.sum(model.relabeled_ != y))
    # a missed positive costs 9x a false alarm: many more positive predictions
    assert model.predict(X).sum() > 1.5 * plain.predict(X).sum()
    recall = np.mean(model.predict(X)[y == 1])
    assert recall > np.mean(plain.predict(X)[y == 1])
    f1 = f1_score(y, model.predict(X))
    assert 0 < f1 <= 1
    proba = model.predict_proba(X)
    assert proba.shape == (600, 2)
    np.testing.assert_allclose(proba.sum(1), 1)


def test_zero_one_cost_keeps_clean_labels():
    X, y = make_classification(n_samples=300, class_sep=3.0, flip_y=0, random_state=0)
    model = MetaCost(LogisticRegression(), n_estimators=5, random_state=0).fit(X, y)
    assert model.n_relabeled_ <= 3


def test_deterministic_and_string_labels_multiclass():
    X, y = make_classification(
        n_samples=300, n_classes=3, n_informative=4, weights=[0.7, 0.2], random_state=0
    )
    labels = np.array(["a", "b", "c"])[y]
    cost = np.array([[0, 1, 1], [5, 0, 1], [5, 1, 0]], dtype=float)
    args = dict(cost_matrix=cost, n_estimators=4, max_samples=0.8, random_state=3)
    a = MetaCost(DecisionTreeClassifier(max_depth=3), **args).fit(X, labels)
    b = MetaCost(DecisionTreeClassifier(max_depth=3), **args).fit(X, labels)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert set(a.predict(X)) <= {"a", "b", "c"}
    np.testing.assert_array_equal(a.classes_, ["a", "b", "c"])


def test_oob_and_estimator_without_proba():
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=2)
    model = MetaCost(LinearSVC(), cost_matrix="balanced", n_estimators=6, oob=True, random_state=0)
    model.fit(X, y)
    assert model.predict(X).shape == (200,)
    assert model.predict_proba(X).shape == (200, 2)


def test_all_relabelled_to_one_class_gives_constant_model():
    X, y = make_classification(n_samples=100, weights=[0.9], random_state=0)
    cost = np.array([[0.0, 1e-6], [100.0, 0.0]])  # a false alarm costs nothing
    model = MetaCost(LogisticRegression(), cost_matrix=cost, n_estimators=3, random_state=0)
    model.fit(X, y)
    assert np.all(model.predict(X) == 1)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_sklearn_estimator_contract():
    check_estimator(MetaCost(DecisionTreeClassifier(max_depth=3), n_estimators=2, random_state=0))
