"""CFEnsembleClassifier: parameters in, one Objective and one Solver, fitted attributes out."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _aggregation, _deferred, _missing, _multiclass, _search, _solvers
from ._aggregation import SHRINKAGE_FALLBACK
from ._problem import AGGREGATOR_INPUTS, Data, Objective, confidence_source, rank_zero
from ._search import _stratified_holdout
from ._solvers import ALS, SOLVERS, Autograd, Settings, settings_of, settled, trainer_of
from ._validation import (
    _check_sample_weight,
    _is_array,
    _marks_minus_one,
    check_confidence_array,
    check_label_classes,
    check_probabilities,
    empty_rows,
    encode_labels,
    mean_distribution,
    positive_last,
    predicted_labels,
    proba_columns,
)
from .io import register, save_model

logger = logging.getLogger("cfensemble")


@contextmanager
def _verbosity(verbose: bool):
    """Show the fit's INFO log lines on stderr while ``verbose`` is on."""
    if not verbose:
        yield
        return
    handler = None
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("cfensemble: %(message)s"))
        logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.setLevel(level)
        if handler is not None:
            logger.removeHandler(handler)


@register
class CFEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Ensemble of base classifiers by confidence-weighted matrix factorization.

    Factorizes the probability matrix ``P`` (instances x classifiers, NaN where a
    classifier gave no prediction) as ``P_hat = Y X^T + a + c`` with confidence weights,
    jointly with a class-weighted logistic aggregator ``p = sigmoid(w . A + b)`` trained on
    the labeled rows, and returns one probability per instance. The aggregator's input
    ``A`` is by default the observed predictions, the factorization filling in the missing
    ones; with complete ``P`` the fit therefore skips the factorization (it is run when
    the factors are asked for). Unlabeled rows shape the factorization and get predictions
    (probabilities) in ``label_distributions_`` and (labels) in ``transduction_``; new
    rows are folded in by :meth:`predict_proba`. For K >= 3 classes ``P`` is (n, m, K) and
    the aggregator a softmax. Why each default is what it is: the docs' "Design
    decisions" page.

    Parameters
    ----------
    latent_dim : int or "auto", default=2
        Number of latent factors (capped at the number of classifiers). "auto" chooses
        among 1, 2 and 4 by cross-validation on the labeled rows (``cv_results_``).
    rho : float in [0, 1] or "auto", default=1.0
        Weight of the reconstruction loss in ``rho * L_recon + (1 - rho) * L_sup``.
        1: the factorization is a label-free imputer; below 1 the supervised loss shapes
        the classifier factors too. ALS needs ``rho > 0``. "auto" chooses among 0.5, 0.8
        and 1 by cross-validation.
    lambda_reg : float >= 0, default=0.03
        Ridge penalty on the factors and biases, per observation (ALS-WR).
    aggregator_type : {"weighted", "mean"}, default="weighted"
        The logistic aggregator, or the clipped mean of the aggregator input.
    aggregator_input : {"observed", "reconstructed", "both"}, default="observed"
        What the aggregator combines: the base predictions with the fill-in where one is
        missing; the reconstruction ``P_hat`` of every entry (the original method); or both.
    abstention : "auto" or float in [0, 1], default="auto"
        How far a missing prediction's fill-in moves toward 1/K (the prediction of a
        classifier unsure of the row). "auto": 0.5 when a label-free test finds that the
        classifiers abstain where unsure, else 0 (``abstention_``, ``abstention_test_``).
    calibrate_fill : bool, default=True
        Calibrate each classifier's fill-in by the isotonic regression of its observed
        predictions on leave-one-out reconstructions (``fill_calibration_``).
    aggregator_l2 : float >= 0 or "auto", default="auto"
        Ridge penalty ``aggregator_l2 / 2 |w|^2``; "auto": 1e-3, raised when a class has
        fewer than 5 labeled rows (``aggregator_l2_``).
    aggregator_shrinkage : float >= 0 or "auto", default=0.1
        Pull of the weights toward weights proportional to ``shrinkage_target``. "auto"
        chooses among 0, 0.01, 0.1 and 1 by cross-validation of the aggregator on the
        labeled rows (``aggregator_shrinkage_``, ``shrinkage_cv_``).
    shrinkage_target : {"separation", "consensus", "equal"} or array-like, default="separation"
        What the shrinkage pulls toward: "consensus", each classifier's label-free
        agreement with the others; "separation", that times its class separation on the
        labeled rows (the consensus while a class has fewer than 20); "equal", the simple
        average; an array, one positive prior weight per classifier (``shrinkage_target_``).
    confidence : {"uniform", "certainty"}, callable or array-like, default="uniform"
        Confidence of each entry of ``P``: a strategy, ``f(P, y) -> C`` or an array of
        ``P``'s shape. Missing entries get 0.
    label_aware_alpha : float >= 0, default=0.0
        Label-aware confidence: in the classifier step, the confidence of labeled rows is
        multiplied by ``1 + label_aware_alpha * agreement`` (0: off). Instance factors
        never see labels.
    class_weight : "balanced" or None, default="balanced"
        "balanced": labeled rows weigh ``n_L / (K n_class)`` in the supervised loss, and the
        intercept is corrected by the labeled class ratio afterwards, so probabilities are
        on the scale of the data. None: every labeled row weighs 1.
    fn_cost : float > 0, default=1.0
        Cost of a false negative relative to a false positive (binary): the positive
        labeled rows' weights are multiplied by it. For costs per row, pass ``sample_weight``.
    focal_gamma : float >= 0, default=0.0
        Focal-loss exponent: the supervised loss is ``-(1 - p_t)^gamma log p_t``.
    class_weight_warmup : int >= 0, default=0
        Adaptive class weighting: the aggregator's update ``t`` uses the class weights to
        the power ``(t + 1) / (class_weight_warmup + 1)``. Acts where the aggregator is
        trained during the iterations (``ALS(aggregator_solver="gd")``, ``rho < 1`` or
        the autograd trainer); elsewhere a value > 0 is an error.
    solver : "als", "torch", :class:`~cfensemble.ALS` or :class:`~cfensemble.Autograd`, \
