"""Plots of a fitted ensemble (matplotlib, imported lazily: the ``[plot]`` extra).

Each function takes ``ax=None`` (a new figure is made) and returns the Axes.
:func:`write_report` puts them together in a Markdown report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

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


def _axes(ax):
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6.4, 4.2), layout="constrained")
    return ax


def _names(estimator, names):
    m = estimator.coef_.shape[0]
    if names is None:
        return [f"clf {u}" for u in range(m)]
    if len(names) != m:
        raise ValueError(f"names must have {m} entries (one per classifier); got {len(names)}.")
    return list(names)


def plot_loss_curves(estimator, ax=None):
    """Total, reconstruction and supervised parts of the objective per iteration (log scale)."""
    ax = _axes(ax)
    unit = "epoch" if getattr(estimator, "solver", "als") == "torch" else "ALS iteration"
    steps = np.arange(1, estimator.n_iter_ + 1)
    styles = {"total": "-", "reconstruction": "--", "supervised": ":"}
    for part, values in estimator.loss_curve_.items():
        ax.plot(
            steps,
            values,
            styles.get(part, "-"),
            label=part,
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
    """Signed aggregator weights per classifier; says so in the title when they collapsed."""
    ax = _axes(ax)
    names = _names(estimator, names)
    w = estimator.coef_
    colors = np.where(w >= 0, "tab:blue", "tab:red")
    ax.bar(np.arange(w.size), w, color=colors)
    ax.axhline(0.0, color="black", linewidth=0.8)
    # the reference: equal weights with the same sum (an average on the logit scale);
    # a bar above it is a classifier trusted more than its equal share, below it less
    ax.axhline(
        w.mean(),
        color="gray",
        linestyle="--",
        linewidth=1,
        label=f"equal share of the same sum: {w.mean():.3g}",
    )
    ax.set_xticks(np.arange(w.size), names, rotation=45, ha="right")
    ax.set_ylabel("aggregator weight w (signed, on the logit scale)")
    d = estimator.diagnostics_
    title = f"Aggregator weights (sum {d['weight_sum']:.3g}, intercept {estimator.intercept_:.3g})"
    if d["collapsed"]:
        title = "COLLAPSED: " + title
        ax.set_facecolor("#fff0f0")
    elif d["n_negative_weights"]:
        title += f"\n{d['n_negative_weights']} negative weight(s) (shown in red)"
    ax.set_title(title)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    return ax


def plot_pr_curves(y, P, ensemble_proba, names=None, ax=None):
    """Precision-recall of the ensemble vs the simple average vs each base classifier.

    ``P`` (n_samples, n_classifiers) may hold NaN: a base classifier's curve uses the rows it
    scored; the simple average ignores missing entries.
    """
    ax = _axes(ax)
    y = np.asarray(y)
    P = np.asarray(P, dtype=float)
    names = names or [f"clf {u}" for u in range(P.shape[1])]
    colours = _pyplot().get_cmap("tab20" if P.shape[1] > 10 else "tab10").colors
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


def plot_classifier_factors(estimator, names=None, ax=None):
    """The classifier factors X projected on their first two principal components."""
    ax = _axes(ax)
    names = _names(estimator, names)
    X = estimator.classifier_factors_
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = s**2 / max(np.sum(s**2), 1e-300)
    coords = (
        centred @ vt[:2].T
        if vt.shape[0] >= 2
        else np.column_stack([centred @ vt[0], np.zeros(len(X))])
    )
    points = ax.scatter(coords[:, 0], coords[:, 1], c=estimator.coef_, cmap="coolwarm_r", s=60)
    ax.figure.colorbar(points, ax=ax, label="aggregator weight w")
    for (a, b), name in zip(coords, names, strict=True):
        ax.annotate(name, (a, b), textcoords="offset points", xytext=(4, 4), fontsize="small")
    ax.set_xlabel(f"component 1 ({share[0]:.0%} of the factors' variance)")
    ax.set_ylabel(f"component 2 ({share[1]:.0%})" if share.size > 1 else "component 2 (none)")
    ax.set_title("Classifier factors (colour: aggregator weight)")
    ax.grid(alpha=0.3)
    return ax


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


def write_report(estimator, directory, names=None, P=None, y=None) -> Path:
    """Write ``report.md`` and its figures to ``directory``; returns the Markdown path.

    With ``P`` and ``y`` (rows with labels; NaN/-1 rows are dropped) the report adds the
    precision-recall comparison, computed on the ensemble's fold-in predictions for ``P``.
    """
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = _names(estimator, names)
    figures = {
        "loss.png": lambda ax: plot_loss_curves(estimator, ax=ax),
        "weights.png": lambda ax: plot_weights(estimator, names, ax=ax),
        "factors.png": lambda ax: plot_classifier_factors(estimator, names, ax=ax),
    }
    lines = ["# cfensemble report", ""]
    d = estimator.diagnostics_
    lines += [
        f"- model: `{type(estimator).__name__}`, solver `{getattr(estimator, 'solver', 'als')}`, "
        f"latent_dim {estimator.latent_dim_}, rho {estimator.rho_}",
        f"- {estimator.n_iter_} iterations; final objective "
        f"{estimator.loss_curve_['total'][-1]:.5g}",
        f"- weights: min {d['weight_min']:.3f}, max {d['weight_max']:.3f}, "
        f"sum {d['weight_sum']:.3f}, {d['n_negative_weights']} negative; "
        f"prediction std {d['prediction_std']:.3f}",
    ]
    if d["collapsed"]:
        lines.append(
            "- **warning: the aggregator collapsed** (weights sum ≤ 0 or constant predictions)"
        )
    lines.append("")
    if P is not None and y is not None:
        y = np.asarray(y, dtype=float)
        keep = ~np.isnan(y) & (y != -1)
        proba = estimator.predict_proba(P)[:, 1]
        figures["pr.png"] = lambda ax: plot_pr_curves(
            y[keep].astype(int), np.asarray(P)[keep], proba[keep], names, ax=ax
        )
        lines += _metrics_table(
            y[keep].astype(int), np.asarray(P, float)[keep], proba[keep], names
        )
    titles = {
        "loss.png": "Training objective",
        "weights.png": "Aggregator weights",
        "factors.png": "Classifier factors",
        "pr.png": "Precision-recall (fold-in predictions on the given labeled rows)",
    }
    for filename, draw in figures.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
        draw(ax)
        fig.savefig(directory / filename, dpi=110)
        plt.close(fig)
        lines += [f"## {titles[filename]}", "", f"![{titles[filename]}]({filename})", ""]
    path = directory / "report.md"
    path.write_text("\n".join(lines))
    return path
