"""The 1.0 public surface (issue 29): at most 20 estimator parameters, the trainers'
settings on solver objects that a search reaches as ``solver__...``, cloned and shown as
scikit-learn's nested estimators are."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid

from cfensemble import ALS, Autograd, CFEnsembleClassifier, labeled_scorer, make_ensemble_problem

MAX_PARAMETERS = 20


@pytest.fixture(scope="module")
def missing_problem():
    """300 rows, 5 classifiers, 30 % of the predictions missing, half the rows labeled."""
    P, y = make_ensemble_problem(
        300, 5, positive_rate=0.2, missing_rate=0.3, error_correlation=0.5, random_state=0
    )
    return P, np.where(np.random.default_rng(1).random(y.size) < 0.5, y, -1)


def _search(estimator, grid, P, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GridSearchCV(
            estimator, grid, cv=2, scoring=labeled_scorer("average_precision")
        ).fit(P, y)


# ------------------------------------------------------------------ (a) the count


def test_the_estimator_has_at_most_20_parameters():
    assert len(CFEnsembleClassifier().get_params(deep=False)) <= MAX_PARAMETERS


def test_the_dask_estimator_has_at_most_20_parameters():
    pytest.importorskip("dask.array")
    from cfensemble.dask import DaskCFEnsembleClassifier

    assert len(DaskCFEnsembleClassifier().get_params(deep=False)) <= MAX_PARAMETERS


# ------------------------------------------------------------------ (b) a search reaches them


def test_deep_parameters_name_the_solver_settings():
    params = CFEnsembleClassifier(solver=ALS(max_iter=7)).get_params(deep=True)
    assert params["solver__max_iter"] == 7 and params["solver__tol"] == ALS().tol
    assert "solver__lr" in CFEnsembleClassifier(solver=Autograd()).get_params(deep=True)


def test_grid_search_reaches_the_als_settings(missing_problem):
    P, y = missing_problem
    base = CFEnsembleClassifier(solver=ALS(), random_state=0)
    grid = {"solver__max_iter": [3, 50]}
    search = _search(base, grid, P, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores[0] != scores[1]
    assert search.best_estimator_.solver.max_iter == search.best_params_["solver__max_iter"]
    assert base.solver.max_iter == ALS().max_iter  # the search fitted clones
    # the setting reaches the fit: the candidates ran different numbers of iterations
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        n_iter = [clone(base).set_params(**p).fit(P, y).n_iter_ for p in ParameterGrid(grid)]
    assert n_iter[0] == 3 and n_iter[1] > 3


def test_grid_search_reaches_the_autograd_settings(missing_problem):
    pytest.importorskip("torch")
    P, y = missing_problem
    base = CFEnsembleClassifier(solver=Autograd(max_epochs=5), random_state=0)
    search = _search(base, {"solver__lr": [1e-4, 0.5]}, P, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores[0] != scores[1]
    best = search.best_estimator_.solver
    assert isinstance(best, Autograd) and best.lr == search.best_params_["solver__lr"]
    assert best.max_epochs == 5  # the other settings kept
    assert base.solver.lr == Autograd().lr


# ------------------------------------------------------------------ (c) clone and repr


def test_clone_copies_the_solver_object():
    est = CFEnsembleClassifier(solver=ALS(max_iter=7, tol=1e-3), latent_dim=3)
    copy = clone(est)
    assert copy.solver is not est.solver and type(copy.solver) is ALS
    assert copy.solver.get_params() == est.solver.get_params()
    copy.set_params(solver__max_iter=9)
    assert est.solver.max_iter == 7 and copy.solver.max_iter == 9


def test_repr_shows_the_solver_settings():
    assert "solver=ALS(max_iter=7)" in repr(CFEnsembleClassifier(solver=ALS(max_iter=7)))
    assert "solver=Autograd(lr=0.1)" in repr(CFEnsembleClassifier(solver=Autograd(lr=0.1)))
    assert "solver" not in repr(CFEnsembleClassifier())  # the default is not shown


# ------------------------------------------------------------------ (d) bad settings


def test_a_bad_trainer_setting_names_it_at_fit(missing_problem):
    P, y = missing_problem
    est = CFEnsembleClassifier(solver=ALS(max_iter=0))  # constructing checks nothing
    with pytest.raises(ValueError, match="'max_iter'"):
        est.fit(P, y)
    with pytest.raises(ValueError, match="'lr'"):
        CFEnsembleClassifier(solver=Autograd(lr=0.0)).fit(P, y)


def test_an_unknown_solver_names_the_parameter(missing_problem):
    P, y = missing_problem
    with pytest.raises(ValueError, match="'solver'"):
        CFEnsembleClassifier(solver="sgd").fit(P, y)


def test_settings_changed_after_fit_are_validated_at_predict():
    P, y = make_ensemble_problem(n_samples=200, n_classifiers=4, missing_rate=0.2, random_state=0)
    clf = CFEnsembleClassifier(solver=ALS(), random_state=0).fit(P, y)
    clf.set_params(solver__chunk_size=-1)
    for method in (clf.predict_proba, clf.impute, clf.fold_in):
        with pytest.raises(ValueError, match="chunk_size"):
            method(P[:3])
    clf.set_params(solver__chunk_size=64, lambda_reg=-1.0)
    with pytest.raises(ValueError, match="lambda_reg"):
        clf.predict(P[:3])
