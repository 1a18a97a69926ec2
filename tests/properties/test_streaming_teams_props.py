"""Team scorecards on the streaming executor: one run's appraisal whatever the batching of the records."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("polars")
pytest.importorskip("pyarrow")

import polars as pl

from kpi_engine import evaluate, load_ruleset
from kpi_engine.evaluation.columnar import evaluate_batches, long_table

CARD = """ruleset: tp
version: "1"
title: teams streamed
subject: team
period: month
inputs:
  sales: {type: money}
  target: {type: money}
  calls: {type: count, rollup: mean}
metrics:
  attainment: {formula: sales / target, unit: ratio}
  on_target: {members: {where: sales >= target}}
kpis:
  - {id: att, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 60%}
  - {id: calls, metric: calls, method: linear, floor: 0, target: 10, weight: 20%}
  - {id: share, metric: on_target, method: threshold, target: 50%, weight: 20%}
grades:
  - {grade: A, min: 90}
  - {grade: B}
rounding: {places: 1, mode: half_up}
"""
RULESET = load_ruleset(CARD)


@st.composite
def runs(draw):
    """Departments of teams of reps (few values: ties), the rep records shuffled and cut anywhere."""
    records, members = [], []
    for d in range(draw(st.integers(1, 3))):
        for t in range(draw(st.integers(1, 3))):
            team = f"t{d}{t}"
            members.append({"member": team, "parent": f"d{d}", "period": "2026-03"})
            for r in range(draw(st.integers(1, 3))):
                rep = f"r{d}{t}{r}"
                members.append({"member": rep, "parent": team, "period": "2026-03"})
                records.append({
                    "subject": rep, "period": "2026-03", "sales": draw(st.sampled_from(["80", "100", "120"])),
                    "target": "100", "calls": draw(st.sampled_from(["4", "10", "7"])),
                })  # fmt: skip
    frame = pl.DataFrame(records)
    frame = frame[list(draw(st.permutations(range(frame.height))))]
    cuts = sorted(draw(st.sets(st.integers(1, frame.height), max_size=frame.height)))
    batches, start = [], 0
    for cut in [*cuts, frame.height]:
        if cut > start:
            batches.append(frame.slice(start, cut - start))
            start = cut
    return frame, pl.DataFrame(members), batches, draw(st.integers(1, 6))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_team_records_in_any_batches_give_the_one_run_table(run):
    frame, members, batches, batch_rows = run
    whole = evaluate(RULESET, frame.to_dicts(), members=members.to_dicts(), engine="columnar")
    got = evaluate_batches(RULESET, [b.to_arrow() for b in batches], members=members, batch_rows=batch_rows)
    assert pl.from_arrow(got.read_all()).equals(long_table(whole))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_evaluate_streaming_with_members_equals_the_row_executor(run):
    frame, members, _, _ = run
    row = evaluate(RULESET, frame.to_dicts(), members=members.to_dicts(), engine="row")
    got = evaluate(RULESET, frame, members=members.to_dicts(), engine="streaming")
    assert list(got.results) == list(row.results)
    assert [r.rank_in_parent for r in got.results] == [r.rank_in_parent for r in row.results]
