"""Event-window metrics: triggers paired with answers, windows in hours, days and working days."""

from decimal import Decimal
from fractions import Fraction

import pytest

from kpi_engine import DataError, RulesetError, evaluate, parse_ruleset

RULESET = """\
ruleset: windows
version: "1"
title: windows
subject: rep
period: month
inputs: {headcount: {type: count}}
metrics:
  complaints_in_24h:
    window: {trigger: type == 'complaint', answer: type == 'complaint_answer', within: {hours: 24}, measure: in_time}
  complaints_missed:
    window: {trigger: type == 'complaint', answer: type == 'complaint_answer', within: {hours: 24}, measure: missed}
  complaint_rate:
    window: {trigger: type == 'complaint', answer: type == 'complaint_answer', within: {hours: 24}}
  first_answer_hours:
    window: {trigger: type == 'complaint', answer: type == 'complaint_answer', measure: mean_duration, duration_unit: hours}
  down_payment_rate:
    window: {trigger: type == 'subscription', answer: type == 'down_payment', within: {days: 7}}
  follow_up_rate:
    window: {trigger: type == 'registration', answer: type == 'follow_up', match: [rep, customer], within: {days: 3}}
  trained_before_post:
    window: {trigger: type == 'take_up_post', answer: type == 'training', match: [rep], within: {days: 21}, direction: before}
  deal_cycle_days:
    window: {trigger: type == 'first_contact', answer: type == 'deal', anchor: answer, measure: mean_duration}
  alert_answer_rate:
    window: {trigger: type == 'alert', answer: type == 'alert_answered', within: {working_days: 2}}
  confirmed_in_3_months:
    window: {trigger: type == 'hire', answer: type == 'confirmed', match: [rep], within: {months: 3}}
kpis:
  - {id: complaints, metric: complaint_rate, method: threshold, target: 100%, weight: 100%}
"""


def ev(event_id, type_, at, rep="r1", customer="c1"):
    return {"event_id": event_id, "type": type_, "at": at, "rep": rep, "customer": customer}


def run(events, period="2026-03"):
    ruleset = parse_ruleset(RULESET)
    records = [{"subject": r, "period": period, "headcount": 1} for r in ("r1", "r2")]
    appraisal = evaluate(ruleset, records, events=events, period=period)
    result = appraisal.result("r1")
    names = ruleset.scorecard.metrics
    from kpi_engine.evaluation.row import RowMetrics, prepare_inputs
    from kpi_engine.time.periods import Period

    m = RowMetrics(ruleset.scorecard, prepare_inputs(ruleset.scorecard, records, None, events))
    p = Period.parse(period, "month")
    return result, {n: m.value("r1", p, n) for n in names if m.card.metrics[n].kind == "window"}


def test_complaint_answered_within_24_hours_exactly_on_the_bound():
    """An answer exactly 24 h later is in time; 24 h and 1 minute later is late; none is never."""
    _, v = run(
        [
            ev("c1", "complaint", "2026-03-02T10:00:00+08:00", customer="a"),
            ev("a1", "complaint_answer", "2026-03-03T10:00:00+08:00", customer="a"),
            ev("c2", "complaint", "2026-03-02T10:00:00+08:00", customer="b"),
            ev("a2", "complaint_answer", "2026-03-03T10:01:00+08:00", customer="b"),
            ev("c3", "complaint", "2026-03-05T10:00:00+08:00", customer="c"),
        ]
    )
    assert v["complaints_in_24h"] == 1
    assert v["complaints_missed"] == 2
    assert v["complaint_rate"] == Fraction(1, 3)  # exact
    assert v["first_answer_hours"] == (24 * 2 + Fraction(1, 60)) / 2  # mean of 24 h and 24 h 1 min, exactly


