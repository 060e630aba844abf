"""Budgets of k labels per row for the threshold deciders, against brute force."""

import itertools

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import fbeta_score

from f1opt import GlobalThreshold, PerClassThreshold
from f1opt.budget import top_k_scores


def reference_mask(S, k):
    """Each row's k largest (stable: the first column on ties)."""
    order = np.argsort(-S, axis=1, kind="stable")[:, :k]
    mask = np.zeros(S.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask


def tiny(seed, shape=(4, 3)):
    rng = np.random.default_rng(seed)
    S = np.round(rng.random(shape), 1)  # ties on purpose
    Y = (rng.random(shape) < 0.5).astype(int)
    return S, Y


def f(Y, pred, average, beta):
    return fbeta_score(Y, pred, beta=beta, average=average, zero_division=0.0)


def fast_f(Y, preds, average, beta):
    """F-beta of many predictions (..., n, L) by counts (zero_division 0), for the search."""
    b2 = beta * beta
    axis = {"micro": (-2, -1), "macro": -2, "weighted": -2, "samples": -1}[average]
    tp = (preds * Y).sum(axis=axis)
    k = preds.sum(axis=axis)
    p = np.broadcast_to(Y, preds.shape).sum(axis=axis)
    den = b2 * p + k
    score = np.where(den > 0, (1 + b2) * tp / np.where(den > 0, den, 1), 0.0)
    if average in ("micro",):
        return score
    if average == "weighted":
        support = Y.sum(axis=0)
        return score @ support / support.sum() if support.sum() else np.zeros(len(preds))
    return score.mean(axis=-1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_scores_keeps_each_rows_k_largest(seed, k):
    S, _ = tiny(seed, (5, 4))
    S[0, 1] = 0.0  # a kept score of 0 is stored
    S[1] = -S[1]
    top = top_k_scores(S, k)
    assert isinstance(top, sparse.csr_array)
    mask = reference_mask(S, k)
    np.testing.assert_array_equal(top.toarray(), np.where(mask, S, 0.0))
    stored = np.zeros(S.shape, dtype=bool)
    stored[np.repeat(np.arange(5), np.diff(top.indptr)), top.indices] = True
    np.testing.assert_array_equal(stored, mask)
    # sparse input: only the stored entries compete
    unstored = np.random.default_rng(seed).random(S.shape) < 0.3
    csr = sparse.csr_matrix(np.where(unstored, 0.0, S + 2.0))
    reference = np.where(unstored, -np.inf, S + 2.0)
    mask = reference_mask(reference, k) & ~unstored
    np.testing.assert_array_equal(top_k_scores(csr, k).toarray(), np.where(mask, S + 2.0, 0.0))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted", "samples"])
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_budgeted_global_threshold_is_the_best_over_every_cut(seed, k, average, beta):
    S, Y = tiny(seed)
    mask = reference_mask(S, k)
    cuts = np.concatenate([np.unique(S), [np.inf]])
    preds = (mask[None] & (S[None] >= cuts[:, None, None])).astype(int)
    best = fast_f(Y, preds, average, beta).max()
    rule = GlobalThreshold(beta=beta, average=average).fit(top_k_scores(S, k), Y)
    pred = rule.predict(top_k_scores(S, k)).toarray()
    assert pred.sum(axis=1).max() <= k
    assert rule.best_score_ == pytest.approx(best, abs=1e-12)
    assert f(Y, pred, average, beta) == pytest.approx(best, abs=1e-12)
    assert fast_f(Y, pred[None], average, beta)[0] == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_budgeted_per_class_thresholds_are_the_best_over_every_cut(seed, k, average):
    S, Y = tiny(seed)
    mask = reference_mask(S, k)
    per_label = [np.concatenate([np.unique(S[:, j]), [np.inf]]) for j in range(S.shape[1])]
    t = np.array(list(itertools.product(*per_label)))  # (combinations, L)
    preds = (mask[None] & (S[None] >= t[:, None, :])).astype(int)
    best = fast_f(Y, preds, average, 1.0).max()
    rule = PerClassThreshold(average=average).fit(top_k_scores(S, k), Y)
    pred = rule.predict(top_k_scores(S, k)).toarray()
    assert pred.sum(axis=1).max() <= k
    assert rule.best_score_ == pytest.approx(best, abs=1e-12)
    assert f(Y, pred, average, 1.0) == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_is_refused(k):
    with pytest.raises(ValueError, match="`k` must be a positive integer"):
        top_k_scores(np.ones((2, 3)), k)
