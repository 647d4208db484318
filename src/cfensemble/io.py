"""Model files: a documented, versioned format of arrays plus JSON, never pickle.

A model file is a NumPy ``.npz`` archive (zip) read with ``allow_pickle=False``, so loading
a file cannot run code. It holds:

- ``metadata``: UTF-8 JSON (stored as a uint8 array) with ``format`` =
  ``"cfensemble-model"``, ``format_version`` (an integer, currently 1), the cfensemble
  version that wrote it, the estimator ``class``, its ``params`` (``get_params``), the
  fitted scalars, and ``user`` metadata (the CLI stores the classifier column names there);
- one array per fitted array attribute (``classifier_factors_``, ``classifier_bias_``,
  ``instance_factors_``, ``instance_bias_``, ``coef_``, ``transduction_``, ``classes_``,
  ``loss_curve_<part>``, ``weights``, and ``feature_names_in_`` when the columns had
  names), and ``param.confidence`` when the confidence parameter is an array.

The array ``transduction_`` holds the fitted probabilities of the rows of fit, as in every
format version: for two classes the second class's, (n,); for K >= 3 classes every class's,
(n, K). Since cfensemble 1.0 these are the estimator's ``label_distributions_`` (as
(n, n_classes)), and its ``transduction_`` is the predicted labels, computed from them at
load; files written before load the same way. The scalar ``cv_results_`` (the search of
``latent_dim`` / ``rho`` = "auto", or null) is a JSON object of lists, one entry per
candidate (scikit-learn's layout: ``params``, ``param_latent_dim``, ``mean_test_score``,
...), loaded as arrays; files before 1.0 stored a list of one object per candidate
(``latent_dim``, ``rho``, ``mean_pr_auc``, ``fold_pr_auc``), converted at load.

Format version 2 (cfensemble 0.2): the model gained classifier and instance biases; files
of version 1 hold a different model and are refused with a message.

Format version 3 (cfensemble 0.2.x, unreleased): any class labels and K >= 3 classes.
``classes_`` may hold strings or bools; the scalar ``n_class_columns_`` (0 for a 2-D
``P``, else its class axis) is new; for K >= 3 classes ``coef_`` is (m, K) or (2 m, K),
``intercept_`` a list of K numbers, ``transduction_`` (n, K) and ``classifier_factors_``
has one row per classifier and class. Files of version 2 load as before (binary,
``n_class_columns_ = 0``). The scalars ``abstention_`` and ``abstention_test_`` (the
fill-in's blend toward an abstaining classifier, and the test that chose it) are newer
still; a file without them loads with ``abstention_ = 0``, ``abstention_test_ = None`` and
the parameter ``abstention=0`` (the model it was fitted as, also when it is cloned and
refitted). Files of development builds that stored ``abstention_cv_`` instead (the
cross-validated choice) load with ``abstention_test_ = None``. The fill-in's calibration
(``fill_calibration_``, parameter ``calibrate_fill``) is three optional arrays,
``fill_calibration.x`` and ``fill_calibration.y`` (columns × knots, NaN-padded) and
``fill_calibration.n`` (knots per column); a file without them loads with
``fill_calibration_ = None`` and, when its params predate the parameter,
``calibrate_fill=False``. The scalars ``aggregator_shrinkage_`` (the shrinkage used) and
``shrinkage_cv_`` (the cross-validation of ``aggregator_shrinkage="auto"``) are newer; a
file without them loads with the parameter's value and None; so does the newer scalar
``aggregator_l2_`` (the ridge used: ``aggregator_l2="auto"`` resolved) with the parameter's
value. The optional array
``shrinkage_target_`` (what the shrinkage pulled the weights toward, one number per column
of ``P``) is newer still; a file without it loads with all 1 (equal weights, the only target
then). So is ``class_prior_`` (what a row without any prediction is given, one number per
class); a file without it loads with the mean of the stored ``transduction_`` (the
probabilities).

A file of another format version, a file that is not a model file, or a corrupted file
raises a ValueError that says which.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import zipfile
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._validation import (
    mean_distribution,
    positive_proba,
    predicted_labels,
    proba_columns,
    warn,
)

FORMAT = "cfensemble-model"
FORMAT_VERSION = 4
READABLE_VERSIONS = (2, 3, 4)

# the estimator classes a model file may name (registered by their modules: this module
# imports none of them)
MODEL_CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Let model files name ``cls`` (a class decorator)."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


_ARRAYS = (
    "classifier_factors_",
    "classifier_bias_",
    "instance_factors_",
    "instance_bias_",
    "coef_",
    "transduction_",
    "classes_",
)
_OPTIONAL_ARRAYS = ("feature_names_in_",)
_TARGET = "shrinkage_target_"
_PRIOR = "class_prior_"  # absent from files before 1.0: the mean of the probabilities
_FILL_ARRAYS = ("fill_calibration.x", "fill_calibration.y", "fill_calibration.n")
_SCALARS = (
    "intercept_",
    "aggregator_trained_",
    "latent_dim_",
    "rho_",
    "cv_results_",
    "n_iter_",
    "n_features_in_",
    "validation_pr_auc_",
    "validation_loss_",
    "n_class_columns_",
    "multiclass_factorization_",
    "abstention_",
    "abstention_test_",
    "aggregator_shrinkage_",
    "shrinkage_cv_",
    "aggregator_l2_",
)
# absent from older files: their value there
_NEW_SCALARS = {
    "n_class_columns_": 0,
    "multiclass_factorization_": None,
    "abstention_": 0.0,
    "abstention_test_": None,
    "aggregator_shrinkage_": None,  # older files: the parameter's value (a number then)
    "shrinkage_cv_": None,
    "aggregator_l2_": None,  # older files: the parameter's value (a number then)
}


def _json_params(estimator, arrays: dict) -> dict:
    params = estimator.get_params(deep=False)
    confidence = params.get("confidence")
    if callable(confidence):
        raise ValueError(
            "confidence is a callable, which a model file cannot hold (arrays and JSON "
            "only): pass its result as an array, or a strategy name."
        )
    if not isinstance(confidence, str) and confidence is not None:
        arrays["param.confidence"] = np.asarray(confidence, dtype=np.float64)
        params["confidence"] = {"array": "param.confidence"}
    if not (params.get("random_state") is None or isinstance(params["random_state"], Integral)):
        params["random_state"] = None  # a RandomState instance: its state is not stored
    if params.get("callback") is not None:
        params["callback"] = None  # a callable: not stored (it only reports progress)
    solver = params.get("solver")
    if solver is not None and not isinstance(solver, str):  # ALS(...) or Autograd(...)
        settings = {**solver.get_params(deep=False), "callback": None}
        params["solver"] = {type(solver).__name__: settings}
    return _jsonable(params, "params")


def _jsonable(value, field: str):
    """``value`` with numpy scalars and arrays as plain JSON values (np.int64(8) -> 8).

    Anything JSON cannot hold raises a ValueError naming the field.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, np.generic):
                key = key.item()
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ValueError(f"{field}: key {key!r} cannot be stored in a model file")
            out[key] = _jsonable(item, f"{field}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{field}[{k}]") for k, item in enumerate(value)]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(
        f"{field}: a value of type {type(value).__name__} cannot be stored in a model file (JSON "
        "numbers, strings, lists and dicts only)"
    )


