"""Throughput of dpsynth's Gaussian mechanism (OpenDP samplers) on 10^3 .. 10^7 cells.

Times the public ``dpsynth.mechanisms.gaussian`` (one OpenDP call per vector,
ledger charge included) on integer counts (discrete Gaussian) and float vectors
(continuous Gaussian), and the numpy research path for reference. A series
stops at the first size whose predicted time (from the previous size's rate)
exceeds its limit; the table says so. Writes benchmarks/results/mechanisms.md.

    .venv/bin/python benchmarks/mechanisms.py [--max-exp 7] [--float-limit-s 60]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np

from dpsynth.accounting import InsecureRNGWarning, Ledger
from dpsynth.io import atomic_write
from dpsynth.mechanisms import gaussian

SIGMA = 10.0
OUT = Path(__file__).parent / "results" / "mechanisms.md"


def cpu_model() -> str:
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def time_one(n: int, dtype: type, rng: np.random.Generator | None) -> tuple[float, float]:
    """(wall, CPU) seconds for one ``gaussian`` call on ``n`` zero cells."""
    values = np.zeros(n, dtype=dtype)
    with Ledger(None) as ledger:
        ledger.init("bench", 10.0, 1e-9)
        with ledger.release("bench", 0.01, "benchmark", insecure_rng=rng) as rel:
            start, cpu = time.perf_counter(), time.process_time()
            out = gaussian(rel, "bench", values, SIGMA)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert out.shape == (n,)
    return elapsed, cpu


def series(sizes: list[int], dtype: type, limit_s: float | None, research: bool) -> dict[int, tuple | str]:
    """cells -> (wall, CPU) seconds, or a note for sizes skipped because they would exceed ``limit_s``."""
    results: dict[int, tuple | str] = {}
    rate = None
    for n in sizes:
        if limit_s is not None and rate is not None and n / rate > limit_s:
            results[n] = f"skipped (predicted {n / rate:.0f} s > {limit_s:.0f} s)"
            continue
        rng = np.random.default_rng(0) if research else None
        wall, cpu = time_one(n, dtype, rng)
        rate = n / wall
        results[n] = (wall, cpu)
        print(f"{dtype.__name__:8s} {'numpy' if research else 'opendp':6s} {n:>10,d} cells "
              f"{wall:9.3f} s wall {cpu:9.3f} s CPU {rate:>12,.0f} cells/s", flush=True)
    return results


def cell(result: tuple | str | None, n: int) -> str:
    if result is None:
        return "-"
    if isinstance(result, str):
        return result
    wall, cpu = result
    return f"{n / wall:,.0f} ({n / max(cpu, 1e-9):,.0f}/CPU-s; {wall:.2f} s)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-exp", type=int, default=7, help="largest size is 10^max-exp cells")
    parser.add_argument("--float-limit-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", InsecureRNGWarning)  # the numpy rows are the research path, on purpose

    sizes = [10**k for k in range(3, args.max_exp + 1)]
    load_before = os.getloadavg()
    started = time.time()
    ints = series(sizes, np.int64, None, research=False)
    floats = series(sizes, np.float64, args.float_limit_s, research=False)
    numpy_ints = series(sizes, np.int64, None, research=True)
    load_after = os.getloadavg()

    lines = [
        "# Gaussian mechanism throughput",
        "",
        "`benchmarks/mechanisms.py`: one call of `dpsynth.mechanisms.gaussian` (one OpenDP",
        f"measurement on the whole vector, ledger charge included) on zero vectors, sigma = {SIGMA:g}.",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; total run {time.time() - started:.0f} s",
        f"- machine: {cpu_model()}, {os.cpu_count()} cores visible; load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (shared with other work)",
        f"- python {platform.python_version()}, opendp {version('opendp')}, numpy {np.__version__}",
        "",
        "Each cell: cells per wall-clock second (cells per CPU-second of this process; wall time). The",
        "samplers are single-threaded, so the CPU-second rate is what a quiet core would give.",
        "",
        "| cells | OpenDP discrete Gaussian (int64) | OpenDP continuous Gaussian (float64) "
        "| numpy research path, discrete (not DP-grade) |",
        "|---:|---:|---:|---:|",
    ]
    for n in sizes:
        lines.append(f"| {n:,} | {cell(ints.get(n), n)} | {cell(floats.get(n), n)} | {cell(numpy_ints.get(n), n)} |")
    lines += [
        "",
        f"The float series stops where its predicted time exceeds {args.float_limit_s:.0f} s.",
        "OpenDP samples each cell exactly (arbitrary-precision arithmetic, single-threaded), so its cost is",
        "linear in the cells measured per release; the numpy column is the seeded research path, shown",
        "only to size the gap. It is not a fallback for real releases.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
