"""The deal-credit walk, vectorised with Polars and NumPy (``pip install 'kpi_engine[columnar]'``).

It gives exactly the credits, reasons, deciding events, protection dates and R3 records of the
reference walk in ``_engine`` (which stays the oracle; differential property tests compare both).
The rules of DOMAIN §6 become gaps-and-islands over each customer's events in log order:

- An *extender* is an event that prolongs its rep's protection when it is the owner's and comes
  while protected: a registration, follow-up, deal, or a reception that is not a courtesy one.
- Within a customer, the extenders of one rep split into *runs*: a new run starts where an
  extender comes after the previous one's deadline. A protection started by a registration lasts
  through the deadline of the last extender of the registration's run (while local dates only
  grow, the state of the reference walk after each event is exactly this).
- The next protection starts at the first registration dated after that end (a pointer per
  registration; following the pointers from each customer's first registration marks every
  registration that starts a protection: a loop over the number of protections of the busiest
  customer, each step vectorised over all customers).
- Every event then belongs to the latest protection started before it; it is inside it when its
  date is on or before the protection's end; a deal's deciding events are the owner's extenders
  of that protection before it (a slice of one flat array), plus the deal and a claim.

Customers whose timeline has a rare shape are walked by the reference engine instead, with the
same void registers, claims and overrides: customers linked by ``same_customer`` (R10), customers
registered by a rep whose register is void (R7), and customers whose local dates go backwards in
log order (a zone that turns clocks back across midnight). Their credits are merged with the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import starmap
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from kpi_engine._numbers import canonical
from kpi_engine._perf import paused_gc
from kpi_engine.attribution._engine import (
    Attribution,
    Credit,
    FollowUp,
    FrameLog,
    LeadEvent,
    ResultColumns,
    reference_walk,
)
from kpi_engine.attribution._policy import PolicySpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import polars as pl

    Ints = npt.NDArray[np.int64]
    Bools = npt.NDArray[np.bool_]

KINDS = ("registration", "reception", "follow_up", "deal", "claim", "override", "void_register", "same_customer")
_REG, _REC, _FOLLOW, _DEAL = 0, 1, 2, 3
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_SHIFT = 1 << 22  # above every date ordinal (9999-12-31 is 3,652,059): customer * _SHIFT + ordinal sorts
_MAX_ORDINAL = dt.date.max.toordinal()

# The columns of an event frame, in log order (sorted by instant, then event id).
FRAME_COLUMNS = ("event_id", "type", "local", "rep", "customer", "deal_id", "related_customer", "courtesy")


def frame_from_events(events: Sequence[LeadEvent]) -> pl.DataFrame:
    """The event frame of validated events (kept in the given order)."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    def column(i: int) -> list[Any]:
        return list(map(itemgetter(i), events))

    return pl.DataFrame(
        {
            "event_id": pl.Series(column(0), dtype=pl.Utf8),
            "type": pl.Series(column(1), dtype=pl.Enum(KINDS)),  # one byte a row, as checked_frame keeps it
            "local": pl.Series(column(3), dtype=pl.Date),
            "rep": pl.Series(column(4), dtype=pl.Utf8),
            "customer": pl.Series(column(5), dtype=pl.Utf8),
            "deal_id": pl.Series(column(6), dtype=pl.Utf8),
            "related_customer": pl.Series(column(8), dtype=pl.Categorical),
            "courtesy": pl.Series(column(9), dtype=pl.Boolean),
        }
    )


class _Days:
    """Window deadlines as date ordinals, for whole arrays of dates."""

    def __init__(self, policy: PolicySpec, ordinals: Ints) -> None:
        import numpy as np  # noqa: PLC0415 - optional dependency

        self.policy = policy
        self.calendar = policy.day_basis == "calendar"
        self.table: dict[int, tuple[Ints, Ints]] = {}
        self.unique = np.unique(ordinals) if len(ordinals) else np.zeros(0, dtype=np.int64)

    def deadline(self, ordinals: Ints, days: int) -> Ints:
        """``policy.deadline`` of each date; raises ``OverflowError`` past 9999-12-31 like it."""
        import numpy as np  # noqa: PLC0415 - optional dependency

        if self.calendar:
            out = ordinals + days
            if len(out) and int(out.max()) > _MAX_ORDINAL:
                raise OverflowError("date value out of range")
            return out
        if days not in self.table:
            keys = self.unique
            values = np.array(
                [self.policy.deadline(dt.date.fromordinal(int(d)), days).toordinal() for d in keys], dtype=np.int64
            )
            self.table[days] = (keys, values)
        keys, values = self.table[days]
        return values[np.searchsorted(keys, ordinals)]


