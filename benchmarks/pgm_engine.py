"""Benchmark of the graphical-model engine (``dpsynth.pgm``) against Private-PGM
(``mbi`` 2.0.0) and ``dpmm`` 0.1.9 on identical noisy measurements.

On Adult (``../shared/data/adult_pgm.csv``, 48,842 rows x 14 integer-coded
columns) it draws MST's measurements once -- every 1-way marginal and the 2-way
marginals of the maximum spanning tree of the true mutual information, at
total rho = 0.0149731 (epsilon 1, delta 1e-9) split 1/3 1-way, 1/3 selection
(spent by the real mechanism; here the tree is fixed so every system gets the
same measurements), 1/3 2-way, as mbi's ``mst.py`` scales them -- with a fixed
numpy seed (a benchmark, not a release: no privacy is claimed), saves them to
an .npz, and runs each system's driver (``benchmarks/peers/pgm_<system>.py``) in
its own fresh process and virtual environment: estimate, then sample 48,842
rows. Each system is timed inside its process (estimation + sampling, and its
imports separately); peak RSS is the process's own maximum right after
sampling, and the whole process's maximum (GNU time) is reported beside it.

Everything is then scored the same way here: the objective
``sum_i ||mu(C_i) - y_i||^2 / (2 sigma_i^2)`` on each model's own marginals,
the mean total-variation distance of the model's 2-way marginals (all 91
pairs) and of the sampled rows' 2-way marginals to the real data's.

    benchmarks/setup_peers.sh mbi && benchmarks/setup_peers.sh dpmm
    .venv/bin/python benchmarks/pgm_engine.py      # -> benchmarks/results/pgm_engine.md

A peer whose venv is missing is skipped and the table says so.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from dpsynth.io import atomic_write
from dpsynth.pgm import Domain, Measurement, estimate

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data"
RHO = 0.0149731
SEED = 20240601
PYTHONS = {
    "dpsynth": Path(sys.executable),
    "mbi": HERE / ".venv-mbi" / "bin" / "python",
    "dpmm": HERE / ".venv-dpmm" / "bin" / "python",
}


def load_adult() -> tuple[list[str], list[int], np.ndarray]:
    domain = json.loads((DATA / "adult_pgm.domain.json").read_text())
    names = list(domain)
    codes = pd.read_csv(DATA / "adult_pgm.csv")[names].to_numpy()
    return names, [int(domain[a]) for a in names], codes


def counts(codes: np.ndarray, names: list[str], sizes: list[int], attrs) -> np.ndarray:
    idx = [names.index(a) for a in attrs]
    flat = np.ravel_multi_index(tuple(codes[:, i] for i in idx), [sizes[i] for i in idx])
    return np.bincount(flat, minlength=int(np.prod([sizes[i] for i in idx]))).astype(np.float64)


def mst_measurements(names, sizes, codes):
    """All 1-way marginals and the true-mutual-information spanning tree's 2-way
    marginals with Gaussian noise scaled as mbi's mst.py does."""
    graph = nx.Graph()
    for a, b in itertools.combinations(names, 2):
        p = counts(codes, names, sizes, (a, b)).reshape(sizes[names.index(a)], -1) / len(codes)
        indep = p.sum(axis=1, keepdims=True) @ p.sum(axis=0, keepdims=True)
        nz = p > 0
        graph.add_edge(a, b, weight=float(np.sum(p[nz] * np.log(p[nz] / indep[nz]))))
    tree = sorted(tuple(sorted(e, key=names.index)) for e in nx.maximum_spanning_tree(graph).edges)
    sigma = np.sqrt(3.0 / (2.0 * RHO))        # each third of rho, split evenly within the group
    rng = np.random.default_rng(SEED)
    meas = []
    for group in ([(a,) for a in names], tree):
        s = sigma * np.sqrt(len(group))
        for cl in group:
            x = counts(codes, names, sizes, cl)
            meas.append((cl, x + rng.normal(0.0, s, x.size), float(s)))
    return meas


