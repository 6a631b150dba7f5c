"""Empirical DP audit: the bound's statistics, real synthesizers, a broken one, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom

from dpsynth.attacks.audit import (
    audit,
    bound_from_scores,
    canary_design,
    clopper_pearson_upper,
    epsilon_bound,
)
from dpsynth.cli import main
from dpsynth.errors import InputError
from dpsynth.pgm import Measurement, estimate
from dpsynth.synthesizers import AIM, METHODS, MST, Independent


class NoiselessFirstColumn(Independent):
    """BROKEN on purpose (test suite only): the first column's 1-way marginal is used without noise."""

    method = "broken-independent"

    def _fit(self, ctx, rho):
        first, *rest = ctx.domain.names
        ctx.measurements.append(Measurement((first,), ctx.answer((first,)).astype(float), 1e-3))
        for attr in rest:
            ctx.measure((attr,), rho / len(ctx.domain.names))
        return estimate(ctx.domain, ctx.measurements, max_cells=self.max_model_cells)


# ----------------------------------------------------------------------------- the bound itself

@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (9, 10), (0, 100), (17, 250)])
def test_clopper_pearson_upper_solves_the_binomial_tail(k, n):
    alpha = 0.025
    u = float(clopper_pearson_upper(k, n, alpha))
    assert binom.cdf(k, n, u) == pytest.approx(alpha, rel=1e-6)
    assert float(clopper_pearson_upper(n, n, alpha)) == 1.0
    if k == 0:
        assert u == pytest.approx(1 - alpha ** (1 / n), rel=1e-9)


def test_epsilon_bound_at_perfect_separation_and_at_chance():
    u = 1 - 0.025 ** (1 / 100)
    assert float(epsilon_bound(0, 100, 0, 100, 1e-9, 0.95)) == pytest.approx(np.log((1 - 1e-9 - u) / u))
    assert float(epsilon_bound(50, 100, 50, 100, 1e-9, 0.95)) == 0.0
    # symmetric in which error is the small one
    assert float(epsilon_bound(2, 100, 30, 100, 0.0, 0.9)) == pytest.approx(float(epsilon_bound(30, 100, 2, 100, 0.0, 0.9)))


def test_randomized_response_bounds_hold_at_their_confidence_and_have_power():
    """eps-randomized response: the optimal test meets eps exactly, so a bound built from
    point estimates would exceed eps in about half the audits; ours may do so in at most 5%."""
    rng = np.random.default_rng(0)
    eps, n, reps = 1.0, 400, 300
    p = 1 / (1 + np.exp(eps))
    lbs = np.array([
        bound_from_scores({"rr": (rng.random(n) < p).astype(float)},
                          {"rr": (rng.random(n) < 1 - p).astype(float)}, eps, 1e-9)["epsilon_lower_bound"]
        for _ in range(reps)
    ])
    assert (lbs > eps).sum() <= 35          # Binomial(300, 0.05) exceeds 35 with probability < 1e-7
    assert np.median(lbs) > 0.5             # and the bound is not vacuous


def test_the_test_is_chosen_on_the_selection_half_only():
    """A statistic that separates perfectly on the selection half but is noise on the
    evaluation half must not produce a bound (the choice is not re-made on the evaluation runs)."""
    rng = np.random.default_rng(1)
    n = 200
    lucky0 = np.concatenate([np.zeros(100), rng.random(100)])
    lucky1 = np.concatenate([np.ones(100), rng.random(100)])
    r = bound_from_scores({"lucky": lucky0}, {"lucky": lucky1}, 1.0, 1e-9)
    assert r["statistic"]["name"] == "lucky" and r["selection_scores"]["lucky"] > 3
    assert r["epsilon_lower_bound"] < 0.5 and not r["violation"]
    assert r["runs"] == n
    assert r["runs_selection"] == 100 and r["runs_evaluation"] == 100


# ----------------------------------------------------------------------------- synthesizers

def test_canary_design_puts_the_canary_in_empty_cells():
    d = canary_design(rows=50, columns=3, values=4, seed=3)
    codes = d.schema.encode(d.data)
    canary = d.schema.encode(d.canary)[0]
    assert len(d.neighbour) == len(d.data) + 1
    assert (codes != canary[None, :]).all()  # no real record shares any canary value


@pytest.mark.slow
def test_broken_synthesizer_is_caught_with_200_runs():
    result = audit(NoiselessFirstColumn, epsilon=1.0, delta=1e-9, runs=200, workers=2, seed=0)
    assert result["runs"] == 200
    assert result["epsilon_lower_bound"] > 1.0
    assert result["violation"] is True
    assert result["statistic"]["name"] == "model_value[c0]"


