"""The streaming executor in bounded memory: W1 reps through `kpi evaluate` and `evaluate_batches` (not a test).

    python bench/stream_bench.py                       # 5,000,000 reps streamed, 1,000,000 as the baseline
    python bench/stream_bench.py --reps 500000 --base 100000   # a quick look

Each contender runs in its own process and reports its wall time and its peak RSS (VmHWM):

- ``cli columnar`` (the baseline): ``kpi evaluate --engine columnar --format csv`` on ``--base`` reps,
  from CSV and from Parquet: the whole file in memory, the kernel, CSV written from its columns;
- ``cli streaming``: ``kpi evaluate --engine streaming --format csv`` on ``--base`` and on ``--reps``
  reps (blocks of the file, a temporary spill directory, the CSV written part by part);
- ``evaluate_batches``: the Parquet file's record batches (100,000 rows) through
  ``evaluate_batches(..., spill=DirectorySpill())``, the result batches written to a CSV file as they come;
  and, as the library's baseline at ``--base``, ``evaluate(engine="columnar")`` → ``long_table`` → CSV.

The parent prints each figure with its ratio to the columnar baseline of the same input format,
time per rep and peak. The W1 workload and its generator are bench/run.py's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run import peak_mb, w1_ruleset  # noqa: E402 - the bench folder's own module


def generate(folder: Path, reps: int, name: str) -> None:
    """``reps`` W1 records (bench/run.py's inputs) as ``name``.csv and ``name``.parquet, written in slices."""
    import numpy as np
    import polars as pl
    import pyarrow.parquet as pq

    rng = np.random.default_rng(1)
    writer = None
    step = 500_000
    with (folder / f"{name}.csv").open("w", encoding="utf-8") as csv_file:
        for start in range(0, reps, step):
            n = min(step, reps - start)
            cols: dict[str, object] = {
                "subject": pl.int_range(start, start + n, eager=True).cast(pl.Utf8).str.zfill(7).str.replace("^", "r"),
                "period": ["2026-03"] * n,
            }
            for i in range(1, 13):
                text = pl.Series(rng.integers(0, 13_000, n)).cast(pl.Utf8).str.zfill(5)
                cols[f"m{i:02d}"] = text.str.slice(0, 1) + "." + text.str.slice(1)
            part = pl.DataFrame(cols)
            csv_file.write(part.write_csv(include_header=start == 0))
            table = part.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(folder / f"{name}.parquet", table.schema)
            writer.write_table(table, row_group_size=250_000)
    if writer is not None:
        writer.close()


def _cli(folder: Path, data: str, engine: str) -> dict[str, object]:
    from kpi_engine.cli import main

    out = folder / f"out_{engine}.csv"
    argv = ["evaluate", str(folder / "w1.yaml"), "--records", str(folder / data), "--format", "csv"]
    code = main([*argv, "--engine", engine, "--out", str(out)])
    size = out.stat().st_size
    out.unlink()
    return {"code": code, "out_mb": round(size / 1e6)}


def _batches(folder: Path, data: str, streaming: bool) -> dict[str, object]:  # noqa: FBT001
    import polars as pl
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from kpi_engine import evaluate, load_ruleset
    from kpi_engine.evaluation.columnar import evaluate_batches, long_table
    from kpi_engine.io.spill import DirectorySpill

    rules = load_ruleset(folder / "w1.yaml")
    out = folder / "out_batches.csv"
    rows = 0
    if streaming:
        with pq.ParquetFile(folder / data) as file:
            reader = evaluate_batches(rules, file.iter_batches(batch_size=100_000), spill=DirectorySpill(folder))
            with pcsv.CSVWriter(out, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    else:
        appraisal = evaluate(rules, pl.read_parquet(folder / data), engine="columnar")
        table = long_table(appraisal)
        rows = table.height
        table.write_csv(out)
    out.unlink()
    return {"rows": rows}


CHILDREN = {
    "cli_columnar_csv_base": lambda f: _cli(f, "base.csv", "columnar"),
    "cli_columnar_parquet_base": lambda f: _cli(f, "base.parquet", "columnar"),
    "cli_streaming_csv_base": lambda f: _cli(f, "base.csv", "streaming"),
    "cli_streaming_parquet_base": lambda f: _cli(f, "base.parquet", "streaming"),
    "cli_streaming_csv": lambda f: _cli(f, "big.csv", "streaming"),
    "cli_streaming_parquet": lambda f: _cli(f, "big.parquet", "streaming"),
    "library_columnar_base": lambda f: _batches(f, "base.parquet", streaming=False),
    "batches_streaming_base": lambda f: _batches(f, "base.parquet", streaming=True),
    "batches_streaming": lambda f: _batches(f, "big.parquet", streaming=True),
}


def child(name: str, folder: Path) -> None:
    t0 = time.perf_counter()
    result = CHILDREN[name](folder)
    result["seconds"] = time.perf_counter() - t0
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


def run_child(name: str, folder: Path) -> dict[str, float] | None:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", name, "--dir", str(folder)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode
        print(f"  {name}: failed ({tail})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5_000_000, help="reps streamed (default 5,000,000)")
    parser.add_argument("--base", type=int, default=1_000_000, help="reps of the columnar baseline (default 1,000,000)")
    parser.add_argument("--child")
    parser.add_argument("--dir")
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.dir))
        return
    with tempfile.TemporaryDirectory(prefix="kpi-stream-bench-") as tmp:
        folder = Path(tmp)
        (folder / "w1.yaml").write_text(w1_ruleset(), encoding="utf-8")
        t0 = time.perf_counter()
        generate(folder, args.base, "base")
        generate(folder, args.reps, "big")
        print(f"W1 data: {args.base:,} and {args.reps:,} reps as CSV and Parquet ({time.perf_counter() - t0:.0f} s)")
        results = {name: run_child(name, folder) for name in CHILDREN}
    gib = 1024
    rows = [
        ("kpi evaluate, CSV", "cli_columnar_csv_base", "cli_streaming_csv_base", "cli_streaming_csv"),
        ("kpi evaluate, Parquet", "cli_columnar_parquet_base", "cli_streaming_parquet_base", "cli_streaming_parquet"),
        ("evaluate_batches, Parquet", "library_columnar_base", "batches_streaming_base", "batches_streaming"),
    ]
    print(f"\nbaseline: the columnar executor on {args.base:,} reps; ratios: time per rep and peak RSS against it")
    header = f"{'':<27} {'columnar':>20} {'streaming, same reps':>34} {f'streaming, {args.reps:,} reps':>40}"
    print(header)
    for label, base_name, same_name, big_name in rows:
        base, same, big = results[base_name], results[same_name], results[big_name]
        if base is None:
            print(f"{label:<27} baseline failed")
            continue
        cells = [f"{base['seconds']:7.1f} s {base['peak_mb']:6.0f} MB"]
        for got, reps in ((same, args.base), (big, args.reps)):
            if got is None:
                cells.append(f"{'failed':>34}")
                continue
            per_rep = (got["seconds"] / reps) / (base["seconds"] / args.base)
            cells.append(
                f"{got['seconds']:7.1f} s {got['peak_mb']:6.0f} MB ({per_rep:4.2f}× per rep, "
                f"{got['peak_mb'] / base['peak_mb']:4.2f}× peak)"
            )
        print(f"{label:<27} {cells[0]:>20} {cells[1]:>40} {cells[2]:>40}")
    big_peaks = [results[r[3]] for r in rows if results[r[3]] is not None]
    worst = max((r["peak_mb"] for r in big_peaks), default=0.0)  # type: ignore[index]
    verdict = "under" if worst < gib else "over"
    print(f"\nhighest peak streaming {args.reps:,} reps: {worst:.0f} MB ({verdict} 1 GiB)")


if __name__ == "__main__":
    main()