def walk(policy: PolicySpec, log: FrameLog | list[LeadEvent]) -> Attribution:
    """Credit every deal of validated events (a list in log order, or a column-wise log).

    Returns:
        The same ``Attribution`` as the reference walk over the same events, held column-wise.
    """
    source = log if isinstance(log, FrameLog) else ListLog(log)
    try:
        return _walk(policy, source)
    except OverflowError:
        # A window past 9999-12-31: the reference walk meets the same date and decides what happens.
        return reference_walk(policy, source.to_events())


class ListLog(FrameLog):
    """Validated events in a list, seen column-wise."""

    def __init__(self, events: list[LeadEvent]) -> None:
        """Wrap events in log order."""
        self.events = events

    def __len__(self) -> int:
        """The number of events."""
        return len(self.events)

    def frame(self) -> pl.DataFrame:
        """The columns the walk reads."""
        return frame_from_events(self.events)

    def amounts(self, positions: Sequence[int]) -> list[Decimal]:
        """The deal amounts at these positions."""
        events = self.events
        return [events[p].amount or Decimal(0) for p in positions]

    def events_at(self, positions: Sequence[int]) -> list[LeadEvent]:
        """The events at these positions."""
        events = self.events
        return [events[p] for p in positions]


def _walk(policy: PolicySpec, log: FrameLog) -> Attribution:
    import polars as pl  # noqa: PLC0415 - optional dependency

    codes = {k: i for i, k in enumerate(KINDS)}
    f = (
        log.frame()
        .with_row_index("pos")
        .with_columns(
            pl.col("type").replace_strict(codes, return_dtype=pl.Int8).alias("kind"),
            (pl.col("local").cast(pl.Int32).cast(pl.Int64) + _EPOCH_ORDINAL).alias("day"),
        )
    )
    kind = pl.col("kind")
    same = f.filter(kind == codes["same_customer"])
    voided_reps = f.filter(kind == codes["void_register"]).get_column("rep").unique()
    stream = kind <= _DEAL
    related = same.get_column("related_customer").cast(pl.Utf8)  # categorical in a frame read by Polars
    rare = pl.concat([same.get_column("customer"), related]).unique()
    rare_voided = f.filter(stream & (kind == _REG) & pl.col("rep").is_in(voided_reps.implode())).get_column("customer")
    rare = pl.concat([rare, rare_voided]).unique()
    # Only the columns the walk reads, filtered once and sorted a column at a time (memory: one copy).
    common = f.select("pos", "kind", "day", "event_id", "rep", "customer", "deal_id", "courtesy").filter(
        stream & ~pl.col("customer").is_in(rare.implode())
    )
    common = _sorted(common, ["customer", "pos"])
    # Local dates that go backwards within a customer: the islands argument needs them in order.
    backwards = common.filter(
        (pl.col("customer") == pl.col("customer").shift(1)) & (pl.col("day") < pl.col("day").shift(1))
    ).get_column("customer")
    if len(backwards):
        rare = pl.concat([rare, backwards]).unique()
        common = common.filter(~pl.col("customer").is_in(backwards.implode()))
    credits_frame, follow_frame = _walk_common(policy, f, common)
    walked = _walk_rare(policy, f, rare, log) if len(rare) else None
    return Attribution(policy, columns=_Columns(log, credits_frame, follow_frame, walked))


