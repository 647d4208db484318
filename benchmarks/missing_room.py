"""How far above the best baseline can a combiner of the *observed* predictions get?

Issue 9 asks for +0.02 PR-AUC over the best of {nanmean, LR stacking on column-mean-imputed
``P``, LR stacking on ``IterativeImputer``-imputed ``P``} in every missing-prediction row of
``benchmarks/accuracy.py``. The README's column "complete P" (the default fitted on the
same rows with nothing missing) is one measure of the room; it overstates it: a missing
prediction's information is only partly in the row's other predictions, and no combiner
of the observed ones, however it fills in, can use the rest.

This script measures the room from the other side. On the splits and masks of
``benchmarks/accuracy.py`` (8 data sets, 5 repeats, held-out rows, PR-AUC with tied
scores averaged) it fits, with **every pool label** (the benchmark reveals 5 % or 20 %):

- ``cf(all)``: the default ``CFEnsembleClassifier``;
- ``LR(input)``: logistic regression on the default's aggregator input (the observed
  predictions, its calibrated fill-in where missing);
- ``LR(pattern)``: one logistic regression per missingness pattern on that pattern's
  observed columns (patterns with at least 20 pool rows of both classes; other rows take
  ``LR(input)``'s probability);
- ``LR(input, mask)``: logistic regression on the default's input, the m missing
  indicators and their products with the input (a pattern-aware linear model: the
  pattern can shift the intercept and each column's weight);
- ``HGB``: scikit-learn's histogram gradient boosting on ``P`` with NaN (its native
  missing-value handling);
- ``LR·imp(all)`` and ``LR·iter(all)``: the benchmark's two stacking baselines (LR on
  column-mean-imputed and on ``IterativeImputer``-imputed ``P``) with every pool label.

The row's reference is the best of these seven, chosen after the fact (which favours them).
Written to ``results/missing_room.md``: per regime, label budget and m, the best baseline
and the default at that budget (read from ``results/accuracy.json``, same splits), the
seven references, and the reference's lead over the best baseline next to the +0.02 the
issue asks for.

A second table asks how well the missing predictions can be filled in at all: on the
held-out rows, the root-mean-square error of each fill-in against the predictions the
regime masked (the default's fill-in, fitted with every pool label as above; the column
mean; ``IterativeImputer``; ``KNNImputer`` with 10 neighbours; each fitted on the pool),
and the PR-AUC of the plain mean of each filled matrix, next to the mean of the true,
unmasked predictions.

Usage::

    python benchmarks/accuracy.py                  # first: results/accuracy.json
    python benchmarks/missing_room.py              # about 5 min on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
import warnings

import numpy as np
from _common import DATASETS, RESULTS, git_commit, imputations, replay
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import KNNImputer
from sklearn.linear_model import LogisticRegression

from cfensemble import CFEnsembleClassifier
from cfensemble.metrics import tie_averaged_precision

REGIMES = ("mcar", "unsure", "blocks", "k_of_m")
BASELINES = ("nanmean", "LR·imp", "LR·iter")
REFERENCES = {
    "cf_all": "cf(all)",
    "lr_input": "LR(input)",
    "lr_pattern": "LR(pattern)",
    "lr_mask": "LR(input, mask)",
    "hgb": "HGB",
    "lr_imp": "LR·imp(all)",
    "lr_iter": "LR·iter(all)",
}
FILLS = {
    "cf": "default",
    "col-mean": "col-mean",
    "iterative": "iter",
    "knn": "kNN",
}
MIN_PATTERN_ROWS = 20
TARGET = 0.02


def pattern_lr(P_pool, y_pool, P_held, fallback) -> np.ndarray:
    """Per missingness pattern, LR on its observed columns (probabilities, comparable
    across patterns); rows of a pattern too rare in the pool keep ``fallback``."""
    out = fallback.copy()
    keys_pool = np.packbits(np.isnan(P_pool), axis=1)
    keys_held = np.packbits(np.isnan(P_held), axis=1)
    for key in np.unique(keys_held, axis=0):
        held = (keys_held == key).all(axis=1)
        pool = (keys_pool == key).all(axis=1)
        cols = ~np.isnan(P_held[np.flatnonzero(held)[0]])
        y = y_pool[pool]
        if pool.sum() < MIN_PATTERN_ROWS or y.min() == y.max():
            continue
        lr = LogisticRegression(max_iter=5000).fit(P_pool[pool][:, cols], y)
        out[held] = lr.predict_proba(P_held[held][:, cols])[:, 1]
    return out


def fill_scores(fills, P_held, P_true, y_held) -> dict:
    """RMSE of each fill-in on the masked held-out entries against the true predictions,
    and the PR-AUC of each filled matrix's row mean (``truth``: of ``P_true``'s)."""
    missing = np.isnan(P_held)
    out = {"mean_truth": tie_averaged_precision(y_held, P_true.mean(axis=1))}
    for name, F in fills.items():
        out[f"rmse_{name}"] = float(np.sqrt(np.mean((F[missing] - P_true[missing]) ** 2)))
        out[f"mean_{name}"] = tie_averaged_precision(y_held, F.mean(axis=1))
    return out


def references(P_pool, y_pool, P_held, y_held, seed, P_true) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=seed).fit(P_pool, y_pool)
        A_pool, A_held = clf.impute(P_pool), clf.impute(P_held)
        lr = LogisticRegression(max_iter=5000).fit(A_pool, y_pool)
        lr_input = lr.predict_proba(A_held)[:, 1]
        F_pool, F_held = (
            np.hstack([A, np.isnan(P), A * np.isnan(P)])
            for A, P in ((A_pool, P_pool), (A_held, P_held))
        )
        lr_mask = LogisticRegression(max_iter=5000).fit(F_pool, y_pool)
        hgb = HistGradientBoostingClassifier(random_state=seed).fit(P_pool, y_pool)
        filled = imputations(P_pool, P_held, seed)
        knn = KNNImputer(n_neighbors=10).fit(P_pool)
        fills = {
            "cf": A_held,
            "col-mean": filled["col-mean"][1],
            "iterative": filled["iterative"][1],
            "knn": knn.transform(P_held),
        }
        stacked = {
            name: LogisticRegression(max_iter=5000)
            .fit(filled[fill][0], y_pool)
            .predict_proba(filled[fill][1])[:, 1]
            for name, fill in (("lr_imp", "col-mean"), ("lr_iter", "iterative"))
        }
        scores = {
            "cf_all": clf.predict_proba(P_held)[:, 1],
            "lr_input": lr_input,
            "lr_pattern": pattern_lr(P_pool, y_pool, P_held, lr_input),
            "lr_mask": lr_mask.predict_proba(F_held)[:, 1],
            "hgb": hgb.predict_proba(P_held)[:, 1],
            **stacked,
        }
    return {
        **{name: tie_averaged_precision(y_held, s) for name, s in scores.items()},
        **fill_scores(fills, P_held, P_true, y_held),
    }


def budget_scores(accuracy_runs, key) -> dict:
    """The baselines and the default (tie-averaged held-out PR-AUC) per budget, from
    ``results/accuracy.json``'s run ``key`` = (dataset, repeat, m, regime)."""
    out = {}
    for run in accuracy_runs.get(key, []):
        s = {k: v["held-out"]["pr_auc_ties"] for k, v in run["scores"].items()}
        out[run["budget"]] = {**{b: s[b] for b in BASELINES}, "default": s["cfensemble"]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--m", type=int, nargs="+", default=[5, 10, 20])
    args = parser.parse_args()
    start, own_commit = time.perf_counter(), git_commit()  # the code the run imports
    saved = json.loads((RESULTS / "accuracy.json").read_text())
    accuracy_runs = collections.defaultdict(list)
    for run in saved["runs"]:
        accuracy_runs[(run["dataset"], run["repeat"], run["m"], run["regime"])].append(run)
    runs, truth = [], {}

    def log(name, r):
        print(f"[{time.perf_counter() - start:5.0f} s] {name} repeat {r}", file=sys.stderr)

    for name, r, m, regime, Pp, y_pool, Ph, y_held in replay(
        args.m, ("complete", *REGIMES), args.repeats, log
    ):
        if regime == "complete":  # the true predictions the other regimes mask
            truth[name, r, m] = Ph
            continue
        at_budget = budget_scores(accuracy_runs, (name, r, m, regime))
        if not at_budget:
            sys.exit(f"results/accuracy.json has no run {(name, r, m, regime)}")
        refs = references(Pp, y_pool, Ph, y_held, r, truth[name, r, m])
        for b, s in at_budget.items():
            runs.append(dict(dataset=name, repeat=r, m=m, regime=regime, budget=b, **s, **refs))
    text = render(runs, args, own_commit, saved["meta"]["commit"], time.perf_counter() - start)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "missing_room.json").write_text(json.dumps(runs, indent=1))
    (RESULTS / "missing_room.md").write_text(text + "\n")
    print(text)


