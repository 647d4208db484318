"""Plots of a fitted ensemble (matplotlib, imported lazily: the ``[plot]`` extra).

Each function takes ``ax=None`` (a new figure is made) and returns the Axes.
:func:`write_report` puts them together in a Markdown report.

Binary and multi-class models are drawn. For K >= 3 classes (``coef_`` of shape
(n_classifiers, K), ``P`` of shape (n_samples, n_classifiers, K)) the weights are grouped
per classifier with one bar per class, the precision-recall curves are one-vs-rest per
class, the classifier factors are one point per (classifier, class) column, and the
metrics table gives macro PR-AUC, log-loss and accuracy.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.utils.validation import check_is_fitted

from .metrics import labeled_mask

__all__ = [
    "plot_classifier_factors",
    "plot_loss_curves",
    "plot_pr_curves",
    "plot_weights",
    "write_report",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "cfensemble.plotting needs matplotlib: `pip install 'cfensemble[plot]'`."
        ) from None
    return plt


def _fitted(estimator) -> None:
    """A clear error for an estimator that is not fitted, or not an estimator."""
    # not loss_curve_: reading it runs a deferred factorization (cfensemble._deferred)
    check_is_fitted(estimator, ("coef_", "diagnostics_"))


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6.4, 4.2), layout="constrained")
    return ax


def _factorized_per_class(estimator) -> bool:
    """Whether each class has its own factorization (its own latent space)."""
    return getattr(estimator, "multiclass_factorization_", None) == "per_class"


def _both(estimator) -> bool:
    """Whether ``coef_`` has two rows per classifier (``aggregator_input="both"``)."""
    return getattr(estimator, "aggregator_input", "observed") == "both"


def _n_classifiers(estimator) -> int:
    rows = np.shape(estimator.coef_)[0]
    return rows // 2 if _both(estimator) else rows


def _classes(estimator):
    """The classes of a multi-class model (``coef_`` of shape (rows, K)), else None."""
    if np.ndim(estimator.coef_) != 2:
        return None
    return np.asarray(estimator.classes_)


def _names(estimator, names):
    """One name per classifier."""
    m = _n_classifiers(estimator)
    if names is None:
        return [f"clf {u}" for u in range(m)]
    if len(names) == 2 * m and _both(estimator):  # one name per row of coef_, as before
        return list(names)[:m]
    if len(names) != m:
        raise ValueError(f"names must have {m} entries (one per classifier); got {len(names)}.")
    return list(names)


def _row_names(estimator, names):
    """One name per row of ``coef_``: with ``aggregator_input="both"`` each classifier's
    observed input, then its reconstructed one."""
    if names is not None and _both(estimator) and len(names) == np.shape(estimator.coef_)[0]:
        return list(names)
    names = _names(estimator, names)
    if not _both(estimator):
        return names
    return [f"{n} (observed)" for n in names] + [f"{n} (reconstructed)" for n in names]


def _colours(count: int):
    return _pyplot().get_cmap("tab20" if count > 10 else "tab10").colors


def _short(values, limit: int = 6) -> str:
    """``values`` as a comma-separated list, cut after ``limit`` entries."""
    values = list(values)
    text = ", ".join(values[:limit])
    return text + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def plot_loss_curves(estimator, ax=None):
    """Total, reconstruction and supervised parts of the objective per iteration (log scale)."""
    _fitted(estimator)
    ax = _axes(ax)
    solver = getattr(estimator, "solver", "als")  # a name, or ALS(...) / Autograd(...)
    kind = solver if isinstance(solver, str) else getattr(solver, "kind", "als")
    unit = "epoch" if kind == "torch" else "ALS iteration"
    steps = np.arange(1, estimator.n_iter_ + 1)
    styles = {"total": "-", "reconstruction": "--", "supervised": ":"}
    for part, values in estimator.loss_curve_.items():
        # with rho = 1 the aggregator is fitted once, after the factorization: the
        # supervised part is one point (NaN before), drawn as a marker
        once = np.count_nonzero(np.isfinite(values)) == 1 and len(values) > 1
        ax.plot(
            steps,
            values,
            styles.get(part, "-"),
            marker="o" if once else None,
            label=f"{part} (once, at the end)" if once else part,
            linewidth=2 if part == "total" else 1.5,
        )
    ax.set_yscale("log")
    ax.set_xlabel(unit)
    ax.set_ylabel("objective (normalised, dimensionless)")
    ax.set_title("Training objective")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_weights(estimator, names=None, ax=None):
    """Signed aggregator weights per classifier; says so in the title when they collapsed.

    Multi-class models: one group of bars per classifier with one bar per class (class
    colours; negative weights hatched).
    """
    _fitted(estimator)
    names = _row_names(estimator, names)
    ax = _axes(ax)
    classes = _classes(estimator)
    if classes is not None:
        return _plot_class_weights(estimator, names, classes, ax)
    w = estimator.coef_
    colors = np.where(w >= 0, "tab:blue", "tab:red")
    ax.bar(np.arange(w.size), w, color=colors)
    ax.axhline(0.0, color="black", linewidth=0.8)
    _equal_share_line(ax, w)
    ax.set_xticks(np.arange(w.size), names, rotation=45, ha="right")
    ax.set_ylabel("aggregator weight w (signed, on the logit scale)")
    d = estimator.diagnostics_
    title = f"Aggregator weights (sum {d['weight_sum']:.3g}, intercept {estimator.intercept_:.3g})"
    _weights_title(ax, d, title, "shown in red")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return ax


def _equal_share_line(ax, w: np.ndarray) -> None:
    """The reference: equal weights with the same sum (an average on the logit scale); a
    bar above it is a classifier trusted more than its equal share, below it less."""
    ax.axhline(
        w.mean(),
        color="gray",
        linestyle="--",
        linewidth=1,
        label=f"equal share of the same sum: {w.mean():.3g}",
    )


def _weights_title(ax, d, title, negative_note):
    if d["collapsed"]:
        title = "COLLAPSED: " + title
        ax.set_facecolor("#fff0f0")
    elif d["n_negative_weights"]:
        title += f"\n{d['n_negative_weights']} negative weight(s) ({negative_note})"
    ax.set_title(title)


def _plot_class_weights(estimator, names, classes, ax):
    W = np.asarray(estimator.coef_, dtype=float)
    rows, k = W.shape
    x = np.arange(rows)
    width = 0.8 / k
    colours = _colours(k)
    for j, cls in enumerate(classes):
        bars = ax.bar(
            x + (j - (k - 1) / 2) * width,
            W[:, j],
            width,
            color=colours[j % len(colours)],
            label=str(cls),
        )
        for bar, value in zip(bars, W[:, j], strict=True):
            if value < 0:
                bar.set_hatch("///")
                bar.set_edgecolor("black")
    ax.axhline(0.0, color="black", linewidth=0.8)
    _equal_share_line(ax, W)  # over classifiers and classes
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("aggregator weight w (signed, on the class logit)")
    d = estimator.diagnostics_
    title = (
        f"Aggregator weights per class (sums: {_per_class(classes, W.sum(axis=0))})\n"
        f"intercepts: {_per_class(classes, np.ravel(estimator.intercept_))}"
    )
    _weights_title(ax, d, title, "hatched")
    # beside the axes: inside, the legend would hide the bars of the first classifiers
    ax.legend(
        title="class",
        fontsize="small",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        ncol=2 if k > 12 else 1,
    )
    ax.grid(axis="y", alpha=0.3)
    return ax


def _per_class(classes, values, fmt: str = ".3g", limit: int = 6) -> str:
    """``ant 1.2, bee -0.3, ...`` (cut after ``limit`` classes)."""
    return _short((f"{c} {v:{fmt}}" for c, v in zip(classes, values, strict=True)), limit)


def _class_indices(y, classes) -> np.ndarray:
    """Each label of ``y`` (all labeled) as its index in ``classes``."""
    index = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    values = np.asarray(y).tolist()
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise ValueError(
            f"y holds labels that are not among the classes {np.asarray(classes).tolist()}: "
            f"{unknown[:5]}."
        )
    return np.array([index[v] for v in values], dtype=np.intp)


def _labeled(y, classes=None):
    """The labeled rows of ``y`` (a mask) and their class indices in ``classes`` (by default
    the sorted labels)."""
    keep = labeled_mask(y)
    labels = np.asarray(y)[keep]
    if classes is None:
        classes = np.unique(labels)
    return keep, _class_indices(labels, classes), np.asarray(classes)


def _expected_shape(k: int) -> str:
    return f"(n_samples, n_classifiers, {k})"


def plot_pr_curves(y, P, ensemble_proba, names=None, ax=None, *, classes=None):
    """Precision-recall of the ensemble vs the simple average vs each base classifier.

    ``P`` (n_samples, n_classifiers) may hold NaN: a base classifier's curve uses the rows it
    scored; the simple average ignores missing entries.

    Multi-class: ``P`` of shape (n_samples, n_classifiers, K) and ``ensemble_proba`` of shape
    (n_samples, K), the classes in the order of ``classes`` (by default the sorted labels
    of ``y``, as ``classes_`` of a model); ``y`` holds any labels. One-vs-rest curves per
    class of the ensemble (solid) and of the simple average (dashed), their macro average in
    the title, and each base classifier's macro PR-AUC (on the rows it predicts) in the
    legend. Unlabeled rows of ``y`` (-1, NaN, None) are dropped.
    """
    ensemble_proba = np.asarray(ensemble_proba, dtype=float)
    P = np.asarray(P, dtype=float)
    rows = {
        name: np.shape(value)[0] if np.ndim(value) else 0
        for name, value in (("y", y), ("P", P), ("ensemble_proba", ensemble_proba))
    }
    if len(set(rows.values())) > 1 or P.ndim not in (2, 3):
        raise ValueError(
            "plot_pr_curves: y, P and ensemble_proba need one entry per row and P 2 or 3 "
            "dimensions; got "
            + ", ".join(f"{name} {count} rows" for name, count in rows.items())
            + f", P of shape {P.shape}."
        )
    if names is not None and len(names) != P.shape[1]:
        raise ValueError(
            f"plot_pr_curves: names must have {P.shape[1]} entries (one per column of P); "
            f"got {len(names)}."
        )
    k = ensemble_proba.shape[1] if ensemble_proba.ndim == 2 else 0
    if k >= 3 or (P.ndim == 3 and P.shape[2] >= 3):
        if P.ndim != 3 or k != P.shape[2]:
            k = k or P.shape[2]
            raise ValueError(
                f"plot_pr_curves: for {k} classes P must have shape {_expected_shape(k)} "
                f"and ensemble_proba (n_samples, {k}); got P of shape {P.shape} and "
                f"ensemble_proba of shape {ensemble_proba.shape}."
            )
        keep, labels, classes = _labeled(y, classes)
        if classes.size != k:
            raise ValueError(
                f"plot_pr_curves: P has {k} class columns but the classes are "
                f"{classes.tolist()}; pass classes= (the model's classes_)."
            )
        return _plot_class_pr_curves(labels, P[keep], ensemble_proba[keep], classes, names, ax)
    if P.ndim == 3:  # two classes as (n, m, 2): the second class
        P = P[:, :, 1]
    if ensemble_proba.ndim == 2:
        ensemble_proba = ensemble_proba[:, 1]
    ax = _axes(ax)
    y = np.asarray(y)
    keep = labeled_mask(y)
    if classes is None and set(np.unique(y[keep]).tolist()) <= {0, 1}:
        classes = [0, 1]  # 0/1 labels as they are, even when one of them is absent
    _, y, _ = _labeled(y, classes)
    P, ensemble_proba = P[keep], ensemble_proba[keep]
    names = names or [f"clf {u}" for u in range(P.shape[1])]
    colours = _colours(P.shape[1])
    for u in range(P.shape[1]):
        seen = ~np.isnan(P[:, u])
        precision, recall, _ = precision_recall_curve(y[seen], P[seen, u])
        ap = average_precision_score(y[seen], P[seen, u])
        ax.plot(
            recall,
            precision,
            color=colours[u % len(colours)],
            alpha=0.6,
            linewidth=0.9,
            label=f"{names[u]}: {ap:.3f}",
        )
    average = np.nanmean(P, axis=1)
    for label, scores, style in [
        ("simple average", average, dict(color="dimgray", linestyle="--", linewidth=2)),
        ("CF ensemble", ensemble_proba, dict(color="black", linewidth=2.5)),
    ]:
        precision, recall, _ = precision_recall_curve(y, scores)
        ap = average_precision_score(y, scores)
        ax.plot(recall, precision, label=f"{label}: PR-AUC {ap:.3f}", **style)
    ax.axhline(
        y.mean(),
        color="gray",
        linewidth=0.8,
        linestyle=":",
        label=f"positive rate {y.mean():.3f}",
    )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Precision-recall on {y.size} labeled rows")
    ax.legend(loc="lower left", fontsize="x-small", ncol=2 if P.shape[1] > 6 else 1)
    ax.grid(alpha=0.3)
    return ax


def _seen(P: np.ndarray) -> np.ndarray:
    """(n, m): where a classifier gave its K probabilities."""
    return ~np.isnan(P).any(axis=2)


def _simple_average(P: np.ndarray) -> np.ndarray:
    """(n, K): the mean of the available predictions (1/K where a row has none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        average = np.nanmean(P, axis=1)
    return np.where(np.isnan(average), 1.0 / P.shape[2], average)


def _class_pr_aucs(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """One-vs-rest PR-AUC of each class (NaN for a class without positives or negatives)."""
    aucs = np.full(proba.shape[1], np.nan)
    for j in range(proba.shape[1]):
        truth = labels == j
        if 0 < truth.sum() < truth.size:
            aucs[j] = average_precision_score(truth, proba[:, j])
    return aucs


def _macro(aucs: np.ndarray) -> float:
    return float(np.mean(aucs[~np.isnan(aucs)])) if (~np.isnan(aucs)).any() else float("nan")


def _plot_class_pr_curves(labels, P, proba, classes, names, ax):
    from matplotlib.lines import Line2D

    ax = _axes(ax)
    m, k = P.shape[1], P.shape[2]
    names = names or [f"clf {u}" for u in range(m)]
    if len(names) != m:
        raise ValueError(f"names must have {m} entries (one per classifier); got {len(names)}.")
    colours = _colours(k)
    average = _simple_average(P)
    macros = {}
    for label, scores, style in [
        ("simple average", average, dict(linestyle="--", linewidth=1.2, alpha=0.8)),
        ("CF ensemble", proba, dict(linewidth=2.2)),
    ]:
        aucs = _class_pr_aucs(labels, scores)
        macros[label] = _macro(aucs)
        for j, cls in enumerate(classes):
            if np.isnan(aucs[j]):
                continue
            precision, recall, _ = precision_recall_curve(labels == j, scores[:, j])
            ax.plot(
                recall,
                precision,
                color=colours[j % len(colours)],
                label=f"{label}, {cls}: {aucs[j]:.3f}",
                **style,
            )
    handles, _ = ax.get_legend_handles_labels()
    seen = _seen(P)
    for u, name in enumerate(names):  # legend entries only: the macro PR-AUC of each
        rows = seen[:, u]
        macro = _macro(_class_pr_aucs(labels[rows], P[rows, u])) if rows.any() else np.nan
        handles.append(Line2D([], [], linestyle="none", label=f"{name}: macro PR-AUC {macro:.3f}"))
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(
        f"One-vs-rest precision-recall on {labels.size} labeled rows\n"
        f"macro PR-AUC: CF ensemble {macros['CF ensemble']:.3f}, "
        f"simple average {macros['simple average']:.3f}"
    )
    ax.legend(
        handles=handles, loc="lower left", fontsize="x-small", ncol=2 if len(handles) > 8 else 1
    )
    ax.grid(alpha=0.3)
    return ax


def plot_classifier_factors(estimator, names=None, ax=None):
    """The classifier factors X projected on their first two principal components.

    Multi-class models have one factor per (classifier, class) column, labelled
    ``<name>:<class>`` and coloured by that column's aggregator weight. Where each class has
    its own factorization (``multiclass_factorization_ == "per_class"``, the multi-class
    default) the classes' factors live in different latent spaces and are comparable only
    within a class: one panel per class, each with its own projection. ``ax`` is then a
    sequence of K axes (or None: a new figure) and the array of axes is returned.
    """
    _fitted(estimator)
    names = _names(estimator, names)
    classes = _classes(estimator)
    X = np.asarray(estimator.classifier_factors_, dtype=float)
    weights = np.asarray(estimator.coef_, dtype=float)
    label = "aggregator weight w"
    if _both(estimator):  # the weight of each classifier's observed input
        weights = weights[: _n_classifiers(estimator)]
        label += " (observed input)"
    if _factorized_per_class(estimator):
        K = classes.size
        axes = _factor_axes(ax, K)
        norm = _pyplot().Normalize(weights.min(), weights.max())  # one colour scale
        for k, panel in enumerate(axes):  # row u K + k: classifier u's factor for class k
            points = _factor_scatter(panel, X[k::K], weights[:, k], names, norm)
            panel.set_title(f"class {classes[k]}: its own factorization")
        axes[0].figure.colorbar(points, ax=list(axes), label=label)
        return axes
    ax = _axes(ax)
    if classes is not None:
        names = [f"{name}:{cls}" for name in names for cls in classes]
    points = _factor_scatter(ax, X, weights.ravel(), names)
    ax.figure.colorbar(points, ax=ax, label=label)
    if classes is None:
        ax.set_title("Classifier factors (colour: aggregator weight)")
    else:
        ax.set_title("Classifier factors, one per (classifier, class)\n(colour: its weight)")
    return ax


def _factor_axes(ax, panels: int) -> np.ndarray:
    """``panels`` axes: ``ax`` checked, or a new figure of them (at most 4 per row)."""
    if ax is None:
        return _panel_grid(panels)[1]
    axes = np.ravel(np.asarray(ax, dtype=object))
    if axes.size != panels:
        raise ValueError(
            f"ax must be a sequence of {panels} axes (one per class: each class has its own "
            f"factorization), or None; got {axes.size}."
        )
    return axes


def _panel_grid(panels: int, width: float = 4.0, height: float = 3.6):
    """A new figure with ``panels`` axes, at most 4 per row (unused grid cells hidden):
    ``(figure, axes)`` with ``axes`` flat, of size ``panels``."""
    columns = min(panels, 4)
    rows = -(-panels // columns)
    fig, grid = _pyplot().subplots(
        rows, columns, figsize=(width * columns, height * rows), layout="constrained",
        squeeze=False,
    )  # fmt: skip
    for unused in grid.ravel()[panels:]:
        unused.set_visible(False)
    return fig, grid.ravel()[:panels]


def _factor_scatter(ax, X, weights, names, norm=None):
    """The rows of ``X`` on their first two principal components, coloured by ``weights``
    (returns the scatter, for a colour bar)."""
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = s**2 / max(np.sum(s**2), 1e-300)
    coords = (
        centred @ vt[:2].T
        if vt.shape[0] >= 2
        else np.column_stack([centred @ vt[0], np.zeros(len(X))])
    )
    points = ax.scatter(coords[:, 0], coords[:, 1], c=weights, cmap="coolwarm_r", norm=norm, s=60)
    for (a, b), name in zip(coords, names, strict=True):
        ax.annotate(name, (a, b), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.set_xlabel(f"component 1 ({share[0]:.0%} of the factors' variance)")
    ax.set_ylabel(f"component 2 ({share[1]:.0%})" if share.size > 1 else "component 2 (none)")
    ax.grid(alpha=0.3)
    return points


def _metrics_table(y, P, proba, names) -> list[str]:
    """Markdown rows: PR-AUC, ROC-AUC and Brier of the ensemble, the average and each column.

    A base classifier is scored on the rows where it gave a prediction (their count shown).
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    def row(name, truth, scores):
        if np.unique(truth).size < 2:
            return f"| {name} | {truth.size} | n/a | n/a | {brier_score_loss(truth, scores):.3f} |"
        return (
            f"| {name} | {truth.size} | {average_precision_score(truth, scores):.3f} | "
            f"{roc_auc_score(truth, scores):.3f} | {brier_score_loss(truth, scores):.3f} |"
        )

    lines = [
        "## Metrics on the given labeled rows",
        "",
        "| predictions | rows | PR-AUC | ROC-AUC | Brier |",
        "|---|---|---|---|---|",
        row("ensemble (fold-in)", y, proba),
        row("mean of available predictions", y, np.nanmean(P, axis=1)),
    ]
    for u, name in enumerate(names):
        seen = ~np.isnan(P[:, u])
        if seen.any():
            lines.append(row(str(name), y[seen], P[seen, u]))
    return [*lines, ""]


def _class_metrics_table(labels, P, proba, names) -> list[str]:
    """Markdown rows for K classes: macro PR-AUC (one-vs-rest), log-loss and accuracy of the
    ensemble, the average and each base classifier (on the rows where it gave a prediction).

    The log-loss is the mean of -log(probability given to the true class), clipped at 1e-15.
    """

    def row(name, truth, scores):
        macro = _macro(_class_pr_aucs(truth, scores))
        true_class = scores[np.arange(truth.size), truth]
        log_loss = float(-np.mean(np.log(np.clip(true_class, 1e-15, 1.0))))
        accuracy = float(np.mean(np.argmax(scores, axis=1) == truth))
        auc = "n/a" if np.isnan(macro) else f"{macro:.3f}"
        return f"| {name} | {truth.size} | {auc} | {log_loss:.3f} | {accuracy:.3f} |"

    lines = [
        "## Metrics on the given labeled rows",
        "",
        "| predictions | rows | macro PR-AUC | log-loss | accuracy |",
        "|---|---|---|---|---|",
        row("ensemble (fold-in)", labels, proba),
        row("mean of available predictions", labels, _simple_average(P)),
    ]
    seen = _seen(P)
    for u, name in enumerate(names):
        if seen[:, u].any():
            lines.append(row(str(name), labels[seen[:, u]], P[seen[:, u], u]))
    return [*lines, ""]


def write_report(estimator, directory, names=None, P=None, y=None) -> Path:
    """Write ``report.md`` and its figures to ``directory``; returns the Markdown path.

    With ``P`` and ``y`` (rows with labels; -1/NaN/None rows are dropped) the report adds the
    precision-recall comparison and a metrics table, computed on the ensemble's fold-in
    predictions for ``P``. ``y`` holds labels among the model's ``classes_``; a multi-class
    model takes ``P`` of shape (n_samples, n_classifiers, K).
    """
    _fitted(estimator)
    if (P is None) != (y is None):
        given, missing = ("P", "y") if y is None else ("y", "P")
        raise ValueError(
            f"write_report: {given} was given without {missing}; the precision-recall "
            "comparison and the metrics table need both (or neither)."
        )
    plt = _pyplot()
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(f"write_report: {directory} exists and is not a directory.")
    directory.mkdir(parents=True, exist_ok=True)
    row_names = _row_names(estimator, names)
    names = _names(estimator, names)
    classes = _classes(estimator)
    figures = {
        "loss.png": lambda ax: plot_loss_curves(estimator, ax=ax),
        "weights.png": lambda ax: plot_weights(estimator, row_names, ax=ax),
        "factors.png": lambda ax: plot_classifier_factors(estimator, names, ax=ax),
    }
    lines = ["# cfensemble report", ""]
    d = estimator.diagnostics_
    if classes is None:
        sums = f"sum {d['weight_sum']:.3f}"
    else:
        sums = "sums per class " + _per_class(classes, np.sum(estimator.coef_, axis=0), ".3f", 20)
    lines += [
        f"- model: `{type(estimator).__name__}`, solver `{getattr(estimator, 'solver', 'als')}`, "
        f"latent_dim {estimator.latent_dim_}, rho {estimator.rho_}",
        f"- {estimator.n_iter_} iterations; final objective "
        f"{estimator.loss_curve_['total'][-1]:.5g}",
        f"- weights: min {d['weight_min']:.3f}, max {d['weight_max']:.3f}, "
        f"{sums}, {d['n_negative_weights']} negative; "
        f"prediction std {d['prediction_std']:.3f}",
    ]
    if classes is not None:
        lines.append(f"- {classes.size} classes: {_short(map(str, classes), 20)}")
    if d["collapsed"]:
        what = "weights sum" if classes is None else "a class's weights sum"
        lines.append(
            f"- **warning: the aggregator collapsed** ({what} ≤ 0 or constant predictions)"
        )
    lines.append("")
    if P is not None and y is not None:
        keep, labels, _ = _labeled(y, estimator.classes_)
        P = np.asarray(P, dtype=float)
        if classes is not None and (P.ndim != 3 or P.shape[2] != classes.size):
            raise ValueError(
                f"P must have shape {_expected_shape(classes.size)} for this "
                f"{classes.size}-class model; got {P.shape}."
            )
        proba = estimator.predict_proba(P)
        if classes is not None:
            P, proba = P[keep], proba[keep]
            figures["pr.png"] = lambda ax: plot_pr_curves(
                classes[labels], P, proba, names, ax=ax, classes=classes
            )
            lines += _class_metrics_table(labels, P, proba, names)
        else:
            if P.ndim == 3:
                P = P[:, :, 1]
            P, proba = P[keep], proba[keep, 1]
            figures["pr.png"] = lambda ax: plot_pr_curves(labels, P, proba, names, ax=ax)
            lines += _metrics_table(labels, P, proba, names)
    titles = {
        "loss.png": "Training objective",
        "weights.png": "Aggregator weights",
        "factors.png": "Classifier factors",
        "pr.png": "Precision-recall (fold-in predictions on the given labeled rows)",
    }
    if classes is not None:
        titles["pr.png"] = "One-vs-rest " + titles["pr.png"].replace("P", "p", 1)
    for filename, draw in figures.items():
        if filename == "factors.png" and _factorized_per_class(
            estimator
        ):  # one panel per class's factorization
            fig, ax = _panel_grid(classes.size)
        else:
            fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        draw(ax)
        fig.savefig(
            directory / filename, dpi=110, bbox_inches="tight"
        )  # a long title or an outside legend stays whole
        plt.close(fig)
        lines += [f"## {titles[filename]}", "", f"![{titles[filename]}]({filename})", ""]
    path = directory / "report.md"
    path.write_text("\n".join(lines))
    return path
