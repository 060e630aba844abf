"""Exact threshold searches on Dask collections, out of core (the ``dask`` extra).

The exact F-beta search needs only counts (see :mod:`f1opt._buckets`):

1. each partition counts its scores and positives per bucket of an
   order-preserving key of the float32 bits; the counts add up across
   partitions in a tree reduction;
2. on the client the counts give the exact F at every bucket edge and a bound
   inside every bucket, which selects the few buckets that can hold the optimum;
3. a second pass returns from each partition only the scores (and labels) of
   those buckets, and the maximum of the next non-empty bucket below each,
   which are solved exactly.

The scores are never gathered: the client holds the bucket counts and the
scores of the selected buckets (a small fraction for any spread of scores).
The result is the one of the in-memory search on the same data: same
threshold, same score, same tie rule. It runs wherever Dask runs: the local
threaded scheduler on a laptop, or a ``distributed`` cluster unchanged (the
active client is used).

Supported: :func:`optimal_threshold` (binary), :class:`f1opt.GlobalThreshold`
with ``average="binary"`` or ``"micro"``, and :class:`f1opt.PerClassThreshold`
with ``average="micro"``, ``"macro"`` or ``"weighted"``, on Dask arrays, Dask
dataframe columns, and Parquet files (:func:`fit_parquet`).

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014.
.. [2] W. Dinkelbach. "On nonlinear fractional programming." Management
   Science 13(7), 1967.
"""

from __future__ import annotations

import numpy as np

from . import _buckets
from ._validation import check_beta, check_scores_and_labels
from .metrics import average_fbeta
from .thresholds import (
    ThresholdResult,
    best_cut,
    is_dask_collection,
    solve_per_label,
)

__all__ = ["optimal_threshold", "fit_parquet", "is_dask_collection"]

_BINARY_BITS = 18
_MAX_GATHER = 1 << 22


def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.array  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "f1opt.distributed requires dask. Install it with `pip install f1opt[dask]`."
        ) from None


# ---------------------------------------------------------------- partitions


def _is_dask_array(x) -> bool:
    return is_dask_collection(x) and hasattr(x, "chunks") and hasattr(x, "rechunk")


def _as_dask_array(x):
    """A Dask array for any Dask collection (dataframes get their lengths computed)."""
    if _is_dask_array(x):
        return x
    return x.to_dask_array(lengths=True)


def _partition_pairs(scores, y):
    """Pair the partitions of scores and labels: a list of (scores, labels) delayed blocks."""
    import dask.array as da

    if not is_dask_collection(scores) or not is_dask_collection(y):
        # one side in memory: give it the partitions of the other
        dask_side = _as_dask_array(scores if is_dask_collection(scores) else y)
        chunks = dask_side.chunks[0]
        other = np.asarray(y if is_dask_collection(scores) else scores)
        other = da.from_array(other, chunks=(chunks,) + tuple((n,) for n in other.shape[1:]))
        scores, y = (dask_side, other) if is_dask_collection(scores) else (other, dask_side)
    both_frames = not _is_dask_array(scores) and not _is_dask_array(y)
    if not both_frames or scores.npartitions != y.npartitions:
        scores, y = _as_dask_array(scores), _as_dask_array(y)
        if scores.ndim == 2:
            scores = scores.rechunk({1: -1})
        if y.ndim == 2:
            y = y.rechunk({1: -1})
        if scores.shape[0] != y.shape[0]:
            raise ValueError(
                f"`scores` and `y` must have the same length, but got {scores.shape[0]} "
                f"and {y.shape[0]}."
            )
        if scores.chunks[0] != y.chunks[0]:
            y = y.rechunk({0: scores.chunks[0]})
    return list(zip(_delayed_blocks(scores), _delayed_blocks(y), strict=True))


def _delayed_blocks(x):
    blocks = x.to_delayed()
    return list(np.asarray(blocks, dtype=object).ravel()) if _is_dask_array(x) else list(blocks)


