"""The comparison engine: cross-validate candidate rules on out-of-fold scores.

Every candidate rule (the untouched default decision first, then the methods
of :mod:`f1opt.methods`) is fitted on part of a set of validation scores and
applied to the rest, on the same folds for every candidate. The result keeps,
per candidate, the F-beta of every split, the thresholds fitted on every split
(where the rule has thresholds), the pooled out-of-fold F-beta with a 95%
bootstrap interval, and which candidate was chosen.

:class:`f1opt.F1OptimalClassifier`, ``f1opt fit/compare --method auto``,
``f1opt demo`` and the HTML report all use :func:`compare`.

The choice (``selection="noise"``, the default) is a one-standard-error rule on
paired fold differences: let ``b`` be the candidate with the best pooled
out-of-fold F-beta; the chosen candidate is the first one ``c``, in order of
complexity (default < global < per_class, weights, expected < stretcher; table
order within a rank), whose per-fold differences ``d_k = F_k(b) - F_k(c)`` over
the K shared folds satisfy ``mean(d) <= std(d, ddof=1) / sqrt(K)``. So a more
complex candidate replaces a simpler one only when its paired gain over the
shared folds exceeds one standard error of the paired per-fold differences,
and the default decision wins every tie. ``selection="best"`` takes the plain
argmax of the pooled out-of-fold F-beta (first in that order on ties). Rules
whose decisions depend on the batch are never chosen.
"""

from __future__ import annotations

import inspect
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .methods import METHODS, auto_methods, get_method, is_batch_dependent, make_decider
from .metrics import average_fbeta, fbeta_from_counts
from .thresholds import fold_mean_threshold

__all__ = [
    "Candidate",
    "CandidateResult",
    "Comparison",
    "compare",
    "candidates_for",
    "f_score",
    "fit_rule",
    "make_folds",
    "paired_gain",
    "check_has_positive",
    "SELECTIONS",
    "OBJECTIVES",
]

SELECTIONS = ("noise", "best")
#: Rounds of shared shuffled folds by default, in F1OptimalClassifier and ``f1opt fit/compare``
#: too: with 8 rounds instead of 4, auto came 0.0015 closer to the best rule in hindsight on
#: 68 binary rows of ``benchmarks/auto_choice.py`` (10 outer splits), for twice the fits.
N_REPEATS = 8
OBJECTIVES = ("pooled", "fold_mean", "both")
_TARGETS = ("binary", "multilabel", "multiclass")


# ---------------------------------------------------------------------------
# F-beta from per-row counts (one scorer: splits, pooled, bootstrap)


def _row_counts(target, y, pred, average, n_columns):
    """Per-row true positives, predictions and positives, shape (n, m)."""
    y, pred = np.asarray(y), np.asarray(pred)
    if pred.shape != y.shape:
        raise ValueError(
            f"the rule predicts an array of shape {pred.shape}, but the labels have shape {y.shape}"
        )
    if target == "multiclass":
        y, pred = y.astype(np.int64), pred.astype(np.int64)
        if average == "micro":  # multiclass micro-F over every class is the accuracy
            ones = np.ones((y.size, 1))
            return (y == pred).astype(np.float64)[:, None], ones, ones
        eye = np.eye(n_columns, dtype=np.float64)
        yy, pp = eye[y], eye[pred]
        return yy * pp, pp, yy
    yy = (y.reshape(y.shape[0], -1) != 0).astype(np.float64)
    pp = (pred.reshape(pred.shape[0], -1) != 0).astype(np.float64)
    return yy * pp, pp, yy


def _f_from_counts(tp, k, p, beta, average, sample_weight):
    """F-beta of summed counts; ``tp, k, p`` are (n, m); sample_weight (n,) or None."""
    if average == "samples":
        f = fbeta_from_counts(tp.sum(axis=1), k.sum(axis=1), p.sum(axis=1), beta, 0.0)
        return float(np.average(f, weights=sample_weight))
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)[:, None]
        tp, k, p = tp * w, k * w, p * w
    mode = "micro" if average == "binary" else average
    return float(average_fbeta(tp.sum(0), k.sum(0), p.sum(0), beta=beta, average=mode))


