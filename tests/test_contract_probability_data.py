"""The scikit-learn contract on probability data, for both front-ends.

``parametrize_with_checks`` (test_estimator.py) expects most of its checks to fail because
their X is not in [0, 1], which ``P`` must be. Each property those checks would test is run
here on binary probabilities with missing entries and unlabeled rows, for
CFEnsembleClassifier and the original method's front-end CFEnsembleTrainer; the reasons of
the expected failures name the test below that covers each check.
"""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from conftest import fitted_P_hat
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._testing import create_memmap_backed_data
from sklearn.utils.estimator_checks import _NotAnArray
from sklearn.utils.validation import check_is_fitted

from cfensemble import (
    CFEnsembleClassifier,
    CFEnsembleTrainer,
    CollapseWarning,
    make_ensemble_problem,
)

# The data below fits cleanly (both front-ends converge, nothing collapses): a warning of
# the package (UserWarning: CollapseWarning, EmptyRowsWarning, scikit-learn's
# ConvergenceWarning...) is a change to look at, so it is an error here; the tests that
# expect one say so. (Deprecations of the dependencies stay warnings.)
pytestmark = pytest.mark.filterwarnings("error::UserWarning")

ESTIMATORS = {
    "classifier": CFEnsembleClassifier(random_state=0),
    # the front-end's latent_dim=20 would be capped at the 6 classifiers, with a warning;
    # its other defaults (gd aggregator, reconstructed input, label-aware confidence) stay
    "trainer": CFEnsembleTrainer(latent_dim=3, random_state=0),
}


def _problem(missing_rate, n=200, m=6, seed=0):
    """Binary probabilities ``(P, y)``: 20 % positives, about half the rows unlabeled (-1)."""
    P, y = make_ensemble_problem(
        n, m, positive_rate=0.2, missing_rate=missing_rate, random_state=seed
    )
    return P, np.where(np.random.default_rng(seed).random(n) < 0.5, y, -1)


P, Y = _problem(missing_rate=0.2)
P_COMPLETE, Y_COMPLETE = _problem(missing_rate=0.0)
WEIGHT = np.random.default_rng(1).integers(1, 4, Y.size).astype(float)


@pytest.fixture(params=list(ESTIMATORS))
def estimator(request):
    return clone(ESTIMATORS[request.param])


def _assert_same_fit(a, b, P_a=P, P_b=None, atol=0.0):
    """Two fits agree: their ``label_distributions_`` and their predictions on ``P``."""
    P_b = P_a if P_b is None else P_b
    np.testing.assert_allclose(
        a.label_distributions_[:, 1], b.label_distributions_[:, 1], rtol=0, atol=atol
    )
    np.testing.assert_allclose(a.predict_proba(P_a), b.predict_proba(P_b), rtol=0, atol=atol)
    np.testing.assert_array_equal(a.predict(P_a), b.predict(P_b))


def test_the_data_holds_what_the_checks_data_lacks():
    assert np.nanmin(P) >= 0 and np.nanmax(P) <= 1
    assert 0.1 < np.isnan(P).mean() < 0.3 and not np.isnan(P_COMPLETE).any()
    for y in (Y, Y_COMPLETE):
        assert set(np.unique(y)) == {-1, 0, 1} and 0.3 < np.mean(y == -1) < 0.7


def test_read_only_memmap_input_gives_the_same_fit(estimator):
    P_mm, y_mm, w_mm = create_memmap_backed_data([P, Y, WEIGHT])
    assert isinstance(P_mm, np.memmap) and not P_mm.flags.writeable
    fitted = clone(estimator).fit(P_mm, y_mm, sample_weight=w_mm)
    reference = clone(estimator).fit(P, Y, sample_weight=WEIGHT)
    _assert_same_fit(fitted, reference, P_a=P_mm, P_b=P)
    np.testing.assert_array_equal(P_mm, P)  # nothing written into it (nor could be)


def test_fortran_ordered_P_gives_the_same_fit(estimator):
    F = np.asfortranarray(P)
    assert F.flags.f_contiguous and not F.flags.c_contiguous
    fitted = clone(estimator).fit(F, Y)
    # the BLAS sums in another order: equal to rounding
    _assert_same_fit(fitted, clone(estimator).fit(P, Y), P_a=F, P_b=P, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8, bool])
def test_float32_and_integer_P_give_the_same_fit_as_float64(estimator, dtype):
    """float32 P (with NaN) and 0/1 votes as integers or bools: the fit is that of the same
    values in float64, and the probabilities come back in float64."""
    if dtype is np.float32:
        P_typed = P.astype(np.float32)
    else:  # integer arrays have no NaN: complete votes
        P_typed = (P_COMPLETE > 0.5).astype(dtype)
    y = Y if dtype is np.float32 else Y_COMPLETE
    fitted = clone(estimator).fit(P_typed, y)
    reference = clone(estimator).fit(P_typed.astype(np.float64), y)
    _assert_same_fit(fitted, reference, P_a=P_typed, P_b=P_typed.astype(np.float64))
    assert fitted.predict_proba(P_typed).dtype == np.float64


