"""The peer benchmark's harness: scoring, process measurement, resumption, rendering.

No timings are asserted; the child processes here are small Python one-liners.
"""
from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_data  # noqa: E402
import metrics  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402


def brute_tvd(real: np.ndarray, synth: np.ndarray, cols: tuple[int, ...]) -> float:
    keys = set(map(tuple, real[:, cols])) | set(map(tuple, synth[:, cols]))
    return 0.5 * sum(abs(np.mean((real[:, cols] == k).all(1)) - np.mean((synth[:, cols] == k).all(1)))
                     for k in keys)


def test_score_matches_brute_force_marginals():
    rng = np.random.default_rng(3)
    sizes = (2, 3, 4, 2)
    real = np.column_stack([rng.integers(0, s, 200) for s in sizes])
    synth = np.column_stack([rng.integers(0, s, 150) for s in sizes])
    names = tuple("abcd")
    got = metrics.score(real, synth, names, sizes, target=None)
    for k in (1, 2, 3):  # 4 triples < 200: all of them are scored
        want = np.mean([brute_tvd(real, synth, c) for c in itertools.combinations(range(4), k)])
        assert got[f"tvd{k}"] == pytest.approx(want, abs=1e-12)
    same = metrics.score(real, real.copy(), names, sizes, target=None)
    assert same["tvd1"] == same["tvd2"] == same["tvd3"] == 0.0


def test_wide_columns_are_scored_in_32_equal_runs_of_codes():
    sizes = (100, 2)
    real = np.column_stack([np.arange(100), np.arange(100) % 2])
    cell = np.asarray(metrics.scoring_schema(("x", "y"), sizes).encode(
        pd.DataFrame(real, columns=["x", "y"])))[:, 0]
    assert (np.diff(cell) >= 0).all() and len(np.unique(cell)) == 32  # contiguous runs, in order
    assert set(np.bincount(cell)) == {3, 4}  # of equal width (100 = 32 x 3.125)
    runs = np.split(np.arange(100), np.flatnonzero(np.diff(cell)) + 1)
    first_of_run = np.concatenate([np.full(len(r), r[0]) for r in runs])
    collapsed = np.column_stack([first_of_run, real[:, 1]])
    # every code moved to the first code of its run: nothing changes at 32 runs ...
    got = metrics.score(real, collapsed, ("x", "y"), sizes, None)
    assert got["tvd1"] == 0.0 and got["tvd2"] == 0.0
    # ... while the same move is visible with one cell per code
    assert brute_tvd(real, collapsed, (0,)) > 0.5
    crossing = collapsed.copy()
    crossing[:, 0] = np.minimum(crossing[:, 0] + 4, 99)  # every code past the end of its run
    assert metrics.score(real, crossing, ("x", "y"), sizes, None)["tvd1"] > 0.0
    all_first = real.copy()
    all_first[:, 0] = 0  # all in the first run of len(runs[0]) codes: TVD 1 - that share on x, 0 on y
    want = (1 - len(runs[0]) / 100) / 2
    assert metrics.score(real, all_first, ("x", "y"), sizes, None)["tvd1"] == pytest.approx(want)


def test_tstr_auc_beside_trtr():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, 2000)
    y = (x >= 2).astype(int) ^ (rng.random(2000) < 0.05)
    real = np.column_stack([x, rng.integers(0, 3, 2000), y])
    got = metrics.score(real, real.copy(), ("x", "z", "y"), (4, 3, 2), target="y")
    assert got["auc_trtr"] > 0.9 and got["auc_tstr"] > 0.9
    noise = np.column_stack([rng.integers(0, 4, 2000), rng.integers(0, 3, 2000), rng.integers(0, 2, 2000)])
    assert metrics.score(real, noise, ("x", "z", "y"), (4, 3, 2), target="y")["auc_tstr"] < 0.6


