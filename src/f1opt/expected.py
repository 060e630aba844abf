"""Bayes-optimal plug-in decisions: the predictions that maximise *expected* F-beta.

Given calibrated probabilities, no threshold has to be learned: the decision
that maximises the expected F-beta follows from the probabilities alone.

* **Batch (``average="binary"``).** For a batch of ``n`` independent
  probabilities the F-beta of the whole batch is maximised in expectation by a
  top-k set by probability (Lewis 1995; Jansche 2007; Ye et al. 2012). The
  best ``k`` is chosen from the expected F of every top-k set, computed exactly
  (:func:`topk_expected_fbeta`, ``method="exact"``) while its work
  ``n (W + 1) <= EXACT_MAX_WORK`` (always for ``n <= 20 000``; for larger ``n``
  when positives are rare) and by a second-order Taylor expansion
  (``method="approx"``) beyond.
* **Per sample (``average="samples"``).** For each row of an ``(n, L)``
  probability matrix, the General F-measure Maximizer (GFM, Dembczynski et al.
  2011) from the matrix ``P(y_l = 1, |y| = s)``. Under label independence that
  matrix follows from the marginals by a Poisson-binomial recursion and GFM
  reduces to a top-k set by marginal (:func:`gfm_independent`); models that
  estimate the matrix themselves use :func:`gfm`.
* **Multilabel batch (``average="micro" | "macro" | "weighted"``)**, see
  :func:`multilabel_decision`. Under independence E[macro F] is the mean of
  one binary batch expectation per label (exact, a top set per label), and
  E[micro F] the batch expectation of all entries pooled (exact, one top set).
  "weighted" maximises ``sum_j E[S_j F_j] / E[S]`` (the random total support
  ``S`` replaced by its mean; exact per label). ``objective="ecm"`` maximises
  instead the F of the *expected confusion matrix* (xCOLUMNs' ETU objective):
  micro by Dinkelbach's method (global optimum), macro and weighted by a scan
  per label (global optimum).
* **Budgets (``k`` labels per row, exactly or at most).** samples: GFM over
  the allowed sizes (exact); binary: the allowed batch sizes (exact); micro:
  exact (exactly k: each row's top k; at most k: the prefixes of the greedy
  order of that partition matroid, which dominate every feasible set of each
  size); macro and weighted: the expected confusion matrix by block
  coordinate ascent over rows with exact steps (from each row's top k of
  ``p`` times its label's slope at the unbudgeted optimum, restarted from the
  gradient's top k while that pays), with a proven upper bound: the smaller
  of the unbudgeted optimum and a Lagrangian dual (the certificate of the
  gap). Threshold rules take budgets through :func:`f1opt.budget.top_k_scores`.
  A probability-0 label (an unstored entry of a sparse matrix)
  is never predicted, so "exactly k" means ``min(k, non-zero labels)``.

How the exact expectation is computed
-------------------------------------
Write ``S`` for the number of positives, ``A_k`` for the positives among the
``k`` predicted. Then ``F = (1 + b^2) A_k / (k + b^2 S)`` for ``k >= 1`` and

    E[F_k] = sum_s (1 + b^2) / (k + b^2 s) * C_k(s),
    C_k(s) = sum_{i <= k} P(y_i = 1, S = s) = sum_{i <= k} p_i P(S_{-i} = s - 1),

where ``S_{-i}`` leaves item ``i`` out. The distribution of ``S`` (a
Poisson-binomial) is computed once; each leave-one-out distribution follows
from it by one division of generating functions, ``P_{-i}(z) = P(z) / (1 - p_i
+ p_i z)``, run forwards when ``p_i < 1/2`` and backwards otherwise, so that
rounding errors never grow. Accumulating ``C_k`` over ``k`` gives every
``E[F_k]`` in ``O(n W)`` operations (at most ``O(n^1.5)``), where ``W`` is the
width of the support of ``S`` kept: the range ``mu +- t`` with ``t`` from
Bernstein's inequality for a tail mass below ``1e-16`` on each side (``W`` is
about ``17 sigma + 25`` to ``50``, ``sigma^2 = sum p_i (1 - p_i)``), so the
neglected mass changes an expectation by less than ``2e-16``. The empty
prediction has ``E[F_0] = zero_division * P(S = 0)``: only an all-negative
truth gives it a non-zero F, as in scikit-learn.

The approximation
-----------------
With ``X = A_k``, ``Y = k + b^2 S``, ``v_i = p_i (1 - p_i)``, the second-order
expansion of ``E[X / Y]`` around the means (the delta method) is

    E[F_k] ~ (1 + b^2) (mu_X / mu_Y - b^2 V_k / mu_Y^2 + b^4 mu_X V_n / mu_Y^3),

``mu_X = sum_{i <= k} p_i``, ``mu_Y = k + b^2 sum_i p_i``, ``V_k = sum_{i <= k}
v_i``: ``O(n)`` for every k. Its error falls like ``1 / mu_Y^2``: about
``2e-8`` at ``n = 10^4`` and ``2e-10`` at ``n = 10^5`` with 14% positives,
``1e-8`` at ``n = 10^5`` with 2%; it picked the exact optimum in every
benchmark case where ``"auto"`` uses it (BENCHMARKS.md, section 3).

References
----------
.. [1] D. D. Lewis. "Evaluating and optimizing autonomous text classification
   systems." SIGIR 1995.
.. [2] M. Jansche. "A maximum expected utility framework for binary sequence
   labeling." ACL 2007.
.. [3] N. Ye, K. M. A. Chai, W. S. Lee, H. L. Chieu. "Optimizing F-measures: a
   tale of two approaches." ICML 2012.
.. [4] K. Dembczynski, W. Waegeman, W. Cheng, E. Huellermeier. "An exact
   algorithm for F-measure maximization." NIPS 2011.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.fft import irfft, next_fast_len, rfft
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from . import _io
from ._validation import (
    check_beta,
    check_binary_labels,
    check_indicator_labels,
    check_sample_weight,
    check_scores,
    check_scores_and_labels,
    check_zero_division,
)
from .deciders import BaseDecider, _check_width
from .kernels.cuts import dinkelbach
from .metrics import fbeta_from_counts, fbeta_score

__all__ = [
    "EXACT_MAX_WORK",
    "ExpectedF1",
    "expected_fbeta",
    "poisson_binomial_pmf",
    "joint_size_matrix",
    "topk_expected_fbeta",
    "batch_decision",
    "multilabel_decision",
    "BatchDecision",
    "ecm_fbeta",
    "gfm",
    "gfm_independent",
]

#: ``method="auto"`` computes the expected F of every top-k set exactly while
#: ``n (W + 1)`` (items times the width of the Poisson-binomial window, see the
#: module docstring) is at most this; beyond it, the second-order Taylor
#: approximation. ``W <= 1239`` for ``n = 20 000``, so every batch of up to
#: 20 000 is exact (about 0.2-0.5 s on one core); larger batches are exact when
#: ``sigma`` is small (rare positives), where the approximation is weakest.
EXACT_MAX_WORK = 25_000_000

_TAIL = 1e-16  # neglected probability mass on each side of a Poisson-binomial window
_CHUNK = 1 << 21  # elements per work array in the vectorised kernels
_SEQUENTIAL_MAX = 512  # 1-D Poisson-binomial: direct recursion up to here, FFT tree above
_BLOCK = 128


# --------------------------------------------------------------------------- validation


def _check_probabilities(probabilities, *, ndim, name="probabilities") -> np.ndarray:
    array = check_scores(probabilities, ndim=ndim, name=name).astype(np.float64, copy=False)
    if array.min() < 0.0 or array.max() > 1.0:
        raise ValueError(
            f"`{name}` must be probabilities in [0, 1], but got values from "
            f"{array.min():.6g} to {array.max():.6g}. Pass calibrated probabilities, or "
            f"use ExpectedF1(calibration='isotonic' or 'sigmoid') and fit it on scores."
        )
    return array


# ------------------------------------------------------------------ Poisson-binomial


def _pmf_sequential(p: np.ndarray, max_size: int | None = None) -> np.ndarray:
    """Poisson-binomial pmf by the direct recursion, vectorised over leading axes.

    ``p`` of shape (..., m) gives ``pmf`` of shape (..., m + 1); O(m^2) per row.
    With ``max_size``, only ``P(S = s)`` for ``s <= max_size`` is computed
    (O(m max_size)); those cells are exactly the same, since the recursion never
    carries mass downwards.
    """
    m = p.shape[-1]
    top = m if max_size is None else min(m, max_size)
    pmf = np.zeros(p.shape[:-1] + (top + 1,))
    pmf[..., 0] = 1.0
    for j in range(m):
        q = p[..., j : j + 1]
        old = min(j, top) + 1  # cells that may hold mass before item j
        new = min(j + 1, top)  # highest cell after it
        head = pmf[..., :new].copy()
        pmf[..., :old] *= 1.0 - q
        pmf[..., 1 : new + 1] += head * q
    return pmf


def _pmf_fft_tree(p: np.ndarray) -> np.ndarray:
    """1-D Poisson-binomial pmf: exact blocks, multiplied pairwise by FFT (O(n log^2 n))."""
    m = p.size
    pad = (-m) % _BLOCK
    blocks = np.concatenate([p, np.zeros(pad)]).reshape(-1, _BLOCK)
    polys = _pmf_sequential(blocks)
    while polys.shape[0] > 1:
        if polys.shape[0] % 2:
            one = np.zeros((1, polys.shape[1]))
            one[0, 0] = 1.0
            polys = np.concatenate([polys, one])
        length = 2 * polys.shape[1] - 1
        nfft = next_fast_len(length, real=True)
        product = rfft(polys[0::2], nfft, axis=1) * rfft(polys[1::2], nfft, axis=1)
        polys = irfft(product, nfft, axis=1)[:, :length]
        np.clip(polys, 0.0, None, out=polys)
    pmf = polys[0, : m + 1]
    return pmf / pmf.sum()


def poisson_binomial_pmf(probabilities) -> np.ndarray:
    """Distribution of the number of positives among independent Bernoulli variables.

    Parameters
    ----------
    probabilities : array-like of shape (..., m)
        Success probabilities in [0, 1]; leading axes are independent batches.

    Returns
    -------
    pmf : ndarray of shape (..., m + 1)
        ``pmf[..., s] = P(S = s)``. Rows are computed by the direct recursion
        (O(m^2), vectorised over rows); a long 1-D input (m > 512) multiplies
        exact blocks of 128 pairwise by FFT (O(m log^2 m)), accurate to about
        ``1e-16`` in absolute terms.

    Examples
    --------
    >>> from f1opt.expected import poisson_binomial_pmf
    >>> poisson_binomial_pmf([0.5, 0.5]).tolist()
    [0.25, 0.5, 0.25]
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim == 1 and p.size > _SEQUENTIAL_MAX:
        return _pmf_fft_tree(p)
    return _pmf_sequential(p)


def _bernstein_window(p: np.ndarray):
    """Range ``[lo, hi]`` of S holding all but ``_TAIL`` of the mass on each side.

    Bernstein: ``P(S - mu >= t) <= exp(-t^2 / (2 (sigma^2 + t / 3)))``.

    Parameters
    ----------
    p : ndarray of shape (n,) or (rows, n)

    Returns
    -------
    lo, hi : int, or ndarray of int64 of shape (rows,)
    """
    n = p.shape[-1]
    mu = p.sum(axis=-1)
    var = (p * (1.0 - p)).sum(axis=-1)
    c = -np.log(_TAIL)
    t = (2.0 * c / 3.0 + np.sqrt((2.0 * c / 3.0) ** 2 + 8.0 * c * var)) / 2.0
    lo = np.maximum(0, np.floor(mu - t)).astype(np.int64)
    hi = np.minimum(n, np.ceil(mu + t)).astype(np.int64)
    if p.ndim == 1:
        return int(lo), int(hi)
    return lo, hi


