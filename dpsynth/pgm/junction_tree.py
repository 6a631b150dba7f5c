"""Junction trees: triangulation by greedy elimination, and the model-size guard.

The model graph joins two attributes when some measured clique holds both
(every attribute is a node, measured or not). Eliminating its nodes greedily
-- each step the node adding the fewest fill-in edges, ties broken by the
fewest cells in its neighbourhood, then by domain order -- triangulates it
(a graph that is already chordal gets no fill-in at all, so a tree of pairs
stays a tree of pairs); the
cliques formed are the candidates, and the maximal ones are joined by a
maximum spanning tree over separator sizes (networkx), which for the cliques
of a chordal graph has the running-intersection property. Disconnected parts
hang together through empty separators, so the model is always one tree.

:func:`junction_tree_size` and :func:`check_model_size` run the elimination
alone -- graph operations, no array is allocated -- so a synthesizer can test a
candidate clique set cheaply before measuring it (AIM's model-size rule).
"""
from __future__ import annotations

import functools
import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import networkx as nx

from dpsynth.errors import InputError
from dpsynth.pgm.domain import Domain

DEFAULT_MAX_CELLS = 10**7


class ModelTooLarge(InputError):
    """The junction tree of a clique set has more cells than allowed.

    Attributes: ``clique`` (the largest junction-tree clique, or region of an
    approximate model's region graph: the one to blame), ``clique_cells``,
    ``total_cells``, ``max_cells``.
    """

    def __init__(self, clique: tuple[str, ...], clique_cells: int, total_cells: int, max_cells: int,
                 structure: str = "junction tree"):
        self.clique = clique
        self.clique_cells = clique_cells
        self.total_cells = total_cells
        self.max_cells = max_cells
        super().__init__(
            f"graphical model too large: its {structure} has {total_cells:,} cells, over the "
            f"limit of {max_cells:,}; the largest clique {clique} alone has {clique_cells:,} cells. "
            "Measure fewer or smaller marginals, coarsen those attributes, or raise max_cells"
        )


@dataclass(frozen=True)
class JunctionTree:
    """Maximal cliques (canonical attribute order) arranged as a rooted tree.

    ``parent[i]`` is the index of clique ``i``'s parent (-1 for the root,
    clique 0); ``order`` lists clique indices parents-first; ``separators[i]``
    is ``cliques[i] & cliques[parent[i]]`` in canonical order (``()`` for the
    root or across disconnected parts); ``cells[i]`` is the size of clique ``i``.
    """

    cliques: tuple[tuple[str, ...], ...]
    parent: tuple[int, ...]
    order: tuple[int, ...]
    separators: tuple[tuple[str, ...], ...]
    cells: tuple[int, ...]

    @property
    def size(self) -> int:
        """Total cells over all cliques: the memory of one set of potentials."""
        return sum(self.cells)

    def containing(self, attrs: Iterable[str]) -> int | None:
        """Index of the smallest clique holding all of ``attrs`` (the first of
        the smallest), or None."""
        holding = [self._holding.get(a, frozenset()) for a in attrs]
        found = frozenset.intersection(*holding) if holding else range(len(self.cliques))
        return min(found, key=lambda i: (self.cells[i], i), default=None)

    @functools.cached_property
    def _holding(self) -> dict[str, frozenset[int]]:
        """The cliques holding each attribute."""
        out: dict[str, set[int]] = {}
        for i, cl in enumerate(self.cliques):
            for a in cl:
                out.setdefault(a, set()).add(i)
        return {a: frozenset(c) for a, c in out.items()}


def _maximal_cliques(domain: Domain, cliques: Iterable[Sequence[str]]) -> list[tuple[str, ...]]:
    """Maximal cliques of the greedy triangulation, canonical, in elimination order."""
    masks = [_mask(domain, cl) for cl in cliques]
    return [tuple(domain.names[i] for i in _bits(c)) for c in _maximal(domain, masks, (1 << len(domain)) - 1)]


def _maximal(domain: Domain, masks: list[int], nodes: int) -> list[int]:
    """Maximal cliques (bitmasks) of the greedy triangulation of the graph on
    ``nodes`` whose edges join the attributes of each mask, in elimination order."""
    maximal = []
    holding: dict[int, list[int]] = {v: [] for v in _bits(nodes)}  # the cliques formed so far holding v
    for v, c in _eliminate(domain, masks, nodes):
        # A clique can only lie inside one formed before it (v is gone after), and that one holds v.
        if not any(c & d == c for d in holding[v]):
            maximal.append(c)
        for u in _positions(c):
            holding[u].append(c)
    return maximal


