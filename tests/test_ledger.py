"""The SQLite ledger: reservations, charges, refusals that write nothing, races, kill -9."""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import sqlite3
import time

import numpy as np
import pytest

from dpsynth.accounting import InsecureRNGWarning, Ledger, rho_from_epsilon
from dpsynth.errors import BudgetExceeded, InputError

RHO_1 = rho_from_epsilon(1.0, 1e-9)  # budget of epsilon=1, delta=1e-9


def dump(path) -> list[str]:
    """Every row of the ledger file, to compare before/after byte for byte (as SQL)."""
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


@pytest.fixture
def ledger_path(tmp_path):
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        ledger.init("adult", 1.0, 1e-9)
    return path


def test_init_stores_the_tight_rho_and_refuses_a_second_init():
    ledger = Ledger(None)
    assert ledger.init("adult", 1.0, 1e-9) == pytest.approx(0.0149731, abs=1e-6)
    s = ledger.summary("adult")
    assert (s["rho_total"], s["rho_spent"], s["rho_remaining"]) == (RHO_1, 0.0, RHO_1)
    assert (s["epsilon"], s["delta"], s["neighbouring"], s["releases"]) == (1.0, 1e-9, "add/remove-one", [])
    with pytest.raises(InputError, match="already has a budget"):
        ledger.init("adult", 2.0, 1e-9)
    assert ledger.summary("adult")["rho_total"] == RHO_1
    ledger.init("census", 0.5, 1e-6)
    assert ledger.datasets() == ["adult", "census"]


@pytest.mark.parametrize("eps,delta,match", [(0, 1e-9, "epsilon"), (1, 0, "zCDP needs delta > 0"), (1, 1, "delta")])
def test_init_rejects_bad_budget(eps, delta, match):
    ledger = Ledger(None)
    with pytest.raises(InputError, match=match):
        ledger.init("d", eps, delta)
    assert ledger.datasets() == []


def test_release_reserves_up_front_and_records_measurements_in_order():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with ledger.release("d", 0.006, "mst") as rel:
        # the whole reservation is spent before any measurement
        assert ledger.summary("d")["rho_spent"] == 0.006
        assert ledger.summary("d")["releases"][0]["complete"] is False
        rel.charge("gaussian", ("age", "sex"), 1.0, 12.0, 0.002)
        rel.charge("exponential", "select", 2.0, 4.0, 0.001)
        assert (rel.rho_charged, rel.rho_remaining) == (0.003, pytest.approx(0.003))
    s = ledger.summary("d")
    (r,) = s["releases"]
    assert r["complete"] and r["error"] is None and not r["research_rng"] and r["finished"] >= r["created"]
    assert (r["release_id"], r["method"], r["rho"], r["rho_charged"]) == (rel.release_id, "mst", 0.006, 0.003)
    assert [(m["mechanism"], m["query"], m["sensitivity"], m["scale"], m["rho"]) for m in r["measurements"]] == [
        ("gaussian", "age,sex", 1.0, 12.0, 0.002), ("exponential", "select", 2.0, 4.0, 0.001)]
    assert s["rho_spent"] == 0.006  # the unused part of a reservation stays spent
    assert s["rho_remaining"] == pytest.approx(RHO_1 - 0.006)
    with pytest.raises(InputError, match="finished"):
        rel.charge("gaussian", "late", 1.0, 1.0, 0.0)


def test_overspend_is_refused_and_the_file_is_unchanged(ledger_path):
    with Ledger(ledger_path) as ledger:
        with ledger.release("adult", RHO_1 / 2, "first"):
            pass
        before = dump(ledger_path)
        with pytest.raises(BudgetExceeded) as info:
            with ledger.release("adult", RHO_1 / 2 * 1.01, "too much"):
                pytest.fail("the body of a refused release must not run")
        assert info.value.dataset == "adult"
        assert info.value.rho_requested == RHO_1 / 2 * 1.01
        assert info.value.rho_remaining == pytest.approx(RHO_1 / 2)
        assert "nothing was spent" in str(info.value)
    assert dump(ledger_path) == before
    with Ledger(ledger_path) as ledger:  # exactly the rest still fits
        with ledger.release("adult", RHO_1 / 2, "rest"):
            pass
        assert ledger.summary("adult")["rho_remaining"] == 0.0


