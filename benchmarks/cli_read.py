"""Seconds and peak memory for the CLI to read a 10^6 x 11 CSV into P and y.

Writes a CSV of 10 probability columns (10 % empty cells, 6 decimals) and a label column
(80 % empty = unlabeled) to a temporary directory, then, in a fresh process, times
``read_table`` + ``probability_matrix`` + ``label_vector`` (what ``cfensemble fit`` does
before fitting) and reports the process's peak resident memory minus its resident memory
before reading, next to the size of the data as float64 (n x 11 x 8 bytes). Median of
``--repeats`` runs.

Usage (unset the OpenBLAS overrides for timing runs only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/cli_read.py
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def _write(path: pathlib.Path, n: int) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    P = rng.random((n, 10)).round(6)
    P[rng.random((n, 10)) < 0.1] = np.nan
    frame = pd.DataFrame(P, columns=[f"model_{i}" for i in range(10)])
    labeled = rng.random(n) < 0.2
    frame["y"] = np.where(labeled, (rng.random(n) < 0.05).astype(float), np.nan)
    frame.to_csv(path, index=False)


def _child(path: str) -> dict:
    from cfensemble.cli import label_vector, probability_matrix, read_table

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    table = read_table(path)
    y = label_vector(table, "y")
    P = probability_matrix(table, [c for c in table.names if c != "y"])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "extra_mib": (peak - before) / 1024, "rows": len(y), "P": P.shape}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "big.csv"
        _write(path, args.rows)
        runs = [
            json.loads(
                subprocess.run(
                    [sys.executable, __file__, "--child", str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(args.repeats)
        ]
        size = path.stat().st_size / 2**20
    data = args.rows * 11 * 8 / 2**20
    seconds = statistics.median(r["seconds"] for r in runs)
    extra = statistics.median(r["extra_mib"] for r in runs)
    print(
        f"{args.rows:,} x 11 CSV ({size:.0f} MiB on disk, {data:.0f} MiB as float64): read in "
        f"{seconds:.2f} s (median of {args.repeats}), peak memory +{extra:.0f} MiB = "
        f"{extra / data:.1f}x the data"
    )


if __name__ == "__main__":
    main()
