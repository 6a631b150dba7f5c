"""Benchmark driver for dpmm 0.1.9 (its vendored numpy Private-PGM,
``FactoredInference``): run in benchmarks/.venv-dpmm.

Estimation as dpmm's MST model does it (mirror descent with its line search,
``n_iters=10000``), then ``synthetic_data`` with its default rounding. See
pgm_common.py for the protocol.
"""
import itertools
import sys
import time
from pathlib import Path

T0 = time.perf_counter()
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402

from dpmm.models.base.mbi import Domain, FactoredInference  # noqa: E402
from pgm_common import CLOCK, load_measurements, peak_rss_mb, write_results  # noqa: E402

ITERS = 10_000


def main(meas_path, out_dir):
    t_import = CLOCK() - T0
    names, sizes, meas, rows = load_measurements(meas_path)
    domain = Domain(names, sizes)
    t = CLOCK()
    engine = FactoredInference(domain, iters=ITERS, prng=np.random.RandomState(0))
    model = engine.estimate([(None, y, sigma, clique) for clique, y, sigma in meas])
    t_estimate = CLOCK() - t
    t = CLOCK()
    samples = model.synthetic_data(rows).df[names].to_numpy()
    t_sample = CLOCK() - t
    rss = peak_rss_mb()
    marg = {}
    for cl in [(a,) for a in names] + list(itertools.combinations(names, 2)):
        marg[cl] = model.project(list(cl)).datavector()
    write_results(out_dir, system="dpmm", version="0.1.9", t_import=t_import, t_estimate=t_estimate,
                  t_sample=t_sample, rss_mb=rss, total=float(model.total), samples=samples,
                  marginals=marg, note=f"FactoredInference mirror descent, {ITERS} iterations, float64")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
