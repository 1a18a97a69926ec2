"""A totals row found by column sums over the whole streamed input, in memory bounded by the periods.

Screening refuses (or, with ``totals="skip"``, leaves out) a row whose numbers are the column sums
of the other rows of its period (``screening._summary_rows``): HR's 合计 row without its label. One
process sees every row; a streamed batch sees a few, so a totals row would be missed (its addends
are in other batches) and, worse, a row that happens to hold the sums of its own batch would be
taken. The streaming executor therefore reads the input twice:

1. **Sums** (``ColumnSums.add``, once per batch, before any batch is appraised): per period and
   numeric input column, the exact sum (``Decimal`` in the exact context; integer columns summed
   by Polars in Int128) and count of the cells of the rows screening would add up (not a labelled
   totals row, 合计/Total, nor a row with no period and no input), the rows per period, and the
   distinct periods (a blank period belongs to the input's only period, as in one run). Memory:
   a few numbers per period and column, whatever the number of rows.
2. **Decision** (``ColumnSums.decide``, installed as ``screening.WHOLE_INPUT`` around every batch's
   run): a row ``r`` of a batch is a totals row when ``2·r = S`` in the first additive column (``S``
   the whole period's sum, ``r`` included) and in at least one more, with no numeric cell that is
   neither the sum nor the mean of the others: the one run's rule (``screening._sum_columns``), with
   the whole input's sums. The batch's screening then refuses or skips it with the one run's
   ``totals_row`` issue and message (the row number is the batch's, as for every streamed error).

Not decided here: a row with no period and no input is excluded wherever it stands (one run excludes
such notes only below the table's last record; elsewhere the records check refuses the row anyway).
"""

from __future__ import annotations

import functools
from decimal import Decimal, localcontext
from typing import Any

from kpi_engine._numbers import EXACT
from kpi_engine.evaluation import screening as sc
from kpi_engine.language.model import Scorecard
from kpi_engine.time.periods import Period

__all__ = ["ColumnSums", "checks_totals"]


def checks_totals(card: Scorecard) -> bool:
    """Whether the scorecard can have a totals row by column sums (two additive inputs at least)."""
    return sum(spec.type in sc._ADDITIVE for spec in card.inputs.values()) >= sc._MIN_SUMS  # noqa: SLF001


class _Column:
    """One period's cells of one column: exact sum, count, and whether a cell was unreadable."""

    __slots__ = ("bad", "count", "total")

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.count = 0
        self.bad = False  # an unreadable cell (the records check reports it) or a sum beyond the exact context


