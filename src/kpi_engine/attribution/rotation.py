"""The reception rotation on the sales floor (seed 001 §五(二), (五); DOMAIN R1, R8, R9, R11–R14).

Every day the reps who sign in form a queue in sign-in order. A new visitor goes to the first rep in
the queue who is free, who then goes to the back; a rep who is busy with a customer when their turn
comes keeps their place. Some visitors are not a turn: a returning customer goes to the rep who first
received them (R8), a customer who phoned first or an old customer bringing a new one goes to the rep
they name (R1, R14), and when that rep is absent or busy the *last* free rep in the queue receives
them as a courtesy (R11, R14). Competitors posing as buyers are received in rotation and take the
turn (R9), unless they declared themselves or were exposed on the spot. No rep takes a second new
customer while another rep is free (R13).

``rotate(policy, events)`` walks the floor log and judges every reception: who should have received
the visitor, whether the reception took a turn, whether it was a courtesy one, and, for each
reception out of turn, why — with the events that decided it, as the credit engine does for deals.
``Rotation.queue_at(instant)`` gives the queue at any moment: who is next for a new customer and who
is last (the courtesy receiver).

The floor log: ``sign_in`` / ``sign_out`` (rep), ``reception`` (rep, customer, and ``visitor``:
``new`` (default), ``returning``, ``referred``, ``competitor``, ``declared_competitor``;
``named_rep``; ``courtesy``), ``reception_end`` (rep, customer: the rep is free again; without it
a reception lasts the policy's ``rotation.reception_minutes``) and ``registration`` (rep, customer:
a first reception recorded in the register, for R8). Times without an offset are in the policy's zone;
a floor day is a local date.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Literal

import attrs

from kpi_engine.attribution._policy import PolicySpec
from kpi_engine.errors import DataError, Issue, Location
from kpi_engine.evaluation.records import Table, as_table
from kpi_engine.time.zones import local_date, parse_instant

FLOOR_TYPES = frozenset({"sign_in", "sign_out", "reception", "reception_end", "registration"})
FLOOR_COLUMNS = frozenset({"event_id", "type", "at", "rep", "customer", "visitor", "named_rep", "courtesy", "note"})
VISITORS = frozenset({"new", "returning", "referred", "competitor", "declared_competitor"})
_NEEDS = {
    "sign_in": ("rep",),
    "sign_out": ("rep",),
    "reception": ("rep", "customer"),
    "reception_end": ("rep", "customer"),
    "registration": ("rep", "customer"),
}
# At one instant, who is on the floor changes first, then registrations, ends and receptions.
_AT_ONE_INSTANT = {"sign_in": 0, "sign_out": 1, "registration": 2, "reception_end": 3, "reception": 4}
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n", ""}

Reason = Literal[
    "rotation",
    "competitor_in_rotation",
    "competitor_declared",
    "returning",
    "returning_unknown",
    "named",
    "named_off_duty",
    "courtesy_owner_absent",
    "courtesy_owner_busy",
    "courtesy_named_busy",
    "all_busy",
    "day_off",
    "no_rotation",
    "skipped_next",
    "two_new_at_once",
    "owner_bypassed",
    "named_rep_bypassed",
    "courtesy_not_last",
    "off_duty",
]
REASONS: dict[str, str] = {
    # in turn
    "rotation": "a new visitor received by the next free rep in the queue (R1, R12)",
    "competitor_in_rotation": "a competitor posing as a buyer, received in rotation: the turn is taken (R9)",
    "competitor_declared": "a competitor who declared themselves or was exposed on the spot: not a turn (R9)",
    "returning": "a returning customer received by the rep who first received them (R8)",
    "returning_unknown": "a returning customer whose first receiver cannot be established: rotation (R8)",
    "named": "the customer named this rep on arrival (phoned first, or brought by an old customer): "
    "not a turn (R1, R14)",
    "named_off_duty": "the rep the customer named is not on duty: a new customer, rotation (R14)",
    "courtesy_owner_absent": "the owner is absent: the last free rep in the queue receives as a courtesy (R11)",
    "courtesy_owner_busy": "the owner is busy: the last free rep in the queue receives as a courtesy (R11, R14)",
    "courtesy_named_busy": "the named rep is busy: the last free rep in the queue receives as a courtesy (R14)",
    "all_busy": "every rep on duty was busy: any of them may receive; the turn is taken",
    "day_off": "received by a rep not on duty while nobody on duty was free: a courtesy reception (R11)",
    "no_rotation": "nobody had signed in that day: there is no queue to follow",
    # out of turn
    "skipped_next": "another rep was next in the queue and free (R1)",
    "two_new_at_once": "the rep was still with another new customer while another rep was free (R13)",
    "owner_bypassed": "the customer's first receiver was on duty and free (R8)",
    "named_rep_bypassed": "the rep the customer named was on duty and free (R1, R14)",
    "courtesy_not_last": "a courtesy reception belongs to the last free rep in the queue (R11, R14)",
    "off_duty": "the rep was not on duty (day off or signed out) while a rep on duty was due (R11)",
}
OUT_OF_TURN = frozenset(
    {"skipped_next", "two_new_at_once", "owner_bypassed", "named_rep_bypassed", "courtesy_not_last", "off_duty"}
)


_Result = Callable[..., "Reception"]


@attrs.frozen
class FloorEvent:
    """One validated event of the floor log; ``at`` is aware, ``date`` the local floor day."""

    event_id: str
    type: str
    at: dt.datetime
    date: dt.date
    rep: str
    customer: str | None
    visitor: str
    named_rep: str | None
    courtesy: bool
    origin: Location


@attrs.frozen
class Reception:
    """One reception judged against the rotation."""

    event_id: str
    at: dt.datetime
    date: dt.date
    customer: str
    visitor: str
    receiver: str
    expected: str | None  # who should have received the visitor (None: anyone on duty)
    in_turn: bool
    reason: Reason
    turn: bool  # the reception took the receiver's turn (they went to the back of the queue)
    courtesy: bool  # a courtesy reception by the rules (the credit stays with the owner, R11)
    courtesy_marked: bool  # the log marked it courtesy
    owner: str | None  # the customer's first receiver before this visit (R8), or the named rep
    queue: tuple[str, ...]  # the queue of reps on duty just before, in order
    decided_by: tuple[str, ...]

    def explain(self, tz: dt.tzinfo) -> str:
        """One line a floor manager reads: who received whom, whether in turn, why, and the deciding events."""
        local = self.at.astimezone(tz)
        verdict = "in turn" if self.in_turn else "OUT OF TURN"
        expected = f"; due: {self.expected}" if self.expected and self.expected != self.receiver else ""
        flags = (" [turn]" if self.turn else "") + (" [courtesy]" if self.courtesy else "")
        return (
            f"{local:%Y-%m-%d %H:%M} {self.event_id}: {self.receiver} received {self.customer} ({self.visitor}) — "
            f"{verdict}{expected}{flags}: {REASONS[self.reason]} [{self.reason}]; "
            f"decided by {' '.join(self.decided_by)}"
        )

    def to_dict(self, tz: dt.tzinfo) -> dict[str, Any]:
        """JSON-ready mapping (times in the policy's zone)."""
        return {
            "event_id": self.event_id,
            "at": self.at.astimezone(tz).isoformat(),
            "date": self.date.isoformat(),
            "customer": self.customer,
            "visitor": self.visitor,
            "receiver": self.receiver,
            "expected": self.expected,
            "in_turn": self.in_turn,
            "reason": self.reason,
            "turn": self.turn,
            "courtesy": self.courtesy,
            "courtesy_marked": self.courtesy_marked,
            "owner": self.owner,
            "queue": list(self.queue),
            "decided_by": list(self.decided_by),
        }


@attrs.frozen
class QueueEntry:
    """A rep on duty at a moment: their place, and whether they are free or with a customer."""

    rep: str
    free: bool
    customer: str | None  # the customer they are with, when busy
    until: dt.datetime | None  # when that reception ends (its reception_end, or the default length)


@attrs.frozen
class QueueState:
    """The queue at a moment: reps on duty in rotation order; who is next and who is last."""

    at: dt.datetime
    date: dt.date
    entries: tuple[QueueEntry, ...]

    @property
    def next_rep(self) -> str | None:
        """Who receives the next new visitor: the first free rep in the queue."""
        return next((e.rep for e in self.entries if e.free), None)

    @property
    def courtesy_rep(self) -> str | None:
        """Who receives an absent or busy rep's customer as a courtesy: the last free rep in the queue."""
        return next((e.rep for e in reversed(self.entries) if e.free), None)

    def to_dict(self, tz: dt.tzinfo) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "at": self.at.astimezone(tz).isoformat(),
            "date": self.date.isoformat(),
            "next": self.next_rep,
            "courtesy": self.courtesy_rep,
            "queue": [
                {
                    "rep": e.rep,
                    "free": e.free,
                    "customer": e.customer,
                    "until": None if e.until is None else e.until.astimezone(tz).isoformat(),
                }
                for e in self.entries
            ],
        }


