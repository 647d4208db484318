"""The aggregator around the solver: its penalties resolved (the shrinkage target, "auto"
shrinkage and ridge), its exact solve at the fitted factors, the costs, the fitted
attributes a solver's result gives and the collapse check.

Functions of the estimator (``est``): they read its settings (``est._s``) and set its
fitted attributes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning

from . import _als, _solvers
from ._consensus import check_target, consensus_target, normalised, separation_factor
from ._losses import class_weights, logits
from ._problem import LOSS_PARTS, Objective, State
from ._validation import warn
from .aggregators import solve_aggregator
from .metrics import pr_auc

AUTO_SHRINKAGES = (0.0, 0.01, 0.1, 1.0)  # candidates of aggregator_shrinkage="auto"


SATURATED = 1e-12  # a probability this close to 0 or 1 ranks nothing among its kind
SHRINKAGE_FALLBACK = 0.1  # "auto" where it cannot cross-validate, and on a tie


# aggregator_l2="auto": L2_AUTO, raised as if the rarest class had L2_ROWS labeled rows
L2_AUTO, L2_ROWS = 1e-3, 5


class CollapseWarning(UserWarning):
    """The aggregator weights sum to a non-positive value or the predictions are constant."""


def aggregator_diagnostics(w: np.ndarray, proba: np.ndarray) -> dict:
    """Signed aggregator weights and prediction spread, with a collapse flag.

    ``collapsed`` is True when the weights sum to <= 0 (the ensemble ranks against its
    base classifiers) or the predictions have std below 1e-3. For K classes (``w`` of shape
    (m, K)) ``weight_sum`` is the smallest of the per-class sums (``class_weight_sums``).
    """
    w = np.asarray(w, dtype=np.float64)
    # K classes: w is (m, K) and each class's logit must rank with its members
    weight_sum = float(np.sum(w)) if w.ndim == 1 else float(np.min(np.sum(w, axis=0)))
    prediction_std = float(np.std(proba))
    extra = {} if w.ndim == 1 else {"class_weight_sums": np.sum(w, axis=0).tolist()}
    return {
        **extra,
        "weights": w.copy(),
        "weight_std": float(np.std(w)),
        "weight_min": float(np.min(w)),
        "weight_max": float(np.max(w)),
        "weight_range": float(np.max(w) - np.min(w)),
        "weight_sum": weight_sum,
        "n_negative_weights": int(np.sum(w < 0)),
        "prediction_std": prediction_std,
        "prediction_min": float(np.min(proba)),
        "prediction_max": float(np.max(proba)),
        "collapsed": weight_sum <= 0 or prediction_std < 1e-3,
    }


def labeled_class_counts(data, outputs: int) -> np.ndarray:
    """The number of labeled rows of each class in ``data``, counted by their sample
    weights (at least two classes)."""
    weight = None if data.sample_weight is None else data.sample_weight[data.labeled]
    return np.bincount(data.y_labeled.astype(np.intp), weights=weight, minlength=max(outputs, 2))


def _lower_on_the_positives(data) -> bool:
    """Whether every classifier with observed labeled rows of both classes has a lower mean
    prediction on the positive (``classes_[1]``) rows than on the negative ones: the sign
    of a ``P`` that holds the other class's probabilities (binary ``P`` only)."""
    P0, observed = data.labeled_rows()
    y = np.asarray(data.y_labeled)

    def class_mean(c):
        seen = observed[y == c]
        total = np.where(seen, P0[y == c], 0.0).sum(axis=0)
        return total / np.maximum(seen.sum(axis=0), 1), seen.any(axis=0)

    negative, has_negative = class_mean(0)
    positive, has_positive = class_mean(1)
    both = has_negative & has_positive
    return bool(both.any() and np.all(positive[both] < negative[both]))


