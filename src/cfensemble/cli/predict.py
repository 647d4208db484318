"""``cfensemble predict``: fold new rows into a fitted model and write their probabilities
(or, with ``--impute``, the model's classifier columns with the missing predictions filled
in)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ._files import _KNOWN, CLIError, _Outputs, check_input, check_output
from ._options import delimiter_option, scheduler_option, strict_option
from ._tables import _probability_columns, _table_writer, read_table


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("predict", help="fold new rows into a fitted model")
    parser.add_argument("--model", required=True, help="the model file written by fit")
    parser.add_argument("new_predictions", help=f"the model's columns: {_KNOWN}")
    parser.add_argument(
        "--id-column", help="copied to the output (default: fit's --id-column when present)"
    )
    parser.add_argument(
        "-o",
        "--output",
        help=f"file to write: {_KNOWN} (default: NAME.predictions.csv, or NAME.imputed.csv "
        "with --impute, next to the input NAME; required for a dataset)",
    )
    parser.add_argument(
        "--impute",
        action="store_true",
        help="write the model's classifier columns with each missing prediction filled in "
        "(the model's fill-in, what its aggregator reads) instead of probabilities",
    )
    delimiter_option(parser)
    strict_option(parser)
    scheduler_option(parser)
    parser.set_defaults(func=predict_command)
    return parser


def predict_command(args: argparse.Namespace) -> int:
    # imported here: building the parser (--help) imports neither numpy nor the estimator
    from ._columns import _check_id_column, _ids
    from ._dask import is_dataset, predict_dataset
    from ._model import _id_column, _load, _model_columns, _model_matrix

    if args.scheduler is not None or is_dataset(args.new_predictions):
        clf = _load(args.model)
        columns = clf.model_metadata_.get("classifier_columns")
        if not isinstance(columns, list):
            raise CLIError(f"{args.model}: no classifier columns recorded; a dataset needs them.")
        if args.output is None:
            raise CLIError("-o is required for a dataset: the directory to write.")
        return predict_dataset(args, clf, [str(c) for c in columns])
    source = check_input(args.new_predictions)
    given = args.output is not None
    kind = "imputed" if args.impute else "predictions"
    output = (
        Path(args.output) if given else source.parent / f"{source.name.split('.')[0]}.{kind}.csv"
    )
    output = check_output(
        output, "-o" if given else f"the {kind} file", [source, Path(args.model)], table=True
    )
    clf = _load(args.model)
    table = read_table(
        source,
        [args.id_column, clf.model_metadata_.get("id_column")],
        args.delimiter,
        args.decimal,
    )
    id_column = _id_column(args, clf, table)
    columns = _model_columns(clf, args.model, table, [id_column])
    _check_id_column(id_column, columns, "one of the model's classifier columns")
    if not args.impute and (
        id_column == "predicted" or (id_column or "").startswith("probability")
    ):
        raise CLIError(f"--id-column {id_column!r} would collide with the output's columns.")
    ids = _ids(table, id_column)
    if args.impute and "row" in ids and "row" in columns:
        raise CLIError("--impute: a classifier column is named 'row', the output's row numbers; "
                       "give --id-column.")  # fmt: skip
    P = _model_matrix(clf, table, columns)
    try:
        with warnings.catch_warnings():
            # the columns were picked by the model's names above: P is in its order
            warnings.filterwarnings("ignore", "X does not have valid feature names", UserWarning)
            if args.impute:  # the model's columns, in their order, missing entries filled in
                written = dict(zip(columns, clf.impute(P).reshape(len(P), -1).T, strict=True))
            else:
                written = _probability_columns(clf, clf.predict_proba(P))
    except ValueError as exc:
        raise CLIError(f"{source}: {exc}") from None
    with _Outputs() as outputs:
        outputs.stage(output, _table_writer(output, {**ids, **written}))
        outputs.commit()
    return 0
