"""Fidelity and utility of a synthetic table, measured against the real one.

Everything here reads the real data **without differential privacy**: the figures
are for internal review of a release, not for publication, and nothing is charged
to a ledger. Without a schema, bins and categories are read off the REAL table
(:class:`Binning`); with a schema, the schema's own encoding is used.

* :func:`fidelity` -- total variation distance (TVD) of every 1-way and 2-way
  marginal and of a seeded sample of 3-way marginals, an association-matrix
  difference, and per-column summaries.
* :func:`utility` -- train-synthetic-test-real (TSTR) beside train-real-test-real
  (TRTR) for logistic regression, gradient boosting and a small random forest,
  and model-ranking consistency (Xu, Sun & Cheng): the Spearman correlation of
  the models' real and synthetic scores.
* :func:`evaluate` -- both, as one JSON-ready dict; :func:`format_evaluation`
  renders it for people.
"""
from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from dpsynth.data import count_marginals
from dpsynth.domain import exact_whole
from dpsynth.errors import InputError

#: The models compared in TSTR, in report order.
MODELS: tuple[str, ...] = ("logistic_regression", "gradient_boosting", "random_forest")

_QUANTILES = (("min", 0.0), ("q01", 0.01), ("q25", 0.25), ("median", 0.5), ("q75", 0.75), ("q99", 0.99), ("max", 1.0))
_MAX_DENSE_CELLS = 1 << 24
#: Without a schema, a categorical column keeps its most frequent categories up to this many.
MAX_CATEGORIES = 200
#: Most distinct values a numeric TSTR target may have (TSTR here is classification).
MAX_CLASSES = 20
_MISSING = "<missing>"


# ---------------------------------------------------------------------------
# Column types, alignment and encoding
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def limit_threads(n_threads: int | None) -> Iterator[None]:
    """Cap BLAS/OpenMP threads (via threadpoolctl, when installed; None: no cap).

    One thread is the fast choice on a shared machine: oversubscribed OpenMP
    slows gradient boosting and matrix products down several times.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(limits=n_threads):
        yield


def is_numeric_column(series: pd.Series) -> bool:
    """True for int/float columns (booleans count as categorical)."""
    return bool(is_numeric_dtype(series.dtype) and not is_bool_dtype(series.dtype))


def align_tables(reference: pd.DataFrame, others: dict[str, pd.DataFrame],
                 reference_name: str = "REAL") -> dict[str, pd.DataFrame]:
    """Check that every table in ``others`` has exactly the columns of ``reference``.

    Returns the tables with columns in the reference's order; numeric columns of
    the reference are coerced to numbers in the others, and numbers in a column the
    reference holds as text are written as the reference writes them
    (:func:`spelled_as`). Raises :class:`InputError` naming the table and the
    columns that differ.
    """
    ref_cols = [str(c) for c in reference.columns]
    if len(set(ref_cols)) != len(ref_cols):
        dup = sorted({c for c in ref_cols if ref_cols.count(c) > 1})
        raise InputError(f"{reference_name} has duplicate column names {dup}; rename them")
    out = {}
    for name, df in others.items():
        cols = [str(c) for c in df.columns]
        missing = [c for c in ref_cols if c not in cols]
        extra = [c for c in cols if c not in ref_cols]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"lacks {missing}")
            if extra:
                parts.append(f"has extra {extra}")
            raise InputError(
                f"column mismatch: {name} {' and '.join(parts)} compared with {reference_name}; "
                "both tables need the same columns"
            )
        df = df.set_axis(cols, axis=1)[ref_cols].copy()
        for col in ref_cols:
            if is_numeric_column(reference[col]) and not is_numeric_column(df[col]):
                coerced = pd.to_numeric(df[col], errors="coerce")
                bad = df[col][coerced.isna() & df[col].notna()]
                if len(bad):
                    raise InputError(
                        f"column {col!r} is numeric in {reference_name} but {name} holds "
                        f"non-numeric values such as {bad.iloc[0]!r}; fix the table or the column types"
                    )
                df[col] = coerced
            elif is_numeric_column(df[col]) and not is_numeric_column(reference[col]):
                df[col] = spelled_as(reference[col], df[col])
        out[name] = df
    return out


def spelled_as(reference: pd.Series, numbers: pd.Series) -> pd.Series:
    """``numbers`` as text, each spelled as ``reference`` (a text column) spells that number
    ("2" or "2.0" or "02" for 2), else plainly (2.0 as "2"); missing stays missing. Without
    it a table read as numbers (its one text value not sampled, a missing value making it
    float) never matched the reference's text: "2.0" against "2"."""
    ref = pd.Series(pd.unique(reference.dropna()), dtype=object)
    value = pd.to_numeric(ref, errors="coerce")
    spelling = pd.Series(ref[value.notna()].to_numpy(), index=value[value.notna()].to_numpy())
    spelling = spelling[~spelling.index.duplicated()]
    x = numbers.to_numpy(dtype=float)
    whole = exact_whole(x)
    plain = np.where(whole, pd.Series(np.where(whole, x, 0).astype(np.int64)).astype(str), numbers.astype(str))
    out = pd.Series(spelling.reindex(x).to_numpy(), index=numbers.index, dtype=object)
    out = out.where(out.notna(), pd.Series(plain, index=numbers.index, dtype=object))
    return out.where(numbers.notna())


