"""The deal-credit engine (S3, rules R1–R15 with the default semantics of DOMAIN §6).

The whole log is validated first — nothing is credited from a half-read log — then events are
grouped per customer (after R10 merging) and walked in time order (``at``, then ``event_id``),
keeping the protection state of DOMAIN §6. Each deal gets exactly one credit with a reason code
and the ids of the events that decided it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any, Literal, NamedTuple

import attrs

from kpi_engine._numbers import NumberFormatError, canonical, exact, exactly, to_decimal
from kpi_engine._perf import paused_gc
from kpi_engine.attribution._policy import PolicySpec
from kpi_engine.errors import DataError, Issue, KpiError, Location
from kpi_engine.evaluation.records import Table, as_table
from kpi_engine.language.spec import PeriodKind
from kpi_engine.time.periods import Period
from kpi_engine.time.zones import MAX_YEAR, MIN_YEAR, to_utc

EVENT_TYPES = frozenset(
    {"registration", "reception", "follow_up", "deal", "claim", "override", "void_register", "same_customer"}
)
COLUMNS = frozenset(
    {"event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer", "courtesy", "note"}
)
NEEDS: dict[str, tuple[str, ...]] = {
    "registration": ("rep", "customer"),
    "reception": ("rep", "customer"),
    "follow_up": ("rep", "customer"),
    "deal": ("rep", "customer", "deal_id", "amount"),
    "claim": ("rep", "deal_id"),
    "override": ("rep", "deal_id"),
    "void_register": ("rep",),
    "same_customer": ("customer", "related_customer"),
}
_UTC = dt.UTC
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n", ""}

Reason = Literal["owner", "claim", "late_claim", "no_claim", "expired", "unregistered", "void", "override", "courtesy"]
REASONS: dict[str, str] = {
    "owner": "the closer owns the customer",
    "claim": "the owner claimed the deal in time (R5)",
    "late_claim": "the owner claimed the deal after the claim window (R5)",
    "no_claim": "the owner did not claim the deal (R5)",
    "expired": "the owner's protection had ended (R4, R6)",
    "unregistered": "the customer was never registered (R6)",
    "void": "the owner's register was falsified (R7)",
    "override": "a manager decided the credit (R15)",
    "courtesy": "a courtesy reception; the credit stays with the owner (R11, R14)",
}


class LeadEvent(NamedTuple):
    """One validated event of the lead log; ``at`` is naive UTC, ``date`` the date in the policy's zone.

    A named tuple rather than an attrs class: a log holds millions of them.
    """

    event_id: str
    type: str
    at: dt.datetime
    date: dt.date
    rep: str | None
    customer: str | None
    deal_id: str | None
    amount: Decimal | None
    related_customer: str | None
    courtesy: bool
    note: str | None
    row: int


@attrs.frozen
class Credit:
    """Which rep a deal is credited to, why, and the events that decided it."""

    deal_id: str
    customer: str
    closer: str
    credited_to: str
    amount: Decimal
    reason: Reason
    decided_by: tuple[str, ...]
    date: dt.date
    owner: str | None = None
    protected_through: dt.date | None = None
    claim_date: dt.date | None = None
    claim_deadline: dt.date | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (decimals and dates as strings)."""
        return {
            "deal_id": self.deal_id,
            "customer": self.customer,
            "closer": self.closer,
            "credited_to": self.credited_to,
            "amount": canonical(self.amount),
            "reason": self.reason,
            "decided_by": list(self.decided_by),
            "date": self.date.isoformat(),
            "owner": self.owner,
            "protected_through": _iso(self.protected_through),
            "claim_date": _iso(self.claim_date),
            "claim_deadline": _iso(self.claim_deadline),
        }


