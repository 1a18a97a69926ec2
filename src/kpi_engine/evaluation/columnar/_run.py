"""Orchestration of a columnar evaluation: ingest, validate, aggregate, score, build the results."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from kpi_engine._columns import Bool, Column, Ctx, Num, Text, UnusualError
from kpi_engine._perf import paused_gc
from kpi_engine.errors import DataError
from kpi_engine.evaluation import checks
from kpi_engine.evaluation.columnar._decimals import decimal_number_columns
from kpi_engine.evaluation.columnar._events import aggregate
from kpi_engine.evaluation.columnar._ingest import text_number_columns, to_polars, typed_column
from kpi_engine.evaluation.columnar._kernel import Scored, run
from kpi_engine.evaluation.columnar._layers import Data, FlatLayer, Metrics, WholeTracer, latest, needs_layers, prepare
from kpi_engine.evaluation.columnar._results import ColumnarResults
from kpi_engine.evaluation.columnar._teams import Hierarchy, roster_warnings
from kpi_engine.evaluation.frames import Frame
from kpi_engine.evaluation.results import Appraisal
from kpi_engine.evaluation.row import run_rows
from kpi_engine.language.build import Ruleset
from kpi_engine.language.model import Scorecard
from kpi_engine.plan import lower
from kpi_engine.plan.ops.aggregates import AggregateOp
from kpi_engine.plan.ops.ranks import competition_ranks
from kpi_engine.time.periods import Period

_KEYS = {"subject", "period", "name", "note"}


class FallbackError(Exception):
    """Hand the whole evaluation to the row path, with the reason a user can read.

    ``form`` (see ``UnusualError``): the data is valid and the row path would only be slower, so
    ``engine="columnar"`` refuses at once; otherwise the row path runs to report the located error.
    """

    def __init__(self, reason: str = "", *, form: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason or "a form of input the columnar engine leaves to the row engine"
        self.form = form


def run_columnar(
    ruleset: Ruleset, records: Any, period: str | None, members: Any, events: Any, *, strict: bool, extra: bool = False
) -> Appraisal:
    """Evaluate on the kernel; raises ``FallbackError`` when the row path must take the run."""
    try:
        with paused_gc():
            return _evaluate(ruleset, records, period, members, events, strict=strict, extra=extra)
    except UnusualError as exc:
        raise FallbackError(str(exc), form=exc.form) from None


@contextlib.contextmanager
def _located(names: Iterable[str]) -> Iterator[None]:
    """Name the record columns being read in an ``UnusualError`` that does not name one."""
    try:
        yield
    except UnusualError as exc:
        listed = list(names)
        reason = str(exc)
        if not any(f"'{name}'" in reason for name in listed):
            where = ", ".join(f"'{name}'" for name in listed)
            reason = f"{reason} in column{'s' if len(listed) > 1 else ''} {where} of the records"
        raise UnusualError(reason, form=exc.form) from None


def _periods(values: Any, card: Scorecard) -> tuple[Any, dict[str, Period]]:
    import polars as pl  # noqa: PLC0415

    distinct = values.unique().to_list() if values.dtype == pl.Utf8 else None
    if distinct is not None and all(text and text == text.strip() for text in distinct):
        s = values  # no blank and nothing to strip (the usual few periods): no pass over every row
    else:
        s = values.cast(pl.Utf8).str.strip_chars()
        if (s.is_null() | (s == "")).any():
            raise FallbackError("a blank period")
        distinct = s.unique().to_list()
    parsed: dict[str, Period] = {}
    for text in distinct:
        try:
            parsed[text] = Period.parse(text, card.period)
        except ValueError:
            raise FallbackError(f"a period that does not parse ({text!r})") from None
    return s, parsed


def _evaluate(
    ruleset: Ruleset, records: Any, period: str | None, members: Any, events: Any, *, strict: bool, extra: bool
) -> Appraisal:
    import polars as pl  # noqa: PLC0415

    card = ruleset.scorecard
    df = to_polars(records)
    if extra:  # columns the ruleset does not use are ignored, as the row path ignores them
        df = df.select([c for c in df.columns if c in set(card.inputs) | _KEYS])
    if not set(df.columns) <= set(card.inputs) | _KEYS or "subject" not in df.columns or "period" not in df.columns:
        raise FallbackError("columns other than subject, period and the inputs, or no subject or period column")
    subj = df["subject"].cast(pl.Utf8).str.strip_chars()
    if (subj.is_null() | (subj == "")).any():
        raise FallbackError("a blank subject")
    period_text, parsed = _periods(df["period"], card)
    canon = {t: str(p) for t, p in parsed.items()}
    renamed = any(text != name for text, name in canon.items())
    key = period_text.replace_strict(canon, return_dtype=pl.Utf8) if renamed else period_text
    if _duplicated(subj, key, one_period=len(set(canon.values())) <= 1):
        raise FallbackError("a subject repeated in one period")
    parent: dict[str, str] = {}
    has_kids: set[str] = set()
    known_periods = set(parsed.values())
    chosen_members: Any = None
    hierarchy: Hierarchy | None = None
    if members is not None:
        mf = to_polars(members)
        if not set(mf.columns) <= {"member", "parent", "period"} or "period" not in mf.columns:
            raise FallbackError("members columns other than member, parent and period")
        for col in ("member", "parent"):
            if col not in mf.columns:
                raise FallbackError(f"no {col} column in the members")
        m_sub = mf["member"].cast(pl.Utf8).str.strip_chars()
        m_up = mf["parent"].cast(pl.Utf8).str.strip_chars()
        if (m_sub.is_null() | (m_sub == "") | m_up.is_null() | (m_up == "") | (m_sub == m_up)).any():
            raise FallbackError("a blank or self-parented member")
        m_text, m_parsed = _periods(mf["period"], card)
        m_key = m_text.replace_strict({t: str(p) for t, p in m_parsed.items()}, return_dtype=pl.Utf8)
        if pl.DataFrame({"s": m_sub, "p": m_key}).is_duplicated().any():
            raise FallbackError("a member repeated in one period")
        known_periods |= set(m_parsed.values())
        chosen_members = (m_sub, m_up, m_key)
        hierarchy = Hierarchy(m_sub, m_up, m_key, subj)  # cycles, depth, unknown members: the row path reports
    if period is not None:
        try:
            chosen = Period.parse(period, card.period)
        except ValueError as exc:
            raise DataError(str(exc)) from None
    else:
        chosen = latest(card, hierarchy, subj, key, known_periods)
    checks.check_effective(ruleset, chosen)
    # Without a roster there is nothing to warn about: no set of 100,000 subjects to build.
    with_record = set(subj.filter(key == str(chosen)).to_list()) if hierarchy is not None else set()
    warnings = roster_warnings(hierarchy, chosen, with_record)
    if warnings and strict:
        raise FallbackError("roster warnings in a strict run")
    if chosen_members is not None:
        m_sub, m_up, m_key = chosen_members
        sel = (m_key == str(chosen)).to_numpy()
        for member, up in zip(m_sub.to_numpy()[sel], m_up.to_numpy()[sel], strict=True):
            parent[member] = up
            has_kids.add(up)
    # Every column of every row is validated (the row path refuses a bad cell in any period).
    columns: dict[str, Column] = {}
    batch = {
        name: (spec.type, (spec.min, spec.max))
        for name, spec in card.inputs.items()
        if name in df.columns and spec.type not in {"bool", "text", "date"} and df[name].dtype == pl.Utf8
    }
    if batch:
        with _located(batch):
            columns.update(text_number_columns(df, batch))
    typed = {  # decimal128 columns: their integers cast in one parallel Polars select
        name: (spec.type, (spec.min, spec.max))
        for name, spec in card.inputs.items()
        if name in df.columns and spec.type not in {"bool", "text", "date"} and isinstance(df[name].dtype, pl.Decimal)
    }
    if typed:
        with _located(typed):
            columns.update(decimal_number_columns(df, typed))
    for name, spec in card.inputs.items():
        if name in df.columns and name not in batch and name not in typed:
            with _located([name]):
                columns[name] = typed_column(df[name], spec.type, (spec.min, spec.max))
    for name, spec in card.inputs.items():
        ratio_col = columns.get(name)
        # A ratio above 1 without a declared max is a suspected percent slip (unless written "150%"):
        # the row path decides, and reports it.
        if spec.type == "ratio" and spec.max is None and isinstance(ratio_col, Num):
            num, den = ratio_col.array(Ctx(len(df)))
            if (num > den)[~ratio_col.na if ratio_col.na is not None else slice(None)].any():
                raise FallbackError(f"a ratio above 1 without a declared max in '{name}'")
    if needs_layers(card):  # other periods, members' values, team rollups: columnar/_layers.py
        given = (records, members, events)
        # The layers keep the columns they read; the all-period columns are freed before scoring.
        box = [columns]
        del columns
        ratio_col = num = den = None
        return _layered(ruleset, chosen, strict, given, df, (subj, key, box), hierarchy, extra, warnings)
    idx, subjects = _chosen_rows(subj, key == str(chosen), has_kids)
    n = len(subjects)
    if n == 0:
        raise FallbackError("no subject in the period")
    own: dict[str, Column] = {}
    for name, spec in card.inputs.items():
        column: Column = _take(columns[name], idx) if name in columns else Num(0, 1, np.ones(n, dtype=bool))
        if spec.type in {"text", "date"} and name not in columns:
            column = Text(np.full(n, None, dtype=object), np.ones(n, dtype=bool))
        if spec.type == "bool" and name not in columns:
            column = Bool(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
        if spec.required and column.na is not None and column.na.any():
            raise FallbackError(f"a required input without a value in '{name}'")
        own[name] = column
    aggregates = [m for m in card.metrics.values() if m.kind == "aggregate"]
    found: dict[str, Column] = {}
    ef: Any = None
    if aggregates:
        if events is None:
            from kpi_engine.evaluation.records import Table  # noqa: PLC0415

            events = Table("events", ())
        ef = to_polars(events)
        if ef.height == 0:
            found = {m.name: AggregateOp(m).empty_column(n) for m in aggregates}
        else:
            found = aggregate(card, ef, chosen, subjects, aggregates)
    elif events is not None and to_polars(events).height:
        raise FallbackError("events that no metric reads")  # the row path validates them, reports orphans
    metrics = Metrics(card, FlatLayer(n, own, found))
    ctx = Ctx(n)
    env: dict[str, Column] = {}
    metrics.complete(ctx, env)
    scored = run(lower(card), ctx, env, strict=strict)
    if ctx.bad.any():
        # Some row's exact value does not fit int64: the same kernels over Python integers.
        ctx = Ctx(n, exact=True)
        env = {}
        metrics.complete(ctx, env)
        scored = run(lower(card), ctx, env, strict=strict)
    if scored.strict_na or scored.na_error:
        raise FallbackError("N/A in a strict run")
    tracer = RowTracer(ruleset, df, _origins(records, df.height), ef, chosen, extra=extra)
    return _materialise(
        ruleset, chosen, strict, subjects, parent, env, scored, ctx, tracer, warnings, sorted_subjects=True
    )


def _layered(
    ruleset: Ruleset,
    chosen: Period,
    strict: bool,  # noqa: FBT001
    given: tuple[Any, Any, Any],
    df: Any,
    read: tuple[Any, Any, list[dict[str, Column]]],
    hierarchy: Hierarchy | None,
    extra: bool,  # noqa: FBT001
    warnings: list[Any],
) -> Appraisal:
    """A run whose metrics read other periods, members or rollups (``_layers``): the same scoring after."""
    card = ruleset.scorecard
    records, members, events = given
    ef = to_polars(events) if events is not None else None
    if ef is not None and ef.height and not any(m.kind in {"aggregate", "window"} for m in card.metrics.values()):
        raise FallbackError("events that no metric reads")  # the row path validates them, reports orphans
    subj, key, box = read
    subjects, parent, metrics = prepare(card, Data(card, subj, key, box.pop(), ef, hierarchy), chosen)
    ctx = Ctx(len(subjects))
    env: dict[str, Column] = {}
    metrics.complete(ctx, env)
    scored = run(lower(card), ctx, env, strict=strict)
    if ctx.bad.any():
        ctx = Ctx(len(subjects), exact=True)
        env = {}
        metrics.complete(ctx, env)
        scored = run(lower(card), ctx, env, strict=strict)
    if scored.strict_na or scored.na_error:
        raise FallbackError("N/A in a strict run")
    tracer: Any
    # A window pairs events across the whole log (an answer by a colleague): its trace is the whole run's.
    if card.subject == "rep" and not any(m.kind in {"members", "window"} for m in card.metrics.values()):
        tracer = RowTracer(ruleset, df, _origins(records, df.height), ef, chosen, extra=extra)
    else:
        tracer = WholeTracer(ruleset, chosen, records, members, events, extra=extra)
    return _materialise(ruleset, chosen, strict, subjects, parent, env, scored, ctx, tracer, warnings)


class RowTracer:
    """Full explanations on demand: the row evaluator run on one subject's own record and events.

    A KPI's explanation depends only on its subject's data (its inputs, events and which KPIs
    apply), so the trace ``kpi explain`` shows is the row path's by construction.
    """

    def __init__(
        self, ruleset: Ruleset, records: Any, origins: tuple[str, Any], events: Any, period: Period, *, extra: bool
    ) -> None:
        self.ruleset = ruleset
        self.records = records
        self.origins = origins
        self.events = events
        self.period = period
        self.extra = extra
        self.cache: dict[str, Any] = {}

    def explanation(self, subject: str, kpi_id: str) -> dict[str, Any]:
        import polars as pl  # noqa: PLC0415

        from kpi_engine.evaluation.records import Table  # noqa: PLC0415

        if subject not in self.cache:
            name, lines = self.origins
            picked = (self.records["subject"].cast(pl.Utf8).str.strip_chars() == subject).to_numpy()
            rows = self.records.filter(pl.Series(picked)).iter_rows(named=True)
            mine = Table(name, tuple(zip(lines[picked].tolist(), rows, strict=True)))
            events = None
            if self.events is not None and "rep" in self.events.columns:
                events = Table.from_rows(
                    self.events.filter(pl.col("rep").cast(pl.Utf8).str.strip_chars() == subject).iter_rows(named=True),
                    "events",
                )
            appraisal = run_rows(
                self.ruleset,
                mine,
                period=str(self.period),
                events=events,
                allow_extra_columns=self.extra,
            )
            self.cache[subject] = appraisal.result(subject)
        explanation: dict[str, Any] = self.cache[subject].kpi(kpi_id).explanation
        return explanation


def _origins(records: Any, n: int) -> tuple[str, Any]:
    """The table name and row numbers the row path would give each record (its traces cite them)."""
    from kpi_engine.evaluation.records import Table  # noqa: PLC0415

    if isinstance(records, list | tuple) and len(records) == 1 and isinstance(records[0], Table):
        records = records[0]
    if isinstance(records, Table):
        lines = [line for line, _ in records.cells] if records.header else [line for line, _ in records.dict_rows]
        if len(lines) == n:
            return records.name, np.array(lines, dtype=np.int64)
    if isinstance(records, Frame):  # a file read as columns: its lines as the row reader numbers them
        return records.name, _FileLines(records, n)
    name = records.name if hasattr(records, "name") and isinstance(records.name, str) else "records"
    return name, np.arange(1, n + 1, dtype=np.int64)


class _FileLines:
    """The row reader's line numbers of a file read as columns, read only when a trace cites one."""

    def __init__(self, frame: Frame, n: int) -> None:
        self.frame = frame
        self.n = n
        self.lines: Any = None

    def __getitem__(self, picked: Any) -> Any:
        if self.lines is None:
            table = self.frame.rows()
            rows = table.cells if table.header else table.dict_rows
            lines = [line for line, _ in rows]
            self.lines = np.array(lines if len(lines) == self.n else range(2, self.n + 2), dtype=np.int64)
        return self.lines[picked]