def _sorted(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """``frame.sort(by)``, gathering one column at a time so that the peak is one extra column."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    order = frame.select(pl.arg_sort_by(by).alias("order")).get_column("order")
    for name in frame.columns:
        frame = frame.with_columns(frame.get_column(name).gather(order))
    return frame


def _walk_rare(
    policy: PolicySpec,
    f: pl.DataFrame,
    rare: pl.Series,
    log: FrameLog,
) -> Attribution:
    """The reference walk over the rare customers, with every event that can decide their deals."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    mine = f.filter((pl.col("kind") <= _DEAL) & pl.col("customer").is_in(rare.implode()))
    deals = mine.filter(pl.col("kind") == _DEAL).get_column("deal_id")
    kinds = pl.col("type")
    picked = f.filter(
        pl.col("pos").is_in(mine.get_column("pos").implode())
        | kinds.is_in(["void_register", "same_customer"])
        | (kinds.is_in(["claim", "override"]) & pl.col("deal_id").is_in(deals.implode()))
    ).get_column("pos")
    return reference_walk(policy, log.events_at(picked.to_list()))


def _walk_common(
    policy: PolicySpec,
    f: pl.DataFrame,
    common: pl.DataFrame,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    import numpy as np  # noqa: PLC0415 - optional dependency
    import polars as pl  # noqa: PLC0415

    n = common.height
    if n == 0:
        return None, None
    protection, extend = policy.protection_days, policy.extend_on_contact
    customer_col = common.get_column("customer")
    cust = (customer_col != customer_col.shift(1)).fill_null(value=True).cum_sum().to_numpy().astype(np.int64)
    rep_codes = common.get_column("rep").cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    day = common.get_column("day").to_numpy()
    kind = common.get_column("kind").to_numpy()
    courtesy = common.get_column("courtesy").to_numpy()
    days = _Days(policy, day)
    idx = np.arange(n, dtype=np.int64)

    # Extenders, and for each its run among the same rep's extenders of the customer.
    is_ext = (kind != _REC) | ~courtesy if extend else kind == _REG
    ext = np.flatnonzero(is_ext)
    order = ext[np.lexsort((ext, rep_codes[ext], cust[ext]))]
    ext_day = day[order]
    new_run = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        new_run[1:] = (
            (cust[order][1:] != cust[order][:-1])
            | (rep_codes[order][1:] != rep_codes[order][:-1])
            | (ext_day[1:] > days.deadline(ext_day[:-1], protection))
        )
    if not extend:
        new_run[:] = True
    run = np.cumsum(new_run) - 1
    run_starts = np.flatnonzero(new_run)
    run_ends = np.r_[run_starts[1:] - 1, len(order) - 1]
    run_last_day = np.zeros(n, dtype=np.int64)
    run_last_day[order] = ext_day[run_ends[run]]
    del ext, order, ext_day, new_run, run, run_starts, run_ends  # free as we go: large logs

    # Registrations: the end of the protection each would start, and the next one after it.
    regs = np.flatnonzero(kind == _REG)
    until_if_start = days.deadline(run_last_day[regs], protection)
    reg_key = cust[regs] * _SHIFT + day[regs]
    after = np.searchsorted(reg_key, cust[regs] * _SHIFT + until_if_start, side="right")
    nxt = np.full(len(regs), -1, dtype=np.int64)
    inside = after < len(regs)
    nxt[inside] = np.where(cust[regs][after[inside]] == cust[regs][inside], after[inside], -1)
    starts_reg = np.zeros(len(regs), dtype=bool)
    current = np.flatnonzero(np.r_[True, cust[regs][1:] != cust[regs][:-1]]) if len(regs) else regs
    while len(current):
        starts_reg[current] = True
        current = nxt[current]
        current = current[current >= 0]
    is_start = np.zeros(n, dtype=bool)
    is_start[regs[starts_reg]] = True
    until_at_start = np.zeros(n, dtype=np.int64)
    until_at_start[regs] = until_if_start
    del regs, until_if_start, reg_key, after, nxt, inside, starts_reg, current, run_last_day

    # Every event belongs to the latest protection started before it in its customer.
    start = np.maximum.accumulate(np.where(is_start, idx, -1))
    has = start >= 0
    start_safe = np.where(has, start, 0)
    has &= cust[start_safe] == cust
    owner = np.where(has, rep_codes[start_safe], -1)
    until = np.where(has, until_at_start[start_safe], -1)
    active = has & (day <= until)
    kept = active & (rep_codes == owner) & (is_ext if extend else is_start)
    kept_key = np.where(kept, cust * _SHIFT + day, -1)
    last_kept = np.r_[-1, np.maximum.accumulate(kept_key)[:-1]]
    through = np.full(n, -1, dtype=np.int64)
    through[has] = days.deadline(last_kept[has] - cust[has] * _SHIFT, protection)
    kept_before = np.cumsum(kept) - kept
    begin = np.where(has, kept_before[start_safe], 0)
    end = np.where(has, kept_before, 0)
    kept_ids = common.get_column("event_id").filter(pl.Series(kept))
    follower = has & (rep_codes == owner)
    del idx, start, until, until_at_start, kept, kept_key, last_kept, kept_before, kind, courtesy, is_ext, owner

    deal_credits = _credits(
        policy,
        f,
        common,
        days,
        has=has,
        active=active,
        owner=start_safe,
        through=through,
        span=(begin, end),
        kept_ids=kept_ids,
    )
    follow_ups = _follow_ups(policy, common, days, is_start=is_start, start=start_safe, follower=follower)
    return deal_credits, follow_ups


def _date_of(ordinal: pl.Expr) -> pl.Expr:
    import polars as pl  # noqa: PLC0415 - optional dependency

    return (ordinal - _EPOCH_ORDINAL).cast(pl.Int32).cast(pl.Date)


def _credits(
    policy: PolicySpec,
    f: pl.DataFrame,
    common: pl.DataFrame,
    days: _Days,
    *,
    has: Bools,
    active: Bools,
    owner: Ints,
    through: Ints,
    span: tuple[Ints, Ints],
    kept_ids: pl.Series,
) -> pl.DataFrame | None:
    import numpy as np  # noqa: PLC0415 - optional dependency
    import polars as pl  # noqa: PLC0415

    kind = common.get_column("kind").to_numpy()
    deal_rows = np.flatnonzero(kind == _DEAL)
    if not len(deal_rows):
        return None
    reps = common.get_column("rep")
    d = common[deal_rows].select("pos", "event_id", "deal_id", "customer", "rep", "courtesy", "day")
    d = d.with_columns(
        pl.Series("has", has[deal_rows]),
        pl.Series("active", active[deal_rows]),
        reps.gather(owner[deal_rows]).alias("owner"),
        pl.Series("through", through[deal_rows]),
        pl.Series("begin", span[0][deal_rows]),
        pl.Series("end", span[1][deal_rows]),
        pl.Series("limit", days.deadline(common.get_column("day").to_numpy()[deal_rows], policy.claim_days)),
    )
    claims = (
        f.filter(pl.col("type") == "claim")
        .unique(subset=["deal_id", "rep"], keep="first", maintain_order=True)
        .select(
            "deal_id",
            pl.col("rep").alias("owner"),
            pl.col("event_id").alias("claim_id"),
            pl.col("day").alias("claim_day"),
        )
    )
    overrides = (
        f.filter(pl.col("type") == "override")
        .unique(subset=["deal_id"], keep="last", maintain_order=True)
        .select("deal_id", pl.col("rep").alias("override_rep"), pl.col("event_id").alias("override_id"))
    )
    d = d.join(claims, on=["deal_id", "owner"], how="left").join(overrides, on="deal_id", how="left")
    col = pl.col
    protected = col("active")
    by_owner = col("owner") == col("rep")
    claiming = protected & ~by_owner & ~col("courtesy")
    in_time = col("claim_day") <= col("limit")
    override = col("override_id").is_not_null()
    reason = (
        pl.when(override)
        .then(pl.lit("override"))
        .when(~col("has"))
        .then(pl.lit("unregistered"))
        .when(by_owner)
        .then(pl.lit("owner"))
        .when(~protected)
        .then(pl.lit("expired"))
        .when(col("courtesy"))
        .then(pl.lit("courtesy"))
        .when(col("claim_id").is_null())
        .then(pl.lit("no_claim"))
        .when(in_time)
        .then(pl.lit("claim"))
        .otherwise(pl.lit("late_claim"))
    )
    credited = (
        pl.when(override)
        .then(col("override_rep"))
        .when(col("has") & protected & ~by_owner & (col("courtesy") | (col("claim_id").is_not_null() & in_time)))
        .then(col("owner"))
        .otherwise(col("rep"))
    )
    d = d.with_columns(
        reason.alias("reason"),
        credited.alias("credited_to"),
        pl.when(col("has")).then(col("owner")).alias("owner"),
        pl.when(col("has")).then(_date_of(col("through"))).alias("through"),
        pl.when(claiming & ~override).then(_date_of(col("claim_day"))).alias("claim_date"),
        pl.when(claiming & ~override).then(_date_of(col("limit"))).alias("limit"),
        _date_of(col("day")).alias("date"),
        pl.when(claiming & ~override).then(col("claim_id")).alias("claim_id"),
        pl.when(override | ~col("has")).then(0).otherwise(col("end") - col("begin")).alias("count"),
    )
    # Deciding events: the owner's extenders of the protection before the deal (a slice of one
    # flat array), the deal, then the claim or the override.
    flat = (
        d.select(
            pl.int_range(pl.len()).alias("deal"),
            pl.int_ranges(
                pl.when(col("count") > 0).then(col("begin")).otherwise(0),
                pl.when(col("count") > 0).then(col("end")).otherwise(0),
            ).alias("k"),
        )
        .explode("k")
        .drop_nulls("k")
    )
    prefix = (
        flat.with_columns(kept_ids.gather(flat.get_column("k").cast(pl.Int64)).alias("id"))
        .group_by("deal", maintain_order=True)
        .agg("id")
    )
    d = (
        d.with_row_index("deal")
        .join(prefix, on="deal", how="left")
        .select(
            "deal_id",
            "customer",
            pl.col("rep").alias("closer"),
            "credited_to",
            "pos",
            "reason",
            pl.concat_list(
                pl.col("id").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))),
                pl.col("event_id"),
                pl.coalesce(pl.when(override).then(col("override_id")), col("claim_id")),
            )
            .list.drop_nulls()
            .alias("decided"),
            "date",
            "owner",
            "through",
            "claim_date",
            "limit",
        )
    )
    # Narrowed to the result's columns first, then sorted a column at a time: sorting the wide
    # working frame whole held a second copy of every column (a tenth of the peak of a large log).
    return _sorted(d, ["deal_id"])


