"""Seed question 000: how to optimise F1 of a small CNN on an imbalanced binary problem.

A small convolutional network (torch) on scikit-learn's digits (8x8 images),
the positives being a subset of the digits, subsampled to 70/30, 90/10 and
99/1. Every method the seed's answers name is trained and scored by test F1
of the positive class (sklearn.metrics.f1_score), mean +- std over
repetitions (each repetition: a fresh subsample, a stratified 50/50
train/test split and fresh network seeds).

Positives: digits {3, 5, 8} at 70/30 (their natural share), digit 8 at 90/10
and 99/1 (subsampled). Digits is tiny: at 99/1 there are 16 positives in all,
8 in each half, so one test positive moves F1 by ~0.06; read that column as
indicative only.

    .venv/bin/python benchmarks/seed_imbalanced_cnn.py [--quick] [--reps 5]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

from f1opt import optimal_threshold  # noqa: E402
from f1opt.metacost import MetaCost  # noqa: E402

IMBALANCES = {"70/30": (0.30, (3, 5, 8)), "90/10": (0.10, (8,)), "99/1": (0.01, (8,))}

METHODS = {
    "balanced": "balanced resampling + CE at 0.5",
    "plain": "plain CE at 0.5",
    "weighted": "weighted cross-entropy (cost matrix) at 0.5",
    "train_thr": "CE + threshold tuned on training data",
    "val_thr": "CE + threshold tuned on a validation split",
    "softf1": "SoftF1 at 0.5",
    "focal": "Focal at 0.5",
    "ranknet": "RankNet + threshold tuned on training data",
    "smote": "SMOTE + CE at 0.5",
    "metacost": "MetaCost (bagged CNNs, balanced costs) at 0.5",
    "expected": "ExpectedF1 on Platt-calibrated outputs (validation split)",
}


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
        )
        self.head = torch.nn.Sequential(
            torch.nn.Flatten(),
            torch.nn.Linear(32 * 4 * 4, 64),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.2),
            torch.nn.Linear(64, 1),
        )

    def forward(self, x):
        return self.head(self.features(x.view(-1, 1, 8, 8))).squeeze(1)


def make_loss(name: str, y: np.ndarray):
    """The training loss: torch's own BCE, or one of f1opt.losses."""
    if name == "ce":
        return torch.nn.BCEWithLogitsLoss()
    if name == "weighted":
        helper = C.optional("f1opt.losses", "pos_weight_from_labels", METHODS["weighted"])
        if helper is not None:
            pos_weight = torch.as_tensor(helper(y), dtype=torch.float32)
        else:  # the prior ratio n_neg / n_pos, as torch documents pos_weight
            pos_weight = torch.tensor(float((y == 0).sum()) / max(1, int(y.sum())))
        return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight.reshape(-1))
    key = {"softf1": "SoftF1Loss", "focal": "FocalLoss", "ranknet": "RankNetLoss"}[name]
    cls = C.optional("f1opt.losses", key, METHODS[name])
    if cls is None:
        return None
    if name == "softf1":
        return cls()
    if name == "focal":
        return cls(gamma=2.0)
    return cls()


