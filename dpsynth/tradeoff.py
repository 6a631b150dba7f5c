"""Choosing the operating point: fidelity, utility and attack advantage against epsilon.

:func:`tradeoff` splits the real table into a training part and a held-out test
part, fits the synthesizer on the training part at each epsilon (``reps``
repetitions, in parallel processes), and measures every fit:

* fidelity -- mean TVD of the 1-, 2- and (sampled) 3-way marginals, and the
  *rare-combination error*: over the 2- and 3-way cells holding at most
  ``rare_share`` of the real rows, the L1 distance between real and synthetic
  shares relative to the real share those cells hold (0 = rare combinations
  reproduced exactly; 1 = as wrong as losing them all; above 1 when the
  synthetic data also over-fills them), with their coverage
  (share of those cells the synthetic data has at all). Low-order TVD averages
  hide exactly these cells;
* utility -- TSTR beside TRTR (the same models trained on the real training
  part), both tested on the held-out part, and model-ranking consistency;
* attacks -- each attack's advantage (TRAIN targets against held-out targets).

Each curve's *flattening point* is the smallest epsilon from which the mean
stays within ``flat_tolerance`` of its total change of the value at the largest
epsilon: spending more budget buys little on that measure.

This is internal evaluation on the real data without DP: nothing is released
and nothing is charged to any ledger (every fit uses its own in-memory budget);
the release itself is a separate ``dpsynth synth`` at the chosen epsilon.
"""
from __future__ import annotations

import itertools
import math
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dpsynth.accounting import NEIGHBOURING, _check_epsilon
from dpsynth.attacks import ATTACKS, run_attacks
from dpsynth.data import count_marginals
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.evaluate import check_targets, fidelity, utility
from dpsynth.synthesizers import METHODS
from dpsynth.synthesizers.base import validate_budget

NOTE = ("Internal evaluation on the real data without differential privacy: nothing from it is released and nothing "
        "is charged to any ledger (each fit spends an in-memory budget that is thrown away). Choosing epsilon from "
        "these curves is itself a look at the private data that no DP guarantee covers: a release of the same "
        "data at the chosen epsilon is (epsilon, delta)-DP for that epsilon, but the choice may reveal something. "
        "Where that matters, choose on public or disjoint data (a held-out sample not released). Release the "
        "chosen epsilon with a separate `dpsynth synth` run.")
RARE_SHARE = 0.01
FLAT_TOLERANCE = 0.1


def parse_epsilons(text: str) -> list[float]:
    """``"0.1,0.3,1"`` -> sorted distinct positive floats (InputError otherwise)."""
    try:
        values = sorted({float(x) for x in str(text).split(",") if x.strip()})
    except ValueError:
        raise InputError(f"--epsilons must be comma-separated numbers such as 0.1,0.3,1,3,10; got {text!r}") from None
    if len(values) < 2 or any(not math.isfinite(v) or v <= 0 for v in values):
        raise InputError(f"--epsilons needs at least two distinct finite values > 0; got {text!r}")
    for v in values:
        _check_epsilon(v)
    return values


def rare_combinations(real_codes: np.ndarray, synth_codes: np.ndarray, sizes: Sequence[int],
                      marginals: Sequence[Sequence[int]], rare_share: float = RARE_SHARE) -> dict:
    """Error on the rare cells of ``marginals``: cells whose real share is in (0, rare_share].

    ``relative_error`` = sum |real share - synthetic share| over those cells divided
    by their total real share; ``coverage`` = fraction of those cells with at
    least one synthetic record.
    """
    cr = count_marginals(real_codes, sizes, marginals)
    cs = count_marginals(synth_codes, sizes, marginals)
    pr = np.concatenate([c / max(len(real_codes), 1) for c in cr])
    ps = np.concatenate([c / max(len(synth_codes), 1) for c in cs])
    rare = (pr > 0) & (pr <= rare_share)
    if not rare.any():
        return {"rare_share": rare_share, "n_cells": 0, "relative_error": None, "coverage": None}
    return {"rare_share": rare_share, "n_cells": int(rare.sum()),
            "relative_error": float(np.abs(pr[rare] - ps[rare]).sum() / pr[rare].sum()),
            "coverage": float((ps[rare] > 0).mean())}


