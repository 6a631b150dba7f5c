"""zCDP <-> (epsilon, delta) conversions: OpenDP, the CKS20 formula, monotonicity, edges."""
from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pytest
from scipy import optimize

from dpsynth.accounting import MAX_EPSILON, epsilon_from_rho, rho_from_epsilon
from dpsynth.errors import InputError

GRID = [(1e-5, 1e-9), (0.001, 1e-6), (0.0149731, 1e-9), (0.5, 1e-5), (2.0, 1e-12), (10.0, 1e-3)]


def cks20_epsilon(rho: float, delta: float) -> float:
    """Canonne-Kamath-Steinke 2020 Cor. 13, computed independently of OpenDP:
    delta(eps) = inf_{a>1} exp((a-1)(a rho - eps)) / (a-1) * (1 - 1/a)^a, solved for eps."""

    def log_delta(eps: float) -> float:
        def f(u: float) -> float:
            a = 1.0 + math.exp(u)
            return (a - 1) * (a * rho - eps) - math.log(a - 1) + a * math.log1p(-1 / a)

        return optimize.minimize_scalar(f, bounds=(-30, 30), method="bounded", options={"xatol": 1e-12}).fun

    upper = 10 * rho + 10 * math.sqrt(rho * math.log(1 / delta)) + 50
    return optimize.brentq(lambda e: log_delta(e) - math.log(delta), 0.0, upper, xtol=1e-14)


def opendp_gaussian_epsilon(rho: float, delta: float) -> float:
    """OpenDP's (epsilon, delta) for a discrete Gaussian on an int vector whose map is rho."""
    meas = dp.m.make_gaussian(dp.vector_domain(dp.atom_domain(T="i64")), dp.l2_distance(T="i64"),
                              scale=1.0 / math.sqrt(2 * rho))
    assert meas.map(1) == pytest.approx(rho, rel=1e-12)
    return dp.c.make_fix_delta(dp.c.make_zCDP_to_approxDP(meas), delta).map(1)[0]


def test_issue_example_epsilon_1_delta_1e9():
    rho = rho_from_epsilon(1.0, 1e-9)
    assert abs(rho - 0.0149731) < 1e-6
    loose = (math.sqrt(1.0 + math.log(1e9)) - math.sqrt(math.log(1e9))) ** 2
    assert loose < rho  # the closed form wastes budget; the tight conversion does not


@pytest.mark.parametrize("rho,delta", GRID)
def test_epsilon_from_rho_matches_opendp_and_cks20(rho, delta):
    eps = epsilon_from_rho(rho, delta)
    assert eps == pytest.approx(opendp_gaussian_epsilon(rho, delta), rel=1e-6, abs=1e-9)
    assert eps == pytest.approx(cks20_epsilon(rho, delta), rel=1e-6, abs=1e-9)
    # and strictly better than the classical rho + 2 sqrt(rho log(1/delta))
    assert eps < rho + 2 * math.sqrt(rho * math.log(1 / delta))


@pytest.mark.parametrize("eps,delta", [(0.01, 1e-9), (0.5, 1e-6), (1.0, 1e-9), (3.0, 1e-5), (20.0, 1e-12)])
def test_rho_from_epsilon_inverts_opendp(eps, delta):
    rho = rho_from_epsilon(eps, delta)
    # conservative side: the budget never converts to more than the target
    assert epsilon_from_rho(rho, delta) <= eps
    assert opendp_gaussian_epsilon(rho, delta) == pytest.approx(eps, rel=1e-6)
    # and tight: 3e-12 below the root (the ledger's two 1e-12 slacks fit in it), so 4e-12 more exceeds it
    assert epsilon_from_rho(rho * (1 + 4e-12), delta) > eps


def test_monotone_in_every_argument():
    rhos = np.geomspace(1e-6, 50, 20)
    eps = [epsilon_from_rho(r, 1e-9) for r in rhos]
    assert np.all(np.diff(eps) > 0)
    deltas = np.geomspace(1e-15, 1e-2, 8)
    assert np.all(np.diff([epsilon_from_rho(0.1, d) for d in deltas]) < 0)
    assert np.all(np.diff([rho_from_epsilon(1.0, d) for d in deltas]) > 0)
    epsilons = np.geomspace(1e-3, 100, 8)
    assert np.all(np.diff([rho_from_epsilon(e, 1e-9) for e in epsilons]) > 0)


def test_zero_rho_is_zero_epsilon():
    assert epsilon_from_rho(0.0, 1e-9) == 0.0


@pytest.mark.slow
def test_epsilon_is_capped_below_the_end_of_opendps_range():
    # OpenDP's conversion overflows near rho = 7e4 at delta = 1e-9 (epsilon about 72,700): past it an
    # epsilon could only be met by a smaller one, silently, so epsilon above MAX_EPSILON is refused.
    rho = rho_from_epsilon(MAX_EPSILON, 1e-9)
    assert epsilon_from_rho(rho, 1e-9) == pytest.approx(MAX_EPSILON, rel=1e-11)
    with pytest.raises(InputError, match="at most 50,000"):
        rho_from_epsilon(MAX_EPSILON * 1.001, 1e-9)
    with pytest.raises(InputError, match="beyond the range of OpenDP"):
        epsilon_from_rho(1e6, 1e-9)


def test_delta_zero_is_refused_with_the_reason():
    for call in (lambda: rho_from_epsilon(1.0, 0.0), lambda: epsilon_from_rho(0.1, 0.0)):
        with pytest.raises(InputError, match="zCDP needs delta > 0 for a finite epsilon"):
            call()


@pytest.mark.parametrize("delta", [-1e-9, 1.0, 2.0, float("nan")])
def test_delta_outside_unit_interval(delta):
    with pytest.raises(InputError, match="delta"):
        rho_from_epsilon(1.0, delta)
    with pytest.raises(InputError, match="delta"):
        epsilon_from_rho(0.1, delta)


@pytest.mark.parametrize("eps", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_epsilon(eps):
    with pytest.raises(InputError, match="epsilon"):
        rho_from_epsilon(eps, 1e-9)


@pytest.mark.parametrize("rho", [-1e-3, float("inf"), float("nan")])
def test_bad_rho(rho):
    with pytest.raises(InputError, match="rho"):
        epsilon_from_rho(rho, 1e-9)


@pytest.mark.parametrize("epsilon, delta", [(1.0, 1e-9), (0.1, 1e-6), (10.0, 1e-12), (3.7, 1e-5)])
def test_charges_at_both_slacks_still_convert_within_the_budget(epsilon, delta):
    """The ledger lets a reservation pass the budget, and charges pass the reservation, by
    RHO_RTOL each: the budget is set far enough below the exact root that both together stay
    within (epsilon, delta). With the root 1e-14 away, 1 + 2e-12 passed epsilon."""
    from dpsynth.accounting import RHO_RTOL

    rho = rho_from_epsilon(epsilon, delta)
    worst = rho * (1 + RHO_RTOL) * (1 + RHO_RTOL)
    assert epsilon_from_rho(worst, delta) <= epsilon
