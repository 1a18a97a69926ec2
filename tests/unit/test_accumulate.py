"""Finer records rolled up into a scorecard's period, and to-date and rolling spans."""

from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import DataError, evaluate, parse_ruleset
from kpi_engine.time.accumulate import parse_span

HALF = """\
ruleset: half
version: "1"
title: t
subject: rep
period: half
inputs:
  won: {type: count}
  leads: {type: count}
  sales: {type: money, min: 0, max: 1000}
  target: {type: money, min: 0}
  survey: {type: score, rollup: mean, required: false}
  staff: {type: count, rollup: last, required: false}
  rate: {type: ratio, required: false}
metrics:
  conversion: {formula: won / leads, unit: ratio}
  attainment: {formula: sales / target, unit: ratio}
  growth: {previous: {metric: sales}}
kpis:
  - {id: conv, metric: conversion, method: attainment, target: 50%, cap: 200, weight: 50%}
  - {id: sales, metric: attainment, method: attainment, target: 100%, cap: 200, weight: 50%}
grades: [{grade: A, min: 90}, {grade: B}]
"""
CARD = parse_ruleset(HALF)
YEAR = parse_ruleset(HALF.replace("period: half", "period: year"))
QUARTER = parse_ruleset(HALF.replace("period: half", "period: quarter"))


def row(period, subject="r1", **values):
    return {"subject": subject, "period": period, "won": 1, "leads": 2, "sales": 100, "target": 100, **values}


def codes(exc):
    return [i.code for i in exc.value.issues]


class TestRollups:
    def test_months_sum_into_the_half(self):
        """Counts and money add up over the months of the half."""
        result = evaluate(CARD, [row("2026-01"), row("2026-02", won=3, sales=300)]).result("r1")
        assert result.kpi("conv").value == Fraction(4, 4)
        assert result.kpi("sales").value == Fraction(400, 200)

    def test_mean_and_last_over_time(self):
        """A declared mean is exact (13/3) and last keeps the latest month's value."""
        rows = [row("2026-01", survey=4, staff=5), row("2026-02", survey=4, staff=7), row("2026-03", survey=5)]
        appraisal = evaluate(parse_ruleset(HALF.replace("metric: conversion", "metric: survey")), rows)
        assert appraisal.result("r1").kpi("conv").value == Fraction(13, 3)
        staff = evaluate(parse_ruleset(HALF.replace("metric: conversion", "metric: staff")), rows)
        assert staff.result("r1").kpi("conv").value == 7

    def test_days_weeks_and_months_that_do_not_overlap_combine(self):
        """Records of different kinds add up when they cover different days."""
        rows = [row("2026-01"), row("2026-W06"), row("2026-02-09"), row("2026-03")]
        assert evaluate(CARD, rows).result("r1").kpi("conv").value == Fraction(4, 8)

    def test_a_half_record_beside_months_gives_the_fields_months_cannot(self):
        """A survey on the half's own record joins the monthly sums."""
        rows = [row("2026-01"), row("2026-02"), {"subject": "r1", "period": "2026-H1", "rate": "95%"}]
        result = evaluate(parse_ruleset(HALF.replace("metric: conversion", "metric: rate")), rows).result("r1")
        assert result.kpi("conv").value == Decimal("0.95")
        assert result.kpi("sales").value == 1

    def test_the_trace_names_the_months_used(self):
        """An input's source lists the rows and months it was rolled up from."""
        source = evaluate(CARD, [row("2026-01"), row("2026-03")]).result("r1").kpi("sales").explanation
        text = source["inputs"]["sales"]["source"]
        assert "rows 1, 2 (2026-01, 2026-03)" in text

    def test_the_bound_of_a_sum_applies_to_the_total(self):
        """A maximum is checked on the rolled-up half, and not on each month."""
        assert evaluate(CARD, [row("2026-01", sales=600)]).result("r1")
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-01", sales=600), row("2026-02", sales=600)])
        assert codes(exc) == ["out_of_bounds"]
        assert "2026-01, 2026-02" in str(exc.value)

    def test_rows_given_as_an_iterator_are_read_once(self):
        """An iterator of monthly rows (or of rows of the card's own period) is read once and appraised."""
        assert evaluate(CARD, iter([row("2026-01"), row("2026-02")])).result("r1").kpi("conv").value == Fraction(1, 2)
        assert evaluate(CARD, iter([row("2026-H1")])).result("r1").kpi("conv").value == Fraction(1, 2)

    def test_both_engines_read_the_rolled_up_records(self):
        """The columnar engine gives the row engine's appraisal from monthly records."""
        pytest.importorskip("polars")
        rows = [row("2026-01"), row("2026-02", subject="r2", won=2), row("2026-05", subject="r2")]
        row_path = evaluate(CARD, rows, engine="row")
        columnar = evaluate(CARD, rows, engine="columnar")
        assert [(r.subject, r.total) for r in columnar.results] == [(r.subject, r.total) for r in row_path.results]


