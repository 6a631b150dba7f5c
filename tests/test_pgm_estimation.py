"""Private-PGM estimation: exact recovery from noise-free measurements, the
optimum on noisy ones against a brute-force solve over the whole joint
simplex, the total, warm starts and input errors."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from dpsynth.pgm import Domain, Measurement, estimate, estimate_total

TREE = [("a", "b"), ("b", "c"), ("b", "d")]                 # decomposable: every tree clique measured
CYCLE = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d")]    # needs an unmeasured fill-in clique


def marginal(domain: Domain, joint: np.ndarray, clique) -> np.ndarray:
    axes = tuple(i for i, a in enumerate(domain.names) if a not in clique)
    return joint.sum(axis=axes).transpose([domain.canonical(clique).index(a) for a in clique])


def measure(domain, joint, cliques, sigma, rng=None):
    out = []
    for cl in cliques:
        m = marginal(domain, joint, cl)
        noise = 0.0 if rng is None else rng.normal(0.0, sigma, m.shape)
        out.append(Measurement(cl, m + noise, sigma))
    return out


def objective(domain, joint, measurements) -> float:
    return sum(float(np.sum((marginal(domain, joint, m.clique).ravel() - m.values) ** 2 / (2 * np.square(m.sigma))))
               for m in measurements)


def brute_force_optimum(domain: Domain, measurements, total: float, impossible=None) -> float:
    """min over joint counts p >= 0, sum p = total, by bounded least squares
    (the equality as a heavily weighted row); ``impossible`` (a boolean joint
    array) fixes those cells at 0 by removing their columns."""
    n = domain.size()
    free = np.ones(n, dtype=bool) if impossible is None else ~impossible.ravel()
    rows, rhs = [], []
    for m in measurements:
        cl = m.clique
        basis = np.eye(n).reshape(tuple(domain.sizes) + (n,))
        a = basis.sum(axis=tuple(i for i, x in enumerate(domain.names) if x not in cl))
        a = a.transpose([domain.canonical(cl).index(x) for x in cl] + [len(cl)]).reshape(-1, n)
        sigma = np.broadcast_to(m.sigma, m.values.shape)
        rows.append(a / sigma[:, None])
        rhs.append(m.values / sigma)
    big = 1e5
    rows.append(np.full((1, n), big))
    rhs.append(np.array([big * total]))
    res = lsq_linear(np.vstack(rows)[:, free], np.concatenate(rhs), bounds=(0, np.inf), method="bvls", tol=1e-13)
    x = np.zeros(n)
    x[free] = res.x
    joint = x.reshape(domain.sizes) * (total / x.sum())
    return objective(domain, joint, measurements)


def true_joint(rng, domain, n=2000.0):
    p = rng.dirichlet(np.full(domain.size(), 0.7))
    return (p * n).reshape(domain.sizes)


DOM = Domain(list("abcd"), [3, 2, 4, 3])


@pytest.mark.parametrize("cliques,solver", [(TREE, "dual"), (TREE, "mirror"), (CYCLE, "mirror")])
def test_exact_measurements_recover_true_marginals(cliques, solver):
    rng = np.random.default_rng(1)
    joint = true_joint(rng, DOM)
    cliques = cliques + [(a,) for a in DOM.names]
    model = estimate(DOM, measure(DOM, joint, cliques, 1.0), solver=solver, tol=1e-12, max_iters=20000)
    assert model.solver == solver
    assert model.total == pytest.approx(2000.0)
    for cl in cliques:
        np.testing.assert_allclose(model.project(cl), marginal(DOM, joint, cl), atol=2e-3)
    assert model.objective < 1e-5


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cliques", [TREE, CYCLE])
def test_noisy_objective_matches_brute_force_optimum(seed, cliques):
    rng = np.random.default_rng(10 + seed)
    joint = true_joint(rng, DOM, n=500.0)
    meas = measure(DOM, joint, cliques + [(a,) for a in DOM.names], sigma=8.0, rng=rng)
    total = estimate_total(meas)
    best = brute_force_optimum(DOM, meas, total)
    solvers = ["dual", "mirror"] if cliques is TREE else ["mirror"]
    for solver in solvers:
        model = estimate(DOM, meas, solver=solver, tol=1e-10, max_iters=20000)
        assert model.total == pytest.approx(total)
        # the reported objective is the objective of the model's own marginals
        own = sum(float(np.sum((model.project(m.clique).ravel() - m.values) ** 2)) / (2 * m.sigma**2)
                  for m in meas)
        assert model.objective == pytest.approx(own, rel=1e-12)
        assert model.objective <= best + 1e-4 * max(1.0, best), (solver, model.objective, best)
        assert model.objective >= best - 1e-4 * max(1.0, best)  # brute force is a true optimum


@pytest.mark.parametrize("solver", ["dual", "mirror"])
def test_per_cell_noise_scales_match_brute_force_optimum(solver):
    """A measurement may carry one sigma per cell (e.g. a merged cell of k noisy cells)."""
    rng = np.random.default_rng(5)
    joint = true_joint(rng, DOM, n=500.0)
    meas = []
    for cl in TREE + [(a,) for a in DOM.names]:
        m = marginal(DOM, joint, cl).ravel()
        sigma = rng.uniform(2.0, 20.0, m.size)
        meas.append(Measurement(cl, m + rng.normal(0.0, sigma), sigma))
    total = estimate_total(meas)
    var = [float(np.sum(m.sigma**2)) for m in meas]
    assert total == pytest.approx(max(1.0, sum(m.values.sum() / v for m, v in zip(meas, var)) / sum(1 / v for v in var)))
    best = brute_force_optimum(DOM, meas, total)
    model = estimate(DOM, meas, solver=solver, tol=1e-10, max_iters=20000)
    assert model.objective == pytest.approx(objective(DOM, model.project(DOM.names), meas), rel=1e-9)
    assert abs(model.objective - best) <= 1e-4 * max(1.0, best)


def test_default_tolerances_reach_the_optimum_closely():
    rng = np.random.default_rng(7)
    joint = true_joint(rng, DOM, n=800.0)
    meas = measure(DOM, joint, CYCLE + [(a,) for a in DOM.names], sigma=5.0, rng=rng)
    best = brute_force_optimum(DOM, meas, estimate_total(meas))
    assert estimate(DOM, meas).objective <= best * (1 + 1e-4) + 1e-6
    meas = measure(DOM, joint, TREE + [(a,) for a in DOM.names], sigma=5.0, rng=rng)
    best = brute_force_optimum(DOM, meas, estimate_total(meas))
    model = estimate(DOM, meas)
    assert model.solver == "dual" and model.objective <= best * (1 + 1e-8) + 1e-8


def test_total_is_the_noise_weighted_mean_of_the_sums():
    meas = [Measurement(("a",), [10.0, 20.0, 30.0], 2.0), Measurement(("a", "b"), np.full(6, 9.0), 1.0)]
    w = np.array([1 / (4.0 * 3), 1 / (1.0 * 6)])
    assert estimate_total(meas) == pytest.approx(np.sum(w * np.array([60.0, 54.0])) / w.sum())
    assert estimate_total([Measurement(("a",), [-5.0, 1.0, 1.0], 1.0)]) == 1.0     # at least one record
    model = estimate(DOM, meas, total=77.0)
    assert model.total == 77.0 and model.project(("c",)).sum() == pytest.approx(77.0)


def test_repeated_measurements_of_one_clique_pool_their_precision():
    rng = np.random.default_rng(3)
    joint = true_joint(rng, DOM, 300.0)
    m1 = measure(DOM, joint, TREE, 4.0, rng)
    m2 = measure(DOM, joint, TREE, 2.0, rng)
    model = estimate(DOM, m1 + m2, total=300.0)
    assert model.objective == pytest.approx(objective(*_joint_of(model), m1 + m2), rel=1e-10)
    assert model.objective <= brute_force_optimum(DOM, m1 + m2, 300.0) + 1e-6


def _joint_of(model):
    dom = model.domain
    return dom, model.project(dom.names)


def test_merge_order_adds_the_cheapest_pair_first():
    from dpsynth.pgm.objective import merge_order

    dom = Domain(list("abcde"), [2, 3, 4, 5, 6])
    # (a, b) + (a, c): 24 cells, the cheapest union; then with (a, b, c) nothing grows; (d, e) last
    pairs = merge_order(dom, [("a", "b"), ("d", "e"), ("a", "c"), ("a", "b", "c")])
    assert pairs == [(0, 2), (3, 4), (1, 5)]
    assert merge_order(dom, [("a",)]) == []


def test_gradient_step_is_the_sum_of_every_terms_broadcast():
    """Objective.step gathers terms and sums them pairwise before one broadcast per
    clique: the result must be theta - eta * (each term's gradient broadcast), term by term."""
    from dpsynth.pgm.junction_tree import build_junction_tree
    from dpsynth.pgm.objective import Objective

    dom = Domain(list("abcdef"), [2, 3, 2, 4, 3, 2])
    rng = np.random.default_rng(11)
    joint = true_joint(rng, dom, 500.0)
    cliques = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d"), ("b",), ("d", "e"), ("e", "f"),
               ("f",), ("a", "b")]
    meas = measure(dom, joint, cliques, 2.0, rng)
    tree = build_junction_tree(dom, [m.clique for m in meas])
    obj = Objective(dom, tree, meas)
    theta = [rng.normal(size=dom.shape(c)) for c in tree.cliques]
    grads = [rng.normal(size=t.shape) for t in obj.target]
    expected = [t.copy() for t in theta]
    for k, g in enumerate(grads):
        expected[obj.home[k]] = expected[obj.home[k]] - 0.3 * g
    got = obj.step(theta, grads, 0.3)
    for e, g, t in zip(expected, got, theta):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    assert any(len(terms) > 2 for terms, _ in obj.merges.values())   # the pairwise sums were exercised


