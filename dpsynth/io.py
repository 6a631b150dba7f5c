"""Reading tables and writing files safely.

Every file dpsynth writes goes through :func:`atomic_write`: a temporary file in
the target's directory, flushed and fsync'ed, then ``os.replace``-d over the
target, so a crash never leaves a half-written output behind.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator

import pandas as pd

from dpsynth.errors import InputError


def read_table(path: str | os.PathLike, *, schema: Any = None, allow_no_rows: bool = False,
               **read_csv_kwargs: Any) -> pd.DataFrame:
    """Read a CSV or Parquet file (or a directory of Parquet files) into a DataFrame.

    With a ``schema``, categorical columns are read as text and then as their categories'
    type, value by value (:meth:`dpsynth.domain.Schema.read_text`), as every engine reads them.
    Raises :class:`InputError` with one line naming the file when it is missing,
    unreadable or empty (no columns, or no rows unless ``allow_no_rows``: a release
    must take an empty table, or refusing it would tell it apart from a one-row one).
    """
    if schema is not None:
        read_csv_kwargs = {"dtype": schema.csv_dtypes(), **read_csv_kwargs}
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; pass the path of a CSV or Parquet file")
    try:
        if p.is_dir() or p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
        else:
            df = pd.read_csv(p, **{"index_col": False, **read_csv_kwargs})  # a trailing comma shifts nothing
    except ImportError as exc:
        raise InputError(f"{p}: reading Parquet needs pyarrow: pip install 'dpsynth[files]' ({exc})") from exc
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{p}: cannot read table: {first}") from exc
    if len(df.columns) == 0 or (len(df) == 0 and not allow_no_rows):
        raise InputError(f"{p}: the table is empty; dpsynth needs at least one row and one column")
    return df if schema is None else schema.read_text(df)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{target}: directory {directory} does not exist; create it or choose another output path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"{target}: cannot write here ({exc.strerror}); choose a writable output path") from exc
    try:
        with os.fdopen(fd, mode) as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask, read without changing it where Linux reports it (setting it to
    read it would, for a moment, give other threads' new files mode 0666)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o077)   # elsewhere: the most restrictive mask while it is read
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=False, default=json_default)
        fh.write("\n")


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV or Parquet (by suffix), atomically."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        with atomic_write(path, "wb") as fh:
            df.to_parquet(fh, index=False)
    else:
        with atomic_write(path, "w") as fh:
            df.to_csv(fh, index=False)


TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def check_writable(path: str | os.PathLike, name: str = "output") -> None:
    """Fail early (before any budget is spent) when ``path`` cannot be written:
    an empty name, a directory, a missing or unwritable directory (tried by
    creating and removing a file there, which holds for root too)."""
    target = Path(path)
    if not str(path).strip() or not target.name or target.name in (".", ".."):
        raise InputError(f"{name}: {str(path)!r} is not a file name; give the path of the file to write")
    if target.is_dir():
        raise InputError(f"{name} {target}: is a directory; give the path of a file to write")
    directory = target.parent
    if not directory.is_dir():
        raise InputError(f"{name} {target}: directory {directory} does not exist; create it or choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=directory)
    except OSError as exc:
        raise InputError(f"{name} {target}: cannot write in {directory} ({exc.strerror}); choose a writable "
                         f"output path") from exc
    os.close(fd)
    os.unlink(probe)
    if target.exists() and not os.access(target, os.W_OK):
        raise InputError(f"{name} {target}: not writable; choose a writable output path")


def check_outputs(outputs: dict[str, str | os.PathLike | None],
                  inputs: dict[str, str | os.PathLike | None] | None = None) -> None:
    """:func:`check_writable` for every output, and InputError when one is the same
    file as an input or another output (a ledger, the data or a schema overwritten
    by a typo). Keys name the paths in messages ("--out"); ``None`` values are skipped."""
    taken: dict[Any, str] = {}
    for name, path in (inputs or {}).items():
        if path is not None:
            taken.setdefault(_identity(path), name)
    for name, path in outputs.items():
        if path is None:
            continue
        check_writable(path, name)
        key = _identity(path)
        if key in taken:
            raise InputError(f"{name} {path} is the same file as {taken[key]}; writing it would destroy that "
                             f"file: choose another output path")
        taken[key] = name


def check_table_suffix(path: str | os.PathLike, name: str = "--out") -> None:
    """InputError unless ``path`` ends in a table format dpsynth writes (``TABLE_SUFFIXES``)."""
    if Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(f"{name} {path}: dpsynth writes tables as {', '.join(TABLE_SUFFIXES)}; "
                         f"end the file name in one of them")


def _identity(path: str | os.PathLike) -> Any:
    """What makes two paths one file: device and inode when it exists, else the resolved path."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return p.resolve()
    return st.st_dev, st.st_ino


def json_default(obj: Any) -> Any:
    """``json.dumps(default=...)`` for numpy scalars and arrays and paths."""
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dump_json(obj: Any) -> str:
    """The one JSON encoder for ``--json`` output (numpy scalars allowed)."""
    return json.dumps(obj, indent=2, default=json_default)


