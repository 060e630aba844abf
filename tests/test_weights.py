"""ClassWeights: exact line searches against brute force, local optimality, sklearn's F."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import f1_score
from sklearn.metrics import fbeta_score as sk_fbeta_score

import f1opt
from f1opt.weights import (
    ClassWeights,
    fit_class_weights,
    linearised_rule,
    macro_f_line_search,
    predict_class_weights,
)


def _sk_macro(y, y_pred, n_classes, beta=1.0, zero_division=0.0):
    return sk_fbeta_score(
        y,
        y_pred,
        beta=beta,
        average="macro",
        labels=list(range(n_classes)),
        zero_division=zero_division,
    )


def _problem(seed, n=40, n_classes=3, decimals=None):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, n_classes)) * 1.5 + np.log(np.arange(n_classes, 0, -1))
    P = np.exp(logits)
    P /= P.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(n_classes, p=p) for p in P])
    y[:n_classes] = np.arange(n_classes)  # every class present
    if decimals is not None:  # ties in the scores, hence in the breakpoints
        P = np.round(P, decimals)
    return P, y


def _brute_breakpoints(P, weights, offsets, k, which):
    """Independent oracle: every value where some sample's decision can change."""
    others = np.delete(P * weights + offsets, k, axis=1)
    m = others.max(axis=1)
    if which == "weight":
        moving = P[:, k] != 0
        return np.unique((m[moving] - offsets[k]) / P[moving, k])
    return np.unique(m - weights[k] * P[:, k])


def _brute_candidates(P, weights, offsets, k, which):
    b = _brute_breakpoints(P, weights, offsets, k, which)
    if which == "weight":
        b = b[b > 0]
        if b.size == 0:
            return np.array([1.0])
        return np.concatenate(([b[0] / 2], (b[1:] + b[:-1]) / 2, [2 * b[-1] + 1]))
    return np.concatenate(([b[0] - 1], (b[1:] + b[:-1]) / 2, [b[-1] + 1]))


def _numpy_macro(y, y_pred, n_classes, beta=1.0, zero_division=0.0):
    """A fast oracle for the brute-force loops; checked against sklearn below."""
    b2 = beta * beta
    tp = np.array([np.sum((y == j) & (y_pred == j)) for j in range(n_classes)], float)
    k = np.array([np.sum(y_pred == j) for j in range(n_classes)], float)
    p = np.array([np.sum(y == j) for j in range(n_classes)], float)
    d = b2 * p + k
    f = np.where(d > 0, (1 + b2) * tp / np.where(d > 0, d, 1), zero_division)
    return float(f.mean())


def _direct_f(P, y, weights, offsets, beta=1.0):
    return _numpy_macro(y, predict_class_weights(P, weights, offsets), P.shape[1], beta)


@pytest.mark.parametrize("seed", range(20))
def test_numpy_oracle_equals_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 2 + seed % 4
    y = rng.integers(0, n_classes, 30)
    y_pred = rng.integers(0, n_classes - seed % 2, 30)
    beta = [0.5, 1.0, 2.0][seed % 3]
    for zd in (0.0, 1.0):
        assert _numpy_macro(y, y_pred, n_classes, beta, zd) == pytest.approx(
            _sk_macro(y, y_pred, n_classes, beta, zd), abs=1e-12
        )


def _search(P, y, weights, offsets, k, which, beta=1.0):
    scores = P * weights + offsets
    others = scores.copy()
    others[:, k] = -np.inf
    arg = np.argmax(others, axis=1)
    mx = others[np.arange(len(y)), arg]
    if which == "weight":
        slope, base, lower = P[:, k], np.full(len(y), offsets[k]), 0.0
    else:
        slope, base, lower = np.ones(len(y)), weights[k] * P[:, k], -np.inf
    return macro_f_line_search(slope, base, mx, arg, y, k, P.shape[1], beta, lower)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("which", ["weight", "offset"])
