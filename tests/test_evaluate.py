"""dpsynth.evaluate: marginal TVDs against brute force, associations, summaries, TSTR."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from dpsynth.data import count_marginal
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.evaluate import Binning, default_targets, evaluate, fidelity, format_evaluation, utility


def small_tables(seed=0, n=400, m=300):
    """Low-cardinality columns only, so every value is its own cell: brute force is a value count."""
    rng = np.random.default_rng(seed)

    def make(k):
        colour = rng.choice(["red", "green", "blue"], size=k, p=[0.5, 0.3, 0.2]).astype(object)
        colour[rng.random(k) < 0.1] = None
        size = rng.integers(1, 5, size=k)
        shape = np.where(size > 2, "big", rng.choice(["sq", "tri"], size=k))
        return pd.DataFrame({"colour": colour, "size": size, "shape": shape, "flag": rng.random(k) < 0.3})

    return make(n), make(m)


def brute_tvd(a: pd.DataFrame, b: pd.DataFrame, cols) -> float:
    pa = a[list(cols)].astype(str).value_counts(normalize=True, dropna=False)
    pb = b[list(cols)].astype(str).value_counts(normalize=True, dropna=False)
    p, q = pa.align(pb, fill_value=0.0)
    return 0.5 * float(np.abs(p - q).sum())


def test_marginal_tvds_match_brute_force_value_counts():
    real, synth = small_tables()
    res = fidelity(real, synth, n_three_way=10)
    cols = list(real.columns)
    for order in (1, 2, 3):
        got = {tuple(e["columns"]): e["tvd"] for e in res["marginals"][str(order)]}
        assert set(got) == set(itertools.combinations(cols, order))  # 4 choose 3 = 4 <= 10: all of them
        for combo, tvd in got.items():
            assert tvd == pytest.approx(brute_tvd(real, synth, combo), abs=1e-12)
        values = list(got.values())
        summary = res["tvd"][str(order)]
        assert summary["mean"] == pytest.approx(np.mean(values))
        assert summary["max"] == pytest.approx(max(values))
        assert summary["worst"][0]["tvd"] == pytest.approx(max(values))


def test_identical_tables_have_zero_distance_everywhere():
    real, _ = small_tables()
    real["income"] = np.random.default_rng(1).lognormal(10, 1, len(real))
    res = fidelity(real, real.copy())
    for order in ("1", "2", "3"):
        assert res["tvd"][order]["max"] == 0.0
    assert res["association"]["max_abs_diff"] == 0.0
    col = next(c for c in res["columns"] if c["column"] == "income")
    assert col["ks"] == 0.0 and col["real"] == col["synth"]


def test_shuffling_columns_keeps_one_way_marginals_and_breaks_dependence():
    rng = np.random.default_rng(2)
    x = rng.normal(size=2000)
    real = pd.DataFrame({
        "x": x,
        "y": 2 * x + rng.normal(scale=0.1, size=2000),
        "group": np.where(x > 0, "pos", "neg"),
        "other": rng.choice(list("abcd"), size=2000),
    })
    synth = real.apply(lambda s: s.sample(frac=1.0, random_state=int(rng.integers(1 << 30))).to_numpy())
    res = fidelity(real, synth)
    assert res["tvd"]["1"]["max"] == pytest.approx(0.0, abs=1e-12)  # same multiset per column
    pairs = {tuple(e["columns"]): e["tvd"] for e in res["marginals"]["2"]}
    assert pairs[("x", "group")] > 0.4 and pairs[("x", "y")] > 0.5
    assert pairs[("group", "other")] < 0.05
    assoc = res["association"]
    i, j = assoc["columns"].index("x"), assoc["columns"].index("y")
    assert assoc["real"][i][j] == pytest.approx(np.corrcoef(real.x, real.y)[0, 1])
    assert assoc["abs_diff"][i][j] > 0.9
    assert assoc["worst"][0]["columns"] in (["x", "y"], ["x", "group"], ["y", "group"])


def test_cramers_v_of_a_two_by_two_table_is_the_phi_coefficient():
    a, b, c, d = 30, 10, 5, 55
    real = pd.DataFrame({"u": ["p"] * (a + b) + ["q"] * (c + d),
                         "v": ["s"] * a + ["t"] * b + ["s"] * c + ["t"] * d})
    res = fidelity(real, real)
    phi = abs(a * d - b * c) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    assert res["association"]["real"][0][1] == pytest.approx(phi)


def test_three_way_marginals_are_a_seeded_sample():
    rng = np.random.default_rng(3)
    real = pd.DataFrame({f"c{k}": rng.integers(0, 3, 200) for k in range(8)})  # 56 triples
    r1 = fidelity(real, real, n_three_way=20, seed=5)
    r2 = fidelity(real, real, n_three_way=20, seed=5)
    r3 = fidelity(real, real, n_three_way=20, seed=6)
    cols = lambda r: [tuple(e["columns"]) for e in r["marginals"]["3"]]  # noqa: E731
    assert len(set(cols(r1))) == 20 and r1["tvd"]["3"]["sampled_from"] == 56
    assert cols(r1) == cols(r2) and cols(r1) != cols(r3)


def test_binning_cells_other_missing_and_out_of_range():
    real = pd.DataFrame({"n": [1.0, 2.0, 2.0, 3.0, np.nan], "w": np.arange(5) * 100.0,
                         "c": ["a", "b", None, "a", "b"]})
    b = Binning.fit(real, bins=4)
    assert b.sizes == (3 + 1, 4 + 1, 2 + 2)  # values + missing; quantile bins + missing; cats + other + missing
    other = pd.DataFrame({"n": [0.0, 1.4, 1.6, 99.0, np.nan], "w": [-5.0, 50.0, 150.0, 250.0, 1e9],
                          "c": ["a", "zzz", None, "b", "a"]})
    codes = b.encode(other)
    assert codes[:, 0].tolist() == [0, 0, 1, 2, 3]  # nearest value cell, outside -> end cells, NaN -> missing
    assert codes[:, 1].tolist() == [0, 0, 1, 2, 3]
    assert codes[:, 2].tolist() == [0, 2, 3, 1, 0]  # unseen -> other, None -> missing


def test_many_valued_categorical_keeps_the_most_frequent_categories():
    real = pd.DataFrame({"id": [f"u{k}" for k in range(500)] + ["common"] * 100 + ["often"] * 50})
    b = Binning.fit(real, max_categories=2)
    assert list(b.categories[0]) == ["common", "often"] and b.sizes == (4,)
    assert np.bincount(b.encode(real)[:, 0], minlength=4).tolist() == [100, 50, 500, 0]  # the rest -> other


def test_many_valued_numeric_gets_quantile_bins():
    x = pd.DataFrame({"x": np.random.default_rng(4).exponential(size=5000)})
    b = Binning.fit(x, bins=32)
    counts = np.bincount(b.encode(x)[:, 0], minlength=b.sizes[0])
    assert b.sizes[0] == 33
    assert counts[:32].min() > 5000 / 32 * 0.9  # quantile bins: nearly equal mass


def test_schema_path_uses_the_schema_cells():
    real, synth = small_tables(5)
    real, synth = real.drop(columns="flag"), synth.drop(columns="flag")
    schema = Schema.from_json({"version": 1, "columns": {
        "colour": {"kind": "categorical", "categories": ["red", "green", "blue"], "missing": True},
        "size": {"kind": "numeric", "lower": 1, "upper": 4, "bins": 2, "integer": True},
        "shape": {"kind": "categorical", "categories": ["big", "sq", "tri"]},
    }})
    res = fidelity(real, synth, schema)
    a, b = schema.encode(real), schema.encode(synth)
    for e in res["marginals"]["2"]:
        attrs = [schema.names.index(c) for c in e["columns"]]
        want = 0.5 * np.abs(count_marginal(a, schema.sizes, attrs) / len(a)
                            - count_marginal(b, schema.sizes, attrs) / len(b)).sum()
        assert e["tvd"] == pytest.approx(want, abs=1e-12)
    assert res["binning"] == "from the schema"


def test_column_summaries():
    real, synth = small_tables(6)
    synth.loc[:9, "colour"] = "purple"
    res = fidelity(real, synth)
    by = {c["column"]: c for c in res["columns"]}
    size = by["size"]
    assert size["kind"] == "numeric"
    assert size["real"]["mean"] == pytest.approx(real["size"].mean())
    assert size["synth"]["median"] == pytest.approx(synth["size"].median())
    assert size["synth"]["q25"] == pytest.approx(np.quantile(synth["size"], 0.25))
    colour = by["colour"]
    assert colour["missing_real"] == pytest.approx(real.colour.isna().mean())
    assert colour["unseen_in_real_rate"] == pytest.approx(10 / len(synth))
    top = colour["top"][0]
    assert top["value"] == "red" and top["real"] == pytest.approx((real.colour == "red").mean())
    assert by["flag"]["kind"] == "categorical"


def test_bad_input_is_an_input_error():
    real, synth = small_tables()
    with pytest.raises(InputError, match="SYNTH lacks \\['shape'\\]"):
        fidelity(real, synth.drop(columns="shape"))
    with pytest.raises(InputError, match="has extra \\['zzz'\\]"):
        fidelity(real, synth.assign(zzz=1))
    bad = synth.astype({"size": object})
    bad.loc[0, "size"] = "large"
    with pytest.raises(InputError, match="'size' is numeric in REAL.*'large'"):
        fidelity(real, bad)
    with pytest.raises(InputError, match="unknown target column"):
        evaluate(real, synth, targets=["nope"])


# --------------------------------------------------------------------------- utility


def learnable(seed, n=1500):
    """A binary target that depends strongly on x and on a categorical feature."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    cat = rng.choice(["a", "b", "c"], size=n)
    logit = 2.5 * x + np.select([cat == "a", cat == "b"], [1.5, -1.5], 0.0)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n), "cat": cat, "y": y})


