"""Benchmark team pools and draw instalments on the row executor: their cost over a plan without them.

Two plans on the same people, appraisals and credited deals (a year of months), in the same run,
alternating (the machine is shared):

- ``base``: commission on credited deals (year-to-date marginal tiers) and a recoverable draw;
- ``pools``: the same, plus a team pool on the team's credited sales split by score, a fixed pool
  split by ``pool_weight``, and the draw recovered in 3 instalments.

Prints the ratio pools/base (the row executor runs both: the columns refuse pools). Also checks,
untimed, that every team's pool lines add up to its pool.

    python bench/pool_bench.py [--people 2000] [--teams 40] [--deals 40000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import random
import time
from collections import defaultdict
from decimal import Decimal

from kpi_engine import parse_pay_plan, pay

BASE = """pay_plan: bench_pool
version: "1"
title: bench
period: month
incentive_per: year
components:
  - id: commission
    kind: commission
    share: 100%
    curve: marginal
    basis: year_to_date
    tiers: [{from: 0, to: 1000000, rate: 0.2%}, {from: 1000000, rate: 0.4%}]
POOLSdraw: {amount: 3000, recoverable: true, periods: 2RECOVER}
"""
POOLS = """  - {id: team_pool, kind: pool, amount: 1% * team_credited, split: score}
  - {id: service_pool, kind: pool, amount: 1000, split: weight}
"""


def inputs(people: int, teams: int, deals: int, seed: int = 17) -> tuple[list, list, list]:
    rng = random.Random(seed)
    folks = [
        {
            "person": f"p{i:06d}",
            "start": "2026-03-01" if i % 10 == 0 else "2024-01-01",
            "team": f"t{i % teams:03d}",
            "target_incentive": "36000",
            "pool_weight": str(rng.randint(0, 3)),
        }
        for i in range(people)
    ]
    scores = [
        {"subject": f"p{i:06d}", "period": f"2026-{m:02d}", "total": str(rng.randint(0, 1000) / 10)}
        for i in range(people)
        for m in range(1, 13)
    ]
    credited = [
        {
            "deal_id": f"d{k}",
            "credited_to": f"p{rng.randrange(people):06d}",
            "amount": str(rng.randint(1000, 5_000_000) / 100),
            "date": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        }
        for k in range(deals)
    ]
    return folks, scores, credited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=40)
    parser.add_argument("--deals", type=int, default=40000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folks, scores, credited = inputs(args.people, args.teams, args.deals)
    plans = {
        "base": parse_pay_plan(BASE.replace("POOLS", "").replace("RECOVER", ""), "base.yaml"),
        "pools": parse_pay_plan(
            BASE.replace("POOLS", POOLS).replace("RECOVER", ", recover: {instalments: 3}"), "pools.yaml"
        ),
    }
    best: dict[str, float] = {}
    runs = {}
    for _ in range(args.rounds):
        for name, plan in plans.items():
            t0 = time.perf_counter()
            runs[name] = pay(plan, scores, folks, credits=credited, period="2026-12")
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    run = runs["pools"]
    for component in ("team_pool", "service_pool"):
        sums: dict[str, Decimal] = defaultdict(Decimal)
        pools: dict[str, Decimal] = {}
        for p in run.people:
            line = p.line(component)
            team = line.details["team"]
            sums[team] += line.amount
            pools[team] = Decimal(line.details.get("pool", "0")) if line.details.get("weights", "0") != "0" else 0
        assert all(sums[t] == pools[t] for t in sums), component
    lines = sum(len(p.lines) for p in run.people)
    print(
        f"{args.people} people in {args.teams} teams, 12 months, {args.deals} credited deals; {lines} lines in December"
    )
    print(f"base  {best['base']:.2f} s   (best of {args.rounds})")
    print(f"pools {best['pools']:.2f} s")
    print(f"ratio pools/base: {best['pools'] / best['base']:.2f}×; every team's pool lines add up to its pool")


if __name__ == "__main__":
    main()