@pytest.mark.slow
@pytest.mark.parametrize("cls", [MST, AIM])
def test_mst_and_aim_show_no_violation_at_epsilon_1(cls):
    result = audit(cls, epsilon=1.0, delta=1e-9, runs=30, workers=2, seed=0)  # 15 evaluation runs can show up to 1.28
    assert result["violation"] is False
    assert result["epsilon_lower_bound"] <= 1.0
    assert result["method"] == cls.method
    assert len(result["statistic"]["scores_with_canary"]) == result["runs_evaluation"]


def test_the_audit_silences_the_research_rng_warning(recwarn):
    audit(Independent, epsilon=1.0, runs=10, seed=0, design=canary_design(rows=40, columns=2))
    assert not [w for w in recwarn if "INSECURE" in str(w.message)]


# ----------------------------------------------------------------------------- CLI

def test_cli_json_and_exit_code_0(capsys):
    rc = main(["audit", "--method", "independent", "--epsilon", "1", "--runs", "10", "--rows", "40", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("epsilon_claimed", "epsilon_lower_bound", "runs", "violation", "confidence", "statistic"):
        assert key in out
    assert out["epsilon_claimed"] == 1.0 and out["runs"] == 10 and out["violation"] is False


def test_cli_exits_1_on_a_violation(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(METHODS, "broken", NoiselessFirstColumn)
    out = tmp_path / "audit.json"
    rc = main(["audit", "--method", "broken", "--epsilon", "0.5", "--runs", "20", "--rows", "40",
               "--workers", "2", "--out", str(out)])
    assert rc == 1
    assert "VIOLATION" in capsys.readouterr().out
    assert json.loads(out.read_text())["violation"] is True


@pytest.mark.parametrize("argv,needle", [
    (["--method", "nope", "--epsilon", "1", "--runs", "10"], "unknown method"),
    (["--method", "mst", "--epsilon", "0", "--runs", "10"], "epsilon"),
    (["--method", "mst", "--epsilon", "1", "--delta", "1.5", "--runs", "10"], "delta"),
    (["--method", "mst", "--epsilon", "1", "--runs", "5"], "--runs"),
    (["--method", "mst", "--epsilon", "1", "--runs", "10", "--workers", "0"], "--workers"),
    (["--method", "mst", "--epsilon", "1", "--runs", "10", "--columns", "40"], "cells"),
    (["--method", "mst", "--epsilon", "1", "--runs", "10", "--confidence", "2"], "confidence"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, needle, capsys):
    assert main(["audit", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


@pytest.mark.parametrize("fraction", [0.0, 1.0, float("nan"), 0.999])
def test_a_bad_selection_fraction_is_refused_before_any_fit(fraction):
    def factory(**_):
        raise AssertionError("fitted before the selection fraction was checked")
    with pytest.raises(InputError, match="selection"):
        audit(factory, 1.0, runs=50, selection_fraction=fraction)


def test_too_few_runs_give_an_inconclusive_verdict_not_a_clean_one(capsys):
    """With 10 runs (5 to bound) no outcome can show more than 0: "no violation found" was vacuous."""
    from dpsynth.attacks.audit import format_audit, max_detectable, runs_needed, verdict

    needed = runs_needed(1.0, 1e-9, 0.95)
    assert max_detectable(needed, 1e-9, 0.95) > 1.0 >= max_detectable(needed - 1, 1e-9, 0.95)
    r = audit(Independent, epsilon=1.0, runs=10, seed=0, design=canary_design(rows=40, columns=2))
    r.update(method="independent")
    assert verdict(r) == "inconclusive" and r["max_detectable_epsilon"] == 0.0
    assert "inconclusive: with 10 runs no bound can exceed 0.00" in format_audit(r)
    assert f"use at least {needed} runs" in format_audit(r)
    assert main(["audit", "--method", "independent", "--epsilon", "1", "--runs", "10", "--rows", "40"]) == 0
    assert "inconclusive" in capsys.readouterr().out
    r2 = audit(Independent, epsilon=1.0, runs=needed, seed=0, design=canary_design(rows=40, columns=2))
    assert verdict(r2) == "no violation"


def test_a_negative_seed_is_bad_input(capsys):
    assert main(["audit", "--method", "independent", "--epsilon", "1", "--runs", "10", "--seed", "-1"]) == 2
    assert "seed must be a whole number >= 0" in capsys.readouterr().err
