"""Plots: each takes ax=None, returns Axes, and is readable (labels, legends)."""

import warnings

import numpy as np
import pytest
from conftest import main_trainer
from sklearn.exceptions import ConvergenceWarning

from cfensemble import ALS, CFEnsembleClassifier
from cfensemble.metrics import labeled_mask

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from cfensemble import plotting  # noqa: E402


@pytest.fixture
def fitted(problem):
    P, y_true, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=30)).fit(P, y)
        clf.loss_curve_  # noqa: B018 (complete P: runs the deferred factorization here)
    yield clf, P, y_true
    plt.close("all")


def test_each_plot_returns_labelled_axes(fitted):
    clf, P, y = fitted
    names = [f"m{u}" for u in range(P.shape[1])]
    axes = [
        plotting.plot_loss_curves(clf),
        plotting.plot_weights(clf, names),
        plotting.plot_pr_curves(y, P, clf.label_distributions_[:, 1], names),
        plotting.plot_classifier_factors(clf, names),
    ]
    for ax in axes:
        assert isinstance(ax, matplotlib.axes.Axes)
        assert ax.get_xlabel() or ax.get_xticklabels()
        assert ax.get_ylabel() and ax.get_title()
    # rho = 1: the aggregator is fitted once, so the supervised part is one marked point
    assert {t.get_text() for t in axes[0].get_legend().get_texts()} == {
        "total",
        "reconstruction",
        "supervised (once, at the end)",
    }
    once = [line for line in axes[0].get_lines() if line.get_marker() == "o"]
    assert len(once) == 1 and np.isfinite(once[0].get_ydata()).sum() == 1
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
        # weights of either sign: the original method's front-end keeps the option
        clf = main_trainer(random_state=0, max_iter=20, aggregator_positive=False)
        clf.fit(P, flipped)
    ax = plotting.plot_weights(clf)
    assert ax.get_title().startswith("COLLAPSED")
    plt.close("all")


def test_names_must_match(fitted):
    clf, P, y = fitted
    with pytest.raises(ValueError, match="names must have"):
        plotting.plot_weights(clf, names=["a"])
    with pytest.raises(ValueError, match=r"names must have 6 entries \(one per column of P\)"):
        plotting.plot_pr_curves(y, P, clf.label_distributions_[:, 1], names=["a"])


