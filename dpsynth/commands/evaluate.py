"""``dpsynth evaluate REAL SYNTH``: fidelity and utility of a synthetic table.

Internal evaluation on the real data, without DP: nothing is released or charged.
"""
from __future__ import annotations

import argparse

from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.evaluate import evaluate, format_evaluation
from dpsynth.io import dump_json, read_table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="fidelity (marginal TVD, associations) and utility (TSTR) of a synthetic table",
        description="Compare a synthetic table with the real one: TVD of 1-, 2- and sampled 3-way marginals, "
                    "association differences, per-column summaries, and train-synthetic-test-real utility. "
                    "Computed on the real data without DP: for internal review, not for publication.",
    )
    p.add_argument("real", metavar="REAL", help="the real table (CSV or Parquet)")
    p.add_argument("synth", metavar="SYNTH", help="the synthetic table (CSV or Parquet)")
    p.add_argument("--schema", metavar="SCHEMA_JSON",
                   help="bin with this schema (default: bins read off REAL; nothing is released)")
    p.add_argument("--target", action="append", metavar="COL",
                   help="TSTR target column (repeatable; default: up to 3 categorical columns with the fewest classes)")
    p.add_argument("--holdout", metavar="TABLE",
                   help="real rows the synthesizer never saw, to test on (default: a seeded 30%% split of REAL)")
    p.add_argument("--no-utility", action="store_true", help="skip the TSTR models (fidelity only)")
    p.add_argument("--three-way", type=int, default=200, metavar="N",
                   help="how many 3-way marginals to sample (default 200)")
    p.add_argument("--max-train-rows", type=int, default=20_000, metavar="N",
                   help="subsample training sets to N rows (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and splits (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.three_way < 0:
        raise InputError(f"--three-way must be at least 0, got {args.three_way}")
    if args.max_train_rows < 10:
        raise InputError(f"--max-train-rows must be at least 10, got {args.max_train_rows}")
    if args.no_utility and args.target:
        raise InputError("--target names a TSTR target; it cannot be combined with --no-utility")
    schema = Schema.from_json(args.schema) if args.schema else None
    real, synth = read_table(args.real, schema=schema), read_table(args.synth, schema=schema)
    holdout = read_table(args.holdout, schema=schema) if args.holdout else None
    result = evaluate(real, synth, schema, args.target, holdout=holdout, run_utility=not args.no_utility,
                      n_three_way=args.three_way, max_train_rows=args.max_train_rows, seed=args.seed)
    print(dump_json(result) if args.json else format_evaluation(result))
    return 0
