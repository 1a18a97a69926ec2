"""Benchmark periods that accumulate: a half-year appraisal from monthly records against the same
appraisal from records already summed by hand, and what the check costs a run with nothing to roll up.

Prints CPU seconds and ratios measured in the same run (never verdicts):

- ``months / summed``: evaluate a half-year scorecard from 6 monthly rows per rep, against from one
  pre-summed half-year row per rep (the baseline): the price of rolling up in the library;
- ``check / run``: the time of the accumulation check alone on a monthly scorecard's own monthly
  rows (nothing to roll up), as a share of that run.

    python bench/accumulate_bench.py [--reps 20000]
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from kpi_engine import evaluate, parse_ruleset
from kpi_engine.evaluation.records import Table
from kpi_engine.time.accumulate import accumulate

CARD = """\
ruleset: bench
version: "1"
title: bench
subject: rep
period: PERIOD
inputs:
  won: {type: count}
  leads: {type: count}
  sales: {type: money, min: 0}
  target: {type: money, min: 0}
metrics:
  conversion: {formula: won / leads, unit: ratio}
  attainment: {formula: sales / target, unit: ratio}
kpis:
  - {id: conv, metric: conversion, method: linear, floor: 10%, target: 40%, weight: 40%}
  - {id: sales, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 60%}
"""


def rows(reps: int, seed: int = 3) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    rnd = random.Random(seed)
    monthly, summed = [], []
    for r in range(reps):
        total = {"won": 0, "leads": 0, "sales": Decimal(0), "target": Decimal(0)}
        for m in range(1, 7):
            won, leads = rnd.randint(0, 20), rnd.randint(20, 60)
            sales, target = Decimal(rnd.randint(0, 10**7)) / 100, Decimal(rnd.randint(10**6, 10**7)) / 100
            monthly.append({"subject": f"r{r}", "period": f"2026-{m:02d}", "won": str(won), "leads": str(leads),
                            "sales": str(sales), "target": str(target)})  # fmt: skip
            total["won"] += won
            total["leads"] += leads
            total["sales"] += sales
            total["target"] += target
        summed.append({"subject": f"r{r}", "period": "2026-H1", **{k: str(v) for k, v in total.items()}})
    return monthly, summed


def cpu(fn: object) -> float:
    start = time.process_time()
    fn()  # type: ignore[operator]
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=20_000)
    args = parser.parse_args()
    half = parse_ruleset(CARD.replace("PERIOD", "half"))
    month = parse_ruleset(CARD.replace("PERIOD", "month"))
    monthly, summed = rows(args.reps)
    months_table = Table.from_rows(monthly)
    summed_table = Table.from_rows(summed)
    march = Table.from_rows([r for r in monthly if r["period"] == "2026-03"])
    a = evaluate(half, months_table, engine="row")
    b = evaluate(half, summed_table, engine="row")
    assert [(r.subject, r.total) for r in a.results] == [(r.subject, r.total) for r in b.results]
    t_months = min(cpu(lambda: evaluate(half, months_table, engine="row")) for _ in range(3))
    t_summed = min(cpu(lambda: evaluate(half, summed_table, engine="row")) for _ in range(3))
    t_run = min(cpu(lambda: evaluate(month, march, engine="row")) for _ in range(3))
    t_check = min(cpu(lambda: accumulate(month.scorecard, march)) for _ in range(3))
    print(f"reps {args.reps:,}: {len(monthly):,} monthly rows, {len(summed):,} half-year rows (row engine, CPU s)")
    print(f"  half-year from summed rows   {t_summed:8.3f} s  (baseline)")
    print(f"  half-year from monthly rows  {t_months:8.3f} s  months / summed = {t_months / t_summed:.2f}x")
    print(f"  monthly run, nothing to roll {t_run:8.3f} s")
    print(f"  of which the check           {t_check:8.3f} s  check / run = {t_check / t_run:.1%}")


if __name__ == "__main__":
    main()
