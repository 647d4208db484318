"""ALS: the batched solver against a loop oracle, and monotone decrease of every step."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from cfensemble import CFEnsembleClassifier, WeightedAggregator
from cfensemble._als import (
    aggregator_step,
    balance,
    make_problem,
    objective,
    weighted_least_squares,
    x_step,
    y_step,
)
from cfensemble.confidence import uniform


def loop_least_squares(C, CP, B, lam, scale=None, H=None, extra=None):
    """The slow obvious version: one explicit solve per row."""
    k, d = C.shape[0], B.shape[1]
    out = np.zeros((k, d))
    for j in range(k):
        A = lam * np.eye(d)
        r = np.zeros(d)
        for idx in range(B.shape[0]):
            A += C[j, idx] * np.outer(B[idx], B[idx])
            r += CP[j, idx] * B[idx]
        if H is not None:
            A += scale[j] * H
            r += extra[j]
        out[j] = np.linalg.solve(A, r)
    return out


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_batched_least_squares_equals_loop_oracle(rng, chunk_size):
    n, m, d = 11, 4, 3
    C, P = rng.random((n, m)), rng.random((n, m))
    X = rng.normal(size=(m, d))
    Y = rng.normal(size=(n, d))
    expected = loop_least_squares(C, C * P, X, 0.1)
    got = weighted_least_squares(C, C * P, X, 0.1, chunk_size=chunk_size)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # the transposed call (classifier step) sums over the chunked instances
    expected_x = loop_least_squares(C.T, (C * P).T, Y, 0.1)
    got_x = weighted_least_squares(C.T, (C * P).T, Y, 0.1, chunk_size=chunk_size)
    np.testing.assert_allclose(got_x, expected_x, rtol=1e-10)


def test_batched_least_squares_with_extra_terms_equals_loop_oracle(rng):
    n, m, d = 9, 5, 3
    C, P = rng.random((n, m)), rng.random((n, m))
    X = rng.normal(size=(m, d))
    scale = rng.random(n)
    v = rng.normal(size=d)
    H = np.outer(v, v)
    extra = rng.normal(size=(n, d))
    expected = loop_least_squares(C, C * P, X, 0.05, scale, H, extra)
    got = weighted_least_squares(C, C * P, X, 0.05, scale, H, extra, chunk_size=4)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_singular_system_with_zero_lambda_is_regularised(rng):
    C = np.array([[1.0, 1.0], [0.0, 0.0]])  # second row: no confidence at all
    P = np.array([[0.2, 0.9], [0.5, 0.5]])
    X = rng.normal(size=(2, 2))
    out = weighted_least_squares(C, C * P, X, 0.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], 0.0)
    np.testing.assert_allclose(out[0] @ X.T, P[0], atol=1e-6)


def test_balance_keeps_the_product_and_lowers_the_ridge(rng):
    X, Y = rng.normal(size=(5, 3)) * 10, rng.normal(size=(40, 3)) * 0.1
    Xb, Yb = balance(X, Y)
    np.testing.assert_allclose(Yb @ Xb.T, Y @ X.T, atol=1e-10)
    assert np.sum(Xb**2) + np.sum(Yb**2) < np.sum(X**2) + np.sum(Y**2)
    np.testing.assert_allclose(Xb.T @ Xb, Yb.T @ Yb, atol=1e-8)


def _random_state_of_fit(seed, n, m, d, frac_labeled):
    rng = np.random.default_rng(seed)
    P = rng.random((n, m))
    P[rng.random((n, m)) < 0.1] = np.nan
    P[:, 0] = np.where(np.isnan(P).all(axis=1), 0.5, P[:, 0])
    y = np.where(rng.random(n) < frac_labeled, (rng.random(n) < 0.3).astype(float), np.nan)
    y[:2] = [0.0, 1.0]
    X, Y = rng.normal(size=(m, d)) * 0.5, rng.normal(size=(n, d)) * 0.5
    agg = WeightedAggregator(m)
    agg.w, agg.b = rng.normal(size=m), rng.normal()
    return P, y, X, Y, agg


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rho=st.floats(0.05, 1.0),
    gamma=st.sampled_from([0.0, 1.0, 2.0]),
    lam=st.floats(1e-3, 1.0),
    use_class_weights=st.booleans(),
    positive=st.booleans(),
)
def test_every_als_step_never_increases_the_objective(
    seed, rho, gamma, lam, use_class_weights, positive
):
    P, y, X, Y, agg = _random_state_of_fit(seed, n=30, m=5, d=3, frac_labeled=0.5)
    if positive:
        agg.w = np.abs(agg.w)  # a feasible start
    problem = make_problem(uniform(P), P, y, use_class_weights)
    args = (rho, lam, gamma)

    def total(X, Y):
        return objective(problem, X, Y, agg, *args, 0.01)[0]

    start = total(X, Y)
    Xb, Yb = balance(X, Y)
    after_balance = total(Xb, Yb)
    X1 = x_step(problem, Xb, Yb, agg, *args, chunk_size=7)
    after_x = total(X1, Yb)
    Y1 = y_step(problem, X1, Yb, agg, *args, chunk_size=7)
    after_y = total(X1, Y1)
    aggregator_step(problem, X1, Y1, agg, "newton", 0.0, use_class_weights, gamma, 0.01, positive)
    after_agg = total(X1, Y1)
    eps = 1e-10 * max(1.0, abs(start))
    assert after_balance <= start + eps
    assert after_x <= after_balance + eps
    assert after_y <= after_x + eps
    assert after_agg <= after_y + eps


def test_a_coupled_y_step_is_the_exact_minimiser_of_its_majoriser_not_of_recon_only(problem):
    """With rho < 1 the labeled rows' factors move toward their labels (rho matters)."""
    P, _, y_train = problem
    y = np.where(y_train == -1, np.nan, y_train).astype(float)
    prob = make_problem(uniform(P), P, y, True)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(P.shape[1], 3)), rng.normal(size=(P.shape[0], 3))
    agg = WeightedAggregator(P.shape[1])
    plain = y_step(prob, X, Y, agg, 1.0, 0.01, 0.0, 100)
    coupled = y_step(prob, X, Y, agg, 0.3, 0.01, 0.0, 100)
    unlabeled = np.isnan(y)
    np.testing.assert_allclose(coupled[unlabeled], plain[unlabeled])
    assert not np.allclose(coupled[~unlabeled], plain[~unlabeled])