def _joint_from_pmf(pmf: np.ndarray, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``P(y_i = 1, S = s)`` for every item of one batch, from the distribution of ``S``.

    Divides the generating function of ``S`` by the item's factor ``1 - q + q z``
    (giving ``P(S_{-i} = .)``) and multiplies by ``q``: forwards,
    ``M(s) = c (P(s - 1) - M(s - 1))`` with ``c = q / (1 - q)``, for ``q < 1/2``;
    backwards, ``M(s) = P(s) - d M(s + 1)`` with ``d = (1 - q) / q``, otherwise.
    Each step multiplies the rounding error so far by ``c`` or ``d``, both at
    most 1, so the division is stable.

    Parameters
    ----------
    pmf : ndarray of shape (W,)
        ``P(S = off + j)`` for ``j < W``, with negligible mass outside.
    q : ndarray of shape (m,)
        The probability of each item (descending order avoids a gather).
    out : ndarray of shape (W + 1, m), optional

    Returns
    -------
    joint : ndarray of shape (W + 1, m)
        ``P(y_i = 1, S = off + r)`` in row ``r``.
    """
    width = pmf.shape[0]
    if out is None:
        out = np.empty((width + 1, q.size))
    forward = q < 0.5
    n_backward = int((~forward).sum())
    if not forward[n_backward:].all():  # not sorted: gather each direction apart
        index = np.argsort(forward, kind="stable")
        out[:, index] = _joint_from_pmf(pmf, q[index])
        return out
    for index, is_forward in ((slice(0, n_backward), False), (slice(n_backward, None), True)):
        qi = q[index]
        if qi.size == 0:
            continue
        target = out[:, index]
        if is_forward:
            c = qi / (1.0 - qi)
            target[0] = 0.0
            for j in range(width):
                target[j + 1] = c * (pmf[j] - target[j])
        else:
            d = (1.0 - qi) / qi
            target[width] = 0.0
            for j in range(width - 1, -1, -1):
                target[j] = pmf[j] - d * target[j + 1]
    return out


def _joint_rows(pmf: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``P(y_l = 1, S = s)`` for every row and label, from each row's pmf.

    The same stable division as :func:`_joint_from_pmf`, vectorised over rows and
    labels: both directions run on every entry with the other direction's
    coefficient set to 0, so each entry keeps only its stable result.

    Parameters
    ----------
    pmf : ndarray of shape (rows, W)
        ``P(S_i = off_i + j)`` for ``j < W`` (the whole support: ``W = L + 1``,
        ``off_i = 0``), with negligible mass outside.
    p : ndarray of shape (rows, L)

    Returns
    -------
    joint : ndarray of shape (W + 1, rows, L)
        ``joint[r, i, l] = P(y_il = 1, S_i = off_i + r)``.
    """
    rows, n_labels = p.shape
    width = pmf.shape[1]
    forward = p < 0.5
    q_forward = np.where(forward, p, 0.0)
    c = q_forward / (1.0 - q_forward)
    joint = np.empty((width + 1, rows, n_labels))
    joint[0] = 0.0
    for j in range(width):
        np.multiply(c, pmf[:, j, None] - joint[j], out=joint[j + 1])
    if not forward.all():
        q_backward = np.where(forward, 1.0, p)
        d = (1.0 - q_backward) / q_backward
        keep = (~forward).astype(np.float64)
        backward = np.empty_like(joint)
        backward[width] = 0.0
        for j in range(width - 1, -1, -1):
            np.subtract(keep * pmf[:, j, None], d * backward[j + 1], out=backward[j])
        joint += backward
    return joint


def joint_size_matrix(probabilities) -> tuple[np.ndarray, np.ndarray]:
    """``P(y_l = 1, |y| = s)`` for independent labels: the input of :func:`gfm`.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples, n_labels)
        Marginal probabilities of independent labels.

    Returns
    -------
    matrix : ndarray of shape (n_samples, n_labels, n_labels)
        ``matrix[i, l, s - 1] = P(y_il = 1, |y_i| = s)`` for ``s = 1..L``.
    p_empty : ndarray of shape (n_samples,)
        ``P(y_i = 0)``.

    Examples
    --------
    >>> from f1opt.expected import joint_size_matrix
    >>> matrix, p_empty = joint_size_matrix([[0.5, 0.5]])
    >>> matrix[0].tolist(), p_empty.tolist()
    ([[0.25, 0.25], [0.25, 0.25]], [0.25])
    """
    p = _check_probabilities(probabilities, ndim=2)
    n, n_labels = p.shape
    pmf = _pmf_sequential(p)
    matrix = np.empty((n, n_labels, n_labels))
    rows = max(1, _CHUNK // (n_labels * (n_labels + 2)))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        joint = _joint_rows(pmf[start:stop], p[start:stop])  # (L + 2, rows, L), s = 0..L+1
        matrix[start:stop] = np.clip(joint[1 : n_labels + 1].transpose(1, 2, 0), 0.0, 1.0)
    return matrix, pmf[:, 0].copy()


# ------------------------------------------------------------------- batch top-k


def _topk_exact(p_desc: np.ndarray, b2: float, support_weighted: bool = False) -> np.ndarray:
    """Exact E[F_k] for k = 1..n of a descending probability vector (see module doc).

    ``support_weighted``: ``E[S F_k]`` instead (``S`` the number of positives), the
    term of one label in the expected-support weighted average. Any order of
    ``p_desc`` works (prefixes of that order); descending avoids a gather.
    """
    n = p_desc.size
    pmf = poisson_binomial_pmf(p_desc)
    lo, hi = _bernstein_window(p_desc)
    window = pmf[lo : hi + 1]
    width = window.size
    support = np.arange(lo, lo + width + 1, dtype=np.float64)[:, None]  # s = lo + r
    b2s = b2 * support  # b^2 s
    numerator = (1.0 + b2) * (support if support_weighted else 1.0)
    expected = np.empty(n)
    carry = np.zeros((width + 1, 1))
    step = max(1, _CHUNK // (width + 1))
    buffer = np.empty((width + 1, min(n, step)))
    for start in range(0, n, step):
        stop = min(n, start + step)
        joint = _joint_from_pmf(window, p_desc[start:stop], buffer[:, : stop - start])
        cumulative = np.cumsum(joint, axis=1, out=joint)
        cumulative += carry
        carry = cumulative[:, -1:].copy()
        denominator = b2s + np.arange(start + 1, stop + 1, dtype=np.float64)  # k + b^2 s
        cumulative *= numerator / denominator
        expected[start:stop] = cumulative.sum(axis=0)
    return expected


def _topk_approx(p_desc: np.ndarray, b2: float) -> np.ndarray:
    """Second-order Taylor (delta-method) E[F_k] for k = 1..n.

    With ``X = A_k`` and ``Y = k + b^2 S``: ``E[X/Y] ~ mu_X/mu_Y - Cov(X,Y)/mu_Y^2 +
    mu_X Var(Y)/mu_Y^3``; ``Cov = b^2 sum_{i<=k} v_i``, ``Var = b^4 sum_i v_i``,
    ``v_i = p_i (1 - p_i)``.
    """
    n = p_desc.size
    v = p_desc * (1.0 - p_desc)
    mean_a = np.cumsum(p_desc)
    var_a = np.cumsum(v)
    k = np.arange(1, n + 1, dtype=np.float64)
    mean_y = k + b2 * mean_a[-1]
    return (1.0 + b2) * (
        mean_a / mean_y - b2 * var_a / mean_y**2 + mean_a * b2 * b2 * var_a[-1] / mean_y**3
    )


def _prob_all_negative(p: np.ndarray, axis=-1) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.exp(np.log1p(-p).sum(axis=axis))


def topk_expected_fbeta(
    probabilities, beta: float = 1.0, zero_division: float = 0.0, method: str = "auto"
) -> np.ndarray:
    """Expected F-beta of the batch for the top-k prediction, for every k.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples,)
        Independent probabilities of the positive class.
    beta : float, default=1.0
    zero_division : float, default=0.0
        F when truth and prediction are both empty.
    method : {"auto", "exact", "approx"}, default="auto"
        "exact": the Poisson-binomial computation of the module docstring,
        ``O(n W)`` with ``W ~ 17 sigma + 25`` to ``50`` (error below ``1e-15``).
        "approx": the second-order Taylor expansion of ``E[A_k / (k + b^2 S)]``,
        ``O(n)``; error ``O(1 / (k + b^2 mu)^2)``, see BENCHMARKS.md, section 3.
        "auto": exact while ``n (W + 1) <= EXACT_MAX_WORK`` (every
        ``n <= 20 000``), approx beyond.

    Returns
    -------
    expected : ndarray of shape (n_samples + 1,)
        ``expected[k]`` is E[F] when the ``k`` largest probabilities are
        predicted positive (ties in the order given); ``expected[0]`` is always
        exact: ``zero_division * P(no positive)``.

    References
    ----------
    .. [1] M. Jansche. "A maximum expected utility framework for binary
       sequence labeling." ACL 2007.
    .. [2] N. Ye, K. M. A. Chai, W. S. Lee, H. L. Chieu. "Optimizing
       F-measures: a tale of two approaches." ICML 2012.

    Examples
    --------
    >>> from f1opt.expected import topk_expected_fbeta
    >>> topk_expected_fbeta([0.9, 0.5, 0.1]).round(4).tolist()
    [0.0, 0.7275, 0.766, 0.6365]
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    p = _check_probabilities(probabilities, ndim=1)
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'approx', but got {method!r}.")
    order = np.argsort(-p, kind="stable")
    return _topk_expected_sorted(p[order], beta * beta, zero_division, method)


def _topk_expected_sorted(p_desc, b2, zero_division, method, support_weighted=False):
    """``E[F_k]`` (or ``E[S F_k]``) for the prefixes k = 0..n of ``p_desc`` (any order)."""
    if method == "auto":
        method = _auto_method(p_desc)
    expected = np.empty(p_desc.size + 1)
    if support_weighted:
        # the empty prediction scores zero_division only when S = 0: S F_0 = 0
        expected[0] = 0.0
        if method == "exact":
            expected[1:] = _topk_exact(p_desc, b2, support_weighted=True)
        else:  # first order in Cov(S, F): E[S F] ~ E[S] E[F]
            expected[1:] = p_desc.sum() * _topk_approx(p_desc, b2)
        return expected
    expected[0] = zero_division * _prob_all_negative(p_desc)
    kernel = _topk_exact if method == "exact" else _topk_approx
    expected[1:] = kernel(p_desc, b2)
    return expected


def _auto_method(p: np.ndarray) -> str:
    lo, hi = _bernstein_window(p)
    return "exact" if p.size * (hi - lo + 2) <= EXACT_MAX_WORK else "approx"


def _check_budget(k, budget) -> tuple[int, str]:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(
            f"`k` must be a non-negative integer (labels per row; 0 means no budget), but got "
            f"{k!r}."
        )
    if budget not in _BUDGETS:
        raise ValueError(f"`budget` must be one of {_BUDGETS}, but got {budget!r}.")
    return int(k), budget


def _allowed_sizes(expected: np.ndarray, n_nonzero, k: int, budget: str) -> np.ndarray:
    """``expected`` (..., m + 1) with the sizes outside the budget set to -inf.

    "exactly": size ``min(k, n_nonzero)`` only (a probability-0 label is never
    predicted: it cannot be positive and adding it never raises any F);
    "at_most": sizes ``0..k``. ``k = 0``: no budget.
    """
    if k == 0:
        return expected
    sizes = np.arange(expected.shape[-1])
    if budget == "at_most":
        allowed = sizes <= k
    else:
        target = np.minimum(k, np.asarray(n_nonzero))[..., None]
        allowed = sizes == target
    return np.where(allowed, expected, -np.inf)


def batch_decision(
    probabilities,
    beta: float = 1.0,
    zero_division: float = 0.0,
    method: str = "auto",
    *,
    k: int = 0,
    budget: str = "exactly",
) -> tuple[np.ndarray, float]:
    """The 0/1 prediction of a batch that maximises its expected F-beta.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples,)
        Independent, calibrated probabilities.
    beta, zero_division, method
        As in :func:`topk_expected_fbeta`.
    k : int, default=0
        Budget: exactly ``k`` positives in the batch (``budget="exactly"``; at
        most the number of non-zero probabilities) or at most ``k``
        (``"at_most"``); 0 means no budget. Exact: the best prediction of each
        size is the top set of that size.
    budget : {"exactly", "at_most"}, default="exactly"

    Returns
    -------
    prediction : ndarray of int8 of shape (n_samples,)
        The top-k set by probability (stable order on ties), ``k`` the first
        maximiser of the expected F.
    expected : float
        Its expected F-beta (by ``method``).

    Examples
    --------
    >>> from f1opt.expected import batch_decision
    >>> prediction, expected = batch_decision([0.9, 0.5, 0.1])
    >>> prediction.tolist(), round(expected, 4)
    ([1, 1, 0], 0.766)
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    p = _check_probabilities(probabilities, ndim=1)
    if method not in ("auto", "exact", "approx"):
        raise ValueError(f"`method` must be 'auto', 'exact' or 'approx', but got {method!r}.")
    k, budget = _check_budget(k, budget)
    order = np.argsort(-p, kind="stable")
    expected = _topk_expected_sorted(p[order], beta * beta, zero_division, method)
    expected = _allowed_sizes(expected, np.count_nonzero(p), k, budget)
    size = int(np.argmax(expected))
    prediction = np.zeros(p.size, dtype=np.int8)
    prediction[order[:size]] = 1
    return prediction, float(expected[size])


# -------------------------------------------------------------------------- GFM


def _size_weights(n_labels: int, b2: float, s_values: np.ndarray) -> np.ndarray:
    """``(1 + b^2) / (k + b^2 s)`` for k = 1..L (rows) and the given s (columns)."""
    k = np.arange(1, n_labels + 1, dtype=np.float64)[:, None]
    return (1.0 + b2) / (k + b2 * s_values[None, :])


def gfm_independent(
    probabilities,
    beta: float = 1.0,
    zero_division: float = 0.0,
    *,
    k: int = 0,
    budget: str = "exactly",
) -> tuple[np.ndarray, np.ndarray]:
    """GFM decision of every row under label independence (exact).

    Under independence ``P(y_l = 1, |y| = s) = p_l P(|y_{-l}| = s - 1)``, and the
    GFM gain of label ``l`` for a prediction of size ``k`` grows with ``p_l``, so
    the best prediction of each size is the top-k by marginal; the kernel
    computes the expected samples-F of every top-k of every row at once,
    vectorised across rows. Each row keeps only the Bernstein window of ``|y|``
    (as in :func:`topk_expected_fbeta`, neglected mass below ``2e-16``), so a
    row costs ``O(L W)``, ``W <= L + 1`` about ``17 sigma + 25`` to ``50``:
    sparse rows over many labels stay cheap. A row's decision depends on that
    row alone, bit for bit.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples, n_labels)
        Marginal probabilities of independent labels.
    beta : float, default=1.0
    zero_division : float, default=0.0
        F of a row whose truth and prediction are both empty.
    k : int, default=0
        Budget per row: exactly ``k`` labels (``budget="exactly"``; fewer when
        the row has fewer non-zero probabilities: a probability-0 label is
        never predicted) or at most ``k`` (``"at_most"``); 0 means no budget.
        GFM restricted to those sizes is still exact: the best prediction of
        each size is the top set of that size.
    budget : {"exactly", "at_most"}, default="exactly"

    Returns
    -------
    prediction : ndarray of int8 of shape (n_samples, n_labels)
    expected : ndarray of shape (n_samples,)
        Expected F-beta of each row's prediction.

    References
    ----------
    .. [1] K. Dembczynski, W. Waegeman, W. Cheng, E. Huellermeier. "An exact
       algorithm for F-measure maximization." NIPS 2011.

    Examples
    --------
    >>> from f1opt.expected import gfm_independent
    >>> gfm_independent([[0.9, 0.5, 0.1]], k=1)[0].tolist()
    [[1, 0, 0]]
    >>> prediction, expected = gfm_independent([[0.9, 0.5, 0.1], [0.05, 0.1, 0.02]])
    >>> prediction.tolist(), expected.round(4).tolist()
    ([[1, 1, 0], [1, 1, 0]], [0.766, 0.0978])
    >>> gfm_independent([[0.05, 0.1, 0.02]], zero_division=1.0)[0].tolist()
    [[0, 0, 0]]
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    k, budget = _check_budget(k, budget)
    p = _check_probabilities(probabilities, ndim=2)
    return _gfm_independent(p, beta * beta, zero_division, k, budget)


def _gfm_independent(p, b2, zero_division, k=0, budget="exactly"):
    """Kernel of :func:`gfm_independent` on checked float64 probabilities."""
    n, n_labels = p.shape
    n_nonzero = np.count_nonzero(p, axis=1)
    order = np.argsort(-p, axis=1, kind="stable")
    p_desc = np.take_along_axis(p, order, axis=1)
    # Each row keeps its own Bernstein window of |y| (a function of the row alone,
    # so a batch is decided bit for bit as row by row): O(L W) per row, not O(L^2).
    lo, hi = _bernstein_window(p_desc)
    width = hi - lo + 1  # cells of P(S = s) kept per row
    sizes = np.arange(1, n_labels + 1, dtype=np.float64)
    best_k = np.empty(n, dtype=np.int64)
    best = np.empty(n)
    rows = max(1, _CHUNK // (n_labels * (int(width.max()) + 1)))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        chunk = p_desc[start:stop]
        top = int(hi[start:stop].max())
        pmf = _pmf_sequential(chunk, max_size=top)  # P(S = s), s = 0..top
        cells = int(width[start:stop].max())
        offset = np.arange(cells + 1)
        inside = offset[None, :] < width[start:stop, None]  # (rows, cells + 1)
        columns = np.minimum(lo[start:stop, None] + offset[None, :cells], top)
        window = np.where(inside[:, :cells], np.take_along_axis(pmf, columns, axis=1), 0.0)
        joint = _joint_rows(window, chunk)  # (cells + 1, rows, L), labels in descending order
        joint[~np.append(inside[:, :1], inside[:, :-1], axis=1).T] = 0.0  # beyond the row's own
        cumulative = np.cumsum(joint, axis=2, out=joint)  # C_k(s) with k = 1..L
        s = (lo[start:stop, None] + offset[None, :]).T[:, :, None]  # (cells + 1, rows, 1)
        cumulative /= sizes + b2 * s  # / (k + b^2 s)
        expected = np.empty((stop - start, n_labels + 1))
        expected[:, 0] = zero_division * pmf[:, 0]
        expected[:, 1:] = (1.0 + b2) * cumulative.sum(axis=0)
        expected = _allowed_sizes(expected, n_nonzero[start:stop], k, budget)
        best_k[start:stop] = np.argmax(expected, axis=1)
        best[start:stop] = expected[np.arange(stop - start), best_k[start:stop]]
    prediction = np.zeros((n, n_labels), dtype=np.int8)
    chosen = np.arange(n_labels)[None, :] < best_k[:, None]  # rank < k
    np.put_along_axis(prediction, order, chosen.astype(np.int8), axis=1)
    return prediction, best


def gfm(
    matrix,
    p_empty,
    beta: float = 1.0,
    zero_division: float = 0.0,
    *,
    k: int = 0,
    budget: str = "exactly",
) -> tuple[np.ndarray, np.ndarray]:
    """General F-measure Maximizer: the Bayes-optimal prediction of each row.

    Exact for any joint label distribution given ``P(y_l = 1, |y| = s)``:
    ``E[F(y, h)] = sum_{l in h} sum_s P(y_l = 1, |y| = s) (1 + b^2) / (b^2 s + |h|)``
    for ``|h| >= 1`` and ``zero_division * P(y = 0)`` for the empty ``h``; for
    each size the best ``h`` takes the largest gains. ``O(L^3)`` per row (one
    matrix product), vectorised across rows.

    Parameters
    ----------
    matrix : array-like of shape (n_samples, n_labels, n_labels)
        ``matrix[i, l, s - 1] = P(y_il = 1, |y_i| = s)`` for ``s = 1..L``.
    p_empty : array-like of shape (n_samples,)
        ``P(y_i = 0)``.
    beta : float, default=1.0
    zero_division : float, default=0.0
    k : int, default=0
        Budget per row: exactly ``k`` labels (``budget="exactly"``; at most
        ``L``) or at most ``k`` (``"at_most"``); 0 means no budget. Still exact:
        GFM finds the best prediction of every size.
    budget : {"exactly", "at_most"}, default="exactly"

    Returns
    -------
    prediction : ndarray of int8 of shape (n_samples, n_labels)
    expected : ndarray of shape (n_samples,)
        Expected F-beta of each row's prediction.

    References
    ----------
    .. [1] K. Dembczynski, W. Waegeman, W. Cheng, E. Huellermeier. "An exact
       algorithm for F-measure maximization." NIPS 2011.

    Examples
    --------
    >>> from f1opt.expected import gfm, joint_size_matrix
    >>> prediction, expected = gfm(*joint_size_matrix([[0.9, 0.5, 0.1]]))
    >>> prediction.tolist(), expected.round(4).tolist()
    ([[1, 1, 0]], [0.766])
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    matrix = _check_probabilities(matrix, ndim=3, name="matrix")
    n, n_labels, n_sizes = matrix.shape
    if n_sizes != n_labels:
        raise ValueError(
            f"`matrix` must have shape (n_samples, n_labels, n_labels) with "
            f"matrix[i, l, s - 1] = P(y_il = 1, |y_i| = s), but got shape {matrix.shape}."
        )
    p_empty = _check_probabilities(p_empty, ndim=1, name="p_empty")
    if p_empty.shape != (n,):
        raise ValueError(
            f"`p_empty` must have shape ({n},), one P(y = 0) per row, but got {p_empty.shape}."
        )
    k, budget = _check_budget(k, budget)
    b2 = beta * beta
    weights = np.ascontiguousarray(
        _size_weights(n_labels, b2, np.arange(1, n_labels + 1, dtype=np.float64)).T
    )
    # gains[i, l, k - 1]: gain of label l in a prediction of size k (one GEMM for all rows)
    gains = (np.ascontiguousarray(matrix).reshape(n * n_labels, n_labels) @ weights).reshape(
        n, n_labels, n_labels
    )
    ranked = -np.sort(-gains, axis=1)
    totals = np.cumsum(ranked, axis=1)  # totals[i, j, k - 1]: best j + 1 labels at size k
    sizes = np.arange(n_labels)
    expected = np.empty((n, n_labels + 1))
    expected[:, 0] = zero_division * p_empty
    expected[:, 1:] = totals[:, sizes, sizes]
    expected = _allowed_sizes(expected, np.full(n, n_labels), k, budget)
    best_k = np.argmax(expected, axis=1)
    prediction = np.zeros((n, n_labels), dtype=np.int8)
    for i in np.flatnonzero(best_k):
        k = best_k[i]
        chosen = np.argsort(-gains[i, :, k - 1], kind="stable")[:k]
        prediction[i, chosen] = 1
    return prediction, expected[np.arange(n), best_k]


# -------------------------------------------------------------- expected F of a given h


def _expected_from_count_pmfs(
    pmf_a, pmf_b, lo_a, lo_b, k, beta, zero_division, support_weighted=False
):
    """Sum over (a, b) of P(A = a) P(B = b) F(tp = a, k, p = a + b), rows in the leading axis.

    ``support_weighted``: each term times the support ``a + b`` (``E[S F]``).
    """
    a = lo_a + np.arange(pmf_a.shape[-1], dtype=np.float64)
    b = lo_b + np.arange(pmf_b.shape[-1], dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)[..., None, None]
    support = a[:, None] + b[None, :]
    f = fbeta_from_counts(a[:, None], k, support, beta, zero_division)
    if support_weighted:
        f = f * support
    return np.einsum("...a,...ab,...b->...", pmf_a, f, pmf_b)


def _expected_rows(p, prediction, beta, zero_division):
    """Exact expected F-beta of each row's prediction, shape (n_samples,)."""
    n, n_labels = p.shape
    taken = prediction.astype(bool)
    out = np.empty(n)
    rows = max(1, _CHUNK // ((n_labels + 1) ** 2))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        chunk, mask = p[start:stop], taken[start:stop]
        pmf_a = _pmf_sequential(np.where(mask, chunk, 0.0))  # positives among predicted
        pmf_b = _pmf_sequential(np.where(mask, 0.0, chunk))  # positives among the rest
        k = mask.sum(axis=1)
        out[start:stop] = _expected_from_count_pmfs(pmf_a, pmf_b, 0, 0, k, beta, zero_division)
    return out


def _expected_batch(p, prediction, beta, zero_division, support_weighted=False):
    """Exact expected F-beta (or ``E[S F]``) of one batch prediction (1-D), windowed."""
    taken = prediction.astype(bool)
    k = int(taken.sum())
    parts = []
    for q in (p[taken], p[~taken]):
        if q.size == 0:
            parts.append((np.ones(1), 0))
            continue
        pmf = poisson_binomial_pmf(q)
        lo, hi = _bernstein_window(q)
        parts.append((pmf[lo : hi + 1], lo))
    (pmf_a, lo_a), (pmf_b, lo_b) = parts
    total = 0.0
    step = max(1, _CHUNK // pmf_b.size)
    for start in range(0, pmf_a.size, step):
        total += float(
            _expected_from_count_pmfs(
                pmf_a[start : start + step],
                pmf_b,
                lo_a + start,
                lo_b,
                k,
                beta,
                zero_division,
                support_weighted,
            )
        )
    return total


def expected_fbeta(probabilities, prediction, beta=1.0, zero_division=0.0, average=None) -> float:
    """Exact expected F-beta of a given 0/1 prediction under independent labels.

    Parameters
    ----------
    probabilities : array-like or scipy sparse matrix of shape (n_samples,) or \
(n_samples, n_labels)
        Independent probabilities that each label is 1 (sparse: unstored = 0).
    prediction : array-like or sparse matrix of the same shape, 0/1
    beta : float, default=1.0
    zero_division : float, default=0.0
        F when truth and prediction are both empty, as in scikit-learn.
    average : {None, "binary", "samples", "micro", "macro", "weighted"}, default=None
        None: "binary" for 1-D input, "samples" for 2-D. "micro": the batch
        expectation of the pooled entries; "macro": the mean over labels of each
        label's batch expectation (both exact). "weighted": the expected-support
        weighted average ``sum_j E[S_j F_j] / sum_j E[S_j]``, the definition
        :class:`ExpectedF1` optimises (an approximation of ``E[weighted F]``:
        the random total support is replaced by its mean).

    Returns
    -------
    expected : float
        1-D: E[F-beta of the whole batch] (``average="binary"``). 2-D: the mean
        over rows of each row's expected F-beta (``average="samples"``), or the
        average above. Computed from the two Poisson-binomial distributions of
        the positives inside and outside the prediction, ``O(|A| |B|)`` on
        their (windowed) supports, never by enumerating label vectors.

    Examples
    --------
    >>> from f1opt import expected_fbeta
    >>> round(expected_fbeta([0.9, 0.5, 0.1], [1, 1, 0]), 4)
    0.766
    >>> expected_fbeta([[0.0, 0.0]], [[0, 0]], zero_division=1.0)
    1.0
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    if average in ("micro", "macro", "weighted"):
        entries = _entries(probabilities)
        picked = _picked_entries(entries, prediction)
        return _expected_average(entries, picked, beta, average, zero_division)
    if average not in (None, "binary", "samples"):
        raise ValueError(
            "`average` must be None, 'binary', 'samples', 'micro', 'macro' or 'weighted', "
            f"but got {average!r}."
        )
    if sparse.issparse(probabilities):
        probabilities = probabilities.toarray()
    if sparse.issparse(prediction):
        prediction = prediction.toarray()
    p = _check_probabilities(probabilities, ndim=(1, 2))
    if (average == "binary" and p.ndim != 1) or (average == "samples" and p.ndim != 2):
        raise ValueError(
            f"average={average!r} needs {'1-D' if average == 'binary' else '2-D'} "
            f"probabilities, but got shape {p.shape}."
        )
    if p.ndim == 1:
        prediction = check_binary_labels(prediction, name="prediction")
    else:
        prediction = check_indicator_labels(prediction, name="prediction")
    if prediction.shape != p.shape:
        raise ValueError(
            f"`probabilities` and `prediction` must have the same shape, but got {p.shape} "
            f"and {prediction.shape}."
        )
    if p.ndim == 1:
        return _expected_batch(p, prediction, beta, zero_division)
    return float(_expected_rows(p, prediction, beta, zero_division).mean())


# ------------------------------------------------- multilabel batches: micro, macro, weighted

_BUDGETS = ("exactly", "at_most")
_OBJECTIVES = ("auto", "exact", "ecm")


@dataclass(frozen=True)
class _Entries:
    """The non-zero probabilities of an ``(n, L)`` matrix, row-major coordinate lists.

    Probability-0 entries (and the unstored entries of a sparse matrix) are left
    out: they cannot be positive, and predicting one never raises any F.
    """

    row: np.ndarray  # int64, sorted; columns ascending inside a row
    col: np.ndarray  # int64
    val: np.ndarray  # float64 in (0, 1]
    shape: tuple[int, int]
    kind: str  # "dense", "csr_matrix" or "csr_array": the type of the prediction returned


def _entries(probabilities, name="probabilities") -> _Entries:
    if sparse.issparse(probabilities):
        kind = "csr_array" if isinstance(probabilities, sparse.sparray) else "csr_matrix"
        if probabilities.ndim != 2 or 0 in probabilities.shape:
            raise ValueError(
                f"`{name}` must be a non-empty 2-D (n_samples, n_labels) matrix, but got "
                f"shape {probabilities.shape}."
            )
        coo = sparse.coo_array(probabilities)
        coo.sum_duplicates()  # also sorts row-major with ascending columns
        data = np.asarray(coo.data, dtype=np.float64)
        if data.size:
            _check_probabilities(data, ndim=1, name=name)
        keep = data > 0
        row, col, val = coo.row[keep], coo.col[keep], data[keep]
        order = np.lexsort((col, row))
        row, col, val = row[order], col[order], val[order]
        shape = probabilities.shape
    else:
        kind = "dense"
        p = _check_probabilities(probabilities, ndim=2, name=name)
        shape = p.shape
        if p.all():  # every entry positive (the usual dense case): no search
            row = np.repeat(np.arange(shape[0], dtype=np.int64), shape[1])
            col = np.tile(np.arange(shape[1], dtype=np.int64), shape[0])
            val = np.ravel(p)
        else:
            row, col = np.nonzero(p)
            val = p[row, col]
    return _Entries(
        row.astype(np.int64, copy=False),
        col.astype(np.int64, copy=False),
        val,
        (int(shape[0]), int(shape[1])),
        kind,
    )


def _to_prediction(entries: _Entries, picked: np.ndarray):
    """0/1 prediction (int8) of the picked entries, dense or CSR like the input."""
    rows, cols = entries.row[picked], entries.col[picked]
    if entries.kind == "dense":
        out = np.zeros(entries.shape, dtype=np.int8)
        out[rows, cols] = 1
        return out
    cls = sparse.csr_array if entries.kind == "csr_array" else sparse.csr_matrix
    return cls((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=entries.shape)


def _picked_entries(entries: _Entries, prediction) -> tuple[np.ndarray, np.ndarray]:
    """Mask of the predicted entries, and per label the predicted probability-0 entries."""
    n, n_labels = entries.shape
    if sparse.issparse(prediction):
        coo = sparse.coo_array(prediction)
        coo.sum_duplicates()
        on = coo.data != 0
        p_row, p_col = coo.row[on].astype(np.int64), coo.col[on].astype(np.int64)
        if np.any(coo.data[on] != 1):
            raise ValueError("`prediction` must hold 0/1 values only.")
    else:
        prediction = check_indicator_labels(prediction, name="prediction")
        p_row, p_col = np.nonzero(prediction)
    if tuple(np.shape(prediction)) != entries.shape:
        raise ValueError(
            f"`probabilities` and `prediction` must have the same shape, but got "
            f"{entries.shape} and {tuple(np.shape(prediction))}."
        )
    keys = entries.row * n_labels + entries.col
    predicted_keys = p_row.astype(np.int64) * n_labels + p_col
    picked = np.isin(keys, predicted_keys)
    extra = np.bincount(p_col, minlength=n_labels) - np.bincount(
        entries.col[picked], minlength=n_labels
    )
    return picked, extra


def _segments(groups: np.ndarray, n_groups: int):
    """Sizes and starts of the contiguous groups of a sorted group array."""
    sizes = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return sizes, starts


def _grouped_desc_order(groups: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """Entry order by group (ascending), then value (descending), then entry index.

    The same order as ``np.lexsort((-values, groups))``, faster: a stable integer
    sort by group, then one row-wise sort of the groups padded to the longest
    (when that padding costs at most twice the entries; the lexsort otherwise).
    """
    sizes = np.bincount(groups, minlength=n_groups)
    longest = int(sizes.max()) if groups.size else 0
    if n_groups * longest > 2 * groups.size + 4096:
        return np.lexsort((-values, groups))
    by_group = np.argsort(groups, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rank = np.arange(groups.size) - np.repeat(starts, sizes)
    padded = np.full((n_groups, longest), np.inf)
    padded[groups[by_group], rank] = -values[by_group]
    within = np.argsort(padded, axis=1, kind="stable")  # padding (+inf) sorts last
    keep = np.arange(longest)[None, :] < sizes[:, None]
    return by_group[(starts[:, None] + within)[keep]]


def _column_order(entries: _Entries) -> np.ndarray:
    """Entries label by label, largest probability first (ties: row order)."""
    n, n_labels = entries.shape
    if entries.val.size == n * n_labels:  # every entry stored: sort the columns in place
        within = np.argsort(-entries.val.reshape(n, n_labels).T, axis=1, kind="stable")
        return (within * n_labels + np.arange(n_labels)[:, None]).ravel()
    return _grouped_desc_order(entries.col, entries.val, n_labels)


def _segment_cumsum(values: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` inside each contiguous segment of the given sizes."""
    running = np.cumsum(values)
    ends = np.cumsum(sizes)
    before = np.concatenate(([0.0], running))[ends - sizes]  # sum before each segment
    return running - np.repeat(before, sizes)


def _label_weights(entries: _Entries, average: str, P: np.ndarray) -> np.ndarray:
    n_labels = entries.shape[1]
    if average == "macro":
        return np.full(n_labels, 1.0 / n_labels)
    total = P.sum()
    return P / total if total > 0 else np.zeros(n_labels)


def _ecm_value(entries, picked, extra, beta, average, zero_division) -> float:
    """F-beta of the expected confusion matrix (expected counts in place of counts)."""
    n_labels = entries.shape[1]
    A = np.bincount(entries.col, weights=entries.val * picked, minlength=n_labels)
    K = np.bincount(entries.col, weights=picked.astype(np.float64), minlength=n_labels) + extra
    P = np.bincount(entries.col, weights=entries.val, minlength=n_labels)
    if average == "micro":
        return float(fbeta_from_counts(A.sum(), K.sum(), P.sum(), beta, zero_division))
    f = fbeta_from_counts(A, K, P, beta, zero_division)
    if average == "macro":
        return float(f.mean())
    return float(_label_weights(entries, average, P) @ f) if P.sum() > 0 else zero_division


def ecm_fbeta(probabilities, prediction, beta=1.0, average="micro", zero_division=0.0) -> float:
    """F-beta of the *expected confusion matrix* of a prediction (the ETU approximation).

    Every count is replaced by its expectation: ``TP_j = sum_i h_ij p_ij``,
    ``P_j = sum_i p_ij``, then the F-beta of those counts is averaged as
    scikit-learn averages counts (weighted: by ``P_j``). This is the objective of
    block coordinate ascent in xCOLUMNs (Schultheis et al. 2023) and of
    ``ExpectedF1(objective="ecm")``; :func:`expected_fbeta` gives the exact
    expectation instead.

    Parameters
    ----------
    probabilities : array-like or scipy sparse matrix of shape (n_samples, n_labels)
    prediction : array-like or sparse matrix of the same shape, 0/1
    beta : float, default=1.0
    average : {"micro", "macro", "weighted"}, default="micro"
    zero_division : float, default=0.0

    Returns
    -------
    value : float

    Examples
    --------
    >>> from f1opt.expected import ecm_fbeta
    >>> round(ecm_fbeta([[0.9, 0.5], [0.2, 0.4]], [[1, 1], [0, 0]]), 4)
    0.7
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    if average not in ("micro", "macro", "weighted"):
        raise ValueError(f"`average` must be 'micro', 'macro' or 'weighted', but got {average!r}.")
    entries = _entries(probabilities)
    picked, extra = _picked_entries(entries, prediction)
    return _ecm_value(entries, picked, extra, beta, average, zero_division)


def _expected_average(entries, picked_extra, beta, average, zero_division) -> float:
    """Exact E[micro F] or E[macro F], or the expected-support weighted average."""
    picked, extra = picked_extra
    n_labels = entries.shape[1]
    if average == "micro":
        q = np.concatenate([entries.val, np.zeros(int(extra.sum()))])
        h = np.concatenate([picked, np.ones(int(extra.sum()), dtype=bool)])
        return _expected_batch(q, h, beta, zero_division)
    order = np.argsort(entries.col, kind="stable")
    sizes, starts = _segments(entries.col[order], n_labels)
    val, taken = entries.val[order], picked[order]
    weighted = average == "weighted"
    total = 0.0
    for j in range(n_labels):
        segment = slice(starts[j], starts[j] + sizes[j])
        q = np.concatenate([val[segment], np.zeros(int(extra[j]))])
        h = np.concatenate([taken[segment], np.ones(int(extra[j]), dtype=bool)])
        total += _expected_batch(q, h, beta, zero_division, support_weighted=weighted)
    if average == "macro":
        return total / n_labels
    support = entries.val.sum()
    return total / support if support > 0 else zero_division


@dataclass(frozen=True)
class BatchDecision:
    """The result of :func:`multilabel_decision`.

    Attributes
    ----------
    prediction : ndarray of int8 of shape (n_samples, n_labels), or CSR matrix
        Dense for dense probabilities, CSR (int8) for sparse ones.
    objective : float
        The value of the objective reached (see ``method``).
    bound : float
        An upper bound on that objective over every prediction within the
        budget; ``bound - objective`` is a certificate of the gap (0 where the
        method is exact).
    n_iter : int
        Dinkelbach rounds or block coordinate ascent passes, over every
        start (1 otherwise).
    method : str
        What was solved: "exact" (expected F under independence, exact),
        "taylor" (the same with the Taylor approximation of large batches),
        "ecm-dinkelbach" (expected confusion matrix, global optimum),
        "ecm-scan" (expected confusion matrix per label, global optimum) or
        "ecm-bca" (expected confusion matrix, block coordinate ascent: a local
        optimum, ``bound`` from dropping the budget).
    """

    prediction: object
    objective: float
    bound: float
    n_iter: int
    method: str


def _within_rank(groups_sorted: np.ndarray, n_groups: int) -> np.ndarray:
    sizes, starts = _segments(groups_sorted, n_groups)
    return np.arange(groups_sorted.size) - np.repeat(starts, sizes)


def _micro_decision(entries, b2, beta, k, budget, objective, zero_division, max_iter, evaluate):
    n, n_labels = entries.shape
    val = entries.val
    picked = np.zeros(val.size, dtype=bool)
    if k > 0:
        by_row = _grouped_desc_order(entries.row, val, n)  # each row's entries, largest first
        rank = _within_rank(entries.row[by_row], n)
        pool = by_row[rank < k]  # each row's top k
    if objective == "exact":
        # E[micro F] is the batch expectation of the pooled entries. The best
        # prediction of each total size K is the K largest (no budget), the top
        # k of every row ("exactly"), or the first K entries of the greedy order
        # of the partition matroid "at most k per row" (the K largest among each
        # row's top k), whose sorted values dominate those of every feasible
        # set of size K (Gale): swapping in a larger probability never lowers
        # E[F] (Lewis 1995; Jansche 2007).
        if k == 0:
            order = np.argsort(-val, kind="stable")
            n_pool = val.size
        else:
            pool = pool[np.argsort(-val[pool], kind="stable")]
            rest = np.ones(val.size, dtype=bool)
            rest[pool] = False
            order = np.concatenate([pool, np.flatnonzero(rest)])
            n_pool = pool.size
        if k > 0 and budget == "exactly" and not evaluate:
            picked[pool] = True  # the decision needs no expectation
            return picked, np.nan, np.nan, 1, "exact"
        method = _auto_method(val) if val.size else "exact"
        expected = _topk_expected_sorted(val[order], b2, zero_division, method)
        if k > 0 and budget == "exactly":
            size = n_pool
        else:
            size = int(np.argmax(expected[: n_pool + 1]))
        picked[order[:size]] = True
        value = float(expected[size])
        return picked, value, value, 1, "exact" if method == "exact" else "taylor"
    # expected confusion matrix: (1 + b^2) sum h p / (b^2 sum p + sum h), Dinkelbach
    total_p = float(val.sum())
    n_iter = 1
    if k > 0 and budget == "exactly":
        picked[pool] = True  # the denominator is fixed: the largest sum of probabilities
    elif val.size:
        if k == 0:  # candidates: each label's top-K sets
            groups = entries.col
            n_groups = n_labels
        else:  # candidates: each row's top-K sets, K <= k
            groups = entries.row
            n_groups = n
        order = _grouped_desc_order(groups, val, n_groups)
        if k > 0:
            order = order[_within_rank(groups[order], n_groups) < k]
        sizes, starts = _segments(groups[order], n_groups)
        tp = _segment_cumsum(val[order], sizes)
        rank = _within_rank(groups[order], n_groups)
        chosen, _, n_iter = dinkelbach(tp, rank + 1.0, sizes, total_p, beta, max_iter)
        last = np.full(n_groups, -1)
        has = chosen >= 0
        last[has] = chosen[has] - starts[has]
        picked[order[rank <= np.repeat(last, sizes)]] = True
    value = float(fbeta_from_counts(val[picked].sum(), picked.sum(), total_p, beta, zero_division))
    return picked, value, value, n_iter, "ecm-dinkelbach"


def _label_exact_decision(entries, b2, average, zero_division):
    """Exact per-label batch decisions: E[F_j] (macro) or E[S_j F_j] (weighted)."""
    n, n_labels = entries.shape
    weighted = average == "weighted"
    order = _column_order(entries)
    sizes, starts = _segments(entries.col[order], n_labels)
    val = entries.val[order]
    picked = np.zeros(val.size, dtype=bool)
    total = 0.0
    approx = False
    for j in np.flatnonzero(sizes):
        segment = val[starts[j] : starts[j] + sizes[j]]
        method = _auto_method(segment)
        approx |= method != "exact"
        expected = _topk_expected_sorted(segment, b2, zero_division, method, weighted)
        size = int(np.argmax(expected))
        picked[order[starts[j] : starts[j] + size]] = True
        total += float(expected[size])
    if weighted:
        support = entries.val.sum()
        value = total / support if support > 0 else zero_division
    else:  # a label with no non-zero probability is surely negative: F = zero_division
        value = (total + zero_division * np.count_nonzero(sizes == 0)) / n_labels
    return picked, value, value, 1, "taylor" if approx else "exact"


def _fb(A, K, P, b2):
    return (1.0 + b2) * A / (b2 * P + K)  # P > 0 for every label holding an entry


def _label_optimum_counts(col, val, P, b2, n_labels):
    """Each label's unbudgeted ECM optimum ``(A, K)`` and its entries, by Dinkelbach per label.

    ``A / (b^2 P + K)`` is largest on the set ``{p > A* / (b^2 P + K*)}`` (a
    linear-fractional program); from ratio 0 each round keeps the entries above
    the current ratio, which only rises, so entries dropped once never return.
    No sort: the rounds shrink the entries kept (most of them on the first).
    """
    index = np.arange(val.size)  # the entries kept
    c, v = col, val
    denominator = b2 * P
    while True:
        A = np.bincount(c, weights=v, minlength=n_labels)
        K = np.bincount(c, minlength=n_labels).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(P > 0, A / (denominator + K), 0.0)
        keep = v > ratio[c]
        if keep.all():
            return A, K, index
        c, v, index = c[keep], v[keep], index[keep]


def _label_ecm_decision(
    entries, b2, beta, average, k, budget, zero_division, max_iter, tol, evaluate, bound_iter
):
    """Macro / weighted F-beta of the expected confusion matrix.

    No budget: separable, each label's best set by Dinkelbach's method (global
    optimum; no sort). With a budget: block coordinate ascent over rows with exact
    steps (given the other rows, the labels of a row are independent terms),
    started from each row's top k of ``p`` times its label's slope at the
    unbudgeted optimum, then restarted from each row's top k of the gradient at
    the local optimum while that finds a better one; the bound is the smaller of
    the unbudgeted optimum and a Lagrangian dual (:func:`_lagrangian_bound`).
    """
    n, n_labels = entries.shape
    row, col, val = entries.row, entries.col, entries.val
    P = np.bincount(col, weights=val, minlength=n_labels)
    w = _label_weights(entries, average, P)

    def value_of(mask):
        return _ecm_value(entries, mask, np.zeros(n_labels), beta, average, zero_division)

    if k == 0:  # separable: each label's best set, {p > F_j / (1 + b^2)} (global optimum)
        picked = np.zeros(val.size, dtype=bool)
        picked[_label_optimum_counts(col, val, P, b2, n_labels)[2]] = True
        value = value_of(picked)
        return picked, value, value, 1, "ecm-scan"
    at_most = budget == "at_most"
    c1 = 1.0 + b2
    has_p = P > 0
    A_free, K_free, _ = _label_optimum_counts(col, val, P, b2, n_labels)

    def total(A, K):  # the objective up to the constant of the labels without entries
        return float(np.sum(w[has_p] * _fb(A[has_p], K[has_p], P[has_p], b2)))

    def gradient(A, K):  # d/dx_ij of sum_j w_j F_j at (A, K): alpha_j p_ij + gamma_j
        with np.errstate(divide="ignore", invalid="ignore"):
            d = b2 * P + K
            alpha = np.where(has_p, w * c1 / d, 0.0)
            gamma = np.where(has_p, -w * c1 * A / (d * d), 0.0)
        return alpha, gamma

    row_sizes, row_starts = _segments(row, n)
    active = np.flatnonzero(row_sizes)
    kernels = _numba_kernels()
    passes = _bca_passes if kernels is None else kernels.bca_passes

    def row_top(alpha, gamma):  # each row's top k of alpha_j p_ij + gamma_j
        if kernels is not None:
            return kernels.row_top_linear(row_starts, row_sizes, col, val, alpha, gamma, k, at_most)
        score = alpha[col] * val + gamma[col]
        by_row = _grouped_desc_order(row, score, n)
        first = _within_rank(row[by_row], n) < k
        if at_most:
            first &= score[by_row] > 0
        x = np.zeros(val.size)
        x[by_row[first]] = 1.0
        return x

    def ascend(x):
        A = np.bincount(col, weights=val * x, minlength=n_labels)
        K = np.bincount(col, weights=x, minlength=n_labels)
        args = (row_starts, row_sizes, active, col, val, x, A, K, P, w, b2, k, at_most)
        n_passes = passes(*args, max_iter, tol)
        return x, A, K, n_passes

    # start: the slope of each label's F at its unbudgeted optimum, times p (the
    # gradient without its shift: the shift would favour labels far from their optimum)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope_free = np.where(has_p, w * c1 / (b2 * P + K_free), 0.0)
    x, A, K, n_iter = ascend(row_top(slope_free, np.zeros(n_labels)))
    best = total(A, K)
    for _ in range(_MAX_RESTARTS):
        x_new, A_new, K_new, n_more = ascend(row_top(*gradient(A, K)))
        n_iter += n_more
        value = total(A_new, K_new)
        if not value > best:
            break
        x, A, K, best, gained = x_new, A_new, K_new, value, value - best
        if gained < _RESTART_GAIN * best:
            break  # the restarts have stopped paying
    picked = x > 0
    if not evaluate:
        return picked, np.nan, np.nan, n_iter, "ecm-bca"
    value = value_of(picked)
    constant = value - best  # the labels without entries (zero_division)
    bound = total(A_free, K_free)
    if bound_iter > 0:
        bound = min(bound, _lagrangian_bound(entries, P, w, b2, k, at_most, A, K, best, bound_iter))
    return picked, value, max(bound + constant, value), n_iter, "ecm-bca"


_MAX_RESTARTS = 5  # restarts of the block coordinate ascent from the gradient's top k
_RESTART_GAIN = 1e-9  # another restart only after one that gained this much (relative)


class _Dual:
    """The Lagrangian dual of the budgeted ECM macro / weighted objective ``sum_j w_j F_j``.

    With ``a_j``, ``kappa_j`` standing for label ``j``'s expected true
    positives and predicted count, the constraints ``a_j = sum_i p_ij x_ij`` and
    ``kappa_j = sum_i x_ij`` are dualised with multipliers ``mu_j``, ``nu_j``.
    For every feasible ``x`` (``k`` entries per row, at most ``k`` with
    ``at_most``) and every ``mu``, ``nu``:
    ``sum_j w_j F_j(x) = sum_j [w_j F_j - mu_j a_j - nu_j kappa_j] + sum_ij x_ij
    (mu_j p_ij + nu_j) <= L(mu, nu) = sum_j h_j + sum_i top_i``, where ``h_j``
    is the largest ``w_j (1 + b^2) a / (b^2 P_j + kappa) - mu_j a - nu_j
    kappa`` over ``kappa = 0 .. n_j`` and ``a`` between the sums of the label's
    ``kappa`` smallest and ``kappa`` largest probabilities (linear in ``a``: an
    end is best), and ``top_i`` is the largest sum of ``mu_j p_ij + nu_j`` over
    the row's feasible choices (its top ``k``; only positive terms with
    ``at_most``). So every ``L(mu, nu)`` is an upper bound (weak duality).
    """

    def __init__(self, entries, P, w, b2, k, at_most):
        n, n_labels = entries.shape
        self.entries, self.k, self.at_most, self.n_labels = entries, k, at_most, n_labels
        col, val = entries.col, entries.val
        order = _column_order(entries)
        lab = col[order]
        sizes, starts = _segments(lab, n_labels)
        self.top = _segment_cumsum(val[order], sizes)  # sum of the kappa largest
        self.kappa = _within_rank(lab, n_labels) + 1.0
        # sum of the kappa smallest: P_j minus the sum of the n_j - kappa largest
        rest = np.repeat(sizes, sizes) - self.kappa.astype(np.int64)
        index = np.maximum(np.repeat(starts, sizes) + rest - 1, 0)
        self.bottom = np.maximum(P[lab] - np.where(rest > 0, self.top[index], 0.0), 0.0)
        self.ratio = w[lab] * (1.0 + b2) / (b2 * P[lab] + self.kappa)
        self.lab, self.sizes = lab, sizes
        self.labels = np.flatnonzero(sizes)
        self.first = starts[self.labels]
        self.row_sizes, self.row_starts = _segments(entries.row, n)

    def __call__(self, mu, nu):
        """``L(mu, nu)`` and a subgradient ``(d/dmu, d/dnu)``."""
        e, lab, n_labels = self.entries, self.lab, self.n_labels
        a_star, k_star = np.zeros(n_labels), np.zeros(n_labels)
        kernels = _numba_kernels()
        if kernels is not None:
            h_total = kernels.label_dual(
                self.first,
                self.sizes[self.labels],
                self.labels,
                self.top,
                self.bottom,
                self.kappa,
                self.ratio,
                mu,
                nu,
                a_star,
                k_star,
            )
            x = kernels.row_top_linear(
                self.row_starts, self.row_sizes, e.col, e.val, mu, nu, self.k, self.at_most
            )
        else:
            coef = self.ratio - mu[lab]
            a_end = np.where(coef > 0, self.top, self.bottom)
            term = coef * a_end - nu[lab] * self.kappa
            seg_max = np.maximum.reduceat(term, self.first) if term.size else term
            h_total = float(np.maximum(seg_max, 0.0).sum())  # kappa = 0: nothing, 0
            # each label's first maximiser (kappa = 0 when no term is positive)
            seg_full = np.full(n_labels, np.inf)
            seg_full[self.labels] = seg_max
            hit = np.flatnonzero(term >= np.repeat(seg_full, self.sizes))
            labels_hit, first_hit = np.unique(lab[hit], return_index=True)
            where = np.full(n_labels, -1)
            where[labels_hit] = hit[first_hit]
            on = self.labels[seg_max > 0]
            a_star[on] = a_end[where[on]]
            k_star[on] = self.kappa[where[on]]
            score = mu[e.col] * e.val + nu[e.col]
            by_row = _grouped_desc_order(e.row, score, e.shape[0])
            keep = _within_rank(e.row[by_row], e.shape[0]) < self.k
            if self.at_most:
                keep &= score[by_row] > 0
            x = np.zeros(e.val.size)
            x[by_row[keep]] = 1.0
        rows_a = np.bincount(e.col, weights=e.val * x, minlength=n_labels)
        rows_k = np.bincount(e.col, weights=x, minlength=n_labels)
        value = float(h_total + mu @ rows_a + nu @ rows_k)
        return value, rows_a - a_star, rows_k - k_star


def _lagrangian_bound(entries, P, w, b2, k, at_most, A, K, target, n_rounds):
    """The smallest ``L(mu, nu)`` of :class:`_Dual` seen in ``n_rounds`` subgradient steps.

    From ``mu`` the slopes ``w_j (1 + b^2) / (b^2 P_j + K_j)`` at the solution
    found and ``nu = 0``; Polyak's step towards ``target`` (the objective
    reached), halved after 5 rounds without progress. Every value is a bound;
    a relative ``1e-12`` covers rounding.
    """
    n_labels = entries.shape[1]
    dual = _Dual(entries, P, w, b2, k, at_most)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(P > 0, w * (1.0 + b2) / (b2 * P + K), 0.0)
    nu = np.zeros(n_labels)
    best = np.inf
    step, stalled = 1.0, 0
    for _ in range(n_rounds):
        value, g_mu, g_nu = dual(mu, nu)
        if value < best:
            best, stalled = value, 0
        else:
            stalled += 1
            if stalled >= 5:
                step, stalled = step / 2.0, 0
        norm = float(g_mu @ g_mu + g_nu @ g_nu)
        if norm == 0.0:
            break  # a zero subgradient: the dual's minimum
        t = step * max(value - target, 1e-12 * abs(value)) / norm
        mu = mu - t * g_mu
        nu = nu - t * g_nu
    return best * (1.0 + 1e-12) + 1e-15


def _bca_passes(starts, sizes, active, col, val, x, A, K, P, w, b2, k, at_most, max_iter, tol):
    """The numpy version of :func:`f1opt._expected_numba.bca_passes` (same steps)."""
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        changed = False
        for i in active:
            s, e = starts[i], starts[i] + sizes[i]
            c, v, old = col[s:e], val[s:e], x[s:e]
            A_c = A[c] - v * old
            K_c = K[c] - old
            P_c = P[c]
            gain = w[c] * (_fb(A_c + v, K_c + 1.0, P_c, b2) - _fb(A_c, K_c, P_c, b2))
            m = e - s
            new = np.zeros(m)
            new[np.argsort(-gain, kind="stable")[: min(k, m)]] = 1.0
            if at_most:
                new[gain <= 0] = 0.0
            improvement = gain @ new - gain @ old
            if improvement > tol * (np.abs(gain).sum() + 1e-300):
                A[c] = A_c + v * new
                K[c] = K_c + new
                x[s:e] = new
                changed = True
        if not changed:
            break
    return n_iter


USE_NUMBA = True  # set False to run the numpy block coordinate ascent
_numba_module = None


def _numba_kernels():
    """The compiled block coordinate ascent, or None when numba is unavailable or disabled."""
    global _numba_module, USE_NUMBA
    if not USE_NUMBA:
        return None
    if _numba_module is None:
        try:
            from . import _expected_numba
        except Exception:  # numba missing or broken: the numpy version takes the same steps
            USE_NUMBA = False
            return None
        _numba_module = _expected_numba
    return _numba_module


def _samples_decision(entries, probabilities, b2, k, budget, zero_division):
    """Per-row GFM (exact under independence); sparse rows padded to the longest row."""
    n, n_labels = entries.shape
    if entries.kind == "dense":
        p = _check_probabilities(probabilities, ndim=2)
        prediction, expected = _gfm_independent(p, b2, zero_division, k, budget)
        picked = prediction[entries.row, entries.col].astype(bool)
        return picked, float(expected.mean())
    sizes, starts = _segments(entries.row, n)
    width = int(sizes.max()) if n else 0
    if width == 0:
        return np.zeros(0, dtype=bool), float(zero_division)
    position = np.arange(entries.row.size) - np.repeat(starts, sizes)
    padded = np.zeros((n, width))
    padded[entries.row, position] = entries.val
    prediction, expected = _gfm_independent(padded, b2, zero_division, k, budget)
    return prediction[entries.row, position].astype(bool), float(expected.mean())


def multilabel_decision(
    probabilities,
    beta: float = 1.0,
    average: str = "macro",
    *,
    k: int = 0,
    budget: str = "exactly",
    objective: str = "auto",
    zero_division: float = 0.0,
    max_iter: int = 100,
    tol: float = 1e-12,
    evaluate: bool = True,
    bound_iter: int = 100,
) -> BatchDecision:
    """The prediction of a multilabel batch that maximises its expected F-beta.

    Parameters
    ----------
    probabilities : array-like or scipy sparse matrix of shape (n_samples, n_labels)
        Calibrated marginal probabilities, independent across rows and labels.
        Sparse: an unstored entry is probability 0 and is never predicted; the
        work and the memory follow the stored entries (a CSR prediction back).
    beta : float, default=1.0
    average : {"micro", "macro", "weighted", "samples"}, default="macro"
    k : int, default=0
        Budget of labels per row: exactly ``k`` (``budget="exactly"``; fewer in
        a row with fewer non-zero probabilities) or at most ``k``
        (``"at_most"``). 0: no budget.
    budget : {"exactly", "at_most"}, default="exactly"
    objective : {"auto", "exact", "ecm"}, default="auto"
        "exact": the expected F-beta under independence (exact; the Taylor
        approximation of :func:`topk_expected_fbeta` for the largest batches),
        for "micro" (any budget), "macro" and "weighted" (no budget) and
        "samples". "ecm": the F-beta of the expected confusion matrix, as
        xCOLUMNs optimises it: micro by Dinkelbach (global optimum, any budget),
        macro and weighted by Dinkelbach per label (global optimum) without a
        budget and by block coordinate ascent with one. "auto": "exact" where
        available, "ecm" for macro and weighted with a budget.
    zero_division : float, default=0.0
    max_iter : int, default=100
        Bound on Dinkelbach rounds or block coordinate ascent passes.
    tol : float, default=1e-12
        A row's new labels replace the old ones in block coordinate ascent
        only when they gain more than ``tol`` times the row's total gain.
    evaluate : bool, default=True
        False skips computing ``objective`` and ``bound`` (NaN) where the
        decision does not need them (micro with exactly ``k`` per row: each
        row's top ``k``; macro and weighted with a budget: the certificate).
    bound_iter : int, default=100
        Subgradient rounds of the Lagrangian bound (macro and weighted ECM with
        a budget); 0 keeps only the unbudgeted optimum as the bound. Each round
        costs about one pass of the block coordinate ascent plus a few array
        operations over the entries.

    Returns
    -------
    decision : BatchDecision
        ``prediction``, ``objective`` (value reached), ``bound`` (a proven
        upper bound on the optimum: equal to ``objective`` where the method is
        exact), ``n_iter`` (passes of all the block coordinate ascents, or
        Dinkelbach rounds), ``method``.

    Notes
    -----
    **macro** is exact: independent labels make E[macro F] the mean of one
    binary batch expectation per label, each maximised by a top set
    (:func:`batch_decision`). **weighted**: scikit-learn's weights
    ``S_j / sum_l S_l`` are random; ``E[sum_j S_j F_j / S]`` is approximated by
    ``sum_j E[S_j F_j] / E[S]`` (the total support ``S`` replaced by its mean;
    relative error ``O(Var(S) / E[S]^2)``), which separates into one exact
    problem per label (``E[S_j F_j]`` is also maximised by a top set). **micro**
    is exact: E[micro F] is the batch expectation of all entries pooled. The
    expected-confusion-matrix micro F (a ratio of expected counts) is solved by
    Dinkelbach's method; its loss of exact expected micro F is small (measured
    in the tests and the benchmark notes). With a **budget**, micro stays exact
    (the greedy order of "at most k per row" dominates every feasible set of
    each size), samples stays exact (GFM over the allowed sizes), and macro and
    weighted use the expected confusion matrix with block coordinate ascent:
    a local optimum (each row's choice is the best given the other rows),
    started from each row's top ``k`` of ``p_ij`` times label ``j``'s slope at
    its unbudgeted optimum and restarted from each row's top ``k`` of the
    gradient while that finds a better optimum. Its ``bound`` is proven: the
    smaller of the unbudgeted optimum and a Lagrangian dual value (the label
    counts and expected true positives dualised; the dual splits into one
    scan per label and one top ``k`` per row, lowered by subgradient steps;
    weak duality and the bound checked against enumeration in the tests), so
    ``bound - objective`` bounds the distance to the global optimum.

    References
    ----------
    .. [1] W. Dinkelbach. "On nonlinear fractional programming." Management
       Science 13(7), 1967.
    .. [2] E. Schultheis, M. Wydmuch, W. Kotlowski, R. Babbar, K. Dembczynski.
       "Generalized test utilities for long-tail performance in extreme
       multi-label classification." NeurIPS 2023.
    .. [3] M. Jansche. "A maximum expected utility framework for binary
       sequence labeling." ACL 2007.
    .. [4] M. L. Fisher. "The Lagrangian relaxation method for solving integer
       programming problems." Management Science 27(1), 1981 (subgradient
       steps, Polyak's step size).

    Examples
    --------
    >>> from f1opt.expected import multilabel_decision
    >>> result = multilabel_decision([[0.9, 0.2], [0.6, 0.7], [0.3, 0.1]], average="micro")
    >>> result.prediction.tolist(), result.method
    ([[1, 0], [1, 1], [0, 0]], 'exact')
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    k, budget = _check_budget(k, budget)
    if average not in ("micro", "macro", "weighted", "samples"):
        raise ValueError(
            f"`average` must be 'micro', 'macro', 'weighted' or 'samples', but got {average!r}."
        )
    if objective not in _OBJECTIVES:
        raise ValueError(f"`objective` must be one of {_OBJECTIVES}, but got {objective!r}.")
    if (
        isinstance(bound_iter, bool)
        or not isinstance(bound_iter, (int, np.integer))
        or (bound_iter < 0)
    ):
        raise ValueError(
            f"`bound_iter` must be a non-negative integer (rounds of the Lagrangian bound; 0 "
            f"keeps the unbudgeted bound), but got {bound_iter!r}."
        )
    if objective == "exact" and k > 0 and average in ("macro", "weighted"):
        raise ValueError(
            f"objective='exact' has no exact method for average={average!r} with a budget "
            "(k > 0); use objective='ecm' (or 'auto'), the expected confusion matrix."
        )
    if objective == "ecm" and average == "samples":
        raise ValueError("average='samples' is solved exactly per row; use objective='auto'.")
    if objective == "auto":
        objective = "ecm" if (k > 0 and average in ("macro", "weighted")) else "exact"
    entries = _entries(probabilities)
    b2 = beta * beta
    if average == "samples":
        picked, value = _samples_decision(entries, probabilities, b2, k, budget, zero_division)
        result = (picked, value, value, 1, "exact")
    elif average == "micro":
        result = _micro_decision(
            entries, b2, beta, k, budget, objective, zero_division, max_iter, evaluate
        )
    elif objective == "exact":
        result = _label_exact_decision(entries, b2, average, zero_division)
    else:
        result = _label_ecm_decision(
            entries,
            b2,
            beta,
            average,
            k,
            budget,
            zero_division,
            max_iter,
            tol,
            evaluate,
            bound_iter,
        )
    picked, value, bound, n_iter, method = result
    return BatchDecision(_to_prediction(entries, picked), value, bound, n_iter, method)


# ----------------------------------------------------------------------- calibration


def _fit_calibrator(scores: np.ndarray, y: np.ndarray, method: str, sample_weight=None) -> dict:
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        iso.fit(scores, y, sample_weight=sample_weight)
        return {
            "x": np.asarray(iso.X_thresholds_, dtype=np.float64),
            "y": np.asarray(iso.y_thresholds_, dtype=np.float64),
        }
    a, b = platt_sigmoid(scores, y, sample_weight=sample_weight)
    return {"a": a, "b": b}


def platt_sigmoid(scores, y, sample_weight=None) -> tuple[float, float]:
    """Platt's sigmoid calibration: ``P(y = 1 | s) = 1 / (1 + exp(a s + b))``.

    Maximum likelihood on Platt's smoothed targets ``(n_+ + 1) / (n_+ + 2)`` and
    ``1 / (n_- + 2)``, which keeps ``a`` finite on separable scores.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
    y : ndarray of shape (n_samples,), 0/1
    sample_weight : ndarray of shape (n_samples,), optional
        Weights of the samples in the likelihood; ``n_+`` and ``n_-`` become
        weighted counts (integer weights give the fit of repeated samples).

    Returns
    -------
    a, b : float

    References
    ----------
    .. [1] J. Platt. "Probabilistic outputs for support vector machines and
       comparisons to regularized likelihood methods." Advances in Large Margin
       Classifiers, 1999.
    """
    from scipy.optimize import minimize

    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    weight = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, float)
    n_pos = float(weight[y > 0].sum())
    n_neg = float(weight.sum() - n_pos)
    target = np.where(y > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss_and_grad(ab):
        z = ab[0] * scores + ab[1]  # P = expit(-z)
        # -log-likelihood: sum w (t log(1 + e^z) + (1 - t) log(1 + e^-z))
        loss = np.sum(
            weight * (target * np.logaddexp(0.0, z) + (1.0 - target) * np.logaddexp(0.0, -z))
        )
        residual = weight * (target - expit(-z))  # d loss / d z
        return loss, np.array([residual @ scores, residual.sum()])

    prior = np.log((n_neg + 1.0) / (n_pos + 1.0))
    result = minimize(loss_and_grad, np.array([0.0, prior]), jac=True, method="L-BFGS-B")
    a, b = result.x
    return float(a), float(b)


def _apply_calibrator(calibrator: dict, scores: np.ndarray) -> np.ndarray:
    if "x" in calibrator:
        return np.interp(scores, calibrator["x"], calibrator["y"])
    return expit(-(calibrator["a"] * scores + calibrator["b"]))


_AVERAGES = ("binary", "micro", "macro", "weighted", "samples")
_CALIBRATIONS = (None, "isotonic", "sigmoid")


@_io.register_decider
class ExpectedF1(BaseDecider):
    """Bayes-optimal decisions for expected F-beta: no threshold, only probabilities.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta.
    average : {"binary", "micro", "macro", "weighted", "samples"}, default="binary"
        "binary": ``predict`` takes a batch of ``n`` probabilities and returns
        the prediction maximising the expected F-beta of that batch (a top-k
        set; exact while ``n <= 20 000`` and beyond when positives are rare,
        see ``EXACT_MAX_WORK``; the Taylor approximation otherwise).
        "micro", "macro", "weighted": ``predict`` takes an ``(n, L)`` batch of
        marginals (dense or scipy CSR) and maximises the expected F-beta of
        that batch, see :func:`multilabel_decision`: micro and macro exact
        under independence, weighted with the expected supports as weights
        (``sum_j E[S_j F_j] / E[S]``, the random total support replaced by
        its mean), or the F-beta of the expected confusion matrix with
        ``objective="ecm"``.
        "samples": ``predict`` takes an ``(n, L)`` matrix and returns, for each
        row, the GFM decision maximising its expected F-beta (exact under
        label independence), or an ``(n, L, L)`` matrix
        ``P(y_l = 1, |y| = s)`` with ``p_empty`` for any joint distribution.
    calibration : {None, "isotonic", "sigmoid"}, default=None
        None: ``predict`` takes probabilities as they are and ``fit`` is
        optional. Otherwise ``fit(scores, y)`` fits one calibrator per label
        (scikit-learn's isotonic regression, or Platt's sigmoid) and
        ``predict`` takes raw scores. For sparse scores only the stored
        entries are calibrated (fitted on them, applied to them): an unstored
        entry stays probability 0.
    zero_division : float, default=0.0
        F when truth and prediction are both empty, as in scikit-learn; the
        expectations follow it.
    k : int, default=0
        Budget: exactly ``k`` labels per row (``budget="exactly"``; fewer in a
        row with fewer non-zero probabilities, since a probability-0 label is
        never predicted) or at most ``k`` (``budget="at_most"``); for
        "binary", ``k`` positives in the batch. 0 means no budget.
    budget : {"exactly", "at_most"}, default="exactly"
    objective : {"auto", "exact", "ecm"}, default="auto"
        For "micro", "macro" and "weighted": the exact expected F-beta, or the
        F-beta of the expected confusion matrix (the ETU approximation of
        xCOLUMNs); "auto" is exact except for macro and weighted with a
        budget, which use the expected confusion matrix and block coordinate
        ascent. Ignored for "binary" and "samples" (always exact).

    Attributes
    ----------
    calibrators_ : list of dict
        One per label (one for "binary"): isotonic ``{"x", "y"}`` knots,
        interpolated linearly and clipped, or sigmoid ``{"a", "b"}`` with
        ``p = 1 / (1 + exp(a s + b))``. Empty without calibration.
    average_ : str
    n_labels_ : int
        Number of label columns seen in ``fit`` (0 for 1-D scores).

    See Also
    --------
    expected_fbeta : the expected F-beta of a given prediction.
    multilabel_decision : the kernel of the micro, macro and weighted batches.
    GlobalThreshold : a threshold learned from validation labels instead.

    Notes
    -----
    With ``average`` "binary", "micro", "macro" or "weighted" the decision is
    about the batch as a whole: the same probability may be predicted positive
    in one batch and negative in another (the best cut depends on every
    probability), so pass the whole batch whose F-beta counts, not one sample
    at a time; ``batch_dependent`` is True. With "samples" every row is decided
    on its own (with or without a budget, which is per row), and a batch of
    rows gives exactly the decisions of the rows one by one
    (``batch_dependent`` is False). All assume the labels independent given
    the probabilities (except for the 3-D GFM matrix) and calibrated
    probabilities; fit a calibration on held-out scores when they are not.

    References
    ----------
    .. [1] D. D. Lewis. "Evaluating and optimizing autonomous text
       classification systems." SIGIR 1995.
    .. [2] N. Ye, K. M. A. Chai, W. S. Lee, H. L. Chieu. "Optimizing
       F-measures: a tale of two approaches." ICML 2012.
    .. [3] K. Dembczynski, W. Waegeman, W. Cheng, E. Huellermeier. "An exact
       algorithm for F-measure maximization." NIPS 2011.
    .. [4] E. Schultheis, M. Wydmuch, W. Kotlowski, R. Babbar, K. Dembczynski.
       "Generalized test utilities for long-tail performance in extreme
       multi-label classification." NeurIPS 2023.

    Examples
    --------
    >>> from f1opt import ExpectedF1
    >>> ExpectedF1().predict([0.9, 0.5, 0.1]).tolist()
    [1, 1, 0]
    >>> decider = ExpectedF1(average="samples", zero_division=1.0)
    >>> decider.predict([[0.9, 0.5, 0.1], [0.05, 0.1, 0.02]]).tolist()
    [[1, 1, 0], [0, 0, 0]]
    >>> ExpectedF1(average="macro", k=1).predict([[0.9, 0.8], [0.7, 0.1]]).tolist()
    [[0, 1], [1, 0]]
    """

    _fitted_attributes = ("calibrators_", "average_", "n_labels_")

    def __init__(
        self,
        beta=1.0,
        average="binary",
        calibration=None,
        zero_division=0.0,
        k=0,
        budget="exactly",
        objective="auto",
    ):
        self.beta = beta
        self.average = average
        self.calibration = calibration
        self.zero_division = zero_division
        self.k = k
        self.budget = budget
        self.objective = objective

    @property
    def batch_dependent(self) -> bool:
        """True when a row's decision depends on the other rows predicted with it.

        True for "binary", "micro", "macro" and "weighted" (the batch's F is
        maximised, with or without a budget); False for "samples", whose
        decisions (and per-row budgets) are per row.
        """
        return self.average != "samples"

    def _check_params(self):
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        if self.average not in _AVERAGES:
            raise ValueError(f"`average` must be one of {_AVERAGES}, but got {self.average!r}.")
        if self.calibration not in _CALIBRATIONS:
            raise ValueError(
                f"`calibration` must be one of {_CALIBRATIONS}, but got {self.calibration!r}."
            )
        _check_budget(self.k, self.budget)
        if self.objective not in _OBJECTIVES:
            raise ValueError(
                f"`objective` must be one of {_OBJECTIVES}, but got {self.objective!r}."
            )
        if self.objective == "exact" and self.k and self.average in ("macro", "weighted"):
            raise ValueError(
                f"objective='exact' has no exact method for average={self.average!r} with a "
                "budget (k > 0); use objective='ecm' (or 'auto'), the expected confusion matrix."
            )
        return beta, zero_division

    def __sklearn_is_fitted__(self) -> bool:
        return self.calibration is None or hasattr(self, "calibrators_")

    def fit(self, scores, y, sample_weight=None):
        """Fit the calibrators (one per label); without calibration only check shapes.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) for "binary" or (n_samples, n_labels)
            Dense, or a scipy sparse matrix (multilabel): each label's
            calibrator is then fitted on its stored entries only.
        y : array-like (or sparse matrix) of the same shape, 0/1
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights of the rows in the calibrators' fits
            (isotonic regression and Platt's likelihood); integer weights give
            the calibrators of repeated rows.

        Returns
        -------
        self : ExpectedF1
        """
        self._check_params()
        multilabel = self.average != "binary"
        if multilabel and (sparse.issparse(scores) or sparse.issparse(y)):
            return self._fit_sparse(scores, y, sample_weight)
        scores, y = check_scores_and_labels(scores, y, multilabel=multilabel)
        scores = scores.astype(np.float64, copy=False)
        weight = check_sample_weight(sample_weight, scores.shape[0])
        if self.calibration is None:
            calibrators = []
        elif multilabel:
            calibrators = [
                _fit_calibrator(scores[:, j], y[:, j], self.calibration, weight)
                for j in range(scores.shape[1])
            ]
        else:
            calibrators = [_fit_calibrator(scores, y, self.calibration, weight)]
        self.calibrators_ = calibrators
        self.average_ = self.average
        self.n_labels_ = scores.shape[1] if multilabel else 0
        return self

    def _fit_sparse(self, scores, y, sample_weight):
        if not sparse.issparse(scores):
            raise ValueError("With sparse `y`, pass the scores as a sparse matrix too.")
        entries_s = sparse.csc_array(scores)
        n, n_labels = entries_s.shape
        y = sparse.csc_array(y) if sparse.issparse(y) else check_indicator_labels(y, name="y")
        if y.shape != (n, n_labels):
            raise ValueError(
                f"`scores` and `y` must have the same shape, but got {(n, n_labels)} and {y.shape}."
            )
        weight = check_sample_weight(sample_weight, n)
        calibrators = []
        if self.calibration is not None:
            entries_s.sort_indices()
            for j in range(n_labels):
                start, stop = entries_s.indptr[j], entries_s.indptr[j + 1]
                rows = entries_s.indices[start:stop]
                values = np.asarray(entries_s.data[start:stop], dtype=np.float64)
                if not np.isfinite(values).all():
                    raise ValueError("`scores` must be finite (no NaN or infinity).")
                column = y[:, [j]].toarray().ravel() if sparse.issparse(y) else y[:, j]
                labels = column[rows]
                if rows.size == 0:
                    calibrators.append(
                        {"x": np.zeros(1), "y": np.zeros(1)}
                        if self.calibration == "isotonic"
                        else {"a": 0.0, "b": 0.0}
                    )
                    continue
                w = None if weight is None else weight[rows]
                calibrators.append(_fit_calibrator(values, labels, self.calibration, w))
        self.calibrators_ = calibrators
        self.average_ = self.average
        self.n_labels_ = n_labels
        return self

    def calibrate(self, scores):
        """Probabilities from scores through the fitted calibrators (checked as-is without).

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels), or sparse
            A sparse matrix keeps its sparsity: only the stored entries are
            calibrated.

        Returns
        -------
        probabilities : ndarray of float64 of the same shape (CSR for sparse input)
        """
        check_is_fitted(self)
        self._check_params()
        ndim = 1 if self.average == "binary" else 2
        if ndim == 2 and sparse.issparse(scores):
            if hasattr(self, "n_labels_"):
                _check_width(scores, self.n_labels_, type(self).__name__)
            if self.calibration is None:
                _entries(scores, name="scores")  # checks the stored values
                return scores
            csr = sparse.csr_array(scores, dtype=np.float64, copy=True)
            csr.sum_duplicates()
            if not np.isfinite(csr.data).all():
                raise ValueError("`scores` must be finite (no NaN or infinity).")
            data = np.empty_like(csr.data)
            order = np.argsort(csr.indices, kind="stable")  # the entries label by label
            sizes, starts = _segments(csr.indices[order].astype(np.int64), csr.shape[1])
            for j, c in enumerate(self.calibrators_):
                at = order[starts[j] : starts[j] + sizes[j]]
                data[at] = _apply_calibrator(c, csr.data[at])
            csr.data = data
            return csr if isinstance(scores, sparse.sparray) else sparse.csr_matrix(csr)
        if self.calibration is None:
            p = _check_probabilities(scores, ndim=ndim)
        else:
            p = check_scores(scores, ndim=ndim).astype(np.float64, copy=False)
        if hasattr(self, "n_labels_"):
            _check_width(p, self.n_labels_, type(self).__name__)
        if self.calibration is None:
            return p
        if p.ndim == 1:
            return _apply_calibrator(self.calibrators_[0], p)
        return np.column_stack(
            [_apply_calibrator(c, p[:, j]) for j, c in enumerate(self.calibrators_)]
        )

    def predict(self, probabilities, p_empty=None):
        """The decisions maximising expected F-beta.

        With ``average`` "binary", "micro", "macro" or "weighted" the decisions
        depend on the whole batch passed (``batch_dependent`` is True): a row
        may be decided differently in another batch, so pass exactly the batch
        whose F-beta counts. With "samples" each row is decided on its own.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples,), (n_samples, n_labels) or \
(n_samples, n_labels, n_labels), or a scipy sparse matrix (n_samples, n_labels)
            Probabilities (scores when a calibration is fitted). Sparse: an
            unstored entry is probability 0 and never predicted. For
            ``average="samples"`` a 3-D array is the GFM matrix
            ``P(y_l = 1, |y| = s)`` (s = 1..L) of any joint distribution.
        p_empty : array-like of shape (n_samples,), optional
            ``P(y = 0)`` per row; required with the 3-D matrix only.

        Returns
        -------
        y_pred : ndarray of int8 of shape (n_samples,) or (n_samples, n_labels)
            A CSR matrix of int8 for sparse input.
        """
        beta, zero_division = self._check_params()
        if self.average == "samples" and np.ndim(probabilities) == 3:
            if self.calibration is not None:
                raise ValueError(
                    "A GFM matrix P(y_l = 1, |y| = s) cannot be calibrated per label; "
                    "use calibration=None with a 3-D `probabilities`."
                )
            if p_empty is None:
                raise ValueError("A 3-D GFM matrix needs `p_empty`, P(y = 0) for each row.")
            check_is_fitted(self)
            matrix = np.asarray(probabilities)
            if hasattr(self, "n_labels_") and matrix.shape[1] != self.n_labels_:
                raise ValueError(
                    f"ExpectedF1 was fitted on {self.n_labels_} label columns, but the "
                    f"matrix has {matrix.shape[1]} labels."
                )
            return gfm(matrix, p_empty, beta, zero_division, k=self.k, budget=self.budget)[0]
        if p_empty is not None:
            raise ValueError("`p_empty` is only used with a 3-D GFM matrix (average='samples').")
        p = self.calibrate(probabilities)
        if self.average == "binary":
            return batch_decision(p, beta, zero_division, k=self.k, budget=self.budget)[0]
        objective = "auto" if self.average == "samples" else self.objective
        return multilabel_decision(
            p,
            beta,
            self.average,
            k=self.k,
            budget=self.budget,
            objective=objective,
            zero_division=zero_division,
            evaluate=False,
        ).prediction

    def score(self, scores, y, sample_weight=None) -> float:
        """F-beta of ``predict(scores)`` against ``y``, with the decider's average.

        Parameters
        ----------
        scores : array-like or sparse matrix, as for ``predict``
        y : array-like of the same shape, 0/1
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows in the score (the decisions stay unweighted).

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` on the same predictions.
        """
        check_is_fitted(self)
        beta, zero_division = self._check_params()
        prediction = self.predict(scores)
        if sparse.issparse(prediction):
            prediction = prediction.toarray()
        if sparse.issparse(y):
            y = y.toarray()
        if sample_weight is None:
            return fbeta_score(
                y, prediction, beta=beta, average=self.average, zero_division=zero_division
            )
        from sklearn.metrics import fbeta_score as sk_fbeta_score

        return float(
            sk_fbeta_score(
                np.asarray(y),
                prediction,
                beta=beta,
                average=self.average,
                zero_division=zero_division,
                sample_weight=check_sample_weight(
                    sample_weight, prediction.shape[0], allow_all_zero=True
                ),
            )
        )

    def save(self, path):
        """Write the decider (parameters and calibrators) as versioned JSON.

        Returns
        -------
        path : pathlib.Path
        """
        check_is_fitted(self)
        return _io.save(self, path)

    def _fitted_to_json(self, path) -> dict:
        if not hasattr(self, "calibrators_"):
            return {}
        return {name: getattr(self, name) for name in self._fitted_attributes}

    @classmethod
    def _from_json(cls, params: dict, fitted: dict, path):
        decider = cls(**params)
        decider._check_params()
        if fitted:
            for name in cls._fitted_attributes:
                if name not in fitted:
                    raise KeyError(f"missing fitted attribute {name!r}")
                setattr(decider, name, fitted[name])
            decider._check_loaded()
        elif decider.calibration is not None:
            raise KeyError("missing fitted calibrators")
        return decider

    def _check_loaded(self):
        self.n_labels_ = int(self.n_labels_)
        if self.average_ != self.average:
            raise ValueError(f"average_ {self.average_!r} differs from average")
        if not isinstance(self.calibrators_, list):
            raise ValueError("calibrators_ must be a list")
        expected = 0 if self.calibration is None else max(1, self.n_labels_)
        if len(self.calibrators_) != expected:
            raise ValueError(f"expected {expected} calibrators, got {len(self.calibrators_)}")
        calibrators = []
        for c in self.calibrators_:
            if self.calibration == "isotonic":
                x = np.asarray(c["x"], dtype=np.float64)
                y = np.asarray(c["y"], dtype=np.float64)
                if x.ndim != 1 or x.shape != y.shape or x.size == 0:
                    raise ValueError("isotonic knots x and y must be 1-D of one length")
                if not (np.isfinite(x).all() and (np.diff(x) >= 0).all()):
                    raise ValueError("isotonic knots x must be finite and non-decreasing")
                if not (np.isfinite(y).all() and y.min() >= 0 and y.max() <= 1):
                    raise ValueError("isotonic values y must lie in [0, 1]")
                calibrators.append({"x": x, "y": y})
            else:
                a, b = float(c["a"]), float(c["b"])
                if not (np.isfinite(a) and np.isfinite(b)):
                    raise ValueError("sigmoid parameters a and b must be finite")
                calibrators.append({"a": a, "b": b})
        self.calibrators_ = calibrators
