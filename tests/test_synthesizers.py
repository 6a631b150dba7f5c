"""Synthesizers end to end through the ledger (Python API)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from dpsynth.accounting import NEIGHBOURING, Ledger, rho_from_epsilon
from dpsynth.data import count_marginal
from dpsynth.domain import Schema
from dpsynth.errors import BudgetExceeded, InputError
from dpsynth.synthesizers import AIM, MST, MWEM, Independent, PrivBayes

SCHEMA = {
    "version": 1,
    "columns": {
        "a": {"kind": "categorical", "categories": ["x", "y", "z"]},
        "b": {"kind": "categorical", "categories": ["x", "y", "z"]},
        "c": {"kind": "categorical", "categories": [0, 1]},
        "d": {"kind": "categorical", "categories": ["p", "q"]},
    },
}


def dependent_table(n: int, seed: int = 0) -> pd.DataFrame:
    """b copies a 80% of the time, d copies c 90% of the time; a and c independent."""
    rng = np.random.default_rng(seed)
    a = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    b = np.where(rng.random(n) < 0.8, a, rng.choice(3, n))
    c = rng.choice(2, n, p=[0.6, 0.4])
    d = np.where(rng.random(n) < 0.9, c, 1 - c)
    labels = np.array(["x", "y", "z"])
    return pd.DataFrame({"a": labels[a], "b": labels[b], "c": c, "d": np.array(["p", "q"])[d]})


def two_way_tvd(real: pd.DataFrame, synth: pd.DataFrame) -> float:
    worst = 0.0
    for u, v in itertools.combinations(real.columns, 2):
        p = real.groupby([u, v]).size() / len(real)
        q = synth.groupby([u, v]).size() / len(synth)
        p, q = p.align(q, fill_value=0)
        worst = max(worst, 0.5 * float(np.abs(p - q).sum()))
    return worst


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return dependent_table(20_000)


@pytest.mark.parametrize("cls", [MST, AIM])
def test_recovers_two_way_marginals_at_large_epsilon(cls, table):
    schema = Schema.from_json(SCHEMA)
    model = cls(epsilon=20.0, delta=1e-9).fit(table, schema)
    synth = model.sample(20_000, random_state=1)
    # bootstrap error of 20k rows on 9 cells is ~0.01; DP noise at epsilon 20 is far below it
    assert two_way_tvd(table, synth) < 0.03
    assert abs(model.n_rows_ - len(table)) < 50


def test_independent_loses_the_dependency(table):
    schema = Schema.from_json(SCHEMA)
    synth = Independent(epsilon=20.0).fit(table, schema).sample(20_000, random_state=1)
    assert two_way_tvd(table, synth) > 0.2


@pytest.mark.parametrize("cls", [MST, AIM, Independent])
def test_ledger_records_exactly_the_requested_rho(cls, table):
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    schema = Schema.from_json(SCHEMA)
    model = cls(epsilon=0.01, delta=1e-9).fit(table, schema, ledger=ledger, dataset="t")
    summary = ledger.summary("t")
    (release,) = summary["releases"]
    requested = rho_from_epsilon(0.01, 1e-9)
    charged = sum(m["rho"] for m in release["measurements"])
    assert release["rho"] == pytest.approx(requested, abs=1e-12)
    assert charged == pytest.approx(requested, abs=1e-12)
    assert summary["rho_spent"] == pytest.approx(requested, abs=1e-12)
    assert release["complete"]
    mechanisms = {m["mechanism"] for m in release["measurements"]}
    if cls is Independent:
        assert mechanisms == {"discrete_gaussian"}
    else:  # the selections are in the ledger too
        assert "exponential" in mechanisms
    out = model.sample(500, random_state=0)
    assert list(out.columns) == list(table.columns)
    assert set(out["a"]) <= {"x", "y", "z"} and set(out["c"]) <= {0, 1}
    meta = model.release_
    assert meta["ledger_release_id"] == release["release_id"]
    assert meta["schema_sha256"] == schema.hash()
    assert meta["neighbouring"] == NEIGHBOURING


def test_mst_spends_a_third_on_each_stage(table):
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    MST(epsilon=1.0).fit(table, Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    ms = ledger.summary("t")["releases"][0]["measurements"]
    rho = rho_from_epsilon(1.0, 1e-9)
    oneway = sum(m["rho"] for m in ms if m["mechanism"] == "discrete_gaussian" and "," not in m["query"])
    select = sum(m["rho"] for m in ms if m["mechanism"] == "exponential")
    assert select == pytest.approx(rho / 3, rel=1e-9)
    assert len([m for m in ms if m["mechanism"] == "exponential"]) == 3
    assert oneway == pytest.approx(rho / 3, rel=1e-9)


def test_budget_exceeded_writes_nothing(table):
    ledger = Ledger(None)
    ledger.init("t", 0.5, 1e-9)
    schema = Schema.from_json(SCHEMA)
    with pytest.raises(BudgetExceeded):
        MST(epsilon=1.0).fit(table, schema, ledger=ledger, dataset="t")
    assert ledger.summary("t")["releases"] == []
    assert ledger.summary("t")["rho_spent"] == 0


@pytest.mark.parametrize("rounds", [0, -4, 2.5])
def test_aim_rounds_must_be_a_positive_integer(rounds):
    with pytest.raises(InputError, match="rounds must be an integer"):
        AIM(rounds=rounds)


@pytest.mark.parametrize("make,message", [
    (lambda: AIM(rounds=3), "rounds=3 is fewer than the 4 columns"),
    (lambda: AIM(workload=[("a", "e")]), r"unknown columns \['e'\]"),
    (lambda: MWEM(workload=[("a", "e")]), r"unknown columns \['e'\]"),
    (lambda: AIM(workload=[("a", "a")]), r"each naming a column once \(got \[\('a', 'a'\)\]\)"),  # spent, then failed
    (lambda: MWEM(workload=[("a", "b"), ("b", "b")]), "each naming a column once"),
    (lambda: AIM(workload=[]), "non-empty marginals"),
    (lambda: MWEM(max_model_cells=3), "every workload marginal alone exceeds max_model_cells=3"),
])
def test_parameters_that_do_not_fit_the_columns_are_refused_before_spending(make, message, table):
    """A release that fails inside the fit has spent its rho (the data was
    touched), so parameters checkable from the schema are checked before the
    reservation. AIM's 1-way phase takes one round per column: 3 rounds on 4
    columns would spend 4/3 of the measurement budget."""
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    with pytest.raises(InputError, match=message):
        make().fit(table, Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    assert ledger.summary("t")["releases"] == []
    assert ledger.summary("t")["rho_spent"] == 0


def test_aim_runs_with_one_round_per_column(table):
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    AIM(epsilon=1.0, rounds=4).fit(table, Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    assert ledger.summary("t")["rho_spent"] == pytest.approx(rho_from_epsilon(1.0, 1e-9), rel=1e-9)


def test_drafted_schema_is_refused_unless_declared_public(table):
    schema = Schema.from_json({**SCHEMA, "drafted_from_data": True})
    with pytest.raises(InputError, match="schema-is-public"):
        Independent(epsilon=1.0).fit(table, schema)
    Independent(epsilon=1.0).fit(table, schema, schema_is_public=True)


@pytest.mark.parametrize("eps,delta", [(0, 1e-9), (-1, 1e-9), (1, 0), (1, 1), (float("nan"), 1e-9)])
def test_bad_budget(eps, delta, table):
    with pytest.raises(InputError):
        MST(epsilon=eps, delta=delta).fit(table, Schema.from_json(SCHEMA))


def test_research_rng_is_reproducible_and_marked(table):
    schema = Schema.from_json(SCHEMA)
    with pytest.warns(UserWarning, match="INSECURE"):
        one = MST(epsilon=1.0, insecure_random_state=7).fit(table, schema)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = MST(epsilon=1.0, insecure_random_state=7).fit(table, schema)
    pd.testing.assert_frame_equal(one.sample(1000), two.sample(1000))
    assert one.release_["research_rng"] is True
    assert one.ledger_.summary("in-memory")["releases"][0]["research_rng"]


def test_types_round_trip():
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame({
        "i": rng.integers(0, 100, n),
        "f": rng.normal(50, 10, n).clip(0, 100),
        "t": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "s": rng.choice(["lo", "mid", "hi"], n),
        "m": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
    })
    schema = Schema.from_json({"version": 1, "columns": {
        "i": {"kind": "numeric", "lower": 0, "upper": 99, "bins": 10, "integer": True},
        "f": {"kind": "numeric", "lower": 0, "upper": 100, "bins": 20},
        "t": {"kind": "datetime", "lower": "2020-01-01", "upper": "2020-12-31", "bin_width": "7D", "resolution": "1D"},
        "s": {"kind": "categorical", "categories": ["lo", "mid", "hi"]},
        "m": {"kind": "numeric", "lower": -4, "upper": 4, "bins": 8, "missing": True},
    }})
    out = MST(epsilon=5.0).fit(df, schema).sample(2000, random_state=0)
    assert pd.api.types.is_integer_dtype(out["i"])
    assert pd.api.types.is_float_dtype(out["f"])
    assert pd.api.types.is_datetime64_any_dtype(out["t"])
    assert set(out["s"]) <= {"lo", "mid", "hi"}
    assert 0.1 < out["m"].isna().mean() < 0.3
    assert out["i"].between(0, 99).all() and out["f"].between(0, 100).all()


def test_learned_domain_is_charged_inside_the_release(table):
    """A schema with "learn" columns spends its share of the same release (rho and delta)."""
    spec = {"version": 1, "columns": {
        **SCHEMA["columns"],
        "a": {"kind": "categorical", "categories": "learn", "other": "other"},
    }}
    ledger = Ledger(None)
    ledger.init("t", 2.0, 1e-9)
    model = MST(epsilon=1.0, delta=1e-9).fit(table, Schema.from_json(spec), ledger=ledger, dataset="t")
    (release,) = ledger.summary("t")["releases"]
    charged = sum(m["rho"] for m in release["measurements"])
    assert charged == pytest.approx(release["rho"], abs=1e-12)
    assert release["delta"] > 0  # category discovery is approximate zCDP
    assert set(model.schema_["a"].categories) <= {"x", "y", "z"}
    assert set(model.sample(300, random_state=0)["a"]) <= {"x", "y", "z", "other"}


LEARNED = {"version": 1, "columns": {
    **SCHEMA["columns"],
    "a": {"kind": "categorical", "categories": "learn", "other": "other"},
    "n": {"kind": "numeric", "lower": 0, "upper": 10, "bins": 4, "edges": "learn"},
}}


@pytest.mark.parametrize("column, values, match", [
    ("n", lambda n: np.where(np.arange(n) < 3, np.nan, 1.0), "3 missing value"),    # learned, "missing": false
    ("n", lambda n: np.where(np.arange(n) < 2, "Bob Jones: 1,250,000", "1"), "not numbers"),
    ("a", lambda n: [pd.Timestamp(0)] * n, "cannot be categories"),
    ("b", lambda n: np.where(np.arange(n) < 1, "123-45-6789", "x"), "outside the schema"),  # a complete column
])
def test_bad_data_under_a_learnable_schema_fails_before_the_release(table, column, values, match):
    """Data checks that need no learned domain run before the budget is reserved:
    a failure inside a release would spend it and record an error there."""
    df = table.assign(n=1.0)
    df[column] = values(len(df))
    ledger = Ledger(None)
    ledger.init("t", 2.0, 1e-9)
    with pytest.raises(InputError, match=match):
        MST(epsilon=1.0, delta=1e-9).fit(df, Schema.from_json(LEARNED), ledger=ledger, dataset="t")
    assert ledger.summary("t")["releases"] == []


def test_a_failed_release_records_the_error_type_not_its_message(table, monkeypatch):
    """The message may quote private values; the ledger (shown in reports) keeps only the type."""
    def fail(self, ctx, rho):
        raise ValueError("row 17 has income 1,250,000")
    monkeypatch.setattr(MST, "_fit", fail)
    ledger = Ledger(None)
    ledger.init("t", 2.0, 1e-9)
    with pytest.raises(ValueError, match="1,250,000"):
        MST(epsilon=1.0).fit(table, Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    (release,) = ledger.summary("t")["releases"]
    assert (release["complete"], release["error"]) == (False, "ValueError")


def test_aim_error_bounds_cover_the_true_errors(table):
    """AIM's per-query bounds (95%) hold for the actual L1 errors of the fitted model."""
    schema = Schema.from_json(SCHEMA)
    model = AIM(epsilon=0.5, delta=1e-9).fit(table, schema)
    bounds = model.release_["workload_error_bounds"]
    assert len(bounds) == 6 + 4  # all 2-way and 3-way marginals of 4 columns
    codes = schema.encode(table)
    covered = 0
    for b in bounds:
        assert b["l1_bound"] is not None and b["kind"] in ("supported", "unsupported")
        idx = [schema.names.index(a) for a in b["marginal"]]
        true = count_marginal(codes, schema.sizes, idx)
        fitted = model.model_.project(tuple(b["marginal"])).ravel()
        covered += np.abs(true - fitted).sum() <= b["l1_bound"]
    assert covered == len(bounds)


