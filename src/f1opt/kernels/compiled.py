"""Optional compiled (numba) versions of the counting passes and of the grouped sweep.

Imported lazily by :mod:`f1opt._engine` (never by :mod:`f1opt.kernels.buckets`,
which receives the module as an argument); when numba is missing (or fails to
compile) the numpy versions are used and the results are identical. Every
kernel releases the GIL, so the engine runs chunks of one pass on threads.

The passes read float32 bits (``scores.view(np.uint32)``; float64 scores are
rounded to float32 first, which is monotone) and turn them into an
order-preserving unsigned key (flip every bit of a negative, set the sign bit
of a positive; ``-0.0`` takes the key of ``+0.0``). Unweighted counts are
integers; weighted ones are float64 sums with the number of scores beside.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(inline="always")
def _key(b):  # pragma: no cover - compiled
    """Order-preserving key of float32 bits ``b``: flip a negative, set a positive's sign bit."""
    if b >> np.uint32(31):
        return ~b
    return b | np.uint32(0x80000000)


@numba.njit(inline="always")
def _fkey(b):  # pragma: no cover - compiled
    """``_key`` of float32 bits ``b`` without a branch; ``-0.0`` gets the key of ``+0.0``."""
    k = b ^ (np.uint32(np.int32(b) >> np.int32(31)) | np.uint32(0x80000000))
    return k + np.uint32(k == np.uint32(0x7FFFFFFF))


@numba.njit(cache=True, nogil=True)
def range_histogram(bits, y, lo_key, hi_key, shift, out):  # pragma: no cover - compiled
    """Add the keys in ``[lo_key, hi_key]`` to ``out[2 * ((key - lo_key) >> shift) + y]``.

    ``bits`` are float32 bits (``scores.view(np.uint32)``), ``y`` 0/1 as
    uint8; ``out`` any integer dtype (one row counts 1).
    """
    width = hi_key - lo_key
    sh = np.uint32(shift)
    one = np.uint32(1)
    for i in range(bits.shape[0]):
        d = _fkey(bits[i]) - lo_key  # unsigned: keys below lo_key wrap above width
        if d <= width:
            out[((d >> sh) << one) | np.uint32(y[i])] += 1


@numba.njit(cache=True, nogil=True)
def range_histogram_weighted(bits, y, w, lo_key, hi_key, shift, out):  # pragma: no cover
    """:func:`range_histogram` with row weights: ``out[3 b + y] += w``, ``out[3 b + 2] += 1``."""
    width = hi_key - lo_key
    sh = np.uint32(shift)
    for i in range(bits.shape[0]):
        d = _fkey(bits[i]) - lo_key
        if d <= width:
            b = np.int64(d >> sh) * 3
            out[b + np.int64(y[i])] += w[i]
            out[b + 2] += 1.0


@numba.njit(cache=True, nogil=True)
def range_histogram_2d(bits, y, lo, width, shift, stride, out):  # pragma: no cover - compiled
    """Per-column :func:`range_histogram` of an (n, L) matrix, row by row.

    Column ``j`` counts its keys in ``[lo[j], lo[j] + width[j]]`` into
    ``out[j * stride + 2 * ((key - lo[j]) >> shift[j]) + y]``; its keys outside
    go to ``out[(j + 1) * stride - 1]`` (discarded: the stride pads the label's
    counts, and a stride that is not a multiple of 4 KiB keeps the labels'
    counts out of each other's cache sets). A row's slots are computed first,
    then added (independent stores).
    """
    n, n_labels = bits.shape
    slot = np.empty(n_labels, dtype=np.int64)
    for i in range(n):
        for j in range(n_labels):
            d = _fkey(bits[i, j]) - lo[j]
            at = j * stride + ((np.int64(d >> shift[j]) << 1) | np.int64(y[i, j]))
            slot[j] = at if d <= width[j] else (j + 1) * stride - 1
        for j in range(n_labels):
            out[slot[j]] += 1


@numba.njit(cache=True, nogil=True)
def range_histogram_2d_weighted(bits, y, w, lo, width, shift, stride, out):  # pragma: no cover
    """:func:`range_histogram_2d` with row weights: three slots a bucket, as the 1-D one."""
    n, n_labels = bits.shape
    slot = np.empty(n_labels, dtype=np.int64)
    for i in range(n):
        wi = w[i]
        for j in range(n_labels):
            d = _fkey(bits[i, j]) - lo[j]
            at = j * stride + np.int64(d >> shift[j]) * 3
            slot[j] = at if d <= width[j] else (j + 1) * stride - 3
        for j in range(n_labels):
            out[slot[j] + np.int64(y[i, j])] += wi
            out[slot[j] + 2] += 1.0


