"""Exact cut searches on scipy.sparse scores, walked in their compressed layout.

An unstored score is never predicted positive (as if it were ``-inf``): that
is what the top-k outputs of extreme-multilabel models mean. The searches run
on the stored entries only, with each label's (or row's) positives counted
over all of its entries, stored or not. No int64 row or column array of the
stored entries is built: the passes walk the matrix (CSR: a major is a row, a
minor a label; CSC: the reverse) in ranges of majors or entries, compiled
(:mod:`f1opt.kernels.compiled`, the ranges run by a thread pool) or in numpy
blocks of whole majors, with the same result.

Per-label cuts (:func:`cut_candidates`; the global micro cut pools every
entry in one group):

1. the stored positives (each major's minors merged with those of the
   labels) give the candidates, the distinct scores of each label's stored
   positives (:class:`f1opt.kernels.cuts.CutCandidates` explains why no
   other cut can be optimal), ordered by label, then by score from the
   highest;
2. every stored entry at or above its label's lowest candidate gets the
   sort key ``label << 32 | reversed float32 key``; the keys of a chunk of
   entries are sorted (numpy's sort) and merged with the candidates' keys:
   each entry counts at the first candidate at or below its score, and the
   highest entry counted there is kept. An entry below its label's lowest
   candidate only raises the highest score below it;
3. cumulative sums within each label give the (weighted) predicted positives
   of every cut; the highest entry of the next candidate (or below the
   lowest) is the highest score strictly below a cut, for its threshold.

Float64 scores keep their exact values beside the keys (the keys are
rounded to float32, which keeps the order but may tie distinct scores), and
the candidates sharing an entry's key are compared exactly.

The global macro / weighted / samples cut (:func:`grouped_search`) is the
bucket search of the dense matrices (:mod:`f1opt.kernels.buckets`) with a
group per major: per-bucket changes of the objective and bounds, the key
range that can hold the optimum, and the grouped sweep of that range only.

Counts are float64 sums of row weights (exact for integer weights); an entry
of a row of weight 0 is absent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .buckets import key_values, keys32
from .cuts import FlatCandidates

__all__ = [
    "SparseScores",
    "compressed",
    "sparse_scores",
    "stored_positives",
    "cut_candidates",
    "entries_above",
    "group_major",
    "grouped_search",
]

_NONE_F = np.empty(0, dtype=np.float64)
_SENTINEL = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class SparseScores:
    """Validated sparse scores and the positions of the positive labels, in one layout.

    Attributes
    ----------
    indptr, indices : ndarray of int
        Compressed index of the scores: canonical (minors sorted within each
        major, no duplicates).
    data : ndarray of float32 or float64 of shape (nnz,)
        The stored scores (finite).
    y_indptr, y_indices : ndarray of int
        Compressed index of the positive labels, canonical, same layout.
    by_rows : bool
        CSR layout (a major is a row) or CSC (a major is a label).
    shape : tuple of int
        ``(n_samples, n_labels)``.
    weights : ndarray of float64 of shape (n_samples,) or None
        Row weights, non-negative (a row of weight 0 is absent).
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    y_indptr: np.ndarray
    y_indices: np.ndarray
    by_rows: bool
    shape: tuple
    weights: np.ndarray | None = None

    @property
    def n_labels(self) -> int:
        """Number of labels (columns)."""
        return int(self.shape[1])

    @property
    def n_majors(self) -> int:
        """Rows (CSR) or labels (CSC)."""
        return int(self.indptr.size - 1)


def compressed(matrix, by_rows: bool):
    """The matrix as a canonical scipy.sparse CSR (``by_rows``) or CSC array.

    A copy is made only when the layout differs or the matrix is not
    canonical (unsorted minors or duplicates, which are summed, as scipy sums
    them).
    """
    import scipy.sparse as sp

    out = sp.csr_array(matrix) if by_rows else sp.csc_array(matrix)
    if not out.has_canonical_format:
        out = out.copy()
        out.sum_duplicates()
    return out


def _score_data(data: np.ndarray) -> np.ndarray:
    """Stored scores as float32 (float16 exactly) or float64 (every other dtype)."""
    if data.dtype in (np.float32, np.float64):
        return data
    return data.astype(np.float32 if data.dtype == np.float16 else np.float64)


