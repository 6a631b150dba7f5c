"""`dpsynth ledger init|show`: output, JSON schema, exit codes."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from dpsynth.accounting import InsecureRNGWarning, Ledger
from dpsynth.cli import main

JSON_KEYS = {"dataset", "neighbouring", "epsilon", "delta", "rho_total", "rho_spent", "rho_remaining",
             "delta_spent", "epsilon_spent", "releases"}
RELEASE_KEYS = {"release_id", "method", "rho", "rho_charged", "delta", "delta_charged", "complete", "research_rng", "created", "finished",
                "error", "measurements"}
MEASUREMENT_KEYS = {"created", "mechanism", "query", "sensitivity", "scale", "rho", "delta"}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ledger_file(tmp_path, capsys):
    path = tmp_path / "l.db"
    assert run(capsys, "ledger", "init", str(path), "--dataset", "d", "--epsilon", "1", "--delta", "1e-9")[0] == 0
    return path


def spend(path):
    """One complete release with two measurements and one research-RNG release that failed."""
    with Ledger(path) as ledger:
        with ledger.release("d", 0.004, "mst") as rel:
            rel.charge("discrete_gaussian", ("age", "sex"), 1.0, 15.0, 1 / 450)
            rel.charge("exponential", "candidates", 3.0, 6.0, 0.001)
        with pytest.warns(InsecureRNGWarning), pytest.raises(RuntimeError):
            with ledger.release("d", 0.002, "aim", insecure_rng=np.random.default_rng(1)):
                raise RuntimeError("worker died")


def test_issue_done_criterion_json(ledger_file, capsys):
    code, out, err = run(capsys, "ledger", "show", str(ledger_file), "--dataset", "d", "--json")
    assert code == 0 and err == ""
    s = json.loads(out)
    assert set(s) == JSON_KEYS
    assert abs(s["rho_total"] - 0.0149731) < 1e-6
    assert (s["epsilon"], s["delta"], s["neighbouring"]) == (1.0, 1e-9, "add/remove-one")
    assert (s["rho_spent"], s["rho_remaining"], s["releases"]) == (0.0, s["rho_total"], [])


def test_json_lists_every_release_with_its_measurements(ledger_file, capsys):
    spend(ledger_file)
    s = json.loads(run(capsys, "ledger", "show", str(ledger_file), "--dataset", "d", "--json")[1])
    assert s["rho_spent"] == pytest.approx(0.006) and s["rho_remaining"] == pytest.approx(s["rho_total"] - 0.006)
    assert 0 < s["epsilon_spent"] < 1
    mst, aim = s["releases"]
    assert set(mst) == RELEASE_KEYS and all(set(m) == MEASUREMENT_KEYS for m in mst["measurements"])
    assert (mst["method"], mst["complete"], mst["research_rng"]) == ("mst", True, False)
    assert [(m["mechanism"], m["query"], m["sensitivity"], m["scale"]) for m in mst["measurements"]] == [
        ("discrete_gaussian", "age,sex", 1.0, 15.0), ("exponential", "candidates", 3.0, 6.0)]
    assert (aim["complete"], aim["research_rng"], aim["error"], aim["measurements"]) == (
        False, True, "RuntimeError", [])


def test_human_output_states_neighbouring_totals_and_releases(ledger_file, capsys):
    spend(ledger_file)
    code, out, _ = run(capsys, "ledger", "show", str(ledger_file))
    assert code == 0
    assert "add/remove-one neighbouring" in out
    assert "rho 0.0149731" in out and "epsilon 1, delta 1e-09" in out
    assert "spent      rho 0.006" in out and "in 2 releases" in out
    assert "remaining  rho 0.008973" in out
    assert "complete" in out and "INCOMPLETE" in out and "RuntimeError" in out and "worker died" not in out
    assert "RESEARCH RNG" in out
    assert "discrete_gaussian  query age,sex  sensitivity 1  scale 15  rho 0.00222222" in out
    assert "exponential  query candidates  sensitivity 3  scale 6  rho 0.001" in out


def test_show_all_datasets(ledger_file, capsys):
    assert run(capsys, "ledger", "init", str(ledger_file), "--dataset", "e", "--epsilon", "2", "--delta", "1e-6")[0] == 0
    code, out, _ = run(capsys, "ledger", "show", str(ledger_file), "--json")
    assert code == 0
    datasets = json.loads(out)["datasets"]
    assert [d["dataset"] for d in datasets] == ["d", "e"] and all(set(d) == JSON_KEYS for d in datasets)
    out = run(capsys, "ledger", "show", str(ledger_file))[1]
    assert "dataset 'd'" in out and "dataset 'e'" in out


def test_init_json_and_text(tmp_path, capsys):
    code, out, _ = run(capsys, "ledger", "init", str(tmp_path / "a.db"), "--dataset", "x", "--epsilon", "1",
                       "--delta", "1e-9", "--json")
    assert code == 0 and json.loads(out)["rho_total"] == pytest.approx(0.0149731, abs=1e-6)
    code, out, _ = run(capsys, "ledger", "init", str(tmp_path / "b.db"), "--dataset", "x", "--epsilon", "1",
                       "--delta", "1e-9")
    assert code == 0 and "rho 0.0149731" in out and "add/remove-one neighbouring" in out


@pytest.mark.parametrize("eps,delta,match,dataset", [
    ("0", "1e-9", "epsilon=0.0", "d"), ("-1", "1e-9", "epsilon", "d"), ("nan", "1e-9", "epsilon", "d"),
    ("1e300", "1e-9", "at most 50,000", "d"),
    ("1", "0", "zCDP needs delta > 0 for a finite epsilon", "d"), ("1", "1", "delta=1.0", "d"),
    ("1", "-0.1", "delta", "d"), ("1", "1e-9", "non-empty name", " "),
])
def test_init_bad_budget_exits_2_and_creates_nothing(tmp_path, capsys, eps, delta, match, dataset):
    path = tmp_path / "new.db"
    code, out, err = run(capsys, "ledger", "init", str(path), "--dataset", dataset, "--epsilon", eps,
                         "--delta", delta)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and match in err
    assert not path.exists()


def test_bad_inputs_exit_2_with_one_line(ledger_file, tmp_path, capsys):
    text = tmp_path / "x.csv"
    text.write_text("a,b\n1,2\n")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    before = ledger_file.read_bytes()
    cases = [
        (["ledger", "init", str(ledger_file), "--dataset", "d", "--epsilon", "5", "--delta", "1e-9"], "already has a budget"),
        (["ledger", "show", str(tmp_path / "missing.db")], "no such ledger file"),
        (["ledger", "show", str(ledger_file), "--dataset", "zz"], "'zz' has no budget"),
        (["ledger", "show", str(text)], "not a dpsynth ledger"),
        (["ledger", "init", str(text), "--dataset", "d", "--epsilon", "1", "--delta", "1e-9"], "not a dpsynth ledger"),
        (["ledger", "show", str(other)], "not a dpsynth ledger"),
        (["ledger", "init", str(tmp_path / "no" / "dir.db"), "--dataset", "d", "--epsilon", "1", "--delta", "1e-9"],
         "cannot open the ledger"),
    ]
    for argv, match in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert out == "" and err.count("\n") == 1 and match in err, (argv, err)
    assert ledger_file.read_bytes() == before
    assert text.read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "missing.db").exists()


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["ledger", "init", "x.db", "--epsilon", "1", "--delta", "1e-9"])  # no --dataset
    assert info.value.code == 2
    assert "--dataset" in capsys.readouterr().err


def test_console_entry_point_in_a_subprocess(tmp_path):
    path = tmp_path / "l.db"
    cli = [sys.executable, "-m", "dpsynth.cli", "ledger"]
    done = subprocess.run(cli + ["init", str(path), "--dataset", "d", "--epsilon", "1", "--delta", "1e-9"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(cli + ["show", str(path), "--dataset", "d", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and abs(json.loads(done.stdout)["rho_total"] - 0.0149731) < 1e-6
    done = subprocess.run(cli + ["show", str(path), "--dataset", "nope"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
