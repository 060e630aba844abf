"""Optional compiled (numba) versions of the two passes of the bucket search.

Imported lazily by :mod:`f1opt._engine` (never by :mod:`f1opt.kernels.buckets`,
which receives the module as an argument); when numba is missing (or fails to
compile) the numpy versions are used and the results are identical.

Counts are float64 sums of weights (``w`` of length 0 means every row counts 1).

Both kernels read the scores once, in blocks: each block is rounded to float32
(monotone, so the order is kept), ``-0.0`` becomes ``+0.0`` (so equal values
share one key), and the float32 bits become an order-preserving unsigned key
(flip every bit of a negative, set the sign bit of a positive). The bucket of a
score is the top bits of its key.
"""

from __future__ import annotations

import numba
import numpy as np

_BLOCK = 2048


@numba.njit(inline="always")
def _key(b):  # pragma: no cover - compiled
    """Order-preserving key of float32 bits ``b``: flip a negative, set a positive's sign bit."""
    if b >> np.uint32(31):
        return ~b
    return b | np.uint32(0x80000000)


@numba.njit(inline="always")
def _bucket(key, shift, base, rmask, rshift):  # pragma: no cover - compiled
    """Bucket of ``key``: its top bits (``rshift < 0``), or a refined bucket."""
    top = key >> np.uint32(shift)
    if rshift < 0:
        return np.int64(top)
    return np.int64(base[top] + ((key & rmask[top]) >> np.uint32(rshift)))


@numba.njit(cache=True, nogil=True)
def bucket_counts(scores, y, w, shift, base, rmask, rshift, n_buckets):  # pragma: no cover
    """Counts of all scores (row 0) and of positives (row 1) in each bucket.

    The bucket of key ``k`` is ``base[t] + ((k & rmask[t]) >> rshift)`` with
    ``t = k >> shift``: uniform buckets for ``rmask = 0``, refined ones where
    ``rmask`` keeps the low bits; ``rshift = -1`` says "uniform" (bucket = t).
    """
    counts = np.zeros((2, n_buckets), dtype=np.float64)
    buf = np.empty(_BLOCK, dtype=np.float32)
    bits = buf.view(np.uint32)
    n = scores.shape[0]
    weighted = w.shape[0] > 0
    zero = np.float32(0.0)
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        for i in range(m):
            buf[i] = np.float32(scores[start + i]) + zero
        for i in range(m):
            bucket = _bucket(_key(bits[i]), shift, base, rmask, rshift)
            wi = w[start + i] if weighted else 1.0
            counts[0, bucket] += wi
            counts[1, bucket] += wi * y[start + i]
    return counts


@numba.njit(cache=True, nogil=True)
def gather(scores, y, w, shift, base, rmask, rshift, roles, capacity):  # pragma: no cover
    """Scores, labels, weights and buckets of the role-1 buckets; maximum of each role-2 bucket."""
    weighted = w.shape[0] > 0
    values = np.empty(capacity, dtype=scores.dtype)
    labels = np.empty(capacity, dtype=np.uint8)
    weights = np.empty(capacity if weighted else 0, dtype=np.float64)
    buckets = np.empty(capacity, dtype=np.int32)
    maxima = np.full(roles.shape[0], -np.inf)
    buf = np.empty(_BLOCK, dtype=np.float32)
    bits = buf.view(np.uint32)
    n = scores.shape[0]
    zero = np.float32(0.0)
    count = 0
    for start in range(0, n, _BLOCK):
        m = min(_BLOCK, n - start)
        for i in range(m):
            buf[i] = np.float32(scores[start + i]) + zero
        for i in range(m):
            bucket = _bucket(_key(bits[i]), shift, base, rmask, rshift)
            role = roles[bucket]
            if role == 1:
                values[count] = scores[start + i]
                labels[count] = y[start + i]
                if weighted:
                    weights[count] = w[start + i]
                buckets[count] = bucket
                count += 1
            elif role == 2:
                v = np.float64(scores[start + i])
                if v > maxima[bucket]:
                    maxima[bucket] = v
    return values[:count], labels[:count], weights[:count], buckets[:count], maxima