@numba.njit(cache=True, nogil=True)
def range_indices(bits, lo_key, hi_key, capacity):  # pragma: no cover - compiled
    """Indices of the float32 ``bits`` with a key in ``[lo_key, hi_key]``, and their number.

    At most ``capacity`` indices are written (never beyond the array); the
    caller checks the number found against it.
    """
    index = np.empty(capacity + 1, dtype=np.int64)
    width = hi_key - lo_key
    count = 0
    for i in range(bits.shape[0]):
        index[min(count, capacity)] = i  # branch-free: kept only when inside
        count += (_fkey(bits[i]) - lo_key) <= width
    return index[: min(count, capacity)], count


@numba.njit(cache=True, nogil=True)
def range_entries_2d(bits, lo, width, capacity):  # pragma: no cover - compiled
    """Flat indices ``i * L + j`` of the entries inside their column's range, and their number.

    At most ``capacity`` indices are written, as :func:`range_indices`.
    """
    n, n_labels = bits.shape
    index = np.empty(capacity + 1, dtype=np.int64)
    count = 0
    for i in range(n):
        for j in range(n_labels):
            index[min(count, capacity)] = i * n_labels + j
            count += (_fkey(bits[i, j]) - lo[j]) <= width[j]
    return index[: min(count, capacity)], count


@numba.njit(inline="always")
def _fbeta(tp, k, p, b2, zero_division):  # pragma: no cover - compiled
    den = b2 * p + k
    if den > 0:
        return (1.0 + b2) * tp / den
    return zero_division


