"""DP domain learning: fill in the ``"learn"`` parts of a schema, charged to a release.

A schema may leave two things to the data (``docs/schema.md``):

* ``"categories": "learn"`` (categorical; needs ``other``): *category discovery*.
  The values seen in the column are counted, each count gets discrete Gaussian
  noise, and only values whose noisy count reaches a threshold become categories;
  every other value falls into ``other``
  (:func:`dpsynth.mechanisms.thresholded_counts`, OpenDP's ``make_gaussian_threshold``).
* ``"edges": "learn"`` (numeric, with public ``lower``, ``upper``, ``bins``): the
  ``bins - 1`` interior edges are DP quantiles ``1/bins, ..., (bins-1)/bins`` over a
  public grid of candidates between the bounds (:func:`dpsynth.mechanisms.quantile`,
  the exponential mechanism on OpenDP's quantile scores). Bounds always come from
  the user; edges that coincide are merged, so a column may end up with fewer bins.

Privacy (docs/privacy.md, "Learning the domain"): :func:`learn_domain` spends
exactly ``rho`` (zCDP) through the release, split evenly across the learnable
columns, each charge recorded before its result is used. Quantiles are pure
zCDP. Category discovery cannot be: a value held by a single record can only
appear in the output when that record is present, which no finite rho allows,
so it is delta-approximate rho-zCDP and its delta is charged too (the release
must have reserved one; the ledger tracks delta next to rho). Choosing,
ranking, capping and sorting the kept values and edges is post-processing.
"""
from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from dpsynth import mechanisms
from dpsynth.accounting import RHO_RTOL, Release, _check_positive, rho_from_epsilon
from dpsynth.domain import (Categorical, Column, Numeric, Schema, _canonical_number, _is_number, _label_order,
                            _missing_values_error, _plain, _show)
from dpsynth.errors import BudgetExceeded, InputError

__all__ = ["check_data", "learn_domain", "plan_budget", "DEFAULT_SHARE", "QUANTILE_GRID"]

#: Default share of a release's rho (and of its delta, when categories are discovered) for domain learning.
DEFAULT_SHARE = 0.1
#: Equal steps between ``lower`` and ``upper`` whose points are the quantile candidates (bounds included).
QUANTILE_GRID = 2048


def plan_budget(schema: Schema, epsilon: float, delta: float, share: float = DEFAULT_SHARE
                ) -> tuple[float, float, float]:
    """Split an (epsilon, delta) release between domain learning and the rest.

    Returns ``(rho_release, rho_learn, delta_learn)``: open the release with
    ``ledger.release(dataset, rho_release, method, delta=delta_learn)``, pass
    ``rho_learn`` to :func:`learn_domain` and spend ``rho_release - rho_learn`` on
    the synthesizer. ``delta_learn = share * delta`` when a column discovers
    categories (approximate zCDP), else 0; ``rho_release`` is then the tight
    conversion at ``delta - delta_learn``, so the whole release is (epsilon, delta)-DP.
    ``rho_learn = share * rho_release`` when the schema has learnable columns, else 0.
    """
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise InputError(f"the domain-learning share must be a number in (0, 1), got {share!r}")
    delta_learn = share * float(delta) if _categorical(schema) else 0.0
    rho_release = rho_from_epsilon(epsilon, float(delta) - delta_learn)
    return rho_release, (share * rho_release if schema.learnable else 0.0), delta_learn


