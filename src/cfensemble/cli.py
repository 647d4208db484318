"""Command-line interface: ``cfensemble demo``."""

from __future__ import annotations

import argparse
import sys

import numpy as np


def _metrics(y, p) -> tuple[float, float, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    return average_precision_score(y, p), roc_auc_score(y, p), brier_score_loss(y, p)


def demo(args: argparse.Namespace) -> int:
    """Fit on a generated imbalanced problem and compare with the simple average."""
    from . import CFEnsembleClassifier, make_ensemble_problem

    rng = np.random.default_rng(args.seed)
    quality = np.linspace(0.35, 0.75, args.n_classifiers)
    P, y = make_ensemble_problem(
        n_samples=args.n_samples,
        n_classifiers=args.n_classifiers,
        positive_rate=args.positive_rate,
        base_quality=quality,
        error_correlation=0.5,
        random_state=args.seed,
    )
    labeled = rng.random(y.size) < args.labeled_fraction
    y_train = np.where(labeled, y, -1)
    clf = CFEnsembleClassifier(random_state=args.seed).fit(P, y_train)
    test = ~labeled
    rows = [
        ("simple average", P[test].mean(axis=1)),
        ("best single (on labeled rows)", P[test, _best_column(P[labeled], y[labeled])]),
        ("CFEnsembleClassifier", clf.transduction_[test]),
    ]
    print(
        f"cfensemble demo: {args.n_samples} instances, {args.n_classifiers} classifiers, "
        f"{args.positive_rate:.0%} positives, {labeled.sum()} labeled rows; metrics on the "
        f"{test.sum()} unlabeled rows (transductive), seed {args.seed}"
    )
    print(f"{'method':<32}{'PR-AUC':>8}{'ROC-AUC':>9}{'Brier':>8}")
    for name, p in rows:
        pr, roc, brier = _metrics(y[test], p)
        print(f"{name:<32}{pr:>8.3f}{roc:>9.3f}{brier:>8.3f}")
    d = clf.diagnostics_
    print(
        f"aggregator weights: min {d['weight_min']:.3f}, max {d['weight_max']:.3f}, "
        f"sum {d['weight_sum']:.3f}; {clf.n_iter_} ALS iterations"
    )
    return 0


def _best_column(P, y) -> int:
    from sklearn.metrics import average_precision_score

    return int(np.argmax([average_precision_score(y, P[:, u]) for u in range(P.shape[1])]))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfensemble", description="Ensemble learning by collaborative filtering."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="fit on generated data and compare with baselines")
    p_demo.add_argument("--n-samples", type=int, default=3000)
    p_demo.add_argument("--n-classifiers", type=int, default=10)
    p_demo.add_argument("--positive-rate", type=float, default=0.05)
    p_demo.add_argument("--labeled-fraction", type=float, default=0.3)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.set_defaults(func=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
