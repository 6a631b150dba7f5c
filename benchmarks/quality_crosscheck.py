"""Cross-check dpsynth's fidelity figures against SDV's ``sdmetrics`` quality report.

Both score the same pair: 20,000 rows of the bundled UCI Adult (seed 0) and an
MST release at epsilon = 1 fitted on them. Where the two measure the same thing
the numbers must agree:

* numeric columns: sdmetrics' KSComplement = 1 - dpsynth's KS statistic;
* categorical columns: TVComplement = 1 - dpsynth's 1-way TVD (sdmetrics drops
  missing values first, so dpsynth's TVD is recomputed the same way for those);
* categorical pairs: ContingencySimilarity = 1 - dpsynth's 2-way TVD (both keep
  missing values as a cell).

The table also lists what each report contains. ``sdmetrics`` lives in its own
virtual environment, never in the package's:

    benchmarks/setup_peers.sh quality
    .venv/bin/python benchmarks/quality_crosscheck.py

Writes ``benchmarks/results/quality_crosscheck.md`` (with the machine noted).
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from dpsynth.domain import Schema
from dpsynth.evaluate import fidelity
from dpsynth.io import atomic_write
from dpsynth.synthesizers import MST

HERE = Path(__file__).resolve().parent
PEER = HERE / ".venv-quality" / "bin" / "python"

# Runs inside the sdmetrics venv: argv = json config; prints one JSON line.
PEER_CODE = r"""
import itertools, json, sys, time, warnings
import pandas as pd
from importlib.metadata import version
from sdmetrics.reports.single_table import QualityReport
from sdmetrics.single_column import KSComplement, TVComplement
from sdmetrics.column_pairs import ContingencySimilarity
warnings.filterwarnings("ignore")
cfg = json.loads(sys.argv[1])
real, synth = pd.read_csv(cfg["real"]), pd.read_csv(cfg["synth"])
meta = {"columns": {c: {"sdtype": "categorical" if c in cfg["categorical"] else "numerical"} for c in real.columns}}
t = time.time()
rep = QualityReport()
rep.generate(real, synth, meta, verbose=False)
seconds = time.time() - t
out = {"version": version("sdmetrics"), "seconds": seconds, "overall": rep.get_score(),
       "properties": rep.get_properties().to_dict("records")}
out["columns"] = {c: (TVComplement if c in cfg["categorical"] else KSComplement).compute(real[c], synth[c])
                  for c in real.columns}
out["pairs"] = {"|".join(p): ContingencySimilarity.compute(real[list(p)], synth[list(p)])
                for p in itertools.combinations(cfg["categorical"], 2)}