def refuse_projection(monkeypatch, refused: tuple[str, ...]) -> None:
    """Make the model's marginal on ``refused`` raise ModelTooLarge (as variable
    elimination past its limit would) while no junction-tree clique holds it."""
    from dpsynth.pgm import GraphicalModel, ModelTooLarge

    project = GraphicalModel.project

    def guarded(self, attrs):
        if set(attrs) == set(refused) and self.junction_tree.containing(attrs) is None:
            raise ModelTooLarge(tuple(attrs), 10**9, 10**9, 10**7, "variable elimination")
        return project(self, attrs)

    monkeypatch.setattr(GraphicalModel, "project", guarded)


def test_aim_leaves_out_marginals_the_model_cannot_compute(table, monkeypatch):
    """A candidate whose exact marginal would pass the size guard (ModelTooLarge
    from variable elimination) is never selected, and its workload query gets no
    error bound; the release still completes."""
    refused = ("a", "b", "c")
    refuse_projection(monkeypatch, refused)
    schema = Schema.from_json(SCHEMA)
    model = AIM(epsilon=2.0, delta=1e-9, insecure_random_state=0).fit(table, schema)
    assert all(set(c) != set(refused) for c in model.model_.cliques)
    bounds = {tuple(b["marginal"]): b for b in model.release_["workload_error_bounds"]}
    assert bounds[refused]["kind"] == "none" and bounds[refused]["l1_bound"] is None
    assert sum(b["l1_bound"] is not None for b in bounds.values()) == len(bounds) - 1


