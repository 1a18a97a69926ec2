"""Plain decimal text (``-12.50``, ``.5``, ``+7``) → exact int64 numerators, parsed from the bytes.

A text column arrives as Arrow buffers (offsets and UTF-8 bytes). Every byte is classified once;
a column whose bytes are all digits, one optional leading sign and at most one dot per cell is
laid out in a small matrix (one row per cell, the dots in one column), so that each matrix
column has one fixed power of ten, and the numerators are a weighted sum of its digit columns.
No float, no rounding: the value of ``d₁d₂…dₖ.f₁…fⱼ`` at scale ``S`` is the integer
``d₁d₂…dₖf₁…fⱼ·10^(S−j)``. Anything else (spaces, percents, exponents, a lone sign, two dots,
more than 17 digits) returns ``None`` and the caller's general path decides, as before.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from kpi_engine._columns import Num
from kpi_engine.language.spec import InputType

_MAX_DIGITS = 17  # as in _ingest: 10**17 < 2**62 / 40


def parse_plain(series: Any) -> tuple[Any, int, Any] | None:
    """Numerators, scale and blank mask of a text column of plain decimals, or ``None``.

    Blank means null or the empty string (the row path reads both as missing). ``None`` means the
    column has a cell this parser leaves to the general path (which may still accept it, e.g. a
    percent or surrounding spaces, or refuse it with its location).
    """
    import pyarrow as pa  # noqa: PLC0415 - optional dependency

    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type == pa.string():
        arr = arr.cast(pa.large_string())
    if arr.type != pa.large_string():
        return None
    n = len(arr)
    validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    start, end = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(data_buf, dtype=np.uint8, count=end - start, offset=start)
        if end > start
        else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1] - start
    lengths = np.diff(offsets)
    na = lengths == 0
    if validity is not None and arr.null_count:
        na |= arr.is_null().to_numpy(zero_copy_only=False)
    # Every byte must be a digit, a dot or a sign: counted, not combined into masks (each fresh
    # byte-sized mask costs page faults; two buffers are reused).
    mask = np.empty(len(data), dtype=bool)
    shifted = np.subtract(data, np.uint8(ord("0")))  # wraps below '0': digits are the bytes under 10
    counted = int(np.count_nonzero(np.less(shifted, 10, out=mask)))
    del shifted
    dots = np.flatnonzero(np.equal(data, ord("."), out=mask))
    counted += len(dots)
    signs = np.flatnonzero(np.equal(data, ord("-"), out=mask) | np.equal(data, ord("+")))
    if counted + len(signs) != len(data):
        return None
    has_sign = np.zeros(n, dtype=bool)
    negative = np.zeros(n, dtype=bool)
    if len(signs):
        # The cell holding byte p is the last one starting at or before p (empty cells start there too).
        at = np.searchsorted(starts, signs, side="right") - 1
        if (starts[at] != signs).any() or na[at].any():
            return None  # a sign that does not open its cell
        has_sign[at] = True
        negative[at] = data[signs] == ord("-")
    has_dot = np.zeros(n, dtype=bool)
    if len(dots) == n and not na.any() and ((starts < dots) & (dots < starts + lengths)).all():
        anchor = dots - starts  # the common case: one dot in every cell
        has_dot[:] = True
    else:
        anchor = lengths.copy()  # where each cell's dot is (its length when it has none)
        if len(dots):
            rows = np.searchsorted(starts, dots, side="right") - 1
            if (rows[1:] == rows[:-1]).any():
                return None  # two dots in one cell
            anchor[rows] = dots - starts[rows]
            has_dot[rows] = True
    digits = lengths - has_sign - has_dot
    if ((digits < 1) & ~na).any():
        return None  # a lone sign or dot
    scale = max(int((lengths - anchor).max()) - 1, 0) if n else 0  # digits after the dot
    whole = int(anchor.max()) if n else 0  # the integer part's width, sign included
    if int((anchor - has_sign).max() if n else 0) + scale > _MAX_DIGITS:
        return None
    # Cells aligned on their dots: column c of the alignment holds byte k = anchor - whole + c of
    # each cell (when 0 <= k < length; a cell too short reads '0'). Read left to right, the digit
    # columns give the numerator by Horner's rule: values = 10·values + digit, so every digit
    # ends up weighing its power of ten at the column's scale. One gather per column into
    # buffers reused across columns (fresh memory is what costs here); intp indices need no
    # conversion in ``take``.
    first = starts + anchor - whole  # the byte index of column 0 in each cell
    k0 = anchor - whole
    source = np.empty(n, dtype=np.intp)
    offset = np.empty(n, dtype=np.intp)
    inside = np.empty(n, dtype=bool)
    outside = np.empty(n, dtype=bool)
    byte = np.empty(n, dtype=np.uint8)
    values = np.zeros(n, dtype=np.int64)
    for col in range(whole + 1 + scale):
        if col == whole:
            continue  # the dots
        np.add(k0, col, out=offset)
        np.less(offset, 0, out=outside)
        np.greater_equal(offset, lengths, out=inside)
        np.logical_or(outside, inside, out=outside)
        np.add(first, col, out=source)
        source[outside] = 0
        np.take(data, source, out=byte)
        byte[outside] = ord("0")  # a cell too short for this column
        np.maximum(byte, ord("0"), out=byte)  # a sign or dot byte counts 0
        byte -= ord("0")
        values *= 10
        values += byte
    np.negative(values, out=values, where=negative)
    values[na] = 0  # a null cell's bytes (if any) are not read
    return values, scale, na


def decimal_number_columns(
    frame: Any, specs: dict[str, tuple[InputType, tuple[Decimal | None, Decimal | None]]]
) -> dict[str, Num]:
    """Exact number columns of the decimal128 columns of ``frame`` named in ``specs``.

    The physical integers of every column are cast to int64 in one Polars select (the columns in
    parallel); a value beyond int64 makes the cast null and raises ``UnusualError`` (the row
    path takes the run). Each column is then checked as ``_ingest`` checks any number column.
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    from kpi_engine.evaluation.columnar._ingest import checked  # noqa: PLC0415 - it imports us

    cast = frame.select([pl.col(name).to_physical().cast(pl.Int64, strict=False).alias(name) for name in specs])
    out: dict[str, Num] = {}
    for name, (kind, bounds) in specs.items():
        source, ints = frame[name], cast[name]
        nulls = source.null_count()
        scale = int(source.dtype.scale or 0)
        if ints.null_count() != nulls:  # a wide decimal (decimal128(38,18)): its trailing zeros dropped
            ints, scale = narrowed(source)
        na = source.is_null().to_numpy() if nulls else np.zeros(len(source), dtype=bool)
        values, scale = trimmed((ints.fill_null(0) if nulls else ints).to_numpy(), scale)
        out[name] = checked(values, scale, na, kind, bounds)
    return out


