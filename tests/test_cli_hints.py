"""The command line for a newcomer: help texts, a fast --help, hints for CSV files written
with another separator or decimal mark."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cfensemble
from cfensemble.cli import build_parser, main

COMMANDS = ["demo", "fit", "predict", "report"]


def _subparsers(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_option_has_help_and_no_default_reads_none(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"] if command else ["--help"])
    assert exc.value.code == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "default: None" not in flat and "(default: )" not in flat
    parser = build_parser()
    if command is not None:
        parser = _subparsers(parser)[command]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{command} {name}: no help text"
        assert action.choices is None or len(action.choices) > 1, f"{name}: one choice"
        metavar = action.metavar if isinstance(action.metavar, str) else ""
        assert "," in metavar or "|" in metavar or "{" not in metavar, f"{name}: one choice"


# building the parser and printing any --help, with a package __init__ that imports
# nothing (cfensemble/__init__.py imports the estimator, and so scikit-learn: the CLI's
# own modules must not add to it)
_HELP_ONLY = """
import contextlib, importlib.util, io, sys, types
spec = importlib.util.find_spec("cfensemble")
package = types.ModuleType("cfensemble")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["cfensemble"] = package
from cfensemble.cli import main
for args in ([], ["demo"], ["fit"], ["predict"], ["report"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main([*args, "--help"])
        except SystemExit:
            pass
heavy = ("sklearn", "numpy", "scipy", "pandas", "tqdm", "cfensemble._estimator")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def test_help_imports_neither_scikit_learn_nor_numpy():
    found = subprocess.run(
        [sys.executable, "-c", _HELP_ONLY], capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == "[]", found.stdout + found.stderr


def test_stored_fit_options_are_the_estimators_parameters():
    """The parser builds fit's options from cfensemble.cli._specs (no scikit-learn import);
    they must be what the estimator's and the trainers' parameters give today."""
    from cfensemble.cli import _specs
    from cfensemble.cli._options import option_specs

    stored = {
        "estimator": _specs.ESTIMATOR_OPTIONS,
        "trainer": _specs.TRAINER_OPTIONS,
        "solvers": _specs.SOLVER_NAMES,
    }
    assert option_specs() == stored, (
        "a parameter of CFEnsembleClassifier, ALS or Autograd changed: run "
        '`python -c "from cfensemble.cli._options import write_specs; write_specs()"` '
        "and `ruff format src/cfensemble/cli/_specs.py`"
    )


@pytest.fixture
def european(tmp_path):
    """The same table as a comma-separated file and as a semicolon-separated one with
    decimal commas (a spreadsheet's CSV export in many European locales)."""
    P, y = cfensemble.make_ensemble_problem(300, 4, 0.2, missing_rate=0.1, random_state=0)
    y = np.where(np.random.default_rng(0).random(y.size) < 0.5, y, -1)
    names = [f"m{j}" for j in range(P.shape[1])]
    rows = [[*("" if np.isnan(v) else f"{v:.6f}" for v in p), "" if t == -1 else str(t)]
            for p, t in zip(P, y, strict=True)]  # fmt: skip
    plain = tmp_path / "plain.csv"
    plain.write_text("\n".join(",".join(r) for r in [[*names, "y"], *rows]) + "\n")
    semicolon = tmp_path / "semicolon.csv"
    lines = [";".join(r).replace(".", ",") for r in [[*names, "y"], *rows]]
    semicolon.write_text("\n".join(lines) + "\n")
    return tmp_path, plain, semicolon


def _fit(path, model, *options):
    args = ["fit", str(path), "--label-column", "y", "--model", str(model), "--quiet"]
    return main([*args, "--random-state", "0", *options])


def test_semicolon_file_hints_at_delimiter_and_decimal(european, capsys):
    tmp, plain, semicolon = european
    assert _fit(semicolon, tmp / "m.cfe") == 2
    err = capsys.readouterr().err
    assert "not a valid csv table" in err and "\n" not in err.strip()
    assert "use --delimiter ';' and --decimal ','" in err
    # a semicolon file with decimal points: read as one column
    dots = tmp / "dots.csv"
    dots.write_text(plain.read_text().replace(",", ";"))
    assert _fit(dots, tmp / "m.cfe") == 2
    err = capsys.readouterr().err
    assert "one column; the header is separated by ';': use --delimiter ';'" in err
    assert "--decimal" not in err


def test_decimal_comma_is_named_and_read_with_decimal(european, capsys):
    tmp, plain, semicolon = european
    assert _fit(semicolon, tmp / "m.cfe", "--delimiter", ";") == 2
    err = capsys.readouterr().err
    assert "is not a number (a decimal comma: give --decimal ',' to read such numbers)" in err
    assert "an ID or other column" not in err
    assert _fit(semicolon, tmp / "s.cfe", "--delimiter", ";", "--decimal", ",") == 0
    assert _fit(plain, tmp / "p.cfe") == 0
    np.testing.assert_array_equal(
        cfensemble.load(tmp / "s.cfe").label_distributions_[:, 1],
        cfensemble.load(tmp / "p.cfe").label_distributions_[:, 1],
    )
    out = tmp / "s.predictions.csv"
    predict = ["predict", "--model", str(tmp / "p.cfe"), str(semicolon), "-o", str(out)]
    assert main([*predict, "--delimiter", ";", "--decimal", ","]) == 0
    # the decimal mark cannot be the separator, and a file's numbers decide, not a guess
    assert _fit(plain, tmp / "x.cfe", "--decimal", ",") == 2
    assert "--decimal ',' is also the field separator" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _fit(plain, tmp / "x.cfe", "--decimal", "7")
    assert "is not a decimal mark" in capsys.readouterr().err


def test_gallery_convergence_example_prints_no_warning(tmp_path):
    """plot_06 runs ALS with tol=0 on purpose: the warnings it would raise (their text
    holds the checkout's path) are not shown."""
    pytest.importorskip("matplotlib")
    example = Path(__file__).parents[1] / "examples" / "plot_06_convergence.py"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-W", "always", str(example)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    )
    assert "Warning" not in run.stderr and str(example.parent) not in run.stdout + run.stderr
    assert run.stdout.count("iterations in") == 2
