"""The Dask path gives the in-memory result exactly: thresholds, scores, tie rule."""

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")

import f1opt  # noqa: E402
from f1opt import _engine, distributed  # noqa: E402
from f1opt.metrics import fbeta_score  # noqa: E402

BETAS = [0.5, 1.0, 2.0]


@pytest.fixture(params=["synchronous", "threads"])
def scheduler(request):
    with dask.config.set(scheduler=request.param):
        yield request.param


def binary_data(seed, n, levels=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int8)
    s = rng.normal(0.3 + 0.3 * y, 0.2)
    if levels:
        s = np.round(s * levels) / levels  # heavy ties
    y[rng.integers(n)] = 1
    return s.astype(dtype), y


def as_dask(kind, s, y, chunk):
    if kind == "array":
        return da.from_array(s, chunks=chunk), da.from_array(y, chunks=chunk)
    if kind == "array-misaligned":
        return da.from_array(s, chunks=chunk), da.from_array(y, chunks=chunk + 3)
    if kind == "series":
        frame = dd.from_pandas(pd.DataFrame({"s": s, "y": y}), npartitions=max(1, s.size // chunk))
        return frame["s"], frame["y"]
    if kind == "scores-only":
        return da.from_array(s, chunks=chunk), y
    raise AssertionError(kind)


# ---------------------------------------------------------------- binary


@pytest.mark.parametrize("kind", ["array", "array-misaligned", "series", "scores-only"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimal_threshold_identical_to_in_memory(kind, dtype, scheduler):
    s, y = binary_data(0, 3000, levels=40, dtype=dtype)
    expected = f1opt.optimal_threshold(y, s)
    ds, dy = as_dask(kind, s, y, 700)
    assert f1opt.optimal_threshold(dy, ds) == expected


@pytest.mark.parametrize("bits", [1, 3, 8, 18])
@pytest.mark.parametrize("beta", BETAS)
@pytest.mark.parametrize("seed", range(6))
def test_bucket_pruning_is_exact_with_ties(bits, beta, seed):
    # few bits: many scores share a bucket, so the pruning and the second pass matter
    rng = np.random.default_rng(seed)
    s, y = binary_data(seed, int(rng.integers(1, 400)), levels=int(rng.integers(1, 12)))
    s = s * 10.0 ** rng.integers(-3, 3)
    expected = f1opt.optimal_threshold(y, s, beta=beta)
    with dask.config.set(scheduler="synchronous"):
        got = distributed.optimal_threshold(
            da.from_array(y, chunks=97), da.from_array(s, chunks=97), beta=beta, bits=bits
        )
    assert got == expected
    pred = (s >= got.threshold).astype(int)
    assert got.score == pytest.approx(fbeta_score(y, pred, beta=beta), abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bits", [4, 18])
def test_refined_buckets_are_exact(dtype, bits):
    # max_gather=0 forces the extra counting pass that splits the buckets to solve
    rng = np.random.default_rng(bits)
    for levels in (3, 1000, None):
        s, y = binary_data(levels or 1, 3000, levels=levels, dtype=dtype)
        expected = f1opt.optimal_threshold(y, s)
        with dask.config.set(scheduler="synchronous"):
            got = distributed.optimal_threshold(
                da.from_array(y, chunks=800),
                da.from_array(s, chunks=800),
                bits=bits,
                max_gather=int(rng.integers(0, 10)),
            )
        assert got == expected


@pytest.mark.parametrize("window", ["sample", "missed", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_first_pass_window_hit_or_missed_gives_the_same_result(
    monkeypatch, scheduler, window, weighted
):
    """With a sample's window, its miss (a second pass) or none: the in-memory result."""
    from f1opt.kernels import dask as dask_kernels

    calls = []
    original = dask_kernels._window

    def sampled(sample, search, in_window):
        found = original(sample, search, in_window)
        calls.append(found)
        if window == "missed" and found is not None:  # far from the optimum: a second pass
            return np.zeros_like(found[0]), np.zeros_like(found[1])
        return found

    monkeypatch.setattr(dask_kernels, "_window", sampled)
    if window == "none":
        monkeypatch.setattr(dask_kernels, "_WINDOW_MIN_PARTITIONS", 10**9)
    second_passes = []
    gather_block = dask_kernels._range_entries_block

    def counted(*args):
        second_passes.append(args[-1])
        return gather_block(*args)

    monkeypatch.setattr(dask_kernels, "_range_entries_block", counted)
    rng = np.random.default_rng(7)
    s, y = binary_data(3, 40000, dtype=np.float32)
    w = rng.integers(1, 4, s.size).astype(float) if weighted else None
    S = rng.normal(0.4, 0.2, (8000, 3)).astype(np.float32)
    Y = (rng.random((8000, 3)) < 0.3).astype(np.int8)
    S += np.float32(0.3) * Y
    wm = None if w is None else w[:8000]
    expected = f1opt.optimal_threshold(y, s, sample_weight=w)
    dw = None if w is None else da.from_array(w, chunks=5000)
    got = f1opt.optimal_threshold(
        da.from_array(y, chunks=5000), da.from_array(s, chunks=5000), sample_weight=dw
    )
    assert got == expected
    assert (len(second_passes) == 0) == (window == "sample")  # the window saves the pass
    dwm = None if wm is None else da.from_array(wm, chunks=1000)
    for average in ("micro", "macro"):
        rule = f1opt.PerClassThreshold(average=average)
        expected = rule.fit(S, Y, sample_weight=wm).thresholds_
        got = f1opt.PerClassThreshold(average=average).fit(
            da.from_array(S, chunks=(1000, 3)),
            da.from_array(Y, chunks=(1000, 3)),
            sample_weight=dwm,
        )
        np.testing.assert_array_equal(got.thresholds_, expected)
    assert (len(calls) > 0) == (window != "none")
    assert window == "none" or calls[0] is not None  # the binary search had a window


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_inputs(n, scheduler):
    s = np.array([0.4, 0.4, 0.9][:n])
    y = np.array([1, 0, 1][:n])
    expected = f1opt.optimal_threshold(y, s)
    assert f1opt.optimal_threshold(da.from_array(y, chunks=1), da.from_array(s, chunks=1)) == (
        expected
    )


def test_signed_zeros_and_extreme_values_share_a_cut():
    s = np.array([-0.0, 0.0, 0.0, -0.0, 1e-300, -1e-300, 3e38, -3e38, 1e300, 5.0])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    expected = f1opt.optimal_threshold(y, s)
    with dask.config.set(scheduler="synchronous"):
        for bits in (1, 8, 18):
            got = distributed.optimal_threshold(
                da.from_array(y, chunks=3), da.from_array(s, chunks=3), bits=bits
            )
            assert got == expected


def test_empty_partitions_are_skipped(scheduler):
    s, y = binary_data(3, 2000, levels=25)
    frame = dd.from_pandas(pd.DataFrame({"s": s, "y": y}), npartitions=8)
    kept = frame[frame["s"] > 0.45]  # some partitions may end up empty
    low = pd.DataFrame({"s": s, "y": y})
    low = low[low["s"] > 0.45]
    expected = f1opt.optimal_threshold(low["y"].to_numpy(), low["s"].to_numpy())
    assert f1opt.optimal_threshold(kept["y"], kept["s"]) == expected


def test_global_threshold_binary_and_micro(scheduler):
    s, y = binary_data(1, 2500, levels=30, dtype=np.float32)
    expected = f1opt.GlobalThreshold().fit(s, y)
    got = f1opt.GlobalThreshold().fit(da.from_array(s, chunks=600), da.from_array(y, chunks=600))
    assert (got.threshold_, got.best_score_, got.average_, got.n_labels_) == (
        expected.threshold_,
        expected.best_score_,
        expected.average_,
        expected.n_labels_,
    )
    S, Y = multilabel_data(2, 800, 4, levels=20)
    Y[:, 2] = 0
    expected = f1opt.GlobalThreshold(average="micro").fit(S, Y)
    got = f1opt.GlobalThreshold(average="micro").fit(da.from_array(S, chunks=(300, 2)), Y)
    assert got.threshold_ == expected.threshold_
    assert got.best_score_ == expected.best_score_
    assert got.n_labels_ == 4
    assert got.score(S, Y) == expected.best_score_


def test_binary_without_positive_raises(scheduler):
    s = da.from_array(np.array([0.1, 0.5, 0.3]), chunks=2)
    with pytest.raises(ValueError, match="no positive"):
        f1opt.optimal_threshold(da.zeros(3, chunks=2, dtype=np.int8), s)


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        ([0.1, np.nan, 0.3, 0.4], [0, 1, 0, 1], "NaN.*partition 0"),
        ([0.1, 0.2, 0.3, np.inf], [0, 1, 0, 1], "infinite.*partition 1"),
        ([0.1, 0.2, 0.3, 0.4], [0, 2, 0, 1], "only 0 and 1.*partition 0"),
    ],
)
def test_bad_partitions_raise_clear_errors(scores, labels, message):
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match=message):
        f1opt.optimal_threshold(
            da.from_array(np.array(labels), chunks=2), da.from_array(np.array(scores), chunks=2)
        )


def test_lengths_must_match():
    with pytest.raises(ValueError, match="same length"):
        f1opt.optimal_threshold(da.ones(5, chunks=2), da.ones(4, chunks=2))


@pytest.mark.parametrize("average", ["macro", "weighted", "samples"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("finer", [False, True])
def test_global_grouped_averages_on_dask_match_memory(
    scheduler, average, weighted, seed, finer, monkeypatch
):
    """GlobalThreshold macro / weighted / samples on Dask: the in-memory threshold and F.

    ``finer``: every planned macro / weighted range is counted again, finer, on
    the client (large ranges are; these small ones are not otherwise).
    """
    if finer:
        from f1opt.kernels import buckets

        monkeypatch.setattr(buckets, "refine_limit", lambda m, limit=None: 0)
    rng = np.random.default_rng(seed)
    n, n_labels = int(rng.integers(20, 300)), int(rng.integers(2, 7))
    S = np.round(rng.normal(0.3, 0.2, (n, n_labels)), 2)
    if seed % 2:
        S = S.astype(np.float32)
    Y = (rng.random((n, n_labels)) < 0.2).astype(np.int8)
    w = rng.integers(0, 4, n).astype(float) if weighted else None
    chunk = max(1, n // 3)
    dS, dY = da.from_array(S, chunks=(chunk, n_labels)), da.from_array(Y, chunks=(chunk, n_labels))
    dw = None if w is None else da.from_array(w, chunks=chunk)
    expected = f1opt.GlobalThreshold(average=average).fit(S, Y, sample_weight=w)
    with dask.config.set(scheduler=scheduler):
        got = f1opt.GlobalThreshold(average=average).fit(dS, dY, sample_weight=dw)
    assert got.threshold_ == expected.threshold_
    assert got.best_score_ == pytest.approx(expected.best_score_, abs=1e-12)
    pred = (S >= got.threshold_).astype(int)
    assert got.best_score_ == pytest.approx(
        fbeta_score(Y, pred, average=average, sample_weight=w), abs=1e-12
    )


# ---------------------------------------------------------------- per label


def multilabel_data(seed, n, n_labels, levels=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    S = rng.random((n, n_labels))
    if levels:
        S = np.round(S * levels) / levels
    Y = (rng.random((n, n_labels)) < S * 0.9).astype(np.int8)
    return S.astype(dtype), Y


def assert_same_fit(got, expected):
    np.testing.assert_array_equal(got.thresholds_, expected.thresholds_)
    assert got.best_score_ == expected.best_score_
    assert got.average_ == expected.average_


@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_class_identical_to_in_memory(average, dtype, scheduler):
    S, Y = multilabel_data(4, 1500, 5, levels=30, dtype=dtype)
    Y[:, 3] = 0  # a label with no positive predicts nothing
    expected = f1opt.PerClassThreshold(average=average).fit(S, Y)
    got = f1opt.PerClassThreshold(average=average).fit(
        da.from_array(S, chunks=(400, 2)), da.from_array(Y, chunks=350)
    )
    assert_same_fit(got, expected)
    assert got.thresholds_[3] == np.inf
    assert got.score(S, Y) == expected.best_score_


@pytest.mark.parametrize("bits", [1, 2, 4, 12])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize("seed", range(8))
def test_per_class_pruning_is_exact_with_ties(bits, average, seed):
    rng = np.random.default_rng(seed)
    S, Y = multilabel_data(seed, int(rng.integers(1, 60)), int(rng.integers(1, 5)), levels=4)
    beta = BETAS[seed % 3]
    expected = f1opt.PerClassThreshold(beta=beta, average=average).fit(S, Y)
    settings = replace(_engine.SETTINGS, min_bits=bits, max_bits=bits)
    with dask.config.set(scheduler="synchronous"):
        thresholds, _, score = _engine.per_label(
            da.from_array(S, chunks=13),
            da.from_array(Y, chunks=13),
            None,
            beta,
            average,
            settings=settings,
        )
    np.testing.assert_array_equal(thresholds, expected.thresholds_)
    assert score == pytest.approx(expected.best_score_, abs=1e-12)


def test_per_class_from_dataframe_columns(scheduler):
    S, Y = multilabel_data(5, 1200, 3, levels=50, dtype=np.float32)
    frame = pd.DataFrame(np.hstack([S, Y]), columns=["a", "b", "c", "ya", "yb", "yc"])
    ddf = dd.from_pandas(frame, npartitions=4)
    for average in ("micro", "macro"):
        expected = f1opt.PerClassThreshold(average=average).fit(S, Y)
        got = f1opt.PerClassThreshold(average=average).fit(
            ddf[["a", "b", "c"]], ddf[["ya", "yb", "yc"]].astype("int8")
        )
        assert_same_fit(got, expected)


def test_local_cluster_gives_the_same_results(tmp_path):
    distributed_mod = pytest.importorskip("distributed")
    s, y = binary_data(6, 4000, levels=60, dtype=np.float32)
    S, Y = multilabel_data(7, 1000, 3, levels=30)
    Y[:, 1] = 0
    with (
        distributed_mod.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed_mod.Client(cluster) as client,
    ):
        got = f1opt.optimal_threshold(da.from_array(y, chunks=900), da.from_array(s, chunks=900))
        assert got == f1opt.optimal_threshold(y, s)
        for average in ("micro", "macro"):
            fitted = f1opt.PerClassThreshold(average=average).fit(
                da.from_array(S, chunks=300), da.from_array(Y, chunks=300)
            )
            assert_same_fit(fitted, f1opt.PerClassThreshold(average=average).fit(S, Y))
        assert client.status == "running"
    assert client.status == "closed"


# ---------------------------------------------------------------- parquet


@pytest.fixture
def parquet_files(tmp_path):
    pytest.importorskip("pyarrow")
    S, Y = multilabel_data(8, 3000, 3, levels=80, dtype=np.float32)
    frame = pd.DataFrame(
        {"s0": S[:, 0], "s1": S[:, 1], "s2": S[:, 2], "y0": Y[:, 0], "y1": Y[:, 1], "y2": Y[:, 2]}
    )
    for i, part in enumerate(np.array_split(np.arange(3000), 3)):
        frame.iloc[part].to_parquet(tmp_path / f"part-{i}.parquet")
    return str(tmp_path / "part-*.parquet"), S, Y


def test_fit_parquet_global_binary(parquet_files, tmp_path, scheduler):
    pattern, S, Y = parquet_files
    decider = distributed.fit_parquet(pattern, ["s0"], ["y0"], method="global", average="binary")
    expected = f1opt.GlobalThreshold().fit(S[:, 0], Y[:, 0])
    assert isinstance(decider, f1opt.GlobalThreshold)
    assert decider.threshold_ == expected.threshold_
    assert decider.best_score_ == expected.best_score_
    loaded = f1opt.load(decider.save(tmp_path / "rule.json"))
    assert loaded.threshold_ == decider.threshold_
    np.testing.assert_array_equal(loaded.predict(S[:, 0]), expected.predict(S[:, 0]))


@pytest.mark.parametrize(
    ("method", "average"),
    [("global", "micro"), ("per_class", "micro"), ("per_class", "macro")],
)
def test_fit_parquet_multilabel(parquet_files, tmp_path, method, average):
    pattern, S, Y = parquet_files
    with dask.config.set(scheduler="threads"):
        decider = distributed.fit_parquet(
            pattern, ["s0", "s1", "s2"], ["y0", "y1", "y2"], method=method, average=average
        )
    cls = f1opt.GlobalThreshold if method == "global" else f1opt.PerClassThreshold
    expected = cls(average=average).fit(S, Y)
    assert type(decider) is cls
    assert decider.best_score_ == expected.best_score_
    if method == "global":
        assert decider.threshold_ == expected.threshold_
    else:
        np.testing.assert_array_equal(decider.thresholds_, expected.thresholds_)
    loaded = f1opt.load(decider.save(tmp_path / "rule.json"))
    np.testing.assert_array_equal(loaded.predict(S), expected.predict(S))


def test_fit_parquet_checks_columns(parquet_files):
    pattern, _, _ = parquet_files
    with pytest.raises(ValueError, match="same number"):
        distributed.fit_parquet(pattern, ["s0", "s1"], ["y0"])
    with pytest.raises(ValueError, match="one score column"):
        distributed.fit_parquet(pattern, ["s0", "s1"], ["y0", "y1"], average="binary")
    with pytest.raises(ValueError, match="method"):
        distributed.fit_parquet(pattern, ["s0"], ["y0"], method="tree")


def test_fit_parquet_expands_globs_and_names_a_missing_file(parquet_files):
    pattern, S, Y = parquet_files
    first_two = pattern.replace("part-*", "part-[01]")
    decider = distributed.fit_parquet(first_two, ["s0"], ["y0"])
    n = sum(len(part) for part in np.array_split(np.arange(3000), 3)[:2])
    assert decider.threshold_ == f1opt.GlobalThreshold().fit(S[:n, 0], Y[:n, 0]).threshold_
    with pytest.raises(FileNotFoundError, match="no Parquet file matches"):
        distributed.fit_parquet(pattern.replace("part-*", "nothing-*"), ["s0"], ["y0"])


def test_import_f1opt_imports_neither_dask_nor_numba():
    code = (
        "import sys, numpy as np, f1opt\n"
        "f1opt.optimal_threshold([0, 1, 1], [0.1, 0.5, 0.7])\n"
        "print(sorted(m for m in ('dask', 'distributed', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_fit_parquet_reads_a_folder_and_names_a_missing_column(parquet_files, tmp_path):
    pattern, S, Y = parquet_files
    folder = str(tmp_path)
    decider = distributed.fit_parquet(folder, ["s0"], ["y0"])
    assert decider.threshold_ == f1opt.GlobalThreshold().fit(S[:, 0], Y[:, 0]).threshold_
    with pytest.raises(ValueError, match="no column 'nope'"):
        distributed.fit_parquet(pattern, ["nope"], ["y0"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no .parquet file under"):
        distributed.fit_parquet(str(empty), ["s0"], ["y0"])
