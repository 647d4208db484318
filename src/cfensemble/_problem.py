"""What is minimised, on which data: the boundary between the estimator and its solvers.

The model (row-major, as everywhere in cfensemble; the method's papers write ``R = P.T``
(m x n) and store ``X`` as d x m and ``Y`` as d x n, the transposes of ours):

* reconstruction ``P_hat[i, u] = Y[i] . X[u] + a[u] + c[i]``: instance factors ``Y``
  (n, d), classifier factors ``X`` (m, d), a bias per classifier ``a`` and per instance ``c``
  (the baseline terms of a collaborative filter);
* aggregator input ``A[i]``, one of (``aggregator_input``)
  ``"observed"``: ``P[i, u]`` where present and ``P_hat[i, u]`` where missing (the
  factorization as an imputer), ``"reconstructed"``: ``P_hat[i]`` (the original method),
  ``"both"``: the two side by side (2 m columns); with ``abstention`` = beta > 0 a missing
  entry's fill-in is ``(1 - beta) P_hat[i, u] + beta / K`` (K = 2 for two classes): moved
  toward the prediction of a classifier that abstains because it is unsure;
* aggregator ``p_i = sigmoid(A[i] . w + b)``; for K >= 3 classes ``P`` is the (n, m K)
  matrix of each classifier's K class probabilities side by side (classifier-major) and
  ``p_i = softmax(z_i)`` with ``z_ik = sum_u w_uk A[i, (u, k)] + b_k``
  (:func:`cfensemble._losses.logits`): the factorization is shared by all classes.

The objective ``L = rho * L_recon + (1 - rho) * L_sup`` with

    L_recon = [sum_iu c_iu (p_iu - P_hat_iu)^2
               + lambda_reg (sum_u n_u |x_u, a_u|^2 + sum_i n_i |y_i, c_i|^2)] / sum_iu c_iu
    L_sup   = sum_{i labeled} kappa_i l_gamma(z_i, y_i) / sum kappa_i + aggregator_l2/2 |w|^2
              + aggregator_shrinkage/2 |w/t - mean(w/t)|^2

where ``t`` is the shrinkage target (one positive number per column of ``P``, repeated per
group; all 1 by default, so the shrinkage pulls toward the simple average; see
:mod:`cfensemble._consensus`), ``n_u = sum_i c_iu`` and ``n_i = sum_u c_iu``: the ridge
grows with the observations of each factor (ALS-WR), so a row with two predictions is held
as firmly, per observation, as a row with twenty. Both parts are averages, so ``rho`` means
the same at every n.

Labels never reach the instance factors: ``(Y, c)`` minimise ``L_recon`` with label-free
confidence only, for labeled and unlabeled rows alike, so the aggregator is trained on the
same kind of input it is applied to (a new row's factors are folded in without a label). The
supervised term shapes the classifier factors ``(X, a)`` and the aggregator.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ._consensus import moments
from ._losses import class_weights
from .confidence import label_aware, resolve_confidence, strategy, uniform

LOSS_PARTS = ("total", "reconstruction", "supervised")  # the columns of a loss curve

AGGREGATOR_INPUTS = ("observed", "reconstructed", "both")


@dataclass(frozen=True)
class Objective:
    """The function a solver minimises (see the module docstring)."""

    rho: float = 0.5
    lambda_reg: float = 0.03
    focal_gamma: float = 0.0
    aggregator_l2: float = 1e-3
    positive: bool = True
    aggregator_input: str = "observed"
    train_aggregator: bool = True  # False: the mean aggregator, nothing supervised
    aggregator_shrinkage: float = 0.0
    outputs: int = 1  # logits per row: 1 (binary, sigmoid) or K >= 3 classes (softmax)
    abstention: float = 0.0  # beta: the fill-in of a missing entry moves toward 1/K by beta
    # the fill-in's label-free calibration per column (cfensemble._fill.FillMap) or None
    fill_map: object = field(default=None, compare=False)
    # what the shrinkage pulls the weights toward: (m,) > 0, one per column of P (per
    # classifier and class), or None: equal weights
    shrinkage_target: object = field(default=None, compare=False)

    @property
    def groups(self) -> int:
        """Weight groups centred by the shrinkage: observed and reconstructed for "both"."""
        return 2 if self.aggregator_input == "both" else 1

    @property
    def weight_target(self) -> np.ndarray | None:
        """The shrinkage target in the layout of the weights ``w`` (per group, classifier
        and class), or None for equal weights."""
        if self.shrinkage_target is None:
            return None
        return np.tile(np.asarray(self.shrinkage_target, dtype=np.float64), self.groups)


def supervised_weights(
    y: np.ndarray,
    use_class_weights: bool,
    sample_weight: np.ndarray | None = None,
    cost: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(kappa, class_kappa)`` of labeled rows with classes ``y``: the class weights
    (:func:`~cfensemble._losses.class_weights`, counted by ``sample_weight``) and
    ``kappa``, them times the sample weights and the costs (None: 1), the rows' weights in
    the supervised loss."""
    class_kappa = class_weights(y, use_class_weights, sample_weight)
    kappa = class_kappa
    for weight in (sample_weight, cost):
        if weight is not None:
            kappa = kappa * weight
    return kappa, class_kappa


