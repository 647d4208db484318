"""CFEnsembleClassifier: scikit-learn contract, parameters, bad input, diagnostics."""

import pickle
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import main_trainer
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from cfensemble import (
    ALS,
    CFEnsembleClassifier,
    CFEnsemblePyTorchTrainer,
    CFEnsembleTrainer,
    CollapseWarning,
)
from cfensemble._aggregation import _lower_on_the_positives, costs

OUTSIDE_01 = "the checks' X is not in [0, 1]; P holds probabilities and is rejected otherwise"
CONTRACT = "test_contract_probability_data.py::"
# Each check that fails only on its data, and the test that runs it on probability data
# (binary P with missing entries and unlabeled rows, for both front-ends).
ON_PROBABILITY_DATA = {
    "check_classifiers_train": "test_estimator.py::test_contract_on_probability_data",
    "check_dict_unchanged": CONTRACT + "test_predict_leaves_the_fitted_estimator_unchanged",
    "check_dont_overwrite_parameters": (
        CONTRACT + "test_fit_changes_no_parameter_and_sets_only_fitted_attributes"
    ),
    "check_estimators_fit_returns_self": "test_estimator.py::test_contract_on_probability_data",
    "check_estimators_overwrite_params": (
        CONTRACT + "test_fit_changes_no_parameter_and_sets_only_fitted_attributes"
    ),
    "check_estimators_pickle": "test_estimator.py::test_contract_on_probability_data",
    "check_f_contiguous_array_estimator": CONTRACT + "test_fortran_ordered_P_gives_the_same_fit",
    "check_fit2d_1feature": CONTRACT + "test_one_classifier",
    "check_fit2d_1sample": CONTRACT + "test_one_row",
    "check_fit2d_predict1d": CONTRACT + "test_predict_on_1d_P_is_a_clear_error",
    "check_fit_check_is_fitted": CONTRACT + "test_check_is_fitted_before_and_after_fit",
    "check_fit_idempotent": "test_estimator.py::test_contract_on_probability_data",
    "check_methods_sample_order_invariance": (
        "test_estimator.py::test_contract_on_probability_data"
    ),
    "check_methods_subset_invariance": "test_estimator.py::test_contract_on_probability_data",
    "check_n_features_in": "test_estimator.py::test_contract_on_probability_data",
    "check_n_features_in_after_fitting": "test_estimator.py::test_contract_on_probability_data",
    "check_pipeline_consistency": CONTRACT + "test_in_a_pipeline_gives_the_same_predictions",
    # the check fits negative X; P negative is refused with its own message
    "check_positive_only_tag_during_fit": (
        "test_estimator.py::test_bad_input_gets_a_clear_error[P negative]"
    ),
    "check_readonly_memmap_input": CONTRACT + "test_read_only_memmap_input_gives_the_same_fit",
    "check_sample_weights_pandas_series": (
        CONTRACT + "test_sample_weight_as_a_list_or_pandas_series_gives_the_same_fit"
    ),
    "check_all_zero_sample_weights_error": "test_estimator.py::test_bad_sample_weight",
    "check_sample_weights_shape": "test_estimator.py::test_bad_sample_weight",
    "check_sample_weights_not_overwritten": CONTRACT + "test_sample_weight_is_not_overwritten",
    "check_estimators_dtypes": (
        CONTRACT + "test_float32_and_integer_P_give_the_same_fit_as_float64"
    ),
    "check_classifiers_classes": CONTRACT + "test_string_labels_come_back_from_predict",
}
EXPECTED_FAILED_CHECKS = {
    name: f"{OUTSIDE_01}; on probability data: {test}"
    for name, test in ON_PROBABILITY_DATA.items()
}
EXPECTED_FAILED_CHECKS["check_classifiers_classes"] += " (its labels -1/+1: -1 marks unlabeled)"
EXPECTED_FAILED_CHECKS.update(
    {
        "check_classifier_data_not_an_array": f"{OUTSIDE_01}; on probability data: {CONTRACT}"
        "test_P_that_converts_only_with_asarray",
        "check_sample_weights_not_an_array": f"{OUTSIDE_01}; on probability data: {CONTRACT}"
        "test_y_and_sample_weight_that_convert_only_with_asarray",
        "check_class_weight_classifiers": (
            "class_weight is 'balanced' or None, not a dict of weights per class (costs: "
            "fn_cost, or sample_weight per row)"
        ),
    }
)
TRAINER_EXPECTED_FAILED_CHECKS = {
    **EXPECTED_FAILED_CHECKS,
    # CFEnsembleClassifier has no max_iter (its solver has): the check does not apply
    "check_non_transformer_estimators_n_iter": (
        f"{OUTSIDE_01}; on probability data: test_estimator.py::test_contract_on_probability_data"
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "the seed front-end's latent_dim=20 reaches the check's number of columns: the "
        "factorization is not unique and the two fits end in different gauges (equal to "
        f"1e-12 on probability data: {CONTRACT}"
        "test_trainer_integer_sample_weights_equal_repeated_rows)"
    ),
}