class DigitsCNN(ClassifierMixin, BaseEstimator):
    """The small CNN as a scikit-learn classifier (X: flattened 8x8 images in [0, 1]).

    Adam, ``epochs`` passes of shuffled mini-batches, weight decay as the
    asker's regularisation term. ``predict`` thresholds the sigmoid at 0.5;
    ``decision_function`` gives the logits.
    """

    def __init__(
        self, loss="ce", epochs=20, batch_size=64, lr=3e-3, weight_decay=1e-4, random_state=None
    ):
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.random_state = random_state

    def fit(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(int)
        self.classes_ = np.array([0, 1])
        seed = 0 if self.random_state is None else int(self.random_state)
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        loss_fn = make_loss(self.loss, y)
        if loss_fn is None:
            raise RuntimeError(f"loss {self.loss!r} unavailable")
        self.net_ = _Net()
        opt = torch.optim.Adam(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32))
        self.net_.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(Xt), generator=gen)
            for start in range(0, len(Xt), self.batch_size):
                idx = order[start : start + self.batch_size]
                loss = loss_fn(self.net_(Xt[idx]), yt[idx])
                if not torch.isfinite(loss) or not loss.requires_grad:
                    continue  # e.g. a pairwise loss on a batch without positives
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net_.eval()
        return self

    def decision_function(self, X):
        with torch.no_grad():
            return self.net_(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()

    def predict_proba(self, X):
        p = 1.0 / (1.0 + np.exp(-self.decision_function(X).astype(np.float64)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) >= 0).astype(int)


def make_task(rate: float, positives, rng):
    """Digits with y = (digit in positives), subsampled to a positive rate of ``rate``."""
    X, digit = load_digits(return_X_y=True)
    X = X / 16.0
    y = np.isin(digit, positives).astype(int)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    n_pos = int(round(rate * len(neg) / (1 - rate)))
    if n_pos <= len(pos):
        keep = np.concatenate([rng.choice(pos, n_pos, replace=False), neg])
    else:
        n_neg = int(round(len(pos) * (1 - rate) / rate))
        keep = np.concatenate([pos, rng.choice(neg, n_neg, replace=False)])
    return X[keep], y[keep]


def run_one(X_tr, y_tr, X_te, y_te, seed, epochs, n_metacost):
    """Yields (method key, test F1) for one split."""

    def cnn(loss="ce", s=0):
        return DigitsCNN(loss=loss, epochs=epochs, random_state=seed * 100 + s)

    plain = cnn(s=1).fit(X_tr, y_tr)
    yield "plain", C.f1(y_te, plain.predict(X_te))
    s_te = plain.decision_function(X_te)
    t = optimal_threshold(y_tr, plain.decision_function(X_tr)).threshold
    yield "train_thr", C.f1(y_te, s_te >= t)

    X_fit, X_val, y_fit, y_val = train_test_split(
        X_tr, y_tr, test_size=0.25, stratify=y_tr, random_state=seed
    )
    val_model = cnn(s=2).fit(X_fit, y_fit)
    s_val = val_model.decision_function(X_val)
    t = optimal_threshold(y_val, s_val).threshold
    yield "val_thr", C.f1(y_te, val_model.decision_function(X_te) >= t)

    expected_f1 = C.optional("f1opt.expected", "ExpectedF1", METHODS["expected"])
    if expected_f1 is not None:
        decider = expected_f1(beta=1.0, average="binary", calibration="sigmoid").fit(s_val, y_val)
        yield "expected", C.f1(y_te, decider.predict(val_model.decision_function(X_te)))

    ros = C.optional("imblearn.over_sampling", "RandomOverSampler", METHODS["balanced"])
    if ros is not None:
        Xb, yb = ros(random_state=seed).fit_resample(X_tr, y_tr)
        yield "balanced", C.f1(y_te, cnn(s=3).fit(Xb, yb).predict(X_te))

    yield "weighted", C.f1(y_te, cnn("weighted", s=4).fit(X_tr, y_tr).predict(X_te))

    smote = C.optional("imblearn.over_sampling", "SMOTE", METHODS["smote"])
    if smote is not None:
        k = min(5, int(y_tr.sum()) - 1)
        Xs, ys = smote(k_neighbors=k, random_state=seed).fit_resample(X_tr, y_tr)
        yield "smote", C.f1(y_te, cnn(s=5).fit(Xs, ys).predict(X_te))

    for key, s in (("softf1", 6), ("focal", 7)):
        if make_loss(key, y_tr) is not None:
            yield key, C.f1(y_te, cnn(key, s=s).fit(X_tr, y_tr).predict(X_te))

    if make_loss("ranknet", y_tr) is not None:
        rank = cnn("ranknet", s=8).fit(X_tr, y_tr)
        t = optimal_threshold(y_tr, rank.decision_function(X_tr)).threshold
        yield "ranknet", C.f1(y_te, rank.decision_function(X_te) >= t)

    # MetaCost with the CNN itself: n_metacost bootstrap CNNs estimate P(y|x)
    # out of bag, the training labels are relabelled by the balanced cost
    # matrix (a missed positive costs n_neg / n_pos), and one CNN is refitted
    meta = MetaCost(
        DigitsCNN(epochs=epochs),
        cost_matrix="balanced",
        n_estimators=n_metacost,
        oob=True,
        random_state=seed,
    )
    yield "metacost", C.f1(y_te, meta.fit(X_tr, y_tr).predict(X_te))


def main(argv=None):
    parser = C.parser(__doc__)
    parser.add_argument("--epochs", type=int, default=None, help="default 20, quick 1")
    parser.add_argument(
        "--imbalance",
        action="append",
        choices=list(IMBALANCES),
        help="run only this imbalance (repeatable; default all three)",
    )
    args = parser.parse_args(argv)
    C.setup(args)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    reps = args.reps or (2 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 20)
    n_metacost = 2 if args.quick else 3
    results = C.Results()
    counts = {}
    jobs = [(name, r) for r in range(reps) for name in args.imbalance or IMBALANCES]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        for name, r in C.progress(jobs, desc="cnn"):
            rate, positives = IMBALANCES[name]
            seed = args.seed + r
            rng = np.random.default_rng([seed, int(rate * 100)])
            X, y = make_task(rate, positives, rng)
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=0.5, stratify=y, random_state=seed
            )
            counts[name] = (len(y), int(y_tr.sum()), int(y_te.sum()))
            for key, value in run_one(X_tr, y_tr, X_te, y_te, seed, epochs, n_metacost):
                results.add("cnn", METHODS[key], name, value)
    # keep the order of methods
    results.rows["cnn"] = [m for m in METHODS.values() if m in results.rows["cnn"]]
    C.report(
        f"Seed 000: small CNN on digits ({epochs} epochs), test F1 of the positive class",
        results,
        [("cnn", "test F1 per method and imbalance (negatives/positives)")],
        args,
        started,
    )
    for name, (n, p_tr, p_te) in counts.items():
        print(f"{name}: n = {n}, positives train {p_tr}, test {p_te}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
