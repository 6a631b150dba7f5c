"""Domain compression from noisy 1-way marginals (post-processing, no budget).

Values whose noisy count is below ``threshold * sigma`` are merged into one
cell per attribute, as in MST (McKenna et al. 2021). Merging shrinks every
later marginal (fewer noisy empty cells, a smaller model); when sampling, a
merged cell is expanded uniformly over the values it holds.

Structural zeros: values that some zero of the schema names are never merged
(:meth:`Compression.protect`), so a merged cell holds only values no zero
involves. A zero then maps to the model's cells exactly (a merged cell, none of
whose values is impossible, is not a zero: a model cell is a zero only when
every original cell in it is), and expanding a merged cell uniformly can never
produce an impossible combination.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpsynth.pgm import Domain, Measurement


@dataclass(frozen=True)
class Compression:
    """Per attribute: ``keep[a]`` is the boolean mask of values kept as their own cell."""

    domain: Domain
    keep: dict[str, np.ndarray]

    @classmethod
    def from_oneway(cls, domain: Domain, oneway: list[Measurement], threshold: float = 3.0) -> "Compression":
        keep = {}
        for m in oneway:
            (attr,) = m.clique
            keep[attr] = np.asarray(m.values) >= threshold * np.max(m.sigma)
        return cls(domain, keep)

    def protect(self, zeros: list[tuple[tuple[str, ...], np.ndarray]]) -> "Compression":
        """This compression with every value named by a structural zero kept as its own cell
        (``zeros``: ``(attrs, mask)`` over the original cells)."""
        keep = dict(self.keep)
        for attrs, mask in zeros:
            for i, a in enumerate(attrs):
                keep[a] = keep[a] | mask.any(axis=tuple(j for j in range(mask.ndim) if j != i))
        return Compression(self.domain, keep)

    def compress_zero(self, attrs: tuple[str, ...], mask: np.ndarray) -> np.ndarray:
        """A structural zero's mask on the compressed cells: a merged cell is
        impossible only when all the original cells it merges are."""
        for i, a in enumerate(attrs):
            if self._merged(a):
                keep = self.keep[a]
                merged = np.compress(~keep, mask, axis=i).all(axis=i, keepdims=True)
                mask = np.concatenate([np.compress(keep, mask, axis=i), merged], axis=i)
        return mask

    def _merged(self, attr: str) -> bool:
        return not self.keep[attr].all()

    @property
    def compressed_domain(self) -> Domain:
        sizes = tuple(int(self.keep[a].sum()) + int(self._merged(a)) for a in self.domain.names)
        return Domain(self.domain.names, sizes)

    def _forward(self, attr: str) -> np.ndarray:
        """Lookup table: original value -> compressed value (merged cell is the last)."""
        keep = self.keep[attr]
        table = np.full(keep.size, keep.sum(), dtype=np.int64)
        table[keep] = np.arange(keep.sum())
        return table

    def tables(self) -> list[np.ndarray]:
        """Per attribute, the lookup table original code -> compressed code."""
        return [self._forward(a) for a in self.domain.names]

    def compress_oneway(self, m: Measurement) -> Measurement:
        """Re-express a 1-way measurement on the compressed domain.

        The merged cell's value is the sum of the merged noisy cells, whose noise
        has standard deviation sigma * sqrt(k) for k merged values.
        """
        (attr,) = m.clique
        keep = self.keep[attr]
        if not self._merged(attr):
            return m
        values = np.append(m.values[keep], m.values[~keep].sum())
        sigma = np.full(values.size, float(m.sigma))
        sigma[-1] *= np.sqrt((~keep).sum())
        return Measurement(m.clique, values, sigma)

    def expand_codes(self, codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Map compressed codes back to original values; merged cells uniformly. The result
        is typed for the original domain: ``codes`` may be narrower (uint8 for 256 cells
        compressed from more, which would wrap the original codes)."""
        out = np.empty(codes.shape, dtype=np.min_scalar_type(max(self.domain.sizes) - 1))
        for j, attr in enumerate(self.domain.names):
            keep = self.keep[attr]
            kept_values = np.flatnonzero(keep)
            col = codes[:, j]
            if not self._merged(attr):
                out[:, j] = kept_values[col]
                continue
            merged_values = np.flatnonzero(~keep)
            is_merged = col == kept_values.size
            res = np.empty(col.size, dtype=np.int64)
            res[~is_merged] = kept_values[col[~is_merged]]
            res[is_merged] = rng.choice(merged_values, size=int(is_merged.sum()))
            out[:, j] = res
        return out
