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

Row kernel: ``WindowOp.row`` pairs ``Event`` objects with bisection over each key's answers (``_Pairing``),
once per metric over the whole log. Column kernel: ``WindowOp.column`` pairs the log's columns at once
(``pair_column``): in each key, triggers and answers in time order make a queue (``after``: an answer
closes the longest-waiting trigger) or a stack (``before``: a trigger takes the latest free answer),
walked with a running sum and its running minimum per key; ``anchor: answer`` takes the latest
trigger so far. Windows and durations are then compared per pair (the calendar is asked once per
distinct date), and the counted events reduced per owner with counts, sums and maxima.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal, Protocol

import attrs

from kpi_engine import _numbers as num
from kpi_engine._columns import LIMIT, Arr, Num, UnusualError
from kpi_engine._lazy import lazy_module
from kpi_engine._numbers import Number
from kpi_engine.errors import DataError, Issue
from kpi_engine.expr import Value
from kpi_engine.language.model import Metric, Scorecard, Window
from kpi_engine.time.calendar import BusinessCalendar, CalendarError
from kpi_engine.time.periods import Period
from kpi_engine.time.zones import local_date, zone

if TYPE_CHECKING:
    import numpy as np

    from kpi_engine.evaluation.records import Event
else:
    np = lazy_module("numpy")

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


# --- the column kernel ----------------------------------------------------------------------------


@attrs.frozen
class LogColumns:
    """The whole event log as the column kernel reads it (the columnar executor builds it, validated).

    One row per event, in the log's order: ``us`` the instant in UTC microseconds; ``order`` the
    event's rank in the row kernel's time order (instant, then event id); ``day`` its local date in
    the ruleset's zone (days since 1970-01-01); per window metric, where its ``trigger`` and its
    ``answer`` hold and its ``key`` (the same number for the same ``match`` values; -1 for an
    event that is neither); the ruleset's ``calendar``; ``rep`` the owner column the executor reads.
    """

    us: Arr
    order: Arr
    day: Arr
    trigger: Mapping[str, Arr]
    answer: Mapping[str, Arr]
    key: Mapping[str, Arr]
    calendar: BusinessCalendar
    rep: Any = attrs.field(eq=False)
    memo: dict[str, Any] = attrs.field(factory=dict, eq=False)  # pairings, once per metric


class WindowScope(Protocol):
    """What the window column kernel reads from the columnar executor besides other metrics."""

    def window_log(self) -> LogColumns:
        """The whole event log (validated once per run)."""
        ...

    def counted_by(self, layer: Any) -> Arr:
        """Per event of the log: the position of the layer's node that counts it, -1 for none.

        A node counts the events of the layer's period of its reps and of itself (a team's own events).
        """
        ...


def _group_walk(group: Arr, step: Arr) -> tuple[Arr, Arr]:
    """A queue or stack walked per group: each entry's running sum and the lowest sum before it (at most 0).

    ``step`` is +1 for an entry that waits and -1 for one that takes; a taker finds one waiting
    exactly when its running sum does not fall below the lowest sum before it.
    """
    n = len(step)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    total = np.cumsum(step)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    running = total - np.where(first > 0, total[first - 1], 0)
    # Groups are made to lie below all earlier ones, so one cumulative minimum serves them all.
    rank = np.cumsum(np.r_[True, group[1:] != group[:-1]]) - 1
    shift = rank * (2 * n + 2)
    low = np.minimum(np.minimum.accumulate(running - shift) + shift, 0)
    before = np.where(np.arange(n) == first, 0, np.r_[0, low[:-1]])
    return running, before


