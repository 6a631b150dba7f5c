"""Counting engines: memory, file and Spark give identical counts; fit on a file larger than a memory cap;
streamed sampling."""
from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dpsynth.accounting import Ledger
from dpsynth.domain import Categorical, Datetime, Numeric, Schema
from dpsynth.engines import FileCounter, MemoryCounter, SparkCounter, check_counter, choose_engine, open_counter
from dpsynth.errors import InputError
from dpsynth.io import read_table
from dpsynth.synthesizers import METHODS

pytestmark = [pytest.mark.filterwarnings("ignore::dpsynth.accounting.InsecureRNGWarning"),
              pytest.mark.filterwarnings("ignore:INSECURE research RNG")]

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "data" / "adult.csv"
ADULT_SCHEMA = ROOT / "dpsynth" / "datasets" / "adult.schema.json"

SCHEMA = Schema([
    Categorical("color", ("red", "green", "blue"), other="other", missing=True),
    Categorical("level", (1, 2, 3, 5)),
    Categorical("flag", (False, True), missing=True),
    Numeric("score", lower=-1.0, upper=1.0, bins=8, missing=True),
    Numeric("age", lower=0, upper=99, bins=10, integer=True),
    Datetime("when", lower="2020-01-01", upper="2020-12-31", bins=6, missing=True),
])


def generated(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Correlated columns with the awkward cases: unknown categories, missing values (also as 'NA' text),
    numbers out of bounds and exactly on bin edges."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 4, n)
    color = np.array(["red", "green", "blue", "violet"], dtype=object)[(z + rng.integers(0, 2, n)) % 4]
    color[rng.random(n) < 0.05] = None
    flag = pd.array(z + rng.integers(0, 2, n) > 2, dtype="boolean")
    flag[rng.random(n) < 0.05] = pd.NA
    edges = np.linspace(-1, 1, 9)
    score = np.where(rng.random(n) < 0.2, rng.choice(edges, n), rng.normal(z / 3 - 0.5, 0.6, n))
    score[rng.random(n) < 0.05] = np.nan
    when = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 366 * 24, n) + 1000 * z, unit="h")
    when = pd.Series(when).where(rng.random(n) > 0.05)
    return pd.DataFrame({"color": color, "level": np.array([1, 2, 3, 5])[z], "flag": flag, "score": score,
                         "age": np.clip(z * 20 + rng.integers(-30, 60, n), -5, 120), "when": when})


def all_marginals(d: int) -> list[tuple[int, ...]]:
    return ([()] + [(a,) for a in range(d)] + list(itertools.combinations(range(d), 2))
            + [(2, 0, 1), (d - 1, 0, 3)])


