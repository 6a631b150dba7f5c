"""Reading tables and writing files: dpsynth.io."""
from __future__ import annotations

import os

import pandas as pd

from dpsynth.io import _umask, atomic_write, read_table


def test_a_trailing_comma_shifts_no_column(tmp_path):
    """pandas would take the first column as the index and shift the rest left."""
    p = tmp_path / "t.csv"
    p.write_text("a,b\n1,2,\n3,4,\n")
    pd.testing.assert_frame_equal(read_table(p), pd.DataFrame({"a": [1, 3], "b": [2, 4]}))


def test_outputs_get_the_umask_mode_and_reading_the_umask_leaves_it(tmp_path):
    old = os.umask(0o027)
    try:
        assert _umask() == 0o027 and _umask() == 0o027
        with atomic_write(tmp_path / "o.txt") as fh:
            fh.write("x")
        assert (tmp_path / "o.txt").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
