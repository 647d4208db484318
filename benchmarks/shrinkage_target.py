"""How ``shrinkage_target="consensus"`` was chosen: shrink toward label-free weights.

``aggregator_shrinkage`` pulled the weights toward *equal* weights. On the digits
problems of ``benchmarks/untuned.py`` (base models of clearly different quality) that costs
0.002-0.004 PR-AUC against LR stacking with complete predictions. This script measures
label-free targets to pull toward instead (emulated here by scaling the aggregator input's
columns by the target ``t``: the equal-target aggregator on ``A * t`` shrinks toward weights
proportional to ``t``; the library writes the same as the penalty
``s/2 |w/t - mean(w/t)|^2``, which differs from the emulation only in its tiny ridge):

* "one-factor": the factor-score weights ``v / u`` of a one-factor model (principal-axis
  factoring) of the covariance of the filled-in aggregator input ``A``;
* "consensus^a": each classifier's correlation ``r`` with the mean of the others'
  available predictions (observed entries only) as its loading, the factor-score weight
  ``r / (sd (1 - r^2))`` raised to the power ``a`` (a < 1 tempers its spread), used only
  where the label-free abstention test found no abstention (``abstention_ ==
  0``), else equal; "consensus^1/3 ungated" uses it everywhere;
* "separation^2": consensus^1/3 (gated) times a factor from the labels: each classifier's
  standardized class separation ``d_u = (mean_pos - mean_neg) / pooled within-class sd``
  on the labeled rows of ``A``, shrunk toward the classifiers' mean by the share of their
  spread that sampling noise does not explain (James-Stein; the noise from the
  covariance of the class means, to first order), relative to the mean, squared;
  "separation^2 (>= 20)" uses it only where 20 or more positives are labeled;
* the library's ``CFEnsembleClassifier(shrinkage_target="consensus")`` (consensus^1/3,
  gated) and ``shrinkage_target="separation"`` (its factor from the observed entries of
  the labeled rows of ``P`` rather than from ``A``), fitted as a user would.

Compared on the held-out rows (PR-AUC with tied scores averaged) with
``shrinkage_target="equal"`` (the default before the consensus target; the emulation with
equal weights is a check, it must equal it), ``aggregator_shrinkage=0``,
``aggregator_shrinkage="auto"`` and LR stacking on column-mean-imputed ``P``. ``--data
digits``: the ten digit-vs-rest problems of ``benchmarks/untuned.py`` (3 seeds, complete
and 30 % missing at random, 5/20/50 % labels); ``--data benchmark``: the 8 data sets x 5
repeats x m = 5/10/20 of ``benchmarks/accuracy.py`` (its splits, masks and 5/20 % label
subsets), its six regimes; ``--data generator``: ``make_ensemble_problem`` (5 % positives,
error correlation 0.5, m = 10 and 20, every classifier of quality 0.7 or each drawn from
U(0.3, 0.9), complete and 30 % missing at random, 3 seeds, 3,000 rows fitted and 3,000 held
out, 5/20 % labels). The exponent was chosen on the second table of these runs: the larger
it is, the more it gains where base models differ (digits, the generator's unequal
classifiers), but from 0.5 up it costs 0.004-0.005 in some rows of the benchmark (m x
regime x budget), 0.2 to 1/3 at most 0.0012.

Usage::

    python benchmarks/shrinkage_target.py --data digits      # about 2 min on 2 cores
    python benchmarks/shrinkage_target.py --data benchmark   # about 6 min
    python benchmarks/shrinkage_target.py --data generator   # about 1 min
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
from sklearn.linear_model import LogisticRegression

from cfensemble import CFEnsembleClassifier
from cfensemble._losses import class_weights
from cfensemble.aggregators import solve_aggregator
from cfensemble.metrics import tie_averaged_precision

HERE = pathlib.Path(__file__).parent
EXPONENTS = (0.2, 0.25, 1 / 3, 0.5, 0.75, 1.0)
TIE = 0.002


def _power(a: float) -> str:
    return "1/3" if a == 1 / 3 else f"{a:g}"


METHODS = {
    "equal_fit": 'shrinkage_target="equal"',
    "equal": "equal target (check)",
    "one_factor": "one-factor",
    **{f"c{_power(a)}": f"consensus^{_power(a)}" for a in EXPONENTS},
    "ungated": "consensus^1/3 ungated",
    "separation": "separation^2",
    "separation20": "separation^2 (>= 20)",
    "library": 'shrinkage_target="consensus"',
    "separation_fit": 'shrinkage_target="separation"',
    "s0": "aggregator_shrinkage=0",
    "auto": 'aggregator_shrinkage="auto"',
    "lr": "LR stacking",
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
    available predictions on the same rows, ``sd`` their spread (written out here,
    independently of :mod:`cfensemble._consensus`). 1e-6 where it cannot be computed."""
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


