"""zCDP accounting and the persistent privacy ledger.

Units: every budget and charge is zero-concentrated DP, ``rho`` (Bun & Steinke
2016), under add/remove-one-record neighbouring. ``(epsilon, delta)`` appear
only at the edges: :func:`rho_from_epsilon` turns the user's target into a
``rho`` budget, :func:`epsilon_from_rho` reports what a ``rho`` means. Both use
the tight conversion of Canonne, Kamath & Steinke (2020) as implemented by
OpenDP's ``make_zCDP_to_approxDP``.

The :class:`Ledger` is one SQLite file (or an in-memory database) holding one
budget per dataset name. A release reserves its whole ``rho`` up front in one
``BEGIN IMMEDIATE`` transaction, so concurrent processes never overspend, then
records each measurement (time, release id, mechanism, query, sensitivity,
noise scale, rho, delta) before its result is used. A release that dies mid-way keeps
its reservation spent and shows as incomplete. WAL journaling and
``synchronous=FULL`` make every committed row survive ``kill -9``. Triggers make
the history append-only.

Approximate zCDP: a few mechanisms (the thresholded histogram that discovers
categories, :func:`dpsynth.mechanisms.thresholded_counts`) cannot be rho-zCDP for
any finite rho: a value held by one record may appear in the output with one
dataset and never without it. They are ``delta``-approximate rho-zCDP (Bun &
Steinke 2016, Def. 8.1; OpenDP's ``Approximate<ZeroConcentratedDivergence>``):
rho and delta both add up under composition, and ``(rho, delta_a)`` implies
``(epsilon(rho, delta - delta_a), delta)``-DP for the tight conversion at
``delta - delta_a``. So a release may reserve a ``delta`` too; the budget then
holds while ``delta_spent < delta`` and ``rho_spent <= rho_from_epsilon(epsilon,
delta - delta_spent)``. With no such mechanism delta_spent is 0 and this is the
plain zCDP budget.

OpenDP's feature flag ``contrib`` is enabled (process-wide) on import: the
constructors used here and in :mod:`dpsynth.mechanisms` (``make_gaussian``,
``make_noisy_max``, ``make_zCDP_to_approxDP``) ship with proofs but sit in
OpenDP's "contrib" tier, i.e. not yet through OpenDP's own vetting process.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sqlite3
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from dpsynth import _opendp as dp
from scipy import optimize

from dpsynth.errors import BudgetExceeded, InputError

dp.enable_features("contrib")

#: The neighbouring relation every budget in a ledger refers to.
NEIGHBOURING = "add/remove-one"

#: Relative slack when comparing sums of rho against a budget, so that e.g. three
#: releases of rho_total/3 fit despite floating-point rounding (1e-12 relative,
#: far below any meaningful privacy difference; documented in docs/privacy.md).
RHO_RTOL = 1e-12

_APPLICATION_ID = 0x44505359  # "DPSY": marks a SQLite file as a dpsynth ledger
_SCHEMA_VERSION = 2  # 2 added the delta columns (approximate zCDP); version 1 files are upgraded on open

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budgets (
    dataset      TEXT PRIMARY KEY,
    epsilon      REAL NOT NULL,
    delta        REAL NOT NULL,
    rho_total    REAL NOT NULL CHECK (rho_total > 0),
    neighbouring TEXT NOT NULL,
    created      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    release_id   TEXT PRIMARY KEY,
    dataset      TEXT NOT NULL REFERENCES budgets(dataset),
    method       TEXT NOT NULL,
    rho          REAL NOT NULL CHECK (rho > 0),
    research_rng INTEGER NOT NULL,
    delta        REAL NOT NULL DEFAULT 0 CHECK (delta >= 0),
    complete     INTEGER NOT NULL DEFAULT 0,
    created      TEXT NOT NULL,
    finished     TEXT,
    error        TEXT
);
CREATE INDEX IF NOT EXISTS releases_by_dataset ON releases(dataset);
CREATE TABLE IF NOT EXISTS measurements (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id   TEXT NOT NULL REFERENCES releases(release_id),
    created      TEXT NOT NULL,
    mechanism    TEXT NOT NULL,
    query        TEXT NOT NULL,
    sensitivity  REAL NOT NULL,
    scale        REAL NOT NULL,
    rho          REAL NOT NULL CHECK (rho >= 0),
    delta        REAL NOT NULL DEFAULT 0 CHECK (delta >= 0)
);
CREATE INDEX IF NOT EXISTS measurements_by_release ON measurements(release_id);
CREATE TRIGGER IF NOT EXISTS budgets_append_only_u BEFORE UPDATE ON budgets
    BEGIN SELECT RAISE(ABORT, 'dpsynth ledger budgets are append-only'); END;
CREATE TRIGGER IF NOT EXISTS budgets_append_only_d BEFORE DELETE ON budgets
    BEGIN SELECT RAISE(ABORT, 'dpsynth ledger budgets are append-only'); END;
CREATE TRIGGER IF NOT EXISTS releases_append_only_d BEFORE DELETE ON releases
    BEGIN SELECT RAISE(ABORT, 'dpsynth ledger releases are append-only'); END;
CREATE TRIGGER IF NOT EXISTS releases_append_only_u
    BEFORE UPDATE OF release_id, dataset, method, rho, research_rng, delta, created ON releases
    BEGIN SELECT RAISE(ABORT, 'a release reservation cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS releases_finish_once BEFORE UPDATE ON releases
    WHEN OLD.finished IS NOT NULL
    BEGIN SELECT RAISE(ABORT, 'a finished release cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS measurements_append_only_u BEFORE UPDATE ON measurements
    BEGIN SELECT RAISE(ABORT, 'dpsynth ledger measurements are append-only'); END;
CREATE TRIGGER IF NOT EXISTS measurements_append_only_d BEFORE DELETE ON measurements
    BEGIN SELECT RAISE(ABORT, 'dpsynth ledger measurements are append-only'); END;
"""

