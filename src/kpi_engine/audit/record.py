"""Run records: one self-contained, canonical file per appraisal or attribution run.

A record holds the ruleset (or policy) text and its SHA-256, the input rows as read (inline,
or a SHA-256 and a relative path), the options, the engine version and the results, plus a
digest of each part and of the whole. It is built from values only: the caller reads the files
(``kpi_engine.io``) and writes the bytes.

Input rows are put in a canonical order (sorted by their canonical JSON), so the same inputs in
any row order give byte-identical records. An appraisal record (format 3) keeps the exact,
unrounded values of every subject and KPI, in columns (``audit.values``); the traces are a
function of the ruleset and those rows and are built again on demand (``kpi explain RECORD``,
``replayed_appraisal``). Format 2 records (the same values, one object per subject) and format 1
records (which also kept the full results with every trace) are still read and replayed.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

from kpi_engine._numbers import as_fraction, canonical, settle
from kpi_engine._perf import paused_gc
from kpi_engine._version import __version__
from kpi_engine.attribution._engine import Attribution, attribute
from kpi_engine.attribution._policy import parse_policy
from kpi_engine.audit.canonical import canonical_bytes, digest, exact_text, text_digest
from kpi_engine.audit.values import kpi_count, values_pieces
from kpi_engine.errors import DataError
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.records import RecordsLike, RowsLike, Table, as_table, as_tables
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import parse_ruleset
from kpi_engine.payout.build import parse_pay_plan
from kpi_engine.payout.engine import pay, prepare_inputs
from kpi_engine.payout.inputs import Scores, credits_from_attribution
from kpi_engine.payout.results import PayRun

FORMAT = "kpi_engine.run-record/3"
"""The format of the appraisal records this version writes (exact values in columns, traces built on demand)."""
FORMAT_2 = "kpi_engine.run-record/2"
"""Appraisal records of exact values, one object per subject (read and replayed)."""
FORMAT_1 = "kpi_engine.run-record/1"
"""Appraisal records with every trace (read and replayed), and attribution and pay records (still written)."""
READABLE_FORMATS = frozenset({FORMAT_1, FORMAT_2, FORMAT})
FORMATS = {"appraisal": FORMAT, "attribution": FORMAT_1, "pay": FORMAT_1}  # what each kind is written as
DIGESTED_PARTS = ("meta", "ruleset", "inputs", "options", "results")

InputMode = Literal["inline", "digest"]
_ABSOLUTE = re.compile(r"^(?:/|\\|[A-Za-z]:)")


class RunRecord:
    """A run record: the canonical bytes of each top-level field, sealed by its digests.

    The fields are kept encoded, each as a sequence of byte pieces (the values of a large run are
    tens of MB as JSON and ten times that as Python objects); ``data`` parses them back when
    asked, and ``pieces`` gives the file's bytes without joining them (``kpi evaluate --record``
    streams them to the file).
    """

    __slots__ = ("_data", "_parts")

    def __init__(self, parts: Mapping[str, bytes | Sequence[bytes]]) -> None:
        self._parts = {key: (value,) if isinstance(value, bytes) else tuple(value) for key, value in parts.items()}
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The record as a JSON-ready mapping (parsed from the bytes on first use)."""
        if self._data is None:
            self._data = json.loads(self.canonical(), parse_float=Decimal)
        return self._data

    @property
    def sha256(self) -> str:
        """The digest of the record's content (everything but this field)."""
        value: str = json.loads(b"".join(self._parts["sha256"]))
        return value

    def to_bytes(self) -> bytes:
        """The file bytes: compact JSON, sorted keys, UTF-8, a final newline (deterministic)."""
        return b"".join(self.pieces())

    def canonical(self) -> bytes:
        """The compact canonical bytes the digest covers (``canonical_bytes`` of ``data``)."""
        return b"".join(self._canonical_pieces())

    def pieces(self) -> Iterator[bytes]:
        """The file bytes in pieces, as kept (``to_bytes`` joined): written one after the other, never held twice."""
        yield from self._canonical_pieces()
        yield b"\n"

    def _canonical_pieces(self) -> Iterator[bytes]:
        for i, key in enumerate(sorted(self._parts)):
            yield (b"{" if i == 0 else b",") + canonical_bytes(key) + b":"
            yield from self._parts[key]
        yield b"}" if self._parts else b"{}"


