"""Running the factorization: during the fit, or when its result is first asked for.

With ``aggregator_input="observed"`` the aggregator reads the observed predictions and the
factorization only fills in the missing ones. When nothing is missing (and the aggregator
is solved exactly after the factors, which with ALS and ``rho=1`` do not depend on the
labels) the factorization cannot change a prediction, so :meth:`fit` defers it: the
aggregator is fitted on a rank-0 state (zero factors and biases, whose reconstruction is
never read), and the factorization runs the first time one of its results is read
(:data:`LAZY`: the factors, ``n_iter_``, ``loss_curve_``; :meth:`impute`, a fold-in of rows
with missing predictions, the factor plots, a model file or a pickle). It then gives what
the fit would have given: same data, same objective, same random numbers.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import fields

import numpy as np

from . import _multiclass, _solvers
from ._aggregation import final_aggregator
from ._missing import every_row
from ._problem import LOSS_PARTS, Data, FitResult, Objective, rank_zero
from ._validation import warn

LAZY = (
    "classifier_factors_",
    "classifier_bias_",
    "instance_factors_",
    "instance_bias_",
    "n_iter_",
    "loss_curve_",
)
# settings that act only through the factorization (the ALS ones: its iterations)
FACTORIZATION_SETTINGS = (
    "latent_dim",
    "rho",
    "lambda_reg",
    "label_aware_alpha",
    "confidence",
    "max_iter",
    "tol",
    "accelerate",
)
logger = logging.getLogger("cfensemble")
_WARNED: list[bool] = []  # once per process
NO_EFFECT = (
    "P is complete and aggregator_input='observed': the aggregator reads the observed "
    "predictions, which the factorization cannot change, so the fit skips it. "
    "latent_dim, rho, lambda_reg, label_aware_alpha, confidence and the ALS iterations "
    "have no effect on the predictions here (a search over them scores every candidate "
    "alike; 'auto' does not search). The factors are computed when asked for."
)


class Deferred:
    """A fitted attribute of the factorization, computed on first access when the fit
    deferred it (a data descriptor: the value lives in the instance's ``__dict__``)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        if self.name not in obj.__dict__ and "_deferred" in obj.__dict__:
            resolve(obj)
        try:
            return obj.__dict__[self.name]
        except KeyError:
            raise AttributeError(
                f"{type(obj).__name__!r} object has no attribute {self.name!r}"
            ) from None

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value

    def __delete__(self, obj) -> None:
        obj.__dict__.pop(self.name, None)


def deferrable(est, columns: np.ndarray) -> bool:
    """Whether the fit of the factorized matrix ``columns`` may skip the factorization."""
    s = est._s
    return (
        s.solver == "als"
        and s.aggregator_solver == "newton"
        and s.freeze_aggregator_iters == 0
        and s.class_weight_warmup == 0
        and s.aggregator_input == "observed"
        and s.rho in (1, "auto")
        and not np.isnan(columns).any()
    )


def warn_if_searched(est) -> None:
    """Warn (once per process) when a factorization setting differs from
    its default: here it cannot change the predictions."""
    defaults = {f.name: f.default for f in fields(_solvers.Settings)}
    s = est._s
    if any(
        not isinstance(getattr(s, n), (np.ndarray, list)) and getattr(s, n) != defaults[n]
        for n in FACTORIZATION_SETTINGS
    ) or not isinstance(s.confidence, str):
        if not _WARNED:  # a search fits many times, and resets the warnings' registry
            _WARNED.append(True)
            warn(NO_EFFECT, UserWarning)


def run(est, data, objective: Objective, rng, confidence, validation=None) -> FitResult:
    """The factorization (with the aggregator) of ``data``: per class or by the solver."""
    if est.multiclass_factorization_ == "per_class":
        return _multiclass.fit_per_class(est, data, objective, rng, confidence)
    return _solvers.make_solver(est).fit(data, objective, None, rng, validation=validation)


def defer(est, data: Data, objective: Objective, rng, confidence, rows=None) -> FitResult:
    """Fit the aggregator at a rank-0 state and keep what :func:`resolve` needs to run the
    factorization later (``rows``: ``(data of all rows, kept)`` when rows of weight 0 are
    left out of the fit). The result is marked ``deferred``."""
    logger.info("P is complete: the factorization is left until its factors are read")
    per_class = est.multiclass_factorization_ == "per_class"
    state = rank_zero(data.shape[0], data.shape[1], objective.outputs, per_class)
    supervised = final_aggregator(est, data, state, objective)
    curve = np.array([[np.nan, np.nan, supervised]])
    # the curve's last supervised value is updated in place as the fit resolves "auto"
    pending = (data, objective, copy.deepcopy(rng), confidence, rows, curve)
    est.__dict__["_deferred"] = pending
    return FitResult(state, 0, curve, True, deferred=True)


@_solvers.settled
def resolve(est) -> None:
    """Run the deferred factorization and set the :data:`LAZY` attributes (the aggregator,
    fitted at the fit, is left as it is: the factorization does not change it)."""
    data, objective, rng, confidence, rows, fitted_curve = est.__dict__.pop("_deferred")
    result = run(est, data, objective, rng, confidence)
    result.loss_curve[-1, 2] = fitted_curve[-1, 2]  # the aggregator the fit kept
    state = result.state
    Y, c = (state.Y, state.c) if rows is None else every_row(est, state, *rows)
    est.__dict__.update(
        classifier_factors_=state.X,
        classifier_bias_=state.a,
        instance_factors_=Y,
        instance_bias_=c,
        n_iter_=result.n_iter,
        loss_curve_={name: result.loss_curve[:, k].copy() for k, name in enumerate(LOSS_PARTS)},
    )
