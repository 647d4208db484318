"""Alternating least squares for CF-Ensemble, and the fold-in of new instances.

One routine, :func:`weighted_least_squares`, solves both the classifier step (rows =
classifiers, summing over instances) and the instance step (rows = instances, summing over
classifiers): the second call passes the transposed confidence matrix. It is vectorised:
Gram matrices are GEMMs of the confidences with the flattened outer products ``b b^T``, the
systems are solved in batches, and instances are processed in chunks so memory stays bounded.

Coupling with the supervised loss (DESIGN §3.2). The focal/cross-entropy loss has curvature
at most ``M`` in the logit (``M = 1/4`` for cross-entropy, :func:`focal_curvature_bound`), so
around the current point it is majorised by a quadratic. For an instance factor ``y_i`` with
``z_i = y_i . v + b`` and ``v = X^T w`` this adds a rank-one term to its normal equations;
for the classifier factors, ``z_i = sum_u w_u x_u . y_i + b`` couples the classifiers, so
they are updated in turn, each with the majoriser taken at the current point (a term
``w_u^2 sum_i beta_i y_i y_i^T`` in its normal equations). Every step then minimises a
majoriser of the true objective ``rho L_recon + (1 - rho) L_sup``, so none can increase it,
and ``rho`` shapes the factors. With ``rho = 1`` the steps are the seed's plain weighted
least squares.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._losses import (
    class_weights,
    focal_curvature_bound,
    focal_loss_derivatives,
    reconstruction_loss,
    supervised_loss,
)
from .aggregators import MeanAggregator, WeightedAggregator

logger = logging.getLogger("cfensemble")

_JITTER = 1e-10


def normal_equations(
    C: np.ndarray, CP: np.ndarray, B: np.ndarray, lambda_reg: float, chunk_size: int = 16384
):
    """Yield ``(rows, gram, rhs)`` of the ridge-weighted least squares, a chunk of rows at a time.

    For each row ``j`` of ``C`` (shape (k, l)): ``gram[j] = sum_l C[j, l] b_l b_l^T +
    lambda_reg I`` and ``rhs[j] = sum_l CP[j, l] b_l``, with ``b_l`` the rows of ``B``
    (shape (l, d)) and ``CP = C * P``. The Gram matrices are GEMMs of ``C`` with the
    flattened outer products ``b b^T``; rows and the summation index are both chunked, so
    no array larger than ``chunk_size * d * d`` is formed. With ``lambda_reg = 0`` a
    relative ridge of 1e-10 keeps a row with zero total confidence solvable.
    """
    k, n_sum = C.shape
    d = B.shape[1]
    diag = np.arange(d)

    def outer_products(sl):
        Bs = B[sl]
        return (Bs[:, :, None] * Bs[:, None, :]).reshape(-1, d * d)

    sum_chunks = [slice(s, s + chunk_size) for s in range(0, n_sum, chunk_size)]
    cached = outer_products(sum_chunks[0]) if len(sum_chunks) == 1 else None
    for start in range(0, k, chunk_size):
        rows = slice(start, min(start + chunk_size, k))
        if cached is not None:
            gram = C[rows] @ cached
        else:
            gram = sum(C[rows, sl] @ outer_products(sl) for sl in sum_chunks)
        gram = gram.reshape(-1, d, d)
        ridge = lambda_reg
        if lambda_reg == 0:
            ridge = _JITTER * (np.trace(gram, axis1=1, axis2=2)[:, None] / d + 1e-12)
        gram[:, diag, diag] += ridge
        yield rows, gram, CP[rows] @ B


def weighted_least_squares(
    C: np.ndarray,
    CP: np.ndarray,
    B: np.ndarray,
    lambda_reg: float,
    extra_scale: np.ndarray | None = None,
    extra_matrix: np.ndarray | None = None,
    extra_rhs: np.ndarray | None = None,
    chunk_size: int = 16384,
) -> np.ndarray:
    """Solve one regularised weighted least-squares problem per row, all rows at once.

    For every row ``j`` of the result ``A`` (shape (k, d)) solves

        (sum_l C[j, l] b_l b_l^T + lambda_reg I + extra_scale[j] H) a_j
            = sum_l CP[j, l] b_l + extra_rhs[j]

    with ``H = extra_matrix`` (d, d) (see :func:`normal_equations`); the systems of a chunk
    are solved in one batched call.
    """
    out = np.empty((C.shape[0], B.shape[1]))
    for rows, gram, rhs in normal_equations(C, CP, B, lambda_reg, chunk_size):
        if extra_matrix is not None:
            assert extra_scale is not None and extra_rhs is not None
            gram += extra_scale[rows, None, None] * extra_matrix
            rhs += extra_rhs[rows]
        out[rows] = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    return out


@dataclass
class FitResult:
    """What every solver returns, so the estimator does not care which one ran."""

    X: np.ndarray
    Y: np.ndarray
    w: np.ndarray
    b: float
    n_iter: int
    loss_curve: np.ndarray  # shape (n_iter, 3): total, reconstruction, supervised
    converged: bool
    # autograd trainer: validation PR-AUC and class-weighted cross-entropy of the kept epoch
    validation_pr_auc: float | None = None
    validation_loss: float | None = None


@dataclass
class Problem:
    """The data of one fit: confidences, filled probabilities and the labeled rows."""

    C: np.ndarray  # (n, m), 0 where P is missing
    P0: np.ndarray  # (n, m), P with missing entries set to 0
    CP: np.ndarray  # (n, m), C * P0
    labeled: np.ndarray  # indices of labeled rows
    y: np.ndarray  # (n_labeled,) labels in {0, 1}
    kappa: np.ndarray  # (n_labeled,) class weights


def make_problem(C, P, y, use_class_weights):
    """Assemble a :class:`Problem` from checked ``C``, ``P`` (NaN = missing) and ``y``."""
    labeled = np.flatnonzero(~np.isnan(y))
    y_l = y[labeled]
    P0 = np.where(np.isnan(P), 0.0, P)
    return Problem(
        C=C,
        P0=P0,
        CP=C * P0,
        labeled=labeled,
        y=y_l,
        kappa=class_weights(y_l, use_class_weights),
    )


def objective(problem, X, Y, aggregator, rho, lambda_reg, focal_gamma, aggregator_l2):
    """(total, reconstruction, supervised) at the given parameters.

    For a :class:`MeanAggregator` the supervised part is the class-weighted cross-entropy
    of its (clipped) predictions: reported, not optimised.
    """
    recon = reconstruction_loss(problem.C, problem.P0, X, Y, lambda_reg)
    P_hat = Y[problem.labeled] @ X.T
    if isinstance(aggregator, WeightedAggregator):
        z = aggregator.decision_function(P_hat)
        sup = supervised_loss(
            z, problem.y, problem.kappa, focal_gamma, aggregator.w, aggregator_l2
        )
    elif problem.labeled.size:
        p = np.clip(aggregator.predict(P_hat), 1e-12, 1 - 1e-12)
        z = np.log(p) - np.log1p(-p)
        sup = supervised_loss(z, problem.y, problem.kappa, 0.0, np.zeros(0), 0.0)
    else:
        sup = 0.0
    return rho * recon + (1.0 - rho) * sup, recon, sup


def _coupling(problem, aggregator, rho, focal_gamma):
    """Weights ``beta_i`` of the majorised supervised term, or None when uncoupled."""
    if rho >= 1.0 or problem.labeled.size == 0 or not isinstance(aggregator, WeightedAggregator):
        return None
    bound = focal_curvature_bound(float(focal_gamma))
    a = (1.0 - rho) * problem.kappa / problem.kappa.sum()
    b_recon = rho / problem.C.sum()
    return a * bound / (2.0 * b_recon), bound


def x_step(problem, X, Y, aggregator, rho, lambda_reg, focal_gamma, chunk_size):
    """Update the classifier factors (minimises a majoriser of the combined objective).

    Uncoupled: one batched weighted least squares. Coupled: the Gram matrices are built
    in one pass over the instances, then the classifiers are updated in turn, each
    minimising the majoriser taken at the current point (``z`` is refreshed after each).
    """
    C, CP = problem.C, problem.CP
    coupling = _coupling(problem, aggregator, rho, focal_gamma)
    if coupling is None:
        return weighted_least_squares(C.T, CP.T, Y, lambda_reg, chunk_size=chunk_size)
    beta, bound = coupling
    parts = list(normal_equations(C.T, CP.T, Y, lambda_reg, chunk_size))
    gram = np.concatenate([part[1] for part in parts])
    rhs = np.concatenate([part[2] for part in parts])
    w = aggregator.w
    Y_l = Y[problem.labeled]
    H = Y_l.T @ (beta[:, None] * Y_l)
    X = X.copy()
    z = Y_l @ (X.T @ w) + aggregator.b
    for u in range(X.shape[0]):
        g, _ = focal_loss_derivatives(z, problem.y, focal_gamma)
        curvature = w[u] ** 2 * H
        old = X[u].copy()
        X[u] = np.linalg.solve(
            gram[u] + curvature, rhs[u] + curvature @ old - w[u] * (Y_l.T @ (beta * g / bound))
        )
        z += w[u] * (Y_l @ (X[u] - old))
    return X


def y_step(problem, X, Y, aggregator, rho, lambda_reg, focal_gamma, chunk_size):
    """Update the instance factors (minimises a majoriser of the combined objective)."""
    C, CP = problem.C, problem.CP
    coupling = _coupling(problem, aggregator, rho, focal_gamma)
    if coupling is None:
        return weighted_least_squares(C, CP, X, lambda_reg, chunk_size=chunk_size)
    beta, bound = coupling
    v = X.T @ aggregator.w
    Y_l = Y[problem.labeled]
    proj = Y_l @ v
    g, _ = focal_loss_derivatives(proj + aggregator.b, problem.y, focal_gamma)
    scale = np.zeros(C.shape[0])
    scale[problem.labeled] = beta
    rhs = np.zeros((C.shape[0], X.shape[1]))
    rhs[problem.labeled] = (beta * (proj - g / bound))[:, None] * v
    return weighted_least_squares(C, CP, X, lambda_reg, scale, np.outer(v, v), rhs, chunk_size)


def aggregator_step(
    problem, X, Y, aggregator, solver, lr, use_class_weights, focal_gamma, l2, positive=False
):
    """The aggregator update on the labeled rows of ``P_hat``: one seed step or an exact solve."""
    P_hat = Y[problem.labeled] @ X.T
    if solver == "newton":
        aggregator.solve(P_hat, problem.y, use_class_weights, focal_gamma, l2, positive)
    else:
        aggregator.gradient_step(
            P_hat, problem.y, lr, use_class_weights, focal_gamma, l2, positive
        )


def balance(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rescale the factors so ``|X|^2 + |Y|^2`` is smallest with ``Y @ X.T`` unchanged.

    ``Y X^T`` is invariant under ``(X A^{-T}, Y A)``; the ridge term is minimised when both
    factors share the singular values of the product: with ``Y^T Y = L_y L_y^T``,
    ``X^T X = L_x L_x^T`` and ``L_y^T L_x = U S V^T``, take ``Y L_y^{-T} U S^{1/2}`` and
    ``X L_x^{-T} V S^{1/2}``. The reconstruction and the supervised loss depend on
    ``Y X^T`` only, so this never increases the objective; it removes the slow drift of
    ALS along that invariance. Returns the factors unchanged when a Gram matrix is singular.
    """
    try:
        Ly = np.linalg.cholesky(Y.T @ Y)
        Lx = np.linalg.cholesky(X.T @ X)
    except np.linalg.LinAlgError:
        return X, Y
    U, S, Vt = np.linalg.svd(Ly.T @ Lx)
    root = np.sqrt(S)
    Ay = np.linalg.solve(Ly.T, U * root)
    Ax = np.linalg.solve(Lx.T, Vt.T * root)
    return X @ Ax, Y @ Ay


