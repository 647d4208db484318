"""Scoring with unlabeled rows: labeled_scorer and CFEnsembleClassifier.score; the
tie-averaged average precision."""

import itertools
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, average_precision_score
from sklearn.model_selection import GridSearchCV

from cfensemble import ALS, CFEnsembleClassifier, labeled_scorer, make_ensemble_problem
from cfensemble.metrics import labeled_mask, tie_averaged_precision


@pytest.fixture(scope="module")
def semi_supervised():
    P, y = make_ensemble_problem(1200, 8, 0.1, missing_rate=0.3, random_state=0)
    return P, y, np.where(np.arange(1200) % 2 == 0, y, -1)


@pytest.fixture(scope="module")
def fitted(semi_supervised):
    P, _, y = semi_supervised
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CFEnsembleClassifier(random_state=0).fit(P, y)


def test_labeled_mask_reads_every_unlabeled_marker():
    assert labeled_mask([1, 0, -1, 1]).tolist() == [True, True, False, True]
    assert labeled_mask([1.0, np.nan, 0.0]).tolist() == [True, False, True]
    assert labeled_mask(np.array(["a", None, "b"], dtype=object)).tolist() == [True, False, True]


def test_grid_search_with_unlabeled_rows_gives_finite_different_scores(semi_supervised):
    P, _, y = semi_supervised
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(
            CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=20)),
            {"lambda_reg": [0.01, 10.0]},
            scoring=labeled_scorer("average_precision"),
            cv=3,
        ).fit(P, y)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    assert scores[0] != scores[1]


def test_labeled_scorer_scores_only_the_labeled_rows(semi_supervised, fitted):
    P, y_true, y = semi_supervised
    clf = fitted
    labeled = y != -1
    expected = average_precision_score(y[labeled], clf.predict_proba(P[labeled])[:, 1])
    assert labeled_scorer("average_precision")(clf, P, y) == pytest.approx(expected)
    only_one_class = np.where(y_true == 1, -1, y)
    assert np.isnan(labeled_scorer("average_precision")(clf, P, only_one_class))


def test_score_is_the_accuracy_of_the_labeled_rows(semi_supervised, fitted):
    P, _, y = semi_supervised
    clf = fitted
    labeled = y != -1
    assert clf.score(P, y) == pytest.approx(accuracy_score(y[labeled], clf.predict(P[labeled])))
    with pytest.raises(ValueError, match="no labeled rows"):
        clf.score(P, np.full(len(y), -1))


def _average_precision_over_every_order(y, s):
    """The slow, obvious version: average precision of every total order consistent with
    the scores (ties broken every possible way), averaged."""
    values = []
    for perm in itertools.permutations(range(y.size)):
        order = np.lexsort((np.argsort(perm), -s))
        hits = y[order]
        precision = np.cumsum(hits) / np.arange(1, y.size + 1)
        values.append(np.sum(precision * hits) / hits.sum())
    return float(np.mean(values))


def test_tie_averaged_precision_is_the_mean_over_every_order_of_the_ties():
    rng = np.random.default_rng(0)
    for _ in range(60):
        n = int(rng.integers(2, 8))
        y = rng.integers(0, 2, n)
        y[rng.integers(n)] = 1
        s = rng.integers(0, 3, n).astype(float)  # few values: many ties
        assert tie_averaged_precision(y, s) == pytest.approx(
            _average_precision_over_every_order(y, s), abs=1e-12
        )


def test_tie_averaged_precision_equals_sklearn_without_ties_and_exceeds_it_with_them():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.1).astype(int)
    s = rng.random(300) + y * 0.5
    assert tie_averaged_precision(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    tied = np.round(s, 1)  # blocks mixing positives and negatives
    assert tie_averaged_precision(y, tied) > average_precision_score(y, tied) + 1e-3
    # one block: sklearn gives the prevalence; a random order does better on average
    assert average_precision_score(y, np.zeros(300)) == pytest.approx(y.mean())
    assert tie_averaged_precision(y, np.zeros(300)) > y.mean() + 1e-3


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "0/1 labels"),
        ([0, 0, 0], [0.1, 0.2, 0.3], "no positive"),
        ([0, 1, 1], [0.1, np.nan, 0.3], "NaN"),
        ([0, 1, 1], [0.1, 0.3], "same length"),
    ],
)
def test_tie_averaged_precision_bad_input(y, s, match):
    with pytest.raises(ValueError, match=match):
        tie_averaged_precision(y, s)
