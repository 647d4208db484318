"""The ALS kernels in PyTorch, for ``solver="als"`` on a GPU or in float32.

The same formulas as :mod:`cfensemble._kernels` and :func:`cfensemble._als.sweep` (the
numpy path is the reference; tests compare them): per block of rows, the Gram matrices as
one GEMM of the confidences with the flattened outer products, a batched Cholesky
factorization with the rank-safe jitter, and, at the solution, the weighted squared
residuals, the classifier step's normal equations and the R factor of the re-gauge. With
the default uniform confidence ``P`` is copied to the device once per fit and stays there;
otherwise each block is copied per pass. Per block only the new instance factors and the
small sums come back; the loop, the classifier step, the re-gauge and the aggregator stay
on the host (they touch m x d or labeled-row arrays only).

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


def _put(x, dtype, device):
    """A host array as a contiguous tensor on ``device`` in ``dtype``."""
    return _torch().as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)


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

    def put(x):
        return _put(x, dtype, device)

    theta = _solve(put(C), put(P0) - put(a)[None, :], put(Xa), float(lambda_reg))
    return theta.double().cpu().numpy()


def device_blocks(data, size: int, device: str, dtype):
    """``(rows, P0, C_free, C)`` on the device per block of ``size`` rows of ``data``.

    With unit confidence (``data.unit_confidence``) ``P`` is copied to the device once per
    fit (kept in ``data.resident``) and each block's confidences are made there from its
    NaNs; otherwise each block's arrays are made on the host and copied.
    """
    torch = _torch()

    n = data.shape[0]
    if not data.unit_confidence:
        for block in data.blocks(size):
            C_free = _put(block.C_free, dtype, device)
            yield (
                block.rows,
                _put(block.P0, dtype, device),
                C_free,
                C_free if block.C is block.C_free else _put(block.C, dtype, device),
            )
        return
    key = (str(device), dtype)
    if key not in data.resident:
        data.resident.clear()  # one copy of P on one device at a time
        data.resident[key] = _put(data.P, dtype, device)
    P = data.resident[key]
    for start in range(0, n, size):
        rows = slice(start, min(start + size, n))
        observed = ~torch.isnan(P[rows])
        C = observed.to(dtype)
        yield rows, torch.where(observed, P[rows], 0.0), C, C


def sweep_block(P0t, C_free, C, X, a, lambda_reg):
    """One block of :func:`cfensemble._als.sweep` on the device of ``P0t``.

    Returns ``(theta, sums, gram, rhs, R)`` as numpy float64: ``theta`` (k, e) the new
    ``(Y, c)``; ``sums`` = (sum C_free residual^2, sum n_i |y_i, c_i|^2, sum n_i, column
    sums of C_free (m), column sums of C (m)); ``gram`` (m, e, e) and ``rhs`` (m, e) this
    block's part of the classifier step's normal equations; ``R`` the R factor of the rows
    ``sqrt(n_i) y_i``. Only these small arrays and ``theta`` leave the device.
    """
    torch = _torch()
    dtype, device = P0t.dtype, P0t.device

    ones_m = torch.ones((X.shape[0], 1), dtype=dtype, device=device)
    Xa = torch.cat([_put(X, dtype, device), ones_m], dim=1)
    at = _put(a, dtype, device)
    theta = _solve(C_free, P0t - at[None, :], Xa, float(lambda_reg))
    resid = P0t - theta @ Xa.T - at[None, :]
    n_i = C_free.sum(dim=1)
    sums = (
        float((C_free * resid * resid).sum()),
        float(n_i @ (theta * theta).sum(dim=1)),
        float(n_i.sum()),
        C_free.sum(dim=0).double().cpu().numpy(),
        C.sum(dim=0).double().cpu().numpy(),
    )
    e = theta.shape[1]
    Ya = torch.cat([theta[:, :-1], torch.ones_like(theta[:, -1:])], dim=1)
    gram = (C.T @ (Ya[:, :, None] * Ya[:, None, :]).reshape(-1, e * e)).reshape(-1, e, e)
    rhs = (C * (P0t - theta[:, -1:])).T @ Ya
    R = torch.linalg.qr(theta[:, :-1] * n_i.sqrt()[:, None], mode="r")[1]

    def host(x):
        return x.double().cpu().numpy()

    return host(theta), sums, host(gram), host(rhs), host(R)
