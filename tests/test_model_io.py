"""Saved models, conditional sampling and `dpsynth sample`."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import dpsynth
from dpsynth.cli import main
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.persist import FORMAT_VERSION
from dpsynth.synthesizers import AIM, MST

from test_synthesizers import SCHEMA, dependent_table


@pytest.fixture(scope="module")
def fitted() -> MST:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MST(epsilon=5.0, insecure_random_state=3).fit(dependent_table(5000), Schema.from_json(SCHEMA))


@pytest.mark.parametrize("cls", [MST, AIM])
def test_loaded_model_samples_identical_rows(cls, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = cls(epsilon=2.0, insecure_random_state=1).fit(dependent_table(3000), Schema.from_json(SCHEMA))
    model.save(tmp_path / "m.dpsynth")
    loaded = dpsynth.load(tmp_path / "m.dpsynth")
    pd.testing.assert_frame_equal(model.sample(2000, random_state=9), loaded.sample(2000, random_state=9))
    assert loaded.n_rows_ == model.n_rows_
    assert loaded.release_["ledger_release_id"] == model.release_["ledger_release_id"]
    assert type(loaded) is cls


def test_model_file_holds_no_pickle(fitted, tmp_path):
    fitted.save(tmp_path / "m.dpsynth")
    with np.load(tmp_path / "m.dpsynth", allow_pickle=False) as archive:  # would raise on object arrays
        meta = json.loads(str(archive["metadata"][()]))
        assert all(archive[k].dtype != object for k in archive.files)
    assert meta["format"] == "dpsynth-model" and meta["format_version"] == 1  # exact models keep version 1


def _rewrite_metadata(src: Path, dst: Path, change) -> None:
    with np.load(src, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(str(arrays.pop("metadata")[()]))
    change(meta)
    with open(dst, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez(fh, metadata=np.array(json.dumps(meta)), **arrays)


def _huge_member(src: Path, dst: Path, name: str) -> None:
    """``src`` with member ``name`` (replaced or added) a .npy header declaring 10**12
    doubles (8 TB) and no data: reading its data first would try to allocate them."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename != f"{name}.npy":
                zout.writestr(item, zin.read(item))
        zout.writestr(f"{name}.npy", header.getvalue())  # the header starts with the .npy magic


def test_a_member_past_the_model_is_never_read(fitted, tmp_path):
    good, padded = tmp_path / "good.dpsynth", tmp_path / "padded.dpsynth"
    fitted.save(good)
    _huge_member(good, padded, "unrelated")
    pd.testing.assert_frame_equal(dpsynth.load(padded).sample(50, random_state=1), fitted.sample(50, random_state=1))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "newer", "missing", "pickle", "shape", "npy", "huge"])
def test_bad_model_files_exit_2(damage, fitted, tmp_path, capsys):
    good, bad = tmp_path / "good.dpsynth", tmp_path / "bad.dpsynth"
    fitted.save(good)
    if damage == "garbage":
        bad.write_bytes(b"not a model at all" * 10)
    elif damage == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "newer":
        _rewrite_metadata(good, bad, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    elif damage == "missing":
        bad = tmp_path / "nope.dpsynth"
    elif damage == "pickle":
        with open(bad, "wb") as fh:
            np.savez(fh, metadata=np.array([{"format": "dpsynth-model"}], dtype=object))
    elif damage == "shape":
        _rewrite_metadata(good, bad, lambda m: m["domain"]["sizes"].__setitem__(0, 7))
    elif damage == "npy":
        with open(bad, "wb") as fh:
            np.save(fh, np.zeros(3))
    elif damage == "huge":  # refused by its header, before 8 TB are allocated
        _huge_member(good, bad, "potential_0")
    with pytest.raises(InputError):
        dpsynth.load(bad)
    assert main(["sample", str(bad), "--rows", "5", "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("newer" in err) == (damage == "newer")
    assert not (tmp_path / "o.csv").exists()


def test_cli_save_model_then_sample(tmp_path, capsys):
    data, schema = tmp_path / "d.csv", tmp_path / "s.json"
    dependent_table(2000).to_csv(data, index=False)
    schema.write_text(json.dumps(SCHEMA))
    model = tmp_path / "m.dpsynth"
    assert main(["synth", str(data), "--schema", str(schema), "--epsilon", "1", "--out", str(tmp_path / "o.csv"),
                 "--save-model", str(model), "--json"]) == 0
    capsys.readouterr()
    assert main(["sample", str(model), "--rows", "77", "--out", str(tmp_path / "s.csv"), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["rows"] == 77 and out["budget_spent"] == 0 and out["research_rng"] is False
    assert "research RNG" not in captured.err
    assert len(pd.read_csv(tmp_path / "s.csv")) == 77
    pd.DataFrame({"c": [1] * 40 + [0] * 10}).to_csv(tmp_path / "cond.csv", index=False)
    assert main(["sample", str(model), "--condition", str(tmp_path / "cond.csv"), "--out", str(tmp_path / "c.csv")]) == 0
    cond = pd.read_csv(tmp_path / "c.csv")
    assert list(cond["c"]) == [1] * 40 + [0] * 10 and list(cond.columns) == ["a", "b", "c", "d"]


def test_sample_never_writes_over_its_model(fitted, tmp_path, capsys):
    fitted.save(tmp_path / "m.dpsynth")
    before = (tmp_path / "m.dpsynth").read_bytes()
    for out, needle in ((tmp_path / "m.dpsynth", "same file as MODEL"), (tmp_path / "s.xlsx", ".csv, .parquet")):
        assert main(["sample", str(tmp_path / "m.dpsynth"), "--rows", "5", "--out", str(out)]) == 2
        assert needle in capsys.readouterr().err
    assert (tmp_path / "m.dpsynth").read_bytes() == before and not (tmp_path / "s.xlsx").exists()


def test_sample_from_a_research_model_is_marked_loudly(fitted, tmp_path, capsys):
    fitted.save(tmp_path / "m.dpsynth")
    assert main(["sample", str(tmp_path / "m.dpsynth"), "--rows", "5", "--out", str(tmp_path / "s.csv"),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["research_rng"] is True
    assert "WARNING: research RNG used: this output is not a secure DP release" in captured.err


def test_conditional_sample_follows_the_model_conditional(fitted):
    """Given c=1, d follows the model's P(d | c=1) (chi-square at alpha 1e-6)."""
    n = 20_000
    out = fitted.sample(condition=pd.DataFrame({"c": [1] * n}), random_state=0)
    assert (out["c"] == 1).all()
    joint = fitted.model_.project(("c", "d"))
    expected = joint[1] / joint[1].sum() * n
    observed = out["d"].map({"p": 0, "q": 1}).value_counts().reindex([0, 1], fill_value=0).to_numpy()
    assert stats.chisquare(observed, expected).pvalue > 1e-6
    # and the dependency is there: d mostly copies c
    assert (out["d"] == "q").mean() > 0.8


def test_conditional_sample_errors(fitted):
    with pytest.raises(InputError, match="not in the schema"):
        fitted.sample(condition=pd.DataFrame({"zz": [1]}))
    with pytest.raises(InputError):
        fitted.sample(condition=pd.DataFrame({"a": ["nope"]}))
    with pytest.raises(InputError, match="either n or condition"):
        fitted.sample(5, condition=pd.DataFrame({"c": [1]}))
