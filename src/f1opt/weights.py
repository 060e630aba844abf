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
from ._validation import check_beta, check_scores, check_zero_division
from .deciders import BaseDecider
from .metrics import fbeta_from_counts, fbeta_score

__all__ = [
    "ClassWeights",
    "LineSearch",
    "class_counts",
    "fit_class_weights",
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


def class_counts(y, y_pred, n_classes: int):
    """Per-class true positives, predicted and actual members.

    Returns
    -------
    tp, k, p : ndarray of int64 of shape (n_classes,)
    """
    tp = np.bincount(y_pred[y_pred == y], minlength=n_classes)
    k = np.bincount(y_pred, minlength=n_classes)
    p = np.bincount(y, minlength=n_classes)
    return tp, k, p


def _macro_f(y, y_pred, n_classes, beta):
    tp, k, p = class_counts(y, y_pred, n_classes)
    return float(fbeta_from_counts(tp, k, p, beta).mean())


def linearised_rule(probabilities, y, y_pred, beta: float = 1.0):
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
    tp, k, p = class_counts(y, y_pred, n_classes)
    b2 = beta * beta
    a = (1.0 + b2) / (b2 * p + k)
    f = (1.0 + b2) * tp / (b2 * p + k)
    weights = a / a.mean()
    return weights, -weights * f / (1.0 + b2)


def macro_f_line_search(
    slope, base, other_max, other_arg, y, k: int, n_classes: int, beta=1.0, lower=-np.inf
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
    tp0, k0, p = class_counts(y, y_pred, n_classes)

    live = (theta > lower) & np.isfinite(theta)  # a breakpoint at +inf is never reached
    order = np.argsort(theta[live], kind="stable")
    events = idx[live][order]
    breaks = theta[live][order]
    sign = np.where(rising[live][order], 1, -1)  # +1 joins k, -1 leaves k
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


def _coordinate_ascent(probabilities, y, weights, offsets, beta, max_iter):
    n_classes = probabilities.shape[1]
    weights, offsets = weights.copy(), offsets.copy()
    y_pred = predict_class_weights(probabilities, weights, offsets)
    current = _macro_f(y, y_pred, n_classes, beta)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        improved = False
        for k in range(n_classes):
            for which, params in (("weight", weights), ("offset", offsets)):
                scores = probabilities * weights + offsets
                slope, base, other_max, other_arg, theta0, lower = _line_search_inputs(
                    scores, probabilities, weights, offsets, k, which
                )
                search = macro_f_line_search(
                    slope, base, other_max, other_arg, y, k, n_classes, beta, lower
                )
                best = search.scores.max()
                if not best > current + _TOL:
                    continue
                candidates = np.flatnonzero(search.scores >= best - _TOL)
                distance = np.maximum(np.maximum(search.lows - theta0, theta0 - search.highs), 0.0)[
                    candidates
                ]
                params[k] = search.points[candidates[np.argmin(distance)]]
                new_pred = predict_class_weights(probabilities, weights, offsets)
                new = _macro_f(y, new_pred, n_classes, beta)
                if new > current + _TOL:  # always, unless float rounding moved a sample
                    current, y_pred, improved = new, new_pred, True
                else:
                    params[k] = theta0
        if not improved:
            break
    return weights, offsets, current, n_iter


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


def fit_class_weights(probabilities, y, beta: float = 1.0, max_iter: int = 100):
    """Fit weights and offsets for ``argmax_k (w_k p_ik + c_k)`` maximising macro-F-beta.

    Starts from the linearised rule of the plain argmax predictions, then
    sweeps exact line searches over every weight and offset until a whole
    sweep improves nothing, so the result is a local optimum: no change of one
    weight or one offset raises macro-F on this data. If the plain argmax
    (all weights 1, offsets 0) scores higher than that local optimum, the
    search is repeated from it and the better rule kept.

    Classes with no member in ``y`` get weight 0 and offset ``-inf``: they are
    never predicted, like a label with no positive in
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
        Bound on the number of sweeps.

    Returns
    -------
    weights, offsets : ndarray of shape (n_classes,)
    score : float
        Macro-F-beta over the present classes of the fitted rule on this data.
    n_iter : int
        Sweeps done (the last one improved nothing unless ``max_iter`` stopped it).
    """
    n_classes = probabilities.shape[1]
    present = np.bincount(y, minlength=n_classes) > 0
    columns = np.flatnonzero(present)
    remap = np.full(n_classes, -1)
    remap[columns] = np.arange(columns.size)
    weights = np.zeros(n_classes)
    offsets = np.full(n_classes, -np.inf)
    if columns.size == 1:  # one class present: predicting it everywhere is optimal
        weights[columns], offsets[columns] = 1.0, 0.0
        return weights, offsets, 1.0, 0
    sub = np.ascontiguousarray(probabilities[:, columns], dtype=np.float64)
    y_sub = remap[y]
    w_sub, c_sub = linearised_rule(sub, y_sub, np.argmax(sub, axis=1), beta)
    w_sub, c_sub, score, n_iter = _coordinate_ascent(sub, y_sub, w_sub, c_sub, beta, max_iter)
    plain = _macro_f(y_sub, np.argmax(sub, axis=1), columns.size, beta)
    if plain > score + _TOL:
        ones, zeros = np.ones(columns.size), np.zeros(columns.size)
        w2, c2, s2, n2 = _coordinate_ascent(sub, y_sub, ones, zeros, beta, max_iter)
        w_sub, c_sub, score, n_iter = w2, c2, s2, n_iter + n2
    weights[columns] = w_sub
    offsets[columns] = c_sub
    return weights, offsets, score, n_iter


@_io.register_decider
class ClassWeights(BaseDecider):
    """Multiclass decisions ``argmax_k (w_k p_k + c_k)`` tuned for macro-F-beta.

    Weights and offsets are found by exact coordinate line searches on the
    validation data (see :func:`fit_class_weights`), starting from the
    linearisation of macro-F at the plain argmax; the fitted rule is a local
    optimum (no single weight or offset change improves it on that data).

    Parameters
    ----------
    beta : float, default=1.0
        Weight of recall in F-beta.
    zero_division : float, default=0.0
        F of a class with neither members nor predictions, as in scikit-learn.
    max_iter : int, default=100
        Bound on the number of sweeps over all weights and offsets.

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

    def __init__(self, beta=1.0, zero_division=0.0, max_iter=100):
        self.beta = beta
        self.zero_division = zero_division
        self.max_iter = max_iter

    @property
    def average_(self) -> str:
        """The average used ("macro")."""
        return "macro"

    def fit(self, probabilities, y):
        """Fit weights and offsets on validation probabilities.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples, n_classes)
            Class probabilities (or any scores, larger meaning more likely);
            column ``k`` belongs to class id ``k``.
        y : array-like of shape (n_samples,)
            Integer class ids ``0 .. n_classes - 1``.

        Returns
        -------
        self : ClassWeights
        """
        beta = check_beta(self.beta)
        check_zero_division(self.zero_division)
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"`max_iter` must be a positive integer, but got {self.max_iter!r}.")
        probabilities = check_scores(probabilities, ndim=2, name="probabilities")
        n_samples, n_classes = probabilities.shape
        if n_classes < 2:
            raise ValueError(
                f"`probabilities` must have one column per class (at least 2), but got "
                f"shape {probabilities.shape}."
            )
        y = _check_class_ids(y, n_samples, n_classes)
        self.weights_, self.offsets_, _, self.n_iter_ = fit_class_weights(
            probabilities, y, beta, int(self.max_iter)
        )
        self.n_classes_ = n_classes
        self.best_score_ = self.score(probabilities, y)
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

    def score(self, probabilities, y) -> float:
        """Macro-F-beta of ``predict(probabilities)`` over all ``n_classes_`` classes.

        Parameters
        ----------
        probabilities : array-like of shape (n_samples, n_classes)
        y : array-like of shape (n_samples,)
            Integer class ids.

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