def save_model(estimator, path, metadata: dict | None = None) -> None:
    """Write a fitted estimator to ``path`` in the cfensemble model format (see module doc)."""
    from . import __version__

    check_is_fitted(estimator, "coef_")  # not a deferred attribute: reading it runs nothing
    arrays: dict[str, Any] = {name: getattr(estimator, name) for name in _ARRAYS}
    # transduction_ on disk: the probabilities, as before 1.0 (the second class's, (n,), for
    # two classes; (n, K) for K >= 3); the labels are computed from them at load
    arrays["transduction_"] = positive_proba(np.asarray(estimator.label_distributions_))
    arrays["classes_"] = np.asarray(np.asarray(estimator.classes_).tolist())  # no objects
    if arrays["classes_"].dtype.kind not in "biufU":
        raise ValueError(
            f"classes_ {estimator.classes_!r} cannot be stored in a model file (numbers, "
            "strings or bools only)."
        )
    for name in _OPTIONAL_ARRAYS:
        if hasattr(estimator, name):
            arrays[name] = np.asarray(getattr(estimator, name), dtype=str)
    for name in (_TARGET, _PRIOR):
        if hasattr(estimator, name):
            arrays[name] = np.asarray(getattr(estimator, name), dtype=np.float64)
    fill_map = getattr(estimator, "fill_calibration_", None)
    if fill_map is not None:
        for name in _FILL_ARRAYS:
            arrays[name] = getattr(fill_map, name.rsplit(".", 1)[1])
    for part, values in estimator.loss_curve_.items():
        arrays[f"loss_curve_{part}"] = values
    diagnostics = dict(estimator.diagnostics_)
    arrays["weights"] = diagnostics.pop("weights")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cfensemble_version": __version__,
        "class": type(estimator).__name__,
        "params": _json_params(estimator, arrays),
        "scalars": _jsonable(
            {name: getattr(estimator, name, _NEW_SCALARS.get(name)) for name in _SCALARS},
            "scalars",
        ),
        "diagnostics": _jsonable(diagnostics, "diagnostics"),
        "loss_parts": list(estimator.loss_curve_),
        "user": _jsonable(metadata or {}, "metadata"),
    }
    text = json.dumps(meta, allow_nan=True)  # NaN/inf are refused at load, with the field
    arrays["metadata"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda handle: np.savez_compressed(handle, **arrays))


