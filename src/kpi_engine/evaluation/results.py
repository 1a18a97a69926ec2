"""Appraisal results and their canonical serialisation.

Values are kept exact. ``to_dict`` rounds scores, weights, contributions and totals to the
ruleset's places and mode (only here, where they are reported); metric values are written
exactly. Decimals are JSON strings so no digit is lost; order is stable, so the same run
always serialises to the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import attrs

from kpi_engine._numbers import canonical, quantize
from kpi_engine._perf import paused_gc
from kpi_engine.errors import Issue
from kpi_engine.expr import Value


def jsonable(value: object) -> Any:
    """Turn decimals into canonical strings, recursively; leave other JSON values alone."""
    if isinstance(value, Decimal):
        return canonical(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _same(value: Any) -> Any:
    return value


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        return canonical(value)
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


@attrs.frozen
class KpiResult:
    """One KPI of one subject: value → score → weighted contribution, with its explanation."""

    id: str
    title: str | None
    section: str
    metric: str
    value: Value
    status: Literal["scored", "excluded"]
    score: Decimal | None
    weight: Decimal
    effective_weight: Decimal
    contribution: Decimal
    flags: tuple[str, ...]
    explanation: dict[str, Any]


@attrs.frozen
class SectionResult:
    id: str
    title: str | None
    weight: Decimal
    score: Decimal | None
    effective_weight: Decimal
    flags: tuple[str, ...]


@attrs.frozen
class GateResult:
    id: str
    condition: str
    outcome: Literal["applied", "not_applied", "not_evaluated"]
    action: str
    value: str
    reason: str | None


@attrs.frozen
class SubjectResult:
    """The appraisal of one subject."""

    subject: str
    level: str
    parent: str | None
    total: Decimal | None
    grade: str | None
    bonus_multiplier: Decimal | None
    rank: int | None
    rank_in_parent: int | None
    kpis: tuple[KpiResult, ...]
    sections: tuple[SectionResult, ...]
    gates: tuple[GateResult, ...]
    adjustments: tuple[dict[str, Any], ...]
    flags: tuple[str, ...]
    total_before_gates: Decimal | None
    metrics: dict[str, Value] = attrs.field(factory=dict)

    def kpi(self, kpi_id: str) -> KpiResult:
        """The result of one KPI.

        Raises:
            KeyError: if the scorecard has no such KPI.
        """
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(kpi_id)


@attrs.frozen
class Appraisal:
    """The result of evaluating a scorecard for one period."""

    ruleset_id: str
    version: str
    sha256: str
    title: str
    period: str
    level: str
    places: int
    rounding: str
    strict: bool
    results: tuple[SubjectResult, ...]
    warnings: tuple[Issue, ...] = ()  # e.g. roster members without a record; printed on stderr by the CLI

    def result(self, subject: str) -> SubjectResult:
        """The result of one subject.

        Raises:
            KeyError: if the subject was not appraised.
        """
        for r in self.results:
            if r.subject == subject:
                return r
        raise KeyError(subject)

    def _r(self, value: Decimal | None) -> str | None:
        return None if value is None else format(quantize(value, self.places, self.rounding), "f")

    def _kpi(self, k: KpiResult, jsonable: Callable[[Any], Any]) -> dict[str, Any]:
        return {
            "id": k.id,
            "title": k.title,
            "section": k.section,
            "metric": k.metric,
            "value": jsonable(k.value),
            "status": k.status,
            "score": self._r(k.score),
            "weight": canonical(k.weight),
            "effective_weight": self._r(k.effective_weight * 100),
            "contribution": self._r(k.contribution),
            "flags": list(k.flags),
            "explanation": jsonable(k.explanation),
        }

    def to_dict(self) -> dict[str, Any]:
        """A canonical, JSON-ready mapping (decimals as strings, reported numbers rounded)."""
        return self._build(jsonable)

    def _build(self, jsonable: Callable[[Any], Any]) -> dict[str, Any]:
        """The mapping of ``to_dict``; ``jsonable`` converts traces (identity lets the encoder do it)."""
        return {
            "ruleset": {"id": self.ruleset_id, "version": self.version, "sha256": self.sha256, "title": self.title},
            "period": self.period,
            "level": self.level,
            "rounding": {"places": self.places, "mode": self.rounding},
            "strict": self.strict,
            "results": [
                {
                    "subject": r.subject,
                    "level": r.level,
                    "parent": r.parent,
                    "total": self._r(r.total),
                    "total_before_gates": self._r(r.total_before_gates),
                    "grade": r.grade,
                    "bonus_multiplier": jsonable(r.bonus_multiplier),
                    "rank": r.rank,
                    "rank_in_parent": r.rank_in_parent,
                    "flags": list(r.flags),
                    "metrics": jsonable(r.metrics),
                    "sections": [
                        {
                            "id": s.id,
                            "title": s.title,
                            "weight": canonical(s.weight),
                            "score": self._r(s.score),
                            "effective_weight": self._r(s.effective_weight * 100),
                            "flags": list(s.flags),
                        }
                        for s in r.sections
                    ],
                    "kpis": [self._kpi(k, jsonable) for k in r.kpis],
                    "gates": [jsonable(attrs.asdict(g)) for g in r.gates],
                    "adjustments": jsonable(list(r.adjustments)),
                }
                for r in self.results
            ],
        }

    # Frames (issue 7): the conversions live in ``evaluation.frames``; each library is imported on demand.

    def to_arrow(self, level: Literal["kpi", "subject"] = "kpi") -> Any:
        """A ``pyarrow.Table``: one row per subject × KPI (``level="kpi"``) or per subject; decimal128 numbers."""
        from kpi_engine.evaluation.frames import to_arrow  # noqa: PLC0415 - frames imports optional libraries

        return to_arrow(self, level)

    def to_polars(self, level: Literal["kpi", "subject"] = "kpi") -> Any:
        """A ``polars.DataFrame`` of ``to_arrow`` (Decimal columns)."""
        from kpi_engine.evaluation.frames import to_polars  # noqa: PLC0415 - frames imports optional libraries

        return to_polars(self, level)

    def to_pandas(self, level: Literal["kpi", "subject"] = "kpi") -> Any:
        """A ``pandas.DataFrame`` with ``decimal.Decimal`` values in the number columns."""
        from kpi_engine.evaluation.frames import to_pandas  # noqa: PLC0415 - frames imports optional libraries

        return to_pandas(self, level)

    def to_json(self, *, indent: int | None = None) -> str:
        """The canonical JSON text of ``to_dict`` (UTF-8 safe, Chinese kept as is).

        Compact by default (and fast: the C encoder); ``indent=2`` for people.
        """
        # The C encoder walks the traces and turns each Decimal into its canonical text.
        with paused_gc():
            data = self._build(_same)
            if indent is None:
                return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_encode)
            return json.dumps(data, ensure_ascii=False, indent=indent, default=_encode)
