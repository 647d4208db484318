"""Command-line interface: ``cfensemble demo | fit | predict | report``.

``fit`` reads a CSV or Parquet file with one probability column per base classifier and a
label column (1/0; empty or -1 = unlabeled), fits, and writes a model file (see
:mod:`cfensemble.io`) and a predictions file for every row. ``predict`` folds new rows in;
``report`` writes a Markdown report with figures. Every estimator option of ``fit`` comes
from :class:`CFEnsembleClassifier`'s parameters.
"""

from __future__ import annotations

import argparse
import csv
import sys
from numbers import Integral
from pathlib import Path

import numpy as np


class CLIError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _metrics(y, p) -> tuple[float, float, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    return average_precision_score(y, p), roc_auc_score(y, p), brier_score_loss(y, p)


def demo(args: argparse.Namespace) -> int:
    """Held-out comparison of the default estimator with the baselines (see cfensemble._demo)."""
    from . import _demo, make_ensemble_problem

    _demo.run(
        n_samples=args.n_samples,
        n_classifiers=args.n_classifiers,
        positive_rate=args.positive_rate,
        labeled_fraction=args.labeled_fraction,
        seed=args.seed,
    )
    if args.save_csv:
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
        train, test = f"{args.save_csv}-train.csv", f"{args.save_csv}-test.csv"
        _write_table(train, P, np.where(labeled, y, -1), names)
        _write_table(test, P[~labeled], y[~labeled], names)
        print(f"wrote {train} (labels of the unlabeled rows blanked) and {test} (those rows)")
    return 0


def _write_table(path, P, y, names) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, "y"])
        for row, label in zip(P, y, strict=True):
            cells = ["" if np.isnan(v) else f"{v:.6f}" for v in row]
            writer.writerow([*cells, "" if label == -1 else int(label)])


def _best_column(P, y) -> int:
    from sklearn.metrics import average_precision_score

    return int(np.argmax([average_precision_score(y, P[:, u]) for u in range(P.shape[1])]))


# ---------------------------------------------------------------- reading tables


def read_table(path) -> tuple[list[str], dict[str, list]]:
    """Columns of a CSV or Parquet file as lists of raw values, keyed by column name."""
    path = Path(path)
    if not path.exists():
        raise CLIError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows:
            raise CLIError(f"{path}: the file is empty.")
        header, body = rows[0], rows[1:]
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise CLIError(f"{path}: repeated column names {repeated}; names must be unique.")
        for k, row in enumerate(body, start=2):
            if len(row) != len(header):
                raise CLIError(
                    f"{path}: line {k} has {len(row)} fields but the header has {len(header)}."
                )
        return header, {name: [row[j] for row in body] for j, name in enumerate(header)}
    if suffix in (".parquet", ".pq"):
        try:
            import pandas as pd
        except ImportError:
            raise CLIError(
                "reading Parquet needs pandas and pyarrow: pip install pandas pyarrow"
            ) from None
        frame = pd.read_parquet(path)
        header = [str(c) for c in frame.columns]
        return header, {str(c): frame[c].tolist() for c in frame.columns}
    raise CLIError(f"{path}: unknown file type {suffix or '(none)'!r}; use .csv or .parquet.")


def _missing(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or str(value).strip() in ("", "nan", "NaN", "NA")
    )


def probability_matrix(path, table, columns) -> np.ndarray:
    """The classifier columns as a float matrix; empty cells are missing predictions (NaN)."""
    header, data = table
    P = np.empty((len(data[header[0]]) if header else 0, len(columns)))
    for j, name in enumerate(columns):
        if name not in data:
            raise CLIError(f"{path}: no column {name!r}; the columns are {header}.")
        for i, value in enumerate(data[name]):
            if _missing(value):
                P[i, j] = np.nan
                continue
            try:
                P[i, j] = float(value)
            except (TypeError, ValueError):
                raise CLIError(
                    f"{path}: column {name!r}, row {i + 1}: {value!r} is not a number."
                ) from None
            if not 0.0 <= P[i, j] <= 1.0:
                raise CLIError(
                    f"{path}: column {name!r}, row {i + 1}: {P[i, j]:g} is not a probability "
                    "in [0, 1]."
                )
    return P


def label_vector(path, table, column) -> np.ndarray:
    """Labels 0/1, with -1 for an empty cell or -1 (unlabeled)."""
    header, data = table
    if column not in data:
        raise CLIError(f"{path}: no label column {column!r}; the columns are {header}.")
    y = np.empty(len(data[column]))
    for i, value in enumerate(data[column]):
        if _missing(value):
            y[i] = -1
            continue
        try:
            y[i] = float(value)
        except (TypeError, ValueError):
            y[i] = np.nan
        if y[i] not in (0, 1, -1):
            raise CLIError(
                f"{path}: column {column!r}, row {i + 1}: {value!r} is not a label "
                "(1, 0, or empty / -1 for unlabeled)."
            )
    return y


