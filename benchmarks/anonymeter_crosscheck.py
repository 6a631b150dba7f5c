"""Cross-check dpsynth's Anonymeter-style attacks against the ``anonymeter`` package.

Both run on the same UCI Adult split (``--rows`` rows shuffled with ``--seed`` and
cut into TRAIN / HOLDOUT / OTHER thirds), for SYNTH = a copy of TRAIN (leaks
everything) and SYNTH = OTHER (leaks nothing), with matched settings:
singling out with 4-column multivariate predicates, linkability on the same two
column halves with one neighbour, and attribute inference of a few secrets from
all other columns. The table lists each tool's success rate on TRAIN records
and on the HOLDOUT (control) records.

``anonymeter`` lives in its own virtual environment, never in the package's:

    benchmarks/setup_peers.sh anonymeter
    .venv/bin/python benchmarks/anonymeter_crosscheck.py

Writes ``benchmarks/results/anonymeter_crosscheck.md`` (with the machine noted).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dpsynth.attacks import run_attacks

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("DPSYNTH_BENCH_DATA", HERE.parent.parent / "shared" / "data")) / "adult.csv"
PEER = HERE / ".venv-anonymeter" / "bin" / "python"
SECRETS = ("income", "occupation", "age")

# Runs inside the anonymeter venv: argv = json config; prints one JSON line.
PEER_CODE = r"""
import json, sys, time, warnings
import pandas as pd
from anonymeter.evaluators import InferenceEvaluator, LinkabilityEvaluator, SinglingOutEvaluator
warnings.filterwarnings("ignore")
cfg = json.loads(sys.argv[1])
ori, control, syn = (pd.read_csv(cfg[k]) for k in ("train", "holdout", "synth"))
from importlib.metadata import version
out = {"version": version("anonymeter")}
def rates(res):
    return {"train": res.attack_rate.value, "holdout": res.control_rate.value,
            "n_train_success": res.n_success, "n_control_success": res.n_control, "n": res.n_attacks_ori}
t = time.time()
so = SinglingOutEvaluator(ori=ori, syn=syn, control=control, n_attacks=cfg["n_predicates"], n_cols=4,
                          max_attempts=cfg["max_attempts"]).evaluate(mode="multivariate")
out["singling_out"] = rates(so.results())
lk = LinkabilityEvaluator(ori=ori, syn=syn, control=control, n_attacks=cfg["n_targets"],
                          aux_cols=(cfg["columns_a"], cfg["columns_b"]), n_neighbors=1).evaluate(n_jobs=1)
out["linkability"] = rates(lk.results())
for secret in cfg["secrets"]:
    aux = [c for c in ori.columns if c != secret]
    # anonymeter 1.1 defaults to exact matching (regression=False); match dpsynth's 5% tolerance on numbers
    ev = InferenceEvaluator(ori=ori, syn=syn, control=control, aux_cols=aux, secret=secret,
                            regression=pd.api.types.is_numeric_dtype(ori[secret]),
                            n_attacks=cfg["n_targets"]).evaluate(n_jobs=1)
    out["inference:" + secret] = rates(ev.results())
out["seconds"] = time.time() - t
print(json.dumps(out, default=float))
"""


def ours(train, holdout, synth, cols_a, cols_b, n_targets, n_predicates) -> dict:
    t = time.time()
    kw = dict(n_targets=n_targets, seed=0)
    res = run_attacks(train, holdout, synth, attacks=["singling_out", "linkability"], options={
        "singling_out": {"n_predicates": n_predicates, "n_cols": 4},
        "linkability": {"columns_a": cols_a, "columns_b": cols_b, "n_neighbors": 1}}, **kw)
    out = {a["name"]: {"train": a["success_rate"], "holdout": a["baseline_rate"]} for a in res["attacks"]}
    for secret in SECRETS:
        (a,) = run_attacks(train, holdout, synth, attacks=["attribute_inference"],
                           options={"attribute_inference": {"secrets": [secret]}}, **kw)["attacks"]
        out["inference:" + secret] = {"train": a["success_rate"], "holdout": a["baseline_rate"]}
    out["seconds"] = time.time() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=15_000, help="rows of Adult used (split in thirds)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--predicates", type=int, default=300)
    ap.add_argument("--out", default=str(HERE / "results" / "anonymeter_crosscheck.md"))
    args = ap.parse_args()
    if not PEER.exists():
        raise SystemExit(f"{PEER} missing: run benchmarks/setup_peers.sh anonymeter")
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found; set DPSYNTH_BENCH_DATA")
    df = pd.read_csv(DATA)
    idx = np.random.default_rng(args.seed).permutation(len(df))[:args.rows]
    n = args.rows // 3
    train, holdout, other = (df.iloc[idx[k * n:(k + 1) * n]].reset_index(drop=True) for k in range(3))
    cols = list(df.columns)
    order = np.random.default_rng(args.seed).permutation(len(cols))
    cols_a = [cols[j] for j in sorted(order[:len(cols) // 2])]
    cols_b = [cols[j] for j in sorted(order[len(cols) // 2:])]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for name, frame in (("train", train), ("holdout", holdout), ("other", other)):
            paths[name] = str(Path(tmp) / f"{name}.csv")
            frame.to_csv(paths[name], index=False)
        for case, synth_name in (("copy of TRAIN", "train"), ("independent (OTHER)", "other")):
            cfg = {"train": paths["train"], "holdout": paths["holdout"], "synth": paths[synth_name],
                   "n_targets": args.targets, "n_predicates": args.predicates, "max_attempts": 200 * args.predicates,
                   "columns_a": cols_a, "columns_b": cols_b, "secrets": list(SECRETS)}
            proc = subprocess.run([str(PEER), "-c", PEER_CODE, json.dumps(cfg)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            peer = json.loads(proc.stdout.strip().splitlines()[-1])
            mine = ours(train, holdout, {"train": train, "other": other}[synth_name], cols_a, cols_b,
                        args.targets, args.predicates)
            results[case] = (mine, peer)
            print(case, json.dumps(mine), json.dumps(peer), flush=True)
    version = next(iter(results.values()))[1]["version"]
    lines = [
        "# dpsynth attacks vs the anonymeter package",
        "",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}. "
        f"anonymeter {version} in benchmarks/.venv-anonymeter. Adult: {args.rows} rows (seed {args.seed}) in "
        f"thirds of {n}; {args.targets} targets, {args.predicates} singling-out predicates (4 columns), "
        f"linkability halves {cols_a} / {cols_b}, one neighbour.",
        "",
        "Success rates on TRAIN records / on HOLDOUT (control) records. anonymeter reports Wilson-centred "
        "rates, and its singling out drops duplicate rows and samples predicates differently, so only "
        "the pattern (copy: TRAIN far above HOLDOUT; independent: equal within noise) should agree. "
        "anonymeter 1.1 matches numeric secrets exactly unless `regression=True`; it is passed for numeric "
        "secrets here to match dpsynth's 5% relative tolerance.",
        "",
        "| SYNTH | attack | dpsynth TRAIN | dpsynth HOLDOUT | anonymeter TRAIN | anonymeter HOLDOUT |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case, (mine, peer) in results.items():
        for key in ["singling_out", "linkability", *("inference:" + s for s in SECRETS)]:
            lines.append(f"| {case} | {key} | {mine[key]['train']:.3f} | {mine[key]['holdout']:.3f} | "
                         f"{peer[key]['train']:.3f} | {peer[key]['holdout']:.3f} |")
        lines.append(f"| {case} | seconds | {mine['seconds']:.1f} | | {peer['seconds']:.1f} | |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
