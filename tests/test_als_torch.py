"""ALS with the PyTorch kernels: parity with the numpy kernels in float64, float32 within
1e-4, rank-deficient systems in float32, the CUDA path (skipped without a GPU)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble import ALS, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._als import ALSSolver
from cfensemble._estimator import confidence_source
from cfensemble._kernels import TorchKernel, instance_solve
from cfensemble._problem import Data, Objective
from cfensemble._solvers import als_kernel

torch = pytest.importorskip("torch")

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _problem(missing=0.3, n=1500, m=8):
    P, y = make_ensemble_problem(
        n, m, 0.1, error_correlation=0.5, missing_rate=missing, random_state=5
    )
    return P, np.where(np.arange(n) % 3 == 0, y, -1)


@pytest.mark.parametrize("label_aware", [False, True])
@pytest.mark.parametrize("rho", [1.0, 0.5])
@pytest.mark.parametrize("confidence", ["certainty", "uniform"])
def test_torch_kernels_equal_the_numpy_kernels_in_float64(label_aware, rho, confidence):
    """Uniform confidence without the boost: P resident on the device, confidences made
    there; otherwise blocks copied per pass."""
    P, y = _problem()
    y = np.where(y == -1, np.nan, y).astype(float)
    data = Data(P, y, confidence_source(confidence, P, y, label_aware, 1.0))
    assert data.unit_confidence == (confidence == "uniform" and not label_aware)
    objective = Objective(rho=rho, lambda_reg=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        results = [
            ALSSolver(latent_dim=3, max_iter=12, tol=0.0, chunk_size=500, kernel=k).fit(
                data, objective, None, np.random.default_rng(0)
            )
            for k in ("numpy", TorchKernel("cpu", "float64"))
        ]
    np.testing.assert_allclose(results[0].loss_curve, results[1].loss_curve, rtol=1e-10)
    for name in ("X", "Y", "a", "c", "w"):
        np.testing.assert_allclose(
            getattr(results[0].state, name), getattr(results[1].state, name), atol=1e-8
        )


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_float32_predictions_agree_with_float64_to_1e4(device):
    P, y = _problem()
    kw = dict(random_state=0, latent_dim=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = CFEnsembleClassifier(**kw).fit(P, y)
        low = CFEnsembleClassifier(solver=ALS(device=device, dtype="float32"), **kw).fit(P, y)
    assert als_kernel(low) == TorchKernel(device, "float32")
    np.testing.assert_allclose(
        low.label_distributions_[:, 1], ref.label_distributions_[:, 1], atol=1e-4
    )
    np.testing.assert_allclose(low.predict_proba(P[:200]), ref.predict_proba(P[:200]), atol=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rank_deficient_systems_stay_finite(rng, dtype):
    """e > m, a row with one prediction and lambda = 0: the jitter keeps Cholesky defined."""
    k, m, e = 50, 3, 7
    C = rng.random((k, m))
    C[:10, 1:] = 0.0
    P0, B, a = rng.random((k, m)), rng.normal(size=(m, e)), rng.random(m)
    out = instance_solve(P0, C, B, a, 0.0, TorchKernel("cpu", dtype))
    assert np.isfinite(out).all()
    fitted = np.einsum("ke,me->km", out, B) + a
    np.testing.assert_allclose(fitted * (C > 0), P0 * (C > 0), atol=1e-2)


@CUDA
def test_als_on_cuda_equals_the_cpu_in_float64():
    P, y = _problem()
    kw = dict(random_state=0, latent_dim=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpu = CFEnsembleClassifier(solver=ALS(device="cuda", dtype="float64"), **kw).fit(P, y)
        cpu = CFEnsembleClassifier(**kw).fit(P, y)
    np.testing.assert_allclose(
        gpu.label_distributions_[:, 1], cpu.label_distributions_[:, 1], atol=1e-8
    )


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    P, y = _problem(n=200)
    with pytest.raises(ValueError, match="device='cuda' but PyTorch sees no CUDA device"):
        CFEnsembleClassifier(solver=ALS(device="cuda")).fit(P, y)
