"""Noise mechanisms. Every noisy answer is charged to a :class:`~dpsynth.accounting.Release`
before it is computed, with the rho that OpenDP's own privacy map reports.

* :func:`gaussian` -- a count vector (L2 sensitivity 1 under add/remove-one: one
  record changes one cell by 1) plus Gaussian noise of standard deviation
  ``sigma``; rho = 1 / (2 sigma^2). Integer counts get OpenDP's discrete
  Gaussian, float vectors its continuous Gaussian; the whole vector in one call.
* :func:`exponential` -- the exponential mechanism on scores with L-inf
  sensitivity ``sensitivity``: index i is chosen with probability proportional
  to exp(epsilon * score_i / (2 * sensitivity)) (OpenDP's report-noisy-max with
  Gumbel noise of scale 2 * sensitivity / epsilon); rho = epsilon^2 / 8
  (bounded-range analysis, Cesar & Rogers 2021), as OpenDP's map reports.
* :func:`quantile` -- one DP quantile: the exponential mechanism (Gumbel
  report-noisy-min) over OpenDP's quantile scores of public candidates
  (``make_quantile_score_candidates``); the noise scale is set so that OpenDP's
  zCDP map gives the requested rho.
* :func:`thresholded_counts` -- counts of *data-dependent* keys (e.g. the
  category values seen in a column) plus discrete Gaussian noise, releasing only
  the keys whose noisy count reaches a threshold (OpenDP's
  ``make_gaussian_threshold``, Rogers 2023). This is NOT rho-zCDP for any rho:
  it is delta-approximate rho-zCDP, and the release is charged both, rho =
  1 / (2 sigma^2) and the delta of OpenDP's map (see :mod:`dpsynth.accounting`).

Research path: a release opened with ``insecure_rng=numpy.random.Generator(...)``
draws the same distributions from numpy instead (seeded, fast, reproducible;
not hardened against floating-point attacks, so never for real releases). It is
charged identically and marked ``research_rng`` in the ledger.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Mapping, Sequence

import numpy as np

from dpsynth.accounting import Release, _check_positive, dp
from dpsynth.errors import InputError

__all__ = ["gaussian", "exponential", "quantile", "thresholded_counts", "threshold_for_delta", "sigma_for_rho"]


def sigma_for_rho(rho: float, sensitivity: float = 1.0) -> float:
    """Gaussian noise scale (standard deviation) whose zCDP cost is ``rho``.

    sigma = sensitivity / sqrt(2 rho), the inverse of rho = sensitivity^2 / (2 sigma^2).
    """
    rho = _check_positive("rho", rho)
    sensitivity = _check_positive("sensitivity", sensitivity)
    return sensitivity / math.sqrt(2.0 * rho)


@functools.lru_cache(maxsize=256)
def _gaussian_measurement(discrete: bool, sigma: float) -> tuple[dp.Measurement, float]:
    """OpenDP's vector Gaussian with std ``sigma`` and its rho at L2 distance 1 (cached: immutable)."""
    if discrete:
        space = dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64")
    else:
        space = dp.vector_domain(dp.atom_domain(T="f64", nan=False)), dp.l2_distance(T="f64")
    meas = dp.m.make_gaussian(*space, scale=sigma)
    return meas, meas.map(1 if discrete else 1.0)


@functools.lru_cache(maxsize=256)
def _exponential_measurement(scale: float, sensitivity: float) -> tuple[dp.Measurement, float]:
    """OpenDP's report-noisy-max with Gumbel noise of ``scale`` and its rho at L-inf distance ``sensitivity``."""
    meas = dp.m.make_noisy_max(
        dp.vector_domain(dp.atom_domain(T="f64", nan=False)),
        dp.linf_distance(T="f64"),
        dp.zero_concentrated_divergence(),  # Gumbel noise (MaxDivergence would mean exponential noise)
        scale=scale,
    )
    return meas, meas.map(sensitivity)


