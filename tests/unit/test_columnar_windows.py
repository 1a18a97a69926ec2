"""Event-window metrics on the columnar kernel: the row path's appraisal, exactly (plan/ops/windows.py)."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.properties.test_columnar_props import assert_same

from kpi_engine import evaluate, parse_ruleset
from kpi_engine.errors import EngineRefusalError
from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar
from kpi_engine.plan import lower

pytest.importorskip("polars")
pytest.importorskip("numpy")

MEASURES = ("count", "in_time", "late", "never", "missed", "rate", "mean_duration", "max_duration", "total_duration")


def ruleset(*, within, direction="after", anchor="trigger", match="[customer]", unit=None, subject="rep", zone=None):
    """Every measure of one window, reported; the KPI scores the rate (or the count without a window)."""
    trigger, answer = "type == 'complaint' or type == 'both'", "type == 'answer' or type == 'both'"
    spec = f'trigger: "{trigger}", answer: "{answer}", match: {match}'
    if within is not None:
        spec += f", within: {{{within}}}"
    if direction != "after":
        spec += f", direction: {direction}"
    if anchor != "trigger":
        spec += f", anchor: {anchor}"
    if unit is not None:
        spec += f", duration_unit: {unit}"
    measures = MEASURES if within is not None else ("count", "never", "mean_duration", "max_duration", "total_duration")
    metrics = "\n".join(f"  w_{m}: {{window: {{{spec}, measure: {m}}}}}" for m in measures)
    kpi_metric = "w_rate" if within is not None else "w_count"
    lines = [
        "ruleset: win_props",
        'version: "1"',
        "title: window differential",
        f"subject: {subject}",
        *([f"timezone: {zone}"] if zone else []),
        "calendar: {country: CN, days_off: [2026-03-13], days_on: [2026-03-14]}",
        "metrics:",
        metrics,
        "kpis:",
        f"  - {{id: k, metric: {kpi_metric}, method: linear, floor: 0, target: 1, weight: 100%}}",
        f"report: [{', '.join(f'w_{m}' for m in measures)}]",
    ]
    return "\n".join(lines) + "\n"


def both(text, records, events, *, period="2026-03", members=None):
    """The row path's appraisal and the kernel's own (no hand-over), checked equal."""
    card = parse_ruleset(text)
    assert lower(card.scorecard).support("columnar") is None
    row = evaluate(card, records, period=period, members=members, events=events, engine="row")
    col = run_columnar(card, records, period, members, events, strict=False)
    assert_same(row, col)
    return row, col


def test_every_window_metric_has_a_column_kernel():
    """The plan lets the columnar executor run window metrics."""
    assert lower(parse_ruleset(ruleset(within="hours: 24")).scorecard).support("columnar") is None


def test_one_answer_closes_one_trigger_on_the_kernel():
    """Two complaints, one answer: the earlier complaint takes it; the other is never answered."""
    events = [
        {"event_id": "k1", "type": "complaint", "at": "2026-03-10T10:00:00+08:00", "rep": "r1", "customer": "c"},
        {"event_id": "k2", "type": "complaint", "at": "2026-03-10T11:00:00+08:00", "rep": "r1", "customer": "c"},
        {"event_id": "a1", "type": "answer", "at": "2026-03-10T12:00:00+08:00", "rep": "r2", "customer": "c"},
    ]
    records = [{"subject": "r1", "period": "2026-03"}, {"subject": "r2", "period": "2026-03"}]
    row, col = both(ruleset(within="hours: 24"), records, events)
    metrics = col.result("r1").metrics
    assert (metrics["w_count"], metrics["w_in_time"], metrics["w_never"], metrics["w_max_duration"]) == (2, 1, 1, 2)
    # r2's answer pairs with r1's complaint: the trace is the whole run's, as the row path gives it.
    explanation = col.result("r1").kpi("k").explanation
    assert explanation == row.result("r1").kpi("k").explanation
    assert explanation["window"]["pairs"][0] == {"event": "k1", "partner": "a1", "status": "in_time", "duration": 2}


def test_a_teams_own_events_count_for_it_on_the_kernel():
    """A team's own alert and its reps' complaints are counted for the team; answers come from anyone."""
    events = [
        {"event_id": "t1", "type": "complaint", "at": "2026-03-02T09:00:00+08:00", "rep": "T", "customer": "x"},
        {"event_id": "k1", "type": "complaint", "at": "2026-03-03T09:00:00+08:00", "rep": "r1", "customer": "y"},
        {"event_id": "a1", "type": "answer", "at": "2026-03-04T10:00:00+08:00", "rep": "r2", "customer": "x"},
        {"event_id": "a2", "type": "answer", "at": "2026-03-03T10:00:00+08:00", "rep": "r2", "customer": "y"},
    ]
    records = [{"subject": s, "period": "2026-03"} for s in ("T", "r1", "r2")]
    members = [{"member": r, "parent": "T", "period": "2026-03"} for r in ("r1", "r2")]
    row, col = both(ruleset(within="hours: 24", subject="team"), records, events, members=members)
    metrics = col.result("T").metrics
    assert (metrics["w_count"], metrics["w_in_time"], metrics["w_late"]) == (2, 1, 1)
    # The trace of a window reads the whole log: the kernel's run explains by the row path's own trace.
    assert col.result("T").kpi("k").explanation == row.result("T").kpi("k").explanation
    assert col.result("T").kpi("k").explanation["window"]["counted"] == 2


STAMPS = st.builds(
    lambda day, hour, minute, naive: (
        f"2026-03-{day:02d}T{hour:02d}:{minute:02d}:00" + ("" if naive else "+08:00"),
        naive,
    ),
    st.integers(1, 31),
    st.sampled_from([0, 2, 9, 23]),
    st.sampled_from([0, 30]),
    st.booleans(),
)


@st.composite
def logs(draw, *, zone=None):
    """A small event log with ties, events that are trigger and answer at once, and several keys."""
    n = draw(st.integers(0, 14))
    ids = draw(st.permutations([f"e{i:02d}" for i in range(n)]))
    events = []
    for i in range(n):
        at, _ = draw(STAMPS)
        if i and draw(st.booleans()):
            at = events[-1]["at"]  # the same instant as the event before
        events.append({
            "event_id": ids[i],
            "type": draw(st.sampled_from(["complaint", "answer", "both", "other"])),
            "at": at,
            "rep": draw(st.sampled_from(["r1", "r2", "T"])) if zone is None else draw(st.sampled_from(["r1", "r2"])),
            "customer": draw(st.sampled_from(["a", "b"])),
        })  # fmt: skip
    if zone is not None:  # naive times read in the zone; with offsets, the same instants shifted
        for e in events:
            e["at"] = e["at"].replace("+08:00", "-05:00")
    return events


WINDOWS = st.fixed_dictionaries({
    "within": st.sampled_from([None, "hours: 24", "hours: 0", "hours: 36.5", "days: 0", "days: 2", "working_days: 1",
                               "working_days: 3", "months: 1"]),
    "direction": st.sampled_from(["after", "before"]),
    "anchor": st.sampled_from(["trigger", "answer"]),
    "match": st.sampled_from(["[customer]", "[rep]", "[customer, rep]"]),
    "unit": st.sampled_from([None, "hours", "days", "working_days"]),
})  # fmt: skip


@given(WINDOWS, logs())
@settings(max_examples=150, deadline=None)
def test_windows_on_the_kernel_equal_the_row_path(window, events):
    """Every measure, direction, anchor, basis and unit over random logs: the same appraisal as the row path."""
    if window["anchor"] == "answer":
        window = {**window, "direction": "after"}  # anchor answer takes no direction (bad_window)
    team = any(e["rep"] == "T" for e in events)
    text = ruleset(**window, subject="team" if team else "rep")
    if team:
        records = [{"subject": s, "period": "2026-03"} for s in ("T", "r1", "r2")]
        members = [{"member": r, "parent": "T", "period": "2026-03"} for r in ("r1", "r2")]
    else:
        records = [{"subject": s, "period": "2026-03"} for s in ("r1", "r2")]
        members = None
    card = parse_ruleset(text)
    row = evaluate(card, records, period="2026-03", members=members, events=events, engine="row")
    col = run_columnar(card, records, "2026-03", members, events, strict=False)
    assert_same(row, col)


@given(st.sampled_from(["hours: 24", "hours: 1", None]), logs(zone="America/New_York"))
@settings(max_examples=60, deadline=None)
def test_hours_across_daylight_saving_on_the_kernel(within, events):
    """New York's spring-forward (8 March 2026): naive and offset times, elapsed hours by instant."""
    text = ruleset(within=within, unit="hours", zone="America/New_York")
    records = [{"subject": s, "period": "2026-03"} for s in ("r1", "r2")]
    card = parse_ruleset(text)
    row = evaluate(card, records, period="2026-03", events=events, engine="row")
    try:
        col = run_columnar(card, records, "2026-03", None, events, strict=False)
    except FallbackError as exc:  # a naive time in the skipped hour: the row path's rule decides
        reason = str(exc)
        assert reason == "a timestamp the row path resolves"
        assert any(e["at"].startswith("2026-03-08T02:") for e in events)
        with pytest.raises(EngineRefusalError, match="a timestamp the row path resolves"):  # refused, not slow
            evaluate(card, records, period="2026-03", events=events, engine="columnar")
        col = evaluate(card, records, period="2026-03", events=events)  # auto: the row path decides
    assert_same(row, col)


