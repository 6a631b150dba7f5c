"""Sampling from a graphical model: 10^6 rows' empirical marginals against the
model's own marginals (chi-square, alpha = 1e-6 per test), the rounding
method's count guarantee, and the output's shape and determinism."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chi2

from dpsynth.pgm import Domain, GraphicalModel, build_junction_tree

ALPHA = 1e-6
DOM = Domain(["a", "b", "c", "d", "e"], [3, 2, 4, 3, 2])
CLIQUES = [("a", "b", "c"), ("c", "d"), ("b", "e")]


def random_model(seed: int, impossible: bool = False) -> GraphicalModel:
    rng = np.random.default_rng(seed)
    tree = build_junction_tree(DOM, CLIQUES)
    theta = [rng.normal(scale=1.0, size=DOM.shape(c)) for c in tree.cliques]
    if impossible:
        theta[tree.cliques.index(("a", "b", "c"))].flat[[1, 5, 17]] = -np.inf
    return GraphicalModel(DOM, tree, theta, total=1.0)


def counts(rows: np.ndarray, attrs) -> np.ndarray:
    idx = np.ravel_multi_index(tuple(rows[:, DOM.index(a)] for a in attrs), DOM.shape(attrs))
    return np.bincount(idx, minlength=DOM.size(attrs))


@pytest.mark.parametrize("method", ["sample", "round"])
def test_million_rows_match_model_marginals(method):
    """Every junction-tree clique and every pair (most pairs span two cliques)
    passes a chi-square goodness-of-fit test against the model's marginal.
    Stratified draws only shrink the variance, so the same bound holds."""
    model = random_model(1, impossible=True)
    n = 10**6
    rows = model.sample(n, np.random.default_rng(2), method=method)
    sets = list(model.junction_tree.cliques) + list(itertools.combinations(DOM.names, 2))
    for attrs in sets:
        expected = model.project(attrs).ravel() * n
        observed = counts(rows, attrs)
        assert np.all(observed[expected == 0] == 0), attrs          # impossible cells never drawn
        keep = expected > 0
        stat = float(np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]))
        assert chi2.sf(stat, keep.sum() - 1) > ALPHA, (attrs, stat)


def test_round_matches_expected_counts_up_to_rounding():
    """The root clique's counts and, within every separator group, each child
    clique's counts are within one of their expectation given the group."""
    model = random_model(3)
    n = 20_000
    rows = model.sample(n, np.random.default_rng(4), method="round")
    tree = model.junction_tree
    root = tree.order[0]
    root_counts = counts(rows, tree.cliques[root])
    assert np.all(np.abs(root_counts - model.project(tree.cliques[root]).ravel() * n) < 1.0)
    for c in tree.order[1:]:
        sep = tree.separators[c]
        joint = counts(rows, tree.cliques[c]).reshape(DOM.shape(tree.cliques[c]))
        axes = tuple(i for i, a in enumerate(tree.cliques[c]) if a not in sep)
        group = joint.sum(axis=axes, keepdims=True)
        cond = model.project(tree.cliques[c])
        cond = cond / cond.sum(axis=axes, keepdims=True)
        assert np.all(np.abs(joint - group * cond) < 1.0)
    # i.i.d. sampling does not have that property (its counts vary by ~sqrt(n p))
    iid = counts(model.sample(n, np.random.default_rng(4), method="sample"), tree.cliques[root])
    assert np.max(np.abs(iid - model.project(tree.cliques[root]).ravel() * n)) > 1.0


def test_sample_shape_order_dtype_and_seed():
    model = random_model(5)
    rows = model.sample(1000, 7)
    assert rows.shape == (1000, len(DOM)) and rows.dtype == np.uint8
    assert np.all(rows.max(axis=0) < np.array(DOM.sizes)) and np.all(rows.min(axis=0) >= 0)
    np.testing.assert_array_equal(rows, model.sample(1000, np.random.default_rng(7)))
    assert not np.array_equal(rows, model.sample(1000, 8))
    assert model.sample(0, 1).shape == (0, len(DOM))
    with pytest.raises(ValueError, match="unknown sampling method"):
        model.sample(10, 1, method="gibbs")
    with pytest.raises(ValueError, match="n must be"):
        model.sample(-1, 1)


def test_deterministic_column_is_reproduced_exactly():
    """A model whose 'b' is a function of 'a' yields rows that never break it."""
    tree = build_junction_tree(DOM, [("a", "b")])
    theta = [np.zeros(DOM.shape(c)) for c in tree.cliques]
    ab = tree.cliques.index(("a", "b"))
    theta[ab] = np.array([[0.0, -np.inf], [-np.inf, 0.0], [0.0, -np.inf]])
    model = GraphicalModel(DOM, tree, theta, total=1.0)
    for method in ("round", "sample"):
        rows = model.sample(5000, 11, method=method)
        np.testing.assert_array_equal(rows[:, 1], np.array([0, 1, 0])[rows[:, 0]])
