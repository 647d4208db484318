"""ALS: the block kernels against loop oracles, the steps' descent properties, and
results that do not depend on block size, thread count or rank deficiency."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from cfensemble import ALS, CFEnsembleClassifier, _kernels, make_ensemble_problem
from cfensemble._als import (
    ALSSolver,
    balance,
    classifier_step,
    fold_in,
    losses,
)
from cfensemble._estimator import confidence_source
from cfensemble._kernels import instance_solve, numba_available, solve_spd
from cfensemble._problem import Data, Objective, State, reconstruct


def loop_ridge_regression(C, T, B, ridge):
    """The slow obvious version: one explicit solve per row of C."""
    k, e = C.shape[0], B.shape[1]
    out = np.zeros((k, e))
    for j in range(k):
        A = ridge[j] * np.eye(e)
        r = np.zeros(e)
        for idx in range(B.shape[0]):
            A += C[j, idx] * np.outer(B[idx], B[idx])
            r += C[j, idx] * T[j, idx] * B[idx]
        out[j] = np.linalg.solve(A, r)
    return out


def make_data(P, y, label_aware=False, confidence="uniform"):
    y = np.asarray(y, dtype=float)
    y = np.where(y == -1, np.nan, y)  # Data takes NaN for unlabeled rows
    return Data(P, y, confidence_source(confidence, P, y, label_aware, 1.0))


def random_fit_state(seed, n, m, d, frac_labeled, kind="observed", missing=0.2):
    rng = np.random.default_rng(seed)
    P = rng.random((n, m))
    P[rng.random((n, m)) < missing] = np.nan
    P[:, 0] = np.where(np.isnan(P).all(axis=1), 0.5, P[:, 0])
    P[0] = 0.3  # every column has an observation
    y = np.where(rng.random(n) < frac_labeled, (rng.random(n) < 0.3).astype(float), np.nan)
    y[:2] = [0.0, 1.0]
    k = 2 * m if kind == "both" else m
    state = State(
        X=rng.normal(size=(m, d)) * 0.5,
        Y=rng.normal(size=(n, d)) * 0.5,
        a=rng.normal(size=m) * 0.1,
        c=rng.normal(size=n) * 0.1,
        w=np.abs(rng.normal(size=k)),
        b=float(rng.normal()),
    )
    return P, y, state


# The numba kernel's tests compile it first (about 20 s on 2 cores, cached afterwards), so
# they run on their own: `python -m pytest -m numba` (CI does).
NEEDS_NUMBA = [
    pytest.mark.numba,
    pytest.mark.skipif(not numba_available(), reason="numba not installed"),
]
KERNELS = ["numpy", pytest.param("numba", marks=NEEDS_NUMBA)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize(("n", "m", "e"), [(11, 4, 3), (70, 6, 9), (5, 3, 7)])
def test_instance_kernel_equals_loop_oracle(rng, kernel, n, m, e):
    """Both kernels, a group of rows that is not a multiple of 64, and e > m (rank deficient)."""
    C, P0 = rng.random((n, m)), rng.random((n, m))
    C[rng.random((n, m)) < 0.3] = 0.0
    B, a = rng.normal(size=(m, e)), rng.normal(size=m)
    lam = 0.05
    got = instance_solve(P0, C, B, a, lam, kernel)
    expected = loop_ridge_regression(C, P0 - a, B, lam * C.sum(axis=1))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_solve_spd_equals_loop_oracle(rng):
    n, m, e = 11, 4, 3
    C, T = rng.random((n, m)), rng.random((n, m))
    B = rng.normal(size=(m, e))
    ridge = rng.random(n)
    gram = np.einsum("il,lp,lq->ipq", C, B, B)
    rhs = (C * T) @ B
    np.testing.assert_allclose(
        solve_spd(gram, rhs, ridge), loop_ridge_regression(C, T, B, ridge), rtol=1e-10
    )


@pytest.mark.numba
@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize(
    ("confidence", "label_aware", "weighted", "rho"),
    [
        ("uniform", False, False, 1.0),  # the kernel reads P alone (Data.unit_confidence)
        ("uniform", False, False, 0.6),
        ("certainty", True, False, 1.0),  # confidences made per block, C != C_free
        ("uniform", False, True, 1.0),  # sample weights in the confidences
    ],
)
def test_fits_with_either_kernel_agree(confidence, label_aware, weighted, rho):
    P, y = make_ensemble_problem(2000, 8, positive_rate=0.1, missing_rate=0.3, random_state=3)
    y = np.where(np.arange(2000) % 3 == 0, y, -1)
    data = make_data(P, y, label_aware, confidence)
    if weighted:
        data = Data(data.P, data.y, data.confidence, sample_weight=1.0 + np.arange(2000) % 3)
    assert data.unit_confidence == (confidence == "uniform" and not weighted)
    objective = Objective(rho=rho, lambda_reg=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = [
            ALSSolver(latent_dim=4, max_iter=15, tol=0.0, kernel=k).fit(
                data, objective, None, np.random.default_rng(0)
            )
            for k in ("numpy", "numba")
        ]
    np.testing.assert_allclose(results[0].loss_curve, results[1].loss_curve, rtol=1e-10)
    for name in ("X", "Y", "a", "c", "w"):
        np.testing.assert_allclose(
            getattr(results[0].state, name), getattr(results[1].state, name), atol=1e-8
        )


@pytest.mark.parametrize("chunk_size", [1, 3, 1000])
def test_instance_step_is_the_loop_oracle_whatever_the_block_size(chunk_size):
    P, y, state = random_fit_state(0, n=13, m=5, d=2, frac_labeled=0.5)
    data = make_data(P, y)
    lam = 0.1
    Y, c = fold_in(data, state.X, state.a, lam, chunk_size)
    C = np.where(np.isnan(P), 0.0, 1.0)
    T = np.where(np.isnan(P), 0.0, P) - state.a
    B = np.column_stack([state.X, np.ones(5)])
    expected = loop_ridge_regression(C, T, B, lam * C.sum(axis=1))
    np.testing.assert_allclose(np.column_stack([Y, c]), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 4, 1000])
def test_uncoupled_classifier_step_is_the_loop_oracle_over_blocks(chunk_size):
    P, y, state = random_fit_state(1, n=17, m=4, d=3, frac_labeled=0.5)
    data = make_data(P, y)
    X, a = classifier_step(data, state, Objective(rho=1.0, lambda_reg=0.05), chunk_size)
    C = np.where(np.isnan(P), 0.0, 1.0)
    T = np.where(np.isnan(P), 0.0, P) - state.c[:, None]
    B = np.column_stack([state.Y, np.ones(17)])
    expected = loop_ridge_regression(C.T, T.T, B, 0.05 * C.sum(axis=0))
    np.testing.assert_allclose(np.column_stack([X, a]), expected, rtol=1e-10, atol=1e-12)


def test_singular_systems_are_solved_without_error():
    gram = np.zeros((2, 3, 3))
    gram[0] = np.outer([1.0, 2.0, 0.0], [1.0, 2.0, 0.0])  # rank one
    rhs = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    out = solve_spd(gram, rhs, np.zeros(2))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], 0.0)
    np.testing.assert_allclose(gram[0] @ out[0], rhs[0], atol=1e-6)


def test_balance_keeps_the_product_and_lowers_the_weighted_ridge(rng):
    X, Y = rng.normal(size=(5, 3)) * 10, rng.normal(size=(40, 3)) * 0.1
    wx, wy = rng.random(5) + 0.5, rng.random(40) + 0.5
    Xb, Yb = balance(X, Y.copy(), wx, wy)
    np.testing.assert_allclose(Yb @ Xb.T, Y @ X.T, atol=1e-10)

    def ridge(X, Y):
        return wx @ np.sum(X**2, axis=1) + wy @ np.sum(Y**2, axis=1)

    assert ridge(Xb, Yb) < ridge(X, Y)
    # the minimum: both sides carry the same weighted Gram matrix
    sx, sy = np.sqrt(wx)[:, None], np.sqrt(wy)[:, None]
    np.testing.assert_allclose((Xb * sx).T @ (Xb * sx), (Yb * sy).T @ (Yb * sy), atol=1e-8)


def test_balance_of_a_rank_deficient_product_is_exact_and_zero_padded(rng):
    """latent_dim above the rank (the fresh-machine failure): no Cholesky, no fallback;
    the result moves continuously with a perturbation at rounding level."""
    X = rng.normal(size=(3, 5))  # m = 3 < d = 5: X^T X is singular
    Y = rng.normal(size=(30, 5))
    Xb, Yb = balance(X, Y.copy(), np.ones(3), np.ones(30))
    np.testing.assert_allclose(Yb @ Xb.T, Y @ X.T, atol=1e-9)
    assert np.sum(Xb**2) + np.sum(Yb**2) < np.sum(X**2) + np.sum(Y**2)
    Xp, Yp = balance(X * (1 + 1e-15), Y.copy(), np.ones(3), np.ones(30))
    np.testing.assert_allclose(Yp @ Xp.T, Yb @ Xb.T, atol=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rho=st.floats(0.05, 1.0),
    gamma=st.sampled_from([0.0, 1.0, 2.0]),
    lam=st.floats(1e-3, 1.0),
    kind=st.sampled_from(["observed", "reconstructed", "both"]),
    positive=st.booleans(),
    abstention=st.sampled_from([0.0, 0.4, 1.0]),
)
def test_classifier_and_aggregator_steps_never_increase_the_objective(
    seed, rho, gamma, lam, kind, positive, abstention
):
    P, y, state = random_fit_state(seed, n=30, m=5, d=2, frac_labeled=0.5, kind=kind)
    data = make_data(P, y)
    objective = Objective(rho, lam, gamma, 0.01, positive, kind, abstention=abstention)
    solver = ALSSolver(latent_dim=2)

    def total(s):
        return losses(data, s, objective, 7)[0]

    start = total(state)
    rows = np.concatenate([b.C_free.sum(axis=1) for b in data.blocks(7)])
    cols = sum(b.C_free.sum(axis=0) for b in data.blocks(7))
    state.X, state.Y = balance(state.X, state.Y, cols, rows)
    after_balance = total(state)
    state.X, state.a = classifier_step(data, state, objective, 7)
    after_x = total(state)
    recon_before = losses(data, state, objective, 7)[1]
    state.Y, state.c = fold_in(data, state.X, state.a, lam, 7)
    recon_after = losses(data, state, objective, 7)[1]
    after_y = total(state)
    solver._aggregator_step(data, state, objective)
    after_agg = total(state)
    eps = 1e-10 * max(1.0, abs(start))
    assert after_balance <= start + eps
    assert after_x <= after_balance + eps
    assert recon_after <= recon_before + eps  # the instance step fits P alone
    assert after_agg <= after_y + eps


def test_labels_never_reach_the_instance_factors(problem):
    """Labeled rows are represented exactly as a label-free fold-in would represent them."""
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(
            random_state=0, rho=0.3, label_aware_alpha=1.0, latent_dim=3
        ).fit(P, y)
    Y, c = clf.fold_in(P)
    np.testing.assert_allclose(Y, clf.instance_factors_, atol=1e-9)
    np.testing.assert_allclose(c, clf.instance_bias_, atol=1e-9)
    np.testing.assert_allclose(
        clf.predict_proba(P)[:, 1], clf.label_distributions_[:, 1], atol=1e-9
    )


@pytest.mark.parametrize("m", [4, pytest.param(8, marks=pytest.mark.slow)])
def test_chunk_size_does_not_change_the_result(m):
    """Also with latent_dim above the number of classifiers' rank (issue: fresh machine)."""
    P, y = make_ensemble_problem(300, m, positive_rate=0.2, missing_rate=0.2, random_state=2)
    y = np.where(np.arange(300) % 2 == 0, y, -1)
    kw = dict(random_state=0, latent_dim=m, lambda_reg=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = CFEnsembleClassifier(solver=ALS(max_iter=30, tol=0.0, chunk_size=3), **kw).fit(P, y)
        b = CFEnsembleClassifier(solver=ALS(max_iter=30, tol=0.0, chunk_size=100_000), **kw)
        b.fit(P, y)
    np.testing.assert_allclose(
        a.label_distributions_[:, 1], b.label_distributions_[:, 1], rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        reconstruct(
            a.instance_factors_, a.classifier_factors_, a.classifier_bias_, a.instance_bias_
        ),
        reconstruct(
            b.instance_factors_, b.classifier_factors_, b.classifier_bias_, b.instance_bias_
        ),
        atol=1e-10,
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_thread_count_and_chunk_size_do_not_change_the_result(problem, kernel, monkeypatch):
    """n_jobs (BLAS and numba threads), an outer threadpool limit and the block size."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(_kernels, "NUMBA_MIN_ROWS", 0 if kernel == "numba" else 10**12)
    P, _, y = problem
    kw = dict(random_state=0, latent_dim=4)
    als = dict(max_iter=20, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with threadpoolctl.threadpool_limits(1):
            a = CFEnsembleClassifier(solver=ALS(**als), **kw).fit(P, y)
        b = CFEnsembleClassifier(solver=ALS(n_jobs=2, chunk_size=7, **als), **kw).fit(P, y)
        c = CFEnsembleClassifier(solver=ALS(n_jobs=1, **als), **kw).fit(P, y)
    for other in (b, c):
        np.testing.assert_allclose(
            a.label_distributions_[:, 1], other.label_distributions_[:, 1], rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            a.predict_proba(P[:50]), other.predict_proba(P[:50]), rtol=1e-10, atol=1e-12
        )


def test_tolerance_triggers_and_max_iter_warns(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, solver=ALS(tol=1e-4, max_iter=500)).fit(P, y)
    assert clf.n_iter_ < 500
    clf = CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=2, tol=0.0)).fit(P, y)
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):  # complete P: when it runs
        assert clf.n_iter_ == 2


def test_freeze_keeps_the_aggregator_at_the_average(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(
            random_state=0, solver=ALS(max_iter=3, freeze_aggregator_iters=3)
        ).fit(P, y)
    np.testing.assert_array_equal(clf.coef_, np.full(P.shape[1], 1 / P.shape[1]))
    assert clf.intercept_ == 0.0


def test_callback_sees_every_iteration(problem):
    P, _, y = problem
    seen = []
    clf = CFEnsembleClassifier(
        random_state=0, solver=ALS(callback=lambda it, parts: seen.append(it))
    )
    clf.fit(P, y)
    assert seen == list(range(1, clf.n_iter_ + 1))


def _fit_curve(missing, **als):
    P, y = make_ensemble_problem(
        2000, 8, 0.1, error_correlation=0.5, missing_rate=missing, random_state=4
    )
    y = np.where(np.arange(2000) % 3 == 0, y, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, latent_dim=3, solver=ALS(tol=0.0, **als))
        clf.fit(P, y)
        curve = np.asarray(clf.loss_curve_["total"])  # complete P: the factorization runs here
    return clf, curve


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_objective_never_increases_from_one_iteration_to_the_next(accelerate, missing):
    """rho = 1 (the default): every step, extrapolated or not, lowers the objective."""
    _, total = _fit_curve(missing, accelerate=accelerate, max_iter=40)
    assert np.all(np.diff(total) <= 1e-12 * total[0])


@pytest.mark.parametrize("missing", [pytest.param(0.0, marks=pytest.mark.slow), 0.3])
def test_acceleration_reaches_the_same_optimum_in_fewer_iterations(missing):
    plain, plain_curve = _fit_curve(missing, accelerate=False, max_iter=300)
    fast, fast_curve = _fit_curve(missing, accelerate=True, max_iter=300)
    best = min(plain_curve.min(), fast_curve.min())

    def iterations_to(curve, gap):
        return int(np.flatnonzero((curve - best) / best <= gap)[0]) + 1

    assert iterations_to(fast_curve, 1e-6) * 2 < iterations_to(plain_curve, 1e-6)
    assert abs(fast_curve[-1] - plain_curve[-1]) <= 1e-8 * best
    np.testing.assert_allclose(
        fast.label_distributions_[:, 1], plain.label_distributions_[:, 1], atol=1e-4
    )


def test_an_exact_fit_with_objective_zero_ends_cleanly():
    """Found by the long fuzz run: lambda_reg=0 and a constant P reach an objective of 0."""
    P = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="y has no labeled rows"):
            clf = CFEnsembleClassifier(
                latent_dim=1, rho=0.01, lambda_reg=0.0, solver=ALS(chunk_size=1, max_iter=15)
            ).fit(P, np.array([-1, -1, -1]))
    np.testing.assert_allclose(clf.label_distributions_[:, 1], 0.5)


@pytest.mark.parametrize("kind", ["observed", "reconstructed"])
def test_rho_one_solves_the_aggregator_once_at_the_final_factors(problem, kind):
    """rho = 1: the factors do not see the labels, so the exact aggregator is solved once,
    after them. Its (w, b) is optimal for the final factors (no feasible perturbation lowers
    the supervised loss), and the curve's supervised part is NaN before the last iteration."""
    from cfensemble._als import labeled_input, supervised_part
    from cfensemble._losses import logits, supervised_loss

    P, _, y = problem
    data = make_data(P, y)
    objective = Objective(rho=1.0, aggregator_input=kind, aggregator_shrinkage=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = ALSSolver(latent_dim=2, max_iter=12, tol=0.0).fit(
            data, objective, None, np.random.default_rng(0)
        )
    sup = result.loss_curve[:, 2]
    assert np.isnan(sup[:-1]).all()
    state = result.state
    assert sup[-1] == pytest.approx(supervised_part(data, state, objective), rel=1e-12)
    A = labeled_input(data, state, objective)

    def loss(w, b):
        z = logits(A, w, b)
        return supervised_loss(z, data.y_labeled, data.kappa, 0.0, w, 1e-3, 0.1)

    best = loss(state.w, state.b)
    assert best == pytest.approx(sup[-1], rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(30):
        w = np.maximum(state.w + rng.normal(size=state.w.size) * 1e-3, 0.0)
        assert loss(w, state.b + rng.normal() * 1e-3) >= best - 1e-10
    # the curve's total and reconstruction parts are the reconstruction objective
    np.testing.assert_array_equal(result.loss_curve[:, 0], result.loss_curve[:, 1])


@pytest.mark.numba
@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize("rows", [3, 8, 517])
@pytest.mark.parametrize("deficient", [False, True])
def test_householder_r_is_the_qr_r_factor(rng, rows, deficient):
    """The fused kernel's R factor (Householder in numba): upper triangular with
    R^T R = F^T F; with full rank LAPACK's R up to row signs (then unique)."""
    from cfensemble._kernels_numba import _householder_r

    F = rng.normal(size=(rows, 8))
    if deficient:
        F[:, 3] = F[:, 1]  # a pivot of rounding size on the way
        F[:, 0] = 0.0  # and an exactly zero one: nothing to eliminate in the first column
    R = np.full((8, 8), np.nan)
    _householder_r(np.ascontiguousarray(F.T), rows, R)
    np.testing.assert_array_equal(np.tril(R, -1), 0.0)
    np.testing.assert_allclose(R.T @ R, F.T @ F, atol=1e-11 * rows)
    if rows >= 8 and not deficient:
        expected = np.linalg.qr(F, "r")
        sign = np.where(np.diag(R) * np.diag(expected) < 0, -1.0, 1.0)
        np.testing.assert_allclose(R * sign[:, None], expected, rtol=1e-11, atol=1e-12)


@pytest.mark.numba
@pytest.mark.skipif(not numba_available(), reason="numba not installed")
@pytest.mark.parametrize(("confidence", "label_aware"), [("uniform", False), ("certainty", True)])
def test_fused_sweep_gathers_the_sums_of_the_numpy_sweep(confidence, label_aware):
    """One pass of the numba kernel makes every sum the numpy path makes (block size 700:
    a last group of rows that is not full)."""
    from cfensemble._als import sweep

    P, y, state = random_fit_state(5, n=2000, m=7, d=3, frac_labeled=0.4, missing=0.3)
    data = make_data(P, np.where(np.isnan(y), -1, y), label_aware, confidence)
    objective = Objective(rho=1.0, lambda_reg=0.05)
    states = [state.copy(), state.copy()]
    got = sweep(data, states[0], objective, 700, "numba")
    expected = sweep(data, states[1], objective, 700, "numpy")
    np.testing.assert_allclose(states[0].Y, states[1].Y, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(states[0].c, states[1].c, rtol=1e-10, atol=1e-12)
    for name in ("data_term", "ridge_rows", "total_c", "col_count"):
        np.testing.assert_allclose(
            getattr(got.recon, name), getattr(expected.recon, name), rtol=1e-11
        )
    for name in ("gram", "rhs", "count"):
        np.testing.assert_allclose(
            getattr(got.equations, name), getattr(expected.equations, name), rtol=1e-10, atol=1e-12
        )
    np.testing.assert_allclose(got.R_y, expected.R_y, rtol=1e-9, atol=1e-11)
