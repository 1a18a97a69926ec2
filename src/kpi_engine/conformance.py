"""The conformance suite as data: cases, executors, and the comparison of an appraisal with its expectation.

In the style of the DMN TCK: each case is a ruleset, its inputs (records, and membership rows and
events where needed), the evaluation options, and the expected appraisal — or the expected error
codes. Cases live in YAML files grouped by construct (``tests/conformance/scoring/linear.yaml``);
every executor runs every case, and ``tools/conformance.py`` publishes the results table.

A case file::

    rulesets:                     # rulesets shared by the cases of this file, as YAML text
      lin: |
        ruleset: lin
        version: "1"
        title: linear
        inputs: {x: {type: number}}
        kpis: [{id: k, metric: x, method: linear, floor: 0, target: 8, weight: 100%}]
    cases:
      - id: midpoint
        labels: [kpis.method.linear]
        ruleset: lin              # or ruleset_text: |…, or ruleset_file: a path from this file
        records: [{subject: r1, period: 2026-03, x: 4}]
        expect:
          r1: {total: "50.00", kpis: {k: {value: 4, score: "50.00"}}}

Every scalar of a case file is read as text (``4`` is the text ``"4"``, as a CSV cell would hold
it), except ``null``/``~``/an empty value, which is ``None``. Reported numbers (score,
contribution, effective weight, section score, total) are compared as the reported text, so the
places and the rounding are part of the expectation; KPI values and reported metrics are compared
as exact numbers (``2/3`` may be written as a fraction).

Executors are a small registry (``EXECUTORS``): ``row``, ``columnar`` and ``streaming`` today; another engine is
one ``register_executor`` call. An executor may refuse a case with ``Unsupported`` and a reason.

Use it for your own engine checks::

    from kpi_engine.conformance import load_cases, register_executor, run_case

    register_executor("mine", lambda ruleset, inputs: my_engine(ruleset, inputs))
    for case in load_cases("tests/conformance"):
        outcome = run_case(case, "mine")
        assert outcome.status != "failed", outcome.describe()
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import attrs
import yaml

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import dispatch, evaluate, screen_inputs
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.loading import read_yaml_text
from kpi_engine.language.build import Ruleset, parse_ruleset
from kpi_engine.plan import lower
from kpi_engine.time.accumulate import accumulate, relabel

__all__ = [
    "EXECUTORS",
    "Case",
    "CaseError",
    "CaseInputs",
    "Execution",
    "Outcome",
    "Unsupported",
    "compare",
    "load_case_file",
    "load_cases",
    "register_executor",
    "run_case",
]

Status = Literal["passed", "failed", "unsupported"]


class CaseError(ValueError):
    """A case file is malformed (an unknown key, a missing ruleset, a duplicate id)."""


class Unsupported(Exception):  # noqa: N818 - an outcome, not a failure: "the executor does not support this"
    """Raised by an executor that does not evaluate a case's construct; the message says why."""


# --- reading case files --------------------------------------------------------------------------


class _TextLoader(yaml.SafeLoader):
    """YAML where every scalar stays the text it was written as; only null/~/empty is ``None``.

    A case's record cells then reach the engine as a CSV would deliver them (``0.15`` is the text
    ``0.15``, never a binary float), and expectations are compared as written.
    """


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_TextLoader)  # noqa: S506 - a SafeLoader subclass


_CASE_KEYS = frozenset({
    "id", "labels", "ruleset", "ruleset_text", "ruleset_file", "records", "members", "events", "period",
    "strict", "allow_extra_columns", "totals", "unlisted", "expect", "expect_error", "expect_warnings",
    "expect_load_warnings", "expect_period", "expect_order", "note",
})  # fmt: skip
_SUBJECT_KEYS = frozenset({
    "total", "total_before_gates", "residue", "grade", "bonus_multiplier", "rank", "rank_in_parent", "parent",
    "level", "flags", "metrics", "sections", "gates", "adjustments", "kpis",
})  # fmt: skip
_KPI_KEYS = frozenset({"value", "status", "score", "contribution", "effective_weight", "flags"})
_SECTION_KEYS = frozenset({"score", "effective_weight", "flags"})
_ERROR_KEYS = frozenset({"type", "codes", "message", "phase"})
_ERROR_TYPES = frozenset({"KpiError", "RulesetError", "DataError", "EvaluationError", "ExpressionError"})


