"""
More than two classes: wine, string labels, missing predictions
===============================================================

Four scikit-learn classifiers score scikit-learn's wine data (3 classes); 30 % of their
predictions are missing and a fifth of the training rows are labeled, with the labels as
names. We compare, on held-out rows, the mean of the available predictions with
:class:`~cfensemble.CFEnsembleClassifier`. Its default (ALS, ``rho=1``) factorizes each
class on its own (``multiclass_factorization_ == "per_class"``); with ``rho < 1`` or the
autograd trainer one factorization shares the factors of all classes (``"joint"``).
"""

# %%
# The probability matrix
# ----------------------
# For K classes ``P`` has shape (n_samples, n_classifiers, K): each classifier's class
# probabilities (what ``predict_proba`` returns), in the order of the sorted labels. A
# missing prediction is NaN in all K entries.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from cfensemble import CFEnsembleClassifier
from cfensemble.plotting import plot_weights

X, y_index = load_wine(return_X_y=True)
names = np.array(["barolo", "grignolino", "barbera"])  # labels may be strings
y = names[y_index]
train, held = train_test_split(np.arange(y.size), test_size=0.3, stratify=y, random_state=0)
models = {
    "logreg": make_pipeline(StandardScaler(), LogisticRegression()),
    "bayes": GaussianNB(),
    "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(10)),
    "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
}
P_train = np.stack(
    [cross_val_predict(m, X[train], y[train], method="predict_proba") for m in models.values()],
    axis=1,
)
P_held = np.stack(
    [m.fit(X[train], y[train]).predict_proba(X[held]) for m in models.values()], axis=1
)
rng = np.random.default_rng(0)
for P in (P_train, P_held):
    missing = rng.random(P.shape[:2]) < 0.3
    missing[missing.all(axis=1), 0] = False  # every row keeps a prediction
    P[missing] = np.nan
print(f"P_train: {P_train.shape}, {np.isnan(P_train[:, :, 0]).mean():.0%} missing")

# %%
# Fit with a fifth of the labels
# -------------------------------
# Unlabeled rows are ``None`` for string labels (``-1`` or NaN for numbers).
labeled = rng.random(train.size) < 0.2
y_train = np.where(labeled, y[train], None)
per_class = CFEnsembleClassifier(random_state=0).fit(P_train, y_train)
joint = CFEnsembleClassifier(rho=0.8, random_state=0).fit(P_train, y_train)
print("classes_:", per_class.classes_)
print("factorizations:", per_class.multiclass_factorization_, joint.multiclass_factorization_)


def nanmean(P):
    q = np.nanmean(P, axis=1)
    return q / q.sum(axis=1, keepdims=True)


scores = {
    "mean of available": nanmean(P_held),
    "cfensemble per_class": per_class.predict_proba(P_held),
    "cfensemble joint, rho=0.8": joint.predict_proba(P_held),
}
for name, proba in scores.items():
    loss = log_loss(y[held], np.clip(proba, 1e-15, 1), labels=per_class.classes_)
    accuracy = np.mean(per_class.classes_[np.argmax(proba, axis=1)] == y[held])
    print(f"{name:27s} held-out log-loss {loss:.3f}, accuracy {accuracy:.3f}")

# %%
# The aggregator's weights, per class
# -----------------------------------
# ``coef_`` has one weight per classifier and class: the logit of class k is a weighted sum
# of the classifiers' probabilities of class k.
fig, ax = plt.subplots(figsize=(7, 4))
plot_weights(per_class, names=list(models), ax=ax)
fig.tight_layout()
plt.show()
