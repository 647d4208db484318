"""
Transductive and inductive predictions
======================================

:class:`~cfensemble.CFEnsembleClassifier` is transductive: every row of ``P`` given to
``fit``, labeled or not, gets instance factors and a prediction, stored in
``label_distributions_`` (its probabilities; ``transduction_`` holds the predicted labels).
Rows that arrive later are *folded in* by ``predict_proba``: their instance factors are
solved with the classifier factors held fixed, by the same label-free instance step the fit
uses.

Two questions, on generated data:

1. Does folding in a row that the fit already saw give its ``label_distributions_`` value?
2. Does it help to give the rows you will score to ``fit`` (as unlabeled rows), rather
   than folding them in afterwards?
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import average_precision_score

from cfensemble import CFEnsembleClassifier, make_ensemble_problem

n, m = 4000, 10
P, y = make_ensemble_problem(
    n_samples=n,
    n_classifiers=m,
    positive_rate=0.05,
    base_quality=np.linspace(0.35, 0.75, m),
    error_correlation=0.5,
    missing_rate=0.3,
    random_state=0,
)
rng = np.random.default_rng(0)
new = rng.random(n) < 0.3  # the rows to score; never labeled
y_semi = np.where(~new & (rng.random(n) < 0.2), y, -1)

# %%
# 1. Fold-in of rows seen in fit
# ------------------------------
# The instance factors never see labels (the supervised part of the objective shapes only
# the classifier factors and the aggregator), and a fit ends with an instance step. So
# folding the training rows in again reproduces their factors and their predictions.
inductive = CFEnsembleClassifier(random_state=0).fit(P[~new], y_semi[~new])
again = inductive.predict_proba(P[~new])[:, 1]
print("max |label_distributions_ - predict_proba| on the training rows:")
print(f"  {np.max(np.abs(inductive.label_distributions_[:, 1] - again)):.2e}")
Y, c = inductive.fold_in(P[~new])
print(f"  factors: {np.max(np.abs(Y - inductive.instance_factors_)):.2e}")

# %%
# 2. Scoring rows inside or outside the fit
# -----------------------------------------
# *Inductive*: fit on the other rows, fold the new rows in. *Transductive*: give the new
# rows to ``fit`` as unlabeled rows and read their ``label_distributions_``. The new rows then
# also shape the classifier factors. We do it twice: with all the other rows (about
# 2,800), and with only 300 of them, where the new rows (about 1,200) are most of what the
# factorization sees.
p_inductive = inductive.predict_proba(P[new])[:, 1]
transductive = CFEnsembleClassifier(random_state=0).fit(P, np.where(new, -1, y_semi))
p_transductive = transductive.label_distributions_[new, 1]

few = np.flatnonzero(~new)[:300]
rows = np.concatenate([few, np.flatnonzero(new)])
small_inductive = CFEnsembleClassifier(random_state=0).fit(P[few], y_semi[few])
small_transductive = CFEnsembleClassifier(random_state=0).fit(P[rows], y_semi[rows])
pairs = {
    f"{(~new).sum():,} other rows": (p_inductive, p_transductive),
    "300 other rows": (
        small_inductive.predict_proba(P[new])[:, 1],
        small_transductive.label_distributions_[few.size :, 1],
    ),
}
print(f"{new.sum()} new rows, {y[new].sum()} positives")
for name, (a, b) in pairs.items():
    ap_a, ap_b = average_precision_score(y[new], a), average_precision_score(y[new], b)
    print(
        f"{name}: PR-AUC inductive {ap_a:.3f}, transductive {ap_b:.3f}; "
        f"largest difference in probability {np.max(np.abs(a - b)):.4f}"
    )

fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained")
fig.suptitle("The new rows' probabilities, scored two ways")
for ax, (name, (a, b)) in zip(axes, pairs.items(), strict=True):
    ax.scatter(a[y[new] == 0], b[y[new] == 0], s=5, alpha=0.4, label="negative")
    ax.scatter(a[y[new] == 1], b[y[new] == 1], s=12, color="tab:red", label="positive")
    ax.plot([0, 1], [0, 1], color="black", linewidth=0.8)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="inductive: folded in after fit",
        ylabel="transductive: unlabeled rows in fit",
        title=f"fit with {name}",
    )
    ax.legend(fontsize="small")
plt.show()

# %%
# With the default ``rho=1`` the classifier factors are fitted to ``P`` alone, so extra
# unlabeled rows change them only as much as any extra data would: the two ways of
# scoring agree closely, more so when the other rows are many. Transduction is therefore
# not required for good predictions; it is what you get for free for the rows you have
# at fit time. The README's benchmark tables give both kinds of evaluation
# (``benchmarks/seed_table.py``: transductive and held-out rows; ``benchmarks/accuracy.py``:
# held-out rows by fold-in).
