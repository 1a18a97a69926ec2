"""Data frames in and out: pandas, Polars, Arrow and DuckDB relations ↔ ``Table`` / appraisal rows.

Nothing here reads or writes a file and no heavy library is imported at module level: a container
is recognised by the module its type comes from (``pandas``, ``polars``, ``pyarrow``, ``duckdb``)
and the library is imported only when such a value arrives or a frame is asked for.

Inbound, every cell becomes the exact text a CSV cell would hold, so a frame and the CSV it was
read from give the same appraisal: integers and decimals by their digits, floats by their shortest
repr when it has at most 15 significant digits (``_numbers.float_text``; anything else is refused
with its row and column), dates in ISO form, booleans as ``true``/``false``, missing cells (null,
pandas' NaN/NA/NaT) as empty. Rows are numbered as in a spreadsheet: the header is row 1, the first
data row is row 2 — the line numbers of the same data as CSV.

Outbound, ``appraisal_rows`` gives one row per subject × KPI (``level="kpi"``), one per subject
(``level="subject"``), or one per subject with a value and a score column per KPI
(``layout="wide"``: ``WIDE_COLUMNS``, then ``<kpi>_value``, ``<kpi>_score``), with exact
``Decimal`` values; reported numbers (scores, totals, weights, contributions) are rounded to the
ruleset's places and carried as Arrow ``decimal128``; metric values are exact text in the long
layout and, in the wide one, a decimal column per KPI when all its values are numbers that fit
(``value_scale``). pandas frames mark a missing cell with ``pd.NA`` in every column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import attrs

from kpi_engine._numbers import (
    HUNDRED,
    Number,
    NumberFormatError,
    canonical,
    float_text,
    is_number,
    mul,
    quantize,
)
from kpi_engine.errors import DataError, Issue, Location
from kpi_engine.evaluation.records import Table

if TYPE_CHECKING:
    from kpi_engine.evaluation.results import Appraisal, SubjectResult


@attrs.frozen
class Frame:
    """A Polars frame read from a file for the columnar executor, and how to read the same file as rows.

    The row executor reads ``rows()`` when the columnar executor hands a run over, so that its
    errors name the file's lines.
    """

    data: Any  # a polars.DataFrame
    name: str
    rows: Callable[[], Table]


FRAME_MODULES = frozenset({"pandas", "polars", "pyarrow", "duckdb"})
Level = Literal["kpi", "subject"]
Layout = Literal["long", "wide"]


def is_frame(data: object) -> bool:
    """True for a pandas/Polars frame, an Arrow table, batch or reader, or a DuckDB relation."""
    return type(data).__module__.split(".")[0] in FRAME_MODULES


def cell_text(value: object) -> str | None:
    """The exact text of one cell, as a CSV would hold it; ``None`` when empty.

    Raises:
        ValueError: for NaN, infinities, a float that is not a short decimal, or a value of no
            tabular type (a list, a dict …).
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        try:
            return float_text(value)
        except NumberFormatError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, Decimal):
        if not value.is_finite():
            msg = f"{value} is not a finite number"
            raise ValueError(msg)
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    msg = f"a cell of type {type(value).__name__} is not a number, text, date or boolean"
    raise ValueError(msg)


