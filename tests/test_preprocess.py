"""DP domain learning: exact charges recorded first, discovery only of present values,
quantile edges within the public bounds, research-path determinism, bad specs; and the
ledger's approximate-zCDP (delta) accounting that category discovery needs.

Statistical assertions are sized so that each fails by chance with probability below 1e-8
(the bounds are worked out next to each one).
"""
from __future__ import annotations

import math
import sqlite3

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest

from dpsynth import mechanisms
from dpsynth.accounting import Ledger, rho_from_epsilon
from dpsynth.domain import Categorical, Numeric, Schema
from dpsynth.errors import BudgetExceeded, InputError
from dpsynth.preprocess import QUANTILE_GRID, learn_domain, plan_budget

pytestmark = pytest.mark.filterwarnings("ignore::dpsynth.accounting.InsecureRNGWarning")


def open_release(rho, delta=1e-8, rng=None, epsilon=2000.0, budget_delta=0.1):
    """An in-memory ledger with a generous budget and a release context on it."""
    ledger = Ledger(None)
    ledger.init("d", epsilon, budget_delta)
    return ledger, ledger.release("d", rho, "test", insecure_rng=rng, delta=delta)


def measurements(ledger):
    return [m for r in ledger.summary("d")["releases"] for m in r["measurements"]]


def schema_of(**columns):
    return Schema.from_json({"columns": columns})


CAT = {"kind": "categorical", "categories": "learn", "other": "other"}
NUM = {"kind": "numeric", "lower": 0, "upper": 100, "bins": 4, "edges": "learn"}


def categorical_table(seed=0):
    """a x600, b x300, c x100, the other label x200, 50 values seen once, 10 missing."""
    values = ["a"] * 600 + ["b"] * 300 + ["c"] * 100 + ["other"] * 200 + [f"r{i}" for i in range(50)] + [None] * 10
    return pd.DataFrame({"c": np.random.default_rng(seed).permutation(np.array(values, dtype=object))})


# ----------------------------------------------------------------------------- the schema format

def test_learn_specs_round_trip_hash_and_learnable():
    spec = {"c": {**CAT, "max_categories": 5, "threshold": 20, "missing": True},
            "n": {**NUM, "integer": True, "missing": False},
            "fixed": {"kind": "categorical", "categories": ["x", "y"], "missing": False}}
    s = schema_of(**spec)
    assert s.learnable == ("c", "n")
    assert s.to_dict()["columns"]["c"] == {"kind": "categorical", "categories": "learn", "other": "other",
                                          "max_categories": 5, "threshold": 20, "missing": True}
    assert s.to_dict()["columns"]["n"] == {"kind": "numeric", "lower": 0, "upper": 100, "bins": 4,
                                          "edges": "learn", "integer": True, "missing": False}
    again = Schema.from_json(s.to_dict())
    assert again == s and again.hash() == s.hash()
    changed = schema_of(**{**spec, "c": {**spec["c"], "threshold": 21}})
    assert changed.hash() != s.hash()
    built = Schema([Categorical("c", "learn", "other", 5, 20, missing=True),
                    Numeric("n", 0, 100, 4, edges="learn", integer=True), spec_column("fixed", spec)])
    assert built.hash() == s.hash()


def spec_column(name, spec):
    return Schema.from_json({"columns": {name: spec[name]}})[name]


def test_unlearned_schema_refuses_encode_decode_and_sizes():
    s = schema_of(c=CAT, n=NUM)
    df = pd.DataFrame({"c": ["a"], "n": [1.0]})
    for use in (lambda: s.encode(df), lambda: s.decode(np.zeros((1, 2), dtype=np.uint8)), lambda: s.sizes,
                lambda: s["c"].encode(df["c"]), lambda: s["n"].size):
        with pytest.raises(InputError, match="learned first"):
            use()
    assert "c:categorical[learn]" in repr(s)


