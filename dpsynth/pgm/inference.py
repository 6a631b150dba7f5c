"""Exact inference: two-pass belief propagation on a junction tree, and
variable elimination for attribute sets that no single clique holds.

Every clique array has its axes in canonical (domain) order, so a separator
array reshaped with size-1 axes broadcasts into either neighbour without a
transpose; the axis bookkeeping is done once in :class:`BeliefPropagation`.

The upward pass turns each non-root clique's belief ``b_c`` (its log-potential
plus its children's log-messages) into the conditional table
``P(c \\ S | S) = exp(b_c - logsumexp_{c \\ S} b_c)`` and sends the log-sum-exp to
the parent (max-shifted per separator slice, so no slice can underflow to an
all-zero sum). The downward pass is then a product: the clique marginal is the
conditional times the parent marginal summed onto the separator. The
conditionals are exactly what ancestral sampling needs.
"""
from __future__ import annotations

import collections
import math
from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain
from dpsynth.pgm.factor import Factor
from dpsynth.pgm.junction_tree import DEFAULT_MAX_CELLS, JunctionTree, ModelTooLarge
from dpsynth.pgm.reduce import max_axes, sum_axes

# Contractions over at most this many cells (all axes of all operands) run as one einsum loop:
# below it, planning a pairwise path costs more (~140 us) than the loop itself.
SMALL_CONTRACTION = 2**15


def _axes(clique: Sequence[str], drop: Sequence[str]) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(clique) if a in drop)


def _embed(domain: Domain, clique: Sequence[str], sub: Sequence[str]) -> tuple[int, ...]:
    """Shape of an array over canonical ``sub`` laid out on ``clique``'s axes."""
    return tuple(domain.sizes[domain.index(a)] if a in sub else 1 for a in clique)


