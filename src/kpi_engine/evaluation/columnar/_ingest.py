"""Anything tabular → Polars columns → exact scaled integers, with no Python object per cell.

Accepted: Polars frames (eager or lazy), Arrow tables and record batches, pandas frames, DuckDB
relations, ``Frame`` (a file read by ``kpi_engine.io``), a row-path ``Table`` and Python rows.
Decimal text becomes an int64 numerator over one power of ten per column. Only the common
forms are vectorised; anything unusual (a bad number, a float column, a value that might not
fit, a blank subject …) raises ``UnusualError`` and the caller runs the row path, which reports
the located error or handles the rare form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any

import numpy as np

from kpi_engine.evaluation.columnar._columns import Bool, Column, Num, Text
from kpi_engine.evaluation.columnar._plan import Frame
from kpi_engine.evaluation.records import Table
from kpi_engine.language.spec import InputType

_DEC = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ["true", "yes", "1", "y"]
_FALSE = ["false", "no", "0", "n"]
_MAX_DIGITS = 17  # 10**17 < 2**62 / 40: room for a few additions before the checked path is needed


class UnusualError(Exception):
    """The data has something the vectorised path leaves to the row path."""


def to_polars(data: Any) -> Any:
    """A Polars DataFrame for any accepted input; raises ``UnusualError`` for what it cannot take."""
    import polars as pl  # noqa: PLC0415 - optional dependency

    if isinstance(data, Frame):
        data = data.data
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        import pyarrow as pa  # type: ignore[import-untyped]  # noqa: PLC0415

        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        return pl.from_arrow(table)
    if module == "pandas":
        return pl.from_pandas(data)
    if module in {"duckdb", "_duckdb"}:
        return pl.from_arrow(data.arrow())
    if isinstance(data, Table):
        if data.header:
            columns = list(zip(*(cells[: len(data.header)] for _, cells in data.cells), strict=False))
            if not columns:
                columns = [() for _ in data.header]
            return pl.DataFrame(
                {name: list(col) for name, col in zip(data.header, columns, strict=True)},
                schema=dict.fromkeys(data.header, pl.Utf8),
            )
        return _from_dicts([row for _, row in data.dict_rows])
    if isinstance(data, Iterable):
        items = list(data)
        if items and all(isinstance(t, Table) for t in items):
            if len(items) != 1:
                raise UnusualError("several tables")
            return to_polars(items[0])
        if not all(isinstance(r, Mapping) for r in items):
            raise UnusualError("rows that are not mappings")
        return _from_dicts(items)
    raise UnusualError(f"unsupported input {type(data).__name__}")


def _from_dicts(rows: list[Mapping[str, Any]]) -> Any:
    import polars as pl  # noqa: PLC0415

    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row))
    columns: dict[str, list[str | None]] = {}
    for key in keys:
        col: list[str | None] = []
        for row in rows:
            v = row.get(key)
            if v is None or isinstance(v, str):
                col.append(v)
            elif isinstance(v, int | Decimal) and not isinstance(v, bool):
                col.append(str(v))
            else:
                raise UnusualError(f"a {type(v).__name__} cell")
        columns[str(key)] = col
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.Utf8))


def text_column(series: Any, *, strip: bool) -> tuple[Any, Any]:
    """Strings (object array) and the blank mask of a column."""
    import polars as pl  # noqa: PLC0415

    s = series if series.dtype == pl.Utf8 else series.cast(pl.Utf8)
    stripped = s.str.strip_chars()
    blank = (stripped.is_null() | (stripped == "")).to_numpy()
    values = (stripped if strip else s).to_numpy().astype(object)
    return values, blank


def number_column(series: Any, kind: InputType, bounds: tuple[Decimal | None, Decimal | None]) -> Num:
    """Exact scaled integers of a number column; raises ``UnusualError`` on anything the row path must see."""
    import polars as pl  # noqa: PLC0415

    dtype = series.dtype
    if dtype.is_integer():
        na = series.is_null().to_numpy()
        values = series.fill_null(0).cast(pl.Int64).to_numpy()
        scale = 0
    elif dtype == pl.Null:
        return Num(0, 1, np.ones(len(series), dtype=bool))
    else:
        if dtype.is_float() or dtype == pl.Boolean:
            raise UnusualError(f"a {dtype} column")
        allow = kind in {"ratio", "number", "score"}
        s = pl.col("v").cast(pl.Utf8).str.strip_chars()
        blank = s.is_null() | (s == "")
        pct = s.str.ends_with("%") if allow else pl.lit(value=False)
        body = pl.when(pct).then(s.str.strip_suffix("%").str.strip_chars_end()).otherwise(s)
        body = pl.when(blank).then(pl.lit("0")).otherwise(body)
        unsigned = body.str.strip_chars_start("+-")
        split = unsigned.str.split_exact(".", 1)
        whole = split.struct.field("field_0").fill_null("")
        frac = split.struct.field("field_1").fill_null("")
        parts = pl.DataFrame({"v": series}).select(
            blank.alias("na"),
            pct.alias("pct"),
            body.str.contains(_DEC).alias("ok"),
            body.str.starts_with("-").alias("neg"),
            whole.alias("whole"),
            frac.alias("frac"),
        )
        stats = parts.select(
            pl.col("ok").all(),
            pl.col("pct").any(),
            pl.col("frac").str.len_chars().max(),
            pl.col("whole").str.len_chars().max(),
        ).row(0)
        if not stats[0]:
            raise UnusualError("a number in an unusual form")
        has_pct, scale, width = bool(stats[1]), _int(stats[2]), _int(stats[3])
        if width + scale + (2 if has_pct else 0) > _MAX_DIGITS:
            raise UnusualError("a number too long for the vectorised path")
        digits = pl.col("whole") + pl.col("frac").str.pad_end(scale, "0")
        number = pl.when(digits == "").then(pl.lit("0")).otherwise(digits).cast(pl.Int64)
        number = pl.when(pl.col("neg")).then(-number).otherwise(number)
        if has_pct:
            number = pl.when(pl.col("pct")).then(number).otherwise(number * 100)
            scale += 2
        values = parts.select(number).to_series().to_numpy()
        na = parts["na"].to_numpy()
    unit = 10**scale
    known = ~na
    if kind == "count" and ((values[known] % unit != 0).any() or (values[known] < 0).any()):
        raise UnusualError("a count that is not a whole non-negative number")
    low, high = bounds
    if low is not None and (values[known] < max(ceil(Fraction(low) * unit), -(2**62))).any():
        raise UnusualError("a value below its minimum")
    if high is not None and (values[known] > min(floor(Fraction(high) * unit), 2**62)).any():
        raise UnusualError("a value above its maximum")
    return Num(np.where(na, 0, values).astype(np.int64), unit, na if na.any() else None)


def _int(value: Any) -> int:
    return int(value or 0)


def bool_column(series: Any) -> Bool:
    import polars as pl  # noqa: PLC0415

    if series.dtype == pl.Boolean:
        na = series.is_null().to_numpy()
        return Bool(series.fill_null(value=False).to_numpy(), na if na.any() else None)
    s = series.cast(pl.Utf8).str.strip_chars()
    na_s = (s.is_null() | (s == "")).to_numpy()
    low = s.str.to_lowercase()
    yes = low.is_in(_TRUE).to_numpy()
    no = low.is_in(_FALSE).to_numpy()
    if not (yes | no | na_s).all():
        raise UnusualError("a value that is not true or false")
    return Bool(yes, na_s if na_s.any() else None)


def typed_column(series: Any, kind: InputType, bounds: tuple[Decimal | None, Decimal | None]) -> Column:
    """The exact column of a record or event field of ``kind``."""
    if kind == "bool":
        return bool_column(series)
    if kind in {"text", "date"}:
        values, blank = text_column(series, strip=False)
        if kind == "date":
            import polars as pl  # noqa: PLC0415

            s = series.cast(pl.Utf8).str.strip_chars()
            if not (s.str.contains(_DATE) | s.is_null() | (s == "")).all():
                raise UnusualError("a date in an unusual form")
            values = s.to_numpy().astype(object)
        values = np.where(blank, None, values)
        return Text(values, blank if blank.any() else None)
    return number_column(series, kind, bounds)
