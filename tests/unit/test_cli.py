import json
import os

import pytest

from kpi_engine.cli import main

REP = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv"]


@pytest.fixture(autouse=True)
def at_root(root):
    os.chdir(root)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_exits_zero_on_valid_rulesets(capsys):
    """kpi validate on the shipped rulesets prints ok and exits 0."""
    code, out, _ = run(capsys, "validate", "rulesets/sales_rep_monthly.yaml", "rulesets/sales_department.yaml")
    assert code == 0
    assert out.count(": ok") == 2


def test_evaluate_json_has_the_contract_fields(capsys):
    """JSON output holds ruleset id/version/sha256, period and per-KPI fields as strings."""
    import hashlib
    from pathlib import Path

    code, out, _ = run(capsys, "evaluate", *REP, "--format", "json")
    assert code == 0
    data = json.loads(out)
    digest = hashlib.sha256(Path("rulesets/sales_rep_monthly.yaml").read_bytes()).hexdigest()
    assert data["ruleset"] == {
        "id": "sales_rep_monthly",
        "version": "1.2.0",
        "sha256": digest,
        "title": data["ruleset"]["title"],
    }
    assert data["period"] == "2026-03"
    first = data["results"][0]
    assert {"subject", "level", "total", "grade", "rank", "kpis", "contributions_residue"} <= set(first)
    kpi = first["kpis"][0]
    assert {"id", "value", "score", "contribution", "status"} <= set(kpi)
    assert "explanation" not in kpi  # traces only when asked for
    assert "parameters" not in kpi  # written once, in the header
    assert isinstance(first["total"], str)
    assert isinstance(kpi["score"], str)
    header_kpi = data["scorecard"]["kpis"][0]
    assert header_kpi["id"] == kpi["id"]
    assert {"weight", "method", "parameters", "definition"} <= set(header_kpi)


def test_evaluate_json_with_traces_and_jsonl(capsys):
    """--traces adds each KPI's explanation; jsonl gives the header then one line per subject."""
    code, out, _ = run(capsys, "evaluate", *REP, "--format", "json", "--traces")
    assert code == 0
    explanation = json.loads(out)["results"][0]["kpis"][0]["explanation"]
    assert {"inputs", "rule"} <= set(explanation)
    code, out, _ = run(capsys, "evaluate", *REP, "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert "scorecard" in lines[0]
    assert "results" not in lines[0]
    assert [line["subject"] for line in lines[1:]] == [
        r["subject"] for r in json.loads(run(capsys, "evaluate", *REP, "--format", "json")[1])["results"]
    ]


def test_evaluate_period_option_and_csv_format(capsys):
    """--period selects an earlier period; --format csv gives one row per subject and KPI."""
    code, out, _ = run(capsys, "evaluate", *REP, "--period", "2026-02", "--format", "csv")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("period,subject")
    assert len(lines) == 1 + 4 * 11
    assert all(line.startswith("2026-02,") for line in lines[1:])


def test_evaluate_writes_out_file_and_nothing_to_stdout(capsys, tmp_path):
    """--out writes the result to the file and leaves stdout empty."""
    target = tmp_path / "a.json"
    code, out, _ = run(capsys, "evaluate", *REP, "--format", "json", "--out", str(target))
    assert code == 0
    assert out == ""
    assert json.loads(target.read_text(encoding="utf-8"))["period"] == "2026-03"


def test_bad_data_exits_one_with_a_located_error(capsys, tmp_path):
    """A bad record exits 1 and names file, row and column on stderr; nothing on stdout."""
    bad = tmp_path / "bad.csv"
    text = (
        "subject,period,sales_target,sales_actual,weekly_orders,new_customers,visits_existing,phone_calls,"
        "lost_customers,conduct_score,plans_due,plans_done,resource_requests,resource_replies\n"
        "a,2026-03,100,90,-3,1,1,1,1,90,1,1,1,1\n"
    )
    bad.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}:2:5: weekly_orders: 'weekly_orders': a count cannot be negative (-3)" in err


def test_usage_errors_exit_two():
    """A missing required option is a usage error (exit 2)."""
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "rulesets/sales_rep_monthly.yaml"])
    assert info.value.code == 2


def test_explain_prints_the_trace_of_one_subject(capsys):
    """kpi explain shows inputs with their record rows, methods, weights and gates."""
    code, out, _ = run(capsys, "explain", *REP, "--subject", "wang_fang")
    assert code == 0
    assert "metric attainment = sales_actual / sales_target = 0.45" in out
    assert "examples/sales_rep_monthly/records.csv:8" in out
    assert "low_attainment: when attainment < 50% → applied" in out


def test_explain_unknown_subject_exits_one(capsys):
    """Explaining a subject that was not appraised is an error listing those that were."""
    code, _, err = run(capsys, "explain", *REP, "--subject", "nobody")
    assert code == 1
    assert "zhang_wei" in err


