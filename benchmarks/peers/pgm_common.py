"""Shared file protocol of the graphical-model engine benchmark drivers.

Every driver (dpsynth's and each peer's, each run in its own virtual
environment by ``benchmarks/pgm_engine.py``) is called as

    python pgm_<system>.py MEASUREMENTS.npz OUT_DIR

reads the measurements with :func:`load_measurements`, estimates a model,
samples as many rows as the data has, and hands its results back through
:func:`write_results`. Only numpy and the standard library are used here, so
the module imports in every peer's environment.
"""
from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import numpy as np

CLOCK = time.perf_counter


def load_measurements(path):
    """Return ``(names, sizes, measurements, rows)``; measurements are
    ``(clique tuple, flat noisy counts, sigma)`` and ``rows`` the number of
    rows to sample."""
    z = np.load(path, allow_pickle=False)
    names = [str(n) for n in z["names"]]
    sizes = [int(s) for s in z["sizes"]]
    meas = []
    for k in range(int(z["count"])):
        clique = tuple(str(a) for a in z[f"clique_{k}"])
        meas.append((clique, np.asarray(z[f"values_{k}"], dtype=np.float64), float(z[f"sigma_{k}"])))
    return names, sizes, meas, int(z["rows"])


def peak_rss_mb():
    """Peak resident set size of this process so far, in MB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_results(out_dir, *, system, version, t_import, t_estimate, t_sample, rss_mb,
                  total, samples, marginals, note=""):
    """Write ``result.json`` (timings in seconds, peak RSS in MB measured right
    after sampling), ``samples.npy`` (rows x attributes, domain order) and
    ``marginals.npz`` (the model's marginal counts, key = attributes joined by
    '|')."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "samples.npy", np.asarray(samples, dtype=np.int64))
    np.savez(out / "marginals.npz", **{"|".join(k): np.asarray(v, dtype=np.float64).ravel()
                                       for k, v in marginals.items()})
    (out / "result.json").write_text(json.dumps({
        "system": system, "version": version, "t_import": t_import, "t_estimate": t_estimate,
        "t_sample": t_sample, "rss_mb": rss_mb, "total": float(total), "note": note,
    }, indent=1))
