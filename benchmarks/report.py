"""Render ``runs.jsonl`` into ``RESULTS.md`` and PNG plots (matplotlib, log scales).

Each (dataset, system, epsilon) cell reports the mean over its successful
repetitions with a 95% Student-t interval (half-width after the +-), and how
many repetitions succeeded; failed, timed-out and memory-killed runs are shown
as such, never dropped. The latest record of a key wins.
"""
from __future__ import annotations

import datetime as dt
import os
import platform
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TVDS = ("tvd1", "tvd2", "tvd3")
ORDER_LABEL = {"tvd1": "1-way", "tvd2": "2-way", "tvd3": "3-way"}


def machine_id() -> dict:
    """CPU model, cores, RAM and OS of this machine (recorded with every run)."""
    cpu = platform.processor() or "unknown"
    ram_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": ram_gb, "os": platform.platform(),
            "python": platform.python_version()}


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and half-width of its 95% Student-t interval (None for one value)."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), None
    if len(x) == 1:
        return float(x[0]), None
    from scipy import stats

    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def fmt(values: list[float], digits: int = 3, fixed: bool = True) -> str:
    m, h = mean_ci(values)
    if not np.isfinite(m):
        return "–"
    f = (lambda v: f"{v:.{digits}f}") if fixed else (lambda v: f"{v:,.{digits}g}" if v < 1000 else f"{v:,.0f}")
    return f(m) if h is None else f"{f(m)} ± {f(h)}"


def latest_by_key(runs: list[dict]) -> dict[str, dict]:
    return {r["key"]: r for r in runs}


def cells(runs: list[dict]) -> dict[str, dict[tuple[str, float], list[dict]]]:
    """dataset -> (system, epsilon) -> records."""
    out: dict = defaultdict(lambda: defaultdict(list))
    for r in latest_by_key(runs).values():
        out[r["dataset"]][(r["system"], r["epsilon"])].append(r)
    return out


def retried_failures(runs: list[dict]) -> dict[str, list[dict]]:
    """dataset -> runs that did not finish (failed, timeout, memory) and that a later run of the same key
    superseded (``run.py --retry-failed``)."""
    latest = latest_by_key(runs)
    out: dict = defaultdict(list)
    for r in runs:
        if r["status"] != "ok" and latest[r["key"]] is not r:
            out[r["dataset"]].append(r)
    return out


def status_text(records: list[dict]) -> str:
    ok = sum(r["status"] == "ok" for r in records)
    bad = defaultdict(int)
    for r in records:
        if r["status"] != "ok":
            bad[r["status"]] += 1
    text = f"{ok}/{len(records)}"
    return text + ("" if not bad else " (" + ", ".join(f"{n} {s}" for s, n in sorted(bad.items())) + ")")


def _errors(records: list[dict]) -> list[str]:
    return sorted({f"{r['status']}: {r.get('error', '').splitlines()[-1] if r.get('error') else ''}"[:200]
                   for r in records if r["status"] != "ok"})


