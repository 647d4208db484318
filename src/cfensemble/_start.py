"""The start of a fit: biases from the column means, factors from the leading
eigenvectors of the residual's Gram matrix, the aggregator at the classifiers' average.

The pieces (column sums, residual Gram, square sum) are reductions over row blocks, also
run per chunk by :mod:`cfensemble.dask` and summed there.
"""

from __future__ import annotations

import numpy as np

from ._problem import Block, Data, State


def initial_state(
    data: Data, latent_dim: int, aggregator_kind: str, rng, outputs: int = 1
) -> State:
    """Biases from the column means, factors from the top eigenvectors of the residual's Gram.

    ``a`` = mean of each column's entries with positive label-free confidence, ``c = 0``;
    ``X`` = the leading ``latent_dim`` eigenvectors of ``R^T R`` with ``R`` the residual
    ``P - a`` on those entries (0 elsewhere), ``Y = R X``; plus noise of 1e-2 of the factors'
    size drawn from ``rng``, which breaks ties when ``latent_dim`` exceeds the rank. Two
    reductions over row blocks (data whose rows live elsewhere make them themselves).
    """
    if not isinstance(data, Data):
        return data.initial_state(latent_dim, aggregator_kind, rng)
    n, m = data.shape
    sums, counts = initial_column_sums(data)
    a = sums / np.maximum(counts, 1)
    X = leading_factors(initial_residual_gram(data, a), latent_dim)
    rows = n if data.sample_weight is None else float(np.sum(data.sample_weight))
    scale = 1e-2 * max(np.sqrt(initial_square_sum(data, a, X) / (rows * latent_dim)), 1e-3)
    noise_x = rng.normal(0.0, scale, size=X.shape)
    Y = np.empty((n, latent_dim))
    for block in data.blocks(16384):  # Y's noise drawn per block in row order: no (n, d) temporary
        Y[block.rows] = _residual(block, a) @ X
        Y[block.rows] += rng.normal(0.0, scale, size=Y[block.rows].shape)
    X += noise_x
    w = initial_weights(m, aggregator_kind, outputs)
    b = 0.0 if outputs == 1 else np.zeros(outputs)
    return State(X=X, Y=Y, a=a, c=np.zeros(n), w=w, b=b)


# The pieces of initial_state, also run per chunk by cfensemble.dask and summed there.


def initial_column_sums(data: Data) -> tuple[np.ndarray, np.ndarray]:
    """Per column: the sum and the count of the entries with positive confidence (rows
    counted by their sample weight)."""
    m = data.shape[1]
    sums, counts = np.zeros(m), np.zeros(m)
    for block in data.blocks(16384):
        used = (block.C_free > 0) * _row_weight(block)
        sums += (used * block.P0).sum(axis=0)
        counts += used.sum(axis=0)
    return sums, counts


def _row_weight(block: Block):
    return 1.0 if block.weight is None else block.weight[:, None]


def _residual(block: Block, a: np.ndarray) -> np.ndarray:
    return np.where(block.C_free > 0, block.P0 - a, 0.0)


def initial_residual_gram(data: Data, a: np.ndarray) -> np.ndarray:
    """``R^T W R`` of the residual ``P - a`` on the entries with positive confidence (``W``:
    the sample weights)."""
    m = data.shape[1]
    RtR = np.zeros((m, m))
    for block in data.blocks(16384):
        R = _residual(block, a)
        RtR += R.T @ (R * _row_weight(block))
    return RtR


def initial_square_sum(data: Data, a: np.ndarray, X: np.ndarray) -> float:
    """``sum(W (R X)^2)``: the squared size of the starting instance factors."""
    return float(
        sum(
            np.sum((_residual(block, a) @ X) ** 2 * _row_weight(block))
            for block in data.blocks(16384)
        )
    )


def leading_factors(RtR: np.ndarray, latent_dim: int) -> np.ndarray:
    """The leading ``latent_dim`` eigenvectors of ``RtR`` (zero columns beyond its size)."""
    m = RtR.shape[0]
    eigval, eigvec = np.linalg.eigh(RtR)
    order = np.argsort(eigval)[::-1][: min(latent_dim, m)]
    X = np.zeros((m, latent_dim))
    X[:, : order.size] = eigvec[:, order]
    return X


def initial_weights(m: int, aggregator_kind: str, outputs: int = 1) -> np.ndarray:
    """The aggregator's start: the simple average (zeros for the reconstructed half of "both");
    ``m`` columns, ``outputs`` classes per classifier."""
    w = np.full(m, outputs / m)
    return np.r_[w, np.zeros(m)] if aggregator_kind == "both" else w
