"""One module per command family; see :mod:`dpsynth.cli` for the contract."""
from __future__ import annotations

import sys


def warn_if_research(release: dict) -> None:
    """The loud stderr mark on output drawn from a research-RNG release (numpy noise, docs/privacy.md)."""
    if release.get("research_rng"):
        print("WARNING: research RNG used: this output is not a secure DP release", file=sys.stderr)
