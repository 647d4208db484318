"""The objective of CF-Ensemble: class/focal weights, reconstruction and supervised losses.

Notation (row-major, as everywhere in cfensemble): ``P`` (n, m) base probabilities,
``C`` (n, m) confidences, ``Y`` (n, d) instance factors, ``X`` (m, d) classifier factors,
``P_hat = Y @ X.T``, aggregator ``p_i = sigmoid(w @ P_hat[i] + b)``. The method's papers
and its original write-up (see the README) write ``R = P.T`` (m x n), ``X`` as d x m and
``Y`` as d x n; their ``X`` is our ``X.T`` and their ``Y`` is our ``Y.T``.

The combined objective is

    L = rho * L_recon + (1 - rho) * L_sup

    L_recon = [sum_iu c_iu (p_iu - y_i . x_u)^2 + lambda_reg (|X|^2 + |Y|^2)] / sum_iu c_iu

    L_sup   = sum_{i labeled} kappa_i * l_gamma(z_i, y_i) / sum_{i labeled} kappa_i
              + aggregator_l2 / 2 * |w|^2 + aggregator_shrinkage / 2 * |w/t - mean(w/t)|^2

with ``z_i = w @ P_hat[i] + b``, ``t`` the shrinkage target (positive; the shrinkage pulls
``w`` toward weights proportional to ``t``: all 1, the simple average, by default) and
``l_gamma`` the focal loss ``-(1 - p_t)^gamma * log(p_t)`` (``p_t = p`` if ``y = 1`` else
``1 - p``), which is the binary cross-entropy for ``gamma = 0``.
``kappa_i = n_L / (2 * n_class(i))`` are the inverse-frequency class weights (all 1 when
disabled or when one class only is labeled).

Normalisation: ``L_recon`` is divided by the total confidence and ``L_sup`` by the total
class weight, so both are averages whose size does not grow with n and ``rho`` means the
same at n = 500 and n = 5,000,000. Dividing the ridge term by the same total leaves the
least-squares normal equations ``(sum c y y^T + lambda_reg I) x = sum c p y`` unchanged.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import expit, logsumexp, softmax


def class_weights(
    y: np.ndarray, use_class_weights: bool = True, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    """Inverse-frequency weights ``n / (K * n_class)`` for class indices ``y`` (0, 1, ...).

    ``K`` is the number of classes present; each class then contributes the same total
    weight ``n / K``. With ``sample_weight`` the counts are weighted (``n`` = the total
    weight, ``n_class`` = the weight of the class), so an integer weight counts as that many
    copies of the row. Returns ones when ``use_class_weights`` is False or when only one
    class is present (as the original method does).
    """
    y = np.asarray(y)
    n = y.shape[0]
    if not use_class_weights or n == 0:
        return np.ones(n)
    index = y.astype(np.intp)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    counts = np.bincount(index, weights=weight)
    present = np.flatnonzero(counts > 0)
    if present.size < 2:
        return np.ones(n)
    return counts.sum() / (present.size * counts[index])


def _signed_logit(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``t = z`` for positives and ``-z`` for negatives, so that ``p_t = sigmoid(t)``."""
    return np.where(y == 1, z, -z)


