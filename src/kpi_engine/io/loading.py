"""The I/O edge's entry points: rulesets, pay plans and policies, tables, lead and floor logs.

Files are read only under ``io/`` (``tests/test_layering.py`` checks it); this module picks the
reader of a file by its suffix (one module per format: ``delimited``, ``excel``, ``arrow``,
``column_files``).

Numbers in text are kept as text (CSV) or parsed straight to ``Decimal`` (JSON), never through
a binary float. ``NaN`` and ``Infinity`` in JSON are refused.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kpi_engine._perf import paused_gc
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.records import Table
from kpi_engine.io.arrow import DUCKDB_PREFIX, read_parquet, read_sql, split_duckdb
from kpi_engine.io.delimited import read_csv_lines, read_json_text, read_jsonl_lines
from kpi_engine.io.excel import EXCEL_SUFFIXES, read_excel
from kpi_engine.io.text import encoding_hint, open_text
from kpi_engine.language._yaml import MAX_BYTES
from kpi_engine.language.build import Ruleset, parse_ruleset

if TYPE_CHECKING:
    from kpi_engine.attribution._engine import FrameLog, LeadEvent
    from kpi_engine.attribution._policy import PolicySpec
    from kpi_engine.attribution.rotation import FloorEvent
    from kpi_engine.payout.model import PayPlan

MAX_FILE_BYTES = 512 * 1024 * 1024
# A YAML document (ruleset, policy, plan, calendar) is refused above MAX_BYTES characters; a
# character is at most 4 bytes in UTF-8, so more bytes than this can only be refused: the file is
# not read whole first.
MAX_YAML_FILE_BYTES = 4 * MAX_BYTES


def _read_text(path: Path, limit: int | None = None) -> str:
    """The file as text, refused without reading past ``limit`` bytes (default and most ``MAX_FILE_BYTES``)."""
    cap = MAX_FILE_BYTES if limit is None else min(limit, MAX_FILE_BYTES)
    try:
        if path.stat().st_size > cap:
            msg = f"{path}: file is larger than {cap} bytes"
            raise KpiError(msg)
        data = read_capped(path, cap)
        if len(data) > cap:
            msg = f"{path}: file is larger than {cap} bytes"
            raise KpiError(msg)
        text = data.decode("utf-8-sig")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text  # as read_text does
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise KpiError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}){encoding_hint(path)}"
        raise KpiError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a directory, not a file"
        raise KpiError(msg) from None
    except OSError as exc:  # permission denied, a device that cannot be read, …
        msg = f"{path}: cannot read: {exc.strerror or exc}"
        raise KpiError(msg) from None
    except MemoryError:
        msg = f"{path}: not enough memory to read the file"
        raise KpiError(msg) from None


def read_yaml_text(path: str | Path) -> str:
    """A YAML document's text (ruleset, policy, case file…), refused above ``MAX_YAML_FILE_BYTES``.

    Raises:
        KpiError: if the file cannot be read, is too large or is not UTF-8.
    """
    return _read_text(Path(path), MAX_YAML_FILE_BYTES)


def read_capped(path: Path, cap: int) -> bytes:
    """At most ``cap + 1`` bytes of a file, also from a device or pipe (``/dev/zero`` has size 0).

    Read in pieces: ``read(cap + 1)`` would set aside the whole cap (512 MiB) before the first byte.
    """
    pieces: list[bytes] = []
    left = cap + 1
    with path.open("rb") as fh:
        while left > 0:
            piece = fh.read(min(left, _PIECE))
            if not piece:
                break
            pieces.append(piece)
            left -= len(piece)
    return b"".join(pieces)


_PIECE = 1 << 20


def load_ruleset(path_or_text: str | Path) -> Ruleset:
    """Load a ruleset from a file path, or from YAML text (a ``str`` containing a newline).

    Raises:
        RulesetError: listing every problem with ``file:line:col``. KpiError: if the file cannot be read.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_ruleset(path_or_text, "<string>")
    path = Path(path_or_text)
    return parse_ruleset(_read_text(path, MAX_YAML_FILE_BYTES), str(path))


def load_pay_plan(path_or_text: str | Path) -> PayPlan:
    """Load a pay plan from a file path, or from YAML text (a ``str`` containing a newline).

    Raises:
        RulesetError: listing every problem with ``file:line:col``. KpiError: if the file cannot be read.
    """
    from kpi_engine.payout.build import parse_pay_plan  # noqa: PLC0415 - only pay runs need it

    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_pay_plan(path_or_text, "<string>")
    path = Path(path_or_text)
    return parse_pay_plan(_read_text(path, MAX_YAML_FILE_BYTES), str(path))


