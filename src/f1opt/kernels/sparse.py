"""The stored entries of scipy.sparse scores, with their labels and weights.

An unstored score is never predicted positive (as if it were ``-inf``): that
is what the top-k outputs of extreme-multilabel models mean. The searches then
run on the stored entries only, with each label's (or row's) positives
counted over all of its entries, stored or not.
"""

from __future__ import annotations

import numpy as np

__all__ = ["stored_entries", "label_positions"]


def stored_entries(scores):
    """Rows, columns and values of the stored entries (duplicates summed).

    Parameters
    ----------
    scores : scipy.sparse matrix or array of shape (n_samples, n_labels)

    Returns
    -------
    rows, cols : ndarray of int64 of shape (nnz,)
        Row-major order.
    values : ndarray of shape (nnz,)
    """
    import scipy.sparse as sp

    csr = sp.csr_array(scores)
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(csr.indptr))
    return rows, csr.indices.astype(np.int64), csr.data


def label_positions(y, shape):
    """Keys ``row * n_labels + col`` of the entries whose label is 1, sorted.

    Parameters
    ----------
    y : scipy.sparse matrix or array, or ndarray, of shape ``shape``, 0/1
    shape : tuple of int

    Returns
    -------
    keys : ndarray of int64
    """
    import scipy.sparse as sp

    n_labels = shape[1]
    if sp.issparse(y):
        coo = sp.coo_array(y)
        keep = coo.data != 0
        keys = coo.row[keep].astype(np.int64) * n_labels + coo.col[keep].astype(np.int64)
        return np.unique(keys)
    rows, cols = np.nonzero(y)
    return rows.astype(np.int64) * n_labels + cols.astype(np.int64)


def labels_at(keys_positive, rows, cols, n_labels):
    """0/1 label of each stored entry, from the sorted keys of the positives."""
    keys = rows * n_labels + cols
    if keys_positive.size == 0:
        return np.zeros(keys.size, dtype=np.int8)
    at = np.searchsorted(keys_positive, keys)
    at = np.minimum(at, keys_positive.size - 1)
    return (keys_positive[at] == keys).astype(np.int8)
