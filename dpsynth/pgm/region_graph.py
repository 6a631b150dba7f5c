"""Approximate inference on a region graph: the marginal oracle of Relaxed Private-PGM.

When the junction tree of a clique set is too large, the estimate is sought
over the *local polytope* instead of the marginal polytope (McKenna, Pradhan,
Sheldon, Miklau, "Relaxed Marginal Consistency for Differentially Private
Query Answering", NeurIPS 2021): one pseudo-marginal per *region* -- the
maximal measured cliques (and structural zeros' attribute sets), closed under
intersection -- required to agree only with the regions directly below it
(the Hasse diagram of the regions under inclusion). Its memory is the total
cells of the regions, with no triangulation fill-in.

The oracle maps log-potentials ``theta`` (one array per region) to

    mu(theta) = argmax_{mu in local polytope} <theta, mu> + sum_r H(mu_r),

with every counting number 1 -- the convex choice (mbi's ``convex=True``): the
objective is strictly concave, so the oracle is unique, smooth in ``theta``,
and is the gradient of its optimal value ``Phi(theta)``, exactly what entropic
mirror descent (:mod:`dpsynth.pgm.mirror_descent`) needs of belief
propagation. The price is an entropy that over-counts shared attributes; the
*estimate* does not depend on it wherever the objective has a unique minimiser
(e.g. every region measured), since mirror descent converges to the minimiser
of the objective over the local polytope whatever its mirror map.

It is computed by convex generalized belief propagation, i.e. block
coordinate descent on the Lagrange dual: with ``lambda[p, r]`` the multiplier
of "the marginal of parent ``p`` onto ``r`` equals ``mu_r``", every region's
belief is ``b_r = theta_r + sum_{p parent} lambda[p, r] - sum_{c child}
lambda[r, c]`` and ``mu_r = softmax(b_r)``. Updating all of ``r``'s incoming
multipliers at once has a closed form: with ``a`` the beliefs without them and
``m_p = logsumexp_{p \\ r} a_p``,

    B = (a_r + sum_p m_p) / (1 + #parents),        lambda[p, r] = m_p - B,

after which ``r`` and all its parents agree exactly. Plain sweeps of these
updates behave like averaging and crawl along long paths of regions (75
sweeps per calibration on adult with MST's tree plus 4 pairs), so each step is
over-relaxed by ``OVER_RELAXATION`` = 1.5 (3x fewer sweeps there, same
objective), falling back to plain steps within a calibration as soon as the
largest change grows. Sweeps repeat until no multiplier moves by more than
``tol``; multipliers persist between calls, so mirror descent's small steps
start close to the answer. ``Phi(theta)`` is the dual value
``sum_r logsumexp(b_r)``.

Structural zeros: each region holds a boolean ``alive`` mask, the zeros laid
out on every region containing their attributes and closed under the graph's
edges (a parent cell dies with its child cell; a child cell dies when every
parent cell above it is dead), so dead cells get exactly zero mass and the
arithmetic stays finite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from dpsynth.pgm.domain import Domain
from dpsynth.pgm.factor import logsumexp

DEFAULT_TOL = 1e-7        # largest multiplier change (log scale) at which a calibration stops
DEFAULT_SWEEPS = 1_000    # cap on sweeps per calibration
OVER_RELAXATION = 1.5     # step on the multipliers, in units of the exact block update (1: plain)


@dataclass(frozen=True)
class RegionGraph:
    """Regions (canonical attribute tuples, larger before smaller) and their Hasse diagram.

    ``parents[i]``: indices of the smallest regions strictly containing region
    ``i``; ``cells[i]``: its size; ``counting[i]``: its Kikuchi (Moebius)
    counting number ``1 - sum of its ancestors' numbers`` -- exact for
    tree-structured graphs; the Gibbs sweeps that move sampled rows off zero
    cells use the log-potentials
    ``sum_r counting_r log mu_r`` (not by the oracle, which is convex).
    """

    regions: tuple[tuple[str, ...], ...]
    parents: tuple[tuple[int, ...], ...]
    cells: tuple[int, ...]
    counting: tuple[float, ...]

    @property
    def cliques(self) -> tuple[tuple[str, ...], ...]:
        """The regions, under the name the objective and zero masks read from a junction tree."""
        return self.regions

    @property
    def size(self) -> int:
        """Total cells over all regions: the memory of one set of pseudo-marginals."""
        return sum(self.cells)

    def containing(self, attrs: Iterable[str]) -> int | None:
        """Index of the smallest region holding all of ``attrs`` (fewest cells, then
        attributes: the intersection of all regions holding them), or None."""
        attrs = set(attrs)
        holding = [i for i, r in enumerate(self.regions) if attrs <= set(r)]
        return min(holding, key=lambda i: (self.cells[i], len(self.regions[i])), default=None)


def _region_sets(domain: Domain, cliques: Iterable[Sequence[str]]) -> list[frozenset[str]]:
    """Maximal cliques (every attribute covered) closed under non-empty intersection."""
    sets = {frozenset(domain.canonical(c)) for c in cliques} - {frozenset()}
    sets |= {frozenset((a,)) for a in domain.names}
    top = {s for s in sets if not any(s < t for t in sets)}
    regions, frontier = set(top), set(top)
    while frontier:
        new = {a & b for a in frontier for b in regions if a != b} - regions - {frozenset()}
        regions |= new
        frontier = new
    return sorted(regions, key=lambda s: (-len(s), [domain.index(a) for a in domain.canonical(s)]))


def region_graph_size(domain: Domain, cliques: Iterable[Sequence[str]]) -> int:
    """Total cells of the regions the approximate engine would build for ``cliques``."""
    return sum(domain.size(s) for s in _region_sets(domain, cliques))


def build_region_graph(domain: Domain, cliques: Iterable[Sequence[str]]) -> RegionGraph:
    """The region graph of ``cliques`` (every attribute of ``domain`` covered)."""
    sets = _region_sets(domain, cliques)
    parents, counting = [], []
    for i, s in enumerate(sets):
        above = [j for j in range(i) if s < sets[j]]            # larger regions come first
        parents.append(tuple(j for j in above if not any(sets[j] < sets[k] for k in above)))
        counting.append(1.0 - sum(counting[j] for j in above))
    return RegionGraph(tuple(domain.canonical(s) for s in sets), tuple(parents),
                       tuple(domain.size(s) for s in sets), tuple(counting))


def _embed(domain: Domain, region: Sequence[str], sub: Sequence[str]) -> tuple[int, ...]:
    """Shape of an array over canonical ``sub`` laid out on ``region``'s axes."""
    return tuple(domain.sizes[domain.index(a)] if a in sub else 1 for a in region)