def focal_factor(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """The focal modulating factor ``(1 - p_t)^gamma`` at logits ``z`` (1 for gamma = 0)."""
    if gamma == 0:
        return np.ones(np.shape(z))
    t = _signed_logit(z, y)
    # 1 - p_t = sigmoid(-t); its log is -softplus(t).
    return np.exp(-gamma * np.logaddexp(0.0, t))


def focal_loss(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """Per-instance loss ``-(1 - p_t)^gamma log p_t`` from logits, computed stably.

    For ``gamma = 0`` this is the binary cross-entropy ``softplus(z) - y z``.
    """
    t = _signed_logit(z, y)
    return focal_factor(z, y, gamma) * np.logaddexp(0.0, -t)


def focal_loss_derivatives(
    z: np.ndarray, y: np.ndarray, gamma: float
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivative of :func:`focal_loss` with respect to the logit ``z``.

    With ``t = ±z`` and ``q = sigmoid(t)``:
    ``dl/dt = (1-q)^g [g q log q - (1 - q)]`` and
    ``d2l/dt2 = q (1-q)^g {-g [g q log q - (1-q)] + (1-q) [g (log q + 1) + 1]}``;
    ``dl/dz = ±dl/dt`` and ``d2l/dz2 = d2l/dt2``. For ``g = 0`` these are ``p - y`` and
    ``p (1 - p)``.
    """
    t = _signed_logit(z, y)
    sign = np.where(y == 1, 1.0, -1.0)
    q = expit(t)
    one_minus_q = expit(-t)
    log_q = -np.logaddexp(0.0, -t)
    mod = focal_factor(z, y, gamma)
    inner = gamma * q * log_q - one_minus_q
    first = mod * inner
    second = q * mod * (-gamma * inner + one_minus_q * (gamma * (log_q + 1.0) + 1.0))
    return sign * first, second


def logits(A: np.ndarray, w: np.ndarray, b, outputs: int = 1) -> np.ndarray:
    """The aggregator's logits for input rows ``A``.

    Binary (``outputs = 1``): ``z = A w + b``, shape (n,). ``K = outputs`` classes: the
    columns of ``A`` are classifier-major (column ``j`` is class ``j % K`` of its
    classifier) and ``z[i, k] = sum_{j % K = k} A[i, j] w[j] + b[k]``, shape (n, K): each
    class's logit is a weighted sum of the classifiers' probabilities for that class.
    """
    if outputs == 1:
        return A @ w + b
    n = A.shape[0]
    return np.einsum("ijk,jk->ik", A.reshape(n, -1, outputs), w.reshape(-1, outputs)) + b


def softmax_focal_loss(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """Per-instance ``-(1 - p_t)^gamma log p_t`` with ``p = softmax(z)`` and ``t = y``
    (class indices), from logits ``z`` of shape (n, K), computed stably."""
    log_pt = _log_pt(z, y)
    if gamma == 0:
        return -log_pt
    return -np.exp(gamma * _log1mexp(log_pt)) * log_pt


def softmax_focal_gradient(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """``dl/dz`` of :func:`softmax_focal_loss`, shape (n, K).

    ``dl/dz_k = [gamma (1 - p_t)^(gamma-1) p_t log p_t - (1 - p_t)^gamma] (delta_tk - p_k)``:
    ``p - onehot(y)`` for ``gamma = 0``.
    """
    p = softmax(z, axis=1)
    onehot = np.zeros_like(p)
    onehot[np.arange(z.shape[0]), y.astype(np.intp)] = 1.0
    if gamma == 0:
        return p - onehot
    log_pt = _log_pt(z, y)
    one_minus = -np.expm1(log_pt)
    # log p_t / (1 - p_t), which tends to -1 as p_t -> 1
    ratio = np.where(one_minus > 1e-8, log_pt / np.maximum(one_minus, 1e-300), -1.0)
    modulation = np.exp(gamma * _log1mexp(log_pt))
    coef = gamma * np.exp(log_pt) * modulation * ratio - modulation
    return coef[:, None] * (onehot - p)


def _log_pt(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return z[np.arange(z.shape[0]), y.astype(np.intp)] - logsumexp(z, axis=1)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x <= 0`` (``-inf`` at 0)."""
    with np.errstate(divide="ignore"):
        return np.where(x > -0.693, np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def loss_per_row(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """Focal loss per row: sigmoid for logits of shape (n,), softmax for (n, K)."""
    return focal_loss(z, y, gamma) if z.ndim == 1 else softmax_focal_loss(z, y, gamma)


def loss_gradient(z: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """``dl/dz`` per row, the shape of ``z`` (see :func:`loss_per_row`)."""
    if z.ndim == 1:
        return focal_loss_derivatives(z, y, gamma)[0]
    return softmax_focal_gradient(z, y, gamma)


@lru_cache(maxsize=64)
def focal_curvature_bound(gamma: float) -> float:
    """An upper bound on ``d2 l / dz2`` of the focal loss over all logits.

    1/4 for the cross-entropy (Böhning's bound); for ``gamma > 0`` the maximum of the
    closed-form second derivative on a fine grid, with a 1 % margin. The ALS trainer
    uses it to majorise the supervised loss by a quadratic.
    """
    if gamma == 0:
        return 0.25
    z = np.linspace(-40.0, 40.0, 160_001)
    _, second = focal_loss_derivatives(z, np.ones_like(z), float(gamma))
    return float(1.01 * second.max())


def reconstruction_loss(
    C: np.ndarray,
    P0: np.ndarray,
    X: np.ndarray,
    Y: np.ndarray,
    lambda_reg: float,
    chunk_size: int = 65536,
) -> float:
    """``L_recon`` normalised by the total confidence (see the module docstring).

    ``P0`` is ``P`` with missing entries replaced by any finite value (their confidence is 0).
    Evaluated in chunks of instances so memory stays bounded.
    """
    total = 0.0
    for start in range(0, C.shape[0], chunk_size):
        rows = slice(start, start + chunk_size)
        resid = P0[rows] - Y[rows] @ X.T
        total += float(np.sum(C[rows] * resid * resid))
    total += lambda_reg * (float(np.sum(X * X)) + float(np.sum(Y * Y)))
    return total / float(np.sum(C))


def centered(w: np.ndarray, groups: int = 1, outputs: int = 1) -> np.ndarray:
    """``w`` minus the mean of its group (``groups`` equal consecutive parts of ``w``),
    taken per class for ``outputs`` > 1 classes (see :func:`logits` for the layout)."""
    parts = w.reshape(groups, -1, outputs)
    return (parts - parts.mean(axis=1, keepdims=True)).reshape(-1)


def aggregator_penalty(
    w: np.ndarray,
    l2: float,
    shrinkage: float = 0.0,
    groups: int = 1,
    outputs: int = 1,
    target: np.ndarray | None = None,
):
    """``l2 / 2 |w|^2 + shrinkage / 2 |w/t - mean(w/t)|^2`` (the mean taken within each
    group and class; ``t = target`` of ``w``'s shape, None: all 1).

    The second term shrinks the weights toward weights proportional to ``target`` rather
    than toward 0: toward equal weights (the simple average) by default, as in the
    forecast-combination literature.
    """
    value = 0.5 * l2 * float(w @ w)
    if shrinkage and w.size:
        dev = centered(w if target is None else w / target, groups, outputs)
        value += 0.5 * shrinkage * float(dev @ dev)
    return value


def shrinkage_gradient(
    w: np.ndarray,
    shrinkage: float,
    groups: int = 1,
    outputs: int = 1,
    target: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of the shrinkage term of :func:`aggregator_penalty` in ``w``:
    ``shrinkage * centered(w/t) / t`` (``centered`` is a projection, so symmetric)."""
    if target is None:
        return shrinkage * centered(w, groups, outputs)
    return shrinkage * centered(w / target, groups, outputs) / target


def supervised_loss(
    z: np.ndarray,
    y: np.ndarray,
    kappa: np.ndarray,
    gamma: float,
    w: np.ndarray,
    aggregator_l2: float,
    shrinkage: float = 0.0,
    groups: int = 1,
    target: np.ndarray | None = None,
) -> float:
    """``L_sup``: class-weighted focal loss of the labeled logits ``z`` (shape (n,) binary,
    (n, K) multi-class) plus the penalty on ``w`` (:func:`aggregator_penalty`)."""
    outputs = 1 if z.ndim == 1 else z.shape[1]
    penalty = aggregator_penalty(w, aggregator_l2, shrinkage, groups, outputs, target)
    if z.shape[0] == 0:
        return penalty
    return float(np.sum(kappa * loss_per_row(z, y, gamma)) / np.sum(kappa)) + penalty
