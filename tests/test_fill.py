"""The fill-in's label-free calibration (``calibrate_fill``, cfensemble._fill)."""

import warnings
import zipfile

import numpy as np
import pytest
from conftest import fitted_P_hat, through_fold_in
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression

from cfensemble import ALS, Autograd, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._fill import MIN_ROWS, TIE_TOL, FillMap, fit_fill_map, leave_one_out
from cfensemble.io import load_model


@pytest.fixture(scope="module")
def problem():
    P, y = make_ensemble_problem(
        1500, 6, positive_rate=0.1, error_correlation=0.5, missing_rate=0.3, random_state=3
    )
    return P, np.where(np.random.default_rng(0).random(y.size) < 0.3, y, -1)


def _fit(P, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleClassifier(random_state=0, **params).fit(P, y)


def _slow_map(fill_map, j, v):
    """One value through column j's map, written out: the knots' linear interpolation
    inside, slope 1 from the first or last knot outside, then cut to [0, 1]."""
    x, y = fill_map.x[j, : fill_map.n[j]], fill_map.y[j, : fill_map.n[j]]
    if not x.size:
        g = v
    elif v <= x[0]:
        g = y[0] + (v - x[0])
    elif v >= x[-1]:
        g = y[-1] + (v - x[-1])
    else:
        i = np.searchsorted(x, v, side="right") - 1
        g = y[i] + (y[i + 1] - y[i]) * (v - x[i]) / (x[i + 1] - x[i])
    return min(max(g, 0.0), 1.0)


def test_the_map_against_a_value_by_value_version():
    rng = np.random.default_rng(0)
    x = np.full((3, 5), np.nan)
    y = np.full_like(x, np.nan)
    x[0, :4], y[0, :4] = [0.1, 0.2, 0.5, 0.9], [0.0, 0.3, 0.3, 0.8]
    x[1, :5], y[1, :5] = np.sort(rng.random(5)), np.sort(rng.random(5))
    fill_map = FillMap(x, y, np.array([4, 5, 0]))  # column 2: the identity
    P_hat = rng.uniform(-0.3, 1.3, (200, 3))  # inside and beyond the knots
    out = fill_map(P_hat)
    slow = [[_slow_map(fill_map, j, v) for j, v in enumerate(row)] for row in P_hat]
    np.testing.assert_allclose(out, slow, atol=1e-14)
    np.testing.assert_array_equal(out[:, 2], np.clip(P_hat[:, 2], 0, 1))
    # beyond the knots, slope 1 while inside [0, 1], cut beyond it
    beyond = (P_hat[:, 0] > 0.9) & (P_hat[:, 0] < 1.1)
    np.testing.assert_allclose(out[beyond, 0], 0.8 + P_hat[beyond, 0] - 0.9, atol=1e-14)
    assert out.min() == 0.0 and out.max() == 1.0
    # only the entries of `where`, in place
    where = rng.random(P_hat.shape) < 0.3
    inplace = P_hat.copy()
    assert fill_map(inplace, where=where) is inplace
    np.testing.assert_array_equal(inplace, np.where(where, out, P_hat))


def test_fit_is_sklearn_isotonic_regression_inside_its_range():
    rng = np.random.default_rng(1)
    R = rng.random((300, 4))
    P = np.clip(R**2 + 0.1 * rng.standard_normal(R.shape), 0, 1)
    P[rng.random(P.shape) < 0.3] = np.nan
    R[:10, 1] = np.nan  # rows without another prediction do not count
    P[: 300 - MIN_ROWS + 1, 2] = np.nan  # fewer than MIN_ROWS pairs: the identity
    # constant up to rounding (an exact 0.4 in one chunking, 0.4 + an ulp in another):
    # the identity
    R[:, 3] = 0.4 + TIE_TOL * rng.random(300)
    fill_map = fit_fill_map(P, R)
    assert list(fill_map.n[2:]) == [0, 0]
    grid = np.linspace(0.05, 0.95, 50)
    for j in (0, 1):
        rows = ~np.isnan(P[:, j]) & ~np.isnan(R[:, j])
        iso = IsotonicRegression().fit(R[rows, j], P[rows, j])
        inside = (grid >= R[rows, j].min()) & (grid <= R[rows, j].max())
        ours = fill_map(np.column_stack([grid] * 4))[:, j]
        np.testing.assert_allclose(ours[inside], iso.predict(grid[inside]), atol=1e-12)
        assert np.all(np.diff(ours) >= 0)  # monotone: no two fill-ins swap


def test_reconstructions_that_differ_by_rounding_are_one_point():
    rng = np.random.default_rng(2)
    levels = np.repeat([0.2, 0.5, 0.7], 20)
    P = np.clip(levels + 0.2 * rng.standard_normal(60), 0, 1)[:, None]
    exact = fit_fill_map(P, levels[:, None])
    rounded = fit_fill_map(P, (levels + TIE_TOL * rng.random(60))[:, None])
    grid = np.linspace(0, 1, 41)[:, None]
    np.testing.assert_allclose(rounded(grid), exact(grid), atol=2 * TIE_TOL)
    # found by the chunk-size fuzz test: every row the same, two missing; one chunking gave
    # all leave-one-out reconstructions equal (the identity), another an ulp apart (a shift)
    P = np.full((6, 4), 0.5)
    P[2, 0] = P[5, 2] = np.nan
    params = {"latent_dim": 1, "rho": 1.0, "aggregator_input": "observed"}
    fits = [
        _fit(
            P, -np.ones(6, int), solver=ALS(max_iter=10, chunk_size=c), **params
        ).label_distributions_[:, 1]
        for c in (1, 2, 3)
    ]
    np.testing.assert_allclose(fits[1], fits[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fits[2], fits[0], rtol=0, atol=1e-12)


def test_leave_one_out_against_a_row_by_row_version(problem):
    P, y = problem
    clf = _fit(P, y)
    reconstruct_without = through_fold_in(clf)
    R = leave_one_out(P[:40], reconstruct_without)
    for i in range(40):
        for u in range(P.shape[1]):
            row = P[i : i + 1].copy()
            row[0, u] = np.nan
            if np.isnan(row).all():
                assert np.isnan(R[i, u])
            else:
                assert R[i, u] == pytest.approx(reconstruct_without(row)[0, u], abs=1e-12)


def test_fitted_calibration_and_its_use_in_the_prediction(problem):
    """``fill_calibration_`` is fit_fill_map on every row's leave-one-out reconstruction
    (1,500 rows: all of them), and the mean aggregator's prediction is the mean of the
    observed predictions and the calibrated fill-in (blended by abstention)."""
    P, y = problem
    for beta in (0.0, 0.5):
        clf = _fit(P, y, aggregator_type="mean", abstention=beta)
        R = leave_one_out(P, through_fold_in(clf))
        expected = fit_fill_map(P, R)
        np.testing.assert_array_equal(clf.fill_calibration_.n, expected.n)
        np.testing.assert_allclose(clf.fill_calibration_.x, expected.x, atol=1e-12)
        np.testing.assert_allclose(clf.fill_calibration_.y, expected.y, atol=1e-12)
        hat = fitted_P_hat(clf)
        fill = (1 - beta) * _slow_fill(clf.fill_calibration_, hat) + beta / 2
        A = np.where(np.isnan(P), fill, P)
        np.testing.assert_allclose(
            clf.label_distributions_[:, 1], np.clip(A.mean(axis=1), 0, 1), atol=1e-12
        )
        missing = np.isnan(P)
        for key, values in (("reconstruction", hat), ("fill", fill)):
            lo, hi = clf.diagnostics_[f"missing_{key}_range"]
            np.testing.assert_allclose([lo, hi], [values[missing].min(), values[missing].max()])
        new = P[:50]
        hat_new = through_fold_in(clf)(new)
        fill_new = (1 - beta) * _slow_fill(clf.fill_calibration_, hat_new) + beta / 2
        A_new = np.where(np.isnan(new), fill_new, new)
        np.testing.assert_allclose(
            clf.predict_proba(new)[:, 1], np.clip(A_new.mean(axis=1), 0, 1), atol=1e-12
        )


def test_impute_is_the_fill_in_the_aggregator_reads(problem):
    """``impute``: observed entries unchanged, missing ones the calibrated, blended fill-in
    of the folded-in rows (written out), and the trained aggregator's prediction is its
    logistic function of them."""
    P, y = problem
    new = P[:200]
    for beta in (0.0, 0.5):
        clf = _fit(P, y, abstention=beta)
        filled = clf.impute(new)
        missing = np.isnan(new)
        assert filled.shape == new.shape and not np.isnan(filled).any()
        np.testing.assert_array_equal(filled[~missing], new[~missing])
        fill = (1 - beta) * _slow_fill(clf.fill_calibration_, through_fold_in(clf)(new)) + beta / 2
        np.testing.assert_allclose(filled[missing], fill[missing], atol=1e-12)
        assert 0 <= filled.min() and filled.max() <= 1
        z = filled @ np.ravel(clf.coef_) + clf.intercept_
        np.testing.assert_allclose(clf.predict_proba(new)[:, 1], 1 / (1 + np.exp(-z)), atol=1e-12)


def test_impute_with_class_probabilities():
    P, y = make_ensemble_problem(
        600, 5, positive_rate=0.2, n_classes=3, missing_rate=0.3, random_state=1
    )
    clf = _fit(P, np.where(np.arange(600) % 3 == 0, y, -1))
    filled = clf.impute(P[:40])
    missing = np.isnan(P[:40])
    assert filled.shape == (40, 5, 3) and not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~missing], P[:40][~missing])
    # each class column filled by its own calibrated fill-in: (n, m K) layout
    hat = through_fold_in(clf, (5, 3))(P[:40].reshape(40, -1))
    fill = _slow_fill(clf.fill_calibration_, hat).reshape(40, 5, 3)
    beta = clf.abstention_
    np.testing.assert_allclose(filled[missing], ((1 - beta) * fill + beta / 3)[missing])
    # two classes given as (n, m, 2): the second class filled, the first its complement
    P2, y2 = make_ensemble_problem(400, 4, positive_rate=0.2, missing_rate=0.3, random_state=2)
    P3 = np.stack([1 - P2, P2], axis=2)
    clf2 = _fit(P3, y2)
    filled2 = clf2.impute(P3)
    np.testing.assert_allclose(filled2[:, :, 1], _fit(P2, y2).impute(P2), atol=1e-12)
    np.testing.assert_allclose(filled2.sum(axis=2), 1.0, atol=1e-12)


