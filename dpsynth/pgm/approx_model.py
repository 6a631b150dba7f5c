"""The model of approximate (region-graph) estimation: pseudo-marginals, queries, Gibbs sampling.

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
* ``sample`` draws rows by Gibbs sampling from the Kikuchi approximation
  ``P(x) ~ exp(sum_r kappa_r log mu_r(x_r))`` (``kappa`` the Moebius counting
  numbers; exact for tree-structured region graphs, an approximation on loops):
  every row is its own chain, started from an approximate ancestral draw
  (each attribute from the conditional of one region's pseudo-marginal given
  the attributes already drawn) and swept ``sweeps`` times over the attributes,
  all rows at once. The rows are independent; how close their distribution is
  to the model's depends on mixing, which ``sweeps`` bounds (see
  ``GIBBS_SWEEPS``); there is no stratified ("round") variant.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.region_graph import RegionGraph, kikuchi_potentials, maximal_intersections
from dpsynth.pgm.sampling import METHODS

GIBBS_SWEEPS = 30   # sweeps over all attributes after the initial draw (each row its own chain)


def _gumbel_argmax(logits: np.ndarray, rng: np.random.Generator, fallback: np.ndarray) -> np.ndarray:
    """Per row, an index drawn with probabilities ``softmax(logits)``; rows whose
    logits are all ``-inf`` get ``fallback``."""
    with np.errstate(invalid="ignore"):
        pick = np.argmax(logits - np.log(-np.log(rng.random(logits.shape))), axis=1)
    return np.where(np.isfinite(logits).any(axis=1), pick, fallback)


class ApproximateModel:
    """Pseudo-marginals on a region graph, scaled to ``total`` records.

    Attributes: ``domain``, ``region_graph``, ``marginals`` (one array of counts
    per region, axes in domain order), ``potentials`` (Gibbs log-potentials,
    :func:`kikuchi_potentials`), ``total``, ``cliques`` (measured attribute
    sets), ``objective``, ``iterations``, ``solver``, ``zeros`` (as
    :class:`dpsynth.pgm.GraphicalModel`), ``sweeps`` (Gibbs sweeps per sample),
    ``evidence`` (attribute -> cell held fixed when sampling; see :meth:`condition`),
    ``inference`` (``"approx"``).
    """

    inference = "approx"

    def __init__(self, domain: Domain, region_graph: RegionGraph, marginals: Sequence[np.ndarray],
                 total: float, cliques: Sequence[tuple[str, ...]] = (), objective: float | None = None,
                 iterations: int = 0, solver: str = "",
                 zeros: Sequence[tuple[tuple[str, ...], np.ndarray]] = (), sweeps: int = GIBBS_SWEEPS,
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
        self.sweeps = int(sweeps)
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
        region = self.region_graph.regions[home]
        axes = tuple(i for i, a in enumerate(region) if a not in attrs)
        return self.marginals[home].sum(axis=axes) if axes else self.marginals[home]

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
        :meth:`sample`; ValueError when a region gives the evidence probability 0."""
        evidence = {**self.evidence, **{a: int(c) for a, c in evidence.items()}}
        for region, mu in zip(self.region_graph.regions, self.marginals):
            seen = [a for a in region if a in evidence]
            if seen:
                axes = tuple(i for i, a in enumerate(region) if a not in seen)
                mass = (mu.sum(axis=axes) if axes else mu)[tuple(evidence[a] for a in seen)]
                if not mass > 0:
                    raise ValueError(f"the condition {evidence} has probability zero under the model")
        return ApproximateModel(self.domain, self.region_graph, self.marginals, self.total, self.cliques,
                                self.objective, self.iterations, self.solver, self.zeros, self.sweeps,
                                evidence)

    def sample(self, n: int, rng: np.random.Generator | int | None = None,
               method: str = "round") -> np.ndarray:
        """``n`` rows as codes, shape ``(n, len(domain))``, columns in
        ``domain.names`` order, by Gibbs sampling (approximate; see the module
        docstring). ``method`` is accepted for the engine's interface; both
        values give independent chains."""
        if method not in METHODS:
            raise ValueError(f"unknown sampling method {method!r}; use one of {METHODS}")
        if int(n) < 0:
            raise ValueError(f"sample: n must be >= 0, got {n}")
        rng = np.random.default_rng(rng)
        x = self._initial(int(n), rng)
        free = [a for a in self.domain.names if a not in self.evidence]
        tables = {a: self._conditional_tables(a) for a in free}
        for _ in range(self.sweeps if n else 0):
            for a in free:
                i = self.domain.index(a)
                logits = sum(t[self._rows(x, others)] for others, t in tables[a])
                x[:, i] = _gumbel_argmax(logits, rng, x[:, i])
        return x.astype(np.min_scalar_type(max(self.domain.sizes) - 1))

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

    def _initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Start states: evidence as given, then each attribute (domain order) from
        the conditional of the region sharing most attributes already drawn."""
        x = np.zeros((n, len(self.domain)), dtype=np.int64)
        drawn = set()
        for a, cell in self.evidence.items():
            x[:, self.domain.index(a)] = cell
            drawn.add(a)
        graph = self.region_graph
        for a in self.domain.names:
            if a in drawn:
                continue
            home = max((i for i, r in enumerate(graph.regions) if a in r),
                       key=lambda i: len(drawn & set(graph.regions[i])))
            given = tuple(b for b in graph.regions[home] if b in drawn)
            joint = self._inside(self.domain.canonical(given + (a,)))
            order = self.domain.canonical(given + (a,))
            table = joint.transpose([order.index(b) for b in given + (a,)]).reshape(-1, joint.shape[order.index(a)])
            with np.errstate(divide="ignore"):
                logits = np.log(table)[self._rows(x, given)]
            x[:, self.domain.index(a)] = _gumbel_argmax(logits, rng, np.zeros(n, dtype=np.int64))
            drawn.add(a)
        return x