def f_score(
    target, y, pred, *, beta=1.0, average="binary", n_columns=1, sample_weight=None
) -> float:
    """F-beta of predictions, equal to :func:`sklearn.metrics.fbeta_score`.

    Parameters
    ----------
    target : {"binary", "multilabel", "multiclass"}
    y, pred : ndarray of shape (n,) 0/1, (n, L) 0/1, or (n,) class ids
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="binary"
    n_columns : int, default=1
        Number of classes for multiclass targets (scikit-learn's ``labels=range(K)``).
    sample_weight : array-like of shape (n,), optional

    Returns
    -------
    score : float
        ``zero_division=0``, as everywhere in f1opt.
    """
    tp, k, p = _row_counts(target, y, pred, average, n_columns)
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return _f_from_counts(tp, k, p, float(beta), average, sw)


def _bootstrap_interval(target, y, pred, beta, average, n_columns, sw, n_boot, seed):
    """95% percentile bootstrap interval of the F-beta of ``pred`` (rows resampled)."""
    if n_boot <= 0:
        return (float("nan"), float("nan"))
    tp, k, p = _row_counts(target, y, pred, average, n_columns)
    n = tp.shape[0]
    w = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    if average == "samples":
        f_rows = fbeta_from_counts(tp.sum(axis=1), k.sum(axis=1), p.sum(axis=1), beta, 0.0)
        columns = np.column_stack([f_rows * w, w])
    else:
        if average in ("binary", "micro"):
            tp, k, p = tp.sum(1, keepdims=True), k.sum(1, keepdims=True), p.sum(1, keepdims=True)
        columns = np.hstack([tp * w[:, None], k * w[:, None], p * w[:, None]])
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    values = []
    done = 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        idx = rng.integers(0, n, size=(b, n))
        counts = np.bincount((idx + n * np.arange(b)[:, None]).ravel(), minlength=b * n)
        sums = counts.reshape(b, n).astype(np.float64) @ columns
        if average == "samples":
            with np.errstate(invalid="ignore", divide="ignore"):
                values.append(sums[:, 0] / sums[:, 1])
        else:
            m = sums.shape[1] // 3
            mode = "micro" if average == "binary" else average
            values.append(
                average_fbeta(
                    sums[:, :m], sums[:, m : 2 * m], sums[:, 2 * m :], beta=beta, average=mode
                )
            )
        done += b
    values = np.concatenate(values)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


# ---------------------------------------------------------------------------
# folds


def make_folds(target, y, n_folds=5, random_state=0):
    """Shared shuffled folds: stratified for binary and multiclass when every class allows.

    Parameters
    ----------
    target : {"binary", "multilabel", "multiclass"}
    y : ndarray
    n_folds : int, default=5
    random_state : int or None

    Returns
    -------
    folds : list of (train, test) index arrays
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    n = np.shape(y)[0]
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"the number of folds must be an integer >= 2, but got {n_folds!r}")
    if n_folds > n:
        raise ValueError(f"{n_folds} folds need at least {n_folds} rows, but there are {n}")
    if target in ("binary", "multiclass"):
        counts = np.bincount(np.asarray(y).astype(np.int64))
        smallest = counts[counts > 0].min()
        if smallest >= n_folds:
            splitter = StratifiedKFold(n_folds, shuffle=True, random_state=random_state)
            return list(splitter.split(np.zeros(n), y))
        if smallest >= 2:
            k = int(smallest)
            splitter = StratifiedKFold(k, shuffle=True, random_state=random_state)
            return list(splitter.split(np.zeros(n), y))
    return list(KFold(n_folds, shuffle=True, random_state=random_state).split(np.zeros(n)))


# ---------------------------------------------------------------------------
# candidates


@dataclass(frozen=True)
class Candidate:
    """A rule to cross-validate: a method of the table with its options.

    Attributes
    ----------
    name : str
        Shown in tables, e.g. "global", "expected[isotonic]", "global[fold_mean]".
    method : str
        The method of :data:`f1opt.methods.METHODS`.
    options : dict
        Extra keyword arguments of the method's class; ``objective`` is handled here.
    """

    name: str
    method: str
    options: dict = field(default_factory=dict)

    @property
    def complexity(self) -> int:
        """The method's rank in the noise-aware choice."""
        return METHODS[self.method].complexity

    @property
    def objective(self) -> str:
        """The threshold objective of binary "global": "fold_mean" or "pooled"."""
        return self.options.get("objective", "pooled")

    def build(self, *, beta, average, response, random_state, target, extra=None):
        """A fresh unfitted decider for this candidate."""
        options = {k: v for k, v in self.options.items() if k != "objective"}
        options.update((extra or {}).get(self.method, {}))
        return make_decider(
            self.method,
            beta=beta,
            average=average,
            response=response,
            random_state=random_state,
            options=options,
            target=target,
        )


