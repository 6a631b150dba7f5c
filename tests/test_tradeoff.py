"""dpsynth tradeoff: flattening points, the rare-combination measure, the command end to end."""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpsynth.attacks import run_attacks
from dpsynth.cli import main
from dpsynth.tradeoff import flattening_point, format_tradeoff, rare_combinations

COLUMNS = ["age", "workclass", "education", "sex", "hours-per-week", "income"]
EPS = [0.1, 0.3, 1.0, 3.0, 10.0]


@pytest.mark.parametrize("means,spread,expected", [
    ([1.0, 0.5, 0.1, 0.09, 0.085], 0.0, (1.0, "flattens")),      # within 10% of the 0.915 drop from eps 1 on
    ([1.0, 0.8, 0.6, 0.4, 0.2], 0.0, (None, "still_changing")),
    ([0.5, 0.9, 0.91, 0.905, 0.9], 0.0, (0.3, "flattens")),       # rising curves too
    ([0.2, 0.2, 0.2, 0.2, 0.2], 0.0, (None, "no_change")),
    ([0.01, -0.02, 0.0, 0.015, -0.01], 0.05, (None, "no_trend")),  # noise within the fits' spread
    ([0.3, None, 0.2, 0.1, 0.1], 0.0, (None, "undefined")),
])
def test_flattening_point(means, spread, expected):
    assert flattening_point(EPS, means, spread) == expected


def test_rare_combinations_by_hand():
    # one column pair; sizes 2 x 3; real: 100 rows, cell (1, 2) holds 1 row (rare at 1%), (1, 1) holds 2 rows
    real = np.array([[0, 0]] * 97 + [[1, 1]] * 2 + [[1, 2]], dtype=np.int64)
    synth = np.array([[0, 0]] * 199 + [[1, 1]], dtype=np.int64)
    r = rare_combinations(real, synth, (2, 3), [[0, 1]], rare_share=0.015)
    # rare cells: (1, 2) only (share 0.01); the synthetic data has none of it
    assert r["n_cells"] == 1 and r["coverage"] == 0.0 and r["relative_error"] == pytest.approx(1.0)
    r = rare_combinations(real, synth, (2, 3), [[0, 1]], rare_share=0.02)
    # (1, 1) share 0.02 vs 0.005 synthetic, (1, 2) 0.01 vs 0: (0.015 + 0.01) / 0.03
    assert r["n_cells"] == 2 and r["coverage"] == 0.5 and r["relative_error"] == pytest.approx(0.025 / 0.03)
    assert rare_combinations(real, synth, (2, 3), [[0, 1]], rare_share=0.001)["relative_error"] is None


def test_attacks_do_not_depend_on_the_tables_index(adult):
    """Regression: a train/test split keeps pandas indices; the attacks must give what a reset index gives."""
    from dpsynth.domain import Schema

    df, schema_path = adult
    schema = Schema.from_json(schema_path)
    perm = np.random.default_rng(3).permutation(len(df))
    train, holdout, other = df.iloc[np.sort(perm[:600])], df.iloc[np.sort(perm[600:1200])], df.iloc[perm[1200:1800]]
    kw = dict(attacks=["dcr_membership", "attribute_inference"], n_targets=200, seed=1)
    a = run_attacks(train, holdout, other, schema, **kw)
    b = run_attacks(*(t.reset_index(drop=True) for t in (train, holdout, other)), schema, **kw)
    assert [x["advantage"] for x in a["attacks"]] == [x["advantage"] for x in b["attacks"]]


@pytest.fixture(scope="module")
def adult(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    d = tmp_path_factory.mktemp("tradeoff")
    data = resources.files("dpsynth") / "datasets"
    df = pd.read_csv(data / "adult.csv.gz", usecols=COLUMNS)[COLUMNS]
    df = df.iloc[np.random.default_rng(0).permutation(len(df))[:2000]].reset_index(drop=True)
    full = json.loads((data / "adult.schema.json").read_text())
    (d / "schema.json").write_text(json.dumps({**full, "columns": {c: full["columns"][c] for c in COLUMNS}}))
    df.to_csv(d / "data.csv", index=False)
    return df, d / "schema.json"


@pytest.mark.slow
def test_tradeoff_command_end_to_end(adult, tmp_path, capsys):
    df, schema = adult
    data = schema.parent / "data.csv"
    out = tmp_path / "tradeoff.html"
    rc = main(["tradeoff", str(data), "--schema", str(schema), "--epsilons", "10,0.1", "--reps", "1",
               "--workers", "2", "--target", "income", "--attack", "dcr_membership", "--attack", "singling_out",
               "--targets", "150", "--max-train-rows", "500", "--out", str(out), "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res == json.loads(out.with_suffix(".json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tradeoff.html", "tradeoff.json"]  # no ledger, no release
    assert res["epsilons"] == [0.1, 10.0] and res["n_train"] + res["n_test"] == len(df) and res["n_test"] == 600
    assert len(res["fits"]) == 2 and res["target"] == "income"
    c = res["curves"]
    # real behaviour: a hundred times the budget fits the marginals far better
    for k in ("tvd_1way", "tvd_2way", "tvd_3way"):
        assert c[k]["mean"][1] < c[k]["mean"][0] - 0.05
    # TRTR does not depend on epsilon (same real models); TSTR at epsilon 10 is close to it
    for m in res["models"]:
        assert c[f"trtr_{m}"]["mean"][0] == c[f"trtr_{m}"]["mean"][1]
        assert c[f"trtr_{m}"]["flat_status"] == "no_change"
    assert set(res["attacks"]) == {"dcr_membership", "singling_out"} and "advantage_singling_out" in c
    page = out.read_text()
    assert "nothing is charged to any ledger" in page and "data:image/png;base64," in page
    assert "http" not in page.split("<body>")[1].split("All numbers")[0]
    assert "delta 1e-09, add/remove-one neighbouring" in format_tradeoff(res).splitlines()[0]


@pytest.mark.parametrize("argv,needle", [
    (["--epsilons", "1"], "at least two"),
    (["--epsilons", "a,b"], "comma-separated numbers"),
    (["--epsilons=-1,2"], "at least two distinct finite values > 0"),
    (["--epsilons", "0,2"], "at least two distinct finite values > 0"),
    (["--epsilons", "1,1e300"], "at most 50,000"),
    (["--method", "nope"], "unknown method"),
    (["--reps", "0"], "--reps"),
    (["--workers", "0"], "--workers"),
    (["--target", "nope"], "unknown target"),
    (["--target", "age"], "numeric with"),   # refused before any fit
    (["--delta", "0"], "delta"),
])
def test_bad_input_exits_2_with_one_line(adult, tmp_path, capsys, argv, needle):
    _, schema = adult
    rc = main(["tradeoff", str(schema.parent / "data.csv"), "--schema", str(schema), "--out",
               str(tmp_path / "t.html"), *argv])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err
    assert not (tmp_path / "t.html").exists()


def test_out_must_be_html(adult, tmp_path, capsys):
    _, schema = adult
    assert main(["tradeoff", str(schema.parent / "data.csv"), "--schema", str(schema), "--out",
                 str(tmp_path / "t.json")]) == 2
    assert "--out ending in .html" in capsys.readouterr().err
