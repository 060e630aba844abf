"""Sparse top-k scores at extreme-multilabel scale: fits on CSR beside np.sort of the stored data.

Scores as extreme-multilabel models emit them: each row stores its ``k`` best
labels (uniform label ids, scores in (0, 1)); an unstored entry is never
predicted. Labels: about ``positives`` per row, half of them among the stored
entries (scored higher), half elsewhere (never predictable).

Every fit runs in a fresh child process, which makes the data, times
``np.sort(S.data)`` (the reference, same process), then resets its peak
resident size (``VmHWM``, through ``/proc/self/clear_refs``) and fits
``--repeats`` times: time is the median, peak memory the high-water mark
minus the resident size before the fits, against the matrix's bytes
(data + indices + indptr). The numpy fallback runs with
``F1OPT_DISABLE_NUMBA=1``.

On AMD Zen 4 numpy's AVX-512 sort is microcoded-slow; run with
``NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL"`` so the reference is numpy's
AVX2 sort (the script prints the SIMD dispatch it ran with)::

    NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL" .venv/bin/python benchmarks/sparse_scale.py
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

FITS = [
    ("PerClassThreshold", "micro"),
    ("PerClassThreshold", "macro"),
    ("GlobalThreshold", "micro"),
    ("GlobalThreshold", "macro"),
    ("GlobalThreshold", "samples"),
]
ENGINES = ("compiled", "numpy")


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def make_data(n, n_labels, stored, positives, seed=0):
    """Top-``stored`` CSR scores (float32) and CSR labels, about ``positives`` per row."""
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, n_labels, size=(n, stored), dtype=np.int32)
    cols.sort(axis=1)
    keep = np.ones_like(cols, dtype=bool)
    keep[:, 1:] = cols[:, 1:] != cols[:, :-1]  # one entry per (row, label)
    counts = keep.sum(axis=1)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    indices = cols[keep]
    hit = rng.random(indices.size) < positives / (2.0 * stored)
    data = np.where(hit, 0.5 + 0.5 * rng.random(indices.size), 0.7 * rng.random(indices.size))
    S = sp.csr_matrix((data.astype(np.float32), indices, indptr), shape=(n, n_labels))
    # labels: the hits among the stored entries, and as many again among the unstored
    rows = np.repeat(np.arange(n), counts)[hit]
    extra = int(hit.sum())
    y_rows = np.concatenate((rows, rng.integers(0, n, extra)))
    y_cols = np.concatenate((indices[hit], rng.integers(0, n_labels, extra, dtype=np.int32)))
    Y = sp.csr_matrix((np.ones(y_rows.size, dtype=np.int8), (y_rows, y_cols)), shape=(n, n_labels))
    Y.data[:] = 1  # duplicates summed
    return S, Y


def simd_dispatch() -> str:
    """numpy's SIMD extensions found / not found in this process (its runtime report)."""
    from numpy._core._multiarray_umath import __cpu_baseline__, __cpu_dispatch__, __cpu_features__

    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    missing = [f for f in __cpu_dispatch__ if not __cpu_features__.get(f)]
    return (
        f"numpy {np.__version__}; baseline {' '.join(__cpu_baseline__)}; dispatched "
        f"{' '.join(found) or '-'}; not used {' '.join(missing) or '-'}; "
        f"NPY_DISABLE_CPU_FEATURES={os.environ.get('NPY_DISABLE_CPU_FEATURES', '')!r}"
    )


def child(args) -> dict:
    """One fit in this (fresh) process: time, reference, peak memory above the input."""
    import f1opt

    S, Y = make_data(int(args.rows), int(args.labels), args.stored, args.positives)
    nbytes = S.data.nbytes + S.indices.nbytes + S.indptr.nbytes
    cls, average = args.child
    rule = getattr(f1opt, cls)(average=average)
    rule.fit(S[:2000], Y[:2000])  # compile (or load) the kernels outside the timings
    refs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        np.sort(S.data)
        refs.append(time.perf_counter() - start)
    gc.collect()
    base = _status("VmRSS")
    _reset_peak()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        rule.fit(S, Y)
        times.append(time.perf_counter() - start)
    peak = max(0, _status("VmHWM") - base)
    return dict(
        seconds=statistics.median(times),
        ref=statistics.median(refs),
        peak=peak,
        nbytes=nbytes,
        score=float(rule.best_score_),
        nnz=int(S.nnz),
        y_per_row=Y.nnz / S.shape[0],
        simd=simd_dispatch(),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--labels", type=float, default=1e5)
    p.add_argument("--stored", type=int, default=50, help="stored scores per row")
    p.add_argument("--positives", type=float, default=5.0, help="positive labels per row")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    p.add_argument(
        "--fits", nargs="+", default=[f"{c}:{a}" for c, a in FITS], help="Class:average ..."
    )
    p.add_argument("--child", nargs=2, metavar=("CLASS", "AVERAGE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"cores: {os.cpu_count()}; {simd_dispatch()}")
    common = ["--rows", str(args.rows), "--labels", str(args.labels), "--stored", str(args.stored)]
    common += ["--positives", str(args.positives), "--repeats", str(args.repeats)]
    rows = []
    for fit in args.fits:
        cls, average = fit.split(":")
        for engine in args.engines:
            env = dict(os.environ)
            env.pop("F1OPT_DISABLE_NUMBA", None)
            if engine == "numpy":
                env["F1OPT_DISABLE_NUMBA"] = "1"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", cls, average, *common]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((f"{cls} {average}", engine, r))
            print(f"  done: {cls} {average} ({engine}) {r['seconds']:.2f} s", file=sys.stderr)
    r0 = rows[0][2]
    print(
        f"\n{int(args.rows):.0e} rows x {int(args.labels):.0e} labels, {r0['nnz']:.3g} stored "
        f"scores (float32, int32 indices; {r0['nbytes'] / 1e6:.0f} MB), "
        f"{r0['y_per_row']:.2f} positive labels per row; each fit in a fresh process, "
        f"median of {args.repeats}\n"
    )
    print(
        "| fit | engine | fit s | np.sort(S.data) s | fit / np.sort | "
        "peak above input MB | / matrix bytes | F |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, engine, r in rows:
        print(
            f"| {name} | {engine} | {r['seconds']:.2f} | {r['ref']:.3f} | "
            f"{r['seconds'] / r['ref']:.2f} | {r['peak'] / 1e6:.0f} | "
            f"{r['peak'] / r['nbytes']:.2f} | {r['score']:.5f} |"
        )
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