def coarsen(sizes):
    return [np.arange(s) // 2 for s in sizes], [(s + 1) // 2 for s in sizes]


def assert_same(got, ref):
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.dtype == np.int64 and np.array_equal(g, r)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """The generated table as CSV (with 'NA' text for some missing colors) and as Parquet."""
    tmp = tmp_path_factory.mktemp("engines")
    df = generated()
    csv = df.copy()
    csv["color"] = csv["color"].where(csv.index % 7 != 0, "NA")  # pandas' missing-value text
    csv["when"] = csv["when"].dt.strftime("%Y-%m-%d %H:%M:%S")
    csv.to_csv(tmp / "gen.csv", index=False)
    df.to_parquet(tmp / "gen.parquet", index=False, coerce_timestamps="us", row_group_size=500)
    parts = tmp / "parts"
    parts.mkdir()
    for i, start in enumerate((0, 1000, 2000)):
        part = df.iloc[start:start + 1000]
        part.to_parquet(parts / f"part-{i}.parquet", index=False, coerce_timestamps="us")
    return {"csv": tmp / "gen.csv", "parquet": tmp / "gen.parquet", "dir": parts}


def reference(path: Path, schema: Schema) -> MemoryCounter:
    """What the memory engine sees: pandas reads the file whole."""
    return MemoryCounter(schema.encode(read_table(path)), schema.sizes)


# ----------------------------------------------------------------------------- file engine

@pytest.mark.parametrize("kind", ["csv", "parquet", "dir"])
@pytest.mark.parametrize("cache", [True, False])
def test_file_engine_counts_equal_memory(files, kind, cache):
    wanted = all_marginals(len(SCHEMA.names))
    ref = reference(files[kind], SCHEMA)
    with FileCounter(files[kind], SCHEMA, batch_rows=700, cache=cache) as fc:
        for _ in range(2):  # the second pass reads the cache
            assert_same(fc.counts(wanted), ref.counts(wanted))
        assert fc.n_rows == 3000
        tables, sizes = coarsen(SCHEMA.sizes)
        assert_same(fc.mapped(tables, sizes).counts(wanted), ref.mapped(tables, sizes).counts(wanted))
        # mapping twice composes the tables
        t2, s2 = coarsen(sizes)
        assert_same(fc.mapped(tables, sizes).mapped(t2, s2).counts(wanted),
                    ref.mapped(tables, sizes).mapped(t2, s2).counts(wanted))


@pytest.mark.parametrize("categories, other, text", [([1, 2], "other", "1\n2\n1\n5\n"),
                                                    ([1, 2], True, "1\n2\n1\n5\n"),
                                                    ([False, True], "other", "True\nFalse\nTrue\n")])
def test_the_other_label_does_not_decide_how_values_are_read(tmp_path, categories, other, text):
    """Number or boolean categories with an other label of another type: the file engine read the
    column as text, so "1" never matched 1 and every row went to other."""
    path = tmp_path / "c.csv"
    path.write_text("c\n" + text)
    schema = Schema.from_json({"columns": {"c": {"kind": "categorical", "categories": categories, "other": other}}})
    with FileCounter(path, schema) as fc:
        assert_same(fc.counts([(0,)]), reference(path, schema).counts([(0,)]))


@pytest.mark.skipif(not ADULT.exists(), reason="needs ../shared/data/adult.csv")
def test_file_engine_on_adult(tmp_path):
    schema = Schema.from_json(ADULT_SCHEMA)
    df = pd.read_csv(ADULT)
    df.to_parquet(tmp_path / "adult.parquet", index=False)
    wanted = all_marginals(len(schema.names))
    ref = MemoryCounter(schema.encode(df), schema.sizes)
    for path in (ADULT, tmp_path / "adult.parquet"):
        with FileCounter(path, schema, batch_rows=10_000) as fc:
            assert_same(fc.counts(wanted), ref.counts(wanted))


def test_file_cache_has_no_name_and_is_released(files, tmp_path):
    """The cached codes are private: the file has no name in cache_dir (nothing is left behind
    even when the process is killed), is 0600, and is closed by close()."""
    fc = FileCounter(files["csv"], SCHEMA, cache_dir=tmp_path)
    fc.counts([(0,)])
    assert list(tmp_path.iterdir()) == []
    st = os.fstat(fc._source._cache_file.fileno())
    assert st.st_mode & 0o077 == 0 and st.st_size == 3000 * len(SCHEMA.names) and st.st_nlink == 0
    cached = fc._source._cache_file
    assert fc.counts([(0,)])[0].sum() == 3000   # the second pass reads the cache
    fc.close()
    assert cached.closed
    assert fc.counts([()])[0][0] == 3000  # still counts, from the source


def test_file_engine_bad_data_is_input_error(tmp_path):
    df = generated(200)
    df.loc[150, "level"] = 4  # not a category, no 'other'
    df.to_csv(tmp_path / "bad.csv", index=False)
    df.to_parquet(tmp_path / "bad.parquet", index=False)
    for path in (tmp_path / "bad.csv", tmp_path / "bad.parquet"):
        with pytest.raises(InputError, match="column 'level'.*outside the schema"):
            FileCounter(path, SCHEMA, batch_rows=64).counts([(0,)])
    df.drop(columns="age").to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="missing from the data: 'age'"):
        FileCounter(tmp_path / "short.csv", SCHEMA).counts([(0,)])
    with pytest.raises(InputError, match="no such file"):
        FileCounter(tmp_path / "nope.csv", SCHEMA)


def test_fit_on_file_engine_equals_fit_on_dataframe(files):
    """Same counts and the same research seed: the same measurements, model and rows."""
    df = read_table(files["parquet"])
    for method in ("mst", "aim"):
        a = METHODS[method](epsilon=2.0, insecure_random_state=3).fit(df, SCHEMA)
        with FileCounter(files["parquet"], SCHEMA, batch_rows=1000) as fc:
            b = METHODS[method](epsilon=2.0, insecure_random_state=3).fit(fc, SCHEMA)
        assert [m.clique for m in a.measurements_] == [m.clique for m in b.measurements_]
        for ma, mb in zip(a.measurements_, b.measurements_):
            assert np.array_equal(ma.values, mb.values)
        pd.testing.assert_frame_equal(a.sample(500, random_state=1), b.sample(500, random_state=1))