def test_warm_start_reaches_the_same_optimum_faster():
    rng = np.random.default_rng(4)
    joint = true_joint(rng, DOM, 1000.0)
    first = measure(DOM, joint, [(a,) for a in DOM.names] + [("a", "b"), ("b", "c")], 5.0, rng)
    more = first + measure(DOM, joint, [("a", "c"), ("c", "d")], 5.0, rng)
    previous = estimate(DOM, first, solver="mirror", tol=1e-9)
    cold = estimate(DOM, more, tol=1e-9)
    warm = estimate(DOM, more, warm_start=previous, tol=1e-9)
    assert warm.solver == cold.solver == "mirror"
    assert warm.objective == pytest.approx(cold.objective, rel=1e-5)
    assert warm.iterations < cold.iterations
    with pytest.raises(ValueError, match="different domain"):
        estimate(DOM, more, warm_start=estimate(Domain(["a"], [3]), [first[0]]))


def test_warm_start_past_the_elimination_limit_still_reaches_the_optimum(monkeypatch):
    """Projecting the previous model onto a new clique can need an elimination
    step past the limit (AIM on credit_default at epsilon 10 failed that way);
    such a clique starts from its 1-way marginals instead."""
    import functools

    from dpsynth.pgm import inference, model
    from dpsynth.pgm.junction_tree import ModelTooLarge

    rng = np.random.default_rng(5)
    joint = true_joint(rng, DOM, 1000.0)
    chain = measure(DOM, joint, [(a,) for a in DOM.names] + [("a", "b"), ("b", "c"), ("c", "d")], 5.0, rng)
    more = chain + measure(DOM, joint, [("a", "d")], 5.0, rng)   # closes the cycle: new 3-way cliques
    previous = estimate(DOM, chain, solver="mirror", tol=1e-9)
    cold = estimate(DOM, more, tol=1e-9)
    monkeypatch.setattr(model, "sum_product", functools.partial(inference.sum_product, max_cells=1))
    with pytest.raises(ModelTooLarge):
        previous.project(("a", "d"))
    warm = estimate(DOM, more, warm_start=previous, tol=1e-9)
    assert warm.objective == pytest.approx(cold.objective, rel=1e-5)