def _follow_ups(
    policy: PolicySpec,
    common: pl.DataFrame,
    days: _Days,
    *,
    is_start: Bools,
    start: Ints,
    follower: Bools,
) -> pl.DataFrame:
    """R3: one record per protection started, with the owner's first follow-up within it."""
    import numpy as np  # noqa: PLC0415 - optional dependency
    import polars as pl  # noqa: PLC0415

    kind = common.get_column("kind").to_numpy()
    starts = np.flatnonzero(is_start)
    follows = np.flatnonzero((kind == _FOLLOW) & follower)
    first_of, first_at = np.unique(start[follows], return_index=True)
    follow_row = np.full(len(common), -1, dtype=np.int64)
    follow_row[first_of] = follows[first_at]
    chosen = follow_row[starts]
    day = common.get_column("day").to_numpy()
    return (
        pl.DataFrame(
            {
                "owner": common.get_column("rep").gather(starts),
                "customer": common.get_column("customer").gather(starts),
                "event": common.get_column("event_id").gather(starts),
                "day": day[starts],
                "due": days.deadline(day[starts], policy.first_follow_up_days),
                "follow": np.where(chosen >= 0, day[np.maximum(chosen, 0)], 0),
                "has_follow": chosen >= 0,
                "follow_event": common.get_column("event_id").gather(np.maximum(chosen, 0)),
            }
        )
        .select(
            "owner",
            "customer",
            "event",
            _date_of(pl.col("day")).alias("day"),
            _date_of(pl.col("due")).alias("due"),
            pl.when(pl.col("has_follow")).then(_date_of(pl.col("follow"))).alias("follow"),
            pl.when(pl.col("has_follow")).then(pl.col("follow_event")).alias("follow_event"),
        )
        .sort(["day", "event"])
    )