def class_exponent(step: int, warmup: int) -> float:
    """The power of the class weights at aggregator update ``step`` (0, 1, ...) of a
    curriculum of ``warmup`` updates: ``(step + 1) / (warmup + 1)``, then 1 from update
    ``warmup`` on (``warmup = 0``: always 1, the fixed class weights). A negative step (an
    iteration before the aggregator's first update) has the power of step 0."""
    return 1.0 if step >= warmup else (max(step, 0) + 1) / (warmup + 1)


def with_class_exponent(data, alpha: float):
    """``data`` with its labeled rows' class weights raised to ``alpha``: ``kappa`` is
    ``class_kappa ** alpha`` times the sample weights and costs (which keep their full
    size). A shallow copy sharing everything else (the arrays, the device copies); ``data``
    itself for ``alpha = 1``. Works for any data with ``kappa`` and ``class_kappa``
    (:class:`Data`, the Dask data)."""
    if alpha == 1.0:
        return data
    out = copy.copy(data)
    out.kappa = data.kappa * data.class_kappa ** (alpha - 1.0)
    return out


def unit_confidence(P: np.ndarray, y: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
    """The confidence source of ``confidence="uniform"`` without the label-aware boost:
    ``(C, C_free)``, both 1 on the observed entries (the same array)."""
    free = uniform(P)
    return free, free


@dataclass
class Block:
    """A contiguous block of rows with what the kernels need, computed for this block only."""

    rows: slice
    P0: np.ndarray  # (k, m), P with missing entries set to 0
    observed: np.ndarray  # (k, m) bool
    C: np.ndarray  # (k, m) confidence of the classifier step (label-aware where asked)
    C_free: np.ndarray  # (k, m) label-free confidence of the instance step and fold-in
    weight: np.ndarray | None = None  # (k,) the rows' sample weights (already in C, C_free)


@dataclass
class Data:
    """The data of one fit.

    ``P`` holds NaN for missing predictions; ``y`` holds the class index (0, 1, ...) of the
    labeled rows the fit may use and NaN for unlabeled rows *and* for rows held out for
    validation. ``sample_weight`` (n,) counts each row that many times: it multiplies the
    row's confidences (so the reconstruction and the classifier step) and its weight in
    the class counts and in the supervised loss; an integer weight equals that many copies
    of the row. ``cost`` (n,) multiplies the supervised weight only (instance-dependent
    costs). The labeled rows' weights ``kappa`` are the class weights times both.
    Confidence is computed per block of rows by ``confidence(P_block, y_block, rows) ->
    (C, C_free)``, never stored for all n.
    """

    P: np.ndarray
    y: np.ndarray
    confidence: Callable[[np.ndarray, np.ndarray, slice], tuple[np.ndarray, np.ndarray]]
    use_class_weights: bool = True
    sample_weight: np.ndarray | None = None  # (n,) > 0, a row's multiplicity
    cost: np.ndarray | None = None  # (n,), multiplies the supervised weight only
    # arrays a kernel keeps on its device for the fit (cfensemble._kernels_torch)
    resident: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    labeled: np.ndarray = field(init=False)
    y_labeled: np.ndarray = field(init=False)
    kappa: np.ndarray = field(init=False)
    class_kappa: np.ndarray = field(init=False)  # the class-weight part of kappa

    def __post_init__(self) -> None:
        self.labeled = np.flatnonzero(~np.isnan(self.y))
        self.y_labeled = self.y[self.labeled]
        rows = self.labeled
        self.kappa, self.class_kappa = supervised_weights(
            self.y_labeled,
            self.use_class_weights,
            None if self.sample_weight is None else self.sample_weight[rows],
            None if self.cost is None else self.cost[rows],
        )

    @property
    def shape(self) -> tuple[int, int]:
        return self.P.shape

    @property
    def unit_confidence(self) -> bool:
        """Confidence 1 on every observed entry in both steps, rows unweighted: a kernel
        may then derive the confidences from ``P`` itself (:func:`unit_confidence`)."""
        return self.confidence is unit_confidence and self.sample_weight is None

    def blocks(self, size: int) -> Iterator[Block]:
        """Row blocks of at most ``size`` rows, in order."""
        n = self.P.shape[0]
        for start in range(0, n, size):
            rows = slice(start, min(start + size, n))
            P = self.P[rows]
            observed = ~np.isnan(P)
            C, C_free = self.confidence(P, self.y[rows], rows)
            weight = None if self.sample_weight is None else self.sample_weight[rows]
            if weight is not None:
                C, C_free = C * weight[:, None], C_free * weight[:, None]
            yield Block(rows, np.where(observed, P, 0.0), observed, C, C_free, weight)

    def row_sample(self, size: int, rng) -> tuple[np.ndarray, np.ndarray | None]:
        """``(P, sample_weight)`` of the rows :func:`sample_rows` draws (the estimator's
        ``Data`` holds the rows of weight > 0 only; the weights are None without them)."""
        rows = sample_rows(self.P.shape[0], size, rng)
        weight = None if self.sample_weight is None else self.sample_weight[rows]
        return self.P[rows], weight

    def consensus_moments(self, outputs: int, size: int = 16384) -> np.ndarray:
        """:func:`cfensemble._consensus.moments` of all rows, added over blocks of rows; an
        entry of label-free confidence 0 counts as missing (its value cannot matter)."""
        total = np.zeros((6, self.P.shape[1]))
        for block in self.blocks(size):
            used = block.observed & (block.C_free > 0)
            total += moments(np.where(used, self.P[block.rows], np.nan), outputs, block.weight)
        return total

    def labeled_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """``(P0, observed)`` of the labeled rows (made on demand: not kept during a fit)."""
        P = self.P[self.labeled]
        observed = ~np.isnan(P)
        np.copyto(P, 0.0, where=~observed)
        return P, observed


@dataclass
class State:
    """The parameters: factors, biases and the aggregator."""

    X: np.ndarray  # (m, d)
    Y: np.ndarray  # (n, d)
    a: np.ndarray  # (m,)
    c: np.ndarray  # (n,)
    w: np.ndarray  # (m,) or (2 m,) for aggregator_input="both"
    b: float | np.ndarray  # an array of K intercepts for K >= 3 classes

    def copy(self) -> State:
        b = self.b.copy() if isinstance(self.b, np.ndarray) else self.b
        return State(self.X.copy(), self.Y.copy(), self.a.copy(), self.c.copy(), self.w.copy(), b)


@dataclass
class FitResult:
    """What every solver returns, so the estimator does not care which one ran."""

    state: State
    n_iter: int
    loss_curve: np.ndarray  # (n_iter, 3): the columns LOSS_PARTS
    converged: bool
    validation_pr_auc: float | None = None
    validation_loss: float | None = None
    deferred: bool = False  # the factorization is left for later (cfensemble._deferred)


def sample_rows(n: int, size: int, rng) -> np.ndarray:
    """Positions of the rows a test looks at: all ``n`` in order, or ``size`` of them drawn
    by ``rng`` without replacement, in order (the same draw in memory and on Dask)."""
    return np.arange(n) if n <= size else np.sort(rng.choice(n, size, replace=False))


def reconstruct(Y: np.ndarray, X: np.ndarray, a: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``P_hat = Y X^T + a + c`` for a block of rows (``Y``, ``c``) and all classifiers; a
    per-class K-class model's 3-D ``Y`` goes to :func:`reconstruct_per_class`."""
    if Y.ndim == 3:
        return reconstruct_per_class(Y, X, a, c)
    out = Y @ X.T
    out += a[None, :]
    out += c[:, None]
    return out


def reconstruct_per_class(
    Y: np.ndarray, X: np.ndarray, a: np.ndarray, c: np.ndarray
) -> np.ndarray:
    """``P_hat`` of K separate factorizations, one per class, in the (n, m K) layout.

    ``Y`` (k, K, d) and ``c`` (k, K) are a block of rows' factors and biases per class;
    ``X`` (m K, d) and ``a`` (m K,) the classifiers', row ``u K + k`` for class ``k``:
    ``P_hat[i, u K + k] = Y[i, k] . X[u K + k] + a[u K + k] + c[i, k]``.
    """
    rows, K, d = Y.shape
    m = X.shape[0] // K
    out = np.einsum("ikd,ukd->iuk", Y, X.reshape(m, K, d))
    out += a.reshape(1, m, K)
    out += c[:, None, :]
    return out.reshape(rows, m * K)


def aggregator_input(
    kind: str,
    P0: np.ndarray,
    observed: np.ndarray,
    P_hat: np.ndarray,
    abstention: float = 0.0,
    outputs: int = 1,
    fill_map=None,
):
    """The aggregator's input rows for ``kind`` in ``AGGREGATOR_INPUTS``.

    A missing entry's fill-in is ``(1 - abstention) g(P_hat) + abstention / K`` (``K`` =
    ``max(outputs, 2)``; ``g`` = ``fill_map``, a :class:`cfensemble._fill.FillMap`, or the
    identity) in ``"observed"`` and in the observed half of ``"both"``; ``"reconstructed"``
    is ``P_hat`` unchanged. For ``"observed"`` the result is written into ``P_hat`` (no
    copy): pass a temporary.
    """
    if kind == "reconstructed":
        return P_hat
    filled = P_hat if kind == "observed" else P_hat.copy()
    if fill_map is not None:
        fill_map(filled, where=~observed)
    if abstention:
        filled *= 1.0 - abstention
        filled += abstention / max(outputs, 2)
    np.copyto(filled, P0, where=observed)
    return filled if kind == "observed" else np.hstack([filled, P_hat])


def input_weight(
    kind: str, w: np.ndarray, observed: np.ndarray, u: int, abstention: float = 0.0
) -> np.ndarray:
    """``G[:, u] = dz / dP_hat[:, u]``: how the logits move with column ``u`` of the
    reconstruction (``observed``: the rows' mask, shape (k, m))."""
    m = observed.shape[1]
    if kind == "reconstructed":
        return np.full(observed.shape[0], w[u])
    missing_weight = np.where(observed[:, u], 0.0, (1.0 - abstention) * w[u])
    return missing_weight if kind == "observed" else missing_weight + w[m + u]


def n_inputs(kind: str, m: int) -> int:
    """Length of ``w`` for an aggregator input kind."""
    return 2 * m if kind == "both" else m


def confidence_source(confidence, P, y, use_label_aware, alpha, n_classes: int = 2) -> Callable:
    """``f(P_block, y_block, rows) -> (C, C_free)`` for :class:`~cfensemble._problem.Data`.

    ``C_free`` is the base confidence without labels (instance step, fold-in, reported
    ``L_recon``); ``C`` adds the label-aware boost on the labeled rows (classifier step).
    A strategy name is evaluated per block; a callable is called once on the whole ``P``
    (with all labels NaN for ``C_free``) and an array is sliced. Both matrices are divided
    by a constant (the largest base confidence, and ``1 + alpha`` for the boost): each step
    is invariant to the scale of its confidence, and huge user values cannot overflow.
    """
    if isinstance(confidence, str) and confidence == "uniform" and not use_label_aware:
        return unit_confidence  # Data.unit_confidence: kernels may read P alone
    if isinstance(confidence, str):
        base_fn = strategy(confidence)  # the built-in strategies do not read labels

        def base(Pb, yb, rows):
            free = base_fn(Pb, None)
            return free, free

    else:
        unlabeled = np.full(P.shape[0], np.nan)
        free_full = resolve_confidence(confidence, P, unlabeled)
        with_labels = (
            free_full if not callable(confidence) else resolve_confidence(confidence, P, y)
        )
        scale = max(float(np.max(free_full)), float(np.max(with_labels)), 1e-300)
        if not np.any(free_full > 0):
            raise ValueError("confidence is 0 for every observed entry of P; nothing to fit.")
        free_full, with_labels = free_full / scale, with_labels / scale

        def base(Pb, yb, rows):
            return free_full[rows], with_labels[rows]

    def source(Pb, yb, rows):
        free_base, labeled_base = base(Pb, yb, rows)
        missing = np.isnan(Pb)
        free = np.where(missing, 0.0, free_base)
        if use_label_aware:
            boosted = label_aware(Pb, yb, base=labeled_base, alpha=alpha, n_classes=n_classes)
            return boosted / (1.0 + alpha), free
        if labeled_base is free_base:
            return free, free  # the same array: the steps only read it
        return np.where(missing, 0.0, labeled_base), free

    return source


def rank_zero(n_rows: int, n_columns: int, outputs: int, per_class: bool) -> State:
    """Zero factors and biases of dimension 0: a state whose reconstruction is 0."""
    shape = (n_rows, outputs) if per_class else (n_rows,)
    Y, c = np.zeros((*shape, 0)), np.zeros(shape)
    return State(np.zeros((n_columns, 0)), Y, np.zeros(n_columns), c, np.empty(0), 0.0)
