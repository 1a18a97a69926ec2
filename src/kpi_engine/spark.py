"""Appraisals on Apache Spark, identical to one process: values, grades, flags and ranks.

``evaluate(records, ruleset, members=None)`` takes a Spark DataFrame of records (the columns
``kpi_engine.evaluate`` reads: ``subject``, ``period``, the ruleset's inputs) and returns a Spark
DataFrame of ``result_schema(ruleset).ddl``: one row per subject and KPI, every value, grade,
flag and rank equal to ``kpi_engine.evaluate`` on the same rows in one process, whatever the
input's partitioning. It runs the tasks' job once (to raise a task's error on the driver);
the ranks stay lazy.

How (issue 16 §3; ``plan`` documents the seams):

1. **Whole groups per task.** Each record gets a group: its subject, or, with ``members``, the
   root of its membership tree (the connected component of every member/parent edge of every
   period, so a team and all its reps, a department and all its teams, sit together; a subject
   on no membership row joins the first tree, whose roster judges it as one process would). The
   records are repartitioned by group (``repartition``, hash), so a task always holds every
   record of its subjects (duplicates and history seen as one process sees them) and every
   member of its trees: a user cannot produce partial team totals by partitioning badly. The
   membership rows are collected on the driver (a roster is small next to the records), checked
   (a cycle is a located ``DataError``) and shipped to the tasks with their roots.
2. **Evaluate per task without global ranks.** ``mapInArrow`` runs ``kpi_engine.evaluate`` on
   each task's records with the period chosen once on the driver, and emits the typed rows
   (``report.results_table``) plus each subject's exact rank key (``plan.ops.ranks.rank_key``:
   text whose byte order is the order of the exact totals, equal exactly when they are equal).
3. **Global ranks.** Competition ranks (1, 1, 3) by the key over every subject, and within the
   parent (``Window.partitionBy("parent")``), highest first unless the ruleset ranks
   ``lower_first``; subjects with an N/A key are unranked. Every subject has one row per KPI,
   so the rank of a row among rows, ``r``, gives the subject's rank ``(r - 1) / k + 1``.

A totals row without its label (the column sums of the other rows of its period) needs every
row: without a roster, a small job first adds up each task's records per period and column
(``_column_sums``), and the tasks judge their rows by the merged sums, as one process does.

The overall rank window has no partition key: Spark ranks in one task (fine for millions of
subjects; the rows are small). The event log (``events``) is shipped whole to every task.
Warnings (roster members without a record) are not returned: a DataFrame has no place for
them; run ``kpi_engine.evaluate`` on the data for them. Errors raised in a task (a bad cell)
carry the row numbers of that task's records, not of the whole input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from kpi_engine.errors import DataError, Issue, KpiError, Location
from kpi_engine.language.build import Ruleset
from kpi_engine.report.results_table import result_schema

__all__ = ["evaluate", "result_schema"]

_GROUP = "_kpi_group"
WHOLE_INPUT_TOTALS = True  # find a totals row by the whole input's column sums (False: each task's; benchmarks)
_ERROR = "_kpi_error"  # a task's KpiError as JSON, on a status row of its own (every other column null)


def evaluate(
    records: Any,
    ruleset: Ruleset,
    members: Any = None,
    *,
    events: Any = None,
    period: str | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    totals: Literal["refuse", "skip"] = "refuse",
    unlisted: Literal["error", "exclude"] = "error",
    partitions: int | None = None,
) -> Any:
    """Appraise a Spark DataFrame of records; a Spark DataFrame of ``result_schema(ruleset).ddl``.

    Args:
        records: a ``pyspark.sql.DataFrame`` of records (``subject``, ``period``, inputs; ``name``).
        ruleset: a loaded ruleset.
        members: membership rows ``member, parent, period`` (a Spark DataFrame, or anything
            ``kpi_engine.evaluate`` takes for ``members``: a list of dicts, a ``Table`` …).
        events: the event log (a Spark DataFrame, or anything ``kpi_engine.evaluate`` takes for
            ``events``): collected on the driver and shipped whole to the tasks (an event log is
            small next to the records); events of reps other tasks appraise are not orphans there.
        period: the period to appraise; default: chosen once from every record, as ``evaluate`` does.
        strict: turn every N/A into an error, as ``kpi_engine.evaluate``.
        allow_extra_columns: ignore columns the ruleset does not use, as ``kpi_engine.evaluate``.
        totals: a totals row is refused or skipped, as ``kpi_engine.evaluate``.
        unlisted: a record not on the roster is an error or left out, as ``kpi_engine.evaluate``.
        partitions: tasks to evaluate in (default: the session's ``spark.sql.shuffle.partitions``).

    Raises:
        KpiError: pyspark missing, or a documented limit (docs/spark.md). DataError: a membership
            cycle, no record, several periods without history (as ``evaluate``). An error of a
            task (bad cells, N/A in a strict run, orphan events) is returned by the task as a
            status row and raised here, on the driver, as the ``KpiError`` subclass with the
            issue codes one process raises: this runs the tasks' job once (its rows are
            persisted), the ranks stay lazy.
    """
    try:
        from pyspark.sql import Window  # noqa: PLC0415 - the spark extra
        from pyspark.sql import functions as F  # noqa: N812, PLC0415
    except ImportError:
        raise KpiError("kpi_engine.spark needs pyspark: pip install 'kpi_engine[spark]'") from None
    card = ruleset.scorecard
    _check_supported(ruleset, records, period)
    spark = records.sparkSession
    member_rows = _member_rows(members)
    roots = _roots(member_rows)
    event_rows = _event_rows(events)
    chosen = period if period is not None else _latest(ruleset, records, member_rows)
    keyed = records.withColumn(_GROUP, F.trim(F.col("subject").cast("string")))  # as the engine reads it
    if roots:
        mapping = spark.createDataFrame(sorted(roots.items()), f"_kpi_node STRING, {_GROUP}_root STRING")
        keyed = (
            keyed.join(F.broadcast(mapping), keyed[_GROUP] == mapping["_kpi_node"], "left")
            # A subject on no membership row goes with the first tree (as streaming does): the roster
            # there judges it as one process would (unlisted_subject, a totals row, orphan_record).
            .withColumn(_GROUP, F.coalesce(F.col(f"{_GROUP}_root"), F.lit(min(roots.values()))))
            .drop("_kpi_node", f"{_GROUP}_root")
        )
    n = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    grouped = keyed.repartition(n, _GROUP)
    schema = result_schema(ruleset)
    out_ddl = schema.ddl + f", rank_key STRING, {_ERROR} STRING"
    options = {"strict": strict, "allow_extra_columns": allow_extra_columns, "totals": totals, "unlisted": unlisted}
    unowned = _unowned_groups(keyed, event_rows, roots)
    sums = _column_sums(records, ruleset) if member_rows is None else None
    task = _Task(ruleset, chosen, member_rows, roots, options, event_rows, unowned, sums)
    rows = grouped.mapInArrow(task, out_ddl).persist()
    _raise_task_errors(rows)
    if rows.limit(1).count() == 0:  # no task held a record of the period: as ``evaluate`` says it
        rows.unpersist()
        raise DataError(f"no {card.subject} has data for period {chosen}")
    k = len(card.kpis)
    key = F.col("rank_key")
    order = key.asc_nulls_last() if card.rank_lower_first else key.desc_nulls_last()
    overall = F.rank().over(Window.orderBy(order))
    within = F.rank().over(Window.partitionBy("parent").orderBy(order))

    def subject_rank(r: Any) -> Any:
        return F.when(key.isNull(), F.lit(None).cast("bigint")).otherwise(((r - 1) / k).cast("bigint") + 1)

    rows = rows.withColumn("rank", subject_rank(overall))
    rows = rows.withColumn(
        "rank_in_parent", F.when(F.col("parent").isNull(), F.lit(None).cast("bigint")).otherwise(subject_rank(within))
    )
    return rows.select(*schema.columns)


_FINER = (
    "kpi_engine.spark appraises records of the ruleset's own periods; records of finer periods "
    "(days or months for a quarter) and spans (2026-YTD-06) are rolled up by kpi_engine.evaluate only"
)


def _check_supported(ruleset: Ruleset, records: Any, period: str | None) -> None:
    """Refuse, before any job runs, what the Spark executor does not evaluate (with the reason)."""
    from kpi_engine.time.periods import Period  # noqa: PLC0415

    card = ruleset.scorecard
    missing = [c for c in ("subject", "period") if c not in records.columns]
    if missing:
        msg = (
            f"kpi_engine.spark needs the records' columns named {', '.join(missing)} "
            f"(found {', '.join(records.columns)}); rename them first: the ruleset's columns: "
            "mapping and header guessing are applied by kpi_engine.evaluate only"
        )
        raise KpiError(msg)
    if card.rank_by != "total" and card.rank_by not in card.report:
        msg = (
            f"kpi_engine.spark ranks by {card.rank_by!r} across tasks and needs that metric in the "
            "ruleset's report: list (the tasks return only reported metrics)"
        )
        raise KpiError(msg)
    if period is not None:
        try:
            Period.parse(period, card.period)
        except ValueError as exc:
            raise KpiError(f"period {period!r}: {exc}; {_FINER}") from None


class _Task:
    """The function ``mapInArrow`` runs on each task: its records evaluated in one process."""

    def __init__(
        self,
        ruleset: Ruleset,
        period: str,
        member_rows: list[dict[str, str]] | None,
        roots: dict[str, str],
        options: dict[str, Any],
        event_rows: list[dict[str, str | None]] | None = None,
        unowned: frozenset[str] = frozenset(),
        sums: Any = None,
    ) -> None:
        self.ruleset = ruleset
        self.period = period
        self.member_rows = member_rows
        self.roots = roots
        self.options = options
        self.event_rows = event_rows
        self.unowned = unowned  # groups of events that hold no record: orphans, reported by every task
        self.sums = sums  # the whole input's column sums (``_column_sums``): a totals row is judged by them

    def _foreign(self, groups: set[str]) -> set[str]:
        """Owners of events whose group another task holds: not orphans here (``evaluation._foreign``)."""
        out: set[str] = set()
        for e in self.event_rows or ():
            group = _event_group(e, self.roots)
            if group is not None and group not in groups and group not in self.unowned:
                out.add((e.get("rep") or "").strip())
        return out

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa  # noqa: PLC0415

        from kpi_engine.evaluation.engine import evaluate as evaluate_one  # noqa: PLC0415
        from kpi_engine.report.results_table import result_table, subject_rank_keys  # noqa: PLC0415
        from kpi_engine.time.periods import Period  # noqa: PLC0415

        items = [b for b in batches if b.num_rows]
        if not items:
            return
        table = pa.Table.from_batches(items)
        groups = set(table.column(_GROUP).to_pylist())
        table = table.drop_columns([_GROUP])
        card = self.ruleset.scorecard
        chosen = Period.parse(self.period, card.period)
        texts = {t for t in table.column("period").cast(pa.string()).to_pylist() if t}
        if not any(_same_period(t, chosen, card) for t in texts):
            return  # this task's subjects have no record in the appraised period (history only)
        members = None
        if self.member_rows is not None:
            members = [m for m in self.member_rows if self.roots.get(m["member"], m["member"]) in groups]
        from kpi_engine.evaluation._foreign import foreign  # noqa: PLC0415
        from kpi_engine.evaluation.screening import WHOLE_INPUT  # noqa: PLC0415

        token = WHOLE_INPUT.set(None if self.sums is None else self.sums.decide)
        try:
            with foreign(self._foreign(groups)):  # every task reads the whole log (windows pair across reps)
                appraisal = evaluate_one(
                    self.ruleset, table, period=self.period, members=members, events=self.event_rows, **self.options
                )
            names = _names(table, chosen, card)
            out = result_table(appraisal, names, keys=subject_rank_keys(appraisal))
        except KpiError as exc:  # a status row: the driver raises it as one process would
            schema = result_schema(self.ruleset).arrow.append(pa.field("rank_key", pa.string()))
            empty = {f.name: pa.nulls(1, f.type) for f in schema}
            status = pa.table({**empty, _ERROR: pa.array([_error_json(exc, groups)], pa.string())})
            yield from status.to_batches()
            return
        finally:
            WHOLE_INPUT.reset(token)
        yield from out.append_column(_ERROR, pa.nulls(out.num_rows, pa.string())).to_batches()


def _column_sums(records: Any, ruleset: Ruleset) -> Any:
    """The whole input's per-period column sums (``_stream_totals.ColumnSums``), or None where none are needed.

    A totals row without its label is found by the column sums of the other rows of its period; a
    task holds a few subjects, so one small job first adds up every task's records (a few numbers per
    period and column each), the driver merges the parts and every task judges its rows by them, as
    one process would. Not run with a roster (its rows are judged by the roster) or for a scorecard
    with fewer than two additive inputs (no totals row by sums).
    """
    import pickle  # noqa: PLC0415

    from kpi_engine.evaluation._stream_totals import ColumnSums, checks_totals  # noqa: PLC0415

    if not (WHOLE_INPUT_TOTALS and checks_totals(ruleset.scorecard)):
        return None
    import json  # noqa: PLC0415

    sums = ColumnSums(ruleset.scorecard)
    for part, error in records.mapInArrow(_SumsTask(ruleset), f"part BINARY, {_ERROR} STRING").collect():
        if error is not None:  # a task's rows could not be read: the error one process raises, never skipped
            raise _rebuilt(json.loads(error))
        sums.merge(pickle.loads(part))  # noqa: S301 - written by _SumsTask in this job
    sums.finish()
    return sums


class _SumsTask:
    """The function ``mapInArrow`` runs on each task for ``_column_sums``: one row, the task's sums pickled."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        import pickle  # noqa: PLC0415

        import pyarrow as pa  # noqa: PLC0415

        from kpi_engine.evaluation._stream_totals import ColumnSums  # noqa: PLC0415

        sums = ColumnSums(self.ruleset.scorecard)
        part: bytes | None = None
        error: str | None = None
        try:
            for batch in batches:
                if batch.num_rows:
                    sums.add(pa.Table.from_batches([batch]))
            part = pickle.dumps(sums.part())
        except KpiError as exc:  # raised on the driver (``_column_sums``), as a task's evaluation error is
            error = _error_json(exc, set())
        schema = pa.schema([("part", pa.binary()), (_ERROR, pa.string())])
        yield pa.RecordBatch.from_pydict({"part": [part], _ERROR: [error]}, schema=schema)


