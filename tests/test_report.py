"""dpsynth report: the HTML page, its JSON twin, the public version, Chromium rendering, errors."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpsynth.accounting import Ledger
from dpsynth.attacks.audit import audit, canary_design
from dpsynth.cli import main
from dpsynth.domain import Schema
from dpsynth.evaluate import fidelity
from dpsynth.io import write_json
from dpsynth.synthesizers import Independent

COLUMNS = ["age", "workclass", "education", "marital-status", "sex", "hours-per-week", "income"]


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    """Adult (7 columns): 2,000 TRAIN rows, 1,000 HOLDOUT rows, an MST release charged to a ledger, an audit."""
    d = tmp_path_factory.mktemp("report")
    data = resources.files("dpsynth") / "datasets"
    df = pd.read_csv(data / "adult.csv.gz", usecols=COLUMNS)[COLUMNS]
    full = json.loads((data / "adult.schema.json").read_text())
    schema = {**full, "columns": {c: full["columns"][c] for c in COLUMNS}}
    (d / "schema.json").write_text(json.dumps(schema))
    rows = np.random.default_rng(0).permutation(len(df))
    df.iloc[rows[:2000]].to_csv(d / "train.csv", index=False)
    df.iloc[rows[2000:3000]].to_csv(d / "holdout.csv", index=False)
    assert main(["ledger", "init", str(d / "ledger.db"), "--dataset", "adult", "--epsilon", "4", "--delta", "1e-8"]) == 0
    assert main(["synth", str(d / "train.csv"), "--schema", str(d / "schema.json"), "--epsilon", "1",
                 "--method", "mst", "--ledger", str(d / "ledger.db"), "--dataset", "adult",
                 "--out", str(d / "synth.csv"), "--json"]) == 0
    result = audit(Independent, 1.0, runs=10, design=canary_design(rows=40, columns=2))
    write_json(d / "audit.json", result)
    return d


def _cli_report(d: Path, out: Path, *extra: str) -> int:
    return main(["report", str(d / "train.csv"), str(d / "synth.csv"), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def internal(release_dir) -> tuple[Path, dict, str]:
    d = release_dir
    out = d / "report.html"
    assert _cli_report(d, out, "--ledger", str(d / "ledger.db"), "--dataset", "adult", "--holdout",
                       str(d / "holdout.csv"), "--audit", str(d / "audit.json"), "--target", "income",
                       "--max-train-rows", "1000") == 0
    return out, json.loads(out.with_suffix(".json").read_text()), out.read_text()


def _no_external_references(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//)""", page)
    assert "<script" not in page and "@import" not in page


