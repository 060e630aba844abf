"""Seed write-up 002: does a "stretcher" network beat one global threshold on micro-F1?

Part 1 reproduces the write-up's table on its toy problem
(f1opt.datasets.make_stretcher_toy: uniform scores, labels set by hidden
per-label thresholds): the best of its 20-point global grid, the exact global
threshold (GlobalThreshold, micro), the stretcher at 0.5, the stretcher then a
tuned threshold, exact per-label thresholds (PerClassThreshold) and
ExpectedF1 (samples average, isotonic-calibrated). Every decider is fitted on
the training scores and scored on the test scores.

Part 2 runs the same methods on real multilabel sets (../shared/data/multilabel,
official MULAN train/test splits) on top of a one-vs-rest logistic regression:
the deciders (and the stretcher) are fitted on 5-fold out-of-fold scores of
the training part, the base is refitted on all of it, and the test split is
scored. Micro, macro and samples F1 via sklearn.metrics, mean +- std over
repetitions (the test split is fixed; a repetition changes the toy draw, the
folds and the network seeds).

    .venv/bin/python benchmarks/seed_stretcher.py [--quick] [--reps 5]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from f1opt import GlobalThreshold, PerClassThreshold  # noqa: E402
from f1opt.datasets import make_stretcher_toy  # noqa: E402

REAL_SETS = ["yeast", "emotions", "scene", "enron", "medical"]
QUICK_REAL_SETS = ["emotions"]
AVERAGES = ("micro", "macro", "samples")

GRID_TRAIN = "best of 20-point global grid (chosen on train)"
GRID_TEST = "best of 20-point global grid (chosen on test: the write-up's way, optimistic)"
HALF = "0.5 on base probabilities"
GLOBAL = "GlobalThreshold (exact global threshold, micro)"
STRETCH = "stretcher at 0.5"
STRETCH_TUNED = "stretcher then tuned threshold (GlobalThreshold, micro)"
PER_CLASS = "PerClassThreshold (micro)"
PER_CLASS_MACRO = "PerClassThreshold (macro)"
EXPECTED = "ExpectedF1 (samples average, isotonic-calibrated)"


def f1_row(results, table, method, Y, pred, seconds=None):
    for average in AVERAGES:
        results.add(table, method, f"{average} F1", C.f1(Y, pred, average=average))
    if seconds is not None:
        results.add(table, method, "fit s", seconds)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def stretcher_predictions(S_tr, Y_tr, S_te, seed, epochs, verbose):
    """Yields (method, test predictions, fit seconds) for the stretcher at 0.5 and tuned.

    One network serves both rows: ``then`` is fitted on the held-out part after
    training and does not change the network, so thresholding the same
    network's ``predict_proba`` at 0.5 is exactly ``Stretcher(then=None)``
    with the same seed.
    """
    stretcher = C.optional("f1opt.stretch", "Stretcher", STRETCH)
    if stretcher is None:
        C.MISSING.setdefault(STRETCH_TUNED, C.MISSING[STRETCH])
        return
    model, seconds = timed(
        lambda: stretcher(
            hidden=200,
            epochs=epochs,
            batch_size=64,
            then=GlobalThreshold(average="micro"),
            random_state=seed,
            verbose=verbose,
        ).fit(S_tr, Y_tr)
    )
    yield STRETCH, (model.predict_proba(S_te) >= 0.5).astype(np.int8), seconds
    yield STRETCH_TUNED, model.predict(S_te), seconds


def run_deciders(results, table, S_tr, Y_tr, S_te, Y_te, seed, epochs, verbose, grid_on_test):
    """Fit every decider on (S_tr, Y_tr), score on (S_te, Y_te)."""
    grid = np.linspace(0, 1, num=20)
    on_train = [C.f1(Y_tr, S_tr > t, average="micro") for t in grid]
    t = grid[int(np.argmax(on_train))]
    f1_row(results, table, GRID_TRAIN, Y_te, S_te > t)
    if grid_on_test:
        on_test = [C.f1(Y_te, S_te > t, average="micro") for t in grid]
        f1_row(results, table, GRID_TEST, Y_te, S_te > grid[int(np.argmax(on_test))])
    else:
        f1_row(results, table, HALF, Y_te, S_te >= 0.5)

    decider, seconds = timed(lambda: GlobalThreshold(average="micro").fit(S_tr, Y_tr))
    f1_row(results, table, GLOBAL, Y_te, decider.predict(S_te), seconds)

    for method, pred, seconds in stretcher_predictions(S_tr, Y_tr, S_te, seed, epochs, verbose):
        f1_row(results, table, method, Y_te, pred, seconds)

    decider, seconds = timed(lambda: PerClassThreshold(average="micro").fit(S_tr, Y_tr))
    f1_row(results, table, PER_CLASS, Y_te, decider.predict(S_te), seconds)
    if not grid_on_test:
        decider, seconds = timed(lambda: PerClassThreshold(average="macro").fit(S_tr, Y_tr))
        f1_row(results, table, PER_CLASS_MACRO, Y_te, decider.predict(S_te), seconds)

    expected_f1 = C.optional("f1opt.expected", "ExpectedF1", EXPECTED)
    if expected_f1 is not None:
        decider, seconds = timed(
            lambda: expected_f1(average="samples", calibration="isotonic").fit(S_tr, Y_tr)
        )
        f1_row(results, table, EXPECTED, Y_te, decider.predict(S_te), seconds)


def base_model():
    return OneVsRestClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    )


def main(argv=None):
    parser = C.parser(__doc__)
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="most stretcher epochs, early stopping (50, quick 3)",
    )
    parser.add_argument(
        "--toy-epochs",
        type=int,
        default=None,
        help="most stretcher epochs on the toy (10, quick 3)",
    )
    parser.add_argument("--toy-only", action="store_true", help="skip the real data sets")
    args = parser.parse_args(argv)
    C.setup(args, torch=True)
    started = time.perf_counter()
    reps = args.reps or (2 if args.quick else 5)
    epochs = args.epochs or (3 if args.quick else 50)
    toy_epochs = args.toy_epochs or (3 if args.quick else 10)
    if args.quick:
        n_labels, n_train, n_test = 20, 5_000, 1_000
    else:
        n_labels, n_train, n_test = 100, 100_000, 10_000
    verbose = False
    results = C.Results()
    # warm up (numba compilation, torch start-up) so that "fit s" times the fit only
    X_tr, Y_tr, _, _ = make_stretcher_toy(3, 50, 5, random_state=0)
    GlobalThreshold(average="micro").fit(X_tr, Y_tr)
    PerClassThreshold(average="micro").fit(X_tr, Y_tr)
    stretcher = C.optional("f1opt.stretch", "Stretcher", STRETCH)
    if stretcher is not None:
        stretcher(epochs=1, random_state=0, verbose=False).fit(X_tr, Y_tr)
    tables = [
        (
            "toy",
            f"toy: {n_labels} labels, {n_train} train, {n_test} test rows "
            f"(stretcher: at most {toy_epochs} epochs)",
        )
    ]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        for r in C.progress(range(reps), desc="toy"):
            seed = args.seed + r
            X_tr, Y_tr, X_te, Y_te = make_stretcher_toy(n_labels, n_train, n_test, seed)
            run_deciders(results, "toy", X_tr, Y_tr, X_te, Y_te, seed, toy_epochs, verbose, True)

        sets = QUICK_REAL_SETS if args.quick else REAL_SETS
        if args.toy_only or not C.SHARED_DATA.is_dir():
            sets = []
        for name in C.progress(sets, desc="multilabel sets"):
            X_tr, Y_tr, X_te, Y_te = C.load_multilabel(name)
            S_te = base_model().fit(X_tr, Y_tr).predict_proba(X_te)
            tables.append(
                (
                    name,
                    f"{name}: {X_tr.shape[0]} train / {X_te.shape[0]} test rows, "
                    f"{X_tr.shape[1]} features, {Y_tr.shape[1]} labels (official split)",
                )
            )
            for r in C.progress(range(reps), desc=name):
                seed = args.seed + r
                folds = KFold(5, shuffle=True, random_state=seed)
                S_tr = cross_val_predict(base_model(), X_tr, Y_tr, cv=folds, method="predict_proba")
                run_deciders(results, name, S_tr, Y_tr, S_te, Y_te, seed, epochs, verbose, False)

    C.report(
        "Seed 002: the stretcher against exact thresholds (test F1)",
        results,
        tables,
        args,
        started,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
