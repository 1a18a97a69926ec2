"""Allow-list parsing of expression text into the typed IR, done once when a ruleset loads.

The subset: arithmetic (``+ - * /`` and ``**`` with a small constant integer exponent), comparisons,
``and``/``or``/``not``, ``x if cond else y``, ``min``/``max``/``abs``/``round``, metric names,
numbers (``90%`` is exactly 0.9), short text literals and ``true``/``false``. Everything else —
attributes, subscripts, other calls, comprehensions, lambdas — is refused with the column.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from kpi_engine._numbers import NumberFormatError, parse_decimal
from kpi_engine.errors import ExpressionError, did_you_mean
from kpi_engine.expr._ir import (
    BinOp,
    BinOpName,
    BoolOp,
    Call,
    CmpOpName,
    Compare,
    Const,
    FuncName,
    IfExp,
    Name,
    Neg,
    Node,
    Not,
    Type,
)

MAX_LENGTH = 2_000
MAX_DEPTH = 40
MAX_NODES = 400
MAX_STRING = 200
MAX_EXPONENT = 64
FUNCTIONS: frozenset[str] = frozenset({"min", "max", "abs", "round"})

_BINOPS: dict[type[ast.operator], BinOpName] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Pow: "**",
}
_CMPOPS: dict[type[ast.cmpop], CmpOpName] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_LITERAL_NAMES: dict[str, bool] = {"true": True, "false": False, "True": True, "False": False}


def rewrite_percents(text: str) -> str:
    """Turn each ``90%`` into ``90e-2`` so that it parses as an exact number literal.

    Raises:
        ExpressionError: when ``%`` follows anything but a plain number (there is no modulo).
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ExpressionError(f"expression does not parse: {exc}") from exc
    lines = text.splitlines(keepends=True) or [""]
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.OP and tok.string == "%":
            prev = tokens[i - 1] if i else None
            offset = starts[tok.start[0] - 1] + tok.start[1]
            if prev is None or prev.type != tokenize.NUMBER or "e" in prev.string.lower():
                raise ExpressionError("'%' is only allowed right after a number, as in 90%", offset + 1)
            pstart = starts[prev.start[0] - 1] + prev.start[1]
            edits.append((pstart, offset + 1, f"{prev.string}e-2"))
    for start, end, repl in reversed(edits):
        text = text[:start] + repl + text[end:]
    return text


