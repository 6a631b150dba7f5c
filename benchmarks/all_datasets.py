#!/usr/bin/env python
"""Every dataset in ../shared/data through `dpsynth schema` -> `dpsynth synth --method mst`.

    python benchmarks/all_datasets.py [--epsilon 1] [--out benchmarks/results/all_datasets.md]

Each table is read with its quirks (../shared/data/README.md), written to Parquet,
and driven through the real command line in a fresh process: a schema drafted
from the data (declared public for this benchmark only) and an MST release at
(epsilon, 1e-9). Wall time and peak RSS come from /usr/bin/time -v (or
NaN when it is absent); fidelity is
dpsynth.evaluate.fidelity on the real table (not private; for this table only).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from dpsynth import evaluate
from dpsynth.domain import Schema

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("DPSYNTH_BENCH_DATA", HERE.parent.parent / "shared" / "data"))
NIST = {"dtype": str, "keep_default_na": False}
READ = {  # name -> (read_csv options, columns to drop)
    "adult": ({}, ()),
    "adult_pgm": ({}, ()),
    "bank_marketing": ({}, ()),
    "census1980_fertility": ({}, ()),
    "credit_default": ({}, ("ID",)),
    "diabetes130": ({"na_values": "?", "keep_default_na": False}, ("encounter_id", "patient_nbr")),
    "german_credit": ({}, ()),
    "nist_ma2019": (NIST, ()),
    "nist_national2019": (NIST, ()),
    "nist_taxi": ({}, ()),
    "nltcs": ({}, ()),
    "nycflights13": ({}, ()),
    "pums_1000": ({}, ()),
    "salary": ({}, ()),
    "temporal_match2": ({}, ()),
    "titanic_aim": ({}, ()),
}


def run_cli(argv: list[str]) -> tuple[float, float, str]:
    """Run `dpsynth ARGV` in a fresh process: (wall seconds, peak RSS MB, stdout)."""
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    start = time.perf_counter()
    proc = subprocess.run([*timer, sys.executable, "-m", "dpsynth.cli", *argv], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"dpsynth {' '.join(argv[:2])} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    rss_kb = [line.split(":")[1] for line in proc.stderr.splitlines() if "Maximum resident set size" in line]
    rss_mb = float(rss_kb[0]) / 1024 if rss_kb else float("nan")
    return wall, rss_mb, proc.stdout


def one(name: str, epsilon: float, tmp: Path) -> dict:
    read_kw, drop = READ[name]
    real = pd.read_csv(DATA / f"{name}.csv", **read_kw).drop(columns=list(drop))
    data = tmp / f"{name}.parquet"
    real.to_parquet(data, index=False)
    schema_path, out = tmp / f"{name}.schema.json", tmp / f"{name}.synthetic.parquet"
    run_cli(["schema", str(data), "--out", str(schema_path)])
    wall, rss, _ = run_cli(["synth", str(data), "--schema", str(schema_path), "--schema-is-public",
                            "--epsilon", str(epsilon), "--method", "mst", "--out", str(out), "--json"])
    schema = Schema.from_json(schema_path)
    synth = pd.read_parquet(out)
    fid = evaluate.fidelity(real, synth, schema, n_three_way=200, seed=0)
    return {"dataset": name, "rows": len(real), "columns": real.shape[1], "cells": sum(schema.sizes),
            "wall_s": wall, "peak_rss_mb": rss,
            **{f"tvd{k}": fid["tvd"][str(k)]["mean"] for k in (1, 2, 3) if str(k) in fid["tvd"]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--out", default=str(HERE / "results" / "all_datasets.md"))
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or READ:
            try:
                rows.append(one(name, args.epsilon, Path(tmp)))
            except Exception as exc:  # recorded, not dropped
                rows.append({"dataset": name, "error": str(exc)})
            print(json.dumps(rows[-1]), flush=True)
    lines = ["# Every shared dataset through `dpsynth schema` -> `dpsynth synth --method mst`",
             "", f"epsilon {args.epsilon:g}, delta 1e-9, add/remove-one neighbouring; {dt.date.today()}; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; wall time and peak RSS "
             "of the whole `dpsynth synth` process (reading, fitting, sampling, writing). The schema is drafted "
             "from the data and declared public for this benchmark only. TVD: mean over all 1-way, all 2-way "
             "and 200 sampled 3-way marginals on the schema's cells.", "",
             "| dataset | rows | cols | wall s | peak RSS MB | TVD 1-way | TVD 2-way | TVD 3-way |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | failed: {r['error']} |||||||")
        else:
            lines.append(f"| {r['dataset']} | {r['rows']:,} | {r['columns']} | {r['wall_s']:.1f} | "
                         f"{r['peak_rss_mb']:.0f} | {r['tvd1']:.3f} | {r['tvd2']:.3f} | "
                         f"{r.get('tvd3', float('nan')):.3f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