#: Upgrade of a version-1 ledger: zero delta everywhere, the reservation trigger also guards delta.
_MIGRATE_1_TO_2 = """
ALTER TABLE releases ADD COLUMN delta REAL NOT NULL DEFAULT 0 CHECK (delta >= 0);
ALTER TABLE measurements ADD COLUMN delta REAL NOT NULL DEFAULT 0 CHECK (delta >= 0);
DROP TRIGGER releases_append_only_u;
CREATE TRIGGER releases_append_only_u
    BEFORE UPDATE OF release_id, dataset, method, rho, research_rng, delta, created ON releases
    BEGIN SELECT RAISE(ABORT, 'a release reservation cannot be changed'); END;
"""


class InsecureRNGWarning(UserWarning):
    """A release draws its noise from numpy (research path), not OpenDP's samplers."""


# --------------------------------------------------------------------------- conversions


def _check_delta(delta: float) -> float:
    delta = float(delta)
    if delta == 0:
        raise InputError("delta=0: zCDP needs delta > 0 for a finite epsilon; pass a small delta such as 1e-9")
    if not 0 < delta < 1:
        raise InputError(f"delta={delta!r} is outside (0, 1); pass a small delta such as 1e-9")
    return delta


def _check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    value = float(value)
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name}={value!r} is invalid; it must be a finite number {bound}")
    return value


#: Largest epsilon a budget or release may state: OpenDP's zCDP conversion ends near rho 70,000
#: (epsilon above 70,000 at any delta), where an epsilon could only be met silently by a smaller one.
MAX_EPSILON = 50_000.0


def _check_epsilon(epsilon: float) -> float:
    epsilon = _check_positive("epsilon", epsilon)
    if epsilon > MAX_EPSILON:
        raise InputError(f"epsilon={epsilon:g} is above {MAX_EPSILON:,.0f}: DP promises nothing there, and "
                         f"OpenDP's conversion to rho ends near 70,000; use an epsilon of at most {MAX_EPSILON:,.0f}")
    return epsilon


def epsilon_from_rho(rho: float, delta: float) -> float:
    """The smallest epsilon such that rho-zCDP implies (epsilon, delta)-DP.

    Tight conversion (Canonne, Kamath & Steinke 2020, Prop. 12 / Cor. 13)
    computed by OpenDP: ``make_zCDP_to_approxDP`` applied to a Gaussian
    measurement whose zCDP map OpenDP evaluates to (at least) ``rho``.
    """
    delta = _check_delta(delta)
    rho = _check_positive("rho", rho, allow_zero=True)
    if rho == 0:
        return 0.0
    # A Gaussian with scale 1 on |.| distances has rho = d_in^2 / 2; rounding d_in
    # up makes the probe's rho >= the requested rho, so epsilon errs on the safe side.
    probe = dp.m.make_gaussian(dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=1.0)
    d_in = math.nextafter(math.sqrt(2.0 * rho), math.inf)
    try:
        return float(dp.c.make_zCDP_to_approxDP(probe).map(d_in).epsilon(delta))
    except dp.OpenDPException:
        raise InputError(
            f"rho={rho!r} at delta={delta!r} is beyond the range of OpenDP's conversion to epsilon "
            "(numeric overflow); use a smaller rho or a larger delta"
        ) from None


