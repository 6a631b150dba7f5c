"""``python -m dpsynth.demo`` (what ``make demo`` runs): the main job end to end.

On the bundled UCI Adult table (CC BY 4.0) with its hand-written public schema:
create a ledger for (epsilon=3, delta=1e-9), release an MST synthetic table at
epsilon 1 through the command line, print the ledger and a fidelity figure.
Everything is written under ``demo-out/``.
"""
from __future__ import annotations

import gzip
import shutil
import sys
from importlib import resources
from pathlib import Path

import pandas as pd

from dpsynth.cli import main as cli
from dpsynth.domain import Schema
from dpsynth.evaluate import fidelity


def bundled_adult() -> tuple[Path, Path]:
    """Paths of the bundled Adult CSV (gzip) and its public schema."""
    root = resources.files("dpsynth") / "datasets"
    return Path(str(root / "adult.csv.gz")), Path(str(root / "adult.schema.json"))


def run(out_dir: Path = Path("demo-out")) -> int:
    out_dir.mkdir(exist_ok=True)
    data_gz, schema_path = bundled_adult()
    data = out_dir / "adult.csv"
    with gzip.open(data_gz, "rb") as src, open(data, "wb") as dst:
        shutil.copyfileobj(src, dst)
    ledger = out_dir / "ledger.db"
    ledger.unlink(missing_ok=True)
    steps = [
        ["ledger", "init", str(ledger), "--dataset", "adult", "--epsilon", "3", "--delta", "1e-9"],
        ["synth", str(data), "--schema", str(schema_path), "--epsilon", "1", "--delta", "1e-9",
         "--method", "mst", "--ledger", str(ledger), "--dataset", "adult",
         "--out", str(out_dir / "adult.synthetic.csv")],
        ["ledger", "show", str(ledger), "--dataset", "adult"],
    ]
    for argv in steps:
        print("$ dpsynth " + " ".join(argv), flush=True)
        code = cli(argv)
        if code:
            return code
    schema = Schema.from_json(schema_path)
    real, synth = pd.read_csv(data), pd.read_csv(out_dir / "adult.synthetic.csv")
    tvd2 = fidelity(real, synth, schema, n_three_way=0)["tvd"]["2"]["mean"]
    print(f"fidelity: mean 2-way marginal TVD (synthetic vs real) = {tvd2:.4f} "
          "(computed on the real data without DP: for review only)")
    return 0


if __name__ == "__main__":
    sys.exit(run())
