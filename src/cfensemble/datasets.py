"""Synthetic ensemble problems: a probability matrix P of base classifiers and labels y."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit, softmax
from scipy.stats import norm
from sklearn.utils import check_random_state

__all__ = ["binormal_average_precision", "make_ensemble_problem"]


def binormal_average_precision(separation: float, positive_rate: float) -> float:
    """Expected PR-AUC (average precision) of a score ~ N(separation * y, 1).

    ``positive_rate`` is the class prior. Integrates precision over recall on a fine
    threshold grid.
    """
    t = np.linspace(-12.0, separation + 12.0, 20001)
    tpr = norm.sf(t - separation)
    fpr = norm.sf(t)
    precision = positive_rate * tpr / (positive_rate * tpr + (1 - positive_rate) * fpr)
    density = norm.pdf(t - separation)
    return float(np.trapezoid(precision * density, t))


def _separation_for(quality: float, positive_rate: float) -> float:
    return brentq(lambda d: binormal_average_precision(d, positive_rate) - quality, 0.0, 30.0)


def make_ensemble_problem(
    n_samples: int = 500,
    n_classifiers: int = 10,
    positive_rate: float = 0.1,
    base_quality=0.7,
    error_correlation: float = 0.5,
    missing_rate: float = 0.0,
    random_state=None,
    n_classes: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the predicted probabilities of an ensemble of base classifiers.

    Each classifier ``u`` scores instance ``i`` with a latent score
    ``s_iu = d_u * y_i + sqrt(error_correlation) * h_i + sqrt(1 - error_correlation) * e_iu``
    where ``h_i ~ N(0, 1)`` is the instance's difficulty, shared by every classifier, and
    ``e_iu ~ N(0, 1)`` is the classifier's own noise. The score is then turned into a
    probability with a classifier-specific calibration,
    ``p_iu = sigmoid(a_u (s_iu - d_u / 2) + c_u)`` with ``a_u = 1.5 exp(N(0, 0.3^2))`` and
    ``c_u = logit(positive_rate) + N(0, 0.5^2)``: like real classifiers, some are over- and
    some under-confident, and averaging probabilities is not optimal.

    Parameters
    ----------
    n_samples : int, default=500
        Number of instances (rows of P).
    n_classifiers : int, default=10
        Number of base classifiers (columns of P).
    positive_rate : float in (0, 1), default=0.1
        Fraction of positive instances; exactly ``round(positive_rate * n_samples)`` rows
        (at least 1 and at most ``n_samples - 1``) are positive.
    base_quality : float or array-like of shape (n_classifiers,), default=0.7
        Expected PR-AUC (average precision) of each base classifier, in
        ``(positive_rate, 1)``. The separation ``d_u`` is solved so that a classifier's
        score has this PR-AUC at this class prior. An array gives classifiers of
        different quality, which a learned aggregator can exploit and an average cannot.
    error_correlation : float in [0, 1], default=0.5
        Share of each classifier's noise that is the instance's shared difficulty. At 0
        the errors are independent and the simple average of many classifiers is nearly
        perfect; at 1 all classifiers make the same errors and no ensemble beats its best
        member.
    missing_rate : float in [0, 1), default=0.0
        Probability that an entry of P is missing (NaN). Every row keeps at least one
        prediction.
    random_state : int, RandomState instance or None, default=None
    n_classes : int >= 2, default=2
        With ``K = n_classes >= 3``: class ``K - 1`` has ``positive_rate`` of the rows and
        the others share the rest equally; each classifier scores every class,
        ``s_iuk = d_u [y_i = k] + sqrt(error_correlation) h_ik + sqrt(1 -
        error_correlation) e_iuk``, and its probabilities are
        ``softmax_k(a_u (s_iuk - d_u / 2) + c_uk)`` with ``c_uk = log(prior_k) + N(0, 0.5^2)``.

    Returns
    -------
    P : ndarray of shape (n_samples, n_classifiers) or (n_samples, n_classifiers, n_classes)
        Probabilities in (0, 1), NaN where missing (for K >= 3, each classifier's class
        probabilities, summing to 1; a missing prediction is NaN for every class).
    y : ndarray of shape (n_samples,)
        Labels in {0, 1} (in {0, ..., K - 1} for K >= 3).
    """
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be >= 2; got {n_classes}.")
    if int(n_samples) < 2:
        raise ValueError(f"n_samples must be >= 2; got {n_samples}.")
    if int(n_classifiers) < 1:
        raise ValueError(f"n_classifiers must be >= 1; got {n_classifiers}.")
    if not 0 < positive_rate < 1:
        raise ValueError(f"positive_rate must be in (0, 1); got {positive_rate}.")
    if not 0 <= error_correlation <= 1:
        raise ValueError(f"error_correlation must be in [0, 1]; got {error_correlation}.")
    if not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must be in [0, 1); got {missing_rate}.")
    quality = np.asarray(base_quality, dtype=np.float64)
    if quality.ndim > 1 or quality.size not in (1, int(n_classifiers)):
        raise ValueError(
            f"base_quality must be one number or one per classifier ({n_classifiers}); got "
            f"shape {quality.shape}."
        )
    quality = np.broadcast_to(quality, (int(n_classifiers),))
    if np.any(quality <= positive_rate) or np.any(quality >= 1):
        raise ValueError(
            f"base_quality must lie in (positive_rate, 1) = ({positive_rate}, 1): a random "
            f"classifier already has PR-AUC {positive_rate}; got {np.unique(quality).tolist()}."
        )
    rng = check_random_state(random_state)
    n, m = int(n_samples), int(n_classifiers)
    if int(n_classes) > 2:
        return _multiclass_problem(
            n, m, int(n_classes), positive_rate, quality, error_correlation, missing_rate, rng
        )
    n_pos = min(max(round(positive_rate * n), 1), n - 1)
    y = np.zeros(n)
    y[rng.permutation(n)[:n_pos]] = 1.0
    separation = np.array([_separation_for(q, positive_rate) for q in quality])
    difficulty = rng.normal(size=(n, 1))
    noise = rng.normal(size=(n, m))
    score = (
        separation * y[:, None]
        + np.sqrt(error_correlation) * difficulty
        + np.sqrt(1.0 - error_correlation) * noise
    )
    slope = 1.5 * np.exp(rng.normal(0.0, 0.3, size=m))
    offset = logit(positive_rate) + rng.normal(0.0, 0.5, size=m)
    P = expit(slope * (score - separation / 2) + offset)
    _mask_missing(P, missing_rate, rng)
    return P, y.astype(int)


