"""MWEM+PGM: MWEM (Hardt, Ligett, McSherry, NeurIPS 2012) with Private-PGM inference.

Each of ``rounds`` rounds selects the workload marginal the current model
approximates worst with the exponential mechanism, measures it with the
Gaussian mechanism, and re-estimates the model from every measurement so far
with :func:`dpsynth.pgm.estimate` (warm-started from the previous round), in
place of MWEM's multiplicative-weights update over the full domain
(McKenna, Sheldon, Miklau, ICML 2019, and their ``mwem+pgm`` mechanism).

Budget in zCDP (``rho`` of the release, add/remove-one neighbouring): rho /
rounds per round, ``SELECT_SHARE`` (0.1) of it on the selection (epsilon =
sqrt(8 * 0.1 * rho / rounds)) and the rest on the measurement (sigma =
sqrt(rounds / (2 * 0.9 * rho)) counts per cell); the charges add up to rho.

Selection score of marginal r: ||M_r(D) - M_r(model)||_1 - sqrt(2/pi) sigma n_r,
the L1 error minus the expected L1 norm of the noise its measurement would
carry over its n_r cells (the public penalty of Private-PGM's implementation,
calibrated to the noise as in AIM). After round 1 the model is DP
post-processing, so the score moves by at most 1 when a record is added or
removed (one cell of M_r(D) by one). Round 1 compares with MWEM's starting
point, the uniform distribution at the true record count n: adding a record
moves M_r(D) - n u by e_x - u, of L1 norm 2 (1 - 1/n_r) < 2, so round 1 uses
sensitivity 2. Candidates must keep the junction tree under
``max_model_cells * t / rounds`` in round t (Private-PGM's rule; under
``max_model_cells`` when none does), or be covered by the model already.
With ``inference="auto"`` the size is the smaller of the junction tree's and
the region graph's (:func:`dpsynth.pgm.model_size`), so selection goes on past
the junction-tree limit with approximate inference (Relaxed Private-PGM).
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.pgm import ApproximateModel, Domain, GraphicalModel, estimate
from dpsynth.synthesizers.aim import (check_inference, check_rounds, check_workload, computable_marginals,
                                      expected_noise_l1, final_iterations, round_iterations, size_with)
from dpsynth.synthesizers.base import FitContext, Synthesizer

SELECT_SHARE = 0.1


class MWEM(Synthesizer):
    """MWEM with graphical-model estimation; see the module docstring for the budget split.

    Parameters (besides the base's)
    -------------------------------
    workload:
        Marginals (tuples of column names) to select from; default all 2-way marginals.
    rounds:
        Number of select-measure-estimate rounds (default: twice the number of
        columns; on Adult at epsilon 1 twice beat once, Private-PGM's default, and
        three times cost 5x the time for no gain).
    round_iters:
        Cap on the engine's warm-started iterations after each round, lowered on
        large models as in AIM (:func:`~dpsynth.synthesizers.aim.round_iterations`);
        the final estimate runs to convergence within AIM's work bound
        (:func:`~dpsynth.synthesizers.aim.final_iterations`).
    inference:
        ``"exact"`` (default: junction tree, candidates kept under
        ``max_model_cells``), ``"auto"`` (approximate inference once the
        junction tree would pass ``max_model_cells``, so selection keeps going;
        the model's region graph must fit instead) or ``"approx"`` (always
        approximate). Approximate models sample approximately (ancestral draw
        along the regions: :mod:`dpsynth.pgm.approx_model`).
    """

    method = "mwem"

    def __init__(self, epsilon: float = 1.0, delta: float = 1e-9, *, workload: Sequence[Sequence[str]] | None = None,
                 rounds: int | None = None, round_iters: int = 100, max_model_cells: int = 10**7,
                 inference: str = "exact", domain_share: float = 0.1, insecure_random_state: int | None = None,
                 verbose: bool = False):
        super().__init__(epsilon, delta, max_model_cells=max_model_cells, domain_share=domain_share,
                         insecure_random_state=insecure_random_state, verbose=verbose)
        self.workload = workload
        self.rounds = check_rounds(rounds)
        self.round_iters = round_iters
        self.inference = check_inference(inference)

    def _workload(self, names: tuple[str, ...]) -> list[tuple[str, ...]]:
        return list(itertools.combinations(names, 2)) if self.workload is None else check_workload(self.workload, names)

    def _check_schema(self, schema: Schema) -> None:
        workload = self._workload(tuple(schema.names))
        if not schema.learnable:  # a learned domain's sizes are known only inside the release
            self._uniform_model(Domain(schema.names, schema.sizes), workload, schema.zero_masks())

    def _uniform_model(self, domain: Domain, workload: list[tuple[str, ...]], zeros) -> GraphicalModel:
        """The uniform model the rounds start from (total 1; round 1 rescales it);
        InputError when no workload marginal fits beside it."""
        model = estimate(domain, [], total=1.0, zeros=zeros, inference=self.inference)
        if not admitted(workload, model, self.max_model_cells, self.max_model_cells, set(), self.inference):
            raise InputError(f"every workload marginal alone exceeds max_model_cells={self.max_model_cells:,}; "
                             "use smaller marginals or raise the limit")
        return model

    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel | ApproximateModel:
        names = ctx.domain.names
        workload = self._workload(names)
        rounds = int(self.rounds or 2 * len(names))
        sigma = np.sqrt(rounds / (2 * (1 - SELECT_SHARE) * rho))
        epsilon = np.sqrt(8 * SELECT_SHARE * rho / rounds)
        too_large: set = set()
        model = self._uniform_model(ctx.domain, workload, ctx.zeros)
        answers = dict(zip(workload, ctx.answers(workload)))  # ctx's cached int64 counts: no second copy
        self.selected_: list[tuple[str, ...]] = []
        for t in range(1, rounds + 1):
            candidates = admitted(workload, model, self.max_model_cells * t / rounds, self.max_model_cells,
                                  too_large, self.inference)
            marginals = dict(computable_marginals(model, candidates))
            pool, fitted = list(marginals), list(marginals.values())
            if t == 1:
                fitted = [f * answers[cl].sum() for cl, f in zip(pool, fitted)]
            scores = [np.abs(answers[cl] - f).sum() - expected_noise_l1(f.size, sigma) for cl, f in zip(pool, fitted)]
            clique = pool[ctx.select(f"mwem round {t}", np.array(scores), epsilon, 2.0 if t == 1 else 1.0)]
            ctx.measure(clique, 1 / (2 * sigma**2))
            self.selected_.append(clique)
            model = estimate(ctx.domain, ctx.measurements, warm_start=model, max_cells=self.max_model_cells,
                             max_iters=round_iterations(model, self.round_iters), zeros=ctx.zeros,
                             inference=self.inference)
            ctx.progress(f"MWEM round {t}: measured {', '.join(clique)}", t / rounds)
        return estimate(ctx.domain, ctx.measurements, warm_start=model, max_cells=self.max_model_cells,
                        max_iters=final_iterations(model), zeros=ctx.zeros, inference=self.inference)

    def _extra_metadata(self) -> dict:
        return {"rounds": len(self.selected_), "selected": [list(cl) for cl in self.selected_]}


def admitted(workload: list[tuple[str, ...]], model: GraphicalModel | ApproximateModel, size_limit: float,
             final_limit: float, too_large: set, inference: str = "exact") -> list[tuple[str, ...]]:
    """The round's pool under the model-size rule, every candidate sized once:
    those keeping the model within ``size_limit`` cells (or already covered),
    or within ``final_limit`` when none does. ``too_large`` collects candidates
    over ``final_limit``: the model only grows, so they are not sized again."""
    size = size_with(model, inference)
    cells = {cl: size(cl) for cl in workload if cl not in too_large}
    too_large.update(cl for cl, n in cells.items() if n > final_limit)
    return [cl for cl, n in cells.items() if n <= size_limit] or [cl for cl, n in cells.items() if n <= final_limit]
