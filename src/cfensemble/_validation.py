"""Input checks shared by the estimators, with one error-message style.

Every message names the argument and the problem, e.g.
``"P must hold probabilities in [0, 1]; found values in [-0.2, 1.3]."``
"""

from __future__ import annotations

import os
import sys
import warnings
from types import FrameType

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the first caller outside cfensemble (the user's line,
    or the scikit-learn or Dask code that called us), however deep inside the package the
    warning is raised: the same path can be reached from ``fit``, the CLI, the Dask
    front-end or a cross-validation."""
    frame: FrameType | None = sys._getframe(1)
    level = 2  # warn's caller
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def _missing_as_nan(values):
    """``values`` with its own marks of a missing entry turned into NaN.

    A numpy masked array's masked entries and pandas' ``pd.NA`` (nullable ``Float64``,
    ``Int64``, ``boolean`` columns) are missing, like NaN. Anything else is returned as is.
    """
    if isinstance(values, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(values)
        data = np.asarray(values.data)
        if data.dtype.kind in "biuf" and mask.any():
            data = data.astype(np.float64)
            data[mask] = np.nan
        return data
    if hasattr(values, "columns") and hasattr(values, "dtypes"):  # a DataFrame
        dtypes = list(values.dtypes)
    elif hasattr(values, "dtype"):  # a Series or a pandas extension array
        dtypes = [values.dtype]
    else:
        return values
    if hasattr(values, "to_numpy"):
        nullable = any(
            type(dtype).__module__.startswith("pandas") and dtype.kind in "biuf"
            for dtype in dtypes
        )
        if nullable:
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
    return values


class EmptyRowsWarning(UserWarning):
    """Some rows of ``P`` hold no prediction at all: they are given the class prior.

    Make it an error for a strict run: ``warnings.simplefilter("error", EmptyRowsWarning)``
    (``cfensemble fit/predict --strict`` on the command line).
    """


def check_probabilities(
    P,
    name: str = "P",
    n_classifiers: int | None = None,
    n_classes: int | None = None,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``P`` as a float64 array of shape (n_samples, n_classifiers) or, for
    multi-class probabilities, (n_samples, n_classifiers, n_classes).

    NaN marks a missing prediction (for a class-probability vector, all its K entries);
    every other entry must lie in [0, 1] and each K-vector must sum to 1. Every row must
    hold at least one prediction unless ``allow_empty`` (see :func:`empty_rows`).
    ``n_classifiers`` and ``n_classes`` (None: any; 0: a 2-D ``P``) are those of a
    fitted model.
    """
    if sp.issparse(P):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required: use NaN, not "
            "an absent entry, to mark a missing prediction, and '.toarray()' to convert."
        )
    frame, names = P, _column_names(P)
    try:
        P = np.asarray(_missing_as_nan(P))
        if P.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must hold real probabilities.")
        P = np.asarray(P, dtype=np.float64)  # no copy when already float64: never mutated
    except TypeError as exc:
        raise TypeError(f"{name} must be a numeric array of probabilities: {exc}") from None
    except ValueError as exc:
        raise ValueError(
            f"{name} must be a numeric array of probabilities: {exc}{_text_column(frame, names)}"
        ) from None
    if P.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_classifiers), or 3-D of shape "
            f"(n_samples, n_classifiers, n_classes) for multi-class probabilities; got "
            f"{P.ndim}-D with shape {P.shape}."
        )
    if P.shape[0] == 0:
        raise ValueError(
            f"{name} has 0 sample(s) (shape={P.shape}) while a minimum of 1 is required."
        )
    if P.shape[1] == 0:
        raise ValueError(
            f"{name} has 0 feature(s) (shape={P.shape}) while a minimum of 1 is required: "
            "one column per base classifier."
        )
    if P.ndim == 3 and P.shape[2] < 2:
        raise ValueError(
            f"{name} has {P.shape[2]} class column(s) per classifier (shape={P.shape}); a "
            "3-D P needs at least 2: each classifier's probabilities of every class."
        )
    if n_classifiers is not None and P.shape[1] != n_classifiers:
        raise ValueError(
            f"{name} has {P.shape[1]} columns but the model was fitted with "
            f"{n_classifiers} classifiers."
        )
    if n_classes is not None and (P.shape[2] if P.ndim == 3 else 0) != n_classes:
        expected = (
            "2-D (n_samples, n_classifiers)"
            if n_classes == 0
            else f"3-D (n_samples, n_classifiers, {n_classes})"
        )
        raise ValueError(f"{name} has shape {P.shape} but the model was fitted on a {expected} P.")
    if np.isinf(P).any():
        raise ValueError(f"{name} contains ±inf; use NaN to mark a missing prediction.")
    missing = np.isnan(P)
    if P.ndim == 3:
        partial = missing.any(axis=2) & ~missing.all(axis=2)
        if partial.any():
            i, u = np.argwhere(partial)[0]
            raise ValueError(
                f"{name}[{i}, {u}] is NaN for some classes but not all; a missing prediction "
                "is missing for every class (NaN in all its class columns)."
            )
    observed = ~missing
    if observed.any():
        lo, hi = np.min(P[observed]), np.max(P[observed])
        if lo < 0.0 or hi > 1.0:
            # repr, not a rounded format: 1 + 2e-16 must not read as 1 (clip such values)
            first = tuple(int(j) for j in np.argwhere(observed & ((P < 0.0) | (P > 1.0)))[0])
            raise ValueError(
                f"{name} must hold probabilities in [0, 1]; found values in "
                f"[{float(lo)!r}, {float(hi)!r}], the first at {name}{list(first)} = "
                f"{float(P[first])!r}{_in_column(names, first[1])}."
            )
    if P.ndim == 3:
        observed = observed[:, :, 0]
        total = np.where(observed, P.sum(axis=2), 1.0)
        off = np.abs(total - 1.0) > 1e-2  # probabilities rounded to 3 decimals pass
        if off.any():
            i, u = np.argwhere(off)[0]
            raise ValueError(
                f"{name}[{i}, {u}, :] sums to {total[i, u]:.6g}, not 1: each classifier's "
                "class probabilities must sum to 1 (divide by their sum, or give the "
                "probabilities its predict_proba returned)."
            )
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size and not allow_empty:
        raise ValueError(
            f"{name} has {empty.size} row(s) with every prediction missing (first: row "
            f"{empty[0]}); drop them or give at least one prediction per row."
        )
    return P