def test_bad_arguments_are_clear_errors(fitted, tmp_path):
    """Not fitted, rows that do not match, P without y, a file where the report goes: each
    a clear error, before any figure is drawn."""
    from sklearn.exceptions import NotFittedError

    clf, P, y = fitted
    unfitted = CFEnsembleClassifier()
    figures = len(plt.get_fignums())
    for plot in (plotting.plot_loss_curves, plotting.plot_weights,
                 plotting.plot_classifier_factors):  # fmt: skip
        with pytest.raises(NotFittedError):
            plot(unfitted)
    with pytest.raises(NotFittedError):
        plotting.write_report(unfitted, tmp_path / "r")
    assert len(plt.get_fignums()) == figures and not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="got y 10 rows, P 300 rows, ensemble_proba 300"):
        plotting.plot_pr_curves(y[:10], P, clf.label_distributions_[:, 1])
    with pytest.raises(ValueError, match="P of shape \\(300,\\)"):
        plotting.plot_pr_curves(y, P[:, 0], clf.label_distributions_[:, 1])
    with pytest.raises(ValueError, match="P was given without y"):
        plotting.write_report(clf, tmp_path / "r", P=P)
    with pytest.raises(ValueError, match="y was given without P"):
        plotting.write_report(clf, tmp_path / "r", y=y)
    (tmp_path / "file").write_text("kept")
    with pytest.raises(NotADirectoryError, match="exists and is not a directory"):
        plotting.write_report(clf, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "kept"


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


# --- multi-class models: P (n, m, K), coef_ (m, K), labels of any kind ---

CLASSES = ["ant", "bee", "cow"]
NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def multiclass():
    """A fitted 3-class model with string labels, half the rows unlabeled (None) and 30 %
    of the predictions missing: (clf, P, y with None, y_true)."""
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(300, 4, n_classes=3, missing_rate=0.3, random_state=0)
    y_true = np.array(CLASSES, dtype=object)[y]
    y_semi = y_true.copy()
    y_semi[np.random.default_rng(1).random(y.size) < 0.5] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(random_state=0, solver=ALS(max_iter=20)).fit(P, y_semi)
    assert clf.coef_.shape == (4, 3)
    yield clf, P, y_semi, y_true
    plt.close("all")


def test_multiclass_weights_are_grouped_per_classifier(multiclass):
    clf, *_ = multiclass
    ax = plotting.plot_weights(clf, NAMES)
    assert len(ax.patches) == clf.coef_.size  # one bar per classifier and class
    np.testing.assert_allclose(
        sorted(p.get_height() for p in ax.patches), np.sort(clf.coef_, None)
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == NAMES
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(CLASSES) <= set(legend)
    assert all(c in ax.get_title() for c in CLASSES)  # per-class sums and intercepts
    reference = [line for line in ax.get_lines() if "equal share" in line.get_label()]
    np.testing.assert_allclose(reference[0].get_ydata(), clf.coef_.mean())
    # the bars of a class share its colour
    colours = {tuple(p.get_facecolor()) for p in ax.patches}
    assert len(colours) == len(CLASSES)


def test_multiclass_pr_curves_one_vs_rest(multiclass):
    clf, P, y, _ = multiclass
    ax = plotting.plot_pr_curves(y, P, clf.label_distributions_, NAMES, classes=clf.classes_)
    lines = ax.get_lines()
    assert len(lines) == 2 * len(CLASSES)  # ensemble and simple average, per class
    for cls in CLASSES:
        assert sum(line.get_label().split(":")[0].endswith(f", {cls}") for line in lines) == 2
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all(any(t.startswith(f"{n}: macro PR-AUC ") for t in legend) for n in NAMES)
    assert "macro PR-AUC" in ax.get_title()
    assert f"{labeled_mask(y).sum()} labeled rows" in ax.get_title()
    # the classes default to the sorted labels (the model's classes_)
    default = plotting.plot_pr_curves(y, P, clf.label_distributions_, NAMES)
    assert [line.get_label() for line in default.get_lines()] == [
        line.get_label() for line in lines
    ]


def test_multiclass_pr_curves_need_the_class_axis(multiclass):
    clf, P, y, _ = multiclass
    with pytest.raises(ValueError, match=r"\(n_samples, n_classifiers, 3\)"):
        plotting.plot_pr_curves(y, P[:, :, 0], clf.label_distributions_, NAMES)
    with pytest.raises(ValueError, match=r"\(n_samples, n_classifiers, 3\)"):
        plotting.plot_pr_curves(y, P, clf.label_distributions_[:, 0], NAMES)
    with pytest.raises(ValueError, match="not among the classes"):
        plotting.plot_pr_curves(
            np.where(y == "ant", "ape", y), P, clf.label_distributions_, classes=clf.classes_
        )


def test_multiclass_classifier_factors_one_panel_per_class_factorization(multiclass):
    """per_class (the default): each class's factors in their own panel and projection
    (the classes' latent spaces are unrelated); joint: one panel of all (classifier, class)
    columns."""
    from sklearn.decomposition import PCA

    clf, P, y_semi, _ = multiclass
    assert clf.multiclass_factorization_ == "per_class"
    axes = plotting.plot_classifier_factors(clf, NAMES)
    assert len(axes) == 3
    for k, ax in enumerate(axes):
        assert [t.get_text() for t in ax.texts] == NAMES and CLASSES[k] in ax.get_title()
        np.testing.assert_allclose(ax.collections[0].get_array(), clf.coef_[:, k])
        expected = PCA(2).fit_transform(clf.classifier_factors_[k::3])
        drawn = ax.collections[0].get_offsets()
        np.testing.assert_allclose(np.abs(drawn), np.abs(expected), atol=1e-9)  # up to sign
    assert len({ax.collections[0].norm.vmax for ax in axes}) == 1  # one colour scale
    with pytest.raises(ValueError, match="sequence of 3 axes"):
        plotting.plot_classifier_factors(clf, NAMES, ax=axes[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        joint = CFEnsembleClassifier(  # rho < 1: one joint factorization
            random_state=0, solver=ALS(max_iter=5), rho=0.5
        ).fit(P, y_semi)
    ax = plotting.plot_classifier_factors(joint, NAMES)
    assert [t.get_text() for t in ax.texts] == [f"{n}:{c}" for n in NAMES for c in CLASSES]
    np.testing.assert_allclose(ax.collections[0].get_array(), joint.coef_.ravel())
    assert len(plotting.plot_loss_curves(clf).get_lines()) == 3


@pytest.mark.slow
def test_multiclass_report(multiclass, tmp_path):
    clf, P, y, _ = multiclass
    path = plotting.write_report(clf, tmp_path / "r", names=NAMES, P=P, y=y)
    text = path.read_text()
    for figure in ("loss.png", "weights.png", "factors.png", "pr.png"):
        assert (tmp_path / "r" / figure).stat().st_size > 5000
        assert f"({figure})" in text
    assert "| predictions | rows | macro PR-AUC | log-loss | accuracy |" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    rows = [row.strip("| ").split(" | ") for row in rows[1:]]
    assert [row[0] for row in rows] == [
        "ensemble (fold-in)",
        "mean of available predictions",
        *NAMES,
    ]
    values = np.array([[float(v) for v in row[1:]] for row in rows])
    assert np.isfinite(values).all() and (values[:, 1] <= 1).all()
    labeled = labeled_mask(y)
    assert values[0, 0] == labeled.sum()
    seen = ~np.isnan(P[labeled]).any(axis=2)
    np.testing.assert_array_equal(values[2:, 0], seen.sum(axis=0))
    assert values[0, 3] == pytest.approx(clf.score(P, y), abs=5e-4)  # accuracy
    assert "3 classes: ant, bee, cow" in text


def test_multiclass_report_needs_the_class_axis(multiclass, tmp_path):
    clf, P, y, _ = multiclass
    with pytest.raises(ValueError, match=r"\(n_samples, n_classifiers, 3\)"):
        plotting.write_report(clf, tmp_path / "r", P=P[:, :, 0], y=y)


@pytest.mark.slow
def test_report_with_both_aggregator_inputs(problem, tmp_path):
    P, y_true, y = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = CFEnsembleClassifier(
            random_state=0, solver=ALS(max_iter=10), aggregator_input="both"
        )
        clf.fit(P, y)
    names = [f"m{u}" for u in range(P.shape[1])]
    plotting.write_report(clf, tmp_path / "r", names=names, P=P, y=y_true)
    ax = plotting.plot_weights(clf, names)
    assert len(ax.patches) == 2 * len(names)
    assert ax.get_xticklabels()[0].get_text() == "m0 (observed)"
    plt.close("all")