# Incidental to the checks' data (random X, labels unrelated to it, a few columns): the
# aggregator collapses, the front-end's latent_dim=20 is capped at the number of columns,
# and complete P leaves the factorization without effect; none is what a check tests
@pytest.mark.filterwarnings("ignore::cfensemble.CollapseWarning")
@pytest.mark.filterwarnings("ignore:latent_dim=20 is above the number of classifiers:UserWarning")
@pytest.mark.filterwarnings("ignore:P is complete and aggregator_input='observed':UserWarning")
@parametrize_with_checks(
    [CFEnsembleClassifier(solver=ALS(max_iter=5)), CFEnsembleTrainer(max_iter=5)],
    expected_failed_checks=lambda est: (
        EXPECTED_FAILED_CHECKS
        if type(est) is CFEnsembleClassifier
        else TRAINER_EXPECTED_FAILED_CHECKS
    ),
)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _fit(P, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleClassifier(random_state=0, **params).fit(P, y)


def _fit_trainer(P, y, **params):
    """:func:`_fit` of the original method's front-end with CFEnsembleClassifier's defaults
    and the variants ``params`` that cfensemble 1.0 removed from CFEnsembleClassifier."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return main_trainer(random_state=0, **params).fit(P, y)


def _with_missing(P, rate=0.3, seed=0):
    """P with ``rate`` of its entries missing at random (every row and column keeps one)."""
    P = P.copy()
    P[np.random.default_rng(seed).random(P.shape) < rate] = np.nan
    P[np.isnan(P).all(axis=1), 0] = 0.5
    return P


@pytest.mark.parametrize("cls", [CFEnsembleClassifier, CFEnsembleTrainer])
def test_contract_on_probability_data(problem, cls):
    P, _, y = problem
    if cls is CFEnsembleTrainer:  # the original method's front-end keeps its max_iter
        est = cls(max_iter=10, random_state=0)
    else:
        est = cls(solver=ALS(max_iter=10), random_state=0)
    params = est.get_params()
    with warnings.catch_warnings():
        # incidental: 10 iterations do not converge (the classifier defers its factors
        # with complete P, so pickling below runs them and warns there), and the
        # front-end's latent_dim=20 is capped at the 6 classifiers
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", "latent_dim=20 is above", UserWarning)
        assert est.fit(P, y) is est
        again = clone(est).fit(P, y)
        restored = pickle.loads(pickle.dumps(est))
    assert est.get_params() == params  # fit does not write hyperparameters
    np.testing.assert_array_equal(
        est.label_distributions_[:, 1], again.label_distributions_[:, 1]
    )  # idempotent
    assert est.n_features_in_ == P.shape[1]
    proba = est.predict_proba(P)
    assert proba.shape == (P.shape[0], 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(np.unique(est.predict(P))) <= {0, 1}
    order = np.random.default_rng(0).permutation(P.shape[0])
    np.testing.assert_allclose(est.predict_proba(P[order]), proba[order])  # row-wise fold-in
    np.testing.assert_allclose(est.predict_proba(P[:7]), proba[:7])  # subset invariance
    np.testing.assert_array_equal(restored.predict_proba(P), proba)
    with pytest.raises(ValueError, match="columns"):
        est.predict_proba(P[:, :-1])
    assert est.transduction_.shape == (P.shape[0],)
    assert est.latent_dim_ == min(est.latent_dim, P.shape[1])
    assert est.instance_factors_.shape == (P.shape[0], est.latent_dim_)
    assert est.classifier_factors_.shape == (P.shape[1], est.latent_dim_)
    assert est.classifier_bias_.shape == (P.shape[1],)
    assert est.instance_bias_.shape == (P.shape[0],)
    assert est.coef_.shape == (P.shape[1],)
    assert set(est.loss_curve_) == {"total", "reconstruction", "supervised"}
    assert est.n_iter_ >= 1 and all(v.shape == (est.n_iter_,) for v in est.loss_curve_.values())


def test_set_params_and_clone_roundtrip():
    est = CFEnsembleClassifier(rho=0.3).set_params(latent_dim=4)
    assert clone(est).get_params()["latent_dim"] == 4
    assert clone(est).get_params()["rho"] == 0.3


def test_rho_changes_the_predictions(problem):
    P, _, y = problem
    P = _with_missing(P)
    a = _fit(P, y, rho=0.2, lambda_reg=0.01)
    b = _fit(P, y, rho=0.8, lambda_reg=0.01)
    assert np.max(np.abs(a.label_distributions_[:, 1] - b.label_distributions_[:, 1])) > 1e-3
    assert np.max(np.abs(a.predict_proba(P) - b.predict_proba(P))) > 1e-3


# With complete P the default aggregator input is P itself: the factorization only fills
# in missing predictions. So the base of this test has missing entries, a ridge that keeps
# the low-rank part alive and the aggregator on both inputs; each change must matter.
BASE = dict(
    solver=ALS(max_iter=30),
    lambda_reg=0.01,
    aggregator_input="both",
    rho=0.5,
    aggregator_shrinkage=0.0,
)
DEFAULT_CHANGES = [
    ("latent_dim", 3),
    ("latent_dim", "auto"),
    ("rho", 0.9),
    ("rho", 1.0),
    ("lambda_reg", 1.0),
    ("aggregator_input", "observed"),
    ("aggregator_input", "reconstructed"),
    ("aggregator_type", "mean"),
    ("solver", ALS(max_iter=30, aggregator_solver="gd")),
    ("aggregator_l2", 1.0),
    ("aggregator_shrinkage", 1.0),
    ("confidence", "certainty"),
    ("label_aware_alpha", 1.0),
    ("class_weight", None),
    ("focal_gamma", 2.0),
    ("fn_cost", 2.0),
    ("solver", ALS(max_iter=3)),
    ("solver", ALS(max_iter=30, tol=0.1)),
    ("solver", ALS(max_iter=30, freeze_aggregator_iters=5)),
    ("random_state", 1),
]


@pytest.mark.parametrize(("name", "value"), DEFAULT_CHANGES)
def test_every_parameter_changes_the_result(problem, base_fits, name, value):
    P, _, y = problem
    P = _with_missing(P)
    if "base" not in base_fits:
        base_fits["base"] = _fit(P, y, **BASE)
    base = base_fits["base"]
    params = {**BASE, name: value}
    if name == "random_state":
        changed = CFEnsembleClassifier(**BASE, random_state=value)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            changed.fit(P, y)
    else:
        changed = _fit(P, y, **params)
    if value == "auto" and changed.latent_dim_ == 2:
        # "auto" chose the default: it must then be exactly that fit; compare with another
        assert sorted(set(changed.cv_results_["param_latent_dim"].tolist())) == [1, 2, 4]
        np.testing.assert_allclose(
            changed.label_distributions_[:, 1], base.label_distributions_[:, 1], atol=1e-12
        )
        base = _fit(P, y, **{**BASE, "latent_dim": 1})
    assert (
        np.max(np.abs(base.label_distributions_[:, 1] - changed.label_distributions_[:, 1])) > 1e-6
    )


def test_label_aware_alpha_changes_the_classifier_step(problem):
    P, _, y = problem
    P = _with_missing(P)
    a = _fit(P, y, label_aware_alpha=1.0, **BASE)
    b = _fit(P, y, label_aware_alpha=5.0, **BASE)
    assert np.max(np.abs(a.label_distributions_[:, 1] - b.label_distributions_[:, 1])) > 1e-6


def test_aggregator_lr_changes_the_seed_step(problem):
    P, _, y = problem
    a = _fit(P, y, solver=ALS(aggregator_solver="gd", aggregator_lr=0.01))
    b = _fit(P, y, solver=ALS(aggregator_solver="gd", aggregator_lr=0.5))
    assert np.max(np.abs(a.coef_ - b.coef_)) > 1e-3


def test_verbose_logs_the_objective(problem, caplog):
    P, _, y = problem
    with caplog.at_level("INFO", logger="cfensemble"):  # missing: the fit factorizes
        _fit(_with_missing(P), y, solver=ALS(max_iter=2), verbose=True)
    lines = [r.message for r in caplog.records if "iteration" in r.message]
    assert len(lines) == 2
    # rho=1: the aggregator is fitted after the factors; no "supervised nan" per iteration
    assert not any("nan" in line for line in lines) and "reconstruction" in lines[0]
    caplog.clear()
    with caplog.at_level("INFO", logger="cfensemble"):  # rho < 1: every part, every time
        _fit(_with_missing(P), y, rho=0.5, solver=ALS(max_iter=2), verbose=True)
    assert sum("supervised" in r.message for r in caplog.records) == 2


def test_supplied_confidence_is_honoured(problem):
    P, _, y = problem
    P = _with_missing(P)
    rng = np.random.default_rng(3)
    C = rng.random(P.shape)
    a = _fit(P, y, confidence=C, **BASE)
    b = _fit(P, y, confidence=lambda P, y: C, **BASE)
    c = _fit(P, y, **BASE)
    np.testing.assert_array_equal(a.label_distributions_[:, 1], b.label_distributions_[:, 1])
    assert np.max(np.abs(a.label_distributions_[:, 1] - c.label_distributions_[:, 1])) > 1e-4
    # fold-in with an explicit confidence for the new rows
    assert not np.allclose(a.predict_proba(P[:5], confidence=C[:5]), a.predict_proba(P[:5]))


def test_missing_predictions_are_handled(problem):
    P, _, y = problem
    P = P.copy()
    P[np.random.default_rng(0).random(P.shape) < 0.3] = np.nan
    P[np.isnan(P).all(axis=1), 0] = 0.5
    clf = _fit(P, y)
    assert np.isfinite(clf.label_distributions_[:, 1]).all()
    assert np.isfinite(clf.predict_proba(P)).all()


def test_missing_entry_has_no_influence(problem):
    """A missing entry gets confidence 0: its (placeholder) value cannot matter."""
    P, _, y = problem
    P1 = P.copy()
    P1[3, 2] = np.nan
    kw = dict(aggregator_input="reconstructed")  # with "observed" an entry present is used
    a = _fit(P1, y, confidence=np.ones(P.shape), **kw)
    C = np.ones(P.shape)
    C[3, 2] = 0.0
    b = _fit(P, y, confidence=C, **kw)
    np.testing.assert_allclose(
        a.label_distributions_[:, 1], b.label_distributions_[:, 1], atol=1e-10
    )


def test_no_labels_is_a_pure_reconstruction_with_a_warning(problem):
    P, _, _ = problem
    with pytest.warns(UserWarning, match="no labeled rows"):
        clf = _fit(P, -np.ones(P.shape[0]))
    assert not clf.aggregator_trained_
    np.testing.assert_allclose(clf.label_distributions_[:, 1], np.clip(P.mean(1), 0, 1))


def test_diagnostics_and_collapse_warning(problem):
    P, _, y = problem
    clf = _fit(P, y)
    d = clf.diagnostics_
    np.testing.assert_array_equal(d["weights"], clf.coef_)
    assert d["weight_range"] == pytest.approx(d["weight_max"] - d["weight_min"])
    assert d["weight_sum"] == pytest.approx(clf.coef_.sum())
    assert d["prediction_std"] == pytest.approx(clf.label_distributions_[:, 1].std())
    assert not d["collapsed"]
    # labels that contradict every base classifier make the weights flip sign
    y_flip = np.where(y == -1, -1, 1 - y)
    with pytest.warns(CollapseWarning, match="collapsed"):
        flipped = _fit_trainer(P, y_flip, aggregator_positive=False)
    assert flipped.diagnostics_["weight_sum"] < 0
    assert flipped.diagnostics_["n_negative_weights"] > 0
    assert not flipped.diagnostics_["mean_fallback"] and not d["mean_fallback"]
    # the default non-negative aggregator cannot count a classifier against the ensemble:
    # every weight goes to 0, a constant that ranks nothing, and the mean aggregator
    # predicts instead
    with pytest.warns(CollapseWarning, match="every weight is 0"):
        constrained = _fit(P, y_flip)
    assert constrained.diagnostics_["n_negative_weights"] == 0
    assert constrained.diagnostics_["mean_fallback"] and not constrained.aggregator_trained_
    mean = _fit(P, y_flip, aggregator_type="mean")
    np.testing.assert_array_equal(constrained.coef_, mean.coef_)
    np.testing.assert_allclose(
        constrained.label_distributions_[:, 1], mean.label_distributions_[:, 1], atol=1e-12
    )
    np.testing.assert_allclose(constrained.predict_proba(P), mean.predict_proba(P), atol=1e-12)
    assert constrained.label_distributions_[:, 1].std() > 0.01


def test_an_untrained_aggregator_does_not_warn_of_a_collapse():
    """No labeled rows: nothing is trained (the mean aggregator predicts), so constant
    predictions are no collapse; the fit says that y has no labels instead."""
    P = np.full((6, 3), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CollapseWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="y has no labeled rows") as record:
            clf = CFEnsembleClassifier(random_state=0).fit(P, np.full(6, -1))
    assert not [w for w in record if issubclass(w.category, CollapseWarning)]
    assert not clf.aggregator_trained_ and clf.diagnostics_["collapsed"]


def test_collapse_names_the_class_order_when_every_classifier_is_reversed(problem):
    """P given as the probability of the class that sorts first: the collapse warning says
    which class P is read as, instead of asking for more labels."""
    P, _, y = problem
    names = np.where(y == -1, None, np.where(y == 1, "nine", "other")).astype(object)
    with pytest.warns(CollapseWarning, match=r"classes_\[1\] = 'other'.*1 - P") as record:
        _fit(P, names)
    assert record[0].filename == __file__
    # the test behind it: every classifier seen on both classes is lower on the positives
    P0 = np.array([[0.2, 0.1, 0.0], [0.4, 0.3, 0.5], [0.8, 0.9, 0.0], [0.6, 0.7, 0.0]])
    observed = np.array([[1, 1, 0], [1, 1, 1], [1, 1, 0], [1, 1, 0]], dtype=bool)

    def data(y):
        return SimpleNamespace(labeled_rows=lambda: (P0, observed), y_labeled=np.array(y))

    assert _lower_on_the_positives(data([1, 1, 0, 0]))  # column 2: no negative, ignored
    assert not _lower_on_the_positives(data([0, 0, 1, 1]))
    P0[:, 1] = [0.9, 0.7, 0.1, 0.3]  # column 1 now higher on the positives: mixed
    assert not _lower_on_the_positives(data([1, 1, 0, 0]))
    assert not _lower_on_the_positives(data([0, 0, 0, 0]))  # one class: nothing to say


@pytest.mark.parametrize(
    ("params", "category"),
    [
        ({"solver": ALS(max_iter=2, tol=0.0)}, ConvergenceWarning),
        ({"latent_dim": 50}, UserWarning),
    ],
)
def test_warnings_point_at_the_callers_line(problem, params, category):
    """However deep in the package a warning is raised, it names the line that called
    fit (here: this file), not a line of cfensemble or ``sys:1``."""
    P, _, y = problem
    with pytest.warns(category) as record:
        CFEnsembleClassifier(random_state=0, **params).fit(_with_missing(P), y)
    assert {r.filename for r in record if r.category is category} == {__file__}


def test_seed_front_end_is_the_same_estimator(problem):
    P, _, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # latent_dim=20 capped at m
        # the sign constraint and the prior correction: fixed in CFEnsembleClassifier
        seed = CFEnsembleTrainer(
            n_classifiers=P.shape[1],
            aggregator_positive=True,
            prior_correction=True,
            random_state=0,
        ).fit(P, y)
        ours = CFEnsembleClassifier(
            latent_dim=20,
            rho=0.5,
            solver=ALS(max_iter=50, aggregator_solver="gd"),
            lambda_reg=0.01,
            aggregator_input="reconstructed",
            aggregator_l2=0.0,
            aggregator_shrinkage=0.0,
            label_aware_alpha=1.0,
            random_state=0,
        ).fit(P, y)
    np.testing.assert_array_equal(seed.label_distributions_[:, 1], ours.label_distributions_[:, 1])
    with pytest.raises(ValueError, match="n_classifiers=3"):
        CFEnsembleTrainer(n_classifiers=3).fit(P, y)


def test_dtype_with_the_torch_front_end_is_a_clear_error():
    """(Autograd has no dtype; the original method's torch front-end keeps one.)"""
    with pytest.raises(ValueError, match="the torch trainer computes in float64"):
        CFEnsemblePyTorchTrainer(dtype="float32").fit(GOOD_P, GOOD_Y)


def _bad(P, **kw):
    return P, kw


GOOD_P = np.array([[0.1, 0.9], [0.8, 0.3], [0.4, 0.6], [0.7, 0.2]])
GOOD_Y = np.array([0, 1, -1, 1])

BAD_INPUTS = [
    ("P 1-D", dict(P=GOOD_P[:, 0]), ValueError, "P must be 2-D"),
    ("P 4-D", dict(P=GOOD_P[None, :, :, None]), ValueError, "P must be 2-D"),
    ("P 3-D one class", dict(P=GOOD_P[:, :, None]), ValueError, "at least 2"),
    (
        "P 3-D not summing to 1",
        dict(P=np.stack([GOOD_P, GOOD_P], axis=2)),
        ValueError,
        r"P\[0, 0, :\] sums to",
    ),
    (
        "P 3-D partly missing",
        dict(P=np.stack([GOOD_P, np.where(GOOD_P > 0.8, np.nan, 1 - GOOD_P)], axis=2)),
        ValueError,
        "NaN for some classes but not all",
    ),
    (
        "P 3-D classes unlike y",
        dict(P=np.stack([GOOD_P, 1 - GOOD_P], axis=2), y=np.array([0, 2, -1, 1])),
        ValueError,
        "2 class columns per classifier but the labeled rows of y hold 3 classes",
    ),
    ("y -1 as a class", dict(y=np.array([1, -1, -1, 1])), ValueError, "If -1 is a class"),
    ("P above 1", dict(P=GOOD_P + 0.5), ValueError, r"P must hold probabilities in \[0, 1\]"),
    ("P negative", dict(P=GOOD_P - 0.5), ValueError, r"P must hold probabilities in \[0, 1\]"),
    (
        "P above 1 by rounding",  # a rounded format would print "found values in [0, 1]"
        dict(P=np.where(GOOD_P == GOOD_P.max(), 1.0 + 2**-52, GOOD_P)),
        ValueError,
        r"found values in \[.*, 1\.0000000000000002\], the first at P\[\d+, \d+\]",
    ),
    ("P inf", dict(P=np.where(GOOD_P > 0.85, np.inf, GOOD_P)), ValueError, "P contains ±inf"),
    ("P -inf", dict(P=np.where(GOOD_P > 0.85, -np.inf, GOOD_P)), ValueError, "P contains ±inf"),
    (
        "P all missing on a class's only labeled row",  # other empty rows: test_empty_rows.py
        dict(P=np.vstack([[np.nan, np.nan], GOOD_P[1:]])),
        ValueError,
        "Every labeled row of class index 0 has every prediction missing",
    ),
    ("P text", dict(P=[["a", "b"]] * 4), ValueError, "P must be a numeric array"),
    ("P empty", dict(P=np.zeros((4, 0))), ValueError, "0 feature"),
    ("y too short", dict(y=GOOD_Y[:3]), ValueError, "y has 3 entries but P has 4 rows"),
    (
        "y 3 classes, P 2-D",
        dict(y=np.array([0, 2, -1, 1])),
        ValueError,
        "Only binary classification is supported with a 2-D P",
    ),
    (
        "y empty string as unlabeled",
        dict(y=np.array(["neg", "", "pos", "neg"], dtype=object)),
        ValueError,
        "An empty string is a class: mark unlabeled rows with None",
    ),
    ("y continuous", dict(y=np.array([0, 0.5, -1, 1])), ValueError, "continuous"),
    ("y mixed types", dict(y=np.array(["a", 1, None, "b"], dtype=object)), ValueError, "mixes"),
    ("y one class", dict(y=np.array([1, 1, -1, 1])), ValueError, "one class only"),
    ("y 2-D", dict(y=np.ones((4, 2))), ValueError, "y must be 1-D"),
    ("y None", dict(y=None), ValueError, "requires y"),
    ("y complex", dict(y=GOOD_Y + 1j), ValueError, "Complex data not supported"),
    ("P complex", dict(P=GOOD_P + 0j), ValueError, "Complex data not supported"),
    ("latent_dim 0", dict(latent_dim=0), ValueError, "'latent_dim' parameter"),
    ("latent_dim True", dict(latent_dim=True), ValueError, "'latent_dim' parameter"),
    ("latent_dim 2.5", dict(latent_dim=2.5), ValueError, "'latent_dim' parameter"),
    (
        "P column never observed",
        dict(P=np.column_stack([GOOD_P, np.full(4, np.nan)])),
        ValueError,
        r"1 column\(s\) without any prediction \(first: classifier 2\)",
    ),
    (
        "confidence all zero",
        dict(confidence=np.zeros((4, 2))),
        ValueError,
        "confidence is 0 (everywhere|for every observed entry)",
    ),
    (
        "callback not callable",
        dict(solver=ALS(max_iter=2, callback=3)),
        ValueError,
        "'callback' parameter",
    ),
    ("fn_cost zero", dict(fn_cost=0.0), ValueError, "'fn_cost' parameter"),
    ("n_jobs zero", dict(solver=ALS(max_iter=2, n_jobs=0)), ValueError, "'n_jobs' parameter"),
    (
        "accelerate not bool",
        dict(solver=ALS(max_iter=2, accelerate="yes")),
        ValueError,
        "'accelerate' parameter",
    ),
    ("aggregator_input unknown", dict(aggregator_input="P"), ValueError, "'aggregator_input'"),
    (
        "torch without labels",
        dict(solver="torch", y=np.full(4, -1)),
        ValueError,
        "solver='torch' trains on labeled rows",
    ),
    ("rho 1.5", dict(rho=1.5), ValueError, "'rho' parameter"),
    ("rho word", dict(rho="best"), ValueError, "'rho' parameter"),
    ("rho -0.1", dict(rho=-0.1), ValueError, "'rho' parameter"),
    ("rho 0 with ALS", dict(rho=0.0), ValueError, "rho=0"),
    ("lambda negative", dict(lambda_reg=-1.0), ValueError, "'lambda_reg' parameter"),
    ("focal negative", dict(focal_gamma=-1.0), ValueError, "'focal_gamma' parameter"),
    ("unknown solver", dict(solver="sgd"), ValueError, "'solver' parameter"),
    ("unknown confidence", dict(confidence="magic"), ValueError, "'confidence' parameter"),
    (
        "confidence shape",
        dict(confidence=np.ones((3, 2))),
        ValueError,
        r"confidence must have shape \(4, 2\)",
    ),
    (
        "confidence negative",
        dict(confidence=-np.ones((4, 2))),
        ValueError,
        "confidence must be >= 0",
    ),
    (
        "confidence nan",
        dict(confidence=np.full((4, 2), np.nan)),
        ValueError,
        "confidence must be finite",
    ),
    (
        "confidence callable bad",
        dict(confidence=lambda P, y: np.ones(3)),
        ValueError,
        "callable's result",
    ),
]


# (a row without predictions is warned about before the error it leads to; the warning
# itself: test_empty_rows.py)
@pytest.mark.filterwarnings("ignore::cfensemble.EmptyRowsWarning")
@pytest.mark.parametrize(
    ("case", "overrides", "error", "match"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_gets_a_clear_error(case, overrides, error, match):
    overrides = dict(overrides)
    P = overrides.pop("P", GOOD_P)
    y = overrides.pop("y", GOOD_Y)
    with pytest.raises(error, match=match):
        CFEnsembleClassifier(**{"solver": ALS(max_iter=2), **overrides}).fit(P, y)


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        CFEnsembleClassifier().predict_proba(GOOD_P)


def test_predict_with_bad_new_rows():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(solver=ALS(max_iter=2)).fit(GOOD_P, GOOD_Y)
    with pytest.raises(ValueError, match="P has 3 columns"):
        clf.predict_proba(np.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        clf.predict_proba(np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match=r"P must be 2-D"):
        clf.predict_proba(np.full(2, np.nan))


def test_auto_latent_dim_and_rho_by_cross_validation(problem):
    P, _, y = problem
    P = _with_missing(P)  # complete P: "auto" does not search (test_deferred.py)
    clf = _fit(P, y, latent_dim="auto", rho="auto", solver=ALS(max_iter=20))
    cv = clf.cv_results_
    grid = {(r["latent_dim"], r["rho"]) for r in cv["params"]}
    assert grid == {(d, r) for d in (1, 2, 4) for r in (0.5, 0.8, 1.0)}
    top = cv["mean_test_score"].max()
    scores = zip(cv["params"], cv["mean_test_score"], strict=True)
    ties = [r for r, s in scores if s >= top - 1e-12]
    best = min(ties, key=lambda r: (r["latent_dim"], -r["rho"]))  # smaller d, larger rho
    assert (clf.latent_dim_, clf.rho_) == (best["latent_dim"], best["rho"])
    assert clf.instance_factors_.shape[1] == clf.latent_dim_
    folds = np.column_stack([cv[f"split{k}_test_score"] for k in range(3)])
    assert "split3_test_score" not in cv
    np.testing.assert_allclose(folds.mean(axis=1), cv["mean_test_score"])
    # the refit equals a fit with the chosen values
    same = _fit(P, y, latent_dim=clf.latent_dim_, rho=clf.rho_, solver=ALS(max_iter=20))
    np.testing.assert_array_equal(same.label_distributions_[:, 1], clf.label_distributions_[:, 1])
    assert same.cv_results_ is None and same.latent_dim_ == clf.latent_dim_


def test_auto_for_one_parameter_and_the_fallback(problem):
    P, y_true, y = problem
    P = _with_missing(P)
    only_rho = _fit(P, y, rho="auto", solver=ALS(max_iter=10))
    assert set(only_rho.cv_results_["param_latent_dim"].tolist()) == {2}
    assert set(only_rho.cv_results_["param_rho"].tolist()) == {0.5, 0.8, 1.0}
    few = np.full(y.size, -1)
    few[np.flatnonzero(y_true == 1)[:1]] = 1
    few[np.flatnonzero(y_true == 0)[:5]] = 0
    with pytest.warns(UserWarning, match="at least 2 labeled rows of each class"):
        fallback = _fit(P, few, latent_dim="auto", solver=ALS(max_iter=5))
    assert fallback.latent_dim_ == 2 and fallback.cv_results_ is None


def test_latent_dim_above_the_number_of_classifiers_is_capped_with_a_warning():
    """latent_dim=1000 on 300 x 5 allocated (300, 1000, 1000) before: now capped at m."""
    rng = np.random.default_rng(0)
    P = rng.random((300, 5))
    y = np.where(rng.random(300) < 0.5, (P.mean(1) > 0.5).astype(int), -1)
    with pytest.warns(UserWarning, match="using latent_dim=5"):
        clf = _fit(P, y, latent_dim=1000)
    assert clf.latent_dim_ == 5 and clf.classifier_factors_.shape == (5, 5)


def test_huge_and_tiny_confidence_scales_give_the_same_fit(problem):
    """Each step is invariant to the scale of its confidence; 1e300 cannot overflow."""
    P, _, y = problem
    P = _with_missing(P)
    C = np.random.default_rng(0).random(P.shape) + 0.1
    a = _fit(P, y, confidence=C, **BASE)
    for scale in (1e300, 1e-300):
        b = _fit(P, y, confidence=C * scale, **BASE)
        np.testing.assert_allclose(
            a.label_distributions_[:, 1], b.label_distributions_[:, 1], rtol=1e-8, atol=1e-12
        )


def test_an_entirely_unobserved_classifier_is_refused_not_used_as_a_label_channel():
    """Found by the hostile-input probe: the free factor of an all-NaN column took 96 % of
    the weight. With 2 % observed the column is fitted like any other."""
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(600, 5, positive_rate=0.2, random_state=1)
    y_train = np.where(np.arange(600) % 2 == 0, y, -1)
    P_bad = P.copy()
    P_bad[:, 2] = np.nan
    with pytest.raises(ValueError, match="without any prediction"):
        _fit(P_bad, y_train)
    P_bad[::50, 2] = P[::50, 2]  # 2 % observed
    clf = _fit(P_bad, y_train)
    assert clf.coef_[2] < 0.5 * clf.coef_.sum()


def test_dataframe_column_names_are_checked_at_predict():
    pd = pytest.importorskip("pandas")
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(200, 4, random_state=0)
    df = pd.DataFrame(P, columns=["rf", "svm", "knn", "nb"])
    clf = _fit(df, np.where(np.arange(200) % 2 == 0, y, -1))
    assert list(clf.feature_names_in_) == ["rf", "svm", "knn", "nb"]
    # an array without names is accepted, with scikit-learn's warning
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        from_array = clf.predict_proba(P)
    np.testing.assert_allclose(clf.predict_proba(df), from_array)
    with pytest.raises(ValueError, match="feature names should match"):
        clf.predict_proba(df[["svm", "rf", "knn", "nb"]])


def test_prior_correction_moves_only_the_intercept(problem):
    P, y_true, y = problem
    a = _fit(P, y)
    b = _fit_trainer(P, y, prior_correction=False)
    labeled = y[y != -1]
    shift = np.log(np.sum(labeled == 1) / np.sum(labeled == 0))
    assert a.intercept_ == pytest.approx(b.intercept_ + shift)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    # the ranking is the same; the mean probability is close to the positive rate
    order = np.argsort(b.label_distributions_[:, 1], kind="stable")
    assert np.all(np.diff(a.label_distributions_[order, 1]) >= -1e-15)
    assert abs(a.label_distributions_[:, 1].mean() - y_true.mean()) < abs(
        b.label_distributions_[:, 1].mean() - y_true.mean()
    )


def test_sample_weight_is_a_weight_of_the_supervised_loss(problem):
    P, _, y = problem
    P = _with_missing(P)

    def fit(weight):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return CFEnsembleClassifier(random_state=0, **BASE).fit(P, y, sample_weight=weight)

    none = fit(None)
    np.testing.assert_allclose(
        fit(np.ones(y.size)).label_distributions_[:, 1],
        none.label_distributions_[:, 1],
        atol=1e-12,
    )
    # the loss is normalised by the total weight: a constant factor changes nothing
    np.testing.assert_allclose(
        fit(np.full(y.size, 2.0)).label_distributions_[:, 1],
        none.label_distributions_[:, 1],
        atol=1e-8,
    )
    w = np.where(np.arange(y.size) % 3 == 0, 5.0, 1.0)
    assert (
        np.max(np.abs(fit(w).label_distributions_[:, 1] - none.label_distributions_[:, 1])) > 1e-4
    )


@pytest.mark.parametrize(
    ("weight", "match"),
    [
        (np.ones(3), "one weight per row"),
        (-np.ones(300), "finite and >= 0"),
        (np.full(300, np.nan), "finite and >= 0"),
        ("heavy", "must be numeric"),
        (np.zeros(300), "0 on every labeled row of class"),
    ],
)
def test_bad_sample_weight(problem, weight, match):
    P, _, y = problem
    with pytest.raises(ValueError, match=match):
        CFEnsembleClassifier(solver=ALS(max_iter=2)).fit(P, y, sample_weight=weight)


def test_instance_weighting_is_the_written_formula(problem):
    """``instance_weighting="confidence"``: supervised weights max(1 - mean |2p - 1|, 0.05)."""
    P, _, y = problem
    P = _with_missing(P)
    weights = np.empty(P.shape[0])
    for i, row in enumerate(P):  # the slow obvious version
        seen = [p for p in row if not np.isnan(p)]
        weights[i] = max(1.0 - sum(abs(2 * p - 1) for p in seen) / len(seen), 0.05)
    est = main_trainer(instance_weighting="confidence")
    np.testing.assert_allclose(costs(est, P, y), weights, atol=1e-14)
    # for class probabilities (n, m, 2) it is the same number
    np.testing.assert_allclose(costs(est, np.stack([1 - P, P], axis=2), y), weights, atol=1e-14)
    a = _fit_trainer(P, y, instance_weighting="confidence")
    assert (
        np.max(np.abs(a.label_distributions_[:, 1] - _fit(P, y).label_distributions_[:, 1])) > 1e-6
    )


def test_fn_cost_weights_the_positive_rows_and_raises_probabilities(problem):
    P, _, y = problem
    est = CFEnsembleClassifier(fn_cost=3.0)
    np.testing.assert_array_equal(costs(est, P, y), np.where(y == 1, 3.0, 1.0))
    a = _fit(P, y, fn_cost=3.0)
    assert (
        a.label_distributions_[:, 1].mean() > _fit(P, y).label_distributions_[:, 1].mean() + 0.01
    )
