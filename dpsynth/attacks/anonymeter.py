"""Singling out, linkability and attribute inference in the style of Anonymeter
(Giomi, Boenisch, Wehmeyer, Tasnádi: "A Unified Framework for Quantifying Privacy
Risk in Synthetic Data", PoPETs 2023), implemented here on the Gower space.

Each attack is run against TRAIN records and, identically, against HOLDOUT
records (Anonymeter's *control* set); the excess success on TRAIN is what the
release leaks about the records it was built from. ``details["risk"]`` is
Anonymeter's normalised risk ``(train - holdout) / (1 - holdout)``.

* :func:`singling_out` -- predicates ``col == v`` / ``col <= v`` / ``col >= v``
  over ``n_cols`` columns, built from synthetic records and kept when they
  match exactly one synthetic record; success when the predicate matches exactly
  one record of TRAIN (of HOLDOUT for the baseline, equal sample sizes).
* :func:`linkability` -- the attacker holds two parts of a target's columns from
  two sources; success when the nearest synthetic records on each part coincide.
* :func:`attribute_inference` -- the attacker knows every column but one secret
  and guesses it from the nearest synthetic record on the others.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp

from dpsynth.attacks.base import AttackData, Outcome, check_options
from dpsynth.errors import InputError

_EQ, _LE, _GE = 0, 1, 2
_BATCH_ENTRIES = 8_000_000


def _risk(train: np.ndarray, holdout: np.ndarray) -> float | None:
    s, b = float(np.mean(train)), float(np.mean(holdout))
    return None if b >= 1.0 else (s - b) / (1.0 - b)


def _columns_matrix(data: AttackData, points) -> np.ndarray:
    """Records as one contiguous float32 (n_columns, n_records) matrix in the space's
    column order (categorical codes are exact in float32)."""
    out = np.empty((len(data.space.names), len(points)), dtype=np.float32)
    out[data.space.cat_columns] = points.cat.T
    out[data.space.num_columns] = points.num.T
    return out


def _matches(XT: np.ndarray, cols: np.ndarray, ops: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """(n_predicates, n_rows) boolean: records (columns of ``XT``, shape (p, n)) satisfying
    each conjunctive predicate. Present numerics lie in [0, 1] and a missing one is 10,
    so ``>=`` also checks ``<= 1``."""
    hit = np.ones((cols.shape[0], XT.shape[1]), dtype=bool)
    for c in range(cols.shape[1]):
        for op in (_EQ, _LE, _GE):
            sel = np.flatnonzero(ops[:, c] == op)
            if len(sel) == 0:
                continue
            x = XT[cols[sel, c]]
            v = vals[sel, c, None]
            if op == _EQ:
                hit[sel] &= x == v
            elif op == _LE:
                hit[sel] &= x <= v
            else:
                hit[sel] &= (x >= v) & (x <= 1.0)
    return hit


def _generate_predicates(data: AttackData, ST: np.ndarray, n_predicates: int, n_cols: int,
                         max_attempts: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Predicates built from random synthetic records that single out one synthetic record.

    For a numeric column the operator points away from the synthetic median
    (``>=`` above it, ``<=`` otherwise), as Anonymeter does; a missing numeric
    value gives an ``is missing`` condition.
    """
    p, n = ST.shape
    numeric = np.array(data.space.numeric)
    missing_code = np.float32(10.0)
    present = np.where(ST == missing_code, np.nan, ST)
    medians = np.array([np.nanmedian(row) if np.isfinite(row).any() else 0.0 for row in present])
    kept: dict[bytes, tuple] = {}
    batch = max(16, min(1024, _BATCH_ENTRIES // max(n * n_cols, 1)))
    attempts = 0
    while len(kept) < n_predicates and attempts < max_attempts:
        b = min(batch, max_attempts - attempts)
        attempts += b
        rec = rng.integers(n, size=b)
        cols = np.sort(np.argsort(rng.random((b, p)), axis=1)[:, :n_cols], axis=1)
        vals = ST[cols, rec[:, None]]
        ops = np.where(~numeric[cols] | (vals == missing_code), _EQ,
                       np.where(vals > medians[cols], _GE, _LE))
        unique = _matches(ST, cols, ops, vals).sum(axis=1) == 1
        for i in np.flatnonzero(unique):
            key = np.concatenate([cols[i], ops[i], vals[i].view(np.int32)]).tobytes()
            if key not in kept and len(kept) < n_predicates:
                kept[key] = (cols[i], ops[i], vals[i])
    if not kept:
        return np.zeros((0, n_cols), int), np.zeros((0, n_cols), int), np.zeros((0, n_cols), np.float32), attempts
    cols, ops, vals = (np.stack(x) for x in zip(*kept.values()))
    return cols, ops, vals, attempts


def singling_out(data: AttackData, n_predicates: int = 500, n_cols: int = 4, max_attempts: int | None = None,
                 n_permutations: int = 400) -> Outcome:
    """Multivariate singling out. TRAIN and HOLDOUT are compared on random samples
    of the same size (the chance that a predicate singles out depends on it).

    The predicates are evaluated on the same records, so their outcomes are
    correlated; the standard error of the difference is therefore estimated by
    re-splitting the pooled TRAIN+HOLDOUT sample at random ``n_permutations``
    times (the null distribution of the difference), not from independence.
    """
    check_options("singling out", ("n_predicates", "n_cols", "n_permutations"),
                  n_predicates=(n_predicates, 1, np.inf), n_cols=(n_cols, 1, np.inf),
                  n_permutations=(n_permutations, 2, np.inf))   # one permutation has no spread
    rng = data.rng("singling_out")
    n_cols = min(n_cols, len(data.space.names))
    ST = _columns_matrix(data, data.synth_points)
    max_attempts = max_attempts if max_attempts is not None else 40 * n_predicates
    cols, ops, vals, attempts = _generate_predicates(data, ST, n_predicates, n_cols, max_attempts, rng)
    m = min(len(data.train), len(data.holdout))
    tr = rng.permutation(len(data.train))[:m]
    ho = rng.permutation(len(data.holdout))[:m]
    pooled = np.hstack([_columns_matrix(data, data.train_points.take(tr)),
                        _columns_matrix(data, data.holdout_points.take(ho))])
    n_pred = len(cols)
    if n_pred == 0:  # every synthetic record shares its cell: no predicate to try, no record singled out
        return Outcome(name="singling_out", description=f"singling out with {n_cols}-column predicates built from "
                       "synthetic records", train=np.zeros(0), holdout=np.zeros(0),
                       details={"n_predicates": 0, "n_attempts": int(attempts), "n_cols": int(n_cols),
                                "reason": "no predicate singles out a synthetic record (every record shares its "
                                          "values with another), so the attack has nothing to try"})
    rows = max(1, _BATCH_ENTRIES // (pooled.shape[1] * n_cols))
    hits = sp.vstack([sp.csr_matrix(_matches(pooled, cols[i:i + rows], ops[i:i + rows], vals[i:i + rows]))
                      for i in range(0, n_pred, rows)]).astype(np.float32).tocsr()
    total = np.asarray(hits.sum(axis=1)).ravel()
    in_train = np.asarray(hits[:, :m].sum(axis=1)).ravel()
    train_ok = in_train == 1
    hold_ok = (total - in_train) == 1
    diffs = []
    for start in range(0, n_permutations, 50):
        b = min(50, n_permutations - start)
        Z = (np.argsort(rng.random((b, 2 * m)), axis=1) < m).T.astype(np.float32)  # (2m, b): first group
        a = hits @ Z
        diffs.append(np.mean(a == 1, axis=0) - np.mean((total[:, None] - a) == 1, axis=0))
    se = float(np.std(np.concatenate(diffs), ddof=1))
    return Outcome(
        name="singling_out",
        description=f"singling out with {n_cols}-column predicates built from synthetic records",
        train=train_ok.astype(float),
        holdout=hold_ok.astype(float),
        se=se,
        details={
            "n_predicates": int(n_pred),
            "n_attempts": int(attempts),
            "n_cols": int(n_cols),
            "records_compared": int(m),
            "n_permutations": int(n_permutations),
            "risk": _risk(train_ok, hold_ok),
        },
    )


def _column_indices(data: AttackData, columns: Sequence[str] | None, what: str) -> list[int]:
    names = list(data.space.names)
    if columns is None:
        return list(range(len(names)))
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise InputError(f"{what}: unknown column(s) {unknown}; the columns are {names}")
    return [names.index(c) for c in columns]


def linkability(data: AttackData, columns_a: Sequence[str] | None = None, columns_b: Sequence[str] | None = None,
                n_neighbors: int = 1) -> Outcome:
    """Success when one of the ``n_neighbors`` nearest synthetic records on
    ``columns_a`` is also one of those on ``columns_b``. Default split: the
    columns shuffled (seeded) and cut in two halves."""
    check_options("linkability", ("n_neighbors",), n_neighbors=(n_neighbors, 1, np.inf))
    if (columns_a is None) != (columns_b is None):
        raise InputError("linkability: give both column sets or neither")
    if columns_a is None:
        order = data.rng("linkability").permutation(len(data.space.names))
        half = len(order) // 2
        a, b = sorted(order[:half].tolist()), sorted(order[half:].tolist())
    else:
        a = _column_indices(data, columns_a, "linkability")
        b = _column_indices(data, columns_b, "linkability")
        if not a or not b or set(a) & set(b):
            raise InputError("linkability: the two column sets must be non-empty and disjoint")
    out = {}
    for which, targets in (("train", data.train_targets), ("holdout", data.holdout_targets)):
        ia = data.nearest_synth_rows(targets, n_neighbors, a)
        ib = data.nearest_synth_rows(targets, n_neighbors, b)
        out[which] = (ia[:, :, None] == ib[:, None, :]).any(axis=(1, 2)).astype(float)
    names = data.space.names
    return Outcome(
        name="linkability",
        description="linking two halves of a record through the synthetic data",
        train=out["train"],
        holdout=out["holdout"],
        details={
            "columns_a": [names[j] for j in a],
            "columns_b": [names[j] for j in b],
            "n_neighbors": int(n_neighbors),
            "risk": _risk(out["train"], out["holdout"]),
        },
    )


def attribute_inference(data: AttackData, secrets: Sequence[str] | None = None, tolerance: float = 0.05) -> Outcome:
    """Each target gets one secret column (cycling over ``secrets``, default all
    columns, in a seeded order); the guess is that column of the synthetic record
    nearest on every other column. A guess is right when equal (categorical, or
    both missing) or, for numeric secrets, within ``tolerance`` times the true
    value's magnitude."""
    check_options("attribute inference", tolerance=(tolerance, 0, np.inf))
    secret_idx = _column_indices(data, secrets, "attribute inference")
    rng = data.rng("attribute_inference")
    p = len(data.space.names)
    synth_cols = data.synth
    per_column = {j: {"train": [0, 0], "holdout": [0, 0]} for j in secret_idx}
    out = {}
    for which, targets, frame, rows in (("train", data.train_targets, data.train, data.train_rows),
                                        ("holdout", data.holdout_targets, data.holdout, data.holdout_rows)):
        assign = np.asarray(secret_idx)[rng.permutation(len(rows)) % len(secret_idx)]
        ok = np.zeros(len(rows), dtype=bool)
        for j in secret_idx:
            sel = np.flatnonzero(assign == j)
            if len(sel) == 0:
                continue
            aux = [c for c in range(p) if c != j]
            guess = data.nearest_synth_rows(targets.take(sel), 1, aux)[:, 0]
            name = data.space.names[j]
            if data.space.numeric[j]:
                true = frame[name].to_numpy(dtype=float)[rows[sel]]
                g = synth_cols[name].to_numpy(dtype=float)[guess]
                both_missing = np.isnan(true) & np.isnan(g)
                ok[sel] = both_missing | (np.abs(g - true) <= tolerance * np.abs(true))
            else:
                k = data.space.cat_columns.index(j)
                ok[sel] = targets.cat[sel, k] == data.synth_points.cat[guess, k]
            per_column[j][which] = [int(ok[sel].sum()), int(len(sel))]
        out[which] = ok.astype(float)
    names = data.space.names
    return Outcome(
        name="attribute_inference",
        description="guessing a secret column from the nearest synthetic record on the others",
        train=out["train"],
        holdout=out["holdout"],
        details={
            "tolerance": tolerance,
            "per_column": [
                {"column": names[j],
                 "train_rate": _rate(*per_column[j]["train"]), "n_train": per_column[j]["train"][1],
                 "holdout_rate": _rate(*per_column[j]["holdout"]), "n_holdout": per_column[j]["holdout"][1]}
                for j in secret_idx
            ],
            "risk": _risk(out["train"], out["holdout"]),
        },
    )


def _rate(successes: int, n: int) -> float | None:
    return successes / n if n else None
