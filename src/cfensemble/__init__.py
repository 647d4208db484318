"""cfensemble: ensemble learning by collaborative filtering.

Factorizes the matrix of base-classifier probabilities (instances x classifiers) with
confidence weights, jointly with a class-weighted aggregator, and returns one probability
per instance.
"""

from ._estimator import (
    CFEnsembleClassifier,
    CFEnsemblePyTorchTrainer,
    CFEnsembleTrainer,
    CollapseWarning,
)
from .aggregators import MeanAggregator, WeightedAggregator
from .datasets import make_ensemble_problem
from .io import load_model as load
from .stacking import CFEnsembleStackingClassifier

__version__ = "0.1.0"

__all__ = [
    "CFEnsembleClassifier",
    "CFEnsemblePyTorchTrainer",
    "CFEnsembleStackingClassifier",
    "CFEnsembleTrainer",
    "CollapseWarning",
    "MeanAggregator",
    "WeightedAggregator",
    "__version__",
    "load",
    "make_ensemble_problem",
]