class TestIncompletePeriods:
    def test_a_month_missing_from_the_half_is_a_warning(self):
        """Five of six months sum as given, and the appraisal warns that May is missing (not silent)."""
        rows = [row(f"2026-{m:02d}") for m in (1, 2, 3, 4, 6)]
        appraisal = evaluate(CARD, rows)
        assert appraisal.result("r1").kpi("sales").value == Fraction(500, 500)
        [warning] = appraisal.warnings
        assert (warning.code, warning.severity) == ("incomplete_period", "warning")
        assert "'r1' has no record for 2026-05" in warning.message

    def test_a_missing_month_is_an_error_in_a_strict_run(self):
        """Under strict, the missing month refuses the run instead of lowering the half's sum."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row(f"2026-{m:02d}") for m in (1, 2, 3, 4, 6)], strict=True)
        assert codes(exc) == ["incomplete_period"]

    def test_a_full_half_and_a_year_to_date_warn_of_nothing(self):
        """Six months (or January–June for 2026-YTD-06) cover their span: no warning."""
        assert evaluate(CARD, [row(f"2026-{m:02d}") for m in range(1, 7)]).warnings == ()
        ytd = evaluate(YEAR, [row(f"2026-{m:02d}") for m in range(1, 7)], period="2026-YTD-06")
        assert ytd.warnings == ()

    def test_gaps_are_whole_months(self):
        """Days 1–14 January cover January (days without a record are ordinary): February–June are missing."""
        rows = [row(f"2026-01-{d:02d}", won=0, leads=1, sales=1, target=1) for d in range(1, 15)]
        [warning] = evaluate(CARD, rows).warnings
        assert "no record for 2026-02…2026-06:" in warning.message
        month = parse_ruleset(HALF.replace("period: half", "period: month"))
        assert evaluate(month, [row("2026-03-05"), row("2026-03-20")]).warnings == ()
        rows = [row(f"2026-{m:02d}") for m in (1, 2, 4, 5, 6)] + [row(f"2026-{m:02d}", "r2") for m in (1, 2, 3)]
        assert sorted(w.message.split(":")[0] for w in evaluate(CARD, rows).warnings) == [
            "'r1' has no record for 2026-03",
            "'r2' has no record for 2026-04…2026-06",
        ]


class TestRefusals:
    def test_overlapping_records_are_refused(self):
        """A day inside a month also given is an overlap."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-01"), row("2026-01-15")])
        assert codes(exc) == ["overlap"]

    def test_a_week_across_the_half_is_refused(self):
        """ISO week 2026-W27 (29 June – 5 July) belongs to no one half."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-W27")])
        assert codes(exc) == ["crosses_period"]

    def test_an_input_without_a_rollup_over_time_is_refused_on_months(self):
        """A ratio has no rollup by default: a monthly value cannot stand for the half."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-01", rate="50%")])
        assert codes(exc) == ["no_rollup"]
        assert "rollup: mean" in exc.value.issues[0].suggestion

    def test_a_field_on_both_the_half_and_a_month_is_a_conflict(self):
        """The same input given for the half and for a month inside it is refused."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-01"), {"subject": "r1", "period": "2026-H1", "won": 3}])
        assert codes(exc) == ["conflict"]

    def test_every_bad_month_is_reported_at_once(self):
        """Bad cells of finer records are all reported, located on their own rows."""
        with pytest.raises(DataError) as exc:
            evaluate(CARD, [row("2026-01", won=-1), row("2026-02", leads="x"), row("2026-02")])
        assert sorted(codes(exc)) == ["bad_value", "bad_value", "duplicate_row"]

    def test_text_cannot_roll_up_by_sum(self):
        """A sum over text is a ruleset error."""
        from kpi_engine import RulesetError

        with pytest.raises(RulesetError) as exc:
            parse_ruleset(HALF.replace("rate: {type: ratio, required: false}", "note2: {type: text, rollup: sum}"))
        assert codes(exc) == ["bad_rollup"]


class TestSpans:
    def test_span_notation(self):
        """YTD, HTD and QTD end in a month; R3, R6 and R12 need a card of that many months."""
        ytd = parse_span("2026-YTD-06", "year")
        assert (str(ytd.carrier), ytd.length, ytd.first_day.isoformat(), ytd.last_day.isoformat()) == (
            "2026", 6, "2026-01-01", "2026-06-30",
        )  # fmt: skip
        qtd = parse_span("2026-QTD-05", "quarter")
        assert (str(qtd.carrier), qtd.length) == ("2026-Q2", 2)
        rolling = parse_span("2026-05-R3", "quarter")
        assert (str(rolling.carrier), rolling.first_day.isoformat()) == ("2026-Q2", "2026-03-01")
        assert parse_span("2026-06", "quarter") is None
        with pytest.raises(ValueError, match="needs a year scorecard"):
            parse_span("2026-YTD-06", "half")
        with pytest.raises(ValueError, match="3, 6 or 12"):
            parse_span("2026-05-R4", "quarter")

    def test_spans_step_back_by_their_own_length(self):
        """A rolling window's earlier spans are the windows before it; a to-date span's are earlier years."""
        rolling = parse_span("2026-05-R3", "quarter")
        previous = rolling.target(parse_date("2026-02-10"))
        assert previous is not None
        assert rolling.label_of(previous) == "2026-02-R3"
        assert rolling.target(parse_date("2026-06-01")) is None
        ytd = parse_span("2026-YTD-06", "year")
        assert ytd.target(parse_date("2025-07-01")) is None
        assert ytd.label_of(ytd.target(parse_date("2025-06-30"))) == "2025-YTD-06"

    def test_year_to_date_growth_compares_the_same_months_a_year_earlier(self):
        """The previous of 2026-YTD-02 is January–February 2025; later 2025 months are not read."""
        card = parse_ruleset(
            HALF.replace("period: half", "period: year").replace("metric: conversion", "metric: growth")
        )
        rows = [row("2025-01", sales=100), row("2025-02", sales=100), row("2025-09", sales=900),
                row("2026-01", sales=150), row("2026-02", sales=150), row("2026-03", sales=999)]  # fmt: skip
        appraisal = evaluate(card, rows, period="2026-YTD-02")
        assert appraisal.period == "2026-YTD-02"
        assert appraisal.result("r1").kpi("conv").value == Decimal("0.5")

    def test_a_rolling_window_rolls_up_the_months_ending_in_it(self):
        """2026-05-R3 reads March–May only."""
        rows = [row("2026-02", won=9), row("2026-03"), row("2026-04"), row("2026-05"), row("2026-06", won=9)]
        appraisal = evaluate(QUARTER, rows, period="2026-05-R3")
        assert appraisal.period == "2026-05-R3"
        assert appraisal.result("r1").kpi("conv").value == Fraction(3, 6)

    def test_a_record_of_the_carrier_period_cannot_be_cut(self):
        """A year record cannot stand for a year to date."""
        with pytest.raises(DataError) as exc:
            evaluate(YEAR, [row("2026")], period="2026-YTD-06")
        assert codes(exc) == ["not_in_span"]

    def test_to_date_events_are_read_up_to_the_last_day(self):
        """Events after the span's end are not counted."""
        card = parse_ruleset(
            HALF.replace("period: half", "period: year")
            .replace("  growth: {previous: {metric: sales}}", "  visits: {aggregate: {fn: count}}")
            .replace("metric: conversion", "metric: visits")
            .replace("target: 50%, cap: 200", "target: 1, cap: 500")
        )
        events = [
            {"event_id": "e1", "type": "visit", "at": "2026-06-30T23:00", "rep": "r1"},
            {"event_id": "e2", "type": "visit", "at": "2026-07-01T00:00", "rep": "r1"},
        ]
        appraisal = evaluate(card, [row("2026-06")], events=events, period="2026-YTD-06")
        assert appraisal.result("r1").kpi("conv").value == 1

    def test_rolling_windows_off_the_calendar_take_no_events(self):
        """Events cannot be placed in March–May as a quarter; an aligned window reads them."""
        events = [{"event_id": "e1", "type": "visit", "at": "2026-04-01T10:00", "rep": "r1"}]
        with pytest.raises(DataError, match="reads records only"):
            evaluate(QUARTER, [row("2026-04")], events=events, period="2026-05-R3")
        assert evaluate(QUARTER, [row("2026-04")], events=events, period="2026-06-R3").period == "2026-06-R3"


