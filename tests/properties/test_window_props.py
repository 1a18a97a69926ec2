"""Event windows: the in-time verdict agrees with DOMAIN §6's day arithmetic computed independently."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine import evaluate, parse_ruleset
from kpi_engine.time.calendar import BusinessCalendar

RULESET = """\
ruleset: w
version: "1"
title: w
period: year
inputs: {x: {type: count}}
metrics:
  days_ok: {window: {trigger: type == 't', answer: type == 'a', within: {days: N}, measure: in_time}}
  wdays_ok: {window: {trigger: type == 't', answer: type == 'a', within: {working_days: N}, measure: in_time}}
  never: {window: {trigger: type == 't', answer: type == 'a', within: {days: N}, measure: never}}
kpis: [{id: k, metric: x, method: threshold, target: 0, weight: 1}]
report: [days_ok, wdays_ok, never]
"""
CN = BusinessCalendar()


@given(
    st.dates(dt.date(2026, 1, 1), dt.date(2026, 11, 30)),
    st.integers(0, 30),
    st.integers(0, 10),
    st.times(),
    st.times(),
)
def test_window_verdicts_follow_day_zero_arithmetic(trigger_day, gap, n, t1, t2):
    """An answer `gap` days after the trigger is in time iff gap ≤ N (calendar) or its date ≤ N-th working day after."""
    answer_day = trigger_day + dt.timedelta(days=gap)
    events = [
        {"event_id": "t", "type": "t", "at": f"{trigger_day}T{t1.isoformat()}", "rep": "r", "customer": "c"},
        {"event_id": "a", "type": "a", "at": f"{answer_day}T{t2.isoformat()}", "rep": "r", "customer": "c"},
    ]
    if gap == 0 and t2 < t1:
        events[1]["at"] = events[0]["at"]  # an answer before its trigger is not an answer
    ruleset = parse_ruleset(RULESET.replace("N}", f"{n}}}"))
    result = evaluate(ruleset, [{"subject": "r", "period": "2026", "x": 1}], events=events).result("r")
    assert result.metrics["days_ok"] == (1 if gap <= n else 0)
    assert result.metrics["wdays_ok"] == (1 if answer_day <= CN.add_working_days(trigger_day, n) else 0)
    assert result.metrics["never"] == 0
