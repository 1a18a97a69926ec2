"""Event aggregates (count, sum, mean, min, max, count_distinct with ``where``) grouped in Polars.

Events are validated vectorised (required fields, unique ids, known columns, field types, ISO
timestamps); anything unusual raises ``UnusualError`` so the row path reports it. Sums and counts
are exact int64 group sums in Polars over scaled integers whose range is checked first; a mean
is the exact sum ÷ count.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from kpi_engine.evaluation.columnar._columns import LIMIT, Bool, Column, Ctx, Num, Text
from kpi_engine.evaluation.columnar._exprs import evaluate
from kpi_engine.evaluation.columnar._ingest import UnusualError, text_column, typed_column
from kpi_engine.language.checks import BUILTIN_EVENT_FIELDS
from kpi_engine.language.model import Metric, Scorecard
from kpi_engine.time.periods import Period

_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$"
_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2}|Z)$"


def _local_dates(at: Any, timezone: str) -> Any:
    """Local calendar dates of ISO timestamps: a naive one is local already; an offset one is converted."""
    import polars as pl  # noqa: PLC0415

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
        _, blank = text_column(events[col], strip=True)
        if blank.any():
            raise UnusualError(f"a blank {col}")
    ids = events["event_id"].cast(pl.Utf8).str.strip_chars()
    if ids.is_duplicated().any():
        raise UnusualError("a repeated event id")
    dates = _local_dates(events["at"], card.timezone)
    uniq = dates.unique().to_list()
    periods = {d: Period.containing(d, card.period) for d in uniq if isinstance(d, dt.date)}
    in_period = dates.is_in([d for d, p in periods.items() if p == period]).to_numpy()
    reps = events["rep"].cast(pl.Utf8).str.strip_chars().to_numpy().astype(object)
    # Every field is validated over all rows (the row path refuses a bad cell in any period).
    columns: dict[str, Column] = {}
    for name, kind in types.items():
        if name in events.columns:
            columns[name] = typed_column(events[name], kind, (None, None))
        else:
            columns[name] = Text(np.full(len(events), None, dtype=object), np.ones(len(events), dtype=bool))
    columns["rep"] = Text(reps, None)
    index = {s: i for i, s in enumerate(subjects)}
    sel = np.flatnonzero(in_period)
    rep_index = np.array([index.get(r, -1) for r in reps[sel]], dtype=np.int64)
    if (rep_index < 0).any():
        raise UnusualError("events of reps that are not appraised")
    ctx = Ctx(len(sel))
    env = {name: _take(col, sel) for name, col in columns.items()}
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
        frame: dict[str, Any] = {"g": rep_index[mask]}
        if m.fn == "count":
            counts = np.bincount(frame["g"], minlength=n).astype(np.int64)
            out[m.name] = Num(counts, 1, None)
            continue
        assert m.field is not None
        field = env[m.field]
        present = mask & (~field.na if field.na is not None else True)
        g = rep_index[present]
        if m.fn == "count_distinct":
            if isinstance(field, Num):
                vals = np.broadcast_to(np.asarray(field.num, dtype=np.int64), (len(sel),))[present]
            else:
                vals = field.val[present]
            df = pl.DataFrame({"g": g, "v": list(vals) if isinstance(field, Text) else vals})
            agg = df.group_by("g").agg(pl.col("v").n_unique().alias("c"))
            counts = np.zeros(n, dtype=np.int64)
            counts[agg["g"].to_numpy()] = agg["c"].to_numpy()
            out[m.name] = Num(counts, 1, None)
            continue
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
