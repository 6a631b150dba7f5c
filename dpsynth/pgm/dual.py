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
from typing import Callable

import numpy as np

from dpsynth.pgm.inference import BeliefPropagation
from dpsynth.pgm.objective import Objective


def own_terms(objective: Objective, n_cliques: int) -> list[int] | None:
    """Index of the term measuring each junction-tree clique exactly, or None
    when some clique has no such term (the dual method does not apply)."""
    own: list[int | None] = [None] * n_cliques
    for k, (home, axes) in enumerate(zip(objective.home, objective.axes)):
        if not axes:
            own[home] = k
    return None if any(k is None for k in own) else own  # type: ignore[return-value]


def solve_dual(bp: BeliefPropagation, objective: Objective, own: list[int], total: float,
               tol: float, max_iters: int) -> tuple[list[np.ndarray], int]:
    """Optimal clique marginals (counts) and the number of L-BFGS iterations."""
    tree = bp.tree
    n = len(tree.cliques)
    root = tree.order[0]
    w = [objective.weight[own[c]] for c in range(n)]
    y = [objective.target[own[c]] for c in range(n)]
    edges = [c for c in range(n) if tree.parent[c] >= 0]
    subsets = [k for k in range(len(objective.cliques)) if objective.axes[k]]
    shapes = [bp.sep_in_child[c] for c in edges] + [objective.target[k].shape for k in subsets]
    sizes = [int(np.prod(s)) for s in shapes]
    bounds = np.cumsum([0] + sizes)
    n_var = int(bounds[-1]) + 1          # the last multiplier is the total's

    def primal(v: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        h: list = [0.0] * n
        for i, c in enumerate(edges):
            lam = v[bounds[i]:bounds[i + 1]].reshape(shapes[i])
            h[c] = h[c] + lam
            h[tree.parent[c]] = h[tree.parent[c]] - lam.reshape(bp.sep_in_parent[c])
        kappas = []
        for j, k in enumerate(subsets):
            i = len(edges) + j
            kappa = v[bounds[i]:bounds[i + 1]].reshape(shapes[i])
            h[objective.home[k]] = h[objective.home[k]] + kappa
            kappas.append(kappa)
        h[root] = h[root] + v[-1]
        return h, kappas

    def negdual(v: np.ndarray) -> tuple[float, np.ndarray]:
        h, kappas = primal(v)
        mu = [np.maximum(y[c] - h[c] / w[c], 0.0) for c in range(n)]
        value = 0.0
        for c in range(n):
            d = (mu[c] - y[c]).ravel()
            value += 0.5 * w[c] * float(d @ d) + float(np.vdot(np.broadcast_to(h[c], mu[c].shape), mu[c]))
        grad = np.empty(n_var)
        for i, c in enumerate(edges):
            p = tree.parent[c]
            mine = mu[c].sum(axis=bp.up_axes[c], keepdims=True)
            theirs = mu[p].sum(axis=bp.down_axes[c], keepdims=True) if bp.down_axes[c] else mu[p]
            grad[bounds[i]:bounds[i + 1]] = (mine - theirs.reshape(mine.shape)).ravel()
        for j, k in enumerate(subsets):
            i = len(edges) + j
            wk, yk = objective.weight[k], objective.target[k]
            nu = np.maximum(yk + kappas[j] / wk, 0.0)
            d = (nu - yk).ravel()
            value += 0.5 * wk * float(d @ d) - float(np.vdot(kappas[j], nu))
            grad[bounds[i]:bounds[i + 1]] = (mu[objective.home[k]].sum(axis=objective.axes[k], keepdims=True)
                                             - nu).ravel()
        value -= v[-1] * total
        grad[-1] = mu[root].sum() - total
        return -value, -grad

    v, iterations = lbfgs(negdual, np.zeros(n_var), tol, max_iters)
    h, _ = primal(v)
    return [np.maximum(y[c] - h[c] / w[c], 0.0) for c in range(n)], iterations


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
            a = rho * float(s @ d)
            alphas.append(a)
            d = d - a * yv
        if pairs:
            s, yv, _ = pairs[-1]
            d = d * (float(s @ yv) / float(yv @ yv))
        else:
            d = d / max(1.0, float(np.abs(g).max()))
        for (s, yv, rho), a in zip(pairs, reversed(alphas)):
            d = d + (a - rho * float(yv @ d)) * s
        slope = float(g @ d)
        if slope >= 0:                      # not a descent direction: forget the curvature
            pairs.clear()
            d = -g / max(1.0, float(np.abs(g).max()))
            slope = float(g @ d)
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
        sy = float((x_new - x) @ (g_new - g))
        if sy > 1e-12 * float((g_new - g) @ (g_new - g)) and sy > 0:
            pairs.append((x_new - x, g_new - g, 1.0 / sy))
        calm = calm + 1 if f - f_new <= tol * max(abs(f_new), 1.0) else 0
        x, f, g = x_new, f_new, g_new
        if calm >= patience:
            break
    return x, it