def child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_measure_process_records_peak_memory_exit_and_limits(tmp_path):
    log = tmp_path / "r.log"
    big = run.measure_process(child("import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
                                    "time.sleep(0.5)"), log, timeout=120, max_rss=8 * 2**30)
    assert big["status"] == "ok" and big["exit_code"] == 0
    assert big["peak_rss_mb"] >= 300
    small = run.measure_process(child("pass"), log, timeout=120, max_rss=8 * 2**30)
    assert small["peak_rss_mb"] < 200  # the forking parent's memory is not counted
    failed = run.measure_process(child("import sys; print('boom'); sys.exit(3)"), log, timeout=120,
                                 max_rss=8 * 2**30)
    assert failed["status"] == "failed" and failed["exit_code"] == 3 and "boom" in log.read_text()
    slow = run.measure_process(child("import time; time.sleep(60)"), log, timeout=1, max_rss=8 * 2**30)
    assert slow["status"] == "timeout" and slow["wall_s"] < 30
    hog = run.measure_process(child("import time; b = bytearray(400 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
                                    "time.sleep(60)"), log, timeout=120, max_rss=100 * 2**20)
    assert hog["status"] == "memory" and hog["wall_s"] < 30


def test_resume_rules():
    limits = {"timeout_s": 600, "max_rss_gb": 8}
    assert not run.is_done(None, 600, 8)
    assert run.is_done({"status": "ok", "limits": limits}, 1800, 16)
    assert run.is_done({"status": "failed", "limits": limits}, 1800, 16)
    assert run.is_done({"status": "timeout", "limits": limits}, 600, 8)
    assert not run.is_done({"status": "timeout", "limits": limits}, 1800, 8)
    assert not run.is_done({"status": "memory", "limits": limits}, 600, 16)


def test_a_cell_that_hit_the_limits_is_not_repeated(tmp_path, monkeypatch):
    """Once a run of (dataset, system, epsilon) times out, its other repetitions
    are not run (they would measure the limit again), in this invocation and
    the next; a larger limit runs it again."""
    calls = []

    def fake_run_one(data, system, epsilon, rep, *, delta, timeout, max_rss_gb):
        calls.append((system.name, rep))
        slow = system.name == "bootstrap" and timeout < 100
        return {"key": run.run_key(data, system.name, epsilon, rep), "dataset": data, "system": system.name,
                "epsilon": epsilon, "rep": rep, "status": "timeout" if slow else "ok",
                "limits": {"timeout_s": timeout, "max_rss_gb": max_rss_gb}}

    monkeypatch.setattr(run, "run_one", fake_run_one)
    monkeypatch.setattr(run.bench_data, "prepare", lambda name: name)
    monkeypatch.setattr(run.report, "render", lambda *args: None)
    args = ["--datasets", "titanic_aim", "--systems", "bootstrap", "independent-exact", "--epsilons", "1",
            "--reps", "3", "--timeout", "60", "--results", str(tmp_path)]
    assert run.main(args) == 0
    assert sorted(calls) == [("bootstrap", 0), ("independent-exact", 0), ("independent-exact", 1),
                             ("independent-exact", 2)]
    calls.clear()
    assert run.main(args) == 0 and calls == []
    assert run.main(args[:-4] + ["--timeout", "600", "--results", str(tmp_path)]) == 0
    assert calls == [("bootstrap", 0), ("bootstrap", 1), ("bootstrap", 2)]


def _fake_three_runs(tmp_path, monkeypatch, status_of):
    """``run.main`` on three repetitions of one cell with ``run_one`` faked:
    ``status_of(rep, calls)`` gives each run's status. Returns (args, calls)."""
    calls = []

    def fake_run_one(data, system, epsilon, rep, *, delta, timeout, max_rss_gb):
        calls.append(rep)
        return {"key": run.run_key(data, system.name, epsilon, rep), "dataset": data, "system": system.name,
                "epsilon": epsilon, "rep": rep, "status": status_of(rep, calls),
                "started": "2026-01-01T00:00:00+00:00", "limits": {"timeout_s": timeout, "max_rss_gb": max_rss_gb}}

    monkeypatch.setattr(run, "run_one", fake_run_one)
    monkeypatch.setattr(run.bench_data, "prepare", lambda name: name)
    monkeypatch.setattr(run.report, "render", lambda *args: None)
    args = ["--datasets", "titanic_aim", "--systems", "bootstrap", "--epsilons", "1", "--reps", "3",
            "--results", str(tmp_path)]
    return args, calls


