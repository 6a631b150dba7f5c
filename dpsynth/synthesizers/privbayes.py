"""PrivBayes (Zhang, Cormode, Procopiuc, Srivastava, Xiao; SIGMOD 2014, TODS 2017) with PGM estimation.

PrivBayes builds a Bayesian network greedily with the exponential mechanism,
then measures the marginal of every attribute with its parents. As in the
Private-PGM paper (McKenna, Sheldon, Miklau, ICML 2019), those noisy
marginals are handed to :func:`dpsynth.pgm.estimate` instead of being turned
into noisy conditionals one by one, so they are made consistent with each other.

Budget in zCDP (``rho`` of the release, add/remove-one neighbouring):

* ``ONEWAY_SHARE`` (0.3): every 1-way marginal, Gaussian, ``0.3 rho / d`` each.
  They give the DP row count used by the theta-usefulness rule and MST's
  domain compression (rare values share a cell).
* ``structure_share`` (beta, default 0.3 as in the paper): the network, d - 1
  exponential-mechanism draws of epsilon = sqrt(8 beta rho / (d - 1)) each,
  scored by :func:`dependence` (sensitivity 2).
* the rest: the chosen families (attribute + parents) that no other family
  contains, Gaussian, split evenly (the 1-way marginals again when every
  attribute ended up without parents).

Theta-usefulness (TODS 2017, section 4), in Gaussian form: a family is
measured with noise sigma = sqrt((d - 1) / (2 rho_families)) per cell, so its
average cell count is at least ``theta`` times the noise when it has at most
n_hat / (theta sigma) cells, with n_hat the DP row count. Each attribute's
candidate parent sets are the largest subsets of the attributes already in
the network (at most ``degree`` of them) under that limit whose family keeps
the model's junction tree under ``max_model_cells``.
"""
from __future__ import annotations

import itertools
from typing import Callable

import numpy as np

from dpsynth.errors import InputError
from dpsynth.pgm import Domain, GraphicalModel, estimate, estimate_total, junction_tree_size, model_sizer
from dpsynth.synthesizers.aim import work_iterations
from dpsynth.synthesizers.base import FitContext, Synthesizer
from dpsynth.synthesizers.compress import Compression

ONEWAY_SHARE = 0.3
DEPENDENCE_SENSITIVITY = 2.0


def dependence(counts: np.ndarray) -> float:
    """PrivBayes's score R in counts: 1/2 ||C(x, pi) - C(x) C(pi) / n||_1.

    ``counts``: the family's marginal counts with the child on axis 0 and the
    parents' cells flattened on axis 1. This is n times the paper's R (the L1
    distance of the joint from the product of its margins); with no records it is 0.

    Sensitivity 2 under add/remove-one: write p = C(x)/n, q = C(pi)/n. Adding a
    record in cell (x0, pi0) changes the matrix inside the norm by
    e_x0 e_pi0^T - [(n p + e_x0)(n q + e_pi0)^T / (n + 1) - n p q^T]
    = n / (n + 1) (e_x0 - p)(e_pi0 - q)^T,
    whose L1 norm is n / (n + 1) ||e_x0 - p||_1 ||e_pi0 - q||_1 < 2 * 2 = 4.
    By the triangle inequality the norm moves by less than 4, the score by less
    than 2; removing a record is the same step backwards (n = 0 gives 0 on both sides).
    """
    n = counts.sum()
    if n <= 0:
        return 0.0
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / n
    return 0.5 * float(np.abs(counts - expected).sum())


