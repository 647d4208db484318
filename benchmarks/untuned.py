"""Data the defaults were not tuned on: scikit-learn's digits, each digit against the rest.

``benchmarks/accuracy.py`` chose the defaults (among them ``aggregator_shrinkage=0.1``) on
eight small imbalanced sets whose base models are of similar quality. This script checks
them where that does not hold: the ten "digit k vs rest" problems of
``sklearn.datasets.load_digits`` (1,797 rows, about 10 % positives, shipped with
scikit-learn), six base models of different families (``_common.six_classifiers``, those of
``benchmarks/accuracy_multiclass.py``: logistic regression, naive Bayes, 15 nearest
neighbours, a depth-5 tree, a random forest, a small MLP), out-of-fold probabilities on a
75 % pool and refitted ones on the 25 % held out. Per digit and seed (split, models,
labels, mask), 5 %, 20 % and 50 % of the pool labeled (at least 2 per class; other
budgets with ``--budgets``), complete ``P`` and 30 % of it missing at random; held-out
PR-AUC with tied scores averaged, and the Brier score (its mean and its ratio to LR
stacking's).

Methods: the mean of the available predictions, LR stacking on column-mean-imputed ``P``,
the default ``CFEnsembleClassifier``, and the variants given with ``--variant
name='{json params}'`` (by default ``shrinkage_target="equal"`` and ``"consensus"``, the
defaults before the separation target, ``aggregator_shrinkage="auto"`` and 0).

Written to ``results/untuned.md`` (and ``.json``; another name with ``--output``). Usage::

    python benchmarks/untuned.py                   # about 2-4 min on 2 cores
    python benchmarks/untuned.py --budgets 0.01 0.02 0.05 \
        --variant l2_0001='{"aggregator_l2": 0.001}' --output untuned_l2
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from _common import (
    RESULTS,
    TIE,
    apply_regime,
    budget_rows,
    classifier,
    git_commit,
    six_classifiers,
)
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import cross_val_predict, train_test_split

from cfensemble.metrics import tie_averaged_precision

BUDGETS = (0.05, 0.2, 0.5)
REGIMES = {"complete": 0.0, "mcar 30%": 0.3}
DEFAULT_VARIANTS = {
    "equal": {"shrinkage_target": "equal"},
    "consensus": {"shrinkage_target": "consensus"},
    "auto": {"aggregator_shrinkage": "auto"},
    "s0": {"aggregator_shrinkage": 0.0},
}


def probabilities(X, y, seed):
    """Out-of-fold P on the pool, refitted P on the held-out rows."""
    Xp, Xh, yp, yh = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    models = six_classifiers(seed).values()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Pp = np.column_stack(
            [cross_val_predict(m, Xp, yp, cv=5, method="predict_proba")[:, 1] for m in models]
        )
        Ph = np.column_stack([m.fit(Xp, yp).predict_proba(Xh)[:, 1] for m in models])
    return Pp, yp, Ph, yh


def problems(seeds, budgets=BUDGETS, log=None):
    """Per digit k, seed, regime and budget ``(k, seed, regime, budget, P_pool, y_pool,
    P_held, y_held, labeled)``; ``log(k)`` is called after each digit."""
    X, digit = load_digits(return_X_y=True)
    for k in range(10):
        y = (digit == k).astype(int)
        for seed in range(seeds):
            Pp_full, yp, Ph_full, yh = probabilities(X, y, seed)
            for regime, rate in REGIMES.items():
                rng = np.random.default_rng([seed, k, round(rate * 100)])
                Pp, Ph = apply_regime(
                    "mcar" if rate else "complete", Pp_full, Ph_full, None, None, rng
                )
                for budget in budgets:
                    labeled = budget_rows(yp, seed, budget)
                    yield k, seed, regime, budget, Pp, yp, Ph, yh, labeled
        if log is not None:
            log(k)


def scores(Pp, yp, Ph, yh, labeled, seed, variants) -> dict:
    y_semi = np.full(yp.size, -1)
    y_semi[labeled] = yp[labeled]
    means = np.nanmean(Pp, axis=0)
    Ip, Ih = (np.where(np.isnan(P), means, P) for P in (Pp, Ph))
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["nanmean"] = np.nanmean(Ph, axis=1)
        lr = LogisticRegression(max_iter=5000).fit(Ip[labeled], yp[labeled])
        out["LR·imp"] = lr.predict_proba(Ih)[:, 1]
        for name, params in {"default": {}, **variants}.items():
            est = classifier(params, random_state=seed).fit(Pp, y_semi)
            out[name] = est.predict_proba(Ph)[:, 1]
            if "aggregator_shrinkage_" in vars(est):
                out[f"{name}:shrinkage"] = est.aggregator_shrinkage_
    result = {}
    for k, v in out.items():
        if k.endswith(":shrinkage"):
            result[k] = v
        else:
            result[k] = tie_averaged_precision(yh, v)
            result[f"{k}:brier"] = brier_score_loss(yh, v)
    result["labeled positives"] = int(yp[labeled].sum())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=None, metavar="NAME=JSON")
    parser.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS))
    parser.add_argument("--output", default="untuned", help="results/<OUTPUT>.md and .json")
    args = parser.parse_args()
    variants = DEFAULT_VARIANTS
    if args.variant:
        variants = {v.split("=", 1)[0]: json.loads(v.split("=", 1)[1]) for v in args.variant}
    start = time.perf_counter()
    runs = []

    def log(k):
        print(f"[{time.perf_counter() - start:5.0f} s] digit {k}", flush=True)

    for k, seed, regime, budget, Pp, yp, Ph, yh, labeled in problems(
        args.seeds, args.budgets, log
    ):
        s = scores(Pp, yp, Ph, yh, labeled, seed, variants)
        runs.append(dict(digit=k, seed=seed, regime=regime, budget=budget, **s))
    text = render(runs, variants, args, time.perf_counter() - start)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.output}.json").write_text(json.dumps(runs, indent=1))
    (RESULTS / f"{args.output}.md").write_text(text + "\n")
    print(text)


def render(runs, variants, args, seconds) -> str:
    methods = ["nanmean", "LR·imp", "default", *variants]
    lines = [
        f"Digit k vs rest (k = 0..9) x {args.seeds} seeds, held-out PR-AUC with tied scores "
        f"averaged (`python benchmarks/untuned.py{_arguments(args)}`, {seconds / 60:.1f} min, "
        f"{git_commit()}). Variants: "
        + "; ".join(f"`{n}` = `{json.dumps(p)}`" for n, p in variants.items())
        + f". W/T/L: paired wins/ties/losses against the default (tie: within {TIE}); "
        "chosen: how often each shrinkage was used, where the variant reports one.",
        "",
        "| P | labeled | "
        + " | ".join(methods)
        + " | "
        + " | ".join(f"{n} W/T/L" for n in variants)
        + " | chosen |",
        "|---|---|" + "---|" * (len(methods) + len(variants) + 1),
    ]
    for regime in REGIMES:
        for budget in args.budgets:
            rows = [r for r in runs if r["regime"] == regime and r["budget"] == budget]
            mean = {m: float(np.mean([r[m] for r in rows])) for m in methods}
            best = max(mean.values())
            cells = [
                f"**{mean[m]:.4f}**" if mean[m] == best else f"{mean[m]:.4f}" for m in methods
            ]
            wtl = []
            for n in variants:
                d = np.array([r[n] - r["default"] for r in rows])
                wtl.append(f"{(d > TIE).sum()}/{(np.abs(d) <= TIE).sum()}/{(d < -TIE).sum()}")
            chosen = []
            for n in variants:
                values = [r[f"{n}:shrinkage"] for r in rows if f"{n}:shrinkage" in r]
                if values and variants[n].get("aggregator_shrinkage") == "auto":
                    u, c = np.unique(values, return_counts=True)
                    chosen.append(
                        f"{n}: " + ", ".join(f"{a:g} ×{b}" for a, b in zip(u, c, strict=True))
                    )
            lines.append(
                f"| {regime} | {budget:.0%} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(wtl)
                + f" | {'; '.join(chosen)} |"
            )
    lines += [
        "",
        "Brier score (held-out; mean over digits and seeds), in brackets its ratio to LR·imp's;"
        " labeled positives: their median (range) in the pool's labeled rows.",
        "",
        "| P | labeled | labeled positives | " + " | ".join(methods) + " |",
        "|---|---|---|" + "---|" * len(methods),
    ]
    for regime in REGIMES:
        for budget in args.budgets:
            rows = [r for r in runs if r["regime"] == regime and r["budget"] == budget]
            brier = {m: float(np.mean([r[f"{m}:brier"] for r in rows])) for m in methods}
            positives = [r["labeled positives"] for r in rows]
            lines.append(
                f"| {regime} | {budget:.0%} | {np.median(positives):g} "
                f"({min(positives)}–{max(positives)}) | "
                + " | ".join(
                    f"{brier[m]:.4f} ({brier[m] / brier['LR·imp']:.2f}×)" for m in methods
                )
                + " |"
            )
    return "\n".join(lines)


def _arguments(args) -> str:
    """The command-line arguments that differ from the defaults, for the table's caption."""
    parts = []
    if args.seeds != 3:
        parts.append(f"--seeds {args.seeds}")
    if list(args.budgets) != list(BUDGETS):
        parts.append("--budgets " + " ".join(f"{b:g}" for b in args.budgets))
    for v in args.variant or []:
        name, params = v.split("=", 1)
        parts.append(f"--variant {name}='{params}'")
    if args.output != "untuned":
        parts.append(f"--output {args.output}")
    return "".join(" " + p for p in parts)


if __name__ == "__main__":
    main()
