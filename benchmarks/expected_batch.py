"""Batch macro-F1 and micro-F1 from probabilities: f1opt's ExpectedF1 beside xCOLUMNs.

For every shared multilabel set (official MULAN train/test splits), the base
model is a one-vs-rest logistic regression (liblinear, C = 0.1, standardised
features, as in expected_multilabel.py). Its out-of-fold probabilities on the
training set (3 folds) fit one Platt sigmoid per label
(``ExpectedF1(calibration="sigmoid")``); the model refitted on the whole
training set, through those sigmoids, gives the calibrated test probabilities
that every method below decides from. Without labels: the test labels only
score the decisions. On bibtex (159 labels) and delicious (983) one liblinear
fit per label takes about an hour and several hours on this shared machine,
so there the same per-label L2 logistic objective is fitted for all labels at
once by L-BFGS (``joint_logistic``, 150 iterations) on 2/3 of the training
rows, and the sigmoids on the other 1/3.

Methods, for macro-F1 and micro-F1 with k = 0 (no budget) and k = 3 (and
k = 5 on the sets with at least 50 labels) labels per row, exactly k:

* f1opt ecm: ``ExpectedF1(average, k=k, objective="ecm")``, the F1 of the
  expected confusion matrix (the objective xCOLUMNs optimises): micro by
  Dinkelbach (global optimum), macro by Dinkelbach per label (global optimum,
  k = 0) or by block coordinate ascent (k > 0; each row's top k of p times
  its label's slope at the unbudgeted optimum, restarts from the gradient's
  top k while they pay).
* f1opt auto: ``ExpectedF1(average, k=k)``, the exact expected F1 under
  independence where f1opt has an exact method (macro k = 0, micro every k);
  for macro with k > 0 it is the same as "f1opt ecm".
* xCOLUMNs 0.0.2: ``predict_optimizing_macro_f1_score_using_bc(p, k)`` (block
  coordinate ascent on the expected confusion matrix, its defaults: random
  start, tolerance 1e-6, up to 100 passes, seed 0). Version 0.0.2 has no
  block coordinate function for micro-F; with exactly k labels per row the
  expected-confusion-matrix micro-F1 is ``2 sum TP / (n k + sum p)``, so its
  ``predict_optimizing_instance_precision_using_bc(p, k)`` optimises it
  (micro with k = 0: not available, "n/a").

Columns: the objective on the expected confusion matrix (``ecm_fbeta``), the
exact expected F1 under independence (``expected_fbeta``), the test F1 against
the true labels (sklearn.metrics.f1_score), and the median seconds of the
decision alone (``--reps`` runs; probabilities already calibrated), and the
certificate: ``multilabel_decision(p, average=..., k=k, objective="ecm").bound``
(a proven upper bound on the ECM optimum: the optimum itself where f1opt is
exact, else the smaller of the unbudgeted optimum and a Lagrangian dual), its
gap to f1opt's objective, and the seconds of that call (decision and bound).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/expected_batch.py [--sets yeast,...]
        [--reps 3] [--cache DIR] [--out FILE]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    f1,
    limit_threads,
    load_multilabel,
    machine,
    median_time,
    oof_and_test_proba,
    parser,
)

from f1opt.expected import (  # noqa: E402
    ExpectedF1,
    ecm_fbeta,
    expected_fbeta,
    multilabel_decision,
)

SETS = ("emotions", "scene", "yeast", "medical", "enron", "bibtex", "delicious")
LARGE = 50  # sets with at least this many labels also run k = 5
JOINT_MODEL_LABELS = 150  # from this many labels: joint L-BFGS fit and a holdout calibration


def joint_logistic(X, Y, C=0.1, maxiter=150):
    """One L2 logistic regression per label, all labels at once by L-BFGS (float32 products).

    liblinear's objective ``C sum loss + |w|^2 / 2`` per label, with an
    unpenalised intercept. Used where liblinear's one fit per label is too slow
    for this machine (bibtex, delicious).
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    X = np.ascontiguousarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.float32)
    d, n_labels = X.shape[1], Y.shape[1]

    def loss_and_grad(theta):
        W = theta[: d * n_labels].reshape(d, n_labels)
        Z = X @ W.astype(np.float32) + theta[d * n_labels :].astype(np.float32)
        loss = float(np.logaddexp(0.0, Z).sum() - (Y * Z).sum())
        G = expit(Z) - Y
        grad_W = C * (X.T @ G).astype(np.float64) + W
        grad_b = C * G.sum(axis=0).astype(np.float64)
        return C * loss + 0.5 * float(W.ravel() @ W.ravel()), np.concatenate(
            [grad_W.ravel(), grad_b]
        )

    theta = np.zeros(d * n_labels + n_labels)
    theta = minimize(
        loss_and_grad, theta, jac=True, method="L-BFGS-B", options={"maxiter": maxiter}
    ).x
    W, b = theta[: d * n_labels].reshape(d, n_labels), theta[d * n_labels :]
    return lambda X_new: expit(np.asarray(X_new, dtype=np.float64) @ W + b)


