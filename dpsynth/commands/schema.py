"""``dpsynth schema DATA``: draft a schema from a table for the user to review.

``dpsynth schema DATA --check SCHEMA`` instead validates a (hand-written)
schema and checks that DATA encodes under it.

The draft is read off the (private) data, so the command warns on stderr and the
file records ``"drafted_from_data": true``; releases refuse it unless the user
passes ``--schema-is-public`` or learns the domain with DP.
"""
from __future__ import annotations

import argparse
import json
import sys

from dpsynth.domain import DEFAULT_BINS, DEFAULT_MAX_CATEGORIES, Schema, draft_schema
from dpsynth.errors import InputError
from dpsynth.io import check_outputs, dump_json, read_table
from dpsynth.preprocess import check_data

WARNING = (
    "dpsynth: warning: this schema was drafted from the private data in {data}: its categories and "
    "bounds reveal values of real records. Review it and replace them with public knowledge; a release "
    "with it needs --schema-is-public (you assert the domain is public) or DP domain learning. "
    "The file records \"drafted_from_data\": true.\n"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "schema",
        help="draft a schema (the public domain) from a table, for review",
        description="Draft a schema JSON from a CSV/Parquet table. The draft is read off the data and "
                    "is NOT public: review it (format: docs/schema.md).",
    )
    p.add_argument("data", metavar="DATA", help="CSV or Parquet file")
    p.add_argument("--out", metavar="SCHEMA_JSON", help="write the schema here (default: print it)")
    p.add_argument("--max-categories", type=int, default=DEFAULT_MAX_CATEGORIES, metavar="N",
                   help="most cells a categorical column gets; beyond it the rarest values go to 'other' "
                        f"(default {DEFAULT_MAX_CATEGORIES})")
    p.add_argument("--bins", type=int, default=DEFAULT_BINS, metavar="N",
                   help=f"bins per numeric/datetime column (default {DEFAULT_BINS})")
    p.add_argument("--check", metavar="SCHEMA_JSON",
                   help="instead of drafting, validate this schema and check that DATA encodes under it")
    p.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    p.set_defaults(func=run)


def _summary(schema: Schema) -> list[dict]:
    return [{"name": c.name, "kind": c.kind, "cells": c.size if c.learned else None} for c in schema.columns]


def _check(args: argparse.Namespace) -> int:
    if args.out is not None:
        raise InputError("--check validates an existing schema; it cannot be combined with --out")
    schema = Schema.from_json(args.check)
    data = read_table(args.data, schema=schema)
    if schema.learnable:   # the cells are not known until a release learns them
        check_data(data, schema)
    else:
        schema.encode(data)
    if args.json:
        print(dump_json({"schema": args.check, "ok": True, "hash": schema.hash(),
                         "drafted_from_data": schema.drafted_from_data, "learnable": list(schema.learnable),
                         "columns": _summary(schema)}))
    else:
        cells = (f"columns {', '.join(schema.learnable)} to be learned with DP in the release" if schema.learnable
                 else f"{sum(schema.sizes)} cells in all")
        print(f"{args.check}: valid; {args.data} encodes under it ({len(schema.names)} columns, {cells}, "
              f"sha256 {schema.hash()[:16]}...)")
        if schema.drafted_from_data:
            print("note: it was drafted from data; a release with it needs --schema-is-public")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.check:
        return _check(args)
    if args.max_categories < 2:
        raise InputError(f"--max-categories must be at least 2 (one value and 'other'), got {args.max_categories}")
    if args.bins < 1:
        raise InputError(f"--bins must be at least 1, got {args.bins}")
    if args.out is not None:
        check_outputs({"--out": args.out}, {"DATA": args.data})
    schema = draft_schema(read_table(args.data), max_categories=args.max_categories, bins=args.bins)
    if args.out:
        schema.to_json(args.out)
    sys.stderr.write(WARNING.format(data=args.data))
    if args.json:
        print(dump_json({
            "out": args.out,
            "hash": schema.hash(),
            "drafted_from_data": schema.drafted_from_data,
            "columns": _summary(schema),
            "schema": schema.to_dict(),
        }))
    elif args.out:
        for c in schema.columns:
            print(f"{c.name}: {c.kind}, {c.size} cells")
        print(f"wrote {args.out} ({len(schema.columns)} columns, sha256 {schema.hash()[:16]}...)")
    else:
        print(json.dumps(schema.to_dict(), indent=2, ensure_ascii=False))
    return 0
