"""Graphical-model engine: estimation on given noisy marginals, inference, sampling.

Pure estimation (numpy/scipy/networkx): it never touches private data or the
privacy core; whatever it returns is post-processing of the measurements it
is given. Synthesizers measure, then call this.

Interface
---------
``Domain(names, sizes)``
    Attributes and their cell counts; arrays use domain order.
``Measurement(clique, values, sigma)``
    Noisy marginal counts over ``clique`` (C order in the clique's own
    attribute order, flat or shaped) with Gaussian noise of standard deviation
    ``sigma`` counts.
``junction_tree_size(domain, cliques) -> int``
    Cells of the junction tree a clique set needs (graph work only).
``check_model_size(domain, cliques, max_cells=10**7) -> int``
    The same size, or :class:`ModelTooLarge` (an ``InputError``; attributes
    ``clique``, ``clique_cells``, ``total_cells``, ``max_cells``) naming the
    largest clique. AIM uses it to keep candidates feasible.
``model_size(domain, cliques, inference="exact") -> int``
    Cells of the model ``estimate`` would build: the junction tree's
    (``"exact"``), the region graph's (``"approx"``), the smaller of the two
    (``"auto"``). Selection code (AIM, MWEM) keeps candidates under a limit with it.
``model_sizer(domain, base, inference="exact", memo=None) -> Callable``
    ``extra -> model_size`` of ``base`` plus ``extra``, ``base``'s junction tree
    eliminated once: AIM and MWEM size their candidates through it.
``estimate(domain, measurements, total=None, warm_start=None, max_cells=10**7,
*, solver="auto", tol=None, max_iters=None, zeros=(), inference="exact")
-> GraphicalModel | ApproximateModel``
    Private-PGM: minimises ``sum_i ||mu(C_i) - y_i||^2 / (2 sigma_i^2)`` over the
    marginal polytope scaled to ``total`` (estimated from the measurements,
    weighted by their noise, when None: :func:`estimate_total`) and returns
    the maximum-entropy model with the optimal marginals. Exact dual solver
    when every junction-tree clique is measured (MST), accelerated mirror
    descent otherwise (warm-startable from a previous model). Stops on the
    objective's relative change. ``zeros``: structural zeros, ``(attrs,
    mask)`` pairs (``mask`` boolean over ``attrs`` in the order given, True on
    impossible cells); each ``attrs`` joins the junction tree as a clique and
    the model gives those cells probability exactly 0 (log-potential -inf).
    ``inference``: ``"exact"`` (default; junction tree, ``ModelTooLarge`` past
    ``max_cells``), ``"approx"`` (Relaxed Private-PGM: the same objective over
    the local polytope of a region graph -- the maximal cliques and zeros'
    sets closed under intersection -- by the same mirror descent with convex
    generalized belief propagation, :mod:`dpsynth.pgm.region_graph`; its size
    is the regions' total cells) or ``"auto"`` (exact while the junction tree
    fits ``max_cells``, approximate otherwise).
``GraphicalModel``
    ``project(attrs) -> ndarray`` marginal counts, one axis per attribute in
    the order given (any attribute set; variable elimination when no clique
    holds it); ``sample(n, rng=None, method="round") -> ndarray`` of shape
    ``(n, len(domain))``, codes in ``domain.names`` order (exact ancestral
    sampling; ``"round"`` stratifies draws so counts match the model up to
    rounding, ``"sample"`` is i.i.d.); ``total``; ``cliques`` (measured
    attribute sets); ``junction_tree``; ``objective`` (the fitted value);
    ``potentials`` / ``marginals`` per junction-tree clique; ``zeros``;
    ``inference == "exact"``.
``ApproximateModel``
    The same interface (``inference == "approx"``) on pseudo-marginals per
    region (``region_graph``, ``marginals``): ``project`` reads a region, or
    fits the maximum-entropy distribution over ``attrs`` to the regions'
    projections onto them (exact engine on that sub-domain); ``sample`` draws
    ancestrally region by region (exact on tree-structured region graphs,
    approximate on loops, where it can lose measured dependencies);
    ``condition(evidence)`` fixes attributes for conditional sampling
    (:mod:`dpsynth.pgm.approx_model`).

Lower-level pieces: :class:`Factor` (log-space labelled arrays),
:func:`build_junction_tree`, :class:`BeliefPropagation`,
:func:`variable_elimination`, :func:`build_region_graph`, :class:`RegionBP`.
"""
from dpsynth.pgm.approx_model import ApproximateModel
from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.estimation import INFERENCE, estimate, model_size, model_sizer
from dpsynth.pgm.factor import Factor
from dpsynth.pgm.inference import BeliefPropagation, variable_elimination
from dpsynth.pgm.junction_tree import (
    DEFAULT_MAX_CELLS,
    JunctionTree,
    ModelTooLarge,
    build_junction_tree,
    check_model_size,
    junction_tree_size,
)
from dpsynth.pgm.model import GraphicalModel
from dpsynth.pgm.objective import estimate_total
from dpsynth.pgm.region_graph import RegionBP, RegionGraph, build_region_graph, region_graph_size

__all__ = [
    "DEFAULT_MAX_CELLS",
    "INFERENCE",
    "ApproximateModel",
    "BeliefPropagation",
    "Domain",
    "Factor",
    "GraphicalModel",
    "JunctionTree",
    "Measurement",
    "ModelTooLarge",
    "RegionBP",
    "RegionGraph",
    "build_junction_tree",
    "build_region_graph",
    "check_model_size",
    "estimate",
    "estimate_total",
    "junction_tree_size",
    "model_size",
    "model_sizer",
    "region_graph_size",
    "variable_elimination",
]
