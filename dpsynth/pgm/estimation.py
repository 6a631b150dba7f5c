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

Structural zeros (``zeros``: cells known to be impossible) are kept out of the
model's support: each zero's attribute set becomes a junction-tree clique, and
its cells are held at log-potential ``-inf`` by mirror descent (masked after
every factorisation, warm starts included) and at marginal 0 by the dual
solver (those cells are not variables of its quadratic programme). The result
is the optimum over distributions giving the zero cells probability exactly 0.

Inference: ``inference="exact"`` (default) works on the junction tree and
raises :class:`ModelTooLarge` past ``max_cells``; ``"approx"`` minimises the
same objective over the local polytope of a region graph (Relaxed
Private-PGM: :mod:`dpsynth.pgm.region_graph`) by the same mirror descent, with
convex generalized belief propagation in place of exact belief propagation,
and returns an :class:`ApproximateModel`; its size is the regions' total
cells. ``"auto"`` is exact while the junction tree fits ``max_cells`` and
approximate otherwise.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from dpsynth.pgm.approx_model import ApproximateModel
from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.dual import own_terms, solve_dual
from dpsynth.pgm.inference import BeliefPropagation
from dpsynth.pgm.junction_tree import (
    DEFAULT_MAX_CELLS,
    JunctionTree,
    JunctionTreeSizer,
    ModelTooLarge,
    build_junction_tree,
    junction_tree_size,
)
from dpsynth.pgm.mirror_descent import apply_zeros, solve_mirror_descent
from dpsynth.pgm.model import GraphicalModel
from dpsynth.pgm.objective import Objective, estimate_total
from dpsynth.pgm.region_graph import RegionBP, RegionGraph, build_region_graph, region_graph_size

SOLVERS = ("auto", "dual", "mirror")
INFERENCE = ("exact", "approx", "auto")
DEFAULT_TOL = {"dual": 1e-10, "mirror": 1e-6}
DEFAULT_MAX_ITERS = {"dual": 10_000, "mirror": 10_000}
WARM_START_FLOOR = 1e-9   # share of uniform mixed into a warm start: no cell starts at zero


Zeros = Sequence[tuple[Sequence[str], np.ndarray]]
Model = GraphicalModel | ApproximateModel


def model_size(domain: Domain, cliques: Sequence[Sequence[str]], inference: str = "exact") -> int:
    """Cells of the model :func:`estimate` would build for ``cliques`` (measured
    sets and zeros' attribute sets) with ``inference``: the junction tree's for
    ``"exact"``, the region graph's for ``"approx"``, the smaller for ``"auto"``
    (it fits a limit when either does). Graph work only."""
    # one attribute adds nothing: both structures already hold every attribute
    return model_sizer(domain, cliques, inference)(domain.names[:1])


def model_sizer(domain: Domain, base: Sequence[Sequence[str]], inference: str = "exact",
                memo: dict | None = None) -> Callable[[Sequence[str]], int]:
    """``extra -> model_size(domain, base + [extra], inference)``, eliminating
    ``base``'s junction tree once (:class:`JunctionTreeSizer`, with its ``memo``
    of sized components when given) for any number of extras asked one by one."""
    if inference not in INFERENCE:
        raise ValueError(f"unknown inference {inference!r}; use one of {INFERENCE}")
    base = list(base)
    sizer = JunctionTreeSizer(domain, base, memo) if inference != "approx" else None

    def size(extra: Sequence[str]) -> int:
        options = [sizer.size_with(extra)] if sizer else []
        if inference != "exact":
            options.append(region_graph_size(domain, base + [extra]))
        return min(options)
    return size


