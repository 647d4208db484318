"""``shrinkage_target="separation"``: the consensus target times a factor from the labeled
rows, each classifier's class separation relative to the others', shrunk by how much of
their spread sampling noise explains (:func:`cfensemble._consensus.separation_factor`)."""

import numpy as np
import pytest
from conftest import quiet_fit
from scipy.special import expit

from cfensemble import make_ensemble_problem
from cfensemble._consensus import (
    SEPARATION_EXPONENT,
    SEPARATION_MIN_LABELED,
    consensus_target,
    moments,
    separation_factor,
)

UNEQUAL = np.linspace(0.3, 0.9, 6)


def _labeled(n=600, quality=UNEQUAL, missing_rate=0.3, positive_rate=0.2, seed=0):
    P, y = make_ensemble_problem(
        n, len(quality), positive_rate=positive_rate, base_quality=np.asarray(quality),
        missing_rate=missing_rate, random_state=seed,
    )  # fmt: skip
    observed = ~np.isnan(P)
    return np.where(observed, P, 0.0), observed, y


def _slow_factor(P0, observed, y, weight=None):
    """The factor written out for two classes: per column the weighted class means and
    the pooled within-class sd over its observed rows, d = difference / sd; the
    covariance of the estimated means entry by entry over the rows both columns hold,
    sum_i w_i (x_iu - mean_u)(x_iv - mean_v) / sqrt(n_u (n_u - 1) n_v (n_v - 1)); the
    noise trace(H V) / (m - 1) by an explicit centring matrix; James-Stein share, squared
    ratio to the mean."""
    n, m = P0.shape
    w = np.ones(n) if weight is None else weight
    sides = (y == 1, y != 1)
    mean, count = np.zeros((2, m)), np.zeros((2, m))
    squares = np.zeros(m)
    for s, side in enumerate(sides):
        for u in range(m):
            rows = [i for i in range(n) if side[i] and observed[i, u]]
            count[s, u] = sum(w[i] for i in rows)
            mean[s, u] = sum(w[i] * P0[i, u] for i in rows) / count[s, u]
            squares[u] += sum(w[i] * (P0[i, u] - mean[s, u]) ** 2 for i in rows)
    sd = np.sqrt(squares / (count.sum(axis=0) - 2))
    d = (mean[0] - mean[1]) / sd
    V = np.zeros((m, m))
    for s, side in enumerate(sides):
        for u in range(m):
            for v in range(m):
                rows = [i for i in range(n) if side[i] and observed[i, u] and observed[i, v]]
                total = sum(w[i] * (P0[i, u] - mean[s, u]) * (P0[i, v] - mean[s, v]) for i in rows)
                scale = np.sqrt(count[s, u] * (count[s, u] - 1) * count[s, v] * (count[s, v] - 1))
                V[u, v] += total / scale / (sd[u] * sd[v])
    H = np.eye(m) - np.ones((m, m)) / m
    noise = np.trace(H @ V) / (m - 1)
    spread = np.sum((d - d.mean()) ** 2) / (m - 1)
    share = max(spread - noise, 0.0) / spread
    return np.maximum(1 + share * (d / d.mean() - 1), 1e-3) ** SEPARATION_EXPONENT


def test_the_factor_against_a_written_out_version():
    P0, observed, y = _labeled(n=300)
    weight = np.random.default_rng(1).uniform(0.5, 2.0, y.size)
    for w in (None, weight):
        fast = separation_factor(P0, observed, y, 1, w)
        np.testing.assert_allclose(fast, _slow_factor(P0, observed, y, w), rtol=1e-10)
    assert np.ptp(fast) > 0.5  # the classifiers of quality 0.3 ... 0.9 are told apart


def test_an_integer_weight_is_that_many_copies_of_the_row():
    P0, observed, y = _labeled(n=300)
    weight = np.random.default_rng(2).integers(1, 4, y.size)
    rows = np.repeat(np.arange(y.size), weight)
    np.testing.assert_allclose(
        separation_factor(P0, observed, y, 1, weight.astype(float)),
        separation_factor(P0[rows], observed[rows], y[rows]),
        rtol=1e-10,
    )


def test_the_better_classifier_gets_the_larger_factor():
    P0, observed, y = _labeled(n=4000, missing_rate=0.0, seed=3)
    factor = separation_factor(P0, observed, y)
    assert np.all(np.diff(factor) > 0)  # quality increases from the first to the last


