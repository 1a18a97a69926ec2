"""Benchmark the deal-credit engine: 1,000,000 events for 200,000 customers.

Prints events per second and peak memory (RSS) for kpi_engine — through `read_events` (which uses
the Polars ingest when Polars is installed) and through the pure-Python streaming parser — and,
when Polars is installed (`pip install -e '.[bench]'`), the same figures for a vectorised Polars pass over the same log
that reads it, takes dates in the policy zone, sorts it per customer and matches claims to deals.
That Polars pass is a *lower bound* for any vectorised implementation of the rules (it does not
walk the protection windows), so the ratio printed is conservative. Prints ratios, not verdicts.

    python bench/attribution_bench.py [--events 1000000] [--customers 200000]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPS = [f"rep{i:03d}" for i in range(200)]


def generate(path: Path, events: int, customers: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    start = dt.datetime(2026, 1, 1, 9, 0)
    columns = ["event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer", "courtesy", "note"]
    written = 0
    deal_no = 0
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        per_customer = max(1, events // customers)
        c = 0
        while written < events:
            cust = f"c{c % customers:06d}"
            c += 1
            owner = rnd.choice(REPS)
            t = start + dt.timedelta(minutes=rnd.randrange(0, 60 * 24 * 300))
            w.writerow([f"e{written:08d}", "registration", t.isoformat(), owner, cust, "", "", "", "", ""])
            written += 1
            for _ in range(per_customer - 1):
                if written >= events:
                    break
                t += dt.timedelta(hours=rnd.randrange(1, 24 * 6))
                kind = rnd.choices(["follow_up", "reception", "deal"], [6, 2, 2])[0]
                rep = owner if rnd.random() < 0.7 else rnd.choice(REPS)
                if kind == "deal":
                    deal_no += 1
                    deal = f"D{deal_no:07d}"
                    amount = f"{rnd.randrange(10_000, 5_000_000)}.{rnd.randrange(100):02d}"
                    w.writerow([f"e{written:08d}", "deal", t.isoformat(), rep, cust, deal, amount, "", "", ""])
                    written += 1
                    if rep != owner and rnd.random() < 0.6 and written < events:
                        ct = t + dt.timedelta(hours=rnd.randrange(1, 24 * 5))
                        w.writerow([f"e{written:08d}", "claim", ct.isoformat(), owner, "", deal, "", "", "", ""])
                        written += 1
                else:
                    w.writerow([f"e{written:08d}", kind, t.isoformat(), rep, cust, "", "", "", "", ""])
                    written += 1


def run_engine(path: str, *, stream: bool = False) -> dict[str, float]:
    from kpi_engine.attribution import attribute, parse_policy, read_events
    from kpi_engine.attribution._reading import stream_csv

    policy = parse_policy("policy: bench\n")
    t0 = time.perf_counter()
    if stream:  # the pure-Python path: no Polars involved
        with Path(path).open(encoding="utf-8", newline="") as fh:
            events = stream_csv(policy, fh, path)
    else:  # what users get: Polars ingest when installed, else the same streaming path
        events = read_events(path, policy)
    t1 = time.perf_counter()
    result = attribute(policy, events)
    t2 = time.perf_counter()
    return {"read_s": t1 - t0, "attribute_s": t2 - t1, "total_s": t2 - t0, "credits": len(result.credits),
            "violations": len(result.violations), "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def run_polars(path: str) -> dict[str, float]:
    import polars as pl

    t0 = time.perf_counter()
    df = pl.read_csv(path, infer_schema_length=0)
    df = df.with_columns(
        pl.col("at").str.to_datetime().dt.replace_time_zone("Asia/Shanghai").dt.date().alias("date"),
        pl.col("amount").cast(pl.Decimal(20, 2)),
    ).sort(["customer", "at", "event_id"])
    deals = df.filter(pl.col("type") == "deal")
    regs = (
        df.filter(pl.col("type") == "registration")
        .group_by("customer")
        .agg(pl.col("rep").first().alias("owner"), pl.col("date").first().alias("reg_date"))
    )
    claims = df.filter(pl.col("type") == "claim").select(
        "deal_id", pl.col("rep").alias("claimant"), pl.col("date").alias("claim_date")
    )
    out = deals.join(regs, on="customer", how="left").join(claims, on="deal_id", how="left")
    out = out.with_columns(
        pl.when(pl.col("owner") == pl.col("rep")).then(pl.col("rep"))
        .when((pl.col("claimant") == pl.col("owner")) & (pl.col("claim_date") <= pl.col("date") + pl.duration(days=3)))
        .then(pl.col("owner")).otherwise(pl.col("rep")).alias("credited_to")
    )  # fmt: skip
    n = out.height
    t1 = time.perf_counter()
    return {"total_s": t1 - t0, "credits": n, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--child", choices=["engine", "engine-stream", "polars"])
    parser.add_argument("--path")
    args = parser.parse_args()
    if args.child:
        if args.child == "polars":
            print(json.dumps(run_polars(args.path)))
        else:
            print(json.dumps(run_engine(args.path, stream=args.child == "engine-stream")))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        t = time.perf_counter()
        generate(path, args.events, args.customers)
        print(f"generated {args.events:,} events for {args.customers:,} customers in {time.perf_counter() - t:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB CSV)")  # fmt: skip
        results = {}
        for child in ("engine", "engine-stream", "polars"):
            proc = subprocess.run([sys.executable, __file__, "--child", child, "--path", str(path)],
                                  capture_output=True, text=True, check=False)  # fmt: skip
            if proc.returncode != 0:
                print(f"{child}: not run ({proc.stderr.strip().splitlines()[-1] if proc.stderr else 'failed'})")
                continue
            results[child] = json.loads(proc.stdout)
        for label, key in (
            ("kpi_engine (read_events)", "engine"),
            ("kpi_engine (pure-Python stream)", "engine-stream"),
        ):
            e = results.get(key)
            if e:
                print(f"{label}: read+validate {e['read_s']:.2f} s + attribute {e['attribute_s']:.2f} s = {e['total_s']:.2f} s; "
                      f"{args.events / e['total_s']:,.0f} events/s; peak RSS {e['peak_rss_mb']:.0f} MB; "
                      f"{e['credits']:,} credits, {e['violations']:,} R3 violations")  # fmt: skip
        p = results.get("polars")
        if p:
            print(f"polars lower bound: {p['total_s']:.2f} s; {args.events / p['total_s']:,.0f} events/s; "
                  f"peak RSS {p['peak_rss_mb']:.0f} MB; {p['credits']:,} deals")  # fmt: skip
        for label, key in (("read_events", "engine"), ("pure-Python stream", "engine-stream")):
            e = results.get(key)
            if e and p:
                print(f"ratio kpi_engine ({label}) / polars lower bound: time {e['total_s'] / p['total_s']:.1f}x, "
                      f"memory {e['peak_rss_mb'] / p['peak_rss_mb']:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
