"""Exact marginal counts of encoded data: the in-memory counting engine.

Codes are the (n, d) unsigned integer array :meth:`dpsynth.domain.Schema.encode`
returns. A marginal over attribute indices ``attrs`` is the flat int64 vector of
counts of every cell combination, in C order over ``attrs`` (the first attribute
varies slowest), computed with one ``np.bincount`` over a mixed-radix index.
These counts are exact and private: only a mechanism may release them.
"""
from __future__ import annotations

import itertools
import math
from typing import Iterable, Sequence

import numpy as np

from dpsynth.errors import InputError


def _check(codes: np.ndarray, sizes: Sequence[int], attrs: Iterable[int]) -> tuple[int, ...]:
    attrs = tuple(int(a) for a in attrs)
    if codes.ndim != 2 or codes.shape[1] != len(sizes):
        raise InputError(f"codes must have shape (n, {len(sizes)}), got {codes.shape}")
    if len(set(attrs)) != len(attrs) or any(not 0 <= a < len(sizes) for a in attrs):
        raise InputError(f"attrs {attrs} must be distinct column indices in 0..{len(sizes) - 1}")
    cells = math.prod(int(sizes[a]) for a in attrs)
    if cells >= 2**62:
        raise InputError(f"the marginal over {attrs} has {cells:.3g} cells, too many to count")
    return attrs


def _flat_index(codes: np.ndarray, sizes: Sequence[int], attrs: tuple[int, ...]) -> np.ndarray:
    """Mixed-radix cell index (int64) of every row over ``attrs``, C order."""
    index = codes[:, attrs[0]].astype(np.int64)
    for a in attrs[1:]:
        index *= int(sizes[a])
        index += codes[:, a]
    return index


def count_marginal(codes: np.ndarray, sizes: Sequence[int], attrs: Sequence[int]) -> np.ndarray:
    """Counts of the marginal over column indices ``attrs``: flat int64, length prod(sizes[attrs]).

    ``attrs == ()`` gives the total row count as a length-1 vector.
    """
    codes = np.asarray(codes)
    attrs = _check(codes, sizes, attrs)
    if not attrs:
        return np.array([codes.shape[0]], dtype=np.int64)
    cells = math.prod(int(sizes[a]) for a in attrs)
    return np.bincount(_flat_index(codes, sizes, attrs), minlength=cells).astype(np.int64, copy=False)


def count_marginals(codes: np.ndarray, sizes: Sequence[int],
                    list_of_attrs: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """Counts of many marginals, in the order asked; each as :func:`count_marginal` returns it.

    Work is shared: repeated subsets are counted once, and a marginal whose
    attributes lie inside an already counted, larger one with fewer cells than
    rows is summed out of it instead of re-reading every row. With several
    marginals to count the codes are copied to column-major order once, so each
    row pass reads contiguous columns.
    """
    codes = np.asarray(codes)
    wanted = [_check(codes, sizes, attrs) for attrs in list_of_attrs]
    n = codes.shape[0]
    if len({a for attrs in wanted for a in attrs}) > 1 and len(wanted) > 1:
        codes = np.asfortranarray(codes)
    done: dict[tuple[int, ...], np.ndarray] = {}
    sources = _Sources()
    # Largest first, so subsets can be summed out of what is already counted.
    for attrs in sorted(set(wanted), key=len, reverse=True):
        source = sources.smallest_holding(attrs)
        if source is None:
            done[attrs] = count_marginal(codes, sizes, attrs)
        else:
            done[attrs] = _sum_out(done[source], [int(sizes[a]) for a in source], source, attrs)
        if done[attrs].size < n:
            sources.add(attrs, done[attrs].size)
    return [done[attrs] for attrs in wanted]


class _Sources:
    """Counted marginals with fewer cells than rows, found by the attribute sets
    they hold: every subset of a short one is indexed (a dict lookup per
    query, where a scan of all counted marginals made thousands of queries
    quadratic); the rare long ones are scanned."""

    INDEXED = 6  # a source of up to 6 attributes indexes its 63 subsets

    def __init__(self) -> None:
        self.cells: dict[tuple[int, ...], int] = {}
        self.best: dict[frozenset[int], tuple[int, ...]] = {}
        self.long: list[tuple[int, ...]] = []

    def add(self, attrs: tuple[int, ...], cells: int) -> None:
        self.cells[attrs] = cells
        if len(attrs) > self.INDEXED:
            self.long.append(attrs)
            return
        for k in range(1, len(attrs) + 1):
            for sub in itertools.combinations(attrs, k):
                key = frozenset(sub)
                if key not in self.best or self.cells[self.best[key]] > cells:
                    self.best[key] = attrs

    def smallest_holding(self, attrs: tuple[int, ...]) -> tuple[int, ...] | None:
        wanted = frozenset(attrs)
        found = [s for s in self.long if wanted <= set(s)]
        if wanted in self.best:
            found.append(self.best[wanted])
        return min(found, key=self.cells.__getitem__, default=None)


def _sum_out(counts: np.ndarray, shape: list[int], source: tuple[int, ...],
             attrs: tuple[int, ...]) -> np.ndarray:
    """Marginalise flat ``counts`` over ``source`` down to ``attrs`` (in the order of ``attrs``)."""
    table = counts.reshape(shape)
    drop = tuple(i for i, a in enumerate(source) if a not in attrs)
    table = table.sum(axis=drop) if drop else table
    kept = [a for a in source if a in attrs]
    table = np.transpose(table, [kept.index(a) for a in attrs])
    return np.ascontiguousarray(table, dtype=np.int64).reshape(-1)


class MemoryCounter:
    """The in-memory counting engine behind :class:`dpsynth.synthesizers.base.FitContext`.

    Every counting engine offers the same two methods: ``counts(list_of_attrs)``
    (exact marginals over column indices, as :func:`count_marginals` returns
    them) and ``mapped(tables, sizes)`` (the same engine over a coarser domain:
    column ``j``'s code ``c`` becomes ``tables[j][c]``). The counts are private:
    only a mechanism may release them.
    """

    def __init__(self, codes: np.ndarray, sizes: Sequence[int]):
        self.codes = np.asarray(codes)
        self.sizes = tuple(int(s) for s in sizes)

    def counts(self, list_of_attrs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        return count_marginals(self.codes, self.sizes, list_of_attrs)

    def mapped(self, tables: Sequence[np.ndarray], sizes: Sequence[int]) -> "MemoryCounter":
        codes = np.empty(self.codes.shape, dtype=np.min_scalar_type(max(int(s) for s in sizes) - 1))
        for j, table in enumerate(tables):
            codes[:, j] = np.asarray(table)[self.codes[:, j]]
        return MemoryCounter(codes, sizes)
