from fractions import Fraction
from pathlib import Path

import pytest

from kpi_engine import DataError, RulesetError, evaluate, load_ruleset, parse_ruleset, read_table
from kpi_engine.audit.diff import ruleset_changes
from kpi_engine.audit.impact import impact, undated
from kpi_engine.audit.versions import check_versions, choose_version

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ROOT / "examples" / "versions" / "sales_rep_monthly"
RECORDS = ROOT / "examples" / "sales_rep_monthly" / "records.csv"
MEMBERS = ROOT / "examples" / "sales_rep_monthly" / "members.csv"

BASE = """\
ruleset: demo
version: "{version}"
title: demo
subject: rep
period: month
{effective}
inputs:
  x: {{type: number}}
kpis:
  - {{id: k, metric: x, method: threshold, target: {target}, weight: 100%}}
grades:
  - {{grade: A, min: 90}}
  - {{grade: B}}
"""


def version(v, effective, target="50", name=None):
    text = BASE.format(version=v, effective=f"effective: {effective}" if effective else "", target=target)
    return parse_ruleset(text, name or f"v{v}.yaml")


def test_the_version_in_effect_is_chosen():
    """The period picks the version whose effective dates cover it."""
    v1 = version("1", "{from: 2026-01-01, until: 2026-06-30}")
    v2 = version("2", "{from: 2026-07-01}")
    assert choose_version([v2, v1], "2026-03").version == "1"
    assert choose_version([v1, v2], "2026-07").version == "2"
    assert choose_version([v1, v2], "2027-12").version == "2"


def test_overlapping_versions_are_a_located_error():
    """Two versions whose dates overlap are refused with the file and line of the later one's start."""
    v1 = version("1", "{from: 2026-01-01, until: 2026-07-31}")
    v2 = version("2", "{from: 2026-07-01}")
    issues = check_versions([v1, v2])
    assert [i.code for i in issues] == ["overlapping_versions"]
    assert str(issues[0].location) == "v2.yaml:6:19"
    with pytest.raises(RulesetError, match="overlaps version 1"):
        choose_version([v1, v2], "2026-03")


def test_versions_without_dates_or_of_another_ruleset_are_errors():
    """A version with no effective dates, or of another ruleset id, is reported."""
    other = parse_ruleset(BASE.replace("ruleset: demo", "ruleset: other").format(
        version="3", effective="effective: {from: 2027-01-01}", target="50"), "other.yaml")  # fmt: skip
    issues = check_versions([version("1", "{from: 2026-01-01}"), version("2", None), other])
    assert sorted(i.code for i in issues) == ["mixed_rulesets", "no_effective_dates"]


def test_no_version_or_two_versions_in_a_period_is_an_error():
    """A period before every version, or straddling two, is refused naming the versions."""
    v1 = version("1", "{from: 2026-01-01, until: 2026-08-15}")
    v2 = version("2", "{from: 2026-08-16}")
    with pytest.raises(DataError, match="no version of 'demo' is in effect in 2025-12"):
        choose_version([v1, v2], "2025-12")
    with pytest.raises(DataError, match="straddles versions 1 and 2"):
        choose_version([v1, v2], "2026-08")


def test_rule_changes_are_stated_in_the_rulesets_terms():
    """The diff of the example versions lists weights, threshold, gate, grade band and bonus in plain terms."""
    old, new = load_ruleset(VERSIONS / "v1.0.0.yaml"), load_ruleset(VERSIONS / "v1.1.0.yaml")
    texts = [c.text for c in ruleset_changes(old, new)]
    assert texts == [
        "effective: from 2026-01-01 until 2026-02-28 → from 2026-03-01",
        "version: 1.0.0 → 1.1.0",
        "KPI target_completion weight: 60 % → 50 %",
        "KPI growth weight: 20 % → 30 %",
        "KPI replies threshold: 95 % → 90 %",
        "gate poor_conduct added: when conduct_score < 60 → force_grade D",
        "grade A bonus multiplier: 1.5 → 1.6",
        "grade B band moved: total ≥ 75 → total ≥ 80",
    ]
    assert ruleset_changes(old.scorecard, old.scorecard) == []


def test_kpis_and_bands_added_removed_or_moved_are_listed():
    """A KPI removed, a KPI added and a band moved each appear once with their path."""
    shipped = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml").scorecard
    text = (ROOT / "rulesets" / "sales_rep_monthly.yaml").read_text(encoding="utf-8")
    text = text.replace("{id: few,    min: 1, max: 3, score: 60}", "{id: few,    min: 1, max: 3, score: 65}")
    text = text.replace("id: calls,", "id: phone_calls,")
    changed = parse_ruleset(text).scorecard
    found = {(c.path, c.change) for c in ruleset_changes(shipped, changed)}
    assert found == {
        ("kpis.new_customers.bands.few", "changed"),
        ("kpis.calls", "removed"),
        ("kpis.phone_calls", "added"),
    }


def test_impact_lists_movers_largest_first_with_the_kpi_that_moved_most():
    """Under 1.1.0 li_na drops from B to C; changes come largest |Δ total| first; bonus totals are exact."""
    old, new = load_ruleset(VERSIONS / "v1.0.0.yaml"), load_ruleset(VERSIONS / "v1.1.0.yaml")
    inputs = {"records": read_table(RECORDS), "members": read_table(MEMBERS)}
    a = evaluate(undated(old), period="2026-03", **inputs)
    b = evaluate(undated(new), period="2026-03", **inputs)
    result = impact(a, b, old.scorecard, new.scorecard)
    assert [c.subject for c in result.changes] == ["li_na", "wang_fang", "zhao_lei", "zhang_wei"]
    li_na = result.changes[0]
    assert li_na.grade == ("B", "C")
    assert li_na.grade_move == -1
    assert li_na.top_kpi == "target_completion"
    assert li_na.delta_total == Fraction(b.result("li_na").total_exact) - Fraction(
        a.result("li_na").total_exact
    )  # exact
    assert (result.grades_up, result.grades_down) == (0, 1)
    data = result.to_dict()
    assert data["summary"]["bonus_multiplier_total"] == {"before": "5", "after": "5", "change": "0"}


def test_impact_of_identical_versions_is_empty():
    """The same ruleset on both sides changes nobody."""
    ruleset = load_ruleset(ROOT / "rulesets" / "sales_rep_monthly.yaml")
    a = evaluate(ruleset, read_table(RECORDS), members=read_table(MEMBERS))
    result = impact(a, a, ruleset.scorecard, ruleset.scorecard)
    assert result.changes == ()
    assert result.unchanged == 4


def test_inputs_and_metrics_changes_are_listed_field_by_field():
    """A bound moved, an input added and a formula changed each give one plain line."""
    text = (ROOT / "rulesets" / "sales_rep_monthly.yaml").read_text(encoding="utf-8")
    changed = text.replace("sales_actual:      {type: money, min: 0,", "sales_actual:      {type: money, min: 1,")
    changed = changed.replace("\nmetrics:\n", "\n  extra: {type: number, required: false}\n\nmetrics:\n")
    changed = changed.replace("formula: plans_done / plans_due,", "formula: plans_done / (plans_due + 1),")
    texts = [c.text for c in ruleset_changes(parse_ruleset(text).scorecard, parse_ruleset(changed).scorecard)]
    assert texts == [
        "input sales_actual min: 0 → 1",
        "input extra added: number, optional",
        "metric plan_completion: plans_done / plans_due → plans_done / (plans_due + 1)",
    ]
