#!/usr/bin/env python
"""The synthesizers' targets on adult_pgm at epsilon 1 -> ``benchmarks/results/synth.md``.

    python benchmarks/synth.py [--reps 3] [--timeout 1800]

A thin use of ``benchmarks/run.py``: it runs (or finds in ``results/runs.jsonl``)
dpsynth MST / AIM / Independent, the peers' MST, and the non-private reference
points on ``adult_pgm.csv`` with its domain file at (1, 1e-9), each in a fresh
process, and checks the targets of the synthesizers issue against them:

* MST: fit+sample at most 3.5 s, peak RSS at most 200 MB, mean 2-way TVD at most 0.043;
* AIM: fit+sample at most 120 s, mean 3-way TVD at most 0.074 and below dpsynth MST's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
import run  # noqa: E402

DATASET, EPSILON = "adult_pgm", 1.0
SYSTEMS = ("dpsynth-mst", "dpsynth-aim", "dpsynth-independent", "mbi-mst", "dpmm-mst", "smartnoise-mst",
           "bootstrap", "independent-exact")
# (system, metric, bound, what) -- each target is "metric <= bound".
TARGETS = (
    ("dpsynth-mst", "fit_s", 3.5, "MST fit+sample s"),
    ("dpsynth-mst", "peak_rss_mb", 200.0, "MST peak RSS MB"),
    ("dpsynth-mst", "tvd2", 0.043, "MST mean 2-way TVD"),
    ("dpsynth-aim", "fit_s", 120.0, "AIM fit+sample s"),
    ("dpsynth-aim", "tvd3", 0.074, "AIM mean 3-way TVD"),
)


def _mean(records: list[dict], key: str) -> float:
    vals = [r[key] for r in records if r["status"] == "ok" and r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def render(runs: list[dict], path: Path) -> None:
    by_cell = report.cells(runs).get(DATASET, {})
    recs = {s: by_cell.get((s, EPSILON), []) for s in SYSTEMS}
    reps = max((len(r) for r in recs.values()), default=0)
    lines = ["# Synthesizers on adult_pgm at epsilon 1 (delta 1e-9)", "",
             f"Rendered {dt.date.today().isoformat()} by `benchmarks/synth.py` from `runs.jsonl`: up to {reps} "
             f"repetition{'s' * (reps != 1)} per row (mean ± 95% interval), each a fresh process; RESULTS.md "
             "has the machine, versions and method. Verdicts compare the means with the bounds.", "",
             "| run | ok | fit+sample s | process s | peak RSS MB | TVD 1-way | TVD 2-way | TVD 3-way |",
             "|---|---|---|---|---|---|---|---|"]
    for s in SYSTEMS:
        r = recs[s]
        if not r:
            lines.append(f"| {s} | not run | | | | | | |")
            continue
        ok = [x for x in r if x["status"] == "ok"]
        f = lambda k, d=3, fixed=True: report.fmt([x.get(k) for x in ok], d, fixed)  # noqa: E731
        lines.append(f"| {s} | {report.status_text(r)} | {f('fit_s', 3, False)} | {f('wall_s', 3, False)} | "
                     f"{f('peak_rss_mb', 3, False)} | {f('tvd1')} | {f('tvd2')} | {f('tvd3')} |")
    lines += ["", "## Targets", "", "| target | bound | measured | verdict |", "|---|---|---|---|"]
    checks = [(what, bound, _mean(recs[s], key)) for s, key, bound, what in TARGETS]
    checks.append(("AIM 3-way TVD below dpsynth MST's", _mean(recs["dpsynth-mst"], "tvd3"),
                   _mean(recs["dpsynth-aim"], "tvd3")))
    for what, bound, value in checks:
        if not np.isfinite(value) or not np.isfinite(bound):
            verdict = "no finished run"
        elif value <= bound:
            verdict = "met"
        else:
            verdict = f"missed by {value - bound:.3g} ({value / bound:.2f}× the bound)"
        lines.append(f"| {what} | {bound:.4g} | {value:.4g} | {verdict} |")
    lines += ["", "Process s adds interpreter start and imports to fit+sample; the time targets are read "
              "on fit+sample, the same span for every system.", ""]
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1800.0)
    p.add_argument("--results", type=Path, default=run.RESULTS)
    p.add_argument("--rerun", action="store_true")
    args = p.parse_args(argv)
    run.main(["--datasets", DATASET, "--systems", *SYSTEMS, "--epsilons", str(EPSILON), "--reps", str(args.reps),
              "--timeout", str(args.timeout), "--results", str(args.results)] + (["--rerun"] if args.rerun else []))
    render(run.load_runs(args.results / "runs.jsonl"), args.results / "synth.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
