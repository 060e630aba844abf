"""Exact F-beta threshold searches: the public functions (validate once, then search).

Convention: a score is predicted positive iff ``score >= threshold``. Only the
upper sets ``{i : s_i >= t}`` are realisable, one per distinct score value, so
an exact search evaluates F at every distinct value (and at the empty set).
The returned threshold lies strictly between the lowest included and the
highest excluded score (their midpoint where the scores' dtype allows), so
ties are never split; ``-inf`` means "everything positive", ``+inf``
"nothing". Among equally good cuts the one predicting fewest positives is
returned. Thresholds of float16 and float32 scores are values of that dtype,
so ``scores >= threshold`` decides the same in the scores' own dtype.

``sample_weight`` (one non-negative weight per row) weighs the true and
predicted positive counts, as in :func:`sklearn.metrics.fbeta_score`; integer
weights give the rule of the rows repeated, and rows of weight 0 are as if
absent (they create no cut). ``pos_label`` follows scikit-learn: labels other
than {0, 1}, {-1, 1} or {False, True} need it.

The kernels are in :mod:`f1opt.kernels`; :mod:`f1opt._engine` chooses how a
search runs (sort, bucket counts, compiled, Dask, sparse).

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014.
.. [2] W. Dinkelbach. "On nonlinear fractional programming." Management
   Science 13(7), 1967.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _engine
from .kernels.cuts import (
    CutCandidates,
    best_cut,
    cut_candidates,
    dinkelbach,
    midpoint_threshold,
    solve_per_label,
)
from .kernels.dask import is_dask_collection

__all__ = [
    "ThresholdResult",
    "CutCandidates",
    "optimal_threshold",
    "fbeta_curve",
    "fold_mean_threshold",
    "midpoint_threshold",
    "cut_candidates",
    "best_cut",
    "dinkelbach",
    "solve_per_label",
    "binary_threshold",
    "global_threshold",
    "per_label_thresholds",
    "binary_labels",
    "binary_scores",
    "score_dtype",
    "is_dask_collection",
    "read_sparse_scores",
]

_MAX_EXACT_INT = 2**53


@dataclass(frozen=True)
class ThresholdResult:
    """The result of :func:`optimal_threshold`.

    Attributes
    ----------
    threshold : float
        Predict positive iff ``score >= threshold``.
    score : float
        F-beta of those predictions on the data searched.
    n_predicted : int or float
        Samples predicted positive (their total weight with ``sample_weight``).
    n_true_positives : int or float
        Those that are positive (total weight with ``sample_weight``).
    """

    threshold: float
    score: float
    n_predicted: int | float
    n_true_positives: int | float


# ---------------------------------------------------------------- input checks


def score_dtype(scores):
    """The dtype the scores were given in; refuses integers beyond 2**53.

    Thresholds are float64 numbers (float16 / float32 values for those
    dtypes); integer scores beyond 2**53 would be merged by that cast.
    """
    if is_dask_collection(scores) or _engine._is_sparse(scores):
        return getattr(scores, "dtype", np.dtype(np.float64))
    if hasattr(scores, "to_numpy") and not isinstance(scores, np.ndarray):
        scores = scores.to_numpy()
    array = np.asarray(scores)
    if array.dtype.kind in "iu" and array.size:
        big = max(abs(int(array.max())), abs(int(array.min())))
        if big > _MAX_EXACT_INT:
            raise ValueError(
                f"Integer `scores` up to {big} exceed 2**53: float64 thresholds cannot "
                "separate them exactly. Rescale the scores (or subtract a common offset) "
                "so that they stay within +-2**53."
            )
    return array.dtype


def _labels_array(y, name):
    if hasattr(y, "to_numpy") and not isinstance(y, np.ndarray):
        y = y.to_numpy()
    try:
        array = np.asarray(y)
    except Exception as exc:
        raise ValueError(f"`{name}` could not be read as an array: {exc}") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D for binary labels, but got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; at least one sample is needed.")
    return array


def binary_labels(y, pos_label=None, *, name="y_true"):
    """Binary targets as 0/1 int8, with scikit-learn's ``pos_label`` semantics.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Two classes at most.
    pos_label : int, float, bool or str, optional
        The positive class. Without it the classes must be {0, 1}, {-1, 1} or
        {False, True} (or one of their members), and 1 (True) is positive.

    Returns
    -------
    y01 : ndarray of int8 of shape (n_samples,)
    classes : ndarray
        The sorted distinct labels.
    """
    from ._validation import is_zero_one

    array = _labels_array(y, name)
    if array.dtype.kind in "biuf" and pos_label is None:
        if array.dtype == np.bool_:
            return array.view(np.int8), np.array([False, True])
        if is_zero_one(array):  # the common case: no sort
            return array.astype(np.int8, copy=False), np.array([0, 1])
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"`{name}` contains NaN or infinite labels.")
    classes = np.unique(array)
    shown = "{" + ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes[:5])
    shown += ", ...}" if classes.size > 5 else "}"
    if classes.size > 2:
        raise ValueError(
            f"`{name}` takes values in {shown}: {classes.size} classes, but a binary target "
            "has at most two (use the multilabel or multiclass deciders)."
        )
    if pos_label is None:
        if array.dtype.kind not in "biuf" or not (
            set(classes.tolist()) <= {0, 1} or set(classes.tolist()) <= {-1, 1}
        ):
            raise ValueError(
                f"`{name}` takes values in {shown} and `pos_label` is not specified: either "
                "make the labels take values in {0, 1} or {-1, 1} or pass `pos_label` "
                "explicitly."
            )
        pos_label = 1
    elif classes.size == 2 and not (classes == pos_label).any():
        raise ValueError(
            f"`pos_label`={pos_label!r} is not a valid label: it should be one of {shown}."
        )
    return (array == pos_label).astype(np.int8), classes


def binary_scores(scores, classes=None, pos_label=None):
    """Binary scores as 1-D: (n, 2) probabilities give the positive class's column.

    An (n, 1) column is read as 1-D scores (scikit-learn's ``column_or_1d``).

    The positive column is the second one, or the index of ``pos_label``
    among the sorted ``classes`` (as in ``predict_proba``).

    Returns
    -------
    scores : array-like of shape (n_samples,)
    column : int or None
        The column taken, None for 1-D scores.
    """
    shape = np.shape(scores) if not is_dask_collection(scores) else scores.shape
    if len(shape) == 2 and shape[1] == 1 and not _engine._is_sparse(scores):
        # one column is binary scores, as scikit-learn's column_or_1d reads it
        column = scores.iloc[:, 0] if hasattr(scores, "iloc") else np.asarray(scores)[:, 0]
        return column, 0
    if len(shape) == 2 and shape[1] == 2:
        column = 1
        if pos_label is not None and classes is not None and len(classes) == 2:
            column = int(np.flatnonzero(np.asarray(classes) == pos_label)[0])
        if hasattr(scores, "iloc"):
            return scores.iloc[:, column], column
        if is_dask_collection(scores) or _engine._is_sparse(scores):
            return scores[:, column], column
        return np.asarray(scores)[:, column], column
    return scores, None


def _check_weights(sample_weight, n):
    if sample_weight is None:
        return None
    if is_dask_collection(sample_weight):
        return sample_weight
    from ._validation import check_sample_weight

    return check_sample_weight(sample_weight, n)


def _no_positive_error(name="y_true"):
    return ValueError(
        f"`{name}` has no positive sample: F-beta is undefined for every threshold "
        "(the positive class must appear at least once)."
    )


# ---------------------------------------------------------------- public functions


def optimal_threshold(
    y_true, scores, beta: float = 1.0, *, sample_weight=None, pos_label=None
) -> ThresholdResult:
    """Exact F-beta-optimal threshold for binary scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels: 0/1, -1/1 or bool, or any two classes with ``pos_label``;
        the positive class must appear at least once. A Dask array or series
        runs the out-of-core search (:mod:`f1opt.distributed`).
    scores : array-like of shape (n_samples,) or (n_samples, 2)
        Any finite scores, larger meaning more likely positive (float16 to
        float64, or integers within +-2**53). Two columns are class
        probabilities (``predict_proba``): the positive class's column is used.
    beta : float, default=1.0
        Weight of recall: F-beta = (1 + beta^2) TP / (beta^2 P + K).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weight of each sample in the counts.
    pos_label : int, float, bool or str, optional
        The positive class (scikit-learn's semantics).

    Returns
    -------
    result : ThresholdResult
        ``result.threshold`` and ``result.score``; the score equals
        ``sklearn.metrics.fbeta_score(y_true, scores >= result.threshold,
        beta=beta, sample_weight=sample_weight, pos_label=...)``.

    Raises
    ------
    ValueError
        For NaN or infinite scores, lengths that differ, labels that are not
        binary (or need ``pos_label``), empty input, other 2-D input, bad
        weights, or labels with no positive.

    References
    ----------
    .. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
       classifiers to maximize F1 measure." ECML PKDD 2014.

    Examples
    --------
    >>> from f1opt import optimal_threshold
    >>> result = optimal_threshold([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.2, 0.7])
    >>> float(result.threshold), round(result.score, 4)
    (0.275, 0.8571)
    """
    from ._validation import check_beta, check_scores

    beta = check_beta(beta)
    if any(is_dask_collection(x) for x in (scores, y_true, sample_weight)):
        if pos_label is not None:
            raise ValueError("`pos_label` is not supported for Dask input; pass 0/1 labels.")
        threshold, score, k, tp = _engine.binary(scores, y_true, sample_weight, beta)
        if tp == 0 and k == 0 and threshold == np.inf:
            raise _no_positive_error()
        return ThresholdResult(threshold, score, *_counts(k, tp, sample_weight))
    y, classes = binary_labels(y_true, pos_label)
    scores, _ = binary_scores(scores, classes, pos_label)
    dtype = score_dtype(scores)
    scores = check_scores(scores, ndim=1)
    if scores.shape != y.shape:
        raise ValueError(
            f"`scores` and `y` must have the same shape, but got {scores.shape} and {y.shape}."
        )
    w = _check_weights(sample_weight, y.size)
    if not (y.max() > 0 if w is None else (w[y == 1] > 0).any()):
        raise _no_positive_error()
    threshold, score, k, tp = _engine.binary(scores, y, w, beta, dtype=dtype)
    return ThresholdResult(threshold, score, *_counts(k, tp, sample_weight))


def _counts(k, tp, sample_weight):
    if sample_weight is None:
        return int(round(k)), int(round(tp))
    return float(k), float(tp)


def fbeta_curve(y_true, scores, *, beta=1.0, sample_weight=None, pos_label=None):
    """Precision, recall and F-beta at every distinct cut of binary scores, exactly.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (see :func:`optimal_threshold` for ``pos_label``).
    scores : array-like of shape (n_samples,) or (n_samples, 2)
    beta : float, default=1.0
    sample_weight : array-like of shape (n_samples,), optional
        Rows of weight 0 are as if absent (their scores make no cut).
    pos_label : optional

    Returns
    -------
    precision, recall, fbeta : ndarray of float64 of shape (n_cuts,)
        Of the predictions ``scores >= thresholds[i]``, each equal to
        scikit-learn's ``precision_score``, ``recall_score`` and ``fbeta_score``
        of those predictions.
    thresholds : ndarray of float64 of shape (n_cuts,)
        Every distinct score, increasing (as ``precision_recall_curve``, but
        without its end point and with F-beta).

    Examples
    --------
    >>> from f1opt import fbeta_curve
    >>> p, r, f, t = fbeta_curve([0, 1, 1], [0.2, 0.6, 0.9])
    >>> t.tolist(), f.tolist()
    ([0.2, 0.6, 0.9], [0.8, 1.0, 0.6666666666666666])
    """
    from ._validation import check_beta, check_scores
    from .kernels.cuts import curve_counts
    from .metrics import fbeta_from_counts

    beta = check_beta(beta)
    y, classes = binary_labels(y_true, pos_label)
    scores, _ = binary_scores(scores, classes, pos_label)
    scores = check_scores(scores, ndim=1)
    if scores.shape != y.shape:
        raise ValueError(
            f"`scores` and `y` must have the same shape, but got {scores.shape} and {y.shape}."
        )
    w = _check_weights(sample_weight, y.size)
    scores, y, w = _engine.drop_zero_weights(scores, y, w)
    thresholds, tp, k, n_positives = curve_counts(scores, y, w)
    if n_positives == 0:
        raise _no_positive_error()
    precision = tp / k
    recall = tp / n_positives
    f = fbeta_from_counts(tp, k, n_positives, beta)
    return precision, recall, f, thresholds


def fold_mean_threshold(
    scores, y, fold_ids, beta=1.0, zero_division=0.0, sample_weight=None
) -> float:
    """Exact maximiser of the mean over folds of each fold's F-beta of ``scores >= t``.

    Every distinct score is a candidate (and the empty cut); the mean of the
    per-fold F curves is swept from the highest score down, one fold's counts
    moving per sample (the grouped sweep of GlobalThreshold macro, with groups
    the folds), and near-ties are settled exactly, fewest positives first.

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Out-of-fold scores.
    y : array-like of shape (n_samples,)
        0/1 labels.
    fold_ids : array-like of shape (n_samples,)
        Fold of each sample (any hashable, sortable values).
    beta : float, default=1.0
    zero_division : float, default=0.0
        F of a fold with neither positives nor predicted positives.
    sample_weight : array-like of shape (n_samples,), optional

    Returns
    -------
    threshold : float
        Predict positive iff ``score >= threshold``; ``+inf`` predicts nothing.
    """
    from ._validation import check_beta, check_binary_labels, check_scores, check_zero_division

    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    dtype = score_dtype(scores)
    scores = check_scores(scores, ndim=1)
    y = check_binary_labels(y)
    fold_ids = np.asarray(fold_ids)
    if not (scores.shape == y.shape == fold_ids.shape):
        raise ValueError(
            "`scores`, `y` and `fold_ids` must have the same shape, but got "
            f"{scores.shape}, {y.shape} and {fold_ids.shape}."
        )
    w = _check_weights(sample_weight, y.size)
    threshold, _ = _engine.fold_mean(scores, y, fold_ids, w, beta, zero_division, dtype=dtype)
    return threshold


# ---------------------------------------------------------------- array kernels (validated input)


def binary_threshold(scores, y, beta=1.0, zero_division=0.0, sample_weight=None):
    """Exact F-beta-optimal threshold of one label (validated arrays).

    Returns
    -------
    threshold, score, n_predicted, n_true_positives : float
    """
    return _engine.binary(scores, y, sample_weight, beta, zero_division)


def global_threshold(scores, y, beta=1.0, average="micro", zero_division=0.0, sample_weight=None):
    """Exact optimal single threshold shared by every label (validated arrays).

    ``micro`` pools every entry and is the binary search on the flattened
    matrix. ``macro``, ``weighted`` and ``samples`` sweep all entries from the
    highest score down (:func:`f1opt.kernels.cuts.grouped_sweep`).

    Returns
    -------
    threshold : float
    """
    threshold, _ = _engine.global_search(scores, y, sample_weight, beta, average, zero_division)
    return threshold


def per_label_thresholds(
    scores, y, beta=1.0, average="micro", zero_division=0.0, max_iter=100, sample_weight=None
):
    """Exact optimal per-label thresholds for micro, macro or weighted F-beta.

    Micro-F couples the labels through its denominator; Dinkelbach's method
    solves it exactly. Macro and weighted F are separable. A label with no
    positive predicts nothing (``+inf``); every label predicts its fewest
    positives among optimal choices.

    Returns
    -------
    thresholds : ndarray of shape (n_labels,)
    n_iter : int
    """
    thresholds, n_iter, _ = _engine.per_label(
        scores, y, sample_weight, beta, average, zero_division, max_iter=max_iter
    )
    return thresholds, n_iter


def read_sparse_scores(path):
    """Scores saved by :func:`scipy.sparse.save_npz`, as a CSR array for the threshold deciders.

    An unstored entry is never predicted positive (as if scored ``-inf``).

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` file written by ``scipy.sparse.save_npz``.

    Returns
    -------
    scores : scipy.sparse.csr_array of shape (n_samples, n_labels)

    Raises
    ------
    ValueError
        When the file is not a scipy.sparse ``.npz`` file of a 2-D matrix.
    """
    import scipy.sparse as sp

    try:
        matrix = sp.load_npz(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"{str(path)!r} is not a sparse matrix written by scipy.sparse.save_npz ({exc})."
        ) from None
    if matrix.ndim != 2:
        raise ValueError(f"{str(path)!r} holds a {matrix.ndim}-D array; 2-D scores are needed.")
    return sp.csr_array(matrix)