def _one_fit(method: str, epsilon: float, delta: float, rep: int, train: pd.DataFrame, test: pd.DataFrame,
             schema_dict: dict, target: str, schema_is_public: bool, n_three_way: int, max_train_rows: int,
             attacks: Sequence[str], n_targets: int, seed: int) -> dict:
    """Fit at ``epsilon`` on TRAIN (in-memory budget) and measure the synthetic table."""
    schema = Schema.from_json(schema_dict)
    start = time.perf_counter()
    synth = METHODS[method](epsilon=epsilon, delta=delta).fit(train, schema, schema_is_public=schema_is_public)
    rows = synth.sample(len(train))
    fit_s = time.perf_counter() - start
    fid = fidelity(train, rows, schema, n_three_way=n_three_way, seed=seed)
    a, b = schema.encode(train), schema.encode(rows)
    index = {c: j for j, c in enumerate(schema.names)}
    marginals = [[index[c] for c in m["columns"]] for k in ("2", "3") for m in fid["marginals"][k]]
    util = utility(train, rows, [target], holdout=test, max_train_rows=max_train_rows, seed=seed)
    att = run_attacks(train, test, rows, schema, attacks=list(attacks), n_targets=n_targets, seed=seed + rep)
    t = util["targets"][0]
    return {
        "epsilon": epsilon,
        "rep": rep,
        "fit_seconds": fit_s,
        "tvd": {k: fid["tvd"][k]["mean"] for k in ("1", "2", "3")},
        "rare": rare_combinations(a, b, schema.sizes, marginals),
        "utility": {m["model"]: {"tstr": m["tstr"]["auc"], "trtr": m["trtr"]["auc"]} for m in t["models"]},
        "ranking_consistency": t["ranking_consistency"],
        "attacks": {x["name"]: {"advantage": x["advantage"], "ci_low": x["ci_low"], "ci_high": x["ci_high"],
                                "leak": x["leak"]} for x in att["attacks"]},
    }


def flattening_point(epsilons: Sequence[float], means: Sequence[float | None], spread: float = 0.0,
                     tolerance: float = FLAT_TOLERANCE) -> tuple[float | None, str]:
    """Where a curve of means flattens: ``(epsilon, "flattens")``, or ``(None, why)``.

    The flattening point is the smallest epsilon below the largest from which every
    mean stays within ``tolerance`` x (total change) of the mean at the largest
    epsilon. ``why``: ``"still_changing"`` (not flat before the largest epsilon),
    ``"no_trend"`` (the total change is within ``spread``, the typical min-max
    range between repetitions), ``"no_change"`` or ``"undefined"`` (missing values).
    """
    m = np.array([np.nan if v is None else v for v in means], dtype=float)
    if np.isnan(m).any():
        return None, "undefined"
    span = float(np.max(m) - np.min(m))
    if span == 0:
        return None, "no_change"
    if span <= spread:
        return None, "no_trend"
    close = np.abs(m - m[-1]) <= tolerance * span
    k = len(m) - 1
    while k > 0 and close[k - 1]:
        k -= 1
    return (float(epsilons[k]), "flattens") if k < len(m) - 1 else (None, "still_changing")


def _curve(epsilons: list[float], fits: list[dict], get) -> dict:
    by_eps = [[get(f) for f in fits if f["epsilon"] == e] for e in epsilons]
    by_eps = [[v for v in vals if v is not None] for vals in by_eps]
    mean = [float(np.mean(v)) if v else None for v in by_eps]
    lo = [float(np.min(v)) if v else None for v in by_eps]
    hi = [float(np.max(v)) if v else None for v in by_eps]
    spread = float(np.mean([b - a for a, b in zip(lo, hi) if a is not None])) if any(v is not None for v in lo) else 0.0
    at, status = flattening_point(epsilons, mean, spread)
    return {"mean": mean, "min": lo, "max": hi, "flattens_at": at, "flat_status": status}