_CHUNK = 20_000  # credits per streamed chunk of JSON text


class _Columns(ResultColumns):
    """The vectorised result: frames for the common customers, a reference result for the rare ones."""

    def __init__(
        self, log: FrameLog, deals: pl.DataFrame | None, follows: pl.DataFrame | None, walked: Attribution | None
    ) -> None:
        self.log = log
        self.credit_frame = deals
        self.follow_frame = follows
        self.walked = walked

    def credits(self) -> tuple[Credit, ...]:
        """Build the ``Credit`` objects, column by column."""
        out: list[Credit] = []
        d = self.credit_frame
        if d is not None:
            money = self.log.amounts(d.get_column("pos").to_list())
            with paused_gc():
                columns = (
                    d.get_column("deal_id").to_list(),
                    d.get_column("customer").to_list(),
                    d.get_column("closer").to_list(),
                    d.get_column("credited_to").to_list(),
                    money,
                    d.get_column("reason").to_list(),
                    list(map(tuple, d.get_column("decided").to_list())),
                    d.get_column("date").to_list(),
                    d.get_column("owner").to_list(),
                    d.get_column("through").to_list(),
                    d.get_column("claim_date").to_list(),
                    d.get_column("limit").to_list(),
                )
                out = list(starmap(Credit, zip(*columns, strict=True)))
        if self.walked is not None and self.walked.credits:
            out += self.walked.credits
            out.sort(key=lambda c: c.deal_id)
        return tuple(out)

    def follow_ups(self) -> tuple[FollowUp, ...]:
        """Build the ``FollowUp`` records."""
        out: list[FollowUp] = []
        if self.follow_frame is not None:
            with paused_gc():
                out = list(starmap(FollowUp, self.follow_frame.iter_rows()))
        if self.walked is not None and self.walked.follow_ups:
            out += self.walked.follow_ups
            out.sort(key=lambda r: (r.registration_date, r.registration_event))
        return tuple(out)

    def json_chunks(self, head: str) -> Iterator[str] | None:
        """Stream the JSON text column-wise; ``None`` when a value needs ``json``'s own escaping."""
        import polars as pl  # noqa: PLC0415 - optional dependency

        rows = self._credit_rows()
        follows = self._follow_rows()
        strings = [c for c, t in rows.schema.items() if t == pl.Utf8] + ["decided"]
        dates = [c for c, t in rows.schema.items() if t == pl.Date]
        check = [rows.select(pl.col(c).str.contains(r"[\x00-\x1f]").any()) for c in strings[:-1]]
        check.append(rows.select(pl.col("decided").list.join(" ").str.contains(r"[\x00-\x1f]").any()))
        check += [follows.select(pl.col(c).str.contains(r"[\x00-\x1f]").any()) for c in ("owner", "customer", "event")]
        check += [follows.select(pl.col("follow_event").str.contains(r"[\x00-\x1f]").any())]
        check += [rows.select((pl.col(c).dt.year() < 1000).any()) for c in dates]  # noqa: PLR2004 - %Y pads to 4
        check += [follows.select((pl.col(c).dt.year() < 1000).any()) for c in ("day", "due", "follow")]  # noqa: PLR2004
        if any(_true(frame) for frame in check):
            return None
        violations = follows.filter(pl.col("follow").is_null() | (pl.col("follow") > pl.col("due")))
        return _stream(head, rows, violations)

    def _credit_rows(self) -> pl.DataFrame:
        import polars as pl  # noqa: PLC0415 - optional dependency

        parts = []
        d = self.credit_frame
        if d is not None:
            texts = self.log.amount_texts(d.get_column("pos").to_list())
            parts.append(d.with_columns(pl.Series("amount", texts, dtype=pl.Utf8)).drop("pos"))
        if self.walked is not None and self.walked.credits:
            rows = [
                (c.deal_id, c.customer, c.closer, c.credited_to, c.reason, list(c.decided_by), c.date, c.owner,
                 c.protected_through, c.claim_date, c.claim_deadline, canonical(c.amount))
                for c in self.walked.credits
            ]  # fmt: skip
            parts.append(pl.DataFrame(rows, schema=_schemas()[0], orient="row"))
        if not parts:
            return pl.DataFrame(schema=_schemas()[0])
        frame = pl.concat([p.select(list(_schemas()[0])) for p in parts])
        return frame.sort("deal_id") if len(parts) > 1 else frame

    def _follow_rows(self) -> pl.DataFrame:
        import polars as pl  # noqa: PLC0415 - optional dependency

        parts = [] if self.follow_frame is None else [self.follow_frame]
        if self.walked is not None and self.walked.follow_ups:
            rows = [
                (f.owner, f.customer, f.registration_event, f.registration_date, f.due_date, f.first_follow_up,
                 f.follow_up_event)
                for f in self.walked.follow_ups
            ]  # fmt: skip
            parts.append(pl.DataFrame(rows, schema=_schemas()[1], orient="row"))
        if not parts:
            return pl.DataFrame(schema=_schemas()[1])
        frame = pl.concat([p.select(list(_schemas()[1])).cast(_schemas()[1]) for p in parts])  # type: ignore[arg-type]
        return frame.sort(["day", "event"]) if len(parts) > 1 else frame


