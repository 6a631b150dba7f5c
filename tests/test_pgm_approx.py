"""Approximate (region-graph) inference: the graph, the convex BP oracle, agreement
with exact inference where both run, structural zeros, Gibbs sampling, the
engine's inference switch, saved models, and the synthesizers and CLI using it."""
from __future__ import annotations

import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import dpsynth
from dpsynth.cli import main
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.pgm import (
    ApproximateModel,
    Domain,
    GraphicalModel,
    ModelTooLarge,
    RegionBP,
    build_region_graph,
    estimate,
    junction_tree_size,
    model_size,
)
from dpsynth.synthesizers import AIM, MWEM

from test_pgm_estimation import brute_force_optimum, measure, true_joint
from test_synthesizers import SCHEMA, dependent_table

DOM = Domain(list("abcde"), [3, 2, 4, 3, 2])
TREE = [("a", "b"), ("b", "c"), ("b", "d"), ("d", "e")]          # Bethe (and Kikuchi) exact
LOOP = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("d", "e")]


def tvd(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.abs(p / p.sum() - q / q.sum()).sum() / 2)


def test_region_graph_closes_under_intersection_with_kikuchi_numbers():
    graph = build_region_graph(DOM, LOOP + [("a", "b", "c")])
    # the triangle's pairs lie in abc; regions abc, cd, de and the intersections c, d
    assert graph.regions == (("a", "b", "c"), ("c", "d"), ("d", "e"), ("c",), ("d",))
    assert graph.parents == ((), (), (), (0, 1), (1, 2))
    assert graph.counting == (1.0, 1.0, 1.0, -1.0, -1.0)    # the junction-tree factorisation
    assert graph.size == 24 + 12 + 6 + 4 + 3 == model_size(DOM, LOOP + [("a", "b", "c")], "approx")
    assert model_size(DOM, LOOP, "exact") == junction_tree_size(DOM, LOOP)
    assert model_size(DOM, LOOP, "auto") == min(model_size(DOM, LOOP, "exact"), model_size(DOM, LOOP, "approx"))
    with pytest.raises(ValueError, match="inference"):
        model_size(DOM, LOOP, "loopy")


def test_oracle_is_locally_consistent_and_the_gradient_of_its_value():
    rng = np.random.default_rng(0)
    graph = build_region_graph(DOM, LOOP)
    bp = RegionBP(DOM, graph)
    theta = [rng.normal(0, 1, DOM.shape(r)) for r in graph.regions]
    mu, _, phi = bp.calibrate(theta, 1.0)
    for r, parents in enumerate(graph.parents):
        for p in parents:
            axes = tuple(i for i, a in enumerate(graph.regions[p]) if a not in graph.regions[r])
            np.testing.assert_allclose(mu[p].sum(axis=axes), mu[r], atol=1e-9)
    # Phi is convex with gradient mu: central differences along a random direction
    d = [rng.normal(0, 1, t.shape) for t in theta]
    h = 1e-4
    up = bp.calibrate([t + h * x for t, x in zip(theta, d)], 1.0)[2]
    down = bp.calibrate([t - h * x for t, x in zip(theta, d)], 1.0)[2]
    assert (up - down) / (2 * h) == pytest.approx(sum(float(np.sum(m * x)) for m, x in zip(mu, d)), rel=1e-6)
    assert up + down - 2 * phi >= -1e-9


def test_calibration_reports_convergence_and_a_stalled_descent_stops(monkeypatch):
    """A calibration cut off at the sweep cap says so; mirror descent ends after STALLED of them
    in a row (each would cost the whole cap) instead of running to max_iters."""
    from dpsynth.pgm import mirror_descent

    rng = np.random.default_rng(0)
    graph = build_region_graph(DOM, LOOP)
    theta = [rng.normal(0, 3, DOM.shape(r)) for r in graph.regions]
    bp = RegionBP(DOM, graph)
    bp.calibrate(theta, 1.0)
    assert bp.converged
    capped = RegionBP(DOM, graph, max_sweeps=1)
    capped.calibrate(theta, 1.0)
    assert not capped.converged
    original = RegionBP.calibrate

    def never_converges(self, theta, total, conditionals=False):
        out = original(self, theta, total, conditionals)
        self.converged = False
        return out
    monkeypatch.setattr(RegionBP, "calibrate", never_converges)
    joint = true_joint(rng, DOM)
    model = estimate(DOM, measure(DOM, joint, LOOP, sigma=5.0, rng=rng), inference="approx", max_iters=1000,
                     tol=0.0)
    assert model.iterations == mirror_descent.STALLED


