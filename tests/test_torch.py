"""The autograd trainer: parity with the numpy loss, gradients, early stopping, devices."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble import CFEnsembleClassifier, CFEnsemblePyTorchTrainer, WeightedAggregator
from cfensemble._als import make_problem, objective
from cfensemble.confidence import uniform

torch = pytest.importorskip("torch")
from cfensemble._torch import torch_objective, torch_reconstruction  # noqa: E402

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


def _state(seed, n=25, m=4, d=3):
    rng = np.random.default_rng(seed)
    P = rng.random((n, m))
    P[rng.random((n, m)) < 0.15] = np.nan
    P[np.isnan(P).all(axis=1), 0] = 0.3
    y = np.where(rng.random(n) < 0.6, (rng.random(n) < 0.3).astype(float), np.nan)
    y[:2] = [0, 1]
    X, Y = rng.normal(size=(m, d)), rng.normal(size=(n, d))
    w, b = rng.normal(size=m), rng.normal()
    return P, y, X, Y, w, b


def _numpy_total(problem, X, Y, w, b, rho, lam, gamma, l2):
    agg = WeightedAggregator(X.shape[0])
    agg.w, agg.b = w, b
    return objective(problem, X, Y, agg, rho, lam, gamma, l2)


def _torch_total(problem, X, Y, w, b, rho, lam, gamma, l2, device="cpu"):
    def t(a):
        return torch.as_tensor(a, dtype=torch.float64, device=device)

    args = [t(a).requires_grad_() for a in (X, Y, w)] + [
        torch.tensor(b, dtype=torch.float64, device=device, requires_grad=True)
    ]
    out = torch_objective(
        t(problem.C),
        t(problem.P0),
        *args,
        torch.as_tensor(problem.labeled, device=device),
        t(problem.y),
        t(problem.kappa),
        rho,
        lam,
        gamma,
        l2,
    )
    return out, args


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("use_class_weights", [True, False])
def test_numpy_and_torch_losses_agree(gamma, use_class_weights, device):
    for seed in range(3):
        P, y, X, Y, w, b = _state(seed)
        problem = make_problem(uniform(P) * 0.7, P, y, use_class_weights)
        args = (0.4, 0.05, gamma, 0.1)
        expected = _numpy_total(problem, X, Y, w, b, *args)
        (total, recon, sup), _ = _torch_total(problem, X, Y, w, b, *args, device=device)
        got = [float(v.detach()) for v in (total, recon, sup)]
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_torch_gradients_match_finite_differences_of_the_numpy_loss(gamma):
    P, y, X, Y, w, b = _state(7)
    problem = make_problem(uniform(P), P, y, True)
    args = (0.4, 0.05, gamma, 0.1)
    (total, _, _), params = _torch_total(problem, X, Y, w, b, *args)
    total.backward()
    h = 1e-6
    arrays = [X, Y, w, np.array(b)]
    rng = np.random.default_rng(0)
    for k, (array, param) in enumerate(zip(arrays, params, strict=True)):
        for _ in range(4):
            index = tuple(rng.integers(s) for s in array.shape)
            plus, minus = [a.copy() for a in arrays], [a.copy() for a in arrays]
            plus[k][index] += h
            minus[k][index] -= h
            fd = (
                _numpy_total(problem, *plus[:3], float(plus[3]), *args)[0]
                - _numpy_total(problem, *minus[:3], float(minus[3]), *args)[0]
            ) / (2 * h)
            assert float(param.grad[index]) == pytest.approx(fd, abs=1e-7)


def test_batch_reconstruction_is_an_unbiased_estimate():
    P, _, X, Y, _, _ = _state(3, n=24)
    C = torch.as_tensor(uniform(P))
    P0 = torch.as_tensor(np.where(np.isnan(P), 0.0, P))
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    full = torch_reconstruction(C, P0, Xt, Yt, 0.3, float(C.sum()))
    parts = [
        torch_reconstruction(C[r], P0[r], Xt, Yt[r], 0.3, float(C.sum()), scale=24 / 8)
        for r in (slice(0, 8), slice(8, 16), slice(16, 24))
    ]
    assert float(sum(parts) / 3) == pytest.approx(float(full), rel=1e-12)


def _fit(P, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleClassifier(solver="torch", random_state=0, **params).fit(P, y)


def test_focal_gamma_changes_the_fit(problem):
    P, _, y = problem
    a = _fit(P, y, max_epochs=60)
    b = _fit(P, y, max_epochs=60, focal_gamma=2.0)
    assert np.max(np.abs(a.transduction_ - b.transduction_)) > 1e-3


@pytest.mark.parametrize("metric", ["pr_auc", "loss"])
def test_longer_training_never_lowers_the_validation_score(problem, metric):
    P, _, y = problem
    kw = dict(patience=10_000, lr=0.05, validation_metric=metric)
    short = _fit(P, y, max_epochs=50, **kw)
    long = _fit(P, y, max_epochs=2000, **kw)
    assert long.n_iter_ == 2000 and short.n_iter_ == 50
    if metric == "pr_auc":
        assert long.validation_pr_auc_ >= short.validation_pr_auc_
    else:
        assert long.validation_loss_ <= short.validation_loss_
    # patience stops a run early
    assert _fit(P, y, max_epochs=2000, patience=25, lr=0.05).n_iter_ < 2000


def test_restored_epoch_is_the_best_validation_point(problem):
    """Training 2,000 epochs overfits; the restored parameters are not the last ones."""
    P, _, y = problem
    clf = _fit(P, y, max_epochs=300, patience=10_000, lr=0.05, aggregator_l2=0.0)
    last = _fit(
        P, y, max_epochs=300, patience=10_000, lr=0.05, aggregator_l2=0.0, validation_fraction=0.0
    )
    assert clf.validation_loss_ is not None
    assert not np.allclose(clf.coef_, last.coef_)


def test_warm_start_is_never_worse_than_its_als_start_on_validation(problem):
    P, _, y = problem
    # the ALS start is epoch 0: whatever the training does, the restored epoch is no worse
    start = _fit(P, y, als_warm_start=True, lr=1e-12, max_epochs=1)
    for lr in (5.0, 0.05):
        trained = _fit(P, y, als_warm_start=True, lr=lr, max_epochs=30)
        assert trained.validation_loss_ <= start.validation_loss_ + 1e-9


TORCH_CHANGES = [
    ("max_epochs", 5),
    ("lr", 0.1),
    ("optimizer", "sgd"),
    ("optimizer", "adamw"),
    ("batch_size", 50),
    ("patience", 1),
    ("validation_fraction", 0.5),
    ("validation_metric", "pr_auc"),
    ("als_warm_start", True),
    ("rho", 0.9),
    ("use_class_weights", False),
    ("aggregator_l2", 0.5),
    ("aggregator_positive", False),
    ("lambda_reg", 1.0),
    ("latent_dim", 2),
    ("tol", 0.5),
]


@pytest.mark.parametrize(("name", "value"), TORCH_CHANGES)
def test_every_torch_parameter_changes_the_result(problem, name, value):
    P, _, y = problem
    base = dict(max_epochs=40, patience=10, validation_fraction=0.2)
    if name == "tol":
        base["validation_fraction"] = 0.0  # tol drives early stopping without validation
    if name == "patience":
        base["tol"] = 0.05  # epochs that improve the validation loss by < 5 % count as idle
    if name == "aggregator_positive":
        P = P.copy()
        P[:, 0] = 1.0 - P[:, 0]  # an inverted classifier: only a negative weight can use it
    a = _fit(P, y, **base)
    b = _fit(P, y, **(base | {name: value}))
    assert np.max(np.abs(a.transduction_ - b.transduction_)) > 1e-6


def test_full_batch_size_equals_no_batching(problem):
    P, _, y = problem
    a = _fit(P, y, max_epochs=15)
    b = _fit(P, y, max_epochs=15, batch_size=P.shape[0])
    np.testing.assert_allclose(a.transduction_, b.transduction_)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_fit_predicts_on_device(problem, device):
    P, _, y = problem
    clf = _fit(P, y, max_epochs=30, device=device, batch_size=64)
    proba = clf.predict_proba(P)
    assert proba.shape == (P.shape[0], 2)
    assert np.isfinite(clf.transduction_).all()
    unlabeled = y == -1
    np.testing.assert_allclose(
        clf.fold_in(P[unlabeled]).shape, clf.instance_factors_[unlabeled].shape
    )


def test_seed_front_end_is_the_same_estimator(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        seed = CFEnsemblePyTorchTrainer(max_epochs=20, random_state=0).fit(P, y)
        ours = CFEnsembleClassifier(
            solver="torch",
            latent_dim=20,
            max_epochs=20,
            aggregator_l2=0.0,
            use_label_aware_confidence=False,
            random_state=0,
        ).fit(P, y)
    np.testing.assert_array_equal(seed.transduction_, ours.transduction_)
    with pytest.raises(ValueError, match="n_classifiers=2"):
        CFEnsemblePyTorchTrainer(n_classifiers=2).fit(P, y)


def test_unavailable_cuda_is_a_clear_error(problem):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    P, _, y = problem
    with pytest.raises(ValueError, match="device='cuda'"):
        _fit(P, y, device="cuda")


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
clf = CFEnsembleClassifier(max_iter=5).fit(P, y)
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
