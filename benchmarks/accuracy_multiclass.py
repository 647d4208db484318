"""Multi-class accuracy (K >= 3 classes) against the mean, LR stacking and StackingClassifier.

Run as ``python benchmarks/accuracy.py --multiclass [options]`` (or this file directly).

Data (offline, shipped with scikit-learn): iris (3 classes), wine (3), digits (10) and
``digits_imbalanced``: the digits 0–4, subsampled (seed 0) to class shares of about
50/25/12/8/5 % (all 178 zeros, then 89, 43, 28 and 18 rows of the digits 1–4; 356 rows).

Protocol, per data set and repeat r (seed r for the split, the base models, the mask and
cfensemble's ``random_state``), as in ``accuracy.py``:

1. A stratified split: 75 % pool, 25 % held out.
2. Six scikit-learn base classifiers (logistic regression, Gaussian naive Bayes, 15-nearest
   neighbours, a depth-5 tree, a random forest, a small MLP) give out-of-fold class
   probabilities on the pool (5-fold ``cross_val_predict`` with the pool's labels) and,
   refit on the pool, probabilities for the held-out rows: P of shape (n, 6, K), cached
   per data set and seed in benchmarks/results/cache/.
3. A missing regime, applied alike to pool and held-out rows (seeded by r and the regime,
   the same for every budget): ``complete`` (nothing missing) or ``mcar`` (each (row,
   classifier) prediction, the whole K-vector, is missing with probability 30 %; a row
   left empty gets one random classifier back).
4. A label budget (5 %, 20 %, 50 % of the pool rows; stratified with at least 2 rows of
   every class; seeded by r and the budget, the same rows for both regimes) is revealed to
   the combiners. The other pool rows are scored transductively, the held-out rows
   inductively; the tables report the held-out rows.

Combiners on the same splits and masks:

- ``nanmean``: the mean of the available predictions per class, renormalised;
- ``LR``: multinomial logistic regression on P with missing entries filled by the column
  mean of the observed pool entries, flattened to (n, 6 K), trained on the labeled rows;
- ``Stacking``: scikit-learn's ``StackingClassifier`` with fresh clones of the same six
  base models (default final estimator, logistic regression), fitted on the labeled pool
  rows' *features* only: it cannot use unlabeled rows, and it is not affected by missing
  predictions (it makes its own). Its internal CV uses min(5, smallest labeled class
  count) folds, and the nearest-neighbour model's k is lowered to the smallest training
  fold where that has fewer than 15 rows (5 % of iris is 6 labeled rows); a fit that
  fails anyway is reported as NaN and counted;
- ``cfensemble``: ``CFEnsembleClassifier(random_state=r)`` with default parameters (never
  tuned here; for K >= 3 with ALS and rho = 1, the defaults, each class's (n, 6) slice of
  P is factorized on its own), then one softmax aggregator on the filled-in input; fitted
  on all pool rows (unlabeled as -1), held-out rows by ``predict_proba`` (fold-in);
- ``cf-ovr``: one-vs-rest, K binary ``CFEnsembleClassifier(random_state=r)`` fitted on
  P[:, :, k] with the labels (y == k), their probabilities normalised to sum to 1.

Metrics: log-loss (probabilities clipped to [1e-15, 1] and renormalised), macro PR-AUC
(one-vs-rest average precision averaged over the classes) and accuracy. W/T/L: paired
wins/ties/losses of cfensemble's PR-AUC (tie: |difference| <= 0.002). The two CF models
are compared (cfensemble against cf-ovr) on every paired run. (One joint (n, 6 K)
factorization, the previous default, is no longer an option: see the docs' "Design
decisions".)

Caveat: the base classifiers were trained with all the pool's labels; only the combiners
see the budget (as in ``accuracy.py``).

Usage::

    python benchmarks/accuracy.py --multiclass [--quick] [--repeats 5]
        [--datasets iris wine digits digits_imbalanced] [--budgets 0.05 0.2 0.5]
        [--regimes complete mcar] [--output NAME] [--update-readme] [--render]

The default run (4 data sets, 5 repeats, 2 regimes, 3 budgets: 120 paired conditions)
takes a few minutes on 2 cores, most of it for the base models (cached) and
StackingClassifier. Writes benchmarks/results/<output>.json and .md (output:
``accuracy_multiclass``, or ``accuracy_multiclass_quick`` with ``--quick``);
``--update-readme`` writes the summary into docs/user_guide/accuracy_multiclass.inc (and
between the ``accuracy_multiclass`` markers of README.md, where it has them); ``--render``
rewrites them from the saved .json without a run. ``--quick`` (CI, < 60 s): iris and wine,
one repeat, 20 % labeled.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time
import warnings

import numpy as np
from _common import (
    CACHE,
    KNN_K,
    TIE,
    cached_probabilities,
    load_results,
    save_results,
    six_classifiers,
    write_rendered,
)
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.ensemble import StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from cfensemble import CFEnsembleClassifier

HERE = pathlib.Path(__file__).parent
CACHE_VERSION = "mc1"  # bump when a base classifier's definition changes

DATASETS = ("iris", "wine", "digits", "digits_imbalanced")
QUICK_DATASETS = ("iris", "wine")
REGIMES = ("complete", "mcar")
BUDGETS = (0.05, 0.2, 0.5)
QUICK_BUDGETS = (0.2,)
REPEATS = 5
MISSING_RATE = 0.3
IMBALANCED_SHARES = (0.50, 0.25, 0.12, 0.08, 0.05)  # digits 0-4
EPS = 1e-15

CF, OVR = "cfensemble", "cf-ovr"
RIVALS = (OVR,)  # cfensemble's paired comparisons among the CF models
BASELINES = {
    "nanmean": "mean of the available predictions per class, renormalised",
    "LR": "multinomial LR stacking on col-mean-imputed P, flattened to (n, m K)",
    "Stacking": "scikit-learn's StackingClassifier on the labeled rows' features",
}
METHODS = (*BASELINES, CF, OVR)


# ------------------------------------------------------------------ data


def imbalanced_digits():
    """Digits 0-4 subsampled (seed 0) to class shares of about 50/25/12/8/5 %."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    total = np.sum(y == 0) / IMBALANCED_SHARES[0]
    rows = []
    for k, share in enumerate(IMBALANCED_SHARES):
        members = np.flatnonzero(y == k)
        size = min(members.size, round(share * total))
        rows.append(rng.choice(members, size=size, replace=False))
    rows = np.sort(np.concatenate(rows))
    return X[rows], y[rows]