@pytest.mark.parametrize("spec,match", [
    ({"kind": "categorical", "categories": "learn"}, "needs an \"other\" label"),
    ({**CAT, "other": True, "max_categories": 0}, "max_categories"),
    ({**CAT, "threshold": -3}, "threshold"),
    ({**CAT, "threshold": True}, "threshold"),
    ({**CAT, "threshold": 2.5}, "threshold"),
    ({**CAT, "categories": "learned"}, "\"learn\""),
    ({"kind": "categorical", "categories": ["a"], "threshold": 5}, "apply only to"),
    ({"kind": "categorical", "categories": ["a"], "max_categories": 5}, "apply only to"),
    ({**CAT, "cutoff": 3}, "unknown key"),
    ({"kind": "numeric", "edges": "learn"}, "needs \"lower\", \"upper\" and \"bins\""),
    ({"kind": "numeric", "lower": 0, "upper": 1, "edges": "learn"}, "bins"),
    ({**NUM, "bins": 1}, "from 2 to"),
    ({**NUM, "bins": 5000}, "from 2 to"),
    ({**NUM, "edges": "auto"}, "\"learn\""),
    ({**NUM, "lower": 5, "upper": 1}, "swap"),
    ({**NUM, "lower": 0.5, "integer": True}, "whole-number"),
    ({**NUM, "lower": 0, "upper": 2, "bins": 4, "integer": True}, "at most 3"),
])
def test_bad_learn_specs_are_input_errors(spec, match):
    with pytest.raises(InputError, match=match):
        schema_of(col=spec)


# ----------------------------------------------------------------------------- budget

def test_plan_budget_splits_an_epsilon_delta_release():
    s = schema_of(c=CAT, n=NUM)
    rho, rho_learn, delta_learn = plan_budget(s, 1.0, 1e-9, share=0.2)
    assert delta_learn == pytest.approx(2e-10) and rho == rho_from_epsilon(1.0, 1e-9 - delta_learn)
    assert rho_learn == pytest.approx(0.2 * rho, rel=1e-15)
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with ledger.release("d", rho, "mst", delta=delta_learn):  # exactly the whole (1, 1e-9) budget
        pass
    assert ledger.summary("d")["rho_remaining"] == 0.0
    assert ledger.summary("d")["epsilon_spent"] == pytest.approx(1.0, rel=1e-9)
    only_numeric = schema_of(n=NUM)
    assert plan_budget(only_numeric, 1.0, 1e-9) == (rho_from_epsilon(1.0, 1e-9),
                                                     pytest.approx(0.1 * rho_from_epsilon(1.0, 1e-9)), 0.0)
    assert plan_budget(schema_of(f={"kind": "categorical", "categories": [1]}), 1.0, 1e-9)[1:] == (0.0, 0.0)
    with pytest.raises(InputError, match="share"):
        plan_budget(s, 1.0, 1e-9, share=1.0)


def test_rho_charged_exactly_and_recorded_before_each_draw():
    rng = np.random.default_rng(3)
    n = 2000
    df = pd.DataFrame({"c1": rng.choice(["x", "y", "z"], n), "c2": rng.integers(0, 4, n),
                       "n1": rng.uniform(0, 100, n), "n2": rng.integers(-50, 50, n), "fixed": rng.random(n)})
    s = schema_of(c1=CAT, c2={**CAT, "other": -1}, n1={**NUM, "bins": 3},
                  n2={**NUM, "lower": -50, "upper": 49, "bins": 5, "integer": True},
                  fixed={"kind": "numeric", "lower": 0, "upper": 1, "bins": 2})
    rho, delta = 0.37, 4e-9
    ledger, ctx = open_release(3 * rho, delta=2 * delta, rng=np.random.default_rng(0))
    with ctx as release:
        spy = SpyRNG(release.insecure_rng, ledger)
        release.insecure_rng = spy
        learned = learn_domain(df, s, release, rho, delta=delta)
        assert abs(release.rho_charged - rho) <= 1e-12 * rho
        assert 0 < release.delta_charged <= delta
    ms = measurements(ledger)
    assert [m["query"] for m in ms] == ["categories:c1", "categories:c2", "edges:n1:1/3", "edges:n1:2/3"] + [
        f"edges:n2:{q}/5" for q in range(1, 5)]
    assert abs(math.fsum(m["rho"] for m in ms) - rho) <= 1e-12 * rho
    assert [m["rho"] for m in ms[:2]] == pytest.approx([rho / 4] * 2, rel=1e-12)
    assert [m["rho"] for m in ms[2:4]] == pytest.approx([rho / 4 / 2] * 2, rel=1e-12)
    assert [m["rho"] for m in ms[4:]] == pytest.approx([rho / 4 / 4] * 4, rel=1e-12)
    assert all(0 < m["delta"] <= delta / 2 for m in ms[:2]) and all(m["delta"] == 0 for m in ms[2:])
    # Every mechanism draws only after its own charge is in the ledger: the ledger held
    # 1, 2, ..., 8 measurements at the draws, in that order, each count seen.
    assert spy.seen == sorted(spy.seen) and set(spy.seen) == set(range(1, len(ms) + 1))
    assert learned.learnable == () and learned["fixed"] == s["fixed"]
    assert learned.encode(df).shape == (n, 5)


