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
        total = p.sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, p / np.where(total > 0, total, 1), 0.0)
    return None


def average_fbeta(tp, k, p, *, beta=1.0, average="micro", zero_division=0.0):
    """Average per-label counts into one F-beta score, as scikit-learn does.

    Parameters
    ----------
    tp, k, p : ndarray of shape (..., n_labels)
        Per-label true positives, predicted positives and actual positives.
        A leading axis evaluates many candidate decisions at once.
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted"}, default="micro"
        "binary" takes the single label of a trailing axis of length 1.
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
    score = (weights * f).sum(axis=-1)
    if average == "weighted":
        # scikit-learn returns zero_division when no label has a positive.
        score = np.where(np.broadcast_to(p, f.shape).sum(axis=-1) > 0, score, zero_division)
    return score


def fbeta_score(y_true, y_pred, *, beta=1.0, average="binary", zero_division=0.0) -> float:
    """F-beta of 0/1 predictions, equal to :func:`sklearn.metrics.fbeta_score`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,) or (n_samples, n_labels)
        0/1 labels and predictions (binary, or label indicator matrices).
    beta : float, default=1.0
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="binary"
    zero_division : float, default=0.0

    Returns
    -------
    score : float

    Examples
    --------
    >>> from f1opt.metrics import fbeta_score
    >>> fbeta_score([0, 1, 1, 0], [0, 1, 0, 1])
    0.5
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    if average not in AVERAGES:
        raise ValueError(f"`average` must be one of {AVERAGES}, but got {average!r}.")
    if average == "binary":
        y_true = check_binary_labels(y_true, name="y_true")
        y_pred = check_binary_labels(y_pred, name="y_pred")
    else:
        y_true = check_indicator_labels(y_true, name="y_true")
        y_pred = check_indicator_labels(y_pred, name="y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"`y_true` and `y_pred` must have the same shape, but got {y_true.shape} "
            f"and {y_pred.shape}."
        )
    yt = y_true.astype(np.int64)
    yp = y_pred.astype(np.int64)
    if average == "samples":
        tp, k, p = (yt & yp).sum(axis=1), yp.sum(axis=1), yt.sum(axis=1)
        f = fbeta_from_counts(tp, k, p, beta, zero_division)
        return float(f.mean())
    tp = (yt & yp).sum(axis=0)
    k = yp.sum(axis=0)
    p = yt.sum(axis=0)
    return float(average_fbeta(tp, k, p, beta=beta, average=average, zero_division=zero_division))
