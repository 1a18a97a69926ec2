"""kpi track, kpi risks and kpi territories on the shipped GM example, as a new user runs them."""

import json

import pytest

from kpi_engine.cli import main

Y = "examples/year/"
TRACK = ["track", Y + "plan_2026.yaml", "--actuals", Y + "actuals_2026.csv", Y + "company_spend_2026.csv"]


@pytest.fixture(autouse=True)
def _root(root, monkeypatch):
    monkeypatch.chdir(root)
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    for key in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
        monkeypatch.delenv(key, raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_track_table_names_who_is_at_risk(capsys):
    """At the plan's pace li_na (93.3 % to date) forecasts 1,108,051.11, behind; zhao_lei at risk; team_east on track."""
    code, out, _ = run(capsys, *TRACK)
    assert code == 0
    assert "as of 2026-06-30" in out
    lines = out.splitlines()
    li_na = next(line for line in lines if "li_na" in line and "1,188,000.00" in line)
    assert "1,108,051.11" in li_na
    assert li_na.rstrip().endswith("behind")
    assert any("zhao_lei" in line and "843,560.00" in line and line.rstrip().endswith("at risk") for line in lines)
    assert any("team_east" in line and "2,640,000.00" in line and line.rstrip().endswith("on track") for line in lines)


def test_track_json_holds_exact_lines_and_alerts(capsys):
    """JSON lists every line and the year's alerts; marketing is tracked from the company's own file."""
    code, out, _ = run(capsys, *TRACK, "--format", "json", "--level", "year", "quarter")
    data = json.loads(out)
    assert code == 0
    marketing = next(ln for ln in data["lines"] if ln["item"] == "marketing" and ln["period"] == "2026")
    assert (marketing["actual"], marketing["plan_to_date"], marketing["status"]) == ("230156", "225000", "over")
    ids = {a["id"] for a in data["alerts"]}
    assert {"zhao_lei/sales/2026", "team_west/sales/2026", "acme/marketing/2026"} <= ids
    assert "li_na/sales/2026" not in ids  # 93.3 % of plan to date: behind, not at risk
    assert {ln["level"] for ln in data["lines"]} == {"year", "quarter"}


def test_track_html_is_one_offline_page_in_chinese(capsys, tmp_path):
    """The page has the risk matrix, Chinese labels, and no external reference."""
    out_file = tmp_path / "year.html"
    code, _, _ = run(capsys, "--lang", "zh", *TRACK, "--risks", Y + "risks_2026.yaml", "--format", "html",
                     "--out", str(out_file))  # fmt: skip
    page = out_file.read_text(encoding="utf-8")
    assert code == 0
    assert "风险矩阵" in page
    assert "有风险" in page
    assert "http://" not in page
    assert "https://" not in page


def test_track_events_pair_with_a_window_metric(capsys):
    """--format events writes one alert event per alert, as kpi alerts does."""
    code, out, _ = run(capsys, *TRACK, "--format", "events")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "event_id,type,at,rep,metric,alert_period"
    assert "alert:zhao_lei/sales/2026,alert,2026-07-01T00:00:00,zhao_lei,sales,2026" in lines


def test_track_refuses_bad_actuals_with_located_lines(capsys, tmp_path):
    """An unknown rep is one located error and exit 1."""
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,period,sales_actual\nzhang_wie,2026-01,5\n", encoding="utf-8")
    code, _, err = run(capsys, "track", Y + "plan_2026.yaml", "--actuals", str(bad))
    assert code == 1
    assert f"{bad}:2:1" in err
    assert "did you mean 'zhang_wei'" in err


def test_risks_lists_overdue_reviews(capsys):
    """On 30 June two reviews are overdue, R03 (critical) first."""
    code, out, _ = run(capsys, "risks", Y + "risks_2026.yaml", "--as-of", "2026-06-30")
    assert code == 0
    assert "2 review(s) overdue" in out
    assert out.index("R03") < out.index("R01")


def test_territories_propose_moves(capsys):
    """The shipped design evens 53.5 % / 24.2 % / 22.3 % to within 0.3 points, K01 staying locked."""
    code, out, _ = run(capsys, "territories", Y + "accounts_2026.csv", "--design", Y + "territories_2026.yaml")
    assert code == 0
    assert "spread 31.2%" in out
    assert "spread 0.3%" in out
    assert "K01" not in out.split("Moves proposed")[1].split("After")[0]


def test_schemas_and_validate_know_registers(capsys):
    """kpi schema --risks prints a schema; kpi validate accepts the shipped register."""
    code, out, _ = run(capsys, "schema", "--risks")
    assert code == 0
    assert json.loads(out)["properties"]["register"]
    code, out, _ = run(capsys, "validate", Y + "risks_2026.yaml", Y + "plan_2026.yaml")
    assert code == 0
    assert out.count(": ok") == 2


def test_half_year_scorecard_from_monthly_actuals(capsys):
    """The shipped half-year ruleset appraises the monthly actuals with the plan's monthly targets summed."""
    code, out, _ = run(capsys, "evaluate", "rulesets/sales_rep_half_year.yaml", "--records", Y + "actuals_2026.csv",
                       "--plan", Y + "plan_2026.yaml", "--format", "json")  # fmt: skip
    data = json.loads(out)
    assert code == 0
    assert data["period"] == "2026-H1"
    li_na = next(r for r in data["results"] if r["subject"] == "li_na")
    assert li_na["total"] == "95.96"


def test_territories_solver_proves_the_example_optimal(capsys):
    """With --solver cp-sat the shipped design reaches the same 0.3-point spread, proven optimal in 4 moves."""
    pytest.importorskip("ortools")
    code, out, _ = run(capsys, "territories", Y + "accounts_2026.csv", "--design", Y + "territories_2026.yaml",
                       "--solver", "cp-sat", "--format", "json")  # fmt: skip
    data = json.loads(out)
    assert code == 0
    assert data["method"] == "cp-sat optimal"
    assert data["after"]["spread"] == "0.3%"


def test_track_at_year_end_takes_next_years_calendar(capsys, tmp_path):
    """As of 31 December the alerts fall due in 2027: the imported notice (--calendar) gives their due day."""
    cal = tmp_path / "cn_2027.yaml"
    assert main(["calendar", "import", "tests/fixtures/notices/synthetic_2027.txt", "--out", str(cal)]) == 0
    code, _, err = run(capsys, *TRACK, "--as-of", "2026-12-31")
    assert code == 1
    assert "2027-01-0" in err  # the CN calendar ends in 2026: an alert's due day is out of reach
    code, out, _ = run(capsys, *TRACK, "--as-of", "2026-12-31", "--format", "json", "--calendar", str(cal))
    assert code == 0
    assert {a["due"] for a in json.loads(out)["alerts"]} == {"2027-01-05"}


def test_plan_of_a_year_after_the_library_splits_with_an_imported_notice(capsys, tmp_path):
    """A 2027 plan on the CN calendar needs the 2027 notice: kpi plan --calendar FILE splits it."""
    cal = tmp_path / "cn_2027.yaml"
    assert main(["calendar", "import", "tests/fixtures/notices/synthetic_2027.txt", "--out", str(cal)]) == 0
    plan = tmp_path / "plan_2027.yaml"
    plan.write_text("plan: p\nyear: 2027\ncompany: co\ntargets:\n  sales: {total: 1200.00}\n", encoding="utf-8")
    code, _, err = run(capsys, "plan", str(plan))
    assert code == 1
    assert "kpi calendar import" in err
    code, out, _ = run(capsys, "plan", str(plan), "--level", "month", "--calendar", str(cal))
    assert code == 0
    assert out.count("\n") == 13  # a header and twelve months


def test_territories_refuse_a_negative_move_limit(capsys):
    """--moves -3 is refused (a design's max_moves must be 0 or more too), not read as 'no move helps'."""
    code, out, err = run(capsys, "territories", Y + "accounts_2026.csv", "--by", "potential", "--moves", "-3")
    assert code == 1
    assert "--moves -3" in err
    assert out == ""
