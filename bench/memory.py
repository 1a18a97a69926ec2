"""Peak memory (RSS) of kpi_engine on large inputs, each measured in a fresh child process.

- records: the S1 rep scorecard over N records in a CSV file (``kpi evaluate``'s path: read_table,
  evaluate, compact JSON);
- lead events: N lead events in a CSV file, twice: ``kpi attribute`` itself (the command's
  ``main``: the column-wise log when Polars is installed, the credits streamed as JSON to a file),
  and the library's list path (``read_events`` with the policy into ``LeadEvent``s, ``attribute``,
  the JSON text of the credits built whole).
- columnar: ``kpi evaluate`` on N records (default 1,000,000) in a CSV and in a Parquet file on the
  columnar path (records read as columns, the kernel, CSV written from its columns), with S1 as
  shipped (its ``previous`` metric reads both months), against a plain Polars read of the
  same file and the library path (``evaluate(engine="columnar")`` → ``long_table`` → CSV).

Each is printed next to a baseline measured in the same run on the same file: a plain
``csv.reader`` pass that keeps nothing (the cost of reading the bytes), and the interpreter with
kpi_engine imported and nothing read. Ratios, not verdicts.

    python bench/memory.py [--records 100000] [--events 2000000] [--columnar 1000000]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from attribution_bench import generate as generate_events  # noqa: E402 - the bench folder's own module

COLUMNS = [
    "subject", "period", "sales_target", "sales_actual", "weekly_orders", "new_customers", "visits_existing",
    "phone_calls", "lost_customers", "conduct_score", "plans_due", "plans_done", "resource_requests",
    "resource_replies", "lead_registrations", "timely_follow_ups",
]  # fmt: skip


def generate_records(path: Path, count: int, seed: int = 1) -> None:
    """``count`` S1 records: half the reps in 2026-02, the other half's rows in 2026-03."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for i in range(count):
            period = "2026-02" if i % 2 == 0 else "2026-03"
            w.writerow([
                f"r{i // 2:07d}", period, 100000, rnd.randrange(30000, 130000), rnd.randrange(0, 10),
                rnd.randrange(0, 7), rnd.randrange(0, 25), rnd.randrange(0, 150), rnd.randrange(0, 6),
                rnd.randrange(50, 100), 8, rnd.randrange(4, 9), 10, rnd.randrange(5, 11), 5, rnd.randrange(0, 6),
            ])  # fmt: skip


def columnar_child(kind: str, path: str) -> dict[str, object]:
    """One measurement of the columnar workload (the ruleset is next to the records)."""
    import polars as pl

    rules = ROOT / "rulesets/sales_rep_monthly.yaml"  # S1 as shipped: its `previous` metric runs in the kernel
    out = Path(path).parent / f"out_{kind}.csv"
    if kind == "polars_read":
        frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
        return {"rows": frame.height}
    if kind == "library":
        from kpi_engine import evaluate, load_ruleset

        frame = pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)
        appraisal = evaluate(load_ruleset(rules), frame, period="2026-03", engine="columnar")
        appraisal.results.long_table(appraisal.period).write_csv(out)  # type: ignore[attr-defined]
        return {"subjects": len(appraisal.results), "out_mb": round(out.stat().st_size / 1e6, 1)}
    from kpi_engine.cli import main

    argv = ["evaluate", str(rules), "--records", path, "--period", "2026-03", "--format", "csv", "--out", str(out)]
    code = main(argv)
    if code != 0:
        raise SystemExit(code)
    return {"out_mb": round(out.stat().st_size / 1e6, 1)}


