"""``aggregator_l2`` on the package's generator: PR-AUC and Brier score against LR stacking.

The accuracy benchmark's variants (``accuracy.py --variant l2_003='{"aggregator_l2":
0.003}'``, results ``accuracy_l2.md`` and ``accuracy_l2b.md``) show a stronger penalty on
the aggregator calibrating better on real data with few labeled positives. This script
checks the other side: :func:`cfensemble.make_ensemble_problem` (6,000 rows, 5 %
positives, error correlation 0.5; base quality 0.7 for all or drawn from U(0.3, 0.9);
m = 10 and 20; complete or 30 % missing at random; 5 % or 20 % of the first 3,000 rows
labeled), scored on the other 3,000 rows (held-out, fold-in). Per cell: mean PR-AUC
(ties averaged) and the mean Brier score as a multiple of LR stacking's (on column-mean
imputed ``P``), for each ``aggregator_l2`` ("auto", the default, and numbers).

Usage::

    python benchmarks/aggregator_l2.py            # about 3 min on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import time
import warnings

import accuracy as acc
import numpy as np
from shrinkage_target import generator_problems, semi
from sklearn.linear_model import LogisticRegression

from cfensemble import CFEnsembleClassifier
from cfensemble.metrics import tie_averaged_precision

HERE = pathlib.Path(__file__).parent


def cells(seeds: int, l2s):
    """The generator problems of ``shrinkage_target.py --data generator``, scored."""
    for seed, quality, _, rate, budget, P, y, labeled in generator_problems(seeds):
        key = (quality, "mcar 30%" if rate else "complete", budget)
        yield key, scores(P, y, labeled, seed, l2s)


def scores(P, y, labeled, seed, l2s) -> dict:
    y_train, y_held = semi(y[:3000], labeled), y[3000:]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for l2 in l2s:
            clf = CFEnsembleClassifier(random_state=seed, aggregator_l2=l2)
            out[l2] = clf.fit(P[:3000], y_train).predict_proba(P[3000:])[:, 1]
    filled = np.where(np.isnan(P), np.nanmean(P[:3000], axis=0), P)
    lr = LogisticRegression(max_iter=5000).fit(filled[labeled], y[labeled])
    out["LR"] = lr.predict_proba(filled[3000:])[:, 1]
    return {
        k: (tie_averaged_precision(y_held, p), float(np.mean((p - y_held) ** 2)))
        for k, p in out.items()
    }


def _l2(text: str) -> str | float:
    return text if text == "auto" else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument(
        "--l2", type=_l2, nargs="+", default=["auto", 1e-3, 3e-3, 1e-2], help='"auto" or numbers'
    )
    args = parser.parse_args()
    start = time.perf_counter()
    runs = collections.defaultdict(list)
    for key, s in cells(args.seeds, args.l2):
        runs[key].append(s)
    head = [f"PR-AUC l2={v}" for v in args.l2] + ["PR-AUC LR"]
    head += [f"Brier ratio l2={v}" for v in args.l2]
    lines = [
        f"Generator, held-out rows, mean over {args.seeds} seeds x m = 10, 20 "
        f"(`python benchmarks/aggregator_l2.py`, {(time.perf_counter() - start) / 60:.1f} "
        f"min, {acc._commit()}). Brier ratio: the mean Brier score over LR stacking's.",
        "",
        "| quality | P | labeled | " + " | ".join(head) + " |",
        "|---|---|---|" + "---|" * len(head),
    ]
    for (quality, regime, budget), rows in sorted(runs.items()):
        pr = [np.mean([r[k][0] for r in rows]) for k in [*args.l2, "LR"]]
        lr_brier = np.mean([r["LR"][1] for r in rows])
        brier = [np.mean([r[k][1] for r in rows]) / lr_brier for k in args.l2]
        lines.append(
            f"| {quality} | {regime} | {budget:.0%} | "
            + " | ".join([*(f"{v:.4f}" for v in pr), *(f"{v:.2f}" for v in brier)])
            + " |"
        )
    text = "\n".join(lines)
    (HERE / "results" / "aggregator_l2_generator.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
