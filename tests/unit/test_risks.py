"""The risk register: levels from a declared matrix, reviews 3–6 months ahead, every mistake located."""

import datetime as dt
from pathlib import Path

import jsonschema
import pytest

from kpi_engine.errors import RulesetError
from kpi_engine.language._yaml import load_yaml
from kpi_engine.management.risks import add_months, assess, check_register_text, parse_register, register_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/year/risks_2026.yaml"
SMALL = """\
register: r
scales: {likelihood: [low_l, high_l], impact: [small, big]}
levels: [green, red]
matrix:
  low_l: [green, green]
  high_l: [green, red]
risks:
  - {id: A, title: a, owner: o, likelihood: high_l, impact: big, assessed: 2026-01-31, next_review: 2026-04-30}
  - {id: B, title: b, owner: p, likelihood: low_l, impact: big, assessed: 2026-03-01, next_review: 2026-09-01}
"""


def test_the_matrix_decides_the_level_not_a_product():
    """high × big is red and low × big is green, as written; risks sort highest level first."""
    report = assess(parse_register(SMALL, "r.yaml"), dt.date(2026, 5, 1))
    assert [(r.spec.id, r.level.id) for r in report.risks] == [("A", "red"), ("B", "green")]


def test_a_review_date_passed_is_overdue_and_names_the_owner():
    """On 1 May a review due 30 April is one day overdue; one due on the day itself is not."""
    register = parse_register(SMALL, "r.yaml")
    assert [(a.owner, a.days_overdue) for a in assess(register, dt.date(2026, 5, 1)).alerts] == [("o", 1)]
    assert assess(register, dt.date(2026, 4, 30)).alerts == ()


def test_months_are_calendar_months_kept_inside_the_month():
    """31 January + 3 months is 30 April; + 1 month is 28 February."""
    assert add_months(dt.date(2026, 1, 31), 3) == dt.date(2026, 4, 30)
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)


def test_every_mistake_is_reported_at_once_with_its_place():
    """Unknown steps and levels, a short row, a missing row, a duplicate id and a review too far ahead."""
    text = """\
register: r
scales: {likelihood: [low_l, high_l, mid_l], impact: [small, big]}
levels: [green, red]
matrix:
  low_l: [green, gren]
  hihg_l: [green, red]
  mid_l: [green]
risks:
  - {id: A, title: a, owner: o, likelihood: high, impact: big, assessed: 2026-01-01, next_review: 2026-08-01}
  - {id: A, title: b, owner: p, likelihood: low_l, impact: big, assessed: 2026-03-01, next_review: 2026-05-01}
"""
    with pytest.raises(RulesetError) as exc:
        parse_register(text, "r.yaml")
    found = [(i.code, str(i.location)) for i in exc.value.issues]
    assert ("unknown_level", "r.yaml:5:18") in found
    assert ("unknown_name", "r.yaml:6:3") in found
    assert ("bad_row", "r.yaml:7:10") in found
    assert any(code == "missing_row" for code, _ in found)
    assert ("duplicate_id", "r.yaml:10:10") in found
    assert [code for code, _ in found].count("review_window") == 2
    unknown = next(i for i in exc.value.issues if i.code == "unknown_name" and "high" in i.message)
    assert unknown.suggestion == "did you mean 'high_l'?"


def test_a_matrix_that_falls_as_impact_rises_is_a_warning():
    """A lower level for a bigger impact is reported, and does not stop the register."""
    text = SMALL.replace("high_l: [green, red]", "high_l: [red, green]")
    parse_register(text, "r.yaml")
    assert [i.code for i in check_register_text(text, "r.yaml")] == ["not_monotonic"]


def test_the_example_register_matches_its_schema_and_rates_as_documented():
    """The shipped register validates against `kpi schema --risks` and has two overdue reviews on 30 June."""
    text = EXAMPLE.read_text(encoding="utf-8")
    data, _, _ = load_yaml(text)
    jsonschema.validate(data, register_schema())
    report = assess(parse_register(text, str(EXAMPLE)), dt.date(2026, 6, 30))
    assert [(a.risk, a.days_overdue) for a in report.alerts] == [("R03", 51), ("R01", 76)]
    assert report.risks[0].level.id == "critical"


def test_a_date_near_the_end_of_the_calendar_is_a_located_error():
    """An assessment in 9999 is refused at its place (its review window would pass the last year a date holds)."""
    text = SMALL.replace(
        "assessed: 2026-01-31, next_review: 2026-04-30", "assessed: 9999-10-01, next_review: 9999-12-31"
    )
    with pytest.raises(RulesetError) as caught:
        parse_register(text, "r.yaml")
    assert [(i.code, i.path, i.location.line) for i in caught.value.issues] == [
        ("bad_value", "risks[0].assessed", 8),
        ("bad_value", "risks[0].next_review", 8),
    ]
