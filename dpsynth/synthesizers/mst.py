"""MST (McKenna, Miklau, Sheldon 2021; winner of the NIST 2018 challenge).

Budget split in zCDP: rho/3 on all 1-way marginals, rho/3 on choosing a
maximum spanning tree of 2-way marginals with the exponential mechanism
(d-1 selections of epsilon = sqrt(8 (rho/3) / (d-1)) each), rho/3 on measuring
the d-1 chosen 2-way marginals. An edge's weight is the L1 error of its 2-way
marginal under the independent model fitted to the noisy 1-way marginals; its
sensitivity is 1 under add/remove-one neighbouring.
"""
from __future__ import annotations

import itertools

import numpy as np
import networkx as nx

from dpsynth.pgm import GraphicalModel, estimate
from dpsynth.synthesizers.base import FitContext, Synthesizer
from dpsynth.synthesizers.compress import Compression


class MST(Synthesizer):
    """Maximum-spanning-tree synthesizer; see the module docstring for the budget split."""

    method = "mst"

    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel:
        names = ctx.domain.names
        oneway = [ctx.measure((a,), rho / 3 / len(names)) for a in names]
        ctx.compress(Compression.from_oneway(ctx.domain, oneway))
        ctx.progress(f"MST: measured {len(names)} one-way marginals", 1 / 3)
        if len(names) > 1:
            for edge in self._select_tree(ctx, rho / 3):
                ctx.measure(edge, rho / 3 / (len(names) - 1))
            ctx.progress(f"MST: selected and measured {len(names) - 1} two-way marginals", 1.0)
        return estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros)

    def _select_tree(self, ctx: FitContext, rho: float) -> list[tuple[str, str]]:
        """Choose d-1 edges, one exponential-mechanism draw per edge (rho in total)."""
        names = ctx.domain.names
        independent = estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros)
        pairs = list(itertools.combinations(names, 2))
        weights = np.array([np.abs(x - independent.project(p).ravel()).sum()
                            for p, x in zip(pairs, ctx.answers(pairs))])
        epsilon = np.sqrt(8 * rho / (len(names) - 1))
        forest = nx.utils.UnionFind(names)
        chosen: list[tuple[str, str]] = []
        for step in range(len(names) - 1):
            open_idx = [i for i, (a, b) in enumerate(pairs) if forest[a] != forest[b]]
            pick = open_idx[ctx.select(f"mst edge {step + 1}", weights[open_idx], epsilon, 1.0)]
            a, b = pairs[pick]
            forest.union(a, b)
            chosen.append((a, b))
        return chosen
