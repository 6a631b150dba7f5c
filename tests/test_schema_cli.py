"""`dpsynth schema`: drafting with a warning, --check, and every bad input -> exit 2, one line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from dpsynth.cli import main
from dpsynth.domain import Schema


@pytest.fixture
def table(tmp_path):
    p = tmp_path / "people.csv"
    pd.DataFrame({
        "age": [23, 45, 31, 67, 52, 38, 29, 41, 33, 60] * 5,
        "city": ["Oslo", "Lima", "Pune", None, "Oslo"] * 10,
        "score": [0.5, 1.25, 3.0, 2.5, 0.0] * 10,
        "joined": ["2020-01-05", "2021-06-30", "2019-12-31", "2020-02-29", "2022-07-14"] * 10,
    }).to_csv(p, index=False)
    return p


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse errors leave through SystemExit(2)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_draft_to_file_warns_and_records_the_flag(tmp_path, table, capsys):
    out_path = tmp_path / "schema.json"
    code, out, err = run_cli(capsys, "schema", table, "--out", out_path, "--bins", 4, "--max-categories", 8)
    assert code == 0
    assert "drafted from the private data" in err and "--schema-is-public" in err
    doc = json.loads(out_path.read_text())
    assert doc["version"] == 1 and doc["drafted_from_data"] is True
    assert list(doc["columns"]) == ["age", "city", "score", "joined"]
    schema = Schema.from_json(out_path)
    assert schema.drafted_from_data and [c.kind for c in schema] == ["numeric", "categorical", "numeric",
                                                                      "datetime"]
    assert schema["city"].missing and schema["score"].bins == 4
    assert "city: categorical, 4 cells" in out and str(out_path) in out


def test_draft_to_stdout_and_json_summary(table, capsys):
    code, out, err = run_cli(capsys, "schema", table, "--max-categories", 5)
    assert code == 0 and "warning" in err
    schema = Schema.from_json(json.loads(out))
    assert schema["age"].kind == "numeric" and schema["age"].integer  # 10 distinct ages > 5
    code, out, _ = run_cli(capsys, "schema", table, "--json")
    doc = json.loads(out)
    assert doc["drafted_from_data"] is True and doc["out"] is None
    assert doc["hash"] == Schema.from_json(doc["schema"]).hash()
    assert [c["name"] for c in doc["columns"]] == ["age", "city", "score", "joined"]


def test_check_accepts_a_valid_schema(tmp_path, table, capsys):
    schema_path = tmp_path / "s.json"
    assert run_cli(capsys, "schema", table, "--out", schema_path)[0] == 0
    code, out, err = run_cli(capsys, "schema", table, "--check", schema_path, "--json")
    assert code == 0 and json.loads(out)["ok"] is True and err == ""


def test_check_accepts_a_schema_with_columns_to_learn(tmp_path, table, capsys):
    learn = {"columns": {"age": {"kind": "numeric", "lower": 0, "upper": 100, "bins": 4, "edges": "learn"},
                         "city": {"kind": "categorical", "categories": "learn", "other": "other", "missing": True},
                         "score": {"kind": "numeric", "lower": 0, "upper": 5, "bins": 5},
                         "joined": {"kind": "categorical", "categories": "learn", "other": "other"}}}
    path = write(tmp_path, "learn.json", json.dumps(learn))
    code, out, err = run_cli(capsys, "schema", table, "--check", path, "--json")
    assert code == 0 and json.loads(out)["learnable"] == ["age", "city", "joined"], err
    learn["columns"]["city"]["missing"] = False   # the data has missing cities
    code, out, err = run_cli(capsys, "schema", table, "--check", write(tmp_path, "bad.json", json.dumps(learn)))
    assert code == 2 and "'city': 10 missing value(s)" in err


def test_draft_names_other_past_every_taken_label(tmp_path, capsys):
    p = tmp_path / "o.csv"
    pd.DataFrame({"c": ["other", "(other)", "__other__", "x", "y"] * 4 + ["z"]}).to_csv(p, index=False)
    code, out, err = run_cli(capsys, "schema", p, "--max-categories", 4, "--json")
    assert code == 0, err
    (col,) = Schema.from_json(json.loads(out)["schema"]).columns
    assert col.other not in col.categories and col.other.startswith("__other")


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def bad_cases(tmp_path, table):
    """(argv, fragment of the one-line error) for every bad-input path."""
    good = {"age": {"kind": "numeric", "lower": 0, "upper": 100, "bins": 4, "integer": True},
            "city": {"kind": "categorical", "categories": ["Oslo", "Lima", "Pune"], "missing": True},
            "score": {"kind": "numeric", "lower": 0, "upper": 5, "bins": 5},
            "joined": {"kind": "datetime", "lower": "2019-01-01", "upper": "2023-01-01", "bin_width": "30D"}}

    def schema(**changes):
        cols = {**good, **changes}
        return write(tmp_path, f"s{len(os.listdir(tmp_path))}.json", json.dumps({"version": 1, "columns": cols}))

    no_city = {k: v for k, v in good.items() if k != "city"}
    return [
        (["schema", tmp_path / "absent.csv"], "no such file"),
        (["schema", write(tmp_path, "empty.csv", "")], "cannot read table"),
        (["schema", write(tmp_path, "header.csv", "a,b\n")], "empty"),
        (["schema", tmp_path], "cannot read table"),
        (["schema", write(tmp_path, "junk.parquet", "not parquet")], "cannot read table"),
        (["schema", table, "--bins", "0"], "--bins"),
        (["schema", table, "--bins", "many"], "invalid int value"),
        (["schema", table, "--max-categories", "1"], "--max-categories"),
        (["schema", table, "--out", tmp_path / "no_dir" / "s.json"], "does not exist"),
        (["schema", table, "--check", write(tmp_path, "nonjson.json", "{oops")], "not valid JSON"),
        (["schema", table, "--check", tmp_path / "absent.json"], "no such file"),
        (["schema", table, "--check", schema(age={**good["age"], "lower": 200})], "greater than upper"),
        (["schema", table, "--check", schema(city={"kind": "categorical", "categories": ["a", "a"]})],
         "duplicate categories"),
        (["schema", table, "--check", schema(city={"kind": "nominal"})], "unknown kind"),
        (["schema", table, "--check", schema(score={**good["score"], "bins": 0})], "'bins'"),
        (["schema", table, "--check", schema(score={"kind": "numeric", "edges": [0, 3, 1]})], "strictly increasing"),
        (["schema", table, "--check", schema(city={**good["city"], "missing": False})], "set \"missing\": true"),
        (["schema", table, "--check", schema(city={**good["city"], "categories": ["Oslo"]})],
         "outside the schema's 1 categories"),
        (["schema", table, "--check", write(tmp_path, "nocity.json", json.dumps({"columns": no_city}))],
         "not in the schema: 'city'"),
        (["schema", table, "--check", schema(town=good["city"])], "missing from the data: 'town'"),
        (["schema", table, "--check", schema(), "--out", tmp_path / "x.json"], "cannot be combined"),
    ]


def test_every_bad_input_exits_2_with_one_line(tmp_path, table, capsys):
    for argv, fragment in bad_cases(tmp_path, table):
        code, out, err = run_cli(capsys, *argv)
        assert code == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dpsynth: error:"), (argv, err)
        assert fragment in lines[0], (argv, lines[0])
    assert not (tmp_path / "x.json").exists()


def test_subprocess_bad_input_has_no_traceback(tmp_path, table):
    nonjson = write(tmp_path, "s.json", "[not json")
    proc = subprocess.run([sys.executable, "-m", "dpsynth.cli", "schema", str(table), "--check", str(nonjson)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"dpsynth: error: {nonjson}: not valid JSON "
                                                f"(Expecting value at line 1, column 2)"]