def load_policy(path_or_text: str | Path) -> PolicySpec:
    """Load a lead-attribution policy from a file, or from YAML text (a ``str`` containing a newline).

    Raises:
        RulesetError: listing every problem with ``file:line:col``. KpiError: if the file cannot be read.
    """
    from kpi_engine.attribution._policy import parse_policy  # noqa: PLC0415 - only attribution runs need it

    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_policy(path_or_text)
    return parse_policy(_read_text(Path(path_or_text), MAX_YAML_FILE_BYTES), str(path_or_text))


def read_table(
    path: str | Path,
    name: str | None = None,
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    header_row: int | None = None,
) -> Table:
    """Read a table of records, members or events from a file (or a DuckDB query).

    By suffix: ``.csv`` (and anything else) CSV with a header row, ``.jsonl``/``.ndjson`` JSON
    Lines, ``.json`` an array of objects, ``.xlsx``/``.xls``/``.ods`` a sheet of a workbook,
    ``.parquet`` a Parquet file; ``duckdb:PATH::SQL`` runs a query on a DuckDB file. CSV and
    JSON Lines stream from the file; Parquet and DuckDB results come batch by batch.

    Args:
        path: the file, or ``duckdb:PATH::SQL``.
        name: the name used in messages and traces (default: the path).
        encoding: of a text file (default UTF-8 with or without BOM), e.g. ``gb18030``.
        sheet: the sheet of a workbook (default: the first).
        header_row: the row of the header in a CSV file or a sheet, from 1 (default: the first row
            below any title rows; ``Table.notes`` says which row was taken when it is not row 1).

    Raises:
        DataError: for a malformed file, naming the row. KpiError: if the file cannot be read, or
            ``header_row`` is given for a file that has no rows above its header (JSON, Parquet, DuckDB).
    """
    with paused_gc():
        return _read_table(path, name, encoding, sheet, header_row)


def _read_table(
    path: str | Path, name: str | None, encoding: str | None, sheet: str | None, header_row: int | None
) -> Table:
    query = isinstance(path, str) and path.startswith(DUCKDB_PREFIX)
    suffix = "" if query else Path(path).suffix.lower()
    if header_row is not None and (query or suffix in {".parquet", ".jsonl", ".ndjson", ".json"}):
        msg = f"{name or path}: a header row is chosen in CSV files and sheets only (--header-row)"
        raise KpiError(msg)
    if query:
        return read_sql(*split_duckdb(str(path)), name=name)
    path = Path(path)
    label = name or str(path)
    if suffix in EXCEL_SUFFIXES:
        return read_excel(path, sheet, name, header_row)
    if suffix == ".parquet":
        return read_parquet(path, name)
    if suffix in {".jsonl", ".ndjson"}:
        with open_text(path, encoding) as fh:
            return read_jsonl_lines(fh, label)
    if suffix == ".json":
        with open_text(path, encoding) as fh:
            return read_json_text(fh.read(), label)
    with open_text(path, encoding, newline="") as fh:
        return read_csv_lines(fh, label, header_row)


def read_csv_text(text: str, label: str) -> Table:
    """Parse CSV text with a header row; cells stay text (exact), stripped, ``None`` when empty.

    Raises:
        DataError: for duplicate or blank headers and rows with too many cells.
    """
    return read_csv_lines(io.StringIO(text, newline=""), label)


def read_events(
    path: str | Path, policy: PolicySpec | None = None, *, encoding: str | None = None
) -> Table | list[LeadEvent]:
    """Read a lead log (CSV or JSONL); with a policy, validate it into sorted events at once.

    With a policy, a CSV log is read column-wise by Polars when it is installed (the ``columnar``
    extra), else streamed line by line; either way the whole table is never held as Python rows.
    Any problem sends the log through the exact row-by-row parser, which reports every bad row.

    Raises:
        DataError: naming each bad row. KpiError: if the file cannot be read.
    """
    from kpi_engine.attribution import _columnar  # noqa: PLC0415 - only attribution runs need it
    from kpi_engine.attribution._engine import parse_events  # noqa: PLC0415
    from kpi_engine.attribution._reading import stream_csv  # noqa: PLC0415

    if isinstance(path, str) and path.startswith(DUCKDB_PREFIX):
        table = read_table(path)
        return parse_events(policy, table) if policy is not None else table
    path = Path(path)
    if policy is None or encoding is not None or path.suffix.lower() != ".csv":
        table = read_table(path, encoding=encoding)
        return parse_events(policy, table) if policy is not None else table
    try:
        if path.is_file() and _columnar.available(path.stat().st_size):
            events = read_lead_events_columnar(policy, path)
            if events is not None:
                return events
        with open_text(path, None, newline="") as fh:
            return stream_csv(policy, fh, str(path))
    except MemoryError:
        raise KpiError(f"{path}: not enough memory to read this lead log (raise the memory limit)") from None


