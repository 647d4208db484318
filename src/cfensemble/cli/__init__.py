"""Command-line interface: ``cfensemble demo | fit | predict | report``.

``fit`` reads a table (CSV, TSV, gzip-compressed CSV/TSV or Parquet, by suffix) with one
probability column per base classifier and a label column (1/0; empty or -1 = unlabeled),
fits, and writes a model file (see :mod:`cfensemble.io`) and a predictions file for every
row. ``predict`` folds new rows in; ``report`` writes a Markdown report with figures. Every
estimator option of ``fit`` comes from :class:`CFEnsembleClassifier`'s parameters, every
trainer option from the settings of :class:`~cfensemble.ALS` and
:class:`~cfensemble.Autograd`.

Every input and output location is checked before the fit starts; every output is written
to a temporary file beside it and renamed into place only when all of them are complete,
so a failure leaves no half-written file, and no output may name an input.

One module per command (:mod:`~cfensemble.cli.fit`, :mod:`~cfensemble.cli.predict`,
:mod:`~cfensemble.cli.report`, :mod:`~cfensemble.cli.demo`; the Parquet datasets of fit
and predict in :mod:`~cfensemble.cli._dask`), on the shared modules ``_files`` (locations
and outputs), ``_tables`` (reading and writing tables), ``_columns`` (P, labels, weights),
``_model`` (a model file's columns), ``_options`` (options from parameters) and
``_progress``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from . import demo, fit, predict, report
from ._files import CLIError
from ._tables import read_table

if TYPE_CHECKING:
    from ._columns import label_vector, probability_matrix

__all__ = [
    "CLIError",
    "build_parser",
    "label_vector",
    "main",
    "probability_matrix",
    "read_table",
]


def __getattr__(name: str) -> Any:
    """``label_vector`` and ``probability_matrix``, imported on first use: the parser
    (``cfensemble --help``) does not need numpy."""
    if name in ("label_vector", "probability_matrix"):
        from . import _columns

        return getattr(_columns, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cfensemble")
    except PackageNotFoundError:  # a source tree that was never installed
        from .. import __version__

        return __version__


class _Version(argparse.Action):
    """``--version``, which looks the version up only when asked (importlib.metadata
    takes longer to import than the rest of the parser)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfensemble", description="Ensemble learning by collaborative filtering."
    )
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (demo, fit, predict, report):
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check = getattr(args, "check", None)
    problem = check(args) if check is not None else None
    if problem:
        args.subparser.error(problem)  # usage and exit status 2, as argparse does
    shown = warnings.formatwarning
    warnings.formatwarning = _command_line_warning
    try:
        with _strict(getattr(args, "strict", False)):
            return args.func(args)
    except CLIError as exc:
        print(f"cfensemble {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except UserWarning as exc:  # --strict: rows without any prediction
        print(f"cfensemble {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional extra (torch, matplotlib, dask) is missing
        print(f"cfensemble {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk or permission problem met while writing
        where = f"{exc.filename}: " if exc.filename else ""
        print(
            f"cfensemble {args.command}: error: {where}{exc.strerror or exc}; nothing was "
            "written.",
            file=sys.stderr,
        )
        return 1
    finally:
        warnings.formatwarning = shown


@contextmanager
def _strict(strict: bool):
    """``--strict``: a row without any prediction is an error, not a warning."""
    if not strict:
        yield
        return
    from .._validation import EmptyRowsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", EmptyRowsWarning)
        yield


def _command_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line shows it: its kind and message, without the Python
    file and line it was raised for (a line of the ``cfensemble`` script, of no use)."""
    return f"cfensemble: {category.__name__}: {message}\n"
