"""Arrow record batches in, the long result table out: the kernel as an embedding engine calls it.

A distributed engine (Spark's ``mapInArrow``, a Flight server, a DuckDB UDF) hands the kernel
one partition at a time as Arrow record batches and takes Arrow back. One call appraises the
subjects of the batches it is given: a partition must hold every record of its subjects (for the
chosen period), and ranks are ranks within the call, not across partitions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from kpi_engine._numbers import canonical, is_number, quantize
from kpi_engine.errors import KpiError
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset

LONG_COLUMNS = (
    "period",
    "subject",
    "parent",
    "total",
    "grade",
    "rank",
    "kpi",
    "value",
    "score",
    "weight",
    "contribution",
    "status",
)


def evaluate_batches(
    ruleset: Ruleset,
    batches: Iterable[Any],
    *,
    period: str | None = None,
    events: Any = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    totals: Literal["refuse", "skip"] = "refuse",
) -> Any:
    """Appraise the records in Arrow record batches; return the long result table as an Arrow table.

    One row per subject and KPI, subjects in ranked order, every column text (exact decimal text,
    empty for N/A): ``period, subject, parent, total, grade, rank, kpi, value, score, weight,
    contribution, status``. Reported figures (total, score, contribution) are correctly rounded to
    the ruleset's places and mode; ``value`` and ``weight`` are exact. ``table.to_batches()`` gives
    record batches again (e.g. for ``mapInArrow``).

    Ranks are per call: give one call every subject that must be ranked together. Records the
    kernel leaves to the row path (an unusual cell, a strict N/A) are evaluated there, with the
    same results; a bad cell raises the row path's ``DataError`` (rows counted from 1 across the
    batches, after a header row: the first record is row 2).

    Args:
        ruleset: a loaded ruleset whose scorecard the kernel evaluates (``plan(card).supported``).
        batches: ``pyarrow.RecordBatch`` objects (or a ``RecordBatchReader``) with ``subject``,
            ``period`` and the ruleset's inputs.
        period: the period to appraise (default: the latest in the records).
        events: event rows for aggregate metrics (any input ``evaluate`` takes).
        strict: turn every N/A into an error.
        allow_extra_columns: ignore columns the ruleset does not use.
        totals: a totals row (合计, Total, or the column sums of the others) is refused, as by
            ``evaluate``; ``"skip"`` leaves it out with a warning (the table cannot carry warnings:
            ``evaluate`` on the same table returns them).

    Returns:
        A ``pyarrow.Table`` of the columns above (``pa.string()``).

    Raises:
        KpiError: when the columnar extra is missing, the scorecard has a feature the kernel does
            not evaluate, or the batches hold no record. DataError, EvaluationError: as ``evaluate``.
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError("evaluate_batches needs pyarrow: pip install 'kpi_engine[columnar]'") from None
    from kpi_engine.evaluation.engine import evaluate  # noqa: PLC0415 - the engine imports this package

    items = list(batches)
    if not items:
        raise KpiError("evaluate_batches: no record batch was given")
    table = pa.Table.from_batches(items)
    appraisal = evaluate(
        ruleset,
        table,
        period=period,
        events=events,
        strict=strict,
        allow_extra_columns=allow_extra_columns,
        totals=totals,
        engine="columnar",
    )
    return long_table(appraisal).to_arrow()


def long_table(appraisal: Appraisal) -> Any:
    """The long result table (``LONG_COLUMNS``) of an appraisal as a Polars frame of text.

    From the kernel's columns when the kernel computed the results, else from the result objects
    (the row path took the run), formatted the same way.
    """
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    results = appraisal.results
    if isinstance(results, ColumnarResults):
        table = results.long_table(appraisal.period)
        return table.select(list(LONG_COLUMNS))
    places, mode = appraisal.places, appraisal.rounding

    def reported(value: Any) -> str:
        return "" if value is None else format(quantize(value, places, mode), "f")

    rows = []
    for r in results:
        for k in r.kpis:
            if k.value is None:
                value = ""
            elif isinstance(k.value, bool):
                value = "true" if k.value else "false"
            else:
                value = canonical(k.value) if is_number(k.value) else str(k.value)
            rows.append(
                (
                    appraisal.period,
                    r.subject,
                    r.parent or "",
                    reported(r.total_exact),
                    r.grade or "",
                    str(r.rank or ""),
                    k.id,
                    value,
                    reported(k.score_exact),
                    canonical(k.weight),
                    reported(k.contribution_exact),
                    k.status,
                )
            )
    return pl.DataFrame(rows, schema=dict.fromkeys(LONG_COLUMNS, pl.Utf8), orient="row")
