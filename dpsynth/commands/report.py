"""``dpsynth report REAL SYNTH --out report.html``: the release report and its JSON twin.

The privacy claim, ledger and release metadata are DP quantities; fidelity,
utility and attacks are computed on the real data without DP (internal review).
``--public`` writes the DP quantities only and does not read REAL.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dpsynth.accounting import Ledger
from dpsynth.domain import Schema
from dpsynth.errors import InputError
from dpsynth.io import check_outputs, dump_json, read_table
from dpsynth.report import build_report, file_sha256, json_path_for, write_report
from dpsynth.synthesizers.base import validate_budget


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="self-contained HTML release report (privacy claim, ledger, fidelity, utility, attacks, audit)",
        description="Write one self-contained HTML page and its JSON twin (report.json beside it): the privacy "
                    "claim in words, the ledger, the release metadata (with AIM's error bounds), fidelity, utility, "
                    "attack verdicts (with --holdout) and audit results (with --audit). Fidelity, utility and attacks "
                    "are computed on the real data without DP: internal review, not for publication. --public "
                    "writes only the DP quantities.",
    )
    p.add_argument("real", metavar="REAL", help="the real table the synthesizer was fitted on (not read with --public)")
    p.add_argument("synth", metavar="SYNTH", help="the synthetic table")
    p.add_argument("--schema", metavar="SCHEMA_JSON",
                   help="bin with this schema (default: the schema in the release metadata, else bins read off REAL)")
    p.add_argument("--release", metavar="RELEASE_JSON",
                   help="release metadata written by `dpsynth synth` (default: SYNTH.release.json when it exists)")
    p.add_argument("--ledger", metavar="LEDGER", help="ledger file, to show every release on the dataset")
    p.add_argument("--dataset", metavar="NAME", help="dataset name in the ledger")
    p.add_argument("--holdout", metavar="TABLE",
                   help="real rows the synthesizer never saw: run the attacks and test TSTR on them")
    p.add_argument("--audit", metavar="AUDIT_JSON", help="result of `dpsynth audit --out` to include")
    p.add_argument("--target", action="append", metavar="COL", help="TSTR target column (repeatable)")
    p.add_argument("--public", action="store_true", help="DP quantities only (privacy claim, ledger, release metadata)")
    p.add_argument("--max-train-rows", type=int, default=20_000, metavar="N",
                   help="subsample TSTR/TRTR training sets to N rows (default 20000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation's samples and splits (default 0)")
    p.add_argument("--out", required=True, metavar="HTML", help="output page (the JSON twin is written beside it)")
    p.add_argument("--json", action="store_true", help="print the report's JSON on stdout")
    p.set_defaults(func=run)


def _read_json(path: str, what: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such {what} file")
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: not a valid {what} JSON file ({exc})") from exc
    if not isinstance(obj, dict):
        raise InputError(f"{p}: expected a JSON object in the {what} file")
    return obj


def _release(args: argparse.Namespace) -> tuple[dict | None, str | None]:
    path = args.release
    if path is None:
        beside = Path(args.synth).with_name(Path(args.synth).name + ".release.json")
        path = str(beside) if beside.is_file() else None
    if path is None:
        return None, None
    release = _read_json(path, "release metadata")
    missing = [k for k in ("method", "epsilon", "delta", "neighbouring") if k not in release]
    if missing:
        raise InputError(f"{path}: not dpsynth release metadata (missing {', '.join(missing)}); pass the "
                         f".release.json that `dpsynth synth` wrote")
    try:
        validate_budget(release["epsilon"], release["delta"])
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: the release metadata states no valid budget ({exc}); pass the .release.json "
                         f"that `dpsynth synth` wrote") from exc
    return release, path


def _audit(path: str | None) -> dict | None:
    if path is None:
        return None
    audit = _read_json(path, "audit result")
    missing = [k for k in ("epsilon_claimed", "epsilon_lower_bound", "statistic", "violation") if k not in audit]
    if missing:
        raise InputError(f"{path}: not a dpsynth audit result (missing {', '.join(missing)}); "
                         f"write one with `dpsynth audit ... --out audit.json`")
    return audit


def run(args: argparse.Namespace) -> int:
    if (args.ledger is None) != (args.dataset is None):
        raise InputError("--ledger and --dataset go together: pass both, or neither")
    if args.public and (args.holdout or args.audit or args.target):
        raise InputError("--public writes DP quantities only; "
                         "it cannot be combined with --holdout, --audit or --target")
    if args.max_train_rows < 10:
        raise InputError(f"--max-train-rows must be at least 10, got {args.max_train_rows}")
    out = Path(args.out)
    check_outputs({"--out": out, "its JSON twin": json_path_for(out)},
                  {"REAL": args.real, "SYNTH": args.synth, "--schema": args.schema, "--release": args.release,
                   "SYNTH's release metadata": f"{args.synth}.release.json", "--ledger": args.ledger,
                   "--holdout": args.holdout, "--audit": args.audit})
    release, release_path = _release(args)
    audit = _audit(args.audit)
    schema = Schema.from_json(args.schema) if args.schema else None
    ledger = None
    if args.ledger:
        if not Path(args.ledger).is_file():
            raise InputError(f"{args.ledger}: no such ledger; create it with `dpsynth ledger init`")
        with Ledger(args.ledger, create=False) as led:
            if args.dataset not in led.datasets():
                raise InputError(f"{args.ledger}: no dataset {args.dataset!r} in this ledger; "
                                 f"it has {', '.join(led.datasets()) or 'none'}")
            ledger = led.summary(args.dataset)
    synth = read_table(args.synth, schema=schema)
    real = None if args.public else read_table(args.real, schema=schema)
    holdout = read_table(args.holdout, schema=schema) if args.holdout else None
    inputs = {"real": None if args.public else args.real, "synth": args.synth,
              "synth_sha256": file_sha256(args.synth), "schema": args.schema, "release": release_path,
              "ledger": args.ledger, "dataset": args.dataset, "holdout": args.holdout, "audit": args.audit}
    report = build_report(real, synth, schema, release=release, ledger=ledger, holdout=holdout, audit=audit,
                          targets=args.target, public=args.public, inputs=inputs,
                          max_train_rows=args.max_train_rows, seed=args.seed)
    page, twin = write_report(report, out)
    failed = [c["check"] for c in report["checks"] if not c["ok"]]
    if failed:
        sys.stderr.write(f"dpsynth: warning: {len(failed)} consistency check(s) failed: {'; '.join(failed)} "
                         f"(see the report's checks)\n")
    if args.json:
        print(dump_json(report))
    else:
        print(f"wrote {page} and {twin} ({report['mode']} report)")
        if report["mode"] == "internal":
            print("note: fidelity, utility and attack figures are computed on the real data without DP; "
                  "for internal review, not for publication")
    return 0