@pytest.mark.parametrize("kind", ["list", "tuple", "Series", "Series with another index"])
def test_sample_weight_as_a_list_or_pandas_series_gives_the_same_fit(estimator, kind):
    if kind == "list":
        weight = WEIGHT.tolist()
    elif kind == "tuple":
        weight = tuple(WEIGHT)
    else:
        pd = pytest.importorskip("pandas")
        index = np.arange(Y.size)[::-1] if kind == "Series with another index" else None
        weight = pd.Series(WEIGHT, index=index)  # read by position, not by index
    fitted = clone(estimator).fit(P, Y, sample_weight=weight)
    reference = clone(estimator).fit(P, Y, sample_weight=WEIGHT)
    _assert_same_fit(fitted, reference)
    unweighted = clone(estimator).fit(P, Y)  # the weights do matter
    assert (
        np.max(np.abs(fitted.label_distributions_[:, 1] - unweighted.label_distributions_[:, 1]))
        > 1e-4
    )


def test_sample_weight_is_not_overwritten(estimator):
    weight = WEIGHT.copy()
    before = weight.copy()
    clone(estimator).fit(P, Y, sample_weight=weight)
    np.testing.assert_array_equal(weight, before)


def test_y_and_sample_weight_that_convert_only_with_asarray(estimator):
    """Array-likes that refuse every numpy function but ``np.asarray`` (the checks'
    ``_NotAnArray``) as ``y`` and ``sample_weight``."""
    fitted = clone(estimator).fit(P, _NotAnArray(Y), sample_weight=_NotAnArray(WEIGHT))
    _assert_same_fit(fitted, clone(estimator).fit(P, Y, sample_weight=WEIGHT))


def test_P_that_converts_only_with_asarray(estimator):
    fitted = clone(estimator).fit(_NotAnArray(P), Y)
    _assert_same_fit(fitted, clone(estimator).fit(P, Y))


@pytest.mark.parametrize("complete", [False, True], ids=["missing", "complete"])
def test_predict_leaves_the_fitted_estimator_unchanged(estimator, complete):
    """``predict``, ``predict_proba`` and ``score`` change nothing in ``__dict__``; with
    complete P the classifier defers its factors, and predicting does not compute them."""
    P_, y = (P_COMPLETE, Y_COMPLETE) if complete else (P, Y)
    fitted = clone(estimator).fit(P_, y)
    before = dict(fitted.__dict__)
    digest = joblib.hash(fitted.__dict__)
    fitted.predict(P_)
    fitted.predict_proba(P_)
    fitted.score(P_[y != -1], y[y != -1])
    assert fitted.__dict__.keys() == before.keys()
    assert all(fitted.__dict__[k] is v for k, v in before.items())  # no attribute rebound
    assert joblib.hash(fitted.__dict__) == digest  # nor changed in place


def test_fit_changes_no_parameter_and_sets_only_fitted_attributes(estimator):
    params = estimator.get_params()
    digest = joblib.hash(params)
    public = {k for k in vars(estimator) if not k.startswith("_")}
    estimator.fit(P, Y, sample_weight=WEIGHT)
    assert joblib.hash(estimator.get_params()) == digest
    assert all(estimator.get_params()[k] is v for k, v in params.items())
    added = {k for k in vars(estimator) if not k.startswith("_")} - public
    assert added and all(k.endswith("_") for k in added), sorted(added)


def test_in_a_pipeline_gives_the_same_predictions(estimator):
    """After a transformer (sqrt keeps probabilities in [0, 1] and NaN missing), with the
    sample weights routed to the estimator's step."""
    pipe = make_pipeline(FunctionTransformer(np.sqrt), clone(estimator))
    step = pipe.steps[-1][0]
    pipe.fit(P, Y, **{f"{step}__sample_weight": WEIGHT})
    direct = clone(estimator).fit(np.sqrt(P), Y, sample_weight=WEIGHT)
    np.testing.assert_array_equal(pipe.predict_proba(P), direct.predict_proba(np.sqrt(P)))
    np.testing.assert_array_equal(pipe.predict(P), direct.predict(np.sqrt(P)))
    labeled = Y != -1
    assert pipe.score(P[labeled], Y[labeled]) == direct.score(np.sqrt(P[labeled]), Y[labeled])
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.predict_proba(P), pipe.predict_proba(P))


