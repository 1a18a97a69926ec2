"""Inputs a system records: filled from events instead of typed (a ruleset input's ``from: {events: …}``).

A rule of "where a system records it": an input whose ``from`` names an aggregate of events is
computed from each rep's events of the period when the event log holds at least one event its
``where`` picks (the system records orders at all). Then

- a record that leaves the input empty gets the aggregate (0 orders when the rep had none);
- a record that types a value keeps it when the rep has no such event in the period, and is a
  located conflict when it does (two sources of one number are never silently reconciled);
- a log without any such event leaves the input to the records, as before (typed, or missing).

Subjects with members (teams) are not filled: their value rolls up from their reps as any input's.
``per: week`` divides by the period's weeks (its days ÷ 7, exactly), ``per: day`` by its days;
``deduct_from: N`` gives N less the aggregate, never below 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import ZERO, is_number
from kpi_engine.errors import DataError, Issue
from kpi_engine.evaluation.records import Event, Record
from kpi_engine.expr import Value
from kpi_engine.language.model import Scorecard, Source
from kpi_engine.plan.ops.aggregates import aggregate
from kpi_engine.time.periods import Period, spanned

Key = tuple[str, Period]
_WEEK = 7


def _picked(source: Source, events: Iterable[Event]) -> list[Event]:
    where = source.where
    return [e for e in events if where is None or where.evaluate(e.fields) is True]


def _records(source: Source, events: dict[Key, tuple[Event, ...]]) -> bool:
    """Whether the log holds any event the source picks (the sign that a system records this input)."""
    where = source.where
    return any(where is None or where.evaluate(e.fields) is True for group in events.values() for e in group)


def _value(
    source: Source, events: dict[Key, tuple[Event, ...]], subject: str, period: Period, own: list[Event]
) -> tuple[Value, int]:
    """The source's value for one rep and period, and how many events it read.

    ``own`` are the period's picked events (already filtered); ``over`` adds the span's earlier periods'.
    """
    periods = spanned(period, source.over)
    picked = [e for p in periods if p != period for e in _picked(source, events.get((subject, p), ()))] + own
    value = aggregate(source.fn or "count", source.field, picked)
    if value is None or not is_number(value):
        return value, len(picked)
    if source.per is not None:  # per day or week of the days read: the span's, not only the period's
        days = Decimal((period.next_start() - periods[0].start).days)
        value = num.div(num.mul(value, Decimal(_WEEK)), days) if source.per == "week" else num.div(value, days)
    if source.deduct_from is not None:
        value = max(ZERO, num.sub(source.deduct_from, value))
    return value, len(picked)


def fill_sources(
    card: Scorecard,
    records: dict[Key, Record],
    children: dict[Key, tuple[str, ...]],
    events: dict[Key, tuple[Event, ...]],
) -> tuple[dict[Key, Record], dict[tuple[str, Period, str], str]]:
    """Fill the inputs a system records from the events (see the module); return the records and what was filled.

    Returns:
        The records (new ``Record`` objects where a value was filled) and, per filled
        (subject, period, input), a description of the source for the trace.

    Raises:
        DataError: naming each record that types a value the events also give.
    """
    sourced = {n: i.source for n, i in card.inputs.items() if i.source is not None and i.source.kind == "events"}
    if not sourced or not events:
        return records, {}
    recorded = {n: s for n, s in sourced.items() if _records(s, events)}
    if not recorded:
        return records, {}
    issues: list[Issue] = []
    filled: dict[tuple[str, Period, str], str] = {}
    out = dict(records)
    for key, record in records.items():
        if key in children:
            continue  # a team's value rolls up from its reps
        values = None
        for name, source in recorded.items():
            typed = record.values.get(name)
            if typed is not None:
                if _picked(source, events.get(key, ())):
                    message = (
                        f"'{name}' is typed in the record ({typed}) and also recorded as events "
                        f"({source.describe()}) for '{key[0]}' in {key[1]}; keep one of the two"
                    )
                    issues.append(Issue("conflict", message, name, record.table.where(record.line, name)))
                continue
            own = _picked(source, events.get(key, ()))
            values = dict(record.values) if values is None else values
            values[name], used = _value(source, events, key[0], key[1], own)
            filled[(key[0], key[1], name)] = f"{source.describe()}: {used} event(s)"
        if values is not None:
            out[key] = attrs.evolve(record, values=values)
    if issues:
        raise DataError.from_issues(issues, "records")
    return out, filled
