"""Batched small ridge regressions: the inner kernels of ALS.

Each instance (and each classifier) has a ``e x e`` symmetric positive semi-definite
system ``(G + r I) theta = b`` with ``e = latent_dim + 1``. Three implementations of the
same formula (one Cholesky factorization per system, with the rank-safe jitter of
:func:`jitter`):

- numpy, vectorised over the batch: the systems are stored *batch last*, one array of
  length k per entry of the packed lower triangle, so each step of the factorization is one
  array operation over all k systems (no per-system LAPACK call);
- numba (the ``[fast]`` extra), fused: the instance step builds the Gram matrices of 64
  rows at a time in a small scratch array (batch last, so every loop over the rows
  vectorises) and solves them there, in a parallel loop over groups of rows; the k Grams
  are never materialised. In a fit (:func:`cfensemble._als.sweep`) the same pass also
  gathers, per fixed group of 512 rows, the classifier step's normal equations, the parts
  of the reconstruction loss and the R factor used to re-gauge the factors, and with the
  default uniform confidence reads ``P`` itself (NaN = missing, confidence 1 elsewhere);
- PyTorch (:mod:`cfensemble._kernels_torch`, selected by a :class:`TorchKernel`): batched
  ``torch.linalg`` Cholesky on a GPU or in float32.

The numba kernel is used for the instance step when numba is installed and the block has
at least :data:`NUMBA_MIN_ROWS` rows; the numpy kernel is the reference (tests compare both).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec

import numpy as np

JITTER = 1e-10  # relative to the mean diagonal of each system
NUMBA_MIN_ROWS = 50_000  # below this, loading numba (about 0.5 s) costs more than it saves


def lower_pairs(e: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the packed lower triangle, row by row: entry ``t`` is ``G[r[t], c[t]]``."""
    rows, cols = np.tril_indices(e)
    return rows, cols


def packed_outer(B: np.ndarray) -> np.ndarray:
    """Packed lower triangles of the outer products ``b_l b_l^T`` of the rows of ``B``: (l, t)."""
    rows, cols = lower_pairs(B.shape[1])
    return B[:, rows] * B[:, cols]


def unpack(G: np.ndarray, e: int) -> np.ndarray:
    """(k, t) packed lower triangles -> (k, e, e) symmetric matrices."""
    rows, cols = lower_pairs(e)
    out = np.empty((G.shape[0], e, e))
    out[:, rows, cols] = G
    out[:, cols, rows] = G
    return out


def pack(gram: np.ndarray) -> np.ndarray:
    """(k, e, e) symmetric matrices -> (k, t) packed lower triangles."""
    rows, cols = lower_pairs(gram.shape[-1])
    return gram[:, rows, cols]


