"""What the kernel can evaluate: a check of the expression IR that needs no NumPy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from kpi_engine.evaluation.records import Table
from kpi_engine.expr._ir import BinOp, BoolOp, Call, Compare, IfExp, Neg, Node, Not


@attrs.frozen
class Frame:
    """A frame read from a file, and how to read the same file for the row path (its errors name lines)."""

    data: Any  # a polars.DataFrame
    name: str
    rows: Callable[[], Table]


class UnsupportedError(Exception):
    """The columnar kernel cannot evaluate this construct; the message names it."""


def check_supported(node: Node, where: str) -> None:
    """Raise ``UnsupportedError`` for constructs the kernel does not evaluate (none at present)."""
    match node:
        case BinOp(left=a, right=b):
            check_supported(a, where)
            check_supported(b, where)
        case Neg(operand=x) | Not(operand=x):
            check_supported(x, where)
        case Compare(operands=xs) | BoolOp(values=xs) | Call(args=xs):
            for x in xs:
                check_supported(x, where)
        case IfExp(test=t, body=b, orelse=o):
            for x in (t, b, o):
                check_supported(x, where)
        case _:
            pass