@attrs.frozen
class CaseInputs:
    """What an executor is given besides the ruleset: rows as text, and the evaluation options."""

    records: tuple[Mapping[str, str | None], ...]
    members: tuple[Mapping[str, str | None], ...] | None
    events: tuple[Mapping[str, str | None], ...] | None
    period: str | None
    strict: bool
    allow_extra_columns: bool
    totals: Literal["refuse", "skip"] = "refuse"
    unlisted: Literal["error", "exclude"] = "error"


@attrs.frozen
class Case:
    """One conformance case: a ruleset, its inputs, and the expected appraisal or error."""

    group: str  # the case file's path under the suite's root, without ``.yaml`` (e.g. ``scoring/linear``)
    id: str
    labels: tuple[str, ...]
    ruleset_text: str
    ruleset_name: str  # where the ruleset came from, for messages
    inputs: CaseInputs
    expect: Mapping[str, Any] | None
    expect_error: Mapping[str, Any] | None
    expect_warnings: tuple[str, ...]
    expect_load_warnings: tuple[str, ...]
    expect_period: str | None
    expect_order: tuple[str, ...] | None
    source: str

    @property
    def full_id(self) -> str:
        """``group::id``, unique in a suite."""
        return f"{self.group}::{self.id}"


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if str(value).lower() in {"true", "false"}:
        return str(value).lower() == "true"
    raise CaseError(f"{where}: expected true or false, got {value!r}")


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str:
    """An option's value, the first of ``allowed`` when not given."""
    if value is None:
        return allowed[0]
    if str(value) in allowed:
        return str(value)
    raise CaseError(f"{where}: expected one of {', '.join(allowed)}, got {value!r}")


def _rows(value: Any, where: str) -> tuple[Mapping[str, str | None], ...]:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise CaseError(f"{where}: expected a list of mappings")
    return tuple({str(k): (None if v is None else str(v)) for k, v in r.items()} for r in value)


def _check_expect(expect: Any, where: str) -> None:
    if not isinstance(expect, dict):
        raise CaseError(f"{where}: expect must map each appraised subject to its expectations")
    for subject, spec in expect.items():
        if not isinstance(spec, dict):
            raise CaseError(f"{where}.{subject}: expected a mapping")
        unknown = set(spec) - _SUBJECT_KEYS
        if unknown:
            raise CaseError(f"{where}.{subject}: unknown key(s) {sorted(unknown)}")
        for kpi_id, kspec in (spec.get("kpis") or {}).items():
            if isinstance(kspec, dict) and set(kspec) - _KPI_KEYS:
                raise CaseError(f"{where}.{subject}.kpis.{kpi_id}: unknown key(s) {sorted(set(kspec) - _KPI_KEYS)}")
        for sid, sspec in (spec.get("sections") or {}).items():
            if not isinstance(sspec, dict) or set(sspec) - _SECTION_KEYS:
                raise CaseError(f"{where}.{subject}.sections.{sid}: expected a mapping of {sorted(_SECTION_KEYS)}")


