"""The failure that started the sound-factorization work, kept as a test.

``make_ensemble_problem(5000, 10, positive_rate=0.05, error_correlation=0.5,
missing_rate=0.3)`` with half the rows labeled: the version-0.1 default scored PR-AUC 0.50
on the unlabeled rows where the mean of the available predictions scores 0.90, and its
reconstruction of the missing entries ranged from -58 to +66. The default must stay within
a tie (0.002 PR-AUC) of that mean or above it, here and with 5 % labels or more
classifiers; the reconstruction of the missing entries stays near [0, 1] and their fill-in
inside it; ALS converges.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score

from cfensemble import ALS, CFEnsembleClassifier, make_ensemble_problem

# A difference below 0.002 PR-AUC is a tie (the rule of benchmarks/accuracy.py). Measured
# at the 0.2 defaults: at or above the mean in 5 of the 6 cells, 0.001 below at m=30, 50 %.
TIE = 0.002


@pytest.mark.parametrize(
    ("n_classifiers", "labeled_share"),
    [(10, 0.5), (10, 0.05), (20, 0.5), (20, 0.05), (30, 0.5), (30, 0.05)],
)
def test_missing_predictions_stay_within_a_tie_of_the_mean_or_above(n_classifiers, labeled_share):
    P, y = make_ensemble_problem(
        n_samples=5000,
        n_classifiers=n_classifiers,
        positive_rate=0.05,
        error_correlation=0.5,
        missing_rate=0.3,
        random_state=0,
    )
    labeled = np.random.default_rng(0).random(5000) < labeled_share
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0).fit(P, np.where(labeled, y, -1))
    unlabeled = ~labeled
    ours = average_precision_score(y[unlabeled], clf.label_distributions_[unlabeled, 1])
    mean = average_precision_score(y[unlabeled], np.nanmean(P[unlabeled], axis=1))
    assert ours >= mean - TIE, (ours, mean)
    # the raw reconstruction near [0, 1] (measured: -0.03 ... 0.97), the fill-in the
    # aggregator sees inside it
    lo, hi = clf.diagnostics_["missing_reconstruction_range"]
    assert -0.1 < lo and hi < 1.1
    lo, hi = clf.diagnostics_["missing_fill_range"]
    assert 0.0 <= lo and hi <= 1.0
    assert clf.n_iter_ < ALS().max_iter  # solver="als": ALS's defaults