def separation(A: np.ndarray, y_semi: np.ndarray) -> np.ndarray:
    """The label-based factor of "separation^2": ``(d̃_u / mean(d))**2``, ``d̃`` the
    standardized class separations of the labeled rows of ``A`` shrunk toward their mean
    by ``max(s^2 - noise, 0) / s^2`` (``s^2`` their spread, ``noise`` the spread sampling
    of the estimates, ``H`` the centring matrix). 1 for a column constant on the labeled
    rows; all 1 where it cannot be estimated."""
    labeled = y_semi >= 0
    a, y = A[labeled], y_semi[labeled]
    factor = np.ones(A.shape[1])
    groups = [a[y == 1], a[y == 0]]
    if min(len(g) for g in groups) < 2:
        return factor
    centred = [g - g.mean(axis=0) for g in groups]
    sd = np.sqrt(sum((e**2).sum(axis=0) for e in centred) / (len(a) - 2))
    valid = sd > 1e-12
    if valid.sum() < 2:
        return factor
    sd, centred = sd[valid], [e[:, valid] for e in centred]
    d = (groups[0].mean(axis=0) - groups[1].mean(axis=0))[valid] / sd
    if d.mean() <= 0:
        return factor
    V = sum(e.T @ e / (len(e) * (len(e) - 1)) for e in centred) / np.outer(sd, sd)
    spread = d.var(ddof=1)
    noise = (np.trace(V) - V.sum() / d.size) / (d.size - 1)
    share = max(spread - noise, 0.0) / spread if spread > 0 else 0.0
    factor[valid] = np.maximum(1 + share * (d / d.mean() - 1), 1e-3) ** 2
    return factor


def targeted(A_pool, y_semi, A_held, target) -> np.ndarray:
    """The default aggregator (class weights, w >= 0, l2 1e-3, shrinkage 0.1) on the
    columns scaled by ``target`` (floored at 1e-3 of its largest, mean 1): scores of the
    held-out rows."""
    t = np.clip(target, 1e-3 * np.abs(target).max(), None)
    t = t / t.mean()
    labeled = np.flatnonzero(y_semi >= 0)
    y = y_semi[labeled].astype(float)
    m = A_pool.shape[1]
    w, _ = solve_aggregator(
        (A_pool * t)[labeled], y, class_weights(y), 0.0, 1e-3, True, np.full(m, 1 / m), 0.0,
        shrinkage=0.1,
    )  # fmt: skip
    w = w if np.any(w) else np.full(m, 1 / m)  # the fit's mean fallback
    return (A_held * t) @ w


def lr_stacking(P_pool, y_semi, P_held) -> np.ndarray:
    """``LR·imp`` of ``benchmarks/accuracy.py``: logistic regression on the labeled rows of
    ``P`` with missing entries set to the pool's column means; held-out scores."""
    fill = np.nanmean(P_pool, axis=0)
    labeled = y_semi >= 0
    lr = LogisticRegression(max_iter=5000).fit(
        np.where(np.isnan(P_pool), fill, P_pool)[labeled], y_semi[labeled]
    )
    return lr.predict_proba(np.where(np.isnan(P_held), fill, P_held))[:, 1]


