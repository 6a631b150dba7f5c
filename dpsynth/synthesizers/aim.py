"""AIM (McKenna, Mullins, Sheldon, Miklau, VLDB 2022): adaptive and iterative.

Budget in zCDP: 1-way marginals first, then rounds of (select, measure). Each
round spends epsilon^2/8 on one exponential-mechanism selection (rho share
0.1) and 1/(2 sigma^2) on one Gaussian measurement (share 0.9), starting from
``rounds = 4 d`` equal rounds (:data:`ROUNDS_PER_COLUMN`). When a measurement changes the model by less
than its expected noise, the per-round budget is annealed (sigma halves,
epsilon doubles). The last round spends exactly what is left, so the charges
add up to the reserved rho.

Selection quality of candidate r (the paper's score): w_r (||M_r(D) - M_r(p)||_1
- sqrt(2/pi) sigma n_r), with w_r the workload overlap weight; its
sensitivity is max_r w_r. Candidates must keep the model under the size
guard, scaled by the fraction of budget used (the paper's rule); the rule is
checked on drawn candidates only, redrawing when one fails (the same
distribution as selecting among the admitted ones: see
:func:`dpsynth.mechanisms.exponential`), since sizing every candidate every
round dominated the fit on wide tables; with
``inference="auto"`` the guard measures the smaller of the junction tree and
the region graph (:func:`dpsynth.pgm.model_size`), so selection goes on past the
junction-tree limit with approximate inference.

Unlike MST, AIM does not merge rare values: its first 1-way measurements use the
per-round sigma, which is large (about 73 counts on Adult at epsilon 1), so a
3-sigma threshold would merge real values (measured: 3-way TVD 0.074 with
merging vs 0.070 without on Adult; 0.321 vs 0.268 on Titanic).
"""
from __future__ import annotations

import collections
import itertools
import math
from typing import Callable, Iterable, Sequence

import numpy as np

from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.pgm import INFERENCE, GraphicalModel, ModelTooLarge, estimate, model_sizer
from dpsynth.pgm.estimation import DEFAULT_MAX_ITERS
from dpsynth.synthesizers.base import FitContext, Synthesizer

SELECT_SHARE = 0.1
# Rounds per column the budget is first split into. The paper's 16 leaves the
# first one-way measurements 1/16 of the measurement budget, pure noise at low
# epsilon (AIM fell below Independent on titanic_aim at 0.1). 4 gives them a
# quarter, near MST's third. Against 16 (3-8 runs each, 3-way TVD, six
# datasets): lower on 8 of 12 (dataset, epsilon) pairs, e.g. Adult 0.0692 vs
# 0.0715 at epsilon 1 and 0.0363 vs 0.0381 at 10, titanic_aim 0.62 vs 0.78 at
# 0.1; level on 2; higher on Adult at 0.1 (0.172 vs 0.161) and nltcs at 1
# (0.0066 vs 0.0061). Fewer rounds also fit faster. 8 (10-50 runs each) is
# lower on Adult at 0.1 (0.161, and 0.157 with pairs only, vs 0.167) but higher
# at 1 (0.0716 vs 0.0691), on titanic_aim at 10 (0.138 vs 0.133) and nltcs at
# 0.1 (0.041 vs 0.038); what helps Adult at 0.1 is the finer budget steps of
# the adaptive rounds, not the smaller 1-way share (that share with 4's rounds:
# 0.168).
ROUNDS_PER_COLUMN = 4
ROUND_WORK = 5 * 10**7   # cell-iterations a round's warm-started estimate may spend
MIN_ROUND_ITERS = 10
FINAL_WORK = 10**9       # cell-iterations the final estimate may spend on a large model
MIN_FINAL_ITERS = 100
MAX_DEFAULT_TRIPLES = 5000  # 3-way marginals in the default workload, at most (32 columns: 4,960)


