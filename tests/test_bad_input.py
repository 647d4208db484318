"""Hostile input to model files and the CLI: a clear error naming the file or option, or
correct behaviour; never a half-written file, never an overwritten input."""

import json
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import cfensemble
from cfensemble import CFEnsembleClassifier, make_ensemble_problem
from cfensemble.cli import main


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    P, y = make_ensemble_problem(200, 4, positive_rate=0.2, random_state=0)
    y = np.where(np.arange(200) % 2 == 0, y, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0).fit(P, y)
    path = tmp_path_factory.mktemp("model") / "m.cfe"
    clf.save(path)
    return path, P, clf


def _rewrite(src, dst, change_meta=None, change_arrays=None):
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["metadata"]).decode())
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(dst, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _set(section, name, value):
    return lambda meta: meta[section].__setitem__(name, value)


EDITED_FILES = [
    ("lambda_reg NaN", _set("params", "lambda_reg", float("nan")), None, "lambda_reg"),
    ("chunk_size -1", _set("params", "chunk_size", -1), None, "chunk_size"),
    ("rho 7", _set("params", "rho", 7), None, "'rho' parameter"),
    ("unknown parameter", _set("params", "bogus", 1), None, "bogus"),
    ("scalar names a method", _set("scalars", "predict_proba", 1), None, "unknown fitted"),
    ("intercept infinite", _set("scalars", "intercept_", float("inf")), None, "intercept_"),
    ("n_features_in_ 2e8", _set("scalars", "n_features_in_", 200_000_000), None, "disagree"),
    ("latent_dim_ wrong", _set("scalars", "latent_dim_", 9), None, "disagree"),
    (
        "coef NaN",
        None,
        lambda a: a.__setitem__("coef_", np.full_like(a["coef_"], np.nan)),
        "coef_ holds NaN",
    ),
    (
        "coef wrong length",
        None,
        lambda a: a.__setitem__("coef_", np.ones(3)),
        "coef_ has shape",
    ),
    (
        "bias wrong length",
        None,
        lambda a: a.__setitem__("classifier_bias_", np.ones(7)),
        "classifier_bias_ has shape",
    ),
    (
        "factors missing",
        None,
        lambda a: a.pop("classifier_factors_"),
        "classifier_factors_",
    ),
    (
        "instance factors infinite",
        None,
        lambda a: a.__setitem__("instance_factors_", a["instance_factors_"] * np.inf),
        "instance_factors_ holds NaN or infinite",
    ),
    ("class unknown", lambda m: m.__setitem__("class", "os.system"), None, "damaged"),
    ("format version 1", lambda m: m.__setitem__("format_version", 1), None, "version 1"),
    ("not a model", lambda m: m.__setitem__("format", "other"), None, "not a cfensemble model"),
]


@pytest.mark.parametrize(
    ("case", "meta", "arrays", "match"), EDITED_FILES, ids=[c[0] for c in EDITED_FILES]
)
def test_edited_model_files_are_refused_with_the_field_named(
    model_file, tmp_path, case, meta, arrays, match
):
    src, _, _ = model_file
    dst = tmp_path / "edited.cfe"
    _rewrite(src, dst, meta, arrays)
    with pytest.raises(ValueError, match=match):
        cfensemble.load(dst)


def test_unknown_members_are_never_decompressed(model_file, tmp_path, monkeypatch):
    src, P, clf = model_file
    dst = tmp_path / "extra.cfe"
    _rewrite(src, dst, change_arrays=lambda a: a.__setitem__("payload", np.zeros(10)))
    loaded = cfensemble.load(dst)
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))
    assert not hasattr(loaded, "payload")


def test_a_highly_compressed_member_is_refused_before_decompression(
    model_file, tmp_path, monkeypatch
):
    src, _, _ = model_file
    dst = tmp_path / "bomb.cfe"
    bomb = np.zeros(4_000_000)  # 32 MB that deflate packs into ~30 kB
    _rewrite(src, dst, change_arrays=lambda a: a.__setitem__("loss_curve_total", bomb))
    read = []
    original = np.lib.format.read_array
    monkeypatch.setattr(
        np.lib.format, "read_array", lambda *a, **k: read.append(1) or original(*a, **k)
    )
    with pytest.raises(ValueError, match="expand"):
        cfensemble.load(dst)
    assert read == []  # refused from the headers, before any array was read


