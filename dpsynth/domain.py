"""The public schema: the domain every release is defined over.

A release is only differentially private if its domain -- category sets, numeric
bounds, bin edges -- does not come from the private data. The schema is a JSON
file the user owns and reviews (format: ``docs/schema.md``). It fixes, per
column, the finite set of *cells* a value can fall in; :meth:`Schema.encode`
maps a DataFrame to integer cell codes and :meth:`Schema.decode` maps codes back
to values of the original types (decoding is post-processing: no privacy cost).

:func:`draft_schema` reads a schema *off the data* for the user to review. Such
a schema is not public: it records ``"drafted_from_data": true`` and releases
refuse it unless the user asserts the domain is public knowledge.

Cell layout of every column: the value cells first (categories in their listed
order, or bins from low to high), then the ``other`` cell when declared, then
the ``missing`` cell when ``missing`` is true.

A schema may also leave part of the domain to be *learned with differential
privacy* (``"categories": "learn"``, ``"edges": "learn"``; :attr:`Schema.learnable`).
Such a schema cannot encode or decode until :func:`dpsynth.preprocess.learn_domain`,
charged to a ledger release, has filled it in.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from dpsynth.errors import InputError

SCHEMA_VERSION = 1
#: Largest number of bins a numeric or datetime column may declare.
MAX_BINS = 10**6
MAX_EXACT_INT = 2**53 - 1   # past it floats (bin edges, CSV numbers) and many JSON readers lose integers
DEFAULT_MAX_CATEGORIES = 32
#: The spec value that leaves categories / bin edges to be learned with DP.
LEARN = "learn"
#: Most bins a numeric column may ask to learn (each interior edge is one DP quantile).
MAX_LEARNED_BINS = 1024
DEFAULT_BINS = 32
#: Resolutions :func:`draft_schema` tries for datetimes, coarsest first.
_DRAFT_RESOLUTIONS = ("1D", "1h", "1min", "1s", "1ms", "1us")
#: Decoded string columns: pandas 3's string dtype; pandas 2's "str" would turn None into "None".
_STR_DTYPE: Any = "str" if int(pd.__version__.split(".")[0]) >= 3 else object
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)


# ----------------------------------------------------------------------------- helpers

def _show(values: Sequence[Any], limit: int = 5) -> str:
    """A short, one-line listing of a few offending values."""
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v)[:40] for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")


def exact_whole(x: np.ndarray) -> np.ndarray:
    """Element-wise: finite, whole and at most ``MAX_EXACT_INT`` in magnitude (a float
    holds every such integer exactly, so it converts to int64 and back unchanged)."""
    return np.isfinite(x) & (np.round(x) == x) & (np.abs(x) <= MAX_EXACT_INT)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _plain(x: Any) -> Any:
    """numpy scalar -> the Python scalar JSON can hold."""
    return x.item() if isinstance(x, np.generic) else x


def _canonical_number(x: float | int) -> float | int:
    """Whole numbers as int (so 0 and 0.0 hash alike), others as float."""
    x = _plain(x)
    if isinstance(x, float) and x.is_integer() and abs(x) <= MAX_EXACT_INT:
        return int(x)
    return x


def _ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -((-a) // b)


def _int_runs(r: int, k: int) -> np.ndarray:
    """Start offsets of ``k`` runs splitting ``0 .. r-1`` as evenly as possible (length k+1, last = r)."""
    i = np.arange(k + 1, dtype=np.int64)
    q, m = divmod(r, k)
    return i * q + (i * m + k - 1) // k


def _label_type(labels: Sequence[Any]) -> str:
    """'bool', 'int', 'float', 'str' or 'object': decides the decoded dtype."""
    if labels and all(isinstance(v, bool) for v in labels):
        return "bool"
    if labels and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        return "int"
    if labels and all(_is_number(v) for v in labels):
        return "float"
    if labels and all(isinstance(v, str) for v in labels):
        return "str"
    return "object"


def _check_keys(name: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise InputError(
            f"column {name!r}: unknown key(s) {', '.join(map(repr, unknown))} for kind "
            f"{spec.get('kind')!r}; allowed keys: {', '.join(sorted(allowed))}"
        )


def _bool(name: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"column {name!r}: {key!r} must be true or false, got {value!r}")
    return value


def _finite(name: str, key: str, value: Any) -> float | int:
    if not _is_number(value) or not math.isfinite(value):
        raise InputError(f"column {name!r}: {key!r} must be a finite number, got {value!r}")
    return _canonical_number(value)


def _duration_text(ns: int) -> str:
    """A fixed duration in its largest whole unit: "1W", "168h" and "7D" all read "7D"."""
    for unit, size in (("D", 86_400 * 10**9), ("h", 3_600 * 10**9), ("min", 60 * 10**9), ("s", 10**9),
                       ("ms", 10**6), ("us", 10**3), ("ns", 1)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    raise AssertionError("unreachable: every duration is a whole number of nanoseconds")


def _bins(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_BINS:
        raise InputError(f"column {name!r}: 'bins' must be a whole number from 1 to {MAX_BINS:,}, got {value!r}")
    return int(value)


def _missing_values_error(name: str, count: int) -> InputError:
    return InputError(
        f"column {name!r}: {count} missing value(s) but the schema says \"missing\": false; "
        f"set \"missing\": true for this column (missing becomes its own cell) or fill them in"
    )


# ----------------------------------------------------------------------------- columns

@dataclass(frozen=True)
class Column:
    """One column of the schema; subclasses define the value cells."""

    name: str
    missing: bool = field(default=False, kw_only=True)
    kind: ClassVar[str] = ""

    @property
    def learned(self) -> bool:
        """False while the spec says ``"learn"``: the cells are not known yet."""
        return True

    @property
    def n_values(self) -> int:
        """Cells for present values (bins/categories, plus ``other``)."""
        raise NotImplementedError

    @property
    def size(self) -> int:
        """All cells of the column, the missing cell included."""
        return self.n_values + int(self.missing)

    def _require_learned(self) -> None:
        if not self.learned:
            raise InputError(f"column {self.name!r}: its domain is to be learned (\"{LEARN}\"); the domain must "
                             f"be learned first, with differential privacy inside a release "
                             f"(dpsynth.preprocess.learn_domain), before data can be encoded or decoded")

    def encode(self, values: pd.Series) -> np.ndarray:
        """Cell codes (int64) of ``values``; missing values get the last cell."""
        self._require_learned()
        na = values.isna().to_numpy(dtype=bool)
        if na.any() and not self.missing:
            raise _missing_values_error(self.name, int(na.sum()))
        codes = np.full(len(values), self.n_values, dtype=np.int64)
        if not na.all():
            codes[~na] = self._encode_present(values[~na] if na.any() else values)
        return codes

    def decode(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Values (original dtype) for cell codes; missing cells decode to NA."""
        self._require_learned()
        codes = np.asarray(codes, dtype=np.int64)
        na = codes == self.n_values if self.missing else np.zeros(len(codes), dtype=bool)
        return self._decode(np.where(na, 0, codes), na, rng)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def zero_spec(self, spec: Any, strict: bool = True) -> Any:
        """The normalised JSON form of this column's part of a structural zero
        (InputError naming the column when malformed); works before learning.
        ``strict=False`` accepts category labels the column lacks (just learned)."""
        raise NotImplementedError

    def zero_cells(self, spec: Any) -> np.ndarray:
        """Boolean mask over the column's cells (``size``): the cells all of whose
        values the (normalised) zero spec names as impossible."""
        raise NotImplementedError

    def _range_cells(self, spec: Mapping[str, Any], to_number: Any, first: np.ndarray, last: np.ndarray
                     ) -> np.ndarray:
        """Cells whose smallest value ``first`` and largest value ``last`` both lie
        in the spec's inclusive ``min``..``max`` (an open side when absent)."""
        lo = to_number(spec["min"], "min") if "min" in spec else -np.inf
        hi = to_number(spec["max"], "max") if "max" in spec else np.inf
        out = np.zeros(self.size, dtype=bool)
        out[:self.n_values] = (first >= lo) & (last <= hi)
        return out

    def _range_spec(self, spec: Any, to_number: Any, to_json: Any) -> dict[str, Any]:
        """A ``{"min", "max"}`` range checked with ``to_number(value, key)``, in the normalised
        JSON form ``to_json(number)`` (49 and 49.0 hash alike)."""
        if not isinstance(spec, Mapping) or not spec or set(spec) - {"min", "max"}:
            raise InputError(f"structural zero on column {self.name!r}: a {self.kind} column takes a range "
                             f"{{\"min\": ..., \"max\": ...}} (one or both), got {spec!r}")
        bounds = {k: to_number(spec[k], k) for k in ("min", "max") if k in spec}
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            raise InputError(f"structural zero on column {self.name!r}: min {spec['min']!r} is above "
                             f"max {spec['max']!r}")
        return {k: to_json(bounds[k]) for k in ("min", "max") if k in spec}

    def _encode_present(self, values: pd.Series) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, codes: np.ndarray, na: np.ndarray, rng: np.random.Generator) -> pd.Series:
        raise NotImplementedError