def test_impute_checks_its_input(problem):
    P, y = problem
    with pytest.raises(NotFittedError):
        CFEnsembleClassifier().impute(P)
    clf = _fit(P, y)
    with pytest.raises(ValueError, match="classifiers"):
        clf.impute(P[:, :4])


def _slow_fill(fill_map, P_hat):
    return np.array([[_slow_map(fill_map, j, v) for j, v in enumerate(row)] for row in P_hat])


def test_the_trained_aggregator_sees_the_calibrated_fill_in(problem):
    P, y = problem
    on, off = _fit(P, y), _fit(P, y, calibrate_fill=False)
    assert on.fill_calibration_ is not None and off.fill_calibration_ is None
    assert not np.allclose(on.coef_, off.coef_)
    # the factors do not depend on it (rho = 1): the same fit, another aggregator input
    np.testing.assert_array_equal(on.classifier_factors_, off.classifier_factors_)


@pytest.mark.parametrize(
    "params",
    [
        {"calibrate_fill": False},
        {"rho": 0.7},
        {"aggregator_input": "reconstructed"},
        {"solver": Autograd(max_epochs=3)},
    ],
)
def test_no_calibration_where_it_does_not_apply(problem, params):
    if isinstance(params.get("solver"), Autograd):
        pytest.importorskip("torch")
    P, y = problem
    assert _fit(P, y, **params).fill_calibration_ is None