def test_tree_model_matches_exact_inference():
    """On a tree the local polytope is the marginal polytope: the same optimum."""
    rng = np.random.default_rng(1)
    joint = true_joint(rng, DOM)
    ms = measure(DOM, joint, TREE, sigma=5.0, rng=rng)
    exact = estimate(DOM, ms, tol=1e-10)
    approx = estimate(DOM, ms, tol=1e-10, inference="approx")
    assert isinstance(approx, ApproximateModel) and approx.inference == "approx"
    assert approx.objective == pytest.approx(exact.objective, rel=1e-7)
    for cl in TREE + [("a",), ("c",), ("e",)]:
        np.testing.assert_allclose(approx.project(cl), exact.project(cl), atol=1e-4 * exact.total)
    # outside every region: the maximum-entropy fit over the attributes alone (a and e independent)
    np.testing.assert_allclose(approx.project(("e", "a")),
                               np.outer(exact.project("e"), exact.project("a")) / exact.total, atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1])
def test_loopy_model_is_a_relaxation_close_to_exact(seed):
    """On a loop the estimate minimises over a larger set: its objective is at
    most the brute-force optimum over all joints; measured marginals stay within
    1% TVD of exact inference's (measured 1e-6 on these seeds)."""
    rng = np.random.default_rng(seed)
    joint = true_joint(rng, DOM)
    ms = measure(DOM, joint, LOOP, sigma=20.0, rng=rng)
    total = float(joint.sum())
    exact = estimate(DOM, ms, total=total, tol=1e-9)
    approx = estimate(DOM, ms, total=total, tol=1e-9, inference="approx")
    assert approx.objective <= brute_force_optimum(DOM, ms, total) * (1 + 1e-4)
    for cl in LOOP:
        assert tvd(approx.project(cl), exact.project(cl)) < 0.01


def test_structural_zeros_hold_in_pseudo_marginals_and_samples():
    rng = np.random.default_rng(2)
    joint = true_joint(rng, DOM)
    mask = np.zeros((4, 2), dtype=bool)
    mask[0, 1] = mask[3, 0] = True                          # (c, b) cells, attrs in another order
    single = np.array([False, False, True])                # d = 2 impossible
    zeros = [(("c", "b"), mask), (("d",), single)]
    ms = measure(DOM, joint, LOOP, sigma=5.0, rng=rng)
    model = estimate(DOM, ms, zeros=zeros, inference="approx")
    for region, mu in zip(model.region_graph.regions, model.marginals):
        if {"b", "c"} <= set(region):
            cells = np.moveaxis(mu, [region.index("c"), region.index("b")], [0, 1])
            assert np.all(cells[mask] == 0)
        if "d" in region:
            assert np.all(np.take(mu, 2, axis=region.index("d")) == 0)
    rows = model.sample(5000, rng=3)
    assert not mask[rows[:, 2], rows[:, 1]].any() and not (rows[:, 3] == 2).any()
    with pytest.raises(ValueError, match="rule out every cell"):
        estimate(DOM, ms, zeros=[(("e",), np.ones(2, dtype=bool))], inference="approx")


def within(rows: np.ndarray, model: ApproximateModel, cl: tuple[str, ...], sd: float = 6.0) -> bool:
    """Every cell frequency of ``cl`` within ``sd`` standard errors of the model's."""
    n = len(rows)
    cells = np.ravel_multi_index(tuple(rows[:, DOM.index(a)] for a in cl), DOM.shape(cl))
    freq = np.bincount(cells, minlength=DOM.size(cl)) / n
    p = model.project(cl).ravel() / model.total
    return bool(np.all(np.abs(freq - p) <= sd * np.sqrt(p * (1 - p) / n) + 1e-12))


