"""Ancestral sampling along a junction tree, all rows at once.

The root clique is drawn from its joint table, then every other clique, in
tree order, from ``P(c \\ S | S)`` given the separator values its rows already
hold: one grouped inverse-CDF per clique, done as a single ``searchsorted``
over the conditional table's rows laid end to end (row ``s`` of the table is
shifted by ``s``, and each draw looks up ``s + u``).

Two ways to pick the uniforms ``u``:

* ``"sample"`` -- independent uniforms: exact i.i.d. draws from the model.
* ``"round"`` -- systematic sampling: within each separator group (the whole
  table, for the root) the rows, in random order, get ``u = (rank + U) / size``
  with one uniform ``U`` per group, so every cell's count is within one of its
  expected count given the group (deterministic up to rounding, as
  Private-PGM's ``synthetic_data`` rounding intends). Each row is still
  marginally an exact draw from the model, and the order is reshuffled per
  clique, so no spurious correlation with earlier columns appears (mbi
  1.1.0's sampling bug came from ranks correlated with earlier columns); it
  only removes the multinomial sampling noise. It is the default because its
  rows sit closer to the model's marginals, hence to the data, at every sample
  size (see benchmarks/results/pgm_engine.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain
from dpsynth.pgm.junction_tree import JunctionTree

METHODS = ("round", "sample")


def _draw(table: np.ndarray, groups: np.ndarray, rng: np.random.Generator, method: str) -> np.ndarray:
    """For each row, a cell index of its group's row of ``table`` (cumulative
    distributions, one row per separator value), by inverse CDF."""
    n_groups, n_cells = table.shape
    shifted = (table + np.arange(n_groups)[:, None]).ravel()
    if method == "sample":
        u = rng.random(groups.size)
        return np.searchsorted(shifted, groups + u, side="right") - groups * n_cells
    small = groups.astype(np.min_scalar_type(n_groups))     # radix sort for small keys
    order = rng.permutation(groups.size)
    order = order[np.argsort(small[order], kind="stable")]
    g = groups[order]
    counts = np.bincount(g, minlength=n_groups)
    rank = np.arange(groups.size) - (np.cumsum(counts) - counts)[g]
    cell = np.empty_like(groups)
    # keys ascend along ``order``: the sorted search is cache-friendly
    u = (rank + rng.random(n_groups)[g]) / counts[g]           # one offset per group: systematic
    cell[order] = np.searchsorted(shifted, g + u, side="right") - g * n_cells
    return cell


def sample_junction_tree(domain: Domain, tree: JunctionTree, conditionals: Sequence[np.ndarray],
                         n: int, rng: np.random.Generator, method: str = "round",
                         out: np.ndarray | None = None) -> np.ndarray:
    """``n`` rows of codes, columns in ``domain.names`` order, drawn from the
    model whose conditional tables (from belief propagation) are given.
    ``out``: rows to fill in place instead of zeros; columns that no clique
    draws (in no clique outside its separator) keep their values, so a
    separator may hold given cells (the approximate model's evidence)."""
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; use one of {METHODS}")
    dtype = np.min_scalar_type(max(domain.sizes) - 1)
    if out is None:
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
            groups = np.zeros(n, dtype=np.intp)
        cell = np.minimum(_draw(cdf, groups, rng, method), last[groups])   # guards float rounding
        codes = np.unravel_index(cell, domain.shape(new))
        for a, col in zip(new, codes):
            out[:, domain.index(a)] = col
    return out