def scores(P_pool, y_semi, P_held, y_held, seed) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=seed, shrinkage_target="equal")
        clf.fit(P_pool, y_semi)
        equal = clf.predict_proba(P_held)[:, 1]
        A_pool, A_held = clf.impute(P_pool), clf.impute(P_held)
        loading, uniqueness = one_factor(A_pool)
        raw = consensus(P_pool)
        raw = np.clip(raw, 1e-3 * raw.max(), None)
        out = {
            "equal_fit": equal,
            "equal": targeted(A_pool, y_semi, A_held, np.ones(A_pool.shape[1])),
            "one_factor": targeted(A_pool, y_semi, A_held, loading / uniqueness),
        }
        for a in EXPONENTS:
            out[f"c{_power(a)}"] = (
                targeted(A_pool, y_semi, A_held, raw**a) if clf.abstention_ == 0 else equal
            )
        out["ungated"] = targeted(A_pool, y_semi, A_held, raw ** (1 / 3))
        gated = raw ** (1 / 3) if clf.abstention_ == 0 else np.ones(raw.size)
        factor = separation(A_pool, y_semi)
        out["separation"] = targeted(A_pool, y_semi, A_held, gated * factor)
        for key, target in (("library", "consensus"), ("separation_fit", "separation")):
            clf = CFEnsembleClassifier(random_state=seed, shrinkage_target=target)
            out[key] = clf.fit(P_pool, y_semi).predict_proba(P_held)[:, 1]
        enough = np.sum(y_semi == 1) >= 20
        out["separation20"] = out["separation"] if enough else out["library"]
        s0 = CFEnsembleClassifier(
            random_state=seed, aggregator_shrinkage=0.0, shrinkage_target="equal"
        )
        out["s0"] = s0.fit(P_pool, y_semi).predict_proba(P_held)[:, 1]
        auto = CFEnsembleClassifier(random_state=seed, aggregator_shrinkage="auto")
        out["auto"] = auto.fit(P_pool, y_semi).predict_proba(P_held)[:, 1]
        out["lr"] = lr_stacking(P_pool, y_semi, P_held)
    return {k: tie_averaged_precision(y_held, v) for k, v in out.items()}


def semi(y, labeled):
    y_semi = np.full(y.size, -1)
    y_semi[labeled] = y[labeled]
    return y_semi


def digits_runs(seeds):
    for _, seed, regime, budget, Pp, yp, Ph, yh, lab in untuned.problems(seeds):
        yield regime, budget, Pp.shape[1], scores(Pp, semi(yp, lab), Ph, yh, seed)


def benchmark_runs(repeats):
    for _, r, m, regime, Pp, y_pool, Ph, y_held in acc.replay((5, 10, 20), acc.REGIMES, repeats):
        for budget in acc.BUDGETS:
            lab = acc.budget_rows(y_pool, r, budget)
            yield regime, budget, m, scores(Pp, semi(y_pool, lab), Ph, y_held, r)


def generator_problems(seeds):
    """The generator's problems: per seed, quality ("equal": 0.7 for all; "unequal":
    U(0.3, 0.9)), m (10, 20), missing rate (0, 0.3; MCAR) and label budget,
    ``(seed, quality, m, rate, budget, P, y, labeled)`` with 6,000 rows, 5 % positives and
    error correlation 0.5; ``labeled`` indexes the first 3,000 rows (the pool), the other
    3,000 are held out."""
    from cfensemble import make_ensemble_problem

    for seed in range(seeds):
        for quality in ("equal", "unequal"):
            for m in (10, 20):
                q = 0.7 if quality == "equal" else np.random.default_rng(seed).uniform(0.3, 0.9, m)
                for rate in (0.0, 0.3):
                    P, y = make_ensemble_problem(
                        6000, m, positive_rate=0.05, base_quality=q, error_correlation=0.5,
                        missing_rate=rate, random_state=seed,
                    )  # fmt: skip
                    for budget in acc.BUDGETS:
                        draw = np.random.default_rng([seed, round(budget * 100)]).random(3000)
                        yield seed, quality, m, rate, budget, P, y, np.flatnonzero(draw < budget)


