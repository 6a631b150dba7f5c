#!/usr/bin/env python
"""dpsynth against its peers: error, time and memory in the same run, with plots.

    python benchmarks/run.py --quick         # adult_pgm + titanic_aim, epsilon 1, 1 repetition
    python benchmarks/run.py                 # every dataset, epsilon 0.1/1/10, 5 repetitions
    python benchmarks/run.py --render        # only re-render RESULTS.md and the plots

Each (dataset, system, epsilon, repetition) runs in a fresh process of the
system's own virtual environment (``benchmarks/.venv-<peer>``, made by
``benchmarks/setup_bench.sh``) through ``benchmarks/peers/run_<system>.py``.
The parent measures the process's wall time and peak RSS (``/usr/bin/time -v``'s
maxrss, or the summed RSS of its session polled every 0.1 s if larger), kills it
past ``--timeout`` or ``--max-rss-gb`` and records that as the outcome,
then scores the synthetic codes with ``benchmarks/metrics.py``. Every
run is appended to ``results/runs.jsonl`` at once; a run whose key is already
there is skipped (so an interrupted full run resumes), unless ``--rerun``; so
are the later repetitions of a (dataset, system, epsilon) cell once one of its
runs hit the time or memory limit (another would only measure the limit again).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_data  # noqa: E402
import metrics  # noqa: E402
import report  # noqa: E402

RESULTS = HERE / "results"
WORK = HERE / ".cache" / "runs"
EPSILONS = (0.1, 1.0, 10.0)
DELTA = 1e-9
REPS = 5
QUICK_DATASETS = ("adult_pgm", "titanic_aim")


@dataclass(frozen=True)
class System:
    name: str
    venv: str | None  # benchmarks/.venv-<venv> (dpsynth too: a core-only install); None: this interpreter
    runner: str
    method: str
    quick: tuple[str, ...] = QUICK_DATASETS  # the datasets it runs on under --quick
    why_not_quick: str = ""

    def python(self) -> Path:
        return Path(sys.executable) if self.venv is None else HERE / f".venv-{self.venv}" / "bin" / "python"


_SLOW_AIM = ("the peers' AIM takes minutes even on titanic_aim (here: mbi 449 s, dpmm 392 s, SmartNoise 197 s) "
             "and over 20 on adult (dpmm 1,360 s in the synthesizers issue; mbi crashed there at ~450 s)")
_FULL_ONLY = "PrivBayes and MWEM meet their peers (dpmm, SmartNoise) only in the full run"
_PEER_MST = ("adult_pgm",)  # quick: the peers' MST on adult only (titanic_aim adds ~6 minutes)
_PEER_MST_WHY = "the peers' MST runs on adult_pgm only (on titanic_aim they add about 6 minutes)"
SYSTEMS: dict[str, System] = {s.name: s for s in [
    System("dpsynth-mst", "dpsynth", "run_dpsynth.py", "mst"),
    System("dpsynth-aim", "dpsynth", "run_dpsynth.py", "aim"),
    System("dpsynth-independent", "dpsynth", "run_dpsynth.py", "independent"),
    System("dpsynth-privbayes", "dpsynth", "run_dpsynth.py", "privbayes", (), _FULL_ONLY),
    System("dpsynth-mwem", "dpsynth", "run_dpsynth.py", "mwem", (), _FULL_ONLY),
    System("mbi-mst", "mbi", "run_mbi.py", "mst", _PEER_MST, _PEER_MST_WHY),
    System("mbi-aim", "mbi", "run_mbi.py", "aim", (), _SLOW_AIM),
    System("smartnoise-mst", "smartnoise", "run_smartnoise.py", "mst", _PEER_MST, _PEER_MST_WHY),
    System("smartnoise-aim", "smartnoise", "run_smartnoise.py", "aim", (), _SLOW_AIM),
    System("smartnoise-mwem", "smartnoise", "run_smartnoise.py", "mwem", (),
           "SmartNoise MWEM's default histogram spans the whole domain: 16 GB and 9+ minutes on titanic_aim"),
    System("dpmm-mst", "dpmm", "run_dpmm.py", "mst", _PEER_MST, _PEER_MST_WHY),
    System("dpmm-aim", "dpmm", "run_dpmm.py", "aim", (), _SLOW_AIM),
    System("dpmm-privbayes", "dpmm", "run_dpmm.py", "privbayes", (),
           "PrivBayes is neither MST nor AIM and adds about 2 minutes per dataset"),
    System("bootstrap", None, "run_baseline.py", "bootstrap"),
    System("independent-exact", None, "run_baseline.py", "independent"),
]}
NON_PRIVATE = ("bootstrap", "independent-exact")
NOTES = {
    "dpsynth": "library defaults; secure path (OpenDP samplers, in-memory ledger of exactly (ε, δ)); "
               "releases a DP row count and samples that many rows. Its AIM's default workload is every pair "
               "and every triple up to 32 columns (the peers' AIM: pairs only, Private-PGM's script default), "
               "so it selects on the 3-way marginals the benchmark scores; with pairs only it scored 0.0687 / "
               "0.0400 on adult at ε 1 / 10 (5 and 3 fits) against 0.0691 / 0.0365. "
               "Its AIM starts from 4 rounds per column where Private-PGM's starts from the paper's 16: "
               "the first one-way measurements get 22.5% of ρ "
               "instead of 5.6%, and fewer, less noisy marginals follow. That choice decides adult at ε 0.1: "
               "20 fits each outside the benchmark (git 1ed6ee7) give 3-way TVD 0.171 ± 0.003 at 4 rounds per "
               "column (10.9 adaptive rounds on average), 0.166 ± 0.005 at 8 and 0.166 ± 0.005 at 16 (17.7 "
               "rounds), while running each round's estimate to convergence (0.171) "
               "or giving only the adaptive rounds the 16-per-column size (0.173) changes nothing. "
               "On titanic_aim at ε 0.1 the same switch costs 0.029 "
               "at 8 and 0.091 at 16 (0.680 and 0.742 against 0.651), and 4 was lower on 8 of 12 (dataset, ε) "
               "pairs when it was chosen (dpsynth/synthesizers/aim.py). A second set (git 1b9ed1c, same AIM): "
               "at 8, 0.161 ± 0.004 over 20 on adult at 0.1 and 0.157 ± 0.002 over 50 with a pairs-only "
               "workload, but 0.0716 ± 0.001 at ε 1 (10 fits; 4 gives 0.0691, dpmm 0.0697), 0.138 against "
               "0.133 on titanic_aim at 10 and 0.041 against 0.038 on nltcs at 0.1 (pairs only: 0.051); a "
               "one-way share as at 8 or 16 with 4's rounds gives 0.168-0.169 (30 fits each). Its MST on "
               "adult at ε 1 is above mbi's by estimation, not measurement: on the same 20 sets of dpsynth's "
               "measurements (outside the benchmark, git fb800e2) Private-PGM's estimator (10,000 float32 "
               "mirror-descent steps, short of the optimum) scores 0.0928 against dpsynth's exact optimum's "
               "0.0934; stopping at 100 steps gives 0.0915 at ε 1 but 0.0883 against 0.0837 at ε 10, so "
               "dpsynth keeps the optimum.",
    "mbi": "Private-PGM `mbi` 2.0.0 with its repository's `mechanisms/mst.py` and `aim.py`, vendored in "
           "`peers/mbi_mechanisms/` with the patches its NOTICE.md lists (renamed library names, no pandas); "
           "the scripts' defaults (MST: 10,000 mirror-descent iterations; AIM: max_model_size 80 MB, "
           "1,000 iterations, all 2-way marginals of at most 10,000 cells); JAX in float32 as shipped. Its AIM "
           "JIT-compiles an XLA executable per clique shape and, at Linux's default vm.max_map_count "
           "(65,530), dies with 'LLVM compilation error: Cannot allocate memory' with RAM to spare; runs "
           "that record `vm_max_map_count` in their `limits` (runs.jsonl) had it raised to 1,048,576.",
    "smartnoise": "SmartNoise synth 1.0.8 as shipped (library defaults), handed a transformer fitted on the "
                  "public domain so it spends nothing on preprocessing. It releases the exact row count (model "
                  "total and sample size). MST and AIM run on `mbi` 1.1.0, which it pins and whose sampler "
                  "loses correlations (the synthesizers issue measured its model at 2-way TVD 0.042 on adult at "
                  "ε 1 but its sampled rows at 0.130): that is why its error is high. The same sampler is why "
                  "its MST beats every other MST on nltcs: there its model is at 2-way TVD 0.087 like the others' "
                  "but its rows at 0.068. The tree leaves the 105 pairs outside it at a mean correlation of 0.125 "
                  "(the data: 0.389) and the sampler inflates them to 0.476, correlations the model does not hold "
                  "that happen to land nearer the data (one fit at ε 10). MWEM is pure ε-DP (δ unused).",
    "dpmm": "dpmm 0.1.9 pipelines with library defaults and its DP binning disabled (the public domain is "
            "passed in); samples as many rows as the real table has. Its PrivBayes converts (ε/2, δ) to ρ "
            "for its Gaussian measurements (`cdp_rho` in `models/priv_bayes.py`), so it uses δ too.",
    "bootstrap": "non-private: the real table resampled with replacement: the error of an i.i.d. sample of "
                 "the real size. It floors i.i.d. samplers; dpsynth draws rows by systematic sampling (a "
                 "cell's count is within one of its expected count given the columns drawn before), so at large ε "
                 "its low-order TVD can sit below it.",
    "independent-exact": "non-private: every column drawn from its exact 1-way marginal.",
}


def dpsynth_revision() -> str:
    """The last commit that changed dpsynth/ (the code that ran; commits elsewhere, such as this
    harness or the docs, do not change it), with ``-dirty`` when dpsynth/ has uncommitted changes."""
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(HERE.parent), *a], capture_output=True, text=True).stdout.strip()

    commit = git("log", "-1", "--format=%h", "--", "dpsynth") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--", "dpsynth") else "")


def max_map_count() -> int | None:
    """Linux's per-process limit on memory mappings (None where there is no /proc)."""
    try:
        return int(Path("/proc/sys/vm/max_map_count").read_text())
    except (OSError, ValueError):
        return None