def write_predictions(path, probability, labels=None) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["row", "label", "probability"] if labels is not None else ["row", "probability"]
        )
        for i, p in enumerate(probability):
            if labels is None:
                writer.writerow([i, f"{p:.10g}"])
            else:
                label = "" if labels[i] == -1 else int(labels[i])
                writer.writerow([i, label, f"{p:.10g}"])


# ---------------------------------------------------------------- estimator options


def _estimator_options(parser: argparse.ArgumentParser) -> list[str]:
    """Add one option per CFEnsembleClassifier parameter; returns the parameter names."""
    import inspect

    from sklearn.utils._param_validation import Interval, StrOptions

    from . import CFEnsembleClassifier

    group = parser.add_argument_group("estimator options (CFEnsembleClassifier parameters)")
    names = []
    constraints = CFEnsembleClassifier._parameter_constraints
    for name, param in inspect.signature(CFEnsembleClassifier.__init__).parameters.items():
        if name in ("self", "verbose"):
            continue
        default = param.default
        flag = "--" + name.replace("_", "-")
        options = [c for c in constraints.get(name, []) if isinstance(c, StrOptions)]
        numeric = any(isinstance(c, Interval) for c in constraints.get(name, []))
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif options and numeric:  # a number or a keyword such as "auto"
            kind = int if isinstance(default, int) else float
            group.add_argument(
                flag,
                type=_number_or(sorted(options[0].options), kind),
                default=default,
                metavar=f"{kind.__name__.upper()}|{'|'.join(sorted(options[0].options))}",
            )
        elif options:
            group.add_argument(flag, choices=sorted(options[0].options), default=default)
        else:
            integral = (
                any(
                    isinstance(c, Interval) and c.type is Integral
                    for c in constraints.get(name, [])
                )
                or name == "random_state"
                or isinstance(default, int)
            )
            group.add_argument(
                flag,
                type=int if integral else float,
                default=default,
                metavar="INT" if integral else "FLOAT",
            )
        names.append(name)
    return names


def _number_or(words, kind):
    def convert(text):
        if text in words:
            return text
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a {kind.__name__} or one of {words}; got {text!r}"
            ) from None

    return convert


class _ProgressBar:
    """``callback(iteration, losses)`` of the estimator, drawn as a bar on stderr.

    Redrawn at most every 0.2 s, with the elapsed time; when stderr is not a terminal (a
    log file), only the last state is written, once, at the end.
    """

    def __init__(self, total: int):
        import time

        self.total = total
        self.clock = time.monotonic
        self.start = self.last = self.clock()
        self.tty = sys.stderr.isatty()
        self.line = ""

    def __call__(self, iteration: int, losses) -> None:
        width = 30
        done = int(width * min(iteration, self.total) / self.total)
        self.line = (
            f"[{'#' * done}{' ' * (width - done)}] {iteration}/{self.total} objective "
            f"{losses[0]:.5g} ({self.clock() - self.start:.1f} s)"
        )
        if self.tty and self.clock() - self.last >= 0.2:
            self.last = self.clock()
            sys.stderr.write("\r" + self.line)
            sys.stderr.flush()

    def close(self) -> None:
        if self.line:
            sys.stderr.write(("\r" if self.tty else "") + self.line + "\n")
            sys.stderr.flush()


# ---------------------------------------------------------------- commands


def _refuse_overwriting(source, **outputs) -> None:
    """A CLIError when an output path names the input file (it would be overwritten)."""
    for option, target in outputs.items():
        if target is not None and Path(target).resolve() == Path(source).resolve():
            raise CLIError(f"--{option} {target} is the input file; it would be overwritten.")


def fit_command(args: argparse.Namespace) -> int:
    from . import CFEnsembleClassifier

    _refuse_overwriting(args.predictions, model=args.model, output=args.output)
    if args.classifier_columns and args.label_column in args.classifier_columns:
        raise CLIError(
            f"--classifier-columns names the label column {args.label_column!r}: its values "
            "would leak the labels into P."
        )

    table = read_table(args.predictions)
    header = table[0]
    if args.label_column not in header:
        raise CLIError(
            f"{args.predictions}: no label column {args.label_column!r}; the columns are {header}."
        )
    columns = args.classifier_columns or [c for c in header if c != args.label_column]
    if not columns:
        raise CLIError(f"{args.predictions}: no classifier columns besides {args.label_column!r}.")
    P = probability_matrix(args.predictions, table, columns)
    y = label_vector(args.predictions, table, args.label_column)
    params = {name: getattr(args, name) for name in args.estimator_params}
    clf = CFEnsembleClassifier(**params)
    bar = None
    if not args.quiet:
        bar = _ProgressBar(clf.max_epochs if clf.solver == "torch" else clf.max_iter)
        clf.set_params(callback=bar)
    try:
        clf.fit(P, y)
    except ValueError as exc:
        raise CLIError(f"{args.predictions}: {exc}") from None
    finally:
        if bar is not None:
            bar.close()
    clf.set_params(callback=None)  # a model file holds no callable
    clf.save(
        args.model, metadata={"classifier_columns": columns, "label_column": args.label_column}
    )
    output = args.output or Path(args.model).with_suffix(".predictions.csv")
    write_predictions(output, clf.transduction_, y)
    if not args.quiet:
        print(
            f"fitted {len(columns)} classifiers on {len(y)} rows ({int((y != -1).sum())} labeled) "
            f"in {clf.n_iter_} iterations; model: {args.model}; predictions: {output}"
        )
    return 0


