"""Empirical differential-privacy audit of a synthesizer with a canary record.

A lower bound on the epsilon a synthesizer actually provides, by the canary
method of Jagielski, Ullman & Oprea (NeurIPS 2020) as applied to synthetic data
by Annamalai, Ganev & De Cristofaro (USENIX Security 2024):

1. A small public design: a table D whose columns use every category but one,
   and a neighbour D' = D + one canary record made of the unused categories, so
   the canary sits alone in otherwise empty cells of every marginal (the worst
   case for marginal-based synthesizers under add/remove-one neighbouring).
2. The synthesizer is fitted ``runs`` times on D and ``runs`` times on D'
   (independent seeds; the seeded research RNG is fine here because the audit
   measures the algorithm, not a release).
3. Each fit is scored by distinguishing statistics computed from its output
   (the fitted model's count of the canary's cell, the sum of its counts of the
   canary's values, the number of sampled synthetic records equal to the canary).
4. The runs are split in two halves. On the first, the statistic, the direction
   and the threshold with the best bound are chosen; on the second (independent
   of that choice, so the bound stays valid) the test's false-positive rate
   (guessing D' on a run on D) and false-negative rate get one-sided
   Clopper-Pearson upper bounds, each at level ``1 - (1 - confidence) / 2``.
5. Any (epsilon, delta)-DP algorithm satisfies FPR + e^eps FNR >= 1 - delta and
   FNR + e^eps FPR >= 1 - delta for every test, so with probability at least
   ``confidence``

       eps >= max(log((1 - delta - FNR_up) / FPR_up), log((1 - delta - FPR_up) / FNR_up)).

``violation`` is true when this lower bound exceeds the claimed epsilon. With
``runs`` runs per world, no audit can show more than ``max_detectable_epsilon``
(the bound at perfect separation): a zero lower bound means "no evidence
against the claim", not a proof of privacy.
"""
from __future__ import annotations

import math
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.stats import beta

from dpsynth.accounting import NEIGHBOURING, InsecureRNGWarning
from dpsynth.attacks.stats import check_confidence, check_seed
from dpsynth.domain import Categorical, Schema
from dpsynth.errors import InputError

#: Statistic name -> what it measures, in report order; ``model_value[C]`` exists for every column C.
STATISTICS: dict[str, str] = {
    "model_cell": "the fitted model's count of the canary's full cell (all columns jointly)",
    "model_values": "sum over columns of the fitted model's count of the canary's value",
    "model_value[C]": "the fitted model's count of the canary's value in column C",
    "synthetic_matches": "number of sampled synthetic records equal to the canary",
    "synthetic_values": "number of canary values among the sampled synthetic records (all columns)",
}
CANARY_VALUE = "canary"
MIN_RUNS = 10
#: Largest number of cells of the design's full joint (the model_cell statistic projects onto it).
MAX_DESIGN_CELLS = 10**5

#: ``factory(epsilon=..., delta=..., insecure_random_state=...)`` returns an unfitted synthesizer
#: (a :class:`dpsynth.synthesizers.Synthesizer` subclass itself qualifies).
SynthFactory = Callable[..., Any]


@dataclass(frozen=True)
class CanaryDesign:
    """The audit's public table D, its canary record and their schema."""

    data: pd.DataFrame
    canary: pd.DataFrame
    schema: Schema
    seed: int

    @property
    def neighbour(self) -> pd.DataFrame:
        """D' = D plus the canary (add/remove-one neighbours)."""
        return pd.concat([self.data, self.canary], ignore_index=True)

    def describe(self) -> dict:
        return {"rows": int(len(self.data)), "columns": list(self.schema.names),
                "values_per_column": [int(s) for s in self.schema.sizes],
                "canary": {k: str(v) for k, v in self.canary.iloc[0].items()},
                "layout": "D uses every category except 'canary'; D' = D + one record of 'canary' in every column",
                "seed": self.seed}


def describe_statistic(name: str) -> str:
    """What statistic ``name`` (a key of :data:`STATISTICS`, or ``model_value[<column>]``) measures."""
    if name.startswith("model_value[") and name not in STATISTICS:
        return STATISTICS["model_value[C]"].replace("column C", f"column {name[12:-1]}")
    return STATISTICS.get(name, f"caller-supplied statistic {name!r}")


