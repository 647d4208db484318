"""One behaviour suite over both solvers: the estimator does not care which one ran."""

import warnings
from dataclasses import replace

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import cfensemble
from cfensemble import Autograd, CFEnsembleClassifier
from cfensemble._als import losses

SOLVERS = [
    "als",
    pytest.param(
        "torch",
        marks=pytest.mark.skipif(
            __import__("importlib").util.find_spec("torch") is None, reason="torch not installed"
        ),
    ),
]


@pytest.fixture(params=SOLVERS)
def fitted(request, problem):
    P, _, y = problem
    P = P.copy()
    P[np.random.default_rng(0).random(P.shape) < 0.2] = np.nan
    P[np.isnan(P).all(axis=1), 0] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        solver = Autograd(max_epochs=60) if request.param == "torch" else request.param
        clf = CFEnsembleClassifier(solver=solver, rho=0.7, random_state=0).fit(P, y)
    return clf, P, y


def test_fitted_attributes(fitted):
    clf, P, _ = fitted
    n, m = P.shape
    d = clf.latent_dim_
    assert clf.classifier_factors_.shape == (m, d) and clf.instance_factors_.shape == (n, d)
    assert clf.classifier_bias_.shape == (m,) and clf.instance_bias_.shape == (n,)
    assert clf.coef_.shape == (m,) and np.isfinite(clf.intercept_)
    assert (clf.coef_ >= 0).all()  # aggregator_positive=True
    assert clf.transduction_.shape == (n,)
    assert ((clf.label_distributions_[:, 1] >= 0) & (clf.label_distributions_[:, 1] <= 1)).all()
    curve = clf.loss_curve_
    assert all(v.shape == (clf.n_iter_,) and np.isfinite(v).all() for v in curve.values())
    np.testing.assert_allclose(
        curve["total"], 0.7 * curve["reconstruction"] + 0.3 * curve["supervised"]
    )


def test_objective_decreases_and_matches_the_shared_loss(fitted):
    clf, P, y = fitted
    total = clf.loss_curve_["total"]
    assert total[-1] < total[0]
    if clf.solver == "als":  # the last recorded value is the objective at the fitted state
        from cfensemble._problem import State

        data = clf._data(P, np.where(y == -1, np.nan, y).astype(float))
        state = State(
            clf.classifier_factors_,
            clf.instance_factors_,
            clf.classifier_bias_,
            clf.instance_bias_,
            clf.coef_,
            clf.intercept_ - _prior_shift(y),
        )
        objective = replace(clf._objective(clf.rho_, data), shrinkage_target=clf.shrinkage_target_)
        expected = losses(data, state, objective, 1000)[0]
        assert total[-1] == pytest.approx(expected, rel=1e-10)


def _prior_shift(y):
    labeled = y[y != -1]
    return float(np.log(np.sum(labeled == 1) / np.sum(labeled == 0)))


def test_fold_in_of_new_rows(fitted):
    clf, P, _ = fitted
    proba = clf.predict_proba(P)[:, 1]
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(clf.predict_proba(P[::-1])[:, 1], proba[::-1])
    if clf.solver == "als":  # instance factors are the label-free fold-in, exactly
        np.testing.assert_allclose(proba, clf.label_distributions_[:, 1], atol=1e-9)


def test_save_and_load(fitted, tmp_path):
    clf, P, _ = fitted
    clf.save(tmp_path / "model.cfe")
    again = cfensemble.load(tmp_path / "model.cfe")
    np.testing.assert_array_equal(again.predict_proba(P), clf.predict_proba(P))
    np.testing.assert_array_equal(again.label_distributions_[:, 1], clf.label_distributions_[:, 1])
