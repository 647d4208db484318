"""abstention: the fill-in of a missing prediction blended toward an abstaining classifier's
1/K, fixed or chosen by a label-free test of the missingness ("auto")."""

import warnings

import numpy as np
import pytest
from conftest import fitted_P_hat, through_fold_in
from sklearn.metrics import average_precision_score

import cfensemble
from cfensemble import ALS, Autograd, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._abstention import abstention_statistics, choose_abstention
from cfensemble._losses import logits
from cfensemble._problem import aggregator_input, input_weight


def _abstaining(P, rate=0.3):
    """Each classifier withholds its `rate` least confident predictions (|p - 0.5| small)."""
    distance = np.abs(P - 0.5)
    Q = np.where(distance < np.quantile(distance, rate, axis=0), np.nan, P)
    empty = np.isnan(Q).all(axis=1)
    Q[empty, 0] = P[empty, 0]
    return Q


@pytest.fixture(scope="module")
def problems():
    P, y = make_ensemble_problem(
        n_samples=3000, n_classifiers=10, positive_rate=0.05, error_correlation=0.5, random_state=0
    )
    rng = np.random.default_rng(0)
    labeled = rng.random(y.size) < 0.2
    mcar = np.where(rng.random(P.shape) < 0.3, np.nan, P)
    return {"complete": P, "mcar": mcar, "abstain": _abstaining(P)}, y, labeled


def _fit(P, y, labeled, **params):
    """A fit without the fill-in calibration unless asked (the blend is tested on the plain
    fill-in here; tests/test_fill.py tests the calibration and the two together)."""
    params.setdefault("calibrate_fill", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleClassifier(random_state=0, **params).fit(P, np.where(labeled, y, -1))


def _assert_the_mean_of_the_blend(clf, P):
    """Without a trained aggregator the prediction is the mean of the input with the
    fill-in blended halfway toward 0.5."""
    A = np.where(np.isnan(P), 0.5 * fitted_P_hat(clf) + 0.25, P)
    np.testing.assert_allclose(
        clf.label_distributions_[:, 1], np.clip(A.mean(axis=1), 0, 1), atol=1e-12
    )


@pytest.mark.parametrize("kind", ["observed", "reconstructed", "both"])
@pytest.mark.parametrize("outputs", [1, 3])
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0])
def test_the_input_is_the_blend_written_entry_by_entry(kind, outputs, beta):
    rng = np.random.default_rng(0)
    P_hat = rng.normal(size=(6, 4 * max(outputs, 1)))
    observed = rng.random(P_hat.shape) < 0.6
    P0 = np.where(observed, rng.random(P_hat.shape), 0.0)
    got = aggregator_input(kind, P0, observed, P_hat.copy(), beta, outputs)
    K = max(outputs, 2)
    fill = np.empty_like(P_hat)
    for i in range(P_hat.shape[0]):
        for j in range(P_hat.shape[1]):
            fill[i, j] = P0[i, j] if observed[i, j] else (1 - beta) * P_hat[i, j] + beta / K
    expected = {"observed": fill, "reconstructed": P_hat, "both": np.hstack([fill, P_hat])}
    np.testing.assert_allclose(got, expected[kind], rtol=0, atol=1e-15)


@pytest.mark.parametrize("kind", ["observed", "reconstructed", "both"])
@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_input_weight_is_the_derivative_of_the_logits(kind, beta):
    """G[:, u] = dz / dP_hat[:, u], by central differences of the logits."""
    rng = np.random.default_rng(1)
    n, m = 7, 4
    P_hat = rng.normal(size=(n, m))
    observed = rng.random((n, m)) < 0.5
    P0 = np.where(observed, rng.random((n, m)), 0.0)
    w = rng.normal(size=2 * m if kind == "both" else m)
    h = 1e-6
    for u in range(m):
        moved = [P_hat.copy(), P_hat.copy()]
        moved[0][:, u] += h
        moved[1][:, u] -= h
        z = [logits(aggregator_input(kind, P0, observed, M, beta), w, 0.0) for M in moved]
        fd = (z[0] - z[1]) / (2 * h)
        np.testing.assert_allclose(input_weight(kind, w, observed, u, beta), fd, atol=1e-8)


