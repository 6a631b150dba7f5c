"""The public schema: every column kind by hand, validation errors, drafting, and
draft -> encode -> decode -> encode round trips on every table in ../shared/data."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from dpsynth.domain import MAX_EXACT_INT, Categorical, Datetime, Numeric, Schema, draft_schema, exact_whole
from dpsynth.errors import InputError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def one(spec: dict, name: str = "x") -> Schema:
    return Schema.from_json({"version": 1, "columns": {name: spec}})


def codes_of(schema: Schema, values, name: str = "x") -> np.ndarray:
    return schema.encode(pd.DataFrame({name: values}))[:, 0].astype(int)


# ----------------------------------------------------------------------------- categorical

def test_categorical_codes_follow_listed_order_then_other_then_missing():
    s = one({"kind": "categorical", "categories": ["b", "a", "c"], "other": True, "missing": True})
    assert s.sizes == (5,)
    assert codes_of(s, ["a", "b", "c", "zzz", None]).tolist() == [1, 0, 2, 3, 4]
    out = s.decode(np.array([[0], [1], [2], [3], [4]]), np.random.default_rng(0))["x"]
    assert out.iloc[:4].tolist() == ["b", "a", "c", "other"]
    assert pd.isna(out.iloc[4])


def test_categorical_declared_other_label_and_no_missing_cell():
    s = one({"kind": "categorical", "categories": ["x", "y"], "other": "rest"})
    assert s.sizes == (3,)
    assert codes_of(s, ["q", "y"]).tolist() == [2, 1]
    assert s.decode(np.array([[2]]), None)["x"].tolist() == ["rest"]


@pytest.mark.parametrize("cats, missing, dtype", [
    ([3, 1, 2], False, "int64"), ([3, 1, 2], True, "Int64"),
    ([0.5, 1.5], False, "float64"), ([0.5, 1.5], True, "float64"),
    ([False, True], False, "bool"), ([False, True], True, "boolean"),
])
def test_number_and_boolean_labels_decode_to_their_types(cats, missing, dtype):
    s = one({"kind": "categorical", "categories": cats, "missing": missing})
    data = pd.Series(cats + ([None] if missing else []), dtype=object)
    codes = s.encode(pd.DataFrame({"x": data}))
    out = s.decode(codes, None)["x"]
    assert str(out.dtype) == dtype
    assert out.iloc[: len(cats)].tolist() == cats
    assert out.isna().tolist() == data.isna().tolist()


def test_integer_categories_match_float_data_read_with_missing_values():
    s = one({"kind": "categorical", "categories": [1, 2], "missing": True})
    assert codes_of(s, [2.0, np.nan, 1.0]).tolist() == [1, 2, 0]


def test_out_of_domain_category_without_other_names_column_and_values():
    s = one({"kind": "categorical", "categories": ["a", "b"]}, name="colour")
    with pytest.raises(InputError, match=r"'colour'.*3 value\(s\).*'zz', 'yy'.*\"other\"") as e:
        s.encode(pd.DataFrame({"colour": ["a", "zz", "yy", "zz"]}))
    assert "\n" not in str(e.value)


def test_type_mismatch_gets_a_hint():
    s = one({"kind": "categorical", "categories": ["1", "2"]})
    with pytest.raises(InputError, match="data holds numbers but the categories are not numbers"):
        codes_of(s, [1, 2])


def test_missing_value_in_column_without_missing_cell():
    s = one({"kind": "categorical", "categories": ["a"]}, name="c")
    with pytest.raises(InputError, match=r"'c': 1 missing value.*set \"missing\": true"):
        codes_of(s, ["a", None], name="c")


def test_from_pgm_domain_is_integer_coded_and_public(tmp_path):
    p = tmp_path / "d.domain.json"
    p.write_text(json.dumps({"a": 3, "b": 2}))
    s = Schema.from_pgm_domain(p)
    assert s.names == ("a", "b") and s.sizes == (3, 2) and not s.drafted_from_data
    df = pd.DataFrame({"a": [0, 2, 1], "b": [1, 0, 1]})
    assert (s.encode(df) == df.to_numpy()).all()
    assert s.decode(s.encode(df), None).equals(df)
    with pytest.raises(InputError, match="'b'.*size"):
        Schema.from_pgm_domain({"a": 3, "b": 0})


# ----------------------------------------------------------------------------- numeric

def test_float_bins_half_open_last_closed_and_clipped():
    s = one({"kind": "numeric", "lower": 0, "upper": 10, "bins": 5})
    assert s.sizes == (5,)
    x = [-3, 0, 1.999, 2, 3.5, 8, 9.99, 10, 1e9]
    assert codes_of(s, x).tolist() == [0, 0, 0, 1, 1, 4, 4, 4, 4]


def test_float_decode_uniform_within_bin_and_reencodes_to_same_bin():
    s = one({"kind": "numeric", "edges": [0, 1, 1 + 2**-40, 3, 10]})
    rng = np.random.default_rng(1)
    codes = np.repeat(np.arange(4), 20000)[:, None]
    out = s.decode(codes, rng)["x"].to_numpy()
    assert (s.encode(pd.DataFrame({"x": out})) == codes).all()
    edges = [0, 1, 1 + 2**-40, 3, 10]
    for b in (0, 2, 3):  # Kolmogorov-Smirnov against U[edge_b, edge_b+1)
        v = out[codes[:, 0] == b]
        assert stats.kstest(v, "uniform", args=(edges[b], edges[b + 1] - edges[b])).pvalue > 1e-6


def test_integer_bins_split_integers_into_equal_runs():
    s = one({"kind": "numeric", "lower": 0, "upper": 9, "bins": 3, "integer": True})
    assert codes_of(s, list(range(10))).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    codes = np.repeat(np.arange(3), 30000)[:, None]
    out = s.decode(codes, np.random.default_rng(2))["x"]
    assert out.dtype == np.int64
    runs = [range(0, 4), range(4, 7), range(7, 10)]
    for b, run in enumerate(runs):
        counts = out[codes[:, 0] == b].value_counts().reindex(list(run), fill_value=0)
        assert set(out[codes[:, 0] == b]) == set(run)
        assert stats.chisquare(counts.to_numpy()).pvalue > 1e-6  # uniform over the run


def test_integer_explicit_edges_and_missing_gives_nullable_int():
    s = one({"kind": "numeric", "edges": [0, 2.5, 5], "integer": True, "missing": True})
    assert s.sizes == (3,)
    assert codes_of(s, [0, 2, 3, 5, None]).tolist() == [0, 0, 1, 1, 2]
    out = s.decode(np.array([[0]] * 500 + [[1]] * 500 + [[2]]), np.random.default_rng(3))["x"]
    assert str(out.dtype) == "Int64"
    assert set(out.iloc[:500]) == {0, 1, 2} and set(out.iloc[500:1000]) == {3, 4, 5}
    assert pd.isna(out.iloc[1000])


def test_float_missing_decodes_to_nan_and_constant_column():
    s = Schema([Numeric("f", lower=1.5, upper=1.5, bins=1, missing=True)])
    assert codes_of(s, [1.5, np.nan, 7.0], name="f").tolist() == [0, 1, 0]
    out = s.decode(np.array([[0], [1]]), None)["f"]
    assert out.iloc[0] == 1.5 and np.isnan(out.iloc[1])


def test_numeric_accepts_number_strings_and_rejects_words():
    s = one({"kind": "numeric", "lower": 0, "upper": 100, "bins": 2}, name="age")
    assert codes_of(s, ["10", "75.5"], name="age").tolist() == [0, 1]
    with pytest.raises(InputError, match=r"'age'.*not numbers.*'N'"):
        codes_of(s, ["10", "N"], name="age")


# ----------------------------------------------------------------------------- datetime

def test_datetime_bin_width_resolution_days():
    s = one({"kind": "datetime", "lower": "2020-01-01", "upper": "2020-01-20", "bin_width": "7D",
             "resolution": "1D", "missing": True}, name="d")
    assert s.sizes == (4,)  # [1..8), [8..15), [15..20], missing
    data = pd.Series(["2019-05-01", "2020-01-07T23:59", "2020-01-08", "2020-01-20", None, "2031-01-01"])
    assert codes_of(s, data, name="d").tolist() == [0, 0, 1, 2, 3, 2]
    codes = np.repeat(np.arange(4), 3000)[:, None]
    out = s.decode(codes, np.random.default_rng(4))["d"]
    assert str(out.dtype) == "datetime64[ns]"
    assert out.isna().tolist() == (codes[:, 0] == 3).tolist()
    got = out.dropna()
    assert (got == got.dt.normalize()).all()  # dates stay dates
    assert set(out[codes[:, 0] == 0].dt.day) == set(range(1, 8))
    assert set(out[codes[:, 0] == 1].dt.day) == set(range(8, 15))
    assert set(out[codes[:, 0] == 2].dt.day) == set(range(15, 21))
    assert (s.encode(pd.DataFrame({"d": out})) == codes).all()


def test_datetime_bins_and_timezone_roundtrip():
    s = one({"kind": "datetime", "lower": "2013-01-01T00:00:00Z", "upper": "2013-01-02T00:00:00Z", "bins": 4,
             "resolution": "1h", "timezone": "UTC"}, name="t")
    assert s.to_dict()["columns"]["t"]["lower"] == "2013-01-01T00:00:00"
    paris = pd.Series(pd.to_datetime(["2013-01-01T05:00:00", "2013-01-01T13:00:00"])).dt.tz_localize("Europe/Paris")
    assert codes_of(s, paris, name="t").tolist() == [0, 1]  # 04:00 and 12:00 UTC
    assert codes_of(s, ["2013-01-01T05:00:00+00:00", "2013-01-01T13:00:00+02:00"], name="t").tolist() == [0, 1]
    out = s.decode(np.array([[0], [3]] * 200), np.random.default_rng(5))["t"]
    assert str(out.dt.tz) == "UTC" and (out.dt.minute == 0).all()
    assert (s.encode(pd.DataFrame({"t": out}))[:, 0] == [0, 3] * 200).all()


def test_datetime_rejects_non_dates():
    s = one({"kind": "datetime", "lower": "2020-01-01", "upper": "2020-12-31", "bins": 3}, name="when")
    with pytest.raises(InputError, match=r"'when'.*not ISO 8601.*'yesterday'"):
        codes_of(s, ["2020-02-02", "yesterday"], name="when")
    with pytest.raises(InputError, match=r"'when'.*holds numbers"):
        codes_of(s, [1, 2], name="when")


# ----------------------------------------------------------------------------- schema level

def mixed_schema() -> Schema:
    return Schema.from_json({"version": 1, "drafted_from_data": False, "columns": {
        "c": {"kind": "categorical", "categories": ["a", "b"], "missing": False},
        "n": {"kind": "numeric", "lower": 0, "upper": 1, "bins": 300, "integer": False, "missing": False},
    }})


def test_names_sizes_and_smallest_code_dtype():
    s = mixed_schema()
    assert s.names == ("c", "n") and s.sizes == (2, 300)
    codes = s.encode(pd.DataFrame({"n": [0.0, 1.0], "c": ["b", "a"]}))  # data column order is irrelevant
    assert codes.dtype == np.uint16 and codes.tolist() == [[1, 0], [0, 299]]
    small = Schema([Categorical("c", tuple("abcd"))])
    assert small.encode(pd.DataFrame({"c": ["d"]})).dtype == np.uint8


def test_columns_built_in_code_equal_their_json_form():
    built = Schema([Categorical("c", ["a", "b"], other="rest", missing=True),
                    Numeric("n", 0, 10, 5, integer=True),
                    Numeric("e", edges=[0, 0.5, 2]),
                    Datetime("t", "2020-01-01", "2020-03-01", bin_width="7D", resolution="1D", missing=True)])
    assert Schema.from_json(built.to_dict()) == built
    assert built.to_dict()["columns"]["t"] == {"kind": "datetime", "lower": "2020-01-01T00:00:00",
                                               "upper": "2020-03-01T00:00:00", "bin_width": "7D",
                                               "resolution": "1D", "missing": True}
    assert built.sizes == (4, 5, 2, 10) and built["n"].size == 5


def test_column_mismatch_errors_say_which():
    s = mixed_schema()
    with pytest.raises(InputError, match=r"not in the schema: 'extra'"):
        s.encode(pd.DataFrame({"c": ["a"], "n": [0.5], "extra": [1]}))
    with pytest.raises(InputError, match=r"missing from the data: 'n'"):
        s.encode(pd.DataFrame({"c": ["a"]}))


def test_hash_is_sha256_of_canonical_json_and_order_sensitive(tmp_path):
    s = mixed_schema()
    d = s.to_dict()
    canonical = json.dumps({**d, "columns": [[k, v] for k, v in d["columns"].items()]},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert s.hash() == hashlib.sha256(canonical.encode()).hexdigest()
    path = tmp_path / "s.json"
    s.to_json(path)
    assert Schema.from_json(path).hash() == s.hash() == Schema.from_json(str(path)).hash()
    # Normalisation: 0 vs 0.0 and "other": true vs "other" hash alike.
    a = one({"kind": "categorical", "categories": ["u"], "other": True})
    b = one({"kind": "categorical", "categories": ["u"], "other": "other", "missing": False})
    assert a.hash() == b.hash()
    assert one({"kind": "numeric", "lower": 0, "upper": 1.0, "bins": 2}).hash() == \
        one({"kind": "numeric", "lower": 0.0, "upper": 1, "bins": 2}).hash()
    reordered = Schema(list(reversed(s.columns)))
    assert reordered.hash() != s.hash()
    assert Schema(s.columns, drafted_from_data=True).hash() != s.hash()


@pytest.mark.parametrize("spec, pattern", [
    ({"kind": "numeric", "lower": 5, "upper": 1, "bins": 2}, "lower .5. is greater than upper"),
    ({"kind": "categorical", "categories": ["a", "b", "a"]}, "duplicate categories 'a'"),
    ({"kind": "categorical", "categories": [1, 1.0]}, "duplicate categories"),
    ({"kind": "categorical", "categories": [True, 1]}, "mix booleans and numbers"),
    ({"kind": "categorical", "categories": ["a", None]}, "null is not a category"),
    ({"kind": "categorical", "categories": ["other"], "other": True}, "also a category"),
    ({"kind": "categorical", "categories": "abc"}, "must be a list"),
    ({"kind": "ordinal", "categories": []}, "unknown kind 'ordinal'"),
    ({"categories": []}, "unknown kind None"),
    ({"kind": "numeric", "lower": 0, "upper": 1, "bins": 0}, "'bins' must be a whole number"),
    ({"kind": "numeric", "lower": 0, "upper": 1, "bins": 2.5}, "'bins' must be a whole number"),
    ({"kind": "numeric", "edges": [0, 2, 2, 3]}, "strictly increasing"),
    ({"kind": "numeric", "edges": [1]}, "strictly increasing"),
    ({"kind": "numeric", "edges": [0, 1], "lower": 0}, "either"),
    ({"kind": "numeric", "lower": 0, "upper": 1}, "needs \"lower\", \"upper\" and \"bins\""),
    ({"kind": "numeric", "lower": 0, "upper": float("inf"), "bins": 2}, "finite number"),
    ({"kind": "numeric", "lower": 0, "upper": 3, "bins": 5, "integer": True}, "only 4 values"),
    ({"kind": "numeric", "lower": 0.5, "upper": 3, "bins": 2, "integer": True}, "whole-number bounds"),
    ({"kind": "numeric", "lower": 2**53 + 1, "upper": 2**53 + 7, "bins": 3, "integer": True}, "past 2\\*\\*53 - 1"),
    ({"kind": "numeric", "edges": [0, 0.2, 0.9, 3], "integer": True}, "hold no whole number"),
    ({"kind": "numeric", "lower": 1, "upper": 1, "bins": 3}, "one bin only"),
    ({"kind": "numeric", "lower": 0, "upper": 1, "bins": 2, "missing": "yes"}, "'missing' must be true or false"),
    ({"kind": "numeric", "lower": 0, "upper": 1, "bin": 2}, "unknown key.*'bin'"),
    ({"kind": "datetime", "lower": "2020-02-01", "upper": "2020-01-01", "bins": 2}, "later than upper"),
    ({"kind": "datetime", "lower": "soon", "upper": "2020-01-01", "bins": 2}, "not an ISO 8601"),
    ({"kind": "datetime", "lower": "2020-01-01", "upper": "2021-01-01", "bin_width": "1M"}, "fixed duration"),
    ({"kind": "datetime", "lower": "2020-01-01", "upper": "2021-01-01"}, "exactly one of"),
    ({"kind": "datetime", "lower": "2020-01-01", "upper": "2020-01-03", "bins": 5, "resolution": "1D"},
     "only 3 time"),
    ({"kind": "datetime", "lower": "2020-01-01", "upper": "2020-02-01", "bin_width": "1h", "resolution": "1D"},
     "hold no time"),
    ({"kind": "datetime", "lower": "2020-01-01", "upper": "2020-02-01", "bins": 2, "timezone": "Mars/Base"},
     "unknown timezone"),
])
def test_invalid_specs_raise_one_line_naming_the_column(spec, pattern):
    with pytest.raises(InputError, match=pattern) as e:
        one(spec, name="col7")
    assert "'col7'" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("doc, pattern", [
    ({"version": 2, "columns": {"a": {"kind": "categorical", "categories": [1]}}}, "version 2"),
    ({"columns": {}}, "non-empty object"),
    ({"columns": {"a": []}}, "'a'.*JSON object"),
    ({"colums": {}}, "unknown top-level key"),
    ({"drafted_from_data": "no", "columns": {"a": {"kind": "categorical", "categories": [1]}}}, "true or false"),
])
def test_invalid_documents(doc, pattern):
    with pytest.raises(InputError, match=pattern):
        Schema.from_json(doc)


@pytest.mark.parametrize("text, pattern", [
    ('{"columns": ', "not valid JSON"),
    ("", "not valid JSON"),
    ('[1, 2]', "JSON object"),
    ('{"columns": {"a": {"kind": "categorical", "categories": [1]}, '
     '"a": {"kind": "categorical", "categories": [2]}}}', "'a'.*twice"),
])
def test_invalid_files(tmp_path, text, pattern):
    p = tmp_path / "s.json"
    p.write_text(text)
    with pytest.raises(InputError, match=pattern):
        Schema.from_json(p)
    with pytest.raises(InputError, match="no such file"):
        Schema.from_json(tmp_path / "absent.json")


def test_decode_rejects_foreign_codes():
    s = mixed_schema()
    with pytest.raises(InputError, match="shape"):
        s.decode(np.zeros((3, 5), dtype=np.uint8))
    with pytest.raises(InputError, match="outside the schema's cells"):
        s.decode(np.array([[2, 0]]))


# ----------------------------------------------------------------------------- drafting

def test_draft_kinds_missing_and_other():
    n = 200
    rng = np.random.default_rng(6)
    df = pd.DataFrame({
        "s": rng.choice(["a", "b", "c"], n),
        "many": [f"v{i % 50}" for i in range(n)],
        "flag": rng.random(n) < 0.5,
        "small_int": rng.integers(0, 5, n),
        "big_int": rng.integers(-1000, 1000, n),
        "f": rng.normal(size=n),
        "int_with_nan": np.where(np.arange(n) % 7 == 0, np.nan, rng.integers(0, 100, n)),
        "when": pd.date_range("2020-01-01", periods=n, freq="D"),
        "iso": pd.date_range("2021-03-01", periods=n, freq="h").strftime("%Y-%m-%dT%H:%M:%S"),
    })
    df.loc[3, "s"] = None
    s = draft_schema(df, max_categories=10, bins=8)
    assert s.drafted_from_data
    kinds = {c.name: c.kind for c in s}
    assert kinds == {"s": "categorical", "many": "categorical", "flag": "categorical", "small_int": "categorical",
                     "big_int": "numeric", "f": "numeric", "int_with_nan": "numeric", "when": "datetime",
                     "iso": "datetime"}
    assert s["s"].missing and not s["f"].missing and s["int_with_nan"].missing
    assert s["many"].other == "other" and len(s["many"].categories) == 9 and s["many"].size == 10
    assert s["small_int"].categories == (0, 1, 2, 3, 4)
    assert s["big_int"].integer and s["int_with_nan"].integer and not s["f"].integer
    assert s["when"].resolution == "1D" and s["iso"].resolution == "1h"
    out = s.decode(s.encode(df), np.random.default_rng(7))
    assert str(out["int_with_nan"].dtype) == "Int64" and out["when"].dtype.kind == "M"
    assert out["small_int"].dtype == np.int64 and out["flag"].dtype == bool


def test_draft_keeps_the_most_frequent_categories():
    df = pd.DataFrame({"c": ["x"] * 5 + ["y"] * 4 + ["z"] * 3 + ["w"] * 1 + ["other"] * 2})
    col = draft_schema(df, max_categories=3)["c"]
    assert col.categories == ("x", "y") and col.other == "other"
    assert draft_schema(df, max_categories=5)["c"].categories == ("other", "w", "x", "y", "z")
    col = draft_schema(df.replace({"z": "other"}), max_categories=3)["c"]  # 'other' is kept: the bucket moves aside
    assert col.categories == ("other", "x") and col.other == "(other)"


@pytest.mark.parametrize("values", [
    np.array([1, 2, 12345678901234567890], dtype=np.uint64),   # past int64: astype(int64) wrapped it negative
    np.array([1, 2, 2**53], dtype=np.int64),                    # past float exactness: 2**53 + 1 reads as it
    pd.array([1, None, -(2**53)], dtype="Int64"),
])
def test_draft_refuses_integers_past_2_53_naming_the_column_and_value(values):
    with pytest.raises(InputError, match=r"column 'id': integers as large as -?\d+ are past 2\*\*53 - 1.*identifier"):
        draft_schema(pd.DataFrame({"id": values}))


def test_draft_keeps_integers_up_to_2_53_exactly():
    col = draft_schema(pd.DataFrame({"id": np.array([0, 2**53 - 1, 1 - 2**53], dtype=np.int64)}))["id"]
    assert col.categories == (1 - 2**53, 0, 2**53 - 1)


def test_exact_whole_marks_finite_whole_floats_up_to_2_53_minus_1():
    x = np.array([0.0, -3.0, 2.5, np.nan, np.inf, float(MAX_EXACT_INT), -float(MAX_EXACT_INT), 2.0**53])
    assert exact_whole(x).tolist() == [True, True, False, False, False, True, True, False]


def test_draft_reads_a_float_column_with_missing_as_integers_only_below_2_53():
    whole = draft_schema(pd.DataFrame({"n": [1.0, np.nan, 3.0]}))["n"]
    assert isinstance(whole, Categorical) and whole.categories == (1, 3)
    past = draft_schema(pd.DataFrame({"n": [1.0, np.nan, 2.0**53]}))["n"]
    assert isinstance(past, Numeric) and past.upper == 2.0**53


@pytest.mark.parametrize("kwargs, pattern", [
    ({"max_categories": 1}, "max_categories"), ({"bins": 0}, "bins"), ({"bins": 2.0}, "bins"),
])
def test_draft_argument_errors(kwargs, pattern):
    with pytest.raises(InputError, match=pattern):
        draft_schema(pd.DataFrame({"a": [1]}), **kwargs)
    with pytest.raises(InputError, match="empty table"):
        draft_schema(pd.DataFrame({"a": []}))


# ----------------------------------------------------------------------------- real tables

READ_OPTIONS = {
    "diabetes130": dict(na_values="?", keep_default_na=False),
    "nist_ma2019": dict(dtype=str, keep_default_na=False),
    "nist_national2019": dict(dtype=str, keep_default_na=False),
}
DROP = {"credit_default": ["ID"], "diabetes130": ["encounter_id", "patient_nbr"]}
TABLES = sorted(p.stem for p in DATA.glob("*.csv")) if DATA.is_dir() else ["(../shared/data absent)"]
MAX_ROWS = 20_000


def load(name: str) -> pd.DataFrame:
    if not DATA.is_dir():
        pytest.skip("../shared/data is absent")
    df = pd.read_csv(DATA / f"{name}.csv", **READ_OPTIONS.get(name, {})).drop(columns=DROP.get(name, []))
    if name.startswith("nist_") and name != "nist_taxi":
        # README: 'N' = not applicable; cast the numeric columns ourselves ('N' -> missing).
        for col in df.columns:
            numbers = pd.to_numeric(df[col].replace("N", None), errors="coerce")
            if numbers.notna().sum() == (df[col] != "N").sum():
                df[col] = numbers
    if len(df) > MAX_ROWS:
        df = df.sample(MAX_ROWS, random_state=0).reset_index(drop=True)
    return df


@pytest.mark.parametrize("name", TABLES)
def test_roundtrip_on_real_table(name):
    df = load(name)
    schema = draft_schema(df)
    assert Schema.from_json(json.loads(json.dumps(schema.to_dict()))) == schema
    codes = schema.encode(df)
    out = schema.decode(codes, np.random.default_rng(8))
    assert list(out.columns) == list(df.columns) and len(out) == len(df)
    assert (schema.encode(out) == codes).all(), "decode -> encode must give the same cells"
    for col in schema:
        orig, back = df[col.name], out[col.name]
        assert (orig.isna().to_numpy() == back.isna().to_numpy()).all(), col.name
        present = orig.notna().to_numpy()
        if col.kind == "categorical":
            kept = orig[present].isin(col.categories).to_numpy()
            assert (back[present][kept].to_numpy() == orig[present][kept].to_numpy()).all(), col.name
            assert (back[present][~kept] == col.other).all(), col.name
            if orig.dtype.kind in "iu":
                assert back.dtype.kind in "iu" or str(back.dtype) == "Int64", col.name
            elif orig.dtype.kind == "b":
                assert back.dtype.kind == "b", col.name
            elif orig.dtype.kind != "f":
                assert pd.api.types.is_string_dtype(back.dtype), col.name
        elif col.kind == "numeric":
            lower, upper = col.bounds
            v = back[present].astype(float)
            assert v.between(lower, upper).all(), col.name
            if col.integer:
                assert back.dtype == np.int64 or str(back.dtype) == "Int64", col.name
                assert orig.dtype.kind in "iu" or orig.isna().any(), col.name
            else:
                assert back.dtype == np.float64 and orig.dtype.kind == "f", col.name
        else:
            assert back.dtype.kind == "M", col.name
            assert (back.dt.tz is not None) == (col.timezone is not None), col.name


@pytest.mark.parametrize("name", sorted(p.name.removesuffix(".domain.json") for p in DATA.glob("*.domain.json"))
                         if DATA.is_dir() else ["(../shared/data absent)"])
def test_pgm_domain_files_encode_exactly(name):
    df = load(name)
    schema = Schema.from_pgm_domain(DATA / f"{name}.domain.json")
    codes = schema.encode(df)
    assert (codes == df[list(schema.names)].to_numpy()).all()
    assert schema.decode(codes, None).equals(df[list(schema.names)])


def test_booleans_and_numbers_never_name_each_other():
    """pandas matches True to 1 and 0.0 to False; a schema's categories keep them apart
    (numbers still match across int and float: 1.0 read with a missing value names 1)."""
    numbers = Categorical("a", (1, 2), other="other")
    np.testing.assert_array_equal(numbers.encode(pd.Series([True, 2, 1.0], dtype=object)), [2, 1, 0])
    flags = Categorical("a", (False, True), other="x")
    np.testing.assert_array_equal(flags.encode(pd.Series([0, 1.0, True], dtype=object)), [2, 2, 1])
    np.testing.assert_array_equal(flags.encode(pd.Series([0.0, 1.0])), [2, 2])
    np.testing.assert_array_equal(flags.encode(pd.Series([True, False])), [1, 0])
    with pytest.raises(InputError, match="outside the schema"):
        Categorical("a", (1, 2)).encode(pd.Series([True, 2], dtype=object))
    with pytest.raises(InputError, match="not one of its categories"):
        Categorical("a", (1, 2)).zero_spec([True])


def test_plain_times_stay_wall_times_beside_values_with_an_offset():
    """One value with a UTC offset made pandas read the whole batch as UTC, so plain wall
    times shifted by the zone's offset, and counts depended on how rows fell into batches."""
    s = Schema.from_json({"columns": {"t": {"kind": "datetime", "lower": "2020-01-01T00:00",
                                            "upper": "2020-01-02T00:00", "bins": 24, "resolution": "1h",
                                            "timezone": "Asia/Kolkata"}}})
    plain = ["2020-01-01T08:00", "2020-01-01T23:00"]
    alone = s.encode(pd.DataFrame({"t": plain}))[:, 0]
    beside = s.encode(pd.DataFrame({"t": plain + ["2020-01-01T02:30:00+00:00", "2020-01-01T10:00:00Z"]}))[:, 0]
    wall = s.encode(pd.DataFrame({"t": ["2020-01-01T08:00", "2020-01-01T15:30"]}))[:, 0]
    assert alone[0] != alone[1] and wall[0] != wall[1]
    np.testing.assert_array_equal(beside, [*alone, *wall])   # 02:30 UTC is 08:00 in Kolkata, 10:00Z 15:30