def _multiclass_problem(n, m, k, rate, quality, error_correlation, missing_rate, rng):
    """The K-class version of :func:`make_ensemble_problem` (see its ``n_classes``)."""
    if n < k:
        raise ValueError(f"n_samples must be >= n_classes={k}; got {n}.")
    prior = np.full(k, (1.0 - rate) / (k - 1))
    prior[-1] = rate
    counts = np.maximum(np.round(prior * n).astype(int), 1)
    counts[0] += n - counts.sum()
    y = rng.permutation(np.repeat(np.arange(k), counts))
    separation = np.array([_separation_for(q, rate) for q in quality])
    onehot = np.eye(k)[y]
    score = (
        separation[None, :, None] * onehot[:, None, :]
        + np.sqrt(error_correlation) * rng.normal(size=(n, 1, k))
        + np.sqrt(1.0 - error_correlation) * rng.normal(size=(n, m, k))
    )
    slope = 1.5 * np.exp(rng.normal(0.0, 0.3, size=(1, m, 1)))
    offset = np.log(prior)[None, None, :] + rng.normal(0.0, 0.5, size=(1, m, k))
    P = softmax(slope * (score - separation[None, :, None] / 2) + offset, axis=2)
    _mask_missing(P, missing_rate, rng)
    return P, y.astype(int)


def _mask_missing(P: np.ndarray, rate: float, rng) -> None:
    """Set a share ``rate`` of the (row, classifier) predictions of ``P`` to NaN (all K
    entries of a 3-D ``P``); every row keeps at least one prediction."""
    if rate <= 0:
        return
    n, m = P.shape[:2]
    missing = rng.random((n, m)) < rate
    empty = np.flatnonzero(missing.all(axis=1))
    missing[empty, rng.randint(m, size=empty.size)] = False
    P[missing] = np.nan
