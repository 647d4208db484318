"""Model files: round trip, version and corruption errors, no pickle."""

import json
import os
import stat
import warnings
import zipfile

import numpy as np
import pytest
from conftest import rewrite_metadata
from sklearn.exceptions import ConvergenceWarning

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, CFEnsembleTrainer
from cfensemble.io import FORMAT_VERSION

# the fits here stop at max_iter=20 (see _fit); with complete P the factorization runs when
# save reads the factors, so its ConvergenceWarning comes from the save line
pytestmark = pytest.mark.filterwarnings(
    "ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning"
)


def _fit(P, y, cls=CFEnsembleClassifier, **params):
    if cls is CFEnsembleTrainer:  # the original method's front-end keeps its max_iter
        params.setdefault("max_iter", 20)
    else:
        params.setdefault("solver", ALS(max_iter=20))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(random_state=0, **params).fit(P, y)


def _params(est):
    """``get_params()``, the solver object by its repr (its settings are the
    ``solver__...`` entries; a loaded model has an equal object, not the same one)."""
    return {k: repr(v) if k == "solver" else v for k, v in est.get_params().items()}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"aggregator_type": "mean"},
        {"confidence": "certainty", "focal_gamma": 2.0},
        {"latent_dim": "auto"},
        {"solver": ALS(max_iter=20, aggregator_solver="gd"), "class_weight_warmup": 3},
    ],
)
def test_round_trip_gives_identical_predictions(problem, tmp_path, params):
    P, _, y = problem
    clf = _fit(P, y, **params)
    path = tmp_path / "model.cfe"
    clf.save(path, metadata={"classifier_columns": ["a", "b"]})
    assert path.exists() and not (tmp_path / "model.cfe.npz").exists()
    loaded = cfensemble.load(path)
    assert type(loaded) is type(clf)
    assert _params(loaded) == _params(clf)
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))
    np.testing.assert_array_equal(loaded.label_distributions_, clf.label_distributions_)
    np.testing.assert_array_equal(loaded.loss_curve_["total"], clf.loss_curve_["total"])
    assert loaded.diagnostics_["weight_sum"] == clf.diagnostics_["weight_sum"]
    assert loaded.model_metadata_ == {"classifier_columns": ["a", "b"]}
    assert loaded.latent_dim_ == clf.latent_dim_ and loaded.cv_results_ == clf.cv_results_


def test_array_confidence_and_front_end_round_trip(problem, tmp_path):
    P, _, y = problem
    C = np.random.default_rng(0).random(P.shape)
    clf = _fit(P, y, cls=CFEnsembleTrainer, confidence=C, latent_dim=P.shape[1])
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert isinstance(loaded, CFEnsembleTrainer)
    np.testing.assert_array_equal(loaded.confidence, C)
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))


def test_files_are_not_pickles(problem, tmp_path):
    P, _, y = problem
    _fit(P, y).save(tmp_path / "m.cfe")
    with zipfile.ZipFile(tmp_path / "m.cfe") as archive:
        for name in archive.namelist():
            header = archive.read(name)[:6]
            assert header.startswith(b"\x93NUMPY")  # plain .npy arrays
    with np.load(tmp_path / "m.cfe", allow_pickle=False) as data:
        meta = json.loads(bytes(data["metadata"]).decode())
    assert meta["format"] == "cfensemble-model" and meta["format_version"] == FORMAT_VERSION


def test_other_format_version_is_a_clear_error(problem, tmp_path):
    P, _, y = problem
    path = tmp_path / "m.cfe"
    _fit(P, y).save(path)
    rewrite_metadata(path, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(
        ValueError,
        match=rf"format version {FORMAT_VERSION + 1}.*reads versions 2, 3, {FORMAT_VERSION}",
    ):
        cfensemble.load(path)


def test_corrupted_or_foreign_files_are_clear_errors(problem, tmp_path):
    P, _, y = problem
    path = tmp_path / "m.cfe"
    _fit(P, y).save(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.cfe"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable cfensemble model file"):
        cfensemble.load(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable cfensemble model file"):
        cfensemble.load(text)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, metadata=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(ValueError, match="not a cfensemble model file"):
        cfensemble.load(foreign)
    rewrite_metadata(path, lambda m: m.pop("scalars"))
    with pytest.raises(ValueError, match="damaged"):
        cfensemble.load(path)


def test_missing_file_or_folder_is_a_clear_error(problem, tmp_path):
    P, _, y = problem
    clf = _fit(P, y)
    with pytest.raises(FileNotFoundError, match=r"the directory .*no/such does not exist"):
        clf.save(tmp_path / "no" / "such" / "m.cfe")
    assert not (tmp_path / "no").exists()
    with pytest.raises(FileNotFoundError, match=r"no model file at .*absent\.cfe"):
        cfensemble.load(tmp_path / "absent.cfe")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_usual_permissions(problem, tmp_path, umask_022):
    """A model file, the CLI's outputs and a report folder are readable by others under a
    0o022 umask (as ``open`` would make them), not ``tempfile``'s 0o600 / 0o700; a file
    written over keeps its own mode."""
    from cfensemble.cli import main

    P, _, y = problem
    mode = lambda path: stat.S_IMODE(path.stat().st_mode)  # noqa: E731
    model = tmp_path / "m.cfe"
    _fit(P, y).save(model)
    assert mode(model) == 0o644
    model.chmod(0o640)
    _fit(P, y).save(model)
    assert mode(model) == 0o640
    table = tmp_path / "train.csv"
    rows = ["a,b,c,y"] + [
        ",".join(f"{v:.4f}" for v in p[:3]) + f",{t}" for p, t in zip(P, y, strict=True)
    ]
    table.write_text("\n".join(rows) + "\n")
    out = tmp_path / "cli.cfe"
    args = ["fit", str(table), "--label-column", "y", "--model", str(out), "--quiet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*args, "--max-iter", "5"]) == 0
        assert main(["report", "--model", str(out), "-o", str(tmp_path / "report")]) == 0
    assert mode(out) == mode(tmp_path / "cli.predictions.csv") == 0o644
    assert mode(tmp_path / "report") == 0o755
    assert {mode(f) for f in (tmp_path / "report").iterdir()} == {0o644}


def test_callable_confidence_cannot_be_saved(problem, tmp_path):
    P, _, y = problem
    clf = _fit(P, y, confidence=lambda P, y: np.ones(P.shape))
    with pytest.raises(ValueError, match="callable"):
        clf.save(tmp_path / "m.cfe")


def test_saving_an_unfitted_model_raises(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        CFEnsembleClassifier().save(tmp_path / "m.cfe")


def test_deeply_nested_metadata_is_a_clear_error(problem, tmp_path):
    """100,000 nested JSON arrays: a ValueError naming the file, not a RecursionError."""
    P, _, y = problem
    path = tmp_path / "m.cfe"
    _fit(P, y).save(path)

    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = bytes(arrays["metadata"]).decode()
    deep = meta[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    arrays["metadata"] = np.frombuffer(deep.encode(), dtype=np.uint8)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    with pytest.raises(ValueError, match="nests its JSON too deeply"):
        cfensemble.load(path)
