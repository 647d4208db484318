"""CFEnsembleClassifier: parameters in, one Objective and one Solver, fitted attributes out."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _als
from ._abstention import SAMPLE as ABSTENTION_SAMPLE
from ._abstention import choose_abstention
from ._abstention import statistics_from as abstention_statistics_from
from ._consensus import check_target, consensus_target, normalised, separation_factor
from ._fill import fit_fill_map, leave_one_out
from ._kernels import TorchKernel, choose_kernel, instance_solve, thread_limits
from ._losses import class_weights, logits
from ._solvers import SOLVERS, ALS, Autograd, Settings, settings_of, trainer_of
from ._problem import (
    AGGREGATOR_INPUTS,
    LOSS_PARTS,
    Data,
    FitResult,
    Objective,
    State,
    aggregator_input,
    reconstruct,
    unit_confidence,
)
from ._validation import (
    _missing_as_nan,
    check_confidence_array,
    check_probabilities,
    encode_labels,
    warn,
)
from .aggregators import solve_aggregator
from .io import register, save_model
from .metrics import pr_auc
from .confidence import label_aware, resolve_confidence, strategy

logger = logging.getLogger("cfensemble")

AUTO_LATENT_DIMS = (1, 2, 4)  # candidates of latent_dim="auto" (capped at n_classifiers)
AUTO_RHOS = (0.5, 0.8, 1.0)  # candidates of rho="auto"
AUTO_SHRINKAGES = (0.0, 0.01, 0.1, 1.0)  # candidates of aggregator_shrinkage="auto"
SHRINKAGE_FALLBACK = 0.1  # "auto" where it cannot cross-validate, and on a tie
# aggregator_l2="auto": L2_AUTO, raised as if the rarest class had L2_ROWS labeled rows
L2_AUTO, L2_ROWS = 1e-3, 5


class CollapseWarning(UserWarning):
    """The aggregator weights sum to a non-positive value or the predictions are constant."""


def aggregator_diagnostics(w: np.ndarray, proba: np.ndarray) -> dict:
    """Signed aggregator weights and prediction spread, with a collapse flag.

    ``collapsed`` is True when the weights sum to <= 0 (the ensemble ranks against its
    base classifiers) or the predictions have std below 1e-3. For K classes (``w`` of shape
    (m, K)) ``weight_sum`` is the smallest of the per-class sums (``class_weight_sums``).
    """
    w = np.asarray(w, dtype=np.float64)
    # K classes: w is (m, K) and each class's logit must rank with its members
    weight_sum = float(np.sum(w)) if w.ndim == 1 else float(np.min(np.sum(w, axis=0)))
    prediction_std = float(np.std(proba))
    extra = {} if w.ndim == 1 else {"class_weight_sums": np.sum(w, axis=0).tolist()}
    return {
        **extra,
        "weights": w.copy(),
        "weight_std": float(np.std(w)),
        "weight_min": float(np.min(w)),
        "weight_max": float(np.max(w)),
        "weight_range": float(np.max(w) - np.min(w)),
        "weight_sum": weight_sum,
        "n_negative_weights": int(np.sum(w < 0)),
        "prediction_std": prediction_std,
        "prediction_min": float(np.min(proba)),
        "prediction_max": float(np.max(proba)),
        "collapsed": weight_sum <= 0 or prediction_std < 1e-3,
    }


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


def confidence_source(confidence, P, y, use_label_aware, alpha, n_classes: int = 2) -> Callable:
    """``f(P_block, y_block, rows) -> (C, C_free)`` for :class:`~cfensemble._problem.Data`.

    ``C_free`` is the base confidence without labels (instance step, fold-in, reported
    ``L_recon``); ``C`` adds the label-aware boost on the labeled rows (classifier step).
    A strategy name is evaluated per block; a callable is called once on the whole ``P``
    (with all labels NaN for ``C_free``) and an array is sliced. Both matrices are divided
    by a constant (the largest base confidence, and ``1 + alpha`` for the boost): each step
    is invariant to the scale of its confidence, and huge user values cannot overflow.
    """
    if isinstance(confidence, str) and confidence == "uniform" and not use_label_aware:
        return unit_confidence  # Data.unit_confidence: kernels may read P alone
    if isinstance(confidence, str):
        base_fn = strategy(confidence)  # the built-in strategies do not read labels

        def base(Pb, yb, rows):
            free = base_fn(Pb, None)
            return free, free

    else:
        unlabeled = np.full(P.shape[0], np.nan)
        free_full = resolve_confidence(confidence, P, unlabeled)
        with_labels = (
            free_full if not callable(confidence) else resolve_confidence(confidence, P, y)
        )
        scale = max(float(np.max(free_full)), float(np.max(with_labels)), 1e-300)
        if not np.any(free_full > 0):
            raise ValueError("confidence is 0 for every observed entry of P; nothing to fit.")
        free_full, with_labels = free_full / scale, with_labels / scale

        def base(Pb, yb, rows):
            return free_full[rows], with_labels[rows]

    def source(Pb, yb, rows):
        free_base, labeled_base = base(Pb, yb, rows)
        missing = np.isnan(Pb)
        free = np.where(missing, 0.0, free_base)
        if use_label_aware:
            boosted = label_aware(Pb, yb, base=labeled_base, alpha=alpha, n_classes=n_classes)
            return boosted / (1.0 + alpha), free
        if labeled_base is free_base:
            return free, free  # the same array: the steps only read it
        return np.where(missing, 0.0, labeled_base), free

    return source


def _offset_callback(callback, offset: int, iteration: int, losses) -> None:
    """``callback`` with the iteration counted on from ``offset`` (per-class fits)."""
    callback(offset + iteration, losses)


def labeled_class_counts(data, outputs: int) -> np.ndarray:
    """The number of labeled rows of each class in ``data``, counted by their sample
    weights (at least two classes)."""
    weight = None if data.sample_weight is None else data.sample_weight[data.labeled]
    return np.bincount(data.y_labeled.astype(np.intp), weights=weight, minlength=max(outputs, 2))


def _lower_on_the_positives(data) -> bool:
    """Whether every classifier with observed labeled rows of both classes has a lower mean
    prediction on the positive (``classes_[1]``) rows than on the negative ones: the sign
    of a ``P`` that holds the other class's probabilities (binary ``P`` only)."""
    P0, observed = data.labeled_rows()
    y = np.asarray(data.y_labeled)

    def class_mean(c):
        seen = observed[y == c]
        total = np.where(seen, P0[y == c], 0.0).sum(axis=0)
        return total / np.maximum(seen.sum(axis=0), 1), seen.any(axis=0)

    negative, has_negative = class_mean(0)
    positive, has_positive = class_mean(1)
    both = has_negative & has_positive
    return bool(both.any() and np.all(positive[both] < negative[both]))


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
    in ``transduction_``; new rows are folded in by :meth:`predict_proba`. For K >= 3
    classes ``P`` is (n, m, K) and the aggregator a softmax. Why each default is what it
    is: the docs' "Design decisions" page.

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
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors, the validation split and the row samples.
    verbose : bool, default=False
        Log the objective at every iteration (logger ``"cfensemble"``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted (``[0, 1]`` when ``y`` had no labeled rows and ``P`` is 2-D).
    n_features_in_ : int
        Number of base classifiers ``m``.
    n_class_columns_ : int
        Class columns per classifier in ``P``: 0 for a 2-D ``P``, else ``P.shape[2]``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names of ``P`` when it was a DataFrame with string column names; new rows
        must then come with the same names in the same order.
    classifier_factors_ : ndarray of shape (n_classifiers, ``latent_dim_``)
    classifier_bias_ : ndarray of shape (n_classifiers,)
        For K >= 3 classes one row per classifier and class (``n_classifiers * K``; row
        ``u K + k`` is classifier u's for class k).
    instance_factors_ : ndarray of shape (n_samples, ``latent_dim_``)
    instance_bias_ : ndarray of shape (n_samples,)
        Factors and biases of the rows seen in :meth:`fit` (label-free); for K >= 3
        classes factorized per class, (n_samples, K, ``latent_dim_``) and (n_samples, K).
    multiclass_factorization_ : {"per_class", "joint"} or None
        The K-class factorization used (None for two classes).
    latent_dim_, rho_ : int, float
        The values used (the chosen ones when given as "auto"; ``latent_dim_`` capped).
    cv_results_ : list of dict or None
        With "auto": mean and per-fold PR-AUC of every candidate; None otherwise.
    abstention_ : float
        The ``abstention`` used (the chosen one for "auto").
    aggregator_l2_ : float
        The ``aggregator_l2`` used (for "auto", from the labeled class counts).
    aggregator_shrinkage_ : float
        The ``aggregator_shrinkage`` used (the chosen one for "auto").
    shrinkage_target_ : ndarray of shape (n_classifiers,) or (n_classifiers * K,)
        The target the shrinkage pulled the weights toward, one number per column of ``P``
        (per classifier, or per classifier and class), mean 1 within each class; all 1 for
        "equal".
    shrinkage_cv_ : dict or None
        For ``aggregator_shrinkage="auto"`` when it cross-validated: ``"candidates"`` and
        their ``"mean_pr_auc"`` over the folds; None otherwise.
    abstention_test_ : dict or None
        For ``abstention="auto"`` when it was tested (label-free factors and a missing
        prediction in the sample of rows): ``"z"``, each classifier's z statistic (None
        where it had fewer than 5 missing or 5 observed rows among the sample's rows with
        another prediction), and ``"share"``, the share of the tested classifiers with
        z > 3; None otherwise.
    fill_calibration_ : object or None
        The fill-in's calibration (``calibrate_fill``): per column of ``P`` the knots of a
        monotone piecewise-linear map (attributes ``x``, ``y``, NaN-padded, and ``n``,
        the knots used; 0 = the identity); None when none was fitted.
    coef_ : ndarray of shape (n_classifiers,) or (2 * n_classifiers,)
        Signed aggregator weights (observed columns first for ``aggregator_input="both"``);
        for K >= 3 classes shape (n_classifiers, K) (or (2 n_classifiers, K)): the weight of
        each classifier's probability of class k in the logit of class k.
    intercept_ : float or ndarray of shape (K,)
    transduction_ : ndarray of shape (n_samples,) or (n_samples, K)
        Probability of the second class (K classes: of every class) of every row seen in
        :meth:`fit`.
    aggregator_trained_ : bool
        False for the mean aggregator, without labels, and when the trained weights all
        came out 0 (the labeled rows contradict every classifier: a constant prediction
        that ranks nothing; a CollapseWarning says so and ``diagnostics_["mean_fallback"]``
        is True): predictions are then the clipped mean of the aggregator input.
    n_iter_ : int
        ALS iterations or autograd epochs run (for K classes fitted per class, the most any
        class's factorization ran).
    validation_pr_auc_, validation_loss_ : float or None
        ``solver="torch"``: PR-AUC and class-weighted cross-entropy of the restored epoch on
        the held-out labeled rows (None without a validation set, and for ALS).
    loss_curve_ : dict of ndarray
        ``"total"``, ``"reconstruction"`` and ``"supervised"`` parts per iteration. With
        ALS and ``rho=1`` (the default) the factorization does not depend on the labels and
        the aggregator is fitted once, after it: ``"supervised"`` is NaN before the last
        iteration (also for K classes fitted per class).
    diagnostics_ : dict
        Signed weights, their std, min, max, range and sum, the number of negative weights,
        the prediction spread of ``transduction_``, the range of the reconstruction of the
        missing entries (``missing_reconstruction_range``) and of their fill-in as the
        aggregator sees it, calibrated and blended (``missing_fill_range``; both None when
        nothing is missing), a ``collapsed`` flag and ``mean_fallback`` (see
        ``aggregator_trained_``).

    Notes
    -----
    The objective, with ``P_hat = Y X^T + a + c`` and ``n_i``, ``n_u`` the confidence sums
    of row ``i`` and column ``u``::

        L_recon = [sum c_iu (p_iu - P_hat_iu)^2
                   + lambda_reg (sum_u n_u |x_u, a_u|^2 + sum_i n_i |y_i, c_i|^2)] / sum c_iu
        L_sup   = sum_labeled kappa_i l(z_i, y_i) / sum kappa_i + aggregator_l2 / 2 |w|^2
                  + aggregator_shrinkage / 2 |w/t - mean(w/t)|^2

    with ``z_i = w . A_i + b``, ``kappa`` the class weights and ``l`` the focal loss
    (cross-entropy for ``focal_gamma = 0``). For K >= 3 classes ``P`` (n, m, K) is laid out
    as an (n, m K) matrix (a classifier's K columns side by side), factorized class by
    class (``multiclass_factorization="per_class"``: K separate (n, m) factorizations, then
    the aggregator) or at once (``"joint"``: every class shares the instance factors),
    ``z_ik = sum_u w_uk A_i,(u,k) + b_k``, ``p_i = softmax(z_i)``, ``l``
    is ``-(1 - p_t)^gamma log p_t`` of the true class and ``kappa_i = n_L / (K n_class(i))``;
    with ``prior_correction`` the intercepts gain ``log(n_k / n_L)``. The instance factors
    minimise ``L_recon`` with label-free confidence (so labeled and unlabeled rows, and new
    rows folded in, are represented alike); the classifier factors and the aggregator
    minimise the whole objective (see ``cfensemble._als`` for the majorised ALS steps).
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
        self.random_state = random_state
        self.verbose = verbose

    @property
    def _s(self) -> Settings:
        """Every setting the fit reads (:mod:`cfensemble._solvers`), from the parameters."""
        return settings_of(self.get_params(deep=False), trainer_of(self.solver))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.positive_only = True
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_class = False  # with a 2-D P; 3-D P: any K
        return tags

    # ------------------------------------------------------------------ fit

    def _check_params(self) -> None:
        """Rules across parameters, checked before any (nested) fit."""
        self._validate_params()
        trainer = self.get_params(deep=False).get("solver")
        if isinstance(trainer, (ALS, Autograd)):
            trainer.check()
        if isinstance(self._s.latent_dim, bool):
            raise ValueError(
                "The 'latent_dim' parameter of CFEnsembleClassifier must be an int >= 1 or "
                f"'auto'. Got {self._s.latent_dim!r} instead."
            )
        warm = self._s.als_warm_start  # the ALS front-end lacks it
        forced_warm_start = not isinstance(warm, str) and warm
        if self._s.rho == 0 and (self._s.solver == "als" or forced_warm_start):
            raise ValueError(
                "rho=0 leaves the factorization undetermined with solver='als' (and with "
                "als_warm_start=True); use rho > 0."
            )
        if self._s.solver == "torch" and self._s.dtype is not None:
            raise ValueError(
                f"dtype={self._s.dtype!r} sets the precision of solver='als' (its PyTorch "
                "kernels); the torch trainer computes in float64: leave dtype=None with "
                "solver='torch'."
            )
        if self._s.solver == "torch" and self._s.aggregator_type != "weighted":
            raise ValueError(
                "solver='torch' trains the weighted aggregator; aggregator_type='mean' has "
                "nothing to learn: use solver='als' for it."
            )
        self._check_class_weight_warmup()

    def _check_class_weight_warmup(self) -> None:
        """A curriculum needs class weights and an aggregator trained during the iterations."""
        warmup = self._s.class_weight_warmup
        if isinstance(warmup, bool):
            raise ValueError(
                f"The 'class_weight_warmup' parameter of {type(self).__name__} must be an int "
                f">= 0 (a number of updates). Got {warmup!r} instead."
            )
        if not warmup:
            return
        prefix = self._warmup_prefix()
        if not self._s.use_class_weights:
            raise ValueError(f"{prefix}; use_class_weights=False has none: set one of them.")
        if self._s.aggregator_type != "weighted":
            raise ValueError(f"{prefix} of a trained aggregator; aggregator_type='mean' has none.")
        # the fit needs one update with the full weights (torch) or two, to test the
        # convergence between them (ALS)
        if self._s.solver == "torch":
            needed, name = 1, f"max_epochs={self._s.max_epochs}"
            budget = self._s.max_epochs
        else:
            needed, budget = 2, self._s.max_iter - self._s.freeze_aggregator_iters
            name = f"max_iter={self._s.max_iter}" + (
                f" - freeze_aggregator_iters={self._s.freeze_aggregator_iters}"
                if self._s.freeze_aggregator_iters
                else ""
            )
        if warmup > budget - needed:
            raise ValueError(
                f"{prefix} over the aggregator's first {warmup} update(s), but the fit "
                f"has at most {max(budget, 0)} ({name}) and needs {needed} with the full "
                "weights after the warm-up: use a class_weight_warmup of at most "
                f"{max(budget - needed, 0)} or a larger {name.split('=')[0]}."
            )
        if self._s.solver == "als" and self._s.aggregator_solver == "newton" and self._s.rho in (1, "auto"):
            raise ValueError(
                f"{prefix} during the iterations, but with solver='als', "
                f"aggregator_solver='newton' and rho={self._s.rho!r}"
                f"{' (which may choose 1)' if self._s.rho == 'auto' else ''} the aggregator is "
                "solved once, after the factors, with the full weights: the schedule would "
                "change nothing. Use aggregator_solver='gd', a rho below 1 or "
                "solver='torch', or class_weight_warmup=0."
            )

    def _warmup_prefix(self) -> str:
        return f"class_weight_warmup={self._s.class_weight_warmup} ramps up the class weights"

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
        y : array-like of shape (n_samples,)
            The class of each labeled row (numbers, strings or bools), -1 or NaN (None for
            object labels) for unlabeled rows.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weight of each row: a row of weight ``k`` counts as ``k`` copies of
            it, in the factorization, in the class counts and in the supervised loss (an
            integer weight gives the fit of the data with the row repeated; the "auto"
            abstention test and the fill-in calibration count each row of their sample by
            its weight, so this holds for them too while all rows fit in the sample, i.e.
            up to 10,000 rows). A row of weight 0 does not enter
            the fit; it is folded in afterwards for ``transduction_``.

        Returns
        -------
        self : CFEnsembleClassifier
        """
        self._check_params()
        minus_one = _marks_minus_one(y)
        y, classes = encode_labels(y)
        if classes.size > 2 and np.ndim(P) == 2:
            empty = " An empty string is a class: mark unlabeled rows with None, NaN or -1."
            raise ValueError(
                "Only binary classification is supported with a 2-D P; y has "
                f"{classes.size} classes {classes[:5].tolist()}. For more classes give P "
                "of shape (n_samples, n_classifiers, n_classes), each classifier's "
                "probabilities of every class." + (empty if "" in classes.tolist() else "")
            )
        named = P
        P = check_probabilities(P)
        if P.ndim == 2:
            validate_data(self, X=named, reset=True, skip_check_array=True)  # feature names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        if y.shape[0] != P.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries but P has {P.shape[0]} rows.")
        self._set_classes(P, y, classes)
        sample_weight = _check_sample_weight(sample_weight, y)
        n_classifiers = P.shape[1]
        self._check_n_classifiers(n_classifiers)
        columns = self._columns(P)
        empty = np.flatnonzero(np.all(np.isnan(columns), axis=0))
        if empty.size:
            raise ValueError(
                f"P has {empty.size} column(s) without any prediction (first: classifier "
                f"{empty[0] // max(self._outputs, 1)}); drop them: a classifier that never "
                "predicts carries nothing to factorize."
            )
        labeled = ~np.isnan(y)
        self._check_label_classes(y[labeled], classes, minus_one)
        latent_dim, rho = self._s.latent_dim, self._s.rho
        if isinstance(latent_dim, str) or isinstance(rho, str):
            latent_dim, rho, self.cv_results_ = self._select_by_cross_validation(
                P, y, sample_weight
            )
        else:
            self.cv_results_ = None
        self._set_dimensions(latent_dim, rho, columns.shape[1], n_classifiers)
        rng = check_random_state(self._s.random_state)

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
        confidence = self._confidence_for(columns.shape)
        if _is_array(confidence):
            confidence = check_confidence_array(confidence, columns.shape)
        confidence_fit = (
            confidence if kept is None or not _is_array(confidence) else confidence[kept]
        )
        data = self._data(
            P_fit,
            y_fit,
            weight_fit,
            self._costs(P if kept is None else P[kept], y_fit),
            confidence_fit,
        )
        objective = self._with_shrinkage_target(
            data, self._objective(self.rho_, data, train_aggregator=bool(labeled.any()))
        )
        self.multiclass_factorization_ = self._factorization()
        if self.multiclass_factorization_ == "per_class" and self._s.class_weight_warmup:
            raise ValueError(
                f"{self._warmup_prefix()} during the iterations, but these {self._outputs} "
                "classes are factorized per class (multiclass_factorization="
                f"{self._s.multiclass_factorization!r}, ALS with rho=1), "
                "and the softmax aggregator is solved once, after the factorizations: use "
                "multiclass_factorization='joint', a rho below 1 or class_weight_warmup=0."
            )
        with _verbosity(self._s.verbose):
            if self.multiclass_factorization_ == "per_class":
                result = self._fit_per_class(data, objective, rng, confidence_fit)
            else:
                result = self._solver().fit(data, objective, None, rng, validation=validation)
        state = result.state
        objective = self._resolve_shrinkage(
            data, self._resolve_fill(data, objective, result), result
        )
        self._set_fitted(result, data, objective)
        if kept is not None:
            data = self._data(columns, y, confidence=confidence)
            Y, c = self._fold_in(data)
            Y[kept], c[kept] = state.Y, state.c
            state.Y, state.c = Y, c
        self.instance_factors_ = state.Y
        self.instance_bias_ = state.c
        self.transduction_, ranges = self._predict_rows(data, state.Y, state.c, with_range=True)
        self._set_diagnostics(self.transduction_, ranges)
        return self

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

    def _factorization(self) -> str | None:
        """The ``multiclass_factorization`` used (None for two classes)."""
        if self._outputs == 1:
            return None
        per_class_possible = self._s.solver == "als" and self.rho_ == 1.0
        # the original method's front-ends (cfensemble._seed) do not declare the parameter
        chosen = self._s.multiclass_factorization
        if chosen == "per_class" and not per_class_possible:
            raise ValueError(
                "multiclass_factorization='per_class' needs solver='als' and rho=1 (the "
                "supervised term would couple the classes' factorizations); use 'joint' or "
                "'auto'."
            )
        if chosen == "joint" or not per_class_possible:
            return "joint"
        return "per_class"

    def _fit_per_class(self, data: Data, objective: Objective, rng, confidence) -> FitResult:
        """K separate factorizations of the classes' (n, m) slices of ``data`` (ALS on
        ``P`` alone, as with ``rho = 1``), then the softmax aggregator on the filled-in
        input. The loss curves average the classes' reconstruction curves (a class that
        converged early keeps its last value); the supervised part is computed once, at
        the end (NaN before). ``confidence``: a strategy name or an array laid out as
        ``data.P``. The aggregator is solved exactly, whatever ``aggregator_solver`` (one
        gradient step from the mean would be all the "gd" step does here)."""
        K = self._outputs
        states, results = [], []
        # one seed per class, drawn first: a class's start does not depend on how many
        # numbers the previous classes drew (which depends on n)
        seeds = rng.randint(np.iinfo(np.int32).max, size=K)
        done = 0  # iterations of the classes before: the callback's count runs on across them
        not_converged = []
        for k in range(K):
            P_k = np.ascontiguousarray(data.P[:, k::K])
            y_k = np.where(np.isnan(data.y), np.nan, (data.y == k).astype(np.float64))
            source = confidence_source(
                confidence if isinstance(confidence, str) else confidence[:, k::K],
                P_k,
                y_k,
                self._s.use_label_aware_confidence,
                float(self._s.label_aware_alpha),
            )
            data_k = Data(P_k, y_k, source, self._s.use_class_weights, data.sample_weight)
            objective_k = replace(
                objective, rho=1.0, train_aggregator=False, outputs=1, shrinkage_target=None
            )
            solver = self._als_solver()
            if self._s.callback is not None:
                solver.callback = partial(_offset_callback, self._s.callback, done)
            with warnings.catch_warnings():  # one warning for all classes, below
                warnings.simplefilter("ignore", ConvergenceWarning)
                fit = solver.fit(data_k, objective_k, None, check_random_state(seeds[k]))
            done += fit.n_iter
            if not fit.converged:
                not_converged.append(self.classes_[k])
            results.append(fit)
            states.append(results[-1].state)
        if not_converged:
            warn(
                f"ALS did not converge in max_iter={self._s.max_iter} iterations for the "
                f"factorization of class(es) {np.asarray(not_converged).tolist()} (relative "
                f"change of the objective above tol={self._s.tol}); increase max_iter or tol.",
                ConvergenceWarning,
            )
        d = self.latent_dim_
        X = np.stack([state.X for state in states], axis=1).reshape(-1, d)
        a = np.stack([state.a for state in states], axis=1).reshape(-1)
        state = State(
            X=X,
            Y=np.stack([s.Y for s in states], axis=1),
            a=a,
            c=np.stack([s.c for s in states], axis=1),
            w=np.empty(0),  # set by _final_aggregator
            b=0.0,
        )
        supervised = self._final_aggregator(data, state, objective)
        n_iter = max(r.n_iter for r in results)
        recon = np.column_stack(
            [np.pad(r.loss_curve[:, 1], (0, n_iter - r.n_iter), mode="edge") for r in results]
        ).mean(axis=1)
        sup = np.full(n_iter, np.nan)
        sup[-1] = supervised
        curve = np.column_stack([recon, recon, sup])
        return FitResult(state, n_iter, curve, all(r.converged for r in results))

    def _resolve_fill(self, data, objective: Objective, result) -> Objective:
        """Set ``abstention_`` (and ``abstention_test_``) and ``fill_calibration_``: on a
        seeded sample of rows, fold each row in without each classifier in turn (the
        fitted factors fixed) and, from these leave-one-out reconstructions, calibrate the
        fill-in (``calibrate_fill``, :mod:`cfensemble._fill`) and, for "auto", test whether
        the classifiers abstain where unsure (:mod:`cfensemble._abstention`). When either
        changes the fill-in, the aggregator is solved again (the factors do not depend on
        it with rho = 1). Returns the objective with what was used. The sample is drawn
        from ``random_state`` afresh (an int or None; a RandomState instance goes on where
        the fit left it), so it does not depend on how a solver used its random numbers
        (in memory or Dask)."""
        self.abstention_test_ = None
        self.fill_calibration_ = None
        auto = self._s.abstention == "auto"
        self.abstention_ = 0.0 if auto else float(self._s.abstention)
        if not (auto or self._s.calibrate_fill):
            return objective
        state = result.state
        label_free = (
            objective.rho == 1.0
            and self._s.solver == "als"
            and objective.aggregator_input != "reconstructed"
        )
        if not label_free or (objective.train_aggregator and not self._solved_after(result)):
            return objective
        P, weight = data.row_sample(ABSTENTION_SAMPLE, check_random_state(self._s.random_state))
        if not np.isnan(P).any():  # nothing missing: no fill-in to calibrate or blend
            return objective

        def reconstruct_without(P_masked: np.ndarray) -> np.ndarray:
            Y, c = self._fold_in(self._unlabeled_data(P_masked), state.X, state.a)
            return reconstruct(Y, state.X, state.a, c)

        k = objective.outputs
        R = leave_one_out(P, reconstruct_without, k)  # k columns per classifier
        changes: dict[str, Any] = {}
        if self._s.calibrate_fill:
            self.fill_calibration_ = changes["fill_map"] = fit_fill_map(P, R, weight)
        if auto:
            z = abstention_statistics_from(P, R, k, weight)
            beta, share = choose_abstention(z)
            self.abstention_test_ = {
                "z": [None if np.isnan(v) else float(v) for v in z],
                "share": share,
            }
            if beta:
                changes["abstention"] = self.abstention_ = beta
                if _is_consensus(self._s.shrinkage_target):  # biased where they abstain
                    changes["shrinkage_target"] = None
                    self.shrinkage_target_ = np.ones(data.shape[1])
        if changes:
            objective = replace(objective, **changes)
            if data.labeled.size:
                # the supervised part of the earlier iterations was that of the plain
                # fill-in: gone (NaN, as for the exact aggregator), the last one is the new
                result.loss_curve[:-1, 2] = np.nan
                result.loss_curve[-1, 2] = self._final_aggregator(data, state, objective)
        return objective

    def _with_shrinkage_target(self, data, objective: Objective) -> Objective:
        """Set ``shrinkage_target_`` and return the objective with the target (None for
        equal weights): a user's array as given, "consensus" from the moments of all the
        fit's rows (:mod:`cfensemble._consensus`), "separation" that times the factor of
        the labeled rows, equal where the classifiers are known to abstain (``abstention``
        > 0 given) or nothing is trained."""
        n_columns, k = data.shape[1], objective.outputs
        self.shrinkage_target_ = np.ones(n_columns)
        target = self._s.shrinkage_target
        if _is_consensus(target):
            if not objective.train_aggregator or objective.abstention > 0:
                return objective
            self._label_free_target = consensus_target(data.consensus_moments(k), k)
            self.shrinkage_target_ = self._target_of(data, k)
        elif not isinstance(target, str):
            self.shrinkage_target_ = check_target(target, n_columns, k)
        if np.all(self.shrinkage_target_ == 1.0):
            return objective
        return replace(objective, shrinkage_target=self.shrinkage_target_)

    def _target_of(self, data, k: int, rows: np.ndarray | None = None) -> np.ndarray:
        """The "consensus" or "separation" target: the label-free consensus times, for
        "separation", :func:`cfensemble._consensus.separation_factor` of the labeled rows
        (``rows`` of them: a cross-validation fold's; None: all)."""
        if not _is_separation(self._s.shrinkage_target) or k > 1:
            return self._label_free_target  # K >= 3 classes: the consensus (see the doc)
        P0, observed = data.labeled_rows()
        y = data.y_labeled
        weight = None if data.sample_weight is None else data.sample_weight[data.labeled]
        if rows is not None:
            P0, observed, y, weight = P0[rows], observed[rows], y[rows], _rows(weight, rows)
        factor = separation_factor(P0, observed, y, k, weight)
        if np.all(factor == 1.0):  # too few labels, or none told apart: exactly consensus
            return self._label_free_target
        return normalised(self._label_free_target * factor, k)

    def _resolve_shrinkage(self, data, objective: Objective, result) -> Objective:
        """Set ``aggregator_shrinkage_`` (and ``shrinkage_cv_``): for "auto", each of
        ``AUTO_SHRINKAGES`` is scored by stratified cross-validation of the aggregator on
        the labeled rows (:func:`_cross_validated_shrinkage`) and the aggregator is solved
        again with the best. The aggregator input does not depend on the labels when the
        factors do not (``rho=1``, ALS) and the aggregator is solved exactly after them;
        otherwise "auto" is ``SHRINKAGE_FALLBACK``. Returns the objective with the value
        used."""
        self.shrinkage_cv_ = None
        auto = self._s.aggregator_shrinkage == "auto"
        self.aggregator_shrinkage_ = objective.aggregator_shrinkage
        state = result.state
        if not (
            auto
            and objective.rho == 1.0
            and self._s.solver == "als"
            and objective.train_aggregator
            and self._solved_after(result)
            and data.labeled.size
        ):
            return objective
        weight = None if data.sample_weight is None else data.sample_weight[data.labeled]

        def fold_target(train: np.ndarray) -> np.ndarray | None:
            if not _is_separation(self._s.shrinkage_target) or objective.shrinkage_target is None:
                return objective.weight_target  # the same for every fold (equal: None)
            t = self._target_of(data, objective.outputs, train)
            return replace(objective, shrinkage_target=None if np.all(t == 1) else t).weight_target

        means = _cross_validated_shrinkage(
            _als.labeled_input(data, state, objective),
            data.y_labeled,
            data.kappa,
            weight,
            objective,
            data.shape[1],
            self._s.use_class_weights,
            fold_target,
        )
        if means is None:
            return objective
        self.shrinkage_cv_ = {"candidates": list(AUTO_SHRINKAGES), "mean_pr_auc": means}
        best = AUTO_SHRINKAGES[int(np.argmax(means))]
        if means[AUTO_SHRINKAGES.index(SHRINKAGE_FALLBACK)] == max(means):
            best = SHRINKAGE_FALLBACK
        if best != objective.aggregator_shrinkage:
            objective = replace(objective, aggregator_shrinkage=best)
            result.loss_curve[-1, 2] = self._final_aggregator(data, state, objective)
            self.aggregator_shrinkage_ = best
        return objective

    def _solved_after(self, result) -> bool:
        """Whether the aggregator was solved exactly after the factors (not a gradient step,
        not held at its start by ``freeze_aggregator_iters``)."""
        return result.state.Y.ndim == 3 or (
            self._s.aggregator_solver == "newton" and result.n_iter > self._s.freeze_aggregator_iters
        )

    def _final_aggregator(self, data, state: State, objective: Objective) -> float:
        """Solve the aggregator exactly at the fitted factors, from its start (the
        classifiers' equal weights, intercept 0; the mean aggregator keeps them), and
        return the supervised part of the objective."""
        k = objective.outputs
        state.w = _als.initial_weights(data.shape[1], objective.aggregator_input, k)
        state.b = 0.0 if k == 1 else np.zeros(k)
        A = _als.labeled_input(data, state, objective)
        if objective.train_aggregator and data.labeled.size:
            replace(self._als_solver(), aggregator_solver="newton")._aggregator_step(
                data, state, objective, A
            )
        return _als.supervised_part(data, state, objective, A)

    def _costs(self, P: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The supervised-only weights: instance weighting and the false-negative cost."""
        weights = None
        if self._s.instance_weighting == "confidence":
            weights = instance_confidence_weights(P)
        if self._s.fn_cost != 1.0:
            weights = _times(weights, np.where(y == 1, float(self._s.fn_cost), 1.0))
        return weights

    def _check_label_classes(
        self, y_labeled: np.ndarray, classes=None, minus_one: bool = False
    ) -> None:
        """Two classes or more among the labeled rows, or none (a warned pure reconstruction)."""
        present = np.unique(y_labeled)
        if y_labeled.size and present.size < 2:
            label = classes[int(present[0])] if classes is not None else int(present[0])
            label = label.item() if isinstance(label, np.generic) else label
            hint = (
                " If -1 is a class here (labels -1/+1), recode y (e.g. to 0/1): -1 marks "
                "an unlabeled row, scikit-learn's semi-supervised convention."
                if minus_one
                else ""
            )
            raise ValueError(
                f"y has labeled rows of one class only ({label!r}); the aggregator needs at "
                "least two classes. Label at least one row of each class, or mark all rows "
                f"-1 for a pure reconstruction.{hint}"
            )
        if self._outputs > 1 and self._s.fn_cost != 1.0:
            raise ValueError(
                "fn_cost is the cost of a false negative of a binary problem; y has "
                f"{self._outputs} classes: use sample_weight for costs per row."
            )
        if (
            self._outputs > 1
            and self._s.solver == "als"
            and self._s.focal_gamma > 0
            and not isinstance(self._s.rho, str)
            and self._s.rho < 1
        ):
            raise ValueError(
                "focal_gamma > 0 with rho < 1 is not available for more than two classes "
                "with solver='als' (its majoriser is proved for the cross-entropy only); "
                "use rho=1, focal_gamma=0 or solver='torch'."
            )
        if not y_labeled.size:
            if self._s.solver == "torch":
                raise ValueError(
                    "solver='torch' trains on labeled rows and y has none; use solver='als' "
                    "for a pure reconstruction of P."
                )
            warn(
                "y has no labeled rows: fitting a pure reconstruction of P; predictions are "
                "the clipped mean of the aggregator input (the aggregator is not trained).",
                UserWarning,
            )

    def _set_dimensions(self, latent_dim, rho, n_columns: int, n_classifiers: int) -> None:
        """``latent_dim_`` (capped, with a warning, at the columns of each factorized
        matrix: the classifiers, or classifiers x classes for the joint K-class
        factorization), ``rho_``, ``n_features_in_``."""
        self.rho_ = float(rho)
        self.n_features_in_ = n_classifiers
        joint = self._outputs > 1 and self._factorization() == "joint"
        cap = n_columns if joint else n_classifiers
        if latent_dim > cap:
            what = (
                "the number of columns of P (classifiers x classes)"
                if joint
                else "the number of classifiers"
            )
            warn(
                f"latent_dim={latent_dim} is above {what} ({cap}); using latent_dim={cap}.",
                UserWarning,
            )
            latent_dim = cap
        self.latent_dim_ = int(latent_dim)

    def _set_fitted(self, result, data, objective: Objective) -> None:
        """The fitted attributes a solver's result gives, except the per-row ones."""
        state = result.state
        k = objective.outputs
        self.aggregator_trained_ = objective.train_aggregator
        self.aggregator_l2_ = objective.aggregator_l2
        self.classifier_factors_ = state.X
        self.classifier_bias_ = state.a
        self.coef_ = state.w if k == 1 else state.w.reshape(-1, k)
        self.intercept_ = float(state.b) if k == 1 else np.array(state.b, dtype=np.float64)
        stepped = (
            self._s.solver == "torch"
            or getattr(self, "multiclass_factorization_", None) == "per_class"
            or result.n_iter > self._s.freeze_aggregator_iters
        )
        if (
            self.aggregator_trained_
            and stepped
            and self._s.use_class_weights
            and self._s.prior_correction
        ):
            counts = labeled_class_counts(data, k)
            log_prior = np.log(counts / counts.sum())
            if k == 1:
                self.intercept_ += float(log_prior[1] - log_prior[0])
            else:
                self.intercept_ = self.intercept_ + log_prior
        self.n_iter_ = result.n_iter
        self.validation_pr_auc_ = result.validation_pr_auc
        self.validation_loss_ = result.validation_loss
        self.loss_curve_ = {
            name: result.loss_curve[:, k].copy() for k, name in enumerate(LOSS_PARTS)
        }
        self._mean_fallback = self.aggregator_trained_ and not np.any(self.coef_)
        if self._mean_fallback:
            # Every weight 0: the labeled rows contradict every classifier (a handful of
            # positives ranked below the negatives by all of them) and the non-negative
            # aggregator predicts a constant, which ranks nothing. Predict as the mean
            # aggregator does; the labels carry too little to do better.
            advice = "Label more rows, especially positives."
            if k == 1 and _lower_on_the_positives(data):
                first, last = (repr(c) for c in np.asarray(self.classes_).tolist())
                advice = (
                    f"Every classifier's mean prediction is lower on the rows labeled {last} "
                    f"than on those labeled {first}. P is read as the probability of "
                    f"classes_[1] = {last} (the last label in sorted order): if P holds the "
                    f"probabilities of {first}, pass 1 - P or swap the labels; otherwise "
                    f"label more rows, especially {last} rows."
                )
            warn(
                "The aggregator collapsed: every weight is 0 (the labeled rows contradict "
                "every classifier), so the predictions would be one constant; predicting "
                "with the mean aggregator instead (aggregator_type='mean'). " + advice,
                CollapseWarning,
            )
            self.aggregator_trained_ = False
            w = _als.initial_weights(data.shape[1], objective.aggregator_input, k)
            self.coef_ = w if k == 1 else w.reshape(-1, k)
            self.intercept_ = 0.0 if k == 1 else np.zeros(k)

    def _set_diagnostics(self, proba: np.ndarray, ranges=(None, None)) -> None:
        """``ranges``: of the missing entries' reconstruction and of their fill-in (what
        the aggregator sees: calibrated and blended), None where nothing is missing."""
        self.diagnostics_ = aggregator_diagnostics(self.coef_, proba)
        self.diagnostics_["missing_reconstruction_range"] = ranges[0]
        self.diagnostics_["missing_fill_range"] = ranges[1]
        self.diagnostics_["mean_fallback"] = getattr(self, "_mean_fallback", False)
        if self.diagnostics_["collapsed"]:
            warn(
                "The aggregator collapsed: weight sum "
                f"{self.diagnostics_['weight_sum']:.3g}, prediction std "
                f"{self.diagnostics_['prediction_std']:.3g}. On imbalanced data keep "
                "use_class_weights=True; try aggregator_solver='newton'.",
                CollapseWarning,
            )

    def _data(self, P: np.ndarray, y: np.ndarray, sample_weight=None, cost=None, confidence=None):
        """The :class:`Data` of a fit on the factorized matrix ``P`` (``confidence``: laid
        out as ``P``, by default the estimator's)."""
        if confidence is None:
            confidence = self._confidence_for(P.shape)
        source = confidence_source(
            confidence,
            P,
            y,
            self._s.use_label_aware_confidence,
            float(self._s.label_aware_alpha),
            n_classes=max(self._outputs, 2),
        )
        return Data(P, y, source, self._s.use_class_weights, sample_weight, cost)

    def _confidence_for(self, shape, confidence=None):
        """``confidence`` (default: the estimator's) with an array laid out as the factorized
        matrix of ``shape``: (n, m) for each prediction or (n, m, K) per class (see
        :meth:`_columns`). A callable is refused for K >= 3 classes."""
        confidence = self._s.confidence if confidence is None else confidence
        k = self.n_class_columns_
        if k == 0 or isinstance(confidence, str):
            return confidence
        if callable(confidence):
            if k == 2:
                return confidence
            raise ValueError(
                "confidence: a callable is not available with multi-class P; give a "
                "strategy name or an array of shape (n_samples, n_classifiers[, n_classes])."
            )
        C = np.asarray(_missing_as_nan(confidence), dtype=np.float64)
        if C.ndim == 2:
            C = np.repeat(C[:, :, None], k, axis=2)
        if C.shape != (shape[0], self.n_features_in_, k):
            raise ValueError(
                f"confidence must have shape (n_samples, n_classifiers) or (n_samples, "
                f"n_classifiers, {k}) for this P; got {np.shape(confidence)}."
            )
        return self._columns(C)

    def _objective(self, rho: float, data, train_aggregator: bool = True) -> Objective:
        """The objective of a fit of ``data``."""
        return Objective(
            rho=float(rho),
            lambda_reg=float(self._s.lambda_reg),
            focal_gamma=float(self._s.focal_gamma),
            aggregator_l2=self._aggregator_l2(data),
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

    def _aggregator_l2(self, data) -> float:
        """``aggregator_l2``, for "auto" ``L2_AUTO * max(1, L2_ROWS / n_rare)`` with
        ``n_rare`` the (weighted) count of the rarest class's labeled rows in ``data``."""
        if self._s.aggregator_l2 != "auto":
            return float(self._s.aggregator_l2)
        rarest = float(labeled_class_counts(data, self._outputs).min())
        return L2_AUTO * max(1.0, L2_ROWS / max(rarest, 1.0))

    def _als_solver(self) -> _als.ALSSolver:
        return _als.ALSSolver(
            latent_dim=self.latent_dim_,
            max_iter=self._s.max_iter,
            tol=self._s.tol,
            chunk_size=self._s.chunk_size,
            aggregator_solver=self._s.aggregator_solver,
            aggregator_lr=self._s.aggregator_lr,
            freeze_aggregator_iters=self._s.freeze_aggregator_iters,
            callback=self._s.callback,
            n_jobs=self._s.n_jobs,
            accelerate=self._s.accelerate,
            kernel=self._als_kernel(),
            class_weight_warmup=self._s.class_weight_warmup,
        )

    def _als_kernel(self):
        """ "auto" (numpy/numba) or the PyTorch kernels for a GPU or float32."""
        if self._s.device == "cpu" and self._s.dtype != "float32":
            return "auto"
        from ._torch import resolve_device

        device = resolve_device(self._s.device).type
        if device == "cpu" and self._s.dtype != "float32":
            return "auto"
        dtype = self._s.dtype or ("float32" if device == "cuda" else "float64")
        return TorchKernel(device, dtype)

    def _solver(self):
        """The one place where parameters become a solver."""
        if self._s.solver == "als":
            return self._als_solver()
        from ._torch import AutogradSolver

        return AutogradSolver(
            latent_dim=self.latent_dim_,
            max_epochs=self._s.max_epochs,
            lr=self._s.lr,
            optimizer=self._s.optimizer,
            device=self._s.device,
            batch_size=self._s.batch_size,
            patience=self._s.patience,
            tol=self._s.tol,
            validation_metric=self._s.validation_metric,
            # the start: ALS with the full class weights; the curriculum is the epochs'
            warm_start=(
                replace(self._als_solver(), class_weight_warmup=0)
                if self._als_warm_start()
                else None
            ),
            callback=self._s.callback,
            class_weight_warmup=self._s.class_weight_warmup,
        )

    def _als_warm_start(self) -> bool:
        """Whether the autograd trainer starts from the ALS solution."""
        if isinstance(self._s.als_warm_start, str):  # "auto"
            return self.rho_ > 0
        return bool(self._s.als_warm_start)

    def _check_n_classifiers(self, n_classifiers: int) -> None:
        """Hook for front-ends that declare the number of classifiers up front."""

    def _select_by_cross_validation(self, P, y, sample_weight=None):
        """Choose ``latent_dim`` / ``rho`` given as "auto" by internal cross-validation.

        The labeled rows are split in stratified folds (3, or fewer when a class has fewer
        labeled rows); for each candidate the model is fitted with one fold's labels hidden
        (those rows stay in P, unlabeled, as in real use) and scored by PR-AUC of its
        transductive predictions on that fold. The best mean score wins; ties go to the
        smaller ``latent_dim`` and the larger ``rho``. Returns ``(latent_dim, rho,
        cv_results)``.
        """
        m = P.shape[1]
        dims = (
            sorted({min(d, m) for d in AUTO_LATENT_DIMS})
            if self._s.latent_dim == "auto"
            else [self._s.latent_dim]
        )
        rhos = list(AUTO_RHOS) if self._s.rho == "auto" else [self._s.rho]
        if self._outputs > 1 and (
            self._s.multiclass_factorization == "per_class"
            or (self._s.solver == "als" and self._s.focal_gamma > 0)
        ):
            rhos = [r for r in rhos if r == 1.0] or rhos  # rho < 1 is not available there
        labeled = np.flatnonzero(~np.isnan(y))
        folds = _label_folds(y[labeled], self._outputs)
        fallback = (
            2 if self._s.latent_dim == "auto" else dims[0],
            0.5 if self._s.rho == "auto" else rhos[0],
        )
        if folds is None:
            warn(
                "latent_dim/rho='auto' needs at least 2 labeled rows of each class for "
                f"cross-validation; using latent_dim={fallback[0]}, rho={fallback[1]}.",
                UserWarning,
            )
            return fallback[0], fallback[1], None
        results = []
        # not clone(self): the callback (a progress bar, say) need not be copyable
        quiet = {**self.get_params(deep=False), "verbose": False, "callback": None}
        for d in dims:
            for r in rhos:
                scores = []
                for _, held in folds:
                    rows = labeled[held]
                    y_cv = y.copy()
                    y_cv[rows] = np.nan
                    est = type(self)(**{**quiet, "latent_dim": d, "rho": r})
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        est.fit(P, y_cv, sample_weight)
                    scores.append(pr_auc(y[rows], est.transduction_[rows]))
                results.append(
                    {
                        "latent_dim": d,
                        "rho": r,
                        "mean_pr_auc": float(np.mean(scores)),
                        "fold_pr_auc": scores,
                    }
                )
        best = max(
            results,
            key=lambda res: (round(res["mean_pr_auc"], 12), -res["latent_dim"], res["rho"]),
        )
        return best["latent_dim"], best["rho"], results

    # ------------------------------------------------------------------ predict

    def _predict_rows(self, data: Data, Y, c, with_range: bool = False):
        """Probabilities of the rows of ``data`` with factors ``Y``, ``c``, block by block:
        the second class's (n,) for two classes, (n, K) for K >= 3."""
        n, k = data.shape[0], self._outputs
        out = np.empty(n) if k == 1 else np.empty((n, k))
        lo, hi = np.full(2, np.inf), np.full(2, -np.inf)  # reconstruction, fill-in
        w = np.asarray(self.coef_).reshape(-1)
        for block, A, raw in self._aggregator_inputs(data, Y, c, self._s.aggregator_input):
            missing = ~block.observed
            if raw is not None:
                lo[0], hi[0] = min(lo[0], raw[0]), max(hi[0], raw[1])
                fill = A[:, : missing.shape[1]][missing]
                lo[1], hi[1] = min(lo[1], fill.min()), max(hi[1], fill.max())
            if not self.aggregator_trained_:
                p = np.clip(logits(A, w, 0.0, k), 0.0, 1.0)
                if k > 1:  # the mean of each class, rescaled to sum to 1
                    total = p.sum(axis=1, keepdims=True)
                    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / k)
            elif k == 1:
                p = expit(logits(A, w, self.intercept_))
            else:
                p = softmax(logits(A, w, self.intercept_, k), axis=1)
            out[block.rows] = p
        ranges = [(float(lo[j]), float(hi[j])) if np.isfinite(lo[j]) else None for j in (0, 1)]
        return (out, ranges) if with_range else out

    def _filled(self, data: Data, Y, c) -> np.ndarray:
        """The rows of ``data`` (factors ``Y``, ``c``) with their missing entries filled in,
        in the factorized layout."""
        filled = np.empty(data.shape)
        for block, A, _ in self._aggregator_inputs(data, Y, c, "observed"):
            filled[block.rows] = A
        return filled

    def _aggregator_inputs(self, data: Data, Y, c, kind: str):
        """Block by block of ``data``'s rows (factors ``Y``, ``c``): ``(block, A, raw)``, the
        aggregator input ``A`` of ``kind`` and the (min, max) of the reconstruction over
        the block's missing entries (None if none is missing)."""
        X, a = self.classifier_factors_, self.classifier_bias_
        beta = getattr(self, "abstention_", 0.0)  # estimators pickled before it: 0
        fill_map = getattr(self, "fill_calibration_", None)
        # a block makes about ten (rows, columns) temporaries: 2^16 elements each at most
        size = max(1, min(self._s.chunk_size, 2**16 // data.shape[1]))
        for block in data.blocks(size):
            P_hat = reconstruct(Y[block.rows], X, a, c[block.rows])
            missing = ~block.observed
            raw = (P_hat[missing].min(), P_hat[missing].max()) if missing.any() else None
            A = aggregator_input(
                kind, block.P0, block.observed, P_hat, beta, self._outputs, fill_map
            )
            yield block, A, raw

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
        check_is_fitted(self, "classifier_factors_")
        data = self._new_rows(P, confidence)
        return self._fold_in(data)

    def _fold_in(self, data: Data, X=None, a=None) -> tuple[np.ndarray, np.ndarray]:
        """Fold the rows of ``data`` in with classifier factors ``X``, ``a`` (the fitted
        ones by default)."""
        if X is None:
            X, a = self.classifier_factors_, self.classifier_bias_
        kernel = choose_kernel(data.shape[0], self._als_kernel())
        if getattr(self, "multiclass_factorization_", None) == "per_class":
            with thread_limits(self._s.n_jobs, kernel):
                return self._fold_in_per_class(data, kernel, X, a)
        with thread_limits(self._s.n_jobs, kernel):
            return _als.fold_in(data, X, a, self._s.lambda_reg, self._s.chunk_size, kernel=kernel)

    def _fold_in_per_class(self, data: Data, kernel, X, a) -> tuple[np.ndarray, np.ndarray]:
        """Each class's instance factors and bias, folded in with its classifier factors:
        ``Y`` (n, K, d), ``c`` (n, K)."""
        K, d = self._outputs, self.latent_dim_
        n = data.shape[0]
        Y, c = np.empty((n, K, d)), np.empty((n, K))
        for block in data.blocks(_als.rows_per_block(self._s.chunk_size, d + 1)):
            for k in range(K):
                theta = instance_solve(
                    np.ascontiguousarray(block.P0[:, k::K]),
                    np.ascontiguousarray(block.C_free[:, k::K]),
                    _als.augment(X[k::K]),
                    a[k::K],
                    self._s.lambda_reg,
                    kernel,
                )
                Y[block.rows, k], c[block.rows, k] = theta[:, :-1], theta[:, -1]
        return Y, c

    def _new_rows(self, P, confidence) -> Data:
        return self._unlabeled_data(self._columns(self._checked_rows(P)), confidence)

    def _checked_rows(self, P) -> np.ndarray:
        """New rows' ``P`` checked against the fitted model (shape, names)."""
        checked = check_probabilities(
            P,
            n_classifiers=self.n_features_in_,
            n_classes=getattr(self, "n_class_columns_", 0),
        )
        if checked.ndim == 2:
            validate_data(self, X=P, reset=False, skip_check_array=True)  # same names
        return checked

    def _unlabeled_data(self, columns: np.ndarray, confidence=None) -> Data:
        """:class:`Data` of rows to fold in (``columns``: the factorized layout), without
        labels; ``confidence`` given, or the fitted strategy (uniform for a fitted array)."""
        if confidence is None:
            confidence = self._s.confidence if not _is_array(self._s.confidence) else "uniform"
        confidence = self._confidence_for(columns.shape, confidence)
        if _is_array(confidence):
            confidence = check_confidence_array(confidence, columns.shape)
        unlabeled = np.full(columns.shape[0], np.nan)
        source = confidence_source(confidence, columns, unlabeled, False, 1.0)
        return Data(columns, unlabeled, source, self._s.use_class_weights)

    def predict_proba(self, P, confidence=None) -> np.ndarray:
        """Class probabilities of new rows (inductive fold-in).

        Each row's instance factor and bias are solved with the classifier factors fixed
        (the label-free instance step: confidence from ``P`` without labels, 0 for missing
        entries), then the aggregator combines the row's input.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers[, n_classes])
            Shaped as in :meth:`fit`.
        confidence : array-like, optional
            See :meth:`fold_in`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes in the order of ``classes_``.
        """
        check_is_fitted(self, "classifier_factors_")
        data = self._new_rows(P, confidence)
        Y, c = self._fold_in(data)
        p = self._predict_rows(data, Y, c)
        return np.column_stack([1.0 - p, p]) if p.ndim == 1 else p

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
        check_is_fitted(self, "classifier_factors_")
        P = self._checked_rows(P)
        data = self._unlabeled_data(self._columns(P), confidence)
        filled = self._filled(data, *self._fold_in(data))
        if P.ndim == 2:
            return filled
        out = P.copy()
        missing = np.isnan(P[:, :, 0])
        if P.shape[2] == 2:
            out[missing, 1] = filled[missing]
            out[missing, 0] = 1.0 - filled[missing]
        else:
            out[missing] = filled.reshape(P.shape)[missing]
        return out

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

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path`` (see :func:`cfensemble.io.save_model`)."""
        save_model(self, path, metadata)


def predicted_labels(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The labels of ``classes`` that ``proba`` (n, n_classes) predicts: the most probable
    class; for two classes the second where its probability is at least 0.5."""
    if proba.shape[1] == 2:
        return classes[(proba[:, 1] >= 0.5).astype(int)]
    return classes[np.argmax(proba, axis=1)]


def instance_confidence_weights(P: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """``max(1 - mean_u certainty_iu, floor)`` over each row's observed predictions, with
    ``certainty = |2 p - 1|`` for a binary ``P`` (n, m) and ``(K max_k p_k - 1) / (K - 1)``
    (the same for K = 2) for class probabilities (n, m, K)."""
    if P.ndim == 2:
        certainty = np.abs(2.0 * P - 1.0)
    else:
        k = P.shape[2]
        certainty = (k * np.max(P, axis=2) - 1.0) / (k - 1.0)
    return np.maximum(1.0 - np.nanmean(certainty, axis=1), floor)



def _cross_validated_shrinkage(
    A, y, kappa, weight, objective: Objective, m: int, use_class_weights: bool, fold_target
):
    """Mean PR-AUC of the aggregator with each of ``AUTO_SHRINKAGES``, by stratified
    cross-validation on the labeled rows: aggregator input ``A``, classes ``y``, the fit's
    supervised weights ``kappa`` and sample weights ``weight`` (None: all 1); ``m`` columns
    of the factorized matrix. 3 folds, or fewer when a class has fewer labeled rows; None
    when one has fewer than 2. Each fold is fitted as the fit would be on its training
    rows: class weights from their class counts (times the rows' sample weights and
    costs, the rest of ``kappa``), the aggregator solved from the equal weights; one whose
    weights all come out 0 scores as the mean aggregator (the fit's mean fallback). The
    held-out fold is scored with its sample weights. ``fold_target(train)`` is the
    shrinkage target (per aggregator weight) of a fold: for "separation" its factor comes
    from the fold's training rows only, as the fit's comes from its labeled rows."""
    k = objective.outputs
    folds = _label_folds(y, k)
    if folds is None:
        return None
    start = _als.initial_weights(m, objective.aggregator_input, k)
    rest = kappa / class_weights(y, use_class_weights, weight)  # sample weights x costs
    targets = [fold_target(train) for train, _ in folds]
    means = []
    for shrinkage in AUTO_SHRINKAGES:
        scores = []
        for (train, held), target in zip(folds, targets, strict=True):
            w, b = solve_aggregator(
                A[train],
                y[train],
                class_weights(y[train], use_class_weights, _rows(weight, train)) * rest[train],
                objective.focal_gamma,
                objective.aggregator_l2,
                objective.positive,
                start.copy(),
                0.0 if k == 1 else np.zeros(k),
                shrinkage=shrinkage,
                groups=objective.groups,
                outputs=k,
                target=target,
            )
            if np.any(w):
                z = logits(A[held], w, b, k)
                proba = expit(z) if k == 1 else softmax(z, axis=1)
            else:
                proba = _als.mean_prediction(A[held], start, k)
            scores.append(pr_auc(y[held], proba, _rows(weight, held)))
        means.append(float(np.mean(scores)))
    return means


def _label_folds(y: np.ndarray, outputs: int) -> list | None:
    """Stratified folds (train, held) of labeled rows of classes ``y`` (0, 1, ...) for the
    internal cross-validations: 3, or fewer when a class has fewer rows, shuffled with a
    fixed seed; None when a class has fewer than 2 rows."""
    from sklearn.model_selection import StratifiedKFold

    classes = y.astype(np.intp)
    n_folds = int(min(3, np.bincount(classes, minlength=max(outputs, 2)).min()))
    if n_folds < 2:
        return None
    return list(StratifiedKFold(n_folds, shuffle=True, random_state=0).split(classes, classes))


def _is_consensus(target) -> bool:
    """A target that starts from the label-free consensus ("consensus", "separation")."""
    return isinstance(target, str) and target in ("consensus", "separation")


def _is_separation(target) -> bool:
    return isinstance(target, str) and target == "separation"


def _rows(weight: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[rows]


def _marks_minus_one(y) -> bool:
    """Whether ``y`` holds the number -1 (the unlabeled mark), for error messages."""
    try:
        return bool(np.any(np.asarray(y, dtype=object) == -1))
    except (TypeError, ValueError):
        return False


def _times(weights: np.ndarray | None, factor: np.ndarray) -> np.ndarray:
    return factor if weights is None else weights * factor


def _check_sample_weight(sample_weight, y: np.ndarray) -> np.ndarray | None:
    """``sample_weight`` as float64 of shape (n_samples,), finite and >= 0, or None."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must be numeric: {exc}") from None
    if w.shape != y.shape:
        raise ValueError(
            f"sample_weight must have shape ({y.shape[0]},), one weight per row; got {w.shape}."
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and >= 0.")
    labeled = ~np.isnan(y)
    for cls in np.unique(y[labeled]):
        rows = labeled & (y == cls)
        if w[rows].sum() == 0:
            raise ValueError(f"sample_weight is 0 on every labeled row of class index {int(cls)}.")
    return w


def _is_array(value) -> bool:
    return not isinstance(value, str) and not callable(value)


def _stratified_holdout(y: np.ndarray, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, held out) of a stratified hold-out of the labeled rows."""
    labeled = np.flatnonzero(~np.isnan(y))
    empty = np.array([], dtype=int)
    if fraction == 0:
        return labeled, empty
    held = []
    for cls in np.unique(y[labeled]):
        members = labeled[y[labeled] == cls]
        k = round(fraction * members.size)
        if members.size < 2 or k == 0:
            return labeled, empty
        held.append(rng.permutation(members)[: min(k, members.size - 1)])
    held_rows = np.sort(np.concatenate(held))
    return np.setdiff1d(labeled, held_rows), held_rows
