"""The stretcher on the write-up's toy: F1 and training time per number of epochs.

On make_stretcher_toy(n_labels=100, n_train=100_000, n_test=10_000) prints

1. anchors: the write-up's 20-point global grid (picked on the test set, as
   the write-up did), the exact global threshold and exact per-label
   thresholds (both fitted on the training scores);
2. the stretcher after 1, 2, 5, 10, 20 epochs (no early stopping) and with its
   defaults (early stopping): test micro-F1 at 0.5 and with then=PerClassThreshold
   (the same network; the thresholds are fitted on the 10% held-out part),
   training wall time and CPU time, beside the write-up's 0.79 / 0.99;
3. the write-up's own setting (batch 64, raw inputs) against the departures
   (standardised inputs, batch 256) at a fixed number of epochs;
4. the batch-size effect of the soft-F1 loss: the stretcher trained with
   loss="soft_f1" at batch 64, 512 and 4096 (test micro-F1 at 0.5 and predicted
   positives / actual positives), and, on one fixed network, the mean of the
   batch soft-F1 against the soft-F1 of the whole test set, and the share of
   (batch, label) cells with no positive (labels that give no macro signal);
5. (--threads, alone) one torch thread against torch's default in fit.

Every F score is sklearn.metrics.f1_score. In table 2, times and F1 are medians
over --repeats runs (seeds 0, 1, ...); tables 3 to 5 are single runs (seed 0)
to keep the whole script to a few minutes on a shared machine. CPU time is the
process's (one torch thread), which is what the run costs on an otherwise idle
core; the wall time includes waiting for the cores when the machine is shared.

    .venv/bin/python benchmarks/stretcher_epochs.py [--repeats R] [--quick]
    .venv/bin/python benchmarks/stretcher_epochs.py --threads
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from sklearn.metrics import f1_score

from f1opt import GlobalThreshold, PerClassThreshold
from f1opt.datasets import make_stretcher_toy
from f1opt.losses import SoftF1Loss
from f1opt.stretch import Stretcher

WRITE_UP_GLOBAL = 0.7935  # "Threshold: 0.42, F1 score: 0.7935" (its table says 0.7493)
WRITE_UP_STRETCHER = 0.9900  # 200 epochs, batch 64, threshold 0.5


def micro(y, y_pred):
    return f1_score(y, y_pred, average="micro")


def fit_timed(data, seed, **params):
    X_train, y_train, X_test, y_test = data
    wall, cpu = time.perf_counter(), time.process_time()
    model = Stretcher(random_state=seed, verbose=False, then=PerClassThreshold(), **params)
    model.fit(X_train, y_train)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    proba = model.predict_proba(X_test)
    return {
        "f_half": micro(y_test, proba >= 0.5),
        "f_then": micro(y_test, model.predict(X_test)),
        "wall": wall,
        "cpu": cpu,
        "epochs": model.n_epochs_,
        "pred_ratio": float((proba >= 0.5).sum() / y_test.sum()),
    }


def median_runs(data, repeats, **params):
    runs = [fit_timed(data, seed, **params) for seed in range(repeats)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def row(cells):
    return "| " + " | ".join(str(c) for c in cells) + " |"


def print_table(header, rows):
    print(row(header))
    print(row(["---"] * len(header)))
    for r in rows:
        print(row(r))
    print()


def anchors(data):
    X_train, y_train, X_test, y_test = data
    grid = np.linspace(0, 1, num=20)
    on_test = [micro(y_test, X_test > t) for t in grid]
    best = int(np.argmax(on_test))
    glob = GlobalThreshold(average="micro").fit(X_train, y_train)
    per = PerClassThreshold().fit(X_train, y_train)
    print("## Anchors (toy: 100 labels, 100k train, 10k test; fitted on train, scored on test)\n")
    print_table(
        ["method", "test micro-F1", "write-up"],
        [
            [f"20-point grid, best on test (t={grid[best]:.2f})", f"{on_test[best]:.4f}", "0.7935"],
            [
                f"exact global threshold (t={glob.threshold_:.3f})",
                f"{micro(y_test, glob.predict(X_test)):.4f}",
                "",
            ],
            ["exact per-label thresholds", f"{micro(y_test, per.predict(X_test)):.4f}", ""],
        ],
    )


def epochs_table(data, repeats, epoch_list):
    rows = []
    for epochs in epoch_list:
        params = {"epochs": epochs, "early_stopping": False} if epochs else {}
        r = median_runs(data, repeats, **params)
        label = str(epochs) if epochs else f"defaults (early stopping: {r['epochs']:.0f} epochs)"
        rows.append(
            [
                label,
                f"{r['f_half']:.4f}",
                f"{r['f_then']:.4f}",
                f"{r['wall']:.1f}",
                f"{r['cpu']:.1f}",
                f"{WRITE_UP_STRETCHER:.2f} (200 ep.)",
            ]
        )
    print(f"## Stretcher per number of epochs (batch 256, medians of {repeats} seeds)\n")
    print_table(
        [
            "epochs",
            "micro-F1 at 0.5",
            "then PerClassThreshold",
            "wall s",
            "CPU s",
            "write-up at 0.5",
        ],
        rows,
    )


def departures_table(data, repeats, epochs):
    settings = [
        ("write-up: batch 64, raw inputs", {"batch_size": 64, "standardize": False}),
        ("batch 64, standardised", {"batch_size": 64}),
        ("batch 256, raw inputs", {"standardize": False}),
        ("batch 256, standardised (default)", {}),
    ]
    rows = []
    for label, params in settings:
        r = median_runs(data, repeats, epochs=epochs, early_stopping=False, **params)
        rows.append([label, f"{r['f_half']:.4f}", f"{r['wall']:.1f}", f"{r['cpu']:.1f}"])
    print(f"## The departures from the write-up, {epochs} epochs each (runs: {repeats})\n")
    print_table(["setting", "micro-F1 at 0.5", "wall s", "CPU s"], rows)


def soft_f1_table(data, repeats, epochs, batch_sizes):
    rows = []
    for batch_size in batch_sizes:
        r = median_runs(
            data,
            repeats,
            loss="soft_f1",
            batch_size=batch_size,
            epochs=epochs,
            early_stopping=False,
        )
        rows.append(
            [
                batch_size,
                f"{r['f_half']:.4f}",
                f"{r['f_then']:.4f}",
                f"{r['pred_ratio']:.3f}",
                f"{r['wall']:.1f}",
                f"{r['cpu']:.1f}",
            ]
        )
    r = median_runs(data, repeats, epochs=epochs, early_stopping=False)
    rows.append(
        [
            "bce, 256 (reference)",
            f"{r['f_half']:.4f}",
            f"{r['f_then']:.4f}",
            f"{r['pred_ratio']:.3f}",
            f"{r['wall']:.1f}",
            f"{r['cpu']:.1f}",
        ]
    )
    print(f"## loss='soft_f1' per batch size ({epochs} epochs, runs: {repeats})\n")
    print_table(
        [
            "batch",
            "micro-F1 at 0.5",
            "then PerClassThreshold",
            "predicted / actual positives",
            "wall s",
            "CPU s",
        ],
        rows,
    )


def _rare_variant(n=10_000, n_labels=100, seed=0):
    """Synthetic rare labels: positive rates r from 0.1% to 3%, logits 2 (x - 1 + r) / r + noise."""
    rng = np.random.default_rng(seed)
    rates = np.geomspace(0.001, 0.03, n_labels)
    x = rng.random((n, n_labels))
    y = (x > 1 - rates).astype(np.int8)
    logits = 2 * (x - (1 - rates)) / rates + rng.normal(size=(n, n_labels))
    return logits, y


def batch_estimate_table(data, batch_sizes, n_batches=200):
    """Batch soft-F1 against whole-set soft-F1 at fixed logits (no training involved)."""
    X_train, y_train, X_test, y_test = data
    model = Stretcher(epochs=1, early_stopping=False, random_state=0, verbose=False)
    model.fit(X_train, y_train)
    sets = [
        ("toy, stretcher after 1 epoch", model.decision_function(X_test), y_test),
        ("rare labels (0.1% to 3% positives)", *_rare_variant()),
    ]
    rows = []
    generator = torch.Generator().manual_seed(0)
    for name, logits, y in sets:
        logits = torch.as_tensor(logits, dtype=torch.float64)
        targets = torch.as_tensor(y, dtype=torch.float64)
        for average in ("micro", "macro"):
            loss = SoftF1Loss(average=average)
            whole = 1.0 - float(loss(logits, targets))
            for batch_size in batch_sizes:
                estimates, empty = [], []
                for _ in range(n_batches):
                    index = torch.randperm(logits.shape[0], generator=generator)[:batch_size]
                    estimates.append(1.0 - float(loss(logits[index], targets[index])))
                    empty.append(float((targets[index].sum(dim=0) == 0).double().mean()))
                mean = float(np.mean(estimates))
                rows.append(
                    [
                        name,
                        average,
                        batch_size,
                        f"{whole:.4f}",
                        f"{mean:.4f}",
                        f"{mean - whole:+.4f}",
                        f"{np.std(estimates):.4f}",
                        f"{np.mean(empty):.3f}",
                    ]
                )
    print(f"## Batch estimate of soft-F1 at fixed logits ({n_batches} random batches per size)\n")
    print_table(
        [
            "data",
            "average",
            "batch",
            "soft-F1 of the whole set",
            "mean batch soft-F1",
            "bias",
            "std",
            "share of labels with no positive in the batch",
        ],
        rows,
    )


def threads_table(data, epochs=2):
    """One torch thread (the default n_threads=1) against torch's own setting."""
    rows = []
    for label, n_threads in (
        ("1 (default)", 1),
        (f"torch's default ({torch.get_num_threads()})", None),
    ):
        for batch_size in (64, 256):
            r = median_runs(
                data,
                1,
                epochs=epochs,
                early_stopping=False,
                batch_size=batch_size,
                n_threads=n_threads,
            )
            rows.append(
                [label, batch_size, f"{r['f_half']:.4f}", f"{r['wall']:.1f}", f"{r['cpu']:.1f}"]
            )
    print(f"## Torch threads in fit ({epochs} epochs, one run each)\n")
    print_table(["n_threads", "batch", "micro-F1 at 0.5", "wall s", "CPU s"], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer settings, one repeat")
    parser.add_argument("--threads", action="store_true", help="only the threads table")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    data = make_stretcher_toy(random_state=0)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores, torch threads in fit: 1, "
        f"load average before: {os.getloadavg()[0]:.1f}\n"
    )
    if args.threads:
        threads_table(data)
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        return
    anchors(data)
    epochs_table(data, repeats, [1, 2, 5] if args.quick else [1, 2, 5, 10, 20, 0])
    batch_estimate_table(data, [64, 512, 4096])
    if not args.quick:
        departures_table(data, 1, epochs=5)
    soft_f1_table(data, 1, 5, [64, 512, 4096])
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
