"""Files read as columns for the columnar executor (CSV, Parquet) and its table written as CSV text.

A CSV file is read by Polars with every cell as text (stripped; empty → missing), exactly as the
row reader sees it; a Parquet file keeps its column types. Each ``Frame`` also knows how to read
the same file for the row path, whose errors name the file's lines. Requires the ``columnar``
extra.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Collection
from pathlib import Path
from typing import Any

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.frames import Frame
from kpi_engine.evaluation.records import Table
from kpi_engine.io.layout import SCAN_ROWS, find_header
from kpi_engine.io.loading import read_table

COLUMNAR_SUFFIXES = {".csv", ".parquet", ".pq"}


def read_frame(
    path: str | Path, name: str | None = None, *, text: Collection[str] | None = None, header_row: int | None = None
) -> Frame | Table:
    """Read a CSV or Parquet file as columns; a CSV Polars cannot read is returned as the row reader's ``Table``.

    With ``text`` (the columns that must stay text: keys, text/date/bool inputs) a CSV column of
    whole numbers that fit int64 is read as ``Int64`` (half the memory of text, exact), every other
    column as text; without it every column is text. A CSV whose header is not its first row
    (``header_row``, or title rows above it) is read by the row reader, which notes the row taken.

    Raises:
        KpiError: if the file cannot be read. DataError: for a malformed CSV (from the row reader).
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    path = Path(path)
    label = name or str(path)
    if path.suffix.lower() not in {".parquet", ".pq"} and (header_row not in {None, 1} or _titled(path)):
        return read_table(path, name, header_row=header_row)
    if path.suffix.lower() in {".parquet", ".pq"}:
        try:
            df = pl.read_parquet(path)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise KpiError(f"cannot read {label}: {exc}") from None
        # The row path reads the file again with the row reader: its messages name row and column.
        return Frame(df, label, lambda: read_table(path, name))
    typed = _typed_csv(path, text) if text is not None else None
    df = typed if typed is not None else read_text_columns(path)
    if df is None:
        return read_table(path, name)  # the row reader reports what is wrong, with lines
    if len(set(df.columns)) != len(df.columns) or any(not c.strip() or c != c.strip() for c in df.columns):
        return read_table(path, name)
    # As the row reader: cells stripped, blank → missing. Polars reads an empty cell as missing already;
    # only columns with a cell that starts or ends with white space are rewritten (no copy of the rest).
    strings = [c for c, t in df.schema.items() if t == pl.Utf8]
    padded = df.select(pl.col(strings).str.contains(r"^\s|\s$").any())
    columns = [c for c in strings if padded[c][0]]
    if columns:
        df = df.with_columns(pl.col(columns).str.strip_chars().replace("", None))
    return Frame(df, label, lambda: read_table(path, name))


def read_text_columns(path: Path, columns: list[str] | None = None) -> Any:
    """A CSV file (or those ``columns``) as Polars text columns (not stripped), or ``None`` if Polars cannot read it.

    ``None`` leaves the verdict to the row reader, which names the line of what is wrong.
    """
    import polars as pl  # noqa: PLC0415 - optional dependency

    try:
        return pl.read_csv(path, columns=columns, infer_schema=False, encoding="utf8")
    except (OSError, pl.exceptions.PolarsError, UnicodeDecodeError):
        return None


def _titled(path: Path) -> bool:
    """Whether title rows stand above the header of a CSV file (``io.layout``); unreadable files say no."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            head = list(itertools.islice(csv.reader(fh), SCAN_ROWS))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False  # the readers report what is wrong
    return find_header(head) > 0


def _typed_csv(path: Path, text: Collection[str]) -> Any:
    """The CSV with its whole-number columns as ``Int64`` (the others text), or ``None`` if Polars cannot.

    Polars infers the types from the first rows; a later cell that is not a whole number (a
    decimal, a blank with spaces, a number beyond int64) makes the read fail, and the caller reads
    every column as text instead. Only ``Int64`` is kept: a float is never read.
    """
    import polars as pl  # noqa: PLC0415

    try:
        schema = pl.scan_csv(path, encoding="utf8", infer_schema_length=1000).collect_schema()
        overrides = {c: pl.Utf8 for c, t in schema.items() if c in text or t != pl.Int64}
        if len(overrides) == len(schema):
            return None
        return pl.read_csv(path, encoding="utf8", schema_overrides=overrides, infer_schema_length=1000)
    except (OSError, pl.exceptions.PolarsError, UnicodeDecodeError):
        return None


def read_records(path: str | Path) -> Any:
    """Records for ``evaluate``: columns for CSV and Parquet files, the row reader's ``Table`` otherwise."""
    if Path(path).suffix.lower() in COLUMNAR_SUFFIXES:
        return read_frame(path)
    return read_table(path)


def long_csv(table: Any) -> str:
    """CSV text of a Polars frame of text (the layout of ``kpi evaluate --format csv``)."""
    import polars as pl  # noqa: PLC0415

    # Empty cells are written bare, as the csv module writes them (Polars quotes empty strings).
    table = table.with_columns(pl.all().replace("", None))
    text: str = table.write_csv(quote_style="necessary", line_terminator="\n", null_value="")
    return text
