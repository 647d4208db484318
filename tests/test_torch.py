"""The autograd trainer: parity with the numpy loss, gradients, early stopping, devices."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble import (
    Autograd,
    CFEnsembleClassifier,
    CFEnsemblePyTorchTrainer,
    make_ensemble_problem,
)
from cfensemble._als import losses
from cfensemble._estimator import confidence_source
from cfensemble._problem import Data, Objective, State

torch = pytest.importorskip("torch")
from cfensemble._torch import TorchProblem  # noqa: E402

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def _state(seed, n=25, m=4, d=3, kind="observed", label_aware=False, gamma=0.0, abstention=0.0):
    rng = np.random.default_rng(seed)
    P = rng.random((n, m))
    P[rng.random((n, m)) < 0.15] = np.nan
    P[np.isnan(P).all(axis=1), 0] = 0.3
    y = np.where(rng.random(n) < 0.6, (rng.random(n) < 0.3).astype(float), np.nan)
    y[:2] = [0, 1]
    k = 2 * m if kind == "both" else m
    state = State(
        rng.normal(size=(m, d)),
        rng.normal(size=(n, d)),
        rng.normal(size=m),
        rng.normal(size=n),
        rng.normal(size=k),
        float(rng.normal()),
    )
    data = Data(P, y, confidence_source("certainty", P, y, label_aware, 2.0))
    objective = Objective(0.4, 0.05, gamma, 0.1, False, kind, abstention=abstention)
    return data, state, objective


def _params(state, device="cpu"):
    arrays = (state.X, state.Y, state.a, state.c, state.w, np.array(state.b))
    return [
        torch.as_tensor(a, dtype=torch.float64, device=device).requires_grad_() for a in arrays
    ]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("kind", ["observed", "reconstructed", "both"])
@pytest.mark.parametrize("label_aware", [False, True])
@pytest.mark.parametrize("abstention", [0.0, 0.7])
def test_numpy_and_torch_losses_agree(gamma, kind, label_aware, device, abstention):
    for seed in range(3):
        data, state, objective = _state(
            seed, kind=kind, label_aware=label_aware, gamma=gamma, abstention=abstention
        )
        expected = losses(data, state, objective, 7)
        tp = TorchProblem(data, objective, torch.device(device), 7)
        _, total, recon, sup = tp.losses(_params(state, device))
        got = [float(v.detach()) for v in (total, recon, sup)]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize(("kind", "abstention"), [("observed", 0), ("both", 0), ("both", 0.6)])
def test_torch_gradients_match_finite_differences_of_the_numpy_loss(gamma, kind, abstention):
    """X, a follow the whole objective; w, b the supervised loss (as the exact aggregator
    step of ALS); Y, c only the reconstruction (label-free)."""
    data, state, objective = _state(7, kind=kind, gamma=gamma, abstention=abstention)
    tp = TorchProblem(data, objective, torch.device("cpu"), 100)
    params = _params(state)
    tp.losses(params)[0].backward()
    names = ["X", "Y", "a", "c", "w", "b"]
    h = 1e-6
    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        part = {"X": 0, "a": 0, "w": 2, "b": 2}.get(name, 1)
        scale = objective.rho if part == 1 else 1.0
        for _ in range(3):
            shape = np.shape(getattr(state, name))
            index = tuple(rng.integers(s) for s in shape)
            values = []
            for sign in (1, -1):
                moved = state.copy()
                arr = np.array(getattr(moved, name), dtype=float)
                arr[index] += sign * h
                setattr(moved, name, arr if shape else float(arr))
                values.append(losses(data, moved, objective, 100)[part])
            fd = scale * (values[0] - values[1]) / (2 * h)
            assert float(params[k].grad[index]) == pytest.approx(fd, abs=1e-7), name


def test_batch_loss_is_an_unbiased_estimate():
    data, state, objective = _state(3, n=24)
    tp = TorchProblem(data, objective, torch.device("cpu"), 100)
    params = _params(state)
    full = float(tp.losses(params)[2].detach())
    parts = [
        float(tp.losses(params, torch.arange(r, r + 8), scale=3.0)[2].detach()) for r in (0, 8, 16)
    ]
    assert sum(parts) / 3 == pytest.approx(full, rel=1e-12)


def _fit(P, y, solver=None, **params):
    """A fit with the autograd trainer ``solver`` (default ``Autograd()``)."""
    solver = Autograd() if solver is None else solver
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = {"aggregator_shrinkage": 0.0, **params}  # tests of the other penalties
        return CFEnsembleClassifier(solver=solver, random_state=0, **params).fit(P, y)


def test_focal_gamma_changes_the_fit(problem):
    P, _, y = problem
    a = _fit(P, y, Autograd(max_epochs=60))
    b = _fit(P, y, Autograd(max_epochs=60), focal_gamma=2.0)
    assert np.max(np.abs(a.label_distributions_[:, 1] - b.label_distributions_[:, 1])) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["pr_auc", "loss"])
def test_longer_training_never_lowers_the_validation_score(problem, metric):
    P, _, y = problem
    kw = dict(patience=10_000, lr=0.05, validation_metric=metric)
    short = _fit(P, y, Autograd(max_epochs=50, **kw))
    long = _fit(P, y, Autograd(max_epochs=2000, **kw))
    assert long.n_iter_ == 2000 and short.n_iter_ == 50
    if metric == "pr_auc":
        assert long.validation_pr_auc_ >= short.validation_pr_auc_
    else:
        assert long.validation_loss_ <= short.validation_loss_
    # patience stops a run early
    assert _fit(P, y, Autograd(max_epochs=2000, patience=25, lr=0.05)).n_iter_ < 2000


def test_restored_epoch_is_the_best_validation_point(problem):
    """Training 2,000 epochs overfits; the restored parameters are not the last ones."""
    P, _, y = problem
    kw = dict(max_epochs=300, patience=10_000, lr=0.05)
    clf = _fit(P, y, Autograd(**kw), aggregator_l2=0.0)
    last = _fit(P, y, Autograd(**kw, validation_fraction=0.0), aggregator_l2=0.0)
    assert clf.validation_loss_ is not None
    assert not np.allclose(clf.coef_, last.coef_)


def test_warm_start_is_never_worse_than_its_als_start_on_validation(problem):
    P, _, y = problem
    # the ALS start is epoch 0: whatever the training does, the restored epoch is no worse
    start = _fit(P, y, Autograd(als_warm_start=True, lr=1e-12, max_epochs=1))
    for lr in (5.0, 0.05):
        trained = _fit(P, y, Autograd(als_warm_start=True, lr=lr, max_epochs=30))
        assert trained.validation_loss_ <= start.validation_loss_ + 1e-9


TORCH_CHANGES = [
    ("solver__max_epochs", 5),
    ("solver__lr", 0.1),
    ("solver__optimizer", "sgd"),
    ("solver__optimizer", "adamw"),
    ("solver__batch_size", 50),
    ("solver__patience", 1),
    ("solver__validation_fraction", 0.5),
    ("solver__validation_metric", "pr_auc"),
    ("solver__als_warm_start", True),
    ("rho", 0.9),
    ("class_weight", None),
    ("aggregator_l2", 0.5),
    ("lambda_reg", 1.0),
    ("latent_dim", 3),
    ("aggregator_input", "reconstructed"),
    ("solver__tol", 0.5),
]


@pytest.mark.parametrize(("name", "value"), TORCH_CHANGES)
def test_every_torch_parameter_changes_the_result(problem, base_fits, name, value):
    P, _, y = problem
    P = P.copy()
    P[np.random.default_rng(0).random(P.shape) < 0.3] = np.nan  # factors fill these in
    P[np.isnan(P).all(axis=1), 0] = 0.5
    # from the initial state, where every optimizer setting shows (from the ALS start, the
    # default, a short run may keep epoch 0)
    solver = dict(max_epochs=40, patience=10, validation_fraction=0.2, als_warm_start=False)
    base = dict(lambda_reg=0.01)
    if name == "solver__tol":
        solver["validation_fraction"] = 0.0  # tol drives early stopping without validation
    if name == "solver__patience":
        solver["tol"] = 0.05  # epochs that improve the validation loss by < 5 % count as idle
    key = name if name in ("solver__tol", "solver__patience") else None
    if key not in base_fits:
        base_fits[key] = _fit(P, y, Autograd(**solver), **base)
    a = base_fits[key]
    if name.startswith("solver__"):
        b = _fit(P, y, Autograd(**(solver | {name.removeprefix("solver__"): value})), **base)
    else:
        b = _fit(P, y, Autograd(**solver), **(base | {name: value}))
    assert np.max(np.abs(a.label_distributions_[:, 1] - b.label_distributions_[:, 1])) > 1e-6


def test_full_batch_size_equals_no_batching(problem):
    P, _, y = problem
    a = _fit(P, y, Autograd(max_epochs=15))
    b = _fit(P, y, Autograd(max_epochs=15, batch_size=P.shape[0]))
    np.testing.assert_allclose(a.label_distributions_[:, 1], b.label_distributions_[:, 1])


@pytest.mark.parametrize("device", DEVICES)
def test_torch_fit_predicts_on_device(problem, device):
    P, _, y = problem
    clf = _fit(P, y, Autograd(max_epochs=30, device=device, batch_size=64))
    proba = clf.predict_proba(P)
    assert proba.shape == (P.shape[0], 2)
    assert np.isfinite(clf.label_distributions_[:, 1]).all()
    unlabeled = y == -1
    assert clf.fold_in(P[unlabeled])[0].shape == clf.instance_factors_[unlabeled].shape


def test_seed_front_end_is_the_same_estimator(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # latent_dim=20 capped at m
        # the sign constraint and the prior correction: fixed in CFEnsembleClassifier
        seed = CFEnsemblePyTorchTrainer(
            max_epochs=20, aggregator_positive=True, prior_correction=True, random_state=0
        ).fit(P, y)
        ours = CFEnsembleClassifier(
            # the original method starts from random factors
            solver=Autograd(max_epochs=20, als_warm_start=False),
            latent_dim=20,
            rho=0.5,
            lambda_reg=0.01,
            aggregator_l2=0.0,
            aggregator_input="reconstructed",
            aggregator_shrinkage=0.0,
            random_state=0,
        ).fit(P, y)
    np.testing.assert_array_equal(seed.label_distributions_[:, 1], ours.label_distributions_[:, 1])
    with pytest.raises(ValueError, match="n_classifiers=2"):
        CFEnsemblePyTorchTrainer(n_classifiers=2).fit(P, y)


def test_unavailable_cuda_is_a_clear_error(problem):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    P, _, y = problem
    with pytest.raises(ValueError, match="device='cuda'"):
        _fit(P, y, Autograd(device="cuda"))


def test_torch_rejects_the_mean_aggregator(problem):
    P, _, y = problem
    with pytest.raises(ValueError, match="aggregator_type='mean'"):
        _fit(P, y, aggregator_type="mean")


HIDE_TORCH = """
import importlib.abc
import sys


class HideTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is hidden for this test")


sys.meta_path.insert(0, HideTorch())
import numpy as np
import cfensemble
from cfensemble import CFEnsembleClassifier, make_ensemble_problem
P, y = make_ensemble_problem(200, 4, random_state=0)
clf = CFEnsembleClassifier(solver=cfensemble.ALS(max_iter=5)).fit(P, y)
assert clf.predict_proba(P).shape == (200, 2)
assert "torch" not in sys.modules
try:
    CFEnsembleClassifier(solver="torch").fit(P, y)
except ImportError as exc:
    assert "pip install" in str(exc), exc
    print("ok")
"""


def test_import_and_als_work_without_torch():
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", HIDE_TORCH], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_torch_without_labels_is_an_error(problem):
    P, _, _ = problem
    with pytest.raises(ValueError, match="solver='torch' trains on labeled rows"):
        _fit(P, -np.ones(P.shape[0]))


def test_validation_labels_never_reach_training(problem, monkeypatch):
    """Held-out rows are unlabeled for the fit: flipping their labels leaves the training
    trajectory unchanged (label-aware confidence on, the case that leaked)."""
    from cfensemble import _estimator

    P, _, y = problem
    labeled = np.flatnonzero(y != -1)
    held = labeled[::5]
    monkeypatch.setattr(
        _estimator,
        "_stratified_holdout",
        lambda y, fraction, rng: (np.setdiff1d(labeled, held), held),
    )
    solver = Autograd(max_epochs=15, patience=10_000)
    a = _fit(P, y, solver, label_aware_alpha=1.0)
    y_flip = y.copy()
    y_flip[held] = 1 - y_flip[held]
    b = _fit(P, y_flip, solver, label_aware_alpha=1.0)
    np.testing.assert_array_equal(a.loss_curve_["total"], b.loss_curve_["total"])
    assert a.validation_loss_ != b.validation_loss_


def _three_thousand_rows():
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(
        3000, 10, positive_rate=0.05, error_correlation=0.5, missing_rate=0.3, random_state=0
    )
    return P, np.where(np.random.default_rng(0).random(3000) < 0.2, y, -1)


def test_default_starts_from_als_and_stops_early():
    """From the ALS solution (the default where ALS can solve the objective) the trainer
    stops early on a 3,000-row problem, without a ConvergenceWarning."""
    P, y = _three_thousand_rows()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        auto = CFEnsembleClassifier(solver="torch", random_state=0).fit(P, y)
    assert auto.n_iter_ < 100 and Autograd().als_warm_start == "auto"  # solver="torch"


@pytest.mark.slow
def test_without_the_als_start_the_default_epochs_do_not_suffice():
    """Why the ALS start is the default: from the initial state the same fit runs all 500
    epochs and warns that it was still improving."""
    P, y = _three_thousand_rows()
    with pytest.warns(ConvergenceWarning, match="still improving"):
        cold = CFEnsembleClassifier(solver=Autograd(als_warm_start=False), random_state=0)
        cold.fit(P, y)
    assert cold.n_iter_ == 500


def test_auto_warm_start_is_on_where_als_can_solve_and_off_where_not(problem):
    P, _, y = problem
    forced = _fit(P, y, Autograd(max_epochs=5, als_warm_start=True))
    np.testing.assert_array_equal(
        _fit(P, y, Autograd(max_epochs=5)).label_distributions_[:, 1],
        forced.label_distributions_[:, 1],
    )
    cold = _fit(P, y, Autograd(max_epochs=5, als_warm_start=False), rho=0.0)
    auto = _fit(P, y, Autograd(max_epochs=5), rho=0.0)
    np.testing.assert_array_equal(auto.label_distributions_[:, 1], cold.label_distributions_[:, 1])
    with pytest.raises(ValueError, match="als_warm_start=True"):
        _fit(P, y, Autograd(als_warm_start=True), rho=0.0)


def test_saturated_probabilities_are_a_warning():
    """lr=1e6 without a validation set: weights ~1e5, every probability exactly 0 or 1 (the
    ranking lost), which a user must be told; a sane lr gives no such warning."""
    P, y = make_ensemble_problem(n_samples=600, n_classifiers=6, positive_rate=0.1, random_state=0)
    y = y.astype(float)
    y[1::2] = np.nan
    with pytest.warns(ConvergenceWarning, match="Lower solver__lr"):
        clf = CFEnsembleClassifier(
            solver=Autograd(lr=1e6, max_epochs=50, validation_fraction=0.0), random_state=0
        ).fit(P, y)
    assert clf.diagnostics_["saturated_share"] > 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        sane = CFEnsembleClassifier(
            solver=Autograd(max_epochs=50, validation_fraction=0.0), random_state=0
        ).fit(P, y)
    assert sane.diagnostics_["saturated_share"] == 0.0
