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

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft
from scipy.special import expit
from sklearn.utils.validation import check_is_fitted

from . import _io
from ._validation import (
    check_beta,
    check_binary_labels,
    check_indicator_labels,
    check_scores,
    check_scores_and_labels,
    check_zero_division,
)
from .deciders import BaseDecider, _check_width
from .metrics import fbeta_from_counts, fbeta_score

__all__ = [
    "EXACT_MAX_WORK",
    "ExpectedF1",
    "expected_fbeta",
    "poisson_binomial_pmf",
    "joint_size_matrix",
    "topk_expected_fbeta",
    "batch_decision",
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


def _topk_exact(p_desc: np.ndarray, b2: float) -> np.ndarray:
    """Exact E[F_k] for k = 1..n of a descending probability vector (see module doc)."""
    n = p_desc.size
    pmf = poisson_binomial_pmf(p_desc)
    lo, hi = _bernstein_window(p_desc)
    window = pmf[lo : hi + 1]
    width = window.size
    b2s = b2 * np.arange(lo, lo + width + 1, dtype=np.float64)[:, None]  # b^2 s, s = lo + r
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
        cumulative /= denominator
        expected[start:stop] = (1.0 + b2) * cumulative.sum(axis=0)
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


def _topk_expected_sorted(p_desc, b2, zero_division, method):
    if method == "auto":
        lo, hi = _bernstein_window(p_desc)
        work = p_desc.size * (hi - lo + 2)
        method = "exact" if work <= EXACT_MAX_WORK else "approx"
    expected = np.empty(p_desc.size + 1)
    expected[0] = zero_division * _prob_all_negative(p_desc)
    kernel = _topk_exact if method == "exact" else _topk_approx
    expected[1:] = kernel(p_desc, b2)
    return expected


def batch_decision(
    probabilities, beta: float = 1.0, zero_division: float = 0.0, method: str = "auto"
) -> tuple[np.ndarray, float]:
    """The 0/1 prediction of a batch that maximises its expected F-beta.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples,)
        Independent, calibrated probabilities.
    beta, zero_division, method
        As in :func:`topk_expected_fbeta`.

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
    order = np.argsort(-p, kind="stable")
    expected = _topk_expected_sorted(p[order], beta * beta, zero_division, method)
    k = int(np.argmax(expected))
    prediction = np.zeros(p.size, dtype=np.int8)
    prediction[order[:k]] = 1
    return prediction, float(expected[k])


# -------------------------------------------------------------------------- GFM


def _size_weights(n_labels: int, b2: float, s_values: np.ndarray) -> np.ndarray:
    """``(1 + b^2) / (k + b^2 s)`` for k = 1..L (rows) and the given s (columns)."""
    k = np.arange(1, n_labels + 1, dtype=np.float64)[:, None]
    return (1.0 + b2) / (k + b2 * s_values[None, :])


def gfm_independent(
    probabilities, beta: float = 1.0, zero_division: float = 0.0
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
    >>> prediction, expected = gfm_independent([[0.9, 0.5, 0.1], [0.05, 0.1, 0.02]])
    >>> prediction.tolist(), expected.round(4).tolist()
    ([[1, 1, 0], [1, 1, 0]], [0.766, 0.0978])
    >>> gfm_independent([[0.05, 0.1, 0.02]], zero_division=1.0)[0].tolist()
    [[0, 0, 0]]
    """
    beta = check_beta(beta)
    zero_division = check_zero_division(zero_division)
    p = _check_probabilities(probabilities, ndim=2)
    n, n_labels = p.shape
    b2 = beta * beta
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
        best_k[start:stop] = np.argmax(expected, axis=1)
        best[start:stop] = expected[np.arange(stop - start), best_k[start:stop]]
    prediction = np.zeros((n, n_labels), dtype=np.int8)
    chosen = np.arange(n_labels)[None, :] < best_k[:, None]  # rank < k
    np.put_along_axis(prediction, order, chosen.astype(np.int8), axis=1)
    return prediction, best


def gfm(
    matrix, p_empty, beta: float = 1.0, zero_division: float = 0.0
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
    best_k = np.argmax(expected, axis=1)
    prediction = np.zeros((n, n_labels), dtype=np.int8)
    for i in np.flatnonzero(best_k):
        k = best_k[i]
        chosen = np.argsort(-gains[i, :, k - 1], kind="stable")[:k]
        prediction[i, chosen] = 1
    return prediction, expected[np.arange(n), best_k]


# -------------------------------------------------------------- expected F of a given h


def _expected_from_count_pmfs(pmf_a, pmf_b, lo_a, lo_b, k, beta, zero_division):
    """Sum over (a, b) of P(A = a) P(B = b) F(tp = a, k, p = a + b), rows in the leading axis."""
    a = lo_a + np.arange(pmf_a.shape[-1], dtype=np.float64)
    b = lo_b + np.arange(pmf_b.shape[-1], dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)[..., None, None]
    f = fbeta_from_counts(a[:, None], k, a[:, None] + b[None, :], beta, zero_division)
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


def _expected_batch(p, prediction, beta, zero_division):
    """Exact expected F-beta of one batch prediction (1-D), windowed Poisson-binomials."""
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
            )
        )
    return total


