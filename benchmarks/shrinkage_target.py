"""A direction measured, not built: shrink the aggregator toward label-free weights.

``aggregator_shrinkage`` pulls the weights toward *equal* weights. On the digits problems
of ``benchmarks/untuned.py`` (base models of clearly different quality) that costs
0.002–0.004 PR-AUC against LR stacking with complete predictions. This script tries a
label-free target instead: a one-factor model of the aggregator input's covariance
(principal-axis factoring of the default's input ``A`` over all pool rows: loadings
``v``, uniquenesses ``u``) gives each classifier the factor-score weight ``v / u`` (a
classifier that tracks the common signal with little noise of its own weighs more). The
aggregator is then the default's (class-weighted, non-negative, shrinkage 0.1) on the
columns of ``A`` scaled by that target, so the shrinkage pulls toward weights
proportional to it instead of toward equal weights. A second target, "consensus", needs
no fill-in: each classifier's correlation with the mean of the others' available
predictions stands in for its loading (:func:`consensus`). "gated" uses the consensus
target only where the default's label-free abstention test found no abstention
(``abstention_ == 0``: the missingness does not look informative), else the default.
(Not the library's penalty: the scaled columns also change the ridge's geometry
slightly; it is a measurement of the idea.)

Compared on the held-out rows (PR-AUC with tied scores averaged): the default
``CFEnsembleClassifier``, the same aggregator re-solved here with the equal target (a
check: it must equal the default), the three targets, and ``aggregator_shrinkage=0``.
``--data digits``: the ten digit-vs-rest problems of ``benchmarks/untuned.py`` (3 seeds,
complete and 30 % missing at random, 5/20/50 % labels); ``--data benchmark``: the 8 data
sets x 5 repeats x m = 5/10/20 of ``benchmarks/accuracy.py`` (its splits, masks and 5/20 %
label subsets), regimes complete, mcar, unsure, blocks, k_of_m.

Usage::

    python benchmarks/shrinkage_target.py --data digits      # about 2 min on 2 cores
    python benchmarks/shrinkage_target.py --data benchmark   # about 4 min
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import time
import warnings

import accuracy as acc
import numpy as np
import untuned

from cfensemble import CFEnsembleClassifier
from cfensemble._losses import class_weights
from cfensemble.aggregators import solve_aggregator
from cfensemble.metrics import tie_averaged_precision

HERE = pathlib.Path(__file__).parent
METHODS = {
    "default": "cfensemble (default)",
    "equal": "equal target (check)",
    "one_factor": "one-factor target",
    "consensus": "consensus target",
    "gated": "consensus if no abstention",
    "s0": "aggregator_shrinkage=0",
}


def one_factor(A: np.ndarray, iterations: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Loadings and uniquenesses of a one-factor model of the columns of ``A``
    (principal-axis factoring: the communalities replace the covariance's diagonal)."""
    C = np.cov(A, rowvar=False)
    variance = np.diag(C).copy()
    communality = 0.5 * variance
    for _ in range(iterations):
        R = C.copy()
        np.fill_diagonal(R, communality)
        values, vectors = np.linalg.eigh(R)
        loading = vectors[:, -1] * np.sqrt(max(values[-1], 1e-12))
        loading = -loading if loading.sum() < 0 else loading
        communality = np.clip(loading**2, 1e-6, 0.995 * variance)
    return loading, np.clip(variance - loading**2, 1e-6 * variance.max(), None)


def consensus(P: np.ndarray) -> np.ndarray:
    """Per classifier ``u``, the factor-score weight ``r / (sd (1 - r^2))`` with ``r`` the
    correlation of its observed predictions with the mean of the other classifiers'
    available ones on the same rows, ``sd`` their spread: the one-factor weights with the
    others' consensus standing in for the factor, from observed entries only (no
    fill-in). 1e-6 where it cannot be computed."""
    m = P.shape[1]
    target = np.full(m, 1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a row with no other prediction
        for u in range(m):
            others = np.nanmean(np.delete(P, u, axis=1), axis=1)
            ok = ~np.isnan(P[:, u]) & ~np.isnan(others)
            x, z = P[ok, u], others[ok]
            if ok.sum() > 2 and x.std() > 0 and z.std() > 0:
                r = float(np.clip(np.corrcoef(x, z)[0, 1], 1e-3, 0.99))
                target[u] = r / (x.std() * (1 - r * r))
    return target


def targeted(A_pool, y_semi, A_held, target) -> np.ndarray:
    """The default's aggregator (class weights, w >= 0, l2 1e-3, shrinkage 0.1) on the
    columns scaled by ``target`` (mean 1): scores of the held-out rows."""
    t = np.clip(target, 1e-3 * np.abs(target).max(), None)
    t = t / t.mean()
    labeled = np.flatnonzero(y_semi >= 0)
    y = y_semi[labeled].astype(float)
    m = A_pool.shape[1]
    w, _ = solve_aggregator(
        (A_pool * t)[labeled], y, class_weights(y), 0.0, 1e-3, True, np.full(m, 1 / m), 0.0,
        shrinkage=0.1,
    )  # fmt: skip
    w = w if np.any(w) else np.full(m, 1 / m)  # the default's mean fallback
    return (A_held * t) @ w


def scores(P_pool, y_semi, P_held, y_held, seed) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=seed).fit(P_pool, y_semi)
        A_pool, A_held = clf.impute(P_pool), clf.impute(P_held)
        loading, uniqueness = one_factor(A_pool)
        s0 = CFEnsembleClassifier(random_state=seed, aggregator_shrinkage=0.0)
        out = {
            "default": clf.predict_proba(P_held)[:, 1],
            "equal": targeted(A_pool, y_semi, A_held, np.ones(A_pool.shape[1])),
            "one_factor": targeted(A_pool, y_semi, A_held, loading / uniqueness),
            "consensus": targeted(A_pool, y_semi, A_held, consensus(P_pool)),
            "gated": (
                targeted(A_pool, y_semi, A_held, consensus(P_pool))
                if clf.abstention_ == 0
                else clf.predict_proba(P_held)[:, 1]
            ),
            "s0": s0.fit(P_pool, y_semi).predict_proba(P_held)[:, 1],
        }
    return {k: tie_averaged_precision(y_held, v) for k, v in out.items()}


