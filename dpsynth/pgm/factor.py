"""Log-space factors: dense float64 arrays labelled by attribute names.

A :class:`Factor` over attributes ``attrs`` stores ``values`` with one axis per
attribute, in the order of ``attrs``. Products are sums of log-values with the
operands aligned by name (broadcasting, no copies of the larger operand's
layout); marginalisation is a numerically stable log-sum-exp that keeps
``-inf`` (impossible cells) exact.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from dpsynth.pgm.domain import Domain


def logsumexp(values: np.ndarray, axis: tuple[int, ...], keepdims: bool = False) -> np.ndarray:
    """``log(sum(exp(values)))`` over ``axis``; slices that are all ``-inf`` give ``-inf``."""
    m = np.max(values, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(values - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


class Factor:
    """A labelled log-space array; ``values.shape == domain.shape(attrs)``."""

    __slots__ = ("attrs", "values")

    def __init__(self, attrs: Sequence[str], values: np.ndarray) -> None:
        self.attrs = tuple(attrs)
        self.values = np.asarray(values, dtype=np.float64)
        if self.values.ndim != len(self.attrs):
            raise ValueError(f"Factor over {self.attrs}: array has {self.values.ndim} axes")

    @classmethod
    def zeros(cls, domain: Domain, attrs: Sequence[str]) -> "Factor":
        """The uniform (all log-values 0) factor over ``attrs``."""
        return cls(attrs, np.zeros(domain.shape(attrs)))

    def aligned(self, attrs: Sequence[str]) -> np.ndarray:
        """A view of ``values`` with axes in ``attrs`` order and size-1 axes for
        attributes of ``attrs`` this factor lacks (ready to broadcast)."""
        attrs = tuple(attrs)
        missing = set(self.attrs) - set(attrs)
        if missing:
            raise ValueError(f"cannot align factor over {self.attrs} to {attrs}: {sorted(missing)} not there")
        present = [a for a in attrs if a in self.attrs]
        arr = self.values.transpose([self.attrs.index(a) for a in present])
        shape = [arr.shape[present.index(a)] if a in self.attrs else 1 for a in attrs]
        return arr.reshape(shape)

    def transpose(self, attrs: Sequence[str]) -> "Factor":
        """The same factor with axes in ``attrs`` order (a permutation of ``self.attrs``)."""
        if set(attrs) != set(self.attrs) or len(attrs) != len(self.attrs):
            raise ValueError(f"transpose: {tuple(attrs)} is not a permutation of {self.attrs}")
        return Factor(attrs, self.aligned(attrs))

    def expand(self, domain: Domain, attrs: Sequence[str]) -> "Factor":
        """Broadcast to the superset ``attrs`` (constant along the new axes)."""
        return Factor(attrs, np.broadcast_to(self.aligned(attrs), domain.shape(attrs)).copy())

    def __add__(self, other: "Factor") -> "Factor":
        """Log-space product: the union of both scopes, in ``self``-then-new order."""
        attrs = self.attrs + tuple(a for a in other.attrs if a not in self.attrs)
        return Factor(attrs, self.aligned(attrs) + other.aligned(attrs))

    def logsumexp(self, keep: Iterable[str]) -> "Factor":
        """Log-space marginal onto ``keep`` (attributes kept in this factor's order)."""
        keep = set(keep)
        if not keep <= set(self.attrs):
            raise ValueError(f"cannot marginalise {self.attrs} onto {sorted(keep)}")
        axes = tuple(i for i, a in enumerate(self.attrs) if a not in keep)
        return Factor(tuple(a for a in self.attrs if a in keep), logsumexp(self.values, axes))
