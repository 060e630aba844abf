"""Sparse top-k scores at extreme-multilabel scale: PerClassThreshold on CSR against np.sort.

Scores as extreme-multilabel models emit them: each row stores its ``k`` best
labels (uniform label ids, scores in (0, 1)); an unstored entry is never
predicted. Labels: about ``positives`` per row, half of them among the stored
entries (scored higher), half elsewhere (never predictable). Reference:
``np.sort`` of the stored values (``S.data``). Peak memory above the input is
the process's high-water mark (``VmHWM``, reset before each fit) minus its
resident size before the fit, against the matrix's bytes (data + indices +
indptr). One process, fits in turn; medians of ``--repeats``.

    .venv/bin/python benchmarks/sparse_scale.py [--rows 1e6 --labels 1e5 --stored 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import limit_threads, median_time  # noqa: E402

from f1opt import PerClassThreshold  # noqa: E402


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def make_data(n, n_labels, stored, positives, seed=0):
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--labels", type=float, default=1e5)
    p.add_argument("--stored", type=int, default=50, help="stored scores per row")
    p.add_argument("--positives", type=float, default=5.0, help="positive labels per row")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    limit_threads(1)
    n, n_labels = int(args.rows), int(args.labels)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    start = time.perf_counter()
    S, Y = make_data(n, n_labels, args.stored, args.positives)
    nbytes = S.data.nbytes + S.indices.nbytes + S.indptr.nbytes
    print(
        f"{n:.0e} rows x {n_labels:.0e} labels, {S.nnz:.3g} stored scores "
        f"({nbytes / 1e6:.0f} MB), {Y.nnz / n:.2f} positive labels per row; "
        f"made in {time.perf_counter() - start:.1f} s"
    )
    PerClassThreshold(average="micro").fit(S[:1000], Y[:1000])  # compile once
    ref, _ = median_time(lambda: np.sort(S.data), args.repeats)
    print(f"\nnp.sort of the {S.nnz:.3g} stored values: {ref:.3f} s\n")
    print("| fit | s | / np.sort(S.data) | peak above input MB | / matrix bytes | F |")
    print("|---|---:|---:|---:|---:|---:|")
    for average in ("micro", "macro"):
        rule = PerClassThreshold(average=average)
        base = _status("VmRSS")
        _reset_peak()
        seconds, _ = median_time(lambda: rule.fit(S, Y), args.repeats)  # noqa: B023
        peak = max(0, _status("VmHWM") - base)
        print(
            f"| PerClassThreshold {average} | {seconds:.2f} | {seconds / ref:.1f} | "
            f"{peak / 1e6:.0f} | {peak / nbytes:.1f} | {rule.best_score_:.4f} |"
        )
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
