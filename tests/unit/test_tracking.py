"""The year against its plan: actuals, forecasts, gap, at risk, budgets and alerts, checked by hand."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine.errors import DataError, RulesetError
from kpi_engine.time.targets import decompose, parse_plan
from kpi_engine.time.tracking import track

PLAN = """\
plan: p
year: 2026
company: co
calendar: weekdays
shares: {a: equal, b: equal, c: equal}
seasonality: {months: equal}
targets:
  sales: {total: 3600.00, actual: sales}
budgets:
  travel: {total: 3600.00}
tracking: {forecast: FORECAST}
"""


def run(rows, forecast="run_rate", **kw):
    plan = parse_plan(PLAN.replace("FORECAST", forecast), "plan.yaml")
    return track(plan, decompose(plan), rows, **kw)


def months(subject, *values, column="sales"):
    return [{"subject": subject, "period": f"2026-{m:02d}", column: v} for m, v in enumerate(values, start=1)]


ACTUALS = months("a", 100, 100, 100) + months("b", 50, 50, 100) + months("c", 90, 90, 90)


class TestForecast:
    def test_run_rate_on_working_days(self):
        """300 in Jan–Mar (64 weekdays of 261) runs to 300 × 261 ÷ 64 = 1223.4375 for the year."""
        report = run(ACTUALS)
        line = report.line("sales", "a", "2026")
        assert report.as_of == dt.date(2026, 3, 31)
        assert (line.working_days, line.elapsed_days) == (261, 64)
        assert line.forecast == Fraction(300 * 261, 64)
        assert line.status == "on_track"
        assert line.to_dict(2)["forecast"] == "1223.44"

    def test_plan_pace_keeps_the_seasonality(self):
        """TargetPlan pace: 200 against 300 planned to date is 200 ÷ 300 × 1200 = 800, at risk."""
        line = run(ACTUALS, "plan_pace").line("sales", "b", "2026")
        assert line.plan_to_date == 300
        assert line.forecast == 800
        assert line.gap == -400
        assert line.status == "at_risk"

    def test_exactly_ninety_percent_is_behind_not_at_risk(self):
        """270 ÷ 300 × 1200 = 1080 is exactly 90 % of 1200: behind, not at risk (strictly below)."""
        report = run(ACTUALS, "plan_pace")
        assert report.line("sales", "c", "2026").status == "behind"
        assert [a.subject for a in report.alerts if a.item == "sales"] == ["b", "co"]  # co: 770 ÷ 900 × 3600 = 3080

    def test_teams_and_the_company_are_sums_of_their_reps(self):
        """The company's actual is the sum of its reps'; its plan is the plan's company value."""
        line = run(ACTUALS).line("sales", "co", "2026-Q1")
        assert (line.actual, line.plan, line.complete, line.status) == (770, 900, True, "missed")

    def test_a_finished_period_forecasts_its_actual(self):
        """January is over by 31 March: its forecast is its actual."""
        line = run(ACTUALS).line("sales", "b", "2026-01")
        assert line.forecast == 50
        assert line.status == "missed"

    def test_monthly_actuals_are_not_cut_into_weeks(self):
        """A week has no actual when only monthly figures exist."""
        line = run(ACTUALS, levels=["week"]).line("sales", "a", "2026-W02")
        assert line.actual is None
        assert line.status == "no_data"

    def test_as_of_inside_a_month_counts_the_days_elapsed(self):
        """Daily actuals through 15 January (11 weekdays of 22) forecast January at twice their sum."""
        rows = [{"subject": "a", "period": f"2026-01-{d:02d}", "sales": 10} for d in (5, 6, 7)]
        line = run(rows, as_of=dt.date(2026, 1, 15)).line("sales", "a", "2026-01")
        assert (line.elapsed_days, line.working_days) == (11, 22)
        assert line.forecast == 60


class TestBudgets:
    def test_burn_and_variance_to_date(self):
        """Spend 390 against 300 budgeted to date burns 130 % and opens an over-budget alert."""
        rows = ACTUALS + months("a", 120, 135, 135, column="travel_spend")
        report = run(rows)
        line = report.line("travel", "a", "2026")
        assert (line.actual, line.plan_to_date, line.gap_to_date) == (390, 300, 90)
        assert line.to_date_ratio == Fraction(13, 10)
        assert line.status == "over"
        alert = next(a for a in report.alerts if a.item == "travel")
        assert (alert.subject, alert.reason, alert.opened, alert.due) == (
            "a", "over_budget", dt.date(2026, 4, 1), dt.date(2026, 4, 3),
        )  # fmt: skip

    def test_a_missing_spend_column_is_a_warning(self):
        """Without a travel_spend column the budget has no actual, and a warning says so."""
        report = run(ACTUALS)
        assert any("travel_spend" in w.message for w in report.warnings)


