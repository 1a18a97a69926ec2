"""Aggregates over the year to date or a rolling year, and members counted rather than shared."""

import datetime as dt

from kpi_engine import evaluate, parse_ruleset
from kpi_engine.time.periods import Period, spanned

RULESET = """\
ruleset: spans
version: "1"
title: spans
subject: team
period: quarter
normalize: true
inputs: {note_count: {type: count, required: false}}
metrics:
  experts_ytd: {aggregate: {fn: count, where: type == 'promotion', over: year_to_date}}
  experts_year: {aggregate: {fn: count, where: type == 'promotion', over: rolling_year}}
  experts_quarter: {aggregate: {fn: count, where: type == 'promotion'}}
  headcount: {members: {where: 'true', measure: count}}
  promoted_share: {formula: experts_year / headcount}
kpis:
  - {id: experts, metric: promoted_share, method: threshold, target: 20%, weight: 1}
report: [experts_ytd, experts_year, experts_quarter, headcount]
"""


def members(*quarters):
    return [{"member": r, "parent": "T", "period": q} for q in quarters for r in ("a", "b", "c", "d", "e")]


def promotion(i, at, rep="a"):
    return {"event_id": f"p{i}", "type": "promotion", "at": at, "rep": rep}


def records(period="2026-Q2"):
    """The team's row and a row per rep (members need a record in some period)."""
    return [{"subject": s, "period": period} for s in ("T", "a", "b", "c", "d", "e")]


def values(events, member_rows, period="2026-Q2"):
    ruleset = parse_ruleset(RULESET)
    appraisal = evaluate(ruleset, records(period), members=member_rows, events=events, period=period, engine="row")
    result = appraisal.result("T")
    return {k: result.metrics[k] for k in ("experts_ytd", "experts_year", "experts_quarter", "headcount")}, result


def test_spanned_periods_of_a_quarter():
    """Year to date of Q3 is Q1–Q3; the rolling year of Q2 2026 is Q3 2025–Q2 2026."""
    q3 = Period.parse("2026-Q3", "quarter")
    assert [str(p) for p in spanned(q3, "year_to_date")] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    q2 = Period.parse("2026-Q2", "quarter")
    assert [str(p) for p in spanned(q2, "rolling_year")] == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    march = Period.parse("2026-03", "month")
    assert len(spanned(march, "rolling_year")) == 12
    assert spanned(march, "rolling_year")[0].start == dt.date(2025, 4, 1)


def test_year_to_date_and_rolling_year_count_earlier_quarters():
    """Promotions in Aug 2025, Feb 2026 and May 2026: Q2 counts 1, year to date 2, rolling year 3."""
    events = [
        promotion(1, "2025-06-30T10:00:00+08:00", "b"),  # Q2 2025: outside the rolling year of Q2 2026
        promotion(2, "2025-08-10T10:00:00+08:00", "b"),
        promotion(3, "2026-02-10T10:00:00+08:00", "c"),
        promotion(4, "2026-05-10T10:00:00+08:00"),
    ]
    found, result = values(events, members("2025-Q2", "2025-Q3", "2026-Q1", "2026-Q2"))
    assert found == {"experts_ytd": 2, "experts_year": 3, "experts_quarter": 1, "headcount": 5}
    assert result.kpi("experts").score == 100  # 3 of 5 members ≥ 20 %


def test_a_period_without_membership_rows_takes_the_appraised_members():
    """With membership rows only for Q2, earlier promotions of today's members still count."""
    events = [promotion(2, "2025-08-10T10:00:00+08:00", "b"), promotion(4, "2026-05-10T10:00:00+08:00")]
    found, _ = values(events, members("2026-Q2"))
    assert found["experts_year"] == 2


def test_an_earlier_periods_members_decide_for_that_period():
    """A rep who belonged to another team in Q3 2025 does not bring that quarter's promotion along."""
    rows = [*members("2026-Q2"), {"member": "b", "parent": "U", "period": "2025-Q3"}]
    rows += [{"member": r, "parent": "T", "period": "2025-Q3"} for r in ("a", "c")]
    found, _ = values([promotion(2, "2025-08-10T10:00:00+08:00", "b")], rows)
    assert found["experts_year"] == 0