def categorical_strings(series: pd.Series) -> np.ndarray:
    """The values of a categorical column as strings (object array), missing as NaN."""
    s = series.astype(object)
    out = s.astype(str).to_numpy(dtype=object)
    out[s.isna().to_numpy()] = np.nan
    return out


@dataclass(frozen=True)
class Binning:
    """Bins and categories read off a real table (for evaluation only, never released).

    Numeric columns with at most ``bins`` distinct values get one cell per value
    (edges at the midpoints); others get up to ``bins`` quantile bins, a value that
    fills a whole quantile step in a cell of its own (:func:`quantile_edges`). Values
    outside the real range fall into the end bins. Categorical columns get one
    cell per real category (the ``max_categories`` most frequent ones) plus an
    ``other`` cell (rarer values, and synthetic values the real table lacks).
    Every column has a last cell for missing values.
    """

    names: tuple[str, ...]
    numeric: tuple[bool, ...]
    edges: tuple[np.ndarray | None, ...]
    categories: tuple[np.ndarray | None, ...]
    sizes: tuple[int, ...]

    @classmethod
    def fit(cls, real: pd.DataFrame, bins: int = 32, max_categories: int = MAX_CATEGORIES) -> "Binning":
        if bins < 2 or max_categories < 1:
            raise InputError(f"bins must be at least 2 and max_categories at least 1, got {bins}, {max_categories}")
        names, numeric, edges, cats, sizes = [], [], [], [], []
        for col in real.columns:
            s = real[col]
            names.append(str(col))
            if is_numeric_column(s):
                x = s.to_numpy(dtype=float)
                x = x[np.isfinite(x)]
                u = np.unique(x)
                if len(u) <= bins:
                    e = (u[:-1] + u[1:]) / 2.0
                else:
                    e = quantile_edges(x, bins)
                numeric.append(True)
                edges.append(e)
                cats.append(None)
                sizes.append(len(e) + 2)  # bins + missing
            else:
                counts = pd.Series(categorical_strings(s)).value_counts()
                c = np.array(sorted(counts.index[:max_categories]), dtype=object)
                numeric.append(False)
                edges.append(None)
                cats.append(c)
                sizes.append(len(c) + 2)  # categories + other + missing
        return cls(tuple(names), tuple(numeric), tuple(edges), tuple(cats), tuple(sizes))

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        """Codes of ``df`` (columns in ``self.names`` order), shape (n, d), int64."""
        codes = np.empty((len(df), len(self.names)), dtype=np.int64)
        for j, col in enumerate(self.names):
            size = self.sizes[j]
            if self.numeric[j]:
                x = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
                c = np.searchsorted(self.edges[j], x, side="right")
                c[~np.isfinite(x)] = size - 1
            else:
                v = categorical_strings(df[col])
                c = pd.Index(self.categories[j]).get_indexer(v).astype(np.int64)
                c[c < 0] = size - 2  # other
                c[pd.isna(v)] = size - 1
            codes[:, j] = c
        return codes


