"""Graphical-model engine: factors, junction trees, the size guard, belief
propagation and marginal queries, checked against brute force on small
domains (the explicit normalised joint)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from dpsynth.errors import InputError
from dpsynth.pgm import (
    BeliefPropagation,
    Domain,
    Factor,
    GraphicalModel,
    Measurement,
    ModelTooLarge,
    build_junction_tree,
    check_model_size,
    estimate,
    junction_tree_size,
    variable_elimination,
)


def random_domain(rng: np.random.Generator) -> Domain:
    d = int(rng.integers(3, 7))
    return Domain([f"x{i}" for i in range(d)], rng.integers(2, 5, size=d))


def random_cliques(rng: np.random.Generator, domain: Domain) -> list[tuple[str, ...]]:
    names = list(domain.names)
    cliques = []
    for _ in range(int(rng.integers(2, 6))):
        k = int(rng.integers(1, 4))
        cliques.append(tuple(rng.choice(names, size=k, replace=False)))
    return cliques


def brute_joint(domain: Domain, cliques, theta) -> np.ndarray:
    """exp(sum of broadcast log-potentials), normalised: axes in domain order."""
    log = np.zeros(domain.sizes)
    for cl, t in zip(cliques, theta):
        log = log + Factor(cl, t).aligned(domain.names)
    p = np.exp(log - log.max())
    return p / p.sum()


def brute_marginal(domain: Domain, joint: np.ndarray, attrs) -> np.ndarray:
    canon = domain.canonical(attrs)
    axes = tuple(i for i, a in enumerate(domain.names) if a not in canon)
    return joint.sum(axis=axes).transpose([canon.index(a) for a in attrs])


# ---------------------------------------------------------------- factors

def test_factor_product_and_logsumexp_match_numpy():
    dom = Domain(["a", "b", "c"], [2, 3, 4])
    rng = np.random.default_rng(0)
    f = Factor(("c", "a"), rng.normal(size=(4, 2)))
    g = Factor(("b", "a"), rng.normal(size=(3, 2)))
    h = f + g
    assert h.attrs == ("c", "a", "b")
    want = f.values[:, :, None] + g.values.T[None, :, :]
    np.testing.assert_allclose(h.values, want)
    m = h.logsumexp(["a"])
    np.testing.assert_allclose(m.values, np.log(np.exp(want).sum(axis=(0, 2))))
    assert h.transpose(("a", "b", "c")).values.shape == (2, 3, 4)
    e = f.expand(dom, ("a", "b", "c"))
    assert e.values.shape == (2, 3, 4) and np.all(e.values[:, 1, :] == f.values.T)


def test_logsumexp_keeps_impossible_slices_exact():
    f = Factor(("a", "b"), np.array([[-np.inf, -np.inf], [0.0, np.log(3.0)]]))
    out = f.logsumexp(["a"]).values
    assert out[0] == -np.inf and out[1] == pytest.approx(np.log(4.0))


# ---------------------------------------------------------------- junction tree

@pytest.mark.parametrize("seed", range(25))
def test_junction_tree_is_valid(seed):
    rng = np.random.default_rng(seed)
    dom = random_domain(rng)
    cliques = random_cliques(rng, dom)
    tree = build_junction_tree(dom, cliques)
    sets = [set(c) for c in tree.cliques]
    # every measured clique and every attribute is covered
    for cl in cliques:
        assert any(set(cl) <= s for s in sets)
    assert set().union(*sets) == set(dom.names)
    # maximal, canonical, a single rooted tree listed parents first
    assert all(not (a < b) for a, b in itertools.permutations(sets, 2))
    assert all(c == dom.canonical(c) for c in tree.cliques)
    assert tree.parent[tree.order[0]] == -1 and sorted(tree.order) == list(range(len(sets)))
    seen = set()
    for c in tree.order:
        assert tree.parent[c] in seen or tree.parent[c] == -1
        seen.add(c)
        if tree.parent[c] >= 0:
            assert set(tree.separators[c]) == sets[c] & sets[tree.parent[c]]
    # running intersection: the cliques holding an attribute form a subtree
    for a in dom.names:
        holding = {i for i, s in enumerate(sets) if a in s}
        tops = [i for i in holding if tree.parent[i] not in holding]
        assert len(tops) == 1, (a, tree)
    assert tree.size == junction_tree_size(dom, cliques) == sum(dom.size(c) for c in tree.cliques)


def textbook_elimination(dom: Domain, masks: list[int]) -> list[tuple[int, int]]:
    """Greedy elimination that re-scores every node left at every step:
    fewest fill-in edges, then fewest cells in the neighbourhood, then position."""
    adj = {v: 0 for v in range(len(dom))}
    for m in masks:
        for v in adj:
            if m >> v & 1:
                adj[v] |= m & ~(1 << v)

    def score(v):
        nb = [u for u in adj if adj[v] >> u & 1]
        fill = sum(1 for u, w in itertools.combinations(nb, 2) if not adj[u] >> w & 1)
        return fill, int(np.prod([dom.sizes[u] for u in [v] + nb])), v

    formed = []
    while adj:
        v = min(adj, key=score)
        nb = adj.pop(v)
        formed.append((v, nb | 1 << v))
        for u in adj:
            if nb >> u & 1:
                adj[u] = (adj[u] | nb) & ~(1 << u | 1 << v)
    return formed


@pytest.mark.parametrize("seed", range(4))
def test_elimination_rescoring_only_touched_nodes_matches_the_textbook_rule(seed):
    """The elimination re-scores a step's neighbours and the nodes two of whose
    neighbours it joined; every step's choice equals a full re-scoring's."""
    from dpsynth.pgm.junction_tree import _eliminate

    rng = np.random.default_rng(300 + seed)
    for _ in range(50):
        d = int(rng.integers(3, 16))
        dom = Domain([f"x{i}" for i in range(d)], np.full(d, 2) if seed % 2 else rng.integers(2, 9, size=d))
        masks = [sum(1 << int(i) for i in rng.choice(d, size=int(rng.integers(1, min(4, d) + 1)), replace=False))
                 for _ in range(int(rng.integers(1, 2 * d)))]
        assert _eliminate(dom, masks, (1 << d) - 1) == textbook_elimination(dom, masks), masks


@pytest.mark.parametrize("seed", range(10))
def test_sizer_adds_one_clique_as_a_fresh_elimination_would(seed):
    """JunctionTreeSizer eliminates only the components a clique joins; its size
    equals the tree built from scratch over the base plus that clique."""
    from dpsynth.pgm.junction_tree import JunctionTreeSizer

    rng = np.random.default_rng(100 + seed)
    dom = random_domain(rng)
    base = random_cliques(rng, dom)
    sizer = JunctionTreeSizer(dom, base)
    assert sizer.total == build_junction_tree(dom, base).size
    for extra in random_cliques(rng, dom) + [(dom.names[0],), tuple(dom.names)]:
        assert sizer.size_with(extra) == build_junction_tree(dom, base + [extra], max_cells=10**12).size


@pytest.mark.parametrize("seed", range(5))
def test_sizer_puts_attributes_new_to_the_graph_first_without_changing_the_size(seed):
    """A clique's attributes on no edge of the base go first (they are
    simplicial once it is added): on wider graphs with ties in every score
    (binary attributes) and fill-in, the size equals a fresh elimination's."""
    from dpsynth.pgm.junction_tree import JunctionTreeSizer

    rng = np.random.default_rng(200 + seed)
    checked = 0
    for _ in range(60):
        d = int(rng.integers(6, 14))
        dom = Domain([f"x{i}" for i in range(d)], np.full(d, 2) if seed % 2 else rng.integers(2, 6, size=d))
        used = list(rng.choice(dom.names, size=int(rng.integers(3, d)), replace=False))
        base = [tuple(rng.choice(used, size=int(rng.integers(2, 4)), replace=False)) for _ in range(int(rng.integers(2, d)))]
        sizer = JunctionTreeSizer(dom, base)
        fresh = [a for a in dom.names if a not in used]
        for _ in range(10):
            extra = tuple(rng.choice(fresh, size=int(rng.integers(1, min(3, len(fresh)) + 1)), replace=False)) + \
                tuple(rng.choice(used, size=int(rng.integers(0, 3)), replace=False))
            assert sizer.size_with(extra) == junction_tree_size(dom, base + [extra]), (base, extra)
            checked += 1
    assert checked == 600


