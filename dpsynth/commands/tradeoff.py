"""``dpsynth tradeoff DATA --schema S --epsilons 0.1,0.3,1,3,10 --out tradeoff.html``.

Internal evaluation: fits the synthesizer at each epsilon on a training split,
measures fidelity, utility and attack advantage against a held-out split, and
plots them against epsilon. Nothing is released and nothing is charged to any
ledger; release the chosen epsilon with ``dpsynth synth``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from dpsynth.attacks import ATTACKS
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.io import atomic_write, check_outputs, dump_json, read_table, write_json
from dpsynth.report import json_path_for
from dpsynth.synthesizers import METHODS
from dpsynth.tradeoff import format_tradeoff, parse_epsilons, render_tradeoff_html, tradeoff


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tradeoff",
        help="fidelity, utility and attack advantage against epsilon (internal; releases nothing)",
        description="Hold out a real test split, fit the synthesizer at each epsilon on the rest (REPS times, in "
                    "parallel), and plot k-way TVD (with a rare-combination error), TSTR beside TRTR, model-ranking "
                    "consistency and attack advantage against epsilon, marking where each curve flattens. Internal "
                    "evaluation on the real data: nothing is released and nothing is charged to any ledger.",
    )
    p.add_argument("data", metavar="DATA", help="the real table (CSV or Parquet)")
    p.add_argument("--schema", required=True, help="public schema JSON")
    p.add_argument("--epsilons", default="0.1,0.3,1,3,10", help="comma-separated epsilons (default 0.1,0.3,1,3,10)")
    p.add_argument("--delta", type=float, default=1e-9, help="delta of every fit (default 1e-9)")
    p.add_argument("--method", default="mst", help=f"one of {', '.join(METHODS)} (default mst)")
    p.add_argument("--target", metavar="COL", help="TSTR target column (default: the categorical column with the "
                                                    "fewest classes)")
    p.add_argument("--reps", type=int, default=2, help="fits per epsilon (default 2)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--test-fraction", type=float, default=0.3, help="held-out share of DATA (default 0.3)")
    p.add_argument("--attack", action="append", choices=list(ATTACKS), metavar="NAME",
                   help=f"run only this attack (repeatable; default all): {', '.join(ATTACKS)}")
    p.add_argument("--targets", type=int, default=1000, metavar="N", help="records attacked per side (default 1000)")
    p.add_argument("--max-train-rows", type=int, default=5000, metavar="N",
                   help="subsample TSTR/TRTR training sets to N rows (default 5000)")
    p.add_argument("--schema-is-public", action="store_true",
                   help="assert that a schema drafted from the data is public knowledge")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the evaluation (default 0)")
    p.add_argument("--out", required=True, metavar="HTML", help="output page (the JSON twin is written beside it)")
    p.add_argument("--json", action="store_true", help="print the result's JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.method not in METHODS:
        raise InputError(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    epsilons = parse_epsilons(args.epsilons)
    if args.reps < 1:
        raise InputError(f"--reps must be at least 1, got {args.reps}")
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.targets < 20:
        raise InputError(f"--targets must be at least 20, got {args.targets}")
    if args.max_train_rows < 10:
        raise InputError(f"--max-train-rows must be at least 10, got {args.max_train_rows}")
    out = Path(args.out)
    twin = json_path_for(out)
    check_outputs({"--out": out, "its JSON twin": twin}, {"DATA": args.data, "--schema": args.schema})
    schema = Schema.from_json(args.schema)
    data = read_table(args.data, schema=schema)
    result = tradeoff(data, schema, epsilons, method=args.method, target=args.target, reps=args.reps,
                      workers=args.workers, delta=args.delta, test_fraction=args.test_fraction,
                      schema_is_public=args.schema_is_public, attacks=args.attack, n_targets=args.targets,
                      max_train_rows=args.max_train_rows, seed=args.seed)
    page = render_tradeoff_html(result)
    write_json(twin, result)
    with atomic_write(out) as fh:
        fh.write(page)
    print(dump_json(result) if args.json else format_tradeoff(result) + f"\n\nwrote {out} and {twin}")
    return 0