def pair_column(log: LogColumns, window: Window, name: str) -> Arr:
    """Per event of the log, its partner's row (-1: none): the row kernel's ``_Pairing``, vectorised.

    ``anchor: trigger``, ``after``: in each key, triggers and answers in time order (a trigger
    before an answer at the same instant) form a queue: an answer closes the longest-waiting open
    trigger (the earliest unused answer at or after a trigger is its partner). ``before``: answers
    first at the same instant, a stack: a trigger takes the latest unused answer. ``anchor: answer``:
    each answer takes the latest trigger at or before it in time order.
    """
    found: Arr | None = log.memo.get(name)
    if found is not None:
        return found
    trig, ans, key = log.trigger[name], log.answer[name], log.key[name]
    n = len(key)
    partner = np.full(n, -1, dtype=np.int64)
    t_rows, a_rows = np.flatnonzero(trig), np.flatnonzero(ans)
    rows = np.concatenate([t_rows, a_rows])
    is_answer = np.r_[np.zeros(len(t_rows), dtype=bool), np.ones(len(a_rows), dtype=bool)]
    group = key[rows]
    if window.anchor == "answer":
        # Time order, then a trigger before the answer of the same event (an event may pair with itself).
        pos = np.lexsort((is_answer, log.order[rows], group))
        rows, is_answer, group = rows[pos], is_answer[pos], group[pos]
        idx = np.arange(len(rows))
        last = np.maximum.accumulate(np.where(is_answer, -1, idx)) if len(rows) else idx
        same = (last >= 0) & (group[np.maximum(last, 0)] == group)
        took = is_answer & same
        partner[rows[took]] = rows[last[took]]
        log.memo[name] = partner
        return partner
    after = window.direction == "after"
    waits = ~is_answer if after else is_answer  # after: triggers wait for answers; before: answers for triggers
    # At one instant, the waiting side comes first (the row kernel's bisect on the instant alone).
    pos = np.lexsort((log.order[rows], ~waits, log.us[rows], group))
    rows, waits, group = rows[pos], waits[pos], group[pos]
    running, before = _group_walk(group, np.where(waits, 1, -1))
    taken = ~waits & (running >= before)
    if after:  # a queue: the k-th answer that takes closes the k-th trigger of the key
        t_at = np.flatnonzero(waits)
        a_at = np.flatnonzero(taken)
        t_rank = _rank_in_group(group[t_at])
        a_rank = _rank_in_group(group[a_at])
        t_code = _code(group[t_at], t_rank, len(rows))
        a_code = _code(group[a_at], a_rank, len(rows))
        at: Arr = np.searchsorted(a_code, t_code)
        hit: Arr = at < len(a_code)
        hit[hit] = a_code[at[hit]] == t_code[hit]
        partner[rows[t_at[hit]]] = rows[a_at[at[hit]]]
    else:  # a stack: a trigger takes the answer that last brought the stack to the height it finds
        height = running - before  # after the entry; a taking trigger found one more
        a_at = np.flatnonzero(waits)
        t_at = np.flatnonzero(taken)
        codes = np.unique(
            np.concatenate(
                [_code(group[a_at], height[a_at], len(rows)), _code(group[t_at], height[t_at] + 1, len(rows))]
            )
        )
        a_key = np.searchsorted(codes, _code(group[a_at], height[a_at], len(rows))) * (len(rows) + 1) + a_at
        t_key = np.searchsorted(codes, _code(group[t_at], height[t_at] + 1, len(rows))) * (len(rows) + 1) + t_at
        a_sorted = np.argsort(a_key, kind="stable")
        last = a_sorted[np.searchsorted(a_key[a_sorted], t_key) - 1]  # the latest such answer before the trigger
        partner[rows[t_at]] = rows[a_at[last]]
    log.memo[name] = partner
    return partner


