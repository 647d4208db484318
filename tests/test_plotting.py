"""Plots: each takes ax=None, returns Axes, and is readable (labels, legends)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cfensemble import CFEnsembleClassifier

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cfensemble import plotting  # noqa: E402


@pytest.fixture
def fitted(problem):
    P, y_true, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, max_iter=30).fit(P, y)
    yield clf, P, y_true
    plt.close("all")


def test_each_plot_returns_labelled_axes(fitted):
    clf, P, y = fitted
    names = [f"m{u}" for u in range(P.shape[1])]
    axes = [
        plotting.plot_loss_curves(clf),
        plotting.plot_weights(clf, names),
        plotting.plot_pr_curves(y, P, clf.transduction_, names),
        plotting.plot_classifier_factors(clf, names),
    ]
    for ax in axes:
        assert isinstance(ax, matplotlib.axes.Axes)
        assert ax.get_xlabel() or ax.get_xticklabels()
        assert ax.get_ylabel() and ax.get_title()
    assert {t.get_text() for t in axes[0].get_legend().get_texts()} == {
        "total",
        "reconstruction",
        "supervised",
    }
    assert [t.get_text() for t in axes[1].get_xticklabels()] == names
    assert any("CF ensemble" in t.get_text() for t in axes[2].get_legend().get_texts())
    # every base classifier has its own name and colour in the PR plot
    legend = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert all(any(t.startswith(f"{name}: ") for t in legend) for name in names)
    base = [line for line in axes[2].get_lines() if line.get_label().split(":")[0] in names]
    assert len({line.get_color() for line in base}) == len(names)
    # the weights' reference is their mean (equal share of the same sum), not 1/m
    reference = [line for line in axes[1].get_lines() if "equal share" in line.get_label()]
    np.testing.assert_allclose(reference[0].get_ydata(), clf.coef_.mean())


def test_given_axes_are_used(fitted):
    clf, *_ = fitted
    _, ax = plt.subplots()
    assert plotting.plot_weights(clf, ax=ax) is ax
    assert len(ax.patches) == clf.coef_.size


def test_collapse_is_shown(problem):
    P, _, y = problem
    flipped = np.where(y == -1, -1, 1 - y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = CFEnsembleClassifier(random_state=0, max_iter=20, aggregator_positive=False)
        clf.fit(P, flipped)
    ax = plotting.plot_weights(clf)
    assert ax.get_title().startswith("COLLAPSED")
    plt.close("all")


def test_names_must_match(fitted):
    clf, *_ = fitted
    with pytest.raises(ValueError, match="names must have"):
        plotting.plot_weights(clf, names=["a"])


def test_write_report(fitted, tmp_path):
    clf, P, y = fitted
    path = plotting.write_report(clf, tmp_path / "r", P=P, y=y)
    text = path.read_text()
    for figure in ("loss.png", "weights.png", "factors.png", "pr.png"):
        assert (tmp_path / "r" / figure).stat().st_size > 5000
        assert figure in text


def test_report_metrics_table_matches_the_metrics(fitted, tmp_path):
    from sklearn.metrics import average_precision_score

    clf, P, y = fitted
    P = P.copy()
    P[::3, 0] = np.nan  # a classifier scored on its own rows only
    text = plotting.write_report(clf, tmp_path / "r", P=P, y=y).read_text()
    assert "## Metrics on the given labeled rows" in text
    ensemble = average_precision_score(y, clf.predict_proba(P)[:, 1])
    assert f"| ensemble (fold-in) | {len(y)} | {ensemble:.3f} |" in text
    seen = ~np.isnan(P[:, 0])
    first = average_precision_score(y[seen], P[seen, 0])
    assert f"| {int(seen.sum())} | {first:.3f} |" in text