def _cell(value: object, name: str, line: int, key: object) -> Any:
    """A raw cell as it goes into a record: text, booleans and null as is; numbers and dates as text."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Decimal | int):
        return str(value)  # str keeps the digits as read ("1.50", "1E+2"), which a text input sees
    if isinstance(value, dt.date):  # datetime included
        return value.isoformat()
    msg = (
        f"{name}:{line} '{key}': a {type(value).__name__} cannot be written to a run record "
        "(give numbers as text or Decimal)"
    )
    raise DataError(msg)


def _basename(name: str) -> str:
    return re.split(r"[/\\]", name)[-1] or name


_TEXT = frozenset({str, type(None)})
_STR = frozenset({str})
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))  # made once, not per row


def _record_rows(table: Table) -> list[Mapping[str, Any]]:
    """The rows of a table as record values, in the table's order.

    Raises:
        DataError: for a value a record cannot hold (a binary float, a nested object).
    """
    return [
        raw if _TEXT.issuperset(map(type, raw.values())) and _STR.issuperset(map(type, raw))  # text as read
        else {str(k): _cell(v, table.name, line, k) for k, v in raw.items()}
        for line, raw in table.rows
    ]  # fmt: skip


def _row_texts(table: Table) -> tuple[list[str], list[int]]:
    """The canonical JSON of each row, in canonical order (sorted by that text), and each row's place in the table.

    A CSV table's cells are text or empty already: its rows are encoded column by column from the
    cells, without a mapping per row (the same text ``canonical_bytes`` gives the row's mapping).
    """
    texts = _csv_texts(table)
    if texts is None:
        texts = list(map(_ENCODER.encode, _record_rows(table)))
    order = sorted(range(len(texts)), key=texts.__getitem__)
    return [texts[i] for i in order], order


def _csv_texts(table: Table) -> list[str] | None:
    """Each row's canonical JSON from a CSV table's cells; ``None`` when the generic path must do it.

    That is: no header (not a CSV table), a column name given twice, a row shorter than the header
    (its mapping lacks keys), or a cell that is not text (never from the CSV reader).
    """
    header = table.header
    if not header or len(set(header)) != len(header) or not _STR.issuperset(map(type, header)):
        return None
    width = len(header)
    cells = [values for _, values in table.cells]
    if any(len(values) < width for values in cells):
        return None
    if not cells:
        return []
    columns = list(zip(*cells, strict=False))
    text = json.encoder.encode_basestring  # what the encoder writes a str with when ensure_ascii is off
    pieces = []
    for n, j in enumerate(sorted(range(width), key=header.__getitem__)):
        column = columns[j]
        if not _TEXT.issuperset(map(type, column)):
            return None
        prefix = ("{" if n == 0 else ",") + text(header[j]) + ":"
        pieces.append([prefix + ("null" if v is None else text(v)) for v in column])
    return [row + "}" for row in map("".join, zip(*pieces, strict=True))]


def _encoded_rows(table: Table) -> list[tuple[str, Mapping[str, Any]]]:
    """Each row as record values with its canonical JSON, sorted by that JSON (the canonical order).

    Raises:
        DataError: for a value a record cannot hold (a binary float, a nested object).
    """
    rows = _record_rows(table)
    texts = list(map(_ENCODER.encode, rows))
    return [(texts[i], rows[i]) for i in sorted(range(len(rows)), key=texts.__getitem__)]


def canonical_rows(table: Table) -> list[dict[str, Any]]:
    """The rows of a table as record values, in canonical order (sorted by their canonical JSON).

    Raises:
        DataError: for a value a record cannot hold (a binary float, a nested object).
    """
    return [row if isinstance(row, dict) else dict(row) for _, row in _encoded_rows(table)]


def rows_digest(rows: list[dict[str, Any]]) -> str:
    """The SHA-256 of a table's canonical rows: the same for any row order of the file."""
    return digest(rows)


def input_path_problem(path: object) -> str | None:
    """Why ``path`` cannot name an input kept by digest, or ``None`` when it can.

    A digest entry names its file by a path below the record's folder, ``/``-separated: never
    absolute, never with an empty, ``.`` or ``..`` part, a backslash or a control character.
    Replay refuses any other path before touching the file system; recording refuses it too, so
    no record is written that could not be replayed.
    """
    if not isinstance(path, str) or not path:
        return "an input path must be non-empty text"
    if _ABSOLUTE.match(path):
        return "an input path must be relative to the record's folder, not absolute"
    if "\\" in path or any(ord(c) < 32 or ord(c) == 127 for c in path):  # noqa: PLR2004 - control characters
        return "an input path must use '/' separators and no control characters"
    if any(part in {"", ".", ".."} for part in path.split("/")):
        return "an input path must lead below the record's folder (no empty, '.' or '..' part)"
    return None


def _table_entry(table: Table, mode: InputMode) -> tuple[dict[str, Any], Table]:
    entry, _, canonical_table = _encoded_entry(table, mode)
    canon = canonical_table()
    if mode == "inline":
        entry["rows"] = [row for _, row in canon.rows]
    return entry, canon


def _encoded_entry(table: Table, mode: InputMode) -> tuple[dict[str, Any], list[bytes], Callable[[], Table]]:
    """An input entry (inline rows left out), its canonical bytes in pieces, and the canonical table on demand.

    The rows are encoded once: the same text is sorted, digested and written. The canonical table
    (the rows as mappings in canonical order) is built only if asked for.
    """
    with paused_gc():  # a text per row, all acyclic: full collections would only rescan them
        texts, order = _row_texts(table)
    rows_json = ("[" + ",".join(texts) + "]").encode()
    del texts
    entry, encoded = encoded_input(table.name, rows_json, len(order), mode)

    def canonical_table() -> Table:
        rows = _record_rows(table)
        return Table(str(entry.get("name", entry.get("path"))), tuple(enumerate((rows[i] for i in order), start=1)))

    return entry, encoded, canonical_table


def encoded_input(source: str, rows_json: bytes, count: int, mode: InputMode) -> tuple[dict[str, Any], list[bytes]]:
    """An input entry (inline rows left out of the mapping) and its canonical bytes in pieces, from its rows' JSON.

    ``rows_json`` is the canonical JSON array of the input's rows in canonical order (``count`` of
    them); ``source`` names the input (a path below the record's folder, for ``digest``).

    Raises:
        DataError: for an input kept by ``digest`` whose name replay could not read back.
    """
    sha = hashlib.sha256(rows_json).hexdigest()
    if mode == "digest":
        name = source.replace("\\", "/")
        problem = "it is not a file" if source.startswith("<") else input_path_problem(name)
        if problem is not None:
            msg = f"{source}: cannot be kept by digest in a run record, which could then not be replayed: {problem}"
            raise DataError(msg)
        entry: dict[str, Any] = {"mode": "digest", "path": name, "sha256": sha, "rows": count}
        return entry, [canonical_bytes(entry)]
    name = _basename(source)
    entry = {"mode": "inline", "name": name, "sha256": sha}
    head = b'{"mode":"inline","name":' + canonical_bytes(name) + b',"rows":'
    return entry, [head, rows_json, b',"sha256":' + canonical_bytes(sha) + b"}"]


class EncodedRows:
    """An input's rows already encoded for a record: the canonical JSON array, rows in canonical order.

    ``frame_rows`` makes one from the columns a run read (``kpi evaluate --record`` on the kernel);
    ``record_appraisal`` takes it among its records when it is given the run's ``appraisal``.
    """

    __slots__ = ("count", "name", "rows_json")

    def __init__(self, name: str, rows_json: bytes, count: int) -> None:
        self.name, self.rows_json, self.count = name, rows_json, count


# Cells the two CSV readers may take apart differently: a quote left in a cell (the row reader is
# strict about quotes), a carriage return (line ends), NUL, and \x1c-\x1f (str.strip removes them,
# Polars' strip does not). A file with any of them is read again by the row reader.
_UNSURE = r'[\x00\r"\x1c-\x1f]'


def frame_rows(data: Any, name: str, text_columns: Callable[[list[str]], Any]) -> EncodedRows | None:
    """The rows of a CSV file read as Polars columns (``io.column_files.read_frame``), encoded for a record.

    Byte for byte the text the row reader's table gives (``_row_texts``): cells as read, stripped,
    empty as ``null``, blank rows left out, each row's canonical JSON sorted; encoded, sorted and
    joined by Polars, without a Python object per row or cell. Whole-number columns the run read
    as ``Int64`` are read again as text (their digits as written: ``007``, ``+5``) by
    ``text_columns`` (the caller's: ``io.column_files.read_text_columns`` of the file, those
    columns only; ``None`` if it cannot). ``None`` when
    that cannot be promised (another column type, a column name Polars made up, a cell with
    ``_UNSURE`` characters, or a Polars whose JSON differs from Python's): the caller then reads
    the file as rows.
    """
    import polars as pl  # noqa: PLC0415

    if not _same_json(pl):
        return None
    names = list(data.columns)
    if not names or any("_duplicated_" in n for n in names) or len(set(names)) != len(names):
        return None
    ints = [c for c, t in data.schema.items() if t == pl.Int64]
    if any(t not in {pl.Int64, pl.Utf8} for t in data.schema.values()):
        return None
    frame = data
    if ints:
        raw = text_columns(ints)
        if raw is None or raw.height != data.height or raw.columns != ints:
            return None
        frame = data.with_columns(raw.select(pl.col(ints).str.strip_chars()))
    frame = frame.select(pl.col(names).replace("", None))
    if frame.select(pl.any_horizontal(pl.all().str.contains(_UNSURE).any())).item():
        return None
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines and rows of empty cells
    rows = frame.select(pl.struct(sorted(names)).struct.json_encode().alias("j")).sort("j")
    joined = rows.select(pl.col("j").str.join(",")).item()
    return EncodedRows(name, ("[" + joined + "]").encode(), rows.height)


_JSON_PROBE = ['a"\\\x01\x1f\x7f\u2028\u00e9\U0001f600/\t\n\b\f', None, ""]


@functools.cache
def _same_json(pl: Any) -> bool:
    """Whether this Polars writes a struct of text as the record's canonical JSON (its escapes, null, no spaces)."""
    frame = pl.DataFrame({'k"é': _JSON_PROBE, "b": ["1", "2", "3"]})
    encoded: list[str] = frame.select(pl.struct(["b", 'k"é']).struct.json_encode()).to_series().to_list()
    return encoded == [_ENCODER.encode({"b": b, 'k"é': v}) for b, v in zip(["1", "2", "3"], _JSON_PROBE, strict=True)]


def table_from_entry(entry: Mapping[str, Any], rows: list[dict[str, Any]]) -> Table:
    """The table an entry stands for, rows in canonical order (row numbers count from 1)."""
    name = entry["path"] if entry.get("mode") == "digest" else entry["name"]
    return Table(str(name), tuple(enumerate(rows, start=1)))


def _seal(data: dict[str, Any], encoded: Mapping[str, Sequence[bytes]] | None = None) -> RunRecord:
    """Add the per-part digests and the record digest.

    ``encoded`` holds top-level fields already in canonical bytes, in pieces (the inputs and the
    values, never joined); every digest is taken over the same bytes ``canonical_bytes`` would
    give for them.
    """
    parts: dict[str, Sequence[bytes]] = {key: (canonical_bytes(value),) for key, value in data.items()}
    parts.update(encoded or {})
    digests = {}
    for part in DIGESTED_PARTS:
        if part == "meta":
            digests[part] = digest(part_tree(data, part))
            continue
        key = rules_key(data.get("kind")) if part == "ruleset" else part
        digests[part] = _pieces_digest(parts[key]) if key in parts else digest(None)
    parts["digests"] = (canonical_bytes(digests),)
    whole = digest({"digests": digests, "keys": sorted(parts)})
    parts["sha256"] = (canonical_bytes(whole),)
    data["digests"], data["sha256"] = digests, whole  # the caller's mapping is sealed too, as it always was
    return RunRecord(parts)


def _pieces_digest(pieces: Iterable[bytes]) -> str:
    sha = hashlib.sha256()
    for piece in pieces:
        sha.update(piece)
    return sha.hexdigest()


def record_digest(data: Mapping[str, Any]) -> str:
    """The record's own digest: SHA-256 over its part digests and its top-level keys (a two-level hash tree).

    Each part digest covers the canonical bytes of its part, so this covers every byte of the
    record but the ``sha256`` field itself.
    """
    return digest({"digests": data.get("digests"), "keys": sorted(k for k in data if k != "sha256")})


RULES_KEY = {"attribution": "policy", "pay": "pay_plan"}  # where a record of each kind keeps its rules


def rules_key(kind: object) -> str:
    """The key of a record's rules: ``ruleset``, ``policy`` (attribution) or ``pay_plan`` (pay)."""
    return RULES_KEY.get(str(kind), "ruleset")


def part_tree(data: Mapping[str, Any], part: str) -> Any:
    """The subtree a per-part digest covers (``meta`` is format, kind, engine, created and summary)."""
    if part == "meta":
        return {k: data.get(k) for k in ("format", "kind", "engine", "created", "summary")}
    if part == "ruleset":
        return data.get(rules_key(data.get("kind")))
    return data.get(part)


def attribution_values(result: Attribution) -> dict[str, Any]:
    """The exact credits (who, why, which events, amount) and follow-up records, by id."""
    return {
        "credits": {
            c.deal_id: {
                "credited_to": c.credited_to,
                "reason": c.reason,
                "amount": exact_text(c.amount),
                "decided_by": list(c.decided_by),
                "owner": c.owner,
                "closer": c.closer,
                "customer": c.customer,
            }
            for c in result.credits
        },
        "follow_ups": {
            f.registration_event: {
                "owner": f.owner,
                "customer": f.customer,
                "on_time": f.on_time,
                "first_follow_up": None if f.first_follow_up is None else f.first_follow_up.isoformat(),
            }
            for f in result.follow_ups
        },
    }


def _meta(kind: str, created: str | None) -> dict[str, Any]:
    return {
        "format": FORMATS[kind],
        "kind": kind,
        "engine": {"name": "kpi_engine", "version": __version__},
        "created": created,
    }


def record_appraisal(
    ruleset_text: str,
    records: RecordsLike | Sequence[Table | EncodedRows],
    *,
    ruleset_name: str = "ruleset.yaml",
    period: str | None = None,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    strict: bool = False,
    inputs: InputMode = "inline",
    created: str | None = None,
    totals: Literal["refuse", "skip"] = "refuse",
    unlisted: Literal["error", "exclude"] = "error",
    allow_extra_columns: bool = False,
    engine: Literal["auto", "row", "columnar"] = "auto",
    appraisal: Appraisal | None = None,
) -> tuple[Appraisal, RunRecord]:
    """Evaluate a ruleset on inputs in canonical order and record the run.

    Args:
        ruleset_text: the ruleset YAML as read (its SHA-256 is the ruleset's digest).
        records: record rows, a ``Table`` or several tables (their names become the names in the record);
            with ``appraisal``, tables may be given as ``EncodedRows`` (``frame_rows``).
        ruleset_name: the ruleset's file name (directories are dropped).
        period: the period to appraise (default: the latest in the records; the chosen one is recorded).
        members: membership rows.
        events: event rows.
        strict: as in ``evaluate``.
        inputs: ``inline`` (the rows go into the record) or ``digest`` (a SHA-256 and the table's
            name, which must be a path relative to where the record will be kept).
        created: a timestamp or label to store; nothing is read from a clock.
        totals: as in ``evaluate``; recorded (when not the default) so that replay leaves out the same rows.
        unlisted: as in ``evaluate``; recorded likewise.
        allow_extra_columns: as in ``evaluate``; recorded likewise (replay evaluates the same way).
        engine: as in ``evaluate``; the values are the same from either engine.
        appraisal: the appraisal of these same inputs, already made (``kpi evaluate --record`` passes
            its run, evaluated from the files in any row order): its values are recorded instead of
            evaluating the canonical rows again. The results do not depend on the order of the rows
            (a tested property); ``kpi replay`` checks the record either way.

    Returns:
        The appraisal (of the canonical inputs, or the one given) and its ``RunRecord``.

    Raises:
        RulesetError, DataError, EvaluationError: as ``evaluate``; DataError for a value a record
            cannot hold, or an ``appraisal`` of another ruleset or period.
    """
    ruleset = parse_ruleset(ruleset_text, _basename(ruleset_name))
    record_bytes: list[list[bytes]] = []
    record_tables: list[Callable[[], Table]] = []
    given: list[Any] = list(records) if _encoded(records) else list(as_tables(records, "records"))  # type: ignore[arg-type]
    for table in given:
        if isinstance(table, EncodedRows):
            if appraisal is None:
                raise DataError(f"{table.name}: rows given encoded are recorded with the appraisal of them")
            record_bytes.append(encoded_input(table.name, table.rows_json, table.count, inputs)[1])
            continue
        _, encoded, canon = _encoded_entry(table, inputs)
        record_bytes.append(encoded)
        record_tables.append(canon)
    optional: dict[str, tuple[dict[str, Any] | None, list[bytes], Callable[[], Table] | None]] = {}
    for key, rows in (("members", members), ("events", events)):
        optional[key] = (None, [b"null"], None) if rows is None else _encoded_entry(as_table(rows, key), inputs)
    if appraisal is None:
        members_table, events_table = (optional[k][2] for k in ("members", "events"))
        appraisal = evaluate(
            ruleset,
            [canonical() for canonical in record_tables],
            period=period,
            members=None if members_table is None else members_table(),
            events=None if events_table is None else events_table(),
            strict=strict,
            totals=totals,
            unlisted=unlisted,
            allow_extra_columns=allow_extra_columns,
            engine=engine,
        )
    elif appraisal.sha256 != ruleset.sha256 or (period is not None and appraisal.period != period):
        msg = f"the appraisal given ({appraisal.ruleset_id} {appraisal.period}) is not of this ruleset and period"
        raise DataError(msg)
    data = _meta("appraisal", created)
    data["ruleset"] = {
        "name": _basename(ruleset_name),
        "id": ruleset.id,
        "version": ruleset.version,
        "sha256": ruleset.sha256,
        "text": ruleset_text,
    }
    data["options"] = appraisal_options(
        appraisal.period, strict=strict, allow_extra_columns=allow_extra_columns, totals=totals, unlisted=unlisted
    )
    data["summary"] = appraisal_summary(appraisal)
    records_pieces = [piece for i, encoded in enumerate(record_bytes) for piece in ([b","] if i else []) + encoded]
    parts = {
        "inputs": [b'{"events":', *optional["events"][1], b',"members":', *optional["members"][1], b',"records":[',
                   *records_pieces, b"]}"],
        "results": [b'{"values":', *_values(appraisal), b"}"],
    }  # fmt: skip
    return appraisal, _seal(data, parts)


def _encoded(records: object) -> bool:
    return isinstance(records, list | tuple) and any(isinstance(r, EncodedRows) for r in records)


def _values(appraisal: Appraisal) -> list[bytes]:
    with paused_gc():
        return values_pieces(appraisal)


def appraisal_options(
    period: str,
    *,
    strict: bool,
    allow_extra_columns: bool = False,
    totals: str = "refuse",
    unlisted: str = "error",
) -> dict[str, Any]:
    """The ``options`` of an appraisal record; each option beyond period and strict only when not its default.

    Records of runs without them keep their bytes.
    """
    options: dict[str, Any] = {"period": period, "strict": strict}
    if totals != "refuse":
        options["totals"] = totals
    if unlisted != "error":
        options["unlisted"] = unlisted
    if allow_extra_columns:
        options["allow_extra_columns"] = True
    return options


def appraisal_summary(appraisal: Appraisal) -> dict[str, Any]:
    """The ``summary`` of an appraisal record: subjects and KPIs appraised."""
    return {"subjects": len(appraisal.results), "kpis": kpi_count(appraisal)}


def attribution_summary(result: Attribution) -> dict[str, Any]:
    """The ``summary`` of an attribution record: deals credited and follow-up records."""
    return {"deals": len(result.credits), "follow_ups": len(result.follow_ups)}


def record_attribution(
    policy_text: str,
    events: Table | Iterable[Mapping[str, Any]],
    *,
    policy_name: str = "policy.yaml",
    inputs: InputMode = "inline",
    created: str | None = None,
) -> tuple[Attribution, RunRecord]:
    """Credit every deal of a lead log (rows in canonical order) and record the run.

    Args:
        policy_text: the policy YAML as read.
        events: the lead log as a ``Table`` (``read_table``) or Python rows.
        policy_name: the policy's file name (directories are dropped).
        inputs: ``inline`` or ``digest``, as in ``record_appraisal``.
        created: a timestamp or label to store; nothing is read from a clock.

    Returns:
        The attribution and its ``RunRecord``.

    Raises:
        RulesetError: for an invalid policy. DataError: for a bad event row.
    """
    policy = parse_policy(policy_text, _basename(policy_name))
    entry, table = _table_entry(as_table(events, "events"), inputs)
    result = attribute(policy, table)
    data = _meta("attribution", created)
    data["policy"] = {
        "name": _basename(policy_name),
        "id": policy.policy,
        "version": policy.version,
        "sha256": text_digest(policy_text),
        "text": policy_text,
    }
    data["inputs"] = {"events": entry}
    data["options"] = {}
    data["results"] = {"attribution": result.to_dict(), "values": attribution_values(result)}
    data["summary"] = attribution_summary(result)
    return result, _seal(data)


# --- pay ----------------------------------------------------------------------------------------


def pay_summary(run: PayRun) -> dict[str, Any]:
    """The ``summary`` of a pay record: people paid and payout lines."""
    return {"people": len(run.people), "lines": sum(len(p.lines) for p in run.people)}


def pay_values(run: PayRun) -> dict[str, Any]:
    """The exact payouts: per person, each line's amount, the total, year to date, held and owed."""
    return {
        "pay_plan": {"id": run.plan_id, "version": run.version, "sha256": run.sha256},
        "period": run.period,
        "people": {
            p.person: {
                "total": format(p.total, "f"),
                "year_to_date": format(p.year_to_date, "f"),
                "held": format(p.held, "f"),
                "owed": format(p.balance, "f"),
                "lines": {line.id: format(line.amount, "f") for line in p.lines},
            }
            for p in run.people
        },
    }


def _ratio_text(value: Any) -> str | None:
    """An exact value as record text: a decimal when it has one, else ``n/d``."""
    if value is None:
        return None
    settled = settle(as_fraction(value))
    if isinstance(settled, Decimal):
        return canonical(settled)
    return f"{settled.numerator}/{settled.denominator}"


def scores_table(scores: Iterable[Scores]) -> Table:
    """Appraisals as the rows pay reads (what a pay record keeps): exact values, ``n/d`` when not decimal."""
    rows: list[dict[str, Any]] = []
    for s in scores:
        row: dict[str, Any] = {
            "subject": s.subject,
            "period": str(s.period),
            "total": _ratio_text(s.total),
            "grade": s.grade,
            "bonus_multiplier": _ratio_text(s.bonus_multiplier),
            "gates": " ".join(sorted(s.gates)),
        }
        row.update({name: _ratio_text(v) for name, v in sorted(s.values.items())})
        rows.append(row)
    return Table.from_rows(rows, "appraisals")


def record_pay_run(
    plan_text: str,
    *,
    appraisals: Any,
    people: Any,
    credits: Any = None,  # noqa: A002 - the input's name
    deals: Any = None,
    paid: Any = None,
    period: str | None = None,
    plan_name: str = "pay_plan.yaml",
    created: str | None = None,
) -> tuple[PayRun, RunRecord]:
    """Pay on inputs in canonical order and record the run (inputs inline).

    The appraisals are kept as the values pay read (``scores_table``), so the record replays
    without the ruleset; the appraisal itself has a record of its own (``kpi evaluate --record``).

    Raises:
        RulesetError, DataError: as ``pay``; DataError for a value a record cannot hold.
    """
    plan = parse_pay_plan(plan_text, _basename(plan_name))
    inputs = prepare_inputs(plan, appraisals, people, credits=credits, deals=deals, paid=paid)
    tables: dict[str, Table | None] = {
        "appraisals": scores_table(inputs.scores.values()) if inputs.scores else None,
        "people": as_table(people, "people"),
        "credits": credits_from_attribution(credits) if hasattr(credits, "policy") else credits,
        "deals": deals,
        "paid": paid,
    }
    entries: dict[str, Any] = {}
    canon: dict[str, Table | None] = {}
    for key, table in tables.items():
        if table is None:
            entries[key] = canon[key] = None
            continue
        entry, canonical_table = _table_entry(as_table(table, key), "inline")
        entries[key], canon[key] = entry, canonical_table
    people_table = canon["people"]
    assert people_table is not None
    run = pay(plan, canon["appraisals"], people_table, credits=canon["credits"], deals=canon["deals"],
              paid=canon["paid"], period=period)  # fmt: skip
    data = _meta("pay", created)
    data["pay_plan"] = {
        "name": _basename(plan_name),
        "id": plan.id,
        "version": plan.version,
        "sha256": plan.sha256,
        "text": plan_text,
    }
    data["inputs"] = entries
    data["options"] = {"period": run.period}
    data["results"] = {"pay": run.to_dict(), "values": pay_values(run)}
    data["summary"] = pay_summary(run)
    return run, _seal(data)
