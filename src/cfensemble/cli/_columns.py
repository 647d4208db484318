"""The columns of a table as the estimator reads them: ``P`` (one column per classifier,
or per classifier and class), the labels, the sample weights and the row IDs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._files import CLIError
from ._tables import Table, _numbers, _row, _shown, decimal_comma_hint


def probability_matrix(table: Table, columns: Sequence[str], hint: str = "") -> np.ndarray:
    """The classifier columns as a float matrix; empty cells are missing predictions (NaN)."""
    path = table.path
    P = np.empty((len(table), len(columns)))
    for j, name in enumerate(columns):
        column = table.column(name)
        values, _, bad = _numbers(column)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            cell = column.iloc[i]
            raise CLIError(
                f"{path}: column {name!r}, {_row(i)}: {_shown(cell)} is not a "
                f"number{decimal_comma_hint(cell) or hint}."
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
        if len(first) > 2 and set(names) < set(first):
            missing = sorted(set(first) - set(names))
            raise CLIError(
                f"the classifier columns name the classes {first} (as <classifier>__<class>) "
                f"but no row is labeled {missing}: label at least one row of each class (the "
                "class columns are matched to the labels)."
            )
        if classes.size <= 2:
            return None  # two classes: names with "__" are just classifier names
        raise CLIError(
            f"the classifier columns name the classes {first} (as <classifier>__<class>) but "
            f"the labels are {names}: they must be the same."
        )
    return classifiers, [f"{c}__{k}" for c in classifiers for k in names]


def _classes_of(y: np.ndarray) -> np.ndarray:
    from .._validation import encode_labels

    try:
        return encode_labels(y)[1]
    except ValueError as exc:
        raise CLIError(str(exc)) from None


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
            f"sample weight (a number >= 0 in every row){decimal_comma_hint(column.iloc[i])}."
        )
    return values


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