def semi(y, labeled):
    y_semi = np.full(y.size, -1)
    y_semi[labeled] = y[labeled]
    return y_semi


def digits_runs(seeds):
    for _, seed, regime, budget, Pp, yp, Ph, yh, lab in untuned.problems(seeds):
        yield regime, budget, Pp.shape[1], scores(Pp, semi(yp, lab), Ph, yh, seed)


def benchmark_runs(repeats):
    regimes = ("complete", "mcar", "unsure", "blocks", "k_of_m")
    for _, r, m, regime, Pp, y_pool, Ph, y_held in acc.replay((5, 10, 20), regimes, repeats):
        for budget in acc.BUDGETS:
            lab = acc.budget_rows(y_pool, r, budget)
            yield regime, budget, m, scores(Pp, semi(y_pool, lab), Ph, y_held, r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "benchmark"), required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    runs = list(digits_runs(3) if args.data == "digits" else benchmark_runs(acc.REPEATS))
    cells, by_m = collections.defaultdict(list), collections.defaultdict(list)
    for regime, budget, m, s in runs:
        cells[(regime, budget)].append(s)
        by_m[(regime, budget, m)].append(s)
    what = (
        "digits k vs rest x 3 seeds (benchmarks/untuned.py's problems)"
        if args.data == "digits"
        else "8 data sets x 5 repeats x m = 5, 10, 20 (benchmarks/accuracy.py's runs)"
    )
    lines = [
        f"Held-out PR-AUC with tied scores averaged, mean over {what} "
        f"(`python benchmarks/shrinkage_target.py --data {args.data}`, "
        f"{(time.perf_counter() - start) / 60:.1f} min, {acc._commit()}); W/T/L of the "
        "gated consensus target against the default (tie: within 0.002).",
        "",
        "| regime | labeled | " + " | ".join(METHODS.values()) + " | W/T/L |",
        "|---|---|" + "---|" * (len(METHODS) + 1),
    ]
    for (regime, budget), rows in cells.items():
        mean = [np.mean([s[k] for s in rows]) for k in METHODS]
        d = np.array([s["gated"] - s["default"] for s in rows])
        wtl = f"{(d > 0.002).sum()}/{(np.abs(d) <= 0.002).sum()}/{(d < -0.002).sum()}"
        lines.append(
            f"| {regime} | {budget:.0%} | " + " | ".join(f"{v:.4f}" for v in mean) + f" | {wtl} |"
        )
    lines += [
        "",
        "By number of classifiers m: the default, the gated consensus target, their "
        "difference and W/T/L.",
        "",
        "| regime | labeled | m | cfensemble (default) | gated | difference | W/T/L |",
        "|---|---|---|---|---|---|---|",
    ]
    for (regime, budget, m), rows in by_m.items():
        d = np.array([s["gated"] - s["default"] for s in rows])
        default = np.mean([s["default"] for s in rows])
        wtl = f"{(d > 0.002).sum()}/{(np.abs(d) <= 0.002).sum()}/{(d < -0.002).sum()}"
        lines.append(
            f"| {regime} | {budget:.0%} | {m} | {default:.4f} | {default + d.mean():.4f} | "
            f"{d.mean():+.4f} | {wtl} |"
        )
    text = "\n".join(lines)
    stem = f"shrinkage_target_{args.data}"
    (HERE / "results" / f"{stem}.json").write_text(json.dumps([list(r) for r in runs]))
    (HERE / "results" / f"{stem}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