def _column_names(P) -> list | None:
    """A DataFrame's column names (to name a column in an error), else None."""
    columns = getattr(P, "columns", None)
    return None if columns is None or not hasattr(P, "dtypes") else list(columns)


def _in_column(names: list | None, j: int) -> str:
    if names is None:
        return ""
    return (
        f" (column {names[j]!r}; an ID or other column that is not a classifier's "
        "probabilities: drop it or make it the index)"
    )


def _text_column(P, names: list | None) -> str:
    """Which column of a DataFrame ``P`` holds text, if one does."""
    if names is None:
        return ""
    for j, dtype in enumerate(P.dtypes):
        if dtype.kind not in "biufcm" and not _numeric(P.iloc[:, j]):
            return _in_column(names, j)
    return ""


def _numeric(column) -> bool:
    try:
        np.asarray(_missing_as_nan(column), dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True


def empty_rows(P: np.ndarray, name: str = "P", then: str = "") -> np.ndarray:
    """The mask of checked ``P``'s rows without any prediction; warns
    (:class:`EmptyRowsWarning`) with their count where there are some."""
    empty = np.isnan(P).all(axis=tuple(range(1, P.ndim)))
    if empty.any():
        first = int(np.argmax(empty))
        warn(
            f"{name} has {int(empty.sum())} of {P.shape[0]} row(s) with every prediction "
            f"missing (first: row {first}){then}. Make this an error with "
            "warnings.simplefilter('error', cfensemble.EmptyRowsWarning) (--strict on the "
            "command line).",
            EmptyRowsWarning,
        )
    return empty


def _is_unlabeled(value) -> bool:
    """None, NaN, pandas' NA or the number -1 (not ``True``/``False``) marks an unlabeled row."""
    if value is None or value is getattr(_pandas_na(), "NA", object()):
        return True
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, int | float | np.integer | np.floating):
        return bool(np.isnan(value)) or value == -1
    return False


def _pandas_na():
    try:
        import pandas
    except ImportError:  # pragma: no cover - pandas is a dependency
        return None
    return pandas


