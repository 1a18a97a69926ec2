"""With an event log, the streaming executor gives one run's appraisal whatever the batching.

Aggregates count each subject's own events; the window pairs complaints and answers per customer
across the whole log (an answer by a colleague in another batch closes a complaint), so a batch
that saw only its subjects' events would differ from one run.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl

from kpi_engine import evaluate, load_ruleset
from kpi_engine.evaluation import streaming
from kpi_engine.evaluation.columnar import evaluate_batches, long_table

CARD = """ruleset: spe
version: "1"
title: streaming with events
subject: rep
period: month
event_fields: {amount: money}
inputs:
  m1: {type: ratio, min: 0, max: 2}
metrics:
  visits: {aggregate: {fn: count, where: "type == 'visit'"}}
  sold: {aggregate: {fn: sum, field: amount, where: "type == 'deal'"}}
  answered: {window: {trigger: type == 'complaint', answer: type == 'answer', match: [customer], within: {hours: 24}}}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, weight: 40%}
  - {id: k2, metric: visits, method: linear, floor: 0, target: 3, weight: 20%}
  - {id: k3, metric: sold, method: linear, floor: 0, target: 500, weight: 20%}
  - {id: k4, metric: answered, method: linear, floor: 0, target: 100%, weight: 20%}
grades:
  - {grade: A, min: 80}
  - {grade: B}
rounding: {places: 1, mode: half_even}
"""
RULESET = load_ruleset(CARD)
TYPES = ["visit", "deal", "complaint", "answer"]
TIMES = ["2026-02-27T09:00:00+08:00", "2026-03-01T10:00:00+08:00", "2026-03-01T23:00:00+08:00",
         "2026-03-02T09:30:00+08:00", "2026-03-04T10:00:00+08:00", "2026-03-31T20:00:00+08:00"]  # fmt: skip


@st.composite
def runs(draw):
    """Records of up to 20 reps, an event log among them (answers by anyone), cut into batches."""
    n = draw(st.integers(1, 20))
    rows = [{"subject": f"r{i:02d}", "period": "2026-03", "m1": draw(st.sampled_from(["0", "0.5", "1", "2"]))}
            for i in range(n)]  # fmt: skip
    events = []
    for j in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(TYPES))
        events.append({
            "event_id": f"e{j}", "type": kind, "at": draw(st.sampled_from(TIMES)),
            "rep": f"r{draw(st.integers(0, n - 1)):02d}",
            "amount": draw(st.sampled_from(["100", "250.5", "0"])) if kind == "deal" else None,
            "customer": draw(st.sampled_from(["c1", "c2", "c3"])) if kind in {"complaint", "answer"} else None,
        })  # fmt: skip
    frame = pl.DataFrame(rows, schema=dict.fromkeys(["subject", "period", "m1"], pl.Utf8))
    frame = frame[list(draw(st.permutations(range(n))))]
    cuts = sorted(draw(st.sets(st.integers(1, max(1, n - 1)), max_size=n)))
    batches, start = [], 0
    for cut in [*cuts, n]:
        if cut > start:
            batches.append(frame[start:cut])
            start = cut
    return frame, events, batches, draw(st.integers(1, 6))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_any_batching_with_events_gives_the_one_run_table(run):
    frame, events, batches, batch_rows = run
    log = events or None
    expected = long_table(evaluate(RULESET, frame, events=log, period="2026-03", engine="columnar"))
    streamed = streaming.stream(RULESET, [b.to_arrow() for b in batches], batch_rows=batch_rows, events=log)
    got = pl.concat([long_table(a) for a, _ in streamed.parts()])
    assert got.equals(expected)
    reader = evaluate_batches(RULESET, [b.to_arrow() for b in batches], batch_rows=batch_rows, events=log)
    assert pl.from_arrow(reader.read_all()).equals(expected.select(reader.schema.names))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_evaluate_streaming_with_events_equals_the_row_executor(run):
    """Values, traces and ranks: the row executor's result objects."""
    frame, events, _, _ = run
    log = events or None
    row = evaluate(RULESET, frame.to_dicts(), events=log, engine="row")
    got = streaming.appraise(RULESET, frame, events=log, batch_rows=2)
    assert list(got.results) == list(row.results)
