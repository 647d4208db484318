"""The seed's experiment: 500 instances, 10 classifiers, 10 % positives, base PR-AUC ~ 0.70.

Three settings:
- ``seed``: independent errors (error_correlation=0), all base classifiers at PR-AUC 0.70,
  and probabilities on the seed's scale: squashed toward 0.5 by
  ``p -> sigmoid(logit(p) / 3 + 0.8)`` (negatives average ~0.36, positives ~0.64), which
  is what the seed's reported prediction ranges imply. Ranking is unchanged.
- ``easy``: the same, with the generator's own calibration (negatives average ~0.05).
- ``hard``: shared instance difficulty (error_correlation=0.5) and base classifiers of
  different quality (PR-AUC 0.45 ... 0.85, mean 0.65): the average is not perfect.

Protocol per repeat (seed r): one generated problem of 1,000 rows; rows 0-499 are the
training matrix, of which a random half is labeled; metrics on its 250 unlabeled rows are
*transductive*; rows 500-999 are never seen in fit and are scored by fold-in (*held-out*).
Reported: mean ± std over the repeats; weight std / min / max / sum are means over repeats.
The autograd rows (``CFEnsemblePyTorchTrainer``, needs the ``[torch]`` extra) hold out 20 %
of the labeled rows for early stopping, as that trainer does by default.

Usage::

    python benchmarks/seed_table.py [--repeats 5] [--quick] [--update-readme] [--render]

Writes benchmarks/results/seed_table.json and seed_table.md; ``--update-readme`` also the
tables of the docs (docs/user_guide/seed_table.inc, and the README's ``seed_table`` section
where it has one); ``--render`` rewrites them from the saved .json without a run.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from _common import RESULTS, load_results, replace_section
from scipy.special import expit, logit
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from cfensemble import (
    CFEnsembleClassifier,
    CFEnsemblePyTorchTrainer,
    CFEnsembleTrainer,
    make_ensemble_problem,
)

SETTINGS = {
    "seed": dict(base_quality=0.70, error_correlation=0.0),
    "easy": dict(base_quality=0.70, error_correlation=0.0),
    "hard": dict(base_quality=np.linspace(0.45, 0.85, 10), error_correlation=0.5),
}
# The seed's ALS ignores rho in the factor steps (rho=1 here) and its reported weight
# trajectory runs 100 iterations of the single gradient step (lr=0.01).
SEED_ALS = dict(rho=1.0, max_iter=100, tol=0.0)
METHODS = {
    "seed ALS (rho=1), seed step, no class weights": lambda s: CFEnsembleTrainer(
        use_class_weights=False, random_state=s, **SEED_ALS
    ),
    "seed ALS (rho=1), seed step, class weights": lambda s: CFEnsembleTrainer(
        random_state=s, **SEED_ALS
    ),
    # the write-up's "adaptive weighting": class weights from mild to full over 10 steps
    "seed ALS (rho=1), seed step, class weights, warm-up 10": lambda s: CFEnsembleTrainer(
        class_weight_warmup=10, random_state=s, **SEED_ALS
    ),
    "ALS, exact aggregator, no class weights": lambda s: CFEnsembleClassifier(
        class_weight=None, random_state=s
    ),
    "ALS, exact aggregator, class weights (default)": lambda s: CFEnsembleClassifier(
        random_state=s
    ),
    # The autograd trainer holds out 20 % of the labeled rows for early stopping.
    "autograd, no class weights": lambda s: CFEnsemblePyTorchTrainer(
        use_class_weights=False, random_state=s
    ),
    "autograd, class weights": lambda s: CFEnsemblePyTorchTrainer(random_state=s),
    "autograd, class weights, warm-up 10": lambda s: CFEnsemblePyTorchTrainer(
        class_weight_warmup=10, random_state=s
    ),
    "autograd, class weights + focal (gamma=2)": lambda s: CFEnsemblePyTorchTrainer(
        focal_gamma=2.0, random_state=s
    ),
}


def metrics(y, p):
    return {
        "pr_auc": average_precision_score(y, p),
        "roc_auc": roc_auc_score(y, p),
        "brier": brier_score_loss(y, np.clip(p, 0, 1)),
    }


def run(repeats: int) -> dict:
    out = {}
    for setting, kw in SETTINGS.items():
        rows: dict[str, dict[str, list]] = {}
        for r in range(repeats):
            P_all, y_all = make_ensemble_problem(1000, 10, positive_rate=0.1, random_state=r, **kw)
            if setting == "seed":
                P_all = expit(logit(P_all) / 3 + 0.8)
            P, y, P_new, y_new = P_all[:500], y_all[:500], P_all[500:], y_all[500:]
            labeled = np.random.default_rng(1000 + r).random(500) < 0.5
            y_train = np.where(labeled, y, -1)
            test = ~labeled
            base = [average_precision_score(y, P[:, u]) for u in range(10)]
            entry = rows.setdefault("simple average", {})
            for split, (yy, p) in {
                "transductive": (y[test], P[test].mean(axis=1)),
                "held-out": (y_new, P_new.mean(axis=1)),
            }.items():
                entry.setdefault(split, []).append(metrics(yy, p))
            rows.setdefault("(mean base PR-AUC)", {}).setdefault("all", []).append(
                float(np.mean(base))
            )
            for name, make in METHODS.items():
                clf = make(r)
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clf.fit(P, y_train)
                seconds = time.perf_counter() - start
                entry = rows.setdefault(name, {})
                entry.setdefault("transductive", []).append(
                    metrics(y[test], clf.label_distributions_[test, 1])
                )
                entry.setdefault("held-out", []).append(
                    metrics(y_new, clf.predict_proba(P_new)[:, 1])
                )
                d = clf.diagnostics_
                entry.setdefault("weights", []).append(
                    {k: d[k] for k in ("weight_std", "weight_min", "weight_max", "weight_sum")}
                    | {"n_iter": clf.n_iter_, "seconds": seconds}
                )
        out[setting] = rows
    return out


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def render(results: dict, repeats: int) -> str:
    lines = []
    for setting, rows in results.items():
        base = np.mean(rows["(mean base PR-AUC)"]["all"])
        lines.append(
            f"**{setting}** ({SETTINGS[setting]['error_correlation']:.1f} error correlation, "
            f"mean base-classifier PR-AUC {base:.2f}; {repeats} repeats, mean ± std)\n"
        )
        lines.append(
            "| method | eval | PR-AUC | ROC-AUC | Brier | weight std | weight range "
            "(min – max) | weight sum |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for name, entry in rows.items():
            if name.startswith("("):
                continue
            w = entry.get("weights")
            for split in ("transductive", "held-out"):
                ms = entry[split]
                cells = [_mean_std([m[k] for m in ms]) for k in ("pr_auc", "roc_auc", "brier")]
                if w:
                    wcells = [
                        f"{np.mean([x['weight_std'] for x in w]):.3f}",
                        f"{np.mean([x['weight_min'] for x in w]):+.3f} – "
                        f"{np.mean([x['weight_max'] for x in w]):+.3f}",
                        f"{np.mean([x['weight_sum'] for x in w]):+.3f}",
                    ]
                else:
                    wcells = ["n/a"] * 3
                lines.append(f"| {name} | {split} | " + " | ".join(cells + wcells) + " |")
        lines.append("")
    return "\n".join(lines)


def _repeats(results: dict) -> int:
    """The repeats of a stored run (one mean base PR-AUC per repeat)."""
    return len(next(iter(results.values()))["(mean base PR-AUC)"]["all"])


def write(results: dict, update_readme: bool) -> None:
    """Write results/seed_table.json and .md, print the tables and, with ``update_readme``,
    put them in the docs (and the README's ``seed_table`` section, where it has one)."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "seed_table.json").write_text(json.dumps(results, indent=1))
    markdown = render(results, _repeats(results))
    (RESULTS / "seed_table.md").write_text(markdown)
    print(markdown)
    if update_readme:
        replace_section("seed_table", markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/seed_table.json again (.md, and the docs with "
        "--update-readme)",
    )
    args = parser.parse_args()
    if args.render:
        write(load_results(parser, "seed_table"), args.update_readme)
        return
    repeats = 2 if args.quick else args.repeats
    warnings.simplefilter("ignore", ConvergenceWarning)
    write(run(repeats), args.update_readme)


if __name__ == "__main__":
    main()
