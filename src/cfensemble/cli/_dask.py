"""The CLI on a Parquet dataset (many files) with dask: ``fit`` and ``predict``.

``cfensemble fit 'data/*.parquet' --label-column y --model m.cfe [--scheduler ADDRESS]``
reads the files as one dask DataFrame (one partition per file or row group), fits a
:class:`cfensemble.dask.DaskCFEnsembleClassifier`, writes the model (classifier factors
and aggregator only: :meth:`~cfensemble.dask.DaskCFEnsembleClassifier.to_model`) and the
predictions as a Parquet dataset (a directory of files, one per partition). Without
``--scheduler`` dask's local scheduler runs it; with an address (``tcp://host:8786``) a
``distributed.Client`` connects to that cluster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
from pathlib import Path

import numpy as np

from ._files import CLIError, check_output
from ._options import with_callback
from ._progress import fit_with_progress, seed_line
from ._tables import OTHER_COLUMN, _labels_column, _numbers, _row, _shown


def is_dataset(text: str) -> bool:
    """A glob pattern or a directory: read as a Parquet dataset with dask."""
    return any(ch in text for ch in "*?[") or Path(text).is_dir()


def _modules():
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError:
        raise CLIError(
            "a Parquet dataset (a pattern, a directory or --scheduler) needs dask: "
            "pip install 'cfensemble[dask]'"
        ) from None
    return dd, distributed


def _files(text: str) -> list[str]:
    path = Path(text)
    files = (
        sorted(glob.glob(str(path / "*.parquet"))) if path.is_dir() else sorted(glob.glob(text))
    )
    if not files and path.is_dir():
        raise CLIError(
            f"{text}: is a directory; a directory is read as a Parquet dataset, and it holds "
            "no .parquet file."
        )
    if not files:
        raise CLIError(f"{text}: no files match.")
    bad = [f for f in files if not f.endswith(".parquet")]
    if bad:
        raise CLIError(f"{text}: a dataset is read from .parquet files; {bad[0]} is not one.")
    return files


def _output_directory(text: str, sources: list[str]) -> Path:
    out = Path(text)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CLIError(
            f"-o {out}: exists and is not an empty directory (a dataset is written there)."
        )
    if any(Path(s).resolve().parent == out.resolve() for s in sources):
        raise CLIError(f"-o {out}: is the input's directory.")
    return out


CONNECT_TIMEOUT = "20s"  # to reach a --scheduler


class _Scheduler:
    """``with _Scheduler(address):`` a distributed Client for an address, else nothing."""

    def __init__(self, address: str | None):
        self.address, self.client = address, None

    def __enter__(self):
        if self.address:
            _, distributed = _modules()
            try:
                self.client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT)
            except OSError as exc:
                raise CLIError(f"--scheduler {self.address}: cannot connect ({exc}).") from None
        return self

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()


def _frame(files, columns_needed):
    dd, _ = _modules()
    try:
        frame = dd.read_parquet(files, blocksize=None)  # a partition per file
    except (OSError, ValueError) as exc:
        raise CLIError(f"{files[0]}...: not a readable Parquet dataset: {exc}") from None
    missing = [c for c in columns_needed if c is not None and c not in frame.columns]
    if missing:
        raise CLIError(
            f"the dataset has no column {missing[0]!r}; its columns are {list(frame.columns)}."
        )
    return frame


_NUMERIC_LABELS = (
    ": on a Parquet dataset (the Dask route) labels are numbers, two classes (0/1, -1 or "
    "empty for unlabeled); a single file also takes class names and more classes"
)


def _numeric(frame, hints: dict[str, str]) -> None:
    """The columns ``hints`` names are numeric in the dataset's schema (its first file's);
    an error adds the column's hint."""
    for name, hint in hints.items():
        if frame[name].dtype.kind not in "biuf":
            raise CLIError(f"column {name!r} is not numeric ({frame[name].dtype}){hint}.")


class _NotANumber(Exception):
    """A text cell that is not a number, met in a partition (a later file's column may be
    text where the first file's, the schema, is numeric): ``args`` (column, cell). Not a
    ValueError: ``fit_with_progress`` would report one as it is, before
    :func:`_text_cells` finds the file and the row."""


def _as_floats(df, columns):
    """A partition's ``columns`` as float64 (a text cell that is a number is read as one,
    as in memory); a cell that is not a number raises :class:`_NotANumber`."""
    import pandas as pd

    out = {}
    for name in columns:
        values, _, text = _numbers(df[name])
        if text.any():
            raise _NotANumber(name, df[name].iloc[int(np.flatnonzero(text)[0])])
        out[name] = values
    return pd.DataFrame(out, index=df.index)


def _floats(frame, columns):
    """The dask DataFrame of ``columns`` as float64, per partition (:func:`_as_floats`)."""
    import pandas as pd

    meta = pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    return frame[list(columns)].map_partitions(_as_floats, list(columns), meta=meta)


@contextlib.contextmanager
def _text_cells(files: list[str], hints: dict[str, str]):
    """A :class:`_NotANumber` from the work inside as a CLIError naming the file, the row
    and the cell (the first file whose column holds text, found from the files' schemas),
    as the in-memory CLI does."""
    try:
        yield
    except _NotANumber as exc:
        name, cell = exc.args
        hint = hints.get(name, "")
        where = _first_text_cell(files, name)
        if where is None:  # not found again (a file changed meanwhile?): the cell, no place
            raise CLIError(f"column {name!r}: {_shown(cell)} is not a number{hint}.") from None
        path, i, cell = where
        raise CLIError(
            f"{path}: column {name!r}, {_row(i)}: {_shown(cell)} is not a number{hint}."
        ) from None