def quantile_edges(x: np.ndarray, bins: int) -> np.ndarray:
    """Interior edges of ``bins`` quantile bins of ``x`` (cells are ``[edge, next edge)``). A value
    that fills a whole quantile step (it repeats among the quantiles, like the zeros of a
    zero-inflated column) gets a cell of its own, so moving its mass shows in the TVD."""
    q = np.quantile(x, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    heavy = np.unique(q[1:][q[1:] == q[:-1]])
    return np.unique(np.concatenate([q, np.nextafter(heavy, np.inf)]))


def _encode_pair(real: pd.DataFrame, synth: pd.DataFrame, schema: Any,
                 bins: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[int, ...], str]:
    if schema is None:
        binning = Binning.fit(real, bins)
        how = f"read off the REAL table (at most {bins} quantile bins and {MAX_CATEGORIES} categories per column)"
        return binning.encode(real), binning.encode(synth), binning.names, binning.sizes, how
    a, b = schema.encode(real), schema.encode(synth)
    return (np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64), tuple(schema.names),
            tuple(int(s) for s in schema.sizes), "from the schema")


def load_schema(schema: Any) -> Any:
    """A :class:`dpsynth.domain.Schema` from a path, a dict or a Schema (None passes through)."""
    if schema is None:
        return None
    from dpsynth.domain import Schema

    return schema if isinstance(schema, Schema) else Schema.from_json(schema)


# ---------------------------------------------------------------------------
# Fidelity
# ---------------------------------------------------------------------------

def _tvds(a: np.ndarray, b: np.ndarray, names: Sequence[str], sizes: Sequence[int],
          attr_sets: list[tuple[int, ...]]) -> tuple[list[float], list, list]:
    """TVD of each marginal in ``attr_sets`` and the counts behind it (bincount on mixed-radix codes)."""
    for attrs in attr_sets:
        cells = math.prod(int(sizes[k]) for k in attrs)
        if cells > _MAX_DENSE_CELLS:
            raise InputError(f"the marginal on columns {[names[k] for k in attrs]} has {cells:,} cells; "
                             "pass a schema with coarser bins or fewer categories")
    ca, cb = count_marginals(a, sizes, attr_sets), count_marginals(b, sizes, attr_sets)
    na, nb = len(a), len(b)
    return [0.5 * float(np.abs(x / na - y / nb).sum()) for x, y in zip(ca, cb)], ca, cb


def _cramers_v(counts: np.ndarray, shape: tuple[int, int]) -> float:
    """Cramér's V of a 2-way contingency table (empty rows/columns dropped)."""
    t = counts.reshape(shape).astype(float)
    t = t[t.sum(1) > 0][:, t.sum(0) > 0]
    n = t.sum()
    k = min(t.shape) - 1
    if n == 0 or k < 1:
        return float("nan")
    expected = np.outer(t.sum(1), t.sum(0)) / n
    chi2 = float(((t - expected) ** 2 / expected).sum())
    return math.sqrt(min(chi2 / (n * k), 1.0))


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _order_summary(entries: list[dict], n_worst: int) -> dict:
    values = np.array([e["tvd"] for e in entries], dtype=float)
    worst = sorted(entries, key=lambda e: -e["tvd"])[:n_worst]
    return {
        "n": len(entries),
        "mean": float(values.mean()) if len(values) else None,
        "median": float(np.median(values)) if len(values) else None,
        "max": float(values.max()) if len(values) else None,
        "worst": worst,
    }


def _floats(x: pd.Series) -> np.ndarray:
    return pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)


def _numeric_summary(x: pd.Series) -> dict:
    v = _floats(x)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": None, "std": None, **{k: None for k, _ in _QUANTILES}}
    qs = np.quantile(v, [q for _, q in _QUANTILES])
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            **{k: float(val) for (k, _), val in zip(_QUANTILES, qs)}}


def _ks_statistic(x: np.ndarray, y: np.ndarray) -> float | None:
    """Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs."""
    if len(x) == 0 or len(y) == 0:
        return None
    x, y = np.sort(x), np.sort(y)
    grid = np.concatenate([x, y])
    fx = np.searchsorted(x, grid, side="right") / len(x)
    fy = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.abs(fx - fy).max())