def _expand(method, target, average, response, objective, expand=True):
    if method == "global" and target == "binary":  # the objective is a binary threshold's
        if objective == "both" and expand:
            return [
                Candidate("global[pooled]", "global", {"objective": "pooled"}),
                Candidate("global[fold_mean]", "global", {"objective": "fold_mean"}),
            ]
        return [
            Candidate("global", "global", {"objective": objective.replace("both", "fold_mean")})
        ]
    if not expand:
        return [Candidate(method, method)]
    if method == "expected" and target == "multilabel" and average == "samples":
        calibrations = [None, "isotonic", "sigmoid"]
        if response != "predict_proba":  # decision-function scores need a calibration
            calibrations = calibrations[1:]
        return [
            Candidate("expected" if c is None else f"expected[{c}]", "expected", {"calibration": c})
            for c in calibrations
        ]
    return [Candidate(method, method)]


def candidates_for(
    target, average, *, methods="auto", response="predict_proba", objective="fold_mean", expand=True
) -> list[Candidate]:
    """The candidates of a comparison, the default decision first.

    Parameters
    ----------
    target : {"binary", "multilabel", "multiclass"}
    average : str
    methods : "auto" or list of str, default="auto"
        "auto": every method of the table that enters ``auto`` and serves the
        target (batch-dependent ones left out). A list names methods of the
        table; each must serve the target.
    response : {"predict_proba", "decision_function"}, default="predict_proba"
    objective : {"fold_mean", "pooled", "both"}, default="fold_mean"
        The objective of binary "global": the threshold maximising the mean of
        the per-fold F-beta over the shared folds, or the F-beta of the pooled
        scores, or both as two candidates ("global[fold_mean]",
        "global[pooled]"). Other targets always pool.
    expand : bool, default=True
        Try the variants of a method as separate candidates (the calibrations
        of "expected" for samples-F, both objectives with ``objective="both"``);
        False keeps one candidate per method.

    Returns
    -------
    candidates : list of Candidate
        Multilabel samples-F expands "expected" into calibration None,
        "isotonic" and "sigmoid".
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"`objective` must be one of {OBJECTIVES}, but got {objective!r}.")
    if isinstance(methods, str):
        if methods != "auto":
            methods = [methods]
        else:
            methods = auto_methods(target, average)
    names = ["default", *[m for m in methods if m != "default"]]
    out = []
    for name in names:
        method = get_method(name)
        reason = method.reason(target, average)
        if reason is not None:
            raise ValueError(
                f"method {name!r} does not fit {target} targets with average={average!r}: {reason}."
            )
        out.extend(_expand(name, target, average, response, objective, expand))
    return out


# ---------------------------------------------------------------------------
# results


@dataclass
class CandidateResult:
    """One candidate of a comparison.

    Attributes
    ----------
    candidate : Candidate
    split_scores : ndarray of shape (n_splits,)
        F-beta on each split's held-out part (rule fitted on the rest).
    split_thresholds : list of length n_splits
        The threshold (float) or thresholds (ndarray) fitted on each split, or
        None for rules without thresholds.
    oof_score : float
        F-beta of all the held-out predictions pooled.
    interval : (float, float)
        95% percentile bootstrap interval of ``oof_score`` (rows resampled).
    batch_dependent : bool
        True when the rule's decisions depend on the batch (never chosen).
    n_fallback : int
        Splits where the rule could not be fitted (e.g. no positive in the
        training part) and the default decision stood in.
    fit_time : float
        Seconds for the splits.
    error : str or None
        Why the candidate could not run at all.
    chosen : bool
    decider : fitted decider or None
        The rule refitted on all the scores (``refit=True``).
    fit_score, test_score : float or None
        F-beta of ``decider`` on all the scores and on the test scores.
    oof_predictions : ndarray of shape (n_repeats, n) or (n_repeats, n, L), or None
        Each round's held-out predictions (every row predicted once per round).
    """

    candidate: Candidate
    split_scores: np.ndarray
    split_thresholds: list
    oof_score: float
    interval: tuple
    batch_dependent: bool = False
    n_fallback: int = 0
    fit_time: float = 0.0
    error: str | None = None
    chosen: bool = False
    decider: object = None
    fit_score: float | None = None
    test_score: float | None = None
    oof_predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The candidate's name."""
        return self.candidate.name

    @property
    def method(self) -> str:
        """The candidate's method in the table."""
        return self.candidate.method

    @property
    def mean(self) -> float:
        """Mean F-beta over the splits."""
        return float(np.mean(self.split_scores)) if self.split_scores.size else float("nan")

    @property
    def std(self) -> float:
        """Spread: standard deviation of F-beta over the splits (ddof=0)."""
        return float(np.std(self.split_scores)) if self.split_scores.size else float("nan")

    @property
    def eligible(self) -> bool:
        """Whether the selection may choose it (it ran and is not batch-dependent)."""
        return self.error is None and not self.batch_dependent

    @property
    def note(self) -> str:
        """Short remarks for tables."""
        parts = []
        if self.chosen:
            parts.append("chosen")
        if self.error is not None:
            parts.append(self.error)
        if self.batch_dependent:
            parts.append("batch rule: never chosen")
        if self.n_fallback:
            parts.append(f"default on {self.n_fallback} split(s)")
        return "; ".join(parts)