def expected_fbeta(probabilities, prediction, beta=1.0, zero_division=0.0) -> float:
    """Exact expected F-beta of a given 0/1 prediction under independent labels.

    Parameters
    ----------
    probabilities : array-like of shape (n_samples,) or (n_samples, n_labels)
        Independent probabilities that each label is 1.
    prediction : array-like of the same shape, 0/1
    beta : float, default=1.0
    zero_division : float, default=0.0
        F when truth and prediction are both empty, as in scikit-learn.

    Returns
    -------
    expected : float
        1-D: E[F-beta of the whole batch] (``average="binary"``). 2-D: the mean
        over rows of each row's expected F-beta (``average="samples"``).
        Computed from the two Poisson-binomial distributions of the positives
        inside and outside the prediction, ``O(|A| |B|)`` on their (windowed)
        supports, never by enumerating label vectors.

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
    p = _check_probabilities(probabilities, ndim=(1, 2))
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


# ----------------------------------------------------------------------- calibration


def _fit_calibrator(scores: np.ndarray, y: np.ndarray, method: str) -> dict:
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
        return {
            "x": np.asarray(iso.X_thresholds_, dtype=np.float64),
            "y": np.asarray(iso.y_thresholds_, dtype=np.float64),
        }
    a, b = platt_sigmoid(scores, y)
    return {"a": a, "b": b}


def platt_sigmoid(scores, y) -> tuple[float, float]:
    """Platt's sigmoid calibration: ``P(y = 1 | s) = 1 / (1 + exp(a s + b))``.

    Maximum likelihood on Platt's smoothed targets ``(n_+ + 1) / (n_+ + 2)`` and
    ``1 / (n_- + 2)``, which keeps ``a`` finite on separable scores.

    Parameters
    ----------
    scores : ndarray of shape (n_samples,)
    y : ndarray of shape (n_samples,), 0/1

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
    n_pos = float(np.count_nonzero(y))
    n_neg = float(y.size - n_pos)
    target = np.where(y > 0, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss_and_grad(ab):
        z = ab[0] * scores + ab[1]  # P = expit(-z)
        # -log-likelihood: sum t log(1 + e^z) + (1 - t) log(1 + e^-z)
        loss = np.sum(target * np.logaddexp(0.0, z) + (1.0 - target) * np.logaddexp(0.0, -z))
        residual = target - expit(-z)  # d loss / d z
        return loss, np.array([residual @ scores, residual.sum()])

    prior = np.log((n_neg + 1.0) / (n_pos + 1.0))
    result = minimize(loss_and_grad, np.array([0.0, prior]), jac=True, method="L-BFGS-B")
    a, b = result.x
    return float(a), float(b)


def _apply_calibrator(calibrator: dict, scores: np.ndarray) -> np.ndarray:
    if "x" in calibrator:
        return np.interp(scores, calibrator["x"], calibrator["y"])
    return expit(-(calibrator["a"] * scores + calibrator["b"]))


_AVERAGES = ("binary", "samples")
_CALIBRATIONS = (None, "isotonic", "sigmoid")


@_io.register_decider
class ExpectedF1(BaseDecider):
    """Bayes-optimal decisions for expected F-beta: no threshold, only probabilities.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta.
    average : {"binary", "samples"}, default="binary"
        "binary": ``predict`` takes a batch of ``n`` probabilities and returns
        the prediction maximising the expected F-beta of that batch (a top-k
        set; exact while ``n <= 20 000`` and beyond when positives are rare,
        see ``EXACT_MAX_WORK``; the Taylor approximation otherwise).
        "samples": ``predict`` takes an ``(n, L)`` matrix and returns, for each
        row, the GFM decision maximising its expected F-beta (exact under
        label independence), or an ``(n, L, L)`` matrix
        ``P(y_l = 1, |y| = s)`` with ``p_empty`` for any joint distribution.
    calibration : {None, "isotonic", "sigmoid"}, default=None
        None: ``predict`` takes probabilities as they are and ``fit`` is
        optional. Otherwise ``fit(scores, y)`` fits one scikit-learn
        calibrator per label (isotonic regression, or Platt's sigmoid) and
        ``predict`` takes raw scores.
    zero_division : float, default=0.0
        F when truth and prediction are both empty, as in scikit-learn; the
        expectations follow it.

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
    GlobalThreshold : a threshold learned from validation labels instead.

    Notes
    -----
    With ``average="binary"`` the decision is about the batch as a whole: the
    same probability may be predicted positive in one batch and negative in
    another (the best k depends on every probability), so pass the whole batch
    whose F-beta counts, not one sample at a time. With ``average="samples"``
    every row is decided on its own, and a batch of rows gives exactly the
    decisions of the rows one by one. Both assume the labels independent given
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

    Examples
    --------
    >>> from f1opt import ExpectedF1
    >>> ExpectedF1().predict([0.9, 0.5, 0.1]).tolist()
    [1, 1, 0]
    >>> decider = ExpectedF1(average="samples", zero_division=1.0)
    >>> decider.predict([[0.9, 0.5, 0.1], [0.05, 0.1, 0.02]]).tolist()
    [[1, 1, 0], [0, 0, 0]]
    """

    _fitted_attributes = ("calibrators_", "average_", "n_labels_")

    def __init__(self, beta=1.0, average="binary", calibration=None, zero_division=0.0):
        self.beta = beta
        self.average = average
        self.calibration = calibration
        self.zero_division = zero_division

    def _check_params(self):
        beta = check_beta(self.beta)
        zero_division = check_zero_division(self.zero_division)
        if self.average not in _AVERAGES:
            raise ValueError(f"`average` must be one of {_AVERAGES}, but got {self.average!r}.")
        if self.calibration not in _CALIBRATIONS:
            raise ValueError(
                f"`calibration` must be one of {_CALIBRATIONS}, but got {self.calibration!r}."
            )
        return beta, zero_division

    def __sklearn_is_fitted__(self) -> bool:
        return self.calibration is None or hasattr(self, "calibrators_")

    def fit(self, scores, y):
        """Fit the calibrators (one per label); without calibration only check shapes.

        Parameters
        ----------
        scores : array-like of shape (n_samples,) for "binary" or (n_samples, n_labels)
        y : array-like of the same shape, 0/1

        Returns
        -------
        self : ExpectedF1
        """
        self._check_params()
        multilabel = self.average == "samples"
        scores, y = check_scores_and_labels(scores, y, multilabel=multilabel)
        scores = scores.astype(np.float64, copy=False)
        if self.calibration is None:
            calibrators = []
        elif multilabel:
            calibrators = [
                _fit_calibrator(scores[:, j], y[:, j], self.calibration)
                for j in range(scores.shape[1])
            ]
        else:
            calibrators = [_fit_calibrator(scores, y, self.calibration)]
        self.calibrators_ = calibrators
        self.average_ = self.average
        self.n_labels_ = scores.shape[1] if multilabel else 0
        return self

    def calibrate(self, scores) -> np.ndarray:
        """Probabilities from scores through the fitted calibrators (checked as-is without).

        Parameters
        ----------
        scores : array-like of shape (n_samples,) or (n_samples, n_labels)

        Returns
        -------
        probabilities : ndarray of float64 of the same shape
        """
        check_is_fitted(self)
        self._check_params()
        ndim = 2 if self.average == "samples" else 1
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

        Parameters
        ----------
        probabilities : array-like of shape (n_samples,), (n_samples, n_labels) or \
(n_samples, n_labels, n_labels)
            Probabilities (scores when a calibration is fitted). For
            ``average="samples"`` a 3-D array is the GFM matrix
            ``P(y_l = 1, |y| = s)`` (s = 1..L) of any joint distribution.
        p_empty : array-like of shape (n_samples,), optional
            ``P(y = 0)`` per row; required with the 3-D matrix only.

        Returns
        -------
        y_pred : ndarray of int8 of shape (n_samples,) or (n_samples, n_labels)
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
            return gfm(matrix, p_empty, beta, zero_division)[0]
        if p_empty is not None:
            raise ValueError("`p_empty` is only used with a 3-D GFM matrix (average='samples').")
        p = self.calibrate(probabilities)
        if self.average == "binary":
            return batch_decision(p, beta, zero_division)[0]
        return gfm_independent(p, beta, zero_division)[0]

    def score(self, scores, y) -> float:
        """F-beta of ``predict(scores)`` against ``y`` ("binary": of the batch; "samples").

        Returns
        -------
        score : float
            Equal to :func:`sklearn.metrics.fbeta_score` on the same predictions.
        """
        check_is_fitted(self)
        beta, zero_division = self._check_params()
        return fbeta_score(
            y, self.predict(scores), beta=beta, average=self.average, zero_division=zero_division
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