@numba.njit(cache=True, nogil=True)
def grouped_sweep(
    packed, order, scores, y, w, groups, mode, div, gw, p, tp0, k0, b2, zero_division, base, tol
):  # pragma: no cover - compiled
    """Running weighted mean of per-group F-beta over the entries, highest score first.

    The entries are read either from ascending packed keys (``packed``, see
    :func:`pack_sweep_keys`; read from the top) or, when ``packed`` is empty,
    through the descending ``order`` of ``scores`` with labels ``y``. The
    group of entry ``i`` is ``i % div`` (mode 1: the column of a row-major
    matrix) or ``i // div`` (mode 2: its row), with weight ``w[i // div]``;
    in mode 3 the ``t``-th entry read (highest score first) has group
    ``groups[t]`` and weight ``w[t]``, already in that order (so that nothing
    is read at random). ``w`` empty: weight 1. Group ``g`` starts from the
    counts ``tp0[g], k0[g]`` (empty: zero). One pass keeps every cut within
    ``tol`` of the best so far (dropping the ones left behind when the best
    rises).

    Returns
    -------
    best : float
    positions : ndarray of int64
        Index (into the descending order) of the last entry of each near-best
        cut, -1 for the cut before the first entry, increasing.
    totals : ndarray of float64
    """
    from_packed = packed.shape[0] > 0
    m = packed.shape[0] if from_packed else order.shape[0]
    n_groups = gw.shape[0]
    weighted = w.shape[0] > 0
    best = base
    out_pos = np.empty(64, dtype=np.int64)
    out_tot = np.empty(64, dtype=np.float64)
    out_pos[0] = -1
    out_tot[0] = base
    count = 1
    # each group's counts, current F, positives and weight side by side (one cache line)
    state = np.zeros((n_groups, 8))
    for j in range(n_groups):
        if tp0.shape[0] > 0:
            state[j, 0] = tp0[j]
            state[j, 1] = k0[j]
        state[j, 2] = _fbeta(state[j, 0], state[j, 1], p[j], b2, zero_division)
        state[j, 3] = p[j]
        state[j, 4] = gw[j]
    total = base
    low = np.uint64(0xFFFFFFFF)
    for t in range(m):
        if from_packed:
            key = packed[m - 1 - t]
            i = np.int64((key & low) >> np.uint64(1))
            yi = np.float64(key & np.uint64(1))
            tie_end = t + 1 == m or (packed[m - 2 - t] >> np.uint64(32)) != (key >> np.uint64(32))
        else:
            i = order[t]
            yi = np.float64(y[i])
            tie_end = t + 1 == m or scores[order[t + 1]] != scores[i]
        if mode == 3:
            g = groups[t]
            wi = w[t] if weighted else 1.0
        else:
            g = i % div if mode == 1 else i // div
            wi = w[i // div] if weighted else 1.0
        tp = state[g, 0] + wi * yi
        k = state[g, 1] + wi
        new = _fbeta(tp, k, state[g, 3], b2, zero_division)
        total += state[g, 4] * (new - state[g, 2])
        state[g, 0] = tp
        state[g, 1] = k
        state[g, 2] = new
        if tie_end and total >= best - tol:
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
def row_keys(scores, y):  # pragma: no cover - compiled
    """uint32 keys of a block of rows with each entry's label in the lowest bit.

    The lowest key bit never names a bucket, so sorting each row of these
    (numpy's row sort) orders its entries by bucket and keeps their labels.
    """
    n, n_labels = scores.shape
    out = np.empty((n, n_labels), dtype=np.uint32)
    buf = np.empty(n_labels, dtype=np.float32)
    bits = buf.view(np.uint32)
    zero = np.float32(0.0)
    for i in range(n):
        for j in range(n_labels):
            buf[j] = np.float32(scores[i, j]) + zero
        for j in range(n_labels):
            out[i, j] = (_key(bits[j]) & np.uint32(0xFFFFFFFE)) | np.uint32(y[i, j])
    return out


@numba.njit(cache=True, nogil=True)
def row_walk(keys, w, p, gw, shift, b2, zero_division, changes, sizes):  # pragma: no cover
    """Add the samples-F changes of a block of rows to ``changes`` and ``sizes``.

    ``keys`` are the rows' :func:`row_keys`, each row sorted ascending; each
    row is walked from its top bucket down. For every bucket ``b``:
    ``changes[b, 0]`` gets the change of the weighted sum of row F-betas
    across the whole bucket, ``changes[b, 1]`` the most a cut inside it can
    add to the sum at its top edge (a row whose run in the bucket holds ``t``
    positives gains at most ``F(tp + t, k + t) - F(tp, k)``), ``sizes[b]`` its
    entries. ``p`` and ``gw`` are each row's (weighted) positives and group weight.
    """
    n, n_labels = keys.shape
    weighted = w.shape[0] > 0
    one = np.uint32(1)
    sh = np.uint32(shift)
    for i in range(n):
        wi = w[i] if weighted else 1.0
        gi = gw[i]
        pi = p[i]
        tp = 0.0
        k = 0.0
        f0 = _fbeta(0.0, 0.0, pi, b2, zero_division)
        j = n_labels - 1
        b = keys[i, j] >> sh
        npos = 0.0
        nall = 0
        while True:  # one run of entries in bucket b, then the next
            key = keys[i, j] if j >= 0 else np.uint32(0)
            if j < 0 or (key >> sh) != b:
                bi = np.int64(b)
                if npos > 0:  # without a positive, no cut inside the run gains
                    bound = _fbeta(tp + wi * npos, k + wi * npos, pi, b2, zero_division)
                    changes[bi, 1] += gi * (bound - f0)
                tp += wi * npos
                k += wi * nall
                f1 = _fbeta(tp, k, pi, b2, zero_division)
                changes[bi, 0] += gi * (f1 - f0)
                sizes[bi] += nall
                if j < 0:
                    break
                f0 = f1
                b = key >> sh
                npos = 0.0
                nall = 0
            npos += np.float64(key & one)
            nall += 1
            j -= 1


@numba.njit(cache=True, nogil=True)
def rows_in_range(bits, y, lo_key, hi_key, top_key, capacity):  # pragma: no cover - compiled
    """Entries of an (n, L) matrix in a key range, and each row's entries above ``top_key``.

    Returns
    -------
    index : ndarray of int64
        Flat indices ``i * L + j`` of the entries with a key in ``[lo_key, hi_key]``
        (``capacity`` at most, as :func:`range_indices`), increasing.
    found : int
        Their number.
    above, above_positive : ndarray of int64 of shape (n,)
        Each row's entries, and positives, with a key above ``top_key``.
    """
    n, n_labels = bits.shape
    index = np.empty(capacity + 1, dtype=np.int64)
    above = np.empty(n, dtype=np.int64)
    above_positive = np.empty(n, dtype=np.int64)
    width = hi_key - lo_key
    count = 0
    for i in range(n):
        up = 0
        up_positive = 0
        for j in range(n_labels):
            key = _fkey(bits[i, j])
            index[min(count, capacity)] = i * n_labels + j
            count += (key - lo_key) <= width
            high = np.int64(key > top_key)
            up += high
            up_positive += high & np.int64(y[i, j])
        above[i] = up
        above_positive[i] = up_positive
    return index[: min(count, capacity)], count, above, above_positive