def initial_factors(problem, latent_dim, rng):
    """Start from the truncated SVD of the confidence-masked P, plus a little noise.

    The SVD of the m x m matrix ``P0^T P0`` costs O(n m^2); the noise (scale 1e-2 of the
    factors' size, drawn from ``rng``) breaks ties when ``latent_dim`` exceeds the rank.
    """
    P0 = np.where(problem.C > 0, problem.P0, 0.0)
    m = P0.shape[1]
    eigval, eigvec = np.linalg.eigh(P0.T @ P0)
    order = np.argsort(eigval)[::-1][: min(latent_dim, m)]
    X = np.zeros((m, latent_dim))
    X[:, : order.size] = eigvec[:, order]
    Y = P0 @ X
    scale = 1e-2 * max(np.sqrt(np.mean(Y * Y)), 1e-3)
    X += rng.normal(0.0, scale, size=X.shape)
    Y += rng.normal(0.0, scale, size=Y.shape)
    return X, Y


def fit_als(
    problem: Problem,
    aggregator: WeightedAggregator | MeanAggregator,
    *,
    latent_dim: int,
    rho: float,
    lambda_reg: float,
    aggregator_solver: str,
    aggregator_lr: float,
    aggregator_l2: float,
    aggregator_positive: bool,
    use_class_weights: bool,
    focal_gamma: float,
    max_iter: int,
    tol: float,
    freeze_aggregator_iters: int,
    rng: np.random.RandomState,
    chunk_size: int,
) -> FitResult:
    """Run ALS: per iteration an X-step, a Y-step and (after the freeze) an aggregator step.

    Stops when the relative decrease of the total objective falls below ``tol`` (checked
    once the aggregator is no longer frozen); otherwise warns with ConvergenceWarning.
    """
    X, Y = initial_factors(problem, latent_dim, rng)
    args = (rho, lambda_reg, focal_gamma)
    curve = []
    converged = False
    previous = np.inf
    for it in range(max_iter):
        X, Y = balance(X, Y)
        X = x_step(problem, X, Y, aggregator, *args, chunk_size)
        Y = y_step(problem, X, Y, aggregator, *args, chunk_size)
        if it >= freeze_aggregator_iters:
            aggregator_step(
                problem,
                X,
                Y,
                aggregator,
                aggregator_solver,
                aggregator_lr,
                use_class_weights,
                focal_gamma,
                aggregator_l2,
                aggregator_positive,
            )
        losses = objective(problem, X, Y, aggregator, *args, aggregator_l2)
        curve.append(losses)
        total = losses[0]
        if not np.isfinite(total) or not np.isfinite(aggregator.w).all():
            raise FloatingPointError(
                f"ALS may have diverged at iteration {it + 1} (objective {total}); try a "
                "larger lambda_reg, a smaller aggregator_lr or a larger aggregator_l2."
            )
        logger.info(
            "iteration %d: total %.6g, reconstruction %.6g, supervised %.6g",
            it + 1,
            *losses,
        )
        if it > freeze_aggregator_iters and abs(previous - total) <= tol * abs(previous):
            converged = True
            break
        previous = total
    if not converged:
        warnings.warn(
            f"ALS did not converge in max_iter={max_iter} iterations (relative change of the "
            f"objective above tol={tol}); increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return FitResult(
        X=X,
        Y=Y,
        w=aggregator.w.copy(),
        b=float(aggregator.b),
        n_iter=len(curve),
        loss_curve=np.asarray(curve),
        converged=converged,
    )


def fold_in(C: np.ndarray, P0: np.ndarray, X: np.ndarray, lambda_reg: float, chunk_size: int):
    """Instance factors of new rows with the classifier factors ``X`` fixed (the Y-step)."""
    return weighted_least_squares(C, C * P0, X, lambda_reg, chunk_size=chunk_size)