def zero_masks(domain: Domain, tree: JunctionTree | RegionGraph, zeros: Zeros) -> list[np.ndarray | None]:
    """Per junction-tree clique (or region), a boolean array of its impossible cells (None
    where it has none): each zero ``(attrs, mask)`` -- ``mask`` shaped over
    ``attrs`` in the order given, True on impossible cells -- is laid out on the
    axes of the smallest clique holding ``attrs`` (true for every value of the
    clique's other attributes)."""
    out: list[np.ndarray | None] = [None] * len(tree.cliques)
    for attrs, mask in zeros:
        attrs = tuple(attrs)
        canon = domain.canonical(attrs)
        mask = np.asarray(mask, dtype=bool)
        if len(canon) != len(attrs) or mask.shape != domain.shape(attrs):
            raise ValueError(f"zero on {attrs}: needs distinct attributes and a boolean mask of shape "
                             f"{domain.shape(attrs)}, got shape {mask.shape}")
        home = tree.containing(canon)
        clique = tree.cliques[home]
        laid = mask.transpose([attrs.index(a) for a in canon]).reshape(
            [domain.sizes[domain.index(a)] if a in canon else 1 for a in clique])
        laid = np.broadcast_to(laid, domain.shape(clique))
        out[home] = laid.copy() if out[home] is None else out[home] | laid
    return out


def _warm_potentials(previous: Model, domain: Domain, tree: JunctionTree | RegionGraph,
                     bp: BeliefPropagation | RegionBP, total: float) -> list[np.ndarray]:
    """Potentials on ``tree`` (or region graph) of the previous model's projection
    onto it (its marginals on the new cliques), rescaled to ``total``. A clique
    whose projection would need an elimination step past the limit
    (:class:`ModelTooLarge`) starts from the product of its 1-way marginals:
    only the start differs, not the optimum."""
    if previous.domain != domain:
        raise ValueError("warm_start: the previous model is over a different domain")
    marginals = []
    for clique, cells in zip(tree.cliques, tree.cells):
        try:
            p = previous.project(clique) / previous.total
        except ModelTooLarge:
            p = functools.reduce(np.multiply.outer, [previous.project(a) / previous.total for a in clique])
        marginals.append(total * ((1.0 - WARM_START_FLOOR) * p + WARM_START_FLOOR / cells))
    return bp.factorize(marginals)


