"""Independent: every column sampled from its own noisy 1-way marginal.

The baseline and the cheapest test of the release path: the whole rho is split
evenly over the d one-way marginals (rho / d each, Gaussian mechanism).
"""
from __future__ import annotations

from dpsynth.pgm import GraphicalModel, estimate
from dpsynth.synthesizers.base import FitContext, Synthesizer


class Independent(Synthesizer):
    """Columns independent, each from a Gaussian-noised 1-way marginal."""

    method = "independent"

    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel:
        names = ctx.domain.names
        for attr in names:
            ctx.measure((attr,), rho / len(names))
        return estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros)
