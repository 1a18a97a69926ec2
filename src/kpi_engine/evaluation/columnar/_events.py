"""Event aggregates (count, sum, mean, min, max, count_distinct with ``where``) grouped in Polars.

Events are validated vectorised (required fields, unique ids, known columns, field types, ISO
timestamps); anything unusual raises ``UnusualError`` so the row path reports it. Sums and counts
are exact int64 group sums in Polars over scaled integers whose range is checked first; a mean
is the exact sum ÷ count.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np

from kpi_engine.evaluation.columnar._columns import LIMIT, Bool, Column, Ctx, Num, Text
from kpi_engine.evaluation.columnar._exprs import evaluate
from kpi_engine.evaluation.columnar._ingest import UnusualError, text_number_columns, typed_column
from kpi_engine.language.checks import BUILTIN_EVENT_FIELDS
from kpi_engine.language.model import Metric, Scorecard
from kpi_engine.language.spec import InputType
from kpi_engine.time.periods import Period

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
    card: Scorecard, events: Any, period: Period, subjects: list[str], needed: list[Metric]
) -> dict[str, Column]:
    """The aggregate metrics in ``needed`` per subject (in ``subjects`` order), over the period's events."""
    import polars as pl  # noqa: PLC0415

    types = {**BUILTIN_EVENT_FIELDS, **card.event_fields}
    known = set(types) | {"at"}
    if not set(events.columns) <= known or len(set(events.columns)) != len(events.columns):
        raise UnusualError("unknown event columns")
    for col in ("event_id", "type", "at", "rep"):
        if col not in events.columns:
            raise UnusualError(f"no {col} column")
    stripped = {c: pl.col(c).cast(pl.Utf8).str.strip_chars() for c in ("event_id", "type", "rep")}
    checks = events.select(
        *[(e.is_null() | (e == "")).any().alias(c) for c, e in stripped.items()],
        pl.col("at").is_null().any().alias("at"),
        stripped["event_id"].is_duplicated().any().alias("dup"),
    ).row(0)
    if any(checks):
        raise UnusualError("a blank required field or a repeated event id")
    # Every field is validated over all rows (the row path refuses a bad cell in any period).
    numbers: dict[str, tuple[InputType, tuple[Decimal | None, Decimal | None]]] = {
        name: (kind, (None, None))
        for name, kind in card.event_fields.items()
        if name in events.columns and kind not in {"bool", "text", "date"} and events[name].dtype == pl.Utf8
    }
    columns: dict[str, Column] = dict(text_number_columns(events, numbers)) if numbers else {}
    for name, kind in card.event_fields.items():
        if name in events.columns and name not in numbers and kind != "text":
            columns[name] = typed_column(events[name], kind, (None, None))
    dates = _local_dates(events["at"], card.timezone)
    uniq = dates.unique().to_list()
    periods = {d: Period.containing(d, card.period) for d in uniq if isinstance(d, dt.date)}
    in_period = dates.is_in([d for d, p in periods.items() if p == period])
    index = pl.DataFrame({"rep": subjects, "g": np.arange(len(subjects), dtype=np.int64)})
    chosen = (
        events.lazy()
        .with_row_index("row")
        .filter(in_period)
        .select("row", stripped["rep"].alias("rep"))
        .join(index.lazy(), on="rep", how="left")
        .collect()
    )
    if chosen["g"].null_count():
        raise UnusualError("events of reps that are not appraised")
    sel = chosen["row"].to_numpy().astype(np.int64)
    rep_index = chosen["g"].to_numpy()
    ctx = Ctx(len(sel))
    env: dict[str, Column] = {name: _take(col, sel) for name, col in columns.items()}
    # Text fields become NumPy columns only where a filter reads them.
    read = set().union(*(m.where.names for m in needed if m.where is not None))
    for name in sorted(read - env.keys()):
        if name in events.columns:
            values = events[name].cast(pl.Utf8).gather(sel)
            blank = values.str.strip_chars().is_null() | (values.str.strip_chars() == "")
            env[name] = Text(values.to_numpy().astype(object), blank.to_numpy() if blank.any() else None)
        else:
            env[name] = Text(np.full(len(sel), None, dtype=object), np.ones(len(sel), dtype=bool))
    out: dict[str, Column] = {}
    n = len(subjects)
    for m in needed:
        mask = np.ones(len(sel), dtype=bool)
        if m.where is not None:
            cond = evaluate(ctx, m.where.node, env)
            assert isinstance(cond, Bool)
            mask = cond.val & (~cond.na if cond.na is not None else True)
        if ctx.bad.any():
            raise UnusualError("a filter beyond the exact integer range")
        if m.fn == "count":
            counts = np.bincount(rep_index[mask], minlength=n).astype(np.int64)
            out[m.name] = Num(counts, 1, None)
            continue
        assert m.field is not None
        if m.fn == "count_distinct":
            if m.field in columns:
                field = env[m.field]
                present = mask & (~field.na if field.na is not None else True)
                vals: Any = np.broadcast_to(np.asarray(field.num if isinstance(field, Num) else field.val), (len(sel),))
                frame = pl.DataFrame({"g": rep_index[present], "v": vals[present]})
            elif m.field in events.columns:
                raw = events[m.field].cast(pl.Utf8).gather(sel).filter(pl.Series(mask))
                frame = pl.DataFrame({"g": rep_index[mask], "v": raw}).filter(
                    pl.col("v").is_not_null() & (pl.col("v").str.strip_chars() != "")
                )
            else:
                frame = pl.DataFrame({"g": np.zeros(0, dtype=np.int64), "v": np.zeros(0, dtype=np.int64)})
            agg = frame.group_by("g").agg(pl.col("v").n_unique().alias("c"))
            counts = np.zeros(n, dtype=np.int64)
            counts[agg["g"].to_numpy()] = agg["c"].to_numpy()
            out[m.name] = Num(counts, 1, None)
            continue
        field = env[m.field] if m.field in env else Num(0, 1, np.ones(len(sel), dtype=bool))
        present = mask & (~field.na if field.na is not None else True)
        g = rep_index[present]
        assert isinstance(field, Num)
        num = np.broadcast_to(np.asarray(field.num, dtype=np.int64), (len(sel),))[present]
        assert isinstance(field.den, int)
        counts = np.bincount(g, minlength=n).astype(np.int64)
        peak = int(np.abs(num).max()) if len(num) else 0
        if peak * max(int(counts.max()) if n else 0, 1) >= LIMIT:
            raise UnusualError("sums beyond the exact integer range")
        df = pl.DataFrame({"g": g, "v": num})
        agg = df.group_by("g").agg(
            pl.col("v").sum().alias("s"), pl.col("v").min().alias("lo"), pl.col("v").max().alias("hi")
        )
        where = agg["g"].to_numpy()
        sums = np.zeros(n, dtype=np.int64)
        sums[where] = agg["s"].to_numpy()
        empty = counts == 0
        if m.fn == "sum":
            out[m.name] = Num(sums, field.den, None)
        elif m.fn == "mean":
            out[m.name] = Num(sums, np.where(empty, 1, counts) * field.den, empty if empty.any() else None).reduced()
        else:
            vals = np.zeros(n, dtype=np.int64)
            vals[where] = agg["lo" if m.fn == "min" else "hi"].to_numpy()
            out[m.name] = Num(vals, field.den, empty if empty.any() else None)
    return out


def _take(col: Column, sel: Any) -> Column:
    na = None if col.na is None else col.na[sel]
    if isinstance(col, Num):
        num = col.num if isinstance(col.num, int) else col.num[sel]
        den = col.den if isinstance(col.den, int) else col.den[sel]
        return Num(num, den, na)
    return type(col)(col.val[sel], na)