def _eliminate(domain: Domain, masks: list[int], nodes: int) -> list[tuple[int, int]]:
    """The greedy elimination of the graph on ``nodes`` (bit ``i`` is
    ``domain.names[i]``) whose edges join the attributes of each mask: each
    step's node, and the node with its neighbours as a bitmask, in elimination
    order. Bitmasks, and re-scoring only the nodes an elimination can change
    (its neighbours, and the nodes two of whose neighbours it joins), keep it
    fast enough to run once per candidate every round (MWEM, PrivBayes)."""
    adj = dict.fromkeys(_bits(nodes), 0)
    for mask in masks:
        for i in _bits(mask):
            adj[i] |= mask & ~(1 << i)
    sizes = domain.sizes

    def score(v: int) -> tuple[int, int, int]:
        """(fill-in edges, cells of the neighbourhood with v, domain position)."""
        nb = adj[v]
        around = _positions(nb)
        fill = sum([(nb & ~adj[u]).bit_count() for u in around]) - len(around)
        return fill // 2, sizes[v] * math.prod([sizes[u] for u in around]), v

    scores = {v: score(v) for v in adj}
    heap = list(scores.values())  # entries go stale when a node is re-scored; skipped when popped
    heapq.heapify(heap)
    left = nodes
    formed = []
    while left:
        entry = heapq.heappop(heap)
        v = entry[2]
        if not left >> v & 1 or entry != scores[v]:
            continue
        left &= ~(1 << v)
        nb = adj[v]
        formed.append((v, nb | 1 << v))
        ring = 0
        for u in _positions(nb):
            adj[u] = (adj[u] | nb) & ~(1 << u | 1 << v)
            ring |= adj[u]
        # Past nb a node keeps its neighbours; its fill-in changes only if two of them (in nb) got joined.
        ring = sum(1 << u for u in _positions(ring & ~nb) if (adj[u] & nb).bit_count() > 1)
        for u in _positions(nb | ring):
            scores[u] = score(u)
            heapq.heappush(heap, scores[u])
    return formed


def _mask(domain: Domain, attrs: Iterable[str]) -> int:
    """Bitmask of ``attrs`` over domain positions (ValueError naming an unknown one)."""
    mask = 0
    for a in attrs:
        mask |= 1 << domain.index(a)
    return mask


@functools.lru_cache(maxsize=1 << 14)
def _positions(mask: int) -> tuple[int, ...]:
    """:func:`_bits` as a tuple, cached: greedy elimination of one model with
    each candidate added meets the same neighbourhoods over and over."""
    return tuple(_bits(mask))


