"""``shrinkage_target``: the shrinkage pulls the weights toward weights proportional to a
target (equal, the label-free consensus, or the user's) instead of toward equal weights."""

import numpy as np
import pytest
from conftest import labeled_problem, quiet_fit
from scipy.optimize import minimize

from cfensemble import Autograd, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._consensus import CONSENSUS_EXPONENT, consensus_target, moments
from cfensemble._losses import (
    aggregator_penalty,
    class_weights,
    shrinkage_gradient,
    supervised_loss,
)
from cfensemble._problem import Data, unit_confidence
from cfensemble.aggregators import _shrinkage_hessian, aggregator_gradient_step, solve_aggregator
from cfensemble.io import load_model, save_model


def _slow_consensus(P, weight=None):
    """The target written out per classifier: correlation of its observed predictions
    with the mean of the others' available ones (weighted moments), the factor-score
    weight r / (sd (1 - r^2)), floored at 1e-3 of the largest, cube root, mean 1."""
    n, m = P.shape
    weight = np.ones(n) if weight is None else weight
    raw = np.zeros(m)
    for u in range(m):
        xs, zs, ws = [], [], []
        for i in range(n):
            others = [P[i, v] for v in range(m) if v != u and not np.isnan(P[i, v])]
            if np.isnan(P[i, u]) or not others:
                continue
            xs.append(P[i, u])
            zs.append(np.mean(others))
            ws.append(weight[i])
        x, z, w = np.array(xs), np.array(zs), np.array(ws)
        mx, mz = np.average(x, weights=w), np.average(z, weights=w)
        sx = np.sqrt(np.average((x - mx) ** 2, weights=w))
        sz = np.sqrt(np.average((z - mz) ** 2, weights=w))
        r = np.clip(np.average((x - mx) * (z - mz), weights=w) / (sx * sz), 1e-3, 0.99)
        raw[u] = r / (sx * (1 - r * r))
    t = np.maximum(raw, 1e-3 * raw.max()) ** (1 / 3)
    return t / t.mean()


def test_the_consensus_target_against_a_row_by_row_version():
    P, _, _ = labeled_problem(n=200)
    weight = np.random.default_rng(3).integers(1, 4, P.shape[0]).astype(float)
    for w in (None, weight):
        np.testing.assert_allclose(
            consensus_target(moments(P, 1, w)), _slow_consensus(P, w), rtol=1e-10
        )
    assert CONSENSUS_EXPONENT == pytest.approx(1 / 3)


def test_an_integer_weight_is_that_many_copies_of_the_row():
    P, _, _ = labeled_problem(n=300)
    weight = np.random.default_rng(0).integers(1, 4, P.shape[0])
    copies = np.repeat(P, weight, axis=0)
    np.testing.assert_allclose(
        moments(P, 1, weight.astype(float)), moments(copies), rtol=1e-12, atol=1e-9
    )


def test_the_moments_do_not_depend_on_the_block_size():
    P, _, _ = labeled_problem(n=1000)
    data = Data(P, np.full(P.shape[0], np.nan), unit_confidence)
    target = consensus_target(data.consensus_moments(1))
    for size in (7, 333):
        np.testing.assert_allclose(
            consensus_target(data.consensus_moments(1, size=size)), target, rtol=1e-12
        )


def test_consensus_ranks_a_one_factor_model_by_its_noise_and_is_equal_for_copies():
    """Classifiers that each add their own noise to one common signal: the less noise,
    the larger the target; identical classifiers get equal targets."""
    rng = np.random.default_rng(0)
    noise = np.array([0.3, 0.6, 1.0, 1.5, 2.0, 3.0])
    signal = rng.normal(size=(5000, 1))
    P = np.clip(0.5 + 0.08 * (signal + noise * rng.normal(size=(5000, 6))), 0, 1)
    P[rng.random(P.shape) < 0.3] = np.nan
    t = consensus_target(moments(P))
    assert t.mean() == pytest.approx(1.0)
    assert np.all(np.diff(t) < 0)
    same = np.column_stack([P[:, 3]] * 4)
    np.testing.assert_allclose(consensus_target(moments(same)), np.ones(4))