class AIM(Synthesizer):
    """Adaptive and iterative mechanism.

    Parameters (besides the base's)
    -------------------------------
    workload:
        Marginals (tuples of column names) the release should preserve; default
        :func:`default_workload` (all 2-way, and all 3-way up to 32 columns).
    rounds:
        Initial number of rounds that the budget is split into (default
        ``ROUNDS_PER_COLUMN`` d = 4 d; the paper uses 16 d).
    round_iters:
        Cap on the engine's warm-started iterations after each round, lowered on
        large models so a round spends about ``ROUND_WORK`` cell-iterations
        (:func:`round_iterations`); the final estimate runs to convergence, within
        ``FINAL_WORK`` cell-iterations on large models (:func:`final_iterations`).
    confidence:
        Level of the per-query error bounds reported in the release metadata.
    inference:
        ``"exact"`` (default: junction tree, candidates kept under
        ``max_model_cells``), ``"auto"`` (approximate region-graph inference once
        the junction tree would pass ``max_model_cells``, so selection keeps
        going) or ``"approx"`` (always approximate); see
        :mod:`dpsynth.pgm.approx_model` for how approximate models sample.
    """

    method = "aim"

    def __init__(self, epsilon: float = 1.0, delta: float = 1e-9, *, workload: Sequence[Sequence[str]] | None = None,
                 rounds: int | None = None, round_iters: int = 100, confidence: float = 0.95,
                 max_model_cells: int = 10**7, inference: str = "exact",
                 domain_share: float = 0.1, insecure_random_state: int | None = None, verbose: bool = False):
        super().__init__(epsilon, delta, max_model_cells=max_model_cells, domain_share=domain_share,
                         insecure_random_state=insecure_random_state, verbose=verbose)
        self.inference = check_inference(inference)
        self.workload = workload
        self.rounds = check_rounds(rounds)
        self.round_iters = round_iters
        self.confidence = confidence

    def _workload(self, names: tuple[str, ...]) -> list[tuple[str, ...]]:
        return default_workload(names) if self.workload is None else check_workload(self.workload, names)

    def _rounds(self, names: tuple[str, ...]) -> int:
        rounds = self.rounds or ROUNDS_PER_COLUMN * len(names)
        if rounds < len(names):  # the 1-way phase alone would spend more than rho
            raise InputError(f"rounds={rounds} is fewer than the {len(names)} columns: AIM first spends one round "
                             f"on each column's 1-way marginal; use rounds >= {len(names)} or leave it unset")
        return rounds

    def _check_schema(self, schema: Schema) -> None:
        self._workload(tuple(schema.names))
        self._rounds(tuple(schema.names))

    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel:
        names = ctx.domain.names
        workload = self._workload(names)
        candidates = candidate_weights(workload)
        rounds = self._rounds(names)
        sigma = np.sqrt(rounds / (2 * (1 - SELECT_SHARE) * rho))
        epsilon = np.sqrt(8 * SELECT_SHARE * rho / rounds)

        oneway_rho = 1 / (2 * sigma**2)
        for a in names:  # no domain compression: at AIM's per-round sigma it would merge real values
            ctx.measure((a,), oneway_rho)
        used = oneway_rho * len(names)
        answers = dict(zip(candidates, ctx.answers(list(candidates))))  # ctx's cached int64 counts: no second copy
        model = estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells, zeros=ctx.zeros,
                         inference=self.inference)
        ctx.progress(f"AIM: measured {len(names)} one-way marginals", used / rho)

        self.rounds_ = 0
        last: dict = {}
        sized: dict = {}  # components already sized, round to round
        while rho - used > 1e-15 * rho:
            self.rounds_ += 1
            if rho - used < 2 * (1 / (2 * sigma**2) + epsilon**2 / 8):
                remaining = rho - used
                sigma = np.sqrt(1 / (2 * (1 - SELECT_SHARE) * remaining))
                epsilon = np.sqrt(8 * SELECT_SHARE * remaining)
            used += 1 / (2 * sigma**2) + epsilon**2 / 8
            fits = size_rule(model, self.max_model_cells * used / rho, self.inference, sized)
            cl, pool = self._worst_approximated(ctx, candidates, answers, model, epsilon, sigma, fits)
            before = model.project(cl).ravel()
            y = ctx.measure(cl, 1 / (2 * sigma**2)).values
            last = {"model": model, "pool": pool, "fits": fits, "clique": cl, "epsilon": epsilon, "sigma": sigma,
                    "y": y}
            model = estimate(ctx.domain, ctx.measurements, warm_start=model, max_cells=self.max_model_cells,
                             max_iters=round_iterations(model, self.round_iters), zeros=ctx.zeros,
                             inference=self.inference)
            ctx.progress(f"AIM round {self.rounds_}: measured {', '.join(cl)}", used / rho)
            after = model.project(cl).ravel()
            if np.abs(after - before).sum() <= expected_noise_l1(after.size, sigma):
                sigma, epsilon = sigma / 2, epsilon * 2
        del answers
        ctx.forget_answers()  # the final estimate needs no exact counts: free them before it
        ctx.progress(f"AIM: final estimate from {len(ctx.measurements)} measurements", 1.0)
        model = estimate(ctx.domain, ctx.measurements, warm_start=model, max_cells=self.max_model_cells,
                         max_iters=final_iterations(model), zeros=ctx.zeros, inference=self.inference)
        self.error_bounds_ = error_bounds(workload, candidates, ctx.measurements, model, last, self.confidence)
        return model

    def _extra_metadata(self) -> dict:
        return {"rounds": self.rounds_, "confidence": self.confidence, "workload_error_bounds": self.error_bounds_}

    def _worst_approximated(self, ctx: FitContext, candidates: dict, answers: dict, model: GraphicalModel,
                            epsilon: float, sigma: float,
                            fits: Callable[[tuple[str, ...]], bool]) -> tuple[tuple[str, ...], dict]:
        """The exponential mechanism's choice among the candidates that ``fits``
        admits (:func:`size_rule`, checked only on the candidates drawn), and
        the pool it drew from: the candidates whose marginal under the model
        can be computed (:class:`ModelTooLarge` rules one out). Both tests
        depend on the model only, which is DP output, so the pool and the
        admitted set stay data-independent."""
        # one projection at a time: together they are as large as the answers
        err = {cl: np.abs(answers[cl] - fitted).sum() for cl, fitted in computable_marginals(model, candidates)}
        pool = {cl: candidates[cl] for cl in err}
        cliques = list(pool)
        wgt = np.array([pool[cl] for cl in cliques], dtype=float)
        bias = np.array([expected_noise_l1(answers[cl].size, sigma) for cl in cliques])
        scores = wgt * (np.array([err[cl] for cl in cliques]) - bias)
        choice = ctx.select(f"aim round {self.rounds_}", scores, epsilon, float(wgt.max()),
                            admissible=lambda i: fits(cliques[i]))
        return cliques[choice], pool