def _column_summary(col: str, r: pd.Series, s: pd.Series, numeric: bool, tvd: float, top: int) -> dict:
    out: dict[str, Any] = {
        "column": col,
        "kind": "numeric" if numeric else "categorical",
        "tvd": tvd,
        "missing_real": float(r.isna().mean()),
        "missing_synth": float(s.isna().mean()) if len(s) else None,
    }
    if numeric:
        rv, sv = _floats(r), _floats(s)
        out["ks"] = _ks_statistic(rv[np.isfinite(rv)], sv[np.isfinite(sv)])
        out["real"], out["synth"] = _numeric_summary(r), _numeric_summary(s)
    else:
        rv, sv = pd.Series(categorical_strings(r)), pd.Series(categorical_strings(s))
        rf = rv.value_counts() / max(len(rv), 1)  # shares of all rows, missing included
        sf = sv.value_counts() / max(len(sv), 1)
        unseen = ~sv.dropna().isin(set(rf.index))
        out["n_categories_real"] = int(len(rf))
        out["n_categories_synth"] = int(len(sf))
        out["unseen_in_real_rate"] = float(unseen.sum() / max(len(sv), 1))
        out["top"] = [{"value": str(v), "real": float(rf[v]), "synth": float(sf.get(v, 0.0))} for v in rf.index[:top]]
    return out


def _read_as_categories(real: pd.Series, synth: pd.Series) -> str | None:
    """Why a column SYNTH holds as numbers is compared as categories, when REAL's
    non-numeric values decided it (bins are read off REAL without a schema)."""
    if is_numeric_column(real) or not is_numeric_column(synth):
        return None
    stray = real[pd.to_numeric(real, errors="coerce").isna() & real.notna()]
    if stray.empty or len(stray) == real.notna().sum():
        return None
    return (f"compared as categories: REAL holds {len(stray)} non-numeric value(s) such as {stray.iloc[0]!r} "
            "beside numbers, and SYNTH holds numbers; fix REAL or pass --schema to bin the column as numbers")


def fidelity(real: pd.DataFrame, synth: pd.DataFrame, schema: Any = None, *, n_three_way: int = 200,
             bins: int = 32, seed: int = 0, n_worst: int = 10, n_top_categories: int = 10) -> dict:
    """Marginal TVDs, association-matrix difference and per-column summaries.

    TVD of a marginal = half the L1 distance between the real and synthetic
    cell frequencies (0 = identical, 1 = disjoint). All 1- and 2-way marginals
    are measured, and ``n_three_way`` 3-way marginals drawn with ``seed``
    (all of them when there are fewer). The association matrix holds Pearson's
    r for numeric pairs (raw values, pairwise complete) and Cramér's V on the
    binned codes for every other pair.
    """
    schema = load_schema(schema)
    as_text = {} if schema is not None else {
        str(c): _read_as_categories(real[c], synth[c]) for c in real.columns if c in synth.columns}
    synth = align_tables(real, {"SYNTH": synth})["SYNTH"]
    empty = [name for name, t in (("REAL", real), ("SYNTH", synth)) if len(t) == 0]
    if empty:
        raise InputError(f"{' and '.join(empty)} has no rows; "
                         "fidelity compares the frequencies of two non-empty tables")
    a, b, names, sizes, binning = _encode_pair(real, synth, schema, bins)
    d = len(names)
    if schema is None:
        numeric = [is_numeric_column(real[c]) for c in names]
    else:
        numeric = [schema[c].kind == "numeric" for c in names]

    pairs = list(itertools.combinations(range(d), 2))
    triples = list(itertools.combinations(range(d), 3))
    if len(triples) > n_three_way:
        rng = np.random.default_rng(seed)
        triples = [triples[k] for k in np.sort(rng.choice(len(triples), size=n_three_way, replace=False))]
    singles = [(j,) for j in range(d)]
    tvd, ca, cb = _tvds(a, b, names, sizes, singles + pairs + triples)
    entries = [{"columns": [names[k] for k in attrs], "tvd": t} for attrs, t in zip(singles + pairs + triples, tvd)]
    one, two, three = entries[:d], entries[d:d + len(pairs)], entries[d + len(pairs):]

    real_assoc = np.eye(d)
    synth_assoc = np.eye(d)
    for k, (i, j) in enumerate(pairs):
        if numeric[i] and numeric[j]:
            real_assoc[i, j] = _pearson(real[names[i]], real[names[j]])
            synth_assoc[i, j] = _pearson(synth[names[i]], synth[names[j]])
        else:
            real_assoc[i, j] = _cramers_v(ca[d + k], (sizes[i], sizes[j]))
            synth_assoc[i, j] = _cramers_v(cb[d + k], (sizes[i], sizes[j]))
        real_assoc[j, i], synth_assoc[j, i] = real_assoc[i, j], synth_assoc[i, j]

    diff = np.abs(real_assoc - synth_assoc)
    iu = np.triu_indices(d, 1)
    finite = np.isfinite(diff[iu])
    worst_pairs = sorted(
        ({"columns": [names[i], names[j]], "real": float(real_assoc[i, j]), "synth": float(synth_assoc[i, j]),
          "abs_diff": float(diff[i, j])} for i, j in zip(*iu) if np.isfinite(diff[i, j])),
        key=lambda e: -e["abs_diff"],
    )[:n_worst]

    def matrix(m: np.ndarray) -> list[list[float | None]]:
        return [[_nan_to_none(v) for v in row] for row in m]

    columns = [
        _column_summary(c, real[c], synth[c], numeric[k], one[k]["tvd"], n_top_categories)
        for k, c in enumerate(names)
    ]
    for entry in columns:
        if as_text.get(entry["column"]):
            entry["note"] = as_text[entry["column"]]
    return {
        "n_real": int(len(real)),
        "n_synth": int(len(synth)),
        "binning": binning,
        "tvd": {
            "1": _order_summary(one, n_worst),
            "2": _order_summary(two, n_worst),
            "3": {**_order_summary(three, n_worst), "sampled_from": math.comb(d, 3), "seed": seed},
        },
        "marginals": {"1": one, "2": two, "3": three},
        "association": {
            "method": "Pearson r for numeric pairs (raw values); Cramér's V on binned codes for every other pair",
            "columns": list(names),
            "real": matrix(real_assoc),
            "synth": matrix(synth_assoc),
            "abs_diff": matrix(diff),
            "mean_abs_diff": float(diff[iu][finite].mean()) if finite.any() else None,
            "max_abs_diff": float(diff[iu][finite].max()) if finite.any() else None,
            "worst": worst_pairs,
        },
        "columns": columns,
    }