def encode_labels(y, n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Labels as class indices: ``(index, classes)``.

    ``index`` is float64 with the position of each labeled row's label in ``classes``
    (sorted, as scikit-learn's ``np.unique``) and NaN for unlabeled rows. Any labels a
    scikit-learn classifier accepts: numbers, strings, bools. Unlabeled rows are -1 or NaN
    for numeric labels (scikit-learn's semi-supervised convention) and None or NaN for
    object labels.
    """
    if y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None: give the "
            "class of each labeled row and -1 (or NaN) for unlabeled rows."
        )
    given = _missing_as_nan(y)
    y = np.asarray(given)
    if y.dtype.kind in "US" and not hasattr(given, "dtype"):
        y = np.asarray(given, dtype=object)  # a list of strings and NaN: NaN stays NaN
    if y.dtype.kind == "c":
        raise ValueError("Complex data not supported: y must hold class labels.")
    y = _one_dimensional(y, n_samples)
    if y.dtype.kind == "b":
        unlabeled = np.zeros(y.shape[0], dtype=bool)
    elif y.dtype.kind in "iuf":
        unlabeled = np.isnan(y) | (y == -1) if y.dtype.kind == "f" else y == -1
        values = y[~unlabeled]
        if y.dtype.kind == "f" and values.size:
            if not np.isfinite(values).all():
                raise ValueError("y contains ±inf; mark unlabeled rows with -1 or NaN.")
            if np.any(values != np.round(values)):
                raise ValueError(
                    "Unknown label type: continuous. y must hold class labels (0/1, "
                    "integers, strings, ...) and -1 or NaN for unlabeled rows; found "
                    f"{np.unique(values[values != np.round(values)])[:5].tolist()}."
                )
    else:
        y = y.astype(object)
        unlabeled = np.fromiter((_is_unlabeled(v) for v in y), dtype=bool, count=y.shape[0])
    labeled = y[~unlabeled]
    try:
        classes = np.unique(labeled)
    except TypeError as exc:
        raise ValueError(f"y mixes label types that cannot be sorted together: {exc}") from None
    if classes.dtype.kind == "f" and classes.size and np.all(classes == np.round(classes)):
        classes = classes.astype(np.int64) if y.dtype.kind == "f" else classes
    index = np.full(y.shape[0], np.nan)
    index[~unlabeled] = np.searchsorted(classes, labeled)
    return index, classes


def _one_dimensional(y: np.ndarray, n_samples: int | None) -> np.ndarray:
    """``y`` raveled from a column vector (with scikit-learn's warning), checked 1-D and of
    length ``n_samples`` when given."""
    if y.ndim == 2 and y.shape[1] == 1:
        warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D of shape (n_samples,); got shape {y.shape}.")
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} entries but P has {n_samples} rows.")
    return y


def check_labels(y, n_samples: int | None = None) -> np.ndarray:
    """Return labels as float64 with NaN for unlabeled rows.

    Accepts 0/1 for labeled rows and -1 or NaN for unlabeled rows.
    """
    if y is None:
        raise ValueError(
            "This estimator requires y to be passed, but the target y is None: give 0/1 "
            "for labeled rows and -1 for unlabeled rows."
        )
    try:
        y = np.asarray(_missing_as_nan(y))
        if y.dtype.kind == "c":
            raise ValueError("Complex data not supported: y must hold labels 0, 1 or -1.")
        y = y.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"y must be numeric with 0/1 for labeled rows and -1 or NaN for unlabeled rows: {exc}"
        ) from None
    y = _one_dimensional(y, n_samples)
    y = np.where(y == -1, np.nan, y)
    bad = ~np.isnan(y) & (y != 0) & (y != 1)
    if bad.any():
        values = np.unique(y[bad])[:5].tolist()
        if np.any(y[bad] != np.round(y[bad])):
            kind = "Unknown label type: continuous."
        else:
            kind = "Only binary classification is supported; the target is multiclass."
        raise ValueError(
            f"{kind} y must hold 0 or 1 for labeled rows and -1 or NaN for unlabeled rows; "
            f"found {values}."
        )
    return y


def check_confidence_array(C, shape: tuple[int, int], name: str = "confidence") -> np.ndarray:
    """Return a user-supplied confidence matrix as float64, checked finite and >= 0."""
    try:
        C = np.array(_missing_as_nan(C), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if C.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the shape of P); got {C.shape}.")
    if not np.isfinite(C).all():
        raise ValueError(f"{name} must be finite; found NaN or ±inf.")
    if (C < 0).any():
        raise ValueError(f"{name} must be >= 0; found minimum {C.min():.4g}.")
    if not (C > 0).any():
        raise ValueError(
            f"{name} is 0 everywhere, so no prediction would count; give a positive "
            "confidence to the predictions to fit."
        )
    return C


def _marks_minus_one(y) -> bool:
    """Whether ``y`` holds the number -1 (the unlabeled mark), for error messages."""
    try:
        return bool(np.any(np.asarray(y, dtype=object) == -1))
    except (TypeError, ValueError):
        return False


def _check_sample_weight(sample_weight, y: np.ndarray) -> np.ndarray | None:
    """``sample_weight`` as float64 of shape (n_samples,), finite and >= 0, or None."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must be numeric: {exc}") from None
    if w.shape != y.shape:
        raise ValueError(
            f"sample_weight must have shape ({y.shape[0]},), one weight per row; got {w.shape}."
        )
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("sample_weight must be finite and >= 0.")
    labeled = ~np.isnan(y)
    for cls in np.unique(y[labeled]):
        rows = labeled & (y == cls)
        if w[rows].sum() == 0:
            raise ValueError(f"sample_weight is 0 on every labeled row of class index {int(cls)}.")
    return w


def _is_array(value) -> bool:
    return not isinstance(value, str) and not callable(value)


def check_label_classes(est, y_labeled: np.ndarray, classes=None, minus_one: bool = False) -> None:
    """Two classes or more among the labeled rows, or none (a warned pure reconstruction)."""
    present = np.unique(y_labeled)
    if y_labeled.size and present.size < 2:
        label = classes[int(present[0])] if classes is not None else int(present[0])
        label = label.item() if isinstance(label, np.generic) else label
        hint = (
            " If -1 is a class here (labels -1/+1), recode y (e.g. to 0/1): -1 marks "
            "an unlabeled row, scikit-learn's semi-supervised convention."
            if minus_one
            else ""
        )
        raise ValueError(
            f"y has labeled rows of one class only ({label!r}); the aggregator needs at "
            "least two classes. Label at least one row of each class, or mark all rows "
            f"-1 for a pure reconstruction.{hint}"
        )
    if est._outputs > 1 and est._s.fn_cost != 1.0:
        raise ValueError(
            "fn_cost is the cost of a false negative of a binary problem; y has "
            f"{est._outputs} classes: use sample_weight for costs per row."
        )
    if (
        est._outputs > 1
        and est._s.solver == "als"
        and est._s.focal_gamma > 0
        and not isinstance(est._s.rho, str)
        and est._s.rho < 1
    ):
        raise ValueError(
            "focal_gamma > 0 with rho < 1 is not available for more than two classes "
            "with solver='als' (its majoriser is proved for the cross-entropy only); "
            "use rho=1, focal_gamma=0 or solver='torch'."
        )
    if not y_labeled.size:
        if est._s.solver == "torch":
            raise ValueError(
                "solver='torch' trains on labeled rows and y has none; use solver='als' "
                "for a pure reconstruction of P."
            )
        warn(
            "y has no labeled rows: fitting a pure reconstruction of P; predictions are "
            "the clipped mean of the aggregator input (the aggregator is not trained).",
            UserWarning,
        )


def positive_last(y: np.ndarray, classes: np.ndarray, pos_label, ndim: int):
    """``(y, classes)`` of :func:`encode_labels` with ``pos_label`` made the second class
    (the one a 2-D ``P`` holds the probability of); unchanged for None."""
    if pos_label is None:
        return y, classes
    if ndim != 2:
        raise ValueError(
            f"pos_label={pos_label!r} names the class a 2-D P holds the probability of; a "
            "3-D P holds every class's probability, in the order of the sorted labels: "
            "leave pos_label=None."
        )
    found = [
        i for i, c in enumerate(classes.tolist()) if type(c) is type(pos_label) and c == pos_label
    ]
    if not found or classes.size > 2:
        raise ValueError(
            f"pos_label={pos_label!r} must be one of the two classes of the labeled rows of "
            f"y; they are {classes.tolist()}."
        )
    if found[0] == 0:  # make it the second class
        classes = classes[::-1].copy()
        y = np.where(np.isnan(y), np.nan, 1.0 - y)
    return y, classes


def proba_columns(proba: np.ndarray) -> np.ndarray:
    """``proba`` as (n, n_classes), the layout of ``predict_proba``: the probability of the
    second class, (n,), as ``[1 - p, p]``; (n, K) unchanged."""
    return np.column_stack([1.0 - proba, proba]) if proba.ndim == 1 else proba


def mean_distribution(proba: np.ndarray) -> np.ndarray:
    """The mean over the rows of fitted probabilities (the second class's, (n,), or every
    class's, (n, K)) as one probability per class, (n_classes,); 1/n_classes each for no
    rows."""
    proba = np.asarray(proba, dtype=np.float64)
    mean = proba.mean(axis=0) if proba.size else np.full(proba.shape[1:], 0.5)
    return np.array([1.0 - mean, mean]) if proba.ndim == 1 else mean / mean.sum()


def positive_proba(distributions: np.ndarray) -> np.ndarray:
    """The inverse of :func:`proba_columns`: (n, 2) as the second class's probability,
    (n,); (n, K >= 3) unchanged."""
    return distributions[:, 1] if distributions.shape[1] == 2 else distributions


def predicted_labels(classes: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """The labels of ``classes`` that ``proba`` (n, n_classes) predicts: the most probable
    class; for two classes the second where its probability is at least 0.5."""
    if proba.shape[1] == 2:
        return classes[(proba[:, 1] >= 0.5).astype(int)]
    return classes[np.argmax(proba, axis=1)]
