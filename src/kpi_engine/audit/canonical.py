"""Canonical bytes, digests and a generic tree comparison for run records.

Canonical bytes are compact JSON with sorted keys, UTF-8, no float anywhere: decimals are
strings. Two equal trees always give the same bytes, so their SHA-256 digests agree.
``tree_diff`` compares two JSON trees without knowing their layout and names each difference
by a dotted path (lists of objects with an ``id``-like key are matched by that key).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs

from kpi_engine._numbers import CONTEXT, canonical

_ID_KEYS = ("subject", "id", "deal_id", "registration_event", "name")


def exact_text(value: object) -> Any:
    """An exact number as canonical text: ``Decimal`` and terminating ``Fraction`` as decimals, else ``p/q``.

    Non-numbers (``None``, ``bool``, ``str``) are returned unchanged; ``int`` becomes text.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Fraction):
        den = value.denominator
        for p in (2, 5):
            while den % p == 0:
                den //= p
        if den == 1:
            return canonical(Decimal(value.numerator) / Decimal(value.denominator))
        return f"{value.numerator}/{value.denominator}"
    msg = f"{type(value).__name__} is not an exact value"
    raise TypeError(msg)


def _default(value: object) -> Any:
    if isinstance(value, Decimal | Fraction):
        return exact_text(value)
    msg = f"{type(value).__name__} cannot be written in a run record"
    raise TypeError(msg)


def canonical_bytes(tree: object) -> bytes:
    """Compact JSON with sorted keys (UTF-8); the bytes every digest is taken over."""
    return json.dumps(tree, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def file_bytes(tree: object) -> bytes:
    """The canonical bytes and a final newline: what a record file holds (pipe it to ``jq .`` to read it)."""
    return canonical_bytes(tree) + b"\n"


def digest(tree: object) -> str:
    """SHA-256 (hex) of the canonical bytes of ``tree``."""
    return hashlib.sha256(canonical_bytes(tree)).hexdigest()


def text_digest(text: str) -> str:
    """SHA-256 (hex) of text encoded as UTF-8 (as rulesets are digested when loaded)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen
class Difference:
    """One place where two trees differ: a dotted path and the value on each side (``<absent>`` if missing)."""

    path: str
    recorded: Any
    computed: Any


ABSENT = "<absent>"


def _as_number(value: object) -> Fraction | None:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        return None
    try:
        return Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None


def same_value(recorded: object, computed: object) -> bool:
    """Equal leaves; numbers compare by exact value (``0.90`` equals ``0.9``, ``1/3`` equals ``1/3``).

    A recorded decimal also equals an exact value that rounds to it at the engine's precision
    (34 significant digits, half-even), so a later engine computing in exact fractions still
    reproduces a quotient recorded as ``0.3333…3``.
    """
    if recorded == computed:
        return True
    a, b = _as_number(recorded), _as_number(computed)
    if a is None or b is None:
        return False
    if a == b:
        return True
    if "/" in str(recorded):
        return False
    return CONTEXT.divide(Decimal(b.numerator), Decimal(b.denominator)) == Decimal(str(recorded))


def _key_of(items: list[Any]) -> str | None:
    """The identifying key shared by every object of a list (unique values), if any."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    for key in _ID_KEYS:
        values = [i.get(key) for i in items]
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return key
    return None


def _keyed(items: list[Any], key: str) -> bool:
    return all(isinstance(i, dict) and isinstance(i.get(key), str) for i in items)


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def tree_diff(recorded: object, computed: object, path: str = "", *, numeric: bool = False) -> list[Difference]:
    """Every difference between two JSON trees, by dotted path.

    Args:
        recorded: the tree as recorded.
        computed: the tree computed now.
        path: the prefix of every reported path.
        numeric: compare numeric leaves by exact value (``same_value``) rather than by text.
    """
    out: list[Difference] = []
    if canonical_bytes(recorded) != canonical_bytes(computed):  # the C encoder settles the common case fast
        _diff(recorded, computed, path, out, numeric=numeric)
    return out


def _diff(a: object, b: object, path: str, out: list[Difference], *, numeric: bool) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            sub = _join(path, str(key))
            if key not in a:
                out.append(Difference(sub, ABSENT, b[key]))
            elif key not in b:
                out.append(Difference(sub, a[key], ABSENT))
            else:
                _diff(a[key], b[key], sub, out, numeric=numeric)
        return
    if isinstance(a, list) and isinstance(b, list):
        key = _key_of(a) or _key_of(b)
        if key is not None and _key_of(a) in {key, None} and _key_of(b) in {key, None} and _keyed(a + b, key):
            left = {i[key]: i for i in a}
            right = {i[key]: i for i in b}
            order = [i[key] for i in a] + [i[key] for i in b if i[key] not in left]
            for k in order:
                sub = _join(path, k)
                if k not in right:
                    out.append(Difference(sub, left[k], ABSENT))
                elif k not in left:
                    out.append(Difference(sub, ABSENT, right[k]))
                else:
                    _diff(left[k], right[k], sub, out, numeric=numeric)
            if [i[key] for i in a] != [i[key] for i in b] and set(left) == set(right):
                out.append(Difference(_join(path, "<order>"), [i[key] for i in a], [i[key] for i in b]))
            return
        for i in range(max(len(a), len(b))):
            sub = f"{path}[{i}]"
            if i >= len(a):
                out.append(Difference(sub, ABSENT, b[i]))
            elif i >= len(b):
                out.append(Difference(sub, a[i], ABSENT))
            else:
                _diff(a[i], b[i], sub, out, numeric=numeric)
        return
    equal = same_value(a, b) if numeric else (a == b and type(a) is type(b))
    if not equal:
        out.append(Difference(path, a, b))


def shape(tree: object, path: str = "") -> frozenset[str]:
    """The set of key paths of a tree with list positions collapsed: its layout, independent of the values."""
    found: set[str] = set()
    _shape(tree, path, found)
    return frozenset(found)


def _shape(tree: object, path: str, found: set[str]) -> None:
    if isinstance(tree, dict):
        for key, value in tree.items():
            sub = _join(path, str(key))
            found.add(sub)
            _shape(value, sub, found)
    elif isinstance(tree, list):
        for item in tree:
            _shape(item, f"{path}[]", found)