@dataclass
class Comparison:
    """What :func:`compare` returns.

    Attributes
    ----------
    target, average, response, selection : str
    beta : float
    n_columns : int
    splits : list of (train, test) index arrays
        Every split of every round.
    candidates : list of CandidateResult
        The default decision first, then in order of complexity.
    n_repeats : int
        Rounds of shared folds.
    random_state : int or None
        The seed of the folds (``None`` when the splits were given).
    """

    @property
    def folds_text(self) -> str:
        """E.g. "5-fold cross-validation x 4 rounds"."""
        k = self.n_splits // max(1, self.n_repeats)
        rounds = f" x {self.n_repeats} rounds" if self.n_repeats > 1 else ""
        return f"{k}-fold cross-validation{rounds}"

    target: str
    average: str
    beta: float
    response: str
    selection: str
    n_columns: int
    splits: list
    candidates: list
    n_repeats: int = 1
    random_state: int | None = None

    @property
    def n_splits(self) -> int:
        """Number of shared splits."""
        return len(self.splits)

    @property
    def chosen(self) -> CandidateResult | None:
        """The chosen candidate (None when none could run)."""
        return next((c for c in self.candidates if c.chosen), None)

    @property
    def default(self) -> CandidateResult:
        """The default decision's row."""
        return self.candidates[0]

    def __getitem__(self, name) -> CandidateResult:
        for c in self.candidates:
            if c.name == name:
                return c
        raise KeyError(name)

    def cv_results(self) -> dict:
        """scikit-learn-style ``cv_results_``: one entry per candidate in every array.

        Keys: ``candidate``, ``method``, ``oof_score``, ``oof_score_ci_low``,
        ``oof_score_ci_high``, ``split{i}_test_score``, ``split{i}_threshold``
        (object arrays: float, ndarray or None), ``mean_test_score``,
        ``std_test_score``, ``rank_test_score`` (by pooled F), ``chosen``,
        ``batch_dependent``, ``fit_time``.
        """
        cands = self.candidates
        out = {
            "candidate": np.array([c.name for c in cands], dtype=object),
            "method": np.array([c.method for c in cands], dtype=object),
            "oof_score": np.array([c.oof_score for c in cands]),
            "oof_score_ci_low": np.array([c.interval[0] for c in cands]),
            "oof_score_ci_high": np.array([c.interval[1] for c in cands]),
        }
        for i in range(self.n_splits):
            out[f"split{i}_test_score"] = np.array(
                [c.split_scores[i] if c.split_scores.size else np.nan for c in cands]
            )
        for i in range(self.n_splits):
            column = np.empty(len(cands), dtype=object)
            for j, c in enumerate(cands):
                column[j] = c.split_thresholds[i] if c.split_thresholds else None
            out[f"split{i}_threshold"] = column
        out["mean_test_score"] = np.array([c.mean for c in cands])
        out["std_test_score"] = np.array([c.std for c in cands])
        key = np.where(np.isfinite(out["oof_score"]), out["oof_score"], -np.inf)
        order = np.argsort(-key, kind="stable")
        rank = np.empty(len(cands), dtype=np.int32)
        rank[order] = np.arange(1, len(cands) + 1)
        out["rank_test_score"] = rank
        out["chosen"] = np.array([c.chosen for c in cands])
        out["batch_dependent"] = np.array([c.batch_dependent for c in cands])
        out["fit_time"] = np.array([c.fit_time for c in cands])
        return out

    def format_table(self, *, with_test: bool = False) -> str:
        """The comparison as a fixed-width text table (mean, spread, interval, chosen)."""
        fname = "F1" if self.beta == 1 else f"F{self.beta:g}"
        rule = "noise-aware (1 SE)" if self.selection == "noise" else "best pooled F"
        lines = [
            f"{self.average} {fname}, {self.folds_text} on the validation data; selection: {rule}",
            f"{'candidate':20s} {'cv mean':>8s} {'cv sd':>7s} {'oof F':>7s} {'95% interval':>14s}"
            f" {'fit':>7s}" + (f" {'test':>7s}" if with_test else "") + "  note",
        ]

        def num(x, width=7):
            return f"{x:{width}.4f}" if x is not None and np.isfinite(x) else f"{'-':>{width}s}"

        for c in self.candidates:
            lo, hi = c.interval
            interval = f"[{lo:.3f},{hi:.3f}]" if np.isfinite(lo) else "-"
            ran = c.error is None
            line = (
                f"{c.name:20s} {num(c.mean if ran else None, 8)} {num(c.std if ran else None)} "
                f"{num(c.oof_score if ran else None)} {interval:>14s} {num(c.fit_score)}"
                + (f" {num(c.test_score)}" if with_test else "")
                + f"  {c.note}"
            )
            lines.append(line.rstrip())
        return "\n".join(lines)


