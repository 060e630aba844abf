"""Scale: the exact search in memory near its limits, and out of core on Dask over Parquet.

Three tables in one run:

1. the in-memory binary kernel on 10^7 float32 scores beside np.sort of the same
   array: the compiled engine, the numpy fallback (engine "buckets"), the plain
   sort-and-scan (engine "sort") and ``precision_recall_curve`` + argmax;
2. every fit (PerClassThreshold micro / macro beside ``np.sort(S, axis=0)``,
   GlobalThreshold micro / macro / weighted / samples beside ``np.sort`` of the
   flattened scores), each in a fresh child process that reports the fit's
   median time, the reference's time in the same process, and the fit's peak
   memory above the input (the high-water mark reset just before the fit via
   /proc/self/clear_refs), compiled and numpy fallback side by side;
3. the Dask search (``f1opt.distributed.fit_parquet``, two passes of counting)
   over 10^6, 10^7 and 10^8 scores in Parquet files on disk, each run in a
   fresh subprocess whose peak resident memory (``ru_maxrss``) is reported,
   beside the in-memory search on the same data (read into memory first) where
   it fits; both must give the same threshold. Peak memory is the process's
   high-water mark (VmHWM in /proc/self/status, i.e. ru_maxrss of that process
   alone), Python, numpy, pyarrow and dask included.

The Parquet data (float32 score, int8 label, 10^6 rows per file, 10% positives)
is written once under benchmarks/_data/ (gitignored), file by file, so that
memory stays low; later runs reuse it.

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" \
        .venv/bin/python benchmarks/scale.py [--quick] [--repeats R] [--dask-max N]
        [--per-class NxL] [--global NxL]

(On AMD Zen 4 numpy's AVX-512 sort is the slow one: the environment variable
makes np.sort, the reference of every ratio, numpy's fast AVX2 sort; the script
prints which sort numpy runs. f1opt runs under the same setting.)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _common import median_time, numpy_sort_note  # benchmarks/ is on sys.path as a script

DATA = Path(__file__).resolve().parent / "_data" / "scale"
ROWS_PER_FILE = 10**6


def make_scores(n, seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.1).astype(np.int8)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1).astype(np.float32)
    return s, y


def write_parquet(directory: Path, n_files: int, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        path = directory / f"part-{i:03d}.parquet"
        if path.exists() and pq.read_metadata(path).num_rows == rows:
            continue
        s, y = make_scores(rows, seed=1000 + i)
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"score": s, "label": y}), tmp)
        tmp.replace(path)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss where /proc is missing).

    ru_maxrss alone is not enough on Linux: a child started by fork + exec
    inherits the parent's peak at the time of the fork.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---------------------------------------------------------------- child processes


def child(engine: str, files: list[str], repeats: int) -> None:
    """Run one search in this (fresh) process and print a JSON line."""
    import f1opt

    out = {"engine": engine}
    if engine == "dask":
        import dask

        from f1opt.distributed import fit_parquet

        with dask.config.set(scheduler="threads"):
            fit_parquet(files[:1], ["score"], ["label"])  # compile numba kernels, warm up
            t, decider = median_time(lambda: fit_parquet(files, ["score"], ["label"]), repeats)
    else:
        import pyarrow.parquet as pq

        start = time.perf_counter()
        table = pq.read_table(files)
        s = table.column("score").to_numpy()
        y = table.column("label").to_numpy()
        del table
        out["read_s"] = time.perf_counter() - start
        f1opt.GlobalThreshold().fit(s[:1000], y[:1000])
        t, decider = median_time(lambda: f1opt.GlobalThreshold().fit(s, y), repeats)
    out.update(
        time_s=t,
        threshold=decider.threshold_,
        score=decider.best_score_,
        peak_rss_mb=peak_rss_mb(),
    )
    print(json.dumps(out))


def write_multilabel_parquet(directory: Path, n_files: int, rows: int, n_labels: int) -> None:
    """Files of ``rows`` rows: score columns s0.. and 0/1 label columns y0.. (5% positives)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        path = directory / f"part-{i:03d}.parquet"
        if path.exists() and pq.read_metadata(path).num_rows == rows:
            continue
        rng = np.random.default_rng(2000 + i)
        Y = (rng.random((rows, n_labels)) < 0.05).astype(np.int8)
        S = (rng.normal(0.3, 0.15, (rows, n_labels)) + 0.3 * Y).astype(np.float32)
        columns = {f"s{j}": S[:, j] for j in range(n_labels)}
        columns.update({f"y{j}": Y[:, j] for j in range(n_labels)})
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table(columns), tmp)
        tmp.replace(path)


