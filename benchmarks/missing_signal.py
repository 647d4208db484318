"""Does the missingness pattern carry signal an aggregator could use at these label budgets?

A direction for the missing-prediction regimes (issue 9): the regimes ``unsure`` and
``blocks`` make the *absence* of a prediction informative (an unsure classifier, a segment
of the feature space). On the splits, masks and label budgets of ``benchmarks/accuracy.py``
(8 data sets, 5 repeats, m base models, held-out rows scored), fit the default
``CFEnsembleClassifier`` and then class-balanced logistic regressions on the labeled pool
rows with three inputs:

- ``LR(A)``: ``A`` = the observed predictions, the default model's fill-in where missing
  (the default aggregator's input);
- ``LR(A, frac)``: plus the row's fraction of missing predictions;
- ``LR(A, mask)``: plus the m missing-indicator columns.

If the missingness features helped a linear aggregator, ``LR(A, ·)`` would beat ``LR(A)``.
Printed and written to ``results/missing_signal.md``: mean held-out PR-AUC per regime and
label budget, next to the default estimator and the mean of the available predictions.

Usage::

    python benchmarks/missing_signal.py            # m = 10, about 5 min on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import sys
import warnings

import accuracy as acc
import numpy as np
from sklearn.linear_model import LogisticRegression

HERE = pathlib.Path(__file__).parent
COLUMNS = {
    "default": "cfensemble (default)",
    "nanmean": "nanmean",
    "lr_A": "LR(A)",
    "lr_A_frac": "LR(A, frac)",
    "lr_A_mask": "LR(A, mask)",
}


def one_condition(Pp, Ph, y_pool, y_held, labeled, seed) -> dict:
    from cfensemble import CFEnsembleClassifier

    y_train = np.full(y_pool.size, -1)
    y_train[labeled] = y_pool[labeled]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=seed).fit(Pp, y_train)
        scores = {"default": clf.predict_proba(Ph)[:, 1], "nanmean": np.nanmean(Ph, axis=1)}
    Ap, Ah = clf.impute(Pp), clf.impute(Ph)
    inputs = {
        "lr_A": (Ap, Ah),
        "lr_A_frac": (np.c_[Ap, np.isnan(Pp).mean(1)], np.c_[Ah, np.isnan(Ph).mean(1)]),
        "lr_A_mask": (np.c_[Ap, np.isnan(Pp)], np.c_[Ah, np.isnan(Ph)]),
    }
    for name, (Fp, Fh) in inputs.items():
        lr = LogisticRegression(class_weight="balanced", max_iter=2000)
        scores[name] = lr.fit(Fp[labeled], y_pool[labeled]).decision_function(Fh)
    return {name: acc.fast_average_precision(y_held, s) for name, s in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    regimes, budgets = ("mcar", "unsure", "blocks", "k_of_m"), (0.05, 0.2)
    runs = []

    def log(name, r):
        print(f"{name} repeat {r}", file=sys.stderr, flush=True)

    for name, r, _, regime, Pp, y_pool, Ph, y_held in acc.replay(
        [args.m], regimes, args.repeats, log
    ):
        for b in budgets:
            scores = one_condition(Pp, Ph, y_pool, y_held, acc.budget_rows(y_pool, r, b), r)
            runs.append({"dataset": name, "repeat": r, "regime": regime, "budget": b, **scores})
    cells = collections.defaultdict(list)
    for run in runs:
        cells[(run["regime"], run["budget"])].append(run)
    lines = [
        f"Held-out PR-AUC, mean over {len(acc.DATASETS)} data sets x {args.repeats} repeats, "
        f"m = {args.m} (`python benchmarks/missing_signal.py --m {args.m}`):",
        "",
        "| regime | labeled | " + " | ".join(COLUMNS.values()) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for (regime, b), rows in cells.items():
        means = [np.mean([row[c] for row in rows]) for c in COLUMNS]
        lines.append(f"| {regime} | {b:.0%} | " + " | ".join(f"{v:.3f}" for v in means) + " |")
    text = "\n".join(lines)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"missing_signal_m{args.m}.json").write_text(json.dumps(runs, indent=1))
    (HERE / "results" / f"missing_signal_m{args.m}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
