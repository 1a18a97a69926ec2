"""Several event tables read as one log: the CRM export and the alert log the engine wrote itself."""

import pytest

from kpi_engine import DataError, evaluate, parse_ruleset
from kpi_engine.evaluation.records import Table

RULESET = """\
ruleset: answers
version: "1"
title: answers
subject: rep
period: month
calendar: CN
inputs: {sales: {type: money}}
event_fields: {metric: text, alert_period: text}
metrics:
  alert_timeliness:
    window: {trigger: type == 'alert', answer: type == 'alert_answered', match: [rep, metric, alert_period],
             within: {working_days: 2}}
kpis:
  - {id: answers, metric: alert_timeliness, method: threshold, target: 100%, weight: 100%}
"""
ALERTS = Table.from_rows(
    [
        {"event_id": "alert:r1/sales/2026-03", "type": "alert", "at": "2026-04-01T00:00:00+08:00", "rep": "r1",
         "metric": "sales", "alert_period": "2026-03"},
    ],
    "alerts.csv",
)  # fmt: skip
CRM = Table.from_rows(
    [{"event_id": "a1", "type": "alert_answered", "at": "2026-04-03T17:00:00+08:00", "rep": "r1", "metric": "sales",
      "alert_period": "2026-03"}],
    "crm.csv",
)  # fmt: skip


def test_an_alert_log_and_the_answers_from_two_tables_pair_up():
    """The alert from the engine's own log and the answer from the CRM export make one answered-in-time pair."""
    ruleset = parse_ruleset(RULESET)
    appraisal = evaluate(ruleset, [{"subject": "r1", "period": "2026-04", "sales": 1}], events=[CRM, ALERTS])
    assert appraisal.result("r1").kpi("answers").value == 1


def test_an_event_id_in_two_tables_is_located_in_the_second():
    """The same event_id in both tables is a duplicate, located at its second table's row."""
    again = Table.from_rows([{**dict(CRM.rows[0][1]), "type": "alert"}], "alerts.csv")
    with pytest.raises(DataError) as exc:
        evaluate(parse_ruleset(RULESET), [{"subject": "r1", "period": "2026-04", "sales": 1}], events=[CRM, again])
    [issue] = exc.value.issues
    assert issue.code == "duplicate_row"
    assert str(issue.location) == "alerts.csv:1"
    assert "first at crm.csv:1" in issue.message


def test_each_tables_own_mistakes_are_reported_together():
    """A bad timestamp in one table and a missing rep in the other are both reported."""
    bad_crm = Table.from_rows([{"event_id": "a1", "type": "alert_answered", "at": "soon", "rep": "r1"}], "crm.csv")
    bad_alerts = Table.from_rows([{"event_id": "x", "type": "alert", "at": "2026-04-01T00:00:00+08:00"}], "alerts.csv")
    with pytest.raises(DataError) as exc:
        evaluate(
            parse_ruleset(RULESET), [{"subject": "r1", "period": "2026-04", "sales": 1}], events=[bad_crm, bad_alerts]
        )
    assert sorted(i.location.file for i in exc.value.issues) == ["alerts.csv", "crm.csv"]