def render(runs, args, own_commit, accuracy_commit, seconds) -> str:
    cells = collections.defaultdict(list)
    for run in runs:
        cells[(run["regime"], run["budget"], run["m"])].append(run)
    head = ["best baseline", "cfensemble", *REFERENCES.values(), "reference lead", "target met"]
    lines = [
        f"Held-out PR-AUC with tied scores averaged, mean over {len(DATASETS)} data sets x "
        f"{args.repeats} repeats (`python benchmarks/missing_room.py`, {seconds / 60:.1f} min, "
        f"{own_commit}; "
        f"the budget columns from `results/accuracy.json`, {accuracy_commit}). "
        "best baseline: the best row mean of nanmean, LR·imp and LR·iter at the row's "
        "label budget (as in the README); cfensemble: the default at that budget; the "
        "next seven fitted with every pool label; reference lead: the best of the seven "
        "row means minus the best baseline's row mean; target met: whether the default "
        "is +0.02 above it.",
        "",
        "| regime | labeled | m | " + " | ".join(head) + " |",
        "|---|---|---|" + "---|" * len(head),
    ]
    for (regime, b, m), rows in sorted(
        cells.items(), key=lambda kv: (REGIMES.index(kv[0][0]), kv[0][1], kv[0][2])
    ):
        keys = (*BASELINES, "default", *REFERENCES)
        mean = {k: float(np.mean([row[k] for row in rows])) for k in keys}
        mean["best"] = max(mean[k] for k in BASELINES)
        lead = max(mean[k] for k in REFERENCES) - mean["best"]
        met = "yes" if mean["default"] - mean["best"] >= TARGET - 5e-4 else "no"
        values = [mean["best"], mean["default"], *(mean[k] for k in REFERENCES)]
        lines.append(
            f"| {regime} | {b:.0%} | {m} | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | {lead:+.3f} | {met} |"
        )
    return "\n".join([*lines, "", *fill_table(runs, args)])