def _check_block(scores, y, multilabel: bool, index: int):
    """Validate one partition like the in-memory search validates the whole input."""
    if hasattr(scores, "to_numpy"):
        scores = scores.to_numpy()
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    scores, y = np.asarray(scores), np.asarray(y)
    if not multilabel and scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores.ravel()
    if scores.shape[0] == 0 and y.shape[0] == 0:
        dtype = scores.dtype if scores.dtype == np.float32 else np.float64
        width = (scores.shape[1],) if multilabel and scores.ndim == 2 else ()
        return np.empty((0,) + width, dtype=dtype), np.empty((0,) + width, dtype=np.int8)
    try:
        scores, y = check_scores_and_labels(scores, y, multilabel=multilabel)
    except ValueError as exc:
        raise ValueError(f"{str(exc).rstrip('.')} (in partition {index}).") from None
    if multilabel:
        scores, y = np.ascontiguousarray(scores), np.ascontiguousarray(y)
    return scores, y


def _count_block(scores, y, mode, bmap, index):
    """Pass 1 on one partition of one label (or all entries pooled).

    Returns ``(counts, all_float32)``: counts of shape (2, n_buckets).
    """
    scores, y = _check_block(scores, y, mode != "binary", index)
    counts = _buckets.bucket_counts(scores.ravel(), y.ravel(), bmap)
    return counts, scores.dtype == np.float32 or scores.size == 0


def _add_counts(a, b):
    return a[0] + b[0], a[1] and b[1]


def _gather_block(scores, y, roles, mode, bmap, index):
    """Pass 2 on one partition: ``(values, labels, buckets, maxima of the role-2 buckets)``."""
    scores, y = _check_block(scores, y, mode != "binary", index)
    values, labels, buckets, maxima = _buckets.gather(scores.ravel(), y.ravel(), roles, bmap)
    return values, labels, buckets, maxima[roles == 2]


def _merge_gathered(a, b):
    return (
        np.concatenate([a[0], b[0]]),
        np.concatenate([a[1], b[1]]),
        np.concatenate([a[2], b[2]]),
        np.maximum(a[3], b[3]),
    )


def _count_block_per_label(scores, y, bits, index):
    """Pass 1 on one partition, per label: counts of shape (n_labels, 2, 2**bits)."""
    scores, y = _check_block(scores, y, True, index)
    if scores.shape[0] == 0:
        return np.zeros((scores.shape[1] if scores.ndim == 2 else 0, 2, 1 << bits), np.int64)
    return _buckets.per_label_counts(scores, y, bits)


def _add_per_label(a, b):
    if a.shape != b.shape:
        raise ValueError(
            "The partitions of `scores` have different numbers of label columns "
            f"({a.shape[0]} and {b.shape[0]})."
        )
    return a + b


def _gather_block_per_label(scores, y, roles, bits, index):
    """Pass 2 on one partition, per label: a list of ``_gather_block`` results."""
    scores, y = _check_block(scores, y, True, index)
    if scores.shape[0] == 0:
        return None
    counts = _buckets.per_label_counts(scores, y, bits)
    gathered = _buckets.per_label_gather(scores, y, roles, counts, bits)
    return [(v, lab, b, m[roles[j] == 2]) for j, (v, lab, b, m) in enumerate(gathered)]


