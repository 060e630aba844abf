"""The counting search as a map/reduce over the partitions of Dask collections.

1. each partition counts its (weighted) scores and positives per bucket of an
   order-preserving key of the float32 bits; the counts add up across
   partitions in a tree reduction;
2. on the client the counts give the exact F at every bucket edge and a bound
   inside every bucket, which selects the few buckets that can hold the optimum
   (:mod:`f1opt.kernels.buckets`);
3. a second pass returns from each partition only the scores (labels, weights)
   of those buckets, and the maximum of the next non-empty bucket below each.

These functions return counts or cut candidates, never touch a decider, and
do not validate: each partition goes through the ``check_block`` callable the
caller passes (:mod:`f1opt._engine` passes its input checks). ``compiled``
says whether partitions use the compiled passes (resolved on the worker, so
that nothing unpicklable travels to a cluster).
"""

from __future__ import annotations

import numpy as np

from . import buckets as _b

__all__ = [
    "is_dask_collection",
    "partition_blocks",
    "one_label_candidates",
    "per_label_candidates",
    "per_label_counts",
    "global_grouped",
]


def is_dask_collection(x) -> bool:
    """True for Dask arrays, dataframes and series (duck typing: never imports dask)."""
    return hasattr(x, "dask") and hasattr(x, "__dask_graph__")


def _compiled(flag):
    if not flag:
        return None
    try:
        from . import compiled
    except Exception:  # numba missing or broken: the numpy passes give the same result
        return None
    return compiled


def _is_dask_array(x) -> bool:
    return is_dask_collection(x) and hasattr(x, "chunks") and hasattr(x, "rechunk")


def _as_dask_array(x):
    """A Dask array for any Dask collection (dataframes get their lengths computed)."""
    if _is_dask_array(x):
        return x
    return x.to_dask_array(lengths=True)


def _delayed_blocks(x):
    blocks = x.to_delayed()
    return list(np.asarray(blocks, dtype=object).ravel()) if _is_dask_array(x) else list(blocks)


def partition_blocks(scores, y, sample_weight=None):
    """Pair the partitions of scores, labels (and weights): a list of delayed tuples.

    In-memory sides get the partitions of the Dask side.
    """
    import dask.array as da

    parts = [scores, y] + ([] if sample_weight is None else [sample_weight])
    lead = next(p for p in parts if is_dask_collection(p))
    frames = all(is_dask_collection(p) and not _is_dask_array(p) for p in parts)
    if frames and len({p.npartitions for p in parts}) == 1:
        blocks = [_delayed_blocks(p) for p in parts]
    else:
        lead = _as_dask_array(lead)
        chunks = lead.chunks[0]
        arrays = []
        for p in parts:
            if is_dask_collection(p):
                p = _as_dask_array(p)
                if p.ndim == 2:
                    p = p.rechunk({1: -1})
            else:
                p = np.asarray(p)
                if p.shape[0] != lead.shape[0]:
                    raise ValueError(
                        f"`scores` and `y` must have the same length, but got "
                        f"{lead.shape[0]} and {p.shape[0]}."
                    )
                p = da.from_array(p, chunks=(chunks,) + tuple((n,) for n in p.shape[1:]))
            if p.shape[0] != lead.shape[0]:
                raise ValueError(
                    f"`scores` and `y` must have the same length, but got {lead.shape[0]} "
                    f"and {p.shape[0]}."
                )
            if p.chunks[0] != chunks:
                p = p.rechunk({0: chunks})
            arrays.append(p)
        blocks = [_delayed_blocks(p) for p in arrays]
    if sample_weight is None:
        blocks.append([None] * len(blocks[0]))
    return list(zip(*blocks, strict=True))


