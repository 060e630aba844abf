"""Sparse scores: the compiled and numpy passes against brute force, on awkward input."""

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score

import f1opt
from f1opt import _engine
from f1opt.kernels import sparse as _sparse

NUMPY = dataclasses.replace(_engine.SETTINGS, use_numba=False, sparse_chunk=48)
COMPILED = dataclasses.replace(_engine.SETTINGS, sparse_chunk=3, n_threads=3)
ENGINES = {"numpy": NUMPY}
if _engine.compiled_kernels() is not None:
    ENGINES["compiled"] = COMPILED
    ENGINES["compiled-default"] = _engine.SETTINGS

VALUES = [-1.5, -0.5, -0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 2.0]


# ---------------------------------------------------------------- building awkward input


@st.composite
def sparse_problems(draw):
    """Scores (any layout, maybe unsorted, with duplicates and stored zeros), labels, weights."""
    n = draw(st.integers(1, 8))
    n_labels = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    cells = st.tuples(st.integers(0, n - 1), st.integers(0, n_labels - 1), st.sampled_from(VALUES))
    entries = draw(st.lists(cells, max_size=3 * n * n_labels))
    rows = np.array([e[0] for e in entries], dtype=np.int64)
    cols = np.array([e[1] for e in entries], dtype=np.int64)
    vals = np.array([e[2] for e in entries], dtype=dtype)
    if dtype == np.float64 and draw(st.booleans()):  # distinct scores sharing a float32 key
        vals = 0.5 + np.round(vals * 4) * 1e-12
    layout = draw(st.sampled_from(["csr", "csc", "coo", "csr-unsorted", "csc-unsorted"]))
    scores = _layout(rows, cols, vals, (n, n_labels), layout, draw(st.randoms()))
    y = np.array(draw(st.lists(st.booleans(), min_size=n * n_labels, max_size=n * n_labels)))
    y = y.reshape(n, n_labels).astype(np.int8)
    labels = draw(st.sampled_from(["dense", "csr", "csr-with-zeros", "coo-duplicates"]))
    y_in = _labels(y, labels, draw(st.randoms()))
    w = None
    if draw(st.booleans()):
        w = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=float)
        if not w.any():
            w[0] = 1.0
    return scores, y_in, y, w


def _layout(rows, cols, vals, shape, layout, rnd):
    """The entries in a layout; "-unsorted" keeps each major's entries in a shuffled order."""
    if layout == "coo":
        return sp.coo_array((vals, (rows, cols)), shape=shape)
    by_rows = layout.startswith("csr")
    major, minor = (rows, cols) if by_rows else (cols, rows)
    order = np.lexsort(([rnd.random() for _ in range(vals.size)], major))
    if not layout.endswith("unsorted"):
        order = np.lexsort((minor, major))
    n_major = shape[0] if by_rows else shape[1]
    indptr = np.concatenate(([0], np.cumsum(np.bincount(major, minlength=n_major))))
    cls = sp.csr_array if by_rows else sp.csc_array
    return cls((vals[order], minor[order], indptr), shape=shape)


def _labels(y, kind, rnd):
    if kind == "dense":
        return y
    if kind == "csr":
        return sp.csr_array(y)
    rows, cols = np.nonzero(np.ones_like(y)) if kind == "csr-with-zeros" else np.nonzero(y)
    data = y[rows, cols]
    if kind == "csr-with-zeros":  # explicit zeros stored: negatives
        return sp.csr_array((data, (rows, cols)), shape=y.shape)
    # duplicates: a positive stored twice, a zero stored beside a positive
    extra = [i for i in range(rows.size) if rnd.random() < 0.5]
    rows = np.concatenate([rows, rows[extra], rows[extra]])
    cols = np.concatenate([cols, cols[extra], cols[extra]])
    data = np.concatenate([data, data[extra], np.zeros(len(extra), y.dtype)])
    return sp.coo_array((data, (rows, cols)), shape=y.shape)


def stored_dense(scores):
    """Dense scores (duplicates summed) and the stored mask (explicit zeros included)."""
    canonical = _sparse.compressed(scores, by_rows=True)
    coo = canonical.tocoo()
    stored = np.zeros(canonical.shape, dtype=bool)
    stored[coo.row, coo.col] = True
    return canonical.toarray().astype(np.float64), stored


