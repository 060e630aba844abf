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
