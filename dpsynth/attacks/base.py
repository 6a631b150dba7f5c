"""What every attack shares: the aligned tables, the sampled targets, the outcome type.

Targets are drawn once (seeded) so that all attacks attack the same records:
``train_rows`` from TRAIN (members) and ``holdout_rows`` from HOLDOUT (non-members,
the baseline). The remaining HOLDOUT rows, ``reference_rows``, are known
non-members the membership attacks use to calibrate their thresholds and to
estimate the population density; they are never targets.

Under the null hypothesis (SYNTH does not depend on TRAIN, and TRAIN and HOLDOUT
are random samples of one population) an attack's outcomes on TRAIN and HOLDOUT
targets have the same distribution, which is what the intervals in
:mod:`dpsynth.attacks.stats` test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import pandas as pd

from dpsynth.attacks.distance import GowerSpace, Points
from dpsynth.attacks.stats import check_seed
from dpsynth.errors import InputError
from dpsynth.evaluate import align_tables, load_schema

MIN_ROWS = 20


@dataclass
class Outcome:
    """Raw result of one attack, before the intervals of :func:`dpsynth.attacks.finalize`.

    ``train`` and ``holdout`` hold one success score in [0, 1] per attack
    attempt (0/1 for most attacks). When the attempts are not independent
    (singling out: all predicates are evaluated on the same records), ``se``
    is the standard error of the difference estimated by permutation, used
    instead of the two-independent-proportions interval.
    """

    name: str
    description: str
    train: np.ndarray
    holdout: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)
    se: float | None = None


@dataclass
class AttackData:
    """The three tables, aligned and embedded for Gower distance, and the targets."""

    train: pd.DataFrame
    holdout: pd.DataFrame
    synth: pd.DataFrame
    space: GowerSpace
    train_rows: np.ndarray
    holdout_rows: np.ndarray
    reference_rows: np.ndarray
    seed: int
    _memo: dict = field(default_factory=dict, repr=False)

    @cached_property
    def train_points(self) -> Points:
        return self.space.transform(self.train)

    @cached_property
    def holdout_points(self) -> Points:
        return self.space.transform(self.holdout)

    @cached_property
    def synth_points(self) -> Points:
        return self.space.transform(self.synth)

    @property
    def train_targets(self) -> Points:
        return self.train_points.take(self.train_rows)

    @property
    def holdout_targets(self) -> Points:
        return self.holdout_points.take(self.holdout_rows)

    @property
    def reference(self) -> Points:
        return self.holdout_points.take(self.reference_rows)

    def rng(self, stream: str) -> np.random.Generator:
        """An independent, reproducible generator per attack (so adding one attack changes no other)."""
        return np.random.default_rng([self.seed, *stream.encode()])

    @cached_property
    def _synth_order(self) -> np.ndarray:
        return self.rng("synthetic row order").permutation(len(self.synth))

    @cached_property
    def _synth_shuffled(self) -> Points:
        return self.synth_points.take(self._synth_order)

    def nearest_synth_rows(self, queries: Points, k: int, columns: list[int]) -> np.ndarray:
        """SYNTH row indices of each query's ``k`` nearest synthetic records over ``columns``,
        shape (n_queries, k). Ties go to a seeded random order of SYNTH's rows: on discrete
        data most searches tie, and by row order a sorted SYNTH changed the success rates."""
        return self._synth_order[self.space.nearest(queries, self._synth_shuffled, k, columns)[1]]

    def nearest_synth(self, which: str, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """k nearest synthetic records (all columns) of ``which`` in train/holdout/reference, cached."""
        key = ("synth", which, k)
        if key not in self._memo:
            q = {"train": self.train_targets, "holdout": self.holdout_targets, "reference": self.reference}[which]
            self._memo[key] = self.space.nearest(q, self.synth_points, k)
        return self._memo[key]


def check_options(attack: str, whole: Sequence[str] = (), **bounds: tuple[float, float, float]) -> None:
    """InputError naming the attack's option when a value is not a finite number within
    its ``(value, low, high)`` bounds (inclusive), or, for the options named in ``whole``,
    not a whole number; checked before any work."""
    for name, (value, low, high) in bounds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise InputError(f"{attack}: {name}={value!r} must be a number from {low:g} to {high:g}")
        if not (np.isfinite(value) and low <= value <= high):
            raise InputError(f"{attack}: {name}={value!r} must be a number from {low:g} to {high:g}")
        if name in whole and value != int(value):
            raise InputError(f"{attack}: {name}={value!r} must be a whole number from {low:g} to {high:g}")


def _schema_view(schema: Any, df: pd.DataFrame) -> pd.DataFrame:
    """The table as the schema sees it, for distances: numeric columns as numbers,
    datetime columns as their bin index, categorical columns as their cell code
    (so ``other`` values compare equal); missing stays missing. Raises InputError
    for values outside the schema."""
    codes = schema.encode(df)
    out = {}
    for j, col in enumerate(schema.columns):
        code = codes[:, j].astype(np.int64)
        missing = code == col.n_values if col.missing else np.zeros(len(df), dtype=bool)
        if col.kind == "numeric":
            x = pd.to_numeric(df[col.name], errors="coerce").to_numpy(dtype=float)
            out[col.name] = np.clip(x, *col.bounds)
        elif col.kind == "datetime":
            out[col.name] = np.where(missing, np.nan, code.astype(float))
        else:
            out[col.name] = pd.Series(code.astype(str), index=df.index, dtype=object).where(~missing, np.nan)
    return pd.DataFrame(out, index=df.index)


def prepare(train: pd.DataFrame, holdout: pd.DataFrame, synth: pd.DataFrame, schema: Any = None, *,
            n_targets: int = 2000, n_reference: int = 5000, seed: int = 0) -> AttackData:
    """Align the tables, fit the Gower space and draw the targets.

    TRAIN targets: ``min(n_targets, len(train))``; HOLDOUT targets:
    ``min(n_targets, len(holdout) // 2)``; reference: up to ``n_reference`` of the
    other HOLDOUT rows. Without a schema, numeric ranges are read off TRAIN and
    HOLDOUT; with one, its bounds and cells are used.
    """
    if n_targets < MIN_ROWS or n_reference < MIN_ROWS:
        raise InputError(f"n_targets and n_reference must be at least {MIN_ROWS}")
    seed = check_seed(seed)
    aligned = align_tables(train, {"HOLDOUT": holdout, "SYNTH": synth}, reference_name="TRAIN")
    train = train.set_axis([str(c) for c in train.columns], axis=1)
    holdout, synth = aligned["HOLDOUT"], aligned["SYNTH"]
    if train.shape[1] < 2:
        raise InputError("the attacks need at least two columns (linkability and inference split them)")
    for name, df, need in (("TRAIN", train, MIN_ROWS), ("HOLDOUT", holdout, 2 * MIN_ROWS), ("SYNTH", synth, 1)):
        if len(df) < need:
            raise InputError(f"{name} has {len(df)} rows; the attacks need at least {need}")
    schema = load_schema(schema)
    bounds = None
    if schema is not None:
        train, holdout, synth = (_schema_view(schema, df) for df in (train, holdout, synth))
        bounds = {c.name: c.bounds if c.kind == "numeric" else (0, c.n_values - 1)
                  for c in schema.columns if c.kind in ("numeric", "datetime")}
    space = GowerSpace.fit([train, holdout], [synth], bounds=bounds)
    rng = np.random.default_rng([seed, 0])
    train_rows = np.sort(rng.permutation(len(train))[:n_targets])
    perm = rng.permutation(len(holdout))
    n_hold = min(n_targets, len(holdout) // 2)
    holdout_rows = np.sort(perm[:n_hold])
    reference_rows = np.sort(perm[n_hold:n_hold + n_reference])
    return AttackData(train.reset_index(drop=True), holdout.reset_index(drop=True), synth.reset_index(drop=True),
                      space, train_rows, holdout_rows, reference_rows, seed)
