"""F1OptimalClassifier vs TunedThresholdClassifierCV(scoring="f1") vs the plain estimator.

Binary imbalanced sets from ../shared/data/binary, two bases (scaled logistic
regression, histogram gradient boosting), repeated stratified 70/30 splits.
Held-out F1 (mean +- std over splits) and fit time relative to the plain
estimator (median over splits). Both tuners use 5-fold out-of-fold scores and
refit on all the training data; by default both get the same shuffled folds
(``--folds default`` gives each its own default cv: scikit-learn's does not shuffle).

    .venv/bin/python benchmarks/estimator_binary.py [--splits 5] [--folds same|default]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import (
    StratifiedKFold,
    StratifiedShuffleSplit,
    TunedThresholdClassifierCV,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from f1opt import F1OptimalClassifier

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "binary"
DATASETS = [
    "pima",  # 35% positive
    "yeast1",  # 29%
    "vehicle0",  # 24%
    "yeast3",  # 11%
    "ecoli3",  # 10%
    "pc1",  # 7%
    "yeast4",  # 3.4%
    "abalone_19_vs_10_11_12_13",  # 2%
]
BASES = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "hgb": lambda: HistGradientBoostingClassifier(random_state=0),
}


def _timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def run(datasets, n_splits, same_folds=True):
    rows = []
    for name in datasets:
        data = np.load(DATA / f"{name}.npz")
        X, y = data["X"].astype(np.float64), data["y"].astype(int)
        splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.3, random_state=0)
        for base_name, make_base in BASES.items():
            f1s = {"plain": [], "tuned_sklearn": [], "f1opt": []}
            times = {"plain": [], "tuned_sklearn": [], "f1opt": []}
            for i, (train, test) in enumerate(splitter.split(X, y)):
                # "same": both tuners get the same shuffled folds; "default": each its
                # own default (sklearn: StratifiedKFold(5) without shuffling)
                cv = StratifiedKFold(5, shuffle=True, random_state=i) if same_folds else 5
                models = {
                    "plain": make_base(),
                    "tuned_sklearn": TunedThresholdClassifierCV(
                        make_base(), scoring="f1", cv=cv, random_state=i
                    ),
                    "f1opt": F1OptimalClassifier(make_base(), cv=cv, random_state=i),
                }
                for key, model in models.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fitted, seconds = _timed_fit(clone(model), X[train], y[train])
                    f1s[key].append(f1_score(y[test], fitted.predict(X[test]), zero_division=0))
                    times[key].append(seconds)
            row = {"dataset": name, "base": base_name, "pos": float(y.mean()), "n": len(y)}
            for key in f1s:
                row[f"{key}_f1"] = (np.mean(f1s[key]), np.std(f1s[key]))
            row["ratio_f1opt_plain"] = float(
                np.median(np.array(times["f1opt"]) / np.array(times["plain"]))
            )
            row["ratio_f1opt_sklearn"] = float(
                np.median(np.array(times["f1opt"]) / np.array(times["tuned_sklearn"]))
            )
            row["f1opt_s"] = float(np.median(times["f1opt"]))
            row["sklearn_s"] = float(np.median(times["tuned_sklearn"]))
            rows.append(row)
            _print_row(row)
    return rows


HEADER = (
    "| dataset | base | n | pos | plain F1 | TunedThresholdCV F1 | F1OptimalClassifier F1 "
    "| f1opt s | sklearn s | time f1opt/sklearn | time f1opt/plain |"
)


def _fmt(mean_std):
    return f"{mean_std[0]:.3f} ± {mean_std[1]:.3f}"


def _print_row(row):
    print(
        f"| {row['dataset']} | {row['base']} | {row['n']} | {row['pos']:.3f} "
        f"| {_fmt(row['plain_f1'])} | {_fmt(row['tuned_sklearn_f1'])} "
        f"| {_fmt(row['f1opt_f1'])} | {row['f1opt_s']:.2f} | {row['sklearn_s']:.2f} "
        f"| {row['ratio_f1opt_sklearn']:.2f} | {row['ratio_f1opt_plain']:.1f} |",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument(
        "--folds",
        choices=["same", "default"],
        default="same",
        help="same shuffled folds for both tuners (default), or each tuner's default cv",
    )
    args = parser.parse_args(argv)
    print(HEADER)
    print("|" + "---|" * 11)
    rows = run(args.datasets.split(","), args.splits, same_folds=args.folds == "same")
    for base in BASES:
        sub = [r for r in rows if r["base"] == base]
        mean = {
            k: np.mean([r[f"{k}_f1"][0] for r in sub]) for k in ("plain", "tuned_sklearn", "f1opt")
        }
        ratio = np.median([r["ratio_f1opt_sklearn"] for r in sub])
        wins = sum(r["f1opt_f1"][0] >= r["tuned_sklearn_f1"][0] for r in sub)
        print(
            f"\n{base}: mean held-out F1 plain {mean['plain']:.3f}, "
            f"TunedThresholdClassifierCV {mean['tuned_sklearn']:.3f}, "
            f"F1OptimalClassifier {mean['f1opt']:.3f}; f1opt >= sklearn on {wins}/{len(sub)} "
            f"sets; median fit-time ratio f1opt/sklearn {ratio:.2f}"
        )


if __name__ == "__main__":
    main()
