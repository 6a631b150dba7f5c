"""Structural zeros: the schema format and its errors, the masks over cells
(a cell is impossible only when all its values are), their mapping through
domain compression, and end to end: no synthesizer ever outputs an impossible
combination, also after save/load and in conditional samples."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import dpsynth
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.pgm import Domain
from dpsynth.synthesizers import AIM, MST, MWEM, Independent, PrivBayes
from dpsynth.synthesizers.compress import Compression

COLUMNS = {
    "sex": {"kind": "categorical", "categories": ["Male", "Female"]},
    "pregnant": {"kind": "categorical", "categories": ["yes", "no"], "missing": True},
    "age": {"kind": "numeric", "lower": 0, "upper": 89, "bins": 18, "integer": True},
    "marital": {"kind": "categorical", "categories": ["Never", "Married", "Divorced", "Widowed"]},
    "race": {"kind": "categorical", "categories": ["a", "b", "c", "rare1", "rare2", "rare3"]},
}
ZEROS = [{"sex": ["Male"], "pregnant": ["yes"]},
         {"age": {"max": 15}, "marital": ["Married", "Divorced", "Widowed"]},
         {"race": ["rare1"], "marital": ["Never"]},           # a rare value: kept out of the merged cell
         {"age": {"min": 60}, "pregnant": ["yes", None]}]


def schema(zeros=ZEROS, columns=COLUMNS) -> Schema:
    return Schema.from_json({"columns": columns, "structural_zeros": zeros})


def violations(df: pd.DataFrame) -> np.ndarray:
    """Rows that hit a zero of ZEROS (decoded values). Ages 15-19 share one bin,
    which ``"max": 15`` does not make impossible (a cell is a zero only when all
    its values are), so the second zero covers ages up to 14."""
    age, preg = df["age"].to_numpy(), df["pregnant"]
    return ((df["sex"] == "Male") & (preg == "yes")).to_numpy() \
        | ((age <= 14) & df["marital"].isin(["Married", "Divorced", "Widowed"])).to_numpy() \
        | ((df["race"] == "rare1") & (df["marital"] == "Never")).to_numpy() \
        | ((age >= 60) & (preg.isna() | (preg == "yes"))).to_numpy()


def table(n: int, seed: int = 0) -> pd.DataFrame:
    """Independent columns, so every zero combination is common in the data:
    a model that ignored the zeros would reproduce them."""
    rng = np.random.default_rng(seed)
    preg = rng.choice(np.array(["yes", "no", None], dtype=object), n, p=[0.3, 0.6, 0.1])
    return pd.DataFrame({
        "sex": rng.choice(["Male", "Female"], n),
        "pregnant": pd.Series(preg, dtype=object),
        "age": rng.integers(0, 90, n),
        "marital": rng.choice(["Never", "Married", "Divorced", "Widowed"], n, p=[0.4, 0.4, 0.15, 0.05]),
        "race": rng.choice(["a", "b", "c", "rare1", "rare2", "rare3"], n, p=[0.5, 0.3, 0.19, 0.004, 0.003, 0.003]),
    })


def test_format_round_trips_and_is_part_of_the_hash():
    s = schema()
    assert s.structural_zeros[1] == {"age": {"max": 15}, "marital": ["Married", "Divorced", "Widowed"]}
    again = Schema.from_json(s.to_dict())
    assert again == s and again.hash() == s.hash()
    assert schema(ZEROS[:1]).hash() != s.hash()
    plain = Schema.from_json({"columns": COLUMNS})
    assert "structural_zeros" not in plain.to_dict() and plain.structural_zeros == ()
    assert plain.hash() != s.hash() and plain.zero_masks() == []


def test_masks_mark_cells_all_of_whose_values_are_impossible():
    masks = dict(schema().zero_masks())
    np.testing.assert_array_equal(masks[("sex", "pregnant")], [[True, False, False], [False, False, False]])
    # age bins of 5 years: 0-4, 5-9, 10-14 lie in <= 15; 15-19 does not
    young = masks[("age", "marital")]
    assert young.shape == (18, 4)
    np.testing.assert_array_equal(young[:, 0], False)
    np.testing.assert_array_equal(young[:, 1:].all(axis=1), np.arange(18) < 3)
    np.testing.assert_array_equal(young[:, 1:].any(axis=1), np.arange(18) < 3)
    old = masks[("pregnant", "age")]             # schema column order; null = the missing cell
    np.testing.assert_array_equal(old[[0, 2]], np.tile(np.arange(18) >= 12, (2, 1)))
    assert not old[1].any()
    floats = Schema.from_json({"columns": {"x": {"kind": "numeric", "lower": 0, "upper": 10, "bins": 4},
                                           "y": {"kind": "categorical", "categories": [1, 2]}},
                               "structural_zeros": [{"x": {"min": 2.5, "max": 7.5}, "y": [2]}]})
    np.testing.assert_array_equal(floats.zero_masks()[0][1], [[False, False], [False, True], [False, True],
                                                              [False, False]])
    times = Schema.from_json({"columns": {"t": {"kind": "datetime", "lower": "2020-01-01", "upper": "2020-01-10",
                                                "bin_width": "2D", "resolution": "1D"},
                                          "y": {"kind": "categorical", "categories": ["u", "v"]}},
                              "structural_zeros": [{"t": {"min": "2020-01-03", "max": "2020-01-06"}, "y": ["v"]}]})
    # bins [1-2], [3-4], [5-6], [7-8], [9-10]: the 2nd and 3rd lie inside the range
    np.testing.assert_array_equal(times.zero_masks()[0][1][:, 1], [False, True, True, False, False])


@pytest.mark.parametrize("zeros,match", [
    ({"sex": ["Male"]}, "list of objects"),
    ([{}], r"structural_zeros\[0\]"),
    ([{"gender": ["Male"]}], "'gender'"),
    ([{"sex": ["Mael"]}], "'Mael'"),
    ([{"sex": "Male"}], "'sex'.*list"),
    ([{"sex": [None]}], "missing"),
    ([{"age": ["young"]}], "'age'.*range"),
    ([{"age": {"min": 20, "max": 10}}], "above"),
    ([{"age": {"below": 3}}], "range"),
    ([{"age": {"min": 1, "max": 3}}], "covers no whole cell"),
    ([{"sex": ["Male", "Female"]}], "every row"),
])
def test_bad_zeros_name_the_problem(zeros, match):
    with pytest.raises(InputError, match=match):
        schema(zeros)


def test_compression_keeps_zero_values_and_merges_cells_by_the_all_rule():
    dom = Domain(["a", "b"], [4, 3])
    comp = Compression(dom, {"a": np.array([True, False, False, True]), "b": np.array([True, True, True])})
    mask = np.zeros((4, 3), dtype=bool)
    mask[1, 0] = mask[2, 0] = True          # both merged values of a impossible with b=0
    mask[2, 2] = True                       # only one of them with b=2
    np.testing.assert_array_equal(comp.compress_zero(("a", "b"), mask),
                                  [[False] * 3, [False] * 3, [True, False, False]])
    protected = comp.protect([(("a", "b"), mask)])
    np.testing.assert_array_equal(protected.keep["a"], [True, True, True, True])


@pytest.fixture(scope="module")
def data():
    return table(20_000)


def fit(cls, df, zeros=ZEROS, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(epsilon=1.0, insecure_random_state=7, **kw).fit(df, schema(zeros))


@pytest.mark.parametrize("cls,kw", [(MST, {}), (AIM, {}), (PrivBayes, {}), (MWEM, {"rounds": 6}),
                                    (Independent, {})])
def test_no_synthesizer_outputs_a_structural_zero(cls, kw, data):
    assert violations(data).mean() > 0.2                   # the data is full of them
    model = fit(cls, data, **kw)
    out = model.sample(20_000, random_state=1)
    assert len(out) == 20_000 and not violations(out).any()
    if cls is Independent:                                 # the same fit without zeros does produce them
        assert violations(fit(cls, data, zeros=[]).sample(20_000, random_state=1)).mean() > 0.1


def test_zeros_survive_compression_save_load_and_conditioning(data, tmp_path):
    model = fit(MST, data)
    comp = model.compression_
    assert comp is not None and comp.keep["race"][3] and not comp.keep["race"].all()   # rare1 is protected
    assert any(np.isneginf(p).any() for p in model.model_.potentials)
    path = tmp_path / "zeros.dpsynth"
    model.save(path)
    loaded = dpsynth.load(path)
    assert loaded.schema_.structural_zeros == model.schema_.structural_zeros
    for a, b in zip(loaded.model_.potentials, model.model_.potentials):
        np.testing.assert_array_equal(a, b)                # -inf kept exactly
    a, b = loaded.sample(5000, random_state=3), model.sample(5000, random_state=3)
    pd.testing.assert_frame_equal(a, b)
    assert not violations(a).any()
    cond = loaded.sample(condition=pd.DataFrame({"sex": ["Male"] * 3000, "age": [70] * 3000}), random_state=4)
    assert (cond["pregnant"] == "no").all() and not violations(cond).any()
    with pytest.raises(InputError, match="probability zero"):
        loaded.sample(condition=pd.DataFrame({"sex": ["Male"], "pregnant": ["yes"]}))


def test_zeros_on_learned_columns_apply_after_learning():
    columns = dict(COLUMNS, race={"kind": "categorical", "categories": "learn", "other": "other"},
                   age={"kind": "numeric", "lower": 0, "upper": 89, "bins": 6, "edges": "learn", "integer": True})
    zeros = ZEROS[:1] + [{"race": ["a", "never-seen"], "sex": ["Female"]}, {"age": {"max": 0}, "sex": ["Male"]}]
    s = schema(zeros, columns)
    assert s.learnable == ("age", "race")
    with pytest.raises(InputError, match="learned first"):
        s.zero_masks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Independent(epsilon=1.0, insecure_random_state=2).fit(table(20_000, seed=1), s)
    learned = model.schema_
    assert learned.structural_zeros == s.structural_zeros and not learned.learnable
    masks = dict(learned.zero_masks())
    assert ("age", "sex") not in masks                      # {"max": 0} covers no learned bin: marks nothing
    race = learned["race"]
    np.testing.assert_array_equal(masks[("sex", "race")][1], [c == "a" for c in race.categories] + [False])
    out = model.sample(20_000, random_state=5)
    assert not ((out["sex"] == "Female") & (out["race"] == "a")).any()
    assert not ((out["sex"] == "Male") & (out["pregnant"] == "yes")).any()
