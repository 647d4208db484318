"""The trainers' settings: :class:`ALS` and :class:`Autograd`, and the resolved settings.

``CFEnsembleClassifier(solver=...)`` takes ``"als"``, ``"torch"`` or one of these objects,
the way scikit-learn's ``StackingClassifier`` takes a ``final_estimator``: they are
estimators' parameter holders (``get_params``/``set_params``, ``clone``, ``repr``), so a
search reaches ``solver__max_iter`` or ``solver__lr``. They hold settings only; the
algorithms are :class:`cfensemble._als.ALSSolver` and :class:`cfensemble._torch.AutogradSolver`.

:class:`Settings` is every setting a fit reads, model and trainer together, resolved from an
estimator's parameters (:func:`settings_of`). The estimator's steps read it rather than the
parameters, so front-ends with other parameters (the original method's, in
:mod:`cfensemble._seed`) only map theirs onto it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from numbers import Integral, Real
from typing import Any, ClassVar

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, Options, StrOptions

from . import _als
from ._kernels import TorchKernel

_N_JOBS = [None, Options(Integral, {-1}), Interval(Integral, 1, None, closed="left")]
_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]


class _Trainer(BaseEstimator):
    """Validation shared by the two settings objects."""

    kind: ClassVar[str]

    def check(self) -> None:
        """Validate the settings (the constraints' message names the parameter)."""
        self._validate_params()


class ALS(_Trainer):
    """Settings of the alternating-least-squares trainer (the default).

    Parameters
    ----------
    max_iter : int >= 1, default=100
        Maximum number of iterations.
    tol : float >= 0, default=1e-4
        Stop when the relative change of the objective is below ``tol`` (with ``rho=1``
        and ``aggregator_solver="gd"``: and that of the supervised part).
    accelerate : bool, default=True
        Extrapolate the classifier factors along their last move when that lowers the
        objective (used with ``rho=1``); ``False``: plain alternating least squares.
    aggregator_solver : {"newton", "gd"}, default="newton"
        ``"newton"``: solve the aggregator's class-weighted logistic regression exactly
        (once, after the factors, with ``rho=1``). ``"gd"``: one gradient step of size
        ``aggregator_lr`` per iteration, the original method's trainer.
    aggregator_lr : float > 0, default=0.01
        Step size of the ``"gd"`` aggregator step.
    freeze_aggregator_iters : int >= 0, default=0
        Keep the aggregator at its start (the simple average) for this many iterations.
    chunk_size : int >= 1, default=16384
        Rows processed at once; bounds memory, does not change the result.
    n_jobs : int or None, default=None
        Threads of the kernels and of BLAS during the fit (None: the libraries' own
        settings; -1: all cores). Does not change the result.
    device : {"cpu", "cuda", "auto"}, default="cpu"
        ``"cuda"``: the instance step and the classifier step's normal equations run in
        PyTorch on the GPU (raise ``chunk_size`` there); ``"auto"`` takes cuda when
        available.
    dtype : {"float64", "float32"} or None, default=None
        Precision of the PyTorch kernels: None = float64 on the CPU, float32 on a GPU.
    callback : callable or None, default=None
        Called as ``callback(iteration, losses)`` after every iteration, with ``losses``
        the (total, reconstruction, supervised) parts.
    """

    kind = "als"
    _parameter_constraints: ClassVar[dict] = {
        "max_iter": _POSITIVE_INT,
        "tol": [Interval(Real, 0, None, closed="left")],
        "accelerate": ["boolean"],
        "aggregator_solver": [StrOptions({"newton", "gd"})],
        "aggregator_lr": [Interval(Real, 0, None, closed="neither")],
        "freeze_aggregator_iters": [Interval(Integral, 0, None, closed="left")],
        "chunk_size": _POSITIVE_INT,
        "n_jobs": _N_JOBS,
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "dtype": [StrOptions({"float64", "float32"}), None],
        "callback": [callable, None],
    }

    def __init__(
        self,
        max_iter=100,
        *,
        tol=1e-4,
        accelerate=True,
        aggregator_solver="newton",
        aggregator_lr=0.01,
        freeze_aggregator_iters=0,
        chunk_size=16384,
        n_jobs=None,
        device="cpu",
        dtype=None,
        callback=None,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.accelerate = accelerate
        self.aggregator_solver = aggregator_solver
        self.aggregator_lr = aggregator_lr
        self.freeze_aggregator_iters = freeze_aggregator_iters
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.device = device
        self.dtype = dtype
        self.callback = callback


class Autograd(_Trainer):
    """Settings of the autograd trainer: a torch optimizer with early stopping.

    Needs the ``[torch]`` extra and labeled rows. Every part of the objective is trained
    jointly, by default from the ALS solution.

    Parameters
    ----------
    max_epochs : int >= 1, default=500
        Maximum number of epochs (passes over the instances).
    lr : float > 0, default=0.01
        Learning rate of the optimizer.
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
    batch_size : int >= 1 or None, default=None
        Instances per mini-batch; None = full batch.
    patience : int >= 1, default=20
        Stop after this many epochs in which the validation loss did not fall by more
        than ``tol`` (relative); without a validation set, the training loss.
    tol : float >= 0, default=1e-4
    validation_fraction : float in [0, 1), default=0.2
        Share of the labeled rows (stratified) held out for early stopping, split off
        before anything uses the labels. The best epoch by ``validation_metric`` is kept.
    validation_metric : {"loss", "pr_auc"}, default="loss"
    als_warm_start : bool or "auto", default="auto"
        Start from the ALS solution (``max_iter`` iterations) instead of ALS's initial
        state; "auto": where ALS can solve the objective (``rho > 0``).
    max_iter : int >= 1, default=100
        ALS iterations of the warm start.
    device : {"cpu", "cuda", "auto"}, default="cpu"
    chunk_size : int >= 1, default=16384
        Rows per block of the ALS warm start.
    n_jobs : int or None, default=None
        Threads of the ALS warm start.
    callback : callable or None, default=None
        Called as ``callback(epoch, losses)`` after every epoch.
    """

    kind = "torch"
    _parameter_constraints: ClassVar[dict] = {
        "max_epochs": _POSITIVE_INT,
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "patience": _POSITIVE_INT,
        "tol": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "validation_metric": [StrOptions({"loss", "pr_auc"})],
        "als_warm_start": ["boolean", StrOptions({"auto"})],
        "max_iter": _POSITIVE_INT,
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "chunk_size": _POSITIVE_INT,
        "n_jobs": _N_JOBS,
        "callback": [callable, None],
    }

    def __init__(
        self,
        max_epochs=500,
        *,
        lr=0.01,
        optimizer="adam",
        batch_size=None,
        patience=20,
        tol=1e-4,
        validation_fraction=0.2,
        validation_metric="loss",
        als_warm_start="auto",
        max_iter=100,
        device="cpu",
        chunk_size=16384,
        n_jobs=None,
        callback=None,
    ):
        self.max_epochs = max_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.patience = patience
        self.tol = tol
        self.validation_fraction = validation_fraction
        self.validation_metric = validation_metric
        self.als_warm_start = als_warm_start
        self.max_iter = max_iter
        self.device = device
        self.chunk_size = chunk_size
        self.n_jobs = n_jobs
        self.callback = callback


SOLVERS: dict[str, type[ALS] | type[Autograd]] = {"als": ALS, "torch": Autograd}


def trainer_of(solver) -> ALS | Autograd:
    """The settings object of a ``solver`` parameter: a name's defaults, or the object
    (ALS's defaults for a value the parameter's validation will refuse)."""
    if isinstance(solver, (ALS, Autograd)):
        return solver
    return SOLVERS.get(solver, ALS)() if isinstance(solver, str) else ALS()


def without_callback(params: dict) -> dict:
    """An estimator's ``get_params(deep=False)`` with its progress callback left out (a
    callable, a progress bar say, need not be copyable), for the estimators a fit makes."""
    params = dict(params)
    if "callback" in params:  # the original method's front-ends
        params["callback"] = None
    solver = params.get("solver")
    if isinstance(solver, (ALS, Autograd)) and solver.callback is not None:
        params["solver"] = type(solver)(**{**solver.get_params(deep=False), "callback": None})
    return params


def settled(method: Callable) -> Callable:
    """Run an estimator's ``method`` with its :class:`Settings` resolved once, at the call
    (``est._s`` otherwise resolves them from the parameters at every read)."""

    @functools.wraps(method)
    def wrapper(est, *args, **kwargs):
        if "_settings" in est.__dict__:  # called from another settled method
            return method(est, *args, **kwargs)
        est.__dict__["_settings"] = est._settings()
        try:
            return method(est, *args, **kwargs)
        finally:
            est.__dict__.pop("_settings", None)

    return wrapper


@dataclass(frozen=True)
class Settings:
    """Every setting a fit reads: the model's and the trainer's (see the module doc).

    The fields without a public parameter of :class:`~cfensemble.CFEnsembleClassifier`
    (``aggregator_positive``, ``prior_correction``, ``instance_weighting``,
    ``multiclass_factorization``) keep the variants the original method's front-ends
    reproduce; the main estimator fixes them (see the docs' "Design decisions").
    """

    latent_dim: Any = 2
    rho: Any = 1.0
    lambda_reg: float = 0.03
    aggregator_type: str = "weighted"
    aggregator_input: str = "observed"
    abstention: Any = "auto"
    calibrate_fill: bool = True
    aggregator_l2: Any = "auto"
    aggregator_shrinkage: Any = 0.1
    shrinkage_target: Any = "separation"
    confidence: Any = "uniform"
    label_aware_alpha: float = 0.0
    use_class_weights: bool = True
    fn_cost: float = 1.0
    focal_gamma: float = 0.0
    class_weight_warmup: int = 0
    random_state: Any = None
    verbose: bool = False
    # fixed by the main estimator
    aggregator_positive: bool = True
    prior_correction: bool = True
    instance_weighting: str = "none"
    multiclass_factorization: str = "auto"
    # the trainer
    solver: str = "als"
    max_iter: int = 100
    tol: float = 1e-4
    accelerate: bool = True
    aggregator_solver: str = "newton"
    aggregator_lr: float = 0.01
    freeze_aggregator_iters: int = 0
    chunk_size: int = 16384
    n_jobs: int | None = None
    device: str = "cpu"
    dtype: str | None = None
    callback: Callable | None = None
    max_epochs: int = 500
    lr: float = 0.01
    optimizer: str = "adam"
    batch_size: int | None = None
    patience: int = 20
    validation_fraction: float = 0.2
    validation_metric: str = "loss"
    als_warm_start: Any = "auto"

    @property
    def use_label_aware_confidence(self) -> bool:
        return self.label_aware_alpha > 0


_FIELDS = {f.name for f in fields(Settings)}


def settings_of(params: dict, trainer: ALS | Autograd) -> Settings:
    """:class:`Settings` from an estimator's ``params`` and its trainer's settings."""
    model = {k: v for k, v in params.items() if k in _FIELDS and k != "solver"}
    if "class_weight" in params:
        model["use_class_weights"] = params["class_weight"] == "balanced"
    own = trainer.get_params(deep=False)
    return Settings(**model, **own, solver=trainer.kind)


# cfensemble 0.2's parameters that cfensemble 1.0 removed, with the value 1.0 fixes
REMOVED = {
    "prior_correction": True,
    "aggregator_positive": True,
    "instance_weighting": "none",
    "multiclass_factorization": "auto",
}


def migrate_params(params: dict) -> tuple[dict, list[str]]:
    """cfensemble 0.2's ``CFEnsembleClassifier`` parameters in the 1.0 spelling (the
    CHANGELOG's migration table), and the removed settings that differed from what 1.0
    fixes (the model was fitted with them; a refit uses 1.0's)."""
    params = dict(params)
    params.pop("callback", None)
    kind = params.pop("solver", "als")
    trainer_class = SOLVERS[kind] if isinstance(kind, str) and kind in SOLVERS else ALS
    names = set(trainer_class().get_params(deep=False))
    trainer = {k: params.pop(k) for k in list(params) if k in names}
    for name in set(ALS().get_params()) | set(Autograd().get_params()):
        params.pop(name, None)  # the other trainer's settings: unused by this fit
    if "use_label_aware_confidence" in params:
        if not params.pop("use_label_aware_confidence"):
            params["label_aware_alpha"] = 0.0
    elif "label_aware_alpha" in params:
        params["label_aware_alpha"] = 0.0  # absent: the 0.2 default False
    if "use_class_weights" in params:
        params["class_weight"] = "balanced" if params.pop("use_class_weights") else None
    removed = {name: params.pop(name) for name in REMOVED if name in params}
    notes = [f"{k}={v!r}" for k, v in removed.items() if v != REMOVED[k]]
    defaults = trainer_class().get_params(deep=False)
    if any(trainer[k] != defaults[k] for k in trainer):
        params["solver"] = trainer_class(**trainer)
    else:
        params["solver"] = trainer_class.kind
    return params, notes


def als_solver(est) -> _als.ALSSolver:
    return _als.ALSSolver(
        latent_dim=est.latent_dim_,
        max_iter=est._s.max_iter,
        tol=est._s.tol,
        chunk_size=est._s.chunk_size,
        aggregator_solver=est._s.aggregator_solver,
        aggregator_lr=est._s.aggregator_lr,
        freeze_aggregator_iters=est._s.freeze_aggregator_iters,
        callback=est._s.callback,
        n_jobs=est._s.n_jobs,
        accelerate=est._s.accelerate,
        kernel=als_kernel(est),
        class_weight_warmup=est._s.class_weight_warmup,
    )


def als_kernel(est):
    """ "auto" (numpy/numba) or the PyTorch kernels for a GPU or float32."""
    if est._s.device == "cpu" and est._s.dtype != "float32":
        return "auto"
    from ._torch import resolve_device

    device = resolve_device(est._s.device).type
    if device == "cpu" and est._s.dtype != "float32":
        return "auto"
    dtype = est._s.dtype or ("float32" if device == "cuda" else "float64")
    return TorchKernel(device, dtype)


def make_solver(est):
    """The one place where parameters become a solver."""
    if est._s.solver == "als":
        return als_solver(est)
    from ._torch import AutogradSolver

    return AutogradSolver(
        latent_dim=est.latent_dim_,
        max_epochs=est._s.max_epochs,
        lr=est._s.lr,
        optimizer=est._s.optimizer,
        device=est._s.device,
        batch_size=est._s.batch_size,
        patience=est._s.patience,
        tol=est._s.tol,
        validation_metric=est._s.validation_metric,
        # the start: ALS with the full class weights; the curriculum is the epochs'
        warm_start=(
            replace(als_solver(est), class_weight_warmup=0) if als_warm_start(est) else None
        ),
        callback=est._s.callback,
        class_weight_warmup=est._s.class_weight_warmup,
    )


def als_warm_start(est) -> bool:
    """Whether the autograd trainer starts from the ALS solution."""
    if isinstance(est._s.als_warm_start, str):  # "auto"
        return est.rho_ > 0
    return bool(est._s.als_warm_start)


def check_warmup(est) -> None:
    """A curriculum needs class weights and an aggregator trained during the iterations."""
    warmup = est._s.class_weight_warmup
    if isinstance(warmup, bool):
        raise ValueError(
            f"The 'class_weight_warmup' parameter of {type(est).__name__} must be an int "
            f">= 0 (a number of updates). Got {warmup!r} instead."
        )
    if not warmup:
        return
    prefix = warmup_prefix(est)
    if not est._s.use_class_weights:
        raise ValueError(f"{prefix}; class_weight=None has none: set one of them.")
    if est._s.aggregator_type != "weighted":
        raise ValueError(f"{prefix} of a trained aggregator; aggregator_type='mean' has none.")
    # the fit needs one update with the full weights (torch) or two, to test the
    # convergence between them (ALS)
    if est._s.solver == "torch":
        needed, name = 1, f"max_epochs={est._s.max_epochs}"
        budget = est._s.max_epochs
    else:
        needed, budget = 2, est._s.max_iter - est._s.freeze_aggregator_iters
        name = f"max_iter={est._s.max_iter}" + (
            f" - freeze_aggregator_iters={est._s.freeze_aggregator_iters}"
            if est._s.freeze_aggregator_iters
            else ""
        )
    if warmup > budget - needed:
        raise ValueError(
            f"{prefix} over the aggregator's first {warmup} update(s), but the fit "
            f"has at most {max(budget, 0)} ({name}) and needs {needed} with the full "
            "weights after the warm-up: use a class_weight_warmup of at most "
            f"{max(budget - needed, 0)} or a larger {name.split('=')[0]}."
        )
    if (
        est._s.solver == "als"
        and est._s.aggregator_solver == "newton"
        and est._s.rho in (1, "auto")
    ):
        raise ValueError(
            f"{prefix} during the iterations, but with ALS, "
            f"aggregator_solver='newton' and rho={est._s.rho!r}"
            f"{' (which may choose 1)' if est._s.rho == 'auto' else ''} the aggregator is "
            "solved once, after the factors, with the full weights: the schedule would "
            "change nothing. Use solver=ALS(aggregator_solver='gd'), a rho below 1 or "
            "solver='torch', or class_weight_warmup=0."
        )


def warmup_prefix(est) -> str:
    return f"class_weight_warmup={est._s.class_weight_warmup} ramps up the class weights"


def check_warmup_per_class(est) -> None:
    """K classes factorized per class solve the softmax aggregator once, at the end."""
    if est.multiclass_factorization_ == "per_class" and est._s.class_weight_warmup:
        raise ValueError(
            f"{warmup_prefix(est)} during the iterations, but these {est._outputs} classes "
            "are factorized per class (ALS with rho=1), and the softmax aggregator is solved "
            "once, after the factorizations: use a rho below 1 (one joint factorization) or "
            "class_weight_warmup=0."
        )


def check_settings(est) -> None:
    """Rules across the settings of ``est`` (each parameter alone is checked by its
    constraints)."""
    s = est._s
    if isinstance(s.latent_dim, bool):
        raise ValueError(
            "The 'latent_dim' parameter of CFEnsembleClassifier must be an int >= 1 or "
            f"'auto'. Got {s.latent_dim!r} instead."
        )
    warm = s.als_warm_start  # "auto" unless given (the autograd trainer's)
    forced_warm_start = not isinstance(warm, str) and warm
    if s.rho == 0 and (s.solver == "als" or forced_warm_start):
        raise ValueError(
            "rho=0 leaves the factorization undetermined with solver='als' (and with "
            "als_warm_start=True); use rho > 0."
        )
    if s.solver == "torch" and s.dtype is not None:
        raise ValueError(
            f"dtype={s.dtype!r} sets the precision of solver='als' (its PyTorch "
            "kernels); the torch trainer computes in float64: leave dtype=None with "
            "solver='torch'."
        )
    if s.solver == "torch" and s.aggregator_type != "weighted":
        raise ValueError(
            "solver='torch' trains the weighted aggregator; aggregator_type='mean' has "
            "nothing to learn: use solver='als' for it."
        )