@pytest.mark.parametrize("decimals", [None, 1])
def test_line_search_matches_brute_force(seed, which, decimals):
    n_classes = 3 + seed % 2
    P, y = _problem(seed, n=35, n_classes=n_classes, decimals=decimals)
    rng = np.random.default_rng(seed + 100)
    weights = rng.uniform(0.5, 2.0, n_classes)
    offsets = rng.uniform(-0.3, 0.3, n_classes)
    beta = [1.0, 0.5, 2.0][seed % 3]
    for k in range(n_classes):
        search = _search(P, y, weights, offsets, k, which, beta)
        # every interval: the kernel's incremental F equals F of the rule at its point
        for point, f in zip(search.points, search.scores, strict=True):
            w, c = weights.copy(), offsets.copy()
            (w if which == "weight" else c)[k] = point
            assert f == pytest.approx(_direct_f(P, y, w, c, beta), abs=1e-12)
        # and sklearn agrees at the best interval
        w, c = weights.copy(), offsets.copy()
        (w if which == "weight" else c)[k] = search.points[np.argmax(search.scores)]
        y_pred = predict_class_weights(P, w, c)
        assert search.scores.max() == pytest.approx(
            _sk_macro(y, y_pred, n_classes, beta), abs=1e-12
        )
        # a fine grid of values (off the breakpoints) never beats the best interval,
        # and each grid value scores what its interval says
        breaks = _brute_breakpoints(P, weights, offsets, k, which)
        lo = 1e-3 if which == "weight" else breaks.min() - 1
        grid = np.linspace(lo, breaks.max() + 1, 201)
        grid = grid[~np.isin(grid, breaks)]
        for theta in grid:
            w, c = weights.copy(), offsets.copy()
            (w if which == "weight" else c)[k] = theta
            g = np.searchsorted(search.highs, theta, side="left")
            if theta in search.highs:
                continue
            assert _direct_f(P, y, w, c, beta) == pytest.approx(search.scores[g], abs=1e-12)
        # the candidate intervals are exactly the brute-force ones
        assert search.scores.size == _brute_candidates(P, weights, offsets, k, which).size


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(4, 25),
    n_classes=st.integers(2, 4),
    decimals=st.sampled_from([None, 1, 2]),
)
def test_line_search_best_equals_brute_force_property(seed, n, n_classes, decimals):
    P, y = _problem(seed, n=max(n, n_classes), n_classes=n_classes, decimals=decimals)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.2, 3.0, n_classes)
    offsets = rng.uniform(-0.5, 0.5, n_classes)
    k = int(rng.integers(n_classes))
    for which in ("weight", "offset"):
        search = _search(P, y, weights, offsets, k, which)
        brute = []
        for theta in _brute_candidates(P, weights, offsets, k, which):
            w, c = weights.copy(), offsets.copy()
            (w if which == "weight" else c)[k] = theta
            brute.append(_direct_f(P, y, w, c))
        assert search.scores.max() == pytest.approx(max(brute), abs=1e-12)


def _assert_locally_optimal(P, y, decider, beta=1.0):
    present = np.flatnonzero(decider.offsets_ > -np.inf)
    best = decider.best_score_
    for k in present:
        for which in ("weight", "offset"):
            for theta in _brute_candidates(P, decider.weights_, decider.offsets_, k, which):
                w, c = decider.weights_.copy(), decider.offsets_.copy()
                (w if which == "weight" else c)[k] = theta
                f = _numpy_macro(y, predict_class_weights(P, w, c), P.shape[1], beta)
                assert f <= best + 1e-12, (k, which, theta, f, best)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_fitted_rule_is_locally_optimal(seed, beta):
    P, y = _problem(seed, n=60, n_classes=3 + seed % 3, decimals=2 if seed % 2 else None)
    decider = ClassWeights(beta=beta).fit(P, y)
    _assert_locally_optimal(P, y, decider, beta)
    assert decider.best_score_ >= _sk_macro(y, P.argmax(axis=1), P.shape[1], beta) - 1e-12


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_scores_equal_sklearn(beta):
    P, y = _problem(1, n=300, n_classes=5)
    decider = ClassWeights(beta=beta).fit(P, y)
    y_pred = decider.predict(P)
    assert y_pred.dtype == np.int64
    assert decider.best_score_ == pytest.approx(_sk_macro(y, y_pred, 5, beta), abs=1e-12)
    if beta == 1.0:
        assert decider.best_score_ == pytest.approx(
            f1_score(y, y_pred, average="macro", labels=range(5)), abs=1e-12
        )
    P2, y2 = _problem(2, n=200, n_classes=5)
    assert decider.score(P2, y2) == pytest.approx(
        _sk_macro(y2, decider.predict(P2), 5, beta), abs=1e-12
    )
    assert decider.n_iter_ >= 1


def test_improves_on_argmax_for_imbalanced_classes():
    P, y = _problem(3, n=2000, n_classes=6)
    decider = ClassWeights().fit(P, y)
    plain = f1_score(y, P.argmax(axis=1), average="macro")
    assert decider.best_score_ > plain + 0.01


def test_linearised_rule_is_the_gain_formula():
    P, y = _problem(4, n=100, n_classes=4)
    y_pred = P.argmax(axis=1)
    w, c = linearised_rule(P, y, y_pred, beta=2.0)
    b2 = 4.0
    for k in range(4):
        p_k, k_k = np.sum(y == k), np.sum(y_pred == k)
        f_k = sk_fbeta_score(y == k, y_pred == k, beta=2.0)
        a_k = (1 + b2) / (b2 * p_k + k_k)
        ratio = w[k] / a_k
        assert c[k] == pytest.approx(-ratio * a_k * f_k / (1 + b2))
    np.testing.assert_allclose(w / w.sum(), (w / w.mean()) / 4)


