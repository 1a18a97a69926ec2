"""Who is appraised, and what only whole columns show: the checks at the door before the records check.

An HR export holds more than people: a 合计 (totals) row under the reps, subtotals per team, an
average row; a score column formatted as a percent arrives in a frame as 0.92. Graded as
subjects, such rows give a "rep" called 合计 a grade and move every real rep's rank, with exit 0.
``screen`` runs once per evaluation, on the inputs as given, before either engine reads them (so
the row evaluator and the columnar kernel see the same rows), and decides:

- **With a roster** (membership rows), the roster decides who is a subject. A record of the
  appraised period must name a member or parent of that period's roster; a record of another
  period the roster covers (history for growth or streaks) must name someone the roster names in
  some period. Otherwise: an error (``unlisted_subject``, for rep scorecards; above the rep level
  the engines' ``orphan_record`` says it), or, with ``unlisted="exclude"``, left out with a warning.
- **Without a roster** (or in a period it does not cover), a record is refused as a totals row
  (``totals_row``) when its subject or name is a totals, subtotal or average label (合计, 小计,
  总计, 共计, 总和, 汇总, Total, Subtotal, Grand total, Sum, Average …, case, width and spaces
  ignored), or when its numbers are the column sums of the other rows of its period: at least two
  non-zero count or money cells equal to the sum of the others' (at least two others), and no
  numeric cell that is neither that sum nor, for ratio, score and number inputs, the mean of the
  others (the average conduct score of a 合计 row). With ``totals="skip"`` such rows are left
  out, each with a warning.
- **A 0–100 score column read as fractions**: a ``score`` input without a ``max`` below 100 whose
  values all lie between 0 and 1 (one strictly between) is refused (``suspect_score``): a frame
  cannot carry Excel's percent format, so 92 shown as ``92%`` arrives as 0.92. A cell strictly
  between 0 and 1 in a column whose other values go above 1 is refused the same way.
- **Notes under the table**: rows below a table's last record that hold no period and no input
  (注：本表数据截至…, 制表人：… 审核人：…) are left out, each with a warning (``note_row``).
- **Key columns**: a records table without a ``subject`` or ``period`` column is one error at its
  header, naming the ``columns:`` entry that would map the table's own headers (工号, 月份 …).

The result is the inputs to evaluate (rows left out removed, row numbers kept) and the warnings.
Every decision is exact: numbers are ``Decimal`` in the exact context, labels are compared as
text. On a Polars frame (the kernel's input) vectorised passes only *narrow* the rows to look at
(each keeps every row that could qualify: text that could hold a label, cells whose binary float
lies in [0, 1], integer sums computed exactly in Int128); the rows they keep are decided by the
same Python code as a row table's. A value that cannot be read is left to the records check.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from decimal import Decimal, localcontext
from typing import Any, Literal

import attrs

from kpi_engine._numbers import EXACT, MAX_DIGITS, MAX_EXPONENT, canonical, float_text
from kpi_engine.errors import DataError, Issue, Location, did_you_mean
from kpi_engine.evaluation.headers import guess, mapping_hint, normal
from kpi_engine.evaluation.records import RECORD_KEYS, Table, coerce
from kpi_engine.language.model import Scorecard
from kpi_engine.time.periods import Period, day_named, period_kind_of

TotalsPolicy = Literal["refuse", "skip"]
UnlistedPolicy = Literal["error", "exclude"]

_MARKS = "合计|小计|总计|共计|总和|汇总|合計|小計|總計|共計|總和|匯總|彙總"
_SUMMARY_MARK = re.compile(_MARKS)  # searched with spaces removed: 合　计 is spaced out to fill a cell
_SUMMARY_WORD = re.compile(r"\b(?:sub)?totals?\b")
_SEP = r"[\W_]*"
_SUMMARY_WHOLE = frozenset(
    {"grandtotal", "sum", "average", "avg", "mean", "平均", "平均值", "均值", "总数", "總數", "全部", "所有人"}
)
# A superset of the labels above for Polars to narrow a large frame's rows in one search, on the
# text as it is: any character NFKC could change (beyond ASCII and the common CJK block), any
# character of a Chinese label, or the letters of an English one with anything between them.
_LOOSE = "(?i)" + "|".join(
    [
        r"[^\x00-\x7f\u4e00-\u9fff]",
        "[" + "".join(sorted({ch for mark in _MARKS.split("|") for ch in mark[:1]} | set("平均全所数數"))) + "]",
        *(
            _SEP.join(word)
            for word in ("total", *sorted(w for w in _SUMMARY_WHOLE if w.isascii() and "total" not in w))
        ),
    ]
)
# Characters without which a non-ASCII text holds no label (full-width forms, Latin letters, 合计 …).
_MAYBE = re.compile(r"[合小总共汇計總匯彙平均全所数數A-Za-z\uff01-\uff5e]")
# The ASCII whole-text labels with any spaces or punctuation around and between their letters
# (what ``normal(text) in _SUMMARY_WHOLE`` decides), matched without building the reduced text.
_ASCII_WHOLE = re.compile(
    "|".join(_SEP + _SEP.join(word) + _SEP for word in sorted(_SUMMARY_WHOLE) if word.isascii() and "total" not in word)
)
_ADDITIVE = frozenset({"count", "money"})
_NUMERIC = frozenset({"count", "money", "ratio", "score", "number"})
_HUNDRED = Decimal(100)
_SHOWN = 5  # cells named in one message
_MIN_ADDENDS = 2  # a total adds up at least two rows
_MIN_SUMS = 2  # columns whose cells are sums: the evidence for a totals row

# The column sums of a whole streamed input (``_stream_totals``): when set, a batch's rows are
# judged against the sums of every row of their period in every batch, not of the batch alone.
WHOLE_INPUT: ContextVar[Callable[[_Source, Scorecard, set[int], _Periods], dict[int, str]] | None] = ContextVar(
    "kpi_engine_whole_input_sums", default=None
)


def is_summary_label(text: object) -> bool:
    """True for a totals, subtotal or average label (合计, 东区小计, Total, Sub-total, ＴＯＴＡＬ, 平均 …)."""
    if not isinstance(text, str):
        return False
    if text.isascii():  # ids and English labels: cheap tests first
        low = text.lower()
        if "total" in low:
            return bool(_SUMMARY_WORD.search(low))
        return _ASCII_WHOLE.fullmatch(low) is not None
    if not _MAYBE.search(text):  # most Chinese names
        return False
    folded = unicodedata.normalize("NFKC", text).lower()
    bare = normal(folded)
    return bool(_SUMMARY_MARK.search(bare) or _SUMMARY_WORD.search(folded)) or bare in _SUMMARY_WHOLE


@attrs.frozen
class Screened:
    """The inputs an evaluation reads after screening, and what screening has to say about them."""

    records: Any
    members: Any
    warnings: tuple[Issue, ...] = ()


_INVALID = object()


def _number(cell: object, kind: str) -> Decimal | object | None:
    """The exact value of a numeric cell as the records check reads it; ``None`` blank, ``_INVALID`` unreadable."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if type(cell) is str and len(cell) <= MAX_DIGITS:
        try:
            value = Decimal(cell)
        except ArithmeticError:
            pass
        else:
            if value.is_finite() and -MAX_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
                return value
    elif type(cell) is int:
        return Decimal(cell)
    try:
        read = coerce(float_text(cell) if type(cell) is float else cell, kind)  # type: ignore[arg-type]
    except ValueError:  # NumberFormatError too
        return _INVALID
    return read if isinstance(read, Decimal) else _INVALID