default="als"
        The trainer and its settings: alternating least squares, or the autograd trainer
        (needs the ``[torch]`` extra). A name takes the object's defaults; a search
        reaches the object's settings as ``solver__max_iter``, ``solver__lr``.
    pos_label : str, int, bool or None, default=None
        Binary ``P`` (2-D): the class whose probability ``P`` holds. None: the label that
        sorts last (scikit-learn's ``classes_[1]``). ``classes_`` is then
        ``[other, pos_label]``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors, the validation split and the row samples.
    verbose : bool, default=False
        Log the objective at every iteration (logger ``"cfensemble"``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted (``[0, 1]`` when no row is labeled and ``P`` is 2-D).
    n_features_in_ : int
        Number of base classifiers.
    n_class_columns_ : int
        Class columns per classifier in ``P``: 0 for a 2-D ``P``, else ``P.shape[2]``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of a DataFrame ``P``; new rows must come with the same names.
    coef_ : ndarray of shape (n_classifiers,), (2 n_classifiers,) or (n_classifiers, K)
        Aggregator weights (observed columns first for ``aggregator_input="both"``).
    intercept_ : float or ndarray of shape (K,)
        Aggregator intercept, with the class-prior correction of ``class_weight``.
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        The class probabilities of each row of fit, columns in the order of ``classes_``
        (as :meth:`predict_proba` lays them out; scikit-learn's semi-supervised name).
    transduction_ : ndarray of shape (n_samples,)
        The predicted label of each row of fit (values of ``classes_``, as :meth:`predict`
        gives them from ``label_distributions_``).
    class_prior_ : ndarray of shape (n_classes,)
        The class frequencies of the labeled rows (weighted; without labels, the mean
        prediction): what a row without any prediction is given, in ``fit`` and
        ``predict_proba``, with an :class:`~cfensemble.EmptyRowsWarning`.
    classifier_factors_, classifier_bias_ : ndarray
        (n_columns, ``latent_dim_``) and (n_columns,), one row per column of the
        factorized matrix (classifier, or classifier and class: row ``u K + k``).
    instance_factors_, instance_bias_ : ndarray
        The label-free factors and biases of the rows of fit ((n, K, d), (n, K) for a
        per-class K-class factorization). With complete ``P`` the fit defers the
        factorization: these, ``n_iter_`` and ``loss_curve_`` are computed when first read.
    n_iter_ : int
        ALS iterations or autograd epochs run.
    loss_curve_ : dict of ndarray
        ``"total"``, ``"reconstruction"`` and ``"supervised"`` parts per iteration
        (``"supervised"`` NaN before the last iteration where the aggregator is solved
        once, after the factors).
    latent_dim_, rho_ : int, float
        The values used ("auto" resolved, ``latent_dim_`` capped).
    cv_results_ : dict of ndarray or None
        With "auto": the cross-validation of every candidate, laid out as scikit-learn's
        ``GridSearchCV.cv_results_`` (``params``, ``param_latent_dim``, ``param_rho``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score`` and
        ``split<k>_test_score``; the scores are PR-AUC); None without a search.
    multiclass_factorization_ : {"per_class", "joint"} or None
        The K-class factorization: "per_class" (K separate factorizations) with ALS and
        ``rho=1``, else "joint"; None for two classes.
    abstention_, abstention_test_ : float, dict or None
        The ``abstention`` used and, for "auto", each classifier's z statistic and the
        share of them above 3.
    fill_calibration_ : object or None
        The fill-in's monotone map per column (``calibrate_fill``).
    aggregator_l2_, aggregator_shrinkage_ : float
        The penalties used ("auto" resolved).
    shrinkage_target_ : ndarray of shape (n_columns,)
        What the shrinkage pulled the weights toward (all 1 for "equal").
    shrinkage_cv_ : dict or None
        For ``aggregator_shrinkage="auto"``: the candidates and their mean PR-AUC.
    aggregator_trained_ : bool
        False for the mean aggregator, without labels, and when every trained weight came
        out 0 (a :class:`CollapseWarning` says so): predictions are then the mean.
    validation_pr_auc_, validation_loss_ : float or None
        Autograd trainer: the scores of the kept epoch on the held-out labeled rows.
    diagnostics_ : dict
        Weights and prediction spread, the range of the missing entries' reconstruction
        and fill-in, a ``collapsed`` flag and ``mean_fallback``.

    Notes
    -----
    The objective, with ``P_hat = Y X^T + a + c``, ``c_iu`` the confidences and ``n_i``,
    ``n_u`` their row and column sums::

        L_recon = [sum c_iu (p_iu - P_hat_iu)^2
                   + lambda_reg (sum_u n_u |x_u, a_u|^2 + sum_i n_i |y_i, c_i|^2)] / sum c_iu
        L_sup   = sum_labeled kappa_i l(z_i, y_i) / sum kappa_i + aggregator_l2 / 2 |w|^2
                  + aggregator_shrinkage / 2 |w/t - mean(w/t)|^2

    with ``z_i = w . A_i + b``, ``kappa`` the class weights (times ``fn_cost`` and
    ``sample_weight``) and ``l`` the focal loss. The instance factors minimise ``L_recon``
    with label-free confidence; the classifier factors and the aggregator minimise the
    whole objective. The user guide's "Method" page has the K-class form and the steps.
    """

    _parameter_constraints: ClassVar[dict] = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "rho": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "lambda_reg": [Interval(Real, 0, None, closed="left")],
        "aggregator_type": [StrOptions({"weighted", "mean"})],
        "aggregator_input": [StrOptions(set(AGGREGATOR_INPUTS))],
        "abstention": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="both")],
        "calibrate_fill": ["boolean"],
        "aggregator_l2": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "aggregator_shrinkage": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "shrinkage_target": [StrOptions({"equal", "consensus", "separation"}), "array-like"],
        "confidence": [StrOptions({"uniform", "certainty"}), callable, "array-like"],
        "label_aware_alpha": [Interval(Real, 0, None, closed="left")],
        "class_weight": [StrOptions({"balanced"}), None],
        "fn_cost": [Interval(Real, 0, None, closed="neither")],
        "focal_gamma": [Interval(Real, 0, None, closed="left")],
        "class_weight_warmup": [Interval(Integral, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS)), ALS, Autograd],
        "pos_label": [str, Integral, "boolean", None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=2,
        *,
        rho=1.0,
        lambda_reg=0.03,
        aggregator_type="weighted",
        aggregator_input="observed",
        abstention="auto",
        calibrate_fill=True,
        aggregator_l2="auto",
        aggregator_shrinkage=0.1,
        shrinkage_target="separation",
        confidence="uniform",
        label_aware_alpha=0.0,
        class_weight="balanced",
        fn_cost=1.0,
        focal_gamma=0.0,
        class_weight_warmup=0,
        solver="als",
        pos_label=None,
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.rho = rho
        self.lambda_reg = lambda_reg
        self.aggregator_type = aggregator_type
        self.aggregator_input = aggregator_input
        self.abstention = abstention
        self.calibrate_fill = calibrate_fill
        self.aggregator_l2 = aggregator_l2
        self.aggregator_shrinkage = aggregator_shrinkage
        self.shrinkage_target = shrinkage_target
        self.confidence = confidence
        self.label_aware_alpha = label_aware_alpha
        self.class_weight = class_weight
        self.fn_cost = fn_cost
        self.focal_gamma = focal_gamma
        self.class_weight_warmup = class_weight_warmup
        self.solver = solver
        self.pos_label = pos_label
        self.random_state = random_state
        self.verbose = verbose

    # the factorization's results: computed when first read if the fit deferred it
    classifier_factors_ = _deferred.Deferred()
    classifier_bias_ = _deferred.Deferred()
    instance_factors_ = _deferred.Deferred()
    instance_bias_ = _deferred.Deferred()
    n_iter_ = _deferred.Deferred()
    loss_curve_ = _deferred.Deferred()

    @property
    def _s(self) -> Settings:
        """Every setting the fit reads (:mod:`cfensemble._solvers`): resolved once per
        public call (:func:`~cfensemble._solvers.settled`), else from the parameters."""
        return self.__dict__.get("_settings") or self._settings()

    def _settings(self) -> Settings:
        return settings_of(self.get_params(deep=False), trainer_of(self.solver))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.positive_only = True
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_class = False  # with a 2-D P; 3-D P: any K
        return tags

    # ------------------------------------------------------------------ fit

    def _check_fitted(self) -> None:
        """Fitted, and the parameters still valid (``set_params`` may have changed them)."""
        check_is_fitted(self, "coef_")
        self._validate_all()

    def _validate_all(self) -> None:
        """Each parameter, and the solver object's settings, against its constraints."""
        self._validate_params()
        trainer = self.get_params(deep=False).get("solver")
        if isinstance(trainer, (ALS, Autograd)):
            trainer.check()

    def _check_params(self) -> None:
        """Rules across parameters, checked before any (nested) fit."""
        self._validate_all()
        _solvers.check_settings(self)
        _solvers.check_warmup(self)

    @settled
    def fit(self, P, y, sample_weight=None):
        """Fit the factorization and the aggregator.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers) or \
(n_samples, n_classifiers, n_classes)
            Base probabilities in [0, 1]; NaN marks a missing prediction. Binary: each
            classifier's probability of the second class (``classes_[1]``). Multi-class:
            each classifier's probabilities of the classes in the order of ``classes_``
            (the sorted labels), summing to 1; a missing prediction is NaN in all of them.
            A row without any prediction is left out of the fit and given
            ``class_prior_`` (an :class:`~cfensemble.EmptyRowsWarning` counts them).
        y : array-like of shape (n_samples,)
            The class of each labeled row (numbers, strings or bools), -1 or NaN (None for
            object labels) for unlabeled rows.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row: a row of weight ``k`` counts as ``k`` copies of
            it, in the factorization, in the class counts and in the supervised loss (the
            instance-dependent costs of the original write-up). A row of weight 0 does not
            enter the fit; it is folded in afterwards for ``label_distributions_``.

        Returns
        -------
        self : CFEnsembleClassifier
        """
        self._check_params()
        for name in ("_deferred", *_deferred.LAZY):  # a refit starts afresh
            self.__dict__.pop(name, None)
        P, y, sample_weight, empty = _fit_input(self, P, y, sample_weight)
        columns = self._columns(P)
        defer = _deferred.deferrable(self, columns)
        _search.choose_dimensions(self, P, y, sample_weight, columns.shape[1], search=not defer)
        rng = check_random_state(self._s.random_state)
        data, rows, confidence, validation = self._fit_data(P, columns, y, sample_weight, rng)
        objective = _aggregation.with_shrinkage_target(
            self, data, self._objective(self.rho_, data, train_aggregator=bool(data.labeled.size))
        )
        self.multiclass_factorization_ = _multiclass.factorization(self)
        _solvers.check_warmup_per_class(self)
        with _verbosity(self._s.verbose):
            if defer:
                _deferred.warn_if_searched(self)
                result = _deferred.defer(self, data, objective, rng, confidence, rows)
            else:
                result = _deferred.run(self, data, objective, rng, confidence, validation)
        objective = _aggregation.resolve_shrinkage(
            self, data, _missing.resolve_fill(self, data, objective, result), result
        )
        _aggregation.set_fitted(self, result, data, objective)
        state = result.state
        if rows is not None:
            data, kept = rows
            if defer:
                state = rank_zero(
                    data.shape[0], data.shape[1], objective.outputs, state.Y.ndim == 3
                )
            else:
                state.Y, state.c = _missing.every_row(self, state, data, kept)
        proba, ranges = _missing.predict_rows(
            self, data, state.Y, state.c, with_range=True, factors=(state.X, state.a)
        )
        self.class_prior_ = _class_prior(self, y, sample_weight, proba)
        proba = _missing.with_prior(self, proba, empty)
        self.label_distributions_ = proba_columns(proba)
        self.transduction_ = predicted_labels(self.classes_, self.label_distributions_)
        if defer:
            for name in _deferred.LAZY:
                self.__dict__.pop(name, None)
        else:
            self.instance_factors_, self.instance_bias_ = state.Y, state.c
        _aggregation.set_diagnostics(self, proba, ranges)
        return self

    def _fit_data(self, P, columns, y, sample_weight, rng):
        """The :class:`Data` of the fit, ``(data of all rows, kept)`` when rows of weight 0
        are left out of it (None otherwise), the confidence, and the autograd trainer's
        held-out labeled rows."""
        kept = None  # rows of weight 0 are left out of the fit and folded in after it
        if sample_weight is not None and not np.all(sample_weight > 0):
            kept = np.flatnonzero(sample_weight > 0)
        P_fit, y_fit = (columns, y) if kept is None else (columns[kept], y[kept])
        if kept is not None and np.all(np.isnan(P_fit), axis=0).any():
            raise ValueError(
                "sample_weight is 0 on every row where a classifier predicts (first: "
                f"classifier {np.flatnonzero(np.all(np.isnan(P_fit), axis=0))[0] // self._outputs}"
                "); give those rows a weight or drop the classifier."
            )
        weight_fit = sample_weight if kept is None else sample_weight[kept]
        validation = None
        if self._s.solver == "torch":
            _, held = _stratified_holdout(y_fit, self._s.validation_fraction, rng)
            if held.size:
                y_held = y_fit[held]
                y_fit = y_fit.copy()
                y_fit[held] = np.nan  # split before anything (confidence) uses the labels
                validation = (held, y_held)
        confidence = _missing.confidence_for(self, columns.shape)
        if _is_array(confidence):
            confidence = check_confidence_array(confidence, columns.shape)
        confidence_fit = (
            confidence if kept is None or not _is_array(confidence) else confidence[kept]
        )
        costs = _aggregation.costs(self, P if kept is None else P[kept], y_fit)
        data = self._data(P_fit, y_fit, weight_fit, costs, confidence_fit)
        rows = None if kept is None else (self._data(columns, y, confidence=confidence), kept)
        return data, rows, confidence_fit, validation

    def _set_classes(self, P: np.ndarray, y: np.ndarray, classes: np.ndarray) -> None:
        """``classes_``, ``n_class_columns_`` and the number of logits per row."""
        n_labeled_classes = classes.size
        if P.ndim == 2:
            self.n_class_columns_ = 0
            self.classes_ = classes if n_labeled_classes == 2 else np.array([0, 1])
        else:
            k = P.shape[2]
            if n_labeled_classes and n_labeled_classes != k:
                raise ValueError(
                    f"P has {k} class columns per classifier but the labeled rows of y hold "
                    f"{n_labeled_classes} classes {classes[:10].tolist()}: every class needs "
                    "at least one labeled row (the class columns of P follow the sorted "
                    "labels)."
                )
            self.n_class_columns_ = k
            self.classes_ = classes if n_labeled_classes else np.arange(k)

    @property
    def _outputs(self) -> int:
        """Logits per row: 1 for two classes (sigmoid), K for K >= 3 (softmax)."""
        return 1 if self.classes_.size <= 2 else int(self.classes_.size)

    def _columns(self, P: np.ndarray) -> np.ndarray:
        """The (n, m) or (n, m K) matrix that is factorized (see :mod:`cfensemble._problem`):
        a 3-D ``P`` with two classes gives its second class, with K >= 3 classes each
        classifier's K columns side by side."""
        if P.ndim == 2:
            return P
        if P.shape[2] == 2:
            return np.ascontiguousarray(P[:, :, 1])
        return P.reshape(P.shape[0], -1)

    def _data(self, P: np.ndarray, y: np.ndarray, sample_weight=None, cost=None, confidence=None):
        """The :class:`Data` of a fit on the factorized matrix ``P`` (``confidence``: laid
        out as ``P``, by default the estimator's)."""
        if confidence is None:
            confidence = _missing.confidence_for(self, P.shape)
        source = confidence_source(
            confidence,
            P,
            y,
            self._s.use_label_aware_confidence,
            float(self._s.label_aware_alpha),
            n_classes=max(self._outputs, 2),
        )
        return Data(P, y, source, self._s.use_class_weights, sample_weight, cost)

    def _objective(self, rho: float, data, train_aggregator: bool = True) -> Objective:
        """The objective of a fit of ``data``."""
        return Objective(
            rho=float(rho),
            lambda_reg=float(self._s.lambda_reg),
            focal_gamma=float(self._s.focal_gamma),
            aggregator_l2=_aggregation.aggregator_l2(self, data),
            aggregator_shrinkage=(
                SHRINKAGE_FALLBACK
                if self._s.aggregator_shrinkage == "auto"
                else float(self._s.aggregator_shrinkage)
            ),
            positive=bool(self._s.aggregator_positive),
            aggregator_input=self._s.aggregator_input,
            train_aggregator=train_aggregator and self._s.aggregator_type == "weighted",
            outputs=self._outputs,
            abstention=0.0 if self._s.abstention == "auto" else float(self._s.abstention),
        )

    def _check_n_classifiers(self, n_classifiers: int) -> None:
        """Hook for front-ends that declare the number of classifiers up front."""

    # ------------------------------------------------------------------ predict

    @settled
    def fold_in(self, P, confidence=None) -> tuple[np.ndarray, np.ndarray]:
        """Instance factors and biases of new rows, folded in with the classifiers fixed.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers[, n_classes])
            Base probabilities in [0, 1], shaped as in :meth:`fit`; NaN marks a missing
            prediction.
        confidence : array-like of shape (n_samples, n_classifiers[, n_classes]), optional
            Confidence for these rows; by default the fitted strategy without labels.

        Returns
        -------
        Y : ndarray of shape (n_samples, ``latent_dim_``) or (n_samples, K, ``latent_dim_``)
        c : ndarray of shape (n_samples,) or (n_samples, K)
            Per class for a per-class K-class model.
        """
        self._check_fitted()
        checked, _ = self._checked_rows(P, "; their factors are 0")
        return _missing.fold_in_rows(self, self._new_rows(checked, confidence))

    def _new_rows(self, checked: np.ndarray, confidence) -> Data:
        return _missing.unlabeled_data(self, self._columns(checked), confidence)

    def _checked_rows(self, P, then: str) -> tuple[np.ndarray, np.ndarray]:
        """New rows' ``P`` checked against the fitted model (shape, names), and the mask of
        its rows without any prediction (warned about, ``then`` saying what follows)."""
        checked = check_probabilities(
            P,
            n_classifiers=self.n_features_in_,
            n_classes=getattr(self, "n_class_columns_", 0),
            allow_empty=True,
        )
        if checked.ndim == 2:
            validate_data(self, X=P, reset=False, skip_check_array=True)  # same names
        return checked, empty_rows(checked, then=then)

    @settled
    def predict_proba(self, P, confidence=None) -> np.ndarray:
        """Class probabilities of new rows (inductive fold-in).

        Each row's instance factor and bias are solved with the classifier factors fixed
        (the label-free instance step: confidence from ``P`` without labels, 0 for missing
        entries), then the aggregator combines the row's input.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers[, n_classes])
            Shaped as in :meth:`fit`. A row without any prediction is given
            ``class_prior_`` (an :class:`~cfensemble.EmptyRowsWarning` counts them).
        confidence : array-like, optional
            See :meth:`fold_in`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes in the order of ``classes_``.
        """
        self._check_fitted()
        checked, empty = self._checked_rows(P, "; they are given the class prior")
        p = _missing.new_rows_proba(self, self._new_rows(checked, confidence))
        return proba_columns(_missing.with_prior(self, p, empty))

    @settled
    def impute(self, P, confidence=None) -> np.ndarray:
        """``P`` with each missing prediction replaced by the model's fill-in.

        The rows are folded in as in :meth:`predict_proba`; a missing entry becomes
        ``(1 - abstention_) g_u(P_hat_iu) + abstention_ / K`` (``g_u`` the label-free
        calibration ``fill_calibration_``, the identity without one): what the aggregator
        of ``aggregator_input="observed"`` (the default) reads. Observed entries are
        returned unchanged. With 3-D two-class ``P`` the first class is filled with
        ``1 -`` the second's fill-in; with K >= 3 classes each class column has its own
        fill-in, so a filled K-vector need not sum to 1.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers[, n_classes])
            Shaped as in :meth:`fit`; NaN marks a missing prediction.
        confidence : array-like, optional
            See :meth:`fold_in`.

        Returns
        -------
        P_filled : ndarray of the shape of ``P``, without NaN
        """
        self._check_fitted()
        checked, _ = self._checked_rows(P, "; they are filled from the classifiers' biases")
        return _missing.impute(self, checked, confidence)

    def predict(self, P, confidence=None) -> np.ndarray:
        """Class labels of new rows: the most probable class (for two classes, the second
        where its probability is at least 0.5)."""
        proba = self.predict_proba(P, confidence)  # first: it checks that we are fitted
        return predicted_labels(self.classes_, proba)

    def score(self, P, y, sample_weight=None) -> float:
        """Accuracy on the labeled rows of ``y`` (unlabeled rows, -1 or NaN, are ignored).

        For other metrics with unlabeled rows, e.g. in ``GridSearchCV``, use
        :func:`cfensemble.metrics.labeled_scorer`.
        """
        from .metrics import labeled_accuracy

        return labeled_accuracy(self, P, y, sample_weight)

    def __getstate__(self):
        if "_deferred" in self.__dict__:  # a pickle holds the factors, not the data
            _deferred.resolve(self)
        return super().__getstate__()

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path`` (see :func:`cfensemble.io.save_model`)."""
        save_model(self, path, metadata)


def _fit_input(est, P, y, sample_weight):
    """``fit``'s input checked: ``P`` as an array, ``y`` as class indices (NaN unlabeled),
    the sample weights (0 on the rows without any prediction) and the mask of those rows;
    sets ``classes_``, ``n_class_columns_``, ``n_features_in_`` (and names) on ``est``."""
    minus_one = _marks_minus_one(y)
    ndim = np.asarray(P).ndim  # not np.ndim: array-likes may support np.asarray only
    y, classes = positive_last(
        *encode_labels(y), getattr(est, "pos_label", None), ndim
    )  # the original front-ends: the label that sorts last
    if classes.size > 2 and ndim == 2:
        empty = " An empty string is a class: mark unlabeled rows with None, NaN or -1."
        raise ValueError(
            "Only binary classification is supported with a 2-D P; y has "
            f"{classes.size} classes {classes[:5].tolist()}. For more classes give P "
            "of shape (n_samples, n_classifiers, n_classes), each classifier's "
            "probabilities of every class." + (empty if "" in classes.tolist() else "")
        )
    named = P
    P = check_probabilities(P, allow_empty=True)
    if P.ndim == 2:
        validate_data(est, X=named, reset=True, skip_check_array=True)  # feature names
    elif hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    if y.shape[0] != P.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but P has {P.shape[0]} rows.")
    est._set_classes(P, y, classes)
    sample_weight = _check_sample_weight(sample_weight, y)
    est._check_n_classifiers(P.shape[1])
    est.n_features_in_ = P.shape[1]
    empty = np.flatnonzero(np.all(np.isnan(est._columns(P)), axis=0))
    if empty.size:
        raise ValueError(
            f"P has {empty.size} column(s) without any prediction (first: classifier "
            f"{empty[0] // max(est._outputs, 1)}); drop them: a classifier that never "
            "predicts carries nothing to factorize."
        )
    check_label_classes(est, y[~np.isnan(y)], classes, minus_one)
    empty = empty_rows(P, then="; they are left out of the fit and given the class prior")
    return P, y, _without_empty_rows(empty, y, sample_weight), empty


def _without_empty_rows(empty: np.ndarray, y: np.ndarray, sample_weight):
    """``sample_weight`` with weight 0 (left out of the fit) on the rows ``empty`` (without
    any prediction); refused where a class's every labeled row is one."""
    if not empty.any():
        return sample_weight
    weight = np.ones(empty.shape[0]) if sample_weight is None else sample_weight.copy()
    weight[empty] = 0.0
    labeled = ~np.isnan(y)
    for cls in np.unique(y[labeled]):
        if weight[labeled & (y == cls)].sum() == 0:
            raise ValueError(
                f"Every labeled row of class index {int(cls)} has every prediction missing in "
                "P (or weight 0): give at least one prediction on a labeled row of each class."
            )
    return weight


def _class_prior(est, y: np.ndarray, sample_weight, proba=None) -> np.ndarray:
    """``class_prior_``: the (weighted) class frequencies of the fit's labeled rows; without
    labels, the mean of the fitted probabilities ``proba`` (of the second class, (n,), or
    of every class, (n, K)) over the rows the fit used."""
    weight = np.ones(y.shape[0]) if sample_weight is None else sample_weight
    labeled = ~np.isnan(y) & (weight > 0)
    n_classes = len(est.classes_)
    if labeled.any():
        counts = np.bincount(y[labeled].astype(np.intp), weight[labeled], n_classes)
        return counts / counts.sum()
    return mean_distribution(proba[weight > 0])