def load_case_file(path: str | Path, root: str | Path | None = None) -> list[Case]:
    """The cases of one file (``root``: the suite's folder, which names the group).

    Raises:
        CaseError: on an unknown key, a missing or ambiguous ruleset, or a duplicate id.
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    group = path.relative_to(base).with_suffix("").as_posix()
    doc = _read_yaml(read_yaml_text(path))
    if not isinstance(doc, dict) or set(doc) - {"rulesets", "cases"} or "cases" not in doc:
        raise CaseError(f"{path}: a case file has 'cases' (and optionally 'rulesets') at the top")
    shared = doc.get("rulesets") or {}
    seen: set[str] = set()
    out: list[Case] = []
    for n, raw in enumerate(doc["cases"] or []):
        where = f"{path}: cases[{n}]"
        if not isinstance(raw, dict):
            raise CaseError(f"{where}: expected a mapping")
        unknown = set(raw) - _CASE_KEYS
        if unknown:
            raise CaseError(f"{where}: unknown key(s) {sorted(unknown)}")
        case_id = str(raw.get("id") or "")
        if not case_id or case_id in seen:
            raise CaseError(f"{where}: every case needs a unique id (got {case_id!r})")
        seen.add(case_id)
        where = f"{path}: {case_id}"
        given = [k for k in ("ruleset", "ruleset_text", "ruleset_file") if raw.get(k) is not None]
        if len(given) != 1:
            raise CaseError(f"{where}: give exactly one of ruleset, ruleset_text, ruleset_file")
        if given[0] == "ruleset":
            name = str(raw["ruleset"])
            if name not in shared:
                raise CaseError(f"{where}: no ruleset {name!r} in this file's rulesets")
            text, origin = str(shared[name]), f"{group}#{name}"
        elif given[0] == "ruleset_text":
            text, origin = str(raw["ruleset_text"]), f"{group}::{case_id}"
        else:
            file = (path.parent / str(raw["ruleset_file"])).resolve()
            text, origin = read_yaml_text(file), str(raw["ruleset_file"])
        expect, error = raw.get("expect"), raw.get("expect_error")
        if (expect is None) == (error is None):
            raise CaseError(f"{where}: give exactly one of expect and expect_error")
        if expect is not None:
            _check_expect(expect, f"{where}: expect")
        if error is not None and (not isinstance(error, dict) or set(error) - _ERROR_KEYS):
            raise CaseError(f"{where}: expect_error takes {sorted(_ERROR_KEYS)}")
        if error is not None and (error.get("type") not in _ERROR_TYPES or not isinstance(error.get("codes"), list)):
            raise CaseError(f"{where}: expect_error needs a type ({sorted(_ERROR_TYPES)}) and a list of codes")
        inputs = CaseInputs(
            records=_rows(raw.get("records") or [], f"{where}: records"),
            members=None if raw.get("members") is None else _rows(raw["members"], f"{where}: members"),
            events=None if raw.get("events") is None else _rows(raw["events"], f"{where}: events"),
            period=None if raw.get("period") is None else str(raw["period"]),
            strict=_flag(raw.get("strict"), f"{where}: strict"),
            allow_extra_columns=_flag(raw.get("allow_extra_columns"), f"{where}: allow_extra_columns"),
            totals=_choice(raw.get("totals"), ("refuse", "skip"), f"{where}: totals"),  # type: ignore[arg-type]
            unlisted=_choice(raw.get("unlisted"), ("error", "exclude"), f"{where}: unlisted"),  # type: ignore[arg-type]
        )
        out.append(
            Case(
                group=group,
                id=case_id,
                labels=tuple(str(label) for label in raw.get("labels") or ()),
                ruleset_text=text,
                ruleset_name=origin,
                inputs=inputs,
                expect=expect,
                expect_error=error,
                expect_warnings=tuple(str(w) for w in raw.get("expect_warnings") or ()),
                expect_load_warnings=tuple(str(w) for w in raw.get("expect_load_warnings") or ()),
                expect_period=None if raw.get("expect_period") is None else str(raw["expect_period"]),
                expect_order=None if raw.get("expect_order") is None else tuple(str(s) for s in raw["expect_order"]),
                source=str(path),
            )
        )
    return out


def load_cases(root: str | Path) -> list[Case]:
    """Every case of every ``*.yaml`` file under ``root`` (folders starting with ``_`` hold shared rulesets).

    Raises:
        CaseError: on a malformed case file, or the same case id twice.
    """
    root = Path(root)
    cases: list[Case] = []
    for path in sorted(root.rglob("*.yaml")):
        if any(part.startswith("_") for part in path.relative_to(root).parts):
            continue
        cases.extend(load_case_file(path, root))
    return cases


# --- executors -----------------------------------------------------------------------------------


@attrs.frozen
class Execution:
    """What an executor made of a case: an appraisal, and a note (e.g. "handed to the row path")."""

    appraisal: Appraisal
    note: str | None = None


Executor = Callable[[Ruleset, CaseInputs], "Execution | Appraisal"]


def _row(ruleset: Ruleset, inputs: CaseInputs) -> Appraisal:
    return evaluate(
        ruleset,
        list(inputs.records),
        period=inputs.period,
        members=None if inputs.members is None else list(inputs.members),
        events=None if inputs.events is None else list(inputs.events),
        strict=inputs.strict,
        allow_extra_columns=inputs.allow_extra_columns,
        engine="row",
        totals=inputs.totals,
        unlisted=inputs.unlisted,
    )


class _HandedOver(Exception):  # noqa: N818 - carries the row path's error out of the hand-over
    def __init__(self, error: KpiError) -> None:
        self.error = error
        super().__init__(str(error))


def _columnar(ruleset: Ruleset, inputs: CaseInputs) -> Execution:
    """The compiled kernel; a case it hands to the row path (bad data, rare forms) is noted as such."""
    try:
        from kpi_engine.evaluation import columnar  # noqa: PLC0415 - the optional kernel
    except ImportError as exc:  # pragma: no cover - the package moved: the public entry point below
        raise Unsupported(f"the columnar kernel cannot be imported ({exc})") from None
    if not columnar.available():
        raise Unsupported("the columnar extra (polars, numpy) is not installed")
    reason = lower(ruleset.scorecard).support("columnar")
    if reason is not None:
        raise Unsupported(reason)
    handed: list[bool] = []

    def rows(rs: Ruleset, records: Any, **options: Any) -> Appraisal:
        # As ``evaluate`` binds it for its own hand-over: the option reaches the row path too.
        handed.append(True)
        try:
            return evaluate(rs, records, engine="row", allow_extra_columns=inputs.allow_extra_columns, **options)
        except KpiError as exc:
            raise _HandedOver(exc) from exc

    events = None if inputs.events is None else list(inputs.events)
    # As ``evaluate`` runs it: screening (who is a subject) before the kernel reads a row …
    screened = screen_inputs(
        ruleset, list(inputs.records), None if inputs.members is None else list(inputs.members), events,
        inputs.period, inputs.allow_extra_columns, inputs.totals, inputs.unlisted,
    )  # fmt: skip
    records: Any = screened.records
    period = inputs.period
    members = screened.members
    # … and, as it does before it picks an engine, finer records and spans become the card's periods.
    rolled = accumulate(ruleset.scorecard, records, period=period, members=members, events=events, strict=inputs.strict)
    if rolled is not None:
        records, members, events, period = rolled.records, rolled.members, rolled.events, rolled.period
    try:
        appraisal = dispatch(
            ruleset, records, period=period, members=members, events=events,
            strict=inputs.strict, engine="columnar", rows=rows, allow_extra_columns=inputs.allow_extra_columns,
            hand_over=True,
        )  # fmt: skip
    except _HandedOver as exc:
        raise _NotedError(exc.error, "handed to the row path") from None
    if screened.warnings:
        appraisal = attrs.evolve(appraisal, warnings=(*screened.warnings, *appraisal.warnings))
    if rolled is not None:
        appraisal = relabel(appraisal, rolled.span, rolled.warnings)
    return Execution(appraisal, "handed to the row path" if handed else None)


class _NotedError(Exception):
    """An executor's ``KpiError`` with a note on how it was reached."""

    def __init__(self, error: KpiError, note: str) -> None:
        self.error = error
        self.note = note
        super().__init__(str(error))