@functools.lru_cache(maxsize=256)  # pure, and about a dozen OpenDP calls per conversion
def rho_from_epsilon(epsilon: float, delta: float) -> float:
    """The largest rho whose tight conversion gives at most ``(epsilon, delta)``-DP.

    Inverts :func:`epsilon_from_rho` (increasing in rho) with Brent's method,
    bracketed below by the classical bound rho = (sqrt(eps + log(1/delta)) -
    sqrt(log(1/delta)))^2, and returns a point on the safe side, 3 * RHO_RTOL below the
    root: the ledger lets reservations pass the budget, and charges their reservation, by
    RHO_RTOL relative each (rounding), so even both slacks used together stay within
    ``(epsilon, delta)``.
    """
    delta = _check_delta(delta)
    epsilon = _check_epsilon(epsilon)
    log_inv_delta = -math.log(delta)
    lo = (epsilon / (math.sqrt(epsilon + log_inv_delta) + math.sqrt(log_inv_delta))) ** 2  # no cancellation
    while lo > 0 and not _within(lo, delta, epsilon):  # only where OpenDP's range ends below lo
        lo /= 2
    if lo <= 0:
        raise InputError(f"epsilon={epsilon!r} at delta={delta!r} leaves no positive rho; pass a larger epsilon")
    hi = 2 * lo
    while _within(hi, delta, epsilon):
        lo, hi = hi, 2 * hi

    def excess(rho: float) -> float:
        try:
            return epsilon_from_rho(rho, delta) - epsilon
        except InputError:  # beyond OpenDP's range: certainly too large
            return epsilon

    root = optimize.brentq(excess, lo, hi, xtol=1e-300, rtol=1e-15)
    candidate = root * (1 - 3 * RHO_RTOL)
    return candidate if lo < candidate and _within(candidate, delta, epsilon) else lo


def _within(rho: float, delta: float, epsilon: float) -> bool:
    """epsilon_from_rho(rho, delta) <= epsilon; a rho beyond OpenDP's range counts as too large."""
    try:
        return epsilon_from_rho(rho, delta) <= epsilon
    except InputError:
        return False


# --------------------------------------------------------------------------- ledger


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _query_text(query: str | Sequence[str]) -> str:
    if isinstance(query, str):
        return query
    return ",".join(str(q) for q in query)


def _fits(spent: float, rho: float, total: float) -> bool:
    return spent + rho <= total * (1.0 + RHO_RTOL)


def _rho_budget(epsilon: float, delta: float, rho_total: float, delta_spent: float) -> float:
    """The zCDP budget left for all releases once approximate mechanisms spent ``delta_spent``.

    rho_from_epsilon(epsilon, delta - delta_spent), i.e. the stored ``rho_total`` when
    delta_spent is 0; 0 when delta_spent leaves no delta for the conversion.
    """
    if delta_spent <= 0:
        return rho_total
    try:
        return rho_from_epsilon(epsilon, delta - delta_spent) if delta_spent < delta else 0.0
    except InputError:  # the delta left is too small for any positive rho
        return 0.0


