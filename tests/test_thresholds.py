"""Exact threshold searches against brute force and against sklearn.metrics."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score

import f1opt
from f1opt.thresholds import cut_candidates, global_threshold, midpoint_threshold

BETAS = [0.5, 1.0, 2.0]


def sk_fbeta(y, pred, beta, average="binary", zero_division=0.0):
    return fbeta_score(y, pred, beta=beta, average=average, zero_division=zero_division)


def brute_binary(y, s, beta):
    """Best F over every realisable upper set (every distinct score, and the empty set)."""
    cuts = np.append(np.unique(s), np.inf)
    return max(sk_fbeta(y, (s >= t).astype(int), beta) for t in cuts)


def brute_global(Y, S, beta, average, zero_division=0.0):
    cuts = np.append(np.unique(S), np.inf)
    return max(sk_fbeta(Y, (S >= t).astype(int), beta, average, zero_division) for t in cuts)


def brute_per_label(Y, S, beta, average, zero_division=0.0):
    per_label_cuts = [np.append(np.unique(S[:, j]), np.inf) for j in range(S.shape[1])]
    best = -1.0
    for cuts in itertools.product(*per_label_cuts):
        pred = (S >= np.array(cuts)).astype(int)
        best = max(best, sk_fbeta(Y, pred, beta, average, zero_division))
    return best


def assert_threshold_separates(s, threshold):
    """The threshold lies strictly between the included and the excluded scores."""
    included = s[s >= threshold]
    excluded = s[s < threshold]
    if included.size and excluded.size:
        lo, hi = included.min(), excluded.max()
        assert hi < threshold <= lo
        mid = float(hi) + (float(lo) - float(hi)) / 2
        if float(hi) < mid < float(lo):
            assert threshold == mid
    elif excluded.size == 0:
        assert threshold == -np.inf
    else:
        assert threshold == np.inf


# ---------------------------------------------------------------- binary


@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("seed", range(20))
def test_binary_matches_brute_force_with_ties(beta, seed):
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 30)
    s = rng.integers(0, 6, n) / 5.0  # heavy ties
    y = rng.integers(0, 2, n)
    y[rng.integers(n)] = 1
    result = f1opt.optimal_threshold(y, s, beta=beta)
    assert result.score == pytest.approx(brute_binary(y, s, beta), abs=1e-12)
    pred = (s >= result.threshold).astype(int)
    assert result.score == pytest.approx(sk_fbeta(y, pred, beta), abs=1e-12)
    assert result.n_predicted == pred.sum()
    assert result.n_true_positives == (pred & y).sum()
    assert_threshold_separates(s, result.threshold)


@pytest.mark.property
@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0, -3.0, 7.5]), st.booleans()),
        min_size=1,
        max_size=25,
    ),
    beta=st.sampled_from(BETAS),
)
def test_binary_property_against_brute_force(data, beta):
    s = np.array([d[0] for d in data])
    y = np.array([int(d[1]) for d in data])
    if y.sum() == 0:
        with pytest.raises(ValueError, match="no positive"):
            f1opt.optimal_threshold(y, s, beta=beta)
        return
    result = f1opt.optimal_threshold(y, s, beta=beta)
    assert result.score == pytest.approx(brute_binary(y, s, beta), abs=1e-12)
    assert result.score == pytest.approx(
        sk_fbeta(y, (s >= result.threshold).astype(int), beta), abs=1e-12
    )
    assert_threshold_separates(s, result.threshold)


def test_binary_prefers_fewest_predictions_among_equal_scores():
    # cutting at 0.8 (TP=1, K=1, F=2/3 with P=2) ties with no alternative; cutting
    # at 0.4 includes everything: TP=2, K=4 -> F=2*2/6 = 2/3 as well.
    y = np.array([1, 0, 1, 0])
    s = np.array([0.8, 0.6, 0.4, 0.4])
    result = f1opt.optimal_threshold(y, s)
    assert result.score == pytest.approx(2 / 3)
    assert result.n_predicted == 1
    assert result.threshold == pytest.approx(0.7)


def test_binary_float32_and_large_values():
    rng = np.random.default_rng(1)
    s = rng.normal(size=2000).astype(np.float32) * 1e30
    y = (rng.random(2000) < 0.3).astype(int)
    result = f1opt.optimal_threshold(y, s)
    assert result.score == pytest.approx(sk_fbeta(y, (s >= result.threshold).astype(int), 1.0))
    assert_threshold_separates(s, result.threshold)


def test_binary_adjacent_floats_do_not_split():
    lo = np.float64(0.5)
    hi = np.nextafter(lo, 0)
    s = np.array([lo, lo, hi, hi])
    y = np.array([1, 1, 0, 0])
    result = f1opt.optimal_threshold(y, s)
    assert result.score == 1.0
    assert result.threshold == lo  # no float strictly between: the included score itself
    assert_threshold_separates(s, result.threshold)


def test_everything_positive_gives_minus_inf():
    result = f1opt.optimal_threshold([1, 1, 1], [0.2, 0.5, 0.3])
    assert result.threshold == -np.inf
    assert result.score == 1.0


def test_midpoint_threshold_edges():
    assert midpoint_threshold(np.inf, 0.3) == np.inf
    assert midpoint_threshold(0.3, -np.inf) == -np.inf
    assert midpoint_threshold(1.0, 0.0) == 0.5


def test_cut_candidates_counts():
    s = np.array([0.9, 0.9, 0.5, 0.5, 0.1])
    y = np.array([1, 0, 0, 1, 1])
    c = cut_candidates(s, y)
    np.testing.assert_array_equal(c.values, [0.9, 0.5, 0.1])
    np.testing.assert_array_equal(c.tp, [1, 2, 3])
    np.testing.assert_array_equal(c.k, [2, 4, 5])
    np.testing.assert_array_equal(c.below, [0.5, 0.1, -np.inf])
    assert c.n_positives == 3


# ---------------------------------------------------------------- multilabel


def random_multilabel(seed, n_max=8, l_max=3, levels=4):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, n_max + 1))
    # at least two columns: scikit-learn reads a single column as binary targets
    n_labels = int(rng.integers(2, l_max + 1))
    S = rng.integers(0, levels, (n, n_labels)) / (levels - 1)
    Y = rng.integers(0, 2, (n, n_labels))
    return S, Y


@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("seed", range(15))
def test_global_threshold_matches_brute_force(average, beta, seed):
    S, Y = random_multilabel(seed, n_max=10, l_max=4)
    decider = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y)
    expected = brute_global(Y, S, beta, average)
    assert decider.best_score_ == pytest.approx(expected, abs=1e-10)
    pred = decider.predict(S)
    assert decider.best_score_ == pytest.approx(sk_fbeta(Y, pred, beta, average), abs=1e-12)
    assert_threshold_separates(S.ravel(), decider.threshold_)


@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("seed", range(12))
def test_per_class_matches_brute_force(average, beta, seed):
    S, Y = random_multilabel(seed, n_max=6, l_max=3)
    decider = f1opt.PerClassThreshold(beta=beta, average=average).fit(S, Y)
    expected = brute_per_label(Y, S, beta, average)
    assert decider.best_score_ == pytest.approx(expected, abs=1e-10)
    pred = decider.predict(S)
    assert decider.best_score_ == pytest.approx(sk_fbeta(Y, pred, beta, average), abs=1e-12)
    for j in range(S.shape[1]):
        assert_threshold_separates(S[:, j], decider.thresholds_[j])


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
@pytest.mark.parametrize("average", ["macro", "samples"])
def test_zero_division_follows_sklearn(average, zero_division):
    S = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.3], [0.4, 0.4, 0.3]])
    Y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    decider = f1opt.GlobalThreshold(average=average, zero_division=zero_division).fit(S, Y)
    assert decider.best_score_ == pytest.approx(
        brute_global(Y, S, 1.0, average, zero_division), abs=1e-12
    )
    assert decider.best_score_ == pytest.approx(
        sk_fbeta(Y, decider.predict(S), 1.0, average, zero_division), abs=1e-12
    )


@pytest.mark.property
@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    average=st.sampled_from(["micro", "macro", "weighted"]),
    beta=st.sampled_from(BETAS),
)
def test_per_class_property_against_brute_force(seed, average, beta):
    S, Y = random_multilabel(seed, n_max=5, l_max=3, levels=3)
    decider = f1opt.PerClassThreshold(beta=beta, average=average).fit(S, Y)
    assert decider.best_score_ == pytest.approx(brute_per_label(Y, S, beta, average), abs=1e-10)


@pytest.mark.property
@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    average=st.sampled_from(["micro", "macro", "weighted", "samples"]),
    beta=st.sampled_from(BETAS),
)
def test_global_property_against_brute_force(seed, average, beta):
    S, Y = random_multilabel(seed, n_max=9, l_max=4, levels=5)
    decider = f1opt.GlobalThreshold(beta=beta, average=average).fit(S, Y)
    assert decider.best_score_ == pytest.approx(brute_global(Y, S, beta, average), abs=1e-10)


def test_label_without_positives_predicts_nothing():
    S = np.array([[0.9, 0.8], [0.1, 0.7], [0.6, 0.2]])
    Y = np.array([[1, 0], [0, 0], [1, 0]])
    for average in ("micro", "macro", "weighted"):
        decider = f1opt.PerClassThreshold(average=average).fit(S, Y)
        assert decider.thresholds_[1] == np.inf
        assert decider.predict(S)[:, 1].sum() == 0


def test_global_threshold_binary_equals_optimal_threshold(rng):
    s = rng.random(500)
    y = (rng.random(500) < s).astype(int)
    decider = f1opt.GlobalThreshold().fit(s, y)
    result = f1opt.optimal_threshold(y, s)
    assert decider.average_ == "binary"
    assert decider.threshold_ == result.threshold
    assert decider.best_score_ == pytest.approx(result.score)


def test_global_macro_kernel_on_larger_input_matches_sklearn(rng):
    S = rng.random((300, 7))
    Y = (rng.random((300, 7)) < S * 0.8).astype(int)
    for average in ("macro", "weighted", "samples"):
        t = global_threshold(S, Y, 1.0, average, 0.0)
        # the chosen threshold beats every other distinct cut
        best = sk_fbeta(Y, (S >= t).astype(int), 1.0, average)
        for cut in np.quantile(S, np.linspace(0, 1, 41)):
            assert best >= sk_fbeta(Y, (S >= cut).astype(int), 1.0, average) - 1e-12


def test_toy_per_class_micro_reaches_0999():
    from f1opt.datasets import make_stretcher_toy

    X_train, y_train, X_test, y_test = make_stretcher_toy(random_state=0)
    decider = f1opt.PerClassThreshold(average="micro").fit(X_train, y_train)
    test_score = decider.score(X_test, y_test)
    assert test_score >= 0.999
    assert test_score == pytest.approx(
        fbeta_score(y_test, decider.predict(X_test), beta=1.0, average="micro")
    )
    global_score = (
        f1opt.GlobalThreshold(average="micro").fit(X_train, y_train).score(X_test, y_test)
    )
    assert global_score < 0.9  # one threshold cannot fit 100 hidden thresholds


@pytest.mark.parametrize("seed", range(5))
def test_float32_threshold_separates_adjacent_float32_scores(seed):
    # numpy compares a float32 array with a Python float in float32: a float64
    # midpoint between two adjacent float32 scores would round onto one of them
    rng = np.random.default_rng(seed)
    upper = rng.uniform(0.1, 0.9, 50).astype(np.float32)
    lower = np.nextafter(upper, np.float32(-np.inf))
    for i in range(upper.size):
        scores = np.array([upper[i]] * 3 + [lower[i]] * 3, dtype=np.float32)
        y = np.array([1, 1, 1, 0, 0, 0])
        result = f1opt.optimal_threshold(y, scores)
        assert result.score == 1.0
        assert lower[i] < result.threshold <= upper[i]
        assert np.array_equal(scores >= result.threshold, y.astype(bool))
        assert np.array_equal(scores.astype(np.float64) >= result.threshold, y.astype(bool))
        S = np.stack([scores, scores[::-1]], axis=1)
        Y = np.stack([y, y[::-1]], axis=1)
        for decider in (f1opt.GlobalThreshold(average="micro"), f1opt.PerClassThreshold()):
            assert np.array_equal(decider.fit(S, Y).predict(S), Y)
            assert decider.best_score_ == 1.0