def test_tstr_on_a_copy_matches_trtr_and_breaks_when_the_target_is_shuffled():
    real = learnable(7)
    copy = utility(real, real.copy(), ["y"], seed=1)["targets"][0]
    for row in copy["models"]:
        assert row["trtr"]["auc"] > 0.85
        assert row["tstr"]["auc"] > 0.85  # trained on data that includes the test rows: at least as good
    shuffled = real.assign(y=real.y.sample(frac=1.0, random_state=3).to_numpy())
    res = utility(real, shuffled, ["y"], seed=1)["targets"][0]
    for row in res["models"]:
        assert row["trtr"]["auc"] > 0.85
        assert abs(row["tstr"]["auc"] - 0.5) < 0.12  # no signal left to learn
    assert res["n_test"] == 450 and res["n_train_real"] == 1050 and res["n_train_synth"] == 1500


def test_multiclass_auc_is_macro_one_vs_rest_and_ranking_is_spearman():
    rng = np.random.default_rng(8)
    n = 1200
    x = rng.normal(size=n)
    real = pd.DataFrame({"x": x, "z": rng.normal(size=n),
                         "k": np.select([x < -0.5, x < 0.5], ["lo", "mid"], "hi")})
    res = utility(real, real.iloc[::-1].reset_index(drop=True), ["k"], seed=2)["targets"][0]
    assert res["n_classes"] == 3
    aucs_real = [r["trtr"]["auc"] for r in res["models"]]
    aucs_syn = [r["tstr"]["auc"] for r in res["models"]]
    assert min(aucs_real) > 0.9
    if len(set(aucs_real)) > 1 and len(set(aucs_syn)) > 1:
        assert res["ranking_consistency"] == pytest.approx(spearmanr(aucs_real, aucs_syn).statistic)