def test_a_day_the_calendar_does_not_cover_is_the_row_paths_error():
    """A working-day window reaching an uncovered year: the same CalendarError on both executors."""
    events = [
        {"event_id": "k1", "type": "complaint", "at": "2099-03-10T10:00:00+08:00", "rep": "r1", "customer": "c"},
        {"event_id": "a1", "type": "answer", "at": "2099-03-11T10:00:00+08:00", "rep": "r1", "customer": "c"},
    ]
    card = parse_ruleset(ruleset(within="working_days: 2"))
    records = [{"subject": "r1", "period": "2099-03"}]
    with pytest.raises(Exception) as row:  # noqa: PT011 - whichever error the row path raises
        evaluate(card, records, period="2099-03", events=events, engine="row")
    with pytest.raises(type(row.value)) as col:
        evaluate(card, records, period="2099-03", events=events, engine="columnar")
    assert str(col.value) == str(row.value)
    with pytest.raises(FallbackError):
        run_columnar(card, records, "2099-03", None, events, strict=False)


def test_months_window_at_month_end_on_the_kernel():
    """31 January + 1 month is 28 February: an answer on 28 Feb is in time, on 1 March late."""
    events = [
        {"event_id": "k1", "type": "complaint", "at": "2026-01-31T10:00:00+08:00", "rep": "r1", "customer": "a"},
        {"event_id": "a1", "type": "answer", "at": "2026-02-28T10:00:00+08:00", "rep": "r1", "customer": "a"},
        {"event_id": "k2", "type": "complaint", "at": "2026-01-31T10:00:00+08:00", "rep": "r1", "customer": "b"},
        {"event_id": "a2", "type": "answer", "at": "2026-03-01T10:00:00+08:00", "rep": "r1", "customer": "b"},
    ]
    _, col = both(ruleset(within="months: 1"), [{"subject": "r1", "period": "2026-01"}], events, period="2026-01")
    metrics = col.result("r1").metrics
    assert (metrics["w_in_time"], metrics["w_late"], metrics["w_total_duration"]) == (1, 1, 28 + 29)


