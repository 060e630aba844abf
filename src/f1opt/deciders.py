"""Deciders: fitted on validation scores and labels, then applied to new scores.

Each class is thin: it validates, calls a search of :mod:`f1opt.thresholds` /
:mod:`f1opt._engine` (which chooses sort, bucket counts, compiled, Dask or
sparse), and keeps the result in attributes ending in ``_``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from . import _engine, _io
from ._validation import (
    check_beta,
    check_binary_labels,
    check_indicator_labels,
    check_sample_weight,
    check_scores,
    check_scores_and_labels,
    check_zero_division,
)
from .metrics import AVERAGES, average_fbeta, fbeta_from_counts, fbeta_score
from .thresholds import binary_labels, binary_scores, optimal_threshold, score_dtype

__all__ = ["BaseDecider", "GlobalThreshold", "PerClassThreshold"]


class BaseDecider(BaseEstimator):
    """Shared behaviour of every decider: ``score``, ``save`` and JSON round trips.

    Subclasses set ``_fitted_attributes`` (names saved with the decider) and
    implement ``fit`` and ``predict``. ``score`` uses the fitted ``average_``.
    """

    _fitted_attributes: tuple[str, ...] = ()

    def score(self, scores, y, sample_weight=None) -> float:
        """F-beta of ``predict(scores)`` against ``y``, with the decider's average.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)
            (scipy.sparse for the threshold deciders)
        y : array-like of the same shape (0/1), or class ids for multiclass deciders
        sample_weight : array-like of shape (n_samples,), optional
            Weight of each sample (row) in the counts.

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` on the same predictions
            (with the same ``sample_weight``).
        """
        check_is_fitted(self, self._fitted_attributes[0])
        pos_label = getattr(self, "pos_label", None)
        if self.average_ == "binary" and pos_label is not None:
            y, _ = binary_labels(y, pos_label, name="y")
        return _fbeta(
            y,
            self.predict(scores),
            beta=self.beta,
            average=self.average_,
            zero_division=getattr(self, "zero_division", 0.0),
            sample_weight=sample_weight,
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


_is_sparse = _engine._is_sparse


def _fbeta(y, y_pred, *, beta, average, zero_division, sample_weight=None) -> float:
    """F-beta of 0/1 (or sparse indicator) predictions, with optional per-row weights.

    Without weights and sparse input this is :func:`f1opt.metrics.fbeta_score`;
    otherwise the (weighted) counts are summed here, as scikit-learn sums them.
    """
    sparse = _is_sparse(y_pred) or _is_sparse(y)
    if sample_weight is None and not sparse:
        return fbeta_score(y, y_pred, beta=beta, average=average, zero_division=zero_division)
    import scipy.sparse as sp

    if average == "binary":
        yt = check_binary_labels(y, name="y_true").astype(np.float64)
        yp = check_binary_labels(y_pred, name="y_pred").astype(np.float64)
        yt, yp = yt[:, None], yp[:, None]
    else:
        yt = sp.csr_array(y, dtype=np.float64) if sparse else check_indicator_labels(y)
        yp = (
            sp.csr_array(y_pred, dtype=np.float64)
            if sparse
            else check_indicator_labels(y_pred, name="y_pred")
        )
    if yt.shape != yp.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape, but got {yt.shape} and {yp.shape}."
        )
    n = yt.shape[0]
    w = (
        np.ones(n)
        if sample_weight is None
        else check_sample_weight(sample_weight, n, allow_all_zero=True)
    )
    if sparse:
        wd = sp.diags_array(w)
        tp_m, k_m, p_m = wd @ yt.multiply(yp), wd @ yp, wd @ yt
    else:
        yt, yp = yt.astype(np.float64), yp.astype(np.float64)
        tp_m, k_m, p_m = (yt * yp) * w[:, None], yp * w[:, None], yt * w[:, None]
    if average == "samples":
        rows = (np.asarray(m.sum(axis=1)).ravel() for m in (tp_m, k_m, p_m))
        f = fbeta_from_counts(*rows, beta, zero_division)
        return float(np.average(f, weights=w)) if w.sum() > 0 else 0.0
    cols = [np.asarray(m.sum(axis=0), dtype=np.float64).ravel() for m in (tp_m, k_m, p_m)]
    return float(average_fbeta(*cols, beta=beta, average=average, zero_division=zero_division))


def _sparse_predict(scores, thresholds):
    """Sparse 0/1 indicator of ``stored >= threshold`` (unstored entries never positive)."""
    import scipy.sparse as sp

    csr = sp.csr_array(scores)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    if not np.isfinite(csr.data).all():
        raise ValueError("sparse `scores` stores NaN or infinite values (unstored means -inf).")
    t = np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (csr.shape[1],))
    data = (csr.data >= t[csr.indices]).astype(np.int8)
    out = sp.csr_array((data, csr.indices.copy(), csr.indptr.copy()), shape=csr.shape)
    out.eliminate_zeros()
    return out


def _shape(x) -> tuple:
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def _ndim(x) -> int:
    return len(_shape(x))


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
    pos_label : int, float, bool or str, default=None
        The positive class of binary labels (scikit-learn's semantics): labels
        other than {0, 1}, {-1, 1} or {False, True} need it. ``predict``
        returns 1 for that class, 0 for the other.

    Attributes
    ----------
    threshold_ : float
        Predict positive iff ``score >= threshold_``; ``+inf`` predicts nothing.
        For float16 / float32 scores it is a value of that dtype.
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
    Binary scores may be (n_samples, 2) class probabilities (``predict_proba``)
    with 1-D labels: the positive class's column is used (the second, or that
    of ``pos_label`` among the sorted classes).

    Sparse scores (scipy.sparse, multilabel averages): an unstored entry is
    never predicted positive, as if it were scored ``-inf`` (the top-k outputs
    of extreme-multilabel models), and ``predict`` returns a sparse indicator
    matrix. Dask collections run the out-of-core search (every average).

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

    def __init__(self, beta=1.0, average=None, zero_division=0.0, pos_label=None):
        self.beta = beta
        self.average = average
        self.zero_division = zero_division
        self.pos_label = pos_label

    def fit(self, scores, y, sample_weight=None):
        """Find the exact optimal threshold.

        Parameters
        ----------
        scores : array-like of shape (n_samples,), (n_samples, 2) or (n_samples, n_labels)
            Dense, scipy.sparse (multilabel) or Dask.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Binary labels, or a 0/1 (dense or sparse) indicator matrix.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample (row).

        Returns
        -------
        self : GlobalThreshold
        """
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        average = self.average
        ndim, y_ndim = _ndim(scores), _ndim(y)
        binary_proba = ndim == 2 and _shape(scores)[1] == 2 and y_ndim == 1
        if average is None:
            average = "binary" if ndim == 1 or binary_proba else "micro"
        _check_average(average, AVERAGES)
        if average == "binary":
            if _is_sparse(scores):
                raise ValueError(
                    "Sparse `scores` need a multilabel average ('micro', 'macro', 'weighted' "
                    "or 'samples'); pass dense 1-D scores for average='binary'."
                )
            if binary_proba and not _engine.choose(scores, y) == "dask":
                _, self.classes_ = binary_labels(y, self.pos_label, name="y")
            result = optimal_threshold(
                y, scores, beta, sample_weight=sample_weight, pos_label=self.pos_label
            )
            self.threshold_ = result.threshold
            self.n_labels_ = 0
            self.best_score_ = result.score  # exact counts: no second pass over the data
        elif _is_sparse(scores) or _engine.choose(scores, y, sample_weight) == "dask":
            if ndim != 2:
                raise ValueError(
                    f"average={average!r} needs 2-D scores (n_samples, n_labels), but got {ndim}-D."
                )
            self.threshold_, self.best_score_ = _engine.global_search(
                scores, y, sample_weight, beta, average, zero_division
            )
            self.n_labels_ = int(scores.shape[1])
        else:
            dtype = score_dtype(scores)
            scores, y = check_scores_and_labels(scores, y, multilabel=True)
            w = _check_row_weights(sample_weight, scores.shape[0])
            # the score from the search's own counts: no second pass over the data
            self.threshold_, self.best_score_ = _engine.global_search(
                scores, y, w, beta, average, zero_division, dtype=dtype
            )
            self.n_labels_ = scores.shape[1]
        self.average_ = average
        return self

    def predict(self, scores):
        """0/1 predictions, ``scores >= threshold_``.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)
            (n_samples, 2) class probabilities for a binary rule; scipy.sparse
            for a multilabel rule (unstored entries predict 0).

        Returns
        -------
        y_pred : ndarray of int8 of the same shape (1-D for binary probabilities),
            or a scipy.sparse CSR array of int8 for sparse scores
        """
        check_is_fitted(self, "threshold_")
        if _is_sparse(scores):
            _check_width_shape(scores.shape, self.n_labels_, type(self).__name__)
            return _sparse_predict(scores, self.threshold_)
        if self.n_labels_ == 0 and _ndim(scores) == 2 and _shape(scores)[1] == 2:
            classes = getattr(self, "classes_", None)
            if self.pos_label is not None and classes is None:
                raise ValueError(
                    "This GlobalThreshold does not know which column of (n, 2) probabilities "
                    "belongs to `pos_label` (it was loaded, or fitted on 1-D scores); pass the "
                    "positive class's scores as 1-D."
                )
            scores, _ = binary_scores(scores, classes, self.pos_label)
        scores = check_scores(scores)
        _check_width(scores, self.n_labels_, type(self).__name__)
        return (scores >= self.threshold_).astype(np.int8)

    def _check_loaded(self):
        self.threshold_ = float(self.threshold_)
        self.n_labels_ = int(self.n_labels_)
        _check_average(self.average_, AVERAGES)


def _check_width_shape(shape, n_labels, name):
    if len(shape) != 2 or shape[1] != n_labels:
        expected = "1-D scores" if n_labels == 0 else f"{n_labels} label columns"
        raise ValueError(f"{name} was fitted on {expected}, but `scores` has shape {shape}.")


def _check_row_weights(sample_weight, n_samples):
    if sample_weight is None:
        return None
    return check_sample_weight(sample_weight, n_samples)


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

    Notes
    -----
    Sparse scores (scipy.sparse CSR/CSC, labels dense or sparse): an unstored
    entry is never predicted positive, as if it were scored ``-inf`` (the
    top-k outputs of extreme-multilabel models); its label still counts among
    the positives. ``predict`` then returns a sparse indicator matrix.
    ``sample_weight`` weighs every row's counts in every label.

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

    def fit(self, scores, y, sample_weight=None):
        """Find the exact optimal per-label thresholds.

        Parameters
        ----------
        scores : array-like of shape (n_samples, n_labels)
            Dense, scipy.sparse (an unstored entry is never predicted positive)
            or Dask.
        y : array-like or scipy.sparse of shape (n_samples, n_labels), 0/1
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each sample (row).

        Returns
        -------
        self : PerClassThreshold
        """
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        average = _check_average(self.average, ("micro", "macro", "weighted"))
        if _is_sparse(scores) or _engine.choose(scores, y, sample_weight) == "dask":
            if _ndim(scores) != 2:
                raise ValueError(
                    f"`scores` must be 2-D (n_samples, n_labels), but got {_ndim(scores)}-D."
                )
            self.thresholds_, self.n_iter_, self.best_score_ = _engine.per_label(
                scores, y, sample_weight, beta, average, zero_division
            )
            self.average_ = average
            return self
        dtype = score_dtype(scores)
        scores, y = check_scores_and_labels(scores, y, multilabel=True)
        w = _check_row_weights(sample_weight, scores.shape[0])
        # the score from the chosen cuts' counts: no second pass over the data
        self.thresholds_, self.n_iter_, self.best_score_ = _engine.per_label(
            scores, y, w, beta, average, zero_division, dtype=dtype
        )
        self.average_ = average
        return self

    def predict(self, scores):
        """0/1 predictions, ``scores[:, j] >= thresholds_[j]``.

        Parameters
        ----------
        scores : array-like or scipy.sparse of shape (n_samples, n_labels)

        Returns
        -------
        y_pred : ndarray of int8 of shape (n_samples, n_labels), or a scipy.sparse
            CSR array of int8 for sparse scores (unstored entries predict 0)
        """
        check_is_fitted(self, "thresholds_")
        if _is_sparse(scores):
            _check_width_shape(scores.shape, self.thresholds_.size, type(self).__name__)
            return _sparse_predict(scores, self.thresholds_)
        scores = check_scores(scores, ndim=2)
        _check_width(scores, self.thresholds_.size, type(self).__name__)
        return (scores >= self.thresholds_).astype(np.int8)

    def _check_loaded(self):
        self.thresholds_ = np.asarray(self.thresholds_, dtype=np.float64)
        if self.thresholds_.ndim != 1 or self.thresholds_.size == 0:
            raise ValueError("thresholds_ must be a non-empty 1-D array")
        self.n_iter_ = int(self.n_iter_)
        _check_average(self.average_, ("micro", "macro", "weighted"))
