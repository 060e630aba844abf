"""MetaCost: cost-sensitive relabelling of the training data with a bagged ensemble.

MetaCost (Domingos, 1999) turns any classifier into a cost-sensitive one
without touching its loss: a bagged ensemble estimates the class
probabilities of every training example, each example is relabelled with the
class of least expected cost under a cost matrix, and the base classifier is
refitted on the relabelled data. The kernel :func:`metacost_relabel` does the
relabelling; :class:`MetaCost` is a scikit-learn meta-estimator around it.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["MetaCost", "metacost_relabel", "balanced_cost_matrix"]


def metacost_relabel(proba: np.ndarray, cost_matrix: np.ndarray) -> np.ndarray:
    """Index of the class of least expected cost for every row of ``proba``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_classes)
        Estimated class probabilities P(true class = i | x).
    cost_matrix : ndarray of shape (n_classes, n_classes)
        ``cost_matrix[i, j]`` is the cost of predicting class ``j`` when the
        true class is ``i`` (rows true, columns predicted, as in
        :func:`sklearn.metrics.confusion_matrix`).

    Returns
    -------
    labels : ndarray of int of shape (n_samples,)
        ``argmin_j sum_i proba[:, i] * cost_matrix[i, j]``; ties go to the
        lowest index.

    References
    ----------
    .. [1] P. Domingos. "MetaCost: a general method for making classifiers
       cost-sensitive." KDD 1999, pp. 155-164.

    Examples
    --------
    >>> import numpy as np
    >>> proba = np.array([[0.8, 0.2], [0.6, 0.4]])
    >>> cost = np.array([[0.0, 1.0], [3.0, 0.0]])  # missing a positive costs 3
    >>> metacost_relabel(proba, cost).tolist()
    [0, 1]
    """
    proba = np.asarray(proba, dtype=np.float64)
    cost_matrix = np.asarray(cost_matrix, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(
            f"`proba` must be 2-D (n_samples, n_classes), but got shape {proba.shape}."
        )
    _check_cost_matrix(cost_matrix, proba.shape[1])
    return np.argmin(proba @ cost_matrix, axis=1)


def balanced_cost_matrix(y, classes) -> np.ndarray:
    """Cost matrix that balances the class priors.

    Misclassifying an example of class ``i`` costs ``n / (n_classes * n_i)``,
    the weights of scikit-learn's ``class_weight="balanced"``; correct
    decisions cost nothing. Under it the bagged probabilities are relabelled
    as if every class were equally frequent.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    classes : ndarray of shape (n_classes,)

    Returns
    -------
    cost_matrix : ndarray of shape (n_classes, n_classes)

    Examples
    --------
    >>> balanced_cost_matrix([0, 0, 0, 1], [0, 1]).tolist()
    [[0.0, 0.6666666666666666], [2.0, 0.0]]
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
    if np.any(counts == 0):
        raise ValueError("Every class needs at least one example for a balanced cost matrix.")
    weights = y.size / (classes.size * counts)
    cost = np.repeat(weights[:, None], classes.size, axis=1)
    np.fill_diagonal(cost, 0.0)
    return cost


def _check_cost_matrix(cost_matrix: np.ndarray, n_classes: int) -> np.ndarray:
    if cost_matrix.shape != (n_classes, n_classes):
        raise ValueError(
            f"`cost_matrix` must have shape ({n_classes}, {n_classes}) for {n_classes} "
            f"classes, but got shape {cost_matrix.shape}."
        )
    if not np.all(np.isfinite(cost_matrix)):
        raise ValueError("`cost_matrix` must hold finite numbers only.")
    return cost_matrix


