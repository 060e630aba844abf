"""F1OptimalClassifier: a scikit-learn meta-estimator that decides for F-beta.

Out-of-fold scores of the wrapped estimator (``cross_val_predict``), a decider
fitted on them (a threshold, per-class thresholds, class weights and offsets,
expected-F decisions or the stretcher), and the estimator refit on all the
data. ``method="auto"`` picks the decider by an honest comparison: each
candidate is cross-validated on the out-of-fold scores (fitted on part of
them, scored on the rest) and the best pooled out-of-fold F-beta wins.
"""

from __future__ import annotations

import time
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    _fit_context,
    clone,
)
from sklearn.model_selection import (
    KFold,
    ShuffleSplit,
    StratifiedKFold,
    StratifiedShuffleSplit,
    check_cv,
    cross_val_predict,
)
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _assert_all_finite,
    _num_samples,
    check_is_fitted,
    column_or_1d,
    get_tags,
    indexable,
)

from ._validation import check_indicator_labels
from .metrics import fbeta_score

__all__ = ["F1OptimalClassifier", "METHODS"]

METHODS = ("global", "per_class", "weights", "expected", "stretcher")


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_") and self.estimator_ is not None:
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


def _expected_available() -> bool:
    try:
        from .expected import ExpectedF1  # noqa: F401
    except ImportError:
        return False
    return True


def _torch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def candidate_methods(target: str, average: str, response: str) -> list[str]:
    """The deciders that ``method="auto"`` compares for a kind of target.

    Parameters
    ----------
    target : {"binary", "multiclass", "multilabel"}
    average : str
        The F-beta average (already resolved).
    response : {"predict_proba", "decision_function"}

    Returns
    -------
    methods : list of str
        In order of preference on ties. "expected" enters only for
        multilabel ``average="samples"`` (per-row GFM decisions); for binary
        targets its decisions depend on the whole batch predicted at once, so
        it is never chosen silently. "stretcher" trains a network per split and
        is never in "auto".
    """
    if target == "binary":
        return ["global"]
    if target == "multiclass":
        return ["weights"]
    if average == "samples":
        methods = ["global"]
        if _expected_available():
            methods.append("expected")
        return methods
    return ["global", "per_class"]


def _allowed(method: str, target: str, average: str) -> str | None:
    """None when ``method`` fits the target and average, else the reason it does not."""
    if method == "global" and target == "multiclass":
        return "a threshold needs binary or multilabel targets; use method='weights'"
    if method == "per_class" and (target != "multilabel" or average == "samples"):
        return "per-class thresholds need multilabel targets and average micro/macro/weighted"
    if method == "weights" and target != "multiclass":
        return "class weights need multiclass targets"
    if method == "expected" and average not in ("binary", "samples"):
        return "expected-F decisions need average='binary' (binary) or 'samples' (multilabel)"
    if method == "stretcher" and target == "multiclass":
        return "the stretcher needs binary or multilabel targets"
    return None


def make_decider(method: str, beta: float, average: str, response: str, random_state=None):
    """A fresh, unfitted decider for ``method`` (imports optional modules lazily)."""
    if method == "global":
        from .deciders import GlobalThreshold

        return GlobalThreshold(beta=beta, average=average)
    if method == "per_class":
        from .deciders import PerClassThreshold

        return PerClassThreshold(beta=beta, average=average)
    if method == "weights":
        from .weights import ClassWeights

        return ClassWeights(beta=beta)
    if method == "expected":
        from .expected import ExpectedF1

        # decision scores are no probabilities: calibrate them (Platt) first
        calibration = None if response == "predict_proba" else "sigmoid"
        return ExpectedF1(beta=beta, average=average, calibration=calibration)
    if method == "stretcher":
        try:
            from .stretch import stretcher_for
        except ImportError as exc:
            raise ImportError(
                "method='stretcher' requires torch. You can install it with "
                "`pip install f1opt[torch]`."
            ) from exc
        return stretcher_for(beta, average, random_state=random_state, verbose=False)
    raise ValueError(f"`method` must be 'auto' or one of {METHODS}, but got {method!r}.")


def _as_scores(raw, target: str, response: str) -> np.ndarray:
    """Decider input from ``predict_proba`` / ``decision_function`` output."""
    if isinstance(raw, list):  # multi-output predict_proba: one (n, 2) array per label
        return np.column_stack([np.asarray(r)[:, -1] for r in raw])
    raw = np.asarray(raw, dtype=np.float64)
    if target == "binary" and raw.ndim == 2:
        return raw[:, 1]
    return raw


