"""cfensemble: ensemble learning by collaborative filtering.

Factorizes the matrix of base-classifier probabilities (instances x classifiers) with
confidence weights, jointly with a class-weighted aggregator, and returns one probability
per instance.
"""

from importlib.metadata import PackageNotFoundError, version

from ._aggregation import CollapseWarning
from ._estimator import CFEnsembleClassifier
from ._seed import CFEnsemblePyTorchTrainer, CFEnsembleTrainer
from ._solvers import ALS, Autograd
from .aggregators import MeanAggregator, WeightedAggregator
from .datasets import make_ensemble_problem
from .io import load_model as load
from .metrics import labeled_scorer
from .stacking import CFEnsembleStackingClassifier, load_stacking

try:
    __version__ = version("cfensemble")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "ALS",
    "Autograd",
    "CFEnsembleClassifier",
    "CFEnsemblePyTorchTrainer",
    "CFEnsembleStackingClassifier",
    "CFEnsembleTrainer",
    "CollapseWarning",
    "MeanAggregator",
    "WeightedAggregator",
    "__version__",
    "labeled_scorer",
    "load",
    "load_stacking",
    "make_ensemble_problem",
]