MULTILABEL_FITS = [
    ("global", "micro"), ("global", "macro"), ("global", "weighted"), ("global", "samples"),
    ("per_class", "micro"), ("per_class", "macro"),
]  # fmt: skip


def multilabel_child(files: list[str], n_labels: int, repeats: int) -> None:
    """Every multilabel fit on Dask over the files, and in memory after pyarrow reads them."""
    import dask
    import pyarrow.parquet as pq

    import f1opt
    from f1opt.distributed import fit_parquet

    scores = [f"s{j}" for j in range(n_labels)]
    labels = [f"y{j}" for j in range(n_labels)]
    start = time.perf_counter()
    table = pq.read_table(files, columns=scores + labels)
    S = np.column_stack([table.column(c).to_numpy() for c in scores])
    Y = np.column_stack([table.column(c).to_numpy() for c in labels])
    del table
    read_s = time.perf_counter() - start
    out = {"read_s": read_s, "rows": []}
    with dask.config.set(scheduler="threads"):
        for method, average in MULTILABEL_FITS:
            cls = f1opt.GlobalThreshold if method == "global" else f1opt.PerClassThreshold
            fit_parquet(files[:4], scores, labels, method, average)  # warm up
            t_dask, dask_rule = median_time(
                lambda m=method, a=average: fit_parquet(files, scores, labels, m, a), repeats
            )
            t_mem, mem_rule = median_time(lambda c=cls, a=average: c(average=a).fit(S, Y), repeats)
            same = np.array_equal(
                getattr(dask_rule, "thresholds_", getattr(dask_rule, "threshold_", None)),
                getattr(mem_rule, "thresholds_", getattr(mem_rule, "threshold_", None)),
            )
            out["rows"].append(
                dict(method=method, average=average, dask_s=t_dask, memory_s=t_mem, same=same)
            )
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def dask_multilabel_table(n, n_labels, repeats):
    rows_per_file = 100_000
    directory = DATA.with_name(f"multilabel-{n}x{n_labels}")
    print(f"\nwriting/reusing {n:.0e} x {n_labels} Parquet data in {directory} ...", flush=True)
    write_multilabel_parquet(directory, max(1, n // rows_per_file), rows_per_file, n_labels)
    files = sorted(str(p) for p in directory.glob("part-*.parquet"))
    cmd = [sys.executable, __file__, "--ml-child", str(n_labels), "--repeats", str(repeats)]
    proc = subprocess.run(cmd + files, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"multilabel child failed:\n{proc.stderr}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"\n## Dask over Parquet, {n:.0e} rows x {n_labels} labels ({rows_per_file:.0e} rows "
        f"per file, threads), median of {repeats}; pyarrow reads the same files in "
        f"{r['read_s']:.2f} s; peak RSS of the process {r['peak_rss_mb']:.0f} MB"
    )
    print(
        "| fit | Dask s | / pyarrow read | in-memory fit s (after the read) | same rule |\n"
        "|---|---:|---:|---:|---|"
    )
    for row in r["rows"]:
        name = "GlobalThreshold " if row["method"] == "global" else "PerClassThreshold "
        print(
            f"| {name}{row['average']} | {row['dask_s']:.2f} | {row['dask_s'] / r['read_s']:.2f} "
            f"| {row['memory_s']:.2f} | {'yes' if row['same'] else 'NO'} |"
        )


def run_child(engine, files, repeats):
    cmd = [sys.executable, __file__, "--child", engine, "--repeats", str(repeats), *files]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child {engine} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- tables


def kernel_table(n, repeats):
    from sklearn.metrics import precision_recall_curve

    import f1opt
    from f1opt import _engine

    s, y = make_scores(n, seed=0)
    engines = ["compiled", "buckets", "sort"] if _engine.compiled_kernels() else ["buckets", "sort"]
    for engine in engines:
        _engine.binary(s[:100_000], y[:100_000], engine=engine)  # compile, warm up
    t_sort, _ = median_time(lambda: np.sort(s), repeats)
    times, results = {}, {}
    for engine in engines:
        r = repeats if engine != "sort" else max(1, repeats // 2)
        times[engine], results[engine] = median_time(
            lambda e=engine: _engine.binary(s, y, engine=e), r
        )
    t_public, _ = median_time(lambda: f1opt.optimal_threshold(y, s), repeats)
    t_pass = None
    if _engine.compiled_kernels() is not None:
        from threshold_speed import one_counting_pass

        one_counting_pass(s[:1000], y[:1000])
        t_pass, _ = median_time(lambda: one_counting_pass(s, y), repeats)

    def pr_curve():
        precision, recall, _ = precision_recall_curve(y, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
        return f[:-1].max()

    t_pr, f_pr = median_time(pr_curve, 1)
    first = results[engines[0]]
    assert all(r == first for r in results.values())
    assert abs(f_pr - first[1]) < 1e-9
    print(f"\n## Binary kernel, n = {n:.0e} float32 scores (10% positives), median of {repeats}")
    print("| method | time s | / np.sort |\n|---|---:|---:|")
    names = {
        "compiled": f"engine compiled (numba passes, {_engine.SETTINGS.n_threads} threads)",
        "buckets": "engine buckets (numpy fallback)",
        "sort": "engine sort (sort-and-scan)",
    }
    rows = [("np.sort (same array)", t_sort)]
    if t_pass is not None:
        rows.append(("one compiled counting pass, 2^16 buckets, 1 thread (the floor)", t_pass))
    rows += [(names[e], times[e]) for e in engines]
    rows += [
        ("f1opt.optimal_threshold (with input checks)", t_public),
        ("precision_recall_curve + argmax", t_pr),
    ]
    for name, t in rows:
        print(f"| {name} | {t:.3f} | {t / t_sort:.2f} |")
    print(f"same threshold and F1 on every engine: {first[1]:.6f}")


# ---------------------------------------------------------------- fits in child processes


def reset_peak() -> bool:
    """Reset this process's memory high-water mark (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fit_child(spec: str, repeats: int) -> None:
    """One fit in this fresh process: ``kind:average:n:n_labels``; prints a JSON line."""
    import f1opt

    kind, average, n, n_labels = spec.split(":")
    n, n_labels = int(n), int(n_labels)
    rng = np.random.default_rng(1)
    Y = (rng.random((n, n_labels)) < 0.05).astype(np.int8)
    S = rng.normal(0.3, 0.15, (n, n_labels)).astype(np.float32)
    S += np.float32(0.3) * Y
    cls = f1opt.PerClassThreshold if kind == "per_class" else f1opt.GlobalThreshold
    warm = max(2000, -(-(1 << 17) // n_labels))  # enough rows for the counting passes
    cls(average=average).fit(S[:warm], Y[:warm])  # compile, warm up
    if kind == "per_class":
        t_ref, _ = median_time(lambda: np.sort(S, axis=0), repeats)
    else:
        t_ref, _ = median_time(lambda: np.sort(S.ravel()), repeats)
    import gc

    gc.collect()
    base = current_rss_mb()
    ok = reset_peak()
    start = time.perf_counter()
    decider = cls(average=average).fit(S, Y)
    first = time.perf_counter() - start
    peak = peak_rss_mb() - base if ok else float("nan")
    times = [first]
    for _ in range(repeats - 1):
        start = time.perf_counter()
        cls(average=average).fit(S, Y)
        times.append(time.perf_counter() - start)
    t_fit = float(np.median(times))
    print(
        json.dumps(
            dict(
                time_s=t_fit,
                ref_s=t_ref,
                peak_above_mb=peak,
                scores_mb=S.nbytes / 2**20,
                score=decider.best_score_,
            )
        )  # fmt: skip
    )


def run_fit_child(spec, repeats, numba=True):
    import os

    env = dict(os.environ)
    if not numba:
        env["F1OPT_DISABLE_NUMBA"] = "1"
    cmd = [sys.executable, __file__, "--fit-child", spec, "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_table(per_class, global_, repeats):
    print(
        f"\n## Fits, float32 scores (5% positives), median of {repeats}; each in a fresh process;"
        " memory = peak above the input during the fit"
    )
    print(
        "| fit | n x L | engine | fit s | reference | ref s | fit / ref | peak above input MB "
        "| / scores' bytes | F |\n|---|---|---|---:|---|---:|---:|---:|---:|---:|"
    )
    specs = [("per_class", a, *per_class) for a in ("micro", "macro")]
    specs += [("global", a, *global_) for a in ("micro", "macro", "weighted", "samples")]
    for kind, average, n, n_labels in specs:
        reference = "np.sort(S, axis=0)" if kind == "per_class" else "np.sort(S.ravel())"
        for numba in (True, False):
            r = run_fit_child(f"{kind}:{average}:{n}:{n_labels}", repeats, numba)
            engine = "compiled" if numba else "numpy buckets"
            name = ("PerClassThreshold " if kind == "per_class" else "GlobalThreshold ") + average
            print(
                f"| {name} | {n:.0e} x {n_labels} | {engine} | {r['time_s']:.2f} | {reference} "
                f"| {r['ref_s']:.3f} | {r['time_s'] / r['ref_s']:.1f} | {r['peak_above_mb']:.0f} "
                f"| {r['peak_above_mb'] / r['scores_mb']:.1f} | {r['score']:.5f} |",
                flush=True,
            )


def dask_table(sizes, repeats, in_memory_max):
    print(
        f"\n## Out of core: Parquet on disk ({ROWS_PER_FILE:.0e} rows per file), Dask threads,"
        f" median of {repeats}; each engine in a fresh process"
    )
    print(
        f"{'n':>9s} {'dask s':>8s} {'s / 1e7':>8s} {'dask RSS MB':>11s} "
        f"{'memory s':>9s} {'s / 1e7':>8s} {'read s':>7s} {'mem RSS MB':>10s} {'same':>5s}"
    )
    for n in sizes:
        files = [str(DATA / f"part-{i:03d}.parquet") for i in range(max(1, n // ROWS_PER_FILE))]
        d = run_child("dask", files, repeats)
        per = d["time_s"] / (n / 1e7)
        if n <= in_memory_max:
            m = run_child("memory", files, repeats)
            same = m["threshold"] == d["threshold"] and m["score"] == d["score"]
            mem = (
                f"{m['time_s']:9.3f} {m['time_s'] / (n / 1e7):8.3f} {m['read_s']:7.2f} "
                f"{m['peak_rss_mb']:10.0f} {'yes' if same else 'NO':>5s}"
            )
        else:
            mem = f"{'-':>9s} {'-':>8s} {'-':>7s} {'-':>10s} {'-':>5s}"
        print(f"{n:9.0e} {d['time_s']:8.2f} {per:8.3f} {d['peak_rss_mb']:11.0f} {mem}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=["dask", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--fit-child", help=argparse.SUPPRESS)
    parser.add_argument("--dask-max", type=float, default=None, help="largest Dask size")
    parser.add_argument("--per-class", default=None, help="N x L of the per-class fits")
    parser.add_argument("--global", dest="global_", default=None, help="N x L, global fits")
    parser.add_argument(
        "--dask-multilabel", default=None, help="N x L: multilabel fits on Dask over Parquet"
    )
    parser.add_argument("--ml-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip", nargs="*", default=[], choices=["kernel", "fits", "dask"])
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.files, args.repeats)
        return
    if args.fit_child:
        fit_child(args.fit_child, args.repeats)
        return
    if args.ml_child:
        multilabel_child(args.files, args.ml_child, args.repeats)
        return
    global ROWS_PER_FILE
    if args.quick:
        ROWS_PER_FILE = 10**5
        sizes, kernel_n, per_class, global_ = [10**5, 10**6], 10**6, (10**5, 20), (10**4, 20)
    else:
        sizes, kernel_n = [10**6, 10**7, 10**8], 10**7
        per_class, global_ = (10**6, 100), (2 * 10**5, 100)
    if args.per_class:
        per_class = tuple(int(float(v)) for v in args.per_class.split("x"))
    if args.global_:
        global_ = tuple(int(float(v)) for v in args.global_.split("x"))
    if args.dask_max:
        sizes = [s for s in sizes if s <= args.dask_max]
    global DATA
    DATA = DATA.with_name(f"scale-{ROWS_PER_FILE}")
    print(f"load average before: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(numpy_sort_note())
    if "kernel" not in args.skip:
        kernel_table(kernel_n, args.repeats)
    if "fits" not in args.skip:
        fit_table(per_class, global_, args.repeats)
    if "dask" not in args.skip:
        print(f"writing/reusing Parquet data in {DATA} ...", flush=True)
        start = time.perf_counter()
        write_parquet(DATA, max(sizes) // ROWS_PER_FILE, ROWS_PER_FILE)
        print(f"data ready in {time.perf_counter() - start:.1f} s")
        dask_table(sizes, args.repeats, in_memory_max=min(max(sizes), 10**8))
    if args.dask_multilabel:
        n, n_labels = (int(float(v)) for v in args.dask_multilabel.split("x"))
        dask_multilabel_table(n, n_labels, args.repeats)
    print(f"load average after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
