"""Iterations and seconds to the optimum: plain ALS, extrapolated ALS, and an L-BFGS polish.

The "fewer iterations" comparison of the speed work. For each option, on the default
problem of ``benchmarks/speed.py`` (``make_ensemble_problem(n, 10, 0.05,
error_correlation=0.5)``, 20 % of rows labeled, complete and 30 % missing predictions,
default ``CFEnsembleClassifier``: ``rho=1``, so the objective is the reconstruction loss):
the iterations and seconds to come within a relative gap of 1e-6 of the best objective
value found (the lowest of a ``--reference-iterations`` extrapolated-ALS run, a plain-ALS
run of the same length and every polish). Options:

- ``plain``: ALS without extrapolation (``solver=ALS(accelerate=False)``);
- ``extrapolated``: ALS with the safeguarded extrapolation (``ALS(accelerate=True)``, the
  default);
- ``polish-k``: ``k`` extrapolated ALS iterations, then L-BFGS (scipy) over all of
  ``(X, a, Y, c)`` jointly from that point, on the same objective (value and gradient
  written out below; the script checks that the value equals the estimator's at the ALS
  point). Its iterations are reported as ``k + L-BFGS iterations``.

One fresh process per (n, missing); ALS seconds are medians over ``--repeats`` (the polish,
much the slowest, is timed once, with at most ``--max-lbfgs`` iterations); the numba kernel
runs from 50,000 rows where installed. The instance step is label-free in this model (the
supervised loss touches only ``(X, a)`` and the aggregator), so the "exact per-row instance
step with the supervised term" of the first design has nothing to do here.

Usage (unset the OpenBLAS overrides for timing runs only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/convergence.py --update-readme

Writes benchmarks/results/<output>.json and .md (output: ``convergence``);
``--update-readme`` also docs/user_guide/convergence.inc (and the README's ``convergence``
section, where it has one); ``--render`` rewrites them from the saved .json without a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
from _common import GAP, load_results, publish, speed_problem, timed_fit

from cfensemble import ALS


def _problem(n: int, missing_rate: float):
    """speed.py's time-to-solution problem: 20 % of the rows labeled."""
    P, y, labeled = speed_problem(n, missing_rate=missing_rate, labeled_fraction=0.2)
    return P, np.where(labeled, y, -1)


class Reconstruction:
    """The ALS objective at ``rho = 1`` with uniform confidence, as a function of a flat
    vector ``(X, a, Y, c)``: ``(sum C r^2 + lambda (sum_i n_i |y_i, c_i|^2 +
    sum_u n_u |x_u, a_u|^2)) / sum C`` with ``r = y_i . x_u + a_u + c_i - p_iu``."""

    def __init__(self, P, d, lambda_reg):
        self.C = (~np.isnan(P)).astype(float)
        self.P0 = np.where(np.isnan(P), 0.0, P)
        self.n, self.m = P.shape
        self.d, self.lam = d, lambda_reg
        self.n_i, self.n_u, self.total = self.C.sum(1), self.C.sum(0), self.C.sum()

    def pack(self, X, a, Y, c):
        return np.concatenate([X.ravel(), a, Y.ravel(), c])

    def unpack(self, v):
        m, n, d = self.m, self.n, self.d
        X = v[: m * d].reshape(m, d)
        a = v[m * d : m * d + m]
        Y = v[m * d + m : m * d + m + n * d].reshape(n, d)
        return X, a, Y, v[m * d + m + n * d :]

    def __call__(self, v):
        X, a, Y, c = self.unpack(v)
        R = self.C * (Y @ X.T + a[None, :] + c[:, None] - self.P0)
        ridge_rows = self.n_i @ (np.sum(Y * Y, axis=1) + c * c)
        ridge_cols = self.n_u @ (np.sum(X * X, axis=1) + a * a)
        value = (np.sum(R * R) + self.lam * (ridge_rows + ridge_cols)) / self.total
        s = 2.0 / self.total
        grad = self.pack(
            s * (R.T @ Y + self.lam * self.n_u[:, None] * X),
            s * (R.sum(axis=0) + self.lam * self.n_u * a),
            s * (R @ X + self.lam * self.n_i[:, None] * Y),
            s * (R.sum(axis=1) + self.lam * self.n_i * c),
        )
        return value, grad


def _polish(P, y, k, max_lbfgs):
    """k ALS iterations, then L-BFGS: (seconds at each L-BFGS iterate, objective values)."""
    from scipy.optimize import minimize

    seconds, clf = timed_fit(P, y, ALS(max_iter=k, tol=0.0), factorize=True)
    f = Reconstruction(P, clf.latent_dim_, clf.lambda_reg)
    start_v = f.pack(
        clf.classifier_factors_, clf.classifier_bias_, clf.instance_factors_, clf.instance_bias_
    )
    value = f(start_v)[0]
    als_value = float(clf.loss_curve_["total"][-1])
    assert abs(value - als_value) <= 1e-9 * abs(als_value), (value, als_value)
    times, values = [], []
    start = time.perf_counter()

    def record(intermediate_result):
        times.append(seconds + time.perf_counter() - start)
        values.append(float(intermediate_result.fun))

    minimize(
        f,
        start_v,
        jac=True,
        method="L-BFGS-B",
        callback=record,
        options={"maxiter": max_lbfgs, "ftol": 0.0, "gtol": 0.0, "maxcor": 20},
    )
    return np.asarray(times), np.asarray(values)


