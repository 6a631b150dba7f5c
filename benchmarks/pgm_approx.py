"""Approximate (region-graph) inference against exact inference on adult_pgm.

1. Engine, on a model small enough for both: MST's measurements (all 1-way
   marginals, the mutual-information spanning tree's 2-way marginals) plus
   ``EXTRA`` random 2-way marginals that close loops, Gaussian noise at
   epsilon 1 (as benchmarks/pgm_engine.py). Both inferences estimate, project
   every pair and sample 48,842 rows; the table gives time, size, objective,
   2-way TVD to the data, and how far the approximate marginals are from the
   exact ones on the measured cliques.
2. MWEM at a small ``max_model_cells``: ``inference="exact"`` (selection stops
   adding marginals past the junction-tree limit) against ``"auto"`` (keeps
   selecting with approximate inference once past it), 2- and 3-way TVD of the
   synthetic rows and time. Research RNG (seeded numpy noise, not a secure
   release) for reproducibility; one run each (the machine is shared).

Run: ``.venv/bin/python benchmarks/pgm_approx.py`` (writes
benchmarks/results/pgm_approx.md).
"""
from __future__ import annotations

import itertools
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pgm_engine import RHO, SEED, counts, load_adult, machine, mst_measurements  # noqa: E402

from dpsynth.domain import Schema  # noqa: E402
from dpsynth.io import atomic_write  # noqa: E402
from dpsynth.pgm import Domain, Measurement, estimate, model_size  # noqa: E402
from dpsynth.synthesizers import MWEM  # noqa: E402

HERE = Path(__file__).resolve().parent
EXTRA = 4                 # loop-closing 2-way marginals added to MST's tree
MWEM_CELLS = 30_000       # max_model_cells for the MWEM comparison
MWEM_EPSILON = 1.0
N_TRIPLES = 100


def tvd_mean(real: np.ndarray, synth_counts, sizes: list[int], sets) -> float:
    """Mean TVD over attribute index sets ``sets`` between the real codes and
    ``synth_counts(set) -> counts`` (C order over the set)."""
    names = list(range(len(sizes)))
    out = []
    for s in sets:
        true = counts(real, names, sizes, s)
        est = np.clip(np.asarray(synth_counts(s), dtype=np.float64).ravel(), 0.0, None)
        out.append(0.5 * np.abs(true / true.sum() - est / est.sum()).sum())
    return float(np.mean(out))


def engine_part(names, sizes, codes) -> tuple[list[str], dict]:
    dom = Domain(names, sizes)
    meas = mst_measurements(names, sizes, codes)
    tree = {cl for cl, _, _ in meas if len(cl) == 2}
    rng = np.random.default_rng(SEED + 1)
    others = [p for p in itertools.combinations(names, 2) if p not in tree]
    extra = [others[i] for i in rng.choice(len(others), EXTRA, replace=False)]
    sigma = np.sqrt(3.0 / (2.0 * RHO)) * np.sqrt(EXTRA)
    for cl in extra:
        x = counts(codes, names, sizes, cl)
        meas.append((cl, x + rng.normal(0.0, sigma, x.size), float(sigma)))
    ms = [Measurement(cl, y, s) for cl, y, s in meas]
    pairs = list(itertools.combinations(range(len(names)), 2))
    idx = lambda s: [names[i] for i in s]  # noqa: E731
    rows, models = [], {}
    for inference in ("exact", "approx"):
        t0 = time.perf_counter()
        model = estimate(dom, ms, inference=inference)
        t_est = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth = model.sample(len(codes), rng=1)
        t_sample = time.perf_counter() - t0
        models[inference] = model
        rows.append({
            "inference": inference, "cells": model_size(dom, [m.clique for m in ms], inference),
            "estimate_s": t_est, "iterations": model.iterations, "objective": model.objective,
            "sample_s": t_sample,
            "tvd2_model": tvd_mean(codes, lambda s: model.project(idx(s)), sizes, pairs),
            "tvd2_rows": tvd_mean(codes, lambda s: counts(synth, list(range(len(sizes))), sizes, s), sizes, pairs),
        })
    exact, approx = models["exact"], models["approx"]
    gap = max(0.5 * np.abs(exact.project(m.clique) - approx.project(m.clique)).sum() / exact.total for m in ms)
    lines = [
        f"## Engine: exact vs approximate on one model (MST tree + {EXTRA} loop-closing pairs, epsilon 1)", "",
        f"Measurements: {len(ms)} ({len(names)} 1-way, {len(tree)} tree pairs, extra pairs "
        f"{', '.join('-'.join(p) for p in extra)}); rho = {RHO}, numpy seed {SEED}.", "",
        "| inference | model cells | estimate (s) | iterations | objective | sample 48,842 rows (s) | "
        "2-way TVD model | 2-way TVD rows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['inference']} | {r['cells']:,} | {r['estimate_s']:.1f} | {r['iterations']} | "
                     f"{r['objective']:.2f} | {r['sample_s']:.2f} | {r['tvd2_model']:.4f} | {r['tvd2_rows']:.4f} |")
    lines += [
        "", f"Largest TVD between the approximate and the exact model on a measured clique: {gap:.2e}.",
        "2-way TVD model: every pair through `project` (approximate: pairs outside one region are a "
        "maximum-entropy fit to their 1-way marginals, i.e. independent).", "",
    ]
    return lines, {"gap": gap}