class BeliefPropagation:
    """Sum-product on one junction tree; arrays are lists indexed like ``tree.cliques``."""

    #: Exact calibration always converges (the region graph's may stop short: mirror descent reads this).
    converged = True

    def __init__(self, domain: Domain, tree: JunctionTree) -> None:
        self.domain = domain
        self.tree = tree
        self.shapes = [domain.shape(c) for c in tree.cliques]
        self.children: list[list[int]] = [[] for _ in tree.cliques]
        self.up_axes: list[tuple[int, ...]] = []     # axes of c summed onto its separator
        self.down_axes: list[tuple[int, ...]] = []   # axes of parent(c) summed onto it
        self.sep_in_parent: list[tuple[int, ...]] = []
        self.sep_in_child: list[tuple[int, ...]] = []
        for i, (cl, p, sep) in enumerate(zip(tree.cliques, tree.parent, tree.separators)):
            if p >= 0:
                self.children[p].append(i)
            rest = [a for a in cl if a not in sep]
            self.up_axes.append(_axes(cl, rest))  # all axes for the root
            if p < 0:
                self.down_axes.append(())
                self.sep_in_parent.append(())
            else:
                self.down_axes.append(_axes(tree.cliques[p], [a for a in tree.cliques[p] if a not in sep]))
                self.sep_in_parent.append(_embed(domain, tree.cliques[p], sep))
            self.sep_in_child.append(_embed(domain, cl, sep))
        self.postorder = tuple(reversed(tree.order))

    def calibrate(self, theta: Sequence[np.ndarray], total: float, conditionals: bool = True
                  ) -> tuple[list[np.ndarray], list[np.ndarray] | None, float]:
        """Clique marginals (counts summing to ``total``), the conditional tables
        ``P(c \\ S | S)`` (the root's is its joint), and ``log Z`` of ``theta``.
        ``conditionals=False`` returns None for the tables and turns each into
        its clique's marginal in place: one set of clique arrays fewer in memory."""
        n = len(theta)
        msg: list[np.ndarray | None] = [None] * n
        cond: list[np.ndarray | None] = [None] * n
        log_z = 0.0
        for c in self.postorder:
            b = theta[c]
            for k in self.children[c]:
                b = b + msg[k] if b is theta[c] else np.add(b, msg[k], out=b)
            axes = self.up_axes[c]
            m = max_axes(b, axes)
            if not np.all(np.isfinite(m)):          # impossible separator values
                m = np.where(np.isfinite(m), m, 0.0)
            e = np.subtract(b, m, out=None if b is theta[c] else b)   # in place on our own sum
            np.exp(e, out=e)
            s = sum_axes(e, axes)
            with np.errstate(divide="ignore"):
                lse = np.log(s) + m
            if not np.all(s > 0):
                s = np.where(s > 0, s, 1.0)
            e /= s
            cond[c] = e
            if self.tree.parent[c] < 0:
                log_z = float(lse.reshape(()))
            else:
                msg[c] = lse.reshape(self.sep_in_parent[c])
        mu: list[np.ndarray | None] = [None] * n
        for c in self.tree.order:
            p = self.tree.parent[c]
            scale = total if p < 0 else sum_axes(mu[p], self.down_axes[c]).reshape(self.sep_in_child[c])
            mu[c] = cond[c] * scale if conditionals else np.multiply(cond[c], scale, out=cond[c])
        return mu, cond if conditionals else None, log_z

    def factorize(self, marginals: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Log-potentials of the distribution with the given consistent clique
        marginals: the root's log-marginal, and for every other clique the log
        of ``P(c \\ S | S)`` (uniform on separator values without mass)."""
        theta = []
        for c, mu in enumerate(marginals):
            with np.errstate(divide="ignore"):
                t = np.log(mu)
                if self.tree.parent[c] >= 0:
                    sep = sum_axes(mu, self.up_axes[c])
                    t = np.where(sep > 0, t - np.log(np.where(sep > 0, sep, 1.0)), 0.0)
            theta.append(t)
        return theta


def variable_elimination(domain: Domain, factors: Sequence[Factor], attrs: Sequence[str],
                         total: float, max_cells: int = DEFAULT_MAX_CELLS) -> np.ndarray:
    """Marginal counts over ``attrs`` (in that order) of the distribution
    proportional to the product of ``factors`` (log-space), scaled to ``total``:
    each factor is exponentiated once, shifted by its own maximum (the shifts
    cancel in the final normalisation), and handed to :func:`sum_product`."""
    tables = []
    for f in factors:
        m = np.max(f.values) if f.values.size else 0.0
        tables.append((f.attrs, np.exp(f.values - (m if np.isfinite(m) else 0.0))))
    return sum_product(domain, tables, attrs, total, max_cells)


def _sum_private(tables: Sequence[tuple[tuple[str, ...], np.ndarray]], keep: set[str]
                 ) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Each table with the attributes that no other table holds and ``keep``
    lacks summed out, in one pass over the table (:func:`sum_axes`)."""
    held = collections.Counter(a for names, _ in tables for a in names)
    out = []
    for names, table in tables:
        private = [i for i, a in enumerate(names) if held[a] == 1 and a not in keep]
        if private:
            table = np.squeeze(sum_axes(table, private), axis=tuple(private))
            names = tuple(a for i, a in enumerate(names) if i not in private)
        out.append((names, table))
    return out


def sum_product(domain: Domain, tables: Sequence[tuple[tuple[str, ...], np.ndarray]], attrs: Sequence[str],
                total: float, max_cells: int = DEFAULT_MAX_CELLS) -> np.ndarray:
    """Marginal counts over ``attrs`` (in that order) of the distribution
    proportional to the product of non-negative ``tables`` (``(attributes,
    array)`` pairs, one axis per attribute), scaled to ``total``.

    The attributes not asked for are summed out greedily -- each step the one
    whose combined factor is smallest -- by an ``einsum`` sum of products with
    no exp or log per step. Each ``einsum`` contracts its operands pairwise
    along NumPy's greedy path (BLAS products) rather than in one loop over the
    product of all their axes, which is 3x faster on AIM's large Adult models,
    but creates no intermediate
    larger than its largest operand or its result (an unbounded path reached
    16 GB on the epsilon-10 Adult model). A cell whose mass falls below the
    float range counts as zero. :class:`ModelTooLarge` when an elimination
    step's factor would pass ``max_cells`` (on dense models some marginals have
    no exact answer within memory: one 3-way query on Adult's epsilon-10 AIM
    model needed over 19 GB).
    """
    keep = set(attrs)
    pool = _sum_private(tables, keep)
    scope = {a for names, _ in pool for a in names}
    pool.extend(((a,), np.ones(domain.shape((a,)))) for a in domain.canonical(keep - scope))

    def contract(members: list[tuple[tuple[str, ...], np.ndarray]], out: tuple[str, ...]) -> np.ndarray:
        """Sum over everything not in ``out`` of the product of ``members``."""
        labels = {a: i for i, a in enumerate(domain.canonical({a for names, _ in members for a in names} | set(out)))}
        operands = []
        for names, table in members:
            operands += [table, [labels[a] for a in names]]
        out_labels = [labels[a] for a in out]
        if domain.size(labels) <= SMALL_CONTRACTION:  # one loop over all axes beats planning a path
            return np.einsum(*operands, out_labels)
        limit = max(max(t.size for _, t in members), domain.size(out))   # no intermediate above this
        path, _ = np.einsum_path(*operands, out_labels, optimize=("greedy", limit))
        return np.einsum(*operands, out_labels, optimize=path)

    size_of = {a: domain.sizes[domain.index(a)] for a in scope | keep}

    def cost(v: str) -> tuple[int, int]:
        """Cells of the factor eliminating ``v`` would form; ties go to domain order."""
        return math.prod(size_of[a] for a in {a for names, _ in pool if v in names for a in names}), domain.index(v)

    eliminate = scope - keep
    while eliminate:
        v = min(eliminate, key=cost)
        eliminate.discard(v)
        touching = [f for f in pool if v in f[0]]
        pool = [f for f in pool if v not in f[0]]
        rest = domain.canonical(a for names, _ in touching for a in names if a != v)
        if domain.size(rest) > max_cells:
            raise ModelTooLarge(rest, domain.size(rest), domain.size(rest), max_cells, "variable elimination")
        pool.append((rest, contract(touching, rest)))
    p = contract(pool, tuple(attrs))
    return p * (total / p.sum())
