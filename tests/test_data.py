"""Marginal counts by bincount, checked against a brute-force pandas groupby."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from dpsynth.data import count_marginal, count_marginals
from dpsynth.errors import InputError

SIZES = (3, 5, 2, 7, 4)


def random_codes(n: int, seed: int, sizes=SIZES, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Skewed so some cells are empty and counts differ.
    p = [rng.dirichlet(np.full(s, 0.5)) for s in sizes]
    return np.column_stack([rng.choice(s, n, p=pj) for s, pj in zip(sizes, p)]).astype(dtype)


def brute_force(codes: np.ndarray, sizes, attrs) -> np.ndarray:
    """Count with groupby, then lay the cells out in C order over attrs."""
    df = pd.DataFrame(codes[:, list(attrs)].astype(int), columns=[f"a{a}" for a in attrs])
    counts = df.groupby(list(df.columns)).size()
    counts.index = pd.MultiIndex.from_frame(counts.index.to_frame())  # also for a single attribute
    full = pd.MultiIndex.from_product([range(sizes[a]) for a in attrs])
    return counts.reindex(full, fill_value=0).to_numpy()


ALL_ATTRS = [attrs for k in (1, 2, 3) for attrs in itertools.permutations(range(len(SIZES)), k)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int64])
def test_count_marginal_matches_groupby(dtype):
    codes = random_codes(3000, seed=1, dtype=dtype)
    for attrs in ALL_ATTRS:
        got = count_marginal(codes, SIZES, attrs)
        assert got.dtype == np.int64 and got.shape == (int(np.prod([SIZES[a] for a in attrs])),)
        assert (got == brute_force(codes, SIZES, attrs)).all(), attrs


def test_c_order_by_hand():
    codes = np.array([[0, 2], [1, 0], [1, 2], [1, 2]], dtype=np.uint8)
    assert count_marginal(codes, (2, 3), (0, 1)).tolist() == [0, 0, 1, 1, 0, 2]
    assert count_marginal(codes, (2, 3), (1, 0)).tolist() == [0, 1, 0, 0, 1, 2]
    assert count_marginal(codes, (2, 3), ()).tolist() == [4]


@pytest.mark.parametrize("n", [40, 5000])  # few rows: counts per pass; many rows: summed out of larger marginals
def test_count_marginals_equals_one_at_a_time(n):
    codes = random_codes(n, seed=2)
    asked = [(0,), (1, 3), (3, 1), (0, 1, 3), (1,), (), (0, 1, 3), (4, 2), (2,), (3,)]
    got = count_marginals(codes, SIZES, asked)
    assert len(got) == len(asked)
    for attrs, counts in zip(asked, got):
        assert counts.dtype == np.int64
        assert (counts == brute_force(codes, SIZES, attrs) if attrs else counts == [n]).all(), attrs


@pytest.mark.parametrize("long", [False, True])
def test_count_marginals_reads_rows_once_per_largest_marginal(long, monkeypatch):
    """Subsets (in any order) of a marginal with fewer cells than rows are summed
    out of it, whether it is short (indexed) or long (scanned); each answer
    still equals the brute-force count."""
    import dpsynth.data as data

    sizes = (2,) * 8
    codes = random_codes(3000, seed=4, sizes=sizes)
    top = tuple(range(7)) if long else (0, 2, 5)
    asked = [top, (5, 0), (2,), (0, 2, 5), (5, 2, 0)] + ([(6, 1, 3), (4,)] if long else [])
    passes = []
    count = data.count_marginal
    monkeypatch.setattr(data, "count_marginal", lambda c, s, a: passes.append(a) or count(c, s, a))
    got = data.count_marginals(codes, sizes, asked)
    assert len(passes) == 1 and set(passes[0]) == set(top)
    for attrs, counts in zip(asked, got):
        assert (counts == brute_force(codes, sizes, attrs)).all(), attrs


def test_count_marginals_empty_table_and_list():
    codes = np.zeros((0, len(SIZES)), dtype=np.uint8)
    assert count_marginals(codes, SIZES, [(0, 1)])[0].tolist() == [0] * 15
    assert count_marginals(random_codes(10, 3), SIZES, []) == []


@pytest.mark.parametrize("attrs", [(0, 0), (5,), (-1,)])
def test_bad_attrs(attrs):
    with pytest.raises(InputError, match="distinct column indices"):
        count_marginal(random_codes(10, 4), SIZES, attrs)


def test_bad_shape():
    with pytest.raises(InputError, match="shape"):
        count_marginal(np.zeros((4, 2), dtype=np.uint8), SIZES, (0,))