def test_macro_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    from dpsynth.evaluate import _scores

    rng = np.random.default_rng(9)
    classes = np.array(["a", "b", "c"], dtype=object)
    y = rng.choice(classes, size=300)
    p = rng.dirichlet([1, 1, 1], size=300)

    class Fixed:
        classes_ = classes

        def predict(self, X):
            return classes[p.argmax(1)]

        def predict_proba(self, X):
            return p

    got = _scores(Fixed(), None, y, classes, None)
    assert got["auc"] == pytest.approx(roc_auc_score(y, p, multi_class="ovr", average="macro", labels=classes))
    assert got["accuracy"] == pytest.approx(np.mean(classes[p.argmax(1)] == y))


def test_single_class_synthetic_training_data_scores_the_constant_prediction():
    real = learnable(10, n=600)
    synth = real.assign(y="no")
    res = utility(real, synth, ["y"], models=["logistic_regression"], seed=0)["targets"][0]
    row = res["models"][0]["tstr"]
    assert row["auc"] == 0.5 and "single class" in row["note"]
    test_no_rate = row["accuracy"]
    assert 0.2 < test_no_rate < 0.8
    assert res["classes_missing_in_synth"] == ["yes"]


def test_holdout_is_the_test_set_and_default_targets_are_the_smallest_categoricals():
    real, holdout = learnable(11, 800), learnable(12, 300)
    real["many"] = np.random.default_rng(0).choice(list("abcdefg"), size=len(real))
    holdout["many"] = "a"
    assert default_targets(real, 1) == ["y"]  # 2 classes < cat's 3 < many's 7
    assert default_targets(real) == ["y", "cat", "many"]
    res = utility(real, real, None, holdout=holdout, max_targets=1, models=["logistic_regression"])
    assert res["test_set"] == "HOLDOUT table"
    assert [t["target"] for t in res["targets"]] == ["y"]
    assert res["targets"][0]["n_test"] == 300 and res["targets"][0]["n_train_real"] == 800


