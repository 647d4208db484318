"""``aggregator_shrinkage="auto"``: the shrinkage chosen by cross-validating the aggregator."""

import numpy as np
import pytest
from conftest import UNEQUAL, labeled_problem, quiet_fit
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold

from cfensemble import ALS
from cfensemble._aggregation import AUTO_SHRINKAGES, SHRINKAGE_FALLBACK
from cfensemble._consensus import consensus_target, moments, separation_factor
from cfensemble.io import load_model, save_model


def _slow_cv_means(A, y_semi, sample_weight=None, target="consensus"):
    """The cross-validation written out with the public estimator: on the complete
    aggregator input ``A`` the factorization does not touch the aggregator input
    (``aggregator_input="observed"`` reads ``A`` itself), so fitting on ``A`` with one
    fold's labels hidden is the fold's aggregator; its transductive probabilities of the
    hidden rows are scored by PR-AUC. ``target``: the fit's shrinkage target (its
    consensus of ``P``; computed from a filled-in ``A`` it would differ), or a function of
    a fold's training rows (among the labeled rows) that gives the fold's target."""
    labeled = np.flatnonzero(y_semi >= 0)
    y_lab = y_semi[labeled]
    folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(labeled, y_lab))
    means = []
    for shrinkage in AUTO_SHRINKAGES:
        scores = []
        for train, held in folds:
            y_cv = y_semi.copy()
            y_cv[labeled[held]] = -1
            fold = target(train) if callable(target) else target
            est = quiet_fit(
                A, y_cv, sample_weight, aggregator_shrinkage=shrinkage, shrinkage_target=fold
            )
            w = None if sample_weight is None else sample_weight[labeled[held]]
            scores.append(
                average_precision_score(
                    y_lab[held], est.label_distributions_[labeled[held], 1], sample_weight=w
                )
            )
        means.append(np.mean(scores))
    return means


@pytest.mark.parametrize("missing_rate", [0.0, 0.3])
def test_the_choice_equals_a_fit_with_the_chosen_value(missing_rate):
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    # unequal classifiers: little or no pull (the target already tells them apart)
    assert auto.aggregator_shrinkage_ in (0.0, 0.01)
    fixed = quiet_fit(P, y_semi, aggregator_shrinkage=auto.aggregator_shrinkage_)
    np.testing.assert_array_equal(auto.coef_, fixed.coef_)
    np.testing.assert_array_equal(auto.predict_proba(P), fixed.predict_proba(P))
    assert auto.loss_curve_["supervised"][-1] == pytest.approx(fixed.loss_curve_["supervised"][-1])


def test_the_scores_match_the_cross_validation_written_out():
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.3)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto", shrinkage_target="consensus")
    A = auto.impute(P)  # the aggregator input of every row (label-free factors)
    assert auto.shrinkage_cv_["candidates"] == list(AUTO_SHRINKAGES)
    np.testing.assert_allclose(
        auto.shrinkage_cv_["mean_pr_auc"],
        _slow_cv_means(A, y_semi, target=auto.shrinkage_target_),
        atol=1e-9,
    )


def test_separation_folds_take_their_factor_from_their_own_training_rows():
    """With shrinkage_target="separation" (the default) each fold's target is the
    consensus of P times the separation factor of the fold's training rows only: the
    held-out fold's labels do not reach its target."""
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.3, n=2000)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    labeled = np.flatnonzero(y_semi >= 0)
    consensus = consensus_target(moments(P))

    def fold_target(train):
        rows = P[labeled[train]]
        t = consensus * separation_factor(
            np.nan_to_num(rows), ~np.isnan(rows), y_semi[labeled[train]]
        )
        t = np.maximum(t, 1e-3 * t.max())
        return t / t.mean()

    full = fold_target(np.arange(labeled.size))
    np.testing.assert_allclose(auto.shrinkage_target_, full, rtol=1e-12)
    assert not np.allclose(fold_target(np.arange(0, labeled.size, 2)), full)
    np.testing.assert_allclose(
        auto.shrinkage_cv_["mean_pr_auc"],
        _slow_cv_means(auto.impute(P), y_semi, target=fold_target),
        atol=1e-9,
    )


