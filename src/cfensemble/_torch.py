"""Autograd trainer: X, Y, w and b optimised jointly on the combined objective with PyTorch.

The loss is the same function as :mod:`cfensemble._losses` (a parity test checks the two
agree to 1e-10 in float64): ``rho * L_recon + (1 - rho) * L_sup``, with the real focal loss
``-(1 - p_t)^gamma log p_t`` computed from logits and class weights, so both reach every
parameter through autograd. PyTorch is imported lazily: ``import cfensemble`` works without it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score

from ._als import FitResult, Problem, fit_als, initial_factors
from ._losses import class_weights, supervised_loss
from .aggregators import WeightedAggregator

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


def torch_reconstruction(C, P0, X, Y, lambda_reg, total_c, scale=1.0):
    """``L_recon`` of :mod:`cfensemble._losses` in torch, for all rows or a batch of rows.

    For a batch, ``scale = n / batch_size`` makes the batch sum an unbiased estimate of the
    full sum (``total_c`` is the total confidence of the whole matrix).
    """
    resid = P0 - Y @ X.T
    data = scale * (C * resid * resid).sum()
    ridge = lambda_reg * ((X * X).sum() + scale * (Y * Y).sum())
    return (data + ridge) / total_c


def torch_supervised(z, y, kappa, gamma, w, l2):
    """``L_sup`` in torch: class-weighted focal loss of the logits ``z`` plus the ridge on w."""
    torch = import_torch()
    ridge = 0.5 * l2 * (w * w).sum()
    if z.numel() == 0:
        return ridge
    t = torch.where(y == 1, z, -z)
    softplus = torch.nn.functional.softplus
    # (1 - p_t)^gamma = exp(-gamma softplus(t)) and -log p_t = softplus(-t)
    loss = torch.exp(-gamma * softplus(t)) * softplus(-t)
    return (kappa * loss).sum() / kappa.sum() + ridge


def torch_objective(C, P0, X, Y, w, b, labeled, y, kappa, rho, lambda_reg, gamma, l2):
    """The combined objective in torch on the whole matrix: (total, reconstruction, supervised).

    Equals :func:`cfensemble._als.objective` for the same parameters.
    """
    recon = torch_reconstruction(C, P0, X, Y, lambda_reg, C.sum())
    sup = torch_supervised((Y[labeled] @ X.T) @ w + b, y, kappa, gamma, w, l2)
    return rho * recon + (1.0 - rho) * sup, recon, sup


def _split_validation(problem: Problem, fraction: float, rng: np.random.RandomState):
    """Stratified hold-out of labeled rows (positions into ``problem.labeled``)."""
    if fraction == 0:
        return np.arange(problem.y.size), np.array([], dtype=int)
    val = []
    for cls in (0, 1):
        members = np.flatnonzero(problem.y == cls)
        k = round(fraction * members.size)
        if members.size < 2 or k == 0:
            return np.arange(problem.y.size), np.array([], dtype=int)
        val.append(rng.permutation(members)[: min(k, members.size - 1)])
    val_pos = np.sort(np.concatenate(val))
    train_pos = np.setdiff1d(np.arange(problem.y.size), val_pos)
    return train_pos, val_pos


def fit_torch(
    problem: Problem,
    *,
    latent_dim: int,
    rho: float,
    lambda_reg: float,
    aggregator_l2: float,
    aggregator_positive: bool,
    use_class_weights: bool,
    focal_gamma: float,
    max_epochs: int,
    lr: float,
    optimizer: str,
    device: str,
    batch_size: int | None,
    patience: int,
    validation_fraction: float,
    tol: float,
    als_warm_start: bool,
    als_options: dict,
    rng: np.random.RandomState,
    validation_metric: str,
) -> FitResult:
    """Optimise X, Y, w, b jointly with a torch optimizer; early stopping on held-out labels.

    A ``validation_fraction`` of the labeled rows (stratified) is held out: their labels are
    not used in training (their rows still shape the factorization). After every epoch the
    validation class-weighted cross-entropy and PR-AUC are computed; the parameters of the
    best epoch by ``validation_metric`` ("loss" or "pr_auc"; the starting point counts as
    epoch 0) are restored at the end, so a larger epoch budget cannot give a worse
    validation score. Training stops after ``patience`` epochs in which the (smooth)
    class-weighted validation cross-entropy did not fall by more than ``tol`` (relative)
    below its best; without a validation set, the training loss plays that role and the
    last epoch is kept.
    """
    torch = import_torch()
    dev = resolve_device(device)
    n, m = problem.C.shape
    train_pos, val_pos = _split_validation(problem, validation_fraction, rng)
    train_rows = problem.labeled[train_pos]
    y_train = problem.y[train_pos]
    kappa_train = class_weights(y_train, use_class_weights)

    if als_warm_start:
        train_problem = Problem(
            C=problem.C,
            P0=problem.P0,
            CP=problem.CP,
            labeled=train_rows,
            y=y_train,
            kappa=kappa_train,
        )
        aggregator = WeightedAggregator(m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = fit_als(
                train_problem, aggregator, latent_dim=latent_dim, rng=rng, **als_options
            )
        X0, Y0, w0, b0 = start.X, start.Y, start.w, start.b
    else:
        X0, Y0 = initial_factors(problem, latent_dim, rng)  # w starts at 1/m >= 0
        w0, b0 = np.full(m, 1.0 / m), 0.0

    def tensor(a):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=dev)

    C, P0 = tensor(problem.C), tensor(problem.P0)
    total_c = float(problem.C.sum())
    X = tensor(X0).requires_grad_()
    Y = tensor(Y0).requires_grad_()
    w = tensor(w0).requires_grad_()
    b = torch.tensor(float(b0), dtype=torch.float64, device=dev, requires_grad=True)
    params = [X, Y, w, b]
    opt_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    opt = opt_cls[optimizer](params, lr=lr)

    is_train_labeled = np.zeros(n, dtype=bool)
    is_train_labeled[train_rows] = True
    label_of = np.zeros(n)
    label_of[train_rows] = y_train
    kappa_of = np.zeros(n)
    kappa_of[train_rows] = kappa_train
    labeled_mask_t = torch.as_tensor(is_train_labeled, device=dev)
    label_t, kappa_t = tensor(label_of), tensor(kappa_of)
    val_rows = problem.labeled[val_pos]
    y_val = problem.y[val_pos]
    val_rows_t = torch.as_tensor(val_rows, device=dev)

    generator = torch.Generator(device="cpu").manual_seed(int(rng.randint(2**31 - 1)))
    batch = n if batch_size is None else min(int(batch_size), n)
    gamma = float(focal_gamma)

    curve: list[tuple[float, float, float]] = []
    best_loss = np.inf
    kappa_val = class_weights(y_val, use_class_weights)
    waited = 0
    stopped_early = False
    best = _Best()

    def consider():
        """Score the current parameters on the validation rows; keep them if the best."""
        with torch.no_grad():
            z_val = ((Y[val_rows_t] @ X.T) @ w + b).cpu().numpy()
        val_loss = _weighted_bce(z_val, y_val, kappa_val)
        pr_auc = average_precision_score(y_val, z_val)
        score = (pr_auc, -val_loss) if validation_metric == "pr_auc" else (-val_loss, pr_auc)
        if score > best.score:
            best.score, best.pr_auc, best.loss = score, float(pr_auc), val_loss
            best.state = [p.detach().clone() for p in params]
        return val_loss

    if val_rows.size:
        best_loss = consider()  # the starting point (e.g. the ALS solution) is a candidate
    for epoch in range(max_epochs):
        order = torch.randperm(n, generator=generator).to(dev) if batch < n else None
        sums = np.zeros(3)
        for start_row in range(0, n, batch):
            if order is None:
                rows, scale = slice(None), 1.0
            else:
                rows = order[start_row : start_row + batch]
                scale = n / rows.numel()
            opt.zero_grad()
            Yb = Y[rows]
            lab = torch.nonzero(labeled_mask_t[rows]).flatten()
            recon = torch_reconstruction(C[rows], P0[rows], X, Yb, lambda_reg, total_c, scale)
            z = (Yb[lab] @ X.T) @ w + b
            sup = torch_supervised(
                z, label_t[rows][lab], kappa_t[rows][lab], gamma, w, aggregator_l2
            )
            loss = rho * recon + (1.0 - rho) * sup
            loss.backward()
            opt.step()
            if aggregator_positive:  # projected gradient: w >= 0
                with torch.no_grad():
                    w.clamp_(min=0.0)
            sums += [float(part.detach()) for part in (loss, recon, sup)]
        n_batches = -(-n // batch)
        curve.append(tuple(sums / n_batches))
        if not np.isfinite(curve[-1][0]):
            raise FloatingPointError(
                f"the autograd trainer may have diverged at epoch {epoch + 1}; try a smaller lr."
            )
        logger.info(
            "epoch %d: total %.6g, reconstruction %.6g, supervised %.6g", epoch + 1, *curve[-1]
        )
        if val_rows.size:
            val_loss = consider()
            improved = val_loss < best_loss - tol * abs(best_loss)
            best_loss = min(best_loss, val_loss)
        else:
            improved = curve[-1][0] < best_loss - tol * abs(best_loss)
            best_loss = min(best_loss, curve[-1][0])
        if improved:
            waited = 0
        else:
            waited += 1
            if waited >= patience:
                stopped_early = True
                break
    best_state = best.state if val_rows.size else [p.detach() for p in params]
    if not stopped_early:
        warnings.warn(
            f"The autograd trainer ran max_epochs={max_epochs} epochs and was still improving; "
            "increase max_epochs.",
            ConvergenceWarning,
            stacklevel=3,
        )
    Xf, Yf, wf, bf = (p.cpu().numpy() for p in best_state)
    return FitResult(
        X=Xf,
        Y=Yf,
        w=wf,
        b=float(bf),
        n_iter=len(curve),
        loss_curve=np.asarray(curve),
        converged=stopped_early,
        validation_pr_auc=best.pr_auc,
        validation_loss=best.loss,
    )


@dataclass
class _Best:
    """The best validation point seen so far."""

    score: tuple[float, float] = (-np.inf, -np.inf)
    pr_auc: float | None = None
    loss: float | None = None
    state: list = field(default_factory=list)


def _weighted_bce(z, y, kappa):
    return supervised_loss(z, y, kappa, 0.0, np.zeros(0), 0.0)
