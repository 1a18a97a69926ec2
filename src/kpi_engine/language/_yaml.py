"""YAML text → plain data plus a ``SourceMap`` (a side-table of line/column per path).

Built on PyYAML's composer, not its constructor, so that we decide what scalars mean:
- plain scalars become ``int``, exact ``Decimal``, ``None``, ``True``/``False`` (only the words
  ``true``/``false``) or text; ``on``/``yes``/``no`` stay text; ``0.15`` is never a binary float;
- duplicate keys, explicit tags, anchors and aliases (alias bombs) are reported, not resolved;
- nodes are composed from the parser's event stream by a loop (not PyYAML's recursive composer,
  whose C version overflows the C stack on a document nested ~24,000 deep), so the depth and node
  limits stop a hostile document after reading at most ``MAX_DEPTH`` levels or ``MAX_NODES`` nodes;
- numbers longer than 60 characters or beyond 1e±100, and control characters in scalars, are
  located issues (as in record fields), never an exception.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs
import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from kpi_engine._numbers import MAX_DIGITS, MAX_EXPONENT
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
_RESOLVER: Any = Resolver()  # PyYAML's implicit tags (int, float, merge, …) for untagged nodes
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # and lone surrogates ("\ud800")


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

    def convert(self, item: Any, path: PathKey) -> Any:
        """Convert a composed item (a collection node or a scalar's event) at ``path`` to plain data."""
        self.count += 1
        if self.count > MAX_NODES:
            msg = f"document has more than {MAX_NODES} nodes"
            raise _TooLargeError(msg)
        if len(path) > MAX_DEPTH:
            msg = f"document is nested more than {MAX_DEPTH} levels deep"
            raise _TooLargeError(msg)
        node = _as_node(item)
        if id(item) in self.seen:
            self._issue("yaml_alias", "anchors and aliases are not allowed; write the value out", node, path)
            return None
        self.seen.add(id(item))
        mark = node.start_mark
        self.smap.values[path] = (mark.line + 1, mark.column + 1)
        if node.tag not in _STANDARD_TAGS:
            self._issue("yaml_tag", f"tag {node.tag!r} is not allowed", node, path)
            return None
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, SequenceNode):
            return [self.convert(child, (*path, i)) for i, child in enumerate(node.value)]
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        return None  # pragma: no cover - PyYAML has no other node kinds

    def _mapping(self, node: MappingNode, path: PathKey) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_item, value_node in node.value:
            key_node = _as_node(key_item)
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

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        text = node.value
        if _CONTROL.search(text):
            code = ord(_CONTROL.search(text).group())  # type: ignore[union-attr]  # searched just above
            self._issue("yaml_control", f"control character U+{code:04X} is not allowed in text", node, path)
            return None
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
        number = _INT.fullmatch(text) or (_DEC.fullmatch(text) and any(c.isdigit() for c in text))
        if number and len(text) > MAX_DIGITS:
            self._issue("yaml_number", f"number is longer than {MAX_DIGITS} characters", node, path)
            return None
        if _INT.fullmatch(text):
            return int(text.replace("_", ""))
        if number:
            value = Decimal(text.replace("_", ""))
            if value and abs(value.adjusted()) > MAX_EXPONENT:
                self._issue("yaml_number", f"number {text} is out of range (beyond 1e±{MAX_EXPONENT})", node, path)
                return None
            return value
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
        node = _compose(text)
    except _TooLargeError as exc:
        return None, composer.smap, [Issue("yaml_size", str(exc), "", Location(file))]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = f"character U+{exc.character:04X}" if isinstance(exc.character, int) else "a character"
        loc = Location(file, line, col)
        return (
            None,
            composer.smap,
            [Issue("yaml_syntax", f"YAML syntax: {what} is not allowed ({exc.reason})", "", loc)],
        )
    except yaml.MarkedYAMLError as exc:
        too_deep = _flow_depth_beyond_limit(text)
        if too_deep is not None:  # the parser's own nesting limit (PyYAML >= 6.0.3) spoke first
            msg = f"document is nested more than {MAX_DEPTH} levels deep (line {too_deep})"
            return None, composer.smap, [Issue("yaml_size", msg, "", Location(file, too_deep, 1))]
        mark = exc.problem_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = exc.problem or "invalid YAML"
        return None, composer.smap, [Issue("yaml_syntax", f"YAML syntax: {problem}", "", loc)]
    except yaml.YAMLError as exc:
        return None, composer.smap, [Issue("yaml_syntax", f"YAML syntax: {exc}", "", Location(file))]
    if node is None:
        return None, composer.smap, []
    try:
        data = composer.convert(node, ())
    except _TooLargeError as exc:
        return None, composer.smap, [Issue("yaml_size", str(exc), "", Location(file))]
    return data, composer.smap, composer.issues


_FLOW = re.compile(r"[\[\]{}\n]")


