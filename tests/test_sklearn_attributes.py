"""The fitted attributes follow scikit-learn's conventions: ``transduction_`` holds labels
and ``label_distributions_`` probabilities (as its semi-supervised estimators), and
``cv_results_`` is a dict of arrays (as ``GridSearchCV``)."""

from __future__ import annotations

import pathlib
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, make_ensemble_problem
from cfensemble._search import cv_results_from_records
from cfensemble.io import _check_scalar

DATA = pathlib.Path(__file__).parent / "data"


def _fit(P, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=10), **params).fit(P, y)


def _problem(n_classes, labels=None):
    P, y = make_ensemble_problem(
        150, 5, n_classes=n_classes, missing_rate=0.3, random_state=0
    )  # fmt: skip
    labeled = np.random.default_rng(0).random(y.size) < 0.5
    if labels is None:
        return P, np.where(labeled, y, -1)
    return P, np.where(labeled, np.asarray(labels, dtype=object)[y], None)


def _check_attributes(clf, n, n_classes):
    distributions = clf.label_distributions_
    assert distributions.shape == (n, n_classes)
    np.testing.assert_allclose(distributions.sum(axis=1), 1.0, atol=1e-12)
    assert clf.transduction_.shape == (n,)
    assert set(np.unique(clf.transduction_).tolist()) <= set(clf.classes_.tolist())
    expected = clf.classes_[np.argmax(distributions, axis=1)]
    if n_classes == 2:
        expected = clf.classes_[(distributions[:, 1] >= 0.5).astype(int)]
    np.testing.assert_array_equal(clf.transduction_, expected)


@pytest.mark.parametrize(
    ("n_classes", "labels"),
    [(2, None), (2, ["no", "yes"]), (3, None), (3, ["ant", "bee", "cat"])],
)
def test_transduction_is_labels_and_label_distributions_probabilities(n_classes, labels):
    P, y = _problem(n_classes, labels)
    clf = _fit(P, y)
    _check_attributes(clf, P.shape[0], n_classes)
    # the probabilities are what the fit predicts for its rows, as predict_proba lays them
    # out; the labels what predict gives from them
    complete = ~np.isnan(P).any(axis=tuple(range(1, P.ndim)))
    np.testing.assert_allclose(
        clf.label_distributions_[complete], clf.predict_proba(P[complete]), atol=1e-6
    )
    if labels is not None:
        assert clf.transduction_.dtype.kind in "OU"


@pytest.mark.parametrize(("n_classes", "labels"), [(2, ["no", "yes"]), (3, None)])
def test_model_file_round_trip_keeps_both(n_classes, labels, tmp_path):
    P, y = _problem(n_classes, labels)
    clf = _fit(P, y)
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    np.testing.assert_array_equal(loaded.label_distributions_, clf.label_distributions_)
    np.testing.assert_array_equal(loaded.transduction_, clf.transduction_)
    # the file keeps its array of probabilities (the layout before 1.0)
    with np.load(tmp_path / "m.cfe", allow_pickle=False) as archive:
        stored = archive["transduction_"]
    expected = clf.label_distributions_[:, 1] if n_classes == 2 else clf.label_distributions_
    np.testing.assert_array_equal(stored, expected)


@pytest.mark.parametrize("name", ["default", "settings", "removed"])
def test_0_2_model_files_load_with_both(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cfensemble.load(DATA / f"model-0.2-{name}.npz")
    with np.load(DATA / f"model-0.2-{name}.npz", allow_pickle=False) as archive:
        stored = archive["transduction_"]
    n = stored.shape[0]
    _check_attributes(model, n, 2)
    np.testing.assert_array_equal(model.label_distributions_[:, 1], stored)


def test_cv_results_is_a_dict_of_arrays():
    pd = pytest.importorskip("pandas")
    P, y = _problem(2)  # with missing predictions: "auto" searches (complete P defers)
    clf = _fit(P, y, latent_dim="auto", rho="auto")
    cv = clf.cv_results_
    assert isinstance(cv, dict)
    n_candidates = 3 * 3  # latent_dim 1, 2, 4 x rho 0.5, 0.8, 1.0
    assert len(cv["params"]) == n_candidates
    for key in ("param_latent_dim", "param_rho", "mean_test_score", "std_test_score"):
        assert isinstance(cv[key], np.ndarray) and cv[key].shape == (n_candidates,)
    assert [p["latent_dim"] for p in cv["params"]] == cv["param_latent_dim"].tolist()
    assert [p["rho"] for p in cv["params"]] == cv["param_rho"].tolist()
    assert cv["rank_test_score"].dtype.kind == "i"
    assert cv["rank_test_score"][np.argmax(cv["mean_test_score"])] == 1
    assert cv["rank_test_score"].min() == 1
    splits = np.column_stack([cv[f"split{k}_test_score"] for k in range(3)])
    np.testing.assert_allclose(splits.mean(axis=1), cv["mean_test_score"])
    np.testing.assert_allclose(splits.std(axis=1), cv["std_test_score"])
    frame = pd.DataFrame(cv)
    assert len(frame) == n_candidates and "mean_test_score" in frame
    best = [p for p, r in zip(cv["params"], cv["rank_test_score"], strict=True) if r == 1]
    assert {"latent_dim": clf.latent_dim_, "rho": clf.rho_} in best
    if len(best) == 1:
        assert best[0] == {"latent_dim": clf.latent_dim_, "rho": clf.rho_}


def test_cv_results_round_trip_and_old_files(tmp_path):
    P, y = _problem(2)
    clf = _fit(P, y, latent_dim="auto")
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.cv_results_.keys() == clf.cv_results_.keys()
    assert loaded.cv_results_["params"] == clf.cv_results_["params"]
    for key, value in clf.cv_results_.items():
        if key != "params":
            np.testing.assert_array_equal(loaded.cv_results_[key], value)
            assert loaded.cv_results_[key].dtype.kind == value.dtype.kind
    # files before 1.0 stored a list of one dict per candidate: converted at load
    records = [
        {"latent_dim": 1, "rho": 1.0, "mean_pr_auc": 0.5, "fold_pr_auc": [0.4, 0.6]},
        {"latent_dim": 2, "rho": 1.0, "mean_pr_auc": 0.75, "fold_pr_auc": [0.7, 0.8]},
    ]
    fitted = SimpleNamespace(
        classifier_factors_=np.zeros((5, 2)),
        coef_=np.zeros(5),
        aggregator_input="observed",
        classes_=np.array([0, 1]),
    )
    converted = _check_scalar("cv_results_", records, fitted)
    assert converted["params"] == [{"latent_dim": 1, "rho": 1.0}, {"latent_dim": 2, "rho": 1.0}]
    np.testing.assert_allclose(converted["mean_test_score"], [0.5, 0.75])
    np.testing.assert_allclose(converted["split1_test_score"], [0.6, 0.8])
    np.testing.assert_array_equal(converted["rank_test_score"], [2, 1])
    assert converted.keys() == cv_results_from_records(records).keys()
    with pytest.raises(ValueError, match="cv_results_"):
        _check_scalar("cv_results_", [{"latent_dim": 1}], fitted)
    with pytest.raises(ValueError, match="cv_results_"):
        _check_scalar("cv_results_", {"params": [{}], "mean_test_score": [1, 2]}, fitted)
