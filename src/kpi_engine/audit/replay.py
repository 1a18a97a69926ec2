"""Replay a run record: check every digest, recompute from the record alone, compare exactly.

The comparison has two layers. The *exact values* (``results.values``: totals, grades, ranks,
KPI values, scores, weights and contributions, unrounded; or each deal's credit and reason) are
read through the result objects, so they do not depend on the JSON layout and are compared in
every version. The *full results with traces* (``results.appraisal`` / ``results.attribution``)
are compared as generic trees, key by key, whenever the engine writes them in the same layout
as the record; if a later version changed the layout, replay says so and relies on the exact
values. File access is the caller's: inputs kept by digest are fetched through ``resolve``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from kpi_engine._version import __version__
from kpi_engine.attribution._engine import attribute
from kpi_engine.attribution._policy import parse_policy
from kpi_engine.audit.canonical import ABSENT, Difference, canonical_bytes, digest, shape, text_digest, tree_diff
from kpi_engine.audit.record import (
    DIGESTED_PARTS,
    FORMAT,
    FORMAT_1,
    FORMAT_2,
    READABLE_FORMATS,
    appraisal_options,
    appraisal_summary,
    attribution_summary,
    attribution_values,
    canonical_rows,
    input_path_problem,
    part_tree,
    pay_summary,
    pay_values,
    record_digest,
    rows_digest,
    rules_key,
    table_from_entry,
)
from kpi_engine.audit.values import appraisal_values, from_columns, to_columns, values_bytes
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import parse_ruleset
from kpi_engine.payout.build import parse_pay_plan
from kpi_engine.payout.engine import pay

Resolver = Callable[[str], Table]
Engine = Literal["auto", "row", "columnar"]
MAX_SHOWN = 40  # subjects (or trace lines) in the readable report; the JSON report lists all
MAX_DEPTH = 64  # levels of nesting in a record, as in a YAML document (a record is about 12 deep)


@attrs.frozen
class Finding:
    """A part of the record that does not match its digest (or cannot be read)."""

    part: str
    message: str


@attrs.frozen
class ReplayReport:
    """What replaying a record found.

    ``reproduced`` is true only when every digest matches and the recomputed results equal
    the recorded ones exactly. ``mismatches`` compare exact values (by subject and KPI, or by
    deal); ``trace_differences`` compare the full recorded results tree.
    """

    kind: str
    recorded_version: str
    engine_version: str
    subjects: int
    kpis: int
    tampered: tuple[Finding, ...] = ()
    mismatches: tuple[Difference, ...] = ()
    trace_differences: tuple[Difference, ...] = ()
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def reproduced(self) -> bool:
        """True when nothing was tampered with and the results are reproduced exactly."""
        return not (self.tampered or self.mismatches or self.trace_differences or self.error)

    def headline(self) -> str:
        """One line: ``reproduced: N subjects, M KPIs`` (or deals), or ``NOT reproduced``."""
        if self.kind == "attribution":
            what = f"{self.subjects} deals (credits and reasons), {self.kpis} follow-up records"
        elif self.kind == "pay":
            what = f"{self.subjects} people, {self.kpis} payout lines"
        else:
            what = f"{self.subjects} subjects, {self.kpis} KPIs"
        return f"reproduced: {what}" if self.reproduced else f"NOT reproduced ({what} recorded)"

    def render(self) -> str:
        """A readable report: tampered parts, then per subject and KPI recorded against computed now."""
        lines = [self.headline()]
        lines.extend(f"note: {n}" for n in self.notes)
        lines.extend(f"tampered: {f.part}: {f.message}" for f in self.tampered)
        if self.error:
            lines.append(f"recomputation failed: {self.error}")
        if self.mismatches:
            lines.append("exact values, recorded → computed now:")
            lines.extend(_readable(self.mismatches))
        if self.trace_differences:
            lines.append(f"full results with traces: {len(self.trace_differences)} difference(s)")
            shown = self.trace_differences[:MAX_SHOWN]
            lines.extend(f"  {d.path}: {_show(d.recorded)} → {_show(d.computed)}" for d in shown)
            if len(self.trace_differences) > MAX_SHOWN:
                lines.append(f"  … and {len(self.trace_differences) - MAX_SHOWN} more")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping of the report."""
        return {
            "reproduced": self.reproduced,
            "kind": self.kind,
            "recorded_version": self.recorded_version,
            "engine_version": self.engine_version,
            "subjects": self.subjects,
            "kpis": self.kpis,
            "tampered": [attrs.asdict(f) for f in self.tampered],
            "error": self.error,
            "notes": list(self.notes),
            "mismatches": [attrs.asdict(d) for d in self.mismatches],
            "trace_differences": [attrs.asdict(d) for d in self.trace_differences],
        }


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."  # noqa: PLR2004 - one line