def _same_period(text: str, chosen: Any, card: Any) -> bool:
    from kpi_engine.time.periods import Period  # noqa: PLC0415

    try:
        return bool(Period.parse(text.strip(), card.period) == chosen)
    except ValueError:
        return True  # a bad period cell: the evaluation reports it


def _names(table: Any, chosen: Any, card: Any) -> dict[str, str]:
    """Subject → name from the records' ``name`` column in the appraised period (as the CLI shows them)."""
    if "name" not in table.column_names:
        return {}
    out: dict[str, str] = {}
    for s, p, name in zip(
        table.column("subject").to_pylist(),
        table.column("period").to_pylist(),
        table.column("name").to_pylist(),
        strict=True,
    ):
        if s is not None and name and _same_period(str(p or ""), chosen, card):
            out[str(s).strip()] = str(name)
    return out


def _member_rows(members: Any) -> list[dict[str, str]] | None:
    """Membership rows as text dicts, collected from a Spark DataFrame (or read as ``evaluate`` reads them)."""
    if members is None:
        return None
    if type(members).__module__.startswith("pyspark"):
        members = [row.asDict() for row in members.collect()]
    from kpi_engine.evaluation.frames import cell_text  # noqa: PLC0415
    from kpi_engine.evaluation.records import as_table  # noqa: PLC0415

    table = as_table(members, "members")
    rows = []
    for _, row in table.rows:
        rows.append({k: (cell_text(v) or "").strip() for k, v in row.items()})
    return rows


