"""``dpsynth attack TRAIN HOLDOUT SYNTH``: leakage attacks with verdicts.

Internal evaluation on the real data, without DP: nothing is released or charged.
The exit code is 0 whatever the verdicts; read ``leak`` (or ``any_leak``) in the output.
"""
from __future__ import annotations

import argparse

from dpsynth.attacks import ATTACKS, format_attacks, run_attacks
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.io import dump_json, read_table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "attack",
        help="membership, singling-out, linkability and inference attacks on a synthetic table",
        description="Attack SYNTH on records of TRAIN (the table the synthesizer saw) and, as the baseline, "
                    "of HOLDOUT (a disjoint random sample of the same population it did not see). An attack "
                    "reports a leak only when its TRAIN-minus-HOLDOUT success interval lies above zero "
                    "(Bonferroni-corrected across attacks). Computed on the real data without DP: "
                    "for internal review, not for publication.",
    )
    p.add_argument("train", metavar="TRAIN", help="the table the synthesizer was fitted on")
    p.add_argument("holdout", metavar="HOLDOUT", help="real records the synthesizer never saw")
    p.add_argument("synth", metavar="SYNTH", help="the synthetic table")
    p.add_argument("--schema", metavar="SCHEMA_JSON",
                   help="take numeric bounds and cells from this schema (default: read off TRAIN and HOLDOUT)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="joint confidence of the verdicts (default 0.95)")
    p.add_argument("--attack", action="append", choices=list(ATTACKS), metavar="NAME",
                   help=f"run only this attack (repeatable): {', '.join(ATTACKS)}")
    p.add_argument("--targets", type=int, default=2000, metavar="N",
                   help="records attacked in TRAIN and in HOLDOUT (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the target samples (default 0)")
    p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.targets < 20:
        raise InputError(f"--targets must be at least 20, got {args.targets}")
    schema = Schema.from_json(args.schema) if args.schema else None
    train, holdout, synth = (read_table(p, schema=schema) for p in (args.train, args.holdout, args.synth))
    result = run_attacks(train, holdout, synth, schema, attacks=args.attack, confidence=args.confidence,
                         n_targets=args.targets, seed=args.seed)
    print(dump_json(result) if args.json else format_attacks(result))
    return 0