def gaussian(release: Release, query: str | Sequence[str], values: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` (a count vector, L2 sensitivity 1) plus Gaussian noise of std ``sigma``.

    Integer ``values`` -> OpenDP's discrete Gaussian (integer output); float
    ``values`` -> OpenDP's continuous Gaussian. The shape is kept. Charges
    rho = 1 / (2 sigma^2) (OpenDP's map at L2 distance 1) to ``release`` first.
    """
    x = np.asarray(values)
    sigma = _check_positive("sigma", sigma)
    if x.size == 0:
        raise InputError(f"query {query!r}: values is empty; there is nothing to measure")
    if np.issubdtype(x.dtype, np.integer):
        discrete = True
        if x.dtype == np.uint64 and x.max() > np.iinfo(np.int64).max:
            raise InputError(f"query {query!r}: counts above 2^63-1 cannot be measured")
        flat = x.astype(np.int64, copy=False).ravel()
    elif np.issubdtype(x.dtype, np.floating):
        discrete = False
        flat = x.astype(np.float64, copy=False).ravel()
        if not np.isfinite(flat).all():
            raise InputError(f"query {query!r}: values contain NaN or infinity; pass finite counts")
    else:
        raise InputError(f"query {query!r}: values have dtype {x.dtype}; pass an integer or float array of counts")
    meas, rho = _gaussian_measurement(discrete, sigma)
    release.charge("discrete_gaussian" if discrete else "gaussian", query, 1.0, sigma, rho)
    rng = release.insecure_rng
    if rng is None:
        noisy = np.asarray(meas(flat), dtype=flat.dtype)
    elif discrete:
        noisy = flat + _numpy_discrete_gaussian(rng, sigma, flat.size)
    else:
        noisy = flat + rng.normal(0.0, sigma, size=flat.size)
    return noisy.reshape(x.shape)


def exponential(release: Release, query: str | Sequence[str], scores: np.ndarray,
                epsilon: float, sensitivity: float,
                admissible: Callable[[int], bool] | None = None) -> int:
    """Index chosen with probability proportional to exp(epsilon * score / (2 * sensitivity)).

    ``sensitivity`` bounds how much any one score moves when one record is added
    or removed (L-inf). Charges rho = epsilon^2 / 8 (OpenDP's zCDP map of
    report-noisy-max with Gumbel noise) to ``release`` before selecting.

    ``admissible``: a data-independent test of an index (AIM's model-size rule,
    too costly to run on every candidate). The choice is then the exponential
    mechanism over the admissible indices only: draws of inadmissible ones are
    dropped and the rest drawn again. Dropping draws conditions on
    admissibility, and conditioning the mechanism's distribution on a public set
    gives exactly its distribution over that set (softmax restricted), so one
    charge covers it; ``sensitivity`` must bound every score, admissible or not.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    epsilon = _check_positive("epsilon", epsilon)
    sensitivity = _check_positive("sensitivity", sensitivity)
    if s.size == 0:
        raise InputError(f"query {query!r}: no candidates to select from")
    if not np.isfinite(s).all():
        raise InputError(f"query {query!r}: scores contain NaN or infinity; pass finite scores")
    scale = 2.0 * sensitivity / epsilon
    meas, rho = _exponential_measurement(scale, sensitivity)
    release.charge("exponential", query, sensitivity, scale, rho)
    rng = release.insecure_rng
    left = np.arange(s.size)
    while left.size:
        if rng is None:
            pick = int(meas(s[left]))
        else:
            pick = int(np.argmax(s[left] + rng.gumbel(0.0, scale, size=left.size)))
        if admissible is None or admissible(int(left[pick])):
            return int(left[pick])
        left = np.delete(left, pick)
    raise InputError(f"query {query!r}: no admissible candidate to select from")


def quantile(release: Release, query: str | Sequence[str], values: np.ndarray, candidates: np.ndarray,
             alpha: float, rho: float) -> float:
    """The candidate chosen as the DP ``alpha``-quantile of ``values``, at zCDP cost ``rho``.

    ``candidates`` is a public, strictly increasing grid. OpenDP scores each
    candidate by how far it is from splitting the data alpha : 1 - alpha
    (``make_quantile_score_candidates``, add/remove-one, unknown size) and picks
    the best one with Gumbel report-noisy-min at the scale whose zCDP map at one
    record is ``rho``; that rho (OpenDP's own) is charged to ``release`` first.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    grid = np.asarray(candidates, dtype=np.float64).ravel()
    rho = _check_positive("rho", rho)
    if not 0.0 <= float(alpha) <= 1.0:
        raise InputError(f"query {query!r}: alpha={alpha!r} must be in [0, 1]")
    if grid.size == 0 or not np.isfinite(grid).all() or (np.diff(grid) <= 0).any():
        raise InputError(f"query {query!r}: candidates must be a non-empty, strictly increasing list of finite numbers")
    if not np.isfinite(x).all():
        raise InputError(f"query {query!r}: values contain NaN or infinity; drop or clip them first")
    space = dp.vector_domain(dp.atom_domain(T="f64", nan=False)), dp.symmetric_distance()
    scores = dp.t.make_quantile_score_candidates(*space, grid.tolist(), float(alpha))
    sensitivity = scores.map(1)

    def select(scale: float) -> dp.Measurement:
        return scores >> dp.m.then_noisy_max(dp.zero_concentrated_divergence(), scale=scale, negate=True)

    scale = math.sqrt(select(1.0).map(1) / rho)  # rho is proportional to 1 / scale^2
    meas = select(scale)
    release.charge("quantile", query, float(sensitivity), scale, meas.map(1))
    rng = release.insecure_rng
    if rng is None:
        return float(grid[int(meas(x))])
    s = np.asarray(scores(x), dtype=np.float64)
    return float(grid[int(np.argmax(-s + rng.gumbel(0.0, scale, size=s.size)))])


def thresholded_counts(release: Release, query: str | Sequence[str], counts: Mapping[str, int], sigma: float,
                       threshold: int) -> dict[str, int]:
    """Noisy ``counts`` of the keys whose noisy count is at least ``threshold``; other keys are dropped.

    ``counts`` maps data-dependent keys (strings) to exact counts, where adding or
    removing one record changes one key's count by 1 (L0 1, L2 1, L-inf 1). Each
    count gets discrete Gaussian noise of std ``sigma`` (OpenDP's
    ``make_gaussian_threshold``). A key held by few records is released only with
    small probability: that probability is the ``delta`` of this
    delta-approximate rho-zCDP mechanism, rho = 1 / (2 sigma^2). Both come from
    OpenDP's map and are charged to ``release`` (which must have reserved a
    delta) before sampling. Use :func:`threshold_for_delta` to pick the threshold.
    """
    sigma = _check_positive("sigma", sigma)
    meas = _threshold_measurement(sigma, threshold)
    rho, delta = meas.map((1, 1, 1))
    keys = list(counts)
    if any(not isinstance(k, str) for k in keys):
        raise InputError(f"query {query!r}: keys must be strings")
    values = np.asarray([counts[k] for k in keys], dtype=np.int64)
    if (values < 0).any():
        raise InputError(f"query {query!r}: counts must be whole numbers >= 0")
    release.charge("gaussian_threshold", query, 1.0, sigma, rho, delta=delta)
    rng = release.insecure_rng
    if rng is None:
        return {str(k): int(v) for k, v in meas(dict(zip(keys, values.tolist()))).items()}
    noisy = values + _numpy_discrete_gaussian(rng, sigma, values.size)
    return {k: int(v) for k, v in zip(keys, noisy) if v >= threshold}


def threshold_for_delta(sigma: float, delta: float) -> int:
    """The smallest whole threshold for which :func:`thresholded_counts` with noise ``sigma``
    is at most ``delta``-approximate (by OpenDP's own map)."""
    sigma = _check_positive("sigma", sigma)
    delta = _check_positive("delta", delta)

    def fits(threshold: int) -> bool:
        return _threshold_measurement(sigma, threshold).map((1, 1, 1))[1] <= delta

    hi = 2
    while not fits(hi):
        if hi > 2**60:
            raise InputError(f"delta={delta!r} is too small for a thresholded histogram with sigma={sigma!r} "
                             f"(OpenDP's delta bottoms out near 1e-16); use a larger delta")
        hi *= 2
    lo = hi // 2  # fits(hi), and fits(lo) is false unless lo == 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return 1 if lo == 1 and fits(1) else hi


def _threshold_measurement(sigma: float, threshold: int) -> dp.Measurement:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise InputError(f"threshold must be a whole number >= 1, got {threshold!r}")
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    metric = dp.l02inf_distance(dp.absolute_distance(T="i64"))
    return dp.m.make_gaussian_threshold(domain, metric, scale=sigma, threshold=int(threshold))


def _numpy_discrete_gaussian(rng: np.random.Generator, sigma: float, n: int) -> np.ndarray:
    """``n`` draws of the discrete Gaussian N_Z(0, sigma^2) from numpy (research path only).

    Rejection sampling from a discrete Laplace proposal (Canonne, Kamath &
    Steinke 2020, Algorithm 3), vectorised; exact up to floating-point rounding.
    """
    t = math.floor(sigma) + 1
    p = -math.expm1(-1.0 / t)  # geometric success probability of the discrete Laplace(t)
    out = np.empty(n, dtype=np.int64)
    filled = 0
    while filled < n:
        m = 3 * (n - filled) + 64  # acceptance is about 0.45-0.76 depending on sigma
        y = rng.geometric(p, m) - rng.geometric(p, m)
        accept = rng.random(m) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2.0 * sigma**2))
        kept = y[accept][: n - filled]
        out[filled : filled + kept.size] = kept
        filled += kept.size
    return out