class PrivBayes(Synthesizer):
    """Bayesian-network synthesizer; see the module docstring for the budget split.

    Parameters (besides the base's)
    -------------------------------
    degree:
        Most parents an attribute may get (the paper's k), default 2.
    theta:
        The theta-usefulness ratio (average cell count over noise std) a
        family must reach; ``None`` keeps only the ``degree`` and size limits.
    structure_share:
        Share of rho spent on choosing the network (the paper's beta).
    """

    method = "privbayes"

    def __init__(self, epsilon: float = 1.0, delta: float = 1e-9, *, degree: int = 2, theta: float | None = 4.0,
                 structure_share: float = 0.3, max_model_cells: int = 10**7, domain_share: float = 0.1,
                 insecure_random_state: int | None = None, verbose: bool = False):
        super().__init__(epsilon, delta, max_model_cells=max_model_cells, domain_share=domain_share,
                         insecure_random_state=insecure_random_state, verbose=verbose)
        if int(degree) != degree or degree < 1:
            raise InputError(f"degree must be an integer >= 1, got {degree!r}")
        if theta is not None and not theta > 0:
            raise InputError(f"theta must be > 0 or None, got {theta!r}")
        if not 0 < structure_share < 1 - ONEWAY_SHARE:
            raise InputError(f"structure_share must be in (0, {1 - ONEWAY_SHARE:g}), got {structure_share!r}")
        self.degree = degree
        self.theta = theta
        self.structure_share = structure_share

    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel:
        names = ctx.domain.names
        d = len(names)
        oneway_rho = rho if d == 1 else ONEWAY_SHARE * rho
        oneway = [ctx.measure((a,), oneway_rho / d) for a in names]
        n_hat = estimate_total(oneway)
        ctx.compress(Compression.from_oneway(ctx.domain, oneway))
        ctx.progress(f"PrivBayes: measured {d} one-way marginals", oneway_rho / rho)
        self.network_: list[tuple[str, tuple[str, ...]]] = []
        self.family_cell_limit_: float | None = None
        if d == 1:
            return estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros)
        structure_rho = self.structure_share * rho
        family_rho = rho - oneway_rho - structure_rho
        if self.theta is not None:
            sigma = np.sqrt((d - 1) / (2 * family_rho))
            self.family_cell_limit_ = float(n_hat / (self.theta * sigma))
        self.network_ = self._network(ctx, structure_rho)
        ctx.progress("PrivBayes: chose the network", (oneway_rho + structure_rho) / rho)
        targets = maximal([(x, *parents) for x, parents in self.network_ if parents]) or [(a,) for a in names]
        for clique in targets:
            ctx.measure(clique, family_rho / len(targets))
        ctx.progress(f"PrivBayes: measured {len(targets)} families", 1.0)
        cells = junction_tree_size(ctx.domain, [m.clique for m in ctx.measurements] + [z for z, _ in ctx.zeros])
        return estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros,
                        max_iters=work_iterations(cells))   # AIM's work bound (credit_default at 10: over 22 min)

    def _network(self, ctx: FitContext, rho: float) -> list[tuple[str, tuple[str, ...]]]:
        """Root uniformly at random (data-independent), then d - 1 exponential-mechanism picks."""
        names = ctx.domain.names
        rng = ctx.release.insecure_rng if ctx.release.insecure_rng is not None else np.random.default_rng()
        root = names[int(rng.integers(len(names)))]
        network: list[tuple[str, tuple[str, ...]]] = [(root, ())]
        epsilon = np.sqrt(8 * rho / (len(names) - 1))
        for step in range(len(names) - 1):
            placed = [x for x, _ in network]
            families = [(x, *parents) for x, parents in network if parents] + [z for z, _ in ctx.zeros]
            size_with = model_sizer(ctx.domain, families)   # one elimination per parent set, shared by the children
            candidates = [(x, parents) for x in names if x not in placed
                          for parents in self._parent_sets(ctx.domain, x, placed, size_with)]
            counts = ctx.answers([(x, *parents) for x, parents in candidates])
            scores = [dependence(c.reshape(ctx.domain.size((x,)), -1)) for (x, _), c in zip(candidates, counts)]
            pick = ctx.select(f"privbayes parents {step + 1}", np.array(scores), epsilon, DEPENDENCE_SENSITIVITY)
            network.append(candidates[pick])
        return network

    def _parent_sets(self, domain: Domain, x: str, placed: list[str],
                     size_with: Callable[[tuple[str, ...]], int]) -> list[tuple[str, ...]]:
        """The maximal parent sets of ``x`` within ``placed`` under the degree, usefulness and size limits.

        ``size_with(family)``: junction-tree cells of the network so far plus ``family``.

        A set is maximal when no single placed attribute can join it and stay
        within the limits (the degree and cell limits hold for every subset of a
        set that meets them). ``[()]`` when no parent fits.
        """
        limit = np.inf if self.family_cell_limit_ is None else self.family_cell_limit_

        def allowed(parents: tuple[str, ...]) -> bool:
            return (len(parents) <= self.degree and domain.size((x, *parents)) <= limit
                    and size_with((x, *parents)) <= self.max_model_cells)

        sets = [p for k in range(1, min(self.degree, len(placed)) + 1)
                for p in itertools.combinations(placed, k) if allowed(p)]
        fits = {frozenset(p) for p in sets}
        out = [p for p in sets if len(p) == self.degree
               or not any(frozenset((*p, b)) in fits for b in placed if b not in p)]
        return out or [()]

    def _extra_metadata(self) -> dict:
        return {"network": [{"attribute": x, "parents": list(p)} for x, p in self.network_],
                "family_cell_limit": self.family_cell_limit_}


def maximal(cliques: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The cliques not contained in another one (first of equal sets kept)."""
    sets = [frozenset(c) for c in cliques]
    return [c for i, c in enumerate(cliques)
            if not any(sets[i] < s or (sets[i] == s and j < i) for j, s in enumerate(sets))]
