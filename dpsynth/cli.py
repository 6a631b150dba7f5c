"""The ``dpsynth`` command line: a stable contract for scripts and auditors.

Exit codes: 0 success; 2 bad arguments or input (one clear line on stderr, no
traceback); 3 budget exceeded (nothing written, ledger unchanged); 1 an audit
found a violation. ``--json`` prints machine-readable output on stdout.

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

EXIT_OK, EXIT_VIOLATION, EXIT_INPUT, EXIT_BUDGET = 0, 1, 2, 3

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
        sys.stderr.write(f"dpsynth: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_INPUT)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dpsynth", description="Differentially private synthetic tabular data.")
    parser.add_argument("--version", action="version", version=f"dpsynth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"dpsynth.commands.{name}").register(sub)
    return parser


def _fail(code: int, message: str) -> int:
    line = " ".join(str(message).split())
    sys.stderr.write(f"dpsynth: error: {line}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BudgetExceeded as exc:
        return _fail(EXIT_BUDGET, str(exc))
    except InputError as exc:
        return _fail(EXIT_INPUT, str(exc))
    except FileNotFoundError as exc:
        return _fail(EXIT_INPUT, f"{exc.filename}: no such file")
    except PermissionError as exc:
        return _fail(EXIT_INPUT, f"{exc.filename}: permission denied")
    except IsADirectoryError as exc:
        return _fail(EXIT_INPUT, f"{exc.filename}: is a directory, expected a file")
    except json.JSONDecodeError as exc:
        return _fail(EXIT_INPUT, f"invalid JSON: {exc}")
    except sqlite3.DatabaseError as exc:
        return _fail(EXIT_INPUT, f"not a dpsynth ledger (SQLite error: {exc})")
    except KeyboardInterrupt:
        return _fail(130, "interrupted")
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
