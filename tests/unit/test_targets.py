"""Plans: yearly targets and budgets cut into subjects and periods exactly, with located errors."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from kpi_engine._numbers import split_units
from kpi_engine.errors import DataError, RulesetError
from kpi_engine.evaluation.records import Table
from kpi_engine.time.periods import Period
from kpi_engine.time.targets import decompose, merge_plan, parse_plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/plan/plan_2026.yaml"
BASE = """\
plan: p
year: 2026
shares: {a: 50%, b: 50%}
targets:
  sales: {total: 100.00}
"""


def _plan(text=BASE):
    return decompose(parse_plan(text, "plan.yaml"))


def test_largest_remainder_gives_leftover_units_to_the_biggest_remainders():
    """1.00 split 1/3 each gives 0.34 to the first key and 0.33 to the others (tie to the first key)."""
    from fractions import Fraction

    thirds = [(k, Fraction(1, 3)) for k in ("c", "a", "b")]
    assert split_units(100, thirds) == {"a": 34, "b": 33, "c": 33}


def test_split_refuses_weights_that_do_not_add_up():
    """Weights adding up to 90% are refused."""
    from fractions import Fraction

    with pytest.raises(ValueError, match="100%"):
        split_units(10, [("a", Fraction(9, 10))])


def test_example_plan_decomposes_exactly_at_every_level():
    """The shipped plan's quarters, months, weeks and days add up to each subject's year, and subjects to their parent."""
    result = decompose(parse_plan(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE)))
    rows = [a for a in result.allocations if a.item == "sales"]
    year = {a.subject: a.value for a in rows if a.period.kind == "year"}
    assert year["acme"] == Decimal("4800000.00")
    assert year["team_east"] + year["team_west"] == year["acme"]
    assert year["zhang_wei"] + year["li_na"] == year["team_east"]
    for subject, total in year.items():
        for kind in ("half", "quarter", "month", "week", "day"):
            parts = [a.value for a in rows if a.subject == subject and a.period.kind == kind]
            assert sum(parts) == total, (subject, kind)
    q1 = result.value("sales", "acme", Period.parse("2026-Q1", "quarter"))
    assert q1 == Decimal("960000.00")  # 20% of the year


def test_days_follow_the_working_calendar():
    """No day target falls on a day off; the adjusted Saturday 2026-10-10 carries one."""
    result = _plan()
    days = {a.period.start for a in result.allocations if a.period.kind == "day" and a.subject == "a"}
    assert dt.date(2026, 10, 1) not in days
    assert dt.date(2026, 10, 10) in days
    assert len(days) == 248


def test_counts_split_into_whole_units():
    """A count target of 7 over two equal reps gives 4 and 3."""
    result = _plan(BASE.replace("{total: 100.00}", "{total: 7, unit: count}"))
    year = Period.parse("2026", "year")
    assert {result.value("sales", s, year) for s in ("a", "b")} == {Decimal(4), Decimal(3)}
    months = [a.value for a in result.allocations if a.subject == "a" and a.period.kind == "month"]
    assert all(v == v.to_integral_value() for v in months)


def test_weights_that_do_not_add_up_are_located():
    """Share weights of 50% + 40% are reported at their line with the sum."""
    with pytest.raises(RulesetError) as info:
        parse_plan(BASE.replace("b: 50%", "b: 40%"), "plan.yaml")
    assert "plan.yaml:3:" in str(info.value)
    assert "add up to 90%, not 100%" in str(info.value)


def test_seasonality_errors_are_located():
    """Three quarter weights and a total off the smallest unit are each reported."""
    text = BASE + "seasonality: {quarters: [50%, 25%, 25%]}\n"
    text = text.replace("100.00", "100.001")
    with pytest.raises(RulesetError) as info:
        parse_plan(text, "plan.yaml")
    message = str(info.value)
    assert "quarters needs 4 weights" in message
    assert "not a multiple of the smallest unit" in message


def test_month_seasonality_weights_the_months():
    """Twelve month weights with all of it in December put the whole year in December."""
    months = ", ".join(["0"] * 11 + ["100%"])
    result = _plan(BASE + f"seasonality: {{months: [{months}]}}\n")
    assert result.value("sales", "company", Period.parse("2026-12", "month")) == Decimal("100.00")
    assert result.value("sales", "company", Period.parse("2026-11", "month")) == Decimal("0.00")


def test_merge_plan_fills_targets_into_records():
    """A record row without sales_target gets the plan's monthly value; a filled one is a conflict."""
    result = _plan(BASE.replace("{total: 100.00}", "{total: 100.00, field: sales_target}"))
    table = Table.from_rows([{"subject": "a", "period": "2026-03", "sales_actual": 5}])
    merged = merge_plan([table], result, {"sales_target", "sales_actual"}, "month")
    row = merged[0].rows[0][1]
    assert row["sales_target"] == result.value("sales", "a", Period.parse("2026-03", "month"))
    clash = Table.from_rows([{"subject": "a", "period": "2026-03", "sales_target": 5}])
    with pytest.raises(DataError, match="also by the plan"):
        merge_plan([clash], result, {"sales_target"}, "month")
    with pytest.raises(DataError, match="declares none"):
        merge_plan([table], result, {"other"}, "month")


