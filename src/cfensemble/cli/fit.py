"""``cfensemble fit``: fit on a table of base-classifier probabilities, write the model file
and the predictions of every row.

The estimator options are :class:`~cfensemble.CFEnsembleClassifier`'s parameters,
``--solver`` picks the trainer and the trainer options are its settings
(:mod:`cfensemble.cli._options`). A Parquet dataset (a pattern, a directory or
``--scheduler``) is fitted with dask (:mod:`cfensemble.cli._dask`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import _KNOWN, CLIError, _distinct, _Outputs, check_input, check_output
from ._options import (
    check_trainer_options,
    delimiter_option,
    estimator_options,
    scheduler_option,
    strict_option,
    trainer_of_options,
    trainer_options,
    with_callback,
)
from ._progress import _Progress, fit_with_progress, seed_line
from ._tables import (
    OTHER_COLUMN,
    _labels_column,
    _probability_columns,
    _table_writer,
    read_table,
)

if TYPE_CHECKING:
    import numpy as np

# the estimator and numpy are imported by the functions that use them: building the parser
# (cfensemble fit --help) imports neither scikit-learn nor numpy

# label cells that people use for "no label": named in the error when taken for a class
_LOOKS_UNLABELED = {"?", "na", "n/a", "nan", "none", "null", "unknown", "unlabeled", "-", "."}


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("fit", help="fit on a file of base-classifier probabilities")
    parser.add_argument(
        "predictions", help=f"probability columns + label column: {_KNOWN} (by suffix)"
    )
    parser.add_argument(
        "--label-column",
        required=True,
        help="the class of each row (numbers or names); empty or -1 = unlabeled",
    )
    parser.add_argument(
        "--classifier-columns",
        nargs="+",
        help="default: every other column; for more than two classes, one column per "
        "classifier and class named <classifier>__<class>",
    )
    parser.add_argument(
        "--sample-weight-column",
        help="a weight >= 0 per row: a row of weight k counts as k copies of it",
    )
    parser.add_argument(
        "--id-column", help="a row identifier, copied to the predictions file (not a classifier)"
    )
    parser.add_argument("--model", required=True, help="model file to write (e.g. out.cfe)")
    parser.add_argument(
        "-o",
        "--output",
        help="predictions for every row, with a 'labeled' column (1: the fit saw its label); "
        f"{_KNOWN} (default: MODEL.predictions.csv)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    delimiter_option(parser)
    strict_option(parser)
    scheduler_option(parser)
    parser.set_defaults(
        func=fit_command,
        check=check_trainer_options,
        subparser=parser,
        estimator_params=estimator_options(parser),
        trainer_settings=trainer_options(parser),
    )
    return parser


def _check_columns(args: argparse.Namespace) -> None:
    """The column options name distinct columns."""
    from ._columns import _check_id_column

    label = args.label_column
    if args.classifier_columns:
        repeated = sorted(
            {c for c in args.classifier_columns if args.classifier_columns.count(c) > 1}
        )
        if repeated:
            raise CLIError(f"--classifier-columns names {repeated} more than once.")
        if label in args.classifier_columns:
            raise CLIError(
                f"--classifier-columns names the label column {label!r}: its values "
                "would leak the labels into P."
            )
        _check_id_column(args.id_column, args.classifier_columns, "a classifier column")
        if args.sample_weight_column in args.classifier_columns:
            raise CLIError(
                f"--sample-weight-column {args.sample_weight_column!r} is also a classifier "
                "column."
            )
    if args.id_column == label:
        raise CLIError(f"--id-column {label!r} is also the label column.")
    if args.sample_weight_column is not None and args.sample_weight_column in (
        label,
        args.id_column,
    ):
        raise CLIError(
            f"--sample-weight-column {args.sample_weight_column!r} is also the label or ID column."
        )


def estimator_params(args: argparse.Namespace) -> tuple[dict, Any]:
    """The estimator's parameters from the options (``solver`` apart), checked, with a seed
    drawn when none was given (a run is repeatable: the seed is printed), and ``solver``."""
    import numpy as np

    from .._estimator import CFEnsembleClassifier

    params = {name: getattr(args, name) for name in args.estimator_params}
    solver = trainer_of_options(args)
    try:  # a bad option is its own error, before any file is read
        CFEnsembleClassifier(**params, solver=solver)._check_params()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if params["random_state"] is None:
        params["random_state"] = int(np.random.default_rng().integers(2**31))
    return params, solver


def _iterations(clf, progress) -> str:
    """The iterations run, as the progress bar counted them (K per-class factorizations:
    all of theirs, the longest named)."""
    if clf.multiclass_factorization_ == "per_class" and progress is not None:
        return (
            f"{progress.iteration} iterations over {len(clf.classes_)} per-class "
            f"factorizations (the longest {clf.n_iter_})"
        )
    return f"{clf.n_iter_} iterations"


def _positive_class(given: str | None, classes: np.ndarray):
    """``--positive-class`` as the label it names (a number for a numeric label column)."""
    if given is None:
        return None
    found = [c for c in classes.tolist() if str(c) == given.strip()]
    if classes.size != 2 or not found:
        raise CLIError(
            f"--positive-class {given!r} must be one of the two classes of the labeled rows; "
            f"they are {classes.tolist()}."
        )
    return found[0]


def progress_bar(args: argparse.Namespace, solver) -> _Progress | None:
    """The bar of the trainer's iterations (ALS) or epochs (autograd), unless --quiet."""
    if args.quiet:
        return None
    from .._solvers import SOLVERS

    trainer = SOLVERS[solver]() if isinstance(solver, str) else solver
    if trainer.kind == "torch":
        return _Progress(trainer.max_epochs, "epoch")
    return _Progress(trainer.max_iter, "it")


