"""The ALS kernels in PyTorch, for ``solver="als"`` on a GPU or in float32.

The same formulas as :mod:`cfensemble._kernels` and :func:`cfensemble._als.sweep` (the
numpy path is the reference; tests compare them): per block of rows, the Gram matrices as
one GEMM of the confidences with the flattened outer products, a batched Cholesky
factorization with the rank-safe jitter, and, at the solution, the weighted squared
residuals and the classifier step's normal equations. The blocks are copied to the device
per pass and the small results back; the loop, the classifier step, the re-gauge and the
aggregator stay on the host (they touch m x d or labeled-row arrays only).

In float32 the relative jitter is 1e-5 instead of 1e-10 (float32 rounding is about 1e-7),
so every system stays positive definite whatever its rank.
"""

from __future__ import annotations

import numpy as np


def _torch():
    import torch

    return torch


def torch_dtype(name: str):
    torch = _torch()
    return {"float64": torch.float64, "float32": torch.float32}[name]


def _jitter(dtype) -> float:
    return 1e-10 if dtype == _torch().float64 else 1e-5


def _solve(C, T, B, lam):
    """``(sum_l C_jl b_l b_l^T + r_j I) theta_j = sum_l C_jl T_jl b_l`` for all rows ``j``."""
    torch = _torch()
    e = B.shape[1]
    gram = (C @ (B[:, :, None] * B[:, None, :]).reshape(-1, e * e)).reshape(-1, e, e)
    rhs = (C * T) @ B
    trace = torch.diagonal(gram, dim1=1, dim2=2).sum(dim=1) / e
    add = torch.maximum(lam * C.sum(dim=1), _jitter(C.dtype) * trace) + 1e-30
    gram = gram + add[:, None, None] * torch.eye(e, dtype=C.dtype, device=C.device)
    L, _ = torch.linalg.cholesky_ex(gram)
    return torch.cholesky_solve(rhs[:, :, None], L)[:, :, 0]


def instance_solve(P0, C, Xa, a, lambda_reg, device, dtype) -> np.ndarray:
    """:func:`cfensemble._kernels.instance_solve` on ``device`` in ``dtype`` (returns numpy)."""
    torch = _torch()

    def put(x):
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

    theta = _solve(put(C), put(P0) - put(a)[None, :], put(Xa), float(lambda_reg))
    return theta.double().cpu().numpy()


def sweep_block(P0, C_free, C, X, a, lambda_reg, device, dtype):
    """One block of :func:`cfensemble._als.sweep`: ``(Y, c, data term, gram, rhs)``.

    ``gram`` (m, e, e) and ``rhs`` (m, e) are this block's part of the classifier step's
    normal equations at the new ``(Y, c)``.
    """
    torch = _torch()

    def put(x):
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

    P0t, Ct = put(P0), put(C_free)
    ones_m = torch.ones((X.shape[0], 1), dtype=dtype, device=device)
    Xa = torch.cat([put(X), ones_m], dim=1)
    at = put(a)
    theta = _solve(Ct, P0t - at[None, :], Xa, float(lambda_reg))
    resid = P0t - theta @ Xa.T - at[None, :]
    data_term = float((Ct * resid * resid).sum())
    Cc = Ct if C is C_free else put(C)
    e = theta.shape[1]
    Ya = torch.cat([theta[:, :-1], torch.ones_like(theta[:, -1:])], dim=1)
    gram = (Cc.T @ (Ya[:, :, None] * Ya[:, None, :]).reshape(-1, e * e)).reshape(-1, e, e)
    rhs = (Cc * (P0t - theta[:, -1:])).T @ Ya
    theta = theta.double().cpu().numpy()
    return (
        theta[:, :-1],
        theta[:, -1],
        data_term,
        gram.double().cpu().numpy(),
        rhs.double().cpu().numpy(),
    )
