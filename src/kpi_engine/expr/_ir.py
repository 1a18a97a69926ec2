"""The small typed intermediate form of an expression, shared by every evaluator.

A row evaluator, the reference evaluator and a future columnar evaluator all consume this IR;
nothing here evaluates anything.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Literal

import attrs

Type = Literal["number", "text", "bool"]
Value = Decimal | Fraction | str | bool | None  # None is "not applicable" (N/A); numbers are exact
BinOpName = Literal["+", "-", "*", "/", "**"]
CmpOpName = Literal["==", "!=", "<", "<=", ">", ">="]
FuncName = Literal["min", "max", "abs", "round"]


@attrs.frozen
class Const:
    value: Decimal | str | bool
    type: Type


@attrs.frozen
class Name:
    id: str
    type: Type


@attrs.frozen
class Neg:
    operand: Node
    type: Type = "number"


@attrs.frozen
class Not:
    operand: Node
    type: Type = "bool"


@attrs.frozen
class BinOp:
    op: BinOpName
    left: Node
    right: Node
    type: Type = "number"


@attrs.frozen
class Compare:
    """A chain ``a < b <= c``: ``ops[i]`` compares ``operands[i]`` with ``operands[i + 1]``."""

    ops: tuple[CmpOpName, ...]
    operands: tuple[Node, ...]
    type: Type = "bool"


@attrs.frozen
class BoolOp:
    op: Literal["and", "or"]
    values: tuple[Node, ...]
    type: Type = "bool"


@attrs.frozen
class IfExp:
    test: Node
    body: Node
    orelse: Node
    type: Type


@attrs.frozen
class Call:
    func: FuncName
    args: tuple[Node, ...]
    type: Type = "number"


Node = Const | Name | Neg | Not | BinOp | Compare | BoolOp | IfExp | Call


def names_in(node: Node) -> frozenset[str]:
    """Return every name the expression reads."""
    match node:
        case Name(id=ident):
            return frozenset({ident})
        case Const():
            return frozenset()
        case Neg(operand=x) | Not(operand=x):
            return names_in(x)
        case BinOp(left=a, right=b):
            return names_in(a) | names_in(b)
        case Compare(operands=xs) | BoolOp(values=xs) | Call(args=xs):
            return frozenset().union(*(names_in(x) for x in xs))
        case IfExp(test=t, body=b, orelse=o):
            return names_in(t) | names_in(b) | names_in(o)
