"""Is a missing prediction an abstention? A label-free test on the fitted factorization.

A classifier with a reject option leaves its prediction out where it is least confident
(Chow's rule: its largest class probability below a threshold ``t``). Its observed
predictions then all have confidence ``>= t`` and its missing ones would have had less:
the *absence* is the signal, and a fill-in from the other classifiers (mostly confident,
on imbalanced data mostly near 0) throws it away. ``abstention`` > 0 moves such a fill-in
toward ``1/K`` (:func:`cfensemble._problem.aggregator_input`).

The test, for each classifier ``u`` (on a seeded sample of at most ``SAMPLE`` rows): fold
every row in *without* ``u``'s prediction (the fitted classifier factors fixed, the fitted
confidence strategy without labels, as for new rows), so that
``P_hat[:, u]`` is an out-of-sample prediction on every row alike; call a row *below* when
that prediction's confidence ``max_k P_hat[i, (u, k)]`` (two classes: ``max(p, 1 - p)``)
is lower than the lowest confidence ``u`` shows on its observed rows. Under missingness
at random the rows where ``u`` is missing are below about as often as the rows where it
is present; under a reject option they are below far more often. The statistic is the
two-proportion z of "below" between the two groups of rows. ``"auto"`` takes
``DETECTED`` when ``z > Z`` for at least a share ``SHARE`` of the classifiers tested,
else 0. On ``benchmarks/accuracy.py`` (8 data sets, 5 repeats, m = 5/10/20, held-out
rows) no fit of the missing-at-random regimes (``mcar``, ``k_of_m``) passed, 238 of 240
``unsure`` fits did, and 126 of 240 ``blocks`` fits (a segment of the feature space
misses some classifiers: when the segment is the uncertain one the test cannot tell it
from a reject option); there the blend moved the mean PR-AUC by at most 0.005 per row,
either way.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._fill import leave_one_out

SAMPLE = 10_000  # rows the test folds in (a seeded uniform sample of larger data)
Z = 3.0  # a classifier abstains when its z statistic exceeds this
SHARE = 0.3  # ... and the blend is taken when this share of the tested classifiers does
DETECTED = 0.5  # the blend then used
MIN_ROWS = 5  # a classifier is tested with at least this many missing and observed rows


def _confidence(P: np.ndarray, columns: int) -> np.ndarray:
    """A prediction's confidence: its largest class probability (``columns`` = 1: the
    positive class's probability ``p``, confidence ``max(p, 1 - p)``)."""
    if columns == 1:
        return np.maximum(P[:, 0], 1.0 - P[:, 0])
    return P.max(axis=1)


def _two_proportion_z(hit: np.ndarray, group: np.ndarray, weight: np.ndarray) -> float:
    """z statistic of ``mean(hit[group]) - mean(hit[~group])`` (pooled variance), each row
    counted ``weight`` times; 0 when every row is alike (no evidence either way)."""
    n1, n0 = weight[group].sum(), weight[~group].sum()
    pooled = np.average(hit, weights=weight)
    if pooled in (0.0, 1.0):
        return 0.0
    p1 = np.average(hit[group], weights=weight[group])
    p0 = np.average(hit[~group], weights=weight[~group])
    error = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n0))
    return float((p1 - p0) / error)


def abstention_statistics(
    P: np.ndarray, reconstruct_without: Callable[[np.ndarray], np.ndarray], outputs: int = 1
) -> np.ndarray:
    """The test's z statistic for each classifier (NaN: fewer than ``MIN_ROWS`` missing or
    observed rows, not tested).

    ``P`` (k, m) or, for ``outputs`` = K >= 3 classes, (k, m K) with each classifier's K
    columns side by side; NaN marks a missing prediction. ``reconstruct_without(P_masked)``
    returns the reconstruction ``P_hat`` of the rows of ``P_masked`` (folded in with the
    fitted classifier factors). Rows left with no prediction once ``u``'s is masked are
    not used for ``u``, in either proportion or in its lowest observed confidence (a row
    that every other classifier left out is an unsure row: where ``u`` is alone, a data
    source may have kept its prediction whatever its confidence).
    """
    return statistics_from(P, leave_one_out(P, reconstruct_without, outputs), outputs)


def statistics_from(
    P: np.ndarray, R: np.ndarray, outputs: int = 1, weight: np.ndarray | None = None
) -> np.ndarray:
    """:func:`abstention_statistics` from the leave-one-out reconstruction ``R``
    (:func:`cfensemble._fill.leave_one_out`, NaN where a row has no other prediction),
    each row counted ``weight`` times (sample weights, > 0; None: once)."""
    weight = np.ones(P.shape[0]) if weight is None else weight
    m = P.shape[1] // outputs  # outputs: each classifier's columns (1 for two classes)
    z = np.full(m, np.nan)
    for u in range(m):
        own = slice(u * outputs, (u + 1) * outputs)
        rows = ~np.isnan(R[:, own]).all(axis=1)
        missing = np.isnan(P[rows][:, own]).all(axis=1)
        w = weight[rows]
        if min(w[missing].sum(), w[~missing].sum()) < MIN_ROWS:
            continue
        lowest = _confidence(P[rows][~missing][:, own], outputs).min()
        below = _confidence(R[rows][:, own], outputs) < lowest
        z[u] = _two_proportion_z(below, missing, w)
    return z


def choose_abstention(z: np.ndarray) -> tuple[float, float]:
    """``(beta, share)``: ``share`` of the tested classifiers whose z exceeds ``Z`` (0 when
    none was tested); ``beta`` = ``DETECTED`` when that share is at least ``SHARE``, else 0."""
    tested = z[~np.isnan(z)]
    share = float(np.mean(tested > Z)) if tested.size else 0.0
    return (DETECTED if tested.size and share >= SHARE else 0.0), share