def canary_design(rows: int = 300, columns: int = 3, values: int = 4, seed: int = 0) -> CanaryDesign:
    """D: ``rows`` records of ``columns`` categorical columns, uniform over ``values - 1`` categories;
    the canary takes the remaining category (``"canary"``) in every column."""
    seed = check_seed(seed)
    if rows < 10 or columns < 1 or values < 2:
        raise InputError(f"the canary design needs rows >= 10, columns >= 1 and values >= 2; "
                         f"got rows={rows}, columns={columns}, values={values}")
    if values**columns > MAX_DESIGN_CELLS:
        raise InputError(f"the canary design has {values}^{columns} cells, more than {MAX_DESIGN_CELLS}; "
                         f"use fewer columns or values")
    rng = np.random.default_rng(seed)
    names = [f"c{j}" for j in range(columns)]
    cats = [f"v{i}" for i in range(values - 1)]
    data = pd.DataFrame({c: rng.choice(cats, size=rows) for c in names})
    canary = pd.DataFrame({c: [CANARY_VALUE] for c in names})
    schema = Schema([Categorical(c, cats + [CANARY_VALUE]) for c in names])
    return CanaryDesign(data, canary, schema, seed)


# ----------------------------------------------------------------------------- scoring one fit

def canary_scores(synth: Any, canary_codes: np.ndarray, n_synthetic: int, seed: int) -> dict[str, float]:
    """The distinguishing statistics of one fitted synthesizer (post-processing of its DP output).

    The model statistics read ``synth.model_`` (and ``synth.compression_``, whose
    merged cells are expanded uniformly, as sampling does); synthesizers without
    a graphical model get only the ``synthetic_*`` statistics.
    """
    out: dict[str, float] = {}
    model = getattr(synth, "model_", None)
    if model is not None:
        names = model.domain.names
        comp = getattr(synth, "compression_", None)
        codes, share = list(canary_codes), np.ones(len(names))
        if comp is not None:
            tables = comp.tables()
            for j, a in enumerate(names):
                keep = comp.keep[a]
                if not keep[codes[j]]:
                    share[j] = 1.0 / float((~keep).sum())
                codes[j] = int(tables[j][codes[j]])
        values = [float(model.project((a,)).ravel()[codes[j]]) * share[j] for j, a in enumerate(names)]
        out["model_cell"] = float(model.project(names)[tuple(codes)] * np.prod(share))
        out["model_values"] = float(np.sum(values))
        out.update({f"model_value[{a}]": v for a, v in zip(names, values)})
    rows = synth.sample(n_synthetic, random_state=seed)
    enc = synth.schema_.encode(rows) if len(rows) else np.zeros((0, len(canary_codes)), dtype=np.int64)
    hits = enc == canary_codes[None, :]
    out["synthetic_matches"] = float(np.all(hits, axis=1).sum())
    out["synthetic_values"] = float(hits.sum())
    return out


def _fit_and_score(factory: SynthFactory, epsilon: float, delta: float, design: CanaryDesign,
                   with_canary: bool, seed: int, n_synthetic: int) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRNGWarning)
        warnings.filterwarnings("ignore", message="INSECURE research RNG")
        synth = factory(epsilon=epsilon, delta=delta, insecure_random_state=seed)
        data = design.neighbour if with_canary else design.data
        synth.fit(data, design.schema)
    canary_codes = design.schema.encode(design.canary)[0].astype(np.int64)
    return canary_scores(synth, canary_codes, n_synthetic, seed)


def _run_block(factory: SynthFactory, epsilon: float, delta: float, design: CanaryDesign,
               run_ids: list[int], seed: int, n_synthetic: int) -> list[tuple[int, dict, dict]]:
    """Runs ``run_ids``: per run one fit on D and one on D', with distinct seeds."""
    out = []
    for i in run_ids:
        s0, s1 = seed + 2 * i, seed + 2 * i + 1
        out.append((i, _fit_and_score(factory, epsilon, delta, design, False, s0, n_synthetic),
                    _fit_and_score(factory, epsilon, delta, design, True, s1, n_synthetic)))
    return out


# ----------------------------------------------------------------------------- the bound