class TestMembership:
    def test_monthly_membership_rows_decide_the_half(self):
        """A rep in the same team every month belongs to it for the half."""
        team = parse_ruleset(
            HALF.replace("subject: rep", "subject: team").replace("  growth: {previous: {metric: sales}}\n", "")
        )
        members = [{"member": "r1", "parent": "T", "period": f"2026-0{m}"} for m in (1, 2)]
        assert evaluate(team, [row("2026-01"), row("2026-02")], members=members).result("T").kpi(
            "conv"
        ).value == 1 / Fraction(2)

    def test_a_move_within_the_half_is_refused(self):
        """Two teams in one half is a located error."""
        team = parse_ruleset(
            HALF.replace("subject: rep", "subject: team").replace("  growth: {previous: {metric: sales}}\n", "")
        )
        members = [
            {"member": "r1", "parent": "T", "period": "2026-01"},
            {"member": "r1", "parent": "U", "period": "2026-02"},
        ]
        with pytest.raises(DataError) as exc:
            evaluate(team, [row("2026-01"), row("2026-02")], members=members)
        assert codes(exc) == ["moved"]


def parse_date(text):
    import datetime as dt

    return dt.date.fromisoformat(text)


def test_alerts_compare_quarters_rolled_up_from_months():
    """kpi alerts on a quarter ruleset reads monthly rows: Q1 300 → Q2 150 is a 50 % fall."""
    from kpi_engine.time.alerts import find_alerts

    card = parse_ruleset(
        "ruleset: q\nversion: '1'\ntitle: t\nsubject: rep\nperiod: quarter\ninputs: {sales: {type: money}}\n"
        "kpis: [{id: s, metric: sales, method: threshold, target: 1, weight: 100%}]\n"
        "alerts: {metrics: {sales: {}}, declines: 0}\n"
    )
    rows = [{"subject": "r1", "period": f"2026-0{m}", "sales": 100 if m <= 3 else 50} for m in range(1, 7)]
    report = find_alerts(card, rows, period="2026-Q2")
    assert [(a.subject, a.value, a.previous) for a in report.alerts] == [("r1", 150, 300)]


@pytest.mark.parametrize("text", ["9999-12-R12", "0001-YTD-01", "2026-YTD-00", "2026-13-R3", "2026-06-R0"])
def test_a_bad_span_is_one_data_error(text):
    """Spans out of range or badly written are refused with a message, never a traceback."""
    with pytest.raises(DataError):
        evaluate(YEAR, [row("2026-01")], period=text)
