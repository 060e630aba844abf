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
def range_values(bits, y, lo_key, hi_key, capacity):  # pragma: no cover - compiled
    """The float32 ``bits`` with a key in ``[lo_key, hi_key]``, their labels, and their number.

    Written as they are read (no second access to the scores); at most
    ``capacity`` of them, as :func:`range_indices`.
    """
    values = np.empty(capacity + 1, dtype=np.uint32)
    labels = np.empty(capacity + 1, dtype=np.uint8)
    width = hi_key - lo_key
    count = 0
    for i in range(bits.shape[0]):
        b = bits[i]
        at = min(count, capacity)
        values[at] = b  # branch-free: kept only when inside
        labels[at] = y[i]
        count += (_fkey(b) - lo_key) <= width
    kept = min(count, capacity)
    return values[:kept], labels[:kept], count


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


# ---------------------------------------------------------------- sparse scores
# The compiled passes of f1opt.kernels.sparse over scipy.sparse scores in their
# compressed layout (CSR: a major is a row, a minor a label; CSC: the reverse).
# Every pass takes a range of majors or stored entries, so that a thread pool
# can run the halves of a matrix at once (the kernels release the GIL).


@numba.njit(inline="always")
def _merged_label(y_indices, b, b_end, minor):  # pragma: no cover - compiled
    """One step of a major's merge with its positives' (sorted) minors.

    Advances ``b`` past the positives before ``minor``; returns it and whether
    ``minor`` is a positive.
    """
    while b < b_end and y_indices[b] < minor:
        b += 1
    return b, b < b_end and y_indices[b] == minor


@numba.njit(inline="always")
def _reversed_key(v):  # pragma: no cover - compiled
    """The order-reversing uint64 sort key of ``float32(v)`` (``-0.0`` as ``+0.0``)."""
    f = np.float32(np.float32(v) + np.float32(0.0))
    key = np.uint64(_key(f.view(np.uint32)) & np.uint32(0xFFFFFFFF))
    return key ^ np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _reversed_key_value(key):  # pragma: no cover - compiled
    """The float32 value (as float64) of the low 32 bits of a :func:`_reversed_key`."""
    k = np.uint32((key & np.uint64(0xFFFFFFFF)) ^ np.uint64(0xFFFFFFFF))
    flip = np.uint32(0x80000000) if k >> np.uint32(31) else np.uint32(0xFFFFFFFF)
    bits = np.uint32(k ^ flip)
    return np.float64(bits.view(np.float32))


@numba.njit(cache=True, nogil=True)
def sparse_positives(
    indptr, indices, data, y_indptr, y_indices, w, by_rows, m0, m1, labels, values, weights
):  # pragma: no cover - compiled
    """The stored entries of majors ``m0:m1`` that are positives: label, score, weight.

    Both matrices are canonical (sorted minors, no duplicates) in the same
    layout; ``y`` holds the positives only. Each major's two index lists are
    merged. An entry of a row of weight 0 is absent. ``weights`` of length 0:
    unweighted (``w`` empty too).

    Returns
    -------
    count : int
        Positives written to ``labels``, ``values``, ``weights``.
    """
    weighted = w.shape[0] > 0
    count = 0
    for m in range(m0, m1):
        b, b_end = y_indptr[m], y_indptr[m + 1]
        if b == b_end or (weighted and by_rows and w[m] <= 0):
            continue
        a, a_end = indptr[m], indptr[m + 1]
        while a < a_end and b < b_end:
            ia, ib = indices[a], y_indices[b]
            if ia < ib:
                a += 1
            elif ia > ib:
                b += 1
            else:
                wi = 1.0
                if weighted:
                    wi = w[m] if by_rows else w[ia]
                if wi > 0:
                    labels[count] = ia if by_rows else m
                    values[count] = data[a]
                    if weighted:
                        weights[count] = wi
                    count += 1
                a += 1
                b += 1
    return count


