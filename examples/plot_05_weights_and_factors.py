"""
Inspecting a fitted ensemble: weights, factors and the objective
================================================================

:mod:`cfensemble.plotting` draws what a fitted :class:`~cfensemble.CFEnsembleClassifier`
learned (matplotlib, the ``[plot]`` extra). Each function takes ``ax=None`` and returns the
Axes; ``cfensemble report`` and :func:`cfensemble.plotting.write_report` put the same
figures in a Markdown report.

Here ten classifiers of increasing quality (PR-AUC 0.35 to 0.75 by construction) score
4,000 rows; the last one is replaced by a near-copy of the one before it, 20 % of the
predictions are missing and 30 % of the training rows are labeled.
"""

import matplotlib.pyplot as plt
import numpy as np

from cfensemble import CFEnsembleClassifier, make_ensemble_problem
from cfensemble.plotting import (
    plot_classifier_factors,
    plot_loss_curves,
    plot_pr_curves,
    plot_weights,
)

n, m = 4000, 10
quality = np.linspace(0.35, 0.75, m)
P, y = make_ensemble_problem(
    n_samples=n,
    n_classifiers=m,
    positive_rate=0.05,
    base_quality=quality,
    error_correlation=0.5,
    random_state=0,
)
rng = np.random.default_rng(0)
P[:, 9] = np.clip(P[:, 8] + rng.normal(0.0, 0.01, n), 1e-6, 1 - 1e-6)  # the near-copy
P[rng.random(P.shape) < 0.2] = np.nan
names = [f"q{q:.2f}" for q in quality[:9]] + ["copy of q0.71"]
test = rng.random(n) < 0.3
y_semi = np.where(~test & (rng.random(n) < 0.3), y, -1)

# %%
# Two settings differ from the defaults here, to make the figures show something:
#
# - ``aggregator_shrinkage=0``: the labels alone decide the weights (the default, 0.1,
#   keeps them close to its label-free target, ``shrinkage_target_``, on this problem);
# - ``lambda_reg=0.01``: a smaller ridge than the default (0.03 per observation) keeps more
#   of the low-rank term ``Y X^T`` of this problem, so the classifier factors show more
#   structure (with a large ridge, e.g. 0.1, they shrink to noise around zero and the
#   fit is carried by the biases).
default = CFEnsembleClassifier(random_state=0).fit(P[~test], y_semi[~test])
clf = CFEnsembleClassifier(lambda_reg=0.01, aggregator_shrinkage=0.0, random_state=0)
clf.fit(P[~test], y_semi[~test])
for name, model in [("default", default), ("this example", clf)]:
    low_rank = model.instance_factors_ @ model.classifier_factors_.T
    print(
        f"{name:>12}: {model.n_iter_} iterations, std of Y X^T {low_rank.std():.1e}, "
        f"weights {np.round(model.coef_, 2)}"
    )

# %%
# The aggregator weights
# ----------------------
# ``coef_`` holds the signed weights on the logit scale, one per classifier; the dashed
# line is an equal share of the same sum. A title that begins with COLLAPSED would mean
# the weights sum to 0 or less, or the predictions are constant
# (``diagnostics_["collapsed"]``, also a :class:`~cfensemble.CollapseWarning`).
plot_weights(clf, names=names)
plt.show()

# %%
# The classifier factors
# ----------------------
# Each classifier's latent factor ``x_u``, projected on the first two principal components
# and coloured by its weight. Classifiers whose predictions move together get nearby
# factors: the copy sits on top of its original.
plot_classifier_factors(clf, names=names)
plt.show()

# %%
# The objective per iteration, and the held-out precision-recall
# --------------------------------------------------------------
# ``loss_curve_`` holds the total objective and its reconstruction and supervised parts.
# The total is ``rho * reconstruction + (1 - rho) * supervised``: with the default
# ``rho=1`` it is the reconstruction part, and the aggregator is solved exactly once, for
# the final factorization (the supervised part is a single point at the last iteration).
# ``plot_pr_curves`` compares the ensemble with the simple average and each base
# classifier, on the held-out rows.
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
plot_loss_curves(clf, ax=axes[0])
plot_pr_curves(y[test], P[test], clf.predict_proba(P[test])[:, 1], names=names, ax=axes[1])
plt.show()

# %%
# ``diagnostics_`` has the numbers behind these figures:
for key in ["weight_sum", "weight_std", "n_negative_weights", "prediction_std", "collapsed"]:
    print(f"{key:>20}: {clf.diagnostics_[key]}")
