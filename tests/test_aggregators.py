"""The aggregators: the seed's gradient step and the exact Newton solve."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression

from cfensemble import MeanAggregator, WeightedAggregator
from cfensemble._losses import class_weights, focal_factor


def _weighted_bce(w, b, P_hat, y, s):
    p = expit(P_hat @ w + b)
    return np.sum(s * -(y * np.log(p) + (1 - y) * np.log(1 - p))) / np.sum(s)


def _numeric_gradient(f, theta, h=1e-6):
    grad = np.zeros_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        grad[k] = (f(theta + e) - f(theta - e)) / (2 * h)
    return grad


@pytest.fixture
def labeled_rows(rng):
    n, m, d = 40, 5, 3
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    labels = (rng.random(n) < 0.2).astype(float)
    labels[0], labels[1] = 1, 0
    labeled_idx = np.arange(0, n, 2)
    return X, Y, labeled_idx, labels


@pytest.mark.parametrize("use_class_weights", [True, False])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_seed_step_is_the_gradient_of_the_weighted_bce(labeled_rows, use_class_weights, gamma):
    X, Y, idx, labels = labeled_rows
    agg = WeightedAggregator(5)
    agg.w = np.array([0.3, -0.1, 0.2, 0.5, 0.1])
    agg.b = -0.4
    P_hat, y = Y[idx] @ X.T, labels[idx]
    # the instance weights are held fixed at the current point (focal factor included)
    s = class_weights(y, use_class_weights) * focal_factor(agg.decision_function(P_hat), y, gamma)
    theta = np.append(agg.w, agg.b)
    fd = _numeric_gradient(lambda t: _weighted_bce(t[:5], t[5], P_hat, y, s), theta)
    lr = 0.05
    agg.update(X, Y, idx, labels, lr, use_class_weights=use_class_weights, focal_gamma=gamma)
    step = (theta - np.append(agg.w, agg.b)) / lr
    np.testing.assert_allclose(step, fd, atol=1e-7)


def test_seed_step_matches_the_seed_formula_literally(labeled_rows):
    X, Y, idx, labels = labeled_rows
    agg = WeightedAggregator(5)
    R_hat = X @ Y[idx].T  # the seed's layout: classifiers x instances
    y_true = labels[idx]
    residual = expit(agg.w @ R_hat + agg.b) - y_true
    n, n_pos = y_true.size, np.sum(y_true == 1)
    weights = np.where(y_true == 1, n / (2 * n_pos), n / (2 * (n - n_pos)))
    grad_w = (R_hat @ (residual * weights)) / np.sum(weights)
    grad_b = np.sum(residual * weights) / np.sum(weights)
    w_expected, b_expected = agg.w - 0.01 * grad_w, agg.b - 0.01 * grad_b
    agg.update(X, Y, idx, labels, 0.01)
    np.testing.assert_allclose(agg.w, w_expected, rtol=1e-12)
    assert agg.b == pytest.approx(b_expected, rel=1e-12)


def test_one_class_edge_case_uses_weights_of_one(labeled_rows):
    X, Y, idx, _ = labeled_rows
    labels = np.ones(Y.shape[0])
    a, b = WeightedAggregator(5), WeightedAggregator(5)
    a.update(X, Y, idx, labels, 0.1, use_class_weights=True)
    b.update(X, Y, idx, labels, 0.1, use_class_weights=False)
    np.testing.assert_array_equal(a.w, b.w)


def test_l2_adds_ridge_gradient(labeled_rows):
    X, Y, idx, labels = labeled_rows
    a, b = WeightedAggregator(5), WeightedAggregator(5)
    a.update(X, Y, idx, labels, 0.1)
    b.update(X, Y, idx, labels, 0.1, l2=0.5)
    np.testing.assert_allclose(b.w, a.w - 0.1 * 0.5 * np.full(5, 0.2))


def test_seed_layout_gets_a_clear_error(labeled_rows):
    X, Y, idx, labels = labeled_rows
    with pytest.raises(ValueError, match="row-major"):
        WeightedAggregator(5).update(X.T, Y, idx, labels, 0.1)
    with pytest.raises(ValueError, match="row-major"):
        WeightedAggregator(5).update(X, Y.T, idx, labels, 0.1)


@pytest.mark.parametrize("use_class_weights", [True, False])
def test_newton_solve_equals_sklearn_logistic_regression(rng, use_class_weights):
    n, m = 200, 4
    P_hat = rng.random((n, m))
    y = (rng.random(n) < expit(3 * P_hat[:, 0] - 2 * P_hat[:, 1] - 1.5)).astype(float)
    l2 = 0.01
    agg = WeightedAggregator(m).solve(P_hat, y, use_class_weights, l2=l2)
    kappa = class_weights(y, use_class_weights)
    # ours: sum(k l)/sum(k) + l2/2 |w|^2  ==  (1/l2) * [ ... ]  ->  sklearn C = 1 / (l2 sum k)
    ref = LogisticRegression(C=1 / (l2 * kappa.sum()), tol=1e-12, max_iter=10_000)
    ref.fit(P_hat, y, sample_weight=kappa)
    np.testing.assert_allclose(agg.w, ref.coef_[0], atol=1e-5)
    assert agg.b == pytest.approx(ref.intercept_[0], abs=1e-5)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_newton_solve_reaches_a_stationary_point_of_the_focal_loss(rng, gamma):
    n, m = 150, 3
    P_hat = rng.random((n, m))
    y = (rng.random(n) < 0.2).astype(float)
    agg = WeightedAggregator(m)
    before = agg.loss(P_hat, y, focal_gamma=gamma, l2=0.01)
    agg.solve(P_hat, y, focal_gamma=gamma, l2=0.01, max_iter=100)
    after = agg.loss(P_hat, y, focal_gamma=gamma, l2=0.01)
    assert after < before

    def f(t):
        probe = WeightedAggregator(m)
        probe.w, probe.b = t[:m], t[m]
        return probe.loss(P_hat, y, focal_gamma=gamma, l2=0.01)

    grad = _numeric_gradient(f, np.append(agg.w, agg.b))
    assert np.abs(grad).max() < 1e-6


def test_mean_aggregator_accepts_the_same_arguments(labeled_rows):
    X, Y, idx, labels = labeled_rows
    agg = MeanAggregator(5)
    out = agg.update(X, Y, idx, labels, 0.1, use_class_weights=False, focal_gamma=2.0)
    assert out is agg
    P_hat = np.array([[0.2, 0.4, 0.6, 0.8, 1.0], [-1, 0, 0, 0, 0.5]])
    np.testing.assert_allclose(agg.predict(P_hat), [0.6, 0.0])


def test_weighted_aggregator_starts_at_the_simple_average():
    agg = WeightedAggregator(4)
    np.testing.assert_array_equal(agg.w, np.full(4, 0.25))
    assert agg.b == 0.0
    with pytest.raises(ValueError, match="n_classifiers"):
        WeightedAggregator(0)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_positive_solve_satisfies_the_kkt_conditions(rng, gamma):
    n, m = 120, 4
    P_hat = rng.random((n, m))
    # the label follows column 0 and goes against column 1: unconstrained w_1 < 0
    y = (rng.random(n) < expit(4 * P_hat[:, 0] - 3 * P_hat[:, 1] - 1)).astype(float)
    free = WeightedAggregator(m).solve(P_hat, y, focal_gamma=gamma, l2=0.01, max_iter=100)
    assert free.w[1] < 0
    agg = WeightedAggregator(m).solve(P_hat, y, focal_gamma=gamma, l2=0.01, positive=True)
    assert np.all(agg.w >= 0) and agg.w[1] == 0.0

    def f(t):
        probe = WeightedAggregator(m)
        probe.w, probe.b = t[:m], t[m]
        return probe.loss(P_hat, y, focal_gamma=gamma, l2=0.01)

    grad = _numeric_gradient(f, np.append(agg.w, agg.b))
    active = agg.w == 0
    assert np.all(np.abs(grad[:m][~active]) < 1e-5) and abs(grad[m]) < 1e-5
    assert np.all(grad[:m][active] > -1e-6)  # moving off the bound would not help
    assert f(np.append(agg.w, agg.b)) >= f(np.append(free.w, free.b)) - 1e-12


def test_positive_gradient_step_projects(labeled_rows):
    X, Y, idx, labels = labeled_rows
    agg = WeightedAggregator(5)
    agg.w = np.array([0.001, -0.2, 0.3, 0.0, 0.1])
    agg.update(X, Y, idx, labels, lr=0.5, positive=True)
    assert np.all(agg.w >= 0)


def test_shrinkage_solution_is_stationary_and_tends_to_equal_weights():
    """The Newton solve with the shrinkage penalty reaches a point where the finite-
    difference gradient of the full loss vanishes; a huge shrinkage gives equal weights."""
    from cfensemble._losses import supervised_loss
    from cfensemble.aggregators import solve_aggregator

    rng = np.random.default_rng(0)
    A = rng.random((80, 4))
    y = (A @ np.array([3.0, 0.5, 0.0, 1.0]) + rng.normal(size=80) > 2.2).astype(float)
    kappa = np.ones(80)
    for groups in (1, 2):
        w0 = np.full(4, 0.25)
        w, b = solve_aggregator(A, y, kappa, 0.0, 1e-3, False, w0, 0.0, 50, 1e-14, 0.5, groups)

        def loss(th, groups=groups):
            return supervised_loss(
                A @ th[:4] + th[4], y, kappa / 80, 0.0, th[:4], 1e-3, 0.5, groups
            )

        theta = np.append(w, b)
        for k in range(5):
            e = np.zeros(5)
            e[k] = 1e-6
            assert (loss(theta + e) - loss(theta - e)) / 2e-6 == pytest.approx(0.0, abs=1e-6)
    w, _ = solve_aggregator(A, y, kappa, 0.0, 1e-3, False, w0, 0.0, 50, 1e-14, 1e6)
    np.testing.assert_allclose(w, w.mean(), atol=1e-4)
    assert w.mean() > 0