def test_the_hash_does_not_depend_on_how_numbers_dates_and_durations_are_written():
    def schema(width, top, start):
        return Schema.from_json({"columns": {
            "n": {"kind": "numeric", "lower": 0, "upper": 100, "bins": 4},
            "t": {"kind": "datetime", "lower": "2020-01-01", "upper": "2020-12-31", "bin_width": width,
                  "resolution": "1D"}},
            "structural_zeros": [{"n": {"max": top}, "t": {"min": start}}]})
    variants = [schema(w, m, d) for w in ("7D", "1W", "168h") for m in (49, 49.0)
                for d in ("2020-06-30", "2020-06-30T00:00:00")]
    assert len({s.hash() for s in variants}) == 1
    assert variants[-1].to_dict()["structural_zeros"] == [{"n": {"max": 49}, "t": {"min": "2020-06-30T00:00:00"}}]
    assert Schema.from_json(variants[-1].to_dict()).hash() == variants[0].hash()


def test_decoded_times_stay_in_their_bin_across_a_daylight_saving_gap():
    """02:00-03:00 does not exist in Paris on 2020-03-29: shifted forward to 03:00 it left bin 0
    (537 of 1000 values); it is drawn again within the bin instead."""
    s = Schema.from_json({"columns": {"t": {"kind": "datetime", "lower": "2020-03-29T01:00",
                                            "upper": "2020-03-29T04:00", "bins": 3, "resolution": "1h",
                                            "timezone": "Europe/Paris"}}})
    codes = np.repeat(np.arange(3, dtype=np.uint8), 400)[:, None]
    decoded = s.decode(codes, np.random.default_rng(0))
    np.testing.assert_array_equal(s.encode(decoded)[:, 0], codes[:, 0])
    assert str(decoded["t"].dt.tz) == "Europe/Paris"