# ---------------------------------------------------------------- brute force


def brute_candidates(S, stored, Y, w, pooled):
    """Every candidate cut of every label (or pooled), with exact counts, by enumeration."""
    n, n_labels = S.shape
    w = np.ones(n) if w is None else w
    W = np.broadcast_to(w[:, None], S.shape)
    present = stored & (W > 0)  # entries of rows of weight 0 are absent
    groups = (
        [np.ones_like(stored)]
        if pooled
        else [np.eye(n_labels, dtype=bool)[j] for j in range(n_labels)]
    )
    out = []
    for g in groups:
        mask = present & np.broadcast_to(g, S.shape)
        pos = mask & (Y == 1)
        values = sorted(set(S[pos].tolist()), reverse=True)
        for v in values:
            out.append(
                (
                    v,
                    max([s for s in S[mask].tolist() if s < v], default=-np.inf),
                    float(W[pos & (S >= v)].sum()),
                    float(W[mask & (S >= v)].sum()),
                )
            )
    sizes = [len(set(S[present & np.broadcast_to(g, S.shape) & (Y == 1)].tolist())) for g in groups]
    n_pos = [float(W[(Y == 1) & np.broadcast_to(g, S.shape)].sum()) for g in groups]
    return out, sizes, n_pos


def sk(Y, P, beta, average, w=None):
    return fbeta_score(Y, P, beta=beta, average=average, sample_weight=w, zero_division=0.0)


def brute_global(S, stored, Y, beta, average, w):
    cuts = np.append(np.unique(S[stored]), np.inf)
    return max(sk(Y, (stored & (S >= t)).astype(int), beta, average, w) for t in cuts)


def brute_per_label_best(S, stored, Y, beta, average, w, j):
    """Macro / weighted: each label on its own (the best F of label j)."""
    cuts = np.append(np.unique(S[stored[:, j], j]), np.inf)
    return max(
        sk(Y[:, j], (stored[:, j] & (S[:, j] >= t)).astype(int), beta, "binary", w) for t in cuts
    )


# ---------------------------------------------------------------- tests


@pytest.mark.property
@settings(max_examples=150, deadline=None)
@given(problem=sparse_problems(), pooled=st.booleans())
def test_cut_candidates_are_every_cut_with_exact_counts(problem, pooled):
    scores, y_in, Y, w = problem
    S, stored = stored_dense(scores)
    want, sizes, n_pos = brute_candidates(S, stored, Y, w, pooled)
    for name, settings_ in ENGINES.items():
        sc, pos_col, _, _, dtype = _engine.check_sparse(scores, y_in, w)
        flat = _sparse.cut_candidates(
            sc, pos_col.sum() if pooled else pos_col, pooled=pooled, dtype=dtype,
            **_engine._sparse_options(settings_),
        )  # fmt: skip
        got = list(zip(flat.values.tolist(), flat.below.tolist(), flat.tp, flat.k, strict=True))
        assert got == want, name
        assert flat.sizes.tolist() == sizes, name
        assert flat.n_positives.tolist() == n_pos, name


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(problem=sparse_problems(), beta=st.sampled_from([0.5, 1.0, 2.0]))
def test_every_sparse_engine_gives_the_brute_force_optimum(problem, beta):
    scores, y_in, Y, w = problem
    S, stored = stored_dense(scores)
    n_labels = S.shape[1]
    results = {}
    for name, settings_ in ENGINES.items():
        for average in ("micro", "macro", "weighted", "samples"):
            if n_labels == 1 and average == "samples":
                continue
            results[name, "global", average] = _engine.global_search(
                scores, y_in, w, beta, average, settings=settings_
            )
        for average in ("micro", "macro", "weighted"):
            thresholds, _, score = _engine.per_label(
                scores, y_in, w, beta, average, settings=settings_
            )
            results[name, "per_label", average] = (thresholds, score)
    for (name, kind, average), (t, score) in results.items():
        first = results["numpy", kind, average]
        np.testing.assert_array_equal(t, first[0], err_msg=f"{name} {kind} {average}")
        assert score == first[1], (name, kind, average)
        predicted = stored & (S >= np.asarray(t))
        if n_labels > 1:
            assert score == pytest.approx(sk(Y, predicted.astype(int), beta, average, w), abs=1e-12)
        if kind == "global" and n_labels > 1:
            assert score == pytest.approx(brute_global(S, stored, Y, beta, average, w), abs=1e-12)
    if n_labels > 1:
        _, macro = results["numpy", "per_label", "macro"]
        best = [brute_per_label_best(S, stored, Y, beta, "macro", w, j) for j in range(n_labels)]
        assert macro == pytest.approx(np.mean(best), abs=1e-12)