def test_input_errors_name_the_problem():
    with pytest.raises(ValueError, match="'zz'"):
        estimate(DOM, [Measurement(("a", "zz"), np.zeros(6), 1.0)])
    with pytest.raises(ValueError, match=r"\('a', 'b'\) has 5 values"):
        estimate(DOM, [Measurement(("a", "b"), np.zeros(5), 1.0)])
    with pytest.raises(ValueError, match="solver='dual'"):
        estimate(DOM, [Measurement(c, np.zeros(DOM.size(c)), 1.0) for c in CYCLE], solver="dual")
    with pytest.raises(ValueError, match="unknown solver"):
        estimate(DOM, [], solver="newton")
    with pytest.raises(ValueError, match="total"):
        estimate(DOM, [], total=0.0)


def test_no_measurements_gives_the_uniform_model():
    model = estimate(DOM, [], total=240.0)
    np.testing.assert_allclose(model.project(("b", "d")), np.full((2, 3), 40.0))


# -- structural zeros -------------------------------------------------------------------
ZEROS = [(("b", "a"), np.array([[True, False, False], [False, False, True]])),   # b=0&a=0, b=1&a=2
         (("c", "b"), np.array([[False, False], [False, False], [False, False], [True, False]])),
         (("a", "d"), np.array([[False, False, True], [False] * 3, [False] * 3]))]  # not measured together


