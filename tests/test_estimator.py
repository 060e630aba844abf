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

EXPECTED_FAILURES = {
    # as for scikit-learn's own TunedThresholdClassifierCV: predict applies the
    # tuned decision, so it is not the argmax of predict_proba by design.
    # test_blobs_accuracy below runs the rest of that check.
    "check_classifiers_train": "Threshold at probability 0.5 does not hold",
}


@parametrize_with_checks(
    [F1OptimalClassifier(LogisticRegression(), cv=2)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES,
)
def test_sklearn_estimator_checks(estimator, check):
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
    assert clf.method_ == ("weights" if multiclass else "global")
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
    clf = F1OptimalClassifier(LogisticRegression(), cv=4, random_state=3).fit(X, y)
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
    # cv_results_: the pooled score is sklearn's F of the nested predictions
    assert list(clf.cv_results_["method"]) == ["global"]
    assert clf.best_score_ == clf.cv_results_["oof_score"][0]
    assert 0 < clf.best_score_ <= 1
    assert clf.average_ == "binary" and clf.response_method_ == "predict_proba"


def test_binary_beats_default_threshold_on_imbalanced_data():
    X, y = make_classification(
        n_samples=3000, n_features=10, weights=[0.95], flip_y=0.02, random_state=1
    )
    X_train, X_test, y_train, y_test = X[:2000], X[2000:], y[:2000], y[2000:]
    plain = LogisticRegression().fit(X_train, y_train).predict(X_test)
    tuned = F1OptimalClassifier(LogisticRegression(), random_state=0).fit(X_train, y_train)
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
    clf = F1OptimalClassifier(LogisticRegression(), beta=beta, cv=3, random_state=0)
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
    methods = list(clf.cv_results_["method"])
    if average == "samples":
        assert methods == ["global", "expected"]
    else:
        assert methods == ["global", "per_class"]
    assert clf.method_ in methods
    assert clf.best_score_ == clf.cv_results_["oof_score"].max()
    assert set(clf.cv_results_["rank_test_score"]) == {1, 2}
    assert set(clf.cv_results_) >= {"mean_test_score", "std_test_score", "split2_test_score"}
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
    clf = F1OptimalClassifier(LinearSVC(), cv=3, random_state=0).fit(X, y)
    assert clf.response_method_ == "decision_function"
    assert not hasattr(clf, "predict_proba")
    np.testing.assert_array_equal(
        clf.predict(X) == "pos", clf.decision_function(X) >= clf.decider_.threshold_
    )


def test_expected_method_binary(binary_data):
    X, y = binary_data
    clf = F1OptimalClassifier(LogisticRegression(), method="expected", cv=3, random_state=0)
    clf.fit(X, y)
    assert type(clf.decider_).__name__ == "ExpectedF1"
    assert set(clf.predict(X)) <= {"neg", "pos"}


def test_pandas_pipeline_gridsearch_and_clone(binary_data):
    pd = pytest.importorskip("pandas")
    X, y = binary_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    series = pd.Series(y, name="target")
    clf = F1OptimalClassifier(LogisticRegression(), cv=3, random_state=0).fit(frame, series)
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.n_features_in_ == X.shape[1]
    assert clf.predict(frame).shape == (len(y),)

    pipe = make_pipeline(StandardScaler(), F1OptimalClassifier(LogisticRegression(), cv=3))
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
    clf = F1OptimalClassifier(LogisticRegression(), cv=0.3, refit=False, random_state=0)
    clf.fit(X, y)
    assert clf.estimator_.coef_.shape == (1, X.shape[1])
    with pytest.raises(ValueError, match="single split"):
        F1OptimalClassifier(LogisticRegression(), cv=3, refit=False).fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "y_kind", "match"),
    [
        ({"method": "weights"}, "binary", "class weights need multiclass"),
        ({"method": "global"}, "multiclass", "use method='weights'"),
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
