"""A label-free shrinkage target: how well each classifier agrees with the others.

``aggregator_shrinkage`` pulls the aggregator's weights toward weights proportional to a
target ``t`` (:func:`cfensemble._losses.aggregator_penalty`): all 1 (the simple average)
for ``shrinkage_target="equal"``; for "consensus" (the default) each classifier's target is
its factor-score weight in a one-factor model of the predictions, with the consensus of the
*others* standing in for the factor: with ``r_u`` the correlation of classifier ``u``'s
observed predictions with the mean of the other classifiers' available predictions on the
same rows and ``s_u`` the spread of ``u``'s predictions,

    t_u  proportional to  (r_u / (s_u (1 - r_u^2))) ** CONSENSUS_EXPONENT

(``r_u`` clipped to [1e-3, 0.99]; a classifier whose correlation cannot be computed, or
whose raw weight is below 1e-3 of the largest, is held at that floor). A classifier that
tracks what the others agree on, with little noise of its own, is pulled toward a larger
weight: on base models of clearly different quality the simple average is a poor centre to
shrink toward. The exponent tempers the spread of the raw weights (correlated errors
inflate the agreement of similar models); a study (the docs' "Design decisions") measured 1/3
against 0.2 ... 1. For K >= 3 classes each class column is compared with the others' same
class column, so the target is per classifier and class. The target uses ``P`` only, never
the labels: it is computed once per fit from all of its rows (weighted by
``sample_weight``; an entry of label-free confidence 0 counts as missing).

Everything comes from per-column sums over rows (:func:`moments`), so a row-chunked fit
adds the chunks' moments (:mod:`cfensemble.dask`) and gets the same target.
"""

from __future__ import annotations

import numpy as np

CONSENSUS_EXPONENT = 1.0 / 3.0
SEPARATION_EXPONENT = 2.0
SEPARATION_MIN_LABELED = 20  # labeled rows of the class, at least
_MOMENTS = 6  # count, sum x, sum z, sum x^2, sum z^2, sum x z


def moments(P: np.ndarray, outputs: int = 1, weight: np.ndarray | None = None) -> np.ndarray:
    """Per column of ``P`` (n, m K; NaN missing), the weighted sums over the rows where it
    and at least one other classifier predict, of 1, ``x``, ``z``, ``x^2``, ``z^2`` and
    ``x z``: ``x`` the column centred at 1/2, ``z`` the mean of the other classifiers'
    same-class columns there (centred too). Shape (6, m K); add them over row blocks."""
    n = P.shape[0]
    k = max(outputs, 1)
    x = P.reshape(n, -1, k) - 0.5
    observed = ~np.isnan(x)
    x = np.where(observed, x, 0.0)
    count = observed.sum(axis=1, keepdims=True)  # (n, 1, K) classifiers per row and class
    total = x.sum(axis=1, keepdims=True)
    others = count - observed
    use = observed & (others > 0)
    z = np.where(use, (total - x) / np.maximum(others, 1), 0.0)
    w = use * (1.0 if weight is None else weight[:, None, None])
    wx, wz = w * x, w * z  # one product at a time: a few (n, m, K) arrays at most
    sums = [w.sum(axis=0), wx.sum(axis=0), wz.sum(axis=0)]
    sums += [(wx * x).sum(axis=0), (wz * z).sum(axis=0), (wx * z).sum(axis=0)]
    return np.stack(sums).reshape(_MOMENTS, -1)


def consensus_target(sums: np.ndarray, outputs: int = 1) -> np.ndarray:
    """The target per column from the summed :func:`moments`, mean 1 within each class;
    shape (m K,)."""
    count, sx, sz, sxx, szz, sxz = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, mz = sx / count, sz / count
        var_x, var_z = sxx / count - mx * mx, szz / count - mz * mz
        r = (sxz / count - mx * mz) / np.sqrt(var_x * var_z)
        valid = (count > 2) & (var_x > 0) & (var_z > 0) & np.isfinite(r)
        r = np.clip(np.where(valid, r, 1e-3), 1e-3, 0.99)
        raw = np.where(valid, r / (np.sqrt(np.where(valid, var_x, 1.0)) * (1 - r * r)), 0.0)
    k = max(outputs, 1)
    raw = raw.reshape(-1, k)
    largest = raw.max(axis=0)
    raw = np.where(largest > 0, np.maximum(raw, 1e-3 * largest), 1.0)  # none valid: equal
    return normalised(raw**CONSENSUS_EXPONENT, k)


def normalised(target: np.ndarray, outputs: int = 1) -> np.ndarray:
    """``target`` (per column, m K; or (m, K)) floored at 1e-3 of its largest and scaled
    to mean 1, within each class; shape (m K,)."""
    t = np.asarray(target, dtype=np.float64).reshape(-1, max(outputs, 1))
    t = np.maximum(t, 1e-3 * t.max(axis=0))
    return (t / t.mean(axis=0)).reshape(-1)