def sparse_scores(scores, positives, weights=None) -> SparseScores:
    """:class:`SparseScores` from validated matrices.

    Parameters
    ----------
    scores : scipy.sparse matrix or array of shape (n_samples, n_labels)
        CSC input is walked as CSC, anything else as CSR.
    positives : scipy.sparse matrix or array of the same shape
        Nonzero exactly at the positive labels (no explicit zeros).
    weights : ndarray of shape (n_samples,), optional
    """
    import scipy.sparse as sp

    by_rows = not (sp.issparse(scores) and scores.format == "csc")
    s = compressed(scores, by_rows)
    y = compressed(positives, by_rows)
    return SparseScores(
        s.indptr, s.indices, _score_data(s.data), y.indptr, y.indices, by_rows,
        tuple(s.shape), weights,
    )  # fmt: skip


def _parts(indptr: np.ndarray, n_parts: int) -> list:
    """Ranges of majors holding about the same number of stored entries."""
    n_majors = indptr.size - 1
    cuts = np.searchsorted(indptr, np.linspace(0, indptr[-1], n_parts + 1), side="left")
    cuts = np.unique(np.clip(np.concatenate(([0], cuts, [n_majors])), 0, n_majors))
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def _serial_map(job, parts) -> list:
    return [job(part) for part in parts]


def _run(job, parts, map_parts, threaded: bool) -> list:
    """``job(part)`` for every part: on the engine's threads (``map_parts``) when compiled."""
    if threaded and len(parts) > 1:
        return list(map_parts(job, parts))
    return _serial_map(job, parts)


@dataclass(frozen=True)
class _Block:
    """The present entries of a range of majors (numpy passes): rows of weight 0 left out."""

    majors: np.ndarray
    minors: np.ndarray
    values: np.ndarray
    weights: np.ndarray | None
    positive: np.ndarray | None
    by_rows: bool

    @property
    def labels(self) -> np.ndarray:
        """The label (column) of each entry."""
        return self.minors if self.by_rows else self.majors

    @property
    def rows(self) -> np.ndarray:
        """The row of each entry."""
        return self.majors if self.by_rows else self.minors

    @property
    def w(self) -> np.ndarray:
        """Each entry's weight (1 when unweighted)."""
        return np.ones(self.values.size) if self.weights is None else self.weights


