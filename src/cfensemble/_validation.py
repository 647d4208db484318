"""Input checks shared by the estimators, with one error-message style.

Every message names the argument and the problem, e.g.
``"P must hold probabilities in [0, 1]; found values in [-0.2, 1.3]."``
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning


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


def check_probabilities(P, name: str = "P", n_classifiers: int | None = None) -> np.ndarray:
    """Return ``P`` as a float64 array of shape (n_samples, n_classifiers).

    NaN marks a missing prediction; every other entry must lie in [0, 1] and every row
    must hold at least one prediction.
    """
    if sp.issparse(P):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required: use NaN, not "
            "an absent entry, to mark a missing prediction, and '.toarray()' to convert."
        )
    try:
        P = np.asarray(_missing_as_nan(P))
        if P.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {name} must hold real probabilities.")
        P = np.asarray(P, dtype=np.float64)  # no copy when already float64: never mutated
    except TypeError as exc:
        raise TypeError(f"{name} must be a numeric array of probabilities: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"{name} must be a numeric array of probabilities: {exc}") from None
    if P.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D of shape (n_samples, n_classifiers); got {P.ndim}-D "
            f"with shape {P.shape}."
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
    if n_classifiers is not None and P.shape[1] != n_classifiers:
        raise ValueError(
            f"{name} has {P.shape[1]} columns but the model was fitted with "
            f"{n_classifiers} classifiers."
        )
    if np.isinf(P).any():
        raise ValueError(f"{name} contains ±inf; use NaN to mark a missing prediction.")
    observed = ~np.isnan(P)
    if observed.any():
        lo, hi = np.min(P[observed]), np.max(P[observed])
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{name} must hold probabilities in [0, 1]; found values in [{lo:.4g}, {hi:.4g}]."
            )
    empty = np.flatnonzero(~observed.any(axis=1))
    if empty.size:
        raise ValueError(
            f"{name} has {empty.size} row(s) with every prediction missing (first: row "
            f"{empty[0]}); drop them or give at least one prediction per row."
        )
    return P


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
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is raveled.",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D of shape (n_samples,); got shape {y.shape}.")
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} entries but P has {n_samples} rows.")
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