STREAMING_BATCH_ROWS = 2  # records per batch: every case of several subjects runs in several batches and ranges


def _streaming(ruleset: Ruleset, inputs: CaseInputs) -> Appraisal:
    """The streaming executor, in batches of two records (subjects, or membership trees, grouped), ranked after."""
    try:
        from kpi_engine.evaluation import streaming  # noqa: PLC0415 - the optional kernel
    except ImportError as exc:  # pragma: no cover - the package moved
        raise Unsupported(f"the streaming executor cannot be imported ({exc})") from None
    reason = streaming.refusal(ruleset, members=inputs.members, events=inputs.events)
    if reason is not None:
        raise Unsupported(reason)
    return streaming.appraise(
        ruleset, list(inputs.records), period=inputs.period, strict=inputs.strict,
        allow_extra_columns=inputs.allow_extra_columns, totals=inputs.totals, batch_rows=STREAMING_BATCH_ROWS,
        members=None if inputs.members is None else list(inputs.members), unlisted=inputs.unlisted,
        events=None if inputs.events is None else list(inputs.events),
    )  # fmt: skip


EXECUTORS: dict[str, Executor] = {"row": _row, "columnar": _columnar, "streaming": _streaming}


def register_executor(name: str, executor: Executor) -> None:
    """Add (or replace) an executor: ``executor(ruleset, inputs)`` returns an ``Appraisal`` or an ``Execution``.

    It raises ``KpiError`` as ``evaluate`` does, and ``Unsupported`` for a case it does not evaluate.
    """
    EXECUTORS[name] = executor


# --- comparing -----------------------------------------------------------------------------------