@pytest.mark.parametrize("name", list(ENGINES))
def test_sparse_fit_is_the_dense_fit_where_every_entry_is_stored(name):
    """Every entry stored: the sparse search is the dense one (same thresholds and F)."""
    rng = np.random.default_rng(1)
    S = (np.round(rng.random((400, 6)), 2) - 0.3).astype(np.float32)  # ties, negatives, zeros
    Y = (rng.random((400, 6)) < 0.3).astype(np.int8)
    w = rng.integers(0, 3, 400).astype(float)
    full = sp.csr_array((S.ravel(), np.tile(np.arange(6), 400), np.arange(0, 2401, 6)))
    for weights in (None, w):
        for average in ("micro", "macro", "weighted"):
            a = _engine.per_label(S, Y, weights, 1.0, average)
            b = _engine.per_label(full, Y, weights, 1.0, average, settings=ENGINES[name])
            np.testing.assert_array_equal(a[0], b[0])
            assert a[2] == pytest.approx(b[2], abs=1e-12)
        for average in ("micro", "macro", "weighted", "samples"):
            a = _engine.global_search(S, Y, weights, 1.0, average)
            b = _engine.global_search(full, Y, weights, 1.0, average, settings=ENGINES[name])
            assert a[0] == b[0]
            assert a[1] == pytest.approx(b[1], abs=1e-12)


def test_thresholds_are_values_of_the_scores_dtype():
    S = sp.csr_array(np.array([[0.1, 0.7], [0.3, 0.2], [0.9, 0.0]], dtype=np.float32))
    Y = np.array([[0, 1], [1, 0], [1, 0]])
    for settings_ in ENGINES.values():
        thresholds, _, _ = _engine.per_label(S, Y, None, 1.0, "macro", settings=settings_)
        finite = thresholds[np.isfinite(thresholds)]
        np.testing.assert_array_equal(finite, finite.astype(np.float32))
        lo, hi = float(np.float32(0.3)), float(np.float32(0.1))
        assert thresholds[0] == np.float32(hi + (lo - hi) / 2)


