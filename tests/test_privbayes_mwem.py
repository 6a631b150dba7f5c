"""PrivBayes and MWEM+PGM: budget, recovery, the selection score's sensitivity, limits, CLI."""
from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from dpsynth.accounting import Ledger, rho_from_epsilon
from dpsynth.cli import main
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.synthesizers import METHODS, MWEM, PrivBayes
from dpsynth.synthesizers.privbayes import DEPENDENCE_SENSITIVITY, ONEWAY_SHARE, dependence

from test_synthesizers import SCHEMA, dependent_table, two_way_tvd


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return dependent_table(20_000)


def fitted(cls, table, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(**kw).fit(table, Schema.from_json(SCHEMA))


def test_registered_for_the_cli():
    assert METHODS["privbayes"] is PrivBayes and METHODS["mwem"] is MWEM


@pytest.mark.parametrize("cls", [PrivBayes, MWEM])
def test_ledger_records_exactly_the_requested_rho(cls, table):
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    model = cls(epsilon=0.5, delta=1e-9).fit(table, Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    (release,) = ledger.summary("t")["releases"]
    requested = rho_from_epsilon(0.5, 1e-9)
    assert release["complete"] and release["method"] == cls.method
    assert release["rho"] == pytest.approx(requested, abs=1e-12)
    assert sum(m["rho"] for m in release["measurements"]) == pytest.approx(requested, abs=1e-12)
    selections = [m for m in release["measurements"] if m["mechanism"] == "exponential"]
    measured = [m for m in release["measurements"] if m["mechanism"] != "exponential"]
    if cls is PrivBayes:  # d - 1 parent choices, a 0.3 share; 1-way marginals a 0.1 share
        assert len(selections) == 3
        assert all(m["sensitivity"] == DEPENDENCE_SENSITIVITY for m in selections)
        assert sum(m["rho"] for m in selections) == pytest.approx(0.3 * requested, rel=1e-9)
        oneway = [m for m in measured if "," not in m["query"]][:4]
        assert sum(m["rho"] for m in oneway) == pytest.approx(ONEWAY_SHARE * requested, rel=1e-9)
        assert [e["attribute"] for e in model.release_["network"]] and len(model.release_["network"]) == 4
    else:  # one selection and one measurement per round, 2 d rounds by default
        assert len(selections) == len(measured) == 8 == model.release_["rounds"]
        assert [m["sensitivity"] for m in selections] == [2.0] + [1.0] * 7
        assert sum(m["rho"] for m in selections) == pytest.approx(0.1 * requested, rel=1e-9)
        assert [m["query"] for m in measured] == [",".join(cl) for cl in model.release_["selected"]]
    assert model.release_["ledger_release_id"] == release["release_id"]


@pytest.mark.parametrize("cls", [PrivBayes, MWEM])
def test_recovers_two_way_marginals_at_large_epsilon(cls, table):
    model = fitted(cls, table, epsilon=20.0)
    synth = model.sample(20_000, random_state=1)
    # bootstrap error of 20k rows on 9 cells is ~0.01; DP noise at epsilon 20 is far below it
    assert two_way_tvd(table, synth) < 0.03
    assert abs(model.n_rows_ - len(table)) < 50


def test_privbayes_finds_the_dependencies(table):
    """At epsilon 20 the exponential mechanism picks parents that carry the dependencies a-b and c-d."""
    network = fitted(PrivBayes, table, epsilon=20.0, degree=1).release_["network"]
    pairs = {frozenset([e["attribute"], *e["parents"]]) for e in network if e["parents"]}
    assert {frozenset("ab"), frozenset("cd")} <= pairs


def test_dependence_score_known_answer_and_sensitivity():
    # child and parent copy each other: joint diag(m, m) against product m/2 everywhere
    m = 50
    counts = np.zeros((3, 3))
    counts[0, 0] = counts[1, 1] = m
    assert dependence(counts) == pytest.approx(m)
    assert dependence(np.zeros((3, 3))) == 0 and dependence(np.outer([1, 2], [3, 4])) == pytest.approx(0)
    # one record in the empty corner moves it by 1.5 n / (n + 1): more than 1, so 1 would be wrong
    bumped = counts.copy()
    bumped[2, 2] += 1
    assert dependence(bumped) - dependence(counts) == pytest.approx(1.5 * 2 * m / (2 * m + 1))
    # brute force: every single-record addition/removal on random tables moves it by at most 2
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(300):
        shape = tuple(rng.integers(2, 5, 2))
        base = rng.integers(0, 4, shape) * (rng.random(shape) < 0.6)
        for cell in itertools.product(*map(range, shape)):
            for step in (1, -1):
                other = base.copy()
                other[cell] += step
                if other[cell] >= 0:
                    worst = max(worst, abs(dependence(other) - dependence(base)))
    assert 1.0 < worst <= DEPENDENCE_SENSITIVITY


def test_privbayes_respects_degree_usefulness_and_size_limits(table):
    model = fitted(PrivBayes, table, epsilon=20.0, degree=1, max_model_cells=14)
    domain = model.model_.domain
    network = model.release_["network"]
    assert all(len(e["parents"]) <= 1 for e in network)
    limit = model.release_["family_cell_limit"]
    assert all(domain.size([e["attribute"], *e["parents"]]) <= limit for e in network)
    assert model.model_.junction_tree.size <= 14
    # at a tiny budget no family is theta-useful: no parents, the rest goes to the 1-way marginals again
    ledger = Ledger(None)
    ledger.init("t", 1.0, 1e-9)
    tiny = PrivBayes(epsilon=0.001).fit(table.head(200), Schema.from_json(SCHEMA), ledger=ledger, dataset="t")
    assert all(not e["parents"] for e in tiny.release_["network"])
    (release,) = ledger.summary("t")["releases"]
    measured = [m["query"] for m in release["measurements"] if m["mechanism"] != "exponential"]
    assert measured == ["a", "b", "c", "d"] * 2
    # theta=None: only the degree and size limits
    assert any(len(e["parents"]) == 2 for e in fitted(PrivBayes, table, epsilon=1.0, theta=None).release_["network"])


def test_mwem_size_guard_and_workload(table):
    model = fitted(MWEM, table, epsilon=5.0, max_model_cells=20, rounds=6)
    assert model.model_.junction_tree.size <= 20
    schema = Schema.from_json(SCHEMA)
    chosen = fitted(MWEM, table, epsilon=5.0, workload=[("a", "b"), ("c", "d")], rounds=3).release_["selected"]
    assert {tuple(cl) for cl in chosen} <= {("a", "b"), ("c", "d")}
    with pytest.raises(InputError, match="exceeds max_model_cells"):
        MWEM(epsilon=1.0, max_model_cells=3).fit(table, schema)
    with pytest.raises(InputError, match="unknown columns"):
        MWEM(epsilon=1.0, workload=[("a", "zz")]).fit(table, schema)


@pytest.mark.parametrize("seed", range(3))
def test_mwem_round_t_selects_within_its_share_of_the_size_limit(table, seed):
    """Round t's choice keeps the model within max_model_cells * t / rounds
    cells (a clique the model already covers adds none), or within
    max_model_cells when no workload marginal does: checked against sizes
    recomputed from scratch for every marginal in every round."""
    from dpsynth.pgm import Domain, junction_tree_size
    from dpsynth.synthesizers.aim import downward_closure

    limit, rounds = 16, 8
    model = fitted(MWEM, table, epsilon=5.0, max_model_cells=limit, rounds=rounds, insecure_random_state=seed)
    domain = Domain(list("abcd"), [3, 3, 2, 2])
    selected = [tuple(cl) for cl in model.release_["selected"]]
    tiers = []
    for t, chosen in enumerate(selected, start=1):
        before = selected[:t - 1]
        sizes = {cl: 0 if cl in downward_closure(before) else junction_tree_size(domain, before + [cl])
                 for cl in itertools.combinations("abcd", 2)}
        cap = limit * t / rounds
        tier = cap if min(sizes.values()) <= cap else limit
        tiers.append(tier == cap and max(sizes.values()) > cap)
        assert sizes[chosen] <= tier, (t, chosen, sizes[chosen], tier)
    assert len(selected) == rounds and any(tiers)   # the share binds in some round


@pytest.mark.parametrize("make", [lambda: PrivBayes(degree=0), lambda: PrivBayes(theta=0),
                                  lambda: PrivBayes(structure_share=0.95), lambda: MWEM(rounds=0),
                                  lambda: MWEM(rounds=2.5)])
def test_bad_parameters(make):
    with pytest.raises(InputError):
        make()


@pytest.mark.parametrize("cls", [PrivBayes, MWEM])
def test_research_rng_is_reproducible_and_marked(cls, table):
    schema = Schema.from_json(SCHEMA)
    with pytest.warns(UserWarning, match="INSECURE"):
        one = cls(epsilon=1.0, insecure_random_state=7).fit(table, schema)
    two = fitted(cls, table, epsilon=1.0, insecure_random_state=7)
    pd.testing.assert_frame_equal(one.sample(1000), two.sample(1000))
    key = "network" if cls is PrivBayes else "selected"
    assert one.release_[key] == two.release_[key]
    assert one.release_["research_rng"] is True
    assert one.ledger_.summary("in-memory")["releases"][0]["research_rng"]


@pytest.mark.parametrize("method", ["privbayes", "mwem"])
def test_cli_synth_method(method, tmp_path, capsys):
    data = tmp_path / "data.csv"
    dependent_table(3000).to_csv(data, index=False)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    out = tmp_path / "out.csv"
    args = ["synth", str(data), "--schema", str(schema), "--epsilon", "1", "--method", method,
            "--rows", "250", "--out", str(out), "--json"]
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["release"]["method"] == method
    assert result["ledger"]["rho_remaining"] == pytest.approx(0, abs=1e-12)
    rows = pd.read_csv(out)
    assert len(rows) == 250 and list(rows.columns) == ["a", "b", "c", "d"]
    assert json.loads((tmp_path / "out.csv.release.json").read_text())["method"] == method