class _Builder:
    def __init__(self, source: str, names: Mapping[str, Type]) -> None:
        self.source = source
        self.names = names
        self.count = 0

    def fail(self, node: ast.AST, message: str, suggestion: str | None = None) -> ExpressionError:
        return ExpressionError(message, getattr(node, "col_offset", 0) + 1, suggestion)

    def build(self, node: ast.AST, depth: int = 0) -> Node:
        self.count += 1
        if depth > MAX_DEPTH:
            raise self.fail(node, f"expression is nested more than {MAX_DEPTH} levels deep")
        if self.count > MAX_NODES:
            raise self.fail(node, f"expression has more than {MAX_NODES} parts")
        d = depth + 1
        match node:
            case ast.Constant(value=bool() as b):
                return Const(b, "bool")
            case ast.Constant(value=int() | float()):
                text = ast.get_source_segment(self.source, node) or ""
                try:
                    return Const(parse_decimal(text, allow_percent=False), "number")
                except NumberFormatError as exc:  # 0x10, 0b1, 1e999, 61 digits: write plain decimals
                    raise self.fail(node, f"number literal: {exc}; write a plain decimal number") from None
            case ast.Constant(value=str() as s):
                if len(s) > MAX_STRING:
                    raise self.fail(node, f"text literal is longer than {MAX_STRING} characters")
                return Const(s, "text")
            case ast.Name(id=ident):
                return self._name(node, ident)
            case ast.UnaryOp(op=ast.USub(), operand=x):
                return Neg(self._expect(x, "number", d, "'-' needs a number"))
            case ast.UnaryOp(op=ast.UAdd(), operand=x):
                return self._expect(x, "number", d, "'+' needs a number")
            case ast.UnaryOp(op=ast.Not(), operand=x):
                return Not(self._expect(x, "bool", d, "'not' needs a condition"))
            case ast.BinOp(op=op, left=a, right=b) if type(op) in _BINOPS:
                name = _BINOPS[type(op)]
                left = self._expect(a, "number", d, f"'{name}' needs numbers")
                if name == "**":
                    return BinOp(name, left, self._exponent(b))
                return BinOp(name, left, self._expect(b, "number", d, f"'{name}' needs numbers"))
            case ast.BoolOp(op=op, values=vals):
                word: Literal["and", "or"] = "and" if isinstance(op, ast.And) else "or"
                return BoolOp(word, tuple(self._expect(v, "bool", d, f"'{word}' needs conditions") for v in vals))
            case ast.Compare(left=first, ops=ops, comparators=rest):
                return self._compare(node, first, ops, rest, d)
            case ast.IfExp(test=t, body=b, orelse=o):
                test = self._expect(t, "bool", d, "the condition of 'if' must be a comparison or condition")
                body, orelse = self.build(b, d), self.build(o, d)
                if body.type != orelse.type:
                    raise self.fail(node, f"both branches must have one type, not {body.type} and {orelse.type}")
                return IfExp(test, body, orelse, body.type)
            case ast.Call():
                return self._call(node, d)
        raise self.fail(node, f"{_describe(node)} is not allowed in expressions")

    def _name(self, node: ast.AST, ident: str) -> Node:
        if ident in _LITERAL_NAMES:
            return Const(_LITERAL_NAMES[ident], "bool")
        if ident not in self.names:
            hint = did_you_mean(ident, self.names)
            raise ExpressionError(f"'{ident}' is not defined", getattr(node, "col_offset", 0) + 1, hint)
        return Name(ident, self.names[ident])

    def _expect(self, node: ast.AST, want: Type, depth: int, message: str) -> Node:
        built = self.build(node, depth)
        if built.type != want:
            raise self.fail(node, f"{message}, got {built.type}")
        return built

    def _exponent(self, node: ast.AST) -> Node:
        value: object = None
        if isinstance(node, ast.Constant):
            value = node.value
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            value = -node.operand.value if isinstance(node.operand.value, int) else None
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > MAX_EXPONENT:
            raise self.fail(node, f"the exponent of '**' must be a whole number from -{MAX_EXPONENT} to {MAX_EXPONENT}")
        return Const(Decimal(value), "number")

    def _compare(self, node: ast.AST, first: ast.AST, ops: list[ast.cmpop], rest: list[ast.expr], d: int) -> Node:
        operands = [self.build(first, d), *(self.build(x, d) for x in rest)]
        names: list[CmpOpName] = []
        for i, op in enumerate(ops):
            if type(op) not in _CMPOPS:
                raise self.fail(node, f"comparison '{type(op).__name__}' is not allowed")
            name = _CMPOPS[type(op)]
            a, b = operands[i], operands[i + 1]
            if name in {"==", "!="}:
                if a.type != b.type:
                    raise self.fail(node, f"cannot compare {a.type} with {b.type}")
            elif a.type != "number" or b.type != "number":
                raise self.fail(node, f"'{name}' compares numbers, not {a.type} and {b.type}")
            names.append(name)
        return Compare(tuple(names), tuple(operands))

    def _call(self, node: ast.Call, d: int) -> Node:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            if not isinstance(node.func, ast.Name):
                raise self.fail(node, f"{_describe(node.func)} is not allowed; only min, max, abs, round may be called")
            called = node.func.id
            raise self.fail(
                node, f"calling {called!r} is not allowed; only min, max, abs, round", did_you_mean(called, FUNCTIONS)
            )
        if node.keywords:
            raise self.fail(node, "keyword arguments are not allowed")
        func: FuncName = node.func.id  # type: ignore[assignment]  # checked against FUNCTIONS above
        if func == "round":
            if len(node.args) not in {1, 2}:
                raise self.fail(node, "round takes a number and optionally a whole number of places")
            value = self._expect(node.args[0], "number", d, "round needs a number")
            places: tuple[Node, ...] = ()
            if len(node.args) == 2:  # noqa: PLR2004 - round(x, places)
                arg = node.args[1]
                if not (isinstance(arg, ast.Constant) and type(arg.value) is int and 0 <= arg.value <= 28):  # noqa: PLR2004
                    raise self.fail(arg, "round's places must be a whole number from 0 to 28")
                places = (Const(Decimal(arg.value), "number"),)
            return Call("round", (value, *places))
        if func == "abs" and len(node.args) != 1:
            raise self.fail(node, "abs takes one number")
        if not node.args:
            raise self.fail(node, f"{func} needs at least one number")
        return Call(func, tuple(self._expect(a, "number", d, f"{func} needs numbers") for a in node.args))


def _describe(node: ast.AST) -> str:
    return {
        "Attribute": "attribute access",
        "Subscript": "indexing",
        "ListComp": "a comprehension",
        "GeneratorExp": "a comprehension",
        "DictComp": "a comprehension",
        "SetComp": "a comprehension",
        "Lambda": "lambda",
        "NamedExpr": "assignment",
        "JoinedStr": "an f-string",
        "List": "a list",
        "Tuple": "a tuple",
        "Dict": "a dict",
        "Set": "a set",
        "Starred": "unpacking",
        "Await": "await",
        "BinOp": "this operator",
    }.get(type(node).__name__, type(node).__name__)


def parse_to_ir(text: str, names: Mapping[str, Type], want: Type | None = None) -> tuple[str, Node]:
    """Parse and type-check ``text`` against the known ``names``; return (rewritten text, IR).

    Raises:
        ExpressionError: on anything outside the subset, an unknown name or a type mismatch.
    """
    if len(text) > MAX_LENGTH:
        msg = f"expression is longer than {MAX_LENGTH} characters"
        raise ExpressionError(msg)
    if not text.strip():
        msg = "expression is empty"
        raise ExpressionError(msg)
    source = rewrite_percents(text.strip())
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression does not parse: {exc.msg}", exc.offset or 0) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # pragma: no cover - guarded by MAX_LENGTH
        raise ExpressionError(f"expression does not parse: {exc}") from None
    node = _Builder(source, names).build(tree.body)
    if want is not None and node.type != want:
        msg = f"expression must give a {want}, but gives a {node.type}"
        raise ExpressionError(msg, 1)
    return source, node
