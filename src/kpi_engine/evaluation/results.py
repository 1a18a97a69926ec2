"""Appraisal results and their canonical serialisation.

Every result holds its exact numbers (``Decimal`` or ``Fraction``) in the ``*_exact`` fields and
reports them through properties of the same name without the suffix: ``SubjectResult.total`` is
the total as the ruleset reports it (a ``Decimal`` with the ruleset's places, ``Decimal('101.49')``),
``total_exact`` the exact rational it was rounded from (``Fraction(172531, 1700)``); likewise
``score``, ``contribution``, ``effective_weight`` and ``total_before_gates``. The ``Rounding`` each
result carries (the ruleset's ``rounding:``) does the rounding, correctly, in all seven modes.
Values are kept exact (``Decimal`` or ``Fraction``). ``to_dict`` rounds scores, weights,
contributions and totals to the ruleset's places and mode (only here, where they are reported);
metric values are written exactly (a value without a finite decimal expansion to 34 significant
digits). Decimals are JSON strings so no digit is lost; order is stable, so the same run always
serialises to the same bytes.

Results are lean: what is the same for every subject (KPI definitions, parameters, gates) is
written once in the ``scorecard`` header, and a KPI's explanation is built only when it is read
(``KpiResult.explanation``, ``to_dict(traces=True)``), by the evaluator that computed its numbers.
Large outputs stream: ``iter_json`` and ``iter_jsonl`` yield text subject by subject.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, Protocol

import attrs

from kpi_engine import _numbers as num
from kpi_engine._numbers import HUNDRED, Number, canonical, exactly, is_number, quantize
from kpi_engine._perf import paused_gc
from kpi_engine.errors import Issue
from kpi_engine.expr import Value
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard


def jsonable(value: object) -> Any:
    """Turn decimals into canonical strings, recursively; leave other JSON values alone."""
    if is_number(value):
        return canonical(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _same(value: Any) -> Any:
    return value


def _encode(value: object) -> str:
    if is_number(value):
        return canonical(value)
    msg = f"{type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


@attrs.frozen
class Rounding:
    """How a run reports its exact numbers: the ruleset's ``rounding`` (places, mode, contributions).

    .. versionadded:: 0.2.0
    """

    places: int = 2
    mode: str = "half_up"  # one of ``_numbers.ROUNDING_MODES``
    contributions: str = "rounded"  # or "largest_remainder"

    @classmethod
    def of(cls, card: Scorecard) -> Rounding:
        """The rounding a scorecard declares."""
        return cls(card.places, card.rounding, card.contributions)

    def round(self, value: Number | None) -> Decimal | None:
        """A reported figure: ``value`` correctly rounded to ``places`` (``None`` stays ``None``, N/A)."""
        return None if value is None else quantize(value, self.places, self.mode)

    def share(self, value: Number | None) -> Decimal | None:
        """A share (``1/3``) rounded to ``places + 2``, so that ``100 ×`` it is the reported percent (33.33)."""
        return None if value is None else quantize(value, self.places + 2, self.mode)

    def value(self, value: Number) -> Decimal:
        """A metric value as the readable reports show it: rounded to ``places + 2`` decimals.

        ``canonical`` of the result drops the zeros rounding added (``99000``, ``0.9527``, ``1.1``);
        the exact value stays in the result, the traces and the JSON.
        """
        return quantize(value, self.places + 2, self.mode)

    def parts(self, contributions: Sequence[Number], before: Number | None) -> tuple[list[Decimal], Decimal]:
        """The reported contributions and the residue against the reported total before gates.

        With ``contributions: rounded`` each part is correctly rounded and the residue
        (reported total − Σ reported parts) is what rounding left over, shown so that nobody is
        puzzled when the parts do not add up. With ``largest_remainder`` the parts are apportioned
        so that they add up to the reported total exactly (residue 0): each part is the exact value
        cut down to the reported places, and the units still missing go to the parts with the
        largest remainders (ties to the earlier KPI).
        """
        # Exact operations only: the caller's decimal context must not touch a reported digit.
        places, mode = self.places, self.mode
        whole = self.round(before) or Decimal(0)
        if self.contributions != "largest_remainder":
            parts = [quantize(c, places, mode) for c in contributions]
            return parts, quantize(num.sub(whole, num.total(parts)), places, "down")
        unit = Decimal(1).scaleb(-places)
        floors = [quantize(c, places, "floor") for c in contributions]
        missing = int(num.div(num.sub(whole, num.total(floors)), unit))
        order = sorted(range(len(floors)), key=lambda i: (num.neg(num.sub(contributions[i], floors[i])), i))
        for i in order[: max(missing, 0)]:
            floors[i] = quantize(num.add(floors[i], unit), places, "down")
        return floors, quantize(Decimal(0), places, "down")


DEFAULT_ROUNDING = Rounding()


class Tracer(Protocol):
    """Builds the explanation of one KPI of one subject on demand."""

    def explanation(self, subject: str, kpi_id: str) -> dict[str, Any]: ...


@attrs.frozen
class KpiResult:
    """One KPI of one subject: value → score → weighted contribution, with its explanation.

    ``score``, ``effective_weight`` and ``contribution`` are the reported figures (``Decimal``,
    rounded by ``rounding``); ``score_exact``, ``effective_weight_exact`` and ``contribution_exact``
    the exact values. ``value`` is the exact metric value.

    .. versionchanged:: 0.2.0
       ``score``, ``effective_weight`` and ``contribution`` report rounded ``Decimal`` values; the
       exact ones moved to the ``*_exact`` fields.
    """

    id: str
    title: str | None
    section: str
    metric: str
    value: Value
    status: Literal["scored", "excluded"]
    score_exact: Number | None
    weight: Decimal
    effective_weight_exact: Number
    contribution_exact: Number
    flags: tuple[str, ...]
    trace: dict[str, Any] | None = attrs.field(default=None, eq=False, repr=False)
    subject: str = attrs.field(default="", eq=False, repr=False)
    tracer: Tracer | None = attrs.field(default=None, eq=False, repr=False)
    rounding: Rounding = attrs.field(default=DEFAULT_ROUNDING, repr=False)
    # The apportioned part under ``contributions: largest_remainder`` (set by the subject's result).
    part: Decimal | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def score(self) -> Decimal | None:
        """The reported score (``Decimal('110.00')``); ``None`` when the KPI is excluded (N/A)."""
        return (
            None if self.score_exact is None else quantize(self.score_exact, self.rounding.places, self.rounding.mode)
        )

    @property
    def effective_weight(self) -> Decimal:
        """The reported share after renormalisation: ``Decimal("0.3600")``, ``scaleb(2)`` gives the reported 36.00 %."""
        return quantize(self.effective_weight_exact, self.rounding.places + 2, self.rounding.mode)

    @property
    def contribution(self) -> Decimal:
        """The reported contribution to the total before gates (apportioned under ``largest_remainder``)."""
        if self.part is not None:
            return self.part
        return quantize(self.contribution_exact, self.rounding.places, self.rounding.mode)

    @property
    def explanation(self) -> dict[str, Any]:
        """Why the numbers are what they are: inputs and sources, method, rule, weights (built on demand)."""
        if self.trace is not None:
            return self.trace
        return {} if self.tracer is None else self.tracer.explanation(self.subject, self.id)

    def complete(self) -> KpiResult:
        """This result with every field set (itself; a lazy view of the row path's fast lane gives its built result).

        .. versionadded:: 0.2.0
        """
        return self


def _kpi_result_builder() -> Callable[..., KpiResult]:
    """``KpiResult(*fields)`` with each slot set directly: what attrs' ``__init__`` does, a fifth faster.

    The row evaluator builds one per subject and KPI. ``KpiResult`` has no validator, converter
    or post-init hook, so an instance is its slots; if its fields ever change, the class itself is
    used.
    """
    names = tuple(a.name for a in attrs.fields(KpiResult))
    expected: tuple[str, ...] = ("id", "title", "section", "metric", "value", "status", "score_exact", "weight")
    expected += ("effective_weight_exact", "contribution_exact", "flags", "trace", "subject", "tracer", "rounding")
    expected += ("part",)
    plain = all(a.validator is None and a.converter is None for a in attrs.fields(KpiResult))
    if names != expected or not plain or hasattr(KpiResult, "__attrs_post_init__"):
        return KpiResult  # pragma: no cover - a changed class: its own constructor
    setters = tuple(getattr(KpiResult, n).__set__ for n in names)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = setters
    new = object.__new__

    def build(
        a0: str,
        a1: str | None,
        a2: str,
        a3: str,
        a4: Value,
        a5: str,
        a6: Number | None,
        a7: Decimal,
        a8: Number,
        a9: Number,
        a10: tuple[str, ...],
        a11: dict[str, Any] | None,
        a12: str,
        a13: Tracer | None,
        a14: Rounding = DEFAULT_ROUNDING,
    ) -> KpiResult:
        obj: KpiResult = new(KpiResult)
        s0(obj, a0)
        s1(obj, a1)
        s2(obj, a2)
        s3(obj, a3)
        s4(obj, a4)
        s5(obj, a5)
        s6(obj, a6)
        s7(obj, a7)
        s8(obj, a8)
        s9(obj, a9)
        s10(obj, a10)
        s11(obj, a11)
        s12(obj, a12)
        s13(obj, a13)
        s14(obj, a14)
        s15(obj, None)
        return obj

    return build


new_kpi_result = _kpi_result_builder()

_KpiHead = tuple[str, str | None, str, str, Decimal]  # id, title, section, metric, declared weight
_KpiScored = tuple[Value, Number | None, Sequence[str], dict[str, Any]]  # value, score, flags, explanation


def _kpi_results_builder() -> Callable[..., list[KpiResult]]:
    """``new_kpi_results``: a subject's ``KpiResult`` objects in one loop, each slot set directly.

    The same objects as ``new_kpi_result`` per KPI, without a call per KPI (the row evaluator's
    largest cost on a small batch is building these).
    """
    if new_kpi_result is KpiResult:  # pragma: no cover - a changed class: its own constructor

        def build_with_class(
            heads: Sequence[_KpiHead],
            scored: Sequence[_KpiScored],
            shares: Sequence[Number],
            contributions: Sequence[Number],
            subject: str,
            tracer: Tracer | None,
            trace: bool,  # noqa: FBT001 - positional on a hot path
            rounding: Rounding = DEFAULT_ROUNDING,
        ) -> list[KpiResult]:
            return [
                KpiResult(
                    kid,
                    title,
                    section,
                    metric,
                    value,
                    "excluded" if score is None else "scored",
                    score,
                    weight,
                    share,
                    contribution,
                    tuple(flags) if flags else (),
                    explanation if trace else None,
                    subject,
                    tracer,
                    rounding,
                )
                for (kid, title, section, metric, weight), (
                    value,
                    score,
                    flags,
                    explanation,
                ), share, contribution in zip(heads, scored, shares, contributions, strict=True)
            ]

        return build_with_class
    names = tuple(a.name for a in attrs.fields(KpiResult))
    setters = tuple(getattr(KpiResult, n).__set__ for n in names)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = setters
    new = object.__new__

    def build_all(
        heads: Sequence[_KpiHead],
        scored: Sequence[_KpiScored],
        shares: Sequence[Number],
        contributions: Sequence[Number],
        subject: str,
        tracer: Tracer | None,
        trace: bool,  # noqa: FBT001 - positional on a hot path
        rounding: Rounding = DEFAULT_ROUNDING,
    ) -> list[KpiResult]:
        out: list[KpiResult] = []
        append = out.append
        for (kid, title, section, metric, weight), (value, score, flags, explanation), share, contribution in zip(
            heads, scored, shares, contributions, strict=True
        ):
            obj: KpiResult = new(KpiResult)
            s0(obj, kid)
            s1(obj, title)
            s2(obj, section)
            s3(obj, metric)
            s4(obj, value)
            s5(obj, "excluded" if score is None else "scored")
            s6(obj, score)
            s7(obj, weight)
            s8(obj, share)
            s9(obj, contribution)
            s10(obj, tuple(flags) if flags else ())
            s11(obj, explanation if trace else None)
            s12(obj, subject)
            s13(obj, tracer)
            s14(obj, rounding)
            s15(obj, None)
            append(obj)
        return out

    return build_all


new_kpi_results = _kpi_results_builder()


@attrs.frozen
class SectionResult:
    """One section of one subject: ``score``/``effective_weight`` reported, ``*_exact`` exact.

    .. versionchanged:: 0.2.0
       ``score`` and ``effective_weight`` report rounded ``Decimal`` values.
    """

    id: str
    title: str | None
    weight: Decimal
    score_exact: Number | None
    effective_weight_exact: Number
    flags: tuple[str, ...]
    rounding: Rounding = attrs.field(default=DEFAULT_ROUNDING, repr=False)

    @property
    def score(self) -> Decimal | None:
        """The reported section score; ``None`` when no KPI of the section applies."""
        return self.rounding.round(self.score_exact)

    @property
    def effective_weight(self) -> Decimal:
        """The reported share of the total (``Decimal('0.6000')`` is 60.00 %)."""
        return quantize(self.effective_weight_exact, self.rounding.places + 2, self.rounding.mode)


@attrs.frozen
class GateResult:
    id: str
    condition: str
    outcome: Literal["applied", "not_applied", "not_evaluated"]
    action: str
    value: str
    reason: str | None


@attrs.frozen
class AdjustmentResult:
    """Whether an adjustment's condition held for a subject (``None``: N/A)."""

    id: str
    kpi: str
    holds: Value


@attrs.frozen
class SubjectResult:
    """The appraisal of one subject.

    ``total`` and ``total_before_gates`` are the reported figures (``Decimal('101.49')``, rounded
    by ``rounding``, ``None`` when no KPI applies); ``total_exact`` and ``total_before_gates_exact``
    the exact rationals they were rounded from. Ranks and grades are decided on the exact totals.

    .. versionchanged:: 0.2.0
       ``total`` and ``total_before_gates`` report rounded ``Decimal`` values; the exact ones
       moved to ``total_exact`` and ``total_before_gates_exact``.
    """

    subject: str
    level: str
    parent: str | None
    total_exact: Number | None
    grade: str | None
    bonus_multiplier: Decimal | None
    rank: int | None
    rank_in_parent: int | None
    kpis: tuple[KpiResult, ...]
    sections: tuple[SectionResult, ...]
    gates: tuple[GateResult, ...]
    adjustments: tuple[AdjustmentResult, ...]
    flags: tuple[str, ...]
    total_before_gates_exact: Number | None
    metrics: dict[str, Value] = attrs.field(factory=dict)
    rounding: Rounding = attrs.field(default=DEFAULT_ROUNDING, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.rounding.contributions == "largest_remainder":  # each part depends on the others
            parts, _ = self.rounding.parts([k.contribution_exact for k in self.kpis], self.total_before_gates_exact)
            for k, part in zip(self.kpis, parts, strict=True):
                object.__setattr__(k.complete(), "part", part)  # built for this result (a view: its result)

    @property
    def total(self) -> Decimal | None:
        """The reported total (``Decimal('101.49')``); ``None`` when no KPI applies."""
        return self.rounding.round(self.total_exact)

    @property
    def total_before_gates(self) -> Decimal | None:
        """The reported total before gates capped it (equal to ``total`` when no gate changed it)."""
        return self.rounding.round(self.total_before_gates_exact)

    @property
    def contributions_residue(self) -> Decimal:
        """Reported total before gates − Σ reported contributions (0 when the parts add up)."""
        return self.rounding.parts([k.contribution_exact for k in self.kpis], self.total_before_gates_exact)[1]

    def complete(self) -> SubjectResult:
        """This result with every field set: itself, or the built result behind a lazy view.

        The row path's fast lane hands back views (subclasses) that compute what is read on
        access; ``complete()`` gives the plain ``SubjectResult`` they stand for (equal to them).

        .. versionadded:: 0.2.0
        """
        return self

    def kpi(self, kpi_id: str) -> KpiResult:
        """The result of one KPI.

        Raises:
            KeyError: if the scorecard has no such KPI.
        """
        for k in self.kpis:
            if k.id == kpi_id:
                return k
        raise KeyError(kpi_id)


# Keys of a KPI explanation that are the same for every subject: written once in the header.
_SHARED_TRACE_KEYS = frozenset({"metric", "definition", "method", "parameters", "weight"})


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
    # A tuple from the row path; the columnar kernel passes a sequence that builds each result when read.
    results: Sequence[SubjectResult]
    contributions: str = "rounded"
    scorecard: Scorecard | None = attrs.field(default=None, eq=False, repr=False)
    warnings: tuple[Issue, ...] = ()  # e.g. roster members without a record; printed on stderr by the CLI
    # Why the columnar executor handed this run to the row executor (``engine="auto"``), else None;
    # ``kpi evaluate`` prints it on stderr. Not part of the appraisal's value.
    fallback: str | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def of_run(
        cls,
        ruleset: Ruleset,
        card: Scorecard,
        period: str,
        results: Sequence[SubjectResult],
        *,
        strict: bool,
        warnings: tuple[Issue, ...] = (),
    ) -> Appraisal:
        """The appraisal of one run of ``card`` (the ruleset's scorecard, as the run used it)."""
        return cls(
            ruleset_id=ruleset.id,
            version=ruleset.version,
            sha256=ruleset.sha256,
            title=card.title,
            period=period,
            level=card.subject,
            places=card.places,
            rounding=card.rounding,
            strict=strict,
            results=results,
            warnings=warnings,
            contributions=card.contributions,
            scorecard=card,
        )

    def result(self, subject: str) -> SubjectResult:
        """The result of one subject.

        Raises:
            KeyError: if the subject was not appraised.
        """
        for r in self.results:
            if r.subject == subject:
                return r
        raise KeyError(subject)

    def round(self, value: Number | None) -> Decimal | None:
        """The reported form of an exact value: correctly rounded to the ruleset's places and mode."""
        return None if value is None else quantize(value, self.places, self.rounding)

    def reported(self, value: Number | None) -> str | None:
        """The reported text of an exact value (``round`` as text: ``"83.33"``), ``None`` for N/A."""
        return None if value is None else format(quantize(value, self.places, self.rounding), "f")

    def reported_contributions(self, result: SubjectResult) -> tuple[dict[str, Decimal], Decimal]:
        """The contributions as reported (KPI id → part), and the residue against the reported total before gates.

        See ``Rounding.parts``: each part rounded (``contributions: rounded``), or apportioned so
        that the parts add up to the reported total (``largest_remainder``).
        """
        rounding = Rounding(self.places, self.rounding, self.contributions)
        parts, residue = rounding.parts([k.contribution_exact for k in result.kpis], result.total_before_gates_exact)
        return {k.id: p for k, p in zip(result.kpis, parts, strict=True)}, residue

    def _header(self) -> dict[str, Any]:
        head: dict[str, Any] = {
            "ruleset": {"id": self.ruleset_id, "version": self.version, "sha256": self.sha256, "title": self.title},
            "period": self.period,
            "level": self.level,
            "rounding": {"places": self.places, "mode": self.rounding, "contributions": self.contributions},
            "strict": self.strict,
        }
        if self.warnings:  # written only when there are some, so runs without warnings keep their bytes
            head["warnings"] = [w.to_dict() for w in self.warnings]
        card = self.scorecard
        if card is not None:
            head["scorecard"] = {
                "sections": [{"id": s.id, "title": s.title, "weight": canonical(s.weight)} for s in card.sections],
                "kpis": [
                    {
                        "id": k.id,
                        "title": k.title,
                        "section": k.section,
                        "metric": k.metric,
                        "definition": card.metrics[k.metric].describe(),
                        "method": k.method,
                        "parameters": jsonable(k.parameters()),
                        "weight": canonical(k.weight),
                        "on_missing": k.on_missing,
                    }
                    for k in card.kpis
                ],
                "gates": [
                    {
                        "id": g.id,
                        "condition": g.when.text,
                        "action": g.action,
                        "value": canonical(g.value) if isinstance(g.value, Decimal) else g.value,
                        "reason": g.reason,
                    }
                    for g in card.gates
                ],
                "adjustments": [
                    {
                        "id": a.id,
                        "kpi": a.kpi,
                        "condition": a.when.text,
                        "score": canonical(a.score),
                        "reason": a.reason,
                    }
                    for a in card.adjustments
                ],
                "grades": [
                    {
                        "grade": g.grade,
                        "min": None if g.min is None else canonical(g.min),
                        "title": g.title,
                        "bonus_multiplier": None if g.bonus_multiplier is None else canonical(g.bonus_multiplier),
                    }
                    for g in card.grades
                ],
            }
        return head

    def _subject(self, r: SubjectResult, *, traces: bool, convert: Callable[[Any], Any]) -> dict[str, Any]:
        r = r.complete()  # a lazy view's built result: every field is read here
        parts, residue = self.reported_contributions(r)
        kpis = []
        for k in r.kpis:
            item: dict[str, Any] = {
                "id": k.id,
                "value": convert(k.value),
                "status": k.status,
                "score": self.reported(k.score_exact),
                "effective_weight": self.reported(num.mul(k.effective_weight_exact, HUNDRED)),
                "contribution": format(parts[k.id], "f"),
                "flags": list(k.flags),
            }
            if traces:
                item["explanation"] = convert(
                    {key: v for key, v in k.explanation.items() if key not in _SHARED_TRACE_KEYS}
                )
            kpis.append(item)
        return {
            "subject": r.subject,
            "level": r.level,
            "parent": r.parent,
            "total": self.reported(r.total_exact),
            "total_before_gates": self.reported(r.total_before_gates_exact),
            "contributions_residue": format(residue, "f"),
            "grade": r.grade,
            "bonus_multiplier": convert(r.bonus_multiplier),
            "rank": r.rank,
            "rank_in_parent": r.rank_in_parent,
            "flags": list(r.flags),
            "metrics": convert(r.metrics),
            "sections": [
                {
                    "id": s.id,
                    "score": self.reported(s.score_exact),
                    "effective_weight": self.reported(num.mul(s.effective_weight_exact, HUNDRED)),
                    "flags": list(s.flags),
                }
                for s in r.sections
            ],
            "kpis": kpis,
            "gates": {g.id: g.outcome for g in r.gates},
            "adjustments": {a.id: a.holds for a in r.adjustments},
        }

    @exactly  # the caller's decimal context never leaks in
    def to_dict(self, *, traces: bool = False) -> dict[str, Any]:
        """A canonical, JSON-ready mapping (decimals as strings, reported numbers rounded).

        Args:
            traces: include each KPI's explanation (built now, subject by subject).
        """
        data = self._header()
        data["results"] = [self._subject(r, traces=traces, convert=jsonable) for r in self.results]
        return data

    def iter_json(self, *, traces: bool = False, indent: int | None = None) -> Iterator[str]:
        """The canonical JSON text of ``to_dict``, yielded in pieces: one subject at a time.

        Memory stays flat however many subjects there are; ``"".join`` gives ``to_json``.
        """
        sep = (",", ":") if indent is None else (",", ": ")

        def dump(value: Any, level: int) -> str:
            text = json.dumps(value, ensure_ascii=False, indent=indent, separators=sep, default=_encode)
            return text if indent is None else text.replace("\n", "\n" + " " * (indent * level))

        with paused_gc():
            nl = "" if indent is None else "\n"
            pad = "" if indent is None else " " * indent
            header = dump(self._header(), 0).rstrip()[:-1].rstrip()  # without the closing brace
            yield header + "," + nl + pad + '"results":' + ("" if indent is None else " ") + "["
            for i, r in enumerate(self.results):
                item = dump(self._subject(r, traces=traces, convert=_same), 2)
                yield ("," if i else "") + nl + pad * 2 + item
            yield (nl + pad if self.results else "") + "]" + nl + "}"

    @exactly
    def iter_canonical_json(self, *, traces: bool = False) -> Iterator[str]:
        """``to_dict`` as canonical JSON (keys sorted, compact), yielded one subject at a time.

        ``"".join`` gives exactly ``json.dumps(to_dict(), sort_keys=True, separators=(",", ":"),
        ensure_ascii=False)``: the bytes a run record digests, without the whole tree in memory.
        """

        def dump(value: Any) -> str:  # numbers as to_dict writes them, by the C encoder's default hook
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_encode)

        head = self._header()
        before = {k: v for k, v in head.items() if k < "results"}
        after = {k: v for k, v in head.items() if k > "results"}
        with paused_gc():
            yield (dump(before)[:-1] + "," if before else "{") + '"results":['
            for i, r in enumerate(self.results):
                yield ("," if i else "") + dump(self._subject(r, traces=traces, convert=_same))
            yield "]" + ("," + dump(after)[1:] if after else "}")

    def iter_jsonl(self, *, traces: bool = False) -> Iterator[str]:
        """JSON Lines: the header (``results`` left out) on the first line, then one line per subject."""
        with paused_gc():
            yield json.dumps(self._header(), ensure_ascii=False, separators=(",", ":"), default=_encode) + "\n"
            for r in self.results:
                item = self._subject(r, traces=traces, convert=_same)
                yield json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=_encode) + "\n"

    # Frames (issue 7): the conversions live in ``evaluation.frames``; each library is imported on demand.

    def to_arrow(
        self,
        level: Literal["kpi", "subject"] = "kpi",
        layout: Literal["long", "wide"] = "long",
        names: Mapping[str, str] | None = None,
    ) -> Any:
        """A ``pyarrow.Table``: one row per subject × KPI (``level="kpi"``) or per subject; decimal128 numbers.

        ``layout="wide"``: one row per subject, the columns of ``evaluation.frames.wide_columns``
        (``name`` from ``names``, subject → name); a KPI's values are ``decimal128`` when all are numbers.

        .. versionchanged:: 0.2.0 ``layout``, ``names``.
        """
        from kpi_engine.evaluation.frames import to_arrow  # noqa: PLC0415 - frames imports optional libraries

        return to_arrow(self, level, layout, names)

    def to_polars(
        self,
        level: Literal["kpi", "subject"] = "kpi",
        layout: Literal["long", "wide"] = "long",
        names: Mapping[str, str] | None = None,
    ) -> Any:
        """A ``polars.DataFrame`` of ``to_arrow`` (Decimal columns)."""
        from kpi_engine.evaluation.frames import to_polars  # noqa: PLC0415 - frames imports optional libraries

        return to_polars(self, level, layout, names)

    def to_pandas(
        self,
        level: Literal["kpi", "subject"] = "kpi",
        layout: Literal["long", "wide"] = "long",
        names: Mapping[str, str] | None = None,
    ) -> Any:
        """A ``pandas.DataFrame`` of ``to_arrow``'s columns: ``decimal.Decimal`` numbers, ``pd.NA`` for N/A."""
        from kpi_engine.evaluation.frames import to_pandas  # noqa: PLC0415 - frames imports optional libraries

        return to_pandas(self, level, layout, names)

    @exactly
    def to_json(self, *, traces: bool = False, indent: int | None = None) -> str:
        """The canonical JSON text of ``to_dict`` (UTF-8 safe, Chinese kept as is).

        Compact by default (and fast: the C encoder); ``indent=2`` for people.
        """
        return "".join(self.iter_json(traces=traces, indent=indent))
