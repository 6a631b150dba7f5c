"""``dpsynth ledger init|show``: create a dataset's privacy budget and inspect spending.

``ledger show --json`` prints the documented, stable schema of
:meth:`dpsynth.accounting.Ledger.summary` (see docs/privacy.md): one object
with ``--dataset``, otherwise ``{"datasets": [...]}``.
"""
from __future__ import annotations

import argparse

from dpsynth.accounting import NEIGHBOURING, Ledger, _check_name, rho_from_epsilon
from dpsynth.io import dump_json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ledger", help="create or inspect a privacy-budget ledger",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="ledger_command", metavar="{init,show}")
    sub.required = True

    init = sub.add_parser("init", help="give a dataset its total (epsilon, delta) budget",
                          description="Create (or extend) the ledger file PATH with a budget for one dataset. "
                                      "The budget is stored in zCDP as rho; a dataset's budget is never reset.")
    init.add_argument("path", metavar="PATH", help="ledger file (SQLite); created if missing")
    init.add_argument("--dataset", required=True, help="name the releases of this dataset will charge")
    init.add_argument("--epsilon", type=float, required=True, help="total epsilon (> 0), add/remove-one neighbouring")
    init.add_argument("--delta", type=float, required=True, help="total delta, in (0, 1), e.g. 1e-9")
    init.add_argument("--json", action="store_true", help="print the new budget as JSON")
    init.set_defaults(func=_init)

    show = sub.add_parser("show", help="print budgets, spending and every release with its measurements",
                          description="Print each dataset's budget in rho and (epsilon, delta), what is spent and "
                                      "remains, and every release with its measurements.")
    show.add_argument("path", metavar="PATH", help="ledger file made by `dpsynth ledger init`")
    show.add_argument("--dataset", help="only this dataset (default: all)")
    show.add_argument("--json", action="store_true", help="machine-readable output (schema in docs/privacy.md)")
    show.set_defaults(func=_show)


def _init(args: argparse.Namespace) -> int:
    _check_name("dataset", args.dataset)  # reject a bad name or budget before creating any file
    rho_from_epsilon(args.epsilon, args.delta)
    with Ledger(args.path) as ledger:
        ledger.init(args.dataset, args.epsilon, args.delta)
        summary = ledger.summary(args.dataset)
    if args.json:
        print(dump_json(summary))
    else:
        print(f"ledger {args.path}: dataset {args.dataset!r} budget epsilon={summary['epsilon']:g}, "
              f"delta={summary['delta']:g} ({NEIGHBOURING} neighbouring) = rho {summary['rho_total']:.6g} (zCDP)")
    return 0


def _show(args: argparse.Namespace) -> int:
    with Ledger(args.path, create=False) as ledger:
        names = [args.dataset] if args.dataset is not None else ledger.datasets()
        summaries = [ledger.summary(name) for name in names]
    if args.json:
        print(dump_json(summaries[0] if args.dataset is not None else {"datasets": summaries}))
        return 0
    print(f"ledger {args.path}")
    if not summaries:
        print("  no datasets yet; add one with `dpsynth ledger init`")
    for s in summaries:
        print("\n".join(_describe(s)))
    return 0


def _describe(s: dict) -> list[str]:
    n = len(s["releases"])
    lines = [
        f"dataset {s['dataset']!r} ({s['neighbouring']} neighbouring)",
        f"  budget     rho {s['rho_total']:.6g}  = (epsilon {s['epsilon']:g}, delta {s['delta']:g})",
        f"  spent      rho {s['rho_spent']:.6g}  = (epsilon {s['epsilon_spent']:.6g}, delta {s['delta']:g})"
        f"  in {n} release{'s' if n != 1 else ''}",
        f"  remaining  rho {s['rho_remaining']:.6g}",
    ]
    if s["delta_spent"] > 0:
        lines.append(f"  approximate-zCDP delta spent {s['delta_spent']:.3g} (category discovery): the rho budget "
                     f"is now the conversion at delta {s['delta'] - s['delta_spent']:.3g}")
    for i, r in enumerate(s["releases"], 1):
        state = "complete" if r["complete"] else "INCOMPLETE (reservation spent)"
        if r["error"]:
            state += f": {r['error']}"
        lines.append(f"  release {i} {r['release_id']}  {r['method']}  rho {r['rho']:.6g} reserved, "
                     f"{r['rho_charged']:.6g} charged  {r['created']}  {state}")
        if r["research_rng"]:
            lines.append("    RESEARCH RNG: noise drawn from numpy, not OpenDP; not a DP-grade release")
        for m in r["measurements"]:
            lines.append(f"    {m['created']}  {m['mechanism']}  query {m['query']}  sensitivity {m['sensitivity']:g}  "
                         f"scale {m['scale']:.6g}  rho {m['rho']:.6g}"
                         + (f"  delta {m['delta']:.3g}" if m["delta"] else ""))
    return lines
