"""Options generated from parameters: ``fit``'s estimator options (one per
:class:`~cfensemble.CFEnsembleClassifier` parameter) and trainer options (one per setting
of :class:`~cfensemble.ALS` and :class:`~cfensemble.Autograd`), and the options that
several commands share.

Each generated option's type comes from the parameter's constraints
(``_parameter_constraints``), its default from the signature and its help from the first
sentences of the parameter's description in the class's numpydoc docstring.
:func:`option_specs` reads them; the parser builds the options from their copy in
:mod:`cfensemble.cli._specs`, so that ``cfensemble fit --help`` imports neither
scikit-learn nor the estimator (a test checks that the copy is current;
:func:`write_specs` rewrites it).
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from ._specs import ESTIMATOR_OPTIONS, SOLVER_NAMES, TRAINER_OPTIONS

if TYPE_CHECKING:
    from .._solvers import ALS, Autograd

# parameters without an option: the CLI draws its own progress bar, and --solver with the
# trainer options stands for ``solver``
_NOT_OPTIONS = ("self", "verbose", "solver", "callback")
_TRAINER_NAMES = {"als": "ALS", "torch": "Autograd"}
# a setting whose default is None: what that default does, in words (else the help
# states no default)
_NONE_DEFAULTS = {
    "n_jobs": "the libraries' own thread settings",
    "dtype": "float64 on the CPU, float32 on a GPU",
    "batch_size": "the full batch",
}


def _parameter_help(docstring: str) -> dict[str, str]:
    """``{name: its first sentences}`` of a numpydoc docstring's Parameters section."""
    import inspect

    lines = inspect.cleandoc(docstring).splitlines()
    if "Parameters" not in lines:  # no docstrings (python -OO): options without help text
        return {}
    start = lines.index("Parameters") + 2
    end = next((i for i in range(start, len(lines)) if lines[i] in ("Attributes", "Notes")), None)
    helps: dict[str, list[str]] = {}
    name = None
    for line in lines[start:end]:
        header = re.match(r"^(\w+) : ", line)
        if header:
            name = header.group(1)
            helps[name] = []
        elif name is not None and line.startswith("    "):
            helps[name].append(line.strip())
    sentences = {}
    for name, lines_of in helps.items():
        paragraph = " ".join(lines_of).replace("``", "")
        paragraph = re.sub(r":\w+:`~?([^`]+)`", r"\1", paragraph)  # :class:`X` -> X
        text = ""
        for sentence in re.split(r"(?<=\.)\s+", paragraph):  # at least ~60 characters
            if len(text) >= 60:
                break
            text = f"{text} {sentence}".strip()
        if len(text) > 240:
            text = text[:240].rsplit(" ", 1)[0] + " ..."
        sentences[name] = text.replace("%", "%%")  # argparse formats help with %
    return sentences


def _keyword(words, kind=None, boolean=False):
    """An argparse type: one of ``words`` ("none" is None), a ``kind`` number, or (with
    ``boolean``) true/false."""

    def convert(text):
        if text in words:
            return None if text == "none" else text
        if boolean and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind is not None:
            try:
                return kind(text)
            except ValueError:
                pass
        expected = [*words, *(("true", "false") if boolean else ())]
        number = f"a {kind.__name__} or " if kind is not None else ""
        raise argparse.ArgumentTypeError(f"expected {number}one of {expected}; got {text!r}")

    return convert


def _option_spec(name: str, default, constraints: list, text: str, shown=None) -> dict:
    """The option of a parameter as plain data (for :mod:`cfensemble.cli._specs`), its
    type read from its constraints.

    ``shown``: the default as the help states it, when the option's default is
    ``argparse.SUPPRESS`` (absent from the namespace unless given).
    """
    from numbers import Integral

    from sklearn.utils._param_validation import Interval, StrOptions

    if shown is None and default is not None:
        shown = str(default)
    elif shown is None:
        shown = _NONE_DEFAULTS.get(name)
    ending = f"(default: {shown})" if shown else ""  # a None default: stated in words, or not
    words = sorted(next((c.options for c in constraints if isinstance(c, StrOptions)), ()))
    intervals = [c for c in constraints if isinstance(c, Interval)]
    integral = any(c.type is Integral for c in intervals) or name == "random_state"
    if None in constraints and default is not None and default is not argparse.SUPPRESS:
        words = [*words, "none"]  # e.g. class_weight: "balanced" or None
    return {
        "name": name,
        "default": None if default is argparse.SUPPRESS else default,
        "suppress": default is argparse.SUPPRESS,
        "help": f"{text} {ending}".strip(),
        "words": words,
        "number": None if words and not intervals else ("int" if integral else "float"),
        "boolean": "boolean" in constraints or isinstance(default, bool),
    }