def clopper_pearson_upper(k: np.ndarray | int, n: int, alpha: float) -> np.ndarray:
    """One-sided upper confidence bound (level 1 - alpha) for a binomial rate with k successes in n."""
    k = np.asarray(k, dtype=float)
    with np.errstate(invalid="ignore"):
        upper = beta.ppf(1.0 - alpha, k + 1.0, n - k)
    return np.where(k >= n, 1.0, upper)


def epsilon_bound(false_pos: np.ndarray | int, n_neg: int, false_neg: np.ndarray | int, n_pos: int,
                  delta: float, confidence: float) -> np.ndarray:
    """Lower confidence bound on epsilon from a test's error counts (0 where there is no evidence).

    ``false_pos`` of ``n_neg`` runs without the canary were called "with";
    ``false_neg`` of ``n_pos`` runs with the canary were called "without". Each rate
    gets a Clopper-Pearson upper bound at ``1 - (1 - confidence) / 2``, so the
    bound holds with probability at least ``confidence``.
    """
    alpha = (1.0 - confidence) / 2.0
    fpr = clopper_pearson_upper(false_pos, n_neg, alpha)
    fnr = clopper_pearson_upper(false_neg, n_pos, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(1.0 - delta - fnr, 0.0) / fpr)
        b = np.log(np.maximum(1.0 - delta - fpr, 0.0) / fnr)
    return np.maximum(np.nan_to_num(np.maximum(a, b), nan=0.0, neginf=0.0), 0.0)


def _errors(without: np.ndarray, with_: np.ndarray, thresholds: np.ndarray,
            direction: int) -> tuple[np.ndarray, np.ndarray]:
    """False positives and negatives of "call 'with canary' when direction * score > direction * t"."""
    w0, w1 = np.sort(direction * without), np.sort(direction * with_)
    t = direction * thresholds
    fp = w0.size - np.searchsorted(w0, t, side="right")   # runs on D scored above t
    fn = np.searchsorted(w1, t, side="right")             # runs on D' scored at or below t
    return fp, fn


def _best_test(scores0: dict[str, np.ndarray], scores1: dict[str, np.ndarray], delta: float,
               confidence: float) -> tuple[str, int, float, dict[str, float]]:
    """The (statistic, direction, threshold) with the best bound on these runs.

    Ties (e.g. every bound 0 when the runs show no evidence) go to the test with
    the largest empirical advantage TPR - FPR.
    """
    best, per_stat = None, {}
    for name in scores0:
        x0, x1 = scores0[name], scores1[name]
        cuts = np.unique(np.concatenate([x0, x1]))
        # midpoints between observed values, plus one below and one above them all
        thresholds = np.concatenate([[cuts[0] - 1.0], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1.0]])
        per_stat[name] = 0.0
        for direction in (1, -1):
            fp, fn = _errors(x0, x1, thresholds, direction)
            bounds = epsilon_bound(fp, x0.size, fn, x1.size, delta, confidence)
            advantage = 1.0 - fp / x0.size - fn / x1.size
            k = int(np.lexsort((advantage, bounds))[-1])
            per_stat[name] = max(per_stat[name], float(bounds[k]))
            candidate = (float(bounds[k]), float(advantage[k]), name, direction, float(thresholds[k]))
            if best is None or candidate[:2] > best[:2]:
                best = candidate
    assert best is not None
    return best[2], best[3], best[4], per_stat


def max_detectable(runs: int, delta: float, confidence: float, selection_fraction: float = 0.5) -> float:
    """The largest epsilon lower bound any test can give with ``runs`` per world (perfect separation
    on the evaluation runs): the ceiling of an audit of this size."""
    n_eval = runs - selection_size(runs, selection_fraction)
    return float(epsilon_bound(0, n_eval, 0, n_eval, delta, confidence))


def runs_needed(epsilon: float, delta: float, confidence: float, selection_fraction: float = 0.5,
                limit: int = 10**8) -> int | None:
    """The fewest runs per world whose :func:`max_detectable` exceeds ``epsilon`` (None past ``limit``)."""
    def enough(r: int) -> bool:
        return max_detectable(r, delta, confidence, selection_fraction) > epsilon
    hi = MIN_RUNS
    while not enough(hi):
        if hi > limit:
            return None
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:   # enough(hi) holds, enough(lo) does not (or lo is below MIN_RUNS)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def verdict(result: dict) -> str:
    """``"violation"`` (the bound exceeds the claim), ``"inconclusive"`` (too few runs for any
    bound to exceed it: no violation could have been found) or ``"no violation"``."""
    if result["violation"]:
        return "violation"
    return "no violation" if result["max_detectable_epsilon"] > result["epsilon_claimed"] else "inconclusive"


