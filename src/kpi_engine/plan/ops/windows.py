"""Event-window metrics: each trigger event paired with its answer event, and what the pairs measure.

Pairing (one pass over the whole event log per metric, so that the result does not depend on
which subject or period is appraised first):

- ``anchor: trigger`` (default), ``direction: after``: triggers in time order (then event id) each
  take the earliest answer with the same key at or after them that no earlier trigger took (one
  answer closes one complaint);
- ``direction: before``: each trigger takes the latest unused answer at or before it (the training
  closest before taking up the post);
- ``anchor: answer``: each answer is paired with the latest trigger at or before it (the first
  contact that opened the deal); answers are what is counted, and several answers may share a trigger.

A pair is *in time* when the answer lies inside the window (DOMAIN §6: the trigger day is day 0;
``days: 7`` means answer date ≤ trigger date + 7 in the ruleset's zone; ``working_days: 2`` means
answer date ≤ the 2nd working day after on the ruleset's calendar; ``months: 3`` means answer date ≤
the same day three months later (the month's last day when shorter); ``hours: 24`` compares instants).
Otherwise it is *late*; a trigger with no answer at all is *never* answered. The events counted
are those of the subject's reps (and of the subject itself, e.g. a team's alerts) whose local
date falls in the appraised period.

Row kernel only (``WindowOp.row``): the pairing walks the whole event log in time order, which the
column kernels do not do; ``Plan.support("columnar")`` names every window metric.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from kpi_engine import _numbers as num
from kpi_engine._columns import UnusualError
from kpi_engine._numbers import Number
from kpi_engine.errors import DataError, Issue
from kpi_engine.expr import Value
from kpi_engine.language.model import Metric, Scorecard, Window
from kpi_engine.time.periods import Period
from kpi_engine.time.zones import local_date, zone

if TYPE_CHECKING:
    from kpi_engine.evaluation.records import Event

Status = Literal["in_time", "late", "never"]
TRACE_PAIRS = 100


class _MetricsLike(Protocol):
    """What the window kernel reads from the row scope (``RowScope``) besides values."""

    card: Scorecard
    windows: dict[Any, Any]  # pairings and pairs, kept for the run

    def all_events(self) -> Iterable[Event]: ...

    def own_events(self, node: str, period: Period) -> tuple[Event, ...]: ...

    def leaves(self, node: str, period: Period) -> list[str]: ...


@attrs.frozen
class Pair:
    """A counted event (trigger, or answer with ``anchor: answer``), its partner and the outcome."""

    counted: Event
    partner: Event | None
    status: Status
    duration: Number | None


def _key(event: Event, match: Sequence[str], role: str) -> tuple[Value, ...]:
    values = tuple(event.fields.get(f) for f in match)
    missing = [f for f, v in zip(match, values, strict=True) if v is None]
    if missing:
        raise DataError.from_issues(
            [
                Issue(
                    "missing_field",
                    f"{role} event '{event.event_id}' has no {', '.join(missing)} to pair it by",
                    missing[0],
                    event.origin,
                )
            ],
            "events",
        )
    return values


def _order(event: Event) -> tuple[dt.datetime, str]:
    return (event.at, event.event_id)


class _Pairing:
    """The global pairing of one window metric over the whole event log."""

    def __init__(self, card: Scorecard, window: Window, events: Iterable[Event]) -> None:
        self.card = card
        self.window = window
        self.tz = zone(card.timezone)
        triggers: dict[tuple[Value, ...], list[Event]] = {}
        answers: dict[tuple[Value, ...], list[Event]] = {}
        for e in sorted(events, key=_order):
            if window.trigger.evaluate(e.fields) is True:
                triggers.setdefault(_key(e, window.match, "trigger"), []).append(e)
            if window.answer.evaluate(e.fields) is True:
                answers.setdefault(_key(e, window.match, "answer"), []).append(e)
        self.partner: dict[str, Event | None] = {}
        if window.anchor == "answer":
            for key, group in answers.items():
                opened = triggers.get(key, [])
                stamps = [_order(t) for t in opened]
                for a in group:
                    i = bisect.bisect_right(stamps, _order(a))
                    self.partner[a.event_id] = opened[i - 1] if i else None
            return
        for key, group in triggers.items():
            free = list(answers.get(key, []))
            for t in group:
                self.partner[t.event_id] = self._take(t, free)

    def _take(self, trigger: Event, free: list[Event]) -> Event | None:
        stamps = [_order(a) for a in free]
        if self.window.direction == "after":
            i = bisect.bisect_left(stamps, (trigger.at, ""))
            return free.pop(i) if i < len(free) else None
        i = bisect.bisect_right(stamps, (trigger.at, "\U0010ffff"))
        return free.pop(i - 1) if i else None

    def outcome(self, counted: Event) -> Pair:
        partner = self.partner.get(counted.event_id)
        if partner is None:
            return Pair(counted, None, "never", None)
        trigger, answer = (partner, counted) if self.window.anchor == "answer" else (counted, partner)
        inside = self._inside(trigger, answer)
        status: Status = "in_time" if inside is not False else "late"
        return Pair(counted, partner, status, self._duration(trigger, answer))

    def _inside(self, trigger: Event, answer: Event) -> bool | None:
        w = self.window
        if w.length is None:
            return None
        before = w.direction == "before"
        if w.basis == "hours":
            gap = _elapsed(answer, trigger) if before else _elapsed(trigger, answer)
            return _hours(gap) <= w.length
        start, end = local_date(trigger.at, self.tz), local_date(answer.at, self.tz)
        n = int(w.length)
        if w.basis == "days":
            return end >= start - dt.timedelta(days=n) if before else end <= start + dt.timedelta(days=n)
        if w.basis == "months":
            return end >= add_months(start, -n) if before else end <= add_months(start, n)
        limit = self.card.calendar.add_working_days(start, -n if before else n)
        return end >= limit if before else end <= limit

    def _duration(self, trigger: Event, answer: Event) -> Number:
        unit = self.window.duration_unit
        first, last = sorted((trigger, answer), key=_order)
        if unit == "hours":
            return _hours(_elapsed(first, last))
        start, end = local_date(first.at, self.tz), local_date(last.at, self.tz)
        if unit == "days":
            return Decimal((end - start).days)
        return Decimal(self.card.calendar.working_days_between(start, end))


def _elapsed(first: Event, last: Event) -> dt.timedelta:
    """Real time from ``first`` to ``last``: instants compared in UTC.

    Python subtracts two datetimes that share one tzinfo as wall-clock times, so 23 real hours
    across a spring-forward change would read as 24.
    """
    return last.at.astimezone(dt.UTC) - first.at.astimezone(dt.UTC)


def add_months(day: dt.date, n: int) -> dt.date:
    """The same day ``n`` calendar months later (earlier if negative); the month's last day if it is shorter.

    31 Jan + 1 month is 28 (or 29) Feb; 30 Nov + 3 months is 28 Feb.
    """
    year, month = divmod(day.year * 12 + day.month - 1 + n, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _hours(gap: dt.timedelta) -> Number:
    micro = Fraction(gap // dt.timedelta(microseconds=1), 3_600_000_000)
    return num.settle(micro)  # exact: a Decimal when the value has a short expansion


def pairs(metrics: _MetricsLike, node: str, period: Period, metric: Metric) -> list[Pair]:
    """The counted events of ``node`` in ``period`` with their partners and outcomes (memoised)."""
    window = metric.window
    assert window is not None
    key = ("pairs", metric.name, node, period)
    if key in metrics.windows:
        result: list[Pair] = metrics.windows[key]
        return result
    pairing = metrics.windows.get(("pairing", metric.name))
    if pairing is None:
        everything = list(metrics.all_events())
        pairing = _Pairing(metrics.card, window, everything)
        metrics.windows[("pairing", metric.name)] = pairing
    counted_is = window.answer if window.anchor == "answer" else window.trigger
    # The reps below the subject, and the subject itself when it is a team with events of its own.
    owners = dict.fromkeys([*metrics.leaves(node, period), node])
    events = [e for owner in owners for e in metrics.own_events(owner, period)]
    result = [pairing.outcome(e) for e in sorted(events, key=_order) if counted_is.evaluate(e.fields) is True]
    metrics.windows[key] = result
    return result


def window_value(metrics: _MetricsLike, node: str, period: Period, metric: Metric) -> Value:
    """The metric's measure over the pairs of ``node`` in ``period`` (N/A for a rate or mean of nothing)."""
    assert metric.window is not None
    found = pairs(metrics, node, period, metric)
    counts = {s: sum(1 for p in found if p.status == s) for s in ("in_time", "late", "never")}
    measure = metric.window.measure
    if measure == "count":
        return Decimal(len(found))
    if measure in counts:
        return Decimal(counts[measure])
    if measure == "missed":
        return Decimal(counts["late"] + counts["never"])
    if measure == "rate":
        return num.div(Decimal(counts["in_time"]), Decimal(len(found))) if found else None
    durations = [p.duration for p in found if p.duration is not None]
    if not durations:
        return None
    if measure == "total_duration":
        return num.total(durations)  # exact: durations in hours may be fractions
    if measure == "max_duration":
        return max(durations)
    return num.mean(durations)