def calibrated_probabilities(name: str, cache: Path | None):
    """Calibrated test probabilities and test labels of one set (cached as .npz)."""
    path = None if cache is None else cache / f"{name}-calibrated.npz"
    if path is not None and path.exists():
        with np.load(path) as data:
            return data["proba"], data["Y_test"]
    X_train, Y_train, X_test, Y_test = load_multilabel(name)
    if Y_train.shape[1] >= JOINT_MODEL_LABELS:
        # holdout calibration: fit on 2/3 of the training rows, calibrate on the rest
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        rows = np.random.default_rng(0).permutation(X_train.shape[0])
        fit_rows, cal_rows = rows[: 2 * rows.size // 3], rows[2 * rows.size // 3 :]
        model = joint_logistic(X_train[fit_rows], Y_train[fit_rows])
        calibrator = ExpectedF1(average="macro", calibration="sigmoid")
        calibrator.fit(model(X_train[cal_rows]), Y_train[cal_rows])
        proba = calibrator.calibrate(model(X_test))
        _save(path, proba, Y_test)
        return proba, Y_test
    oof, raw = oof_and_test_proba(X_train, Y_train, X_test)
    calibrator = ExpectedF1(average="macro", calibration="sigmoid").fit(oof, Y_train)
    proba = calibrator.calibrate(raw)
    _save(path, proba, Y_test)
    return proba, Y_test


def _save(path, proba, Y_test):
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, proba=proba, Y_test=Y_test)
        os.replace(tmp, path)


def xcolumns_decision(proba, average, k, seed):
    from xcolumns.block_coordinate import (
        predict_optimizing_instance_precision_using_bc,
        predict_optimizing_macro_f1_score_using_bc,
    )

    if average == "macro":
        return predict_optimizing_macro_f1_score_using_bc(proba, k, seed=seed)
    if k == 0:
        return None  # no block coordinate micro-F in xCOLUMNs 0.0.2
    return predict_optimizing_instance_precision_using_bc(proba, k)


def run(name, args, rows):
    proba, Y_test = calibrated_probabilities(name, args.cache)
    n, n_labels = proba.shape
    budgets = (0, 3, 5) if n_labels >= LARGE else (0, 3)
    for average in ("macro", "micro"):
        for k in budgets:
            methods = {
                "f1opt ecm": lambda a=average, k=k: ExpectedF1(
                    average=a, k=k, objective="ecm"
                ).predict(proba),
                "f1opt auto": lambda a=average, k=k: ExpectedF1(average=a, k=k).predict(proba),
                "xCOLUMNs": lambda a=average, k=k: xcolumns_decision(proba, a, k, args.seed),
            }
            cells = {}
            for method, decide in methods.items():
                decide()  # warm-up: numba compilation (both libraries) is not timed
                seconds, prediction = median_time(decide, args.reps)
                if prediction is None:
                    cells[method] = None
                    continue
                prediction = np.asarray(prediction).astype(np.int8)
                if k:
                    assert (prediction.sum(axis=1) == min(k, n_labels)).all(), method
                cells[method] = (
                    ecm_fbeta(proba, prediction, 1.0, average),
                    expected_fbeta(proba, prediction, 1.0, average=average),
                    f1(Y_test, prediction, average),
                    seconds,
                )
            # the certificate: a proven upper bound on the ECM optimum (timed once)
            started = time.perf_counter()
            result = multilabel_decision(proba, 1.0, average, k=k, objective="ecm")
            cells["bound"] = (
                result.bound,
                result.bound - result.objective,
                time.perf_counter() - started,
            )
            rows.append((name, n, n_labels, average, k, cells))
            print_row(rows[-1], flush=True)


