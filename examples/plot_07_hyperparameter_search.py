"""
Hyper-parameter search with unlabeled rows
==========================================

Cross-validation of a semi-supervised fit puts unlabeled rows (``y = -1``) in the test
folds too. scikit-learn's scorers would count ``-1`` as a class, or return NaN, and
``GridSearchCV`` would then silently keep the first candidate.
:func:`cfensemble.labeled_scorer` wraps any scikit-learn scorer so that each test fold is
scored on its labeled rows only. ``CFEnsembleClassifier.score`` (accuracy) does the same.

Inside ``fit``, ``latent_dim="auto"`` and ``rho="auto"`` choose by the same kind of
cross-validation on the labeled rows (``cv_results_``).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from cfensemble import CFEnsembleClassifier, labeled_scorer, make_ensemble_problem

n, m = 3000, 10
P, y = make_ensemble_problem(
    n_samples=n,
    n_classifiers=m,
    positive_rate=0.05,
    base_quality=np.linspace(0.35, 0.75, m),
    error_correlation=0.5,
    missing_rate=0.3,
    random_state=0,
)
y_semi = np.where(np.random.default_rng(0).random(n) < 0.3, y, -1)
print(f"{(y_semi != -1).sum()} labeled rows, {(y_semi == 1).sum()} of them positive")

# %%
# A grid search scored by PR-AUC on the labeled rows
# --------------------------------------------------
# Every candidate is fitted on all rows of the training folds (their unlabeled rows too)
# and scored on the labeled rows of the test fold.
grid = {"lambda_reg": [0.01, 0.1, 1.0], "aggregator_shrinkage": [0.0, 0.01, 0.1, 1.0]}
search = GridSearchCV(
    CFEnsembleClassifier(random_state=0),
    grid,
    scoring=labeled_scorer("average_precision"),
    cv=3,
)
search.fit(P, y_semi)
print("best:", search.best_params_, f"PR-AUC {search.best_score_:.3f}")

scores = np.empty((len(grid["aggregator_shrinkage"]), len(grid["lambda_reg"])))
for params, score in zip(
    search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
):
    i = grid["aggregator_shrinkage"].index(params["aggregator_shrinkage"])
    scores[i, grid["lambda_reg"].index(params["lambda_reg"])] = score
fig, ax = plt.subplots(figsize=(5.6, 4.2), layout="constrained")
image = ax.imshow(scores, cmap="viridis", origin="lower")
for (i, j), value in np.ndenumerate(scores):
    ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="white", fontsize="small")
ax.set_xticks(range(len(grid["lambda_reg"])), grid["lambda_reg"])
ax.set_yticks(range(len(grid["aggregator_shrinkage"])), grid["aggregator_shrinkage"])
ax.set(xlabel="lambda_reg", ylabel="aggregator_shrinkage", title="mean PR-AUC, 3 folds")
fig.colorbar(image, ax=ax, label="labeled_scorer('average_precision')")
plt.show()

# %%
# Any scikit-learn scorer name works: ``labeled_scorer("roc_auc")``,
# ``labeled_scorer("neg_brier_score")``, ... or a scorer callable.
#
# ``P`` here has missing predictions, so ``lambda_reg`` shapes the fill-in. With complete
# ``P`` the fit skips the factorization (the aggregator reads the observed predictions):
# ``lambda_reg``, ``latent_dim`` or ``rho`` cannot change a prediction there, every
# candidate of such a grid scores alike and the fit warns; search ``aggregator_shrinkage``
# or ``shrinkage_target`` instead. The trainer's settings are searched through its settings
# object: ``CFEnsembleClassifier(solver=ALS())`` with a grid over ``solver__max_iter``.
#
# ``"auto"`` values
# -----------------
# ``latent_dim="auto"`` tries 1, 2 and 4 (capped at the number of classifiers) and
# ``rho="auto"`` tries 0.5, 0.8 and 1. The labeled rows are split in stratified folds (3,
# or fewer when a class has fewer labeled rows); for each candidate the model is fitted with
# one fold's labels hidden (the rows stay in ``P``) and scored by PR-AUC on that fold.
auto = CFEnsembleClassifier(latent_dim="auto", rho="auto", random_state=0).fit(P, y_semi)
print(f"chosen: latent_dim_={auto.latent_dim_}, rho_={auto.rho_}")
cv = auto.cv_results_  # laid out as GridSearchCV's cv_results_
for params, score, rank in zip(
    cv["params"], cv["mean_test_score"], cv["rank_test_score"], strict=True
):
    print(f"  latent_dim={params['latent_dim']}, rho={params['rho']}: {score:.3f} (rank {rank})")