def _pearson(x: pd.Series, y: pd.Series) -> float:
    u, v = _floats(x), _floats(y)
    ok = np.isfinite(u) & np.isfinite(v)
    u, v = u[ok], v[ok]
    if len(u) < 2 or u.std() == 0 or v.std() == 0:
        return float("nan")
    return float(np.corrcoef(u, v)[0, 1])


# ---------------------------------------------------------------------------
# Utility: train-synthetic-test-real
# ---------------------------------------------------------------------------

def _require_sklearn() -> None:
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(f"utility evaluation needs scikit-learn: pip install 'dpsynth[report]' ({exc})") from exc


def default_targets(real: pd.DataFrame, max_targets: int = 3) -> list[str]:
    """The categorical columns with the fewest classes (at least 2), ties in column order;
    none for a one-column table (nothing to predict a target from)."""
    if real.shape[1] < 2:
        return []
    cands = []
    for k, col in enumerate(real.columns):
        if not is_numeric_column(real[col]):
            n = real[col].nunique(dropna=True)
            if n >= 2:
                cands.append((n, k, str(col)))
    return [c for _, _, c in sorted(cands)[:max_targets]]


def check_targets(real: pd.DataFrame, targets: Sequence[str] | None, max_targets: int = 3,
                  max_classes: int = MAX_CLASSES) -> list[str]:
    """The TSTR targets: ``targets`` checked against REAL's columns (a numeric one may have at
    most ``max_classes`` values), or :func:`default_targets`."""
    if targets is None:
        return default_targets(real, max_targets)
    cols = [str(c) for c in real.columns]
    unknown = [t for t in targets if t not in cols]
    if unknown:
        raise InputError(f"unknown target column(s) {unknown}; the columns are {cols}")
    if targets and len(cols) < 2:
        raise InputError(f"target column(s) {list(targets)}: the table has no other column to predict them from")
    by_name = {str(c): c for c in real.columns}
    for t in targets:
        if is_numeric_column(real[by_name[t]]):
            _target_labels(real[by_name[t]], True, t, max_classes)
    return list(targets)


