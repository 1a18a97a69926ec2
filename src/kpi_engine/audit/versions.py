"""Versions of one ruleset (or pay plan): which one is in effect for a period.

Each version declares ``effective: {from, until}`` (``until`` open means "until replaced"). The
versions of one ruleset must share its id and must not overlap; a period is appraised (or paid) by
the one version in effect during all of it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

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


def _where(ruleset: Versioned, *path: str) -> Location:
    if ruleset.source_map is not None:
        return ruleset.source_map.locate(path)
    return Location(ruleset.file)


def _span(ruleset: Versioned) -> tuple[dt.date, dt.date]:
    eff = ruleset.spec.effective
    assert eff is not None
    return eff.from_, eff.until or dt.date.max


def _range_text(ruleset: Versioned) -> str:
    eff = ruleset.spec.effective
    assert eff is not None
    return f"{eff.from_} until {eff.until}" if eff.until else f"{eff.from_} onwards"


def check_versions(rulesets: Sequence[Versioned]) -> list[Issue]:
    """Every problem with a set of versions: another ruleset id, no effective dates, overlapping ranges."""
    issues: list[Issue] = []
    if not rulesets:
        return [Issue("no_versions", "no ruleset versions given")]
    first = rulesets[0]
    dated: list[Versioned] = []
    for r in rulesets:
        if r.id != first.id:
            issues.append(
                Issue(
                    "mixed_rulesets",
                    f"'{r.id}' is another ruleset than '{first.id}' ({first.file}); "
                    "a folder of versions holds one ruleset",
                    "ruleset",
                    _where(r, "ruleset"),
                )
            )
        elif r.spec.effective is None:
            issues.append(
                Issue(
                    "no_effective_dates",
                    f"version {r.version} has no 'effective' dates, so it cannot be told apart from the others",
                    "effective",
                    _where(r),
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
                    _where(b, "effective", "from"),
                )
            )
    return issues


def choose_version(rulesets: Sequence[V], period: str, kind: Any = None) -> V:
    """The version in effect during the whole period (``kind``: of the period, default the scorecard's).

    Raises:
        RulesetError: for versions of several rulesets, without dates or overlapping (each located).
        DataError: if no version, or more than one, is in effect during the period.
    """
    issues = check_versions(rulesets)
    if issues:
        raise RulesetError.from_issues(issues, "ruleset versions")
    try:
        wanted = Period.parse(period, kind if kind is not None else rulesets[0].scorecard.period)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise DataError(str(exc)) from None
    start, end = wanted.start, wanted.next_start() - dt.timedelta(days=1)
    touching = [r for r in rulesets if _span(r)[0] <= end and start <= _span(r)[1]]
    listing = "; ".join(f"{r.version}: {_range_text(r)}" for r in sorted(rulesets, key=lambda r: _span(r)[0]))
    if not touching:
        raise DataError(f"no version of '{rulesets[0].id}' is in effect in {wanted} (versions: {listing})")
    if len(touching) > 1:
        names = " and ".join(r.version for r in touching)
        raise DataError(f"period {wanted} straddles versions {names} of '{rulesets[0].id}'; appraise it with one file")
    return touching[0]