def learn_domain(df: pd.DataFrame, schema: Schema, release: Release, rho: float, *,
                 delta: float | None = None) -> Schema:
    """The schema with every ``"learn"`` column filled in by DP mechanisms charged to ``release``.

    Spends exactly ``rho`` (zCDP, add/remove-one neighbouring), split evenly
    across ``schema.learnable``; a numeric column splits its share evenly across
    its ``bins - 1`` quantiles. Category discovery also spends up to ``delta``
    (default: all the delta the release reserved and has not charged), split
    evenly across the categorical columns; it needs ``delta > 0``. The data and
    every spec are checked before anything is charged. Returns a complete
    :class:`Schema` (``drafted_from_data`` as in ``schema``).

    Raises InputError for a schema with nothing to learn, a missing column, values
    that cannot be categories or numbers, missing values the column does not
    allow, or no delta for category discovery;
    BudgetExceeded (nothing charged) when ``rho``/``delta`` exceed what the release has left.
    """
    if not isinstance(schema, Schema):
        raise InputError(f"learn_domain needs a Schema, got {type(schema).__name__}")
    if not isinstance(df, pd.DataFrame):
        raise InputError(f"learn_domain needs a pandas DataFrame, got {type(df).__name__}")
    if not schema.learnable:
        raise InputError("the schema has no column to learn (no \"learn\" spec); use it as it is")
    rho = _check_positive("rho", rho)
    n_cat = len(_categorical(schema))
    delta = release.delta_remaining if delta is None else _check_positive("delta", delta, allow_zero=True)
    if n_cat and delta <= 0:
        raise InputError(
            f"discovering the categories of column(s) {_show(_categorical(schema))} is approximate DP and needs a "
            f"delta, but none is left in this release; open it with delta > 0 (see dpsynth.preprocess.plan_budget)"
        )
    if rho > release.rho_remaining * (1 + RHO_RTOL) or (n_cat and delta > release.delta_remaining * (1 + RHO_RTOL)):
        raise BudgetExceeded(f"{release.dataset} (release {release.release_id}, domain learning)", rho,
                             release.rho_remaining)
    columns = {str(c): c for c in df.columns}
    absent = [name for name in schema.learnable if name not in columns]
    if absent:
        raise InputError(f"column(s) {_show(absent)}: the domain is to be learned but the data has no such column")
    prepared = {name: _prepare(schema[name], df[columns[name]]) for name in schema.learnable}
    rho_column = rho / len(schema.learnable)
    learned: list[Column] = []
    for column in schema.columns:
        if column.learned:
            learned.append(column)
        elif isinstance(column, Categorical):
            learned.append(_discover(column, prepared[column.name], release, rho_column, delta / n_cat))
        else:
            learned.append(_learn_edges(column, prepared[column.name], release, rho_column))
    return Schema(learned, drafted_from_data=schema.drafted_from_data, structural_zeros=schema.structural_zeros,
                  strict_zeros=False)   # learned bins may leave a zero's range no whole bin: then it marks none


def check_data(df: pd.DataFrame, schema: Schema) -> None:
    """Every check of ``df`` against ``schema`` that needs no learned domain, for a
    caller to run before a release reserves budget: data that fails inside a
    release has spent it. Complete columns are encoded as :meth:`Schema.encode`
    would; a ``"learn"`` column gets its missing-value and type checks. Raises
    InputError naming the column."""
    by_name = schema.match_columns(df)
    for column in schema.columns:
        values = df[by_name[column.name]]
        if column.learned:
            column.encode(values)
        else:
            _prepare(column, values)


def _prepare(column: Column, values: pd.Series) -> dict[str, int] | np.ndarray:
    """A learnable column's present values, checked: category counts or clipped numbers (private)."""
    missing = int(values.isna().sum())
    if missing and not column.missing:
        raise _missing_values_error(column.name, missing)
    return _counts(column, values) if isinstance(column, Categorical) else _numbers(column, values)


def _categorical(schema: Schema) -> tuple[str, ...]:
    return tuple(n for n in schema.learnable if isinstance(schema[n], Categorical))


# ----------------------------------------------------------------------------- categories

