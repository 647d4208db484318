import numpy as np
import pytest

from cfensemble import make_ensemble_problem


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def problem():
    """A small imbalanced problem with half the rows unlabeled: (P, y_true, y_train)."""
    P, y = make_ensemble_problem(
        n_samples=300,
        n_classifiers=6,
        positive_rate=0.15,
        base_quality=np.linspace(0.4, 0.8, 6),
        error_correlation=0.5,
        random_state=0,
    )
    labeled = np.random.default_rng(1).random(y.size) < 0.5
    return P, y, np.where(labeled, y, -1)