def generator_runs(seeds):
    for seed, quality, m, rate, budget, P, y, lab in generator_problems(seeds):
        regime = f"{quality} quality, {'mcar 30%' if rate else 'complete'}"
        s = scores(P[:3000], semi(y[:3000], lab), P[3000:], y[3000:], seed)
        yield regime, budget, m, s


def _wtl(d: np.ndarray) -> str:
    return f"{(d > TIE).sum()}/{(np.abs(d) <= TIE).sum()}/{(d < -TIE).sum()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=("digits", "benchmark", "generator"), required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    runs = list(
        digits_runs(3)
        if args.data == "digits"
        else benchmark_runs(acc.REPEATS)
        if args.data == "benchmark"
        else generator_runs(3)
    )
    cells, by_m = collections.defaultdict(list), collections.defaultdict(list)
    for regime, budget, m, s in runs:
        cells[(regime, budget)].append(s)
        by_m[(regime, budget, m)].append(s)
    what = {
        "digits": "digits k vs rest x 3 seeds (benchmarks/untuned.py's problems)",
        "benchmark": "8 data sets x 5 repeats x m = 5, 10, 20 (benchmarks/accuracy.py's runs)",
        "generator": "make_ensemble_problem x 3 seeds x m = 10, 20",
    }[args.data]
    lines = [
        f"Held-out PR-AUC with tied scores averaged, mean over {what} "
        f"(`python benchmarks/shrinkage_target.py --data {args.data}`, "
        f"{(time.perf_counter() - start) / 60:.1f} min, {acc._commit()}); W/T/L of "
        f'`shrinkage_target="consensus"` against `"equal"` (tie: within {TIE}).',
        "",
        "| regime | labeled | " + " | ".join(METHODS.values()) + " | W/T/L |",
        "|---|---|" + "---|" * (len(METHODS) + 1),
    ]
    for (regime, budget), rows in cells.items():
        mean = [np.mean([s[k] for s in rows]) for k in METHODS]
        d = np.array([s["library"] - s["equal_fit"] for s in rows])
        lines.append(
            f"| {regime} | {budget:.0%} | "
            + " | ".join(f"{v:.4f}" for v in mean)
            + f" | {_wtl(d)} |"
        )
    lines += [
        "",
        'Each target against `shrinkage_target="equal"`: the mean difference over all runs, '
        "the lowest mean difference of a row (regime x labeled x m) and the rows more than "
        "0.001 below.",
        "",
        "| target | mean difference | lowest row | rows below -0.001 |",
        "|---|---|---|---|",
    ]
    for key in list(METHODS)[2:]:
        rows = [np.mean([s[key] - s["equal_fit"] for s in r]) for r in by_m.values()]
        overall = np.mean([s[key] - s["equal_fit"] for _, _, _, s in runs])
        below = sum(v < -0.001 for v in rows)
        lines.append(f"| {METHODS[key]} | {overall:+.4f} | {min(rows):+.4f} | {below} |")
    lines += [
        "",
        'By number of classifiers m: `shrinkage_target="equal"`, `"consensus"`, '
        "their difference and W/T/L.",
        "",
        '| regime | labeled | m | "equal" | "consensus" | difference | W/T/L |',
        "|---|---|---|---|---|---|---|",
    ]
    for (regime, budget, m), rows in by_m.items():
        d = np.array([s["library"] - s["equal_fit"] for s in rows])
        base = np.mean([s["equal_fit"] for s in rows])
        lines.append(
            f"| {regime} | {budget:.0%} | {m} | {base:.4f} | {base + d.mean():.4f} | "
            f"{d.mean():+.4f} | {_wtl(d)} |"
        )
    text = "\n".join(lines)
    stem = f"shrinkage_target_{args.data}"
    (HERE / "results" / f"{stem}.json").write_text(json.dumps([list(r) for r in runs]))
    (HERE / "results" / f"{stem}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