def check_target(target, n_columns: int, outputs: int = 1) -> np.ndarray:
    """A user's ``shrinkage_target`` array: finite and > 0, one per classifier (or per
    classifier and class); returned per column, mean 1 within each class."""
    k = max(outputs, 1)
    m = n_columns // k
    t = np.asarray(target, dtype=np.float64)
    if t.ndim != 1 or t.size not in (m, n_columns):
        raise ValueError(
            "shrinkage_target must be 'separation', 'consensus', 'equal' or an array of one "
            f"positive number per classifier (shape ({m},)); got shape {t.shape}."
        )
    if not np.all(np.isfinite(t)) or not np.all(t > 0):
        raise ValueError("shrinkage_target must hold finite numbers > 0 (one per classifier).")
    t = np.repeat(t, k) if t.size == m and k > 1 else t
    t = t.reshape(-1, k)
    return (t / t.mean(axis=0)).reshape(-1)


def separation_factor(
    P0: np.ndarray,
    observed: np.ndarray,
    y: np.ndarray,
    outputs: int = 1,
    weight: np.ndarray | None = None,
) -> np.ndarray:
    """What the labeled rows add to the consensus (``shrinkage_target="separation"``): per
    column, its class separation relative to the other classifiers', shrunk by how much
    of their spread is sampling noise.

    For the column of classifier ``u`` and class ``k`` (the positive class for two
    classes), on the labeled rows where ``u`` predicts: ``d_u = (mean over the rows of
    class k - mean over the other rows) / pooled within-class sd`` (a row counted
    ``weight`` times). Sampling noise alone spreads the ``d_u`` of equally good
    classifiers by ``trace(H V) / (m - 1)``, ``V`` the covariance of the estimates (from
    the within-class covariances of the columns, to first order) and ``H`` the centring
    matrix; the part of their observed spread ``s^2`` above it is real. So each ``d_u``
    is shrunk toward their mean ``d̄`` by the share ``max(s^2 - noise, 0) / s^2``
    (James-Stein), and the factor is ``(d̃_u / d̄) ** SEPARATION_EXPONENT`` (floored at
    1e-3): 1 everywhere for classifiers the labels cannot tell apart.

    ``P0`` (n_L, m K) holds the labeled rows with missing entries 0, ``observed`` their
    mask, ``y`` their class indices. A class with fewer than ``SEPARATION_MIN_LABELED``
    labeled rows (weighted) in it or outside it, fewer than 2 columns with 2 labeled rows
    on either side, or a mean separation <= 0 gets factor 1; so does a column constant on
    the labeled rows. Returns the factor, shape (m K,).
    """
    k = max(outputs, 1)
    n_columns = P0.shape[1]
    factor = np.ones(n_columns)
    w = np.ones(P0.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    for c in range(k):
        inside = y == (1 if k == 1 else c)
        if min(w[inside].sum(), w[~inside].sum()) < SEPARATION_MIN_LABELED:
            continue
        columns = np.arange(c, n_columns, k)
        x, seen = P0[:, columns], observed[:, columns]
        count, mean, centred, squares = [], [], [], []
        for group in (inside, ~inside):
            wg = np.where(seen & group[:, None], w[:, None], 0.0)
            n = wg.sum(axis=0)
            mu = (wg * x).sum(axis=0) / np.maximum(n, 1e-300)
            e = np.where(wg > 0, x - mu, 0.0)
            count.append(n)
            mean.append(mu)
            centred.append(e)
            squares.append((wg * e * e).sum(axis=0))
        n_in, n_out = count
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.sqrt((squares[0] + squares[1]) / (n_in + n_out - 2))
        valid = (n_in >= 2) & (n_out >= 2) & (sd > 1e-12)
        if valid.sum() < 2:
            continue
        d = (mean[0] - mean[1])[valid] / sd[valid]
        if d.mean() <= 0:
            continue
        # the covariance of each side's estimated means: sum_i w_i e_iu e_iv / (n_u n_v),
        # times n / (n - 1) for the centring
        V = np.zeros((d.size, d.size))
        for e, n in zip(centred, count, strict=True):
            e = e[:, valid] * np.sqrt(w)[:, None] / np.sqrt(n[valid] * (n[valid] - 1))
            V += e.T @ e
        V /= np.outer(sd[valid], sd[valid])
        spread = d.var(ddof=1)
        noise = (np.trace(V) - V.sum() / d.size) / (d.size - 1)
        share = max(spread - noise, 0.0) / spread if spread > 0 else 0.0
        relative = 1.0 + share * (d / d.mean() - 1.0)
        factor[columns[valid]] = np.maximum(relative, 1e-3) ** SEPARATION_EXPONENT
    return factor
