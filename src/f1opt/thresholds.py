"""Exact F-beta threshold searches: pure kernels, arrays in and arrays out.

Convention: a score is predicted positive iff ``score >= threshold``. Only the
upper sets ``{i : s_i >= t}`` are realisable, one per distinct score value, so
an exact search evaluates F at every distinct value (and at the empty set).
The returned threshold lies strictly between the lowest included and the
highest excluded score (their midpoint where floating point allows), so ties
are never split; ``-inf`` means "everything positive", ``+inf`` "nothing".
Among equally good cuts the one predicting fewest positives is returned.

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014.
.. [2] W. Dinkelbach. "On nonlinear fractional programming." Management
   Science 13(7), 1967.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import fbeta_from_counts

__all__ = [
    "ThresholdResult",
    "CutCandidates",
    "optimal_threshold",
    "midpoint_threshold",
    "cut_candidates",
    "binary_threshold",
    "global_threshold",
    "per_label_thresholds",
]


@dataclass(frozen=True)
class ThresholdResult:
    """The result of :func:`optimal_threshold`.

    Attributes
    ----------
    threshold : float
        Predict positive iff ``score >= threshold``.
    score : float
        F-beta of those predictions on the data searched.
    n_predicted : int
        Number of samples predicted positive.
    n_true_positives : int
        Number of those that are positive.
    """

    threshold: float
    score: float
    n_predicted: int
    n_true_positives: int


@dataclass(frozen=True)
class CutCandidates:
    """Every cut of one label that can be F-optimal, highest score first.

    Only cuts whose lowest included value holds a positive can be optimal
    (lowering a cut past negatives only adds predicted positives), so the
    candidates are the distinct scores of the positives.

    Attributes
    ----------
    values : ndarray of shape (n_candidates,)
        Distinct scores of the positives, descending (the lowest included score).
    below : ndarray of shape (n_candidates,)
        The highest score strictly below each value (``-inf`` if none).
    tp : ndarray of int64 of shape (n_candidates,)
        True positives when every score ``>= values[i]`` is predicted positive.
    k : ndarray of int64 of shape (n_candidates,)
        Predicted positives for the same cut.
    n_positives : int
    dtype : numpy dtype, default=np.float64
        Dtype of the scores (thresholds of float32 scores are float32 values).
    """

    values: np.ndarray
    below: np.ndarray
    tp: np.ndarray
    k: np.ndarray
    n_positives: int
    dtype: type = np.float64


def midpoint_threshold(lowest_included, highest_excluded, dtype=np.float64) -> np.ndarray:
    """A threshold strictly between the two scores (vectorised).

    ``lowest_included = +inf`` (nothing included) gives ``+inf``;
    ``highest_excluded = -inf`` (nothing excluded) gives ``-inf``. Where the two
    are adjacent floats the lowest included score itself is returned.

    For float32 scores (``dtype=np.float32``) the threshold is a float32 value,
    so that ``scores >= threshold`` decides the same in float32 and in float64
    (numpy compares a float32 array with a Python float in float32, which would
    round a float64 midpoint onto one of the two scores).
    """
    lo = np.asarray(lowest_included, dtype=np.float64)
    hi = np.asarray(highest_excluded, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mid = hi + (lo - hi) / 2.0
        if np.dtype(dtype) == np.float32:
            mid = mid.astype(np.float32).astype(np.float64)
    ok = (mid > hi) & (mid <= lo)
    t = np.where(ok, mid, lo)
    t = np.where(np.isposinf(lo), np.inf, t)
    t = np.where(np.isneginf(hi) & ~np.isposinf(lo), -np.inf, t)
    return t


def cut_candidates(scores: np.ndarray, y: np.ndarray) -> CutCandidates:
    """Counts at every candidate cut of one label, in O(n log n).

    Positives and negatives are sorted apart; the negatives at or above each
    positive value are counted by binary search.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Finite scores (validated by the caller).
    y : ndarray of shape (n_samples,)
        0/1 labels.
    """
    positive = y.astype(bool, copy=False)
    pos = np.sort(scores[positive])[::-1]
    neg = np.sort(scores[~positive])
    if pos.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return CutCandidates(np.empty(0), np.empty(0), empty, empty, 0)
    last_of_value = np.flatnonzero(np.append(pos[1:] != pos[:-1], True))
    values = pos[last_of_value]
    tp = last_of_value.astype(np.int64) + 1
    neg_below = np.searchsorted(neg, values, side="left")
    k = tp + (neg.size - neg_below)
    next_positive = np.append(values[1:], -np.inf).astype(np.float64)
    highest_negative_below = np.where(
        neg_below > 0, neg[np.maximum(neg_below - 1, 0)] if neg.size else -np.inf, -np.inf
    ).astype(np.float64)
    below = np.maximum(next_positive, highest_negative_below)
    return CutCandidates(
        values.astype(np.float64), below, tp, k, int(pos.size), _threshold_dtype(scores)
    )


def _threshold_dtype(scores) -> type:
    return np.float32 if scores.dtype == np.float32 else np.float64


_BUCKET_MIN_SIZE = 1 << 16  # below this a plain sort is as fast


def is_dask_collection(x) -> bool:
    """True for Dask arrays, dataframes and series (duck typing: never imports dask)."""
    return hasattr(x, "dask") and hasattr(x, "__dask_graph__")


def binary_threshold(scores, y, beta=1.0, zero_division=0.0):
    """Exact F-beta-optimal threshold of one label.

    Returns
    -------
    threshold, score, n_predicted, n_true_positives : float, float, int, int
        With no positive at all the empty prediction is optimal
        (``threshold = +inf``, ``score = zero_division``).
    """
    if scores.size >= _BUCKET_MIN_SIZE:
        # two passes of counting prune most scores before any sort; same candidates
        # wherever an optimum can be, so the same argmax (f1opt._buckets)
        from ._buckets import bucketed_cut_candidates

        bits = int(min(18, max(10, np.log2(scores.size) - 5)))
        c = bucketed_cut_candidates(scores, y, beta, bits)
    else:
        c = cut_candidates(scores, y)
    return best_cut(c, beta, zero_division)


def best_cut(c: CutCandidates, beta=1.0, zero_division=0.0):
    """The F-beta-optimal cut among candidates (first maximum: fewest predictions).

    Returns
    -------
    threshold, score, n_predicted, n_true_positives : float, float, int, int
    """
    if c.n_positives == 0:
        return np.inf, float(zero_division), 0, 0
    f = fbeta_from_counts(c.tp, c.k, c.n_positives, beta)
    best = int(np.argmax(f))  # first maximum: the fewest predicted positives
    threshold = float(midpoint_threshold(c.values[best], c.below[best], c.dtype))
    return threshold, float(f[best]), int(c.k[best]), int(c.tp[best])


def optimal_threshold(y_true, scores, beta: float = 1.0) -> ThresholdResult:
    """Exact F-beta-optimal threshold for binary scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels (bool allowed); at least one must be 1.
    scores : array-like of shape (n_samples,)
        Any finite scores, larger meaning more likely positive.
    beta : float, default=1.0
        Weight of recall: F-beta = (1 + beta^2) TP / (beta^2 P + K).

    Returns
    -------
    result : ThresholdResult
        ``result.threshold`` and ``result.score``; the score equals
        ``sklearn.metrics.fbeta_score(y_true, scores >= result.threshold, beta=beta)``.

    Raises
    ------
    ValueError
        For NaN or infinite scores, lengths that differ, labels outside {0, 1},
        empty input, 2-D input, or labels with no positive.

    References
    ----------
    .. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
       classifiers to maximize F1 measure." ECML PKDD 2014.

    Examples
    --------
    >>> from f1opt import optimal_threshold
    >>> result = optimal_threshold([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.7])
    >>> float(result.threshold), round(result.score, 4)
    (0.275, 0.8571)
    """
    from ._validation import check_beta, check_scores_and_labels

    beta = check_beta(beta)
    if is_dask_collection(scores) or is_dask_collection(y_true):
        from .distributed import optimal_threshold as dask_optimal_threshold

        return dask_optimal_threshold(y_true, scores, beta)
    scores, y = check_scores_and_labels(scores, y_true, multilabel=False)
    if not y.any():
        raise ValueError(
            "`y_true` has no positive sample: F-beta is undefined for every threshold "
            "(the positive class must appear at least once)."
        )
    threshold, score, k, tp = binary_threshold(scores, y, beta)
    return ThresholdResult(threshold, score, k, tp)


def per_label_thresholds(scores, y, beta=1.0, average="micro", zero_division=0.0, max_iter=100):
    """Exact optimal per-label thresholds for micro, macro or weighted F-beta.

    Micro-F couples the labels through its denominator; Dinkelbach's method
    solves it exactly: for fixed ``lam`` the problem
    ``max sum_j (1 + beta^2) TP_j - lam K_j`` separates by label, and setting
    ``lam`` to the micro-F of the new cuts strictly increases it until the
    global optimum. Macro and weighted F are separable: each label on its own.
    A label with no positive predicts nothing (``threshold = +inf``). Among
    optimal choices, every label predicts its fewest positives (for micro: the
    first maximiser of ``(1 + beta^2) TP_j - F* K_j`` in each label).

    From ``2**16`` samples on, bucket counts per label prune each column before
    any sort (:mod:`f1opt._buckets`); the result is the same.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_labels)
    y : ndarray of shape (n_samples, n_labels)
    beta : float
    average : {"micro", "macro", "weighted"}
    zero_division : float
    max_iter : int
        Bound on Dinkelbach rounds (a handful are used in practice).

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
    n_iter : int
        Dinkelbach rounds (1 for macro and weighted).

    References
    ----------
    .. [1] W. Dinkelbach. "On nonlinear fractional programming." Management
       Science 13(7), 1967.
    """
    if average not in ("micro", "macro", "weighted"):
        raise ValueError(f"per-label thresholds support micro, macro, weighted; got {average!r}")
    n_samples, n_labels = scores.shape
    if n_samples >= _BUCKET_MIN_SIZE:
        # counts per label prune each column before any sort (f1opt._buckets)
        from ._buckets import per_label_cut_candidates

        candidates = per_label_cut_candidates(scores, y, beta, average, max_iter=max_iter)
    else:
        candidates = [cut_candidates(scores[:, j], y[:, j]) for j in range(n_labels)]
    return solve_per_label(candidates, beta, average, max_iter)


def _best_per_label(gain, sizes):
    """Index of the first best candidate of each label, or -1 where the empty cut wins.

    ``gain`` holds the candidates of every label one after the other
    (``sizes[j]`` of label j); the empty cut gains 0 and wins ties.
    """
    n_labels = sizes.size
    chosen = np.full(n_labels, -1)
    has = sizes > 0
    if not has.any():
        return chosen
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[has]
    maxima = np.maximum.reduceat(gain, starts)
    # first candidate reaching the maximum = highest threshold among ties
    is_max = gain == np.repeat(maxima, sizes[has])
    first = np.minimum.reduceat(np.where(is_max, np.arange(gain.size), gain.size), starts)
    chosen[has] = np.where(maxima > 0, first, -1)
    return chosen


def dinkelbach(tp, k, sizes, total_p, beta=1.0, max_iter=100):
    """Exact best micro F-beta over one cut per label, by Dinkelbach's method.

    Parameters
    ----------
    tp, k : ndarray of shape (n_candidates,)
        Counts of the candidate cuts of every label, label after label, each
        label's candidates ordered by increasing ``k``.
    sizes : ndarray of int of shape (n_labels,)
        Number of candidates of each label.
    total_p : float
        Positives over all labels.
    beta : float, default=1.0
    max_iter : int, default=100

    Returns
    -------
    chosen : ndarray of int of shape (n_labels,)
        Index (into ``tp``) of each label's cut, -1 for the empty cut. Among
        optimal choices, each label takes its fewest predicted positives: the
        first maximiser of ``(1 + b^2) TP - F* K``.
    score : float
        The optimal micro F-beta.
    n_iter : int
        Rounds used.
    """
    tp = np.asarray(tp, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    b2 = beta * beta

    def micro(chosen):
        sel = chosen[chosen >= 0]
        return float(fbeta_from_counts(tp[sel].sum(), k[sel].sum(), total_p, beta))

    lam = 0.0
    previous = chosen = _best_per_label((1 + b2) * tp, sizes)
    f = micro(chosen)
    n_iter = 1
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        if n_iter > 1:
            chosen = _best_per_label((1 + b2) * tp - lam * k, sizes)
            f = micro(chosen)
        if f <= lam:
            # max_c N(c) - lam D(c) = 0: lam is the optimum and `chosen` attains it
            # with the fewest predictions in every label
            if f < lam:  # only by rounding: keep the cut that reached lam
                chosen, f = previous, lam
            break
        previous, lam = chosen, f
    else:
        chosen, f = previous, lam
    return chosen, f, n_iter


def solve_per_label(candidates, beta=1.0, average="micro", max_iter=100):
    """Best cut of each label from its candidates (see :func:`per_label_thresholds`).

    Parameters
    ----------
    candidates : list of CutCandidates
        One per label; a pruned list works as long as it keeps every cut
        that can be optimal.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
    n_iter : int
    """
    n_labels = len(candidates)
    sizes = np.array([c.values.size for c in candidates], dtype=np.int64)
    thresholds = np.full(n_labels, np.inf)
    if sizes.sum() == 0:
        return thresholds, 1
    tp = np.concatenate([c.tp for c in candidates]).astype(np.float64)
    k = np.concatenate([c.k for c in candidates]).astype(np.float64)
    n_iter = 1
    if average in ("macro", "weighted"):
        p = np.repeat(np.array([c.n_positives for c in candidates]), sizes)
        chosen = _best_per_label(fbeta_from_counts(tp, k, p, beta), sizes)
    elif average == "micro":
        total_p = float(sum(c.n_positives for c in candidates))
        chosen, _, n_iter = dinkelbach(tp, k, sizes, total_p, beta, max_iter)
    else:
        raise ValueError(f"per-label thresholds support micro, macro, weighted; got {average!r}")
    values = np.concatenate([c.values for c in candidates])
    below = np.concatenate([c.below for c in candidates])
    picked = chosen >= 0
    thresholds[picked] = midpoint_threshold(
        values[chosen[picked]], below[chosen[picked]], candidates[0].dtype
    )
    return thresholds, n_iter


def _within_group_cumsum(values, groups, n_groups):
    """Running sum of ``values`` inside each group, in the given order."""
    order = np.argsort(groups, kind="stable")
    sorted_values = values[order]
    running = np.cumsum(sorted_values)
    group_sizes = np.bincount(groups, minlength=n_groups)
    group_starts = np.concatenate(([0], np.cumsum(group_sizes)[:-1]))
    offset = np.repeat(running[group_starts - 1] * (group_starts > 0), group_sizes)
    out = np.empty_like(running)
    out[order] = running - offset
    return out


def global_threshold(scores, y, beta=1.0, average="micro", zero_division=0.0):
    """Exact optimal single threshold shared by every label.

    ``micro`` pools every entry and is the binary search on the flattened
    matrix. ``macro``, ``weighted`` and ``samples`` sweep all entries from the
    highest score down: each entry moves the counts of one label (one row for
    ``samples``), so the change of the averaged F is known entry by entry and
    its running sum gives the score at every distinct value.

    Parameters
    ----------
    scores : ndarray of shape (n_samples, n_labels)
    y : ndarray of shape (n_samples, n_labels)
    beta : float
    average : {"micro", "macro", "weighted", "samples"}
    zero_division : float

    Returns
    -------
    threshold : float
    """
    if average == "micro":
        threshold, _, _, _ = binary_threshold(scores.ravel(), y.ravel(), beta, zero_division)
        return threshold
    n_samples, n_labels = scores.shape
    if average == "samples":
        groups = np.repeat(np.arange(n_samples), n_labels)
        p = y.sum(axis=1).astype(np.float64)
        weight = np.full(n_samples, 1.0 / n_samples)
    elif average in ("macro", "weighted"):
        groups = np.tile(np.arange(n_labels), n_samples)
        p = y.sum(axis=0).astype(np.float64)
        if average == "macro":
            weight = np.full(n_labels, 1.0 / n_labels)
        elif p.sum() > 0:
            weight = p / p.sum()
        else:
            return np.inf  # every threshold scores zero_division; predict nothing
    else:
        raise ValueError(
            f"global threshold supports micro, macro, weighted, samples; got {average!r}"
        )
    flat_scores = scores.ravel()
    flat_y = y.ravel().astype(np.float64)
    order = np.argsort(flat_scores, kind="stable")[::-1]
    s = flat_scores[order]
    yy = flat_y[order]
    g = groups[order]
    k_after = _within_group_cumsum(np.ones_like(yy), g, weight.size)
    tp_after = _within_group_cumsum(yy, g, weight.size)
    p_g = p[g]
    gain = fbeta_from_counts(tp_after, k_after, p_g, beta, zero_division) - fbeta_from_counts(
        tp_after - yy, k_after - 1, p_g, beta, zero_division
    )
    base = float((weight * np.where(p > 0, 0.0, zero_division)).sum())
    total = base + np.cumsum(weight[g] * gain)
    last_of_value = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    candidate_scores = np.concatenate(([base], total[last_of_value]))
    best = int(np.argmax(candidate_scores))
    if best == 0:
        return np.inf
    idx = last_of_value[best - 1]
    below = s[idx + 1] if idx + 1 < s.size else -np.inf
    return float(midpoint_threshold(s[idx], below, _threshold_dtype(scores)))
