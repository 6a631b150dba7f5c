"""The estimation objective: ``L(mu) = sum_i ||mu(C_i) - y_i||^2 / (2 sigma_i^2)``.

``mu(C_i)`` is the model's marginal over measurement ``i``'s clique, in counts.
Measurements of the same attribute set are merged into one weighted term (the
same minimiser, with the dropped constant kept so the reported value is the
exact objective). Each merged term is read from the smallest junction-tree
clique that holds it, as an array laid out on that clique's axes, so values,
gradients and potential updates broadcast without copies.
"""
from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.junction_tree import JunctionTree
from dpsynth.pgm.reduce import sum_axes


BLAS_DOT_MAX = 10_000   # OpenBLAS runs dot products on one thread up to this length


def vdot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of two arrays of one size. Longer vectors go through
    ``einsum``, not BLAS: a multi-threaded BLAS ``dot`` on tens of thousands of
    numbers costs ten times more CPU than the sum itself (far worse on a busy
    machine); shorter ones through BLAS, which is then single-threaded and fastest."""
    a, b = a.ravel(), b.ravel()
    return float(a @ b) if a.size <= BLAS_DOT_MAX else float(np.einsum("i,i->", a, b))


def estimate_total(measurements: Sequence[Measurement]) -> float:
    """Minimum-variance unbiased record count from the measurements: the sums of
    their noisy vectors averaged with weights ``1 / (sigma^2 * cells)``
    (each sum's noise variance); at least 1."""
    sums = np.array([m.values.sum() for m in measurements])
    var = np.array([float(np.sum(np.broadcast_to(np.square(m.sigma), m.values.shape))) for m in measurements])
    if sums.size == 0:
        return 1.0
    return max(1.0, float(np.sum(sums / var) / np.sum(1.0 / var)))


def merge_order(domain: Domain, cliques: Sequence[Sequence[str]]) -> list[tuple[int, int]]:
    """How to add up arrays over ``cliques`` (broadcast on a common layout)
    two at a time, cheaply: each step adds the two partial sums whose union of
    attributes has the fewest cells, and appends the result to the list. The
    pairs index that growing list (inputs first); the last sum is the total.
    A clique's terms are sums over subsets of its attributes, so most pairs
    cover far fewer cells than the clique."""
    parts = {i: frozenset(cl) for i, cl in enumerate(cliques)}
    pairs = []
    while len(parts) > 1:
        i, j = min(itertools.combinations(sorted(parts), 2), key=lambda ij: domain.size(parts[ij[0]] | parts[ij[1]]))
        pairs.append((i, j))
        parts[len(cliques) + len(pairs) - 1] = parts.pop(i) | parts.pop(j)
    return pairs


class Objective:
    """Merged measurement terms on a junction tree.

    ``cliques[k]`` is term ``k``'s attribute set, ``weight[k]`` its precision
    ``sum 1/sigma_i^2``, ``target[k]`` the precision-weighted mean measurement,
    ``home[k]`` the index of the junction-tree clique it is read from and
    ``axes[k]`` that clique's axes summed away.
    """

    def __init__(self, domain: Domain, tree: JunctionTree, measurements: Sequence[Measurement]) -> None:
        merged: dict[tuple[str, ...], list] = {}
        for m in measurements:
            cl = domain.canonical(m.clique)
            if m.values.size != domain.size(cl):
                raise ValueError(
                    f"measurement on {m.clique} has {m.values.size} values; its marginal has "
                    f"{domain.size(cl)} cells (sizes {domain.shape(m.clique)})")
            axes = [m.clique.index(a) for a in cl]
            y = m.values.reshape(domain.shape(m.clique)).transpose(axes)
            w = 1.0 / np.square(m.sigma)
            if np.ndim(w):  # one noise scale per cell: laid out like y
                w = w.reshape(domain.shape(m.clique)).transpose(axes)
            acc = merged.setdefault(cl, [0.0, 0.0, 0.0])
            acc[0] = acc[0] + w
            acc[1] = acc[1] + w * y
            acc[2] += 0.5 * vdot(w * y, y)
        self.cliques: list[tuple[str, ...]] = list(merged)
        self.weight: list[float | np.ndarray] = []  # precision: one number, or per cell laid out like target
        self.target: list[np.ndarray] = []
        self.home: list[int] = []
        self.axes: list[tuple[int, ...]] = []
        self.constant = 0.0
        for cl, (w, wy, half_sq) in merged.items():
            home = tree.containing(cl)
            if home is None:
                raise ValueError(f"no junction-tree clique holds measured clique {cl}")
            hc = tree.cliques[home]
            mean = wy / w
            self.constant += half_sq - 0.5 * vdot(w * mean, mean)
            layout = [domain.sizes[domain.index(a)] if a in cl else 1 for a in hc]
            self.weight.append(w.reshape(layout) if np.ndim(w) else w)
            self.target.append(mean.reshape([domain.sizes[domain.index(a)] if a in cl else 1 for a in hc]))
            self.home.append(home)
            self.axes.append(tuple(i for i, a in enumerate(hc) if a not in cl))
        self._plan_sums(domain, tree)

    def _plan_sums(self, domain: Domain, tree: JunctionTree) -> None:
        """Read each term from the smallest other term of its home clique that
        holds it, when there is one, instead of from the home clique itself:
        a large clique is then summed once per maximal term, not once per term
        (and, in :meth:`step`, gradients are gathered the same way before they
        are broadcast into it). ``order`` lists terms sources-first;
        ``source[k]`` is the term read from (-1: the home clique) and
        ``source_axes[k]`` the axes summed away. ``merges[h]`` is clique
        ``h``'s maximal terms (those read from the clique) and the pairwise
        sums that add their gradients up (:func:`merge_order`)."""
        n = len(self.cliques)
        self.order = sorted(range(n), key=lambda k: (self.home[k], -domain.size(self.cliques[k])))
        self.source = [-1] * n
        self.source_axes = list(self.axes)
        for i, k in enumerate(self.order):
            cl = set(self.cliques[k])
            holders = [j for j in self.order[:i] if self.home[j] == self.home[k] and cl < set(self.cliques[j])]
            if holders:
                j = min(holders, key=lambda j: domain.size(self.cliques[j]))
                self.source[k] = j
                hc = tree.cliques[self.home[k]]
                self.source_axes[k] = tuple(i for i, a in enumerate(hc) if a in self.cliques[j] and a not in cl)
        self.merges = {}
        for k in self.order:
            if self.source[k] < 0:
                self.merges.setdefault(self.home[k], [[], []])[0].append(k)
        for terms, pairs in self.merges.values():
            pairs.extend(merge_order(domain, [self.cliques[k] for k in terms]))

    def project(self, clique_arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each term's marginal read from per-clique arrays (counts)."""
        out: list[np.ndarray] = [None] * len(self.cliques)  # type: ignore[list-item]
        for k in self.order:
            j = self.source[k]
            a = clique_arrays[self.home[k]] if j < 0 else out[j]
            out[k] = sum_axes(a, self.source_axes[k])
        return out

    def value(self, marginals: Sequence[np.ndarray]) -> float:
        """``L`` at the given term marginals."""
        v = self.constant
        for mu, y, w in zip(marginals, self.target, self.weight):
            d = mu - y
            v += 0.5 * vdot(w * d, d)
        return v

    def value_and_grad(self, marginals: Sequence[np.ndarray]) -> tuple[float, list[np.ndarray]]:
        """``L`` and its gradient with respect to each term's marginal."""
        v = self.constant
        grads = []
        for mu, y, w in zip(marginals, self.target, self.weight):
            d = mu - y
            v += 0.5 * vdot(w * d, d)
            grads.append(w * d)
        return v, grads

    @staticmethod
    def dot(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> float:
        """Inner product of two lists of term arrays."""
        return sum(vdot(x, y) for x, y in zip(a, b))

    def step(self, theta: Sequence[np.ndarray], grads: Sequence[np.ndarray], eta: float) -> list[np.ndarray]:
        """``theta - eta * grad``, each term's gradient broadcast into its clique.
        A term read from another term adds its gradient to that term's first;
        a clique's maximal terms are then summed pairwise along :attr:`merges`,
        the last two broadcast into it (two passes over the clique, not one per term)."""
        gathered = list(grads)
        for k in reversed(self.order):
            j = self.source[k]
            if j >= 0:
                gathered[j] = gathered[j] + gathered[k]
        out = list(theta)
        for h, (terms, pairs) in self.merges.items():
            sums = [gathered[k] for k in terms]
            for i, j in pairs[:-1]:
                sums.append(sums[i] + sums[j])
            first, *rest = pairs[-1] if pairs else (0,)   # the last pair goes into the clique one at a time
            out[h] = theta[h] - eta * sums[first]
            for i in rest:
                out[h] -= eta * sums[i]
        return out
