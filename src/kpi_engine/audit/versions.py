"""Versions of one ruleset (or pay plan): which one is in effect for a period.

Each version declares ``effective: {from, until}`` (``until`` open means "until replaced"). The
versions of one ruleset must share its id and must not overlap; a period is appraised (or paid) by
the one version in effect during all of it.

Choosing from a folder of thousands of versions reads each file's *header* only (``ruleset``,
``version``, ``effective``, ``period``: ``version_header``), checks ids and overlaps on the
headers, and parses in full only the version chosen. The header scan takes the plain forms the
shipped versions use, and only when they are certain to be the document's own top-level keys;
anything else (a quoted or flow value spanning lines, a header key repeated or set later, an
anchor, a tag, unusual line breaks) makes it return ``None``, and that file is parsed in full.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import attrs

from kpi_engine.errors import DataError, Issue, Location, RulesetError
from kpi_engine.language._yaml import SourceMap
from kpi_engine.time.periods import Period


class Versioned(Protocol):
    """What versions are told apart by: a ``Ruleset`` or a ``PayPlan``."""

    @property
    def id(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def spec(self) -> Any: ...  # with ``effective: EffectiveSpec | None``
    @property
    def file(self) -> str: ...
    @property
    def source_map(self) -> SourceMap | None: ...


V = TypeVar("V", bound=Versioned)

HEADER_KEYS = ("ruleset", "version", "effective", "period")
_PERIOD_KINDS = frozenset({"day", "week", "month", "quarter", "half", "year"})


@attrs.frozen
class VersionHeader:
    """What choosing a version needs from one file: id, version, effective dates, period kind, where they are."""

    file: str
    id: str
    version: str
    effective_from: dt.date | None
    effective_until: dt.date | None
    period_kind: str
    locations: dict[str, Location] = attrs.field(factory=dict, eq=False)
    ruleset: Any = attrs.field(default=None, eq=False)  # the parsed version (a Ruleset or PayPlan), if parsed

    @classmethod
    def of(cls, ruleset: Versioned, kind: Any = None) -> VersionHeader:
        """The header of a fully parsed version (locations from its source map).

        ``kind`` is the kind of its periods (default: its scorecard's).
        """
        eff = ruleset.spec.effective
        locations = {}
        if ruleset.source_map is not None:
            locations = {
                "": ruleset.source_map.locate(()),
                "ruleset": ruleset.source_map.locate(("ruleset",)),
                "effective.from": ruleset.source_map.locate(("effective", "from")),
            }
        return cls(
            ruleset.file,
            ruleset.id,
            ruleset.version,
            None if eff is None else eff.from_,
            None if eff is None else eff.until,
            kind if kind is not None else getattr(getattr(ruleset, "scorecard", None), "period", "month"),
            locations,
            ruleset,
        )

    def where(self, path: str) -> Location:
        return self.locations.get(path) or Location(self.file)


_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_COMMENT = re.compile(r"[ \t]+#.*$")
_DOUBLE = re.compile(r'"([^"\\\x00-\x1f\x7f]*)"')
_SINGLE = re.compile(r"'([^'\x00-\x1f\x7f]*)'")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z+-]*(?:\.[0-9A-Za-z+-]+){2,}")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DATE = r"(\d{4}-\d{2}-\d{2})"
_EFFECTIVE = re.compile(r"\{[ \t]*from:[ \t]+" + _DATE + r"[ \t]*(?:,[ \t]*until:[ \t]+" + _DATE + r"[ \t]*)?\}")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*")
# After the head, any line starting like a header key (repeated, or a quoted or flow value running
# on) or like unusual YAML (an explicit or quoted key, a merge, an anchor, a tag, a new document).
_LATER = re.compile(r"\n(?:[\"'?{\[&*!%@`,\t<.-]|ruleset|version|effective|period)")
_SPECIAL_WORDS = frozenset({"null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE"})


def _closed(value: str) -> bool:
    """A top-level value that ends on its own line and opens nothing that could run onto the next."""
    if not value or _BLOCK_SCALAR.fullmatch(value):
        return True  # a block collection or a block scalar's literal lines follow, indented
    first = value[0]
    if first == '"':
        return _DOUBLE.fullmatch(value) is not None
    if first == "'":
        return _SINGLE.fullmatch(value) is not None
    if first in "{[":
        return '"' not in value and "'" not in value and value.count(first) == value.count("}" if first == "{" else "]")
    return first not in "&*!%@`,|>?#"


def version_header(text: str, file: str) -> VersionHeader | None:
    """The header of a ruleset version read from its first top-level lines, or ``None``: parse it in full.

    Only a head of simple top-level lines is read (comments, ``key: value`` lines whose value ends
    on the line, block scalars); the header keys must all be there in their plain forms, and
    nowhere later at the start of a line. The values are then exactly what the YAML loader reads.
    """
    if "\r" in text or "\x85" in text or "\u2028" in text or "\u2029" in text:
        return None  # line breaks YAML counts and a split on \n does not
    found: dict[str, tuple[int, int, str]] = {}  # key -> (line, column of the value, value)
    pos, number, block, size, wanted = 0, 0, False, len(text), len(HEADER_KEYS)
    while pos < size and len(found) < wanted:
        end = text.find("\n", pos)
        end = size if end < 0 else end
        line = text[pos:end]
        pos, number = end + 1, number + 1
        blank = not line.strip()
        if block and (blank or line[0] == " "):
            continue  # the literal content of a block scalar
        block = False
        if blank or line[0] == "#":
            continue
        m = _KEY.fullmatch(_COMMENT.sub("", line) if "#" in line else line)
        if m is None or not _closed(m.group(2) or ""):
            return None
        key, value = m.group(1), m.group(2) or ""
        if key in found:
            return None
        if key in HEADER_KEYS:
            found[key] = (number, m.start(2) + 1 if m.group(2) else 0, value)
        block = _BLOCK_SCALAR.fullmatch(value) is not None
    if len(found) < len(HEADER_KEYS) or _LATER.search(text, max(pos - 1, 0)):
        return None
    return _header(file, found)


def _header(file: str, found: dict[str, tuple[int, int, str]]) -> VersionHeader | None:
    line, col, ruleset_id = found["ruleset"]
    if not _IDENT.fullmatch(ruleset_id) or ruleset_id in _SPECIAL_WORDS:
        return None
    locations = {"ruleset": Location(file, line, col)}
    version = found["version"][2]
    quoted = _DOUBLE.fullmatch(version) or _SINGLE.fullmatch(version)
    if quoted:
        version = quoted.group(1)
    elif not _VERSION.fullmatch(version):
        return None
    if not version.strip():
        return None
    period = found["period"][2]
    if period not in _PERIOD_KINDS:
        return None
    line, col, effective = found["effective"]
    m = _EFFECTIVE.fullmatch(effective)
    if m is None:
        return None
    try:
        start = dt.date.fromisoformat(m.group(1))
        until = dt.date.fromisoformat(m.group(2)) if m.group(2) else None
    except ValueError:
        return None  # the full parse says where and why
    locations["effective.from"] = Location(file, line, col + m.start(1))
    return VersionHeader(file, ruleset_id, version, start, until, period, locations)


def _span(v: VersionHeader) -> tuple[dt.date, dt.date]:
    assert v.effective_from is not None
    return v.effective_from, v.effective_until or dt.date.max


def _range_text(v: VersionHeader) -> str:
    if v.effective_until:
        return f"{v.effective_from} until {v.effective_until}"
    return f"{v.effective_from} onwards"


def _headers(versions: Sequence[Versioned | VersionHeader], kind: Any = None) -> list[VersionHeader]:
    return [v if isinstance(v, VersionHeader) else VersionHeader.of(v, kind) for v in versions]


def check_versions(versions: Sequence[Versioned | VersionHeader], kind: Any = None) -> list[Issue]:
    """Every problem with a set of versions: another ruleset id, no effective dates, overlapping ranges."""
    issues: list[Issue] = []
    if not versions:
        return [Issue("no_versions", "no ruleset versions given")]
    headers = _headers(versions, kind)
    first = headers[0]
    dated: list[VersionHeader] = []
    for r in headers:
        if r.id != first.id:
            issues.append(
                Issue(
                    "mixed_rulesets",
                    f"'{r.id}' is another ruleset than '{first.id}' ({first.file}); "
                    "a folder of versions holds one ruleset",
                    "ruleset",
                    r.where("ruleset"),
                )
            )
        elif r.effective_from is None:
            issues.append(
                Issue(
                    "no_effective_dates",
                    f"version {r.version} has no 'effective' dates, so it cannot be told apart from the others",
                    "effective",
                    r.where(""),
                )
            )
        else:
            dated.append(r)
    dated.sort(key=lambda r: _span(r)[0])
    for a, b in itertools.pairwise(dated):
        if _span(b)[0] <= _span(a)[1]:
            issues.append(
                Issue(
                    "overlapping_versions",
                    f"version {b.version} (effective {_range_text(b)}) overlaps version {a.version} "
                    f"({a.file}: effective {_range_text(a)})",
                    "effective.from",
                    b.where("effective.from"),
                )
            )
    return issues


def choose_header(versions: Sequence[Versioned | VersionHeader], period: str, kind: Any = None) -> VersionHeader:
    """The header of the version in effect during the whole period (see ``choose_version``)."""
    headers = _headers(versions, kind)
    issues = check_versions(headers)
    if issues:
        raise RulesetError.from_issues(issues, "ruleset versions")
    try:
        wanted = Period.parse(period, kind if kind is not None else headers[0].period_kind)  # type: ignore[arg-type]
    except ValueError as exc:
        raise DataError(str(exc)) from None
    start, end = wanted.start, wanted.next_start() - dt.timedelta(days=1)
    touching = [r for r in headers if _span(r)[0] <= end and start <= _span(r)[1]]
    listing = "; ".join(f"{r.version}: {_range_text(r)}" for r in sorted(headers, key=lambda r: _span(r)[0]))
    if not touching:
        raise DataError(f"no version of '{headers[0].id}' is in effect in {wanted} (versions: {listing})")
    if len(touching) > 1:
        names = " and ".join(r.version for r in touching)
        raise DataError(f"period {wanted} straddles versions {names} of '{headers[0].id}'; appraise it with one file")
    return touching[0]


def choose_version(rulesets: Sequence[V], period: str, kind: Any = None) -> V:
    """The version in effect during the whole period (``kind``: of the period, default the scorecard's).

    Raises:
        RulesetError: for versions of several rulesets, without dates or overlapping (each located).
        DataError: if no version, or more than one, is in effect during the period.
    """
    chosen: V = choose_header(rulesets, period, kind).ruleset  # headers made from versions keep them
    return chosen


def confirm_header(header: VersionHeader, ruleset: Any) -> None:
    """Check that the full parse of a chosen version says what its header scan said.

    Raises:
        RulesetError: if they differ (the scan read a value the YAML loader does not).
    """
    full = VersionHeader.of(ruleset)
    if (full.id, full.version, full.effective_from, full.effective_until, full.period_kind) != (
        header.id,
        header.version,
        header.effective_from,
        header.effective_until,
        header.period_kind,
    ):
        message = "the file's header reads differently in full; report this file"
        issue = Issue("version_header", message, "", Location(ruleset.file))
        raise RulesetError.from_issues([issue], ruleset.file)