def test_kpi_test_reports_expected_against_actual(capsys, tmp_path):
    """A failing case exits 1 and shows expected against actual."""
    text = """\
ruleset: t
version: "1"
title: t
inputs: {x: {type: number}}
kpis: [{id: k, metric: x, method: linear, floor: 0, target: 10, weight: 100%}]
cases:
  - name: wrong on purpose
    records: [{subject: a, period: 2026-03, x: 5}]
    expect: {a: {total: 60, kpis: {k: excluded}}}
  - name: also wrong
    records: [{subject: a, period: 2026-03, x: 5}]
    expect: {a: {kpis: {k: 40}}}
  - name: right
    records: [{subject: a, period: 2026-03, x: 5}]
    expect: {a: {total: 50, kpis: {k: 50}}}
"""
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "test", str(path))
    assert code == 1
    assert "a total: expected 60, got 50.00" in out
    assert "a kpis.k.score: expected excluded, got 50.00" in out
    assert "a kpis.k.score: expected 40, got 50.00" in out
    assert "1 passed, 2 failed" in out


def test_schema_prints_json_schema(capsys):
    """kpi schema prints a JSON Schema that forbids unknown keys."""
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["additionalProperties"] is False


def test_attribute_json_and_evaluate_with_attribution(capsys):
    """kpi attribute writes credits and violations; evaluate --policy feeds them to the scorecard."""
    code, out, _ = run(
        capsys, "attribute", "examples/attribution/policy.yaml", "--events", "examples/attribution/events.csv"
    )
    assert code == 0
    data = json.loads(out)
    assert {c["deal_id"]: c["reason"] for c in data["credits"]}["D100"] == "claim"
    assert {v["customer"] for v in data["violations"]} == {"cust_ma", "cust_he"}
    assert all(isinstance(c["amount"], str) for c in data["credits"])
    code, out, _ = run(
        capsys, "evaluate", "rulesets/sales_rep_monthly.yaml", "--records", "examples/attribution/records.csv",
        "--policy", "examples/attribution/policy.yaml", "--lead-events", "examples/attribution/events.csv", "--format", "json",
    )  # fmt: skip
    assert code == 0
    zhao = next(r for r in json.loads(out)["results"] if r["subject"] == "zhao_lei")
    follow = next(k for k in zhao["kpis"] if k["id"] == "follow_up")
    assert follow["value"] == "0.5"


def test_diff_shows_what_a_ruleset_change_changes(capsys, tmp_path):
    """kpi diff lists the subjects and KPIs whose reported numbers change."""
    from pathlib import Path

    changed = tmp_path / "changed.yaml"
    text = Path("rulesets/sales_rep_monthly.yaml").read_text(encoding="utf-8")
    changed.write_text(
        text.replace("target: 100%, cap: 120, weight: 60%}", "target: 110%, cap: 120, weight: 60%}"), encoding="utf-8"
    )
    code, out, _ = run(capsys, "diff", "rulesets/sales_rep_monthly.yaml", str(changed), "--records",
                       "examples/sales_rep_monthly/records.csv", "--format", "json")  # fmt: skip
    assert code == 0
    report = json.loads(out)
    zhang = next(c for c in report["changes"] if c["subject"] == "zhang_wei")
    assert zhang["kpis.target_completion"] == ["104.50", "95.00"]
    assert report["unchanged"] == 0


def test_validate_checks_policies_too(capsys, tmp_path):
    """kpi validate accepts the example policy and locates mistakes in a broken one."""
    bad = tmp_path / "p.yaml"
    bad.write_text("policy: p\nclaim_dayz: 3\nprotection_days: -1\n", encoding="utf-8")
    code, out, err = run(capsys, "validate", "examples/attribution/policy.yaml", str(bad))
    assert code == 1
    assert "examples/attribution/policy.yaml: ok" in out
    assert f"{bad}:2:1: claim_dayz: unknown key 'claim_dayz'; did you mean 'claim_days'?" in err
    assert f"{bad}:3:18: protection_days:" in err


def test_progress_bar_goes_to_stderr_and_leaves_stdout_untouched(monkeypatch):
    """On a terminal, a run that takes over a second draws its bar on stderr; the CSV on stdout is unchanged."""
    import io
    import sys
    import types

    from kpi_engine import cli

    argv = ["evaluate", *REP, "--format", "csv"]
    for name in ("TTY_INTERACTIVE", "TTY_COMPATIBLE", "FORCE_COLOR", "NO_COLOR"):  # rich reads these
        monkeypatch.delenv(name, raising=False)

    def run(*, terminal):
        class Err(io.StringIO):
            def isatty(self):
                return terminal

        out, err = io.StringIO(), Err()
        clock = iter(range(0, 1000, 2))  # every reading is two seconds later: the bar shows at once
        monkeypatch.setattr(cli._common, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        assert main(argv) == 0
        return out.getvalue(), err.getvalue()

    plain, _ = run(terminal=False)
    shown, bar = run(terminal=True)
    assert shown == plain
    assert shown.startswith("period,subject,")
    assert bar  # the bar was drawn on stderr
    assert "appraising" in bar
    assert "writing" in bar  # the display covers writing the results too
