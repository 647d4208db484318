"""Confidence strategies: how much the factorization should trust each entry of P.

Each strategy is a function ``f(P, y) -> C`` of the same shape as ``P``, where ``P`` holds
NaN for a missing prediction and ``y`` holds 0/1 for labeled rows and NaN for unlabeled rows
(all NaN when new rows are folded in). Whatever the strategy, a missing entry gets
confidence 0 (:func:`resolve_confidence` enforces it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._validation import check_confidence_array

__all__ = ["certainty", "label_aware", "resolve_confidence", "uniform"]

CERTAINTY_FLOOR = 0.01


def uniform(P: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """Confidence 1 for every observed entry."""
    return np.where(np.isnan(P), 0.0, 1.0)


def certainty(P: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
    """``max(|p - 0.5|, 0.01)``: confident predictions count more.

    The floor keeps a row whose predictions are all 0.5 solvable.
    """
    return np.where(np.isnan(P), 0.0, np.maximum(np.abs(P - 0.5), CERTAINTY_FLOOR))


def label_aware(
    P: np.ndarray,
    y: np.ndarray,
    base: np.ndarray | None = None,
    alpha: float = 1.0,
    n_classes: int = 2,
) -> np.ndarray:
    """The label-aware confidence of the original method.

    ``c_iu = base_iu * (1 + alpha * a_iu)`` for a labeled row ``i``, with agreement
    ``a_iu = p_iu`` if ``y_i = 1`` and ``1 - p_iu`` if ``y_i = 0``; ``c_iu = base_iu`` for an
    unlabeled row. ``base`` defaults to :func:`uniform`; a supplied base is used as given.
    For ``n_classes`` = K > 2, ``P`` is (n, m K) with column ``j`` the probability of class
    ``j % K`` and ``y`` the class index: ``a_ij = p_ij`` if ``y_i = j % K`` else ``1 - p_ij``.
    """
    if base is None:
        base = uniform(P)
    y = np.asarray(y, dtype=np.float64)
    column_class = 1 if n_classes == 2 else np.arange(P.shape[1]) % n_classes
    agreement = np.where(y[:, None] == column_class, P, 1.0 - P)
    boost = np.where(np.isnan(y)[:, None], 1.0, 1.0 + alpha * agreement)
    return np.where(np.isnan(P), 0.0, base * boost)


_STRATEGIES: dict[str, Callable[..., np.ndarray]] = {"uniform": uniform, "certainty": certainty}


def strategy(name: str) -> Callable[..., np.ndarray]:
    """The confidence strategy called ``name``, or a ValueError that lists the names."""
    if name not in _STRATEGIES:
        raise ValueError(
            f"confidence must be one of {sorted(_STRATEGIES)}, a callable f(P, y) or an "
            f"array of the shape of P; got {name!r}."
        )
    return _STRATEGIES[name]


def resolve_confidence(
    confidence,
    P: np.ndarray,
    y: np.ndarray,
    use_label_aware_confidence: bool = False,
    label_aware_alpha: float = 1.0,
) -> np.ndarray:
    """Build the confidence matrix for ``P`` from a strategy name, a callable or an array.

    The result of ``confidence`` is the base; with ``use_label_aware_confidence`` the
    label-aware boost is applied on top of it (a supplied base is never replaced). Missing
    entries of ``P`` get confidence 0.
    """
    if isinstance(confidence, str):
        base = strategy(confidence)(P, y)
    elif callable(confidence):
        base = check_confidence_array(
            confidence(P, y), P.shape, name="confidence (the callable's result)"
        )
    else:
        base = check_confidence_array(confidence, P.shape)
    base = np.where(np.isnan(P), 0.0, base)
    if use_label_aware_confidence:
        return label_aware(P, y, base=base, alpha=label_aware_alpha)
    return base
