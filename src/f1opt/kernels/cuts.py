"""Exact cut searches on sorted scores: candidates, best cut, Dinkelbach, grouped sweeps.

Convention: a score is predicted positive iff ``score >= threshold``. Only the
upper sets ``{i : s_i >= t}`` are realisable, one per distinct score value, so
an exact search evaluates F at every distinct value (and at the empty set).
The returned threshold lies strictly between the lowest included and the
highest excluded score (their midpoint where the scores' dtype allows), so
ties are never split; ``-inf`` means "everything positive", ``+inf``
"nothing". Among equally good cuts the one predicting fewest positives wins.

Counts are sums of per-row weights (float64; a row without weight counts 1).
They are exact for integer weights (below 2**53 in total); rows of weight 0
must be removed by the caller (they are then as if absent, which is what
"integer weights give the same rule as repeated rows" asks of a weight 0).

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014.
.. [2] W. Dinkelbach. "On nonlinear fractional programming." Management
   Science 13(7), 1967.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..metrics import fbeta_from_counts

__all__ = [
    "CutCandidates",
    "threshold_dtype",
    "midpoint_threshold",
    "cut_candidates",
    "grouped_cut_candidates",
    "best_cut",
    "dinkelbach",
    "solve_per_label",
    "grouped_sweep",
    "curve_counts",
]

_EPS = np.finfo(np.float64).eps


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
    tp : ndarray of float64 of shape (n_candidates,)
        (Weighted) true positives when every score ``>= values[i]`` is predicted positive.
    k : ndarray of float64 of shape (n_candidates,)
        (Weighted) predicted positives for the same cut.
    n_positives : float
        (Weighted) positives of the label, including any that no cut can reach
        (unstored entries of sparse scores).
    dtype : numpy dtype, default=np.float64
        Dtype the thresholds are exact in (float16 and float32 scores get
        thresholds that are values of their own dtype).
    """

    values: np.ndarray
    below: np.ndarray
    tp: np.ndarray
    k: np.ndarray
    n_positives: float
    dtype: type = np.float64


def threshold_dtype(dtype) -> type:
    """The float dtype thresholds of scores of ``dtype`` are values of.

    float16 and float32 scores get thresholds of their own dtype, so that
    ``scores >= threshold`` decides the same in that dtype as in float64;
    everything else (float64, integers up to 2**53, bool) gets float64.
    """
    dtype = np.dtype(dtype)
    if dtype in (np.float16, np.float32):
        return dtype.type
    return np.float64


