"""Private-PGM estimation: the maximum-likelihood graphical model for noisy
marginal measurements.

It minimises ``L(mu) = sum_i ||mu(C_i) - y_i||^2 / (2 sigma_i^2)`` over the
marginals ``mu`` of distributions with ``total`` records (the marginal
polytope; exact, since the junction tree is) and returns the maximum-entropy
model with the optimal marginals. Two solvers, the same optimum:

* ``"dual"`` -- when every junction-tree clique is itself measured (MST, and
  any measurement set whose cliques are already a junction tree): L-BFGS on
  the Lagrange dual of the quadratic programme (:mod:`dpsynth.pgm.dual`);
* ``"mirror"`` -- otherwise: accelerated entropic mirror descent with
  backtracking (:mod:`dpsynth.pgm.mirror_descent`), which can start from a
  previous model (``warm_start``, e.g. AIM's last round).

Both stop on the objective (relative change below ``tol``), not after a fixed
number of iterations.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.dual import own_terms, solve_dual
from dpsynth.pgm.inference import BeliefPropagation
from dpsynth.pgm.junction_tree import DEFAULT_MAX_CELLS, JunctionTree, build_junction_tree
from dpsynth.pgm.mirror_descent import solve_mirror_descent
from dpsynth.pgm.model import GraphicalModel
from dpsynth.pgm.objective import Objective, estimate_total

SOLVERS = ("auto", "dual", "mirror")
DEFAULT_TOL = {"dual": 1e-10, "mirror": 1e-6}
DEFAULT_MAX_ITERS = {"dual": 10_000, "mirror": 10_000}
WARM_START_FLOOR = 1e-9   # share of uniform mixed into a warm start: no cell starts at zero


def _warm_potentials(previous: GraphicalModel, domain: Domain, tree: JunctionTree,
                     bp: BeliefPropagation, total: float) -> list[np.ndarray]:
    """Potentials on ``tree`` of the previous model's projection onto it (its
    marginals on the new cliques), rescaled to ``total``."""
    if previous.domain != domain:
        raise ValueError("warm_start: the previous model is over a different domain")
    marginals = []
    for clique, cells in zip(tree.cliques, tree.cells):
        p = previous.project(clique) / previous.total
        marginals.append(total * ((1.0 - WARM_START_FLOOR) * p + WARM_START_FLOOR / cells))
    return bp.factorize(marginals)


def estimate(domain: Domain, measurements: Sequence[Measurement], total: float | None = None,
             warm_start: GraphicalModel | None = None, max_cells: int = DEFAULT_MAX_CELLS, *,
             solver: str = "auto", tol: float | None = None, max_iters: int | None = None
             ) -> GraphicalModel:
    """Fit a graphical model to noisy marginal measurements.

    ``total``: the number of records the model describes (counts); when None it
    is estimated from the measurements, weighted by their noise
    (:func:`estimate_total`). ``warm_start``: a previous model over the same
    domain to start mirror descent from (ignored by the dual solver, which
    needs no start). ``max_cells``: the junction tree's size limit
    (:class:`ModelTooLarge`). ``solver``: ``"auto"`` picks ``"dual"`` when
    every junction-tree clique is measured, else ``"mirror"``. ``tol`` and
    ``max_iters`` default per solver (``DEFAULT_TOL``, ``DEFAULT_MAX_ITERS``).
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; use one of {SOLVERS}")
    measurements = list(measurements)
    if not all(isinstance(m, Measurement) for m in measurements):
        raise TypeError("estimate: measurements must be dpsynth.pgm.Measurement objects")
    for m in measurements:
        domain.canonical(m.clique)   # names every unknown attribute
    total = estimate_total(measurements) if total is None else float(total)
    if not total > 0:
        raise ValueError(f"estimate: total must be > 0, got {total}")
    tree = build_junction_tree(domain, [m.clique for m in measurements], max_cells)
    bp = BeliefPropagation(domain, tree)
    objective = Objective(domain, tree, measurements)
    own = own_terms(objective, len(tree.cliques))
    if solver == "auto":
        solver = "dual" if own is not None else "mirror"
    if solver == "dual" and own is None:
        raise ValueError("solver='dual' needs every junction-tree clique measured; use 'mirror'")
    tol = DEFAULT_TOL[solver] if tol is None else float(tol)
    max_iters = DEFAULT_MAX_ITERS[solver] if max_iters is None else int(max_iters)
    if solver == "dual":
        marginals, iterations = solve_dual(bp, objective, own, total, tol, max_iters)
    else:
        if warm_start is not None:
            theta = _warm_potentials(warm_start, domain, tree, bp, total)
        else:
            theta = [np.zeros(shape) for shape in bp.shapes]
        marginals, iterations = solve_mirror_descent(bp, objective, theta, total, tol, max_iters)
    model = GraphicalModel(domain, tree, bp.factorize(marginals), total, cliques=objective.cliques,
                           iterations=iterations, solver=solver)
    model.objective = objective.value(objective.project(model.marginals))
    return model