def dataset_table(by_cell: dict[tuple[str, float], list[dict]], system_order: list[str],
                  retried: list[dict] = ()) -> list[str]:
    lines = ["| system | ε | ok | TVD 1-way | TVD 2-way | TVD 3-way | TSTR AUC | fit+sample s | process s | "
             "peak RSS MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    notes, mixed = [], False
    keys = sorted(by_cell, key=lambda k: (system_order.index(k[0]) if k[0] in system_order else 99, k[1]))
    for system, eps in keys:
        recs = by_cell[(system, eps)]
        ok = [r for r in recs if r["status"] == "ok"]
        col = lambda k: [r.get(k) for r in ok]  # noqa: E731
        revisions = {r.get("version") for r in ok}
        mark = " †" if len(revisions) > 1 else ""
        mixed = mixed or bool(mark)
        lines.append(
            f"| {system} | {eps:g} | {status_text(recs)}{mark} | {fmt(col('tvd1'))} | {fmt(col('tvd2'))} | "
            f"{fmt(col('tvd3'))} | {fmt(col('auc_tstr'))} | {fmt(col('fit_s'), 3, False)} | "
            f"{fmt(col('wall_s'), 3, False)} | {fmt(col('peak_rss_mb'), 3, False)} |")
        notes += [f"{system} ε={eps:g}: {e}" for e in _errors(recs)]
    trtr = [r["auc_trtr"] for recs in by_cell.values() for r in recs if r.get("auc_trtr") is not None]
    if trtr:
        lines.append("")
        lines.append(f"Train-real-test-real AUC on the same test rows: {np.mean(trtr):.3f}.")
    if mixed:
        lines += ["", "† the cell's runs come from more than one code revision (Versions lists them)."]
    if notes:
        lines += ["", "Runs that did not finish:", ""] + [f"- {n}" for n in notes]
    if retried:
        lines += ["", "Runs that did not finish and were run again (after a fix, with a larger limit, or after a "
                  "time-out on a busy machine; the table has the later run):", ""]
        lines += [f"- {r['system']} ε={r['epsilon']:g} repetition {r['rep']} (started {r['started'][:16]}): "
                  f"{_errors([r])[0]}" for r in retried]
    return lines


def ratios(by_cell: dict[tuple[str, float], list[dict]], method: str) -> list[str]:
    """Peer / dpsynth ratios of fit+sample time and peak RSS for one method, per epsilon."""
    out = []
    ours = f"dpsynth-{method}"
    for (system, eps), recs in sorted(by_cell.items()):
        if not system.endswith(f"-{method}") or system == ours or (ours, eps) not in by_cell:
            continue
        peer = [r for r in recs if r["status"] == "ok"]
        mine = [r for r in by_cell[(ours, eps)] if r["status"] == "ok"]
        if not peer or not mine:
            continue
        t = np.mean([r["fit_s"] for r in peer]) / np.mean([r["fit_s"] for r in mine])
        m = np.mean([r["peak_rss_mb"] for r in peer]) / np.mean([r["peak_rss_mb"] for r in mine])
        d3 = np.mean([r["tvd3"] for r in peer]) - np.mean([r["tvd3"] for r in mine])
        out.append(f"{system} ε={eps:g}: {t:,.1f}× the time, {m:,.1f}× the memory, "
                   f"3-way TVD {'+' if d3 >= 0 else ''}{d3:.3f} vs {ours}")
    return out


def _ok(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if r["status"] == "ok" and r.get(key) is not None]


def _unscored(here: dict[str, list[dict]], non_private: tuple[str, ...]) -> str:
    """The systems a 'lowest TVD' verdict cannot weigh: no run finished (stopped at a limit or
    failed), or fewer than the five runs planned."""
    none = sorted(s for s, recs in here.items() if s not in non_private and recs and not _ok(recs, "tvd3"))
    few = sorted(f"{s} {len(_ok(recs, 'tvd3'))} of 5 runs" for s, recs in here.items()
                 if s not in non_private and 0 < len(_ok(recs, "tvd3")) < 5)
    parts = ([f"among the systems that finished; no result from {', '.join(none)}"] if none else []) + \
        ([f"from {', '.join(few)}"] if few else [])
    return f"; {'; '.join(parts)}" if parts else ""


def lowest_verdict(mine: list[float], rival: list[float]) -> str:
    """'met' when ``mine`` has the lower mean, else by how much it missed, and
    whether the two 95% intervals overlap (an order the repetitions cannot separate)."""
    (m, hm), (r, hr) = mean_ci(mine), mean_ci(rival)
    overlap = hm is not None and hr is not None and abs(m - r) <= hm + hr
    return ("met" if m < r else f"missed by {m - r:.2g}") + (" (the 95% intervals overlap)" if overlap else "")


COST_TARGETS = (("≥ 20× faster than {peer}", "fit_s", 20, "{:,.3g} s"),
                ("≤ 1/5 of {peer}'s peak memory", "peak_rss_mb", 5, "{:,.0f} MB"))


def stopped_at_limit(record: dict) -> bool:
    """The run was killed at the time or memory limit (not failed on its own)."""
    return record["status"] in ("timeout", "memory")


def _cost_rows(eps: float, peer: str, mine: list[dict], theirs: list[dict]) -> list[str]:
    """The speed and memory targets against one peer's runs at one epsilon. A peer
    whose runs all stopped at the time or memory limit is judged by a lower bound:
    the peak RSS it had reached when killed, and for time the whole-process
    seconds on both sides (a killed run reports no fit time)."""
    stopped = [r for r in theirs if stopped_at_limit(r)]
    finished = bool(_ok(theirs, "fit_s"))
    if not (finished or stopped):
        return []
    rows = []
    for target, key, bar, show in COST_TARGETS:
        if finished:
            ours, peer_value = np.mean(_ok(mine, key)), np.mean(_ok(theirs, key))
            ratio = peer_value / ours
            mine_text, peer_text = show.format(ours), show.format(peer_value)
            verdict = f"{'met' if ratio >= bar else 'missed'} ({ratio:,.1f}×)"
        else:
            key, process = ("wall_s", " (process)") if key == "fit_s" else (key, "")
            ours, bound = np.mean(_ok(mine, key)), max(r[key] for r in stopped)
            ratio = bound / ours
            mine_text, peer_text = show.format(ours) + process, f"stopped at the limit: > {show.format(bound)}{process}"
            verdict = f"met (> {ratio:,.1f}×)" if ratio >= bar else f"not decided (> {ratio:,.1f}× when stopped)"
        rows.append(f"| {eps:g} | {target.format(peer=peer)} | {mine_text} | {peer_text} | {verdict} |")
    return rows


def targets(by_cell: dict[tuple[str, float], list[dict]], non_private: tuple[str, ...]) -> list[str]:
    """The peer-comparison targets, checked per epsilon on one dataset's cells."""
    lines = ["| ε | target | dpsynth | peer(s) | verdict |", "|---|---|---|---|---|"]
    for eps in sorted({e for _, e in by_cell}):
        here = {s: recs for (s, e), recs in by_cell.items() if e == eps}
        aim = _ok(here.get("dpsynth-aim", []), "tvd3")
        rivals = {s: _ok(r, "tvd3") for s, r in here.items()
                  if s not in non_private and s != "dpsynth-aim" and _ok(r, "tvd3")}
        if aim and rivals:
            best = min(rivals, key=lambda s: np.mean(rivals[s]))
            lines.append(f"| {eps:g} | dpsynth AIM has the lowest 3-way TVD | {fmt(aim, 4)} | {best} "
                         f"{fmt(rivals[best], 4)} | {lowest_verdict(aim, rivals[best])}"
                         f"{_unscored(here, non_private)} |")
        mst = _ok(here.get("dpsynth-mst", []), "tvd3")
        for peer in sorted(s for s in here if s.endswith("-mst") and s != "dpsynth-mst"):
            other = _ok(here[peer], "tvd3")
            if not (mst and other):
                continue
            m, h = mean_ci(other)
            gap = np.mean(mst) - (m + (h or 0.0))
            lines.append(f"| {eps:g} | dpsynth MST 3-way TVD no worse than {peer} (within its interval) | "
                         f"{np.mean(mst):.4f} | {fmt(other, 4)} | {'met' if gap <= 0 else f'missed by {gap:.2g}'} |")
        for method in ("mst", "aim"):
            mine = here.get(f"dpsynth-{method}", [])
            for peer in (f"mbi-{method}", f"smartnoise-{method}"):
                if _ok(mine, "fit_s") and here.get(peer):
                    lines += _cost_rows(eps, peer, mine, here[peer])
    return lines if len(lines) > 2 else []


def plot(by_dataset: dict, out_dir: Path, system_order: list[str], non_private: tuple[str, ...]) -> list[Path]:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    colours = {s: plt.cm.tab20(i % 20) for i, s in enumerate(system_order)}
    for dataset, by_cell in sorted(by_dataset.items()):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=False)
        for ax, k in zip(axes, TVDS):
            for system in system_order:
                pts = sorted((eps, [r[k] for r in recs if r["status"] == "ok" and k in r])
                             for (s, eps), recs in by_cell.items() if s == system)
                pts = [(e, v) for e, v in pts if v]
                if not pts:
                    continue
                eps = [e for e, _ in pts]
                mc = [mean_ci(v) for _, v in pts]
                if system in non_private:
                    ax.axhline(np.mean([m for m, _ in mc]), ls="--", lw=1, color=colours[system], label=system)
                    continue
                ax.errorbar(eps, [m for m, _ in mc], yerr=[h or 0 for _, h in mc], marker="o", ms=4,
                            capsize=3, color=colours[system], label=system)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("epsilon (delta 1e-9)")
            ax.set_title(f"{dataset}: mean {ORDER_LABEL[k]} TVD")
            ax.grid(True, which="both", alpha=0.3)
        axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
        fig.tight_layout()
        path = out_dir / f"tvd_{dataset}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    for key, label, name in (("fit_s", "fit+sample seconds (log)", "time"),
                             ("peak_rss_mb", "peak RSS MB (log)", "memory")):
        datasets = sorted(by_dataset)
        fig, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4.5), squeeze=False)
        for ax, dataset in zip(axes[0], datasets):
            by_cell = by_dataset[dataset]
            eps_all = sorted({e for _, e in by_cell})
            eps = 1.0 if 1.0 in eps_all else eps_all[len(eps_all) // 2]
            rows = [(s, by_cell[(s, eps)]) for s in system_order if (s, eps) in by_cell and s not in non_private]
            names = [s for s, _ in rows]
            vals = [np.mean([r[key] for r in recs if r["status"] == "ok"]) if any(r["status"] == "ok" for r in recs)
                    else np.nan for _, recs in rows]
            y = np.arange(len(rows))
            finite = [v for v in vals if np.isfinite(v)]
            floor = 10.0 ** np.floor(np.log10(min(finite) / 2)) if finite else 0.1
            ax.set_xscale("log")
            ax.barh(y, [v - floor if np.isfinite(v) else 0.0 for v in vals], left=floor,
                    color=[colours[s] for s in names])
            for yi, v, (_, recs) in zip(y, vals, rows):
                text = (f" {v:,.0f}" if v >= 10 else f" {v:.2g}") if np.isfinite(v) else " " + recs[0]["status"]
                ax.text(v if np.isfinite(v) else floor, yi, text, va="center", fontsize=7,
                        color="black" if np.isfinite(v) else "red")
            ax.set_xlim(left=floor, right=max(finite, default=1.0) * 8)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_yticks(y, names, fontsize=8)
            ax.set_xlabel(label)
            ax.set_title(f"{dataset}, epsilon {eps:g}")
            ax.invert_yaxis()
            ax.grid(True, axis="x", which="both", alpha=0.3)
        fig.tight_layout()
        path = out_dir / f"{name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


@dataclass(frozen=True)
class Grid:
    """A run's plan: every system on each dataset at each epsilon, ``reps`` repetitions (``quick``: the
    ``--quick`` plan, whose left-out systems say why)."""
    datasets: tuple[str, ...]
    epsilons: tuple[float, ...]
    reps: int
    quick: bool = False


def hit_limit(records: list[dict]) -> bool:
    return any(map(stopped_at_limit, records))


def cell_complete(records: list[dict], reps: int) -> bool:
    """A cell is complete once all its repetitions ran, or one hit the time or memory limit
    (``run.py`` stops repeating it then)."""
    return len(records) >= reps or hit_limit(records)


def still_to_run(by_cell: dict[tuple[str, float], list[dict]], systems: dict, grid: Grid) -> list[str]:
    """One line per system with incomplete cells on a dataset: the epsilons not run at all, and those
    with fewer repetitions than the grid's, noting the epsilons where the system hit a limit (under
    ``--quick``, a system never run says why it is left out)."""
    lines = []
    for name, system in systems.items():
        stopped = [f"{eps:g}" for (s, eps), recs in sorted(by_cell.items()) if s == name and hit_limit(recs)]
        not_run = f"not run (at ε {', '.join(stopped)} it hit the limit)" if stopped else "not run"
        states = defaultdict(list)
        for eps in grid.epsilons:
            recs = by_cell.get((name, eps), [])
            if not cell_complete(recs, grid.reps):
                states[f"{len(recs)} of {grid.reps} repetitions" if recs else not_run].append(f"{eps:g}")
        if not states:
            continue
        if list(states) == [not_run] and len(states[not_run]) == len(grid.epsilons):
            why = f" (left out of `--quick`: {system.why_not_quick})" if grid.quick and system.why_not_quick else ""
            lines.append(f"{name}: not run{why}")
            continue
        lines += [f"{name} ε {', '.join(eps)}: {state}" for state, eps in states.items()]
    return lines


def grid_progress(by_dataset: dict, systems: dict, grid: Grid) -> str:
    total = len(grid.datasets) * len(systems) * len(grid.epsilons)
    done = sum(cell_complete(by_dataset.get(d, {}).get((s, e), []), grid.reps)
               for d in grid.datasets for s in systems for e in grid.epsilons)
    return (f"The full grid ({len(grid.datasets)} datasets × {len(systems)} systems × ε "
            f"{', '.join(f'{e:g}' for e in grid.epsilons)}, {grid.reps} repetitions): {done} of {total} cells "
            "complete (every repetition run, or cut short once a run hit the limit); each dataset lists the "
            "cells still to run.")


def _superseded(runs: list[dict], latest: dict) -> str:
    """How many finished runs a later run of the same key replaced, by system family (runs.jsonl keeps them)."""
    kept = {id(r) for r in latest.values()}
    gone = Counter(r["system"].split("-")[0] for r in runs if r["status"] == "ok" and id(r) not in kept)
    if not gone:
        return "No finished run was replaced."
    listed = ", ".join(f"{n} of {family}" for family, n in gone.most_common())
    return (f"Finished runs replaced by a later run of the same key (rerun after a code change; runs.jsonl keeps "
            f"them): {listed}.")


def render(runs: list[dict], results_dir: Path, systems: dict, non_private: tuple[str, ...],
           notes: dict[str, str], grid: Grid) -> None:
    """Write ``RESULTS.md`` and ``plots/*.png`` under ``results_dir`` from the run records.

    ``systems`` maps names to objects with ``why_not_quick``; ``notes`` maps a system's
    family (name up to the first ``-``, or the whole name) to a sentence on its settings;
    ``grid`` is the run's plan (full or ``--quick``), against which each dataset lists the cells still to run.
    """
    order = list(systems)
    by_dataset = cells(runs)
    retried = retried_failures(runs)
    latest = latest_by_key(runs)
    hosts = {tuple(sorted(r["host"].items())) for r in latest.values() if "host" in r}
    versions: dict[str, Counter] = defaultdict(Counter)
    for r in latest.values():
        if r.get("version"):
            family = next((f for f in notes if r["system"] == f or r["system"].startswith(f + "-")), r["system"])
            versions[family][r["version"]] += 1
    dates = sorted(r["started"][:10] for r in latest.values())
    lines = ["# dpsynth against its peers: results", "",
             f"Rendered {dt.date.today().isoformat()} from `runs.jsonl` ({len(latest)} run{'s' * (len(latest) != 1)}"
             + (f", {dates[0]} to {dates[-1]}" if dates else "") + ") by `benchmarks/run.py`.", "",
             "## Machine", ""]
    for h in sorted(hosts):
        d = dict(h)
        lines.append(f"- {d.get('cpu')}, {d.get('cores')} cores, {d.get('ram_gb')} GB RAM, {d.get('os')}, "
                     f"Python {d.get('python')}")
    lines += ["- shared with other jobs, and the runs span the dates above with up to four running at once on "
              "the 2 cores: wall times carry that load, and ratios compare runs made under similar, not equal, "
              "load", "", "## Versions", ""]
    for family, counts in sorted(versions.items()):
        listed = "; ".join(f"{v}: {n} run{'s' * (n != 1)}" for v, n in sorted(counts.items(), key=lambda vn: -vn[1]))
        lines.append(f"- {family}: {listed}")
    lines += ["", "## Systems", ""]
    lines += [f"- **{family}**: {note}" for family, note in notes.items()]
    lines += ["", "## How to read the tables", "",
              "Mean over the repetitions that finished, ± the half-width of the 95% Student-t interval "
              "(no ± with one repetition). TVD: mean total variation distance over all 1-way, all 2-way "
              "and 200 sampled 3-way marginals (columns of more than 32 codes in 32 equal-width runs). "
              "TSTR AUC: gradient boosting trained on the synthetic rows, tested on 30% of the real rows. "
              "fit+sample s: the system's own fit and sample calls (JIT compilation included, interpreter "
              "start and imports not); process s: the whole fresh process; peak RSS: the largest resident "
              "memory of the run's processes. `bootstrap` and `independent-exact` are non-private "
              "reference points (i.i.d. sampling error, and exact 1-way marginals with no correlations). "
              "ok: runs that finished / runs made; a cell stops repeating once a run hits the time or "
              "memory limit (the next would measure the limit again), so a timeout is often 0/1.", "",
              f"Each (dataset, system, ε, repetition) shows its latest run. {_superseded(runs, latest)}", ""]
    if not grid.quick:
        lines += [grid_progress(by_dataset, systems, grid), ""]
    if "adult_pgm" in by_dataset:
        checks = targets(by_dataset["adult_pgm"], non_private)
        if checks:
            lines += ["## Targets on adult_pgm", "",
                      "From the peer-benchmark issue; time is fit+sample, memory is peak RSS, the same "
                      "process span for every system. The issue sets the speed and memory targets against "
                      "Private-PGM and SmartNoise; dpmm is outside them, and its ratios (below the adult_pgm "
                      "table) show it using less memory than dpsynth on MST and AIM.", ""] + checks + [""]
            if max(len(recs) for recs in by_dataset["adult_pgm"].values()) == 1:
                lines += ["One repetition per cell (a quick run): there is no interval yet, so a verdict "
                          "within run-to-run noise of its bound (about ±0.005 in TVD here) is not settled; "
                          "the full run's 5 repetitions decide it.", ""]
    for dataset in sorted(by_dataset):
        by_cell = by_dataset[dataset]
        lines += [f"## {dataset}", "", f"![error vs epsilon](plots/tvd_{dataset}.png)", ""]
        lines += dataset_table(by_cell, order, retried.get(dataset, []))
        todo = still_to_run(by_cell, systems, grid)
        if todo:
            lines += ["", "Not in the quick run (`python benchmarks/run.py` runs the full grid):" if grid.quick
                      else f"Still to run for the full grid (`python benchmarks/run.py --datasets {dataset}` "
                      "resumes it):", ""] + [f"- {t}" for t in todo]
        rat = [r for method in ("mst", "aim", "privbayes", "mwem") for r in ratios(by_cell, method)]
        if rat:
            lines += ["", "Peers against dpsynth on the same method (fit+sample time, peak RSS, 3-way TVD):", ""]
            lines += [f"- {r}" for r in rat]
        lines.append("")
    lines += ["## Time and memory", "", "![time](plots/time.png)", "", "![memory](plots/memory.png)", ""]
    results_dir.mkdir(parents=True, exist_ok=True)
    if by_dataset:
        plot(by_dataset, results_dir / "plots", order, non_private)
    tmp = results_dir / "RESULTS.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(results_dir / "RESULTS.md")
