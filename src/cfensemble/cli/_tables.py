"""Reading tables (CSV/TSV, gzip-compressed or not, and Parquet) and writing them.

Every problem with a file is a :class:`~cfensemble.cli._files.CLIError` naming the file,
and where it applies the column and the row.
"""

from __future__ import annotations

import csv
import gzip
import re
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._files import (
    _FORMATS,
    _KNOWN,
    _MISSING,
    CLIError,
    _need_pyarrow,
    _pandas,
    _table_format,
    check_input,
)

if TYPE_CHECKING:
    import numpy as np

# numpy and pandas are imported by the functions that use them: the parser, which imports
# this module, needs neither


class Table:
    """A table's column names and its cells (a pandas DataFrame with columns 0..k-1)."""

    def __init__(self, path: Path, names: list[str], frame) -> None:
        self.path, self.names, self.frame = path, names, frame

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str, what: str = "column"):
        if name not in self.names:
            hint = ""
            if len(self.names) == 1:
                hint = _delimiter_hint(self.names[0]) or (
                    ": are the fields separated by another character? use --delimiter"
                )
                hint = f" (one column{hint})"
            raise CLIError(f"{self.path}: no {what} {name!r}; the columns are {self.names}{hint}.")
        return self.frame.iloc[:, self.names.index(name)]


def read_table(
    path,
    text_columns: Sequence[str | None] = (),
    delimiter: str | None = None,
    decimal: str | None = None,
) -> Table:
    """Read a CSV/TSV (optionally .gz) or Parquet file; every problem is a CLIError.

    CSV and TSV are read as UTF-8 text (a byte-order mark is ignored) by pandas' C parser:
    numeric columns become numbers at once, empty cells (and ``nan``, ``NaN``, ``NA``) NaN,
    blank lines are skipped; ``text_columns`` (an ID column) are kept as text, so "007"
    stays "007". ``delimiter`` replaces the suffix's (``,`` for .csv, a tab for .tsv);
    ``decimal`` is the decimal mark of the numbers (``.`` unless given, e.g. ``,``). A
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
    if decimal is not None and _FORMATS[fmt] is None:
        raise CLIError(f"{path}: --decimal applies to CSV/TSV text, not to Parquet.")
    sep = delimiter or _FORMATS[fmt]
    names: list[str] = []
    if decimal is not None and decimal == sep:
        raise CLIError(
            f"{path}: --decimal {decimal!r} is also the field separator; give the separator "
            "with --delimiter (e.g. --delimiter ';')."
        )
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
            if decimal is not None:
                options["decimal"] = decimal
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
        hint = _delimiter_hint(*_first_lines(path, fmt), sep or ",") if len(names) == 1 else ""
        raise CLIError(f"{path}: not a valid {fmt.lstrip('.')} table: {message}{hint}") from None
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


def _first_lines(path: Path, fmt: str) -> tuple[str, str]:
    """The header line and the first data line (non-blank), as written."""
    lines = []
    with _open_text(path, fmt) as handle:
        for line in handle:
            if line.strip():
                lines.append(line.strip("\r\n"))
                if len(lines) == 2:
                    break
    header, data = [*lines, "", ""][:2]
    return header, data


# separators that people use, as --delimiter takes them
# what an error about a classifier column that is not a number adds, where the columns
# were not listed (fit, in memory and on a Parquet dataset)
OTHER_COLUMN = (
    " (an ID or other column? name it with --id-column, or list the probability columns "
    "with --classifier-columns)"
)
_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}


def _delimiter_hint(header: str, data: str = "", sep: str = ",") -> str:
    """ "; ... use --delimiter X" when a header read as one column holds another separator
    (and --decimal ',' when the data line has numbers with a decimal comma), else ""."""
    counts = {c: header.count(c) for c in _SEPARATORS if c != sep}
    best = max(counts, key=lambda c: counts[c])
    if not counts[best]:
        return ""
    hint = f"--delimiter {_SEPARATORS[best]}"
    if best != "," and re.search(r"\d,\d", data):
        hint += " and --decimal ',' (the numbers have decimal commas)"  # e.g. 0,478
    shown = "tabs" if best == "\t" else repr(best)
    return f"; the header is separated by {shown}: use {hint}"


def decimal_comma_hint(cell) -> str:
    """ " (a decimal comma: ...)" when a cell that is not a number is one with a decimal
    comma, such as "0,478"; else ""."""
    if isinstance(cell, str) and re.fullmatch(r"\s*[-+]?\d*,\d+(?:[eE][-+]?\d+)?\s*", cell):
        return " (a decimal comma: give --decimal ',' to read such numbers)"
    return ""


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
    import numpy as np

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
    import numpy as np

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
    import numpy as np

    pd = _pandas()
    if y.dtype == object:
        return pd.Series(y, dtype="string")
    return pd.Series(np.where(y == -1, 0, y).astype(np.int64), dtype="Int64").mask(y == -1)


def _probability_columns(clf, proba: np.ndarray) -> dict[str, Any]:
    """``probability`` (two classes: the second's) or ``probability__<class>`` per class,
    and ``predicted``, the most probable label."""
    import numpy as np

    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    from .._validation import predicted_labels

    if proba.shape[1] == 2:
        out: dict[str, Any] = {"probability": proba[:, 1]}
    else:
        labels = clf.classes_.tolist()
        out = {f"probability__{label}": proba[:, k] for k, label in enumerate(labels)}
    out["predicted"] = predicted_labels(clf.classes_, proba)
    return out