class _Builder:
    """Collects rows of cells into a compact ``Table``, with located issues for bad cells."""

    def __init__(self, name: str, header: Sequence[object], header_line: int = 1) -> None:
        self.name = name
        self.header = tuple("" if h is None else str(h).strip() for h in header)
        self.columns: dict[str, int] = {}
        self.issues: list[Issue] = []
        self.header_line = header_line
        for i, col in enumerate(self.header, start=1):
            if not col:
                self.issues.append(Issue("bad_header", f"column {i} has no name", "", Location(name, header_line, i)))
            elif col in self.columns:
                self.issues.append(
                    Issue("duplicate_column", f"column '{col}' appears twice", col, Location(name, header_line, i))
                )
            self.columns.setdefault(col, i)
        self.rows: list[tuple[int, tuple[str | None, ...]]] = []
        self.line = header_line

    def add(self, columns: Sequence[Sequence[object]]) -> None:
        """Add a batch given column-wise (each column a list of Python values), numbering rows on."""
        for values in zip(*columns, strict=True):
            self.add_row(self.line + 1, values)

    def add_row(self, line: int, values: Sequence[object]) -> None:
        """Add one row found at ``line`` (a spreadsheet skips blank rows, keeping its row numbers)."""
        self.line = line
        header = self.header
        cells: list[str | None] = []
        for i, value in enumerate(values):
            try:
                cells.append(cell_text(value))
            except ValueError as exc:
                col = header[i] if i < len(header) else str(i + 1)
                self.issues.append(Issue("bad_value", f"'{col}': {exc}", col, Location(self.name, line, i + 1)))
                cells.append(None)
        cells.extend([None] * (len(header) + 1 - len(cells)))  # short rows padded, plus the final pad
        self.rows.append((line, tuple(cells)))

    def table(self) -> Table:
        if self.issues:
            raise DataError.from_issues(self.issues, self.name)
        return Table(
            self.name, (), self.columns, header=self.header, cells=tuple(self.rows), header_line=self.header_line
        )


def frame_table(data: Any, name: str) -> Table:
    """Convert a frame-like container (see ``is_frame``) into a ``Table``.

    Raises:
        DataError: naming each bad cell (row and column), or an unsupported container.
    """
    module = type(data).__module__.split(".")[0]
    kind = type(data).__name__
    if module == "pandas" and kind == "DataFrame":
        return _pandas(data, name)
    if module == "polars" and kind in {"DataFrame", "LazyFrame"}:
        frame = data.collect() if kind == "LazyFrame" else data
        builder = _Builder(name, frame.columns)
        builder.add([frame.get_column(c).to_list() for c in frame.columns])
        return builder.table()
    if module == "pyarrow" and kind in {"Table", "RecordBatch", "RecordBatchReader"}:
        return arrow_table(data, name)
    if module == "duckdb":
        return arrow_table(duckdb_reader(data), name)
    msg = f"{name}: a {module} {kind} is not a supported table (give a DataFrame, an Arrow table or rows)"
    raise DataError(msg)


def duckdb_reader(result: Any) -> Any:
    """The Arrow record-batch reader of a DuckDB relation or query result (old and new duckdb spellings)."""
    reader = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
    return reader()


def arrow_table(data: Any, name: str) -> Table:
    """A ``Table`` from an Arrow table, record batch, or stream of batches (read batch by batch).

    Raises:
        DataError: naming each bad cell.
    """
    batches: Iterable[Any]
    kind = type(data).__name__
    if kind == "Table":
        batches = data.to_batches()
    elif kind == "RecordBatch":
        batches = [data]
    else:
        batches = data
    return batches_table(list(data.schema.names), batches, name)


def batches_table(names: Sequence[str], batches: Iterable[Any], name: str) -> Table:
    """A ``Table`` from Arrow record batches consumed one at a time (a Parquet file, a query result).

    Raises:
        DataError: naming each bad cell.
    """
    builder = _Builder(name, names)
    for batch in batches:
        builder.add([batch.column(i).to_pylist() for i in range(batch.num_columns)])
    return builder.table()


def rows_table(
    header: Sequence[object], rows: Iterable[tuple[int, Sequence[object]]], name: str, header_line: int = 1
) -> Table:
    """A ``Table`` from numbered rows of Python values (a spreadsheet); blank rows are skipped.

    Raises:
        DataError: naming each bad cell, a blank or a repeated header.
    """
    builder = _Builder(name, header, header_line)
    for line, values in rows:
        if any(v is not None and (not isinstance(v, str) or v.strip()) for v in values):
            builder.add_row(line, values)
    return builder.table()


