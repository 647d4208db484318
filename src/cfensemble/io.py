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

Format version 2 (cfensemble 0.2): the model gained classifier and instance biases; files
of version 1 hold a different model and are refused with a message.

A file of another format version, a file that is not a model file, or a corrupted file
raises a ValueError that says which.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

FORMAT = "cfensemble-model"
FORMAT_VERSION = 2

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
)


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
    # numpy scalars (np.int64(8), np.float32(0.1), np.bool_) as plain JSON numbers
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}


def save_model(estimator, path, metadata: dict | None = None) -> None:
    """Write a fitted estimator to ``path`` in the cfensemble model format (see module doc)."""
    from . import __version__

    check_is_fitted(estimator, "classifier_factors_")
    arrays: dict[str, Any] = {name: getattr(estimator, name) for name in _ARRAYS}
    for name in _OPTIONAL_ARRAYS:
        if hasattr(estimator, name):
            arrays[name] = np.asarray(getattr(estimator, name), dtype=str)
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
        "scalars": {name: getattr(estimator, name) for name in _SCALARS},
        "diagnostics": diagnostics,
        "loss_parts": list(estimator.loss_curve_),
        "user": metadata or {},
    }
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda handle: np.savez_compressed(handle, **arrays))


def write_atomically(path, write) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it over ``path``.

    A failed write (full disk, an exception) leaves ``path`` as it was and no temporary file.
    """
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(
        "wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            write(handle)  # a file object: numpy adds no ".npz" suffix
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def load_model(path):
    """Read an estimator written by :func:`save_model`.

    Returns the fitted estimator; the ``user`` metadata is in its ``model_metadata_``.
    """
    from . import _estimator, _seed

    path = Path(path)
    try:
        meta, arrays = _read_members(path)
    except FileNotFoundError:
        raise
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
        UnicodeDecodeError,
    ) as exc:
        raise ValueError(
            f"{path} is not a readable cfensemble model file (corrupted or another format): "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a cfensemble model file (format {meta.get('format')!r}).")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is a cfensemble model file of format version "
            f"{meta.get('format_version')!r}; this cfensemble ({_version()}) reads version "
            f"{FORMAT_VERSION}. Load it with the cfensemble version that wrote it "
            f"({meta.get('cfensemble_version')})."
        )
    classes = {
        "CFEnsembleClassifier": _estimator.CFEnsembleClassifier,
        "CFEnsembleTrainer": _seed.CFEnsembleTrainer,
        "CFEnsemblePyTorchTrainer": _seed.CFEnsemblePyTorchTrainer,
    }
    try:
        cls = classes[meta["class"]]
        params = dict(meta["params"])
        if isinstance(params.get("confidence"), dict):
            params["confidence"] = arrays.pop(params["confidence"]["array"])
        estimator = cls(**params)
        for name in _ARRAYS:
            setattr(estimator, name, arrays[name])
        for name in _OPTIONAL_ARRAYS:
            if name in arrays:
                setattr(estimator, name, arrays[name].astype(object))
        for name in _SCALARS:
            setattr(estimator, name, meta["scalars"][name])
        estimator.loss_curve_ = {part: arrays[f"loss_curve_{part}"] for part in meta["loss_parts"]}
        estimator.diagnostics_ = {"weights": arrays["weights"], **meta["diagnostics"]}
        estimator.model_metadata_ = meta.get("user", {})
        _check_loaded(estimator, meta)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"{path} is a damaged cfensemble model file: {type(exc).__name__}: {exc}"
        ) from None
    return estimator


_MAX_METADATA = 16 << 20  # bytes of JSON
_MAX_EXPANSION = 64  # uncompressed / compressed size of any member


def _read_members(path: Path) -> tuple[dict, dict]:
    """The metadata and the known arrays of a model file, checked before decompression.

    Only members this format defines are read; each one's declared uncompressed size must
    be within ``_MAX_EXPANSION`` times its compressed size (numbers and factors do not
    compress that well; a zip bomb does), and the metadata within 16 MiB.
    """
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for info in infos.values():
        if info.file_size > _MAX_EXPANSION * info.compress_size + (1 << 20):
            raise ValueError(f"member {info.filename} expands {info.file_size} bytes: refused")
    if "metadata.npy" not in infos or infos["metadata.npy"].file_size > _MAX_METADATA:
        raise ValueError("no metadata member of a sane size")
    known = {
        *_ARRAYS,
        *_OPTIONAL_ARRAYS,
        "weights",
        "param.confidence",
        *(f"loss_curve_{part}" for part in ("total", "reconstruction", "supervised")),
    }
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["metadata"]).decode("utf-8"))
        arrays = {name: data[name] for name in data.files if name in known}
    return meta, arrays


def _check_loaded(estimator, meta: dict) -> None:
    """Parameters through the estimator's constraints; arrays finite and of agreeing shapes."""
    unknown = set(meta["params"]) - set(estimator.get_params())
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    extra = set(meta["scalars"]) - set(_SCALARS)
    if extra:
        raise ValueError(f"unknown fitted attributes {sorted(extra)}")
    estimator._validate_params()
    X, Y = estimator.classifier_factors_, estimator.instance_factors_
    m, d = X.shape
    n = Y.shape[0]
    shapes = {
        "instance_factors_": (Y.shape, (n, d)),
        "classifier_bias_": (estimator.classifier_bias_.shape, (m,)),
        "instance_bias_": (estimator.instance_bias_.shape, (n,)),
        "transduction_": (estimator.transduction_.shape, (n,)),
        "classes_": (estimator.classes_.shape, (2,)),
    }
    for name, (got, want) in shapes.items():
        if got != want:
            raise ValueError(f"{name} has shape {got}, expected {want}")
    if estimator.coef_.shape not in {(m,), (2 * m,)}:
        raise ValueError(f"coef_ has shape {estimator.coef_.shape} for {m} classifiers")
    if estimator.n_features_in_ != m or estimator.latent_dim_ != d:
        raise ValueError("n_features_in_ / latent_dim_ disagree with the factor shapes")
    for name in (
        "classifier_factors_",
        "classifier_bias_",
        "instance_factors_",
        "instance_bias_",
        "coef_",
        "transduction_",
    ):
        if not np.all(np.isfinite(getattr(estimator, name))):
            raise ValueError(f"{name} holds NaN or infinite values")
    if not np.isfinite(float(estimator.intercept_)):
        raise ValueError("intercept_ is not finite")


def _version() -> str:
    from . import __version__

    return __version__
