"""``cfensemble demo``: fit on generated data and compare with the baselines, held out
(:mod:`cfensemble._demo`); ``--save-csv`` also writes sample files for ``fit``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._files import CLIError, _Outputs, check_output
from ._tables import _labels_column, _table_writer


def _bounded(kind, low, high):
    """An argparse type: ``kind`` within [low, high] (None: unbounded), else a clear error."""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {bounds}")
        return value

    return convert


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("demo", help="fit on generated data and compare with baselines")
    options = [
        ("--n-samples", _bounded(int, 100, 1_000_000), 3000, "rows generated (100 to 10^6)"),
        ("--n-classifiers", _bounded(int, 3, 200), 10, "base classifiers, columns of P"),
        ("--positive-rate", _bounded(float, 0.005, 0.5), 0.05, "share of positive rows"),
        (
            "--labeled-fraction",
            _bounded(float, 0.01, 1.0),
            0.3,
            "share of the training rows whose labels the fit sees",
        ),
        ("--seed", _bounded(int, 0, 2**32 - 1), 0, "seed of the data and the fits"),
    ]
    for flag, kind, default, text in options:
        parser.add_argument(flag, type=kind, default=default, help=f"{text} (default: {default})")
    parser.add_argument(
        "--save-csv",
        metavar="PREFIX",
        help=(
            "also write PREFIX-train.csv and PREFIX-test.csv, sample files for `fit` (a "
            "simpler problem than the comparison's: complete predictions, every row in "
            "train with the labels beyond --labeled-fraction blanked, those rows with "
            "their labels in test)"
        ),
    )
    parser.set_defaults(func=demo, check=_check_demo, subparser=parser)
    return parser


def demo(args: argparse.Namespace) -> int:
    """Held-out comparison of the default estimator with the baselines (see cfensemble._demo)."""
    import numpy as np

    from .. import _demo
    from ..datasets import make_ensemble_problem

    prefix = None
    if args.save_csv:
        prefix = Path(args.save_csv)
        for part in ("train", "test"):
            check_output(prefix.parent / f"{prefix.name}-{part}.csv", "--save-csv")
    try:
        _demo.run(
            n_samples=args.n_samples,
            n_classifiers=args.n_classifiers,
            positive_rate=args.positive_rate,
            labeled_fraction=args.labeled_fraction,
            seed=args.seed,
        )
    except ValueError as exc:
        raise CLIError(
            f"the generated problem is too small for the demo ({exc}); raise --n-samples, "
            "--positive-rate or --labeled-fraction."
        ) from None
    if prefix is not None:
        P, y = make_ensemble_problem(
            n_samples=args.n_samples,
            n_classifiers=args.n_classifiers,
            positive_rate=args.positive_rate,
            base_quality=np.linspace(0.35, 0.75, args.n_classifiers),
            error_correlation=0.5,
            random_state=args.seed,
        )
        labeled = np.random.default_rng(args.seed).random(y.size) < args.labeled_fraction
        names = [f"model_{u}" for u in range(P.shape[1])]
        train = prefix.parent / f"{prefix.name}-train.csv"
        test = prefix.parent / f"{prefix.name}-test.csv"
        with _Outputs() as outputs:
            for path, rows, labels in (
                (train, slice(None), np.where(labeled, y, -1)),
                (test, ~labeled, y[~labeled]),
            ):
                columns = {name: P[rows, u] for u, name in enumerate(names)}
                columns["y"] = _labels_column(np.asarray(labels, dtype=float))
                outputs.stage(path, _table_writer(path, columns, "%.6f"))
            outputs.commit()
        print(f"wrote {train} (labels of the unlabeled rows blanked) and {test} (those rows)")
    return 0


def _check_demo(args: argparse.Namespace) -> str | None:
    """Arguments that are each valid but together leave the demo without enough data."""
    n, rate, fraction, m = (
        args.n_samples,
        args.positive_rate,
        args.labeled_fraction,
        (args.n_classifiers),
    )
    if n * rate < 10:
        return (
            f"--n-samples {n} with --positive-rate {rate} gives {n * rate:.3g} positives; the "
            "demo needs at least 10"
        )
    labeled = 0.7 * n * fraction  # 30 % of the rows are held out
    if labeled * rate < 3:
        return (
            f"--n-samples {n}, --positive-rate {rate} and --labeled-fraction {fraction} give "
            f"about {labeled * rate:.2g} labeled positives; the demo needs at least 3"
        )
    if labeled * 3 / m < 5:
        return (
            f"--n-samples {n} and --labeled-fraction {fraction} give about {labeled:.0f} "
            f"labeled rows for {m} classifiers; in the demo's 3-of-m regime each classifier "
            "needs at least 5 of them: raise --n-samples or lower --n-classifiers"
        )
    return None
