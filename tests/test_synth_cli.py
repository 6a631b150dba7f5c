"""`dpsynth synth` through the command line: outputs, metadata, exit codes, concurrency."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from dpsynth.accounting import Ledger, rho_from_epsilon
from dpsynth.cli import main

from test_synthesizers import SCHEMA, dependent_table


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    data = tmp_path / "data.csv"
    dependent_table(3000).to_csv(data, index=False)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    return {"data": data, "schema": schema, "dir": tmp_path}


def synth_args(files, *extra: str) -> list[str]:
    return ["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
            "--out", str(files["dir"] / "out.csv"), *extra]


def test_synth_writes_rows_and_metadata(files, capsys):
    assert main(synth_args(files, "--rows", "123", "--json")) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "no --ledger" in captured.err   # a one-off budget composes with nothing: said, not silent
    rows = pd.read_csv(files["dir"] / "out.csv")
    assert len(rows) == 123 and list(rows.columns) == ["a", "b", "c", "d"]
    meta = json.loads((files["dir"] / "out.csv.release.json").read_text())
    for key in ("method", "epsilon", "delta", "rho", "neighbouring", "measurements", "schema_sha256",
                "research_rng", "dpsynth_version", "ledger_release_id"):
        assert key in meta
    assert meta["research_rng"] is False
    assert out["ledger"]["rho_total"] == pytest.approx(rho_from_epsilon(1, 1e-9))
    assert out["ledger"]["rho_remaining"] == pytest.approx(0, abs=1e-12)


def test_synth_with_ledger_and_exit_3_when_overspent(files, capsys):
    ledger = files["dir"] / "l.db"
    assert main(["ledger", "init", str(ledger), "--dataset", "d", "--epsilon", "1.2", "--delta", "1e-9"]) == 0
    assert main(synth_args(files, "--ledger", str(ledger), "--dataset", "d", "--method", "independent")) == 0
    before = Ledger(str(ledger)).summary("d")
    (files["dir"] / "out.csv").unlink()
    capsys.readouterr()
    assert main(synth_args(files, "--ledger", str(ledger), "--dataset", "d")) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "remain" in err
    assert not (files["dir"] / "out.csv").exists()
    assert Ledger(str(ledger)).summary("d") == before


def bad_cases(files):
    d = files["dir"]
    extra_col = d / "extra.csv"
    dependent_table(100).assign(e=1).to_csv(extra_col, index=False)
    missing_col = d / "missing.csv"
    dependent_table(100).drop(columns="d").to_csv(missing_col, index=False)
    bad_value = d / "bad.csv"
    dependent_table(100).assign(a="w").to_csv(bad_value, index=False)
    drafted = d / "drafted.json"
    drafted.write_text(json.dumps({**SCHEMA, "drafted_from_data": True}))
    base = ["--schema", str(files["schema"]), "--out", str(d / "o.csv")]
    return {
        "missing file": (["synth", str(d / "nope.csv"), *base, "--epsilon", "1"], "nope.csv"),
        "extra column": (["synth", str(extra_col), *base, "--epsilon", "1"], "'e'"),
        "missing column": (["synth", str(missing_col), *base, "--epsilon", "1"], "'d'"),
        "out of domain": (["synth", str(bad_value), *base, "--epsilon", "1"], "'w'"),
        "epsilon zero": (["synth", str(files["data"]), *base, "--epsilon", "0"], "epsilon"),
        "epsilon negative": (["synth", str(files["data"]), *base, "--epsilon", "-1"], "epsilon"),
        "delta zero": (["synth", str(files["data"]), *base, "--epsilon", "1", "--delta", "0"], "delta"),
        "delta one": (["synth", str(files["data"]), *base, "--epsilon", "1", "--delta", "1"], "delta"),
        "unknown method": (["synth", str(files["data"]), *base, "--epsilon", "1", "--method", "gan"], "gan"),
        "unwritable output": (["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
                               "--out", str(d / "no_such_dir" / "o.csv")], "no_such_dir"),
        "drafted schema": (["synth", str(files["data"]), "--schema", str(drafted), "--out", str(d / "o.csv"),
                            "--epsilon", "1"], "schema-is-public"),
        "ledger without dataset": (["synth", str(files["data"]), *base, "--epsilon", "1", "--ledger",
                                    str(d / "l.db")], "--dataset"),
        "missing ledger": (["synth", str(files["data"]), *base, "--epsilon", "1", "--ledger",
                            str(d / "none.db"), "--dataset", "x"], "ledger init"),
        "epsilon huge": (["synth", str(files["data"]), *base, "--epsilon", "1e300"], "at most 50,000"),
        "empty out": (["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
                       "--out", ""], "not a file name"),
        "out is a directory": (["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
                                "--out", str(d)], "is a directory"),
        "out not a table": (["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
                             "--out", str(d / "o.xlsx")], ".csv, .parquet"),
        "out is the data": (["synth", str(files["data"]), "--schema", str(files["schema"]), "--epsilon", "1",
                             "--out", str(files["data"])], "same file as DATA"),
        "model is the schema": (["synth", str(files["data"]), *base, "--epsilon", "1", "--save-model",
                                 str(files["schema"])], "same file as --schema"),
    }


CASES = ["missing file", "extra column", "missing column", "out of domain", "epsilon zero", "epsilon negative",
         "delta zero", "delta one", "unknown method", "unwritable output", "drafted schema",
         "ledger without dataset", "missing ledger", "epsilon huge", "empty out", "out is a directory",
         "out not a table", "out is the data", "model is the schema"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_one_line(case, files, capsys):
    argv, needle = bad_cases(files)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert not (files["dir"] / "o.csv").exists()


def test_outputs_never_overwrite_the_ledger_and_a_refused_run_spends_nothing(files, capsys):
    ledger = files["dir"] / "l.db"
    assert main(["ledger", "init", str(ledger), "--dataset", "d", "--epsilon", "2", "--delta", "1e-9"]) == 0
    before = ledger.read_bytes()
    for out, model, needle in ((ledger, None, "same file as --ledger"), (files["dir"] / "o.csv", ledger, "--ledger"),
                               (files["dir"] / "o.csv", None, "is a directory")):
        if needle == "is a directory":  # the metadata path is taken: refused before the fit, not after the rows
            (files["dir"] / "o.csv.release.json").mkdir()
        capsys.readouterr()
        argv = synth_args(files, "--ledger", str(ledger), "--dataset", "d", "--json")
        argv[argv.index("--out") + 1] = str(out)
        assert main(argv + (["--save-model", str(model)] if model else [])) == 2
        captured = capsys.readouterr()
        assert needle in captured.err and json.loads(captured.out)["exit_code"] == 2
        assert ledger.read_bytes() == before
    assert not (files["dir"] / "o.csv").exists()


def test_json_errors_and_internal_errors(files, capsys, monkeypatch):
    assert main(synth_args(files, "--epsilon", "0", "--json")) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"error": captured.err.strip().removeprefix("dpsynth: error: "), "exit_code": 2}
    with pytest.raises(SystemExit):
        main(synth_args(files, "--rows", "many", "--json"))
    assert "--rows" in json.loads(capsys.readouterr().out)["error"]
    monkeypatch.setattr("dpsynth.commands.synth.read_table", lambda *a, **k: 1 / 0)
    assert main(synth_args(files)) == 4
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "internal error (ZeroDivisionError" in err and "DPSYNTH_DEBUG=1" in err
    monkeypatch.setenv("DPSYNTH_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(synth_args(files))


def test_no_traceback_in_a_real_process(files):
    proc = subprocess.run([sys.executable, "-m", "dpsynth.cli", *synth_args(files, "--method", "nope")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_eight_concurrent_releases_exactly_three_fit(files):
    """(0.5, 1e-9) three times fits in (1, 1e-9) under zCDP composition; four times does not."""
    rho_small, rho_total = rho_from_epsilon(0.5, 1e-9), rho_from_epsilon(1, 1e-9)
    assert 3 * rho_small <= rho_total < 4 * rho_small
    ledger = files["dir"] / "race.db"
    assert main(["ledger", "init", str(ledger), "--dataset", "d", "--epsilon", "1", "--delta", "1e-9"]) == 0
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    procs = [subprocess.Popen([sys.executable, "-m", "dpsynth.cli", "synth", str(files["data"]), "--schema",
                               str(files["schema"]), "--epsilon", "0.5", "--method", "independent",
                               "--ledger", str(ledger), "--dataset", "d", "--json",
                               "--out", str(files["dir"] / f"out{i}.csv")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for i in range(8)]
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0, 0, 0, 3, 3, 3, 3, 3]
    summary = Ledger(str(ledger)).summary("d")
    assert len(summary["releases"]) == 3
    assert summary["rho_spent"] == pytest.approx(3 * rho_small, rel=1e-12)
    assert len(list(files["dir"].glob("out*.csv"))) == 3