def save_measurements(path: Path, names, sizes, meas, rows: int) -> None:
    arrays = {"names": np.array(names), "sizes": np.array(sizes), "count": len(meas), "rows": rows}
    for k, (cl, y, s) in enumerate(meas):
        arrays[f"clique_{k}"] = np.array(cl)
        arrays[f"values_{k}"] = y
        arrays[f"sigma_{k}"] = s
    np.savez(path, **arrays)


def run_driver(system: str, meas_path: Path, out_dir: Path) -> dict:
    cmd = [str(PYTHONS[system]), str(HERE / "peers" / f"pgm_{system}.py"), str(meas_path), str(out_dir)]
    timing = out_dir.with_suffix(".time")
    if shutil.which("time") or Path("/usr/bin/time").exists():
        cmd = ["/usr/bin/time", "-f", "%e %M", "-o", str(timing)] + cmd
    env = dict(os.environ, PYTHONPATH=str(REPO))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{system} driver failed:\n{proc.stderr[-3000:]}")
    result = json.loads((out_dir / "result.json").read_text())
    result["process_wall"] = wall
    if timing.exists():
        result["process_rss_mb"] = float(timing.read_text().split()[-1]) / 1024.0
    return result


def tvd2(names, sizes, codes, get) -> float:
    """Mean total-variation distance over all attribute pairs of ``get(pair)``
    (counts, C order) to the real data's pair marginal."""
    out = []
    for pair in itertools.combinations(names, 2):
        true = counts(codes, names, sizes, pair)
        est = np.clip(np.asarray(get(pair), dtype=np.float64).ravel(), 0.0, None)
        out.append(0.5 * np.abs(true / true.sum() - est / est.sum()).sum())
    return float(np.mean(out))


def score(system_dir: Path, names, sizes, codes, meas) -> dict:
    marg = np.load(system_dir / "marginals.npz")
    rows = np.load(system_dir / "samples.npy")
    objective = sum(float(np.sum((marg["|".join(cl)] - y) ** 2)) / (2 * s * s) for cl, y, s in meas)
    return {
        "objective": objective,
        "tvd2_model": tvd2(names, sizes, codes, lambda p: marg["|".join(p)]),
        "tvd2_rows": tvd2(names, sizes, codes, lambda p: counts(rows, names, sizes, p)),
    }


def sampling_methods(names, sizes, codes, meas, seeds: int = 5) -> dict:
    """Mean 2-way TVD of dpsynth's rows to the data and to the model, per method."""
    domain = Domain(names, sizes)
    model = estimate(domain, [Measurement(c, y, s) for c, y, s in meas])
    pairs = {p: model.project(p).ravel() / model.total for p in itertools.combinations(names, 2)}
    out = {}
    for method in ("round", "sample"):
        vs_data, vs_model = [], []
        for seed in range(seeds):
            rows = model.sample(len(codes), np.random.default_rng(seed), method=method)
            vs_data.append(tvd2(names, sizes, codes, lambda p: counts(rows, names, sizes, p)))
            vs_model.append(float(np.mean([
                0.5 * np.abs(counts(rows, names, sizes, p) / len(rows) - q).sum() for p, q in pairs.items()])))
        out[method] = (float(np.mean(vs_data)), float(np.mean(vs_model)))
    return out


def stopping_curve(names, sizes, codes, meas, iterations=(50, 100, 200, 400, 800, 1600, 3200)) -> list:
    """Objective and model 2-way TVD of dpsynth's mirror descent stopped early."""
    domain = Domain(names, sizes)
    ms = [Measurement(c, y, s) for c, y, s in meas]
    out = []
    for it in iterations:
        model = estimate(domain, ms, solver="mirror", tol=0.0, max_iters=it)
        out.append((it, model.objective, tvd2(names, sizes, codes, model.project)))
    return out


