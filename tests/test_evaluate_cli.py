"""`dpsynth evaluate` and `dpsynth attack`: JSON and text output, and every bad input -> exit 2, one line."""
from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpsynth.cli import main

SCHEMA = Path(str(resources.files("dpsynth") / "datasets" / "adult.schema.json"))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """Three disjoint random 1,500-row parts of the bundled Adult table, as CSV files."""
    df = pd.read_csv(resources.files("dpsynth") / "datasets" / "adult.csv.gz")
    idx = np.random.default_rng(7).permutation(len(df))[:4500]
    d = tmp_path_factory.mktemp("tables")
    paths = {}
    for k, name in enumerate(("train", "holdout", "other")):
        paths[name] = d / f"{name}.csv"
        df.iloc[idx[k * 1500:(k + 1) * 1500]].to_csv(paths[name], index=False)
    paths["narrow"] = d / "narrow.csv"
    df.iloc[:50].drop(columns=["age"]).to_csv(paths["narrow"], index=False)
    return paths


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors leave through SystemExit(2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_json_with_target(tables, capsys):
    code, out, err = run_cli(capsys, "evaluate", tables["train"], tables["other"], "--target", "income",
                             "--three-way", 30, "--json")
    assert code == 0, err
    res = json.loads(out)
    f = res["fidelity"]
    assert f["n_real"] == 1500 and f["tvd"]["3"]["n"] == 30 and len(f["marginals"]["2"]) == 105
    assert 0 < f["tvd"]["2"]["mean"] < 0.3  # an independent sample of the same population
    (t,) = res["utility"]["targets"]
    assert t["target"] == "income" and [m["model"] for m in t["models"]] == [
        "logistic_regression", "gradient_boosting", "random_forest"]
    assert all(m["trtr"]["auc"] > 0.8 and m["tstr"]["auc"] > 0.8 for m in t["models"])


def test_evaluate_text_with_schema_and_no_utility(tables, capsys):
    code, out, err = run_cli(capsys, "evaluate", tables["train"], tables["other"], "--schema", SCHEMA, "--no-utility")
    assert code == 0, err
    assert "bins from the schema" in out and "1-way: mean" in out and "Utility" not in out
    assert "not for publication" in out


def test_attack_json_copy_leaks(tables, capsys):
    code, out, err = run_cli(capsys, "attack", tables["train"], tables["holdout"], tables["train"], "--json",
                             "--targets", 300, "--attack", "dcr_membership", "--attack", "linkability",
                             "--confidence", 0.9)
    assert code == 0, err
    res = json.loads(out)
    assert res["confidence"] == 0.9 and res["correction"] == "bonferroni"
    assert res["per_attack_confidence"] == pytest.approx(0.95)
    assert [a["name"] for a in res["attacks"]] == ["dcr_membership", "linkability"]
    assert all(a["leak"] and a["ci_low"] > 0 for a in res["attacks"])
    assert res["attacks"][0]["n_targets"] == 300


def test_attack_text_independent_sample(tables, capsys):
    code, out, err = run_cli(capsys, "attack", tables["train"], tables["holdout"], tables["other"],
                             "--schema", SCHEMA, "--targets", 300)
    assert code == 0, err
    assert "dcr_membership" in out and "attribute_inference" in out
    assert "LEAK" not in out and out.count("no leak detected") == 5


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{train}", "{missing}"], "no such file"),
    (["evaluate", "{train}", "{narrow}"], "column mismatch: SYNTH lacks ['age']"),
    (["evaluate", "{train}", "{other}", "--target", "nope"], "unknown target column(s) ['nope']"),
    (["evaluate", "{train}", "{other}", "--target", "age"], "'age' is numeric"),
    (["evaluate", "{train}", "{other}", "--no-utility", "--target", "income"], "--no-utility"),
    (["evaluate", "{train}", "{other}", "--schema", "{missing}"], "no such file"),
    (["attack", "{train}", "{holdout}", "{missing}"], "no such file"),
    (["attack", "{train}", "{narrow}", "{other}"], "column mismatch: HOLDOUT lacks ['age']"),
    (["attack", "{train}", "{holdout}", "{other}", "--confidence", "1.5"], "confidence must be between 0 and 1"),
    (["attack", "{train}", "{holdout}", "{other}", "--attack", "nope"], "invalid choice"),
    (["attack", "{train}", "{holdout}", "{other}", "--targets", "5"], "--targets must be at least 20"),
])
def test_bad_input_exits_2_with_one_line(tables, capsys, tmp_path, argv, message):
    paths = {**{k: str(v) for k, v in tables.items()}, "missing": str(tmp_path / "missing.csv")}
    code, out, err = run_cli(capsys, *[a.format(**paths) for a in argv])
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_console_entry_point_exit_code(tables, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dpsynth.cli", "attack", str(tables["train"]),
                           str(tmp_path / "nope.csv"), str(tables["other"])], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("dpsynth: error:") and len(proc.stderr.strip().splitlines()) == 1
