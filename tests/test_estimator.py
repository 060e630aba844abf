"""F1OptimalClassifier: the scikit-learn contract, each target type, sklearn's F."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_classification, make_multilabel_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, fbeta_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import f1opt
from f1opt import F1OptimalClassifier, optimal_threshold
from f1opt.weights import ClassWeights

EXPECTED_FAILURES: dict = {}
# As for TunedThresholdClassifierCV: the folds of repeated rows differ from the folds of
# weighted rows, so the two fits may differ (whether they do depends on the rule chosen).
SKIPPED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": "folds of repeated and weighted rows differ",
    "check_sample_weight_equivalence_on_sparse_data": "folds of repeated and weighted rows differ",
    # as for scikit-learn's own TunedThresholdClassifierCV: predict applies the tuned
    # decision, so it need not be the argmax of predict_proba (whether it is depends on
    # the rule auto chooses); test_blobs_accuracy below runs the rest of that check.
    "check_classifiers_train": "the tuned decision need not be the 0.5 threshold",
}
# These checks fit binary labels {1, 2} or {"one", "two"} without pos_label, which
# F1OptimalClassifier refuses as scikit-learn's F1 does; _LargerClassPositive runs them.
POS_LABEL_CHECKS = {
    name: "binary labels other than {0, 1} need pos_label"
    for name in (
        "check_estimators_dtypes",
        "check_sample_weights_pandas_series",
        "check_sample_weights_not_an_array",
        "check_sample_weights_shape",
        "check_sample_weights_not_overwritten",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_fit2d_1feature",
    )
}


class _LargerClassPositive(F1OptimalClassifier):
    """The estimator with pos_label=None meaning the larger class, for the API checks."""

    def _encode_targets(self, y):
        classes = np.unique(np.asarray(y)) if np.ndim(y) == 1 else None
        if self.pos_label is None and classes is not None and classes.size == 2:
            self.pos_label = classes[-1]
            try:
                return super()._encode_targets(y)
            finally:
                self.pos_label = None
        return super()._encode_targets(y)


def _expected_failures(estimator):
    if type(estimator) is F1OptimalClassifier:
        return {**EXPECTED_FAILURES, **POS_LABEL_CHECKS}
    return EXPECTED_FAILURES


@parametrize_with_checks(
    [
        F1OptimalClassifier(LogisticRegression(), cv=2),
        _LargerClassPositive(LogisticRegression(), cv=2),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in SKIPPED_CHECKS:
        pytest.skip(SKIPPED_CHECKS[name])
    if type(estimator) is _LargerClassPositive and name not in POS_LABEL_CHECKS:
        pytest.skip("the same check runs on F1OptimalClassifier itself")
    check(estimator)


@pytest.mark.parametrize("multiclass", [False, True])
def test_blobs_accuracy(multiclass):
    """The parts of check_classifiers_train that hold for a tuned decision."""
    X, y = make_blobs(n_samples=300, random_state=0)
    X = StandardScaler().fit_transform(X)
    if not multiclass:
        X, y = X[y != 2], y[y != 2]
    clf = F1OptimalClassifier(LogisticRegression(), cv=3, random_state=0).fit(X, y)
    y_pred = clf.predict(X)
    assert y_pred.shape == (X.shape[0],)
    assert np.mean(y_pred == y) > 0.83
    assert clf.method_ in (("default", "weights") if multiclass else ("default", "global"))
    np.testing.assert_array_equal(clf.classes_, np.unique(y))


@pytest.fixture
def binary_data():
    X, y = make_classification(
        n_samples=400, n_features=8, weights=[0.85], flip_y=0.05, random_state=0
    )
    labels = np.array(["neg", "pos"])[y]
    return X, labels


def test_binary_threshold_is_exact_on_out_of_fold_scores(binary_data):
    X, y = binary_data
    clf = F1OptimalClassifier(
        LogisticRegression(), method="global", pos_label="pos", cv=4, random_state=3
    ).fit(X, y)
    # the same out-of-fold scores by hand
    splitter = StratifiedKFold(n_splits=4, shuffle=True, random_state=3)
    oof = cross_val_predict(LogisticRegression(), X, y, cv=splitter, method="predict_proba")
    expected = optimal_threshold(y == "pos", oof[:, 1])
    assert clf.decider_.threshold_ == expected.threshold
    assert clf.decider_.best_score_ == pytest.approx(
        f1_score(y == "pos", oof[:, 1] >= clf.decider_.threshold_), abs=1e-12
    )
    # predict: original labels, the threshold applied to the refit estimator
    y_pred = clf.predict(X)
    assert set(y_pred) <= {"neg", "pos"}
    proba = LogisticRegression().fit(X, y).predict_proba(X)[:, 1]
    np.testing.assert_array_equal(y_pred == "pos", proba >= clf.decider_.threshold_)
    # cv_results_: the default decision beside the asked method, which is chosen
    assert list(clf.cv_results_["method"]) == ["default", "global"]
    assert list(clf.cv_results_["chosen"]) == [False, True]
    assert clf.best_score_ == clf.cv_results_["oof_score"][1]
    assert 0 < clf.best_score_ <= 1
    assert clf.best_threshold_ == clf.decider_.threshold_
    # per-split thresholds of the inner comparison, and the bootstrap interval
    thresholds = [clf.cv_results_[f"split{i}_threshold"][1] for i in range(4)]
    assert all(isinstance(t, float) for t in thresholds)
    assert [clf.cv_results_[f"split{i}_threshold"][0] for i in range(4)] == [0.5] * 4
    low, high = clf.cv_results_["oof_score_ci_low"][1], clf.cv_results_["oof_score_ci_high"][1]
    assert low < clf.best_score_ < high
    assert clf.average_ == "binary" and clf.response_method_ == "predict_proba"


def test_binary_beats_default_threshold_on_imbalanced_data():
    X, y = make_classification(
        n_samples=3000, n_features=10, weights=[0.95], flip_y=0.02, random_state=1
    )
    X_train, X_test, y_train, y_test = X[:2000], X[2000:], y[:2000], y[2000:]
    plain = LogisticRegression().fit(X_train, y_train).predict(X_test)
    tuned = F1OptimalClassifier(LogisticRegression(), random_state=0).fit(X_train, y_train)
    assert tuned.method_ == "global"  # a clear gain over 0.5, beyond the fold noise
    assert f1_score(y_test, tuned.predict(X_test)) > f1_score(y_test, plain)


def test_multiclass_class_weights():
    beta = 2.0
    X, y = make_classification(
        n_samples=300,
        n_features=10,
        n_informative=6,
        n_classes=4,
        weights=[0.6, 0.25, 0.1, 0.05],
        random_state=2,
    )
    names = np.array(["a", "b", "c", "d"])
    clf = F1OptimalClassifier(
        LogisticRegression(), method="weights", beta=beta, cv=3, random_state=0
    )
    clf.fit(X, names[y])
    assert isinstance(clf.decider_, ClassWeights)
    assert clf.average_ == "macro" and clf.method_ == "weights"
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    oof = cross_val_predict(LogisticRegression(), X, names[y], cv=splitter, method="predict_proba")
    again = ClassWeights(beta=beta).fit(oof, y)
    np.testing.assert_array_equal(again.weights_, clf.decider_.weights_)
    np.testing.assert_array_equal(again.offsets_, clf.decider_.offsets_)
    assert clf.decider_.best_score_ == pytest.approx(
        fbeta_score(y, clf.decider_.predict(oof), beta=beta, average="macro"), abs=1e-12
    )
    y_pred = clf.predict(X)
    assert set(y_pred) <= set(names)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(y_pred, names[clf.decider_.predict(proba)])


@pytest.fixture
def multilabel_data():
    X, Y = make_multilabel_classification(
        n_samples=150, n_features=6, n_classes=3, n_labels=2, random_state=0
    )
    return X, Y


@pytest.mark.parametrize("average", ["micro", "samples"])
def test_multilabel(multilabel_data, average):
    X, Y = multilabel_data
    base = OneVsRestClassifier(LogisticRegression())
    kwargs = {} if average == "micro" else {"average": average}
    clf = F1OptimalClassifier(base, cv=3, random_state=0, **kwargs).fit(X, Y)
    assert clf.average_ == average
    candidates = list(clf.cv_results_["candidate"])
    if average == "samples":
        assert candidates == [
            "default",
            "global",
            "expected",
            "expected[isotonic]",
            "expected[sigmoid]",
        ]
    else:
        assert candidates == ["default", "global", "per_class"]
    assert clf.method_ in clf.cv_results_["method"]
    chosen = int(np.flatnonzero(clf.cv_results_["chosen"])[0])
    assert clf.best_score_ == clf.cv_results_["oof_score"][chosen]
    assert set(clf.cv_results_["rank_test_score"]) == set(range(1, len(candidates) + 1))
    assert set(clf.cv_results_) >= {"mean_test_score", "std_test_score", "split2_test_score"}
    assert "split23_test_score" in clf.cv_results_  # auto: 3 folds x 8 rounds (n_repeats)
    assert "split24_test_score" not in clf.cv_results_
    Y_pred = clf.predict(X)
    assert Y_pred.shape == Y.shape
    np.testing.assert_array_equal(clf.classes_, np.arange(3))
    # the pooled comparison scores are sklearn's F of real predictions
    assert np.all((clf.cv_results_["oof_score"] > 0) & (clf.cv_results_["oof_score"] <= 1))
    score = f1_score(Y, Y_pred, average=average)
    assert score == pytest.approx(f1opt.fbeta_score(Y, Y_pred, average=average), abs=1e-12)


def test_multilabel_per_class_matches_decider_on_oof(multilabel_data):
    X, Y = multilabel_data
    base = OneVsRestClassifier(LogisticRegression())
    clf = F1OptimalClassifier(base, method="per_class", cv=3, random_state=0).fit(X, Y)
    from sklearn.model_selection import KFold

    oof = cross_val_predict(
        base, X, Y, cv=KFold(3, shuffle=True, random_state=0), method="predict_proba"
    )
    again = f1opt.PerClassThreshold().fit(oof, Y)
    np.testing.assert_array_equal(again.thresholds_, clf.decider_.thresholds_)
    assert clf.decider_.best_score_ == pytest.approx(
        f1_score(Y, clf.decider_.predict(oof), average="micro"), abs=1e-12
    )


def test_decision_function_only_estimator(binary_data):
    X, y = binary_data
    clf = F1OptimalClassifier(LinearSVC(), pos_label="pos", cv=3, random_state=0).fit(X, y)
    assert clf.response_method_ == "decision_function"
    assert not hasattr(clf, "predict_proba")
    np.testing.assert_array_equal(
        clf.predict(X) == "pos", clf.decision_function(X) >= clf.decider_.threshold_
    )


def test_expected_method_binary(binary_data):
    X, y = binary_data
    clf = F1OptimalClassifier(
        LogisticRegression(), method="expected", pos_label="pos", cv=3, random_state=0
    )
    clf.fit(X, y)
    assert type(clf.decider_).__name__ == "ExpectedF1"
    assert clf.best_threshold_ is None  # no threshold: a decision over the whole batch
    assert list(clf.cv_results_["batch_dependent"]) == [False, True]
    # auto never chooses a batch rule: it is not even a binary candidate
    auto = F1OptimalClassifier(LogisticRegression(), pos_label="pos", cv=3).fit(X, y)
    assert "expected" not in set(auto.cv_results_["method"])
    assert set(clf.predict(X)) <= {"neg", "pos"}


def test_pandas_pipeline_gridsearch_and_clone(binary_data):
    pd = pytest.importorskip("pandas")
    X, y = binary_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    series = pd.Series(y, name="target")
    clf = F1OptimalClassifier(LogisticRegression(), pos_label="pos", cv=3, random_state=0)
    clf.fit(frame, series)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.n_features_in_ == X.shape[1]
    assert clf.predict(frame).shape == (len(y),)

    pipe = make_pipeline(
        StandardScaler(), F1OptimalClassifier(LogisticRegression(), pos_label="pos", cv=3)
    )
    search = GridSearchCV(
        pipe,
        {"f1optimalclassifier__estimator__C": [0.1, 1.0]},
        scoring="f1_macro",
        cv=2,
    ).fit(frame, series)
    assert search.best_params_["f1optimalclassifier__estimator__C"] in (0.1, 1.0)
    assert search.predict(frame).shape == (len(y),)

    copy = clone(clf)
    assert copy.get_params()["cv"] == 3 and not hasattr(copy, "decider_")


def test_refit_false_keeps_single_split_estimator(binary_data):
    X, y = binary_data
    clf = F1OptimalClassifier(
        LogisticRegression(), pos_label="pos", cv=0.3, refit=False, random_state=0
    )
    clf.fit(X, y)
    assert clf.estimator_.coef_.shape == (1, X.shape[1])
    with pytest.raises(ValueError, match="single split"):
        F1OptimalClassifier(LogisticRegression(), pos_label="pos", cv=3, refit=False).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "y_kind", "match"),
    [
        ({"method": "weights"}, "binary", "'weights' serves multiclass"),
        ({"method": "global"}, "multiclass", "'global' does not fit multiclass"),
        ({"method": "per_class"}, "binary", "multilabel"),
        ({"average": "micro"}, "multiclass", "average='micro' is not supported"),
        ({"average": "macro"}, "binary", "not supported for binary"),
    ],
)
def test_bad_method_or_average(kwargs, y_kind, match):
    X, y = make_blobs(n_samples=90, random_state=0)
    if y_kind == "binary":
        y = (y == 0).astype(int)
    with pytest.raises(ValueError, match=match):
        F1OptimalClassifier(LogisticRegression(), cv=3, **kwargs).fit(X, y)


def test_errors_on_targets_and_unfitted():
    X, y = make_blobs(n_samples=60, random_state=0)
    with pytest.raises(ValueError, match="Unknown label type"):
        F1OptimalClassifier(LogisticRegression()).fit(X, y + 0.5)
    with pytest.raises(ValueError, match="1 class"):
        F1OptimalClassifier(LogisticRegression()).fit(X, np.zeros(60))
    with pytest.raises(NotFittedError):
        F1OptimalClassifier(LogisticRegression()).predict(X)
    assert f1opt.F1OptimalClassifier is F1OptimalClassifier


def test_very_few_positives_still_fit():
    X, y = make_classification(n_samples=120, n_features=5, weights=[0.97], random_state=4)
    y[:] = 0
    y[:3] = 1  # three positives: some inner splits have none to fit a threshold on
    clf = F1OptimalClassifier(LogisticRegression(), cv=3, random_state=0).fit(X, y)
    assert clf.predict(X).shape == (120,)
    assert np.isfinite(clf.best_score_)


# ---------------------------------------------------------------------------
# labels: the refit sees every class index, pos_label, weights, inspection


def test_many_labels_refit_is_the_estimator_fitted_directly():
    """Past 127 labels an int8 indicator scrambled the refit one-vs-rest columns."""
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    n, n_labels = 160, 210
    X = rng.normal(size=(n, 5))
    Y = (rng.random((n, n_labels)) < np.linspace(0.05, 0.6, n_labels)).astype(np.int64)
    Y[0] = 1  # every label has a positive
    base = OneVsRestClassifier(KNeighborsClassifier(n_neighbors=7))
    clf = F1OptimalClassifier(base, method="global", cv=2, random_state=0).fit(X, Y)
    direct = clone(base).fit(X, Y)
    np.testing.assert_array_equal(clf.estimator_.predict(X), direct.predict(X))
    np.testing.assert_array_equal(clf.estimator_.predict_proba(X), direct.predict_proba(X))


def _churn(seed):
    X, y = make_classification(
        n_samples=400, n_features=6, weights=[0.9], flip_y=0.02, random_state=seed
    )
    return X, np.where(y == 1, "churn", "stay")  # "churn" (10%) sorts first


def test_string_binary_labels_need_pos_label():
    X, y = _churn(0)
    with pytest.raises(ValueError, match=r"\['churn', 'stay'\].*pos_label"):
        F1OptimalClassifier(LogisticRegression(), cv=3).fit(X, y)
    with pytest.raises(ValueError, match="pos_label='gone' is not a class"):
        F1OptimalClassifier(LogisticRegression(), pos_label="gone", cv=3).fit(X, y)


@pytest.mark.parametrize("seed", [0, 1])
def test_pos_label_is_the_class_whose_f_counts(seed):
    X, y = _churn(seed)
    clf = F1OptimalClassifier(
        LogisticRegression(), method="global", pos_label="churn", cv=3, random_state=0
    ).fit(X, y)
    assert clf.pos_label_ == "churn"
    y_pred = clf.predict(X)
    assert set(y_pred) == {"churn", "stay"}  # original labels, not "stay" everywhere
    # the threshold applies to the probability of "churn" (the first column)
    p_churn = clf.predict_proba(X)[:, 0]
    np.testing.assert_array_equal(y_pred == "churn", p_churn >= clf.best_threshold_)
    # best_score_ is the F1 of "churn" on the comparison's pooled predictions
    assert clf.best_score_ < 0.9
    assert f1_score(y, y_pred, pos_label="churn") > 0.3


def test_pos_label_on_non_binary_targets_is_refused():
    X, y = make_blobs(n_samples=60, random_state=0)
    with pytest.raises(ValueError, match="binary targets only"):
        F1OptimalClassifier(LogisticRegression(), pos_label=1, cv=3).fit(X, y)


def test_verbose_messages_go_to_stderr(capsys):
    X, y = make_classification(n_samples=120, random_state=0)
    F1OptimalClassifier(LogisticRegression(), cv=2).fit(X, y)
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == ""
    F1OptimalClassifier(LogisticRegression(), cv=2, verbose=1).fit(X, y)
    loud = capsys.readouterr()
    assert "[F1OptimalClassifier]" in loud.err and "chose" in loud.err and loud.out == ""


def test_default_wins_ties_on_a_perfect_classifier():
    """No rule beats 0.5 on separable data (both score 1 on every fold): auto keeps the model."""
    X, y = make_classification(n_samples=400, n_features=5, class_sep=6.0, flip_y=0, random_state=0)
    clf = F1OptimalClassifier(LogisticRegression(), cv=5, random_state=0).fit(X, y)
    assert clf.method_ == "default"
    assert clf.best_threshold_ == 0.5
    np.testing.assert_array_equal(clf.predict(X), clf.estimator_.predict(X))


def test_sample_weight_goes_to_the_estimator_and_the_scoring():
    from sklearn.metrics import f1_score as sk_f1

    X, y = make_classification(n_samples=300, weights=[0.8], random_state=0)
    w = np.random.default_rng(0).integers(1, 4, size=y.size).astype(float)
    clf = F1OptimalClassifier(LogisticRegression(), method="default", cv=3, random_state=0)
    clf.fit(X, y, sample_weight=w)
    direct = LogisticRegression().fit(X, y, sample_weight=w)
    np.testing.assert_allclose(clf.estimator_.coef_, direct.coef_)
    # the default rule's pooled out-of-fold F is the weighted F of cross_val_predict
    splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    oof = cross_val_predict(
        LogisticRegression(),
        X,
        y,
        cv=splitter,
        method="predict_proba",
        params={"sample_weight": w},
    )[:, 1]
    assert clf.best_score_ == pytest.approx(sk_f1(y, oof >= 0.5, sample_weight=w), abs=1e-12)


def test_sample_weight_with_metadata_routing():
    import sklearn

    X, y = make_classification(n_samples=200, random_state=0)
    w = np.random.default_rng(1).random(y.size)
    with sklearn.config_context(enable_metadata_routing=True):
        asked = LogisticRegression().set_fit_request(sample_weight=True)
        clf = F1OptimalClassifier(asked, method="default", cv=2, random_state=0)
        clf.fit(X, y, sample_weight=w)
        np.testing.assert_allclose(
            clf.estimator_.coef_, LogisticRegression().fit(X, y, sample_weight=w).coef_
        )
        refused = LogisticRegression().set_fit_request(sample_weight=False)
        clf = F1OptimalClassifier(refused, method="default", cv=2, random_state=0)
        clf.fit(X, y, sample_weight=w)  # the rule is weighted, the estimator is not
        np.testing.assert_allclose(clf.estimator_.coef_, LogisticRegression().fit(X, y).coef_)


def _weighted_deciders_exist():
    import inspect

    return "sample_weight" in inspect.signature(f1opt.GlobalThreshold.fit).parameters


@pytest.mark.skipif(
    not _weighted_deciders_exist(),
    reason="GlobalThreshold.fit has no sample_weight yet (added by the threshold kernels' branch)",
)
def test_integer_weights_give_the_threshold_of_repeated_rows():
    X, y = make_classification(n_samples=200, weights=[0.7], random_state=3)
    w = np.random.default_rng(2).integers(0, 4, size=y.size)
    clf = F1OptimalClassifier(
        LogisticRegression(), method="global", cv=0.5, refit=False, random_state=0
    ).fit(X, y, sample_weight=w)
    # same validation part, rows repeated by their weight
    from sklearn.model_selection import StratifiedShuffleSplit

    splitter = StratifiedShuffleSplit(n_splits=1, test_size=0.5, random_state=0)
    _, val = next(splitter.split(X, y))
    p = clf.estimator_.predict_proba(X[val])[:, 1]
    repeated = f1opt.GlobalThreshold().fit(np.repeat(p, w[val]), np.repeat(y[val], w[val]))
    assert clf.decider_.threshold_ == repeated.threshold_


def test_default_rounds_are_the_comparison_engines():
    import inspect

    from f1opt.compare import N_REPEATS, compare

    assert F1OptimalClassifier(LogisticRegression()).n_repeats == N_REPEATS
    assert inspect.signature(compare).parameters["n_repeats"].default == N_REPEATS