def fill_table(runs, args) -> list[str]:
    """Per regime and m (the fill-ins do not depend on the label budget: one run each)."""
    cells = collections.defaultdict(list)
    for run in runs:
        if run["budget"] == min(r["budget"] for r in runs):
            cells[(run["regime"], run["m"])].append(run)
    names = list(FILLS.values())
    lines = [
        "**How well can a missing prediction be filled in?** Held-out rows, mean over "
        f"{len(DATASETS)} data sets x {args.repeats} repeats. RMSE: root-mean-square "
        "error of each fill-in on the masked entries against the true predictions (each "
        "fitted on the pool; the default's fill-in with every pool label, as above); "
        "mean(fill): PR-AUC (ties averaged) of the row mean of each filled matrix, next to "
        "the row mean of the available predictions (nanmean) and of the true, unmasked "
        "ones (true P). col-mean: column mean; iter: IterativeImputer; kNN: KNNImputer "
        "with 10 neighbours.",
        "",
        "| regime | m | "
        + " | ".join(f"RMSE {n}" for n in names)
        + " | nanmean | "
        + " | ".join(f"mean({n})" for n in names)
        + " | mean(true P) |",
        "|---|---|" + "---|" * (2 * len(names) + 2),
    ]
    for (regime, m), rows in sorted(
        cells.items(), key=lambda kv: (REGIMES.index(kv[0][0]), kv[0][1])
    ):
        keys = ["nanmean", "mean_truth", *(f"{s}_{k}" for s in ("rmse", "mean") for k in FILLS)]
        mean = {key: float(np.mean([row[key] for row in rows])) for key in keys}
        values = [
            *(mean[f"rmse_{k}"] for k in FILLS),
            mean["nanmean"],
            *(mean[f"mean_{k}"] for k in FILLS),
            mean["mean_truth"],
        ]
        lines.append(f"| {regime} | {m} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    return lines


if __name__ == "__main__":
    main()
