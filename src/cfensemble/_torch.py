"""Autograd trainer: the objective of :mod:`cfensemble._problem` minimised with PyTorch.

The same model and objective as ALS: ``P_hat = Y X^T + a + c``, the aggregator on the input
chosen by ``aggregator_input``, ``rho * L_recon + (1 - rho) * L_sup`` with the real focal loss
from logits and class weights. As in ALS, the instance factors ``(Y, c)`` learn from the
label-free reconstruction only (the supervised loss sees them detached), and the aggregator
``(w, b)`` minimises ``L_sup`` whatever ``rho`` (with ``rho = 1`` the factors are a pure
reconstruction and the aggregator is still trained). A parity test checks
the torch loss against :func:`cfensemble._als.losses` to 1e-10 in float64. PyTorch is
imported lazily: ``import cfensemble`` works without it.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning

from ._als import ALSSolver, initial_state
from ._losses import supervised_loss
from ._problem import (
    Data,
    FitResult,
    Objective,
    State,
    class_exponent,
    supervised_weights,
    with_class_exponent,
)
from ._validation import warn
from .metrics import pr_auc as _pr_auc

logger = logging.getLogger("cfensemble")

INSTALL_HINT = (
    "solver='torch' needs PyTorch, which is not installed. Install it with "
    "`pip install 'cfensemble[torch]'` (or `pip install torch`)."
)


def import_torch():
    """Import torch, or raise an ImportError that gives the pip command."""
    try:
        import torch
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return torch


def resolve_device(device: str):
    """``"cpu"``, ``"cuda"`` or ``"auto"`` (cuda when available) as a torch.device."""
    torch = import_torch()
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but PyTorch sees no CUDA device; use 'cpu' or 'auto'.")
    return torch.device(device)


def torch_supervised(
    z, y, kappa, gamma, w, l2, shrinkage=0.0, groups=1, outputs=1, target=None
):  # fmt: skip
    """``L_sup`` in torch: class-weighted focal loss of the logits ``z`` ((n,) binary, (n, K)
    softmax) plus the penalty on w (:func:`cfensemble._losses.aggregator_penalty`)."""
    torch = import_torch()
    ridge = 0.5 * l2 * (w * w).sum()
    if shrinkage:
        parts = (w if target is None else w / target).reshape(groups, -1, outputs)
        dev = parts - parts.mean(dim=1, keepdim=True)
        ridge = ridge + 0.5 * shrinkage * (dev * dev).sum()
    if z.numel() == 0:
        return ridge
    if z.ndim == 2:  # -(1 - p_t)^gamma log p_t with p = softmax(z)
        log_pt = torch.log_softmax(z, dim=1).gather(1, y.long()[:, None])[:, 0]
        loss = -log_pt if gamma == 0 else -((-torch.expm1(log_pt)) ** gamma) * log_pt
        return (kappa * loss).sum() / kappa.sum() + ridge
    t = torch.where(y == 1, z, -z)
    softplus = torch.nn.functional.softplus
    # (1 - p_t)^gamma = exp(-gamma softplus(t)) and -log p_t = softplus(-t)
    loss = torch.exp(-gamma * softplus(t)) * softplus(-t)
    return (kappa * loss).sum() / kappa.sum() + ridge


def torch_logits(A, w, b, outputs: int = 1):
    """:func:`cfensemble._losses.logits` in torch."""
    if outputs == 1:
        return A @ w + b
    return (A.reshape(A.shape[0], -1, outputs) * w.reshape(-1, outputs)).sum(dim=1) + b


class TorchProblem:
    """The data of :class:`~cfensemble._problem.Data` as tensors on one device."""

    def __init__(self, data: Data, objective: Objective, device, chunk_size: int):
        torch = import_torch()
        self.torch = torch
        n, m = data.shape
        P0 = np.empty((n, m))
        obs = np.empty((n, m), dtype=bool)
        C = np.empty((n, m))
        C_free = np.empty((n, m))
        for block in data.blocks(chunk_size):
            P0[block.rows], obs[block.rows] = block.P0, block.observed
            C[block.rows], C_free[block.rows] = block.C, block.C_free

        def tensor(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=device)

        self.P0, self.C, self.C_free = tensor(P0), tensor(C), tensor(C_free)
        self.obs = torch.as_tensor(obs, device=device)
        self.same_confidence = bool(np.array_equal(C, C_free))
        self.total_c, self.total_free = float(C.sum()), float(C_free.sum())
        self.col_c, self.col_free = tensor(C.sum(axis=0)), tensor(C_free.sum(axis=0))
        self.row_c, self.row_free = tensor(C.sum(axis=1)), tensor(C_free.sum(axis=1))
        labeled = np.zeros(n, dtype=bool)
        labeled[data.labeled] = True
        label = np.zeros(n)
        label[data.labeled] = data.y_labeled
        self.labeled = torch.as_tensor(labeled, device=device)
        self.label = tensor(label)
        self.objective = objective
        self.tensor = tensor
        self.set_kappa(data)
        target = objective.weight_target
        self.weight_target = None if target is None else tensor(target)

    def set_kappa(self, data: Data) -> None:
        """The supervised weights of ``data``'s labeled rows (0 elsewhere), on the device."""
        kappa = np.zeros(data.shape[0])
        kappa[data.labeled] = data.kappa
        self.kappa = self.tensor(kappa)

    def aggregator_input(self, P0, obs, P_hat):
        """:func:`cfensemble._problem.aggregator_input` on tensors."""
        torch = self.torch
        kind, beta = self.objective.aggregator_input, self.objective.abstention
        fill = (1.0 - beta) * P_hat + beta / max(self.objective.outputs, 2) if beta else P_hat
        filled = torch.where(obs, P0, fill)
        if kind == "observed":
            return filled
        if kind == "reconstructed":
            return P_hat
        return torch.cat([filled, P_hat], dim=1)

    def losses(self, params, rows=slice(None), scale: float = 1.0):
        """(total, reconstruction, supervised) on ``rows``; ``scale`` = n / batch size."""
        X, Y, a, c, w, b = params
        ob, lam = self.objective, self.objective.lambda_reg
        target = self.weight_target
        Yb, cb = Y[rows], c[rows]
        P0, obs = self.P0[rows], self.obs[rows]

        def recon(C, row_count, col_count, total, Xr, ar, Yr, cr):
            resid = P0 - (Yr @ Xr.T + ar[None, :] + cr[:, None])
            data = scale * (C * resid * resid).sum()
            ridge_cols = (col_count * ((Xr * Xr).sum(1) + ar * ar)).sum()
            ridge_rows = scale * (row_count * ((Yr * Yr).sum(1) + cr * cr)).sum()
            return (data + lam * (ridge_cols + ridge_rows)) / total

        free = recon(
            self.C_free[rows], self.row_free[rows], self.col_free, self.total_free, X, a, Yb, cb
        )
        if self.same_confidence:
            fit_recon = free
        else:  # the classifier side sees C, the instance side the label-free C_free
            fit_recon = recon(
                self.C[rows],
                self.row_c[rows],
                self.col_c,
                self.total_c,
                X,
                a,
                Yb.detach(),
                cb.detach(),
            ) + recon(
                self.C_free[rows],
                self.row_free[rows],
                self.col_free,
                self.total_free,
                X.detach(),
                a.detach(),
                Yb,
                cb,
            )
        lab = self.torch.nonzero(self.labeled[rows]).flatten()

        def supervised(Xs, a_s):
            if not (ob.train_aggregator and lab.numel()):
                return torch_supervised(
                    w[:0],
                    w[:0],
                    w[:0],
                    0.0,
                    w,
                    ob.aggregator_l2,
                    ob.aggregator_shrinkage,
                    ob.groups,
                    ob.outputs,
                    target,
                )
            P_hat = Yb[lab].detach() @ Xs.T + a_s[None, :] + cb[lab].detach()[:, None]
            z = torch_logits(self.aggregator_input(P0[lab], obs[lab], P_hat), w, b, ob.outputs)
            return torch_supervised(
                z,
                self.label[rows][lab],
                self.kappa[rows][lab],
                ob.focal_gamma,
                w,
                ob.aggregator_l2,
                ob.aggregator_shrinkage,
                ob.groups,
                ob.outputs,
                target,
            )

        sup = supervised(X, a)
        # (w, b) minimise L_sup itself, whatever rho (as the exact aggregator step of ALS):
        # the rho-share of their gradient comes from a copy with the classifier side detached
        total = ob.rho * fit_recon + (1.0 - ob.rho) * sup
        if ob.rho > 0:
            total = total + ob.rho * supervised(X.detach(), a.detach())
        reported = ob.rho * free + (1.0 - ob.rho) * sup
        return total, reported, free, sup

    def logits(self, params, rows):
        X, Y, a, c, w, b = params
        P_hat = Y[rows] @ X.T + a[None, :] + c[rows][:, None]
        A = self.aggregator_input(self.P0[rows], self.obs[rows], P_hat)
        return torch_logits(A, w, b, self.objective.outputs)