def load_datasets(names) -> dict:
    loaders = {"iris": load_iris, "wine": load_wine, "digits": load_digits}
    data = {}
    for name in names:
        if name == "digits_imbalanced":
            X, y = imbalanced_digits()
        else:
            X, y = loaders[name](return_X_y=True)
        _, y = np.unique(y, return_inverse=True)  # labels 0..K-1
        data[name] = (np.asarray(X, dtype=float), y)
    return data


base_classifiers = six_classifiers  # six base models of different families
N_CLASSIFIERS = len(base_classifiers(0))


def probability_matrices(name, X, y, seed: int):
    """Pool/held-out split and the base models' class probabilities, (n, m, K) each.

    Out-of-fold P on the pool, refit P on the held-out rows; cached per data set and seed.
    """
    pool, held = train_test_split(np.arange(y.size), test_size=0.25, stratify=y, random_state=seed)
    path = CACHE / f"{CACHE_VERSION}-{name}-{seed}.npz"
    models = base_classifiers(seed)
    cols = cached_probabilities(path, models, X, y, pool, held, seed, positive_only=False)
    P_pool = np.stack([cols[f"pool:{n}"] for n in models], axis=1)
    P_held = np.stack([cols[f"held:{n}"] for n in models], axis=1)
    return pool, held, P_pool, P_held