def _target_labels(series: pd.Series, numeric: bool, col: str, max_classes: int) -> np.ndarray:
    """Class labels (missing as NaN); a numeric target is compared as float in every table."""
    if not numeric:
        return categorical_strings(series)
    n = series.nunique(dropna=True)
    if n > max_classes:
        raise InputError(
            f"target column {col!r} is numeric with {n} distinct values; TSTR here is classification: "
            f"choose a categorical column or one with at most {max_classes} values"
        )
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def _make_model(name: str, seed: int, numeric_cols: list[str], categorical_cols: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
         numeric_cols),
        ("cat", OneHotEncoder(handle_unknown="ignore", max_categories=50, sparse_output=False), categorical_cols),
    ])
    if name == "logistic_regression":
        est = LogisticRegression(max_iter=500)
    elif name == "gradient_boosting":
        est = HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    elif name == "random_forest":
        est = RandomForestClassifier(n_estimators=50, max_depth=12, min_samples_leaf=2, n_jobs=1, random_state=seed)
    else:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return make_pipeline(pre, est)


def _features(df: pd.DataFrame, target: str, numeric: dict[str, bool]) -> pd.DataFrame:
    X = df.drop(columns=[target])
    out = {}
    for c in X.columns:
        if numeric[c]:
            out[c] = pd.to_numeric(X[c], errors="coerce").astype(float)
        else:
            v = categorical_strings(X[c])
            out[c] = np.where(pd.isna(v), _MISSING, v).astype(object)
    return pd.DataFrame(out, index=X.index)


def _scores(model, X_test: pd.DataFrame, y_test: np.ndarray, classes: np.ndarray, constant: str | None) -> dict:
    """Accuracy and AUC (binary; macro one-vs-rest over the test classes otherwise)."""
    from sklearn.metrics import roc_auc_score

    if constant is not None:
        pred = np.full(len(y_test), constant, dtype=object)
        proba = (classes[None, :] == constant).astype(float).repeat(len(y_test), 0)
    else:
        pred = model.predict(X_test)
        p = model.predict_proba(X_test)
        col = {c: k for k, c in enumerate(model.classes_)}
        proba = np.zeros((len(y_test), len(classes)))
        for k, c in enumerate(classes):
            if c in col:
                proba[:, k] = p[:, col[c]]
    acc = float(np.mean(pred == y_test))
    present = [k for k, c in enumerate(classes) if 0 < np.sum(y_test == c) < len(y_test)]
    if len(present) == 0:
        auc = None
    elif len(classes) == 2:
        auc = float(roc_auc_score(y_test == classes[1], proba[:, 1]))
    else:
        auc = float(np.mean([roc_auc_score(y_test == classes[k], proba[:, k]) for k in present]))
    return {"auc": auc, "accuracy": acc}


def _fit_score(name: str, seed: int, X: pd.DataFrame, y: np.ndarray, X_test, y_test, classes,
               num_cols, cat_cols) -> dict:
    labels = np.unique(y)
    if len(labels) < 2:
        return {**_scores(None, X_test, y_test, classes, labels[0] if len(labels) else classes[0]),
                "note": "training data has a single class; scores are those of predicting it"}
    model = _make_model(name, seed, num_cols, cat_cols).fit(X, y)
    return _scores(model, X_test, y_test, classes, None)


