"""class_weight_warmup: the curriculum of the class weights, in both trainers."""

import warnings

import numpy as np
import pytest
from conftest import quiet_fit
from sklearn.exceptions import ConvergenceWarning

from cfensemble import (
    ALS,
    Autograd,
    CFEnsembleClassifier,
    CFEnsembleTrainer,
    _als,
    make_ensemble_problem,
)
from cfensemble._losses import class_weights
from cfensemble._problem import Data, class_exponent, with_class_exponent
from cfensemble.confidence import uniform


@pytest.mark.parametrize(
    ("warmup", "expected"),
    [(0, [1, 1, 1, 1, 1, 1]), (3, [0.25, 0.25, 0.5, 0.75, 1, 1]), (1, [0.5, 0.5, 1, 1, 1, 1])],
)
def test_class_exponent_rises_linearly_to_one(warmup, expected):
    # steps -1 (before the first aggregator update) to 4
    got = [class_exponent(step, warmup) for step in range(-1, 5)]
    np.testing.assert_allclose(got, expected)


def _data(rng, n=60):
    P = rng.random((n, 4))
    y = np.where(rng.random(n) < 0.5, (rng.random(n) < 0.2).astype(float), np.nan)
    y[:2] = [0, 1]
    weight = rng.integers(1, 4, n).astype(float)
    cost = rng.uniform(0.5, 2.0, n)
    return (
        Data(P, y, lambda P, y, rows: (uniform(P), uniform(P)), True, weight, cost),
        weight,
        cost,
    )


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.75])
def test_with_class_exponent_scales_the_class_part_only(rng, alpha):
    data, weight, cost = _data(rng)
    lab = data.labeled
    y = data.y_labeled
    # the obvious formula: class weights ** alpha, sample weights and costs in full
    expected = class_weights(y, True, weight[lab]) ** alpha * weight[lab] * cost[lab]
    scheduled = with_class_exponent(data, alpha)
    np.testing.assert_allclose(scheduled.kappa, expected, rtol=1e-12)
    assert scheduled.P is data.P and scheduled.resident is data.resident  # a view, no copy
    np.testing.assert_array_equal(
        data.kappa, class_weights(y, True, weight[lab]) * weight[lab] * cost[lab]
    )
    assert with_class_exponent(data, 1.0) is data


@pytest.fixture
def imbalanced():
    P, y = make_ensemble_problem(
        n_samples=600, n_classifiers=6, positive_rate=0.05, missing_rate=0.3, random_state=0
    )
    return P, np.where(np.arange(y.size) % 3 == 0, y, -1)