class RegionBP:
    """Convex generalized belief propagation on one region graph.

    Duck-types :class:`dpsynth.pgm.inference.BeliefPropagation` for mirror
    descent: :meth:`calibrate` and :meth:`factorize`. ``zeros``: per region, a
    boolean array of structural-zero cells or None (as from
    :func:`dpsynth.pgm.estimation.zero_masks`).
    """

    def __init__(self, domain: Domain, graph: RegionGraph,
                 zeros: Sequence[np.ndarray | None] | None = None,
                 tol: float = DEFAULT_TOL, max_sweeps: int = DEFAULT_SWEEPS) -> None:
        self.domain = domain
        self.graph = graph
        self.tol = tol
        self.max_sweeps = max_sweeps
        regions = graph.regions
        self.shapes = [domain.shape(r) for r in regions]
        self.edges = [(p, r) for r, ps in enumerate(graph.parents) for p in ps]
        self.embed = {}     # (p, r): r's arrays laid out on p's axes
        self.axes = {}      # (p, r): p's axes summed onto r
        for p, r in self.edges:
            self.embed[p, r] = _embed(domain, regions[p], regions[r])
            self.axes[p, r] = tuple(i for i, a in enumerate(regions[p]) if a not in regions[r])
        self.alive = self._alive(zeros)
        self.messages = {e: np.zeros(self.shapes[e[1]]) for e in self.edges}
        #: False after a calibration that stopped at ``max_sweeps`` short of ``tol``.
        self.converged = True

    def _alive(self, zeros: Sequence[np.ndarray | None] | None) -> list[np.ndarray] | None:
        """Per region, the cells that may hold mass (None when there are no zeros)."""
        if zeros is None or all(z is None for z in zeros):
            return None
        alive = [np.ones(s, dtype=bool) if z is None else ~z for s, z in zip(self.shapes, zeros)]
        changed = True
        while changed:
            changed = False
            for p, r in self.edges:
                up = alive[p] & alive[r].reshape(self.embed[p, r])
                down = alive[r] & up.any(axis=self.axes[p, r]).reshape(self.shapes[r])
                if not (np.array_equal(up, alive[p]) and np.array_equal(down, alive[r])):
                    alive[p], alive[r], changed = up, down, True
        if not all(a.any() for a in alive):
            raise ValueError("the structural zeros rule out every cell of the domain")
        return alive

    def _masked(self, r: int, values: np.ndarray) -> np.ndarray:
        return values if self.alive is None else np.where(self.alive[r], values, -np.inf)

    def _lse(self, p: int, values: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        """``logsumexp`` over ``axes`` of a region's beliefs (dead cells excluded);
        without zeros every value is finite, so the max-shift needs no guards."""
        if self.alive is not None:
            return logsumexp(self._masked(p, values), axes)
        top = values.max(axis=axes, keepdims=True)
        return np.log(np.exp(values - top).sum(axis=axes)) + top.reshape(
            [n for i, n in enumerate(values.shape) if i not in axes])

    def calibrate(self, theta: Sequence[np.ndarray], total: float, conditionals: bool = False
                  ) -> tuple[list[np.ndarray], None, float]:
        """Pseudo-marginals (counts summing to ``total`` per region), None (no
        conditional tables, whatever ``conditionals`` asks: the interface of
        exact belief propagation), and ``Phi(theta)``. Dead cells of ``theta``
        (e.g. ``-inf``) are ignored."""
        n = len(self.shapes)
        if self.alive is not None:
            theta = [np.where(a, t, 0.0) for a, t in zip(self.alive, theta)]
        lam = self.messages
        b = [np.array(t, dtype=np.float64) for t in theta]
        for p, r in self.edges:
            b[r] = b[r] + lam[p, r]
            b[p] = b[p] - lam[p, r].reshape(self.embed[p, r])
        order = [r for r in range(n) if self.graph.parents[r]]
        omega, last = OVER_RELAXATION, np.inf
        self.converged = False
        for _ in range(self.max_sweeps):
            moved = 0.0
            for r in order:
                ps = self.graph.parents[r]
                old = [lam[p, r] for p in ps]
                # m_p = logsumexp over p \ r of (b_p + old_p): old_p is constant along those axes
                m = [self._lse(p, b[p], self.axes[p, r]).reshape(self.shapes[r]) + o for p, o in zip(ps, old)]
                if self.alive is not None:   # dead cells of r (every parent cell above is dead) keep 0
                    m = [np.where(self.alive[r], x, 0.0) for x in m]
                b_r = b[r] - sum(old)
                common = (b_r + sum(m)) / (1 + len(ps))
                for p, o, x in zip(ps, old, m):
                    new = o + omega * (x - common - o)
                    if self.alive is not None:
                        new = np.where(self.alive[r], new, 0.0)
                    moved = max(moved, float(np.max(np.abs(new - o))))
                    lam[p, r] = new
                    b[p] = b[p] + (o - new).reshape(self.embed[p, r])
                    b_r = b_r + new
                b[r] = b_r
            if moved <= self.tol:
                self.converged = True
                break
            if moved > last:         # over-relaxation overshoots: plain coordinate steps from here
                omega = 1.0
            last = moved
        mu, phi = [], 0.0
        for r in range(n):
            br = self._masked(r, b[r])
            lse = float(logsumexp(br, tuple(range(br.ndim))))
            phi += lse
            mu.append(total * np.exp(br - lse))
        return mu, None, phi

    def factorize(self, marginals: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Log-potentials whose oracle output is the given consistent
        pseudo-marginals: each region's log-marginal (``-inf`` on empty cells),
        with the multipliers reset to zero, which is then their optimum."""
        self.messages = {e: np.zeros(self.shapes[e[1]]) for e in self.edges}
        with np.errstate(divide="ignore"):
            return [np.log(mu) for mu in marginals]


def kikuchi_potentials(graph: RegionGraph, marginals: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Log-potentials ``counting_r * log mu_r`` per region (``-inf`` wherever a
    region's pseudo-marginal is 0, whatever the sign of its counting number):
    the Kikuchi approximation of the joint, exact on tree-structured graphs."""
    out = []
    for c, mu in zip(graph.counting, marginals):
        positive = mu > 0
        logs = np.log(np.where(positive, mu, 1.0))
        out.append(np.where(positive, c * logs, -np.inf))
    return out


def maximal_intersections(graph: RegionGraph, attrs: Sequence[str]) -> list[tuple[str, ...]]:
    """The maximal non-empty sets ``region & attrs``, each in the order of ``attrs``."""
    inter = {frozenset(r) & frozenset(attrs) for r in graph.regions} - {frozenset()}
    return [tuple(a for a in attrs if a in s) for s in inter if not any(s < t for t in inter)]