def _add_option(group, spec: dict) -> None:
    """The argparse option of a spec made by :func:`_option_spec`."""
    flag = "--" + spec["name"].replace("_", "-")
    words, boolean, number = spec["words"], spec["boolean"], spec["number"]
    kind = {"int": int, "float": float, None: None}[number]
    default = argparse.SUPPRESS if spec["suppress"] else spec["default"]
    common = {"default": default, "help": spec["help"] or None}
    if boolean and not words:
        group.add_argument(flag, action=argparse.BooleanOptionalAction, **common)
    elif boolean:  # a bool or a keyword, such as "auto"
        metavar = "{" + ",".join([*words, "true", "false"]) + "}"
        group.add_argument(flag, type=_keyword(words, boolean=True), metavar=metavar, **common)
    elif words and kind is not None:  # a number or a keyword, such as "auto"
        metavar = f"{kind.__name__.upper()}|{'|'.join(words)}"
        group.add_argument(flag, type=_keyword(words, kind), metavar=metavar, **common)
    elif "none" in words:
        metavar = "{" + ",".join(words) + "}"
        group.add_argument(flag, type=_keyword(words), metavar=metavar, **common)
    elif words:
        group.add_argument(flag, choices=words, **common)
    else:
        metavar = "INT" if kind is int else "FLOAT"
        group.add_argument(flag, type=kind, metavar=metavar, **common)


def option_specs() -> dict[str, Any]:
    """The options of ``fit`` read from the estimator's and the trainers' parameters, as
    plain data: what :mod:`cfensemble.cli._specs` holds."""
    import inspect

    from .._estimator import CFEnsembleClassifier
    from .._solvers import SOLVERS

    described = _parameter_help(CFEnsembleClassifier.__doc__ or "")
    constraints = CFEnsembleClassifier._parameter_constraints
    estimator = []
    for name, param in inspect.signature(CFEnsembleClassifier.__init__).parameters.items():
        if name in _NOT_OPTIONS:
            continue
        text = described.get(name, "")
        estimator.append(_option_spec(name, param.default, constraints.get(name, []), text))

    signatures = {kind: inspect.signature(cls).parameters for kind, cls in SOLVERS.items()}
    names = dict.fromkeys(n for kind in SOLVERS for n in signatures[kind] if n not in _NOT_OPTIONS)
    readers = {name: [k for k in SOLVERS if name in signatures[k]] for name in names}
    helps = {kind: _parameter_help(cls.__doc__ or "") for kind, cls in SOLVERS.items()}
    trainer = []
    for name, kinds in readers.items():
        texts = {kind: helps[kind].get(name, "") for kind in kinds}
        if len(kinds) == 1:
            text = f"{_TRAINER_NAMES[kinds[0]]} only. {texts[kinds[0]]}"
        else:
            said = [f"{_TRAINER_NAMES[k]}: {texts[k]}" for k in kinds if texts[k]]
            silent = [_TRAINER_NAMES[k] for k in kinds if not texts[k]]
            text = " ".join(said) + (f" Also read by {', '.join(silent)}." if silent else "")
        defaults = {kind: signatures[kind][name].default for kind in kinds}
        if len(set(map(repr, defaults.values()))) == 1:
            value = defaults[kinds[0]]
            shown = _NONE_DEFAULTS.get(name) if value is None else repr(value).strip("'")
        else:
            shown = ", ".join(
                f"{'unset' if d is None else repr(d)} ({_TRAINER_NAMES[k]})"
                for k, d in defaults.items()
            )
        constraints = SOLVERS[kinds[0]]._parameter_constraints.get(name, [])
        spec = _option_spec(name, argparse.SUPPRESS, constraints, text.strip(), shown or "")
        trainer.append({**spec, "readers": kinds})
    return {"estimator": estimator, "trainer": trainer, "solvers": sorted(SOLVERS)}


def write_specs(path=None) -> None:
    """Rewrite :mod:`cfensemble.cli._specs` from :func:`option_specs` (after a parameter
    of the estimator or of a trainer changed), formatted by ``ruff format`` when ruff is
    installed."""
    import shutil
    import subprocess
    from pathlib import Path
    from pprint import pformat

    specs = option_specs()
    path = Path(__file__).with_name("_specs.py") if path is None else Path(path)
    text = (
        '"""The options of ``cfensemble fit`` as plain data, generated by\n'
        ":func:`cfensemble.cli._options.write_specs` from the parameters of\n"
        "CFEnsembleClassifier, ALS and Autograd (do not edit by hand): the parser is built\n"
        'from them without importing scikit-learn or the estimator."""\n\n'
        "from typing import Any\n\n"
        "ESTIMATOR_OPTIONS: list[dict[str, Any]] = "
        f"{pformat(specs['estimator'], width=92, sort_dicts=False)}\n\n"
        "TRAINER_OPTIONS: list[dict[str, Any]] = "
        f"{pformat(specs['trainer'], width=92, sort_dicts=False)}\n\n"
        f"SOLVER_NAMES = {specs['solvers']!r}\n"
    )
    path.write_text(text)
    ruff = shutil.which("ruff")
    if ruff is not None:
        subprocess.run([ruff, "format", "--quiet", str(path)], check=False)