@numba.njit(cache=True, nogil=True)
def sparse_candidates(keys, n_groups):  # pragma: no cover - compiled
    """The candidates of sorted positive keys (``label << 32 | reversed key``, float32 scores).

    Returns
    -------
    cand_keys : ndarray of uint64 of shape (n_candidates + 1,)
        Each distinct key once, then the sentinel ``2**64 - 1``.
    values, tp : ndarray of float64 of shape (n_candidates,)
        The score of each, and the positives holding it.
    sizes : ndarray of int64 of shape (n_groups,)
    """
    m = keys.shape[0]
    n = 0
    for i in range(m):
        n += i == 0 or keys[i] != keys[i - 1]
    cand_keys = np.empty(n + 1, dtype=np.uint64)
    values = np.empty(n)
    tp = np.zeros(n)
    sizes = np.zeros(n_groups, dtype=np.int64)
    c = -1
    for i in range(m):
        key = keys[i]
        if i == 0 or key != keys[i - 1]:
            c += 1
            cand_keys[c] = key
            values[c] = _reversed_key_value(key)
            sizes[np.int64(key >> np.uint64(32))] += 1
        tp[c] += 1.0
    cand_keys[n] = np.uint64(0xFFFFFFFFFFFFFFFF)
    return cand_keys, values, tp, sizes


@numba.njit(cache=True, nogil=True)
def sparse_finish(counts, tp_at, highest, below_low, sizes):  # pragma: no cover - compiled
    """Each label's running counts from the top candidate, and the score below each candidate.

    ``counts`` and ``tp_at`` hold the entries and positives counted at each
    candidate, ``highest`` the highest entry counted there, ``below_low`` the
    highest entry below each label's lowest candidate.

    Returns
    -------
    k, tp, below : ndarray of float64 of shape (n_candidates,)
    """
    n = counts.shape[0]
    k = np.empty(n)
    tp = np.empty(n)
    below = np.empty(n)
    c = 0
    for j in range(sizes.shape[0]):
        run_k = 0.0
        run_tp = 0.0
        for i in range(c, c + sizes[j]):
            run_k += counts[i]
            run_tp += tp_at[i]
            k[i] = run_k
            tp[i] = run_tp
            below[i] = highest[i + 1] if i + 1 < c + sizes[j] else below_low[j]
        c += sizes[j]
    return k, tp, below


@numba.njit(cache=True, nogil=True)
def sparse_compact(
    indptr, indices, data, w, by_rows, pooled, e0, e1, bounds, keys, values, weights
):  # pragma: no cover - compiled
    """Sort keys of the stored entries ``e0:e1`` at or above their label's lowest candidate.

    The key of an entry of label ``j`` (0 for every entry when ``pooled``) is
    ``j << 32 | reversed float32 key``: ascending keys order the entries by
    label, then by score from the highest. ``values`` (length 0: not kept)
    receives the exact scores (float64 scores, whose keys are rounded) and
    ``weights`` (length 0: unweighted) the row weights, beside the keys.
    ``bounds[j]`` holds label j's lowest candidate and the highest entry
    below it, which the entries below it raise (one cache line for both).
    An entry of a row of weight 0 is absent.

    Returns
    -------
    count : int
        Entries written.
    """
    weighted = w.shape[0] > 0
    exact = values.shape[0] > 0
    keep_w = weights.shape[0] > 0
    count = 0
    if by_rows and not weighted and not exact:  # the common case, its own loop: the
        for i in range(e0, e1):  # label is the minor, and nothing else is kept
            j = 0 if pooled else indices[i]
            v = data[i]
            keys[count] = (np.uint64(j) << np.uint64(32)) | _reversed_key(v)
            above = v >= bounds[j, 0]
            b = bounds[j, 1]
            bounds[j, 1] = v if (not above) and v > b else b  # branch-free
            count += above
        return count
    m = np.searchsorted(indptr, e0, side="right") - 1
    e = e0
    while e < e1:
        stop = min(indptr[m + 1], e1)
        wm = w[m] if weighted and by_rows else 1.0
        if wm > 0:
            for i in range(e, stop):
                wi = wm
                if weighted and not by_rows:
                    wi = w[indices[i]]
                    if wi <= 0:
                        continue
                j = 0 if pooled else (indices[i] if by_rows else m)
                v = data[i]
                keys[count] = (np.uint64(j) << np.uint64(32)) | _reversed_key(v)
                if exact:
                    values[count] = v
                if keep_w:
                    weights[count] = wi
                above = v >= bounds[j, 0]
                b = bounds[j, 1]
                bounds[j, 1] = v if (not above) and v > b else b
                count += above
        e = stop
        m += 1
    return count


