"""Private-PGM (PyPI ``mbi`` 2.0.0) with its repository's MST and AIM mechanism scripts.

The scripts are vendored in ``mbi_mechanisms/`` (see its NOTICE for the commit
and the patches) and run with their own defaults: MST with 10,000 mirror-descent
iterations; AIM with ``max_model_size=80`` MB, ``max_iters=1000`` and the
command-line script's workload (all 2-way marginals of at most 10,000 cells).
Noise comes from numpy's global RNG, seeded with ``--seed``.
"""
from __future__ import annotations

import itertools
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np

from runner_io import Timer, load, parse, save

sys.path.insert(0, str(Path(__file__).resolve().parent / "mbi_mechanisms"))


def main() -> None:
    args = parse(("mst", "aim"))
    codes, sizes = load(args)
    from mbi import Dataset, Domain

    np.random.seed(args.seed)
    domain = Domain.fromdict(sizes)
    data = Dataset({col: codes[:, j] for j, col in enumerate(sizes)}, domain)
    timer = Timer()
    settings: dict = {}
    if args.method == "mst":
        from mst import MST

        with timer("fit+sample"):
            synth = MST(data, args.epsilon, args.delta)
    else:
        from aim import AIM

        max_cells = 10000
        workload = [(cl, 1.0) for cl in itertools.combinations(domain, 2) if domain.size(cl) <= max_cells]
        settings = {"max_model_size": 80, "max_iters": 1000, "workload": f"all 2-way <= {max_cells} cells"}
        mech = AIM(args.epsilon, args.delta, max_model_size=80, max_iters=1000)
        with timer("fit+sample"):
            _, synth = mech.run(data, workload)
    columns = synth.to_dict()
    out = np.column_stack([np.asarray(columns[col]) for col in sizes])
    save(args, out, timer, version=f"mbi {version('mbi')}, jax {version('jax')}", settings=settings)


if __name__ == "__main__":
    main()