def _recorded(monkeypatch, module, name):
    """Record the ``kappa`` (third argument) of every call of ``module.name``."""
    seen = []
    original = getattr(module, name)

    def spy(A, y, kappa, *args, **kwargs):
        seen.append((np.asarray(y).copy(), np.asarray(kappa).copy()))
        return original(A, y, kappa, *args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return seen


def _powers(seen):
    """The power of the class weights of each recorded call (positives over negatives)."""
    y = seen[0][0]
    full = class_weights(y, True)
    ratio = full[y == 1][0] / full[y == 0][0]
    return [np.log(k[yy == 1][0] / k[yy == 0][0]) / np.log(ratio) for yy, k in seen]


@pytest.mark.parametrize(
    ("als", "params", "name"),
    [
        (dict(aggregator_solver="gd"), {}, "aggregator_gradient_step"),
        ({}, dict(rho=0.5), "solve_aggregator"),
        (dict(aggregator_solver="gd", freeze_aggregator_iters=2), {}, "aggregator_gradient_step"),
    ],
)
def test_als_aggregator_updates_follow_the_schedule(imbalanced, monkeypatch, als, params, name):
    P, y = imbalanced
    seen = _recorded(monkeypatch, _als, name)
    # accelerate=False: a rejected extrapolation would repeat an iteration's update
    solver = ALS(max_iter=8, tol=0.0, accelerate=False, **als)
    clf = quiet_fit(P, y, class_weight_warmup=4, solver=solver, **params)
    assert clf.n_iter_ == 8
    updates = 8 - als.get("freeze_aggregator_iters", 0)
    assert len(seen) == updates
    np.testing.assert_allclose(_powers(seen), [0.2, 0.4, 0.6, 0.8] + [1.0] * (updates - 4))


def test_als_extrapolation_keeps_the_schedule(imbalanced, monkeypatch):
    P, y = imbalanced
    seen = _recorded(monkeypatch, _als, "aggregator_gradient_step")
    quiet_fit(
        P, y, class_weight_warmup=4, solver=ALS(aggregator_solver="gd", max_iter=12, tol=0.0)
    )
    powers = np.array(_powers(seen))
    # a rejected extrapolation repeats its iteration's update, with the same weights
    assert np.all(np.diff(powers) >= -1e-12) and powers.size >= 12
    np.testing.assert_allclose(np.unique(powers.round(12)), [0.2, 0.4, 0.6, 0.8, 1.0])


def _assert_probabilities(clf, P):
    proba = clf.predict_proba(P)
    assert np.isfinite(proba).all() and np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(clf.label_distributions_[:, 1]).all()


def test_the_shortest_als_fit_allowed_runs_the_warmup_then_full_weights(imbalanced, monkeypatch):
    """class_weight_warmup=3 with max_iter=5, the fewest iterations it allows (one fewer is
    an error: test_where_it_cannot_act_is_a_clear_error): 3 ramped updates, then the full
    weights until the budget ends (a rejected extrapolation repeats an update)."""
    P, y = imbalanced
    seen = _recorded(monkeypatch, _als, "aggregator_gradient_step")
    clf = quiet_fit(P, y, class_weight_warmup=3, solver=ALS(aggregator_solver="gd", max_iter=5))
    assert clf.n_iter_ == 5
    powers = _powers(seen)
    np.testing.assert_allclose(powers[:3], [0.25, 0.5, 0.75])
    assert len(powers) >= 5
    np.testing.assert_allclose(powers[3:], 1.0)
    _assert_probabilities(clf, P)


def test_the_shortest_torch_fit_allowed_runs_the_warmup_then_full_weights(imbalanced, monkeypatch):
    """class_weight_warmup=3 with max_epochs=4, the fewest epochs it allows: 3 ramped
    epochs and one with the full weights."""
    pytest.importorskip("torch")
    P, y = imbalanced
    seen = _epoch_powers(monkeypatch)
    clf = quiet_fit(P, y, class_weight_warmup=3, solver=Autograd(max_epochs=4))
    assert clf.n_iter_ == 4
    np.testing.assert_allclose(_powers(seen), [0.25, 0.5, 0.75, 1.0])
    _assert_probabilities(clf, P)


def test_als_classifier_step_sees_the_weights_of_its_iteration(imbalanced, monkeypatch):
    P, y = imbalanced
    sums = []
    original = _als.classifier_step

    def spy(data, *args, **kwargs):
        sums.append(float(np.sum(data.kappa)))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(_als, "classifier_step", spy)
    quiet_fit(P, y, rho=0.5, class_weight_warmup=2, solver=ALS(max_iter=4, tol=0.0))
    # iterations 0 and 1 ramp up, 2 and 3 use the full weights
    y_lab = y[y != -1]
    full = class_weights(y_lab, True)
    np.testing.assert_allclose(sums, [np.sum(full ** (t / 3)) for t in (1, 2, 3, 3)])


def test_als_does_not_converge_during_the_warmup(imbalanced):
    P, y = imbalanced
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # both converge
        plain = CFEnsembleClassifier(rho=0.5, solver=ALS(tol=1e-2), random_state=0).fit(P, y)
        ramped = CFEnsembleClassifier(
            rho=0.5, solver=ALS(tol=1e-2), class_weight_warmup=20, random_state=0
        ).fit(P, y)
    assert plain.n_iter_ < 10 and ramped.n_iter_ > 21
    assert not np.allclose(ramped.coef_, plain.coef_)


def test_a_gradient_step_aggregator_must_settle_with_rho_1(imbalanced):
    # rho = 1: the total objective is the reconstruction alone; the "gd" aggregator is
    # still moving when the factors have converged, and the fit goes on until it settles
    P, y = imbalanced
    with pytest.warns(ConvergenceWarning, match="supervised part"):
        CFEnsembleClassifier(solver=ALS(aggregator_solver="gd"), random_state=0).fit(P, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = CFEnsembleClassifier(
            solver=ALS(aggregator_solver="gd", aggregator_lr=1.0, max_iter=1000), random_state=0
        ).fit(P, y)
    sup, recon = clf.loss_curve_["supervised"], clf.loss_curve_["reconstruction"]
    assert abs(sup[-1] - sup[-2]) <= 1e-4 * abs(sup[-2])
    # the reconstruction alone had settled hundreds of iterations earlier
    settled = np.flatnonzero(np.abs(np.diff(recon)) <= 1e-4 * np.abs(recon[:-1]))
    assert settled.size and settled[0] < clf.n_iter_ - 100


def test_the_seed_front_end_takes_it(imbalanced):
    P, y = imbalanced
    fitted = CFEnsembleTrainer(class_weight_warmup=5, latent_dim=3, random_state=0).fit(P, y)
    base = CFEnsembleTrainer(latent_dim=3, random_state=0).fit(P, y)
    assert fitted.get_params()["class_weight_warmup"] == 5
    assert not np.allclose(fitted.coef_, base.coef_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({}, "aggregator is solved once, after the factors"),
        ({"rho": "auto"}, r"rho='auto' \(which may choose 1\)"),
        ({"solver": ALS(aggregator_solver="gd"), "class_weight": None}, "class_weight=None"),
        (
            {"solver": ALS(aggregator_solver="gd"), "aggregator_type": "mean"},
            "aggregator_type='mean'",
        ),
        ({"class_weight_warmup": -1}, "'class_weight_warmup' parameter"),
        ({"solver": ALS(aggregator_solver="gd", max_iter=3)}, r"has at most 3 \(max_iter=3\)"),
        (
            {"solver": ALS(aggregator_solver="gd", max_iter=5, freeze_aggregator_iters=2)},
            r"at most 3 \(max_iter=5 - freeze_aggregator_iters=2\)",
        ),
        ({"solver": ALS(aggregator_solver="gd", max_iter=4)}, "at most 2 or a larger max_iter"),
        ({"solver": Autograd(max_epochs=2)}, "max_epochs=2"),
        (
            {"solver": ALS(aggregator_solver="gd"), "class_weight_warmup": True},
            "must be an int >= 0",
        ),
    ],
)
def test_where_it_cannot_act_is_a_clear_error(imbalanced, params, match):
    P, y = imbalanced
    with pytest.raises(ValueError, match=match):
        CFEnsembleClassifier(**{"class_weight_warmup": 3, **params}).fit(P, y)


def test_per_class_multiclass_is_a_clear_error():
    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(3), size=(90, 4))
    y = np.where(np.arange(90) % 2 == 0, np.arange(90) % 3, -1)
    gd = ALS(aggregator_solver="gd")
    with pytest.raises(ValueError, match=r"factorized per class \(ALS with rho=1\)"):
        CFEnsembleClassifier(solver=gd, class_weight_warmup=3).fit(P, y)
    joint = quiet_fit(P, y, solver=gd, class_weight_warmup=3, rho=0.5)  # rho < 1: joint
    assert joint.multiclass_factorization_ == "joint"