@numba.njit(cache=True, nogil=True)
def sparse_merge(
    keys, values, weights, cand_keys, cand_values, counts, highest
):  # pragma: no cover
    """Count sorted entries at the candidate each one first reaches.

    ``keys`` ascending (:func:`sparse_compact`), ``cand_keys`` the keys of
    the candidates in the same order (ascending, one sentinel ``2**64 - 1``
    after the last). An entry is counted (its weight, or 1) at the first
    candidate of its label whose score is at most its own, and raises that
    candidate's ``highest`` entry. With ``values`` (exact float64 scores) the
    candidates sharing the entry's rounded key are compared exactly.
    """
    exact = values.shape[0] > 0
    weighted = weights.shape[0] > 0
    p = 0
    run_at = -1  # the candidate of the current run of entries, and their count
    run = 0.0
    for i in range(keys.shape[0]):
        key = keys[i]
        while cand_keys[p] < key:
            p += 1
        q = p
        if exact:
            v = values[i]
            while cand_keys[q] == key and cand_values[q] > v:
                q += 1
        if q != run_at:  # the first entry of a run is its highest (float32 keys)
            if run_at >= 0:
                counts[run_at] += run
            run_at, run = q, 0.0
            if not exact:
                v = _reversed_key_value(key)
                if v > highest[q]:
                    highest[q] = v
        if exact and v > highest[q]:
            highest[q] = v
        run += weights[i] if weighted else 1.0
    if run_at >= 0:
        counts[run_at] += run


@numba.njit(cache=True, nogil=True)
def sparse_gather(
    indptr, indices, data, y_indptr, y_indices, w, by_rows, group_by_label, low, m0, m1, values,
    labels, groups, weights,
):  # pragma: no cover - compiled  # fmt: skip
    """The stored entries of majors ``m0:m1`` scoring at least ``low``, with label and group.

    Each entry gets its 0/1 label (the majors' minors merged with those of
    ``y``), its group (its label if ``group_by_label``, else its row) and
    its row weight, into arrays of exactly ``count`` entries (of length 0:
    the entries are only counted). An entry of a row of weight 0 is absent.

    Returns
    -------
    count : int
        Entries at least ``low``.
    below : float
        The highest entry below ``low`` (``-inf`` if none).
    """
    weighted = w.shape[0] > 0
    capacity = values.shape[0]
    below = -np.inf
    count = 0
    for m in range(m0, m1):
        if weighted and by_rows and w[m] <= 0:
            continue
        b, b_end = y_indptr[m], y_indptr[m + 1]
        for a in range(indptr[m], indptr[m + 1]):
            v = np.float64(data[a])
            minor = indices[a]
            wi = 1.0
            if weighted:
                wi = w[m] if by_rows else w[minor]
                if wi <= 0:
                    continue
            above = v >= low
            below = v if (not above) and v > below else below  # branch-free
            if count < capacity:  # written in any case, kept if above
                b, positive = _merged_label(y_indices, b, b_end, minor)
                values[count] = data[a]
                labels[count] = 1 if positive else 0
                if group_by_label:
                    groups[count] = minor if by_rows else m
                else:
                    groups[count] = m if by_rows else minor
                if weighted:
                    weights[count] = wi
            count += above
    return count, below


@numba.njit(inline="always")
def _key_of(v):  # pragma: no cover - compiled
    """Order-preserving uint32 key of ``float32(v)`` (``-0.0`` as ``+0.0``)."""
    f = np.float32(np.float32(v) + np.float32(0.0))
    return _key(f.view(np.uint32))