def midpoint_threshold(lowest_included, highest_excluded, dtype=np.float64) -> np.ndarray:
    """A threshold strictly between the two scores (vectorised).

    ``lowest_included = +inf`` (nothing included) gives ``+inf``;
    ``highest_excluded = -inf`` (nothing excluded) gives ``-inf``. Where no
    value of ``dtype`` lies strictly between (adjacent values), the lowest
    included score itself is returned.

    For float16 and float32 scores the threshold is a value of that dtype
    (returned as float64, exactly), so that numpy's comparison of such an
    array with the threshold, made in the array's dtype, decides as here.
    """
    lo = np.asarray(lowest_included, dtype=np.float64)
    hi = np.asarray(highest_excluded, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mid = hi + (lo - hi) / 2.0
        if np.dtype(dtype) in (np.float16, np.float32):
            mid = mid.astype(dtype).astype(np.float64)
    ok = (mid > hi) & (mid <= lo)
    t = np.where(ok, mid, lo)
    t = np.where(np.isposinf(lo), np.inf, t)
    t = np.where(np.isneginf(hi) & ~np.isposinf(lo), -np.inf, t)
    return t


def _empty(n_positives, dtype) -> CutCandidates:
    e = np.empty(0)
    return CutCandidates(e, e, e, e, n_positives, dtype)


def cut_candidates(scores, y, sample_weight=None, *, n_positives=None, dtype=None) -> CutCandidates:
    """Counts at every candidate cut of one label, in O(n log n).

    Positives and negatives are sorted apart; the negatives at or above each
    positive value are counted by binary search.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
        Finite scores (validated by the caller).
    y : ndarray of shape (n_samples,)
        0/1 labels.
    sample_weight : ndarray of shape (n_samples,), optional
        Positive weights (rows of weight 0 removed by the caller).
    n_positives : float, optional
        Positives of the label if more than those in ``y`` (unreachable ones).
    dtype : numpy dtype, optional
        Dtype of the thresholds (default: from ``scores.dtype``).
    """
    dtype = threshold_dtype(scores.dtype if dtype is None else dtype)
    positive = y.astype(bool, copy=False)
    if sample_weight is None:
        pos = np.sort(scores[positive])[::-1]
        neg = np.sort(scores[~positive])
        pos_w = neg_cum = None
    else:
        w = np.asarray(sample_weight, dtype=np.float64)
        order = np.argsort(scores[positive], kind="stable")[::-1]
        pos = scores[positive][order]
        pos_w = w[positive][order]
        neg_order = np.argsort(scores[~positive], kind="stable")
        neg = scores[~positive][neg_order]
        neg_cum = np.concatenate(([0.0], np.cumsum(w[~positive][neg_order])))
    extra = 0.0
    if pos.size == 0:
        return _empty(float(n_positives or 0.0), dtype)
    last_of_value = np.flatnonzero(np.append(pos[1:] != pos[:-1], True))
    values = pos[last_of_value]
    neg_below = np.searchsorted(neg, values, side="left")
    if pos_w is None:
        tp = last_of_value.astype(np.float64) + 1
        k = tp + (neg.size - neg_below)
        total = float(pos.size)
    else:
        cum = np.cumsum(pos_w)
        tp = cum[last_of_value]
        k = tp + (neg_cum[-1] - neg_cum[neg_below])
        total = float(cum[-1])
    if n_positives is not None:
        extra = float(n_positives) - total
    next_positive = np.append(values[1:], -np.inf).astype(np.float64)
    highest_negative_below = np.where(
        neg_below > 0, neg[np.maximum(neg_below - 1, 0)] if neg.size else -np.inf, -np.inf
    ).astype(np.float64)
    below = np.maximum(next_positive, highest_negative_below)
    return CutCandidates(values.astype(np.float64), below, tp, k, total + extra, dtype)


@dataclass(frozen=True)
class FlatCandidates:
    """The candidates of many labels, label after label (see :class:`CutCandidates`).

    Attributes
    ----------
    values, below, tp, k : ndarray of shape (n_candidates,)
    sizes : ndarray of int64 of shape (n_labels,)
        Candidates of each label.
    n_positives : ndarray of float64 of shape (n_labels,)
    dtype : numpy dtype
    """

    values: np.ndarray
    below: np.ndarray
    tp: np.ndarray
    k: np.ndarray
    sizes: np.ndarray
    n_positives: np.ndarray
    dtype: type = np.float64

    @classmethod
    def from_list(cls, candidates) -> FlatCandidates:
        """Concatenate one :class:`CutCandidates` per label."""

        def cat(name):
            parts = [np.asarray(getattr(c, name), dtype=np.float64) for c in candidates]
            return np.concatenate(parts) if parts else np.empty(0)

        return cls(
            cat("values"),
            cat("below"),
            cat("tp"),
            cat("k"),
            np.array([c.values.size for c in candidates], dtype=np.int64),
            np.array([c.n_positives for c in candidates], dtype=np.float64),
            candidates[0].dtype if candidates else np.float64,
        )

    def label(self, j) -> CutCandidates:
        """The candidates of label ``j``."""
        start = int(self.sizes[:j].sum())
        sl = slice(start, start + int(self.sizes[j]))
        return CutCandidates(
            self.values[sl], self.below[sl], self.tp[sl], self.k[sl],
            float(self.n_positives[j]), self.dtype,
        )  # fmt: skip


def _by_group_then_descending(values, groups, n_groups):
    """Order of the entries by group, then by value from the highest (ties in any order).

    float32 values: one sort of a 64-bit key (group, then the value's bits made
    orderable and reversed), several times faster than ``np.lexsort`` on the
    tens of millions of stored scores of an extreme-multilabel model.
    """
    if values.dtype == np.float32 and n_groups < 2**31:
        bits = np.ascontiguousarray(values).view(np.uint32)
        negative = (bits >> np.uint32(31)).astype(bool)
        ascending = np.where(negative, ~bits, bits | np.uint32(0x80000000))
        key = np.asarray(groups, dtype=np.uint64) << np.uint64(32)
        key |= (~ascending).astype(np.uint64)  # reversed: the highest value first
        return np.argsort(key)
    return np.lexsort((-values.astype(np.float64), groups))


def grouped_cut_candidates(
    values, y, groups, n_groups, n_positives, sample_weight=None, dtype=np.float64
) -> FlatCandidates:
    """Cut candidates of many labels at once, from their (stored) entries.

    Parameters
    ----------
    values : ndarray of shape (m,)
        The scores of every entry, in any order.
    y : ndarray of shape (m,)
        0/1 label of each entry.
    groups : ndarray of int of shape (m,)
        Label (column) of each entry, in ``[0, n_groups)``.
    n_groups : int
    n_positives : ndarray of shape (n_groups,)
        (Weighted) positives of each label, counting entries that are not
        among ``values`` (never predicted positive).
    sample_weight : ndarray of shape (m,), optional
        Weight of each entry (positive).
    dtype : numpy dtype, default=np.float64
        Dtype of the thresholds.

    Returns
    -------
    candidates : FlatCandidates
    """
    values = np.asarray(values)
    if values.size == 0:
        e = np.empty(0)
        sizes = np.zeros(n_groups, dtype=np.int64)
        return FlatCandidates(e, e, e, e, sizes, np.asarray(n_positives, np.float64), dtype)
    w = np.ones(values.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
    order = _by_group_then_descending(values, np.asarray(groups), n_groups)
    v = values[order].astype(np.float64)
    g = np.asarray(groups)[order].astype(np.int64)
    yy = np.asarray(y)[order].astype(np.float64) * w[order]
    ww = w[order]
    m = v.size
    cum_pos = np.cumsum(yy)
    cum_all = np.cumsum(ww)
    new_group = np.append(True, g[1:] != g[:-1])
    start = np.maximum.accumulate(np.where(new_group, np.arange(m), 0))
    pos_before = np.where(start > 0, cum_pos[start - 1], 0.0)
    all_before = np.where(start > 0, cum_all[start - 1], 0.0)
    is_last = np.append((v[1:] != v[:-1]) | (g[1:] != g[:-1]), True)
    last = np.flatnonzero(is_last)
    prev_last = np.append(-1, last[:-1])
    pos_at_value = cum_pos[last] - np.where(prev_last >= 0, cum_pos[np.maximum(prev_last, 0)], 0)
    keep = pos_at_value > 0
    nxt = np.minimum(last + 1, m - 1)
    below = np.where((last + 1 < m) & (g[nxt] == g[last]), v[nxt], -np.inf)
    last_k = last[keep]
    tp = cum_pos[last_k] - pos_before[last_k]
    k = cum_all[last_k] - all_before[last_k]
    sizes = np.bincount(g[last_k], minlength=n_groups).astype(np.int64)
    return FlatCandidates(
        v[last_k], below[keep], tp, k, sizes, np.asarray(n_positives, np.float64), dtype
    )


def best_cut(c: CutCandidates, beta=1.0, zero_division=0.0):
    """The F-beta-optimal cut among candidates (first maximum: fewest predictions).

    Returns
    -------
    threshold, score, n_predicted, n_true_positives : float, float, float, float
        With no positive the empty prediction is optimal
        (``threshold = +inf``, ``score = zero_division``).
    """
    if c.n_positives == 0 or c.values.size == 0:
        score = float(zero_division) if c.n_positives == 0 else 0.0
        return np.inf, score, 0.0, 0.0
    f = fbeta_from_counts(c.tp, c.k, c.n_positives, beta)
    best = int(np.argmax(f))  # first maximum: the fewest predicted positives
    threshold = float(midpoint_threshold(c.values[best], c.below[best], c.dtype))
    return threshold, float(f[best]), float(c.k[best]), float(c.tp[best])


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
    """Best cut of each label from its candidates, exactly.

    Micro-F couples the labels through its denominator and is solved by
    Dinkelbach's method (:func:`dinkelbach`); macro and weighted F are
    separable. A label with no positive predicts nothing (``+inf``).

    Parameters
    ----------
    candidates : list of CutCandidates or FlatCandidates
        One per label; a pruned list works as long as it keeps every cut
        that can be optimal.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
    n_iter : int
    chosen : ndarray of int of shape (n_labels,)
        Index of each label's cut in the flat candidates, -1 for the empty cut.
    flat : FlatCandidates
    """
    flat = (
        candidates
        if isinstance(candidates, FlatCandidates)
        else FlatCandidates.from_list(candidates)
    )
    n_labels = flat.sizes.size
    thresholds = np.full(n_labels, np.inf)
    n_iter = 1
    if flat.sizes.sum() == 0:
        return thresholds, n_iter, np.full(n_labels, -1), flat
    if average in ("macro", "weighted"):
        p = np.repeat(flat.n_positives, flat.sizes)
        chosen = _best_per_label(fbeta_from_counts(flat.tp, flat.k, p, beta), flat.sizes)
    elif average == "micro":
        total_p = float(flat.n_positives.sum())
        chosen, _, n_iter = dinkelbach(flat.tp, flat.k, flat.sizes, total_p, beta, max_iter)
    else:
        raise ValueError(f"per-label thresholds support micro, macro, weighted; got {average!r}")
    picked = chosen >= 0
    thresholds[picked] = midpoint_threshold(
        flat.values[chosen[picked]], flat.below[chosen[picked]], flat.dtype
    )
    return thresholds, n_iter, chosen, flat


def _within_group_cumsum(values, groups, n_groups):
    """Running sum of ``values`` inside each group, in the given order."""
    order = np.argsort(groups, kind="stable")
    sorted_values = values[order]
    running = np.cumsum(sorted_values)
    group_sizes = np.bincount(groups, minlength=n_groups)
    group_starts = np.concatenate(([0], np.cumsum(group_sizes)[:-1]))
    offset = np.repeat(np.where(group_starts > 0, running[group_starts - 1], 0.0), group_sizes)
    out = np.empty_like(running)
    out[order] = running - offset
    return out


def _exact_f(tp, k, p, b2, zero_division):
    """F-beta as an exact fraction of the float64 counts."""
    den = b2 * Fraction(p) + Fraction(k)
    if den == 0:
        return Fraction(zero_division)
    return (1 + b2) * Fraction(tp) / den


def grouped_sweep(
    scores,
    y,
    groups,
    group_weight,
    n_positives,
    beta=1.0,
    zero_division=0.0,
    sample_weight=None,
    dtype=np.float64,
    *,
    layout=None,
    compiled=None,
    start=None,
    outside=None,
):
    """Exact best single threshold for a weighted mean of per-group F-beta.

    Every entry belongs to one group (a label for macro and weighted F, a row
    for samples F, a fold for the fold-mean objective). Sweeping all entries
    from the highest score down, each entry moves its group's counts, so the
    change of the mean is known entry by entry and its running sum gives the
    objective at every distinct value. The running sum is rounded; every cut
    within its rounding bound of the best is re-checked exactly (fractions of
    the counts), so the exact optimum, and among exact ties the one predicting
    fewest positives, is returned.

    Parameters
    ----------
    scores : ndarray of shape (m,)
    y : ndarray of shape (m,)
        0/1 label of each entry.
    groups : ndarray of int of shape (m,), or None with ``layout``
    group_weight : ndarray of shape (n_groups,)
        Non-negative weight of each group's F in the mean (any scale).
    n_positives : ndarray of shape (n_groups,)
        (Weighted) positives of each group, counting entries not in ``scores``.
    beta, zero_division : float
    sample_weight : ndarray, optional
        Positive weight of each entry (of each row with ``layout``).
    dtype : numpy dtype, default=np.float64
        Dtype of the threshold.
    layout : ("cols", n_labels) or ("rows", n_labels), optional
        ``scores`` is a row-major (n, n_labels) matrix flattened and the group
        of an entry is its column (macro, weighted) or its row (samples).
    compiled : module, optional
        :mod:`f1opt.kernels.compiled` for the compiled sweep (same result,
        memory of the sort order only).
    start : (tp0, k0), optional
        Counts every group starts from (entries above all of ``scores``, not
        passed): the sweep then solves the cuts of a score range, from its top
        edge (all of the entries above it predicted) down.
    outside : (above, below), optional
        With ``start``: the lowest score above the range (``inf`` if none) and
        the highest below it (``-inf`` if none), for the threshold at its edges.

    Returns
    -------
    threshold : float
    score : float
        The weighted mean of the groups' F at that threshold.
    """
    gw_raw = np.asarray(group_weight, dtype=np.float64)
    total_gw = gw_raw.sum()
    p = np.asarray(n_positives, dtype=np.float64)
    if total_gw <= 0:
        return np.inf, float(zero_division)
    gw = gw_raw / total_gw
    n_groups = gw.size
    b2 = beta * beta
    if start is None:
        tp0 = k0 = np.zeros(0)
        base = float((gw * np.where(p > 0, 0.0, zero_division)).sum())
    else:
        tp0, k0 = (np.asarray(a, dtype=np.float64) for a in start)
        base = float((gw * fbeta_from_counts(tp0, k0, p, beta, zero_division)).sum())
    above, below_all = (np.inf, -np.inf) if outside is None else outside
    scores = np.asarray(scores)
    m = scores.size
    if m == 0:
        if above == np.inf:
            return np.inf, base
        return float(midpoint_threshold(above, below_all, dtype)), base
    scores = scores.astype(np.float32) if scores.dtype == np.float16 else scores
    mode, div = 0, 1
    if layout is not None:
        mode, div = (1 if layout[0] == "cols" else 2), int(layout[1])
    w = None if sample_weight is None else np.asarray(sample_weight, np.float64)

    def group_of(idx):
        return groups[idx] if mode == 0 else (idx % div if mode == 1 else idx // div)

    def weight_of(idx):
        return np.ones(idx.size) if w is None else w[idx // div]

    if mode == 0:
        entries = np.bincount(groups, minlength=n_groups)
    else:
        entries = np.full(n_groups, m // n_groups)
    # rounding bound of the running sum: its partial sums are means in [0, 1]
    tol = 4 * _EPS * (m + 6 * float((gw * entries).sum()) + 16)
    y8 = np.asarray(y).astype(np.uint8, copy=False)
    packed = None
    if compiled is not None and scores.dtype in (np.float32, np.float16) and m < (1 << 31):
        # one sort of (score key, index, label): the sweep then reads memory in order
        packed = compiled.pack_sweep_keys(scores, y8)
        packed.sort()  # in place: the keys are the only copy
        order = _PackedOrder(packed)
    else:
        order = np.argsort(scores)[::-1]  # ties in any order: cuts are read at value ends
    if compiled is not None:
        none = np.empty(0, np.int64)
        w_arg, groups_arg, kernel_mode = (np.empty(0) if w is None else w), none, mode
        if mode == 0:  # groups and weights in the order of the sweep: no random reads in it
            idx = order[:]
            groups_arg = np.asarray(groups)[idx]
            w_arg = np.empty(0) if w is None else w[idx]
            kernel_mode = 3
            del idx
        _, positions, _ = compiled.grouped_sweep(
            np.empty(0, np.uint64) if packed is None else packed,
            np.ascontiguousarray(order) if packed is None else none,
            scores if packed is None else np.empty(0), y8, w_arg, groups_arg,
            kernel_mode, div, gw, p, tp0, k0, b2, float(zero_division), base, tol,
        )  # fmt: skip
    else:
        g = group_of(order)
        ww = weight_of(order)
        yy = y8[order] * ww
        k_after = _within_group_cumsum(ww, g, n_groups)
        tp_after = _within_group_cumsum(yy, g, n_groups)
        if tp0.size:
            k_after += k0[g]
            tp_after += tp0[g]
        p_g = p[g]
        gain = fbeta_from_counts(tp_after, k_after, p_g, beta, zero_division)
        gain -= fbeta_from_counts(tp_after - yy, k_after - ww, p_g, beta, zero_division)
        del k_after, tp_after, p_g
        gain *= gw[g]
        total = base + np.cumsum(gain)
        s_sorted = scores[order]
        last_of_value = np.flatnonzero(np.append(s_sorted[1:] != s_sorted[:-1], True))
        cand = np.concatenate(([base], total[last_of_value]))
        positions = np.concatenate(([-1], last_of_value))[cand >= cand.max() - tol]
    best = int(positions[0])
    counts0 = (tp0, k0) if tp0.size else None
    if positions.size > 1:
        best = _exact_best(
            positions, order, y8, group_of, weight_of, gw_raw, p, b2, zero_division, n_groups,
            counts0,
        )  # fmt: skip
    score = _mean_at(
        best, order, y8, group_of, weight_of, gw, p, beta, zero_division, n_groups, counts0
    )
    if best < 0:
        if above == np.inf:
            return np.inf, score
        return float(midpoint_threshold(above, scores[order[0]], dtype)), score
    below = scores[order[best + 1]] if best + 1 < m else below_all
    return float(midpoint_threshold(scores[order[best]], below, dtype)), score


class _PackedOrder:
    """The descending order of entries, read from ascending packed sweep keys."""

    def __init__(self, packed):
        self.packed = packed
        self.size = packed.size

    def __getitem__(self, item):
        m = self.packed.size
        if isinstance(item, slice):
            start, stop, _ = item.indices(m)
            keys = self.packed[m - stop : m - start][::-1]
            return ((keys & np.uint64(0xFFFFFFFF)) >> np.uint64(1)).astype(np.int64)
        return int((int(self.packed[m - 1 - item]) & 0xFFFFFFFF) >> 1)


def _counts_of(idx, y8, group_of, weight_of, n_groups, counts0=None):
    g = group_of(idx)
    ww = weight_of(idx)
    tp = np.bincount(g, weights=y8[idx] * ww, minlength=n_groups)
    k = np.bincount(g, weights=ww, minlength=n_groups)
    if counts0 is not None:
        tp, k = tp + counts0[0], k + counts0[1]
    return tp, k


def _mean_at(pos, order, y8, group_of, weight_of, gw, p, beta, zero_division, n_groups, counts0):
    """The weighted mean of the groups' F with entries ``order[:pos + 1]`` predicted."""
    tp, k = _counts_of(order[: pos + 1], y8, group_of, weight_of, n_groups, counts0)
    return float((gw * fbeta_from_counts(tp, k, p, beta, zero_division)).sum())


def _exact_best(
    positions, order, y8, group_of, weight_of, gw_raw, p, b2, zero_division, n_groups, counts0
):
    """The exact best (earliest among exact ties) of the near-best cut positions."""
    b2f = Fraction(b2)
    best = int(positions[0])
    tp_a, k_a = _counts_of(order[: best + 1], y8, group_of, weight_of, n_groups, counts0)
    for c in positions[1:].tolist():
        seg = order[best + 1 : c + 1]
        dtp, dk = _counts_of(seg, y8, group_of, weight_of, n_groups)
        changed = np.unique(group_of(seg))
        delta = Fraction(0)
        for j in changed.tolist():
            delta += Fraction(gw_raw[j]) * (
                _exact_f(tp_a[j] + dtp[j], k_a[j] + dk[j], p[j], b2f, zero_division)
                - _exact_f(tp_a[j], k_a[j], p[j], b2f, zero_division)
            )
        if delta > 0:
            best, tp_a, k_a = c, tp_a + dtp, k_a + dk
    return best


def curve_counts(scores, y, sample_weight=None):
    """Counts at every distinct cut, for an F-beta curve.

    Returns
    -------
    thresholds : ndarray of shape (n_cuts,)
        Every distinct score, increasing (predict positive iff ``scores >= thresholds[i]``).
    tp, k : ndarray of float64 of shape (n_cuts,)
        (Weighted) true and predicted positives at each cut.
    n_positives : float
    """
    order = np.argsort(scores, kind="stable")[::-1]
    s = scores[order].astype(np.float64)
    w = np.ones(s.size) if sample_weight is None else np.asarray(sample_weight, np.float64)[order]
    cum_pos = np.cumsum(np.asarray(y)[order].astype(np.float64) * w)
    cum_all = np.cumsum(w)
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    n_positives = float(cum_pos[-1]) if s.size else 0.0
    return s[last][::-1], cum_pos[last][::-1], cum_all[last][::-1], n_positives