@dataclass(frozen=True)
class Categorical(Column):
    """A finite, ordered list of allowed values (JSON strings, numbers or booleans).

    ``other``: label of a catch-all cell for values not in ``categories`` (None: no
    such cell, and such values are an error). Decoded labels keep their JSON type:
    numeric categories decode to numbers, ``other`` to its label.

    ``categories="learn"`` leaves the list to DP category discovery
    (:func:`dpsynth.preprocess.learn_domain`): it needs an ``other`` label and
    takes an optional ``max_categories`` (keep at most that many) and
    ``threshold`` (a lower bound on the noisy count a value needs to be kept).
    """

    categories: tuple | str = ()
    other: Any = None
    max_categories: int | None = None
    threshold: int | None = None
    kind: ClassVar[str] = "categorical"
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _bool(self.name, "missing", self.missing)
        if isinstance(self.categories, str):
            self._check_learn_spec()
            return
        if self.max_categories is not None or self.threshold is not None:
            raise InputError(f"column {self.name!r}: \"max_categories\" and \"threshold\" apply only to "
                             f"\"categories\": \"{LEARN}\"; remove them or let dpsynth learn the categories")
        cats = tuple(_plain(c) for c in self.categories)
        other = _plain(self.other)
        for c in cats + ((other,) if other is not None else ()):
            if isinstance(c, float) and not math.isfinite(c):
                raise InputError(f"column {self.name!r}: category {c!r} is not a finite number; "
                                 f"use \"missing\": true for missing values")
            if c is None or not isinstance(c, (str, int, float, bool)):
                raise InputError(f"column {self.name!r}: category {c!r} must be a string, number or "
                                 f"boolean (null is not a category: use \"missing\": true)")
        if any(isinstance(c, bool) for c in cats) and any(_is_number(c) for c in cats):
            raise InputError(f"column {self.name!r}: categories mix booleans and numbers; use one type")
        big = [c for c in cats if isinstance(c, int) and not isinstance(c, bool) and abs(c) > MAX_EXACT_INT]
        if big:
            raise InputError(f"column {self.name!r}: categories such as {big[0]} are past 2**53 - 1, where numbers "
                             f"read as floats merge (2**53 + 1 reads as 2**53); write them as strings")
        seen: set = set()
        dups = [c for c in cats if (type(c) is str, c) in seen or seen.add((type(c) is str, c))]
        if dups:
            raise InputError(f"column {self.name!r}: duplicate categories {_show(dups)}; list each value once")
        if isinstance(other, bool):
            raise InputError(f"column {self.name!r}: the 'other' label must be a string or number")
        if other is not None and (type(other) is str, other) in seen:
            raise InputError(f"column {self.name!r}: the 'other' label {other!r} is also a category; "
                             f"choose a label that is not")
        if not cats and other is None and not self.missing:
            raise InputError(f"column {self.name!r}: no categories, no 'other' and no missing cell; "
                             f"list the allowed values in \"categories\"")
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "other", other)
        object.__setattr__(self, "_index", pd.Index(list(cats), dtype=object if not cats else None))

    def _check_learn_spec(self) -> None:
        name = self.name
        if self.categories != LEARN:
            raise InputError(f"column {name!r}: 'categories' must be a list of allowed values or \"{LEARN}\", "
                             f"got {self.categories!r}")
        other = _plain(self.other)
        if other is None:
            raise InputError(f"column {name!r}: \"categories\": \"{LEARN}\" needs an \"other\" label for the "
                             f"values that are not discovered; add \"other\": \"other\"")
        if isinstance(other, bool) or not isinstance(other, (str, int, float)) or (
                isinstance(other, float) and not math.isfinite(other)):
            raise InputError(f"column {name!r}: the 'other' label must be a string or finite number, got {other!r}")
        for key in ("max_categories", "threshold"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < 1):
                raise InputError(f"column {name!r}: {key!r} must be a whole number >= 1, got {value!r}")
            object.__setattr__(self, key, None if value is None else int(value))
        object.__setattr__(self, "other", other)
        object.__setattr__(self, "_index", pd.Index([], dtype=object))

    @property
    def learned(self) -> bool:
        return not isinstance(self.categories, str)

    @property
    def n_values(self) -> int:
        self._require_learned()
        return len(self.categories) + int(self.other is not None)

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> "Categorical":
        _check_keys(name, spec, {"kind", "categories", "other", "missing", "max_categories", "threshold"})
        cats = spec.get("categories")
        if not isinstance(cats, list) and cats != LEARN:
            raise InputError(f"column {name!r}: 'categories' must be a list of allowed values or \"{LEARN}\", "
                             f"got {cats!r}")
        other = spec.get("other")
        if other is True:
            other = "other"
        elif other is False:
            other = None
        return cls(name=name, categories=cats if cats == LEARN else tuple(cats), other=other,
                   max_categories=spec.get("max_categories"), threshold=spec.get("threshold"),
                   missing=_bool(name, "missing", spec.get("missing", False)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind,
                               "categories": self.categories if not self.learned else list(self.categories)}
        if self.other is not None:
            out["other"] = self.other
        for key in ("max_categories", "threshold"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        out["missing"] = self.missing
        return out

    def zero_spec(self, spec: Any, strict: bool = True) -> list:
        if not isinstance(spec, (list, tuple)) or not spec:
            raise InputError(f"structural zero on column {self.name!r}: a categorical column takes a non-empty "
                             f"list of its values (null for the missing cell), got {spec!r}")
        values = [_canonical_number(v) if _is_number(v) else v for v in map(_plain, spec)]
        for v in values:
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise InputError(f"structural zero on column {self.name!r}: {v!r} is not a category value")
            if v is None and not self.missing:
                raise InputError(f"structural zero on column {self.name!r}: null names the missing cell, but "
                                 f"the column says \"missing\": false")
            if v is not None and strict and self.learned and not any(self._same(v, c) for c in self._labels()):
                raise InputError(f"structural zero on column {self.name!r}: {v!r} is not one of its categories "
                                 f"{_show(self._labels())}; fix the value or the categories")
        return values

    def _labels(self) -> list:
        return list(self.categories) + ([self.other] if self.other is not None else [])

    @staticmethod
    def _same(a: Any, b: Any) -> bool:
        """Equal and of one kind: text, boolean or number (pandas and Python let True == 1)."""
        return (type(a) is str) == (type(b) is str) and isinstance(a, bool) == isinstance(b, bool) and a == b

    def zero_cells(self, spec: list) -> np.ndarray:
        """Learned categories: a value not among them (it would fall into ``other``,
        shared with possible values) marks no cell."""
        out = np.zeros(self.size, dtype=bool)
        labels = self._labels()
        for v in spec:
            if v is None:
                out[-1] = True
            else:
                out[:len(labels)] |= np.array([self._same(v, c) for c in labels], dtype=bool)
        return out

    def _encode_present(self, values: pd.Series) -> np.ndarray:
        codes = self._index.get_indexer(values)
        self._unmatch_bool_number(values, codes)
        bad = codes < 0
        if bad.any():
            if self.other is not None:
                codes[bad] = len(self.categories)
            else:
                offending = pd.unique(values[bad])
                hint = ""
                data_num = pd.api.types.is_numeric_dtype(values.dtype)
                cats_num = bool(self.categories) and all(_is_number(c) for c in self.categories)
                if data_num and not cats_num:
                    hint = " (the data holds numbers but the categories are not numbers: check their JSON types)"
                elif cats_num and not data_num:
                    hint = " (the categories are numbers but the data is not: check their JSON types)"
                raise InputError(
                    f"column {self.name!r}: {int(bad.sum())} value(s) outside the schema's "
                    f"{len(self.categories)} categories (e.g. {_show(offending)}){hint}; add them to "
                    f"\"categories\" or declare an \"other\" bucket"
                )
        return codes

    def _unmatch_bool_number(self, values: pd.Series, codes: np.ndarray) -> None:
        """Undo the matches pandas makes between booleans and numbers (True == 1, 0.0 == False):
        a boolean value names only a boolean category, a number only a number (in place)."""
        cat_bool = np.array([isinstance(c, bool) for c in self.categories], dtype=bool)
        mixed = values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype)
        if not cat_bool.any() and not (mixed and any(_is_number(c) for c in self.categories)):
            return
        val_bool = _is_bool_value(values)
        hit = codes >= 0
        codes[hit & (val_bool != cat_bool[np.where(hit, codes, 0)])] = -1

    def _decode(self, codes: np.ndarray, na: np.ndarray, rng: np.random.Generator) -> pd.Series:
        labels = list(self.categories) + ([self.other] if self.other is not None else [])
        if not labels:  # only the missing cell
            labels = [None]
        kind = _label_type(labels)
        if kind in ("bool", "int"):
            values = np.asarray(labels, dtype=bool if kind == "bool" else np.int64)[codes]
            if not self.missing:
                return pd.Series(values, name=self.name)
            array_type = pd.arrays.BooleanArray if kind == "bool" else pd.arrays.IntegerArray
            return pd.Series(array_type(values, na), name=self.name)
        if kind == "float":
            values = np.asarray(labels, dtype=np.float64)[codes]
            values[na] = np.nan
            return pd.Series(values, name=self.name)
        values = np.asarray(labels + [None], dtype=object)[np.where(na, len(labels), codes)]
        return pd.Series(values, name=self.name, dtype=_STR_DTYPE if kind == "str" else object)


@dataclass(frozen=True)
class Numeric(Column):
    """Numbers in ``[lower, upper]`` cut into bins; out-of-bound values are clipped.

    Either ``bins`` equal-width bins between ``lower`` and ``upper``, or explicit
    strictly increasing ``edges``. Bin ``i`` holds ``edges[i] <= x < edges[i+1]``;
    the last bin also holds ``upper``. With ``integer=True`` the values are whole
    numbers, and ``bins`` splits the integers ``lower .. upper`` into runs of
    consecutive integers of (nearly) equal length. Decoding draws uniformly within
    the bin (a uniform integer of the bin for integer columns).

    ``edges="learn"`` with public ``lower``, ``upper`` and ``bins`` (>= 2) leaves the
    edges to DP quantiles within the bounds (:func:`dpsynth.preprocess.learn_domain`).
    """

    lower: float | int | None = None
    upper: float | int | None = None
    bins: int | None = None
    edges: tuple | str | None = None
    integer: bool = False
    kind: ClassVar[str] = "numeric"
    _edges: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = self.name
        if isinstance(self.edges, str):
            if self.edges != LEARN or self.lower is None or self.upper is None or self.bins is None:
                raise InputError(f"column {name!r}: 'edges' is a list of bin edges, or \"{LEARN}\" together "
                                 f"with public \"lower\", \"upper\" and \"bins\"; got edges={self.edges!r}")
            if not 2 <= _bins(name, self.bins) <= MAX_LEARNED_BINS:
                raise InputError(f"column {name!r}: \"edges\": \"{LEARN}\" needs \"bins\" from 2 to "
                                 f"{MAX_LEARNED_BINS} (each interior edge is one DP quantile), got {self.bins}")
        elif (self.edges is None) == (self.bins is None) or (self.edges is not None and (
                self.lower is not None or self.upper is not None)):
            raise InputError(f"column {name!r}: give either \"lower\", \"upper\" and \"bins\", "
                             f"or \"edges\" (a list of bin edges)")
        if self.edges is not None and self.learned:
            edges = [_finite(name, "edges", e) for e in self.edges]
            if len(edges) < 2 or len(edges) > MAX_BINS + 1 or any(b <= a for a, b in zip(edges, edges[1:])):
                raise InputError(f"column {name!r}: 'edges' must be a strictly increasing list of 2 to "
                                 f"{MAX_BINS + 1:,} numbers, got {_show(edges, 8)}")
            object.__setattr__(self, "edges", tuple(edges))
            internal = np.asarray(edges, dtype=np.float64)
        else:
            lower = _finite(name, "lower", self.lower)
            upper = _finite(name, "upper", self.upper)
            bins = _bins(name, self.bins)
            if lower > upper:
                raise InputError(f"column {name!r}: lower ({lower}) is greater than upper ({upper}); swap them")
            if lower == upper and bins > 1:
                raise InputError(f"column {name!r}: lower == upper ({lower}) leaves room for one bin only; "
                                 f"set \"bins\": 1")
            if self.integer:
                if not (isinstance(lower, int) and isinstance(upper, int)):
                    raise InputError(f"column {name!r}: an integer column needs whole-number bounds, "
                                     f"got lower={lower}, upper={upper}")
                if max(abs(lower), abs(upper)) > MAX_EXACT_INT:
                    raise InputError(f"column {name!r}: integer bounds past 2**53 - 1 (lower={lower}, upper={upper}) "
                                     f"cannot be binned exactly (bin edges are floats); rescale the column or "
                                     f"make it a float column")
                span = upper - lower + 1
                if bins > span:
                    raise InputError(f"column {name!r}: the integers {lower}..{upper} are only {span} "
                                     f"values, fewer than bins={bins}; set \"bins\" to at most {span}")
                starts = lower + _int_runs(span, bins)[:-1]
                internal = np.append(starts.astype(np.float64), float(upper))
            else:
                internal = np.linspace(lower, upper, bins + 1)
            object.__setattr__(self, "lower", lower)
            object.__setattr__(self, "upper", upper)
            object.__setattr__(self, "bins", bins)
        _bool(name, "integer", self.integer)
        _bool(name, "missing", self.missing)
        object.__setattr__(self, "_edges", internal)
        if self.integer and self.edges is not None:
            lo, hi = self._int_ranges()
            if (lo > hi).any():
                empty = np.flatnonzero(lo > hi)
                raise InputError(f"column {name!r}: bin(s) {_show(empty.tolist())} hold no whole number; "
                                 f"use edges at least 1 apart or set \"integer\": false")

    @property
    def learned(self) -> bool:
        return not isinstance(self.edges, str)

    @property
    def n_values(self) -> int:
        self._require_learned()
        return len(self._edges) - 1

    @property
    def bounds(self) -> tuple[float, float]:
        return float(self._edges[0]), float(self._edges[-1])

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> "Numeric":
        _check_keys(name, spec, {"kind", "lower", "upper", "bins", "edges", "integer", "missing"})
        edges = spec.get("edges")
        if edges is not None and not isinstance(edges, list) and edges != LEARN:
            raise InputError(f"column {name!r}: 'edges' must be a list of numbers or \"{LEARN}\", got {edges!r}")
        if (edges is None or edges == LEARN) and any(k not in spec for k in ("lower", "upper", "bins")):
            raise InputError(f"column {name!r}: a numeric column needs \"lower\", \"upper\" and \"bins\" "
                             f"(or \"edges\"; \"edges\": \"{LEARN}\" needs all three)")
        return cls(name=name, lower=spec.get("lower"), upper=spec.get("upper"), bins=spec.get("bins"),
                   edges=tuple(edges) if isinstance(edges, list) else edges,
                   integer=spec.get("integer", False), missing=spec.get("missing", False))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        if not self.learned:
            out.update(lower=self.lower, upper=self.upper, bins=self.bins, edges=self.edges)
        elif self.edges is not None:
            out["edges"] = list(self.edges)
        else:
            out.update(lower=self.lower, upper=self.upper, bins=self.bins)
        out.update(integer=self.integer, missing=self.missing)
        return out

    def zero_spec(self, spec: Any, strict: bool = True) -> dict[str, Any]:
        return self._range_spec(spec, lambda v, key: _finite(self.name, f"structural zero {key}", v),
                                _canonical_number)

    def zero_cells(self, spec: Mapping[str, Any]) -> np.ndarray:
        """Bins lying entirely in the range (integer columns: every whole number of the bin)."""
        first, last = self._int_ranges() if self.integer else (self._edges[:-1], self._edges[1:])
        return self._range_cells(spec, lambda v, key: v, first, last)

    def _int_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """Smallest and largest whole number of each bin (inclusive)."""
        lo = np.ceil(self._edges[:-1]).astype(np.int64)
        hi = np.ceil(self._edges[1:]).astype(np.int64) - 1
        hi[-1] = math.floor(self._edges[-1])
        return lo, hi

    def _encode_present(self, values: pd.Series) -> np.ndarray:
        if pd.api.types.is_datetime64_any_dtype(values.dtype) or pd.api.types.is_timedelta64_dtype(values.dtype):
            raise InputError(f"column {self.name!r}: the schema says numeric but the data holds "
                             f"{values.dtype} values; declare it \"kind\": \"datetime\"")
        numbers = pd.to_numeric(values, errors="coerce")
        bad = numbers.isna().to_numpy(dtype=bool)
        if bad.any():
            raise InputError(f"column {self.name!r}: the schema says numeric but {int(bad.sum())} value(s) "
                             f"are not numbers (e.g. {_show(pd.unique(values[bad]))}); fix the data or "
                             f"make the column categorical")
        x = np.clip(numbers.to_numpy(dtype=np.float64), self._edges[0], self._edges[-1])
        return np.searchsorted(self._edges[1:-1], x, side="right")

    def _decode(self, codes: np.ndarray, na: np.ndarray, rng: np.random.Generator) -> pd.Series:
        if self.integer:
            lo, hi = self._int_ranges()
            values = rng.integers(lo[codes], hi[codes], endpoint=True)
            if self.missing:
                return pd.Series(pd.arrays.IntegerArray(values, na), name=self.name)
            return pd.Series(values, name=self.name)
        lo = self._edges[:-1]
        # Bin i is half-open except the last: keep draws strictly below the next edge.
        hi = np.append(np.nextafter(self._edges[1:-1], -np.inf), self._edges[-1])
        hi = np.maximum(hi, lo)
        values = np.clip(rng.uniform(lo[codes], hi[codes]), lo[codes], hi[codes])
        values[na] = np.nan
        return pd.Series(values, name=self.name)


@dataclass(frozen=True)
class Datetime(Column):
    """Timestamps in ``[lower, upper]`` (ISO 8601 strings) cut into bins.

    ``bin_width`` (a fixed pandas Timedelta string: "1D", "7D", "1h", "15min"):
    bins start at ``lower`` and every ``bin_width`` after it, the last one ends at
    ``upper``; or ``bins``: that many bins of (nearly) equal length. Optional
    ``resolution`` (e.g. "1D" for dates): values lie on the grid ``lower + j *
    resolution`` and decode to grid points; without it decoding draws any
    nanosecond of the bin. Optional ``timezone`` (e.g. "UTC"): bounds and naive
    data are wall times in that zone, tz-aware data is converted to it, decoded
    values carry it. Without ``timezone`` tz-aware data is converted to UTC and
    decodes naive.
    """

    lower: str = ""
    upper: str = ""
    bins: int | None = None
    bin_width: str | None = None
    resolution: str | None = None
    timezone: str | None = None
    kind: ClassVar[str] = "datetime"
    _edges: np.ndarray = field(init=False, repr=False, compare=False)
    _step: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = self.name
        _bool(name, "missing", self.missing)
        if self.timezone is not None:
            try:
                pd.Timestamp("2000-01-01").tz_localize(self.timezone)
            except Exception:
                raise InputError(f"column {name!r}: unknown timezone {self.timezone!r}; use an IANA name "
                                 f"such as \"UTC\" or \"Europe/Paris\"") from None
        lo = self._wall_ns(self.lower, "lower")
        hi = self._wall_ns(self.upper, "upper")
        if lo > hi:
            raise InputError(f"column {name!r}: lower ({self.lower}) is later than upper ({self.upper}); swap them")
        if hi - lo >= 2**63:
            raise InputError(f"column {name!r}: {self.lower}..{self.upper} spans more than 292 years; "
                             f"narrow the bounds")
        step = self._timedelta_ns(self.resolution, "resolution") if self.resolution is not None else 1
        n_grid = (hi - lo) // step + 1
        if (self.bins is None) == (self.bin_width is None):
            raise InputError(f"column {name!r}: give exactly one of \"bins\" (a number) and \"bin_width\" "
                             f"(e.g. \"7D\")")
        if self.bins is not None:
            bins = _bins(name, self.bins)
            if bins > n_grid:
                raise InputError(f"column {name!r}: {self.lower}..{self.upper} holds only {n_grid} time(s) at "
                                 f"resolution {self.resolution or '1ns'}, fewer than bins={bins}; set \"bins\" "
                                 f"to at most {n_grid}")
            starts = lo + _int_runs(int(n_grid), bins)[:-1] * step
        else:
            width = self._timedelta_ns(self.bin_width, "bin_width")
            count = max(1, -(-(hi - lo) // width))
            if count > MAX_BINS:
                raise InputError(f"column {name!r}: bin_width {self.bin_width} makes {count:,} bins, more than "
                                 f"{MAX_BINS:,}; use a wider bin_width")
            starts = lo + np.arange(count, dtype=np.int64) * width
        object.__setattr__(self, "_edges", np.append(starts, np.int64(hi)))
        object.__setattr__(self, "_step", step)
        object.__setattr__(self, "lower", self._iso(lo))
        object.__setattr__(self, "upper", self._iso(hi))
        jlo, jhi = self._grid_ranges()
        if (jlo > jhi).any():
            raise InputError(f"column {name!r}: some bins hold no time at resolution {self.resolution}; "
                             f"use a bin_width that is a multiple of the resolution")

    @property
    def n_values(self) -> int:
        return len(self._edges) - 1

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> "Datetime":
        _check_keys(name, spec, {"kind", "lower", "upper", "bins", "bin_width", "resolution", "timezone",
                                 "missing"})
        for key in ("lower", "upper"):
            if key not in spec:
                raise InputError(f"column {name!r}: a datetime column needs \"lower\" and \"upper\" "
                                 f"(ISO 8601 strings such as \"2013-01-01\")")
        return cls(name=name, lower=spec["lower"], upper=spec["upper"], bins=spec.get("bins"),
                   bin_width=spec.get("bin_width"), resolution=spec.get("resolution"),
                   timezone=spec.get("timezone"), missing=spec.get("missing", False))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "lower": self.lower, "upper": self.upper}
        if self.bins is not None:
            out["bins"] = self.bins
        else:
            out["bin_width"] = _duration_text(self._timedelta_ns(self.bin_width, "bin_width"))
        if self.resolution is not None:
            out["resolution"] = _duration_text(self._timedelta_ns(self.resolution, "resolution"))
        if self.timezone is not None:
            out["timezone"] = self.timezone
        out["missing"] = self.missing
        return out

    # -- conversions ------------------------------------------------------------------
    def _wall_ns(self, value: Any, key: str) -> int:
        if not isinstance(value, str):
            raise InputError(f"column {self.name!r}: {key!r} must be an ISO 8601 string such as "
                             f"\"2013-01-01\", got {value!r}")
        try:
            ts = pd.Timestamp(value)
            if ts is pd.NaT:
                raise ValueError
            if ts.tz is not None:
                ts = ts.tz_convert(self.timezone or "UTC").tz_localize(None)
            return int(ts.as_unit("ns").value)
        except (ValueError, OverflowError):
            raise InputError(f"column {self.name!r}: {key!r} {value!r} is not an ISO 8601 date/time between "
                             f"1677 and 2262") from None

    def _timedelta_ns(self, value: Any, key: str) -> int:
        try:
            ns = int(pd.Timedelta(value).value) if isinstance(value, str) else 0
        except (ValueError, OverflowError):
            ns = 0
        if ns <= 0:
            raise InputError(f"column {self.name!r}: {key!r} must be a positive fixed duration such as \"1D\", "
                             f"\"7D\", \"1h\" or \"15min\" (months and years vary in length), got {value!r}")
        return ns

    @staticmethod
    def _iso(ns: int) -> str:
        return pd.Timestamp(ns, unit="ns").isoformat()

    def zero_spec(self, spec: Any, strict: bool = True) -> dict[str, Any]:
        return self._range_spec(spec, lambda v, key: self._wall_ns(v, f"structural zero {key}"), self._iso)

    def zero_cells(self, spec: Mapping[str, Any]) -> np.ndarray:
        """Bins whose every time on the resolution grid lies in the range."""
        jlo, jhi = self._grid_ranges()
        start = int(self._edges[0])
        return self._range_cells(spec, self._wall_ns, start + jlo * self._step, start + jhi * self._step)

    def _grid_ranges(self) -> tuple[np.ndarray, np.ndarray]:
        """First and last grid index j (time = lower + j * step) of each bin, inclusive."""
        lo = self._edges[0]
        jlo = _ceil_div(self._edges[:-1] - lo, self._step)
        jhi = _ceil_div(self._edges[1:] - lo, self._step) - 1
        jhi[-1] = (self._edges[-1] - lo) // self._step
        return jlo, jhi

    def to_wall_ns(self, values: pd.Series) -> np.ndarray:
        """Present values -> int64 nanoseconds of wall time (in ``timezone``, or UTC for aware data)."""
        if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
            raise InputError(f"column {self.name!r}: the schema says datetime but the data holds numbers "
                             f"(e.g. {_show(pd.unique(values))}); give ISO 8601 strings or datetimes")
        parsed = values
        if not pd.api.types.is_datetime64_any_dtype(values.dtype):
            try:
                parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
            except (ValueError, TypeError):  # mixed UTC offsets, or offsets beside plain wall times
                parsed = self._parse_mixed(values)
            bad = parsed.isna().to_numpy(dtype=bool)
            if bad.any():
                raise InputError(f"column {self.name!r}: {int(bad.sum())} value(s) are not ISO 8601 dates "
                                 f"(e.g. {_show(pd.unique(values[bad]))}); write them like 2013-01-31 or "
                                 f"2013-01-31T08:00:00")
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert(self.timezone or "UTC").dt.tz_localize(None)
        try:
            return parsed.astype("datetime64[ns]").to_numpy().view(np.int64)
        except (ValueError, OverflowError):
            raise InputError(f"column {self.name!r}: dates outside 1677..2262 cannot be encoded") from None

    def _parse_mixed(self, values: pd.Series) -> pd.Series:
        """ISO strings some with a UTC offset, some without: those with one converted to
        ``timezone`` (or UTC), the others kept as the wall times they are (not read as UTC),
        so the result does not depend on which values share a batch."""
        aware = values.astype(str).str.contains(r"[T ]\d.*(?:Z|[+-]\d\d(?::?\d\d)?)$", regex=True)
        aware = aware.to_numpy(dtype=bool)
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
        if aware.any():
            zoned = pd.to_datetime(values[aware], format="ISO8601", errors="coerce", utc=True)
            out[aware] = zoned.dt.tz_convert(self.timezone or "UTC").dt.tz_localize(None).astype("datetime64[ns]")
        if (~aware).any():
            out[~aware] = pd.to_datetime(values[~aware], format="ISO8601", errors="coerce").astype("datetime64[ns]")
        return out

    def _encode_present(self, values: pd.Series) -> np.ndarray:
        ns = np.clip(self.to_wall_ns(values), self._edges[0], self._edges[-1])
        return np.searchsorted(self._edges[1:-1], ns, side="right")

    def _decode(self, codes: np.ndarray, na: np.ndarray, rng: np.random.Generator) -> pd.Series:
        values = pd.Series(self._draw_wall(codes, rng), name=self.name)
        values[na] = pd.NaT
        if self.timezone is None:
            return values
        return self._localize(values, codes, na, rng)

    def _draw_wall(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A wall time (datetime64[ns]) drawn uniformly from the resolution grid of each code's bin."""
        jlo, jhi = self._grid_ranges()
        ns = self._edges[0] + rng.integers(jlo[codes], jhi[codes], endpoint=True) * self._step
        return ns.view("datetime64[ns]")

    def _localize(self, values: pd.Series, codes: np.ndarray, na: np.ndarray, rng: np.random.Generator,
                  tries: int = 20) -> pd.Series:
        """Wall times in ``timezone``. A time in a daylight-saving gap does not exist; shifted
        forward it can leave its bin, so it is drawn again within the bin (shifted only when
        ``tries`` draws all fall in the gap, as for a bin inside it)."""
        def localize(v: pd.Series, nonexistent: str) -> pd.Series:
            return v.dt.tz_localize(self.timezone, ambiguous=np.zeros(len(v), dtype=bool), nonexistent=nonexistent)

        out = localize(values, "NaT")
        for _ in range(tries):
            gap = (out.isna().to_numpy() & ~na).nonzero()[0]
            if not gap.size:
                return out
            out.iloc[gap] = localize(pd.Series(self._draw_wall(codes[gap], rng)), "NaT").to_numpy()
        gap = out.isna().to_numpy() & ~na
        out[gap] = localize(values[gap], "shift_forward")
        return out


_KINDS: dict[str, type[Column]] = {c.kind: c for c in (Categorical, Numeric, Datetime)}


# ----------------------------------------------------------------------------- schema

def value_type(column: Column) -> str:
    """How a text (CSV) value of ``column`` is read: ``"string"``, ``"double"`` or ``"boolean"``.

    Numeric columns read as numbers, datetimes as text (parsed by the column),
    categoricals as the type of their categories (numbers, booleans, else text) --
    what ``pandas.read_csv`` gives the in-memory engine for clean data. The
    ``other`` label names a bucket, not a value to read: a text ``other`` beside
    number categories must not turn the column to text (no "1" would match 1).
    """
    if isinstance(column, Numeric):
        return "double"
    if isinstance(column, Categorical):
        labels = list(column.categories)
        if labels and all(isinstance(x, bool) for x in labels):
            return "boolean"
        if labels and all(_is_number(x) for x in labels):
            return "double"
    return "string"


#: How CSV spells booleans (pandas.read_csv's defaults): every engine reads these, and only these.
CSV_TRUE_VALUES = ("True", "TRUE", "true")
CSV_FALSE_VALUES = ("False", "FALSE", "false")
_BOOLEAN_TEXT = {**dict.fromkeys(CSV_TRUE_VALUES, True), **dict.fromkeys(CSV_FALSE_VALUES, False)}


def _is_bool_value(values: pd.Series) -> np.ndarray:
    """Per value: is it a boolean (a pandas categorical: looked up per category)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        per_category = _is_bool_value(pd.Series(values.cat.categories, dtype=object))
        codes = values.cat.codes.to_numpy()
        return np.append(per_category, False)[codes]   # code -1 (missing): the appended False
    if values.dtype == object:
        return values.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(dtype=bool)
    return np.full(len(values), pd.api.types.is_bool_dtype(values.dtype))


def read_text(column: Column, values: pd.Series) -> pd.Series:
    """Text values of a categorical column read as its categories' type (:func:`value_type`):
    a number or boolean where the text spells one, else the text itself, which then meets
    ``other`` or the error naming it. Value by value, so one stray text does not turn a
    column of numbers to text (pandas' guess did, and every "1" then missed the category 1).
    For text sources only (CSV; Parquet string columns, which is how dpsynth writes labels
    that mix numbers and text): typed values match categories of their own type. A
    pandas categorical stays categorical, its categories read once."""
    kind = value_type(column) if isinstance(column, Categorical) and column.learned else "string"
    if kind == "string":
        return values
    if isinstance(values.dtype, pd.CategoricalDtype):
        labels = pd.Series(values.cat.categories, dtype=object)
        if pd.api.types.infer_dtype(labels, skipna=True) not in ("string", "empty"):
            return values
        inverse, unique = pd.factorize(read_text(column, labels).to_numpy(dtype=object))
        codes = values.cat.codes.to_numpy()
        return pd.Series(pd.Categorical.from_codes(np.where(codes >= 0, inverse[np.maximum(codes, 0)], -1),
                                                   categories=pd.Index(unique, dtype=object)),
                         index=values.index, name=values.name)
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return values
    if kind == "double":
        parsed = pd.to_numeric(values, errors="coerce")
    else:
        parsed = values.map(_BOOLEAN_TEXT)
    spelled = parsed.notna() | values.isna()
    if spelled.all():
        return parsed
    out = values.astype(object)
    out[spelled] = parsed[spelled].astype(object)
    return out


class Schema:
    """An ordered set of columns: the public domain of a release.

    ``names`` and ``sizes`` (cells per column, the ``other`` and missing cells
    included) define the contingency table every marginal is measured on.
    ``learnable`` names the columns whose domain is still to be learned with DP;
    while it is non-empty, ``sizes``, ``encode`` and ``decode`` raise InputError.
    """

    def __init__(self, columns: Sequence[Column], drafted_from_data: bool = False,
                 structural_zeros: Sequence[Mapping[str, Any]] = (), *, strict_zeros: bool = True):
        columns = tuple(columns)
        if not columns:
            raise InputError("the schema has no columns; list at least one under \"columns\"")
        names = [c.name for c in columns]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise InputError(f"column(s) {_show(dups)} appear more than once in the schema")
        self.columns: tuple[Column, ...] = columns
        self.drafted_from_data: bool = bool(drafted_from_data)
        self.names: tuple[str, ...] = tuple(names)
        #: Columns whose categories or bin edges say "learn" (see :func:`dpsynth.preprocess.learn_domain`).
        self.learnable: tuple[str, ...] = tuple(c.name for c in columns if not c.learned)
        self._sizes = None if self.learnable else tuple(c.size for c in columns)
        #: Impossible combinations: per zero, ``{column: spec}`` in column order (docs/schema.md).
        #: ``strict_zeros=False`` (a domain just learned with DP) lets a zero mark no cell instead of failing.
        self.structural_zeros: tuple[dict[str, Any], ...] = self._parse_zeros(structural_zeros, strict_zeros)

    def _parse_zeros(self, zeros: Any, strict: bool) -> tuple[dict[str, Any], ...]:
        if not isinstance(zeros, (list, tuple)):
            raise InputError(f"\"structural_zeros\" must be a list of objects mapping columns to impossible "
                             f"values, got {zeros!r}")
        out = []
        for i, zero in enumerate(zeros):
            if not isinstance(zero, Mapping) or not zero:
                raise InputError(f"structural_zeros[{i}]: each zero is a non-empty object mapping columns to "
                                 f"their impossible values, got {zero!r}")
            unknown = [c for c in zero if c not in self.names]
            if unknown:
                raise InputError(f"structural_zeros[{i}]: column(s) {_show(unknown)} are not in the schema; "
                                 f"use columns of {_show(self.names, 8)}")
            spec = {c.name: c.zero_spec(zero[c.name], strict) for c in self.columns if c.name in zero}
            if all(self[c].learned for c in spec):
                for c, v in spec.items():
                    if strict and not self[c].zero_cells(v).any():
                        raise InputError(f"structural_zeros[{i}]: on column {c!r}, {v!r} covers no whole cell "
                                         f"(a cell is impossible only if all its values are); widen the range")
                if all(self[c].zero_cells(v)[:self[c].size].all() for c, v in spec.items()):
                    raise InputError(f"structural_zeros[{i}] rules out every row; a zero must leave some "
                                     f"combination possible")
            out.append(spec)
        return tuple(out)

    def csv_dtypes(self) -> dict[str, type]:
        """``read_csv`` dtypes that read every categorical column as text (a zip code "01234"
        is not the number 1234, learned or listed); :meth:`read_text` then reads number and
        boolean categories' text as such, value by value."""
        return {c.name: str for c in self.columns if isinstance(c, Categorical)}

    def read_text(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` with each categorical column's text read as its categories' type (:func:`read_text`)."""
        out = df.copy(deep=False)
        for c in self.columns:
            if isinstance(c, Categorical) and c.name in out.columns:
                out[c.name] = read_text(c, out[c.name])
        return out

    def text_columns(self) -> list[str]:
        """Categorical columns with a text label (a category or ``other``): text in typed
        formats such as Parquet, whatever else their labels hold."""
        return [c.name for c in self.columns if isinstance(c, Categorical)
                and any(isinstance(x, str) for x in (*c.categories, c.other))]

    def zero_masks(self) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """The structural zeros as ``(columns, mask)``: ``mask`` is boolean over the
        cells of ``columns`` (schema order), True on impossible combinations.
        Zeros that mark no cell (a value that did not survive category learning)
        are left out."""
        self._require_learned()
        out = []
        for spec in self.structural_zeros:
            cells = [self[c].zero_cells(v) for c, v in spec.items()]
            mask = cells[0]
            for more in cells[1:]:
                mask = np.logical_and.outer(mask, more)
            if mask.any():
                out.append((tuple(spec), mask))
        return out

    @property
    def sizes(self) -> tuple[int, ...]:
        """Cells per column (the ``other`` and missing cells included)."""
        self._require_learned()
        return self._sizes

    def _require_learned(self) -> None:
        if self.learnable:
            raise InputError(
                f"the schema leaves the domain of column(s) {_show(self.learnable, 8)} to be learned "
                f"(\"{LEARN}\"); the domain must be learned first, with differential privacy inside a release "
                f"(dpsynth.preprocess.learn_domain, as a synthesizer's fit does), or written out in the schema"
            )

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_json(cls, source: str | os.PathLike | Mapping[str, Any]) -> "Schema":
        """Load a schema from a JSON file path or an already parsed dict."""
        where = "schema"
        if not isinstance(source, Mapping):
            where = str(source)
            source = _load_json(source)
        if not isinstance(source, Mapping):
            raise InputError(f"{where}: a schema is a JSON object with \"version\" and \"columns\"")
        unknown = sorted(set(source) - {"version", "drafted_from_data", "columns", "structural_zeros"})
        if unknown:
            raise InputError(f"{where}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                             f"allowed: version, drafted_from_data, columns, structural_zeros")
        version = source.get("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InputError(f"{where}: schema version {version!r} is not supported (this dpsynth reads "
                             f"version {SCHEMA_VERSION})")
        drafted = source.get("drafted_from_data", False)
        if not isinstance(drafted, bool):
            raise InputError(f"{where}: \"drafted_from_data\" must be true or false, got {drafted!r}")
        specs = source.get("columns")
        if not isinstance(specs, Mapping) or not specs:
            raise InputError(f"{where}: \"columns\" must be a non-empty object mapping column names to specs")
        columns = []
        for name, spec in specs.items():
            if not isinstance(spec, Mapping):
                raise InputError(f"column {name!r}: its spec must be a JSON object with a \"kind\"")
            kind = spec.get("kind")
            if kind not in _KINDS:
                raise InputError(f"column {name!r}: unknown kind {kind!r}; use one of {', '.join(_KINDS)}")
            columns.append(_KINDS[kind].from_dict(str(name), spec))
        return cls(columns, drafted_from_data=drafted, structural_zeros=source.get("structural_zeros", ()))

    @classmethod
    def from_pgm_domain(cls, source: str | os.PathLike | Mapping[str, int]) -> "Schema":
        """A Private-PGM ``*.domain.json`` (``{column: size}``) as integer-coded categoricals ``0..size-1``.

        The domain file is public (it ships with the benchmark), so the schema is
        not marked as drafted from data.
        """
        where = "domain" if isinstance(source, Mapping) else str(source)
        sizes = source if isinstance(source, Mapping) else _load_json(source)
        if not isinstance(sizes, Mapping) or not sizes:
            raise InputError(f"{where}: a domain file is a JSON object mapping each column to its size")
        columns = []
        for name, size in sizes.items():
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise InputError(f"column {name!r}: domain size must be a whole number >= 1, got {size!r}")
            columns.append(Categorical(name=str(name), categories=tuple(range(size))))
        return cls(columns, drafted_from_data=False)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The normalised JSON form (what :meth:`to_json` writes)."""
        out = {
            "version": SCHEMA_VERSION,
            "drafted_from_data": self.drafted_from_data,
            "columns": {c.name: c.to_dict() for c in self.columns},
        }
        if self.structural_zeros:   # absent when none, so older schemas keep their hash
            out["structural_zeros"] = [dict(z) for z in self.structural_zeros]
        return out

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the schema as indented JSON, atomically."""
        from dpsynth.io import write_json

        write_json(path, self.to_dict())

    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON: the normalised schema with columns as an
        ordered list of ``[name, spec]`` pairs, keys sorted, compact separators, UTF-8."""
        d = self.to_dict()
        d["columns"] = [[name, spec] for name, spec in d["columns"].items()]
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    # -- access ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Column:
        try:
            return self.columns[self.names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        kinds = ", ".join(f"{c.name}:{c.kind}[{c.size if c.learned else LEARN}]" for c in self.columns)
        return f"Schema({kinds}{', drafted_from_data' if self.drafted_from_data else ''})"

    @property
    def code_dtype(self) -> np.dtype:
        """The smallest unsigned integer dtype that holds every cell code."""
        return np.min_scalar_type(max(self.sizes) - 1)

    # -- encode / decode ----------------------------------------------------------------
    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Cell codes of ``df``: shape (n, d), columns in :attr:`names` order, dtype :attr:`code_dtype`.

        Numbers and times outside their bounds are clipped; categories outside the
        list go to ``other`` when declared, otherwise :class:`InputError`.
        """
        self._require_learned()
        by_name = self.match_columns(df)
        codes = np.empty((len(df), len(self.columns)), dtype=self.code_dtype)
        for j, column in enumerate(self.columns):
            codes[:, j] = column.encode(df[by_name[column.name]])
        return codes

    def match_columns(self, df: pd.DataFrame) -> dict[str, Any]:
        """``{schema column name: df's column label}``; InputError naming any column
        the data has more than once, lacks, or has beyond the schema."""
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"the data must be a pandas DataFrame, got {type(df).__name__}")
        by_name: dict[str, Any] = {}
        for col in df.columns:
            if str(col) in by_name:
                raise InputError(f"the data has column {str(col)!r} more than once; rename or drop the duplicate")
            by_name[str(col)] = col
        extra = [c for c in by_name if c not in self.names]
        absent = [c for c in self.names if c not in by_name]
        if extra:
            raise InputError(f"the data has column(s) not in the schema: {_show(extra, 8)}; add them to the "
                             f"schema or drop them from the data")
        if absent:
            raise InputError(f"schema column(s) missing from the data: {_show(absent, 8)}; check the column "
                             f"names or remove them from the schema")
        return by_name

    def decode(self, codes: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Values for cell codes (n, d): numbers uniform within their bin, original types restored.

        Decoding is post-processing of already private codes, so a numpy Generator is fine.
        """
        self._require_learned()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.columns) or not np.issubdtype(codes.dtype, np.integer):
            raise InputError(f"decode needs an integer array of shape (n, {len(self.columns)}), "
                             f"got {codes.dtype} {codes.shape}")
        if codes.size and ((codes.min(axis=0) < 0) | (codes.max(axis=0) >= np.asarray(self.sizes))).any():
            raise InputError("decode: codes outside the schema's cells; were they encoded with another schema?")
        rng = rng if rng is not None else np.random.default_rng()
        data = {c.name: c.decode(codes[:, j], rng).reset_index(drop=True) for j, c in enumerate(self.columns)}
        return pd.DataFrame(data, columns=list(self.names))


def _load_json(path: str | os.PathLike) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, expected a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{p}: cannot read ({exc.__class__.__name__}: {exc})") from None

    def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        dups = sorted({k for k in keys if keys.count(k) > 1})
        if dups:
            raise InputError(f"{p}: key(s) {_show(dups)} appear twice in one JSON object; keep one")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None


# ----------------------------------------------------------------------------- drafting

def draft_schema(df: pd.DataFrame, max_categories: int = DEFAULT_MAX_CATEGORIES,
                 bins: int = DEFAULT_BINS) -> Schema:
    """Draft a schema by reading the domain off ``df`` -- for the user to review.

    The result has ``drafted_from_data=True``: its categories and bounds reveal
    the private data, so a release may use it only if the user asserts the domain
    is public knowledge (``--schema-is-public``) or learns the domain with DP.

    Strings, booleans and integer columns with at most ``max_categories`` distinct
    values become categorical (more values: the ``max_categories - 1`` most
    frequent plus ``other``); other numbers become numeric over [min, max] with
    ``bins`` bins (fewer when the integers are fewer); datetime columns and ISO
    8601 date strings become datetime. Float columns whose values are all whole
    numbers and that have missing values are treated as integer columns (pandas
    reads missing integers as floats). ``missing`` is true where a value is missing.
    """
    if not isinstance(df, pd.DataFrame) or df.shape[0] == 0 or df.shape[1] == 0:
        raise InputError("cannot draft a schema from an empty table; it needs at least one row and one column")
    if isinstance(max_categories, bool) or not isinstance(max_categories, (int, np.integer)) or max_categories < 2:
        raise InputError(f"max_categories must be a whole number >= 2 (room for one value and 'other'), "
                         f"got {max_categories!r}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or not 1 <= bins <= MAX_BINS:
        raise InputError(f"bins must be a whole number from 1 to {MAX_BINS:,}, got {bins!r}")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise InputError("the data has duplicate column names; rename them before drafting a schema")
    columns = [_draft_column(str(name), df[name], int(max_categories), int(bins)) for name in df.columns]
    return Schema(columns, drafted_from_data=True)


def _draft_column(name: str, s: pd.Series, max_categories: int, bins: int) -> Column:
    na = s.isna().to_numpy(dtype=bool)
    missing = bool(na.any())
    present = s[~na] if missing else s
    dtype = s.dtype
    if present.empty:
        return Categorical(name=name, categories=(), missing=True)
    if isinstance(dtype, pd.CategoricalDtype):
        present = present.astype(object)
    if pd.api.types.is_bool_dtype(dtype):
        return Categorical(name=name, categories=(False, True), missing=missing)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _draft_datetime(name, present, missing, bins)
    if pd.api.types.is_integer_dtype(dtype):
        return _draft_integer(name, _exact_integers(name, present), missing, max_categories, bins)
    if pd.api.types.is_float_dtype(dtype):
        x = present.to_numpy(dtype=np.float64)
        finite = x[np.isfinite(x)]
        if finite.size == 0:
            raise InputError(f"column {name!r}: no finite numbers to draft bounds from; write its spec by hand")
        if missing and exact_whole(x).all():
            return _draft_integer(name, pd.Series(x.astype(np.int64)), missing, max_categories, bins)
        lower, upper = float(finite.min()), float(finite.max())
        return Numeric(name=name, lower=lower, upper=upper, bins=1 if lower == upper else bins, missing=missing)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        raise InputError(f"column {name!r}: dtype {dtype} is not supported; convert it to float, int or string")
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    if inferred in ("datetime", "datetime64", "date"):
        return _draft_datetime(name, present, missing, bins)
    if inferred == "string" and present.astype(str).str.fullmatch(_ISO_DATE).all():
        try:
            return _draft_datetime(name, present, missing, bins)
        except (InputError, ValueError):
            pass  # looks like dates but does not parse: keep it categorical
    if inferred not in ("string", "integer", "floating", "mixed-integer-float", "boolean", "mixed",
                        "mixed-integer", "categorical"):
        raise InputError(f"column {name!r}: values of type {inferred} cannot be named in a JSON schema; "
                         f"convert them to strings or numbers")
    return _draft_categories(name, present, missing, max_categories)


def _label_order(label: Any) -> tuple:
    return (0, label, "") if isinstance(label, bool) else (1, label, "") if _is_number(label) else (2, 0, str(label))


def _draft_categories(name: str, present: pd.Series, missing: bool, max_categories: int) -> Categorical:
    counts = present.value_counts(sort=False)
    labels = [_plain(v) for v in counts.index]
    if any(not isinstance(v, (str, int, float, bool)) for v in labels):
        bad = [v for v in labels if not isinstance(v, (str, int, float, bool))]
        raise InputError(f"column {name!r}: values such as {_show(bad, 3)} cannot be named in a JSON schema; "
                         f"convert them to strings")
    other = None
    if len(labels) > max_categories:
        order = sorted(range(len(labels)), key=lambda i: (-int(counts.iloc[i]), _label_order(labels[i])))
        labels = [labels[i] for i in order[: max_categories - 1]]
        other = next(c for c in itertools.chain(("other", "(other)"), (f"__other{k}__" for k in itertools.count()))
                     if c not in labels)
    return Categorical(name=name, categories=tuple(sorted(labels, key=_label_order)), other=other,
                       missing=missing)


def _exact_integers(name: str, present: pd.Series) -> pd.Series:
    """``present`` as int64, or InputError naming a value past 2**53 in magnitude:
    bounds and bin edges are floats, and uint64 beyond int64 would wrap."""
    big = present[(present > MAX_EXACT_INT) | (present < -MAX_EXACT_INT)]
    if len(big):
        raise InputError(f"column {name!r}: integers as large as {big.iloc[0]} are past 2**53 - 1, where bin edges "
                         f"(floats) and many JSON readers lose exactness; drop the column if it is an identifier "
                         f"(identifiers should not be released), else convert it to strings")
    return present.astype(np.int64)


def _draft_integer(name: str, present: pd.Series, missing: bool, max_categories: int, bins: int) -> Column:
    if present.nunique() <= max_categories:
        return _draft_categories(name, present, missing, max_categories)
    lower, upper = int(present.min()), int(present.max())
    return Numeric(name=name, lower=lower, upper=upper, bins=min(bins, upper - lower + 1), integer=True,
                   missing=missing)


def _draft_datetime(name: str, present: pd.Series, missing: bool, bins: int) -> Datetime:
    tz = None
    parsed = present
    if not pd.api.types.is_datetime64_any_dtype(present.dtype):
        parsed = pd.to_datetime(present, format="ISO8601", utc=None)
    if getattr(parsed.dt, "tz", None) is not None:
        tz = str(parsed.dt.tz)
    probe = Datetime(name=name, lower="2000-01-01", upper="2000-01-01", bins=1, timezone=tz)
    ns = probe.to_wall_ns(present)
    lo, hi = int(ns.min()), int(ns.max())
    offsets = ns - lo
    resolution = next((r for r in _DRAFT_RESOLUTIONS if not (offsets % pd.Timedelta(r).value).any()), None)
    step = pd.Timedelta(resolution).value if resolution else 1
    n_grid = (hi - lo) // step + 1
    return Datetime(name=name, lower=Datetime._iso(lo), upper=Datetime._iso(hi), bins=int(min(bins, n_grid)),
                    resolution=resolution, timezone=tz, missing=missing)
