"""Input checks with clear errors.

Every public entry point passes its inputs through these functions, so that bad
input is reported as a ``ValueError`` naming the problem (NaN, shape, labels
that are not 0/1, ...) rather than failing deep inside numpy.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_beta",
    "check_zero_division",
    "check_scores",
    "check_binary_labels",
    "check_indicator_labels",
    "check_scores_and_labels",
]


def check_beta(beta) -> float:
    """Return ``beta`` as a float, or raise if it is not a finite number > 0."""
    if (
        isinstance(beta, bool)
        or not isinstance(beta, numbers.Real)
        or not np.isfinite(beta)
        or beta <= 0
    ):
        raise ValueError(f"Expected `beta` to be a finite number larger than 0, but got {beta!r}.")
    return float(beta)


def check_zero_division(zero_division) -> float:
    """Return ``zero_division`` as a float in [0, 1] (scikit-learn's "warn" counts as 0)."""
    if isinstance(zero_division, str) and zero_division == "warn":
        return 0.0
    if (
        isinstance(zero_division, bool)
        or not isinstance(zero_division, numbers.Real)
        or not 0.0 <= zero_division <= 1.0
    ):
        raise ValueError(
            f"Expected `zero_division` to be a number in [0, 1] or 'warn', "
            f"but got {zero_division!r}."
        )
    return float(zero_division)


def _as_numeric_array(values, name: str) -> np.ndarray:
    if hasattr(values, "to_numpy") and not isinstance(values, np.ndarray):
        values = values.to_numpy()
    try:
        array = np.asarray(values)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"`{name}` could not be read as an array: {exc}") from None
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must contain numbers only, but got an array of dtype {array.dtype}."
            ) from None
    if np.iscomplexobj(array):
        raise ValueError(f"`{name}` must be real numbers, but got complex values.")
    return array


def check_scores(scores, *, ndim: int | tuple[int, ...] = (1, 2), name: str = "scores"):
    """Validate a score array and return it as a float ndarray.

    Parameters
    ----------
    scores : array-like of shape (n_samples,) or (n_samples, n_labels)
        Scores or probabilities; any real numbers, larger meaning more positive.
    ndim : int or tuple of int, default=(1, 2)
        Allowed numbers of dimensions.
    name : str, default="scores"
        Name used in error messages.

    Returns
    -------
    scores : ndarray of float32 or float64
        float32 input stays float32; everything else becomes float64.
    """
    array = _as_numeric_array(scores, name)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if array.ndim not in allowed:
        wanted = " or ".join(f"{d}-D" for d in allowed)
        hint = ""
        if 1 in allowed and 2 not in allowed and array.ndim == 2:
            hint = " For multilabel scores use average='micro', 'macro', 'weighted' or 'samples'."
        raise ValueError(
            f"`{name}` must be {wanted}, but got an array of shape {array.shape}.{hint}"
        )
    if array.size == 0 or array.shape[0] == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}); at least one sample is needed.")
    if array.dtype != np.float32:
        array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array)
    if not finite.all():
        bad = ~finite
        kind = "NaN" if np.isnan(array[bad]).any() else "infinite values"
        raise ValueError(
            f"`{name}` contains {kind} ({int(bad.sum())} of {array.size} entries are not finite)."
        )
    return array


def _check_zero_one(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.view(np.int8)
    if not ((array == 0) | (array == 1)).all():  # one pass; np.unique would sort
        values = np.unique(array)
        shown = ", ".join(repr(v.item()) for v in values[:5])
        more = ", ..." if values.size > 5 else ""
        raise ValueError(f"`{name}` must contain only 0 and 1, but got values {{{shown}{more}}}.")
    return array.astype(np.int8, copy=False)


def check_binary_labels(y, *, name: str = "y") -> np.ndarray:
    """Validate 1-D labels in {0, 1} (bool allowed) and return them as int8."""
    array = _as_numeric_array(y, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.ravel()
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D for binary labels, but got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; at least one sample is needed.")
    return _check_zero_one(array, name)


def check_indicator_labels(y, *, name: str = "y") -> np.ndarray:
    """Validate a 2-D label indicator matrix in {0, 1} and return it as int8."""
    if hasattr(y, "toarray"):  # scipy sparse
        y = y.toarray()
    array = _as_numeric_array(y, name)
    if array.ndim != 2:
        raise ValueError(
            f"`{name}` must be a 2-D label indicator matrix, but got shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}).")
    return _check_zero_one(array, name)


def check_scores_and_labels(scores, y, *, multilabel: bool):
    """Validate scores and labels together; return ``(scores, y)`` as arrays.

    For ``multilabel=False`` both are 1-D of the same length; for
    ``multilabel=True`` both are 2-D of the same shape.
    """
    if multilabel:
        scores = check_scores(scores, ndim=2)
        y = check_indicator_labels(y)
    else:
        scores = check_scores(scores, ndim=1)
        y = check_binary_labels(y)
    if scores.shape != y.shape:
        raise ValueError(
            f"`scores` and `y` must have the same shape, but got {scores.shape} and {y.shape}."
        )
    return scores, y