def test_dates_of_the_window_kernel_are_days_since_1970():
    """The kernel's day numbers are the local dates (a guard on the epoch both sides use)."""
    from kpi_engine.plan.ops.windows import _EPOCH

    assert _EPOCH + dt.timedelta(days=20522) == dt.date(2026, 3, 10)


DEPARTMENT = """\
ruleset: win_department
version: "1"
title: windows of a department, its teams and their own events
subject: department
metrics:
  w_count: {window: {trigger: type == 'complaint', answer: type == 'answer', within: {hours: 24}, measure: count}}
  w_rate: {window: {trigger: type == 'complaint', answer: type == 'answer', within: {hours: 24}}}
  w_late: {window: {trigger: type == 'complaint', answer: type == 'answer', within: {hours: 24}, measure: late}}
  busy_teams: {members: {where: "w_count > 0", measure: count}}
  timely_teams: {members: {where: "w_rate >= 1/2"}}
kpis:
  - {id: k, metric: w_count, method: linear, floor: 0, target: 10, weight: 100%}
report: [w_count, w_rate, w_late, busy_teams, timely_teams]
"""
HIERARCHY = [("r1", "T1"), ("r2", "T1"), ("r3", "T2"), ("r4", "T3"), ("T1", "D1"), ("T2", "D1"), ("T3", "D2")]


