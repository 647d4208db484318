"""cfensemble: ensemble learning by collaborative filtering.

Factorizes the matrix of base-classifier probabilities (instances x classifiers) with
confidence weights, jointly with a class-weighted aggregator, and returns one probability
per instance.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("cfensemble")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

# The public names, imported on first use (``cfensemble --help`` needs none of them):
# name -> (module, attribute)
_PUBLIC = {
    "ALS": ("._solvers", "ALS"),
    "Autograd": ("._solvers", "Autograd"),
    "CFEnsembleClassifier": ("._estimator", "CFEnsembleClassifier"),
    "CFEnsemblePyTorchTrainer": ("._seed", "CFEnsemblePyTorchTrainer"),
    "CFEnsembleStackingClassifier": (".stacking", "CFEnsembleStackingClassifier"),
    "CFEnsembleTrainer": ("._seed", "CFEnsembleTrainer"),
    "CollapseWarning": ("._aggregation", "CollapseWarning"),
    "EmptyRowsWarning": ("._validation", "EmptyRowsWarning"),
    "MeanAggregator": (".aggregators", "MeanAggregator"),
    "WeightedAggregator": (".aggregators", "WeightedAggregator"),
    "labeled_scorer": (".metrics", "labeled_scorer"),
    "load": (".io", "load_model"),
    "load_stacking": (".stacking", "load_stacking"),
    "make_ensemble_problem": (".datasets", "make_ensemble_problem"),
}


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'cfensemble' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    if name == "load":  # a model file may name any registered estimator class
        import_module("._seed", __name__)
    value = getattr(import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:
    from ._aggregation import CollapseWarning
    from ._estimator import CFEnsembleClassifier
    from ._seed import CFEnsemblePyTorchTrainer, CFEnsembleTrainer
    from ._solvers import ALS, Autograd
    from ._validation import EmptyRowsWarning
    from .aggregators import MeanAggregator, WeightedAggregator
    from .datasets import make_ensemble_problem
    from .io import load_model as load
    from .metrics import labeled_scorer
    from .stacking import CFEnsembleStackingClassifier, load_stacking

__all__ = [
    "ALS",
    "Autograd",
    "CFEnsembleClassifier",
    "CFEnsemblePyTorchTrainer",
    "CFEnsembleStackingClassifier",
    "CFEnsembleTrainer",
    "CollapseWarning",
    "EmptyRowsWarning",
    "MeanAggregator",
    "WeightedAggregator",
    "__version__",
    "labeled_scorer",
    "load",
    "load_stacking",
    "make_ensemble_problem",
]
