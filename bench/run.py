"""kpi_engine against hand-written baselines, each contender in its own process (not a test).

    python bench/run.py --scale small     # under a minute
    python bench/run.py --scale full      # W1 100,000 reps, W2 5,000,000 events

Workloads (issue 6 §4):
  W1  reps × 12 linear KPIs (clipped to [0, 120], weights 20/12/8/10/10/5/5/8/7/5/5/5 %, three
      lower-is-better), a gate `renewal < 90 %` capping the total at 60, grades A/B/C/D; inputs with
      4 decimals, every floor 0 (1 for lower-is-better) and every target 1: a throughput workload
      for the columnar kernel. Contenders: kpi row path, kpi columnar (to an Appraisal, and to the
      CSV table), hand-written Polars and DuckDB (Float64, so not exact: speed references).
  TEAMS  an app appraising one team of 10 at a time on a realistic 12-KPI scorecard (floors at
      60-80 % of targets in the thousands): the kpi row executor on text and on Decimal cells (the
      call, which takes the generated fast lane of evaluation/fastrow.py and builds result objects
      only when read; and the call plus reading every rep's total, grade, rank and KPI scores)
      against zen-engine's three calls (bench/teams_bench.py, alternating rounds, its own processes).
  W2  events → per-rep metrics of one quarter (count, sum, mean, count_distinct with filters) and
      scores: kpi columnar against DuckDB SQL.
  W3  lead attribution: bench/w3_attribution.py when present (written with the vectorised walk).
  E2E a Parquet file of the W1 reps → kpi columnar → CSV table (library), and `kpi evaluate
      --engine columnar --format csv` on 10,000 of them (the CLI renders result objects).

Each child reports the seconds of its measured step (data already in memory in the contender's
own form; E2E: the whole command) and its own peak RSS (VmHWM from /proc/self/status). Ratios, not
verdicts: the parent prints each figure against the Polars (W1) or DuckDB (W2) baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = [20, 12, 8, 10, 10, 5, 5, 8, 7, 5, 5, 5]
LOWER = {4, 8, 11}  # lower-is-better KPIs (1-based)
SCALES = {
    "small": {"reps": 10_000, "row_reps": 2_000, "events": 500_000, "event_reps": 2_000},
    "full": {"reps": 100_000, "row_reps": 10_000, "events": 5_000_000, "event_reps": 10_000},
}


def w1_ruleset() -> str:
    inputs = "\n".join(f"  m{i:02d}: {{type: ratio, min: 0, max: 2}}" for i in range(1, 13))
    kpis = "\n".join(
        f"  - {{id: k{i:02d}, metric: m{i:02d}, method: linear, direction: {'lower' if i in LOWER else 'higher'}, "
        f"floor: {1 if i in LOWER else 0}, target: {0 if i in LOWER else 1}, cap: 120, weight: {WEIGHTS[i - 1]}%}}"
        for i in range(1, 13)
    )
    return f"""ruleset: w1
version: "1"
title: W1 twelve linear KPIs
subject: rep
period: month
inputs:
{inputs}
kpis:
{kpis}
gates:
  - {{id: renewal, when: m03 < 90%, cap_total: 60}}
grades:
  - {{grade: A, min: 90}}
  - {{grade: B, min: 75}}
  - {{grade: C, min: 60}}
  - {{grade: D}}
"""


W2_RULESET = """ruleset: w2
version: "1"
title: W2 quarterly activity from events
subject: rep
period: quarter
timezone: Asia/Shanghai
inputs:
  sales_target: {type: money, min: 0}
event_fields:
  amount: money
  score: score
metrics:
  visits: {aggregate: {fn: count, where: type == 'visit'}}
  revenue: {aggregate: {fn: sum, field: amount, where: type == 'deal'}}
  satisfaction: {aggregate: {fn: mean, field: score, where: type == 'survey'}}
  customers: {aggregate: {fn: count_distinct, field: customer}}
  attainment: {formula: revenue / sales_target}
kpis:
  - {id: visits, metric: visits, method: linear, floor: 0, target: 150, cap: 120, weight: 25%}
  - {id: attainment, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 40%}
  - {id: satisfaction, metric: satisfaction, method: threshold, target: 4.5, weight: 15%}
  - {id: customers, metric: customers, method: linear, floor: 0, target: 300, cap: 100, weight: 20%}
grades:
  - {grade: A, min: 90}
  - {grade: B, min: 75}
  - {grade: C, min: 60}
  - {grade: D}
