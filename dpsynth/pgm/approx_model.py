"""The model of approximate (region-graph) estimation: pseudo-marginals, queries, sampling.

Its state is one pseudo-marginal per region (:mod:`dpsynth.pgm.region_graph`),
consistent between neighbouring regions but not necessarily the marginals of
any one joint distribution when the regions form loops.

* ``project(attrs)`` reads a region's pseudo-marginal when one region holds
  ``attrs``; otherwise it fits the maximum-entropy distribution over ``attrs``
  alone to the pseudo-marginals' projections onto the maximal sets ``region &
  attrs`` (as Relaxed Private-PGM does), with the exact engine on that small
  sub-domain (noise-free targets, structural zeros inside ``attrs`` kept).
  It ignores how the attributes connect through others, so on a chain a - b - c
  it answers ``P(a) P(c)`` for ``(a, c)`` where exact inference gives
  ``sum_b P(a, b) P(c | b)``.
* ``sample`` draws rows ancestrally along the regions: the top regions in a
  greedy order (a maximum spanning tree on mutual information, given
  attributes first: :meth:`ApproximateModel._plan`), each region's new attributes from its
  pseudo-marginal's conditional given the attributes it shares with them --
  all rows at once, through the exact sampler's grouped inverse CDF (so
  ``"round"`` stratifies here too). Exact for tree-structured region graphs
  (and for conditionals given attributes of one region); on loops, a region
  whose attributes were all drawn before its turn is skipped, so its
  dependence is lost: MWEM at ``inference="auto"`` on adult gave pseudo-marginals
  within 0.021 TVD of the data on the measured pairs but rows at 0.049
  (benchmarks/results/pgm_approx.md; 0.097 when the order ignored mutual
  information). Gibbs sampling from the Kikuchi approximation
  ``P(x) ~ exp(sum_r kappa_r log mu_r(x_r))`` was far worse there (0.22 after
  5-20 sweeps), and so was a product of the regions' conditionals given the
  attributes drawn (0.11); Gibbs only moves rows off cells of probability 0 that a loop let the
  draw combine (a structural zero): such rows get Gibbs sweeps until they
  leave them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.junction_tree import JunctionTree
from dpsynth.pgm.reduce import sum_onto
from dpsynth.pgm.region_graph import RegionGraph, kikuchi_potentials, maximal_intersections
from dpsynth.pgm.sampling import sample_junction_tree

REPAIR_SWEEPS = 100     # cap on Gibbs sweeps moving rows off cells of probability zero


def _draw(logits: np.ndarray, rng: np.random.Generator, fallback: np.ndarray) -> np.ndarray:
    """Per row, an index drawn with probabilities ``softmax(logits)`` (inverse CDF,
    one uniform in (0, 1] per row, so a cell of probability 0 is never drawn);
    rows whose logits are all ``-inf`` get ``fallback``."""
    top = logits.max(axis=1)
    possible = np.isfinite(top)
    cdf = np.cumsum(np.exp(logits - np.where(possible, top, 0.0)[:, None]), axis=1)
    u = (1.0 - rng.random(len(logits))) * cdf[:, -1]
    return np.where(possible, (cdf < u[:, None]).sum(axis=1), fallback)


class ApproximateModel:
    """Pseudo-marginals on a region graph, scaled to ``total`` records.

    Attributes: ``domain``, ``region_graph``, ``marginals`` (one array of counts
    per region, axes in domain order), ``potentials`` (Kikuchi log-potentials,
    :func:`kikuchi_potentials`, for the Gibbs repair of rows on zero cells), ``total``, ``cliques`` (measured attribute
    sets), ``objective``, ``iterations``, ``solver``, ``zeros`` (as
    :class:`dpsynth.pgm.GraphicalModel`),
    ``evidence`` (attribute -> cell held fixed when sampling; see :meth:`condition`),
    ``inference`` (``"approx"``).
    """

    inference = "approx"

    def __init__(self, domain: Domain, region_graph: RegionGraph, marginals: Sequence[np.ndarray],
                 total: float, cliques: Sequence[tuple[str, ...]] = (), objective: float | None = None,
                 iterations: int = 0, solver: str = "",
                 zeros: Sequence[tuple[tuple[str, ...], np.ndarray]] = (),
                 evidence: dict[str, int] | None = None) -> None:
        self.domain = domain
        self.region_graph = region_graph
        self.marginals = [np.asarray(m, dtype=np.float64) for m in marginals]
        self.total = float(total)
        self.cliques = tuple(cliques)
        self.objective = objective
        self.iterations = iterations
        self.solver = solver
        self.zeros = tuple(zeros)
        self.evidence = dict(evidence or {})
        self.potentials = kikuchi_potentials(region_graph, self.marginals)
        self._projections: dict[tuple[str, ...], np.ndarray] = {}

    def project(self, attrs: Sequence[str] | str) -> np.ndarray:
        """Marginal counts over ``attrs``, one axis per attribute in the order
        given, summing to ``total`` (see the module docstring for sets that no
        region holds)."""
        attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)
        canon = self.domain.canonical(attrs)
        if len(canon) != len(attrs):
            raise ValueError(f"project: {attrs} repeats an attribute")
        if not attrs:
            return np.array(self.total)
        if canon not in self._projections:
            self._projections[canon] = self._project(canon)
        return self._projections[canon].transpose([canon.index(a) for a in attrs])

    def _inside(self, attrs: tuple[str, ...]) -> np.ndarray | None:
        """Marginal over canonical ``attrs`` read off the smallest region holding them."""
        home = self.region_graph.containing(attrs)
        if home is None:
            return None
        return sum_onto(self.marginals[home], self.region_graph.regions[home], attrs)

    def _project(self, canon: tuple[str, ...]) -> np.ndarray:
        inside = self._inside(canon)
        if inside is not None:
            return inside
        from dpsynth.pgm.estimation import estimate   # estimation builds these models

        targets = [self.domain.canonical(t) for t in maximal_intersections(self.region_graph, canon)]
        sub = Domain(canon, self.domain.shape(canon))
        zeros = [(z, m) for z, m in self.zeros if set(z) <= set(canon)]
        fit = estimate(sub, [Measurement(t, self._inside(t), 1.0) for t in targets], total=self.total,
                       zeros=zeros)
        return fit.project(canon)

    def condition(self, evidence: dict[str, int]) -> "ApproximateModel":
        """The same model with ``evidence`` (attribute -> cell) held fixed by
        :meth:`sample`, which draws the rest after it; ValueError when a region
        gives the evidence probability 0, or when no one region holds every
        attribute given: the draw reads each region's conditional given what it
        shares with the attributes drawn before it, so how two given attributes in
        different regions bear on the rest would be lost (on a chain a-b-c with
        a = b and b = c 90% of the time, b | a=0, c=1 came out 0 nine times in ten
        where the model says even)."""
        evidence = {**self.evidence, **{a: int(c) for a, c in evidence.items()}}
        if evidence and self.region_graph.containing(self.domain.canonical(evidence)) is None:
            raise ValueError(f"the condition on {sorted(evidence)} spans regions of an approximate model, whose "
                             f"sampler would ignore how they bear on each other; condition on columns that one "
                             f"measured marginal holds, or fit with inference=\"exact\"")
        for region, mu in zip(self.region_graph.regions, self.marginals):
            seen = [a for a in region if a in evidence]
            if seen:
                mass = sum_onto(mu, region, seen)[tuple(evidence[a] for a in seen)]
                if not mass > 0:
                    raise ValueError(f"the condition {evidence} has probability zero under the model")
        return ApproximateModel(self.domain, self.region_graph, self.marginals, self.total, self.cliques,
                                self.objective, self.iterations, self.solver, self.zeros, evidence)

    def sample(self, n: int, rng: np.random.Generator | int | None = None,
               method: str = "round") -> np.ndarray:
        """``n`` rows as codes, shape ``(n, len(domain))``, columns in
        ``domain.names`` order: an ancestral draw along the regions (``method``
        as for exact models: ``"round"`` stratified, ``"sample"`` i.i.d.).
        Approximate on loopy region graphs (see the module docstring)."""
        if int(n) < 0:
            raise ValueError(f"sample: n must be >= 0, got {n}")
        n = int(n)
        rng = np.random.default_rng(rng)
        x = np.zeros((n, len(self.domain)), dtype=np.int64)
        for a, cell in self.evidence.items():
            x[:, self.domain.index(a)] = cell
        plan, conditionals = self._plan()
        x = sample_junction_tree(self.domain, plan, conditionals, n, rng, method, out=x)
        bad = self._impossible(x)
        tables = {a: self._conditional_tables(a) for a in self.domain.names if a not in self.evidence} \
            if bad.any() else {}
        for _ in range(REPAIR_SWEEPS):
            if not bad.any():
                break
            stuck = x[bad]
            self._sweep(stuck, tables, rng)
            x[bad] = stuck
            bad[bad] = self._impossible(stuck)
        if bad.any():
            raise ValueError(f"sample: {int(bad.sum())} rows stayed on cells of probability zero after "
                             f"{REPAIR_SWEEPS} Gibbs sweeps")
        return x.astype(np.min_scalar_type(max(self.domain.sizes) - 1))

    def _sweep(self, x: np.ndarray, tables: dict, rng: np.random.Generator) -> None:
        """One Gibbs sweep (in place) over the attributes in ``tables``, all rows at once."""
        for a, parts in tables.items():
            i = self.domain.index(a)
            x[:, i] = _draw(sum(t[self._rows(x, others)] for others, t in parts), rng, x[:, i])

    def _impossible(self, x: np.ndarray) -> np.ndarray:
        """Rows whose cell in some region has pseudo-marginal 0 (e.g. a structural
        zero that a loop let the ancestral draw combine)."""
        bad = np.zeros(len(x), dtype=bool)
        for region, mu in zip(self.region_graph.regions, self.marginals):
            empty = mu.ravel() <= 0
            if empty.any():
                bad |= empty[self._rows(x, region)]
        return bad

    def _rows(self, x: np.ndarray, attrs: Sequence[str]) -> np.ndarray:
        """Flat cell index over ``attrs`` of every row (0 when ``attrs`` is empty)."""
        if not attrs:
            return np.zeros(len(x), dtype=np.intp)
        return np.ravel_multi_index(tuple(x[:, self.domain.index(a)] for a in attrs), self.domain.shape(attrs))

    def _conditional_tables(self, attr: str) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """For each region holding ``attr`` with a non-zero counting number, its
        other attributes and its log-potential as a (their cells, ``attr``'s cells) table."""
        out = []
        for region, c, phi in zip(self.region_graph.regions, self.region_graph.counting, self.potentials):
            if attr in region and c != 0:
                others = tuple(a for a in region if a != attr)
                perm = [region.index(a) for a in others] + [region.index(attr)]
                out.append((others, phi.transpose(perm).reshape(-1, phi.shape[region.index(attr)])))
        return out

    def _link(self, i: int, drawn: set[str]) -> float:
        """Mutual information (nats) under region ``i``'s pseudo-marginal between
        its attributes not yet drawn and those drawn (with none drawn: its total
        correlation, the sum of its 1-way entropies less its joint entropy)."""
        region, mu = self.region_graph.regions[i], self.marginals[i] / self.total

        def entropy(keep: list[int]) -> float:
            p = mu.sum(axis=tuple(k for k in range(mu.ndim) if k not in keep)).ravel()
            p = p[p > 0]
            return float(-np.sum(p * np.log(p)))

        new = [k for k, a in enumerate(region) if a not in drawn]
        old = [k for k, a in enumerate(region) if a in drawn]
        if not new:
            return -np.inf
        parts = [[k] for k in new] if not old else [new, old]
        return sum(entropy(part) for part in parts) - entropy(new + old)

    def _plan(self) -> tuple[JunctionTree, list[np.ndarray]]:
        """The ancestral draw as a junction-tree sampling plan: the top regions in
        greedy order (Prim's maximum spanning tree: each next one shares
        attributes with those drawn -- the evidence first -- and among those,
        carries the most mutual information between its new and its drawn
        attributes, so the regions a loop leaves out are the least
        informative), each drawn from its pseudo-marginal's conditional
        given the attributes it shares with them (its "separator"). Exact for
        tree-structured region graphs; on loops it drops the other regions'
        information about the shared attributes."""
        graph = self.region_graph
        todo = [i for i, ps in enumerate(graph.parents) if not ps]     # the top regions cover every attribute
        drawn = set(self.evidence)
        cliques, seps, conditionals = [], [], []
        while todo:
            i = max(todo, key=lambda j: (bool(drawn & set(graph.regions[j])), self._link(j, drawn), -j))
            todo.remove(i)
            region = graph.regions[i]
            if set(region) <= drawn:
                continue
            sep = tuple(a for a in region if a in drawn)
            axes = tuple(k for k, a in enumerate(region) if a not in drawn)
            mass = self.marginals[i].sum(axis=axes, keepdims=True)
            with np.errstate(invalid="ignore", divide="ignore"):
                conditionals.append(np.where(mass > 0, self.marginals[i] / mass, 0.0))
            cliques.append(region)
            seps.append(sep)
            drawn |= set(region)
        plan = JunctionTree(cliques=tuple(cliques), parent=(-1,) * len(cliques), order=tuple(range(len(cliques))),
                            separators=tuple(seps), cells=tuple(self.domain.size(c) for c in cliques))
        return plan, conditionals