@pytest.mark.parametrize("method", ["sample", "round"])
def test_samples_match_the_pseudo_marginals_on_a_tree(method):
    """Tree model (the ancestral draw is exact): every cell of every region
    within 6 standard errors over 50,000 rows (flake probability < 1e-7)."""
    rng = np.random.default_rng(4)
    model = estimate(DOM, measure(DOM, true_joint(rng, DOM), TREE, sigma=5.0, rng=rng), inference="approx")
    rows = model.sample(50_000, rng=5, method=method)
    assert rows.shape == (50_000, len(DOM)) and rows.dtype == np.uint8
    assert all(within(rows, model, cl) for cl in TREE)
    np.testing.assert_array_equal(model.sample(50, rng=9), model.sample(50, rng=9))


def test_conditioned_sample_keeps_the_evidence_and_follows_the_conditional():
    """Evidence b=1 on the tree: a, c, d from their regions' conditionals given
    b, and e through d: P(e | b) = sum_d P(d | b) P(e | d)."""
    rng = np.random.default_rng(6)
    model = estimate(DOM, measure(DOM, true_joint(rng, DOM), TREE, sigma=5.0, rng=rng), inference="approx")
    n = 40_000
    rows = model.condition({"b": 1}).sample(n, rng=7)
    assert np.all(rows[:, 1] == 1)
    ab, bd, de, d = model.project(("a", "b")), model.project(("b", "d")), model.project(("d", "e")), model.project("d")
    for col, p in ((0, ab[:, 1]), (3, bd[1]), (4, (bd[1] / d) @ de)):
        p = p / p.sum()
        freq = np.bincount(rows[:, col], minlength=p.size) / n
        assert np.all(np.abs(freq - p) <= 6 * np.sqrt(p * (1 - p) / n))
    zero = estimate(DOM, measure(DOM, true_joint(rng, DOM), TREE, sigma=5.0, rng=rng), inference="approx",
                    zeros=[(("a",), np.array([True, False, False]))])
    with pytest.raises(ValueError, match="probability zero"):
        zero.condition({"a": 0})
    rows = model.condition({"a": 0, "b": 1}).sample(100, rng=8)   # inside one region: drawn from its conditional
    assert np.all(rows[:, :2] == [0, 1])
    with pytest.raises(ValueError, match=r"condition on \['a', 'd'\] spans regions"):
        model.condition({"a": 0, "d": 1})   # the draw would ignore how a and d bear on b


def test_auto_switches_to_approximate_past_the_limit():
    """A 6-cycle: the junction tree needs fill-in triangles (256 cells), the
    region graph only the pairs and single attributes (120)."""
    rng = np.random.default_rng(8)
    dom = Domain(list("abcdef"), [4] * 6)
    cycle = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("e", "f"), ("f", "a")]
    ms = measure(dom, true_joint(rng, dom), cycle, sigma=5.0, rng=rng)
    exact_cells, approx_cells = model_size(dom, cycle, "exact"), model_size(dom, cycle, "approx")
    assert (exact_cells, approx_cells) == (256, 120) and model_size(dom, cycle, "auto") == 120
    assert isinstance(estimate(dom, ms, max_cells=exact_cells, inference="auto"), GraphicalModel)
    model = estimate(dom, ms, max_cells=exact_cells - 1, inference="auto")
    assert isinstance(model, ApproximateModel) and model.region_graph.size == approx_cells
    with pytest.raises(ModelTooLarge, match="region graph"):
        estimate(dom, ms, max_cells=approx_cells - 1, inference="auto")
    with pytest.raises(ValueError, match="inference"):
        estimate(dom, ms, inference="loopy")
    with pytest.raises(ValueError, match="dual"):
        estimate(dom, ms, inference="approx", solver="dual")
    # a warm start from the exact model reaches the same optimum in fewer iterations
    exact = estimate(dom, ms)
    cold = estimate(dom, ms, inference="approx")
    warm = estimate(dom, ms, inference="approx", warm_start=exact)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-4) and warm.iterations < cold.iterations


