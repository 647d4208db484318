"""abstention: the fill-in of a missing prediction blended toward an abstaining classifier's
1/K, fixed or cross-validated on the labeled rows ("auto")."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold, train_test_split

import cfensemble
from cfensemble import CFEnsembleClassifier, make_ensemble_problem
from cfensemble._losses import logits
from cfensemble._problem import Objective, aggregator_input, input_weight
from cfensemble.aggregators import (
    ABSTENTION_GRID,
    abstention_gains,
    choose_abstention,
    solve_aggregator,
)


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleClassifier(random_state=0, **params).fit(P, np.where(labeled, y, -1))


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


def test_gains_are_the_out_of_fold_losses_computed_by_hand(problems):
    """abstention_gains against a plain loop: the same folds, the aggregator solved on the
    other folds, the class-weighted log loss of each held-out row written out."""
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled, abstention=0.0)
    P = Ps["abstain"][labeled]
    observed = ~np.isnan(P)
    P_hat = (
        clf.instance_factors_[labeled] @ clf.classifier_factors_.T
        + clf.classifier_bias_
        + clf.instance_bias_[labeled, None]
    )
    yl = y[labeled].astype(float)
    kappa = np.where(yl == 1, yl.size / (2 * yl.sum()), yl.size / (2 * (yl.size - yl.sum())))
    objective = Objective(rho=1.0, aggregator_shrinkage=0.1)

    def make_input(beta):
        return aggregator_input("observed", np.nan_to_num(P), observed, P_hat.copy(), beta)

    gains, errors = abstention_gains(make_input, yl, kappa, objective, np.random.RandomState(5))

    seed = np.random.RandomState(5).randint(2**31 - 1)
    folds = list(StratifiedKFold(5, shuffle=True, random_state=seed).split(yl, yl))
    loss = np.zeros((len(ABSTENTION_GRID), yl.size))
    for j, beta in enumerate(ABSTENTION_GRID):
        A = np.where(observed, P, (1 - beta) * P_hat + beta / 2)
        for train, test in folds:
            w, b = solve_aggregator(
                A[train], yl[train], kappa[train], 0.0, 1e-3, True,
                np.full(A.shape[1], 0.1), 0.0, shrinkage=0.1,
            )  # fmt: skip
            for i in test:
                p = 1 / (1 + np.exp(-(A[i] @ w + b)))
                loss[j, i] = -kappa[i] / kappa.sum() * np.log(p if yl[i] == 1 else 1 - p)
    diff = loss[0] - loss
    np.testing.assert_allclose(gains, diff.sum(axis=1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(errors, np.sqrt(yl.size) * diff.std(axis=1), rtol=1e-9, atol=1e-12)


def test_the_rule_takes_the_best_clear_gain_or_zero():
    assert choose_abstention(None) == 0.0
    gains = np.array([0.0, 0.3, 0.5, 0.45, 0.2])
    assert choose_abstention((gains, np.full(5, 0.1))) == 0.5
    assert choose_abstention((gains, np.array([0, 0.1, 0.3, 0.1, 0.1]))) == 0.75  # 0.5 unclear
    assert choose_abstention((gains, np.full(5, 0.26))) == 0.0  # nothing beyond 2 errors
    assert choose_abstention((-gains, np.full(5, 0.01))) == 0.0


def test_auto_blends_where_classifiers_abstain_and_keeps_zero_elsewhere(problems):
    Ps, y, labeled = problems
    scores = {}
    for name, P in Ps.items():
        auto, zero = _fit(P, y, labeled), _fit(P, y, labeled, abstention=0.0)
        scores[name] = [
            average_precision_score(y[~labeled], clf.transduction_[~labeled])
            for clf in (auto, zero)
        ]
        mean = average_precision_score(y[~labeled], np.nanmean(P[~labeled], axis=1))
        assert scores[name][0] >= mean - 0.002, (name, scores[name], mean)
        if name == "abstain":
            assert auto.abstention_ > 0
            cv = auto.abstention_cv_
            j = cv["grid"].index(auto.abstention_)
            assert cv["gain"][j] > 2 * cv["standard_error"][j]
            assert scores[name][0] > scores[name][1] + 0.01
        else:
            assert auto.abstention_ == 0.0
            np.testing.assert_array_equal(auto.transduction_, zero.transduction_)
            np.testing.assert_array_equal(auto.coef_, zero.coef_)
    assert _fit(Ps["complete"], y, labeled).abstention_cv_ is None  # nothing is missing


def test_auto_equals_the_value_it_chose(problems):
    Ps, y, labeled = problems
    auto = _fit(Ps["abstain"], y, labeled)
    fixed = _fit(Ps["abstain"], y, labeled, abstention=auto.abstention_)
    assert fixed.abstention_ == auto.abstention_ and fixed.abstention_cv_ is None
    # the same final solve, from the same start, on the same input
    np.testing.assert_allclose(fixed.coef_, auto.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fixed.intercept_, auto.intercept_, rtol=0, atol=1e-12)
    new = Ps["abstain"][:200]
    np.testing.assert_allclose(fixed.predict_proba(new), auto.predict_proba(new), atol=1e-12)
    # the loss curve's supervised part is that of the aggregator used
    assert auto.loss_curve_["supervised"][-1] == pytest.approx(
        fixed.loss_curve_["supervised"][-1], rel=1e-8
    )


def test_auto_needs_five_labeled_rows_of_each_class(problems):
    Ps, y, labeled = problems
    few = labeled & ((y == 0) | (np.cumsum(labeled & (y == 1)) <= 4))  # 4 positives
    assert (y[few] == 1).sum() == 4
    clf = _fit(Ps["abstain"], y, few)
    assert clf.abstention_ == 0.0 and clf.abstention_cv_ is None
    five = labeled & ((y == 0) | (np.cumsum(labeled & (y == 1)) <= 5))
    assert _fit(Ps["abstain"], y, five).abstention_cv_ is not None


@pytest.mark.parametrize(
    "params",
    [
        {"rho": 0.7},
        {"aggregator_input": "reconstructed"},
        {"aggregator_solver": "gd"},
        {"freeze_aggregator_iters": 50},
        {"aggregator_type": "mean"},
        {"solver": "torch", "max_epochs": 5},
    ],
)
def test_auto_is_zero_where_the_factors_see_the_labels(problems, params):
    """Or where no exact aggregator is solved after the factors: auto is 0."""
    if params.get("solver") == "torch":
        pytest.importorskip("torch")
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled, max_iter=20, **params)
    assert clf.abstention_ == 0.0 and clf.abstention_cv_ is None
    zero = _fit(Ps["abstain"], y, labeled, max_iter=20, abstention=0.0, **params)
    np.testing.assert_array_equal(clf.transduction_, zero.transduction_)


def test_without_labels_auto_is_zero(problems):
    Ps, _, _ = problems
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=0).fit(Ps["abstain"], np.full(3000, -1))
    assert clf.abstention_ == 0.0 and clf.abstention_cv_ is None


def test_rows_of_weight_zero_do_not_count_in_the_cross_validation(problems):
    """Weight 0 leaves a row out of the fit; the cross-validation must not count it either
    (the Dask fit keeps such rows with weight 0 and must choose alike)."""
    from cfensemble._problem import Objective

    rng = np.random.default_rng(0)
    y = np.r_[np.ones(8), np.zeros(40)]
    A = rng.random((48, 3))
    kappa = np.where(y == 1, 3.0, 0.6)
    kappa[:4] = 0.0  # 4 positives of weight 0: 4 left, fewer than the folds
    objective = Objective(rho=1.0, aggregator_shrinkage=0.1)
    gains = abstention_gains(lambda b: A + b, y, kappa, objective, np.random.RandomState(0))
    assert gains is None
    kappa[:4] = [0.0, 3.0, 3.0, 3.0]  # 7 positives of weight > 0
    kept = np.flatnonzero(kappa > 0)
    a = abstention_gains(lambda b: A + b, y, kappa, objective, np.random.RandomState(0))
    b = abstention_gains(
        lambda b: A[kept] + b, y[kept], kappa[kept], objective, np.random.RandomState(0)
    )
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_a_fixed_abstention_is_the_blend_in_the_prediction(problems):
    """With complete P the blend has nothing to act on; with missing entries the prediction
    is the aggregator on the observed entries and the blended fill-in, written out."""
    Ps, y, labeled = problems
    a, b = (_fit(Ps["complete"], y, labeled, abstention=v) for v in (0.0, 0.8))
    np.testing.assert_allclose(a.transduction_, b.transduction_, rtol=0, atol=1e-12)
    clf = _fit(Ps["mcar"], y, labeled, abstention=0.8)
    P_hat = clf.instance_factors_ @ clf.classifier_factors_.T
    P_hat += clf.classifier_bias_ + clf.instance_bias_[:, None]
    A = np.where(np.isnan(Ps["mcar"]), 0.2 * P_hat + 0.4, Ps["mcar"])
    z = A @ clf.coef_ + clf.intercept_
    np.testing.assert_allclose(clf.transduction_, 1 / (1 + np.exp(-z)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("factorization", ["per_class", "joint"])
def test_three_classes(factorization):
    P, y = make_ensemble_problem(
        2000, 6, positive_rate=0.2, n_classes=3, error_correlation=0.3, random_state=1
    )
    distance = np.abs(P - 1 / 3).sum(axis=2)  # a classifier abstains where it is unsure
    Q = np.where((distance < np.quantile(distance, 0.3, axis=0))[:, :, None], np.nan, P)
    empty = np.isnan(Q[:, :, 0]).all(axis=1)
    Q[empty, 0] = P[empty, 0]
    labeled = np.random.default_rng(0).random(y.size) < 0.3
    auto = _fit(Q, y, labeled, multiclass_factorization=factorization)
    fixed = _fit(
        Q, y, labeled, multiclass_factorization=factorization, abstention=auto.abstention_
    )
    assert auto.abstention_cv_ is not None and auto.abstention_ > 0
    np.testing.assert_allclose(auto.predict_proba(Q), fixed.predict_proba(Q), atol=1e-12)
    np.testing.assert_allclose(auto.predict_proba(Q).sum(axis=1), 1.0, atol=1e-12)


def test_model_file_keeps_the_blend(problems, tmp_path):
    Ps, y, labeled = problems
    clf = _fit(Ps["abstain"], y, labeled)
    assert clf.abstention_ > 0
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.abstention_ == clf.abstention_
    assert loaded.abstention_cv_ == clf.abstention_cv_
    np.testing.assert_array_equal(
        loaded.predict_proba(Ps["abstain"]), clf.predict_proba(Ps["abstain"])
    )


@pytest.mark.parametrize("value", [1.5, -0.1, "yes", None])
def test_bad_abstention_is_a_clear_error(problems, value):
    Ps, y, labeled = problems
    with pytest.raises(ValueError, match="abstention"):
        CFEnsembleClassifier(abstention=value).fit(Ps["mcar"], np.where(labeled, y, -1))


def test_many_labeled_rows_are_sampled(problems, monkeypatch):
    """Above ABSTENTION_MAX_ROWS labeled rows the cross-validation runs on a stratified
    sample of that many, drawn with the folds' seed: the same as giving that sample."""
    import cfensemble.aggregators as agg
    from cfensemble._problem import Objective

    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.2).astype(float)
    A = rng.random((400, 3)) + y[:, None] * 0.3
    kappa = np.ones(400)
    objective = Objective(rho=1.0, aggregator_shrinkage=0.1)
    full = abstention_gains(lambda b: A + b, y, kappa, objective, np.random.RandomState(0))
    monkeypatch.setattr(agg, "ABSTENTION_MAX_ROWS", 100)
    sampled = abstention_gains(lambda b: A + b, y, kappa, objective, np.random.RandomState(0))
    seed = np.random.RandomState(0).randint(2**31 - 1)
    kept = np.sort(
        train_test_split(np.arange(400), train_size=100, stratify=y, random_state=seed)[0]
    )
    monkeypatch.setattr(agg, "ABSTENTION_MAX_ROWS", 10_000)
    by_hand = abstention_gains(
        lambda b: A[kept] + b, y[kept], kappa[kept], objective, np.random.RandomState(0)
    )
    np.testing.assert_array_equal(sampled[0], by_hand[0])
    assert not np.array_equal(sampled[0], full[0])


def test_an_estimator_pickled_before_abstention_predicts_as_zero(problems):
    """Objects pickled by an older version have no abstention_: they predict with 0."""
    Ps, y, labeled = problems
    clf = _fit(Ps["mcar"], y, labeled, abstention=0.0)
    expected = clf.predict_proba(Ps["mcar"][:100])
    del clf.abstention_
    np.testing.assert_array_equal(clf.predict_proba(Ps["mcar"][:100]), expected)
