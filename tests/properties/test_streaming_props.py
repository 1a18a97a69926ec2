"""The streaming executor gives one run's appraisal whatever the batch size, the batching and the row order."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl

from kpi_engine import evaluate, load_ruleset
from kpi_engine.evaluation import streaming
from kpi_engine.evaluation.columnar import long_table

CARD = """ruleset: sp
version: "1"
title: streaming property
subject: rep
period: month
inputs:
  m1: {type: ratio, min: 0, max: 2}
  m2: {type: number, required: false}
metrics:
  last_m1: {previous: {metric: m1, compare: value}}
kpis:
  - {id: k1, metric: m1, method: linear, floor: 0, target: 1, cap: 120, weight: 60%}
  - {id: k2, metric: m2, method: linear, floor: 0, target: 3, weight: 30%}
  - {id: k3, metric: last_m1, method: threshold, target: 0.5, weight: 10%}
grades:
  - {grade: A, min: 80}
  - {grade: B}
rounding: {places: 1, mode: half_even}
"""
RULESET = load_ruleset(CARD)
VALUES = ["0", "0.5", "1", "1.25", "2", "0.3333"]  # few values: many ties in the totals


@st.composite
def runs(draw):
    """Records of up to 30 reps over two months (some without February), shuffled, cut into batches."""
    n = draw(st.integers(1, 30))
    rows = []
    for i in range(n):
        for period in ("2026-02", "2026-03"):
            if period == "2026-02" and draw(st.booleans()):
                continue
            m2 = draw(st.one_of(st.none(), st.sampled_from(["0", "1", "3", "1.5"])))
            rows.append({"subject": f"r{i:02d}", "period": period, "m1": draw(st.sampled_from(VALUES)), "m2": m2})
    frame = pl.DataFrame(rows, schema=dict.fromkeys(["subject", "period", "m1", "m2"], pl.Utf8))
    order = draw(st.permutations(range(frame.height)))
    frame = frame[list(order)]
    # Batches: a subject's rows together (the card reads February), the subjects' groups in any order and cut anywhere.
    groups = frame.partition_by("subject", maintain_order=True)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(groups) - 1)), max_size=len(groups))))
    batches, start = [], 0
    for cut in [*cuts, len(groups)]:
        if cut > start:
            batches.append(pl.concat(groups[start:cut]))
            start = cut
    return frame, batches, draw(st.integers(1, 12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_any_batching_gives_the_one_run_table(run):
    frame, batches, batch_rows = run
    expected = long_table(evaluate(RULESET, frame, period="2026-03", engine="columnar"))
    streamed = streaming.stream(RULESET, [b.to_arrow() for b in batches], batch_rows=batch_rows)
    got = pl.concat([long_table(a) for a, _ in streamed.parts()])
    assert got.equals(expected)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_evaluate_streaming_equals_the_row_executor(run):
    frame, _, _ = run
    row = evaluate(RULESET, frame.to_dicts(), engine="row")
    got = evaluate(RULESET, frame, engine="streaming")
    assert got.period == row.period
    assert list(got.results) == list(row.results)