# ---------------------------------------------------------------------------
# the engine


def _thresholds_of(decider):
    if hasattr(decider, "thresholds_"):
        return np.array(decider.thresholds_, dtype=np.float64, copy=True)
    t = getattr(decider, "threshold_", None)
    if t is None or np.isnan(float(t)):
        return None
    return float(t)


def _fit(candidate, decider, scores, y, sample_weight, fold_ids, beta):
    """Fit ``decider``, pass weights if any; the fold-mean objective moves its threshold."""
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    if kwargs and "sample_weight" not in inspect.signature(decider.fit).parameters:
        raise NotImplementedError(f"{type(decider).__name__}.fit does not take sample_weight")
    decider.fit(scores, y, **kwargs)
    if candidate.objective == "fold_mean":
        # the fitted binary rule, its threshold the exact maximiser of the mean per-fold F
        threshold = fold_mean_threshold(scores, y, fold_ids, beta=beta, **kwargs)
        decider.threshold_ = threshold
        decider.best_score_ = f_score(
            "binary", y, decider.predict(scores), beta=beta, sample_weight=sample_weight
        )
    return decider


def check_has_positive(target, y, average) -> None:
    """ValueError when a binary or multilabel target has no positive label at all."""
    if target == "multiclass":
        return
    if not np.any(np.asarray(y) != 0):
        what = "label" if target == "binary" else "label in any column"
        raise ValueError(
            f"the labels have no positive (every {what} is 0), so every rule has "
            f"{average} F-beta 0 and there is nothing to fit; check the labels (or pos_label)."
        )


