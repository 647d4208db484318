"""CFEnsembleClassifier and the seed-named front-end CFEnsembleTrainer."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _als
from ._torch import import_torch
from ._validation import check_labels, check_probabilities
from .aggregators import MeanAggregator, WeightedAggregator
from .confidence import resolve_confidence

logger = logging.getLogger("cfensemble")

LOSS_PARTS = ("total", "reconstruction", "supervised")
AUTO_LATENT_DIMS = (2, 4, 8)  # candidates of latent_dim="auto" (capped at n_classifiers)
AUTO_RHOS = (0.5, 0.8, 1.0)  # candidates of rho="auto"


class CollapseWarning(UserWarning):
    """The aggregator weights sum to a non-positive value or the predictions are constant."""


def aggregator_diagnostics(w: np.ndarray, proba: np.ndarray) -> dict:
    """Signed aggregator weights and prediction spread, with a collapse flag.

    ``collapsed`` is True when the weights sum to <= 0 (the ensemble ranks against its
    base classifiers, the seed's failure) or the predictions have std below 1e-3.
    """
    w = np.asarray(w, dtype=np.float64)
    weight_sum = float(np.sum(w))
    prediction_std = float(np.std(proba))
    return {
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


class CFEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Ensemble of base classifiers by confidence-weighted matrix factorization.

    Factorizes the probability matrix ``P`` (instances x classifiers) as ``Y @ X.T`` with
    confidence weights, jointly with a logistic aggregator ``p = sigmoid(w @ p_hat + b)``
    trained on the labeled rows, and returns one probability per instance. Unlabeled rows
    of ``P`` shape the factorization and get predictions in ``transduction_``; new rows are
    folded in by :meth:`predict_proba`.

    Parameters
    ----------
    latent_dim : int or "auto", default=8
        Number of latent factors ``d``. ``"auto"`` chooses among 2, 4 and 8 (at most
        ``n_classifiers``) by cross-validation on the labeled rows (see ``cv_results_``).
    rho : float in [0, 1] or "auto", default=0.5
        Weight of the reconstruction loss in ``rho * L_recon + (1 - rho) * L_sup``. Both
        parts are averages (see Notes), so ``rho`` means the same at every n. ``rho = 1``
        fits the factors to ``P`` alone (the seed's ALS); ``solver="als"`` needs ``rho > 0``.
        ``"auto"`` chooses among 0.5, 0.8 and 1 by cross-validation on the labeled rows.
    lambda_reg : float >= 0, default=0.01
        Ridge penalty on both factor matrices.
    solver : {"als", "torch"}, default="als"
        ``"als"``: alternating least squares that decreases the combined objective at
        every step (numpy). ``"torch"``: the autograd trainer, optimising X, Y, w and b
        jointly with a torch optimizer and early stopping (needs the ``[torch]`` extra).
    aggregator_type : {"weighted", "mean"}, default="weighted"
        ``"weighted"``: the logistic aggregator. ``"mean"``: the clipped mean of the
        reconstructed row, which has nothing to learn; the supervised parameters
        (``rho``'s supervised share, class weights, focal loss, aggregator settings) then
        do not enter the fit.
    aggregator_solver : {"newton", "gd"}, default="newton"
        ``"newton"``: solve the aggregator sub-problem (class-weighted logistic regression
        on the reconstructed labeled rows) exactly at every iteration. ``"gd"``: the seed's
        single gradient step of size ``aggregator_lr`` per iteration.
    aggregator_lr : float > 0, default=0.01
        Learning rate of the ``"gd"`` aggregator step (unused by ``"newton"``).
    aggregator_l2 : float >= 0, default=1e-3
        Ridge penalty ``aggregator_l2 / 2 * |w|^2`` in the supervised loss; keeps ``w``
        finite when the labeled rows are separable.
    aggregator_positive : bool, default=True
        Constrain the aggregator weights to ``w >= 0`` (non-negative stacking): a base
        classifier can be ignored but never counted against, so the ensemble cannot invert
        the ranking of its members (with very few labeled positives an unconstrained fit
        sometimes does).
    confidence : {"uniform", "certainty"}, callable or array-like, default="uniform"
        Base confidence of each entry of ``P``: a strategy name, a callable
        ``f(P, y) -> C`` (``y`` holds NaN for unlabeled rows), or an array of the shape of
        ``P``. Missing entries get 0 whatever is given. New rows folded in by
        :meth:`predict_proba` use the same strategy without labels; with an array, they use
        uniform confidence unless ``predict_proba(P, confidence=...)`` gives one.
    use_label_aware_confidence : bool, default=True
        Multiply the confidence of labeled rows by ``1 + label_aware_alpha * agreement``
        (agreement = ``p`` for positives, ``1 - p`` for negatives).
    label_aware_alpha : float >= 0, default=1.0
        Strength of the label-aware boost.
    use_class_weights : bool, default=True
        Weight labeled instances by ``n_L / (2 n_class)`` in the supervised loss.
    focal_gamma : float >= 0, default=0.0
        Focal-loss exponent: the supervised loss is ``-(1 - p_t)^gamma log p_t``.
    max_iter : int >= 1, default=300
        Maximum number of ALS iterations. With ``rho < 1`` the coupled steps are
        majorise-minimise steps and typically need 100-250 iterations to reach ``tol``.
    tol : float >= 0, default=1e-4
        Stop when the relative change of the total objective is below ``tol``.
    freeze_aggregator_iters : int >= 0, default=0
        Keep the aggregator at its start (the simple average) for this many iterations.
    chunk_size : int >= 1, default=16384
        Instances processed at once in the least-squares steps; bounds memory, does not
        change the result.
    max_epochs : int >= 1, default=500
        ``solver="torch"``: maximum number of epochs (passes over the instances).
    lr : float > 0, default=0.01
        ``solver="torch"``: learning rate of the optimizer.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        ``solver="torch"``: the torch optimizer.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        ``solver="torch"``: where the whole fit runs; ``"auto"`` takes cuda when available.
    batch_size : int >= 1 or None, default=None
        ``solver="torch"``: instances per mini-batch; None = full batch.
    patience : int >= 1, default=20
        ``solver="torch"``: stop after this many epochs without a better validation PR-AUC
        (or, without a validation set, without a relative loss decrease above ``tol``).
    validation_fraction : float in [0, 1), default=0.2
        ``solver="torch"``: share of the labeled rows (stratified) held out for early
        stopping; their labels are not used for training. The best epoch is restored.
    validation_metric : {"loss", "pr_auc"}, default="loss"
        ``solver="torch"``: which validation score picks the epoch to restore: the
        class-weighted cross-entropy (smooth, keeps probabilities calibrated) or PR-AUC.
    als_warm_start : bool, default=False
        ``solver="torch"``: start from the ALS solution (``max_iter`` ALS iterations with
        the ALS settings above) instead of the truncated SVD of ``P``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial factors, the validation split and the mini-batch order.
    verbose : bool, default=False
        Log the objective at every iteration (logger ``"cfensemble"``).

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        ``[0, 1]``.
    n_features_in_ : int
        Number of base classifiers ``m``.
    classifier_factors_ : ndarray of shape (n_classifiers, latent_dim)
    instance_factors_ : ndarray of shape (n_samples, latent_dim)
        Factors of the rows seen in :meth:`fit`.
    latent_dim_, rho_ : int, float
        The values used (the chosen ones when given as "auto").
    cv_results_ : list of dict or None
        With "auto": mean and per-fold PR-AUC of every candidate; None otherwise.
    coef_ : ndarray of shape (n_classifiers,)
        Signed aggregator weights.
    intercept_ : float
    transduction_ : ndarray of shape (n_samples,)
        Positive-class probability of every row seen in :meth:`fit`.
    n_iter_ : int
        ALS iterations or autograd epochs run.
    validation_pr_auc_, validation_loss_ : float or None
        ``solver="torch"``: PR-AUC and class-weighted cross-entropy of the restored epoch on
        the held-out labeled rows (None without a validation set, and for ALS).
    loss_curve_ : dict of ndarray
        ``"total"``, ``"reconstruction"`` and ``"supervised"`` parts per iteration.
    diagnostics_ : dict
        Signed weights, their std, min, max, range and sum, the number of negative weights,
        the prediction spread of ``transduction_`` and a ``collapsed`` flag.

    Notes
    -----
    The objective, with ``P_hat = Y X^T``::

        L_recon = [sum c_iu (p_iu - P_hat_iu)^2 + lambda_reg (|X|^2 + |Y|^2)] / sum c_iu
        L_sup   = sum_labeled kappa_i l(z_i, y_i) / sum kappa_i + aggregator_l2 / 2 |w|^2

    with ``z_i = w . P_hat_i + b``, ``kappa`` the class weights and ``l`` the focal loss
    (cross-entropy for ``focal_gamma = 0``). The ALS steps minimise a quadratic majoriser
    of this objective (see ``cfensemble._als``), so each step decreases it when the
    aggregator is solved exactly.
    """

    _parameter_constraints: ClassVar[dict] = {
        "latent_dim": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "rho": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "lambda_reg": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions({"als", "torch"})],
        "aggregator_type": [StrOptions({"weighted", "mean"})],
        "aggregator_solver": [StrOptions({"newton", "gd"})],
        "aggregator_lr": [Interval(Real, 0, None, closed="neither")],
        "aggregator_l2": [Interval(Real, 0, None, closed="left")],
        "aggregator_positive": ["boolean"],
        "confidence": [StrOptions({"uniform", "certainty"}), callable, "array-like"],
        "use_label_aware_confidence": ["boolean"],
        "label_aware_alpha": [Interval(Real, 0, None, closed="left")],
        "use_class_weights": ["boolean"],
        "focal_gamma": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "freeze_aggregator_iters": [Interval(Integral, 0, None, closed="left")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "validation_metric": [StrOptions({"loss", "pr_auc"})],
        "als_warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        latent_dim=8,
        rho=0.5,
        lambda_reg=0.01,
        solver="als",
        aggregator_type="weighted",
        aggregator_solver="newton",
        aggregator_lr=0.01,
        aggregator_l2=1e-3,
        aggregator_positive=True,
        confidence="uniform",
        use_label_aware_confidence=True,
        label_aware_alpha=1.0,
        use_class_weights=True,
        focal_gamma=0.0,
        max_iter=300,
        tol=1e-4,
        freeze_aggregator_iters=0,
        chunk_size=16384,
        max_epochs=500,
        lr=0.01,
        optimizer="adam",
        device="cpu",
        batch_size=None,
        patience=20,
        validation_fraction=0.2,
        validation_metric="loss",
        als_warm_start=False,
        random_state=None,
        verbose=False,
    ):
        self.latent_dim = latent_dim
        self.rho = rho
        self.lambda_reg = lambda_reg
        self.solver = solver
        self.aggregator_type = aggregator_type
        self.aggregator_solver = aggregator_solver
        self.aggregator_lr = aggregator_lr
        self.aggregator_l2 = aggregator_l2
        self.aggregator_positive = aggregator_positive
        self.confidence = confidence
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.use_class_weights = use_class_weights
        self.focal_gamma = focal_gamma
        self.max_iter = max_iter
        self.tol = tol
        self.freeze_aggregator_iters = freeze_aggregator_iters
        self.chunk_size = chunk_size
        self.max_epochs = max_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.device = device
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.validation_metric = validation_metric
        self.als_warm_start = als_warm_start
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.positive_only = True
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, P, y):
        """Fit the factorization and the aggregator.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers)
            Base probabilities in [0, 1]; NaN marks a missing prediction.
        y : array-like of shape (n_samples,)
            1 or 0 for labeled rows, -1 or NaN for unlabeled rows.

        Returns
        -------
        self : CFEnsembleClassifier
        """
        self._validate_params()
        y = check_labels(y)
        P = check_probabilities(P)
        if y.shape[0] != P.shape[0]:
            raise ValueError(f"y has {y.shape[0]} entries but P has {P.shape[0]} rows.")
        n_classifiers = P.shape[1]
        self._check_n_classifiers(n_classifiers)
        latent_dim, rho = self.latent_dim, self.rho
        if isinstance(latent_dim, str) or isinstance(rho, str):
            latent_dim, rho = self._select_by_cross_validation(P, y)
        else:
            self.cv_results_ = None
        self.latent_dim_, self.rho_ = latent_dim, rho
        if rho == 0 and (self.solver == "als" or self.als_warm_start):
            raise ValueError(
                "rho=0 leaves the factorization undetermined with solver='als' (and with "
                "als_warm_start=True); use rho > 0."
            )
        if self.solver == "torch" and self.aggregator_type != "weighted":
            raise ValueError(
                "solver='torch' trains the weighted aggregator; aggregator_type='mean' has "
                "nothing to learn: use solver='als' for it."
            )
        labeled = ~np.isnan(y)
        classes = np.unique(y[labeled])
        if labeled.any() and classes.size < 2:
            raise ValueError(
                f"y has labeled rows of one class only ({int(classes[0])}); the aggregator "
                "needs both classes. Label at least one row of each class, or mark all rows "
                "-1 for a pure reconstruction."
            )
        aggregator_cls = (
            WeightedAggregator if self.aggregator_type == "weighted" else MeanAggregator
        )
        if not labeled.any():
            warnings.warn(
                "y has no labeled rows: fitting a pure reconstruction of P; predictions are "
                "the clipped mean of the reconstructed row (the aggregator is not trained).",
                UserWarning,
                stacklevel=2,
            )
            aggregator_cls = MeanAggregator
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = n_classifiers
        C = resolve_confidence(
            self.confidence, P, y, self.use_label_aware_confidence, self.label_aware_alpha
        )
        problem = _als.make_problem(C, P, y, self.use_class_weights)
        aggregator = aggregator_cls(n_classifiers)
        rng = check_random_state(self.random_state)
        als_options = dict(
            rho=rho,
            lambda_reg=self.lambda_reg,
            aggregator_solver=self.aggregator_solver,
            aggregator_lr=self.aggregator_lr,
            aggregator_l2=self.aggregator_l2,
            aggregator_positive=self.aggregator_positive,
            use_class_weights=self.use_class_weights,
            focal_gamma=self.focal_gamma,
            max_iter=self.max_iter,
            tol=self.tol,
            freeze_aggregator_iters=self.freeze_aggregator_iters,
            chunk_size=self.chunk_size,
        )
        with _verbosity(self.verbose):
            if self.solver == "torch" and labeled.any():
                from ._torch import fit_torch

                result = fit_torch(
                    problem,
                    latent_dim=latent_dim,
                    rho=rho,
                    lambda_reg=self.lambda_reg,
                    aggregator_l2=self.aggregator_l2,
                    aggregator_positive=self.aggregator_positive,
                    use_class_weights=self.use_class_weights,
                    focal_gamma=self.focal_gamma,
                    max_epochs=self.max_epochs,
                    lr=self.lr,
                    optimizer=self.optimizer,
                    device=self.device,
                    batch_size=self.batch_size,
                    patience=self.patience,
                    validation_fraction=self.validation_fraction,
                    validation_metric=self.validation_metric,
                    tol=self.tol,
                    als_warm_start=self.als_warm_start,
                    als_options=als_options,
                    rng=rng,
                )
                aggregator.w, aggregator.b = result.w, result.b
            else:
                if self.solver == "torch":
                    import_torch()  # the same ImportError whatever the labels
                result = _als.fit_als(
                    problem, aggregator, latent_dim=latent_dim, rng=rng, **als_options
                )
        self.aggregator_ = aggregator
        self.classifier_factors_ = result.X
        self.instance_factors_ = result.Y
        self.coef_ = result.w
        self.intercept_ = result.b
        self.n_iter_ = result.n_iter
        self.validation_pr_auc_ = result.validation_pr_auc
        self.validation_loss_ = result.validation_loss
        self.loss_curve_ = {
            name: result.loss_curve[:, k].copy() for k, name in enumerate(LOSS_PARTS)
        }
        self.transduction_ = aggregator.predict(result.Y @ result.X.T)
        self.diagnostics_ = aggregator_diagnostics(self.coef_, self.transduction_)
        if self.diagnostics_["collapsed"]:
            warnings.warn(
                "The aggregator collapsed: weight sum "
                f"{self.diagnostics_['weight_sum']:.3g}, prediction std "
                f"{self.diagnostics_['prediction_std']:.3g}. On imbalanced data keep "
                "use_class_weights=True; try aggregator_solver='newton'.",
                CollapseWarning,
                stacklevel=2,
            )
        return self

    def _check_n_classifiers(self, n_classifiers: int) -> None:
        """Hook for front-ends that declare the number of classifiers up front."""

    def _select_by_cross_validation(self, P, y):
        """Choose ``latent_dim`` / ``rho`` given as "auto" by internal cross-validation.

        The labeled rows are split in stratified folds (3, or fewer when a class has fewer
        labeled rows); for each candidate the model is fitted with one fold's labels hidden
        (those rows stay in P, unlabeled, as in real use) and scored by PR-AUC of its
        transductive predictions on that fold. The best mean score wins; ties go to the
        smaller ``latent_dim`` and the larger ``rho``. Results are in ``cv_results_``.
        """
        from sklearn.metrics import average_precision_score
        from sklearn.model_selection import StratifiedKFold

        m = P.shape[1]
        dims = (
            sorted({min(d, m) for d in AUTO_LATENT_DIMS})
            if self.latent_dim == "auto"
            else [self.latent_dim]
        )
        rhos = list(AUTO_RHOS) if self.rho == "auto" else [self.rho]
        labeled = np.flatnonzero(~np.isnan(y))
        counts = np.bincount(y[labeled].astype(int), minlength=2) if labeled.size else [0, 0]
        n_folds = int(min(3, np.min(counts)))
        fallback = (
            dims[-1] if self.latent_dim == "auto" else dims[0],
            0.5 if self.rho == "auto" else rhos[0],
        )
        if n_folds < 2:
            warnings.warn(
                "latent_dim/rho='auto' needs at least 2 labeled rows of each class for "
                f"cross-validation; using latent_dim={fallback[0]}, rho={fallback[1]}.",
                UserWarning,
                stacklevel=3,
            )
            self.cv_results_ = None
            return fallback
        splitter = StratifiedKFold(n_folds, shuffle=True, random_state=0)
        folds = list(splitter.split(labeled, y[labeled]))
        results = []
        for d in dims:
            for r in rhos:
                scores = []
                for _, held in folds:
                    rows = labeled[held]
                    y_cv = y.copy()
                    y_cv[rows] = np.nan
                    est = clone(self).set_params(latent_dim=d, rho=r, verbose=False)
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        est.fit(P, y_cv)
                    scores.append(average_precision_score(y[rows], est.transduction_[rows]))
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
        self.cv_results_ = results
        return best["latent_dim"], best["rho"]

    def save(self, path, metadata: dict | None = None) -> None:
        """Write the fitted model to ``path`` (arrays + JSON, never pickle; see cfensemble.io).

        ``metadata`` (JSON-serialisable) is stored with it and comes back as
        ``model_metadata_`` from :func:`cfensemble.load`.
        """
        from .io import save_model

        save_model(self, path, metadata)

    def fold_in(self, P, confidence=None) -> np.ndarray:
        """Instance factors of new rows, folded in with the classifier factors fixed.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers)
            Base probabilities in [0, 1]; NaN marks a missing prediction.
        confidence : array-like of shape (n_samples, n_classifiers), optional
            Confidence for these rows; by default the fitted strategy without labels.

        Returns
        -------
        Y : ndarray of shape (n_samples, latent_dim)
        """
        check_is_fitted(self, "classifier_factors_")
        P = check_probabilities(P, n_classifiers=self.n_features_in_)
        unlabeled = np.full(P.shape[0], np.nan)
        if confidence is None:
            confidence = self.confidence if not _is_array(self.confidence) else "uniform"
        C = resolve_confidence(confidence, P, unlabeled)
        P0 = np.where(np.isnan(P), 0.0, P)
        return _als.fold_in(C, P0, self.classifier_factors_, self.lambda_reg, self.chunk_size)

    def predict_proba(self, P, confidence=None) -> np.ndarray:
        """Class probabilities of new rows (inductive fold-in).

        Each row's instance factor is solved with the classifier factors fixed (the
        Y-step, confidence from ``P`` without labels, 0 for missing entries), then the
        aggregator combines the reconstructed row.

        Parameters
        ----------
        P : array-like of shape (n_samples, n_classifiers)
        confidence : array-like of shape (n_samples, n_classifiers), optional
            See :meth:`fold_in`.

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Columns are the probabilities of class 0 and class 1.
        """
        Y = self.fold_in(P, confidence)
        p = self.aggregator_.predict(Y @ self.classifier_factors_.T)
        return np.column_stack([1.0 - p, p])

    def predict(self, P, confidence=None) -> np.ndarray:
        """Class labels of new rows: 1 where the positive probability is at least 0.5."""
        positive = self.predict_proba(P, confidence)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]


