"""Hostile input to model files and the CLI: a clear error naming the file or option, or
correct behaviour; never a half-written file, never an overwritten input."""

import json
import warnings

import numpy as np
import pytest
from conftest import rewrite_model_file
from sklearn.exceptions import ConvergenceWarning

import cfensemble
from cfensemble import ALS, CFEnsembleClassifier, make_ensemble_problem
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
    rewrite_model_file(src, dst, change_meta, change_arrays, compressed=True)


def _set(section, name, value):
    return lambda meta: meta[section].__setitem__(name, value)


EDITED_FILES = [
    ("lambda_reg NaN", _set("params", "lambda_reg", float("nan")), None, "lambda_reg"),
    ("chunk_size -1", _set("params", "solver", {"ALS": {"chunk_size": -1}}), None, "chunk_size"),
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
    ("intercept 1e400", _set("scalars", "intercept_", 1e400), None, "intercept_"),
    ("intercept a string", _set("scalars", "intercept_", "0.3"), None, "intercept_"),
    ("n_iter_ negative", _set("scalars", "n_iter_", -3), None, "scalars.n_iter_"),
    ("rho_ above 1", _set("scalars", "rho_", 2.5), None, "scalars.rho_"),
    ("aggregator_trained_ text", _set("scalars", "aggregator_trained_", "yes"), None, "trained"),
    ("validation loss NaN", _set("scalars", "validation_loss_", float("nan")), None, "valid"),
    ("scalar missing", lambda m: m["scalars"].pop("n_iter_"), None, "'n_iter_'"),
    (
        "max_iter text",
        _set("params", "solver", {"ALS": {"max_iter": "many"}}),
        None,
        "'max_iter' parameter",
    ),
    ("solver unknown", _set("params", "solver", "magic"), None, "'solver' parameter"),
    ("params a list", lambda m: m.__setitem__("params", [1, 2]), None, "params"),
    ("diagnostic text", _set("diagnostics", "weight_sum", "big"), None, "diagnostics.weight_sum"),
    ("diagnostic missing", lambda m: m["diagnostics"].pop("weight_min"), None, "weight_min"),
    ("diagnostics a list", lambda m: m.__setitem__("diagnostics", []), None, "diagnostics"),
    ("loss part unknown", lambda m: m.__setitem__("loss_parts", ["total", "x"]), None, "loss"),
    ("user metadata a list", lambda m: m.__setitem__("user", [1]), None, "user metadata"),
    (
        "confidence reference elsewhere",
        _set("params", "confidence", {"array": "metadata"}),
        None,
        "params.confidence",
    ),
    (
        "classes wrong length",
        None,
        lambda a: a.__setitem__("classes_", np.arange(3)),
        "classes_ has shape",
    ),
    (
        "transduction wrong length",
        None,
        lambda a: a.__setitem__("transduction_", a["transduction_"][:-1]),
        "transduction_ has shape",
    ),
    (
        "instance factors of another rank",
        None,
        lambda a: a.__setitem__("instance_factors_", a["instance_factors_"][:, :-1]),
        "instance_factors_ has shape",
    ),
    (
        "classifier factors 1-D",
        None,
        lambda a: a.__setitem__("classifier_factors_", np.ones(4)),
        "must be 2-D",
    ),
    (
        "weights NaN",
        None,
        lambda a: a.__setitem__("weights", a["weights"] * np.nan),
        "weights holds NaN",
    ),
    (
        "coef as text",
        None,
        lambda a: a.__setitem__("coef_", np.array(["1", "2", "3", "4"])),
        "coef_ has dtype",
    ),
    (
        "feature names of the wrong length",
        None,
        lambda a: a.__setitem__("feature_names_in_", np.array(["a", "b"])),
        "feature_names_in_ has shape",
    ),
    (
        "an object array (a pickle)",
        None,
        lambda a: a.__setitem__("coef_", np.array([{"x": 1}] * 4, dtype=object)),
        "object arrays are refused",
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
    values = np.loadtxt(out, delimiter=",", skiprows=1, usecols=-2)  # then "predicted"
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
        solver=ALS(callback=lambda it, losses: None),
    ).fit(P, np.where(np.arange(120) % 2 == 0, y, -1))
    clf.save(tmp_path / "m.cfe")
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.latent_dim == 2 and loaded.solver.callback is None
    np.testing.assert_array_equal(loaded.predict_proba(P), clf.predict_proba(P))


# ------------------------------------------------------------------ model files: raw members


def _replace_member(src, dst, member, data):
    """Copy the model file with one zip member's bytes replaced (or added)."""
    import zipfile

    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != member:
                new.writestr(info.filename, old.read(info.filename))
        if data is not None:
            new.writestr(member, data)


def _npy_header(shape, dtype="<f8"):
    import io

    buffer = io.BytesIO()
    header = {"descr": dtype, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


RAW_MEMBERS = [
    (
        "a header declaring 10^12 rows",
        "instance_factors_.npy",
        _npy_header((10**12, 2)) + b"\0" * 64,
        "header declares shape",
    ),
    (
        "a header declaring fewer bytes than the member holds",
        "coef_.npy",
        _npy_header((1,)) + b"\0" * 800,
        "header declares shape",
    ),
    ("not an npy member", "coef_.npy", b"hello world", "damaged"),
    ("metadata not JSON", "metadata.npy", _npy_header((5,), "|u1") + b"{{{{{", "not a readable"),
    ("metadata a JSON list", "metadata.npy", _npy_header((2,), "|u1") + b"[]", "not a JSON"),
    ("metadata missing", "metadata.npy", None, "no metadata"),
]


@pytest.mark.parametrize(
    ("case", "member", "data", "match"), RAW_MEMBERS, ids=[c[0] for c in RAW_MEMBERS]
)
def test_tampered_members_are_refused_before_allocation(
    model_file, tmp_path, case, member, data, match
):
    src, _, _ = model_file
    dst = tmp_path / "raw.cfe"
    _replace_member(src, dst, member, data)
    with pytest.raises(ValueError, match=match):
        cfensemble.load(dst)


def test_a_directory_is_not_a_model_file(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        cfensemble.load(tmp_path)


def test_a_failed_metadata_encoding_leaves_the_old_file(model_file, tmp_path, monkeypatch):
    src, _, clf = model_file
    path = tmp_path / "m.cfe"
    path.write_bytes(src.read_bytes())

    def broken(*args, **kwargs):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(json, "dumps", broken)
    with pytest.raises(RuntimeError):
        clf.save(path)
    assert path.read_bytes() == src.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["m.cfe"]


def test_save_refuses_metadata_json_cannot_hold(model_file, tmp_path):
    _, _, clf = model_file
    with pytest.raises(
        ValueError, match=r"metadata.when: a value of type object cannot be stored"
    ):
        clf.save(tmp_path / "m.cfe", metadata={"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_numpy_values_in_user_metadata_are_saved_as_plain_json(model_file, tmp_path):
    _, _, clf = model_file
    metadata = {"n": np.int64(3), "scores": np.array([0.5, 0.25]), "names": (np.str_("a"),)}
    clf.save(tmp_path / "m.cfe", metadata=metadata)
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.model_metadata_ == {"n": 3, "scores": [0.5, 0.25], "names": ["a"]}


# ------------------------------------------------------------------ CLI: a table of bad runs


def _rows(n=60, m=3, seed=0):
    P, y = make_ensemble_problem(n, m, positive_rate=0.3, random_state=seed)
    y = np.where(np.arange(n) % 2 == 0, y, -1)
    return P, y


def _csv_text(P, y, names=("a", "b", "c"), sep=",", ids=False):
    header = (["id"] if ids else []) + [*names, "y"]
    lines = [sep.join(header)]
    for i, (row, label) in enumerate(zip(P, y, strict=True)):
        cells = ([f"r{i}"] if ids else []) + [f"{v:.6f}" for v in row]
        lines.append(sep.join([*cells, "" if label == -1 else str(int(label))]))
    return "\n".join(lines) + "\n"


GOOD = _csv_text(*_rows())
HEADER, FIRST = GOOD.splitlines()[:2]
ONE_CLASS = "a,b,y\n0.1,0.2,1\n0.3,0.7,1\n0.5,0.5,\n"

FIT = ["fit", "{d}/in.csv", "--label-column", "y", "--model", "{d}/m.cfe", "--quiet"]


def _fit_with(path="{d}/in.csv", *extra):
    return ["fit", path, "--label-column", "y", "--model", "{d}/m.cfe", "--quiet", *extra]


# (case, files to create: name -> text, bytes, or None for a directory, args, match)
CLI_ERRORS = [
    ("missing input", {}, FIT, "in.csv: no such file"),
    ("input is a directory", {"in.csv": None}, FIT, "holds no .parquet file"),
    ("latin-1 input", {"in.csv": "modèle,y\n0.1,1\n".encode("latin-1")}, FIT, "not UTF-8"),
    ("empty input", {"in.csv": ""}, FIT, "the file is empty"),
    ("blank lines only", {"in.csv": "\n\n\n"}, FIT, "the file is empty"),
    ("header only", {"in.csv": "a,b,y\n"}, FIT, "no data rows"),
    ("a short row", {"in.csv": "a,b,y\n0.1,0.2,1\n0.3,0.4\n"}, FIT, "line 3 has 2 fields"),
    ("a long row", {"in.csv": "a,b,y\n0.1,0.2,1,7\n"}, FIT, "Expected 3 fields in line 2"),
    ("unknown input type", {"in.xlsx": "x"}, _fit_with("{d}/in.xlsx"), "unknown file type"),
    ("not gzip", {"in.csv.gz": GOOD}, _fit_with("{d}/in.csv.gz"), "cannot be read"),
    ("not parquet", {"in.parquet": GOOD}, _fit_with("{d}/in.parquet"), "not a readable parquet"),
    ("repeated header", {"in.csv": "a,a,y\n0.1,0.2,1\n"}, FIT, "repeated column names ['a']"),
    (
        "label column missing",
        {"in.csv": GOOD},
        ["fit", "{d}/in.csv", "--label-column", "t", "--model", "{d}/m.cfe"],
        "no label column 't'",
    ),
    (
        "classifier column missing",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--classifier-columns", "a", "z"),
        "no column 'z'",
    ),
    (
        "classifier column twice",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--classifier-columns", "a", "a"),
        "names ['a'] more than once",
    ),
    (
        "label column as a classifier",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--classifier-columns", "a", "y"),
        "would leak the labels",
    ),
    (
        "id column missing",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--id-column", "key"),
        "no ID column 'key'",
    ),
    (
        "id column is the label",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--id-column", "y"),
        "label",
    ),
    (
        "id column as a classifier",
        {"in.csv": GOOD},
        _fit_with("{d}/in.csv", "--id-column", "a", "--classifier-columns", "a", "b"),
        "is also a classifier column",
    ),
    (
        "an id column left among the classifiers",
        {"in.csv": _csv_text(*_rows(), ids=True)},
        FIT,
        "'r0' is not a number (an ID or other column? name it with --id-column",
    ),
    ("text in P", {"in.csv": "a,b,y\n0.1,0.2,1\n0.3,high,0\n"}, FIT, "'high' is not a number"),
    ("P above 1", {"in.csv": "a,b,y\n0.1,0.2,1\n0.3,1.7,0\n"}, FIT, "1.7 is not a probability"),
    ("P infinite", {"in.csv": "a,b,y\n0.1,inf,1\n0.3,0.2,0\n"}, FIT, "inf is not a probability"),
    ("P 1e400", {"in.csv": "a,b,y\n0.1,1e400,1\n0.3,0.2,0\n"}, FIT, "inf is not a probability"),
    (
        "label continuous",
        {"in.csv": "a,b,y\n0.1,0.2,0.5\n0.3,0.7,0\n"},
        FIT,
        "'0.5' is not a class label",
    ),
    (
        "label 3 classes in 2-D",
        {"in.csv": "a,b,y\n0.1,0.2,2\n0.3,0.7,0\n0.3,0.7,1\n"},
        FIT,
        "<classifier>__<class>",
    ),
    ("one class", {"in.csv": ONE_CLASS}, FIT, "one class only"),
    (
        "a row without predictions, --strict",  # without --strict: tests/test_empty_rows.py
        {"in.csv": GOOD + ",,,1\n"},
        [*FIT, "--strict"],
        "every prediction missing",
    ),
    (
        "model directory missing",
        {"in.csv": GOOD},
        [*FIT, "--model", "{d}/no/m.cfe"],
        "the directory {d}/no does not exist",
    ),
    ("model is a directory", {"in.csv": GOOD, "m.cfe": None}, FIT, "--model {d}/m.cfe: is a dir"),
    ("model is the input", {"in.csv": GOOD}, [*FIT, "--model", "{d}/in.csv"], "is the input"),
    (
        "-o is the input",
        {"in.csv": GOOD},
        [*FIT, "-o", "{d}/in.csv"],
        "-o {d}/in.csv is the input",
    ),
    (
        "-o a hard link to the input",
        {"in.csv": GOOD, "link.csv": "->in.csv"},
        [*FIT, "-o", "{d}/link.csv"],
        "is the input file",
    ),
    (
        "-o is the model",
        {"in.csv": GOOD},
        [*FIT, "-o", "{d}/m.csv", "--model", "{d}/m.csv"],
        "same",
    ),
    ("-o directory missing", {"in.csv": GOOD}, [*FIT, "-o", "{d}/no/p.csv"], "does not exist"),
    (
        "-o a directory",
        {"in.csv": GOOD, "p.csv": None},
        [*FIT, "-o", "{d}/p.csv"],
        "is a directory",
    ),
    # an option the estimator refuses: its own error, before the file is read or a
    # progress bar drawn (the error line is the first of stderr)
    ("latent-dim 0", {"in.csv": GOOD}, [*FIT, "--latent-dim", "0"], "error: The 'latent_dim'"),
    ("rho 0 with ALS", {"in.csv": GOOD}, [*FIT, "--rho", "0"], "error: rho=0 leaves"),
    ("-o unknown type", {"in.csv": GOOD}, [*FIT, "-o", "{d}/p.xlsx"], "unknown file type '.xlsx'"),
    ("-o without a suffix", {"in.csv": GOOD}, [*FIT, "-o", "{d}/p"], "unknown file type '(none)'"),
]


def _make_files(directory, files):
    import os

    for name, content in files.items():
        path = directory / name
        if content is None:
            path.mkdir()
        elif isinstance(content, str) and content.startswith("->"):
            os.link(directory / content[2:], path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(directory):
    return {
        str(p.relative_to(directory)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(directory.rglob("*"))
    }


def _run_error(directory, capsys, args, match):
    before = _snapshot(directory)
    code = main([a.replace("{d}", str(directory)) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"cfensemble {args[0]}: error: ")
    assert match.replace("{d}", str(directory)) in err
    assert _snapshot(directory) == before  # nothing written, nothing half-written, no temp
    return err


@pytest.mark.parametrize(
    ("case", "files", "args", "match"), CLI_ERRORS, ids=[c[0] for c in CLI_ERRORS]
)
def test_fit_errors_are_one_line_and_write_nothing(tmp_path, capsys, case, files, args, match):
    files = dict(files)
    if "link.csv" in files:  # the target first
        files = {"in.csv": files.pop("in.csv"), **files}
    _make_files(tmp_path, files)
    _run_error(tmp_path, capsys, args, match)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A model fitted by the CLI on columns a, b, c with an id column."""
    directory = tmp_path_factory.mktemp("cli_model")
    (directory / "train.csv").write_text(_csv_text(*_rows(), ids=True))
    args = ["fit", str(directory / "train.csv"), "--label-column", "y", "--id-column", "id"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert main([*args, "--model", str(directory / "m.cfe"), "--quiet"]) == 0
    return directory / "m.cfe"


NEW = _csv_text(*_rows(seed=1), ids=True)
PREDICT = ["predict", "--model", "{d}/m.cfe", "{d}/new.csv", "-o", "{d}/out.csv"]
PREDICT_ERRORS = [
    ("model missing", {"new.csv": NEW}, [*PREDICT, "--model", "{d}/none.cfe"], "no such file"),
    ("model a directory", {"new.csv": NEW, "d": None}, [*PREDICT, "--model", "{d}/d"], "is a dir"),
    (
        "model a CSV",
        {"new.csv": NEW},
        [*PREDICT, "--model", "{d}/new.csv", "-o", "{d}/o.csv"],
        "not a readable cfensemble model file",
    ),
    ("input missing", {}, PREDICT, "new.csv: no such file"),
    ("-o is the input", {"new.csv": NEW}, [*PREDICT, "-o", "{d}/new.csv"], "is the input file"),
    ("-o is the model file", {"new.csv": NEW}, [*PREDICT, "-o", "{d}/m.cfe"], "unknown file type"),
    ("-o directory missing", {"new.csv": NEW}, [*PREDICT, "-o", "{d}/x/o.csv"], "does not exist"),
    ("a column missing", {"new.csv": "id,a,b\nr0,0.1,0.2\n"}, PREDICT, "no column 'c'"),
    ("id column missing", {"new.csv": NEW}, [*PREDICT, "--id-column", "k"], "no ID column 'k'"),
    ("id column a classifier", {"new.csv": NEW}, [*PREDICT, "--id-column", "a"], "is also one"),
    (
        "row without predictions, --strict",
        {"new.csv": NEW + "r9,,,,\n"},
        [*PREDICT, "--strict"],
        "every prediction",
    ),
]


@pytest.mark.parametrize(
    ("case", "files", "args", "match"), PREDICT_ERRORS, ids=[c[0] for c in PREDICT_ERRORS]
)
def test_predict_errors_are_one_line_and_write_nothing(
    cli_model, tmp_path, capsys, case, files, args, match
):
    (tmp_path / "m.cfe").write_bytes(cli_model.read_bytes())
    _make_files(tmp_path, files)
    _run_error(tmp_path, capsys, args, match)


REPORT = ["report", "--model", "{d}/m.cfe", "-o", "{d}/rep"]
REPORT_ERRORS = [
    ("-o an existing file", {"rep": "notes"}, REPORT, "exists and is not a directory"),
    ("-o parent missing", {}, [*REPORT, "-o", "{d}/x/rep"], "does not exist"),
    ("labels missing", {}, [*REPORT, "--labels", "{d}/l.csv"], "l.csv: no such file"),
    ("labels of one class", {"l.csv": ONE_CLASS}, [*REPORT, "--labels", "{d}/l.csv"], "no"),
    (
        "labels without positives",
        {"l.csv": "id,a,b,c,y\nr,0.1,0.2,0.3,0\ns,0.2,0.1,0.3,0\n"},
        [*REPORT, "--labels", "{d}/l.csv"],
        "labeled rows of at least two classes",
    ),
]


@pytest.mark.parametrize(
    ("case", "files", "args", "match"), REPORT_ERRORS, ids=[c[0] for c in REPORT_ERRORS]
)
def test_report_errors_are_one_line_and_write_nothing(
    cli_model, tmp_path, capsys, case, files, args, match
):
    (tmp_path / "m.cfe").write_bytes(cli_model.read_bytes())
    _make_files(tmp_path, files)
    _run_error(tmp_path, capsys, args, match)


# ------------------------------------------------------------------ CLI: failed writes


def _fail_after_writing(monkeypatch, target, name):
    """Make ``target.name`` write a few bytes to its path argument, then fail."""

    def broken(self_or_path, path=None, *args, **kwargs):
        where = path if path is not None else self_or_path
        with open(where, "wb") as handle:
            handle.write(b"partial")
        raise OSError(28, "No space left on device", str(where))

    monkeypatch.setattr(target, name, broken)


def test_a_failed_predictions_write_keeps_the_old_output(cli_model, tmp_path, capsys, monkeypatch):
    import pandas as pd

    (tmp_path / "new.csv").write_text(NEW)
    out = tmp_path / "out.parquet"
    out.write_bytes(b"old predictions")
    before = _snapshot(tmp_path)
    _fail_after_writing(monkeypatch, pd.DataFrame, "to_parquet")
    args = ["predict", "--model", str(cli_model), str(tmp_path / "new.csv"), "-o", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "No space left on device; nothing was written" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


def test_fit_writes_both_outputs_or_neither(tmp_path, capsys, monkeypatch):
    import pandas as pd

    (tmp_path / "in.csv").write_text(GOOD)
    (tmp_path / "m.cfe").write_bytes(b"old model")
    (tmp_path / "p.csv").write_text("old predictions")
    before = _snapshot(tmp_path)
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: 1 / 0)
    args = [a.replace("{d}", str(tmp_path)) for a in [*FIT, "-o", "{d}/p.csv", "--max-iter", "3"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ZeroDivisionError):  # a bug, not a user error: it propagates
            main(args)
    assert _snapshot(tmp_path) == before  # the model was written but not renamed in place


def test_a_failed_report_keeps_the_old_report(cli_model, tmp_path, capsys, monkeypatch):
    from cfensemble import plotting

    report = tmp_path / "rep"
    report.mkdir()
    (report / "report.md").write_text("old report")
    before = _snapshot(tmp_path)

    def broken(estimator, directory, **kwargs):
        (directory / "report.md").write_text("half")
        raise OSError(28, "No space left on device", str(directory / "loss.png"))

    monkeypatch.setattr(plotting, "write_report", broken)
    assert main(["report", "--model", str(cli_model), "-o", str(report)]) == 1
    assert "No space left" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_a_report_replaces_its_files_in_an_existing_directory(cli_model, tmp_path, capsys):
    report = tmp_path / "rep"
    report.mkdir()
    (report / "report.md").write_text("old report")
    (report / "mine.txt").write_text("kept")
    assert main(["report", "--model", str(cli_model), "-o", str(report)]) == 0
    assert (report / "report.md").read_text().startswith("# cfensemble report")
    assert (report / "mine.txt").read_text() == "kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporary left


# ------------------------------------------------------------------ CLI: demo arguments

DEMO_ERRORS = [
    (["--n-samples", "0"], r"0 is not in \[100, 1000000\]"),
    (["--n-samples", "10000000000"], r"is not in \[100, 1000000\]"),
    (["--n-samples", "1.5"], "'1.5' is not a valid int"),
    (["--positive-rate", "0"], r"0.0 is not in \[0.005, 0.5\]"),
    (["--positive-rate", "-0.1"], r"-0.1 is not in \[0.005, 0.5\]"),
    (["--positive-rate", "nan"], "'nan' is not a finite number"),
    (["--labeled-fraction", "1.5"], r"1.5 is not in \[0.01, 1.0\]"),
    (["--labeled-fraction", "inf"], "'inf' is not a finite number"),
    (["--n-classifiers", "0"], r"0 is not in \[3, 200\]"),
    (["--seed", "-1"], r"-1 is not in \[0, 4294967295\]"),
    (["--n-samples", "100", "--positive-rate", "0.005"], "gives 0.5 positives"),
    (["--n-samples", "200", "--labeled-fraction", "0.01"], "labeled positives"),
    (["--n-samples", "1000", "--n-classifiers", "200", "--labeled-fraction", "0.1"], "3-of-m"),
]


@pytest.mark.parametrize(("args", "match"), DEMO_ERRORS, ids=[" ".join(a) for a, _ in DEMO_ERRORS])
def test_demo_bad_arguments_are_usage_errors(capsys, args, match):
    import re

    with pytest.raises(SystemExit) as info:
        main(["demo", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cfensemble demo") and re.search(match, err)


def test_demo_save_csv_into_a_missing_directory(tmp_path, capsys):
    assert main(["demo", "--save-csv", str(tmp_path / "no" / "demo")]) == 2
    assert "the directory" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_unexpected_os_errors_are_one_line(tmp_path, capsys, monkeypatch):
    import cfensemble.cli.fit as fit

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(fit, "read_table", denied)
    (tmp_path / "in.csv").write_text(GOOD)
    args = ["fit", str(tmp_path / "in.csv"), "--label-column", "y", "--model", str(tmp_path / "m")]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        f"cfensemble fit: error: {tmp_path / 'x'}: Permission denied; nothing was written.\n"
    )


# ------------------------------------------------------------------ CLI: inputs read correctly

_P, _Y = _rows()


def _fit_and_read(tmp_path, name, content, *extra):
    import pandas as pd

    path = tmp_path / name
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = tmp_path / "p.csv"
    args = ["fit", str(path), "--label-column", "y", "--model", str(tmp_path / "m.cfe")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert (
            main(
                [
                    *args,
                    "--quiet",
                    "--max-iter",
                    "3",
                    "--random-state",
                    "0",
                    *extra,
                    "-o",
                    str(out),
                ]
            )
            == 0
        )
    return pd.read_csv(out, keep_default_na=False, dtype=str)


def _parquet(path):
    import pandas as pd

    pytest.importorskip("pyarrow")
    frame = pd.DataFrame(_P, columns=["a", "b", "c"]).astype("Float64")
    frame["y"] = pd.array(np.where(_Y == -1, 0, _Y).astype(int), dtype="Int64")
    frame.loc[_Y == -1, "y"] = pd.NA
    frame.to_parquet(path)


def _gzip(text):
    import gzip

    return gzip.compress(text.encode())


READABLE = [
    ("utf-8 BOM", "in.csv", "\ufeff" + GOOD),
    ("trailing blank lines", "in.csv", GOOD + "\n\n\n"),
    ("BOM and blank lines", "in.csv", ("\ufeff" + GOOD + "\n\n").encode("utf-8")),
    ("CRLF line ends", "in.csv", GOOD.replace("\n", "\r\n").encode()),
    ("TSV", "in.tsv", GOOD.replace(",", "\t")),
    ("gzip CSV", "in.csv.gz", _gzip(GOOD)),
    ("gzip TSV", "in.tsv.gz", _gzip(GOOD.replace(",", "\t"))),
    ("upper-case suffix", "IN.CSV", GOOD),
    ("quoted cells", "in.csv", GOOD.replace("a,b,c,y", '"a","b","c","y"')),
    ("spaces around numbers", "in.csv", GOOD.replace(",", " , ").replace(" , ", ",", 3)),
    (
        "-1 and NA as unlabeled",
        "in.csv",
        GOOD.replace(",\n", ",-1\n", 5).replace(",\n", ",NA\n", 5),
    ),
    ("Parquet with nullable columns", "in.parquet", _parquet),
]


@pytest.mark.parametrize(("case", "name", "content"), READABLE, ids=[c[0] for c in READABLE])
def test_tables_are_read_correctly(tmp_path, case, name, content):
    frame = _fit_and_read(tmp_path, name, content)
    assert list(frame.columns) == ["row", "label", "labeled", "probability", "predicted"]
    assert len(frame) == len(_Y)
    assert (frame["labeled"] == np.where(_Y == -1, "0", "1")).all()
    assert (frame["label"] == ["" if v == -1 else str(int(v)) for v in _Y]).all()
    loaded = cfensemble.load(tmp_path / "m.cfe")
    assert loaded.model_metadata_["classifier_columns"] == ["a", "b", "c"]


def test_the_same_data_in_every_format_gives_the_same_model(tmp_path):
    first = _fit_and_read(tmp_path, "in.csv", GOOD)["probability"]
    for _, name, content in READABLE[1:]:
        again = _fit_and_read(tmp_path, name, content)["probability"]
        np.testing.assert_allclose(again.astype(float), first.astype(float), atol=1e-5)


def test_id_column_is_kept_by_fit_and_predict(cli_model, tmp_path):
    import pandas as pd

    fitted = pd.read_csv(cli_model.with_suffix(".predictions.csv"), dtype=str)
    assert list(fitted.columns) == ["id", "label", "labeled", "probability", "predicted"]
    assert fitted["id"].tolist() == [f"r{i}" for i in range(len(_Y))]
    (tmp_path / "new.csv").write_text(NEW)
    for out, read in (("o.csv", pd.read_csv), ("o.parquet", pd.read_parquet)):
        args = ["predict", "--model", str(cli_model), str(tmp_path / "new.csv")]
        assert main([*args, "-o", str(tmp_path / out)]) == 0  # id column from the model
        frame = read(tmp_path / out)
        assert list(frame.columns) == ["id", "probability", "predicted"]
        assert frame["id"].tolist()[:2] == ["r0", "r1"]
    assert (tmp_path / "o.parquet").read_bytes()[:4] == b"PAR1"  # real Parquet, not CSV text


def test_predict_without_an_id_column_numbers_the_rows(cli_model, tmp_path):
    import pandas as pd

    P, _ = _rows(seed=2)
    (tmp_path / "new.csv").write_text(
        "\n".join(["c,b,a"] + [f"{r[2]},{r[1]},{r[0]}" for r in P]) + "\n"
    )
    out = tmp_path / "o.csv"
    assert (
        main(["predict", "--model", str(cli_model), str(tmp_path / "new.csv"), "-o", str(out)])
        == 0
    )
    frame = pd.read_csv(out)
    assert frame["row"].tolist() == list(range(len(P)))
    expected = cfensemble.load(cli_model).predict_proba(P)[:, 1]
    np.testing.assert_allclose(frame["probability"], expected, rtol=1e-8)  # columns by name


def test_version_comes_from_the_package_metadata(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"cfensemble {version('cfensemble')}"


# ------------------------------------------------------------------ input checks


def test_masked_entries_are_missing_predictions():
    from cfensemble._validation import check_probabilities

    P = np.ma.masked_array([[0.1, 0.7], [0.3, 0.4]], mask=[[True, False], [False, False]])
    np.testing.assert_array_equal(check_probabilities(P), [[np.nan, 0.7], [0.3, 0.4]])
    ints = np.ma.masked_array([[0, 1], [1, 1]], mask=[[False, True], [False, False]])
    np.testing.assert_array_equal(check_probabilities(ints), [[0.0, np.nan], [1.0, 1.0]])


def test_masked_labels_are_unlabeled():
    from cfensemble._validation import check_labels

    y = np.ma.masked_array([1, 0, 0], mask=[False, False, True])
    np.testing.assert_array_equal(check_labels(y), [1.0, 0.0, np.nan])


def test_pandas_na_is_missing():
    import pandas as pd

    from cfensemble._validation import check_labels, check_probabilities

    frame = pd.DataFrame({"a": pd.array([0.1, None], dtype="Float64"), "b": [0.2, 0.3]})
    np.testing.assert_array_equal(check_probabilities(frame), [[0.1, 0.2], [np.nan, 0.3]])
    labels = pd.Series([1, None, 0], dtype="Int64")
    np.testing.assert_array_equal(check_labels(labels), [1.0, np.nan, 0.0])
    flags = pd.array([True, None, False], dtype="boolean")
    np.testing.assert_array_equal(check_labels(flags), [1.0, np.nan, 0.0])


def test_a_fit_respects_the_mask(rng):
    P, y = _rows(n=120, m=4)
    mask = rng.random(P.shape) < 0.2
    mask[:, 0] = False  # every row keeps a prediction
    kwargs = dict(random_state=0, solver=ALS(max_iter=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        masked = CFEnsembleClassifier(**kwargs).fit(np.ma.masked_array(P, mask=mask), y)
        nan = CFEnsembleClassifier(**kwargs).fit(np.where(mask, np.nan, P), y)
    np.testing.assert_array_equal(
        masked.label_distributions_[:, 1], nan.label_distributions_[:, 1]
    )


@pytest.mark.parametrize(
    ("C", "match"),
    [
        (np.zeros((2, 2)), "0 everywhere"),
        (np.full((2, 2), np.nan), "must be finite"),
        (-np.ones((2, 2)), "must be >= 0"),
        (np.ones((3, 2)), r"must have shape \(2, 2\)"),
        (np.ma.masked_array(np.ones((2, 2)), mask=[[1, 0], [0, 0]]), "must be finite"),
    ],
    ids=["all zero", "NaN", "negative", "wrong shape", "masked"],
)
def test_bad_confidence_arrays(C, match):
    from cfensemble._validation import check_confidence_array

    with pytest.raises(ValueError, match=match):
        check_confidence_array(C, (2, 2))


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root reads any file",
)
def test_an_unreadable_input_is_one_line(tmp_path, capsys):
    path = tmp_path / "in.csv"
    path.write_text(GOOD)
    path.chmod(0)
    _run_error(tmp_path, capsys, FIT, "cannot be read (Permission denied)")


def test_predict_with_a_python_model_fitted_on_named_columns(tmp_path):
    import pandas as pd

    P, y = _rows(n=80, m=3)
    frame = pd.DataFrame(P, columns=["x", "y_", "z"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=5)).fit(frame, y)
        clf.save(tmp_path / "m.cfe")  # runs the deferred factorization (P is complete)
    (tmp_path / "new.csv").write_text(
        frame[["z", "x", "y_"]].assign(extra="k").to_csv(index=False)
    )
    out = tmp_path / "o.csv"
    args = ["predict", "--model", str(tmp_path / "m.cfe"), str(tmp_path / "new.csv")]
    assert main([*args, "-o", str(out)]) == 0
    got = pd.read_csv(out)["probability"]
    np.testing.assert_allclose(got, clf.predict_proba(frame)[:, 1], rtol=1e-8)
