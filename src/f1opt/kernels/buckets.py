"""Exact threshold search by counting: bucket counts, pruning, and a small exact solve.

The exact F-beta search needs only counts. Scores are mapped to an
order-preserving integer key of their float32 bits (float64 scores are rounded
to float32 first: rounding is monotone, so the order is kept and equal scores
share a key) and the top ``bits`` bits of the key name a bucket. Then

1. one pass counts the scores and the positives of every bucket (counts from
   data partitions simply add up);
2. the counts give the exact F-beta at every bucket edge ("predict every bucket
   from this one up") and an upper bound for every cut inside a bucket: such a
   cut includes ``t`` of the bucket's positives and at least ``t`` of its
   scores, so ``F <= (1 + b^2)(TP_above + pos_b) / (b^2 P + K_above + pos_b)``;
3. a second pass gathers only the scores of the buckets whose bound reaches the
   best edge (and the maximum of the next non-empty bucket below each of them,
   the "highest excluded" score of their lowest cut), and these are solved
   exactly.

When the buckets to solve hold too many scores (scores crowded in a narrow
range, or heavily tied), one more counting pass splits just those buckets by up
to 14 more key bits; with 18 + 14 bits a bucket is a single float32 value,
which its counts and its key describe completely, so float32 scores that are
tied or crowded never need gathering.

The candidates built from the gathered buckets are a subset of those of
:func:`f1opt.kernels.cuts.cut_candidates`, in the same order and with the same
counts, and they contain every cut that can be optimal, so the argmax (and its
tie rule) is unchanged. The same counts serve the per-label searches: macro and
weighted F prune each label with its own best edge, and micro F (Dinkelbach)
prunes with the linear gains ``(1 + b^2) TP - lam K`` over a range of ``lam``
known to hold the optimum.

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

from ..metrics import fbeta_from_counts
from .cuts import CutCandidates, dinkelbach

#: relative slack on the pruning test: rounding never drops a needed bucket
_SLACK = 1e-12


def as_label_array(y) -> np.ndarray:
    """0/1 labels as a uint8 array (no copy for bool, int8 and uint8)."""
    y = np.asarray(y)
    if y.dtype == np.bool_ or y.dtype == np.int8:
        return y.view(np.uint8)
    if y.dtype == np.uint8:
        return y
    return y.astype(np.uint8)


def keys32(scores) -> np.ndarray:
    """Order-preserving uint32 keys of the float32 rounding of ``scores``.

    ``-0.0`` and ``+0.0`` get the same key; ``a <= b`` implies
    ``keys32(a) <= keys32(b)``, with equality for equal scores.
    """
    with np.errstate(over="ignore"):
        f = np.asarray(scores, dtype=np.float32)
    f = f + np.float32(0.0)  # a copy, and -0.0 -> +0.0
    bits = f.view(np.uint32)
    mask = bits >> np.uint32(31)
    mask *= np.uint32(0x7FFFFFFF)
    mask |= np.uint32(0x80000000)
    bits ^= mask
    return bits


@dataclass(frozen=True)
class BucketMap:
    """Which bucket each key falls in: uniform top bits, optionally refined.

    The bucket of key ``k`` is ``base[t] + ((k & rmask[t]) >> rshift)`` with
    ``t = k >> shift``. Uniform buckets have ``rmask = 0``; a refined top
    bucket is split by its next ``shift - rshift`` key bits. Buckets stay in
    increasing key order.
    """

    shift: int
    base: np.ndarray
    rmask: np.ndarray
    rshift: int
    n_buckets: int
    #: True where a bucket holds exactly one key (one float32 value)
    single: np.ndarray

    @classmethod
    def uniform(cls, bits: int) -> BucketMap:
        """``2**bits`` buckets on the top ``bits`` key bits."""
        n = 1 << bits
        single = np.full(n, bits == 32)
        return cls(32 - bits, np.arange(n, dtype=np.int64), np.zeros(n, np.uint32), 0, n, single)

    def refine(self, which: np.ndarray, max_buckets: int) -> BucketMap | None:
        """Split the buckets ``which`` (bool, uniform map only) by up to 14 more bits.

        Returns None when there is nothing to split or too many buckets would result.
        """
        extra = min(self.shift, 14)
        n_split = int(which.sum())
        if n_split == 0 or extra == 0 or self.n_buckets + (n_split << extra) > max_buckets:
            return None
        sizes = np.where(which, 1 << extra, 1)
        base = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        rmask = np.where(which, (1 << self.shift) - 1, 0).astype(np.uint32)
        rshift = self.shift - extra
        single = np.repeat(which & (rshift == 0), sizes)
        return BucketMap(self.shift, base, rmask, rshift, int(sizes.sum()), single)

    @property
    def kernel_rshift(self) -> int:
        """``rshift`` for the compiled kernels, -1 for uniform buckets (a faster path)."""
        return -1 if not self.rmask.any() else self.rshift

    def index(self, keys: np.ndarray) -> np.ndarray:
        """Bucket of each key (numpy)."""
        top = keys >> np.uint32(self.shift)
        if self.kernel_rshift < 0:
            return top
        refined = (keys & self.rmask[top]) >> np.uint32(self.rshift)
        return self.base[top] + refined

    def single_values(self) -> np.ndarray:
        """The float32 value of each single-key bucket (nan elsewhere), as float64."""
        out = np.full(self.n_buckets, np.nan)
        tops = np.flatnonzero(self.rmask)
        if self.rshift != 0 or tops.size == 0:
            return out
        width = 1 << self.shift
        keys = (
            (tops[:, None].astype(np.uint64) << np.uint64(self.shift)) + np.arange(width)
        ).ravel()
        keys = keys.astype(np.uint32)
        idx = self.index(keys)
        out[idx] = key_values(keys)
        return out


def key_values(keys: np.ndarray) -> np.ndarray:
    """The float32 values (as float64) of order-preserving keys (inverse of keys32)."""
    keys = np.asarray(keys, dtype=np.uint32)
    positive = (keys >> np.uint32(31)) == 1
    bits = np.where(positive, keys ^ np.uint32(0x80000000), ~keys).astype(np.uint32)
    return bits.view(np.float32).astype(np.float64)


def _as_map(bits_or_map) -> BucketMap:
    if isinstance(bits_or_map, BucketMap):
        return bits_or_map
    return BucketMap.uniform(int(bits_or_map))


_NO_WEIGHTS = np.empty(0, dtype=np.float64)


def _weights_arg(w):
    return _NO_WEIGHTS if w is None else np.ascontiguousarray(w, dtype=np.float64)


def bucket_counts(scores, y, bits, sample_weight=None, compiled=None) -> np.ndarray:
    """(Weighted) counts of scores (row 0) and positives (row 1) per bucket, (2, n_buckets).

    Parameters
    ----------
    scores : ndarray of shape (n,), float32 or float64, finite
    y : ndarray of shape (n,), 0/1
    bits : int or BucketMap
        Key bits naming a bucket (uniform buckets), or a bucket map.
    sample_weight : ndarray of shape (n,), optional
    compiled : module, optional
        :mod:`f1opt.kernels.compiled` to run the compiled pass (same result).

    Returns
    -------
    counts : ndarray of float64 of shape (2, n_buckets)
    """
    bmap = _as_map(bits)
    y = as_label_array(y)
    if compiled is not None:
        return compiled.bucket_counts(
            scores, y, _weights_arg(sample_weight), bmap.shift, bmap.base, bmap.rmask,
            bmap.kernel_rshift, bmap.n_buckets,
        )  # fmt: skip
    b = bmap.index(keys32(scores)).astype(np.int64)
    if sample_weight is None:
        b <<= 1
        b |= y
        by_label = np.bincount(b, minlength=2 * bmap.n_buckets).reshape(bmap.n_buckets, 2)
        return np.stack([by_label.sum(axis=1), by_label[:, 1]]).astype(np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    return np.stack(
        [
            np.bincount(b, weights=w, minlength=bmap.n_buckets),
            np.bincount(b, weights=w * y, minlength=bmap.n_buckets),
        ]
    )


def gather(scores, y, roles: np.ndarray, bits, capacity=None, sample_weight=None, compiled=None):
    """Second pass: the scores of the role-1 buckets, the maximum of each role-2 bucket.

    Returns
    -------
    values : ndarray (dtype of ``scores``)
    labels : ndarray of uint8
    weights : ndarray of float64, or None without ``sample_weight``
    buckets : ndarray of int32
    maxima : ndarray of float64 of shape (n_buckets,)
        Maximum score of each role-2 bucket (``-inf`` elsewhere).
    """
    bmap = _as_map(bits)
    y = as_label_array(y)
    if compiled is not None:
        if capacity is None:
            capacity = scores.shape[0]
        values, labels, weights, buckets, maxima = compiled.gather(
            scores, y, _weights_arg(sample_weight), bmap.shift, bmap.base, bmap.rmask,
            bmap.kernel_rshift, roles, int(capacity),
        )  # fmt: skip
        return values, labels, (None if sample_weight is None else weights), buckets, maxima
    b = bmap.index(keys32(scores))
    r = roles[b]
    take = r == 1
    values, labels, buckets = scores[take], y[take], b[take].astype(np.int32)
    weights = None if sample_weight is None else np.asarray(sample_weight, np.float64)[take]
    maxima = np.full(roles.shape[0], -np.inf)
    second = r == 2
    if second.any():
        np.maximum.at(maxima, b[second], scores[second].astype(np.float64))
    return values, labels, weights, buckets, maxima


def _descending_cumulative(counts):
    """Counts at and above each bucket, highest bucket first; arrays of shape (L, B)."""
    n = counts[:, 0, ::-1].astype(np.int64)
    pos = counts[:, 1, ::-1].astype(np.int64)
    k_edge = np.cumsum(n, axis=1)
    tp_edge = np.cumsum(pos, axis=1)
    return n, pos, k_edge, tp_edge


def plan_fbeta(counts: np.ndarray, beta: float) -> np.ndarray:
    """Buckets to solve exactly for each label's own F-beta (binary, macro, weighted).

    Parameters
    ----------
    counts : ndarray of shape (n_labels, 2, n_buckets)

    Returns
    -------
    solve : ndarray of bool of shape (n_labels, n_buckets)
    """
    n, pos, k_edge, tp_edge = _descending_cumulative(counts)
    p = tp_edge[:, -1:]
    edge_f = np.where(n > 0, fbeta_from_counts(tp_edge, k_edge, p, beta), 0.0)
    best_edge = edge_f.max(axis=1, keepdims=True)
    bound = fbeta_from_counts(tp_edge, k_edge - n + pos, p, beta)
    solve = (pos > 0) & (bound >= best_edge * (1.0 - _SLACK))
    return solve[:, ::-1]


def plan_linear(counts: np.ndarray, beta: float, lam_lo: float, lam_hi: float) -> np.ndarray:
    """Buckets that can hold the argmax of ``(1 + b^2) TP - lam K`` for some lam in range.

    A cut inside bucket b gains at most ``(1 + b^2)(TP_above + pos_b) -
    lam (K_above + pos_b)``, largest at ``lam_lo``; the best edge (or the empty
    cut, gain 0) gains at least its value at ``lam_hi``.
    """
    b2 = beta * beta
    n, pos, k_edge, tp_edge = _descending_cumulative(counts)
    best_edge = np.maximum(((1 + b2) * tp_edge - lam_hi * k_edge).max(axis=1, keepdims=True), 0.0)
    bound = (1 + b2) * tp_edge - lam_lo * (k_edge - n + pos)
    slack = _SLACK * (1.0 + (1 + b2) * tp_edge[:, -1:])
    solve = (pos > 0) & (bound >= best_edge - slack)
    return solve[:, ::-1]


def roles_for(counts: np.ndarray, solve: np.ndarray, single=None) -> np.ndarray:
    """Role of every bucket in the second pass.

    1: gather its scores (a bucket to solve); 2: only its maximum (the next
    non-empty bucket below a bucket to solve); 3 and 4: the same, for a bucket
    holding one float32 value (``single``, float32 scores only), which the
    counts and the key already describe, so the second pass skips it.

    Returns
    -------
    roles : ndarray of uint8 of shape (n_labels, n_buckets)
    """
    nonempty = counts[:, 0, :] > 0
    n_labels, n_buckets = nonempty.shape
    idx = np.where(nonempty, np.arange(n_buckets), -1)
    last_at_or_below = np.maximum.accumulate(idx, axis=1)
    below = np.full_like(last_at_or_below, -1)
    below[:, 1:] = last_at_or_below[:, :-1]
    roles = solve.astype(np.uint8)
    rows, cols = np.nonzero(solve)
    nb = below[rows, cols]
    keep = nb >= 0
    rows, nb = rows[keep], nb[keep]
    second = ~solve[rows, nb]
    roles[rows[second], nb[second]] = 2
    if single is not None and single.any():
        roles[:, single] = np.where(roles[:, single] > 0, roles[:, single] + 2, 0)
    return roles


def candidates_from_gathered(
    counts, values, labels, weights, buckets, maxima, roles=None, bmap=None, dtype=np.float64
):
    """Exact cut candidates of the gathered buckets (a pruned ``cut_candidates``).

    Parameters
    ----------
    counts : ndarray of shape (2, n_buckets)
        Bucket counts of the label (all scores, positives).
    values, labels, weights, buckets : ndarrays of shape (m,)
        Every score of the solved buckets, with its label, weight (None: 1)
        and bucket.
    maxima : ndarray of shape (n_buckets,)
        Maximum score of each bucket needed as a "highest excluded" score.
    roles : ndarray of shape (n_buckets,), optional
        With ``bmap``: buckets of role 3 and 4 hold one float32 value, read
        from the key instead of the data.
    bmap : BucketMap, optional
    dtype : numpy dtype, default=np.float64
        Dtype of the thresholds.

    Returns
    -------
    candidates : f1opt.kernels.cuts.CutCandidates
    """
    n_all = counts[0].astype(np.float64)
    n_pos = counts[1].astype(np.float64)
    n_positives = float(n_pos.sum())
    if weights is None:
        weight_all = np.ones(values.size)
    else:
        weight_all = np.asarray(weights, dtype=np.float64)
    weight_pos = labels.astype(np.float64) * weight_all
    bucket_max = maxima.astype(np.float64, copy=True)
    if roles is not None and bmap is not None and (roles >= 3).any():
        # one value per bucket: one element carrying the bucket's counts
        known = bmap.single_values()
        third = np.flatnonzero(roles == 3)
        values = np.concatenate([values.astype(np.float64), known[third]])
        weight_all = np.concatenate([weight_all, n_all[third]])
        weight_pos = np.concatenate([weight_pos, n_pos[third]])
        buckets = np.concatenate([buckets.astype(np.int64), third])
        fourth = roles == 4
        bucket_max[fourth] = known[fourth]
    if values.size == 0 or n_positives == 0:
        empty = np.empty(0)
        return CutCandidates(empty, empty, empty, empty, n_positives, dtype)
    k_above = n_all.sum() - np.cumsum(n_all)  # scores in buckets strictly above
    tp_above = n_positives - np.cumsum(n_pos)
    order = np.argsort(values)[::-1]  # equal values are grouped below: no stability needed
    v = values[order].astype(np.float64)
    bk = buckets[order].astype(np.int64)
    m = v.size
    cum_pos = np.cumsum(weight_pos[order])
    cum_all = np.cumsum(weight_all[order])
    is_last = np.append(v[1:] != v[:-1], True)
    last = np.flatnonzero(is_last)
    new_bucket = np.append(True, bk[1:] != bk[:-1])
    start = np.maximum.accumulate(np.where(new_bucket, np.arange(m), 0))
    pos_before = np.where(start > 0, cum_pos[start - 1], 0.0)
    all_before = np.where(start > 0, cum_all[start - 1], 0.0)
    pos_at_value = cum_pos[last] - np.append(0, cum_pos[last[:-1]])
    keep = pos_at_value > 0
    last = last[keep]
    b_last = bk[last]
    tp = tp_above[b_last] + cum_pos[last] - pos_before[last]
    k = k_above[b_last] + cum_all[last] - all_before[last]
    # the highest score strictly below: next value of the bucket, else the maximum
    # of the next non-empty bucket below (-inf if none)
    firsts = np.flatnonzero(new_bucket)
    bucket_max[bk[firsts]] = v[firsts]
    nonempty_idx = np.where(n_all > 0, np.arange(n_all.size), -1)
    last_at_or_below = np.maximum.accumulate(nonempty_idx)
    below_bucket = np.where(b_last > 0, last_at_or_below[np.maximum(b_last - 1, 0)], -1)
    next_in_bucket = last + 1 < m
    nxt = np.minimum(last + 1, m - 1)
    same = next_in_bucket & (bk[nxt] == b_last)
    below = np.where(
        same,
        v[nxt],
        np.where(below_bucket >= 0, bucket_max[np.maximum(below_bucket, 0)], -np.inf),
    )
    return CutCandidates(v[last], below, tp, k, n_positives, dtype)


def two_pass_candidates(count, gather_fn, beta, bits, max_gather, max_buckets, dtype):
    """The counting search of one label, on any data source.

    Parameters
    ----------
    count : callable
        ``count(bmap) -> (counts, all_float32)``: bucket counts over all the
        data, and whether every score is float32.
    gather_fn : callable
        ``gather_fn(roles, bmap, capacity) -> (values, labels, weights, buckets, maxima)``.
    beta : float
    bits : int
        Key bits of the first, uniform buckets.
    max_gather : int
        When the buckets to solve hold more scores, they are split by up to 14
        more key bits (one more counting pass) before the gather; split to
        single float32 values, they need no gather at all.
    max_buckets : int
        Most buckets of a refined map.
    dtype : numpy dtype
        Dtype of the thresholds.

    Returns
    -------
    candidates : f1opt.kernels.cuts.CutCandidates
    """
    bmap = BucketMap.uniform(bits)
    counts, all_float32 = count(bmap)
    solve = plan_fbeta(counts[None], beta)[0]
    if n_scores_to_gather(counts, solve) > max_gather:
        finer = bmap.refine(solve, max_buckets)
        if finer is not None:
            bmap = finer
            counts, all_float32 = count(bmap)
            solve = plan_fbeta(counts[None], beta)[0]
    roles = roles_for(counts[None], solve[None], bmap.single if all_float32 else None)[0]
    # scores to gather: the counts of the role-1 buckets (a bound only if weighted)
    capacity = int(counts[0][roles == 1].sum())
    gathered = gather_fn(roles, bmap, capacity)
    return candidates_from_gathered(counts, *gathered, roles=roles, bmap=bmap, dtype=dtype)


def n_scores_to_gather(counts, solve) -> float:
    """(Weighted) size of the buckets to solve: a size hint for refining them."""
    return float(counts[0][solve].sum())


def bucketed_cut_candidates(
    scores, y, beta, bits, max_gather, max_buckets, sample_weight=None, compiled=None, dtype=None
):
    """The cut candidates that can be F-beta optimal, by two passes over the data.

    Same result type as :func:`f1opt.kernels.cuts.cut_candidates`, restricted
    to the buckets whose bound reaches the best bucket edge.
    """
    from .cuts import threshold_dtype

    is_float32 = scores.dtype == np.float32
    dtype = threshold_dtype(scores.dtype if dtype is None else dtype)

    def count(bmap):
        return bucket_counts(scores, y, bmap, sample_weight, compiled), is_float32

    def gather_fn(roles, bmap, capacity):
        capacity = capacity if sample_weight is None else None
        return gather(scores, y, roles, bmap, capacity, sample_weight, compiled)

    return two_pass_candidates(count, gather_fn, beta, bits, max_gather, max_buckets, dtype)


def per_label_counts(scores, y, bits: int, sample_weight=None, compiled=None) -> np.ndarray:
    """(Weighted) bucket counts of every column, shape (n_labels, 2, 2**bits)."""
    if compiled is not None:
        return compiled.bucket_counts_2d(
            scores, as_label_array(y), _weights_arg(sample_weight), 32 - bits, 1 << bits
        )
    return np.stack(
        [bucket_counts(scores[:, j], y[:, j], bits, sample_weight) for j in range(scores.shape[1])]
    )


def per_label_gather(scores, y, roles, counts, bits: int, sample_weight=None, compiled=None):
    """Second pass over every column: a list of ``gather`` results, one per label."""
    n_labels = scores.shape[1]
    if compiled is None:
        return [
            gather(scores[:, j], y[:, j], roles[j], bits, None, sample_weight)
            for j in range(n_labels)
        ]
    # exact capacities: count the rows of the role-1 buckets of every column
    if sample_weight is None:
        capacities = np.where(roles == 1, counts[:, 0, :], 0).sum(axis=1).astype(np.int64)
    else:
        unit = compiled.bucket_counts_2d(
            scores, as_label_array(y), _NO_WEIGHTS, 32 - bits, 1 << bits
        )
        capacities = np.where(roles == 1, unit[:, 0, :], 0).sum(axis=1).astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(capacities))).astype(np.int64)
    values, labels, weights, buckets, maxima = compiled.gather_2d(
        scores, as_label_array(y), _weights_arg(sample_weight), 32 - bits, roles, offsets
    )

    def part(a, j):
        return None if a is None else a[offsets[j] : offsets[j + 1]]

    weights = None if sample_weight is None else weights
    return [
        (
            part(values, j),
            part(labels, j),
            part(weights, j),
            part(buckets, j),
            maxima[j],
        )
        for j in range(n_labels)
    ]


def micro_bounds(counts: np.ndarray, beta: float, max_iter: int = 100):
    """Lower and upper bounds on the best micro F-beta with one cut per label.

    The lower bound is the exact optimum over bucket edges (realisable cuts);
    the upper bound the optimum over the edges and, for each bucket, the point
    ``(TP_above + pos_b, K_above + pos_b)`` that beats every cut inside it
    (fewer predictions, as many true positives: adding a true positive
    always raises micro F).
    """
    n, pos, k_edge, tp_edge = _descending_cumulative(counts)
    total_p = float(tp_edge[:, -1].sum())
    if total_p == 0:
        return 0.0, 0.0
    edge = n > 0
    _, f_lo, _ = dinkelbach(tp_edge[edge], k_edge[edge], edge.sum(axis=1), total_p, beta, max_iter)
    inside = pos > 0
    tp_hi = np.concatenate([tp_edge, tp_edge], axis=1)
    k_hi = np.concatenate([k_edge, k_edge - n + pos], axis=1)
    mask = np.concatenate([edge, inside], axis=1)
    _, f_hi, _ = dinkelbach(tp_hi[mask], k_hi[mask], mask.sum(axis=1), total_p, beta, max_iter)
    return f_lo, max(f_lo, f_hi)


def plan_per_label(counts: np.ndarray, beta: float, average: str, max_iter: int = 100):
    """Roles (1 solve, 2 maximum only) of every label's buckets for a per-label search."""
    if average == "micro":
        f_lo, f_hi = micro_bounds(counts, beta, max_iter)
        solve = plan_linear(counts, beta, f_lo, f_hi)
    else:
        solve = plan_fbeta(counts, beta)
    return roles_for(counts, solve)