@attrs.frozen
class Outcome:
    """The result of one case on one executor."""

    case: str
    executor: str
    status: Status
    mismatches: tuple[str, ...] = ()
    note: str | None = None  # the reason of ``unsupported``, or how the executor reached its result

    def describe(self) -> str:
        """One line per mismatch under the case id, for a failing test's message."""
        head = f"{self.case} [{self.executor}]: {self.status}" + (f" ({self.note})" if self.note else "")
        return "\n".join([head, *(f"  {m}" for m in self.mismatches)])


def _exact(text: object) -> Fraction | None:
    """The exact number a text stands for (``2/3``, ``-1.5``, ``90%``), or ``None`` if it is no number."""
    if isinstance(text, bool) or text is None:
        return None
    s = str(text).strip()
    try:
        if s.endswith("%"):
            return Fraction(Decimal(s[:-1])) / 100
        if "/" in s:
            return Fraction(s)
        return Fraction(Decimal(s))
    except (ValueError, InvalidOperation, ZeroDivisionError):
        return None


def _shown(value: Fraction) -> str:
    """A fraction as the engine writes an exact value: finite decimals in full, others to 34 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 34
        approx = Decimal(value.numerator) / Decimal(value.denominator)
        if Fraction(approx) == value:  # a finite decimal that fits in 34 digits
            return format(approx.normalize(), "f") if value else "0"
        return format(approx.normalize(), "f")


def _same_number(expected: object, got: object) -> bool:
    """An expected KPI value or metric (exact text, ``a/b``, or ``None``) against the written value."""
    if expected is None or got is None:
        return expected is None and got is None
    want, have = _exact(expected), _exact(got)
    if want is None or have is None:
        return _text(expected) == _text(got)
    if want == have:
        return True
    # A value without a finite expansion is written to 34 significant digits: compare that text.
    return "/" in str(expected) and _shown(want) == str(got)


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compare(case: Case, appraisal: Appraisal) -> list[str]:
    """Every way ``appraisal`` differs from the case's expectation (empty: it conforms)."""
    assert case.expect is not None
    data = appraisal.to_dict()
    out: list[str] = []

    def check(path: str, expected: object, got: object, *, number: bool = False) -> None:
        same = _same_number(expected, got) if number else _text(expected) == _text(got)
        if not same:
            out.append(f"{path}: expected {_text(expected)!s}, got {_text(got)!s}")

    results = {r["subject"]: r for r in data["results"]}
    if set(results) != set(case.expect):
        out.append(f"subjects: expected {sorted(case.expect)}, got {sorted(results)}")
    if case.expect_period is not None:
        check("period", case.expect_period, data["period"])
    if case.expect_order is not None:
        check("order", list(case.expect_order), [r["subject"] for r in data["results"]])
    warnings = sorted(w.code for w in appraisal.warnings)
    if warnings != sorted(case.expect_warnings):
        out.append(f"warnings: expected {sorted(case.expect_warnings)}, got {warnings}")
    for subject, spec in case.expect.items():
        got = results.get(subject)
        if got is None:
            continue
        for key in ("total", "total_before_gates", "grade", "rank", "rank_in_parent", "parent", "level"):
            if key in spec:
                check(f"{subject}.{key}", spec[key], got[key])
        if "residue" in spec:
            check(f"{subject}.residue", spec["residue"], got["contributions_residue"])
        if "bonus_multiplier" in spec:
            check(f"{subject}.bonus_multiplier", spec["bonus_multiplier"], got["bonus_multiplier"], number=True)
        if "flags" in spec:
            check(f"{subject}.flags", list(spec["flags"] or []), got["flags"])
        for name, want in (spec.get("metrics") or {}).items():
            if name not in got["metrics"]:
                out.append(f"{subject}.metrics.{name}: not reported")
                continue
            check(f"{subject}.metrics.{name}", want, got["metrics"][name], number=True)
        for gate, want in (spec.get("gates") or {}).items():
            check(f"{subject}.gates.{gate}", want, got["gates"].get(gate, "(no such gate)"))
        for adj, want in (spec.get("adjustments") or {}).items():
            # An adjustment of a KPI that was not scored is not evaluated: absent from the result.
            check(f"{subject}.adjustments.{adj}", want, got["adjustments"].get(adj, "not_evaluated"))
        sections = {s["id"]: s for s in got["sections"]}
        for sid, want in (spec.get("sections") or {}).items():
            section = sections.get(sid)
            if section is None:
                out.append(f"{subject}.sections.{sid}: no such section")
                continue
            for key, value in want.items():
                check(f"{subject}.sections.{sid}.{key}", list(value or []) if key == "flags" else value, section[key])
        kpis = {k["id"]: k for k in got["kpis"]}
        for kid, want in (spec.get("kpis") or {}).items():
            k = kpis.get(kid)
            if k is None:
                out.append(f"{subject}.kpis.{kid}: no such KPI")
                continue
            fields = want if isinstance(want, dict) else {"score": want}
            if want == "excluded":
                fields = {"status": "excluded", "score": None}
            for key, value in fields.items():
                path = f"{subject}.kpis.{kid}.{key}"
                if key == "value":
                    check(path, value, k["value"], number=True)
                elif key == "flags":
                    check(path, list(value or []), k["flags"])
                else:
                    check(path, value, k[key])
    return out


