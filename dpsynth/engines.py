"""Counting engines: exact marginal counts of the private rows from memory, files or Spark.

Everything a synthesizer learns about the data goes through one small
interface (see :class:`dpsynth.data.MemoryCounter`):

* ``counts(list_of_attrs) -> list[np.ndarray]``: exact marginals over column
  indices, flat int64 in C order, in the order asked (``()`` gives ``[n]``);
  every marginal of one call is counted in one pass over the rows;
* ``mapped(tables, sizes)``: the same engine over a coarser domain (column
  ``j``'s code ``c`` becomes ``tables[j][c]``), used after domain compression;
* ``sizes``: cells per column, equal to the schema's.

Engines:

* ``memory`` -- :class:`dpsynth.data.MemoryCounter` on the whole encoded table.
* ``file`` -- :class:`FileCounter`: a Parquet file, a directory of Parquet
  files or a CSV, read in batches with pyarrow and encoded per batch with
  :meth:`dpsynth.domain.Schema.encode`, so peak memory is bounded by the batch
  size and the counts, not by the file. The first pass caches the codes (one
  byte per cell for most schemas) in a private temporary file, and later passes
  read that instead of re-parsing the source.
* ``spark`` -- :class:`SparkCounter`: the encoding is pushed down as Spark
  expressions (a literal map per categorical column, ``Bucketizer`` for bins),
  the encoded columns are persisted, and each partition counts every requested
  marginal with ``np.bincount`` (``mapInArrow``); the driver sums the partial
  count vectors (a grouped aggregation with a map-side combine).

The counts are private: only a mechanism may release them. The engines return
identical counts for the same data (tests/test_engines.py).
"""
from __future__ import annotations

import functools
import math
import os
import re
import sys
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from dpsynth.data import MemoryCounter
from dpsynth.domain import (
    CSV_FALSE_VALUES,
    CSV_TRUE_VALUES,
    Categorical,
    Datetime,
    Numeric,
    Schema,
    value_type,
)
from dpsynth.errors import InputError

__all__ = ["ENGINES", "AUTO_FILE_BYTES", "DEFAULT_BATCH_ROWS", "MemoryCounter", "FileCounter", "SparkCounter",
           "open_counter", "choose_engine", "check_counter", "spark_session"]

ENGINES = ("auto", "memory", "file", "spark")
#: ``engine="auto"`` uses the file engine for sources larger than this (bytes on disk).
AUTO_FILE_BYTES = 256 * 2**20
#: Rows encoded (and counted) per batch by the file engine.
DEFAULT_BATCH_ROWS = 1_000_000
#: pandas.read_csv's default missing-value strings: CSV sources read the same in every engine.
CSV_NA_VALUES = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                 "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
_PARQUET_SUFFIXES = (".parquet", ".pq")


# ----------------------------------------------------------------------------- helpers

