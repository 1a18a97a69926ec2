"""The power operator over exact columns: ``x ** k`` for the constant whole exponent the language allows.

The parser admits only a constant integer exponent from -64 to 64 (``expr/_parse.py``), so a
power is at most a dozen exact products (squaring) and, for a negative exponent, one exact
division, where a zero base is N/A as on the row path (``0 ** 0`` is 1). Products that could
leave int64 mark their rows (``_columns.mul``), and the run is redone in Python integers; there,
a value beyond the row path's exact range (about 1e±999, where it reports ``out_of_range``) is
handed to the row path, which reports it or computes it.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from kpi_engine.evaluation.columnar._columns import Ctx, Num, n_div, n_mul
from kpi_engine.evaluation.columnar._ingest import UnusualError

_MAX_BITS = 3000  # below 1e±999 (3,318 bits): larger values go to the row path


def _bits(x: object) -> int:
    if isinstance(x, int):
        return abs(x).bit_length()
    assert isinstance(x, np.ndarray)
    if x.dtype != object:
        return 63
    return max((abs(int(v)).bit_length() for v in x.tolist()), default=0)


def power(ctx: Ctx, base: Num, exponent: int) -> Num:
    """``base ** exponent`` row by row, exactly; N/A where the base is N/A, or zero with a negative exponent.

    Raises:
        UnusualError: a value too large or too small for the row path's exact range.
    """
    result = Num(1, 1, base.na)
    square = base
    k = abs(exponent)
    first = True
    while k:
        if k & 1:
            result = square if first else n_mul(ctx, result, square)
            first = False
        k >>= 1
        if k:
            square = n_mul(ctx, square, square)
    if exponent < 0:
        result = n_div(ctx, Num.const(Fraction(1)), result)
    if ctx.exact and max(_bits(result.num), _bits(result.den)) > _MAX_BITS:
        raise UnusualError("a power beyond the exact range")
    return result