def test_mwem_leaves_out_marginals_the_model_cannot_compute(table, monkeypatch):
    """MWEM scores only the workload marginals its model can compute, like AIM."""
    refuse_projection(monkeypatch, ("a", "c"))
    model = MWEM(epsilon=2.0, rounds=6, insecure_random_state=0).fit(table, Schema.from_json(SCHEMA))
    assert len(model.selected_) == 6


def test_aim_selects_only_candidates_within_the_size_rule(table, monkeypatch):
    """The size rule is checked on drawn candidates only: draws it refuses are
    redrawn, so every measured clique kept the model within the budget-scaled
    limit; with a 19-cell limit no 3-way marginal holding a and b fits (20 cells with the last 1-way),
    and a selection that ignored the rule would make the model too large."""
    import dpsynth.mechanisms as mech
    from dpsynth.pgm import model_size

    refused = []
    exponential = mech.exponential

    def spy(release, query, scores, epsilon, sensitivity, admissible=None):
        def check(i):
            ok = admissible(i)
            if not ok:
                refused.append(i)
            return ok
        return exponential(release, query, scores, epsilon, sensitivity, check if admissible else None)

    monkeypatch.setattr(mech, "exponential", spy)
    schema = Schema.from_json(SCHEMA)
    model = AIM(epsilon=5.0, delta=1e-9, max_model_cells=19, insecure_random_state=3).fit(table, schema)
    cliques = model.model_.cliques
    assert refused and any(len(c) > 1 for c in cliques)
    assert model_size(model.model_.domain, cliques) <= 19
    assert not any({"a", "b"} < set(c) for c in cliques)