def test_bad_file_fails_before_any_spending(tmp_path):
    df = generated(200)
    df["age"] = df["age"].astype(object)
    df.loc[10, "age"] = "many"
    df.to_csv(tmp_path / "bad.csv", index=False)
    ledger = Ledger(None)
    ledger.init("d", 1.0, 1e-9)
    with pytest.raises(InputError, match="column 'age':.*invalid value 'many'.*schema says numeric"):
        METHODS["mst"](epsilon=1.0).fit(FileCounter(tmp_path / "bad.csv", SCHEMA), SCHEMA, ledger=ledger,
                                        dataset="d")
    assert ledger.summary("d")["rho_spent"] == 0 and ledger.summary("d")["releases"] == []


def test_counter_checks():
    learn = Schema([Categorical("color", "learn", other="other"), Numeric("age", lower=0, upper=99, bins=10)])
    with pytest.raises(InputError, match="learned with DP.*DataFrame"):
        check_counter(MemoryCounter(np.zeros((3, 2), np.uint8), (1, 10)), learn)
    with pytest.raises(InputError, match="learned with DP"):
        open_counter("x.csv", learn, "file")
    with pytest.raises(InputError, match="DataFrame or a counting engine"):
        check_counter(np.zeros((3, 6)), SCHEMA)
    with pytest.raises(InputError, match="sizes"):
        check_counter(MemoryCounter(np.zeros((3, 6), np.uint8), (9,) * 6), SCHEMA)
    assert choose_engine("x.csv", learn) == "memory"  # learning needs the DataFrame
    with pytest.raises(InputError, match="unknown engine"):
        choose_engine("x.csv", SCHEMA, "gpu")


def test_auto_engine_by_size(files, monkeypatch):
    import dpsynth.engines as engines

    assert choose_engine(files["csv"], SCHEMA) == "memory"
    monkeypatch.setattr(engines, "AUTO_FILE_BYTES", 1000)
    assert choose_engine(files["csv"], SCHEMA) == "file"
    assert choose_engine(files["dir"], SCHEMA) == "file"


# ----------------------------------------------------------------------------- memory cap

CHILD = textwrap.dedent("""
    import resource, sys
    import numpy, pandas, pyarrow, pyarrow.csv, pyarrow.dataset, pyarrow.parquet
    from dpsynth.domain import Schema, Categorical
    from dpsynth.engines import FileCounter
    from dpsynth.io import read_table
    from dpsynth.synthesizers import METHODS

    engine, headroom, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pyarrow.set_io_thread_count(2)
    vsz = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vsz + headroom, vsz + headroom))
    schema = Schema([Categorical(f"c{j}", tuple(range(10))) for j in range(10)])
    data = read_table(path) if engine == "memory" else FileCounter(path, schema, batch_rows=50_000)
    synth = METHODS["mst"](epsilon=1.0, insecure_random_state=0).fit(data, schema)
    print("rows", synth.sample_to(path + ".out.parquet", 1000, chunk_rows=400))
""")


def write_digits_csv(path: Path, n: int, d: int = 10) -> None:
    """n rows of d correlated one-digit columns (2 bytes per cell), written without pandas."""
    rng = np.random.default_rng(0)
    codes = (rng.integers(0, 3, (n, 1)) + rng.integers(0, 8, (n, d))).astype(np.uint8) % 10
    text = np.full((n, 2 * d), ord(","), dtype=np.uint8)
    text[:, 0::2] = codes + ord("0")
    text[:, -1] = ord("\n")
    with open(path, "wb") as fh:
        fh.write((",".join(f"c{j}" for j in range(d)) + "\n").encode())
        fh.write(text.tobytes())


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc are Linux")
def test_file_larger_than_memory_cap_still_synthesizes(tmp_path):
    """Address space capped at the child's size after imports plus 110 MB, below the 120 MB file:
    reading it whole fails, the file engine (50k-row batches) fits and synthesizes."""
    path = tmp_path / "big.csv"
    write_digits_csv(path, 6_000_000)
    headroom = 110 * 2**20
    assert path.stat().st_size > headroom
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
           "ARROW_DEFAULT_MEMORY_POOL": "system"}  # plain malloc: arenas do not reserve address space up front

    def child(engine):
        return subprocess.run([sys.executable, "-c", CHILD, engine, str(headroom), str(path)],
                              capture_output=True, text=True, env=env, timeout=300)

    memory = child("memory")
    assert memory.returncode != 0, memory.stderr[-2000:]
    assert "MemoryError" in memory.stderr or "Cannot allocate memory" in memory.stderr, memory.stderr[-2000:]
    file = child("file")
    assert file.returncode == 0, file.stderr[-2000:]
    assert "rows 1000" in file.stdout
    out = pd.read_parquet(str(path) + ".out.parquet")
    assert out.shape == (1000, 10) and set(out["c0"]) <= set(range(10))