_TRIM_ABOVE = 6  # places: a column declared with more (decimal128(38,18)) is read at the scale its values need


def trimmed(values: Any, scale: int) -> tuple[Any, int]:
    """Int64 numerators at ``scale`` with the common trailing zeros dropped, when the scale is wide.

    ``decimal128(38,18)`` holds 105.77 as 105770000000000000000 over 10**18; a denominator that large
    leaves the kernel no room for products, so the largest power of ten dividing every value is
    found (bisection, one NumPy pass a step) and divided out. No value changes.
    """
    if scale <= _TRIM_ABOVE or not len(values):
        return values, scale
    low, high = 0, min(scale, 18)  # 10**18 is the largest power of ten in int64
    while low < high:
        mid = (low + high + 1) // 2
        if not np.any(values % np.int64(10**mid)):
            low = mid
        else:
            high = mid - 1
    return (values // np.int64(10**low) if low else values), scale - low


def narrowed(series: Any) -> tuple[Any, int]:
    """The int64 numerators and scale of a decimal column whose physical integers exceed int64.

    A ``decimal128(38,18)`` column holds ``105.77`` as ``105770000000000000000``: the column's
    scale is lowered by the largest power of ten dividing every value (found by bisection, each
    step one exact Int128 pass in Polars), which changes no value. Raises ``UnusualError`` when
    the values still do not fit in int64 (the row path takes them, exactly).
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    from kpi_engine._columns import UnusualError  # noqa: PLC0415

    scale = int(series.dtype.scale or 0)
    phys = series.to_physical()
    frame = pl.DataFrame({"v": phys})

    def divisible(places: int) -> bool:
        unit = pl.lit(10**places, dtype=pl.Int128)
        return bool(frame.select((pl.col("v") % unit == 0).all()).item())

    low, high = 0, scale  # divisible by 10**low; the largest such power is searched in [low, high]
    while low < high:
        mid = (low + high + 1) // 2
        if divisible(mid):
            low = mid
        else:
            high = mid - 1
    ints = frame.select((pl.col("v") // pl.lit(10**low, dtype=pl.Int128)).cast(pl.Int64, strict=False))["v"]
    if ints.null_count() != phys.null_count():
        raise UnusualError("a decimal beyond the int64 range", form=True)
    return ints, scale - low


_FLOAT_DIGITS = 15  # as _numbers.FLOAT_DIGITS: a float stands for a decimal of at most 15 significant digits
_POW10 = np.array([float(f"1e{e}") for e in range(-_MAX_DIGITS - 1, _MAX_DIGITS + 2)])  # correctly rounded
_INT10 = np.array([10**e for e in range(_MAX_DIGITS + 1)], dtype=np.int64)


def _pow10(exponents: Any) -> Any:
    return _POW10[exponents + _MAX_DIGITS + 1]


_EXACT10 = [10.0**i for i in range(23)]  # exact doubles
_SAMPLE = 4096
_SHORT = 1e15  # numerators below it have at most 15 digits (and rint(x·10^S) is exact to 0.25)


def _one_scale(x: Any, largest: float) -> tuple[Any, int] | None:
    """Numerators of ``x`` at the smallest common scale ``S`` every cell round-trips at, when small.

    While ``max|x|·10^S < 10^15``, ``rint(x·10^S)`` is within 0.25 of ``D·10^S`` for the short
    decimal ``D`` of a cell with at most ``S`` places (the same bound as below), and an integer
    below 10^15 that divides back to ``x`` is a decimal of at most 15 digits reading as ``x``: by
    uniqueness it is ``D``. A cell with more places than ``S`` cannot divide back, so passing is
    monotone in ``S`` and the smallest passing scale is found by bisection (a few passes over the
    column, instead of one per trailing zero). ``None``: no such scale (the general reading).
    """
    high = 0
    while high < _MAX_DIGITS and largest * _EXACT10[high + 1] < _SHORT:
        high += 1
    if largest * _EXACT10[high] >= _SHORT:
        return None

    def at(cells: Any, scale: int) -> Any:
        ints = np.rint(cells * _EXACT10[scale])
        return ints if (ints / _EXACT10[scale] == cells).all() else None

    def smallest(cells: Any, low: int, high: int) -> tuple[Any, int] | None:
        found = at(cells, high)
        if found is None:
            return None
        while low < high:  # the smallest passing scale is in [low, high]
            mid = (low + high) // 2
            ints = at(cells, mid)
            if ints is None:
                low = mid + 1
            else:
                high, found = mid, ints
        return found, high

    # The scale a sample needs is a lower bound for the column's: usually the column's own, so one
    # pass over the whole column confirms it.
    sample = smallest(x[:_SAMPLE], 0, high)
    if sample is not None and (whole := at(x, sample[1])) is not None:
        return whole.astype(np.int64), sample[1]
    result = smallest(x, sample[1] if sample is not None else 0, high)
    return None if result is None else (result[0].astype(np.int64), result[1])


def float_numerators(series: Any) -> tuple[Any, int, Any]:
    """Numerators, scale and null mask of a float column, each cell read as its shortest repr.

    The row path reads a float ``x`` as the decimal of ``repr(x)`` when it has at most 15
    significant digits (``_numbers.float_text``). Such a decimal ``D`` is the only one of at most
    15 digits whose nearest double is ``x`` (DBL_DIG), so it is found without text: with ``k``
    places giving ``x`` 15 significant digits, ``m = rint(x·10^k)`` is ``D·10^k`` (both
    operations are correctly rounded and ``10^k`` is exact for ``k ≤ 22``, so the error stays
    under 0.25) and ``D`` is accepted only if ``m / 10^k`` (again correctly rounded) gives ``x``
    back. Trailing zeros are then dropped and the column takes its largest scale. Float32 cells
    are widened to doubles first, as the row path's Python floats are.

    Raises:
        UnusualError: for a value that is not finite, not a short decimal, or beyond the
            kernel's 17 digits: the row path decides (its located error or its exact reading).
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    from kpi_engine._columns import UnusualError  # noqa: PLC0415

    na = series.is_null().to_numpy()
    x = series.cast(pl.Float64).fill_null(0.0).to_numpy()
    if not np.isfinite(x).all():
        raise UnusualError("a float that is not finite")
    ax = np.abs(x)
    quick = _one_scale(x, float(ax.max()) if len(ax) else 0.0)
    if quick is not None:
        return quick[0], quick[1], na
    zero = ax == 0
    if ((ax >= 10.0**_MAX_DIGITS) | ((ax < _POW10[0] * 10) & ~zero)).any():
        raise UnusualError("a float beyond the kernel's 17 digits", form=True)
    with np.errstate(divide="ignore"):
        e = np.floor(np.log10(np.where(zero, 1.0, ax))).astype(np.int64)
    e -= ax < _pow10(e)  # log10 rounded: the exact decade (comparisons of doubles, no rounding)
    e += ax >= _pow10(e + 1)
    e[zero] = 0
    k = np.minimum(_FLOAT_DIGITS - 1 - e, 22)
    up = k >= 0
    p = np.array([10.0**i for i in range(23)])[np.abs(k)]  # exact powers of ten
    m = np.rint(np.where(up, x * p, x / p))
    back = np.where(up, m / p, m * p) == x
    if not back.all():
        if (k[~back] < _FLOAT_DIGITS - 1 - e[~back]).any():  # 10**k capped at 22: too small to tell here
            raise UnusualError("a float beyond the kernel's 17 digits", form=True)
        raise UnusualError("a float that is not a short decimal (more than 15 significant digits)")
    ints = m.astype(np.int64)
    k[zero] = 0
    for _ in range(_FLOAT_DIGITS + _MAX_DIGITS + 1):  # trailing zeros dropped, one place per round
        z = (ints % 10 == 0) & (ints != 0)
        if not z.any():
            break
        np.floor_divide(ints, 10, out=ints, where=z)
        k -= z
    scale = max(int(k.max()), 0) if len(k) else 0
    shift = scale - k
    if (shift > _MAX_DIGITS).any():
        raise UnusualError("a float column beyond the kernel's 17 digits", form=True)
    if (np.abs(ints) >= _INT10[_MAX_DIGITS - shift]).any():
        raise UnusualError("a float column beyond the kernel's 17 digits", form=True)
    return ints * _INT10[shift], scale, na