class Ledger:
    """A persistent zCDP budget per dataset, with every release and measurement.

    ``Ledger(path)`` opens (or, with ``create=True``, creates) a SQLite ledger
    file; ``Ledger(None)`` is an in-memory ledger with the same behaviour, for
    library use and tests. ``create=False`` refuses a missing file. Use as a
    context manager or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True, timeout: float = 60.0):
        self.path = None if path is None else Path(path)
        if self.path is None:
            self._conn = sqlite3.connect(":memory:", isolation_level=None)
            self._setup(create=True)
            return
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a directory; pass the path of a ledger file")
        if not create and not self.path.exists():
            raise InputError(
                f"{self.path}: no such ledger file; create one with "
                f"`dpsynth ledger init {self.path} --dataset NAME --epsilon E --delta D`"
            )
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}: cannot open the ledger ({exc}); check the path and permissions") from exc
        try:
            self._setup(create=create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise InputError(f"{self.path}: not a dpsynth ledger (SQLite: {exc}); pass a ledger file") from exc
        except BaseException:
            self._conn.close()
            raise

    def _setup(self, create: bool) -> None:
        conn = self._conn
        conn.execute("PRAGMA foreign_keys = ON")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != _APPLICATION_ID:
            if not create:
                raise InputError(f"{self.path}: not a dpsynth ledger; pass a file made by `dpsynth ledger init`")
            if self.path is not None:
                conn.execute("PRAGMA journal_mode = WAL")  # persistent; must run outside a transaction
            with self._write():
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                if app_id == 0:
                    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                        raise InputError(
                            f"{self.path}: a SQLite database of another program, not a dpsynth ledger; "
                            "choose a new file for the ledger"
                        )
                    for statement in _split_sql(_SCHEMA):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                    app_id = _APPLICATION_ID
            if app_id != _APPLICATION_ID:
                raise InputError(f"{self.path}: not a dpsynth ledger; pass a file made by `dpsynth ledger init`")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:
            self._upgrade_from_1()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != _SCHEMA_VERSION:
            raise InputError(
                f"{self.path}: ledger format version {version}, this dpsynth reads version {_SCHEMA_VERSION}; "
                "use the dpsynth version that wrote it"
            )
        conn.execute("PRAGMA synchronous = FULL")

    def _upgrade_from_1(self) -> None:
        """Add the (zero) delta columns to a version-1 ledger, once, under the write lock."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == 1:  # another process may have done it
                for statement in _split_sql(_MIGRATE_1_TO_2):
                    conn.execute(statement)
                conn.execute("PRAGMA user_version = 2")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock before reading."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- public API ------------------------------------------------------------------

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({str(self.path) if self.path else None!r})"

    def init(self, dataset: str, epsilon: float, delta: float) -> float:
        """Create the budget of ``dataset``: ``(epsilon, delta)``-DP, stored as rho.

        Returns the total rho. A dataset's budget is set once and never reset.
        """
        dataset = _check_name("dataset", dataset)
        epsilon = _check_epsilon(epsilon)
        delta = _check_delta(delta)
        rho_total = rho_from_epsilon(epsilon, delta)
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM budgets WHERE dataset = ?", (dataset,)).fetchone():
                raise InputError(
                    f"dataset {dataset!r} already has a budget in {self._where()}; budgets are never reset: "
                    "use a new dataset name or a new ledger file"
                )
            conn.execute(
                "INSERT INTO budgets (dataset, epsilon, delta, rho_total, neighbouring, created) VALUES (?,?,?,?,?,?)",
                (dataset, epsilon, delta, rho_total, NEIGHBOURING, _now()),
            )
        return rho_total

    def datasets(self) -> list[str]:
        """Names of the datasets with a budget, in the order they were created."""
        return [r[0] for r in self._conn.execute("SELECT dataset FROM budgets ORDER BY rowid")]

    def summary(self, dataset: str) -> dict:
        """Budget, spending and full release history of ``dataset`` (JSON-ready).

        Keys: dataset, neighbouring, epsilon, delta, rho_total, rho_spent,
        rho_remaining, delta_spent (reserved by approximate-zCDP mechanisms; 0
        without them), epsilon_spent (everything spent so far is (epsilon_spent,
        delta)-DP) and releases, each with release_id, method, rho (reserved =
        spent), rho_charged, delta (reserved), delta_charged, complete,
        research_rng, created, finished, error and measurements [{created,
        mechanism, query, sensitivity, scale, rho, delta}]. rho_remaining is
        ``rho_from_epsilon(epsilon, delta - delta_spent) - rho_spent``, so with
        delta_spent > 0 it is less than rho_total - rho_spent. See docs/privacy.md.
        """
        conn = self._conn
        conn.execute("BEGIN")  # one consistent snapshot
        try:
            budget = self._budget(conn, dataset)
            releases = [
                dict(zip(("release_id", "method", "rho", "delta", "research_rng", "complete", "created", "finished",
                          "error"), r))
                for r in conn.execute(
                    "SELECT release_id, method, rho, delta, research_rng, complete, created, finished, error "
                    "FROM releases WHERE dataset = ? ORDER BY rowid",
                    (dataset,),
                )
            ]
            for rel in releases:
                rel["research_rng"] = bool(rel["research_rng"])
                rel["complete"] = bool(rel["complete"])
                rel["measurements"] = [
                    dict(zip(("created", "mechanism", "query", "sensitivity", "scale", "rho", "delta"), m))
                    for m in conn.execute(
                        "SELECT created, mechanism, query, sensitivity, scale, rho, delta FROM measurements "
                        "WHERE release_id = ? ORDER BY id",
                        (rel["release_id"],),
                    )
                ]
                rel["rho_charged"] = math.fsum(m["rho"] for m in rel["measurements"])
                rel["delta_charged"] = math.fsum(m["delta"] for m in rel["measurements"])
        finally:
            conn.execute("COMMIT")
        epsilon, delta, rho_total = budget
        rho_spent = math.fsum(r["rho"] for r in releases)
        delta_spent = math.fsum(r["delta"] for r in releases)
        return {
            "dataset": dataset,
            "neighbouring": NEIGHBOURING,
            "epsilon": epsilon,
            "delta": delta,
            "rho_total": rho_total,
            "rho_spent": rho_spent,
            "rho_remaining": max(_rho_budget(epsilon, delta, rho_total, delta_spent) - rho_spent, 0.0),
            "delta_spent": delta_spent,
            "epsilon_spent": epsilon_from_rho(rho_spent, delta - delta_spent),  # release() keeps delta_spent < delta
            "releases": releases,
        }

    @contextlib.contextmanager
    def release(
        self,
        dataset: str,
        rho: float,
        method: str,
        insecure_rng: np.random.Generator | None = None,
        *,
        delta: float = 0.0,
    ) -> Iterator["Release"]:
        """Reserve ``rho`` (and ``delta``) of ``dataset``'s budget for one release; yield a :class:`Release`.

        The whole ``rho`` is spent the moment this returns (the data is about to
        be touched), whatever happens next. Raises :class:`BudgetExceeded`, writing
        nothing, when it does not fit. On normal exit the release is marked
        complete; on an exception it stays incomplete with the exception's type
        recorded, not its message, which may quote the private data (the ledger
        is shown in reports).
        ``insecure_rng`` (a numpy Generator) opts into the research path: noise
        from numpy instead of OpenDP -- not for real releases; warned and marked.
        ``delta`` (default 0) is only for approximate-zCDP mechanisms (see the
        module docstring): it fits when the deltas reserved so far plus this one
        stay below the budget's delta and the rho spent plus ``rho`` stays within
        ``rho_from_epsilon(epsilon, delta_budget - deltas)``.
        """
        dataset = _check_name("dataset", dataset)
        rho = _check_positive("rho", rho)
        delta = _check_positive("delta", delta, allow_zero=True)
        method = _check_name("method", method)
        if insecure_rng is not None and not isinstance(insecure_rng, np.random.Generator):
            raise InputError(
                f"insecure_rng must be a numpy.random.Generator, got {type(insecure_rng).__name__}; "
                "leave it None for a real release"
            )
        release_id = uuid.uuid4().hex
        with self._write() as conn:
            epsilon_total, delta_total, rho_total = self._budget(conn, dataset)
            rows = conn.execute("SELECT rho, delta FROM releases WHERE dataset = ?", (dataset,)).fetchall()
            spent = math.fsum(r[0] for r in rows)
            delta_spent = math.fsum(r[1] for r in rows)
            if delta_spent + delta >= delta_total:
                raise BudgetExceeded(dataset, rho, 0.0)
            available = _rho_budget(epsilon_total, delta_total, rho_total, math.fsum((delta_spent, delta)))
            if not _fits(spent, rho, available):
                raise BudgetExceeded(dataset, rho, max(available - spent, 0.0))
            conn.execute(
                "INSERT INTO releases (release_id, dataset, method, rho, delta, research_rng, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (release_id, dataset, method, rho, delta, int(insecure_rng is not None), _now()),
            )
        if insecure_rng is not None:
            warnings.warn(
                f"INSECURE RNG: release {release_id} of dataset {dataset!r} draws its noise from numpy, "
                "not from OpenDP's samplers. Its output is for research only and must not be published "
                "as differentially private; the ledger marks it research_rng=true.",
                InsecureRNGWarning,
                stacklevel=3,
            )
        rel = Release(self, dataset, release_id, rho, insecure_rng, delta=delta)
        try:
            yield rel
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                rel._finish(error=type(exc).__name__)  # not its message, which may quote the private data
            raise
        rel._finish(error=None)

    # -- helpers ---------------------------------------------------------------------

    def _where(self) -> str:
        return str(self.path) if self.path is not None else "the in-memory ledger"

    def _budget(self, conn: sqlite3.Connection, dataset: str) -> tuple[float, float, float]:
        row = conn.execute("SELECT epsilon, delta, rho_total FROM budgets WHERE dataset = ?", (dataset,)).fetchone()
        if row is None:
            known = ", ".join(repr(d) for d in self.datasets()) or "none"
            raise InputError(
                f"dataset {dataset!r} has no budget in {self._where()} (known: {known}); "
                "create one with `dpsynth ledger init`"
            )
        return row


