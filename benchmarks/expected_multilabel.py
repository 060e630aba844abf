"""Samples-F1 on real multilabel sets: ExpectedF1 (GFM) beside a tuned threshold and 0.5.

For yeast, emotions, scene, enron and medical (official MULAN train/test splits
in ../shared/data/multilabel), the base model is a one-vs-rest logistic
regression (liblinear, C = 0.1, not tuned) on standardised features.
Out-of-fold probabilities on the training set (cross_val_predict, 3 folds) fit
the calibrators of ExpectedF1 and the threshold of
GlobalThreshold(average="samples"); the model refitted on the whole training
set gives the test probabilities. Every score is
sklearn.metrics.f1_score(Y_test, prediction, average="samples").

Columns: the 0.5 default; GlobalThreshold(average="samples") fitted on the
out-of-fold probabilities; ExpectedF1(average="samples") with calibration None,
"isotonic" and "sigmoid". The last columns give ExpectedF1's own estimate of
its samples-F1 (the mean expected F of its decisions, without calibration), the
mean number of labels per test row and the seconds spent deciding.

    .venv/bin/python benchmarks/expected_multilabel.py [--data DIR] [--sets yeast,...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _common import oof_and_test_proba
from sklearn.metrics import f1_score

from f1opt import GlobalThreshold
from f1opt.expected import ExpectedF1, expected_fbeta

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "multilabel"
SETS = ("yeast", "emotions", "scene", "enron", "medical")


def run(name, data_dir):
    with np.load(data_dir / f"{name}.npz", allow_pickle=False) as data:
        X_train, Y_train = data["X_train"].astype(np.float64), data["Y_train"].astype(int)
        X_test, Y_test = data["X_test"].astype(np.float64), data["Y_test"].astype(int)
    oof, proba = oof_and_test_proba(X_train, Y_train, X_test)

    def samples_f1(prediction):
        return f1_score(Y_test, prediction, average="samples", zero_division=0.0)

    scores = {"0.5": samples_f1((proba >= 0.5).astype(int))}
    threshold = GlobalThreshold(average="samples").fit(oof, Y_train)
    scores["GlobalThreshold"] = samples_f1(threshold.predict(proba))
    seconds = 0.0
    for calibration in (None, "isotonic", "sigmoid"):
        decider = ExpectedF1(average="samples", calibration=calibration).fit(oof, Y_train)
        start = time.perf_counter()
        prediction = decider.predict(proba)
        seconds += time.perf_counter() - start
        scores[f"ExpectedF1 {calibration}"] = samples_f1(prediction)
        if calibration is None:
            own_estimate = expected_fbeta(proba, prediction)
            mean_size = prediction.sum(axis=1).mean()
    row = " | ".join(f"{v:.4f}" for v in scores.values())
    print(
        f"| {name} | {X_train.shape[0]}/{X_test.shape[0]} | {Y_train.shape[1]} | {row} | "
        f"{own_estimate:.4f} | {mean_size:.2f} ({Y_test.sum(axis=1).mean():.2f}) | "
        f"{seconds / 3:.3f} |",
        flush=True,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", default=",".join(SETS))
    args = parser.parse_args(argv)
    print(
        "| set | train/test | L | 0.5 | GlobalThreshold | ExpectedF1 none | ExpectedF1 isotonic "
        "| ExpectedF1 sigmoid | expected (own estimate) | labels/row predicted (true) "
        "| decide (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.sets.split(","):
        run(name, args.data)


if __name__ == "__main__":
    main()