@attrs.frozen
class FollowUp:
    """R3 timeliness of one registration that started a protection."""

    owner: str
    customer: str
    registration_event: str
    registration_date: dt.date
    due_date: dt.date
    first_follow_up: dt.date | None
    follow_up_event: str | None

    @property
    def on_time(self) -> bool:
        """True when the first follow-up came on or before the due date."""
        return self.first_follow_up is not None and self.first_follow_up <= self.due_date

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "owner": self.owner,
            "customer": self.customer,
            "registration_event": self.registration_event,
            "registration_date": self.registration_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "first_follow_up": _iso(self.first_follow_up),
            "follow_up_event": self.follow_up_event,
        }


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


_TYPES = {t: t for t in EVENT_TYPES}
KEYS = ("event_id", "type", "at", "rep", "customer", "deal_id", "amount", "related_customer", "courtesy", "note")


_UNKNOWN = dt.timedelta(days=-999)


def _fixed_offset(tz: dt.tzinfo, day: dt.date) -> dt.timedelta | None:
    """The zone's UTC offset if it is the same all day, else ``None`` (a transition day).

    Zones change offset at most a few times a year and never twice within a day, so equal
    offsets at the first and last instant of a day mean one offset for all of it.
    """
    first = dt.datetime.combine(day, dt.time.min, tz).utcoffset()
    last = dt.datetime.combine(day, dt.time.max, tz).utcoffset()
    return first if first == last else None


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value).strip()
    return text or None


Values = tuple[str | None, ...]  # the cells of KEYS, stripped, None when empty


def parse_events(policy: PolicySpec, table: Table) -> list[LeadEvent]:
    """Validate every row of a lead log; return the events sorted by (``at``, ``event_id``).

    Raises:
        DataError: naming each bad row and why (unknown type, missing field, bad timestamp,
            negative amount, duplicate id, a claim or override for an unknown deal, …).
    """
    issues: list[Issue] = []
    with paused_gc():
        return parse_values(policy, table.name, table.columns, _table_values(table, issues), issues)


def _table_values(table: Table, issues: list[Issue]) -> Iterator[tuple[int, Values]]:
    if table.header:
        issues.extend(
            Issue("unknown_column", f"column '{key}' is not part of the event log", key, table.where(1, key))
            for key in table.header
            if key not in COLUMNS
        )
        index = {name: i for i, name in enumerate(table.header)}
        picks = itemgetter(*(index.get(k, len(table.header)) for k in KEYS))  # the pad None for absent columns
        for row, cells in table.cells:
            yield row, picks(cells)
        return
    for row, raw in table.dict_rows:
        issues.extend(
            Issue("unknown_column", f"column '{key}' is not part of the event log", key, table.where(row, key))
            for key in raw
            if key not in COLUMNS
        )
        yield row, tuple(_clean(raw.get(k)) for k in KEYS)