def _load(path):
    from .io import load_model

    try:
        return load_model(path)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None


def predict_command(args: argparse.Namespace) -> int:
    _refuse_overwriting(args.new_predictions, output=args.output)
    clf = _load(args.model)
    table = read_table(args.new_predictions)
    columns = clf.model_metadata_.get("classifier_columns")
    if columns is None:  # a model saved from Python: its column names, or every column
        names = getattr(clf, "feature_names_in_", None)
        columns = [str(c) for c in names] if names is not None else list(table[0])
        if len(columns) != clf.n_features_in_:
            raise CLIError(
                f"{args.new_predictions}: the model was fitted on {clf.n_features_in_} "
                f"classifiers and records no column names; the file has {len(columns)} columns."
            )
    P = probability_matrix(args.new_predictions, table, columns)
    try:
        proba = clf.predict_proba(P)[:, 1]
    except ValueError as exc:
        raise CLIError(f"{args.new_predictions}: {exc}") from None
    write_predictions(args.output, proba)
    return 0


def report_command(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .plotting import write_report

    clf = _load(args.model)
    columns = clf.model_metadata_.get("classifier_columns")
    P = y = None
    if args.labels:
        table = read_table(args.labels)
        label_column = args.label_column or clf.model_metadata_.get("label_column", "y")
        P = probability_matrix(args.labels, table, columns)
        y = label_vector(args.labels, table, label_column)
        if not ((y == 1).any() and (y == 0).any()):
            raise CLIError(
                f"{args.labels}: the precision-recall figure needs labeled rows of both classes."
            )
    path = write_report(clf, args.output, names=columns, P=P, y=y)
    print(f"report: {path}")
    return 0


def _version() -> str:
    from . import __version__

    return __version__


def _bounded(kind, low, high):
    """An argparse type: ``kind`` within [low, high] (None: unbounded), else a clear error."""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {bounds}")
        return value

    return convert


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfensemble", description="Ensemble learning by collaborative filtering."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p_demo = sub.add_parser("demo", help="fit on generated data and compare with baselines")
    p_demo.add_argument("--n-samples", type=_bounded(int, 100, None), default=3000)
    p_demo.add_argument("--n-classifiers", type=_bounded(int, 3, 200), default=10)
    p_demo.add_argument("--positive-rate", type=_bounded(float, 0.005, 0.5), default=0.05)
    p_demo.add_argument("--labeled-fraction", type=_bounded(float, 0.01, 1.0), default=0.3)
    p_demo.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0)
    p_demo.add_argument(
        "--save-csv",
        metavar="PREFIX",
        help="also write PREFIX-train.csv and PREFIX-test.csv: sample files for `fit`",
    )
    p_demo.set_defaults(func=demo)

    p_fit = sub.add_parser("fit", help="fit on a file of base-classifier probabilities")
    p_fit.add_argument("predictions", help="CSV or Parquet: probability columns + label column")
    p_fit.add_argument("--label-column", required=True, help="1/0; empty or -1 = unlabeled")
    p_fit.add_argument("--classifier-columns", nargs="+", help="default: every other column")
    p_fit.add_argument("--model", required=True, help="model file to write (e.g. out.cfe)")
    p_fit.add_argument(
        "-o", "--output", help="predictions for every row (default: MODEL.predictions.csv)"
    )
    p_fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p_fit.set_defaults(func=fit_command, estimator_params=_estimator_options(p_fit))

    p_predict = sub.add_parser("predict", help="fold new rows into a fitted model")
    p_predict.add_argument("--model", required=True)
    p_predict.add_argument("new_predictions", help="CSV or Parquet with the model's columns")
    p_predict.add_argument("-o", "--output", required=True, help="CSV to write")
    p_predict.set_defaults(func=predict_command)

    p_report = sub.add_parser("report", help="Markdown report with figures")
    p_report.add_argument("--model", required=True)
    p_report.add_argument("--labels", help="CSV/Parquet with the classifier columns and labels")
    p_report.add_argument("--label-column", help="default: the one used in fit")
    p_report.add_argument("-o", "--output", required=True, help="directory to write")
    p_report.set_defaults(func=report_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"cfensemble {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
