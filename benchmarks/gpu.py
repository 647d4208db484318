"""The GPU targets of the speed work, in one short run for a machine with a CUDA device.

Measures, with ``solver=ALS(device="cuda", dtype="float32", chunk_size=...)`` (blocks of
``--chunk-size`` rows):

1. seconds per ALS iteration at n = ``--sweep-n`` (default 10^7), m = 32, d = 16, 30 %
   of the predictions missing, 30 % of the rows labeled: ``(t(1 + k iterations) -
   t(1 iteration)) / k``, median of ``--repeats`` (target <= 0.05 s on an H100/H200);
2. a default fit (``ALS(max_iter=100, tol=1e-4)``) at n = ``--fit-n`` (default 10^6), m = 10,
   20 % labeled, ``make_ensemble_problem(..., error_correlation=0.5)``, next to the same fit
   on the CPU kernels in the same process (target <= 2 s on the GPU);

and prints one JSON line per measurement. The CUDA tests are run separately
(``python -m pytest -k cuda``). The problem of 1. is random probabilities (the time per
iteration does not depend on their values); generating it takes a few seconds.

Usage (about 2-4 minutes on a GPU machine; ``--device cpu --dtype float32 --sweep-n 20000
--fit-n 20000`` runs the same code on the CPU, to check the script)::

    python benchmarks/gpu.py
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
from _common import timed_fit  # every sweep copies its results to the host: no sync needed

from cfensemble import ALS, make_ensemble_problem


def sweep_seconds(n, m, d, k, repeats, device, dtype, chunk_size) -> dict:
    rng = np.random.default_rng(0)
    P = rng.random((n, m))
    P[rng.random((n, m)) < 0.3] = np.nan
    y = np.where(rng.random(n) < 0.3, (rng.random(n) < 0.05).astype(float), -1.0)
    trainer = dict(tol=0.0, device=device, dtype=dtype, chunk_size=chunk_size)
    solver_only = dict(latent_dim=d, factorize=True)
    timed_fit(P[:50_000], y[:50_000], ALS(max_iter=2, **trainer), **solver_only)  # CUDA context
    times = []
    for _ in range(repeats):
        t1 = timed_fit(P, y, ALS(max_iter=1, **trainer), **solver_only)[0]
        tk = timed_fit(P, y, ALS(max_iter=1 + k, **trainer), **solver_only)[0]
        times.append((tk - t1) / k)
    return {
        "measure": "seconds per ALS iteration",
        "n": n,
        "m": m,
        "d": d,
        "device": device,
        "dtype": dtype,
        "chunk_size": chunk_size,
        "median": statistics.median(times),
        "all": times,
        "target": 0.05,
    }


def default_fit_seconds(n, device, dtype, chunk_size) -> dict:
    P, y_true = make_ensemble_problem(
        n, 10, 0.05, np.linspace(0.4, 0.8, 10), 0.5, missing_rate=0.3, random_state=0
    )
    y = np.where(np.random.default_rng(0).random(n) < 0.2, y_true, -1)
    trainer = dict(device=device, dtype=dtype, chunk_size=chunk_size)
    timed_fit(P[:50_000], y[:50_000], ALS(max_iter=2, **trainer))
    seconds, clf = timed_fit(P, y, ALS(**trainer))
    cpu_seconds, cpu = timed_fit(P, y)
    return {
        "measure": "default fit",
        "n": n,
        "m": 10,
        "device": device,
        "dtype": dtype,
        "seconds": seconds,
        "iterations": int(clf.n_iter_),
        "cpu_seconds": cpu_seconds,
        "cpu_iterations": int(cpu.n_iter_),
        "max_abs_difference_to_cpu": float(
            np.max(np.abs(clf.label_distributions_ - cpu.label_distributions_))
        ),
        "target": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--sweep-n", type=int, default=10_000_000)
    parser.add_argument("--fit-n", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        json.dumps(
            sweep_seconds(
                args.sweep_n,
                32,
                16,
                args.iterations,
                args.repeats,
                args.device,
                args.dtype,
                args.chunk_size,
            )
        ),
        flush=True,
    )
    print(json.dumps(default_fit_seconds(args.fit_n, args.device, args.dtype, args.chunk_size)))


if __name__ == "__main__":
    main()