def write_atomically(path, write) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    A failed write (full disk, an exception) leaves ``path`` as it was and no temporary file.
    The file gets the permissions a plain ``open(path, "wb")`` would give it (see
    :func:`replace_keeping_mode`).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {path}: the directory {path.parent} does not exist."
        )
    handle = tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            write(handle)  # a file object: numpy adds no ".npz" suffix
        replace_keeping_mode(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


_UMASK_LOCK = threading.Lock()


def replace_keeping_mode(temporary, path) -> None:
    """``os.replace(temporary, path)``, with the permissions ``path`` would get if it were
    written in place: an existing file's (or folder's) own, else ``0o666`` (``0o777`` for
    a folder) less the process umask. ``tempfile`` creates its files ``0o600`` and its
    folders ``0o700``, which would otherwise hide every output from other users."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        with _UMASK_LOCK:  # reading the umask means setting it (no getter before 3.13)
            umask = os.umask(0o022)
            os.umask(umask)
        mode = (0o777 if os.path.isdir(temporary) else 0o666) & ~umask
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def load_model(path):
    """Read an estimator written by :func:`save_model`.

    Returns the fitted estimator; the ``user`` metadata is in its ``model_metadata_``.
    Everything is checked before use: only the members this format defines are read (with
    ``allow_pickle=False``), their declared shapes must agree with each other before any
    array is allocated, parameters go through the estimator's constraints, and arrays and
    fitted numbers must be finite. A problem raises a ValueError naming the file and the
    field.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a cfensemble model file.")
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}.")
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None
    with archive:
        if "schema.json" in archive.namelist():  # skops: what CFEnsembleStackingClassifier writes
            raise ValueError(
                f"{path} is a saved CFEnsembleStackingClassifier (a skops file): read it with "
                "cfensemble.load_stacking."
            )
        try:
            meta = _read_metadata(archive)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise _unreadable(path, exc) from None
        _check_format(path, meta)
        try:
            arrays = _read_arrays(archive, meta)
            estimator = _build(meta, arrays)
        except (
            OSError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            EOFError,
            zipfile.BadZipFile,
        ) as exc:
            raise ValueError(
                f"{path} is a damaged cfensemble model file: {_describe(exc)}"
            ) from None
    return estimator