def test_tree_of_pairs_needs_no_fill_in():
    dom = Domain(list("abcdef"), [5, 2, 7, 2, 3, 9])
    pairs = [("a", "b"), ("b", "c"), ("b", "d"), ("d", "e"), ("e", "f")]
    tree = build_junction_tree(dom, pairs + [(a,) for a in dom.names])
    assert sorted(tree.cliques) == sorted(pairs)


def test_size_guard_names_the_largest_clique():
    dom = Domain(list("abcd"), [10, 10, 10, 10])
    cycle = [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]   # triangulated into two 3-cliques
    size = check_model_size(dom, cycle, max_cells=2000)
    assert size == 2000 == junction_tree_size(dom, cycle)
    with pytest.raises(ModelTooLarge) as err:
        check_model_size(dom, cycle, max_cells=1999)
    e = err.value
    assert isinstance(e, InputError) and e.total_cells == 2000 and e.max_cells == 1999
    assert len(e.clique) == 3 and e.clique_cells == 1000 and str(e.clique) in str(e)
    with pytest.raises(ModelTooLarge):
        build_junction_tree(dom, cycle, max_cells=1999)
    meas = [Measurement(c, np.zeros(100), 1.0) for c in cycle]
    with pytest.raises(ModelTooLarge):
        estimate(dom, meas, max_cells=1999)
    with pytest.raises(ModelTooLarge):                     # the default limit is 10^7 cells
        check_model_size(Domain(list("abcdefgh"), [10] * 8), [tuple("abcdefgh")])