@numba.njit(cache=True, nogil=True)
def sparse_group_deltas(
    indptr, indices, data, y_indptr, y_indices, w, by_rows, m0, m1, shift, p, gw, b2,
    zero_division, delta, gain, sizes,
):  # pragma: no cover - compiled  # fmt: skip
    """Add the per-bucket changes of a weighted sum of group F-betas, a group per major.

    Each major's entries (``y`` merged in) are packed as ``key << 32 | index << 1
    | label``, sorted, and walked from the top bucket (``key >> shift``) down,
    as :func:`row_walk` walks a dense row: ``delta[b]`` gets the change of the
    sum across bucket b, ``gain[b]`` the most a cut inside it can add at its
    top edge, ``sizes[b]`` its entries.
    ``p`` and ``gw`` are each major's positives and group weight. An entry of
    a row of weight 0 is absent.
    """
    weighted = w.shape[0] > 0
    longest = 0
    for m in range(m0, m1):
        longest = max(longest, indptr[m + 1] - indptr[m])
    packed = np.empty(longest, dtype=np.uint64)
    low = np.uint64(0xFFFFFFFF)
    top = np.uint64(32 + shift)
    for m in range(m0, m1):
        wm = w[m] if weighted and by_rows else 1.0
        if wm <= 0:
            continue
        start = indptr[m]
        b, b_end = y_indptr[m], y_indptr[m + 1]
        n = 0
        for a in range(start, indptr[m + 1]):
            minor = indices[a]
            if weighted and not by_rows and w[minor] <= 0:
                continue
            b, positive = _merged_label(y_indices, b, b_end, minor)
            label = np.uint64(1) if positive else np.uint64(0)
            key = np.uint64(_key_of(data[a]))
            packed[n] = (key << np.uint64(32)) | (np.uint64(a - start) << np.uint64(1)) | label
            n += 1
        if n == 0:
            continue
        run = packed[:n]
        run.sort()
        pm, gm = p[m], gw[m]
        tp = 0.0
        k = 0.0
        f0 = _fbeta(0.0, 0.0, pm, b2, zero_division)
        i = n - 1
        while i >= 0:
            bucket = run[i] >> top
            npos = 0.0
            nall = 0.0
            count = 0
            while i >= 0 and (run[i] >> top) == bucket:
                wi = wm
                if weighted and not by_rows:
                    wi = w[indices[start + np.int64((run[i] & low) >> np.uint64(1))]]
                npos += wi * np.float64(run[i] & np.uint64(1))
                nall += wi
                count += 1
                i -= 1
            bound = f0  # no positive in the run: no cut inside it gains
            if npos > 0:
                bound = _fbeta(tp + npos, k + npos, pm, b2, zero_division)
            tp += npos
            k += nall
            f1 = _fbeta(tp, k, pm, b2, zero_division)
            bi = np.int64(bucket)
            delta[bi] += gm * (f1 - f0)
            gain[bi] += gm * (bound - f0)
            sizes[bi] += count
            f0 = f1


@numba.njit(cache=True, nogil=True)
def sparse_group_range(
    indptr, indices, data, y_indptr, y_indices, w, by_rows, m0, m1, lo_key, hi_key, values,
    labels, weights, groups, tp0, k0,
):  # pragma: no cover - compiled  # fmt: skip
    """The entries of majors ``m0:m1`` whose key is in ``[lo_key, hi_key]``, a group per major.

    Fills ``values``, ``labels``, ``weights`` (length 0: unweighted) and
    ``groups`` (the major) up to their length (length 0: only counts), and
    adds each major's (weighted) positives and entries above ``hi_key`` to
    ``tp0`` and ``k0``. An entry of a row of weight 0 is absent.

    Returns
    -------
    count : int
        Entries in the range.
    above, below : float
        The lowest score above the range and the highest below it (``inf`` /
        ``-inf`` if none).
    """
    weighted = w.shape[0] > 0
    capacity = values.shape[0]
    above = np.inf
    below = -np.inf
    count = 0
    for m in range(m0, m1):
        wm = w[m] if weighted and by_rows else 1.0
        if wm <= 0:
            continue
        b, b_end = y_indptr[m], y_indptr[m + 1]
        for a in range(indptr[m], indptr[m + 1]):
            minor = indices[a]
            wi = wm
            if weighted and not by_rows:
                wi = w[minor]
                if wi <= 0:
                    continue
            v = np.float64(data[a])
            key = _key_of(data[a])
            if key < lo_key:
                below = max(below, v)
                continue
            b, positive = _merged_label(y_indices, b, b_end, minor)
            label = 1 if positive else 0
            if key > hi_key:
                above = min(above, v)
                tp0[m] += wi * label
                k0[m] += wi
                continue
            if count < capacity:
                values[count] = data[a]
                labels[count] = label
                groups[count] = m
                if weighted:
                    weights[count] = wi
            count += 1
    return count, above, below


@numba.njit(cache=True, nogil=True)
def sparse_group_counts(
    indptr, indices, data, y_indptr, y_indices, w, by_rows, threshold, m0, m1, tp, k
):  # pragma: no cover - compiled
    """Add each major's (weighted) positives and entries scoring at least ``threshold``."""
    weighted = w.shape[0] > 0
    for m in range(m0, m1):
        wm = w[m] if weighted and by_rows else 1.0
        if wm <= 0:
            continue
        b, b_end = y_indptr[m], y_indptr[m + 1]
        for a in range(indptr[m], indptr[m + 1]):
            if data[a] < threshold:
                continue
            minor = indices[a]
            wi = wm
            if weighted and not by_rows:
                wi = w[minor]
            b, positive = _merged_label(y_indices, b, b_end, minor)
            if positive:
                tp[m] += wi
            k[m] += wi