class TestRefusals:
    def test_every_bad_row_is_reported_at_once(self):
        """Unknown subject and column, a bad number, an overlap and a row after as-of, together."""
        rows = [
            {"subject": "x", "period": "2026-01", "sales": 1},
            {"subject": "a", "period": "2026-01", "sales": "1,0"},
            {"subject": "a", "period": "2026-02", "sales": 1, "salse": 2},
            {"subject": "a", "period": "2026-02-03", "sales": 1},
            {"subject": "a", "period": "2026-05", "sales": 1},
        ]
        with pytest.raises(DataError) as exc:
            run(rows, as_of=dt.date(2026, 3, 31))
        codes = sorted(i.code for i in exc.value.issues)
        assert codes == ["after_as_of", "bad_value", "overlap", "unknown_column", "unknown_subject"]

    def test_a_team_row_cannot_add_to_its_reps(self):
        """A figure on a team (an inner node) is refused: its value is its members' sum."""
        plan = parse_plan(PLAN.replace("FORECAST", "run_rate").replace(
            "{a: equal, b: equal, c: equal}", "{t: {weight: 100%, members: {a: equal, b: equal}}}"
        ), "plan.yaml")  # fmt: skip
        with pytest.raises(DataError) as exc:
            track(plan, decompose(plan), [{"subject": "t", "period": "2026-01", "sales": Decimal(5)}])
        assert [i.code for i in exc.value.issues] == ["not_a_leaf"]


class TestSettings:
    def test_a_plain_number_above_one_is_a_percent_slip(self):
        """at_risk: 90 would be 9000 % (every reps' forecast at risk); over_budget: 110 would never alert."""
        text = PLAN.replace("{forecast: FORECAST}", "{at_risk: 90, over_budget: 110}")
        with pytest.raises(RulesetError) as exc:
            parse_plan(text, "plan.yaml")
        found = [(i.code, i.path, i.location.line, i.suggestion) for i in exc.value.issues]
        assert found == [
            ("percent_slip", "tracking.at_risk", 11, "did you mean 90%?"),
            ("percent_slip", "tracking.over_budget", 11, "did you mean 110%?"),
        ]

    def test_at_risk_above_the_plan_or_negative_shares_are_refused(self):
        """A forecast at or above the plan is on track, so at_risk lies in 0–100 %; over_budget is not negative."""
        text = PLAN.replace("{forecast: FORECAST}", "{at_risk: 120%, over_budget: -5%}")
        with pytest.raises(RulesetError) as exc:
            parse_plan(text, "plan.yaml")
        assert [(i.code, i.path) for i in exc.value.issues] == [
            ("bad_value", "tracking.at_risk"),
            ("bad_value", "tracking.over_budget"),
        ]

    def test_shares_written_as_percents_or_fractions_of_one_are_read(self):
        """at_risk: 0.85 and over_budget: 110% are taken as written; a plain 1.1 asks for 110%."""
        spec = parse_plan(PLAN.replace("{forecast: FORECAST}", "{at_risk: 0.85, over_budget: 110%}")).spec.tracking
        assert (spec.at_risk, spec.over_budget) == (Decimal("0.85"), Decimal("1.1"))
        with pytest.raises(RulesetError) as exc:
            parse_plan(PLAN.replace("{forecast: FORECAST}", "{over_budget: 1.1}"))
        assert [i.suggestion for i in exc.value.issues] == ["did you mean 110%?"]


class TestExactness:
    def test_the_callers_decimal_context_does_not_change_a_figure(self):
        """Under a caller's 4-digit context the sums and plan to date are still exact."""
        import decimal

        expected = run(ACTUALS).line("sales", "co", "2026")
        with decimal.localcontext() as ctx:
            ctx.prec = 4
            ctx.traps[decimal.Inexact] = True
            line = run(ACTUALS).line("sales", "co", "2026")
        assert (line.actual, line.plan_to_date, line.forecast) == (
            expected.actual, expected.plan_to_date, expected.forecast,
        )  # fmt: skip
        assert line.actual == 770


class TestMissingFigures:
    def test_an_item_without_a_column_has_no_actual_and_opens_no_alert(self):
        """No travel_spend column: the budget's lines have no actual (not 0), status no_data, no alert."""
        report = run(ACTUALS)
        line = report.line("travel", "a", "2026")
        assert (line.actual, line.forecast, line.status) == (None, None, "no_data")
        assert not [a for a in report.alerts if a.item == "travel"]

    def test_a_year_end_run_without_alerts_needs_no_calendar_for_next_year(self):
        """As of 31 December on the CN calendar, a year met everywhere opens no alert and needs no 2027."""
        plan = parse_plan(PLAN.replace("calendar: weekdays", "calendar: CN").replace("FORECAST", "run_rate"))
        rows = [{"subject": s, "period": f"2026-{m:02d}", "sales": 100} for s in "abc" for m in range(1, 13)]
        report = track(plan, decompose(plan), rows, as_of=dt.date(2026, 12, 31))
        assert report.line("sales", "co", "2026").status == "met"
        assert report.alerts == ()
