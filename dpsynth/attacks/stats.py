"""Intervals and multiple-testing correction for the attacks' verdicts.

An attack's *advantage* is its success rate on TRAIN targets minus its success
rate on HOLDOUT targets. A leak is declared only when the lower end of a
two-sided interval for that difference is above zero, at a confidence level
corrected for the number of attacks run together (Bonferroni), so that the
chance of any false "leak" verdict on a release that leaks nothing stays below
``1 - confidence``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from dpsynth.errors import InputError


def check_confidence(confidence: float) -> float:
    """``confidence`` as a float in (0, 1), else :class:`InputError`."""
    c = float(confidence)
    if not 0.0 < c < 1.0:
        raise InputError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    return c


def z_value(confidence: float) -> float:
    """The two-sided normal quantile: P(|Z| <= z) = confidence."""
    return float(norm.ppf(0.5 + check_confidence(confidence) / 2.0))


def bonferroni(confidence: float, n_tests: int) -> float:
    """Per-test confidence so that ``n_tests`` intervals hold jointly at ``confidence``."""
    return 1.0 - (1.0 - check_confidence(confidence)) / max(int(n_tests), 1)


def wilson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927)."""
    if n <= 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_interval(s1: int, n1: int, s2: int, n2: int, confidence: float) -> tuple[float, float]:
    """Interval for p1 - p2 of two independent proportions: Newcombe's hybrid
    score method (Newcombe 1998, method 10), built from the two Wilson intervals.
    Keeps its coverage near 0 and 1, where the Wald interval does not."""
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson_interval(s1, n1, confidence)
    l2, u2 = wilson_interval(s2, n2, confidence)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def normal_interval(estimate: float, se: float, confidence: float) -> tuple[float, float]:
    """``estimate ± z * se``."""
    z = z_value(confidence)
    return estimate - z * se, estimate + z * se


def check_seed(seed: int) -> int:
    """``seed`` if it is a whole number >= 0 (what numpy's generators take), else InputError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)