def estimate(domain: Domain, measurements: Sequence[Measurement], total: float | None = None,
             warm_start: Model | None = None, max_cells: int = DEFAULT_MAX_CELLS, *,
             solver: str = "auto", tol: float | None = None, max_iters: int | None = None,
             zeros: Zeros = (), inference: str = "exact") -> Model:
    """Fit a graphical model to noisy marginal measurements.

    ``total``: the number of records the model describes (counts); when None it
    is estimated from the measurements, weighted by their noise
    (:func:`estimate_total`). ``warm_start``: a previous model over the same
    domain to start mirror descent from (ignored by the dual solver, which
    needs no start). ``max_cells``: the junction tree's size limit
    (:class:`ModelTooLarge`). ``solver``: ``"auto"`` picks ``"dual"`` when
    every junction-tree clique is measured, else ``"mirror"``. ``tol`` and
    ``max_iters`` default per solver (``DEFAULT_TOL``, ``DEFAULT_MAX_ITERS``).
    ``inference``: ``"exact"`` (a :class:`GraphicalModel`), ``"approx"`` (an
    :class:`ApproximateModel` on the region graph, mirror descent only) or
    ``"auto"`` (exact while the junction tree fits ``max_cells``).
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; use one of {SOLVERS}")
    if inference not in INFERENCE:
        raise ValueError(f"unknown inference {inference!r}; use one of {INFERENCE}")
    measurements = list(measurements)
    if not all(isinstance(m, Measurement) for m in measurements):
        raise TypeError("estimate: measurements must be dpsynth.pgm.Measurement objects")
    for m in measurements:
        domain.canonical(m.clique)   # names every unknown attribute
    total = estimate_total(measurements) if total is None else float(total)
    if not total > 0:
        raise ValueError(f"estimate: total must be > 0, got {total}")
    zeros = [(tuple(attrs), mask) for attrs, mask in zeros]
    cliques = [m.clique for m in measurements] + [a for a, _ in zeros]
    if inference == "auto":
        inference = "exact" if junction_tree_size(domain, cliques) <= max_cells else "approx"
    if inference == "approx":
        return _estimate_approx(domain, measurements, total, warm_start, max_cells, solver, tol, max_iters,
                                zeros)
    tree = build_junction_tree(domain, cliques, max_cells)
    bp = BeliefPropagation(domain, tree)
    masks = zero_masks(domain, tree, zeros)
    if zeros and not np.isfinite(bp.calibrate(apply_zeros([np.zeros(s) for s in bp.shapes], masks), 1.0)[2]):
        raise ValueError("estimate: the structural zeros rule out every cell of the domain")
    objective = Objective(domain, tree, measurements)
    own = own_terms(objective, len(tree.cliques))
    if solver == "auto":
        solver = "dual" if own is not None else "mirror"
    if solver == "dual" and own is None:
        raise ValueError("solver='dual' needs every junction-tree clique measured; use 'mirror'")
    tol = DEFAULT_TOL[solver] if tol is None else float(tol)
    max_iters = DEFAULT_MAX_ITERS[solver] if max_iters is None else int(max_iters)
    if solver == "dual":
        marginals, iterations = solve_dual(bp, objective, own, total, tol, max_iters, masks)
    else:
        marginals, iterations = _mirror_descent(domain, tree, bp, objective, warm_start, total, masks, tol,
                                                max_iters)
    model = GraphicalModel(domain, tree, apply_zeros(bp.factorize(marginals), masks), total,
                           cliques=objective.cliques, iterations=iterations, solver=solver,
                           zeros=zeros)
    model.objective = objective.value(objective.project(model.marginals))
    return model


def _mirror_descent(domain: Domain, structure, bp, objective: Objective, warm_start: Model | None, total: float,
                    masks: list, tol: float, max_iters: int) -> tuple[list[np.ndarray], int]:
    """Mirror descent on ``structure`` (junction tree or region graph, with its
    ``bp``), from ``warm_start``'s marginals or the uniform model, zeros masked.
    The starting potentials get no local name here, so the solver frees them
    once its first step replaces them."""
    return solve_mirror_descent(bp, objective, apply_zeros(_start(warm_start, domain, structure, bp, total), masks),
                                total, tol, max_iters, masks)


def _start(warm_start: Model | None, domain: Domain, structure, bp, total: float) -> list[np.ndarray]:
    """Mirror descent's starting potentials: ``warm_start``'s (:func:`_warm_potentials`) or all zero."""
    if warm_start is not None:
        return _warm_potentials(warm_start, domain, structure, bp, total)
    return [np.zeros(shape) for shape in bp.shapes]


def _estimate_approx(domain: Domain, measurements: list[Measurement], total: float, warm_start: Model | None,
                     max_cells: int, solver: str, tol: float | None, max_iters: int | None,
                     zeros: list[tuple[tuple[str, ...], np.ndarray]]) -> ApproximateModel:
    """:func:`estimate` over the local polytope of the region graph (mirror descent)."""
    if solver == "dual":
        raise ValueError("solver='dual' needs exact inference; approximate inference uses 'mirror'")
    graph = build_region_graph(domain, [m.clique for m in measurements] + [a for a, _ in zeros])
    if graph.size > max_cells:
        worst = max(range(len(graph.cells)), key=graph.cells.__getitem__)
        raise ModelTooLarge(graph.regions[worst], graph.cells[worst], graph.size, int(max_cells), "region graph")
    masks = zero_masks(domain, graph, zeros)
    try:
        bp = RegionBP(domain, graph, masks)
    except ValueError as exc:
        raise ValueError(f"estimate: {exc}") from None
    objective = Objective(domain, graph, measurements)
    tol = DEFAULT_TOL["mirror"] if tol is None else float(tol)
    max_iters = DEFAULT_MAX_ITERS["mirror"] if max_iters is None else int(max_iters)
    marginals, iterations = _mirror_descent(domain, graph, bp, objective, warm_start, total, masks, tol, max_iters)
    model = ApproximateModel(domain, graph, marginals, total, cliques=objective.cliques, iterations=iterations,
                             solver="mirror", zeros=zeros)
    model.objective = objective.value(objective.project(model.marginals))
    return model