def selection_size(runs: int, selection_fraction: float) -> int:
    """How many of ``runs`` choose the test (the rest bound epsilon); InputError unless both parts are non-empty."""
    if not 0 < float(selection_fraction) < 1:
        raise InputError(f"selection_fraction must be in (0, 1), got {selection_fraction}")
    n_sel = int(round(selection_fraction * runs))
    if not 1 <= n_sel < runs:
        raise InputError(f"cannot split {runs} runs into a selection and an evaluation part; use more runs")
    return n_sel


def bound_from_scores(without: dict[str, np.ndarray], with_: dict[str, np.ndarray], epsilon: float,
                      delta: float, confidence: float = 0.95, selection_fraction: float = 0.5) -> dict:
    """Choose the test on the first ``selection_fraction`` of the runs, bound epsilon on the rest.

    ``without[name][i]`` / ``with_[name][i]`` are statistic ``name`` of run i on D / D'.
    """
    confidence = check_confidence(confidence)
    n = len(next(iter(without.values())))
    n_sel = selection_size(n, selection_fraction)
    sel0 = {k: np.asarray(v[:n_sel], dtype=float) for k, v in without.items()}
    sel1 = {k: np.asarray(v[:n_sel], dtype=float) for k, v in with_.items()}
    name, direction, threshold, per_stat = _best_test(sel0, sel1, delta, confidence)
    x0 = np.asarray(without[name][n_sel:], dtype=float)
    x1 = np.asarray(with_[name][n_sel:], dtype=float)
    fp, fn = (int(v[0]) for v in _errors(x0, x1, np.array([threshold]), direction))
    lb = float(epsilon_bound(fp, x0.size, fn, x1.size, delta, confidence))
    alpha = (1.0 - confidence) / 2.0
    return {
        "epsilon_claimed": float(epsilon),
        "delta": float(delta),
        "epsilon_lower_bound": lb,
        "violation": bool(lb > epsilon),
        "confidence": confidence,
        "max_detectable_epsilon": max_detectable(n, delta, confidence, selection_fraction),
        "runs": int(n),
        "runs_selection": n_sel,
        "runs_evaluation": int(n - n_sel),
        "statistic": {
            "name": name,
            "description": describe_statistic(name),
            "rule": f"guess 'canary present' when the statistic is {'above' if direction > 0 else 'below'} "
                    "the threshold",
            "direction": "above" if direction > 0 else "below",
            "threshold": threshold,
            "false_positives": fp,
            "false_negatives": fn,
            "fpr": fp / x0.size,
            "fnr": fn / x1.size,
            "fpr_upper": float(clopper_pearson_upper(fp, x0.size, alpha)),
            "fnr_upper": float(clopper_pearson_upper(fn, x1.size, alpha)),
            "interval": f"one-sided Clopper-Pearson at {1 - alpha:.4g} each (union bound: {confidence:.4g} jointly)",
            "scores_without_canary": x0.tolist(),
            "scores_with_canary": x1.tolist(),
        },
        "selection_scores": per_stat,
        "selection_note": "best bound per statistic over every threshold on the selection runs: how the test was "
                          "chosen, not epsilon lower bounds (the maximum over thresholds is not corrected)",
    }


# ----------------------------------------------------------------------------- the audit

