"""Exact threshold search by counting: bucket counts, narrowed key ranges, a small exact solve.

The exact F-beta search needs only counts. Scores are mapped to an
order-preserving integer key of their float32 bits (float64 scores are rounded
to float32 first: rounding is monotone, so the order is kept and equal scores
share a key); a level counts each label's scores and positives in buckets of a
key range (level 0: the top ``bits`` bits of every key). Then

1. the counts (which add up over chunks of rows, threads and Dask partitions)
   give the exact F-beta at every bucket edge ("predict every bucket from this
   one up") and an upper bound for every cut inside a bucket: such a cut
   includes ``t`` of the bucket's positives and at least ``t`` of its scores,
   so ``F <= (1 + b^2)(TP_above + pos_b) / (b^2 P + K_above + pos_b)``;
2. every cut that can be optimal lies between the lowest and the highest bucket
   whose bound reaches the best edge: that key range (with the non-empty bucket
   below it, whose scores give the "highest excluded" score of its lowest cut)
   is counted again in finer buckets while it holds too many scores
   (:func:`range_search`), and finally gathered and solved exactly, its counts
   offset by those above it. Buckets of one key hold one float32 value, which
   the counts and the key describe completely, so float32 scores that are tied
   or crowded never need gathering.

The candidates built from the gathered range are a subset of those of
:func:`f1opt.kernels.cuts.cut_candidates`, in the same order and with the same
counts, and they contain every cut that can be optimal, so the argmax (and its
tie rule) is unchanged. Macro and weighted F prune each label with its own best
edge; micro F (Dinkelbach) prunes with the linear gains ``(1 + b^2) TP - lam K``
over bounds on ``lam`` that the same counts give. The global macro, weighted and
samples searches bound the change of their objective per bucket the same way
(:func:`bucketed_grouped_sweep`).

The passes run compiled (:mod:`f1opt.kernels.compiled`, passed in as
``compiled``) or in numpy, with identical results; callers split them over
threads or partitions through the ``histogram`` / ``gather`` / ``map_chunks``
callables.

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
from .cuts import dinkelbach

#: relative slack on the pruning test: rounding never drops a needed bucket
_SLACK = 1e-12

#: entries per block of the numpy passes (bounds their memory)
_BLOCK_ENTRIES = 1 << 20

#: most counting levels of a range search (each a pass over the data)
_MAX_LEVELS = 4


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
    mask = f.view(np.int32) >> np.int32(31)  # all ones for a negative
    mask |= np.int32(-(2**31))
    bits = f.view(np.uint32)
    bits ^= mask.view(np.uint32)
    return bits


def key_values(keys: np.ndarray) -> np.ndarray:
    """The float32 values (as float64) of order-preserving keys (inverse of keys32)."""
    keys = np.asarray(keys, dtype=np.uint32)
    positive = (keys >> np.uint32(31)) == 1
    bits = np.where(positive, keys ^ np.uint32(0x80000000), ~keys).astype(np.uint32)
    return bits.view(np.float32).astype(np.float64)


# ---------------------------------------------------------------- counting passes

#: the largest order-preserving key
KEY_MAX = 0xFFFFFFFF

_NO_WEIGHTS = np.empty(0, dtype=np.float64)


def _weights_arg(w):
    return _NO_WEIGHTS if w is None else np.ascontiguousarray(w, dtype=np.float64)


def _float32_bits(scores) -> np.ndarray:
    """The float32 bits of ``scores`` (rounded to float32 first: a copy unless float32)."""
    if scores.dtype != np.float32:
        with np.errstate(over="ignore"):
            scores = scores.astype(np.float32)
    return np.ascontiguousarray(scores).view(np.uint32)


def _blocks(n, step):
    return range(0, n, max(1, step))


def range_histogram(scores, y, lo_key, hi_key, shift, sample_weight=None, compiled=None):
    """Negatives and positives per bucket of the keys in ``[lo_key, hi_key]``.

    The bucket of key ``k`` is ``(k - lo_key) >> shift``; keys outside the
    range are not counted.

    Parameters
    ----------
    scores : ndarray of shape (n,), float32 or float64, finite
    y : ndarray of shape (n,), 0/1
    lo_key, hi_key : int
        The key range (:func:`keys32` keys), ``0 <= lo_key <= hi_key < 2**32``.
    shift : int
    sample_weight : ndarray of shape (n,), optional
    compiled : module, optional
        :mod:`f1opt.kernels.compiled` to run the compiled pass (same result).

    Returns
    -------
    counts : ndarray of shape (n_buckets, 2) or, weighted, (n_buckets, 3)
        Negatives and positives (integers: uint32 from the compiled pass when
        ``n < 2**32``, else int64); weighted, their weights (float64) and the
        number of scores.
    """
    lo, hi = np.uint32(lo_key), np.uint32(hi_key)
    size = _slots(sample_weight) * (((hi_key - lo_key) >> shift) + 1)
    out = _zero_counts(size, scores.shape[0], sample_weight, compiled)
    y = as_label_array(y)
    n = scores.shape[0]
    if compiled is not None:
        step = n if scores.dtype == np.float32 else _BLOCK_ENTRIES
        for s0 in _blocks(n, step):
            bits, yb = _float32_bits(scores[s0 : s0 + step]), y[s0 : s0 + step]
            if sample_weight is None:
                compiled.range_histogram(bits, yb, lo, hi, shift, out)
            else:
                w = np.ascontiguousarray(sample_weight[s0 : s0 + step], dtype=np.float64)
                compiled.range_histogram_weighted(bits, yb, w, lo, hi, shift, out)
        return out.reshape(-1, _slots(sample_weight))
    for s0 in _blocks(n, _BLOCK_ENTRIES):
        w = None if sample_weight is None else sample_weight[s0 : s0 + _BLOCK_ENTRIES]
        _add_numpy_counts(
            out, keys32(scores[s0 : s0 + _BLOCK_ENTRIES]), y[s0 : s0 + _BLOCK_ENTRIES], w,
            lo, hi - lo, np.uint32(shift), 0,
        )  # fmt: skip
    return out.reshape(-1, _slots(sample_weight))


def _slots(sample_weight) -> int:
    """Slots of a bucket's counts: negatives and positives, and with weights the entries."""
    return 2 if sample_weight is None else 3


def _zero_counts(size, n, sample_weight, compiled):
    """Zeroed counts of ``n`` scores: integers (uint32 for the compiled pass), float64 weighted."""
    if sample_weight is not None:
        return np.zeros(size, dtype=np.float64)
    return np.zeros(size, dtype=np.uint32 if compiled is not None and n < 2**32 else np.int64)