def impossible_joint(domain, zeros):
    """Boolean joint array: True where some zero holds."""
    out = np.zeros(domain.sizes, dtype=bool)
    for attrs, mask in zeros:
        canon = domain.canonical(attrs)
        laid = mask.transpose([attrs.index(a) for a in canon])
        out |= laid.reshape([domain.sizes[i] if a in canon else 1 for i, a in enumerate(domain.names)])
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("cliques,solver", [(TREE, "dual"), (TREE, "mirror"), (CYCLE, "mirror")])
def test_structural_zeros_get_probability_zero_at_the_restricted_optimum(seed, cliques, solver):
    rng = np.random.default_rng(40 + seed)
    impossible = impossible_joint(DOM, ZEROS)
    joint = np.where(impossible, 0.0, true_joint(rng, DOM, n=500.0))
    meas = measure(DOM, joint, cliques + [(a,) for a in DOM.names], sigma=8.0, rng=rng)
    total = estimate_total(meas)
    zeros = ZEROS[:2] if solver == "dual" else ZEROS   # a zero on an unmeasured set needs mirror descent
    impossible = impossible_joint(DOM, zeros)
    best = brute_force_optimum(DOM, meas, total, impossible)
    model = estimate(DOM, meas, solver=solver, tol=1e-10 if solver == "dual" else 1e-8, zeros=zeros)
    full = model.project(DOM.names)
    assert np.all(full[impossible] == 0.0)                       # exactly, not approximately
    for attrs, mask in zeros:
        assert np.all(model.project(attrs)[mask] == 0.0)
    assert model.objective == pytest.approx(objective(DOM, full, meas), rel=1e-9)
    assert abs(model.objective - best) <= 1e-4 * max(1.0, best), (solver, model.objective, best)
    # the unrestricted optimum is lower: the zeros bind
    assert estimate(DOM, meas, solver=solver).objective < best - 1e-3
    for method in ("round", "sample"):
        rows = model.sample(5000, rng=2, method=method)
        assert not impossible[tuple(rows.T.astype(np.intp))].any()


def test_zero_cliques_join_the_tree_and_warm_starts_keep_them():
    rng = np.random.default_rng(8)
    joint = true_joint(rng, DOM, 600.0)
    first = measure(DOM, joint, [(a,) for a in DOM.names], 5.0, rng)
    previous = estimate(DOM, first, solver="mirror")                 # no zeros: every cell positive
    assert all(np.all(np.isfinite(p)) for p in previous.potentials)
    model = estimate(DOM, first + measure(DOM, joint, [("a", "b")], 5.0, rng), warm_start=previous, zeros=ZEROS)
    assert any(set(z) <= set(c) for c in model.junction_tree.cliques for z in ("ad", "bc"))
    assert np.all(model.project(DOM.names)[impossible_joint(DOM, ZEROS)] == 0.0)
    uniform = estimate(DOM, [], total=10.0, zeros=ZEROS)
    possible = ~impossible_joint(DOM, ZEROS)
    np.testing.assert_allclose(uniform.project(DOM.names)[possible], 10.0 / possible.sum())


def test_zero_input_errors():
    with pytest.raises(ValueError, match="shape"):
        estimate(DOM, [], zeros=[(("a", "b"), np.zeros((2, 3), dtype=bool))])
    with pytest.raises(ValueError, match="'zz'"):
        estimate(DOM, [], zeros=[(("a", "zz"), np.zeros((3, 2), dtype=bool))])
    with pytest.raises(ValueError, match="rule out every cell"):
        estimate(DOM, [], zeros=[(("b",), np.ones(2, dtype=bool))])


@pytest.mark.parametrize("sigma", [1e160, 1e-170, [1.0, 1e-170, 1.0], 0.0, float("nan")])
def test_a_sigma_whose_weight_overflows_is_refused(sigma):
    """1/sigma^2 overflowing to inf or underflowing to 0 gave a NaN model with total 1, silently."""
    with pytest.raises(ValueError, match="1/sigma\\^2 a positive finite number"):
        Measurement(("a",), [1.0, 2.0, 3.0], sigma)