def _subsample(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(df) <= n:
        return df
    return df.iloc[np.sort(rng.choice(len(df), size=n, replace=False))]


def _spearman(x: Sequence[float | None], y: Sequence[float | None]) -> float | None:
    from scipy.stats import spearmanr

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 2:
        return None
    u, v = zip(*pairs)
    if len(set(u)) < 2 or len(set(v)) < 2:
        return None
    return _nan_to_none(float(spearmanr(u, v).statistic))


def utility(real: pd.DataFrame, synth: pd.DataFrame, targets: Sequence[str] | None = None, *,
            holdout: pd.DataFrame | None = None, max_targets: int = 3, max_train_rows: int = 20_000,
            max_test_rows: int = 20_000, test_fraction: float = 0.3, max_classes: int = MAX_CLASSES,
            models: Sequence[str] = MODELS, seed: int = 0, n_threads: int | None = 1) -> dict:
    """Train-synthetic-test-real beside train-real-test-real, per target column.

    The real test rows are ``holdout`` when given, otherwise a seeded
    ``test_fraction`` split of REAL (the rest is the real training set). If the
    synthesizer saw all of REAL, that split was seen too and TSTR is optimistic:
    pass a holdout the synthesizer never saw for a clean comparison. Training
    sets are subsampled to ``max_train_rows``. Scores: accuracy and AUC
    (macro one-vs-rest for more than two classes); rows with a missing target
    are dropped. ``ranking_consistency`` is the Spearman correlation between the
    models' TRTR and TSTR AUCs (None when undefined, e.g. ties). ``n_threads``
    caps the BLAS/OpenMP threads while fitting (:func:`limit_threads`).
    """
    _require_sklearn()
    with limit_threads(n_threads):
        return _utility(real, synth, targets, holdout, max_targets, max_train_rows, max_test_rows,
                        test_fraction, max_classes, models, seed)


def _utility(real, synth, targets, holdout, max_targets, max_train_rows, max_test_rows, test_fraction,
             max_classes, models, seed) -> dict:
    others = {"SYNTH": synth} if holdout is None else {"SYNTH": synth, "HOLDOUT": holdout}
    aligned = align_tables(real, others)
    synth = aligned["SYNTH"]
    cols = [str(c) for c in real.columns]
    real = real.set_axis(cols, axis=1)
    targets = check_targets(real, targets, max_targets, max_classes)
    for m in models:
        if m not in MODELS:
            raise InputError(f"unknown model {m!r}; choose from {', '.join(MODELS)}")
    rng = np.random.default_rng(seed)
    if holdout is None:
        if not 0 < test_fraction < 1:
            raise InputError(f"test_fraction must be in (0, 1), got {test_fraction}")
        perm = rng.permutation(len(real))
        n_test = max(1, int(round(test_fraction * len(real))))
        real_test, real_train = real.iloc[np.sort(perm[:n_test])], real.iloc[np.sort(perm[n_test:])]
        test_desc = f"seeded {test_fraction:.0%} split of REAL (TSTR is optimistic if the synthesizer saw it)"
    else:
        real_test, real_train = aligned["HOLDOUT"], real
        test_desc = "HOLDOUT table"
    real_train = _subsample(real_train, max_train_rows, rng)
    synth_train = _subsample(synth, max_train_rows, rng)
    real_test = _subsample(real_test, max_test_rows, rng)
    numeric = {c: is_numeric_column(real[c]) for c in cols}

    results = []
    for t in targets:
        y_all = {k: _target_labels(df[t], numeric[t], t, max_classes) for k, df in
                 (("train", real_train), ("synth", synth_train), ("test", real_test))}
        keep = {k: ~pd.isna(v) for k, v in y_all.items()}
        frames = {"train": real_train, "synth": synth_train, "test": real_test}
        X = {k: _features(frames[k][keep[k]], t, numeric) for k in frames}
        y = {k: y_all[k][keep[k]].astype(str) for k in frames}
        if len(y["test"]) == 0 or len(y["synth"]) == 0 or len(y["train"]) == 0:
            raise InputError(f"target column {t!r} is missing in every row of one table; choose another target")
        classes = np.array(sorted(set(y["train"]) | set(y["test"])), dtype=object)
        num_cols = [c for c in X["test"].columns if numeric[c]]
        cat_cols = [c for c in X["test"].columns if not numeric[c]]
        rows = []
        for m in models:
            trtr = _fit_score(m, seed, X["train"], y["train"], X["test"], y["test"], classes, num_cols, cat_cols)
            tstr = _fit_score(m, seed, X["synth"], y["synth"], X["test"], y["test"], classes, num_cols, cat_cols)
            rows.append({"model": m, "trtr": trtr, "tstr": tstr})
        results.append({
            "target": t,
            "n_classes": int(len(classes)),
            "classes_missing_in_synth": sorted(set(y["test"]) - set(y["synth"])),
            "n_train_real": int(len(y["train"])),
            "n_train_synth": int(len(y["synth"])),
            "n_test": int(len(y["test"])),
            "models": rows,
            "ranking_consistency": _spearman([r["trtr"]["auc"] for r in rows], [r["tstr"]["auc"] for r in rows]),
        })
    rc = [r["ranking_consistency"] for r in results if r["ranking_consistency"] is not None]
    return {
        "test_set": test_desc,
        "metric": "auc (binary; macro one-vs-rest for multiclass) and accuracy",
        "ranking_metric": "Spearman correlation of the models' TRTR vs TSTR AUC",
        "seed": seed,
        "targets": results,
        "ranking_consistency": float(np.mean(rc)) if rc else None,
    }


# ---------------------------------------------------------------------------
# Both, and the human-readable rendering
# ---------------------------------------------------------------------------

def evaluate(real: pd.DataFrame, synth: pd.DataFrame, schema: Any = None, targets: Sequence[str] | None = None, *,
             holdout: pd.DataFrame | None = None, run_utility: bool = True, n_three_way: int = 200,
             max_train_rows: int = 20_000, seed: int = 0) -> dict:
    """Fidelity and (unless ``run_utility`` is false) utility, as one JSON-ready dict.

    Computed on the real data without DP: for internal review, not for publication.
    """
    if run_utility:
        _require_sklearn()
        targets = check_targets(real, targets)
    result = {
        "note": "computed on the real data without differential privacy: for internal review, not for publication",
        "fidelity": fidelity(real, synth, schema, n_three_way=n_three_way, seed=seed),
        "utility": None,
    }
    if run_utility:
        result["utility"] = utility(real, synth, targets, holdout=holdout, max_train_rows=max_train_rows, seed=seed)
    return result


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def format_evaluation(result: dict) -> str:
    """A short plain-text summary of :func:`evaluate`'s result."""
    f = result["fidelity"]
    lines = [f"Real rows: {f['n_real']}, synthetic rows: {f['n_synth']} (bins {f['binning']})",
             "Note: " + result["note"], "", "Marginal TVD (0 = identical, 1 = disjoint):"]
    for k in ("1", "2", "3"):
        s = f["tvd"][k]
        extra = f" (sampled {s['n']} of {s['sampled_from']})" if k == "3" else f" ({s['n']} marginals)"
        lines.append(f"  {k}-way: mean {_fmt(s['mean'])}  max {_fmt(s['max'])}{extra}")
    worst = f["tvd"]["2"]["worst"][:3]
    if worst:
        lines.append("  worst pairs: " + ", ".join(f"{'/'.join(w['columns'])} {w['tvd']:.3f}" for w in worst))
    a = f["association"]
    lines += ["", f"Association difference ({a['method']}): "
                  f"mean {_fmt(a['mean_abs_diff'])}, max {_fmt(a['max_abs_diff'])}"]
    lines += ["", "Columns (TVD; numeric: KS, real vs synth mean; categorical: unseen-category rate):"]
    for c in f["columns"]:
        if c["kind"] == "numeric":
            extra = f"KS {_fmt(c['ks'])}, mean {_fmt(c['real']['mean'], 4)} vs {_fmt(c['synth']['mean'], 4)}"
        else:
            extra = (f"{c['n_categories_real']} vs {c['n_categories_synth']} categories, "
                     f"unseen {_fmt(c['unseen_in_real_rate'])}")
        lines.append(f"  {c['column']}: TVD {_fmt(c['tvd'])}, {extra}, "
                     f"missing {_fmt(c['missing_real'])} vs {_fmt(c['missing_synth'])}")
        if c.get("note"):
            lines.append(f"    note: {c['note']}")
    u = result.get("utility")
    if u:
        lines += ["", f"Utility (train on synthetic / train on real, tested on the {u['test_set']}):"]
        for t in u["targets"]:
            lines.append(f"  target {t['target']} ({t['n_classes']} classes, {t['n_test']} test rows), "
                         f"ranking consistency {_fmt(t['ranking_consistency'], 2)}:")
            for r in t["models"]:
                lines.append(f"    {r['model']:<20} AUC {_fmt(r['tstr']['auc'])} / {_fmt(r['trtr']['auc'])}   "
                             f"accuracy {_fmt(r['tstr']['accuracy'])} / {_fmt(r['trtr']['accuracy'])}")
        lines.append(f"  mean ranking consistency: {_fmt(u['ranking_consistency'], 2)}")
    return "\n".join(lines)
