"""Mechanisms: the rho charged is OpenDP's own, charged before sampling; the noise has the right law.

Statistical tests use alpha = 1e-7 each; with fewer than ten of them the suite
flakes with probability below 1e-6.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import opendp.prelude as dp
import pytest
from scipy import stats

import dpsynth.mechanisms as mech
from dpsynth.accounting import InsecureRNGWarning, Ledger
from dpsynth.errors import BudgetExceeded, InputError
from dpsynth.mechanisms import exponential, gaussian, sigma_for_rho

ALPHA = 1e-7
Z = stats.norm.isf(ALPHA / 2)  # two-sided


def open_release(rho=1e3, rng=None):
    """An in-memory ledger with a generous budget (rho about 1.9e4), and an open release on it."""
    ledger = Ledger(None)
    ledger.init("d", 2e4, 1e-6)
    ctx = ledger.release("d", rho, "test", insecure_rng=rng)
    return ledger, ctx


def measurements(ledger):
    return [m for r in ledger.summary("d")["releases"] for m in r["measurements"]]


def discrete_gaussian_pmf(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(-int(40 * sigma) - 10, int(40 * sigma) + 11)
    w = np.exp(-(k.astype(float) ** 2) / (2 * sigma**2))
    return k, w / w.sum()


def assert_discrete_gaussian(x: np.ndarray, sigma: float) -> None:
    """Chi-square goodness of fit to N_Z(0, sigma^2), and z-tests of its mean and variance."""
    k, p = discrete_gaussian_pmf(sigma)
    n = x.size
    counts = np.bincount(x - k[0], minlength=k.size)[: k.size]
    assert counts.sum() == n  # nothing outside +-40 sigma
    keep = n * p >= 20  # central cells; the two tails are pooled
    inner = np.flatnonzero(keep)
    lo, hi = inner[0], inner[-1]
    obs = np.concatenate([[counts[: lo].sum()], counts[lo: hi + 1], [counts[hi + 1:].sum()]])
    exp = n * np.concatenate([[p[: lo].sum()], p[lo: hi + 1], [p[hi + 1:].sum()]])
    mask = exp > 0
    assert stats.chisquare(obs[mask], exp[mask]).pvalue > ALPHA
    m2, m4 = (p * k**2).sum(), (p * k.astype(float) ** 4).sum()
    assert abs(x.mean()) / math.sqrt(m2 / n) < Z
    assert abs((x.astype(float) ** 2).mean() - m2) / math.sqrt((m4 - m2**2) / n) < Z


def assert_gaussian(x: np.ndarray, sigma: float) -> None:
    """sum(x^2)/sigma^2 within the chi-square(n) bounds, mean within z, and a KS test of the shape."""
    n = x.size
    q = (x**2).sum() / sigma**2
    assert stats.chi2.ppf(ALPHA / 2, n) < q < stats.chi2.isf(ALPHA / 2, n)
    assert abs(x.mean()) / (sigma / math.sqrt(n)) < Z
    assert stats.kstest(x / sigma, "norm").pvalue > ALPHA


# --------------------------------------------------------------------------- accounting


def test_sigma_for_rho():
    assert sigma_for_rho(1 / 18) == pytest.approx(3.0, rel=1e-15)
    assert sigma_for_rho(1 / 18, sensitivity=2.0) == pytest.approx(6.0, rel=1e-15)
    for rho in (1e-6, 0.01, 3.0):
        assert 1 / (2 * sigma_for_rho(rho) ** 2) == pytest.approx(rho, rel=1e-14)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(InputError, match="rho"):
            sigma_for_rho(bad)
    with pytest.raises(InputError, match="sensitivity"):
        sigma_for_rho(0.1, sensitivity=0)


@pytest.mark.parametrize("sigma", [0.7, 3.0, sigma_for_rho(0.0123), 41.5])
@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_gaussian_charges_exactly_what_opendp_reports(sigma, dtype):
    ledger, ctx = open_release()
    with ctx as rel:
        gaussian(rel, ("a", "b"), np.arange(12, dtype=dtype), sigma)
    (m,) = measurements(ledger)
    T = "i64" if dtype == np.int64 else "f64"
    reference = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T=T, nan=False) if T == "f64"
                                                    else dp.atom_domain(T=T)), dp.l2_distance(T=T), scale=sigma)
    assert m["rho"] == reference.map(1 if T == "i64" else 1.0)
    assert m["rho"] == pytest.approx(1 / (2 * sigma**2), rel=1e-12) and m["rho"] >= 1 / (2 * sigma**2)
    assert (m["mechanism"], m["query"], m["sensitivity"], m["scale"]) == (
        "discrete_gaussian" if T == "i64" else "gaussian", "a,b", 1.0, sigma)


@pytest.mark.parametrize("epsilon,sensitivity", [(0.1, 1.0), (1.0, 2.5), (3.0, 0.2)])
def test_exponential_charges_exactly_what_opendp_reports(epsilon, sensitivity):
    ledger, ctx = open_release()
    with ctx as rel:
        exponential(rel, "pick", [3.0, 1.0, 2.0], epsilon, sensitivity)
    (m,) = measurements(ledger)
    scale = 2 * sensitivity / epsilon
    reference = dp.m.make_noisy_max(dp.vector_domain(dp.atom_domain(T="f64", nan=False)), dp.linf_distance(T="f64"),
                                    dp.zero_concentrated_divergence(), scale=scale)
    assert m["rho"] == reference.map(sensitivity)
    assert m["rho"] == pytest.approx(epsilon**2 / 8, rel=1e-12)
    # its pure-DP view is epsilon: OpenDP's own map, for the same scale, under MaxDivergence with Gumbel noise
    assert (m["mechanism"], m["sensitivity"], m["scale"]) == ("exponential", sensitivity, pytest.approx(scale))


def test_the_ledger_row_exists_before_noise_is_drawn(monkeypatch):
    ledger, ctx = open_release()
    seen = []

    def spy(make):
        def wrapped(*args):
            meas, rho = make(*args)

            def call(x):
                seen.append(len(measurements(ledger)))
                return meas(x)
            return call, rho
        return wrapped

    monkeypatch.setattr(mech, "_gaussian_measurement", spy(mech._gaussian_measurement))
    monkeypatch.setattr(mech, "_exponential_measurement", spy(mech._exponential_measurement))
    with ctx as rel:
        gaussian(rel, "a", np.zeros(4, dtype=np.int64), 2.0)
        exponential(rel, "b", [1.0, 2.0], 1.0, 1.0)
    assert seen == [1, 2]


def test_budget_exceeded_releases_nothing():
    ledger, ctx = open_release(rho=0.01)
    with ctx as rel:
        with pytest.raises(BudgetExceeded):
            gaussian(rel, "a", np.arange(5), sigma_for_rho(0.02))
        with pytest.raises(BudgetExceeded):
            exponential(rel, "b", [1.0, 2.0], epsilon=math.sqrt(8 * 0.02), sensitivity=1.0)
    assert measurements(ledger) == []


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize("research", [False, True])
def test_values_are_kept_and_shapes_and_dtypes_preserved(research):
    rng = np.random.default_rng(5) if research else None
    ledger, ctx = open_release(rng=rng)
    counts = np.arange(24, dtype=np.uint32).reshape(2, 3, 4) * 1000
    with pytest.warns(InsecureRNGWarning) if research else _nothing():
        with ctx as rel:
            # sigma = 0.05: P(any nonzero integer noise) < 1e-80, so the counts come back unchanged
            out = gaussian(rel, "a", counts, 0.05)
            assert out.shape == counts.shape and out.dtype == np.int64
            assert np.array_equal(out, counts)
            floats = gaussian(rel, "b", counts.astype(np.float32), 0.05)
            assert floats.shape == counts.shape and floats.dtype == np.float64
            assert np.abs(floats - counts).max() < 0.05 * 8
            # a score far ahead is chosen (P(otherwise) < 1e-40)
            assert exponential(rel, "c", [0.0, 500.0, 1.0], 1.0, 1.0) == 1


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("values,match", [
    (np.array([], dtype=np.int64), "empty"),
    (np.array([1.0, np.nan]), "NaN"),
    (np.array([1.0, np.inf]), "NaN or infinity"),
    (np.array(["a", "b"]), "dtype"),
    (np.array([True, False]), "dtype"),
    (np.array([2**64 - 1], dtype=np.uint64), "2\\^63"),
])
def test_gaussian_rejects_bad_values_without_charging(values, match):
    ledger, ctx = open_release()
    with ctx as rel:
        with pytest.raises(InputError, match=match):
            gaussian(rel, "q", values, 1.0)
        with pytest.raises(InputError, match="sigma"):
            gaussian(rel, "q", np.arange(3), 0.0)
    assert measurements(ledger) == []


@pytest.mark.parametrize("kwargs,match", [
    (dict(scores=[], epsilon=1.0, sensitivity=1.0), "no candidates"),
    (dict(scores=[1.0, np.nan], epsilon=1.0, sensitivity=1.0), "NaN"),
    (dict(scores=[1.0, 2.0], epsilon=0.0, sensitivity=1.0), "epsilon"),
    (dict(scores=[1.0, 2.0], epsilon=1.0, sensitivity=-1.0), "sensitivity"),
])
def test_exponential_rejects_bad_arguments_without_charging(kwargs, match):
    ledger, ctx = open_release()
    with ctx as rel:
        with pytest.raises(InputError, match=match):
            exponential(rel, "q", **kwargs)
    assert measurements(ledger) == []


def test_research_path_is_seeded_marked_and_warns():
    outputs = []
    for _ in range(2):
        ledger, ctx = open_release(rng=np.random.default_rng(42))
        with pytest.warns(InsecureRNGWarning):
            with ctx as rel:
                outputs.append((gaussian(rel, "a", np.zeros(50, dtype=np.int64), 4.0),
                                gaussian(rel, "b", np.zeros(50), 4.0),
                                exponential(rel, "c", np.zeros(30), 1.0, 1.0)))
        assert ledger.summary("d")["releases"][0]["research_rng"] is True
        assert len(measurements(ledger)) == 3
    (a1, b1, c1), (a2, b2, c2) = outputs
    assert np.array_equal(a1, a2) and np.array_equal(b1, b2) and c1 == c2
    assert a1.std() > 1 and b1.std() > 1


# --------------------------------------------------------------------------- distributions


@pytest.mark.slow
def test_opendp_discrete_gaussian_law():
    ledger, ctx = open_release()
    with ctx as rel:
        x = gaussian(rel, "zeros", np.zeros(100_000, dtype=np.int64), 1.5)
    assert_discrete_gaussian(x, 1.5)


@pytest.mark.slow
def test_opendp_continuous_gaussian_law():
    ledger, ctx = open_release()
    with ctx as rel:
        x = gaussian(rel, "zeros", np.full(15_000, 7.25), 2.5) - 7.25
    assert_gaussian(x, 2.5)


@pytest.mark.parametrize("sigma", [0.8, 7.3])
def test_research_discrete_gaussian_law(sigma):
    ledger, ctx = open_release(rng=np.random.default_rng(int(sigma * 10)))
    with pytest.warns(InsecureRNGWarning), ctx as rel:
        x = gaussian(rel, "zeros", np.zeros(300_000, dtype=np.int64), sigma)
    assert_discrete_gaussian(x, sigma)


def test_research_continuous_gaussian_law():
    ledger, ctx = open_release(rng=np.random.default_rng(3))
    with pytest.warns(InsecureRNGWarning), ctx as rel:
        x = gaussian(rel, "zeros", np.zeros(200_000), 1.7)
    assert_gaussian(x, 1.7)


SCORES = np.array([0.0, 1.0, 2.0, 3.5, -1.0])


def assert_exponential_frequencies(choices, scores, epsilon, sensitivity):
    w = np.exp(epsilon * scores / (2 * sensitivity))
    expected = len(choices) * w / w.sum()
    observed = np.bincount(choices, minlength=scores.size)
    assert stats.chisquare(observed, expected).pvalue > ALPHA


@pytest.mark.slow
def test_opendp_exponential_selection_frequencies():
    ledger, ctx = open_release(rho=1e4)
    with ctx as rel:
        choices = [exponential(rel, "pick", SCORES, 1.2, 0.8) for _ in range(15_000)]
    assert_exponential_frequencies(choices, SCORES, 1.2, 0.8)


def test_research_exponential_selection_frequencies():
    ledger, ctx = open_release(rho=1e4, rng=np.random.default_rng(11))
    with pytest.warns(InsecureRNGWarning), ctx as rel:
        choices = [exponential(rel, "pick", SCORES, 1.2, 0.8) for _ in range(30_000)]
    assert_exponential_frequencies(choices, SCORES, 1.2, 0.8)


ADMITTED = [0, 2, 4]   # index 3 holds the top score and is refused


@pytest.mark.parametrize("rng", [None, 13], ids=["opendp", "research"])
def test_exponential_over_admissible_indices_is_the_mechanism_restricted_to_them(rng):
    """Redrawing past refused indices gives exactly the exponential mechanism
    over the admitted ones (chi-square against the restricted softmax), with
    one ledger row per selection, and never returns a refused index."""
    n = 6_000 if rng is None else 30_000
    ledger, ctx = open_release(rho=1e4, rng=None if rng is None else np.random.default_rng(rng))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRNGWarning)
        with ctx as rel:
            choices = [exponential(rel, "pick", SCORES, 1.2, 0.8, admissible=lambda i: i in ADMITTED)
                       for _ in range(n)]
    assert set(choices) <= set(ADMITTED)
    assert len(measurements(ledger)) == n
    idx = np.searchsorted(ADMITTED, choices)
    assert_exponential_frequencies(idx, SCORES[ADMITTED], 1.2, 0.8)


def test_exponential_with_nothing_admissible_says_so():
    ledger, ctx = open_release()
    with ctx as rel:
        with pytest.raises(InputError, match="no admissible candidate"):
            exponential(rel, "q", SCORES, 1.0, 1.0, admissible=lambda i: False)
