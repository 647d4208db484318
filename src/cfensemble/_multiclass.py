"""K >= 3 classes factorized per class: K separate factorizations, then one softmax
aggregator on the filled-in input."""

from __future__ import annotations

import warnings
from dataclasses import replace
from functools import partial

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _aggregation, _solvers
from ._problem import Data, FitResult, Objective, State, confidence_source
from ._validation import warn


def _offset_callback(callback, offset: int, iteration: int, losses) -> None:
    """``callback`` with the iteration counted on from ``offset`` (per-class fits)."""
    callback(offset + iteration, losses)


def fit_per_class(est, data: Data, objective: Objective, rng, confidence) -> FitResult:
    """K separate factorizations of the classes' (n, m) slices of ``data`` (ALS on
    ``P`` alone, as with ``rho = 1``), then the softmax aggregator on the filled-in
    input. The loss curves average the classes' reconstruction curves (a class that
    converged early keeps its last value); the supervised part is computed once, at
    the end (NaN before). ``confidence``: a strategy name or an array laid out as
    ``data.P``. The aggregator is solved exactly, whatever ``aggregator_solver`` (one
    gradient step from the mean would be all the "gd" step does here)."""
    K = est._outputs
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
            est._s.use_label_aware_confidence,
            float(est._s.label_aware_alpha),
        )
        data_k = Data(P_k, y_k, source, est._s.use_class_weights, data.sample_weight)
        objective_k = replace(
            objective, rho=1.0, train_aggregator=False, outputs=1, shrinkage_target=None
        )
        solver = _solvers.als_solver(est)
        if est._s.callback is not None:
            solver.callback = partial(_offset_callback, est._s.callback, done)
        with warnings.catch_warnings():  # one warning for all classes, below
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = solver.fit(data_k, objective_k, None, check_random_state(seeds[k]))
        done += fit.n_iter
        if not fit.converged:
            not_converged.append(est.classes_[k])
        results.append(fit)
        states.append(results[-1].state)
    if not_converged:
        warn(
            f"ALS did not converge in max_iter={est._s.max_iter} iterations for the "
            f"factorization of class(es) {np.asarray(not_converged).tolist()} (relative "
            f"change of the objective above tol={est._s.tol}); increase max_iter or tol.",
            ConvergenceWarning,
        )
    d = est.latent_dim_
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
    supervised = _aggregation.final_aggregator(est, data, state, objective)
    n_iter = max(r.n_iter for r in results)
    recon = np.column_stack(
        [np.pad(r.loss_curve[:, 1], (0, n_iter - r.n_iter), mode="edge") for r in results]
    ).mean(axis=1)
    sup = np.full(n_iter, np.nan)
    sup[-1] = supervised
    curve = np.column_stack([recon, recon, sup])
    return FitResult(state, n_iter, curve, all(r.converged for r in results))


def factorization(est) -> str | None:
    """The ``multiclass_factorization`` used (None for two classes)."""
    if est._outputs == 1:
        return None
    per_class_possible = est._s.solver == "als" and est.rho_ == 1.0
    # the original method's front-ends (cfensemble._seed) do not declare the parameter
    chosen = est._s.multiclass_factorization
    if chosen == "per_class" and not per_class_possible:
        raise ValueError(
            "multiclass_factorization='per_class' needs solver='als' and rho=1 (the "
            "supervised term would couple the classes' factorizations); use 'joint' or "
            "'auto'."
        )
    if chosen == "joint" or not per_class_possible:
        return "joint"
    return "per_class"