def profile_dpsynth(names, sizes, codes, meas) -> str:
    domain = Domain(names, sizes)
    ms = [Measurement(c, y, s) for c, y, s in meas]
    prof = cProfile.Profile()
    prof.enable()
    model = estimate(domain, ms)
    model.sample(len(codes), np.random.default_rng(0))
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(8)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    return "\n".join(lines[start:start + 9])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default="dpsynth,mbi,dpmm")
    ap.add_argument("--repeats", type=int, default=5, help="runs of dpsynth (median reported)")
    ap.add_argument("--peer-repeats", type=int, default=1, help="runs of each peer (median reported)")
    ap.add_argument("--out", default=str(HERE / "results" / "pgm_engine.md"))
    args = ap.parse_args()
    systems = args.systems.split(",")
    names, sizes, codes = load_adult()
    meas = mst_measurements(names, sizes, codes)
    load_before = os.getloadavg()
    results, skipped = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        meas_path = Path(tmp) / "measurements.npz"
        save_measurements(meas_path, names, sizes, meas, len(codes))
        for system in systems:
            if not PYTHONS[system].exists():
                skipped.append(system)
                continue
            runs = []
            for r in range(args.repeats if system == "dpsynth" else args.peer_repeats):
                out_dir = Path(tmp) / f"{system}-{r}"
                res = run_driver(system, meas_path, out_dir)
                res.update(score(out_dir, names, sizes, codes, meas))
                runs.append(res)
                print(f"{system} run {r}: {res['t_estimate'] + res['t_sample']:.3f} s, "
                      f"{res['rss_mb']:.0f} MB, objective {res['objective']:.3f}", file=sys.stderr)
            results[system] = runs
    load_after = os.getloadavg()
    methods = sampling_methods(names, sizes, codes, meas)
    profile = profile_dpsynth(names, sizes, codes, meas)
    curve = stopping_curve(names, sizes, codes, meas)

    def med(system, key):
        return statistics.median(r[key] for r in results[system])

    table = []
    for system, runs in results.items():
        fit = statistics.median(r["t_estimate"] + r["t_sample"] for r in runs)
        table.append({
            "system": system, "version": runs[0]["version"], "note": runs[0]["note"], "runs": len(runs),
            "fit": fit, "est": med(system, "t_estimate"), "sample": med(system, "t_sample"),
            "import": med(system, "t_import"), "wall": med(system, "process_wall"),
            "rss": max(r["rss_mb"] for r in runs),
            "proc_rss": max((r.get("process_rss_mb", float("nan")) for r in runs)),
            "objective": runs[0]["objective"], "tvd_model": runs[0]["tvd2_model"],
            "tvd_rows": statistics.median(r["tvd2_rows"] for r in runs), "total": runs[0]["total"],
        })
    ours = next(t for t in table if t["system"] == "dpsynth")
    peers = [t for t in table if t["system"] != "dpsynth"]
    lines = ["# Graphical-model engine: dpsynth.pgm vs mbi 2.0.0 and dpmm 0.1.9", ""]
    if peers:
        fastest = min(peers, key=lambda t: t["fit"])
        leanest = min(peers, key=lambda t: t["rss"])
        best_tvd = min(peers, key=lambda t: t["tvd_model"])
        lines += [
            f"- **Speed** (estimation + sampling 48,842 rows): dpsynth {ours['fit']:.3f} s vs the fastest peer "
            f"({fastest['system']}) {fastest['fit']:.1f} s: **{fastest['fit'] / ours['fit']:.0f}x faster** "
            f"(target 20x); " + "; ".join(f"{t['system']} {t['fit'] / ours['fit']:.0f}x" for t in peers) + ".",
            f"- **Peak RSS** (whole process up to the end of sampling): dpsynth {ours['rss']:.0f} MB vs "
            + ", ".join(f"{t['system']} {t['rss']:.0f} MB" for t in peers)
            + f" ({leanest['rss'] / ours['rss']:.1f}x below the leanest peer).",
            f"- **2-way TVD of the fitted model** (mean over 91 pairs): dpsynth {ours['tvd_model']:.4f} vs "
            + ", ".join(f"{t['system']} {t['tvd_model']:.4f}" for t in peers)
            + f" (target: no higher than {best_tvd['system']}'s).",
            f"- **Objective** on each model's own marginals (lower is better fitted; same measurements): "
            f"dpsynth {ours['objective']:.3f}, "
            + ", ".join(f"{t['system']} {t['objective']:.3f}" for t in peers) + ".",
        ]
    if skipped:
        lines.append(f"- Skipped (venv missing; run benchmarks/setup_peers.sh): {', '.join(skipped)}.")
    lines += [
        "",
        f"Machine: {machine()}. Load average (1/5/15 min) {load_before[0]:.1f}/{load_before[1]:.1f}/"
        f"{load_before[2]:.1f} before and {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} after "
        "the runs: the machine is shared, so times are of one moment; every system ran in the same window "
        f"(dpsynth {args.repeats} times, each peer {args.peer_repeats}; medians). Measurements: 14 1-way and "
        f"13 2-way marginals (true-mutual-information spanning tree), rho = {RHO} (epsilon 1, delta 1e-9), "
        f"numpy seed {SEED}, no domain compression; every system estimates the total itself.",
        "",
        "| system | est + sample (s) | estimation (s) | sampling (s) | imports (s) | process wall (s) "
        "| peak RSS to sampling (MB) | peak RSS whole process (MB) | objective | 2-way TVD model | "
        "2-way TVD rows | total |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        lines.append(
            f"| {t['system']} {t['version']} | {t['fit']:.3f} | {t['est']:.3f} | {t['sample']:.3f} | "
            f"{t['import']:.2f} | {t['wall']:.1f} | {t['rss']:.0f} | {t['proc_rss']:.0f} | {t['objective']:.3f} | "
            f"{t['tvd_model']:.4f} | {t['tvd_rows']:.4f} | {t['total']:.1f} |")
    lines += ["", "How each ran: " + "; ".join(f"{t['system']}: {t['note']}" for t in table) + ". "
              "The whole-process RSS includes scoring all 91 pair marginals after sampling.", "",
              "Notes: the peers run the iteration counts their MST mechanisms use (10,000 mirror-descent "
              "steps with a line search); mbi's time includes its JAX compilation, and it computes in "
              "float32 (its default), which also limits how far its objective can fall. dpsynth solves "
              "MST's problem exactly: every junction-tree clique is measured, so the quadratic programme "
              "over the clique marginals is solved through its Lagrange dual (L-BFGS, no exp/log, stops on "
              "a 1e-10 relative change of the dual objective); its objective is the optimum up to that "
              "tolerance (the brute-force tests check the optimum on small domains). The TVDs here are "
              "higher than in MST runs with domain compression (mbi's mst.py merges rare categories first): "
              "these measurements are on the full domain.", ""]
    lines += [
        "## Sampling method (dpsynth, same model, 5 seeds)",
        "",
        "| method | 2-way TVD rows vs data | 2-way TVD rows vs model |",
        "|---|---|---|",
    ] + [f"| {m} | {a:.4f} | {b:.4f} |" for m, (a, b) in methods.items()] + [
        "",
        "`round` (systematic sampling within each separator group) removes the multinomial noise of "
        "i.i.d. draws, so its rows sit closer to the model and to the data; it is the default.",
        "",
        "## Fit versus accuracy: mirror descent stopped early (dpsynth, same measurements)",
        "",
        "| iterations | objective | 2-way TVD model |",
        "|---|---|---|",
    ] + [f"| {it} | {f:.1f} | {tv:.4f} |" for it, f, tv in curve] + [
        f"| optimum (dual) | {ours['objective']:.1f} | {ours['tvd_model']:.4f} |",
        "",
        "The 2-way TVD is not monotone in the fit: a model stopped on the way to the optimum is shrunk "
        "toward the uniform starting point, which keeps mass off cells whose noisy counts are positive "
        "by chance, and it can beat the optimum's TVD. A peer that stops short of the optimum (a higher "
        "objective above) can therefore show a lower TVD than the exact maximum-likelihood model. "
        "dpsynth returns the optimum, as Private-PGM specifies; choosing a regulariser (or an early stop) "
        "for accuracy is a modelling decision left to the synthesizers.",
        "",
        "## Where dpsynth's time goes (cProfile, estimation + sampling, in-process)",
        "",
        "```",
        profile,
        "```",
        "",
    ]
    with atomic_write(args.out) as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