def parse_values(
    policy: PolicySpec, name: str, columns: dict[str, int], source: Iterator[tuple[int, Values]], issues: list[Issue]
) -> list[LeadEvent]:
    tz = policy.tz
    events: list[LeadEvent] = []
    seen: dict[str, int] = {}
    deals: dict[str, LeadEvent] = {}
    fromiso = dt.datetime.fromisoformat
    day_offset: dict[dt.date, dt.timedelta | None] = {}
    interned: dict[str, str] = {}
    intern = interned.setdefault
    days: dict[dt.date, dt.date] = {}
    intern_day = days.setdefault

    def where(row: int, column: str | None = None) -> Location:
        return Location(name, row, columns.get(column, 0) if column else 0)

    def bad(code: str, message: str, row: int, column: str) -> None:
        issues.append(Issue(code, message, column, where(row, column)))

    for row, (event_id, kind, at_text, rep, customer, deal_id, amount_text, related, courtesy_raw, note) in source:
        if event_id is None:
            bad("missing_field", "'event_id' is required", row, "event_id")
            continue
        if event_id in seen:
            bad("duplicate_row", f"event_id '{event_id}' repeats (first at {where(seen[event_id])})", row, "event_id")
            continue
        seen[event_id] = row
        known_kind = _TYPES.get(kind or "")  # the canonical string, shared by every event
        if known_kind is None:
            shown = "missing" if kind is None else f"'{kind}' is unknown"
            bad("bad_type", f"event type {shown}; use one of {', '.join(sorted(EVENT_TYPES))}", row, "type")
            continue
        kind = known_kind  # noqa: PLW2901
        ok = True
        fields = {
            "rep": rep,
            "customer": customer,
            "deal_id": deal_id,
            "amount": amount_text,
            "related_customer": related,
        }
        for key in NEEDS[kind]:
            if fields[key] is None:
                bad("missing_field", f"a {kind} event needs '{key}'", row, key)
                ok = False
        at: dt.datetime | None = None
        if at_text is None:
            bad("missing_field", "'at' is required", row, "at")
            ok = False
        else:
            try:
                at = fromiso(at_text)
            except ValueError:
                bad("bad_value", f"'at': {at_text[:40]!r} is not an ISO-8601 timestamp", row, "at")
                ok = False
            else:
                if not MIN_YEAR <= at.year <= MAX_YEAR:
                    bad("bad_value", f"'at': year {at.year} is out of range ({MIN_YEAR}–{MAX_YEAR})", row, "at")
                    ok = False
        amount: Decimal | None = None
        if kind == "deal" and amount_text is not None:
            try:
                amount = to_decimal(amount_text, allow_percent=False)
            except NumberFormatError as exc:
                bad("bad_value", f"'amount': {exc}", row, "amount")
                ok = False
            else:
                if amount < 0:
                    bad("bad_value", f"'amount' cannot be negative ({canonical(amount)})", row, "amount")
                    ok = False
        courtesy_text = (courtesy_raw or "").lower()
        if courtesy_text and courtesy_text not in _TRUE and courtesy_text not in _FALSE:
            bad("bad_value", f"'courtesy' must be true or false, not {courtesy_raw!r}", row, "courtesy")
            ok = False
        if not ok or at is None:
            continue
        if at.tzinfo is None:
            local = at.date()
            offset = day_offset.get(local, _UNKNOWN)
            if offset is _UNKNOWN:
                offset = day_offset[local] = _fixed_offset(tz, local)
            at = at - offset if offset is not None else to_utc(at, tz)  # a DST day: gaps and overlaps resolved
        else:
            local = at.astimezone(tz).date()
            at = at.astimezone(_UTC).replace(tzinfo=None)
        # Reps, customers and dates repeat across a log: one shared object each (a log holds millions).
        event = LeadEvent(
            event_id, kind, at, intern_day(local, local), rep and intern(rep, rep),
            customer and intern(customer, customer), deal_id, amount, related, courtesy_text in _TRUE, note, row,
        )  # fmt: skip
        if deal_id is not None and kind == "deal":
            if deal_id in deals:
                first = where(deals[deal_id].row)
                bad("duplicate_row", f"deal '{deal_id}' is closed twice (first at {first})", row, "deal_id")
                continue
            deals[deal_id] = event
        events.append(event)
    for e in events:
        if e.type in {"claim", "override"}:
            deal = deals.get(e.deal_id or "")
            if deal is None:
                bad("unknown_deal", f"{e.type} for deal '{e.deal_id}', which no deal event closes", e.row, "deal_id")
            elif e.type == "claim" and (e.at, e.event_id) < (deal.at, deal.event_id):
                bad("bad_claim", f"claim '{e.event_id}' comes before deal '{e.deal_id}' is closed", e.row, "at")
    if issues:
        raise DataError.from_issues(issues, name)
    events.sort(key=_order)
    return events


_order = attrgetter("at", "event_id")


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while x != root:
            self.parent[x], x = root, self.parent.get(x, x)
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class _State(NamedTuple):
    """The protection state a deal is judged against."""

    owner: str | None
    until: dt.date | None
    events: list[str]
    void: tuple[str, dt.date, tuple[str, ...]] | None


