"""The discrete domain a model lives on, and one noisy marginal measurement."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True, init=False)
class Domain:
    """Attribute names and the number of cells of each, in column order.

    Attribute sets ("cliques") are tuples of names; :meth:`canonical` sorts one
    into domain order, which is the axis order of every array the engine keeps.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]

    def __init__(self, names: Sequence[str], sizes: Sequence[int]) -> None:
        names = tuple(str(n) for n in names)
        sizes = tuple(int(s) for s in sizes)
        if len(names) != len(sizes):
            raise ValueError(f"Domain: {len(names)} names but {len(sizes)} sizes")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"Domain: attribute names repeat: {dup}")
        for n, s in zip(names, sizes):
            if s < 1:
                raise ValueError(f"Domain: attribute {n!r} has size {s}; sizes must be >= 1")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "_index", {n: i for i, n in enumerate(names)})

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """Column position of ``name``; ValueError naming it when unknown."""
        try:
            return self._index[name]
        except KeyError:
            raise ValueError(
                f"attribute {name!r} is not in the domain (known: {', '.join(self.names)})"
            ) from None

    def canonical(self, attrs: Iterable[str]) -> tuple[str, ...]:
        """``attrs`` without repeats, sorted into domain order (validates names)."""
        return tuple(sorted(set(attrs), key=self.index))

    def shape(self, attrs: Iterable[str]) -> tuple[int, ...]:
        """Sizes of ``attrs`` in the order given."""
        return tuple(self.sizes[self.index(a)] for a in attrs)

    def size(self, attrs: Iterable[str] | None = None) -> int:
        """Number of cells of the marginal over ``attrs`` (whole domain when None)."""
        return math.prod(self.sizes if attrs is None else self.shape(attrs))


@dataclass(frozen=True, init=False)
class Measurement:
    """A noisy answer to a marginal query: ``values = counts(clique) + N(0, sigma^2)``.

    ``values`` holds the marginal counts over ``clique`` (in the clique's own
    attribute order, C order, flat or shaped); ``sigma`` is the noise's standard
    deviation in counts: one number, or one per value (e.g. a cell that sums k
    noisy cells has sigma * sqrt(k)). The engine only post-processes measurements.
    """

    clique: tuple[str, ...]
    values: np.ndarray
    sigma: float | np.ndarray

    def __init__(self, clique: Sequence[str], values: np.ndarray, sigma: float | np.ndarray) -> None:
        clique = (clique,) if isinstance(clique, str) else tuple(clique)
        if len(set(clique)) != len(clique):
            raise ValueError(f"Measurement: clique {clique} repeats an attribute")
        values = np.array(values, dtype=np.float64).ravel()
        if not np.all(np.isfinite(values)):
            raise ValueError(f"Measurement on {clique}: values must be finite")
        if np.ndim(sigma) == 0:
            sigma = float(sigma)
        else:
            sigma = np.array(sigma, dtype=np.float64).ravel()
            sigma.flags.writeable = False
        with np.errstate(over="ignore", divide="ignore"):
            precision = 1.0 / np.square(np.asarray(sigma, dtype=np.float64))   # the weight the estimate gives it
        ok = ((np.ndim(sigma) == 0 or np.size(sigma) == values.size)
              and bool(np.all(np.isfinite(precision)) and np.all(precision > 0)))
        if not ok:
            raise ValueError(f"Measurement on {clique}: sigma must be > 0 with 1/sigma^2 a positive finite number "
                             f"(about 1e-154 < sigma < 1e154), one number or one per value, got {sigma}")
        values.flags.writeable = False
        object.__setattr__(self, "clique", clique)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "sigma", sigma)