def test_one_answer_closes_one_complaint():
    """Two complaints of one customer and one answer: the earlier complaint takes it, the later is never answered."""
    result, v = run(
        [
            ev("c1", "complaint", "2026-03-02T10:00:00+08:00"),
            ev("c2", "complaint", "2026-03-02T11:00:00+08:00"),
            ev("a1", "complaint_answer", "2026-03-02T12:00:00+08:00"),
        ]
    )
    assert v["complaints_in_24h"] == 1
    trace = result.kpi("complaints").explanation["window"]
    assert trace["pairs"][0] == {"event": "c1", "partner": "a1", "status": "in_time", "duration": Decimal(2)}
    assert trace["pairs"][1]["status"] == "never"


def test_down_payment_within_seven_calendar_days_day_zero_not_counted():
    """Subscription on 1 Mar: a down payment on 8 Mar is in time, on 9 Mar late (DOMAIN §6)."""
    _, v = run(
        [
            ev("s1", "subscription", "2026-03-01T09:00:00+08:00", customer="a"),
            ev("p1", "down_payment", "2026-03-08T23:59:00+08:00", customer="a"),
            ev("s2", "subscription", "2026-03-01T09:00:00+08:00", customer="b"),
            ev("p2", "down_payment", "2026-03-09T00:01:00+08:00", customer="b"),
        ]
    )
    assert v["down_payment_rate"] == Decimal("0.5")


def test_answers_in_the_next_period_still_count():
    """A complaint on 31 Mar answered on 1 Apr is in time for March."""
    _, v = run(
        [
            ev("c1", "complaint", "2026-03-31T20:00:00+08:00"),
            ev("a1", "complaint_answer", "2026-04-01T09:00:00+08:00"),
        ]
    )
    assert v["complaint_rate"] == 1


def test_follow_up_matches_rep_and_customer():
    """R3: a follow-up by another rep does not answer the registering rep's customer."""
    _, v = run(
        [
            ev("g1", "registration", "2026-03-01T10:00:00+08:00", rep="r1", customer="a"),
            ev("f1", "follow_up", "2026-03-02T10:00:00+08:00", rep="r2", customer="a"),
            ev("g2", "registration", "2026-03-01T10:00:00+08:00", rep="r1", customer="b"),
            ev("f2", "follow_up", "2026-03-04T10:00:00+08:00", rep="r1", customer="b"),
            ev("x", "registration", "2026-02-01T10:00:00+08:00", rep="r1", customer="z"),  # February: not counted
        ]
    )
    assert v["follow_up_rate"] == Decimal("0.5")


def test_training_in_the_three_weeks_before_taking_up_the_post():
    """Training 21 days before the post counts; 22 days before does not; training after it does not."""
    _, v = run(
        [
            ev("p1", "take_up_post", "2026-03-22T09:00:00+08:00", rep="r1", customer=None),
            ev("t1", "training", "2026-03-01T09:00:00+08:00", rep="r1", customer=None),
        ]
    )
    assert v["trained_before_post"] == 1
    _, v = run(
        [
            ev("p1", "take_up_post", "2026-03-23T09:00:00+08:00", rep="r1", customer=None),
            ev("t1", "training", "2026-03-01T09:00:00+08:00", rep="r1", customer=None),
            ev("t2", "training", "2026-03-24T09:00:00+08:00", rep="r1", customer=None),
        ]
    )
    assert v["trained_before_post"] == 0


def test_deal_cycle_counts_days_from_first_contact_to_each_deal_of_the_period():
    """Deals in March 45 and 15 days after their first contacts average 30 days; February's deal is not counted."""
    _, v = run(
        [
            ev("f1", "first_contact", "2026-01-20T10:00:00+08:00", customer="a"),
            ev("d1", "deal", "2026-03-06T10:00:00+08:00", customer="a"),
            ev("f2", "first_contact", "2026-03-01T10:00:00+08:00", customer="b"),
            ev("d2", "deal", "2026-03-16T10:00:00+08:00", customer="b"),
            ev("f3", "first_contact", "2026-01-01T10:00:00+08:00", customer="c"),
            ev("d3", "deal", "2026-02-16T10:00:00+08:00", customer="c"),
        ]
    )
    assert v["deal_cycle_days"] == 30