# The same choice as ``evaluate(engine=...)``: ``row`` walks each customer's events in Python (the
# reference), ``columnar`` computes the same credits column-wise. The names of 0.2's first
# releases, ``reference`` and ``vectorised``, are accepted as aliases.
ENGINES = ("auto", "row", "columnar")
ENGINE_ALIASES = {"reference": "row", "vectorised": "columnar"}
AUTO_THRESHOLD = 50_000  # events: below this, building frames costs more than the walk saves


class FrameLog:
    """A validated lead log held column-wise (see ``read_event_frame``); the vectorised engine's input."""

    def __len__(self) -> int:
        """The number of events."""
        raise NotImplementedError

    def frame(self) -> Any:
        """The events as a Polars frame with the columns of ``_vectorised.FRAME_COLUMNS``, in log order."""
        raise NotImplementedError

    def amounts(self, positions: Sequence[int]) -> list[Decimal]:
        """The amounts of the deals at these positions of the log."""
        raise NotImplementedError

    def events_at(self, positions: Sequence[int]) -> list[LeadEvent]:
        """The events at these positions of the log, in the order given."""
        raise NotImplementedError

    def amount_texts(self, positions: Sequence[int]) -> list[str]:
        """The canonical text of the deal amounts at these positions (as ``Credit.to_dict`` writes them)."""
        return [canonical(a) for a in self.amounts(positions)]

    def to_events(self) -> list[LeadEvent]:
        """Every event, in log order."""
        return self.events_at(range(len(self)))


def vectorised_available() -> bool:
    """True when Polars and NumPy can be imported and the process may use them (``_limits``)."""
    from kpi_engine.attribution import _limits  # noqa: PLC0415 - reads the process's limits

    if not _limits.polars_allowed():
        return False
    _limits.frugal_polars()
    try:
        import numpy as np  # noqa: F401, PLC0415 - optional dependency
        import polars as pl  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def engine_name(engine: str) -> str:
    """``auto``, ``row`` or ``columnar`` for an engine name or its alias.

    Raises:
        KpiError: for a name that is neither.
    """
    engine = ENGINE_ALIASES.get(engine, engine)
    if engine not in ENGINES:
        msg = f"unknown attribution engine '{engine}'; use one of {', '.join(ENGINES)}"
        raise KpiError(msg)
    return engine


def attribute(
    policy: PolicySpec,
    events: Table | Iterable[Mapping[str, Any]] | list[LeadEvent] | FrameLog,
    engine: str = "auto",
) -> Attribution:
    """Credit every deal of the log according to the policy.

    Args:
        policy: a loaded policy (``load_policy``).
        events: a lead log: a ``Table`` (``read_events``), Python dicts, validated events, or a
            column-wise log (``read_event_frame``).
        engine: ``row`` walks each customer's events in Python (the reference, the oracle);
            ``columnar`` computes the same credits column-wise with Polars and NumPy (the
            ``columnar`` extra); ``auto`` takes the columnar engine from ``AUTO_THRESHOLD`` events
            when it is installed. ``reference`` and ``vectorised`` are accepted as aliases of
            ``row`` and ``columnar`` (``evaluate`` names the same choice the same way).

    Returns:
        The ``Attribution``: one credit per deal and the R3 follow-up records.

    Raises:
        DataError: on any malformed event; nothing is credited from a half-read log.
        KpiError: for an unknown engine, or ``columnar`` without Polars.

    .. versionchanged:: 0.2 ``engine`` takes ``row``/``columnar`` (``reference``/``vectorised`` still work).
    """
    engine = engine_name(engine)
    if engine == "columnar" and not vectorised_available():
        msg = (
            "the columnar attribution engine needs Polars and NumPy (pip install 'kpi_engine[columnar]') "
            "and, under an address-space limit (ulimit -v), at least 4 GiB; use engine 'row'"
        )
        raise KpiError(msg)
    try:
        return _attribute(policy, events, engine)
    except MemoryError:
        msg = "not enough memory to attribute this lead log (raise the memory limit, or split the log)"
        raise KpiError(msg) from None


