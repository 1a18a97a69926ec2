"""Parquet files (pyarrow, the ``arrow`` extra) and SQL queries on DuckDB files (the ``duckdb`` extra).

Both are read as a stream of Arrow record batches, converted batch by batch into the compact
``Table`` (``evaluation.frames``): memory grows with the rows kept, not with the file. Rows are
numbered as in a spreadsheet (header row 1, first data row 2). The CLI names a query as
``duckdb:PATH::SQL`` (``--records 'duckdb:crm.db::SELECT * FROM monthly'``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.frames import Layout, Level, batches_table, duckdb_reader, to_arrow
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.io.output import replacing

DUCKDB_PREFIX = "duckdb:"


def read_parquet(path: Path, name: str | None = None) -> Table:
    """Read a Parquet file batch by batch.

    Raises:
        KpiError: when pyarrow is missing or the file cannot be read. DataError: naming each bad cell.
    """
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError(f"{path}: reading Parquet needs pyarrow: pip install 'kpi_engine[arrow]'") from None
    if not path.is_file():
        raise KpiError(f"{path}: no such file")
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid and OSError subclasses
        raise KpiError(f"{path}: not a readable Parquet file ({exc})") from None
    return batches_table(list(parquet.schema_arrow.names), parquet.iter_batches(), name or str(path))


def split_duckdb(spec: str) -> tuple[str, str]:
    """``duckdb:PATH::SQL`` → (PATH, SQL).

    Raises:
        KpiError: when the spec has no ``::`` or an empty part.
    """
    database, sep, query = spec.removeprefix(DUCKDB_PREFIX).partition("::")
    if not sep or not database.strip() or not query.strip():
        raise KpiError(f"'{spec}': write a DuckDB query as duckdb:PATH::SQL, e.g. 'duckdb:crm.db::SELECT * FROM t'")  # noqa: S608 - a message
    return database.strip(), query.strip()


def read_sql(database: str | Path, query: str, name: str | None = None) -> Table:
    """Run a SQL query on a DuckDB file (opened read-only) and read its result batch by batch.

    Raises:
        KpiError: when duckdb is missing, the file does not exist or the query fails.
            DataError: naming each bad cell.
    """
    try:
        import duckdb  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError(f"{database}: querying DuckDB needs duckdb: pip install 'kpi_engine[duckdb]'") from None
    path = Path(database)
    if not path.is_file():
        raise KpiError(f"{database}: no such DuckDB file")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            reader = duckdb_reader(con.sql(query))
            return batches_table(list(reader.schema.names), reader, name or str(path))
    except duckdb.Error as exc:
        raise KpiError(f"{database}: query failed: {exc}") from None


def write_parquet(
    appraisal: Appraisal,
    path: str | Path,
    level: Level = "kpi",
    layout: Layout = "long",
    names: Mapping[str, str] | None = None,
) -> None:
    """Write the appraisal's rows (``Appraisal.to_arrow``, long or wide) to a Parquet file, atomically.

    ``names``: subject → name from the records, for the wide layout's ``name`` column.

    A columnar run is written from the kernel's columns a chunk of subjects at a time
    (``report.columnar.columnar_long_batches``, ``columnar_wide_batches``): the same table as the
    result objects give, with flat memory.

    Raises:
        KpiError: when pyarrow is missing or the file cannot be written.
    """
    from kpi_engine.report.columnar import columnar_long_batches, columnar_wide_batches  # noqa: PLC0415

    streamed = None
    if layout == "wide":
        streamed = columnar_wide_batches(appraisal, names)
    elif level == "kpi":
        streamed = columnar_long_batches(appraisal)
    if streamed is None:
        write_arrow_parquet(lambda: to_arrow(appraisal, level, layout, names), path)
    else:
        write_arrow_parquet(lambda: None, path, batches=streamed)


def write_arrow_parquet(build: Callable[[], Any], path: str | Path, *, batches: tuple[Any, Any] | None = None) -> None:
    """Write the Arrow table ``build()`` returns to a Parquet file, atomically.

    ``batches``: (schema, record batches) written one after the other instead (flat memory).

    Raises:
        KpiError: when pyarrow is missing or the file cannot be written.
    """
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError("writing Parquet needs pyarrow: pip install 'kpi_engine[arrow]'") from None
    try:
        with replacing(path) as tmp:
            if batches is None:
                pq.write_table(build(), tmp)
            else:
                schema, pieces = batches
                with pq.ParquetWriter(tmp, schema) as writer:
                    for batch in pieces:
                        writer.write_batch(batch)
    except OSError as exc:  # pyarrow failing to write the temporary file
        raise KpiError(f"cannot write {path}: {exc.strerror or exc}") from None