def paired_gain(better, worse) -> tuple[float, float]:
    """Mean and standard error of the paired per-split differences of two candidates.

    ``d_k = F_k(better) - F_k(worse)`` over the shared splits; the standard
    error is ``std(d, ddof=1) / sqrt(K)``: the noise of the choice
    (``selection="noise"``). NaN when fewer than two splits are shared.

    Parameters
    ----------
    better, worse : CandidateResult

    Returns
    -------
    mean, se : float
    """
    a, b = np.asarray(better.split_scores), np.asarray(worse.split_scores)
    if a.size != b.size or a.size < 2:
        return float("nan"), float("nan")
    d = a - b
    return float(np.mean(d)), float(np.std(d, ddof=1) / np.sqrt(d.size))


def _choose(results, selection):
    eligible = [r for r in results if r.eligible and np.isfinite(r.oof_score)]
    if not eligible:
        return None
    position = {id(r): i for i, r in enumerate(results)}
    order = sorted(eligible, key=lambda r: (r.candidate.complexity, position[id(r)]))
    best = max(order, key=lambda r: r.oof_score)  # first in order on ties
    if selection == "best":
        return best
    for c in order:
        gain, se = paired_gain(best, c)
        if not np.isfinite(gain):
            return best
        if gain <= se:
            return c
    return best


