"""The compiled columnar kernel: a scorecard evaluated over whole columns, exactly.

``plan(card)`` says once whether the kernel can evaluate a scorecard (and names what it cannot);
``evaluate_columnar`` ingests records and events as Polars/Arrow columns, evaluates every metric,
score, share, contribution, total, gate, grade and rank in exact rational int64 columns
(``_columns``), and builds the same ``Appraisal`` the row evaluator builds. Whatever the
vectorised path leaves aside — an unusual or invalid cell, a strict run meeting an N/A, a row
whose magnitudes could leave the exact int64 range — is handed to the row evaluator, which
reports the located error or computes the result; so both paths agree on every input.

This module imports no NumPy or Polars: the ``columnar`` extra (polars, pyarrow, numpy) is
needed only when the kernel runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.columnar._batches import LONG_COLUMNS, evaluate_batches, long_table
from kpi_engine.evaluation.columnar._plan import Frame, UnsupportedError, check_supported
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard

__all__ = [
    "AUTO_THRESHOLD",
    "LONG_COLUMNS",
    "Frame",
    "Plan",
    "available",
    "dispatch",
    "evaluate_batches",
    "long_table",
    "plan",
    "row_inputs",
]

Engine = Literal["auto", "row", "columnar"]
AUTO_THRESHOLD = 2_000  # records; below it the row path is as fast and builds its traces anyway
_BYTES_PER_RECORD = 100  # a record as CSV text, for the memory estimate under a cap
_FRAME_MODULES = {"polars", "pyarrow", "pandas", "duckdb", "_duckdb"}


def available() -> bool:
    """True when the ``columnar`` extra (polars and numpy) is installed."""
    try:
        import numpy  # noqa: F401, PLC0415, ICN001
        import polars  # noqa: F401, PLC0415, ICN001
    except ImportError:
        return False
    return True


@attrs.frozen
class Plan:
    """What the kernel makes of a scorecard: ``unsupported`` names each feature it leaves to the row path."""

    unsupported: tuple[str, ...]

    @property
    def supported(self) -> bool:
        return not self.unsupported


def plan(card: Scorecard) -> Plan:
    """Check once whether the kernel can evaluate ``card``; name every feature it cannot."""
    reasons: list[str] = []
    for m in card.metrics.values():
        if m.kind == "window":  # event-window pairings: the row path (evaluation/windows.py)
            reasons.append(f"metric '{m.name}' of kind '{m.kind}'")
        if m.kind == "aggregate" and m.over != "period":  # events of earlier periods: the row path
            reasons.append(f"metric '{m.name}' (an aggregate over: {m.over})")
        if m.kind == "members" and m.measure == "count":
            reasons.append(f"metric '{m.name}' (a members count)")
        for e in (m.expr, m.where, m.among):
            if e is not None:
                try:
                    check_supported(e.node, f"metric '{m.name}'")
                except UnsupportedError as exc:
                    reasons.append(str(exc))
    others = [(f"KPI '{k.id}'", k.score_expr) for k in card.kpis]
    others += [(f"gate '{g.id}'", g.when) for g in card.gates]
    others += [(f"adjustment '{a.id}'", a.when) for a in card.adjustments]
    for where, e in others:
        if e is not None:
            try:
                check_supported(e.node, where)
            except UnsupportedError as exc:
                reasons.append(str(exc))
    return Plan(tuple(reasons))


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


def dispatch(
    ruleset: Ruleset,
    records: Any,
    *,
    period: str | None,
    members: Any,
    events: Any,
    strict: bool,
    engine: Engine,
    rows: Callable[..., Appraisal],
    allow_extra_columns: bool = False,
) -> Appraisal:
    """Run ``engine`` (``auto`` picks the kernel for large inputs when it is installed and able).

    ``rows`` is the row evaluator; it takes over whenever the data needs it (errors, rare forms).

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

    if engine not in {"auto", "row", "columnar"}:
        msg = f"unknown engine {engine!r} (use 'auto', 'row' or 'columnar')"
        raise KpiError(msg)
    use = engine == "columnar"
    if engine == "columnar":
        if not available():
            raise KpiError("engine='columnar' needs the columnar extra: pip install 'kpi_engine[columnar]'")
        if not _room(records):
            raise KpiError(
                "not enough memory for the columnar engine under this process's address-space limit "
                "(Polars aborts the process when an allocation fails); use engine='row', or raise the limit"
            )
        p = plan(ruleset.scorecard)
        if not p.supported:
            raise KpiError("the columnar engine cannot evaluate " + "; ".join(p.unsupported) + "; use engine='row'")
    elif engine == "auto":
        use = _size(records) >= AUTO_THRESHOLD and available() and _room(records) and plan(ruleset.scorecard).supported
    if use and events is not None and any(i.source is not None for i in ruleset.scorecard.inputs.values()):
        return on_rows()  # inputs filled from the events (``from:``, evaluation/sources.py): the row path
    if use and _several(events):  # a CRM log and an alert log: validated and merged by the row path
        return on_rows()
    if not use:
        return on_rows()
    from kpi_engine.evaluation.columnar._run import FallbackError, run_columnar  # noqa: PLC0415

    try:
        return run_columnar(ruleset, records, period, members, events, strict=strict, extra=allow_extra_columns)
    except FallbackError:
        return on_rows()
