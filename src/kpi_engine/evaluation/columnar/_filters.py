"""Event filters (``where``) translated into Polars expressions that decide exactly as the row path.

A translated filter is a Boolean Polars expression whose null is N/A, combined with three-valued
(Kleene) logic exactly as the row kernels of ``expr/_kernels.py`` do; an event is counted where it is
true. The translated subset is what event filters are made of:

- an event field compared with a literal (either side), or with another field of its kind;
  comparison chains (``1 <= score <= 3``);
- ``and``, ``or``, ``not``, a bare ``bool`` field, ``true``/``false``;
- text and bool fields with ``==``/``!=`` (a blank text cell is N/A, as the row path reads it);
- number fields with every comparison, decided on the field's exact scaled integers (value =
  ``int / den``): ``x < r`` is ``int < ceil(r·den)``, ``x <= r`` is ``int <= floor(r·den)`` and so
  on, so no literal is rounded, whatever its number of decimal places.

Anything else (arithmetic, ``if``, calls, numbers of different scales compared with each other)
is not translated: ``translate`` returns ``None`` and the caller evaluates that filter with the
exact NumPy kernel.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from functools import reduce
from math import ceil, floor
from typing import Any, Literal

import attrs

from kpi_engine.expr._ir import BoolOp, Compare, Const, Name, Neg, Node, Not

_I64_MAX = (1 << 63) - 1
_I64_MIN = -(1 << 63)
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

Kind = Literal["text", "bool", "number"]


@attrs.frozen
class Field:
    """An event field as a Polars expression; null is N/A.

    ``text``: Utf8, the cell as written (null where blank); ``bool``: Boolean; ``number``: Int64
    numerators over the constant denominator ``den`` (the value is ``expr / den`` exactly).
    """

    expr: Any  # a polars.Expr
    kind: Kind
    den: int = 1


class _UntranslatableError(Exception):
    """The filter has a construct this module leaves to the exact kernel."""


def translate(node: Node, fields: Mapping[str, Field]) -> Any:
    """The Polars expression of a ``where`` filter, or ``None`` when it is not in the translated subset.

    Args:
        node: the filter's IR (a Boolean expression).
        fields: every event field the filter may read (missing columns as null literals).

    Returns:
        A Boolean ``polars.Expr`` (null = N/A), or ``None``.
    """
    try:
        return _condition(node, fields)
    except _UntranslatableError:
        return None


def _condition(node: Node, fields: Mapping[str, Field]) -> Any:
    import polars as pl  # noqa: PLC0415 - optional dependency

    match node:
        case Const(value=bool() as v):
            return pl.lit(v, dtype=pl.Boolean)
        case Name(id=ident):
            field = fields.get(ident)
            if field is None or field.kind != "bool":
                raise _UntranslatableError
            return field.expr
        case Not(operand=x):
            return ~_condition(x, fields)
        case BoolOp(op=op, values=xs):
            parts = [_condition(x, fields) for x in xs]
            return reduce(operator.and_ if op == "and" else operator.or_, parts)
        case Compare(ops=ops, operands=operands):
            values = [_operand(x, fields) for x in operands]
            parts = [_compare(op, values[i], values[i + 1]) for i, op in enumerate(ops)]
            return reduce(operator.and_, parts)  # a chain is true when every link is (Kleene and)
    raise _UntranslatableError


Operand = Field | Decimal | str | bool


def _operand(node: Node, fields: Mapping[str, Field]) -> Operand:
    match node:
        case Const(value=v):
            return v
        case Neg(operand=x):
            inner = _operand(x, fields)
            if isinstance(inner, Decimal):
                return -inner
        case Name(id=ident):
            if ident in fields:
                return fields[ident]
    raise _UntranslatableError


def _compare(op: str, a: Operand, b: Operand) -> Any:
    import polars as pl  # noqa: PLC0415

    if not isinstance(a, Field) and not isinstance(b, Field):
        if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, str) != isinstance(b, str):
            raise _UntranslatableError
        return pl.lit(bool(_OPS[op](a, b)), dtype=pl.Boolean)
    if not isinstance(a, Field):
        a, b, op = b, a, _FLIP[op]
    assert isinstance(a, Field)
    if isinstance(b, Field):
        if a.kind != b.kind or (a.kind == "number" and a.den != b.den) or (a.kind != "number" and op not in "==!="):
            raise _UntranslatableError
        return _OPS[op](a.expr, b.expr)
    if a.kind == "number":
        if not isinstance(b, Decimal):
            raise _UntranslatableError
        return _number(op, a, Fraction(b) * a.den)
    if isinstance(b, Decimal) or isinstance(b, bool) != (a.kind == "bool") or op not in {"==", "!="}:
        raise _UntranslatableError
    return _OPS[op](a.expr, pl.lit(b, dtype=pl.Boolean if a.kind == "bool" else pl.Utf8))


def _number(op: str, a: Field, r: Fraction) -> Any:
    """``a op r`` for the field's integers ``a`` and an exact rational ``r`` (both on the field's scale)."""
    import polars as pl  # noqa: PLC0415

    known = a.expr.is_not_null()
    if op in {"==", "!="} and r.denominator != 1:
        return pl.when(known).then(pl.lit(op == "!=", dtype=pl.Boolean))  # no integer equals r
    # An integer x satisfies x < r ⇔ x < ceil(r), x >= r ⇔ x >= ceil(r), x <= r ⇔ x <= floor(r),
    # x > r ⇔ x > floor(r); for an integral r all four bounds are r itself.
    k = ceil(r) if op in {"<", ">="} else floor(r)
    if k > _I64_MAX or k < _I64_MIN:  # every int64 lies on one side of k
        side = _OPS[op](0, 1 if k > _I64_MAX else -1)
        return pl.when(known).then(pl.lit(bool(side), dtype=pl.Boolean))
    return _OPS[op](a.expr, pl.lit(k, dtype=pl.Int64))