class SpyRNG:
    """Wraps a numpy Generator; notes how many measurements the ledger held at each draw."""

    def __init__(self, rng, ledger):
        self.rng, self.ledger, self.seen = rng, ledger, []

    def __getattr__(self, name):
        method = getattr(self.rng, name)

        def draw(*args, **kwargs):
            self.seen.append(len(measurements(self.ledger)))
            return method(*args, **kwargs)

        return draw


def test_nothing_is_charged_when_learning_cannot_start():
    df = categorical_table()
    df["n"] = np.arange(len(df), dtype=float)
    s = schema_of(c={**CAT, "missing": True}, n=NUM)
    cases = [
        (dict(rho=0.1), lambda r: learn_domain(df, schema_of(c=CAT, n=NUM), r, 0.1), InputError,
         "10 missing value"),
        (dict(rho=0.1, delta=0.0), lambda r: learn_domain(df, s, r, 0.1), InputError, "needs a delta"),
        (dict(rho=0.1), lambda r: learn_domain(df, s, r, 0.2), BudgetExceeded, "budget exceeded"),
        (dict(rho=0.1), lambda r: learn_domain(df, s, r, 0.1, delta=1.0), BudgetExceeded, "budget exceeded"),
        (dict(rho=0.1), lambda r: learn_domain(df.drop(columns="n"), s, r, 0.1), InputError, "no such column"),
        (dict(rho=0.1), lambda r: learn_domain(df.assign(n=["x"] * len(df)), s, r, 0.1), InputError,
         "not numbers"),
        (dict(rho=0.1), lambda r: learn_domain(df.assign(c=[pd.Timestamp(0)] * len(df)), s, r, 0.1), InputError,
         "cannot be categories"),
        (dict(rho=0.1), lambda r: learn_domain(df, schema_of(f={"kind": "categorical", "categories": ["a"]}),
                                               r, 0.1), InputError, "no column to learn"),
        (dict(rho=0.1), lambda r: learn_domain(df, s, r, 0.0), InputError, "rho"),
    ]
    for kwargs, call, error, match in cases:
        ledger, ctx = open_release(**kwargs)
        with pytest.raises(error, match=match):
            with ctx as release:
                call(release)
        assert measurements(ledger) == []


# ----------------------------------------------------------------------------- categories

def test_one_record_never_decides_whether_categories_are_learned():
    """A value that cannot be a category, or a boolean among numbers, refused the whole release
    before it was reserved: released for D, refused for D plus that record. Such values are
    not counted now (they fall into other), and of booleans and numbers the larger noisy
    total is kept, post-processing."""
    s = schema_of(c={**CAT, "threshold": 5})
    base = pd.Series([1] * 300 + [2] * 300 + [True] * 40, dtype=object)
    for extra in ([], [True], [float("inf")], [{"a": 1}]):
        ledger, ctx = open_release(rho=10.0)
        with ctx as release:
            learned = learn_domain(pd.DataFrame({"c": pd.concat([base, pd.Series(extra, dtype=object)],
                                                                  ignore_index=True)}), s, release, 10.0)
        assert learned["c"].categories == (1, 2)   # True's 40 lose to the numbers' 600
        assert [m["rho"] for m in measurements(ledger)] != []


def test_learned_labels_do_not_depend_on_which_record_comes_first():
    """pandas' value_counts merges 1 and 1.0 (and True) under the first one seen: one record
    would decide the released label. Each value is keyed by its canonical form instead."""
    s = schema_of(c={**CAT, "threshold": 5})
    learned = []
    for values in ([1] * 50 + [1.0] * 50 + ["a"] * 50, [1.0] * 50 + [1] * 50 + ["a"] * 50):
        ledger, ctx = open_release(2.0)
        with ctx as release:
            learned.append(learn_domain(pd.DataFrame({"c": pd.Series(values, dtype=object)}), s, release, 2.0))
    assert learned[0]["c"].categories == learned[1]["c"].categories == (1, "a")
    assert learned[0].hash() == learned[1].hash()