def _unreadable(path: Path, exc: BaseException) -> ValueError:
    return ValueError(
        f"{path} is not a readable cfensemble model file (corrupted or another format): "
        f"{_describe(exc)}"
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    return f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else str(exc)


def _check_format(path: Path, meta: dict) -> None:
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cfensemble model file (format {meta.get('format')!r}).")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} is a cfensemble model file of format version "
            f"{meta.get('format_version')!r}; this cfensemble ({_version()}) reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}. Load it with the cfensemble version "
            f"that wrote it ({meta.get('cfensemble_version')})."
        )


_MAX_METADATA = 16 << 20  # bytes of JSON
_MAX_EXPANSION = 64  # uncompressed / compressed size of the arrays, all together


def _read_metadata(archive: zipfile.ZipFile) -> dict:
    info = _member(archive, "metadata")
    if info is None:
        raise ValueError("no metadata member")
    if info.file_size > _MAX_METADATA:
        raise ValueError(f"metadata member of {info.file_size} bytes: refused")
    with archive.open(info) as handle:
        shape, dtype, _ = _npy_header(handle, "metadata")
        if dtype != np.uint8 or len(shape) != 1:
            raise ValueError("metadata is not a byte array")
        text = handle.read(shape[0])
    try:
        meta = json.loads(text.decode("utf-8"))
    except RecursionError:  # arrays nested beyond the parser's depth
        raise ValueError("metadata nests its JSON too deeply") from None
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    return meta


def _member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo | None:
    try:
        return archive.getinfo(name + ".npy")
    except KeyError:
        return None


