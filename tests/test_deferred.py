"""With complete P and the observed aggregator input the fit defers the factorization.

The deferred fit must give exactly what the full fit gives (the predictions now, the
factors when read), run no ALS iteration until a factor is read, and say so when a
factorization setting is set that cannot act.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, _deferred
from cfensemble._als import ALSSolver
from cfensemble._missing import fold_in_rows, predict_rows

FIELDS = (
    "label_distributions_",
    "transduction_",
    "coef_",
    "intercept_",
    "classifier_factors_",
    "classifier_bias_",
)
LAZY_FIELDS = ("instance_factors_", "instance_bias_", "n_iter_")


def problem(n_classes=2, missing_rate=0.0, seed=0):
    P, y = cfensemble.make_ensemble_problem(
        n_samples=300, n_classifiers=5, n_classes=n_classes, missing_rate=missing_rate,
        random_state=seed,
    )  # fmt: skip
    y = y.astype(float)
    y[::3] = np.nan
    return P, y


@pytest.fixture
def count_fits(monkeypatch):
    calls = []
    original = ALSSolver.fit

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ALSSolver, "fit", counted)
    return calls


def _full_fit(monkeypatch, clf, P, y, **kw):
    with monkeypatch.context() as m:
        m.setattr(_deferred, "deferrable", lambda *a: False)
        return clf.fit(P, y, **kw)


@pytest.mark.parametrize(
    "n_classes, params, zero_weights",
    [
        (2, {}, False),
        (2, {"aggregator_shrinkage": "auto"}, False),
        (2, {}, True),
        (2, {"aggregator_type": "mean"}, False),
        (3, {}, False),
    ],
)
def test_deferred_fit_equals_the_full_fit(monkeypatch, n_classes, params, zero_weights):
    P, y = problem(n_classes)
    kw = {}
    if zero_weights:
        kw["sample_weight"] = np.where(np.arange(len(y)) % 7 == 0, 0.0, 1.0)
    full = _full_fit(monkeypatch, CFEnsembleClassifier(random_state=0, **params), P, y, **kw)
    deferred = CFEnsembleClassifier(random_state=0, **params).fit(P, y, **kw)
    assert "_deferred" in vars(deferred)
    for name in FIELDS + LAZY_FIELDS:
        np.testing.assert_array_equal(getattr(deferred, name), getattr(full, name), err_msg=name)
    for part in ("total", "reconstruction", "supervised"):
        np.testing.assert_array_equal(deferred.loss_curve_[part], full.loss_curve_[part])
    rows = P[:40].copy()
    np.testing.assert_array_equal(deferred.predict_proba(rows), full.predict_proba(rows))
    rows[0, 1] = np.nan  # a missing prediction: folded in
    np.testing.assert_array_equal(deferred.predict_proba(rows), full.predict_proba(rows))
    np.testing.assert_array_equal(deferred.impute(rows), full.impute(rows))


def test_no_als_iteration_until_a_factor_is_read(count_fits):
    P, y = problem()
    clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    clf.predict_proba(P[:10])
    assert count_fits == []
    assert clf.classifier_factors_.shape == (5, 2)
    assert count_fits == [1]
    clf.instance_factors_, clf.n_iter_  # noqa: B018  (already computed: no second run)
    assert count_fits == [1]


def test_missing_predictions_run_the_factorization_in_fit(count_fits):
    P, y = problem(missing_rate=0.2)
    clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    assert count_fits == [1] and "_deferred" not in vars(clf)


@pytest.mark.parametrize(
    "params",
    [{"rho": 0.7}, {"aggregator_input": "reconstructed"}, {"solver": ALS(aggregator_solver="gd")}],
)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_settings_where_the_factors_matter_are_not_deferred(count_fits, params):
    P, y = problem()
    CFEnsembleClassifier(random_state=0, **params).fit(P, y)
    assert count_fits  # the factorization ran in fit


def test_pickle_and_model_file_hold_the_factors(monkeypatch, tmp_path):
    P, y = problem()
    full = _full_fit(monkeypatch, CFEnsembleClassifier(random_state=0), P, y)
    clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    copy = pickle.loads(pickle.dumps(clf))
    assert "_deferred" not in vars(copy)
    np.testing.assert_array_equal(copy.classifier_factors_, full.classifier_factors_)
    clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    clf.save(tmp_path / "m.npz")
    loaded = cfensemble.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.instance_factors_, full.instance_factors_)


def test_complete_rows_are_predicted_without_a_fold_in():
    P, y = problem(missing_rate=0.2)
    clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    complete, _ = problem(seed=1)
    data = clf._new_rows(complete[:50], None)
    Y, c = fold_in_rows(clf, data)
    np.testing.assert_allclose(
        clf.predict_proba(complete[:50])[:, 1], predict_rows(clf, data, Y, c), rtol=0, atol=1e-15
    )


def test_refit_on_missing_predictions_drops_the_deferred_run():
    clf = CFEnsembleClassifier(random_state=0).fit(*problem())
    P, y = problem(missing_rate=0.2)
    clf.fit(P, y)
    assert "_deferred" not in vars(clf)
    assert clf.instance_factors_.shape == (300, 2)


def test_settings_without_effect_warn_once_and_auto_does_not_search(monkeypatch):
    P, y = problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CFEnsembleClassifier(random_state=0).fit(P, y)  # defaults: no warning
    for params in ({"latent_dim": 4}, {"lambda_reg": 0.1}, {"solver": ALS(max_iter=5)}):
        monkeypatch.setattr(_deferred, "_WARNED", [])
        with pytest.warns(UserWarning, match="no effect on the predictions here"):
            CFEnsembleClassifier(random_state=0, **params).fit(P, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process: a search is not flooded
        CFEnsembleClassifier(random_state=0, latent_dim=3).fit(P, y)
    monkeypatch.setattr(_deferred, "_WARNED", [])
    with pytest.warns(UserWarning, match="no effect"):
        clf = CFEnsembleClassifier("auto", rho="auto", random_state=0).fit(P, y)
    assert clf.cv_results_ is None and (clf.latent_dim_, clf.rho_) == (2, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with missing predictions the settings act
        CFEnsembleClassifier(4, random_state=0).fit(*problem(missing_rate=0.2))


def test_auto_searches_where_the_factors_matter_and_keeps_the_callback_out():
    calls = []
    solver = ALS(max_iter=20, callback=lambda it, losses: calls.append(it))
    clf = CFEnsembleClassifier("auto", solver=solver, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(*problem(missing_rate=0.3))
    assert len(clf.cv_results_["params"]) == 3  # latent_dim 1, 2, 4
    assert calls and calls == list(range(1, len(calls) + 1))  # the final fit's only
