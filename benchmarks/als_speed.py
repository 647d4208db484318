"""Seconds per ALS iteration and peak memory at n = 5e4 and 1e6 (m = 10, d = 8).

Each size runs in a fresh subprocess. Per-iteration time is the median over ``--repeats``
of ``(t(fit with 1 + k iterations) - t(fit with 1 iteration)) / k``, so set-up (checks,
confidence, initial SVD) is excluded. The default estimator is used (rho=0.5, coupled
steps, exact aggregator), with 30 % of the rows labeled. Peak memory is tracemalloc's peak
during fit (numpy reports its buffers to tracemalloc), next to the size of P itself.

Baseline, same run: one instance step done the way the reference implementation does it,
a Python loop over instances with one ``np.linalg.solve`` each, timed at n = 5e4 and
compared with our batched instance step on the same data.

Usage (unset the OpenBLAS overrides for timing runs only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/als_speed.py
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

HERE = pathlib.Path(__file__).parent


def _data(n, m=10, seed=0):
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(n, m, 0.05, np.linspace(0.4, 0.8, m), 0.5, random_state=seed)
    labeled = np.random.default_rng(seed).random(n) < 0.3
    return P, np.where(labeled, y, -1)


def _fit_seconds(P, y, max_iter):
    from cfensemble import CFEnsembleClassifier

    clf = CFEnsembleClassifier(latent_dim=8, max_iter=max_iter, tol=0.0, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(P, y)
    return time.perf_counter() - start


def measure(n: int, k: int, repeats: int) -> dict:
    P, y = _data(n)
    per_iter = []
    for _ in range(repeats):
        t1 = _fit_seconds(P, y, 1)
        tk = _fit_seconds(P, y, 1 + k)
        per_iter.append((tk - t1) / k)
    tracemalloc.start()
    _fit_seconds(P, y, 2)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n": n,
        "seconds_per_iteration_median": statistics.median(per_iter),
        "seconds_per_iteration_all": per_iter,
        "peak_fit_mib": peak / 2**20,
        "P_mib": P.nbytes / 2**20,
    }


def loop_baseline(n: int, repeats: int) -> dict:
    from cfensemble._als import weighted_least_squares

    P, _ = _data(n)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(P.shape[1], 8))
    C = np.ones_like(P)
    CP = C * P
    lam = 0.01

    def loop():
        out = np.empty((n, 8))
        for i in range(n):
            A = (X.T * C[i]) @ X + lam * np.eye(8)
            out[i] = np.linalg.solve(A, X.T @ CP[i])
        return out

    loop_t, ours_t = [], []
    for _ in range(repeats):
        s = time.perf_counter()
        ref = loop()
        loop_t.append(time.perf_counter() - s)
        s = time.perf_counter()
        got = weighted_least_squares(C, CP, X, lam)
        ours_t.append(time.perf_counter() - s)
    assert np.allclose(ref, got)
    return {
        "n": n,
        "loop_seconds_median": statistics.median(loop_t),
        "batched_seconds_median": statistics.median(ours_t),
        "speedup": statistics.median(loop_t) / statistics.median(ours_t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n = 5e4 only, 1 repeat")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [50_000], 1
    if args.child:
        print(json.dumps(measure(args.child, args.iterations, args.repeats)))
        return
    from threadpoolctl import threadpool_info

    results = {"blas": threadpool_info(), "sizes": []}
    for n in args.sizes:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--iterations",
                str(args.iterations),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results["sizes"].append(json.loads(out.stdout))
    results["loop_baseline"] = loop_baseline(50_000, args.repeats)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "als_speed.json").write_text(json.dumps(results, indent=1))
    print("| n | s / ALS iteration (median) | peak memory in fit | size of P |")
    print("|---|---|---|---|")
    for r in results["sizes"]:
        print(
            f"| {r['n']:,} | {r['seconds_per_iteration_median']:.3f} | "
            f"{r['peak_fit_mib']:.0f} MiB | {r['P_mib']:.0f} MiB |"
        )
    b = results["loop_baseline"]
    print(
        f"\nInstance step at n = {b['n']:,}: Python loop over instances "
        f"{b['loop_seconds_median']:.3f} s, batched {b['batched_seconds_median']:.4f} s "
        f"({b['speedup']:.0f}x)."
    )


if __name__ == "__main__":
    main()
