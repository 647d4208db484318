"""
Quick start: the CF ensemble, the mean and LR stacking
======================================================

Ten base classifiers of unequal quality score 4,000 instances (5 % positives); 30 % of their
predictions are missing. A fifth of the training rows are labeled. We compare, on held-out
rows that the fit never saw:

- the mean of the available predictions (``nanmean``),
- logistic-regression stacking fitted on the labeled rows, with missing predictions
  filled by the column mean,
- :class:`~cfensemble.CFEnsembleClassifier` with its default parameters.
"""

# %%
# The data
# --------
# :func:`~cfensemble.make_ensemble_problem` returns the probability matrix ``P``
# (instances x classifiers, NaN where a classifier gave no prediction) and the labels.
# ``error_correlation=0.5`` makes the classifiers share half of their errors, so that
# averaging them is not already perfect.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve

from cfensemble import CFEnsembleClassifier, make_ensemble_problem

P, y = make_ensemble_problem(
    n_samples=4000,
    n_classifiers=10,
    positive_rate=0.05,
    base_quality=np.linspace(0.35, 0.75, 10),  # PR-AUC of each base classifier
    error_correlation=0.5,
    missing_rate=0.3,
    random_state=0,
)
print(f"P: {P.shape}, {np.isnan(P).mean():.0%} missing, {y.mean():.1%} positives")

rng = np.random.default_rng(0)
held_out = rng.random(len(y)) < 0.3  # never seen in fit: scored by fold-in
P_train, y_train_full = P[~held_out], y[~held_out]
P_test, y_test = P[held_out], y[held_out]
labeled = rng.random(len(y_train_full)) < 0.2
y_train = np.where(labeled, y_train_full, -1)  # -1 marks an unlabeled row
print(f"training rows: {len(y_train)} ({labeled.sum()} labeled), held-out rows: {len(y_test)}")

# %%
# Fit and predict
# ---------------
# ``fit`` sees every training row; the unlabeled ones shape the factorization and get a
# prediction in ``label_distributions_`` (probabilities, as ``predict_proba`` lays them
# out) and ``transduction_`` (labels). New rows are folded in by ``predict_proba``.
clf = CFEnsembleClassifier(random_state=0).fit(P_train, y_train)
p_ensemble = clf.predict_proba(P_test)[:, 1]
print(f"{clf.n_iter_} ALS iterations; label_distributions_: {clf.label_distributions_.shape}")

# %%
# The baselines
# -------------
fill = np.nanmean(P_train, axis=0)  # column means of the training rows


def impute(M):
    return np.where(np.isnan(M), fill, M)


stacker = LogisticRegression(max_iter=1000).fit(impute(P_train[labeled]), y_train_full[labeled])
scores = {
    "mean of available predictions": np.nanmean(P_test, axis=1),
    "LR stacking (mean-imputed P)": stacker.predict_proba(impute(P_test))[:, 1],
    "CFEnsembleClassifier": p_ensemble,
}
for name, s in scores.items():
    print(f"{name:<32} PR-AUC {average_precision_score(y_test, s):.3f}")

# %%
# Precision-recall on the held-out rows
# -------------------------------------
# The grey lines are the base classifiers, each on the rows it scored.
fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
for u in range(P_test.shape[1]):
    seen = ~np.isnan(P_test[:, u])
    precision, recall, _ = precision_recall_curve(y_test[seen], P_test[seen, u])
    ax.plot(recall, precision, color="0.75", linewidth=0.8)
for (name, s), style in zip(scores.items(), ["--", ":", "-"], strict=True):
    precision, recall, _ = precision_recall_curve(y_test, s)
    ap = average_precision_score(y_test, s)
    ax.plot(recall, precision, style, linewidth=2, label=f"{name} ({ap:.3f})")
ax.axhline(y_test.mean(), color="black", linewidth=0.8, linestyle=":")
ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
ax.set_title("Held-out rows (grey: base classifiers)")
ax.legend(loc="upper right", fontsize="small")
plt.show()

# %%
# The differences on one synthetic draw are small and change from seed to seed. The
# README's accuracy section measures the same comparison on real data sets, with five
# repeats and five missing-data regimes (``benchmarks/accuracy.py``).