def apply_regime(regime, P_pool, P_held, rng):
    """Masked copies (NaN in all K entries of a missing prediction); no row left empty."""
    if regime == "complete":
        return P_pool.copy(), P_held.copy()
    if regime != "mcar":
        raise ValueError(f"unknown regime {regime!r}")
    out = []
    for P in (P_pool, P_held):
        n, m, _ = P.shape
        mask = rng.random((n, m)) < MISSING_RATE
        empty = np.flatnonzero(mask.all(axis=1))
        mask[empty, rng.integers(m, size=empty.size)] = False
        out.append(np.where(mask[:, :, None], np.nan, P))
    return tuple(out)


def labeled_subset(y, budget, n_classes, rng):
    """Stratified pick of max(budget n, 2 K) rows with at least 2 of every class."""
    n_lab = max(round(budget * y.size), 2 * n_classes)
    members = [np.flatnonzero(y == k) for k in range(n_classes)]
    target = np.array([g.size for g in members]) / y.size * n_lab
    counts = np.full(n_classes, 2)
    sizes = np.array([g.size for g in members])
    for _ in range(n_lab - counts.sum()):
        deficit = np.where(counts < sizes, target - counts, -np.inf)
        counts[int(np.argmax(deficit))] += 1
    pick = [rng.choice(g, size=c, replace=False) for g, c in zip(members, counts, strict=True)]
    return np.sort(np.concatenate(pick))


# ------------------------------------------------------------------ combiners


def nanmean_proba(P):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        Q = np.nanmean(P, axis=1)
    return Q / Q.sum(axis=1, keepdims=True)