def test_numeric_target_with_many_values_is_refused():
    real = learnable(13, 300)
    with pytest.raises(InputError, match="'x' is numeric"):
        utility(real, real, ["x"])


def test_evaluate_is_json_ready_and_formats():
    import json

    real = learnable(14, 500)
    res = evaluate(real, learnable(15, 500), targets=["y"])
    text = json.dumps(res)  # plain floats, lists, None only
    assert "NaN" not in text
    out = format_evaluation(res)
    assert "2-way: mean" in out and "target y" in out and "not for publication" in out


def test_a_value_filling_whole_quantile_steps_gets_its_own_cell():
    """92% zeros: moving them to 2000 must show in the 1-way TVD (it was 0 when the zeros shared a bin)."""
    rng = np.random.default_rng(0)
    x = np.where(rng.random(5000) < 0.92, 0.0, rng.integers(1, 10_000, 5000))
    real = pd.DataFrame({"gain": x, "c": rng.choice(["a", "b"], 5000)})
    synth = real.assign(gain=np.where(x == 0, 2000.0, x))
    gain = fidelity(real, synth)["marginals"]["1"][0]
    assert gain["columns"] == ["gain"] and gain["tvd"] == pytest.approx(np.mean(x == 0), abs=0.01)
    edges = Binning.fit(real).edges[0]
    assert np.searchsorted(edges, [0.0], side="right")[0] != np.searchsorted(edges, [1e-9], side="right")[0]


def test_one_column_and_empty_tables():
    one = pd.DataFrame({"c": np.random.default_rng(1).choice(["a", "b"], 300)})
    assert default_targets(one) == []
    res = evaluate(one, one.sample(frac=1.0, random_state=0))
    assert res["utility"]["targets"] == [] and res["fidelity"]["tvd"]["1"]["mean"] == 0.0
    with pytest.raises(InputError, match="no other column"):
        utility(one, one, targets=["c"])
    with pytest.raises(InputError, match="SYNTH has no rows"):
        fidelity(one, one.iloc[:0])


def test_a_stray_string_in_real_is_named_when_it_makes_a_column_categorical():
    """Without a schema REAL decides each column's kind: one non-numeric value among
    numbers makes it categorical, and the column's entry says why and what to do."""
    rng = np.random.default_rng(0)
    ages = rng.integers(18, 90, 300)
    real = pd.DataFrame({"age": ages.astype(object), "sex": rng.choice(["F", "M"], 300)})
    real.loc[7, "age"] = "unknown"
    synth = pd.DataFrame({"age": rng.integers(18, 90, 300), "sex": rng.choice(["F", "M"], 300)})
    age, sex = fidelity(real, synth)["columns"]
    assert age["kind"] == "categorical" and "'unknown'" in age["note"] and "--schema" in age["note"]
    assert "note" not in sex
    clean = real.assign(age=ages)  # all numbers: compared as numbers, nothing to say
    assert "note" not in fidelity(clean, synth)["columns"][0]
    labels = real.assign(age=rng.choice(["young", "old"], 300))  # a categorical column: nothing to say
    assert "note" not in fidelity(labels, synth)["columns"][0]