def test_a_classifier_without_overlap_is_held_at_the_floor():
    P, _, _ = labeled_problem(missing_rate=0.0, n=400)
    P = np.column_stack([P, np.full(P.shape[0], 0.5)])  # constant: no correlation
    t = consensus_target(moments(P))
    raw = (t / t[:-1].max()) ** 3
    assert raw[-1] == pytest.approx(1e-3)


@pytest.mark.parametrize("groups,outputs", [(1, 1), (2, 1), (1, 3), (2, 3)])
def test_penalty_and_gradient_against_the_formula_and_finite_differences(groups, outputs):
    rng = np.random.default_rng(groups * 10 + outputs)
    m = 4
    size = groups * m * outputs
    w, t = rng.normal(size=size), rng.uniform(0.3, 2.0, size)
    value = aggregator_penalty(w, 0.01, 0.7, groups, outputs, t)
    slow = 0.005 * w @ w
    v = (w / t).reshape(groups, m, outputs)
    for g in range(groups):
        for k in range(outputs):
            slow += 0.35 * np.sum((v[g, :, k] - v[g, :, k].mean()) ** 2)
    assert value == pytest.approx(slow, rel=1e-12)
    grad = 0.01 * w + shrinkage_gradient(w, 0.7, groups, outputs, t)
    h = 1e-6
    fd = [
        (
            aggregator_penalty(w + h * e, 0.01, 0.7, groups, outputs, t)
            - aggregator_penalty(w - h * e, 0.01, 0.7, groups, outputs, t)
        )
        / (2 * h)
        for e in np.eye(size)
    ]
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # a target of all 1 is the equal-weights penalty
    assert aggregator_penalty(w, 0.01, 0.7, groups, outputs, np.ones(size)) == pytest.approx(
        aggregator_penalty(w, 0.01, 0.7, groups, outputs)
    )


