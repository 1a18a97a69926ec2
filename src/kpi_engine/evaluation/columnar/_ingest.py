"""Anything tabular → Polars columns → exact scaled integers, with no Python object per cell.

Accepted: Polars frames (eager or lazy), Arrow tables and record batches, pandas frames, DuckDB
relations, ``Frame`` (a file read by ``kpi_engine.io``), a row-path ``Table`` and Python rows.
Decimal text becomes an int64 numerator over one power of ten per column. Only the common
forms are vectorised (floats by their shortest repr, wide decimals by their common trailing
zeros, in ``_decimals``); anything unusual (a bad number, a float that is not a short decimal, a value that might not
fit, a blank subject …) raises ``UnusualError`` and the caller runs the row path, which reports
the located error or handles the rare form.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any, TypeVar

import numpy as np

from kpi_engine._columns import Bool, Column, Num, Text, UnusualError
from kpi_engine.evaluation.frames import Frame
from kpi_engine.evaluation.records import Table
from kpi_engine.language.spec import InputType

_DEC = r"^[+-]?(\d+\.?\d*|\.\d+)$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ["true", "yes", "1", "y"]
_FALSE = ["false", "no", "0", "n"]
_MAX_DIGITS = 17  # 10**17 < 2**62 / 40: room for a few additions before the checked path is needed
_MAX_SCALE = 18  # places: an int64 numerator holds no more; Polars' decimals stop at 38 (47 places raised)

_F = TypeVar("_F", bound=Callable[..., Any])


def _boundary(fn: _F) -> _F:
    """Make what Polars or a codec raises on a cell unusual data (``UnusualError``).

    A decimal Polars cannot hold, a lone surrogate, an overflow: the row path then reports it at
    its cell with its code, as for any other bad cell.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import polars as pl  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except (pl.exceptions.PolarsError, OverflowError, UnicodeError) as exc:
            raise UnusualError(f"{type(exc).__name__} while reading the columns") from None

    return wrapper  # type: ignore[return-value]


