"""From features to predictions in one object: base estimators + CF ensemble."""

from __future__ import annotations

import importlib
import io
import time
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from scipy.special import expit, softmax
from sklearn.base import ClassifierMixin, TransformerMixin, clone
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.utils import Bunch, _safe_indexing, get_tags
from sklearn.utils.metaestimators import _BaseComposition
from sklearn.utils.validation import _num_samples, check_is_fitted, indexable, validate_data

from ._estimator import CFEnsembleClassifier, _verbosity, logger
from ._validation import _marks_minus_one, encode_labels, predicted_labels

__all__ = ["CFEnsembleStackingClassifier", "load_stacking"]

_STACK_METHODS = ("auto", "predict_proba", "decision_function")


def _method(name: str, estimator, stack_method: str) -> str:
    """The method that gives ``estimator``'s column of ``P`` (scikit-learn's "auto" rule)."""
    methods = ("predict_proba", "decision_function") if stack_method == "auto" else (stack_method,)
    for method in methods:
        if hasattr(estimator, method):
            return method
    raise ValueError(
        f"estimator {name!r} has no {' or '.join(methods)}, needed by "
        f"stack_method={stack_method!r}."
    )


def _column(scores: np.ndarray, own_classes, classes: np.ndarray, method: str) -> np.ndarray:
    """One estimator's part of ``P``: the second class's probability for two classes (n,),
    every class's for K >= 3 (n, K), in the order of ``classes``.

    ``own_classes`` are the estimator's ``classes_``: a class it never saw (a fold without
    it) gets probability 0. ``decision_function`` scores go through the logistic function
    (two classes) or the softmax (K classes): a monotone map to probabilities.
    """
    scores = np.asarray(scores, dtype=np.float64)
    own = list(np.asarray(own_classes).tolist())
    k = classes.size
    if method == "decision_function":
        if k == 2:
            return expit(scores.reshape(len(scores), -1)[:, -1])
        full = np.full((len(scores), k), -np.inf)
        for j, label in enumerate(classes.tolist()):
            if label in own:
                full[:, j] = scores[:, own.index(label)]
        return softmax(full, axis=1)
    full = np.zeros((len(scores), k))
    for j, label in enumerate(classes.tolist()):
        if label in own:  # trained without this class (a fold lacking it): no evidence
            full[:, j] = scores[:, own.index(label)]
    full = np.clip(full, 0.0, 1.0)
    return full[:, 1] if k == 2 else full


def _check_X(X):
    """``X`` as given, made indexable by rows; a clear error for anything but 2-D."""
    X = indexable(X)[0]
    ndim = getattr(X, "ndim", 2)
    if ndim != 2:
        raise ValueError(
            f"X must be 2-D of shape (n_samples, n_features); got {ndim} dimension(s). "
            "Reshape your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one row."
        )
    return X


