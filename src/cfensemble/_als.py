"""Alternating least squares over row blocks, and the fold-in of new instances.

The model and the objective are in :mod:`cfensemble._problem`. Both least-squares steps are
the same weighted ridge regression with augmented factors: the instance step solves
``(y_i, c_i)`` against the design rows ``(x_u, 1)`` and targets ``p_iu - a_u``; the classifier
step solves ``(x_u, a_u)`` against ``(y_i, 1)`` and targets ``p_iu - c_i``. One kernel,
:func:`gram_rhs`, forms the Gram matrices as a GEMM of the confidences with the flattened
outer products of the design rows; the instance step applies it to each block of rows (a
*map*), the classifier step sums it over the blocks (a *reduction*), so neither ever forms
an array over all n rows other than the factors themselves.

Coupling with the supervised loss. The focal/cross-entropy loss has curvature at most ``M``
in the logit (``M = 1/4`` for cross-entropy, :func:`focal_curvature_bound`), so around the
current point it is majorised by a quadratic (Böhning's bound). The logit ``z_i`` depends
on the classifier factors through ``G[i, u] * P_hat[i, u]`` (``G`` =
:func:`~cfensemble._problem.input_weight`), which couples the classifiers; they are updated
in turn, each minimising the majoriser taken at the current point (a term
``sum_i beta_i G[i, u]^2 y_i y_i^T`` in its normal equations). The classifier step and the
exact aggregator step therefore never increase the objective. The instance step fits the
instance factors to ``P`` alone with label-free confidence (it never increases
``L_recon``); it is also the fold-in of new rows.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._losses import focal_curvature_bound, focal_loss_derivatives, supervised_loss
from ._problem import (
    Block,
    Data,
    FitResult,
    Objective,
    State,
    aggregator_input,
    input_weight,
    reconstruct,
)
from .aggregators import aggregator_gradient_step, solve_aggregator

logger = logging.getLogger("cfensemble")

_JITTER = 1e-10
_GRAM_BUDGET = 1 << 20  # elements of the largest (rows x e^2) intermediate array


def rows_per_block(chunk_size: int, e: int) -> int:
    """Rows per block so that no (rows x e^2) intermediate exceeds the memory budget."""
    return int(max(1, min(chunk_size, _GRAM_BUDGET // (e * e))))


def augment(F: np.ndarray) -> np.ndarray:
    """``[F, 1]``: a factor matrix with the column of ones that carries the other side's bias."""
    return np.hstack([F, np.ones((F.shape[0], 1))])


