"""An event log on the streaming executor: indexed by rep once vs read whole by every batch (not a test).

    python bench/stream_events_bench.py                          # 100,000 reps, 200,000 events
    python bench/stream_events_bench.py --reps 20000 --events 40000 --repeat 1

A rep scorecard with two event aggregates (a count of visits, a sum of deal amounts) and one input.
In one process, alternating, best of ``--repeat``, over the same Polars frames:

- ``columnar`` (the baseline): ``evaluate(engine="columnar")``, one run over the whole table and log;
- ``streaming, index``: ``streaming.appraise(..., batch_rows=B)`` (what ``evaluate(engine="streaming")`` runs): the log grouped by rep once
  (``streaming.EventIndex``); the first batch reads it whole, the others and the output ranges
  their subjects' events;
- ``streaming, whole log``: the same with ``streaming.INDEX_EVENTS = False``: every batch and every
  output range reads the whole log (the executor before the index).

``B`` is ``--batch`` (default 20,000 records: 5 batches and 10 output ranges for 100,000 reps) and
the default 100,000. Ratios are to the columnar run of the same round. The machine is shared
(2 cores, other jobs): read ratios, not seconds.
"""

from __future__ import annotations

import argparse
import gc
import time

CARD = """ruleset: sev_bench
version: "1"
title: streaming events by rep
subject: rep
period: month
event_fields: {amount: money}
inputs:
  m1: {type: ratio, min: 0, max: 2}
metrics:
  visits: {aggregate: {fn: count, where: "type == 'visit'"}}
  sold: {aggregate: {fn: sum, field: amount, where: "type == 'deal'"}}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, weight: 40%}
  - {id: k2, metric: visits, method: linear, floor: 0, target: 3, weight: 30%}
  - {id: k3, metric: sold, method: linear, floor: 0, target: 500, weight: 30%}
grades:
  - {grade: A, min: 80}
  - {grade: B}
rounding: {places: 1, mode: half_even}
"""


def inputs(reps: int, events: int) -> tuple[object, object]:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(3)
    names = pl.int_range(0, reps, eager=True).cast(pl.Utf8).str.zfill(7).str.replace("^", "r")
    records = pl.DataFrame(
        {"subject": names, "period": ["2026-03"] * reps, "m1": rng.choice(["0", "0.5", "1", "1.5"], reps)}
    )
    days = rng.integers(1, 29, events)
    log = pl.DataFrame(
        {
            "event_id": pl.int_range(0, events, eager=True).cast(pl.Utf8).str.replace("^", "e"),
            "type": rng.choice(["visit", "deal", "call"], events),
            "at": [f"2026-03-{d:02d}T10:00:00+08:00" for d in days.tolist()],
            "rep": names.gather(rng.integers(0, reps, events)),
            "amount": rng.integers(0, 400, events).astype(str),
        }
    )
    return records, log


def timed(fn: object) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from kpi_engine import evaluate, load_ruleset
    from kpi_engine.evaluation import streaming

    ruleset = load_ruleset(CARD)
    records, log = inputs(args.reps, args.events)
    best: dict[str, float] = {}
    expected = None
    for _ in range(args.repeat):
        seconds, one = timed(lambda: evaluate(ruleset, records, events=log, engine="columnar"))
        best["columnar"] = min(best.get("columnar", float("inf")), seconds)
        expected = [(r.subject, r.total, r.rank) for r in one.results]  # type: ignore[attr-defined]
        for batch in (args.batch, streaming.DEFAULT_BATCH_ROWS):
            for index in (True, False):
                streaming.INDEX_EVENTS = index
                try:
                    seconds, got = timed(lambda b=batch: streaming.appraise(ruleset, records, events=log, batch_rows=b))
                finally:
                    streaming.INDEX_EVENTS = True
                assert [(r.subject, r.total, r.rank) for r in got.results] == expected  # type: ignore[attr-defined]
                name = f"streaming batch_rows={batch:,} {'index' if index else 'whole log'}"
                best[name] = min(best.get(name, float("inf")), seconds)
    base = best["columnar"]
    print(f"{args.reps:,} reps, {args.events:,} events, best of {args.repeat} (one process, shared 2-core machine)")
    for name, seconds in best.items():
        print(f"  {name:48s} {seconds:7.2f} s  {seconds / base:5.2f}x columnar")
    for batch in (args.batch, streaming.DEFAULT_BATCH_ROWS):
        on, off = best[f"streaming batch_rows={batch:,} index"], best[f"streaming batch_rows={batch:,} whole log"]
        print(f"  batch_rows={batch:,}: whole log / index = {off / on:.2f}x")


if __name__ == "__main__":
    main()