def compare(
    scores,
    y,
    *,
    target,
    average,
    beta=1.0,
    methods="auto",
    response="predict_proba",
    cv=5,
    n_repeats=N_REPEATS,
    random_state=0,
    selection="noise",
    objective="fold_mean",
    sample_weight=None,
    options=None,
    refit=True,
    test=None,
    n_bootstrap=1000,
    expand=True,
    choose=None,
    n_columns=None,
    verbose=0,
    progress=None,
) -> Comparison:
    """Cross-validate candidate rules on out-of-fold scores, on shared folds, and choose one.

    Parameters
    ----------
    scores : ndarray of shape (n,), (n, L) or (n, K)
        Validation (ideally out-of-fold) scores.
    y : ndarray of shape (n,) 0/1, (n, L) 0/1 indicator, or (n,) class ids 0..K-1
    target : {"binary", "multilabel", "multiclass"}
    average : {"binary", "micro", "macro", "weighted", "samples"}
    beta : float, default=1.0
    methods : "auto" or list of str, default="auto"
        See :func:`candidates_for`; the default decision is always a candidate.
    response : {"predict_proba", "decision_function"}, default="predict_proba"
        What the scores are (the default decision cuts at 0.5 or at 0).
    cv : int or list of (train, test), default=5
        Number of shared shuffled folds (:func:`make_folds`), or the splits.
    n_repeats : int, default=N_REPEATS (8)
        With an int ``cv``: repeat the shuffled folds this many times (seeds
        ``random_state + r``). Every split of every round is one paired
        comparison of the selection; ``oof_score`` is the mean over the rounds
        of the pooled held-out F-beta, and the interval is that of round 0.
    random_state : int or None, default=0
        Seeds the folds, the stretcher and the bootstrap.
    selection : {"noise", "best"}, default="noise"
        "noise": let ``b`` be the candidate with the best pooled out-of-fold
        F-beta; choose the first candidate ``c`` in order of complexity whose
        per-fold differences ``d_k = F_k(b) - F_k(c)`` over the K shared folds
        have ``mean(d) <= std(d, ddof=1) / sqrt(K)``: a more complex candidate
        replaces a simpler one only when its paired gain over the shared folds
        exceeds one standard error of the paired per-fold differences, and the
        default wins ties. "best": the plain argmax of the pooled out-of-fold
        F-beta (first in order of complexity on ties). Batch-dependent rules
        are never chosen by either.
    objective : {"fold_mean", "pooled", "both"}, default="fold_mean"
        For binary "global": maximise the mean of the per-fold F-beta over the
        shared folds (:func:`f1opt.thresholds.fold_mean_threshold`, exact; the
        refit on all the scores uses the folds of round 0), the pooled F-beta,
        or try both. Measured on 68 binary rows of ``benchmarks/auto_choice.py``
        the fold-mean threshold scored +0.004 test F-beta above the pooled one
        on average, so it is the default.
    sample_weight : array-like of shape (n,), optional
        Row weights for the fits (passed only when given) and every F-beta.
    options : dict, optional
        Method name to extra keyword arguments of its class.
    refit : bool, default=True
        Refit every candidate on all the scores (``decider``, ``fit_score``).
    test : (scores, y), optional
        Held-out data on which the refitted rules are scored (``test_score``).
    n_bootstrap : int, default=1000
        Bootstrap resamples for the 95% interval of the pooled out-of-fold F (0: none).
    expand : bool, default=True
        See :func:`candidates_for`.
    choose : str, optional
        Name (or method) of the candidate to mark chosen regardless of
        ``selection``: an explicitly asked method.
    n_columns : int, optional
        Number of classes (multiclass); default ``scores.shape[1]``.
    verbose : int, default=0
        >0 prints one line per candidate to stderr.
    progress : callable, optional
        Called with ``(candidate_name, split_index)`` after each split fit.

    Returns
    -------
    comparison : Comparison

    Raises
    ------
    ValueError
        If a binary or multilabel target has no positive, or a method does not
        fit the target.
    """
    if target not in _TARGETS:
        raise ValueError(f"`target` must be one of {_TARGETS}, but got {target!r}.")
    if selection not in SELECTIONS:
        raise ValueError(f"`selection` must be one of {SELECTIONS}, but got {selection!r}.")
    scores = np.asarray(scores)
    y = np.asarray(y)
    if scores.shape[0] != y.shape[0]:
        raise ValueError(f"scores have {scores.shape[0]} rows but y has {y.shape[0]}")
    check_has_positive(target, y, average)
    beta = float(beta)
    if n_columns is None:
        n_columns = 1 if scores.ndim == 1 else int(scores.shape[1])
    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
        if sw.shape[0] != y.shape[0] or not np.all(np.isfinite(sw)) or np.any(sw < 0):
            raise ValueError(
                "`sample_weight` must hold one finite, non-negative weight per row "
                f"({y.shape[0]}), but got shape {sw.shape} or bad values."
            )
    cands = candidates_for(target, average, methods=methods, response=response, objective=objective)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ValueError(f"`n_repeats` must be a positive integer, but got {n_repeats!r}.")
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        rounds = [
            make_folds(target, y, int(cv), None if random_state is None else random_state + r)
            for r in range(int(n_repeats))
        ]
    else:
        rounds = [[(np.asarray(a), np.asarray(b)) for a, b in cv]]
    splits = [split for folds in rounds for split in folds]
    round_of = [r for r, folds in enumerate(rounds) for _ in folds]
    fold_ids = np.stack([_fold_ids(folds, y.shape[0]) for folds in rounds])
    seed = _decider_seed(random_state)
    common = dict(
        beta=beta,
        average=average,
        response=response,
        random_state=seed,
        target=target,
        extra=options,
    )
    default_rule = cands[0].build(**common)
    kw = dict(beta=beta, average=average, n_columns=n_columns)

    results = []
    for cand in cands:
        start = time.perf_counter()
        error, batch = None, bool(METHODS[cand.method].batch_dependent(average))
        preds = None
        split_scores, split_thresholds, n_fallback = [], [], 0
        try:
            probe = cand.build(**common)  # fail fast on a missing module or bad option
            batch = batch or is_batch_dependent(probe)
            preds = np.zeros((len(rounds), *y.shape), dtype=np.int64)
            for i, (train, held) in enumerate(splits):
                pred = preds[round_of[i]]
                decider = cand.build(**common)
                try:
                    _fit(
                        cand,
                        decider,
                        scores[train],
                        y[train],
                        None if sw is None else sw[train],
                        fold_ids[round_of[i], train],
                        beta,
                    )
                    pred[held] = decider.predict(scores[held])
                    split_thresholds.append(_thresholds_of(decider))
                except ValueError:  # e.g. a training part without any positive
                    pred[held] = default_rule.fit(scores[train]).predict(scores[held])
                    split_thresholds.append(None)
                    n_fallback += 1
                split_scores.append(
                    f_score(target, y[held], pred[held], sample_weight=_part(sw, held), **kw)
                )
                if progress is not None:
                    progress(cand.name, i)
        except (ImportError, NotImplementedError, ValueError, RuntimeError) as exc:
            error = "unavailable: " + " ".join(str(exc).split())[:160]
            preds, split_scores, split_thresholds = None, [], []
        if preds is not None:  # pooled F of each round's held-out predictions, averaged
            oof = float(np.mean([f_score(target, y, p, sample_weight=sw, **kw) for p in preds]))
            interval = _bootstrap_interval(
                target, y, preds[0], beta, average, n_columns, sw, n_bootstrap, seed
            )
        else:
            oof, interval = np.nan, (np.nan, np.nan)
        result = CandidateResult(
            candidate=cand,
            split_scores=np.asarray(split_scores, dtype=np.float64),
            split_thresholds=split_thresholds,
            oof_score=float(oof),
            interval=interval,
            batch_dependent=batch,
            n_fallback=n_fallback,
            fit_time=time.perf_counter() - start,
            error=error,
            oof_predictions=preds,
        )
        if refit and error is None:
            try:
                decider = cand.build(**common)
                _fit(cand, decider, scores, y, sw, fold_ids[0], beta)
                result.decider = decider
                result.fit_score = f_score(
                    target, y, decider.predict(scores), sample_weight=sw, **kw
                )
                if test is not None:
                    t_scores, t_y = test
                    result.test_score = f_score(
                        target, np.asarray(t_y), decider.predict(t_scores), **kw
                    )
            except ValueError as exc:
                result.error = "failed: " + " ".join(str(exc).split())[:160]
        if verbose > 0:
            print(
                f"[f1opt.compare] {cand.name}: oof F {result.oof_score:.4f}, "
                f"mean {result.mean:.4f} +- {result.std:.4f} over {len(splits)} splits "
                f"({result.fit_time:.2f} s)",
                file=sys.stderr,
            )
        results.append(result)

    if choose is not None:
        picked = next((r for r in results if r.name == choose), None)
        if picked is None:
            picked = next((r for r in results if r.method == choose), None)
        if picked is None:
            raise ValueError(f"no candidate named {choose!r} in this comparison")
        if picked.error is not None:
            raise ValueError(f"method {choose!r} could not be fitted: {picked.error}")
    else:
        picked = _choose(results, selection)
    if picked is not None:
        picked.chosen = True
    return Comparison(
        target=target,
        average=average,
        beta=beta,
        response=response,
        selection=selection,
        n_columns=n_columns,
        splits=splits,
        candidates=results,
        n_repeats=len(rounds),
        random_state=random_state if isinstance(cv, (int, np.integer)) else None,
    )