def _roots(member_rows: list[dict[str, str]] | None) -> dict[str, str]:
    """Every member and parent → the root of its connected component (all periods' edges).

    Raises:
        DataError: a membership cycle in a period (located at the member's row).
    """
    if not member_rows:
        return {}
    by_period: dict[str, dict[str, tuple[str, int]]] = {}
    for line, m in enumerate(member_rows, start=2):
        if m.get("member", "") != m.get("parent", ""):  # its own parent: the tasks report it (bad_member)
            by_period.setdefault(m.get("period", ""), {})[m.get("member", "")] = (m.get("parent", ""), line)
    for period, parent in by_period.items():
        for start in parent:
            seen = [start]
            node = start
            while node in parent:
                node = parent[node][0]
                if node in seen:
                    line = parent[start][1]
                    msg = f"membership cycle in period {period}: {' → '.join([*seen, node])}"
                    issue = Issue("member_cycle", msg, "parent", Location("members", line))
                    raise DataError.from_issues([issue], "members")
                seen.append(node)
    found: dict[str, str] = {}

    def find(x: str) -> str:
        found.setdefault(x, x)
        while found[x] != x:
            found[x] = found[found[x]]
            x = found[x]
        return x

    for m in member_rows:
        a, b = find(m.get("member", "")), find(m.get("parent", ""))
        if a != b:
            found[max(a, b)] = min(a, b)
    return {x: find(x) for x in list(found)}


