"""dpsynth's synthesizers (``dpsynth.synthesizers.METHODS``) on the shared codes, in its own venv.

The public domain is the ``{column: size}`` file read with
``Schema.from_pgm_domain``; fitting is the secure path (OpenDP samplers, a fresh
in-memory ledger of exactly (epsilon, delta)); ``sample()`` draws the DP
estimate of the row count. ``--seed`` seeds only the sampling of rows from the
fitted model (post-processing).
"""
from __future__ import annotations

from runner_io import Timer, load, parse, save


def main() -> None:
    import pandas as pd

    from dpsynth import __version__
    from dpsynth.domain import Schema
    from dpsynth.synthesizers import METHODS

    args = parse(tuple(METHODS))
    codes, sizes = load(args)

    schema = Schema.from_pgm_domain(sizes)
    df = pd.DataFrame(codes, columns=list(sizes))
    synth = METHODS[args.method](epsilon=args.epsilon, delta=args.delta)
    timer = Timer()
    with timer("fit"):
        synth.fit(df, schema)
    with timer("sample"):
        out = synth.sample(random_state=args.seed)
    save(args, out[list(sizes)].to_numpy(), timer, version=f"dpsynth {__version__}",
         settings={"hyperparameters": "library defaults"},
         notes=f"rho {synth.release_['rho']:.6g}; rows = DP estimate {synth.n_rows_}")


if __name__ == "__main__":
    main()