class F1OptimalClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Wrap any classifier so that its decisions maximise F-beta.

    The wrapped estimator's out-of-fold scores (``predict_proba``, else
    ``decision_function``) come from :func:`~sklearn.model_selection.cross_val_predict`;
    a decider is fitted on them and the estimator is refit on all the data.
    Binary targets get an exact threshold, multiclass targets class weights
    and offsets for macro-F, multilabel indicator targets one threshold or
    one per label.

    Parameters
    ----------
    estimator : estimator instance
        A classifier with ``fit`` and ``predict_proba`` or ``decision_function``.
    method : {"auto", "global", "per_class", "weights", "expected", "stretcher"}, \
default="auto"
        The decider:

        - "global": :class:`~f1opt.GlobalThreshold` (binary, multilabel);
        - "per_class": :class:`~f1opt.PerClassThreshold` (multilabel micro,
          macro, weighted);
        - "weights": :class:`~f1opt.ClassWeights` (multiclass macro-F);
        - "expected": :class:`~f1opt.ExpectedF1` (binary: the decisions
          depend on the whole batch passed to ``predict``; multilabel
          ``average="samples"``: GFM per row);
        - "stretcher": :class:`~f1opt.Stretcher` (needs torch; slow, never
          chosen by "auto");
        - "auto": every candidate of :func:`candidate_methods` is
          cross-validated on the out-of-fold scores and the best pooled
          F-beta wins; the comparison is kept in ``cv_results_``.
    beta : float, default=1.0
        Weight of recall in F-beta.
    average : {"binary", "micro", "macro", "weighted", "samples"} or None, default=None
        The F-beta to maximise. None means "binary" for binary targets,
        "macro" for multiclass and "micro" for multilabel indicator targets.
        Multiclass targets support "macro" only (multiclass micro-F is accuracy).
    cv : int, float in (0, 1), cross-validation generator or iterable, default=5
        How the out-of-fold scores are made. An int uses (Stratified)KFold
        with shuffling seeded by ``random_state`` (plain KFold for multilabel
        targets); a float is the validation fraction of one shuffled split.
    refit : bool, default=True
        Refit the estimator on all the data. With ``refit=False`` the
        estimator fitted on the training part of a single split (``cv`` a
        float, or a splitter with one split) is kept and the decider is
        fitted on the validation part.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffled splits (outer and inner) and the stretcher.
    n_jobs : int or None, default=None
        Parallel fits in ``cross_val_predict``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted wrapped estimator.
    decider_ : decider
        The decider fitted on all the out-of-fold scores.
    method_ : str
        The method used (the winner for "auto").
    best_score_ : float
        Cross-validated F-beta of the chosen method on the out-of-fold scores:
        its deciders fitted on part of them and applied to the rest, pooled.
        (``decider_.best_score_`` is the optimistic in-sample figure.)
    cv_results_ : dict of ndarray
        For each compared method: ``method``, ``oof_score`` (pooled F),
        ``split{i}_test_score``, ``mean_test_score``, ``std_test_score``,
        ``fit_time`` and ``rank_test_score``.
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_labels)`` for multilabel targets).
    target_type_ : {"binary", "multiclass", "multilabel"}
    average_ : str
    response_method_ : {"predict_proba", "decision_function"}
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when the estimator records them.

    See Also
    --------
    sklearn.model_selection.TunedThresholdClassifierCV : binary targets, a grid of
        thresholds for any scorer.

    References
    ----------
    .. [1] Z. C. Lipton, C. Elkan, B. Narayanaswamy. "Optimal thresholding of
       classifiers to maximize F1 measure." ECML PKDD 2014.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from f1opt import F1OptimalClassifier
    >>> X, y = make_classification(n_samples=400, weights=[0.9], random_state=0)
    >>> clf = F1OptimalClassifier(LogisticRegression(), random_state=0).fit(X, y)
    >>> clf.method_, clf.predict(X[:5]).shape
    ('global', (5,))
    """

    _parameter_constraints: dict = {
        "estimator": [
            HasMethods(["fit", "predict_proba"]),
            HasMethods(["fit", "decision_function"]),
        ],
        "method": [StrOptions({"auto", *METHODS})],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "average": [StrOptions({"binary", "micro", "macro", "weighted", "samples"}), None],
        "cv": ["cv_object", Interval(Real, 0.0, 1.0, closed="neither")],
        "refit": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        estimator,
        method="auto",
        beta=1.0,
        average=None,
        cv=5,
        refit=True,
        random_state=None,
        n_jobs=None,
    ):
        self.estimator = estimator
        self.method = method
        self.beta = beta
        self.average = average
        self.cv = cv
        self.refit = refit
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ---------------------------------------------------------------- targets
    def _encode_targets(self, y):
        if hasattr(y, "toarray"):
            y = y.toarray()
        if hasattr(y, "to_numpy"):
            y = y.to_numpy()
        y = np.asarray(y)
        if y.dtype.kind == "f":
            _assert_all_finite(y, input_name="y")
        y_type = type_of_target(y, input_name="y")
        if y_type == "multilabel-indicator":
            y_ind = check_indicator_labels(y)
            return "multilabel", y_ind, y_ind.astype(np.int64), np.arange(y_ind.shape[1])
        check_classification_targets(y)
        if y_type not in ("binary", "multiclass"):
            raise ValueError(
                f"F1OptimalClassifier supports binary, multiclass and multilabel-indicator "
                f"targets. Unknown label type: {y_type}"
            )
        y = column_or_1d(y, warn=True)
        classes, encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"F1OptimalClassifier needs samples of at least 2 classes, but y has "
                f"1 class: {classes[0]!r}."
            )
        target = "binary" if classes.size == 2 else "multiclass"
        return target, y, encoded.astype(np.int64), classes

    def _resolve_average(self, target):
        default = {"binary": "binary", "multiclass": "macro", "multilabel": "micro"}[target]
        average = default if self.average is None else self.average
        allowed = {
            "binary": ("binary",),
            "multiclass": ("macro",),
            "multilabel": ("micro", "macro", "weighted", "samples"),
        }[target]
        if average not in allowed:
            raise ValueError(
                f"average={average!r} is not supported for {target} targets; use one of "
                f"{allowed} (multiclass micro-F equals accuracy)."
            )
        return average

    def _methods(self, target, average, response):
        if self.method == "auto":
            return candidate_methods(target, average, response)
        reason = _allowed(self.method, target, average)
        if reason is not None:
            raise ValueError(
                f"method={self.method!r} does not fit {target} targets with "
                f"average={average!r}: {reason}."
            )
        return [self.method]

    # --------------------------------------------------------------- splitting
    def _outer_cv(self, target, y_for_cv):
        cv = self.cv
        if isinstance(cv, Real) and not isinstance(cv, Integral) and 0 < cv < 1:
            split = ShuffleSplit if target == "multilabel" else StratifiedShuffleSplit
            return split(n_splits=1, test_size=cv, random_state=self.random_state)
        if isinstance(cv, Integral) and not isinstance(cv, bool):
            if target == "multilabel":
                return KFold(n_splits=cv, shuffle=True, random_state=self.random_state)
            return StratifiedKFold(n_splits=cv, shuffle=True, random_state=self.random_state)
        return check_cv(cv, y_for_cv, classifier=True)

    def _inner_cv(self, target, y, random_state):
        n_splits = self.cv if isinstance(self.cv, Integral) else 5
        if target == "multilabel":
            return KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        smallest = int(np.bincount(y).min())
        n_splits = max(2, min(n_splits, smallest))
        return StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the estimator on out-of-fold splits, choose and fit the decider, refit.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Passed to the estimator unchanged (pandas input stays pandas).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 label indicator matrix for multilabel targets.

        Returns
        -------
        self : F1OptimalClassifier
        """
        if y is None:
            raise ValueError(
                "F1OptimalClassifier requires y to be passed, but the target y is None."
            )
        X, y = indexable(X, y)
        if _num_samples(X) == 0:
            raise ValueError("Found array with 0 sample(s) (shape of X: empty); need at least 2.")
        target, y_fit, y_enc, classes = self._encode_targets(y)
        average = self._resolve_average(target)
        response = (
            "predict_proba" if hasattr(self.estimator, "predict_proba") else "decision_function"
        )
        methods = self._methods(target, average, response)
        beta = float(self.beta)
        rng = check_random_state(self.random_state)
        inner_seed = int(rng.randint(np.iinfo(np.int32).max))

        cv = self._outer_cv(target, y_fit)
        if self.refit:
            raw = cross_val_predict(
                clone(self.estimator), X, y_fit, cv=cv, method=response, n_jobs=self.n_jobs
            )
            scores, targets = _as_scores(raw, target, response), y_enc
            self.estimator_ = clone(self.estimator).fit(X, y_fit)
        else:
            splits = list(cv.split(X, y_fit))
            if len(splits) != 1:
                raise ValueError(
                    f"refit=False keeps the estimator of a single split, but cv gives "
                    f"{len(splits)} splits; use cv=0.2 (a validation fraction) or refit=True."
                )
            train, val = splits[0]
            self.estimator_ = clone(self.estimator).fit(
                _safe_indexing(X, train), _safe_indexing(y_fit, train)
            )
            raw = getattr(self.estimator_, response)(_safe_indexing(X, val))
            scores, targets = _as_scores(raw, target, response), y_enc[val]

        self.cv_results_ = self._compare(
            methods, scores, targets, target, beta, average, response, inner_seed
        )
        best = int(np.argmax(self.cv_results_["oof_score"]))  # first best: preference order
        self.method_ = methods[best]
        self.best_score_ = float(self.cv_results_["oof_score"][best])
        self.decider_ = make_decider(self.method_, beta, average, response, inner_seed).fit(
            scores, targets
        )
        self.classes_ = classes
        self.target_type_ = target
        self.average_ = average
        self.response_method_ = response
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def _compare(self, methods, scores, targets, target, beta, average, response, seed):
        """Cross-validate each decider on the out-of-fold scores (pooled and per split)."""
        splits = list(self._inner_cv(target, targets, seed).split(scores, targets))
        results = {"method": np.array(methods, dtype=object), "oof_score": [], "fit_time": []}
        per_split = []
        for method in methods:
            y_pred = np.zeros_like(targets)
            split_scores = []
            start = time.perf_counter()
            for train, test in splits:
                decider = make_decider(method, beta, average, response, seed)
                try:
                    decider.fit(scores[train], targets[train])
                    y_pred[test] = decider.predict(scores[test])
                except ValueError:  # e.g. a training part without any positive
                    y_pred[test] = _default_decision(scores[test], target, response)
                split_scores.append(
                    _score(targets[test], y_pred[test], target, beta, average, scores.shape)
                )
            results["fit_time"].append(time.perf_counter() - start)
            results["oof_score"].append(
                _score(targets, y_pred, target, beta, average, scores.shape)
            )
            per_split.append(split_scores)
        per_split = np.array(per_split)
        for i in range(per_split.shape[1]):
            results[f"split{i}_test_score"] = per_split[:, i]
        results["mean_test_score"] = per_split.mean(axis=1)
        results["std_test_score"] = per_split.std(axis=1)
        results["oof_score"] = np.array(results["oof_score"])
        results["fit_time"] = np.array(results["fit_time"])
        order = np.argsort(-results["oof_score"], kind="stable")
        rank = np.empty(len(methods), dtype=np.int32)
        rank[order] = np.arange(1, len(methods) + 1)
        results["rank_test_score"] = rank
        return results

    # ----------------------------------------------------------------- predict
    def _decider_input(self, X):
        check_is_fitted(self, "decider_")
        raw = getattr(self.estimator_, self.response_method_)(X)
        return _as_scores(raw, self.target_type_, self.response_method_)

    def predict(self, X):
        """Decisions that maximise F-beta, as the original class labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_labels)
            Class labels (binary, multiclass) or a 0/1 indicator matrix (multilabel).
        """
        check_is_fitted(self, "decider_")
        decisions = self.decider_.predict(self._decider_input(X))
        if self.target_type_ == "multilabel":
            return np.asarray(decisions, dtype=np.int64)
        return self.classes_[np.asarray(decisions, dtype=np.int64)]

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Probabilities of the fitted estimator (unchanged by the decider).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        probabilities : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "decider_")
        return self.estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log-probabilities of the fitted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_probabilities : ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self, "decider_")
        return self.estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the fitted estimator (unchanged by the decider).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self, "decider_")
        return self.estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        tags.classifier_tags.multi_label = inner.classifier_tags.multi_label
        return tags


def _default_decision(scores, target, response):
    """The plain estimator's decision, for a split where a decider cannot be fitted."""
    if target == "multiclass":
        return np.argmax(scores, axis=1)
    cut = 0.5 if response == "predict_proba" else 0.0
    return (scores >= cut).astype(np.int64)


def _score(y, y_pred, target, beta, average, shape) -> float:
    if target == "multiclass":
        eye = np.eye(shape[1], dtype=np.int8)
        return fbeta_score(eye[y], eye[y_pred], beta=beta, average="macro")
    return fbeta_score(y, y_pred, beta=beta, average=average)
