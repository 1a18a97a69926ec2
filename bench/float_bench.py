"""Float64 and wide decimal Parquet against decimal Parquet on the columnar kernel (issue 16 §2).

The W1 scorecard of ``bench/run.py`` (twelve ratio inputs) over N reps, the same values written
three ways: ``decimal(10,4)`` columns (the baseline), ``Float64`` columns (as pandas, Polars or
Spark's inferSchema write them) and ``decimal128(38,18)``. Each run is a fresh process, through
``kpi evaluate --engine columnar --format csv --out FILE`` and through the API
(``evaluate(ruleset, pl.read_parquet(path), engine="columnar")``); the three files alternate within
each round so that they share the machine's load. Printed: the best wall time of the rounds and
each file's ratio to the decimal file in the same run. Ratios, not verdicts.

    python bench/float_bench.py [--reps 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run import w1_ruleset  # noqa: E402 - the bench folder's own module

API = """
import sys, time
import polars as pl
from kpi_engine import evaluate, load_ruleset
ruleset = load_ruleset(sys.argv[1])
started = time.perf_counter()
appraisal = evaluate(ruleset, pl.read_parquet(sys.argv[2]), engine="columnar")
assert appraisal.fallback is None and len(appraisal.results) > 0
print(time.perf_counter() - started)
"""


def generate(folder: Path, reps: int) -> dict[str, Path]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)
    cols: dict[str, object] = {"subject": [f"r{i:07d}" for i in range(reps)], "period": ["2026-03"] * reps}
    for i in range(1, 13):
        ints = pl.Series(rng.integers(0, 13_000, reps))  # 0.0000 … 1.2999, four places
        cols[f"m{i:02d}"] = (ints.cast(pl.Int128).cast(pl.Decimal(38, 0)) / 10_000).cast(pl.Decimal(10, 4))
    decimal = pl.DataFrame(cols)
    names = [f"m{i:02d}" for i in range(1, 13)]
    files = {
        "decimal(10,4)": folder / "w1_dec.parquet",
        "float64": folder / "w1_f64.parquet",
        "decimal(38,18)": folder / "w1_d38.parquet",
    }
    decimal.write_parquet(files["decimal(10,4)"])
    decimal.with_columns(pl.col(names).cast(pl.Float64)).write_parquet(files["float64"])
    decimal.with_columns(pl.col(names).cast(pl.Decimal(38, 18))).write_parquet(files["decimal(38,18)"])
    return files


def cli(ruleset: Path, records: Path, out: Path) -> float:
    command = [
        sys.executable, "-c", "import sys; from kpi_engine.cli import main; sys.exit(main())", "evaluate", str(ruleset),
        "--records", str(records), "--engine", "columnar", "--format", "csv", "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0 or done.stderr.strip():
        msg = f"{' '.join(command)}: exit {done.returncode}: {done.stderr}"
        raise SystemExit(msg)
    return wall


def api(ruleset: Path, records: Path) -> float:
    done = subprocess.run(
        [sys.executable, "-c", API, str(ruleset), str(records)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ruleset = folder / "w1.yaml"
        ruleset.write_text(w1_ruleset(), encoding="utf-8")
        files = generate(folder, args.reps)
        best: dict[tuple[str, str], float] = {}
        for _ in range(args.rounds):
            for label, path in files.items():
                for way, seconds in (
                    ("kpi evaluate", cli(ruleset, path, folder / "out.csv")),
                    ("API", api(ruleset, path)),
                ):
                    best[way, label] = min(best.get((way, label), float("inf")), seconds)
        print(f"W1, {args.reps:,} reps, --engine columnar, best of {args.rounds} alternating rounds")
        print(f"{'input':16} {'way':14} {'wall s':>8} {'÷ decimal(10,4)':>16}")
        for way in ("kpi evaluate", "API"):
            base = best[way, "decimal(10,4)"]
            for label in files:
                print(f"{label:16} {way:14} {best[way, label]:8.2f} {best[way, label] / base:15.2f}×")


if __name__ == "__main__":
    main()
