"""The default fit and ``predict_proba`` of this checkout against another one, alternating.

    git worktree add /tmp/old 0731dcd
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/versus.py --other /tmp/old/src

n = 100,000 rows, m = 10, 20 % labeled, complete and 30 % missing at random; in each fresh
process a warm-up fit (numba compiles there) and then the median of 3 timed fits and
predictions; the two checkouts run in turn, ``--rounds`` times each, and the medians over
rounds are printed with their ratio (this checkout / the other). Nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, statistics, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from cfensemble import CFEnsembleClassifier, make_ensemble_problem
out = {}
for miss in (0.0, 0.3):
    P, y = make_ensemble_problem(
        n_samples=100_000, n_classifiers=10, missing_rate=miss, random_state=0
    )
    y = y.astype(float)
    y[np.random.default_rng(0).random(y.size) > 0.2] = np.nan
    CFEnsembleClassifier(random_state=0).fit(P[:5000], y[:5000]).predict_proba(P[:60000])
    fits, preds = [], []
    for _ in range(3):
        t = time.perf_counter(); clf = CFEnsembleClassifier(random_state=0).fit(P, y)
        fits.append(time.perf_counter() - t)
        t = time.perf_counter(); clf.predict_proba(P); preds.append(time.perf_counter() - t)
    out[f"{miss:.0%} missing"] = {
        "fit": statistics.median(fits), "predict_proba": statistics.median(preds)
    }
print(json.dumps(out))
"""


def run(src: str | None) -> dict:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", required=True, help="the other checkout's src directory")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    here = str(Path(__file__).resolve().parent.parent / "src")
    runs: dict[str, list[dict]] = {"this": [], "other": []}
    for _ in range(args.rounds):
        runs["other"].append(run(args.other))
        runs["this"].append(run(here))
    print("| P | step | other, s | this, s | this / other |\n|---|---|---|---|---|")
    for regime in runs["this"][0]:
        for step in ("fit", "predict_proba"):
            mine = statistics.median(r[regime][step] for r in runs["this"])
            theirs = statistics.median(r[regime][step] for r in runs["other"])
            print(f"| {regime} | {step} | {theirs:.3f} | {mine:.3f} | {mine / theirs:.2f} |")


if __name__ == "__main__":
    main()
