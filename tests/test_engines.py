"""Every engine gives the same thresholds and F; sparse scores against brute force."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import fbeta_score

import f1opt
from f1opt import _engine

BETAS = [0.5, 1.0, 2.0]
GLOBAL = ["micro", "macro", "weighted", "samples"]
PER_CLASS = ["micro", "macro", "weighted"]


def sk(Y, P, beta, average, w=None, zero_division=0.0):
    return fbeta_score(
        Y, P, beta=beta, average=average, sample_weight=w, zero_division=zero_division
    )


def dense(x):
    return x.toarray() if sp.issparse(x) else np.asarray(x)


# ---------------------------------------------------------------- every engine agrees


def agreement_data(seed, n=3000, n_labels=3):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, n_labels)) < 0.2).astype(np.int8)
    S = (np.round(rng.normal(0.35 + 0.3 * Y, 0.15), 2) + 2.0).astype(np.float32)  # ties, no 0
    w = rng.integers(0, 4, n).astype(np.float64)
    return S, Y, w


def engines_available():
    names = ["sort", "buckets"]
    if _engine.compiled_kernels() is not None:
        names.append("compiled")
    return names


@pytest.mark.parametrize("weighted", [False, True])
def test_every_engine_gives_the_same_thresholds_and_f(weighted):
    S, Y, w = agreement_data(0)
    w = w if weighted else None
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    csr, csc = sp.csr_array(S), sp.csc_array(S)
    assert csr.nnz == S.size  # every entry stored: the sparse problem is the dense one
    dS, dY = da.from_array(S, chunks=(700, 3)), da.from_array(Y, chunks=(700, 3))
    dw = None if w is None else da.from_array(w, chunks=700)

    # binary (first column) and GlobalThreshold micro
    for beta in BETAS:
        results = {
            e: _engine.binary(S[:, 0], Y[:, 0], w, beta, engine=e) for e in engines_available()
        }
        for scheduler in ("synchronous", "threads"):
            with dask.config.set(scheduler=scheduler):
                results[f"dask-{scheduler}"] = _engine.binary(dS[:, 0], dY[:, 0], dw, beta)
        first = results["sort"]
        for name, got in results.items():
            assert got == first, name

        micro = {
            e: _engine.global_search(S, Y, w, beta, "micro", engine=e) for e in engines_available()
        }
        micro["sparse-csr"] = _engine.global_search(csr, Y, w, beta, "micro")
        micro["sparse-csc"] = _engine.global_search(csc, sp.csr_array(Y), w, beta, "micro")
        for scheduler in ("synchronous", "threads"):
            with dask.config.set(scheduler=scheduler):
                micro[f"dask-{scheduler}"] = _engine.global_search(dS, dY, dw, beta, "micro")
        for name, got in micro.items():
            assert got == micro["sort"], name

    # GlobalThreshold macro / weighted / samples: the full sweep, the bucketed one, Dask, sparse
    for average in ("macro", "weighted", "samples"):
        out = {
            e: _engine.global_search(S, Y, w, 1.0, average, engine=e) for e in engines_available()
        }
        out["sparse"] = _engine.global_search(csr, sp.csr_array(Y), w, 1.0, average)
        for scheduler in ("synchronous", "threads"):
            with dask.config.set(scheduler=scheduler):
                out[f"dask-{scheduler}"] = _engine.global_search(dS, dY, dw, 1.0, average)
        for name, (threshold, score) in out.items():
            assert threshold == out["sort"][0], name
            assert score == pytest.approx(out["sort"][1], abs=1e-12), name
        pred = (S >= out["sort"][0]).astype(int)
        assert out["sort"][1] == pytest.approx(sk(Y, pred, 1.0, average, w), abs=1e-12)

    # PerClassThreshold micro / macro / weighted
    for average in PER_CLASS:
        out = {e: _engine.per_label(S, Y, w, 1.0, average, engine=e) for e in engines_available()}
        out["sparse"] = _engine.per_label(csr, Y, w, 1.0, average)
        for scheduler in ("synchronous", "threads"):
            with dask.config.set(scheduler=scheduler):
                out[f"dask-{scheduler}"] = _engine.per_label(dS, dY, dw, 1.0, average)
        for name, (thresholds, _, score) in out.items():
            np.testing.assert_array_equal(thresholds, out["sort"][0], err_msg=name)
            assert score == pytest.approx(out["sort"][2], abs=1e-12), name
        pred = (S >= out["sort"][0]).astype(int)
        assert out["sort"][2] == pytest.approx(sk(Y, pred, 1.0, average, w), abs=1e-12)


def test_engine_choice_and_errors():
    S, Y, _ = agreement_data(1, n=100)
    assert _engine.choose(S) == "sort"
    assert _engine.choose(sp.csr_array(S)) == "sparse"
    big = np.zeros(_engine.SETTINGS.bucket_min_size)
    assert _engine.choose(big) in ("buckets", "compiled")
    with pytest.raises(ValueError, match="engine"):
        _engine.choose(S, engine="gpu")


# ---------------------------------------------------------------- sparse vs brute force


def random_sparse(rng, n, n_labels, density=0.6, levels=4):
    S = (rng.integers(1, levels + 1, (n, n_labels)) / levels).astype(np.float64)
    stored = rng.random((n, n_labels)) < density
    Y = (rng.random((n, n_labels)) < 0.4).astype(np.int8)
    return S * stored, stored, Y


def brute_sparse_global(S, stored, Y, beta, average, w=None):
    cuts = np.append(np.unique(S[stored]), np.inf)
    return max(sk(Y, (stored & (S >= t)).astype(int), beta, average, w) for t in cuts)


def brute_sparse_per_class(S, stored, Y, beta, average, w=None):
    cuts = [np.append(np.unique(S[stored[:, j], j]), np.inf) for j in range(S.shape[1])]
    return max(
        sk(Y, (stored & (S >= np.array(c))).astype(int), beta, average, w)
        for c in itertools.product(*cuts)
    )


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 7),
    n_labels=st.integers(2, 3),
    beta=st.sampled_from(BETAS),
    fmt=st.sampled_from(["csr", "csc"]),
    sparse_y=st.booleans(),
    weighted=st.booleans(),
)
def test_sparse_matches_brute_force(seed, n, n_labels, beta, fmt, sparse_y, weighted):
    rng = np.random.default_rng(seed)
    S, stored, Y = random_sparse(rng, n, n_labels)
    w = rng.integers(0, 3, n).astype(float) if weighted else None
    if w is not None and not w.any():
        w[0] = 1.0
    matrix = (sp.csr_array if fmt == "csr" else sp.csc_array)(S)
    labels = sp.csr_array(Y) if sparse_y else Y
    for average in GLOBAL:
        d = f1opt.GlobalThreshold(beta=beta, average=average).fit(matrix, labels, sample_weight=w)
        best = brute_sparse_global(S, stored, Y, beta, average, w)
        assert d.best_score_ == pytest.approx(best, abs=1e-9)
        pred = d.predict(matrix)
        assert sp.issparse(pred)
        np.testing.assert_array_equal(dense(pred), (stored & (S >= d.threshold_)).astype(int))
        assert d.score(matrix, labels, sample_weight=w) == pytest.approx(
            sk(Y, dense(pred), beta, average, w), abs=1e-12
        )
    for average in PER_CLASS:
        d = f1opt.PerClassThreshold(beta=beta, average=average).fit(matrix, labels, sample_weight=w)
        assert d.best_score_ == pytest.approx(
            brute_sparse_per_class(S, stored, Y, beta, average, w), abs=1e-9
        )
        pred = d.predict(matrix)
        assert sp.issparse(pred)
        assert d.best_score_ == pytest.approx(sk(Y, dense(pred), beta, average, w), abs=1e-12)
        assert not (dense(pred) & ~stored).any()  # an unstored entry never predicts positive


@pytest.mark.parametrize("seed", range(10))
def test_sparse_equals_dense_where_the_dense_optimum_predicts_no_unstored_entry(seed):
    rng = np.random.default_rng(seed)
    S, stored, Y = random_sparse(rng, 30, 4, density=0.7, levels=10)
    Y = np.where(stored, Y, 0)  # positives mostly among the stored scores
    filled = np.where(stored, S, -1.0)  # unstored: below every stored score
    matrix = sp.csr_array(S)
    compared = 0
    for average in GLOBAL:
        dd = f1opt.GlobalThreshold(average=average).fit(filled, Y)
        if (dd.predict(filled).astype(bool) & ~stored).any():
            continue
        ds = f1opt.GlobalThreshold(average=average).fit(matrix, Y)
        np.testing.assert_array_equal(dense(ds.predict(matrix)), dd.predict(filled))
        assert ds.best_score_ == pytest.approx(dd.best_score_, abs=1e-12)
        compared += 1
    for average in PER_CLASS:
        dd = f1opt.PerClassThreshold(average=average).fit(filled, Y)
        if (dd.predict(filled).astype(bool) & ~stored).any():
            continue
        ds = f1opt.PerClassThreshold(average=average).fit(matrix, Y)
        np.testing.assert_array_equal(dense(ds.predict(matrix)), dd.predict(filled))
        assert ds.best_score_ == pytest.approx(dd.best_score_, abs=1e-12)
        compared += 1
    assert compared > 0


def test_sparse_errors_are_named():
    S = sp.csr_array(np.array([[0.5, 0.0], [np.nan, 0.2]]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        f1opt.PerClassThreshold().fit(S, np.eye(2))
    with pytest.raises(ValueError, match="same shape"):
        f1opt.PerClassThreshold().fit(sp.csr_array(np.eye(2)), np.eye(3))
    with pytest.raises(ValueError, match="multilabel average"):
        f1opt.GlobalThreshold(average="binary").fit(sp.csr_array(np.eye(2)), [0, 1])
    d = f1opt.PerClassThreshold().fit(sp.csr_array(np.eye(2) * 0.5), np.eye(2))
    with pytest.raises(ValueError, match="2 label columns"):
        d.predict(sp.csr_array(np.eye(3)))


def test_sparse_label_with_unstored_positives_only_predicts_nothing():
    S = sp.csr_array(np.array([[0.9, 0.0], [0.2, 0.0], [0.0, 0.0]]))
    Y = np.array([[1, 1], [0, 1], [1, 0]])
    d = f1opt.PerClassThreshold(average="macro").fit(S, Y)
    assert d.thresholds_[1] == np.inf
    assert d.best_score_ == pytest.approx(sk(Y, dense(d.predict(S)), 1.0, "macro"))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_sweep_equals_numpy_sweep(dtype, weighted):
    if _engine.compiled_kernels() is None:
        pytest.skip("numba kernels unavailable")
    rng = np.random.default_rng(7)
    for _ in range(15):
        n, n_labels = int(rng.integers(1, 40)), int(rng.integers(1, 5))
        S = (rng.integers(0, 6, (n, n_labels)) / 5 - 0.4).astype(dtype)  # ties, -0.0 and 0.0
        Y = rng.integers(0, 2, (n, n_labels)).astype(np.int8)
        w = rng.integers(0, 3, n).astype(float) if weighted else None
        if w is not None and not w.any():
            w[0] = 1.0
        for average in ("macro", "weighted", "samples"):
            for beta in BETAS:
                a = _engine.global_search(S, Y, w, beta, average, engine="sort")
                b = _engine.global_search(S, Y, w, beta, average, engine="compiled")
                assert a[0] == b[0]
                assert a[1] == pytest.approx(b[1], abs=1e-12)
        if n_labels == 1:
            continue  # sklearn sees (n, 1) labels as binary
        # explicit groups: the sparse entries
        csr = sp.csr_array(S.astype(np.float64))
        a = _engine.global_search(csr, Y, w, 1.0, "samples")
        assert a[1] == pytest.approx(
            brute_sparse_global(S.astype(np.float64), S != 0, Y, 1.0, "samples", w), abs=1e-9
        )


def test_read_sparse_scores_round_trip(tmp_path):
    from f1opt.thresholds import read_sparse_scores

    S = sp.random(20, 5, density=0.3, format="csr", random_state=0)
    sp.save_npz(tmp_path / "s.npz", S)
    got = read_sparse_scores(tmp_path / "s.npz")
    assert sp.issparse(got) and (got != S).nnz == 0
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="save_npz"):
        read_sparse_scores(tmp_path / "bad.npz")


@pytest.mark.parametrize("sparse_labels", [False, True])
@pytest.mark.parametrize("method, average", [("global", "micro"), ("per_class", "macro")])
def test_cli_fits_save_npz_scores(tmp_path, capsys, sparse_labels, method, average):
    """`f1opt fit` reads scipy.sparse.save_npz scores: the same rule as the library fit."""
    from f1opt._io import load
    from f1opt.cli import main

    rng = np.random.default_rng(3)
    S = sp.random(300, 12, density=0.3, random_state=4, format="csr", dtype=np.float64)
    Y = (rng.random((300, 12)) < 0.15).astype(np.int8)
    sp.save_npz(tmp_path / "s.npz", S)
    if sparse_labels:
        sp.save_npz(tmp_path / "y.npz", sp.csr_array(Y))
        labels = tmp_path / "y.npz"
    else:
        np.save(tmp_path / "y.npy", Y)
        labels = tmp_path / "y.npy"
    out = tmp_path / "rule.json"
    args = ["fit", "--scores", str(tmp_path / "s.npz"), "--labels", str(labels)]
    args += ["--method", method, "--average", average, "--output", str(out)]
    assert main(args) == 0
    assert "sparse scores" in capsys.readouterr().out
    rule = load(out)
    cls = f1opt.GlobalThreshold if method == "global" else f1opt.PerClassThreshold
    expected = cls(average=average).fit(sp.csr_array(S), Y)
    if method == "global":
        assert rule.threshold_ == expected.threshold_
    else:
        np.testing.assert_array_equal(rule.thresholds_, expected.thresholds_)
    assert rule.best_score_ == pytest.approx(expected.best_score_)


@pytest.mark.parametrize("weighted", [False, True])
def test_passes_split_over_threads_give_the_same_results(weighted):
    """The compiled passes on chunks of rows run by threads: the one-thread result exactly."""
    import dataclasses

    if _engine.compiled_kernels() is None:
        pytest.skip("numba kernels unavailable")
    S, Y, w = agreement_data(5, n=4000, n_labels=4)
    S[::7, 1] = np.float32(2.5)  # ties across the chunks
    w = w if weighted else None
    threaded = dataclasses.replace(_engine.SETTINGS, n_threads=3, min_chunk=64)
    serial = dataclasses.replace(_engine.SETTINGS, n_threads=1)
    for chosen in (threaded, serial):
        assert _engine.map_chunks(lambda a, b: (a, b), 4000, chosen)[-1][1] == 4000
    assert len(_engine.map_chunks(lambda a, b: (a, b), 4000, threaded)) == 3
    for beta in BETAS:
        got = _engine.binary(S[:, 1], Y[:, 1], w, beta, engine="compiled", settings=threaded)
        assert got == _engine.binary(S[:, 1], Y[:, 1], w, beta, engine="sort")
    for average in PER_CLASS:
        got = _engine.per_label(S, Y, w, 1.0, average, engine="compiled", settings=threaded)
        want = _engine.per_label(S, Y, w, 1.0, average, engine="sort")
        np.testing.assert_array_equal(got[0], want[0])
        assert got[2] == pytest.approx(want[2], abs=1e-12)
    for average in ("micro", "macro", "weighted", "samples"):
        got = _engine.global_search(S, Y, w, 1.0, average, engine="compiled", settings=threaded)
        want = _engine.global_search(S, Y, w, 1.0, average, engine="sort")
        assert got[0] == want[0], average
        assert got[1] == pytest.approx(want[1], abs=1e-12)


def test_fits_from_several_threads_at_once_agree():
    """Callers on several threads share the engine's thread pool: no deadlock, same results."""
    import dataclasses
    from concurrent.futures import ThreadPoolExecutor

    if _engine.compiled_kernels() is None:
        pytest.skip("numba kernels unavailable")
    threaded = dataclasses.replace(_engine.SETTINGS, n_threads=2, min_chunk=64)
    data = [agreement_data(seed, n=3000) for seed in range(6)]

    def fit(item):
        S, Y, _ = item
        return (
            _engine.binary(S[:, 0], Y[:, 0], engine="compiled", settings=threaded),
            _engine.per_label(S, Y, None, 1.0, "micro", engine="compiled", settings=threaded)[0],
        )

    alone = [fit(item) for item in data]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(fit, data))
    for (a, b), (c, d) in zip(alone, together, strict=True):
        assert a == c
        np.testing.assert_array_equal(b, d)
