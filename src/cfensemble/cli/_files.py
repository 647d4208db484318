"""Where the CLI's files are: the table formats, checks of every input and output location
(before any work), and :class:`_Outputs`, which writes every output to a temporary file
beside it and renames them all into place only when all of them are complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


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


_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib"}  # a model file named as a pickle


def check_output(
    path, option: str, inputs: Sequence[Path] = (), table: bool = False, directory: bool = False
) -> Path:
    """``path`` as a Path if it can be written (created or replaced), else a CLIError.

    ``table``: the suffix must be a known table format; ``directory``: ``path`` is a
    directory (created if absent). An output that names one of ``inputs`` is refused.
    """
    path = Path(path)
    label = f"{option} {path}"
    if option == "--model" and path.suffix.lower() in _PICKLE_SUFFIXES:
        raise CLIError(
            f"{label}: a cfensemble model file is arrays and JSON, never a pickle; name it "
            f"with another suffix (e.g. {path.with_suffix('.cfe').name})."
        )
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
        from ..io import replace_keeping_mode

        for temporary, path in self.staged:
            replace_keeping_mode(temporary, path)
        self.staged = []

    def __exit__(self, *exc) -> None:
        for temporary, _ in self.staged:
            temporary.unlink(missing_ok=True)
