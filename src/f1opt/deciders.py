"""Deciders: fitted on validation scores and labels, then applied to new scores.

Each class is thin: it validates, calls a kernel from :mod:`f1opt.thresholds`
(or another kernel module), and keeps the result in attributes ending in ``_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import _io
from ._validation import (
    check_beta,
    check_scores,
    check_scores_and_labels,
    check_zero_division,
)
from .metrics import AVERAGES, fbeta_score
from .thresholds import (
    global_threshold,
    is_dask_collection,
    optimal_threshold,
    per_label_thresholds,
)

__all__ = ["BaseDecider", "GlobalThreshold", "PerClassThreshold"]


class BaseDecider(BaseEstimator):
    """Shared behaviour of every decider: ``score``, ``save`` and JSON round trips.

    Subclasses set ``_fitted_attributes`` (names saved with the decider) and
    implement ``fit`` and ``predict``. ``score`` uses the fitted ``average_``.
    """

    _fitted_attributes: tuple[str, ...] = ()

    def score(self, scores, y) -> float:
        """F-beta of ``predict(scores)`` against ``y``, with the decider's average.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)
        y : array-like of the same shape (0/1), or class ids for multiclass deciders

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` on the same predictions.
        """
        check_is_fitted(self, self._fitted_attributes[0])
        return fbeta_score(
            y,
            self.predict(scores),
            beta=self.beta,
            average=self.average_,
            zero_division=getattr(self, "zero_division", 0.0),
        )

    def save(self, path):
        """Write the fitted decider to ``path`` as versioned JSON (never pickle).

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self, self._fitted_attributes[0])
        return _io.save(self, path)

    # JSON hooks, overridden by deciders that keep more than arrays and numbers.
    def _params_to_json(self) -> dict:
        return self.get_params(deep=False)

    def _fitted_to_json(self, path) -> dict:
        return {name: getattr(self, name) for name in self._fitted_attributes}

    @classmethod
    def _from_json(cls, params: dict, fitted: dict, path):
        decider = cls(**params)
        missing = [name for name in cls._fitted_attributes if name not in fitted]
        if missing:
            raise KeyError(f"missing fitted attributes {missing}")
        for name in cls._fitted_attributes:
            setattr(decider, name, fitted[name])
        if "beta" in params:
            check_beta(decider.beta)
        decider._check_loaded()
        return decider

    def _check_loaded(self) -> None:
        """Check the attributes read from a file (override to add checks)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


def _check_average(average, allowed):
    if average not in allowed:
        raise ValueError(f"`average` must be one of {allowed}, but got {average!r}.")
    return average


def _check_width(scores: np.ndarray, n_labels: int, name: str) -> None:
    width = 1 if scores.ndim == 1 else scores.shape[1]
    if (scores.ndim == 1) != (n_labels == 0) or (scores.ndim == 2 and width != n_labels):
        expected = "1-D scores" if n_labels == 0 else f"{n_labels} label columns"
        got = "1-D scores" if scores.ndim == 1 else f"{width} columns"
        raise ValueError(f"{name} was fitted on {expected}, but `scores` has {got}.")


@_io.register_decider
class GlobalThreshold(BaseDecider):
    """One threshold shared by every label, exact over every distinct score.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta.
    average : {"binary", "micro", "macro", "weighted", "samples"} or None, default=None
        The F-beta to maximise; None means "binary" for 1-D scores and "micro"
        for 2-D scores.
    zero_division : float, default=0.0
        F when a label (or a row, for "samples") has neither true nor predicted
        positives, as in scikit-learn.

    Attributes
    ----------
    threshold_ : float
        Predict positive iff ``score >= threshold_``; ``+inf`` predicts nothing.
    best_score_ : float
        F-beta of that rule on the fitted data.
    average_ : str
        The average used.
    n_labels_ : int
        Number of label columns (0 for 1-D scores).

    See Also
    --------
    optimal_threshold : the binary search as a function.
    PerClassThreshold : one threshold per label.

    Notes
    -----
    Binary scores with no positive raise a ``ValueError``. For multilabel
    scores a label with no positive simply counts as scikit-learn counts it.

    Examples
    --------
    >>> import numpy as np
    >>> from f1opt import GlobalThreshold
    >>> scores = np.array([[0.9, 0.2], [0.6, 0.7], [0.3, 0.4]])
    >>> y = np.array([[1, 0], [1, 1], [0, 1]])
    >>> decider = GlobalThreshold(average="micro").fit(scores, y)
    >>> float(decider.threshold_), decider.best_score_
    (0.35, 1.0)
    """

    _fitted_attributes = ("threshold_", "best_score_", "average_", "n_labels_")

    def __init__(self, beta=1.0, average=None, zero_division=0.0):
        self.beta = beta
        self.average = average
        self.zero_division = zero_division

    def fit(self, scores, y):
        """Find the exact optimal threshold.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)
        y : array-like of the same shape, 0/1

        Returns
        -------
        self : GlobalThreshold
        """
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        if is_dask_collection(scores) or is_dask_collection(y):
            from .distributed import fit_global_threshold  # out of core, two passes

            return fit_global_threshold(self, scores, y, beta, zero_division)
        scores = check_scores(scores)
        average = self.average
        if average is None:
            average = "binary" if scores.ndim == 1 else "micro"
        _check_average(average, AVERAGES)
        self.average_ = average
        if average == "binary":
            result = optimal_threshold(y, scores, beta)
            self.threshold_ = result.threshold
            self.n_labels_ = 0
            self.best_score_ = result.score  # exact counts: no second pass over the data
        else:
            scores, y = check_scores_and_labels(scores, y, multilabel=True)
            self.threshold_ = global_threshold(scores, y, beta, average, zero_division)
            self.n_labels_ = scores.shape[1]
            self.best_score_ = self.score(scores, y)
        return self

    def predict(self, scores):
        """0/1 predictions, ``scores >= threshold_``.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)

        Returns
        -------
        y_pred : ndarray of int8 of the same shape
        """
        check_is_fitted(self, "threshold_")
        scores = check_scores(scores)
        _check_width(scores, self.n_labels_, type(self).__name__)
        return (scores >= self.threshold_).astype(np.int8)

    def _check_loaded(self):
        self.threshold_ = float(self.threshold_)
        self.n_labels_ = int(self.n_labels_)
        _check_average(self.average_, AVERAGES)


@_io.register_decider
class PerClassThreshold(BaseDecider):
    """One threshold per label, globally optimal for micro, macro or weighted F-beta.

    Micro-F couples the labels; it is solved exactly by Dinkelbach's method
    (a handful of rounds, each one exact scan per label). Macro and weighted
    F-beta are separable and each label is solved on its own.

    Parameters
    ----------
    beta : float, default=1.0
    average : {"micro", "macro", "weighted"}, default="micro"
    zero_division : float, default=0.0

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_labels,)
        Predict label j iff ``scores[:, j] >= thresholds_[j]``. A label with no
        positive in the fitted data gets ``+inf`` and predicts nothing.
    best_score_ : float
        F-beta on the fitted data.
    n_iter_ : int
        Dinkelbach rounds (1 for macro and weighted).
    average_ : str

    References
    ----------
    .. [1] W. Dinkelbach. "On nonlinear fractional programming." Management
       Science 13(7), 1967.

    Examples
    --------
    >>> from f1opt import PerClassThreshold
    >>> from f1opt.datasets import make_stretcher_toy
    >>> X_train, y_train, X_test, y_test = make_stretcher_toy(
    ...     n_labels=5, n_train=2000, n_test=500, random_state=0)
    >>> decider = PerClassThreshold().fit(X_train, y_train)
    >>> decider.score(X_test, y_test) > 0.99
    True
    """

    _fitted_attributes = ("thresholds_", "best_score_", "n_iter_", "average_")

    def __init__(self, beta=1.0, average="micro", zero_division=0.0):
        self.beta = beta
        self.average = average
        self.zero_division = zero_division

    def fit(self, scores, y):
        """Find the exact optimal per-label thresholds.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels)
        y : array-like of shape (n_samples, n_labels), 0/1

        Returns
        -------
        self : PerClassThreshold
        """
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        average = _check_average(self.average, ("micro", "macro", "weighted"))
        if is_dask_collection(scores) or is_dask_collection(y):
            from .distributed import fit_per_class_threshold  # out of core, two passes

            return fit_per_class_threshold(self, scores, y, beta, zero_division)
        scores, y = check_scores_and_labels(scores, y, multilabel=True)
        self.thresholds_, self.n_iter_ = per_label_thresholds(
            scores, y, beta, average, zero_division
        )
        self.average_ = average
        self.best_score_ = self.score(scores, y)
        return self

    def predict(self, scores):
        """0/1 predictions, ``scores[:, j] >= thresholds_[j]``.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels)

        Returns
        -------
        y_pred : ndarray of int8 of shape (n_samples, n_labels)
        """
        check_is_fitted(self, "thresholds_")
        scores = check_scores(scores, ndim=2)
        _check_width(scores, self.thresholds_.size, type(self).__name__)
        return (scores >= self.thresholds_).astype(np.int8)

    def _check_loaded(self):
        self.thresholds_ = np.asarray(self.thresholds_, dtype=np.float64)
        if self.thresholds_.ndim != 1 or self.thresholds_.size == 0:
            raise ValueError("thresholds_ must be a non-empty 1-D array")
        self.n_iter_ = int(self.n_iter_)
        _check_average(self.average_, ("micro", "macro", "weighted"))
