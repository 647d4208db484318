"""Scoring on the labeled rows only, so model selection works with unlabeled (-1) rows.

A cross-validation split of semi-supervised data puts unlabeled rows (``y = -1`` or NaN) in
the test folds too. scikit-learn's scorers would count them as a third class (accuracy) or
fail on them (``average_precision`` gives NaN), so ``GridSearchCV`` silently picks the
first candidate. :func:`labeled_scorer` wraps any scikit-learn scorer to score only the
labeled rows of each test fold; ``CFEnsembleClassifier.score`` does the same for accuracy.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import get_scorer
from sklearn.utils import _safe_indexing

__all__ = ["labeled_accuracy", "labeled_mask", "labeled_scorer"]


def labeled_mask(y) -> np.ndarray:
    """True where ``y`` holds a label (not -1, NaN or None)."""
    y = np.asarray(y)
    if y.dtype.kind in "biuf":  # numbers: vectorised
        return ~np.isnan(y.astype(float)) & (y != -1)
    from ._validation import _is_unlabeled

    return np.array([not _is_unlabeled(v) for v in y.tolist()], dtype=bool)


def labeled_scorer(scoring="average_precision"):
    """A scorer ``(estimator, X, y) -> float`` that scores the labeled rows of ``y`` only.

    ``scoring`` is a scikit-learn scorer name (``"average_precision"``, ``"roc_auc"``,
    ``"neg_brier_score"``, ``"accuracy"``, ...) or a scorer callable. A test fold without
    both classes among its labeled rows scores NaN (as scikit-learn does for such folds).

    >>> from sklearn.model_selection import GridSearchCV
    >>> from cfensemble import CFEnsembleClassifier
    >>> from cfensemble.metrics import labeled_scorer
    >>> search = GridSearchCV(CFEnsembleClassifier(), {"lambda_reg": [0.1, 1.0]},
    ...                       scoring=labeled_scorer("average_precision"))
    """
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring

    def score(estimator, X, y):
        mask = labeled_mask(y)
        labels = np.asarray(y)[mask]
        if np.unique(labels).size < 2:
            return float("nan")
        return scorer(estimator, _safe_indexing(X, np.flatnonzero(mask)), labels)

    score.__name__ = f"labeled_{getattr(scoring, '__name__', scoring)}"
    return score


def labeled_accuracy(estimator, X, y, sample_weight=None) -> float:
    """Accuracy of ``estimator.predict`` on the labeled rows of ``y`` (the estimators' score)."""
    from sklearn.metrics import accuracy_score

    rows = np.flatnonzero(labeled_mask(y))
    if not rows.size:
        raise ValueError("y has no labeled rows to score (all are -1 or NaN).")
    weights = None if sample_weight is None else np.asarray(sample_weight)[rows]
    predicted = estimator.predict(_safe_indexing(X, rows))
    return float(accuracy_score(np.asarray(y)[rows], predicted, sample_weight=weights))
