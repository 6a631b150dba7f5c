"""``dpsynth synth``: fit a synthesizer at a stated budget and write synthetic rows.

Everything that can fail on bad input is checked before the ledger reservation,
so a refused run spends nothing; a run refused for budget (exit 3) writes nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dpsynth.accounting import Ledger
from dpsynth.commands import warn_if_research
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.engines import AUTO_FILE_BYTES, ENGINES, choose_engine, open_counter
from dpsynth.io import check_outputs, check_table_suffix, dump_json, read_table, write_json
from dpsynth.synthesizers import METHODS
from dpsynth.synthesizers.base import validate_budget

INFERENCE_METHODS = ("aim", "mwem")   # the methods whose selection can go on with approximate inference


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="release a DP synthetic table",
                       description="Fit a DP synthesizer on DATA and write synthetic rows. "
                                   "Privacy: (epsilon, delta)-DP under add/remove-one neighbouring.")
    p.add_argument("data", help="private table (CSV, Parquet, or a directory of Parquet files)")
    p.add_argument("--schema", required=True, help="public schema JSON (see `dpsynth schema`)")
    p.add_argument("--epsilon", required=True, type=float, help="epsilon of the release (> 0)")
    p.add_argument("--delta", type=float, default=1e-9, help="delta of the release, in (0, 1) (default 1e-9)")
    p.add_argument("--method", default="mst", help=f"one of {', '.join(METHODS)} (default mst)")
    p.add_argument("--rows", type=int, default=None, help="synthetic rows (default: the DP row-count estimate)")
    p.add_argument("--out", default="synthetic.csv", help="output CSV or Parquet (default synthetic.csv)")
    p.add_argument("--engine", default="auto", choices=ENGINES,
                   help="how marginals are counted: memory, file (batches from disk, for files larger than "
                        "memory), spark (PySpark) or auto (memory up to "
                        f"{AUTO_FILE_BYTES // 2**20} MiB on disk, file above; default auto)")
    p.add_argument("--inference", default="exact", choices=("exact", "auto"),
                   help="graphical-model inference for aim and mwem: exact (junction tree; selection stops "
                        "adding marginals that would pass the model-size limit) or auto (approximate "
                        "region-graph inference past that limit, so selection keeps going; rows are then "
                        "drawn approximately; default exact)")
    p.add_argument("--spark-master", default=None,
                   help="Spark master URL for --engine spark (default $SPARK_MASTER or local[*])")
    p.add_argument("--ledger", default=None, help="persistent ledger (created with `dpsynth ledger init`)")
    p.add_argument("--dataset", default=None, help="dataset name in the ledger")
    p.add_argument("--schema-is-public", action="store_true",
                   help="assert that a schema drafted from the data is public knowledge")
    p.add_argument("--save-model", default=None, metavar="PATH",
                   help="also save the fitted model (safe format) for `dpsynth sample PATH` later")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.method not in METHODS:
        raise InputError(f"unknown method {args.method!r}; choose one of {', '.join(METHODS)}")
    validate_budget(args.epsilon, args.delta)
    if args.rows is not None and args.rows < 0:
        raise InputError(f"--rows must be >= 0, got {args.rows}")
    if args.inference != "exact" and args.method not in INFERENCE_METHODS:
        raise InputError(f"--inference {args.inference} applies to {' and '.join(INFERENCE_METHODS)}, "
                         f"not {args.method}; drop it or choose one of those methods")
    if (args.ledger is None) != (args.dataset is None):
        raise InputError("--ledger and --dataset go together: pass both, or neither for a one-off budget")
    out = Path(args.out)
    check_outputs({"--out": out, "its release metadata": _metadata_path(out), "--save-model": args.save_model},
                  {"DATA": args.data, "--schema": args.schema, "--ledger": args.ledger})
    check_table_suffix(out)
    schema = Schema.from_json(args.schema)
    engine = choose_engine(args.data, schema, args.engine)
    data = read_table(args.data, schema=schema, allow_no_rows=True) if engine == "memory" else open_counter(
        args.data, schema, engine, spark_master=args.spark_master)
    try:
        ledger = None if args.ledger is None else Ledger(args.ledger, create=False)
        options = {"inference": args.inference} if args.method in INFERENCE_METHODS else {}
        synth = METHODS[args.method](epsilon=args.epsilon, delta=args.delta, verbose=not args.json, **options)
        synth.fit(data, schema, ledger=ledger, dataset=args.dataset, schema_is_public=args.schema_is_public)
    finally:
        if engine != "memory":
            data.close()
    if args.save_model:   # first: should writing the rows fail, the spent release can still be sampled
        synth.save(args.save_model)
    rows = synth.sample_to(out, args.rows)
    # the engine asked for, not the one chosen: "auto" picks by the private file's size
    meta = {**synth.release_, "engine": args.engine, "out": str(out), "rows": rows}
    write_json(_metadata_path(out), meta)
    if args.save_model:
        meta["model"] = str(args.save_model)
    summary = synth.ledger_.summary(synth.release_["dataset"])
    _report(args, meta, summary)
    return 0


def _metadata_path(out: Path) -> Path:
    return Path(f"{out}.release.json")


def _report(args: argparse.Namespace, meta: dict, summary: dict) -> None:
    warn_if_research(meta)
    if args.ledger is None:
        sys.stderr.write("dpsynth: note: no --ledger: this release was charged to a one-off budget of exactly its "
                         "(epsilon, delta); it adds up with no other release on the same data unless you track "
                         "them (dpsynth ledger init, then --ledger L --dataset NAME)\n")
    if args.json:
        print(dump_json({"release": meta, "ledger": summary}))
        return
    print(f"wrote {meta['rows']} synthetic rows to {meta['out']} (metadata: {meta['out']}.release.json)")
    print(f"method {meta['method']}: epsilon={meta['epsilon']:g}, delta={meta['delta']:g} "
          f"(rho={meta['rho']:.6g}), {meta['neighbouring']} neighbouring")
    print(f"ledger {summary.get('dataset', meta['dataset'])}: spent rho={summary['rho_spent']:.6g} "
          f"of {summary['rho_total']:.6g}, remaining {summary['rho_remaining']:.6g}")
