"""Budgets of k labels per row for the threshold deciders.

"At most ``k`` labels per row: those of the row's ``k`` largest scores that
pass the threshold(s)" is a threshold rule on the scores with every entry
outside its row's top ``k`` removed, and removed is what an unstored entry of
sparse scores means to every f1opt decider (never predicted). So
:func:`top_k_scores` keeps each row's ``k`` largest scores as a CSR matrix, and
:class:`~f1opt.GlobalThreshold` or :class:`~f1opt.PerClassThreshold` fitted on
it finds the exact best threshold(s) of the budgeted rule for its average (the
searches are exact over every cut); predicting from ``top_k_scores`` of new
scores applies the rule. With one global threshold this is also "the passing
labels' top ``k``" (the labels passing one threshold are a prefix of the
row's order); with per-label thresholds the top ``k`` is taken first, by the
raw scores, so the scores of different labels must be comparable (calibrated
probabilities are).

"Exactly ``k``" needs no threshold: it is each row's top ``k``
(every stored entry of ``top_k_scores(scores, k)``), so no
threshold decider is fitted for it. The batch rules of
:class:`~f1opt.ExpectedF1` take budgets directly (``k=``, ``budget=``).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ._validation import check_scores

__all__ = ["top_k_scores"]


def top_k_scores(scores, k: int):
    """Each row's ``k`` largest scores, the rest unstored (never predicted).

    Parameters
    ----------
    scores : array-like or scipy sparse matrix of shape (n_samples, n_labels)
        Scores comparable across labels (e.g. calibrated probabilities). For
        sparse input only the stored entries compete.
    k : int
        Labels kept per row (all of a row with fewer; ties: the first label).

    Returns
    -------
    top : scipy.sparse.csr_array of shape (n_samples, n_labels)
        The kept scores, at their positions (a kept score of 0 is stored).

    Examples
    --------
    >>> import numpy as np
    >>> from f1opt import GlobalThreshold
    >>> from f1opt.budget import top_k_scores
    >>> scores = np.array([[0.9, 0.8, 0.1], [0.6, 0.2, 0.7], [0.3, 0.4, 0.2]])
    >>> y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    >>> rule = GlobalThreshold(average="micro").fit(top_k_scores(scores, 1), y)
    >>> rule.predict(top_k_scores(scores, 1)).toarray().tolist()
    [[1, 0, 0], [0, 0, 1], [0, 0, 0]]
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer (labels per row), but got {k!r}.")
    if sparse.issparse(scores):
        if scores.ndim != 2:
            raise ValueError(f"`scores` must be 2-D (n_samples, n_labels), got {scores.ndim}-D.")
        csr = sparse.csr_array(scores)
        csr.sum_duplicates()  # also sorts each row's columns
        shape = csr.shape
        rows = np.repeat(np.arange(shape[0]), np.diff(csr.indptr))
        cols, vals = csr.indices.astype(np.int64), np.asarray(csr.data, dtype=np.float64)
        if not np.all(np.isfinite(vals)):
            raise ValueError("`scores` must be finite (no NaN or infinity).")
    else:
        dense = check_scores(scores, ndim=2)
        shape = dense.shape
        rows = np.repeat(np.arange(shape[0]), shape[1])
        cols = np.tile(np.arange(shape[1]), shape[0])
        vals = np.asarray(dense, dtype=np.float64).ravel()
    # by row, then by score descending, then by column: the first label wins a tie
    order = np.lexsort((cols, -vals, rows))
    sizes = np.bincount(rows, minlength=shape[0])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.arange(order.size) - np.repeat(starts, sizes)
    keep = order[rank < k]
    keep.sort()  # back to row-major order
    indptr = np.concatenate(([0], np.cumsum(np.minimum(sizes, k))))
    return sparse.csr_array((vals[keep], cols[keep], indptr), shape=shape)
