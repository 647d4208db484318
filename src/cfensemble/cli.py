"""Command-line interface: ``cfensemble demo | fit | predict | report``.

``fit`` reads a table (CSV, TSV, gzip-compressed CSV/TSV or Parquet, by suffix) with one
probability column per base classifier and a label column (1/0; empty or -1 = unlabeled),
fits, and writes a model file (see :mod:`cfensemble.io`) and a predictions file for every
row. ``predict`` folds new rows in; ``report`` writes a Markdown report with figures. Every
estimator option of ``fit`` comes from :class:`CFEnsembleClassifier`'s parameters.

Every input and output location is checked before the fit starts; every output is written
to a temporary file beside it and renamed into place only when all of them are complete,
so a failure leaves no half-written file, and no output may name an input.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import os
import shutil
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from . import _cli_dask
from .io import replace_keeping_mode
from .metrics import labeled_mask


class CLIError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


# ---------------------------------------------------------------- files and locations

_FORMATS = {
    ".csv": ",",
    ".csv.gz": ",",
    ".tsv": "\t",
    ".tsv.gz": "\t",
    ".parquet": None,
    ".pq": None,
}
_KNOWN = ".csv, .tsv, .csv.gz, .tsv.gz or .parquet"
_MISSING = ("", "nan", "NaN", "NA")  # a missing prediction or an unlabeled row


def _table_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return None


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        raise CLIError("reading tables needs pandas: pip install pandas") from None
    return pd


def _need_pyarrow() -> None:
    from importlib.util import find_spec

    if find_spec("pyarrow") is None:
        raise CLIError('Parquet files need pyarrow: pip install "cfensemble[parquet]"')


def check_input(path, option: str = "") -> Path:
    """``path`` as a Path if it names a readable file, else a CLIError saying why."""
    path = Path(path)
    label = f"{option} {path}" if option else str(path)
    if not path.exists():
        raise CLIError(f"{label}: no such file.")
    if path.is_dir():
        raise CLIError(f"{label}: is a directory, not a file.")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise CLIError(f"{label}: cannot be read ({exc.strerror or exc}).") from None
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path, option: str, inputs: Sequence[Path] = (), table: bool = False, directory: bool = False
) -> Path:
    """``path`` as a Path if it can be written (created or replaced), else a CLIError.

    ``table``: the suffix must be a known table format; ``directory``: ``path`` is a
    directory (created if absent). An output that names one of ``inputs`` is refused.
    """
    path = Path(path)
    label = f"{option} {path}"
    if table:
        fmt = _table_format(path)
        if fmt is None:
            raise CLIError(
                f"{label}: unknown file type {path.suffix or '(none)'!r}; use {_KNOWN}."
            )
        if _FORMATS[fmt] is None:
            _need_pyarrow()
    parent = path.parent
    if not parent.exists():
        raise CLIError(f"{label}: the directory {parent} does not exist.")
    if not parent.is_dir():
        raise CLIError(f"{label}: {parent} is not a directory.")
    if directory:
        if path.exists() and not path.is_dir():
            raise CLIError(f"{label}: exists and is not a directory.")
    elif path.is_dir():
        raise CLIError(f"{label}: is a directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{label}: the directory {parent} is not writable.")
    for source in inputs:
        if _same_file(path, Path(source)):
            raise CLIError(f"{label} is the input file; it would be overwritten.")
    return path


def _distinct(**outputs) -> None:
    """A CLIError when two output options name the same file."""
    seen: dict[Path, str] = {}
    for option, path in outputs.items():
        key = Path(path).resolve()
        if key in seen:
            raise CLIError(f"{seen[key]} and {option} name the same file {path}.")
        seen[key] = option


class _Outputs:
    """Files written to temporaries beside their targets, renamed into place together.

    ``stage(path, write)`` calls ``write(temporary_path)``; ``commit()`` renames every
    staged file over its target. Leaving the ``with`` block without ``commit`` (an error)
    removes the temporaries, so the targets keep their old content.
    """

    def __init__(self) -> None:
        self.staged: list[tuple[Path, Path]] = []

    def __enter__(self) -> _Outputs:
        return self

    def stage(self, path: Path, write: Callable[[Path], Any]) -> None:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        self.staged.append((Path(name), path))
        write(Path(name))

    def commit(self) -> None:
        for temporary, path in self.staged:
            replace_keeping_mode(temporary, path)
        self.staged = []

    def __exit__(self, *exc) -> None:
        for temporary, _ in self.staged:
            temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------- reading tables


class Table:
    """A table's column names and its cells (a pandas DataFrame with columns 0..k-1)."""

    def __init__(self, path: Path, names: list[str], frame) -> None:
        self.path, self.names, self.frame = path, names, frame

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str, what: str = "column"):
        if name not in self.names:
            hint = (
                " (one column: are the fields separated by another character? use --delimiter)"
                if len(self.names) == 1
                else ""
            )
            raise CLIError(f"{self.path}: no {what} {name!r}; the columns are {self.names}{hint}.")
        return self.frame.iloc[:, self.names.index(name)]


