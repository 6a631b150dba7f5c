"""Exact estimation when every junction-tree clique is itself measured.

Then the estimate is a strictly convex quadratic programme over the clique
marginals ``mu_c >= 0`` (one per junction-tree clique), tied together by
linear constraints: neighbouring cliques agree on their separator, each
smaller measured set's marginal ``nu_k`` equals the sum of its home clique,
and the root sums to the total. Its Lagrange dual is smooth and unconstrained
and every inner minimisation has a closed form,

    mu_c = max(0, y_c - h_c / w_c),        nu_k = max(0, y_k + kappa_k / w_k),

where ``h_c`` adds up the multipliers touching clique ``c`` (broadcast) and
``w`` are the terms' precisions; the dual's gradient is the constraint
residual. L-BFGS on the dual reaches the optimum in a few hundred cheap,
exp-free evaluations, where mirror descent needs thousands of message passes
(the tail of mirror descent is slow on cells of small mass). The maximum-
entropy model with these clique marginals is their junction-tree
factorisation, which is also the limit mirror descent converges to.
MST's measurements (all 1-way marginals and a tree of 2-way marginals) always
take this path.
"""
from __future__ import annotations

from collections import deque
from typing import Callable, Sequence

import numpy as np
from scipy import sparse

from dpsynth.pgm.inference import BeliefPropagation
from dpsynth.pgm.objective import Objective, vdot


def own_terms(objective: Objective, n_cliques: int) -> list[int] | None:
    """Index of the term measuring each junction-tree clique exactly, or None
    when some clique has no such term (the dual method does not apply)."""
    own: list[int | None] = [None] * n_cliques
    for k, (home, axes) in enumerate(zip(objective.home, objective.axes)):
        if not axes:
            own[home] = k
    return None if any(k is None for k in own) else own  # type: ignore[return-value]


def _slices(index_shape: tuple[int, ...], clique_shape: tuple[int, ...]) -> np.ndarray:
    """For each cell of a clique (C order), the flat index of its cell in a
    sub-marginal laid out as ``index_shape`` on the clique's axes."""
    n = int(np.prod(index_shape))
    return np.broadcast_to(np.arange(n).reshape(index_shape), clique_shape).ravel()


def _cells(objective: Objective, k: int) -> np.ndarray:
    """Term ``k``'s precision for each of its cells, flat."""
    return np.broadcast_to(objective.weight[k], objective.target[k].shape).ravel()