def test_retry_failed_reruns_only_the_failed_keys(tmp_path, monkeypatch):
    args, calls = _fake_three_runs(tmp_path, monkeypatch,
                                   lambda rep, calls: "failed" if rep == 1 and len(calls) == 2 else "ok")
    assert run.main(args) == 0 and calls == [0, 1, 2]
    assert run.main(args) == 0 and calls == [0, 1, 2]
    assert run.main(args + ["--retry-failed"]) == 0 and calls == [0, 1, 2, 1]
    statuses = [r["status"] for r in run.load_runs(tmp_path / "runs.jsonl")]
    assert statuses == ["ok", "failed", "ok", "ok"]
    assert run.main(args + ["--retry-failed"]) == 0 and calls == [0, 1, 2, 1]
    retried = report.retried_failures(run.load_runs(tmp_path / "runs.jsonl"))
    assert [(r["rep"], r["status"]) for r in retried["titanic_aim"]] == [(1, "failed")]


def test_retry_failed_reruns_a_timed_out_repetition_and_resumes_its_cell(tmp_path, monkeypatch):
    """A time-out cuts its cell short; --retry-failed runs that key again and,
    once it finishes, the repetitions the time-out held back."""
    args, calls = _fake_three_runs(tmp_path, monkeypatch,
                                   lambda rep, calls: "timeout" if rep == 1 and calls.count(1) == 1 else "ok")
    assert run.main(args) == 0 and calls == [0, 1]            # rep 2 held back by rep 1's time-out
    assert run.main(args) == 0 and calls == [0, 1]
    assert run.main(args + ["--retry-failed"]) == 0 and calls == [0, 1, 1, 2]
    assert run.main(args + ["--retry-failed"]) == 0 and calls == [0, 1, 1, 2]
    retried = report.retried_failures(run.load_runs(tmp_path / "runs.jsonl"))
    assert [(r["rep"], r["status"]) for r in retried["titanic_aim"]] == [(1, "timeout")]


def test_still_to_run_lists_missing_and_short_cells():
    rec = lambda status: {"status": status}  # noqa: E731
    by_cell = {("mbi-mst", 0.1): [rec("ok")] * 5, ("mbi-mst", 1.0): [rec("ok"), rec("failed")],
               ("mbi-aim", 0.1): [rec("ok"), rec("timeout")], ("dpmm-mst", 10.0): [rec("failed")] * 5}
    systems = {s: run.SYSTEMS[s] for s in ("mbi-mst", "mbi-aim", "dpmm-mst", "dpmm-aim")}
    full = report.Grid(("toy",), (0.1, 1.0, 10.0), 5)
    assert report.still_to_run(by_cell, systems, full) == [
        "mbi-mst ε 1: 2 of 5 repetitions", "mbi-mst ε 10: not run",
        "mbi-aim ε 1, 10: not run (at ε 0.1 it hit the limit)",
        "dpmm-mst ε 0.1, 1: not run", "dpmm-aim: not run"]
    assert report.grid_progress({"toy": by_cell}, systems, full).endswith(
        ": 3 of 12 cells complete (every repetition run, or cut short once a run hit the limit); each dataset "
        "lists the cells still to run.")
    quick = report.Grid(("toy",), (1.0,), 1, quick=True)
    assert report.still_to_run(by_cell, systems, quick) == [
        "mbi-aim: not run (left out of `--quick`: " + run.SYSTEMS["mbi-aim"].why_not_quick + ")",
        "dpmm-mst: not run (left out of `--quick`: " + run.SYSTEMS["dpmm-mst"].why_not_quick + ")",
        "dpmm-aim: not run (left out of `--quick`: " + run.SYSTEMS["dpmm-aim"].why_not_quick + ")"]


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_run_py_stops_the_run_it_measures(tmp_path, sig):
    """The measured run has its own session, so neither Ctrl-C nor a kill of run.py reaches it;
    run.py kills it on the way out instead of leaving it running unmeasured."""
    pidfile = tmp_path / "pid"
    script = (f"import sys; sys.path.insert(0, {str(run.HERE)!r}); import run; "
              "run.exit_on_sigterm(); "
              f"run.measure_process(['sh', '-c', 'echo $$ > {pidfile}; exec sleep 60'], "
              f"__import__('pathlib').Path({str(tmp_path / 'x.log')!r}), 120, 1e12)")
    parent = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert not _gone(child)
    parent.send_signal(sig)
    assert parent.wait(timeout=30) != 0
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def test_each_run_has_its_own_files():
    keys = [run.run_key("adult_pgm", "mbi-aim", eps, rep) for eps in (0.1, 1.0, 10.0) for rep in range(5)]
    files = [run.run_files(k) for k in keys]
    assert len({out for out, _ in files}) == len({log for _, log in files}) == len(keys)
    assert all(out.suffix == ".npy" and out.with_suffix(".log") == log for out, log in files)