def test_thirds_fit_despite_rounding_but_nothing_more():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    for _ in range(3):
        with ledger.release("d", RHO_1 / 3, "third"):
            pass
    with pytest.raises(BudgetExceeded):
        with ledger.release("d", RHO_1 * 1e-9, "crumb"):
            pass
    assert len(ledger.summary("d")["releases"]) == 3


def test_charges_cannot_exceed_the_reservation():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with ledger.release("d", 0.004, "m") as rel:
        rel.charge("gaussian", "a", 1.0, 20.0, 0.003)
        with pytest.raises(BudgetExceeded, match="release"):
            rel.charge("gaussian", "b", 1.0, 20.0, 0.0011)
        rel.charge("gaussian", "c", 1.0, 20.0, 0.001)
    (r,) = ledger.summary("d")["releases"]
    assert [m["query"] for m in r["measurements"]] == ["a", "c"]
    assert r["rho_charged"] == pytest.approx(0.004)


def test_failed_release_stays_spent_and_incomplete():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with pytest.raises(ZeroDivisionError):
        with ledger.release("d", 0.005, "aim") as rel:
            rel.charge("gaussian", "a", 1.0, 10.0, 0.005)
            1 / 0
    s = ledger.summary("d")
    (r,) = s["releases"]
    assert not r["complete"] and r["error"].startswith("ZeroDivisionError")
    assert s["rho_spent"] == 0.005 and len(r["measurements"]) == 1


def test_research_rng_is_loud_and_marked():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with pytest.warns(InsecureRNGWarning, match="INSECURE RNG"):
        with ledger.release("d", 0.001, "aim", insecure_rng=np.random.default_rng(0)) as rel:
            assert rel.research_rng and rel.insecure_rng is not None
    with ledger.release("d", 0.001, "aim") as rel:
        assert not rel.research_rng and rel.insecure_rng is None
    assert [r["research_rng"] for r in ledger.summary("d")["releases"]] == [True, False]
    with pytest.raises(InputError, match="numpy.random.Generator"):
        with ledger.release("d", 0.001, "aim", insecure_rng=np.random.RandomState(0)):
            pass


@pytest.mark.parametrize("kwargs,match", [
    (dict(dataset="nope", rho=0.001, method="m"), "has no budget.*known: 'adult'"),
    (dict(dataset="adult", rho=0.0, method="m"), "rho"),
    (dict(dataset="adult", rho=float("nan"), method="m"), "rho"),
    (dict(dataset="adult", rho=0.001, method=""), "method"),
])
def test_release_rejects_bad_arguments_without_writing(ledger_path, kwargs, match):
    before = dump(ledger_path)
    with Ledger(ledger_path) as ledger:
        with pytest.raises(InputError, match=match):
            with ledger.release(**kwargs):
                pass
    assert dump(ledger_path) == before