def _bits(mask: int) -> Iterable[int]:
    """Positions of the set bits of ``mask``, ascending."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class JunctionTreeSizer:
    """:func:`junction_tree_size` of ``base`` plus one more clique, for many
    cliques (AIM's model-size rule, every candidate every round).

    Greedy elimination never crosses connected components: a node's score
    depends on its own component only, so each component is eliminated in the
    order it would be alone, and the sizes add up. The base's components are
    eliminated once; a clique re-eliminates only the components it joins.
    """

    def __init__(self, domain: Domain, base: Iterable[Sequence[str]], memo: dict | None = None):
        """``memo``: maximal cliques by component (its edges and nodes), to share
        between sizers of a growing base: AIM's rounds each join one clique,
        so most candidates meet components already sized."""
        self.domain = domain
        self.memo = {} if memo is None else memo
        component = list(range(len(domain)))  # union-find over positions

        def root(i: int) -> int:
            while component[i] != i:
                component[i] = component[component[i]]
                i = component[i]
            return i

        masks = [_mask(domain, cl) for cl in base]
        for mask in masks:
            first = mask.bit_length() - 1
            for i in _bits(mask):
                component[root(i)] = root(first)
        self.root = [root(i) for i in range(len(domain))]
        self.nodes: dict[int, int] = {}
        self.masks: dict[int, list[int]] = {}
        for i, r in enumerate(self.root):
            self.nodes[r] = self.nodes.get(r, 0) | 1 << i
            self.masks.setdefault(r, [])
        for mask in masks:
            if mask:
                self.masks[self.root[mask.bit_length() - 1]].append(mask)
        self.cells = {r: self._cells(self.masks[r], self.nodes[r]) for r in self.nodes}
        self.total = sum(self.cells.values())

    def _cliques(self, masks: list[int], nodes: int) -> tuple[tuple[int, int], ...]:
        """Maximal cliques of the greedy triangulation of one component, as
        (bitmask, cells) pairs, memoised by its edges: masks of one attribute add none."""
        key = (frozenset(m for m in masks if m & (m - 1)), nodes)
        if key not in self.memo:
            self.memo[key] = tuple((c, self._size(c)) for c in _maximal(self.domain, masks, nodes))
        return self.memo[key]

    def _cells(self, masks: list[int], nodes: int) -> int:
        return sum(cells for _, cells in self._cliques(masks, nodes))

    def _size(self, mask: int) -> int:
        sizes = self.domain.sizes
        return math.prod(sizes[i] for i in _bits(mask))

    def size_with(self, clique: Sequence[str]) -> int:
        """Total junction-tree cells of ``base`` plus ``clique``.

        The clique's attributes on no edge of ``base`` are simplicial once it
        is added, and greedy elimination ends with the same maximal cliques
        whichever order its simplicial (zero fill-in) nodes go in: each run of
        them removes the same nodes and adds no edge, and its cliques' maximal
        ones are the graph's maximal cliques holding a removed node. So they go
        first, forming ``clique`` itself, and the rest of ``clique`` is joined
        to ``base`` alone: one elimination serves every clique sharing that
        rest (PrivBayes: every child of one parent set), and a clique of the
        rest's own is absorbed.
        """
        mask = _mask(self.domain, clique)
        isolated = sum(1 << i for i in _bits(mask) if self.nodes[self.root[i]] == 1 << i)
        rest = mask & ~isolated
        joined = {self.root[i] for i in _bits(rest)}
        nodes = 0
        masks = [rest]
        for r in joined:
            nodes |= self.nodes[r]
            masks += self.masks[r]
        cliques = self._cliques(masks, nodes) if joined else ()
        if isolated:
            cliques = [(c, cells) for c, cells in cliques if c & ~mask] + [(mask, self._size(mask))]
        removed = sum(self.cells[self.root[i]] for i in _bits(isolated)) + sum(self.cells[r] for r in joined)
        return self.total - removed + sum(cells for _, cells in cliques)


def junction_tree_size(domain: Domain, cliques: Iterable[Sequence[str]]) -> int:
    """Total cells of the junction-tree cliques the engine would build for ``cliques``."""
    return JunctionTreeSizer(domain, cliques).total


def check_model_size(domain: Domain, cliques: Iterable[Sequence[str]],
                     max_cells: int = DEFAULT_MAX_CELLS) -> int:
    """Return the junction-tree size of ``cliques``; raise :class:`ModelTooLarge`
    (naming the largest clique) when it exceeds ``max_cells``."""
    tree_cliques = _maximal_cliques(domain, cliques)
    sizes = [domain.size(c) for c in tree_cliques]
    total = sum(sizes)
    if total > max_cells:
        worst = max(range(len(sizes)), key=sizes.__getitem__)
        raise ModelTooLarge(tree_cliques[worst], sizes[worst], total, int(max_cells))
    return total


def build_junction_tree(domain: Domain, cliques: Iterable[Sequence[str]],
                        max_cells: int = DEFAULT_MAX_CELLS) -> JunctionTree:
    """Junction tree covering every attribute of ``domain`` and every clique.

    Raises :class:`ModelTooLarge` before building anything when its cliques
    hold more than ``max_cells`` cells in total.
    """
    cliques = list(cliques)
    check_model_size(domain, cliques, max_cells)
    nodes = _maximal_cliques(domain, cliques)
    graph = nx.Graph()
    graph.add_nodes_from(range(len(nodes)))
    sets = [set(c) for c in nodes]
    for i, j in itertools.combinations(range(len(nodes)), 2):
        graph.add_edge(i, j, weight=len(sets[i] & sets[j]))
    tree = nx.maximum_spanning_tree(graph)
    parent = [-1] * len(nodes)
    order = [0]
    for p, c in nx.bfs_edges(tree, 0):
        parent[c] = p
        order.append(c)
    separators = tuple(
        () if p < 0 else domain.canonical(sets[i] & sets[p]) for i, p in enumerate(parent)
    )
    return JunctionTree(
        cliques=tuple(nodes),
        parent=tuple(parent),
        order=tuple(order),
        separators=separators,
        cells=tuple(domain.size(c) for c in nodes),
    )