def test_frequent_categories_found_rare_values_and_the_other_label_go_to_other():
    df = categorical_table()
    # Secure path (OpenDP's samplers), sigma = 0.5, threshold 20: a count of 100 falls below 20, or a
    # count of 1 reaches it, only with noise beyond 38 sigma (P < 1e-300). The other label is dropped.
    s = schema_of(c={**CAT, "threshold": 20, "missing": True})
    ledger, ctx = open_release(2.0)
    with ctx as release:
        learned = learn_domain(df, s, release, 2.0)
    assert learned["c"].categories == ("a", "b", "c") and learned["c"].other == "other"
    codes = learned.encode(df)[:, 0]
    assert np.bincount(codes, minlength=5).tolist() == [600, 300, 100, 250, 10]  # a b c other missing
    out = learned.decode(codes[:, None], np.random.default_rng(0))["c"]
    assert set(out.dropna()) == {"a", "b", "c", "other"} and out.isna().sum() == 10
    # max_categories keeps the largest noisy counts (600 vs 300 vs 100: a swap needs 100+ sigma).
    ledger, ctx = open_release(2.0)
    with ctx as release:
        top = learn_domain(df, schema_of(c={**CAT, "threshold": 20, "max_categories": 2, "missing": True}),
                           release, 2.0)
    assert top["c"].categories == ("a", "b")


def test_default_threshold_meets_the_delta_and_keeps_frequent_values():
    # sigma = 0.5, delta 1e-9: each value seen once is kept with probability <= 1e-9 (OpenDP's map),
    # so all 50 drop with probability > 1 - 5e-8; c (count 100) is far above the threshold (5).
    ledger, ctx = open_release(2.0, delta=1e-9)
    with ctx as release:
        learned = learn_domain(categorical_table(), schema_of(c={**CAT, "missing": True}), release, 2.0)
    (m,) = measurements(ledger)
    assert m["mechanism"] == "gaussian_threshold" and 0 < m["delta"] <= 1e-9 and m["scale"] == 0.5
    assert learned["c"].categories == ("a", "b", "c")
    assert mechanisms.threshold_for_delta(0.5, 1e-9) <= 8


def test_no_value_absent_from_the_data_can_appear():
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"s": rng.choice(["p", "q", "r", "other"], 300), "i": rng.choice([1, 2, 3], 300),
                       "f": rng.choice([0.5, 1.5], 300), "b": rng.choice([True, False], 300)})
    s = schema_of(s=CAT, i={**CAT, "other": 0}, f={**CAT, "other": "rest"}, b={**CAT, "other": "neither"})
    seen = {name: set(df[name]) for name in df}
    for seed in range(12):
        # rho 0.02 per column: sigma 5 -- very noisy; whatever survives must be an observed value.
        ledger, ctx = open_release(0.08, delta=1e-2, rng=np.random.default_rng(seed))
        with ctx as release:
            learned = learn_domain(df, s, release, 0.08)
        for name in df:
            assert set(learned[name].categories) <= seen[name] - {"other"}
        assert all(type(v) is str for v in learned["s"].categories)
        assert all(type(v) is int for v in learned["i"].categories)
        assert all(type(v) is float for v in learned["f"].categories)
        assert all(type(v) is bool for v in learned["b"].categories)
    # At high epsilon all of them are found and keep their types through encode/decode.
    ledger, ctx = open_release(400.0, delta=1e-6)
    with ctx as release:
        learned = learn_domain(df, s, release, 400.0)
    assert learned["i"].categories == (1, 2, 3) and learned["f"].categories == (0.5, 1.5)
    assert learned["b"].categories == (False, True) and learned["s"].categories == ("p", "q", "r")
    back = learned.decode(learned.encode(df), np.random.default_rng(0))
    pd.testing.assert_frame_equal(back.astype(object), df.astype(object))


# ----------------------------------------------------------------------------- bin edges

def test_quantile_edges_close_to_the_true_quantiles_at_high_epsilon():
    rng = np.random.default_rng(7)
    n = 20000
    df = pd.DataFrame({"x": rng.normal(40, 15, n), "k": rng.integers(0, 100, n)})
    s = schema_of(x={**NUM, "bins": 5}, k={**NUM, "lower": 0, "upper": 99, "integer": True})
    # rho 100 per column: each quantile is the exponential mechanism at epsilon >= sqrt(8 * 25) = 14 on
    # rank scores of sensitivity <= 1; a candidate 100 ranks worse than the best (x: under 0.3 in value
    # where the density is lowest, > 370 rows per unit; k: half an integer) is chosen with probability
    # < 2049 * exp(-14 * 100 / 2) < 1e-300.
    ledger, ctx = open_release(200.0)
    with ctx as release:
        learned = learn_domain(df, s, release, 200.0)
    x_edges = np.asarray(learned["x"].edges, dtype=float)
    truth = np.quantile(np.clip(df["x"], 0, 100), [0.2, 0.4, 0.6, 0.8])
    assert x_edges[0] == 0 and x_edges[-1] == 100
    assert np.abs(x_edges[1:-1] - truth).max() <= 0.5 + 100 / QUANTILE_GRID
    k_edges = learned["k"].edges
    assert k_edges[0] == 0 and k_edges[-1] == 99 and all(e % 1 == 0.5 for e in k_edges[1:-1])  # cuts between integers
    assert np.abs(np.asarray(k_edges[1:-1]) - np.quantile(df["k"], [0.25, 0.5, 0.75])).max() <= 2
    assert learned.encode(df).max(axis=0).tolist() == [4, 3]