def test_quick_plan_runs_peers_mst_on_adult_only():
    import argparse

    ns = argparse.Namespace(quick=True, datasets=None, systems=None, epsilons=None, reps=None)
    plan = run.plan(ns)
    assert {(e, r) for _, _, e, r in plan} == {(1.0, 0)}
    by_dataset = {d: {s for dd, s, _, _ in plan if dd == d} for d in run.QUICK_DATASETS}
    assert {"mbi-mst", "smartnoise-mst", "dpmm-mst", "dpsynth-aim"} <= by_dataset["adult_pgm"]
    assert "mbi-mst" not in by_dataset["titanic_aim"] and "dpsynth-mst" in by_dataset["titanic_aim"]
    assert not any(s.endswith("-aim") and not s.startswith("dpsynth") for _, s, _, _ in plan)
    full = run.plan(argparse.Namespace(quick=False, datasets=None, systems=None, epsilons=None, reps=None))
    assert len(full) == len(bench_data.DATASETS) * len(run.SYSTEMS) * 3 * 5
    assert {"dpsynth-privbayes", "dpsynth-mwem"} <= {s for _, s, _, _ in full}


def test_mean_ci_is_student_t():
    m, h = report.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and h == pytest.approx(4.302652729911275 / np.sqrt(3))
    assert report.mean_ci([5.0]) == (5.0, None)


def test_lowest_verdict_says_whether_the_intervals_separate():
    assert report.lowest_verdict([0.100, 0.101, 0.102], [0.130, 0.131, 0.132]) == "met"
    assert report.lowest_verdict([0.15, 0.17], [0.155, 0.169]) == "met (the 95% intervals overlap)"
    assert report.lowest_verdict([0.16, 0.17, 0.18], [0.155, 0.169]) == "missed by 0.008 (the 95% intervals overlap)"
    assert report.lowest_verdict([0.170, 0.171, 0.172], [0.100, 0.101, 0.102]) == "missed by 0.07"
    assert report.lowest_verdict([0.17, 0.18], [0.16]) == "missed by 0.015"   # one rival run: no interval


