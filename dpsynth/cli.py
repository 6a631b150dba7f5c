"""The ``dpsynth`` command line: a stable contract for scripts and auditors.

Exit codes: 0 success; 2 bad arguments or input (one clear line on stderr, no
traceback); 3 budget exceeded (nothing written, ledger unchanged); 1 an audit
found a violation; 4 an internal error (a bug: one line, the traceback with
``DPSYNTH_DEBUG=1``). ``--json`` prints machine-readable output on stdout, and on
a failure ``{"error": ..., "exit_code": ...}`` there as well as the line on stderr.

Each command family lives in ``dpsynth/commands/<name>.py`` and exposes
``register(subparsers)``, which adds its parser(s) and sets ``func`` to a
callable ``func(args) -> int``. This module only dispatches and maps errors to
exit codes, so no command can forget the contract.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sqlite3
import sys
from typing import Sequence

from dpsynth import __version__
from dpsynth.errors import BudgetExceeded, InputError
from dpsynth.io import dump_json

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT, EXIT_BUDGET, EXIT_INTERNAL = 0, 1, 2, 3, 4

#: Command modules under ``dpsynth.commands``, in the order ``--help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "schema",
    "synth",
    "sample",
    "ledger",
    "evaluate",
    "attack",
    "audit",
    "report",
    "tradeoff",
)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        line = f"{message} (see `{self.prog} --help`)"
        sys.stderr.write(f"dpsynth: error: {line}\n")
        exit_ = SystemExit(EXIT_INPUT)
        exit_.message = line  # for main's --json error object
        raise exit_


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dpsynth", description="Differentially private synthetic tabular data.")
    parser.add_argument("--version", action="version", version=f"dpsynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"dpsynth.commands.{name}").register(sub)
    return parser


def _fail(code: int, message: str, as_json: bool = False) -> int:
    line = " ".join(str(message).split())
    sys.stderr.write(f"dpsynth: error: {line}\n")
    if as_json:
        _print_error(line, code)
    return code


def _print_error(line: str, code: int) -> None:
    print(dump_json({"error": line, "exit_code": code}))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and --help / --version (0) leave through SystemExit
        if as_json and getattr(exc, "message", None):
            _print_error(exc.message, EXIT_INPUT)
        raise
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except (Exception, KeyboardInterrupt) as exc:
        code, line = _classify(exc)
        return _fail(code, line, as_json)


def _classify(exc: BaseException) -> tuple[int, str]:
    """Exit code and one-line message of a failed command; unexpected errors are
    internal (re-raised with DPSYNTH_DEBUG=1 for the traceback)."""
    if isinstance(exc, BudgetExceeded):
        return EXIT_BUDGET, str(exc)
    if isinstance(exc, InputError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, FileNotFoundError):
        return EXIT_INPUT, f"{exc.filename}: no such file"
    if isinstance(exc, PermissionError):
        return EXIT_INPUT, f"{exc.filename}: permission denied"
    if isinstance(exc, IsADirectoryError):
        return EXIT_INPUT, f"{exc.filename}: is a directory, expected a file"
    if isinstance(exc, json.JSONDecodeError):
        return EXIT_INPUT, f"invalid JSON: {exc}"
    if isinstance(exc, sqlite3.DatabaseError):
        return EXIT_INPUT, f"not a dpsynth ledger (SQLite error: {exc})"
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if os.environ.get("DPSYNTH_DEBUG"):
        raise exc
    return EXIT_INTERNAL, (f"internal error ({type(exc).__name__}: {exc}); this is a bug: rerun with "
                           f"DPSYNTH_DEBUG=1 for the traceback and report it")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
