"""Inputs a system records: filled from events or deal credits instead of typed (``from:``)."""

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from kpi_engine import DataError, evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.attribution import attribute, load_policy, merge_records, read_events

ROOT = Path(__file__).resolve().parents[2]
RULESET = """\
ruleset: sources
version: "1"
title: sources
subject: rep
period: month
normalize: true
event_fields: {points: number}
inputs:
  orders_per_week: {type: number, from: {events: {fn: count, where: type == 'order'}, per: week}}
  conduct: {type: score, from: {events: {fn: sum, field: points, where: type == 'discipline'}, deduct_from: 100}}
  calls: {type: count, from: {events: {fn: count, where: type == 'call'}}}
kpis:
  - {id: orders, metric: orders_per_week, method: linear, floor: 0, target: 8, weight: 1}
  - {id: conduct, metric: conduct, method: expression, score: value, weight: 1}
  - {id: calls, metric: calls, method: linear, floor: 0, target: 10, weight: 1}
"""


def ev(i, kind, day, rep="r1", **fields):
    return {"event_id": f"e{i}", "type": kind, "at": f"2026-03-{day:02d}T10:00:00+08:00", "rep": rep, **fields}


def run(records, events, ruleset=RULESET):
    return evaluate(parse_ruleset(ruleset), records, events=events, period="2026-03", engine="row")


def test_empty_cells_are_filled_from_the_events_exactly():
    """31 orders in March (31 days) are 7 a week exactly; deductions 5 + 3 leave 92; 2 calls."""
    events = [ev(i, "order", 1 + i % 28) for i in range(31)]
    events += [ev(40, "discipline", 3, points=5), ev(41, "discipline", 9, points=3)]
    events += [ev(50, "call", 4), ev(51, "call", 5)]
    result = run([{"subject": "r1", "period": "2026-03"}], events).result("r1")
    assert result.kpi("orders").value == 7
    assert result.kpi("conduct").value == 92
    assert result.kpi("calls").value == 2


def test_a_weekly_rate_keeps_its_exact_fraction():
    """4 orders in 31 days are 28/31 a week, not a rounded decimal."""
    events = [ev(i, "order", 2 + i) for i in range(4)] + [ev(9, "call", 2), ev(8, "discipline", 2, points=0)]
    value = run([{"subject": "r1", "period": "2026-03"}], events).result("r1").kpi("orders").value
    assert Fraction(value) == Fraction(28, 31)


def test_deductions_never_take_conduct_below_zero():
    """120 points of deductions leave a conduct score of 0, not -20."""
    events = [ev(1, "discipline", 3, points=120), ev(2, "order", 3), ev(3, "call", 3)]
    assert run([{"subject": "r1", "period": "2026-03"}], events).result("r1").kpi("conduct").value == 0


def test_a_rep_without_such_events_gets_zero_once_the_system_records_them():
    """r2 had no orders while r1 had: r2's orders are 0 a week, not missing."""
    events = [ev(1, "order", 3), ev(2, "call", 3), ev(3, "discipline", 3, points=1)]
    records = [{"subject": "r1", "period": "2026-03"}, {"subject": "r2", "period": "2026-03"}]
    result = run(records, events).result("r2")
    assert result.kpi("orders").value == 0
    assert result.kpi("conduct").value == 100


def test_a_typed_value_stands_where_the_rep_has_no_such_events():
    """r2 types 6 orders a week and has no order events: 6 stands while r1's come from events."""
    events = [ev(1, "order", 3), ev(2, "call", 3), ev(3, "discipline", 3, points=1)]
    records = [{"subject": "r1", "period": "2026-03"}, {"subject": "r2", "period": "2026-03", "orders_per_week": 6}]
    assert run(records, events).result("r2").kpi("orders").value == 6


def test_a_typed_value_and_events_for_the_same_rep_are_a_located_conflict():
    """r1 types calls and also has call events: one located error naming both sources."""
    events = [ev(1, "order", 3), ev(2, "call", 3), ev(3, "discipline", 3, points=1)]
    records = read_table_from("subject,period,calls\nr1,2026-03,4\n")
    with pytest.raises(DataError) as exc:
        run(records, events)
    [issue] = exc.value.issues
    assert issue.code == "conflict"
    assert str(issue.location) == "records.csv:2:3"
    assert "'calls' is typed in the record (4) and also recorded as events" in issue.message


def test_without_any_such_event_the_input_is_typed_as_before():
    """A log with no call events at all leaves calls to the records: missing is an error as always."""
    events = [ev(1, "order", 3), ev(3, "discipline", 3, points=1)]
    with pytest.raises(DataError, match="no value for required input 'calls'"):
        run([{"subject": "r1", "period": "2026-03"}], events)


def test_the_trace_names_the_events_as_the_source():
    """The explanation of a filled input says which events it came from and how many."""
    events = [ev(1, "order", 3), ev(2, "call", 3), ev(3, "call", 4), ev(4, "discipline", 3, points=1)]
    explanation = run([{"subject": "r1", "period": "2026-03"}], events).result("r1").kpi("calls").explanation
    assert explanation["inputs"]["calls"]["source"] == "from events: count(events) where type == 'call': 2 event(s)"


