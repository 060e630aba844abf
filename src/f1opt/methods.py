"""The method table: every decision method of f1opt, named once.

One :class:`Method` row per method says which targets and averages it serves,
how complex it is (for the noise-aware choice of :mod:`f1opt.compare`), whether
``method="auto"`` tries it, whether its decisions can depend on the batch they
are made in, and how to build an unfitted decider. The estimator, the command
line, the demo, the report and persistence read this table; adding a method
is one row plus its class.

=========== ===================================== ========== ====== =================
name        targets (averages)                    complexity auto   class
=========== ===================================== ========== ====== =================
default     every target and average              0          always DefaultDecision
global      binary, multilabel (all four)         1          yes    GlobalThreshold
per_class   multilabel (micro, macro, weighted)   2          yes    PerClassThreshold
weights     multiclass (macro)                    2          yes    ClassWeights
expected    binary, multilabel (samples)          2          yes*   ExpectedF1
stretcher   binary, multilabel (all four)         3          no     Stretcher
=========== ===================================== ========== ====== =================

(*) ``expected`` with ``average="binary"`` decides a whole batch at once (its
decisions for a row depend on the other rows), so ``auto`` never chooses it;
for multilabel ``average="samples"`` it decides row by row and is a candidate,
with calibration None, "isotonic" and "sigmoid" tried separately.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _io
from .deciders import BaseDecider
from .metrics import AVERAGES

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "TARGETS",
    "Method",
    "DefaultDecision",
    "get_method",
    "applicable_methods",
    "auto_methods",
    "method_reason",
    "make_decider",
    "is_batch_dependent",
    "decider_modules",
    "import_decider_modules",
    "check_method_name",
]

TARGETS = ("binary", "multilabel", "multiclass")
_ALL = {
    "binary": ("binary",),
    "multilabel": ("micro", "macro", "weighted", "samples"),
    "multiclass": ("macro", "weighted", "micro"),
}


@_io.register_decider
class DefaultDecision(BaseDecider):
    """The estimator's own decision, as a decider: nothing is learned.

    ``scores >= threshold`` (0.5 for probabilities, 0 for decision functions)
    for binary and multilabel scores, the argmax of the class scores for
    multiclass. It is the first candidate of every comparison, so f1opt never
    moves a decision unless moving it wins.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta (used by ``score`` only).
    average : {"binary", "micro", "macro", "weighted", "samples"} or None, default=None
        The F-beta of ``score``; None means "binary" for 1-D scores, "micro"
        for 2-D scores and "macro" with ``multiclass=True``.
    threshold : float, default=0.5
        Predict positive iff ``score >= threshold`` (not used with ``multiclass``).
    multiclass : bool, default=False
        Predict ``argmax`` of 2-D class scores (class ids) instead.

    Attributes
    ----------
    threshold_ : float
        ``threshold`` (NaN with ``multiclass=True``).
    average_ : str
    n_labels_ : int
        Columns seen in ``fit`` (0 for 1-D scores).

    Examples
    --------
    >>> from f1opt.methods import DefaultDecision
    >>> DefaultDecision().fit([0.2, 0.7], [0, 1]).predict([0.4, 0.5]).tolist()
    [0, 1]
    """

    _fitted_attributes = ("threshold_", "average_", "n_labels_")

    def __init__(self, beta=1.0, average=None, threshold=0.5, multiclass=False):
        self.beta = beta
        self.average = average
        self.threshold = threshold
        self.multiclass = multiclass

    @property
    def batch_dependent(self) -> bool:
        """False: every row is decided on its own."""
        return False

    def fit(self, scores, y=None, sample_weight=None):
        """Record the shape of the scores; nothing is learned.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_columns)
        y : ignored
        sample_weight : ignored

        Returns
        -------
        self : DefaultDecision
        """
        from ._validation import check_beta, check_scores

        check_beta(self.beta)
        scores = check_scores(scores, ndim=2 if self.multiclass else (1, 2))
        average = self.average
        if average is None:
            average = "macro" if self.multiclass else ("binary" if scores.ndim == 1 else "micro")
        if average not in AVERAGES:
            raise ValueError(f"`average` must be one of {AVERAGES}, but got {average!r}.")
        self.average_ = average
        self.n_labels_ = 0 if scores.ndim == 1 else int(scores.shape[1])
        self.threshold_ = float("nan") if self.multiclass else float(self.threshold)
        return self

    def predict(self, scores):
        """``scores >= threshold_`` (int8), or the argmax (class ids) for multiclass.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_columns)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_columns)
        """
        from ._validation import check_scores

        check_is_fitted(self, "average_")
        scores = check_scores(scores, ndim=1 if self.n_labels_ == 0 else 2)
        width = 0 if scores.ndim == 1 else scores.shape[1]
        if width != self.n_labels_:
            raise ValueError(
                f"DefaultDecision was fitted on {self.n_labels_ or 'one'} score column(s), "
                f"but `scores` has {width or 'one'}."
            )
        if self.multiclass:
            return np.argmax(scores, axis=1).astype(np.int64)
        return (scores >= self.threshold_).astype(np.int8)

    def score(self, scores, y, sample_weight=None) -> float:
        """F-beta of ``predict(scores)`` against ``y`` with ``average_``.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_columns)
        y : array-like: 0/1 of the shape of ``scores``, or class ids for multiclass
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` (``labels=range(K)``
            for multiclass).
        """
        from .metrics import fbeta_score

        y, y_pred = np.asarray(y), self.predict(scores)
        if self.multiclass:  # macro-F over range(K), as scikit-learn's labels=range(K)
            eye = np.eye(np.asarray(scores).shape[1], dtype=np.int8)
            y, y_pred = eye[y], eye[y_pred]
        return fbeta_score(
            y,
            y_pred,
            beta=float(self.beta),
            average=self.average_,
            sample_weight=sample_weight,
        )

    def _check_loaded(self):
        self.threshold_ = float(self.threshold_)
        self.n_labels_ = int(self.n_labels_)
        if self.average_ not in AVERAGES:
            raise ValueError(f"average_ must be one of {AVERAGES}, got {self.average_!r}")


# ---------------------------------------------------------------------------
# builders: (beta, average, response, random_state, options) -> unfitted decider


def _build_default(beta, average, response, random_state, options):
    multiclass = bool(options.pop("multiclass", False))
    threshold = 0.5 if response == "predict_proba" else 0.0
    return DefaultDecision(beta=beta, average=average, threshold=threshold, multiclass=multiclass)


def _build_global(beta, average, response, random_state, options):
    from .deciders import GlobalThreshold

    return GlobalThreshold(beta=beta, average=average, **options)


def _build_per_class(beta, average, response, random_state, options):
    from .deciders import PerClassThreshold

    return PerClassThreshold(beta=beta, average=average, **options)


def _build_weights(beta, average, response, random_state, options):
    from .weights import ClassWeights

    return ClassWeights(beta=beta, **options)


def _build_expected(beta, average, response, random_state, options):
    from .expected import ExpectedF1

    # decision-function scores are no probabilities: calibrate them (Platt) by default
    options.setdefault("calibration", None if response == "predict_proba" else "sigmoid")
    return ExpectedF1(beta=beta, average=average, **options)


def _build_stretcher(beta, average, response, random_state, options):
    try:
        from .stretch import stretcher_for
    except ImportError as exc:
        raise ImportError(
            "method 'stretcher' requires torch. You can install it with "
            "`pip install 'f1opt[torch]'`."
        ) from exc
    options.setdefault("verbose", False)
    return stretcher_for(beta, average, random_state=random_state, **options)


def _expected_batch(average: str) -> bool:
    return average != "samples"


@dataclass(frozen=True)
class Method:
    """One row of the method table.

    Attributes
    ----------
    name : str
        The one spelling, in Python and on the command line.
    serves : dict of str to tuple of str
        Target kind ("binary", "multilabel", "multiclass") to the averages served.
    complexity : int
        Rank in the noise-aware choice: a more complex method replaces a
        simpler one only when it wins beyond noise (see :func:`f1opt.compare.compare`).
    auto : bool
        Whether ``method="auto"`` tries it.
    batch_dependent : callable (average) -> bool
        Whether its decisions for a row can depend on the other rows.
    build : callable
        ``build(beta, average, response, random_state, options) -> unfitted decider``.
    module, class_name : str
        Where the decider class lives (imported on demand; registers for ``load``).
    summary : str
    """

    name: str
    serves: dict
    complexity: int
    auto: bool
    batch_dependent: Callable[[str], bool]
    build: Callable = field(repr=False)
    module: str
    class_name: str
    summary: str

    def reason(self, target: str, average: str) -> str | None:
        """None when the method serves ``target`` with ``average``, else why not."""
        if average in self.serves.get(target, ()):
            return None
        served = "; ".join(f"{t} ({', '.join(a)})" for t, a in self.serves.items())
        return f"method {self.name!r} serves {served}"


_NEVER = lambda average: False  # noqa: E731

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "default",
            _ALL,
            0,
            True,
            _NEVER,
            _build_default,
            "methods",
            "DefaultDecision",
            "the estimator's own decision: 0.5 (probabilities), 0 (decision function), argmax",
        ),
        Method(
            "global",
            {"binary": ("binary",), "multilabel": _ALL["multilabel"]},
            1,
            True,
            _NEVER,
            _build_global,
            "deciders",
            "GlobalThreshold",
            "one exact threshold shared by every label",
        ),
        Method(
            "per_class",
            {"multilabel": ("micro", "macro", "weighted")},
            2,
            True,
            _NEVER,
            _build_per_class,
            "deciders",
            "PerClassThreshold",
            "one exact threshold per label (Dinkelbach for micro)",
        ),
        Method(
            "weights",
            {"multiclass": ("macro",)},
            2,
            True,
            _NEVER,
            _build_weights,
            "weights",
            "ClassWeights",
            "class weights and offsets for multiclass macro-F",
        ),
        Method(
            "expected",
            {"binary": ("binary",), "multilabel": _ALL["multilabel"]},
            2,
            True,
            _expected_batch,
            _build_expected,
            "expected",
            "ExpectedF1",
            "Bayes-optimal plug-in decisions from (calibrated) probabilities",
        ),
        Method(
            "stretcher",
            {"binary": ("binary",), "multilabel": _ALL["multilabel"]},
            3,
            False,
            _NEVER,
            _build_stretcher,
            "stretch",
            "Stretcher",
            "the stretcher network, then a threshold (needs torch; only when asked)",
        ),
    )
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
for _method in METHODS.values():
    _io.register_module(_method.class_name, _method.module)
del _method


def check_method_name(name: str) -> str:
    """``name`` if it is a method of the table, else a ValueError naming the choices."""
    if name in METHODS:
        return name
    if isinstance(name, str) and name.replace("-", "_") in METHODS:
        fixed = name.replace("-", "_")
        raise ValueError(f"method {name!r} is spelled {fixed!r}")
    raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHOD_NAMES)} or auto")


def get_method(name: str) -> Method:
    """The table row of ``name`` (ValueError for an unknown name)."""
    return METHODS[check_method_name(name)]


def method_reason(name: str, target: str, average: str) -> str | None:
    """Why method ``name`` does not serve ``target`` with ``average`` (None if it does)."""
    return get_method(name).reason(target, average)


def applicable_methods(target: str, average: str) -> list[str]:
    """Every method of the table serving ``target`` with ``average``, in table order."""
    return [m.name for m in METHODS.values() if m.reason(target, average) is None]


def auto_methods(target: str, average: str) -> list[str]:
    """The methods ``auto`` tries: applicable, ``auto`` set and not batch-dependent."""
    return [
        name
        for name in applicable_methods(target, average)
        if METHODS[name].auto and not METHODS[name].batch_dependent(average)
    ]


def make_decider(
    name: str,
    *,
    beta: float = 1.0,
    average: str = "binary",
    response: str = "predict_proba",
    random_state=None,
    options: dict | None = None,
    target: str | None = None,
):
    """A fresh, unfitted decider of method ``name``.

    Parameters
    ----------
    name : str
        A method of :data:`METHODS`.
    beta : float, default=1.0
    average : str, default="binary"
    response : {"predict_proba", "decision_function"}, default="predict_proba"
        What the scores are: it sets the default decision's threshold (0.5 or
        0) and the expected-F calibration (none or Platt).
    random_state : int or None
        Seeds the stretcher.
    options : dict, optional
        Extra keyword arguments of the method's class (e.g. ``{"calibration":
        "isotonic"}`` for "expected", ``{"epochs": 30}`` for "stretcher").
    target : str, optional
        When given, the method must serve it with ``average`` (ValueError otherwise).

    Returns
    -------
    decider : unfitted decider
    """
    method = get_method(name)
    if target is not None:
        reason = method.reason(target, average)
        if reason is not None:
            raise ValueError(
                f"method {name!r} does not fit {target} targets with average={average!r}: {reason}."
            )
    options = dict(options or {})
    if name == "default" and target == "multiclass":
        options["multiclass"] = True
    return method.build(beta, average, response, random_state, options)


def is_batch_dependent(decider) -> bool:
    """Whether ``decider``'s decision for a row can depend on the other rows.

    Reads the decider's ``batch_dependent`` property; a decider without one
    counts as row by row, except :class:`~f1opt.ExpectedF1` with any average
    but "samples" (a top-k decision over the batch).
    """
    flag = getattr(decider, "batch_dependent", None)
    if isinstance(flag, (bool, np.bool_)):
        if flag:
            return True
    if type(decider).__name__ == "ExpectedF1":
        average = getattr(decider, "average_", getattr(decider, "average", "binary"))
        return average != "samples"
    return bool(flag) if flag is not None else False


def decider_modules() -> tuple[str, ...]:
    """The modules whose decider classes register for :func:`f1opt.load`."""
    return tuple(dict.fromkeys(m.module for m in METHODS.values()))


def import_decider_modules() -> None:
    """Import every module of the table (so that its classes are registered)."""
    for module in decider_modules():
        try:
            importlib.import_module(f"{__package__}.{module}")
        except ImportError:  # optional dependency (torch) missing
            pass


def rule_summary(decider, shown: int = 8) -> str:
    """One line on what a fitted rule decides (CLI output and the report), or "".

    E.g. ``"threshold 0.42: predict positive iff score >= 0.42"``.
    """
    if decider is None:
        return ""
    threshold = getattr(decider, "threshold_", None)
    if threshold is not None:
        t = float(threshold)
        return "" if np.isnan(t) else f"threshold {t:.6g}: predict positive iff score >= {t:.6g}"
    more = lambda a: ", ..." if a.size > shown else ""  # noqa: E731
    if hasattr(decider, "thresholds_"):
        t = np.asarray(decider.thresholds_, dtype=float)
        values = ", ".join(f"{v:.4g}" for v in t[:shown])
        return f"per-label thresholds ({t.size}): {values}{more(t)}"
    if hasattr(decider, "weights_"):
        w = np.asarray(decider.weights_, dtype=float)
        values = ", ".join(f"{v:.4g}" for v in w[:shown])
        return f"argmax_k (weights_[k] * p_k + offsets_[k]), weights_: {values}{more(w)}"
    return ""
