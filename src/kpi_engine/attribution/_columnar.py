"""Optional fast ingest of large CSV lead logs with Polars (``pip install 'kpi_engine[columnar]'``).

Only the happy path is vectorised: reading, stripping, validating, converting timestamps to UTC
instants and local dates, and sorting. Whenever anything is unusual — a bad or missing value, a
timestamp in a form other than the common ISO ones, a local time that falls in a DST gap, a
claim before its deal — it returns ``None`` and the caller runs the exact row-by-row parser,
which reports every problem with its line and column. Both paths give identical events (a
property test checks this).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from kpi_engine._numbers import NumberFormatError, canonical, to_decimal
from kpi_engine._perf import paused_gc
from kpi_engine.attribution import _limits
from kpi_engine.attribution._engine import COLUMNS, EVENT_TYPES, KEYS, NEEDS, FrameLog, LeadEvent, _fixed_offset
from kpi_engine.attribution._policy import PolicySpec
from kpi_engine.attribution._vectorised import FRAME_COLUMNS, KINDS, _sorted
from kpi_engine.errors import KpiError
from kpi_engine.time.zones import MAX_YEAR, MIN_YEAR

MAX_FIELD_BYTES = 131_072  # csv.field_size_limit()'s default, which the streaming reader applies

_STAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?"
_NAIVE = _STAMP + "$"
_OFFSET = _STAMP + r"[+-]\d{2}:\d{2}$"
_AMOUNT = r"^\d+(\.\d+)?$"


def available(log_bytes: int = 0) -> bool:
    """True when Polars can be imported and may read a log of ``log_bytes`` (see ``_limits``)."""
    if not _limits.polars_allowed(log_bytes):
        return False
    _limits.frugal_polars()
    try:
        import polars as pl  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


class EventFrame(FrameLog):
    """A validated lead log held column-wise by Polars, in log order (the vectorised engine's input)."""

    def __init__(self, df: Any) -> None:
        """Wrap a frame made by ``checked_frame``."""
        self.df = df

    def __len__(self) -> int:
        """The number of events."""
        return int(self.df.height)

    def frame(self) -> Any:
        """The columns the vectorised walk reads."""
        return self.df.select(FRAME_COLUMNS)

    def amounts(self, positions: Sequence[int]) -> list[Decimal]:
        """The deal amounts at these positions (exact, from their text)."""
        # The texts matched ^\d+(\.\d+)?$ with at most 60 characters: Decimal() reads them as to_decimal does.
        texts = self.df.get_column("amount").gather(list(positions)).to_list()
        return [Decimal(t) or Decimal(0) for t in texts]

    def amount_texts(self, positions: Sequence[int]) -> Any:
        """The canonical amount texts (``canonical``), computed column-wise."""
        import polars as pl  # noqa: PLC0415 - optional dependency

        texts = self.df.get_column("amount").gather(list(positions))
        long = texts.str.len_chars() > 34  # noqa: PLR2004 - more digits than the context keeps: exact Python path
        if long.any():
            return [canonical(Decimal(t)) for t in texts.to_list()]
        frame = pl.DataFrame({"t": texts}).select(
            pl.col("t").str.replace(r"^0+(\d)", "$1").str.replace(r"(\.\d*?)0+$", "$1").str.replace(r"\.$", "")
        )
        return frame.get_column("t")

    def events_at(self, positions: Sequence[int]) -> list[LeadEvent]:
        """The events at these positions, as ``LeadEvent``s."""
        events = _events(self.df[list(positions)])
        if events is None:  # pragma: no cover - amounts were validated when the frame was read
            msg = "an amount of the lead log is not a number"
            raise KpiError(msg)
        return events


def frame_events(df: Any) -> list[LeadEvent] | None:
    """The events of a frame made by ``checked_frame``, or ``None`` if an amount is not a number."""
    with _limits.POLARS_LOCK:
        return _events(df)


def checked_frame(policy: PolicySpec, df: Any) -> Any:
    """The validated, sorted frame of a lead log read with every cell as text, or ``None`` to defer.

    ``df`` is the log as ``io.column_files`` reads it (every cell text); ``None`` sends the log to
    the row-by-row parser, which reports every problem with its line and column.
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    with _limits.POLARS_LOCK:
        try:
            return _checked_frame(policy, df)
        except pl.exceptions.PolarsError:
            return None  # anything Polars cannot handle: the exact parser decides


def _checked_frame(policy: PolicySpec, df: Any) -> Any:
    import polars as pl  # noqa: PLC0415 - optional dependency

    if not set(df.columns) <= COLUMNS or len(set(df.columns)) != len(df.columns):
        return None
    if df.height and df.select(pl.max_horizontal(pl.col(c).str.len_bytes().max() for c in df.columns)).item() > (
        MAX_FIELD_BYTES
    ):
        return None  # the exact reader refuses such a field (csv's limit): the same log, the same verdict
    # Strip only the columns that need it: a stripped copy of every column doubles the memory.
    padded = df.select(pl.col(c).str.contains(r"^\s|\s$|^$").any() for c in df.columns).row(0)
    df = df.with_columns(
        [pl.col(c).str.strip_chars().replace("", None) for c, pad in zip(df.columns, padded, strict=True) if pad]
        + [pl.lit(None, dtype=pl.Utf8).alias(c) for c in KEYS if c not in df.columns]
    ).with_row_index("row", offset=2)
    typ = pl.col("type")
    if df.select(pl.col("at").str.contains(_NAIVE).all()).item():
        at = pl.col("at")  # the common spelling: nothing to normalise
    else:
        # Z and a space separator are common spellings of the same instants.
        at = pl.col("at").str.replace(r"Z$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
        at = (
            pl.when(at.str.contains(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}([+-]|$)"))
            .then(at.str.replace(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})", "${1}:00"))
            .otherwise(at)
        )
    df = df.with_columns(at.alias("at_norm"))
    bad = (
        pl.col("event_id").is_null()
        | pl.col("event_id").is_duplicated()
        | ~typ.is_in(list(EVENT_TYPES))
        | typ.is_null()
        | ~(pl.col("at_norm").str.contains(_NAIVE) | pl.col("at_norm").str.contains(_OFFSET))
        | (pl.col("at_norm").is_null())
        | ~pl.col("courtesy")
        .fill_null("")
        .str.to_lowercase()
        .is_in(["", "true", "1", "yes", "y", "false", "0", "no", "n"])
        | ((typ == "deal") & ~pl.col("amount").fill_null("x").str.contains(_AMOUNT))
        | (pl.col("amount").str.len_chars() > 60)  # noqa: PLR2004 - to_decimal's limit: the exact parser reports it
    )
    for kind, needed in NEEDS.items():
        for column in needed:
            bad = bad | ((typ == kind) & pl.col(column).is_null())
    if df.select(bad.any()).item():
        return None
    df = df.with_columns(_instants(df, policy))
    if df.select(pl.col("utc").is_null().any() | pl.col("local").is_null().any()).item():
        return None  # a DST gap or an unusual timestamp: the exact parser decides
    years = pl.col("utc").dt.year(), pl.col("local").dt.year()
    if df.select(pl.any_horizontal(~y.is_between(MIN_YEAR, MAX_YEAR) for y in years).any()).item():
        return None  # near the calendar's edges: the exact parser reports it
    deals = df.filter(typ == "deal")
    if deals.select(pl.col("deal_id").is_duplicated().any()).item():
        return None
    refs = df.filter(typ.is_in(["claim", "override"])).join(
        deals.select("deal_id", pl.col("utc").alias("deal_utc"), pl.col("event_id").alias("deal_event")),
        on="deal_id",
        how="left",
    )
    early = (pl.col("utc") < pl.col("deal_utc")) | (
        (pl.col("utc") == pl.col("deal_utc")) & (pl.col("event_id") < pl.col("deal_event"))
    )
    if refs.select(pl.col("deal_utc").is_null().any() | ((pl.col("type") == "claim") & early).any()).item():
        return None
    # Validated: the type becomes a one-byte Enum, and the columns that are mostly empty (note,
    # related_customer) categorical codes, instead of 16-byte string views per row.
    df = df.drop("at", "at_norm").with_columns(
        pl.col("courtesy").fill_null("").str.to_lowercase().is_in(["true", "1", "yes", "y"]).alias("courtesy"),
        typ.cast(pl.Enum(KINDS)),
        pl.col("note", "related_customer").cast(pl.Categorical),
    )
    return _sorted(df, ["utc", "event_id"])  # a column at a time: the peak is the log plus one column


def _instants(df: Any, policy: PolicySpec) -> list[Any]:
    """Expressions for ``utc`` (naive UTC) and ``local`` (the date in the policy zone) from ``at_norm``."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    tz = policy.timezone
    naive = pl.col("at_norm").str.contains(_NAIVE)
    local_naive = pl.col("at_norm").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us")
    if df.select(naive.all()).item():
        # Local times only (the usual log): most days have one UTC offset all day, so the instant is
        # the local time less that offset; a day with a transition takes zoneinfo's path instead.
        local = df.select(local_naive.alias("t")).get_column("t")
        days = local.dt.date().unique().drop_nulls().to_list()
        offsets = {day: _fixed_offset(policy.tz, day) for day in days}
        if all(o is not None for o in offsets.values()):
            micros = {d: o // dt.timedelta(microseconds=1) for d, o in offsets.items() if o is not None}
            shift = pl.col("t").dt.date().replace_strict(micros, return_dtype=pl.Int64)
            frame = pl.DataFrame({"t": local}).select(
                (pl.col("t") - pl.duration(microseconds=shift)).alias("utc"), pl.col("t").dt.date().alias("local")
            )
            return [frame.get_column("utc"), frame.get_column("local")]
        return [
            local_naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
            .alias("utc"),
            local_naive.dt.date().alias("local"),
        ]
    utc_offset = pl.col("at_norm").str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False, time_unit="us")
    return [
        pl.when(naive)
        .then(
            local_naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
        .otherwise(utc_offset.dt.convert_time_zone("UTC").dt.replace_time_zone(None))
        .alias("utc"),
        pl.when(naive)
        .then(local_naive.dt.date())
        .otherwise(utc_offset.dt.convert_time_zone(tz).dt.date())
        .alias("local"),
    ]


_EVENT_CHUNK = 100_000  # events built per step: the column lists of one step are all that is transient


def _events(df: Any) -> list[LeadEvent] | None:
    """Build the events column by column; tuples are made by C code, not a Python loop.

    Reps, customers and local dates repeat across a log: each is one shared object (with a
    million events, separate copies were a fifth of the list's memory), and the events are built
    a chunk of rows at a time so that only one chunk's column lists exist besides the events.
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    types = {t: t for t in EVENT_TYPES}
    interned: dict[Any, Any] = {}
    intern = interned.setdefault
    n = df.height
    amounts: list[Decimal | None] = [None] * n
    deals = df.with_row_index("i").filter(pl.col("type") == "deal").select("i", "amount")
    try:
        for i, text in zip(deals.get_column("i").to_list(), deals.get_column("amount").to_list(), strict=True):
            amounts[i] = to_decimal(text, allow_percent=False)
    except NumberFormatError:
        return None
    del deals
    make = partial(tuple.__new__, LeadEvent)
    events: list[LeadEvent] = []
    with paused_gc():
        for start in range(0, n, _EVENT_CHUNK):
            part = df.slice(start, _EVENT_CHUNK)
            local, reps, customers = (part.get_column(c).to_list() for c in ("local", "rep", "customer"))
            columns = (
                part.get_column("event_id").to_list(),
                list(map(types.__getitem__, part.get_column("type").to_list())),
                part.get_column("utc").to_list(),
                list(map(intern, local, local)),
                list(map(intern, reps, reps)),
                list(map(intern, customers, customers)),
                part.get_column("deal_id").to_list(),
                amounts[start : start + _EVENT_CHUNK],
                part.get_column("related_customer").to_list(),
                part.get_column("courtesy").to_list(),
                part.get_column("note").to_list(),
                part.get_column("row").to_list(),
            )
            del local, reps, customers
            events += map(make, zip(*columns, strict=True))
            del columns
    return events