def _rank_in_group(group: Arr) -> Arr:
    """0, 1, 2 … within each run of equal ``group`` values."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    return np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))


def _code(group: Arr, value: Arr, n: int) -> Arr:
    """One sortable int64 per (group, value) with ``0 <= value <= n``."""
    return group.astype(np.int64) * (n + 2) + value


def window_column(scope: WindowScope, layer: Any, metric: Metric) -> Num:
    """The window measure of every node of a layer: the row kernel's ``window_value``, over columns.

    Raises:
        UnusualError: durations beyond the exact int64 range, or a calendar that does not cover a
            day asked about (the row kernel reports it).
    """
    window = metric.window
    assert window is not None
    log = scope.window_log()
    owner = scope.counted_by(layer)
    partner = pair_column(log, window, metric.name)
    counted = log.answer[metric.name] if window.anchor == "answer" else log.trigger[metric.name]
    rows = np.flatnonzero(counted & (owner >= 0))
    mine, other = owner[rows], partner[rows]
    paired = other >= 0
    t_rows, a_rows = (other, rows) if window.anchor == "answer" else (rows, other)
    t_rows, a_rows = t_rows[paired], a_rows[paired]
    late = np.zeros(len(rows), dtype=bool)
    if window.length is not None:
        late[paired] = ~_inside(log, window, t_rows, a_rows)
    n = layer.n
    count = np.bincount(mine, minlength=n).astype(np.int64)
    never = np.bincount(mine[~paired], minlength=n).astype(np.int64)
    n_late = np.bincount(mine[late], minlength=n).astype(np.int64)
    in_time = count - never - n_late
    measure = window.measure
    if measure in {"count", "in_time", "late", "never", "missed"}:
        chosen = {"count": count, "in_time": in_time, "late": n_late, "never": never, "missed": n_late + never}
        return Num(chosen[measure], 1, None)
    if measure == "rate":
        none = count == 0
        return Num(in_time, np.where(none, 1, count), none if none.any() else None)
    length, den = _durations(log, window, t_rows, a_rows)
    owners = mine[paired]
    pairs = np.bincount(owners, minlength=n).astype(np.int64)
    none = pairs == 0
    na = none if none.any() else None
    if measure == "max_duration":
        peak = np.zeros(n, dtype=np.int64)
        if len(owners):
            peak[:] = np.iinfo(np.int64).min
            np.maximum.at(peak, owners, length)
            peak[none] = 0
        return Num(peak, den, na)
    if len(length) and int(np.abs(length).max()) > LIMIT // max(int(pairs.max()), 1):
        raise UnusualError("durations beyond the exact integer range")
    total = np.zeros(n, dtype=np.int64)
    np.add.at(total, owners, length)
    if measure == "total_duration":
        return Num(total, den, na).reduced()
    return Num(total, np.where(none, 1, pairs) * den, na).reduced()  # mean_duration


def _inside(log: LogColumns, window: Window, t_rows: Arr, a_rows: Arr) -> Arr:
    """Per pair: the answer lies inside the window (``_Pairing._inside``)."""
    assert window.length is not None
    before = window.direction == "before"
    if window.basis == "hours":
        gap = log.us[t_rows] - log.us[a_rows] if before else log.us[a_rows] - log.us[t_rows]
        bound = Fraction(window.length) * 3_600_000_000
        return gap <= min(math.floor(bound), LIMIT)
    start, end = log.day[t_rows], log.day[a_rows]
    n = int(window.length)
    if window.basis == "days":
        return end >= start - n if before else end <= start + n
    limit = _by_day(start, lambda day: _limit(log.calendar, window.basis, day, -n if before else n))
    return end >= limit if before else end <= limit


def _limit(calendar: BusinessCalendar, basis: str, day: dt.date, n: int) -> dt.date:
    if basis == "months":
        return add_months(day, n)
    try:
        return calendar.add_working_days(day, n)
    except CalendarError as exc:  # the row kernel raises it at the pair: it reports it, located
        raise UnusualError(str(exc)) from None


_EPOCH = dt.date(1970, 1, 1)


def _by_day(days: Arr, fn: Any) -> Arr:
    """``fn`` of each distinct local date (days since 1970-01-01), as days since 1970-01-01."""
    distinct, back = np.unique(days, return_inverse=True)
    out = np.array([(fn(_EPOCH + dt.timedelta(days=int(d))) - _EPOCH).days for d in distinct], dtype=np.int64)
    return out[back] if len(days) else np.zeros(0, dtype=np.int64)


def _durations(log: LogColumns, window: Window, t_rows: Arr, a_rows: Arr) -> tuple[Arr, int]:
    """Per pair, the duration from the earlier event to the later one (``_Pairing._duration``), over a denominator."""
    unit = window.duration_unit
    if unit == "hours":
        return np.abs(log.us[a_rows] - log.us[t_rows]), 3_600_000_000
    first = np.minimum(log.day[t_rows], log.day[a_rows])
    last = np.maximum(log.day[t_rows], log.day[a_rows])
    if unit == "days":
        return last - first, 1
    spans, back = np.unique(np.stack([first, last]), axis=1, return_inverse=True)
    try:
        counts = np.array(
            [
                log.calendar.working_days_between(
                    _EPOCH + dt.timedelta(days=int(a)), _EPOCH + dt.timedelta(days=int(b))
                )
                for a, b in spans.T
            ],
            dtype=np.int64,
        )
    except CalendarError as exc:  # the row kernel raises it at the pair: it reports it, located
        raise UnusualError(str(exc)) from None
    return (counts[np.ravel(back)] if len(first) else np.zeros(0, dtype=np.int64)), 1


class WindowOp:
    """An event-window metric (``metric.window``): the row kernel and the column kernel."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self.without_column: str | None = None  # it has a column kernel

    def row(self, scope: Any, node: str, period: Period) -> Value:
        """The window's measure for one node (``scope``: the row scope, see ``_MetricsLike``)."""
        return window_value(scope, node, period, self.metric)

    def column(self, scope: Any, layer: Any) -> Num:
        """The window's measure for every node of a layer (``scope``: the column scope, see ``WindowScope``)."""
        return window_column(scope, layer, self.metric)

    def explain(self, scope: Any, node: str, period: Period) -> dict[str, Any]:
        """The pairs behind the value."""
        return {"window": window_trace(scope, node, period, self.metric)}