def _duplicated(subj: Any, key: Any, *, one_period: bool) -> bool:
    """True when a (subject, period) pair occurs twice; with one period, neighbours in sorted order."""
    import polars as pl  # noqa: PLC0415

    if one_period:
        ordered = subj if subj.is_sorted() else subj.sort()  # records often come in subject order
        return bool((ordered.slice(1) == ordered.slice(0, max(len(ordered) - 1, 0))).any())
    return bool(pl.DataFrame({"s": subj, "p": key}).is_duplicated().any())


def _chosen_rows(subj: Any, picked: Any, has_kids: set[str]) -> tuple[Any, list[str]]:
    """Row indices of the chosen period's subjects in alphabetical order, and the subjects.

    Polars orders strings by their UTF-8 bytes, which is Python's order of code points. The
    indices are ``None`` when every row is chosen and already in order (no gather needed).
    """
    if has_kids:
        picked = picked & ~subj.is_in(sorted(has_kids))
    every = bool(picked.all())
    mine = subj if every else subj.filter(picked)
    base = None if every else np.flatnonzero(picked.to_numpy())
    if mine.is_sorted():
        return base, mine.to_list()
    order = mine.arg_sort().to_numpy()  # the subjects of one period are unique: no ties to keep stable
    return (order if base is None else base[order]), mine.gather(order).to_list()