def computable_marginals(model: GraphicalModel, cliques: Iterable[tuple[str, ...]]):
    """``(clique, the model's marginal on it, flattened)`` for each clique whose
    marginal the model can compute, one at a time; :class:`ModelTooLarge` (an
    elimination step past the limit) leaves a clique out."""
    for cl in cliques:
        try:
            yield cl, model.project(cl).ravel()
        except ModelTooLarge:
            continue


def default_workload(names: Sequence[str]) -> list[tuple[str, ...]]:
    """Every 2-way marginal, and every 3-way one while there are at most
    ``MAX_DEFAULT_TRIPLES`` (up to 32 columns).

    Each round scores the workload's whole downward closure through the model,
    so the triples set the cost of a round past a few dozen columns: on
    diabetes130 (48 columns, 17,296 triples) a round took over a minute once the
    model passed 200,000 cells and AIM ran past 30 minutes at epsilon 1; with
    pairs only it finishes in minutes. Private-PGM's and dpmm's AIM default to
    pairs on every table. On Adult (14 columns, 4 rounds per column) the triples
    neither help nor hurt at epsilon 0.1 and 1 (3-way TVD with pairs only 0.166
    and 0.0687 over 5 runs, against 0.167 and 0.0691) and help at 10 (0.0400
    over 3 runs, against 0.0365).
    """
    pairs = list(itertools.combinations(names, 2))
    if math.comb(len(names), 3) > MAX_DEFAULT_TRIPLES:
        return pairs
    return pairs + list(itertools.combinations(names, 3))


