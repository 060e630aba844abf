"""Multiclass macro-F-beta: class weights and offsets fitted by exact line searches.

The rule predicts ``argmax_k (w_k p_ik + c_k)`` (first maximum on ties, as
``numpy.argmax``). Linearising macro-F around its optimum shows why offsets
belong beside the weights: the gain of putting sample ``i`` in class ``k`` is
``a_k (p_ik - F_k / (1 + beta^2))`` with ``a_k = (1 + beta^2) / (beta^2 P_k + K_k)``
(``P_k`` true and ``K_k`` predicted members of class ``k``), so weights alone
are a subfamily. The linearised rule of the plain argmax predictions is the
starting point; then each weight and each offset in turn is set to its best
value by an exact line search, sweeping until no line search improves.

One line search moves one parameter ``theta`` (a weight ``w_k`` or an offset
``c_k``). Sample ``i``'s score for class ``k`` is ``slope_i theta + base_i``
and its best score among the other classes, ``m_i``, does not move, so the
sample switches between class ``k`` and that other class exactly once, at
``theta_i = (m_i - base_i) / slope_i``. Sorting the breakpoints and updating
the per-class true-positive and predicted counts incrementally gives macro-F
on every interval between consecutive breakpoints in ``O(n log n + n K)``; the
best interval is exact, and its midpoint is taken (ties: the interval closest
to the current value, i.e. the smallest change; no move unless F improves).

References
----------
.. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
   classifiers to maximize F1 measure." ECML PKDD 2014 (the linearisation
   ``F*/2``: the optimal decision compares probabilities with half the optimal F).
.. [2] S. Narasimhan, H. Ramaswamy, A. Saha, S. Agarwal. "Consistent multiclass
   algorithms for complex performance measures." ICML 2015 (the optimal
   classifier for macro-F is a weighted, offset argmax of the class probabilities).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import _io
from ._validation import check_beta, check_sample_weight, check_scores, check_zero_division
from .deciders import BaseDecider
from .metrics import fbeta_from_counts, fbeta_score

__all__ = [
    "ClassWeights",
    "LineSearch",
    "class_counts",
    "fit_class_weights",
    "joint_move",
    "linearised_rule",
    "macro_f_line_search",
    "predict_class_weights",
]

_TOL = 1e-12  # an F gain below this is no improvement (F values are ratios of counts)


class LineSearch(NamedTuple):
    """Macro-F on every interval of one parameter (the result of :func:`macro_f_line_search`).

    Attributes
    ----------
    lows, highs : ndarray of shape (n_intervals,)
        The open intervals ``(lows[g], highs[g])`` between consecutive distinct
        breakpoints (the first starts at ``lower``, the last ends at ``+inf``).
    points : ndarray of shape (n_intervals,)
        A value strictly inside each interval: the midpoint, or a step of
        ``max(1, |edge|, spread)`` beyond the edge for an unbounded interval.
    scores : ndarray of shape (n_intervals,)
        Macro-F-beta of the rule with the parameter anywhere in that interval.
    """

    lows: np.ndarray
    highs: np.ndarray
    points: np.ndarray
    scores: np.ndarray


def predict_class_weights(probabilities, weights, offsets) -> np.ndarray:
    """Class ids ``argmax_k (weights[k] * probabilities[:, k] + offsets[k])``.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)
    weights, offsets : ndarray of shape (n_classes,)
        An offset of ``-inf`` (with weight 0) never predicts its class.

    Returns
    -------
    y_pred : ndarray of int64 of shape (n_samples,)
        The first maximum on ties, as :func:`numpy.argmax`.
    """
    return np.argmax(probabilities * weights + offsets, axis=1).astype(np.int64)


def class_counts(y, y_pred, n_classes: int, sample_weight=None):
    """Per-class true positives, predicted and actual members (weighted counts).

    Returns
    -------
    tp, k, p : ndarray of shape (n_classes,)
        int64 without ``sample_weight``, float64 with it.
    """
    hit = y_pred == y
    if sample_weight is None:
        tp = np.bincount(y_pred[hit], minlength=n_classes)
        k = np.bincount(y_pred, minlength=n_classes)
        p = np.bincount(y, minlength=n_classes)
        return tp, k, p
    tp = np.bincount(y_pred[hit], weights=sample_weight[hit], minlength=n_classes)
    k = np.bincount(y_pred, weights=sample_weight, minlength=n_classes)
    p = np.bincount(y, weights=sample_weight, minlength=n_classes)
    return tp, k, p


def _macro_f(y, y_pred, n_classes, beta, sample_weight=None):
    tp, k, p = class_counts(y, y_pred, n_classes, sample_weight)
    return float(fbeta_from_counts(tp, k, p, beta).mean())


def linearised_rule(probabilities, y, y_pred, beta: float = 1.0, sample_weight=None):
    """Weights and offsets of the macro-F linearisation around ``y_pred``.

    The gain of putting sample ``i`` in class ``k`` is
    ``a_k (p_ik - F_k / (1 + beta^2))`` with
    ``a_k = (1 + beta^2) / (beta^2 P_k + K_k)``; the weights are scaled to mean 1.
    Every class must have at least one member in ``y``.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)
    y, y_pred : ndarray of int of shape (n_samples,)
    beta : float, default=1.0

    Returns
    -------
    weights, offsets : ndarray of shape (n_classes,)
    """
    n_classes = probabilities.shape[1]
    tp, k, p = class_counts(y, y_pred, n_classes, sample_weight)
    b2 = beta * beta
    a = (1.0 + b2) / (b2 * p + k)
    f = (1.0 + b2) * tp / (b2 * p + k)
    weights = a / a.mean()
    return weights, -weights * f / (1.0 + b2)


def macro_f_line_search(
    slope,
    base,
    other_max,
    other_arg,
    y,
    k: int,
    n_classes: int,
    beta=1.0,
    lower=-np.inf,
    sample_weight=None,
) -> LineSearch:
    """Exact macro-F-beta as one parameter of class ``k`` moves, on every interval.

    Sample ``i`` scores ``slope[i] * theta + base[i]`` for class ``k`` and
    ``other_max[i]`` for its best other class ``other_arg[i]``; it is predicted
    ``k`` iff its class-``k`` score is larger (on an exact tie, iff
    ``k < other_arg[i]``, as :func:`numpy.argmax`). Every class must have at
    least one member in ``y``.

    Parameters
    ----------
    slope, base, other_max : ndarray of float of shape (n_samples,)
    other_arg : ndarray of int of shape (n_samples,)
        Never equal to ``k``.
    y : ndarray of int of shape (n_samples,)
        True class ids in ``0 .. n_classes - 1``.
    k : int
    n_classes : int
    beta : float, default=1.0
    lower : float, default=-inf
        ``theta`` ranges over ``(lower, +inf)`` (weights use ``lower=0``).
    sample_weight : ndarray of shape (n_samples,), default=None
        Weighted counts.

    Returns
    -------
    result : LineSearch
        Macro-F on each interval between consecutive distinct breakpoints
        ``(other_max - base) / slope``; ``O(n log n + n n_classes)``.
    """
    moving = slope != 0
    fixed_in_k = ~moving & ((base > other_max) | ((base == other_max) & (k < other_arg)))
    idx = np.flatnonzero(moving)
    with np.errstate(over="ignore"):  # tiny probabilities: the breakpoint is at +-inf
        theta = (other_max[idx] - base[idx]) / slope[idx]
    rising = slope[idx] > 0
    # membership just above ``lower``: rising samples are in k iff theta_i <= lower,
    # falling samples iff theta_i > lower; later breakpoints are the events.
    start_in_k = np.where(rising, theta <= lower, theta > lower)
    in_k = fixed_in_k.copy()
    in_k[idx[start_in_k]] = True
    y_pred = np.where(in_k, k, other_arg)
    tp0, k0, p = class_counts(y, y_pred, n_classes, sample_weight)

    live = (theta > lower) & np.isfinite(theta)  # a breakpoint at +inf is never reached
    order = np.argsort(theta[live], kind="stable")
    events = idx[live][order]
    breaks = theta[live][order]
    sign = np.where(rising[live][order], 1.0, -1.0)  # +1 joins k, -1 leaves k
    if sample_weight is not None:
        sign = sign * sample_weight[events]
    n_events = events.size

    d_k = np.zeros((n_events + 1, n_classes))
    d_tp = np.zeros((n_events + 1, n_classes))
    d_k[0] = k0
    d_tp[0] = tp0
    rows = np.arange(1, n_events + 1)
    other = other_arg[events]
    truth = y[events]
    d_k[rows, k] += sign
    d_k[rows, other] -= sign
    d_tp[rows, k] += sign * (truth == k)
    d_tp[rows, other] -= sign * (truth == other)
    np.cumsum(d_k, axis=0, out=d_k)
    np.cumsum(d_tp, axis=0, out=d_tp)

    # states between distinct breakpoints: before the first, after each group of ties
    if n_events:
        last_of_group = np.flatnonzero(np.append(breaks[1:] != breaks[:-1], True))
        edges = breaks[last_of_group]
        states = np.concatenate(([0], last_of_group + 1))
    else:
        edges = np.empty(0)
        states = np.zeros(1, dtype=np.int64)
    f = fbeta_from_counts(d_tp[states], d_k[states], p, beta).mean(axis=1)

    lows = np.concatenate(([lower], edges))
    highs = np.concatenate((edges, [np.inf]))
    spread = float(edges[-1] - edges[0]) if edges.size else 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        points = lows + (highs - lows) / 2.0
    # the unbounded ends: a step of the spread's size past the last breakpoint, or the
    # next float where that overflows (breakpoints near the float limit, from tiny slopes)
    with np.errstate(over="ignore"):
        if np.isfinite(lows[-1]):
            points[-1] = lows[-1] + max(abs(lows[-1]), spread, 1.0)
            if not np.isfinite(points[-1]):
                points[-1] = np.nextafter(lows[-1], np.inf)
        else:
            points[-1] = 0.0
        if not np.isfinite(lows[0]) and edges.size:
            points[0] = highs[0] - max(abs(highs[0]), spread, 1.0)
            if not np.isfinite(points[0]):
                points[0] = np.nextafter(highs[0], -np.inf)
    return LineSearch(lows, highs, points, f)


def _line_search_inputs(scores, probabilities, weights, offsets, k, which):
    others = scores.copy()
    others[:, k] = -np.inf
    other_arg = np.argmax(others, axis=1)
    other_max = others[np.arange(scores.shape[0]), other_arg]
    if which == "weight":
        slope = probabilities[:, k]
        base = np.full(scores.shape[0], offsets[k])
        return slope, base, other_max, other_arg, weights[k], 0.0
    slope = np.ones(scores.shape[0])
    base = weights[k] * probabilities[:, k]
    return slope, base, other_max, other_arg, offsets[k], -np.inf


#: The joint move on one class enumerates every cell of its (weight, offset) plane when
#: the candidate weights (one per pair of samples) times the samples stay below this: with
#: two classes (where that proves the optimum, and the search then stops), and
EXACT_BUDGET = 4_000_000
#: with more classes, where it is one local move among many and runs about 100 times a fit
#: (at the two-class budget a 166-row, 5-class fit took 38 s, sampled 0.4 s, same F to 1e-4).
EXACT_BUDGET_MULTICLASS = 200_000
#: Otherwise it evaluates this many sampled weights,
_SAMPLED_WEIGHTS = 32
#: and only up to this many samples times classes; beyond, only line searches run.
#: (At 4,000 a 342-row, 10-class fit took 17 s and scored 0.98 macro-F on its own rows but
#: 0.79 held out, against 0.95 / 0.85 with line searches alone: more search, more overfit.)
JOINT_LIMIT = 1_000
#: Random restarts run up to this many samples times classes (small validation sets,
#: where a local optimum is most often far from the best rule).
RESTART_LIMIT = 1_000
_CHUNK_ELEMENTS = 1 << 21


def joint_move(probability, other_max, other_arg, y, k, n_classes, beta, sample_weight, rng):
    """Best weight ``w >= 0`` and offset ``c`` of class ``k`` together, the others fixed.

    Sample ``i`` is put in class ``k`` iff ``w p_i + c > m_i`` (``m_i`` its
    best score among the other classes, reached by class ``other_arg[i]``),
    i.e. iff ``d_i(w) = m_i - w p_i < c``: for one ``w`` the realisable sets
    are the prefixes of the samples sorted by ``d(w)``, and that order
    changes only at ``w = (m_i - m_j) / (p_i - p_j)``. One ``w`` inside each
    interval between consecutive such values, with every prefix, covers
    every rule of the two parameters (the sets at a breakpoint are also sets
    of a neighbouring interval). Exact when ``n^3 / 2`` fits ``EXACT_BUDGET``
    (two classes) or ``EXACT_BUDGET_MULTICLASS``; beyond, a sample of the
    breakpoints is searched (``exact`` is False).

    Returns
    -------
    w, c : float
    score : float
        Macro-F-beta of the move as counted here (the caller re-scores it).
    exact : bool
    """
    n = probability.shape[0]
    p, m = probability, other_max
    exact = n * n * n / 2 <= (EXACT_BUDGET if n_classes == 2 else EXACT_BUDGET_MULTICLASS)
    if exact:
        i, j = np.triu_indices(n, 1)
    else:
        i = rng.integers(0, n, _SAMPLED_WEIGHTS * 4)
        j = rng.integers(0, n, _SAMPLED_WEIGHTS * 4)
    dp = p[i] - p[j]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        crit = (m[i] - m[j]) / dp
    crit = np.unique(crit[(dp != 0) & np.isfinite(crit) & (crit > 0)])
    # one breakpoint computed from several pairs differs in its last bits: a "midpoint"
    # between two such copies is the breakpoint itself, where rounding splits ties
    if crit.size:
        crit = crit[np.append(True, np.diff(crit) > 1e-9 * crit[1:])]
    if not exact and crit.size > _SAMPLED_WEIGHTS:
        crit = crit[np.linspace(0, crit.size - 1, _SAMPLED_WEIGHTS).astype(np.int64)]
    if crit.size:
        candidates = np.concatenate(
            ([crit[0] / 2.0], (crit[:-1] + crit[1:]) / 2.0, [crit[-1] * 2.0 + 1.0])
        )
    else:
        candidates = np.array([1.0])
    sw = np.ones(n) if sample_weight is None else sample_weight
    onehot_y = np.zeros((n, n_classes))
    onehot_y[np.arange(n), y] = sw
    onehot_o = np.zeros((n, n_classes))
    onehot_o[np.arange(n), other_arg] = sw
    hit_o = onehot_o * (other_arg == y)[:, None]
    positives = onehot_y.sum(axis=0)
    k0 = onehot_o.sum(axis=0)  # everybody in its other class (c = -inf)
    tp0 = hit_o.sum(axis=0)
    b2 = beta * beta
    best = (-np.inf, 1.0, -np.inf)
    rows = max(1, _CHUNK_ELEMENTS // max(1, n * n_classes))
    for start in range(0, candidates.size, rows):
        w = candidates[start : start + rows]
        d = m[None, :] - w[:, None] * p[None, :]
        order = np.argsort(d, axis=1, kind="stable")
        d_sorted = np.take_along_axis(d, order, axis=1)
        # prefix counts, prefix length 0..n
        leave_k = np.cumsum(onehot_o[order], axis=1)  # (rows, n, K): left their class
        leave_tp = np.cumsum(hit_o[order], axis=1)
        join_k = np.cumsum(sw[order], axis=1)
        join_tp = np.cumsum(onehot_y[order, k], axis=1)
        kk = k0[None, None, :] - leave_k
        tt = tp0[None, None, :] - leave_tp
        kk[..., k] += join_k
        tt[..., k] += join_tp
        with np.errstate(divide="ignore", invalid="ignore"):
            denom = b2 * positives + kk
            f = np.where(denom > 0, (1.0 + b2) * tt / np.where(denom > 0, denom, 1.0), 0.0)
        score = f.mean(axis=2)  # (rows, n): prefix lengths 1..n
        # a prefix is realisable only at the end of a group of equal d
        split = np.ones_like(score, dtype=bool)
        split[:, :-1] = d_sorted[:, 1:] > d_sorted[:, :-1]
        score = np.where(split, score, -np.inf)
        flat = int(np.argmax(score))
        r, length = divmod(flat, n)
        if score[r, length] > best[0]:
            low = d_sorted[r, length]
            high = d_sorted[r, length + 1] if length + 1 < n else low + max(1.0, abs(low))
            best = (float(score[r, length]), float(w[r]), float(low + (high - low) / 2.0))
    empty_denominator = b2 * positives + k0
    with np.errstate(divide="ignore", invalid="ignore"):
        f_empty = np.where(empty_denominator > 0, (1.0 + b2) * tp0 / empty_denominator, 0.0)
    if f_empty.mean() > best[0]:
        best = (float(f_empty.mean()), 1.0, -np.inf)
    return best[1], best[2], best[0], exact


def _local_search(probabilities, y, weights, offsets, beta, max_iter, sample_weight, rng):
    """Line searches on each weight and offset and joint (weight, offset) moves per class.

    Stops when a whole sweep improves nothing. Returns the rule, its
    macro-F-beta, the sweeps done and whether every joint move was exact.
    """
    n_classes = probabilities.shape[1]
    weights, offsets = weights.copy(), offsets.copy()
    y_pred = predict_class_weights(probabilities, weights, offsets)
    current = _macro_f(y, y_pred, n_classes, beta, sample_weight)
    n_iter, all_exact = 0, True
    rows = np.arange(probabilities.shape[0])

    def accept(k, new_w, new_c):
        nonlocal current, y_pred
        old = weights[k], offsets[k]
        weights[k], offsets[k] = new_w, new_c
        new_pred = predict_class_weights(probabilities, weights, offsets)
        new = _macro_f(y, new_pred, n_classes, beta, sample_weight)
        if new > current + _TOL:  # always, unless float rounding moved a sample
            current, y_pred = new, new_pred
            return True
        weights[k], offsets[k] = old
        return False

    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        improved = False
        for k in range(n_classes):
            for which in ("weight", "offset"):
                scores = probabilities * weights + offsets
                slope, base, other_max, other_arg, theta0, lower = _line_search_inputs(
                    scores, probabilities, weights, offsets, k, which
                )
                search = macro_f_line_search(
                    slope, base, other_max, other_arg, y, k, n_classes, beta, lower, sample_weight
                )
                best = search.scores.max()
                if not best > current + _TOL:
                    continue
                candidates = np.flatnonzero(search.scores >= best - _TOL)
                distance = np.maximum(np.maximum(search.lows - theta0, theta0 - search.highs), 0.0)[
                    candidates
                ]
                value = search.points[candidates[np.argmin(distance)]]
                if which == "weight":
                    improved |= accept(k, value, offsets[k])
                else:
                    improved |= accept(k, weights[k], value)
            # the joint move: weight and offset of class k at once, exactly
            if probabilities.size > JOINT_LIMIT:
                all_exact = False
                continue
            scores = probabilities * weights + offsets
            others = scores.copy()
            others[:, k] = -np.inf
            other_arg = np.argmax(others, axis=1)
            w, c, score, exact = joint_move(
                probabilities[:, k],
                others[rows, other_arg],
                other_arg,
                y,
                k,
                n_classes,
                beta,
                sample_weight,
                rng,
            )
            all_exact &= exact
            if score > current + _TOL and np.isfinite(c):
                improved |= accept(k, w, c)
        if not improved:
            break
    return weights, offsets, current, n_iter, all_exact


def _random_start(probabilities, rng):
    n_classes = probabilities.shape[1]
    weights = np.exp(rng.normal(0.0, 1.0, n_classes))
    spread = float(np.ptp(probabilities * weights, axis=0).max()) or 1.0
    return weights, rng.normal(0.0, 0.5 * spread, n_classes)


def _check_class_ids(y, n_samples, n_classes, name="y"):
    if hasattr(y, "to_numpy") and not isinstance(y, np.ndarray):
        y = y.to_numpy()
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(
            f"`{name}` must be 1-D class ids, one per row of `probabilities` "
            f"({n_samples}), but got shape {y.shape}."
        )
    if y.dtype.kind not in "iub":
        try:
            as_float = y.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"`{name}` must hold integer class ids 0..{n_classes - 1} (column indices "
                f"of `probabilities`), but got dtype {y.dtype}."
            ) from None
        if not np.all(np.isfinite(as_float)) or not np.all(as_float == np.round(as_float)):
            raise ValueError(f"`{name}` must hold integer class ids 0..{n_classes - 1}.")
        y = as_float
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"`{name}` must hold class ids 0..{n_classes - 1} (column indices of "
            f"`probabilities`), but got values from {y.min()} to {y.max()}."
        )
    return y


def fit_class_weights(
    probabilities,
    y,
    beta: float = 1.0,
    max_iter: int = 100,
    *,
    sample_weight=None,
    n_restarts: int = 8,
    random_state=0,
):
    """Fit weights and offsets for ``argmax_k (w_k p_ik + c_k)`` maximising macro-F-beta.

    Weights are non-negative, offsets any real (or ``-inf``). The local
    search alternates exact line searches on each weight and each offset with
    an exact joint move of one class's weight and offset together
    (:func:`joint_move`), until a whole sweep improves nothing. It starts from
    the linearised rule of the plain argmax predictions, from the plain argmax
    (all weights 1, offsets 0) and from ``n_restarts`` random rules, and keeps
    the best.

    What is guaranteed, on the fitted data:

    - two classes: the rule is the exact optimum over every ``w >= 0`` and
      ``c`` when the joint move is exact (``n^3 / 2 <= EXACT_BUDGET``, about
      ``n <= 200``): with two classes the rule is one threshold on
      ``w_1 p_1 - w_0 p_0``, and the joint move enumerates every direction
      (``exact`` is returned True); beyond, the directions are sampled;
    - more classes: a local optimum for every single weight, single offset
      and every (weight, offset) pair of one class (the pair exactly up to
      ``n^3 / 2 <= EXACT_BUDGET_MULTICLASS``, about ``n <= 70``, among sampled
      weights beyond); restarts make it escape
      most local optima (``benchmarks/class_weights_search.py`` measures how
      often a random search beats it), not a global guarantee.

    The joint moves run up to ``JOINT_LIMIT`` and the random restarts up to
    ``RESTART_LIMIT`` entries of ``probabilities`` (samples times classes);
    larger data sets get the line searches from the two fixed starts only
    (their local optima matter less there, and each sweep costs more).

    Classes with no member (no weight) in ``y`` get weight 0 and offset
    ``-inf``: they are never predicted, like a label with no positive in
    :class:`~f1opt.PerClassThreshold`. Their F is then ``zero_division`` in
    scikit-learn's ``labels=range(n_classes)`` convention, a constant, so the
    search maximises macro-F over the present classes.

    Parameters
    ----------
    probabilities : ndarray of shape (n_samples, n_classes)
        Validated finite scores (probabilities, or any scores larger-is-better).
    y : ndarray of int of shape (n_samples,)
        Class ids ``0 .. n_classes - 1``.
    beta : float, default=1.0
    max_iter : int, default=100
        Bound on the number of sweeps of each local search.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weighted counts (an integer weight acts as repeated rows).
    n_restarts : int, default=8
        Random starting rules besides the two fixed ones (0 for none); with
        two classes they are skipped when the search is exact, and they run
        only up to ``RESTART_LIMIT`` entries.
    random_state : int or None, default=0
        Seeds the random starts and the sampled weights of large joint moves.

    Returns
    -------
    weights, offsets : ndarray of shape (n_classes,)
    score : float
        Macro-F-beta over the present classes of the fitted rule on this data.
    n_iter : int
        Sweeps done, over all starts.
    exact : bool
        True when the result is the proven optimum (two classes, exact joint move).
    """
    rng = np.random.default_rng(random_state)
    n_classes = probabilities.shape[1]
    counts = np.bincount(y, weights=sample_weight, minlength=n_classes)
    present = counts > 0
    columns = np.flatnonzero(present)
    remap = np.full(n_classes, -1)
    remap[columns] = np.arange(columns.size)
    weights = np.zeros(n_classes)
    offsets = np.full(n_classes, -np.inf)
    if columns.size == 1:  # one class present: predicting it everywhere is optimal
        weights[columns], offsets[columns] = 1.0, 0.0
        return weights, offsets, 1.0, 0, True
    sub = np.ascontiguousarray(probabilities[:, columns], dtype=np.float64)
    y_sub = remap[y]  # -1 only on rows of zero weight, dropped next
    sw = sample_weight
    if sw is not None:  # zero-weight rows count for nothing
        nonzero = sw > 0
        sub, y_sub, sw = sub[nonzero], y_sub[nonzero], sw[nonzero]
    starts = [
        linearised_rule(sub, y_sub, np.argmax(sub, axis=1), beta, sw),
        (np.ones(columns.size), np.zeros(columns.size)),
    ]
    best, n_iter_total = None, 0
    n_restarts = int(n_restarts) if sub.size <= RESTART_LIMIT else 0
    for index in range(2 + n_restarts):
        if index >= len(starts):
            if best is not None and best[3] and columns.size == 2:
                break  # proven optimal: restarts cannot beat it
            starts.append(_random_start(sub, rng))
        w0, c0 = starts[index]
        w, c, score, n_iter, exact = _local_search(sub, y_sub, w0, c0, beta, max_iter, sw, rng)
        n_iter_total += n_iter
        if best is None or score > best[2] + _TOL:
            best = (w, c, score, exact and columns.size == 2)
        elif exact and columns.size == 2:
            best = best[:3] + (True,)
    w_sub, c_sub, score, exact = best
    weights[columns] = w_sub
    offsets[columns] = c_sub
    return weights, offsets, score, n_iter_total, exact


@_io.register_decider
class ClassWeights(BaseDecider):
    """Multiclass decisions ``argmax_k (w_k p_k + c_k)`` tuned for macro-F-beta.

    Weights (non-negative) and offsets are found on the validation data by
    exact line searches on each parameter and exact joint moves of each
    class's weight and offset (see :func:`fit_class_weights`), from the
    linearisation of macro-F at the plain argmax, the plain argmax and
    ``n_restarts`` random rules. With two classes the fitted rule is the
    exact optimum over all weights and offsets on that data (up to about 200
    rows, where the joint move enumerates every direction); with more classes
    it is a local optimum that no single-parameter or single-class change
    improves, and the restarts make a better rule of the same form rare
    (``benchmarks/class_weights_search.py``: BENCHMARKS.md).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta.
    zero_division : float, default=0.0
        F of a class with neither members nor predictions, as in scikit-learn.
    max_iter : int, default=100
        Bound on the number of sweeps over all weights and offsets.
    n_restarts : int, default=8
        Random starting rules searched besides the two fixed ones.
    random_state : int or None, default=0
        Seeds the random starts: the same data gives the same rule.

    Attributes
    ----------
    weights_ : ndarray of shape (n_classes,)
    offsets_ : ndarray of shape (n_classes,)
        A class absent from the fitted labels gets weight 0 and offset ``-inf``
        and is never predicted.
    best_score_ : float
        Macro-F-beta of the rule on the fitted data, equal to
        ``sklearn.metrics.fbeta_score(y, predict(P), average="macro",
        labels=range(n_classes), zero_division=zero_division)``.
    n_iter_ : int
        Sweeps done.
    n_classes_ : int
    average_ : str
        Always "macro".

    Notes
    -----
    Classes with no member in the fitted ``y`` are handled as scikit-learn's
    ``labels=range(n_classes)`` counts them: F is ``zero_division`` when the
    class is never predicted, 0 otherwise. Predicting such a class can only
    lose F (with ``zero_division=1``) or act as a dump for false positives
    that would not generalise (with ``zero_division=0``), so ClassWeights never
    predicts it, as :class:`~f1opt.PerClassThreshold` never predicts a label
    with no positive.

    References
    ----------
    .. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
       classifiers to maximize F1 measure." ECML PKDD 2014.
    .. [2] S. Narasimhan, H. Ramaswamy, A. Saha, S. Agarwal. "Consistent
       multiclass algorithms for complex performance measures." ICML 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from f1opt import ClassWeights
    >>> P = np.array([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1],
    ...               [0.5, 0.2, 0.3], [0.1, 0.8, 0.1]])
    >>> y = np.array([0, 1, 1, 2, 1])
    >>> decider = ClassWeights().fit(P, y)
    >>> decider.predict(P).tolist(), decider.best_score_
    ([0, 1, 1, 2, 1], 1.0)
    """

    _fitted_attributes = ("weights_", "offsets_", "best_score_", "n_iter_", "n_classes_")

    def __init__(self, beta=1.0, zero_division=0.0, max_iter=100, n_restarts=8, random_state=0):
        self.beta = beta
        self.zero_division = zero_division
        self.max_iter = max_iter
        self.n_restarts = n_restarts
        self.random_state = random_state

    @property
    def average_(self) -> str:
        """The average used ("macro")."""
        return "macro"

    def fit(self, probabilities, y, sample_weight=None):
        """Fit weights and offsets on validation probabilities.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples, n_classes)
            Class probabilities (or any scores, larger meaning more likely);
            column ``k`` belongs to class id ``k``.
        y : array-like of shape (n_samples,)
            Integer class ids ``0 .. n_classes - 1``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: counts are weighted (an integer
            weight gives the same rule as repeated rows).

        Returns
        -------
        self : ClassWeights
        """
        beta = check_beta(self.beta)
        check_zero_division(self.zero_division)
        for name, low in (("max_iter", 1), ("n_restarts", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"`{name}` must be an integer >= {low}, but got {value!r}.")
        if self.random_state is not None and (
            isinstance(self.random_state, bool)
            or not isinstance(self.random_state, (int, np.integer))
            or self.random_state < 0
        ):
            raise ValueError(
                f"`random_state` must be None or a non-negative integer, but got "
                f"{self.random_state!r}."
            )
        probabilities = check_scores(probabilities, ndim=2, name="probabilities")
        n_samples, n_classes = probabilities.shape
        if n_classes < 2:
            raise ValueError(
                f"`probabilities` must have one column per class (at least 2), but got "
                f"shape {probabilities.shape}."
            )
        y = _check_class_ids(y, n_samples, n_classes)
        sample_weight = check_sample_weight(sample_weight, n_samples)
        self.weights_, self.offsets_, _, self.n_iter_, _ = fit_class_weights(
            probabilities,
            y,
            beta,
            int(self.max_iter),
            sample_weight=sample_weight,
            n_restarts=int(self.n_restarts),
            random_state=self.random_state,
        )
        self.n_classes_ = n_classes
        self.best_score_ = self.score(probabilities, y, sample_weight=sample_weight)
        return self

    def predict(self, probabilities):
        """Class ids ``argmax_k (weights_[k] * probabilities[:, k] + offsets_[k])``.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples, n_classes)

        Returns
        -------
        y_pred : ndarray of int64 of shape (n_samples,)
            Column indices of ``probabilities``.
        """
        check_is_fitted(self, "weights_")
        probabilities = check_scores(probabilities, ndim=2, name="probabilities")
        if probabilities.shape[1] != self.n_classes_:
            raise ValueError(
                f"ClassWeights was fitted on {self.n_classes_} classes, but `probabilities` "
                f"has {probabilities.shape[1]} columns."
            )
        return predict_class_weights(probabilities, self.weights_, self.offsets_)

    def score(self, probabilities, y, sample_weight=None) -> float:
        """Macro-F-beta of ``predict(probabilities)`` over all ``n_classes_`` classes.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples, n_classes)
        y : array-like of shape (n_samples,)
            Integer class ids.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
            Equal to ``sklearn.metrics.fbeta_score(y, y_pred, beta=beta,
            average="macro", labels=range(n_classes_), zero_division=zero_division)``.
        """
        y_pred = self.predict(probabilities)
        y = _check_class_ids(y, y_pred.shape[0], self.n_classes_)
        eye = np.eye(self.n_classes_, dtype=np.int8)
        return fbeta_score(
            eye[y],
            eye[y_pred],
            beta=self.beta,
            average="macro",
            zero_division=self.zero_division,
            sample_weight=sample_weight,
        )

    def _check_loaded(self):
        self.weights_ = np.asarray(self.weights_, dtype=np.float64)
        self.offsets_ = np.asarray(self.offsets_, dtype=np.float64)
        self.n_classes_ = int(self.n_classes_)
        self.n_iter_ = int(self.n_iter_)
        self.best_score_ = float(self.best_score_)
        shape = (self.n_classes_,)
        if self.weights_.shape != shape or self.offsets_.shape != shape:
            raise ValueError(
                f"weights_ and offsets_ must have shape {shape}, but got "
                f"{self.weights_.shape} and {self.offsets_.shape}"
            )
        if not np.all(np.isfinite(self.weights_)) or np.isnan(self.offsets_).any():
            raise ValueError("weights_ must be finite and offsets_ must not be NaN")
        if np.isposinf(self.offsets_).any() or np.isneginf(self.offsets_).all():
            raise ValueError("offsets_ must not be +inf nor all -inf")
