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
``estimate(domain, measurements, total=None, warm_start=None, max_cells=10**7,
*, solver="auto", tol=None, max_iters=None, zeros=()) -> GraphicalModel``
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
``GraphicalModel``
    ``project(attrs) -> ndarray`` marginal counts, one axis per attribute in
    the order given (any attribute set; variable elimination when no clique
    holds it); ``sample(n, rng=None, method="round") -> ndarray`` of shape
    ``(n, len(domain))``, codes in ``domain.names`` order (exact ancestral
    sampling; ``"round"`` stratifies draws so counts match the model up to
    rounding, ``"sample"`` is i.i.d.); ``total``; ``cliques`` (measured
    attribute sets); ``junction_tree``; ``objective`` (the fitted value);
    ``potentials`` / ``marginals`` per junction-tree clique; ``zeros``.

Lower-level pieces: :class:`Factor` (log-space labelled arrays),
:func:`build_junction_tree`, :class:`BeliefPropagation`,
:func:`variable_elimination`.
"""
from dpsynth.pgm.domain import Domain, Measurement
from dpsynth.pgm.estimation import estimate
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

__all__ = [
    "DEFAULT_MAX_CELLS",
    "BeliefPropagation",
    "Domain",
    "Factor",
    "GraphicalModel",
    "JunctionTree",
    "Measurement",
    "ModelTooLarge",
    "build_junction_tree",
    "check_model_size",
    "estimate",
    "estimate_total",
    "junction_tree_size",
    "variable_elimination",
]
