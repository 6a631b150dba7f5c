"""Scale benchmark: counting engines and MST end to end on 10^5..10^7 rows x 20 columns.

Data: a model fitted (MST, research RNG, epsilon 10) on the first 20 columns of
the Diabetes 130-US hospitals table (strings and numbers, realistic
correlations) is sampled to Parquet at each row count; Adult is scaled to
2 x 10^6 rows the same way. Generated once into benchmarks/.cache/scale/.

Each case runs in a fresh process under ``/usr/bin/time -v`` (peak RSS):

* ``count``: the counting step alone: open the engine, the first pass (read +
  encode; the file engine also writes its code cache), a pass of the 20 one-way
  marginals, a pass of all 190 pairs. Rows per second are set against the
  bandwidth bound: bytes of encoded columns (the file engine's cache, d bytes
  per row) read per second from the page cache.
* ``mst``: ``MST(epsilon=1).fit(counter)`` then ``sample_to`` the same number of
  rows as Parquet: what ``dpsynth synth DATA --engine E`` does.

Usage: ``python benchmarks/scale.py [--rows 1e5,1e6,1e7] [--engines memory,file,spark]
[--adult-rows 2e6] [--memory-max-rows 1e6]``; writes benchmarks/results/scale.md,
scale.json and scale.png. The machine is shared: run it once, at a quiet time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache" / "scale"
RESULTS = HERE / "results"
N_COLUMNS = 20
SPARK_MASTER = "local[2]"
NOTES = "## Reading the numbers"


# ----------------------------------------------------------------------------- data

def diabetes_schema_and_data():
    from bench_data import DATASETS, schema_path

    from dpsynth.domain import Schema

    spec = json.loads(schema_path("diabetes130").read_text())
    names = list(spec["columns"])[:N_COLUMNS]
    spec["columns"] = {k: spec["columns"][k] for k in names}
    spec["drafted_from_data"] = False  # benchmark only: see bench_data's note
    return Schema.from_json(spec), DATASETS["diabetes130"].read()[names]


def adult_schema_and_data():
    import pandas as pd

    from dpsynth.domain import Schema

    return (Schema.from_json(ROOT / "dpsynth" / "datasets" / "adult.schema.json"),
            pd.read_csv(ROOT.parent / "shared" / "data" / "adult.csv"))


def generate(name: str, rows: list[int]) -> dict[int, Path]:
    """Parquet files of ``rows`` synthetic rows each, sampled from a model of the real table."""
    from dpsynth.synthesizers import MST

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = {n: CACHE / f"{name}-{n}.parquet" for n in rows}
    schema_file = CACHE / f"{name}.schema.json"
    todo = [n for n, p in paths.items() if not p.exists()]
    if todo or not schema_file.exists():
        schema, df = diabetes_schema_and_data() if name == "diabetes20" else adult_schema_and_data()
        schema.to_json(schema_file)
        model = MST(epsilon=10.0, insecure_random_state=0).fit(df, schema)
        for n in todo:
            t = time.perf_counter()
            model.sample_to(paths[n], n, random_state=n)
            print(f"generated {paths[n].name}: {paths[n].stat().st_size / 2**20:.0f} MiB in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)
    return paths


# ----------------------------------------------------------------------------- child processes

def child_count(path: str, schema_file: str, engine: str) -> dict:
    import itertools

    import numpy as np

    from dpsynth.domain import Schema
    from dpsynth.engines import open_counter, spark_session

    schema = Schema.from_json(schema_file)
    d = len(schema.names)
    out: dict = {}
    spark = None
    if engine == "spark":
        t = time.perf_counter()
        spark = spark_session(SPARK_MASTER)
        out["spark_start_s"] = time.perf_counter() - t
    t = time.perf_counter()
    counter = open_counter(path, schema, engine, spark=spark)
    out["open_s"] = time.perf_counter() - t
    t = time.perf_counter()
    (n,) = counter.counts([()])
    out["rows"] = int(n[0])
    out["first_pass_s"] = time.perf_counter() - t  # read + encode (+ cache / persist)
    t = time.perf_counter()
    counter.counts([(a,) for a in range(d)])
    out["oneway_pass_s"] = time.perf_counter() - t
    t = time.perf_counter()
    counter.counts(list(itertools.combinations(range(d), 2)))
    out["pairs_pass_s"] = time.perf_counter() - t
    if engine == "file":  # the bandwidth bound: the cached codes read from the page cache
        cache = counter._source._cache_file
        buffer = np.empty(64 * 2**20, dtype=np.uint8)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            with open(cache, "rb", buffering=0) as fh:
                while fh.readinto(buffer):
                    pass
            best = min(best, time.perf_counter() - t)
        out["cache_bytes"] = cache.stat().st_size
        out["page_cache_read_gbps"] = cache.stat().st_size / best / 1e9
    if hasattr(counter, "close"):
        counter.close()
    if spark is not None:
        spark.stop()
    return out


def child_mst(path: str, schema_file: str, engine: str) -> dict:
    from dpsynth.domain import Schema
    from dpsynth.engines import open_counter, spark_session
    from dpsynth.synthesizers import MST

    schema = Schema.from_json(schema_file)
    out: dict = {}
    t0 = time.perf_counter()
    spark = spark_session(SPARK_MASTER) if engine == "spark" else None
    counter = open_counter(path, schema, engine, spark=spark)
    t = time.perf_counter()
    synth = MST(epsilon=1.0, insecure_random_state=0).fit(counter, schema)
    out["fit_s"] = time.perf_counter() - t
    out["open_s"] = t - t0
    if hasattr(counter, "close"):
        counter.close()
    if spark is not None:
        spark.stop()
    t = time.perf_counter()
    out["rows"] = synth.sample_to(CACHE / "synthetic.parquet", synth.n_rows_)
    out["sample_s"] = time.perf_counter() - t
    out["total_s"] = time.perf_counter() - t0
    return out


def run_child(mode: str, path: Path, schema_file: Path, engine: str, timeout: int = 1800) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--child", mode, str(path), str(schema_file), engine]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed", "wall_s": wall}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    result["peak_rss_mb"] = int(rss.group(1)) / 1024 if rss else None
    result["process_wall_s"] = wall
    return result


# ----------------------------------------------------------------------------- report

def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal")) / 2**20
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    import numpy
    import pyarrow

    try:
        import pyspark
        spark = pyspark.__version__
    except ImportError:
        spark = "absent"
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, shared with other contributors "
            f"(load average at start {os.getloadavg()[0]:.1f}); Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, pyarrow {pyarrow.__version__}, PySpark {spark} "
            f"({java[0] if java else 'no java'}), Spark master {SPARK_MASTER}")


def fmt(x, spec=".1f"):
    return "-" if x is None else format(x, spec)


def write_report(results: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Scale: counting engines and MST end to end", "",
             f"Machine: {results['machine']}.", f"Run: {results['date']}, `python benchmarks/scale.py "
             f"{results['argv']}`.", "",
             "Data: MST (epsilon 10, research RNG) fitted on the first 20 columns of Diabetes 130-US hospitals "
             "(16 categorical, 4 numeric; 3 to 33 cells per column), sampled to Parquet (row groups of 10^6); "
             "Adult scaled the same way to 2 x 10^6 rows (15 columns).", "",
             "## Counting step alone (fresh process per row)", "",
             "first pass = read + encode (file: + write the code cache; spark: + persist); one-way = 20 "
             "marginals in one pass; pairs = all 190 pairs in one pass. Bound = page-cache read rate of the "
             "encoded columns (d bytes/row), in rows/s.", "",
             "| data | rows | engine | open s | first pass s | one-way s | pairs s | one-way rows/s | "
             "bound rows/s | peak RSS MB |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["count"]:
        if "error" in r:
            lines.append(f"| {r['data']} | {r['n']:.0e} | {r['engine']} | failed: {r['error']} |||||||")
            continue
        bound = r.get("bound_rows_per_s")
        lines.append(f"| {r['data']} | {r['rows']:,} | {r['engine']} | {fmt(r['open_s'])} | "
                     f"{fmt(r['first_pass_s'])} | {fmt(r['oneway_pass_s'], '.2f')} | {fmt(r['pairs_pass_s'])} | "
                     f"{r['rows'] / r['oneway_pass_s']:.3g} | {fmt(bound, '.3g')} | {fmt(r['peak_rss_mb'], '.0f')} |")
    lines += ["", "## MST end to end (epsilon 1; fit on the engine, then sample the DP row count to Parquet)", "",
              "| data | rows | engine | open s | fit s | sample+write s | total s | peak RSS MB |",
              "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in results["mst"]:
        if "error" in r:
            lines.append(f"| {r['data']} | {r['n']:.0e} | {r['engine']} | failed: {r['error']} |||||")
            continue
        lines.append(f"| {r['data']} | {r['n']:,} | {r['engine']} | {fmt(r['open_s'])} | {fmt(r['fit_s'])} | "
                     f"{fmt(r['sample_s'])} | {fmt(r['total_s'])} | {fmt(r['peak_rss_mb'], '.0f')} |")
    lines += ["", "![time against rows, log-log](scale.png)", ""]
    previous = (RESULTS / "scale.md").read_text() if (RESULTS / "scale.md").exists() else ""
    notes = previous[previous.find(NOTES):] if NOTES in previous else ""  # hand-written reading, kept
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n" + notes)
    plot(results)


def plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for engine, style in (("memory", "o-"), ("file", "s-"), ("spark", "^-")):
        mst = sorted((r["n"], r["total_s"]) for r in results["mst"]
                     if r["engine"] == engine and r["data"] == "diabetes20" and "error" not in r)
        cnt = sorted((r["n"], r["first_pass_s"] + r["oneway_pass_s"] + r["pairs_pass_s"]) for r in results["count"]
                     if r["engine"] == engine and r["data"] == "diabetes20" and "error" not in r)
        if mst:
            ax.loglog(*zip(*mst), style, label=f"MST end to end, {engine}")
        if cnt:
            ax.loglog(*zip(*cnt), style, alpha=0.4, label=f"counting (3 passes), {engine}")
    xs = sorted({r["n"] for r in results["mst"]})
    if xs:
        ref = next((r["total_s"] for r in results["mst"] if r["engine"] == "file" and r["n"] == xs[-1]
                    and "error" not in r), None)
        if ref:
            ax.loglog(xs, [ref * x / xs[-1] for x in xs], "k:", label="linear (slope 1)")
    ax.set_xlabel("rows (20 columns)")
    ax.set_ylabel("seconds")
    ax.set_title("dpsynth scale: time against rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "scale.png", dpi=120)


# ----------------------------------------------------------------------------- main

def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, path, schema_file, engine = sys.argv[2:6]
        result = (child_count if mode == "count" else child_mst)(path, schema_file, engine)
        print(json.dumps(result))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="1e5,1e6,1e7", help="row counts of the 20-column table")
    p.add_argument("--engines", default="memory,file,spark")
    p.add_argument("--adult-rows", default="2e6", help="Adult rows (0: skip)")
    p.add_argument("--memory-max-rows", default="1e6", help="largest table the memory engine is run on")
    p.add_argument("--spark-min-rows", default="1e6", help="smallest table the spark engine is run on")
    p.add_argument("--merge", action="store_true",
                   help="keep the cases of results/scale.json that this run does not redo")
    args = p.parse_args()
    rows = [n for n in (int(float(x)) for x in args.rows.split(",")) if n > 0]
    engines = args.engines.split(",")
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "argv": " ".join(sys.argv[1:]),
               "count": [], "mst": []}
    if args.merge and (RESULTS / "scale.json").exists():
        old = json.loads((RESULTS / "scale.json").read_text())
        results["argv"] = f"{old['argv']}`, then `{results['argv']}"
        results["date"] = f"{old['date']} and {results['date']}"
        results["machine"] = f"{old['machine']}; second run: {results['machine']}"
        redo = {(data, n, e) for e in engines for data, n in [("diabetes20", n) for n in rows]
                + ([("adult", int(float(args.adult_rows)))] if float(args.adult_rows) > 0 else [])}
        for mode in ("count", "mst"):
            results[mode] = [r for r in old[mode] if (r["data"], r["n"], r["engine"]) not in redo]
    cases = [("diabetes20", n, generate("diabetes20", rows)[n]) for n in rows]
    if float(args.adult_rows) > 0:
        n = int(float(args.adult_rows))
        cases.append(("adult", n, generate("adult", [n])[n]))
    for data, n, path in cases:
        schema_file = CACHE / f"{data}.schema.json"
        for engine in engines:
            if (engine == "memory" and n > float(args.memory_max_rows) and data != "adult") or (
                    engine == "spark" and (n < float(args.spark_min_rows) or data == "adult")):
                continue
            for mode in ("count", "mst"):
                print(f"{data} {n:.0e} {engine} {mode} ...", flush=True)
                r = run_child(mode, path, schema_file, engine)
                r.update(data=data, n=n, engine=engine)
                if r.get("page_cache_read_gbps"):
                    r["bound_rows_per_s"] = r["page_cache_read_gbps"] * 1e9 / (r["cache_bytes"] / r["rows"])
                results[mode].append(r)
                print("   ", {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
                write_report(results)
    # the file engine's bandwidth bound applies to every engine on the same table
    for r in results["count"]:
        same = next((f for f in results["count"] if f["engine"] == "file" and f["data"] == r["data"]
                     and f["n"] == r["n"] and "bound_rows_per_s" in f), None)
        if same and "error" not in r:
            r["bound_rows_per_s"] = same["bound_rows_per_s"]
    write_report(results)


if __name__ == "__main__":
    main()
