"""``cfensemble demo``: the default estimator against the baselines a user would try.

Generated data (:func:`cfensemble.make_ensemble_problem`), four regimes of the same
problem: complete predictions, 30 % of the predictions missing at random, only 3 of the
classifiers scoring each instance, and each classifier abstaining on its 30 % least
confident predictions (closest to 0.5). In each, 30 % of the rows are held out and scored by
fold-in (never seen in fit); of the other rows ``labeled_fraction`` are labeled. Methods:
the mean of the available predictions, the best single classifier (chosen by PR-AUC on
the labeled rows), logistic-regression stacking on the labeled rows (missing predictions
filled with the column mean), and ``CFEnsembleClassifier(random_state=seed)`` with every
other parameter at its default. Nothing here is tuned to this data.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import numpy as np

TIE = 0.002  # |difference in PR-AUC| below this is reported as a tie


def _metrics(y, p) -> tuple[float, float, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    return average_precision_score(y, p), roc_auc_score(y, p), brier_score_loss(y, p)


def _mask(P: np.ndarray, regime: str, rng: np.random.Generator) -> np.ndarray:
    P = P.copy()
    n, m = P.shape
    if regime == "30% missing at random":
        P[rng.random((n, m)) < 0.3] = np.nan
    elif regime == "3 of m per instance":
        keep = np.argsort(rng.random((n, m)), axis=1)[:, :3]
        missing = np.ones((n, m), dtype=bool)
        np.put_along_axis(missing, keep, False, axis=1)
        P[missing] = np.nan
    elif regime == "30% abstained where unsure":
        distance = np.abs(P - 0.5)
        P[distance < np.quantile(distance, 0.3, axis=0)] = np.nan
    empty = np.isnan(P).all(axis=1)
    P[empty, rng.integers(m, size=int(empty.sum()))] = 0.5  # never a row without a score
    return P


def _baselines(P_pool, y_pool, labeled, P_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score

    fill = np.nanmean(P_pool, axis=0)
    Pl = np.where(np.isnan(P_pool[labeled]), fill, P_pool[labeled])
    Pt = np.where(np.isnan(P_test), fill, P_test)
    scores = [
        average_precision_score(y_pool[labeled], np.where(np.isnan(c), fill[u], c))
        for u, c in enumerate(P_pool[labeled].T)
    ]
    best = int(np.argmax(scores))
    start = time.perf_counter()
    stack = LogisticRegression(max_iter=1000).fit(Pl, y_pool[labeled])
    seconds = time.perf_counter() - start
    return {
        "mean of available": np.nanmean(P_test, axis=1),
        "best single": np.where(np.isnan(P_test[:, best]), fill[best], P_test[:, best]),
        "LR stacking": stack.predict_proba(Pt)[:, 1],
    }, seconds


def run(
    n_samples: int = 3000,
    n_classifiers: int = 10,
    positive_rate: float = 0.05,
    labeled_fraction: float = 0.3,
    seed: int = 0,
    out: Callable[[str], None] = print,
) -> dict:
    """Run the demo; print with ``out``; return ``{regime: {method: (pr, roc, brier)}}``."""
    from . import CFEnsembleClassifier, make_ensemble_problem

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    P_full, y = make_ensemble_problem(
        n_samples=n_samples,
        n_classifiers=n_classifiers,
        positive_rate=positive_rate,
        base_quality=np.linspace(0.35, 0.75, n_classifiers),
        error_correlation=0.5,
        random_state=seed,
    )
    test = rng.random(n_samples) < 0.3
    labeled = rng.random(int((~test).sum())) < labeled_fraction
    y_pool = y[~test]
    out(
        f"cfensemble demo: {n_samples} instances, {n_classifiers} classifiers, "
        f"{positive_rate:.0%} positives, {labeled.sum()} labeled rows, seed {seed}"
    )
    out(f"metrics on {test.sum()} held-out rows (folded in, never seen in fit)")
    results: dict = {}
    verdicts = []
    regimes = (
        "complete",
        "30% missing at random",
        "3 of m per instance",
        "30% abstained where unsure",
    )
    for regime in regimes:
        P = _mask(P_full, regime, rng)
        scores, lr_seconds = _baselines(P[~test], y_pool, labeled, P[test])
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = CFEnsembleClassifier(random_state=seed).fit(
                P[~test], np.where(labeled, y_pool, -1)
            )
        cf_seconds = time.perf_counter() - start
        scores["CFEnsembleClassifier"] = clf.predict_proba(P[test])[:, 1]
        table = {name: _metrics(y[test], p) for name, p in scores.items()}
        results[regime] = table
        out(f"\n{regime}")
        out(f"  {'method':<24}{'PR-AUC':>8}{'ROC-AUC':>9}{'Brier':>8}")
        for name, (pr, roc, brier) in table.items():
            out(f"  {name:<24}{pr:>8.3f}{roc:>9.3f}{brier:>8.3f}")
        out(
            f"  fit: CFEnsembleClassifier {cf_seconds:.2f} s ({clf.n_iter_} iterations), "
            f"LR stacking {lr_seconds:.3f} s"
        )
        ours = table["CFEnsembleClassifier"][0]
        rival, best = max(
            ((name, v[0]) for name, v in table.items() if name != "CFEnsembleClassifier"),
            key=lambda item: item[1],
        )
        gap = ours - best
        word = "wins" if gap > TIE else ("ties" if gap >= -TIE else "loses")
        verdicts.append(f"  {word} {regime} ({gap:+.3f} PR-AUC vs {rival})")
    out("")
    out(f"demo: {time.perf_counter() - started:.1f} s")
    out("CFEnsembleClassifier against the best other method, by held-out PR-AUC:")
    for line in verdicts:  # one line per regime
        out(line)
    return results