def _pandas(df: Any, name: str) -> Table:
    if any(n is not None for n in df.index.names):
        df = df.reset_index()  # a named index (df.set_index("subject")) is a column of the data
    builder = _Builder(name, list(df.columns))
    columns: list[list[object]] = []
    for i in range(df.shape[1]):
        series = df.iloc[:, i]
        missing = series.isna().tolist()  # pandas marks missing cells with NaN, NA or NaT
        values = series.tolist()
        columns.append([None if gone else v for v, gone in zip(values, missing, strict=True)])
    builder.add(columns)
    return builder.table()


# Outbound: appraisal → rows → frames.

KPI_COLUMNS = (
    "period", "subject", "parent", "total", "grade", "rank", "kpi", "section", "value", "status", "score",
    "weight", "effective_weight", "contribution", "flags",
)  # fmt: skip
SUBJECT_COLUMNS = (
    "period", "subject", "level", "parent", "total", "total_before_gates", "grade", "rank", "rank_in_parent", "flags",
)  # fmt: skip
WIDE_COLUMNS = (
    "period", "subject", "name", "parent", "total", "total_before_gates", "grade", "grade_title", "bonus_multiplier",
    "rank", "rank_in_parent", "flags",
)  # fmt: skip
"""The fixed columns of the wide layout, in order, for every form of it: CSV, xlsx, Parquet and the frames."""
WIDE_SUFFIXES = ("value", "score")  # one column of each per KPI, in the scorecard's order: <kpi>_value, <kpi>_score
MAX_DIGITS = 38  # of an Arrow decimal128
_REPORTED = frozenset({"total", "score", "effective_weight", "contribution", "total_before_gates"})
_INTS = frozenset({"rank", "rank_in_parent"})
_WEIGHT_PLACES = 6  # at least; more when a declared weight has more decimals


