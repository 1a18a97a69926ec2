"""Event-window metrics on both executors (issue 16): the shipped sales-office window scorecard.

``rulesets/sales_office_windows.yaml`` (six window metrics: days, hours, ``direction: before``,
``anchor: answer``, mean durations) over N reps in March 2026, about eight events per rep (some
answers late or missing, a few in April), given as Polars frames. Each executor runs once in the same
process, the row executor first; wall-clock and CPU seconds and the row/columnar ratio are printed
after checking that both give the same totals. Ratios, not verdicts.

    python bench/windows_bench.py [--reps 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from pathlib import Path

import polars as pl

from kpi_engine import evaluate, load_ruleset

ROOT = Path(__file__).resolve().parent.parent
PAIRS = (
    ("subscription", "down_payment", 7 * 24),
    ("registration", "follow_up", 3 * 24),
    ("complaint", "complaint_answered", 24),
    ("first_contact", "deal", 40 * 24),
)


def inputs(reps: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """March records and events: per rep one of each trigger, its answer within, after or never."""
    rnd = random.Random(7)
    start = dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    records = {"subject": [], "period": [], "conduct_score": []}
    events: dict[str, list[str]] = {"event_id": [], "type": [], "at": [], "rep": [], "customer": []}

    def add(eid: str, kind: str, at: dt.datetime, rep: str, customer: str) -> None:
        for k, v in zip(events, (eid, kind, at.isoformat(), rep, customer), strict=True):
            events[k].append(v)

    for i in range(reps):
        rep = f"r{i:06d}"
        records["subject"].append(rep)
        records["period"].append("2026-03")
        records["conduct_score"].append(str(rnd.randint(80, 100)))
        for j, (trigger, answer, hours) in enumerate(PAIRS):
            at = start + dt.timedelta(hours=rnd.randint(0, 29 * 24))
            customer = f"{rep}-c{j}"
            if trigger == "first_contact":
                at -= dt.timedelta(days=30)
            add(f"{rep}-t{j}", trigger, at, rep, customer)
            fate = rnd.random()
            if fate < 0.85:
                late = rnd.random() < 0.15
                gap = dt.timedelta(hours=rnd.randint(1, hours) + (hours if late else 0))
                add(f"{rep}-a{j}", answer, at + gap, rep, customer)
    return pl.DataFrame(records), pl.DataFrame(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=100_000)
    args = parser.parse_args()
    ruleset = load_ruleset(ROOT / "rulesets" / "sales_office_windows.yaml")
    records, events = inputs(args.reps)
    print(f"{args.reps:,} reps, {events.height:,} events")
    out = {}
    for engine in ("row", "columnar"):
        wall, cpu = time.perf_counter(), time.process_time()
        appraisal = evaluate(ruleset, records, period="2026-03", events=events, engine=engine)
        totals = [(r.subject, r.total) for r in appraisal.results]
        out[engine] = (time.perf_counter() - wall, time.process_time() - cpu, totals)
        print(f"{engine:9s} wall {out[engine][0]:8.2f} s   cpu {out[engine][1]:8.2f} s")
    assert sorted(out["row"][2]) == sorted(out["columnar"][2]), "the executors disagree"
    print(
        f"row / columnar: wall {out['row'][0] / out['columnar'][0]:.1f}x, cpu {out['row'][1] / out['columnar'][1]:.1f}x"
    )


if __name__ == "__main__":
    main()