def _z_by_hand(clf, P, u):
    """The test's statistic for classifier u, written out: each row folded in on its own
    through the public fold_in with u's prediction removed, the two proportions counted
    over the rows with another prediction."""
    others = P.copy()
    others[:, u] = np.nan
    below, missing = [], []
    usable = [i for i in range(P.shape[0]) if not np.isnan(others[i]).all()]
    observed_confidence = [max(P[i, u], 1 - P[i, u]) for i in usable if not np.isnan(P[i, u])]
    for i in range(P.shape[0]):
        if np.isnan(others[i]).all():
            continue  # nothing left to fold in from
        Y, c = clf.fold_in(others[i : i + 1])
        p_hat = Y[0] @ clf.classifier_factors_[u] + clf.classifier_bias_[u] + c[0]
        below.append(max(p_hat, 1 - p_hat) < min(observed_confidence))
        missing.append(np.isnan(P[i, u]))
    below, missing = np.array(below), np.array(missing)
    p1, p0, pooled = below[missing].mean(), below[~missing].mean(), below.mean()
    return (p1 - p0) / np.sqrt(pooled * (1 - pooled) * (1 / missing.sum() + 1 / (~missing).sum()))


def test_statistics_against_a_row_by_row_version(problems):
    """abstention_statistics and the fitted abstention_test_ against _z_by_hand (the
    estimator tests all 3000 rows: fewer than its sample size)."""
    Ps, y, labeled = problems
    P = Ps["abstain"][:300]
    clf = _fit(P, y[:300], labeled[:300])

    z = abstention_statistics(P, through_fold_in(clf))
    for u in (0, 9):
        assert z[u] == pytest.approx(_z_by_hand(clf, P, u), rel=1e-9)
    np.testing.assert_allclose(clf.abstention_test_["z"], z, rtol=1e-12)
    assert np.sum(z > 3) >= 8 and clf.abstention_ == 0.5  # they abstain where unsure here


def test_statistics_skip_classifiers_with_few_rows():
    """A classifier with fewer than 5 missing or 5 observed rows is not tested (NaN), also
    when the rows with no other prediction, which are not used, leave it fewer than 5."""
    rng = np.random.default_rng(0)
    P = rng.random((40, 5))
    P[35:, [0, 1, 3, 4]] = np.nan  # rows 35-39: classifier 2 alone
    P[20:32, 2] = np.nan
    P[4:, 3] = np.nan  # classifier 3: 4 observed rows
    P[:30, 4] = np.nan  # classifier 4: 5 observed rows (30-34), alone in 30 and 31
    P[30:32, :4] = np.nan
    seen = []

    def reconstruct_without(masked):
        seen.append(masked.shape[0])
        assert not np.isnan(masked).all(axis=1).any()
        return np.full(masked.shape, 0.5)  # below every observed confidence: z = 0

    z = abstention_statistics(P, reconstruct_without)
    # every classifier is folded in (the fill-in calibration uses them all), without the
    # rows that have no other prediction: classifier 2 without rows 35-39, 4 without 30-31
    assert seen == [40, 40, 35, 40, 38]
    np.testing.assert_array_equal(z, [0.0, 0.0, 0.0, np.nan, np.nan])


def test_the_rule_needs_z_above_3_for_30_percent_of_the_tested():
    nan = np.nan
    assert choose_abstention(np.array([nan, nan])) == (0.0, 0.0)
    assert choose_abstention(np.array([nan, 3.5, 1.0, 0.0])) == (0.5, pytest.approx(1 / 3))
    assert choose_abstention(np.array([3.5, 1.0, 1.0, 2.9])) == (0.0, 0.25)
    assert choose_abstention(np.array([3.0, 3.0, 3.0])) == (0.0, 0.0)  # above, not at
    assert choose_abstention(np.array([-9.0, 30.0, 30.0])) == (0.5, pytest.approx(2 / 3))


def test_auto_blends_where_classifiers_abstain_and_keeps_zero_elsewhere(problems):
    Ps, y, labeled = problems
    scores = {}
    for name, P in Ps.items():
        auto, zero = _fit(P, y, labeled), _fit(P, y, labeled, abstention=0.0)
        scores[name] = [
            average_precision_score(y[~labeled], clf.label_distributions_[~labeled, 1])
            for clf in (auto, zero)
        ]
        mean = average_precision_score(y[~labeled], np.nanmean(P[~labeled], axis=1))
        assert scores[name][0] >= mean - 0.002, (name, scores[name], mean)
        test = auto.abstention_test_
        if name == "abstain":
            assert auto.abstention_ == 0.5 and test["share"] >= 0.3
            assert scores[name][0] > scores[name][1] + 0.01
        else:
            assert auto.abstention_ == 0.0
            np.testing.assert_array_equal(
                auto.label_distributions_[:, 1], zero.label_distributions_[:, 1]
            )
            np.testing.assert_array_equal(auto.coef_, zero.coef_)
        if name == "mcar":  # tested, and no classifier looks like an abstainer
            assert test["share"] == 0.0 and max(test["z"]) < 3
        if name == "complete":
            assert test is None  # nothing is missing: nothing to test