def audit(synth_factory: SynthFactory, epsilon: float, delta: float = 1e-9, runs: int = 200, *,
          workers: int = 1, confidence: float = 0.95, seed: int = 0, design: CanaryDesign | None = None,
          n_synthetic: int | None = None, selection_fraction: float = 0.5, name: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> dict:
    """Audit ``synth_factory`` at (epsilon, delta): ``runs`` fits on D and ``runs`` on D'.

    ``synth_factory(epsilon=, delta=, insecure_random_state=)`` returns an unfitted
    synthesizer (a Synthesizer class qualifies); ``workers`` processes share the
    runs (the factory must be picklable then). ``n_synthetic`` synthetic rows are
    sampled per fit for the black-box statistics (default: as many as D has, like a release).
    Returns the JSON-ready result of :func:`bound_from_scores` plus the design,
    timing and notes. No real data is read and nothing is charged to any ledger.
    """
    confidence = check_confidence(confidence)
    seed = check_seed(seed)
    if int(runs) < MIN_RUNS:
        raise InputError(f"runs must be at least {MIN_RUNS}, got {runs}")
    if int(workers) < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if not 0 < float(epsilon) or not math.isfinite(float(epsilon)):
        raise InputError(f"epsilon must be a finite number > 0, got {epsilon}")
    if not 0 < float(delta) < 1:
        raise InputError(f"delta must be in (0, 1), got {delta}")
    runs, workers = int(runs), int(workers)
    selection_size(runs, selection_fraction)  # before the fits, not after them
    design = design or canary_design(seed=seed)
    n_synthetic = len(design.data) if n_synthetic is None else int(n_synthetic)
    start = time.perf_counter()
    results: dict[int, tuple[dict, dict]] = {}
    if workers == 1:
        for i in range(runs):
            for j, s0, s1 in _run_block(synth_factory, epsilon, delta, design, [i], seed, n_synthetic):
                results[j] = (s0, s1)
            if progress:
                progress(len(results), runs)
    else:
        blocks = [list(b) for b in np.array_split(np.arange(runs), min(runs, 8 * workers)) if len(b)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_block, synth_factory, epsilon, delta, design, [int(i) for i in b],
                                   seed, n_synthetic) for b in blocks]
            for fut in as_completed(futures):
                for j, s0, s1 in fut.result():
                    results[j] = (s0, s1)
                if progress:
                    progress(len(results), runs)
    seconds = time.perf_counter() - start
    stats = list(results[0][0])
    without = {s: [results[i][0][s] for i in range(runs)] for s in stats}
    with_ = {s: [results[i][1][s] for i in range(runs)] for s in stats}
    out = bound_from_scores(without, with_, epsilon, delta, confidence, selection_fraction)
    return {
        "method": name or getattr(synth_factory, "method", getattr(synth_factory, "__name__", repr(synth_factory))),
        **out,
        "neighbouring": NEIGHBOURING,
        "design": design.describe(),
        "n_synthetic": n_synthetic,
        "seed": seed,
        "workers": workers,
        "seconds": seconds,
        "seconds_per_fit": seconds * workers / (2 * runs),
        "research_rng": True,
        "note": ("Empirical lower bound from a canary audit on a public design (no real data): a bound above "
                 "the claimed epsilon proves the claim false (at the stated confidence); a bound below it is no "
                 "proof of privacy. Fits use the seeded research RNG, which measures the algorithm."),
    }


def format_audit(result: dict) -> str:
    """A short plain-text summary of :func:`audit`'s result."""
    s = result["statistic"]
    found = verdict(result)
    if found == "violation":
        said = "VIOLATION: the lower bound exceeds the claimed epsilon"
    elif found == "inconclusive":
        needed = runs_needed(result["epsilon_claimed"], result["delta"], result["confidence"],
                             result["runs_selection"] / result["runs"])
        said = (f"inconclusive: with {result['runs']} runs no bound can exceed "
                f"{result['max_detectable_epsilon']:.2f}, below the claim, so no violation could be found"
                + (f"; use at least {needed} runs to test the claim" if needed else ""))
    else:
        said = "no violation found (the lower bound does not exceed the claim)"
    return "\n".join([
        f"Audit of {result['method']}: claimed epsilon={result['epsilon_claimed']:g}, delta={result['delta']:g} "
        f"({result['neighbouring']} neighbouring)",
        f"runs: {result['runs']} on D and {result['runs']} on D' ({result['runs_selection']} to choose the test, "
        f"{result['runs_evaluation']} to bound), {result['seconds']:.1f} s with {result['workers']} worker(s)",
        f"test: {s['name']} ({s['description']}); {s['rule']} {s['threshold']:.4g}",
        f"errors: FPR {s['fpr']:.3f} (upper {s['fpr_upper']:.3f}), FNR {s['fnr']:.3f} (upper {s['fnr_upper']:.3f}); "
        f"{s['interval']}",
        f"epsilon lower bound: {result['epsilon_lower_bound']:.3f} at confidence {result['confidence']:g} "
        f"(at most {result['max_detectable_epsilon']:.2f} is detectable with this many runs)",
        said,
    ])
