"""Writing synthetic rows in chunks: bounded memory for any row count.

:func:`write_chunks` streams DataFrames to one CSV or Parquet file (by suffix)
through :func:`dpsynth.io.atomic_write`, so a failure leaves no partial output.
Every chunk must have the same columns and dtypes (decoded chunks of one
schema do); Parquet chunks become row groups.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pandas as pd

from dpsynth.errors import InputError
from dpsynth.io import atomic_write

#: Rows sampled, decoded and written at a time.
DEFAULT_CHUNK_ROWS = 1_000_000


def chunk_sizes(n: int, chunk_rows: int) -> Iterator[int]:
    """Sizes of the chunks of ``n`` rows (at least one chunk, possibly empty)."""
    if int(chunk_rows) < 1:
        raise InputError(f"chunk_rows must be >= 1, got {chunk_rows}")
    n, chunk_rows = int(n), int(chunk_rows)
    yield min(n, chunk_rows)
    for start in range(chunk_rows, n, chunk_rows):
        yield min(chunk_rows, n - start)


def write_chunks(chunks: Iterable[pd.DataFrame], path: str | os.PathLike, text_columns: Sequence[str] = ()) -> int:
    """Write the chunks to ``path`` (``.parquet``/``.pq``: Parquet, else CSV), atomically; returns rows.

    ``text_columns`` are written to Parquet as strings: a column whose labels mix text and
    numbers (learned zip codes beside "other") has no other Arrow type, and a chunk's own
    values (no "other" in the first, or all missing) would fix a type the next chunk breaks."""
    if Path(path).suffix.lower() in (".parquet", ".pq"):
        return _write_parquet((_as_text(chunk, text_columns) for chunk in chunks), path)
    rows = 0
    with atomic_write(path, "w") as fh:
        for i, chunk in enumerate(chunks):
            chunk.to_csv(fh, index=False, header=i == 0)
            rows += len(chunk)
    return rows


def _as_text(chunk: pd.DataFrame, text_columns: Sequence[str]) -> pd.DataFrame:
    """``text_columns`` held as Python objects (mixed labels, or only missing values) as strings."""
    return chunk.astype({c: "string" for c in text_columns if chunk[c].dtype == object})


def _write_parquet(chunks: Iterable[pd.DataFrame], path: str | os.PathLike) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(f"{path}: writing Parquet needs pyarrow: pip install 'dpsynth[files]' ({exc})") from exc
    rows = 0
    with atomic_write(path, "wb") as fh:
        writer = None
        try:
            for chunk in chunks:
                if writer is None:
                    table = pa.Table.from_pandas(chunk, preserve_index=False)
                    writer = pq.ParquetWriter(fh, table.schema)
                else:
                    table = pa.Table.from_pandas(chunk, schema=writer.schema, preserve_index=False)
                writer.write_table(table)
                rows += len(chunk)
        finally:
            if writer is not None:
                writer.close()
    return rows