def read_table(
    path, text_columns: Sequence[str | None] = (), delimiter: str | None = None
) -> Table:
    """Read a CSV/TSV (optionally .gz) or Parquet file; every problem is a CLIError.

    CSV and TSV are read as UTF-8 text (a byte-order mark is ignored) by pandas' C parser:
    numeric columns become numbers at once, empty cells (and ``nan``, ``NaN``, ``NA``) NaN,
    blank lines are skipped; ``text_columns`` (an ID column) are kept as text, so "007"
    stays "007". ``delimiter`` replaces the suffix's (``,`` for .csv, a tab for .tsv). A
    column with a cell that is not a number is kept as text and reported by
    the checks that convert it. Repeated header names and rows with fewer fields than the
    header are errors (pandas would rename the first and pad the second).
    """
    path = check_input(path)
    fmt = _table_format(path)
    if fmt is None:
        raise CLIError(f"{path}: unknown file type {path.suffix or '(none)'!r}; use {_KNOWN}.")
    pd = _pandas()
    if delimiter is not None and _FORMATS[fmt] is None:
        raise CLIError(f"{path}: --delimiter applies to CSV/TSV text, not to Parquet.")
    sep = delimiter or _FORMATS[fmt]
    try:
        if sep is None:
            _need_pyarrow()
            frame = pd.read_parquet(path)
            names = [str(c) for c in frame.columns]
            _check_repeated(path, names)
        else:
            names = _header(path, fmt, sep)
            _check_repeated(path, names)
            options = dict(
                sep=sep,
                keep_default_na=False,
                encoding="utf-8-sig",
                skip_blank_lines=True,
                compression="gzip" if fmt.endswith(".gz") else None,
            )
            with warnings.catch_warnings():
                # a first data row longer than the header: pandas would take its first
                # field as an index (or drop the last, warning); read as text instead,
                # where it is a ParserError naming the line
                warnings.simplefilter("error", pd.errors.ParserWarning)
                try:
                    frame = pd.read_csv(
                        path,
                        header=0,
                        index_col=False,
                        dtype={name: str for name in text_columns if name in names},
                        na_values=list(_MISSING),
                        **options,
                    )
                except pd.errors.ParserWarning:
                    pd.read_csv(path, header=None, dtype=str, na_filter=False, **options)
                    raise  # pragma: no cover - the text read raises first
            if len(frame) and frame.iloc[:, -1].isna().any():
                _check_short_rows(path, fmt, sep, len(names))
    except UnicodeDecodeError as exc:
        raise CLIError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a block); save it "
            "as UTF-8."
        ) from None
    except pd.errors.EmptyDataError:
        raise CLIError(f"{path}: the file is empty.") from None
    except pd.errors.ParserError as exc:
        message = str(exc).split("C error: ")[-1].strip()
        raise CLIError(f"{path}: not a valid {fmt.lstrip('.')} table: {message}") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise CLIError(f"{path}: cannot be read: {exc}") from None
    except (ValueError, TypeError) as exc:  # pyarrow's errors on a file that is not Parquet
        raise CLIError(f"{path}: not a readable {fmt.lstrip('.')} file: {exc}") from None
    if len(frame) == 0:
        raise CLIError(f"{path}: no data rows (only a header).")
    frame.columns = range(len(names))
    return Table(path, names, frame)


def _open_text(path: Path, fmt: str):
    opener: Any = gzip.open if fmt.endswith(".gz") else open
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _header(path: Path, fmt: str, sep: str) -> list[str]:
    """The first non-blank line's fields, as written (pandas would rename repeated ones)."""
    pd = _pandas()
    with _open_text(path, fmt) as handle:
        for row in csv.reader(handle, delimiter=sep):
            if any(field.strip() for field in row):
                return row
    raise pd.errors.EmptyDataError("no header")


