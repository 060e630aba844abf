"""Seed question 000 on tabular data: which way of optimising F1 wins on imbalanced binary sets.

The decision methods of the imbalanced-CNN study that apply to a tabular
classifier, on the binary sets in ../shared/data/binary, with a scaled
logistic regression (LR) and a histogram gradient boosting (HGB) base, beside
the peers scikit-learn's TunedThresholdClassifierCV and threshold-opt's
EmpiricalThreshold (its empirical strategy, where the package installs).

Each repetition draws a stratified 70/30 train/test split; methods that need
a validation split take a stratified 25% of the training part. Test F1 of the
positive (minority) class via sklearn.metrics.f1_score, mean +- std over the
repetitions. The network-only methods (SoftF1, Focal, RankNet) are in
seed_imbalanced_cnn.py.

    .venv/bin/python benchmarks/seed_imbalanced_tabular.py [--quick] [--reps 5]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from f1opt import optimal_threshold  # noqa: E402
from f1opt.metacost import MetaCost  # noqa: E402

FULL_SETS = [
    "pima",
    "haberman",
    "yeast1",
    "vehicle0",
    "segment0",
    "yeast3",
    "page_blocks0",
    "pc1",
    "yeast4",
    "abalone19",
]
QUICK_SETS = ["ecoli3"]

METHODS = [
    "plain at 0.5",
    "balanced resampling at 0.5",
    "weighted cross-entropy (cost matrix) at 0.5",
    "threshold tuned on training data",
    "threshold tuned on a validation split",
    "threshold tuned out-of-fold (5-fold)",
    "SMOTE at 0.5",
    "MetaCost (balanced costs) at 0.5",
    "ExpectedF1 (Platt-calibrated on validation split)",
    "TunedThresholdClassifierCV (5-fold)",
    "threshold-opt EmpiricalThreshold (validation split)",
]


def make_base(name: str, seed: int, quick: bool, class_weight=None):
    if name == "LR":
        return make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=2000, class_weight=class_weight)
        )
    return HistGradientBoostingClassifier(
        max_iter=30 if quick else 60,
        max_leaf_nodes=15,
        early_stopping=False,
        class_weight=class_weight,
        random_state=seed,
    )


def positive_scores(model, X):
    return model.predict_proba(X)[:, 1]


def run_one(base_name, X_tr, y_tr, X_te, y_te, seed, quick, n_metacost):
    """Test F1 of every method for one split; yields (method, f1)."""
    base = make_base(base_name, seed, quick)
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_tr, y_tr, test_size=0.25, stratify=y_tr, random_state=seed
    )
    n_pos = int(y_tr.sum())

    plain = clone(base).fit(X_tr, y_tr)
    s_te = positive_scores(plain, X_te)
    yield METHODS[0], C.f1(y_te, plain.predict(X_te))

    ros = C.optional("imblearn.over_sampling", "RandomOverSampler", METHODS[1])
    if ros is not None:
        Xb, yb = ros(random_state=seed).fit_resample(X_tr, y_tr)
        yield METHODS[1], C.f1(y_te, clone(base).fit(Xb, yb).predict(X_te))

    weighted = make_base(base_name, seed, quick, class_weight="balanced").fit(X_tr, y_tr)
    yield METHODS[2], C.f1(y_te, weighted.predict(X_te))

    t_train = optimal_threshold(y_tr, positive_scores(plain, X_tr)).threshold
    yield METHODS[3], C.f1(y_te, s_te >= t_train)

    val_model = clone(base).fit(X_fit, y_fit)
    s_val = positive_scores(val_model, X_val)
    t_val = optimal_threshold(y_val, s_val).threshold
    yield METHODS[4], C.f1(y_te, positive_scores(val_model, X_te) >= t_val)

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    oof = cross_val_predict(clone(base), X_tr, y_tr, cv=cv, method="predict_proba")[:, 1]
    t_oof = optimal_threshold(y_tr, oof).threshold
    yield METHODS[5], C.f1(y_te, s_te >= t_oof)

    smote = C.optional("imblearn.over_sampling", "SMOTE", METHODS[6])
    if smote is not None and n_pos >= 2:
        Xs, ys = smote(k_neighbors=min(5, n_pos - 1), random_state=seed).fit_resample(X_tr, y_tr)
        yield METHODS[6], C.f1(y_te, clone(base).fit(Xs, ys).predict(X_te))

    meta = MetaCost(base, cost_matrix="balanced", n_estimators=n_metacost, random_state=seed)
    yield METHODS[7], C.f1(y_te, meta.fit(X_tr, y_tr).predict(X_te))

    expected_f1 = C.optional("f1opt.expected", "ExpectedF1", METHODS[8])
    if expected_f1 is not None:
        decider = expected_f1(beta=1.0, average="binary", calibration="sigmoid")
        decider.fit(s_val, y_val)
        yield METHODS[8], C.f1(y_te, decider.predict(positive_scores(val_model, X_te)))

    from sklearn.model_selection import TunedThresholdClassifierCV

    tuned = TunedThresholdClassifierCV(clone(base), scoring="f1", cv=cv, random_state=seed)
    yield METHODS[9], C.f1(y_te, tuned.fit(X_tr, y_tr).predict(X_te))

    empirical = C.optional("threshold_opt.binary_strategies", "EmpiricalThreshold", METHODS[10])
    if empirical is not None:
        from sklearn.metrics import f1_score
        from threshold_opt.metrics import MetricObjective

        objective = MetricObjective(f1_score, higher_is_better=True, vectorized_key="f1")
        strategy = empirical(val_model).fit(X_val, y_val, objective)
        yield METHODS[10], C.f1(y_te, strategy.predict(X_te))


def main(argv=None):
    args = C.parser(__doc__).parse_args(argv)
    C.setup(args)
    started = time.perf_counter()
    reps = args.reps or (2 if args.quick else 5)
    sets = QUICK_SETS if args.quick else FULL_SETS
    n_metacost = 3 if args.quick else 5
    if not C.SHARED_DATA.is_dir():
        print(f"no shared data at {C.SHARED_DATA}; nothing to run", file=sys.stderr)
        return 2
    results = C.Results()
    jobs = [(name, base, r) for name in sets for r in range(reps) for base in ("LR", "HGB")]
    data = {name: C.load_binary(name) for name in sets}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        for name, base, r in C.progress(jobs, desc="tabular"):
            X, y = data[name]
            seed = args.seed + r
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.3, stratify=y, random_state=seed
            )
            for method, value in run_one(
                base, X_tr, y_tr, X_te, y_te, seed, args.quick, n_metacost
            ):
                results.add(base, method, name, value)
    for base in ("LR", "HGB"):
        # mean over data sets of each repetition's F1, then mean +- std of that over reps
        for method in results.rows[base]:
            per_set = [results.values[base, method, name] for name in sets]
            if all(len(v) == reps for v in per_set):
                for value in np.mean(per_set, axis=0):
                    results.add(base, method, "mean over sets", value)
    prevalence = ", ".join(f"{n} {data[n][1].mean():.3f}" for n in sets)
    C.report(
        "Seed 000 on tabular data (binary sets, test F1 of the positive class)",
        results,
        [
            ("LR", "base: StandardScaler + LogisticRegression"),
            ("HGB", "base: HistGradientBoostingClassifier"),
        ],
        args,
        started,
    )
    print(f"positive rate per set: {prevalence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
