"""``cfensemble report``: a Markdown report with figures (needs the ``[plot]`` extra)."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from ._files import CLIError, check_output
from ._options import delimiter_option
from ._tables import read_table


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser("report", help="Markdown report with figures")
    parser.add_argument("--model", required=True, help="the model file written by fit")
    parser.add_argument("--labels", help="a table with the classifier columns and labels")
    parser.add_argument("--label-column", help="default: the one used in fit")
    parser.add_argument(
        "-o", "--output", required=True, help="directory to write (report files are replaced)"
    )
    delimiter_option(parser)
    parser.set_defaults(func=report_command)
    return parser


def report_command(args: argparse.Namespace) -> int:
    # imported here: building the parser (--help) imports neither numpy nor the estimator
    from ._columns import _classes_of, label_vector
    from ._model import _load, _model_columns, _model_matrix

    sources = [Path(args.model)] + ([Path(args.labels)] if args.labels else [])
    output = check_output(args.output, "-o", sources, directory=True)
    clf = _load(args.model)
    columns = None
    P = y = None
    if args.labels:
        table = read_table(args.labels, delimiter=args.delimiter, decimal=args.decimal)
        label_column = args.label_column or clf.model_metadata_.get("label_column", "y")
        if not isinstance(label_column, str):
            raise CLIError(f"{args.model}: label_column in its metadata is not a name.")
        columns = _model_columns(clf, args.model, table, [label_column])
        P = _model_matrix(clf, table, columns)
        y = label_vector(table, label_column)
        if _classes_of(y).size < 2:
            raise CLIError(
                f"{args.labels}: the precision-recall figure needs labeled rows of at least "
                "two classes."
            )
        if P.ndim == 3:
            columns = [c.rsplit("__", 1)[0] for c in columns[:: P.shape[2]]]
    elif isinstance(clf.model_metadata_.get("classifier_columns"), list):
        columns = [str(c) for c in clf.model_metadata_["classifier_columns"]]
        k = getattr(clf, "n_class_columns_", 0)
        if k:
            columns = [c.rsplit("__", 1)[0] for c in columns[::k]]
    try:
        path = _write_report(clf, output, columns, P, y)
    except ValueError as exc:
        raise CLIError(f"{args.labels or args.model}: {exc}") from None
    print(f"report: {path}")
    return 0


def _write_report(clf, output: Path, names, P, y) -> Path:
    """The report written in a temporary directory beside ``output``, then moved in."""
    from importlib.util import find_spec

    if find_spec("matplotlib") is None:
        raise CLIError('report needs matplotlib: pip install "cfensemble[plot]"')
    import matplotlib

    matplotlib.use("Agg")
    from ..io import replace_keeping_mode
    from ..plotting import write_report

    temporary = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    try:
        markdown = write_report(clf, temporary, names=names, P=P, y=y)
        if not output.exists():
            replace_keeping_mode(temporary, output)
        else:  # an existing directory: its report files are replaced, others kept
            for item in temporary.iterdir():
                replace_keeping_mode(item, output / item.name)
            temporary.rmdir()
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return output / Path(markdown).name