def test_internal_report_is_self_contained_and_labelled(internal):
    _, rep, page = internal
    _no_external_references(page)
    assert rep["mode"] == "internal"
    assert "INTERNAL REVIEW - NOT FOR PUBLICATION" in page
    assert page.index("INTERNAL REVIEW") < page.index("1. Privacy claim")  # at the top
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(imgs) >= 7
    assert all(base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n" for b in imgs)


def test_privacy_claim_and_ledger_match_the_release_and_the_ledger(internal, release_dir):
    _, rep, page = internal
    meta = json.loads((release_dir / "synth.csv.release.json").read_text())
    p = rep["privacy"]
    assert (p["epsilon"], p["delta"], p["neighbouring"], p["method"]) == (1.0, 1e-9, "add/remove-one", "mst")
    assert p["created"] == meta["created"] and not p["research_rng"]
    assert "(1, 1e-09)-differential privacy under add/remove-one neighbouring" in page
    with Ledger(str(release_dir / "ledger.db"), create=False) as led:
        summary = led.summary("adult")
    assert rep["ledger"]["rho_spent"] == pytest.approx(summary["rho_spent"])
    assert rep["ledger"]["rho_remaining"] == pytest.approx(summary["rho_remaining"])
    assert [r["release_id"] for r in rep["ledger"]["releases"]] == [meta["ledger_release_id"]]
    assert all(c["ok"] for c in rep["checks"]) and len(rep["checks"]) == 7
    assert rep["release"]["ledger_release_id"] == meta["ledger_release_id"]
    n_measured = sum(1 for m in meta["measurements"] if m["mechanism"] == "discrete_gaussian")
    assert p["n_measurements"] == n_measured == 7 + 6  # MST: every 1-way marginal and a spanning tree of 2-ways


def test_json_twin_holds_the_numbers_the_page_shows(internal, release_dir):
    _, rep, page = internal
    real = pd.read_csv(release_dir / "train.csv")
    synth = pd.read_csv(release_dir / "synth.csv")
    again = fidelity(real, synth, str(release_dir / "schema.json"))
    for k in ("1", "2", "3"):
        assert rep["fidelity"]["tvd"][k]["mean"] == pytest.approx(again["tvd"][k]["mean"])
        assert f"{rep['fidelity']['tvd'][k]['mean']:.3f}" in page
    # per-column distributions: shares of all rows (categorical shares, numeric bins + missing, sum to 1)
    for d in rep["fidelity"]["distributions"]:
        total = np.sum(d["real"]) + d.get("missing_real", 0.0)
        assert total == pytest.approx(1.0)
    sex = next(d for d in rep["fidelity"]["distributions"] if d["column"] == "sex")
    truth = real["sex"].value_counts(normalize=True)
    assert dict(zip(sex["labels"], sex["real"])) == pytest.approx(truth.to_dict())
    util = rep["utility"]["targets"][0]
    assert util["target"] == "income" and rep["utility"]["test_set"] == "HOLDOUT table"
    for m in util["models"]:
        assert f"{m['tstr']['auc']:.3f}" in page
    att = rep["attacks"]
    assert {a["name"] for a in att["attacks"]} >= {"dcr_membership", "singling_out", "linkability"}
    for a in att["attacks"]:
        assert f"[{a['ci_low']:+.3f}, {a['ci_high']:+.3f}]" in page
    assert rep["audit"]["epsilon_lower_bound"] == json.loads((release_dir / "audit.json").read_text())["epsilon_lower_bound"]
    w = rep["what_this_data_is"]
    assert w["is"] and w["is_not"] and (w["expected_to_hold"] or w["not_expected_to_hold"])


def test_without_holdout_the_attacks_are_not_run_and_the_page_says_so(release_dir):
    out = release_dir / "noholdout.html"
    assert _cli_report(release_dir, out, "--target", "income", "--max-train-rows", "500") == 0
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["attacks"]["run"] is False and "HOLDOUT" in rep["attacks"]["reason"]
    assert "Not run: no HOLDOUT table was given" in out.read_text()
    assert rep["ledger"] is None and rep["audit"] is None
    # the release metadata beside SYNTH was picked up, and its schema used for the bins
    assert rep["privacy"]["method"] == "mst" and rep["fidelity"]["binning"] == "from the schema"


def test_public_report_has_dp_quantities_only_and_never_reads_real(release_dir, tmp_path, capsys):
    out = tmp_path / "public.html"
    rc = main(["report", str(tmp_path / "there-is-no-real-table.csv"), str(release_dir / "synth.csv"),
               "--ledger", str(release_dir / "ledger.db"), "--dataset", "adult", "--public", "--out", str(out),
               "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep == json.loads(out.with_suffix(".json").read_text())
    assert rep["mode"] == "public" and rep["inputs"]["real"] is None
    for key in ("fidelity", "utility", "attacks", "audit", "what_this_data_is"):
        assert rep[key] is None
    assert rep["privacy"]["epsilon"] == 1.0 and rep["ledger"]["n_releases"] == 1
    page = out.read_text()
    _no_external_references(page)
    assert "Public version" in page and "INTERNAL REVIEW" not in page
    assert "Fidelity" not in page and "Attacks" not in page
    # how long a release or a step took depends on the data: public timestamps are dates only
    stamps = [m["created"] for r in rep["ledger"]["releases"] for m in r["measurements"]]
    stamps += [r[k] for r in rep["ledger"]["releases"] for k in ("created", "finished") if r.get(k)]
    assert stamps and all(len(t) == 10 for t in stamps)
    assert rep["privacy"]["schema_drafted_from_data"] is False


def test_aim_error_bounds_and_research_rng_warning(tmp_path):
    from dpsynth.report import build_report, render_html
    from dpsynth.synthesizers import AIM

    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 400), "b": rng.choice(["p", "q"], 400),
                       "c": rng.choice(["u", "v"], 400)})
    schema = Schema.from_json({"columns": {c: {"kind": "categorical", "categories": sorted(df[c].unique())}
                                           for c in df.columns}})
    with pytest.warns(UserWarning, match="INSECURE"):
        synth = AIM(epsilon=2.0, insecure_random_state=0).fit(df, schema)
    rows = synth.sample()
    rep = build_report(None, rows, schema, release={**synth.release_, "rows": len(rows)}, public=True)
    eb = rep["error_bounds"]
    assert eb["n_queries"] == len(synth.release_["workload_error_bounds"]) == 3 + 1  # 3 pairs + 1 triple
    assert eb["tvd_bound"]["max"] == max(b["tvd_bound"] for b in synth.release_["workload_error_bounds"]
                                         if b["tvd_bound"] is not None)
    page = render_html(rep)
    assert "AIM's per-query error bounds" in page
    assert "INSECURE research RNG" in page
    assert not next(c for c in rep["checks"] if "research RNG" in c["check"])["ok"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_report_renders_in_headless_chromium(internal, tmp_path):
    from PIL import Image

    out, _, _ = internal
    shot = tmp_path / "shot.png"
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--screenshot={shot}", "--window-size=1200,3000", out.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (3000, 1200)
    assert img.std() > 20  # text, tables and plots, not a blank or error page


@pytest.mark.parametrize("extra,needle", [
    (["--ledger", "x.db"], "--ledger and --dataset go together"),
    (["--public", "--holdout", "h.csv"], "--public"),
    (["--release", "missing.release.json"], "no such release metadata file"),
    (["--audit", "{bad}"], "no such audit result file"),
    (["--max-train-rows", "3"], "--max-train-rows"),
])
def test_bad_input_exits_2_with_one_line(release_dir, tmp_path, capsys, extra, needle):
    rc = _cli_report(release_dir, tmp_path / "r.html", *extra)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_bad_files_exit_2(release_dir, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert _cli_report(release_dir, tmp_path / "r.html", "--audit", str(bad)) == 2
    assert "expected a JSON object" in capsys.readouterr().err
    bad.write_text(json.dumps({"method": "mst"}))
    assert _cli_report(release_dir, tmp_path / "r.html", "--release", str(bad)) == 2
    assert "not dpsynth release metadata" in capsys.readouterr().err
    assert _cli_report(release_dir, tmp_path / "r.json") == 2
    assert "choose an --out ending in .html" in capsys.readouterr().err
    assert _cli_report(release_dir, tmp_path / "r.html", "--ledger", str(release_dir / "ledger.db"),
                       "--dataset", "nope") == 2
    assert "no dataset 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_a_release_stating_less_epsilon_than_its_rho_fails_its_check(release_dir, tmp_path, capsys):
    meta = json.loads((release_dir / "synth.csv.release.json").read_text())
    tampered = tmp_path / "tampered.release.json"
    tampered.write_text(json.dumps({**meta, "epsilon": 0.01}))   # rho still that of epsilon 1
    out = tmp_path / "public.html"
    assert main(["report", "REAL", str(release_dir / "synth.csv"), "--release", str(tampered), "--public",
                 "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    (check,) = [c for c in json.loads(captured.out)["checks"] if "covers the release's rho" in c["check"]]
    assert not check["ok"] and "(1, 1e-09)-DP" in check["detail"]
    assert "1 consistency check(s) failed: the stated epsilon covers the release's rho" in captured.err
    tampered.write_text(json.dumps({**meta, "epsilon": float("nan")}))
    assert main(["report", "REAL", str(release_dir / "synth.csv"), "--release", str(tampered), "--public",
                 "--out", str(out)]) == 2
    assert "states no valid budget" in capsys.readouterr().err


def test_outputs_that_would_overwrite_an_input_are_refused(release_dir, tmp_path, capsys):
    """The JSON twin of --out x.release.html is x.release.json: SYNTH's release metadata."""
    shutil.copy(release_dir / "synth.csv", tmp_path / "synth.csv")
    shutil.copy(release_dir / "synth.csv.release.json", tmp_path / "synth.csv.release.json")
    before = (tmp_path / "synth.csv.release.json").read_bytes()
    rc = main(["report", "REAL", str(tmp_path / "synth.csv"), "--public",
               "--out", str(tmp_path / "synth.csv.release.html")])
    assert rc == 2 and "its JSON twin" in capsys.readouterr().err
    assert (tmp_path / "synth.csv.release.json").read_bytes() == before


def test_a_one_column_table_gets_a_report(tmp_path, capsys):
    x = pd.DataFrame({"x": np.random.default_rng(0).normal(size=300)})
    x.to_csv(tmp_path / "r.csv", index=False)
    x.sample(frac=1.0, random_state=1).to_csv(tmp_path / "s.csv", index=False)
    assert main(["report", str(tmp_path / "r.csv"), str(tmp_path / "s.csv"), "--out", str(tmp_path / "x.html")]) == 0
    rep = json.loads((tmp_path / "x.json").read_text())
    assert rep["fidelity"]["tvd"]["2"]["mean"] is None and rep["utility"]["targets"] == []



def test_a_failed_page_write_leaves_the_previous_pair(tmp_path, monkeypatch):
    """The page and its JSON twin are written together: when writing the page
    fails, the earlier page and twin stay as they were and no temporary remains."""
    from dpsynth import report as report_module

    out = tmp_path / "report.html"
    monkeypatch.setattr(report_module, "render_html", lambda report: "<p>first</p>")
    report_module.write_report({"note": "first"}, out)
    before = (out.read_text(), out.with_suffix(".json").read_text())
    monkeypatch.setattr(report_module, "render_html", lambda report: object())  # write() refuses it
    with pytest.raises(TypeError):
        report_module.write_report({"note": "second"}, out)
    assert (out.read_text(), out.with_suffix(".json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.json"]


def test_a_drafted_schema_makes_the_claim_conditional_and_fails_a_check(release_dir, tmp_path, capsys):
    """The public report dropped the schema body, so nothing said the domain was public only on the
    user's word: the claim read as unconditional."""
    release = json.loads((release_dir / "synth.csv.release.json").read_text())
    release["schema"]["drafted_from_data"] = True
    (tmp_path / "r.json").write_text(json.dumps(release))
    out = tmp_path / "public.html"
    assert main(["report", "nope.csv", str(release_dir / "synth.csv"), "--release", str(tmp_path / "r.json"),
                 "--public", "--out", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["privacy"]["schema_drafted_from_data"] is True
    assert rep["privacy"]["statement"].startswith("CONDITIONAL CLAIM")
    assert [c["ok"] for c in rep["checks"] if c["check"] == "schema not drafted from the private data"] == [False]
    assert "drafted from the private data" in out.read_text()

