"""The one scoring every benchmarked system gets: dpsynth.evaluate on the shared codes.

All systems receive the same integer-coded table (codes ``0..size-1`` per
column, see ``bench_data``) and return synthetic rows in those codes. Scoring:

* mean TVD over all 1-way, all 2-way and 200 sampled 3-way marginals
  (``dpsynth.evaluate.fidelity``, seed 0, so every system is scored on the same
  triples). A column with more than 32 codes is read as 32 equal-width runs of
  its codes (the integer-coded sets' numeric columns; the raw sets arrive in at
  most 33 cells already), as in the Private-PGM/AIM literature's adult figures.
* TSTR ROC AUC of gradient boosting on the dataset's natural target beside
  TRTR, both tested on the same seeded 30% of the real rows
  (``dpsynth.evaluate.utility``). The synthesizers saw those rows too (they fit
  the whole table, as for the error figures), so TSTR is optimistic for the
  non-private bootstrap, which copies real rows; for the DP systems, each
  row's influence is bounded by the guarantee.

These statistics read the real data without DP: they are for the benchmark
report, never part of a release.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from dpsynth import evaluate
from dpsynth.domain import Schema

MAX_CELLS = 32
N_TRIPLES = 200
TSTR_MODEL = "gradient_boosting"


def scoring_schema(names: tuple[str, ...], sizes: tuple[int, ...]) -> Schema:
    """Columns of at most 32 codes as categories, wider ones as 32 equal-width integer runs."""
    columns = {
        name: {"kind": "categorical", "categories": list(range(size))} if size <= MAX_CELLS
        else {"kind": "numeric", "lower": 0, "upper": size - 1, "bins": MAX_CELLS, "integer": True}
        for name, size in zip(names, sizes)
    }
    return Schema.from_json({"columns": columns})


def score(real: np.ndarray, synth: np.ndarray, names: tuple[str, ...], sizes: tuple[int, ...],
          target: str | None) -> dict:
    """``tvd1``, ``tvd2``, ``tvd3`` (mean TVD per marginal order, in [0, 1]) and, with a
    target, ``auc_tstr`` and ``auc_trtr`` (None where undefined)."""
    real_df = pd.DataFrame(np.asarray(real, dtype=np.int64), columns=list(names))
    synth_df = pd.DataFrame(np.asarray(synth, dtype=np.int64), columns=list(names))
    fid = evaluate.fidelity(real_df, synth_df, scoring_schema(names, sizes), n_three_way=N_TRIPLES, seed=0)
    out = {f"tvd{k}": fid["tvd"][str(k)]["mean"] for k in (1, 2, 3) if str(k) in fid["tvd"]}
    if target is not None:
        util = evaluate.utility(real_df, synth_df, [target], models=(TSTR_MODEL,), seed=0)
        model = util["targets"][0]["models"][0]
        out["auc_tstr"], out["auc_trtr"] = model["tstr"]["auc"], model["trtr"]["auc"]
    return out