def _cross_validated_shrinkage(
    A, y, kappa, weight, objective: Objective, m: int, use_class_weights: bool, fold_target
):
    """Mean PR-AUC of the aggregator with each of ``AUTO_SHRINKAGES``, by stratified
    cross-validation on the labeled rows: aggregator input ``A``, classes ``y``, the fit's
    supervised weights ``kappa`` and sample weights ``weight`` (None: all 1); ``m`` columns
    of the factorized matrix. 3 folds, or fewer when a class has fewer labeled rows; None
    when one has fewer than 2. Each fold is fitted as the fit would be on its training
    rows: class weights from their class counts (times the rows' sample weights and
    costs, the rest of ``kappa``), the aggregator solved from the equal weights; one whose
    weights all come out 0 scores as the mean aggregator (the fit's mean fallback). The
    held-out fold is scored with its sample weights. ``fold_target(train)`` is the
    shrinkage target (per aggregator weight) of a fold: for "separation" its factor comes
    from the fold's training rows only, as the fit's comes from its labeled rows."""
    k = objective.outputs
    folds = _label_folds(y, k)
    if folds is None:
        return None
    start = _als.initial_weights(m, objective.aggregator_input, k)
    rest = kappa / class_weights(y, use_class_weights, weight)  # sample weights x costs
    targets = [fold_target(train) for train, _ in folds]
    means = []
    for shrinkage in AUTO_SHRINKAGES:
        scores = []
        for (train, held), target in zip(folds, targets, strict=True):
            w, b = solve_aggregator(
                A[train],
                y[train],
                class_weights(y[train], use_class_weights, _rows(weight, train)) * rest[train],
                objective.focal_gamma,
                objective.aggregator_l2,
                objective.positive,
                start.copy(),
                0.0 if k == 1 else np.zeros(k),
                shrinkage=shrinkage,
                groups=objective.groups,
                outputs=k,
                target=target,
            )
            if np.any(w):
                z = logits(A[held], w, b, k)
                proba = expit(z) if k == 1 else softmax(z, axis=1)
            else:
                proba = _als.mean_prediction(A[held], start, k)
            scores.append(pr_auc(y[held], proba, _rows(weight, held)))
        means.append(float(np.mean(scores)))
    return means


def _is_consensus(target) -> bool:
    """A target that starts from the label-free consensus ("consensus", "separation")."""
    return isinstance(target, str) and target in ("consensus", "separation")


def _is_separation(target) -> bool:
    return isinstance(target, str) and target == "separation"


