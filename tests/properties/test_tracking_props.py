"""kpi track's numbers hold together: parents are sums of their members, finished periods forecast their actual."""

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kpi_engine.time.targets import decompose, parse_plan
from kpi_engine.time.tracking import track

PLAN = parse_plan(
    """\
plan: p
year: 2026
company: co
calendar: weekdays
shares: {t1: {parts: 2, members: {a: equal, b: equal}}, t2: {parts: 1, members: {c: {parts: 1}}}}
targets: {sales: {total: 120000.00, actual: sales}}
tracking: {forecast: plan_pace}
""",
    "plan.yaml",
)
RESULT = decompose(PLAN)
amounts = st.decimals(min_value=0, max_value=50000, places=2, allow_nan=False, allow_infinity=False)
actuals = st.dictionaries(st.tuples(st.sampled_from("abc"), st.integers(1, 9)), amounts, min_size=1, max_size=20)


@given(actuals, st.integers(1, 9))
def test_parents_sum_their_members_and_finished_periods_forecast_their_actual(data, last_month):
    """At every level a team's actual is its reps' sum; a period over by the as-of day forecasts its actual."""
    rows = [{"subject": s, "period": f"2026-{m:02d}", "sales": v} for (s, m), v in data.items() if m <= last_month]
    if not rows:
        return
    as_of = dt.date(2026, last_month + 1, 1) - dt.timedelta(days=1)
    report = track(PLAN, RESULT, rows, as_of=as_of, levels=["year", "quarter", "month"])
    by_key = {(ln.subject, str(ln.period)): ln for ln in report.lines}
    for (subject, period), line in by_key.items():
        if subject == "t1":
            assert line.actual == by_key[("a", period)].actual + by_key[("b", period)].actual
        if subject == "co":
            assert line.actual == by_key[("t1", period)].actual + by_key[("t2", period)].actual
        if line.complete:
            assert line.forecast == line.actual
        else:
            assert line.plan_to_date <= line.plan
    assert sum((by_key[(s, "2026")].actual for s in "abc"), Decimal(0)) == sum(
        (Decimal(r["sales"]) for r in rows), Decimal(0)
    )
