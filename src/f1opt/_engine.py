"""The one place that chooses how an exact threshold search runs, and its settings.

Engines (every one gives the same thresholds and F on the same data):

``"sort"``
    sort and scan (:mod:`f1opt.kernels.cuts`); small inputs.
``"buckets"``
    counting passes on float32 keys narrow, level by level, the key range
    that can hold the optimum; only that range is gathered and solved exactly
    (:mod:`f1opt.kernels.buckets`), numpy passes; for the global macro /
    weighted / samples searches the passes bound the objective per bucket (a
    full sort only when that range is most of the data or the empty cut is
    nearly best).
``"compiled"``
    the same passes compiled with numba (:mod:`f1opt.kernels.compiled`), each
    split over ``Settings.n_threads`` threads (:func:`map_chunks`).
``"dask"``
    the counting passes as a map/reduce over Dask partitions (:mod:`f1opt.kernels.dask`).
``"sparse"``
    scipy.sparse scores: the stored entries only; unstored ones never predict
    positive (:mod:`f1opt.kernels.sparse`).

:func:`choose` picks one from the input: sparse scores -> ``"sparse"``, a Dask
collection anywhere -> ``"dask"``, at least ``bucket_min_size`` samples ->
``"compiled"`` (``"buckets"`` without numba), else ``"sort"``. Every setting
is a field of :class:`Settings`; :data:`SETTINGS` is read once at import
(``F1OPT_DISABLE_NUMBA=1`` in the environment turns numba off,
``F1OPT_NUM_THREADS`` caps the threads) and never reassigned. Pass another
``Settings`` (``dataclasses.replace(SETTINGS, ...)``) or ``engine=`` to any
function here to choose explicitly.

Inputs reaching this module are validated, except Dask partitions (checked
one by one here) and sparse matrices (checked here). Rows of weight 0 are
removed here, once, so that they are as if absent.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from ._validation import check_sample_weight
from .kernels import buckets as _buckets
from .kernels import cuts as _cuts
from .kernels.dask import is_dask_collection

__all__ = ["Settings", "SETTINGS", "ENGINES", "choose", "binary", "global_search", "per_label"]

ENGINES = ("sort", "buckets", "compiled", "dask", "sparse")


def _default_threads() -> int:
    wanted = os.environ.get("F1OPT_NUM_THREADS", "")
    if wanted.strip():
        return max(1, int(wanted))
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


@dataclass(frozen=True)
class Settings:
    """Settings of the engines (one place; immutable).

    Attributes
    ----------
    bucket_min_size : int
        From this many scores (per label) on, the counting passes replace the sort.
    max_gather : int
        Most scores a counting search gathers before it splits its buckets finer.
    max_buckets : int
        Most buckets over all labels (memory of the counts).
    min_bits, max_bits : int
        Range of the key bits naming a bucket.
    fine_bits : int
        Key bits of the buckets of the finer counting levels of the
        per-label searches (each label's narrowed key range split again).
    dask_size_hint : int
        Samples assumed for a Dask collection when choosing its bits.
    use_numba : bool
        Whether the compiled passes may be used.
    n_threads : int
        Threads the compiled passes split the data over (``F1OPT_NUM_THREADS``,
        else the CPUs this process may run on, at most 8).
    min_chunk : int
        Fewest scores per thread.
    sparse_chunk : int
        Stored entries a sparse pass sorts at once (memory of its keys).
    """

    bucket_min_size: int = 1 << 16
    max_gather: int = 1 << 22
    max_buckets: int = 1 << 22
    min_bits: int = 8
    max_bits: int = 18
    fine_bits: int = 10
    dask_size_hint: int = 1 << 23
    use_numba: bool = os.environ.get("F1OPT_DISABLE_NUMBA", "") in ("", "0")
    n_threads: int = _default_threads()
    min_chunk: int = 1 << 20
    sparse_chunk: int = 1 << 24

    def bits(self, n_samples: int, n_labels: int = 1) -> int:
        """Key bits of the buckets: finer for more scores, at most ``max_buckets`` in all.

        The top 9 key bits are a float's sign and exponent, so scores spread
        over a few octaves (probabilities) fill only a few ``2**(bits - 9)``
        buckets each: about ``n / 8`` buckets keep some dozens of scores in each.
        """
        by_size = int(np.log2(max(n_samples, 2))) - 3
        by_memory = int(np.log2(self.max_buckets / max(n_labels, 1)))
        return int(min(self.max_bits, max(self.min_bits, min(by_size, by_memory))))


SETTINGS = Settings()


@functools.cache
def _load_compiled():
    try:
        from .kernels import compiled
    except Exception:  # numba missing or broken: the numpy passes give the same result
        return None
    return compiled


def compiled_kernels(settings: Settings = SETTINGS):
    """The compiled kernels module, or None (numba disabled, missing or broken)."""
    return _load_compiled() if settings.use_numba else None


@functools.cache
def _thread_pool(n_threads: int):
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(n_threads, thread_name_prefix="f1opt")


def map_items(fn, items, settings: Settings = SETTINGS) -> list:
    """``fn(item)`` for every item, on up to ``settings.n_threads`` threads, in order.

    The compiled kernels release the GIL, so the items of one pass run on all
    the cores. The pool is shared by every caller; a job must not wait for
    another job of it.
    """
    items = list(items)
    k = min(settings.n_threads, len(items))
    if k <= 1:
        return [fn(item) for item in items]
    return list(_thread_pool(k).map(fn, items))


def map_chunks(
    fn, n: int, settings: Settings = SETTINGS, parallel: bool = True, row_size: int = 1
) -> list:
    """``fn(start, stop)`` over consecutive chunks of ``range(n)``, on threads when worth it.

    Chunks of at least ``settings.min_chunk`` scores (of ``row_size`` each),
    one per thread (:func:`map_items`); the results come back in chunk order.
    """
    k = min(settings.n_threads, n * row_size // settings.min_chunk) if parallel else 1
    if k <= 1:
        return [fn(0, n)]
    bounds = [n * i // k for i in range(k + 1)]
    chunks = zip(bounds[:-1], bounds[1:], strict=True)
    return map_items(lambda chunk: fn(*chunk), chunks, settings)


def _is_sparse(x) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "nnz")


def choose(scores, y=None, sample_weight=None, *, settings: Settings = SETTINGS, engine=None):
    """The engine for this input (see the module docstring).

    Parameters
    ----------
    scores, y, sample_weight : array-likes, Dask collections or scipy.sparse
    settings : Settings
    engine : str, optional
        Force one of :data:`ENGINES` (in-memory dense input only takes
        ``"sort"``, ``"buckets"`` and ``"compiled"``).
    """
    if _is_sparse(scores):
        return "sparse"
    if any(is_dask_collection(x) for x in (scores, y, sample_weight)):
        return "dask"
    if engine is not None:
        if engine not in ("sort", "buckets", "compiled"):
            raise ValueError(
                f"`engine` must be one of 'sort', 'buckets', 'compiled' for in-memory "
                f"dense scores, but got {engine!r}."
            )
        if engine == "compiled" and compiled_kernels(settings) is None:
            raise ValueError("engine='compiled' needs numba (pip install numba).")
        return engine
    if np.shape(scores)[0] < settings.bucket_min_size:
        return "sort"
    return "compiled" if compiled_kernels(settings) is not None else "buckets"


def drop_zero_weights(scores, y, sample_weight):
    """Remove the rows of weight 0 (they are as if absent); None for unit weights."""
    if sample_weight is None:
        return scores, y, None
    w = np.asarray(sample_weight, dtype=np.float64)
    keep = w > 0
    if not keep.all():
        scores, y, w = scores[keep], y[keep], w[keep]
    if w.size and (w == 1.0).all():
        w = None
    return scores, y, w


# ---------------------------------------------------------------- Dask partitions


def check_block(scores, y, w, multilabel: bool, index: int):
    """Validate one Dask partition like the in-memory search validates the whole input."""
    from ._validation import check_scores_and_labels

    if hasattr(scores, "to_numpy"):
        scores = scores.to_numpy()
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    if w is not None and hasattr(w, "to_numpy"):
        w = w.to_numpy()
    scores, y = np.asarray(scores), np.asarray(y)
    if not multilabel and scores.ndim == 2 and scores.shape[1] == 1:
        scores = scores.ravel()
    if scores.shape[0] == 0 and y.shape[0] == 0:
        dtype = scores.dtype if scores.dtype == np.float32 else np.float64
        width = (scores.shape[1],) if multilabel and scores.ndim == 2 else ()
        empty = np.empty((0,) + width, dtype=dtype), np.empty((0,) + width, dtype=np.int8)
        return empty + (None if w is None else np.empty(0),)
    try:
        scores, y = check_scores_and_labels(scores, y, multilabel=multilabel)
        if w is not None:
            w = check_sample_weight(w, scores.shape[0], allow_all_zero=True)
    except ValueError as exc:
        raise ValueError(f"{str(exc).rstrip('.')} (in partition {index}).") from None
    scores, y, w = drop_zero_weights(scores, y, w)
    if multilabel:
        scores, y = np.ascontiguousarray(scores), np.ascontiguousarray(y)
    return scores, y, w


def _dtype_of(x):
    dtype = getattr(x, "dtype", None)
    if dtype is None and hasattr(x, "dtypes"):
        dtypes = set(np.dtype(d) for d in x.dtypes)
        dtype = dtypes.pop() if len(dtypes) == 1 else np.float64
    return _cuts.threshold_dtype(dtype if dtype is not None else np.float64)


def _dask_compiled(settings):
    return compiled_kernels(settings) is not None


# ---------------------------------------------------------------- searches


def binary(
    scores, y, sample_weight=None, beta=1.0, zero_division=0.0, *, dtype=None,
    settings: Settings = SETTINGS, engine=None,
):  # fmt: skip
    """Exact F-beta-optimal threshold of one label (or of every entry pooled).

    Parameters
    ----------
    scores, y : ndarray of shape (n_samples,), validated; or Dask collections
        (2-D ones are pooled: GlobalThreshold micro).
    sample_weight : ndarray of shape (n_samples,), optional (validated)
    dtype : numpy dtype, optional
        Dtype the threshold must be exact in (that of the scores as given).

    Returns
    -------
    threshold, score, n_predicted, n_true_positives : float
    """
    kind = choose(scores, y, sample_weight, settings=settings, engine=engine)
    if kind == "dask":
        from .kernels import dask as _dask

        multilabel = getattr(scores, "ndim", 1) == 2
        c = _dask.one_label_candidates(
            _dask.partition_blocks(scores, y, sample_weight), check_block, multilabel, beta,
            settings.bits(settings.dask_size_hint), settings.max_gather,
            _dtype_of(scores) if dtype is None else _cuts.threshold_dtype(dtype),
            _dask_compiled(settings),
        )  # fmt: skip
        return _cuts.best_cut(c, beta, zero_division)
    scores, y, w = drop_zero_weights(scores, y, sample_weight)
    dtype = scores.dtype if dtype is None else dtype
    if kind == "sort":
        c = _cuts.cut_candidates(scores, y, w, dtype=dtype)
    else:
        compiled = compiled_kernels(settings) if kind == "compiled" else None
        c = _buckets.bucketed_cut_candidates(
            scores, y, beta, settings.bits(scores.size), settings.max_gather, w, compiled,
            dtype, functools.partial(map_chunks, settings=settings, parallel=compiled is not None),
        )  # fmt: skip
    return _cuts.best_cut(c, beta, zero_division)


def _group_layout(y, w_rows, average):
    """Layout, group weights and positives of a dense (n, L) matrix, flattened row-major."""
    n_samples, n_labels = y.shape
    yw = y if w_rows is None else y * w_rows[:, None]
    if average == "samples":
        p = yw.sum(axis=1, dtype=np.float64)
        gw = np.ones(n_samples) if w_rows is None else w_rows
        return ("rows", n_labels), gw, p
    p = yw.sum(axis=0, dtype=np.float64)
    gw = np.ones(n_labels) if average == "macro" else p
    return ("cols", n_labels), gw, p


def _sweep_kernels(kind, size, settings):
    """Compiled sweep for large inputs unless an engine other than compiled was asked for."""
    if kind == "compiled":
        return compiled_kernels(settings)
    if kind in ("sort", "buckets") or size < settings.bucket_min_size:
        return None
    return compiled_kernels(settings)


def global_search(
    scores, y, sample_weight=None, beta=1.0, average="micro", zero_division=0.0, *,
    dtype=None, settings: Settings = SETTINGS, engine=None,
):  # fmt: skip
    """Exact best single threshold of a multilabel matrix for one average.

    Returns
    -------
    threshold, score : float
    """
    if average not in ("micro", "macro", "weighted", "samples"):
        raise ValueError(
            f"global threshold supports micro, macro, weighted, samples; got {average!r}"
        )
    kind = choose(scores, y, sample_weight, settings=settings, engine=engine)
    if kind == "sparse":
        return _sparse_global(scores, y, sample_weight, beta, average, zero_division, settings)
    if average == "micro":
        if kind == "dask":
            threshold, score, _, _ = binary(
                scores, y, sample_weight, beta, zero_division, dtype=dtype, settings=settings
            )
            return threshold, score
        w = None if sample_weight is None else np.repeat(sample_weight, scores.shape[1])
        threshold, score, _, _ = binary(
            scores.ravel(), y.ravel(), w, beta, zero_division,
            dtype=scores.dtype if dtype is None else dtype, settings=settings, engine=engine,
        )  # fmt: skip
        return threshold, score
    if kind == "dask":
        from .kernels import dask as _dask

        n_labels = int(scores.shape[1])
        by_rows = average == "samples"
        found = _dask.global_grouped(
            _dask.partition_blocks(scores, y, sample_weight), check_block, average, beta,
            zero_division,
            settings.bits(settings.dask_size_hint * (1 if by_rows else n_labels),
                          1 if by_rows else n_labels),
            _dtype_of(scores) if dtype is None else _cuts.threshold_dtype(dtype),
            _dask_compiled(settings),
        )  # fmt: skip
        if found is None:
            raise ValueError(
                f"GlobalThreshold average={average!r} on Dask: here the exact search would "
                "need every score sorted (nearly every cut, or the empty one, is close to "
                "the best); compute the collection into memory first."
            )
        return found
    dtype = scores.dtype if dtype is None else dtype
    scores, y, w = drop_zero_weights(scores, y, sample_weight)
    layout, gw, p = _group_layout(y, w, average)
    if average == "weighted" and p.sum() == 0:
        return np.inf, float(zero_division)  # every threshold scores zero_division
    if engine is None and kind == "sort" and scores.size >= settings.bucket_min_size:
        kind = "compiled" if compiled_kernels(settings) is not None else "buckets"
    if kind in ("buckets", "compiled") and scores.dtype in (np.float32, np.float64):
        by_rows = layout[0] == "rows"
        compiled = compiled_kernels(settings) if kind == "compiled" else None
        found = _buckets.bucketed_grouped_sweep(
            np.ascontiguousarray(scores), np.ascontiguousarray(y), w, layout[0], gw, p, beta,
            zero_division, _cuts.threshold_dtype(dtype),
            settings.bits(scores.size, 1 if by_rows else scores.shape[1]), compiled, 0.25,
            functools.partial(
                map_chunks, settings=settings, parallel=compiled is not None,
                row_size=scores.shape[1],
            ),
        )  # fmt: skip
        if found is not None:
            return found
    return _cuts.grouped_sweep(
        scores.ravel(), y.ravel(), None, gw, p, beta, zero_division, w,
        _cuts.threshold_dtype(dtype), layout=layout,
        compiled=_sweep_kernels(engine, scores.size, settings),
    )  # fmt: skip


def fold_mean(scores, y, fold_ids, sample_weight=None, beta=1.0, zero_division=0.0, *, dtype):
    """Exact maximiser of the mean over folds of each fold's F-beta (grouped sweep).

    Returns
    -------
    threshold, score : float
    """
    if sample_weight is not None:
        fold_ids = np.asarray(fold_ids)[np.asarray(sample_weight) > 0]
    scores, y, w = drop_zero_weights(scores, y, sample_weight)
    folds, groups = np.unique(fold_ids, return_inverse=True)
    groups = groups.ravel()
    yw = y.astype(np.float64) if w is None else y * w
    p = np.bincount(groups, weights=yw, minlength=folds.size)
    return _cuts.grouped_sweep(
        scores, y, groups, np.ones(folds.size), p, beta, zero_division, w,
        _cuts.threshold_dtype(dtype), compiled=_sweep_kernels(None, scores.size, SETTINGS),
    )  # fmt: skip


def per_label(
    scores, y, sample_weight=None, beta=1.0, average="micro", zero_division=0.0, *,
    dtype=None, max_iter=100, settings: Settings = SETTINGS, engine=None,
):  # fmt: skip
    """Exact optimal per-label thresholds for micro, macro or weighted F-beta.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
    n_iter : int
        Dinkelbach rounds (1 for macro and weighted).
    score : float
        The F-beta of those thresholds, from the counts.
    """
    from .metrics import average_fbeta

    if average not in ("micro", "macro", "weighted"):
        raise ValueError(f"per-label thresholds support micro, macro, weighted; got {average!r}")
    kind = choose(scores, y, sample_weight, settings=settings, engine=engine)
    if kind == "sparse":
        candidates = _sparse_per_label_candidates(scores, y, sample_weight, settings)
    elif kind == "dask":
        from .kernels import dask as _dask

        n_labels = int(scores.shape[1])
        candidates = _dask.per_label_candidates(
            _dask.partition_blocks(scores, y, sample_weight), check_block, n_labels, beta,
            average, settings.bits(settings.dask_size_hint, n_labels), settings.max_gather,
            _dtype_of(scores) if dtype is None else _cuts.threshold_dtype(dtype),
            _dask_compiled(settings), max_iter, settings.fine_bits,
        )  # fmt: skip
    else:
        dtype = scores.dtype if dtype is None else dtype
        scores, y, w = drop_zero_weights(scores, y, sample_weight)
        n_samples, n_labels = scores.shape
        if kind == "sort":
            candidates = [
                _cuts.cut_candidates(scores[:, j], y[:, j], w, dtype=dtype) for j in range(n_labels)
            ]
        else:
            compiled = compiled_kernels(settings) if kind == "compiled" else None
            candidates = _buckets.per_label_cut_candidates(
                scores, y, beta, average, settings.bits(n_samples, n_labels),
                settings.max_gather, w, compiled, dtype, max_iter,
                functools.partial(
                    map_chunks, settings=settings, parallel=compiled is not None,
                    row_size=n_labels,
                ),
                settings.fine_bits,
            )  # fmt: skip
    thresholds, n_iter, chosen, flat = _cuts.solve_per_label(candidates, beta, average, max_iter)
    picked = chosen >= 0
    tp = np.zeros(flat.sizes.size)
    k = np.zeros(flat.sizes.size)
    tp[picked], k[picked] = flat.tp[chosen[picked]], flat.k[chosen[picked]]
    score = float(
        average_fbeta(
            tp, k, flat.n_positives, beta=beta, average=average, zero_division=zero_division
        )
    )
    return thresholds, n_iter, score


# ---------------------------------------------------------------- sparse


def check_sparse(scores, y, sample_weight):
    """Validate sparse scores (2-D, finite stored values) and labels of the same shape.

    Stored scores are checked after duplicates are summed (as scipy sums
    them), with two reductions (min and max) rather than a mask.

    Returns
    -------
    stored : f1opt.kernels.sparse.SparseScores
        The scores, canonical, and the positions of the positive labels in
        the same layout (CSC scores stay CSC), with the row weights.
    pos_col : ndarray of float64 of shape (n_labels,)
        (Weighted) positives of each label, over every entry.
    pos_row : ndarray of float64 of shape (n_samples,)
        (Weighted) positives of each row.
    w_rows : ndarray of shape (n_samples,) or None
    dtype : numpy dtype
        Dtype of the thresholds (that of the scores as given).
    """
    import scipy.sparse as sp

    from ._validation import check_indicator_labels
    from .kernels import sparse as _sparse

    shape = scores.shape
    if len(shape) != 2 or shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"sparse `scores` must be a non-empty 2-D matrix, got shape {shape}.")
    if scores.format not in ("csr", "csc"):
        scores = sp.csr_array(scores)
    if scores.data.dtype.kind not in "fiub":
        raise ValueError(f"sparse `scores` must hold numbers, but got dtype {scores.data.dtype}.")
    dtype = _cuts.threshold_dtype(scores.data.dtype)
    if sp.issparse(y):
        if y.shape != shape:
            raise ValueError(
                f"`scores` and `y` must have the same shape, but got {shape} and {y.shape}."
            )
        if y.format not in ("csr", "csc", "coo"):
            y = sp.csr_array(y)
        if not ((y.data == 0) | (y.data == 1)).all():
            raise ValueError("`y` must contain only 0 and 1.")
        positives = _sparse.compressed(y, by_rows=True)  # duplicates summed: still nonzero
        if positives.nnz and not positives.data.all():
            positives = positives.copy()
            positives.eliminate_zeros()
    else:
        y = check_indicator_labels(y)
        if y.shape != shape:
            raise ValueError(
                f"`scores` and `y` must have the same shape, but got {shape} and {y.shape}."
            )
        positives = sp.csr_array(y)
    w_rows = check_sample_weight(sample_weight, shape[0], allow_all_zero=True)
    per_row = np.diff(positives.indptr)
    if w_rows is None:
        pos_col = np.bincount(positives.indices, minlength=shape[1]).astype(np.float64)
        pos_row = per_row.astype(np.float64)
    else:
        wk = np.repeat(w_rows, per_row)
        pos_col = np.bincount(positives.indices, weights=wk, minlength=shape[1])
        rows = np.repeat(np.arange(shape[0]), per_row)
        pos_row = np.bincount(rows, weights=wk, minlength=shape[0]).astype(np.float64)
    stored = _sparse.sparse_scores(scores, positives, w_rows)
    data = stored.data
    if data.size and not (np.isfinite(data.min()) and np.isfinite(data.max())):
        raise ValueError("sparse `scores` stores NaN or infinite values (unstored means -inf).")
    return stored, pos_col.astype(np.float64), pos_row, w_rows, dtype


def _sparse_options(settings: Settings) -> dict:
    return dict(
        compiled=compiled_kernels(settings),
        n_parts=settings.n_threads,
        chunk=settings.sparse_chunk,
        map_parts=functools.partial(map_items, settings=settings),
    )


def _sparse_per_label_candidates(scores, y, sample_weight, settings: Settings = SETTINGS):
    from .kernels import sparse as _sparse

    stored, pos_col, _, _, dtype = check_sparse(scores, y, sample_weight)
    return _sparse.cut_candidates(stored, pos_col, dtype=dtype, **_sparse_options(settings))


def _sparse_global(
    scores, y, sample_weight, beta, average, zero_division, settings: Settings = SETTINGS
):
    from .kernels import sparse as _sparse

    stored, pos_col, pos_row, w_rows, dtype = check_sparse(scores, y, sample_weight)
    options = _sparse_options(settings)
    if average == "micro":
        flat = _sparse.cut_candidates(stored, pos_col.sum(), pooled=True, dtype=dtype, **options)
        threshold, score, _, _ = _cuts.best_cut(flat.label(0), beta, zero_division)
        return threshold, score
    if average == "samples":
        p = pos_row
        gw = np.ones(scores.shape[0]) if w_rows is None else w_rows
    else:
        p = pos_col
        gw = np.ones(scores.shape[1]) if average == "macro" else pos_col
        if average == "weighted" and p.sum() == 0:
            return np.inf, float(zero_division)
    return _sparse.grouped_search(
        stored, average != "samples", gw, p, beta, zero_division, dtype,
        settings.bits(int(stored.indptr[-1])), **options,
    )  # fmt: skip
