"""What reading from events costs (issue 18): inputs filled from an event log, and the calendar watch.

1. S1 over N reps (row path): the four inputs typed in the records, against the same values filled
   from an event log (orders, calls, visits, discipline points: about 60 events per rep).
2. 300,000 ``is_working_day`` questions on the CN calendar, with and without ``watch_horizon``
   (every ``kpi`` command runs watched).

Ratios, not verdicts; CPU seconds (best of a few runs), so a busy machine disturbs them less.

    python bench/events_bench.py [--reps 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections.abc import Callable
from pathlib import Path

from kpi_engine import evaluate, load_ruleset
from kpi_engine.time.calendar import business_calendar, watch_horizon

ROOT = Path(__file__).resolve().parent.parent
FILLED = ("weekly_orders", "visits_existing", "phone_calls", "conduct_score")


def best(run: Callable[[], object], times: int = 3) -> float:
    out = []
    for _ in range(times):
        start = time.process_time()
        run()
        out.append(time.process_time() - start)
    return min(out)


def s1_inputs(reps: int) -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """March records typed in full, the same records without the four inputs, and the events that give them."""
    rnd = random.Random(1)
    typed: list[dict[str, object]] = []
    bare: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    for i in range(reps):
        rep = f"r{i:05d}"
        orders, visits, calls = rnd.randint(0, 12), rnd.randint(0, 25), rnd.randint(0, 30)
        points = [rnd.choice((2, 5)) for _ in range(rnd.randint(0, 3))]
        row: dict[str, object] = {
            "subject": rep, "period": "2026-03", "sales_target": 100000, "sales_actual": rnd.randint(40000, 130000),
            "new_customers": rnd.randint(0, 6), "lost_customers": rnd.randint(0, 3), "plans_due": 8,
            "plans_done": rnd.randint(5, 8), "resource_requests": 10, "resource_replies": rnd.randint(8, 10),
        }  # fmt: skip
        bare.append(dict(row))
        typed.append({**row, "weekly_orders": orders, "visits_existing": visits, "phone_calls": calls,
                      "conduct_score": 100 - sum(points)})  # fmt: skip
        kinds = [("order", None)] * (orders * 31 // 7) + [("visit", None)] * visits + [("call", None)] * calls
        kinds += [("discipline", p) for p in points]
        for j, (kind, p) in enumerate(kinds):
            event: dict[str, object] = {"event_id": f"{rep}-{j}", "type": kind, "rep": rep,
                                        "at": f"2026-03-{1 + j % 28:02d}T10:00:00+08:00"}  # fmt: skip
            if p is not None:
                event["points"] = p
            events.append(event)
    return typed, bare, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000)
    args = parser.parse_args()
    ruleset = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml")
    typed, bare, events = s1_inputs(args.reps)
    filled = evaluate(ruleset, bare, events=events, engine="row")
    calls = {r.subject: r.kpi("calls").value for r in filled.results}
    assert calls == {str(r["subject"]): r["phone_calls"] for r in typed}, "calls filled from events differ"
    t_typed = best(lambda: evaluate(ruleset, typed, engine="row"))
    t_events = best(lambda: evaluate(ruleset, bare, events=events, engine="row"))
    print(f"S1, {args.reps} reps, row path: typed {t_typed:.3f} s; filled from {len(events):,} events "
          f"{t_events:.3f} s ({t_events / t_typed:.2f}× typed)")  # fmt: skip

    cal = business_calendar("CN")
    end = cal.covered_until
    days = [end - dt.timedelta(days=i % 365) for i in range(300_000)]

    def ask() -> None:
        for d in days:
            cal.is_working_day(d)

    plain = best(ask, 5)
    with watch_horizon():
        watched = best(ask, 5)
    print(f"300,000 is_working_day: unwatched {plain:.3f} s; watched {watched:.3f} s ({watched / plain:.2f}×)")


if __name__ == "__main__":
    main()