def _source_path(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; pass the path of a CSV or Parquet file (or a directory of Parquet files)")
    return p


def _is_parquet(p: Path) -> bool:
    return p.is_dir() or p.suffix.lower() in _PARQUET_SUFFIXES


def _source_bytes(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def _require_complete(schema: Schema) -> None:
    if schema.learnable:
        raise InputError(f"the schema leaves column(s) {', '.join(map(repr, schema.learnable))} to be learned "
                         f"with DP, which needs the data as a DataFrame: pass a DataFrame (CLI: --engine memory) "
                         f"or write the domain out in the schema")


def check_counter(counter: Any, schema: Schema) -> None:
    """Check that ``counter`` is a counting engine over ``schema`` and read it once.

    The schema must be complete (columns to be learned with DP need the
    DataFrame). Counting the rows reads and encodes every record, so bad data
    fails here, before a synthesizer reserves any budget. InputError otherwise.
    """
    _require_complete(schema)
    if not (callable(getattr(counter, "counts", None)) and callable(getattr(counter, "mapped", None))):
        raise InputError(f"fit needs a pandas DataFrame or a counting engine (dpsynth.engines), "
                         f"got {type(counter).__name__}")
    sizes = tuple(int(s) for s in getattr(counter, "sizes", schema.sizes))
    if sizes != schema.sizes:
        raise InputError(f"the counting engine was built for a domain of sizes {sizes}, but the schema's sizes "
                         f"are {schema.sizes}; build the engine with the same schema")
    counter.counts([()])   # an empty table counts as zeros: refusing it would tell {} from {x}


def _block_counts(block: np.ndarray, sizes: Sequence[int], wanted: Sequence[Sequence[int]],
                  tables: Sequence[np.ndarray] | None, mapped_sizes: Sequence[int]) -> list[np.ndarray]:
    """Counts of one block of codes: the in-memory engine, mapped first when ``tables`` are given."""
    counter = MemoryCounter(block, sizes)
    if tables is not None:
        counter = counter.mapped(tables, mapped_sizes)
    return counter.counts(wanted)


def _compose(old: Sequence[np.ndarray] | None, new: Sequence[np.ndarray]) -> list[np.ndarray]:
    new = [np.asarray(t) for t in new]
    return new if old is None else [t[o] for t, o in zip(new, old)]


class _BlockCounter:
    """Shared part of the file and Spark engines: sum per-block counts, apply lookup tables."""

    sizes: tuple[int, ...]
    _source_sizes: tuple[int, ...]
    _tables: list[np.ndarray] | None

    def _sum(self, parts: Iterable[list[np.ndarray]], wanted: list[tuple[int, ...]]) -> list[np.ndarray]:
        totals = [np.zeros(math.prod(self.sizes[a] for a in attrs), dtype=np.int64) for attrs in wanted]
        for part in parts:
            for total, part_counts in zip(totals, part):
                total += part_counts
        return totals

    def _wanted(self, list_of_attrs: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
        wanted = [tuple(int(a) for a in attrs) for attrs in list_of_attrs]
        MemoryCounter(np.zeros((0, len(self.sizes)), dtype=np.uint8), self.sizes).counts(wanted)  # validates
        return wanted

    def mapped(self, tables: Sequence[np.ndarray], sizes: Sequence[int]):
        """The same engine over a coarser domain (shares the source, its cache or persisted codes)."""
        sizes = tuple(int(s) for s in sizes)
        if len(tables) != len(self.sizes) or len(sizes) != len(self.sizes):
            raise InputError(f"mapped needs one lookup table and one size per column ({len(self.sizes)})")
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        out._tables = _compose(self._tables, tables)
        out.sizes = sizes
        return out


# ----------------------------------------------------------------------------- file engine

class FileCounter(_BlockCounter):
    """Counts marginals of a Parquet file / directory or a CSV, batch by batch.

    Parameters
    ----------
    path:
        A CSV (optionally compressed, e.g. ``.csv.gz``), a ``.parquet``/``.pq``
        file, or a directory of Parquet files.
    schema:
        The complete public schema; each batch goes through ``schema.encode``.
    batch_rows:
        Rows per batch. Peak memory is about ``batch_rows`` times the decoded
        row size (string columns are read dictionary-encoded), plus the counts.
    cache:
        Keep the encoded codes in a temporary file (mode 0600, in ``cache_dir``
        or the system temporary directory; ``d`` bytes per row for schemas with
        at most 256 cells per column) so later passes skip parsing. It holds
        private data: it is deleted by :meth:`close`, on garbage collection and
        at interpreter exit.
    """

    def __init__(self, path: str | os.PathLike, schema: Schema, *, batch_rows: int = DEFAULT_BATCH_ROWS,
                 cache: bool = True, cache_dir: str | os.PathLike | None = None):
        if int(batch_rows) < 1:
            raise InputError(f"batch_rows must be >= 1, got {batch_rows}")
        self.path = _source_path(path)
        self.schema = schema
        self.sizes = schema.sizes  # InputError while columns are to be learned
        self._source_sizes = self.sizes
        self._tables = None
        self._source = _EncodedSource(self.path, schema, int(batch_rows), bool(cache), cache_dir)

    @property
    def n_rows(self) -> int | None:
        """Rows read so far in a complete pass (None before the first pass)."""
        return self._source.n_rows

    def counts(self, list_of_attrs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Exact counts of every marginal asked, in one pass over the rows."""
        wanted = self._wanted(list_of_attrs)
        parts = (_block_counts(block, self._source_sizes, wanted, self._tables, self.sizes)
                 for block in self._source.blocks())
        return self._sum(parts, wanted)

    def close(self) -> None:
        """Delete the cached codes (the counter can still count, re-reading the source)."""
        self._source.close()

    def __enter__(self) -> "FileCounter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _EncodedSource:
    """The rows of one file as blocks of codes; cached after the first complete pass."""

    def __init__(self, path: Path, schema: Schema, batch_rows: int, cache: bool,
                 cache_dir: str | os.PathLike | None):
        self.path, self.schema, self.batch_rows = path, schema, batch_rows
        self.dtype = schema.code_dtype
        self.cache, self.cache_dir = cache, cache_dir
        self.n_rows: int | None = None
        self._cache_file: IO[bytes] | None = None
        self._block_rows: list[int] = []
        self._finalizer: weakref.finalize | None = None
        self._header: list[str] | None = None  # CSV column names, for error messages

    # -- reading the source ------------------------------------------------------------
    def _batches(self) -> Iterator[pd.DataFrame]:
        """The source as DataFrames of about ``batch_rows`` rows (text columns as pandas categoricals)."""
        try:
            import pyarrow as pa
        except ImportError as exc:
            raise InputError(f"the file engine needs pyarrow: pip install 'dpsynth[files]' ({exc})") from exc
        reader = self._parquet_batches() if _is_parquet(self.path) else self._csv_batches()
        pending: list = []
        rows = 0
        try:
            for batch in reader:
                pending.append(batch)
                rows += batch.num_rows
                if rows >= self.batch_rows:
                    yield self._to_pandas(pa.Table.from_batches(pending))
                    pending, rows = [], 0
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise InputError(f"{self.path}: cannot read table: {self._explain(exc)}") from None
        if pending and rows:
            yield self._to_pandas(pa.Table.from_batches(pending))

    def _explain(self, exc: Exception) -> str:
        """pyarrow's first line, with the CSV column number replaced by the column's name."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        found = re.match(r"In CSV column #(\d+): (.*)", first)
        if found and self._header is not None and int(found.group(1)) < len(self._header):
            name = self._header[int(found.group(1))]
            kind = self.schema[name].kind if name in self.schema.names else "?"
            return (f"column {name!r}: {found.group(2)}; the schema says {kind}: fix the data "
                    f"or change the column's kind")
        return first

    def _to_pandas(self, table: Any) -> pd.DataFrame:
        """Categorical columns dictionary-encoded (pandas categoricals), so ``encode`` looks up
        each distinct value once instead of once per row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        for column in self.schema.columns:
            i = table.schema.get_field_index(column.name)
            if isinstance(column, Categorical) and i >= 0 and not pa.types.is_dictionary(table.schema.field(i).type):
                table = table.set_column(i, column.name, pc.dictionary_encode(table.column(i)))
        # pandas' own dtypes would not take dictionaries; its stored index is not data (as in read_parquet)
        index = [c for c in (table.schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)]
        return self.schema.read_text(table.drop_columns(index).to_pandas(ignore_metadata=True))

    def _parquet_batches(self) -> Iterator:
        import pyarrow as pa
        import pyarrow.dataset as ds

        try:
            dataset = ds.dataset(self.path, format="parquet", partitioning="hive")  # as pandas.read_parquet
            text = [f.name for f in dataset.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
            fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=text))
            dataset = ds.dataset(self.path, format=fmt, partitioning="hive")
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"{self.path}: cannot read Parquet: {str(exc).strip().splitlines()[0]}") from None
        # One batch and one file read ahead: memory stays at about two batches.
        yield from dataset.to_batches(batch_size=self.batch_rows, batch_readahead=1, fragment_readahead=1)

    def _csv_batches(self) -> Iterator:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        text = pa.dictionary(pa.int32(), pa.string())  # categories: read as text, then as their type (read_text)
        types = {"string": text, "double": pa.float64()}
        convert = pacsv.ConvertOptions(
            column_types={c.name: text if isinstance(c, Categorical) else types[value_type(c)]
                          for c in self.schema.columns},
            null_values=list(CSV_NA_VALUES), strings_can_be_null=True)
        try:  # pyarrow's 1 MiB text blocks: larger ones parse slower and read further ahead
            reader = pacsv.open_csv(self.path, convert_options=convert)
        except (pa.ArrowInvalid, OSError) as exc:
            try:  # the header alone, types inferred, to name the column
                options = pacsv.ReadOptions(block_size=1 << 16)
                self._header = pacsv.open_csv(self.path, read_options=options).schema.names
            except (pa.ArrowInvalid, OSError):
                pass
            raise InputError(f"{self.path}: cannot read CSV: {self._explain(exc)}") from None
        self._header = reader.schema.names
        yield from reader

    def _encode_pass(self) -> Iterator[np.ndarray]:
        """Parse and encode the source; blocks are (rows, d), column-major."""
        for frame in self._batches():
            yield np.asfortranarray(self.schema.encode(frame))

    # -- the cache ---------------------------------------------------------------------
    def blocks(self) -> Iterator[np.ndarray]:
        if self._cache_file is not None:
            yield from self._read_cache()
            return
        writer, sizes = None, []
        if self.cache:   # unlinked at once (0600, no name): it cannot outlive the process, even a killed one
            writer = tempfile.TemporaryFile(prefix="dpsynth-codes-", suffix=".bin", dir=self.cache_dir)
            finalizer = weakref.finalize(self, writer.close)
        try:
            n = 0
            for block in self._encode_pass():
                if writer is not None:
                    writer.write(block.T.tobytes(order="C"))  # column-major block: (d, rows)
                sizes.append(block.shape[0])
                n += block.shape[0]
                yield block
        except BaseException:
            if writer is not None:
                writer.close()
                finalizer()
            raise
        self.n_rows = n
        if n == 0:  # counted as zeros: refusing {} would tell it apart from {x} without any charge
            if writer is not None:
                writer.close()
                finalizer()
            return
        if writer is not None:
            writer.flush()
            self._cache_file, self._block_rows, self._finalizer = writer, sizes, finalizer

    def _read_cache(self) -> Iterator[np.ndarray]:
        """The cached blocks, read by offset (``os.preadv``), so passes may interleave."""
        d = len(self.schema.names)
        buffer = np.empty(max(self._block_rows) * d, dtype=self.dtype)
        fd, offset = self._cache_file.fileno(), 0
        for rows in self._block_rows:
            view = buffer[: rows * d]
            if os.preadv(fd, [memoryview(view).cast("B")], offset) != view.nbytes:
                raise InputError("the cached codes were truncated; re-run")
            offset += view.nbytes
            yield view.reshape(d, rows).T

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
        self._cache_file, self._block_rows, self._finalizer = None, [], None


# ----------------------------------------------------------------------------- Spark engine

_ERROR_TAG = "dpsynth-input-error: "


def spark_session(master: str | None = None, config: dict[str, str] | None = None):
    """A SparkSession for counting: ``master`` (default ``$SPARK_MASTER`` or ``local[*]``).

    Sets the session time zone to UTC (datetime bins are wall times) and a large
    Arrow batch. In local mode Python workers run this interpreter.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise InputError(f"the spark engine needs PySpark and Java 17: pip install 'dpsynth[spark]' ({exc})") from exc
    master = master or os.environ.get("SPARK_MASTER") or "local[*]"
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        # split files into more partitions than Spark's 128 MiB default, so every local core works
        config = {"spark.sql.files.maxPartitionBytes": str(16 * 2**20), **(config or {})}
    builder = (SparkSession.builder.master(master).appName("dpsynth")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(DEFAULT_BATCH_ROWS // 4))
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as exc:  # no Java, cannot reach the master, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot start Spark at {master!r}: {first} (the spark engine needs Java 17)") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkCounter(_BlockCounter):
    """Counts marginals with Apache Spark.

    ``source``: a path Spark can read (CSV with a header row, a Parquet file or
    directory; local, ``hdfs://``, ``s3a://``...) or a Spark DataFrame. The
    schema's encoding runs as Spark expressions; the encoded columns are
    persisted (memory and disk) so later passes skip it. Executors need numpy,
    pyarrow and dpsynth installed (docs/scale.md). ``spark``: an existing
    session (the counter then never stops it); otherwise one is started with
    :func:`spark_session` (``master``) and :meth:`close` stops it.
    """

    def __init__(self, source: Any, schema: Schema, *, spark: Any = None, master: str | None = None):
        self.schema = schema
        self.sizes = schema.sizes
        self._source_sizes = self.sizes
        self._tables = None
        self._own_session = spark is None
        if isinstance(source, (str, os.PathLike)):
            path = str(source)
            if "://" not in path:
                _source_path(path)
            self.spark = spark or spark_session(master)
            # local paths as read_table reads them; remote ones: CSV by name (.csv, .csv.gz), else Parquet
            csv = ".csv" in path.rsplit("/", 1)[-1].lower() if "://" in path else not _is_parquet(Path(path))
            reader = self.spark.read
            # a quoted field may span lines; a row with too many or too few fields is an error, as in
            # the other engines (Spark's default splits such a field, and pads or trims such rows)
            frame = (reader.option("multiLine", True).option("mode", "FAILFAST")
                     .csv(path, header=True, inferSchema=False)
                     if csv else reader.parquet(path))
        else:
            if spark is None:
                spark = source.sparkSession
            self.spark, frame, csv = spark, source, False
            self._own_session = False
        if schema_has_datetime(schema) and self.spark.conf.get("spark.sql.session.timeZone") != "UTC":
            raise InputError("the spark engine bins datetimes in UTC: set spark.sql.session.timeZone=UTC")
        schema.encode(pd.DataFrame(columns=list(frame.columns)))  # the same column checks as in memory
        self._encoded = _encode_spark(frame, schema, text_source=csv).persist()

    def counts(self, list_of_attrs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Exact counts of every marginal asked, in one Spark job."""
        wanted = self._wanted(list_of_attrs)
        count = functools.partial(_partition_counts, sizes=self._source_sizes, wanted=wanted,
                                  tables=self._tables, mapped_sizes=self.sizes)
        try:
            with warnings.catch_warnings():  # PySpark's notice about pandas versions; no pandas is used here
                warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
                rows = self._encoded.mapInArrow(count, "counts binary").collect()
        except Exception as exc:
            raise _spark_input_error(exc) from None
        bounds = np.cumsum([0] + [math.prod(self.sizes[a] for a in attrs) for attrs in wanted])
        parts = (np.split(np.frombuffer(r["counts"], dtype=np.int64), bounds[1:-1]) for r in rows)
        return self._sum(parts, wanted)

    def close(self) -> None:
        """Release the persisted codes; stop the session if this counter started it."""
        self._encoded.unpersist()
        if self._own_session:
            self.spark.stop()

    def __enter__(self) -> "SparkCounter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def schema_has_datetime(schema: Schema) -> bool:
    return any(isinstance(c, Datetime) for c in schema.columns)


def _partition_counts(batches: Iterator, *, sizes: Sequence[int], wanted: list[tuple[int, ...]],
                      tables: list[np.ndarray] | None, mapped_sizes: Sequence[int]) -> Iterator:
    """On an executor: every wanted marginal of one partition's codes, as one int64 byte string."""
    import pyarrow as pa

    totals = None
    dtype = _code_dtype(sizes)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        words = [batch.column(i).to_numpy().astype("<i8", copy=False).view(dtype).reshape(batch.num_rows, -1)
                 for i in range(batch.num_columns)]
        block = np.asfortranarray(np.hstack(words)[:, :len(sizes)])
        part = _block_counts(block, sizes, wanted, tables, mapped_sizes)
        totals = part if totals is None else [t + p for t, p in zip(totals, part)]
    if totals is not None:
        flat = np.concatenate(totals) if totals else np.zeros(0, dtype=np.int64)
        yield pa.RecordBatch.from_arrays([pa.array([flat.tobytes()], type=pa.binary())], names=["counts"])


def _code_dtype(sizes: Sequence[int]) -> np.dtype:
    """Codes as unsigned little-endian integers of 1, 2 or 4 bytes, packed into 64-bit words."""
    return np.dtype(np.min_scalar_type(max(max(sizes) - 1, 0))).newbyteorder("<")


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _spark_error(F: Any, message: str, value: Any = None) -> Any:
    """A Spark expression that fails the job with ``message`` (+ the offending value)."""
    text = F.lit(_ERROR_TAG + message)
    if value is not None:
        text = F.concat(text, F.lit(" (e.g. "), value.cast("string"), F.lit(")"))
    return F.raise_error(text)


def _spark_input_error(exc: Exception) -> Exception:
    """An InputError for a job failed by one of our checks; other failures unchanged."""
    text = str(exc)
    if "MALFORMED_CSV_RECORD" in text or "MALFORMED_RECORD_IN_PARSING" in text:
        return InputError("the CSV has a row with more or fewer fields than its header (or an unclosed quote); "
                          "fix the file")
    at = text.find(_ERROR_TAG)
    if at < 0:
        return exc
    message = re.split(r"\n| SQLSTATE", text[at + len(_ERROR_TAG):])[0].strip()
    return InputError(message)


def _spark_category_value(F: Any, T: Any, name: str, source_type: Any, kind: str) -> Any:
    """Column ``name``'s value as its categories' type (``kind``: :func:`value_type`), as
    :func:`dpsynth.domain.read_text` reads it: text spelling a number or boolean (CSV's
    spellings only) is one, other text stays text and finds no category; a typed value keeps
    its type, so it finds only a category of that type (Spark's casts matched 1 to "1" and
    true to 1, which the other engines do not)."""
    v = F.col(name)
    if isinstance(source_type, T.StringType):
        if kind == "double":
            return F.expr(f"try_cast({name} AS DOUBLE)")
        if kind == "boolean":
            return F.when(v.isin(list(CSV_TRUE_VALUES)), F.lit(True)).when(v.isin(list(CSV_FALSE_VALUES)), F.lit(False))
        return v
    family = {"double": T.NumericType, "boolean": T.BooleanType, "string": T.StringType}[kind]
    return v.cast(kind) if isinstance(source_type, family) else F.lit(None).cast(kind)


def _encode_spark(frame: Any, schema: Schema, *, text_source: bool) -> Any:
    """The schema's encoding as Spark expressions: codes packed into 64-bit words ``w0, w1, ...``.

    Same cells as :meth:`Schema.encode`: categoricals through a literal map
    (unknown values to ``other`` or an error), numbers and datetimes clipped and
    bucketed at the bin edges (``Bucketizer``), missing values (null, NaN, and
    pandas' missing-value strings for text sources) to the missing cell.
    Datetimes are binned at microsecond precision, wall times in UTC.
    """
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    types = {f.name: f.dataType for f in frame.schema.fields}
    staged = []
    for j, column in enumerate(schema.columns):
        v = F.col(_quote(column.name))
        if text_source:
            v = F.when(v.isin(list(CSV_NA_VALUES)), F.lit(None)).otherwise(v)
        staged.append(v.alias(f"v{j}"))
    frame = frame.select(*staged)

    values, bucket_in, bucket_splits = [], [], []
    for j, column in enumerate(schema.columns):
        v = F.col(f"v{j}")
        source_type = types[column.name]
        if isinstance(column, Categorical):
            values.append(_spark_category_value(F, T, f"v{j}", source_type, value_type(column)).alias(f"k{j}"))
        elif isinstance(column, Numeric):
            values.append(F.expr(f"try_cast(v{j} AS DOUBLE)").alias(f"x{j}"))
            if column.n_values > 1:
                bucket_in.append(j)
                bucket_splits.append([-math.inf, *column._edges[1:-1].tolist(), math.inf])
        else:  # Datetime: microseconds of wall time from the first edge
            base = int(column._edges[0]) // 1000
            if isinstance(source_type, T.StringType):
                ts = F.try_to_timestamp(v)
                if column.timezone is not None:
                    aware = v.rlike(r"(Z|[+-]\d{2}(:?\d{2})?)$")
                    ts = F.when(aware, F.from_utc_timestamp(ts, column.timezone)).otherwise(ts)
            elif isinstance(source_type, T.TimestampType):  # an instant: wall time in the column's zone
                ts = F.from_utc_timestamp(v, column.timezone or "UTC")
            else:  # TIMESTAMP_NTZ, DATE: wall time already
                ts = v.cast("timestamp")
            values.append((F.unix_micros(ts) - F.lit(base)).cast("double").alias(f"x{j}"))
            if column.n_values > 1:
                splits = [-(-int(e) // 1000) - base for e in column._edges[1:-1]]
                if any(b <= a for a, b in zip(splits, splits[1:])):
                    raise InputError(f"column {column.name!r}: bins narrower than a microsecond cannot be "
                                     f"counted by the spark engine; use the file engine")
                bucket_in.append(j)
                bucket_splits.append([-math.inf, *map(float, splits), math.inf])
    frame = frame.select(*[F.col(f"v{j}") for j in range(len(schema.columns))], *values)
    if bucket_in:
        for j in bucket_in:
            frame = frame.withColumn(f"b{j}", F.coalesce(F.col(f"x{j}"), F.lit(0.0)))
        frame = Bucketizer(splitsArray=bucket_splits, inputCols=[f"b{j}" for j in bucket_in],
                           outputCols=[f"y{j}" for j in bucket_in], handleInvalid="keep").transform(frame)

    codes = []
    for j, column in enumerate(schema.columns):
        v, name = F.col(f"v{j}"), column.name
        missing_cell = F.lit(column.n_values) if column.missing else _spark_error(
            F, f"column {name!r}: missing value(s) but the schema says \"missing\": false; set \"missing\": "
               f"true for this column (missing becomes its own cell) or fill them in")
        if isinstance(column, Categorical):
            k = F.col(f"k{j}")
            kind = value_type(column)
            pairs = [x for i, c in enumerate(column.categories) if kind != "string" or isinstance(c, str)
                     for x in (F.lit(float(c) if kind == "double" else c), F.lit(i))]
            is_missing = v.isNull() | (F.isnan(k) if kind == "double" else F.lit(False))
            found = F.try_element_at(F.create_map(*pairs), k) if pairs else F.lit(None).cast("int")
            unknown = F.lit(len(column.categories)) if column.other is not None else _spark_error(
                F, f"column {name!r}: value(s) outside the schema's {len(column.categories)} categories; add them "
                   f"to \"categories\" or declare an \"other\" bucket", v)
            code = F.when(is_missing, missing_cell).otherwise(F.coalesce(found, unknown))
        else:
            x = F.col(f"x{j}")
            kind = "numbers" if isinstance(column, Numeric) else "ISO 8601 dates"
            bad = _spark_error(F, f"column {name!r}: value(s) that are not {kind}; fix the data or change the "
                                  f"column's kind", v)
            bucket = F.col(f"y{j}").cast("int") if column.n_values > 1 else F.lit(0)
            code = (F.when(v.isNull() | (x.isNotNull() & F.isnan(x)), missing_cell)
                    .when(x.isNull(), bad).otherwise(bucket))
        codes.append(code.cast("long"))
    # Packed, 8 / 4 / 2 codes per 64-bit word: fewer cells to persist and to hand to Python.
    width = _code_dtype(schema.sizes).itemsize * 8
    per_word = 64 // width
    words = []
    for w in range(0, len(codes), per_word):
        word = codes[w]
        for k, code in enumerate(codes[w + 1:w + per_word], start=1):
            word = word.bitwiseOR(F.shiftleft(code, k * width))
        words.append(word.alias(f"w{w // per_word}"))
    return frame.select(*words)


# ----------------------------------------------------------------------------- choosing an engine

def choose_engine(path: str | os.PathLike, schema: Schema, engine: str = "auto") -> str:
    """The engine for ``path``: ``auto`` is ``memory`` up to :data:`AUTO_FILE_BYTES` on disk (and
    whenever the schema has columns to learn, which needs the DataFrame), ``file`` above."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    if schema.learnable or "://" in str(path):
        return "memory"
    return "memory" if _source_bytes(_source_path(path)) <= AUTO_FILE_BYTES else "file"


def open_counter(source: str | os.PathLike | pd.DataFrame, schema: Schema, engine: str = "auto", *,
                 batch_rows: int = DEFAULT_BATCH_ROWS, cache_dir: str | os.PathLike | None = None,
                 spark: Any = None, spark_master: str | None = None) -> Any:
    """A counting engine over ``source`` (a DataFrame, or a CSV / Parquet path) with ``schema``."""
    if isinstance(source, pd.DataFrame):
        if engine not in ("auto", "memory"):
            raise InputError(f"engine {engine!r} reads a file; pass its path instead of a DataFrame")
        return MemoryCounter(schema.encode(source), schema.sizes)
    engine = choose_engine(source, schema, engine)
    if engine == "memory":
        from dpsynth.io import read_table

        return MemoryCounter(schema.encode(read_table(source, schema=schema, allow_no_rows=True)), schema.sizes)
    _require_complete(schema)
    if engine == "file":
        return FileCounter(source, schema, batch_rows=batch_rows, cache_dir=cache_dir)
    return SparkCounter(source, schema, spark=spark, master=spark_master)