def _npy_header(handle, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of a ``.npy`` stream, reading nothing else."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"{name}: unsupported .npy version {version}")
    if dtype.hasobject:
        raise ValueError(f"{name}: object arrays are refused (no pickle)")
    return tuple(int(k) for k in shape), dtype, handle.tell()


def _read_arrays(archive: zipfile.ZipFile, meta: dict) -> dict[str, np.ndarray]:
    """The arrays this format defines, after their declared shapes were checked.

    Unknown members are never opened. Each known member's header is read first; the
    shapes must agree with each other (``m`` classifiers, ``n`` instances, ``d`` latent
    dimensions), each member's size must match its header, and all of them together may
    expand at most ``_MAX_EXPANSION`` times their compressed size (numbers and factors do
    not compress that well; a zip bomb does). Only then are the arrays read.
    """
    from ._problem import LOSS_PARTS

    parts = meta["loss_parts"]
    if not isinstance(parts, list) or not set(parts) <= set(LOSS_PARTS) or "total" not in parts:
        raise ValueError(f"loss_parts must be a list of {list(LOSS_PARTS)}; got {parts!r}")
    names = [*_ARRAYS, "weights", *(f"loss_curve_{part}" for part in parts)]
    optional = [*_OPTIONAL_ARRAYS, _TARGET, _PRIOR, *_FILL_ARRAYS]
    confidence = meta["params"].get("confidence") if isinstance(meta["params"], dict) else None
    if isinstance(confidence, dict):
        if confidence != {"array": "param.confidence"}:
            raise ValueError(f"params.confidence: {confidence!r} is not an array reference")
        names.append("param.confidence")
    headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    infos: dict[str, zipfile.ZipInfo] = {}
    for name in names + optional:
        info = _member(archive, name)
        if info is None:
            if name in optional:
                continue
            raise ValueError(f"{name}: missing")
        with archive.open(info) as handle:
            shape, dtype, offset = _npy_header(handle, name)
        size = int(np.prod(shape, dtype=np.float64) * dtype.itemsize)
        if info.file_size != offset + size:
            raise ValueError(
                f"{name}: the header declares shape {shape} ({size} bytes) but the member "
                f"holds {info.file_size - offset} bytes"
            )
        headers[name], infos[name] = (shape, dtype), info
    total = sum(info.file_size for info in infos.values())
    packed = sum(info.compress_size for info in infos.values())
    if total > _MAX_EXPANSION * packed + (1 << 20):
        raise ValueError(
            f"the arrays expand {total} bytes from {packed} compressed: refused (zip bomb?)"
        )
    _check_shapes(headers, meta["scalars"].get("n_class_columns_", 0))
    arrays = {}
    for name, info in infos.items():
        with archive.open(info) as handle:
            arrays[name] = np.lib.format.read_array(handle, allow_pickle=False)
    return arrays


def _class_prior(arrays: dict) -> np.ndarray:
    """``class_prior_`` of a model file; files before 1.0: the mean of the stored
    ``transduction_`` (probabilities)."""
    if _PRIOR not in arrays:
        return mean_distribution(arrays["transduction_"])
    prior = arrays[_PRIOR]
    if not np.all(np.isfinite(prior)) or (prior < 0).any() or abs(prior.sum() - 1.0) > 1e-6:
        raise ValueError(f"{_PRIOR} must hold non-negative numbers summing to 1; got {prior}")
    return prior


def _check_shapes(headers: dict[str, tuple[tuple[int, ...], np.dtype]], k) -> None:
    """Shapes and dtypes of the arrays, from their headers, against each other (``k``: the
    class columns per classifier, 0 for a 2-D P)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 0 or k == 1:
        raise ValueError(f"scalars.n_class_columns_ has an invalid value {k!r}")
    for name, (_, dtype) in headers.items():
        text = name in ("feature_names_in_", "classes_")
        if dtype.kind not in ("fiub" + ("U" if text else "")):
            raise ValueError(f"{name} has dtype {dtype}; expected numbers")
    X, _ = headers["classifier_factors_"]
    Y, _ = headers["instance_factors_"]
    outputs = k if k > 2 else 1  # logits per row
    per_class = len(Y) == 3  # multiclass_factorization_ "per_class": factors per class
    if len(X) != 2 or len(Y) != (3 if per_class and outputs > 1 else 2):
        raise ValueError(
            f"classifier_factors_ {X} must be 2-D and instance_factors_ {Y} 2-D (3-D for "
            "factors per class)"
        )
    (columns, d), n = X, Y[0]
    m = columns // outputs  # classifiers
    if m == 0 or columns % outputs:
        raise ValueError(
            f"classifier_factors_ has {columns} rows: not a positive multiple of {outputs} classes"
        )
    coef = headers["coef_"][0]
    per_row = () if outputs == 1 else (outputs,)
    want: dict[str, list[tuple[int, ...]]] = {
        "instance_factors_": [(n, outputs, d) if per_class else (n, d)],
        "classifier_bias_": [(columns,)],
        "instance_bias_": [(n, outputs) if per_class else (n,)],
        "transduction_": [(n, *per_row)],
        "classes_": [(max(k, 2),)],
        _PRIOR: [(max(k, 2),)],
        "coef_": [(m, *per_row), (2 * m, *per_row)],
        "weights": [coef],
        "feature_names_in_": [(m,)],
        "param.confidence": [(n, columns), (n, m), (n, m, k)],
    }
    for name, shapes in want.items():
        if name in headers and headers[name][0] not in shapes:
            expected = " or ".join(str(s) for s in shapes)
            raise ValueError(
                f"{name} has shape {headers[name][0]}, expected {expected} "
                f"({m} classifiers, {n} instances, latent dimension {d})"
            )
    for name, (shape, _) in headers.items():
        if name.startswith("loss_curve_") and len(shape) != 1:
            raise ValueError(f"{name} has shape {shape}; expected 1-D")
    fill = [name for name in _FILL_ARRAYS if name in headers]
    if fill and len(fill) < 3:
        raise ValueError(f"{', '.join(fill)} without the other fill_calibration arrays")
    if fill:
        x, y, count = (headers[name][0] for name in _FILL_ARRAYS)
        if len(x) != 2 or x[0] != columns or y != x or count != (columns,):
            raise ValueError(
                f"fill_calibration.x {x}, .y {y} and .n {count} must be ({columns}, knots), "
                f"the same, and ({columns},)"
            )


def _migrated(params: dict, meta: dict) -> dict:
    """A cfensemble 0.2 file's parameters in the 1.0 spelling; a removed setting it was
    fitted with is named in a warning (the model predicts as fitted)."""
    from ._solvers import migrate_params

    params, notes = migrate_params(params)
    if notes:
        warn(
            f"This model file was written by cfensemble {meta.get('cfensemble_version')} "
            f"with {', '.join(notes)}, which cfensemble 1.0 removed (see the CHANGELOG): it "
            "predicts as it was fitted, but a refit (clone) uses 1.0's setting.",
            UserWarning,
        )
    return params


def _trainer(stored: dict):
    """``{"ALS": {...}}`` or ``{"Autograd": {...}}`` as the settings object."""
    from ._solvers import SOLVERS

    kinds = {cls.__name__: cls for cls in SOLVERS.values()}
    if len(stored) != 1 or next(iter(stored)) not in kinds:
        raise ValueError(f"params.solver: {stored!r} is not a cfensemble solver")
    ((name, settings),) = stored.items()
    if not isinstance(settings, dict):
        raise ValueError(f"params.solver: the settings of {name} are not a JSON object")
    known = set(kinds[name]().get_params(deep=False))
    if set(settings) - known:
        raise ValueError(f"params.solver: unknown {name} settings {sorted(set(settings) - known)}")
    return kinds[name](**settings)


def _build(meta: dict, arrays: dict[str, np.ndarray]):
    classes = MODEL_CLASSES
    if meta["class"] not in classes:
        raise ValueError(f"class {meta['class']!r} is not a cfensemble estimator")
    cls = classes[meta["class"]]
    params, scalars = meta["params"], meta["scalars"]
    for field, value in (("params", params), ("scalars", scalars)):
        if not isinstance(value, dict):
            raise ValueError(f"{field} is not a JSON object")
    params = dict(params)
    if meta["format_version"] < 4 and meta["class"] == "CFEnsembleClassifier":
        params = _migrated(params, meta)
    if isinstance(params.get("solver"), dict):
        params["solver"] = _trainer(params["solver"])
    known = set(cls().get_params(deep=False))
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"params: unknown parameters {sorted(unknown)}")
    # development builds between 0.2.0 and the label-free test stored the cross-validated
    # choice's gains; the choice itself (abstention_) loads as it was
    scalars.pop("abstention_cv_", None)
    extra = set(scalars) - set(_SCALARS)
    if extra:
        raise ValueError(f"scalars: unknown fitted attributes {sorted(extra)}")
    if "abstention_" not in scalars:  # written before abstention: it was fitted without one
        params.setdefault("abstention", 0.0)
    if "fill_calibration.x" not in arrays:  # fitted without a calibration
        params.setdefault("calibrate_fill", False)
    if isinstance(params.get("confidence"), dict):
        params["confidence"] = arrays["param.confidence"]
    estimator = cls(**params)
    estimator._validate_params()  # the constraints' message names the parameter
    solver = params.get("solver")
    if solver is not None and not isinstance(solver, str):
        solver.check()  # the trainer's settings, likewise
    for name in _ARRAYS:
        setattr(estimator, name, arrays[name])
    stored = arrays["transduction_"]  # the probabilities (see save_model)
    estimator.label_distributions_ = proba_columns(stored)
    for name in _OPTIONAL_ARRAYS:
        if name in arrays:
            setattr(estimator, name, arrays[name].astype(object))
    scalars = {**_NEW_SCALARS, **scalars}
    for name in ("aggregator_shrinkage_", "aggregator_l2_"):
        if scalars[name] is None:
            scalars[name] = getattr(estimator, name[:-1])
    for name in _SCALARS:
        setattr(estimator, name, _check_scalar(name, scalars[name], estimator))
    estimator.fill_calibration_ = _fill_map(arrays)
    columns = arrays["classifier_factors_"].shape[0]
    target = arrays.get(_TARGET, np.ones(columns))
    if target.shape != (columns,) or not np.all(np.isfinite(target)) or not np.all(target > 0):
        raise ValueError(
            f"{_TARGET} must hold {columns} finite numbers > 0 (one per column of P); got "
            f"shape {target.shape}"
        )
    estimator.shrinkage_target_ = target
    estimator.class_prior_ = _class_prior(arrays)
    estimator.loss_curve_ = {part: arrays[f"loss_curve_{part}"] for part in meta["loss_parts"]}
    estimator.diagnostics_ = {"weights": arrays["weights"], **_check_diagnostics(meta)}
    user = meta.get("user", {})
    if not isinstance(user, dict):
        raise ValueError("user metadata is not a JSON object")
    estimator.model_metadata_ = user
    for name in (
        "classifier_factors_",
        "classifier_bias_",
        "instance_factors_",
        "instance_bias_",
        "coef_",
        "transduction_",
        "weights",
    ):
        values = arrays[name]
        if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
            raise ValueError(f"{name} holds NaN or infinite values")
    labels = arrays["classes_"]
    chosen = getattr(estimator, "pos_label", None)
    if chosen is not None and labels.size == 2:  # [other, pos_label], in that order
        if labels[1].item() != chosen:
            raise ValueError(f"classes_ {labels.tolist()} must end with pos_label {chosen!r}")
        labels = np.sort(labels)
    if labels.size > 1 and not np.all(labels[1:] > labels[:-1]):
        raise ValueError(f"classes_ {labels.tolist()} must be sorted and distinct")
    if "param.confidence" in arrays:
        C = arrays["param.confidence"]
        if not np.all(np.isfinite(C)) or (C < 0).any():
            raise ValueError("param.confidence must be finite and >= 0")
    estimator.transduction_ = predicted_labels(estimator.classes_, estimator.label_distributions_)
    return estimator


def _fill_map(arrays: dict[str, np.ndarray]):
    """The fill-in's calibration from its three arrays (None without them), checked: each
    column's used knots finite and increasing in ``x``, the rest NaN."""
    if "fill_calibration.x" not in arrays:
        return None
    from ._fill import FillMap

    x, y, count = (arrays[name] for name in _FILL_ARRAYS)
    if count.dtype.kind not in "iu" or (count < 0).any() or (count > x.shape[1]).any():
        raise ValueError(f"fill_calibration.n must hold integers in [0, {x.shape[1]}]")
    used = np.arange(x.shape[1]) < count[:, None]
    x, y = x.astype(np.float64), y.astype(np.float64)
    if not (np.isfinite(x[used]).all() and np.isfinite(y[used]).all()):
        raise ValueError("fill_calibration.x and .y hold NaN or infinite values at used knots")
    if not (np.isnan(x[~used]).all() and np.isnan(y[~used]).all()):
        raise ValueError("fill_calibration.x and .y must be NaN beyond each column's knots")
    if (used[:, 1:] & ~(x[:, 1:] > x[:, :-1])).any():
        raise ValueError("fill_calibration.x must increase along each column's knots")
    return FillMap(x, y, count.astype(np.int64))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_scalar(name: str, value, estimator):
    """A fitted scalar of the model file, checked for its type, range and agreement."""
    d = estimator.classifier_factors_.shape[1]
    m = estimator.coef_.shape[0] // (2 if estimator.aggregator_input == "both" else 1)
    outputs = estimator.classes_.size if estimator.classes_.size > 2 else 1
    if name == "intercept_":
        if outputs == 1:
            ok = _is_number(value) and np.isfinite(value)
            value = float(value) if ok else value
        else:
            ok = (
                isinstance(value, list)
                and len(value) == outputs
                and all(_is_number(v) and np.isfinite(v) for v in value)
            )
            value = np.asarray(value, dtype=np.float64) if ok else value
    elif name == "multiclass_factorization_":
        per_class = estimator.instance_factors_.ndim == 3
        allowed = (None,) if outputs == 1 else ("joint", "per_class")
        ok = value in allowed and (value == "per_class") == per_class
    elif name == "n_class_columns_":
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and (value == outputs if outputs > 1 else value in (0, 2))
    elif name == "aggregator_trained_":
        ok = isinstance(value, bool)
    elif name == "n_iter_":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    elif name in ("rho_", "abstention_"):
        ok = _is_number(value) and 0 <= value <= 1
        value = float(value) if ok else value
    elif name in ("aggregator_shrinkage_", "aggregator_l2_"):
        ok = _is_number(value) and np.isfinite(value) and value >= 0
        value = float(value) if ok else value
    elif name == "shrinkage_cv_":
        ok = value is None or (
            isinstance(value, dict)
            and set(value) == {"candidates", "mean_pr_auc"}
            and isinstance(value["candidates"], list)
            and isinstance(value["mean_pr_auc"], list)
            and len(value["candidates"]) == len(value["mean_pr_auc"])
            and all(_is_number(x) for x in value["candidates"] + value["mean_pr_auc"])
        )
    elif name == "abstention_test_":
        ok = value is None or (
            isinstance(value, dict)
            and set(value) == {"z", "share"}
            and isinstance(value["z"], list)
            and len(value["z"]) == m
            and all(x is None or _is_number(x) for x in value["z"])
            and _is_number(value["share"])
            and 0 <= value["share"] <= 1
        )
    elif name in ("n_features_in_", "latent_dim_"):
        expected = m if name == "n_features_in_" else d
        if value != expected or isinstance(value, bool):
            raise ValueError(
                f"scalars.{name} is {value!r}, expected {expected}: n_features_in_ / "
                "latent_dim_ disagree with the factor shapes"
            )
        ok = True
    elif name in ("validation_pr_auc_", "validation_loss_"):
        ok = value is None or (_is_number(value) and np.isfinite(value))
    else:  # cv_results_: a record of the search, shown only
        value, ok = _cv_results(value)
    if not ok:
        raise ValueError(f"scalars.{name} has an invalid value {value!r}")
    return value


def _cv_results(value) -> tuple[Any, bool]:
    """``cv_results_`` of a model file (a dict of lists; files before 1.0: a list of dicts,
    converted) as a dict of arrays, and whether it is valid."""
    if value is None:
        return None, True
    if isinstance(value, list):  # before 1.0: one dict per candidate
        from ._search import cv_results_from_records

        try:
            return cv_results_from_records(value), True
        except (KeyError, TypeError, ValueError):
            return value, False
    if not isinstance(value, dict) or not isinstance(value.get("params"), list):
        return value, False
    n = len(value["params"])
    if not all(isinstance(column, list) and len(column) == n for column in value.values()):
        return value, False
    out = {key: col if key == "params" else np.asarray(col) for key, col in value.items()}
    if "rank_test_score" in out:
        out["rank_test_score"] = out["rank_test_score"].astype(np.int32)
    return out, True


_REPORTED = ("weight_min", "weight_max", "weight_sum", "prediction_std")


def _check_diagnostics(meta: dict) -> dict:
    diagnostics = meta["diagnostics"]
    if not isinstance(diagnostics, dict):
        raise ValueError("diagnostics is not a JSON object")
    for key, value in diagnostics.items():
        flat = value if isinstance(value, list) else [value]
        if key == "weights" or not all(v is None or isinstance(v, (int, float)) for v in flat):
            raise ValueError(f"diagnostics.{key} has an invalid value {value!r}")
    for key in _REPORTED:
        if not _is_number(diagnostics.get(key)):
            raise ValueError(f"diagnostics.{key} is missing or not a number")
    if not isinstance(diagnostics.get("collapsed"), bool):
        raise ValueError("diagnostics.collapsed is missing or not true/false")
    if not isinstance(diagnostics.get("n_negative_weights"), int):
        raise ValueError("diagnostics.n_negative_weights is missing or not an integer")
    return diagnostics


def _version() -> str:
    from . import __version__

    return __version__