def _latest(ruleset: Ruleset, records: Any, member_rows: list[dict[str, str]] | None) -> str:
    """The period ``evaluate`` would choose, from the distinct periods of every record (on the driver)."""
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    from kpi_engine.evaluation.checks import latest_period  # noqa: PLC0415
    from kpi_engine.time.periods import _PATTERNS, Period  # noqa: PLC0415

    card = ruleset.scorecard
    texts = [r[0] for r in records.select(F.trim(F.col("period").cast("string"))).distinct().collect()]
    texts += [m["period"] for m in member_rows or ()]
    parsed: dict[Any, str] = {}
    bad: list[str] = []
    for text in texts:
        if not text:
            continue
        try:
            parsed.setdefault(Period.parse(text, card.period), text)
        except ValueError as exc:
            if _PATTERNS[card.period].fullmatch(text.strip()):
                bad.append(text)  # a bad cell of the ruleset's own form (2026-13): its task reports it, as one process
                continue
            raise KpiError(f"records: period {text!r}: {exc}; {_FINER}") from None

    def subjects_of(p: Any) -> list[str]:
        wanted = [t for t in texts if t and parsed.get(p) is not None and _parses_as(t, p, card)]
        picked = records.where(F.trim(F.col("period").cast("string")).isin(wanted))
        return sorted(r[0] for r in picked.select(F.trim(F.col("subject").cast("string"))).distinct().collect())

    from kpi_engine.evaluation.checks import StrayPeriodError  # noqa: PLC0415
    from kpi_engine.evaluation.engine import evaluate as evaluate_one  # noqa: PLC0415

    if not parsed and bad:  # only bad period cells: one process's error, from a few of those rows
        picked = records.where(F.trim(F.col("period").cast("string")).isin(bad)).limit(100).collect()
        evaluate_one(ruleset, [r.asDict() for r in picked], allow_extra_columns=True)  # raises the located error

    try:
        return str(latest_period(card, set(parsed), subjects_of))
    except StrayPeriodError as exc:  # as one process raises it, located at the records (not at a row: Spark's)
        issue = Issue("stray_period", str(exc), "period", Location("records"))
        raise DataError.from_issues([issue], "records") from None


