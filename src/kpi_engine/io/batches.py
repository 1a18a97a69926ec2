"""A CSV or Parquet file read as a stream of Polars frames, for the streaming executor.

Each frame holds about ``batch_rows`` records (a Parquet file by its row groups, a CSV file by
blocks of bytes); cells are read as the columnar reader reads the whole file (``column_files``):
CSV cells as text, stripped, an empty cell missing; Parquet columns keep their types. Memory
holds one block at a time. Requires the ``columnar`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kpi_engine.errors import KpiError

__all__ = ["CSV_BLOCK_BYTES", "read_batches"]

CSV_BLOCK_BYTES = 8 << 20  # about 100,000 records of a dozen numbers per CSV block


def read_batches(path: str | Path, *, batch_rows: int = 100_000, name: str | None = None) -> Iterator[Any]:
    """The records of ``path`` as Polars frames, in file order.

    Raises:
        KpiError: if the file cannot be read (its name and the reader's reason).
    """
    import pyarrow as pa  # noqa: PLC0415 - optional dependency

    path = Path(path)
    label = name or str(path)
    try:
        if path.suffix.lower() in {".parquet", ".pq"}:
            yield from _parquet(path, batch_rows)
        else:
            yield from _csv(path)
    except (OSError, pa.ArrowException) as exc:
        raise KpiError(f"cannot read {label}: {exc}") from None


def _parquet(path: Path, batch_rows: int) -> Iterator[Any]:
    import polars as pl  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    with pq.ParquetFile(path) as file:
        for batch in file.iter_batches(batch_size=batch_rows):
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            yield frame


def _csv(path: Path) -> Iterator[Any]:
    import polars as pl  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.csv as pcsv  # noqa: PLC0415

    with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 16)) as probe:
        names = probe.schema.names  # the header (types are read as text below)
    convert = pcsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    options = pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES)
    with pcsv.open_csv(path, read_options=options, convert_options=convert) as reader:
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            if frame.columns and frame.columns[0].startswith("\ufeff"):
                frame = frame.rename({frame.columns[0]: frame.columns[0][1:]})
            # As the whole-file reader: cells stripped, blank → missing (only columns that need it).
            strings = [c for c, t in frame.schema.items() if t == pl.Utf8]
            padded = frame.select(pl.col(strings).str.contains(r"^\s|\s$").any())
            columns = [c for c in strings if padded[c][0]]
            if columns:
                frame = frame.with_columns(pl.col(columns).str.strip_chars().replace("", None))
            yield frame