@pytest.mark.parametrize("zero_division", [0.0, 1.0])
def test_absent_class_is_never_predicted(zero_division):
    P, y = _problem(5, n=80, n_classes=4)
    y = np.where(y == 2, 0, y)  # class 2 has no member
    P[:5, 2] = 0.97  # and is the plain argmax of a few rows
    decider = ClassWeights(zero_division=zero_division).fit(P, y)
    assert decider.weights_[2] == 0 and decider.offsets_[2] == -np.inf
    y_pred = decider.predict(P)
    assert not np.any(y_pred == 2)
    assert decider.best_score_ == pytest.approx(
        _sk_macro(y, y_pred, 4, zero_division=zero_division), abs=1e-12
    )
    _assert_locally_optimal(P, y, decider)


def test_fit_class_weights_kernel_and_two_classes():
    P, y = _problem(6, n=50, n_classes=2)
    w, c, score, n_iter, exact = fit_class_weights(P, y)
    assert exact
    assert score == pytest.approx(_sk_macro(y, predict_class_weights(P, w, c), 2), abs=1e-12)
    assert n_iter >= 1


def test_save_load_round_trip(tmp_path):
    P, y = _problem(7, n=100, n_classes=4)
    y = np.where(y == 3, 0, y)
    decider = ClassWeights(beta=2.0).fit(P, y)
    path = decider.save(tmp_path / "weights.json")
    assert json.loads(path.read_text())["class"] == "ClassWeights"
    loaded = f1opt.load(path)
    assert isinstance(loaded, ClassWeights)
    assert loaded.get_params() == decider.get_params()
    np.testing.assert_array_equal(loaded.weights_, decider.weights_)
    np.testing.assert_array_equal(loaded.offsets_, decider.offsets_)
    np.testing.assert_array_equal(loaded.predict(P), decider.predict(P))
    assert loaded.best_score_ == decider.best_score_


def test_clone_and_lazy_attribute():
    assert f1opt.ClassWeights is ClassWeights
    decider = clone(ClassWeights(beta=0.5, max_iter=3))
    assert decider.get_params() == {
        "beta": 0.5,
        "zero_division": 0.0,
        "max_iter": 3,
        "n_restarts": 8,
        "random_state": 0,
    }


@pytest.mark.parametrize(
    ("P", "y", "match"),
    [
        (np.ones((3, 1)), [0, 0, 0], "at least 2"),
        (np.ones(3), [0, 1, 0], "2-D"),
        (np.full((3, 2), 0.5), [0, 2, 1], "class ids 0..1"),
        (np.full((3, 2), 0.5), [0, 0.5, 1], "integer class ids"),
        (np.full((3, 2), 0.5), [0, 1], "one per row"),
        (np.array([[0.5, np.nan], [0.1, 0.2]]), [0, 1], "NaN"),
    ],
)
def test_bad_input_is_reported(P, y, match):
    with pytest.raises(ValueError, match=match):
        ClassWeights().fit(P, y)


def test_bad_params_and_unfitted():
    P, y = _problem(8, n=20, n_classes=3)
    with pytest.raises(ValueError, match="beta"):
        ClassWeights(beta=0).fit(P, y)
    with pytest.raises(ValueError, match="max_iter"):
        ClassWeights(max_iter=0).fit(P, y)
    with pytest.raises(NotFittedError):
        ClassWeights().predict(P)
    decider = ClassWeights().fit(P, y)
    with pytest.raises(ValueError, match="fitted on 3 classes"):
        decider.predict(P[:, :2])


def test_single_present_class_predicts_it_everywhere():
    P, _ = _problem(9, n=20, n_classes=3)
    y = np.full(20, 1)
    decider = ClassWeights().fit(P, y)
    np.testing.assert_array_equal(decider.predict(P), y)
    assert decider.best_score_ == pytest.approx(_sk_macro(y, decider.predict(P), 3), abs=1e-12)


def test_tiny_and_zero_probabilities_fit_without_overflow():
    # naive Bayes gives probabilities of 0 and 1e-300: breakpoints at or near +-inf
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.naive_bayes import GaussianNB

    X, y = load_digits(return_X_y=True)
    P = GaussianNB().fit(X[::2], y[::2]).predict_proba(X[1::2])
    assert P.min() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decider = ClassWeights().fit(P, y[1::2])
    assert np.all(np.isfinite(decider.weights_))
    pred = decider.predict(P)
    expected = f1_score(y[1::2], pred, average="macro", labels=np.arange(10))
    assert decider.best_score_ == pytest.approx(expected, abs=1e-12)
    assert decider.best_score_ >= f1_score(y[1::2], P.argmax(axis=1), average="macro")