def per_label_cut_candidates(
    scores, y, beta, average, bits, sample_weight=None, compiled=None, dtype=None, max_iter=100
):
    """Pruned cut candidates of every column, holding each label's optimal cut.

    For ``macro`` and ``weighted`` each label keeps what its own F-beta needs;
    for ``micro`` each label keeps every cut that can maximise
    ``(1 + b^2) TP - lam K`` for ``lam`` between the bounds of
    :func:`micro_bounds`, where the optimum lies.

    Returns
    -------
    candidates : list of f1opt.kernels.cuts.CutCandidates
    """
    from .cuts import threshold_dtype

    dtype = threshold_dtype(scores.dtype if dtype is None else dtype)
    n_labels = scores.shape[1]
    counts = per_label_counts(scores, y, bits, sample_weight, compiled)
    roles = plan_per_label(counts, beta, average, max_iter)
    gathered = per_label_gather(scores, y, roles, counts, bits, sample_weight, compiled)
    return [candidates_from_gathered(counts[j], *gathered[j], dtype=dtype) for j in range(n_labels)]


# ---------------------------------------------------------------- global sweeps by buckets

#: entries per block of the numpy passes (bounds their memory)
_BLOCK_ENTRIES = 1 << 20


def column_bucket_deltas(counts, p, gw, beta, zero_division=0.0):
    """Macro / weighted F changes per bucket from per-label counts (columns are the groups).

    Parameters
    ----------
    counts : ndarray of shape (n_labels, 2, n_buckets)
        (Weighted) entries and positives of every label in every bucket.
    p, gw : ndarray of shape (n_labels,)
        Positives and (normalised) weight of every label.

    Returns
    -------
    delta, gain : ndarray of shape (n_buckets,)
        The change of the weighted sum of label F-betas across each bucket,
        and the most a cut inside it can add to the sum at its top edge.
    sizes : ndarray of shape (n_buckets,)
        (Weighted) entries of each bucket (0 exactly when it is empty).
    used : ndarray of int
        The non-empty buckets, increasing.
    tp_above, k_above : ndarray of shape (n_labels, used.size)
        Each label's counts strictly above each non-empty bucket.
    """
    n_buckets = counts.shape[2]
    sizes = counts[:, 0, :].sum(axis=0)
    used = np.flatnonzero(sizes > 0)  # empty buckets change nothing: work on the others
    n, pos = counts[:, 0, used], counts[:, 1, used]
    k_incl = np.cumsum(n[:, ::-1], axis=1)[:, ::-1]
    tp_incl = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1]
    k_above, tp_above = k_incl - n, tp_incl - pos
    pc, gc = p[:, None], gw[:, None]
    f_before = fbeta_from_counts(tp_above, k_above, pc, beta, zero_division)
    delta, gain = np.zeros(n_buckets), np.zeros(n_buckets)
    f_after = fbeta_from_counts(tp_incl, k_incl, pc, beta, zero_division)
    delta[used] = (gc * (f_after - f_before)).sum(0)
    bound = fbeta_from_counts(tp_above + pos, k_above + pos, pc, beta, zero_division)
    gain[used] = (gc * (bound - f_before)).sum(0)
    return delta, gain, sizes, used, tp_above, k_above