def test_team_rows_roll_up_instead_of_being_filled():
    """On a team scorecard, reps' rows are filled and the team's value is their sum."""
    team = """\
ruleset: team_calls
version: "1"
title: team calls
subject: team
period: month
inputs:
  calls: {type: count, from: {events: {fn: count, where: type == 'call'}}}
kpis:
  - {id: calls, metric: calls, method: linear, floor: 0, target: 10, weight: 100%}
"""
    events = [ev(1, "call", 3), ev(2, "call", 4, rep="r2"), ev(3, "call", 5, rep="r2")]
    records = [{"subject": s, "period": "2026-03"} for s in ("T", "r1", "r2")]
    members = [{"member": r, "parent": "T", "period": "2026-03"} for r in ("r1", "r2")]
    appraisal = evaluate(parse_ruleset(team), records, members=members, events=events, period="2026-03", engine="row")
    assert appraisal.result("T").kpi("calls").value == 3


def test_the_columnar_kernel_hands_filling_to_the_row_path(monkeypatch):
    """Inputs filled from events are the row path's: auto runs it and says why; engine='columnar' refuses."""
    pytest.importorskip("polars")
    from kpi_engine import KpiError
    from kpi_engine.evaluation import engine
    from kpi_engine.plan import lower

    assert lower(parse_ruleset(RULESET).scorecard).support("columnar") is None  # without events the kernel runs it
    events = [ev(1, "order", 3), ev(2, "call", 3), ev(3, "discipline", 3, points=1)]
    records = [{"subject": "r1", "period": "2026-03"}]
    monkeypatch.setattr(engine, "AUTO_THRESHOLD", 0)
    auto = evaluate(parse_ruleset(RULESET), records, events=events, period="2026-03", engine="auto")
    assert auto.result("r1").kpi("calls").value == 1
    assert auto.result("r1").kpi("conduct").value == 99
    assert auto.fallback == "inputs filled from the events (from:)"
    with pytest.raises(KpiError, match=r"cannot run this input \(inputs filled from the events \(from:\)\)"):
        evaluate(parse_ruleset(RULESET), records, events=events, period="2026-03", engine="columnar")


def read_table_from(text):
    from kpi_engine.io.delimited import read_csv_lines

    return read_csv_lines(iter(text.splitlines(keepends=True)), "records.csv")


class TestCredits:
    def test_sales_come_from_credited_deals_and_a_rep_without_credit_sold_nothing(self):
        """S1's sales_actual is the credited amount; wang_fang, known to the log, has 0 (the gate caps her)."""
        policy = load_policy(ROOT / "examples/attribution/policy.yaml")
        credited = attribute(policy, read_events(ROOT / "examples/attribution/events.csv", policy))
        ruleset = load_ruleset(ROOT / "rulesets/sales_rep_monthly.yaml")
        card = ruleset.scorecard
        sources = {n: i.source.credits for n, i in card.inputs.items() if i.source and i.source.credits}
        assert sources == {"sales_actual": "credited_amount"}
        tables = merge_records(
            [read_table(ROOT / "examples/attribution/records.csv")], credited, set(card.inputs), card.period, sources
        )
        appraisal = evaluate(ruleset, tables)
        sales = {
            r.subject: r.kpi("target_completion").explanation["inputs"]["sales_actual"]["value"]
            for r in appraisal.results
        }
        assert sales == {
            "zhang_wei": Decimal(2010000),  # D100 by claim (1,250,000) + D102 expired (760,000)
            "li_na": Decimal("1630000.5"),  # D101 + D105 (void register)
            "zhao_lei": Decimal(1600000),  # D103 courtesy + D104 unregistered
            "wang_fang": Decimal(0),  # closed D100, credited to zhang_wei
        }
        assert "gate:low_attainment" in appraisal.result("wang_fang").flags

    def test_typed_sales_and_credits_for_the_same_rep_conflict(self):
        """A record that types sales_actual while credits give it is an error at the cell."""
        policy = load_policy(ROOT / "examples/attribution/policy.yaml")
        credited = attribute(policy, read_events(ROOT / "examples/attribution/events.csv", policy))
        ruleset = load_ruleset(ROOT / "rulesets/sales_rep_monthly.yaml")
        card = ruleset.scorecard
        typed = read_table(ROOT / "examples/sales_rep_monthly/records.csv")
        with pytest.raises(DataError, match="'sales_actual' is given in the record and also computed by attribution"):
            merge_records([typed], credited, set(card.inputs), card.period, {"sales_actual": "credited_amount"})


def test_a_weekly_rate_over_the_rolling_year_divides_by_the_year():
    """52 orders in the twelve months ending March 2026 are 52 × 7 ÷ 365 a week, not ÷ March's 31 days."""
    ruleset = RULESET.replace("where: type == 'order'}", "where: type == 'order', over: rolling_year}")
    orders = [
        {
            "event_id": f"o{i}",
            "type": "order",
            "at": f"2025-{4 + i % 9:02d}-{1 + i // 9:02d}T10:00:00+08:00",
            "rep": "r1",
        }
        for i in range(48)
    ] + [ev(100 + i, "order", 2 + i) for i in range(4)]
    events = [*orders, ev(9, "call", 2), ev(8, "discipline", 2, points=0)]
    result = run([{"subject": "r1", "period": "2026-03"}], events, ruleset).result("r1")
    assert Fraction(result.kpi("orders").value) == Fraction(52 * 7, 365)
    assert result.kpi("orders").explanation["inputs"]["orders_per_week"]["source"].endswith(": 52 event(s)")