def _take(col: Column, sel: Any) -> Column:
    if sel is None:
        return col
    na = None if col.na is None else col.na[sel]
    if isinstance(col, Num):
        num = col.num if isinstance(col.num, int) else col.num[sel]
        den = col.den if isinstance(col.den, int) else col.den[sel]
        return Num(num, den, na if na is not None and na.any() else None)
    return type(col)(col.val[sel], na)


def _materialise(
    ruleset: Ruleset,
    chosen: Period,
    strict: bool,  # noqa: FBT001
    subjects: list[str],
    parent: dict[str, str],
    env: dict[str, Column],
    scored: Scored,
    ctx: Ctx,
    tracer: RowTracer | WholeTracer,
    warnings: list[Any] = (),  # type: ignore[assignment]
    *,
    sorted_subjects: bool = False,  # subjects in code-point order (``_chosen_rows``): a faster display order
) -> Appraisal:
    card = ruleset.scorecard
    plan = lower(card)
    n = len(subjects)
    grade, bonus = plan.grades.column(ctx, scored.total, scored.forced)
    key_col = scored.total if card.rank_by == "total" else env[card.rank_by]
    if isinstance(key_col, Num):
        rank = competition_ranks(ctx, key_col, None, lower_first=card.rank_lower_first)
        rank_in = np.zeros(n, dtype=np.int64)
        if parent:
            parents = np.array([parent.get(s) for s in subjects], dtype=object)
            rank_in = competition_ranks(ctx, key_col, parents, lower_first=card.rank_lower_first)
    else:
        rank = rank_in = np.zeros(n, dtype=np.int64)
    results = ColumnarResults(
        card, ctx, subjects, parent, env, scored, grade, bonus, rank, rank_in, tracer, sorted_subjects=sorted_subjects
    )
    results.rank_key = key_col
    for name, rows, unknown in plan.flags.column(ctx, env):  # published flags (e.g. eligible_for_promotion)
        if strict and unknown:
            raise FallbackError("an N/A condition")  # the row path reports the N/A condition
        results.published.append((name, rows))
    return Appraisal.of_run(ruleset, card, str(chosen), results, strict=strict, warnings=tuple(warnings))
