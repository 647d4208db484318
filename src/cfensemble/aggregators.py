"""Aggregators: combine a row of reconstructed probabilities into one probability.

``WeightedAggregator`` is the supervised combiner ``p = sigmoid(P_hat @ w + b)``. It offers
the original method's single class-weighted gradient step
(:meth:`WeightedAggregator.update`) and an exact solve of the same sub-problem by damped
Newton steps (:meth:`WeightedAggregator.solve`).
``MeanAggregator`` averages and has nothing to learn.

Arrays are row-major as in the rest of cfensemble: ``X`` is (n_classifiers, latent_dim),
``Y`` is (n_samples, latent_dim), ``P_hat = Y @ X.T``. The original write-up's ``X`` and
``Y`` are the transposes of these.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve, solve_triangular
from scipy.optimize import nnls
from scipy.special import expit

from ._losses import (
    class_weights,
    focal_factor,
    focal_loss_derivatives,
    logits,
    loss_gradient,
    shrinkage_gradient,
    supervised_loss,
)

__all__ = ["MeanAggregator", "WeightedAggregator"]


def _reconstruct_labeled(X, Y, labeled_idx, labels, n_classifiers):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != n_classifiers:
        raise ValueError(
            f"X must have shape (n_classifiers={n_classifiers}, latent_dim); got {X.shape}. "
            "cfensemble is row-major: the original write-up's X (latent_dim x n_classifiers) "
            "is X.T here."
        )
    if Y.ndim != 2 or Y.shape[1] != X.shape[1]:
        raise ValueError(
            f"Y must have shape (n_samples, latent_dim={X.shape[1]}); got {Y.shape}. "
            "cfensemble is row-major: the original write-up's Y (latent_dim x n_samples) "
            "is Y.T here."
        )
    labeled_idx = np.asarray(labeled_idx)
    labels = np.asarray(labels, dtype=np.float64)
    if labels.shape[0] != Y.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of Y ({Y.shape[0]}); got {labels.shape[0]}."
        )
    return Y[labeled_idx] @ X.T, labels[labeled_idx]


def aggregator_gradient_step(
    A, y, kappa, focal_gamma, l2, positive, w, b, lr, shrinkage=0.0, groups=1, outputs=1,
    target=None,
):  # fmt: skip
    """One class-weighted gradient step on ``(w, b)`` (the original method's); new ``(w, b)``.

    Residual ``r = sigmoid(A w + b) - y``, instance weights ``s = kappa (1 - p_t)^gamma``,
    ``grad_w = A^T (s r) / sum(s) + l2 w`` and ``grad_b = sum(s r) / sum(s)``. The focal factor
    multiplies the cross-entropy gradient (held fixed, not differentiated). With
    ``positive`` negative weights are set to 0 after the step (projected gradient).
    For ``outputs`` = K > 1 classes the step follows the exact gradient of the softmax
    focal loss (:func:`~cfensemble._losses.softmax_focal_gradient`).

    The shrinkage term (``shrinkage > 0``; not in the original) is taken implicitly, with
    the sign constraint in the same step, by :func:`_shrinkage_step`: its curvature grows
    as ``shrinkage / t^2``, so for a small target ``t`` an explicit step diverges at any
    usual ``lr``.
    """
    if y.shape[0] == 0:
        return w, b
    if outputs > 1:
        grad_w, grad_b = _multinomial_gradient(
            A, y, kappa / np.sum(kappa), focal_gamma, l2, w, b, 0.0, groups, outputs, target
        )
        w = _shrinkage_step(w - lr * grad_w, lr, shrinkage, groups, outputs, target, positive)
        return w, b - lr * grad_b
    z = A @ w + b
    s = kappa * focal_factor(z, y, focal_gamma)
    weighted = s * (expit(z) - y)
    total = np.sum(s)
    w = w - lr * (A.T @ weighted / total + l2 * w)
    w = _shrinkage_step(w, lr, shrinkage, groups, 1, target, positive)
    return w, b - lr * float(np.sum(weighted) / total)


def _shrinkage_step(w, lr, shrinkage, groups, outputs, target, positive=False):
    """The implicit (proximal) step of the shrinkage term, with the sign constraint: the
    ``v`` (``>= 0`` with ``positive``) minimising
    ``|v - w|^2 / (2 lr) + shrinkage / 2 |v/t - mean(v/t)|^2``. Stable for every ``lr``;
    without shrinkage, ``w`` (projected on ``v >= 0`` with ``positive``).

    The term splits into one block per group and class (the m classifiers' weights there),
    so each block is an m x m problem ``M v = w / lr`` with ``M = I / lr + H`` and ``H`` its
    Hessian (:func:`_shrinkage_hessian`), positive definite: a linear solve, or with
    ``positive`` a non-negative least-squares problem (``M = L L^T``: minimise
    ``|L^T v - L^-1 w / lr|`` over ``v >= 0``): the penalty and the sign constraint in one
    step (clipping after the solve would not be the constrained step: ``H`` couples the
    weights).
    """
    if not shrinkage:
        return np.maximum(w, 0.0) if positive else w
    t = np.ones_like(w) if target is None else np.asarray(target, dtype=np.float64)
    parts, scales = w.reshape(groups, -1, outputs), t.reshape(groups, -1, outputs)
    out = np.empty_like(parts)
    eye = np.eye(parts.shape[1]) / lr
    for g in range(groups):
        for k in range(outputs):
            M = eye + _shrinkage_hessian(scales[g, :, k], shrinkage)
            rhs = parts[g, :, k] / lr
            if positive:
                L = cholesky(M, lower=True)
                out[g, :, k] = nnls(L.T, solve_triangular(L, rhs, lower=True))[0]
            else:
                out[g, :, k] = solve(M, rhs, assume_a="pos")
    return out.reshape(-1)


def _shrinkage_hessian(t: np.ndarray, shrinkage: float) -> np.ndarray:
    """Hessian of ``shrinkage / 2 |v/t - mean(v/t)|^2`` for one block of m weights:
    ``shrinkage * (D^2 - d d^T / m)`` with ``d = 1/t``, ``D = diag(d)`` (the term is
    ``shrinkage / 2 |C D v|^2`` with ``C`` the centring projection)."""
    d = 1.0 / t
    return shrinkage * (np.diag(d * d) - np.outer(d, d) / d.size)


def solve_aggregator(
    A,
    y,
    kappa,
    focal_gamma,
    l2,
    positive,
    w,
    b,
    max_iter: int = 25,
    tol: float = 1e-10,
    shrinkage: float = 0.0,
    groups: int = 1,
    outputs: int = 1,
    target: np.ndarray | None = None,
):
    """Minimise the class-weighted focal loss of ``sigmoid(A w + b)`` plus the penalty
    ``l2/2 |w|^2 + shrinkage/2 |w/t - mean(w/t)|^2`` (``t = target``, None: all 1; the mean
    taken within each of ``groups`` equal parts of ``w``).

    Damped Newton steps warm-started at ``(w, b)``; returns the new ``(w, b)``. A convex
    class-weighted logistic regression in ``len(w) + 1`` parameters for ``focal_gamma = 0``.
    For ``focal_gamma > 0`` the focal loss is differentiated exactly and negative curvature
    is clipped to 0 in the Newton matrix; a backtracking line search makes every step
    decrease the loss. Stops when the Newton decrement falls below ``tol`` or after
    ``max_iter`` steps. With ``positive=True`` the weights are constrained to ``w >= 0``
    (non-negative stacking, as in Breiman's stacked regressions), solved by projected Newton
    steps (Bertsekas) with a projected line search.

    For ``outputs`` = K > 1 classes (softmax focal loss, one weight per column of ``A`` and
    one intercept per class, see :func:`~cfensemble._losses.logits`) the same problem is
    solved by L-BFGS-B with the exact gradient and the bound ``w >= 0`` where asked.
    """
    if y.shape[0] == 0:
        return w, b
    if outputs > 1:
        return _solve_multinomial(
            A,
            y,
            kappa / np.sum(kappa),
            focal_gamma,
            l2,
            positive,
            w,
            b,
            shrinkage,
            groups,
            outputs,
            target,
        )
    m = A.shape[1]
    kappa = kappa / np.sum(kappa)
    ridge = np.full(m + 1, float(l2))
    ridge[-1] = 0.0
    lower = np.full(m + 1, -np.inf)
    if positive:
        lower[:m] = 0.0
    theta = np.maximum(np.append(w, b), lower)

    def z_of(th):
        return A @ th[:m] + th[m]

    # the penalty's Hessian: l2 I + shrinkage T^-1 (I - J/k) T^-1 within each group of k
    # weights (T = diag(target))
    k = m // groups
    penalty = np.diag(ridge)
    inverse = np.ones(m) if target is None else 1.0 / target
    for g in range(groups):
        block = slice(g * k, (g + 1) * k)
        scale = inverse[block]
        penalty[block, block] += shrinkage * (np.eye(k) - 1.0 / k) * np.outer(scale, scale)

    def objective(th):
        return supervised_loss(
            z_of(th), y, kappa, focal_gamma, th[:m], l2, shrinkage, groups, target
        )

    value = objective(theta)
    for _ in range(max_iter):
        # the intercept is a column of ones, handled apart so that [A, 1] is never formed
        first, second = focal_loss_derivatives(z_of(theta), y, focal_gamma)
        g, h = kappa * first, kappa * np.maximum(second, 0.0)
        grad = np.append(A.T @ g, g.sum()) + penalty @ theta
        Ah = A.T @ h
        hess = np.empty((m + 1, m + 1))
        hess[:m, :m] = A.T @ (A * h[:, None])
        hess[:m, m] = hess[m, :m] = Ah
        hess[m, m] = h.sum()
        hess += penalty
        hess[np.diag_indices_from(hess)] += 1e-10 * (1.0 + np.trace(hess) / (m + 1))
        # weights held at the bound by their gradient stay fixed; a Newton step on the others
        free = ~((theta <= lower) & (grad > 0))
        step = np.zeros(m + 1)
        step[free] = np.linalg.solve(hess[np.ix_(free, free)], grad[free])
        decrement = float(grad[free] @ step[free])
        if decrement < tol:
            break
        t = 1.0
        for _ in range(40):
            candidate_theta = np.maximum(theta - t * step, lower)
            candidate = objective(candidate_theta)
            if candidate <= value - 1e-4 * float(grad @ (theta - candidate_theta)):
                break
            t *= 0.5
        else:
            break  # no decrease along the Newton direction: at the optimum numerically
        theta, value = candidate_theta, candidate
    return theta[:m].copy(), float(theta[m])


def _multinomial_gradient(A, y, kappa, gamma, l2, w, b, shrinkage, groups, outputs, target):
    """Gradient in ``(w, b)`` of the softmax ``L_sup`` (``kappa`` summing to 1)."""
    n = A.shape[0]
    G = kappa[:, None] * loss_gradient(logits(A, w, b, outputs), y, gamma)
    grad_w = np.einsum("ijk,ik->jk", A.reshape(n, -1, outputs), G).reshape(-1)
    grad_w += l2 * w
    if shrinkage:
        grad_w += shrinkage_gradient(w, shrinkage, groups, outputs, target)
    return grad_w, G.sum(axis=0)


def _solve_multinomial(
    A, y, kappa, gamma, l2, positive, w, b, shrinkage, groups, outputs, target
):  # fmt: skip
    from scipy.optimize import minimize

    m = w.size
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), (outputs,))

    def value_and_gradient(theta):
        w_, b_ = theta[:m], theta[m:]
        value = supervised_loss(
            logits(A, w_, b_, outputs), y, kappa, gamma, w_, l2, shrinkage, groups, target
        )
        grad_w, grad_b = _multinomial_gradient(
            A, y, kappa, gamma, l2, w_, b_, shrinkage, groups, outputs, target
        )
        return value, np.concatenate([grad_w, grad_b])

    bounds = [(0.0, None) if positive else (None, None)] * m + [(None, None)] * outputs
    start = np.concatenate([np.maximum(w, 0.0) if positive else w, b])
    result = minimize(
        value_and_gradient,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 1000, "ftol": 1e-14, "gtol": 1e-10},
    )
    return result.x[:m].copy(), result.x[m:].copy()


class WeightedAggregator:
    """Logistic combiner ``p_i = sigmoid(w @ p_hat_i + b)`` with class-weighted training.

    Parameters
    ----------
    n_classifiers : int
        Number of base classifiers (length of ``w``). ``w`` starts at ``1 / n_classifiers``
        (the simple average) and ``b`` at 0.

    Attributes
    ----------
    w : ndarray of shape (n_classifiers,)
        Signed weights; a negative weight is kept, never hidden.
    b : float
        Intercept.
    """

    def __init__(self, n_classifiers: int):
        if int(n_classifiers) < 1:
            raise ValueError(f"n_classifiers must be >= 1; got {n_classifiers}.")
        self.n_classifiers = int(n_classifiers)
        self.w = np.full(self.n_classifiers, 1.0 / self.n_classifiers)
        self.b = 0.0

    def decision_function(self, P_hat) -> np.ndarray:
        """Logits ``P_hat @ w + b`` for ``P_hat`` of shape (n_samples, n_classifiers)."""
        return np.asarray(P_hat, dtype=np.float64) @ self.w + self.b

    def predict(self, P_hat) -> np.ndarray:
        """Probabilities ``sigmoid(P_hat @ w + b)``, shape (n_samples,)."""
        return expit(self.decision_function(P_hat))

    def update(
        self,
        X,
        Y,
        labeled_idx,
        labels,
        lr: float,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        l2: float = 0.0,
        positive: bool = False,
    ) -> WeightedAggregator:
        """One gradient step on the labeled rows, exactly as the original write-up gives it.

        ``P_hat = Y[labeled_idx] @ X.T``, residual ``r = p - y``, instance weights
        ``s = kappa * (1 - p_t)^focal_gamma`` and

            grad_w = P_hat.T @ (s * r) / sum(s) + l2 * w,   grad_b = sum(s * r) / sum(s)

        then ``w -= lr * grad_w`` and ``b -= lr * grad_b``. With ``use_class_weights=False``
        and ``focal_gamma=0`` this is the plain mean gradient; with one class only the class
        weights are 1. The focal factor multiplies the cross-entropy gradient (it is held
        fixed, not differentiated), as the original write-up describes for this trainer. With
        ``positive=True`` negative weights are set to 0 after the step (projected gradient).
        """
        P_hat, y = _reconstruct_labeled(X, Y, labeled_idx, labels, self.n_classifiers)
        return self.gradient_step(P_hat, y, lr, use_class_weights, focal_gamma, l2, positive)

    def gradient_step(
        self,
        P_hat: np.ndarray,
        y: np.ndarray,
        lr: float,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        l2: float = 0.0,
        positive: bool = False,
    ) -> WeightedAggregator:
        """The step of :meth:`update` on already reconstructed labeled rows ``P_hat``."""
        kappa = class_weights(y, use_class_weights)
        self.w, self.b = aggregator_gradient_step(
            np.asarray(P_hat, dtype=np.float64),
            y,
            kappa,
            focal_gamma,
            l2,
            positive,
            self.w,
            self.b,
            lr,
        )
        return self

    def loss(self, P_hat, y, use_class_weights=True, focal_gamma=0.0, l2=0.0) -> float:
        """Class-weighted focal loss of the labeled rows plus ``l2 / 2 * |w|^2``."""
        z = self.decision_function(P_hat)
        return supervised_loss(z, y, class_weights(y, use_class_weights), focal_gamma, self.w, l2)

    def solve(
        self,
        P_hat: np.ndarray,
        y: np.ndarray,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        l2: float = 0.0,
        positive: bool = False,
        max_iter: int = 25,
        tol: float = 1e-10,
    ) -> WeightedAggregator:
        """Minimise :meth:`loss` over ``(w, b)`` exactly (see :func:`solve_aggregator`)."""
        kappa = class_weights(y, use_class_weights)
        self.w, self.b = solve_aggregator(
            np.asarray(P_hat, dtype=np.float64),
            y,
            kappa,
            focal_gamma,
            l2,
            positive,
            self.w,
            self.b,
            max_iter,
            tol,
        )
        return self


class MeanAggregator:
    """The simple average of the reconstructed probabilities, clipped to [0, 1].

    Has no parameters: :meth:`update` accepts the arguments of
    :meth:`WeightedAggregator.update`, checks them and leaves the aggregator unchanged.
    """

    def __init__(self, n_classifiers: int):
        if int(n_classifiers) < 1:
            raise ValueError(f"n_classifiers must be >= 1; got {n_classifiers}.")
        self.n_classifiers = int(n_classifiers)
        self.w = np.full(self.n_classifiers, 1.0 / self.n_classifiers)
        self.b = 0.0

    def predict(self, P_hat) -> np.ndarray:
        """Row means of ``P_hat`` clipped to [0, 1], shape (n_samples,)."""
        return np.clip(np.asarray(P_hat, dtype=np.float64) @ self.w, 0.0, 1.0)

    def update(
        self,
        X,
        Y,
        labeled_idx,
        labels,
        lr: float,
        use_class_weights: bool = True,
        focal_gamma: float = 0.0,
        l2: float = 0.0,
        positive: bool = False,
    ) -> MeanAggregator:
        """Check the arguments as :meth:`WeightedAggregator.update` does; nothing to learn."""
        _reconstruct_labeled(X, Y, labeled_idx, labels, self.n_classifiers)
        return self