def window_trace(metrics: _MetricsLike, node: str, period: Period, metric: Metric) -> Mapping[str, Any]:
    """The pairs behind a window metric, for the explanation: counts and the first pairs."""
    found = pairs(metrics, node, period, metric)
    assert metric.window is not None
    return {
        "duration_unit": metric.window.duration_unit,
        "counted": len(found),
        "in_time": sum(1 for p in found if p.status == "in_time"),
        "late": sum(1 for p in found if p.status == "late"),
        "never": sum(1 for p in found if p.status == "never"),
        "pairs": [
            {
                "event": p.counted.event_id,
                "partner": p.partner.event_id if p.partner else None,
                "status": p.status,
                "duration": p.duration,
            }
            for p in found[:TRACE_PAIRS]
        ],
    }


class WindowOp:
    """An event-window metric (``metric.window``): row kernel only."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.without_column: str | None = f"metric '{metric.name}' of kind 'window'"

    def row(self, scope: Any, node: str, period: Period) -> Value:
        """The window's measure for one node (``scope``: the row scope, see ``_MetricsLike``)."""
        return window_value(scope, node, period, self.metric)

    def column(self, scope: Any, layer: Any) -> Any:  # noqa: ARG002 - the protocol
        """No column kernel: the plan does not let the columnar executor run a window metric."""
        raise UnusualError(str(self.without_column))

    def explain(self, scope: Any, node: str, period: Period) -> dict[str, Any]:
        """The pairs behind the value."""
        return {"window": window_trace(scope, node, period, self.metric)}
