"""``dpsynth sample``: draw rows from a saved model.

Post-processing of a release: reads only the model file (never the private
data) and charges no ledger.
"""
from __future__ import annotations

import argparse

from dpsynth.commands import warn_if_research
from dpsynth.errors import InputError
from dpsynth.io import check_outputs, check_table_suffix, dump_json, read_table
from dpsynth.persist import load


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="sample rows from a saved model (no budget spent)",
                       description="Draw synthetic rows from a model saved with `dpsynth synth --save-model`. "
                                   "Post-processing only: no privacy budget is spent.")
    p.add_argument("model", help="model file written by `dpsynth synth --save-model`")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--rows", type=int, default=None, help="number of rows (default: the DP row-count estimate)")
    how.add_argument("--condition", default=None, metavar="PARTIAL.csv",
                     help="a table of some columns: one synthetic row per row, those columns fixed")
    p.add_argument("--out", required=True, help="output CSV or Parquet")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.rows is not None and args.rows < 0:
        raise InputError(f"--rows must be >= 0, got {args.rows}")
    check_outputs({"--out": args.out}, {"MODEL": args.model, "--condition": args.condition})
    check_table_suffix(args.out)
    synth = load(args.model)
    if args.condition is not None:
        from dpsynth.io import write_table

        rows = synth.sample(condition=read_table(args.condition))
        write_table(rows, args.out)
        n = len(rows)
    else:
        n = synth.sample_to(args.out, args.rows)
    warn_if_research(synth.release_)
    result = {"model": args.model, "out": args.out, "rows": n, "method": synth.method,
              "ledger_release_id": synth.release_.get("ledger_release_id"),
              "research_rng": bool(synth.release_.get("research_rng")), "budget_spent": 0}
    print(dump_json(result) if args.json else
          f"wrote {n} rows to {args.out} from {args.model} ({synth.method}; no budget spent)")
    return 0