def test_aim_candidate_weights_are_the_workload_overlap():
    """Every subset of a workload set is a candidate, weighted by sum over the
    workload of |candidate & w| (AIM's definition), counted pair by pair here."""
    from dpsynth.synthesizers.aim import candidate_weights

    workload = [("a", "b"), ("a", "b", "c"), ("c", "d"), ("b", "d", "e"), ("a", "b")]
    weights = candidate_weights(workload)
    subsets = {s for w in workload for k in range(1, len(w) + 1) for s in itertools.combinations(w, k)}
    assert set(weights) == subsets
    for cl, weight in weights.items():
        assert weight == sum(len(set(cl) & set(w)) for w in workload)
    assert weights[("a", "b")] == 7 and weights[("b", "d", "e")] == 7


def test_aim_default_workload_drops_triples_past_32_columns():
    """All 2- and 3-way marginals up to 32 columns (4,960 triples); past that
    the triples would dominate every round, so the default is all pairs."""
    from dpsynth.synthesizers.aim import default_workload

    names32 = [f"c{i}" for i in range(32)]
    assert len(default_workload(names32)) == 496 + 4960
    assert {len(w) for w in default_workload(names32)} == {2, 3}
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(33)]
    table = pd.DataFrame(rng.integers(0, 2, size=(300, 33)), columns=names)
    schema = Schema.from_json({"version": 1, "columns": {
        n: {"kind": "categorical", "categories": [0, 1]} for n in names}})
    model = AIM(epsilon=1.0, delta=1e-9, rounds=40).fit(table, schema)
    bounds = model.release_["workload_error_bounds"]
    assert sorted(tuple(b["marginal"]) for b in bounds) == sorted(itertools.combinations(names, 2))


