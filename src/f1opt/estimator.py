"""F1OptimalClassifier: a scikit-learn meta-estimator that decides for F-beta.

Out-of-fold scores of the wrapped estimator (``cross_val_predict``), a decider
fitted on them (the default decision, a threshold, per-class thresholds, class
weights and offsets, expected-F decisions or the stretcher, see
:mod:`f1opt.methods`), and the estimator refit on all the data.
``method="auto"`` picks the decider with :func:`f1opt.compare.compare`: every
candidate, the untouched default decision first, is cross-validated on the
out-of-fold scores over shared folds, and a more complex candidate replaces a
simpler one only when its paired gain over the folds exceeds one standard
error of the paired per-fold differences.
"""

from __future__ import annotations

import sys
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
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    _num_samples,
    check_is_fitted,
    column_or_1d,
    get_tags,
    has_fit_parameter,
    indexable,
)

from ._validation import check_indicator_labels
from .compare import OBJECTIVES, SELECTIONS, compare
from .methods import METHOD_NAMES

__all__ = ["F1OptimalClassifier"]

# binary labels that need no pos_label (scikit-learn's rule): the larger is positive
_UNAMBIGUOUS = ([0, 1], [-1, 1], [0], [-1], [1])


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "estimator_") and self.estimator_ is not None:
            return hasattr(self.estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


def _as_scores(raw, target: str, response: str, pos_index: int = 1) -> np.ndarray:
    """Decider input from ``predict_proba`` / ``decision_function`` output.

    Binary targets: the score of the positive class ``classes_[pos_index]`` (the
    decision function is that of ``classes_[1]``, so it is negated for index 0).
    """
    if isinstance(raw, list):  # multi-output predict_proba: one (n, 2) array per label
        return np.column_stack([np.asarray(r)[:, -1] for r in raw])
    raw = np.asarray(raw, dtype=np.float64)
    if target == "binary":
        if raw.ndim == 2:
            return raw[:, pos_index]
        return raw if pos_index == 1 else -raw
    return raw


class F1OptimalClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Wrap any classifier so that its decisions maximise F-beta.

    The wrapped estimator's out-of-fold scores (``predict_proba``, else
    ``decision_function``) come from :func:`~sklearn.model_selection.cross_val_predict`;
    a decider is chosen and fitted on them, and the estimator is refit on all
    the data. Binary targets get an exact threshold, multiclass targets class
    weights and offsets for macro-F, multilabel indicator targets one
    threshold, one per label or expected-F decisions, unless the estimator's
    own decision is as good.

    Parameters
    ----------
    estimator : estimator instance
        A classifier with ``fit`` and ``predict_proba`` or ``decision_function``.
    method : {"auto", "default", "global", "per_class", "weights", "expected", \
"stretcher"}, default="auto"
        A method of :data:`f1opt.methods.METHODS`:

        - "default": the estimator's own decision (0.5 on probabilities, 0 on
          a decision function, argmax for multiclass);
        - "global": :class:`~f1opt.GlobalThreshold` (binary, multilabel);
        - "per_class": :class:`~f1opt.PerClassThreshold` (multilabel micro,
          macro, weighted);
        - "weights": :class:`~f1opt.ClassWeights` (multiclass macro-F);
        - "expected": :class:`~f1opt.ExpectedF1` (binary: the decisions
          depend on the whole batch passed to ``predict``, so "auto" never
          chooses it; multilabel ``average="samples"``: GFM per row);
        - "stretcher": :class:`~f1opt.Stretcher` (needs torch; never in "auto");
        - "auto": every candidate of :func:`f1opt.compare.candidates_for`
          (the default decision always among them) is cross-validated on the
          out-of-fold scores over shared folds and chosen by ``selection``;
          the comparison is kept in ``cv_results_`` and ``comparison_``.
    beta : float, default=1.0
        Weight of recall in F-beta.
    average : {"binary", "micro", "macro", "weighted", "samples"} or None, default=None
        The F-beta to maximise. None means "binary" for binary targets,
        "macro" for multiclass and "micro" for multilabel indicator targets.
        Multiclass targets support "macro" only (multiclass micro-F is accuracy).
    pos_label : int, float, bool or str, default=None
        The positive class of a binary target, as in scikit-learn: F-beta is
        the F-beta of that class. None works only when the classes are {0, 1},
        {-1, 1} or {False, True} (the larger one is positive); any other pair
        of classes raises a ValueError naming them.
    cv : int, float in (0, 1), cross-validation generator or iterable, default=5
        How the out-of-fold scores are made. An int uses (Stratified)KFold
        with shuffling seeded by ``random_state`` (plain KFold for multilabel
        targets); a float is the validation fraction of one shuffled split.
        The comparison of the candidates uses as many shared folds of the
        out-of-fold scores (5 when ``cv`` is not an int).
    refit : bool, default=True
        Refit the estimator on all the data. With ``refit=False`` the
        estimator fitted on the training part of a single split (``cv`` a
        float, or a splitter with one split) is kept and the decider is
        fitted on the validation part.
    n_repeats : int, default=8
        Rounds of shared shuffled folds in the comparison of "auto" (every
        split of every round is one paired comparison; an explicitly named
        method is compared on one round). Measured in BENCHMARKS.md (auto
        choice): 8 rounds chose better than 4, and 4 better than 1.
    selection : {"noise", "best"}, default="noise"
        How "auto" chooses. "noise": let b be the candidate with the best
        pooled out-of-fold F-beta; the first candidate c in order of
        complexity (default < global < per_class/weights/expected <
        stretcher) whose per-fold differences d_k = F_k(b) - F_k(c) over the
        K shared folds satisfy mean(d) <= std(d, ddof=1) / sqrt(K) is chosen:
        a more complex candidate replaces a simpler one only when its paired
        gain over the shared folds exceeds one standard error of the paired
        per-fold differences, and the default wins ties. "best": the plain
        argmax of the pooled out-of-fold F-beta.
    objective : {"fold_mean", "pooled", "both"}, default="fold_mean"
        For binary thresholds: maximise the mean of the per-fold F-beta over
        the shared folds (exact over every distinct score, what
        TunedThresholdClassifierCV approximates on a grid), or the F-beta of
        the pooled out-of-fold scores, or compare both. The fold mean scored
        higher on held-out data in ``benchmarks/auto_choice.py``.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffled splits (outer and inner), the bootstrap and the stretcher.
    n_jobs : int or None, default=None
        Parallel fits in ``cross_val_predict``.
    verbose : int, default=0
        Progress messages on stderr when > 0.

    Attributes
    ----------
    estimator_ : estimator
        The fitted wrapped estimator.
    decider_ : decider
        The decider fitted on all the out-of-fold scores.
    method_ : str
        The method used (the winner for "auto").
    best_score_ : float
        Cross-validated F-beta of the chosen rule on the out-of-fold scores:
        its deciders fitted on part of them and applied to the rest, pooled.
        (``decider_.best_score_`` is the optimistic in-sample figure.)
    best_threshold_ : float or None
        Binary targets only: the threshold applied to the score of ``pos_label``
        (its ``predict_proba`` column; the decision function, negated when
        ``pos_label`` is the first class): predict ``pos_label`` iff
        ``score >= best_threshold_``. None when the rule has no threshold
        (expected-F decisions).
    cv_results_ : dict of ndarray
        One entry per candidate: ``candidate``, ``method``, ``oof_score``
        (pooled F), ``oof_score_ci_low`` / ``oof_score_ci_high`` (95%
        bootstrap interval), ``split{i}_test_score``, ``split{i}_threshold``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``,
        ``chosen``, ``batch_dependent`` and ``fit_time``.
    comparison_ : f1opt.compare.Comparison
        The whole comparison.
    classes_ : ndarray of shape (n_classes,)
        Class labels (``arange(n_labels)`` for multilabel targets).
    pos_label_ : object
        Binary targets only: the positive class.
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
    >>> clf.method_ in ("default", "global"), clf.predict(X[:5]).shape
    (True, (5,))
    """

    # the meta-estimator itself always uses sample_weight (for the decider and the scoring)
    __metadata_request__fit = {"sample_weight": True}

    _parameter_constraints: dict = {
        "estimator": [
            HasMethods(["fit", "predict_proba"]),
            HasMethods(["fit", "decision_function"]),
        ],
        "method": [StrOptions({"auto", *METHOD_NAMES})],
        "beta": [Interval(Real, 0, None, closed="neither")],
        "average": [StrOptions({"binary", "micro", "macro", "weighted", "samples"}), None],
        "pos_label": [Real, str, "boolean", None],
        "cv": ["cv_object", Interval(Real, 0.0, 1.0, closed="neither")],
        "refit": ["boolean"],
        "n_repeats": [Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions(set(SELECTIONS))],
        "objective": [StrOptions(set(OBJECTIVES))],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        method="auto",
        beta=1.0,
        average=None,
        pos_label=None,
        cv=5,
        refit=True,
        n_repeats=8,
        selection="noise",
        objective="fold_mean",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.method = method
        self.beta = beta
        self.average = average
        self.pos_label = pos_label
        self.cv = cv
        self.refit = refit
        self.n_repeats = n_repeats
        self.selection = selection
        self.objective = objective
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _log(self, message):
        if self.verbose and self.verbose > 0:
            print(f"[F1OptimalClassifier] {message}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- targets
    def _encode_targets(self, y):
        """(target, y for the estimator, y for the deciders, classes, positive class)."""
        if hasattr(y, "toarray"):
            y = y.toarray()
        if hasattr(y, "to_numpy"):
            y = y.to_numpy()
        y = np.asarray(y)
        if y.dtype.kind == "f":
            _assert_all_finite(y, input_name="y")
        y_type = type_of_target(y, input_name="y")
        if y_type == "multilabel-indicator":
            # int64, not int8: label_binarize casts class indices to the labels' dtype,
            # which scrambled the one-vs-rest columns past 127 labels
            y_ind = check_indicator_labels(y).astype(np.int64)
            if self.pos_label is not None:
                raise ValueError(
                    f"pos_label={self.pos_label!r} applies to binary targets only, but y is a "
                    "multilabel indicator matrix; leave pos_label=None."
                )
            return "multilabel", y_ind, y_ind, np.arange(y_ind.shape[1]), None
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
        if classes.size > 2:
            if self.pos_label is not None:
                raise ValueError(
                    f"pos_label={self.pos_label!r} applies to binary targets only, but y has "
                    f"{classes.size} classes; leave pos_label=None."
                )
            return "multiclass", y, encoded.astype(np.int64), classes, None
        pos_label = self.pos_label
        if pos_label is None:
            numeric = classes.dtype.kind in "biuf"
            if not (numeric and any(np.array_equal(classes, c) for c in _UNAMBIGUOUS)):
                raise ValueError(
                    f"y has the binary classes {classes.tolist()!r}; F-beta needs to know which "
                    "one is positive. Set pos_label to one of them (only {0, 1}, {-1, 1} and "
                    "{False, True} need no pos_label)."
                )
            pos_label = classes[-1]
        elif not np.any(classes == pos_label):
            raise ValueError(
                f"pos_label={pos_label!r} is not a class of y; the classes are "
                f"{classes.tolist()!r}."
            )
        return "binary", y, (y == pos_label).astype(np.int64), classes, pos_label

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

    # ----------------------------------------------------------------- routing
    def get_metadata_routing(self):
        """Metadata routing: ``fit`` metadata to the estimator's ``fit``.

        ``sample_weight`` is also used by this meta-estimator itself (the
        deciders and every F-beta are weighted), as scikit-learn's
        TunedThresholdClassifierCV uses it for its scorer.

        Returns
        -------
        routing : MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        )

    def _estimator_fit_params(self, sample_weight, fit_params):
        if _routing_enabled():
            extra = {} if sample_weight is None else {"sample_weight": sample_weight}
            routed = process_routing(self, "fit", **extra, **fit_params)
            return dict(routed.estimator.fit)
        _raise_for_params(fit_params, self, "fit")
        if sample_weight is None:
            return {}
        if not has_fit_parameter(self.estimator, "sample_weight"):
            raise ValueError(
                f"{type(self.estimator).__name__}.fit does not take sample_weight; enable "
                "metadata routing (sklearn.set_config(enable_metadata_routing=True)) and "
                "call estimator.set_fit_request(sample_weight=False) to weight only the "
                "decision rule."
            )
        return {"sample_weight": sample_weight}

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Fit the estimator on out-of-fold splits, choose and fit the decider, refit.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Passed to the estimator unchanged (pandas input stays pandas).
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 label indicator matrix for multilabel targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights of the deciders and of every F-beta (weighted counts),
            and of the estimator's ``fit``: passed to it when it takes
            ``sample_weight``, or, with metadata routing enabled, as it requests.
        **fit_params : dict
            Other metadata for the estimator's ``fit`` (metadata routing only).

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
        target, y_fit, y_enc, classes, pos_label = self._encode_targets(y)
        average = self._resolve_average(target)
        pos_index = 1 if target != "binary" else int(np.flatnonzero(classes == pos_label)[0])
        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        est_params = self._estimator_fit_params(sample_weight, fit_params)
        response = (
            "predict_proba" if hasattr(self.estimator, "predict_proba") else "decision_function"
        )
        methods = "auto" if self.method == "auto" else [self.method]
        rng = check_random_state(self.random_state)
        inner_seed = int(rng.randint(np.iinfo(np.int32).max))

        cv = self._outer_cv(target, y_fit)
        if self.refit:
            self._log(f"out-of-fold {response} of {type(self.estimator).__name__}")
            raw = cross_val_predict(
                clone(self.estimator),
                X,
                y_fit,
                cv=cv,
                method=response,
                n_jobs=self.n_jobs,
                params=est_params or None,
            )
            scores, targets, weights = _as_scores(raw, target, response, pos_index), y_enc, sw
            self._log("refit on all the data")
            self.estimator_ = clone(self.estimator).fit(X, y_fit, **est_params)
        else:
            splits = list(cv.split(X, y_fit))
            if len(splits) != 1:
                raise ValueError(
                    f"refit=False keeps the estimator of a single split, but cv gives "
                    f"{len(splits)} splits; use cv=0.2 (a validation fraction) or refit=True."
                )
            train, val = splits[0]
            params_train = {k: _safe_indexing(v, train) for k, v in est_params.items()}
            self.estimator_ = clone(self.estimator).fit(
                _safe_indexing(X, train), _safe_indexing(y_fit, train), **params_train
            )
            raw = getattr(self.estimator_, response)(_safe_indexing(X, val))
            scores, targets = _as_scores(raw, target, response, pos_index), y_enc[val]
            weights = None if sw is None else sw[val]

        n_folds = self.cv if isinstance(self.cv, Integral) and not isinstance(self.cv, bool) else 5
        self._log(f"comparing the rules on {n_folds} shared folds of the out-of-fold scores")
        comparison = compare(
            scores,
            targets,
            target=target,
            average=average,
            beta=float(self.beta),
            methods=methods,
            response=response,
            cv=int(n_folds),
            n_repeats=int(self.n_repeats) if self.method == "auto" else 1,
            random_state=inner_seed,
            selection=self.selection,
            objective=self.objective,
            sample_weight=weights,
            refit=True,
            expand=self.method == "auto",
            choose=None if self.method == "auto" else self.method,
            n_columns=classes.size if target == "multiclass" else None,
            verbose=self.verbose,
        )
        chosen = comparison.chosen
        if chosen is None or chosen.decider is None:
            raise ValueError(
                "no decision rule could be fitted on the out-of-fold scores: "
                + "; ".join(f"{c.name}: {c.error}" for c in comparison.candidates if c.error)
            )
        self.comparison_ = comparison
        self.cv_results_ = comparison.cv_results()
        self.method_ = chosen.method
        self.best_score_ = float(chosen.oof_score)
        self.decider_ = chosen.decider
        self.classes_ = classes
        self.target_type_ = target
        self.average_ = average
        self.response_method_ = response
        self._pos_index = pos_index
        if target == "binary":
            self.pos_label_ = pos_label
            threshold = getattr(self.decider_, "threshold_", None)
            self.best_threshold_ = None if threshold is None else float(threshold)
        self._log(f"chose {chosen.name}: out-of-fold F-beta {self.best_score_:.4f}")
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    # ----------------------------------------------------------------- predict
    def _decider_input(self, X):
        check_is_fitted(self, "decider_")
        raw = getattr(self.estimator_, self.response_method_)(X)
        return _as_scores(raw, self.target_type_, self.response_method_, self._pos_index)

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
        decisions = np.asarray(self.decider_.predict(self._decider_input(X)), dtype=np.int64)
        if self.target_type_ == "multilabel":
            return decisions
        if self.target_type_ == "binary":
            negative = self.classes_[self.classes_ != self.pos_label_][0]
            out = np.empty(decisions.shape, dtype=self.classes_.dtype)
            out[...] = negative
            out[decisions == 1] = self.pos_label_
            return out
        return self.classes_[decisions]

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