def test_domain_and_measurement_validation():
    with pytest.raises(ValueError, match="repeat"):
        Domain(["a", "a"], [2, 2])
    with pytest.raises(ValueError, match="'z'"):
        Domain(["a"], [2]).canonical(["z"])
    with pytest.raises(ValueError, match="size 0"):
        Domain(["a"], [0])
    with pytest.raises(ValueError, match="sigma"):
        Measurement(("a",), [1.0], 0.0)
    with pytest.raises(ValueError, match="finite"):
        Measurement(("a",), [np.nan], 1.0)


# ---------------------------------------------------------------- belief propagation

@pytest.mark.parametrize("seed", range(30))
def test_belief_propagation_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    dom = random_domain(rng)
    tree = build_junction_tree(dom, random_cliques(rng, dom))
    bp = BeliefPropagation(dom, tree)
    theta = [rng.normal(scale=2.0, size=s) for s in bp.shapes]
    if seed % 3 == 0:                                   # some impossible cells
        for t in theta:
            t[rng.random(t.shape) < 0.2] = -np.inf
    total = 1234.5
    mu, cond, log_z = bp.calibrate(theta, total)
    joint = brute_joint(dom, tree.cliques, theta)
    log = sum(Factor(cl, t).aligned(dom.names) for cl, t in zip(tree.cliques, theta))
    finite = np.isfinite(log)
    assert log_z == pytest.approx(np.log(np.exp(log[finite]).sum()), rel=1e-12)
    for cl, m, c in zip(tree.cliques, mu, cond):
        np.testing.assert_allclose(m, total * brute_marginal(dom, joint, cl), rtol=0, atol=1e-10 * total)
        assert np.all(np.isfinite(c))
    before = [t.copy() for t in theta]
    lean, none, lean_log_z = bp.calibrate(theta, total, conditionals=False)   # marginals built in place
    assert none is None and lean_log_z == log_z
    for m, m_lean, t, t0 in zip(mu, lean, theta, before):
        np.testing.assert_array_equal(m_lean, m)
        np.testing.assert_array_equal(t, t0)       # the potentials are never written to