def test_auto_equals_the_value_it_chose(problems):
    Ps, y, labeled = problems
    auto = _fit(Ps["abstain"], y, labeled)
    fixed = _fit(Ps["abstain"], y, labeled, abstention=auto.abstention_)
    assert fixed.abstention_ == auto.abstention_ and fixed.abstention_test_ is None
    # the same final solve, from the same start, on the same input
    np.testing.assert_allclose(fixed.coef_, auto.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fixed.intercept_, auto.intercept_, rtol=0, atol=1e-12)
    new = Ps["abstain"][:200]
    np.testing.assert_allclose(fixed.predict_proba(new), auto.predict_proba(new), atol=1e-12)
    # the loss curve's supervised part is that of the aggregator used
    assert auto.loss_curve_["supervised"][-1] == pytest.approx(
        fixed.loss_curve_["supervised"][-1], rel=1e-8
    )


def test_the_test_needs_no_labels(problems):
    """Two labeled positives, or none at all: the same choice (the test is label-free);
    without labels the prediction is the mean of the blended input."""
    Ps, y, labeled = problems
    two = labeled & ((y == 0) | (np.cumsum(labeled & (y == 1)) <= 2))
    assert (y[two] == 1).sum() == 2
    reference = _fit(Ps["abstain"], y, labeled)
    few = _fit(Ps["abstain"], y, two)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        none = CFEnsembleClassifier(random_state=0, calibrate_fill=False).fit(
            Ps["abstain"], np.full(y.size, -1)
        )
    for clf in (few, none):
        assert clf.abstention_ == 0.5
        np.testing.assert_allclose(clf.abstention_test_["z"], reference.abstention_test_["z"])
    _assert_the_mean_of_the_blend(none, Ps["abstain"])


@pytest.mark.parametrize(
    "params",
    [
        {"rho": 0.7},
        {"aggregator_input": "reconstructed"},
        {"solver": ALS(max_iter=20, aggregator_solver="gd")},
        {"solver": ALS(max_iter=20, freeze_aggregator_iters=50)},
        {"solver": Autograd(max_epochs=5, max_iter=20)},
    ],
)
def test_auto_is_zero_where_the_factors_see_the_labels(problems, params):
    """Or where no exact aggregator is solved after the factors: auto is 0."""
    if isinstance(params.get("solver"), Autograd):
        pytest.importorskip("torch")
    params = {"solver": ALS(max_iter=20), **params}
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled, **params)
    assert clf.abstention_ == 0.0 and clf.abstention_test_ is None
    zero = _fit(Ps["abstain"], y, labeled, abstention=0.0, **params)
    np.testing.assert_array_equal(clf.label_distributions_[:, 1], zero.label_distributions_[:, 1])


def test_the_mean_aggregator_averages_the_blended_input(problems):
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled, aggregator_type="mean")
    assert clf.abstention_ == 0.5
    fixed = _fit(Ps["abstain"], y, labeled, aggregator_type="mean", abstention=0.5)
    np.testing.assert_allclose(
        clf.label_distributions_[:, 1], fixed.label_distributions_[:, 1], rtol=0, atol=1e-12
    )
    # the supervised loss is the blend's: the last one as the fixed value's, the earlier
    # ones (computed before the test, with 0) not kept
    supervised = clf.loss_curve_["supervised"]
    assert supervised[-1] == pytest.approx(fixed.loss_curve_["supervised"][-1], rel=1e-10)
    assert np.isnan(supervised[:-1]).all()
    _assert_the_mean_of_the_blend(clf, Ps["abstain"])


def test_a_fixed_abstention_is_the_blend_in_the_prediction(problems):
    """With complete P the blend has nothing to act on; with missing entries the prediction
    is the aggregator on the observed entries and the blended fill-in, written out."""
    Ps, y, labeled = problems
    # (a fixed abstention > 0 also sets the shrinkage target to equal: compared at equal)
    a, b = (
        _fit(Ps["complete"], y, labeled, abstention=v, shrinkage_target="equal")
        for v in (0.0, 0.8)
    )
    np.testing.assert_allclose(
        a.label_distributions_[:, 1], b.label_distributions_[:, 1], rtol=0, atol=1e-12
    )
    clf = _fit(Ps["mcar"], y, labeled, abstention=0.8)
    A = np.where(np.isnan(Ps["mcar"]), 0.2 * fitted_P_hat(clf) + 0.4, Ps["mcar"])
    z = A @ clf.coef_ + clf.intercept_
    np.testing.assert_allclose(
        clf.label_distributions_[:, 1], 1 / (1 + np.exp(-z)), rtol=0, atol=1e-12
    )