def _event_rows(events: Any) -> list[dict[str, str | None]] | None:
    """The event log as rows of text (collected from a Spark DataFrame), in the input's order."""
    if events is None:
        return None
    if type(events).__module__.startswith("pyspark"):
        events = [row.asDict() for row in events.collect()]
    from kpi_engine.evaluation.frames import cell_text  # noqa: PLC0415
    from kpi_engine.evaluation.records import as_table  # noqa: PLC0415

    table = as_table(events, "events")
    return [{k: cell_text(v) for k, v in row.items()} for _, row in table.rows]


def _event_group(event: dict[str, str | None], roots: dict[str, str]) -> str | None:
    """The group (membership root, or the rep) an event belongs to; None without a ``rep`` cell."""
    rep = (event.get("rep") or "").strip()
    if not rep:
        return None  # the evaluation reports it, in every task that reads it
    return roots.get(rep, rep)


def _unowned_groups(
    keyed: Any, event_rows: list[dict[str, str | None]] | None, roots: dict[str, str]
) -> frozenset[str]:
    """The events' groups that hold no record: their events go to every task (one process calls them orphans).

    One small job: the distinct groups among the events' groups (``isin`` over the events' groups).
    """
    if not event_rows:
        return frozenset()
    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    wanted = sorted({g for e in event_rows if (g := _event_group(e, roots)) is not None})
    if not wanted:
        return frozenset()
    held = {r[0] for r in keyed.where(F.col(_GROUP).isin(wanted)).select(_GROUP).distinct().collect()}
    return frozenset(wanted) - held