def _rows(weight: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if weight is None else weight[rows]


def instance_confidence_weights(P: np.ndarray, floor: float = 0.05) -> np.ndarray:
    """``max(1 - mean_u certainty_iu, floor)`` over each row's observed predictions, with
    ``certainty = |2 p - 1|`` for a binary ``P`` (n, m) and ``(K max_k p_k - 1) / (K - 1)``
    (the same for K = 2) for class probabilities (n, m, K)."""
    if P.ndim == 2:
        certainty = np.abs(2.0 * P - 1.0)
    else:
        k = P.shape[2]
        certainty = (k * np.max(P, axis=2) - 1.0) / (k - 1.0)
    return np.maximum(1.0 - np.nanmean(certainty, axis=1), floor)


def _times(weights: np.ndarray | None, factor: np.ndarray) -> np.ndarray:
    return factor if weights is None else weights * factor


def with_shrinkage_target(est, data, objective: Objective) -> Objective:
    """Set ``shrinkage_target_`` and return the objective with the target (None for
    equal weights): a user's array as given, "consensus" from the moments of all the
    fit's rows (:mod:`cfensemble._consensus`), "separation" that times the factor of
    the labeled rows, equal where the classifiers are known to abstain (``abstention``
    > 0 given) or nothing is trained."""
    n_columns, k = data.shape[1], objective.outputs
    est.shrinkage_target_ = np.ones(n_columns)
    target = est._s.shrinkage_target
    if _is_consensus(target):
        if not objective.train_aggregator or objective.abstention > 0:
            return objective
        est._label_free_target = consensus_target(data.consensus_moments(k), k)
        est.shrinkage_target_ = target_of(est, data, k)
    elif not isinstance(target, str):
        est.shrinkage_target_ = check_target(target, n_columns, k)
    if np.all(est.shrinkage_target_ == 1.0):
        return objective
    return replace(objective, shrinkage_target=est.shrinkage_target_)


def target_of(est, data, k: int, rows: np.ndarray | None = None) -> np.ndarray:
    """The "consensus" or "separation" target: the label-free consensus times, for
    "separation", :func:`cfensemble._consensus.separation_factor` of the labeled rows
    (``rows`` of them: a cross-validation fold's; None: all)."""
    if not _is_separation(est._s.shrinkage_target) or k > 1:
        return est._label_free_target  # K >= 3 classes: the consensus (see the doc)
    P0, observed = data.labeled_rows()
    y = data.y_labeled
    weight = None if data.sample_weight is None else data.sample_weight[data.labeled]
    if rows is not None:
        P0, observed, y, weight = P0[rows], observed[rows], y[rows], _rows(weight, rows)
    factor = separation_factor(P0, observed, y, k, weight)
    if np.all(factor == 1.0):  # too few labels, or none told apart: exactly consensus
        return est._label_free_target
    return normalised(est._label_free_target * factor, k)


def resolve_shrinkage(est, data, objective: Objective, result) -> Objective:
    """Set ``aggregator_shrinkage_`` (and ``shrinkage_cv_``): for "auto", each of
    ``AUTO_SHRINKAGES`` is scored by stratified cross-validation of the aggregator on
    the labeled rows (:func:`_cross_validated_shrinkage`) and the aggregator is solved
    again with the best. The aggregator input does not depend on the labels when the
    factors do not (``rho=1``, ALS) and the aggregator is solved exactly after them;
    otherwise "auto" is ``SHRINKAGE_FALLBACK``. Returns the objective with the value
    used."""
    est.shrinkage_cv_ = None
    auto = est._s.aggregator_shrinkage == "auto"
    est.aggregator_shrinkage_ = objective.aggregator_shrinkage
    state = result.state
    if not (
        auto
        and objective.rho == 1.0
        and est._s.solver == "als"
        and objective.train_aggregator
        and solved_after(est, result)
        and data.labeled.size
    ):
        return objective
    weight = None if data.sample_weight is None else data.sample_weight[data.labeled]

    def fold_target(train: np.ndarray) -> np.ndarray | None:
        if not _is_separation(est._s.shrinkage_target) or objective.shrinkage_target is None:
            return objective.weight_target  # the same for every fold (equal: None)
        t = target_of(est, data, objective.outputs, train)
        return replace(objective, shrinkage_target=None if np.all(t == 1) else t).weight_target

    means = _cross_validated_shrinkage(
        _als.labeled_input(data, state, objective),
        data.y_labeled,
        data.kappa,
        weight,
        objective,
        data.shape[1],
        est._s.use_class_weights,
        fold_target,
    )
    if means is None:
        return objective
    est.shrinkage_cv_ = {"candidates": list(AUTO_SHRINKAGES), "mean_pr_auc": means}
    best = AUTO_SHRINKAGES[int(np.argmax(means))]
    if means[AUTO_SHRINKAGES.index(SHRINKAGE_FALLBACK)] == max(means):
        best = SHRINKAGE_FALLBACK
    if best != objective.aggregator_shrinkage:
        objective = replace(objective, aggregator_shrinkage=best)
        result.loss_curve[-1, 2] = final_aggregator(est, data, state, objective)
        est.aggregator_shrinkage_ = best
    return objective


def solved_after(est, result) -> bool:
    """Whether the aggregator was solved exactly after the factors (not a gradient step,
    not held at its start by ``freeze_aggregator_iters``)."""
    return (
        result.deferred
        or result.state.Y.ndim == 3
        or (
            est._s.aggregator_solver == "newton" and result.n_iter > est._s.freeze_aggregator_iters
        )
    )


def final_aggregator(est, data, state: State, objective: Objective) -> float:
    """Solve the aggregator exactly at the fitted factors, from its start (the
    classifiers' equal weights, intercept 0; the mean aggregator keeps them), and
    return the supervised part of the objective."""
    k = objective.outputs
    state.w = _als.initial_weights(data.shape[1], objective.aggregator_input, k)
    state.b = 0.0 if k == 1 else np.zeros(k)
    A = _als.labeled_input(data, state, objective)
    if objective.train_aggregator and data.labeled.size:
        replace(_solvers.als_solver(est), aggregator_solver="newton")._aggregator_step(
            data, state, objective, A
        )
    return _als.supervised_part(data, state, objective, A)


def costs(est, P: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """The supervised-only weights: instance weighting and the false-negative cost."""
    weights = None
    if est._s.instance_weighting == "confidence":
        weights = instance_confidence_weights(P)
    if est._s.fn_cost != 1.0:
        weights = _times(weights, np.where(y == 1, float(est._s.fn_cost), 1.0))
    return weights


def aggregator_l2(est, data) -> float:
    """``aggregator_l2``, for "auto" ``L2_AUTO * max(1, L2_ROWS / n_rare)`` with
    ``n_rare`` the (weighted) count of the rarest class's labeled rows in ``data``."""
    if est._s.aggregator_l2 != "auto":
        return float(est._s.aggregator_l2)
    rarest = float(labeled_class_counts(data, est._outputs).min())
    return L2_AUTO * max(1.0, L2_ROWS / max(rarest, 1.0))


def set_fitted(est, result, data, objective: Objective) -> None:
    """The fitted attributes a solver's result gives, except the per-row ones."""
    state = result.state
    k = objective.outputs
    est.aggregator_trained_ = objective.train_aggregator
    est.aggregator_l2_ = objective.aggregator_l2
    est.classifier_factors_ = state.X
    est.classifier_bias_ = state.a
    est.coef_ = state.w if k == 1 else state.w.reshape(-1, k)
    est.intercept_ = float(state.b) if k == 1 else np.array(state.b, dtype=np.float64)
    stepped = (
        est._s.solver == "torch"
        or getattr(est, "multiclass_factorization_", None) == "per_class"
        or result.n_iter > est._s.freeze_aggregator_iters
        or result.deferred
    )
    if (
        est.aggregator_trained_
        and stepped
        and est._s.use_class_weights
        and est._s.prior_correction
    ):
        counts = labeled_class_counts(data, k)
        log_prior = np.log(counts / counts.sum())
        if k == 1:
            est.intercept_ += float(log_prior[1] - log_prior[0])
        else:
            est.intercept_ = est.intercept_ + log_prior
    est.n_iter_ = result.n_iter
    est.validation_pr_auc_ = result.validation_pr_auc
    est.validation_loss_ = result.validation_loss
    est.loss_curve_ = {name: result.loss_curve[:, k].copy() for k, name in enumerate(LOSS_PARTS)}
    est._mean_fallback = est.aggregator_trained_ and not np.any(est.coef_)
    if est._mean_fallback:
        # Every weight 0: the labeled rows contradict every classifier (a handful of
        # positives ranked below the negatives by all of them) and the non-negative
        # aggregator predicts a constant, which ranks nothing. Predict as the mean
        # aggregator does; the labels carry too little to do better.
        advice = "Label more rows, especially positives."
        if k == 1 and _lower_on_the_positives(data):
            first, last = (repr(c) for c in np.asarray(est.classes_).tolist())
            advice = (
                f"Every classifier's mean prediction is lower on the rows labeled {last} "
                f"than on those labeled {first}. P is read as the probability of "
                f"classes_[1] = {last} (the last label in sorted order): if P holds the "
                f"probabilities of {first}, pass 1 - P or swap the labels; otherwise "
                f"label more rows, especially {last} rows."
            )
        warn(
            "The aggregator collapsed: every weight is 0 (the labeled rows contradict "
            "every classifier), so the predictions would be one constant; predicting "
            "with the mean aggregator instead (aggregator_type='mean'). " + advice,
            CollapseWarning,
        )
        est.aggregator_trained_ = False
        w = _als.initial_weights(data.shape[1], objective.aggregator_input, k)
        est.coef_ = w if k == 1 else w.reshape(-1, k)
        est.intercept_ = 0.0 if k == 1 else np.zeros(k)


def set_diagnostics(est, proba: np.ndarray, ranges=(None, None)) -> None:
    """``ranges``: of the missing entries' reconstruction and of their fill-in (what
    the aggregator sees: calibrated and blended), None where nothing is missing."""
    est.diagnostics_ = aggregator_diagnostics(est.coef_, proba)
    est.diagnostics_["missing_reconstruction_range"] = ranges[0]
    est.diagnostics_["missing_fill_range"] = ranges[1]
    est.diagnostics_["mean_fallback"] = getattr(est, "_mean_fallback", False)
    # an aggregator that was not trained (the mean aggregator: no labeled rows,
    # aggregator_type='mean', or the mean fallback, which warned already) did not collapse
    if est.diagnostics_["collapsed"] and est.aggregator_trained_:
        warn(
            "The aggregator collapsed: weight sum "
            f"{est.diagnostics_['weight_sum']:.3g}, prediction std "
            f"{est.diagnostics_['prediction_std']:.3g}. On imbalanced data keep "
            "class_weight='balanced'; try solver=ALS(aggregator_solver='newton').",
            CollapseWarning,
        )
    saturated = float(np.mean((proba <= SATURATED) | (proba >= 1.0 - SATURATED)))
    est.diagnostics_["saturated_share"] = saturated
    if est._s.solver == "torch" and saturated > 0.5:
        warn(
            f"{saturated:.1%} of the fitted probabilities are 0 or 1 to within {SATURATED:g}: "
            "the autograd trainer's weights grew without bound (largest |w| "
            f"{float(np.max(np.abs(est.coef_))):.3g}), so the ranking among them is lost. "
            "Lower solver__lr (the step size) or use the default ALS trainer.",
            ConvergenceWarning,
        )


def _label_folds(y: np.ndarray, outputs: int) -> list | None:
    """Stratified folds (train, held) of labeled rows of classes ``y`` (0, 1, ...) for the
    internal cross-validations: 3, or fewer when a class has fewer rows, shuffled with a
    fixed seed; None when a class has fewer than 2 rows."""
    from sklearn.model_selection import StratifiedKFold

    classes = y.astype(np.intp)
    n_folds = int(min(3, np.bincount(classes, minlength=max(outputs, 2)).min()))
    if n_folds < 2:
        return None
    return list(StratifiedKFold(n_folds, shuffle=True, random_state=0).split(classes, classes))