def test_nothing_missing_nothing_to_calibrate():
    P, y = make_ensemble_problem(400, 5, positive_rate=0.2, random_state=0)
    clf = _fit(P, y)
    assert clf.fill_calibration_ is None
    assert clf.diagnostics_["missing_reconstruction_range"] is None
    assert clf.diagnostics_["missing_fill_range"] is None


def test_three_classes_calibrate_every_class_column():
    P, y = make_ensemble_problem(
        600, 5, positive_rate=0.2, n_classes=3, missing_rate=0.3, random_state=1
    )
    clf = _fit(P, np.where(np.arange(600) % 3 == 0, y, -1))
    assert clf.fill_calibration_.x.shape[0] == 15  # (classifier, class) columns
    assert (clf.fill_calibration_.n > 0).all()
    proba = clf.predict_proba(P[:30])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_model_file_keeps_the_calibration(problem, tmp_path):
    P, y = problem
    clf = _fit(P, y)
    clf.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.fill_calibration_.x, clf.fill_calibration_.x)
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))
    off = _fit(P, y, calibrate_fill=False)
    off.save(tmp_path / "off.npz")
    assert load_model(tmp_path / "off.npz").fill_calibration_ is None


def test_a_damaged_calibration_is_refused(problem, tmp_path):
    P, y = problem
    clf = _fit(P, y)
    x = clf.fill_calibration_.x.copy()
    x[0, :2] = x[0, 1::-1]  # knots out of order
    object.__setattr__(clf.fill_calibration_, "x", x)
    clf.save(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match=r"fill_calibration\.x must increase"):
        load_model(tmp_path / "bad.npz")
    with zipfile.ZipFile(tmp_path / "bad.npz") as archive:
        assert "fill_calibration.n.npy" in archive.namelist()


def test_weights_count_a_row_that_many_times():
    """fit_fill_map and the abstention statistics with integer weights equal the unweighted
    versions on the rows repeated."""
    from cfensemble._abstention import statistics_from

    rng = np.random.default_rng(2)
    R = rng.random((60, 3))
    P = np.clip(R + 0.2 * rng.standard_normal(R.shape), 0, 1)
    P[rng.random(P.shape) < 0.4] = np.nan
    R[:4, 0] = np.nan
    weight = rng.integers(1, 4, 60).astype(float)
    copies = np.repeat(np.arange(60), weight.astype(int))
    ours, repeated = fit_fill_map(P, R, weight), fit_fill_map(P[copies], R[copies])
    grid = np.column_stack([np.linspace(-0.2, 1.2, 80)] * 3)
    np.testing.assert_allclose(ours(grid), repeated(grid), atol=1e-12)
    np.testing.assert_allclose(
        statistics_from(P, R, 1, weight), statistics_from(P[copies], R[copies]), rtol=1e-12
    )