@dataclass
class _Best:
    """The best validation point seen so far."""

    score: tuple[float, float] = (-np.inf, -np.inf)
    pr_auc: float | None = None
    loss: float | None = None
    state: list = field(default_factory=list)


@dataclass
class EarlyStopping:
    """Stop after ``patience`` checks without a relative improvement of more than ``tol``."""

    patience: int
    tol: float
    best: float = np.inf
    waited: int = 0

    def step(self, value: float) -> bool:
        """Record ``value``; True when training should stop."""
        if value < self.best - self.tol * abs(self.best):
            self.waited = 0
        else:
            self.waited += 1
        self.best = min(self.best, value)
        return self.waited >= self.patience


@dataclass
class AutogradSolver:
    """X, Y, a, c, w, b optimised jointly by a torch optimizer, with early stopping.

    ``validation=(rows, labels)`` holds out labeled rows (their labels are NaN in ``data``):
    after every epoch their class-weighted cross-entropy and PR-AUC are computed, and the
    parameters of the best epoch by ``validation_metric`` (the starting point counts as
    epoch 0) are restored at the end, so a larger epoch budget cannot give a worse
    validation score. Training stops after ``patience`` epochs in which the validation
    cross-entropy did not fall by more than ``tol`` (relative); without a validation set the
    training loss plays that role and the last epoch is kept.

    ``class_weight_warmup`` = W > 0: epoch ``e`` < W trains with the class weights raised to
    ``(e + 1) / (W + 1)`` (:func:`~cfensemble._problem.class_exponent`), the later epochs
    with the full weights. The warm-up epochs are neither scored nor counted: the state
    kept is the start or one of the full-weight epochs, and patience counts from the first
    of them.
    """

    latent_dim: int = 2
    max_epochs: int = 500
    lr: float = 0.01
    optimizer: str = "adam"
    device: str = "cpu"
    batch_size: int | None = None
    patience: int = 20
    tol: float = 1e-4
    validation_metric: str = "loss"
    warm_start: ALSSolver | None = None
    chunk_size: int = 16384
    callback: Callable | None = None
    class_weight_warmup: int = 0

    def initial_state(self, data: Data, objective: Objective, rng) -> State:
        if self.warm_start is None:
            return initial_state(
                data, self.latent_dim, objective.aggregator_input, rng, objective.outputs
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self.warm_start.fit(data, objective, None, rng).state

    def fit(
        self, data: Data, objective: Objective, init: State | None, rng, validation=None
    ) -> FitResult:
        torch = import_torch()
        dev = resolve_device(self.device)
        state = init if init is not None else self.initial_state(data, objective, rng)
        tp = TorchProblem(data, objective, dev, self.chunk_size)
        params = [
            tp.tensor(v).requires_grad_()
            for v in (state.X, state.Y, state.a, state.c, state.w, np.array(state.b))
        ]
        opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
        opt = opt_cls[self.optimizer](params, lr=self.lr)
        n = data.shape[0]
        generator = torch.Generator(device="cpu").manual_seed(int(rng.randint(2**31 - 1)))
        batch = n if self.batch_size is None else min(int(self.batch_size), n)

        val_rows, y_val = validation if validation is not None else (np.zeros(0, int), np.zeros(0))
        # the held-out rows count as often as their sample weights say, as in training
        w_val = None if data.sample_weight is None else data.sample_weight[val_rows]
        kappa_val = supervised_weights(y_val, data.use_class_weights, w_val)[0]
        val_rows_t = torch.as_tensor(val_rows, device=dev)
        best = _Best()

        def consider() -> float:
            """Score the current parameters on the validation rows; keep them if the best."""
            with torch.no_grad():
                z_val = tp.logits(params, val_rows_t).cpu().numpy()
            val_loss = supervised_loss(z_val, y_val, kappa_val, 0.0, np.zeros(0), 0.0)
            scores = z_val if z_val.ndim == 1 else softmax(z_val, axis=1)
            pr_auc = _pr_auc(y_val, scores, w_val)
            key = (
                (pr_auc, -val_loss) if self.validation_metric == "pr_auc" else (-val_loss, pr_auc)
            )
            if key > best.score:
                best.score, best.pr_auc, best.loss = key, float(pr_auc), val_loss
                best.state = [p.detach().clone() for p in params]
            return val_loss

        stopper = EarlyStopping(self.patience, self.tol)
        if val_rows.size:
            stopper.step(consider())
        curve: list[tuple[float, float, float]] = []
        stopped = False
        for epoch in range(self.max_epochs):
            if epoch <= self.class_weight_warmup:  # the curriculum, then the full weights
                tp.set_kappa(
                    with_class_exponent(data, class_exponent(epoch, self.class_weight_warmup))
                )
            curve.append(self._epoch(tp, params, opt, objective, n, batch, generator, dev))
            if not np.isfinite(curve[-1][0]):
                raise FloatingPointError(
                    f"the autograd trainer may have diverged at epoch {epoch + 1}; try a "
                    "smaller lr."
                )
            logger.info(
                "epoch %d: total %.6g, reconstruction %.6g, supervised %.6g",
                epoch + 1,
                *curve[-1],
            )
            if self.callback is not None:
                self.callback(epoch + 1, curve[-1])
            if epoch < self.class_weight_warmup:
                continue  # a warm-up epoch (partial weights): neither kept nor counted
            if stopper.step(consider() if val_rows.size else curve[-1][0]):
                stopped = True
                break
        if not stopped:
            warn(
                f"The autograd trainer ran max_epochs={self.max_epochs} epochs and was still "
                "improving; increase max_epochs.",
                ConvergenceWarning,
            )
        final = best.state if val_rows.size else [p.detach() for p in params]
        X, Y, a, c, w, b = (p.cpu().numpy() for p in final)
        return FitResult(
            State(X, Y, a, c, w, float(b.reshape(())) if objective.outputs == 1 else b.copy()),
            len(curve),
            np.asarray(curve),
            stopped,
            validation_pr_auc=best.pr_auc,
            validation_loss=best.loss,
        )

    def _epoch(self, tp, params, opt, objective, n, batch, generator, dev):
        """One pass over the rows; returns the mean (total, reconstruction, supervised)."""
        torch = tp.torch
        order = torch.randperm(n, generator=generator).to(dev) if batch < n else None
        sums = np.zeros(3)
        for start in range(0, n, batch):
            if order is None:
                rows, scale = slice(None), 1.0
            else:
                rows = order[start : start + batch]
                scale = n / rows.numel()
            opt.zero_grad()
            loss, reported, recon, sup = tp.losses(params, rows, scale)
            loss.backward()
            opt.step()
            if objective.positive:  # projected gradient: w >= 0
                with torch.no_grad():
                    params[4].clamp_(min=0.0)
            sums += [float(part.detach()) for part in (reported, recon, sup)]
        return tuple(sums / -(-n // batch))
