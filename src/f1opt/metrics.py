"""F-beta from counts, with scikit-learn's conventions.

F-beta of counts ``tp`` (true positives), ``k`` (predicted positives) and ``p``
(actual positives) is ``(1 + beta^2) tp / (beta^2 p + k)``; when ``p = k = 0``
it is ``zero_division``, exactly as :func:`sklearn.metrics.fbeta_score`.
Averages follow scikit-learn: ``micro`` pools the counts of every label,
``macro`` is the plain mean over labels, ``weighted`` weights each label by its
number of positives, and ``samples`` is the mean over rows.
"""

from __future__ import annotations

import numpy as np

from ._validation import (
    check_beta,
    check_binary_labels,
    check_indicator_labels,
    check_sample_weight,
    check_zero_division,
)

__all__ = ["AVERAGES", "fbeta_from_counts", "average_fbeta", "fbeta_score"]

AVERAGES = ("binary", "micro", "macro", "weighted", "samples")


def fbeta_from_counts(tp, k, p, beta: float = 1.0, zero_division: float = 0.0):
    """F-beta for arrays of counts (broadcast together).

    Parameters
    ----------
    tp, k, p : array-like of numbers
        True positives, predicted positives and actual positives.
    beta : float, default=1.0
    zero_division : float, default=0.0
        The value when ``k = p = 0``.

    Returns
    -------
    f : ndarray of float64 (0-d for scalar input)
    """
    b2 = beta * beta
    tp = np.asarray(tp, dtype=np.float64)
    denominator = b2 * np.asarray(p, dtype=np.float64) + np.asarray(k, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(denominator > 0, (1.0 + b2) * tp / denominator, zero_division)
    return f


def _label_weights(p: np.ndarray, average: str) -> np.ndarray | None:
    if average == "macro":
        return np.full(p.shape, 1.0 / p.shape[-1])
    if average == "weighted":
        # scikit-learn weights each label by its (weighted) number of positives, and when
        # no label has a positive it ignores the weights: the plain mean.
        total = p.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, p / np.where(total > 0, total, 1), 1.0 / p.shape[-1])
    return None


def average_fbeta(tp, k, p, *, beta=1.0, average="micro", zero_division=0.0):
    """Average per-label counts into one F-beta score, as scikit-learn does.

    Parameters
    ----------
    tp, k, p : ndarray of shape (..., n_labels)
        Per-label true positives, predicted positives and actual positives
        (weighted counts allowed). A leading axis evaluates many candidate
        decisions at once.
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted"}, default="micro"
        "binary" takes the single label of a trailing axis of length 1.
        "weighted" weights each label by its positives ``p``; when no label
        has a positive, it is the plain mean (as scikit-learn's).
    zero_division : float, default=0.0

    Returns
    -------
    score : float or ndarray of shape (...)
    """
    tp, k, p = (np.asarray(a, dtype=np.float64) for a in (tp, k, p))
    if average in ("micro", "binary"):
        return fbeta_from_counts(
            tp.sum(axis=-1), k.sum(axis=-1), p.sum(axis=-1), beta, zero_division
        )
    if average not in ("macro", "weighted"):
        raise ValueError(f"average={average!r} cannot be computed from per-label counts.")
    f = fbeta_from_counts(tp, k, p, beta, zero_division)
    weights = _label_weights(np.broadcast_to(p, f.shape), average)
    return (weights * f).sum(axis=-1)


def _squeeze_column(array):
    """(n, 1) labels as 1-D (binary), as scikit-learn reads a column vector."""
    if hasattr(array, "toarray"):  # scipy sparse
        array = array.toarray()
    if hasattr(array, "to_numpy") and not isinstance(array, np.ndarray):
        array = array.to_numpy()
    array = np.asarray(array) if isinstance(array, (list, tuple)) else array
    if isinstance(array, np.ndarray) and array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    return array


def fbeta_score(
    y_true, y_pred, *, beta=1.0, average="binary", zero_division=0.0, sample_weight=None
) -> float:
    """F-beta of 0/1 predictions, equal to :func:`sklearn.metrics.fbeta_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_labels)
        0/1 labels and predictions: binary (1-D) or label indicator matrices.
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="binary"
        For 1-D labels, "micro", "macro" and "weighted" average over the
        classes present (0 and 1), as scikit-learn's (micro-F is then the
        accuracy); "samples" needs an indicator matrix.

    Notes
    -----
    One departure from scikit-learn: a single column, shape ``(n, 1)``, is
    binary only with ``average="binary"``; with the other averages it is a
    one-label indicator matrix (micro-F is the F of its positives), because
    f1opt's deciders fit and score one-column matrices that way. Pass 1-D
    labels for scikit-learn's reading of a column vector.
    zero_division : float, default=0.0
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative finite weight of each row (sample); counts are weighted.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from f1opt.metrics import fbeta_score
    >>> fbeta_score([0, 1, 1, 0], [0, 1, 0, 1])
    0.5
    >>> fbeta_score([[0, 0]], [[1, 0]], average="weighted", zero_division=1.0)
    0.5
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    if not isinstance(average, str) or average not in AVERAGES:
        raise ValueError(f"`average` must be one of {AVERAGES}, but got {average!r}.")
    if average == "binary":
        y_true, y_pred = _squeeze_column(y_true), _squeeze_column(y_pred)
    binary = np.ndim(y_true) == 1 and np.ndim(y_pred) == 1
    if binary:
        if average == "samples":
            raise ValueError(
                "average='samples' needs label indicator matrices (2-D, one column per "
                "label); for binary labels use 'binary', 'micro', 'macro' or 'weighted'."
            )
        y_true = check_binary_labels(y_true, name="y_true")
        y_pred = check_binary_labels(y_pred, name="y_pred")
    else:
        if average == "binary":
            raise ValueError(
                "average='binary' needs 1-D labels, but got label indicator matrices; "
                "use 'micro', 'macro', 'weighted' or 'samples'."
            )
        y_true = check_indicator_labels(y_true, name="y_true")
        y_pred = check_indicator_labels(y_pred, name="y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape, but got {y_true.shape} "
            f"and {y_pred.shape}."
        )
    weight = check_sample_weight(sample_weight, y_true.shape[0])
    yt = y_true.astype(bool)
    yp = y_pred.astype(bool)
    if binary:
        if average == "binary":
            yt, yp = yt[:, None], yp[:, None]
        else:  # one column per class present, as scikit-learn's labels = unique_labels(...)
            present = [c for c in (False, True) if (yt == c).any() or (yp == c).any()]
            yt = np.column_stack([yt == c for c in present])
            yp = np.column_stack([yp == c for c in present])
    if average == "samples":
        tp, k, p = (_row_counts(a) for a in (yt & yp, yp, yt))
        f = fbeta_from_counts(tp, k, p, beta, zero_division)
        if weight is None or not weight.sum() > 0:  # all-zero weights: ignored, as sklearn
            return float(f.mean())
        return float(np.dot(f, weight) / weight.sum())
    tp, k, p = (_column_counts(a, weight) for a in (yt & yp, yp, yt))
    return float(average_fbeta(tp, k, p, beta=beta, average=average, zero_division=zero_division))


def _row_counts(a: np.ndarray) -> np.ndarray:
    return a.sum(axis=1, dtype=np.int64)


def _column_counts(a: np.ndarray, weight) -> np.ndarray:
    if weight is None:
        return a.sum(axis=0, dtype=np.int64)
    return weight @ a.astype(np.float64)
