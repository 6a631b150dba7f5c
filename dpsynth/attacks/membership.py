"""Membership inference: was this record in the table the synthesizer saw?

Both attacks score every target, then call it a member when its score passes a
threshold calibrated on the reference rows (HOLDOUT rows that are known
non-members and never targets): the threshold is the score the top
``quantile`` of reference rows reach, so the success rate on HOLDOUT targets is
close to ``quantile`` by construction and any excess on TRAIN targets is leakage.

* :func:`dcr_attack` -- distance to the closest synthetic record (Gower): a
  member is likely to have a synthetic near-copy.
* :func:`density_ratio_attack` -- the ratio of the synthetic density to the
  population density at the target (the DOMIAS idea, van Breugel et al.,
  AISTATS 2023), estimated with k-nearest-neighbour distances:
  ``log d_k(reference) - log d_k(synthetic)``. Dividing by the population
  density removes the confound that records in dense regions are close to
  *something* synthetic whether or not they were used.
"""
from __future__ import annotations

import numpy as np

from dpsynth.attacks.base import AttackData, Outcome, check_options

_EPS = 1e-6


def dcr_attack(data: AttackData, quantile: float = 0.1) -> Outcome:
    """Member when the distance to the closest synthetic record is at most the
    ``quantile`` of the reference rows' distances."""
    check_options("dcr membership", quantile=(quantile, 0, 1))
    d_train = data.nearest_synth("train")[0][:, 0]
    d_hold = data.nearest_synth("holdout")[0][:, 0]
    d_ref = data.nearest_synth("reference")[0][:, 0]
    tau = float(np.quantile(d_ref, quantile))
    return Outcome(
        name="dcr_membership",
        description="membership inference by Gower distance to the closest synthetic record",
        train=(d_train <= tau).astype(float),
        holdout=(d_hold <= tau).astype(float),
        details={
            "threshold": tau,
            "quantile": quantile,
            "median_dcr_train": float(np.median(d_train)),
            "median_dcr_holdout": float(np.median(d_hold)),
            "exact_match_rate_train": float(np.mean(d_train == 0)),
            "exact_match_rate_holdout": float(np.mean(d_hold == 0)),
            "n_reference": int(len(d_ref)),
        },
    )


def density_ratio_attack(data: AttackData, k: int = 1, quantile: float = 0.1) -> Outcome:
    """Member when the kNN estimate of log(synthetic density / population density)
    is in the top ``quantile`` of the reference rows' scores. The reference rows
    are scored leave-one-out (their own point is not part of the population
    sample they are compared with)."""
    ref = data.reference
    check_options("density ratio membership", ("k",), k=(k, 1, min(len(data.synth), len(ref) - 1)),
                  quantile=(quantile, 0, 1))   # k neighbours among SYNTH, and among the reference but one
    score = {}
    for which, points in (("train", data.train_targets), ("holdout", data.holdout_targets), ("reference", ref)):
        d_syn = data.nearest_synth(which, k)[0][:, k - 1]
        if which == "reference":
            d_pop = data.space.nearest(points, ref, k + 1)[0][:, k]  # skip the point itself
        else:
            d_pop = data.space.nearest(points, ref, k)[0][:, k - 1]
        score[which] = np.log(d_pop + _EPS) - np.log(d_syn + _EPS)
    tau = float(np.quantile(score["reference"], 1.0 - quantile))
    return Outcome(
        name="density_ratio_membership",
        description="membership inference by the synthetic-to-population density ratio (kNN estimate)",
        train=(score["train"] >= tau).astype(float),
        holdout=(score["holdout"] >= tau).astype(float),
        details={
            "threshold": tau,
            "quantile": quantile,
            "k": k,
            "median_score_train": float(np.median(score["train"])),
            "median_score_holdout": float(np.median(score["holdout"])),
            "n_reference": int(len(ref)),
        },
    )
