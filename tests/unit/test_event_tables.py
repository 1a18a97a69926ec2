"""Several event tables read as one log: the CRM export and the alert log the engine wrote itself."""

import json

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


class TestAlertLog:
    @pytest.fixture(autouse=True)
    def at_root(self, root, monkeypatch):
        monkeypatch.chdir(root)

    ARGS = (
        "alerts",
        "rulesets/sales_dashboard_monthly.yaml",
        "--records",
        "examples/sales_dashboard_monthly/records.csv",
    )

    def test_log_is_created_then_added_to_once_per_alert(self, capsys, tmp_path):
        """--log writes the header and March's 4 alerts; April adds 1; March again adds none."""
        from kpi_engine.cli import main

        log = tmp_path / "alerts.csv"
        assert main([*self.ARGS, "--period", "2026-03", "--log", str(log)]) == 0
        assert main([*self.ARGS, "--period", "2026-04", "--log", str(log)]) == 0
        before = log.read_bytes()
        assert main([*self.ARGS, "--period", "2026-03", "--log", str(log)]) == 0
        err = capsys.readouterr().err
        assert "4 alert event(s) added, 0 already there" in err
        assert "0 alert event(s) added, 4 already there" in err
        lines = log.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "event_id,type,at,rep,metric,alert_period"
        assert len(lines) == 6
        assert log.read_bytes() == before

    def test_a_file_that_is_not_an_alert_log_is_refused(self, capsys, tmp_path):
        """--log onto another CSV is an error and leaves the file as it was."""
        from kpi_engine.cli import main

        other = tmp_path / "crm.csv"
        other.write_text("event_id,type,at,rep\ne1,deal,2026-03-01,r1\n", encoding="utf-8")
        assert main([*self.ARGS, "--period", "2026-03", "--log", str(other)]) == 1
        assert "not an alert log" in capsys.readouterr().err
        assert other.read_text(encoding="utf-8").startswith("event_id,type,at,rep\n")

    def test_evaluate_reads_the_log_beside_the_crm_export(self, capsys):
        """kpi evaluate --events events.csv alerts.csv: the anomaly-response KPI pairs the two files."""
        from tests.shipped import S2_ARGS

        from kpi_engine.cli import main

        assert main(["evaluate", *S2_ARGS, "--format", "json"]) == 0
        north = next(r for r in json.loads(capsys.readouterr().out)["results"] if r["subject"] == "team_north")
        anomaly = next(k for k in north["kpis"] if k["id"] == "anomaly_response")
        assert anomaly["score"] == "66.67"

    def test_a_record_takes_one_event_file(self, capsys, tmp_path):
        """--record with two --events files is a one-line error: a run record holds one event table."""
        from tests.shipped import S2_ARGS

        from kpi_engine.cli import main

        assert main(["evaluate", *S2_ARGS, "--record", str(tmp_path / "r.json")]) == 1
        assert "a run record holds one event table" in capsys.readouterr().err
