"""Non-private reference points (no privacy at all; never a release).

* ``bootstrap``: as many rows drawn with replacement from the real table: the
  sampling error of the real data itself, the floor no synthesizer can beat.
* ``independent``: each column drawn independently from its exact 1-way
  marginal: what ignoring every correlation costs (dpsynth Independent's
  noiseless limit).
"""
from __future__ import annotations

import numpy as np

from runner_io import Timer, load, parse, save


def main() -> None:
    args = parse(("bootstrap", "independent"))
    codes, _ = load(args)
    rng = np.random.default_rng(args.seed)
    n = len(codes)
    timer = Timer()
    with timer("fit+sample"):
        if args.method == "bootstrap":
            out = codes[rng.integers(0, n, n)]
        else:
            out = np.take_along_axis(codes, rng.integers(0, n, codes.shape), axis=0)
    save(args, out, timer, version=f"numpy {np.__version__}", settings={"private": False})


if __name__ == "__main__":
    main()
