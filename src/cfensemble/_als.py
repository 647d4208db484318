"""Alternating least squares over row blocks, and the fold-in of new instances.

The model and the objective are in :mod:`cfensemble._problem`. Both least-squares steps are
the same weighted ridge regression with augmented factors: the instance step solves
``(y_i, c_i)`` against the design rows ``(x_u, 1)`` and targets ``p_iu - a_u``; the classifier
step solves ``(x_u, a_u)`` against ``(y_i, 1)`` and targets ``p_iu - c_i``. The instance step
is a *map* over row blocks (:func:`cfensemble._kernels.instance_solve`); the classifier
step's normal equations are a *reduction* over them (:class:`NormalEquations`, a GEMM of
the confidences with the packed outer products of the design rows). One pass over the
blocks per iteration (:func:`sweep`) does the instance step and gathers, at the new
instance factors, the classifier step's equations and the loss; no array over all n rows
is formed other than the factors themselves.

Coupling with the supervised loss. The focal/cross-entropy loss has curvature at most ``M``
in the logit (``M = 1/4`` for cross-entropy, :func:`focal_curvature_bound`), so around the
current point it is majorised by a quadratic (Böhning's bound). The logit ``z_i`` depends
on the classifier factors through ``G[i, u] * P_hat[i, u]`` (``G`` =
:func:`~cfensemble._problem.input_weight`), which couples the classifiers; they are updated
in turn, each minimising the majoriser taken at the current point (a term
``sum_i beta_i G[i, u]^2 y_i y_i^T`` in its normal equations). For K classes a column
``(u, k)`` moves the logit of class k only, and the softmax cross-entropy's curvature along
one logit is ``p_k (1 - p_k) <= 1/4`` (tighter than the bound 1/2 on the whole multinomial
Hessian, and enough here since one column moves at a time). The classifier step and the
exact aggregator step therefore never increase the objective. The instance step fits the
instance factors to ``P`` alone with label-free confidence (it never increases
``L_recon``); it is also the fold-in of new rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._kernels import (
    TorchKernel,
    choose_kernel,
    instance_solve,
    pack,
    packed_outer,
    solve_spd,
    thread_limits,
    unpack,
)
from ._losses import focal_curvature_bound, logits, loss_gradient, supervised_loss
from ._problem import (
    Block,
    Data,
    FitResult,
    Objective,
    State,
    aggregator_input,
    class_exponent,
    input_weight,
    reconstruct,
    with_class_exponent,
)
from ._start import (  # noqa: F401  (re-exported: cfensemble.dask runs their pieces)
    initial_column_sums,
    initial_residual_gram,
    initial_square_sum,
    initial_state,
    initial_weights,
    leading_factors,
)
from ._validation import warn
from .aggregators import aggregator_gradient_step, solve_aggregator

logger = logging.getLogger("cfensemble")

_GRAM_BUDGET = 1 << 20  # elements of the largest (rows x e^2) intermediate array


_DEVICE_GRAM_BUDGET = 1 << 26  # the same on a GPU (PyTorch kernels): big batches, big memory


def rows_per_block(chunk_size: int, e: int, budget: int = _GRAM_BUDGET) -> int:
    """Rows per block so that no (rows x e^2) intermediate exceeds the memory budget."""
    return int(max(1, min(chunk_size, budget // (e * e))))


def augment(F: np.ndarray) -> np.ndarray:
    """``[F, 1]``: a factor matrix with the column of ones that carries the other side's bias."""
    return np.hstack([F, np.ones((F.shape[0], 1))])


def instance_step(
    block: Block, X: np.ndarray, a: np.ndarray, lambda_reg: float, kernel: str = "numpy"
) -> tuple[np.ndarray, np.ndarray]:
    """Label-free least-squares ``(Y, c)`` of a block of rows with ``(X, a)`` fixed.

    The instance step of ALS and the fold-in of new rows: minimises
    ``sum_u c_iu (p_iu - a_u - y_i . x_u - c_i)^2 + lambda_reg n_i |y_i, c_i|^2`` per row with
    the label-free confidence ``C_free`` (``kernel``: see :mod:`cfensemble._kernels`).
    """
    theta = instance_solve(block.P0, block.C_free, augment(X), a, lambda_reg, kernel)
    return theta[:, :-1], theta[:, -1]


