"""Alerts (S7): period-over-period moves, consecutive declines, working-day due dates, answer timeliness; flags."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from tests.shipped import s2_inputs

from kpi_engine import evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.time.alerts import find_alerts
from kpi_engine.time.calendar import CalendarError

ROOT = Path(__file__).resolve().parents[2]
DASH = ROOT / "examples/sales_dashboard_monthly"
S2 = ROOT / "examples/sales_supervisor_quarterly"
RULESET = """\
ruleset: watch
version: "1"
title: watch
subject: rep
period: month
inputs: {sales: {type: money}, leads: {type: count}}
event_fields: {metric: text, alert_period: text}
kpis:
  - {id: sales, metric: sales, method: threshold, target: 1, weight: 50%}
  - {id: leads, metric: leads, method: threshold, target: 1, weight: 50%}
alerts: {metrics: {sales: {}, leads: {threshold: 50%, declines: 0}}}
"""


def rows(*triples):
    return [{"subject": "r1", "period": p, "sales": s, "leads": n} for p, s, n in triples]


def test_dashboard_example_alerts_and_timeliness():
    """May 2026: six alerts due 3 June (2 working days after 1 June), three answered by then."""
    ruleset = load_ruleset(ROOT / "rulesets/sales_dashboard_monthly.yaml")
    report = find_alerts(
        ruleset, read_table(DASH / "records.csv"), events=read_table(DASH / "events.csv"), period="2026-05"
    )
    assert len(report.alerts) == 6
    assert {a.due for a in report.alerts} == {dt.date(2026, 6, 3)}
    assert report.answered_in_time == 3
    assert report.timeliness == Decimal("0.5")
    statuses = {a.id: a.status for a in report.alerts}
    assert statuses["liu_yang/leads/2026-05"] == "late"
    assert statuses["zhou_min/leads/2026-05"] == "open"


def test_change_must_exceed_the_threshold_either_way():
    """Exactly +20 % opens nothing; +20.01 % and −25 % open change alerts."""
    ruleset = parse_ruleset(RULESET)
    assert find_alerts(ruleset, rows(("2026-02", "100", 10), ("2026-03", "120", 10))).alerts == ()
    up = find_alerts(ruleset, rows(("2026-02", "100", 10), ("2026-03", "120.01", 10))).alerts
    assert [(a.metric, a.reasons) for a in up] == [("sales", ("change",))]
    down = find_alerts(ruleset, rows(("2026-02", "100", 10), ("2026-03", "75", 10))).alerts
    assert down[0].change == Decimal("-0.25")


def test_per_metric_threshold_and_no_change_from_zero():
    """Leads need a move above 50 %; a previous value of 0 opens no change alert."""
    ruleset = parse_ruleset(RULESET)
    assert find_alerts(ruleset, rows(("2026-02", "100", 10), ("2026-03", "100", 15))).alerts == ()
    assert [a.metric for a in find_alerts(ruleset, rows(("2026-02", "100", 10), ("2026-03", "100", 16))).alerts] == [
        "leads"
    ]
    assert find_alerts(ruleset, rows(("2026-02", "0", 10), ("2026-03", "100", 10))).alerts == ()


def test_two_consecutive_declines_open_an_alert():
    """Sales 100 → 95 → 90 is two declines of 5 % each: a decline alert, no change alert."""
    ruleset = parse_ruleset(RULESET)
    alerts = find_alerts(ruleset, rows(("2026-01", "100", 10), ("2026-02", "95", 10), ("2026-03", "90", 10))).alerts
    assert [(a.metric, a.reasons) for a in alerts] == [("sales", ("decline",))]
    one = find_alerts(ruleset, rows(("2026-01", "90", 10), ("2026-02", "95", 10), ("2026-03", "90", 10))).alerts
    assert one == ()


def test_due_date_skips_the_national_day_week():
    """A September 2026 alert opens 1 Oct and is due 9 Oct; an answer on 9 Oct is in time."""
    ruleset = parse_ruleset(RULESET)
    answer = [
        {"event_id": "a", "type": "alert_answered", "at": "2026-10-09T18:00:00+08:00", "rep": "r1",
         "metric": "sales", "alert_period": "2026-09"},
    ]  # fmt: skip
    report = find_alerts(ruleset, rows(("2026-08", "100", 10), ("2026-09", "150", 10)), events=answer)
    assert report.alerts[0].opened == dt.date(2026, 10, 1)
    assert report.alerts[0].due == dt.date(2026, 10, 9)
    assert report.alerts[0].status == "in_time"


def test_due_date_in_an_uncovered_year_is_an_error():
    """December 2026 alerts open in 2027, which the CN data does not cover: CalendarError, not a guess."""
    ruleset = parse_ruleset(RULESET)
    with pytest.raises(CalendarError, match="2027"):
        find_alerts(ruleset, rows(("2026-11", "100", 10), ("2026-12", "150", 10)))


def test_unknown_watched_metric_is_a_ruleset_error():
    """Watching a metric that does not exist is located with a suggestion."""
    from kpi_engine.errors import RulesetError

    with pytest.raises(RulesetError, match="did you mean 'sales'"):
        parse_ruleset(RULESET.replace("metrics: {sales: {}", "metrics: {salse: {}"))


def test_cli_alerts_table_and_events(capsys):
    """`kpi alerts` prints the table, and --format events gives one alert event per alert."""
    from kpi_engine.cli import main

    args = ["alerts", str(ROOT / "rulesets/sales_dashboard_monthly.yaml"), "--records", str(DASH / "records.csv")]
    assert main([*args, "--events", str(DASH / "events.csv"), "--period", "2026-05"]) == 0
    assert "timeliness 50.00%" in capsys.readouterr().out
    assert main([*args, "--period", "2026-03", "--format", "events"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "event_id,type,at,rep,metric,alert_period"
    assert len(lines) == 5


def test_s2_reads_events_and_publishes_the_promotion_flag():
    """The supervisor example reads the alert log kpi alerts wrote beside the CRM log and flags team_north."""
    ruleset = load_ruleset(ROOT / "rulesets/sales_supervisor_quarterly.yaml")
    appraisal = evaluate(ruleset, **s2_inputs())
    north, south = appraisal.result("team_north"), appraisal.result("team_south")
    assert "eligible_for_promotion" in north.flags
    assert "eligible_for_promotion" not in south.flags
    assert round(north.kpi("anomaly_response").value, 10) == round(Decimal(5) / Decimal(6), 10)
    assert south.kpi("anomaly_response").value == Decimal("0.6")
    assert south.kpi("complaint_response").value is not None
    assert north.kpi("cycle_reduction").value == Decimal("0.26")  # 60 days in Q1, 44.4 in Q2
    from kpi_engine.cli.appraise import format_appraisal

    table = format_appraisal(appraisal, "table").splitlines()
    assert table[1].split()[-1] == "flags"
    assert next(line for line in table if line.lstrip().startswith("1 ")).endswith("eligible_for_promotion")
    assert "eligible_for_promotion" in appraisal.to_json()


def test_a_period_without_data_is_an_error():
    """Asking for alerts of a month nobody has records for is a DataError, not an empty all-clear."""
    from kpi_engine import DataError

    with pytest.raises(DataError, match="no rep has data for period 2026-07"):
        find_alerts(parse_ruleset(RULESET), rows(("2026-02", "100", 10)), period="2026-07")