def downward_closure(cliques: Iterable[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Every non-empty subset of every clique (as sorted-by-first-appearance tuples)."""
    out = set()
    for cl in cliques:
        for k in range(1, len(cl) + 1):
            out.update(itertools.combinations(cl, k))
    return out


def candidate_weights(workload: list[tuple[str, ...]]) -> dict[tuple[str, ...], float]:
    """AIM's candidates: the workload's downward closure, each weighted by its
    overlap with the workload, ``sum over w of |cl & w|``. That sum is, attribute
    by attribute, how many workload sets hold each attribute of ``cl``: linear in
    the candidates, where the pairwise sum is quadratic (about 5 minutes at 48 columns)."""
    holding = collections.Counter(a for w in workload for a in set(w))
    return {cl: float(sum(holding[a] for a in cl)) for cl in sorted(downward_closure(workload))}


def size_rule(model: GraphicalModel, size_limit: float, inference: str = "exact",
              memo: dict | None = None) -> Callable[[tuple[str, ...]], bool]:
    """AIM's model-size rule as a test of one candidate: already covered by a
    measured clique, or the model with it within ``size_limit`` cells (its size
    for ``inference``: :func:`dpsynth.pgm.model_size`). ``memo`` carries sized
    components from call to call (:func:`dpsynth.pgm.model_sizer`)."""
    size = size_with(model, inference, memo)
    return lambda cl: size(cl) <= size_limit


def size_with(model: GraphicalModel, inference: str = "exact",
              memo: dict | None = None) -> Callable[[tuple[str, ...]], int]:
    """Cells of the model with candidate ``cl`` added; 0 when a measured clique
    already covers ``cl`` (measuring it again does not grow the model)."""
    covered = downward_closure(model.cliques)
    size = model_sizer(model.domain, list(model.cliques) + [z for z, _ in model.zeros], inference, memo)
    return lambda cl: 0 if cl in covered else size(cl)


def check_workload(workload: Sequence[Sequence[str]], names: Sequence[str]) -> list[tuple[str, ...]]:
    """The workload's marginals, each once, or InputError (before any budget is reserved):
    the workload must be non-empty, and each marginal non-empty, of schema columns, each named once."""
    cliques = list(dict.fromkeys(tuple(cl) for cl in workload))
    unknown = sorted({a for cl in cliques for a in cl} - set(names))
    if unknown:
        raise InputError(f"workload names unknown columns {unknown}; use columns of the schema")
    repeated = [cl for cl in cliques if len(set(cl)) != len(cl)]
    if not cliques or not all(cliques) or repeated:
        raise InputError(f"workload must be non-empty marginals, each naming a column once (got {repeated or cliques})")
    return cliques


def check_rounds(rounds: int | None) -> int | None:
    """``rounds`` if it is None (the method's default) or an integer >= 1, else InputError."""
    if rounds is not None and (int(rounds) != rounds or rounds < 1):
        raise InputError(f"rounds must be an integer >= 1 or None, got {rounds!r}")
    return rounds


def check_inference(inference: str) -> str:
    """``inference`` if it is one the engine knows (:data:`dpsynth.pgm.INFERENCE`), else InputError."""
    if inference not in INFERENCE:
        raise InputError(f"inference must be one of {', '.join(INFERENCE)}, got {inference!r}")
    return inference


def _cells(model: GraphicalModel) -> int:
    return max(1, sum(int(np.size(m)) for m in model.marginals))


def round_iterations(model: GraphicalModel, cap: int) -> int:
    """Warm-started iterations for a round's estimate: ``cap`` on small models,
    fewer on large ones so a round costs about ``ROUND_WORK`` cell-iterations,
    but at least ``MIN_ROUND_ITERS``. Rounds only steer selection. (On Adult at
    epsilon 10 the junction tree grows past 5M cells, where 100 iterations took
    40 s a round.)"""
    return int(max(MIN_ROUND_ITERS, min(cap, ROUND_WORK // _cells(model))))


def final_iterations(model: GraphicalModel) -> int:
    """Iteration cap of the final estimate, warm-started from the last round's model: :func:`work_iterations`."""
    return work_iterations(_cells(model))


def work_iterations(cells: int) -> int:
    """Iteration cap of a final estimate on a model of ``cells`` cells: the engine's own (it stops
    on convergence) up to ``FINAL_WORK / DEFAULT_MAX_ITERS`` cells, about ``FINAL_WORK``
    cell-iterations beyond."""
    return int(min(DEFAULT_MAX_ITERS["mirror"], max(MIN_FINAL_ITERS, FINAL_WORK // max(1, cells))))


def expected_noise_l1(n_cells: int, sigma: float) -> float:
    """E||z||_1 for z ~ N(0, sigma^2 I_n): sqrt(2/pi) sigma n, the noise an L1 error
    of a measured marginal carries on average (AIM's score bias and annealing test)."""
    return np.sqrt(2 / np.pi) * sigma * n_cells


def gaussian_l1_bound(n_cells: int, sigma: float, failure: float) -> float:
    """Upper bound on ||z||_1, z ~ N(0, sigma^2 I_n), holding with probability 1 - failure.

    E||z||_1 = n sigma sqrt(2/pi), and ||.||_1 is sqrt(n)-Lipschitz in L2, so by
    Gaussian concentration P(||z||_1 > E + sigma sqrt(2 n ln(1/failure))) <= failure.
    """
    return expected_noise_l1(n_cells, sigma) + sigma * np.sqrt(2 * n_cells * np.log(1 / failure))


def error_bounds(workload, candidates, measurements, model, last, confidence) -> list[dict]:
    """AIM section 5: a (1 - lambda) bound on each workload query's L1 error, from DP quantities only.

    Supported query r (inside a measured clique): combine the measurements that
    contain r by inverse variance into y_r with per-cell noise sigma_r; then
    ||M_r(D) - M_r(p)||_1 <= ||y_r - M_r(p)||_1 + gaussian_l1_bound(n_r, sigma_r).
    Unsupported query: the last round's exponential mechanism chose r_t over
    every candidate r in its pool, so (utility theorem of the exponential
    mechanism, failure lambda/2) w_r (e_r - b_r) <= w_t (e_t - b_t) + 2 Delta /
    epsilon ln(2 |pool| / lambda), with e = L1 error of the previous model, b =
    sqrt(2/pi) sigma n; e_t is bounded through the noisy measurement y_t (failure
    lambda/2); add the change from the previous model to the final one.
    Delta is the maximum weight over the scored pool and |pool| its size (at
    least the admitted set's, so the slack stays valid for the mechanism
    restricted to admitted candidates). Queries the last round did not admit
    get no bound (``None``), nor do queries whose
    exact marginal under the model is too large to compute (:class:`ModelTooLarge`
    from variable elimination). Bounds are on the model's cells.
    """
    lam = 1 - confidence
    quality_bound = None
    out = []
    for r in workload:
        try:
            fitted = model.project(r).ravel()
            bound, kind = _supported_bound(r, measurements, model, fitted, lam), "supported"
            if bound is None and last and r in last["pool"] and last["fits"](r):
                if quality_bound is None:
                    quality_bound = _selected_quality_bound(last, lam)
                bound, kind = _unsupported_bound(r, candidates, fitted, last, quality_bound), "unsupported"
        except ModelTooLarge:  # no exact marginal of the model within its size guard
            bound = None
        out.append({"marginal": list(r), "kind": kind if bound is not None else "none",
                    "l1_bound": bound, "tvd_bound": None if bound is None else tvd_bound(bound, float(model.total))})
    return out


def tvd_bound(l1_bound: float, model_total: float) -> float:
    """A bound on the TVD between the data's and the model's normalised marginals, from a
    bound B on the L1 distance of their counts: the totals differ by at most B too, so
    ||D/n - p/n_hat||_1 <= (|n - n_hat| + B) / n_hat <= 2 B / n_hat, and the TVD, half of
    it, is at most B / n_hat (B / (2 n_hat) understated it up to twofold)."""
    return min(1.0, l1_bound / model_total) if model_total > 0 else 1.0


def _supported_bound(r, measurements, model, fitted, lam):
    parts = []
    for m in measurements:
        if set(r) <= set(m.clique):
            axes = tuple(i for i, a in enumerate(m.clique) if a not in r)
            sizes = list(model.domain.shape(m.clique))
            folded = np.asarray(m.values).reshape(sizes).sum(axis=axes)
            keep = [a for a in m.clique if a in r]
            folded = np.transpose(folded, [keep.index(a) for a in r]).ravel()
            cells_per = int(np.prod(sizes)) // folded.size
            parts.append((folded, float(np.max(m.sigma)) ** 2 * cells_per))
    if not parts:
        return None
    precision = sum(1 / var for _, var in parts)
    y = sum(v / var for v, var in parts) / precision
    return float(np.abs(y - fitted).sum() + gaussian_l1_bound(fitted.size, np.sqrt(1 / precision), lam))


def _selected_quality_bound(last: dict, lam: float) -> float:
    """The bound every pool candidate r's quality w_r (e_r - b_r) obeys after
    the last round's selection: w_t (e_t - b_t) + 2 Delta / epsilon ln(2 |pool| / lambda),
    with e_t bounded through the noisy measurement y_t (:func:`error_bounds`).
    The same for every r, so it is computed once."""
    sigma, epsilon, pool, t = last["sigma"], last["epsilon"], last["pool"], last["clique"]
    prev_t = last["model"].project(t).ravel()
    e_t = np.abs(last["y"] - prev_t).sum() + gaussian_l1_bound(prev_t.size, sigma, lam / 2)
    q_t = pool[t] * (e_t - expected_noise_l1(prev_t.size, sigma))
    return float(q_t + 2 * max(pool.values()) / epsilon * np.log(2 * len(pool) / lam))


def _unsupported_bound(r, candidates, fitted, last, quality_bound):
    prev_r = last["model"].project(r).ravel()
    e_r = quality_bound / candidates[r] + expected_noise_l1(prev_r.size, last["sigma"])
    return float(e_r + np.abs(prev_r - fitted).sum())
