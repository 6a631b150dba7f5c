"""OpenDP SmartNoise synth (PyPI ``smartnoise-synth``) MST, AIM and MWEM, as shipped.

``Synthesizer.create(method, epsilon=..., delta=...)`` with the library's default
hyperparameters. The public domain is handed over as a transformer already fitted
on the domain itself (every code ``0..size-1`` of every column, one label per
code), so SmartNoise spends no budget on preprocessing and sees exactly the
domain every other system sees. Notes: SmartNoise releases the exact row count
(``len(data)`` is its model total and default sample size); MWEM is pure
epsilon-DP and takes no delta; MST and AIM run on ``mbi`` 1.1.0, which SmartNoise
pins. Noise comes from OpenDP's samplers (not seedable); ``--seed`` seeds numpy's
global RNG, which the selection steps use.
"""
from __future__ import annotations

from importlib.metadata import version

import numpy as np

from runner_io import Timer, load, parse, save


def public_transformer(sizes: dict[str, int]):
    """A TableTransformer fitted on the public domain only: label i <-> code i."""
    import pandas as pd
    from snsynth.transform import LabelTransformer, TableTransformer

    widest = max(sizes.values())
    domain = pd.DataFrame({col: np.arange(widest) % size for col, size in sizes.items()})
    tt = TableTransformer([LabelTransformer(nullable=False) for _ in sizes])
    tt.fit(domain)
    return tt


def main() -> None:
    args = parse(("mst", "aim", "mwem"))
    codes, sizes = load(args)
    import pandas as pd
    from snsynth import Synthesizer

    np.random.seed(args.seed)
    df = pd.DataFrame(codes, columns=list(sizes))
    kwargs = {} if args.method == "mwem" else {"delta": args.delta}
    synth = Synthesizer.create(args.method, epsilon=args.epsilon, **kwargs)
    timer = Timer()
    with timer("fit"):
        synth.fit(df, transformer=public_transformer(sizes), preprocessor_eps=0.0)
    with timer("sample"):
        out = synth.sample(len(df))
    out = np.asarray(pd.DataFrame(out, columns=list(sizes)).to_numpy(), dtype=np.int64)
    save(args, out, timer, version=f"smartnoise-synth {version('smartnoise-synth')}, mbi {version('mbi')}, "
         f"opendp {version('opendp')}", settings={"hyperparameters": "library defaults",
                                                  "delta": None if args.method == "mwem" else args.delta},
         notes="releases the exact row count")


if __name__ == "__main__":
    main()