def gram_rhs(C: np.ndarray, T: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal equations of the weighted least squares, one system per row of ``C``.

    For each row ``j`` of ``C`` (shape (k, l)): ``gram[j] = sum_l C[j, l] b_l b_l^T`` and
    ``rhs[j] = sum_l C[j, l] T[j, l] b_l`` with ``b_l`` the rows of ``B`` (l, e). The Gram
    matrices are one GEMM of ``C`` with the flattened outer products ``b b^T``.
    """
    e = B.shape[1]
    outer = (B[:, :, None] * B[:, None, :]).reshape(-1, e * e)
    return (C @ outer).reshape(-1, e, e), (C * T) @ B


def solve_spd(gram: np.ndarray, rhs: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """Solve ``(gram[j] + ridge[j] I) a_j = rhs[j]`` for a batch of symmetric PSD ``gram``.

    A relative jitter of 1e-10 of the mean diagonal (and 1e-300 absolute) keeps every system
    positive definite whatever the rank of ``gram`` and the size of ``ridge`` (0 included),
    so the result never depends on whether a factorization of a singular matrix happens
    to succeed in rounding.
    """
    e = gram.shape[-1]
    diag = np.arange(e)
    scale = np.trace(gram, axis1=1, axis2=2) / e
    gram = gram.copy()
    gram[:, diag, diag] += np.maximum(ridge, _JITTER * scale)[:, None] + 1e-300
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


def instance_step(
    block: Block, X: np.ndarray, a: np.ndarray, lambda_reg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Label-free least-squares ``(Y, c)`` of a block of rows with ``(X, a)`` fixed.

    The instance step of ALS and the fold-in of new rows: minimises
    ``sum_u c_iu (p_iu - a_u - y_i . x_u - c_i)^2 + lambda_reg n_i |y_i, c_i|^2`` per row with
    the label-free confidence ``C_free``.
    """
    Xa = augment(X)
    T = block.P0 - a[None, :]
    gram, rhs = gram_rhs(block.C_free, T, Xa)
    ridge = lambda_reg * block.C_free.sum(axis=1)
    theta = solve_spd(gram, rhs, ridge)
    return theta[:, :-1], theta[:, -1]


def fold_in(data: Data, X, a, lambda_reg, chunk_size, out=None) -> tuple[np.ndarray, np.ndarray]:
    """Instance factors and biases of all rows of ``data``, block by block.

    ``out=(Y, c)`` writes into existing arrays (the instance step reads only ``X`` and
    ``a``, so ALS overwrites its previous instance factors in place).
    """
    n = data.shape[0]
    Y, c = out if out is not None else (np.empty((n, X.shape[1])), np.empty(n))
    for block in data.blocks(rows_per_block(chunk_size, X.shape[1] + 1)):
        Y[block.rows], c[block.rows] = instance_step(block, X, a, lambda_reg)
    return Y, c


def labeled_input(data: Data, state: State, kind: str, rows=None) -> np.ndarray:
    """The aggregator input ``A`` of the labeled rows (``rows``: their ``labeled_rows()``)."""
    P0, observed = data.labeled_rows() if rows is None else rows
    P_hat = reconstruct(state.Y[data.labeled], state.X, state.a, state.c[data.labeled])
    return aggregator_input(kind, P0, observed, P_hat)


def classifier_step(
    data: Data, state: State, objective: Objective, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Update ``(X, a)``: minimises a majoriser of the combined objective.

    The Gram matrices are a reduction over row blocks. Without the supervised coupling the
    systems are solved in one batch; with it the classifiers are updated in turn, each with
    the majoriser taken at the current point (``z`` is refreshed after each).
    """
    m, d = state.X.shape
    e = d + 1
    gram = np.zeros((m, e, e))
    rhs = np.zeros((m, e))
    count = np.zeros(m)
    for block in data.blocks(rows_per_block(chunk_size, e)):
        Ya = augment(state.Y[block.rows])
        T = block.P0 - state.c[block.rows, None]
        g, r = gram_rhs(block.C.T, T.T, Ya)
        gram += g
        rhs += r
        count += block.C.sum(axis=0)
    ridge = objective.lambda_reg * count
    coupled = objective.train_aggregator and objective.rho < 1.0 and data.labeled.size > 0
    if coupled:
        labeled_rows = data.labeled_rows()
        observed = labeled_rows[1]
        kind = objective.aggregator_input
        coupled = any(np.any(input_weight(kind, state.w, observed, u)) for u in range(m))
    if not coupled:
        theta = solve_spd(gram, rhs, ridge)
        return theta[:, :-1], theta[:, -1]

    bound = focal_curvature_bound(float(objective.focal_gamma))
    share = (1.0 - objective.rho) * data.kappa / data.kappa.sum()
    beta = share * bound * count.sum() / (2.0 * objective.rho)
    Ya = augment(state.Y[data.labeled])
    theta = np.column_stack([state.X, state.a])
    z = labeled_input(data, state, kind, labeled_rows) @ state.w + state.b
    del labeled_rows
    for u in range(m):
        Gu = input_weight(kind, state.w, observed, u)
        if not np.any(Gu):
            theta[u] = solve_spd(gram[u : u + 1], rhs[u : u + 1], ridge[u : u + 1])[0]
            continue
        first, _ = focal_loss_derivatives(z, data.y_labeled, objective.focal_gamma)
        curvature = Ya.T @ ((beta * Gu * Gu)[:, None] * Ya)
        old = theta[u].copy()
        new_rhs = rhs[u] + curvature @ old - Ya.T @ (beta * Gu * first / bound)
        theta[u] = solve_spd((gram[u] + curvature)[None], new_rhs[None], ridge[u : u + 1])[0]
        z += Gu * (Ya @ (theta[u] - old))
    return theta[:, :-1], theta[:, -1]


def _r_factor(F: np.ndarray, weight: np.ndarray, block: int = 16384) -> np.ndarray:
    """``R`` of the thin QR of ``diag(weight)^{1/2} F``, by QR of stacked block R's (TSQR)."""
    parts = [
        np.asarray(np.linalg.qr(F[s : s + block] * np.sqrt(weight[s : s + block, None]), "r"))
        for s in range(0, F.shape[0], block)
    ]
    return parts[0] if len(parts) == 1 else np.asarray(np.linalg.qr(np.vstack(parts), "r"))


def balance(
    X: np.ndarray, Y: np.ndarray, col_weight: np.ndarray, row_weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Re-gauge the factors: the smallest weighted ridge with ``Y @ X.T`` unchanged.

    ``Y X^T`` is invariant under ``(X T^{-T}, Y T)``. The ridge ``sum_u n_u |x_u|^2 +
    sum_i n_i |y_i|^2`` is the squared norm of ``Y' = diag(n_i)^{1/2} Y`` and
    ``X' = diag(n_u)^{1/2} X``; it is smallest when both carry the square roots of the
    singular values of ``Y' X'^T``. With the thin QR factors ``Y' = Q_y R_y``,
    ``X' = Q_x R_x`` and the SVD ``R_y R_x^T = U S V^T``: ``Y' <- Q_y U S^{1/2} =
    Y' R_y^+ U S^{1/2}``, and the same for ``X``. Only d x d matrices are formed (``R_y`` by
    QR of per-block R factors); the pseudo-inverse drops only directions below 1e-14 of
    the largest singular value, whose contribution is below rounding, so nothing depends
    on whether a factorization of a singular matrix succeeds. ``Y`` is updated in place.
    """
    R_y = _r_factor(Y, row_weight)
    R_x = _r_factor(X, col_weight)
    U, S, Vt = np.linalg.svd(R_y @ R_x.T, full_matrices=False)
    d, k = X.shape[1], S.size  # k < d when a factor has fewer rows than d: pad with zeros
    half = np.sqrt(S)
    T_y = np.zeros((d, d))
    T_x = np.zeros((d, d))
    T_y[:, :k] = np.linalg.pinv(R_y, rcond=1e-14) @ (U * half[None, :])
    T_x[:, :k] = np.linalg.pinv(R_x, rcond=1e-14) @ (Vt.T * half[None, :])
    for s in range(0, Y.shape[0], 16384):
        Y[s : s + 16384] = Y[s : s + 16384] @ T_y
    return X @ T_x, Y


def confidence_counts(data: Data, chunk_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column sums of the label-free confidence (the ridge weights ``n_i``, ``n_u``)."""
    rows = np.empty(data.shape[0])
    cols = np.zeros(data.shape[1])
    for block in data.blocks(chunk_size):
        rows[block.rows] = block.C_free.sum(axis=1)
        cols += block.C_free.sum(axis=0)
    return rows, cols


def losses(
    data: Data, state: State, objective: Objective, chunk_size: int
) -> tuple[float, float, float]:
    """(total, reconstruction, supervised) at ``state``: a reduction over row blocks.

    ``L_recon`` uses the label-free confidence. For the mean aggregator the supervised part
    is the class-weighted cross-entropy of its clipped predictions: reported, not optimised.
    """
    data_term = 0.0
    ridge_rows = 0.0
    total_c = 0.0
    count = np.zeros(state.X.shape[0])
    d = state.X.shape[1]
    for block in data.blocks(rows_per_block(chunk_size, d + 1)):
        Yb, cb = state.Y[block.rows], state.c[block.rows]
        resid = block.P0 - reconstruct(Yb, state.X, state.a, cb)
        data_term += float(np.sum(block.C_free * resid * resid))
        n_i = block.C_free.sum(axis=1)
        ridge_rows += float(n_i @ (np.sum(Yb * Yb, axis=1) + cb * cb))
        total_c += float(n_i.sum())
        count += block.C_free.sum(axis=0)
    ridge_cols = float(count @ (np.sum(state.X * state.X, axis=1) + state.a * state.a))
    recon = (data_term + objective.lambda_reg * (ridge_rows + ridge_cols)) / total_c
    sup = 0.0
    if data.labeled.size:
        z = labeled_input(data, state, objective.aggregator_input) @ state.w + state.b
        if objective.train_aggregator:
            sup = supervised_loss(
                z,
                data.y_labeled,
                data.kappa,
                objective.focal_gamma,
                state.w,
                objective.aggregator_l2,
                objective.aggregator_shrinkage,
                objective.groups,
            )
        else:
            p = np.clip(z, 1e-12, 1 - 1e-12)  # the mean aggregator: clipped, no link
            z = np.log(p) - np.log1p(-p)
            sup = supervised_loss(z, data.y_labeled, data.kappa, 0.0, np.zeros(0), 0.0)
    return objective.rho * recon + (1.0 - objective.rho) * sup, recon, sup


def initial_state(data: Data, latent_dim: int, aggregator_kind: str, rng) -> State:
    """Biases from the column means, factors from the top eigenvectors of the residual's Gram.

    ``a`` = mean of each column's entries with positive label-free confidence, ``c = 0``;
    ``X`` = the leading ``latent_dim`` eigenvectors of ``R^T R`` with ``R`` the residual
    ``P - a`` on those entries (0 elsewhere), ``Y = R X``; plus noise of 1e-2 of the factors'
    size drawn from ``rng``, which breaks ties when ``latent_dim`` exceeds the rank. Two
    reductions over row blocks.
    """
    n, m = data.shape
    sums = np.zeros(m)
    counts = np.zeros(m)
    for block in data.blocks(16384):
        used = block.C_free > 0
        sums += np.where(used, block.P0, 0.0).sum(axis=0)
        counts += used.sum(axis=0)
    a = sums / np.maximum(counts, 1)

    def residual(block):
        return np.where(block.C_free > 0, block.P0 - a, 0.0)

    RtR = np.zeros((m, m))
    for block in data.blocks(16384):
        R = residual(block)
        RtR += R.T @ R
    eigval, eigvec = np.linalg.eigh(RtR)
    order = np.argsort(eigval)[::-1][: min(latent_dim, m)]
    X = np.zeros((m, latent_dim))
    X[:, : order.size] = eigvec[:, order]
    Y = np.empty((n, latent_dim))
    for block in data.blocks(16384):
        Y[block.rows] = residual(block) @ X
    scale = 1e-2 * max(np.sqrt(np.mean(Y * Y)), 1e-3)
    X += rng.normal(0.0, scale, size=X.shape)
    Y += rng.normal(0.0, scale, size=Y.shape)
    w = np.full(m, 1.0 / m)
    if aggregator_kind == "both":
        w = np.r_[w, np.zeros(m)]
    return State(X=X, Y=Y, a=a, c=np.zeros(n), w=w, b=0.0)


@dataclass
class ALSSolver:
    """Alternating least squares: per iteration a classifier, an instance and an aggregator step.

    Stops when the relative change of the total objective falls below ``tol`` (checked once
    the aggregator is no longer frozen); otherwise warns with ConvergenceWarning.
    ``callback(iteration, losses)`` is called after every iteration with the (total,
    reconstruction, supervised) parts.
    """

    latent_dim: int = 2
    max_iter: int = 100
    tol: float = 1e-4
    chunk_size: int = 16384
    aggregator_solver: str = "newton"
    aggregator_lr: float = 0.01
    freeze_aggregator_iters: int = 0
    callback: Callable | None = None

    def fit(
        self, data: Data, objective: Objective, init: State | None, rng, validation=None
    ) -> FitResult:
        """Minimise ``objective`` on ``data`` from ``init`` (None: :func:`initial_state`).

        ``validation`` is accepted for the common solver signature and unused: ALS has no
        early stopping.
        """
        state = (
            init
            if init is not None
            else initial_state(data, self.latent_dim, objective.aggregator_input, rng)
        )
        curve: list[tuple[float, float, float]] = []
        converged = False
        previous = np.inf
        row_count, col_count = confidence_counts(data, self.chunk_size)
        for it in range(self.max_iter):
            state.X, state.Y = balance(state.X, state.Y, col_count, row_count)
            state.X, state.a = classifier_step(data, state, objective, self.chunk_size)
            fold_in(
                data, state.X, state.a, objective.lambda_reg, self.chunk_size, (state.Y, state.c)
            )
            if (
                objective.train_aggregator
                and data.labeled.size
                and it >= self.freeze_aggregator_iters
            ):
                self._aggregator_step(data, state, objective)
            parts = losses(data, state, objective, self.chunk_size)
            curve.append(parts)
            total = parts[0]
            if not np.isfinite(total) or not np.isfinite(state.w).all():
                raise FloatingPointError(
                    f"ALS may have diverged at iteration {it + 1} (objective {total}); try a "
                    "larger lambda_reg, a smaller aggregator_lr or a larger aggregator_l2."
                )
            logger.info(
                "iteration %d: total %.6g, reconstruction %.6g, supervised %.6g", it + 1, *parts
            )
            if self.callback is not None:
                self.callback(it + 1, parts)
            if it > self.freeze_aggregator_iters and abs(previous - total) <= self.tol * abs(
                previous
            ):
                converged = True
                break
            previous = total
        if not converged:
            warnings.warn(
                f"ALS did not converge in max_iter={self.max_iter} iterations (relative change "
                f"of the objective above tol={self.tol}); increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )
        return FitResult(state, len(curve), np.asarray(curve), converged)

    def _aggregator_step(self, data: Data, state: State, objective: Objective):
        A = labeled_input(data, state, objective.aggregator_input)
        if self.aggregator_solver == "newton":
            state.w, state.b = solve_aggregator(
                A,
                data.y_labeled,
                data.kappa,
                objective.focal_gamma,
                objective.aggregator_l2,
                objective.positive,
                state.w,
                state.b,
                shrinkage=objective.aggregator_shrinkage,
                groups=objective.groups,
            )
        else:
            state.w, state.b = aggregator_gradient_step(
                A,
                data.y_labeled,
                data.kappa,
                objective.focal_gamma,
                objective.aggregator_l2,
                objective.positive,
                state.w,
                state.b,
                self.aggregator_lr,
                objective.aggregator_shrinkage,
                objective.groups,
            )
