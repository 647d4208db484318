"""Formulas of the objective against hand-computed values and finite differences."""

import numpy as np
import pytest
from scipy.special import expit

from cfensemble._losses import (
    class_weights,
    focal_curvature_bound,
    focal_factor,
    focal_loss,
    focal_loss_derivatives,
    reconstruction_loss,
    supervised_loss,
)


def test_class_weights_hand_computed():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    kappa = class_weights(y)
    # n / (2 n_class): 10 / 2 = 5 for the positive, 10 / 18 for each negative.
    np.testing.assert_allclose(kappa, [5.0] + [10 / 18] * 9)
    # each class contributes n / 2
    assert kappa[y == 1].sum() == pytest.approx(5.0)
    assert kappa[y == 0].sum() == pytest.approx(5.0)


def test_class_weights_off_and_one_class():
    y = np.array([1, 0, 0, 0])
    np.testing.assert_array_equal(class_weights(y, use_class_weights=False), np.ones(4))
    np.testing.assert_array_equal(class_weights(np.zeros(5)), np.ones(5))


def test_class_weights_invariant_to_duplicating_a_class():
    y = np.array([1, 1, 0, 0, 0, 0, 0])
    y_dup = np.concatenate([y, np.zeros(7)])
    # total weight per class stays n/2 whatever the class sizes
    k = class_weights(y_dup)
    assert k[y_dup == 1].sum() == pytest.approx(k[y_dup == 0].sum())


def test_focal_factor_hand_computed():
    z = np.array([0.0, np.log(3.0), np.log(3.0)])  # p = 0.5, 0.75, 0.75
    y = np.array([1, 1, 0])
    # p_t = 0.5, 0.75, 0.25 -> (1 - p_t)^2 = 0.25, 0.0625, 0.5625
    np.testing.assert_allclose(focal_factor(z, y, 2.0), [0.25, 0.0625, 0.5625])
    np.testing.assert_array_equal(focal_factor(z, y, 0.0), np.ones(3))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
def test_focal_loss_matches_the_obvious_formula(gamma):
    z = np.linspace(-6, 6, 25)
    for label in (0, 1):
        y = np.full(z.size, label)
        p = expit(z)
        p_t = p if label == 1 else 1 - p
        expected = -((1 - p_t) ** gamma) * np.log(p_t)
        np.testing.assert_allclose(focal_loss(z, y, gamma), expected, rtol=1e-10)


def test_focal_loss_is_stable_at_extreme_logits():
    z = np.array([-800.0, 800.0])
    out = focal_loss(z, np.array([1, 0]), 2.0)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, [800.0, 800.0])


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.5])
def test_focal_derivatives_match_finite_differences(gamma):
    z = np.linspace(-5, 5, 41)
    h = 1e-5
    for label in (0, 1):
        y = np.full(z.size, label)
        first, second = focal_loss_derivatives(z, y, gamma)
        fd1 = (focal_loss(z + h, y, gamma) - focal_loss(z - h, y, gamma)) / (2 * h)
        fd2 = (
            focal_loss(z + h, y, gamma) - 2 * focal_loss(z, y, gamma) + focal_loss(z - h, y, gamma)
        ) / h**2
        np.testing.assert_allclose(first, fd1, atol=1e-8)
        np.testing.assert_allclose(second, fd2, atol=1e-4)


def test_cross_entropy_derivatives_are_p_minus_y():
    z = np.linspace(-4, 4, 9)
    y = (z > 0).astype(int)
    first, second = focal_loss_derivatives(z, y, 0.0)
    np.testing.assert_allclose(first, expit(z) - y)
    np.testing.assert_allclose(second, expit(z) * (1 - expit(z)))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 4.0])
def test_curvature_bound_bounds_the_second_derivative(gamma):
    z = np.linspace(-30, 30, 100_003)
    bound = focal_curvature_bound(gamma)
    for label in (0, 1):
        _, second = focal_loss_derivatives(z, np.full(z.size, label), gamma)
        assert second.max() <= bound
        assert second.max() >= 0.9 * bound  # and is not needlessly loose
    if gamma == 0:
        assert bound == 0.25


def test_reconstruction_loss_against_the_obvious_loop(rng):
    n, m, d = 7, 4, 3
    C = rng.random((n, m))
    P = rng.random((n, m))
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    lam = 0.3
    total = sum(
        C[i, u] * (P[i, u] - Y[i] @ X[u]) ** 2 for i in range(n) for u in range(m)
    ) + lam * (np.sum(X**2) + np.sum(Y**2))
    expected = total / C.sum()
    assert reconstruction_loss(C, P, X, Y, lam, chunk_size=3) == pytest.approx(expected, rel=1e-12)


def test_losses_do_not_grow_with_n(rng):
    """Normalised losses: duplicating every instance leaves both parts unchanged (lambda=0)."""
    n, m, d = 20, 5, 2
    C, P = rng.random((n, m)), rng.random((n, m))
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    rec = reconstruction_loss(C, P, X, Y, 0.0)
    rec2 = reconstruction_loss(np.vstack([C, C]), np.vstack([P, P]), X, np.vstack([Y, Y]), 0.0)
    assert rec2 == pytest.approx(rec, rel=1e-12)
    z, y = rng.normal(size=n), (rng.random(n) < 0.3).astype(int)
    w = rng.normal(size=m)
    sup = supervised_loss(z, y, class_weights(y), 2.0, w, 0.1)
    z2, y2 = np.concatenate([z, z]), np.concatenate([y, y])
    assert supervised_loss(z2, y2, class_weights(y2), 2.0, w, 0.1) == pytest.approx(sup)


def test_supervised_loss_hand_computed():
    z = np.array([0.0, 0.0, 0.0])
    y = np.array([1, 0, 0])
    # kappa = 1.5, 0.75, 0.75; every BCE = log 2; ridge 0.5 * 0.2 * |w|^2 = 0.1 * 2
    w = np.array([1.0, 1.0])
    assert supervised_loss(z, y, class_weights(y), 0.0, w, 0.2) == pytest.approx(np.log(2) + 0.2)