def _first(values, best):
    reached = np.flatnonzero((np.asarray(values) - best) / abs(best) <= GAP)
    return int(reached[0]) if reached.size else None


def measure(
    n: int, missing: float, reference: int, ks: list[int], repeats: int, max_lbfgs: int
) -> dict:
    P, y = _problem(n, missing)
    timed_fit(P[:500], y[:500], ALS(max_iter=2))  # imports, numba cache
    curves = {
        name: np.asarray(
            timed_fit(P, y, ALS(max_iter=reference, tol=0.0, accelerate=acc))[1].loss_curve_[
                "total"
            ]
        )
        for name, acc in (("extrapolated", True), ("plain", False))
    }
    polished = {k: _polish(P, y, k, max_lbfgs) for k in ks}
    best = min(
        [float(c.min()) for c in curves.values()] + [float(v.min()) for _, v in polished.values()]
    )
    rows = {}
    for name, acc in (("extrapolated", True), ("plain", False)):
        i = _first(curves[name], best)
        seconds = (
            statistics.median(
                timed_fit(P, y, ALS(max_iter=i + 1, tol=0.0, accelerate=acc), factorize=True)[0]
                for _ in range(repeats)
            )
            if i is not None
            else float("nan")
        )
        rows[name] = {
            "iterations": None if i is None else i + 1,
            "seconds": seconds,
            "final_gap": float((curves[name][-1] - best) / abs(best)),
        }
    for k, (times, values) in polished.items():
        i = _first(values, best)
        rows[f"polish-{k}"] = {  # timed once: it is the slow one
            "iterations": None if i is None else f"{k} + {i + 1}",
            "seconds": float("nan") if i is None else float(times[i]),
            "final_gap": float((values[-1] - best) / abs(best)),
        }
    default_seconds, default = timed_fit(P, y)
    return {
        "n": n,
        "missing_rate": missing,
        "reference_iterations": reference,
        "best": best,
        "options": rows,
        "default": {
            "iterations": int(default.n_iter_),
            "seconds": default_seconds,
            "gap": float((default.loss_curve_["total"][-1] - best) / abs(best)),
        },
    }


def _markdown(results: list[dict]) -> str:
    names = list(results[0]["options"])
    lines = [
        f"Iterations and seconds to a relative gap of {GAP:g} to the best objective found "
        f"(m = 10, 20 % labeled, default estimator; reference runs of "
        f"{results[0]['reference_iterations']} iterations; polish-k = k extrapolated ALS "
        "iterations, then L-BFGS over all factors):",
        "",
        "| n | missing | " + " | ".join(names) + " | default fit (tol 1e-4): iterations, s, gap |",
        "|---|---|" + "---|" * len(names) + "---|",
    ]
    for r in results:
        cells = []
        for name in names:
            o = r["options"][name]
            cells.append(
                f"not reached (gap {o['final_gap']:.1e})"
                if o["iterations"] is None
                else f"{o['iterations']} it, {o['seconds']:.3f} s"
            )
        dflt = r["default"]
        lines.append(
            f"| {r['n']:,} | {r['missing_rate']:.0%} | "
            + " | ".join(cells)
            + f" | {dflt['iterations']}, {dflt['seconds']:.3f} s, {dflt['gap']:.0e} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_000, 30_000])
    parser.add_argument("--reference-iterations", type=int, default=2000)
    parser.add_argument("--polish-after", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-lbfgs", type=int, default=1000, help="L-BFGS iterations at most")
    parser.add_argument("--output", default="convergence", help="results/<output>.json/.md")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render results/<output>.json again (.md, and the docs with --update-readme)",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        results = load_results(parser, args.output)
        publish("convergence", args.output, results, _markdown(results), args.update_readme)
        return
    if args.child:
        n, missing = int(args.child[0]), float(args.child[1])
        result = measure(
            n,
            missing,
            args.reference_iterations,
            args.polish_after,
            args.repeats,
            args.max_lbfgs,
        )
        print(json.dumps(result))
        return
    results = []
    for n in args.sizes:
        for missing in (0.0, 0.3):
            command = [sys.executable, __file__, "--child", str(n), str(missing)]
            command += ["--reference-iterations", str(args.reference_iterations)]
            command += ["--polish-after", *map(str, args.polish_after)]
            command += ["--repeats", str(args.repeats), "--max-lbfgs", str(args.max_lbfgs)]
            out = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout))
            print(json.dumps(results[-1]), file=sys.stderr)
    publish("convergence", args.output, results, _markdown(results), args.update_readme)


if __name__ == "__main__":
    main()