def test_one_row(estimator):
    """One unlabeled row: a pure reconstruction, the mean of its aggregator input (P itself
    for the classifier, its reconstruction for the trainer). One labeled row: one class, a
    clear error."""
    row = P_COMPLETE[:1]
    with warnings.catch_warnings():
        # incidental: one row's prediction is a constant, which the collapse test flags
        # even though nothing was trained (no labels). Filtered here, not by a mark: the
        # module's "error" mark would take precedence over a mark of the test
        warnings.filterwarnings("ignore", "The aggregator collapsed", CollapseWarning)
        with pytest.warns(UserWarning, match="y has no labeled rows"):
            fitted = clone(estimator).fit(row, np.array([-1]))
    source = fitted_P_hat(fitted) if isinstance(estimator, CFEnsembleTrainer) else row
    np.testing.assert_allclose(
        fitted.label_distributions_[:, 1], np.clip(source.mean(axis=1), 0, 1)
    )
    proba = fitted.predict_proba(row)
    np.testing.assert_allclose(proba[:, 1], fitted.label_distributions_[:, 1], atol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="labeled rows of one class only"):
        clone(estimator).fit(row, np.array([1]))


def test_one_classifier(estimator):
    """One column: latent_dim is capped at 1 (with a warning) and the ensemble ranks the
    rows as that classifier does."""
    column = P_COMPLETE[:, :1]
    with pytest.warns(UserWarning, match="using latent_dim=1"):
        fitted = clone(estimator).fit(column, Y_COMPLETE)
    assert fitted.latent_dim_ == 1 and fitted.coef_.shape == (1,) and fitted.coef_[0] > 0
    proba = fitted.predict_proba(column)[:, 1]
    assert np.all((proba > 0) & (proba < 1))
    order = np.argsort(column[:, 0], kind="stable")
    assert np.all(np.diff(proba[order]) >= -1e-12)  # the classifier's ranking, kept
    assert np.ptp(proba) > 0.01


def test_check_is_fitted_before_and_after_fit(estimator):
    with pytest.raises(NotFittedError):
        check_is_fitted(estimator)
    for method in (estimator.predict, estimator.predict_proba, estimator.fold_in):
        with pytest.raises(NotFittedError):
            method(P)
    estimator.fit(P, Y)
    check_is_fitted(estimator)
    with pytest.raises(NotFittedError):
        check_is_fitted(clone(estimator))


def test_predict_on_1d_P_is_a_clear_error(estimator):
    fitted = clone(estimator).fit(P, Y)
    with pytest.raises(ValueError, match="P must be 2-D"):
        fitted.predict(P[0])


def test_string_labels_come_back_from_predict(estimator):
    """Labels of any type: ``classes_`` is the sorted labels, ``predict`` returns them, and
    the fit is that of the same classes as 0/1 (None marks an unlabeled row)."""
    names = np.where(Y == -1, None, np.where(Y == 1, "spam", "ham")).astype(object)
    fitted = clone(estimator).fit(P, names)
    assert fitted.classes_.tolist() == ["ham", "spam"]  # P: the probability of "spam"
    reference = clone(estimator).fit(P, Y)
    np.testing.assert_array_equal(fitted.predict_proba(P), reference.predict_proba(P))
    np.testing.assert_array_equal(
        fitted.predict(P), np.where(reference.predict(P) == 1, "spam", "ham")
    )


def test_trainer_integer_sample_weights_equal_repeated_rows():
    """CFEnsembleTrainer at its defaults (latent_dim=20, here on 20 classifiers: the
    gauge case of check_sample_weight_equivalence_on_dense_data): weights 0-3 on every row
    give the fit of the rows repeated that often; a row of weight 0 is folded in."""
    P20, y = _problem(missing_rate=0.2, n=150, m=20, seed=3)
    weight = np.random.default_rng(2).integers(0, 4, y.size)
    assert {0, 1, 2, 3} <= set(weight) and np.any((weight == 0) & (y != -1))
    rows = np.repeat(np.arange(y.size), weight)
    weighted = CFEnsembleTrainer(random_state=0).fit(P20, y, sample_weight=weight)
    repeated = CFEnsembleTrainer(random_state=0).fit(P20[rows], y[rows])
    assert weighted.latent_dim_ == 20 and weighted.n_iter_ == repeated.n_iter_ > 1
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=0, atol=1e-12)
    assert weighted.intercept_ == pytest.approx(repeated.intercept_, rel=0, abs=1e-12)
    np.testing.assert_allclose(
        weighted.predict_proba(P20), repeated.predict_proba(P20), rtol=0, atol=1e-12
    )
    first = np.searchsorted(rows, np.arange(y.size))  # each kept row's first copy
    kept = weight > 0
    np.testing.assert_allclose(
        weighted.label_distributions_[kept, 1],
        repeated.label_distributions_[first[kept], 1],
        rtol=0,
        atol=1e-12,
    )
    np.testing.assert_allclose(
        weighted.label_distributions_[~kept, 1],
        repeated.predict_proba(P20[~kept])[:, 1],
        rtol=0,
        atol=1e-12,
    )