def fit_command(args: argparse.Namespace) -> int:
    import numpy as np

    from .._estimator import CFEnsembleClassifier
    from ..io import save_model
    from ..metrics import labeled_mask
    from ._columns import (
        _classes_of,
        _ids,
        _sample_weight,
        class_layout,
        label_vector,
        probability_matrix,
    )
    from ._dask import fit_dataset, is_dataset

    _check_columns(args)
    params, solver = estimator_params(args)
    progress = progress_bar(args, solver)
    if args.scheduler is not None or is_dataset(args.predictions):
        return fit_dataset(args, params, solver, progress)

    label = args.label_column
    source = check_input(args.predictions)
    model = check_output(args.model, "--model", [source])
    output = Path(args.output) if args.output else model.with_suffix(".predictions.csv")
    output = check_output(
        output, "-o" if args.output else "the predictions file", [source], table=True
    )
    _distinct(**{"--model": model, "-o": output})
    table = read_table(source, [args.id_column], args.delimiter, args.decimal)
    y = label_vector(table, label)
    weight = _sample_weight(table, args.sample_weight_column)
    ids = _ids(table, args.id_column)
    columns = args.classifier_columns or [
        c for c in table.names if c not in (label, args.id_column, args.sample_weight_column)
    ]
    if not columns:
        raise CLIError(f"{source}: no classifier columns besides {label!r}.")
    hint = "" if args.classifier_columns else OTHER_COLUMN
    classes = _classes_of(y)
    params["pos_label"] = _positive_class(params["pos_label"], classes)
    layout = class_layout(columns, classes)
    if layout is None and classes.size > 2:
        markers = [c for c in classes.tolist() if str(c).strip().lower() in _LOOKS_UNLABELED]
        unlabeled = (
            f" If {markers[0]!r} marks unlabeled rows: an unlabeled row's label is an empty "
            "cell or -1."
            if markers
            else ""
        )
        raise CLIError(
            f"{source}: the labels hold {classes.size} classes {classes[:5].tolist()}; give "
            "each classifier one column per class, named <classifier>__<class> (e.g. "
            f"rf__{classes[0]}), holding its class probabilities.{unlabeled}"
        )
    classifiers = columns if layout is None else layout[0]
    if layout is not None:
        columns = layout[1]
    P = probability_matrix(table, columns, hint)
    if layout is not None:
        P = P.reshape(len(table), len(classifiers), -1)
        # K >= 3 with ALS and rho = 1: one factorization per class, each up to max_iter
        per_class = P.shape[2] > 2 and args.solver == "als" and params["rho"] == 1.0
        if progress is not None and per_class:
            progress.total *= P.shape[2]
    clf = CFEnsembleClassifier(**params, solver=with_callback(solver, progress))
    fit_with_progress(clf, P, y, progress, source, weight, solver)
    metadata = {"classifier_columns": columns, "label_column": label}
    if args.id_column is not None:
        metadata["id_column"] = args.id_column
    if args.sample_weight_column is not None:
        metadata["sample_weight_column"] = args.sample_weight_column
    predictions = {
        **ids,
        "label": _labels_column(y),
        "labeled": labeled_mask(y).astype(np.int64),
        **_probability_columns(clf, clf.label_distributions_),
    }
    with _Outputs() as outputs:
        outputs.stage(model, lambda path: save_model(clf, path, metadata))
        outputs.stage(output, _table_writer(output, predictions))
        outputs.commit()
    if not args.quiet:
        print(
            f"fitted {len(classifiers)} classifiers on {len(y)} rows "
            f"({int(labeled_mask(y).sum())} labeled) "
            f"in {_iterations(clf, progress)}; model: {model}; predictions: {output} (column "
            "'labeled' marks the rows whose labels the fit saw)\n" + seed_line(clf)
        )
    return 0
