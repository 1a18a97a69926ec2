"""Which executor runs an evaluation, decided once from the plan: ``evaluate``.

``engine="row"`` runs the row executor (``evaluation.row``); ``engine="columnar"`` the columnar
executor (``evaluation.columnar``), refused with the plan's own reason when the plan has an op
without a column kernel (``lower(card).support("columnar")``); ``engine="auto"`` takes the
columnar executor for inputs of at least ``AUTO_THRESHOLD`` records when the extra is installed
and the plan allows it. Whatever the columnar executor leaves aside (an unusual cell, a strict
N/A, a located error) it hands to the row executor, so both give the same appraisal or the same
error; never silently: ``auto`` names the reason in ``Appraisal.fallback`` (``kpi evaluate``
prints it), ``columnar`` refuses with it (or raises the row executor's located error).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

import attrs

from kpi_engine._numbers import exact
from kpi_engine.errors import DataError, EngineRefusalError, Issue, KpiError
from kpi_engine.evaluation import columnar, fastrow
from kpi_engine.evaluation.frames import Frame
from kpi_engine.evaluation.records import RecordsLike, RowsLike, Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.evaluation.row import prepare_inputs, run_rows
from kpi_engine.evaluation.screening import Screened, screen
from kpi_engine.language.build import Ruleset
from kpi_engine.plan import lower
from kpi_engine.time.accumulate import accumulate, relabel

__all__ = [
    "AUTO_THRESHOLD",
    "ENGINES",
    "Engine",
    "RecordsLike",
    "RowsLike",
    "dispatch",
    "evaluate",
    "row_inputs",
]

Engine = Literal["auto", "row", "columnar", "streaming"]
ENGINES: tuple[Engine, ...] = ("auto", "row", "columnar", "streaming")
AUTO_THRESHOLD = 2_000  # records; below it the row executor is as fast and builds its traces anyway
_BYTES_PER_RECORD = 100  # a record as CSV text, for the memory estimate under a cap
_FRAME_MODULES = {"polars", "pyarrow", "pandas", "duckdb", "_duckdb"}


def evaluate(
    ruleset: Ruleset,
    records: RecordsLike,
    *,
    period: str | None = None,
    members: RowsLike | None = None,
    events: RowsLike | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    progress: Callable[[int, int], None] | None = None,
    engine: Literal["auto", "row", "columnar", "streaming"] = "auto",
    totals: Literal["refuse", "skip"] = "refuse",
    unlisted: Literal["error", "exclude"] = "error",
) -> Appraisal:
    """Appraise every subject of the ruleset's level for one period.

    Args:
        ruleset: a loaded ruleset (``load_ruleset``).
        records: rows with ``subject``, ``period`` and the ruleset's inputs: a ``Table`` read from a
            file, several tables, or Python dicts / objects. Rows of earlier periods serve as history (growth, streaks).
        period: the period to appraise (``2026-03``, ``2026-Q1`` …); default: the latest in ``records``.
        members: membership rows ``member, parent, period`` (rep → team → department → company).
        events: event rows ``event_id, type, at, rep`` plus the ruleset's ``event_fields``.
        strict: turn every N/A KPI value or condition into an error, and every warning too.
        allow_extra_columns: ignore data columns the ruleset does not use (as ``allow_extra_columns: true``).
        progress: called as ``progress(done, total)`` about a hundred times while subjects are appraised.
        engine: the executor: ``row`` (subject by subject, the reference), ``columnar`` (whole
            columns, extra ``columnar``; also takes Polars/Arrow/pandas frames and DuckDB
            relations), or ``auto`` (``columnar`` for large inputs when it is installed and the
            plan allows it, else ``row``). Both walk the same plan and give the same appraisal;
            the columnar executor's traces are built by the row executor when read. Plain dict
            rows of a qualifying scorecard take the row executor's generated fast lane
            (``evaluation.fastrow``; the same appraisal, its results built when read).
            ``streaming`` runs the streaming executor (``evaluation.streaming``) over the records
            partitioned by subject (by membership tree with ``members``): the same appraisal,
            computed batch by batch (refused with the plan's reason for event metrics and events).
        totals: a record that is a totals row (合计, Total …, or the column sums of its period's other
            rows) is refused (``refuse``) or left out with a warning (``skip``); see ``screening``.
        unlisted: with ``members``, a record whose subject is not on the roster for its period is an
            error (``error``) or left out with a warning (``exclude``).

    Returns:
        The ``Appraisal``: one result per subject, ranked, with traces.

    Raises:
        DataError: on any bad input row. EvaluationError: on N/A in a strict run or ``on_missing: error``.
        KpiError: for ``engine="columnar"`` when the plan has an op without a column kernel (the
            message names it, from ``lower(card).support("columnar")``) or the extra is missing, and
            for input the kernel would hand to the row executor (``the columnar engine cannot run
            this input (REASON)``; the row executor's located error instead when the data has one).
            With ``engine="auto"``, such a hand-over is named in the result's ``fallback``.
    """
    if engine == "streaming":
        return _streaming(ruleset, records, period, members, events, strict, allow_extra_columns, totals, unlisted)
    if (
        engine in {"row", "auto"}
        and members is None
        and events is None
        and progress is None
        and not allow_extra_columns
        and totals in {"refuse", "skip"}
        and unlisted in {"error", "exclude"}
    ):  # a small batch of plain rows: the scorecard's generated function, or None (``fastrow``)
        fast = fastrow.appraise(ruleset, records, period=period, strict=strict, auto=engine == "auto")
        if fast is not None:
            return fast
    screened = screen_inputs(ruleset, records, members, events, period, allow_extra_columns, totals, unlisted)
    records, members = screened.records, screened.members
    # Finer records (months for a half) and spans (2026-YTD-06) become records of the card's periods.
    span = None
    gaps: tuple[Issue, ...] = ()  # a month missing from a half: a warning (an error when strict)
    rolled = accumulate(ruleset.scorecard, records, period=period, members=members, events=events, strict=strict)
    if rolled is not None:
        records, members, events = rolled.records, rolled.members, rolled.events
        period, span, gaps = rolled.period, rolled.span, rolled.warnings
    if engine != "row":
        rows = functools.partial(run_rows, allow_extra_columns=allow_extra_columns, progress=progress)
        extra = allow_extra_columns or ruleset.scorecard.allow_extra_columns
        appraisal = dispatch(
            ruleset, records, period=period, members=members, events=events, strict=strict, engine=engine, rows=rows,
            allow_extra_columns=extra,
        )  # fmt: skip
    else:
        appraisal = run_rows(
            ruleset, records, period=period, members=members, events=events, strict=strict,
            allow_extra_columns=allow_extra_columns, progress=progress,
        )  # fmt: skip
    if screened.warnings:
        appraisal = attrs.evolve(appraisal, warnings=(*screened.warnings, *appraisal.warnings))
    return relabel(appraisal, span, gaps)


def _streaming(
    ruleset: Ruleset,
    records: Any,
    period: str | None,
    members: Any,
    events: Any,
    strict: bool,  # noqa: FBT001
    allow_extra_columns: bool,  # noqa: FBT001
    totals: Literal["refuse", "skip"],
    unlisted: Literal["error", "exclude"],
) -> Appraisal:
    """``evaluate(..., engine="streaming")``: the records partitioned by subject, streamed, held as one appraisal."""
    from kpi_engine.evaluation import streaming  # noqa: PLC0415

    reason = streaming.refusal(ruleset, members=members, events=events)
    if reason is not None:
        raise KpiError(f"{reason}; use engine='columnar' or 'row'")
    return streaming.appraise(
        ruleset, records, period=period, strict=strict, allow_extra_columns=allow_extra_columns, totals=totals,
        members=members, unlisted=unlisted, events=events,
    )  # fmt: skip


def screen_inputs(
    ruleset: Ruleset,
    records: RecordsLike,
    members: RowsLike | None,
    events: RowsLike | None,
    period: str | None,
    allow_extra_columns: bool,  # noqa: FBT001
    totals: Literal["refuse", "skip"],
    unlisted: Literal["error", "exclude"],
) -> Screened:
    """Who is a subject, before any engine reads the rows (``screening``), as ``evaluate`` runs it.

    When screening refuses, the records check's own issues come in the same error (every problem of
    the files at once). An executor that bypasses ``evaluate`` (the conformance suite's kernel)
    calls this first and adds ``Screened.warnings`` before the appraisal's own.

    Raises:
        DataError: naming every row refused.
    """
    card = ruleset.scorecard
    if allow_extra_columns:
        card = attrs.evolve(card, allow_extra_columns=True)

    def also(kept: Any, roster: Any) -> list[Issue]:
        try:
            with exact():
                prepare_inputs(card, kept, roster, events)
        except DataError as exc:
            return list(exc.issues)
        return []

    return screen(card, records, members, events, period=period, totals=totals, unlisted=unlisted, also=also)


def _is_frame(data: Any) -> bool:
    return isinstance(data, Frame) or type(data).__module__.split(".")[0] in _FRAME_MODULES


def _size(data: Any) -> int:
    if isinstance(data, Frame):
        return int(data.data.height)
    if isinstance(data, Table):
        return len(data.cells) or len(data.dict_rows)
    if _is_frame(data):
        for attribute in ("num_rows", "height"):  # Arrow tables, Polars frames
            size = getattr(data, attribute, None)
            if isinstance(size, int):
                return size
        try:
            return len(data)  # pandas
        except TypeError:  # a lazy frame or relation: its size is unknown until it is collected
            return 0
    if isinstance(data, list | tuple):
        return sum(_size(t) if isinstance(t, Table) else 1 for t in data)
    return 0


def _several(events: Any) -> bool:
    """Whether ``events`` is several tables (a list of ``Table`` objects or frames) rather than one."""
    if isinstance(events, list | tuple) and len(events) > 1:
        return all(isinstance(t, Table) or _is_frame(t) for t in events)
    return False


def _room(records: Any) -> bool:
    """Under a memory cap, whether Polars may run on ``records`` without risking an abort (``kpi_engine._limits``)."""
    from kpi_engine._limits import KERNEL_BYTES_PER_INPUT_BYTE, polars_allowed  # noqa: PLC0415

    size = _size(records) * _BYTES_PER_RECORD
    return polars_allowed(size, started=_is_frame(records), per_byte=KERNEL_BYTES_PER_INPUT_BYTE)


def row_inputs(data: Any, name: str) -> Any:  # noqa: ARG001 - the name is kept for the callers' symmetry
    """What the row path reads for ``data``: the kernel's own ``Frame`` becomes rows.

    Anything else (pandas, Polars, Arrow, DuckDB) goes as it came, read by the row path's frame
    reader, which keeps each cell's location (row and column) for its messages.
    """
    if isinstance(data, Frame):
        return data.rows()
    return data


def use_columnar(ruleset: Ruleset, records: Any, engine: str) -> bool:
    """Whether ``engine`` runs the columnar executor on these records (decided from the plan, once).

    Under an address-space cap the columnar executor runs only when Polars has room for the
    records (``auto`` then takes the row executor, ``columnar`` refuses).

    Raises:
        KpiError: for an unknown engine; for ``columnar`` when the extra is missing, Polars has no
            room under the cap, or the plan has an op without a column kernel (the message is the
            plan's reason).
    """
    if engine not in ENGINES:
        msg = f"unknown engine {engine!r} (use 'auto', 'row', 'columnar' or 'streaming')"
        raise KpiError(msg)
    if engine == "row":
        return False
    reason = lower(ruleset.scorecard).support("columnar")
    if engine == "columnar":
        if not columnar.available():
            raise KpiError("engine='columnar' needs the columnar extra: pip install 'kpi_engine[columnar]'")
        if not _room(records):
            raise KpiError(
                "not enough memory for the columnar engine under this process's address-space limit "
                "(Polars aborts the process when an allocation fails); use engine='row', or raise the limit"
            )
        if reason is not None:
            raise KpiError(f"{reason}; use engine='row'")
        return True
    return _size(records) >= AUTO_THRESHOLD and columnar.available() and reason is None and _room(records)


def dispatch(
    ruleset: Ruleset,
    records: Any,
    *,
    period: str | None,
    members: Any,
    events: Any,
    strict: bool,
    engine: str,
    rows: Callable[..., Appraisal],
    allow_extra_columns: bool = False,
    hand_over: bool = False,
) -> Appraisal:
    """Run ``engine`` (``auto`` picks the kernel for large inputs when it is installed and able).

    ``rows`` is the row executor (``run_rows`` with the caller's options); it takes over whenever
    the data needs it (errors, rare forms): under ``auto`` noted in ``Appraisal.fallback``; under
    ``columnar`` refused with the reason (a ``KpiError``), unless ``hand_over`` (the conformance
    runner, which labels such cases itself).

    Raises:
        KpiError: for ``engine='columnar'`` when the extra is missing or the scorecard has a
            feature the kernel does not evaluate (the message names it); otherwise as ``evaluate``.
    """

    def on_rows() -> Appraisal:
        return rows(
            ruleset,
            row_inputs(records, "records"),
            period=period,
            members=row_inputs(members, "members"),
            events=row_inputs(events, "events"),
            strict=strict,
        )

    def fallen_back(reason: str, *, form: bool) -> Appraisal:
        """The row executor's run, noted with ``reason``; for ``engine='columnar'`` a refusal instead.

        A ``form`` reason is valid data the kernel does not hold: refused at once. Any other
        reason may be an error in the data: the row executor runs first so that its located
        error is the one raised; if it finds none, the columnar engine still refuses.
        """
        refuse = engine == "columnar" and not hand_over
        if refuse and form:
            raise EngineRefusalError(refusal(reason))
        appraisal = on_rows()
        if refuse:
            raise EngineRefusalError(refusal(reason))
        return attrs.evolve(appraisal, fallback=reason)

    if not use_columnar(ruleset, records, engine):
        appraisal = on_rows()
        unable = lower(ruleset.scorecard).support("columnar") if engine == "auto" else None
        if unable is not None and columnar.available() and _size(records) >= AUTO_THRESHOLD:
            return attrs.evolve(appraisal, fallback=unable)  # large enough for the kernel, which cannot run it
        return appraisal
    if events is not None and any(i.source is not None for i in ruleset.scorecard.inputs.values()):
        # inputs filled from the events (``from:``, evaluation/sources.py): the row executor
        return fallen_back("inputs filled from the events (from:)", form=True)
    if _several(events):  # a CRM log and an alert log: validated and merged by the row executor
        return fallen_back("several event logs", form=True)
    from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar  # noqa: PLC0415

    try:
        return run_columnar(ruleset, records, period, members, events, strict=strict, extra=allow_extra_columns)
    except FallbackError as exc:
        return fallen_back(exc.reason, form=exc.form)


def refusal(reason: str) -> str:
    """The message of ``engine='columnar'`` refusing a run it would hand to the row engine."""
    return f"the columnar engine cannot run this input ({reason}); use engine='row' (--engine row)"