def _major_blocks(sc: SparseScores, chunk: int) -> list:
    """Ranges of whole majors of about a sixteenth of ``chunk`` entries (numpy passes)."""
    return _parts(sc.indptr, max(1, -(-int(sc.indptr[-1]) // max(1, chunk >> 4))))


def _block(sc: SparseScores, m0: int, m1: int, labels: bool = True) -> _Block:
    """The present entries of majors ``m0:m1``, with (``labels``) whether each is a positive."""
    e0, e1 = int(sc.indptr[m0]), int(sc.indptr[m1])
    majors = np.repeat(np.arange(m0, m1, dtype=np.int64), np.diff(sc.indptr[m0 : m1 + 1]))
    minors = np.asarray(sc.indices[e0:e1], dtype=np.int64)
    values = sc.data[e0:e1]
    positive = None
    if labels:
        n_minor = np.int64(sc.shape[1] if sc.by_rows else sc.shape[0])
        y0, y1 = int(sc.y_indptr[m0]), int(sc.y_indptr[m1])
        y_majors = np.repeat(np.arange(m0, m1, dtype=np.int64), np.diff(sc.y_indptr[m0 : m1 + 1]))
        y_keys = y_majors * n_minor + np.asarray(sc.y_indices[y0:y1], dtype=np.int64)
        keys = majors * n_minor + minors
        positive = np.zeros(keys.size, dtype=bool)
        if y_keys.size:
            at = np.minimum(np.searchsorted(y_keys, keys), y_keys.size - 1)
            positive = y_keys[at] == keys
    weights = None
    if sc.weights is not None:
        weights = sc.weights[majors if sc.by_rows else minors]
        keep = weights > 0
        majors, minors, values, weights = majors[keep], minors[keep], values[keep], weights[keep]
        positive = None if positive is None else positive[keep]
    return _Block(majors, minors, values, weights, positive, sc.by_rows)


def stored_positives(
    sc: SparseScores, compiled=None, n_parts: int = 1, chunk: int = 1 << 24, map_parts=_serial_map
):  # fmt: skip
    """The stored entries that are positives, in the matrix's order.

    Parameters
    ----------
    sc : SparseScores
    compiled : module, optional
        :mod:`f1opt.kernels.compiled` for the compiled merge (same result).
    n_parts : int, default=1
        Ranges of majors the compiled merge runs on (one per thread).
    chunk : int, default=2**24
        Stored entries per pass (a sixteenth of it per numpy block).
    map_parts : callable, optional
        ``map_parts(job, parts) -> [job(part), ...]``: the engine passes one
        running the parts on its threads (the compiled kernels release the
        GIL); default one after the other.

    Returns
    -------
    labels : ndarray of int64 of shape (n_stored_positives,)
    values : ndarray of shape (n_stored_positives,)
        Their scores (dtype of ``sc.data``).
    weights : ndarray of float64 of shape (n_stored_positives,) or None
    """
    weighted = sc.weights is not None
    if compiled is not None:
        w = _NONE_F if sc.weights is None else sc.weights

        def job(part):
            m0, m1 = part
            cap = int(sc.y_indptr[m1] - sc.y_indptr[m0])
            labels = np.empty(cap, dtype=np.int64)
            values = np.empty(cap, dtype=sc.data.dtype)
            weights = np.empty(cap if weighted else 0)
            n = compiled.sparse_positives(
                sc.indptr, sc.indices, sc.data, sc.y_indptr, sc.y_indices, w, sc.by_rows,
                m0, m1, labels, values, weights,
            )  # fmt: skip
            return labels[:n], values[:n], weights[:n]

        found = _run(job, _parts(sc.indptr, n_parts), map_parts, True)
    else:
        found = []
        for m0, m1 in _major_blocks(sc, chunk):
            b = _block(sc, m0, m1)
            is_pos = b.positive
            found.append(
                (
                    b.labels[is_pos],
                    b.values[is_pos],
                    None if b.weights is None else b.weights[is_pos],
                )
            )
    if not found:
        empty = np.empty(0)
        return np.empty(0, np.int64), sc.data[:0], empty if weighted else None
    labels = np.concatenate([f[0] for f in found])
    values = np.concatenate([f[1] for f in found])
    weights = np.concatenate([f[2] for f in found]) if weighted else None
    return labels, values, weights


def _reversed_keys(values: np.ndarray) -> np.ndarray:
    """uint64 keys ordering the scores from the highest (float32-rounded, like the kernels)."""
    return (~keys32(values)).astype(np.uint64)


def _candidates(labels, values, weights, n_groups: int):
    """Candidates from the stored positives: keys, scores, positives at each, sizes.

    Returns
    -------
    keys : ndarray of uint64 of shape (n_candidates + 1,)
        ``label << 32 | reversed key`` of each candidate, ascending, then the sentinel.
    values : ndarray of float64 of shape (n_candidates,)
        Distinct scores of each label's positives, label after label, descending.
    tp : ndarray of float64 of shape (n_candidates,)
        (Weighted) positives at exactly each value.
    sizes : ndarray of int64 of shape (n_groups,)
    """
    key = labels.astype(np.uint64)
    key <<= np.uint64(32)
    key |= _reversed_keys(values)
    w = None
    if values.dtype == np.float32 and weights is None:
        key.sort()  # the key is the whole entry: value and label read back from it
        v = key_values(~key.astype(np.uint32))  # the low 32 bits
        g = (key >> np.uint64(32)).astype(np.int64)
    else:
        if values.dtype == np.float32:
            order = np.argsort(key, kind="stable")
        else:  # keys may tie distinct float64 scores: order by the exact score
            order = np.lexsort((-values, labels))
        key, g, v = key[order], labels[order], values[order].astype(np.float64)
        w = None if weights is None else weights[order]
    m = v.size
    is_last = np.ones(m, dtype=bool)
    is_last[:-1] = (v[1:] != v[:-1]) | (g[1:] != g[:-1])
    last = np.flatnonzero(is_last)
    if w is None:
        tp = np.diff(np.concatenate(([-1], last))).astype(np.float64)
    else:
        tp = np.add.reduceat(w, np.concatenate(([0], last[:-1] + 1))) if m else np.empty(0)
    sizes = np.bincount(g[last], minlength=n_groups).astype(np.int64)
    keys = np.append(key[last], _SENTINEL)
    return keys, v[last], tp, sizes


def _segment_cumsum(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Running sum of ``x`` within consecutive segments of the given sizes."""
    running = np.cumsum(x)
    ends = np.cumsum(sizes)
    before = np.where(ends - sizes > 0, running[np.maximum(ends - sizes - 1, 0)], 0.0)
    return running - np.repeat(before, sizes)


def _count_compiled(sc, pooled, low, cand_keys, cand_values, compiled, n_parts, map_parts, chunk):
    n_cand = cand_values.size
    exact = sc.data.dtype != np.float32
    weighted = sc.weights is not None
    w = _NONE_F if sc.weights is None else sc.weights
    if exact or weighted:  # the exact scores and weights follow the keys: a smaller chunk
        chunk = max(1, chunk // 8)

    def job(part):
        counts = np.zeros(n_cand + 1)
        highest = np.full(n_cand + 1, -np.inf)
        bounds = np.empty((low.size, 2), dtype=sc.data.dtype)  # lowest candidate, highest below
        bounds[:, 0] = low
        bounds[:, 1] = -np.inf
        e_start, e_stop = int(sc.indptr[part[0]]), int(sc.indptr[part[1]])
        size = max(1, min(chunk, e_stop - e_start))
        keys = np.empty(size, dtype=np.uint64)
        values = np.empty(size if exact else 0, dtype=np.float64)
        weights = np.empty(size if weighted else 0)
        for e0 in range(e_start, e_stop, size):
            n = compiled.sparse_compact(
                sc.indptr, sc.indices, sc.data, w, sc.by_rows, pooled, e0,
                min(e0 + size, e_stop), bounds, keys, values, weights,
            )  # fmt: skip
            k, v, kw = keys[:n], values[:n], weights[:n]
            if exact or weighted:
                order = np.argsort(k, kind="stable")
                k = k[order]
                v = v[order] if exact else v
                kw = kw[order] if weighted else kw
            else:
                k.sort()
            compiled.sparse_merge(k, v, kw, cand_keys, cand_values, counts, highest)
        return counts, highest, bounds[:, 1]

    found = _run(job, _parts(sc.indptr, n_parts), map_parts, True)
    counts, highest, below_low = found[0][0], found[0][1], found[0][2].astype(np.float64)
    for f in found[1:]:  # in place: these are as long as the candidates
        counts += f[0]
        np.maximum(highest, f[1], out=highest)
        np.maximum(below_low, f[2], out=below_low)
    return counts[:n_cand], highest[:n_cand], below_low


def _count_numpy(sc, pooled, low, cand_keys, cand_values, chunk):
    n_cand = cand_values.size
    counts = np.zeros(n_cand + 1)
    highest = np.full(n_cand + 1, -np.inf)
    below_low = np.full(low.size, -np.inf)
    padded = np.append(cand_values, -np.inf)
    for m0, m1 in _major_blocks(sc, chunk):
        b = _block(sc, m0, m1, labels=False)
        v, w = b.values, b.weights
        j = np.zeros(v.size, np.int64) if pooled else b.labels
        above = v >= low[j]
        np.maximum.at(below_low, j[~above], v[~above].astype(np.float64))
        j, v = j[above], v[above]
        w = None if w is None else w[above]
        keys = (j.astype(np.uint64) << np.uint64(32)) | _reversed_keys(v)
        order = np.argsort(keys, kind="stable")  # sorted needles: a much faster search
        keys, v = keys[order], v[order]
        w = None if w is None else w[order]
        q = np.searchsorted(cand_keys, keys, side="left")
        v = v.astype(np.float64)
        if sc.data.dtype != np.float32:  # candidates sharing the rounded key: exactly
            later = (cand_keys[q] == keys) & (padded[q] > v)
            while later.any():
                q[later] += 1
                later[later] = (cand_keys[q[later]] == keys[later]) & (padded[q[later]] > v[later])
        counts += np.bincount(q, weights=w, minlength=n_cand + 1)
        np.maximum.at(highest, q, v)
    return counts[:n_cand], highest[:n_cand], below_low


def cut_candidates(
    sc: SparseScores, n_positives, *, pooled: bool = False, dtype=np.float64, compiled=None,
    n_parts: int = 1, chunk: int = 1 << 24, map_parts=_serial_map,
) -> FlatCandidates:  # fmt: skip
    """Cut candidates of every label (or of all entries pooled) of sparse scores.

    Each label's candidates are those :func:`f1opt.kernels.cuts.cut_candidates`
    gives on its stored entries (unstored entries are never predicted), with
    the positives counted over all of its entries; the stored entries are not
    sorted as a whole: only the stored positives are, and the entries at or
    above their label's lowest candidate are sorted chunk by chunk.

    Parameters
    ----------
    sc : SparseScores
    n_positives : ndarray of shape (n_labels,), or float when ``pooled``
        (Weighted) positives of each label over all of its entries, stored or not.
    pooled : bool, default=False
        One group of every entry (the global micro search) instead of one per label.
    dtype : numpy dtype, default=np.float64
        Dtype of the thresholds.
    compiled : module, optional
        :mod:`f1opt.kernels.compiled` for the compiled passes (same result).
    n_parts : int, default=1
        Ranges of majors the compiled passes run on (one per thread).
    chunk : int, default=2**24
        Stored entries per pass (memory of their keys; an eighth of it with
        weights or float64 scores, which follow the keys).
    map_parts : callable, optional
        See :func:`stored_positives`.

    Returns
    -------
    candidates : FlatCandidates
        One label per column (one in all when ``pooled``).
    """
    n_groups = 1 if pooled else sc.n_labels
    labels, values, weights = stored_positives(sc, compiled, n_parts, chunk, map_parts)
    if pooled:
        labels = np.zeros(labels.size, dtype=np.int64)
    if compiled is not None and values.dtype == np.float32 and weights is None:
        keys = labels.astype(np.uint64)
        keys <<= np.uint64(32)
        keys |= _reversed_keys(values)
        keys.sort()
        cand_keys, cand_values, tp_at, sizes = compiled.sparse_candidates(keys, n_groups)
        del keys
    else:
        cand_keys, cand_values, tp_at, sizes = _candidates(labels, values, weights, n_groups)
    n_positives = np.atleast_1d(np.asarray(n_positives, dtype=np.float64))
    if cand_values.size == 0:
        e = np.empty(0)
        return FlatCandidates(e, e, e, e, sizes, n_positives, dtype)
    ends = np.cumsum(sizes)
    has = sizes > 0
    low = np.full(n_groups, np.inf, dtype=sc.data.dtype)
    low[has] = cand_values[ends[has] - 1]
    if compiled is not None:
        counts, highest, below_low = _count_compiled(
            sc, pooled, low, cand_keys, cand_values, compiled, n_parts, map_parts, chunk
        )
    else:
        counts, highest, below_low = _count_numpy(sc, pooled, low, cand_keys, cand_values, chunk)
    # the highest score strictly below a candidate: the highest entry counted at
    # the next candidate of its label (which holds it), or below the lowest one
    if compiled is not None:
        k, tp, below = compiled.sparse_finish(counts, tp_at, highest, below_low, sizes)
    else:
        k = _segment_cumsum(counts, sizes)
        tp = _segment_cumsum(tp_at, sizes)
        below = np.empty(cand_values.size)
        below[:-1] = highest[1:]
        below[ends[has] - 1] = below_low[has]
    return FlatCandidates(cand_values, below, tp, k, sizes, n_positives, dtype)


def entries_above(
    sc: SparseScores, low: float, group_by_label: bool, *, compiled=None, n_parts: int = 1,
    chunk: int = 1 << 24, map_parts=_serial_map,
):  # fmt: skip
    """The stored entries scoring at least ``low``, with label, group and weight.

    Below the lowest stored positive a cut only adds negatives, which lowers
    every group's F: these entries are all an exact sweep needs (when the
    bucket plan of :func:`grouped_search` declines).

    Parameters
    ----------
    sc : SparseScores
    low : float
        The lowest stored positive's score (no optimal cut reaches below it).
    group_by_label : bool
        Group of an entry: its label (macro, weighted) or its row (samples).
    compiled, n_parts, chunk, map_parts
        See :func:`cut_candidates`.

    Returns
    -------
    values : ndarray of shape (m,)
    labels : ndarray of uint8 of shape (m,)
    groups : ndarray of int64 of shape (m,)
    weights : ndarray of float64 of shape (m,) or None
    below : float
        The highest stored entry below ``low`` (``-inf`` if none).
    """
    weighted = sc.weights is not None
    if compiled is not None:
        w = _NONE_F if sc.weights is None else sc.weights
        parts = _parts(sc.indptr, n_parts)
        none = np.empty(0, np.int64)

        def gather(part, out):
            values, labels, groups, weights = out
            return compiled.sparse_gather(
                sc.indptr, sc.indices, sc.data, sc.y_indptr, sc.y_indices, w, sc.by_rows,
                group_by_label, low, part[0], part[1], values, labels, groups, weights,
            )  # fmt: skip

        empty = (sc.data[:0], np.empty(0, np.uint8), none, _NONE_F)
        sized = _run(lambda part: gather(part, empty), parts, map_parts, True)
        offsets = np.concatenate(([0], np.cumsum([n for n, _ in sized])))
        total = int(offsets[-1])
        values = np.empty(total, dtype=sc.data.dtype)
        labels = np.empty(total, dtype=np.uint8)
        groups = np.empty(total, dtype=np.int64)
        weights = np.empty(total if weighted else 0)

        def fill(i):
            sl = slice(int(offsets[i]), int(offsets[i + 1]))
            out = (values[sl], labels[sl], groups[sl], weights[sl] if weighted else _NONE_F)
            return gather(parts[i], out)

        _run(fill, list(range(len(parts))), map_parts, True)
        below = max([b for _, b in sized], default=-np.inf)
        return values, labels, groups, (weights if weighted else None), float(below)
    found, below = [], -np.inf
    for m0, m1 in _major_blocks(sc, chunk):
        b = _block(sc, m0, m1)
        labels, rows, v, w, positive = b.labels, b.rows, b.values, b.weights, b.positive
        above = v >= low
        if (~above).any():
            below = max(below, float(v[~above].max()))
        groups = labels if group_by_label else rows
        found.append(
            (v[above], positive[above].astype(np.uint8), groups[above].astype(np.int64),
             None if w is None else w[above])
        )  # fmt: skip
    if not found:
        return sc.data[:0], np.empty(0, np.uint8), np.empty(0, np.int64), None, below
    cat = np.concatenate
    weights = cat([f[3] for f in found]) if weighted else None
    gathered = (cat([f[0] for f in found]), cat([f[1] for f in found]), cat([f[2] for f in found]))
    return gathered + (weights, float(below))


def group_major(sc: SparseScores, by_label: bool) -> SparseScores:
    """The scores in the layout whose majors are the groups (CSC for labels, CSR for rows).

    A transposed copy (the matrix's bytes once more) when the layout differs.
    """
    if sc.by_rows != by_label:
        return sc
    import scipy.sparse as sp

    cls = sp.csr_array if sc.by_rows else sp.csc_array
    s = cls((sc.data, sc.indices, sc.indptr), shape=sc.shape)
    y = cls((np.ones(sc.y_indices.size, np.int8), sc.y_indices, sc.y_indptr), shape=sc.shape)
    s, y = (s.tocsc(), y.tocsc()) if sc.by_rows else (s.tocsr(), y.tocsr())
    return SparseScores(
        s.indptr, s.indices, s.data, y.indptr, y.indices, not sc.by_rows, sc.shape, sc.weights
    )


def _deltas_numpy(sc, m0, m1, shift, p, gw, beta, zero_division, out):
    """The numpy walk of :func:`f1opt.kernels.compiled.sparse_group_deltas` on majors m0:m1."""
    from ..metrics import fbeta_from_counts

    b = _block(sc, m0, m1)
    majors, values, positive, w = b.majors, b.values, b.positive, b.w
    if values.size == 0:
        return
    keys = keys32(values)
    packed = ((majors - m0).astype(np.uint64) << np.uint64(32)) | (~keys).astype(np.uint64)
    order = np.argsort(packed)  # each major from its top key (ties: same bucket, any order)
    del packed
    g, b = majors[order], (keys[order] >> np.uint32(shift)).astype(np.int64)
    ww = w[order]
    yw = positive[order] * ww
    tp = _segment_cumsum(yw, np.bincount(g - m0, minlength=m1 - m0))
    k = _segment_cumsum(ww, np.bincount(g - m0, minlength=m1 - m0))
    last = np.ones(g.size, dtype=bool)
    last[:-1] = (g[1:] != g[:-1]) | (b[1:] != b[:-1])
    ends = np.flatnonzero(last)
    first_run = np.ones(ends.size, dtype=bool)
    first_run[1:] = g[ends[1:]] != g[ends[:-1]]
    tp_end, k_end, bb, gg = tp[ends], k[ends], b[ends], g[ends]
    tp_start = np.where(first_run, 0.0, np.roll(tp_end, 1))
    k_start = np.where(first_run, 0.0, np.roll(k_end, 1))
    pr, gr = p[gg], gw[gg]
    f0 = fbeta_from_counts(tp_start, k_start, pr, beta, zero_division)
    f1 = fbeta_from_counts(tp_end, k_end, pr, beta, zero_division)
    ub = fbeta_from_counts(tp_end, k_start + tp_end - tp_start, pr, beta, zero_division)
    n_buckets = out[0].size
    out[0][:] += np.bincount(bb, weights=gr * (f1 - f0), minlength=n_buckets)
    out[1][:] += np.bincount(bb, weights=gr * (ub - f0), minlength=n_buckets)
    out[2][:] += np.bincount(bb, weights=np.diff(np.concatenate(([-1], ends))), minlength=n_buckets)


def _range_numpy(sc, m0, m1, lo_key, hi_key, tp0, k0):
    """The numpy gather of :func:`f1opt.kernels.compiled.sparse_group_range` on majors m0:m1."""
    b = _block(sc, m0, m1)
    majors, values, positive, w = b.majors, b.values, b.positive, b.w
    keys = keys32(values)
    up, down = keys > hi_key, keys < lo_key
    above = float(values[up].min()) if up.any() else np.inf
    below = float(values[down].max()) if down.any() else -np.inf
    tp0 += np.bincount(majors[up] - m0, weights=positive[up] * w[up], minlength=m1 - m0)
    k0 += np.bincount(majors[up] - m0, weights=w[up], minlength=m1 - m0)
    inside = ~(up | down)
    weights = None if sc.weights is None else w[inside]
    gathered = (values[inside], positive[inside].astype(np.uint8), majors[inside], weights)
    return gathered, above, below


def _lowest_positive(sc, compiled, n_parts, map_parts, chunk) -> float:
    _, values, _ = stored_positives(sc, compiled, n_parts, chunk, map_parts)
    return float(values.min()) if values.size else np.inf


def _gather_range(sc, lo_key, hi_key, tp0, k0, compiled, map_parts, parts):
    """Entries in the key range (values, labels, groups, weights), counts above, outside scores."""
    if compiled is None:
        found = [_range_numpy(sc, a, b, lo_key, hi_key, tp0[a:b], k0[a:b]) for a, b in parts]
        gathered = [f[0] for f in found]
        cat = np.concatenate
        weights = None if sc.weights is None else cat([g[3] for g in gathered])
        out = tuple(cat([g[i] for g in gathered]) for i in range(3)) + (weights,)
        return out, min(f[1] for f in found), max(f[2] for f in found)
    w = _NONE_F if sc.weights is None else sc.weights
    weighted = sc.weights is not None

    def gather(part, out, tp, k):
        return compiled.sparse_group_range(
            sc.indptr, sc.indices, sc.data, sc.y_indptr, sc.y_indices, w, sc.by_rows,
            part[0], part[1], lo_key, hi_key, *out, tp, k,
        )  # fmt: skip

    empty = (sc.data[:0], np.empty(0, np.uint8), _NONE_F, np.empty(0, np.int64))
    sized = _run(lambda part: gather(part, empty, tp0, k0), parts, map_parts, True)
    offsets = np.concatenate(([0], np.cumsum([f[0] for f in sized]))).astype(np.int64)
    total = int(offsets[-1])
    values = np.empty(total, dtype=sc.data.dtype)
    labels = np.empty(total, dtype=np.uint8)
    weights = np.empty(total if weighted else 0)
    groups = np.empty(total, dtype=np.int64)
    scratch = np.zeros(sc.n_majors), np.zeros(sc.n_majors)  # the counts above are made

    def fill(i):
        sl = slice(int(offsets[i]), int(offsets[i + 1]))
        out = (values[sl], labels[sl], weights[sl] if weighted else _NONE_F, groups[sl])
        return gather(parts[i], out, *scratch)

    _run(fill, list(range(len(parts))), map_parts, True)
    above = min(f[1] for f in sized)
    below = max(f[2] for f in sized)
    return (values, labels, groups, weights if weighted else None), above, below


def _counts_at(sc, threshold, compiled, map_parts, parts):
    """Each major's (weighted) positives and entries scoring at least ``threshold``."""
    tp = np.zeros(sc.n_majors)
    k = np.zeros(sc.n_majors)
    if compiled is None:
        for a, b in parts:
            block = _block(sc, a, b)
            majors, values, positive, w = block.majors, block.values, block.positive, block.w
            at = values >= threshold
            tp[a:b] += np.bincount(majors[at] - a, weights=positive[at] * w[at], minlength=b - a)
            k[a:b] += np.bincount(majors[at] - a, weights=w[at], minlength=b - a)
        return tp, k
    w = _NONE_F if sc.weights is None else sc.weights

    def count(part):
        compiled.sparse_group_counts(
            sc.indptr, sc.indices, sc.data, sc.y_indptr, sc.y_indices, w, sc.by_rows,
            float(threshold), part[0], part[1], tp, k,
        )  # fmt: skip

    _run(count, parts, map_parts, True)
    return tp, k


def grouped_search(
    sc: SparseScores, by_label: bool, gw, p, beta, zero_division, dtype, bits: int, *,
    compiled=None, n_parts: int = 1, chunk: int = 1 << 24, max_fraction: float = 0.25,
    map_parts=_serial_map,
):  # fmt: skip
    """Exact best global threshold for macro / weighted (labels) or samples (rows) F-beta.

    The bucket search of :func:`f1opt.kernels.buckets.bucketed_grouped_sweep`
    on sparse scores, a group per major (CSC for labels, CSR for rows: a
    transposed copy when the layout differs): each group's entries, sorted,
    give every bucket's exact change of the objective across it and the most
    a cut inside it can gain (:func:`f1opt.kernels.buckets.plan_range` then
    keeps the key range that can hold the optimum); one more pass gathers
    that range, with every group's counts above it, and the grouped sweep
    (:func:`f1opt.kernels.cuts.grouped_sweep`, with the group weights as
    given, so that exact ties stay ties) solves it exactly. When the range
    is most of the entries, or the empty cut is nearly best, every entry from
    the lowest stored positive up is swept instead (memory of those entries).

    Parameters
    ----------
    sc : SparseScores
    by_label : bool
        Groups are the labels (macro, weighted) or the rows (samples).
    gw, p : ndarray
        Weight (any scale) and (weighted) positives of each group.
    beta, zero_division : float
    dtype : numpy dtype of the threshold
    bits : int
        Key bits naming a bucket.
    compiled, n_parts, chunk, map_parts
        See :func:`cut_candidates`.
    max_fraction : float, default=0.25

    Returns
    -------
    threshold, score : float
    """
    from ..metrics import fbeta_from_counts
    from .buckets import plan_range
    from .cuts import grouped_sweep

    gw_raw = np.asarray(gw, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    total_gw = float(gw_raw.sum())
    if total_gw <= 0:
        return np.inf, float(zero_division)
    g_norm = gw_raw / total_gw
    sc = group_major(sc, by_label)
    shift = 32 - bits
    n_buckets = 1 << bits
    w = _NONE_F if sc.weights is None else sc.weights
    threaded = compiled is not None

    def deltas(part):
        out = tuple(np.zeros(n_buckets) for _ in range(3))
        if compiled is None:
            _deltas_numpy(sc, part[0], part[1], shift, p, g_norm, beta, zero_division, out)
            return out
        compiled.sparse_group_deltas(
            sc.indptr, sc.indices, sc.data, sc.y_indptr, sc.y_indices, w, sc.by_rows,
            part[0], part[1], shift, p, g_norm, beta * beta, float(zero_division), *out,
        )  # fmt: skip
        return out

    parts = _parts(sc.indptr, n_parts) if threaded else _major_blocks(sc, chunk)
    found = _run(deltas, parts, map_parts, threaded)
    delta, gain, sizes = (sum(f[i] for f in found[1:]) + found[0][i] for i in range(3))
    m = int(sizes.sum())
    base = float((g_norm * np.where(p > 0, 0.0, zero_division)).sum())
    plan = plan_range(delta, gain, sizes, base, m, bits, max_fraction) if m else None
    if plan is None:
        low = _lowest_positive(sc, compiled, n_parts, map_parts, chunk)
        values, labels, groups, weights, below = entries_above(
            sc,
            low,
            by_label,
            compiled=compiled,
            n_parts=n_parts,
            chunk=chunk,
            map_parts=map_parts,
        )
        return grouped_sweep(
            values, labels, groups, gw_raw, p, beta, zero_division, weights, dtype,
            compiled=compiled, outside=(np.inf, below),
        )  # fmt: skip
    lo_key, hi_key = np.uint32(plan["lo_key"]), np.uint32(plan["hi_key"])
    tp0 = np.zeros(sc.n_majors)
    k0 = np.zeros(sc.n_majors)
    gathered, above, below = _gather_range(sc, lo_key, hi_key, tp0, k0, compiled, map_parts, parts)
    values, labels, groups, weights = gathered  # groups non-decreasing (major after major)
    g_w, g_p, start = gw_raw, p, (tp0, k0)
    if not by_label:  # only the rows touched by the range change across it
        ids = np.unique(groups)
        groups = np.searchsorted(ids, groups)
        g_w, g_p, start = gw_raw[ids], p[ids], (tp0[ids], k0[ids])
    # the group weights as given (not normalised): the sweep's exact re-check of
    # near-ties then keeps exact ties, and the fewest predictions among them
    threshold, _ = grouped_sweep(
        values, labels, groups, g_w, g_p, beta, zero_division, weights, dtype,
        compiled=compiled, start=start, outside=(above, below),
    )  # fmt: skip
    # the score from every group's counts at the threshold, as the full sweep makes it
    tp, k = _counts_at(sc, threshold, compiled, map_parts, parts)
    score = float((g_norm * fbeta_from_counts(tp, k, p, beta, zero_division)).sum())
    return threshold, score