@pytest.mark.parametrize("cls", [MST, PrivBayes])
def test_values_past_255_survive_domain_compression(cls):
    """300 categories merged down to at most 256 cells: the sampled codes must be widened back
    (a uint8 array wrapped z299 to z043)."""
    rng = np.random.default_rng(0)
    labels = [f"z{i:03d}" for i in range(300)]
    df = pd.DataFrame({"a": rng.choice(["z000", "z150", "z299"], 6000), "b": rng.choice(["p", "q"], 6000)})
    schema = Schema.from_json({"columns": {"a": {"kind": "categorical", "categories": labels},
                                           "b": {"kind": "categorical", "categories": ["p", "q"]}}})
    out = cls(epsilon=5.0).fit(df, schema).sample(6000, random_state=1)
    shares = out["a"].value_counts(normalize=True)
    assert all(abs(shares.get(v, 0.0) - 1 / 3) < 0.05 for v in ("z000", "z150", "z299"))


def test_aims_tvd_bound_holds_when_the_totals_differ():
    """B / (2 n_hat) understated the TVD up to twofold: data (10, 990), model (0, 990),
    L1 10, TVD 0.0101 against 10 / 1980. Brute force over random pairs."""
    from dpsynth.synthesizers.aim import tvd_bound

    rng = np.random.default_rng(0)
    cases = [(np.array([10.0, 990.0]), np.array([0.0, 990.0]))]
    cases += [(rng.integers(0, 50, 6).astype(float) + 1, rng.integers(0, 50, 6).astype(float) + 1) for _ in range(2000)]
    for data, model in cases:
        l1 = np.abs(data - model).sum()
        tvd = 0.5 * np.abs(data / data.sum() - model / model.sum()).sum()
        assert tvd <= tvd_bound(l1, model.sum()) + 1e-12
    assert tvd_bound(10, 990) == pytest.approx(10 / 990)


def test_domain_learning_is_itemised_in_the_release_and_its_claim(table):
    """The release listed only the synthesizer's own measurements: the quantiles and the
    category discovery (approximate DP) that learned the domain were in the ledger alone."""
    from dpsynth.report import privacy_claim

    ledger = Ledger(None)
    ledger.init("t", 2.0, 1e-6)
    df = table.assign(n=np.linspace(0, 10, len(table)), a=np.where(np.arange(len(table)) % 3 == 0, "p", "q"))
    model = MST(epsilon=1.0, delta=1e-6).fit(df, Schema.from_json(LEARNED), ledger=ledger, dataset="t")
    learning = [m for m in model.release_["measurements"] if m.get("stage") == "domain learning"]
    in_ledger = [m for m in ledger.summary("t")["releases"][0]["measurements"]
                 if m["mechanism"] in ("quantile", "gaussian_threshold")]
    assert [(m["mechanism"], m["rho"]) for m in learning] == [(m["mechanism"], m["rho"]) for m in in_ledger]
    assert {m["mechanism"] for m in learning} == {"quantile", "gaussian_threshold"}
    assert "domain learned with DP first" in privacy_claim(model.release_)["mechanism"]
