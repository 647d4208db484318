"""
How many labels does the ensemble need?
=======================================

The aggregator of :class:`~cfensemble.CFEnsembleClassifier` is trained on the labeled
rows; the factorization uses every row, labeled or not. This example varies the share of
labeled training rows from 1 % to 50 % and scores held-out rows (folded in) against:

- the mean of the available predictions (needs no labels),
- the best single classifier, chosen by PR-AUC on the labeled rows,
- logistic-regression stacking on the labeled rows (mean-imputed ``P``),

and the ensemble with ``aggregator_shrinkage=0``, which lets the weights move away from
equal weights as freely as the labels ask.

The base classifiers are of unequal quality (PR-AUC 0.35 to 0.75), so a learned
combination has something to gain over the plain mean; 30 % of the predictions are
missing at random.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

from cfensemble import CFEnsembleClassifier, make_ensemble_problem

n, m = 4000, 10
budgets = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
seeds = [0, 1, 2]


def run(seed):
    P, y = make_ensemble_problem(
        n_samples=n,
        n_classifiers=m,
        positive_rate=0.05,
        base_quality=np.linspace(0.35, 0.75, m),
        error_correlation=0.5,
        missing_rate=0.3,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    test = rng.random(n) < 0.3
    order = rng.permutation(np.flatnonzero(~test))  # nested budgets: the first k rows
    fill = np.nanmean(P[~test], axis=0)
    imputed = np.where(np.isnan(P), fill, P)
    out = {}
    for budget in budgets:
        rows = order[: int(budget * (~test).sum())]
        if np.unique(y[rows]).size < 2:  # at least one labeled row of each class
            rows = np.union1d(rows, order[y[order] == 1][:1])
        y_semi = np.full(n, -1)
        y_semi[rows] = y[rows]
        clf = CFEnsembleClassifier(random_state=seed).fit(P[~test], y_semi[~test])
        free = CFEnsembleClassifier(aggregator_shrinkage=0.0, random_state=seed)
        free.fit(P[~test], y_semi[~test])
        best = np.argmax([average_precision_score(y[rows], imputed[rows, u]) for u in range(m)])
        lr = LogisticRegression(max_iter=1000).fit(imputed[rows], y[rows])
        scores = {
            "CFEnsembleClassifier": clf.predict_proba(P[test])[:, 1],
            "CFEnsembleClassifier, shrinkage 0": free.predict_proba(P[test])[:, 1],
            "LR stacking": lr.predict_proba(imputed[test])[:, 1],
            "best single classifier": imputed[test, best],
            "mean of available": np.nanmean(P[test], axis=1),
        }
        out[budget] = {k: average_precision_score(y[test], s) for k, s in scores.items()}
    return out, clf, free  # the scores, and the last budget's two models


results = [run(seed) for seed in seeds]
runs = [r[0] for r in results]
_, clf, free = results[-1]
methods = list(runs[0][budgets[0]])
mean = {k: [np.mean([r[b][k] for r in runs]) for b in budgets] for k in methods}
for i, b in enumerate(budgets):
    print(f"{b:>4.0%} labeled: " + ", ".join(f"{k} {mean[k][i]:.3f}" for k in methods))

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
for method, style in zip(methods, ["o-", "o--", "s--", "^-.", "k:"], strict=True):
    ax.plot([100 * b for b in budgets], mean[method], style, label=method)
ax.set_xscale("log")
ax.set_xticks([100 * b for b in budgets], [f"{100 * b:g}" for b in budgets])
ax.set(
    xlabel="labeled training rows (%)",
    ylabel="held-out PR-AUC (mean of 3 seeds)",
    title=f"n = {n}, m = {m}, 5 % positives, 30 % missing",
)
ax.grid(alpha=0.3)
ax.legend(fontsize="small")
plt.show()

# %%
# Reading the figure
# ------------------
# With 1 % of the training rows labeled there are only one or two positives among
# them. The default aggregator shrinks its weights (``aggregator_shrinkage=0.1``) toward a
# target and keeps them non-negative (always). With fewer than 20
# labeled positives the target is label-free, the classifiers' agreement with the others
# (``"consensus"``); from 20 on (here from 20 % labeled) the default target
# (``shrinkage_target="separation"``) also weighs each classifier's class separation on
# the labeled rows, shrunk by how much of its spread is noise. On this problem that puts
# the default above the mean of the available predictions at every budget (by about 0.02
# with few labels and 0.05 with half of them labeled in this run), safe with a handful
# of labels, where LR stacking and the best single classifier fall well below the mean,
# and above the unshrunk ensemble at every budget. The learned weights:
print("weights, default:    ", np.round(clf.coef_, 2))
print("weights, shrinkage 0:", np.round(free.coef_, 2))

# %%
# (the last fit of the loop: seed 2, 50 % labeled; the classifiers are ordered from the
# weakest to the strongest): both rise with quality, the default's more evenly. The
# shrinkage of 0.1 was chosen on the README's accuracy benchmark
# (``benchmarks/accuracy.py``, budgets of 5 % and 20 %; the study is summarised on the
# docs' "Design decisions" page); ``aggregator_shrinkage="auto"`` chooses it
# by cross-validation instead (see the hyper-parameter search example).