def _true(frame: pl.DataFrame) -> bool:
    value = frame.item()
    return bool(value) if value is not None else False


def _schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    import polars as pl  # noqa: PLC0415 - optional dependency

    text, day = pl.Utf8, pl.Date
    credit = {
        "deal_id": text, "customer": text, "closer": text, "credited_to": text, "reason": text,
        "decided": pl.List(text), "date": day, "owner": text, "through": day, "claim_date": day, "limit": day,
        "amount": text,
    }  # fmt: skip
    follow = {"owner": text, "customer": text, "event": text, "day": day, "due": day, "follow": day,
              "follow_event": text}  # fmt: skip
    return credit, follow


def _json_text(column: str) -> pl.Expr:
    """A JSON string (or ``null``) for each value; the caller has ruled out control characters."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    value = pl.col(column)
    if column in {"date", "through", "claim_date", "limit", "day", "due", "follow"}:
        escaped = value.dt.to_string("%Y-%m-%d")
    else:
        escaped = value.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)
    return pl.when(value.is_null()).then(pl.lit("null")).otherwise(pl.concat_str(pl.lit('"'), escaped, pl.lit('"')))


def _blocks(frame: pl.DataFrame, keys: list[tuple[str, str]]) -> pl.Series:
    """One indented JSON object (as ``json.dumps(indent=2)`` writes it inside a list) per row."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    pieces: list[pl.Expr] = []
    for i, (key, column) in enumerate(keys):
        pieces.append(pl.lit(("    {\n" if i == 0 else ",\n") + f'      "{key}": '))
        if column == "decided":
            items = pl.col("decided").list.eval(
                pl.concat_str(
                    pl.lit('"'),
                    pl.element().str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True),
                    pl.lit('"'),
                )
            )
            pieces.append(pl.concat_str(pl.lit("[\n        "), items.list.join(",\n        "), pl.lit("\n      ]")))
        else:
            pieces.append(_json_text(column))
    pieces.append(pl.lit("\n    }"))
    return frame.select(pl.concat_str(pieces).alias("text")).get_column("text")


