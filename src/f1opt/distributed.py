"""Exact threshold searches on Dask collections, out of core (the ``dask`` extra).

The exact F-beta search needs only counts (see :mod:`f1opt.kernels.buckets`;
the map/reduce is :mod:`f1opt.kernels.dask`, chosen by :mod:`f1opt._engine`
whenever a decider or :func:`f1opt.optimal_threshold` gets a Dask collection):

1. each partition counts its scores and positives per bucket of an
   order-preserving key of the float32 bits; the counts add up across
   partitions in a tree reduction;
2. on the client the counts give the exact F at every bucket edge and a bound
   inside every bucket, which selects the key range that can hold the optimum
   (counted again in finer buckets while it holds too many scores);
3. a second pass returns from each partition only the scores (and labels) of
   that range, which are solved exactly. With four partitions or more the
   first one is searched alone beforehand: the first pass then also brings
   back the scores where that sample's optimum lies (within a standard error),
   and when the range falls inside them, as it usually does, the second pass
   (a second read of every partition) is not needed.

The scores are never gathered: the client holds the bucket counts and the
scores of the selected range (a small fraction for any spread of scores).
The result is the one of the in-memory search on the same data: same
threshold, same score, same tie rule. It runs wherever Dask runs: the local
threaded scheduler on a laptop, or a ``distributed`` cluster unchanged (the
active client is used).

Supported: :func:`optimal_threshold` (binary), :class:`f1opt.GlobalThreshold`
with ``average="binary"`` or ``"micro"``, and :class:`f1opt.PerClassThreshold`
with ``average="micro"``, ``"macro"`` or ``"weighted"``, on Dask arrays, Dask
dataframe columns, and Parquet files (:func:`fit_parquet`), with an optional
``sample_weight`` (a Dask array or series partitioned like the scores).

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014.
.. [2] W. Dinkelbach. "On nonlinear fractional programming." Management
   Science 13(7), 1967.
"""

from __future__ import annotations

from dataclasses import replace

from . import _engine
from ._validation import check_beta
from .kernels.dask import is_dask_collection
from .thresholds import ThresholdResult

__all__ = ["optimal_threshold", "fit_parquet", "is_dask_collection"]


def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.array  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "f1opt.distributed requires dask. Install it with `pip install f1opt[dask]`."
        ) from None