def _proba_in_classes(estimator, X, classes: np.ndarray) -> np.ndarray:
    """predict_proba of ``estimator`` laid out on the columns of ``classes``.

    A bag may miss a class; its column is zero. Estimators without
    ``predict_proba`` contribute a one-hot vote.
    """
    out = np.zeros((X.shape[0], classes.size))
    columns = np.searchsorted(classes, estimator.classes_)
    if hasattr(estimator, "predict_proba"):
        out[:, columns] = estimator.predict_proba(X)
    else:
        predicted = np.searchsorted(classes, estimator.predict(X))
        out[np.arange(X.shape[0]), predicted] = 1.0
    return out


class MetaCost(ClassifierMixin, BaseEstimator):
    """Make any classifier cost-sensitive by bagging, relabelling and refitting.

    The algorithm of Domingos (1999):

    1. draw ``n_estimators`` bootstrap samples of the training data (each of
       ``max_samples`` examples) and fit a clone of ``estimator`` on each;
    2. estimate P(j | x) for every training example as the mean of the
       ensemble's ``predict_proba`` (a one-hot vote for estimators without
       it); with ``oob=True`` only the models whose sample left x out vote
       (all models when none did);
    3. relabel x with ``argmin_j sum_i P(i | x) C[i, j]``
       (:func:`metacost_relabel`);
    4. fit a final clone of ``estimator`` on the relabelled data (a
       constant classifier when every example was relabelled to one class).

    Predictions come from the final model alone, so MetaCost costs
    ``n_estimators + 1`` fits but predicts at the price of one.

    Parameters
    ----------
    estimator : classifier
        A scikit-learn classifier; ``predict_proba`` is used when it has one.
    cost_matrix : ndarray of shape (n_classes, n_classes), "balanced" or None, default=None
        ``cost_matrix[i, j]`` is the cost of predicting class ``classes_[j]``
        when the true class is ``classes_[i]`` (rows true, columns
        predicted). None means 0-1 cost (MetaCost then only denoises the
        labels by bagging); "balanced" uses :func:`balanced_cost_matrix`,
        which for two classes makes a missed positive cost n_neg / n_pos
        times a false alarm.
    n_estimators : int, default=10
        Number of bagged models.
    max_samples : int or float, default=1.0
        Size of each bootstrap sample: a count, or a fraction of n_samples.
    oob : bool, default=False
        Estimate P(j | x) only from the models that did not see x.
    random_state : int, RandomState instance or None, default=None
        Seeds the bootstrap draws and, when the estimator has a
        ``random_state`` parameter left at None, each clone.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    cost_matrix_ : ndarray of shape (n_classes, n_classes)
        The cost matrix used.
    estimators_ : list of estimators
        The bagged models.
    estimator_ : estimator
        The final model, fitted on the relabelled data.
    relabeled_ : ndarray of shape (n_samples,)
        The training labels after relabelling (in ``classes_``).
    n_relabeled_ : int
        How many training labels changed.
    n_features_in_ : int

    See Also
    --------
    sklearn.model_selection.TunedThresholdClassifierCV : tune a decision threshold instead.

    References
    ----------
    .. [1] P. Domingos. "MetaCost: a general method for making classifiers
       cost-sensitive." KDD 1999, pp. 155-164.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from f1opt.metacost import MetaCost
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> model = MetaCost(LogisticRegression(), cost_matrix="balanced",
    ...                  n_estimators=5, random_state=0).fit(X, y)
    >>> bool(model.predict(X).mean() > y.mean())   # more positives than the 10% prior
    True
    """

    def __init__(
        self,
        estimator,
        cost_matrix=None,
        n_estimators=10,
        max_samples=1.0,
        oob=False,
        random_state=None,
    ):
        self.estimator = estimator
        self.cost_matrix = cost_matrix
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.oob = oob
        self.random_state = random_state

    def _n_bootstrap(self, n_samples: int) -> int:
        m = self.max_samples
        if isinstance(m, numbers.Integral) and not isinstance(m, bool):
            if not 1 <= m <= n_samples:
                raise ValueError(
                    f"`max_samples` as a count must lie in [1, {n_samples}], but got {m}."
                )
            return int(m)
        if isinstance(m, numbers.Real) and not isinstance(m, bool) and 0.0 < m <= 1.0:
            return max(1, int(round(m * n_samples)))
        raise ValueError(f"`max_samples` must be an int count or a float in (0, 1], but got {m!r}.")

    def _resolve_cost(self, y_encoded: np.ndarray) -> np.ndarray:
        n_classes = self.classes_.size
        if self.cost_matrix is None:
            return 1.0 - np.eye(n_classes)
        if isinstance(self.cost_matrix, str):
            if self.cost_matrix != "balanced":
                raise ValueError(
                    "`cost_matrix` must be an array, 'balanced' or None, "
                    f"but got {self.cost_matrix!r}."
                )
            return balanced_cost_matrix(y_encoded, np.arange(n_classes))
        return _check_cost_matrix(np.asarray(self.cost_matrix, dtype=np.float64), n_classes)

    def _clone(self, rng):
        model = clone(self.estimator)
        params = model.get_params(deep=False)
        if "random_state" in params and params["random_state"] is None:
            model.set_params(random_state=int(rng.randint(np.iinfo(np.int32).max)))
        return model

    def fit(self, X, y):
        """Bag, relabel by least expected cost, refit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Anything the estimator accepts with that leading dimension
            (images may come flattened or as n-d arrays).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : MetaCost
        """
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], allow_nd=True, ensure_min_samples=2
        )
        check_classification_targets(y)
        self.classes_, y_encoded = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                f"MetaCost needs at least 2 classes in `y`, but got {self.classes_.size}."
            )
        if not isinstance(self.n_estimators, numbers.Integral) or self.n_estimators < 1:
            raise ValueError(
                f"`n_estimators` must be a positive integer, but got {self.n_estimators!r}."
            )
        self.cost_matrix_ = self._resolve_cost(y_encoded)
        n_samples = X.shape[0]
        n_draw = self._n_bootstrap(n_samples)
        rng = check_random_state(self.random_state)

        proba_sum = np.zeros((n_samples, self.classes_.size))
        oob_sum = np.zeros_like(proba_sum)
        oob_count = np.zeros(n_samples)
        self.estimators_ = []
        for _ in range(self.n_estimators):
            idx = rng.randint(0, n_samples, size=n_draw)
            # a bag needs two classes to fit most classifiers: redraw a few times
            for _retry in range(10):
                if np.unique(y_encoded[idx]).size >= 2:
                    break
                idx = rng.randint(0, n_samples, size=n_draw)
            model = self._clone(rng).fit(X[idx], y[idx])
            proba = _proba_in_classes(model, X, self.classes_)
            proba_sum += proba
            if self.oob:
                left_out = np.ones(n_samples, dtype=bool)
                left_out[idx] = False
                oob_sum[left_out] += proba[left_out]
                oob_count += left_out
            self.estimators_.append(model)

        proba = proba_sum / self.n_estimators
        if self.oob:
            seen = oob_count > 0
            proba[seen] = oob_sum[seen] / oob_count[seen, None]
        relabeled = metacost_relabel(proba, self.cost_matrix_)
        self.relabeled_ = self.classes_[relabeled]
        self.n_relabeled_ = int(np.sum(relabeled != y_encoded))
        if np.unique(relabeled).size < 2:
            # every example went to one class: most classifiers refuse one class
            self.estimator_ = DummyClassifier(strategy="most_frequent").fit(X, self.relabeled_)
        else:
            self.estimator_ = self._clone(rng).fit(X, self.relabeled_)
        return self

    def predict_proba(self, X):
        """Class probabilities of the final (relabelled) model, on ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            A class absent from the relabelled data gets probability 0.
        """
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], allow_nd=True, reset=False)
        return _proba_in_classes(self.estimator_, X, self.classes_)

    def predict(self, X):
        """Predicted classes of the final (relabelled) model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], allow_nd=True, reset=False)
        return self.estimator_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