def _flow_depth_beyond_limit(text: str) -> int | None:
    """The line where flow brackets first nest deeper than ``MAX_DEPTH``, or ``None``.

    Asked only of a document the parser refused: libyaml (PyYAML 6.0.3 and later) scans a deep
    flow collection ahead of the events this module limits, and refuses it with its own message
    at its own depth. The project's answer must not depend on that: a document nested deeper than
    the project's limit is ``yaml_size`` whatever the parser says. Brackets inside quoted scalars are
    counted too; for a document that does not parse anyway, that can only turn one refusal into
    another.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    line = 1
    for match in _FLOW.finditer(text):
        char = match.group()
        if char == "\n":
            line += 1
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        else:
            depth = max(depth - 1, 0)
    return None


def _compose(text: str) -> Any:
    """Compose the single document of ``text`` into PyYAML nodes with a loop over parser events.

    Stops with ``_TooLargeError`` as soon as the document is nested more than ``MAX_DEPTH`` levels
    or has more than ``MAX_NODES`` nodes, before reading the rest: libyaml's parser keeps its own
    heap stack, so only the composer (PyYAML's recurses once per level) had to change. The loop does
    as little as it can per event, so that a document over a limit is refused in about the time
    the parser takes to reach the limit: a scalar is kept as a tuple of atoms (value, style, tag,
    implicit, line, column), which the garbage collector stops tracking, instead of a node and its
    marks (keeping 200,000 of those doubled the time in collections); ``_as_node`` resolves its
    implicit tag when the accepted document is converted. Collections are the only nodes built here.

    Raises:
        yaml.YAMLError: for text that does not parse, an undefined alias or several documents.
        _TooLargeError: when a limit is reached.
    """
    parser: Any = _LOADER(text)  # libyaml's and PyYAML's Mark types differ
    try:
        return _compose_events(parser.get_event)
    finally:
        parser.dispose()


def _compose_events(next_event: Any) -> Any:
    """The loop of ``_compose`` over the events returned by ``next_event()``."""
    scalar, alias = yaml.ScalarEvent, yaml.AliasEvent
    opening = {yaml.SequenceStartEvent: SequenceNode, yaml.MappingStartEvent: MappingNode}
    closing = {yaml.SequenceEndEvent, yaml.MappingEndEvent}
    anchors: dict[str, Any] = {}
    stack: list[tuple[Node, list[Any]]] = []  # open collections and their children so far
    children: list[Any] = []  # the children of the innermost open collection (stack[-1][1])
    root: Any = None
    documents = count = 0
    while True:
        event = next_event()
        kind = type(event)
        if kind is scalar:  # a tuple of atoms, which the garbage collector soon stops tracking
            mark = event.start_mark
            node: Any = (event.value, event.style, event.tag, event.implicit, mark.line, mark.column)
            if event.anchor is not None:
                anchors[event.anchor] = node
        elif kind in opening:
            count += 1
            if len(stack) >= MAX_DEPTH:
                msg = f"document is nested more than {MAX_DEPTH} levels deep (line {event.start_mark.line + 1})"
                raise _TooLargeError(msg)
            cls = opening[kind]
            tag = event.tag
            if tag is None or tag == "!":
                tag = _RESOLVER.resolve(cls, None, event.implicit)
            opened = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
            if event.anchor is not None:
                anchors[event.anchor] = opened
            children = []
            stack.append((opened, children))
            continue
        elif kind in closing:
            node, done = stack.pop()
            children = stack[-1][1] if stack else []
            node.end_mark = event.end_mark
            node.value = done if isinstance(node, SequenceNode) else list(zip(done[::2], done[1::2], strict=True))
            count -= 1  # counted when it opened
        elif kind is alias:
            if event.anchor not in anchors:
                msg = f"found undefined alias {event.anchor!r}"
                raise yaml.composer.ComposerError(None, None, msg, event.start_mark)
            node = anchors[event.anchor]
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                msg = "expected a single document in the stream"
                raise yaml.composer.ComposerError(None, None, msg, event.start_mark)
            continue
        elif event is None or kind is yaml.StreamEndEvent:
            return root  # a collection node, a scalar's tuple (see _as_node) or None
        else:
            continue  # stream start, document end
        count += 1
        if count > MAX_NODES:
            msg = f"document has more than {MAX_NODES} nodes"
            raise _TooLargeError(msg)
        if stack:
            children.append(node)
        else:
            root = node


def _as_node(item: Any) -> Node:
    """The node of a composed item: a scalar's tuple becomes a ``ScalarNode`` with its resolved tag."""
    if type(item) is not tuple:
        return item  # type: ignore[no-any-return]  # a collection node
    value, style, tag, implicit, line, column = item
    if tag is None or tag == "!":
        tag = _RESOLVER.resolve(ScalarNode, value, implicit)
    mark = Mark("", 0, line, column, None, 0)
    return ScalarNode(tag, value, mark, mark, style=style)