def test_file_ledger_persists_uses_wal_and_is_append_only(ledger_path):
    with Ledger(ledger_path) as ledger:
        with ledger.release("adult", 0.001, "m") as rel:
            rel.charge("gaussian", "a", 1.0, 25.0, 0.0008)
        summary = ledger.summary("adult")
    with Ledger(ledger_path, create=False) as ledger:
        assert ledger.summary("adult") == summary
    conn = sqlite3.connect(ledger_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for sql in ("DELETE FROM releases", "UPDATE releases SET rho = 0", "DELETE FROM measurements",
                "UPDATE measurements SET rho = 0", "UPDATE budgets SET rho_total = 1", "DELETE FROM budgets",
                "UPDATE releases SET complete = 0"):
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute(sql)
    conn.close()


def test_files_that_are_not_ledgers(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(InputError, match="not a dpsynth ledger"):
        Ledger(text)
    assert text.read_text() == "hello\n"
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = dump(other)
    with pytest.raises(InputError, match="another program"):
        Ledger(other)
    assert dump(other) == before
    with pytest.raises(InputError, match="not a dpsynth ledger"):
        Ledger(other, create=False)
    with pytest.raises(InputError, match="no such ledger file"):
        Ledger(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(InputError, match="directory"):
        Ledger(tmp_path)


# --------------------------------------------------------------------------- processes

FORK = mp.get_context("fork")


def _race(path, barrier, results, rho):
    ledger = Ledger(path)
    barrier.wait()
    try:
        with ledger.release("adult", rho, "racer") as rel:
            rel.charge("gaussian", "all", 1.0, 1.0 / np.sqrt(2 * rho), rho)
            time.sleep(0.05)  # hold the reservation while the others try
        results.put("ok")
    except BudgetExceeded:
        results.put("exceeded")
    except Exception as exc:  # reported, so the test fails at once instead of waiting
        results.put(repr(exc))


@pytest.mark.slow
def test_eight_processes_race_for_a_budget_that_fits_three(ledger_path):
    rho = RHO_1 / 3.5  # three fit, a fourth does not
    barrier, results = FORK.Barrier(8), FORK.Queue()
    procs = [FORK.Process(target=_race, args=(ledger_path, barrier, results, rho)) for _ in range(8)]
    for p in procs:
        p.start()
    outcomes = sorted(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert outcomes == ["exceeded"] * 5 + ["ok"] * 3
    with Ledger(ledger_path) as ledger:
        s = ledger.summary("adult")
    assert len(s["releases"]) == 3 and all(r["complete"] for r in s["releases"])
    assert s["rho_spent"] == pytest.approx(3 * rho) and s["rho_spent"] <= s["rho_total"]


def _charge_forever(path):
    ledger = Ledger(path)
    with ledger.release("adult", RHO_1 / 8, "victim") as rel:
        while True:
            rel.charge("gaussian", "cell", 1.0, 1e4, 1e-12)


@pytest.mark.slow
def test_kill_9_mid_charge_leaves_a_valid_ledger(ledger_path):
    with Ledger(ledger_path) as ledger:
        with ledger.release("adult", 0.001, "earlier") as rel:
            rel.charge("gaussian", "a", 1.0, 30.0, 0.0005)
        earlier = ledger.summary("adult")["releases"]
    rng = np.random.default_rng(2024)
    for trial in range(4):
        child = FORK.Process(target=_charge_forever, args=(ledger_path,))
        child.start()
        conn = sqlite3.connect(ledger_path, timeout=30)
        newest = ("SELECT count(*) FROM measurements WHERE release_id = (SELECT release_id FROM releases "
                  "WHERE method = 'victim' ORDER BY rowid DESC LIMIT 1)")
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM releases WHERE method = 'victim'").fetchone()[0] <= trial \
                or conn.execute(newest).fetchone()[0] < 3:
            assert time.monotonic() < deadline and child.is_alive()
            time.sleep(0.005)
        conn.close()
        time.sleep(rng.uniform(0, 0.03))  # land somewhere inside the charge loop
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL

        conn = sqlite3.connect(ledger_path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        with Ledger(ledger_path) as ledger:
            s = ledger.summary("adult")
            assert s["releases"][: len(earlier)] == earlier  # history before the crash is intact
            (victim,) = s["releases"][len(earlier):]  # the killed release: spent, visibly incomplete
            assert victim["method"] == "victim" and not victim["complete"] and victim["finished"] is None
            assert victim["rho"] == RHO_1 / 8 and len(victim["measurements"]) >= 3
            assert s["rho_spent"] == pytest.approx(math.fsum(r["rho"] for r in earlier) + RHO_1 / 8)
            earlier = s["releases"]
            if trial == 0:  # the ledger is still writable: no stale lock survives the kill
                with ledger.release("adult", 1e-6, "after") as rel:
                    rel.charge("gaussian", "b", 1.0, 1e3, 1e-6)
                earlier = ledger.summary("adult")["releases"]
