"""``dpsynth audit --method M --epsilon E --runs N``: empirical lower bound on a synthesizer's epsilon.

Reads no real data and charges no ledger: the synthesizer is fitted on a public
canary design with the seeded research RNG. Exit code 1 when the lower bound
exceeds the claimed epsilon (a violation), 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys

from dpsynth.attacks.audit import MIN_RUNS, audit, canary_design, format_audit
from dpsynth.cli import EXIT_VIOLATION
from dpsynth.errors import InputError
from dpsynth.io import check_outputs, dump_json, write_json
from dpsynth.synthesizers import METHODS
from dpsynth.synthesizers.base import validate_budget


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="empirical DP audit: lower-bound a synthesizer's epsilon with a canary record",
        description="Fit the synthesizer RUNS times on a public design D and RUNS times on D plus one canary "
                    "record in otherwise empty cells (add/remove-one neighbours), choose a distinguishing test "
                    "on half of the runs and turn its error rates on the other half into an epsilon lower bound "
                    "(Clopper-Pearson). Exit code 1 when the bound exceeds the claimed epsilon. Uses the seeded "
                    "research RNG (it measures the algorithm); reads no real data and charges no ledger.",
    )
    p.add_argument("--method", required=True, help=f"synthesizer to audit: {', '.join(METHODS)}")
    p.add_argument("--epsilon", required=True, type=float, help="claimed epsilon (> 0)")
    p.add_argument("--delta", type=float, default=1e-9, help="claimed delta, in (0, 1) (default 1e-9)")
    p.add_argument("--runs", required=True, type=int, help=f"fits on each of D and D' (at least {MIN_RUNS})")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence of the lower bound (default 0.95)")
    p.add_argument("--rows", type=int, default=300, help="rows of the design D (default 300)")
    p.add_argument("--columns", type=int, default=3, help="columns of the design D (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the design and of the runs (default 0)")
    p.add_argument("--out", metavar="JSON", help="also write the result here (input of `dpsynth report --audit`)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.method not in METHODS:
        raise InputError(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    validate_budget(args.epsilon, args.delta)
    if args.runs < MIN_RUNS:
        raise InputError(f"--runs must be at least {MIN_RUNS}, got {args.runs}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.out is not None:
        check_outputs({"--out": args.out})
    design = canary_design(rows=args.rows, columns=args.columns, seed=args.seed)

    shown = [-1]

    def progress(done: int, total: int) -> None:
        decile = 10 * done // total
        if not args.json and decile > shown[0]:
            shown[0] = decile
            print(f"dpsynth: audit {done}/{total} runs", file=sys.stderr, flush=True)

    result = audit(METHODS[args.method], args.epsilon, args.delta, args.runs, workers=args.workers,
                   confidence=args.confidence, seed=args.seed, design=design, name=args.method,
                   progress=progress)
    if args.out:
        write_json(args.out, result)
    print(dump_json(result) if args.json else format_audit(result))
    return EXIT_VIOLATION if result["violation"] else 0
