"""Ancestral sampling along a junction tree, all rows at once.

The root clique is drawn from its joint table, then every other clique, in
tree order, from ``P(c \\ S | S)`` given the separator values its rows already
hold: one grouped inverse-CDF per clique, done as a single ``searchsorted``
over the conditional table's rows laid end to end (row ``s`` of the table is
shifted by ``s``, and each draw looks up ``s + u``).

Two ways to pick the uniforms ``u``:

* ``"sample"`` -- independent uniforms: exact i.i.d. draws from the model.
* ``"round"`` -- stratified uniforms: within each separator group (the whole
  table, for the root) the rows, in random order, get ``u = (rank + U) / size``,
  so every group's counts match its expected counts up to rounding (each cell
  is off by less than one). Every row is still marginally an exact draw from
  the model and the order is reshuffled per clique, so no spurious correlation
  with earlier columns appears (the sampling bug of mbi 1.1.0 came from
  correlated ranks); it only removes the multinomial sampling noise, which is
  what Private-PGM's ``synthetic_data`` rounding aims for. It is the default
  because its rows sit closer to the model's marginals at every sample size
  (see benchmarks/results/pgm_engine.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain
from dpsynth.pgm.junction_tree import JunctionTree

METHODS = ("round", "sample")


def _uniforms(groups: np.ndarray, n_groups: int, rng: np.random.Generator, method: str) -> np.ndarray:
    u = rng.random(groups.size)
    if method == "sample":
        return u
    order = rng.permutation(groups.size)
    order = order[np.argsort(groups[order], kind="stable")]
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(groups.size, dtype=np.int64)
    rank[order] = np.arange(groups.size) - starts[groups[order]]
    return (rank + u) / counts[groups]


def sample_junction_tree(domain: Domain, tree: JunctionTree, conditionals: Sequence[np.ndarray],
                         n: int, rng: np.random.Generator, method: str = "round") -> np.ndarray:
    """``n`` rows of codes, columns in ``domain.names`` order, drawn from the
    model whose conditional tables (from belief propagation) are given."""
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; use one of {METHODS}")
    dtype = np.min_scalar_type(max(domain.sizes) - 1)
    out = np.zeros((n, len(domain)), dtype=dtype)
    if n == 0:
        return out
    for c in tree.order:
        clique, sep = tree.cliques[c], tree.separators[c]
        new = [a for a in clique if a not in sep]
        perm = [clique.index(a) for a in sep] + [clique.index(a) for a in new]
        n_sep, n_new = domain.size(sep), domain.size(new)
        table = conditionals[c].transpose(perm).reshape(n_sep, n_new)
        cdf = np.cumsum(table, axis=1)
        mass = cdf[:, -1:]
        cdf = np.where(mass > 0, cdf / np.where(mass > 0, mass, 1.0),
                       np.arange(1, n_new + 1) / n_new)
        positive = table > 0
        last = n_new - 1 - np.argmax(positive[:, ::-1] | (mass <= 0), axis=1)
        if sep:
            groups = np.ravel_multi_index(tuple(out[:, domain.index(a)] for a in sep), domain.shape(sep))
        else:
            groups = np.zeros(n, dtype=np.int64)
        u = _uniforms(groups, n_sep, rng, method)
        shifted = (cdf + np.arange(n_sep)[:, None]).ravel()
        cell = np.searchsorted(shifted, groups + u, side="right") - groups * n_new
        cell = np.minimum(cell, last[groups])       # guards the float rounding of s + u near s + 1
        codes = np.unravel_index(cell, domain.shape(new))
        for a, col in zip(new, codes):
            out[:, domain.index(a)] = col
    return out