@given(logs())
@settings(max_examples=60, deadline=None)
def test_windows_of_departments_and_their_teams_on_the_kernel(events):
    """Departments count their reps' and their own events (not their teams'); teams theirs, read by members metrics."""
    owners = ["r1", "r2", "r3", "r4", "T1", "T2", "D1", "D2"]
    for i, e in enumerate(events):
        e["rep"] = owners[(i * 5 + len(e["event_id"])) % len(owners)] if e["rep"] == "T" else e["rep"]
        e["type"] = {"both": "answer", "other": "complaint"}.get(e["type"], e["type"])
    records = [{"subject": s, "period": "2026-03"} for s in ("r1", "r2", "r3", "r4")]
    members = [{"member": m, "parent": p, "period": "2026-03"} for m, p in HIERARCHY]
    card = parse_ruleset(DEPARTMENT)
    row = evaluate(card, records, period="2026-03", members=members, events=events, engine="row")
    col = run_columnar(card, records, "2026-03", members, events, strict=False)
    assert_same(row, col)


@pytest.mark.parametrize("events", [None, []])
def test_windows_without_events_on_the_kernel(events):
    """No event log: counts are 0, the rate and the durations N/A, on both executors."""
    _, col = both(ruleset(within="hours: 24"), [{"subject": "r1", "period": "2026-03"}], events)
    metrics = col.result("r1").metrics
    assert (metrics["w_count"], metrics["w_never"], metrics["w_rate"], metrics["w_total_duration"]) == (
        0,
        0,
        None,
        None,
    )


def test_working_day_durations_beyond_the_calendar_are_the_row_paths_error():
    """Durations in working days reaching an uncovered year: handed over, the row path's error."""
    text = ruleset(within=None, unit="working_days")
    events = [
        {"event_id": "k1", "type": "complaint", "at": "2099-03-10T10:00:00+08:00", "rep": "r1", "customer": "c"},
        {"event_id": "a1", "type": "answer", "at": "2099-03-12T10:00:00+08:00", "rep": "r1", "customer": "c"},
    ]
    card = parse_ruleset(text)
    records = [{"subject": "r1", "period": "2099-03"}]
    with pytest.raises(Exception) as row:  # noqa: PT011 - whichever error the row path raises
        evaluate(card, records, period="2099-03", events=events, engine="row")
    with pytest.raises(type(row.value)) as col:
        evaluate(card, records, period="2099-03", events=events, engine="columnar")
    assert str(col.value) == str(row.value)
    with pytest.raises(FallbackError):
        run_columnar(card, records, "2099-03", None, events, strict=False)