def _is_array(value) -> bool:
    return not isinstance(value, str) and not callable(value)


class CFEnsembleTrainer(CFEnsembleClassifier):
    """The seed's ALS trainer: :class:`CFEnsembleClassifier` with the seed's defaults.

    Same code as :class:`CFEnsembleClassifier`; differs only in its defaults
    (``latent_dim=20``, the seed's single gradient step for the aggregator
    ``aggregator_solver="gd"`` with no ridge and no sign constraint) and in the optional
    ``n_classifiers``, which, when given, must match the number of columns of ``P``. See
    :class:`CFEnsembleClassifier` for every parameter.
    """

    solver = "als"

    _parameter_constraints: ClassVar[dict] = {
        **{k: v for k, v in CFEnsembleClassifier._parameter_constraints.items() if k != "solver"},
        "n_classifiers": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_classifiers=None,
        latent_dim=20,
        rho=0.5,
        lambda_reg=0.01,
        aggregator_type="weighted",
        aggregator_lr=0.01,
        max_iter=50,
        tol=1e-4,
        use_label_aware_confidence=True,
        label_aware_alpha=1.0,
        freeze_aggregator_iters=0,
        use_class_weights=True,
        focal_gamma=0.0,
        random_state=None,
        verbose=False,
        *,
        aggregator_solver="gd",
        aggregator_l2=0.0,
        aggregator_positive=False,
        confidence="uniform",
        chunk_size=16384,
    ):
        self.n_classifiers = n_classifiers
        self.latent_dim = latent_dim
        self.rho = rho
        self.lambda_reg = lambda_reg
        self.aggregator_type = aggregator_type
        self.aggregator_lr = aggregator_lr
        self.max_iter = max_iter
        self.tol = tol
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.freeze_aggregator_iters = freeze_aggregator_iters
        self.use_class_weights = use_class_weights
        self.focal_gamma = focal_gamma
        self.random_state = random_state
        self.verbose = verbose
        self.aggregator_solver = aggregator_solver
        self.aggregator_l2 = aggregator_l2
        self.aggregator_positive = aggregator_positive
        self.confidence = confidence
        self.chunk_size = chunk_size

    def _check_n_classifiers(self, n_classifiers: int) -> None:
        if self.n_classifiers is not None and self.n_classifiers != n_classifiers:
            raise ValueError(
                f"P has {n_classifiers} columns but n_classifiers={self.n_classifiers}."
            )


