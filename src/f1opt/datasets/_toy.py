"""The toy problem of the stretcher write-up."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state


def make_stretcher_toy(n_labels=100, n_train=100_000, n_test=10_000, random_state=None):
    """Uniform soft predictions whose labels are set by hidden per-label thresholds.

    The generator of the "stretcher" write-up: ``thresholds ~ U(0, 1)`` per
    label, scores ``X ~ U(0, 1)`` of shape (n, n_labels), and labels
    ``y = X > thresholds``. One global threshold cannot separate every label,
    per-label thresholds can.

    Parameters
    ----------
    n_labels : int, default=100
    n_train : int, default=100_000
    n_test : int, default=10_000
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X_train : ndarray of shape (n_train, n_labels)
    y_train : ndarray of int8 of shape (n_train, n_labels)
    X_test : ndarray of shape (n_test, n_labels)
    y_test : ndarray of int8 of shape (n_test, n_labels)

    Examples
    --------
    >>> from f1opt.datasets import make_stretcher_toy
    >>> X_train, y_train, X_test, y_test = make_stretcher_toy(10, 100, 50, random_state=0)
    >>> X_train.shape, y_test.shape
    ((100, 10), (50, 10))
    """
    for name, value in (("n_labels", n_labels), ("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, but got {value!r}.")
    rng = check_random_state(random_state)
    thresholds = rng.random_sample(n_labels)
    X_train = rng.random_sample((n_train, n_labels))
    X_test = rng.random_sample((n_test, n_labels))
    y_train = (X_train > thresholds).astype(np.int8)
    y_test = (X_test > thresholds).astype(np.int8)
    return X_train, y_train, X_test, y_test