def _text(cell: object) -> str:
    return "" if cell is None else str(cell).strip()


_KNOWN_PERIODS: dict[tuple[str, object], Period | None] = {}  # (kind, text) → period: runs read the same few
_KEPT_PERIODS = 4096


class _Periods:
    """Period text → period (``None`` when it is not one: the records check reports it), parsed once per text."""

    def __init__(self, card: Scorecard) -> None:
        self.kind = card.period
        if len(_KNOWN_PERIODS) > _KEPT_PERIODS:
            _KNOWN_PERIODS.clear()
        self.known: dict[object, Period | None] = {
            text: period for (kind, text), period in _KNOWN_PERIODS.items() if kind == self.kind
        }

    def __call__(self, text: object) -> Period | None:
        try:
            return self.known[text]
        except (KeyError, TypeError):  # TypeError: an unhashable cell
            pass
        period: Period | None = None
        if text is not None and str(text).strip():
            try:
                period = Period.parse(str(text).strip(), self.kind)
            except ValueError:
                period = None
        if isinstance(text, str | int):
            self.known[text] = period
            _KNOWN_PERIODS[self.kind, text] = period
        return period


# --- one table, as screening reads it -------------------------------------------------------------


class _Source:
    """One table: columns by the ruleset's names, where each row came from, and fast narrowing passes."""

    def __init__(
        self,
        name: str,
        header: tuple[str, ...],
        lines: Sequence[int],
        column: Callable[[str], list[object]],
        where: Callable[[int, str], Location],
        header_line: int = 1,
        source_header: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.header = header
        self.lines = lines
        self._column = column
        self.where = where
        self.header_line = header_line
        self.source_header = source_header
        self._read: dict[str, list[object]] = {}

    def column(self, name: str) -> list[object]:
        """Every cell of a column as a Python value (read once)."""
        if name not in self._read:
            self._read[name] = self._column(name)
        return self._read[name]

    def cell(self, name: str, i: int) -> object:
        """One cell (``None`` when the table has no such column)."""
        return self.column(name)[i] if name in self.header else None

    def distinct(self, name: str) -> set[object]:
        """The distinct cells of a column (as text when a cell cannot be hashed)."""
        try:
            return set(self.column(name))
        except TypeError:  # a list in a Python row: the records check reports it
            return {_text(c) for c in self.column(name)}

    def labelled(self, names: Sequence[str]) -> set[int]:
        """Rows whose cell in one of ``names`` is a totals label."""
        return {i for name in names for i, text in enumerate(self.column(name)) if is_summary_label(text)}

    def maybe_fractions(self, name: str) -> tuple[Iterable[int], bool]:
        """Rows whose value in ``name`` might lie in [0, 1], and whether some other row's value is above 1."""
        del name
        return range(len(self.lines)), False

    def doubled(self, name: str, periods: _Periods, excluded: set[int]) -> list[int] | None:
        """Rows not excluded whose non-zero value is half their period's sum over such rows; ``None``: no fast pass."""
        del name, periods, excluded
        return None


class _FrameSource(_Source):
    """A Polars frame: the same reading, with vectorised passes that narrow the rows to look at."""

    def __init__(self, df: Any, name: str, card: Scorecard) -> None:
        names = tuple(card.columns.get(c, c) for c in df.columns)
        position = {n: i for i, n in enumerate(names)}
        self.df = df
        self.position = position

        def column(col: str) -> list[object]:
            return df.get_column(df.columns[position[col]]).to_list()  # type: ignore[no-any-return]

        def where(line: int, col: str) -> Location:
            return Location(name, line, position[col] + 1 if col in position else 0)

        super().__init__(name, names, range(2, df.height + 2), column, where, 1, tuple(df.columns))

    def series(self, name: str) -> Any:
        return self.df.get_column(self.df.columns[self.position[name]])

    def distinct(self, name: str) -> set[object]:
        return set(self.series(name).unique().to_list())

    def cell(self, name: str, i: int) -> object:
        if name in self._read:
            return self._read[name][i]
        return self.series(name)[i] if name in self.header else None

    def labelled(self, names: Sequence[str]) -> set[int]:
        rows = self.maybe_labels(names)
        return {i for i in rows if any(is_summary_label(self.cell(name, i)) for name in names)}

    def maybe_labels(self, names: Sequence[str]) -> Iterable[int]:
        """Rows whose text might hold a label: a superset found by Polars, decided by ``is_summary_label``."""
        import polars as pl  # noqa: PLC0415

        mask = None
        for name in names:
            s = self.series(name)
            if s.dtype != pl.Utf8:
                s = s.cast(pl.Utf8, strict=False)
            hit = s.str.contains(_LOOSE).fill_null(value=False)
            mask = hit if mask is None else mask | hit
        return [] if mask is None else mask.arg_true().to_list()

    def maybe_fractions(self, name: str) -> tuple[Iterable[int], bool]:
        import polars as pl  # noqa: PLC0415

        s = self.series(name)
        if s.dtype.is_integer():  # whole numbers: only 0 and 1 lie in [0, 1]; neither is strictly inside
            return [], bool((s > 1).any())
        if isinstance(s.dtype, pl.Decimal):  # exact comparisons
            return ((s >= 0) & (s <= 1)).arg_true().to_list(), bool((s > 1).any())
        if s.dtype == pl.Utf8:
            s = s.str.strip_chars().cast(pl.Float64, strict=False)  # "92%", "1,200" …: null, looked at below
        elif not s.dtype.is_float():
            return range(len(self.lines)), False
        # Rounding to a double is monotonic and keeps 0 and 1: a value above 1 has a double above 1,
        # and a value in [0, 1] has its double in [0, 1]. Nulls (blank or text a double cannot hold) are looked at.
        near = (s.is_null() | ((s >= 0) & (s <= 1))) & self.series(name).is_not_null()
        return near.arg_true().to_list(), bool((s > 1).any())

    def doubled(self, name: str, periods: _Periods, excluded: set[int]) -> list[int] | None:
        import polars as pl  # noqa: PLC0415

        s = self.series(name)
        if s.dtype == pl.Utf8:
            text = s.str.strip_chars()
            whole = text.cast(pl.Int64, strict=False)
            if (whole.is_null() & text.is_not_null() & (text != "")).any():
                return None  # decimals, percents, separators: the exact Python pass
            s = whole
        elif not s.dtype.is_integer():
            return None
        texts = self.series("period").cast(pl.Utf8, strict=False)
        found = {t: periods(t) for t in texts.unique().to_list()}
        number = {p: i for i, p in enumerate(sorted({p for p in found.values() if p is not None}))}
        code = {t: None if p is None else number[p] for t, p in found.items() if t is not None}
        key = texts.replace_strict(code, default=None, return_dtype=pl.Int32)
        if len(number) == 1:  # a blank period belongs to the table's only one, as in ``_period_keys``
            key = key.fill_null(0)
        frame = pl.DataFrame({"k": key, "x": s.cast(pl.Int128)})
        if excluded:
            frame = frame.with_columns(pl.int_range(pl.len()).is_in(sorted(excluded)).not_().alias("open"))
        else:
            frame = frame.with_columns(pl.lit(value=True).alias("open"))
        x = pl.when(pl.col("open")).then(pl.col("x"))
        hit = (
            pl.col("open")
            & pl.col("k").is_not_null()
            & (pl.col("x") != 0)
            & (pl.col("x") * 2 == x.sum().over("k"))
            & (x.count().over("k") > _MIN_ADDENDS)
        )
        return frame.select(hit.fill_null(value=False).alias("hit"))["hit"].arg_true().to_list()


def _table_source(table: Table, card: Scorecard) -> _Source:
    renamed = table.renamed(card.columns)
    if renamed.header:
        header = renamed.header
        index = {c: i for i, c in enumerate(header)}
        rows = renamed.cells

        def column(name: str) -> list[object]:
            i = index[name]
            return [cells[i] for _, cells in rows]

        lines: Sequence[int] = [line for line, _ in rows]
        original = table.header
    else:
        seen: dict[str, None] = {}
        for _, row in renamed.dict_rows:
            seen.update(dict.fromkeys(row))
        header = tuple(seen)
        dict_rows = renamed.dict_rows

        def column(name: str) -> list[object]:
            return [row.get(name) for _, row in dict_rows]

        lines = [line for line, _ in dict_rows]
        original = tuple(dict.fromkeys(k for _, row in table.dict_rows for k in row))
    return _Source(table.name, header, lines, column, renamed.where, table.header_line, original)


# --- reading any accepted container -------------------------------------------------------------


def _frame_kind(data: object) -> str:
    return type(data).__module__.split(".")[0]


def _polars(data: Any) -> Any | None:
    """A Polars DataFrame of a pandas, Polars or Arrow frame when Polars is installed and takes it, else ``None``.

    Screening reads a few columns of a large frame; Polars reads them without a Python object per
    cell of the others (the row path's ``frame_table`` builds the text of every cell).
    """
    kind = _frame_kind(data)
    if kind not in {"polars", "pandas", "pyarrow"}:
        return None
    try:
        import polars as pl  # noqa: PLC0415 - optional dependency
    except ImportError:
        return None
    if isinstance(data, pl.DataFrame):
        return data
    try:
        if kind == "pandas":
            if any(n is not None for n in data.index.names):
                data = data.reset_index()  # a named index is a column of the data, as the row path reads it
            return pl.from_pandas(data)
        if type(data).__name__ in {"Table", "RecordBatch"}:
            return pl.from_arrow(data)
    except Exception:  # noqa: BLE001 - a column Polars cannot take: the row path's reading instead
        return None
    return None


def _settled(data: Any) -> Any:
    """The same data in a form that can be read twice (a stream of rows or batches is read once here)."""
    kind = _frame_kind(data)
    if kind == "polars" and type(data).__name__ == "LazyFrame":
        return data.collect()
    if kind == "pyarrow" and type(data).__name__ == "RecordBatchReader":
        return data.read_all()
    if kind in {"duckdb", "_duckdb"}:
        from kpi_engine.evaluation.frames import duckdb_reader  # noqa: PLC0415

        return duckdb_reader(data).read_all()
    return data


def _is_kernel_frame(data: object) -> bool:
    from kpi_engine.evaluation.frames import Frame  # noqa: PLC0415 - frames imports the records module

    return isinstance(data, Frame)


def _items(data: Any, name: str) -> tuple[list[Any], bool]:
    """The tables of ``records`` (each settled) and whether they came as one value (not a list)."""
    from kpi_engine.evaluation.frames import is_frame  # noqa: PLC0415 - frames imports records

    if data is None:
        return [], True
    if isinstance(data, Table) or is_frame(data) or _is_kernel_frame(data):
        return [_settled(data)], True
    if isinstance(data, str | bytes) or hasattr(data, "__fspath__"):
        return [data], True  # the records check names the mistake
    items = list(data)
    if items and all(isinstance(t, Table) or is_frame(t) or _is_kernel_frame(t) for t in items):
        return [_settled(t) for t in items], False
    return [Table.from_rows(items, name)], True


def _unusual_columns(df: Any) -> bool:
    """A column of lists, structs, bytes or objects: the vectorised passes cannot read it as text."""
    import polars as pl  # noqa: PLC0415

    return any(t.is_nested() or t in (pl.Binary, pl.Object) for t in df.schema.values())


def _source(item: Any, card: Scorecard, name: str) -> _Source | None:
    from kpi_engine.evaluation.frames import frame_table, is_frame  # noqa: PLC0415

    if isinstance(item, Table):
        return _table_source(item, card)
    if _is_kernel_frame(item):
        return _FrameSource(item.data, item.name, card)
    df = _polars(item)
    if df is not None and not _unusual_columns(df):
        return _FrameSource(df, name, card)
    if is_frame(item):  # and a frame with columns of lists or bytes: read cell by cell, as the row path does
        return _table_source(frame_table(item, name), card)
    return None


def _without(item: Any, drop: set[int], redo: Callable[[Table], Table], name: str) -> Any:
    """``item`` without the rows at the given row numbers (numbers of the rows kept unchanged)."""
    from kpi_engine.evaluation.frames import frame_table  # noqa: PLC0415

    if _is_kernel_frame(item):
        import polars as pl  # noqa: PLC0415

        keep = pl.Series([line not in drop for line in range(2, item.data.height + 2)])
        rows = item.rows
        return attrs.evolve(item, data=item.data.filter(keep), rows=lambda: redo(rows()))
    table = item if isinstance(item, Table) else frame_table(item, name)
    if table.header:
        return attrs.evolve(table, cells=tuple(r for r in table.cells if r[0] not in drop))
    return attrs.evolve(table, dict_rows=tuple(r for r in table.dict_rows if r[0] not in drop))


# --- period cells that name a day -----------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _kind_of(text: str) -> str | None:
    """``period_kind_of``, remembered: a run reads the same few period texts again and again."""
    return period_kind_of(text)


def _card_period(text: str, card: Scorecard) -> Period | None:
    """The scorecard's period a canonical period text falls in (itself, or the one holding a finer period)."""
    kind = period_kind_of(text)
    if kind is None:
        return None
    start = Period.parse(text, kind).start
    p = Period.containing(start, card.period)
    return p if p.next_start() >= Period.parse(text, kind).next_start() else None  # a coarser period: none


def _period_cells(src: _Source, key: str, card: Scorecard) -> list[object] | None:
    """The period column with every cell that names a day or a 2026年3月 month rewritten; ``None`` if none does.

    A spreadsheet writes the month of a record as a date cell (2026-03-01 shown as 2026-03), a
    datetime (a pandas ``Timestamp``) or, once its format is lost, a serial (46082). Such a cell
    stands for the scorecard's period holding the day when it is the subject's only record in that
    period; when the subject has several records there, they are records of days, rolled up into
    the period (``time.accumulate``), and the cell becomes the day's ISO date. ``2026年3月`` is the
    month 2026-03.
    """
    if "period" not in src.header or key not in src.header:
        return None
    named: dict[str, tuple[str, dt.date]] = {}
    for cell in src.distinct("period"):
        text = _text(cell)
        if not text or (_kind_of(text) not in {None, "day"}):
            continue  # blank, or a period as the engines read it (a month, a quarter …)
        try:
            found = day_named(text)
        except ValueError:
            continue  # the records check reports it
        if found is not None and not (found[0] == "day" and card.period == "day" and text == found[1].isoformat()):
            named[text] = found
    if not named:
        return None
    texts = [_text(c) for c in src.column("period")]
    subjects = [_text(c) for c in src.column(key)]
    where: list[Period | None] = []
    for text in texts:
        if text in named:
            kind, day = named[text]
            where.append(Period.containing(day, card.period) if kind == "day" else None)
            continue
        try:
            where.append(_card_period(text, card) if text else None)
        except ValueError:
            where.append(None)
    held = Counter((subject, p) for subject, p in zip(subjects, where, strict=True) if p is not None)
    out: list[object] = []
    for cell, text, subject, p in zip(src.column("period"), texts, subjects, where, strict=True):
        if text not in named:
            out.append(cell)
            continue
        kind, day = named[text]
        if kind == "month":
            out.append(f"{day.year}-{day.month:02d}")
        elif p is not None and held[subject, p] == 1:
            out.append(str(p))  # the label of the subject's record for the period
        else:
            out.append(day.isoformat())  # a record of a day: rolled up into the period
    return out


def _with_periods(item: Any, src: _Source, key: str, card: Scorecard) -> tuple[Any, _Source]:
    """``item`` (and its source) with the period cells that name a day rewritten (``_period_cells``)."""
    cells = _period_cells(src, key, card)
    if cells is None:
        return item, src
    if isinstance(src, _FrameSource):
        import polars as pl  # noqa: PLC0415

        column = src.df.columns[src.position["period"]]
        texts = [None if c is None else str(c) for c in cells]
        df = src.df.with_columns(pl.Series(column, texts, dtype=pl.Utf8))
        if _is_kernel_frame(item):
            rows = item.rows

            def again() -> Table:
                """The row reader's table of the same file, its period cells rewritten alike."""
                whole = rows()
                return _with_periods(whole, _table_source(whole, card), key, card)[0]  # type: ignore[no-any-return]

            new: Any = attrs.evolve(item, data=df, rows=again)
            return new, _FrameSource(df, item.name, card)
        return df, _FrameSource(df, src.name, card)
    table = item if isinstance(item, Table) else None
    if table is None:
        from kpi_engine.evaluation.frames import frame_table  # noqa: PLC0415

        table = frame_table(item, src.name)
    table = table.renamed(card.columns)
    if table.header:
        at = table.header.index("period")
        rewritten = tuple(
            (line, (*values[:at], None if c is None else str(c), *values[at + 1 :]))
            for (line, values), c in zip(table.cells, cells, strict=True)
        )
        table = attrs.evolve(table, cells=rewritten)
    else:
        table = attrs.evolve(
            table,
            dict_rows=tuple(
                (line, {**row, "period": c}) for (line, row), c in zip(table.dict_rows, cells, strict=True)
            ),
        )
    return table, _table_source(table, card)


# --- the roster ------------------------------------------------------------------------------------


@attrs.frozen
class _Roster:
    """Who the membership rows name, per period, and the period being appraised."""

    by_period: dict[Period, set[str]]
    everyone: set[str]
    appraised: Period | None

    def decides(self, period: Period | None) -> set[str] | None:
        """The names a record of ``period`` must be among, or ``None`` when the roster says nothing of it.

        In the appraised period, the period's own roster; in another period the roster covers
        (history for growth or streaks), anyone the roster names in any period.
        """
        if period is None or period not in self.by_period:
            return None
        return self.by_period[period] if period == self.appraised else self.everyone


def _roster(card: Scorecard, members: Any, periods: _Periods, period: str | None, records: list[_Source]) -> _Roster:
    """The roster of the membership rows, and the period to appraise (given, or the latest of records and roster)."""
    by_period: dict[Period, set[str]] = {}
    items, _ = _items(members, "members")
    for item in items:
        src = _source(item, card, "members")
        if src is None or not {"member", "parent", "period"} <= set(src.header):
            continue  # the membership check reports it
        for who, up, when in zip(src.column("member"), src.column("parent"), src.column("period"), strict=True):
            p = periods(when)
            if p is None:
                continue
            names = by_period.setdefault(p, set())
            for cell in (who, up):
                if cell is not None and str(cell).strip():
                    names.add(str(cell).strip())
    appraised = periods(period) if period is not None else None
    if period is None and by_period:  # the engines' default: the latest period of the records and the roster
        known = set(by_period)
        for src in records:
            if "period" in src.header:
                known.update(p for p in map(periods, set(src.column("period"))) if p is not None)
        appraised = max(known, default=None)
    return _Roster(by_period, set().union(*by_period.values()) if by_period else set(), appraised)


# --- the checks ------------------------------------------------------------------------------------


@attrs.frozen
class _Found:
    issues: list[Issue] = attrs.field(factory=list)
    warnings: list[Issue] = attrs.field(factory=list)
    drop: set[int] = attrs.field(factory=set)  # row numbers left out, with a warning
    refused: set[int] = attrs.field(factory=set)  # row numbers refused (not read by the records check again)


def _missing_keys(src: _Source, card: Scorecard) -> list[Issue]:
    missing = [k for k in RECORD_KEYS if k not in src.header]
    if not missing:
        return []
    pairs = []
    for header in src.source_header:
        meant = guess(header, card) if header not in card.columns else None
        if meant is not None and meant not in src.header:
            pairs.append((header, meant))
    shown = ", ".join(h for h in src.source_header if h) or "no columns"
    hint = mapping_hint(pairs) if pairs else "name the columns subject and period, or map them with columns:"
    return [
        Issue(
            "missing_column",
            f"no '{key}' column (the header is: {shown})",
            key,
            Location(src.name, src.header_line),
            suggestion=hint,
        )
        for key in missing
    ]


class _Sums:
    """Per column of one period's rows: the exact sum and count of its cells (``None``: a cell unreadable)."""

    def __init__(self, values: Callable[[str], list[Decimal | object | None]], rows: list[int]) -> None:
        self.values = values
        self.rows = rows
        self.known: dict[str, tuple[Decimal, int] | None] = {}

    def __call__(self, name: str) -> tuple[Decimal, int] | None:
        if name not in self.known:
            column = self.values(name)
            total, count = Decimal(0), 0
            for i in self.rows:
                v = column[i]
                if v is None:
                    continue
                if not isinstance(v, Decimal):  # unreadable: the records check reports it; no evidence here
                    self.known[name] = None
                    break
                total += v  # the exact context: a sum that cannot be exact signals Inexact
                count += 1
            else:
                self.known[name] = (total, count)
        return self.known[name]


def _period_keys(src: _Source, periods: _Periods) -> list[Period | None]:
    """Each row's period; a blank period belongs to the table's only period (a totals row often leaves it blank)."""
    keys = [periods(cell) for cell in src.column("period")]
    distinct = set(keys) - {None}
    if len(distinct) == 1:
        sole = next(iter(distinct))
        keys = [k or sole for k in keys]
    return keys


def _summary_rows(src: _Source, card: Scorecard, excluded: set[int], periods: _Periods) -> dict[int, str]:
    """Rows (indexes) whose numbers are the column sums (or means) of the other rows of their period.

    Rows in ``excluded`` (decided already) are neither candidates nor addends. Within a streamed
    batch (``WHOLE_INPUT`` set) the sums are those of the whole input (``_stream_totals``).
    """
    whole = WHOLE_INPUT.get()
    if whole is not None:
        return whole(src, card, excluded, periods)
    present = [n for n in card.inputs if n in src.header and card.inputs[n].type in _NUMERIC]
    additive = sorted(  # a totals row fills the required columns: look there first
        (n for n in present if card.inputs[n].type in _ADDITIVE), key=lambda n: not card.inputs[n].required
    )
    if len(additive) < _MIN_SUMS or len(src.lines) - len(excluded) <= _MIN_ADDENDS:
        return {}
    first = additive[0]
    quick = src.doubled(first, periods, excluded)
    if quick is not None and not quick:
        return {}  # no row holds the sum of its period in the first column: no totals row
    keys = _period_keys(src, periods)
    wanted = {keys[i] for i in quick} if quick is not None else None
    groups: dict[Period, list[int]] = {}
    for i, k in enumerate(keys):
        if k is not None and i not in excluded and (wanted is None or k in wanted):
            groups.setdefault(k, []).append(i)
    columns: dict[str, list[Decimal | object | None]] = {}

    def values(name: str) -> list[Decimal | object | None]:
        if name not in columns:
            kind = card.inputs[name].type
            columns[name] = [_number(cell, kind) for cell in src.column(name)]
        return columns[name]

    found: dict[int, str] = {}
    with localcontext(EXACT):
        for period, members in groups.items():
            if len(members) <= _MIN_ADDENDS:
                continue
            sums = _Sums(values, members)
            try:
                head = sums(first)
                if head is None or head[1] <= _MIN_ADDENDS:
                    continue
                column = values(first)
                for i in members:
                    v = column[i]
                    if not (isinstance(v, Decimal) and v and v + v == head[0]):
                        continue
                    matched = _sum_columns(i, present, additive, values, sums)
                    if matched is not None and len(matched) >= _MIN_SUMS:
                        shown = ", ".join(matched[:4]) + (" …" if len(matched) > 4 else "")  # noqa: PLR2004
                        found[i] = f": its {shown} are the sums of the other {len(members) - 1} rows of {period}"
            except ArithmeticError:  # sums beyond the exact context: no evidence
                continue
    return found


def _sum_columns(
    i: int,
    present: list[str],
    additive: list[str],
    values: Callable[[str], list[Decimal | object | None]],
    sums: Callable[[str], tuple[Decimal, int] | None],
) -> list[str] | None:
    """The additive columns where row ``i`` holds the sum of the others; ``None`` if a cell is neither sum nor mean."""
    matched: list[str] = []
    for name in present:
        v = values(name)[i]
        stat = sums(name)
        if not isinstance(v, Decimal) or stat is None:
            continue  # blank or unreadable: no evidence either way
        total, count = stat
        others = total - v
        if v == others:
            if name in additive and v and count > _MIN_ADDENDS:
                matched.append(name)
        elif name in additive or count < _MIN_ADDENDS or v * (count - 1) != others:
            return None  # a number that is neither the sum nor the mean of the others: a real row
    return matched


def _suspect_scores(src: _Source, card: Scorecard, kept: Callable[[int], bool]) -> list[Issue]:
    """0–100 score columns whose values lie between 0 and 1: a percent format lost on the way."""
    issues: list[Issue] = []
    for name, spec in card.inputs.items():
        if spec.type != "score" or name not in src.header or (spec.max is not None and spec.max < _HUNDRED):
            continue
        rows, above = src.maybe_fractions(name)
        cells = src.column(name) if isinstance(rows, range) else [src.cell(name, i) for i in rows]
        inside: list[tuple[int, Decimal]] = []
        for i, text in zip(rows, cells, strict=True):
            v = _number(text, "score")
            if not isinstance(v, Decimal):
                continue
            if v > 1:
                above = True
            elif 0 < v < 1 and kept(i):
                inside.append((i, v))
        if not inside:
            continue
        first, value = inside[0]
        line = src.lines[first]
        if above:
            rows_shown = ", ".join(str(src.lines[i]) for i, _ in inside[:_SHOWN]) + (
                " …" if len(inside) > _SHOWN else ""
            )
            message = (
                f"'{name}' is a 0–100 score, but {canonical(value)} (row(s) {rows_shown}) lies between 0 and 1 while "
                "other values go above 1"
            )
        else:
            message = (
                f"'{name}' is a 0–100 score, but every value lies between 0 and 1 ({canonical(value)} at row {line}): "
                "percent-formatted cells read by a frame (pandas.read_excel) arrive as fractions"
            )
        with localcontext(EXACT):
            points = canonical(value * _HUNDRED)
        hint = (
            f"write the score in points ({points}), or read the workbook with read_table or kpi evaluate, "
            "which read the percent format"
        )
        issues.append(Issue("suspect_score", message, name, src.where(line, name), suggestion=hint))
    return issues


def _check(
    src: _Source,
    card: Scorecard,
    roster: _Roster,
    periods: _Periods,
    totals: TotalsPolicy,
    unlisted: UnlistedPolicy,
) -> _Found:
    found = _Found()
    if not src.lines:  # no rows: nothing to screen (the engines say there are no records)
        return found
    missing = _missing_keys(src, card)
    if missing:
        found.issues.extend(missing)
        found.refused.update(src.lines)  # row by row, the records check would only repeat it
        return found
    notes = _notes_below(src, card)
    for i in notes:
        line = src.lines[i]
        shown = next((t for t in (_text(src.cell(c, i)) for c in ("subject", "name", "note")) if t), "")
        message = f"row {line} holds no period and no input below the last record: a note ('{shown[:40]}'); left out"
        found.drop.add(line)
        found.warnings.append(Issue("note_row", message, "subject", src.where(line, "subject"), "warning"))
    label_columns = ["subject", *(["name"] if "name" in src.header else [])]
    closed: set[int] = set(notes)  # rows the roster speaks for, and notes: the totals rules do not apply
    if roster.by_period:
        # Above the rep level, a record outside the roster is the engines' ``orphan_record``.
        reported = unlisted == "exclude" or card.subject == "rep"
        for i, (cell, when) in enumerate(zip(src.column("subject"), src.column("period"), strict=True)):
            listed = roster.decides(periods(when))
            if listed is None:
                continue
            closed.add(i)
            subject = _text(cell)
            if subject and subject not in listed and reported:
                _unlisted(src, i, subject, listed, unlisted, found)
    labelled = src.labelled(label_columns) - closed
    summary = dict.fromkeys(labelled, "")
    summary.update(_summary_rows(src, card, closed | labelled, periods))
    for i in sorted(summary):
        line = src.lines[i]
        where = src.where(line, "subject")
        shown = _text(src.cell("subject", i)) or _text(src.cell("name", i))
        what = f"'{shown}'" if shown else "this row"
        why = summary[i]
        message = f"{what} looks like a totals row{why}" if why else f"{what} is a totals row, not a subject"
        if totals == "skip":
            found.drop.add(line)
            found.warnings.append(Issue("totals_row", f"{message}; left out", "subject", where, "warning"))
        else:
            hint = "leave such rows out with --skip-totals (API: totals='skip')"
            if why:
                hint += ", or, if it is a real subject, give the roster with --members"
            found.refused.add(line)
            found.issues.append(Issue("totals_row", message, "subject", where, suggestion=hint))
    gone = found.drop | found.refused
    found.issues.extend(_suspect_scores(src, card, lambda i: src.lines[i] not in gone))
    return found


def _notes_below(src: _Source, card: Scorecard) -> list[int]:
    """Rows (indexes) under a table's last record that hold no period and no input: notes, signatures.

    HR writes 注：本表数据截至… and 制表人：… 审核人：… under the table. Such a row carries nothing to
    appraise; a row without a period among the records (or a table with no period at all) is left
    to the records check, which requires the period.
    """
    order = sorted(range(len(src.lines)), key=src.lines.__getitem__)
    if not order or _text(src.cell("period", order[-1])):
        return []  # the common case: the last row is a record (no input column is read)
    inputs = [n for n in card.inputs if n in src.header]
    notes: list[int] = []
    for i in reversed(order):
        if _text(src.cell("period", i)) or any(_text(src.cell(n, i)) for n in inputs):
            break
        notes.append(i)
    else:
        return []  # no record above them: not notes under a table
    return sorted(notes, key=src.lines.__getitem__)


def _unlisted(src: _Source, i: int, subject: str, listed: set[str], unlisted: UnlistedPolicy, found: _Found) -> None:
    line = src.lines[i]
    where = src.where(line, "subject")
    label = subject if is_summary_label(subject) else _text(src.cell("name", i))
    looks = " (a totals row?)" if is_summary_label(label) else ""
    message = f"'{subject}' is not on the roster (members){looks}"
    if unlisted == "exclude":
        found.drop.add(line)
        found.warnings.append(Issue("unlisted_subject", f"{message}; left out", "subject", where, "warning"))
        return
    found.refused.add(line)
    hint = did_you_mean(subject, listed)
    leave = "leave subjects not on the roster out with --exclude-unlisted (API: unlisted='exclude')"
    found.issues.append(
        Issue("unlisted_subject", message, "subject", where, suggestion=f"{hint} or {leave}" if hint else leave)
    )


def screen(
    card: Scorecard,
    records: Any,
    members: Any = None,
    events: Any = None,
    *,
    period: str | None = None,
    totals: TotalsPolicy = "refuse",
    unlisted: UnlistedPolicy = "error",
    also: Callable[[Any, Any], Iterable[Issue]] | None = None,
) -> Screened:
    """Screen the records of one evaluation: who is a subject, totals rows, score columns, key columns.

    Args:
        card: the scorecard (its ``columns:`` mapping applies).
        records: as ``evaluate`` takes them (tables, frames, rows).
        members: membership rows, or ``None``.
        events: event rows, or ``None`` (only the notes of a table read from a file are taken).
        period: the period to appraise, if given (else the latest, as the engines choose it).
        totals: ``refuse`` (default) or ``skip`` rows that are not subjects but totals.
        unlisted: ``error`` (default) or ``exclude`` records whose subject is not on the roster.
        also: called with the records and members as screened when screening refuses, for the
            records check's own issues, so that every problem of the files is reported at once.

    Returns:
        The records and members to evaluate (a stream read here is passed on as read) and the warnings.

    Raises:
        DataError: naming every row refused, with its file and row.
    """
    if totals not in {"refuse", "skip"}:
        msg = f"totals={totals!r}: use 'refuse' or 'skip'"
        raise DataError(msg)
    if unlisted not in {"error", "exclude"}:
        msg = f"unlisted={unlisted!r}: use 'error' or 'exclude'"
        raise DataError(msg)
    periods = _Periods(card)
    member_items, member_single = _items(members, "members")
    for i, item in enumerate(member_items):
        src = _source(item, card, "members")
        if src is not None and src.lines:
            member_items[i] = _with_periods(item, src, "member", card)[0]
    settled_members = (member_items[0] if member_single else member_items) if members is not None else None
    items, single = _items(records, "records")
    sources = [_source(item, card, "records") for item in items]
    for i, (item, src) in enumerate(zip(items, sources, strict=True)):
        if src is not None and src.lines:
            items[i], sources[i] = _with_periods(item, src, "subject", card)
    roster = _roster(card, settled_members, periods, period, [s for s in sources if s is not None])
    event_tables = [events] if isinstance(events, Table) else list(events) if isinstance(events, list | tuple) else []
    tables = [*items, *member_items, *event_tables]
    warnings: list[Issue] = [n for item in tables if isinstance(item, Table) for n in item.notes]
    issues: list[Issue] = []

    def redo(table: Table) -> Table:
        """The same screening of the row reader's table of a file the kernel reads as columns."""
        again = screen(card, table, settled_members, period=period, totals=totals, unlisted=unlisted)
        return again.records  # type: ignore[no-any-return]

    out: list[Any] = []
    checked: list[tuple[Any, _Source | None, _Found]] = []
    for item, src in zip(items, sources, strict=True):
        if src is None:
            out.append(item)
            checked.append((item, None, _Found()))
            continue
        found = _check(src, card, roster, periods, totals, unlisted)
        if found.issues and _is_kernel_frame(item):
            item = item.rows()  # noqa: PLW2901 - the row reader's table: its row numbers are the file's lines
            src = _table_source(item, card)  # noqa: PLW2901
            found = _check(src, card, roster, periods, totals, unlisted)
        issues.extend(found.issues)
        warnings.extend(found.warnings)
        out.append(_without(item, found.drop, redo, src.name) if found.drop else item)
        checked.append((item, src, found))
    if issues:
        if also is not None:
            rest = [
                redo(item.rows())
                if _is_kernel_frame(item)
                else _without(item, found.drop | found.refused, redo, src.name)
                if src is not None and (found.drop or found.refused)
                else item
                for item, src, found in checked
            ]
            issues.extend(also(rest[0] if single and len(rest) == 1 else rest, settled_members))
        error = DataError.from_issues(issues, "records")
        error.warnings = tuple(warnings)  # rows left out, the header row taken: shown before the error
        raise error
    return Screened(out[0] if single and len(out) == 1 else out, settled_members, tuple(warnings))