def test_cli_plan_and_evaluate_with_plan(capsys):
    """`kpi plan` prints CSV rows and `kpi evaluate --plan` appraises reps whose records carry no target."""
    from kpi_engine.cli import main

    assert main(["plan", str(EXAMPLE), "--level", "quarter"]) == 0
    out = capsys.readouterr().out
    assert "sales,target,sales_target,acme,,quarter,2026-Q1,960000.00" in out
    args = [
        "evaluate",
        str(ROOT / "rulesets/sales_rep_monthly.yaml"),
        "--records",
        str(ROOT / "examples/plan/actuals.csv"),
    ]
    assert main([*args, "--plan", str(EXAMPLE), "--format", "json"]) == 0
    assert main(args) == 1  # without the plan the required sales_target is missing


def test_plan_schema_is_fresh_and_accepts_the_example():
    """schema/plan.schema.json equals `kpi schema --plan` and the example plan validates against it."""
    import json

    import jsonschema

    from kpi_engine.language._yaml import load_yaml
    from kpi_engine.time.targets import plan_schema

    committed = json.loads((ROOT / "schema/plan.schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(plan_schema()))
    data, _, _ = load_yaml(EXAMPLE.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(json.dumps(data, default=str)), committed)


def test_a_plan_year_outside_the_calendar_is_an_error():
    """A 2027 plan on the CN calendar (data to 2026) raises CalendarError instead of guessing working days."""
    from kpi_engine.time.calendar import CalendarError

    with pytest.raises(CalendarError, match="2027"):
        _plan(BASE.replace("year: 2026", "year: 2027"))


def test_duplicate_subject_in_the_share_tree_is_located():
    """A rep listed under two teams is reported at its second place."""
    text = BASE.replace(
        "shares: {a: 50%, b: 50%}",
        "shares: {t1: {weight: 50%, members: {a: 100%}}, t2: {weight: 50%, members: {a: 100%}}}",
    )
    with pytest.raises(RulesetError, match="'a' appears twice"):
        parse_plan(text, "plan.yaml")


class TestRelativeShares:
    """Equal, fractional and relative shares (issue 18) split exactly."""

    def test_equal_shares_split_exactly(self):
        """100.00 among three equal reps is 33.34 + 33.33 + 33.33 (one unit to the first by id)."""
        result = _plan(BASE.replace("{a: 50%, b: 50%}", "{a: equal, b: equal, c: equal}"))
        year = Period.parse("2026", "year")
        assert [result.value("sales", s, year) for s in "abc"] == [Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]

    def test_thirds_as_fractions_add_up_to_exactly_one(self):
        """1/3 + 1/3 + 1/3 is exactly 100 %, where 33.33 % three times is not."""
        result = _plan(BASE.replace("{a: 50%, b: 50%}", "{a: 1/3, b: 1/3, c: 1/3}"))
        assert result.value("sales", "c", Period.parse("2026", "year")) == Decimal("33.33")
        with pytest.raises(RulesetError) as exc:
            parse_plan(BASE.replace("{a: 50%, b: 50%}", "{a: 33.33%, b: 33.33%, c: 33.33%}"), "plan.yaml")
        assert "99.99%" in str(exc.value)

    def test_parts_split_three_two_one(self):
        """Parts 3, 2, 1 of 600.00 are 300.00, 200.00 and 100.00, and nest under a parent."""
        text = BASE.replace(
            "{a: 50%, b: 50%}", "{t: {weight: 100%, members: {a: {parts: 3}, b: {parts: 2}, c: {parts: 1}}}}"
        ).replace("100.00", "600.00")
        result = _plan(text)
        year = Period.parse("2026", "year")
        assert [result.value("sales", s, year) for s in "abc"] == [Decimal(300), Decimal(200), Decimal(100)]

    def test_equal_months_are_twelfths(self):
        """months: equal gives every month exactly 1/12 of the year (12.00 → 1.00 each)."""
        result = _plan(BASE.replace("100.00", "12.00") + "seasonality: {months: equal}\n")
        assert {result.value("sales", "a", Period.parse(f"2026-{m:02d}", "month")) for m in range(1, 13)} == {
            Decimal("0.50")
        }

    def test_mixed_forms_are_refused_located(self):
        """A percent beside equal among siblings is one located error."""
        with pytest.raises(RulesetError) as exc:
            parse_plan(BASE.replace("{a: 50%, b: 50%}", "{a: 50%, b: equal}"), "plan.yaml")
        assert [i.code for i in exc.value.issues] == ["mixed_shares"]
        assert str(exc.value.issues[0].location).startswith("plan.yaml:3:")
