"""Time to solution, seconds per ALS iteration, and peak memory, against baselines in the same run.

Three measurements, each configuration in a fresh subprocess:

1. **Time to solution** (default estimator, ``make_ensemble_problem(n, 10, 0.05,
   error_correlation=0.5)``, 20 % of rows labeled, complete and 30 % missing): a reference
   ALS run of ``--reference-iterations`` iterations (``ALS(tol=0)``) gives the best objective
   value; we report the iterations and seconds ALS needs to come within a relative gap of
   1e-6 of it (with ``abstention=0, calibrate_fill=False``: the solver alone), the default
   fit (``ALS(tol=1e-4)``: its iterations, seconds and gap; with missing predictions the seconds
   include the leave-one-out fold-ins of ``abstention="auto"``'s test and
   ``calibrate_fill``, also shown apart as the default fit with ``abstention=0,
   calibrate_fill=False``), the autograd trainer's default fit (``solver="torch"``, early
   stopping on 20 % of the labeled rows; one run), and logistic-regression stacking on the
   labeled rows (column-mean imputation included) — all in the same process.
2. **Seconds per ALS iteration** at n in ``--sizes`` and (m, d) in ``--shapes``: the median
   over ``--repeats`` of ``(t(fit, 1 + k iterations) - t(fit, 1 iteration)) / k`` (set-up
   excluded), 30 % of rows labeled, next to a *plain batched-numpy sweep* on the same data
   in the same process: one instance step and one classifier step written the obvious way
   (Gram matrices by a GEMM of the confidences with the flattened outer products, then
   ``np.linalg.solve`` on the batch), over the same row blocks. ``kernel`` says which
   instance kernel ran (numba from 50,000 rows when installed, else numpy; with
   ``--device cuda`` or ``--dtype float32``, i.e. ``ALS(device=..., dtype=...)``, the PyTorch
   kernels: ``cuda float32``).
3. **Peak memory** of an ALS fit (tracemalloc; numpy reports its buffers to it, the numba
   kernel's scratch is a few KiB per thread) next to the size of P.

The solver's own figures (iterations to the gap, seconds per iteration, peak memory) time
the factorization also where the fit leaves it for later (complete P, whose factors are
computed when first read: ``timed_fit(..., factorize=True)``); the default fits are timed
as a user calls them.

Usage (unset the OpenBLAS overrides for timing runs only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/speed.py --update-readme

Writes benchmarks/results/<output>.json and .md (output: ``speed``); ``--update-readme``
also the README's ``speed`` section and docs/user_guide/speed.inc; ``--render`` rewrites
them from the saved .json without a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from _common import GAP, RESULTS, load_results, publish, speed_problem, timed_fit

from cfensemble import ALS, Autograd, CFEnsembleClassifier

# the default fit without its steps after the factorization (the fill-in test, calibration)
SOLVER_ALONE = {"abstention": 0.0, "calibrate_fill": False}


def _kernel_name(n: int, latent_dim: int, solver: ALS) -> str:
    """The instance kernel a fit of n rows runs (a label for the table; private API)."""
    try:
        from cfensemble._kernels import choose_kernel
        from cfensemble._solvers import als_kernel

        kernel = choose_kernel(n, als_kernel(CFEnsembleClassifier(latent_dim, solver=solver)))
    except (ImportError, AttributeError):  # the private API moved: no label
        return "unknown"
    return str(getattr(kernel, "device", kernel)) + (
        f" {kernel.dtype}" if hasattr(kernel, "dtype") else ""
    )


# ---------------------------------------------------------------- 1. time to solution


def time_to_solution(n: int, missing_rate: float, reference_iterations: int, repeats: int):
    from sklearn.linear_model import LogisticRegression

    P, y_true, labeled = speed_problem(n, missing_rate=missing_rate, labeled_fraction=0.2)
    y = np.where(labeled, y_true, -1)
    timed_fit(P[:500], y[:500], ALS(max_iter=2))  # imports, numba cache
    _, ref = timed_fit(P, y, ALS(max_iter=reference_iterations, tol=0.0))
    curve = np.asarray(ref.loss_curve_["total"])
    best = float(curve.min())
    gaps = (curve - best) / abs(best)
    reached = np.flatnonzero(gaps <= GAP)
    k = int(reached[0]) + 1 if reached.size else None
    to_gap = (
        statistics.median(
            timed_fit(P, y, ALS(max_iter=k, tol=0.0), factorize=True, **SOLVER_ALONE)[0]
            for _ in range(repeats)
        )
        if k
        else float("nan")
    )
    default_times, fixed_times, default = [], [], None
    for _ in range(repeats):
        seconds, default = timed_fit(P, y)
        default_times.append(seconds)
        fixed_times.append(timed_fit(P, y, **SOLVER_ALONE)[0])
    default_gap = (default.loss_curve_["total"][-1] - best) / abs(best)
    torch_seconds = float("nan")
    try:
        import torch  # noqa: F401

        timed_fit(P[:500], y[:500], Autograd(max_epochs=2))
        torch_seconds = timed_fit(P, y, "torch")[0]  # one run: it is the slow one
    except ImportError:
        pass

    def lr_stacking():
        start = time.perf_counter()
        filled = np.where(np.isnan(P), np.nanmean(P[labeled], axis=0), P)
        LogisticRegression(max_iter=1000).fit(filled[labeled], y_true[labeled])
        return time.perf_counter() - start

    lr = statistics.median(lr_stacking() for _ in range(repeats))
    return {
        "n": n,
        "m": 10,
        "missing_rate": missing_rate,
        "reference_iterations": reference_iterations,
        "iterations_to_gap": k,
        "seconds_to_gap": to_gap,
        "default_iterations": int(default.n_iter_),
        "default_seconds": statistics.median(default_times),
        "default_abstention0_seconds": statistics.median(fixed_times),
        "default_gap": float(default_gap),
        "torch_default_seconds": torch_seconds,
        "lr_stacking_seconds": lr,
    }


# ---------------------------------------------------------------- 2-3. per iteration, memory


def plain_sweep(P, X, a, lam, block=16384):
    """One instance step and one classifier step, the obvious batched-numpy way."""
    n, m = P.shape
    e = X.shape[1] + 1
    C = ~np.isnan(P)
    Xa = np.hstack([X, np.ones((m, 1))])
    outer_x = (Xa[:, :, None] * Xa[:, None, :]).reshape(m, e * e)
    theta = np.empty((n, e))
    for s in range(0, n, block):
        Cb = C[s : s + block].astype(float)
        Pb = np.where(Cb > 0, P[s : s + block], 0.0)
        gram = (Cb @ outer_x).reshape(-1, e, e)
        gram += lam * Cb.sum(axis=1)[:, None, None] * np.eye(e)
        rhs = (Cb * (Pb - a)) @ Xa
        theta[s : s + block] = np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
    gram = np.zeros((m, e * e))
    rhs = np.zeros((m, e))
    for s in range(0, n, block):
        Cb = C[s : s + block].astype(float)
        Pb = np.where(Cb > 0, P[s : s + block], 0.0)
        Ya = np.hstack([theta[s : s + block, :-1], np.ones((Cb.shape[0], 1))])
        gram += Cb.T @ (Ya[:, :, None] * Ya[:, None, :]).reshape(-1, e * e)
        rhs += (Cb * (Pb - theta[s : s + block, -1:])).T @ Ya
    gram = gram.reshape(m, e, e) + lam * np.eye(e)
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]


def per_iteration(n: int, m: int, d: int, k: int, repeats: int, device: str, dtype) -> dict:
    P, y_true, labeled = speed_problem(n, m)
    y = np.where(labeled, y_true, -1)
    trainer = dict(tol=0.0, device=device, dtype=dtype)
    if device != "cpu":  # a GPU wants big batches: blocks of up to a million rows
        trainer["chunk_size"] = 1_000_000
    kernel = _kernel_name(n, d, ALS(**trainer))
    solver_only = dict(latent_dim=d, factorize=True)  # complete P: time the factorization
    timed_fit(P[:60_000], y[:60_000], ALS(max_iter=1, **trainer), **solver_only)  # imports
    per_iter = []
    for _ in range(repeats):
        t1 = timed_fit(P, y, ALS(max_iter=1, **trainer), **solver_only)[0]
        tk = timed_fit(P, y, ALS(max_iter=1 + k, **trainer), **solver_only)[0]
        per_iter.append((tk - t1) / k)
    rng = np.random.default_rng(0)
    X, a = rng.normal(size=(m, d)), np.nanmean(P, axis=0)
    plain = []
    for _ in range(repeats):
        start = time.perf_counter()
        plain_sweep(P, X, a, 0.1)
        plain.append(time.perf_counter() - start)
    tracemalloc.start()
    used = timed_fit(P, y, ALS(max_iter=2, **trainer), **solver_only)[1].latent_dim_
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ours, baseline = statistics.median(per_iter), statistics.median(plain)
    return {
        "n": n,
        "m": m,
        "d": d,
        "d_used": int(used),
        "kernel": kernel,
        "seconds_per_iteration_median": ours,
        "seconds_per_iteration_all": per_iter,
        "plain_sweep_seconds_median": baseline,
        "ratio_to_plain": ours / baseline,
        "peak_fit_mib": peak / 2**20,
        "P_mib": P.nbytes / 2**20,
    }


def _child(args) -> dict:
    kind, *rest = args.child
    if kind == "solution":
        n, missing = int(rest[0]), float(rest[1])
        return time_to_solution(n, missing, args.reference_iterations, args.repeats)
    n, m, d = map(int, rest)
    return per_iteration(n, m, d, args.iterations, args.repeats, args.device, args.dtype)


def _run_child(args, *child) -> dict:
    command = [sys.executable, __file__, "--child", *map(str, child)]
    command += ["--iterations", str(args.iterations), "--repeats", str(args.repeats)]
    command += ["--reference-iterations", str(args.reference_iterations)]
    command += ["--device", args.device] + (["--dtype", args.dtype] if args.dtype else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def _dim(r: dict) -> str:
    """d, and the latent dimension used where the estimator capped it (at m)."""
    used = r.get("d_used", r["d"])
    return str(r["d"]) if used == r["d"] else f"{r['d']} (used: {used})"


def _markdown(results: dict) -> str:
    lines = (
        []
        if not results["solution"]
        else [
            f"Time to solution (m = 10, 20 % labeled; gap = relative distance of the objective to "
            f"the best of {results['reference_iterations']} ALS iterations; the iterations to "
            "the gap with abstention=0 and calibrate_fill=False, the solver alone)"
            + (
                " — from an earlier run of this script (`--parts iterations`):"
                if "solution" in results.get("kept", [])
                else ":"
            ),
            "",
            "| n | missing | ALS iterations to gap 1e-6 | seconds | default fit: iterations | "
            "seconds | gap | the same, abstention=0, calibrate_fill=False, s | "
            "autograd default fit, s | LR stacking, s |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
    )
    for r in results["solution"]:
        lines.append(
            f"| {r['n']:,} | {r['missing_rate']:.0%} | {r['iterations_to_gap']} | "
            f"{r['seconds_to_gap']:.3f} | {r['default_iterations']} | "
            f"{r['default_seconds']:.3f} | {r['default_gap']:.1e} | "
            f"{r.get('default_abstention0_seconds', float('nan')):.3f} | "
            f"{r['torch_default_seconds']:.2f} | {r['lr_stacking_seconds']:.3f} |"
        )
    lines += [
        "",
        "Seconds per ALS iteration (median) next to a plain batched-numpy sweep in the same "
        "process, and the peak memory of a fit (30 % labeled)"
        + (
            " — from an earlier run of this script (the last one measured only the table "
            "above, `--parts solution`):"
            if "iterations" in results.get("kept", [])
            else ":"
        ),
        "",
        "| n | m | d | kernel | s / iteration | plain sweep, s | ratio | peak memory | P | "
        "peak / P |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["iterations"]:
        lines.append(
            f"| {r['n']:,} | {r['m']} | {_dim(r)} | {r['kernel']} | "
            f"{r['seconds_per_iteration_median']:.3f} | {r['plain_sweep_seconds_median']:.3f} | "
            f"{r['ratio_to_plain']:.2f} | {r['peak_fit_mib']:.0f} MiB | {r['P_mib']:.0f} MiB | "
            f"{r['peak_fit_mib'] / r['P_mib']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["10x8", "32x16", "10x20@50000"],
        help="m x d, optionally @n: that shape at that n only (else at every --sizes)",
    )
    parser.add_argument("--solution-sizes", type=int, nargs="*", default=[3_000, 100_000])
    parser.add_argument("--reference-iterations", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="ALS device: cpu, cuda or auto")
    parser.add_argument("--dtype", default=None, help="float64 or float32 (PyTorch kernels)")
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    parser.add_argument("--output", default="speed", help="results/<output>.json")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["solution", "iterations"],
        default=["solution", "iterations"],
        help="tables to measure; the other is kept from results/<output>.json (and marked)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/<output>.json again (.md, and the README and docs "
        "with --update-readme)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        results = load_results(parser, args.output)
        publish("speed", args.output, results, _markdown(results), args.update_readme)
        return
    if args.quick:
        args.sizes, args.solution_sizes, args.repeats = [20_000], [3_000], 1
        args.shapes, args.reference_iterations = ["10x8"], 100
    if args.child:
        print(json.dumps(_child(args)))
        return
    from threadpoolctl import threadpool_info

    results: dict = {
        "blas": threadpool_info(),
        "reference_iterations": args.reference_iterations,
        "solution": [],
        "iterations": [],
        "kept": [],
    }
    stored = RESULTS / f"{args.output}.json"
    for part in ("solution", "iterations"):
        if part not in args.parts:  # an earlier run's rows, marked as such in the tables
            if not stored.exists():
                raise SystemExit(f"--parts leaves out {part!r} but {stored} does not exist")
            previous = json.loads(stored.read_text())
            results[part] = previous[part]
            results["kept"].append(part)
            if part == "solution":
                results["reference_iterations"] = previous["reference_iterations"]
    if "solution" in args.parts:
        for n in args.solution_sizes:
            for missing in (0.0, 0.3):
                results["solution"].append(_run_child(args, "solution", n, missing))
                print(json.dumps(results["solution"][-1]), file=sys.stderr)
    if "iterations" in args.parts:
        for shape in args.shapes:
            shape, _, only = shape.partition("@")
            m, d = map(int, shape.split("x"))
            for n in [int(only)] if only else args.sizes:
                results["iterations"].append(_run_child(args, "iteration", n, m, d))
                print(json.dumps(results["iterations"][-1]), file=sys.stderr)
    publish("speed", args.output, results, _markdown(results), args.update_readme)


if __name__ == "__main__":
    main()
