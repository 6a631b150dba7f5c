"""Benchmark driver for dpsynth's own engine (``dpsynth.pgm``): run in the
package's venv. Default estimation (the exact dual solver on MST's
measurements) and default sampling (``method="round"``). See pgm_common.py
for the protocol.
"""
import itertools
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402

import dpsynth  # noqa: E402
from dpsynth.pgm import Domain, Measurement, estimate  # noqa: E402
from pgm_common import CLOCK, load_measurements, peak_rss_mb, write_results  # noqa: E402


def main(meas_path, out_dir):
    t_import = CLOCK() - T0
    names, sizes, meas, rows = load_measurements(meas_path)
    domain = Domain(names, sizes)
    t = CLOCK()
    model = estimate(domain, [Measurement(clique, y, sigma) for clique, y, sigma in meas])
    t_estimate = CLOCK() - t
    t = CLOCK()
    samples = model.sample(rows, np.random.default_rng(0))
    t_sample = CLOCK() - t
    rss = peak_rss_mb()
    marg = {cl: model.project(cl) for cl in [(a,) for a in names] + list(itertools.combinations(names, 2))}
    write_results(out_dir, system="dpsynth", version=dpsynth.__version__, t_import=t_import,
                  t_estimate=t_estimate, t_sample=t_sample, rss_mb=rss, total=model.total,
                  samples=samples, marginals=marg,
                  note=f"solver={model.solver}, {model.iterations} iterations, float64, sample method=round")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