# ----------------------------------------------------------------------------- streamed sampling

@pytest.fixture(scope="module")
def fitted():
    return METHODS["mst"](epsilon=2.0, insecure_random_state=0).fit(generated(), SCHEMA)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_sample_to_streams_chunks(fitted, tmp_path, suffix):
    one = fitted.sample(1000, random_state=5)
    path = tmp_path / f"one{suffix}"
    assert fitted.sample_to(path, 1000, chunk_rows=1000, random_state=5) == 1000
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    expected = one if suffix == ".parquet" else pd.read_csv(_csv(one, tmp_path))
    pd.testing.assert_frame_equal(back, expected)  # one chunk: exactly sample()'s rows

    path = tmp_path / f"many{suffix}"
    assert fitted.sample_to(path, 2500, chunk_rows=300, random_state=5) == 2500
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(path).metadata.num_row_groups == 9
        back = pd.read_parquet(path)
        assert (back.dtypes == one.dtypes).all()  # the schema's dtypes, in every chunk
    else:
        back = pd.read_csv(path)
    assert len(back) == 2500 and list(back.columns) == list(SCHEMA.names)
    assert set(back["color"].dropna()) <= {"red", "green", "blue", "other"}
    codes = SCHEMA.encode(back)  # every row decodes back into the schema's cells
    assert codes.shape == (2500, len(SCHEMA.names))
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def _csv(df: pd.DataFrame, tmp_path: Path) -> Path:
    df.to_csv(tmp_path / "ref.csv", index=False)
    return tmp_path / "ref.csv"


def test_sample_to_edge_cases(fitted, tmp_path):
    assert fitted.sample_to(tmp_path / "none.parquet", 0) == 0
    empty = pd.read_parquet(tmp_path / "none.parquet")
    assert empty.shape == (0, len(SCHEMA.names))
    assert fitted.sample_to(tmp_path / "default.csv") == fitted.n_rows_
    with pytest.raises(InputError, match="rows must be >= 0"):
        fitted.sample_to(tmp_path / "x.csv", -1)
    with pytest.raises(InputError, match="chunk_rows"):
        fitted.sample_to(tmp_path / "x.csv", 10, chunk_rows=0)


# ----------------------------------------------------------------------------- CLI

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dpsynth.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_engines(files, tmp_path):
    schema_path = tmp_path / "schema.json"
    SCHEMA.to_json(schema_path)
    for engine, data in (("file", files["dir"]), ("auto", files["csv"])):
        out = tmp_path / f"{engine}.parquet"
        res = run_cli("synth", str(data), "--schema", str(schema_path), "--epsilon", "1", "--engine", engine,
                      "--rows", "1234", "--out", str(out), "--json")
        assert res.returncode == 0, res.stderr
        meta = json.loads(res.stdout)["release"]
        assert meta["engine"] == engine and meta["rows"] == 1234  # as asked: "auto" chose by the file's size
        assert len(pd.read_parquet(out)) == 1234
    res = run_cli("synth", str(files["csv"]), "--schema", str(schema_path), "--epsilon", "1", "--engine", "gpu")
    assert res.returncode == 2 and "invalid choice" in res.stderr


# ----------------------------------------------------------------------------- Spark