@numba.njit(cache=True, nogil=True)
def bucket_counts_2d(scores, y, w, shift, n_buckets):  # pragma: no cover - compiled
    """Per-column counts (all, positives) of a 2-D array read row by row (``w`` per row)."""
    n, n_labels = scores.shape
    weighted = w.shape[0] > 0
    counts = np.zeros((n_labels, 2, n_buckets), dtype=np.float64)
    buf = np.empty(n_labels, dtype=np.float32)
    bits = buf.view(np.uint32)
    zero = np.float32(0.0)
    for i in range(n):
        for j in range(n_labels):
            buf[j] = np.float32(scores[i, j]) + zero
        wi = w[i] if weighted else 1.0
        for j in range(n_labels):
            bucket = _key(bits[j]) >> np.uint32(shift)
            counts[j, 0, bucket] += wi
            counts[j, 1, bucket] += wi * y[i, j]
    return counts


@numba.njit(cache=True, nogil=True)
def gather_2d(scores, y, w, shift, roles, offsets):  # pragma: no cover - compiled
    """Per-column gather of a 2-D array: column j fills ``offsets[j]:offsets[j + 1]``."""
    n, n_labels = scores.shape
    weighted = w.shape[0] > 0
    total = offsets[n_labels]
    values = np.empty(total, dtype=scores.dtype)
    labels = np.empty(total, dtype=np.uint8)
    weights = np.empty(total if weighted else 0, dtype=np.float64)
    buckets = np.empty(total, dtype=np.int32)
    maxima = np.full(roles.shape, -np.inf)
    fill = offsets[:n_labels].copy()
    buf = np.empty(n_labels, dtype=np.float32)
    bits = buf.view(np.uint32)
    zero = np.float32(0.0)
    for i in range(n):
        for j in range(n_labels):
            buf[j] = np.float32(scores[i, j]) + zero
        for j in range(n_labels):
            bucket = _key(bits[j]) >> np.uint32(shift)
            role = roles[j, bucket]
            if role == 1:
                c = fill[j]
                values[c] = scores[i, j]
                labels[c] = y[i, j]
                if weighted:
                    weights[c] = w[i]
                buckets[c] = bucket
                fill[j] = c + 1
            elif role == 2:
                v = np.float64(scores[i, j])
                if v > maxima[j, bucket]:
                    maxima[j, bucket] = v
    return values, labels, weights, buckets, maxima


@numba.njit(inline="always")
def _fbeta(tp, k, p, b2, zero_division):  # pragma: no cover - compiled
    den = b2 * p + k
    if den > 0:
        return (1.0 + b2) * tp / den
    return zero_division