def row_bucket_deltas(scores, y, w, bits, p, gw, beta, zero_division=0.0, compiled=None):
    """Samples-F changes per bucket of a row-major (n, L) matrix (rows are the groups).

    Blocks of rows get uint32 keys with each entry's label in the lowest key
    bit (which never names a bucket); numpy sorts each row; then each row is
    walked from its top bucket down (see
    :func:`f1opt.kernels.compiled.row_walk`; the numpy walk gives the same).

    Returns
    -------
    delta, gain : ndarray of shape (2**bits,)
        The change of the weighted sum of row F-betas across each bucket, and
        the most a cut inside it can add to the sum at its top edge.
    sizes : ndarray of shape (2**bits,)
        Entries of each bucket.
    """
    shift = 32 - bits
    n_buckets = 1 << bits
    n, n_labels = scores.shape
    b2 = beta * beta
    delta, gain, sizes = np.zeros(n_buckets), np.zeros(n_buckets), np.zeros(n_buckets, np.int64)
    step = max(1, _BLOCK_ENTRIES // n_labels)
    y = as_label_array(y)
    for r0 in range(0, n, step):
        r1 = min(n, r0 + step)
        if compiled is not None:
            keys = compiled.row_keys(scores[r0:r1], y[r0:r1])
        else:
            keys = keys32(scores[r0:r1])
            keys &= np.uint32(0xFFFFFFFE)
            keys |= y[r0:r1]
        keys.sort(axis=1)
        wb = None if w is None else w[r0:r1]
        if compiled is not None:
            compiled.row_walk(
                keys, _weights_arg(wb), p[r0:r1], gw[r0:r1], shift, b2, float(zero_division),
                delta, gain, sizes,
            )  # fmt: skip
            continue
        keys = keys[:, ::-1]  # descending
        b = (keys >> np.uint32(shift)).astype(np.int64)
        wi = np.ones((r1 - r0, 1)) if wb is None else wb[:, None]
        tp = np.cumsum(keys & np.uint32(1), axis=1, dtype=np.float64) * wi
        k = np.cumsum(np.ones(b.shape), axis=1) * wi
        last = np.ones(b.shape, dtype=bool)  # last entry of each run of one bucket
        last[:, :-1] = b[:, 1:] != b[:, :-1]
        rr, cc = np.nonzero(last)
        tp_end, k_end, bb = tp[rr, cc], k[rr, cc], b[rr, cc]
        first_run = np.ones(rr.size, dtype=bool)
        first_run[1:] = rr[1:] != rr[:-1]
        tp_start = np.where(first_run, 0.0, np.roll(tp_end, 1))
        k_start = np.where(first_run, 0.0, np.roll(k_end, 1))
        pr, gr = p[r0:r1][rr], gw[r0:r1][rr]
        f0 = fbeta_from_counts(tp_start, k_start, pr, beta, zero_division)
        f1 = fbeta_from_counts(tp_end, k_end, pr, beta, zero_division)
        ub = fbeta_from_counts(tp_end, k_start + tp_end - tp_start, pr, beta, zero_division)
        delta += np.bincount(bb, weights=gr * (f1 - f0), minlength=n_buckets)
        gain += np.bincount(bb, weights=gr * (ub - f0), minlength=n_buckets)
        sizes += np.bincount(bb, minlength=n_buckets)
    return delta, gain, sizes


def gather_range(scores, lo_key, hi_key, capacity, compiled=None):
    """Flat indices of the scores whose key lies in ``[lo_key, hi_key]`` (``capacity`` of them)."""
    if compiled is not None:
        return compiled.gather_range(scores, np.uint32(lo_key), np.uint32(hi_key), int(capacity))
    parts = []
    for s0 in range(0, scores.size, _BLOCK_ENTRIES):
        keys = keys32(scores[s0 : s0 + _BLOCK_ENTRIES])
        parts.append(np.flatnonzero((keys >= lo_key) & (keys <= hi_key)) + s0)
    return np.concatenate(parts)


def _row_counts_above(scores, y, w, rows, hi_key):
    """(Weighted) positives and entries above ``hi_key`` of the given rows."""
    n_labels = scores.shape[1]
    tp0, k0 = np.empty(rows.size), np.empty(rows.size)
    step = max(1, _BLOCK_ENTRIES // n_labels)
    for r0 in range(0, rows.size, step):
        sel = rows[r0 : r0 + step]
        hi = keys32(scores[sel]) > hi_key
        tp0[r0 : r0 + step] = (hi & (as_label_array(y[sel]) == 1)).sum(axis=1)
        k0[r0 : r0 + step] = hi.sum(axis=1)
    if w is not None:
        tp0 *= w[rows]
        k0 *= w[rows]
    return tp0, k0


def plan_range(delta, gain, sizes, base, m, bits, max_fraction=0.25, unit=None):
    """The key range that holds every cut that can be optimal, from per-bucket changes.

    Parameters
    ----------
    delta, gain, sizes : ndarray of shape (2**bits,)
        See :func:`column_bucket_deltas` / :func:`row_bucket_deltas` (normalised group weights).
    base : float
        The objective of the empty cut.
    m : int
        Entries in all (for the rounding bound).
    unit : ndarray of shape (2**bits,), optional
        Entries per bucket when ``sizes`` are weighted.

    Returns
    -------
    plan : dict or None
        None when the empty cut is nearly best or the range holds more than
        ``max_fraction`` of the entries (the caller then sorts everything).
    """
    from .cuts import _EPS

    shift = 32 - bits
    unit = sizes if unit is None else unit
    after = base + np.cumsum(delta[::-1])  # descending order: the total after each bucket
    top = np.concatenate(([base], after[:-1]))  # ... and at its top edge
    nonempty = sizes[::-1] > 0
    tol = 8 * _EPS * (3 * m + 16)
    best_edge = float(after[nonempty].max()) if nonempty.any() else base
    if base >= best_edge - tol:
        return None  # the empty cut is (nearly) best: the full sweep decides exactly
    cand = np.flatnonzero(nonempty & (top + gain[::-1] >= best_edge - tol))
    first, last = int(cand[0]), int(cand[-1])  # descending positions
    hi_bucket, lo_bucket = len(delta) - 1 - first, len(delta) - 1 - last
    if float(unit[lo_bucket : hi_bucket + 1].sum()) > max_fraction * m:
        return None
    # the gather also takes the non-empty bucket next to the range on each side,
    # whose scores give the nearest scores outside (for the thresholds at its edges)
    filled = np.flatnonzero(sizes > 0)
    at = np.searchsorted(filled, [lo_bucket, hi_bucket])
    ctx_lo = int(filled[at[0] - 1]) if at[0] > 0 else lo_bucket
    ctx_hi = int(filled[at[1] + 1]) if at[1] + 1 < filled.size else hi_bucket
    return dict(
        hi_bucket=hi_bucket,
        lo_key=lo_bucket << shift,
        hi_key=((hi_bucket + 1) << shift) - 1,
        ctx_lo_key=ctx_lo << shift,
        ctx_hi_key=((ctx_hi + 1) << shift) - 1,
        capacity=int(round(float(unit[ctx_lo : ctx_hi + 1].sum()))),
        top=float(top[first]),
    )


def gather_range_block(scores, y, w, layout, plan, compiled=None, block=0, p=None, gw=None):
    """The entries of a (partition of a) matrix inside the planned range, and their groups.

    Returns
    -------
    values, labels : ndarray of shape (r,)
    weights : ndarray of shape (r,) or None
    groups : ndarray of int64 of shape (r,)
        The label of each entry (``"cols"``), or its row as ``block << 32 | row`` (``"rows"``).
    above, below : float
        Nearest scores outside the range (``inf`` / ``-inf`` if none).
    rows : tuple or None
        For ``"rows"``: the touched rows' ids, their counts above the range,
        positives and group weights (``p``, ``gw`` per row of this block).
    """
    n, n_labels = scores.shape
    flat_s, flat_y = scores.reshape(-1), y.reshape(-1)
    lo_key, hi_key = plan["lo_key"], plan["hi_key"]
    capacity = plan["capacity"] if block < 0 else None  # exact only for the whole matrix
    if capacity is not None and compiled is not None:
        index = compiled.gather_range(
            flat_s, np.uint32(plan["ctx_lo_key"]), np.uint32(plan["ctx_hi_key"]), capacity
        )
    else:
        index = gather_range(flat_s, plan["ctx_lo_key"], plan["ctx_hi_key"], 0, None)
    keys = keys32(flat_s[index])
    up, down = keys > hi_key, keys < lo_key
    above = float(flat_s[index[up]].min()) if up.any() else np.inf
    below = float(flat_s[index[down]].max()) if down.any() else -np.inf
    index = index[~(up | down)]
    values, labels = flat_s[index], flat_y[index]
    weights = None if w is None else w[index // n_labels]
    if layout == "cols":
        return values, labels, weights, (index % n_labels).astype(np.int64), above, below, None
    local = index // n_labels
    rows = np.unique(local)
    tp0, k0 = _row_counts_above(scores, y, w, rows, hi_key)
    offset = np.int64(max(block, 0)) << np.int64(32)
    ids = rows.astype(np.int64) + offset
    info = (ids, tp0, k0, p[rows], gw[rows])
    return values, labels, weights, local.astype(np.int64) + offset, above, below, info


def merge_ranges(a, b):
    """Two :func:`gather_range_block` results as one (entries and touched rows concatenated)."""
    cat = np.concatenate
    weights = None if a[2] is None else cat([a[2], b[2]])
    rows = None if a[6] is None else tuple(cat([x, z]) for x, z in zip(a[6], b[6], strict=True))
    return (
        cat([a[0], b[0]]), cat([a[1], b[1]]), weights, cat([a[3], b[3]]),
        min(a[4], b[4]), max(a[5], b[5]), rows,
    )  # fmt: skip


def solve_range(gathered, plan, beta, zero_division, dtype, compiled=None, cols=None, total=1.0):
    """The exact best cut of the planned range (grouped sweep from the groups' counts above).

    Parameters
    ----------
    gathered : tuple
        Merged :func:`gather_range_block` results.
    cols : (gw, p, tp_above, k_above), optional
        For ``"cols"``: normalised label weights, positives, and every label's
        counts above the range; None for ``"rows"``.
    total : float
        For ``"rows"``: the sum of the row weights (the normaliser of ``gw``).

    Returns
    -------
    threshold, score : float
    """
    from .cuts import grouped_sweep

    values, labels, weights, groups, above, below, rows = gathered
    if cols is not None:
        g_w, g_p, tp0, k0 = cols
    else:
        ids, tp0, k0, g_p, g_w = rows
        g_w = g_w / total
        groups = np.searchsorted(ids, groups) if ids.size else groups
        order = np.argsort(ids, kind="stable")
        if not (order == np.arange(ids.size)).all():  # ids from several partitions
            ids, tp0, k0, g_p, g_w = (a[order] for a in (ids, tp0, k0, g_p, g_w))
            groups = np.searchsorted(ids, gathered[3])
    threshold, score = grouped_sweep(
        values, labels, groups, g_w, g_p, beta, zero_division, weights, dtype,
        compiled=compiled, start=(tp0, k0), outside=(above, below),
    )  # fmt: skip
    if cols is None:  # the rows outside the range keep their F across it
        f_start = fbeta_from_counts(tp0, k0, g_p, beta, zero_division)
        score = float(plan["top"] - (g_w * f_start).sum() + score * g_w.sum())
    return threshold, score


def bucketed_grouped_sweep(
    scores, y, w, layout, gw, p, beta, zero_division, dtype, bits, compiled=None,
    max_fraction=0.25,
):  # fmt: skip
    """Exact best global threshold for macro / weighted (columns) or samples (rows) F-beta.

    The same result as :func:`f1opt.kernels.cuts.grouped_sweep` on the flattened
    matrix, without sorting it. One counting pass gives, for every bucket of
    the float32 keys, the exact objective at its edges and an upper bound for
    every cut inside it (per label from per-label counts, or per row from each
    row's own entries, sorted). Every cut that can be optimal lies in the key
    range from the highest to the lowest bucket whose bound reaches the best
    edge (:func:`plan_range`); a second pass gathers that range only
    (:func:`gather_range_block`), and the grouped sweep solves it exactly,
    each group starting from its counts above the range (:func:`solve_range`).

    Parameters
    ----------
    scores, y : ndarray of shape (n, n_labels), C-contiguous
    w : ndarray of shape (n,) or None
        Positive row weights.
    layout : {"cols", "rows"}
    gw, p : ndarray
        Weight and (weighted) positives of each group (label or row).
    dtype : numpy dtype of the threshold
    bits : int
        Key bits naming a bucket.
    compiled : module, optional
    max_fraction : float
        When the range holds more than this fraction of the entries (scores
        crowded into a few buckets), or the empty cut is nearly best, returns
        None: the caller sorts everything instead.

    Returns
    -------
    (threshold, score) or None
    """
    n, n_labels = scores.shape
    m = n * n_labels
    gw = np.asarray(gw, dtype=np.float64)
    total_gw = gw.sum()
    if total_gw <= 0 or m == 0:
        return None
    p = np.asarray(p, dtype=np.float64)
    unit = None
    if layout == "cols":
        gw = gw / total_gw
        counts = per_label_counts(scores, y, bits, w, compiled)
        delta, gain, sizes, used, tp_above, k_above = column_bucket_deltas(
            counts, p, gw, beta, zero_division
        )
        if w is not None:  # sizes are weighted: count the entries
            unit = per_label_counts(scores, y, bits, None, compiled)[:, 0, :].sum(axis=0)
    else:
        delta, gain, sizes = row_bucket_deltas(
            scores, y, w, bits, p, gw / total_gw, beta, zero_division, compiled
        )
    base = float((gw * np.where(p > 0, 0.0, zero_division)).sum())
    if layout == "rows":
        base /= total_gw
    plan = plan_range(delta, gain, sizes, base, m, bits, max_fraction, unit)
    if plan is None:
        return None
    gathered = gather_range_block(scores, y, w, layout, plan, compiled, -1, p, gw)
    cols = None
    if layout == "cols":
        col = int(np.searchsorted(used, plan["hi_bucket"]))  # the top bucket is not empty
        cols = (gw, p, tp_above[:, col], k_above[:, col])
    return solve_range(gathered, plan, beta, zero_division, dtype, compiled, cols, total_gw)