def fold_in(
    data: Data, X, a, lambda_reg, chunk_size, out=None, kernel: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """Instance factors and biases of all rows of ``data``, block by block.

    ``out=(Y, c)`` writes into existing arrays.
    """
    n = data.shape[0]
    kernel = choose_kernel(n, kernel)
    Y, c = out if out is not None else (np.empty((n, X.shape[1])), np.empty(n))
    for block in data.blocks(rows_per_block(chunk_size, X.shape[1] + 1)):
        Y[block.rows], c[block.rows] = instance_step(block, X, a, lambda_reg, kernel)
    return Y, c


def labeled_input(data: Data, state: State, objective: Objective, rows=None) -> np.ndarray:
    """The aggregator input ``A`` of the labeled rows (``rows``: their ``labeled_rows()``)."""
    P0, observed = data.labeled_rows() if rows is None else rows
    P_hat = reconstruct(state.Y[data.labeled], state.X, state.a, state.c[data.labeled])
    return aggregator_input(
        objective.aggregator_input,
        P0,
        observed,
        P_hat,
        objective.abstention,
        objective.outputs,
        objective.fill_map,
    )


@dataclass
class NormalEquations:
    """The classifier step's normal equations, summed over row blocks (a reduction)."""

    gram: np.ndarray  # (m, e, e): sum_i C_iu (y_i, 1)(y_i, 1)^T
    rhs: np.ndarray  # (m, e): sum_i C_iu (p_iu - c_i) (y_i, 1)
    count: np.ndarray  # (m,): sum_i C_iu, the ridge weight n_u

    @classmethod
    def zeros(cls, m: int, e: int) -> NormalEquations:
        return cls(np.zeros((m, e * (e + 1) // 2)), np.zeros((m, e)), np.zeros(m))

    def add(self, block: Block, Y: np.ndarray, c: np.ndarray) -> None:
        """Add the rows of ``block`` whose instance factors and biases are ``Y``, ``c``."""
        Ya = augment(Y)
        self.add_sums(
            block.C.T @ packed_outer(Ya),
            (block.C * (block.P0 - c[:, None])).T @ Ya,
            block.C.sum(axis=0),
        )

    def add_sums(self, gram: np.ndarray, rhs: np.ndarray, count: np.ndarray) -> None:
        """Add packed Gram sums (m, t), right-hand sides (m, e) and counts (m,) made elsewhere."""
        self.gram += gram
        self.rhs += rhs
        self.count += count

    def finish(self) -> NormalEquations:
        """Unpack the summed lower triangles into symmetric matrices."""
        self.gram = unpack(self.gram, self.rhs.shape[1])
        return self


def classifier_normal_equations(data: Data, state: State, chunk_size: int) -> NormalEquations:
    eq = NormalEquations.zeros(state.X.shape[0], state.X.shape[1] + 1)
    for block in data.blocks(rows_per_block(chunk_size, state.X.shape[1] + 1)):
        eq.add(block, state.Y[block.rows], state.c[block.rows])
    return eq.finish()


def classifier_step(
    data: Data, state: State, objective: Objective, chunk_size: int, eq=None
) -> tuple[np.ndarray, np.ndarray]:
    """Update ``(X, a)``: minimises a majoriser of the combined objective.

    ``eq``: the normal equations at the current ``(Y, c)`` (computed when not given).
    Without the supervised coupling the systems are solved in one batch; with it the
    classifiers are updated in turn, each with the majoriser taken at the current point
    (``z`` is refreshed after each).
    """
    if eq is None:
        eq = classifier_normal_equations(data, state, chunk_size)
    gram, rhs, count = eq.gram, eq.rhs, eq.count
    m = state.X.shape[0]
    ridge = objective.lambda_reg * count
    coupled = objective.train_aggregator and objective.rho < 1.0 and data.labeled.size > 0
    if coupled:
        labeled_rows = data.labeled_rows()
        observed = labeled_rows[1]
        kind = objective.aggregator_input
        coupled = any(
            np.any(input_weight(kind, state.w, observed, u, objective.abstention))
            for u in range(m)
        )
    if not coupled:
        theta = solve_spd(gram, rhs, ridge)
        return theta[:, :-1], theta[:, -1]

    outputs = objective.outputs
    # For K classes a column moves one logit only, and the softmax loss's curvature along
    # one logit is p_k (1 - p_k) <= 1/4: the bound of the binary case.
    bound = focal_curvature_bound(float(objective.focal_gamma))
    share = (1.0 - objective.rho) * data.kappa / data.kappa.sum()
    beta = share * bound * count.sum() / (2.0 * objective.rho)
    Ya = augment(state.Y[data.labeled])
    theta = np.column_stack([state.X, state.a])
    z = logits(labeled_input(data, state, objective, labeled_rows), state.w, state.b, outputs)
    del labeled_rows
    for u in range(m):
        Gu = input_weight(kind, state.w, observed, u, objective.abstention)
        if not np.any(Gu):
            theta[u] = solve_spd(gram[u : u + 1], rhs[u : u + 1], ridge[u : u + 1])[0]
            continue
        first = loss_gradient(z, data.y_labeled, objective.focal_gamma)
        zu = z if outputs == 1 else z[:, u % outputs]  # the logit this column moves (a view)
        first = first if outputs == 1 else first[:, u % outputs]
        curvature = Ya.T @ ((beta * Gu * Gu)[:, None] * Ya)
        old = theta[u].copy()
        new_rhs = rhs[u] + curvature @ old - Ya.T @ (beta * Gu * first / bound)
        theta[u] = solve_spd((gram[u] + curvature)[None], new_rhs[None], ridge[u : u + 1])[0]
        zu += Gu * (Ya @ (theta[u] - old))
    return theta[:, :-1], theta[:, -1]


def _r_factor(F: np.ndarray, weight: np.ndarray, block: int = 16384) -> np.ndarray:
    """``R`` of the thin QR of ``diag(weight)^{1/2} F``, by QR of stacked block R's (TSQR)."""
    return _stack_r(
        [_block_r(F[s : s + block], weight[s : s + block]) for s in range(0, F.shape[0], block)]
    )


def _block_r(F: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return _qr_r(F * np.sqrt(weight[:, None]))


def _qr_r(F: np.ndarray) -> np.ndarray:
    """``R`` of the thin QR of ``F`` with a diagonal >= 0 (unique for full rank: the gauge
    :func:`balance` picks then does not depend on how the R factor was reached)."""
    R = np.asarray(np.linalg.qr(F, "r"))
    return R * np.where(np.diag(R) < 0, -1.0, 1.0)[:, None]


def _stack_r(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else _qr_r(np.vstack(parts))


def balance_transforms(R_y: np.ndarray, R_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T_x, T_y)`` of :func:`balance` from the R factors of the weighted ``Y`` and ``X``."""
    U, S, Vt = np.linalg.svd(R_y @ R_x.T, full_matrices=False)
    d, k = R_x.shape[1], S.size  # k < d when a factor has fewer rows than d: pad with zeros
    half = np.sqrt(S)
    T_y = np.zeros((d, d))
    T_x = np.zeros((d, d))
    with np.errstate(over="ignore", invalid="ignore"):
        T_y[:, :k] = np.linalg.pinv(R_y, rcond=1e-14) @ (U * half[None, :])
        T_x[:, :k] = np.linalg.pinv(R_x, rcond=1e-14) @ (Vt.T * half[None, :])
    if not (np.isfinite(T_x).all() and np.isfinite(T_y).all()):
        # A factor so small (P's values near 1e-300) that its inverse overflows: its
        # low-rank term is zero to working precision, and any gauge serves; keep this one.
        return np.eye(d), np.eye(d)
    return T_x, T_y


def _procrustes(X: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The orthogonal ``Q`` that brings ``X @ Q`` closest to ``target`` (rows weighted)."""
    U, _, Vt = np.linalg.svd((X * weight[:, None]).T @ target)
    return U @ Vt


def _apply_in_place(Y: np.ndarray, T: np.ndarray, block: int = 16384) -> None:
    for s in range(0, Y.shape[0], block):
        Y[s : s + block] = Y[s : s + block] @ T


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
    T_x, T_y = balance_transforms(_r_factor(Y, row_weight), _r_factor(X, col_weight))
    _apply_in_place(Y, T_y)
    return X @ T_x, Y


@dataclass
class ReconstructionParts:
    """Sums over row blocks that make ``L_recon`` (see :func:`losses`)."""

    data_term: float = 0.0  # sum C_free * residual^2
    ridge_rows: float = 0.0  # sum_i n_i (|y_i|^2 + c_i^2)
    total_c: float = 0.0  # sum of C_free
    col_count: np.ndarray = field(default_factory=lambda: np.zeros(0))  # n_u: sums of C_free

    def add(self, block: Block, Y, c, X, a, data_term=None, n_i=None) -> None:
        """Add a block's rows (``data_term``, ``n_i``: when already computed)."""
        if data_term is None:
            resid = block.P0 - reconstruct(Y, X, a, c)
            data_term = float(np.sum(block.C_free * resid * resid))
        if n_i is None:
            n_i = block.C_free.sum(axis=1)
        self.add_sums(
            data_term,
            float(n_i @ (np.sum(Y * Y, axis=1) + c * c)),
            float(n_i.sum()),
            block.C_free.sum(axis=0),
        )

    def add_sums(self, data_term: float, ridge_rows: float, total_c: float, col_count) -> None:
        """Add sums made elsewhere (the fused kernel's)."""
        self.data_term += data_term
        self.ridge_rows += ridge_rows
        self.total_c += total_c
        self.col_count = col_count if self.col_count.size == 0 else self.col_count + col_count

    def value(self, X, a, lambda_reg: float) -> float:
        ridge_cols = float(self.col_count @ (np.sum(X * X, axis=1) + a * a))
        return (self.data_term + lambda_reg * (self.ridge_rows + ridge_cols)) / self.total_c


def supervised_part(data: Data, state: State, objective: Objective, A=None) -> float:
    """``L_sup`` at ``state`` (for the mean aggregator: reported, not optimised).

    ``A``: the aggregator input of the labeled rows at ``state``, when already made.
    """
    if not data.labeled.size:
        return 0.0
    if A is None:
        A = labeled_input(data, state, objective)
    if objective.train_aggregator:
        z = logits(A, state.w, state.b, objective.outputs)
        return supervised_loss(
            z,
            data.y_labeled,
            data.kappa,
            objective.focal_gamma,
            state.w,
            objective.aggregator_l2,
            objective.aggregator_shrinkage,
            objective.groups,
            objective.weight_target,
        )
    z = mean_prediction(A, state.w, objective.outputs)
    # the mean aggregator: clipped, no link; its log (odds) as logits
    z = np.log(z) if objective.outputs > 1 else np.log(z) - np.log1p(-z)
    return supervised_loss(z, data.y_labeled, data.kappa, 0.0, np.zeros(0), 0.0)


def mean_prediction(A: np.ndarray, w: np.ndarray, outputs: int = 1) -> np.ndarray:
    """The mean aggregator: the weighted mean of the input, clipped to [1e-12, 1 - 1e-12]
    (for K classes per class, then each row rescaled to sum to 1)."""
    p = np.clip(logits(A, w, 0.0, outputs), 1e-12, 1 - 1e-12)
    return p / p.sum(axis=1, keepdims=True) if outputs > 1 else p


def losses(
    data: Data, state: State, objective: Objective, chunk_size: int
) -> tuple[float, float, float]:
    """(total, reconstruction, supervised) at ``state``: a reduction over row blocks.

    ``L_recon`` uses the label-free confidence. For the mean aggregator the supervised part
    is the class-weighted cross-entropy of its clipped predictions: reported, not optimised.
    """
    parts = ReconstructionParts()
    for block in data.blocks(rows_per_block(chunk_size, state.X.shape[1] + 1)):
        parts.add(block, state.Y[block.rows], state.c[block.rows], state.X, state.a)
    recon = parts.value(state.X, state.a, objective.lambda_reg)
    sup = supervised_part(data, state, objective)
    return objective.rho * recon + (1.0 - objective.rho) * sup, recon, sup


@dataclass
class Sweep:
    """What one pass over the data gathers at the new instance factors."""

    recon: ReconstructionParts
    equations: NormalEquations
    R_y: np.ndarray  # R factor of diag(n_i)^{1/2} Y, for balance


def sweep(data: Data, state: State, objective: Objective, chunk_size: int, kernel: str) -> Sweep:
    """One pass over the row blocks: the instance step, and what the next steps need.

    Per block: the instance step (``state.Y``, ``state.c`` overwritten), then, at the new
    ``(Y, c)``, the parts of ``L_recon``, the classifier step's normal equations and the R
    factor of the weighted ``Y`` used by :func:`balance`. Every array over all rows is
    read once per iteration; the confidence is made once per block (or, with unit
    confidence, by the numba and PyTorch kernels themselves from ``P``).

    Data whose rows live elsewhere (:class:`cfensemble.dask.DaskData`) make the pass
    themselves, with this function on each of their chunks.
    """
    if not isinstance(data, Data):
        return data.sweep(state, objective, chunk_size, kernel)
    if kernel == "numba":
        return _fused_sweep(data, state, objective.lambda_reg, chunk_size)
    if isinstance(kernel, TorchKernel):
        return _torch_sweep(data, state, objective.lambda_reg, chunk_size, kernel)
    m, d = state.X.shape
    recon = ReconstructionParts()
    equations = NormalEquations.zeros(m, d + 1)
    r_parts = []
    for block in data.blocks(rows_per_block(chunk_size, d + 1)):
        n_i = block.C_free.sum(axis=1)
        Yb, cb = instance_step(block, state.X, state.a, objective.lambda_reg, kernel)
        recon.add(block, Yb, cb, state.X, state.a, n_i=n_i)
        equations.add(block, Yb, cb)
        state.Y[block.rows], state.c[block.rows] = Yb, cb
        r_parts.append(_block_r(Yb, n_i))
    return Sweep(recon, equations.finish(), _stack_r(r_parts))


_GROUP_ROWS = 512  # rows per partial sum of the fused kernel (fixed; a multiple of its 64)


def _torch_sweep(data: Data, state: State, lambda_reg: float, chunk_size: int, kernel) -> Sweep:
    """:func:`sweep` with the PyTorch kernels (:mod:`cfensemble._kernels_torch`)."""
    from ._kernels_torch import device_blocks, sweep_block, torch_dtype

    m, d = state.X.shape
    equations = NormalEquations.zeros(m, d + 1)
    recon = ReconstructionParts()
    r_parts = []
    gpu = str(kernel.device) != "cpu"
    size = rows_per_block(chunk_size, d + 1, _DEVICE_GRAM_BUDGET if gpu else _GRAM_BUDGET)
    for rows, P0, C_free, C in device_blocks(data, size, kernel.device, torch_dtype(kernel.dtype)):
        theta, sums, gram, rhs, R = sweep_block(P0, C_free, C, state.X, state.a, lambda_reg)
        state.Y[rows], state.c[rows] = theta[:, :-1], theta[:, -1]
        recon.add_sums(*sums[:4])
        equations.add_sums(pack(gram), rhs, sums[4])
        r_parts.append(R)
    return Sweep(recon, equations.finish(), _qr_r(np.vstack(r_parts)))


def _kernel_blocks(data: Data, size: int):
    """``(rows, P0, C_free, C)`` per block of ``size`` rows, C-contiguous; with unit
    confidence ``P0`` is ``P`` itself (NaN where missing) and the confidences are None."""
    if not data.unit_confidence:
        for block in data.blocks(size):
            C_free, C = np.ascontiguousarray(block.C_free), np.ascontiguousarray(block.C)
            yield block.rows, block.P0, C_free, C
        return
    n = data.shape[0]
    for start in range(0, n, size):
        rows = slice(start, min(start + size, n))
        yield rows, np.ascontiguousarray(data.P[rows]), None, None


def _fused_sweep(data: Data, state: State, lambda_reg: float, chunk_size: int) -> Sweep:
    """:func:`sweep` with the numba kernel: each block in one call (same formulas as the
    numpy path), which also makes every sum the rest of the iteration needs. With unit
    confidence (:attr:`Data.unit_confidence`) the kernel reads ``P`` itself: no block of
    confidences is made at all."""
    from ._kernels import JITTER
    from ._kernels_numba import sweep_kernel

    m = data.shape[1]
    d = state.X.shape[1]
    e = d + 1
    Xa = augment(state.X)
    outer = packed_outer(Xa)
    size = rows_per_block(chunk_size, e)
    equations = NormalEquations.zeros(m, e)
    recon = ReconstructionParts()
    r_parts = []
    for rows, P0, C_free, C in _kernel_blocks(data, size):
        k = P0.shape[0]
        groups = -(-k // _GROUP_ROWS)
        theta = np.empty((k, e))
        part = (
            np.empty((groups, m, e * (e + 1) // 2)),
            np.empty((groups, m, e)),
            np.empty((groups, 2, m)),
            np.empty((groups, 3)),
            np.empty((groups, d, d)),
        )
        sweep_kernel(
            P0,
            P0 if C_free is None else C_free,
            P0 if C is None else C,
            C_free is None,
            outer,
            Xa,
            state.a,
            float(lambda_reg),
            JITTER,
            theta,
            *part,
            _GROUP_ROWS,
        )
        state.Y[rows], state.c[rows] = theta[:, :-1], theta[:, -1]
        gram, rhs, cols, sums = (p.sum(axis=0) for p in part[:4])
        equations.add_sums(gram, rhs, cols[0])
        recon.add_sums(float(sums[0]), float(sums[1]), float(sums[2]), cols[1])
        r_parts.append(part[4].reshape(-1, d))
    return Sweep(recon, equations.finish(), _qr_r(np.vstack(r_parts)))


@dataclass
class ALSSolver:
    """Alternating least squares: per iteration a classifier, an instance and an aggregator step.

    Each iteration is a classifier step, a re-gauge of the factors (:func:`balance`), the
    instance step and the aggregator step; the instance step and everything the next
    classifier step and the loss need are one pass over the row blocks (:func:`sweep`).
    Stops when the relative change of the total objective falls below ``tol`` (checked once
    the aggregator is no longer frozen; with ``rho = 1``, where the total is the
    reconstruction alone, a "gd" aggregator's supervised part must settle too); otherwise
    warns with ConvergenceWarning.
    ``callback(iteration, losses)`` is called after every iteration with the (total,
    reconstruction, supervised) parts; with ``rho = 1`` (the factors do not depend on the
    labels) and the exact ``"newton"`` aggregator, the aggregator is solved once, after the
    last iteration, and the supervised part is NaN before it. ``n_jobs`` limits the threads
    of BLAS and of the numba kernel (None: as configured); ``kernel`` is "auto", "numpy" or
    "numba" (see :mod:`cfensemble._kernels`).

    ``accelerate``: after the classifier step, try ``(X, a) + s * ((X, a) - previous)``
    (the move of the last iteration, extrapolated; ``s`` doubles after each success up to
    8 and falls back to 1 after a failure) and keep it only when the iteration then ends
    with a lower objective; otherwise the plain step is taken (one extra pass over the
    data). Plain ALS converges slowly along the directions only the ridge pins down (how
    the biases and the factors' means share the fit); the extrapolation follows them. Used
    where every step lowers the objective (``rho = 1``, the default, or no trained
    aggregator), so the objective still never increases from one iteration to the next;
    with ``rho < 1`` the label-free instance step can raise the supervised part, and the
    plain steps are taken.

    ``class_weight_warmup`` = W > 0: a curriculum of the class weights. The aggregator
    update ``t`` (0, 1, ...; the first after ``freeze_aggregator_iters``) and, with
    ``rho < 1``, the classifier step of that iteration use the class weights raised to
    :func:`~cfensemble._problem.class_exponent` ``(t + 1) / (W + 1)``, the full weights from
    update W on; convergence is checked only after that. The loss curve reports the
    objective with the weights of its iteration. Where the aggregator is solved once after
    the last iteration the schedule has nothing to act on (the estimator refuses it).
    """

    latent_dim: int = 2
    max_iter: int = 100
    tol: float = 1e-4
    chunk_size: int = 16384
    aggregator_solver: str = "newton"
    aggregator_lr: float = 0.01
    freeze_aggregator_iters: int = 0
    callback: Callable | None = None
    n_jobs: int | None = None
    kernel: str = "auto"
    accelerate: bool = True
    class_weight_warmup: int = 0

    def fit(
        self, data: Data, objective: Objective, init: State | None, rng, validation=None
    ) -> FitResult:
        """Minimise ``objective`` on ``data`` from ``init`` (None: :func:`initial_state`).

        ``validation`` is accepted for the common solver signature and unused: ALS has no
        early stopping.
        """
        kernel = choose_kernel(data.shape[0], self.kernel)
        with thread_limits(self.n_jobs, kernel):
            return self._fit(data, objective, init, rng, kernel)

    def _fit(self, data, objective, init, rng, kernel) -> FitResult:
        state = (
            init
            if init is not None
            else initial_state(
                data, self.latent_dim, objective.aggregator_input, rng, objective.outputs
            )
        )
        curve: list[tuple[float, float, float]] = []
        converged = False
        previous = previous_sup = np.inf
        # The instance step of the starting point; each iteration then starts at a state
        # whose (Y, c) solve the instance step for its (X, a).
        done = sweep(data, state, objective, self.chunk_size, kernel)
        labeled_rows = data.labeled_rows()  # (P0, observed) of the labeled rows, kept
        last = None  # the previous iteration's (X, a) before extrapolation
        change = np.inf  # relative change of the objective in the last iteration
        # Only where every step lowers the objective: with rho < 1 the label-free instance
        # step can raise the supervised part, and an accept test against it would mislead.
        extrapolate = self.accelerate and (
            objective.rho == 1.0 or not objective.train_aggregator or data.labeled.size == 0
        )
        step = 1.0
        full = data
        for it in range(self.max_iter):
            # the class weights of this iteration (a curriculum: class_weight_warmup)
            data = with_class_exponent(
                full, class_exponent(it - self.freeze_aggregator_iters, self.class_weight_warmup)
            )
            X, a = classifier_step(data, state, objective, self.chunk_size, done.equations)
            # Re-gauge (balance) X; Y needs no update: the instance step below replaces it.
            X = X @ balance_transforms(done.R_y, _r_factor(X, done.recon.col_count))[0]
            result = None
            if extrapolate and last is not None:
                # The balanced gauge is unique only up to an orthogonal transform (signs of
                # singular vectors, rotations within equal ones): turn X to the previous
                # iterate's gauge so that their difference is a move, not a gauge change.
                X = X @ _procrustes(X, last[0], done.recon.col_count)
            # Extrapolate along the last move; keep it only if it lowers the objective. Not
            # once the objective has settled to 1e-8: accept-or-reject decisions taken at
            # rounding level would make results depend on the summation order.
            if extrapolate and last is not None and change > 1e-8:
                saved = state.w.copy(), state.b
                state.X, state.a = X + step * (X - last[0]), a + step * (a - last[1])
                with np.errstate(all="ignore"):  # a wild trial is rejected below
                    result = self._rest_of_iteration(
                        data, state, objective, kernel, labeled_rows, it
                    )
                if result[1][0] < previous:
                    step = min(2.0 * step, 8.0)
                else:
                    state.w, state.b = saved
                    result, step = None, 1.0
            last = X, a
            if result is None:
                state.X, state.a = X, a
                result = self._rest_of_iteration(data, state, objective, kernel, labeled_rows, it)
            done, parts = result
            curve.append(parts)
            total = parts[0]
            if not np.isfinite(total) or not np.isfinite(state.w).all():
                raise FloatingPointError(
                    f"ALS may have diverged at iteration {it + 1} (objective {total}); try a "
                    "larger lambda_reg, a smaller aggregator_lr or a larger aggregator_l2."
                )
            if np.isnan(parts[2]):  # the aggregator is fitted after the factors (rho = 1)
                logger.info("iteration %d: reconstruction %.6g", it + 1, parts[1])
            else:
                logger.info(
                    "iteration %d: total %.6g, reconstruction %.6g, supervised %.6g",
                    it + 1,
                    *parts,
                )
            if self.callback is not None:
                self.callback(it + 1, parts)
            settled = it > self.freeze_aggregator_iters + self.class_weight_warmup
            # with rho = 1 the total leaves out the supervised part, which a gradient-step
            # aggregator ("gd") is still lowering: it has to settle too (not the exact one,
            # solved after the loop, nor the mean aggregator's, which is only reported)
            follow = (
                objective.rho == 1.0
                and objective.train_aggregator
                and not self._aggregator_once(objective)
            )
            sup = parts[2] if follow and np.isfinite(parts[2]) else 0.0
            if (
                settled
                and abs(previous - total) <= self.tol * abs(previous)
                and abs(previous_sup - sup) <= self.tol * abs(previous_sup)
            ):
                converged = True
                break
            if np.isfinite(previous):  # an objective of 0 is its minimum: nothing to follow
                change = abs(previous - total) / abs(previous) if previous else 0.0
            previous, previous_sup = total, sup
        data = full
        if self._aggregator_once(objective) and curve:
            A = labeled_input(data, state, objective, labeled_rows)
            if data.labeled.size and len(curve) > self.freeze_aggregator_iters:
                self._aggregator_step(data, state, objective, A)
            curve[-1] = (curve[-1][0], curve[-1][1], supervised_part(data, state, objective, A))
        if not converged:
            warn(
                f"ALS did not converge in max_iter={self.max_iter} iterations (relative change "
                "of the objective, or with rho=1 of its supervised part, above "
                f"tol={self.tol}); increase max_iter or tol.",
                ConvergenceWarning,
            )
        return FitResult(state, len(curve), np.asarray(curve), converged)

    def _aggregator_once(self, objective: Objective) -> bool:
        """With rho = 1 the factors do not depend on the aggregator: the exact aggregator is
        solved once, after the last iteration (the supervised part is NaN before it)."""
        return (
            objective.rho == 1.0
            and objective.train_aggregator
            and self.aggregator_solver == "newton"
        )

    def _rest_of_iteration(self, data, state, objective, kernel, labeled_rows, it):
        """Instance step (a :func:`sweep`) and aggregator step at ``state.X``, ``state.a``."""
        done = sweep(data, state, objective, self.chunk_size, kernel)
        recon = done.recon.value(state.X, state.a, objective.lambda_reg)
        if self._aggregator_once(objective):
            return done, (recon, recon, np.nan)
        A = labeled_input(data, state, objective, labeled_rows)
        if objective.train_aggregator and data.labeled.size and it >= self.freeze_aggregator_iters:
            self._aggregator_step(data, state, objective, A)
        sup = supervised_part(data, state, objective, A)
        return done, (objective.rho * recon + (1.0 - objective.rho) * sup, recon, sup)

    def _aggregator_step(self, data: Data, state: State, objective: Objective, A=None):
        if A is None:
            A = labeled_input(data, state, objective)
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
                outputs=objective.outputs,
                target=objective.weight_target,
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
                objective.outputs,
                objective.weight_target,
            )