def _attribute(
    policy: PolicySpec, events: Table | Iterable[Mapping[str, Any]] | list[LeadEvent] | FrameLog, engine: str
) -> Attribution:
    with exact(), paused_gc():
        if isinstance(events, FrameLog):
            log: FrameLog | list[LeadEvent] = events
        elif isinstance(events, list) and (not events or isinstance(events[0], LeadEvent)):
            log = events
        else:
            log = parse_events(policy, as_table(events, "events"))
        vectorised = engine == "columnar" or (
            engine == "auto" and len(log) >= AUTO_THRESHOLD and vectorised_available()
        )
        if not vectorised:
            return reference_walk(policy, log.to_events() if isinstance(log, FrameLog) else log)
        from kpi_engine.attribution import _limits, _vectorised  # noqa: PLC0415 - imports Polars

        with _limits.POLARS_LOCK:  # one column-wise walk at a time: memory of one log, never more
            return _vectorised.walk(policy, log)


def reference_walk(policy: PolicySpec, log: list[LeadEvent]) -> Attribution:
    """The reference engine: walk each customer's validated events (in log order) in Python."""
    merged = _Union()
    for e in log:
        if e.type == "same_customer":
            merged.union(e.customer or "", e.related_customer or "")
    voided: dict[str, tuple[dt.datetime, str]] = {}
    claims: dict[str, list[LeadEvent]] = defaultdict(list)
    overrides: dict[str, LeadEvent] = {}
    by_customer: dict[str, list[LeadEvent]] = defaultdict(list)
    first_reg: dict[str, LeadEvent] = {}
    find = merged.find if merged.parent else str
    for e in log:
        t = e.type
        if t == "void_register":
            voided[e.rep or ""] = (e.at, e.event_id)  # the log is sorted: the last void wins
        elif t == "claim":
            claims[e.deal_id or ""].append(e)
        elif t == "override":
            overrides[e.deal_id or ""] = e  # sorted: the latest override decides
        elif t != "same_customer":
            root = find(e.customer or "")
            by_customer[root].append(e)
            if t == "registration" and root not in first_reg:
                first_reg[root] = e
    out: list[Credit] = []
    follow_ups: list[FollowUp] = []
    add_credit, add_follow_up = out.append, follow_ups.append
    protection, follow_days = policy.protection_days, policy.first_follow_up_days
    extend = policy.extend_on_contact
    deadline: Callable[[dt.date, int], dt.date] = policy.deadline
    if policy.day_basis == "calendar":
        deltas = {n: dt.timedelta(days=n) for n in {protection, follow_days}}

        def deadline(day: dt.date, n: int) -> dt.date:
            return day + deltas[n]

    protect = dict.fromkeys(("reception", "follow_up", "deal"), True)
    for root, stream in by_customer.items():
        name = first_reg[root].customer or root if root in first_reg else root
        # The protection state of this customer (DOMAIN §6), kept in locals: this loop is hot.
        owner: str | None = None
        until: dt.date | None = None
        decided: list[str] = []
        void: tuple[str, dt.date, tuple[str, ...]] | None = None  # owner, would-be end, event ids
        follow: list[Any] | None = None  # FollowUp fields; [5] and [6] fill on the first follow-up
        for e in stream:
            t, rep, day = e.type, e.rep, e.date
            active = until is not None and day <= until
            if t == "registration":
                last_void = voided.get(rep or "")
                if last_void is not None and (e.at, e.event_id) <= last_void:
                    if not active:
                        void = (rep or "", deadline(day, protection), (e.event_id, last_void[1]))
                elif not active:
                    if follow is not None:
                        add_follow_up(FollowUp(*follow))
                    owner, until, decided, void = rep, deadline(day, protection), [e.event_id], None
                    follow = [rep, name, e.event_id, day, deadline(day, follow_days), None, None]
                elif owner == rep and extend:
                    until = max(until, deadline(day, protection))  # type: ignore[type-var]
                    decided.append(e.event_id)
                continue  # R8: another rep's registration while protected changes nothing
            if t == "deal":
                assert e.deal_id is not None
                state = _State(owner, until, decided, void)
                add_credit(_decide(policy, e, state, active, name, claims.get(e.deal_id, ()), overrides.get(e.deal_id)))
            elif t == "follow_up" and follow is not None and rep == owner and follow[5] is None:
                follow[5], follow[6] = day, e.event_id
            if active and rep == owner and extend and t in protect and not (t == "reception" and e.courtesy):
                until = max(until, deadline(day, protection))  # type: ignore[type-var]
                decided.append(e.event_id)
        if follow is not None:
            add_follow_up(FollowUp(*follow))
    out.sort(key=lambda c: c.deal_id)
    follow_ups.sort(key=lambda f: (f.registration_date, f.registration_event))
    return Attribution(policy, tuple(out), tuple(follow_ups))