def _add_numpy_counts(out, keys, y, w, lo, width, shift, first_slot):
    """Count a block of keys with numpy (any shape; ``lo``, ``width``, ``shift`` broadcast).

    ``first_slot`` (broadcast like them) offsets each entry's bucket (the
    label's first bucket in ``out``); the keys are overwritten.
    """
    full = not np.any(lo) and np.all(width == np.uint32(KEY_MAX))
    if w is not None and keys.ndim == 2:
        w = np.broadcast_to(w[:, None], keys.shape)
    if not full:
        keys -= lo  # unsigned: keys below lo wrap above width
        inside = keys <= width
        if not inside.all():
            keys, y = keys[inside], y[inside]
            w = None if w is None else w[inside]
            first_slot = np.broadcast_to(first_slot, inside.shape)[inside]
            shift = np.broadcast_to(shift, inside.shape)[inside]
    keys >>= shift
    bucket = keys.astype(np.intp).ravel()
    if np.ndim(first_slot):
        bucket += np.broadcast_to(first_slot, keys.shape).ravel()
    if w is None:
        bucket <<= 1
        bucket |= y.ravel()
        out += np.bincount(bucket, minlength=out.size)
        return
    w = np.ravel(w)
    out[2::3] += np.bincount(bucket, minlength=out.size // 3)
    bucket *= 3
    bucket += y.ravel()
    out += np.bincount(bucket, weights=w, minlength=out.size)


def _label_stride(n_buckets: int, slots: int) -> int:
    """Slots between two labels' counts: padded (its end takes keys outside the range)."""
    return slots * n_buckets + 16 * slots


def range_histogram_2d(scores, y, lo, hi, shift, n_buckets, sample_weight=None, compiled=None):
    """:func:`range_histogram` of every column of an (n, L) matrix, each with its own range.

    Parameters
    ----------
    scores, y : ndarray of shape (n, L), C-contiguous
    lo, hi, shift : ndarray of shape (L,)
        Column ``j`` counts its keys in ``[lo[j], hi[j]]`` in buckets
        ``(key - lo[j]) >> shift[j]``, fewer than ``n_buckets``.
    n_buckets : int
    sample_weight : ndarray of shape (n,), optional
        One weight per row.

    Returns
    -------
    counts : ndarray of shape (L, n_buckets, 2) or, weighted, (L, n_buckets, 3)
    """
    n, n_labels = scores.shape
    lo32, width = np.asarray(lo, np.uint32), np.asarray(np.asarray(hi) - lo, np.uint32)
    shift32 = np.asarray(shift, np.uint32)
    y = as_label_array(y)
    step = max(1, _BLOCK_ENTRIES // n_labels)
    slots = _slots(sample_weight)
    if compiled is not None:
        stride = _label_stride(n_buckets, slots)
        flat = _zero_counts(n_labels * stride, scores.size, sample_weight, compiled)
        rows = n if scores.dtype == np.float32 else step
        for r0 in _blocks(n, rows):
            bits = _float32_bits(scores[r0 : r0 + rows])
            yb = np.ascontiguousarray(y[r0 : r0 + rows])
            if sample_weight is None:
                compiled.range_histogram_2d(bits, yb, lo32, width, shift32, stride, flat)
            else:
                w = np.ascontiguousarray(sample_weight[r0 : r0 + rows], dtype=np.float64)
                compiled.range_histogram_2d_weighted(
                    bits, yb, w, lo32, width, shift32, stride, flat
                )
        by_label = flat[: n_labels * stride].reshape(n_labels, stride)
        return by_label[:, : slots * n_buckets].reshape(n_labels, n_buckets, slots)
    out = _zero_counts(slots * n_labels * n_buckets, scores.size, sample_weight, compiled)
    first = np.arange(n_labels, dtype=np.intp) * n_buckets
    for r0 in _blocks(n, step):
        w = None if sample_weight is None else sample_weight[r0 : r0 + step]
        _add_numpy_counts(
            out, keys32(scores[r0 : r0 + step]), y[r0 : r0 + step], w, lo32, width, shift32,
            first,
        )  # fmt: skip
    return out.reshape(n_labels, n_buckets, slots)


def _checked(found, count, capacity):
    if count > capacity:  # the counts bound every gather: never happens
        raise RuntimeError(f"f1opt: {count} entries found where the counts gave {capacity}.")
    return found


def range_indices(scores, lo_key, hi_key, capacity, compiled=None) -> np.ndarray:
    """Indices of the scores whose key lies in ``[lo_key, hi_key]`` (at most ``capacity``)."""
    n = scores.shape[0]
    if compiled is not None and scores.dtype == np.float32:
        capacity = int(min(capacity, n))
        found, count = compiled.range_indices(
            _float32_bits(scores), np.uint32(lo_key), np.uint32(hi_key), capacity
        )
        return _checked(found, count, capacity)
    parts = []
    for s0 in _blocks(n, _BLOCK_ENTRIES):
        keys = keys32(scores[s0 : s0 + _BLOCK_ENTRIES])
        keys -= np.uint32(lo_key)  # unsigned: keys below lo_key wrap above the width
        parts.append(np.flatnonzero(keys <= np.uint32(hi_key - lo_key)) + s0)
    return np.concatenate(parts) if parts else np.empty(0, np.int64)


def range_entries_2d(scores, lo, hi, capacity, compiled=None) -> np.ndarray:
    """Flat indices ``i * L + j`` of the entries inside their column's ``[lo[j], hi[j]]``.

    ``capacity`` bounds their number (the counts of the ranges).
    """
    n, n_labels = scores.shape
    lo32, width = np.asarray(lo, np.uint32), np.asarray(np.asarray(hi) - lo, np.uint32)
    whole = compiled is not None and scores.dtype == np.float32
    rows = n if whole else max(1, _BLOCK_ENTRIES // n_labels)
    parts = []
    for r0 in _blocks(n, rows):
        block = scores[r0 : r0 + rows]
        if compiled is not None:
            bound = int(min(capacity, block.size))
            found, count = compiled.range_entries_2d(_float32_bits(block), lo32, width, bound)
            found = _checked(found, count, bound)
        else:
            keys = keys32(block)
            keys -= lo32
            found = np.flatnonzero(keys <= width)
        parts.append(found + r0 * n_labels if r0 else found)
    return np.concatenate(parts) if len(parts) != 1 else parts[0]


# ---------------------------------------------------------------- the range search


@dataclass
class _Ranges:
    """Each label's key range at a level, the (weighted) counts above it, the scores below."""

    lo: np.ndarray  # int64 keys
    hi: np.ndarray
    shift: np.ndarray
    tp_above: np.ndarray
    k_above: np.ndarray
    below: np.ndarray  # scores (not weights) below lo


def _plan_level(counts, ranges, n_positives, beta, average, max_iter, noise=0.0):
    """Where each label's optimal cut can be, from the counts of one level.

    ``noise > 0`` widens every test by that many standard errors of an F
    estimated from ``n_positives`` positives: where the optimum of data like
    these counts (of a sample) can be, not just of these (see :func:`range_search`).

    Returns a dict of per-label arrays: the next range (``lo``, ``hi``, with
    the non-empty bucket below the lowest bucket to solve), the counts above
    it and the scores below it, ``solve_lo`` (the lowest key of a bucket to solve), ``size`` (scores
    in the next range), ``has`` (the label has a cut to solve), and the
    dense per-bucket arrays a single-key level needs.
    """
    if counts.shape[2] == 3:
        filled = counts[..., 2]
    elif counts.dtype.kind in "iu":
        filled = counts[..., 0] | counts[..., 1]
    else:  # float counts (summed over Dask partitions)
        filled = counts[..., 0] + counts[..., 1]
    ids = np.flatnonzero(filled.any(axis=0))  # buckets non-empty in some label
    used = counts[:, ids, :].astype(np.float64)
    n_labels, m = counts.shape[0], ids.size
    pos = used[..., 1]
    wsize = used[..., 0] + pos
    entries = used[..., 2] if counts.shape[2] == 3 else wsize
    nonempty = entries > 0
    # highest bucket first
    n_d, p_d = wsize[:, ::-1], pos[:, ::-1]
    k_incl = ranges.k_above[:, None] + np.cumsum(n_d, axis=1)
    tp_incl = ranges.tp_above[:, None] + np.cumsum(p_d, axis=1)
    k_bound = k_incl - n_d + p_d
    ne_d = nonempty[:, ::-1]
    top = ranges.k_above > 0
    p_col = n_positives[:, None]
    if average == "micro":
        b2 = beta * beta
        lam_lo, lam_hi = _micro_bounds(
            tp_incl, k_incl, k_bound, ne_d, p_d > 0, ranges, n_positives, beta, max_iter
        )
        spread = noise * _standard_error(lam_lo, n_positives.sum())
        lam_lo, lam_hi = lam_lo - spread, lam_hi + spread
        edge_gain = np.where(ne_d, (1 + b2) * tp_incl - lam_hi * k_incl, 0.0)
        top_gain = np.where(top, (1 + b2) * ranges.tp_above - lam_hi * ranges.k_above, 0.0)
        best = np.maximum(np.maximum(edge_gain.max(axis=1, initial=0.0), top_gain), 0.0)
        bound = (1 + b2) * tp_incl - lam_lo * k_bound
        slack = _SLACK * (1.0 + (1 + b2) * n_positives)
        solve = (p_d > 0) & (bound >= (best - slack)[:, None])
    else:
        edge_f = np.where(ne_d, fbeta_from_counts(tp_incl, k_incl, p_col, beta), 0.0)
        top_f = np.where(
            top, fbeta_from_counts(ranges.tp_above, ranges.k_above, n_positives, beta), 0
        )
        best = np.maximum(edge_f.max(axis=1, initial=0.0), top_f)
        bound = fbeta_from_counts(tp_incl, k_bound, p_col, beta)
        spread = noise * _standard_error(best, n_positives)
        solve = (p_d > 0) & (bound >= (best * (1.0 - _SLACK) - spread)[:, None])
    solve = solve[:, ::-1]  # increasing buckets again
    has = solve.any(axis=1) & (n_positives > 0)
    stuck = ~solve.any(axis=1) & (n_positives > 0)  # only by rounding: keep every bucket
    solve[stuck] = nonempty[stuck] & (pos[stuck] > 0)
    has |= stuck
    positions = np.arange(m)
    first = np.where(solve, positions, m).min(axis=1, initial=m)
    last = np.where(solve, positions, -1).max(axis=1, initial=-1)
    prev = np.maximum.accumulate(np.where(nonempty, positions, -1), axis=1)  # at or below
    first_c, last_c = np.minimum(first, m - 1), np.maximum(last, 0)
    low = np.where(first_c > 0, prev[np.arange(n_labels), np.maximum(first_c - 1, 0)], -1)
    has_low = low >= 0
    low_c = np.where(has_low, low, first_c)
    shift = ranges.shift
    lo_key = ranges.lo + (ids[low_c] << shift)
    size_cum = np.concatenate([np.zeros((n_labels, 1)), np.cumsum(entries, axis=1)], axis=1)
    w_cum = np.concatenate([np.zeros((n_labels, 1)), np.cumsum(wsize, axis=1)], axis=1)
    p_cum = np.concatenate([np.zeros((n_labels, 1)), np.cumsum(pos, axis=1)], axis=1)
    rows = np.arange(n_labels)
    everything_below = ~has_low & (ranges.below > 0)  # no bucket here, but scores below
    lo_key = np.where(everything_below, 0, lo_key)
    below = np.where(everything_below, 0.0, ranges.below + size_cum[rows, low_c])
    hi_key = np.minimum(ranges.hi, ranges.lo + ((ids[last_c] + 1) << shift) - 1)
    tp_above = ranges.tp_above + p_cum[:, -1] - p_cum[rows, last_c + 1]
    k_above = ranges.k_above + w_cum[:, -1] - w_cum[rows, last_c + 1]
    size = size_cum[rows, last_c + 1] - size_cum[rows, low_c]
    return dict(
        lo=np.where(has, lo_key, KEY_MAX), hi=np.where(has, hi_key, KEY_MAX),
        tp_above=tp_above, k_above=k_above, below=below, size=np.where(has, size, 0.0), has=has,
        solve_lo=ranges.lo + (ids[first_c] << shift), everything_below=everything_below,
        ids=ids, entries=entries, wsize=wsize, pos=pos, low=low_c, first=first_c, last=last_c,
    )  # fmt: skip


def _standard_error(f, n_positives):
    """A rough standard error of an F-measure ``f`` estimated from ``n_positives`` positives."""
    return np.sqrt(np.maximum(f * (1.0 - f), 0.01) / np.maximum(n_positives, 1.0))


def _micro_bounds(tp_incl, k_incl, k_bound, nonempty, has_pos, ranges, n_positives, beta, max_iter):
    """Lower and upper bounds on the best micro F-beta over one cut per label.

    The lower bound is Dinkelbach's optimum over realisable cuts (every
    non-empty bucket's lowest edge, and the cut just above the range); the
    upper one adds, for every bucket with a positive, the point that beats
    every cut inside it: as many true positives as its best case, with fewer
    predictions (adding a true positive always raises micro F).
    """
    total_p = float(n_positives.sum())
    if total_p == 0:
        return 0.0, 0.0
    top = ranges.k_above > 0
    tp_top, k_top = ranges.tp_above[:, None], ranges.k_above[:, None]
    real_tp = np.concatenate([tp_top, tp_incl], axis=1)
    real_k = np.concatenate([k_top, k_incl], axis=1)
    real = np.concatenate([top[:, None], nonempty], axis=1)
    _, f_lo, _ = dinkelbach(real_tp[real], real_k[real], real.sum(axis=1), total_p, beta, max_iter)
    hi_tp = np.concatenate([real_tp, tp_incl], axis=1)
    hi_k = np.concatenate([real_k, k_bound], axis=1)
    upper = np.concatenate([real, has_pos], axis=1)
    _, f_hi, _ = dinkelbach(hi_tp[upper], hi_k[upper], upper.sum(axis=1), total_p, beta, max_iter)
    return f_lo, max(f_lo, f_hi)


def range_search(
    histogram, gather, n_labels, beta, average, bits, max_gather, dtype, max_iter=100,
    fine_bits=None, window=None, final_ranges=None, noise=0.0, compiled=None,
):  # fmt: skip
    """Cut candidates of every label holding its optimal cut, by narrowing key ranges.

    Level 0 counts each label's (weighted) negatives and positives in buckets
    of the top ``bits`` key bits. The counts give the exact F-beta at every
    bucket edge and a bound for every cut inside a bucket: a cut inside bucket
    ``b`` includes ``t`` of its positives and at least ``t`` of its scores, so
    ``F <= (1 + b^2)(TP_above + pos_b) / (b^2 P + K_above + pos_b)``. Every
    cut that can be optimal lies in the key range from the lowest to the
    highest bucket whose bound reaches the best edge (for macro and weighted F
    each label on its own; for micro F, the label's linear gain
    ``(1 + b^2) TP - lam K`` for every ``lam`` between bounds on the optimum,
    which Dinkelbach's method gives from the same counts). When those ranges
    (with the non-empty bucket below each, whose scores give the highest
    excluded score of its lowest cut) hold at most ``max_gather`` scores,
    their scores are gathered and their cuts counted exactly, offset by the
    counts above the range; otherwise the next level counts every range again
    in ``2**fine_bits`` buckets. A bucket of one key holds one float32 value, so
    float32 scores need no gather once their buckets are single keys.

    Parameters
    ----------
    histogram : callable
        ``histogram(lo, hi, shift, n_buckets) -> (counts, exact_keys)``: the
        :func:`range_histogram_2d` of all the data, shape (L, n_buckets, 2 or 3),
        and whether every score is float32.
    gather : callable
        ``gather(lo, hi, capacity) -> (values, labels, weights or None, groups)``:
        every entry inside its label's range, with its label index.
    n_labels : int
    beta : float
    average : {"micro", "macro", "weighted"}
        ``"macro"`` (each label on its own) also serves a single binary label.
    bits : int
        Key bits of the first level's buckets.
    max_gather : int
        Most scores gathered before a finer level is counted.
    dtype : numpy dtype
        Dtype of the thresholds.
    max_iter : int, default=100
        Most Dinkelbach rounds (micro).
    fine_bits : int, optional
        Bits of the buckets of the finer levels (default: ``bits``).
    window : (lo, hi), optional
        Key ranges, one per label, that probably hold the final ranges (from a
        sample of the data): the first pass is then ``histogram(lo, hi, shift,
        n_buckets, window)`` and also returns the entries inside them, as
        ``gather`` would; where every final range lies inside its window, they
        are used and the gather pass is saved (worth it where a pass over the
        data is dear, as for Dask reading Parquet files).
    final_ranges : list, optional
        Receives ``(lo, hi)``: each label's final key range (``KEY_MAX`` for
        both where nothing is gathered).
    noise : float, default=0.0
        For a sample of larger data: keep every bucket within that many
        standard errors of the best (the ranges then hold the optimum of the
        larger data, probably, which makes them a ``window`` for it); the
        candidates are still exact for the sample itself.
    compiled : module, optional
        For the finer levels counted on the gathered entries of one label.

    Returns
    -------
    candidates : f1opt.kernels.cuts.FlatCandidates
        For every label a subset of its :func:`f1opt.kernels.cuts.cut_candidates`
        holding every cut that can be optimal, with the same counts.
    """
    fine_bits = bits if fine_bits is None else fine_bits
    n_buckets = 1 << bits
    zeros = np.zeros(n_labels)
    ranges = _Ranges(
        np.zeros(n_labels, np.int64), np.full(n_labels, KEY_MAX, np.int64),
        np.full(n_labels, 32 - bits, np.int64), zeros, zeros, zeros,
    )  # fmt: skip
    n_positives = exact_keys = prefetched = None
    for level in range(_MAX_LEVELS):
        if window is not None and level == 0:
            counts, float32_keys, prefetched = histogram(
                ranges.lo, ranges.hi, ranges.shift, n_buckets, window
            )
        else:
            counts, float32_keys = histogram(ranges.lo, ranges.hi, ranges.shift, n_buckets)
        if n_positives is None:
            n_positives = counts[..., 1].sum(axis=1, dtype=np.float64)
            exact_keys = float32_keys
        plan = _plan_level(counts, ranges, n_positives, beta, average, max_iter, noise)
        single = plan["has"] & (ranges.shift == 0) & exact_keys & ~plan["everything_below"]
        span = ranges.hi - ranges.lo
        narrower = (plan["hi"] - plan["lo"]) < span // 2
        refine = plan["has"] & ~single & (ranges.shift > 0) & narrower
        small = float(plan["size"][~single].sum()) <= max_gather
        if small or not refine.any() or level == _MAX_LEVELS - 1:
            break
        ranges = _next_ranges(plan, fine_bits)
        n_buckets = 1 << fine_bits
    need = plan["has"] & ~single
    lo = np.where(need, plan["lo"], KEY_MAX)
    hi = np.where(need, plan["hi"], KEY_MAX)
    capacity = int(round(float(plan["size"][need].sum())))
    if final_ranges is not None:
        final_ranges.append((lo, hi))
    inside = prefetched is not None and bool(
        np.all(~need | ((lo >= window[0]) & (hi <= window[1])))
    )
    if need.any() and inside:
        entries = _entries_inside(prefetched, lo, hi)
    elif need.any():
        entries = gather(lo, hi, capacity)
    else:
        entries = np.empty(0), np.empty(0, np.uint8), None, np.empty(0, int)
    # finer levels on the gathered entries alone: in memory, no pass over the data
    for _ in range(_MAX_LEVELS):
        if entries[0].size <= _SMALL_GATHER or (plan["everything_below"] & need).any():
            break
        # some eight entries a bucket, as on the data (Settings.bits)
        per_label = entries[0].size / max(int(need.sum()), 1)
        mem_bits = int(np.clip(np.log2(max(per_label, 2.0)) - 3, 4, fine_bits))
        finer_ranges = _next_ranges(plan, mem_bits)
        counts = _entries_histogram(entries, finer_ranges, 1 << mem_bits, compiled)
        finer = _plan_level(counts, finer_ranges, n_positives, beta, average, max_iter, noise)
        finer_single = (
            finer["has"] & (finer_ranges.shift == 0) & exact_keys & ~finer["everything_below"]
        )
        finer_need = finer["has"] & ~finer_single
        if float(finer["size"][finer_need].sum()) > entries[0].size / 2:
            break  # not worth another level
        plan, ranges, single, need = finer, finer_ranges, finer_single, finer_need
        entries = _entries_inside(
            entries, np.where(need, plan["lo"], KEY_MAX), np.where(need, plan["hi"], KEY_MAX),
            compiled,
        )  # fmt: skip
    return _flat_candidates(*entries, single, plan, ranges, n_positives, dtype)


#: gathered entries beyond which one more level is counted on them (in memory)
_SMALL_GATHER = 1 << 14


def _next_ranges(plan, fine_bits) -> _Ranges:
    """The ranges of the next level: each label's planned range in ``2**fine_bits`` buckets."""
    has = plan["has"]
    lo, hi = plan["lo"], plan["hi"]  # a label without a cut to solve counts nothing more
    bitlen = np.frexp((hi - lo).astype(np.float64))[1].astype(np.int64)  # exact below 2**53
    return _Ranges(
        lo, hi, np.maximum(bitlen - fine_bits, 0), np.where(has, plan["tp_above"], 0.0),
        np.where(has, plan["k_above"], 0.0), np.where(has, plan["below"], 0.0),
    )  # fmt: skip


def _entries_histogram(entries, ranges: _Ranges, n_buckets: int, compiled=None) -> np.ndarray:
    """:func:`range_histogram_2d` of gathered ``(values, labels, weights, groups)`` entries."""
    values, labels, weights, groups = entries
    n_labels, slots = ranges.lo.size, _slots(weights)
    if n_labels == 1:
        lo, hi, shift = int(ranges.lo[0]), int(ranges.hi[0]), int(ranges.shift[0])
        counts = range_histogram(values, labels, lo, hi, shift, weights, compiled)
        padded = np.zeros((1, n_buckets, slots), dtype=counts.dtype)
        padded[0, : counts.shape[0]] = counts
        return padded
    keys = keys32(values).astype(np.int64)
    lo, hi = ranges.lo[groups], ranges.hi[groups]
    inside = (keys >= lo) & (keys <= hi)
    bucket = groups[inside] * n_buckets + (
        (keys[inside] - lo[inside]) >> ranges.shift[groups[inside]]
    )
    size = slots * n_labels * n_buckets
    if weights is None:
        counts = np.bincount(bucket * 2 + labels[inside], minlength=size)
    else:
        counts = np.bincount(bucket * 3 + labels[inside], weights=weights[inside], minlength=size)
        counts[2::3] += np.bincount(bucket, minlength=size // 3)
    return counts.reshape(n_labels, n_buckets, slots)


def _entries_inside(entries, lo, hi, compiled=None):
    """The gathered ``(values, labels, weights, groups)`` inside their label's ``[lo, hi]``."""
    values, labels, weights, groups = entries
    if lo.size == 1:
        keep = range_indices(values, int(lo[0]), int(hi[0]), values.size, compiled)
    else:
        keys = keys32(values).astype(np.int64)
        keep = (keys >= lo[groups]) & (keys <= hi[groups])
    return values[keep], labels[keep], None if weights is None else weights[keep], groups[keep]


def _flat_candidates(values, labels, weights, groups, single, plan, ranges, n_positives, dtype):
    """The candidates of every label: from its gathered entries, or from single-key counts."""
    from .cuts import FlatCandidates, cut_candidates, grouped_cut_candidates

    n_labels = n_positives.size
    if n_labels == 1:  # one label: its positives and negatives sorted apart
        c = cut_candidates(values, labels, weights, dtype=dtype)
        flat = FlatCandidates(c.values, c.below, c.tp, c.k, np.array([c.values.size]), None, dtype)
    else:
        flat = grouped_cut_candidates(values, labels, groups, n_labels, n_positives, weights, dtype)
    owner = np.repeat(np.arange(n_labels), flat.sizes)
    keep = keys32(flat.values) >= plan["solve_lo"][owner]
    owner = owner[keep]
    parts = [(
        owner, flat.values[keep], flat.below[keep],
        flat.tp[keep] + plan["tp_above"][owner], flat.k[keep] + plan["k_above"][owner],
    )]  # fmt: skip
    parts += [_single_key_part(j, plan, ranges) for j in np.flatnonzero(single)]
    if len(parts) > 1:
        owner = np.concatenate([p[0] for p in parts])
        order = np.argsort(owner, kind="stable")  # label after label, each highest value first
        parts = [[np.concatenate([p[i] for p in parts])[order] for i in range(5)]]
    sizes = np.bincount(owner, minlength=n_labels).astype(np.int64)
    return FlatCandidates(*parts[0][1:], sizes, np.asarray(n_positives, np.float64), dtype)


def _single_key_part(j, plan, ranges):
    """Candidates of label ``j`` whose buckets are single keys (float32): read off the counts."""
    lo, hi = int(plan["low"][j]), int(plan["last"][j])
    first = int(plan["first"][j])
    entries, wsize, pos = (plan[name][j, lo : hi + 1] for name in ("entries", "wsize", "pos"))
    ids = plan["ids"][lo : hi + 1]
    filled = entries > 0
    keys = ranges.lo[j] + ids[filled]
    wsize, pos = wsize[filled], pos[filled]
    values = key_values(keys.astype(np.uint32))
    tp = plan["tp_above"][j] + np.cumsum(pos[::-1])[::-1]
    k = plan["k_above"][j] + np.cumsum(wsize[::-1])[::-1]
    below = np.concatenate(([-np.inf], values[:-1]))
    keep = (keys >= ranges.lo[j] + plan["ids"][first]) & (pos > 0)
    order = np.flatnonzero(keep)[::-1]  # highest value first
    return np.full(order.size, j), values[order], below[order], tp[order], k[order]


def _serial(fn, n):
    return [fn(0, n)]


def _summed(parts, weighted, n_scores):
    """The counts of the chunks of ``n_scores`` scores added up (uint32 while they fit)."""
    if len(parts) == 1:
        return parts[0]
    if not weighted and n_scores < 2**32 and all(q.dtype == np.uint32 for q in parts):
        total = parts[0].copy()
    else:
        total = parts[0].astype(np.float64 if weighted else np.int64)
    for other in parts[1:]:
        total += other
    return total


def bucketed_cut_candidates(
    scores, y, beta, bits, max_gather, sample_weight=None, compiled=None, dtype=None,
    map_chunks=_serial, final_ranges=None, noise=0.0,
):  # fmt: skip
    """The cut candidates of one label that can be F-beta optimal, by counting passes.

    :func:`range_search` on in-memory scores.

    Parameters
    ----------
    scores : ndarray of shape (n,), float32 or float64, finite
    y : ndarray of shape (n,), 0/1
    beta : float
    bits : int
        Key bits of the buckets of a level.
    max_gather : int
        Most scores gathered before a finer level is counted.
    sample_weight : ndarray of shape (n,), optional
        Positive weights.
    compiled : module, optional
    dtype : numpy dtype, optional
        Dtype of the thresholds (default: from ``scores.dtype``).
    map_chunks : callable, optional
        ``map_chunks(fn, n) -> [fn(start, stop), ...]`` over consecutive chunks
        of ``range(n)`` (the engine passes one that runs chunks on threads).
    final_ranges : list, optional
    noise : float, default=0.0
        As for :func:`range_search`.

    Returns
    -------
    candidates : f1opt.kernels.cuts.CutCandidates
    """
    from .cuts import threshold_dtype

    dtype = threshold_dtype(scores.dtype if dtype is None else dtype)
    y = as_label_array(y)
    w = sample_weight

    def histogram(lo, hi, shift, n_buckets):
        def part(a, b):
            wp = None if w is None else w[a:b]
            return range_histogram(scores[a:b], y[a:b], lo[0], hi[0], shift[0], wp, compiled)

        parts = map_chunks(part, scores.shape[0])
        return _summed(parts, w is not None, scores.size)[None], exact_keys

    def gather(lo, hi, capacity):
        if w is None and compiled is not None and exact_keys:
            # the scores and labels written as the pass reads them
            def values_part(a, b):
                bound = int(min(capacity, b - a))
                bits = scores[a:b].view(np.uint32)
                found = compiled.range_values(
                    bits, y[a:b], np.uint32(lo[0]), np.uint32(hi[0]), bound
                )
                return _checked(found[:2], found[2], bound)

            parts = map_chunks(values_part, scores.shape[0])
            values = np.concatenate([q[0] for q in parts]).view(np.float32)
            labels = np.concatenate([q[1] for q in parts])
            return values, labels, None, np.zeros(values.size, np.int64)

        def part(a, b):
            return range_indices(scores[a:b], lo[0], hi[0], capacity, compiled) + a

        parts = map_chunks(part, scores.shape[0])
        index = parts[0] if len(parts) == 1 else np.concatenate(parts)
        weights = None if w is None else w[index]
        return scores[index], y[index], weights, np.zeros(index.size, np.int64)

    exact_keys = scores.dtype == np.float32
    flat = range_search(
        histogram, gather, 1, beta, "macro", bits, max_gather, dtype, final_ranges=final_ranges,
        noise=noise, compiled=compiled,
    )  # fmt: skip
    return flat.label(0)


def per_label_cut_candidates(
    scores, y, beta, average, bits, max_gather, sample_weight=None, compiled=None, dtype=None,
    max_iter=100, map_chunks=_serial, fine_bits=None, final_ranges=None, noise=0.0,
):  # fmt: skip
    """Cut candidates of every column holding its optimal cut (:func:`range_search`).

    Parameters
    ----------
    scores, y : ndarray of shape (n, L)
    average : {"micro", "macro", "weighted"}
    sample_weight : ndarray of shape (n,), optional
        One weight per row.
    map_chunks : callable, optional
        As for :func:`bucketed_cut_candidates`, over rows.
    fine_bits, final_ranges, noise : optional
        As for :func:`range_search`.

    Returns
    -------
    candidates : f1opt.kernels.cuts.FlatCandidates
    """
    from .cuts import threshold_dtype

    dtype = threshold_dtype(scores.dtype if dtype is None else dtype)
    scores, y = np.ascontiguousarray(scores), np.ascontiguousarray(as_label_array(y))
    n_labels = scores.shape[1]
    w = sample_weight

    def histogram(lo, hi, shift, n_buckets):
        def part(a, b):
            wp = None if w is None else w[a:b]
            return range_histogram_2d(scores[a:b], y[a:b], lo, hi, shift, n_buckets, wp, compiled)

        return _summed(map_chunks(part, scores.shape[0]), w is not None, scores.size), exact_keys

    def gather(lo, hi, capacity):
        def part(a, b):
            return range_entries_2d(scores[a:b], lo, hi, capacity, compiled) + a * n_labels

        parts = map_chunks(part, scores.shape[0])
        index = parts[0] if len(parts) == 1 else np.concatenate(parts)
        flat_s, flat_y = scores.reshape(-1), y.reshape(-1)
        weights = None if w is None else w[index // n_labels]
        return flat_s[index], flat_y[index], weights, index % n_labels

    exact_keys = scores.dtype == np.float32
    return range_search(
        histogram, gather, n_labels, beta, average, bits, max_gather, dtype, max_iter, fine_bits,
        final_ranges=final_ranges, noise=noise, compiled=compiled,
    )  # fmt: skip


def per_label_counts(
    scores, y, bits: int, sample_weight=None, compiled=None, map_chunks=_serial
) -> np.ndarray:
    """Counts of every column in ``2**bits`` buckets of the top key bits (level 0).

    Returns
    -------
    counts : ndarray of shape (L, 2**bits, 2) or, weighted, (L, 2**bits, 3)
        As :func:`range_histogram_2d`.
    """
    n_labels = scores.shape[1]
    scores, y = np.ascontiguousarray(scores), np.ascontiguousarray(as_label_array(y))
    lo, hi = np.zeros(n_labels, np.int64), np.full(n_labels, KEY_MAX, np.int64)
    shift = np.full(n_labels, 32 - bits, np.int64)

    def part(a, b):
        w = None if sample_weight is None else sample_weight[a:b]
        return range_histogram_2d(scores[a:b], y[a:b], lo, hi, shift, 1 << bits, w, compiled)

    return _summed(map_chunks(part, scores.shape[0]), sample_weight is not None, scores.size)


# ---------------------------------------------------------------- global sweeps by buckets


def column_bucket_deltas(counts, p, gw, beta, zero_division=0.0, start=None):
    """Macro / weighted F changes per bucket from per-label counts (columns are the groups).

    Parameters
    ----------
    counts : ndarray of shape (n_labels, n_buckets, 2 or 3)
        :func:`per_label_counts` of every label.
    p, gw : ndarray of shape (n_labels,)
        Positives and (normalised) weight of every label.
    start : (tp0, k0), optional
        Each label's (weighted) counts above the counted key range.

    Returns
    -------
    delta, gain : ndarray of shape (n_buckets,)
        The change of the weighted sum of label F-betas across each bucket,
        and the most a cut inside it can add to the sum at its top edge.
    sizes : ndarray of shape (n_buckets,)
        Entries of each bucket.
    used : ndarray of int
        The non-empty buckets, increasing.
    tp_above, k_above : ndarray of shape (n_labels, used.size)
        Each label's (weighted) counts strictly above each non-empty bucket.
    """
    n_buckets = counts.shape[1]
    entries = counts[..., 2] if counts.shape[2] == 3 else counts[..., 0] + counts[..., 1]
    sizes = entries.sum(axis=0, dtype=np.float64)
    used = np.flatnonzero(sizes > 0)  # empty buckets change nothing: work on the others
    pos = counts[:, used, 1].astype(np.float64)
    n = counts[:, used, 0] + pos
    k_incl = np.cumsum(n[:, ::-1], axis=1)[:, ::-1]
    tp_incl = np.cumsum(pos[:, ::-1], axis=1)[:, ::-1]
    if start is not None:
        tp_incl += start[0][:, None]
        k_incl += start[1][:, None]
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
    changes, sizes = np.zeros((n_buckets, 2)), np.zeros(n_buckets, np.int64)
    delta, gain = changes[:, 0], changes[:, 1]
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
                changes, sizes,
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


def _rows_in_range(scores, y, lo_key, hi_key, top_key, capacity, compiled=None):
    """Flat indices of the entries in ``[lo_key, hi_key]``, and each row's counts above ``top_key``.

    Returns
    -------
    index : ndarray of int64, increasing
    above, above_positive : ndarray of int64 of shape (n,)
    """
    n, n_labels = scores.shape
    step = max(1, _BLOCK_ENTRIES // n_labels)
    parts, above, above_positive = [], np.empty(n, np.int64), np.empty(n, np.int64)
    rows = n if compiled is not None and scores.dtype == np.float32 else step
    for r0 in _blocks(n, rows):
        block, yb = scores[r0 : r0 + rows], as_label_array(y[r0 : r0 + rows])
        if compiled is not None:
            bound = int(min(capacity, block.size))
            found, count, up, up_pos = compiled.rows_in_range(
                _float32_bits(block), np.ascontiguousarray(yb), np.uint32(lo_key),
                np.uint32(hi_key), np.uint32(top_key), bound,
            )  # fmt: skip
            found = _checked(found, count, bound)
        else:
            keys = keys32(block)
            high = keys > np.uint32(top_key)
            up, up_pos = high.sum(axis=1), (high & (yb == 1)).sum(axis=1)
            keys -= np.uint32(lo_key)
            found = np.flatnonzero(keys <= np.uint32(hi_key - lo_key))
        parts.append(found + r0 * n_labels if r0 else found)
        above[r0 : r0 + rows], above_positive[r0 : r0 + rows] = up, up_pos
    return (np.concatenate(parts) if len(parts) != 1 else parts[0]), above, above_positive


def plan_range(delta, gain, sizes, base, m, bits, max_fraction=0.25, *, key_lo=0, shift=None):
    """The key range that holds every cut that can be optimal, from per-bucket changes.

    Parameters
    ----------
    delta, gain, sizes : ndarray of shape (n_buckets,)
        See :func:`column_bucket_deltas` / :func:`row_bucket_deltas` (normalised
        group weights; ``sizes`` count entries).
    base : float
        The objective of the empty cut (of the cut above the counted key
        range, when it does not start at the top).
    m : int
        Entries in all (for the rounding bound).
    bits : int
        Key bits of the buckets (those of all keys: ``shift = 32 - bits``).
    key_lo, shift : int, optional
        The buckets of a finer level: bucket ``b`` holds the keys from
        ``key_lo + (b << shift)`` on.

    Returns
    -------
    plan : dict or None
        None when the empty cut is nearly best or the range holds more than
        ``max_fraction`` of the entries (the caller then sorts everything).
    """
    from .cuts import _EPS

    shift = 32 - bits if shift is None else shift
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
    if float(sizes[lo_bucket : hi_bucket + 1].sum()) > max_fraction * m:
        return None
    # the gather also takes the non-empty bucket next to the range on each side,
    # whose scores give the nearest scores outside (for the thresholds at its edges)
    filled = np.flatnonzero(sizes > 0)
    at = np.searchsorted(filled, [lo_bucket, hi_bucket])
    ctx_lo = int(filled[at[0] - 1]) if at[0] > 0 else lo_bucket
    ctx_hi = int(filled[at[1] + 1]) if at[1] + 1 < filled.size else hi_bucket
    return dict(
        hi_bucket=hi_bucket,
        lo_key=key_lo + (lo_bucket << shift),
        hi_key=key_lo + ((hi_bucket + 1) << shift) - 1,
        ctx_lo_key=key_lo + (ctx_lo << shift),
        ctx_hi_key=key_lo + ((ctx_hi + 1) << shift) - 1,
        capacity=int(round(float(sizes[ctx_lo : ctx_hi + 1].sum()))),
        top=float(top[first]),
    )


def gather_range_block(
    scores, y, w, layout, plan, compiled=None, block=0, p=None, gw=None, map_chunks=_serial
):  # fmt: skip
    """The entries of a (partition of a) matrix inside the planned range, and their groups.

    Returns
    -------
    values, labels : ndarray of shape (r,)
    weights : ndarray of shape (r,) or None
    groups : ndarray of int64 of shape (r,)
        The label of each entry (``"cols"``), or its row as ``block << 32 | row``
        (``"rows"``), non-decreasing.
    above, below : float
        Nearest scores outside the range (``inf`` / ``-inf`` if none).
    rows : tuple or None
        For ``"rows"``: the touched rows' ids (increasing), their counts above
        the range, positives and group weights (``p``, ``gw`` per row of this block).
    """
    n, n_labels = scores.shape
    flat_s, flat_y = scores.reshape(-1), y.reshape(-1)
    lo_key, hi_key = plan["lo_key"], plan["hi_key"]
    ctx = (plan["ctx_lo_key"], plan["ctx_hi_key"])
    capacity = plan["capacity"]  # entries of the context range in all the data

    def part(a, b):
        if layout == "rows":
            index, up, up_pos = _rows_in_range(
                scores[a:b], y[a:b], *ctx, hi_key, capacity, compiled
            )
            return index + a * n_labels, up, up_pos
        index = range_indices(scores[a:b].reshape(-1), *ctx, capacity, compiled)
        return index + a * n_labels, None, None

    parts = map_chunks(part, n)
    index = np.concatenate([q[0] for q in parts]) if len(parts) > 1 else parts[0][0]
    inside, above, below = _inside_range(flat_s[index], lo_key, hi_key)
    index = index[inside]
    values, labels = flat_s[index], flat_y[index]
    weights = None if w is None else w[index // n_labels]
    if layout == "cols":
        return values, labels, weights, (index % n_labels).astype(np.int64), above, below, None
    local = index // n_labels  # non-decreasing
    rows = local[np.flatnonzero(np.diff(local, prepend=-1))]
    k0 = np.concatenate([q[1] for q in parts])[rows].astype(np.float64)
    tp0 = np.concatenate([q[2] for q in parts])[rows].astype(np.float64)
    if w is not None:
        tp0 *= w[rows]
        k0 *= w[rows]
    offset = np.int64(max(block, 0)) << np.int64(32)
    info = (rows + offset, tp0, k0, p[rows], gw[rows])
    return values, labels, weights, local + offset, above, below, info


def _inside_range(values, lo_key, hi_key):
    """Which ``values`` have a key in ``[lo_key, hi_key]``, and the nearest ones above and below."""
    keys = keys32(values)
    up, down = keys > hi_key, keys < lo_key
    above = float(values[up].min()) if up.any() else np.inf
    below = float(values[down].max()) if down.any() else -np.inf
    return ~(up | down), above, below


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
        For ``"cols"``: the label weights, positives, and every label's counts
        above the range; None for ``"rows"``.
    total : float
        For ``"rows"``: the sum of every row's weight.

    The group weights go to the sweep as given, not normalised: its exact
    re-check of near-ties then sees exact ties as ties (a rounded quotient
    would split them), and keeps the one predicting fewest positives.

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
        order = np.argsort(ids, kind="stable")
        if not (order == np.arange(ids.size)).all():  # ids from partitions out of order
            ids, tp0, k0, g_p, g_w = (a[order] for a in (ids, tp0, k0, g_p, g_w))
            groups = np.searchsorted(ids, groups)
        else:  # the entries' rows are non-decreasing: number them in order
            groups = np.cumsum(np.diff(groups, prepend=-1) != 0) - 1
    threshold, score = grouped_sweep(
        values, labels, groups, g_w, g_p, beta, zero_division, weights, dtype,
        compiled=compiled, start=(tp0, k0), outside=(above, below),
    )  # fmt: skip
    if cols is None:  # the rows outside the range keep their F across it
        f_start = fbeta_from_counts(tp0, k0, g_p, beta, zero_division)
        score = float(plan["top"] + ((score - f_start) * g_w).sum() / total)
    return threshold, score


def bucketed_grouped_sweep(
    scores, y, w, layout, gw, p, beta, zero_division, dtype, bits, compiled=None,
    max_fraction=0.25, map_chunks=_serial, refine_above=None,
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
    map_chunks : callable, optional
        ``map_chunks(fn, n)`` over chunks of rows (see :func:`bucketed_cut_candidates`).
    refine_above : int, optional
        Macro and weighted F: a planned range holding more entries is counted
        again in finer buckets before it is gathered (default: 1/256 of the
        entries, at least 2**14).

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
    gw_raw = gw  # the exact solve takes the weights as given (see solve_range)
    if layout == "cols":
        gw = gw / total_gw
        counts = per_label_counts(scores, y, bits, w, compiled, map_chunks)
        level = column_bucket_deltas(counts, p, gw, beta, zero_division)
        delta, gain, sizes, used, tp_above, k_above = level
    else:

        def part(a, b):
            wp = None if w is None else w[a:b]
            return row_bucket_deltas(
                scores[a:b], y[a:b], wp, bits, p[a:b], gw[a:b] / total_gw, beta, zero_division,
                compiled,
            )  # fmt: skip

        delta, gain, sizes = (sum(q) for q in zip(*map_chunks(part, n), strict=True))
    base = float((gw * np.where(p > 0, 0.0, zero_division)).sum())
    if layout == "rows":
        base /= total_gw
    plan = plan_range(delta, gain, sizes, base, m, bits, max_fraction)
    if plan is None:
        return None
    if layout == "cols" and plan["capacity"] > refine_limit(m, refine_above):
        # gather the whole context range, then split it finer in memory
        wide = dict(plan, lo_key=plan["ctx_lo_key"], hi_key=plan["ctx_hi_key"])
        gathered = gather_range_block(
            scores, y, w, layout, wide, compiled, -1, p, gw_raw, map_chunks
        )
        plan, gathered, cols = finer_columns(
            gathered, plan, level, p, gw, beta, zero_division, m, bits
        )
        cols = (gw_raw,) + cols[1:]
        return solve_range(gathered, plan, beta, zero_division, dtype, compiled, cols, total_gw)
    gathered = gather_range_block(scores, y, w, layout, plan, compiled, -1, p, gw_raw, map_chunks)
    cols = None
    if layout == "cols":
        col = int(np.searchsorted(used, plan["hi_bucket"]))  # the top bucket is not empty
        cols = (gw_raw, p, tp_above[:, col], k_above[:, col])
    return solve_range(gathered, plan, beta, zero_division, dtype, compiled, cols, total_gw)


#: a planned range holding more than 1/_REFINE_SHARE of the entries is counted again, finer
_REFINE_SHARE = 256


def refine_limit(m: int, refine_above=None) -> int:
    """Most entries of a planned macro / weighted range solved without a finer count."""
    return max(m // _REFINE_SHARE, 1 << 14) if refine_above is None else refine_above


def finer_columns(gathered, plan, level, p, gw, beta, zero_division, m, bits):
    """Macro / weighted F: the gathered context range of a plan counted again, finer.

    The entries of the context range (the planned range and the non-empty
    bucket on each side) are counted per label in buckets of that range (some
    eight entries a bucket, at most ``2**bits``), each label starting from its
    counts above it; the finer plan keeps
    the entries that can hold the optimum (fine bounds never exceed coarse
    ones, so it lies inside the coarse range and the neighbours outside it are
    among the gathered entries).

    Returns
    -------
    plan, gathered, cols
        As :func:`solve_range` takes them.
    """
    values, labels, weights, groups = gathered[:4]
    _, _, _, used, tp_above, k_above = level
    lo, hi = plan["ctx_lo_key"], plan["ctx_hi_key"]
    top = int(np.searchsorted(used, (hi + 1) >> (32 - bits))) - 1  # the range's top bucket
    start = tp_above[:, top], k_above[:, top]
    fine_bits = min(bits, max(4, int(np.log2(max(values.size / p.size, 1.0))) - 3))
    shift = max(0, (hi - lo).bit_length() - fine_bits)
    n_buckets = ((hi - lo) >> shift) + 1
    slots = _slots(weights)
    bucket = groups * n_buckets + ((keys32(values).astype(np.int64) - lo) >> shift)
    size = slots * n_buckets * p.size
    if weights is None:
        counts = np.bincount(bucket * 2 + labels, minlength=size)
    else:
        counts = np.bincount(bucket * 3 + labels, weights=weights, minlength=size)
        counts[2::3] += np.bincount(bucket, minlength=size // 3)
    counts = counts.reshape(p.size, n_buckets, slots)
    finer = column_bucket_deltas(counts, p, gw, beta, zero_division, start)
    delta, gain, sizes = finer[:3]
    base = float((gw * fbeta_from_counts(start[0], start[1], p, beta, zero_division)).sum())
    new = plan_range(delta, gain, sizes, base, m, bits, 1.0, key_lo=lo, shift=shift)
    if new is None:  # only by rounding: the coarse plan stands
        new, finer = plan, level
    used, tp_above, k_above = finer[3:]
    col = int(np.searchsorted(used, new["hi_bucket"]))
    inside, above, below = _inside_range(values, new["lo_key"], new["hi_key"])
    weights = None if weights is None else weights[inside]
    kept = values[inside], labels[inside], weights, groups[inside], above, below, None
    return new, kept, (gw, p, tp_above[:, col], k_above[:, col])