def _aggregator_problem(n=400, m=5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(float)
    A = np.clip(0.5 * y[:, None] + rng.normal(0.25, 0.2 + 0.1 * np.arange(m), (n, m)), 0, 1)
    return A, y, class_weights(y), rng.uniform(0.3, 3.0, m)


@pytest.mark.parametrize("positive", [False, True])
def test_the_newton_solve_with_a_target_is_the_solve_on_scaled_columns(positive):
    """Without the ridge the target is a change of variables: w = t * v with v the
    equal-target solution on the columns scaled by t (the sign constraint is kept)."""
    A, y, kappa, t = _aggregator_problem()
    m = A.shape[1]
    start = np.full(m, 1 / m)
    w, b = solve_aggregator(A, y, kappa, 0.0, 0.0, positive, start, 0.0, shrinkage=0.5, target=t)
    v, c = solve_aggregator(A * t, y, kappa, 0.0, 0.0, positive, start, 0.0, shrinkage=0.5)
    np.testing.assert_allclose(w, t * v, rtol=1e-6, atol=1e-9)
    assert b == pytest.approx(c, rel=1e-6)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_the_newton_solve_with_a_target_minimises_the_written_out_loss(gamma):
    A, y, kappa, t = _aggregator_problem(seed=1)
    m = A.shape[1]
    w, b = solve_aggregator(
        A, y, kappa, gamma, 1e-3, False, np.full(m, 1 / m), 0.0, shrinkage=2.0, target=t
    )

    def loss(theta):
        p = np.clip(1 / (1 + np.exp(-(A @ theta[:m] + theta[m]))), 1e-15, 1 - 1e-15)
        pt = np.where(y == 1, p, 1 - p)
        focal = -((1 - pt) ** gamma) * np.log(pt)
        v = theta[:m] / t
        return (
            kappa @ focal / kappa.sum()
            + 0.5e-3 * theta[:m] @ theta[:m]
            + np.sum((v - v.mean()) ** 2)
        )

    best = minimize(loss, np.append(w, b) + 0.05, method="BFGS", options={"gtol": 1e-10})
    assert loss(np.append(w, b)) <= best.fun + 1e-10
    np.testing.assert_allclose(np.append(w, b), best.x, atol=1e-4)


def test_the_block_hessian_is_the_shrinkage_gradient_of_unit_vectors():
    t = np.random.default_rng(5).uniform(0.01, 3.0, 6)
    H = _shrinkage_hessian(t, 0.7)
    slow = np.column_stack([shrinkage_gradient(e, 0.7, target=t) for e in np.eye(6)])
    np.testing.assert_allclose(H, slow, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize(("groups", "outputs"), [(1, 1), (2, 1), (1, 3), (2, 3)])
def test_the_gradient_step_takes_the_shrinkage_implicitly(groups, outputs, positive):
    """The loss by a gradient step, the shrinkage (and the sign constraint) by a proximal
    step: the result is the minimiser of |v - explicit|^2 / (2 lr) + the shrinkage term
    over v (>= 0 with positive), found numerically, where ``explicit`` is the plain step."""
    rng = np.random.default_rng(3)
    n, m = 300, 5
    k = groups * m * outputs
    y = rng.integers(0, max(outputs, 2), n).astype(float)
    A = rng.random((n, k))
    t = rng.uniform(0.05, 3.0, k)
    # some weights far below 0, so that the sign constraint is active
    w = np.where(rng.random(k) < 0.3, -2.0, rng.uniform(0.1, 0.4, k))
    b = 0.0 if outputs == 1 else np.zeros(outputs)
    lr, shrink = 0.1, 1.0
    args = (A, y, class_weights(y), 0.0, 1e-3, False, w, b, lr)
    explicit, _ = aggregator_gradient_step(*args, 0.0, groups, outputs, t)
    stepped, _ = aggregator_gradient_step(
        A, y, class_weights(y), 0.0, 1e-3, positive, w, b, lr, shrink, groups, outputs, t
    )

    def objective(v):
        return np.sum((v - explicit) ** 2) / (2 * lr) + aggregator_penalty(
            v, 0.0, shrink, groups, outputs, t
        )

    bounds = [(0.0, None)] * k if positive else None
    best = minimize(
        objective, np.maximum(explicit, 0.0), method="L-BFGS-B", bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000},
    )  # fmt: skip
    assert objective(stepped) <= best.fun + 1e-9
    np.testing.assert_allclose(stepped, best.x, atol=1e-5)
    if positive:
        assert stepped.min() == 0.0 and (explicit < 0).any()


@pytest.mark.parametrize("positive", [False, True])
def test_gradient_steps_stay_stable_with_a_small_target(positive):
    """A target of 1e-3 makes the shrinkage's curvature 1e6 times its strength: explicit
    steps of lr = 1 diverge; the implicit ones reach the optimum of the exact solve (to
    its stopping precision: at least as low an objective), with the sign constraint
    active too (a classifier ranking backwards, its weight barely shrunk: target 50)."""
    A, y, kappa, t = _aggregator_problem(seed=4)
    t[0], t[1] = 1e-3, 50.0
    m = A.shape[1]
    A[:, 1] = np.clip(0.9 - 0.8 * y + np.random.default_rng(9).normal(0, 0.05, y.size), 0, 1)

    def objective(w, b):
        return supervised_loss(A @ w + b, y, kappa, 0.0, w, 1e-3, 0.1, 1, t)

    w, b = np.full(m, 1 / m), 0.0
    for _ in range(5000):
        w, b = aggregator_gradient_step(A, y, kappa, 0.0, 1e-3, positive, w, b, 1.0, 0.1, 1, 1, t)
    best_w, best_b = solve_aggregator(
        A, y, kappa, 0.0, 1e-3, positive, np.full(m, 1 / m), 0.0, shrinkage=0.1, target=t
    )
    assert (best_w[1] == 0.0) if positive else (best_w[1] < -1.0)
    assert objective(w, b) <= objective(best_w, best_b) + 1e-12
    np.testing.assert_allclose(w, best_w, atol=1e-4)
    assert b == pytest.approx(best_b, abs=1e-4)


def test_an_all_ones_array_is_equal_and_separation_is_the_default():
    P, _, y_semi = labeled_problem()
    equal = quiet_fit(P, y_semi, shrinkage_target="equal")
    np.testing.assert_array_equal(equal.shrinkage_target_, np.ones(P.shape[1]))
    for target in (np.ones(P.shape[1]), [2.0] * P.shape[1]):
        clf = quiet_fit(P, y_semi, shrinkage_target=target)
        np.testing.assert_array_equal(clf.predict_proba(P), equal.predict_proba(P))
    default = quiet_fit(P, y_semi)
    assert CFEnsembleClassifier().shrinkage_target == "separation"
    np.testing.assert_array_equal(
        default.predict_proba(P),
        quiet_fit(P, y_semi, shrinkage_target="separation").predict_proba(P),
    )
    assert not np.allclose(default.predict_proba(P), equal.predict_proba(P))


@pytest.mark.parametrize("missing_rate", [0.0, 0.3])
def test_consensus_is_the_fit_with_its_target_given(missing_rate):
    P, _, y_semi = labeled_problem(missing_rate=missing_rate)
    clf = quiet_fit(P, y_semi, shrinkage_target="consensus")
    assert clf.abstention_ == 0.0
    np.testing.assert_allclose(clf.shrinkage_target_, consensus_target(moments(P)), rtol=1e-12)
    given = quiet_fit(P, y_semi, shrinkage_target=3.0 * clf.shrinkage_target_)  # ratios only
    np.testing.assert_allclose(given.coef_, clf.coef_, rtol=1e-12)
    # a strong shrinkage makes the weights proportional to the target
    strong = quiet_fit(P, y_semi, shrinkage_target="consensus", aggregator_shrinkage=1e5)
    ratio = strong.coef_ / strong.shrinkage_target_
    assert ratio.std() < 1e-3 * ratio.mean()
    assert (clf.coef_ / clf.shrinkage_target_).std() > 10 * ratio.std()


def test_consensus_helps_where_the_classifiers_are_unequal():
    """The generator's classifiers of quality 0.2 ... 0.9, each with its own calibration
    (spread): equal weights are a poor centre to shrink toward; the consensus target,
    which scales by each classifier's spread, does better on the held-out rows."""
    from sklearn.metrics import average_precision_score

    P, y, y_semi = labeled_problem(missing_rate=0.0, n=4000)
    held = y_semi < 0
    scores = {}
    for target in ("equal", "consensus"):
        clf = quiet_fit(P, y_semi, shrinkage_target=target)
        scores[target] = average_precision_score(y[held], clf.label_distributions_[held, 1])
    assert scores["consensus"] > scores["equal"] + 0.005


def _abstaining(P, share=0.3):
    """Each classifier withholds its least confident ``share`` of the rows."""
    out = P.copy()
    for u in range(P.shape[1]):
        sure = np.abs(P[:, u] - 0.5)
        out[sure < np.quantile(sure, share), u] = np.nan
    return out


def test_consensus_is_equal_where_the_classifiers_abstain():
    P, y = make_ensemble_problem(3000, 10, positive_rate=0.05, random_state=0)
    y_semi = np.where(np.random.default_rng(0).random(y.size) < 0.2, y, -1)
    P = _abstaining(P)
    keep = ~np.isnan(P).all(axis=1)
    P, y_semi = P[keep], y_semi[keep]
    clf = quiet_fit(P, y_semi, shrinkage_target="consensus", calibrate_fill=False)
    assert clf.abstention_ > 0
    np.testing.assert_array_equal(clf.shrinkage_target_, np.ones(10))
    same = quiet_fit(P, y_semi, calibrate_fill=False, shrinkage_target="equal")
    np.testing.assert_array_equal(clf.predict_proba(P), same.predict_proba(P))
    given = quiet_fit(P, y_semi, shrinkage_target="consensus", abstention=0.5)
    np.testing.assert_array_equal(given.shrinkage_target_, np.ones(10))


def test_auto_shrinkage_cross_validates_with_the_target():
    P, _, y_semi = labeled_problem(missing_rate=0.3)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto", shrinkage_target="consensus")
    fixed = quiet_fit(
        P, y_semi, aggregator_shrinkage=auto.aggregator_shrinkage_, shrinkage_target="consensus"
    )
    np.testing.assert_array_equal(auto.coef_, fixed.coef_)
    equal = quiet_fit(P, y_semi, aggregator_shrinkage="auto", shrinkage_target="equal")
    assert auto.shrinkage_cv_["mean_pr_auc"][0] == pytest.approx(  # shrinkage 0: no target
        equal.shrinkage_cv_["mean_pr_auc"][0], abs=1e-12
    )
    assert auto.shrinkage_cv_["mean_pr_auc"][3] != equal.shrinkage_cv_["mean_pr_auc"][3]


@pytest.mark.parametrize("params", [{"rho": 0.5}, {}], ids=["joint", "per_class"])
def test_three_classes_have_a_target_per_classifier_and_class(params):
    P, y = make_ensemble_problem(900, 5, n_classes=3, random_state=0, base_quality=0.6)
    y_semi = np.where(np.random.default_rng(0).random(900) < 0.3, y, -1)
    clf = quiet_fit(P, y_semi, shrinkage_target="consensus", **params)
    assert clf.multiclass_factorization_ == ("joint" if params else "per_class")
    target = clf.shrinkage_target_
    assert target.shape == (15,)
    np.testing.assert_allclose(target.reshape(5, 3).mean(axis=0), 1.0)
    np.testing.assert_allclose(target, consensus_target(moments(P.reshape(900, -1), 3), 3))
    per_classifier = quiet_fit(P, y_semi, shrinkage_target=[1, 2, 1, 1, 1])
    np.testing.assert_allclose(per_classifier.shrinkage_target_.reshape(5, 3)[1], 5 / 3)


def test_torch_penalty_equals_the_numpy_penalty():
    torch = pytest.importorskip("torch")
    from cfensemble._torch import torch_supervised

    rng = np.random.default_rng(0)
    w, t = rng.normal(size=12), rng.uniform(0.5, 2.0, 12)
    empty = torch.zeros(0, dtype=torch.float64)
    value = torch_supervised(
        empty, empty, empty, 0.0, torch.tensor(w), 0.01, 0.7, 2, 3, torch.tensor(t)
    )
    assert float(value) == pytest.approx(aggregator_penalty(w, 0.01, 0.7, 2, 3, t), rel=1e-12)


def test_torch_trainer_uses_the_target():
    pytest.importorskip("torch")
    P, _, y_semi = labeled_problem(n=600)
    params = dict(solver=Autograd(max_epochs=30), shrinkage_target="consensus")
    clf = quiet_fit(P, y_semi, **params)
    assert not np.all(clf.shrinkage_target_ == 1.0)
    equal = quiet_fit(P, y_semi, **(params | {"shrinkage_target": "equal"}))
    assert not np.allclose(clf.coef_, equal.coef_)


@pytest.mark.parametrize(
    "target,message",
    [
        ([1.0, 2.0], "one positive number per classifier"),
        ([1.0, 2.0, 0.0, 1.0, 1.0, 1.0], "finite numbers > 0"),
        ([1.0, np.nan, 1.0, 1.0, 1.0, 1.0], "finite numbers > 0"),
        ("median", "shrinkage_target"),
    ],
)
def test_bad_target_is_a_clear_error(target, message):
    P, _, y_semi = labeled_problem(n=200)
    with pytest.raises(ValueError, match=message):
        quiet_fit(P, y_semi, shrinkage_target=target)


def test_model_file_keeps_the_target(tmp_path):
    P, _, y_semi = labeled_problem(n=600)
    for target in ("consensus", [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]):
        clf = quiet_fit(P, y_semi, shrinkage_target=target)
        save_model(clf, tmp_path / "m.cfe")
        loaded = load_model(tmp_path / "m.cfe")
        np.testing.assert_array_equal(loaded.shrinkage_target_, clf.shrinkage_target_)
        np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))
        refit = quiet_fit(P, y_semi, **{"shrinkage_target": loaded.shrinkage_target})
        np.testing.assert_array_equal(refit.coef_, clf.coef_)