def tradeoff(data: pd.DataFrame, schema: Any, epsilons: Sequence[float], *, method: str = "mst",
             target: str | None = None, reps: int = 2, workers: int = 1, delta: float = 1e-9,
             test_fraction: float = 0.3, schema_is_public: bool = False, n_three_way: int = 100,
             max_train_rows: int = 5000, attacks: Sequence[str] | None = None, n_targets: int = 1000,
             seed: int = 0) -> dict:
    """Fit ``method`` at every epsilon (``reps`` times) on a training split and measure each fit.

    Returns ``{note, method, delta, epsilons, reps, target, n_train, n_test, fits=[...],
    curves={name: {mean, min, max, flattens_at, flat_status}}, seconds}``. Nothing is released
    or charged to a ledger; see the module docstring.
    """
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    epsilons = sorted({float(e) for e in epsilons})
    for e in epsilons:
        validate_budget(e, delta)
    if len(epsilons) < 2:
        raise InputError("give at least two epsilons to compare")
    if int(reps) < 1 or int(workers) < 1:
        raise InputError(f"reps and workers must be at least 1, got reps={reps}, workers={workers}")
    if not 0 < test_fraction < 1:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
    schema = schema if isinstance(schema, Schema) else Schema.from_json(schema)
    attacks = list(ATTACKS) if attacks is None else list(attacks)
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        raise InputError(f"unknown attack(s) {unknown}; choose from {', '.join(ATTACKS)}")
    data = data.reset_index(drop=True)
    schema.encode(data)  # bad data fails here, before any fitting
    target = check_targets(data, [target] if target else None, 1)
    if not target:
        raise InputError("no categorical column to predict; name a TSTR target with --target COL")
    target = target[0]
    perm = np.random.default_rng(seed).permutation(len(data))
    n_test = int(round(test_fraction * len(data)))
    if n_test < 40 or len(data) - n_test < 40:
        raise InputError(f"the table has {len(data)} rows; the tradeoff needs at least 40 in each of the "
                         f"training and test splits")
    test, train = data.iloc[np.sort(perm[:n_test])], data.iloc[np.sort(perm[n_test:])]
    jobs = [(method, e, delta, r, train, test, schema.to_dict(), target, schema_is_public, n_three_way,
             max_train_rows, attacks, n_targets, seed) for e in epsilons for r in range(int(reps))]
    start = time.perf_counter()
    if workers == 1:
        fits = [_one_fit(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(max_workers=int(workers)) as pool:
            fits = list(pool.map(_one_fit, *zip(*jobs)))
    models = list(fits[0]["utility"])
    curves: dict[str, dict] = {}
    for k in ("1", "2", "3"):
        curves[f"tvd_{k}way"] = _curve(epsilons, fits, lambda f, k=k: f["tvd"][k])
    curves["rare_relative_error"] = _curve(epsilons, fits, lambda f: f["rare"]["relative_error"])
    curves["rare_coverage"] = _curve(epsilons, fits, lambda f: f["rare"]["coverage"])
    for m, kind in itertools.product(models, ("tstr", "trtr")):
        curves[f"{kind}_{m}"] = _curve(epsilons, fits, lambda f, m=m, kind=kind: f["utility"][m][kind])
    curves["ranking_consistency"] = _curve(epsilons, fits, lambda f: f["ranking_consistency"])
    for a in attacks:
        curves[f"advantage_{a}"] = _curve(epsilons, fits, lambda f, a=a: f["attacks"][a]["advantage"])
    return {
        "note": NOTE,
        "method": method,
        "delta": delta,
        "neighbouring": NEIGHBOURING,
        "epsilons": epsilons,
        "reps": int(reps),
        "target": target,
        "models": models,
        "attacks": attacks,
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "rare_share": RARE_SHARE,
        "flat_tolerance": FLAT_TOLERANCE,
        "fits": fits,
        "curves": curves,
        "seconds": time.perf_counter() - start,
        "workers": int(workers),
        "seed": seed,
    }


# ----------------------------------------------------------------------------- rendering

def _plot_curves(ax, epsilons, curves, names, labels, colours, styles=None) -> None:
    for i, (name, label) in enumerate(zip(names, labels)):
        c = curves[name]
        mean = np.array([np.nan if v is None else v for v in c["mean"]], dtype=float)
        lo = np.array([np.nan if v is None else v for v in c["min"]], dtype=float)
        hi = np.array([np.nan if v is None else v for v in c["max"]], dtype=float)
        colour = colours[i % len(colours)]
        ax.plot(epsilons, mean, (styles or ["-"])[i % len(styles or ["-"])], marker="o", ms=4, color=colour,
                label=label)
        ax.fill_between(epsilons, lo, hi, color=colour, alpha=0.15, lw=0)
        if c["flattens_at"] is not None:
            k = epsilons.index(c["flattens_at"])
            ax.plot([c["flattens_at"]], [mean[k]], marker="*", ms=13, color=colour, mec="black", mew=0.6, zorder=5)
    ax.set_xscale("log")
    ax.set_xticks(epsilons, [f"{e:g}" for e in epsilons])
    ax.set_xlabel("epsilon")
    ax.legend(fontsize=7, frameon=False)


def render_tradeoff_html(result: dict) -> str:
    """A self-contained page: three panels (fidelity, utility, attacks) and the table of means."""
    from dpsynth.report import PAGE_CSS, esc, html_img, pyplot, png_base64, html_table

    plt = pyplot()
    eps = result["epsilons"]
    curves = result["curves"]
    palette = ["#1f5f9f", "#e07b28", "#2a9d5c", "#8e44ad", "#c0392b", "#7f8c8d"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    _plot_curves(axes[0], eps, curves, ["tvd_1way", "tvd_2way", "tvd_3way", "rare_relative_error", "rare_coverage"],
                 ["1-way TVD", "2-way TVD", "3-way TVD", f"rare cells (<= {result['rare_share']:.0%}): rel. error",
                  "rare cells: coverage (higher is better)"],
                 palette)
    axes[0].set_title("Fidelity (TVD and rare-cell error: lower is better)", loc="left")
    names, labels, colours, styles = [], [], [], []
    for i, m in enumerate(result["models"]):
        names += [f"tstr_{m}", f"trtr_{m}"]
        labels += [f"TSTR {m.replace('_', ' ')}", f"TRTR {m.replace('_', ' ')}"]
        colours += [palette[i], palette[i]]
        styles += ["-", ":"]
    _plot_curves(axes[1], eps, curves, names, labels, colours, styles)
    axes[1].set_title(f"Utility: AUC predicting {result['target']} (higher is better)", loc="left")
    _plot_curves(axes[2], eps, curves, [f"advantage_{a}" for a in result["attacks"]],
                 [a.replace("_", " ") for a in result["attacks"]], palette)
    axes[2].axhline(0, color="#555", lw=0.8)
    axes[2].set_title("Attack advantage (TRAIN - held out; 0 = no leak)", loc="left")
    fig.tight_layout()
    plot = png_base64(fig)
    header = ["measure"] + [f"eps {e:g}" for e in eps] + ["flattens at"]
    rows = []
    for name, c in curves.items():
        rows.append([esc(name)] + ["n/a" if v is None else f"{v:.3f}" for v in c["mean"]] + [_flat_text(c)])
    fits = result["fits"]
    fit_rows = [[f"{e:g}", f"{np.mean([f['fit_seconds'] for f in fits if f['epsilon'] == e]):.1f} s"] for e in eps]
    return "\n".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>dpsynth tradeoff</title>",
        f"<style>{PAGE_CSS}</style></head><body><main>",
        f"<h1>Privacy-utility tradeoff: {esc(result['method'].upper())}</h1>",
        f"<div class='banner internal'>{esc(result['note'])}</div>",
        f"<p>{result['n_train']} training rows (the synthesizer's input) and {result['n_test']} held-out real rows "
        f"(TSTR/TRTR test set and the attacks' baseline); {result['reps']} fit(s) per epsilon, delta "
        f"{result['delta']:g}, {result['neighbouring']} neighbouring. Lines: mean over the fits; bands: min to max; "
        f"<b>stars</b>: where the curve flattens (from there on the mean stays within "
        f"{result['flat_tolerance']:.0%} of its total change of the value at the largest epsilon); no star: still "
        f"changing at the largest epsilon, or no trend beyond the spread between fits. "
        f"Rare cells: 2- and 3-way cells holding at most {result['rare_share']:.0%} of the real rows, which "
        f"mean TVDs hide.</p>",
        html_img(plot, "tradeoff curves"),
        "<h2>Means by epsilon</h2>",
        html_table(header, rows, [False] + [True] * (len(eps) + 1)),
        "<h3>Fit time</h3>",
        html_table(["epsilon", "mean fit + sample time"], fit_rows, [True, True]),
        f"<footer>All numbers, per fit, are in the JSON twin. Total {result['seconds']:.0f} s with "
        f"{result['workers']} worker(s).</footer></main></body></html>",
    ])


def _flat_text(curve: dict) -> str:
    if curve["flattens_at"] is not None:
        return f"{curve['flattens_at']:g}"
    return {"still_changing": "still changing at the largest epsilon", "no_trend": "no trend beyond the fits' spread",
            "no_change": "constant", "undefined": "n/a"}[curve["flat_status"]]


def format_tradeoff(result: dict) -> str:
    """Plain-text table of the curves' means."""
    eps = result["epsilons"]
    lines = [f"{result['method']} at epsilon {', '.join(f'{e:g}' for e in eps)}, delta {result['delta']:g}, "
             f"{result['neighbouring']} neighbouring ({result['reps']} fit(s) each)",
             f"{'measure':<40}" + "".join(f"{e:>9g}" for e in eps) + "  flattens at"]
    for name, c in result["curves"].items():
        lines.append(f"{name:<40}" + "".join("      n/a" if v is None else f"{v:>9.3f}" for v in c["mean"])
                     + f"  {_flat_text(c)}")
    lines += ["", "Note: " + result["note"]]
    return "\n".join(lines)
