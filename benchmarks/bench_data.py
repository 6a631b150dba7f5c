"""The benchmark's datasets, each reduced to one public integer-coded domain.

Every system in the comparison gets the very same table: integer codes
``0..size-1`` per column plus a ``{column: size}`` domain file (Private-PGM's
format, which dpsynth reads with ``Schema.from_pgm_domain``). No system spends
budget on preprocessing, and none sees a domain the others do not.

* The integer-coded sets (adult_pgm, nltcs, titanic_aim) come with their
  domain files.
* The raw sets get a dpsynth schema drafted ONCE from the data with
  ``dpsynth.domain.draft_schema`` (its defaults: at most 32 categories, the rest
  in ``other``; numbers in 32 bins over [min, max]; a cell for missing values)
  and committed in ``benchmarks/domains/<name>.schema.json``. The draft reads
  the private data, so it is declared public *for the benchmark only*, the same
  for every system; a real release takes the domain from the user or learns it
  with DP (``dpsynth`` refuses a drafted schema unless told it is public).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("DPSYNTH_BENCH_DATA", HERE.parent.parent / "shared" / "data"))
DOMAINS_DIR = HERE / "domains"
CACHE_DIR = HERE / ".cache"


@dataclass(frozen=True)
class Dataset:
    """How to read one file of ``DATA_DIR`` (see its README for the quirks)."""

    name: str
    target: str | None  # the natural classification target, for TSTR
    coded: bool = False  # integer-coded with a ``<name>.domain.json``
    read_kw: dict = field(default_factory=dict)
    drop: tuple[str, ...] = ()  # identifiers
    numeric: tuple[str, ...] = ()  # string columns to read as numbers (non-numbers -> missing)

    def read(self) -> pd.DataFrame:
        df = pd.read_csv(DATA_DIR / f"{self.name}.csv", **self.read_kw).drop(columns=list(self.drop))
        for col in self.numeric:
            df[col] = pd.to_numeric(df[col], errors="coerce")
        return df


# NIST CRC: 'N' means not applicable; the data dictionary gives these columns numeric ranges.
_NIST = dict(read_kw={"dtype": str, "keep_default_na": False},
             numeric=("AGEP", "NOC", "NPF", "DENSITY", "PINCP", "POVPIP", "PWGTP", "WGTP"))
DATASETS: dict[str, Dataset] = {d.name: d for d in [
    Dataset("adult_pgm", "income>50K", coded=True),
    Dataset("diabetes130", "readmitted", read_kw={"na_values": "?", "keep_default_na": False},
            drop=("encounter_id", "patient_nbr")),
    Dataset("nltcs", None, coded=True),
    Dataset("nist_national2019", None, **_NIST),
    Dataset("nist_ma2019", None, **_NIST),
    Dataset("bank_marketing", "y"),
    Dataset("credit_default", "default.payment.next.month", drop=("ID",)),
    Dataset("titanic_aim", "Survived", coded=True),
]}


@dataclass(frozen=True)
class Prepared:
    """A dataset as every system receives it."""

    name: str
    codes_path: Path  # .npy, int32, shape (rows, columns)
    domain_path: Path  # {column: size}, in column order
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    target: str | None

    def codes(self) -> np.ndarray:
        return np.load(self.codes_path)


def schema_path(name: str) -> Path:
    return DOMAINS_DIR / f"{name}.schema.json"


def prepare(name: str) -> Prepared:
    """Encode dataset ``name`` into ``benchmarks/.cache`` (once) and describe it.

    A raw dataset without a committed schema gets one drafted and written first.
    """
    ds = DATASETS[name]
    CACHE_DIR.mkdir(exist_ok=True)
    codes_path, domain_path = CACHE_DIR / f"{name}.npy", CACHE_DIR / f"{name}.domain.json"
    source = DATA_DIR / f"{name}.domain.json" if ds.coded else schema_path(name)
    if not ds.coded and not source.exists():
        from dpsynth.domain import draft_schema

        DOMAINS_DIR.mkdir(exist_ok=True)
        draft_schema(ds.read()).to_json(source)
    fresh = codes_path.exists() and domain_path.exists() and codes_path.stat().st_mtime >= source.stat().st_mtime
    if not fresh:
        from dpsynth.domain import Schema

        schema = Schema.from_pgm_domain(source) if ds.coded else Schema.from_json(source)
        codes = np.asarray(schema.encode(ds.read()), dtype=np.int32)
        tmp = codes_path.with_suffix(".tmp.npy")
        np.save(tmp, codes)
        tmp.replace(codes_path)
        domain_path.write_text(json.dumps(dict(zip(schema.names, map(int, schema.sizes)))))
    domain = json.loads(domain_path.read_text())
    return Prepared(name, codes_path, domain_path, tuple(domain), tuple(domain.values()), ds.target)