def test_edges_stay_within_the_public_bounds_and_strictly_increase():
    rng = np.random.default_rng(11)
    df = pd.DataFrame({"x": rng.normal(0, 1000, 500), "k": np.full(500, 10**6), "e": np.full(500, np.nan)})
    s = schema_of(x={**NUM, "lower": -1.5, "upper": 2.5, "bins": 16},
                  k={**NUM, "lower": -3, "upper": 7, "bins": 6, "integer": True},
                  e={**NUM, "lower": 0, "upper": 1, "bins": 3, "missing": True})
    for seed in [None] + list(range(6)):
        rng_arg = None if seed is None else np.random.default_rng(seed)
        ledger, ctx = open_release(1e-4, rng=rng_arg)
        with ctx as release:
            learned = learn_domain(df, s, release, 1e-4)
        for name in ("x", "k", "e"):
            edges = np.asarray(learned[name].edges, dtype=float)
            lower, upper = s[name].lower, s[name].upper
            assert edges[0] == lower and edges[-1] == upper and (np.diff(edges) > 0).all()
            assert 2 <= len(edges) <= s[name].bins + 1
        k_edges = learned["k"].edges
        assert type(k_edges[0]) is int and type(k_edges[-1]) is int and all(e % 1 == 0.5 for e in k_edges[1:-1])
        codes = learned.encode(df)
        assert (codes[:, 1] == learned["k"].n_values - 1).all()  # 10^6 is clipped into the last bin
        assert (codes[:, 2] == learned["e"].n_values).all()  # all missing


# ----------------------------------------------------------------------------- reproducibility

def test_research_path_is_deterministic():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"c": rng.choice(list("abcdefgh"), 400), "x": rng.uniform(0, 100, 400)})
    s = schema_of(c=CAT, x={**NUM, "bins": 6})

    def run(seed):
        ledger, ctx = open_release(0.05, delta=1e-3, rng=np.random.default_rng(seed))
        with ctx as release:
            learned = learn_domain(df, s, release, 0.05)
        return learned.to_dict(), [(m["query"], m["rho"], m["delta"]) for m in measurements(ledger)]

    first = run(42)
    assert run(42) == first
    assert any(run(seed)[0] != first[0] for seed in range(43, 53))  # the noise does matter


def test_drafted_from_data_is_kept():
    s = Schema.from_json({"drafted_from_data": True, "columns": {"x": NUM}})
    ledger, ctx = open_release(0.1)
    with ctx as release:
        assert learn_domain(pd.DataFrame({"x": [1.0, 2.0]}), s, release, 0.1).drafted_from_data is True


# ----------------------------------------------------------------------------- approximate zCDP ledger

def test_delta_reservation_shrinks_the_rho_budget():
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with ledger.release("d", 0.004, "learn", delta=2e-10) as release:
        release.charge("gaussian_threshold", "c", 1.0, 11.0, 0.004, delta=1.5e-10)
        with pytest.raises(BudgetExceeded):  # 1.5e-10 + 1e-10 > the 2e-10 reserved
            release.charge("gaussian_threshold", "c2", 1.0, 11.0, 0.0, delta=1e-10)
    s = ledger.summary("d")
    (r,) = s["releases"]
    assert (s["delta_spent"], r["delta"], r["delta_charged"]) == (2e-10, 2e-10, 1.5e-10)
    assert [m["delta"] for m in r["measurements"]] == [1.5e-10]
    available = rho_from_epsilon(1.0, 8e-10)
    assert available < s["rho_total"] and s["rho_remaining"] == available - 0.004
    with pytest.raises(BudgetExceeded):
        with ledger.release("d", s["rho_remaining"] * 1.001, "mst"):
            pass
    with pytest.raises(BudgetExceeded):  # the delta left (8e-10) cannot be reserved whole
        with ledger.release("d", 1e-6, "learn", delta=8e-10):
            pass
    assert ledger.summary("d") == s  # refused reservations write nothing
    with ledger.release("d", s["rho_remaining"], "mst"):
        pass
    assert ledger.summary("d")["epsilon_spent"] == pytest.approx(1.0, rel=1e-9)


