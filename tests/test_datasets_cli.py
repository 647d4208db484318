"""The synthetic generator and the demo command."""

import re
import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from cfensemble import make_ensemble_problem
from cfensemble.cli import main
from cfensemble.datasets import binormal_average_precision


def test_shapes_rate_and_reproducibility():
    P, y = make_ensemble_problem(400, 7, positive_rate=0.05, random_state=3)
    assert P.shape == (400, 7) and y.shape == (400,)
    assert y.sum() == 20
    assert ((P > 0) & (P < 1)).all()
    P2, y2 = make_ensemble_problem(400, 7, positive_rate=0.05, random_state=3)
    np.testing.assert_array_equal(P, P2)
    np.testing.assert_array_equal(y, y2)


@pytest.mark.parametrize("quality", [0.5, 0.7, 0.9])
def test_base_quality_is_the_expected_pr_auc(quality):
    P, y = make_ensemble_problem(40_000, 3, 0.1, quality, 0.5, random_state=0)
    for u in range(3):
        assert average_precision_score(y, P[:, u]) == pytest.approx(quality, abs=0.02)


def test_binormal_average_precision_limits():
    assert binormal_average_precision(0.0, 0.1) == pytest.approx(0.1, abs=1e-3)
    assert binormal_average_precision(8.0, 0.1) == pytest.approx(1.0, abs=1e-3)


def test_correlated_errors_keep_the_average_from_being_perfect():
    kw = dict(n_samples=5000, n_classifiers=10, positive_rate=0.1, base_quality=0.7)
    P_ind, y_ind = make_ensemble_problem(error_correlation=0.0, random_state=0, **kw)
    P_cor, y_cor = make_ensemble_problem(error_correlation=0.6, random_state=0, **kw)
    ap_ind = average_precision_score(y_ind, P_ind.mean(axis=1))
    ap_cor = average_precision_score(y_cor, P_cor.mean(axis=1))
    assert ap_ind > 0.97  # independent noise: the average is (nearly) perfect
    assert ap_cor < 0.9  # shared difficulty: not trivially separable by the average
    best_single = max(average_precision_score(y_cor, P_cor[:, u]) for u in range(10))
    assert ap_cor > best_single  # but the ensemble still helps


def test_heterogeneous_quality_and_missing_entries():
    quality = np.linspace(0.3, 0.9, 5)
    P, y = make_ensemble_problem(20_000, 5, 0.1, quality, 0.3, missing_rate=0.4, random_state=1)
    assert np.isnan(P).mean() == pytest.approx(0.4, abs=0.02)
    assert (~np.isnan(P)).any(axis=1).all()
    got = [
        average_precision_score(y[~np.isnan(P[:, u])], P[~np.isnan(P[:, u]), u]) for u in range(5)
    ]
    np.testing.assert_allclose(got, quality, atol=0.03)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(positive_rate=0.0), "positive_rate"),
        (dict(base_quality=0.05), "base_quality"),
        (dict(base_quality=[0.6, 0.7]), r"one per classifier \(10\); got shape \(2,\)"),
        (dict(error_correlation=1.5), "error_correlation"),
        (dict(missing_rate=1.0), "missing_rate"),
        (dict(n_samples=1), "n_samples"),
    ],
)
def test_generator_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ensemble_problem(**kwargs)


def test_demo_prints_the_comparison(capsys):
    assert main(["demo", "--n-samples", "800"]) == 0
    out = capsys.readouterr().out
    assert "mean of available" in out and "LR stacking" in out and "PR-AUC" in out
    assert "held-out rows" in out
    assert out.strip().splitlines()[-5].startswith("CFEnsembleClassifier ")  # + 4 regimes


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--n-samples", "-5"], r"-5 is not in \[100, 1000000\]"),
        (["--n-samples", "many"], "'many' is not a valid int"),
        (["--positive-rate", "1.5"], r"1.5 is not in \[0.005, 0.5\]"),
        (["--labeled-fraction", "0"], r"0.0 is not in \[0.01, 1.0\]"),
        (["--n-classifiers", "1"], r"1 is not in \[3, 200\]"),
    ],
)
def test_demo_bad_arguments_are_usage_errors(capsys, args, match):
    with pytest.raises(SystemExit) as info:
        main(["demo", *args])
    assert info.value.code == 2
    assert re.search(match, capsys.readouterr().err)


def test_version(capsys):
    import cfensemble

    with pytest.raises(SystemExit):
        main(["--version"])
    assert cfensemble.__version__ in capsys.readouterr().out


@pytest.mark.slow  # a new interpreter: 3 s
def test_module_entry_point():
    done = subprocess.run(
        [sys.executable, "-m", "cfensemble", "demo", "--n-samples", "600"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "CFEnsembleClassifier" in done.stdout
