"""From features to predictions in one object: base estimators + CF ensemble."""

from __future__ import annotations

import inspect

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import ClassifierMixin, clone
from sklearn.model_selection import check_cv
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import check_is_fitted, validate_data

from ._estimator import CFEnsembleClassifier
from ._validation import check_labels

__all__ = ["CFEnsembleStackingClassifier"]

_CF_DEFAULTS = {
    name: p.default
    for name, p in inspect.signature(CFEnsembleClassifier.__init__).parameters.items()
    if name not in ("self", "n_jobs")  # the stacking estimator's own n_jobs is passed on
}


def _positive_proba(estimator, X) -> np.ndarray:
    proba = estimator.predict_proba(X)
    classes = list(estimator.classes_)
    return proba[:, classes.index(1)] if 1 in classes else np.zeros(X.shape[0])


def _fit_predict(estimator, X, y, train, test):
    fitted = clone(estimator).fit(X[train], y[train])
    return test, _positive_proba(fitted, X[test])


class CFEnsembleStackingClassifier(ClassifierMixin, _BaseComposition):
    """Base estimators whose out-of-fold probabilities are combined by a CF ensemble.

    Like scikit-learn's ``StackingClassifier``: ``fit(X, y)`` builds the probability matrix
    ``P`` from out-of-fold ``predict_proba`` of each base estimator on the labeled rows,
    refits the base estimators on all labeled rows (their predictions fill ``P`` for the
    unlabeled rows, so the factorization uses those rows too), then fits a
    :class:`CFEnsembleClassifier` on ``P``. ``predict_proba(X_new)`` runs the base estimators
    and folds the new rows in.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Base classifiers with ``predict_proba``; they never see an unlabeled row in fit.
    cv : int or cross-validation generator, default=5
        Folds for the out-of-fold predictions (stratified for an int).
    n_jobs : int or None, default=None
        Parallel jobs for the base fits (joblib).
    **cf_params
        Any parameter of :class:`CFEnsembleClassifier` (``rho``, ``latent_dim``, ...), also
        reachable through ``get_params``/``set_params`` and so ``GridSearchCV``.

    Attributes
    ----------
    estimators_ : list of estimators
        The base estimators refitted on all labeled rows.
    ensemble_ : CFEnsembleClassifier
        The fitted CF ensemble.
    P_ : ndarray of shape (n_samples, n_estimators)
        The probability matrix it was fitted on.
    transduction_ : ndarray of shape (n_samples,)
        Ensemble probability for every row seen in fit (``ensemble_.transduction_``).
    n_iter_ : int
        Iterations (or epochs) of the ensemble fit.
    classes_ : ndarray of shape (2,)
    """

    def __init__(self, estimators, *, cv=5, n_jobs=None, **cf_params):
        unknown = sorted(set(cf_params) - set(_CF_DEFAULTS))
        if unknown:
            raise TypeError(
                f"CFEnsembleStackingClassifier got unknown parameter(s) {unknown}; it takes "
                "estimators, cv, n_jobs and the parameters of CFEnsembleClassifier."
            )
        self.estimators = estimators
        self.cv = cv
        self.n_jobs = n_jobs
        for name, default in _CF_DEFAULTS.items():
            setattr(self, name, cf_params.get(name, default))

    def get_params(self, deep=True):
        """Parameters, with each base estimator's as ``<name>__<param>`` when ``deep``."""
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, including ``<name>__<param>`` of a base estimator."""
        self._set_params("estimators", **params)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the labeled rows of ``y`` (unlabeled rows, -1 or NaN, are ignored)."""
        from .metrics import labeled_accuracy

        return labeled_accuracy(self, X, y, sample_weight)

    def _cf_params(self) -> dict:
        return {**{name: getattr(self, name) for name in _CF_DEFAULTS}, "n_jobs": self.n_jobs}

    def fit(self, X, y):
        """Fit the base estimators out of fold, then the CF ensemble.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            1 or 0 for labeled rows, -1 or NaN for unlabeled rows.
        """
        valid = isinstance(self.estimators, list) and all(
            isinstance(e, tuple) and len(e) == 2 for e in self.estimators
        )
        if not valid or not self.estimators:
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator) tuples; got "
                f"{self.estimators!r}."
            )
        self._validate_names([name for name, _ in self.estimators])
        for name, est in self.estimators:
            if not hasattr(est, "predict_proba"):
                raise ValueError(f"estimator {name!r} has no predict_proba.")
        y = check_labels(y)
        X = validate_data(self, X, ensure_all_finite="allow-nan")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows.")
        labeled = np.flatnonzero(~np.isnan(y))
        if labeled.size == 0 or np.unique(y[labeled]).size < 2:
            raise ValueError(
                "y must have labeled rows of both classes (0 and 1), not one class or none: "
                "the base estimators are trained on them."
            )
        X_l, y_l = X[labeled], y[labeled].astype(int)
        cv = check_cv(self.cv, y_l, classifier=True)  # an int: StratifiedKFold
        splits = list(cv.split(X_l, y_l))
        estimators = [est for _, est in self.estimators]
        jobs = [(k, train, test) for k in range(len(estimators)) for train, test in splits]
        parallel = Parallel(n_jobs=self.n_jobs)
        out_of_fold = parallel(
            delayed(_fit_predict)(estimators[k], X_l, y_l, train, test) for k, train, test in jobs
        )
        self.estimators_ = parallel(delayed(clone(e).fit)(X_l, y_l) for e in estimators)
        P = np.empty((X.shape[0], len(estimators)))
        P_l = np.empty((labeled.size, len(estimators)))
        for (k, _, _), (test, proba) in zip(jobs, out_of_fold, strict=True):
            P_l[test, k] = proba
        P[labeled] = P_l
        unlabeled = np.flatnonzero(np.isnan(y))
        if unlabeled.size:
            P[unlabeled] = self._base_matrix(X[unlabeled])
        self.P_ = np.clip(P, 0.0, 1.0)
        self.ensemble_ = CFEnsembleClassifier(**self._cf_params()).fit(
            self.P_, np.where(np.isnan(y), -1, y)
        )
        self.classes_ = self.ensemble_.classes_
        self.n_iter_ = self.ensemble_.n_iter_
        self.transduction_ = self.ensemble_.transduction_
        return self

    def _base_matrix(self, X) -> np.ndarray:
        return np.clip(np.column_stack([_positive_proba(e, X) for e in self.estimators_]), 0, 1)

    def predict_base(self, X) -> np.ndarray:
        """The base estimators' probabilities for ``X``: the rows of ``P`` for new data."""
        check_is_fitted(self, "ensemble_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        return self._base_matrix(X)

    def predict_proba(self, X) -> np.ndarray:
        """Base predictions for ``X``, folded into the fitted ensemble; shape (n_samples, 2)."""
        P = self.predict_base(X)
        return self.ensemble_.predict_proba(P)

    def predict(self, X) -> np.ndarray:
        """Class labels: 1 where the positive probability is at least 0.5."""
        positive = self.predict_proba(X)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]


# The CF parameters are explicit keyword parameters of the signature that scikit-learn
# reads (get_params, clone, repr): one list, taken from CFEnsembleClassifier's signature.
CFEnsembleStackingClassifier.__init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        *list(inspect.signature(CFEnsembleStackingClassifier.__init__).parameters.values())[:4],
        *(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
            for name, default in _CF_DEFAULTS.items()
        ),
    ]
)
