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
    "check_has_positive",
    "check_sample_weight",
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


def is_zero_one(array: np.ndarray) -> bool:
    """Whether a numeric array holds only 0 and 1 (two reductions, no temporary array)."""
    if array.dtype == np.bool_ or array.size == 0:
        return True
    if array.dtype.kind == "u":
        return bool(array.max() <= 1)
    if array.dtype.kind in "if":
        low, high = array.min(), array.max()  # NaN makes both comparisons false
        if not (low >= 0 and high <= 1):
            return False
        return array.dtype.kind == "i" or bool(((array == 0) | (array == 1)).all())
    return bool(((array == 0) | (array == 1)).all())


def _check_zero_one(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.view(np.int8)
    if not is_zero_one(array):  # np.unique would sort
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


def check_scores_and_labels(scores, y, *, multilabel: bool, require_positive: bool = False):
    """Validate scores and labels together; return ``(scores, y)`` as arrays.

    For ``multilabel=False`` both are 1-D of the same length; a single
    column, shape ``(n, 1)``, of scores or labels is read as 1-D, as
    scikit-learn reads a column vector as binary. For ``multilabel=True`` both
    are 2-D of the same shape; a one-column indicator matrix is allowed here
    (the per-label searches check one column at a time), but note that
    :func:`f1opt.metrics.fbeta_score`, like scikit-learn's, reads ``(n, 1)``
    labels as binary, where "micro" averages over the classes 0 and 1.

    Parameters
    ----------
    scores : array-like of shape (n_samples,) or (n_samples, n_labels)
    y : array-like of the same shape, 0/1
    multilabel : bool
    require_positive : bool, default=False
        Refuse labels with no positive at all: F-beta is then undefined for
        every rule (0 for any prediction, ``zero_division`` for none), so
        there is nothing to fit. Per-partition checks leave it False.

    Returns
    -------
    scores : ndarray of float32 or float64
    y : ndarray of int8
    """
    if multilabel:
        scores = check_scores(scores, ndim=2)
        y = check_indicator_labels(y)
    else:
        if np.ndim(scores) == 2 and np.shape(scores)[1] == 1:
            scores = np.asarray(scores)[:, 0]
        scores = check_scores(scores, ndim=1)
        y = check_binary_labels(y)
    if scores.shape != y.shape:
        raise ValueError(
            f"`scores` and `y` must have the same shape, but got {scores.shape} and {y.shape}."
        )
    if require_positive:
        check_has_positive(y)
    return scores, y


def check_has_positive(y: np.ndarray, name: str = "y") -> None:
    """Raise a ValueError when 0/1 labels hold no positive (F-beta undefined for every rule)."""
    if not y.any():
        raise ValueError(
            f"`{name}` has no positive label (all {y.size} entries are 0): F-beta is "
            "undefined for every decision (0 for any positive prediction, zero_division "
            "for none), so there is nothing to fit. At least one positive is needed."
        )


def check_sample_weight(
    sample_weight, n_samples: int, name: str = "sample_weight", *, allow_all_zero: bool = False
):
    """Validate per-row weights: ``None``, or non-negative finite numbers, one per row.

    The one check of weights for every part of f1opt (deciders, searches,
    Dask partitions, sparse scores, metrics).

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
    n_samples : int
    allow_all_zero : bool, default=False
        All-zero weights are refused, as scikit-learn refuses them (nothing is
        counted); a partition of a larger data set may allow them.

    Returns
    -------
    sample_weight : ndarray of float64 of shape (n_samples,), or None
    """
    if sample_weight is None:
        return None
    if hasattr(sample_weight, "toarray"):
        raise ValueError(f"`{name}` must be a dense 1-D array, but got a sparse matrix.")
    array = _as_numeric_array(sample_weight, name)
    if array.dtype == np.bool_:
        raise ValueError(f"`{name}` must hold numbers, not booleans.")
    if array.ndim != 1 or array.shape[0] != n_samples:
        raise ValueError(
            f"`{name}` must be 1-D with one weight per row ({n_samples} rows), but got shape "
            f"{array.shape}."
        )
    array = array.astype(np.float64)
    if array.size:
        low, high = array.min(), array.max()  # NaN makes both NaN: no temporary mask
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError(f"`{name}` contains NaN or infinite values (weights must be finite).")
        if low < 0:
            raise ValueError(f"`{name}` must be non-negative, but its minimum is {low!r}.")
    if not allow_all_zero and not (array > 0).any():
        raise ValueError(
            f"`{name}` is zero for every sample: at least one positive weight is needed."
        )
    return array
