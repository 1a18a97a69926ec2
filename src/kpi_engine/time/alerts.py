"""Period-over-period alerts (DOMAIN S7, §8): which subjects' metrics moved too much, and when they are due.

For the appraised period P, every subject of the ruleset's level and every watched metric (the
ruleset's ``alerts.metrics``, default every KPI's metric) is compared with P's previous period:

- ``change``: the relative change ``(now − before) ÷ |before|`` is *more than* the threshold
  (default 20 %), in either direction. A previous value of 0 or N/A gives no relative change
  and no alert.
- ``decline``: the metric fell ``declines`` periods running (default 2: P < P−1 < P−2).

One alert per subject, metric and period, with every reason that opened it. It opens the day
after P ends (the first day its figures are complete, or ``opened`` if given) and is due
``due_working_days`` working days later on the ruleset's calendar (day 0 = the opening day).

An answer is an event of type ``alert_answered`` whose ``rep`` is the subject and whose
``metric`` and ``alert_period`` fields name the metric and P (the ruleset declares those event
fields). It is in time when its local date is on or before the due date. Answer timeliness =
alerts answered in time ÷ alerts (N/A without alerts).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import Number, canonical, exact, is_number
from kpi_engine.errors import DataError, Issue
from kpi_engine.evaluation.records import Event, RecordsLike, RowsLike
from kpi_engine.evaluation.row import RowMetrics, RowRun, prepare_inputs
from kpi_engine.evaluation.screening import screen
from kpi_engine.language.build import Ruleset
from kpi_engine.language.spec import WatchSpec
from kpi_engine.time.accumulate import accumulate
from kpi_engine.time.periods import Period
from kpi_engine.time.zones import local_date, zone

ANSWER_TYPE = "alert_answered"
Status = Literal["in_time", "late", "open"]


@attrs.frozen
class Alert:
    """One subject's metric that moved too much in a period, with its due date and answer."""

    subject: str
    metric: str
    period: Period
    value: Number
    previous: Number
    change: Number | None  # relative change versus the previous period (None if before is 0)
    reasons: tuple[str, ...]  # "change" and/or "decline"
    threshold: Decimal
    opened: dt.date
    due: dt.date
    answered: dt.date | None
    answer_event: str | None

    @property
    def id(self) -> str:
        """A stable id: ``subject/metric/period``."""
        return f"{self.subject}/{self.metric}/{self.period}"

    @property
    def status(self) -> Status:
        """``in_time`` (answered by the due date), ``late`` or ``open`` (no answer yet)."""
        if self.answered is None:
            return "open"
        return "in_time" if self.answered <= self.due else "late"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (exact numbers as text)."""
        return {
            "id": self.id,
            "subject": self.subject,
            "metric": self.metric,
            "period": str(self.period),
            "reasons": list(self.reasons),
            "value": canonical(self.value),
            "previous": canonical(self.previous),
            "change": None if self.change is None else canonical(self.change),
            "threshold": canonical(self.threshold),
            "opened": self.opened.isoformat(),
            "due": self.due.isoformat(),
            "answered": None if self.answered is None else self.answered.isoformat(),
            "answer_event": self.answer_event,
            "status": self.status,
        }


@attrs.frozen
class AlertReport:
    """Every alert of a period and the answer timeliness."""

    ruleset_id: str
    period: Period
    calendar: str
    alerts: tuple[Alert, ...]
    warnings: tuple[Issue, ...] = ()  # e.g. totals rows left out (``totals="skip"``); printed on stderr by the CLI

    @property
    def answered_in_time(self) -> int:
        """Alerts answered by their due date."""
        return sum(1 for a in self.alerts if a.status == "in_time")

    @property
    def timeliness(self) -> Number | None:
        """Answered in time ÷ alerts; None (N/A) without alerts."""
        if not self.alerts:
            return None
        return num.div(Decimal(self.answered_in_time), Decimal(len(self.alerts)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        t = self.timeliness
        return {
            "ruleset": self.ruleset_id,
            "period": str(self.period),
            "calendar": self.calendar,
            "alerts": [a.to_dict() for a in self.alerts],
            "count": len(self.alerts),
            "answered_in_time": self.answered_in_time,
            "timeliness": None if t is None else canonical(t),
        }

    def event_rows(self, tz_name: str) -> list[dict[str, str]]:
        """The alerts as ``alert`` events (one per alert, at its opening), for a window metric to pair with answers.

        Columns: ``event_id, type, at, rep, metric, alert_period``; ``rep`` is the subject.
        """
        del tz_name  # the opening is a local date; a naive timestamp is read in the reader's zone
        return [
            {
                "event_id": f"alert:{a.id}",
                "type": "alert",
                "at": f"{a.opened.isoformat()}T00:00:00",
                "rep": a.subject,
                "metric": a.metric,
                "alert_period": str(a.period),
            }
            for a in self.alerts
        ]


def _answers(events: Iterable[Event], tz: dt.tzinfo) -> dict[tuple[str, str, str], tuple[dt.date, str]]:
    first: dict[tuple[str, str, str], tuple[dt.date, str]] = {}
    for e in sorted(events, key=lambda e: (e.at, e.event_id)):
        if e.fields.get("type") != ANSWER_TYPE:
            continue
        metric, period = e.fields.get("metric"), e.fields.get("alert_period")
        if not isinstance(metric, str) or not isinstance(period, str):
            msg = f"{e.origin}: alert_answered event '{e.event_id}' must name its metric and alert_period"
            raise DataError(msg)
        first.setdefault((e.rep, metric, period.strip()), (local_date(e.at, tz), e.event_id))
    return first


def find_alerts(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    period: str | None = None,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    opened: dt.date | None = None,
    allow_extra_columns: bool = False,
    totals: Literal["refuse", "skip"] = "refuse",
    unlisted: Literal["error", "exclude"] = "error",
) -> AlertReport:
    """Every alert of the period for the ruleset's subjects and watched metrics.

    Args:
        ruleset: the ruleset whose metrics are watched (its ``alerts`` and ``calendar`` keys).
        records: as for ``evaluate``; earlier periods serve as history.
        members: membership rows, as for ``evaluate``.
        events: event rows, as for ``evaluate``; ``alert_answered`` events are the answers.
        period: the period whose change is checked (default: the latest in the records).
        opened: the day alerts open (default: the day after the period ends).
        allow_extra_columns: ignore data columns the ruleset does not use (as for ``evaluate``).
        totals: totals rows refused or skipped, as for ``evaluate``.
        unlisted: records of subjects not on the roster refused or excluded, as for ``evaluate``.

    Returns:
        The ``AlertReport``, alerts ordered by subject then metric.

    Raises:
        DataError: on bad input rows. CalendarError: if the calendar does not cover the due dates.
    """
    card = ruleset.scorecard
    if allow_extra_columns:
        card = attrs.evolve(card, allow_extra_columns=True)
    spec = ruleset.spec.alerts
    watched: dict[str, WatchSpec | None] = dict(spec.metrics) or {k.metric: None for k in card.kpis}
    screened = screen(card, records, members, events, period=period, totals=totals, unlisted=unlisted)
    records, members = screened.records, screened.members
    rolled = accumulate(card, records, period=period, members=members, events=events, history=True)
    if rolled is not None:  # monthly records of a half-year ruleset; a span such as 2026-YTD-06
        if rolled.span is not None:
            msg = f"{period}: alerts compare periods of the ruleset's kind; give a period such as {rolled.period}"
            raise DataError(msg)
        records, members, events = rolled.records, rolled.members, rolled.events
    with exact():
        data = prepare_inputs(card, records, members, events)
        if period is not None:
            try:
                chosen = Period.parse(period, card.period)
            except ValueError as exc:
                raise DataError(str(exc)) from None
        else:
            known = sorted({p for (_, p) in data.records} | {p for (_, p) in data.children})
            if not known:
                msg = "no records to check for alerts"
                raise DataError(msg)
            chosen = known[-1]
        metrics = RowMetrics(card, data)
        subjects = RowRun(card, metrics, chosen, strict=False).subjects()
        if not subjects:
            msg = f"no {card.subject} has data for period {chosen}"
            raise DataError(msg)
        tz = zone(card.timezone)
        answers = _answers((e for group in data.events.values() for e in group), tz)
        opening = opened or chosen.next_start()
        due = card.calendar.add_working_days(opening, spec.due_working_days)
        alerts: list[Alert] = []
        for subject in subjects:
            for name in sorted(watched):
                override = watched[name]
                threshold = override.threshold if override and override.threshold is not None else spec.threshold
                declines = override.declines if override and override.declines is not None else spec.declines
                series = [chosen]
                for _ in range(max(declines, 1)):
                    series.append(series[-1].previous())
                values = [metrics.value(subject, p, name) for p in series]
                now, before = values[0], values[1]
                if not is_number(now) or not is_number(before):
                    continue
                reasons: list[str] = []
                change = num.div(num.sub(now, before), num.absolute(before)) if before != 0 else None
                if change is not None and num.absolute(change) > threshold:  # exact: a decision
                    reasons.append("change")
                chain = [v for v in values[: declines + 1] if is_number(v)]
                if declines and len(chain) == declines + 1 and all(a < b for a, b in itertools.pairwise(chain)):
                    reasons.append("decline")
                if not reasons:
                    continue
                answer = answers.get((subject, name, str(chosen)))
                alerts.append(
                    Alert(
                        subject,
                        name,
                        chosen,
                        now,
                        before,
                        change,
                        tuple(reasons),
                        threshold,
                        opening,
                        due,
                        answer[0] if answer else None,
                        answer[1] if answer else None,
                    )
                )
    return AlertReport(ruleset.id, chosen, card.calendar.name, tuple(alerts), screened.warnings)
