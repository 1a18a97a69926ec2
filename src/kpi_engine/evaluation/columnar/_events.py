"""Event aggregates (count, sum, mean, min, max, count_distinct with ``where``) computed in Polars.

Events are validated vectorised over every row, as the row path validates them (required fields
not blank, unique ``event_id``, known columns, field types, ISO timestamps); anything unusual
raises ``UnusualError`` so that the row path reports it at its cell. Text stays in Polars: the
required fields are checked with null counts, a strip comparison and a hash of the ids (an exact
``is_duplicated`` pass only when two hashes meet). ``where`` filters are translated into Polars
expressions (``_filters``); a filter outside the translated subset is evaluated by the exact
NumPy kernel. Sums, counts, minima and maxima are Polars group aggregations over exact scaled
int64 integers whose range is checked per group; a mean is the exact sum ÷ count.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from kpi_engine._columns import Bool, Column, Ctx, Num, Text, UnusualError
from kpi_engine.evaluation.columnar._filters import Field, translate
from kpi_engine.evaluation.columnar._ingest import _FALSE, _TRUE, text_number_columns, typed_column
from kpi_engine.expr import Expression
from kpi_engine.expr import evaluate_columns as evaluate
from kpi_engine.language.checks import BUILTIN_EVENT_FIELDS
from kpi_engine.language.model import Metric, Scorecard
from kpi_engine.language.spec import InputType
from kpi_engine.plan.ops.aggregates import reduce_column
from kpi_engine.plan.ops.windows import LogColumns
from kpi_engine.time.periods import Period

_REQUIRED = ("event_id", "type", "at", "rep")
_PLAIN_KINDS = {"number", "money", "score", "ratio"}  # kinds whose plain decimals need no further check
_PLAIN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"
_MAX_DIGITS = 17
# What Python's str.strip() removes (the row path strips with it): Unicode White_Space and the four
# separators \x1c-\x1f, which Polars' default strip_chars() keeps; so the set is spelled out.
_SPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"
_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)$"


def _local_dates(at: Any, timezone: str) -> Any:
    """Local calendar dates of ISO timestamps: a naive one is local already; an offset one is converted."""
    import polars as pl  # noqa: PLC0415

    if at.dtype == pl.Date:
        dates = at
    elif isinstance(at.dtype, pl.Datetime):  # naive: local already; zoned: converted
        dates = (at if at.dtype.time_zone is None else at.dt.convert_time_zone(timezone)).dt.date()
    else:
        dates = None
    if dates is not None:
        if dates.null_count():
            raise UnusualError("a missing timestamp")
        return dates
    s = at.cast(pl.Utf8).str.strip_chars()
    naive = s.str.contains(_NAIVE)
    offset = s.str.contains(_OFFSET)
    if not (naive | offset).all():
        raise UnusualError("a timestamp in an unusual form")
    frame = pl.DataFrame({"s": s, "naive": naive})
    norm = (
        pl.col("s")
        .str.replace(r"Z$", "+00:00")
        .str.replace(" ", "T")
        .str.replace(r"T(\d{2}:\d{2})([+-]|$)", "T${1}:00${2}")
    )
    stamped = norm.str.replace(r"\.\d+", "").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False)
    local = stamped.dt.convert_time_zone(timezone).dt.date()
    out = frame.select(
        pl.when(pl.col("naive"))
        .then(pl.col("s").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))
        .otherwise(local)
    ).to_series()
    if out.is_null().any():
        raise UnusualError("a timestamp that does not parse")
    return out


def aggregate(
    card: Scorecard,
    events: Any,
    period: Period,
    subjects: list[str],
    needed: list[Metric],
    first: Period | None = None,
) -> dict[str, Column]:
    """The aggregate metrics in ``needed`` per subject (in ``subjects`` order), over the period's events.

    ``first``: the events from its start to the end of ``period`` are read (an aggregate ``over``
    several periods, ``time.periods.spanned``); the caller has labelled each event's ``rep`` with
    its owner in the event's own period.
    """
    import polars as pl  # noqa: PLC0415

    read: set[str] = set().union(*(m.where.names for m in needed if m.where is not None))
    read |= {m.field for m in needed if m.field is not None}
    fields, extra, columns, keys = _read(card, events, read)
    rep_key = keys["rep"]
    dates = _local_dates(events["at"], card.timezone)
    in_period = (dates >= (first or period).start) & (dates < period.next_start())
    conditions: dict[str, Any] = {}
    for m in needed:
        if m.where is not None:
            conditions[m.name] = _condition(f"where:{m.name}", m.where, fields, columns, events, extra)

    index = pl.DataFrame({"\0rep": subjects, "\0g": np.arange(len(subjects), dtype=np.int64)})
    # Per metric, the value it reads where its filter holds (null elsewhere): plain column aggregations.
    wanted: dict[str, Any] = {}
    for m in needed:
        if m.field is not None:
            value = fields[m.field].expr
            wanted[f"\0v:{m.name}"] = value if m.where is None else pl.when(conditions[m.name]).then(value)
        elif m.where is not None:
            wanted[f"\0c:{m.name}"] = conditions[m.name]
    frame = events.with_columns(*extra).lazy()
    if not in_period.all():  # events of other periods are validated above, not aggregated
        frame = frame.filter(in_period)
    work = (
        frame.select(
            rep_key.alias("\0rep"),
            *[e.alias(name) for name, e in wanted.items()],
        )
        .join(index.lazy(), on="\0rep", how="left")
        .collect()
    )
    if work["\0g"].null_count():
        from kpi_engine.evaluation._foreign import FOREIGN  # noqa: PLC0415

        # Events of reps another streamed batch appraises are simply not this batch's (their owners
        # are checked once by the streaming executor); any other owner is the row path's to report.
        elsewhere = FOREIGN.get()
        strays = work.filter(pl.col("\0g").is_null())["\0rep"]
        if not elsewhere or not strays.is_in(list(elsewhere)).all():
            raise UnusualError("events of reps that are not appraised")
        work = work.filter(pl.col("\0g").is_not_null())
    work = work.drop("\0rep")
    kinds = {name: (field.kind, field.den) for name, field in fields.items()}
    return reduce_column(work, needed, kinds, len(subjects))


def _read(
    card: Scorecard, events: Any, read: set[str]
) -> tuple[dict[str, Field], list[Any], dict[str, Column], dict[str, Any]]:
    """Validate every event row as the row path does, and give the fields in ``read`` as Polars expressions.

    Returns:
        The fields (``Field``), the Series they are built on (to add to the frame), the typed
        columns of the declared fields, and the expressions of the stripped ``rep`` and ``event_id``.

    Raises:
        UnusualError: for anything the row path reports or reads in its own way.
    """
    import polars as pl  # noqa: PLC0415

    types: dict[str, InputType] = {**BUILTIN_EVENT_FIELDS, **card.event_fields}
    known = set(types) | {"at"}
    if not set(events.columns) <= known or len(set(events.columns)) != len(events.columns):
        raise UnusualError("unknown event columns")
    for col in _REQUIRED:
        if col not in events.columns:
            raise UnusualError(f"no {col} column")
    texts = [name for name, kind in types.items() if kind == "text" and name in events.columns]
    # Plain decimal text in number fields is read in Polars; other forms take the exact ingest below.
    plain = [
        name
        for name, kind in card.event_fields.items()
        if name in events.columns and kind in _PLAIN_KINDS and events[name].dtype == pl.Utf8
    ]
    keys, values, parsed = _check(events, texts, plain, read)
    for name, kind in card.event_fields.items():
        if kind == "bool" and name in events.columns:
            parsed[name] = _bool_field(events, name)
    # Every field is validated over all rows (the row path refuses a bad cell in any period).
    numbers: dict[str, tuple[InputType, tuple[Decimal | None, Decimal | None]]] = {
        name: (kind, (None, None))
        for name, kind in card.event_fields.items()
        if name in events.columns
        and name not in parsed
        and kind not in {"bool", "text", "date"}
        and events[name].dtype == pl.Utf8
    }
    columns: dict[str, Column] = dict(text_number_columns(events, numbers)) if numbers else {}
    for name, kind in card.event_fields.items():
        if name in events.columns and name not in numbers and name not in parsed and kind != "text":
            columns[name] = typed_column(events[name], kind, (None, None))
    fields, extra = _fields(types, read, columns, values, events.height)
    fields.update({name: field for name, field in parsed.items() if name in read})
    return fields, extra, columns, keys


def _condition(
    label: str,
    expression: Expression,
    fields: dict[str, Field],
    columns: dict[str, Column],
    events: Any,
    extra: list[Any],
) -> Any:
    """A filter or window condition as a Polars expression, true where it holds (N/A is false)."""
    import polars as pl  # noqa: PLC0415

    expr = translate(expression.node, fields)
    if expr is None:  # outside the translated subset: the exact kernel decides each event
        mask = _exact_mask(expression, columns, fields, events)
        extra.append(pl.Series(f"\0{label}", mask))
        expr = pl.col(f"\0{label}")
    return expr.fill_null(value=False)


def _check(
    events: Any, texts: list[str], plain: list[str], read: set[str]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Field]]:
    """Validate the required text fields (not blank), ``event_id`` (unique) and plain number text, in one pass.

    Returns:
        The expressions of the stripped rep (the grouping key) and event id; per text field, the expression of
        its value as the row path reads it (the cell as written, null where blank); per number
        field of ``plain`` whose every cell is a plain decimal, its exact scaled integers.
    """
    import polars as pl  # noqa: PLC0415

    raw: dict[str, Any] = {}
    for name in texts:
        dtype = events[name].dtype
        if not (dtype in {pl.Utf8, pl.Null, pl.Categorical} or dtype.is_integer() or isinstance(dtype, pl.Enum)):
            raise UnusualError(f"a {dtype} text column")  # str() of floats, dates … is the row path's to decide
        raw[name] = pl.col(name) if dtype == pl.Utf8 else pl.col(name).cast(pl.Utf8)
    ids = pl.col("event_id")
    number_stats = []
    for name in plain:
        s = pl.col(name).drop_nulls().str.strip_chars(_SPACE)  # sparse fields: read the cells there are
        dot = s.str.find(".", literal=True)
        number_stats += [
            (s.is_null() | (s == "") | s.str.contains(_PLAIN)).all().alias(f"{name}\0plain"),
            (s.str.len_bytes() - dot - 1).max().alias(f"{name}\0scale"),
            pl.coalesce(dot, s.str.len_bytes()).max().alias(f"{name}\0width"),
        ]
    stats = events.select(
        *[s.null_count().alias(f"{name}\0null") for name, s in raw.items()],
        # an empty, blank or space-padded cell: its stripped form differs or is empty
        *[((s == "") | (s.str.strip_chars(_SPACE) != s)).any().alias(f"{name}\0odd") for name, s in raw.items()],
        pl.col("at").null_count().alias("at\0null"),
        (ids if events["event_id"].dtype.is_integer() else ids.hash()).n_unique().alias("\0ids"),
        *number_stats,
    ).row(0, named=True)
    if stats["at\0null"] or any(stats[f"{name}\0null"] for name in ("event_id", "type", "rep")):
        raise UnusualError("a blank required field")
    values: dict[str, Any] = {}
    keys: dict[str, Any] = {}
    for name, s in raw.items():
        if stats[f"{name}\0odd"]:
            stripped = s.str.strip_chars(_SPACE)
            keys[name] = stripped
            values[name] = pl.when(stripped != "").then(s)
        else:
            keys[name] = values[name] = s
    odd = [name for name in ("event_id", "type", "rep") if stats[f"{name}\0odd"]]
    if odd and events.select(pl.any_horizontal(*[(keys[name] == "").any() for name in odd])).item():
        raise UnusualError("a blank required field")
    # The row path reads frames' text stripped and Python rows' text as written: text with spaces
    # around it, where a metric reads it, is left to the row path.
    padded = [name for name in raw if name in read and stats[f"{name}\0odd"]]
    if (
        padded
        and events.select(
            pl.any_horizontal(*[((keys[name] != raw[name]) & (keys[name] != "")).any() for name in padded])
        ).item()
    ):
        raise UnusualError("text with spaces around it")
    # Distinct hashes prove distinct ids; where two hashes meet, an exact pass decides.
    if (stats["event_id\0odd"] or stats["\0ids"] != events.height) and events.select(
        keys["event_id"].is_duplicated().any()
    ).item():
        raise UnusualError("a repeated event id")
    parsed: dict[str, Field] = {}
    for name in plain:
        scale, width = int(stats[f"{name}\0scale"] or 0), int(stats[f"{name}\0width"] or 0)
        # A sign and at most 17 digits: every numerator fits int64 with room for the sums' check.
        if stats[f"{name}\0plain"] and scale + width <= _MAX_DIGITS + 1:
            s = pl.col(name).str.strip_chars(_SPACE)
            # Polars reads every plain form (5., .5, +5, -0) exactly at the column's largest scale.
            number = pl.when(s != "").then(s).str.to_decimal(scale=scale).to_physical().cast(pl.Int64)
            parsed[name] = Field(number, "number", 10**scale)
    return {"rep": keys["rep"], "event_id": keys["event_id"]}, values, parsed


def _fields(
    types: dict[str, InputType], read: set[str], columns: dict[str, Column], values: dict[str, Any], rows: int
) -> tuple[dict[str, Field], list[Any]]:
    """Every field a metric reads as a Polars expression (``Field``), and the Series they are built on."""
    import polars as pl  # noqa: PLC0415

    fields: dict[str, Field] = {}
    extra: list[Any] = []
    for name in sorted(read):
        kind = types[name]
        col = columns.get(name)
        column = f"\0f:{name}"
        if isinstance(col, Num):
            if not isinstance(col.den, int):  # pragma: no cover - event numbers share one denominator
                raise UnusualError("a number column without one scale")
            num = np.full(rows, col.num, dtype=np.int64) if isinstance(col.num, int) else col.num
            fields[name] = Field(_with_na(pl.Series(column, num), col.na, extra), "number", col.den)
        elif isinstance(col, Bool):
            fields[name] = Field(_with_na(pl.Series(column, col.val), col.na, extra), "bool")
        elif isinstance(col, Text):  # a date field: its ISO text
            extra.append(pl.Series(column, np.where(col.na, None, col.val) if col.na is not None else col.val, pl.Utf8))
            fields[name] = Field(pl.col(column), "text")
        elif name in values:
            fields[name] = Field(values[name], "text")
        elif kind in {"text", "date"}:
            fields[name] = Field(pl.lit(None, dtype=pl.Utf8), "text")
        elif kind == "bool":
            fields[name] = Field(pl.lit(None, dtype=pl.Boolean), "bool")
        else:
            fields[name] = Field(pl.lit(None, dtype=pl.Int64), "number")
    return fields, extra


def _with_na(series: Any, na: Any, extra: list[Any]) -> Any:
    """The expression of ``series`` with nulls where ``na`` is set (both added to ``extra``)."""
    import polars as pl  # noqa: PLC0415

    extra.append(series)
    if na is None:
        return pl.col(series.name)
    extra.append(pl.Series(f"{series.name}\0na", na))
    return pl.when(~pl.col(f"{series.name}\0na")).then(pl.col(series.name))


def _bool_field(events: Any, name: str) -> Field:
    """A bool event field read in Polars as the row path reads it (true/yes/1/y, false/no/0/n, blank N/A)."""
    import polars as pl  # noqa: PLC0415

    if events[name].dtype == pl.Boolean:
        return Field(pl.col(name), "bool")
    s = pl.col(name).cast(pl.Utf8).str.strip_chars(_SPACE).str.to_lowercase()
    if not events.select((s.is_null() | (s == "") | s.is_in([*_TRUE, *_FALSE])).all()).item():
        raise UnusualError("a value that is not true or false")
    return Field(
        pl.when(s.is_in(_TRUE)).then(pl.lit(value=True)).when(s.is_in(_FALSE)).then(pl.lit(value=False)), "bool"
    )


def _exact_mask(expression: Expression, columns: dict[str, Column], fields: dict[str, Field], events: Any) -> Any:
    """Where a condition the translation leaves aside is true, decided by the exact NumPy kernel on every event."""
    import polars as pl  # noqa: PLC0415

    rows = events.height
    ctx = Ctx(rows)
    env: dict[str, Column] = {}
    for name in expression.names:
        if name in columns:
            env[name] = columns[name]
            continue
        field = fields[name]
        s = events.with_columns(field.expr.alias("\0x"))["\0x"]  # a literal (missing column) broadcasts
        na = s.is_null().to_numpy()
        mask = na if na.any() else None
        if field.kind == "number":
            env[name] = Num(s.fill_null(0).cast(pl.Int64).to_numpy(), field.den, mask)
        elif field.kind == "bool":
            env[name] = Bool(s.fill_null(value=False).to_numpy(), mask)
        else:
            env[name] = Text(s.to_numpy().astype(object), mask)
    cond = evaluate(ctx, expression.node, env)
    assert isinstance(cond, Bool)
    if ctx.bad.any():
        raise UnusualError("a filter beyond the exact integer range")
    return cond.val & ~cond.na if cond.na is not None else np.asarray(cond.val, dtype=bool)


def _instants(at: Any, timezone: str) -> Any:
    """UTC microseconds of ISO timestamps (``time.zones.parse_instant``): a naive one is taken in ``timezone``.

    A naive time the zone skips (a spring-forward gap) is left to the row path, which resolves it
    by its own rule; a repeated one (clocks falling back) is its first occurrence, as there.
    """
    import polars as pl  # noqa: PLC0415

    if at.dtype == pl.Date or isinstance(at.dtype, pl.Datetime):
        if at.dtype == pl.Date or at.dtype.time_zone is None:
            at = at.cast(pl.Datetime("us")).dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        found = at.dt.epoch("us")
        if found.is_null().any():
            raise UnusualError("a missing timestamp, or one the row path resolves")
        return found
    s = at.cast(pl.Utf8).str.strip_chars()
    if not (s.str.contains(_NAIVE) | s.str.contains(_OFFSET)).all():
        raise UnusualError("a timestamp in an unusual form")
    frame = pl.DataFrame({"s": s})
    norm = (
        pl.col("s")
        .str.replace(r"Z$", "+00:00")
        .str.replace(" ", "T")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "${1}T00:00")
        .str.replace(r"T(\d{2}:\d{2})([+-]|$)", "T${1}:00${2}")
    )
    fraction = pl.col("s").str.extract(r"\.(\d{1,6})", 1).str.pad_end(6, "0").cast(pl.Int64).fill_null(0)
    whole = norm.str.replace(r"\.\d+", "")
    offset = whole.str.contains(r"[+-]\d{2}:\d{2}$")
    local = (
        whole.str.slice(0, 19)
        .str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.epoch("us")
    )
    stamped = whole.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False, time_unit="us").dt.epoch("us")
    out = frame.select(pl.when(offset).then(stamped).otherwise(local) + fraction).to_series()
    if out.is_null().any():
        raise UnusualError("a timestamp the row path resolves")
    return out


def window_log(card: Scorecard, events: Any, windows: list[Metric]) -> LogColumns:
    """The whole event log as the window kernel reads it (``plan.ops.windows.LogColumns``), validated.

    Raises:
        UnusualError: for anything the row path reports (a bad cell, a trigger or answer without
            its match field …) or reads in its own way.
    """
    import polars as pl  # noqa: PLC0415

    read: set[str] = set()
    for m in windows:
        assert m.window is not None
        read |= m.window.trigger.names | m.window.answer.names | set(m.window.match)
    fields, extra, columns, keys = _read(card, events, read)
    chosen: dict[str, Any] = {"\0id": keys["event_id"], "\0rep": keys["rep"]}
    for i, m in enumerate(windows):
        assert m.window is not None
        chosen[f"\0t{i}"] = _condition(f"trigger:{m.name}", m.window.trigger, fields, columns, events, extra)
        chosen[f"\0a{i}"] = _condition(f"answer:{m.name}", m.window.answer, fields, columns, events, extra)
        for j, name in enumerate(m.window.match):
            chosen[f"\0k{i}.{j}"] = fields[name].expr
    frame = events.with_columns(*extra).select(*[e.alias(name) for name, e in chosen.items()])
    # The local date of each instant (a naive time the zone skips was refused: the two agree).
    us = pl.Series("\0us", _instants(events["at"], card.timezone))
    day = pl.from_epoch(us, time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(card.timezone).dt.date()
    frame = frame.with_columns(us, day.cast(pl.Int64).alias("\0day")).with_row_index("\0row")
    order = np.empty(frame.height, dtype=np.int64)
    order[frame.sort(["\0us", "\0id"])["\0row"].to_numpy()] = np.arange(frame.height, dtype=np.int64)
    trigger: dict[str, Any] = {}
    answer: dict[str, Any] = {}
    key: dict[str, Any] = {}
    for i, m in enumerate(windows):
        assert m.window is not None
        parts = [f"\0k{i}.{j}" for j in range(len(m.window.match))]
        picked = pl.col(f"\0t{i}") | pl.col(f"\0a{i}")
        if frame.select((picked & pl.any_horizontal(*[pl.col(c).is_null() for c in parts])).any()).item():
            raise UnusualError("a trigger or answer without its match field")  # the row path locates it
        groups = frame.filter(picked).select(parts).unique().with_row_index("\0g")
        gid = frame.select("\0row", *parts).join(groups, on=parts, how="left").sort("\0row")["\0g"]
        trigger[m.name] = frame[f"\0t{i}"].to_numpy()
        answer[m.name] = frame[f"\0a{i}"].to_numpy()
        key[m.name] = gid.fill_null(-1).cast(pl.Int64).to_numpy()
    return LogColumns(
        us=frame["\0us"].to_numpy(),
        order=order,
        day=frame["\0day"].to_numpy(),
        trigger=trigger,
        answer=answer,
        key=key,
        calendar=card.calendar,
        rep=frame["\0rep"],
    )
