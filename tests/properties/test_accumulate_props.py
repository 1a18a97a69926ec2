"""A longer period from finer records is the same appraisal as from the records summed by hand."""

from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine import evaluate, parse_ruleset

TEXT = """\
ruleset: half
version: "1"
title: half-year from months
subject: team
period: half
inputs:
  won: {type: count}
  leads: {type: count}
  sales: {type: money, min: 0}
  target: {type: money, min: 0}
  survey: {type: score, rollup: mean, required: false}
  staff: {type: count, rollup: last, required: false}
metrics:
  conversion: {formula: won / leads, unit: ratio}
  attainment: {formula: sales / target, unit: ratio}
kpis:
  - {id: conv, metric: conversion, method: linear, floor: 10%, target: 40%, weight: 30%}
  - {id: sales, metric: attainment, method: attainment, target: 100%, cap: 120, weight: 50%}
  - {id: survey, metric: survey, method: linear, floor: 3, target: 5, weight: 20%}
grades: [{grade: A, min: 90}, {grade: B, min: 60}, {grade: C}]
"""
HALF = parse_ruleset(TEXT)
YEAR = parse_ruleset(TEXT.replace("period: half", "period: year").replace("subject: team", "subject: rep"))

money = st.decimals(min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False)
month = st.fixed_dictionaries(
    {
        "won": st.integers(0, 30),
        "extra": st.integers(0, 40),
        "sales": money,
        "target": money.filter(lambda d: d > 0),
        "survey": st.one_of(st.none(), st.decimals(min_value=1, max_value=5, places=1)),
        "staff": st.one_of(st.none(), st.integers(1, 12)),
    }
)
rep_months = st.dictionaries(st.integers(1, 6), month, min_size=1, max_size=6)
teams = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), rep_months, min_size=1, max_size=4)


def _row(subject, period, won, leads, sales, target, survey, staff):
    return {
        "subject": subject, "period": period, "won": won, "leads": leads, "sales": sales, "target": target,
        "survey": survey, "staff": staff,
    }  # fmt: skip


@given(teams)
def test_half_year_from_months_equals_half_year_from_summed_records(data):
    """Monthly records give the same half-year totals, scores and grades as the records rolled up by hand."""
    members = [{"member": rep, "parent": "T", "period": "2026-H1"} for rep in data]
    monthly, summed = [], []
    for rep, months in data.items():
        for m, v in months.items():
            monthly.append(_row(rep, f"2026-{m:02d}", v["won"], v["won"] + v["extra"], v["sales"], v["target"],
                                v["survey"], v["staff"]))  # fmt: skip
        ordered = [months[m] for m in sorted(months)]
        surveys = [v["survey"] for v in ordered if v["survey"] is not None]
        staff = [v["staff"] for v in ordered if v["staff"] is not None]
        mean = Fraction(sum(surveys, Decimal(0))) / len(surveys) if surveys else None
        summed.append(
            _row(
                rep, "2026-H1", sum(v["won"] for v in ordered), sum(v["won"] + v["extra"] for v in ordered),
                sum((v["sales"] for v in ordered), Decimal(0)), sum((v["target"] for v in ordered), Decimal(0)),
                mean, staff[-1] if staff else None,
            )
        )  # fmt: skip
    from_months = evaluate(HALF, monthly, members=members)
    from_sums = evaluate(HALF, summed, members=members)
    assert from_months.period == from_sums.period == "2026-H1"
    got = from_months.result("T")
    want = from_sums.result("T")
    assert (got.total, got.grade) == (want.total, want.grade)
    assert [(k.id, k.value, k.score) for k in got.kpis] == [(k.id, k.value, k.score) for k in want.kpis]


@given(rep_months)
def test_year_to_date_equals_the_months_it_covers(months):
    """2026-YTD-06 of a year scorecard is the year appraised from January–June only."""
    card = YEAR
    rows = [
        _row("r", f"2026-{m:02d}", v["won"], v["won"] + v["extra"], v["sales"], v["target"], v["survey"], v["staff"])
        for m, v in months.items()
    ]
    later = [_row("r", "2026-09", 99, 100, Decimal(5), Decimal(1000), None, None)]
    ytd = evaluate(card, rows + later, period="2026-YTD-06")
    plain = evaluate(card, rows)
    assert ytd.period == "2026-YTD-06"
    assert ytd.result("r").total == plain.result("r").total