print(json.dumps(out, default=float))
"""

CONTENTS = [
    ("1-way fidelity (per column)", "TVD + KS, summaries, plots", "TVComplement / KSComplement"),
    ("2-way fidelity", "TVD of every pair, association heatmaps", "ContingencySimilarity / CorrelationSimilarity"),
    ("3-way fidelity", "TVD of sampled triples", "-"),
    ("utility (TSTR beside TRTR, ranking consistency)", "yes", "-"),
    ("privacy claim in words (epsilon, delta, neighbouring, mechanism)", "yes", "-"),
    ("ledger (every release on the dataset, spent and remaining)", "yes", "-"),
    ("DP error bounds per query (AIM)", "yes", "-"),
    ("consistency checks (release vs ledger, schema, table)", "yes", "-"),
    ("attacks with intervals and corrected verdicts", "5 attacks vs a holdout baseline",
     "separate privacy metrics, no verdicts"),
    ("empirical DP audit", "yes (canary, Clopper-Pearson)", "-"),
    ("public (DP-only) version", "--public", "-"),
    ("one self-contained file + JSON twin", "HTML + JSON", "Python object / plotly figures"),
]


def _tvd_without_missing(r: pd.Series, s: pd.Series) -> float:
    pr = r.dropna().astype(str).value_counts(normalize=True)
    ps = s.dropna().astype(str).value_counts(normalize=True)
    return 0.5 * float(pr.sub(ps, fill_value=0).abs().sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--epsilon", type=float, default=1.0)
    ap.add_argument("--out", default=str(HERE / "results" / "quality_crosscheck.md"))
    args = ap.parse_args()
    if not PEER.exists():
        raise SystemExit(f"{PEER} missing: run benchmarks/setup_peers.sh quality")
    data = resources.files("dpsynth") / "datasets"
    adult = pd.read_csv(data / "adult.csv.gz")
    schema = Schema.from_json(data / "adult.schema.json")
    real = adult.iloc[np.random.default_rng(0).permutation(len(adult))[:args.rows]].reset_index(drop=True)
    synth = MST(epsilon=args.epsilon).fit(real, schema).sample(len(real))
    t = time.time()
    fid = fidelity(real, synth, schema)
    ours_s = time.time() - t
    categorical = [c for c in schema.names if schema[c].kind == "categorical"]
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"real": str(Path(tmp) / "real.csv"), "synth": str(Path(tmp) / "synth.csv")}
        real.to_csv(paths["real"], index=False)
        synth.to_csv(paths["synth"], index=False)
        proc = subprocess.run([str(PEER), "-c", PEER_CODE, json.dumps({**paths, "categorical": categorical})],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    peer = json.loads(proc.stdout.strip().splitlines()[-1])

    rows, diffs = [], {"numeric": [], "categorical": [], "pairs": []}
    for c in fid["columns"]:
        name = c["column"]
        theirs = peer["columns"][name]
        if c["kind"] == "numeric":
            mine, what = 1 - c["ks"], "1 - KS"
            diffs["numeric"].append(abs(mine - theirs))
        else:
            has_missing = real[name].isna().any() or synth[name].isna().any()
            mine = 1 - (_tvd_without_missing(real[name], synth[name]) if has_missing else c["tvd"])
            what = "1 - TVD" + (" (missing dropped, as sdmetrics does)" if has_missing else "")
            diffs["categorical"].append(abs(mine - theirs))
        rows.append(f"| {name} | {what} | {mine:.6f} | {theirs:.6f} | {abs(mine - theirs):.1e} |")
    pair_tvd = {"|".join(m["columns"]): m["tvd"] for m in fid["marginals"]["2"]}
    for a, b in itertools.combinations(categorical, 2):
        key = f"{a}|{b}"
        diffs["pairs"].append(abs((1 - pair_tvd[key]) - peer["pairs"][key]))
    props = ", ".join(f"{p['Property']} {p['Score']:.4f}" for p in peer["properties"])
    lines = [
        "# dpsynth fidelity vs SDV sdmetrics' quality report",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs (shared), Python {platform.python_version()}; "
        f"sdmetrics {peer['version']} in benchmarks/.venv-quality. Pair: {args.rows} rows of the bundled Adult "
        f"(seed 0) and MST at epsilon {args.epsilon:g} (delta 1e-9) fitted on them, {len(synth)} synthetic rows.",
        "",
        "## Where both measure the same thing",
        "",
        f"- numeric columns, KSComplement vs 1 - KS: max |difference| {max(diffs['numeric']):.1e} "
        f"({len(diffs['numeric'])} columns)",
        f"- categorical columns, TVComplement vs 1 - TVD: max |difference| {max(diffs['categorical']):.1e} "
        f"({len(diffs['categorical'])} columns)",
        f"- categorical pairs, ContingencySimilarity vs 1 - 2-way TVD: max |difference| {max(diffs['pairs']):.1e} "
        f"({len(diffs['pairs'])} pairs)",
        "",
        "dpsynth keeps a missing value as its own cell in the 1-way TVD (a synthesizer that loses the missing "
        "share is penalised); sdmetrics drops missing values first. The rows marked below recompute dpsynth's "
        "figure sdmetrics' way to compare like with like.",
        "",
        "| column | dpsynth figure | dpsynth | sdmetrics | difference |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        f"sdmetrics overall quality score {peer['overall']:.4f} ({props}); {peer['seconds']:.1f} s. "
        f"dpsynth fidelity (1-, 2- and 200 sampled 3-way marginals, associations, summaries): {ours_s:.1f} s.",
        "",
        "## What each report contains",
        "",
        "| content | dpsynth report | sdmetrics QualityReport |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in CONTENTS],
        "",
        "mostlyai-qa was not run here. Its accuracy figures (`mostlyai.qa._accuracy`) compare 1-, 2- and",
        "3-way marginals of the data cut into 10 bins per column: the same kind of figure as dpsynth's TVD on",
        "the schema's cells. Neither peer states a privacy guarantee, a budget, or an attack verdict.",
    ]
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