def estimator_options(parser: argparse.ArgumentParser) -> list[str]:
    """One option per CFEnsembleClassifier parameter (but ``solver`` and ``verbose``);
    returns the parameter names."""
    group = parser.add_argument_group("estimator options (CFEnsembleClassifier parameters)")
    names = []
    for spec in ESTIMATOR_OPTIONS:
        name, text = spec["name"], spec["help"]
        if name == "random_state":
            text = f"{text} (default: a new seed, printed after the fit)".strip()
            group.add_argument("--random-state", type=int, metavar="INT", help=text)
        elif name == "pos_label":  # a label as the label column spells it
            group.add_argument(
                "--positive-class",
                dest="pos_label",
                metavar="LABEL",
                help="two classes: the class whose probability the classifier columns hold "
                "(default: the label that sorts last, 1 of 0/1)",
            )
        else:
            _add_option(group, spec)
        names.append(name)
    return names


def trainer_options(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """``--solver`` and one option per setting of ALS and Autograd (a name both have is
    one option); returns ``{setting: the trainers ("als", "torch") that read it}``.

    The settings' options are absent from the namespace unless given, so that one given
    for the other trainer can be told from one left at its default.
    """
    group = parser.add_argument_group(
        "trainer options (cfensemble.ALS and cfensemble.Autograd settings; each says which "
        "trainer reads it)"
    )
    group.add_argument(
        "--solver",
        choices=SOLVER_NAMES,
        default="als",
        help="the trainer: als, alternating least squares (cfensemble.ALS), or torch, the "
        "autograd trainer (cfensemble.Autograd; needs the [torch] extra) (default: "
        "%(default)s)",
    )
    for spec in TRAINER_OPTIONS:
        _add_option(group, spec)
    return {spec["name"]: list(spec["readers"]) for spec in TRAINER_OPTIONS}


def check_trainer_options(args: argparse.Namespace) -> str | None:
    """The trainer options given for the trainer that ``--solver`` did not choose."""
    other = [
        name
        for name, kinds in args.trainer_settings.items()
        if hasattr(args, name) and args.solver not in kinds
    ]
    if not other:
        return None
    flags = ", ".join("--" + name.replace("_", "-") for name in other)
    reader = next(kind for kind in SOLVER_NAMES if kind != args.solver)  # the other trainer
    what = "a setting" if len(other) == 1 else "settings"
    return (
        f"{flags}: {what} of the {_TRAINER_NAMES[reader]} trainer (--solver {reader}), not read "
        f"by --solver {args.solver} ({_TRAINER_NAMES[args.solver]}); drop "
        f"{'it' if len(other) == 1 else 'them'} or use --solver {reader}"
    )


def trainer_of_options(args: argparse.Namespace) -> str | ALS | Autograd:
    """``solver`` from the options: the trainer's name when no setting was given, else its
    settings object (``ALS(**given)`` or ``Autograd(**given)``)."""
    from .._solvers import SOLVERS

    given = {name: getattr(args, name) for name in args.trainer_settings if hasattr(args, name)}
    return SOLVERS[args.solver](**given) if given else args.solver


def with_callback(solver, callback):
    """``solver`` (a name or a settings object, left as it is) as a settings object that
    reports to ``callback``; ``solver`` itself without a callback."""
    if callback is None:
        return solver
    from sklearn.base import clone

    from .._solvers import SOLVERS

    trainer = SOLVERS[solver]() if isinstance(solver, str) else clone(solver)
    return trainer.set_params(callback=callback)


def _delimiter(text: str) -> str:
    value = "\t" if text in ("\\t", "tab") else text
    if len(value) != 1 or value in '"\r\n':
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character (use 'tab' or '\\t' for a tab)"
        )
    return value


def _decimal(text: str) -> str:
    if len(text) != 1 or text.isalnum() or text in '"\r\n-+':
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal mark such as ',' or '.'")
    return text


def delimiter_option(parser: argparse.ArgumentParser) -> None:
    """``--delimiter`` and ``--decimal``: how CSV/TSV inputs are written."""
    parser.add_argument(
        "--delimiter",
        type=_delimiter,
        help="field separator of CSV/TSV inputs, e.g. ';' or 'tab' (default: by suffix, ',' "
        "for .csv and a tab for .tsv); outputs use their suffix's",
    )
    parser.add_argument(
        "--decimal",
        type=_decimal,
        metavar="MARK",
        help="decimal mark of the numbers in CSV/TSV inputs, e.g. ',' for 0,478 (with "
        "--delimiter ';') (default: '.'); outputs use '.'",
    )


def strict_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--strict",
        action="store_true",
        help="refuse rows without any prediction (exit status 2) instead of giving them the "
        "class prior with a warning",
    )


def scheduler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run with dask on this cluster (e.g. tcp://host:8786); the input is then a "
        "Parquet dataset (a pattern such as 'data/*.parquet' or a directory; either also "
        "selects dask, on the local scheduler) and -o a directory for the Parquet output "
        "(needs the [dask] extra)",
    )