def _first_text_cell(files: list[str], name: str):
    """``(file, row, cell)`` of the first cell of column ``name`` that is not a number,
    reading only the files whose schema has a column ``name`` that is not numeric."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    for path in files:
        try:
            schema = pq.read_schema(path)
            kind = schema.field(name).type
            numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
            if pa.types.is_null(kind) or any(test(kind) for test in numeric):
                continue
            column = pq.read_table(path, columns=[name]).column(0).to_pandas()
        except (OSError, KeyError, ValueError, pa.ArrowException):
            continue
        _, _, text = _numbers(column)
        if text.any():
            i = int(np.flatnonzero(text)[0])
            return path, i, column.iloc[i]
    return None


def _predictions(frame, model, columns, id_column, label=None, impute=False):
    """A dask DataFrame of predictions (with ``impute``: of the classifier columns, missing
    entries filled in), one partition per input partition."""

    import pandas as pd

    from .._validation import predicted_labels

    def part(df, partition_info=None):
        P = _as_floats(df, columns).to_numpy()
        out = {} if id_column is None else {id_column: df[id_column].to_numpy()}
        if label is not None:  # the columns of the in-memory predictions file
            y = np.nan_to_num(df[label].to_numpy(dtype=np.float64), nan=-1.0)
            out["label"] = _labels_column(y)
            out["labeled"] = (y != -1).astype(np.int64)
        if impute:
            filled = model.impute(P) if len(df) else P
            return pd.DataFrame({**out, **dict(zip(columns, filled.T, strict=True))})
        proba = model.predict_proba(P) if len(df) else np.zeros((0, 2))
        out["probability"] = proba[:, 1]
        out["predicted"] = predicted_labels(model.classes_, proba).astype(np.int64)
        return pd.DataFrame(out)

    meta = {} if id_column is None else {id_column: frame[id_column].dtype}
    if label is not None:
        meta.update({"label": "Int64", "labeled": "int64"})
    if impute:
        meta.update(dict.fromkeys(columns, "float64"))
    else:
        meta["probability"] = "float64"
        meta["predicted"] = "int64"
    empty = pd.DataFrame({k: pd.Series(dtype=v) for k, v in meta.items()})
    return frame.map_partitions(part, meta=empty)


def fit_dataset(args, params: dict, solver, progress) -> int:
    """Fit on the dataset ``args.predictions``: ``params`` are the estimator's (but
    ``solver``), ``progress`` the bar or None."""
    from ..dask import DaskCFEnsembleClassifier, _frame_array
    from ..io import save_model

    files = _files(args.predictions)
    label, id_column = args.label_column, args.id_column
    model_path = check_output(args.model, "--model", [Path(f) for f in files])
    output = _output_directory(args.output or str(model_path.with_suffix(".predictions")), files)
    with _Scheduler(args.scheduler):
        weight = args.sample_weight_column
        needed = [label, id_column, weight, *(args.classifier_columns or [])]
        frame = _frame(files, needed)
        columns = args.classifier_columns or [
            c for c in frame.columns if c not in (label, id_column, weight)
        ]
        extra = [label] if weight is None else [label, weight]
        hints = {
            **dict.fromkeys(columns, "" if args.classifier_columns else OTHER_COLUMN),
            **dict.fromkeys(extra, ""),
            label: _NUMERIC_LABELS,
        }
        _numeric(frame, hints)
        with _text_cells(files, hints):  # a later file's text cell: found in a partition
            array = _frame_array(_floats(frame, [*columns, *extra]))
            m = len(columns)
            P, y = array[:, :m], array[:, m]
            sample_weight = None if weight is None else array[:, m + 1]
            clf = DaskCFEnsembleClassifier(**params, solver=with_callback(solver, progress))
            fit_with_progress(clf, P, y, progress, args.predictions, sample_weight, solver)
            model = clf.to_model()
            metadata = {"classifier_columns": list(columns), "label_column": label}
            if weight is not None:
                metadata["sample_weight_column"] = weight
            if id_column is not None:
                metadata["id_column"] = id_column
            # the predictions first, the model file last: a failure leaves neither behind
            _write_dataset(_predictions(frame, model, list(columns), id_column, label), output)
        save_model(model, model_path, metadata)
    if not args.quiet:
        print(
            f"fitted {len(columns)} classifiers on {P.shape[0]} rows "
            f"({clf.labeled_index_.size} labeled) from {len(files)} files in {clf.n_iter_} "
            f"iterations; model: {model_path}; predictions: {output}/ (a Parquet dataset; "
            "column 'labeled' marks the rows whose labels the fit saw)\n" + seed_line(clf)
        )
    return 0


def predict_dataset(args, model, columns) -> int:
    files = _files(args.new_predictions)
    output = _output_directory(args.output, files)
    with _Scheduler(getattr(args, "scheduler", None)):
        frame = _frame(files, [*columns, args.id_column])
        # fit's ID column is copied when the new rows have it (as for a single file)
        recorded = model.model_metadata_.get("id_column")
        id_column = args.id_column or (recorded if recorded in frame.columns else None)
        hints = dict.fromkeys(columns, "")  # the model's columns: no other to name
        _numeric(frame, hints)
        predictions = _predictions(frame, model, list(columns), id_column, impute=args.impute)
        with _text_cells(files, hints):
            _write_dataset(predictions, output)
    return 0


def _write_dataset(frame, output: Path) -> None:
    """Write a Parquet dataset into a temporary sibling directory, then rename it: a failed
    write leaves nothing at ``output``."""
    temporary = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        frame.to_parquet(temporary, write_index=False)
        if output.exists():  # an empty directory (checked before the work)
            output.rmdir()
        temporary.rename(output)
    except OSError as exc:
        raise CLIError(f"-o {output}: cannot be written ({exc.strerror or exc}).") from None
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