def _value_text(value: object) -> str | None:
    if value is None:
        return None
    if is_number(value):
        return canonical(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def value_scale(values: Iterable[object]) -> int | None:
    """The scale of a wide ``<kpi>_value`` column as a decimal, or ``None``: it must be text.

    Each number is taken as the JSON gives it (``canonical``: every digit of a finite decimal; a
    rational without a finite expansion, ``25/184``, to 34 significant digits). The scale is the
    smallest number of decimal places that holds all of them, when every value that is not N/A is
    a number and all fit in ``MAX_DIGITS`` digits at that scale; ``None`` (text) when a value is
    text or a boolean, or when no common scale fits (a decimal column would have to round).
    """
    return text_scale(None if v is None else canonical(v) if _is_figure(v) else "" for v in values)


def text_scale(texts: Iterable[str | None]) -> int | None:
    """``value_scale`` of values given as ``canonical`` text (``""`` for a value that is not a number)."""
    scale = whole = 0
    for text in texts:
        if text is None:
            continue
        head, _, tail = text.lstrip("-").partition(".")
        if not head.isdigit() or (tail and not tail.isdigit()):
            return None
        scale, whole = max(scale, len(tail)), max(whole, len(head))
    return scale if scale + whole <= MAX_DIGITS else None


def _is_figure(value: object) -> TypeGuard[Number]:
    return is_number(value) and not isinstance(value, bool)


def wide_value(value: object, scale: int | None) -> Decimal | str | None:
    """A cell of a wide ``<kpi>_value`` column: the ``Decimal`` of ``canonical``, or text when ``scale`` is None.

    Arrow stores the ``Decimal`` at the column's ``scale``; pandas keeps it as it is (``Decimal('0.75')``).
    """
    if value is None:
        return None
    if scale is None or not _is_figure(value):
        return _value_text(value)
    return Decimal(canonical(value))


def kpi_ids(appraisal: Appraisal) -> tuple[str, ...]:
    """The scorecard's KPI ids in order (from the results when the appraisal carries no scorecard)."""
    if appraisal.scorecard is not None:
        return tuple(k.id for k in appraisal.scorecard.kpis)
    return tuple(k.id for k in appraisal.results[0].kpis) if len(appraisal.results) else ()


def grade_titles(appraisal: Appraisal) -> dict[str, str]:
    """Grade → its title in the scorecard (empty when the appraisal carries no scorecard)."""
    card = appraisal.scorecard
    return {g.grade: g.title for g in card.grades if g.title} if card is not None else {}


def wide_flags(result: SubjectResult) -> str:
    """A subject's flags in one cell: its own (``gate:<id>``, published flags) then ``<kpi>:<flag>`` per KPI."""
    flags = [*result.flags, *(f"{k.id}:{f}" for k in result.kpis for f in k.flags)]
    return ";".join(flags)


def wide_columns(ids: Sequence[str]) -> tuple[str, ...]:
    """Every column of the wide layout: ``WIDE_COLUMNS``, then ``<kpi>_value`` and ``<kpi>_score`` per KPI."""
    return WIDE_COLUMNS + tuple(f"{kid}_{suffix}" for kid in ids for suffix in WIDE_SUFFIXES)


def value_scales(appraisal: Appraisal) -> dict[str, int | None]:
    """``value_scale`` of each KPI's values over the appraisal's subjects, by KPI id."""
    ids = kpi_ids(appraisal)
    seen: dict[str, list[object]] = {kid: [] for kid in ids}
    for s in appraisal.results:
        for k in s.kpis:
            seen[k.id].append(k.value)
    return {kid: value_scale(values) for kid, values in seen.items()}


def appraisal_rows(
    appraisal: Appraisal, level: Level = "kpi", layout: Layout = "long", names: Mapping[str, str] | None = None
) -> tuple[tuple[str, ...], list[tuple[object, ...]]]:
    """The columns and rows of an appraisal: one row per subject × KPI, or one per subject.

    Reported numbers are ``Decimal`` rounded to the ruleset's places (weights keep their exact
    declared value); KPI values are exact text (``None`` when N/A); flags are joined with ``;``.
    ``layout="wide"`` (whatever ``level``): one row per subject, ``wide_columns`` (``name`` from
    ``names``, the records' names); a KPI's values are ``Decimal`` at ``value_scales`` places, or
    exact text when that KPI's scale is ``None``; its ``flags`` add ``<kpi>:<flag>``.
    """

    def r(value: Number | None) -> Decimal | None:
        return None if value is None else quantize(value, appraisal.places, appraisal.rounding)

    def contributions(s: SubjectResult) -> dict[str, Decimal]:
        return appraisal.reported_contributions(s)[0]  # as the JSON reports them

    if layout == "wide":
        ids = kpi_ids(appraisal)
        scales = value_scales(appraisal)
        titles = grade_titles(appraisal)
        names = names or {}
        wide: list[tuple[object, ...]] = []
        for s in appraisal.results:
            row: list[object] = [
                appraisal.period, s.subject, names.get(s.subject) or None, s.parent, r(s.total_exact),
                r(s.total_before_gates_exact), s.grade, titles.get(s.grade or ""), s.bonus_multiplier, s.rank,
                s.rank_in_parent, wide_flags(s),
            ]  # fmt: skip
            for k in s.kpis:
                row += (wide_value(k.value, scales.get(k.id)), r(k.score_exact))
            wide.append(tuple(row))
        return wide_columns(ids), wide
    if level == "subject":
        return SUBJECT_COLUMNS, [
            (
                appraisal.period, s.subject, s.level, s.parent, r(s.total_exact), r(s.total_before_gates_exact),
                s.grade, s.rank, s.rank_in_parent, ";".join(s.flags),
            )
            for s in appraisal.results
        ]  # fmt: skip
    rows: list[tuple[object, ...]] = [
        (
            appraisal.period, s.subject, s.parent, r(s.total_exact), s.grade, s.rank, k.id, k.section,
            _value_text(k.value), k.status, r(k.score_exact), k.weight, r(mul(k.effective_weight_exact, HUNDRED)),
            parts[k.id], ";".join(k.flags),
        )
        for s in appraisal.results
        for parts in (contributions(s),)
        for k in s.kpis
    ]  # fmt: skip
    return KPI_COLUMNS, rows


def bonus_places(values: Iterable[object]) -> int:
    """Decimal places that hold every value exactly (at least 6, at most 30): declared weights, bonus multipliers."""
    places = _WEIGHT_PLACES
    for value in values:
        if isinstance(value, Decimal):
            exponent = value.as_tuple().exponent
            if isinstance(exponent, int):
                places = max(places, -exponent)
    return min(places, 30)


def _weight_places(rows: list[tuple[object, ...]], index: int) -> int:
    """Decimal places that hold every declared weight exactly (weights are short decimals from the YAML)."""
    return bonus_places(row[index] for row in rows)


def arrow_types(
    appraisal: Appraisal, columns: Sequence[str], rows: list[tuple[object, ...]], layout: Layout = "long"
) -> list[Any]:
    """The Arrow type of each column of ``appraisal_rows``.

    Reported numbers ``decimal128`` at the ruleset's places, wide values at their ``value_scales``
    (text when ``None``), weights and bonus multipliers at the places that hold them.
    """
    import pyarrow as pa  # noqa: PLC0415 - optional dependency, imported on demand

    ids = kpi_ids(appraisal) if layout == "wide" else ()
    scores = {f"{kid}_score" for kid in ids}
    values = {f"{kid}_value": kid for kid in ids}
    scales = value_scales(appraisal) if ids else {}
    types = []
    for i, name in enumerate(columns):
        if name in _REPORTED or name in scores:
            types.append(pa.decimal128(MAX_DIGITS, appraisal.places))
        elif name in values and scales[values[name]] is not None:
            types.append(pa.decimal128(MAX_DIGITS, scales[values[name]]))
        elif name in {"weight", "bonus_multiplier"}:
            types.append(pa.decimal128(MAX_DIGITS, _weight_places(rows, i)))
        elif name in _INTS:
            types.append(pa.int64())
        else:
            types.append(pa.string())
    return types


def to_arrow(
    appraisal: Appraisal, level: Level = "kpi", layout: Layout = "long", names: Mapping[str, str] | None = None
) -> Any:
    """The appraisal as a ``pyarrow.Table`` (reported numbers as ``decimal128`` with the ruleset's places).

    Raises:
        ImportError: when pyarrow is not installed (``pip install 'kpi_engine[arrow]'``).
    """
    import pyarrow as pa  # noqa: PLC0415 - optional dependency, imported on demand

    columns, rows = appraisal_rows(appraisal, level, layout, names)
    types = arrow_types(appraisal, columns, rows, layout)
    fields = [pa.field(name, kind) for name, kind in zip(columns, types, strict=True)]
    data = {name: [row[i] for row in rows] for i, name in enumerate(columns)}
    return pa.table(data, schema=pa.schema(fields))


def to_polars(
    appraisal: Appraisal, level: Level = "kpi", layout: Layout = "long", names: Mapping[str, str] | None = None
) -> Any:
    """The appraisal as a ``polars.DataFrame`` (Decimal columns), through Arrow.

    Raises:
        ImportError: when polars or pyarrow is not installed.
    """
    import polars as pl  # noqa: PLC0415 - optional dependency, imported on demand

    return pl.from_arrow(to_arrow(appraisal, level, layout, names))


def to_pandas(
    appraisal: Appraisal, level: Level = "kpi", layout: Layout = "long", names: Mapping[str, str] | None = None
) -> Any:
    """The appraisal as a ``pandas.DataFrame``; decimal columns hold ``decimal.Decimal`` objects.

    Every column but the ranks has dtype ``object`` (text as ``str``, numbers as ``Decimal``), the
    ranks are ``Int64``; a missing cell (N/A) is ``pd.NA`` in every column.

    Raises:
        ImportError: when pandas is not installed.
    """
    import pandas as pd  # noqa: PLC0415 - optional dependency, imported on demand

    columns, rows = appraisal_rows(appraisal, level, layout, names)
    data: dict[str, Any] = {}
    for i, name in enumerate(columns):
        cells = [row[i] for row in rows]
        if name in _INTS:
            data[name] = pd.array(cells, dtype="Int64")
        else:
            data[name] = pd.Series([pd.NA if c is None else c for c in cells], dtype=object)
    return pd.DataFrame(data, columns=list(columns))