def optimal_threshold(
    y_true, scores, beta: float = 1.0, *, sample_weight=None, bits: int | None = None,
    max_gather: int | None = None,
):  # fmt: skip
    """Exact F-beta-optimal threshold of binary scores held in Dask collections.

    Same contract as :func:`f1opt.optimal_threshold` (which runs this search
    for Dask input): the same threshold and score as the in-memory search,
    from two passes of counting, never gathering the scores.

    Parameters
    ----------
    y_true : dask array or dask Series of shape (n_samples,)
        0/1 labels; at least one must be 1.
    scores : dask array or dask Series of shape (n_samples,)
    beta : float, default=1.0
    sample_weight : dask array or Series of shape (n_samples,), optional
    bits : int, optional
        Key bits naming a bucket (more buckets: a smaller second pass);
        default from :class:`f1opt._engine.Settings`.
    max_gather : int, optional
        Most scores the second pass may bring to the client before the key
        range to solve is counted again in finer buckets (one more counting
        pass). Float32 scores split down to single values need no gather at
        all, however concentrated or tied they are.

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
    settings = _engine.SETTINGS
    if bits is not None:
        settings = replace(settings, min_bits=bits, max_bits=bits)
    if max_gather is not None:
        settings = replace(settings, max_gather=max_gather)
    threshold, score, k, tp = _engine.binary(scores, y_true, sample_weight, beta, settings=settings)
    if tp == 0 and k == 0:
        raise ValueError(
            "`y_true` has no positive sample: F-beta is undefined for every threshold "
            "(the positive class must appear at least once)."
        )
    if sample_weight is None:
        k, tp = int(round(k)), int(round(tp))
    return ThresholdResult(threshold, score, k, tp)


def _parquet_files(pattern):
    """Local paths, directories and globs (``*``, ``?``, ``[...]``) expanded and checked.

    A directory stands for the ``.parquet`` files under it; URLs are kept as given.
    """
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
        if len(matches) == 1 and os.path.isdir(matches[0]):
            folder = matches[0]
            matches = sorted(
                glob.glob(os.path.join(glob.escape(folder), "**", "*.parquet"), recursive=True)
            )
            if not matches:
                raise FileNotFoundError(f"no .parquet file under the folder {folder!r}")
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
        Parquet paths, folders or globs (``"data/part-*.parquet"``; local globs
        and folders are expanded here). Local files are read by pyarrow, one Dask chunk per
        file; URLs (``s3://...``) with :func:`dask.dataframe.read_parquet`.
    score_columns : list of str
        Score column(s); one per label.
    label_columns : list of str
        0/1 label column(s), in the same order as ``score_columns``.
    method : {"global", "per_class"}, default="global"
        :class:`f1opt.GlobalThreshold` or :class:`f1opt.PerClassThreshold`.
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="binary"
        "binary" needs one score column and ``method="global"``; "samples"
        needs ``method="global"`` (each partition holds whole rows).
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
    if method == "global":
        decider = GlobalThreshold(beta=beta, average=average)
        if average == "binary" and len(score_columns) != 1:
            raise ValueError(
                f"average='binary' takes one score column, but got {len(score_columns)}."
            )
    elif method == "per_class":
        decider = PerClassThreshold(beta=beta, average=average)
    else:
        raise ValueError(f"`method` must be 'global' or 'per_class', but got {method!r}.")
    files = _parquet_files(pattern)
    if any("://" in f for f in files):  # remote: dask's reader and its filesystems
        frame = dd.read_parquet(files, columns=score_columns + label_columns)
        if average == "binary":
            return decider.fit(frame[score_columns[0]], frame[label_columns[0]])
        return decider.fit(frame[score_columns], frame[label_columns])
    scores, labels = _parquet_arrays(files, score_columns, label_columns)
    return decider.fit(scores, labels)


def _parquet_arrays(files, score_columns, label_columns):
    """Dask arrays of the score and label columns, one chunk per file, read by pyarrow.

    Each file is read once for both arrays (one task), straight into numpy
    (no dataframe in between); 1-D arrays for one column, (n, k) for more.
    """
    import dask.array as da
    import numpy as np
    import pyarrow.parquet as pq
    from dask import delayed

    columns = score_columns + label_columns
    dtypes = {}
    for f in files[:1]:
        schema = pq.read_schema(f)
        missing = [c for c in columns if c not in schema.names]
        if missing:
            raise ValueError(
                f"{f}: no column {', '.join(map(repr, missing))} (columns: "
                f"{', '.join(schema.names[:20])}{', ...' if len(schema.names) > 20 else ''})."
            )
        for c in columns:
            try:
                dtypes[c] = np.dtype(schema.field(c).type.to_pandas_dtype())
            except (NotImplementedError, TypeError):
                dtypes[c] = np.dtype(object)  # refused by the input checks, with the column
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
    score_dtype = np.result_type(*(dtypes[c] for c in score_columns))
    label_dtype = np.result_type(*(dtypes[c] for c in label_columns))
    width = len(score_columns)
    score_parts, label_parts = [], []
    for f, n in zip(files, sizes, strict=True):
        part = delayed(_read_parquet_part, pure=True)(f, score_columns, label_columns)
        shape = (n,) if width == 1 else (n, width)
        score_parts.append(da.from_delayed(part[0], shape=shape, dtype=score_dtype))
        label_parts.append(da.from_delayed(part[1], shape=shape, dtype=label_dtype))
    return da.concatenate(score_parts), da.concatenate(label_parts)


def _read_parquet_part(path, score_columns, label_columns):
    """One file's score and label columns as numpy arrays (1-D for one column each)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=score_columns + label_columns)
    except (pa.ArrowInvalid, KeyError) as exc:
        raise ValueError(f"{path}: {exc}") from None

    def stack(names):
        arrays = [table.column(c).to_numpy() for c in names]
        return arrays[0] if len(arrays) == 1 else np.column_stack(arrays)

    return stack(score_columns), stack(label_columns)
