"""dpsynth.attacks: intervals, Gower search against brute force, each attack, and the sanity pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpsynth.attacks import ATTACKS, Outcome, finalize, prepare, run_attacks
from dpsynth.attacks.anonymeter import (_EQ, _GE, _LE, _columns_matrix, _generate_predicates, attribute_inference,
                                        linkability, singling_out)
from dpsynth.attacks.distance import GowerSpace
from dpsynth.attacks.membership import dcr_attack, density_ratio_attack
from dpsynth.attacks.stats import bonferroni, newcombe_interval, wilson_interval, z_value
from dpsynth.domain import Schema
from dpsynth.errors import InputError

ADULT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "adult.csv"


# --------------------------------------------------------------------------- intervals


def test_newcombe_and_wilson_reproduce_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10.
    assert newcombe_interval(56, 70, 48, 80, 0.95) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe_interval(9, 10, 3, 10, 0.95) == pytest.approx((0.1705, 0.8090), abs=1e-4)
    assert newcombe_interval(5, 56, 0, 29, 0.95) == pytest.approx((-0.0381, 0.1926), abs=1e-4)
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I: 81/263, Wilson score.
    assert wilson_interval(81, 263, 0.95) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert bonferroni(0.95, 5) == pytest.approx(0.99)
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(InputError, match="confidence"):
        z_value(1.5)


def test_newcombe_covers_a_zero_difference_near_the_boundary():
    # 4,000 simulated null pairs with a rare success (p = 0.02, n = 300): 95% intervals
    # must contain 0 at least 93% of the time (the Wald interval falls well short here).
    rng = np.random.default_rng(0)
    s1, s2 = rng.binomial(300, 0.02, 4000), rng.binomial(300, 0.02, 4000)
    covered = [lo <= 0 <= hi for lo, hi in (newcombe_interval(a, 300, b, 300, 0.95) for a, b in zip(s1, s2))]
    assert np.mean(covered) >= 0.93


def test_finalize_declares_a_leak_only_above_zero_at_the_corrected_level():
    ones, zeros = np.ones(200), np.zeros(200)
    half = np.r_[np.ones(100), np.zeros(100)]
    slightly = np.r_[np.ones(122), np.zeros(78)]  # 0.61 vs 0.5: above 0 at 95%, not at 1 - 0.05/3
    res = finalize([Outcome("a", "", ones, zeros), Outcome("b", "", half, half), Outcome("c", "", slightly, half)])
    by = {r["name"]: r for r in res}
    assert by["a"]["leak"] and by["a"]["ci_low"] > 0.9
    assert not by["b"]["leak"] and by["b"]["ci_low"] < 0 < by["b"]["ci_high"]
    alone = finalize([Outcome("c", "", slightly, half)])[0]
    assert alone["leak"] and not by["c"]["leak"]  # the Bonferroni factor 3 turns the verdict
    lo, hi = newcombe_interval(122, 200, 100, 200, bonferroni(0.95, 3))
    assert (by["c"]["ci_low"], by["c"]["ci_high"]) == pytest.approx((lo, hi))
    with_se = finalize([Outcome("s", "", slightly, half, se=0.01)])[0]
    assert with_se["ci_low"] == pytest.approx(0.11 - z_value(0.95) * 0.01)


# --------------------------------------------------------------------------- Gower nearest neighbours


def mixed(n, seed):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.choice(["x", "y", "z"], size=n).astype(object),
        "c": rng.uniform(0, 100, size=n),
        "d": rng.choice(["p", "q"], size=n).astype(object),
    })
    df.loc[rng.random(n) < 0.15, "c"] = np.nan
    df.loc[rng.random(n) < 0.15, "b"] = None
    return df


def brute_gower(q: pd.DataFrame, c: pd.DataFrame, ranges: dict, cols) -> np.ndarray:
    """Gower distance by its definition, pair by pair (small inputs only)."""
    out = np.zeros((len(q), len(c)))
    for i in range(len(q)):
        for j in range(len(c)):
            total = 0.0
            for col in cols:
                x, y = q[col].iloc[i], c[col].iloc[j]
                if pd.isna(x) or pd.isna(y):
                    total += 0.0 if (pd.isna(x) and pd.isna(y)) else 1.0
                elif col in ranges:
                    lo, hi = ranges[col]
                    total += abs(np.clip(x, lo, hi) - np.clip(y, lo, hi)) / (hi - lo)
                else:
                    total += float(x != y)
            out[i, j] = total / len(cols)
    return out


@pytest.mark.parametrize("cols", [None, ["a", "b"], ["c"], ["b", "d"]])
def test_gower_nearest_matches_brute_force(cols):
    real, other = mixed(40, 1), mixed(60, 2)
    other.loc[0, "a"] = 50.0  # outside the real range: clipped
    space = GowerSpace.fit([real], [other])
    ranges = {c: (real[c].min(), real[c].max()) for c in ("a", "c")}
    names = list(space.names)
    idx_cols = None if cols is None else [names.index(c) for c in cols]
    want = brute_gower(real, other, ranges, cols or names)
    d, i = space.nearest(space.transform(real), space.transform(other), k=3, columns=idx_cols)
    np.testing.assert_allclose(d, np.sort(want, axis=1)[:, :3], atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(want, i, 1), d, atol=1e-5)
    d1, i1 = space.nearest(space.transform(real), space.transform(other), k=1, columns=idx_cols)
    np.testing.assert_allclose(d1[:, 0], want.min(axis=1), atol=1e-5)


# --------------------------------------------------------------------------- attacks on small tables


def population(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "x": x,
        "y": x + rng.normal(scale=0.5, size=n),
        "g": np.where(x + rng.normal(size=n) > 0, "hi", "lo"),
        "k": rng.choice(list("abcdef"), size=n),
        "z": rng.exponential(size=n),
    })


@pytest.fixture(scope="module")
def small():
    pop = population(3000, 3)
    return pop.iloc[:1000], pop.iloc[1000:2000].reset_index(drop=True), pop.iloc[2000:].reset_index(drop=True)


def test_targets_are_disjoint_and_seeded(small):
    train, holdout, other = small
    d1 = prepare(train, holdout, other, n_targets=300, n_reference=200, seed=4)
    d2 = prepare(train, holdout, other, n_targets=300, n_reference=200, seed=4)
    assert len(d1.train_rows) == 300 and len(d1.holdout_rows) == 300 and len(d1.reference_rows) == 200
    assert not set(d1.holdout_rows) & set(d1.reference_rows)
    assert np.array_equal(d1.train_rows, d2.train_rows) and np.array_equal(d1.reference_rows, d2.reference_rows)
    small_holdout = prepare(train, holdout.iloc[:100], other, n_targets=300)
    assert len(small_holdout.holdout_rows) == 50 and len(small_holdout.reference_rows) == 50


def test_membership_attacks_on_a_copy_and_on_an_independent_sample(small):
    train, holdout, other = small
    copy = prepare(train, holdout, train, n_targets=500, n_reference=400)
    for attack in (dcr_attack, density_ratio_attack):
        o = attack(copy)
        assert o.train.mean() == 1.0  # every member has an exact synthetic copy
        assert 0.03 < o.holdout.mean() < 0.2  # calibrated at the 10% quantile of the reference rows
    assert dcr_attack(copy).details["exact_match_rate_train"] == 1.0
    indep = prepare(train, holdout, other, n_targets=500, n_reference=400)
    r = finalize([dcr_attack(indep), density_ratio_attack(indep)])
    assert not any(a["leak"] for a in r)


def test_singling_out_predicates_single_out_one_synthetic_record(small):
    train, holdout, other = small
    data = prepare(train, holdout, other, n_targets=200, n_reference=200)
    ST = _columns_matrix(data, data.synth_points)
    cols, ops, vals, attempts = _generate_predicates(data, ST, 50, 3, 20000, np.random.default_rng(0))
    assert len(cols) == 50 and attempts >= 50
    S = ST.T
    for c, o, v in zip(cols, ops, vals):  # re-evaluate each predicate the slow way
        mask = np.ones(len(S), dtype=bool)
        for col, op, val in zip(c, o, v):
            if op == _EQ:
                mask &= S[:, col] == val
            elif op == _LE:
                mask &= S[:, col] <= val
            else:
                assert op == _GE
                mask &= (S[:, col] >= val) & (S[:, col] <= 1.0)
        assert mask.sum() == 1
        assert all(o[m] == _EQ for m in range(len(c)) if not data.space.numeric[c[m]])
    o = singling_out(data, n_predicates=50, n_cols=3)
    assert o.se > 0 and len(o.train) == len(o.holdout) == 50
    copy = singling_out(prepare(train, holdout, train, n_targets=200, n_reference=200), n_predicates=50, n_cols=3)
    assert copy.train.mean() == 1.0  # a record unique in a copy of TRAIN is unique in TRAIN


def test_linkability_and_inference_on_a_copy(small):
    train, holdout, other = small
    data = prepare(train, holdout, train, n_targets=300, n_reference=200)
    link = linkability(data, ["x", "g"], ["y", "z", "k"])
    assert link.train.mean() == 1.0  # both halves point at the record's own copy
    assert link.holdout.mean() < 0.1
    assert link.details["columns_a"] == ["x", "g"]
    inf = attribute_inference(data)
    assert inf.train.mean() == 1.0
    per_col = {c["column"]: c for c in inf.details["per_column"]}
    assert set(per_col) == {"x", "y", "g", "k", "z"}
    assert sum(c["n_train"] for c in per_col.values()) == 300
    assert per_col["z"]["holdout_rate"] < 0.3  # a continuous secret is rarely within 5% by chance
    with pytest.raises(InputError, match="disjoint"):
        linkability(data, ["x", "g"], ["g"])
    with pytest.raises(InputError, match="unknown column"):
        attribute_inference(data, ["nope"])


def test_attribute_inference_numeric_tolerance(small):
    train, holdout, _ = small
    data = prepare(train, holdout, train.assign(z=train.z * 1.04), n_targets=200, n_reference=200)
    assert attribute_inference(data, ["z"]).train.mean() == 1.0  # within 5%
    data = prepare(train, holdout, train.assign(z=train.z * 1.06), n_targets=200, n_reference=200)
    assert attribute_inference(data, ["z"]).train.mean() < 0.5


def test_bad_input(small):
    train, holdout, other = small
    with pytest.raises(InputError, match="SYNTH lacks \\['z'\\]"):
        run_attacks(train, holdout, other.drop(columns="z"))
    with pytest.raises(InputError, match="HOLDOUT has extra"):
        run_attacks(train, holdout.assign(extra=1), other)
    with pytest.raises(InputError, match="unknown attack"):
        run_attacks(train, holdout, other, attacks=["nope"])
    with pytest.raises(InputError, match="confidence"):
        run_attacks(train, holdout, other, confidence=95)
    with pytest.raises(InputError, match="HOLDOUT has 10 rows"):
        run_attacks(train, holdout.iloc[:10], other)
    with pytest.raises(InputError, match="two columns"):
        run_attacks(train[["x"]], holdout[["x"]], other[["x"]])
    for attack, options, match in (("singling_out", {"n_permutations": 1}, "n_permutations=1"),
                                   ("linkability", {"n_neighbors": 0}, "n_neighbors=0"),
                                   ("density_ratio_membership", {"k": 0}, "k=0"),
                                   ("attribute_inference", {"tolerance": -0.1}, "tolerance=-0.1"),
                                   ("dcr_membership", {"quantile": float("nan")}, "quantile=nan"),
                                   ("linkability", {"n_neighbors": 1.5}, "n_neighbors=1.5 must be a whole"),
                                   ("density_ratio_membership", {"k": 2.5}, "k=2.5 must be a whole"),
                                   ("singling_out", {"n_cols": "2"}, "n_cols='2' must be a number")):
        with pytest.raises(InputError, match=match):
            run_attacks(train, holdout, other, attacks=[attack], options={attack: options})


def test_schema_path_validates_and_uses_schema_bounds(small):
    train, holdout, other = small
    schema = Schema.from_json({"version": 1, "columns": {
        "x": {"kind": "numeric", "lower": -4, "upper": 4, "bins": 8},
        "y": {"kind": "numeric", "lower": -5, "upper": 5, "bins": 8},
        "g": {"kind": "categorical", "categories": ["hi", "lo"]},
        "k": {"kind": "categorical", "categories": list("abcdef")},
        "z": {"kind": "numeric", "lower": 0, "upper": 10, "bins": 10},
    }})
    data = prepare(train, holdout, train, schema, n_targets=200, n_reference=200)
    j = data.space.names.index("z")
    assert data.space.lows[data.space.num_columns.index(j)] == 0.0
    assert data.space.spans[data.space.num_columns.index(j)] == 10.0
    res = run_attacks(train, holdout, train, schema, n_targets=200, n_reference=200,
                      attacks=["dcr_membership", "linkability"])
    assert res["schema"] and all(a["leak"] for a in res["attacks"])
    bad = other.assign(k="zzz")
    with pytest.raises(InputError, match="'k'"):
        run_attacks(train, holdout, bad, schema)


def test_result_shape(small):
    train, holdout, other = small
    res = run_attacks(train, holdout, other, n_targets=200, n_reference=200, seed=1)
    assert [a["name"] for a in res["attacks"]] == list(ATTACKS)
    assert res["correction"] == "bonferroni" and res["per_attack_confidence"] == pytest.approx(0.99)
    for a in res["attacks"]:
        assert {"name", "leak", "success_rate", "baseline_rate", "ci_low", "ci_high", "n_targets"} <= set(a)
        assert a["ci_low"] <= a["advantage"] <= a["ci_high"]
        assert a["advantage"] == pytest.approx(a["success_rate"] - a["baseline_rate"])


# --------------------------------------------------------------------------- the sanity pairs on real data


@pytest.fixture(scope="module")
def adult_thirds():
    if not ADULT.exists():
        pytest.skip(f"{ADULT} not present")
    df = pd.read_csv(ADULT)
    idx = np.random.default_rng(2024).permutation(len(df))
    n = len(df) // 3
    return tuple(df.iloc[idx[k * n:(k + 1) * n]].reset_index(drop=True) for k in range(3))


def test_exact_copy_of_train_leaks(adult_thirds):
    train, holdout, _ = adult_thirds
    res = run_attacks(train, holdout, train.copy())
    leaks = [a["name"] for a in res["attacks"] if a["leak"]]
    assert len(leaks) >= 2 and "dcr_membership" in leaks
    assert res["any_leak"]


def test_independent_sample_does_not_leak(adult_thirds):
    train, holdout, other = adult_thirds
    res = run_attacks(train, holdout, other)
    assert not any(a["leak"] for a in res["attacks"]), [(a["name"], a["ci_low"]) for a in res["attacks"]]
    assert not res["any_leak"]


def test_a_copy_read_with_other_types_is_still_a_copy(small):
    """TRAIN read as text (one "unknown"), its copy as floats (that cell missing): "2" never met
    "2.0", every distance grew, and a verbatim copy passed as "no leak detected"."""
    train, holdout, _ = small
    rng = np.random.default_rng(0)
    train = train.assign(a=rng.integers(0, 50, len(train)).astype(str))
    holdout = holdout.assign(a=rng.integers(0, 50, len(holdout)).astype(str))
    train.loc[0, "a"] = "unknown"
    copy = train.assign(a=pd.to_numeric(train["a"], errors="coerce"))  # float, with one NaN
    data = prepare(train, holdout, copy, n_targets=200, n_reference=200)
    assert (data.nearest_synth("train")[0][:, 0] == 0).mean() > 0.99
    result = run_attacks(train, holdout, copy, attacks=["dcr_membership"], n_targets=200, n_reference=200)
    assert result["attacks"][0]["leak"]


def test_singling_out_with_nothing_to_single_out_succeeds_on_no_one():
    """Every cell filled many times: no predicate isolates a synthetic record. The attack used to
    raise, which ended every other attack with exit 2."""
    rng = np.random.default_rng(1)
    tables = [pd.DataFrame({c: rng.choice(["p", "q"], 300) for c in "abc"}) for _ in range(3)]
    result = run_attacks(*tables, attacks=["singling_out", "dcr_membership"], n_targets=100, n_reference=50)
    singling = result["attacks"][0]
    assert singling["name"] == "singling_out" and not singling["leak"]
    assert singling["details"]["n_predicates"] == 0 and singling["success_rate"] == 0.0
    assert result["attacks"][1]["name"] == "dcr_membership"


def test_nearest_synthetic_ties_are_broken_at_random_not_by_row_order(small):
    """On discrete data most searches tie; the first row used to win, so a sorted SYNTH shifted the rates."""
    train, holdout, _ = small
    synth = pd.concat([train.iloc[[0]]] * 4, ignore_index=True)   # four identical rows
    picks = []
    for seed in range(200):
        data = prepare(train, holdout, synth, n_targets=50, n_reference=50, seed=seed)
        picks.append(data.nearest_synth_rows(data.train_targets.take([0]), 1, list(range(5)))[0, 0])
    counts = np.bincount(picks, minlength=4)
    assert counts.min() > 25   # each about 50 of 200 (binomial sd 6)


def test_density_ratio_k_is_bounded_by_the_synthetic_rows(small):
    train, holdout, other = small
    with pytest.raises(InputError, match=r"k=5 must be a number from 1 to 3"):  # an IndexError before
        run_attacks(train, holdout, other.iloc[:3], attacks=["density_ratio_membership"],
                    options={"density_ratio_membership": {"k": 5}})


def test_a_negative_seed_is_bad_input(small, tmp_path, capsys):
    from dpsynth.cli import main

    train, holdout, other = small
    paths = []
    for name, df in (("t", train), ("h", holdout), ("s", other)):
        df.to_csv(tmp_path / f"{name}.csv", index=False)
        paths.append(str(tmp_path / f"{name}.csv"))
    assert main(["attack", *paths, "--seed", "-1"]) == 2
    assert "seed must be a whole number >= 0" in capsys.readouterr().err