def _error_json(exc: KpiError, groups: set[str]) -> str:
    """A task's error as JSON: its class, message, issues and simple attributes (rebuilt on the driver)."""
    import json  # noqa: PLC0415

    extra = {k: v for k, v in vars(exc).items() if k not in {"issues", "warnings"} and isinstance(v, str | int | None)}
    return json.dumps(
        {
            "module": type(exc).__module__,
            "type": type(exc).__qualname__,
            "message": str(exc),
            "issues": [_issue_dict(i) for i in exc.issues],
            "warnings": [_issue_dict(i) for i in exc.warnings],
            "extra": extra,
            "group": min(groups, default=""),
        }
    )


def _issue_dict(issue: Issue) -> dict[str, Any]:
    loc = issue.location
    return {
        "code": issue.code, "message": issue.message, "path": issue.path, "severity": issue.severity,
        "suggestion": issue.suggestion, "location": None if loc is None else [loc.file, loc.line, loc.col],
    }  # fmt: skip


def _issue(d: dict[str, Any]) -> Issue:
    loc = d["location"]
    where = None if loc is None else Location(loc[0], loc[1], loc[2])
    return Issue(d["code"], d["message"], d["path"], where, d["severity"], d["suggestion"])


def _rebuilt(data: dict[str, Any]) -> KpiError:
    """The task's ``KpiError``, of its own class, with its message, issues and attributes."""
    import importlib  # noqa: PLC0415

    cls: Any = KpiError
    try:
        found = importlib.import_module(data["module"])
        for part in data["type"].split("."):
            found = getattr(found, part)
        if isinstance(found, type) and issubclass(found, KpiError):
            cls = found
    except (ImportError, AttributeError):
        pass
    error: KpiError = cls.__new__(cls)
    KpiError.__init__(error, data["message"], [_issue(i) for i in data["issues"]])
    error.warnings = tuple(_issue(i) for i in data["warnings"])
    for k, v in data["extra"].items():
        setattr(error, k, v)
    return error


def _raise_task_errors(rows: Any) -> None:
    """Raise, on the driver, the error a task returned as a status row (nothing when every task succeeded).

    Several tasks failing (bad cells in several subjects' groups): the error of the first group, of
    its class, with the issues of every task that failed with the same class (one process collects
    them all in one error too).

    Raises:
        KpiError: the task's error, of its class and codes.
    """
    import json  # noqa: PLC0415

    from pyspark.sql import functions as F  # noqa: N812, PLC0415

    found = [json.loads(r[0]) for r in rows.where(F.col(_ERROR).isNotNull()).select(_ERROR).collect()]
    if not found:
        return
    rows.unpersist()
    found.sort(key=lambda d: d["group"])
    first = _rebuilt(found[0])
    same = [_rebuilt(d) for d in found[1:] if (d["module"], d["type"]) == (found[0]["module"], found[0]["type"])]
    if same and first.issues:
        first.issues = (*first.issues, *(i for e in same for i in e.issues))
    raise first


def _parses_as(text: str, period: Any, card: Any) -> bool:
    from kpi_engine.time.periods import Period  # noqa: PLC0415

    try:
        return bool(Period.parse(text, card.period) == period)
    except ValueError:
        return False