def _tree_reduce(parts, fn):
    from dask import delayed

    parts = list(parts)
    while len(parts) > 1:
        parts = [
            delayed(fn, pure=True)(parts[i], parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


# ---------------------------------------------------------------- one label (or pooled)


#: a sample's window may hold at most this fraction of its scores (else no window)
_WINDOW_FRACTION = 0.15
#: fewest partitions for which the first one is read as a sample
_WINDOW_MIN_PARTITIONS = 4
#: the sample's ranges keep every bucket within this many standard errors of its best F
_WINDOW_NOISE = 1.0


def _histogram_block(s, y, w, check_block, multilabel, key_range, window, compiled, index):
    s, y, w = check_block(s, y, w, multilabel, index)
    if multilabel and w is not None:
        w = np.repeat(w, s.shape[1])
    s, y = s.ravel(), y.ravel()
    counts = _b.range_histogram(s, y, *key_range, w, _compiled(compiled))
    out = counts.astype(np.float64), s.dtype == np.float32 or s.size == 0
    if window is None:
        return out
    return out + (_entries(s, y, w, window, s.size, compiled),)


def _entries(s, y, w, key_range, capacity, compiled):
    """Scores, labels and weights (None: unit) of one partition's keys in the range."""
    at = _b.range_indices(s, *key_range, capacity, _compiled(compiled))
    return s[at], _b.as_label_array(y[at]), None if w is None else w[at]


def _one_label(entries):
    values, labels, weights = entries
    return values, labels, weights, np.zeros(values.size, np.int64)


def _add_counts(a, b):
    out = a[0] + b[0], a[1] and b[1]
    return out if len(a) == 2 else out + (_merge_entries(a[2], b[2]),)


def _range_entries_block(s, y, w, check_block, multilabel, key_range, capacity, compiled, index):
    s, y, w = check_block(s, y, w, multilabel, index)
    if multilabel and w is not None:
        w = np.repeat(w, s.shape[1])
    return _entries(s.ravel(), y.ravel(), w, key_range, capacity, compiled)


def _merge_entries(a, b):
    return tuple(None if x is None else np.concatenate([x, z]) for x, z in zip(a, b, strict=True))


def _sample(blocks, check_block, multilabel):
    """The first partition with rows, computed and checked; None for too few partitions."""
    import dask

    if len(blocks) < _WINDOW_MIN_PARTITIONS:
        return None
    for i, (s, y, w) in enumerate(blocks):
        s, y, w = check_block(*dask.compute(s, y, w), multilabel, i)
        if s.shape[0]:
            return s, y, w
    return None


def _window(sample, search, in_window):
    """Where the final ranges probably are, from the search on a sample (or None).

    ``search(final_ranges)`` runs the in-memory search on the sample;
    ``in_window(lo, hi)`` counts the sample's scores inside key ranges.
    """
    if sample is None:
        return None
    final = []
    search(final)
    lo, hi = final[0]
    if in_window(lo, hi) > _WINDOW_FRACTION * sample[0].size:
        return None  # gathering that much in the first pass costs more than it saves
    return lo, hi


def one_label_candidates(blocks, check_block, multilabel, beta, bits, max_gather, dtype, compiled):
    """Cut candidates of one label (or of every entry pooled, ``multilabel=True``).

    :func:`f1opt.kernels.buckets.range_search` with its counting passes summed
    over the partitions and its gather concatenated. With several partitions
    the first is searched alone first: the first pass over all of them then
    also brings back the scores around where that sample's optimum is, which
    usually saves the second pass (a second read of every partition).

    Returns
    -------
    candidates : f1opt.kernels.cuts.CutCandidates
    """
    import dask
    from dask import delayed

    def histogram(lo, hi, shift, n_buckets, window=None):
        key_range = (int(lo[0]), int(hi[0]), int(shift[0]))
        bounds = None if window is None else (int(window[0][0]), int(window[1][0]))
        parts = [
            delayed(_histogram_block, pure=True)(
                s, y, w, check_block, multilabel, key_range, bounds, compiled, i
            )
            for i, (s, y, w) in enumerate(blocks)
        ]
        out = dask.compute(_tree_reduce(parts, _add_counts))[0]
        if not out[0].any() and key_range[:2] == (0, _b.KEY_MAX):
            raise ValueError("`scores` is empty; at least one sample is needed.")
        return (out[0][None], out[1]) + tuple(_one_label(e) for e in out[2:])

    def gather(lo, hi, capacity):
        key_range = (int(lo[0]), int(hi[0]))
        parts = [
            delayed(_range_entries_block, pure=True)(
                s, y, w, check_block, multilabel, key_range, capacity, compiled, i
            )
            for i, (s, y, w) in enumerate(blocks)
        ]
        return _one_label(dask.compute(_tree_reduce(parts, _merge_entries))[0])

    sample = _sample(blocks, check_block, multilabel)
    if sample is not None:
        s, y, w = sample
        if multilabel and w is not None:
            w = np.repeat(w, s.shape[1])
        s, y = s.ravel(), y.ravel()
        kernels = _compiled(compiled)
        window = _window(
            (s, y, w),
            lambda final: _b.bucketed_cut_candidates(
                s, y, beta, bits, max_gather, w, kernels, dtype, final_ranges=final,
                noise=_WINDOW_NOISE,
            ),
            lambda lo, hi: _b.range_indices(s, int(lo[0]), int(hi[0]), s.size, kernels).size,
        )  # fmt: skip
    else:
        window = None
    flat = _b.range_search(
        histogram, gather, 1, beta, "macro", bits, max_gather, dtype, window=window
    )
    return flat.label(0)


# ---------------------------------------------------------------- per label


def _count_block_per_label(s, y, w, check_block, bits, compiled, index):
    s, y, w = check_block(s, y, w, True, index)
    return _b.per_label_counts(s, y, bits, w, _compiled(compiled)).astype(np.float64)


def _add_per_label(a, b):
    if a.shape != b.shape:
        raise ValueError(
            "The partitions of `scores` have different numbers of label columns "
            f"({a.shape[0]} and {b.shape[0]})."
        )
    return a + b


def _histogram_block_per_label(s, y, w, check_block, key_ranges, window, compiled, index):
    s, y, w = check_block(s, y, w, True, index)
    lo, hi, shift, n_buckets = key_ranges
    counts = _b.range_histogram_2d(s, y, lo, hi, shift, n_buckets, w, _compiled(compiled))
    out = counts.astype(np.float64), s.dtype == np.float32 or s.size == 0
    if window is None:
        return out
    return out + (_entries_2d(s, y, w, *window, s.size, compiled),)


def _add_histograms(a, b):
    out = _add_per_label(a[0], b[0]), a[1] and b[1]
    return out if len(a) == 2 else out + (_merge_entries(a[2], b[2]),)


def _entries_2d(s, y, w, lo, hi, capacity, compiled):
    """Scores, labels, weights (None: unit) and labels' columns of one partition's ranges."""
    n_labels = s.shape[1]
    at = _b.range_entries_2d(s, lo, hi, capacity, _compiled(compiled))
    weights = None if w is None else w[at // n_labels]
    return s.reshape(-1)[at], _b.as_label_array(y.reshape(-1)[at]), weights, at % n_labels


def _entries_block_per_label(s, y, w, check_block, lo, hi, capacity, compiled, index):
    s, y, w = check_block(s, y, w, True, index)
    return _entries_2d(s, y, w, lo, hi, capacity, compiled)


def per_label_counts(blocks, check_block, bits, compiled):
    """:func:`f1opt.kernels.buckets.per_label_counts` summed over every partition."""
    import dask
    from dask import delayed

    parts = [
        delayed(_count_block_per_label, pure=True)(s, y, w, check_block, bits, compiled, i)
        for i, (s, y, w) in enumerate(blocks)
    ]
    counts = dask.compute(_tree_reduce(parts, _add_per_label))[0]
    if not counts.any():
        raise ValueError("`scores` is empty; at least one sample is needed.")
    return counts


def per_label_candidates(
    blocks, check_block, n_labels, beta, average, bits, max_gather, dtype, compiled,
    max_iter=100, fine_bits=None,
):  # fmt: skip
    """Pruned exact cut candidates of every label, over the partitions.

    :func:`f1opt.kernels.buckets.range_search` with its counting passes summed
    over the partitions and its gather concatenated.

    Returns
    -------
    candidates : f1opt.kernels.cuts.FlatCandidates
    """
    import dask
    from dask import delayed

    def histogram(lo, hi, shift, n_buckets, window=None):
        shared = delayed((lo, hi, shift, n_buckets))
        parts = [
            delayed(_histogram_block_per_label, pure=True)(
                s, y, w, check_block, shared, window, compiled, i
            )
            for i, (s, y, w) in enumerate(blocks)
        ]
        out = dask.compute(_tree_reduce(parts, _add_histograms))[0]
        counts = out[0]
        if counts.shape[0] != n_labels:
            raise ValueError(
                f"The partitions of `scores` have {counts.shape[0]} label columns, "
                f"the collection {n_labels}."
            )
        if not counts.any() and not np.any(lo):
            raise ValueError("`scores` is empty; at least one sample is needed.")
        return out

    def gather(lo, hi, capacity):
        parts = [
            delayed(_entries_block_per_label, pure=True)(
                s, y, w, check_block, lo, hi, capacity, compiled, i
            )
            for i, (s, y, w) in enumerate(blocks)
        ]
        return dask.compute(_tree_reduce(parts, _merge_entries))[0]

    sample = _sample(blocks, check_block, True)
    window = None
    if sample is not None and sample[0].shape[1] == n_labels:
        s, y, w = sample
        kernels = _compiled(compiled)
        window = _window(
            sample,
            lambda final: _b.per_label_cut_candidates(
                s, y, beta, average, bits, max_gather, w, kernels, dtype, max_iter,
                fine_bits=fine_bits, final_ranges=final, noise=_WINDOW_NOISE,
            ),
            lambda lo, hi: _b.range_entries_2d(s, lo, hi, s.size, kernels).size,
        )  # fmt: skip
    return _b.range_search(
        histogram, gather, n_labels, beta, average, bits, max_gather, dtype, max_iter, fine_bits,
        window=window,
    )  # fmt: skip


# ---------------------------------------------------------------- global macro / weighted / samples


def _rows_count_block(s, y, w, check_block, bits, beta, zero_division, compiled, index):
    s, y, w = check_block(s, y, w, True, index)
    n_buckets = 1 << bits
    if s.shape[0] == 0:
        return np.zeros(n_buckets), np.zeros(n_buckets), np.zeros(n_buckets, np.int64), 0.0, 0.0, 0
    gw = np.ones(s.shape[0]) if w is None else w
    p = (y * gw[:, None]).sum(axis=1, dtype=np.float64)
    delta, gain, sizes = _b.row_bucket_deltas(
        s, y, w, bits, p, gw, beta, zero_division, _compiled(compiled)
    )
    base = float((gw * (p == 0)).sum()) * zero_division
    return delta, gain, sizes, float(gw.sum()), base, int(s.size)


def _add_rows_counts(a, b):
    return tuple(x + z for x, z in zip(a, b, strict=True))


def _range_block(s, y, w, check_block, layout, plan, compiled, index):
    s, y, w = check_block(s, y, w, True, index)
    if s.shape[0] == 0:
        return None
    gw = np.ones(s.shape[0]) if w is None else w
    p = (y * gw[:, None]).sum(axis=1, dtype=np.float64) if layout == "rows" else None
    out = _b.gather_range_block(s, y, w, layout, plan, _compiled(compiled), index, p, gw)
    if out[2] is None:  # unit weights here, maybe not in other partitions
        out = out[:2] + (np.ones(out[0].size),) + out[3:]
    return out


def _merge_ranges(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return _b.merge_ranges(a, b)


def global_grouped(blocks, check_block, average, beta, zero_division, bits, dtype, compiled):
    """Exact best global threshold for macro, weighted or samples F-beta over Dask partitions.

    Every partition holds whole rows, so both counting passes add up: per-label
    bucket counts (macro, weighted), or each row's changes of the samples sum
    and bounds per bucket (samples: sums over rows). The client plans the key
    range that can hold the optimum (:func:`f1opt.kernels.buckets.plan_range`),
    a second pass returns only that range's entries (with each touched row's
    counts above it), and the grouped sweep solves it exactly.

    Returns
    -------
    (threshold, score) or None
        None when the range would be most of the data or the empty cut is
        nearly best (the exact answer then needs every entry sorted).
    """
    import dask
    from dask import delayed

    layout = "rows" if average == "samples" else "cols"
    cols = None
    if layout == "cols":
        counts = per_label_counts(blocks, check_block, bits, compiled)
        p = counts[..., 1].sum(axis=1)
        gw_raw = np.ones(p.size) if average == "macro" else p
        if gw_raw.sum() <= 0:
            return np.inf, float(zero_division)
        gw = gw_raw / gw_raw.sum()  # the plan's; the exact solve takes the raw weights
        level = _b.column_bucket_deltas(counts, p, gw, beta, zero_division)
        delta, gain, sizes, used, tp_above, k_above = level
        base = float((gw * np.where(p > 0, 0.0, zero_division)).sum())
        m = max(int(sizes.sum()), 1)  # entries (the rounding bound)
        total = 1.0
        plan = _b.plan_range(delta, gain, sizes, base, m, bits, 1.0)
        if plan is not None:
            col = int(np.searchsorted(used, plan["hi_bucket"]))
            cols = (gw_raw, p, tp_above[:, col], k_above[:, col])
    else:
        parts = [
            delayed(_rows_count_block, pure=True)(
                s, y, w, check_block, bits, beta, zero_division, compiled, i
            )
            for i, (s, y, w) in enumerate(blocks)
        ]
        delta, gain, sizes, total, base, m = dask.compute(_tree_reduce(parts, _add_rows_counts))[0]
        if m == 0:
            raise ValueError("`scores` is empty; at least one sample is needed.")
        plan = _b.plan_range(delta / total, gain / total, sizes, base / total, m, bits, 1.0)
    if plan is None:
        return None
    finer = layout == "cols" and plan["capacity"] > _b.refine_limit(m)
    # a large macro / weighted range: gather its context, count it finer on the client
    wide = dict(plan, lo_key=plan["ctx_lo_key"], hi_key=plan["ctx_hi_key"]) if finer else plan
    shared = delayed(wide)
    parts = [
        delayed(_range_block, pure=True)(s, y, w, check_block, layout, shared, compiled, i)
        for i, (s, y, w) in enumerate(blocks)
    ]
    gathered = dask.compute(_tree_reduce(parts, _merge_ranges))[0]
    if finer:
        plan, gathered, cols = _b.finer_columns(
            gathered, plan, level, p, gw, beta, zero_division, m, bits
        )
        cols = (gw_raw,) + cols[1:]
    return _b.solve_range(
        gathered, plan, beta, zero_division, dtype, _compiled(compiled), cols, total
    )
