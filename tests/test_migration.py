"""cfensemble 0.2 model files load in 1.0 and predict as they did.

The files in tests/data were written by cfensemble 0.2.0 (commit 0731dcd) from
``make_ensemble_problem(n_samples=120, n_classifiers=5, missing_rate=0.3, random_state=3)``
with every other row labeled; ``model-0.2-expected.npz`` holds that version's
``predict_proba`` of 20 rows with missing predictions.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier
from cfensemble._solvers import migrate_params

DATA = pathlib.Path(__file__).parent / "data"
EXPECTED = np.load(DATA / "model-0.2-expected.npz")


@pytest.mark.parametrize("name", ["default", "settings", "removed"])
def test_0_2_model_files_predict_as_they_did(name):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        model = cfensemble.load(DATA / f"model-0.2-{name}.npz")
    np.testing.assert_allclose(
        model.predict_proba(EXPECTED["P_new"]), EXPECTED[f"proba_{name}"], rtol=0, atol=1e-12
    )


def test_0_2_settings_move_to_the_solver():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing removed: no warning
        model = cfensemble.load(DATA / "model-0.2-settings.npz")
    params = model.get_params()
    assert isinstance(model.solver, ALS)
    assert params["solver__max_iter"] == 40 and params["solver__tol"] == 1e-5
    assert params["solver__chunk_size"] == 64
    assert params["label_aware_alpha"] == 0.5 and params["class_weight"] == "balanced"


def test_0_2_default_file_loads_with_the_default_solver():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = cfensemble.load(DATA / "model-0.2-default.npz")
    assert model.solver == "als"
    assert model.get_params(deep=False) == CFEnsembleClassifier(random_state=0).get_params(
        deep=False
    )


def test_removed_settings_are_named_in_a_warning():
    with pytest.warns(UserWarning, match=r"prior_correction=False.*aggregator_positive=False"):
        model = cfensemble.load(DATA / "model-0.2-removed.npz")
    assert model.class_weight is None
    # a refit uses 1.0's settings: non-negative weights
    refit = clone(model).fit(*_problem())
    assert np.all(refit.coef_ >= 0)


def _problem():
    P, y = cfensemble.make_ensemble_problem(
        n_samples=120, n_classifiers=5, missing_rate=0.3, random_state=3
    )
    y = y.astype(float)
    y[::2] = np.nan
    return P, y


def test_migration_table():
    old = {
        "latent_dim": 3,
        "solver": "torch",
        "lr": 0.05,
        "max_epochs": 9,
        "max_iter": 100,
        "tol": 1e-4,
        "use_class_weights": False,
        "use_label_aware_confidence": False,
        "label_aware_alpha": 2.0,
        "multiclass_factorization": "auto",
        "callback": None,
    }
    new, notes = migrate_params(old)
    assert notes == []
    assert new["latent_dim"] == 3 and new["class_weight"] is None
    assert new["label_aware_alpha"] == 0.0
    assert new["solver"].get_params()["lr"] == 0.05
    assert new["solver"].get_params()["max_epochs"] == 9
    assert set(new) <= set(CFEnsembleClassifier().get_params(deep=False))
