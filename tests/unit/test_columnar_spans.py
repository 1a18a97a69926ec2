"""Aggregates over spans and members counts on the columnar kernel: the row path's appraisal, exactly."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.properties.test_columnar_props import assert_same
from tests.unit.test_spans import RULESET, members, promotion, records

from kpi_engine import evaluate, parse_ruleset
from kpi_engine.evaluation.columnar._run import run_columnar

pytest.importorskip("polars")
pytest.importorskip("numpy")


def _on_both(events, member_rows, period="2026-Q2", ruleset=RULESET):
    """The row path's appraisal and the kernel's own (no hand-over to the row path), checked equal."""

    card = parse_ruleset(ruleset)
    row = evaluate(card, records(period), members=member_rows, events=events, period=period, engine="row")
    col = run_columnar(card, records(period), period, member_rows, events, strict=False)
    assert_same(row, col)
    return col


def test_the_kernel_counts_spans_with_each_periods_members():
    """Year to date and rolling year on the kernel: earlier quarters' members decide, else today's."""
    events = [
        promotion(1, "2025-06-30T10:00:00+08:00", "b"),
        promotion(2, "2025-08-10T10:00:00+08:00", "b"),
        promotion(3, "2026-02-10T10:00:00+08:00", "c"),
        promotion(4, "2026-05-10T10:00:00+08:00"),
    ]
    rows = [*members("2026-Q2"), {"member": "b", "parent": "U", "period": "2025-Q3"}]
    rows += [{"member": r, "parent": "T", "period": "2025-Q3"} for r in ("a", "c")]
    col = _on_both(events, rows)
    assert {k: col.result("T").metrics[k] for k in ("experts_ytd", "experts_year", "headcount")} == {
        "experts_ytd": 2,
        "experts_year": 2,  # b's August promotion is U's
        "headcount": 5,
    }
    col = _on_both(events, members("2026-Q2"))  # no rows for earlier quarters: today's members stand in
    assert col.result("T").metrics["experts_year"] == 3


def test_a_rep_below_two_teams_in_an_earlier_quarter_counts_for_both():
    """U has no membership rows in 2025-Q3, so today's members (c) stand in, while c was T's then.

    The row kernel counts c's promotion of that quarter for both teams; so does the kernel (one
    aggregation per colour of teams that share no rep).
    """
    rows = [{"member": r, "parent": "T", "period": "2025-Q3"} for r in ("a", "c")]
    rows += [{"member": r, "parent": p, "period": "2026-Q2"} for r, p in (("a", "T"), ("b", "T"), ("c", "U"))]
    events = [promotion(1, "2025-08-10T10:00:00+08:00", "c"), promotion(2, "2026-05-10T10:00:00+08:00", "b")]
    records_ = [{"subject": s, "period": "2026-Q2"} for s in ("T", "U", "a", "b", "c")]
    card = parse_ruleset(RULESET)
    row = evaluate(card, records_, members=rows, events=events, period="2026-Q2", engine="row")
    col = run_columnar(card, records_, "2026-Q2", rows, events, strict=False)
    assert_same(row, col)
    assert col.result("T").metrics["experts_year"] == 2
    assert col.result("U").metrics["experts_year"] == 1


def test_a_members_count_of_nodes_without_members_is_zero_on_the_kernel():
    """Nodes without members count 0 members (the row kernel's ``Decimal(0)``), not N/A; a share is N/A."""
    import numpy as np

    from kpi_engine.plan import lower

    plan = lower(parse_ruleset(RULESET).scorecard)

    class Bare:
        n = 3
        has_kids = np.zeros(3, dtype=bool)

    count = plan.metrics["headcount"].column(None, Bare())
    assert (count.num, count.den, count.na) == (0, 1, None)


QUARTERS = ["2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
SPAN_FIELDS = """event_fields: {amount: money, client: text}
"""


@st.composite
def span_data(draw):
    """Events over five quarters and membership rows of some of them (reps a–e, teams T and U)."""
    days = st.dates(dt.date(2025, 4, 1), dt.date(2026, 6, 30))
    n = draw(st.integers(0, 12))
    events = []
    for i in range(n):
        day = draw(days)
        events.append({
            "event_id": f"e{i}", "type": draw(st.sampled_from(["promotion", "sale"])),
            "at": f"{day.isoformat()}T{draw(st.integers(0, 23)):02d}:30:00+08:00", "rep": draw(st.sampled_from("abcde")),
            "amount": draw(st.sampled_from(["", "1.5", "-2", "10", "0.25"])), "client": draw(st.sampled_from(["", "x", "y"])),
        })  # fmt: skip
    rows = []
    for q in draw(st.lists(st.sampled_from(QUARTERS[:-1]), unique=True)):
        for r in "abcde":
            parent = draw(st.sampled_from(["T", "U", None]))
            if parent is not None:
                rows.append({"member": r, "parent": parent, "period": q})
    now = {"a": "T", "b": "T", "c": "U", "d": "U", "e": draw(st.sampled_from("TU"))}  # both teams appraised
    rows += [{"member": r, "parent": now[r], "period": "2026-Q2"} for r in "abcde"]
    return events, rows


SPANS_EVERY_FN = """ruleset: spans_every_fn
version: "1"
title: every function over spans
subject: team
period: quarter
event_fields: {amount: money, client: text}
metrics:
  n_ytd: {aggregate: {fn: count, where: type == 'promotion', over: year_to_date}}
  s_year: {aggregate: {fn: sum, field: amount, over: rolling_year}}
  m_year: {aggregate: {fn: mean, field: amount, where: type == 'sale', over: rolling_year}}
  lo_ytd: {aggregate: {fn: min, field: amount, over: year_to_date}}
  hi_year: {aggregate: {fn: max, field: amount, over: rolling_year}}
  d_year: {aggregate: {fn: count_distinct, field: client, over: rolling_year}}
  now: {aggregate: {fn: sum, field: amount}}
  heads: {members: {where: 'true', measure: count}}
  share: {formula: n_ytd / heads}
kpis:
  - {id: k, metric: share, method: linear, floor: 0, target: 1, weight: 1}
report: [n_ytd, s_year, m_year, lo_ytd, hi_year, d_year, now, heads]
"""


@given(span_data())
@settings(max_examples=40, deadline=None)
def test_spans_on_the_kernel_equal_the_row_path(data):
    """Every aggregate function over every span, random events and memberships: the same appraisal."""
    events, rows = data
    records_ = [{"subject": s, "period": "2026-Q2"} for s in ("T", "U", "a", "b", "c", "d", "e")]
    card = parse_ruleset(SPANS_EVERY_FN)

    row = evaluate(card, records_, members=rows, events=events, period="2026-Q2", engine="row")
    col = run_columnar(card, records_, "2026-Q2", rows, events, strict=False)
    assert_same(row, col)


@st.composite
def department_data(draw):
    """Two departments over three teams; earlier quarters' rows for some reps and teams only."""
    events, _ = draw(span_data())
    now = {"a": "T1", "b": "T1", "c": "T2", "d": "T3", "e": draw(st.sampled_from(["T1", "T2", "T3"]))}
    rows = [{"member": r, "parent": t, "period": "2026-Q2"} for r, t in now.items()]
    rows += [{"member": t, "parent": d, "period": "2026-Q2"} for t, d in (("T1", "D1"), ("T2", "D1"), ("T3", "D2"))]
    for q in draw(st.lists(st.sampled_from(QUARTERS[:-1]), unique=True)):
        for r in "abcde":
            team = draw(st.sampled_from(["T1", "T2", "T3", None]))
            if team is not None:
                rows.append({"member": r, "parent": team, "period": q})
        for t in ("T1", "T2", "T3"):
            dept = draw(st.sampled_from(["D1", "D2", None]))
            if dept is not None:
                rows.append({"member": t, "parent": dept, "period": q})
    return events, rows


@given(department_data())
@settings(max_examples=40, deadline=None)
def test_spans_of_departments_on_the_kernel_equal_the_row_path(data):
    """Two levels: each quarter's departments, teams and reps decide, else today's; the kernel's own result."""
    events, rows = data
    records_ = [{"subject": s, "period": "2026-Q2"} for s in "abcde"]
    card = parse_ruleset(SPANS_EVERY_FN.replace("subject: team", "subject: department"))
    row = evaluate(card, records_, members=rows, events=events, period="2026-Q2", engine="row")
    col = run_columnar(card, records_, "2026-Q2", rows, events, strict=False)
    assert_same(row, col)