def test_working_day_window_skips_the_national_day_week():
    """An alert on 30 Sep 2026 answered on 9 Oct is in time (2 working days: 8 and 9 Oct); on 10 Oct it is late."""
    _, v = run(
        [
            ev("al1", "alert", "2026-09-30T10:00:00+08:00", customer="m1"),
            ev("an1", "alert_answered", "2026-10-09T18:00:00+08:00", customer="m1"),
            ev("al2", "alert", "2026-09-30T10:00:00+08:00", customer="m2"),
            ev("an2", "alert_answered", "2026-10-10T09:00:00+08:00", customer="m2"),
        ],
        period="2026-09",
    )
    assert v["alert_answer_rate"] == Decimal("0.5")


def test_a_trigger_without_its_key_is_a_located_error():
    """A complaint with no customer cannot be paired: a DataError names the event."""
    with pytest.raises(DataError, match="'c1' has no customer"):
        run([ev("c1", "complaint", "2026-03-02T10:00:00+08:00", customer=None)])


def test_window_mistakes_are_located():
    """A rate without a window and an unknown match field are ruleset errors."""
    bad = RULESET.replace("within: {days: 3}}", "}").replace("match: [rep]", "match: [repp]")
    with pytest.raises(RulesetError) as info:
        parse_ruleset(bad)
    text = str(info.value)
    assert "measure rate needs a window" in text
    assert "'repp' is not a defined event_field" in text


def test_explanation_lists_the_pairs():
    """The readable trace of a window KPI shows each trigger, its answer, the verdict and the duration."""
    from kpi_engine.evaluation.explain import explain_subject

    ruleset = parse_ruleset(RULESET)
    events = [
        ev("c1", "complaint", "2026-03-02T10:00:00+08:00"),
        ev("a1", "complaint_answer", "2026-03-03T10:00:00+08:00"),
        ev("c2", "complaint", "2026-03-04T10:00:00+08:00", customer="c2"),
    ]
    appraisal = evaluate(ruleset, [{"subject": "r1", "period": "2026-03", "headcount": 1}], events=events)
    text = explain_subject(appraisal, appraisal.result("r1"))
    assert "2 counted: 1 in time, 0 late, 1 never" in text
    assert "c1 → a1: in_time after 24 hours" in text
    assert "c2 → no answer: never" in text


@pytest.mark.parametrize(
    ("hired", "confirmed", "rate"),
    [
        ("2026-03-10T09:00:00+08:00", "2026-06-10T18:00:00+08:00", 1),  # the same day three months later
        ("2026-03-10T09:00:00+08:00", "2026-06-11T09:00:00+08:00", 0),  # one day past
        ("2026-03-31T09:00:00+08:00", "2026-06-30T18:00:00+08:00", 1),  # 31 March + 3 months: 30 June
        ("2026-03-31T09:00:00+08:00", "2026-07-01T09:00:00+08:00", 0),
    ],
)
def test_a_months_window_ends_on_the_same_day_months_later(hired, confirmed, rate):
    """within: {months: 3}: confirmed on the same day three months later is in time (the month's last day if shorter)."""
    events = [ev("h", "hire", hired), ev("c", "confirmed", confirmed)]
    _, values = run(events)
    assert values["confirmed_in_3_months"] == rate


def test_add_months_clamps_to_the_end_of_a_shorter_month():
    """31 January + 1 month is 28 February (29 in a leap year); 30 November + 3 months is 28 February."""
    import datetime as dt

    from kpi_engine.plan.ops.windows import add_months

    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2028, 1, 31), 1) == dt.date(2028, 2, 29)
    assert add_months(dt.date(2025, 11, 30), 3) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2026, 3, 15), -3) == dt.date(2025, 12, 15)