def test_three_classes():
    P, y = make_ensemble_problem(
        2000, 6, positive_rate=0.2, n_classes=3, error_correlation=0.3, random_state=1
    )
    confidence = P.max(axis=2)  # a classifier abstains where it is unsure
    unsure = (confidence < np.quantile(confidence, 0.3, axis=0))[:, :, None]
    Q = np.where(unsure, np.nan, P)
    empty = np.isnan(Q[:, :, 0]).all(axis=1)
    Q[empty, 0] = P[empty, 0]
    mcar = np.where(np.random.default_rng(1).random(P.shape[:2])[:, :, None] < 0.3, np.nan, P)
    mcar[np.isnan(mcar[:, :, 0]).all(axis=1), 0] = P[np.isnan(mcar[:, :, 0]).all(axis=1), 0]
    labeled = np.random.default_rng(0).random(y.size) < 0.3
    auto = _fit(Q, y, labeled)
    fixed = _fit(Q, y, labeled, abstention=auto.abstention_)
    assert auto.abstention_ == 0.5 and len(auto.abstention_test_["z"]) == 6
    n, m, K = Q.shape
    expected = abstention_statistics(Q.reshape(n, m * K), through_fold_in(auto, (m, K)), outputs=K)
    np.testing.assert_allclose(auto.abstention_test_["z"], expected, rtol=1e-9)
    np.testing.assert_allclose(auto.predict_proba(Q), fixed.predict_proba(Q), atol=1e-12)
    np.testing.assert_allclose(auto.predict_proba(Q).sum(axis=1), 1.0, atol=1e-12)
    at_random = _fit(mcar, y, labeled)
    assert at_random.abstention_ == 0.0 and at_random.abstention_test_["share"] < 0.3


def test_model_file_keeps_the_blend(problems, tmp_path):
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled)
    assert clf.abstention_ > 0
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.abstention_ == clf.abstention_
    assert loaded.abstention_test_ == clf.abstention_test_
    np.testing.assert_array_equal(
        loaded.predict_proba(Ps["abstain"]), clf.predict_proba(Ps["abstain"])
    )


@pytest.mark.parametrize("value", [1.5, -0.1, "yes", None])
def test_bad_abstention_is_a_clear_error(problems, value):
    Ps, y, labeled = problems
    with pytest.raises(ValueError, match="abstention"):
        CFEnsembleClassifier(abstention=value).fit(Ps["mcar"], np.where(labeled, y, -1))


def test_the_test_folds_in_with_the_fitted_confidence(problems):
    """With confidence="certainty" the rows are folded in as new rows are (the fitted
    strategy without labels): the statistics of the public fold_in."""
    Ps, y, labeled = problems
    P = Ps["abstain"][:1000]
    clf = _fit(P, y[:1000], labeled[:1000], confidence="certainty")

    np.testing.assert_allclose(
        clf.abstention_test_["z"], abstention_statistics(P, through_fold_in(clf)), rtol=1e-9
    )


def test_large_data_is_tested_on_a_seeded_sample(problems, monkeypatch):
    """Above the sample size the test runs on that many rows drawn from random_state: the
    statistics are those of those rows (checked against the function on them)."""
    import cfensemble._missing as est

    Ps, y, labeled = problems
    P = Ps["abstain"]
    monkeypatch.setattr(est, "ABSTENTION_SAMPLE", 500)
    clf = _fit(P, y, labeled)
    rows = np.sort(np.random.RandomState(0).choice(P.shape[0], 500, replace=False))

    expected = abstention_statistics(P[rows], through_fold_in(clf))
    np.testing.assert_allclose(clf.abstention_test_["z"], expected, rtol=1e-12)
    assert _fit(P, y, labeled).abstention_test_["z"] == clf.abstention_test_["z"]  # seeded
    monkeypatch.setattr(est, "ABSTENTION_SAMPLE", 10_000)
    assert _fit(P, y, labeled).abstention_test_["z"] != clf.abstention_test_["z"]


def test_an_estimator_pickled_before_abstention_predicts_as_zero(problems):
    """Objects pickled by an older version have no abstention_: they predict with 0."""
    Ps, y, labeled = problems
    clf = _fit(Ps["mcar"], y, labeled, abstention=0.0)
    expected = clf.predict_proba(Ps["mcar"][:100])
    del clf.abstention_
    np.testing.assert_array_equal(clf.predict_proba(Ps["mcar"][:100]), expected)
