"""Scoring on the labeled rows only, so model selection works with unlabeled (-1) rows;
average precision that does not depend on how tied scores are ordered.

A cross-validation split of semi-supervised data puts unlabeled rows (``y = -1`` or NaN) in
the test folds too. scikit-learn's scorers would count them as a third class (accuracy) or
fail on them (``average_precision`` gives NaN), so ``GridSearchCV`` silently picks the
first candidate. :func:`labeled_scorer` wraps any scikit-learn scorer to score only the
labeled rows of each test fold; ``CFEnsembleClassifier.score`` does the same for accuracy.

:func:`tie_averaged_precision` is average precision (PR-AUC) averaged over every order of
tied scores. Base models such as trees, k-nearest neighbours and naive Bayes give many rows
the same probability, and so does their mean; scikit-learn's ``average_precision_score``
scores a block of tied rows at the precision of its end, not at the average over the
block's orders (below it when the block holds fewer positives than the rows ranked above
it, the usual case), so a combiner that merely breaks ties (by noise, or by the fill-in of
randomly missing predictions) can score higher without ranking better.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import get_scorer
from sklearn.utils import _safe_indexing

__all__ = ["labeled_accuracy", "labeled_mask", "labeled_scorer", "tie_averaged_precision"]


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


def tie_averaged_precision(y_true, y_score) -> float:
    """Average precision averaged over every order of the tied scores (exact, O(n log n)).

    Equals ``sklearn.metrics.average_precision_score(y_true, y_score)`` when no two scores
    tie. With ties it is the mean average precision over all orders of each block of tied
    rows (McSherry and Najork, 2008), computed in closed form: in a block of ``n`` rows
    with ``k`` positives after ``S`` rows with ``T`` positives, position ``q`` of the block
    holds a positive with probability ``k / n``, and then the ``q - 1`` rows before it hold
    ``(q - 1)(k - 1) / (n - 1)`` positives on average, so its precision is
    ``(T + 1 + (q - 1)(k - 1) / (n - 1)) / (S + q)`` on average.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 (or boolean) labels; at least one positive.
    y_score : array-like of shape (n_samples,)
        Scores, higher meaning more likely positive; no NaN.

    Returns
    -------
    float
    """
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"y_true and y_score must be 1-D of the same length; got shapes {y.shape} and "
            f"{s.shape}."
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold 0/1 labels.")
    if np.isnan(s).any():
        raise ValueError("y_score contains NaN.")
    y = y.astype(np.float64)
    if y.sum() == 0:
        raise ValueError("y_true has no positive; average precision is undefined.")
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])  # first row of each tie block
    n = np.diff(np.r_[starts, ys.size])  # block sizes
    k = np.add.reduceat(ys, starts)  # positives per block
    rows_before = np.repeat(starts, n).astype(np.float64)  # S
    positives_before = np.repeat(np.cumsum(k) - k, n)  # T
    q = np.arange(ys.size) - rows_before + 1  # position in the block, 1..n
    n_row, k_row = np.repeat(n, n).astype(np.float64), np.repeat(k, n)
    others = (q - 1) * (k_row - 1) / np.maximum(n_row - 1, 1)
    precision = (positives_before + 1 + others) / (rows_before + q)
    return float(np.sum(k_row / n_row * precision) / y.sum())


def pr_auc(y: np.ndarray, proba: np.ndarray, sample_weight=None) -> float:
    """PR-AUC of class indices ``y``: of the second class for (n,) probabilities, the
    macro average over classes for (n, K)."""
    from sklearn.metrics import average_precision_score

    if proba.ndim == 1:
        return float(average_precision_score(y, proba, sample_weight=sample_weight))
    onehot = np.eye(proba.shape[1])[y.astype(np.intp)]
    return float(
        average_precision_score(onehot, proba, average="macro", sample_weight=sample_weight)
    )