_ONE = {"subjects": "subject", "credits": "credit", "follow_ups": "follow_up", "people": "person"}


def _readable(diffs: tuple[Difference, ...]) -> list[str]:
    """Group exact-value differences under their subject (or deal) and KPI."""
    lines: list[str] = []
    current = None
    heads: list[str] = []
    for d in diffs:
        parts = d.path.split(".")
        if len(parts) >= 2 and parts[0] in _ONE:  # noqa: PLR2004
            head, rest = f"{_ONE[parts[0]]} {parts[1]}", parts[2:]
        else:
            head, rest = "", parts
        if head != current:
            heads.append(head)
            current = head
            if len(heads) > MAX_SHOWN:
                continue
            if head:
                lines.append(f"  {head}")
        if len(heads) > MAX_SHOWN:
            continue
        if len(rest) >= 3 and rest[0] == "kpis":  # noqa: PLR2004
            label = f"KPI {rest[1]} {'.'.join(rest[2:])}"
        else:
            label = ".".join(rest) or "(whole)"
        lines.append(f"    {label}: recorded {_show(d.recorded)}, computed now {_show(d.computed)}")
    if len(heads) > MAX_SHOWN:
        lines.append(f"  … and {len(heads) - MAX_SHOWN} more (kpi replay --format json lists every difference)")
    return lines


def _writer(data: Mapping[str, Any]) -> str:
    engine = data.get("engine")
    return str(engine.get("version", "?")) if isinstance(engine, Mapping) else "?"


