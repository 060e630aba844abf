"""Adversarial tests: a bad-input matrix of the API, F-beta against scikit-learn with
sample weights, and ClassWeights' claims (exact with two classes, no better rule found)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError
from sklearn.metrics import fbeta_score as sk_fbeta_score

import f1opt
from f1opt._validation import check_sample_weight, check_scores_and_labels
from f1opt.metrics import fbeta_score
from f1opt.weights import ClassWeights, fit_class_weights, predict_class_weights

S1 = np.array([0.1, 0.4, 0.35, 0.8])
Y1 = np.array([0, 0, 1, 1])
S2 = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.4]])
Y2 = np.array([[1, 0], [1, 1], [0, 1]])
P3 = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.4, 0.1]])
Y3 = np.array([0, 1, 2, 0])


def _fitted_global():
    return f1opt.GlobalThreshold(average="micro").fit(S2, Y2)


def _fitted_weights():
    return ClassWeights().fit(P3, Y3)


BAD_INPUTS = {
    # optimal_threshold
    "labels-not-01": (lambda: f1opt.optimal_threshold([0, 2, 1, 0], S1), "binary target"),
    "scores-nan": (lambda: f1opt.optimal_threshold(Y1, [0.1, np.nan, 0.2, 0.3]), "NaN"),
    "scores-inf": (lambda: f1opt.optimal_threshold(Y1, [0.1, np.inf, 0.2, 0.3]), "infinite"),
    "length-mismatch": (lambda: f1opt.optimal_threshold(Y1, S1[:3]), "same shape"),
    "empty": (lambda: f1opt.optimal_threshold([], []), "empty"),
    "scores-strings": (lambda: f1opt.optimal_threshold(Y1, list("abcd")), "numbers only"),
    "beta-zero": (lambda: f1opt.optimal_threshold(Y1, S1, beta=0), "beta"),
    "beta-bool": (lambda: f1opt.optimal_threshold(Y1, S1, beta=True), "beta"),
    "beta-nan": (lambda: f1opt.optimal_threshold(Y1, S1, beta=np.nan), "beta"),
    "beta-string": (lambda: f1opt.optimal_threshold(Y1, S1, beta="1"), "beta"),
    "no-positive": (lambda: f1opt.optimal_threshold([0, 0, 0, 0], S1), "no positive"),
    "scores-3d": (lambda: f1opt.optimal_threshold(Y1, np.zeros((4, 1, 1))), "1-D"),
    "ragged": (lambda: f1opt.optimal_threshold(Y1, [[0.1], [0.2, 0.3], 0.1, 0.2]), "array|1-D"),
    "complex": (lambda: f1opt.optimal_threshold(Y1, S1 + 1j), "complex|real"),
    "labels-nan": (lambda: f1opt.optimal_threshold([0, np.nan, 1, 0], S1), "NaN"),
    # GlobalThreshold / PerClassThreshold
    "global-average": (lambda: f1opt.GlobalThreshold(average="foo").fit(S2, Y2), "average"),
    "global-zero-division": (
        lambda: f1opt.GlobalThreshold(zero_division=2).fit(S2, Y2),
        "zero_division",
    ),
    "global-width": (lambda: _fitted_global().predict(np.zeros((2, 3))), "fitted on 2"),
    "global-labels-shape": (
        lambda: f1opt.GlobalThreshold(average="micro").fit(S2, Y2[:, :1]),
        "same shape",
    ),
    "perclass-average": (
        lambda: f1opt.PerClassThreshold(average="samples").fit(S2, Y2),
        "average",
    ),
    "perclass-1d": (lambda: f1opt.PerClassThreshold().fit(S1, Y1), "2-D"),
    "perclass-labels-3": (lambda: f1opt.PerClassThreshold().fit(S2, Y2 * 3), "only 0 and 1"),
    # ClassWeights
    "cw-class-out-of-range": (lambda: ClassWeights().fit(P3, [0, 1, 3, 0]), "class ids 0..2"),
    "cw-fraction-ids": (lambda: ClassWeights().fit(P3, [0, 1, 1.5, 0]), "integer class ids"),
    "cw-one-column": (lambda: ClassWeights().fit(P3[:, :1], Y3), "at least 2"),
    "cw-length": (lambda: ClassWeights().fit(P3, Y3[:3]), "one per row"),
    "cw-max-iter": (lambda: ClassWeights(max_iter=0).fit(P3, Y3), "max_iter"),
    "cw-n-restarts": (lambda: ClassWeights(n_restarts=-1).fit(P3, Y3), "n_restarts"),
    "cw-random-state": (lambda: ClassWeights(random_state="x").fit(P3, Y3), "random_state"),
    "cw-weight-negative": (
        lambda: ClassWeights().fit(P3, Y3, sample_weight=[1, -1, 1, 1]),
        "non-negative",
    ),
    "cw-weight-length": (
        lambda: ClassWeights().fit(P3, Y3, sample_weight=[1, 1]),
        "one weight per row",
    ),
    "cw-weight-nan": (lambda: ClassWeights().fit(P3, Y3, sample_weight=[1, np.nan, 1, 1]), "NaN"),
    "cw-weight-zero": (
        lambda: ClassWeights().fit(P3, Y3, sample_weight=[0, 0, 0, 0]),
        "positive weight",
    ),
    "cw-predict-width": (lambda: _fitted_weights().predict(P3[:, :2]), "3 classes"),
    "cw-nan-probabilities": (lambda: ClassWeights().fit(P3 * np.nan, Y3), "NaN"),
    # fbeta_score
    "fbeta-binary-2d": (lambda: fbeta_score(Y2, Y2), "average='binary'"),
    "fbeta-samples-1d": (lambda: fbeta_score(Y1, Y1, average="samples"), "samples"),
    "fbeta-shape": (lambda: fbeta_score(Y2, Y2[:2], average="micro"), "same shape"),
    "fbeta-labels-2": (lambda: fbeta_score([0, 2], [0, 1]), "only 0 and 1"),
    "fbeta-average-none": (lambda: fbeta_score(Y1, Y1, average=None), "average"),
    "fbeta-weight-bool": (
        lambda: fbeta_score(Y1, Y1, sample_weight=np.ones(4, bool)),
        "booleans",
    ),
    "fbeta-zero-division": (lambda: fbeta_score(Y1, Y1, zero_division="x"), "zero_division"),
    "fbeta-beta": (lambda: fbeta_score(Y1, Y1, beta=-1), "beta"),
    "fbeta-weight-2d": (lambda: fbeta_score(Y1, Y1, sample_weight=np.ones((4, 1))), "1-D"),
    # ExpectedF1
    "expected-average": (lambda: f1opt.ExpectedF1(average="foo").fit(S1, Y1), "average"),
    "expected-calibration": (
        lambda: f1opt.ExpectedF1(calibration="magic").fit(S1, Y1),
        "calibration",
    ),
    # validation helpers
    "all-zero-multilabel": (
        lambda: check_scores_and_labels(
            S2, np.zeros_like(Y2), multilabel=True, require_positive=True
        ),
        "no positive",
    ),
    "weight-sparse": (lambda: check_sample_weight(_sparse_row(), 3), "sparse"),
}


def _sparse_row():
    from scipy import sparse

    return sparse.csr_matrix(np.ones((1, 3)))


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_matrix(case):
    call, match = BAD_INPUTS[case]
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_bad_input_matrix_is_large():
    assert len(BAD_INPUTS) >= 40


def test_unfitted_is_not_fitted_error():
    with pytest.raises(NotFittedError):
        ClassWeights().predict(P3)


# ---------------------------------------------------------------- fbeta_score vs sklearn
AVERAGES = ["binary", "micro", "macro", "weighted", "samples"]


@st.composite
def label_pairs(draw):
    n = draw(st.integers(1, 6))
    column = draw(st.sampled_from(["1d", "col", "matrix"]))
    width = 1 if column != "matrix" else draw(st.integers(1, 4))
    shape = (n,) if column == "1d" else (n, width)
    bits = st.lists(st.integers(0, 1), min_size=n * width, max_size=n * width)
    y_true = np.array(draw(bits)).reshape(shape)
    y_pred = np.array(draw(bits)).reshape(shape)
    weight = draw(
        st.one_of(
            st.none(),
            st.lists(st.integers(0, 3), min_size=n, max_size=n).map(np.array),
            st.lists(st.floats(0.0, 5.0), min_size=n, max_size=n).map(np.array),
        )
    )
    return y_true, y_pred, weight


@settings(max_examples=300, deadline=None)
@given(
    label_pairs(),
    st.sampled_from(AVERAGES),
    st.sampled_from([0.0, 1.0, "warn"]),  # scikit-learn's values (f1opt also takes [0, 1])
    st.sampled_from([0.5, 1.0, 2.0]),
)
def test_fbeta_score_equals_sklearn(pair, average, zero_division, beta):
    y_true, y_pred, weight = pair
    if y_true.ndim == 2 and y_true.shape[1] == 1 and average != "binary":
        y_true, y_pred = y_true.ravel(), y_pred.ravel()  # the documented departure
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = sk_fbeta_score(
                y_true,
                y_pred,
                beta=beta,
                average=average,
                zero_division=zero_division,
                sample_weight=weight,
            )
    except ValueError:
        with pytest.raises(ValueError):
            fbeta_score(
                y_true,
                y_pred,
                beta=beta,
                average=average,
                zero_division=zero_division,
                sample_weight=weight,
            )
        return
    got = fbeta_score(
        y_true,
        y_pred,
        beta=beta,
        average=average,
        zero_division=zero_division,
        sample_weight=weight,
    )
    assert got == pytest.approx(float(expected), abs=1e-12)


def test_weighted_zero_division_example_from_the_issue():
    assert fbeta_score([[0, 0]], [[1, 0]], average="weighted", zero_division=1.0) == 0.5


def test_one_column_is_one_label_except_for_binary():
    y_true, y_pred = np.array([[0], [1], [1]]), np.array([[1], [1], [0]])
    assert fbeta_score(y_true, y_pred, average="micro") == 0.5  # F of the positives
    assert fbeta_score(y_true, y_pred) == 0.5  # binary, as scikit-learn
    assert fbeta_score(y_true.ravel(), y_pred.ravel(), average="micro") == pytest.approx(
        sk_fbeta_score(y_true.ravel(), y_pred.ravel(), beta=1.0, average="micro")
    )


def test_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, (12, 3))
    y_pred = rng.integers(0, 2, (12, 3))
    weight = rng.integers(0, 4, 12)
    weight[0] = 1
    repeated = np.repeat(np.arange(12), weight)
    for average in ("micro", "macro", "weighted", "samples"):
        assert fbeta_score(y_true, y_pred, average=average, sample_weight=weight) == pytest.approx(
            fbeta_score(y_true[repeated], y_pred[repeated], average=average)
        )


# ---------------------------------------------------------------- ClassWeights' claims
def _macro(y, y_pred, n_classes, weight=None):
    w = np.ones(y.size) if weight is None else weight
    f = []
    for k in range(n_classes):
        tp = w[(y == k) & (y_pred == k)].sum()
        d = w[y == k].sum() + w[y_pred == k].sum()
        f.append(2 * tp / d if d > 0 else 0.0)
    return float(np.mean(f))


def _brute_two_class(P, y, weight=None):
    """Every rule argmax(w0 p0 + c0, w1 p1 + c1), w >= 0: half-planes whose normal lies in
    a quadrant; enumerated through every direction between pairwise critical angles."""
    n = P.shape[0]
    best = max(_macro(y, np.zeros(n, int), 2, weight), _macro(y, np.ones(n, int), 2, weight))
    angles = [0.0, np.pi / 2]
    for i in range(n):
        for j in range(n):
            a = P[i] - P[j]
            if np.any(a):
                # directions u = (-cos t, sin t) with u.a = 0
                t = np.arctan2(a[0], a[1])
                for cand in (t, t + np.pi, t - np.pi):
                    if 0 <= cand <= np.pi / 2:
                        angles.append(cand)
    angles = np.unique(angles)
    angles = angles[np.append(True, np.diff(angles) > 1e-9)]  # one angle computed two ways
    # between critical angles the order of the scores is fixed, so their midpoints
    # (and the quadrant's edges, exactly) give every rule; at a critical angle itself
    # some scores tie, and rounding would split ties no rule can split
    directions = [(1.0, 0.0), (0.0, 1.0)]  # (sin t, cos t) at t = pi/2 and t = 0
    directions += [(np.sin(t), np.cos(t)) for t in (angles[1:] + angles[:-1]) / 2]
    for sin_t, cos_t in directions:
        s = sin_t * P[:, 1] - cos_t * P[:, 0]
        values = np.unique(s)
        cuts = np.concatenate([[values[0] - 1], (values[1:] + values[:-1]) / 2, [values[-1] + 1]])
        for cut in cuts:
            best = max(best, _macro(y, (s > cut).astype(int), 2, weight))
    return best


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 9).flatmap(
        lambda n: st.tuples(
            st.lists(st.integers(0, 5), min_size=2 * n, max_size=2 * n),
            st.lists(st.integers(0, 1), min_size=n, max_size=n),
            st.one_of(st.none(), st.lists(st.integers(0, 3), min_size=n, max_size=n)),
        )
    )
)
def test_two_classes_is_the_exact_optimum(data):
    values, labels, weight = data
    P = np.array(values, float).reshape(-1, 2) / 5
    y = np.array(labels)
    weight = None if weight is None else np.array(weight, float)
    if weight is not None and not (weight > 0).any():
        weight[0] = 1.0
    decider = ClassWeights().fit(P, y, sample_weight=weight)
    got = _macro(y, decider.predict(P), 2, weight)
    assert got == pytest.approx(decider.best_score_, abs=1e-12)
    present = np.bincount(y, weights=weight, minlength=2) > 0
    if present.all():
        assert got >= _brute_two_class(P, y, weight) - 1e-12
        assert fit_class_weights(P, y, sample_weight=weight)[4]


def test_issue_example_reaches_one():
    decider = ClassWeights().fit([[0.5, 0.5], [0.2, 0.3], [0.3, 0.5], [0.5, 0.3]], [1, 0, 1, 0])
    assert decider.best_score_ == 1.0


def test_three_and_four_classes_rarely_beaten_by_random_rules():
    rng = np.random.default_rng(13)
    beaten = 0
    for case in range(30):
        n_classes = 3 + case % 2
        n = int(rng.integers(5, 11))
        P = np.round(rng.random((n, n_classes)), 1)
        y = np.concatenate([np.arange(n_classes), rng.integers(0, n_classes, n - n_classes)])
        decider = ClassWeights().fit(P, y)
        got = _macro(y, decider.predict(P), n_classes)
        w = np.exp(rng.normal(0, 1, (2000, n_classes)))
        c = rng.normal(0, 0.6, (2000, n_classes))
        preds = np.argmax(P[None] * w[:, None] + c[:, None], axis=2)
        found = max(_macro(y, row, n_classes) for row in preds)
        beaten += found > got + 1e-9
    assert beaten <= 1  # the benchmark: 0 of 400 with 10,000 draws each


def test_class_weights_sample_weight_equals_repeated_rows():
    rng = np.random.default_rng(3)
    P = np.round(rng.random((9, 3)), 1)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    weight = rng.integers(1, 4, 9)
    repeated = np.repeat(np.arange(9), weight)
    a = ClassWeights().fit(P, y, sample_weight=weight)
    b = ClassWeights().fit(P[repeated], y[repeated])
    assert a.best_score_ == pytest.approx(b.best_score_)
    assert a.score(P, y, sample_weight=weight) == pytest.approx(
        sk_fbeta_score(y, a.predict(P), beta=1.0, average="macro", sample_weight=weight)
    )


def test_prediction_uses_the_fitted_rule():
    P, y = P3, Y3
    decider = ClassWeights().fit(P, y)
    np.testing.assert_array_equal(
        decider.predict(P), predict_class_weights(P, decider.weights_, decider.offsets_)
    )


def test_column_labels_are_binary_for_the_threshold_search():
    column = f1opt.optimal_threshold(Y1[:, None], S1[:, None])
    flat = f1opt.optimal_threshold(Y1, S1)
    assert column.threshold == flat.threshold and column.score == flat.score
