"""Leakage attacks on a synthetic release, each with a verdict an auditor can check.

TRAIN is the private table the synthesizer saw, HOLDOUT a disjoint random sample
of the same population it did not see, SYNTH the release. Every attack is run on
TRAIN targets and, identically, on HOLDOUT targets (the baseline); its advantage
is the difference of the two success rates. ``leak`` is true only when the lower
end of the interval for that difference is above zero, each interval at the
Bonferroni-corrected confidence ``1 - (1 - confidence) / n_attacks``, so the
probability that a release which leaks nothing gets any ``leak: true`` is at
most ``1 - confidence``.

These figures are computed on the real data without DP: for internal review.

>>> result = run_attacks(train, holdout, synth)          # doctest: +SKIP
>>> [(a["name"], a["leak"]) for a in result["attacks"]]  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from dpsynth.attacks.anonymeter import attribute_inference, linkability, singling_out
from dpsynth.attacks.base import AttackData, Outcome, prepare
from dpsynth.attacks.membership import dcr_attack, density_ratio_attack
from dpsynth.attacks.stats import bonferroni, check_confidence, newcombe_interval, normal_interval
from dpsynth.errors import InputError
from dpsynth.evaluate import limit_threads

#: Attack name -> function(AttackData) -> Outcome, in report order.
ATTACKS: dict[str, Callable[[AttackData], Outcome]] = {
    "dcr_membership": dcr_attack,
    "density_ratio_membership": density_ratio_attack,
    "singling_out": singling_out,
    "linkability": linkability,
    "attribute_inference": attribute_inference,
}

__all__ = ["ATTACKS", "AttackData", "Outcome", "prepare", "run_attacks", "finalize", "format_attacks"]


def finalize(outcomes: Sequence[Outcome], confidence: float = 0.95) -> list[dict[str, Any]]:
    """Rates, Bonferroni-corrected intervals and verdicts, one JSON-ready dict per attack.

    Independent 0/1 outcomes get Newcombe's hybrid score interval for the
    difference of two proportions; fractional outcomes a normal interval with the
    unpooled standard error; an outcome with ``se`` (singling out) a normal
    interval with that standard error.
    """
    per_attack = bonferroni(confidence, len(outcomes))
    results = []
    for o in outcomes:
        tr, ho = np.asarray(o.train, dtype=float), np.asarray(o.holdout, dtype=float)
        s, b = (float(tr.mean()), float(ho.mean())) if tr.size and ho.size else (0.0, 0.0)
        if not tr.size or not ho.size:  # the attack had nothing to try: it succeeds on no one
            lo = hi = 0.0
            method = "none: no attempt was possible (see details)"
        elif o.se is not None:
            lo, hi = normal_interval(s - b, o.se, per_attack)
            method = "normal, standard error by permutation of TRAIN/HOLDOUT membership"
        elif np.isin(tr, (0.0, 1.0)).all() and np.isin(ho, (0.0, 1.0)).all():
            lo, hi = newcombe_interval(int(tr.sum()), len(tr), int(ho.sum()), len(ho), per_attack)
            method = "Newcombe hybrid score (difference of two proportions)"
        else:
            se = float(np.sqrt(tr.var(ddof=1) / len(tr) + ho.var(ddof=1) / len(ho)))
            lo, hi = normal_interval(s - b, se, per_attack)
            method = "normal, unpooled standard error"
        results.append({
            "name": o.name,
            "description": o.description,
            "leak": bool(lo > 0.0),
            "success_rate": s,
            "baseline_rate": b,
            "advantage": s - b,
            "ci_low": float(lo),
            "ci_high": float(hi),
            "n_targets": int(len(tr)),
            "n_baseline_targets": int(len(ho)),
            "interval": method,
            "details": o.details,
        })
    return results


def run_attacks(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, schema: Any = None, *,
                attacks: Sequence[str] | None = None, confidence: float = 0.95, n_targets: int = 2000,
                n_reference: int = 5000, seed: int = 0, options: dict[str, dict] | None = None,
                n_threads: int | None = 1) -> dict[str, Any]:
    """Run the attacks and return ``{"attacks": [...], "confidence", "correction", ...}``.

    ``attacks`` picks a subset of :data:`ATTACKS` (default all; the correction
    counts only those run). ``options`` passes keyword arguments per attack,
    e.g. ``{"linkability": {"n_neighbors": 5}}``. ``n_threads`` caps BLAS threads
    (:func:`dpsynth.evaluate.limit_threads`).
    """
    confidence = check_confidence(confidence)
    names = list(ATTACKS) if attacks is None else list(attacks)
    unknown = [a for a in names if a not in ATTACKS]
    if unknown or not names:
        raise InputError(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)}")
    options = options or {}
    data = prepare(train, holdout, synth, schema, n_targets=n_targets, n_reference=n_reference, seed=seed)
    with limit_threads(n_threads):
        outcomes = [ATTACKS[a](data, **options.get(a, {})) for a in names]
    results = finalize(outcomes, confidence)
    return {
        "note": "computed on the real data without differential privacy: for internal review, not for publication",
        "attacks": results,
        "any_leak": any(r["leak"] for r in results),
        "confidence": confidence,
        "correction": "bonferroni",
        "per_attack_confidence": bonferroni(confidence, len(results)),
        "n_train": int(len(data.train)),
        "n_holdout": int(len(data.holdout)),
        "n_synth": int(len(data.synth)),
        "distance": "Gower (mean per-column dissimilarity; numeric |x-y|/range, categorical mismatch)",
        "schema": schema is not None,
        "seed": seed,
    }


def format_attacks(result: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_attacks`' result."""
    lines = [
        f"TRAIN {result['n_train']} rows, HOLDOUT {result['n_holdout']} rows, SYNTH {result['n_synth']} rows",
        f"Intervals for success(TRAIN) - success(HOLDOUT) at {result['per_attack_confidence']:.4g} each "
        f"({result['correction']}, {result['confidence']:.4g} jointly); leak = lower end above 0.",
        "",
        f"{'attack':<26} {'TRAIN':>7} {'HOLDOUT':>8} {'advantage':>10}  {'interval':<20} {'targets':>7}  verdict",
    ]
    for a in result["attacks"]:
        ci = f"[{a['ci_low']:+.3f}, {a['ci_high']:+.3f}]"
        lines.append(f"{a['name']:<26} {a['success_rate']:>7.3f} {a['baseline_rate']:>8.3f} {a['advantage']:>+10.3f}  "
                     f"{ci:<20} {a['n_targets']:>7}  {'LEAK' if a['leak'] else 'no leak detected'}")
    lines += ["", "Note: " + result["note"]]
    return "\n".join(lines)