class CFEnsemblePyTorchTrainer(CFEnsembleClassifier):
    """The seed's autograd trainer: :class:`CFEnsembleClassifier` with ``solver="torch"``.

    Same code as :class:`CFEnsembleClassifier`; differs in its defaults (``latent_dim=20``,
    no label-aware confidence, as the seed's trainer, and no ridge or sign constraint on
    the aggregator) and in
    the optional ``n_classifiers``, which, when given, must match the number of columns of
    ``P``. See :class:`CFEnsembleClassifier` for every parameter. The ALS settings used by
    ``als_warm_start=True`` are those of :class:`CFEnsembleClassifier` (exact aggregator,
    50 iterations).
    """

    solver = "torch"
    aggregator_type = "weighted"
    aggregator_solver = "newton"
    aggregator_lr = 0.01
    max_iter = 50
    freeze_aggregator_iters = 0

    _parameter_constraints: ClassVar[dict] = {
        **{
            k: v
            for k, v in CFEnsembleClassifier._parameter_constraints.items()
            if k
            not in {
                "solver",
                "aggregator_type",
                "aggregator_solver",
                "aggregator_lr",
                "max_iter",
                "freeze_aggregator_iters",
            }
        },
        "n_classifiers": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_classifiers=None,
        latent_dim=20,
        rho=0.5,
        lambda_reg=0.01,
        max_epochs=500,
        lr=0.01,
        optimizer="adam",
        use_class_weights=True,
        focal_gamma=0.0,
        device="cpu",
        batch_size=None,
        patience=20,
        random_state=None,
        verbose=False,
        *,
        validation_fraction=0.2,
        validation_metric="loss",
        als_warm_start=False,
        aggregator_l2=0.0,
        aggregator_positive=False,
        confidence="uniform",
        use_label_aware_confidence=False,
        label_aware_alpha=1.0,
        tol=1e-4,
        chunk_size=16384,
    ):
        self.n_classifiers = n_classifiers
        self.latent_dim = latent_dim
        self.rho = rho
        self.lambda_reg = lambda_reg
        self.max_epochs = max_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.use_class_weights = use_class_weights
        self.focal_gamma = focal_gamma
        self.device = device
        self.batch_size = batch_size
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.validation_metric = validation_metric
        self.als_warm_start = als_warm_start
        self.aggregator_l2 = aggregator_l2
        self.aggregator_positive = aggregator_positive
        self.confidence = confidence
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.tol = tol
        self.chunk_size = chunk_size

    _check_n_classifiers = CFEnsembleTrainer._check_n_classifiers