def read_lead_events_columnar(policy: PolicySpec, path: Path) -> list[LeadEvent] | None:
    """Validated, sorted events of a CSV lead log read by Polars, or ``None`` to defer to the row-by-row parser."""
    from kpi_engine.attribution import _columnar, _limits  # noqa: PLC0415 - only attribution runs need it

    with _limits.POLARS_LOCK:
        df = _lead_frame(policy, path)
        return None if df is None else _columnar.frame_events(df)


def _lead_frame(policy: PolicySpec, path: Path) -> Any:
    """The validated, sorted frame of a CSV lead log, or ``None`` to defer to the row-by-row parser."""
    from kpi_engine.attribution import _columnar, _limits  # noqa: PLC0415 - only attribution runs need it
    from kpi_engine.io.column_files import read_text_columns  # noqa: PLC0415 - needs the columnar extra

    with _limits.POLARS_LOCK:
        df = read_text_columns(path)
        return None if df is None else _columnar.checked_frame(policy, df)


def read_event_frame(path: str | Path, policy: PolicySpec) -> FrameLog:
    """Read and validate a lead log into a column-wise log for the vectorised engine.

    A CSV log goes through the Polars ingest; anything unusual (and JSONL) goes through the exact
    parser, which reports every bad row, and its events are then held column-wise.

    Raises:
        DataError: naming each bad row. KpiError: if the file cannot be read, or without Polars.
    """
    from kpi_engine.attribution import _columnar  # noqa: PLC0415 - only attribution runs need it
    from kpi_engine.attribution._engine import vectorised_available  # noqa: PLC0415

    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if not vectorised_available() or not _columnar.available(size):
        msg = (
            "reading a lead log column-wise needs Polars and NumPy (pip install 'kpi_engine[columnar]') "
            "and, under an address-space limit (ulimit -v), room for it; use read_events"
        )
        raise KpiError(msg)
    if path.suffix.lower() not in {".json", ".jsonl", ".ndjson"} and path.is_file():
        try:
            df = _lead_frame(policy, path)
        except MemoryError:
            raise KpiError(f"{path}: not enough memory to read this lead log (raise the memory limit)") from None
        if df is not None:
            return _columnar.EventFrame(df)
    events = read_events(path, policy)
    from kpi_engine.attribution._vectorised import ListLog  # noqa: PLC0415 - imports Polars lazily

    return ListLog(events)  # type: ignore[arg-type]  # with a policy, read_events gives events


def read_log(
    path: str | Path, policy: PolicySpec, engine: str = "auto", *, encoding: str | None = None
) -> FrameLog | list[LeadEvent]:
    """Read and validate a lead log in the form the chosen engine works on best.

    Column-wise (``read_event_frame``) unless the engine is ``row`` (``reference``) or Polars may not be
    used here (not installed, or an address-space limit too small for it: see ``_limits``);
    otherwise validated events (``read_events``).

    Raises:
        DataError: naming each bad row. KpiError: if the file cannot be read.
    """
    from kpi_engine.attribution import _columnar  # noqa: PLC0415 - only attribution runs need it
    from kpi_engine.attribution._engine import engine_name, vectorised_available  # noqa: PLC0415

    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    plain_csv = encoding is None and path.suffix.lower() == ".csv"
    if plain_csv and engine_name(engine) != "row" and vectorised_available() and _columnar.available(size):
        return read_event_frame(path, policy)
    return read_events(path, policy, encoding=encoding)  # type: ignore[return-value]  # validated events


def read_floor_events(path: str | Path, policy: PolicySpec, *, encoding: str | None = None) -> list[FloorEvent]:
    """Read and validate a floor log (sign-ins and receptions; CSV, JSONL, Excel…) for ``rotate``.

    Raises:
        DataError: naming each bad row. KpiError: if the file cannot be read.
    """
    from kpi_engine.attribution.rotation import parse_floor_events  # noqa: PLC0415 - only rotation runs need it

    return parse_floor_events(policy, read_table(path, "floor log", encoding=encoding))
