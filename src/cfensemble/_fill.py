"""The fill-in of a missing prediction, calibrated per classifier column without labels.

The factorization's reconstruction ``P_hat`` is linear in its factors; base classifiers'
probabilities are not linear in one another (a tree's 0/1 leaves beside a logistic
model's smooth scores, calibrations that differ), and the ridge pulls the fill-in toward
the column's mean. Both can be measured where the truth is known: on the rows where
classifier ``u`` *is* present, fold the row in without ``u`` (as the test of
:mod:`cfensemble._abstention` does) and compare that out-of-sample reconstruction with
``u``'s observed prediction. :func:`fit_fill_map` fits, per column, the isotonic
regression of the observed prediction on that reconstruction (monotone: it reorders no
two rows' fill-ins of the same column), and :class:`FillMap` applies it to the fill-in of
the missing entries, ``g_u(P_hat_iu)``. Outside the range of reconstructions it was
fitted on, it continues with slope 1 from its end (clipping there, as isotonic regression
does by default, flattened the fill-in of every row beyond it: under segment-wise
missingness, one segment's rows calibrate a column that is missing in the others), and
its values are kept in [0, 1] (only the part of the continuation beyond a probability's
range is cut).

Under missingness at random given the other predictions, ``g_u(P_hat)`` estimates
``E[p_iu | the row's other predictions]`` through the reconstruction; a reject option
(missing *because* unsure) breaks that assumption, which is what ``abstention`` is for
(it blends the calibrated fill-in toward 1/K). No label is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

MIN_ROWS = 5  # a column is calibrated with at least this many observed rows to fit on
# Reconstructions closer than this are one point of the fit: the block sums of the
# solver round differently with the chunk size, and a map fitted through two knots that
# differ by rounding alone (or that tells all-equal from all-equal-but-rounding) would
# make the result depend on it.
TIE_TOL = 1e-9


def leave_one_out(
    P: np.ndarray, reconstruct_without: Callable[[np.ndarray], np.ndarray], columns: int = 1
) -> np.ndarray:
    """``R[i, j]``: the reconstruction of entry ``(i, j)`` from row ``i`` without the
    classifier of column ``j`` (its ``columns`` class columns masked), NaN where the row
    has no other prediction.

    ``P`` (k, m columns) with NaN for missing entries; ``reconstruct_without(P_masked)``
    folds the rows of ``P_masked`` in with the fitted classifier factors and returns their
    reconstruction.
    """
    R = np.full(P.shape, np.nan)
    for start in range(0, P.shape[1], columns):
        own = slice(start, start + columns)
        masked = P.copy()
        masked[:, own] = np.nan
        rows = ~np.isnan(masked).all(axis=1)
        if rows.any():
            R[rows, own] = reconstruct_without(masked[rows])[:, own]
    return R


@dataclass(frozen=True)
class FillMap:
    """Per column ``j``, a piecewise-linear monotone map through the knots
    ``(x[j, :n[j]], y[j, :n[j]])``, continued with slope 1 beyond its first and last knot;
    ``n[j] = 0``: the identity (the column was not calibrated). Its values are kept in
    [0, 1]: the fill-in stands for a probability."""

    x: np.ndarray  # (columns, knots), NaN-padded
    y: np.ndarray
    n: np.ndarray  # (columns,) knots used

    def __call__(self, P_hat: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """The mapped copy of ``P_hat``; with a boolean ``where`` (its shape), only those
        entries are mapped, in place (the others are left as they are)."""
        out = np.array(P_hat, dtype=np.float64, copy=True) if where is None else P_hat
        for j in np.flatnonzero(self.n):
            x, y = self.x[j, : self.n[j]], self.y[j, : self.n[j]]
            rows = slice(None) if where is None else where[:, j]
            v = out[rows, j]
            out[rows, j] = np.interp(v, x, y) + np.minimum(v - x[0], 0) + np.maximum(v - x[-1], 0)
        np.clip(out, 0.0, 1.0, out=out, where=True if where is None else where)
        return out


def fit_fill_map(P: np.ndarray, R: np.ndarray, weight: np.ndarray | None = None) -> FillMap:
    """The isotonic regression of each column's observed ``P`` on its leave-one-out
    reconstruction ``R`` (:func:`leave_one_out`), over the rows where both exist, each row
    counted ``weight`` times (sample weights; None: once); a column with fewer than
    ``MIN_ROWS`` such rows (counted so), or one whose reconstructions are all equal (to
    ``TIE_TOL``), keeps the identity."""
    weight = np.ones(P.shape[0]) if weight is None else weight
    knots = []
    for j in range(P.shape[1]):
        rows = ~np.isnan(P[:, j]) & ~np.isnan(R[:, j]) & (weight > 0)
        r, p, w = _pool_ties(R[rows, j], P[rows, j], weight[rows])
        if w.sum() < MIN_ROWS or r.size < 2:
            knots.append((np.empty(0), np.empty(0)))
            continue
        iso = IsotonicRegression().fit(r, p, sample_weight=w)
        knots.append((iso.X_thresholds_, iso.y_thresholds_))
    n = np.array([k[0].size for k in knots], dtype=np.int64)
    x = np.full((P.shape[1], max(int(n.max(initial=0)), 1)), np.nan)
    y = np.full_like(x, np.nan)
    for j, (kx, ky) in enumerate(knots):
        x[j, : kx.size], y[j, : ky.size] = kx, ky
    return FillMap(x, y, n)


def _pool_ties(r: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, ...]:
    """Runs of sorted ``r`` with gaps of at most ``TIE_TOL`` as one point each: the
    weighted means of ``r`` and ``p`` and the summed weight (exact ties are what
    IsotonicRegression pools itself). Weights are positive."""
    if r.size == 0:
        return r, p, w
    order = np.argsort(r, kind="stable")
    r, p, w = r[order], p[order], w[order]
    starts = np.flatnonzero(np.r_[True, np.diff(r) > TIE_TOL])
    total = np.add.reduceat(w, starts)
    return np.add.reduceat(w * r, starts) / total, np.add.reduceat(w * p, starts) / total, total