def _key(value: Any) -> str:
    """Canonical JSON text of a category value: distinct values get distinct keys, and it parses back."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _counts(column: Categorical, values: pd.Series) -> dict[str, int]:
    """Exact counts of the present values, keyed by :func:`_key` in sorted key order (private).

    In an object column each value is keyed by its own canonical form (booleans apart,
    whole floats as int): ``value_counts`` would merge True, 1 and 1.0 under whichever
    came first, a label that one record decides. A value that cannot be a category
    (not a finite number, string or boolean) is not counted: it falls into ``other``.
    Refusing it, or a mix of booleans and numbers, would let one record decide whether
    the release happens at all; the column's dtype, which no single value sets in a typed
    source, is checked instead."""
    present = values.dropna()
    if isinstance(present.dtype, pd.CategoricalDtype):
        present = present.astype(object)
    if present.dtype != object and not (pd.api.types.is_numeric_dtype(present.dtype)
                                        or pd.api.types.is_string_dtype(present.dtype)):
        raise InputError(f"column {column.name!r}: a {present.dtype} column cannot be categories to learn; declare "
                         f"its kind (datetime, numeric) or convert it to text")
    if present.dtype == object:
        counts = present.map(_category_key).dropna().value_counts(sort=False)
        keyed = {str(k): int(c) for k, c in counts.items()}
    else:
        counts = present.value_counts(sort=False)
        keyed = {_key(v): int(c) for v, c in zip(map(_plain, counts.index), counts.to_numpy())
                 if c > 0 and _category_key(v) is not None}
    return dict(sorted(keyed.items()))


def _one_of_booleans_and_numbers(found: list[tuple[Any, float]]) -> list[tuple[Any, float]]:
    """Discovered (value, noisy count) pairs with booleans or numbers dropped, whichever has the
    smaller noisy total, when both were found: a column's categories are one or the other.
    Post-processing of the noisy counts; the dropped values fall into ``other``."""
    booleans = [vc for vc in found if isinstance(vc[0], bool)]
    numbers = [vc for vc in found if _is_number(vc[0])]   # _is_number leaves booleans out
    if not booleans or not numbers:
        return found
    dropped = {id(vc) for vc in (numbers if sum(c for _, c in booleans) >= sum(c for _, c in numbers) else booleans)}
    return [vc for vc in found if id(vc) not in dropped]


def _category_key(value: Any) -> str | None:
    """The :func:`_key` of a value's canonical category label, or None when it cannot be one."""
    v = _plain(value)
    if isinstance(v, bool) or isinstance(v, str):
        return _key(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return _key(_canonical_number(v))
    return None


def _discover(column: Categorical, counts: dict[str, int], release: Release, rho: float,
              delta: float) -> Categorical:
    """Category discovery (delta-approximate rho-zCDP), then post-processing into a Categorical."""
    sigma = mechanisms.sigma_for_rho(rho)
    threshold = max(column.threshold or 1, mechanisms.threshold_for_delta(sigma, delta))
    noisy = mechanisms.thresholded_counts(release, f"categories:{column.name}", counts, sigma, threshold)
    other = (type(column.other) is str, column.other)
    found = [(json.loads(k), v) for k, v in noisy.items()]
    found = [(value, count) for value, count in found if (type(value) is str, value) != other]
    found = _one_of_booleans_and_numbers(found)
    found.sort(key=lambda vc: (-vc[1], _label_order(vc[0])))
    if column.max_categories is not None:
        found = found[: column.max_categories]
    categories = sorted((value for value, _ in found), key=_label_order)
    return Categorical(column.name, tuple(categories), column.other, missing=column.missing)


# ----------------------------------------------------------------------------- bin edges

def _numbers(column: Numeric, values: pd.Series) -> np.ndarray:
    """The present values as floats clipped to the public bounds (private)."""
    present = values.dropna()
    if pd.api.types.is_datetime64_any_dtype(present.dtype) or pd.api.types.is_timedelta64_dtype(present.dtype):
        raise InputError(f"column {column.name!r}: the schema says numeric but the data holds {present.dtype} "
                         f"values; declare it \"kind\": \"datetime\"")
    numbers = pd.to_numeric(present, errors="coerce")
    bad = numbers.isna().to_numpy(dtype=bool)
    if bad.any():
        raise InputError(f"column {column.name!r}: the schema says numeric but {int(bad.sum())} value(s) are not "
                         f"numbers (e.g. {_show(pd.unique(present[bad]))}); fix the data or make it categorical")
    return np.clip(numbers.to_numpy(dtype=np.float64), column.lower, column.upper)


def _candidates(column: Numeric) -> np.ndarray:
    """The public grid: QUANTILE_GRID equal steps from lower to upper; for integer columns only
    half-integers between whole numbers, each of which parts k from k + 1 (whole-number cuts
    could not give ``upper`` a bin of its own, and a cut at either end parts nothing: a 0/1
    column learned one bin, 10.5% ones coming out 48%)."""
    lower, upper = column.lower, column.upper
    if not column.integer:
        return np.linspace(lower, upper, QUANTILE_GRID + 1)
    steps = np.arange(lower, upper) if upper - lower <= QUANTILE_GRID else \
        np.unique(np.floor(np.linspace(lower, upper - 1, QUANTILE_GRID)))
    return (steps + 0.5).astype(np.float64)


def _learn_edges(column: Numeric, x: np.ndarray, release: Release, rho: float) -> Numeric:
    """bins - 1 DP quantiles (pure zCDP, rho / (bins - 1) each); sorting and merging is post-processing."""
    grid = _candidates(column)
    bins = column.bins
    cuts = [mechanisms.quantile(release, f"edges:{column.name}:{q}/{bins}", x, grid, q / bins, rho / (bins - 1))
            for q in range(1, bins)]
    edges = np.unique(np.concatenate(([column.lower], cuts, [column.upper])))
    edges = [int(e) if float(e).is_integer() else float(e) for e in edges] if column.integer else edges.tolist()
    return Numeric(column.name, edges=tuple(edges), integer=column.integer, missing=column.missing)
