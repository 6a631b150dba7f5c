"""Command line and I/O shared by the per-system runners ``run_*.py``.

Each runner runs in its own system's virtual environment (stdlib and numpy only
here, numpy 1.26 or 2.x), in a fresh process started by ``benchmarks/run.py``:
it reads the integer-coded table (``--codes``, .npy) and its ``{column: size}``
domain, fits one method at (``--epsilon``, ``--delta``), samples as many rows
as the system releases by default, and writes the synthetic codes (``--out``,
.npy, same column order) plus ``<out>.json`` with its own fit/sample seconds.
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np


def parse(methods: tuple[str, ...]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--codes", required=True, help="integer codes, .npy of shape (rows, columns)")
    p.add_argument("--domain", required=True, help="JSON {column: size} in column order")
    p.add_argument("--method", required=True, choices=methods)
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, required=True)
    p.add_argument("--seed", type=int, default=0, help="seeds the system's RNG where it has one")
    p.add_argument("--out", required=True, help="synthetic codes, .npy")
    return p.parse_args()


def load(args: argparse.Namespace) -> tuple[np.ndarray, dict[str, int]]:
    """The real codes and the public domain {column: size} (column order = codes' order)."""
    domain = json.loads(Path(args.domain).read_text())
    return np.load(args.codes), {k: int(v) for k, v in domain.items()}


class Timer:
    """Wall seconds of named phases: ``with timer("fit"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


def save(args: argparse.Namespace, codes: np.ndarray, timer: Timer, **meta) -> None:
    """Write the synthetic codes and ``<out>.json`` (phase seconds, version, settings, notes)."""
    out = Path(args.out)
    np.save(out, np.asarray(codes, dtype=np.int32))
    meta = {"seconds": timer.seconds, **meta}
    out.with_suffix(".json").write_text(json.dumps(meta, default=str))
