"""``dpmm`` (PyPI) MST, AIM and PrivBayes pipelines with the library's defaults.

The data arrive already coded in the public domain, so the pipeline's own
preprocessing (DP binning) is disabled and the domain ``{column: size}`` is
passed in: dpmm spends no budget on preprocessing. dpmm's ``generate`` needs a
row count; it gets the real one (as SmartNoise uses by default). ``--seed``
seeds the pipeline's RandomState. PrivBayes converts (epsilon/2, delta) to rho (it uses delta).
"""
from __future__ import annotations

from importlib.metadata import version

from runner_io import Timer, load, parse, save

PIPELINES = {"mst": "MSTPipeline", "aim": "AIMPipeline", "privbayes": "PrivBayesPipeline"}


def main() -> None:
    args = parse(tuple(PIPELINES))
    codes, sizes = load(args)
    import pandas as pd
    from dpmm import pipelines

    df = pd.DataFrame(codes.astype("int64"), columns=list(sizes))
    pipe = getattr(pipelines, PIPELINES[args.method])(epsilon=args.epsilon, delta=args.delta, disable_processing=True)
    timer = Timer()
    with timer("fit"):
        pipe.fit(df, domain=dict(sizes), random_state=args.seed)
    with timer("sample"):
        out = pipe.generate(n_records=len(df), random_state=args.seed)
    save(args, out[list(sizes)].to_numpy(), timer, version=f"dpmm {version('dpmm')}",
         settings={"hyperparameters": "library defaults", "preprocessing": "disabled (public domain)"},
         notes="synthetic rows = real row count")


if __name__ == "__main__":
    main()