def test_fit_objective_decreases_monotonically(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, max_iter=40).fit(P, y)
    total = clf.loss_curve_["total"]
    assert np.all(np.diff(total) <= 1e-12 * total[:-1])


@pytest.mark.parametrize("rho", [0.3, 1.0])
def test_fold_in_of_an_unlabeled_training_row_reproduces_its_factor(problem, rho):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(
            random_state=0, rho=rho, confidence="certainty", use_label_aware_confidence=False
        ).fit(P, y)
    unlabeled = y == -1
    np.testing.assert_allclose(
        clf.fold_in(P[unlabeled]), clf.instance_factors_[unlabeled], atol=1e-10
    )
    np.testing.assert_allclose(
        clf.predict_proba(P[unlabeled])[:, 1], clf.transduction_[unlabeled], atol=1e-10
    )
    if rho == 1.0:  # uncoupled: labeled rows too (label-free confidence)
        np.testing.assert_allclose(clf.fold_in(P), clf.instance_factors_, atol=1e-10)


def test_chunk_size_does_not_change_the_result(problem):
    P, _, y = problem
    kw = dict(random_state=0, max_iter=5, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = CFEnsembleClassifier(chunk_size=4, **kw).fit(P, y)  # fewer than m classifiers
        b = CFEnsembleClassifier(chunk_size=100_000, **kw).fit(P, y)
    assert P.shape[1] > 4
    np.testing.assert_allclose(a.transduction_, b.transduction_, rtol=1e-10)


def test_tolerance_triggers_and_max_iter_warns(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, rho=1.0, tol=1e-3, max_iter=500).fit(P, y)
    assert clf.n_iter_ < 500
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        CFEnsembleClassifier(random_state=0, max_iter=2, tol=0.0).fit(P, y)


def test_freeze_keeps_the_aggregator_at_the_average(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, max_iter=3, freeze_aggregator_iters=3).fit(P, y)
    np.testing.assert_array_equal(clf.coef_, np.full(P.shape[1], 1 / P.shape[1]))
    assert clf.intercept_ == 0.0