class CFEnsembleStackingClassifier(ClassifierMixin, TransformerMixin, _BaseComposition):
    """Base estimators whose out-of-fold predictions are combined by a CF ensemble.

    Like scikit-learn's :class:`~sklearn.ensemble.StackingClassifier`, with a
    :class:`CFEnsembleClassifier` as the final estimator and rows without a label allowed:
    ``fit(X, y)`` builds the probability matrix ``P`` (one column per base estimator; for
    three classes or more, one per base estimator and class) from out-of-fold predictions
    on the labeled rows (:func:`~sklearn.model_selection.cross_val_predict`), refits
    every base estimator on all labeled rows (their predictions fill ``P`` for the
    unlabeled rows, so the factorization uses those rows too) and fits the final estimator
    on ``P``.
    ``predict_proba(X_new)`` runs the base estimators and folds the new rows in.
    ``X`` reaches the base estimators untouched: a DataFrame (with a column selection in a
    pipeline), string columns or a sparse matrix work when the base estimators accept them.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Base classifiers, trained on the labeled rows only: two classes or more (any
        labels: numbers, strings, bools).
    final_estimator : CFEnsembleClassifier or None, default=None
        The ensemble fitted on ``P`` (``None``: ``CFEnsembleClassifier()``). When one is
        given, its parameters are reachable as ``final_estimator__<param>``, e.g. in
        ``GridSearchCV``.
    cv : int, cross-validation generator, iterable or "prefit", default=5
        Folds for the out-of-fold predictions (an int: stratified folds). ``"prefit"``: the
        estimators are already fitted (on other data); they are used as they are, on every
        row, and never refitted.
    stack_method : {"auto", "predict_proba", "decision_function"}, default="auto"
        The method giving each column of ``P``. ``"auto"`` takes ``predict_proba`` and
        falls back to ``decision_function``, whose scores enter ``P`` through the logistic
        function ``1 / (1 + exp(-s))`` (two classes) or the softmax (three or more): a
        monotone map to [0, 1], not a calibration.
    n_jobs : int or None, default=None
        Parallel jobs for the base estimators' fits (joblib).
    verbose : bool, default=False
        Log the progress of ``fit`` (logger ``"cfensemble"``, on stderr unless logging is
        configured): a line per base estimator once it is cross-validated, with its time,
        then one for the refit on all labeled rows and one for the ensemble's fit. The
        final estimator's own ``verbose`` logs its iterations.

    Attributes
    ----------
    estimators_ : list of estimators
        The base estimators fitted on all labeled rows (``cv="prefit"``: the given ones).
    named_estimators_ : Bunch
        The same, by name.
    stack_method_ : list of str
        The method used for each base estimator.
    final_estimator_ : CFEnsembleClassifier
        The fitted ensemble.
    P_ : ndarray of shape (n_samples, n_estimators) or (n_samples, n_estimators, n_classes)
        The probability matrix it was fitted on: for two classes, each estimator's
        probability of the second class (``classes_[1]``); for three or more, its
        probability of every class, in the order of ``classes_``.
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        Ensemble class probabilities for every row seen in fit, columns in the order of
        ``classes_`` (``final_estimator_.label_distributions_``).
    transduction_ : ndarray of shape (n_samples,)
        Ensemble predicted label for every row seen in fit
        (``final_estimator_.transduction_``).
    n_iter_ : int
        Iterations (or epochs) of the ensemble fit.
    classes_ : ndarray of shape (n_classes,)
        The labels of the labeled rows, sorted (``cv="prefit"``: the estimators'
        ``classes_``): two (binary) or more (multi-class).
    n_features_in_ : int
        Number of features of ``X`` (when ``X`` has a shape).
    feature_names_in_ : ndarray of str
        Column names of ``X``, when it is a DataFrame with string column names.

    Notes
    -----
    There is no ``passthrough``: the final estimator factorizes a matrix of probabilities,
    and raw features are not probabilities. Save a fitted stack with :meth:`save` and read
    it back with :func:`cfensemble.stacking.load_stacking` (the ``[skops]`` extra).
    """

    def __init__(
        self,
        estimators,
        final_estimator=None,
        *,
        cv=5,
        stack_method="auto",
        n_jobs=None,
        verbose=False,
    ):
        self.estimators = estimators
        self.final_estimator = final_estimator
        self.cv = cv
        self.stack_method = stack_method
        self.n_jobs = n_jobs
        self.verbose = verbose

    @property
    def named_estimators(self) -> Bunch:
        """The base estimators (unfitted, as given), by name."""
        return Bunch(**dict(self.estimators))

    def get_params(self, deep=True):
        """Parameters, with each base estimator's as ``<name>__<param>`` when ``deep``."""
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters, including ``<name>__<param>`` of a base estimator."""
        self._set_params("estimators", **params)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        # X goes to the base estimators untouched: sparse if they all take it
        estimators = self.estimators if isinstance(self.estimators, list) else []
        tags.input_tags.sparse = bool(estimators) and all(
            isinstance(e, tuple) and len(e) == 2 and get_tags(e[1]).input_tags.sparse
            for e in estimators
        )
        return tags

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the labeled rows of ``y`` (unlabeled rows, -1 or NaN, are ignored)."""
        from .metrics import labeled_accuracy

        return labeled_accuracy(self, X, y, sample_weight)

    # ------------------------------------------------------------------ checks

    def _check_params(self) -> tuple[list[str], list]:
        valid = isinstance(self.estimators, list) and all(
            isinstance(e, tuple) and len(e) == 2 for e in self.estimators
        )
        if not valid or not self.estimators:
            raise ValueError(
                "estimators must be a non-empty list of (name, estimator) tuples; got "
                f"{self.estimators!r}."
            )
        names = [name for name, _ in self.estimators]
        self._validate_names(names)
        if self.stack_method not in _STACK_METHODS:
            raise ValueError(
                f"stack_method must be one of {list(_STACK_METHODS)}; got {self.stack_method!r}."
            )
        if self.final_estimator is not None and not isinstance(
            self.final_estimator, CFEnsembleClassifier
        ):
            raise ValueError(
                "final_estimator must be a CFEnsembleClassifier or None; got "
                f"{type(self.final_estimator).__name__}: the final estimator receives "
                "the unlabeled rows with the label -1."
            )
        return names, [est for _, est in self.estimators]

    # --------------------------------------------------------------------- fit

    def fit(self, X, y, sample_weight=None):
        """Fit the base estimators out of fold, then the CF ensemble.

        Parameters
        ----------
        X : array-like, DataFrame or sparse matrix of shape (n_samples, n_features)
            Passed to the base estimators as it is.
        y : array-like of shape (n_samples,)
            The class of each labeled row (numbers, strings, bools), -1 or NaN (None for
            object labels) for unlabeled rows.
        sample_weight : array-like of shape (n_samples,), optional
            Passed to the base estimators' ``fit`` (their labeled rows' weights; every base
            estimator must accept it) and to the final estimator (see
            :meth:`CFEnsembleClassifier.fit`).
        """
        names, estimators = self._check_params()
        with _verbosity(self.verbose):  # a line per base estimator (the slow part)
            P = self._fit_base_estimators(names, estimators, X, y, sample_weight)
        self.named_estimators_ = Bunch(**dict(zip(names, self.estimators_, strict=True)))
        self.P_ = P
        final = CFEnsembleClassifier() if self.final_estimator is None else self.final_estimator
        start = time.perf_counter()
        self.final_estimator_ = clone(final).fit(P, y, sample_weight)
        self.n_iter_ = self.final_estimator_.n_iter_  # (runs a deferred factorization)
        self.label_distributions_ = self.final_estimator_.label_distributions_
        self.transduction_ = self.final_estimator_.transduction_
        with _verbosity(self.verbose):  # the final estimator's own verbose logs its fit
            logger.info(
                "fitted the ensemble on P of shape %s in %.2f s",
                P.shape,
                time.perf_counter() - start,
            )
        return self

    def _fit_base_estimators(self, names, estimators, X, y, sample_weight) -> np.ndarray:
        """``P``: the base estimators' out-of-fold predictions on the labeled rows, their
        refits' on the unlabeled rows (``cv="prefit"``: the given estimators' on every row);
        sets ``classes_``, ``stack_method_`` and ``estimators_``."""
        y_given = y
        y, classes = encode_labels(y)
        X = _check_X(X)
        validate_data(self, X, skip_check_array=True)  # feature names and count only
        if y.shape[0] != _num_samples(X):
            raise ValueError(f"y has {y.shape[0]} entries but X has {_num_samples(X)} rows.")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            if sample_weight.shape != y.shape:
                raise ValueError(
                    f"sample_weight must have shape ({y.shape[0]},), one weight per row; got "
                    f"{sample_weight.shape}."
                )
        self.stack_method_ = [
            _method(name, est, self.stack_method) for name, est in self.estimators
        ]
        if sp.issparse(X) and X.format not in ("csr", "csc"):
            X = X.tocsr()  # rows of a COO/DIA/... matrix cannot be selected
        labeled = np.flatnonzero(~np.isnan(y))
        if self.cv == "prefit":
            self.classes_ = self._prefit_classes(classes)
            self.estimators_ = list(estimators)
            P = self._base_matrix(X)
        else:
            if classes.size < 2:
                raise ValueError(
                    "y must have labeled rows of at least two classes (both classes of a "
                    "binary problem), not one class or none: the base estimators are trained "
                    "on them."
                    + (
                        " -1 marks an unlabeled row (scikit-learn's semi-supervised "
                        "convention); if -1 is a class here (labels -1/+1), recode y."
                        if _marks_minus_one(y_given)
                        else ""
                    )
                )
            self.classes_ = classes
            X_l, y_l = _safe_indexing(X, labeled), classes[y[labeled].astype(int)]
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight[labeled]}
            cv = check_cv(self.cv, y_l, classifier=True)  # an int: stratified folds
            splits = list(cv.split(X_l, y_l))
            out_of_fold = []
            for u, (name, est, method) in enumerate(
                zip(names, estimators, self.stack_method_, strict=True)
            ):
                start = time.perf_counter()
                out_of_fold.append(
                    cross_val_predict(
                        clone(est),
                        X_l,
                        y_l,
                        cv=splits,
                        method=method,
                        n_jobs=self.n_jobs,
                        params=fit_params,
                    )
                )
                logger.info(
                    "base estimator %d of %d, %r: cross-validated (%d folds, %s) in %.2f s",
                    u + 1,
                    len(names),
                    name,
                    len(splits),
                    method,
                    time.perf_counter() - start,
                )
            start = time.perf_counter()
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(clone(est).fit)(X_l, y_l, **fit_params) for est in estimators
            )
            logger.info(
                "refitted the %d base estimators on the %d labeled rows in %.2f s",
                len(names),
                labeled.size,
                time.perf_counter() - start,
            )
            columns = [
                _column(scores, est.classes_, classes, method)
                for scores, est, method in zip(
                    out_of_fold, self.estimators_, self.stack_method_, strict=True
                )
            ]
            P = np.empty((y.shape[0], *np.stack(columns, axis=1).shape[1:]))
            P[labeled] = np.stack(columns, axis=1)
            unlabeled = np.flatnonzero(np.isnan(y))
            if unlabeled.size:
                P[unlabeled] = self._base_matrix(_safe_indexing(X, unlabeled))
        return P

    def _prefit_classes(self, classes: np.ndarray) -> np.ndarray:
        """``cv="prefit"``: the estimators' common ``classes_`` (those of ``y`` if labeled)."""
        found = []
        for name, est in self.estimators:
            check_is_fitted(est, msg=f"cv='prefit' but estimator {name!r} is not fitted.")
            found.append(np.asarray(getattr(est, "classes_", [0, 1])))
        reference = classes if classes.size >= 2 else found[0]
        for (name, _), own in zip(self.estimators, found, strict=True):
            if own.tolist() != reference.tolist():
                raise ValueError(
                    f"cv='prefit': estimator {name!r} was fitted on classes {own.tolist()}; "
                    f"every estimator must have the classes {reference.tolist()}"
                    + (" of the labeled rows of y." if classes.size >= 2 else " of the first.")
                )
        return reference

    def _base_matrix(self, X) -> np.ndarray:
        """``P`` for ``X``: (n, m) for two classes, (n, m, K) for K >= 3."""
        columns = [
            _column(
                getattr(est, method)(X),
                getattr(est, "classes_", self.classes_),
                self.classes_,
                method,
            )
            for est, method in zip(self.estimators_, self.stack_method_, strict=True)
        ]
        return np.stack(columns, axis=1)

    # ----------------------------------------------------------------- predict

    def _new_matrix(self, X) -> np.ndarray:
        check_is_fitted(self, "final_estimator_")
        X = _check_X(X)
        validate_data(self, X, reset=False, skip_check_array=True)
        return self._base_matrix(X)

    def transform(self, X) -> np.ndarray:
        """The base estimators' probabilities for ``X``: the rows of ``P`` for new data,
        (n, m) for two classes and (n, m K) for K >= 3 (each estimator's K classes side by
        side, named by :meth:`get_feature_names_out`)."""
        P = self._new_matrix(X)
        return P.reshape(P.shape[0], -1)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names of the columns of :meth:`transform`: the base estimators' names, and
        ``<name>__<class>`` for K >= 3 classes."""
        check_is_fitted(self, "final_estimator_")
        names = list(self.named_estimators_)
        if self.classes_.size > 2:
            names = [f"{name}__{label}" for name in names for label in self.classes_.tolist()]
        return np.asarray(names, dtype=object)

    def predict_proba(self, X) -> np.ndarray:
        """Base predictions for ``X``, folded into the fitted ensemble; shape (n_samples,
        n_classes), classes in the order of ``classes_``."""
        P = self._new_matrix(X)
        return self.final_estimator_.predict_proba(P)

    def predict(self, X) -> np.ndarray:
        """Class labels of ``X`` (labels of ``classes_``): the most probable class (for two
        classes, the second where its probability is at least 0.5)."""
        proba = self.predict_proba(X)  # first: it checks that we are fitted
        return predicted_labels(self.classes_, proba)

    # -------------------------------------------------------------------- save

    def save(self, path) -> None:
        """Write the fitted stack to ``path`` with skops (read it with :func:`load_stacking`).

        skops stores objects without pickle: loading runs no code from the file, and types
        other than scikit-learn's, numpy's and cfensemble's must be trusted by name.
        """
        check_is_fitted(self, "final_estimator_")
        _check_finite(self.final_estimator_, "the stack's final estimator")
        sio = _skops()
        try:
            sio.dump(self, Path(path))
        except OSError as exc:
            raise OSError(f"cannot write the stack to {path}: {exc.strerror or exc}") from None


def _skops():
    try:
        import skops.io as sio
    except ImportError:
        raise ImportError(
            "saving or loading a CFEnsembleStackingClassifier needs skops: "
            "pip install 'cfensemble[skops]'"
        ) from None
    return sio


def _our_classes() -> set[str]:
    """The classes a stack file may hold without being named: the stack, the estimator and
    its subclasses (the original front-ends), and the dict of ``named_estimators_``. Exact
    class names only: a function (which skops would call) is never trusted by prefix."""
    classes, todo = set(), [CFEnsembleClassifier, CFEnsembleStackingClassifier]
    while todo:
        cls = todo.pop()
        classes.add(f"{cls.__module__}.{cls.__qualname__}")
        todo.extend(cls.__subclasses__())
    return classes | {"sklearn.utils._bunch.Bunch"}


def _scikit_learn_classes(names) -> set[str]:
    """The names among ``names`` that are classes of scikit-learn itself (the fitted parts
    skops does not trust by default: a tree's ``sklearn.tree._tree.Tree``, a histogram
    boosting's ``TreePredictor``, an MLP's optimizer, a calibrated classifier's calibrators).
    Classes only, looked up in their module: a function is never trusted by its name."""
    out = set()
    for name in names:
        module, _, attribute = name.rpartition(".")
        if module.split(".")[0] != "sklearn":
            continue
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            continue
        if isinstance(found, type):
            out.add(name)
    return out


def load_stacking(path, trusted=None) -> CFEnsembleStackingClassifier:
    """Read a stack written by :meth:`CFEnsembleStackingClassifier.save`.

    Parameters
    ----------
    path : str or path-like
    trusted : list of str or None, default=None
        Further type names to trust (e.g. ``["xgboost.sklearn.XGBClassifier"]``), after
        checking them with ``skops.io.get_untrusted_types(file=path)``. cfensemble's
        estimator classes, the types skops trusts by default (numpy's, scikit-learn's
        estimators, ...) and the other classes of scikit-learn (the fitted parts of trees,
        boosting, MLPs and calibration) need no name; a function is never trusted by its
        module's name.
    """
    sio = _skops()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no stack file at {path}.")
    data = path.read_bytes()  # checked and loaded from the same bytes
    if "metadata.npy" in _zip_members(data):  # what cfensemble.save writes
        raise ValueError(
            f"{path} is a cfensemble model file (a CFEnsembleClassifier): read it with "
            "cfensemble.load."
        )
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises several kinds on a damaged file
        raise ValueError(f"{path} is not a readable skops file: {exc}") from None
    refused = sorted(
        set(untrusted) - _our_classes() - _scikit_learn_classes(untrusted) - set(trusted or ())
    )
    if refused:
        raise ValueError(
            f"{path} holds types that are not trusted: {refused}. Check them, then pass "
            "trusted=[...] with their names."
        )
    stack = sio.loads(data, trusted=sorted(set(untrusted)))
    if not isinstance(stack, CFEnsembleStackingClassifier):
        raise ValueError(f"{path} holds a {type(stack).__name__}, not a stack.")
    _check_finite(getattr(stack, "final_estimator_", None), f"{path}: the final estimator")
    return stack


def _zip_members(data: bytes) -> list[str]:
    """The member names of a zip archive's bytes (none for anything else)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return []


def _check_finite(model, where: str) -> None:
    """Refuse a fitted model whose numbers are NaN or infinite (it would predict NaN), as
    :func:`cfensemble.load` refuses such a model file."""
    for name, value in vars(model).items() if model is not None else ():
        if not name.endswith("_") or name.startswith("_"):
            continue
        array = np.asarray(value) if isinstance(value, (np.ndarray, float)) else None
        if array is not None and array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"{where} holds NaN or infinite values in {name}; refit it.")
