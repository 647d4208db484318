"""Front-ends with the names and defaults of the original CF-Ensemble write-up.

``CFEnsembleTrainer`` (ALS) and ``CFEnsemblePyTorchTrainer`` (autograd) are
:class:`~cfensemble.CFEnsembleClassifier` with other defaults and an optional
``n_classifiers`` check: same code, no second implementation. The write-up is described
in the README ("Where the method comes from").
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from numbers import Integral

from sklearn.utils._param_validation import Interval, StrOptions

from ._estimator import CFEnsembleClassifier
from ._solvers import ALS, Autograd, Settings
from .io import register

# the write-up's switches that the main estimator fixes or spells otherwise
_OWN = {
    "n_classifiers": [Interval(Integral, 1, None, closed="left"), None],
    "use_label_aware_confidence": ["boolean"],
    "use_class_weights": ["boolean"],
    "aggregator_positive": ["boolean"],
    "prior_correction": ["boolean"],
    "instance_weighting": [StrOptions({"none", "confidence"})],
}
_SETTINGS = {f.name for f in fields(Settings)}


def _constraints(cls) -> dict:
    """The constraints of the parameters of ``cls.__init__``: the main estimator's, the
    trainers' and the write-up's own switches."""
    names = set(inspect.signature(cls.__init__).parameters) - {"self"}
    known = {
        **ALS._parameter_constraints,
        **Autograd._parameter_constraints,
        **CFEnsembleClassifier._parameter_constraints,
        **_OWN,
    }
    return {k: v for k, v in known.items() if k in names}


class _DeclaredClassifiers:
    """``n_classifiers``, when given, must match the number of columns of ``P``; the
    parameters map one to one onto :class:`~cfensemble._solvers.Settings`."""

    n_classifiers: int | None
    trainer: str

    def _settings(self) -> Settings:
        params = self.get_params(deep=False)  # type: ignore[attr-defined]
        if not params.get("use_label_aware_confidence", False):
            params["label_aware_alpha"] = 0.0
        chosen = {k: v for k, v in params.items() if k in _SETTINGS and k != "solver"}
        return Settings(**chosen, solver=self.trainer)

    def _check_n_classifiers(self, n_classifiers: int) -> None:
        if self.n_classifiers is not None and self.n_classifiers != n_classifiers:
            raise ValueError(
                f"P has {n_classifiers} columns but n_classifiers={self.n_classifiers}."
            )


@register
class CFEnsembleTrainer(_DeclaredClassifiers, CFEnsembleClassifier):
    """The original ALS trainer: :class:`CFEnsembleClassifier` with the original defaults.

    ``latent_dim=20`` (capped at the number of classifiers), the aggregator combining the
    reconstruction ``P_hat`` (``aggregator_input="reconstructed"``), one gradient step of
    the aggregator per iteration (``aggregator_solver="gd"``) with no ridge, no sign
    constraint and no prior correction, label-aware confidence, 50 iterations.
    ``n_classifiers``, when given, must match the number of columns of ``P``. See
    :class:`CFEnsembleClassifier` for every parameter.
    """

    trainer = "als"

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
        accelerate=True,
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
        aggregator_shrinkage=0.0,
        shrinkage_target="equal",
        aggregator_positive=False,
        aggregator_input="reconstructed",
        abstention=0.0,
        calibrate_fill=False,
        prior_correction=False,
        instance_weighting="none",
        fn_cost=1.0,
        class_weight_warmup=0,
        confidence="uniform",
        chunk_size=16384,
        n_jobs=None,
        device="cpu",
        dtype=None,
        callback=None,
    ):
        self.n_classifiers = n_classifiers
        self.latent_dim = latent_dim
        self.rho = rho
        self.lambda_reg = lambda_reg
        self.aggregator_type = aggregator_type
        self.aggregator_lr = aggregator_lr
        self.max_iter = max_iter
        self.tol = tol
        self.accelerate = accelerate
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.freeze_aggregator_iters = freeze_aggregator_iters
        self.use_class_weights = use_class_weights
        self.focal_gamma = focal_gamma
        self.random_state = random_state
        self.verbose = verbose
        self.aggregator_solver = aggregator_solver
        self.aggregator_l2 = aggregator_l2
        self.aggregator_shrinkage = aggregator_shrinkage
        self.shrinkage_target = shrinkage_target
        self.aggregator_positive = aggregator_positive
        self.aggregator_input = aggregator_input
        self.abstention = abstention
        self.calibrate_fill = calibrate_fill
        self.prior_correction = prior_correction
        self.instance_weighting = instance_weighting
        self.fn_cost = fn_cost
        self.class_weight_warmup = class_weight_warmup
        self.confidence = confidence
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.device = device
        self.dtype = dtype
        self.callback = callback


@register
class CFEnsemblePyTorchTrainer(_DeclaredClassifiers, CFEnsembleClassifier):
    """The original autograd trainer: :class:`CFEnsembleClassifier` with ``solver="torch"``.

    Defaults of the original: ``latent_dim=20`` (capped at the number of classifiers), the
    aggregator combining the reconstruction, no label-aware confidence, no ridge or sign
    constraint on the aggregator, no prior correction. ``max_iter`` and
    ``aggregator_solver`` set the ALS run of ``als_warm_start=True``. ``n_classifiers``,
    when given, must match the number of columns of ``P``. See :class:`CFEnsembleClassifier`
    for every parameter.
    """

    trainer = "torch"

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
        dtype=None,
        batch_size=None,
        patience=20,
        random_state=None,
        verbose=False,
        *,
        validation_fraction=0.2,
        validation_metric="loss",
        als_warm_start=False,
        max_iter=50,
        aggregator_solver="newton",
        aggregator_l2=0.0,
        aggregator_shrinkage=0.0,
        shrinkage_target="equal",
        aggregator_positive=False,
        aggregator_input="reconstructed",
        abstention=0.0,
        calibrate_fill=False,
        prior_correction=False,
        instance_weighting="none",
        fn_cost=1.0,
        class_weight_warmup=0,
        confidence="uniform",
        use_label_aware_confidence=False,
        label_aware_alpha=1.0,
        tol=1e-4,
        accelerate=True,
        chunk_size=16384,
        n_jobs=None,
        callback=None,
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
        self.dtype = dtype
        self.batch_size = batch_size
        self.patience = patience
        self.random_state = random_state
        self.verbose = verbose
        self.validation_fraction = validation_fraction
        self.validation_metric = validation_metric
        self.als_warm_start = als_warm_start
        self.max_iter = max_iter
        self.aggregator_solver = aggregator_solver
        self.aggregator_l2 = aggregator_l2
        self.aggregator_shrinkage = aggregator_shrinkage
        self.shrinkage_target = shrinkage_target
        self.aggregator_positive = aggregator_positive
        self.aggregator_input = aggregator_input
        self.abstention = abstention
        self.calibrate_fill = calibrate_fill
        self.prior_correction = prior_correction
        self.instance_weighting = instance_weighting
        self.fn_cost = fn_cost
        self.class_weight_warmup = class_weight_warmup
        self.confidence = confidence
        self.use_label_aware_confidence = use_label_aware_confidence
        self.label_aware_alpha = label_aware_alpha
        self.tol = tol
        self.accelerate = accelerate
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.callback = callback


CFEnsembleTrainer._parameter_constraints = _constraints(CFEnsembleTrainer)
CFEnsemblePyTorchTrainer._parameter_constraints = _constraints(CFEnsemblePyTorchTrainer)

__all__ = ["CFEnsemblePyTorchTrainer", "CFEnsembleTrainer"]