class ColumnSums:
    """The per-period column sums of every batch of a streamed input (the module's docstring)."""

    def __init__(self, card: Scorecard) -> None:
        self.card = card
        self.periods = sc._Periods(card)  # noqa: SLF001
        self.groups: dict[Period | None, dict[str, _Column]] = {}
        self.sizes: dict[Period | None, int] = {}  # rows added up per period (None: a blank or unreadable period)
        self.distinct: set[Period] = set()  # every row's period, excluded rows too (as ``_period_keys``)
        self.open = 0  # rows added up, over every period
        self.sole: Period | None = None

    # --- pass 1: the sums --------------------------------------------------------------------------

    def add(self, df: Any) -> None:
        """Add one batch (a Polars frame of records) to the sums."""
        src = sc._source(df, self.card, "records")  # noqa: SLF001
        if src is None or not src.lines or "subject" not in src.header or "period" not in src.header:
            return  # the batch's run reports what is wrong with it
        _, src = sc._with_periods(df, src, "subject", self.card)  # noqa: SLF001
        numeric = [n for n in self.card.inputs if n in src.header and self.card.inputs[n].type in sc._NUMERIC]  # noqa: SLF001
        keys = [self.periods(c) for c in src.column("period")]
        self.distinct.update(k for k in keys if k is not None)
        shut = self._excluded(src, numeric)
        rows = [i for i in range(len(keys)) if i not in shut]
        self.open += len(rows)
        for i in rows:
            self.sizes[keys[i]] = self.sizes.get(keys[i], 0) + 1
        for name in numeric:
            whole = _integers(src, name)
            if whole is not None:
                self._add_integers(keys, rows, whole, name)
                continue
            kind = self.card.inputs[name].type
            with localcontext(EXACT):
                for i, cell in zip(rows, (src.cell(name, i) for i in rows), strict=True):
                    v = sc._number(cell, kind)  # noqa: SLF001
                    if v is None:
                        continue
                    col = self.groups.setdefault(keys[i], {}).setdefault(name, _Column())
                    if not isinstance(v, Decimal):
                        col.bad = True
                        continue
                    try:
                        col.total += v
                    except ArithmeticError:  # beyond the exact context: no evidence, as in one run
                        col.bad = True
                    col.count += 1

    def _excluded(self, src: Any, numeric: list[str]) -> set[int]:
        """Rows screening neither judges nor adds up: labelled totals rows and rows without period and input."""
        labels = ["subject", *(["name"] if "name" in src.header else [])]
        shut = set(src.labelled(labels))
        for i, cell in enumerate(src.column("period")):
            if not sc._text(cell) and not any(sc._text(src.cell(n, i)) for n in numeric):  # noqa: SLF001
                shut.add(i)
        return shut

    def _add_integers(self, keys: list[Period | None], rows: list[int], whole: list[int | None], name: str) -> None:
        for i in rows:
            v = whole[i]
            if v is None:
                continue
            col = self.groups.setdefault(keys[i], {}).setdefault(name, _Column())
            col.total += v  # an int: exact (Decimal + int is exact below the context's digits)
            col.count += 1

    def part(self) -> tuple[Any, ...]:
        """The sums so far without the scorecard (small, picklable): what a Spark task sends to the driver."""
        return (self.groups, self.sizes, self.distinct, self.open)

    def merge(self, part: tuple[Any, ...]) -> None:
        """Add another part's sums (``part()`` of the sums of other rows), before ``finish``."""
        groups, sizes, distinct, opened = part
        for key, columns in groups.items():
            _absorb(self.groups.setdefault(key, {}), columns)
        for key, n in sizes.items():
            self.sizes[key] = self.sizes.get(key, 0) + n
        self.distinct |= distinct
        self.open += opened

    def finish(self) -> None:
        """After the last batch: a blank period belongs to the input's only period (``_period_keys``)."""
        if len(self.distinct) != 1:
            return
        self.sole = next(iter(self.distinct))
        blank = self.groups.pop(None, {})
        self.sizes[self.sole] = self.sizes.get(self.sole, 0) + self.sizes.pop(None, 0)
        _absorb(self.groups.setdefault(self.sole, {}), blank)

    # --- pass 2: the decision, per batch -----------------------------------------------------------

    def decide(self, src: Any, card: Scorecard, excluded: set[int], periods: Any) -> dict[int, str]:
        """``screening._summary_rows`` for one batch, with the whole input's sums (``screening.WHOLE_INPUT``)."""
        present = [n for n in card.inputs if n in src.header and card.inputs[n].type in sc._NUMERIC]  # noqa: SLF001
        additive = sorted(
            (n for n in present if card.inputs[n].type in sc._ADDITIVE),  # noqa: SLF001
            key=lambda n: not card.inputs[n].required,
        )
        if len(additive) < sc._MIN_SUMS or self.open <= sc._MIN_ADDENDS:  # noqa: SLF001
            return {}
        first = additive[0]
        columns: dict[str, list[Decimal | object | None]] = {}

        def values(name: str) -> list[Decimal | object | None]:
            if name not in columns:
                kind = card.inputs[name].type
                columns[name] = [sc._number(cell, kind) for cell in src.column(name)]  # noqa: SLF001
            return columns[name]

        found: dict[int, str] = {}
        with localcontext(EXACT):
            for i, cell in enumerate(src.column("period")):
                if i in excluded:
                    continue
                key = periods(cell) or self.sole
                size = self.sizes.get(key, 0)
                group = self.groups.get(key)
                if key is None or group is None or size <= sc._MIN_ADDENDS:  # noqa: SLF001
                    continue
                head = _stat(group, first)
                if head is None or head[1] <= sc._MIN_ADDENDS:  # noqa: SLF001
                    continue
                v = values(first)[i]
                if not (isinstance(v, Decimal) and v and v + v == head[0]):
                    continue
                try:
                    matched = sc._sum_columns(i, present, additive, values, functools.partial(_stat, group))  # noqa: SLF001
                except ArithmeticError:
                    continue
                if matched is not None and len(matched) >= sc._MIN_SUMS:  # noqa: SLF001
                    shown = ", ".join(matched[:4]) + (" …" if len(matched) > 4 else "")  # noqa: PLR2004
                    found[i] = f": its {shown} are the sums of the other {size - 1} rows of {key}"
        return found


def _absorb(into: dict[str, _Column], columns: dict[str, _Column]) -> None:
    """Add ``columns``' sums and counts to ``into``'s (a sum beyond the exact context marks the column bad)."""
    with localcontext(EXACT):
        for name, col in columns.items():
            mine = into.setdefault(name, _Column())
            try:
                mine.total += col.total
            except ArithmeticError:
                mine.bad = True
            mine.count += col.count
            mine.bad = mine.bad or col.bad


def _stat(group: dict[str, _Column], name: str) -> tuple[Decimal, int] | None:
    """``screening._Sums``'s answer for one column of a period: ``(sum, count)``, ``None`` when unreadable."""
    col = group.get(name)
    if col is None:
        return Decimal(0), 0
    return None if col.bad else (col.total, col.count)


def _integers(src: Any, name: str) -> list[int | None] | None:
    """A frame column of whole numbers as Python ints (``None`` blank); ``None`` when a cell is not a whole number."""
    import polars as pl  # noqa: PLC0415

    if not isinstance(src, sc._FrameSource):  # noqa: SLF001
        return None
    s = src.series(name)
    if s.dtype == pl.Utf8:
        text = s.str.strip_chars()
        whole = text.cast(pl.Int64, strict=False)
        if (whole.is_null() & text.is_not_null() & (text != "")).any():
            return None  # decimals, percents, separators: read cell by cell, exactly
        s = whole
    elif not s.dtype.is_integer():
        return None
    return s.to_list()  # type: ignore[no-any-return]