def test_members_count_is_a_count_and_zero_without_matches():
    """measure: count gives how many members meet the condition (5 here), as a count metric."""
    ruleset = parse_ruleset(RULESET)
    assert ruleset.scorecard.metrics["headcount"].describe() == "members where true among all members"
    found, _ = values([], members("2026-Q2"))
    assert found["headcount"] == 5


def test_the_trace_lists_the_events_of_the_span():
    """The explanation of a rolling-year aggregate lists the matched events of every quarter."""
    events = [promotion(2, "2025-08-10T10:00:00+08:00", "b"), promotion(4, "2026-05-10T10:00:00+08:00")]
    ruleset = parse_ruleset(RULESET.replace("promoted_share, method", "experts_year, method"))
    appraisal = evaluate(ruleset, records(), members=members("2026-Q2"), events=events, engine="row")
    explanation = appraisal.result("T").kpi("experts").explanation
    assert explanation["events"] == {"matched": 2, "ids": ["p2", "p4"]}
    assert explanation["definition"] == "count(events) where type == 'promotion', rolling year"


def test_spans_and_members_counts_have_column_kernels():
    """The plan lets the columnar executor run aggregates over spans and members counts."""
    from kpi_engine.plan import lower

    assert lower(parse_ruleset(RULESET).scorecard).support("columnar") is None


class TestSpannedAtTheEdges:
    """The spans of ``over:`` at year ends, ISO weeks and leap years."""

    def test_year_to_date_of_the_first_iso_week_is_that_week_alone(self):
        """2026-W01 (29 Dec 2025 – 4 Jan 2026) is the first week of 2026: its year to date is itself."""
        w01 = Period.parse("2026-W01", "week")
        assert [str(p) for p in spanned(w01, "year_to_date")] == ["2026-W01"]

    def test_year_to_date_weeks_follow_the_iso_year(self):
        """2020 has 53 ISO weeks; 2021-W01 does not reach back into 2020-W53."""
        assert len(spanned(Period.parse("2020-W53", "week"), "year_to_date")) == 53
        assert [str(p) for p in spanned(Period.parse("2021-W02", "week"), "year_to_date")] == ["2021-W01", "2021-W02"]

    def test_rolling_year_of_a_day_is_twelve_months_across_a_leap_day(self):
        """The year ending 15 March 2024 starts 16 March 2023: 366 days, 29 February included."""
        found = spanned(Period.parse("2024-03-15", "day"), "rolling_year")
        assert (found[0].start, len(found)) == (dt.date(2023, 3, 16), 366)
        assert len(spanned(Period.parse("2026-03-15", "day"), "rolling_year")) == 365

    def test_rolling_year_of_a_week_is_52_weeks(self):
        """Twelve months of ISO weeks are 52 weeks, whatever day the year starts on."""
        for text in ("2026-W01", "2024-W10", "2020-W53", "2021-W01"):
            assert len(spanned(Period.parse(text, "week"), "rolling_year")) == 52


def test_a_weekly_year_to_date_does_not_count_last_year():
    """A weekly scorecard's year to date for 2026-W01 counts none of 2025's promotions."""
    weekly = RULESET.replace("period: quarter", "period: week")
    ruleset = parse_ruleset(weekly)
    events = [promotion(1, "2025-03-10T10:00:00+08:00"), promotion(2, "2025-12-30T10:00:00+08:00")]
    rows = [{"subject": s, "period": "2026-W01"} for s in ("T", "a", "b", "c", "d", "e")]
    member_rows = [{"member": r, "parent": "T", "period": "2026-W01"} for r in ("a", "b", "c", "d", "e")]
    appraisal = evaluate(ruleset, rows, members=member_rows, events=events, period="2026-W01", engine="row")
    assert appraisal.result("T").metrics["experts_ytd"] == 1  # 30 Dec 2025 lies in 2026-W01


def test_a_span_period_and_an_aggregate_over_start_on_the_same_day():
    """--period 2026-YTD-06 and over: year_to_date (and R12 and rolling_year) reckon the same first day."""
    from kpi_engine.time.accumulate import parse_span

    june = Period.parse("2026-06", "month")
    assert parse_span("2026-YTD-06", "year").first_day == spanned(june, "year_to_date")[0].start == dt.date(2026, 1, 1)
    assert parse_span("2026-06-R12", "year").first_day == spanned(june, "rolling_year")[0].start == dt.date(2025, 7, 1)
    assert parse_span("2026-01-R3", "quarter").first_day == dt.date(2025, 11, 1)
