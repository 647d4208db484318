"""Scale-out with Dask: correctness against the in-memory fit, and cost at n = 10^7.

    python benchmarks/scale.py [--n 10000000] [--chunk-rows 250000] [--workers 2 1]
                               [--output results/scale] [--update-readme] [--render]

1. Correctness (n = 20,000, m = 10, 20 % labeled, 30 % missing at random): the
   ``DaskCFEnsembleClassifier`` fit on 1, 2 and 7 row chunks, on a LocalCluster with
   2 workers (1 thread each), against ``CFEnsembleClassifier`` with the same
   ``random_state``: the largest difference of the transductive predictions.
2. Cost: ``P`` with n rows, m = 10 classifiers, made lazily in chunks of ``--chunk-rows``
   rows on the workers (``make_ensemble_problem`` seeded per chunk; never one numpy array
   in the client), 1 % of the rows labeled, ``latent_dim=8`` (capped at m = 10: no cap),
   on a LocalCluster with 2 workers, then 1 (1 thread each, processes). Reported: seconds
   per pass over the data (median; an ALS iteration is one pass, two when an extrapolation
   trial is rejected), the fit's wall time, the peak resident memory of each worker
   process (sampled every 0.2 s) above the same process before any data, against the
   worker's share of ``P``, and the bytes that travel per pass (each chunk task's
   arguments and result, pickled as dask sends them; independent of n).
3. On paper (m = 10, d = 8, chunks of 10^6 rows): memory per worker and bytes per pass at
   n = 10^8 and 10^9 on k workers, and
   the expected seconds per pass from the measured seconds per chunk.

Writes ``<output>.json`` and ``<output>.md`` (``--output``: a path without the suffix,
default benchmarks/results/scale); ``--update-readme`` also docs/user_guide/scale.inc (and
the README's ``scale`` section, where it has one); ``--render`` rewrites them from the
saved ``<output>.json`` without a run. Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
unset (they slow numpy on some machines).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

M, D, LABELED = 10, 8, 0.01


def _chunk(seed: int, rows: int):
    from cfensemble import make_ensemble_problem

    P, y = make_ensemble_problem(
        n_samples=rows,
        n_classifiers=M,
        positive_rate=0.05,
        error_correlation=0.5,
        missing_rate=0.3,
        random_state=seed,
    )
    labeled = np.random.default_rng(seed + 1).random(rows) < LABELED
    return P, np.where(labeled, y, -1).astype(np.float64)


def lazy_problem(n: int, chunk_rows: int):
    """``P`` (n, M) and ``y`` (n,) as dask arrays, each chunk generated on a worker."""
    import dask
    import dask.array as da

    sizes = [min(chunk_rows, n - s) for s in range(0, n, chunk_rows)]
    parts = [dask.delayed(_chunk)(k, rows) for k, rows in enumerate(sizes)]
    P = da.concatenate(
        [
            da.from_delayed(p[0], (rows, M), np.float64)
            for p, rows in zip(parts, sizes, strict=True)
        ]
    )
    y = da.concatenate(
        [da.from_delayed(p[1], (rows,), np.float64) for p, rows in zip(parts, sizes, strict=True)]
    )
    return P, y


def _rss(dask_worker=None) -> int:
    import psutil

    return psutil.Process().memory_info().rss


class _Sampler(threading.Thread):
    """Peak RSS of each worker, sampled in the background."""

    def __init__(self, client, every: float = 0.2):
        super().__init__(daemon=True)
        self.client, self.every, self.peak, self.stop = client, every, {}, threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                for worker, rss in self.client.run(_rss).items():
                    self.peak[worker] = max(self.peak.get(worker, 0), rss)
            except Exception:  # a worker restarting: skip the sample
                pass
            self.stop.wait(self.every)


def correctness(client) -> list[dict]:
    import dask.array as da

    from cfensemble import CFEnsembleClassifier, make_ensemble_problem
    from cfensemble.dask import DaskCFEnsembleClassifier

    P, y = make_ensemble_problem(
        n_samples=20_000,
        n_classifiers=M,
        positive_rate=0.05,
        error_correlation=0.5,
        missing_rate=0.3,
        random_state=0,
    )
    y = np.where(np.random.default_rng(0).random(y.size) < 0.2, y, -1)
    ref = CFEnsembleClassifier(random_state=0).fit(P, y)
    rows = []
    for chunks in (1, 2, 7):
        Pd = da.from_array(P, chunks=(-(-P.shape[0] // chunks), -1))
        clf = DaskCFEnsembleClassifier(random_state=0).fit(Pd, y)
        diff = float(np.max(np.abs(clf.label_distributions_.compute() - ref.label_distributions_)))
        rows.append({"chunks": chunks, "max_abs_diff": diff, "n_iter": clf.n_iter_})
        print(f"correctness: {chunks} chunk(s): max |difference| {diff:.2e}", file=sys.stderr)
    return rows


def cost(n: int, chunk_rows: int, workers: int) -> dict:
    import distributed

    from cfensemble.dask import DaskCFEnsembleClassifier, DaskData

    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=0,
    )
    with distributed.Client(cluster) as client:
        idle_rss = client.run(_rss)  # the worker processes before any data
        P, y = lazy_problem(n, chunk_rows)
        P, y = client.persist([P, y])
        distributed.wait([P, y])
        base_rss = client.run(_rss)
        sampler = _Sampler(client)
        sampler.start()
        passes = []  # (seconds, bytes that travel) of each pass over the data
        chunks = -(-n // chunk_rows)
        sweep = DaskData.sweep

        def timed_sweep(self, state, objective, chunk_size, kernel):
            start = time.perf_counter()
            done = sweep(self, state, objective, chunk_size, kernel)
            seconds = time.perf_counter() - start
            # what travels: each chunk task's arguments (X, a, the objective) and its
            # result (the same shapes as the reduced one), serialized as dask sends them
            task = len(pickle.dumps((self.spec, state.X, state.a, objective, chunk_size, kernel)))
            passes.append((seconds, chunks * (task + len(pickle.dumps(done)))))
            return done

        DaskData.sweep = timed_sweep
        clf = DaskCFEnsembleClassifier(latent_dim=D, random_state=0)
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(P, y)
        finally:
            DaskData.sweep = sweep
        wall = time.perf_counter() - start
        sampler.stop.set()
        sampler.join()
        seconds = np.array([p[0] for p in passes])
        sent = np.array([p[1] for p in passes])
        share = n * M * 8 / workers
        result = {
            "n": n,
            "workers": workers,
            "chunks": chunks,
            "chunk_rows": chunk_rows,
            "n_iter": int(clf.n_iter_),
            "passes": len(passes),
            "fit_seconds": wall,
            "seconds_per_pass": float(np.median(seconds)),
            "seconds_per_chunk_pass": float(np.median(seconds) * workers / chunks),
            "peak_rss_bytes": {w: int(v) for w, v in sampler.peak.items()},
            "rss_before_fit_bytes": {w: int(v) for w, v in base_rss.items()},
            "rss_idle_bytes": {w: int(v) for w, v in idle_rss.items()},
            "peak_above_idle_bytes": max(
                sampler.peak[w] - idle_rss[w] for w in sampler.peak if w in idle_rss
            ),
            "share_of_P_bytes": share,
            "bytes_per_pass": float(np.median(sent)),
        }
        peak = result["peak_above_idle_bytes"]
        print(
            f"n={n:,} on {workers} worker(s): {result['seconds_per_pass']:.2f} s per pass, "
            f"fit {wall:.1f} s ({clf.n_iter_} iterations, {len(passes)} passes); peak RSS "
            f"above the idle process {peak / 2**20:.0f} MiB per worker ({peak / share:.2f}x "
            f"its share of P, {share / 2**20:.0f} MiB); {result['bytes_per_pass'] / 1e3:.0f}"
            " kB travel per pass",
            file=sys.stderr,
        )
    cluster.close()
    return result


def on_paper(measured: dict, chunk_rows: int = 1_000_000) -> list[dict]:
    """Memory per worker, bytes per pass and seconds per pass at n = 10^8, 10^9 (m = 10,
    d = 8, float64, chunks of ``chunk_rows``), from the measured cost per chunk and row."""
    per_chunk_bytes = measured["bytes_per_pass"] / measured["chunks"]
    per_row_second = measured["seconds_per_chunk_pass"] / measured["chunk_rows"]
    rows = []
    for n in (10**8, 10**9):
        for k in (8, 64, 256):
            rows.append(
                {
                    "n": n,
                    "m": M,
                    "workers": k,
                    "P_per_worker_GiB": n * M * 8 / k / 2**30,
                    "bytes_per_pass_MB": -(-n // chunk_rows) * per_chunk_bytes / 1e6,
                    "seconds_per_pass": per_row_second * n / k,
                }
            )
    return rows


def render(results: dict) -> str:
    lines = ["| chunks | max abs difference to the in-memory fit | iterations |", "|---|---|---|"]
    for row in results["correctness"]:
        lines.append(f"| {row['chunks']} | {row['max_abs_diff']:.1e} | {row['n_iter']} |")
    lines += [
        "",
        "| n | workers | chunks | s / pass | fit s | iterations (passes) | peak memory / worker "
        "| share of P / worker | ratio | kB per pass |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["cost"]:
        peak = row["peak_above_idle_bytes"]
        lines.append(
            f"| {row['n']:,} | {row['workers']} | {row['chunks']} | "
            f"{row['seconds_per_pass']:.2f} | {row['fit_seconds']:.1f} | "
            f"{row['n_iter']} ({row['passes']}) | {peak / 2**20:.0f} MiB | "
            f"{row['share_of_P_bytes'] / 2**20:.0f} MiB | {peak / row['share_of_P_bytes']:.2f} | "
            f"{row['bytes_per_pass'] / 1e3:.0f} |"
        )
    lines += [
        "",
        "| n | m | workers | P per worker | MB per pass | s per pass (expected) |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["on_paper"]:
        lines.append(
            f"| {row['n']:.0e} | {row['m']} | {row['workers']} | "
            f"{row['P_per_worker_GiB']:.1f} GiB | {row['bytes_per_pass_MB']:.1f} | "
            f"{row['seconds_per_pass']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write(results: dict, output: str, update_readme: bool) -> None:
    """Write ``<output>.json`` and ``.md``, print the tables and, with ``update_readme``, put
    them in the docs (and the README's ``scale`` section, where it has one)."""
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output + ".json").write_text(json.dumps(results, indent=1))
    Path(output + ".md").write_text(render(results))
    print(render(results))
    if update_readme:
        # imported here: the worker processes import this module, keep them as light
        from _common import replace_section

        replace_section("scale", render(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "scale"))
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        action="store_true",
        help="no run: render <output>.json again (.md, and the docs with --update-readme)",
    )
    args = parser.parse_args()
    if args.render:
        from _common import load_results

        # --output is a path (not a stem under results/): made absolute, load_results'
        # results/<output>.json is that path
        stored = load_results(parser, str(Path(args.output).resolve()))
        write(stored, args.output, args.update_readme)
        return
    import distributed

    started = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        checks = correctness(client)
    costs = [cost(args.n, args.chunk_rows, k) for k in args.workers]
    results = {
        "machine": (
            f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        ),
        "correctness": checks,
        "cost": costs,
        "on_paper": on_paper(costs[0]),
        "seconds": time.perf_counter() - started,
    }
    write(results, args.output, args.update_readme)


if __name__ == "__main__":
    main()