def test_cost_targets_judge_a_killed_peer_by_its_lower_bound():
    mine = [{"status": "ok", "fit_s": 10.0, "wall_s": 12.0, "peak_rss_mb": 100.0}] * 2
    done = [{"status": "ok", "fit_s": 300.0, "wall_s": 310.0, "peak_rss_mb": 400.0}]
    assert report._cost_rows(1.0, "mbi-aim", mine, done) == [
        "| 1 | ≥ 20× faster than mbi-aim | 10 s | 300 s | met (30.0×) |",
        "| 1 | ≤ 1/5 of mbi-aim's peak memory | 100 MB | 400 MB | missed (4.0×) |"]
    killed = [{"status": "timeout", "wall_s": 1800.0, "peak_rss_mb": 450.0},
              {"status": "failed", "wall_s": 5.0, "peak_rss_mb": 9000.0}]   # a crash bounds nothing
    assert report._cost_rows(10.0, "smartnoise-aim", mine, killed) == [
        "| 10 | ≥ 20× faster than smartnoise-aim | 12 s (process) | stopped at the limit: > 1.8e+03 s (process) "
        "| met (> 150.0×) |",
        "| 10 | ≤ 1/5 of smartnoise-aim's peak memory | 100 MB | stopped at the limit: > 450 MB "
        "| not decided (> 4.5× when stopped) |"]
    assert report._cost_rows(1.0, "mbi-aim", mine, killed[1:]) == []


def test_render_keeps_failed_runs(tmp_path):
    base = {"dataset": "toy", "epsilon": 1.0, "delta": 1e-9, "started": "2026-01-01T00:00:00+00:00",
            "limits": {"timeout_s": 10, "max_rss_gb": 8}, "host": report.machine_id()}
    runs = [
        {**base, "key": f"toy|dpsynth-mst|1|{i}", "system": "dpsynth-mst", "rep": i, "status": "ok",
         "tvd1": 0.01 * (i + 1), "tvd2": 0.02, "tvd3": 0.03, "fit_s": 1.0, "wall_s": 2.0, "peak_rss_mb": 100.0,
         "version": "dpsynth test"} for i in range(3)
    ] + [{**base, "key": "toy|mbi-mst|1|0", "system": "mbi-mst", "rep": 0, "status": "timeout",
          "error": "killed after 10 s", "wall_s": 10.0, "peak_rss_mb": 50.0}]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    grid = report.Grid(("toy", "absent"), (0.1, 1.0), 3)
    report.render(run.load_runs(tmp_path / "runs.jsonl"), tmp_path, run.SYSTEMS, run.NON_PRIVATE, run.NOTES, grid)
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| dpsynth-mst | 1 | 3/3 | 0.020 ± " in text
    assert "| mbi-mst | 1 | 0/1 (1 timeout) |" in text and "killed after 10 s" in text
    # of 2 datasets x 15 systems x 2 epsilons, dpsynth-mst at 1 ran 3 of 3 and mbi-mst at 1 hit the limit
    assert f"): 2 of {2 * len(run.SYSTEMS) * 2} cells complete" in text
    assert "- dpsynth-mst ε 0.1: not run\n" in text
    assert "- mbi-mst ε 0.1: not run (at ε 1 it hit the limit)\n" in text
    assert "- mbi-aim: not run\n" in text and "left out of `--quick`" not in text
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"tvd_toy.png", "time.png", "memory.png"}


@pytest.mark.skipif(not (bench_data.DATA_DIR / "adult_pgm.csv").exists(), reason="needs ../shared/data")
def test_adult_codes_follow_the_domain_file(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_data, "CACHE_DIR", tmp_path)
    data = bench_data.prepare("adult_pgm")
    codes = data.codes()
    domain = json.loads((bench_data.DATA_DIR / "adult_pgm.domain.json").read_text())
    assert data.names == tuple(domain) and data.sizes == tuple(domain.values())
    assert codes.shape == (48842, 14) and (codes >= 0).all() and (codes < np.array(data.sizes)).all()


def test_missing_peer_venv_stops_before_any_run(tmp_path, monkeypatch):
    monkeypatch.setitem(run.SYSTEMS, "mbi-mst", run.System("mbi-mst", "absent-for-test", "run_mbi.py", "mst"))
    assert run.main(["--quick", "--systems", "mbi-mst", "--results", str(tmp_path)]) == 2
    assert not (tmp_path / "runs.jsonl").exists()