def test_classifiers_the_labels_cannot_tell_apart_get_factor_one():
    # copies of one classifier: no spread at all
    P0, observed, y = _labeled(quality=[0.7])
    copies = np.repeat(P0, 5, axis=1)
    np.testing.assert_array_equal(separation_factor(copies, observed.repeat(5, 1), y), 1.0)
    # exchangeable classifiers (one distribution): their spread is noise, which the
    # shrinkage removes (all of it in 2 of these 8 draws, always some of it)
    shrunk, raw = [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        y = (rng.random(2000) < 0.1).astype(int)
        P = expit(1.5 * y[:, None] - 1 + rng.normal(size=(2000, 8)))
        shrunk.append(np.abs(separation_factor(P, np.ones(P.shape, bool), y) - 1).max())
        groups = [P[y == 1], P[y == 0]]
        pooled = sum(((g - g.mean(0)) ** 2).sum(0) for g in groups) / (y.size - 2)
        d = (groups[0].mean(0) - groups[1].mean(0)) / np.sqrt(pooled)
        raw.append(np.abs((d / d.mean()) ** 2 - 1).max())
    assert np.all(np.array(shrunk) < np.array(raw))
    assert np.sum(np.array(shrunk) == 0) >= 2


def test_too_few_labeled_rows_of_a_class_give_factor_one():
    P0, observed, y = _labeled(n=4000, missing_rate=0.0, seed=3)
    positives = np.flatnonzero(y == 1)
    keep = np.r_[positives[: SEPARATION_MIN_LABELED - 1], np.flatnonzero(y == 0)]
    np.testing.assert_array_equal(separation_factor(P0[keep], observed[keep], y[keep]), 1.0)
    keep = np.r_[positives[:SEPARATION_MIN_LABELED], np.flatnonzero(y == 0)]
    assert np.ptp(separation_factor(P0[keep], observed[keep], y[keep])) > 0


def _normalised(t):
    t = np.maximum(t, 1e-3 * t.max())
    return t / t.mean()


@pytest.mark.parametrize("missing_rate", [0.0, 0.3])
def test_the_fit_uses_consensus_times_the_factor(missing_rate):
    P, y = make_ensemble_problem(
        2000, 6, positive_rate=0.1, base_quality=UNEQUAL, missing_rate=missing_rate,
        random_state=0,
    )  # fmt: skip
    y_semi = np.where(np.random.default_rng(0).random(y.size) < 0.4, y, -1)
    clf = quiet_fit(P, y_semi, shrinkage_target="separation")
    labeled = y_semi >= 0
    factor = separation_factor(np.nan_to_num(P[labeled]), ~np.isnan(P[labeled]), y_semi[labeled])
    assert np.ptp(factor) > 0.1
    expected = _normalised(consensus_target(moments(P)) * factor)
    np.testing.assert_allclose(clf.shrinkage_target_, expected, rtol=1e-12)
    given = quiet_fit(P, y_semi, shrinkage_target=expected)
    np.testing.assert_allclose(given.coef_, clf.coef_, rtol=1e-10)
    # with abstention given, equal (as "consensus": biased on the rows they keep)
    abstaining = quiet_fit(P, y_semi, shrinkage_target="separation", abstention=0.5)
    np.testing.assert_array_equal(abstaining.shrinkage_target_, 1.0)


def test_separation_is_consensus_with_few_labels():
    P, y = make_ensemble_problem(2000, 6, positive_rate=0.05, base_quality=UNEQUAL, random_state=0)
    y_semi = np.where(np.random.default_rng(0).random(y.size) < 0.1, y, -1)
    assert (y_semi == 1).sum() < SEPARATION_MIN_LABELED
    a = quiet_fit(P, y_semi, shrinkage_target="separation")
    b = quiet_fit(P, y_semi, shrinkage_target="consensus")
    np.testing.assert_array_equal(a.predict_proba(P), b.predict_proba(P))


def test_separation_helps_where_the_classifiers_are_unequal():
    """Quality drawn from U(0.3, 0.9), 5 % positives, 20 % labeled: the consensus cannot
    see quality that shows only in the rare positives; the labels can."""
    from sklearn.metrics import average_precision_score

    quality = np.random.default_rng(0).uniform(0.3, 0.9, 10)
    P, y = make_ensemble_problem(
        6000, 10, positive_rate=0.05, base_quality=quality, error_correlation=0.5,
        random_state=0,
    )  # fmt: skip
    y_semi = np.where(np.random.default_rng(1).random(3000) < 0.2, y[:3000], -1)
    scores = {}
    for target in ("consensus", "separation"):
        clf = quiet_fit(P[:3000], y_semi, shrinkage_target=target)
        scores[target] = average_precision_score(y[3000:], clf.predict_proba(P[3000:])[:, 1])
    assert scores["separation"] > scores["consensus"] + 0.01


def test_three_classes_have_a_factor_per_class_which_the_estimator_leaves_out():
    P, y = make_ensemble_problem(
        1500, 5, n_classes=3, random_state=0, base_quality=np.linspace(0.3, 0.9, 5)
    )
    y_semi = np.where(np.random.default_rng(0).random(1500) < 0.5, y, -1)
    clf = quiet_fit(P, y_semi, shrinkage_target="separation")
    flat = P.reshape(1500, -1)
    labeled = y_semi >= 0
    factor = separation_factor(
        np.nan_to_num(flat[labeled]), ~np.isnan(flat[labeled]), y_semi[labeled], 3
    )
    for c in range(3):  # class c against the rest, on its own columns
        one_vs_rest = separation_factor(
            np.nan_to_num(flat[labeled][:, c::3]),
            ~np.isnan(flat[labeled][:, c::3]),
            (y_semi[labeled] == c).astype(int),
        )
        np.testing.assert_allclose(factor[c::3], one_vs_rest, rtol=1e-12)
    assert np.ptp(factor) > 0.1
    # the estimator keeps the consensus for K >= 3 classes (the factor did not pay there)
    np.testing.assert_allclose(
        clf.shrinkage_target_, consensus_target(moments(flat, 3), 3), rtol=1e-12
    )
