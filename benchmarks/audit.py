"""Empirical DP audit of MST, AIM and Independent: epsilon lower bounds and time.

Runs ``dpsynth.attacks.audit.audit`` (canary design: 300 rows, 3 columns of 4
values, the canary alone in the fourth value of every column) with >= 1,000
runs on each of D and D' per synthesizer and claimed epsilon, and writes
benchmarks/results/audit.md (the table) and audit.json (every result, with the
evaluation-half scores). Each configuration's result is written as soon as it
finishes, so a stopped run keeps what it had.

    .venv/bin/python benchmarks/audit.py [--runs 1000] [--workers 1] [--epsilons 1,10] [--methods mst,aim,independent]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from dpsynth.attacks.audit import audit, canary_design
from dpsynth.io import atomic_write, write_json
from dpsynth.synthesizers import METHODS

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def render(results: list[dict], meta: dict) -> str:
    lines = [
        "# Empirical DP audit (canary)",
        "",
        "`benchmarks/audit.py`: `dpsynth.attacks.audit.audit` fits each synthesizer RUNS times on a public",
        "design D (300 rows, 3 categorical columns, 3 of 4 values used) and RUNS times on D' = D + one canary",
        "record holding the unused value in every column (add/remove-one neighbours). The distinguishing",
        "test (statistic, direction, threshold) is chosen on the first half of the runs; its false-positive",
        "and false-negative rates on the second half get one-sided Clopper-Pearson bounds (0.975 each, 0.95",
        "jointly), giving the epsilon lower bound. Research RNG (seeded numpy noise): the audit measures the",
        "algorithm. A bound above the claim would be a violation; \"max detectable\" is the bound perfect",
        "separation would give with this many runs, the ceiling of any audit of this size.",
        "",
        f"- date: {meta['date']}; total {meta['total_s']:.0f} s",
        f"- machine: {meta['cpu']}, {meta['cores']} cores visible, {meta['workers']} worker process(es); load average "
        f"{meta['load_before']} before / {meta['load_after']} after (shared with other work)",
        f"- python {meta['python']}, dpsynth {meta['dpsynth']}, opendp {meta['opendp']}, numpy {meta['numpy']}",
        "",
        "| method | claimed epsilon | delta | runs (D / D') | epsilon lower bound | max detectable | violation | "
        "test chosen | FPR (upper) | FNR (upper) | time | s per fit |",
        "|---|---:|---:|---:|---:|---:|:-:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["statistic"]
        lines.append(
            f"| {r['method']} | {r['epsilon_claimed']:g} | {r['delta']:g} | {r['runs']} / {r['runs']} | "
            f"**{r['epsilon_lower_bound']:.3f}** | {r['max_detectable_epsilon']:.2f} | "
            f"{'YES' if r['violation'] else 'no'} | {s['name']} {s['direction']} {s['threshold']:.3g} | "
            f"{s['fpr']:.3f} ({s['fpr_upper']:.3f}) | {s['fnr']:.3f} ({s['fnr_upper']:.3f}) | "
            f"{r['seconds']:.0f} s | {r['seconds_per_fit']:.3f} |")
    at = {(r["method"], r["epsilon_claimed"]): r for r in results}
    powered = [f"{m} {r['epsilon_lower_bound']:.2f}" for (m, e), r in at.items() if e > 1]
    n_syn = sorted({r["n_synthetic"] for r in results})
    lines += [
        "",
        f"Synthetic rows sampled per fit for the black-box statistics: {', '.join(map(str, n_syn))}.",
        "",
        "Reading: at epsilon = 1 (delta = 1e-9) one canary moves each measured count by 1 against Gaussian",
        "noise of standard deviation about 10 counts, so no test of this size can tell D from D' and a zero",
        "bound is what a correct implementation gives: no evidence against the claim (and no proof of it).",
        "At the larger claimed epsilon the noise is small enough for the audit to find real signal"
        + (f" (lower bounds: {', '.join(powered)})" if powered else "") + ",",
        "which shows the audit has power; a correct implementation stays below its claim. The test suite's",
        "deliberately broken synthesizer (one marginal measured without noise) reaches the ceiling with 200",
        "runs (3.28) and is flagged as a violation of epsilon = 1.",
        "",
        "Time: about three quarters of each fit is the (epsilon, delta) -> rho conversion",
        "(`dpsynth.accounting.rho_from_epsilon`, run twice per fit and not cached); the algorithms themselves",
        "take a few hundredths of a second on this design (profiled: Independent 0.02 s, MST 0.03 s per fit).",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--epsilons", default="1,10")
    ap.add_argument("--methods", default="mst,aim,independent")
    ap.add_argument("--delta", type=float, default=1e-9)
    ap.add_argument("--out", type=Path, default=RESULTS / "audit.md")
    ap.add_argument("--render", action="store_true", help="only rewrite the table from the saved .json")
    args = ap.parse_args()
    if args.render:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        with atomic_write(args.out) as fh:
            fh.write(render(saved["results"], saved["meta"]))
        return 0
    epsilons = [float(e) for e in args.epsilons.split(",")]
    methods = args.methods.split(",")
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(), "cores": os.cpu_count(), "workers": args.workers,
        "load_before": f"{os.getloadavg()[0]:.1f}",
        "python": platform.python_version(), "dpsynth": version("dpsynth"), "opendp": version("opendp"),
        "numpy": version("numpy"),
    }
    start = time.perf_counter()
    results = []
    for method in methods:
        for eps in epsilons:
            print(f"audit {method} epsilon={eps:g}: {args.runs} runs ...", file=sys.stderr, flush=True)
            r = audit(METHODS[method], eps, args.delta, args.runs, workers=args.workers, seed=0,
                      design=canary_design(seed=0), name=method)
            results.append(r)
            print(f"  lower bound {r['epsilon_lower_bound']:.3f} in {r['seconds']:.0f} s", file=sys.stderr, flush=True)
            meta.update(total_s=time.perf_counter() - start, load_after=f"{os.getloadavg()[0]:.1f}")
            write_json(args.out.with_suffix(".json"), {"meta": meta, "results": results})
            with atomic_write(args.out) as fh:
                fh.write(render(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
