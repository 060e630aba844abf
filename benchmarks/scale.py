"""Scale: the exact search in memory near its limits, and out of core on Dask over Parquet.

Three tables in one run:

1. the in-memory binary kernel on 10^7 float32 scores beside np.sort of the same
   array, the numpy fallback (no numba), the plain sort-and-scan
   (``cut_candidates``) and ``precision_recall_curve`` + argmax;
2. PerClassThreshold (micro, macro) on 10^6 x 100 float32 scores;
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

    .venv/bin/python benchmarks/scale.py [--quick] [--repeats R]
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
from _common import median_time  # benchmarks/ is on sys.path when run as a script

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
    from f1opt import _buckets
    from f1opt.thresholds import best_cut, binary_threshold, cut_candidates

    s, y = make_scores(n, seed=0)
    binary_threshold(s[:100_000], y[:100_000])  # compile
    t_sort, _ = median_time(lambda: np.sort(s), repeats)
    t_kernel, res = median_time(lambda: binary_threshold(s, y), repeats)
    t_public, _ = median_time(lambda: f1opt.optimal_threshold(y, s), repeats)
    _buckets.USE_NUMBA = False
    try:
        t_numpy, res_numpy = median_time(lambda: binary_threshold(s, y), repeats)
    finally:
        _buckets.USE_NUMBA = True
    t_plain, res_plain = median_time(lambda: best_cut(cut_candidates(s, y)), max(1, repeats // 2))

    def pr_curve():
        precision, recall, _ = precision_recall_curve(y, s)
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0)
        return f[:-1].max()

    t_pr, f_pr = median_time(pr_curve, 1)
    assert res == res_numpy == res_plain
    assert abs(f_pr - res[1]) < 1e-9
    print(f"\n## Binary kernel, n = {n:.0e} float32 scores (10% positives), median of {repeats}")
    print(f"{'method':<44s} {'time s':>8s} {'/ np.sort':>9s}")
    rows = [
        ("np.sort (same array)", t_sort),
        ("f1opt kernel (binary_threshold, numba)", t_kernel),
        ("f1opt.optimal_threshold (with input checks)", t_public),
        ("f1opt kernel, numpy fallback", t_numpy),
        ("sort-and-scan (cut_candidates, before)", t_plain),
        ("precision_recall_curve + argmax", t_pr),
    ]
    for name, t in rows:
        print(f"{name:<44s} {t:8.3f} {t / t_sort:9.2f}")
    print(f"precision_recall_curve / f1opt kernel: {t_pr / t_kernel:.0f}x; same F1 {res[1]:.6f}")


def per_class_table(n, n_labels, repeats):
    import f1opt

    rng = np.random.default_rng(1)
    Y = (rng.random((n, n_labels)) < 0.05).astype(np.int8)
    S = rng.normal(0.3, 0.15, (n, n_labels)).astype(np.float32)
    S += 0.3 * Y
    f1opt.PerClassThreshold().fit(S[:1000], Y[:1000])  # compile
    print(f"\n## PerClassThreshold, {n:.0e} x {n_labels} float32 scores, median of {repeats}")
    print(f"{'average':<8s} {'time s':>8s} {'rounds':>6s} {'F (fit)':>9s}")
    for average in ("micro", "macro"):
        t, d = median_time(lambda a=average: f1opt.PerClassThreshold(average=a).fit(S, Y), repeats)
        print(f"{average:<8s} {t:8.2f} {d.n_iter_:6d} {d.best_score_:9.5f}")


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
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.files, args.repeats)
        return
    global ROWS_PER_FILE
    if args.quick:
        ROWS_PER_FILE = 10**5
        sizes, kernel_n, per_class = [10**5, 10**6], 10**6, (10**5, 20)
    else:
        sizes, kernel_n, per_class = [10**6, 10**7, 10**8], 10**7, (10**6, 100)
    global DATA
    DATA = DATA.with_name(f"scale-{ROWS_PER_FILE}")
    print(f"writing/reusing Parquet data in {DATA} ...", flush=True)
    start = time.perf_counter()
    write_parquet(DATA, max(sizes) // ROWS_PER_FILE, ROWS_PER_FILE)
    print(f"data ready in {time.perf_counter() - start:.1f} s")
    kernel_table(kernel_n, args.repeats)
    per_class_table(*per_class, args.repeats)
    dask_table(sizes, args.repeats, in_memory_max=max(sizes))


if __name__ == "__main__":
    main()