def _cell(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return text or None


def parse_floor_events(policy: PolicySpec, table: Table | Iterable[Mapping[str, Any]]) -> list[FloorEvent]:
    """Validate every row of a floor log; return the events sorted by instant, then ``event_id``.

    Raises:
        DataError: naming each bad row (unknown type, column or visitor kind, missing field, bad
            timestamp or flag, repeated ``event_id``, a rep naming themselves…), all at once.
    """
    table = as_table(table, "floor log")
    issues: list[Issue] = []
    events: list[FloorEvent] = []
    seen: dict[str, Location] = {}
    tz = policy.tz
    for row, raw in table.rows:
        issues.extend(
            Issue("unknown_column", f"column '{k}' is not part of the floor log", k, table.where(row, k))
            for k in raw
            if k not in FLOOR_COLUMNS
        )
        cells = {k: _cell(raw, k) for k in FLOOR_COLUMNS}
        event_id, kind = cells["event_id"], cells["type"]
        if event_id is None:
            issues.append(Issue("missing_field", "'event_id' is required", "event_id", table.where(row, "event_id")))
            continue
        if event_id in seen:
            where = table.where(row, "event_id")
            issues.append(
                Issue("duplicate_row", f"event_id '{event_id}' repeats (first at {seen[event_id]})", "event_id", where)
            )
            continue
        seen[event_id] = table.where(row)
        if kind not in FLOOR_TYPES:
            shown = "missing" if kind is None else f"'{kind}' is unknown"
            message = f"event type {shown}; use one of {', '.join(sorted(FLOOR_TYPES))}"
            issues.append(Issue("bad_type", message, "type", table.where(row, "type")))
            continue
        bad = False
        for key in ("at", *_NEEDS[kind]):
            if cells[key] is None:
                issues.append(Issue("missing_field", f"a {kind} event needs '{key}'", key, table.where(row, key)))
                bad = True
        if bad:
            continue
        try:
            at = parse_instant(str(cells["at"]), tz)
        except ValueError as exc:
            issues.append(Issue("bad_value", str(exc), "at", table.where(row, "at")))
            continue
        visitor = cells["visitor"] or "new"
        if visitor not in VISITORS:
            message = f"visitor '{visitor}' is unknown; use one of {', '.join(sorted(VISITORS))}"
            issues.append(Issue("bad_value", message, "visitor", table.where(row, "visitor")))
            continue
        flag = (cells["courtesy"] or "").lower()
        if flag not in _TRUE | _FALSE:
            message = f"courtesy must be true or false, not '{cells['courtesy']}'"
            issues.append(Issue("bad_value", message, "courtesy", table.where(row, "courtesy")))
            continue
        rep = str(cells["rep"])
        named = cells["named_rep"] if kind == "reception" else None
        events.append(
            FloorEvent(
                event_id, kind, at, local_date(at, tz), rep, cells["customer"], visitor, named, flag in _TRUE,
                table.where(row),
            )
        )  # fmt: skip
    if issues:
        raise DataError.from_issues(issues, table.name)
    return sorted(events, key=floor_order)


def floor_order(e: FloorEvent) -> tuple[Any, ...]:
    """The order of the floor log: by instant, then by kind, then by ``event_id``.

    At one instant sign-ins and sign-outs come first, then registrations, reception ends and
    receptions; then ``event_id`` with the numbers in it compared as numbers (``f9`` before
    ``f10``, as a sign-in sheet numbers its lines), its text last.
    """
    natural = tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", e.event_id) if t)
    return e.at, _AT_ONE_INSTANT[e.type], natural, e.event_id


@attrs.frozen
class _Open:
    """A reception in progress: the rep is busy until ``until``."""

    event: FloorEvent
    until: dt.datetime
    new: bool  # a new customer (a rotation reception), for R13


class _Day:
    """The floor on one day: the queue, who is on duty and who is with a customer."""

    def __init__(self, date: dt.date) -> None:
        self.date = date
        self.queue: list[str] = []
        self.signed: dict[str, str] = {}  # rep → the sign-in event that put them in the queue
        self.open: dict[str, list[_Open]] = {}

    def settle(self, at: dt.datetime) -> None:
        """Receptions that have ended by ``at`` no longer keep their rep busy."""
        for rep in list(self.open):
            still = [o for o in self.open[rep] if o.until > at]
            if still:
                self.open[rep] = still
            else:
                del self.open[rep]

    def on_duty(self, rep: str) -> bool:
        return rep in self.signed

    def free(self, rep: str) -> bool:
        return rep in self.signed and rep not in self.open

    def first_free(self) -> str | None:
        return next((r for r in self.queue if self.free(r)), None)

    def last_free(self) -> str | None:
        return next((r for r in reversed(self.queue) if self.free(r)), None)

    def state(self, at: dt.datetime) -> QueueState:
        entries = []
        for rep in self.queue:
            busy = self.open.get(rep)
            current = max(busy, key=lambda o: o.until) if busy else None
            entries.append(
                QueueEntry(
                    rep, busy is None, current.event.customer if current else None, current.until if current else None
                )
            )
        return QueueState(at, self.date, tuple(entries))


@attrs.frozen
class Rotation:
    """Every reception of a floor log judged against the rotation; the queue at any moment."""

    policy: PolicySpec
    events: tuple[FloorEvent, ...]
    receptions: tuple[Reception, ...]

    @property
    def out_of_turn(self) -> tuple[Reception, ...]:
        """The receptions out of turn, each with its reason."""
        return tuple(r for r in self.receptions if not r.in_turn)

    def queue_at(self, at: dt.datetime) -> QueueState:
        """The queue at instant ``at`` (events at that very instant included)."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=self.policy.tz)
        day = _Day(local_date(at, self.policy.tz))
        for _reception, current in _walk(self.policy, self.events, until=at):
            day = current
        if day.date != local_date(at, self.policy.tz):
            day = _Day(local_date(at, self.policy.tz))
        day.settle(at)
        return day.state(at)

    def summary(self) -> list[dict[str, Any]]:
        """Per rep: receptions, turns taken, courtesy receptions, receptions out of turn (by reason)."""
        reps: dict[str, dict[str, Any]] = {}
        for r in self.receptions:
            row = reps.setdefault(
                r.receiver, {"rep": r.receiver, "receptions": 0, "turns": 0, "courtesy": 0, "out_of_turn": 0}
            )
            row["receptions"] += 1
            row["turns"] += int(r.turn)
            row["courtesy"] += int(r.courtesy)
            row["out_of_turn"] += int(not r.in_turn)
        return [reps[k] for k in sorted(reps)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping: the policy, every reception and the per-rep summary."""
        p = self.policy
        return {
            "policy": {"id": p.policy, "version": p.version, "timezone": p.timezone},
            "receptions": [r.to_dict(p.tz) for r in self.receptions],
            "summary": self.summary(),
        }


def rotate(policy: PolicySpec, events: Iterable[FloorEvent] | Table | Iterable[Mapping[str, Any]]) -> Rotation:
    """Judge every reception of a floor log against the day's rotation.

    Args:
        policy: the attribution policy (its zone, and its ``rotation`` section).
        events: validated floor events (``parse_floor_events``), or rows / a table to validate.

    Returns:
        The ``Rotation``: each reception with whether it was in turn and why.

    Raises:
        DataError: for a bad floor log, naming each bad row.
    """
    if isinstance(events, Table):
        floor = parse_floor_events(policy, events)
    else:
        items = list(events)
        given = [e for e in items if isinstance(e, FloorEvent)]
        validated = len(given) == len(items)
        floor = sorted(given, key=floor_order) if validated else parse_floor_events(policy, items)  # type: ignore[arg-type]
    out = tuple(r for r, _day in _walk(policy, floor) if r is not None)
    return Rotation(policy, tuple(floor), out)


def _ends(policy: PolicySpec, events: list[FloorEvent]) -> dict[str, dt.datetime]:
    """When each reception ends: the first ``reception_end`` of the same rep and customer after it."""
    length = dt.timedelta(minutes=policy.rotation.reception_minutes)
    pending: dict[tuple[str, str | None], list[FloorEvent]] = {}
    ends: dict[str, dt.datetime] = {}
    for e in events:
        if e.type == "reception":
            pending.setdefault((e.rep, e.customer), []).append(e)
        elif e.type == "reception_end":
            waiting = pending.get((e.rep, e.customer))
            if waiting:
                ends[waiting.pop(0).event_id] = e.at
    for e in events:
        if e.type == "reception" and e.event_id not in ends:
            ends[e.event_id] = e.at + length
    return ends


def _walk(
    policy: PolicySpec, events: Iterable[FloorEvent], until: dt.datetime | None = None
) -> Iterator[tuple[Reception | None, _Day]]:
    """Replay the floor log; yield each judged reception (None for other events) with the day's state after it."""
    floor = list(events)
    ends = _ends(policy, floor)
    owners: dict[str, tuple[str, str]] = {}  # customer → (first receiver, the event that shows it)
    day: _Day | None = None
    for e in floor:
        if until is not None and e.at > until:
            return
        if day is None or e.date != day.date:
            day = _Day(e.date)
        day.settle(e.at)
        if e.type == "sign_in":
            if e.rep in day.queue:
                day.queue.remove(e.rep)
            day.queue.append(e.rep)
            day.signed[e.rep] = e.event_id
            yield None, day
        elif e.type == "sign_out":
            day.signed.pop(e.rep, None)
            if e.rep in day.queue:
                day.queue.remove(e.rep)
            yield None, day
        elif e.type == "registration":
            assert e.customer is not None
            owners.setdefault(e.customer, (e.rep, e.event_id))
            yield None, day
        elif e.type == "reception":
            reception = _judge(day, e, owners.get(e.customer or ""))
            day.open.setdefault(e.rep, []).append(_Open(e, ends[e.event_id], reception.turn))
            if reception.turn and e.rep in day.queue:
                day.queue.remove(e.rep)
                day.queue.append(e.rep)
            if not reception.courtesy and reception.visitor != "declared_competitor":
                owners.setdefault(reception.customer, (e.rep, e.event_id))
            yield reception, day
        else:
            yield None, day


def _judge(day: _Day, e: FloorEvent, owner: tuple[str, str] | None) -> Reception:
    """Who should have received this visitor, whether it takes a turn, and whether ``e.rep`` was in turn."""
    x = e.rep
    queue = tuple(day.queue)
    decided = [e.event_id]

    def result(expected: str | None, reason: Reason, *, turn: bool, courtesy: bool, owner_rep: str | None) -> Reception:
        if expected is not None and expected in day.signed and day.signed[expected] not in decided:
            decided.append(day.signed[expected])
        return Reception(
            e.event_id, e.at, e.date, e.customer or "", e.visitor, x, expected, reason not in OUT_OF_TURN, reason,
            turn, courtesy, e.courtesy, owner_rep, queue, tuple(decided),
        )  # fmt: skip

    if not day.signed:
        return result(None, "no_rotation", turn=False, courtesy=False, owner_rep=owner[0] if owner else None)
    if e.visitor == "declared_competitor":
        return result(None, "competitor_declared", turn=False, courtesy=False, owner_rep=None)
    if e.visitor == "returning" and owner is not None:
        o, shown_by = owner
        decided.append(shown_by)
        if x == o:
            return result(o, "returning", turn=False, courtesy=False, owner_rep=o)
        if day.free(o):
            return result(o, "owner_bypassed", turn=False, courtesy=False, owner_rep=o)
        why: Reason = "courtesy_owner_busy" if day.on_duty(o) else "courtesy_owner_absent"
        if why == "courtesy_owner_busy":
            decided.extend(b.event.event_id for b in day.open.get(o, ()))
        return _courtesy(day, x, why, result, o)
    if e.named_rep is not None and day.on_duty(e.named_rep):
        n = e.named_rep
        if x == n:
            return result(n, "named", turn=False, courtesy=False, owner_rep=n)
        if day.free(n):
            return result(n, "named_rep_bypassed", turn=False, courtesy=False, owner_rep=n)
        decided.extend(b.event.event_id for b in day.open.get(n, ()))
        return _courtesy(day, x, "courtesy_named_busy", result, n)
    base: Reason
    if e.named_rep is not None:
        base = "named_off_duty"  # R14: the named rep is not on shift: a new customer
    elif e.visitor == "returning":
        base = "returning_unknown"
    elif e.visitor == "competitor":
        base = "competitor_in_rotation"
    else:
        base = "rotation"
    return _in_rotation(day, x, base, result, decided)


def _courtesy(day: _Day, x: str, why: Reason, result: _Result, owner: str) -> Reception:
    """R11/R14: the last free rep in the queue receives as a courtesy; no turn is taken."""
    last = day.last_free()
    reason: Reason
    if not day.on_duty(x):
        reason = "day_off" if last is None else "off_duty"
    elif last is None or last == x:
        reason = why
    else:
        reason = "courtesy_not_last"
    return result(last, reason, turn=False, courtesy=True, owner_rep=owner)


def _in_rotation(day: _Day, x: str, base: Reason, result: _Result, decided: list[str]) -> Reception:
    """A new customer: the first free rep in the queue receives, and goes to the back."""
    head = day.first_free()
    skipped = day.queue[: day.queue.index(head)] if head is not None else list(day.queue)
    for rep in skipped:  # busy reps passed over keep their place: the receptions that kept them busy decided
        decided.extend(b.event.event_id for b in day.open.get(rep, ()))
    if not day.on_duty(x):
        if head is None:
            return result(None, "day_off", turn=False, courtesy=True, owner_rep=None)
        return result(head, "off_duty", turn=False, courtesy=True, owner_rep=None)
    if head is None:
        return result(None, "all_busy", turn=True, courtesy=False, owner_rep=None)
    if head == x:
        return result(head, base, turn=True, courtesy=False, owner_rep=None)
    still_new = [b for b in day.open.get(x, ()) if b.new]
    if still_new:
        decided.extend(b.event.event_id for b in still_new)
        return result(head, "two_new_at_once", turn=True, courtesy=False, owner_rep=None)
    return result(head, "skipped_next", turn=True, courtesy=False, owner_rep=None)