def _mwem(inference: str = "approx", **options) -> MWEM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MWEM(epsilon=5.0, rounds=4, inference=inference, insecure_random_state=1, **options).fit(
            dependent_table(3000), Schema.from_json(SCHEMA))


def test_approximate_model_saves_loads_and_samples_identically(tmp_path):
    fitted = _mwem()
    assert fitted.model_.inference == "approx"
    fitted.save(tmp_path / "m.dpsynth")
    with np.load(tmp_path / "m.dpsynth", allow_pickle=False) as archive:
        meta = json.loads(str(archive["metadata"][()]))
    assert meta["format_version"] == 2 and meta["inference"] == "approx"
    loaded = dpsynth.load(tmp_path / "m.dpsynth")
    assert loaded.model_.inference == "approx"
    pd.testing.assert_frame_equal(fitted.sample(500, random_state=4), loaded.sample(500, random_state=4))
    condition = pd.DataFrame({"c": [0, 1, 1, 0] * 50})   # one column: conditions that span regions are refused
    out = loaded.sample(condition=condition, random_state=2)
    assert (out["c"].to_numpy() == condition["c"].to_numpy()).all()
    pd.testing.assert_frame_equal(out, fitted.sample(condition=condition, random_state=2))


def ring_table(n: int, k: int = 6, size: int = 4, seed: int = 0) -> pd.DataFrame:
    """Columns in a ring: each copies the previous one 70% of the time, and the
    last also copies the first half the time. With 4 values per column, the
    ring's junction tree needs 256 cells and its region graph 120."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, k), dtype=int)
    x[:, 0] = rng.integers(size, size=n)
    for i in range(1, k):
        x[:, i] = np.where(rng.random(n) < 0.7, x[:, i - 1], rng.integers(size, size=n))
    x[:, -1] = np.where(rng.random(n) < 0.5, x[:, 0], x[:, -1])
    return pd.DataFrame({f"c{i}": x[:, i] for i in range(k)})


@pytest.mark.parametrize("cls,options", [(AIM, {"rounds": 40}), (MWEM, {})])
def test_auto_inference_selects_past_the_junction_tree_limit(cls, options):
    """max_model_cells=130 holds a chain of pairs but not the closed ring's
    junction tree: exact selection stops there, auto keeps selecting and
    releases an approximate model whose region graph fits."""
    df = ring_table(3000)
    schema = Schema.from_pgm_domain({c: 4 for c in df.columns})
    workload = list(itertools.combinations(df.columns, 2))
    fits = {}
    for inference in ("exact", "auto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[inference] = cls(epsilon=10.0, max_model_cells=130, workload=workload, inference=inference,
                                  insecure_random_state=1, **options).fit(df, schema)
    exact, auto = fits["exact"].model_, fits["auto"].model_
    assert exact.inference == "exact" and exact.junction_tree.size <= 130
    assert auto.inference == "approx"
    assert model_size(auto.domain, auto.cliques, "exact") > 130 >= auto.region_graph.size
    rows = fits["auto"].sample(2000, random_state=3)
    assert list(rows.columns) == list(df.columns) and len(rows) == 2000
    assert fits["auto"].release_["research_rng"]


def test_synthesizers_reject_an_unknown_inference():
    for cls in (AIM, MWEM):
        with pytest.raises(InputError, match="inference"):
            cls(inference="loopy")


def test_cli_inference_option(tmp_path, capsys):
    data, schema = tmp_path / "data.csv", tmp_path / "schema.json"
    dependent_table(2000).to_csv(data, index=False)
    schema.write_text(json.dumps(SCHEMA))
    args = ["synth", str(data), "--schema", str(schema), "--epsilon", "2", "--out", str(tmp_path / "o.csv"),
            "--json"]
    assert main(args + ["--method", "mwem", "--inference", "auto"]) == 0
    assert len(pd.read_csv(tmp_path / "o.csv")) > 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as bad:
        main(args + ["--method", "mwem", "--inference", "loopy"])
    assert bad.value.code == 2
    assert main(args + ["--method", "mst", "--inference", "auto"]) == 2
    assert "applies to aim and mwem" in capsys.readouterr().err
