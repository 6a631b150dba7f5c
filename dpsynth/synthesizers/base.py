"""The shared base of every synthesizer: validation, the ledger release, sampling.

A synthesizer follows scikit-learn's conventions: parameters are set in
``__init__`` and only validated there, :meth:`Synthesizer.fit` touches the
private data exactly once inside one ledger release, and fitted state lives in
attributes with a trailing underscore (``model_``, ``release_``). Sampling is
post-processing of the fitted model: it spends no budget.

Privacy: the whole release's rho (from ``epsilon`` and ``delta`` under
add/remove-one neighbouring, tight zCDP conversion) is reserved in the ledger
before the data is read; every noisy measurement is charged to that
reservation by :mod:`dpsynth.mechanisms` before its result is used, and the
charges add up to exactly the reserved rho.
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from dpsynth import __version__, mechanisms
from dpsynth.accounting import NEIGHBOURING, Ledger, _check_delta, _check_epsilon
from dpsynth.data import MemoryCounter
from dpsynth.domain import Schema
from dpsynth.engines import check_counter
from dpsynth.errors import InputError
from dpsynth.pgm import ApproximateModel, Domain, GraphicalModel, Measurement
from dpsynth.preprocess import check_data, learn_domain, plan_budget
from dpsynth.sampling_io import DEFAULT_CHUNK_ROWS, chunk_sizes, write_chunks
from dpsynth.synthesizers.compress import Compression

IN_MEMORY_DATASET = "in-memory"


@dataclass
class FitContext:
    """What a synthesizer's algorithm sees while fitting.

    ``counter`` counts exact marginals of the private rows (a counting engine of
    :mod:`dpsynth.data`); its answers never leave this object except through
    ``measure``/``select``. ``release`` is the open ledger reservation.
    ``zeros`` are the schema's structural zeros on the current domain's cells
    (``(attrs, mask)`` pairs): pass them to every ``estimate(..., zeros=ctx.zeros)``.
    """

    counter: Any
    domain: Domain
    release: Any
    measurements: list[Measurement] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    compression: Compression | None = None
    verbose: bool = False
    zeros: list = field(default_factory=list)
    _cache: dict = field(default_factory=dict, repr=False)

    def progress(self, message: str, fraction: float | None = None) -> None:
        """One progress line on stderr when verbose (``fraction``: share of the budget spent)."""
        if self.verbose:
            share = "" if fraction is None else f" [{100 * fraction:5.1f}% of budget]"
            print(f"dpsynth: {message}{share}", file=sys.stderr, flush=True)

    def compress(self, compression: "Compression") -> None:
        """Switch to a compressed domain (post-processing of 1-way measurements).

        Values named by a structural zero keep their own cell, so the zeros map
        exactly onto the compressed cells."""
        compression = compression.protect(self.zeros)
        self.zeros = [(a, z) for a, z in ((a, compression.compress_zero(a, m)) for a, m in self.zeros) if z.any()]
        self.counter = self.counter.mapped(compression.tables(), compression.compressed_domain.sizes)
        self.domain = compression.compressed_domain
        self.measurements = [compression.compress_oneway(m) if len(m.clique) == 1 else m
                             for m in self.measurements]
        self.compression = compression
        self._cache.clear()

    def answers(self, cliques: Sequence[tuple[str, ...]]) -> list[np.ndarray]:
        """Exact count vectors of marginals, counted together (private: only feed them to a mechanism)."""
        todo = [cl for cl in dict.fromkeys(cliques) if cl not in self._cache]
        if todo:
            counted = self.counter.counts([[self.domain.index(a) for a in cl] for cl in todo])
            self._cache.update(zip(todo, counted))
        return [self._cache[cl] for cl in cliques]

    def forget_answers(self) -> None:
        """Drop the cached exact counts (private, and as large as a workload's
        marginals); answers asked for later are counted again."""
        self._cache.clear()

    def answer(self, clique: tuple[str, ...]) -> np.ndarray:
        """The exact count vector of one marginal (private: only feed it to a mechanism)."""
        return self.answers([clique])[0]

    def measure(self, clique: tuple[str, ...], rho: float) -> Measurement:
        """Measure one marginal with the Gaussian mechanism at zCDP cost ``rho``."""
        sigma = mechanisms.sigma_for_rho(rho)
        values = mechanisms.gaussian(self.release, list(clique), self.answer(clique), sigma)
        m = Measurement(tuple(clique), np.asarray(values, dtype=float), sigma)
        self.measurements.append(m)
        self.log.append({"clique": list(clique), "mechanism": "discrete_gaussian", "sigma": sigma, "rho": rho})
        return m

    def select(self, query: str, scores: np.ndarray, epsilon: float, sensitivity: float,
               admissible: Callable[[int], bool] | None = None) -> int:
        """Pick an index with the exponential mechanism (zCDP cost epsilon^2 / 8),
        among those ``admissible`` allows (:func:`dpsynth.mechanisms.exponential`)."""
        choice = mechanisms.exponential(self.release, query, np.asarray(scores, dtype=float), epsilon, sensitivity,
                                        admissible)
        self.log.append({"query": query, "mechanism": "exponential", "epsilon": epsilon,
                         "sensitivity": sensitivity, "rho": epsilon**2 / 8.0, "choice": int(choice)})
        return int(choice)


class Synthesizer(ABC):
    """Base class: ``fit(df, schema, ledger=..., dataset=...)`` then ``sample(n)``.

    Parameters
    ----------
    epsilon, delta:
        The release's (epsilon, delta)-DP guarantee under add/remove-one
        neighbouring; converted to a zCDP budget rho with the tight conversion.
    max_model_cells:
        Cell limit of the graphical model's junction tree (the engine's size guard).
    domain_share:
        Share of rho (and of delta, for category discovery) spent on learning the
        schema's ``"learn"`` columns with DP; unused when the schema is complete.
    insecure_random_state:
        Research only. When set, noise is drawn from a seeded numpy generator
        instead of OpenDP's samplers: the output is NOT a secure DP release, a
        warning is printed, and the ledger and metadata are marked.
    verbose:
        Progress lines on stderr.
    """

    method: str = "base"

    def __init__(self, epsilon: float = 1.0, delta: float = 1e-9, *, max_model_cells: int = 10**7,
                 domain_share: float = 0.1, insecure_random_state: int | None = None, verbose: bool = False):
        self.epsilon = epsilon
        self.delta = delta
        self.max_model_cells = max_model_cells
        self.domain_share = domain_share
        self.insecure_random_state = insecure_random_state
        self.verbose = verbose

    # -- the algorithm -----------------------------------------------------
    @abstractmethod
    def _fit(self, ctx: FitContext, rho: float) -> GraphicalModel:
        """Spend exactly ``rho`` through ``ctx.measure``/``ctx.select`` and return the model."""

    def _check_schema(self, schema: Schema) -> None:
        """InputError for parameters that do not fit the schema. Runs before the
        budget is reserved: a release that fails inside ``_fit`` has already
        spent its whole rho."""

    def _extra_metadata(self) -> dict:
        return {}

    # -- public API ----------------------------------------------------------
    def fit(self, data: pd.DataFrame | Any, schema: Schema, *, ledger: Ledger | None = None,
            dataset: str | None = None, schema_is_public: bool = False) -> "Synthesizer":
        """Fit on the private ``data`` and charge the release to ``ledger``.

        ``data`` is a DataFrame, or a counting engine built with the same schema
        (:mod:`dpsynth.engines`: a file larger than memory, a Spark table); an
        engine is read once before any budget is reserved, and needs a complete
        schema (no ``"learn"`` columns).
        Without a ledger a fresh in-memory budget of exactly (epsilon, delta) is used.
        Raises InputError for bad parameters or data, BudgetExceeded when the
        ledger cannot cover the release (nothing is spent then).
        """
        validate_budget(self.epsilon, self.delta)
        check_schema_public(schema, schema_is_public)
        self._check_schema(schema)
        rho, rho_learn, delta_learn = plan_budget(schema, self.epsilon, self.delta, self.domain_share)
        codes = None  # bad data fails here, before any spending
        if not isinstance(data, pd.DataFrame):
            check_counter(data, schema)  # reads and encodes every row once
        elif schema.learnable:
            check_data(data, schema)  # every check that needs no learned domain
        else:
            codes = schema.encode(data)
        if ledger is None:
            ledger, dataset = Ledger(None), IN_MEMORY_DATASET
            ledger.init(dataset, self.epsilon, self.delta)
        elif not dataset:
            raise InputError("a ledger needs a dataset name: pass dataset=... (CLI: --dataset NAME)")
        rng = self._research_rng()
        with ledger.release(dataset, rho, self.method, insecure_rng=rng, delta=delta_learn) as release:
            learning: list[dict] = []
            if schema.learnable:
                schema = learn_domain(data, schema, release, rho_learn)
                learning = [{**c, "stage": "domain learning"} for c in release.charges]
                codes = schema.encode(data)
            counter = data if codes is None else MemoryCounter(codes, schema.sizes)
            ctx = FitContext(counter, Domain(schema.names, schema.sizes), release, verbose=self.verbose,
                             zeros=schema.zero_masks())
            model = self._fit(ctx, rho - rho_learn)
            release_id = release.release_id
        self.schema_ = schema
        self.ledger_ = ledger
        self.model_ = model
        self.compression_ = ctx.compression
        self.measurements_ = ctx.measurements
        self.release_ = self._metadata(schema, rho, ctx, release_id, dataset, ledger, learning)
        return self

    def sample(self, n: int | None = None, *, condition: pd.DataFrame | None = None,
               random_state: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw ``n`` synthetic rows (default: the DP estimate of the row count).

        With ``condition`` (a DataFrame of some of the schema's columns), draw one
        row per condition row: those columns keep the given values and the rest
        come from the model's conditional distribution given their cells.
        Post-processing of the fitted model: spends no privacy budget.
        """
        self._check_fitted()
        rng = self._sampling_rng(random_state)
        if condition is not None:
            if n is not None:
                raise InputError("pass either n or condition: a conditional sample has one row per condition row")
            return self._draw_conditional(condition, rng)
        if n is None:
            n = self.n_rows_
        if int(n) < 0:
            raise InputError(f"rows must be >= 0, got {n}")
        return self._draw(int(n), rng)

    def sample_to(self, path: str | os.PathLike, n: int | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  random_state: int | np.random.Generator | None = None) -> int:
        """Sample ``n`` rows (default: the DP row-count estimate) into a CSV or Parquet file.

        Rows are drawn, decoded and written ``chunk_rows`` at a time, so memory is
        bounded whatever ``n``; dtypes are the schema's, as in :meth:`sample`, and
        one chunk gives exactly :meth:`sample`'s rows for the same ``random_state``.
        The model's systematic ("round") sampling stratifies within each chunk.
        Written atomically; returns the row count. Spends no privacy budget.
        """
        self._check_fitted()
        n = self.n_rows_ if n is None else int(n)
        if n < 0:
            raise InputError(f"rows must be >= 0, got {n}")
        rng = self._sampling_rng(random_state)
        return write_chunks((self._draw(m, rng) for m in chunk_sizes(n, chunk_rows)), path,
                            text_columns=self.schema_.text_columns())

    def _sampling_rng(self, random_state: int | np.random.Generator | None) -> np.random.Generator:
        return np.random.default_rng(random_state if random_state is not None else self.insecure_random_state)

    def _draw(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        codes = self.model_.sample(n, rng)
        if self.compression_ is not None:
            codes = self.compression_.expand_codes(codes, rng)
        return self.schema_.decode(codes, rng)

    def save(self, path: str | os.PathLike) -> None:
        """Save the fitted model (safe format, no pickle: :mod:`dpsynth.persist`)."""
        from dpsynth.persist import save

        save(self, path)

    def _draw_conditional(self, condition: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """One row per condition row; the model is conditioned once per distinct cell combination."""
        given = list(condition.columns)
        unknown = [c for c in given if c not in self.schema_.names]
        if unknown:
            raise InputError(f"condition columns {unknown} are not in the schema; "
                             f"use columns of {list(self.schema_.names)}")
        idx = [self.schema_.names.index(c) for c in given]
        original = np.column_stack([self.schema_[c].encode(condition[c]) for c in given]) if given else \
            np.zeros((len(condition), 0), dtype=np.int64)
        cells = original.copy()
        if self.compression_ is not None:
            tables = self.compression_.tables()
            for j, i in enumerate(idx):
                cells[:, j] = tables[i][original[:, j]]
        groups, inverse = np.unique(cells, axis=0, return_inverse=True)
        inverse = inverse.ravel()
        codes = np.empty((len(condition), len(self.schema_.names)), dtype=np.int64)
        for g, evidence in enumerate(groups):
            rows = np.flatnonzero(inverse == g)
            model = condition_model(self.model_, dict(zip(given, evidence)))
            codes[rows] = model.sample(rows.size, rng)
        if self.compression_ is not None:
            codes = self.compression_.expand_codes(codes, rng)
        codes[:, idx] = original
        out = self.schema_.decode(codes, rng)
        for c in given:  # the given values themselves, not a draw from their bin
            out[c] = condition[c].to_numpy()
        return out

    @property
    def n_rows_(self) -> int:
        """The DP estimate of the number of private rows (rounded, at least 1)."""
        self._check_fitted()
        return max(1, int(round(float(self.model_.total))))

    # -- helpers -----------------------------------------------------------------
    def _research_rng(self) -> np.random.Generator | None:
        if self.insecure_random_state is None:
            return None
        warnings.warn(
            "INSECURE research RNG: noise drawn from a seeded numpy generator, not OpenDP's "
            "samplers. This output is for experiments only and must not be released.",
            stacklevel=3,
        )
        return np.random.default_rng(self.insecure_random_state)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise InputError(f"{type(self).__name__} is not fitted yet: call fit(df, schema) first")

    def _metadata(self, schema: Schema, rho: float, ctx: FitContext, release_id: Any,
                  dataset: str, ledger: Ledger, learning: list[dict]) -> dict:
        """The release metadata; ``measurements`` lists the domain-learning charges (``stage``:
        "domain learning") before the synthesizer's own."""
        return {
            "method": self.method,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "rho": rho,
            "neighbouring": NEIGHBOURING,
            "dataset": dataset,
            "ledger": getattr(ledger, "path", None),
            "ledger_release_id": release_id,
            "schema_sha256": schema.hash(),
            "schema": schema.to_dict(),
            "research_rng": self.insecure_random_state is not None,
            "dpsynth_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "estimated_rows": float(self.model_.total),
            "measurements": learning + ctx.log,
            **self._extra_metadata(),
        }


def validate_budget(epsilon: float, delta: float) -> None:
    """InputError unless 0 < epsilon <= MAX_EPSILON and 0 < delta < 1: the ledger's own checks."""
    _check_epsilon(epsilon)
    _check_delta(delta)


def check_schema_public(schema: Schema, schema_is_public: bool) -> None:
    """Refuse a schema drafted from the private data unless the user asserts it is public."""
    if schema.drafted_from_data and not schema_is_public:
        raise InputError(
            "the schema was drafted from the data (drafted_from_data: true), so its categories and "
            "bounds would leak private information; review it and pass --schema-is-public "
            "(schema_is_public=True) if the domain is public knowledge, or write the domain by hand"
        )


def condition_model(model: GraphicalModel | ApproximateModel, evidence: dict[str, int]
                    ) -> GraphicalModel | ApproximateModel:
    """The model restricted to rows whose attributes have the given cells (renormalised).

    Each observed attribute's cell is fixed in one junction-tree clique holding
    it (log-potential -inf elsewhere); an approximate model draws them first
    and clamps them (:meth:`ApproximateModel.condition`). InputError when the
    evidence has probability zero under the model.
    """
    if model.inference == "approx":
        try:
            return model.condition(evidence)
        except ValueError as exc:
            raise InputError(f"{exc}; it cannot be sampled") from None
    tree = model.junction_tree
    potentials = [p.copy() for p in model.potentials]
    for attr, cell in evidence.items():
        home = tree.containing([attr])
        axis = tree.cliques[home].index(attr)
        mask = np.full(potentials[home].shape[axis], -np.inf)
        mask[int(cell)] = 0.0
        shape = [1] * potentials[home].ndim
        shape[axis] = mask.size
        potentials[home] = potentials[home] + mask.reshape(shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        conditioned = GraphicalModel(model.domain, tree, potentials, model.total, cliques=model.cliques,
                                     zeros=model.zeros)
    if not all(np.isfinite(m).all() and m.sum() > 0 for m in conditioned.marginals):  # e.g. a structural zero
        raise InputError(f"the condition {evidence} has probability zero under the model; it cannot be sampled")
    return conditioned
