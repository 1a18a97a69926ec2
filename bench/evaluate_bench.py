"""Benchmark scorecard evaluation: the S1 rep scorecard over N reps, and compiled expressions.

Prints reps per second, peak memory, JSON serialisation time, and how much faster the compiled
expression path is than the simpleeval reference evaluator on the same expressions. Ratios, not
verdicts.

    python bench/evaluate_bench.py [--reps 10000]
"""

from __future__ import annotations

import argparse
import random
import resource
import time
from decimal import Decimal
from pathlib import Path

from kpi_engine import evaluate, load_ruleset
from kpi_engine.expr import parse_expression

ROOT = Path(__file__).resolve().parent.parent


def records(reps: int, seed: int = 1) -> list[dict[str, object]]:
    rnd = random.Random(seed)
    rows: list[dict[str, object]] = []
    for i in range(reps):
        for period in ("2026-02", "2026-03"):
            rows.append({
                "subject": f"r{i:06d}", "period": period, "sales_target": "100000",
                "sales_actual": str(rnd.randrange(30000, 130000)), "weekly_orders": rnd.randrange(0, 10),
                "new_customers": rnd.randrange(0, 7), "visits_existing": rnd.randrange(0, 25),
                "phone_calls": rnd.randrange(0, 150), "lost_customers": rnd.randrange(0, 6),
                "conduct_score": rnd.randrange(50, 100), "plans_due": 8, "plans_done": rnd.randrange(4, 9),
                "resource_requests": 10, "resource_replies": rnd.randrange(5, 11), "lead_registrations": 5,
                "timely_follow_ups": rnd.randrange(0, 6),
            })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=10_000)
    args = parser.parse_args()
    ruleset = load_ruleset(ROOT / "rulesets/sales_rep_monthly.yaml")
    rows = records(args.reps)
    t0 = time.perf_counter()
    appraisal = evaluate(ruleset, rows)
    t1 = time.perf_counter()
    text = appraisal.to_json()
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"S1 scorecard, {args.reps:,} reps (2 months of records, 11 KPIs, full traces):")
    print(f"  evaluate {t1 - t0:.2f} s = {args.reps / (t1 - t0):,.0f} reps/s; to_json {t2 - t1:.2f} s "
          f"({len(text) / 1e6:.0f} MB); peak RSS {rss:.0f} MB")  # fmt: skip

    names = {"a": "number", "b": "number", "c": "number"}
    texts = [
        "a / b",
        "max(a, b) - min(b, c) * 2",
        "(a >= 90% and b < 5%) or c > 4.5",
        "100 * (a - b) / (c - b) if c > b else 0",
    ]
    rnd = random.Random(2)
    envs = [{k: Decimal(rnd.randrange(1, 1000)) / 100 for k in names} for _ in range(20_000)]
    for expr_text in texts:
        e = parse_expression(expr_text, names)
        t0 = time.perf_counter()
        for env in envs:
            e.evaluate(env)
        t1 = time.perf_counter()
        for env in envs:
            e.evaluate_reference(env)
        t2 = time.perf_counter()
        print(f"  expression {expr_text!r}: compiled {len(envs) / (t1 - t0):,.0f}/s, "
              f"reference {len(envs) / (t2 - t1):,.0f}/s, ratio {(t2 - t1) / (t1 - t0):.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
