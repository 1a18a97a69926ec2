"""Arrow record batches in, the long result table out: the kernel as an embedding engine calls it.

A distributed engine (Spark's ``mapInArrow``, a Flight server, a DuckDB UDF) hands the kernel
one partition at a time as Arrow record batches and takes Arrow back. One call appraises the
subjects of the batches it is given, streaming them through ``evaluation.streaming`` when the plan
allows it: a batch must hold every record of its subjects (for the chosen period), and ranks are
ranks within the call (across its batches), not across partitions.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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
    batch_rows: int | None = None,
    spill: Any = None,
    members: Any = None,
    unlisted: Literal["error", "exclude"] = "error",
) -> Any:
    """Appraise the records in Arrow record batches; the long result table comes back as record batches.

    One row per subject and KPI, subjects in ranked order, every column text (exact decimal text,
    empty for N/A): ``period, subject, parent, total, grade, rank, kpi, value, score, weight,
    contribution, status``. Reported figures (total, score, contribution) are correctly rounded to
    the ruleset's places and mode; ``value`` and ``weight`` are exact. The result is a
    ``pyarrow.RecordBatchReader``: iterate it for record batches (e.g. for ``mapInArrow``), or
    ``read_all()`` for one table.

    **Streaming.** When the plan allows it (``lower(card).support("streaming")``),
    the batches are consumed lazily by the streaming executor (``evaluation.streaming``): memory
    holds about two batches (``batch_rows`` records, default 100,000) plus ~50 bytes per subject
    for the global ranks, and the spilled records between the passes: compressed in memory by
    default, or in a temporary directory deleted at the end with
    ``spill=kpi_engine.io.spill.DirectorySpill()`` (then memory does not grow with the input).
    The records are read, ranked and redistributed when this function returns; the reader then
    yields the output part by part. Every record of a subject must be in one batch when the
    scorecard reads history (``previous``/``streak``); an appraised subject in two batches is an
    error. With ``members`` the records are regrouped by membership tree instead (any order will
    do). ``events`` are held in memory whole (bounded by the events, not the subjects) and given
    to every batch: windows pair across the whole log, aggregates count the batch's subjects' events.

    Ranks are over every batch of the call: give one call every subject that must be ranked
    together. Records the kernel leaves to the row path (an unusual cell, a strict N/A) are
    evaluated there, with the same results; a bad cell raises the row path's ``DataError`` (rows
    counted from 1 within its batch of ``batch_rows`` records, after a header row; the message
    names the batch when there are several).

    Args:
        ruleset: a loaded ruleset whose scorecard the kernel evaluates (``plan(card).supported``).
        batches: ``pyarrow.RecordBatch`` objects (or a ``RecordBatchReader``, Arrow tables, Polars
            frames) with ``subject``, ``period`` and the ruleset's inputs.
        period: the period to appraise (default: the latest in the records).
        events: event rows for aggregate and window metrics (any input ``evaluate`` takes; held in memory).
        members: membership rows ``member, parent, period`` (a frame or rows, held in memory): the
            records are regrouped by membership tree and each tree appraised whole (team rollups,
            ranks within the parent); ranks stay global.
        unlisted: with ``members``, as ``evaluate``.
        strict: turn every N/A into an error.
        allow_extra_columns: ignore columns the ruleset does not use.
        totals: a totals row (合计, Total, or the column sums of the others) is refused, as by
            ``evaluate``; ``"skip"`` leaves it out with a warning (the table cannot carry warnings:
            ``evaluate`` on the same table returns them).
        batch_rows: records appraised at once when streaming (consecutive smaller batches are joined).
        spill: where the streaming executor keeps the records between its passes
            (``evaluation.streaming.Spill``; default in memory, compressed).

    Returns:
        A ``pyarrow.RecordBatchReader`` of the columns above (``pa.large_string()``).

    Raises:
        KpiError: when the columnar extra is missing, the scorecard has a feature the kernel does
            not evaluate, the batches hold no record, or a subject is split across batches.
            DataError, EvaluationError: as ``evaluate``.
    """
    try:
        import pyarrow as pa  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError("evaluate_batches needs pyarrow: pip install 'kpi_engine[columnar]'") from None
    from kpi_engine.evaluation import streaming  # noqa: PLC0415 - the streaming executor imports the engine
    from kpi_engine.evaluation.engine import evaluate  # noqa: PLC0415 - the engine imports this package

    schema = pa.schema([(c, pa.large_string()) for c in LONG_COLUMNS])
    roster = streaming.roster_frame(members) if members is not None else None
    if roster is not None and streaming.refusal(ruleset) is None:
        from kpi_engine.evaluation._stream_trees import stream_trees  # noqa: PLC0415

        store = spill if spill is not None else streaming.MemorySpill()
        options = {"strict": strict, "allow_extra_columns": allow_extra_columns, "totals": totals, "unlisted": unlisted}
        if events is not None:
            options["events"] = events
        try:
            _, _, parts = stream_trees(
                ruleset, batches, roster, period=period, options=options,
                batch_rows=batch_rows or streaming.DEFAULT_BATCH_ROWS, spill=store, keep=False,
            )  # fmt: skip
        except BaseException:
            store.close()
            raise
        return pa.RecordBatchReader.from_batches(
            schema, (b for part in parts for b in part.select(LONG_COLUMNS).to_arrow().cast(schema).to_batches())
        )
    if members is None and streaming.refusal(ruleset) is None:
        run = streaming.stream(
            ruleset, batches, period=period, strict=strict, allow_extra_columns=allow_extra_columns, totals=totals,
            batch_rows=batch_rows, spill=spill, events=events,
        )  # fmt: skip

        def parts() -> Iterator[Any]:
            for appraisal, _ in run.parts():
                yield from long_table(appraisal).to_arrow().cast(schema).to_batches()

        return pa.RecordBatchReader.from_batches(schema, parts())
    items = list(batches)
    if not items:
        raise KpiError("evaluate_batches: no record batch was given")
    table = pa.Table.from_batches(items) if all(isinstance(i, pa.RecordBatch) for i in items) else _joined(items)
    appraisal = evaluate(
        ruleset,
        table,
        period=period,
        members=members,
        unlisted=unlisted,
        events=events,
        strict=strict,
        allow_extra_columns=allow_extra_columns,
        totals=totals,
        engine="columnar",
    )
    return pa.RecordBatchReader.from_batches(schema, long_table(appraisal).to_arrow().cast(schema).to_batches())


def _joined(items: list[Any]) -> Any:
    """Mixed batches, tables and frames as one Arrow table."""
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.streaming import _frame  # noqa: PLC0415

    return pl.concat([_frame(i) for i in items], how="diagonal_relaxed").to_arrow()


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