def child(kind: str, path: str, limit_mb: int) -> None:
    """Run one measurement in this (fresh) process and print its figures as JSON."""
    if limit_mb:  # fail (MemoryError, reported) rather than push a shared machine into swap
        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * 1024 * 1024, resource.RLIM_INFINITY))
    t0 = time.perf_counter()
    extra: dict[str, object] = {}
    if kind == "csv_reader":
        with Path(path).open(newline="", encoding="utf-8") as fh:
            extra["rows"] = sum(1 for _ in csv.reader(fh))
    elif kind == "import_only":
        import kpi_engine.attribution
        import kpi_engine.cli  # noqa: F401
    elif kind == "records":
        from kpi_engine import evaluate, load_ruleset, read_table

        appraisal = evaluate(load_ruleset(ROOT / "rulesets/sales_rep_monthly.yaml"), read_table(path))
        extra["subjects"] = len(appraisal.results)
        extra["json_mb"] = round(len(appraisal.to_json()) / 1e6, 1)
    elif kind == "kpi_attribute":
        from kpi_engine.cli import main

        out = Path(path).with_suffix(".json")
        code = main(["attribute", str(ROOT / "examples/attribution/policy.yaml"), "--events", path, "--out", str(out)])
        extra["exit"] = code
        extra["json_mb"] = round(out.stat().st_size / 1e6, 1)
        out.unlink()
    elif kind in {"polars_read", "library", "cli_columnar"}:
        extra = columnar_child(kind, path)
    elif kind == "events":
        from kpi_engine.attribution import attribute, format_attribution, load_policy, read_events

        policy = load_policy(ROOT / "examples/attribution/policy.yaml")
        result = attribute(policy, read_events(path, policy))
        extra["credits"] = len(result.credits)
        extra["json_mb"] = round(len(format_attribution(result, "json")) / 1e6, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": peak, "seconds": time.perf_counter() - t0, **extra}))


LIMIT_MB = [4096]


def measure(kind: str, path: Path) -> dict[str, float]:
    """Run ``child`` in a fresh interpreter; return its figures."""
    argv = [sys.executable, __file__, "--child", kind, "--path", str(path), "--limit-mb", str(LIMIT_MB[0])]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def report(title: str, path: Path, kind: str, base: dict[str, float], empty: dict[str, float]) -> None:
    """Print one workload against the baselines."""
    got = measure(kind, path)
    size = path.stat().st_size / 1e6
    print(f"{title} ({size:.0f} MB CSV):")
    print(f"  csv.reader pass (baseline)  peak RSS {base['peak_rss_mb']:7.0f} MB  {base['seconds']:6.1f} s")
    print(f"  kpi_engine imported only    peak RSS {empty['peak_rss_mb']:7.0f} MB")
    if "error" in got:
        print(f"  kpi_engine                  failed: {got['error']}")
        return
    details = ", ".join(f"{k} {v}" for k, v in got.items() if k not in {"peak_rss_mb", "seconds"})
    print(f"  kpi_engine                  peak RSS {got['peak_rss_mb']:7.0f} MB  {got['seconds']:6.1f} s  ({details})")
    over = got["peak_rss_mb"] - empty["peak_rss_mb"]
    count = got.get("subjects", got.get("credits"))
    per = f"{over * 1e6 / count:,.0f} bytes per {'subject' if kind == 'records' else 'credit'}, " if count else ""
    print(
        f"  ratio to the csv.reader pass: {got['peak_rss_mb'] / base['peak_rss_mb']:.1f}x; "
        f"above the import: {over:.0f} MB = {per}{over / size:.1f} MB per MB read"
    )


def columnar_report(folder: Path, count: int) -> None:
    """``kpi evaluate`` on the columnar path, CSV and Parquet, against a Polars read and the library path."""
    import polars as pl

    csv_path = folder / "records_columnar.csv"
    generate_records(csv_path, count)
    parquet_path = folder / "records_columnar.parquet"
    pl.read_csv(csv_path).write_parquet(parquet_path)  # typed: Int64 columns
    for path in (csv_path, parquet_path):
        size = path.stat().st_size / 1e6
        print(f"{count:,} records, kpi evaluate on the columnar path ({path.suffix[1:]}, {size:.0f} MB):")
        base = measure("polars_read", path)
        rows = [("Polars read (baseline)", base), ("library: evaluate + long_table", measure("library", path)),
                ("kpi evaluate --format csv", measure("cli_columnar", path))]  # fmt: skip
        for label, got in rows:
            if "error" in got:
                print(f"  {label:<32} failed: {got['error']}")
                continue
            details = ", ".join(f"{k} {v}" for k, v in got.items() if k not in {"peak_rss_mb", "seconds"})
            ratio = got["peak_rss_mb"] / base["peak_rss_mb"] if "peak_rss_mb" in base else float("nan")
            print(
                f"  {label:<32} peak RSS {got['peak_rss_mb']:7.0f} MB ({ratio:.1f}x)  {got['seconds']:6.1f} s  {details}"
            )
        path.unlink()


def main() -> None:
    """Generate the inputs, measure each workload and its baselines in child processes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--columnar", type=int, default=1_000_000, help="records for kpi evaluate on the columnar path")
    parser.add_argument("--child")
    parser.add_argument("--path")
    parser.add_argument("--limit-mb", type=int, default=4096, help="address-space limit of each child (0: none)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.limit_mb)
        return
    LIMIT_MB[0] = args.limit_mb
    with tempfile.TemporaryDirectory() as folder:
        empty = measure("import_only", Path(folder))
        if args.records:
            path = Path(folder) / "records.csv"
            generate_records(path, args.records)
            report(f"{args.records:,} records", path, "records", measure("csv_reader", path), empty)
            path.unlink()
        if args.columnar:
            columnar_report(Path(folder), args.columnar)
        if args.events:
            path = Path(folder) / "events.csv"
            generate_events(path, args.events, max(1, args.events // 5))
            base = measure("csv_reader", path)
            report(f"{args.events:,} lead events, kpi attribute", path, "kpi_attribute", base, empty)
            report(f"{args.events:,} lead events, read_events + attribute", path, "events", base, empty)


if __name__ == "__main__":
    main()