class Release:
    """One reserved slice of a dataset's budget; every mechanism charges through it.

    Attributes: ``release_id``, ``dataset``, ``rho`` (reserved), ``rho_charged``,
    ``rho_remaining`` (of the reservation), ``delta``, ``delta_charged`` and
    ``delta_remaining`` (the same for approximate-zCDP delta; 0 unless reserved),
    ``research_rng`` and ``insecure_rng``
    (the numpy Generator of the research path, or None). Only
    :meth:`Ledger.release` creates one; it is usable only inside its ``with``.
    """

    def __init__(self, ledger: Ledger, dataset: str, release_id: str, rho: float,
                 insecure_rng: np.random.Generator | None, *, delta: float = 0.0):
        self._ledger = ledger
        self.dataset = dataset
        self.release_id = release_id
        self.rho = rho
        self.rho_charged = 0.0
        self.delta = delta
        self.delta_charged = 0.0
        self.insecure_rng = insecure_rng
        self.charges: list[dict] = []   # this process's charges, as the ledger records them
        self._open = True

    @property
    def research_rng(self) -> bool:
        return self.insecure_rng is not None

    @property
    def rho_remaining(self) -> float:
        return max(self.rho - self.rho_charged, 0.0)

    @property
    def delta_remaining(self) -> float:
        return max(self.delta - self.delta_charged, 0.0)

    def charge(self, mechanism: str, query: str | Sequence[str], sensitivity: float, scale: float, rho: float,
               *, delta: float = 0.0) -> None:
        """Record one measurement before its result is used.

        ``sensitivity`` is the mechanism's sensitivity (L2 for the Gaussian, L-inf
        of the scores for the exponential mechanism), ``scale`` its noise scale,
        ``rho`` its zCDP cost and ``delta`` the delta of an approximate-zCDP
        mechanism (0 for pure zCDP). Raises :class:`BudgetExceeded`, writing
        nothing, if the charges would exceed this release's reservation of rho or delta.
        """
        if not self._open:
            raise InputError(f"release {self.release_id} is finished; open a new release to measure again")
        mechanism = _check_name("mechanism", mechanism)
        sensitivity = _check_positive("sensitivity", sensitivity)
        scale = _check_positive("scale", scale)
        rho = _check_positive("rho", rho, allow_zero=True)
        delta = _check_positive("delta", delta, allow_zero=True)
        if not _fits(self.rho_charged, rho, self.rho):
            raise BudgetExceeded(f"{self.dataset} (release {self.release_id})", rho, self.rho_remaining)
        if delta > 0 and not self.delta_charged + delta <= self.delta * (1.0 + RHO_RTOL):
            raise BudgetExceeded(f"{self.dataset} (release {self.release_id}): delta {delta:.3g} asked, "
                                 f"{self.delta_remaining:.3g} of delta reserved left", rho, self.rho_remaining)
        with self._ledger._write() as conn:
            conn.execute(
                "INSERT INTO measurements (release_id, created, mechanism, query, sensitivity, scale, rho, delta) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (self.release_id, _now(), mechanism, _query_text(query), sensitivity, scale, rho, delta),
            )
        self.rho_charged = math.fsum((self.rho_charged, rho))
        self.delta_charged = math.fsum((self.delta_charged, delta))
        self.charges.append({"mechanism": mechanism, "query": _query_text(query), "sensitivity": sensitivity,
                             "scale": scale, "rho": rho, "delta": delta})

    def _finish(self, error: str | None) -> None:
        self._open = False
        with self._ledger._write() as conn:
            conn.execute(
                "UPDATE releases SET complete = ?, finished = ?, error = ? WHERE release_id = ?",
                (int(error is None), _now(), error, self.release_id),
            )

    def __repr__(self) -> str:
        return (f"Release({self.release_id}, dataset={self.dataset!r}, rho={self.rho:.6g}, "
                f"charged={self.rho_charged:.6g}, delta={self.delta:.3g}, research_rng={self.research_rng})")


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what}={value!r} is invalid; pass a non-empty name")
    return value


def _split_sql(script: str) -> list[str]:
    """Split a script into statements (``executescript`` would commit mid-transaction)."""
    statements, current = [], ""
    for line in script.strip().splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