def test_epsilon_spent_agrees_with_opendp_approximate_zcdp_conversion():
    sigma, threshold = 3.0, 25
    meas = mechanisms._threshold_measurement(sigma, threshold)
    rho, delta_a = meas.map((1, 1, 1))
    ledger = Ledger(None)
    ledger.init("d", 5.0, 1e-6)
    with ledger.release("d", rho, "learn", delta=delta_a) as release:
        mechanisms.thresholded_counts(release, "c", {"a": 50, "b": 2}, sigma, threshold)
    s = ledger.summary("d")
    epsilon = dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(meas), 1e-6).map((1, 1, 1))[0]
    assert s["epsilon_spent"] == pytest.approx(epsilon, rel=1e-9)
    assert s["releases"][0]["measurements"][0]["delta"] == delta_a


def test_version_1_ledger_is_upgraded_in_place(tmp_path):
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"""
        CREATE TABLE budgets (dataset TEXT PRIMARY KEY, epsilon REAL NOT NULL, delta REAL NOT NULL,
            rho_total REAL NOT NULL, neighbouring TEXT NOT NULL, created TEXT NOT NULL);
        CREATE TABLE releases (release_id TEXT PRIMARY KEY, dataset TEXT NOT NULL, method TEXT NOT NULL,
            rho REAL NOT NULL, research_rng INTEGER NOT NULL, complete INTEGER NOT NULL DEFAULT 0,
            created TEXT NOT NULL, finished TEXT, error TEXT);
        CREATE TABLE measurements (id INTEGER PRIMARY KEY AUTOINCREMENT, release_id TEXT NOT NULL,
            created TEXT NOT NULL, mechanism TEXT NOT NULL, query TEXT NOT NULL, sensitivity REAL NOT NULL,
            scale REAL NOT NULL, rho REAL NOT NULL);
        CREATE TRIGGER releases_append_only_u
            BEFORE UPDATE OF release_id, dataset, method, rho, research_rng, created ON releases
            BEGIN SELECT RAISE(ABORT, 'a release reservation cannot be changed'); END;
        INSERT INTO budgets VALUES ('d', 1.0, 1e-9, {rho_from_epsilon(1.0, 1e-9)!r}, 'add/remove-one', 't');
        INSERT INTO releases VALUES ('r1', 'd', 'mst', 0.004, 0, 1, 't', 't', NULL);
        INSERT INTO measurements (release_id, created, mechanism, query, sensitivity, scale, rho)
            VALUES ('r1', 't', 'discrete_gaussian', 'a', 1.0, 11.2, 0.004);
        PRAGMA application_id = {0x44505359};
        PRAGMA user_version = 1;
    """)
    conn.close()
    with Ledger(path, create=False) as ledger:
        before = ledger.summary("d")
        assert before["delta_spent"] == 0.0 and before["rho_spent"] == 0.004
        assert before["releases"][0]["measurements"][0]["delta"] == 0.0
        with ledger.release("d", 0.001, "learn", delta=1e-10) as release:
            release.charge("gaussian_threshold", "c", 1.0, 22.0, 0.001, delta=5e-11)
        assert ledger.summary("d")["delta_spent"] == 1e-10
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    with pytest.raises(sqlite3.DatabaseError, match="cannot be changed"):
        conn.execute("UPDATE releases SET delta = 0")
    conn.close()


def test_a_learned_integer_column_can_give_its_upper_value_a_bin():
    """Whole-number cuts merged a cut at ``upper`` into the last edge, so a 0/1 column learned one
    bin whatever its data (10.5% ones came out 48%); cuts between integers part every value."""
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"b": (rng.random(2000) < 0.105).astype(int)})
    s = schema_of(b={**NUM, "lower": 0, "upper": 1, "bins": 2, "integer": True})
    _, ctx = open_release(50.0)
    with ctx as release:
        learned = learn_domain(df, s, release, 50.0)
    assert learned["b"].edges == (0, 0.5, 1)
    codes = learned.encode(df)[:, 0]
    np.testing.assert_array_equal(codes, df["b"].to_numpy())   # 0 -> bin 0, 1 -> bin 1