def colmean_filled(P_pool, P_held):
    """P with missing entries filled by the observed pool column mean, as (n, m K)."""
    K = P_pool.shape[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with nothing observed
        means = np.nanmean(P_pool, axis=0)
    means = np.where(np.isnan(means), 1.0 / K, means)
    return [np.where(np.isnan(P), means, P).reshape(P.shape[0], -1) for P in (P_pool, P_held)]


def stacking(X_pool, y_lab, X_held, labeled, unlabeled, seed):
    """StackingClassifier on the labeled rows' features; (scores or None, info)."""
    class_counts = np.bincount(y_lab)
    folds = int(min(5, class_counts.min()))
    smallest_train = int(y_lab.size - np.sum(np.ceil(class_counts / folds)))
    k = min(KNN_K, smallest_train)
    estimators = [(n, clone(e)) for n, e in base_classifiers(seed).items()]
    dict(estimators)["knn15"].set_params(kneighborsclassifier__n_neighbors=k)
    clf = StackingClassifier(
        estimators, cv=StratifiedKFold(folds, shuffle=True, random_state=seed)
    )
    info = {"folds": folds, "knn_k": k, "error": None}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")
            clf.fit(X_pool[labeled], y_lab)
            scores = [clf.predict_proba(X_pool[unlabeled]), clf.predict_proba(X_held)]
    except (ValueError, IndexError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}"
        scores = None
    info["seconds"] = time.perf_counter() - start
    return scores, info


def cf_fits(P_pool, y_train, P_held, unlabeled, seed, n_classes):
    """cfensemble (default: per-class factorizations + one softmax aggregator) and cf-ovr
    (K binary models)."""
    scores, info = {}, {}
    for name in (CF, OVR):
        factorization = None
        start = time.perf_counter()
        # One BLAS thread: on these small problems a busy 2-core machine's threads make the
        # L-BFGS-B aggregator step about 4x slower (0.52 s instead of 0.14 s on iris).
        with warnings.catch_warnings(record=True) as caught, threadpool_limits(1):
            warnings.simplefilter("always")
            if name == CF:
                clf = CFEnsembleClassifier(random_state=seed).fit(P_pool, y_train)
                if not np.array_equal(clf.classes_, np.arange(n_classes)):
                    raise RuntimeError(f"classes_ {clf.classes_} != 0..{n_classes - 1}")
                factorization = getattr(clf, "multiclass_factorization_", None)
                if factorization not in (None, "per_class"):  # the attribute, where reported
                    raise RuntimeError(f"{name}: multiclass_factorization_ {factorization!r}")
                s = [clf.label_distributions_[unlabeled], clf.predict_proba(P_held)]
                n_iter = [int(getattr(clf, "n_iter_", -1))]
            else:
                s = [np.empty((unlabeled.size, n_classes)), np.empty((len(P_held), n_classes))]
                n_iter = []
                for k in range(n_classes):
                    yk = np.where(y_train == -1, -1, (y_train == k).astype(int))
                    clf = CFEnsembleClassifier(random_state=seed).fit(P_pool[:, :, k], yk)
                    s[0][:, k] = clf.label_distributions_[unlabeled, 1]
                    s[1][:, k] = clf.predict_proba(P_held[:, :, k])[:, 1]
                    n_iter.append(int(getattr(clf, "n_iter_", -1)))
                for S in s:
                    total = S.sum(axis=1, keepdims=True)
                    S[:] = np.where(total > 0, S / np.where(total > 0, total, 1), 1 / n_classes)
        shapes_ok = s[0].shape == (unlabeled.size, n_classes) and s[1].shape == (
            len(P_held),
            n_classes,
        )
        if not shapes_ok or not all(np.isfinite(S).all() for S in s):
            raise RuntimeError(f"{name}: bad output shapes {[S.shape for S in s]} or non-finite")
        scores[name] = s
        info[name] = {
            "seconds": time.perf_counter() - start,
            "n_iter": n_iter,
            "factorization": factorization,
            "warnings": sorted({w.category.__name__ for w in caught}),
        }
    return scores, info


def metrics(y, p, n_classes) -> dict:
    if p is None:
        return {"log_loss": math.nan, "pr_auc": math.nan, "accuracy": math.nan}
    p = np.clip(p, EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    present = [k for k in range(n_classes) if np.any(y == k)]
    return {
        "log_loss": float(-np.mean(np.log(p[np.arange(y.size), y]))),
        "pr_auc": float(np.mean([average_precision_score(y == k, p[:, k]) for k in present])),
        "accuracy": float(np.mean(p.argmax(axis=1) == y)),
    }


# ------------------------------------------------------------------ the run


def run(datasets, repeats, regimes, budgets) -> dict:
    results: dict = {"datasets": {}, "runs": []}
    weights = {name: y.size * (1 + np.unique(y).size / 5) for name, (_, y) in datasets.items()}
    done, total_weight = 0.0, repeats * sum(weights.values())
    start_all = time.perf_counter()
    for name, (X, y) in datasets.items():
        K = int(y.max()) + 1
        results["datasets"][name] = {
            "n": int(y.size),
            "classes": K,
            "features": X.shape[1],
            "class_counts": np.bincount(y).tolist(),
        }
        for r in range(repeats):
            start = time.perf_counter()
            pool, held, P_pool_all, P_held_all = probability_matrices(name, X, y, r)
            y_pool, y_held = y[pool], y[held]
            results["datasets"][name]["held_out"] = int(held.size)
            for budget in budgets:
                labeled = labeled_subset(
                    y_pool, budget, K, np.random.default_rng([r, round(budget * 1000)])
                )
                unlabeled = np.setdiff1d(np.arange(y_pool.size), labeled)
                y_lab = y_pool[labeled]
                y_train = np.full(y_pool.size, -1)
                y_train[labeled] = y_lab
                # Not affected by the missing regime: fitted once per budget.
                stack_scores, stack_info = stacking(X[pool], y_lab, X[held], labeled, unlabeled, r)
                for regime in regimes:
                    rng = np.random.default_rng([r, REGIMES.index(regime), 11])
                    Pp, Ph = apply_regime(regime, P_pool_all, P_held_all, rng)
                    scores = {"nanmean": [nanmean_proba(Pp[unlabeled]), nanmean_proba(Ph)]}
                    F_pool, F_held = colmean_filled(Pp, Ph)
                    lr = LogisticRegression(max_iter=5000).fit(F_pool[labeled], y_lab)
                    scores["LR"] = [lr.predict_proba(F_pool[unlabeled]), lr.predict_proba(F_held)]
                    scores["Stacking"] = stack_scores or [None, None]
                    cf_scores, cf_info = cf_fits(Pp, y_train, Ph, unlabeled, r, K)
                    scores |= cf_scores
                    results["runs"].append(
                        {
                            "dataset": name,
                            "repeat": r,
                            "regime": regime,
                            "budget": budget,
                            "observed": float(np.mean(~np.isnan(np.vstack([Pp, Ph])[:, :, 0]))),
                            "n_labeled": int(labeled.size),
                            "labeled_counts": np.bincount(y_lab, minlength=K).tolist(),
                            "scores": {
                                m: {
                                    "transductive": metrics(y_pool[unlabeled], s[0], K),
                                    "held-out": metrics(y_held, s[1], K),
                                }
                                for m, s in scores.items()
                            },
                            "cf_fit": cf_info,
                            "stacking": stack_info,
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


def _values(runs, method, split, metric):
    return np.array([r["scores"][method][split][metric] for r in runs])


def _wtl(diff) -> str:
    diff = np.asarray(diff)
    diff = diff[~np.isnan(diff)]
    return f"{int((diff > TIE).sum())}/{int((abs(diff) <= TIE).sum())}/{int((diff < -TIE).sum())}"


def _groups(runs, keys):
    groups: dict = {}
    for r in runs:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups


def _order(results, keys):
    names = list(results["datasets"])
    rank = {"dataset": names.index, "regime": REGIMES.index, "budget": float}
    return lambda key: tuple(rank[k](v) for k, v in zip(keys, key, strict=True))


def _row(runs, split):
    """Means per method, the best baseline by PR-AUC, margins and W/T/L."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pr = {m: float(np.nanmean(_values(runs, m, split, "pr_auc"))) for m in METHODS}
        ll = {m: float(np.nanmean(_values(runs, m, split, "log_loss"))) for m in METHODS}
        acc = {m: float(np.nanmean(_values(runs, m, split, "accuracy"))) for m in METHODS}
    best = max(BASELINES, key=lambda m: -np.inf if np.isnan(pr[m]) else pr[m])
    ours = _values(runs, CF, split, "pr_auc")
    return {
        "pr": pr,
        "ll": ll,
        "acc": acc,
        "best": best,
        "margin": pr[CF] - pr[best],
        "ll_margin": ll[CF] - min(ll[m] for m in BASELINES if not np.isnan(ll[m])),
        "wtl": _wtl(ours - _values(runs, best, split, "pr_auc")),
        # cfensemble − each CF rival: mean PR-AUC and log-loss differences, PR-AUC W/T/L
        "vs": {
            m: (pr[CF] - pr[m], ll[CF] - ll[m], _wtl(ours - _values(runs, m, split, "pr_auc")))
            for m in RIVALS
        },
        "stack_nan": int(np.isnan(_values(runs, "Stacking", split, "pr_auc")).sum()),
    }


def _cells(row, metric="pr+ll"):
    """'PR-AUC / log-loss' per method, the best PR-AUC and the best log-loss in bold."""
    best_pr = max(row["pr"], key=lambda m: -np.inf if np.isnan(row["pr"][m]) else row["pr"][m])
    best_ll = min(row["ll"], key=lambda m: np.inf if np.isnan(row["ll"][m]) else row["ll"][m])
    out = []
    for m in METHODS:
        if metric == "acc":
            out.append(f"{row['acc'][m]:.3f}")
            continue
        pr, ll = f"{row['pr'][m]:.3f}", f"{row['ll'][m]:.3f}"
        out.append(
            f"{f'**{pr}**' if m == best_pr else pr} / {f'**{ll}**' if m == best_ll else ll}"
        )
    return " | ".join(out)


def summary_table(results, split, keys=("regime", "budget")) -> list[str]:
    head = " | ".join(METHODS)
    names = {"dataset": "data set", "regime": "regime", "budget": "labeled"}
    lines = [
        f"| {' | '.join(names[k] for k in keys)} | {head} | margin PR-AUC (vs) | W/T/L | "
        f"Δlog-loss vs best | "
        + " | ".join(f"{CF} − {m}: PR-AUC (W/T/L), log-loss" for m in RIVALS)
        + " |",
        "|" + "---|" * (len(keys) + len(METHODS) + 3 + len(RIVALS)),
    ]
    groups = _groups(results["runs"], keys)
    for key in sorted(groups, key=_order(results, keys)):
        row = _row(groups[key], split)
        label = " | ".join(
            f"{v:.0%}" if k == "budget" else str(v) for k, v in zip(keys, key, strict=True)
        )
        rivals = " | ".join(
            f"{d_pr:+.3f} ({wtl}), {d_ll:+.3f}" for d_pr, d_ll, wtl in row["vs"].values()
        )
        lines.append(
            f"| {label} | {_cells(row)} | {row['margin']:+.3f} ({row['best']}) | {row['wtl']} | "
            f"{row['ll_margin']:+.3f} | {rivals} |"
        )
    return lines


def accuracy_table(results, split) -> list[str]:
    keys = ("dataset", "regime", "budget")
    lines = [
        f"| data set | regime | labeled | {' | '.join(METHODS)} |",
        "|" + "---|" * (len(METHODS) + 3),
    ]
    groups = _groups(results["runs"], keys)
    for key in sorted(groups, key=_order(results, keys)):
        row = _row(groups[key], split)
        lines.append(f"| {key[0]} | {key[1]} | {key[2]:.0%} | {_cells(row, 'acc')} |")
    return lines


def reading(results, split) -> list[str]:
    """Plain-words counts: where cfensemble wins, ties or loses, and the two CF models."""
    keys = ("dataset", "regime", "budget")
    groups = _groups(results["runs"], keys)
    pr_rows: dict = {"above": [], "tied": [], "below": []}
    ll_rows: dict = {"above": [], "tied": [], "below": []}  # above: a lower log-loss
    for key in sorted(groups, key=_order(results, keys)):
        row = _row(groups[key], split)
        name = f"{key[0]} {key[1]} {key[2]:.0%}"
        d = row["margin"]
        pr_rows["above" if d > TIE else "tied" if d >= -TIE else "below"].append(
            f"{name} ({d:+.3f} vs {row['best']})"
        )
        d = -row["ll_margin"]
        ll_rows["above" if d > TIE else "tied" if d >= -TIE else "below"].append(
            f"{name} ({-d:+.3f})"
        )
    n = len(groups)
    runs = results["runs"]
    stack_nan = sum(np.isnan(r["scores"]["Stacking"][split]["pr_auc"]) for r in runs)

    def listed(rows, what):
        return f" {what}: {'; '.join(rows)}." if rows else ""

    return [
        f"Where {CF} stands, in the {n} rows data set × regime × budget (means over the "
        f"repeats; tie: within ±{TIE}). Macro PR-AUC against the best of the three baselines "
        f"in the row: above in {len(pr_rows['above'])}, tied in {len(pr_rows['tied'])}, below "
        f"in {len(pr_rows['below'])}."
        + listed(pr_rows["above"], "Above")
        + listed(pr_rows["below"], "Below")
        + f" Log-loss against the lowest baseline log-loss: lower in {len(ll_rows['above'])}, "
        f"tied in {len(ll_rows['tied'])}, higher in {len(ll_rows['below'])}."
        + listed(ll_rows["below"], "Higher")
        + f" StackingClassifier fits that failed (NaN, left out of its means): {stack_nan} "
        f"of {len(runs)}.",
        "",
        cf_models(results, split),
    ]


def cf_models(results, split) -> str:
    """cfensemble against cf-ovr on the paired runs, and a verdict."""
    runs = results["runs"]
    cell_keys = ("dataset", "regime")
    cells = sorted(
        _groups(runs, cell_keys).items(), key=lambda i: _order(results, cell_keys)(i[0])
    )

    def diff(g, rival, metric):
        return _values(g, CF, split, metric) - _values(g, rival, split, metric)

    parts = []
    for rival in RIVALS:
        d_pr, d_ll = diff(runs, rival, "pr_auc"), diff(runs, rival, "log_loss")
        by_cell, behind = [], []
        for (dataset, regime), g in cells:
            g_pr, g_ll = diff(g, rival, "pr_auc").mean(), diff(g, rival, "log_loss").mean()
            by_cell.append(f"{dataset} {regime} {g_pr:+.3f} / {g_ll:+.3f}")
            if g_pr < -TIE or g_ll > TIE:
                behind.append(f"{dataset} {regime}")
        parts.append(
            f"{CF} − {rival}: PR-AUC {d_pr.mean():+.4f} (W/T/L {_wtl(d_pr)}), log-loss "
            f"{d_ll.mean():+.4f} (W/T/L {_wtl(-d_ll)}); by data set and regime (PR-AUC / "
            f"log-loss): {'; '.join(by_cell)}; {CF} behind {rival} (PR-AUC lower or log-loss "
            f"higher by more than {TIE}) in: {', '.join(behind) or 'none'}."
        )

    models = (CF, *RIVALS)

    def ranked(metric, lower_is_better):
        mean = {m: float(np.mean(_values(runs, m, split, metric))) for m in models}
        sign = 1 if lower_is_better else -1
        order = sorted(models, key=lambda m: sign * mean[m])
        leaders = [m for m in order if abs(mean[m] - mean[order[0]]) <= TIE]
        values = ", ".join(f"{m} {mean[m]:.4f}" for m in order)
        if len(leaders) == len(models):
            return f"they do not differ beyond ±{TIE} (means {values})"
        if len(leaders) > 1:
            return f"{' and '.join(leaders)} are tied ahead (means {values})"
        return f"{leaders[0]} is the most accurate (means {values})"

    return (
        f"The two CF models — {CF} (the default: per-class factorizations + one softmax "
        f"aggregator) and {OVR} (K binary models, one-vs-rest) — on all {len(runs)} paired "
        f"runs (W/T/L: {CF}'s wins/ties/losses, a tie within ±{TIE}; a log-loss win is a "
        f"log-loss lower by more than {TIE}). "
        + " ".join(parts)
        + f" Verdict on these data: by log-loss, {ranked('log_loss', True)}; by PR-AUC, "
        f"{ranked('pr_auc', False)}."
    )


def fit_notes(results) -> str:
    notes = []
    for name in (CF, OVR):
        fits = [r["cf_fit"][name] for r in results["runs"]]
        counts: dict = {}
        for info in fits:
            for w in info["warnings"]:
                counts[w] = counts.get(w, 0) + 1
        warned = ", ".join(f"{w} in {c}" for w, c in sorted(counts.items())) or "none"
        seconds = np.array([info["seconds"] for info in fits])
        notes.append(
            f"{name}: {len(fits)} fits, median {np.median(seconds):.2f} s, max "
            f"{seconds.max():.1f} s, warnings: {warned}"
        )
    return "; ".join(notes) + "."


def render(results: dict, full: bool) -> str:
    meta = results["meta"]
    sets = ", ".join(
        f"{k} ({v['n']} rows, {v['classes']} classes"
        + (f" of {'/'.join(map(str, v['class_counts']))} rows" if k == "digits_imbalanced" else "")
        + f", {v['held_out']} held out)"
        for k, v in results["datasets"].items()
    )
    legend = "; ".join(f"{k}: {v}" for k, v in BASELINES.items())
    folds = sorted({r["stacking"]["folds"] for r in results["runs"]})
    knn = sorted({r["stacking"]["knn_k"] for r in results["runs"]})
    out = [
        f"Data sets: {sets}"
        + (
            "; digits_imbalanced = digits 0–4 subsampled (seed 0) to class shares of about "
            "50/25/12/8/5 %"
            if "digits_imbalanced" in results["datasets"]
            else ""
        )
        + f". {meta['repeats']} repeat(s) (seeds 0–"
        f"{meta['repeats'] - 1}); {N_CLASSIFIERS} base classifiers "
        f"({', '.join(base_classifiers(0))}); "
        f"regimes {', '.join(meta['regimes'])} (mcar: {MISSING_RATE:.0%} of the (row, classifier) "
        f"predictions missing); labeled {', '.join(f'{b:.0%}' for b in meta['budgets'])} of the "
        f"pool (stratified, at least 2 per class).",
        "",
        f"Scores of the **held-out rows** (25 % of each data set; {CF} by fold-in), means over "
        f"data sets × repeats, each cell **macro PR-AUC / log-loss** (best in bold). "
        f"`{CF}` = `CFEnsembleClassifier(random_state=seed)`, default parameters (for K ≥ 3 "
        f"with ALS and rho = 1: each class's (n, m) slice factorized on its own), then one "
        f"softmax aggregator on the filled-in input; `{OVR}` = K binary "
        f"`CFEnsembleClassifier(random_state=seed)` one-vs-rest, normalised. Baselines — "
        f"{legend} (cv = min(5, smallest labeled class count): {'/'.join(map(str, folds))} folds "
        f"occurred; kNN's k lowered to the smallest training fold: k in "
        f"{{{', '.join(map(str, knn))}}}; it does not use the unlabeled rows nor the missing "
        f"predictions, so its complete and mcar rows are the same fits). margin: {CF} − the best "
        f"baseline by PR-AUC (named); W/T/L: paired wins/ties/losses of {CF}'s PR-AUC against "
        f"it (tie: |difference| ≤ {TIE}); Δlog-loss vs best: {CF}'s − the lowest baseline "
        f"log-loss; the last column: {CF} − {OVR}, the mean PR-AUC "
        f"difference (W/T/L) and the mean log-loss difference. Caveat: the base models were "
        f"trained with all the pool's labels, only the combiners see the budget.",
        "",
        f"Machine: {meta['machine']}; cfensemble {meta['cfensemble']} ({meta['commit']}); "
        f"{meta['seconds'] / 60:.1f} min. {fit_notes(results)}",
        "",
        *summary_table(results, "held-out"),
        "",
        *reading(results, "held-out"),
        "",
    ]
    if full:
        out += [
            "**Per data set (held-out)**: macro PR-AUC / log-loss.",
            "",
            *summary_table(results, "held-out", ("dataset", "regime", "budget")),
            "",
            "**Accuracy (held-out)**",
            "",
            *accuracy_table(results, "held-out"),
            "",
            "**Transductive (unlabeled pool rows)**: macro PR-AUC / log-loss.",
            "",
            *summary_table(results, "transductive"),
            "",
            *reading(results, "transductive"),
            "",
        ]
    return "\n".join(out)


# ------------------------------------------------------------------ command line


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="accuracy.py --multiclass", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="the CI run (< 60 s)")
    parser.add_argument("--repeats", type=int, default=None, help=f"default {REPEATS}")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=None)
    parser.add_argument("--budgets", type=float, nargs="+", default=None)
    parser.add_argument("--regimes", nargs="+", choices=REGIMES, default=None)
    parser.add_argument(
        "--output", default=None, help="results file stem (default accuracy_multiclass)"
    )
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/<output>.json again (.md, and the docs with "
        "--update-readme), e.g. after a change to the tables",
    )
    args = parser.parse_args(argv)

    quick = args.quick
    repeats = args.repeats or (1 if quick else REPEATS)
    budgets = sorted(args.budgets or (QUICK_BUDGETS if quick else BUDGETS))
    if not all(0 < b < 1 for b in budgets):
        parser.error("--budgets must be shares of the pool in (0, 1)")
    regimes = [r for r in REGIMES if r in (args.regimes or REGIMES)]
    chosen = args.datasets or (QUICK_DATASETS if quick else DATASETS)
    names = [n for n in DATASETS if n in chosen]
    output = args.output or ("accuracy_multiclass_quick" if quick else "accuracy_multiclass")

    if args.render:
        results = load_results(parser, output)
        quick_run = results["meta"]["quick"]
        section = "accuracy_multiclass" if args.update_readme and not quick_run else None
        write_rendered(results, output, render, section)
        return
    datasets = load_datasets(names)
    print(
        f"{len(datasets)} data sets × {repeats} repeats × {len(regimes)} regimes × budgets "
        f"{budgets}",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    results = run(datasets, repeats, regimes, budgets)
    meta = {
        "repeats": repeats,
        "quick": quick,
        "regimes": regimes,
        "budgets": budgets,
        "base_classifiers": list(base_classifiers(0)),
    }
    section = "accuracy_multiclass" if args.update_readme and not quick else None
    save_results(results, meta, start, output, render, section)


if __name__ == "__main__":
    main()