_CREDIT_KEYS = [
    ("deal_id", "deal_id"), ("customer", "customer"), ("closer", "closer"), ("credited_to", "credited_to"),
    ("amount", "amount"), ("reason", "reason"), ("decided_by", "decided"), ("date", "date"), ("owner", "owner"),
    ("protected_through", "through"), ("claim_date", "claim_date"), ("claim_deadline", "limit"),
]  # fmt: skip
_FOLLOW_KEYS = [
    ("owner", "owner"), ("customer", "customer"), ("registration_event", "event"), ("registration_date", "day"),
    ("due_date", "due"), ("first_follow_up", "follow"), ("follow_up_event", "follow_event"),
]  # fmt: skip


def _array(frame: pl.DataFrame, keys: list[tuple[str, str]]) -> Iterator[str]:
    if not frame.height:
        yield "[]"
        return
    yield "[\n"
    for offset in range(0, frame.height, _CHUNK):
        if offset:
            yield ",\n"
        yield ",\n".join(_blocks(frame.slice(offset, _CHUNK), keys).to_list())
    yield "\n  ]"


def _stream(head: str, rows: pl.DataFrame, violations: pl.DataFrame) -> Iterator[str]:
    yield head + ',\n  "credits": '
    yield from _array(rows, _CREDIT_KEYS)
    yield ',\n  "violations": '
    yield from _array(violations, _FOLLOW_KEYS)
    yield "\n}\n"