def mwem_part(names, sizes, codes) -> list[str]:
    schema = Schema.from_pgm_domain(dict(zip(names, sizes)))
    df = pd.DataFrame(codes, columns=names)
    rng = np.random.default_rng(SEED)
    pairs = list(itertools.combinations(range(len(names)), 2))
    triples = [tuple(sorted(rng.choice(len(names), 3, replace=False))) for _ in range(N_TRIPLES)]
    lines = [
        f"## MWEM on adult_pgm at max_model_cells = {MWEM_CELLS:,} (epsilon {MWEM_EPSILON}, research RNG)", "",
        "| inference | fit (s) | sample (s) | measured marginals | final model | 2-way TVD | 3-way TVD | "
        "measured pairs: TVD model | measured pairs: TVD rows |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for inference in ("exact", "auto"):
        synth = MWEM(epsilon=MWEM_EPSILON, max_model_cells=MWEM_CELLS, inference=inference,
                     insecure_random_state=7)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            synth.fit(df, schema, schema_is_public=True)
        t_fit = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = schema.encode(synth.sample(len(df), random_state=1)).astype(np.int64)
        t_sample = time.perf_counter() - t0
        model = synth.model_
        kind = model.inference
        cells = model.region_graph.size if kind == "approx" else model.junction_tree.size
        get = lambda s: counts(out, list(range(len(sizes))), sizes, s)  # noqa: E731
        measured = [tuple(names.index(a) for a in cl) for cl in model.cliques]
        fitted = tvd_mean(codes, lambda s: model.project([names[i] for i in s]), sizes, measured)
        lines.append(f"| {inference} | {t_fit:.0f} | {t_sample:.1f} | {len(set(synth.selected_))} | "
                     f"{kind}, {cells:,} cells | {tvd_mean(codes, get, sizes, pairs):.4f} | "
                     f"{tvd_mean(codes, get, sizes, triples):.4f} | {fitted:.4f} | "
                     f"{tvd_mean(codes, get, sizes, measured):.4f} |")
    lines += ["", f"3-way TVD: mean over {N_TRIPLES} random triples (numpy seed {SEED}); 2-way: all "
              f"{len(pairs)} pairs; both of the synthetic rows (as many as the data). The last two columns "
              "compare, on the marginals MWEM measured, the model's own marginals (pseudo-marginals for "
              "the approximate model) and its rows: the gap is what sampling a loopy region graph "
              "ancestrally loses.", ""]
    return lines


def main() -> None:
    names, sizes, codes = load_adult()
    load = os.getloadavg()
    t0 = time.perf_counter()
    engine_lines, _ = engine_part(names, sizes, codes)
    mwem_lines = mwem_part(names, sizes, codes)
    text = "\n".join([
        "# Approximate inference (region graph, Relaxed Private-PGM style) vs exact, adult_pgm", "",
        f"Machine: {machine()}. Load average (1 min) {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"shared and busy, single runs, so times are of one moment. Total {time.perf_counter() - t0:.0f} s. "
        "Script: benchmarks/pgm_approx.py.", "",
        *engine_lines, *mwem_lines,
    ])
    with atomic_write(HERE / "results" / "pgm_approx.md", "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