def solve_dual(bp: BeliefPropagation, objective: Objective, own: list[int], total: float,
               tol: float, max_iters: int, zeros: Sequence[np.ndarray | None] | None = None
               ) -> tuple[list[np.ndarray], int]:
    """Optimal clique marginals (counts) and the number of L-BFGS iterations.

    ``zeros``: per clique, a boolean array of structural-zero cells (or None).
    Those cells are fixed at ``mu = 0`` (not variables of the programme): the
    inner minimisation sets them to 0 whatever the multipliers, which is the
    exact dual of the programme restricted to the other cells.

    All clique cells are laid end to end in one vector and every constraint is
    a row of one sparse matrix ``A`` (+1/-1 on the cells it sums), so one dual
    evaluation is two sparse products and a handful of vector operations.
    """
    tree = bp.tree
    n = len(tree.cliques)
    start = np.cumsum([0] + [int(np.prod(s)) for s in bp.shapes])
    y = np.concatenate([objective.target[own[c]].ravel() for c in range(n)])
    w = np.concatenate([_cells(objective, own[c]) for c in range(n)])
    free = np.concatenate([np.ones(int(np.prod(bp.shapes[c])), dtype=bool) if zeros is None or zeros[c] is None
                           else ~zeros[c].ravel() for c in range(n)])
    rows, cols, vals = [], [], []
    n_rows = 0

    def add(index_shape: tuple[int, ...], clique: int, sign: float, first_row: int) -> None:
        rows.append(first_row + _slices(index_shape, bp.shapes[clique]))
        cols.append(np.arange(start[clique], start[clique + 1]))
        vals.append(np.full(start[clique + 1] - start[clique], sign))

    for c in range(n):                      # separator agreement, child minus parent
        if tree.parent[c] >= 0:
            add(bp.sep_in_child[c], c, 1.0, n_rows)
            add(bp.sep_in_parent[c], tree.parent[c], -1.0, n_rows)
            n_rows += int(np.prod(bp.sep_in_child[c]))
    subsets = [k for k in range(len(objective.cliques)) if objective.axes[k]]
    first_sub = n_rows
    for k in subsets:                       # smaller measured sets: home clique's sum
        add(objective.target[k].shape, objective.home[k], 1.0, n_rows)
        n_rows += objective.target[k].size
    sub = slice(first_sub, n_rows)
    y_sub = np.concatenate([objective.target[k].ravel() for k in subsets]) if subsets else np.zeros(0)
    w_sub = np.concatenate([_cells(objective, k) for k in subsets]) \
        if subsets else np.zeros(0)
    add((1,) * len(bp.shapes[tree.order[0]]), tree.order[0], 1.0, n_rows)   # the root's total
    n_rows += 1
    a = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(n_rows, int(start[-1])))
    at = a.T.tocsr()

    def negdual(v: np.ndarray) -> tuple[float, np.ndarray]:
        h = at @ v
        mu = np.where(free, np.maximum(y - h / w, 0.0), 0.0)
        d = mu - y
        kappa = v[sub]
        nu = np.maximum(y_sub + kappa / w_sub, 0.0)
        dk = nu - y_sub
        value = 0.5 * vdot(w * d, d) + vdot(h, mu) + 0.5 * vdot(w_sub * dk, dk) \
            - vdot(kappa, nu) - v[-1] * total
        grad = a @ mu
        grad[sub] -= nu
        grad[-1] -= total
        return -value, -grad

    v, iterations = lbfgs(negdual, np.zeros(n_rows), tol, max_iters)
    mu = np.where(free, np.maximum(y - (at @ v) / w, 0.0), 0.0)
    return [mu[start[c]:start[c + 1]].reshape(bp.shapes[c]) for c in range(n)], iterations


def lbfgs(fun: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray, tol: float,
          max_iters: int, memory: int = 20, patience: int = 3) -> tuple[np.ndarray, int]:
    """Minimise a smooth convex ``fun`` (returning value and gradient) by
    L-BFGS with a backtracking Armijo line search. Stops once the relative
    decrease ``(f_old - f_new) / max(|f|, 1)`` stayed at or below ``tol`` for
    ``patience`` iterations in a row, or after ``max_iters``.

    Written out (rather than scipy's L-BFGS-B) because the work per iteration
    is a few small vector operations: scipy's multi-threaded BLAS calls cost
    more than the whole dual evaluation on a busy machine.
    """
    f, g = fun(x)
    pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
    calm = 0
    it = 0
    while it < max_iters:
        it += 1
        d = -g
        alphas = []
        for s, yv, rho in reversed(pairs):
            a = rho * vdot(s, d)
            alphas.append(a)
            d = d - a * yv
        if pairs:
            s, yv, _ = pairs[-1]
            d = d * (vdot(s, yv) / vdot(yv, yv))
        else:
            d = d / max(1.0, float(np.abs(g).max()))
        for (s, yv, rho), a in zip(pairs, reversed(alphas)):
            d = d + (a - rho * vdot(yv, d)) * s
        slope = vdot(g, d)
        if slope >= 0:                      # not a descent direction: forget the curvature
            pairs.clear()
            d = -g / max(1.0, float(np.abs(g).max()))
            slope = vdot(g, d)
        if slope == 0:
            break
        t = 1.0
        for _ in range(60):
            x_new = x + t * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            break
        sy = vdot(x_new - x, g_new - g)
        if sy > 1e-12 * vdot(g_new - g, g_new - g) and sy > 0:
            pairs.append((x_new - x, g_new - g, 1.0 / sy))
        calm = calm + 1 if f - f_new <= tol * max(abs(f_new), 1.0) else 0
        x, f, g = x_new, f_new, g_new
        if calm >= patience:
            break
    return x, it
