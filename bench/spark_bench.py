"""kpi_engine.spark against one process: W1 reps (12 linear KPIs) on Spark local with 2/4/8 partitions.

    python bench/spark_bench.py                 # 1,000,000 reps (a few minutes on 2 cores)
    python bench/spark_bench.py --reps 100000   # a quick look
    python bench/spark_bench.py --money --partitions 4   # money inputs: the totals-row sums job, with and without

With ``--money`` the twelve inputs are money (a scorecard with additive inputs can have a totals row
by column sums), so ``kpi_engine.spark.evaluate`` first runs its sums job (``_column_sums``); each
partitioning is then also run with that job switched off, and the ratio of the two is printed.

The baseline is measured in the same run: one process evaluates the same Parquet file
(``kpi_engine.evaluate`` on the columnar executor, then ``result_table``, the typed rows Spark
returns; and ``evaluate_batches``, the text table). Spark reads the file, evaluates with
``kpi_engine.spark.evaluate`` (whole subjects per task, global rank pass) and writes to Spark's
``noop`` sink, so every row is computed. Printed: seconds and the ratio to the one-process run.
Spark's session start is not counted; its first job warms the Python workers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import w1_ruleset


def generate(reps: int, folder: Path) -> Path:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(1)
    cols: dict[str, object] = {"subject": [f"r{i:07d}" for i in range(reps)], "period": ["2026-03"] * reps}
    for i in range(1, 13):
        text = pl.Series(rng.integers(0, 13_000, reps)).cast(pl.Utf8).str.zfill(5)
        cols[f"m{i:02d}"] = text.str.slice(0, 1) + "." + text.str.slice(1)
    path = folder / "w1.parquet"
    pl.DataFrame(cols).with_columns(pl.col(f"m{i:02d}").cast(pl.Decimal(10, 4)) for i in range(1, 13)).write_parquet(
        path
    )
    (folder / "w1.yaml").write_text(w1_ruleset(), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=1_000_000)
    parser.add_argument("--partitions", default="2,4,8")
    parser.add_argument("--money", action="store_true", help="money inputs: measure the totals-row sums job")
    args = parser.parse_args()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    import pyarrow.parquet as pq
    from pyspark.sql import SparkSession

    from kpi_engine import evaluate, load_ruleset
    from kpi_engine import spark as ks
    from kpi_engine.evaluation.columnar import evaluate_batches
    from kpi_engine.report.results_table import result_table

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = generate(args.reps, folder)
        if args.money:
            text = (folder / "w1.yaml").read_text(encoding="utf-8")
            (folder / "w1.yaml").write_text(text.replace("type: ratio, min: 0, max: 2", "type: money, min: 0"))
        ruleset = load_ruleset(folder / "w1.yaml")
        table = pq.read_table(path)
        evaluate(ruleset, table.slice(0, 100), engine="columnar")  # warm the imports
        t0 = time.perf_counter()
        appraisal = evaluate(ruleset, table, engine="columnar")
        rows = result_table(appraisal).num_rows
        one = time.perf_counter() - t0
        t0 = time.perf_counter()
        text_rows = evaluate_batches(ruleset, table.to_batches()).read_all().num_rows
        batches = time.perf_counter() - t0
        del appraisal
        print(f"W1 {args.reps:,} reps × 12 KPIs = {rows:,} rows; 2 cores")
        print(f"  one process, evaluate + result_table : {one:7.1f} s   (baseline)")
        print(
            f"  one process, evaluate_batches (text) : {batches:7.1f} s   {batches / one:5.2f}×  ({text_rows:,} rows)"
        )
        spark = (
            SparkSession.builder.master("local[2]")
            .config("spark.driver.memory", "6g")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        df = spark.read.parquet(str(path))
        ks.evaluate(df.limit(1000), ruleset, partitions=2).write.format("noop").mode("overwrite").save()  # warm up

        def timed(n: int, *, sums: bool = True) -> float:
            ks.WHOLE_INPUT_TOTALS = sums  # False: the sums job switched off
            try:
                t0 = time.perf_counter()
                ks.evaluate(df, ruleset, partitions=n).write.format("noop").mode("overwrite").save()
                return time.perf_counter() - t0
            finally:
                ks.WHOLE_INPUT_TOTALS = True

        for n in [int(p) for p in args.partitions.split(",")]:
            seconds = timed(n)  # first: any warming favours the run without the sums job
            bare = timed(n, sums=False) if args.money else None
            print(f"  Spark local[2], {n} partitions        : {seconds:7.1f} s   {seconds / one:5.2f}×")
            if bare is not None:
                print(
                    f"    same without the sums job          : {bare:7.1f} s   {bare / one:5.2f}×"
                    f"   (the sums job costs {seconds / bare:4.2f}×)"
                )
        spark.stop()


if __name__ == "__main__":
    main()