def _merge_per_label(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return [_merge_gathered(x, z) for x, z in zip(a, b, strict=True)]


def _tree_reduce(parts, fn):
    from dask import delayed

    parts = list(parts)
    while len(parts) > 1:
        parts = [
            delayed(fn, pure=True)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def _one_label_candidates(pairs, mode, beta, bits, max_gather):
    """Two passes (three when the first buckets are too coarse) for one label or pooled."""
    import dask
    from dask import delayed

    def count(bmap):
        shared = delayed(bmap)  # one key in the graph, not one copy per task
        parts = [
            delayed(_count_block, pure=True)(s, y, mode, shared, i)
            for i, (s, y) in enumerate(pairs)
        ]
        counts, all_float32 = dask.compute(_tree_reduce(parts, _add_counts))[0]
        if counts[0].sum() == 0:
            raise ValueError("`scores` is empty; at least one sample is needed.")
        return counts, all_float32

    def gather(roles, bmap, capacity):
        shared_roles, shared_map = delayed(roles), delayed(bmap)
        parts = [
            delayed(_gather_block, pure=True)(s, y, shared_roles, mode, shared_map, i)
            for i, (s, y) in enumerate(pairs)
        ]
        values, labels, buckets, second = dask.compute(_tree_reduce(parts, _merge_gathered))[0]
        maxima = np.full(roles.shape[0], -np.inf)
        maxima[roles == 2] = second
        return values, labels, buckets, maxima

    return _buckets.two_pass_candidates(count, gather, beta, bits, max_gather)


def _per_label_candidates(pairs, beta, average, bits, max_iter=100):
    """The two passes for every label at once: pruned exact cut candidates per label."""
    import dask
    from dask import delayed

    parts = [
        delayed(_count_block_per_label, pure=True)(s, y, bits, i) for i, (s, y) in enumerate(pairs)
    ]
    counts = dask.compute(_tree_reduce(parts, _add_per_label))[0]
    if counts[:, 0].sum() == 0:
        raise ValueError("`scores` is empty; at least one sample is needed.")
    roles = _buckets.plan_per_label(counts, beta, average, max_iter)
    shared_roles = delayed(roles)
    parts = [
        delayed(_gather_block_per_label, pure=True)(s, y, shared_roles, bits, i)
        for i, (s, y) in enumerate(pairs)
    ]
    gathered = dask.compute(_tree_reduce(parts, _merge_per_label))[0]
    candidates = []
    n_buckets = counts.shape[2]
    for j in range(counts.shape[0]):
        maxima = np.full(n_buckets, -np.inf)
        if gathered is None:
            values = np.empty(0)
            labels = np.empty(0, np.uint8)
            buckets = np.empty(0, np.int32)
        else:
            values, labels, buckets, second = gathered[j]
            maxima[roles[j] == 2] = second
        candidates.append(
            _buckets.candidates_from_gathered(counts[j], values, labels, buckets, maxima)
        )
    return candidates


# ---------------------------------------------------------------- public searches


def optimal_threshold(
    y_true, scores, beta: float = 1.0, *, bits: int = _BINARY_BITS, max_gather: int | None = None
):
    """Exact F-beta-optimal threshold of binary scores held in Dask collections.

    Same contract as :func:`f1opt.optimal_threshold` (which calls this for
    Dask input): the same threshold and score as the in-memory search, from
    two passes of counting, never gathering the scores.

    Parameters
    ----------
    y_true : dask array or dask Series of shape (n_samples,)
        0/1 labels; at least one must be 1.
    scores : dask array or dask Series of shape (n_samples,)
    beta : float, default=1.0
    bits : int, default=18
        Key bits naming a bucket (more buckets: a smaller second pass).
    max_gather : int, default=2**22
        Most scores the second pass may bring to the client before the
        buckets to solve are first split by up to 14 more key bits (one more
        counting pass). Float32 scores split down to single values need no
        gather at all, however concentrated or tied they are.

    Returns
    -------
    result : f1opt.ThresholdResult

    References
    ----------
    .. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
       classifiers to maximize F1 measure." ECML PKDD 2014.
    """
    _require_dask()
    beta = check_beta(beta)
    if max_gather is None:
        max_gather = _MAX_GATHER
    pairs = _partition_pairs(scores, y_true)
    c = _one_label_candidates(pairs, "binary", beta, bits, max_gather)
    if c.n_positives == 0:
        raise ValueError(
            "`y_true` has no positive sample: F-beta is undefined for every threshold "
            "(the positive class must appear at least once)."
        )
    return ThresholdResult(*best_cut(c, beta))


def _ndim(x):
    return getattr(x, "ndim", np.ndim(x))


def fit_global_threshold(decider, scores, y, beta, zero_division):
    """Fit a :class:`f1opt.GlobalThreshold` on Dask collections (binary or micro)."""
    _require_dask()
    average = decider.average
    ndim = _ndim(scores)
    if average is None:
        average = "binary" if ndim == 1 else "micro"
    if average == "binary":
        result = optimal_threshold(y, scores, beta)
        decider.threshold_ = result.threshold
        decider.best_score_ = result.score
        decider.n_labels_ = 0
    elif average == "micro":
        if ndim != 2:
            raise ValueError(
                f"average='micro' needs 2-D scores (n_samples, n_labels), but got {ndim}-D."
            )
        pairs = _partition_pairs(scores, y)
        c = _one_label_candidates(pairs, "pooled", beta, _BINARY_BITS, _MAX_GATHER)
        threshold, score, _, _ = best_cut(c, beta, zero_division)
        decider.threshold_ = threshold
        decider.best_score_ = score
        decider.n_labels_ = int(scores.shape[1])
    else:
        raise ValueError(
            f"GlobalThreshold on Dask supports average='binary' or 'micro', but got {average!r}."
        )
    decider.average_ = average
    return decider


def fit_per_class_threshold(decider, scores, y, beta, zero_division, *, bits=None):
    """Fit a :class:`f1opt.PerClassThreshold` on Dask collections."""
    _require_dask()
    average = decider.average
    if _ndim(scores) != 2:
        raise ValueError(f"`scores` must be 2-D (n_samples, n_labels), but got {_ndim(scores)}-D.")
    n_labels = int(scores.shape[1])
    if bits is None:
        bits = _buckets.choose_bits(1 << 22, n_labels)
    pairs = _partition_pairs(scores, y)
    candidates = _per_label_candidates(pairs, beta, average, bits)
    thresholds, n_iter = solve_per_label(candidates, beta, average)
    decider.thresholds_ = thresholds
    decider.n_iter_ = n_iter
    decider.average_ = average
    decider.best_score_ = _per_label_score(candidates, thresholds, beta, average, zero_division)
    return decider


def _per_label_score(candidates, thresholds, beta, average, zero_division):
    """F-beta of the chosen cuts from their counts (no pass over the data)."""
    tp = np.zeros(len(candidates))
    k = np.zeros(len(candidates))
    p = np.array([c.n_positives for c in candidates], dtype=np.float64)
    for j, (c, t) in enumerate(zip(candidates, thresholds, strict=True)):
        if t != np.inf:  # the chosen cut is the lowest candidate value >= t
            i = int(np.flatnonzero(c.values >= t)[-1])
            tp[j], k[j] = c.tp[i], c.k[i]
    return float(average_fbeta(tp, k, p, beta=beta, average=average, zero_division=zero_division))


def _parquet_files(pattern):
    """Local paths and globs (``*``, ``?``, ``[...]``) expanded and checked; URLs as given."""
    import glob
    import os

    patterns = [pattern] if isinstance(pattern, (str, os.PathLike)) else list(pattern)
    files = []
    for item in map(str, patterns):
        if "://" in item:
            files.append(item)
            continue
        matches = sorted(glob.glob(item)) if any(c in item for c in "*?[") else [item]
        matches = [m for m in matches if os.path.exists(m)]
        if not matches:
            raise FileNotFoundError(f"no Parquet file matches {item!r}")
        files.extend(matches)
    return files


def fit_parquet(
    pattern: str,
    score_columns: list[str],
    label_columns: list[str],
    method: str = "global",
    average: str = "binary",
    beta: float = 1.0,
):
    """Fit a threshold decider on Parquet files, out of core, with Dask.

    Parameters
    ----------
    pattern : str or list of str
        Parquet paths, directories or globs (``"data/part-*.parquet"``; local
        globs are expanded here), read with :func:`dask.dataframe.read_parquet`.
    score_columns : list of str
        Score column(s); one per label.
    label_columns : list of str
        0/1 label column(s), in the same order as ``score_columns``.
    method : {"global", "per_class"}, default="global"
        :class:`f1opt.GlobalThreshold` or :class:`f1opt.PerClassThreshold`.
    average : {"binary", "micro", "macro", "weighted"}, default="binary"
        "binary" needs one score column and ``method="global"``.
    beta : float, default=1.0

    Returns
    -------
    decider : f1opt.GlobalThreshold or f1opt.PerClassThreshold
        Fitted, with the attributes of the in-memory fit (saves and loads as usual).
    """
    _require_dask()
    import dask.dataframe as dd

    from .deciders import GlobalThreshold, PerClassThreshold

    score_columns, label_columns = list(score_columns), list(label_columns)
    if not score_columns or len(score_columns) != len(label_columns):
        raise ValueError(
            "`score_columns` and `label_columns` must name the same number (>= 1) of columns, "
            f"but got {len(score_columns)} and {len(label_columns)}."
        )
    frame = dd.read_parquet(_parquet_files(pattern), columns=score_columns + label_columns)
    if method == "global":
        decider = GlobalThreshold(beta=beta, average=average)
        if average == "binary":
            if len(score_columns) != 1:
                raise ValueError(
                    f"average='binary' takes one score column, but got {len(score_columns)}."
                )
            return decider.fit(frame[score_columns[0]], frame[label_columns[0]])
    elif method == "per_class":
        decider = PerClassThreshold(beta=beta, average=average)
    else:
        raise ValueError(f"`method` must be 'global' or 'per_class', but got {method!r}.")
    return decider.fit(frame[score_columns], frame[label_columns])