@numba.njit(cache=True, nogil=True)
def grouped_sweep(
    order, scores, y, w, groups, mode, div, gw, p, b2, zero_division, base, tol
):  # pragma: no cover - compiled
    """Running weighted mean of per-group F-beta over the entries, highest score first.

    The group of entry ``i`` is ``groups[i]`` (mode 0), ``i % div`` (mode 1:
    the column of a row-major matrix) or ``i // div`` (mode 2: its row); its
    weight is ``w[i // div]`` (``div = 1`` for per-entry weights; ``w`` empty:
    1). One pass keeps every cut within ``tol`` of the best so far (dropping
    the ones left behind when the best rises).

    Returns
    -------
    best : float
    positions : ndarray of int64
        Index (into ``order``) of the last entry of each near-best cut, -1 for the
        empty cut, increasing.
    totals : ndarray of float64
    """
    m = order.shape[0]
    n_groups = gw.shape[0]
    weighted = w.shape[0] > 0
    best = base
    out_pos = np.empty(64, dtype=np.int64)
    out_tot = np.empty(64, dtype=np.float64)
    out_pos[0] = -1
    out_tot[0] = base
    count = 1
    tp = np.zeros(n_groups)
    k = np.zeros(n_groups)
    fval = np.empty(n_groups)  # each group's current F (one division per entry)
    for j in range(n_groups):
        fval[j] = _fbeta(0.0, 0.0, p[j], b2, zero_division)
    total = base
    nxt = scores[order[0]]
    for t in range(m):
        i = order[t]
        cur = nxt
        if mode == 0:
            g = groups[i]
        elif mode == 1:
            g = i % div
        else:
            g = i // div
        wi = w[i // div] if weighted else 1.0
        tp[g] += wi * y[i]
        k[g] += wi
        new = _fbeta(tp[g], k[g], p[g], b2, zero_division)
        total += gw[g] * (new - fval[g])
        fval[g] = new
        if t + 1 < m:
            nxt = scores[order[t + 1]]
        if t + 1 == m or nxt != cur:
            if total >= best - tol:
                if total > best:
                    best = total
                    kept = 0
                    for c in range(count):  # drop cuts no longer near the best
                        if out_tot[c] >= best - tol:
                            out_pos[kept] = out_pos[c]
                            out_tot[kept] = out_tot[c]
                            kept += 1
                    count = kept
                if count == out_pos.shape[0]:
                    grown_pos = np.empty(2 * count, dtype=np.int64)
                    grown_tot = np.empty(2 * count, dtype=np.float64)
                    grown_pos[:count] = out_pos
                    grown_tot[:count] = out_tot
                    out_pos, out_tot = grown_pos, grown_tot
                out_pos[count] = t
                out_tot[count] = total
                count += 1
    return best, out_pos[:count], out_tot[:count]


@numba.njit(cache=True, nogil=True)
def pack_sweep_keys(scores, y):  # pragma: no cover - compiled
    """uint64 keys ``key32(score) << 32 | index << 1 | y`` (float32 scores, < 2**31 entries).

    Sorting them orders the entries by score (then index), and the sorted keys
    carry each entry's index and label, so the sweep reads memory in order.
    """
    n = scores.shape[0]
    out = np.empty(n, dtype=np.uint64)
    buf = np.empty(1, dtype=np.float32)
    bits = buf.view(np.uint32)
    for i in range(n):
        buf[0] = np.float32(scores[i]) + np.float32(0.0)
        key = np.uint64(_key(bits[0]))
        out[i] = (key << np.uint64(32)) | (np.uint64(i) << np.uint64(1)) | np.uint64(y[i])
    return out


@numba.njit(cache=True, nogil=True)
def grouped_sweep_packed(
    packed, w, groups, mode, div, gw, p, b2, zero_division, base, tol
):  # pragma: no cover - compiled
    """:func:`grouped_sweep` over ascending packed keys read from the top (see above).

    Returns the same ``best, positions, totals``; position ``t`` counts from the
    highest key (``packed[m - 1 - t]``).
    """
    m = packed.shape[0]
    n_groups = gw.shape[0]
    weighted = w.shape[0] > 0
    best = base
    out_pos = np.empty(64, dtype=np.int64)
    out_tot = np.empty(64, dtype=np.float64)
    out_pos[0] = -1
    out_tot[0] = base
    count = 1
    tp = np.zeros(n_groups)
    k = np.zeros(n_groups)
    fval = np.empty(n_groups)  # each group's current F (one division per entry)
    for j in range(n_groups):
        fval[j] = _fbeta(0.0, 0.0, p[j], b2, zero_division)
    total = base
    low = np.uint64(0xFFFFFFFF)
    for t in range(m):
        key = packed[m - 1 - t]
        i = np.int64((key & low) >> np.uint64(1))
        yi = np.float64(key & np.uint64(1))
        if mode == 0:
            g = groups[i]
        elif mode == 1:
            g = i % div
        else:
            g = i // div
        wi = w[i // div] if weighted else 1.0
        tp[g] += wi * yi
        k[g] += wi
        new = _fbeta(tp[g], k[g], p[g], b2, zero_division)
        total += gw[g] * (new - fval[g])
        fval[g] = new
        if t + 1 == m or (packed[m - 2 - t] >> np.uint64(32)) != (key >> np.uint64(32)):
            if total >= best - tol:
                if total > best:
                    best = total
                    kept = 0
                    for c in range(count):
                        if out_tot[c] >= best - tol:
                            out_pos[kept] = out_pos[c]
                            out_tot[kept] = out_tot[c]
                            kept += 1
                    count = kept
                if count == out_pos.shape[0]:
                    grown_pos = np.empty(2 * count, dtype=np.int64)
                    grown_tot = np.empty(2 * count, dtype=np.float64)
                    grown_pos[:count] = out_pos
                    grown_tot[:count] = out_tot
                    out_pos, out_tot = grown_pos, grown_tot
                out_pos[count] = t
                out_tot[count] = total
                count += 1
    return best, out_pos[:count], out_tot[:count]