"""


# ---------------------------------------------------------------------------------------------- data


def generate(scale: str, folder: Path) -> None:
    import numpy as np
    import polars as pl

    s = SCALES[scale]
    rng = np.random.default_rng(1)
    n = s["reps"]
    cols: dict[str, object] = {"subject": [f"r{i:06d}" for i in range(n)], "period": ["2026-03"] * n}
    for i in range(1, 13):
        ints = rng.integers(0, 13_000, n)
        cols[f"m{i:02d}"] = (
            pl.Series(ints).cast(pl.Utf8).str.zfill(5).str.slice(0, 1)
            + "."
            + pl.Series(ints).cast(pl.Utf8).str.zfill(5).str.slice(1)
        )
    w1 = pl.DataFrame(cols)
    w1.write_csv(folder / "w1.csv")
    w1.write_parquet(folder / "w1.parquet")
    w1.with_columns(pl.col(f"m{i:02d}").cast(pl.Decimal(10, 4)) for i in range(1, 13)).write_parquet(
        folder / "w1_dec.parquet"
    )
    w1.head(s["row_reps"]).write_csv(folder / "w1_row.csv")
    (folder / "w1.yaml").write_text(w1_ruleset(), encoding="utf-8")
    # W2: events of one quarter, timestamps as naive local datetimes, amounts as exact text.
    m, reps = s["events"], s["event_reps"]
    kinds = np.array(["visit", "call", "deal", "survey"])
    kind = kinds[rng.choice(4, m, p=[0.4, 0.3, 0.2, 0.1])]
    start = np.datetime64("2026-01-01T00:00:00")
    seconds = rng.integers(0, 90 * 86_400, m).astype("timedelta64[s]")
    cents = rng.integers(100, 5_000_000, m)
    events = pl.DataFrame(
        {
            "event_id": pl.Series(np.arange(m)).cast(pl.Utf8).str.zfill(9),
            "type": kind,
            "at": (start + seconds).astype("datetime64[us]"),
            "rep": "r" + pl.Series(rng.integers(0, reps, m)).cast(pl.Utf8).str.zfill(5),
            "customer": "c" + pl.Series(rng.integers(0, 200_000, m)).cast(pl.Utf8).str.zfill(6),
        }
    ).with_columns(
        pl.when(pl.col("type") == "deal")
        .then(pl.Series(cents // 100).cast(pl.Utf8) + "." + pl.Series(cents % 100).cast(pl.Utf8).str.zfill(2))
        .alias("amount"),
        pl.when(pl.col("type") == "survey").then(pl.Series(rng.integers(1, 6, m)).cast(pl.Utf8)).alias("score"),
    )
    events.write_parquet(folder / "events.parquet")
    pl.DataFrame(
        {
            "subject": [f"r{i:05d}" for i in range(reps)],
            "period": ["2026-Q1"] * reps,
            "sales_target": ["2000000"] * reps,
        }
    ).write_parquet(folder / "w2_records.parquet")
    (folder / "w2.yaml").write_text(W2_RULESET, encoding="utf-8")


# -------------------------------------------------------------------------------------- contenders


def w1_polars(folder: Path) -> dict[str, object]:
    import polars as pl

    df = pl.read_csv(folder / "w1.csv", schema_overrides={f"m{i:02d}": pl.Float64 for i in range(1, 13)})
    t0 = time.perf_counter()
    total = pl.lit(0.0)
    for i in range(1, 13):
        x = pl.col(f"m{i:02d}")
        raw = (1 - x) * 100 if i in LOWER else x * 100
        total = total + raw.clip(0, 120) * (WEIGHTS[i - 1] / 100)
    out = (
        df.lazy()
        .select("subject", total.alias("raw"), pl.col("m03"))
        .with_columns(pl.when(pl.col("m03") < 0.9).then(pl.min_horizontal("raw", pl.lit(60.0))).otherwise("raw").alias("total"))
        .with_columns(
            pl.when(pl.col("total") >= 90).then(pl.lit("A")).when(pl.col("total") >= 75).then(pl.lit("B"))
            .when(pl.col("total") >= 60).then(pl.lit("C")).otherwise(pl.lit("D")).alias("grade"),
            pl.col("total").rank("min", descending=True).alias("rank"),
        )
        .collect()
    )  # fmt: skip
    return {"seconds": time.perf_counter() - t0, "rows": out.height}


def w1_duckdb(folder: Path) -> dict[str, object]:
    import duckdb
    import polars as pl

    df = pl.read_csv(folder / "w1.csv", schema_overrides={f"m{i:02d}": pl.Float64 for i in range(1, 13)})
    con = duckdb.connect()
    con.register("w1", df.to_arrow())
    terms = " + ".join(
        f"LEAST(GREATEST({'(1 - m' if i in LOWER else '(m'}{i:02d}) * 100, 0), 120) * {WEIGHTS[i - 1] / 100}"
        for i in range(1, 13)
    )
    sql = f"""
        WITH s AS (SELECT subject, m03, {terms} AS raw FROM w1),
        t AS (SELECT subject, CASE WHEN m03 < 0.9 THEN LEAST(raw, 60) ELSE raw END AS total FROM s)
        SELECT subject, total,
               CASE WHEN total >= 90 THEN 'A' WHEN total >= 75 THEN 'B' WHEN total >= 60 THEN 'C' ELSE 'D' END AS grade,
               RANK() OVER (ORDER BY total DESC) AS rank
        FROM t"""  # noqa: S608 - constants of this script
    t0 = time.perf_counter()
    out = con.execute(sql).to_arrow_table()
    return {"seconds": time.perf_counter() - t0, "rows": out.num_rows}


def w1_kpi_columnar(folder: Path) -> dict[str, object]:
    import polars as pl

    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "w1.yaml")
    df = pl.read_csv(folder / "w1.csv", infer_schema=False)
    typed = pl.read_parquet(folder / "w1_dec.parquet")  # decimal128(10, 4): the typed form, as Float64 is Polars'
    evaluate(ruleset, df.head(100), engine="columnar")  # warm the imports (Polars, NumPy, pyarrow)
    evaluate(ruleset, typed.head(100), engine="columnar")
    t0 = time.perf_counter()
    appraisal = evaluate(ruleset, df, engine="columnar")
    text_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    typed_appraisal = evaluate(ruleset, typed, engine="columnar")
    typed_seconds = time.perf_counter() - t0
    assert typed_appraisal.results[0] == appraisal.results[0]
    t1 = time.perf_counter()
    table = appraisal.results.long_table(appraisal.period)  # type: ignore[attr-defined]
    t2 = time.perf_counter()
    top = appraisal.results[0]
    return {"seconds": typed_seconds, "text_seconds": text_seconds, "table_seconds": t2 - t1, "rows": len(appraisal.results), "table_rows": table.height,
            "top": [top.subject, str(top.total), top.grade]}  # fmt: skip


def w1_kpi_row(folder: Path) -> dict[str, object]:
    from kpi_engine import evaluate, load_ruleset, read_table

    ruleset = load_ruleset(folder / "w1.yaml")
    table = read_table(folder / "w1_row.csv")
    t0 = time.perf_counter()
    appraisal = evaluate(ruleset, table, engine="row")
    return {"seconds": time.perf_counter() - t0, "rows": len(appraisal.results)}


def w2_kpi_columnar(folder: Path) -> dict[str, object]:
    import polars as pl

    from kpi_engine import evaluate, load_ruleset

    ruleset = load_ruleset(folder / "w2.yaml")
    records = pl.read_parquet(folder / "w2_records.parquet")
    events = pl.read_parquet(folder / "events.parquet")
    t0 = time.perf_counter()
    appraisal = evaluate(ruleset, records, events=events, engine="columnar")
    seconds = time.perf_counter() - t0
    top = appraisal.results[0]
    return {"seconds": seconds, "rows": len(appraisal.results), "top": [top.subject, str(top.total), top.grade]}


def w2_duckdb(folder: Path) -> dict[str, object]:
    import duckdb

    con = duckdb.connect()
    sql = f"""
        WITH e AS (SELECT * FROM read_parquet('{folder / "events.parquet"}')),
        m AS (
            SELECT rep, date_trunc('quarter', "at") AS quarter,
                   count(*) FILTER (WHERE type = 'visit') AS visits,
                   coalesce(sum(CAST(amount AS DECIMAL(18, 2))) FILTER (WHERE type = 'deal'), 0) AS revenue,
                   avg(CAST(score AS DECIMAL(18, 2))) FILTER (WHERE type = 'survey') AS satisfaction,
                   count(DISTINCT customer) AS customers
            FROM e GROUP BY ALL),
        s AS (
            SELECT m.*, r.sales_target,
                   LEAST(GREATEST(visits * 100.0 / 150, 0), 120) AS s_visits,
                   LEAST(GREATEST(revenue * 100.0 / CAST(r.sales_target AS DECIMAL(18, 2)), 0), 120) AS s_att,
                   CASE WHEN satisfaction >= 4.5 THEN 100 ELSE 0 END AS s_sat,
                   LEAST(GREATEST(customers * 100.0 / 300, 0), 100) AS s_cust
            FROM m JOIN read_parquet('{folder / "w2_records.parquet"}') r ON r.subject = m.rep)
        SELECT rep, quarter, s_visits * 0.25 + s_att * 0.40 + s_sat * 0.15 + s_cust * 0.20 AS total FROM s"""  # noqa: S608 - paths of this script's temporary folder
    t0 = time.perf_counter()
    out = con.execute(sql).to_arrow_table()
    return {"seconds": time.perf_counter() - t0, "rows": out.num_rows}


def e2e(folder: Path) -> dict[str, object]:
    """The library end to end: Parquet file → kernel → CSV table of every reported figure → file."""
    import polars as pl

    from kpi_engine import evaluate, load_ruleset

    t0 = time.perf_counter()
    ruleset = load_ruleset(folder / "w1.yaml")
    appraisal = evaluate(ruleset, pl.read_parquet(folder / "w1.parquet"), engine="columnar")
    table = appraisal.results.long_table(appraisal.period)  # type: ignore[attr-defined]
    table.write_csv(folder / "out.csv")
    return {"seconds": time.perf_counter() - t0, "rows": table.height, "bytes": (folder / "out.csv").stat().st_size}


def e2e_read(folder: Path) -> dict[str, object]:
    """The floor: Polars reads the Parquet file and writes it back as CSV (no evaluation)."""
    import polars as pl

    t0 = time.perf_counter()
    frame = pl.read_parquet(folder / "w1.parquet")
    read = time.perf_counter() - t0
    frame.write_csv(folder / "copy.csv")
    return {"seconds": time.perf_counter() - t0, "read_seconds": read, "rows": frame.height}


def _e2e_cli(folder: Path, fmt: str) -> dict[str, object]:
    """`kpi evaluate --format FMT` on every rep (engine auto: the kernel, columns in and text out)."""
    from kpi_engine.cli import main

    out = folder / f"out_cli.{fmt}"
    t0 = time.perf_counter()
    code = main(["evaluate", str(folder / "w1.yaml"), "--records", str(folder / "w1.parquet"),
                 "--format", fmt, "--out", str(out)])  # fmt: skip
    return {"seconds": time.perf_counter() - t0, "code": code, "bytes": out.stat().st_size}


def e2e_cli(folder: Path) -> dict[str, object]:
    return _e2e_cli(folder, "csv")


def e2e_cli_jsonl(folder: Path) -> dict[str, object]:
    return _e2e_cli(folder, "jsonl")


CHILDREN = {
    "w1_polars": w1_polars,
    "w1_duckdb": w1_duckdb,
    "w1_kpi_columnar": w1_kpi_columnar,
    "w1_kpi_row": w1_kpi_row,
    "w2_kpi_columnar": w2_kpi_columnar,
    "w2_duckdb": w2_duckdb,
    "e2e": e2e,
    "e2e_cli": e2e_cli,
    "e2e_cli_jsonl": e2e_cli_jsonl,
    "e2e_read": e2e_read,
}


def peak_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would carry the parent's peak across exec on Linux)."""
    try:
        for text in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if text.startswith("VmHWM:"):
                return int(text.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, folder: Path) -> None:
    result = CHILDREN[name](folder)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result))


