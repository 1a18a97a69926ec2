"""The one error hierarchy of kpi_engine, and the located ``Issue`` every error carries.

Everything the library raises on a bad ruleset, policy, record or event is a ``KpiError``.
Errors that concern a file collect *every* problem found as ``Issue`` values and are raised
once, so an author sees all mistakes at the same time.
"""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterable, Sequence
from typing import Literal

import attrs

Severity = Literal["error", "warning"]


@attrs.frozen
class Location:
    """A place in a source file: 1-based line and column; ``line == 0`` means unknown."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        if self.col <= 0:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.col}"


@attrs.frozen
class Issue:
    """One problem found in a ruleset, policy, record file or event log."""

    code: str
    message: str
    path: str = ""
    location: Location | None = None
    severity: Severity = "error"
    suggestion: str | None = None

    def render(self) -> str:
        """Render as ``FILE:LINE:COL: PATH: message; did you mean 'x'? [code]``."""
        parts: list[str] = []
        if self.location is not None:
            parts.append(str(self.location))
        if self.path:
            parts.append(self.path)
        text = self.message
        if self.severity == "warning":
            text = f"warning: {text}"
        if self.suggestion:
            text = f"{text}; {self.suggestion}"
        parts.append(f"{text} [{self.code}]")
        return ": ".join(parts)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready mapping of this issue."""
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.col if loc else None,
            "suggestion": self.suggestion,
        }


MAX_MESSAGE_ISSUES = 1000  # str(error) of a million bad rows stays readable; ``issues`` keeps them all


def _lines(issues: tuple[Issue, ...]) -> str:
    """The rendered issues for an error message: at most ``MAX_MESSAGE_ISSUES``, then how many more."""
    text = "\n".join(i.render() for i in issues[:MAX_MESSAGE_ISSUES])
    rest = len(issues) - MAX_MESSAGE_ISSUES
    return text + (f"\n… and {rest} more (see .issues)" if rest > 0 else "")


class KpiError(Exception):
    """Base class of every error kpi_engine raises on bad rulesets, policies or data."""

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        # Warnings gathered before the error stopped the run (e.g. the header row taken); the CLI prints them first.
        self.warnings: tuple[Issue, ...] = ()
        super().__init__(message)

    def render(self) -> str:
        """Render the error as one located line per issue (or its message if it has none)."""
        if not self.issues:
            return str(self)
        return "\n".join(issue.render() for issue in self.issues)


class RulesetError(KpiError):
    """A ruleset or policy file is invalid; ``issues`` lists every problem found."""

    @classmethod
    def from_issues(cls, issues: Iterable[Issue], what: str = "ruleset") -> RulesetError:
        """Build the error from issues, counting errors in the message."""
        collected = tuple(issues)
        errors = sum(1 for i in collected if i.severity == "error")
        return cls(f"{what} is invalid: {errors} error(s)\n" + _lines(collected), collected)


class ExpressionError(KpiError):
    """An expression does not parse, uses something outside the safe subset, or mistypes."""

    def __init__(self, message: str, column: int = 0, suggestion: str | None = None) -> None:
        self.column = column
        self.suggestion = suggestion
        super().__init__(message)


class DataError(KpiError):
    """Input records, membership rows or events are invalid; ``issues`` names each row."""

    @classmethod
    def from_issues(cls, issues: Iterable[Issue], what: str = "input data") -> DataError:
        """Build the error from issues, counting them in the message."""
        collected = tuple(issues)
        return cls(f"{what} is invalid: {len(collected)} problem(s)\n" + _lines(collected), collected)


class EvaluationError(KpiError):
    """Evaluation cannot proceed: a strict run met N/A, or a KPI with ``on_missing: error`` had no value."""


SMALL_POOL = 2_000  # candidates compared one by one (difflib), as always
NEIGHBOURS = 16  # in a larger pool: the candidates next to the name, each side, in two sorted orders


class EngineRefusalError(KpiError):
    """``engine="columnar"`` refused valid input its kernel does not hold (the message names why).

    Not an error in the data: ``engine="row"`` (or ``auto``) evaluates the same input. The
    streaming executor catches it to hand that one batch to the row executor.
    """


class Suggestions:
    """``did you mean`` over one pool of candidates (names, columns, a roster), with bounded work per name.

    A pool of up to ``SMALL_POOL`` candidates is searched whole. In a larger one (a roster of
    100,000 ids) comparing every candidate for every unknown id made an error path slower than
    an evaluation (31-45 s for 1,110 rows), so only the ``NEIGHBOURS`` candidates either side of
    the name in sorted order (a typo near the end: ``rep_01234`` → ``rep_01243``) and in the order
    of the reversed names (a typo near the start) are compared: at most ``4 × NEIGHBOURS`` per
    name, after one sort of the pool. ``comparisons`` counts the candidates compared.
    """

    def __init__(self, candidates: Iterable[str]) -> None:
        self.pool = sorted(set(candidates))
        self.strategy = "all" if len(self.pool) <= SMALL_POOL else "neighbours"
        self.reversed = sorted(c[::-1] for c in self.pool) if self.strategy == "neighbours" else []
        self.comparisons = 0

    def near(self, name: str) -> list[str]:
        """The candidates compared with ``name``."""
        if self.strategy == "all":
            return self.pool
        at = bisect.bisect_left(self.pool, name)
        back = name[::-1]
        at_back = bisect.bisect_left(self.reversed, back)
        near = self.pool[max(0, at - NEIGHBOURS) : at + NEIGHBOURS]
        near += [c[::-1] for c in self.reversed[max(0, at_back - NEIGHBOURS) : at_back + NEIGHBOURS]]
        return sorted(set(near))

    def __call__(self, name: str) -> str | None:
        """``did you mean 'x'?`` for the closest candidate, or ``None`` if nothing is close."""
        near = self.near(name)
        self.comparisons += len(near)
        matches = difflib.get_close_matches(name, near, n=1, cutoff=0.6)
        return f"did you mean '{matches[0]}'?" if matches else None


_last: list[tuple[object, int, Suggestions]] = []  # the pool of the last call: callers ask per row of one table


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """Return ``did you mean 'x'?`` for the closest candidate, or ``None`` if nothing is close (``Suggestions``).

    Asked again with the same collection (unchanged in size), the sorted pool is reused.
    """
    if isinstance(candidates, set | frozenset | list | tuple | dict):
        if _last and _last[0][0] is candidates and _last[0][1] == len(candidates):
            return _last[0][2](name)
        found = Suggestions(candidates)
        _last[:] = [(candidates, len(candidates), found)]
        return found(name)
    return Suggestions(candidates)(name)