@_boundary
def to_polars(data: Any) -> Any:
    """A Polars DataFrame for any accepted input; raises ``UnusualError`` for what it cannot take.

    Columns of bytes or nested values (lists, structs, objects), and floats that are not finite,
    are the row path's to refuse at their cells: the kernel would cast them to text ("NaN").
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    frame = _to_polars(data)
    for name, dtype in frame.schema.items():
        if dtype in (pl.Binary, pl.Object) or dtype.is_nested():
            raise UnusualError(f"a {dtype} column '{name}'")
        if dtype.is_float() and not frame[name].drop_nulls().is_finite().all():
            raise UnusualError(f"a float that is not finite in '{name}'")
    return frame


def _to_polars(data: Any) -> Any:
    import polars as pl  # noqa: PLC0415 - optional dependency

    if isinstance(data, Frame):
        data = data.data
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow":
        import pyarrow as pa  # noqa: PLC0415

        table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
        return pl.from_arrow(table)
    if module == "pandas":
        return pl.from_pandas(data)
    if module in {"duckdb", "_duckdb"}:
        return pl.from_arrow(data.to_arrow_table() if hasattr(data, "to_arrow_table") else data.arrow())
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
            return _to_polars(items[0])
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


@_boundary
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
    elif isinstance(dtype, pl.Decimal):
        values, scale, na = _decimal_numerators(series)
    elif dtype.is_float():  # each cell the decimal of its shortest repr, as on the row path
        from kpi_engine.evaluation.columnar._decimals import float_numerators  # noqa: PLC0415 - it imports us

        values, scale, na = float_numerators(series)
    else:
        if dtype not in (pl.Utf8, pl.Categorical):  # bools, bytes, dates, lists: the row path decides
            raise UnusualError(f"a {dtype} column")
        name = series.name or "v"
        values, scale, na = text_numbers(pl.DataFrame({name: series}), {name: kind})[name]
    return _checked(values, scale, na, kind, bounds)


def _decimal_numerators(series: Any) -> tuple[Any, int, Any]:
    """Numerators of a Polars decimal column: its physical integers, checked to fit in int64."""
    import polars as pl  # noqa: PLC0415

    scale = int(series.dtype.scale or 0)
    nulls = series.null_count()
    na = series.is_null().to_numpy() if nulls else np.zeros(len(series), dtype=bool)
    ints = series.to_physical().cast(pl.Int64, strict=False)
    if ints.null_count() != nulls:  # a wide decimal: its common trailing zeros dropped (``_decimals``)
        from kpi_engine.evaluation.columnar._decimals import narrowed  # noqa: PLC0415 - it imports us

        ints, scale = narrowed(series)
    from kpi_engine.evaluation.columnar._decimals import trimmed  # noqa: PLC0415 - it imports us

    values, scale = trimmed((ints.fill_null(0) if nulls else ints).to_numpy(), scale)
    return values, scale, na


def _checked(values: Any, scale: int, na: Any, kind: InputType, bounds: tuple[Decimal | None, Decimal | None]) -> Num:
    unit = 10**scale
    has_na = bool(na.any())
    known = values[~na] if has_na else values
    if not known.size:
        return Num(np.zeros(len(values), dtype=np.int64), unit, na if has_na else None, 0)
    smallest, largest = int(known.min()), int(known.max())  # one pass each; every check below reads them
    if kind == "count" and (smallest < 0 or (unit != 1 and (known % unit != 0).any())):
        raise UnusualError("a count that is not a whole non-negative number")
    low, high = bounds
    if low is not None and smallest < max(ceil(Fraction(low) * unit), -(2**62)):
        raise UnusualError("a value below its minimum")
    if high is not None and largest > min(floor(Fraction(high) * unit), 2**62):
        raise UnusualError("a value above its maximum")
    out = np.where(na, 0, values) if has_na else values
    if out.dtype != np.int64:
        out = out.astype(np.int64)
    # The measured magnitude is a proven bound for the kernel's range analysis (N/A rows hold 0).
    return Num(out, unit, na if has_na else None, max(-smallest, largest, 0))


checked = _checked  # for _decimals (the same checks for decimal128 columns read in one batch)


@_boundary
def text_numbers(frame: Any, kinds: dict[str, InputType]) -> dict[str, tuple[Any, int, Any]]:
    """Numerators, scale and blank mask of text number columns.

    Plain decimals (``-12.50``) go through Polars' decimal parser at the column's largest scale;
    columns with percents or other forms take a string-splitting path.
    """
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._decimals import parse_plain  # noqa: PLC0415

    out: dict[str, tuple[Any, int, Any]] = {}
    for name in list(kinds):  # plain decimals from their bytes (NumPy); other forms below, as before
        parsed = parse_plain(frame[name]) if frame[name].dtype == pl.Utf8 else None
        if parsed is not None:
            out[name] = parsed
    kinds = {name: kind for name, kind in kinds.items() if name not in out}
    if not kinds:
        return out
    stripped = {name: pl.col(name).cast(pl.Utf8).str.strip_chars() for name in kinds}
    stats = frame.select(
        [
            e
            for name, s in stripped.items()
            for e in (
                (s.is_null() | (s == "") | s.str.contains(_DEC)).all().alias(f"{name}\0plain"),
                (s.str.len_chars() - s.str.find(".", literal=True) - 1).max().alias(f"{name}\0scale"),
            )
        ]
    ).row(0)
    scales = {name: _int(stats[2 * i + 1]) for i, name in enumerate(kinds) if stats[2 * i]}
    plain = {name: scale for name, scale in scales.items() if scale <= _MAX_SCALE}
    if plain:
        decimals = frame.select(
            [stripped[name].replace("", None).str.to_decimal(scale=scale).alias(name) for name, scale in plain.items()]
            + [(stripped[name].is_null() | (stripped[name] == "")).alias(f"{name}\0na") for name in plain]
        )
        for name in plain:
            na = decimals[f"{name}\0na"].to_numpy()
            if decimals[name].null_count() != int(na.sum()):
                raise UnusualError("a number Polars does not read")
            values, scale, _ = _decimal_numerators(decimals[name])
            out[name] = (values, scale, na)
    rest = {name: kind for name, kind in kinds.items() if name not in plain}
    if rest:
        out.update(_split_numbers(frame, rest))
    return out


def _split_numbers(frame: Any, kinds: dict[str, InputType]) -> dict[str, tuple[Any, int, Any]]:
    """Numerators of text number columns with percents, by splitting the text in Polars."""
    import polars as pl  # noqa: PLC0415

    parts = []
    for name, kind in kinds.items():
        s = pl.col(name).cast(pl.Utf8).str.strip_chars()
        blank = s.is_null() | (s == "")
        # As the records check: a percent is a ratio's hundredth and a score's points (92% is 92);
        # anywhere else it is refused, by the row path (the % makes the cell unusual here).
        pct = s.str.ends_with("%") if kind in {"ratio", "score"} else pl.lit(value=False)
        body = pl.when(pct).then(s.str.strip_suffix("%").str.strip_chars_end()).otherwise(s)
        body = pl.when(blank).then(pl.lit("0")).otherwise(body)
        split = body.str.strip_chars_start("+-").str.split_exact(".", 1)
        parts += [
            blank.alias(f"{name}\0na"),
            pct.alias(f"{name}\0pct"),
            body.str.contains(_DEC).alias(f"{name}\0ok"),
            body.str.starts_with("-").alias(f"{name}\0neg"),
            split.struct.field("field_0").fill_null("").alias(f"{name}\0whole"),
            split.struct.field("field_1").fill_null("").alias(f"{name}\0frac"),
        ]
    table = frame.select(parts)
    stats = table.select(
        [
            e
            for name in kinds
            for e in (
                pl.col(f"{name}\0ok").all(),
                pl.col(f"{name}\0pct").any(),
                pl.col(f"{name}\0frac").str.len_chars().max(),
                pl.col(f"{name}\0whole").str.len_chars().max(),
            )
        ]
    ).row(0)
    numbers = []
    scales: dict[str, int] = {}
    for i, (name, kind) in enumerate(kinds.items()):
        ok, has_pct, scale, width = (
            bool(stats[4 * i]),
            bool(stats[4 * i + 1]),
            _int(stats[4 * i + 2]),
            _int(stats[4 * i + 3]),
        )
        if not ok:
            raise UnusualError("a number in an unusual form")
        if width + scale + (2 if has_pct else 0) > _MAX_DIGITS:
            raise UnusualError("a number of more than 17 digits")
        digits = pl.col(f"{name}\0whole") + pl.col(f"{name}\0frac").str.pad_end(scale, "0")
        number = pl.when(digits == "").then(pl.lit("0")).otherwise(digits).cast(pl.Int64, strict=False)
        number = pl.when(pl.col(f"{name}\0neg")).then(-number).otherwise(number)
        if has_pct and kind == "ratio":
            number = pl.when(pl.col(f"{name}\0pct")).then(number).otherwise(number * 100)
            scale += 2
        scales[name] = scale
        numbers.append(number.alias(name))
    values = table.select(numbers)
    if any(values[name].null_count() for name in kinds):
        raise UnusualError("digits Polars does not read")
    return {name: (values[name].to_numpy(), scales[name], table[f"{name}\0na"].to_numpy()) for name in kinds}


@_boundary
def text_number_columns(
    frame: Any, specs: dict[str, tuple[InputType, tuple[Decimal | None, Decimal | None]]]
) -> dict[str, Num]:
    """Exact number columns for every text column of ``frame`` named in ``specs`` (in one batch)."""
    raw = text_numbers(frame, {name: kind for name, (kind, _) in specs.items()})
    return {name: _checked(*raw[name], *specs[name]) for name in specs}


def _int(value: Any) -> int:
    return int(value or 0)


@_boundary
def bool_column(series: Any) -> Bool:
    import polars as pl  # noqa: PLC0415

    if series.dtype == pl.Boolean:
        na = series.is_null().to_numpy()
        return Bool(series.fill_null(value=False).to_numpy(), na if na.any() else None)
    s = series.cast(pl.Utf8).str.strip_chars()
    na_s = (s.is_null() | (s == "")).to_numpy()
    low = s.str.to_lowercase()
    yes = low.is_in(_TRUE).fill_null(value=False).to_numpy()  # a blank cell is neither (N/A)
    no = low.is_in(_FALSE).fill_null(value=False).to_numpy()
    if not (yes | no | na_s).all():
        raise UnusualError("a value that is not true or false")
    return Bool(yes, na_s if na_s.any() else None)


@_boundary
def typed_column(series: Any, kind: InputType, bounds: tuple[Decimal | None, Decimal | None]) -> Column:
    """The exact column of a record or event field of ``kind``."""
    if kind == "bool":
        return bool_column(series)
    if kind in {"text", "date"}:
        values, blank = text_column(series, strip=False)
        if kind == "date":
            import polars as pl  # noqa: PLC0415

            s = series.cast(pl.Utf8).str.strip_chars()
            blank_s = s.is_null() | (s == "")
            if not (s.str.contains(_DATE) | blank_s).all():
                raise UnusualError("a date in an unusual form")
            # The shape is not enough: 2026-02-30 matches it. A date that does not exist goes to the
            # row path, which refuses it at its cell.
            if (s.str.to_date("%Y-%m-%d", strict=False).is_null() & ~blank_s).any():
                raise UnusualError("a date that does not exist")
            values = s.to_numpy().astype(object)
        values = np.where(blank, None, values)
        return Text(values, blank if blank.any() else None)
    return number_column(series, kind, bounds)
