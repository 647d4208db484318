"""A fitted model as ``predict`` and ``report`` read it: the model file, and its
classifier columns in a table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._columns import probability_matrix
from ._files import CLIError, check_input
from ._tables import Table


def _load(path):
    from ..io import load_model

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