HEADER = (
    "| set | n test | L | F1 | k | ECM objective: f1opt ecm / xCOLUMNs | difference | "
    "exact E[F1]: f1opt auto / f1opt ecm / xCOLUMNs | test F1: f1opt auto / f1opt ecm / "
    "xCOLUMNs | seconds: f1opt auto / f1opt ecm / xCOLUMNs | bound on the ECM optimum / "
    "gap to f1opt ecm (seconds) |"
)


def fmt(cells, method, i, spec):
    cell = cells.get(method)
    return "n/a" if cell is None else format(cell[i], spec)


def print_row(row, flush=False):
    name, n, n_labels, average, k, c = row
    ecm = f"{fmt(c, 'f1opt ecm', 0, '.5f')} / {fmt(c, 'xCOLUMNs', 0, '.5f')}"
    x = c.get("xCOLUMNs")
    ecm += " | n/a" if x is None else f" | {c['f1opt ecm'][0] - x[0]:+.1e}"
    exact = " / ".join(fmt(c, m, 1, ".5f") for m in ("f1opt auto", "f1opt ecm", "xCOLUMNs"))
    test = " / ".join(fmt(c, m, 2, ".4f") for m in ("f1opt auto", "f1opt ecm", "xCOLUMNs"))
    secs = " / ".join(fmt(c, m, 3, ".3f") for m in ("f1opt auto", "f1opt ecm", "xCOLUMNs"))
    bound, gap, seconds = c["bound"]
    cert = f"{bound:.5f} / {gap:.1e} ({seconds:.2f})"
    print(
        f"| {name} | {n} | {n_labels} | {average} | {k} | {ecm} | {exact} | {test} | {secs} "
        f"| {cert} |",
        flush=flush,
    )


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--cache", type=Path, default=None, help="keep calibrated probabilities here")
    args = p.parse_args(argv)
    args.reps = args.reps or 3
    limit_threads(args.threads)
    started = time.perf_counter()
    print(HEADER)
    print("|---" * 11 + "|")
    rows = []
    for name in args.sets.split(","):
        run(name, args, rows)
    summary = []
    gaps = []
    for name, _, _, average, k, c in rows:
        x = c.get("xCOLUMNs")
        if average == "macro" and k > 0:
            gaps.append((c["bound"][1], c["bound"][1] / c["f1opt ecm"][0], name, k))
        if x is None:
            continue
        summary.append((c["f1opt ecm"][0] - x[0], x[3] / c["f1opt ecm"][3], name, average, k))
    lines = [
        "",
        f"machine: {machine()}; threads {args.threads}; wall {time.perf_counter() - started:.0f} s",
    ]
    if summary:
        worst = min(summary)
        ratios = np.array([s[1] for s in summary])
        lines.append(
            f"ECM objective, f1opt ecm minus xCOLUMNs: min {worst[0]:.2e} ({worst[2]} {worst[3]} "
            f"k={worst[4]}); xCOLUMNs time / f1opt ecm time: median {np.median(ratios):.1f}x, "
            f"min {ratios.min():.1f}x"
        )
    if gaps:
        worst = max(gaps, key=lambda g: g[1])
        median_gap = np.median([g[0] for g in gaps])
        lines.append(
            f"certified gap of budgeted macro (bound - objective): median {median_gap:.1e}, "
            f"largest relative {worst[1]:.1%} ({worst[2]} k={worst[3]})"
        )
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