def _java_ok() -> bool:
    java = shutil.which("java")
    return java is not None and subprocess.run([java, "-version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def spark():
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed (pip install 'dpsynth[spark]')")
    if not _java_ok():
        pytest.skip("no Java runtime for Spark (apt-get install openjdk-17-jre-headless)")
    from dpsynth.engines import spark_session

    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_spark_engine_counts_equal_memory(spark, files, kind):
    wanted = all_marginals(len(SCHEMA.names))
    ref = reference(files[kind], SCHEMA)
    sc = SparkCounter(str(files[kind]), SCHEMA, spark=spark)
    try:
        assert_same(sc.counts(wanted), ref.counts(wanted))
        tables, sizes = coarsen(SCHEMA.sizes)
        assert_same(sc.mapped(tables, sizes).counts(wanted), ref.mapped(tables, sizes).counts(wanted))
    finally:
        sc.close()


@pytest.mark.slow
@pytest.mark.skipif(not ADULT.exists(), reason="needs ../shared/data/adult.csv")
def test_spark_engine_on_adult(spark, tmp_path):
    schema = Schema.from_json(ADULT_SCHEMA)
    df = pd.read_csv(ADULT)
    ref = MemoryCounter(schema.encode(df), schema.sizes)
    wanted = all_marginals(len(schema.names))
    sc = SparkCounter(str(ADULT), schema, spark=spark)
    try:
        assert_same(sc.counts(wanted), ref.counts(wanted))
        tables, sizes = coarsen(schema.sizes)
        assert_same(sc.mapped(tables, sizes).counts(wanted), ref.mapped(tables, sizes).counts(wanted))
    finally:
        sc.close()


@pytest.mark.slow
def test_spark_engine_errors_and_dataframe_source(spark, tmp_path):
    df = generated(300)
    df.loc[7, "level"] = 4
    df.to_parquet(tmp_path / "bad.parquet", index=False, coerce_timestamps="us")
    with pytest.raises(InputError, match="column 'level'.*outside the schema's 4 categories.*e.g. 4"):
        SparkCounter(str(tmp_path / "bad.parquet"), SCHEMA, spark=spark).counts([(0,)])
    df.loc[7, "level"] = 1
    df.loc[9, "score"] = np.nan
    no_missing = Schema([c if c.name != "score" else Numeric("score", lower=-1.0, upper=1.0, bins=8)
                         for c in SCHEMA.columns])
    df.to_parquet(tmp_path / "nan.parquet", index=False, coerce_timestamps="us")
    with pytest.raises(InputError, match="column 'score': missing value"):
        SparkCounter(str(tmp_path / "nan.parquet"), no_missing, spark=spark).counts([(0,)])
    with pytest.raises(InputError, match="missing from the data: 'age'"):
        SparkCounter(spark.read.parquet(str(tmp_path / "nan.parquet")).drop("age"), SCHEMA)
    frame = spark.read.parquet(str(tmp_path / "nan.parquet"))  # a Spark DataFrame as the source
    ref = MemoryCounter(SCHEMA.encode(read_table(tmp_path / "nan.parquet")), SCHEMA.sizes)
    assert_same(SparkCounter(frame, SCHEMA).counts(all_marginals(6)), ref.counts(all_marginals(6)))


@pytest.mark.slow
def test_fit_on_spark_engine_equals_fit_on_dataframe(spark, files):
    df = read_table(files["parquet"])
    a = METHODS["mst"](epsilon=2.0, insecure_random_state=3).fit(df, SCHEMA)
    sc = SparkCounter(str(files["parquet"]), SCHEMA, spark=spark)
    b = METHODS["mst"](epsilon=2.0, insecure_random_state=3).fit(sc, SCHEMA)
    sc.close()
    pd.testing.assert_frame_equal(a.sample(300, random_state=1), b.sample(300, random_state=1))


def test_parquet_takes_labels_that_mix_numbers_and_text(tmp_path):
    """Zip codes beside an "other" label decode to ints and text; Arrow refused the mix (after
    the release was spent), or typed the file by a first chunk that had no "other"."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"zip": rng.choice([10001, 10002, 10003, 99999], 3000, p=[0.4, 0.3, 0.29, 0.01]),
                       "b": rng.choice(["x", "y"], 3000)})
    schema = Schema.from_json({"columns": {
        "zip": {"kind": "categorical", "categories": [10001, 10002, 10003], "other": "other"},
        "b": {"kind": "categorical", "categories": ["x", "y"]}}})
    model = METHODS["mst"](epsilon=5.0).fit(df, schema)
    assert model.sample_to(tmp_path / "o.parquet", 4000, chunk_rows=5, random_state=0) == 4000
    back = pd.read_parquet(tmp_path / "o.parquet")
    assert set(back["zip"]) <= {"10001", "10002", "10003", "other"} and (back["zip"] == "other").any()


def test_text_codes_keep_their_leading_zeros_in_every_engine(tmp_path):
    """pandas read "01234" as the number 1234, so the memory engine put every zip code in other."""
    path = tmp_path / "z.csv"
    path.write_text("zip\n01234\n99999\n01234\nNA\n")
    schema = Schema.from_json({"columns": {"zip": {"kind": "categorical", "categories": ["01234", "99999"],
                                                   "other": "other", "missing": True}}})
    memory = open_counter(path, schema, "memory").counts([(0,)])[0]
    np.testing.assert_array_equal(memory, [2, 1, 0, 1])
    with FileCounter(path, schema) as fc:
        np.testing.assert_array_equal(fc.counts([(0,)])[0], memory)


# ----------------------------------------------------------------------------- reading text the same way

STRAY = [  # (categories, other, CSV lines, counts: one per category, then other)
    ([1, 2], "other", ["1", "2", "1", "abc"], [2, 1, 1]),          # one text value among numbers
    ([True, False], "o", ["True", "False", "maybe", "true"], [2, 1, 1]),
    ([1, 2], "other", ["1", "2.0", "01", "1e0"], [3, 1, 0]),         # spellings of numbers are numbers
]


def _stray_csv(tmp_path: Path, categories, other, lines) -> tuple[Path, Schema]:
    path = tmp_path / "x.csv"
    path.write_text("x\n" + "\n".join(lines) + "\n")
    return path, Schema.from_json({"columns": {"x": {"kind": "categorical", "categories": categories, "other": other}}})


@pytest.mark.parametrize("categories, other, lines, expected", STRAY)
def test_a_stray_text_value_goes_to_other_in_every_engine(tmp_path, categories, other, lines, expected):
    """One text value made pandas read a column of numbers as text, so the memory engine put
    every row in other; the file engine refused the file. Each value is read on its own now."""
    path, schema = _stray_csv(tmp_path, categories, other, lines)
    np.testing.assert_array_equal(open_counter(path, schema, "memory").counts([(0,)])[0], expected)
    with FileCounter(path, schema, batch_rows=2) as fc:
        np.testing.assert_array_equal(fc.counts([(0,)])[0], expected)


def test_a_release_with_an_other_label_reads_back_as_it_was_written(tmp_path):
    """dpsynth writes number categories beside a text other label; reading that file with the
    same schema (evaluate, report, attack) put every row in other."""
    schema = Schema.from_json({"columns": {
        "x": {"kind": "categorical", "categories": [1, 2], "other": "other"},
        "b": {"kind": "categorical", "categories": [True, False], "other": "o", "missing": True}}})
    codes = np.array([[0, 0], [1, 1], [2, 2], [0, 3], [2, 1]])
    for suffix in (".csv", ".parquet"):
        path = tmp_path / f"out{suffix}"
        frame = schema.decode(codes, np.random.default_rng(0))
        frame.astype(str).where(frame.notna()).to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
        np.testing.assert_array_equal(schema.encode(read_table(path, schema=schema)), codes)
        with FileCounter(path, schema) as fc:
            np.testing.assert_array_equal(fc.counts([(0, 1)])[0], MemoryCounter(codes, schema.sizes).counts([(0, 1)])[0])


def test_text_to_learn_stays_text(tmp_path):
    """Categories to learn were read by pandas' guess: "01234" and "1234" became one number."""
    path = tmp_path / "z.csv"
    path.write_text("zip\n" + "\n".join(["01234", "1234", "00501"] * 3) + "\n")
    schema = Schema.from_json({"columns": {"zip": {"kind": "categorical", "categories": "learn", "other": "other"}}})
    assert sorted(read_table(path, schema=schema)["zip"].unique()) == ["00501", "01234", "1234"]


def test_typed_values_match_only_categories_of_their_type(tmp_path):
    """A Parquet number is not the text category "1", nor a boolean the number 1."""
    path = tmp_path / "t.parquet"
    pd.DataFrame({"n": [1, 2, 2], "b": [True, False, False]}).to_parquet(path)
    schema = Schema.from_json({"columns": {"n": {"kind": "categorical", "categories": ["1", "2"], "other": "o"},
                                           "b": {"kind": "categorical", "categories": [1, 0], "other": "o"}}})
    expected = [[0, 0, 3], [0, 0, 3]]
    for engine in ("memory", "file"):
        got = open_counter(path, schema, engine).counts([(0,), (1,)])
        np.testing.assert_array_equal([g.tolist() for g in got], expected)


def test_integer_categories_past_2_53_are_refused():
    """Numbers read as floats: 2**53 + 1 read as 2**53, so two such categories merged in the file engine."""
    with pytest.raises(InputError, match=r"column 'id': categories such as 9007199254740993 are past 2\*\*53 - 1"):
        Schema.from_json({"columns": {"id": {"kind": "categorical", "categories": [2**53 + 1, 1]}}})


def test_file_engine_reads_hive_partitions_as_pandas_does(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_to_dataset(pa.table({"x": ["a", "b", "a"], "g": [1, 2, 1]}), str(tmp_path / "hive"), partition_cols=["g"])
    schema = Schema.from_json({"columns": {"x": {"kind": "categorical", "categories": ["a", "b"]},
                                           "g": {"kind": "categorical", "categories": [1, 2]}}})
    memory = open_counter(tmp_path / "hive", schema, "memory").counts([(0, 1)])[0]
    np.testing.assert_array_equal(memory.ravel(), [2, 0, 0, 1])
    with FileCounter(tmp_path / "hive", schema) as fc:
        np.testing.assert_array_equal(fc.counts([(0, 1)])[0], memory)


@pytest.mark.slow
def test_spark_reads_values_as_the_other_engines_do(spark, tmp_path):
    """Spark cast "1" to 1 and 1 to "1", split quoted fields that span lines, and padded or
    trimmed rows with the wrong number of fields."""
    for categories, other, lines, expected in STRAY:
        path, schema = _stray_csv(tmp_path, categories, other, lines)
        sc = SparkCounter(str(path), schema, spark=spark)
        np.testing.assert_array_equal(sc.counts([(0,)])[0], expected)
        sc.close()
    path = tmp_path / "t.parquet"
    pd.DataFrame({"n": [1, 2, 2], "b": [True, False, False]}).to_parquet(path)
    schema = Schema.from_json({"columns": {"n": {"kind": "categorical", "categories": ["1", "2"], "other": "o"},
                                           "b": {"kind": "categorical", "categories": [1, 0], "other": "o"}}})
    sc = SparkCounter(str(path), schema, spark=spark)
    assert [g.tolist() for g in sc.counts([(0,), (1,)])] == [[0, 0, 3], [0, 0, 3]]
    sc.close()
    schema = Schema.from_json({"columns": {"x": {"kind": "categorical", "categories": ["a", "a\nb"]},
                                           "y": {"kind": "categorical", "categories": [1, 2]}}})
    (tmp_path / "m.csv").write_text('x,y\n"a\nb",1\na,2\n')
    sc = SparkCounter(str(tmp_path / "m.csv"), schema, spark=spark)
    np.testing.assert_array_equal(sc.counts([(0, 1)])[0].ravel(), [0, 1, 1, 0])
    sc.close()
    (tmp_path / "r.csv").write_text("x,y\na,1\na,2,3\n")
    with pytest.raises(InputError, match="more or fewer fields than its header"):
        SparkCounter(str(tmp_path / "r.csv"), schema, spark=spark).counts([(0,)])


@pytest.mark.parametrize("engine", ["memory", "file"])
def test_an_empty_table_is_released_like_any_other(tmp_path, engine, capsys):
    """Refusing an empty table, with nothing charged, told {} apart from {x} with certainty;
    the DataFrame path already released it. Every path counts it as zeros now."""
    from dpsynth.cli import main

    (tmp_path / "empty.csv").write_text("a,b\n")
    (tmp_path / "s.json").write_text(json.dumps({"columns": {
        "a": {"kind": "categorical", "categories": ["x", "y"]},
        "b": {"kind": "numeric", "lower": 0, "upper": 10, "bins": 4}}}))
    assert main(["synth", str(tmp_path / "empty.csv"), "--schema", str(tmp_path / "s.json"), "--schema-is-public",
                 "--epsilon", "1", "--engine", engine, "--out", str(tmp_path / "o.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ledger"]["rho_spent"] > 0
    schema = Schema.from_json(json.loads((tmp_path / "s.json").read_text()))
    assert [c.sum() for c in open_counter(tmp_path / "empty.csv", schema, engine).counts([(), (0, 1)])] == [0, 0]

