"""Accelerated entropic mirror descent over the marginal polytope (the general case).

Private-PGM's mirror descent (McKenna, Sheldon & Miklau 2019, Algorithm 1)
updates the log-potentials ``theta <- theta - eta * grad L(mu)`` and gets the
next marginals ``mu = BP(theta)``; the mirror map is the joint negative entropy,
whose Bregman divergence is the KL divergence between the two models. This
module runs the accelerated version of that step (Tseng's accelerated
proximal gradient with a Bregman distance; the same scheme as Nesterov's
universal method in mbi 2.x) with a backtracking estimate of the smoothness
constant:

    y  = (1 - a) x + a z                      (marginals, a convex combination)
    u' = u - (s / a) grad L(y);  z' = BP(u')
    x' = (1 - a) x + a z'

accepted when ``L(x') <= L(y) + <grad L(y), x' - y> + (N / s) a^2 KL(z' || z)``
-- the KL is exact and free from BP's log-partition values -- otherwise the
step ``s`` halves; after an acceptance it grows by 20%. A step that would
raise the objective is dropped and the momentum restarts (``a = 1``) from
``x``, re-expressed as potentials by its junction-tree factorisation (a
restart from ``z`` instead can throw away most of the progress). It stops
when the best objective improved by less than ``tol`` (relative) over the
last ``window`` iterations, or when approximate inference (``bp.converged``
false) has failed to calibrate ``STALLED`` times running: past that point its
pseudo-marginals are no basis for progress, and each step costs the whole sweep
cap (measured: minutes, growing, per step where a converging step took 20 ms).
The iterate ``x`` is a convex combination of consistent junction-tree
marginals, hence consistent itself; the caller turns it into a model.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from dpsynth.pgm.inference import BeliefPropagation
from dpsynth.pgm.objective import Objective

GROWTH = 1.2
STALLED = 5       # consecutive calibrations short of convergence that end the descent
TINY = 1e-300     # floor on restart marginals, so no cell's log-potential is -inf


def apply_zeros(theta: Sequence[np.ndarray], masks: Sequence[np.ndarray | None]) -> list[np.ndarray]:
    """The log-potentials with every structural-zero cell (``masks``: per clique,
    a boolean array or None) at ``-inf``."""
    return [t if m is None else np.where(m, -np.inf, t) for t, m in zip(theta, masks)]


def _mix(a: float, x: Sequence[np.ndarray], z: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [(1.0 - a) * xi + a * zi for xi, zi in zip(x, z)]


def solve_mirror_descent(bp: BeliefPropagation, objective: Objective, theta: list[np.ndarray],
                         total: float, tol: float, max_iters: int,
                         zeros: Sequence[np.ndarray | None] | None = None, window: int = 20
                         ) -> tuple[list[np.ndarray], int]:
    """Clique marginals (counts) approximately minimising ``objective`` from the
    starting log-potentials ``theta``, and the number of iterations run.
    ``zeros``: per clique, a boolean array of structural-zero cells (or None);
    ``theta`` must already be ``-inf`` there, and restarts keep them so (the
    gradient steps do by themselves: ``-inf - eta * g`` stays ``-inf``)."""
    z, _, log_z = bp.calibrate(theta, total, conditionals=False)
    if not objective.cliques:
        return z, 0
    x = z
    zt = objective.project(z)
    xt = zt
    fx = objective.value(xt)
    best = [fx]
    step = 1.0 / max(float(np.max(w)) for w in objective.weight) / total  # a safe start; backtracking adapts it
    a_prev = l_prev = None
    it = stalled = 0
    while it < max_iters:
        it += 1
        while True:
            lip = total / step
            a = 1.0 if a_prev is None else 2.0 / (1.0 + math.sqrt(1.0 + 4.0 * lip / (a_prev**2 * l_prev)))
            yt = _mix(a, xt, zt)
            fy, grad = objective.value_and_grad(yt)
            theta_new = objective.step(theta, grad, step / a)
            z_new, _, log_z_new = bp.calibrate(theta_new, total, conditionals=False)
            zt_new = objective.project(z_new)
            xt_new = _mix(a, xt, zt_new)
            fx_new = objective.value(xt_new)
            kl = -(step / a) / total * objective.dot(grad, zt_new) - (log_z_new - log_z)
            bound = fy + objective.dot(grad, xt_new) - objective.dot(grad, yt) + lip * a * a * max(kl, 0.0)
            if fx_new <= bound + 1e-12 * abs(bound) or step < 1e-300:
                break
            theta_new = z_new = zt_new = xt_new = None   # free the rejected step before the next one
            step *= 0.5
        if fx_new > fx:
            # restart the momentum from x: the model whose marginals are x
            theta = bp.factorize([np.maximum(c, TINY * total) for c in x])
            if zeros is not None:
                theta = apply_zeros(theta, zeros)
            z, _, log_z = bp.calibrate(theta, total, conditionals=False)
            zt = xt = objective.project(z)
            x = z
            a_prev = l_prev = None
            best.append(best[-1])
        else:
            theta, z, zt, log_z = theta_new, z_new, zt_new, log_z_new
            x = _mix(a, x, z_new)
            xt = xt_new
            a_prev, l_prev = a, lip
            fx = fx_new
            best.append(min(best[-1], fx))
        step *= GROWTH
        if len(best) > window and best[-window - 1] - best[-1] <= tol * abs(best[-1]):
            break
        stalled = 0 if bp.converged else stalled + 1
        if stalled >= STALLED:
            break
    return x, it
