"""``latent_dim`` / ``rho`` = "auto" by cross-validation on the labeled rows, and the
stratified splits it and the autograd trainer's validation use."""

from __future__ import annotations

import warnings

import numpy as np

from . import _multiclass, _solvers
from ._aggregation import _label_folds
from ._validation import warn
from .metrics import pr_auc

AUTO_LATENT_DIMS = (1, 2, 4)  # candidates of latent_dim="auto" (capped at n_classifiers)


AUTO_RHOS = (0.5, 0.8, 1.0)  # candidates of rho="auto"


def _stratified_holdout(y: np.ndarray, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, held out) of a stratified hold-out of the labeled rows."""
    labeled = np.flatnonzero(~np.isnan(y))
    empty = np.array([], dtype=int)
    if fraction == 0:
        return labeled, empty
    held = []
    for cls in np.unique(y[labeled]):
        members = labeled[y[labeled] == cls]
        k = round(fraction * members.size)
        if members.size < 2 or k == 0:
            return labeled, empty
        held.append(rng.permutation(members)[: min(k, members.size - 1)])
    held_rows = np.sort(np.concatenate(held))
    return np.setdiff1d(labeled, held_rows), held_rows


def select_by_cross_validation(est, P, y, sample_weight=None):
    """Choose ``latent_dim`` / ``rho`` given as "auto" by internal cross-validation.

    The labeled rows are split in stratified folds (3, or fewer when a class has fewer
    labeled rows); for each candidate the model is fitted with one fold's labels hidden
    (those rows stay in P, unlabeled, as in real use) and scored by PR-AUC of its
    transductive predictions on that fold. The best mean score wins; ties go to the
    smaller ``latent_dim`` and the larger ``rho``. Returns ``(latent_dim, rho,
    cv_results)``.
    """
    m = P.shape[1]
    dims = (
        sorted({min(d, m) for d in AUTO_LATENT_DIMS})
        if est._s.latent_dim == "auto"
        else [est._s.latent_dim]
    )
    rhos = list(AUTO_RHOS) if est._s.rho == "auto" else [est._s.rho]
    if est._outputs > 1 and (
        est._s.multiclass_factorization == "per_class"
        or (est._s.solver == "als" and est._s.focal_gamma > 0)
    ):
        rhos = [r for r in rhos if r == 1.0] or rhos  # rho < 1 is not available there
    labeled = np.flatnonzero(~np.isnan(y))
    folds = _label_folds(y[labeled], est._outputs)
    fallback = (
        2 if est._s.latent_dim == "auto" else dims[0],
        0.5 if est._s.rho == "auto" else rhos[0],
    )
    if folds is None:
        warn(
            "latent_dim/rho='auto' needs at least 2 labeled rows of each class for "
            f"cross-validation; using latent_dim={fallback[0]}, rho={fallback[1]}.",
            UserWarning,
        )
        return fallback[0], fallback[1], None
    from ._validation import positive_proba

    results = []
    quiet = {**_solvers.without_callback(est.get_params(deep=False)), "verbose": False}
    for d in dims:
        for r in rhos:
            scores = []
            for _, held in folds:
                rows = labeled[held]
                y_cv = y.copy()
                y_cv[rows] = np.nan
                est = type(est)(**{**quiet, "latent_dim": d, "rho": r})
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(P, y_cv, sample_weight)
                proba = positive_proba(est.label_distributions_)
                scores.append(float(pr_auc(y[rows], proba[rows])))
            results.append({"latent_dim": d, "rho": r, "scores": scores})
    best = max(
        results,
        key=lambda res: (round(float(np.mean(res["scores"])), 12), -res["latent_dim"], res["rho"]),
    )
    return best["latent_dim"], best["rho"], cv_results(results)


def cv_results(results: list[dict]) -> dict:
    """The search's record laid out as scikit-learn's ``GridSearchCV.cv_results_``: one
    entry per candidate in each array; ``rank_test_score`` 1 for the best mean PR-AUC
    (candidates equal to 12 decimals share a rank, as the choice treats them as ties)."""
    scores = np.array([res["scores"] for res in results], dtype=np.float64)
    means = scores.mean(axis=1)
    rounded = np.round(means, 12)
    out: dict = {
        "params": [{"latent_dim": res["latent_dim"], "rho": res["rho"]} for res in results],
        "param_latent_dim": np.array([res["latent_dim"] for res in results], dtype=np.int64),
        "param_rho": np.array([res["rho"] for res in results], dtype=np.float64),
    }
    for k in range(scores.shape[1]):
        out[f"split{k}_test_score"] = scores[:, k]
    out["mean_test_score"] = means
    out["std_test_score"] = scores.std(axis=1)
    out["rank_test_score"] = 1 + np.array(
        [np.sum(rounded > value) for value in rounded], dtype=np.int32
    )
    return out


def cv_results_from_records(records: list) -> dict:
    """``cv_results_`` of the list of dicts that files before 1.0 stored (``latent_dim``,
    ``rho``, ``mean_pr_auc``, ``fold_pr_auc`` per candidate)."""
    return cv_results(
        [
            {"latent_dim": r["latent_dim"], "rho": r["rho"], "scores": list(r["fold_pr_auc"])}
            for r in records
        ]
    )


def set_dimensions(est, latent_dim, rho, n_columns: int, n_classifiers: int) -> None:
    """``latent_dim_`` (capped, with a warning, at the columns of each factorized
    matrix: the classifiers, or classifiers x classes for the joint K-class
    factorization), ``rho_``, ``n_features_in_``."""
    est.rho_ = float(rho)
    est.n_features_in_ = n_classifiers
    joint = est._outputs > 1 and _multiclass.factorization(est) == "joint"
    cap = n_columns if joint else n_classifiers
    if latent_dim > cap:
        what = (
            "the number of columns of P (classifiers x classes)"
            if joint
            else "the number of classifiers"
        )
        warn(
            f"latent_dim={latent_dim} is above {what} ({cap}); using latent_dim={cap}.",
            UserWarning,
        )
        latent_dim = cap
    est.latent_dim_ = int(latent_dim)


def choose_dimensions(est, P, y, sample_weight, n_columns: int, search: bool) -> None:
    """``latent_dim_``, ``rho_`` and ``cv_results_``: "auto" searched by cross-validation
    (not where the fit defers the factorization: nothing there depends on them)."""
    latent_dim, rho = est._s.latent_dim, est._s.rho
    est.cv_results_ = None
    if search and (isinstance(latent_dim, str) or isinstance(rho, str)):
        latent_dim, rho, est.cv_results_ = select_by_cross_validation(est, P, y, sample_weight)
    latent_dim = 2 if latent_dim == "auto" else latent_dim
    rho = 1.0 if rho == "auto" else rho
    set_dimensions(est, latent_dim, rho, n_columns, P.shape[1])