def _decide(
    policy: PolicySpec,
    deal: LeadEvent,
    s: _State,
    active: bool,  # noqa: FBT001 - private helper
    customer: str,
    deal_claims: Iterable[LeadEvent],
    override: LeadEvent | None,
) -> Credit:
    closer = deal.rep or ""
    owner, through = s.owner, s.until
    credited = closer
    reason: Reason = "unregistered"
    decided: tuple[str, ...] = (deal.event_id,)
    claim_date = limit = None
    if override is not None:
        credited, reason, decided = override.rep or "", "override", (deal.event_id, override.event_id)
    elif active and owner is not None:
        decided = (*s.events, deal.event_id)
        if owner == closer:
            reason = "owner"
        elif deal.courtesy:
            credited, reason = owner, "courtesy"
        else:
            limit = policy.deadline(deal.date, policy.claim_days)
            claim = next((c for c in deal_claims if c.rep == owner), None)
            if claim is None:
                reason = "no_claim"
            else:
                claim_date, decided = claim.date, (*decided, claim.event_id)
                in_time = claim.date <= limit
                credited, reason = (owner, "claim") if in_time else (closer, "late_claim")
    elif s.void is not None and deal.date <= s.void[1]:
        owner, through, reason, decided = s.void[0], None, "void", (*s.void[2], deal.event_id)
    elif owner is not None:
        reason, decided = ("owner" if owner == closer else "expired"), (*s.events, deal.event_id)
    return Credit(
        deal.deal_id or "", customer, closer, credited, deal.amount or Decimal(0), reason, decided, deal.date,
        owner, through, claim_date, limit,
    )  # fmt: skip


class ResultColumns:
    """Credits and follow-up records held column-wise (the vectorised engine's output).

    The objects are built only when someone reads them; writers can stream the columns instead.
    """

    def credits(self) -> tuple[Credit, ...]:
        """Every credit, sorted by deal id."""
        raise NotImplementedError

    def follow_ups(self) -> tuple[FollowUp, ...]:
        """Every R3 record, sorted by registration date and event."""
        raise NotImplementedError

    def json_chunks(self, head: str) -> Iterator[str] | None:
        """The text of ``json.dumps(to_dict(), ensure_ascii=False, indent=2)``, or ``None`` to let the caller do it."""
        raise NotImplementedError