def test_empty_rows_labels_without_stored_entries_and_no_stored_positive():
    S = sp.csr_array(np.array([[0.0, 0.0, 0.0], [0.4, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    S_zero = sp.csr_array((np.array([0.0]), np.array([2]), np.array([0, 0, 1, 1])), shape=(3, 3))
    Y = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    Y_zero = np.array([[0, 0, 0], [0, 0, 1], [1, 0, 0]])
    for settings_ in ENGINES.values():
        thresholds, _, score = _engine.per_label(S, Y, None, 1.0, "macro", settings=settings_)
        assert np.isinf(thresholds).all() and score == 0.0  # label 0's one stored entry is negative
        t, s = _engine.global_search(S, Y, None, 1.0, "samples", settings=settings_)
        assert t == np.inf and s == 0.0
        # a stored 0.0 is a score: the positive at (1, 2) is predicted by a threshold at or below 0
        thresholds, _, _ = _engine.per_label(S_zero, Y_zero, None, 1.0, "macro", settings=settings_)
        assert thresholds[2] == -np.inf
        t, _ = _engine.global_search(S_zero, Y_zero, None, 1.0, "micro", settings=settings_)
        assert t == -np.inf


def test_sparse_threads_and_chunks_do_not_change_the_result():
    rng = np.random.default_rng(5)
    S = sp.random(2000, 300, density=0.05, format="csr", random_state=rng, dtype=np.float32)
    Y = sp.random(2000, 300, density=0.02, format="csr", random_state=rng) != 0
    Y = (Y + (S > 0.7)).astype(np.int8)
    w = rng.integers(0, 4, 2000).astype(float)
    for weights in (None, w):
        for average in ("micro", "macro"):
            ref = _engine.per_label(S, Y, weights, 2.0, average, settings=NUMPY)
            for threads, chunk in ((1, 1 << 24), (2, 1000), (4, 77)):
                chosen = dataclasses.replace(COMPILED, n_threads=threads, sparse_chunk=chunk)
                got = _engine.per_label(S, Y, weights, 2.0, average, settings=chosen)
                np.testing.assert_array_equal(got[0], ref[0])
                assert got[1:] == ref[1:]


def test_non_finite_sums_of_duplicates_are_rejected():
    big = np.finfo(np.float32).max
    S = sp.csr_array(
        (np.array([big, big], np.float32), np.array([0, 0]), np.array([0, 2])), shape=(1, 2)
    )
    with pytest.raises(ValueError, match="NaN or infinite"):
        f1opt.PerClassThreshold().fit(S, np.array([[1, 0]]))


def top_k_problem(n, n_labels, k, seed):
    """Top-k scores as an extreme-multilabel model emits them, and labels, most of them stored."""
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, n_labels, (n, k)), axis=1)
    keep = np.ones(cols.shape, dtype=bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]
    indptr = np.concatenate(([0], np.cumsum(keep.sum(axis=1))))
    hit = rng.random(int(keep.sum())) < 0.15
    data = np.where(hit, 0.5 + 0.5 * rng.random(hit.size), 0.7 * rng.random(hit.size))
    S = sp.csr_array((data.astype(np.float32), cols[keep], indptr), shape=(n, n_labels))
    rows = np.repeat(np.arange(n), np.diff(indptr))[hit]
    extra = rng.integers(0, n, rows.size // 3), rng.integers(0, n_labels, rows.size // 3)
    Y = sp.coo_array(
        (np.ones(rows.size + extra[0].size, np.int8),
         (np.concatenate([rows, extra[0]]), np.concatenate([cols[keep][hit], extra[1]]))),
        shape=(n, n_labels),
    ).tocsr()  # fmt: skip
    Y.data[:] = 1
    return S, Y, rng.integers(0, 4, n).astype(float)


@pytest.mark.parametrize("name", list(ENGINES))
def test_global_search_on_the_planned_key_range_is_the_full_sweep(name, monkeypatch):
    """The bucket plan (only the key range that can hold the optimum) gives the full sweep's cut."""
    planned = []
    gather = _sparse._gather_range
    monkeypatch.setattr(_sparse, "_gather_range", lambda *a: planned.append(1) or gather(*a))
    S, Y, w = top_k_problem(3000, 300, 25, seed=2)
    for layout in (S, sp.csc_array(S)):
        for weights in (None, w):
            for average in ("macro", "weighted", "samples"):
                sc, pos_col, pos_row, _, dtype = _engine.check_sparse(layout, Y, weights)
                by_label = average != "samples"
                p = pos_col if by_label else pos_row
                gw = {"macro": np.ones(300), "weighted": pos_col}.get(average)
                if gw is None:
                    gw = np.ones(3000) if weights is None else weights
                chosen = ENGINES[name]
                chosen = dataclasses.replace(chosen, sparse_chunk=max(chosen.sparse_chunk, 1 << 16))
                options = _engine._sparse_options(chosen)
                n_before = len(planned)
                got = _sparse.grouped_search(sc, by_label, gw, p, 1.0, 0.0, dtype, 14, **options)
                assert len(planned) == n_before + 1  # the planned range was gathered
                full = _sparse.grouped_search(
                    sc, by_label, gw, p, 1.0, 0.0, dtype, 14, max_fraction=-1.0, **options
                )
                assert len(planned) == n_before + 1  # ... and this one swept every entry
                assert got == full, (average, weights is not None)


def test_fits_called_from_several_threads_at_once_agree():
    """The compiled passes run from a thread pool inside each fit, and fits may run in threads."""
    from concurrent.futures import ThreadPoolExecutor

    S, Y, w = top_k_problem(2000, 200, 20, seed=4)
    jobs = [("micro", None), ("macro", w), ("micro", w), ("macro", None)] * 2

    def fit(job):
        average, weights = job
        rule = f1opt.PerClassThreshold(average=average).fit(S, Y, sample_weight=weights)
        return rule.thresholds_, rule.best_score_

    alone = [fit(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fit, jobs))
    for (ta, sa), (tb, sb) in zip(alone, together, strict=True):
        np.testing.assert_array_equal(ta, tb)
        assert sa == sb


@pytest.mark.property
@settings(max_examples=80, deadline=None)
@given(
    data=st.data(),
    average=st.sampled_from(["macro", "weighted", "samples"]),
    beta=st.sampled_from([0.5, 1.0, 2.0]),
    bits=st.sampled_from([8, 12]),
    zero_division=st.sampled_from([0.0, 1.0]),
    weighted=st.booleans(),
)
def test_planned_global_search_keeps_the_sort_engines_cut(
    data, average, beta, bits, zero_division, weighted
):
    """Every entry stored: the planned key range gives the dense sort engine's cut (ties too)."""
    n = data.draw(st.integers(1, 12))
    n_labels = data.draw(st.integers(1, 4))
    levels = data.draw(st.sampled_from([3, 7]))
    cells = st.lists(st.integers(0, levels), min_size=n * n_labels, max_size=n * n_labels)
    S = (np.array(data.draw(cells), float).reshape(n, n_labels) / levels - 0.3).astype(
        data.draw(st.sampled_from([np.float32, np.float64]))
    )
    bits01 = st.lists(st.integers(0, 1), min_size=n * n_labels, max_size=n * n_labels)
    Y = np.array(data.draw(bits01), np.int8).reshape(n, n_labels)
    w = np.array(data.draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)), float)
    w = w if weighted else None
    if average == "weighted" and Y.sum() == 0:
        return
    full = sp.csr_array((S.ravel(), np.tile(np.arange(n_labels), n), np.arange(n + 1) * n_labels))
    want = _engine.global_search(S, Y, w, beta, average, zero_division, engine="sort")
    sc, pos_col, pos_row, _, dtype = _engine.check_sparse(full, Y, w)
    by_label = average != "samples"
    p = pos_col if by_label else pos_row
    gw = {"macro": np.ones(n_labels), "weighted": pos_col}.get(average)
    gw = (np.ones(n) if w is None else w) if gw is None else gw
    for settings_ in ENGINES.values():
        got = _sparse.grouped_search(
            sc, by_label, gw, p, beta, zero_division, dtype, bits, max_fraction=1.0,
            **_engine._sparse_options(settings_),
        )  # fmt: skip
        assert got[0] == want[0]
        assert got[1] == pytest.approx(want[1], abs=1e-12)


def test_planned_samples_search_keeps_an_exact_tie_to_the_fewest_predictions():
    """Regression: row weights normalised before the exact re-check broke this tie (17/20 both)."""
    S = np.array([0, 1, 0, 0, 0, 1, 0, 0, 2, 1], float).reshape(10, 1) / 3 - 0.3
    Y = np.array([0, 1, 0, 0, 0, 1, 0, 0, 1, 0], np.int8).reshape(10, 1)
    w = np.array([1, 1, 1, 1, 2, 2, 3, 3, 3, 3], float)
    full = sp.csr_array((S.ravel(), np.zeros(10, int), np.arange(11)), shape=(10, 1))
    sc, _, pos_row, _, dtype = _engine.check_sparse(full, Y, w)
    for settings_ in ENGINES.values():
        options = _engine._sparse_options(settings_)
        t, score = _sparse.grouped_search(
            sc, False, w, pos_row, 0.5, 1.0, dtype, 8, max_fraction=1.0, **options
        )
        assert (S >= t).sum() == 1  # not the cut at 0.0333 predicting 4, equally good
        assert score == pytest.approx(0.85)
