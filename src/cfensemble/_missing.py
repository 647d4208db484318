"""Missing predictions: the fill-in's calibration and the abstention test (on leave-one-out
fold-ins of a sample of rows), the fold-in of rows at fixed classifier factors, and the
probabilities of rows from their factors and the filled-in aggregator input.

Functions of the estimator (``est``): they read its settings and fitted attributes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.special import expit, softmax
from sklearn.utils import check_random_state

from . import _aggregation, _als, _solvers
from ._abstention import SAMPLE as ABSTENTION_SAMPLE
from ._abstention import choose_abstention
from ._abstention import statistics_from as abstention_statistics_from
from ._aggregation import _is_consensus
from ._fill import fit_fill_map, leave_one_out
from ._kernels import choose_kernel, instance_solve, thread_limits
from ._losses import logits
from ._problem import (
    Data,
    Objective,
    aggregator_input,
    confidence_source,
    rank_zero,
    reconstruct,
)
from ._validation import _is_array, _missing_as_nan, check_confidence_array


def resolve_fill(est, data, objective: Objective, result) -> Objective:
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
    est.abstention_test_ = None
    est.fill_calibration_ = None
    auto = est._s.abstention == "auto"
    est.abstention_ = 0.0 if auto else float(est._s.abstention)
    if not (auto or est._s.calibrate_fill):
        return objective
    state = result.state
    label_free = (
        objective.rho == 1.0
        and est._s.solver == "als"
        and objective.aggregator_input != "reconstructed"
    )
    if not label_free or (
        objective.train_aggregator and not _aggregation.solved_after(est, result)
    ):
        return objective
    P, weight = data.row_sample(ABSTENTION_SAMPLE, check_random_state(est._s.random_state))
    if not np.isnan(P).any():  # nothing missing: no fill-in to calibrate or blend
        return objective

    def reconstruct_without(P_masked: np.ndarray) -> np.ndarray:
        Y, c = fold_in_rows(est, unlabeled_data(est, P_masked), state.X, state.a)
        return reconstruct(Y, state.X, state.a, c)

    k = objective.outputs
    R = leave_one_out(P, reconstruct_without, k)  # k columns per classifier
    changes: dict[str, Any] = {}
    if est._s.calibrate_fill:
        est.fill_calibration_ = changes["fill_map"] = fit_fill_map(P, R, weight)
    if auto:
        z = abstention_statistics_from(P, R, k, weight)
        beta, share = choose_abstention(z)
        est.abstention_test_ = {
            "z": [None if np.isnan(v) else float(v) for v in z],
            "share": share,
        }
        if beta:
            changes["abstention"] = est.abstention_ = beta
            if _is_consensus(est._s.shrinkage_target):  # biased where they abstain
                changes["shrinkage_target"] = None
                est.shrinkage_target_ = np.ones(data.shape[1])
    if changes:
        objective = replace(objective, **changes)
        if data.labeled.size:
            # the supervised part of the earlier iterations was that of the plain
            # fill-in: gone (NaN, as for the exact aggregator), the last one is the new
            result.loss_curve[:-1, 2] = np.nan
            result.loss_curve[-1, 2] = _aggregation.final_aggregator(est, data, state, objective)
    return objective


def predict_rows(est, data: Data, Y, c, with_range: bool = False, factors=None):
    """Probabilities of the rows of ``data`` with factors ``Y``, ``c``, block by block:
    the second class's (n,) for two classes, (n, K) for K >= 3. ``factors``: the
    classifier factors and biases ``(X, a)`` to read (the fitted ones by default)."""
    n, k = data.shape[0], est._outputs
    out = np.empty(n) if k == 1 else np.empty((n, k))
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)  # reconstruction, fill-in
    w = np.asarray(est.coef_).reshape(-1)
    for block, A, raw in aggregator_inputs(est, data, Y, c, est._s.aggregator_input, factors):
        missing = ~block.observed
        if raw is not None:
            lo[0], hi[0] = min(lo[0], raw[0]), max(hi[0], raw[1])
            fill = A[:, : missing.shape[1]][missing]
            lo[1], hi[1] = min(lo[1], fill.min()), max(hi[1], fill.max())
        if not est.aggregator_trained_:
            p = np.clip(logits(A, w, 0.0, k), 0.0, 1.0)
            if k > 1:  # the mean of each class, rescaled to sum to 1
                total = p.sum(axis=1, keepdims=True)
                p = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / k)
        elif k == 1:
            p = expit(logits(A, w, est.intercept_))
        else:
            p = softmax(logits(A, w, est.intercept_, k), axis=1)
        out[block.rows] = p
    ranges = [(float(lo[j]), float(hi[j])) if np.isfinite(lo[j]) else None for j in (0, 1)]
    return (out, ranges) if with_range else out


def filled(est, data: Data, Y, c) -> np.ndarray:
    """The rows of ``data`` (factors ``Y``, ``c``) with their missing entries filled in,
    in the factorized layout."""
    filled = np.empty(data.shape)
    for block, A, _ in aggregator_inputs(est, data, Y, c, "observed"):
        filled[block.rows] = A
    return filled


def aggregator_inputs(est, data: Data, Y, c, kind: str, factors=None):
    """Block by block of ``data``'s rows (factors ``Y``, ``c``): ``(block, A, raw)``, the
    aggregator input ``A`` of ``kind`` and the (min, max) of the reconstruction over
    the block's missing entries (None if none is missing)."""
    X, a = (est.classifier_factors_, est.classifier_bias_) if factors is None else factors
    beta = getattr(est, "abstention_", 0.0)  # estimators pickled before it: 0
    fill_map = getattr(est, "fill_calibration_", None)
    # a block makes about ten (rows, columns) temporaries: 2^16 elements each at most
    size = max(1, min(est._s.chunk_size, 2**16 // data.shape[1]))
    for block in data.blocks(size):
        P_hat = reconstruct(Y[block.rows], X, a, c[block.rows])
        missing = ~block.observed
        raw = (P_hat[missing].min(), P_hat[missing].max()) if missing.any() else None
        A = aggregator_input(kind, block.P0, block.observed, P_hat, beta, est._outputs, fill_map)
        yield block, A, raw


def fold_in_rows(est, data: Data, X=None, a=None) -> tuple[np.ndarray, np.ndarray]:
    """Fold the rows of ``data`` in with classifier factors ``X``, ``a`` (the fitted
    ones by default)."""
    if X is None:
        X, a = est.classifier_factors_, est.classifier_bias_
    kernel = choose_kernel(data.shape[0], _solvers.als_kernel(est))
    if getattr(est, "multiclass_factorization_", None) == "per_class":
        with thread_limits(est._s.n_jobs, kernel):
            return fold_in_per_class(est, data, kernel, X, a)
    with thread_limits(est._s.n_jobs, kernel):
        return _als.fold_in(data, X, a, est._s.lambda_reg, est._s.chunk_size, kernel=kernel)


def every_row(est, state, data: Data, kept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Instance factors and biases of every row of ``data``: those of the ``kept`` rows (the
    fit's, in ``state``), the rows the fit left out (weight 0) folded in at its factors."""
    Y, c = fold_in_rows(est, data, state.X, state.a)
    Y[kept], c[kept] = state.Y, state.c
    return Y, c


def fold_in_per_class(est, data: Data, kernel, X, a) -> tuple[np.ndarray, np.ndarray]:
    """Each class's instance factors and bias, folded in with its classifier factors:
    ``Y`` (n, K, d), ``c`` (n, K)."""
    K, d = est._outputs, est.latent_dim_
    n = data.shape[0]
    Y, c = np.empty((n, K, d)), np.empty((n, K))
    for block in data.blocks(_als.rows_per_block(est._s.chunk_size, d + 1)):
        for k in range(K):
            theta = instance_solve(
                np.ascontiguousarray(block.P0[:, k::K]),
                np.ascontiguousarray(block.C_free[:, k::K]),
                _als.augment(X[k::K]),
                a[k::K],
                est._s.lambda_reg,
                kernel,
            )
            Y[block.rows, k], c[block.rows, k] = theta[:, :-1], theta[:, -1]
    return Y, c


def unlabeled_data(est, columns: np.ndarray, confidence=None) -> Data:
    """:class:`Data` of rows to fold in (``columns``: the factorized layout), without
    labels; ``confidence`` given, or the fitted strategy (uniform for a fitted array)."""
    if confidence is None:
        confidence = est._s.confidence if not _is_array(est._s.confidence) else "uniform"
    confidence = confidence_for(est, columns.shape, confidence)
    if _is_array(confidence):
        confidence = check_confidence_array(confidence, columns.shape)
    unlabeled = np.full(columns.shape[0], np.nan)
    source = confidence_source(confidence, columns, unlabeled, False, 1.0)
    return Data(columns, unlabeled, source, est._s.use_class_weights)


def with_prior(est, p: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Probabilities ``p`` (as :func:`predict_rows` gives them) with the rows ``empty``,
    which hold no prediction at all, set to ``class_prior_`` (read only where there are
    such rows)."""
    if empty.any():
        p[empty] = est.class_prior_[1] if p.ndim == 1 else est.class_prior_
    return p


def new_rows_proba(est, data: Data):
    """Probabilities of new rows: folded in, or, where every prediction is observed and
    the aggregator reads the observed ones, straight from them (the fold-in could not
    change them)."""
    if est._s.aggregator_input == "observed" and not np.isnan(data.P).any():
        per_class = getattr(est, "multiclass_factorization_", None) == "per_class"
        zero = rank_zero(data.shape[0], data.shape[1], est._outputs, per_class)
        return predict_rows(est, data, zero.Y, zero.c, factors=(zero.X, zero.a))
    Y, c = fold_in_rows(est, data)
    return predict_rows(est, data, Y, c)


def confidence_for(est, shape, confidence=None):
    """``confidence`` (default: the estimator's) with an array laid out as the factorized
    matrix of ``shape``: (n, m) for each prediction or (n, m, K) per class (see
    :meth:`_columns`). A callable is refused for K >= 3 classes."""
    confidence = est._s.confidence if confidence is None else confidence
    k = est.n_class_columns_
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
    if C.shape != (shape[0], est.n_features_in_, k):
        raise ValueError(
            f"confidence must have shape (n_samples, n_classifiers) or (n_samples, "
            f"n_classifiers, {k}) for this P; got {np.shape(confidence)}."
        )
    return est._columns(C)


def impute(est, P: np.ndarray, confidence=None) -> np.ndarray:
    """:meth:`~cfensemble.CFEnsembleClassifier.impute` of checked rows ``P``."""
    data = unlabeled_data(est, est._columns(P), confidence)
    fill = filled(est, data, *fold_in_rows(est, data))
    if P.ndim == 2:
        return fill
    out = P.copy()
    missing = np.isnan(P[:, :, 0])
    if P.shape[2] == 2:
        out[missing, 1] = fill[missing]
        out[missing, 0] = 1.0 - fill[missing]
    else:
        out[missing] = fill.reshape(P.shape)[missing]
    return out