def _fold_ids(folds, n):
    """Which fold holds each row out, shape (n,); -1 where no fold does."""
    ids = np.full(n, -1, dtype=np.int64)
    for i, (_, held) in enumerate(folds):
        ids[held] = i
    return ids


def _decider_seed(random_state):
    """The seed every decider of a comparison gets (stretcher, sampled weights)."""
    if random_state is None:
        return None
    return int(np.random.default_rng(random_state).integers(2**31))


def fit_rule(
    method,
    scores,
    y,
    *,
    target,
    average,
    beta=1.0,
    response="predict_proba",
    cv=5,
    random_state=0,
    objective="fold_mean",
    options=None,
    sample_weight=None,
):
    """Fit one method of the table on all the scores, exactly as :func:`compare` refits it.

    What ``f1opt fit --method NAME`` saves: the same rule as the candidate
    ``NAME`` of ``compare(..., cv=cv, random_state=random_state)`` (the
    fold-mean threshold of binary "global" uses the folds of round 0).

    Parameters
    ----------
    method : str
        A method of :data:`f1opt.methods.METHODS`.
    scores, y, target, average, beta, response, cv, random_state, objective, sample_weight
        As in :func:`compare`.
    options : dict, optional
        Keyword arguments of the method's class.

    Returns
    -------
    decider : fitted decider
    """
    cand = _expand(method, target, average, response, objective, expand=False)[0]
    y = np.asarray(y)
    decider = cand.build(
        beta=float(beta),
        average=average,
        response=response,
        random_state=_decider_seed(random_state),
        target=target,
        extra={method: dict(options or {})},
    )
    fold_ids = None
    if cand.objective == "fold_mean":
        fold_ids = _fold_ids(make_folds(target, y, int(cv), random_state), y.shape[0])
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return _fit(cand, decider, np.asarray(scores), y, sw, fold_ids, float(beta))


def _part(sw, idx):
    return None if sw is None else sw[idx]
