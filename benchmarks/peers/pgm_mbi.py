"""Benchmark driver for Private-PGM (`mbi` 2.0.0): run in benchmarks/.venv-mbi.

Estimation as the reference MST mechanism does it (mirror descent with its
Armijo line search, 10,000 iterations, JAX defaults: float32), then
``synthetic_data`` with its default rounding. See pgm_common.py for the protocol.
"""
import itertools
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402

import mbi  # noqa: E402
from mbi import Domain, LinearMeasurement, estimation  # noqa: E402
from pgm_common import CLOCK, load_measurements, peak_rss_mb, write_results  # noqa: E402

ITERS = 10_000


def main(meas_path, out_dir):
    t_import = CLOCK() - T0
    names, sizes, meas, rows = load_measurements(meas_path)
    domain = Domain(names, sizes)
    t = CLOCK()
    lm = [LinearMeasurement(y, clique, sigma) for clique, y, sigma in meas]
    model = estimation.MirrorDescent().estimate(domain, lm, iters=ITERS)
    t_estimate = CLOCK() - t
    t = CLOCK()
    synth = model.synthetic_data(rows)
    columns = synth.to_dict()
    samples = np.stack([np.asarray(columns[a]) for a in names], axis=1)
    t_sample = CLOCK() - t
    rss = peak_rss_mb()
    marg = {}
    for cl in [(a,) for a in names] + list(itertools.combinations(names, 2)):
        marg[cl] = np.asarray(model.project(cl).datavector())
    write_results(out_dir, system="mbi", version=mbi.__version__ if hasattr(mbi, "__version__") else "2.0.0",
                  t_import=t_import, t_estimate=t_estimate, t_sample=t_sample, rss_mb=rss,
                  total=float(model.total), samples=samples, marginals=marg,
                  note=f"MirrorDescent, {ITERS} iterations, float32 (JAX default)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