# ------------------------------------------------------------------------------------------ parent


def run_child(name: str, folder: Path) -> dict[str, object] | None:
    cmd = [sys.executable, __file__, "--child", name, "--dir", str(folder)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  {name}: failed ({proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode})")
        return None
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def line(label: str, seconds: float, base: float, peak: float, note: str = "") -> None:
    print(f"  {label:<44} {seconds:>9.3f} s  {seconds / base:>8.1f}×  {peak:>8.0f} MB  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--only", default="w1,teams,w2,w3,e2e", help="comma-separated workloads")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.dir))
        return
    s = SCALES[args.scale]
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="kpi-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        generate(args.scale, folder)
        print(f"kpi_engine bench, scale {args.scale}: data generated in {time.perf_counter() - t0:.1f} s")
        print(f"  {'contender':<44} {'seconds':>11}  {'ratio':>9}  {'peak':>11}")
        if "w1" in only:
            print(f"W1: {s['reps']:,} reps × 12 linear KPIs (ratio to the Polars baseline)")
            pol = run_child("w1_polars", folder)
            duck = run_child("w1_duckdb", folder)
            col = run_child("w1_kpi_columnar", folder)
            row = run_child("w1_kpi_row", folder)
            base = float(pol["seconds"]) if pol else 1.0  # type: ignore[arg-type]
            if pol:
                line("Polars, hand-written (Float64)", base, base, float(pol["peak_mb"]))  # type: ignore[arg-type]
            if duck:
                line("DuckDB SQL, hand-written (DOUBLE)", float(duck["seconds"]), base, float(duck["peak_mb"]))  # type: ignore[arg-type]
            if col:
                line("kpi columnar, decimal128 columns → Appraisal", float(col["seconds"]), base, float(col["peak_mb"]))  # type: ignore[arg-type]
                line(
                    "kpi columnar, CSV text columns → Appraisal",
                    float(col["text_seconds"]),
                    base,
                    float(col["peak_mb"]),
                )  # type: ignore[arg-type]
                line(
                    "  + the CSV table of every reported figure",
                    float(col["table_seconds"]),
                    base,
                    float(col["peak_mb"]),
                )  # type: ignore[arg-type]
            if row:
                scaled = float(row["seconds"]) * s["reps"] / s["row_reps"]  # type: ignore[arg-type]
                line(f"kpi row path (measured on {s['row_reps']:,}, scaled)", scaled, base, float(row["peak_mb"]),  # type: ignore[arg-type]
                     f"{float(row['seconds']) / s['row_reps'] * 1000:.3f} ms/rep")  # type: ignore[arg-type]  # fmt: skip
        if "teams" in only:
            print("TEAMS: small batches, teams of 10, the realistic T12 scorecard (bench/teams_bench.py)")
            reps = "2000" if args.scale == "small" else "10000"
            proc = subprocess.run([sys.executable, str(ROOT / "bench" / "teams_bench.py"), "--reps", reps, "--rounds", "3"],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            print("  " + (proc.stdout.strip() or proc.stderr.strip()).replace("\n", "\n  "))
        if "w2" in only:
            print(f"W2: {s['events']:,} events, {s['event_reps']:,} reps, one quarter (ratio to DuckDB)")
            duck = run_child("w2_duckdb", folder)
            col = run_child("w2_kpi_columnar", folder)
            base = float(duck["seconds"]) if duck else 1.0  # type: ignore[arg-type]
            if duck:
                line("DuckDB SQL (avg as DOUBLE)", base, base, float(duck["peak_mb"]))  # type: ignore[arg-type]
            if col:
                line("kpi columnar (exact)", float(col["seconds"]), base, float(col["peak_mb"]))  # type: ignore[arg-type]
        if "w3" in only:
            w3 = ROOT / "bench" / "w3_attribution.py"
            if w3.exists():
                print("W3: lead attribution (bench/w3_attribution.py)")
                events = "100000" if args.scale == "small" else "1000000"
                proc = subprocess.run([sys.executable, str(w3), "--events", events], capture_output=True, text=True,
                                      check=False)  # fmt: skip
                print("  " + (proc.stdout.strip() or proc.stderr.strip()).replace("\n", "\n  "))
            else:
                print("W3: skipped (bench/w3_attribution.py is not in this tree yet)")
        if "e2e" in only:
            print(
                f"E2E: {s['reps']:,}-rep Parquet file → kpi columnar → every reported figure (ratio to the library path)"
            )
            floor = run_child("e2e_read", folder)
            end = run_child("e2e", folder)
            base = float(end["wall"]) if end else 1.0  # type: ignore[arg-type]
            if floor:
                line("Polars: read the Parquet, write it as CSV", float(floor["wall"]), base, float(floor["peak_mb"]),  # type: ignore[arg-type]
                     f"in-process {float(floor['seconds']):.2f} s (read {float(floor['read_seconds']):.2f} s)")  # type: ignore[arg-type]  # fmt: skip
            if end:
                line("library: read, evaluate, long_table, CSV", base, base, float(end["peak_mb"]),  # type: ignore[arg-type]
                     f"in-process {float(end['seconds']):.2f} s, {int(end['bytes']) / 1e6:.0f} MB")  # type: ignore[arg-type]  # fmt: skip
            for name, label in (
                ("e2e_cli", "kpi evaluate --format csv"),
                ("e2e_cli_jsonl", "kpi evaluate --format jsonl"),
            ):
                cli = run_child(name, folder)
                if cli:
                    line(label, float(cli["wall"]), base, float(cli["peak_mb"]),  # type: ignore[arg-type]
                         f"in-process {float(cli['seconds']):.2f} s, {int(cli['bytes']) / 1e6:.0f} MB")  # type: ignore[arg-type]  # fmt: skip
            print("  (seconds: whole process, start-up and imports included)")


if __name__ == "__main__":
    main()
