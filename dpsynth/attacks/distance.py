"""Gower distance over mixed column types, with a chunked nearest-neighbour search.

Gower's distance between two records is the mean over columns of a per-column
dissimilarity in [0, 1]: for a categorical column 0 if equal and 1 otherwise;
for a numeric column ``|x - y| / range`` (values clipped to the real range);
a missing value is equal to another missing value and at distance 1 from any
present one. The categorical part is computed as a one-hot matrix product and
the numeric part column by column, in query chunks, so the search is vectorised
numpy throughout (O(n_queries * n_candidates) arithmetic, no Python loop over
records).

Ranges come from the schema's bounds or else the real tables, categories from
every table passed to :meth:`GowerSpace.fit`: this is evaluation, nothing is
released.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from dpsynth.evaluate import categorical_strings, is_numeric_column

_MISSING_NUM = np.float32(10.0)  # outside [0, 1]: |present - missing| clips to 1, |missing - missing| = 0
_BLOCK_ENTRIES = 4_000_000


@dataclass(frozen=True)
class Points:
    """Records embedded for Gower distance: categorical codes and scaled numerics."""

    cat: np.ndarray  # (n, n_categorical) int32 codes, missing has its own code
    num: np.ndarray  # (n, n_numeric) float32 in [0, 1], missing = 10

    def __len__(self) -> int:
        return self.cat.shape[0]

    def take(self, rows: np.ndarray | slice) -> "Points":
        return Points(self.cat[rows], self.num[rows])


@dataclass(frozen=True)
class GowerSpace:
    """Per-column kinds, numeric ranges and categories for Gower distance."""

    names: tuple[str, ...]
    numeric: tuple[bool, ...]
    lows: np.ndarray
    spans: np.ndarray
    categories: tuple[np.ndarray, ...]

    @classmethod
    def fit(cls, real: Sequence[pd.DataFrame], others: Sequence[pd.DataFrame] = (),
            bounds: dict[str, tuple[float, float]] | None = None) -> "GowerSpace":
        """Column kinds from ``real[0]``; numeric ranges from ``bounds`` when given,
        else from the ``real`` tables; categories from every table."""
        first = real[0]
        names = tuple(str(c) for c in first.columns)
        numeric = tuple(is_numeric_column(first[c]) for c in names)
        bounds = bounds or {}
        lows, spans, cats = [], [], []
        for c, is_num in zip(names, numeric):
            if is_num:
                if c in bounds:
                    lo, hi = (float(b) for b in bounds[c])
                else:
                    x = np.concatenate([f[c].to_numpy(dtype=float) for f in real])
                    x = x[np.isfinite(x)]
                    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
                lows.append(lo)
                spans.append(hi - lo if hi > lo else 1.0)
            else:
                v = np.concatenate([categorical_strings(f[c]) for f in (*real, *others)])
                cats.append(np.array(sorted(pd.unique(v[~pd.isna(v)])), dtype=object))
        return cls(names, numeric, np.array(lows), np.array(spans), tuple(cats))

    @property
    def cat_columns(self) -> list[int]:
        return [j for j, n in enumerate(self.numeric) if not n]

    @property
    def num_columns(self) -> list[int]:
        return [j for j, n in enumerate(self.numeric) if n]

    def transform(self, df: pd.DataFrame) -> Points:
        cat = np.empty((len(df), len(self.cat_columns)), dtype=np.int32)
        for k, j in enumerate(self.cat_columns):
            v = categorical_strings(df[self.names[j]])
            codes = pd.Index(self.categories[k]).get_indexer(v).astype(np.int32)
            codes[codes < 0] = len(self.categories[k])  # missing
            cat[:, k] = codes
        num = np.empty((len(df), len(self.num_columns)), dtype=np.float32)
        for k, j in enumerate(self.num_columns):
            x = df[self.names[j]].to_numpy(dtype=float)
            scaled = np.clip((x - self.lows[k]) / self.spans[k], 0.0, 1.0)
            num[:, k] = np.where(np.isfinite(x), scaled, _MISSING_NUM)
        return Points(cat, num)

    def _split(self, columns: Sequence[int] | None) -> tuple[list[int], list[int]]:
        cols = range(len(self.names)) if columns is None else columns
        cat_pos = {j: k for k, j in enumerate(self.cat_columns)}
        num_pos = {j: k for k, j in enumerate(self.num_columns)}
        return [cat_pos[j] for j in cols if j in cat_pos], [num_pos[j] for j in cols if j in num_pos]

    def _onehot(self, points: Points, cat_idx: list[int]) -> np.ndarray:
        widths = [len(self.categories[k]) + 1 for k in cat_idx]
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        out = np.zeros((len(points), int(sum(widths))), dtype=np.float32)
        if cat_idx:
            rows = np.repeat(np.arange(len(points)), len(cat_idx))
            out[rows, (points.cat[:, cat_idx] + offsets).ravel()] = 1.0
        return out

    def nearest(self, queries: Points, candidates: Points, k: int = 1,
                columns: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest candidates of each query by Gower distance over ``columns``.

        Returns ``(distances, indices)``, each (n_queries, k), nearest first (for
        ``k == 1`` ties go to the lower candidate index).
        """
        cat_idx, num_idx = self._split(columns)
        p = len(cat_idx) + len(num_idx)
        nq, nc = len(queries), len(candidates)
        if p == 0 or nc == 0:
            raise ValueError("nearest() needs at least one column and one candidate")
        k = min(k, nc)
        c_oh = self._onehot(candidates, cat_idx)
        has_missing = [bool((candidates.num[:, j] == _MISSING_NUM).any() or (queries.num[:, j] == _MISSING_NUM).any())
                       for j in num_idx]
        plain = [j for j, m in zip(num_idx, has_missing) if not m]  # L1 in one C pass (cdist)
        gappy = [j for j, m in zip(num_idx, has_missing) if m]      # |x - y| clipped at 1, per column
        c_plain = candidates.num[:, plain].astype(np.float64)
        c_gappy = np.ascontiguousarray(candidates.num[:, gappy].T)
        dist = np.empty((nq, k), dtype=np.float32)
        idx = np.empty((nq, k), dtype=np.int64)
        step = max(1, _BLOCK_ENTRIES // nc)
        for start in range(0, nq, step):
            rows = slice(start, min(start + step, nq))
            q = queries.take(rows)
            if cat_idx:
                block = self._onehot(q, cat_idx) @ c_oh.T  # matching categorical columns
                np.subtract(np.float32(len(cat_idx)), block, out=block)
            else:
                block = np.zeros((len(q), nc), dtype=np.float32)
            if plain:
                block += cdist(q.num[:, plain].astype(np.float64), c_plain, "cityblock")
            if gappy:
                tmp = np.empty_like(block)
                for m, j in enumerate(gappy):
                    np.subtract(q.num[:, j, None], c_gappy[m][None, :], out=tmp)
                    np.abs(tmp, out=tmp)
                    np.minimum(tmp, 1.0, out=tmp)
                    block += tmp
            if k == 1:
                best = np.argmin(block, axis=1)[:, None]
            else:
                part = np.argpartition(block, k - 1, axis=1)[:, :k]
                order = np.lexsort((part, np.take_along_axis(block, part, 1)), axis=1)
                best = np.take_along_axis(part, order, 1)
            idx[rows] = best
            dist[rows] = np.take_along_axis(block, best, 1) / p
        return np.maximum(dist, 0.0), idx