@pytest.mark.parametrize("seed", range(15))
def test_project_any_attribute_set(seed):
    """Sets inside a clique are read off the marginals, others go through
    variable elimination; both equal the brute-force marginal, in the order asked."""
    rng = np.random.default_rng(200 + seed)
    dom = random_domain(rng)
    tree = build_junction_tree(dom, random_cliques(rng, dom))
    theta = [rng.normal(size=dom.shape(c)) for c in tree.cliques]
    model = GraphicalModel(dom, tree, theta, total=500.0)
    joint = brute_joint(dom, tree.cliques, theta)
    for k in range(0, 4):
        for attrs in itertools.permutations(dom.names, k):
            got = model.project(attrs)
            assert got.shape == dom.shape(attrs)
            np.testing.assert_allclose(got, 500.0 * brute_marginal(dom, joint, attrs), atol=1e-9)
    assert model.project(dom.names[0]).shape == (dom.sizes[0],)        # a bare name is one attribute
    assert float(model.project(())) == pytest.approx(500.0)


def test_project_across_independent_parts_of_the_tree():
    """Cliques joined by an empty separator are independent: a set spanning
    several parts is the outer product of each part's marginal (each part by
    variable elimination over its own cliques), equal to brute force."""
    rng = np.random.default_rng(7)
    dom = Domain([f"x{i}" for i in range(7)], [2, 3, 2, 4, 3, 2, 2])
    tree = build_junction_tree(dom, [("x0", "x1"), ("x1", "x2"), ("x3", "x4"), ("x4", "x5")])
    assert sum(1 for c, p in enumerate(tree.parent) if p >= 0 and not tree.separators[c]) >= 2
    theta = [rng.normal(size=dom.shape(c)) for c in tree.cliques]
    model = GraphicalModel(dom, tree, theta, total=80.0)
    joint = brute_joint(dom, tree.cliques, theta)
    for attrs in [("x0", "x2"), ("x2", "x6", "x0"), ("x5", "x0", "x3"), ("x6", "x2", "x5", "x1")]:
        np.testing.assert_allclose(model.project(attrs), 80.0 * brute_marginal(dom, joint, attrs), atol=1e-10)


def test_variable_elimination_on_loose_factors():
    dom = Domain(list("abcd"), [2, 3, 2, 4])
    rng = np.random.default_rng(3)
    factors = [Factor(("a", "b"), rng.normal(size=(2, 3))), Factor(("c", "b"), rng.normal(size=(2, 3))),
               Factor(("c", "d"), rng.normal(size=(2, 4)))]
    joint = brute_joint(dom, [f.attrs for f in factors], [f.values for f in factors])
    for attrs in [("d", "a"), ("b",), ("a", "c", "d"), ()]:
        got = variable_elimination(dom, factors, attrs, 10.0)
        np.testing.assert_allclose(got, 10.0 * brute_marginal(dom, joint, attrs), atol=1e-12)


def test_variable_elimination_refuses_a_factor_over_its_cell_limit():
    """Eliminating b from a-b, b-c, b-d needs a factor over (a, c, d): 2*2*4 = 16
    cells; a limit of 15 refuses it (naming the set), 16 computes it exactly."""
    dom = Domain(list("abcd"), [2, 3, 2, 4])
    rng = np.random.default_rng(4)
    factors = [Factor(("a", "b"), rng.normal(size=(2, 3))), Factor(("b", "c"), rng.normal(size=(3, 2))),
               Factor(("b", "d"), rng.normal(size=(3, 4)))]
    joint = brute_joint(dom, [f.attrs for f in factors], [f.values for f in factors])
    with pytest.raises(ModelTooLarge) as err:
        variable_elimination(dom, factors, ("a", "c", "d"), 1.0, max_cells=15)
    assert err.value.clique == ("a", "c", "d") and err.value.clique_cells == 16
    got = variable_elimination(dom, factors, ("a", "c", "d"), 1.0, max_cells=16)
    np.testing.assert_allclose(got, brute_marginal(dom, joint, ("a", "c", "d")), atol=1e-12)