def _check_repeated(path: Path, names: list[str]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CLIError(f"{path}: repeated column names {repeated}; names must be unique.")


def _check_short_rows(path: Path, fmt: str, sep: str, width: int) -> None:
    """A CLIError at the first row with fewer fields than the header (pandas pads them).

    Separators are counted per line over the raw bytes, 16 MiB at a time (vectorised); only
    a file with a quote character, or with a line that looks short, is read again line by
    line with the csv module for the exact message.
    """
    if not _maybe_short_rows(path, fmt, sep, width):
        return
    with _open_text(path, fmt) as handle:
        reader = csv.reader(handle, delimiter=sep)
        for row in reader:
            if any(field.strip() for field in row) and len(row) < width:
                raise CLIError(
                    f"{path}: line {reader.line_num} has {len(row)} fields but the header "
                    f"has {width}."
                )


def _maybe_short_rows(path: Path, fmt: str, sep: str, width: int, block: int = 1 << 24) -> bool:
    """False when no non-blank line has fewer than ``width - 1`` separators (and no quotes)."""
    opener: Any = gzip.open if fmt.endswith(".gz") else open
    code = ord(sep)
    rest = b""
    with opener(path, "rb") as handle:
        while True:
            chunk = handle.read(block)
            data = rest + chunk
            if not chunk:
                rest = b""
            else:
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
            if b'"' in data:
                return True
            if data:
                raw = np.frombuffer(data, dtype=np.uint8)
                ends = np.append(np.flatnonzero(raw == 10), raw.size)
                starts = np.append(0, ends[:-1] + 1)
                seps = np.flatnonzero(raw == code)
                count = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
                last = raw[np.clip(ends - 1, 0, raw.size - 1)]
                length = ends - starts - ((ends > starts) & (last == 13))  # without a \r
                if np.any((length > 0) & (count < width - 1)):
                    return True
            if not chunk:
                return False


def _numbers(column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column as float64, with masks of missing cells and of cells that are not numbers."""
    pd = _pandas()
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(values)
        return values, missing, np.zeros_like(missing)
    text = column.astype("string").str.strip()
    missing = (text.isna() | text.isin(_MISSING)).to_numpy(dtype=bool)
    parsed = pd.to_numeric(text.mask(missing), errors="coerce")
    values = pd.Series(parsed).to_numpy(dtype=np.float64, na_value=np.nan)
    return values, missing, ~missing & np.isnan(values)


def _shown(cell) -> str:
    """A cell as it reads in the file, quoted: '2', not np.int64(2)."""
    value = cell.item() if hasattr(cell, "item") else cell
    return repr(value if isinstance(value, str) else str(value))


def _row(i: int) -> str:
    """Where a bad cell is: its row number as the outputs' ``row`` column counts (from 0),
    and as a person reading the file counts (data rows from 1)."""
    return f"row {i} (data row {i + 1} of the file)"


def probability_matrix(table: Table, columns: Sequence[str], hint: str = "") -> np.ndarray:
    """The classifier columns as a float matrix; empty cells are missing predictions (NaN)."""
    path = table.path
    P = np.empty((len(table), len(columns)))
    for j, name in enumerate(columns):
        column = table.column(name)
        values, _, bad = _numbers(column)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CLIError(
                f"{path}: column {name!r}, {_row(i)}: {_shown(column.iloc[i])} is not a "
                f"number{hint}."
            )
        outside = ~np.isnan(values) & ~((values >= 0.0) & (values <= 1.0))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise CLIError(
                f"{path}: column {name!r}, {_row(i)}: {values[i]:g} is not a probability "
                "in [0, 1]."
            )
        P[:, j] = values
    return P


def label_vector(table: Table, column_name: str) -> np.ndarray:
    """The labels: numbers (int64 where whole) with -1 for an empty cell or -1 (unlabeled),
    or, when a cell is not a number, strings with None for an empty cell or "-1"."""
    column = table.column(column_name, "label column")
    values, missing, text = _numbers(column)
    if not text.any():
        y = np.where(missing, -1.0, values)
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise CLIError(
                f"{table.path}: column {column_name!r}, {_row(i)}: {_shown(column.iloc[i])} "
                "is not a class label (a whole number or a name; empty or -1 for unlabeled)."
            )
        return y.astype(np.int64)
    labels = column.astype("string").str.strip().to_numpy(dtype=object, na_value=None)
    labels[missing | (labels == "-1")] = None
    return labels


def class_layout(
    columns: Sequence[str], classes: np.ndarray
) -> tuple[list[str], list[str]] | None:
    """``(classifiers, ordered columns)`` when the columns are ``<classifier>__<class>``
    for every class of ``classes`` (the labels, sorted), else None (one column per
    classifier). The ordered columns are classifier-major, classes in ``classes``' order:
    the layout of a (n, m, K) ``P``."""
    parts = [c.rsplit("__", 1) for c in columns]
    if len(columns) < 2 or any(len(p) != 2 or not p[0] or not p[1] for p in parts):
        return None
    classifiers = list(dict.fromkeys(p[0] for p in parts))
    suffixes = {name: [p[1] for p in parts if p[0] == name] for name in classifiers}
    first = sorted(suffixes[classifiers[0]])
    if len(first) < 2 or any(sorted(v) != first for v in suffixes.values()):
        return None
    names = [str(label) for label in classes.tolist()]
    if sorted(names) != first:
        if not classes.size and len(first) > 2:
            raise CLIError(
                f"the classifier columns name the classes {first} (as <classifier>__<class>) "
                "but no row is labeled: the class columns cannot be matched to labels; label "
                "at least one row of each class."
            )
        if classes.size <= 2:
            return None  # two classes: names with "__" are just classifier names
        raise CLIError(
            f"the classifier columns name the classes {first} (as <classifier>__<class>) but "
            f"the labels are {names}: they must be the same."
        )
    return classifiers, [f"{c}__{k}" for c in classifiers for k in names]


def _classes_of(y: np.ndarray) -> np.ndarray:
    from ._validation import encode_labels

    try:
        return encode_labels(y)[1]
    except ValueError as exc:
        raise CLIError(str(exc)) from None


# ---------------------------------------------------------------- writing tables


def _table_writer(path: Path, columns: dict[str, Any], decimals: str = "%.10g"):
    """A ``write(temporary_path)`` for :class:`_Outputs` that writes ``columns`` as ``path``'s
    format (by suffix): CSV/TSV text, gzip-compressed for ``.gz``, or Parquet."""
    pd = _pandas()
    frame = pd.DataFrame(columns)
    fmt = _table_format(path)
    if fmt is None:  # checked by check_output before any work
        raise CLIError(f"{path}: unknown file type {path.suffix!r}; use {_KNOWN}.")
    sep = _FORMATS[fmt]

    def write(temporary: Path) -> None:
        if sep is None:
            frame.to_parquet(temporary, index=False)
            return
        text = frame.to_csv(sep=sep, index=False, float_format=decimals, lineterminator="\n")
        data = text.encode("utf-8")
        temporary.write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)

    return write


def _labels_column(y: np.ndarray):
    """Labels for an output table: nullable integers, or strings, empty where unlabeled."""
    pd = _pandas()
    if y.dtype == object:
        return pd.Series(y, dtype="string")
    return pd.Series(np.where(y == -1, 0, y).astype(np.int64), dtype="Int64").mask(y == -1)


def _probability_columns(clf, proba: np.ndarray) -> dict[str, Any]:
    """``probability`` (two classes: the second's) or ``probability__<class>`` per class,
    and ``predicted``, the most probable label."""
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    from ._estimator import predicted_labels

    if proba.shape[1] == 2:
        out: dict[str, Any] = {"probability": proba[:, 1]}
    else:
        labels = clf.classes_.tolist()
        out = {f"probability__{label}": proba[:, k] for k, label in enumerate(labels)}
    out["predicted"] = predicted_labels(clf.classes_, proba)
    return out


def _sample_weight(table: Table, name: str | None) -> np.ndarray | None:
    """The --sample-weight-column: numbers >= 0, one per row."""
    if name is None:
        return None
    column = table.column(name, "sample weight column")
    values, missing, text = _numbers(column)
    bad = missing | text | ~(values >= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CLIError(
            f"{table.path}: column {name!r}, {_row(i)}: {_shown(column.iloc[i])} is not a "
            "sample weight (a number >= 0 in every row)."
        )
    return values


# ---------------------------------------------------------------- estimator options


def _parameter_help(docstring: str) -> dict[str, str]:
    """``{name: its first sentences}`` of a numpydoc docstring's Parameters section."""
    import inspect
    import re

    lines = inspect.cleandoc(docstring).splitlines()
    if "Parameters" not in lines:  # no docstrings (python -OO): options without help text
        return {}
    start = lines.index("Parameters") + 2
    end = next((i for i in range(start, len(lines)) if lines[i] in ("Attributes", "Notes")), None)
    helps: dict[str, list[str]] = {}
    name = None
    for line in lines[start:end]:
        header = re.match(r"^(\w+) : ", line)
        if header:
            name = header.group(1)
            helps[name] = []
        elif name is not None and line.startswith("    "):
            helps[name].append(line.strip())
    sentences = {}
    for name, lines_of in helps.items():
        paragraph = " ".join(lines_of).replace("``", "")
        paragraph = re.sub(r":\w+:`~?([^`]+)`", r"\1", paragraph)  # :class:`X` -> X
        text = ""
        for sentence in re.split(r"(?<=\.)\s+", paragraph):  # at least ~60 characters
            if len(text) >= 60:
                break
            text = f"{text} {sentence}".strip()
        if len(text) > 240:
            text = text[:240].rsplit(" ", 1)[0] + " ..."
        sentences[name] = text.replace("%", "%%")  # argparse formats help with %
    return sentences


def _with_default(text: str | None) -> str:
    return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def _estimator_options(parser: argparse.ArgumentParser) -> list[str]:
    """Add one option per CFEnsembleClassifier parameter; returns the parameter names.

    Each option's help is the first sentences of the parameter's description in the
    estimator's docstring, followed by its default.
    """
    import inspect

    from sklearn.utils._param_validation import Interval, StrOptions

    from . import CFEnsembleClassifier

    group = parser.add_argument_group("estimator options (CFEnsembleClassifier parameters)")
    described = _parameter_help(CFEnsembleClassifier.__doc__ or "")
    names = []
    constraints = CFEnsembleClassifier._parameter_constraints
    for name, param in inspect.signature(CFEnsembleClassifier.__init__).parameters.items():
        if name in ("self", "verbose", "callback"):  # the CLI draws its own progress bar
            continue
        default = param.default
        flag = "--" + name.replace("_", "-")
        options = [c for c in constraints.get(name, []) if isinstance(c, StrOptions)]
        numeric = any(isinstance(c, Interval) for c in constraints.get(name, []))
        if isinstance(default, bool):
            group.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=_with_default(described.get(name)),
            )
        elif options and numeric:  # a number or a keyword such as "auto"
            kind = int if isinstance(default, int) else float
            group.add_argument(
                flag,
                type=_number_or(sorted(options[0].options), kind),
                default=default,
                metavar=f"{kind.__name__.upper()}|{'|'.join(sorted(options[0].options))}",
                help=_with_default(described.get(name)),
            )
        elif options:
            group.add_argument(
                flag,
                choices=sorted(options[0].options),
                default=default,
                help=_with_default(described.get(name)),
            )
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
                help=_with_default(described.get(name))
                if name != "random_state"
                else f"{described.get(name)} (default: a new seed, printed after the fit)",
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


class _Progress:
    """``callback(iteration, losses)`` of the estimator, drawn by tqdm on stderr.

    On a terminal: a bar with elapsed time, rate and the objective, redrawn at most every
    0.2 s. Elsewhere (a log file): nothing while fitting, then one final line in the same
    format. Warnings raised during the fit are held back and shown after the bar's line,
    never glued onto it.
    """

    def __init__(self, total: int, unit: str):
        from tqdm import tqdm

        self.tqdm = tqdm
        self.total, self.unit = total, unit
        self.tty = sys.stderr.isatty()
        self.iteration, self.objective = 0, float("nan")
        self.held = warnings.catch_warnings(record=True)

    def __enter__(self):
        self.start = time.monotonic()
        if self.tty:
            self.bar = self.tqdm(
                total=self.total, unit=self.unit, file=sys.stderr, mininterval=0.2
            )
        self.warnings = self.held.__enter__()  # the filters in force still apply
        return self

    def __call__(self, iteration: int, losses) -> None:
        self.objective = float(losses[0])
        if self.tty:
            self.bar.set_postfix(objective=f"{self.objective:.5g}", refresh=False)
            self.bar.update(iteration - self.iteration)
        self.iteration = iteration

    def __exit__(self, *exc) -> None:
        self.held.__exit__(*exc)
        # a fit that stopped before the limit (converged, or early stopping) ends at 100 %;
        # one that failed keeps its place
        stopped = exc[0] is None and 0 < self.iteration < self.total
        done = self.iteration if stopped else self.total
        name = {"it": "iterations"}.get(self.unit, f"{self.unit}s")
        postfix = f"objective={self.objective:.5g}, {name} {self.iteration} of max {self.total}"
        if self.tty:
            self.bar.total = done
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.close()
        else:
            line = self.tqdm.format_meter(
                self.iteration,
                done,
                time.monotonic() - self.start,
                unit=self.unit,
                postfix=postfix,
            )
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        for record in self.warnings:
            message = (record.message, record.category, record.filename, record.lineno)
            sys.stderr.write(warnings.formatwarning(*message))  # main's: kind and message


# ---------------------------------------------------------------- commands


def _ids(table: Table, id_column: str | None):
    """The output's first column: ``{name: values}`` of the ID column, else row numbers."""
    if id_column is None:
        return {"row": np.arange(len(table))}
    return {id_column: table.column(id_column, "ID column").to_numpy()}


def _check_id_column(id_column: str | None, taken: Sequence[str], option: str) -> None:
    if id_column is None:
        return
    if id_column in taken:
        raise CLIError(f"--id-column {id_column!r} is also {option}.")


def fit_command(args: argparse.Namespace) -> int:
    from . import CFEnsembleClassifier
    from .io import save_model

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
    params = {name: getattr(args, name) for name in args.estimator_params}
    try:  # a bad option is its own error, before any file is read
        CFEnsembleClassifier(**params)._check_params()
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if params["random_state"] is None:  # a run is repeatable: a seed is drawn and printed
        params["random_state"] = int(np.random.default_rng().integers(2**31))
    progress: Any = None
    if not args.quiet:
        torch = params["solver"] == "torch"
        progress = _Progress(
            params["max_epochs" if torch else "max_iter"], "epoch" if torch else "it"
        )
    if args.scheduler is not None or _cli_dask.is_dataset(args.predictions):
        return _cli_dask.fit_dataset(args, params, progress, CLIError)

    source = check_input(args.predictions)
    model = check_output(args.model, "--model", [source])
    output = Path(args.output) if args.output else model.with_suffix(".predictions.csv")
    output = check_output(
        output, "-o" if args.output else "the predictions file", [source], table=True
    )
    _distinct(**{"--model": model, "-o": output})
    table = read_table(source, [args.id_column], args.delimiter)
    y = label_vector(table, label)
    weight = _sample_weight(table, args.sample_weight_column)
    ids = _ids(table, args.id_column)
    columns = args.classifier_columns or [
        c for c in table.names if c not in (label, args.id_column, args.sample_weight_column)
    ]
    if not columns:
        raise CLIError(f"{source}: no classifier columns besides {label!r}.")
    hint = (
        ""
        if args.classifier_columns
        else (
            " (an ID or other column? name it with --id-column, or list the probability columns "
            "with --classifier-columns)"
        )
    )
    classes = _classes_of(y)
    layout = class_layout(columns, classes)
    if layout is None and classes.size > 2:
        raise CLIError(
            f"{source}: the labels hold {classes.size} classes {classes[:5].tolist()}; give "
            "each classifier one column per class, named <classifier>__<class> (e.g. "
            f"rf__{classes[0]}), holding its class probabilities."
        )
    classifiers = columns if layout is None else layout[0]
    if layout is not None:
        columns = layout[1]
    P = probability_matrix(table, columns, hint)
    if layout is not None:
        P = P.reshape(len(table), len(classifiers), -1)
        per_class = (
            P.shape[2] > 2
            and params["solver"] == "als"
            and params.get("rho") == 1.0
            and params.get("multiclass_factorization", "auto") != "joint"
        )
        if progress is not None and per_class:
            progress.total *= P.shape[2]  # at most max_iter per class (per-class fits)
    clf = CFEnsembleClassifier(**params, callback=progress)
    fit_with_progress(clf, P, y, progress, source, weight)
    clf.set_params(callback=None)  # a model file holds no callable
    metadata = {"classifier_columns": columns, "label_column": label}
    if args.id_column is not None:
        metadata["id_column"] = args.id_column
    if args.sample_weight_column is not None:
        metadata["sample_weight_column"] = args.sample_weight_column
    predictions = {
        **ids,
        "label": _labels_column(y),
        "labeled": labeled_mask(y).astype(np.int64),
        **_probability_columns(clf, clf.transduction_),
    }
    with _Outputs() as outputs:
        outputs.stage(model, lambda path: save_model(clf, path, metadata))
        outputs.stage(output, _table_writer(output, predictions))
        outputs.commit()
    if not args.quiet:
        print(
            f"fitted {len(classifiers)} classifiers on {len(y)} rows "
            f"({int(labeled_mask(y).sum())} labeled) "
            f"in {clf.n_iter_} iterations; model: {model}; predictions: {output} (column "
            "'labeled' marks the rows whose labels the fit saw)\n" + seed_line(clf)
        )
    return 0


def fit_with_progress(clf, P, y, progress, source, sample_weight=None) -> None:
    """``clf.fit(P, y, sample_weight)`` inside the progress bar (when there is one); a
    ValueError is a CLIError naming ``source``."""
    try:
        with progress if progress is not None else contextlib.nullcontext():
            clf.fit(P, y, sample_weight)
    except ValueError as exc:
        raise CLIError(f"{source}: {exc}") from None


def seed_line(clf) -> str:
    """The seed that repeats the fit, and the values its "auto" parameters chose."""
    seed = clf.random_state
    chosen = [
        f"; {name}='auto' chose {getattr(clf, name + '_')}"
        for name in ("latent_dim", "rho", "abstention", "aggregator_shrinkage", "aggregator_l2")
        if getattr(clf, name) == "auto"
    ]
    return f"random_state={seed} (--random-state {seed} repeats this fit)" + "".join(chosen)


def _load(path):
    from .io import load_model

    path = check_input(path, "--model")
    try:
        return load_model(path)
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None


def _model_columns(clf, model, table: Table, exclude: Sequence[str | None]) -> list[str]:
    """The model's classifier columns: as recorded in the file, else every column in order."""
    columns = clf.model_metadata_.get("classifier_columns")
    if columns is not None:
        if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
            raise CLIError(f"{model}: classifier_columns in its metadata is not a list of names.")
        if len(columns) != _n_columns(clf):
            raise CLIError(
                f"{model}: its metadata names {len(columns)} classifier columns but the model "
                f"was fitted on {_n_columns(clf)}."
            )
        return columns
    names = getattr(clf, "feature_names_in_", None)  # a model saved from Python
    if names is not None:
        return [str(c) for c in names]
    columns = [c for c in table.names if c not in exclude]
    if len(columns) != _n_columns(clf):
        layout = (
            f" x {clf.n_class_columns_} classes (one column per classifier and class, "
            "classifier by classifier, classes in the order of the model's classes_)"
            if getattr(clf, "n_class_columns_", 0)
            else ""
        )
        raise CLIError(
            f"{table.path}: the model was fitted on {clf.n_features_in_} classifiers{layout} "
            f"and records no column names; the file has {len(columns)} columns {columns} "
            "(all of them are used, in order)."
        )
    return columns


def _n_columns(clf) -> int:
    """Columns of the model's ``P`` in a table: one per classifier, or one per classifier
    and class (``<classifier>__<class>``)."""
    return clf.n_features_in_ * max(getattr(clf, "n_class_columns_", 0), 1)


def _model_matrix(clf, table: Table, columns: Sequence[str]) -> np.ndarray:
    """``P`` of a table in the model's layout: (n, m) or (n, m, K)."""
    P = probability_matrix(table, columns)
    k = getattr(clf, "n_class_columns_", 0)
    return P.reshape(len(table), clf.n_features_in_, k) if k else P


def _id_column(args, clf, table: Table) -> str | None:
    """--id-column, else the one fit used when this file has it."""
    if args.id_column is not None:
        return args.id_column
    recorded = clf.model_metadata_.get("id_column")
    return recorded if isinstance(recorded, str) and recorded in table.names else None


def predict_command(args: argparse.Namespace) -> int:
    if args.scheduler is not None or _cli_dask.is_dataset(args.new_predictions):
        clf = _load(args.model)
        columns = clf.model_metadata_.get("classifier_columns")
        if not isinstance(columns, list):
            raise CLIError(f"{args.model}: no classifier columns recorded; a dataset needs them.")
        return _cli_dask.predict_dataset(args, clf, [str(c) for c in columns], CLIError)
    source = check_input(args.new_predictions)
    output = check_output(args.output, "-o", [source, Path(args.model)], table=True)
    clf = _load(args.model)
    table = read_table(
        source, [args.id_column, clf.model_metadata_.get("id_column")], args.delimiter
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


def report_command(args: argparse.Namespace) -> int:
    sources = [Path(args.model)] + ([Path(args.labels)] if args.labels else [])
    output = check_output(args.output, "-o", sources, directory=True)
    clf = _load(args.model)
    columns = None
    P = y = None
    if args.labels:
        table = read_table(args.labels, delimiter=args.delimiter)
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
    from .plotting import write_report

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


def demo(args: argparse.Namespace) -> int:
    """Held-out comparison of the default estimator with the baselines (see cfensemble._demo)."""
    from . import _demo, make_ensemble_problem

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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cfensemble")
    except PackageNotFoundError:  # a source tree that was never installed
        from . import __version__

        return __version__


def _bounded(kind, low, high):
    """An argparse type: ``kind`` within [low, high] (None: unbounded), else a clear error."""

    def convert(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid {kind.__name__}") from None
        if not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {bounds}")
        return value

    return convert


def _delimiter(text: str) -> str:
    value = "\t" if text in ("\\t", "tab") else text
    if len(value) != 1 or value in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character (use 'tab' or '\\t' for a tab)"
        )
    return value


def _delimiter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        help="field separator of CSV/TSV inputs, e.g. ';' or 'tab' (default: by suffix, ',' "
        "for .csv and a tab for .tsv); outputs use their suffix's",
    )


def _scheduler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run with dask on this cluster (e.g. tcp://host:8786); the input is then a "
        "Parquet dataset (a pattern such as 'data/*.parquet' or a directory; either also "
        "selects dask, on the local scheduler) and -o a directory for the Parquet output "
        "(needs the [dask] extra)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfensemble", description="Ensemble learning by collaborative filtering."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p_demo = sub.add_parser("demo", help="fit on generated data and compare with baselines")
    p_demo.add_argument("--n-samples", type=_bounded(int, 100, 1_000_000), default=3000)
    p_demo.add_argument("--n-classifiers", type=_bounded(int, 3, 200), default=10)
    p_demo.add_argument("--positive-rate", type=_bounded(float, 0.005, 0.5), default=0.05)
    p_demo.add_argument("--labeled-fraction", type=_bounded(float, 0.01, 1.0), default=0.3)
    p_demo.add_argument("--seed", type=_bounded(int, 0, 2**32 - 1), default=0)
    p_demo.add_argument(
        "--save-csv",
        metavar="PREFIX",
        help=(
            "also write PREFIX-train.csv and PREFIX-test.csv, sample files for `fit` (a "
            "simpler problem than the comparison's: complete predictions, every row in "
            "train with the labels beyond --labeled-fraction blanked, those rows with "
            "their labels in test)"
        ),
    )
    p_demo.set_defaults(func=demo, check=_check_demo, subparser=p_demo)

    p_fit = sub.add_parser("fit", help="fit on a file of base-classifier probabilities")
    p_fit.add_argument(
        "predictions", help=f"probability columns + label column: {_KNOWN} (by suffix)"
    )
    p_fit.add_argument(
        "--label-column",
        required=True,
        help="the class of each row (numbers or names); empty or -1 = unlabeled",
    )
    p_fit.add_argument(
        "--classifier-columns",
        nargs="+",
        help="default: every other column; for more than two classes, one column per "
        "classifier and class named <classifier>__<class>",
    )
    p_fit.add_argument(
        "--sample-weight-column",
        help="a weight >= 0 per row: a row of weight k counts as k copies of it",
    )
    p_fit.add_argument(
        "--id-column", help="a row identifier, copied to the predictions file (not a classifier)"
    )
    p_fit.add_argument("--model", required=True, help="model file to write (e.g. out.cfe)")
    p_fit.add_argument(
        "-o",
        "--output",
        help="predictions for every row, with a 'labeled' column (1: the fit saw its label); "
        f"{_KNOWN} (default: MODEL.predictions.csv)",
    )
    p_fit.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    _delimiter_option(p_fit)
    _scheduler_option(p_fit)
    p_fit.set_defaults(func=fit_command, estimator_params=_estimator_options(p_fit))

    p_predict = sub.add_parser("predict", help="fold new rows into a fitted model")
    p_predict.add_argument("--model", required=True)
    p_predict.add_argument("new_predictions", help=f"the model's columns: {_KNOWN}")
    p_predict.add_argument(
        "--id-column", help="copied to the output (default: fit's --id-column when present)"
    )
    p_predict.add_argument("-o", "--output", required=True, help=f"file to write: {_KNOWN}")
    p_predict.add_argument(
        "--impute",
        action="store_true",
        help="write the model's classifier columns with each missing prediction filled in "
        "(the model's fill-in, what its aggregator reads) instead of probabilities",
    )
    _delimiter_option(p_predict)
    _scheduler_option(p_predict)
    p_predict.set_defaults(func=predict_command)

    p_report = sub.add_parser("report", help="Markdown report with figures")
    p_report.add_argument("--model", required=True)
    p_report.add_argument("--labels", help="a table with the classifier columns and labels")
    p_report.add_argument("--label-column", help="default: the one used in fit")
    p_report.add_argument(
        "-o", "--output", required=True, help="directory to write (report files are replaced)"
    )
    _delimiter_option(p_report)
    p_report.set_defaults(func=report_command)
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
        return args.func(args)
    except CLIError as exc:
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


def _command_line_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as the command line shows it: its kind and message, without the Python
    file and line it was raised for (a line of the ``cfensemble`` script, of no use)."""
    return f"cfensemble: {category.__name__}: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