def _epoch_powers(monkeypatch):
    """Record the class weights the torch trainer holds at the start of every epoch."""
    from cfensemble import _torch

    seen = []
    original = _torch.AutogradSolver._epoch

    def spy(self, tp, *args):
        lab = tp.labeled.numpy()
        seen.append((tp.label.numpy()[lab], tp.kappa.numpy()[lab]))
        return original(self, tp, *args)

    monkeypatch.setattr(_torch.AutogradSolver, "_epoch", spy)
    return seen


@pytest.mark.parametrize("batch_size", [None, 64])
def test_torch_epochs_follow_the_schedule_and_patience_waits(imbalanced, monkeypatch, batch_size):
    pytest.importorskip("torch")
    P, y = imbalanced
    seen = _epoch_powers(monkeypatch)
    plain = quiet_fit(P, y, solver=Autograd(patience=1, batch_size=batch_size))
    seen.clear()
    ramped = quiet_fit(
        P, y, solver=Autograd(patience=1, batch_size=batch_size), class_weight_warmup=6
    )
    assert plain.n_iter_ < 7 <= ramped.n_iter_  # patience counts from epoch 6 on
    powers = _powers(seen)
    np.testing.assert_allclose(powers[:7], [1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1.0])
    np.testing.assert_allclose(powers[7:], 1.0)


def test_torch_keeps_no_warmup_epoch(imbalanced, monkeypatch):
    pytest.importorskip("torch")
    from cfensemble import _torch

    P, y = imbalanced
    scored = []  # the validation losses, in order: the start, then the scored epochs
    original = _torch.supervised_loss

    def spy(*args):
        scored.append(original(*args))
        return scored[-1]

    monkeypatch.setattr(_torch, "supervised_loss", spy)
    clf = quiet_fit(P, y, solver=Autograd(patience=5), class_weight_warmup=30)
    # the 30 warm-up epochs are not scored: the start and the epochs from 31 on are
    assert len(scored) == 1 + clf.n_iter_ - 30
    assert clf.validation_loss_ == min(scored)


def test_torch_without_validation_is_not_held_by_warmup_losses(imbalanced):
    pytest.importorskip("torch")
    P, y = imbalanced
    # the training loss with partial weights is lower than any with the full weights: had
    # it counted, patience would stop the fit exactly 10 epochs after the warm-up
    clf = quiet_fit(
        P, y, rho=0.2, class_weight_warmup=10,
        solver=Autograd(lr=0.02, validation_fraction=0.0, patience=10, max_epochs=60),
    )  # fmt: skip
    assert clf.n_iter_ > 20