def test_sample_weights_enter_the_class_weights_and_the_score():
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.0, n=800)
    weight = np.random.default_rng(1).integers(1, 4, P.shape[0]).astype(float)
    auto = quiet_fit(P, y_semi, weight, aggregator_shrinkage="auto", shrinkage_target="consensus")
    np.testing.assert_allclose(
        auto.shrinkage_cv_["mean_pr_auc"],
        _slow_cv_means(P, y_semi, weight, target=auto.shrinkage_target_),
        atol=1e-9,
    )


def test_the_choice_follows_the_reported_scores_with_ties_to_the_fallback():
    P, _, y_semi = labeled_problem(np.full(6, 0.6), missing_rate=0.3)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    means = auto.shrinkage_cv_["mean_pr_auc"]
    best = AUTO_SHRINKAGES[int(np.argmax(means))]
    expected = SHRINKAGE_FALLBACK if means[AUTO_SHRINKAGES.index(0.1)] == max(means) else best
    assert auto.aggregator_shrinkage_ == expected


@pytest.mark.parametrize(
    "params",
    [
        {"rho": 0.5},
        {"aggregator_type": "mean"},
        {"solver": ALS(max_iter=20, aggregator_solver="gd")},
    ],
    ids=["rho<1", "mean aggregator", "gradient step"],
)
def test_where_it_cannot_cross_validate_it_is_the_fallback(params):
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    params = {"solver": ALS(max_iter=20), **params}
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto", **params)
    fixed = quiet_fit(P, y_semi, aggregator_shrinkage=SHRINKAGE_FALLBACK, **params)
    assert auto.aggregator_shrinkage_ == SHRINKAGE_FALLBACK
    assert auto.shrinkage_cv_ is None
    np.testing.assert_array_equal(auto.predict_proba(P), fixed.predict_proba(P))


def test_one_labeled_positive_is_the_fallback():
    P, y, _ = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    y_semi = np.full(y.size, -1)
    y_semi[np.flatnonzero(y == 1)[:1]] = 1
    y_semi[np.flatnonzero(y == 0)[:50]] = 0
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    assert auto.aggregator_shrinkage_ == SHRINKAGE_FALLBACK and auto.shrinkage_cv_ is None


def test_a_number_is_used_as_given():
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.0, n=600)
    est = quiet_fit(P, y_semi, aggregator_shrinkage=0.01)
    assert est.aggregator_shrinkage_ == 0.01 and est.shrinkage_cv_ is None


def test_three_classes():
    rng = np.random.default_rng(0)
    n, m, k = 600, 5, 3
    y = rng.integers(0, k, n)
    quality = np.linspace(0.5, 4.0, m)  # unequal classifiers
    logits = rng.normal(size=(n, m, k)) + quality[None, :, None] * np.eye(k)[y][:, None, :]
    P = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    y_semi = np.where(rng.random(n) < 0.3, y, -1)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    assert auto.aggregator_shrinkage_ in AUTO_SHRINKAGES
    fixed = quiet_fit(P, y_semi, aggregator_shrinkage=auto.aggregator_shrinkage_)
    np.testing.assert_allclose(auto.predict_proba(P), fixed.predict_proba(P), atol=1e-10)


def test_a_bad_value_names_the_parameter():
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.0, n=300)
    with pytest.raises(ValueError, match="aggregator_shrinkage"):
        quiet_fit(P, y_semi, aggregator_shrinkage="cv")


def test_model_files_keep_the_choice(tmp_path):
    P, _, y_semi = labeled_problem(UNEQUAL, missing_rate=0.3, n=800)
    auto = quiet_fit(P, y_semi, aggregator_shrinkage="auto")
    save_model(auto, tmp_path / "m.cfe")
    loaded = load_model(tmp_path / "m.cfe")
    assert loaded.aggregator_shrinkage == "auto"
    assert loaded.aggregator_shrinkage_ == auto.aggregator_shrinkage_
    assert loaded.shrinkage_cv_ == auto.shrinkage_cv_
    np.testing.assert_array_equal(loaded.predict_proba(P), auto.predict_proba(P))