class Attribution:
    """The credits of every deal and the R3 follow-up records of every protection started.

    Built from tuples (the reference engine) or from columns (the vectorised one: the ``Credit``
    and ``FollowUp`` objects are then made on first access); both compare equal when equal.
    """

    __slots__ = ("_columns", "_credits", "_follow_ups", "policy")

    def __init__(
        self,
        policy: PolicySpec,
        credits: tuple[Credit, ...] | None = None,  # noqa: A002 - the public attribute's name
        follow_ups: tuple[FollowUp, ...] | None = None,
        *,
        columns: ResultColumns | None = None,
    ) -> None:
        """Hold the credits and follow-ups, or the columns they are built from."""
        self.policy = policy
        self._credits = credits
        self._follow_ups = follow_ups
        self._columns = columns

    @property
    def credits(self) -> tuple[Credit, ...]:
        """One credit per deal, sorted by deal id."""
        if self._credits is None:
            self._credits = self._columns.credits() if self._columns is not None else ()
        return self._credits

    @property
    def follow_ups(self) -> tuple[FollowUp, ...]:
        """One R3 record per protection started, by registration date and event."""
        if self._follow_ups is None:
            self._follow_ups = self._columns.follow_ups() if self._columns is not None else ()
        return self._follow_ups

    @property
    def columns(self) -> ResultColumns | None:
        """The column-wise form when the vectorised engine made this result."""
        return self._columns

    def __eq__(self, other: object) -> bool:
        """Equal policy, credits and follow-ups."""
        if not isinstance(other, Attribution):
            return NotImplemented
        return (self.policy, self.credits, self.follow_ups) == (other.policy, other.credits, other.follow_ups)

    __hash__ = None  # type: ignore[assignment]  # compared by value, like the attrs class it was

    def __repr__(self) -> str:
        """Counts, not the (possibly millions of) credits."""
        counts = f"credits={len(self.credits)}, follow_ups={len(self.follow_ups)}"
        return f"Attribution(policy={self.policy.policy!r}, {counts})"

    @property
    def violations(self) -> tuple[FollowUp, ...]:
        """Registrations whose first follow-up was late or missing (R3)."""
        return tuple(f for f in self.follow_ups if not f.on_time)

    def credit(self, deal_id: str) -> Credit:
        """The credit of one deal.

        Raises:
            KeyError: for an unknown deal.
        """
        for c in self.credits:
            if c.deal_id == deal_id:
                return c
        raise KeyError(deal_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"policy": …, "credits": […], "violations": […]}`` with decimals as strings."""
        p = self.policy
        return {
            "policy": {"id": p.policy, "version": p.version, "timezone": p.timezone},
            "credits": [c.to_dict() for c in self.credits],
            "violations": [v.to_dict() for v in self.violations],
        }

    def explain(self, deal_id: str) -> str:
        """A readable account of why a deal is credited as it is."""
        c = self.credit(deal_id)
        amount = canonical(c.amount)
        lines = [f"deal {c.deal_id}: closed by {c.closer} on {c.date} for customer {c.customer}, amount {amount}"]
        if c.owner is not None and c.reason != "unregistered":
            through = f", protected through {c.protected_through}" if c.protected_through else ""
            lines.append(f"  owner: {c.owner}{through}")
        if c.claim_deadline is not None:
            claim = f"claimed on {c.claim_date}" if c.claim_date else "not claimed"
            lines.append(f"  claim window: through {c.claim_deadline}; {claim}")
        lines.append(f"  → credited to {c.credited_to}: {c.reason} — {REASONS[c.reason]}")
        lines.append(f"  decided by events: {', '.join(c.decided_by)}")
        return "\n".join(lines) + "\n"

    @exactly
    def to_rows(self, period: PeriodKind) -> list[dict[str, Any]]:
        """Per rep and period: ``credited_deals``, ``credited_amount``, ``lead_registrations``, ``timely_follow_ups``.

        These are the fields a scorecard declares to use attribution without glue code.
        """
        rows: dict[tuple[str, str], dict[str, Any]] = {}

        def row(rep: str, day: dt.date) -> dict[str, Any]:
            key = (rep, str(Period.containing(day, period)))
            if key not in rows:
                rows[key] = {"subject": rep, "period": key[1], "credited_deals": 0, "credited_amount": Decimal(0),
                             "lead_registrations": 0, "timely_follow_ups": 0}  # fmt: skip
            return rows[key]

        for c in self.credits:
            if c.credited_to == self.policy.house:
                continue  # the house account is not a rep
            r = row(c.credited_to, c.date)
            r["credited_deals"] += 1
            r["credited_amount"] += c.amount
        for f in self.follow_ups:
            r = row(f.owner, f.registration_date)
            r["lead_registrations"] += 1
            r["timely_follow_ups"] += int(f.on_time)
        return [rows[k] for k in sorted(rows)]
