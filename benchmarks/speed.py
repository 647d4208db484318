"""Seconds per ALS iteration / autograd epoch, and peak memory, at n = 5e4 and 1e6.

Each (solver, n, m, d) runs in a fresh subprocess. Time per iteration (ALS) or epoch
(``solver="torch"``, full batch, Adam, float64) is the median over ``--repeats`` of
``(t(fit with 1 + k iterations) - t(fit with 1 iteration)) / k``, so set-up (checks,
confidence, initial SVD, torch import) is excluded. Default estimator otherwise (rho=0.5,
coupled steps, exact aggregator), 30 % of the rows labeled. Peak memory (ALS only) is
tracemalloc's peak during fit (numpy reports its buffers to tracemalloc), next to the size
of P itself. ``--device cuda`` times the autograd trainer on the GPU.

Baseline, same run: one instance step done the way the reference implementation does it,
a Python loop over instances with one ``np.linalg.solve`` each, timed at n = 5e4 and
compared with our batched instance step on the same data.

Usage (unset the OpenBLAS overrides for timing runs only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/speed.py
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


def _data(n, m=10, seed=0, missing_rate=0.0):
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(
        n, m, 0.05, np.linspace(0.4, 0.8, m), 0.5, missing_rate=missing_rate, random_state=seed
    )
    labeled = np.random.default_rng(seed).random(n) < 0.3
    return P, np.where(labeled, y, -1)


def _fit_seconds(P, y, iterations, solver="als", d=8, device="cpu"):
    from cfensemble import CFEnsembleClassifier

    clf = CFEnsembleClassifier(
        solver=solver,
        latent_dim=d,
        max_iter=iterations,
        max_epochs=iterations,
        patience=10**9,
        tol=0.0,
        device=device,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(P, y)
    return time.perf_counter() - start


def measure(solver: str, n: int, m: int, d: int, k: int, repeats: int, device: str) -> dict:
    P, y = _data(n, m)
    per_iter = []
    _fit_seconds(P[:1000], y[:1000], 1, solver, d, device)  # imports, CUDA context
    for _ in range(repeats):
        t1 = _fit_seconds(P, y, 1, solver, d, device)
        tk = _fit_seconds(P, y, 1 + k, solver, d, device)
        per_iter.append((tk - t1) / k)
    peak = float("nan")
    if solver == "als":
        tracemalloc.start()
        _fit_seconds(P, y, 2, solver, d)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {
        "solver": solver,
        "device": device if solver == "torch" else "cpu",
        "n": n,
        "m": m,
        "d": d,
        "seconds_per_iteration_median": statistics.median(per_iter),
        "seconds_per_iteration_all": per_iter,
        "peak_fit_mib": peak / 2**20,
        "P_mib": P.nbytes / 2**20,
    }


def loop_baseline(n: int, repeats: int) -> dict:
    from cfensemble._als import gram_rhs, solve_spd

    P, _ = _data(n)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(P.shape[1], 8))
    C = np.ones_like(P)
    lam = 0.01
    ridge = lam * C.sum(axis=1)

    def loop():
        out = np.empty((n, 8))
        for i in range(n):
            A = (X.T * C[i]) @ X + ridge[i] * np.eye(8)
            out[i] = np.linalg.solve(A, X.T @ (C[i] * P[i]))
        return out

    loop_t, ours_t = [], []
    for _ in range(repeats):
        s = time.perf_counter()
        ref = loop()
        loop_t.append(time.perf_counter() - s)
        s = time.perf_counter()
        got = solve_spd(*gram_rhs(C, P, X), ridge)
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
    parser.add_argument("--solvers", nargs="+", default=["als", "torch"])
    parser.add_argument("--shapes", nargs="+", default=["10x8", "32x16"], help="m x d")
    parser.add_argument("--device", default="cpu", help="device of the autograd trainer")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n = 5e4 only, 1 repeat")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [50_000], 1
    if args.child:
        solver, n, m, d = args.child[0], *map(int, args.child[1:])
        out = measure(solver, n, m, d, args.iterations, args.repeats, args.device)
        print(json.dumps(out))
        return
    from threadpoolctl import threadpool_info

    results: dict = {"blas": threadpool_info(), "sizes": []}
    for solver in args.solvers:
        for shape in args.shapes:
            m, d = map(int, shape.split("x"))
            for n in args.sizes:
                command = [sys.executable, __file__, "--child", solver, str(n), str(m), str(d)]
                command += ["--iterations", str(args.iterations)]
                command += ["--repeats", str(args.repeats), "--device", args.device]
                out = subprocess.run(command, capture_output=True, text=True, check=True)
                results["sizes"].append(json.loads(out.stdout))
    results["loop_baseline"] = loop_baseline(50_000, args.repeats)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "speed.json").write_text(json.dumps(results, indent=1))
    lines = [
        "| solver | device | n | m | d | s / iteration or epoch (median) | peak memory | P "
        "| peak / P |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["sizes"]:
        peak = "n/a" if r["peak_fit_mib"] != r["peak_fit_mib"] else f"{r['peak_fit_mib']:.0f} MiB"
        lines.append(
            f"| {r['solver']} | {r['device']} | {r['n']:,} | {r['m']} | {r['d']} | "
            f"{r['seconds_per_iteration_median']:.3f} | {peak} | {r['P_mib']:.0f} MiB | "
            f"{r['peak_fit_mib'] / r['P_mib']:.1f} |"
        )
    b = results["loop_baseline"]
    lines.append(
        f"\nInstance step at n = {b['n']:,}: a Python loop over instances with one "
        f"`np.linalg.solve` each {b['loop_seconds_median']:.3f} s, the batched kernel "
        f"{b['batched_seconds_median']:.4f} s ({b['speedup']:.0f}x), same run."
    )
    text = "\n".join(lines)
    print(text)
    if args.update_readme:
        from _readme import replace_section

        replace_section("speed", text)


if __name__ == "__main__":
    main()