def load_record(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse a record's bytes (or take a mapping) and check its format.

    Raises:
        KpiError: not a JSON object, not a run record, or a format this version cannot read
            (the message names the record's writer and this version).
    """
    if isinstance(raw, Mapping):
        data = dict(raw)
    else:
        try:
            data = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
        except RecursionError:  # the C scanner stops at the interpreter's recursion limit, cheaply
            raise KpiError(f"not a run record: nested deeper than {MAX_DEPTH} levels") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise KpiError(f"not a run record: not valid JSON ({exc})") from None
    _check_depth(data)
    if not isinstance(data, dict) or "format" not in data:
        raise KpiError("not a run record: no 'format' field")
    fmt = data["format"]
    writer = _writer(data)
    if not isinstance(fmt, str) or fmt not in READABLE_FORMATS:
        raise KpiError(
            f"run record format {fmt!r} (written by kpi_engine {writer}) cannot be read by kpi_engine "
            f"{__version__}, which reads {', '.join(sorted(READABLE_FORMATS))}; replay it with kpi_engine {writer}"
        )
    if data.get("kind") not in {"appraisal", "attribution", "pay"}:
        raise KpiError(f"run record of unknown kind {data.get('kind')!r}")
    return data


def _no_constant(name: str) -> Any:
    msg = f"{name} is not a number"
    raise ValueError(msg)


def _check_depth(data: object) -> None:
    """Refuse a tree nested deeper than ``MAX_DEPTH`` (a record is about 12 deep), by a loop, not recursion."""
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise KpiError(f"not a run record: nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, Mapping | list))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, Mapping | list))


def check_digests(data: Mapping[str, Any], tables: Mapping[str, list[dict[str, Any]]]) -> list[Finding]:
    """Name every part whose content does not match its digest.

    ``tables`` maps each input's dotted place (``inputs.records[0]``) to its rows (inline or fetched).
    """
    found: list[Finding] = []
    source = rules_key(data.get("kind"))
    rules = data.get(source) or {}
    if isinstance(rules, Mapping) and text_digest(str(rules.get("text", ""))) != rules.get("sha256"):
        found.append(
            Finding(
                f"{source}.text", f"the {source} text does not match its sha256 {rules.get('sha256')}: a rule changed"
            )
        )
    for place, rows in tables.items():
        entry = _entry_at(data, place)
        if rows_digest(rows) != entry.get("sha256"):
            what = entry.get("path") or entry.get("name")
            found.append(Finding(place, f"input '{what}' does not match its sha256: an input value changed"))
    recorded = data.get("digests")
    recorded = recorded if isinstance(recorded, Mapping) else {}
    for part in DIGESTED_PARTS:
        actual = digest(part_tree(data, part))
        if actual == recorded.get(part):
            continue
        restored = {**data, "digests": {**recorded, part: actual}}
        if record_digest(restored) == data.get("sha256"):
            found.append(Finding(f"digests.{part}", f"the recorded digest of '{part}' was altered; the part is intact"))
        elif not any(f.part.startswith(_prefix(part, data.get("kind"))) for f in found):
            label = "format, kind, engine, created or summary" if part == "meta" else part
            found.append(Finding(_prefix(part, data.get("kind")), f"{label} changed: does not match digests.{part}"))
    known = {"format", "kind", "engine", "created", "summary", source, "inputs", "options", "results", "digests"}
    found.extend(
        Finding(key, "this field is not part of a run record: it was added")
        for key in sorted(set(data) - known - {"sha256"})
    )
    whole = record_digest(data)
    if whole != data.get("sha256") and not found:
        found.append(Finding("sha256", "the record digest was altered: every part matches its own digest"))
    return found


def _prefix(part: str, kind: object) -> str:
    return rules_key(kind) if part == "ruleset" else part


def _entry_at(data: Mapping[str, Any], place: str) -> Mapping[str, Any]:
    _, name = place.split(".", 1)
    if name.endswith("]"):
        base, index = name[:-1].split("[")
        entry = data["inputs"][base][int(index)]
    else:
        entry = data["inputs"][name]
    assert isinstance(entry, Mapping)
    return entry


def _input_places(data: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    inputs = data.get("inputs")
    if not isinstance(inputs, Mapping):
        raise KpiError("run record has no 'inputs'")
    places: list[tuple[str, Mapping[str, Any]]] = []
    for key in sorted(inputs):
        value = inputs[key]
        if isinstance(value, list):
            places.extend((f"inputs.{key}[{i}]", v) for i, v in enumerate(value) if isinstance(v, Mapping))
        elif isinstance(value, Mapping):
            places.append((f"inputs.{key}", value))
    return places


def _rows(entry: Mapping[str, Any], place: str, resolve: Resolver | None) -> list[dict[str, Any]]:
    if entry.get("mode") == "digest":
        path = entry.get("path")
        problem = input_path_problem(path)
        if problem is not None:  # refused before any file is touched: the record is someone else's data
            raise KpiError(f"{place}: input path {path!r} is refused: {problem}")
        if resolve is None:
            raise KpiError(f"{place} is kept by digest at '{path}'; give a resolver to read it")
        return canonical_rows(resolve(str(path)))
    if entry.get("mode") != "inline":
        raise KpiError(f"{place}: unknown input mode {entry.get('mode')!r} (inline or digest)")
    rows = entry.get("rows")
    if not isinstance(rows, list):
        raise KpiError(f"{place}: no rows")
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise KpiError(f"{place}: row {i} is not an object")
    return rows


def replay(
    record: bytes | str | Mapping[str, Any], *, resolve: Resolver | None = None, engine: Engine = "auto"
) -> ReplayReport:
    """Recompute a run record from its own content and compare with what it recorded.

    Args:
        record: the record's bytes or parsed mapping.
        resolve: reads an input kept by digest, given its relative path (``kpi replay`` reads it
            relative to the record's folder).
        engine: the engine that recomputes an appraisal record of format 2 or 3 (as ``evaluate``: ``row``
            is the reference evaluator, independent of the kernel that may have written the record).
            A format 1 record, which holds every trace, is recomputed by the row engine.

    Returns:
        The ``ReplayReport``; ``reproduced`` tells the outcome.

    Raises:
        KpiError: if the bytes are not a run record or its format is unknown to this version.
    """
    data = load_record(record)
    kind = data["kind"]
    writer = _writer(data)
    summary: Mapping[str, Any] = data["summary"] if isinstance(data.get("summary"), Mapping) else {}
    names = {"attribution": ("deals", "follow_ups"), "pay": ("people", "lines")}.get(kind, ("subjects", "kpis"))
    counts = [c if isinstance(c := summary.get(n), int) else 0 for n in names]
    base = ReplayReport(kind, writer, __version__, counts[0], counts[1])
    notes: list[str] = []
    if writer != __version__:
        notes.append(f"recorded by kpi_engine {writer}, replayed by kpi_engine {__version__}")
    tables: dict[str, list[dict[str, Any]]] = {}
    unread: list[str] = []  # inputs refused or unreadable: named, and the digests still checked
    try:
        for place, entry in _input_places(data):
            try:
                tables[place] = _rows(entry, place, resolve)
            except KpiError as exc:
                unread.append(exc.render())
    except KpiError as exc:
        unread.append(exc.render())
    tampered = check_digests(data, tables)
    if unread:
        return attrs.evolve(base, tampered=tuple(tampered), error="\n".join(unread), notes=tuple(notes))
    recomputed: bytes | None
    try:
        if kind == "attribution":
            recomputed, recomputed_values, tree_key, expected = _attribution(data, tables)
        elif kind == "pay":
            recomputed, recomputed_values, tree_key, expected = _pay(data, tables)
        else:
            recomputed, recomputed_values, tree_key, expected = _appraisal(data, tables, engine)
    except KpiError as exc:
        return attrs.evolve(base, tampered=tuple(tampered), error=exc.render(), notes=tuple(notes))
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        # A hand-edited record can break any shape; say so instead of failing inside the engine.
        error = f"the record is malformed ({type(exc).__name__}: {exc})"
        return attrs.evolve(base, tampered=tuple(tampered), error=error, notes=tuple(notes))
    results: Mapping[str, Any] = data["results"] if isinstance(data.get("results"), Mapping) else {}
    if isinstance(recomputed_values, bytes):  # format 2 or 3: the values' bytes, parsed only when they differ
        mismatches = _values_differences(results.get("values"), recomputed_values, data.get("format"))
    else:
        mismatches = tree_diff(results.get("values"), recomputed_values, numeric=True)
    if recomputed is None:  # formats 2 and 3 keep the values only
        mismatches += [Difference(f"results.{k}", results[k], ABSENT) for k in sorted(set(results) - {"values"})]
    seen = {(d.path, repr(d.recorded), repr(d.computed)) for d in mismatches}
    mismatches += [
        d for d in _part_differences(data, expected) if (d.path, repr(d.recorded), repr(d.computed)) not in seen
    ]
    recorded_tree = results.get(tree_key)
    traces: list[Difference] = []
    # Compared as canonical bytes first: the recomputed tree is built only when they differ.
    same = recomputed is None or canonical_bytes(recorded_tree) == recomputed
    recomputed_tree = None if same else json.loads(recomputed or b"null")
    if recomputed_tree is None:
        pass
    elif shape(recorded_tree) == shape(recomputed_tree):
        traces = tree_diff(recorded_tree, recomputed_tree, f"results.{tree_key}")
    else:
        notes.append(
            f"the recorded results with traces (kpi_engine {writer}) are laid out differently from what "
            f"kpi_engine {__version__} writes: the exact values are compared, the traces are not compared key by key"
        )
    computed = [expected["summary"][n] for n in names]
    if not mismatches:  # the counts shown are those computed now (equal to the recorded ones)
        base = attrs.evolve(base, subjects=computed[0], kpis=computed[1])
    return attrs.evolve(
        base,
        tampered=tuple(tampered),
        mismatches=tuple(mismatches),
        trace_differences=tuple(traces),
        notes=tuple(notes),
    )


def _values_differences(recorded: Any, computed: bytes, fmt: object) -> list[Difference]:
    """The recorded exact values (format 2 or 3) against the format 3 bytes computed now.

    Equal canonical bytes settle it (a format 2 record's values are put in columns first). Otherwise
    both sides are compared one object per subject, so that each difference is named by subject
    and KPI in either format, numbers by exact value; format 3 values whose columns do not fit
    their subjects are compared as they are (and differ).
    """
    try:
        columns = to_columns(recorded) if fmt == FORMAT_2 else recorded
    except (KeyError, TypeError, AttributeError, ValueError, IndexError):  # not the layout of a format 2 record
        columns = None
    if columns is not None and canonical_bytes(columns) == computed:
        return []
    now = from_columns(json.loads(computed))
    if fmt != FORMAT_2:
        recorded = from_columns(recorded) or recorded
    return tree_diff(recorded, now, numeric=True)


def replayed_appraisal(record: bytes | str | Mapping[str, Any], *, resolve: Resolver | None = None) -> Appraisal:
    """The appraisal of an intact appraisal record, recomputed from its own ruleset, inputs and options.

    Built by the row engine, so each KPI's full trace is there when read (``explanation``,
    ``to_json(traces=True)``, ``explain_subject``): a trace is a function of the ruleset and the
    rows, so a record need not keep it. Row numbers in the traces count the record's own rows.

    Raises:
        KpiError: not an appraisal record; an input that cannot be read; or a record that does not
            match its digests (naming the parts): a trace is given only for what the record sealed.
    """
    data = load_record(record)
    if data["kind"] != "appraisal":
        raise KpiError(f"a run record of kind {data['kind']!r} has no appraisal to explain (kpi replay checks it)")
    tables = {place: _rows(entry, place, resolve) for place, entry in _input_places(data)}
    tampered = check_digests(data, tables)
    if tampered:
        parts = ", ".join(f.part for f in tampered)
        raise KpiError(f"the run record does not match its digests ({parts}); kpi replay RECORD shows what changed")
    appraisal, _ = _appraise(data, tables, "row")
    return appraisal


def _part_differences(data: Mapping[str, Any], expected: Mapping[str, Any]) -> list[Difference]:
    """Each part beside the results (summary, rules header, inputs, options, engine) against what it must be.

    Nothing there is taken on trust: the summary is recounted, the rules' id and version are read
    from their text, each input entry must have exactly the keys its mode gives it (a digest
    entry's row count recounted), the options must be those the recomputation used. Digests and
    the rows themselves are checked by ``check_digests``; inline rows are not compared twice.
    """
    out: list[Difference] = []
    for part, tree in expected.items():
        recorded = data.get(part, ABSENT) if isinstance(data, Mapping) else ABSENT
        if part == "inputs":
            out.extend(tree_diff(_without_rows(recorded), _without_rows(tree), part))
        else:
            out.extend(tree_diff(recorded, tree, part))
    return out


def _without_rows(inputs: Any) -> Any:
    """The input entries with inline rows left out (they are the inputs themselves, digested apart)."""

    def strip(entry: Any) -> Any:
        if isinstance(entry, Mapping) and entry.get("mode") == "inline":
            return {k: v for k, v in entry.items() if k != "rows"}
        return entry

    if not isinstance(inputs, Mapping):
        return inputs
    return {k: [strip(e) for e in v] if isinstance(v, list) else strip(v) for k, v in inputs.items()}


def _expected_entry(entry: Mapping[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What an input entry must be, given its rows: the keys of its mode, the digest as recorded (checked apart)."""
    if entry.get("mode") == "digest":
        return {"mode": "digest", "path": entry.get("path"), "sha256": entry.get("sha256"), "rows": len(rows)}
    name = entry.get("name")
    return {"mode": "inline", "name": name if _is_base_name(name) else "<a file name>", "sha256": entry.get("sha256")}


def _is_base_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name


def _expected_meta(data: Mapping[str, Any], rules_key: str, spec_id: str, version: str) -> dict[str, Any]:
    rules = data.get(rules_key)
    rules = rules if isinstance(rules, Mapping) else {}
    created = data.get("created")
    name = rules.get("name")
    return {
        "engine": {"name": "kpi_engine", "version": _writer(data)},  # the writer's version: noted, not checked
        "created": created if created is None or isinstance(created, str) else "<text or null>",
        rules_key: {
            "name": name if _is_base_name(name) else "<a file name>",
            "id": spec_id,
            "version": version,
            "sha256": rules.get("sha256"),  # checked against the text by check_digests
            "text": rules.get("text"),
        },
    }


def _appraise(
    data: Mapping[str, Any], tables: Mapping[str, list[dict[str, Any]]], engine: Engine
) -> tuple[Appraisal, dict[str, Any]]:
    """The appraisal recomputed from the record's own ruleset, inputs and options, and the parts it implies."""
    rules = data.get("ruleset") or {}
    ruleset = parse_ruleset(str(rules.get("text", "")), str(rules.get("name", "ruleset.yaml")))
    inputs = data["inputs"]
    options = dict(data.get("options") or {})
    unknown = set(options) - {"period", "strict", "totals", "unlisted", "allow_extra_columns"}
    if unknown:
        raise KpiError(
            f"the record uses options {', '.join(sorted(unknown))} that kpi_engine {__version__} does not know "
            f"(written by kpi_engine {_writer(data)})"
        )
    records = [
        table_from_entry(entry, tables[f"inputs.records[{i}]"]) for i, entry in enumerate(inputs.get("records") or [])
    ]
    members = table_from_entry(inputs["members"], tables["inputs.members"]) if inputs.get("members") else None
    events = table_from_entry(inputs["events"], tables["inputs.events"]) if inputs.get("events") else None
    strict = options.get("strict", False) is True
    extra = options.get("allow_extra_columns", False) is True
    totals: Literal["refuse", "skip"] = "skip" if options.get("totals") == "skip" else "refuse"
    unlisted: Literal["error", "exclude"] = "exclude" if options.get("unlisted") == "exclude" else "error"
    appraisal = evaluate(
        ruleset,
        records,
        period=options.get("period"),
        members=members,
        events=events,
        strict=strict,
        totals=totals,
        unlisted=unlisted,
        allow_extra_columns=extra,
        engine=engine,
    )
    expected = _expected_meta(data, "ruleset", ruleset.id, ruleset.version)
    expected["inputs"] = {
        "records": [_expected_entry(e, tables[f"inputs.records[{i}]"]) for i, e in enumerate(inputs.get("records"))],
        "members": _expected_entry(inputs["members"], tables["inputs.members"]) if inputs.get("members") else None,
        "events": _expected_entry(inputs["events"], tables["inputs.events"]) if inputs.get("events") else None,
    }
    expected["options"] = appraisal_options(
        appraisal.period, strict=strict, allow_extra_columns=extra, totals=totals, unlisted=unlisted
    )
    expected["summary"] = appraisal_summary(appraisal)
    return appraisal, expected


def _appraisal(
    data: Mapping[str, Any], tables: Mapping[str, list[dict[str, Any]]], engine: Engine
) -> tuple[bytes | None, Any, str, dict[str, Any]]:
    if data.get("format") == FORMAT_1:  # every trace was recorded: recomputed the way it was written
        appraisal, expected = _appraise(data, tables, "row")
        traces = "".join(appraisal.iter_canonical_json(traces=True)).encode()
        return traces, appraisal_values(appraisal), "appraisal", expected
    appraisal, expected = _appraise(data, tables, engine)
    return None, values_bytes(appraisal), "appraisal", expected


def _attribution(
    data: Mapping[str, Any], tables: Mapping[str, list[dict[str, Any]]]
) -> tuple[bytes, Any, str, dict[str, Any]]:
    rules = data.get("policy") or {}
    policy = parse_policy(str(rules.get("text", "")), str(rules.get("name", "policy.yaml")))
    entry = data["inputs"]["events"]
    events = table_from_entry(entry, tables["inputs.events"])
    result = attribute(policy, events)
    expected = _expected_meta(data, "policy", policy.policy, policy.version)
    expected["inputs"] = {"events": _expected_entry(entry, tables["inputs.events"])}
    expected["options"] = {}
    expected["summary"] = attribution_summary(result)
    return canonical_bytes(result.to_dict()), attribution_values(result), "attribution", expected


def _pay(data: Mapping[str, Any], tables: Mapping[str, list[dict[str, Any]]]) -> tuple[bytes, Any, str, dict[str, Any]]:
    rules = data.get("pay_plan") or {}
    plan = parse_pay_plan(str(rules.get("text", "")), str(rules.get("name", "pay_plan.yaml")))
    inputs = data["inputs"]
    options = dict(data.get("options") or {})
    unknown = set(options) - {"period"}
    if unknown:
        raise KpiError(
            f"the record uses options {', '.join(sorted(unknown))} that kpi_engine {__version__} does not know "
            f"(written by kpi_engine {_writer(data)})"
        )
    given = {
        key: table_from_entry(inputs[key], tables[f"inputs.{key}"]) if inputs.get(key) else None
        for key in ("appraisals", "people", "credits", "deals", "paid")
    }
    run = pay(
        plan, given["appraisals"], given["people"] or (), credits=given["credits"], deals=given["deals"],
        paid=given["paid"], period=options.get("period"),
    )  # fmt: skip
    expected = _expected_meta(data, "pay_plan", plan.id, plan.version)
    expected["inputs"] = {
        key: _expected_entry(inputs[key], tables[f"inputs.{key}"]) if inputs.get(key) else None
        for key in ("appraisals", "people", "credits", "deals", "paid")
    }
    expected["options"] = {"period": run.period}
    expected["summary"] = pay_summary(run)
    return canonical_bytes(run.to_dict()), pay_values(run), "pay", expected


__all__ = ["ABSENT", "FORMAT", "Finding", "ReplayReport", "load_record", "replay", "replayed_appraisal"]