def _codes(error: KpiError) -> list[str]:
    return sorted({i.code for i in error.issues if i.severity == "error"})


def _error_mismatches(case: Case, error: KpiError, phase: str) -> list[str]:
    assert case.expect_error is not None
    want = case.expect_error
    out: list[str] = []
    if want.get("phase", "evaluate") != phase:
        out.append(f"phase: expected {want.get('phase', 'evaluate')}, got {phase}")
    kind = want["type"]
    if kind not in {c.__name__ for c in type(error).__mro__}:
        out.append(f"type: expected {kind}, got {type(error).__name__}")
    codes = sorted({str(c) for c in want["codes"]})
    if codes != _codes(error):
        out.append(f"codes: expected {codes}, got {_codes(error)}")
    message = want.get("message")
    if message is not None and str(message) not in str(error):
        out.append(f"message: expected to contain {message!r}, got {str(error)[:300]!r}")
    return out


@functools.cache
def _parsed(text: str) -> Ruleset | KpiError:
    try:
        return parse_ruleset(text)
    except KpiError as exc:
        return exc


def _load(case: Case) -> Ruleset | KpiError:
    return _parsed(case.ruleset_text)


def run_case(case: Case, executor: str | Executor) -> Outcome:
    """Run one case on one executor (a name in ``EXECUTORS`` or a callable) and compare."""
    name = executor if isinstance(executor, str) else getattr(executor, "__name__", "executor")
    run = EXECUTORS[executor] if isinstance(executor, str) else executor
    loaded = _load(case)
    if isinstance(loaded, KpiError):
        if case.expect_error is None:
            return Outcome(case.full_id, name, "failed", ("ruleset does not load: " + loaded.render()[:500],))
        found = _error_mismatches(case, loaded, "load")
        return Outcome(case.full_id, name, "failed" if found else "passed", tuple(found))
    load_warnings = sorted(w.code for w in loaded.warnings)
    mismatches: list[str] = []
    if load_warnings != sorted(case.expect_load_warnings):
        mismatches.append(f"load warnings: expected {sorted(case.expect_load_warnings)}, got {load_warnings}")
    note: str | None = None
    try:
        result = run(loaded, case.inputs)
    except Unsupported as exc:
        return Outcome(case.full_id, name, "unsupported", (), str(exc))
    except (KpiError, _NotedError) as exc:
        error, note = (exc.error, exc.note) if isinstance(exc, _NotedError) else (exc, None)
        if case.expect_error is None:
            mismatches.append("unexpected error: " + error.render()[:500])
        else:
            mismatches.extend(_error_mismatches(case, error, "evaluate"))
        return Outcome(case.full_id, name, "failed" if mismatches else "passed", tuple(mismatches), note)
    except Exception as exc:  # noqa: BLE001 - a crash is a failed case, reported with its type
        return Outcome(case.full_id, name, "failed", (f"crash: {type(exc).__name__}: {exc}",))
    if isinstance(result, Execution):
        appraisal, note = result.appraisal, result.note
    else:
        appraisal = result
    if case.expect_error is not None:
        mismatches.append(f"expected error {case.expect_error.get('codes')}, got an appraisal")
    else:
        mismatches.extend(compare(case, appraisal))
    return Outcome(case.full_id, name, "failed" if mismatches else "passed", tuple(mismatches), note)


def labels_of(cases: Iterable[Case]) -> Sequence[str]:
    """Every label used by the cases, sorted."""
    return sorted({label for case in cases for label in case.labels})
