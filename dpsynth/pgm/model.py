"""The fitted graphical model: marginal queries and synthetic rows."""
from __future__ import annotations

import functools
import heapq
from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain
from dpsynth.pgm.inference import BeliefPropagation, sum_product
from dpsynth.pgm.junction_tree import JunctionTree
from dpsynth.pgm.reduce import sum_onto
from dpsynth.pgm.sampling import sample_junction_tree


class GraphicalModel:
    """A distribution over ``domain`` scaled to ``total`` records, given by
    log-potentials on the cliques of ``junction_tree``.

    Attributes: ``domain``, ``junction_tree``, ``potentials`` (one log-space
    array per junction-tree clique, axes in domain order), ``marginals`` (the
    calibrated clique marginals, counts), ``total`` (records), ``cliques`` (the
    measured attribute sets it was fitted to, in domain order), ``objective``
    (the estimation objective at this model, or None), ``iterations`` and
    ``solver`` (how it was fitted), ``zeros`` (the structural zeros it was
    fitted with, ``(attrs, mask)`` pairs; their cells have log-potential
    ``-inf``, so probability exactly 0), ``inference`` (``"exact"``).
    """

    inference = "exact"

    def __init__(self, domain: Domain, junction_tree: JunctionTree, potentials: Sequence[np.ndarray],
                 total: float, cliques: Sequence[tuple[str, ...]] = (), objective: float | None = None,
                 iterations: int = 0, solver: str = "",
                 zeros: Sequence[tuple[tuple[str, ...], np.ndarray]] = ()) -> None:
        self.domain = domain
        self.junction_tree = junction_tree
        self.potentials = list(potentials)
        self.total = float(total)
        self.cliques = tuple(cliques)
        self.objective = objective
        self.iterations = iterations
        self.solver = solver
        self.zeros = tuple(zeros)
        self.bp = BeliefPropagation(domain, junction_tree)
        self.marginals, self._conditionals, _ = self.bp.calibrate(self.potentials, self.total)
        self._sets = [set(cl) for cl in junction_tree.cliques]
        self._neighbours: list[set[int]] = [set() for _ in junction_tree.cliques]
        for c, p in enumerate(junction_tree.parent):
            if p >= 0 and junction_tree.separators[c]:  # an empty separator joins independent parts
                self._neighbours[c].add(p)
                self._neighbours[p].add(c)
        self._parts = _components(self._neighbours)
        self._part_of = {a: part for part, cliques in enumerate(self._parts)
                         for c in cliques for a in junction_tree.cliques[c]}

    def project(self, attrs: Sequence[str] | str) -> np.ndarray:
        """Marginal counts over ``attrs``: an array with one axis per attribute,
        in the order given, summing to ``total``. Attribute sets inside one
        junction-tree clique are read off its marginal; others use variable
        elimination over the smallest subtree of cliques that holds them."""
        attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)
        canon = self.domain.canonical(attrs)
        if len(canon) != len(attrs):
            raise ValueError(f"project: {attrs} repeats an attribute")
        if not attrs:
            return np.array(self.total)
        home = self.junction_tree.containing(canon)
        if home is not None:
            marginal = sum_onto(self.marginals[home], self.junction_tree.cliques[home], canon)
            return marginal.transpose([canon.index(a) for a in attrs])
        groups: dict[int, list[str]] = {}
        for a in attrs:
            groups.setdefault(self._part_of[a], []).append(a)
        if len(groups) == 1:
            (part,) = groups
            return sum_product(self.domain, self._covering_tables(set(attrs), part), attrs, self.total)
        # independent parts: the outer product of their marginals, as shares of the total
        scale = self.total if self.total else 1.0
        joint = functools.reduce(np.multiply.outer, [self.project(g) / scale for g in groups.values()])
        order = [a for g in groups.values() for a in g]
        return joint.transpose([order.index(a) for a in attrs]) * scale

    def _covering_tables(self, attrs: set[str], part: int) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """The distribution of the smallest subtree of cliques holding ``attrs``
        within their connected ``part`` of the tree, as ``(clique, table)``
        pairs: the subtree's top clique marginal times each other clique's
        conditional table (a leaf whose wanted attributes all sit in its
        separator is pruned, since its conditional sums to one). The tables
        are the calibrated ones, in linear space: no copy, no exp or log."""
        tree = self.junction_tree
        neighbours = self._neighbours
        keep = set(self._parts[part])
        degree = {c: len(neighbours[c]) for c in keep}
        leaves = [c for c in keep if degree[c] == 1]
        heapq.heapify(leaves)
        while leaves and len(keep) > 1:
            c = heapq.heappop(leaves)  # each clique enters once, when its degree reaches 1
            (nb,) = neighbours[c] & keep
            if attrs & self._sets[c] <= self._sets[nb]:
                keep.discard(c)
                degree[nb] -= 1
                if degree[nb] == 1:
                    heapq.heappush(leaves, nb)
        return [(tree.cliques[c], self.marginals[c] if tree.parent[c] not in keep else self._conditionals[c])
                for c in sorted(keep)]

    def sample(self, n: int, rng: np.random.Generator | int | None = None,
               method: str = "round") -> np.ndarray:
        """``n`` synthetic rows as codes, shape ``(n, len(domain))``, columns in
        ``domain.names`` order, by exact ancestral sampling along the junction
        tree. ``method="round"`` (default) stratifies the draws so counts match
        the model up to rounding; ``"sample"`` draws rows i.i.d.
        (see :mod:`dpsynth.pgm.sampling`)."""
        if int(n) < 0:
            raise ValueError(f"sample: n must be >= 0, got {n}")
        return sample_junction_tree(self.domain, self.junction_tree, self._conditionals, int(n),
                                    np.random.default_rng(rng), method)


def _components(neighbours: Sequence[set[int]]) -> list[list[int]]:
    """Connected components of the graph given by adjacency sets, each ascending."""
    seen: set[int] = set()
    parts = []
    for start in range(len(neighbours)):
        if start in seen:
            continue
        stack, part = [start], []
        seen.add(start)
        while stack:
            c = stack.pop()
            part.append(c)
            stack.extend(nb for nb in neighbours[c] if nb not in seen)
            seen.update(neighbours[c])
        parts.append(sorted(part))
    return parts