@pytest.mark.parametrize(
    "content", [b"", b"not a zip", b"PK\x03\x04 truncated"], ids=["empty", "text", "truncated"]
)
def test_foreign_files_are_clear_errors(tmp_path, content):
    path = tmp_path / "x.cfe"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable cfensemble model file"):
        cfensemble.load(path)


def test_a_failed_save_leaves_the_old_file_and_no_temporary(model_file, tmp_path, monkeypatch):
    src, _, clf = model_file
    path = tmp_path / "m.cfe"
    path.write_bytes(src.read_bytes())
    before = path.read_bytes()

    def broken(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.raises(OSError, match="No space left"):
        clf.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.cfe"]


# ------------------------------------------------------------------ CLI


@pytest.fixture
def csv_file(tmp_path):
    P, y = make_ensemble_problem(150, 3, positive_rate=0.2, random_state=0)
    y = np.where(np.arange(150) % 2 == 0, y, -1)
    path = tmp_path / "in.csv"
    lines = ["a,b,c,y"] + [f"{p[0]},{p[1]},{p[2]},{int(t)}" for p, t in zip(P, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("option", ["--model", "-o"])
def test_fit_never_overwrites_its_input(csv_file, tmp_path, capsys, option):
    before = csv_file.read_text()
    args = ["fit", str(csv_file), "--label-column", "y", "--quiet"]
    args += ["--model", str(csv_file)] if option == "--model" else ["--model", str(tmp_path / "m")]
    if option == "-o":
        args += ["-o", str(csv_file)]
    assert main(args) == 2
    assert "is the input file" in capsys.readouterr().err
    assert csv_file.read_text() == before


def test_predict_never_overwrites_its_input(csv_file, model_file, capsys):
    before = csv_file.read_text()
    path, _, _ = model_file
    assert main(["predict", "--model", str(path), str(csv_file), "-o", str(csv_file)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert csv_file.read_text() == before


def test_predict_with_a_model_saved_from_python(model_file, tmp_path):
    path, P, clf = model_file
    data = tmp_path / "new.csv"
    data.write_text("\n".join(["u,v,w,x"] + [",".join(map(str, row)) for row in P]) + "\n")
    out = tmp_path / "out.csv"
    assert main(["predict", "--model", str(path), str(data), "-o", str(out)]) == 0
    values = np.loadtxt(out, delimiter=",", skiprows=1, usecols=-1)
    np.testing.assert_allclose(values, clf.predict_proba(P)[:, 1], atol=1e-12)


def test_predict_with_a_python_model_and_the_wrong_column_count(model_file, tmp_path, capsys):
    path, P, _ = model_file
    data = tmp_path / "new.csv"
    data.write_text("\n".join(["u,v,w"] + [",".join(map(str, row[:3])) for row in P]) + "\n")
    assert main(["predict", "--model", str(path), str(data), "-o", str(tmp_path / "o.csv")]) == 2
    assert "fitted on 4 classifiers" in capsys.readouterr().err


def test_repeated_header_names_are_an_error(tmp_path, capsys):
    path = tmp_path / "dup.csv"
    path.write_text("a,a,y\n0.1,0.2,1\n0.3,0.4,0\n")
    args = ["fit", str(path), "--label-column", "y", "--model", str(tmp_path / "m")]
    assert main(args) == 2
    assert "repeated column names ['a']" in capsys.readouterr().err


def test_the_label_column_cannot_be_a_classifier_column(csv_file, tmp_path, capsys):
    args = ["fit", str(csv_file), "--label-column", "y", "--model", str(tmp_path / "m")]
    assert main([*args, "--classifier-columns", "a", "y"]) == 2
    assert "would leak the labels" in capsys.readouterr().err


def test_numpy_scalar_parameters_are_saved_as_numbers(tmp_path):
    P, y = make_ensemble_problem(120, 4, positive_rate=0.25, random_state=0)
    clf = CFEnsembleClassifier(
        latent_dim=np.int64(2),
        lambda_reg=np.float32(0.1),
        random_state=np.int64(0),
        callback=lambda it, losses: None,
    ).fit(P, np.where(np.arange(120) % 2 == 0, y, -1))
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.latent_dim == 2 and loaded.callback is None
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))