def jitter(trace_mean: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """What is added to each diagonal: the ridge, at least 1e-10 of the mean diagonal, + 1e-300.

    Every system is then positive definite whatever the rank of its Gram matrix and the
    size of the ridge (0 included), so a result never depends on whether a factorization of
    a singular matrix happens to succeed in rounding.
    """
    return np.maximum(ridge, JITTER * trace_mean) + 1e-300


def solve_packed(G: np.ndarray, R: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """Solve ``(G_j + ridge_j I) theta_j = R_j``; G (k, t) packed lower, R (k, e) -> (k, e).

    numpy, vectorised over the batch: a Cholesky factorization and two triangular solves
    written as O(e^3) array operations of length k.
    """
    e = R.shape[1]
    idx = np.empty((e, e), dtype=np.intp)
    rows, cols = lower_pairs(e)
    idx[rows, cols] = np.arange(rows.size)
    L = np.ascontiguousarray(G.T)  # (t, k): batch last
    b = np.ascontiguousarray(R.T)  # (e, k)
    diag = idx[np.arange(e), np.arange(e)]
    L[diag] += jitter(L[diag].sum(axis=0) / e, ridge)
    for j in range(e):
        jj = idx[j, j]
        if j:
            L[jj] -= np.einsum("tk,tk->k", L[idx[j, :j]], L[idx[j, :j]])
        np.sqrt(np.maximum(L[jj], 1e-300), out=L[jj])
        below = idx[j + 1 :, j]
        if below.size:
            if j:
                L[below] -= np.einsum("itk,tk->ik", L[idx[j + 1 :, :j]], L[idx[j, :j]])
            L[below] /= L[jj]
    for i in range(e):  # L z = b
        if i:
            b[i] -= np.einsum("tk,tk->k", L[idx[i, :i]], b[:i])
        b[i] /= L[idx[i, i]]
    for i in range(e - 1, -1, -1):  # L^T theta = z
        if i < e - 1:
            b[i] -= np.einsum("tk,tk->k", L[idx[i + 1 :, i]], b[i + 1 :])
        b[i] /= L[idx[i, i]]
    return b.T.copy()


def solve_spd(gram: np.ndarray, rhs: np.ndarray, ridge: np.ndarray) -> np.ndarray:
    """Solve ``(gram[j] + ridge[j] I) a_j = rhs[j]`` for a batch of symmetric PSD ``gram``."""
    return solve_packed(pack(gram), rhs, np.asarray(ridge, dtype=float))


@dataclass(frozen=True)
class TorchKernel:
    """The PyTorch kernels (:mod:`cfensemble._kernels_torch`) on ``device`` in ``dtype``."""

    device: str
    dtype: str = "float64"


def numba_available() -> bool:
    return find_spec("numba") is not None


def instance_solve(
    P0: np.ndarray, C: np.ndarray, Xa: np.ndarray, a: np.ndarray, lambda_reg: float, kernel
) -> np.ndarray:
    """Per row ``i``: ``argmin sum_u C_iu (P0_iu - a_u - theta . xa_u)^2 + lambda n_i |theta|^2``.

    ``kernel`` is "numpy", "numba" or a :class:`TorchKernel`; returns (k, e).
    """
    if isinstance(kernel, TorchKernel):
        from ._kernels_torch import instance_solve as solve
        from ._kernels_torch import torch_dtype

        return solve(P0, C, Xa, a, lambda_reg, kernel.device, torch_dtype(kernel.dtype))
    if kernel == "numba":
        out = np.empty((P0.shape[0], Xa.shape[1]))
        from ._kernels_numba import instance_kernel

        instance_kernel(
            np.ascontiguousarray(P0),
            np.ascontiguousarray(C),
            packed_outer(Xa),
            np.ascontiguousarray(Xa),
            np.ascontiguousarray(a, dtype=float),
            float(lambda_reg),
            JITTER,
            out,
        )
        return out
    G = C @ packed_outer(Xa)
    R = (C * (P0 - a[None, :])) @ Xa
    return solve_packed(G, R, lambda_reg * C.sum(axis=1))


def choose_kernel(n_rows: int, kernel="auto"):
    """ "numba" for large problems when it is installed, else "numpy"; an explicit one is kept."""
    if isinstance(kernel, TorchKernel):
        return kernel
    if kernel == "auto":
        return "numba" if n_rows >= NUMBA_MIN_ROWS and numba_available() else "numpy"
    if kernel == "numba" and not numba_available():
        raise ImportError('kernel="numba" needs numba: pip install "cfensemble[fast]"')
    return kernel


@contextmanager
def thread_limits(n_jobs: int | None, kernel: str):
    """Limit BLAS threads (threadpoolctl) and numba threads to ``n_jobs`` during a fit.

    ``None`` leaves numba's setting (all cores); a negative value means all cores. With the
    numba kernel BLAS runs on one thread: the heavy work is numba's, and BLAS threads
    spinning beside numba's would oversubscribe the cores (measured: 3x slower on 2 cores).
    """
    from threadpoolctl import threadpool_limits

    limit = None if n_jobs is None else (os.cpu_count() or 1) if n_jobs < 0 else n_jobs
    previous = None
    if kernel == "numba":
        import numba

        previous = numba.get_num_threads()
        if limit is not None:
            numba.set_num_threads(min(limit, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    try:
        blas = 1 if kernel == "numba" else limit
        with threadpool_limits(limits=blas, user_api="blas"):
            yield
    finally:
        if previous is not None:
            import numba

            numba.set_num_threads(previous)