def warn_map_count(systems: set[str]) -> None:
    """Private-PGM (JAX on CPU) JIT-compiles an XLA executable per clique shape; its AIM
    passes Linux's default limit of 65,530 mappings and dies with "LLVM compilation
    error: Cannot allocate memory" with RAM to spare. Say so before such a run."""
    limit = max_map_count()
    if limit is not None and limit < 2**18 and any(s.startswith("mbi-") for s in systems):
        print(f"run.py: vm.max_map_count is {limit:,}: mbi's AIM may fail with 'LLVM compilation error: "
              "Cannot allocate memory'; as root: sysctl -w vm.max_map_count=1048576", file=sys.stderr)


def cell_key(dataset: str, system: str, epsilon: float) -> str:
    return f"{dataset}|{system}|{epsilon:g}"


def run_key(dataset: str, system: str, epsilon: float, rep: int) -> str:
    return f"{cell_key(dataset, system, epsilon)}|{rep}"


def load_runs(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_run(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def is_done(record: dict | None, timeout: float, max_rss_gb: float) -> bool:
    """A recorded run counts as done unless it was cut short by a smaller limit than now."""
    if record is None:
        return False
    if report.stopped_at_limit(record):
        return hit_limits(record, timeout, max_rss_gb)
    return True


def hit_limits(record: dict, timeout: float, max_rss_gb: float) -> bool:
    """The run was cut short by limits at least as large as these."""
    if record["status"] == "timeout":
        return record["limits"]["timeout_s"] >= timeout
    if record["status"] == "memory":
        return record["limits"]["max_rss_gb"] >= max_rss_gb
    return False


def _session_rss(sid: int) -> int:
    """Summed resident bytes of every process in session ``sid`` (Linux /proc)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[3]) == sid:  # field 6 of stat: session id
                total += int(Path(entry.path, "statm").read_text().split()[1]) * page
        except (OSError, ValueError, IndexError):
            continue
    return total


GNU_TIME = Path("/usr/bin/time")


def _gnu_time_maxrss(path: Path) -> int:
    """Bytes of "Maximum resident set size" in a ``/usr/bin/time -v`` report (0 if absent)."""
    if not path.exists():
        return 0
    for line in path.read_text(errors="replace").splitlines():
        if "Maximum resident set size" in line:
            return int(line.rsplit(":", 1)[1]) * 1024
    return 0


def measure_process(cmd: list[str], log: Path, timeout: float, max_rss: float) -> dict:
    """Run ``cmd`` in a new session; return status, wall seconds, peak RSS (MB), exit code.

    The peak is the larger of GNU time's maxrss for ``cmd`` and the polled RSS sum of the
    session. (``wait4`` on our own child would not do: a child forked from this process
    inherits its resident size in maxrss.)
    """
    time_report = log.with_suffix(".time")
    time_report.unlink(missing_ok=True)
    if GNU_TIME.exists():
        cmd = [str(GNU_TIME), "-v", "-o", str(time_report), *cmd]
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=HERE / "peers")
    peak, limit_hit = 0, None
    try:
        while True:
            pid, wstatus = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _session_rss(proc.pid))
            elapsed = time.perf_counter() - start
            if elapsed > timeout:
                limit_hit = "timeout"
            elif peak > max_rss:
                limit_hit = "memory"
            if limit_hit:
                os.killpg(proc.pid, signal.SIGKILL)
                _, wstatus = os.waitpid(proc.pid, 0)
                break
            time.sleep(0.1)
    finally:  # the run's own session outlives us: its orphans, or all of it on Ctrl-C or SIGTERM (see main)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.returncode = os.waitstatus_to_exitcode(wstatus)  # reaped here, not by Popen
    wall = time.perf_counter() - start
    peak = max(peak, _gnu_time_maxrss(time_report))
    if limit_hit:
        status = limit_hit
    else:
        status = "ok" if proc.returncode == 0 else "failed"
    return {"status": status, "wall_s": wall, "peak_rss_mb": peak / 2**20, "exit_code": proc.returncode}


def _tail(path: Path, lines: int = 6) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return "\n".join(line[:300] for line in text[-lines:])


def run_files(key: str) -> tuple[Path, Path]:
    """The synthetic-codes file and the log of the run ``key``, one pair per key. (Not
    ``Path.with_suffix``: it would take ".1|4" of "...|0.1|4" for a suffix, and every
    repetition at epsilon 0.1 would share one file.)"""
    stem = key.replace("|", "_")
    return WORK / f"{stem}.npy", WORK / f"{stem}.log"


def run_one(data: bench_data.Prepared, system: System, epsilon: float, rep: int, *, delta: float,
            timeout: float, max_rss_gb: float) -> dict:
    """One fresh-process run, measured and scored; the record for runs.jsonl."""
    WORK.mkdir(parents=True, exist_ok=True)
    key = run_key(data.name, system.name, epsilon, rep)
    out, log = run_files(key)
    for stale in (out, out.with_suffix(".json")):
        stale.unlink(missing_ok=True)
    record = {
        "key": key, "dataset": data.name, "system": system.name, "epsilon": epsilon, "delta": delta,
        "rep": rep, "seed": rep, "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "limits": {"timeout_s": timeout, "max_rss_gb": max_rss_gb, "vm_max_map_count": max_map_count()},
        "host": report.machine_id(),
    }
    revision = dpsynth_revision() if system.runner == "run_dpsynth.py" else None   # before the run, not after
    cmd = [str(system.python()), "-W", "ignore", system.runner, "--codes", str(data.codes_path), "--domain",
           str(data.domain_path), "--method", system.method, "--epsilon", repr(epsilon), "--delta", repr(delta),
           "--seed", str(rep), "--out", str(out)]
    record.update(measure_process(cmd, log, timeout, max_rss_gb * 2**30))
    if record["status"] == "ok":
        meta = json.loads(out.with_suffix(".json").read_text())
        record.update({k: meta.get(k) for k in ("version", "settings", "notes")})
        if system.runner == "run_dpsynth.py":
            record["version"] += f" (git {revision})"
        record["phase_s"] = meta["seconds"]
        record["fit_s"] = sum(meta["seconds"].values())
        synth = np.load(out)
        real = data.codes()
        sizes = np.asarray(data.sizes)
        if synth.ndim != 2 or synth.shape[1] != len(sizes) or (synth < 0).any() or (synth >= sizes).any():
            record.update(status="failed", error=f"invalid output: shape {synth.shape} or codes outside the domain")
        else:
            record["rows_real"], record["rows_synth"] = len(real), len(synth)
            record.update(metrics.score(real, synth, data.names, data.sizes, data.target))
        out.unlink()
    else:
        limit = {"timeout": f"killed after {timeout:g} s", "memory": f"killed past {max_rss_gb:g} GB RSS"}
        record["error"] = limit.get(record["status"], _tail(log))
    return record


def plan(args: argparse.Namespace) -> list[tuple[str, str, float, int]]:
    """(dataset, system, epsilon, repetition) tuples the arguments ask for."""
    if args.quick:
        datasets = args.datasets or list(QUICK_DATASETS)
        systems = args.systems or list(SYSTEMS)
        epsilons, reps = args.epsilons or [1.0], args.reps or 1
        wanted = lambda d, s: bool(args.systems) or d in SYSTEMS[s].quick  # noqa: E731
    else:
        datasets = args.datasets or list(bench_data.DATASETS)
        systems = args.systems or list(SYSTEMS)
        epsilons, reps = args.epsilons or list(EPSILONS), args.reps or REPS
        wanted = lambda d, s: True  # noqa: E731
    return [(d, s, e, r) for d in datasets for e in epsilons for r in range(reps) for s in systems if wanted(d, s)]


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so a killed ``run.py`` unwinds through ``measure_process``,
    which kills the run it measures (in its own session, the signal would not reach it)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="adult_pgm + titanic_aim, epsilon 1, 1 repetition; "
                   "the peers' MST on adult_pgm only; the peers' AIM, MWEM and PrivBayes left out")
    p.add_argument("--datasets", nargs="+", choices=list(bench_data.DATASETS))
    p.add_argument("--systems", nargs="+", choices=list(SYSTEMS))
    p.add_argument("--epsilons", nargs="+", type=float)
    p.add_argument("--reps", type=int, help="repetitions (seeds 0..reps-1)")
    p.add_argument("--delta", type=float, default=DELTA)
    p.add_argument("--timeout", type=float, default=1800.0, help="per-run wall limit in seconds (default 1800)")
    p.add_argument("--max-rss-gb", type=float, default=8.0,
                   help="kill a run whose processes hold more than this resident memory (default 8 GB)")
    p.add_argument("--rerun", action="store_true", help="run again even if runs.jsonl has the key")
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the keys whose latest run did not finish (failed, or hit the limits: after a "
                        "fix, or when a busy machine slowed it); the earlier record stays in runs.jsonl")
    p.add_argument("--render", action="store_true", help="only render RESULTS.md and the plots")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of runs.jsonl, RESULTS.md, plots/")
    args = p.parse_args(argv)
    runs_path = args.results / "runs.jsonl"
    exit_on_sigterm()

    if not args.render:
        latest = {r["key"]: r for r in load_runs(runs_path)}
        todo = [t for t in plan(args) if args.rerun
                or not is_done(latest.get(run_key(*t)), args.timeout, args.max_rss_gb)
                or args.retry_failed and latest[run_key(*t)]["status"] != "ok"]
        missing = sorted({str(SYSTEMS[s].python()) for _, s, _, _ in todo if not SYSTEMS[s].python().exists()})
        if missing:
            print(f"run.py: no {', '.join(missing)}: run benchmarks/setup_bench.sh first", file=sys.stderr)
            return 2
        warn_map_count({s for _, s, _, _ in todo})
        print(f"{len(todo)} runs to do, appended to {runs_path}", file=sys.stderr)
        prepared: dict[str, bench_data.Prepared] = {}
        to_run = {run_key(*t) for t in todo}  # a key run again (--retry-failed) does not cut its own cell short
        cut_short = {cell_key(r["dataset"], r["system"], r["epsilon"]) for r in latest.values()
                     if hit_limits(r, args.timeout, args.max_rss_gb) and r["key"] not in to_run}
        for i, (dataset, system, epsilon, rep) in enumerate(todo, 1):
            cell = cell_key(dataset, system, epsilon)
            if cell in cut_short and not args.rerun:
                print(f"[{i}/{len(todo)}] {cell}|{rep}: not run, an earlier repetition hit the limits",
                      file=sys.stderr)
                continue
            data = prepared.setdefault(dataset, bench_data.prepare(dataset))
            record = run_one(data, SYSTEMS[system], epsilon, rep, delta=args.delta, timeout=args.timeout,
                             max_rss_gb=args.max_rss_gb)
            append_run(record, runs_path)
            if hit_limits(record, args.timeout, args.max_rss_gb):
                cut_short.add(cell)
            tvd = " ".join(f"{record[k]:.3f}" for k in ("tvd1", "tvd2", "tvd3") if k in record)
            print(f"[{i}/{len(todo)}] {record['key']}: {record['status']} {record.get('wall_s', 0):.1f} s "
                  f"{record.get('peak_rss_mb', 0):.0f} MB {tvd}", file=sys.stderr)
    grid = (report.Grid(tuple(args.datasets or QUICK_DATASETS), (1.0,), 1, quick=True) if args.quick
            else report.Grid(tuple(bench_data.DATASETS), EPSILONS, REPS))
    report.render(load_runs(runs_path), args.results, SYSTEMS, NON_PRIVATE, NOTES, grid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
