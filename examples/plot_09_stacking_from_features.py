"""
From features: scikit-learn base estimators in one object
=========================================================

:class:`~cfensemble.CFEnsembleStackingClassifier` takes a list of scikit-learn
classifiers, builds ``P`` from their out-of-fold probabilities on the labeled rows (their
refitted predictions fill ``P`` for the unlabeled rows) and fits a
:class:`~cfensemble.CFEnsembleClassifier` on it. Base estimators never train on unlabeled
rows, but their predictions for those rows enter the factorization.

Data: scikit-learn's breast cancer set (569 rows), a quarter of the rows held out for testing and
a quarter of the rest labeled. This example keeps every parameter of the stacking
estimator at its default.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from cfensemble import CFEnsembleStackingClassifier

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
labeled = np.random.default_rng(0).random(len(y_train)) < 0.25
y_semi = np.where(labeled, y_train, -1)
print(f"{len(y_train)} training rows ({labeled.sum()} labeled), {len(y_test)} test rows")


def base_estimators():
    return [
        ("logreg", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
        ("nb", GaussianNB()),
        ("tree", DecisionTreeClassifier(max_depth=3, random_state=0)),
    ]


stack = CFEnsembleStackingClassifier(estimators=base_estimators())
stack.fit(X_train, y_semi)
p_cf = stack.predict_proba(X_test)[:, 1]

# %%
# scikit-learn's :class:`~sklearn.ensemble.StackingClassifier` cannot use the unlabeled
# rows; it is fitted on the labeled ones.
sk_stack = StackingClassifier(base_estimators(), final_estimator=LogisticRegression())
sk_stack.fit(X_train[labeled], y_train[labeled])
scores = {"CFEnsembleStackingClassifier": p_cf}
scores["StackingClassifier (labeled rows)"] = sk_stack.predict_proba(X_test)[:, 1]
for name, estimator in sk_stack.named_estimators_.items():
    scores[f"base: {name}"] = estimator.predict_proba(X_test)[:, 1]
for name, s in scores.items():
    print(f"{name:<36} PR-AUC {average_precision_score(y_test, s):.3f}")

# %%
fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
for name, s in scores.items():
    precision, recall, _ = precision_recall_curve(y_test, s)
    style = dict(linewidth=2) if "Stacking" in name else dict(linewidth=1, alpha=0.6)
    ap = average_precision_score(y_test, s)
    ax.plot(recall, precision, label=f"{name} ({ap:.3f})", **style)
ax.set(xlabel="recall", ylabel="precision", title=f"{len(y_test)} test rows", ylim=(0.5, 1.01))
ax.legend(loc="lower left", fontsize="small")
ax.grid(alpha=0.3)
plt.show()

# %%
# With a few hundred rows and three strong base classifiers, every combiner is near the
# top; the point of the example is the interface. The README's ``Your own data`` section
# has a doctest of the same estimator.
