"""End-to-end: the CLI on files it writes; clear errors for bad files."""

import csv
import re

import numpy as np
import pytest

import cfensemble
from cfensemble import make_ensemble_problem
from cfensemble.cli import main

NAMES = ["forest", "boosting", "svm", "knn", "bayes"]


def _write_csv(path, P, y, names=NAMES, label="y"):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, label])
        for row, value in zip(P, y, strict=True):
            cells = ["" if np.isnan(v) else f"{v:.8f}" for v in row]
            writer.writerow([*cells, "" if value == -1 else int(value)])


@pytest.fixture
def files(tmp_path):
    P, y = make_ensemble_problem(
        600, 5, 0.1, np.linspace(0.4, 0.8, 5), 0.5, missing_rate=0.1, random_state=0
    )
    labeled = np.random.default_rng(0).random(y.size) < 0.5
    train = tmp_path / "train.csv"
    _write_csv(train, P, np.where(labeled, y, -1))
    held = tmp_path / "held.csv"
    _write_csv(held, P[~labeled], y[~labeled])
    return tmp_path, train, held, P, y, labeled


def test_fit_predict_report_end_to_end(files, capsys):
    tmp, train, held, P, _, labeled = files
    model = tmp / "out.cfe"
    code = main(
        [
            "fit",
            str(train),
            "--label-column",
            "y",
            "--model",
            str(model),
            "--latent-dim",
            "3",
            "--rho",
            "0.6",
            "--label-aware-alpha",
            "0.5",
            "--class-weight",
            "none",
            "--random-state",
            "0",
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "fitted 5 classifiers on 600 rows" in captured.out
    # the progress bar of a fit that converged before max_iter ends at 100 %
    assert re.search(r" (\d+)/\1 \[.*iterations \1 of max 100\]", captured.err)
    clf = cfensemble.load(model)
    assert clf.latent_dim == 3 and clf.rho == 0.6 and clf.label_aware_alpha == 0.5
    assert clf.class_weight is None and clf.solver == "als"  # no trainer option: the name
    assert clf.model_metadata_["classifier_columns"] == NAMES
    with open(tmp / "out.predictions.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 600
    np.testing.assert_allclose(
        [float(r["probability"]) for r in rows], clf.label_distributions_[:, 1], rtol=1e-9
    )
    assert rows[0]["label"] in ("", "0", "1")
    assert [r["labeled"] for r in rows] == ["1" if t else "0" for t in labeled]

    preds = tmp / "preds.csv"
    assert main(["predict", "--model", str(model), str(held), "-o", str(preds)]) == 0
    with open(preds) as handle:
        got = np.array([float(r["probability"]) for r in csv.DictReader(handle)])
    expected = clf.predict_proba(np.round(P[~labeled], 8))[:, 1]  # the file holds 8 decimals
    np.testing.assert_allclose(got, expected, rtol=1e-8)

    report = tmp / "report"
    assert main(["report", "--model", str(model), "--labels", str(held), "-o", str(report)]) == 0
    text = (report / "report.md").read_text()
    for figure in ("loss.png", "weights.png", "factors.png", "pr.png"):
        assert (report / figure).stat().st_size > 10_000
        assert f"({figure})" in text


def test_predict_impute_writes_the_filled_in_columns(files, capsys):
    tmp, train, held, P, y, labeled = files
    model = tmp / "m.cfe"
    assert main(["fit", str(train), "--label-column", "y", "--model", str(model), "--quiet"]) == 0
    out = tmp / "filled.csv"
    assert main(["predict", "--model", str(model), str(held), "-o", str(out), "--impute"]) == 0
    import pandas as pd

    table = pd.read_csv(out)
    assert list(table.columns) == ["row", *NAMES]  # the model's columns, no probability
    new = np.round(P[~labeled], 8)  # the file holds 8 decimals
    np.testing.assert_allclose(table[NAMES].to_numpy(), cfensemble.load(model).impute(new))
    assert not table.isna().any().any()
    observed = ~np.isnan(new)
    np.testing.assert_array_equal(table[NAMES].to_numpy()[observed], new[observed])
    # a classifier named like the row-number column: an error, not an overwritten column
    _write_csv(tmp / "row.csv", P, np.where(labeled, y, -1), names=["row", *NAMES[1:]])
    row_model = str(tmp / "row.cfe")
    assert main(["fit", str(tmp / "row.csv"), "--label-column", "y", "--model", row_model,
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["predict", "--model", row_model, str(tmp / "row.csv"), "-o", str(out),
                 "--impute"]) == 2  # fmt: skip
    assert "a classifier column is named 'row'" in capsys.readouterr().err


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_report_without_labels_and_quiet_fit(files, capsys):
    tmp, train, *_ = files
    model = tmp / "m.cfe"
    assert (
        main(
            [
                "fit",
                str(train),
                "--label-column",
                "y",
                "--model",
                str(model),
                "--quiet",
                "--max-iter",
                "5",
                "-o",
                str(tmp / "p.csv"),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out == "" and "/5" not in captured.err
    assert main(["report", "--model", str(model), "-o", str(tmp / "r")]) == 0
    assert not (tmp / "r" / "pr.png").exists()
    assert (tmp / "r" / "weights.png").stat().st_size > 0


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_parquet_input(files):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    tmp, train, *_ = files
    frame = pd.read_csv(train)
    frame.to_parquet(tmp / "train.parquet")
    assert (
        main(
            [
                "fit",
                str(tmp / "train.parquet"),
                "--label-column",
                "y",
                "--model",
                str(tmp / "pq.cfe"),
                "--quiet",
                "--max-iter",
                "5",
            ]
        )
        == 0
    )
    assert cfensemble.load(tmp / "pq.cfe").n_features_in_ == 5


def _fit_error(capsys, path, *extra):
    code = main(
        ["fit", str(path), "--label-column", "y", "--model", str(path) + ".cfe", "--quiet", *extra]
    )
    assert code == 2
    return capsys.readouterr().err


def test_clear_errors_for_bad_files(tmp_path, capsys):
    good = tmp_path / "good.csv"
    _write_csv(good, np.full((4, 2), 0.5), np.array([0, 1, -1, 1]), names=["a", "b"])
    assert "no label column 'target'" in (
        main(["fit", str(good), "--label-column", "target", "--model", "m.cfe"]) == 2
        and capsys.readouterr().err
    )
    assert "no column 'c'" in _fit_error(capsys, good, "--classifier-columns", "a", "c")

    text = tmp_path / "text.csv"
    text.write_text("a,b,y\n0.1,0.2,1\n0.3,high,0\n")
    assert "column 'b', row 1 (data row 2 of the file): 'high' is not a number" in _fit_error(
        capsys, text
    )

    outside = tmp_path / "outside.csv"
    outside.write_text("a,b,y\n0.1,0.2,1\n0.3,1.7,0\n")
    assert (
        "column 'b', row 1 (data row 2 of the file): 1.7 is not a probability in [0, 1]"
        in _fit_error(capsys, outside)
    )

    bad_label = tmp_path / "label.csv"
    bad_label.write_text("a,b,y\n0.1,0.2,0.5\n0.3,0.7,0\n")
    assert "'0.5' is not a class label" in _fit_error(capsys, bad_label)

    three = tmp_path / "three.csv"
    three.write_text("a,b,y\n0.1,0.2,0\n0.3,0.7,1\n0.5,0.5,2\n")
    assert "name" in _fit_error(capsys, three) and "<classifier>__<class>" in (
        _fit_error(capsys, three)
    )
    unlike = tmp_path / "unlike.csv"
    unlike.write_text("a__x,a__y,a__z,y\n0.1,0.8,0.1,u\n0.7,0.2,0.1,v\n0.2,0.2,0.6,w\n")
    assert "name the classes ['x', 'y', 'z']" in _fit_error(capsys, unlike)

    weights = tmp_path / "weights.csv"
    weights.write_text("a,b,y,w\n0.1,0.2,0,1\n0.3,0.7,1,\n")
    assert "column 'w', row 1 (data row 2 of the file)" in _fit_error(
        capsys, weights, "--sample-weight-column", "w"
    )

    excel = tmp_path / "data.xlsx"
    excel.write_text("not really")
    assert "unknown file type '.xlsx'" in _fit_error(capsys, excel)

    assert "no such file" in _fit_error(capsys, tmp_path / "missing.csv")

    one_class = tmp_path / "one.csv"
    one_class.write_text("a,b,y\n0.1,0.2,1\n0.3,0.7,1\n0.5,0.5,\n")
    assert "one class only" in _fit_error(capsys, one_class)


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_predict_with_missing_column_and_bad_model(files, capsys):
    tmp, train, *_ = files
    model = tmp / "m.cfe"
    main(
        [
            "fit",
            str(train),
            "--label-column",
            "y",
            "--model",
            str(model),
            "--quiet",
            "--max-iter",
            "3",
        ]
    )
    partial = tmp / "partial.csv"
    partial.write_text("forest,boosting\n0.1,0.2\n")
    assert main(["predict", "--model", str(model), str(partial), "-o", str(tmp / "o.csv")]) == 2
    assert "no column 'svm'" in capsys.readouterr().err
    junk = tmp / "junk.cfe"
    junk.write_bytes(b"\x00" * 50)
    assert main(["predict", "--model", str(junk), str(partial), "-o", str(tmp / "o.csv")]) == 2
    assert "not a readable cfensemble model file" in capsys.readouterr().err


def test_fit_help_lists_defaults_and_no_callback(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--callback" not in text  # a callable is not a command-line value
    flat = " ".join(text.split())
    # help text from the estimator's docstring, then the default
    assert "--lambda-reg FLOAT Ridge penalty on the factors and biases" in flat
    assert flat.split("--lambda-reg FLOAT ")[1].split("(default: ")[1].startswith("0.03)")
    assert "--class-weight {balanced,none}" in flat
    for removed in ("--verbose", "--use-class-weights", "--prior-correction"):
        assert removed not in flat
    # the trainer options: --solver, then each setting once, saying which trainer reads it
    assert "--solver {als,torch} the trainer: als, alternating least squares" in flat
    assert "--lr FLOAT Autograd only. Learning rate of the optimizer. (default: 0.01)" in flat
    assert "--accelerate, --no-accelerate ALS only." in flat
    assert re.search(r"--max-iter INT ALS: Maximum number of iterations\. Autograd: ALS "
                     r"iterations of the warm start\. \(default: 100\)", flat)  # fmt: skip
    assert flat.count("--max-iter INT ") == 1 and flat.count("--tol FLOAT ") == 1
    assert "--als-warm-start {auto,true,false}" in flat
    assert "--random-state INT Seeds the initial factors" in flat
    assert "default: a new seed, printed after the fit" in flat
    assert "--delimiter DELIMITER field separator" in flat


def test_parameter_help_is_the_docstrings_first_sentences():
    from cfensemble.cli._options import _parameter_help

    doc = """Summary.

    Parameters
    ----------
    alpha : float, default=1.0
        The strength of the effect, in ``%`` of the largest
        value the model allows. Second sentence.
    mode : {"a", "b"}
        ``"a"``: short. ``"b"``: see :class:`~pkg.Thing`.

    Attributes
    ----------
    beta_ : float
        Not a parameter.
    """
    assert _parameter_help(doc) == {
        "alpha": "The strength of the effect, in %% of the largest value the model allows.",
        "mode": '"a": short. "b": see pkg.Thing.',
    }


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_report_without_matplotlib_is_a_clear_error(files, capsys, monkeypatch):
    import importlib.util

    tmp, train, *_ = files
    model = tmp / "m.cfe"
    args = ["fit", str(train), "--label-column", "y", "--model", str(model), "--quiet"]
    assert main([*args, "--max-iter", "3", "-o", str(tmp / "p.csv")]) == 0
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name)
    )
    capsys.readouterr()
    assert main(["report", "--model", str(model), "-o", str(tmp / "r")]) == 2
    assert 'pip install "cfensemble[plot]"' in capsys.readouterr().err
    assert not (tmp / "r").exists()


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
@pytest.mark.filterwarnings(
    "ignore:The autograd trainer ran max_epochs:sklearn.exceptions.ConvergenceWarning"
)
def test_trainer_options_build_the_solver_object(files, capsys):
    """--solver and the trainer options become ``solver=ALS(...)`` or ``Autograd(...)``,
    kept in the model file; the fit is the one Python gives with that object."""
    import pandas as pd

    from cfensemble import ALS, Autograd, CFEnsembleClassifier

    tmp, train, *_ = files
    base = ["fit", str(train), "--label-column", "y", "--random-state", "0", "--quiet"]
    options = ["--max-iter", "7", "--no-accelerate", "--n-jobs", "1", "--tol", "1e-6"]
    assert main([*base, "--model", str(tmp / "a.cfe"), *options]) == 0
    model = cfensemble.load(tmp / "a.cfe")
    expected = ALS(max_iter=7, accelerate=False, n_jobs=1, tol=1e-6)
    assert isinstance(model.solver, ALS)
    assert model.solver.get_params() == expected.get_params()  # callback None, the rest given
    table = pd.read_csv(train)
    P, y = table[NAMES].to_numpy(), table["y"].fillna(-1).to_numpy()
    reference = CFEnsembleClassifier(random_state=0, solver=expected).fit(P, y)
    np.testing.assert_allclose(
        model.label_distributions_[:, 1], reference.label_distributions_[:, 1], atol=1e-10
    )
    assert model.n_iter_ == reference.n_iter_

    pytest.importorskip("torch")
    torch_options = ["--solver", "torch", "--max-epochs", "3", "--lr", "0.05",
                     "--als-warm-start", "false", "--max-iter", "5"]  # fmt: skip
    assert main([*base, "--model", str(tmp / "t.cfe"), *torch_options]) == 0
    solver = cfensemble.load(tmp / "t.cfe").solver
    assert isinstance(solver, Autograd)
    assert (
        solver.get_params()
        == Autograd(max_epochs=3, lr=0.05, als_warm_start=False, max_iter=5).get_params()
    )
    assert main([*base, "--model", str(tmp / "n.cfe"), "--solver", "torch"]) == 0
    assert cfensemble.load(tmp / "n.cfe").solver == "torch"  # no setting given: the name


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            ["--lr", "0.1"],
            r"--lr: a setting of the Autograd trainer \(--solver torch\), not "
            r"read by --solver als \(ALS\)",
        ),
        (
            ["--solver", "torch", "--accelerate", "--dtype", "float32"],
            r"--accelerate, --dtype: settings of the ALS trainer \(--solver als\), not read by "
            r"--solver torch \(Autograd\)",
        ),
        (["--use-class-weights"], "unrecognized arguments: --use-class-weights"),
        (["--prior-correction"], "unrecognized arguments: --prior-correction"),
        (["--multiclass-factorization", "joint"], "unrecognized arguments"),
        (["--class-weight", "inverse"], r"argument --class-weight: expected one of"),
        (["--als-warm-start", "maybe"], r"argument --als-warm-start: expected one of"),
    ],
)
def test_trainer_and_removed_options_are_usage_errors(files, capsys, args, match):
    tmp, train, *_ = files
    model = tmp / "x.cfe"
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(train), "--label-column", "y", "--model", str(model), *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cfensemble") and re.search(match, err), err
    assert not model.exists()


def test_bad_trainer_setting_is_one_line(files, capsys):
    tmp, train, *_ = files
    args = ["fit", str(train), "--label-column", "y", "--model", str(tmp / "x.cfe")]
    assert main([*args, "--n-jobs", "0"]) == 2
    assert capsys.readouterr().err.startswith(
        "cfensemble fit: error: The 'n_jobs' parameter of ALS must be"
    )


def test_fit_without_torch_is_a_one_line_error(files, capsys, monkeypatch):
    import sys

    tmp, train, *_ = files
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    args = ["fit", str(train), "--label-column", "y", "--model", str(tmp / "t.cfe")]
    assert main([*args, "--solver", "torch", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cfensemble fit: error: solver='torch' needs PyTorch")
    assert "cfensemble[torch]" in err and "\n" not in err and "Traceback" not in err
    assert not (tmp / "t.cfe").exists()


# a few iterations keep it quick: the fit's convergence is not what is tested
@pytest.mark.filterwarnings("ignore:ALS did not converge:sklearn.exceptions.ConvergenceWarning")
def test_text_ids_keep_their_leading_zeros_through_fit_and_predict(tmp_path):
    """IDs are read as text (numeric-looking ones too), so "007" is not written as 7."""
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame(rng.random((n, 3)).round(4), columns=["a", "b", "c"])
    frame.insert(0, "id", [f"{i:03d}" for i in range(n)])
    frame["y"] = np.where(np.arange(n) % 2 == 0, (np.arange(n) % 4 == 0).astype(int), -1)
    frame.to_csv(tmp_path / "in.csv", index=False)
    model = tmp_path / "m.cfe"
    args = ["fit", str(tmp_path / "in.csv"), "--label-column", "y", "--id-column", "id"]
    assert main([*args, "--model", str(model), "--quiet", "--max-iter", "5"]) == 0
    fitted = pd.read_csv(tmp_path / "m.predictions.csv", dtype={"id": str})
    assert fitted["id"].tolist() == frame["id"].tolist()
    out = tmp_path / "p.csv"
    assert main(["predict", "--model", str(model), str(tmp_path / "in.csv"), "-o", str(out)]) == 0
    assert pd.read_csv(out, dtype={"id": str})["id"].tolist() == frame["id"].tolist()


@pytest.mark.parametrize("block", [1, 5, 7, 64, 1 << 20])
def test_short_row_scan_is_exact_at_any_block_size(tmp_path, block):
    from pathlib import Path

    from cfensemble.cli._tables import _maybe_short_rows

    good = tmp_path / "good.csv"
    good.write_bytes(b"a,b,y\r\n0.1,0.2,1\r\n\r\n0.3,0.4,\r\n,,\n0.5,0.6,0")
    short = tmp_path / "short.csv"
    short.write_bytes(b"a,b,y\n0.1,0.2,1\n0.3,0.4\n0.5,0.6,0\n")
    assert not _maybe_short_rows(Path(good), ".csv", ",", 3, block=block)
    assert _maybe_short_rows(Path(short), ".csv", ",", 3, block=block)


class _Terminal:
    """A stderr that says it is a terminal and keeps what is written."""

    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [False, True])
def test_progress_bar_and_warnings_on_their_own_lines(files, capsys, monkeypatch, tty):
    tmp, train, *_ = files
    terminal = _Terminal()
    if tty:
        monkeypatch.setattr("sys.stderr", terminal)
    args = ["fit", str(train), "--label-column", "y", "--model", str(tmp / "m.cfe")]
    assert main([*args, "--max-iter", "3", "--random-state", "0"]) == 0
    err = terminal.text if tty else capsys.readouterr().err
    lines = err.replace("\r", "\n").splitlines()
    bars = [line for line in lines if "3/3 [" in line]
    assert bars and all("objective=" in line and "it/s" in line for line in bars)
    # the ConvergenceWarning (3 iterations) comes after the bar, on a line of its own
    warning = next(i for i, line in enumerate(lines) if "ConvergenceWarning" in line)
    assert warning > lines.index(bars[-1]) and "3/3" not in lines[warning]
    # as a command line shows it: no Python file and line
    assert lines[warning].startswith("cfensemble: ConvergenceWarning: ALS did not converge")
    if not tty:  # a log file gets one line, not one per iteration
        assert len([line for line in lines if "/3 [" in line]) == 1


def test_seed_is_printed_and_repeats_the_fit(files, capsys):
    tmp, train, *_ = files
    base = ["fit", str(train), "--label-column", "y", "--max-iter", "5"]
    assert main([*base, "--model", str(tmp / "a.cfe"), "--latent-dim", "auto"]) == 0
    out = capsys.readouterr().out
    seed = int(re.search(r"random_state=(\d+) \(--random-state \1 repeats", out).group(1))
    chosen = int(re.search(r"latent_dim='auto' chose (\d)", out).group(1))
    assert cfensemble.load(tmp / "a.cfe").latent_dim_ == chosen
    l2 = float(re.search(r"aggregator_l2='auto' chose ([\d.e-]+)", out).group(1))
    assert cfensemble.load(tmp / "a.cfe").aggregator_l2_ == l2 > 0
    again = ["--model", str(tmp / "b.cfe"), "--latent-dim", "auto", "--random-state", str(seed)]
    assert main([*base, *again]) == 0
    a, b = (cfensemble.load(tmp / name) for name in ("a.cfe", "b.cfe"))
    np.testing.assert_array_equal(a.label_distributions_[:, 1], b.label_distributions_[:, 1])


def test_aggregator_shrinkage_auto_from_the_command_line(files, capsys):
    tmp, train, *_ = files
    args = ["fit", str(train), "--label-column", "y", "--model", str(tmp / "s.cfe")]
    assert main([*args, "--aggregator-shrinkage", "auto"]) == 0
    chosen = float(
        re.search(r"aggregator_shrinkage='auto' chose ([\d.]+)", capsys.readouterr().out)[1]
    )
    model = cfensemble.load(tmp / "s.cfe")
    assert model.aggregator_shrinkage == "auto" and model.aggregator_shrinkage_ == chosen
    with pytest.raises(SystemExit) as exc:
        main([*args, "--aggregator-shrinkage", "often"])
    assert exc.value.code == 2
    assert "argument --aggregator-shrinkage: expected a float" in capsys.readouterr().err


def test_shrinkage_target_from_the_command_line(files, capsys):
    tmp, train, *_ = files
    args = ["fit", str(train), "--label-column", "y", "--quiet", "--random-state", "0"]
    assert main([*args, "--model", str(tmp / "t.cfe"), "--shrinkage-target", "consensus"]) == 0
    model = cfensemble.load(tmp / "t.cfe")
    assert model.shrinkage_target == "consensus"
    assert model.shrinkage_target_.mean() == pytest.approx(1.0)
    assert not np.all(model.shrinkage_target_ == 1.0)
    with pytest.raises(SystemExit) as exc:
        main([*args, "--model", str(tmp / "x.cfe"), "--shrinkage-target", "median"])
    assert exc.value.code == 2
    assert "argument --shrinkage-target: invalid choice" in capsys.readouterr().err


def test_delimiter_option(files, capsys):
    tmp, train, *_ = files
    semi = tmp / "semi.csv"
    semi.write_text(train.read_text().replace(",", ";"))
    args = ["fit", str(semi), "--label-column", "y", "--random-state", "0", "--quiet"]
    assert main([*args, "--model", str(tmp / "m.cfe")]) == 2
    err = capsys.readouterr().err
    assert "one column" in err and "use --delimiter" in err
    assert main([*args, "--model", str(tmp / "s.cfe"), "--delimiter", ";"]) == 0
    assert main(["fit", str(train), *args[2:], "--model", str(tmp / "c.cfe")]) == 0
    np.testing.assert_array_equal(
        cfensemble.load(tmp / "s.cfe").label_distributions_[:, 1],
        cfensemble.load(tmp / "c.cfe").label_distributions_[:, 1],
    )
    with pytest.raises(SystemExit):
        main([*args, "--model", str(tmp / "x.cfe"), "--delimiter", ";;"])
    assert "is not one character" in capsys.readouterr().err


def _multiclass_csv(path, P, labels, names=("lr", "nb", "knn")):
    """Columns <classifier>__<class>, classes in a shuffled order, and a label column."""
    import pandas as pd

    classes = ["ant", "bee", "cow"]
    order = [(u, k) for k in (2, 0, 1) for u in range(len(names))]  # not classifier-major
    frame = pd.DataFrame({f"{names[u]}__{classes[k]}": P[:, u, k] for u, k in order})
    frame["y"] = labels
    frame.to_csv(path, index=False)


def test_multiclass_fit_predict_report(tmp_path, capsys):
    from cfensemble import CFEnsembleClassifier, load

    P, y = make_ensemble_problem(300, 3, n_classes=3, missing_rate=0.2, random_state=0)
    names = np.array(["ant", "bee", "cow"], dtype=object)
    labeled = np.random.default_rng(0).random(300) < 0.4
    labels = np.where(labeled, names[y], None)
    train = tmp_path / "train.csv"
    _multiclass_csv(train, P, labels)
    model, out = tmp_path / "m.cfe", tmp_path / "fit.csv"
    code = main(
        ["fit", str(train), "--label-column", "y", "--model", str(model), "-o", str(out),
         "--random-state", "0", "--quiet"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    reference = CFEnsembleClassifier(random_state=0).fit(P, labels)
    clf = load(model)
    np.testing.assert_array_equal(clf.classes_, names)
    import pandas as pd

    table = pd.read_csv(out, keep_default_na=False)
    expected_columns = ["row", "label", "labeled"] + [f"probability__{c}" for c in names]
    assert list(table.columns) == [*expected_columns, "predicted"]
    proba = table[[f"probability__{c}" for c in names]].to_numpy()
    np.testing.assert_allclose(proba, reference.label_distributions_, atol=1e-8)
    np.testing.assert_array_equal(table["predicted"], names[np.argmax(proba, axis=1)])
    np.testing.assert_array_equal(table["labeled"], labeled.astype(int))

    new = tmp_path / "new.csv"
    _multiclass_csv(new, P[:50], [None] * 50)
    predicted = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(model), str(new), "-o", str(predicted)]) == 0
    table = pd.read_csv(predicted)
    np.testing.assert_allclose(
        table[[f"probability__{c}" for c in names]].to_numpy(),
        reference.predict_proba(P[:50]),
        atol=1e-8,
    )
    imputed = tmp_path / "imputed.csv"
    assert main(["predict", "--model", str(model), str(new), "-o", str(imputed), "--impute"]) == 0
    table = pd.read_csv(imputed)
    filled = reference.impute(P[:50])
    for u, name in enumerate(("lr", "nb", "knn")):
        for k, label in enumerate(names):
            np.testing.assert_allclose(table[f"{name}__{label}"], filled[:, u, k], atol=1e-8)
    report = tmp_path / "report"
    assert main(["report", "--model", str(model), "--labels", str(train), "-o", str(report)]) == 0
    assert (report / "report.md").exists()


def test_sample_weight_column_counts_rows(files, tmp_path, capsys):
    import pandas as pd

    from cfensemble import CFEnsembleClassifier

    _, train, *_ = files
    table = pd.read_csv(train)
    weight = np.random.default_rng(0).integers(1, 3, len(table))
    table["w"] = weight
    path = tmp_path / "weighted.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "o.csv"
    args = ["fit", str(path), "--label-column", "y", "--model", str(tmp_path / "m.cfe"), "-o",
            str(out), "--random-state", "0", "--quiet", "--sample-weight-column", "w"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    P = table[NAMES].to_numpy()
    y = table["y"].fillna(-1).to_numpy()
    reference = CFEnsembleClassifier(random_state=0).fit(P, y, sample_weight=weight)
    np.testing.assert_allclose(
        pd.read_csv(out)["probability"], reference.label_distributions_[:, 1], atol=1e-8
    )


def test_double_underscores_in_binary_classifier_names(tmp_path, capsys):
    """Columns named like <name>__<x> are classifiers when their suffixes are not the
    labels of a binary problem; for more classes without labels the layout is refused."""
    binary = tmp_path / "binary.csv"
    binary.write_text("model__a,model__b,y\n0.1,0.2,0\n0.8,0.7,1\n0.5,0.4,\n")
    model = tmp_path / "m.cfe"
    args = ["fit", str(binary), "--label-column", "y", "--model", str(model), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    from cfensemble import load

    assert load(model).n_features_in_ == 2
    unlabeled = tmp_path / "three.csv"
    unlabeled.write_text("a__x,a__y,a__z,y\n0.1,0.2,0.7,\n0.3,0.3,0.4,\n")
    code = main(["fit", str(unlabeled), "--label-column", "y", "--model", str(model)])
    assert code == 2 and "no row is labeled" in capsys.readouterr().err


def test_class_columns_with_a_class_never_labeled_are_refused(tmp_path, capsys):
    """rf__a rf__b rf__c with only a and b labeled: not six binary classifiers of a vs b
    (the Python API refuses the same P), a clear usage error naming the unlabeled class."""
    path = tmp_path / "three.csv"
    rows = ["0.6,0.3,0.1,0.5,0.3,0.2,a", "0.2,0.7,0.1,0.3,0.6,0.1,b", "0.3,0.3,0.4,0.2,0.2,0.6,"]
    header = "rf__a,rf__b,rf__c,lr__a,lr__b,lr__c,y"
    path.write_text("\n".join([header] + rows * 3) + "\n")
    model = tmp_path / "m.cfe"
    code = main(["fit", str(path), "--label-column", "y", "--model", str(model), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "no row is labeled ['c']" in err
    assert not model.exists()


def test_a_question_mark_label_is_named_as_a_possible_unlabeled_marker(tmp_path, capsys):
    path = tmp_path / "q.csv"
    rows = ["0.9,0.8,pos", "0.1,0.2,neg", "0.5,0.4,?"]
    path.write_text("\n".join(["a,b,y"] + rows * 3) + "\n")
    code = main(["fit", str(path), "--label-column", "y", "--model", str(tmp_path / "m.cfe")])
    err = capsys.readouterr().err
    assert code == 2 and "If '?' marks unlabeled rows" in err and "empty cell or -1" in err


def test_a_model_named_as_a_pickle_is_refused(files, tmp_path, capsys):
    train = files[1]
    code = main(["fit", str(train), "--label-column", "y", "--model", str(tmp_path / "m.pkl")])
    assert code == 2 and "never a pickle" in capsys.readouterr().err
    assert not (tmp_path / "m.pkl").exists()


def test_demo_options_have_help(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    assert "rows generated" in out and "share of positive rows" in out


def test_predict_writes_next_to_its_input_by_default(files, capsys):
    tmp_path, train, held = files[:3]
    model = tmp_path / "m.cfe"
    fit = ["fit", str(train), "--label-column", "y", "--model", str(model), "--quiet"]
    assert main(fit) == 0, capsys.readouterr().err
    assert main(["predict", "--model", str(model), str(held)]) == 0
    assert (tmp_path / "held.predictions.csv").exists()
    assert main(["predict", "--model", str(model), str(held), "--impute"]) == 0
    assert (tmp_path / "held.imputed.csv").exists()


def test_per_class_summary_counts_what_the_bar_counted(tmp_path, capsys):
    """K per-class factorizations: the bar counts all their iterations; the summary says
    so, naming the longest (it said the longest alone, against '53 of max 300')."""
    P, y = make_ensemble_problem(300, 3, n_classes=3, missing_rate=0.2, random_state=0)
    names = np.array(["ant", "bee", "cow"], dtype=object)
    labels = np.where(np.random.default_rng(0).random(300) < 0.4, names[y], None)
    train = tmp_path / "train.csv"
    _multiclass_csv(train, P, labels)
    args = ["fit", str(train), "--label-column", "y", "--model", str(tmp_path / "m.cfe")]
    assert main([*args, "--random-state", "0"]) == 0
    captured = capsys.readouterr()
    total = int(re.search(r"iterations (\d+) of max", captured.err).group(1))
    assert f"in {total} iterations over 3 per-class factorizations" in captured.out
