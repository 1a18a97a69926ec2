"""YAML text → plain data plus a ``SourceMap`` (a side-table of line/column per path).

Built on PyYAML's composer, not its constructor, so that we decide what scalars mean:
- plain scalars become ``int``, exact ``Decimal``, ``None``, ``True``/``False`` (only the words
  ``true``/``false``) or text; ``on``/``yes``/``no`` stay text; ``0.15`` is never a binary float;
- duplicate keys, explicit tags, anchors and aliases (alias bombs) are reported, not resolved.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kpi_engine.errors import Issue, Location

PathKey = tuple[str | int, ...]

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)")
_DEC = re.compile(r"[-+]?(?:\d[\d_]*\.\d*|\.\d+|\d[\d_]*)(?:[eE][-+]?\d+)?")
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_STANDARD_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}
MAX_NODES = 200_000
MAX_DEPTH = 64
MAX_BYTES = 4 * 1024 * 1024
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed: same marks, faster


def format_path(path: PathKey) -> str:
    """Render ``("kpis", 3, "weight")`` as ``kpis[3].weight``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@attrs.define
class SourceMap:
    """Maps a path in the loaded data to where it was written; keys and values both recorded."""

    file: str
    values: dict[PathKey, tuple[int, int]] = attrs.field(factory=dict)
    keys: dict[PathKey, tuple[int, int]] = attrs.field(factory=dict)

    def locate(self, path: PathKey, *, key: bool = False) -> Location:
        """Return the location of ``path`` (its key if ``key``), falling back to the nearest parent."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while True:
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if key and probe in self.values:
                line, col = self.values[probe]
                return Location(self.file, line, col)
            if not probe:
                return Location(self.file, 1, 1)
            probe = probe[:-1]


class _Composer:
    def __init__(self, file: str) -> None:
        self.smap = SourceMap(file)
        self.issues: list[Issue] = []
        self.seen: set[int] = set()
        self.count = 0

    def _issue(self, code: str, message: str, node: Node, path: PathKey) -> None:
        mark = node.start_mark
        self.issues.append(
            Issue(code, message, format_path(path), Location(self.smap.file, mark.line + 1, mark.column + 1))
        )

    def convert(self, node: Node, path: PathKey) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            msg = f"document has more than {MAX_NODES} nodes"
            raise _TooLargeError(msg)
        if len(path) > MAX_DEPTH:
            msg = f"document is nested more than {MAX_DEPTH} levels deep"
            raise _TooLargeError(msg)
        if id(node) in self.seen:
            self._issue("yaml_alias", "anchors and aliases are not allowed; write the value out", node, path)
            return None
        self.seen.add(id(node))
        mark = node.start_mark
        self.smap.values[path] = (mark.line + 1, mark.column + 1)
        if node.tag not in _STANDARD_TAGS:
            self._issue("yaml_tag", f"tag {node.tag!r} is not allowed", node, path)
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node)
        if isinstance(node, SequenceNode):
            return [self.convert(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                self._issue("yaml_key", "keys must be plain text (no merge keys, no complex keys)", key_node, path)
                continue
            key = str(key_node.value)
            kmark = key_node.start_mark
            child = (*path, key)
            if key in out:
                first = self.smap.keys.get(child, (0, 0))
                self._issue(
                    "duplicate_key",
                    f"key '{key}' appears twice (first at line {first[0]}); YAML would silently keep the last",
                    key_node,
                    child,
                )
                continue
            self.smap.keys[child] = (kmark.line + 1, kmark.column + 1)
            out[key] = self.convert(value_node, child)
        return out

    def _scalar(self, node: ScalarNode) -> Any:
        text = node.value
        if node.style is not None and node.style != "":
            return text  # quoted or block scalar: always text
        if node.tag == "tag:yaml.org,2002:str":
            return text  # includes an explicit !!str on a number-looking value
        if text in _NULL:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if _INT.fullmatch(text):
            return int(text.replace("_", ""))
        if _DEC.fullmatch(text) and any(c.isdigit() for c in text):
            return Decimal(text.replace("_", ""))
        return text


class _TooLargeError(Exception):
    pass


def load_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap, list[Issue]]:
    """Parse YAML text into plain data, its source map and the issues found while loading.

    A document that does not parse yields ``None`` data and one located ``yaml_syntax`` issue.
    """
    composer = _Composer(file)
    if len(text) > MAX_BYTES:
        return (
            None,
            composer.smap,
            [Issue("yaml_size", f"document is larger than {MAX_BYTES} bytes", "", Location(file))],
        )
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or "invalid YAML"
        return None, composer.smap, [Issue("yaml_syntax", f"YAML syntax: {problem}", "", loc)]
    except yaml.YAMLError as exc:
        return None, composer.smap, [Issue("yaml_syntax", f"YAML syntax: {exc}", "", Location(file))]
    except RecursionError:
        msg = f"document is nested more than {MAX_DEPTH} levels deep"
        return None, composer.smap, [Issue("yaml_size", msg, "", Location(file))]
    if node is None:
        return None, composer.smap, []
    try:
        data = composer.convert(node, ())
    except _TooLargeError as exc:
        return None, composer.smap, [Issue("yaml_size", str(exc), "", Location(file))]
    return data, composer.smap, composer.issues
