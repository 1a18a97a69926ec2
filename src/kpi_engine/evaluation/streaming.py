"""The streaming executor: the plan's column kernels batch by batch, in memory bounded by a batch.

``stream(ruleset, batches)`` consumes record batches (Arrow record batches or tables, Polars or
pandas frames, a ``RecordBatchReader``) lazily and gives the appraisal in parts, in the ranked
order of the whole run, each part an ordinary ``Appraisal`` of at most about ``batch_rows / 2``
subjects. It walks the same plan as the columnar executor (each batch *is* a columnar run: the
row-local kernels, inputs to gates, grades and flags, run per batch unchanged) and adds what a
batch cannot decide alone:

1. **Per batch** (pass 1): the batch is appraised by the columnar executor (screening, the column
   kernels, the row executor for whatever the kernel leaves aside) and spilled to an Arrow IPC
   file in a temporary directory. Of its results only each subject's exact rank key is kept in
   memory: the numerator and denominator as NumPy int64 (Python integers only for a key beyond
   int64) and an N/A flag, about 17 bytes a subject, plus an 8-byte hash of the subject for the
   check below. The subjects themselves go to a second small spill file.
2. **Ranks** (pass 2): ``ranks.competition_ranks`` over every key at once: the global competition
   ranks (1, 1, 3), exact, as the columnar executor ranks one table. Subjects whose key is N/A
   are unranked and come last, by subject, as in every executor.
3. **Redistribution** (pass 3): each spilled batch's rows go to the *rank range* of their subject
   (ranks 1..B, B+1..2B, ..., then the unranked by subject), one spill directory per range.
4. **Output** (pass 4): each range is appraised again by the columnar executor (the same rows of
   the same subjects: the same figures) and given the global ranks; ranges in order give the whole
   run's ranked order. Each part is yielded, then its files deleted; the directory goes at the end
   (also when the consumer stops early or an error is raised).

Memory is about two batches' worth of columns plus ~50 bytes per subject (the rank keys, hashes
and ranks); time is about twice a columnar run (each subject is appraised twice) plus the spill.

**Requirements** (checked, each a located ``KpiError`` when violated):

- every record of a subject is in one batch when the scorecard reads history (``previous`` or
  ``streak``: a subject's earlier periods must be beside its appraised period); otherwise every
  appraised subject is in one batch (no duplicate across batches). ``evaluate(...,
  engine="streaming")`` partitions a whole table by subject itself.
- without ``period``, every batch must choose the same period (the latest of the records); a batch
  that holds only earlier periods makes the run ambiguous and is refused with the periods found.

**Totals rows** (``_stream_totals``): a scorecard with two additive inputs can have a totals row by
column sums (``screening``), which only the whole input shows. Then every batch is read and spilled
first, its per-period column sums added up (exact, a few numbers per period and column), and each
batch's screening judges its rows against the whole input's sums: the one run's refusal or skip,
code and message (a labelled totals row, 合计/Total, is found in its batch as before).

**Differences**, documented: a located data error names the row within its batch, and the message
says which batch; a batch's error is raised alone (one run lists every refused row at once).

**Events** (``stream(..., events=...)``, ``evaluate_batches``, ``evaluate(..., engine="streaming")``):
the event log is held in memory whole (bounded by the number of events, not by the subjects) and
given to the first batch's columnar run, so that every error in it (a bad timestamp, an unknown
rep) is the one run's, raised once by the first batch (the message names it). The events of reps
that are no subject of a batch are not orphans there, nor a reason to leave the kernel
(``_foreign``); once every batch is read, an owner that no batch holds is judged by the first batch
again, with the one run's ``orphan_event`` error. The log is indexed by rep once (``EventIndex``):
the other batches and the output ranges read their subjects' events only, so time grows with the
events, not with batches × events. A scorecard with a ``window`` metric gives every batch the whole
log instead (a rep's complaint is closed by anyone's answer, as in one run).

**Membership rows** (team, department and company scorecards, reps ranked within their team):
``appraise(..., members=...)`` and ``evaluate_batches(..., members=...)`` hold the membership rows
in memory and regroup the records by membership tree (``_stream_trees``): each tree is appraised
whole, so rollups, member shares and ranks within the parent are one run's; ranks are global.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from typing import Any, Literal, Protocol

import attrs

from kpi_engine.errors import DataError, Issue, KpiError
from kpi_engine.evaluation.frames import is_frame
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.language.build import Ruleset
from kpi_engine.plan import lower

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "MemorySpill",
    "Spill",
    "Streamed",
    "appraise",
    "partition_by_subject",
    "roster_frame",
    "stream",
    "streamed_appraisal",
]

DEFAULT_BATCH_ROWS = 100_000  # records per batch (and twice the subjects of an output part)
_KEY = "__kpi_stream_key"
_RANK = "__kpi_stream_rank"
_BUCKET = "__kpi_stream_bucket"
_INT64_MAX = 2**63 - 1
_SUMS = "__kpi_stream_sums"  # options: the whole input's column sums (``_stream_totals``), not an evaluate option
WHOLE_INPUT_TOTALS = True  # find a totals row by the whole input's column sums (False: each batch's; benchmarks)
_INDEX = "__kpi_stream_events"  # options: the event log's ``EventIndex`` (not an evaluate option)
INDEX_EVENTS = True  # give a batch its subjects' events from an index (False: the whole log each time; benchmarks)


class EventIndex:
    """An event log indexed once by owner (the ``rep`` cell, stripped): a batch's subjects' events, in log order.

    Built only for a scorecard whose every event reader is per rep (aggregates, inputs from events,
    no ``window``: a window pairs a rep's trigger with anyone's answer) and a log given as one frame.
    The first batch a run appraises still reads the whole log, so that every error and warning the
    log holds (a bad timestamp, an unknown rep) is reported once, as one run reports it; the other
    batches, and the output ranges, read their subjects' events only: time grows with the events,
    not with batches × events.
    """

    def __init__(self, log: Any, frame: Any) -> None:
        self.log = log  # as given (a ``Frame`` keeps its file name and row reader)
        self.frame = frame
        self.order: Any = None  # built at the first ``of`` (a run of one batch and one range needs none)
        self.where: dict[str, tuple[int, int]] = {}

    def _build(self) -> None:
        import numpy as np  # noqa: PLC0415
        import polars as pl  # noqa: PLC0415

        frame = self.frame
        keys = frame["rep"].cast(pl.Utf8).str.strip_chars().fill_null("")
        codes = keys.cast(pl.Categorical).to_physical().to_numpy() if len(keys) else np.zeros(0, np.int64)
        self.order = np.argsort(codes, kind="stable")  # the log's rows grouped by owner, in log order
        sorted_keys = keys.gather(self.order)
        runs = sorted_keys.rle()  # owner → (start, length) in ``order``
        lengths = runs.struct.field("len").to_numpy()
        starts = np.cumsum(lengths) - lengths
        self.where = dict(
            zip(runs.struct.field("value").to_list(), zip(starts.tolist(), lengths.tolist(), strict=True), strict=True)
        )

    @staticmethod
    def build(ruleset: Ruleset, events: Any) -> EventIndex | None:
        """The index of ``events`` for ``ruleset``, or ``None`` when each batch must read the whole log."""
        from kpi_engine.evaluation.frames import Frame  # noqa: PLC0415

        card = ruleset.scorecard
        if not INDEX_EVENTS or events is None or any(m.kind == "window" for m in card.metrics.values()):
            return None
        if isinstance(events, list | tuple) or not (isinstance(events, Frame) or is_frame(events)):
            return None
        try:
            frame = _frame(events)
        except KpiError:
            return None
        if "rep" not in frame.columns:
            return None
        return EventIndex(events, frame)

    def of(self, records: Any, card: Any) -> Any:
        """The events of ``records``' subjects (a frame like the log given), in log order."""
        import attrs as _attrs  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415

        from kpi_engine.evaluation.frames import Frame  # noqa: PLC0415

        if self.order is None:
            self._build()
        pieces = [self.where[s] for s in _subject_set(records, card) if s in self.where]
        if pieces:
            rows = np.sort(np.concatenate([self.order[a : a + n] for a, n in pieces]))
        else:
            rows = np.zeros(0, dtype=np.int64)
        part = self.frame[rows]
        return _attrs.evolve(self.log, data=part) if isinstance(self.log, Frame) else part


def refusal(ruleset: Ruleset, *, members: Any = None, events: Any = None) -> str | None:  # noqa: ARG001
    """Why the streaming executor cannot run this evaluation (a sentence), or ``None``.

    Membership rows are streamed by tree and an event log is held whole (the module's docstring).
    """
    from kpi_engine.evaluation import columnar  # noqa: PLC0415

    if not columnar.available():
        return "the streaming engine needs the columnar extra: pip install 'kpi_engine[columnar]'"
    return lower(ruleset.scorecard).support("streaming")


def event_owners(events: Any) -> frozenset[str]:
    """The reps (stripped text) that own the events of a log (a frame, Python rows, row tables, several)."""
    import polars as pl  # noqa: PLC0415

    if events is None:
        return frozenset()
    several = isinstance(events, list | tuple) and events and all(is_frame(t) or isinstance(t, Table) for t in events)
    owners: set[str] = set()
    for item in events if several else [events]:
        df = roster_frame(item)
        if df is None:  # a cell with no text: read the rows as the row executor does
            table = item if isinstance(item, Table) else Table.from_rows(item)
            rows = [r for _, r in table.rows]
            owners.update(str(r.get("rep")).strip() for r in rows if r.get("rep") is not None)
            continue
        if "rep" in df.columns:
            owners.update(df["rep"].cast(pl.Utf8).str.strip_chars().drop_nulls().unique().to_list())
    owners.discard("")
    return frozenset(owners)


def _frame(item: Any) -> Any:
    """One batch as a Polars frame."""
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.frames import Frame  # noqa: PLC0415

    if isinstance(item, Frame):
        return item.data
    if isinstance(item, pl.DataFrame):
        return item
    module = type(item).__module__.split(".")[0]
    if module == "pyarrow":
        return pl.from_arrow(item)
    if module == "pandas":
        return pl.from_pandas(item)
    msg = f"the streaming engine reads record batches (Arrow, Polars, pandas), not {type(item).__name__}"
    raise KpiError(msg)


def _coalesced(batches: Iterable[Any], rows: int) -> Iterator[Any]:
    """Consecutive items joined into frames of at least ``rows`` records (the last may be smaller)."""
    import polars as pl  # noqa: PLC0415

    held: list[Any] = []
    count = 0
    yielded = False
    empty = None  # the first empty item: when every item is empty, the engine says what is wrong with it
    for item in batches:
        df = _frame(item)
        if not df.height:
            empty = df if empty is None else empty
            continue
        held.append(df)
        count += df.height
        if count >= rows:
            yield held[0] if len(held) == 1 else pl.concat(held, how="diagonal_relaxed")
            held, count, yielded = [], 0, True
    if held:
        yield held[0] if len(held) == 1 else pl.concat(held, how="diagonal_relaxed")
    elif empty is not None and not yielded:
        yield empty


def _column(card: Any, name: str) -> str:
    """The data column of a record field (the scorecard's ``columns`` map data headers to fields)."""
    return next((header for header, field in card.columns.items() if field == name), name)


def _subject_keys(df: Any, card: Any) -> Any:
    """The subject column as the engines read it (text, stripped), for joins."""
    import polars as pl  # noqa: PLC0415

    column = _column(card, "subject")
    if column not in df.columns:
        return pl.Series(_KEY, [None] * df.height, dtype=pl.Utf8)
    return df[column].cast(pl.Utf8).str.strip_chars().alias(_KEY)


class Spill(Protocol):
    """Where the streaming executor keeps frames between its passes, by name."""

    def put(self, name: str, frame: Any) -> None:
        """Keep a Polars frame under ``name``."""

    def get(self, name: str) -> Any:
        """The frame kept under ``name``."""

    def drop(self, name: str) -> None:
        """Forget ``name``."""

    def close(self) -> None:
        """Forget everything (idempotent)."""


class MemorySpill:
    """Frames kept in memory as zstd-compressed Arrow IPC streams (a few dozen bytes a record of numbers)."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}

    def put(self, name: str, frame: Any) -> None:
        import pyarrow as pa  # noqa: PLC0415

        table = frame.to_arrow()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
            writer.write_table(table)
        self.kept[name] = sink.getvalue()

    def get(self, name: str) -> Any:
        import polars as pl  # noqa: PLC0415
        import pyarrow as pa  # noqa: PLC0415

        return pl.from_arrow(pa.ipc.open_stream(self.kept[name]).read_all())

    def drop(self, name: str) -> None:
        self.kept.pop(name, None)

    def close(self) -> None:
        self.kept.clear()


class _NoMap:
    columns: dict[str, str] = {}  # noqa: RUF012 - read only: no column map


@attrs.define
class _Batch:
    """What pass 1 keeps of one batch: its spill files and its subjects' exact rank keys."""

    index: int
    rows: str  # the spilled records
    subjects: str  # the spilled appraised subjects, in key order
    num: Any  # int64 (or object) numerators of the rank keys
    den: Any
    na: Any  # bool: the key is N/A (unranked)
    first_row: int  # the batch's first record, counted from 1 over every batch
    count: int  # appraised subjects


def _exact_parts(value: Any) -> tuple[int, int] | None:
    """``(num, den)`` of an exact number, ``None`` for N/A or a value that is not a number."""
    from kpi_engine._numbers import is_number  # noqa: PLC0415

    if value is None or isinstance(value, bool) or not is_number(value):
        return None
    f = Fraction(value)
    return f.numerator, f.denominator


def _keys(appraisal: Appraisal) -> tuple[list[str], Any, Any, Any]:
    """The appraised subjects and their exact rank keys (numerators, denominators, N/A mask)."""
    import numpy as np  # noqa: PLC0415

    from kpi_engine._columns import Ctx, Num  # noqa: PLC0415
    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    card = appraisal.scorecard
    assert card is not None
    results = appraisal.results
    if isinstance(results, ColumnarResults):
        subjects = list(results.subjects)
        n = len(subjects)
        col = results.scored.total if card.rank_by == "total" else results.env[card.rank_by]
        if not isinstance(col, Num):
            return subjects, np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64), np.ones(n, dtype=bool)
        ctx = Ctx(n)
        num, den = col.array(ctx)
        if ctx.bad.any():  # beyond int64: Python integers
            num, den = col.array(Ctx(n, exact=True))
        na = np.zeros(n, dtype=bool) if col.na is None else np.asarray(col.na, dtype=bool).copy()
        return subjects, np.asarray(num).copy(), np.asarray(den).copy(), na
    subjects = [r.subject for r in results]
    parts = [_exact_parts(_row_key(card, r)) for r in results]
    big = any(p is not None and max(abs(p[0]), p[1]) > _INT64_MAX for p in parts)
    dtype = object if big else np.int64
    num = np.array([0 if p is None else p[0] for p in parts], dtype=dtype)
    den = np.array([1 if p is None else p[1] for p in parts], dtype=dtype)
    na = np.array([p is None for p in parts], dtype=bool)
    return subjects, num, den, na


def _row_key(card: Any, r: SubjectResult) -> Any:
    if card.rank_by == "total":
        return r.total_exact
    if card.rank_by in r.metrics:
        return r.metrics[card.rank_by]
    msg = (
        f"the streaming engine cannot read the rank key '{card.rank_by}' of a batch the row executor "
        "evaluated; use engine='columnar'"
    )
    raise KpiError(msg)


@attrs.define
class Streamed:
    """A streaming run after its first pass: the period, the warnings, and the parts to come.

    Iterate ``parts()`` once: each item is ``(appraisal, records)``, an ``Appraisal`` of a rank range
    (global ranks, whole-run order) and the records it was computed from (a Polars frame, e.g. for
    the subjects' names). The temporary directory is removed when the parts are exhausted, when
    the iteration stops early (``close()``), or at ``close()``.
    """

    ruleset: Ruleset
    period: str
    warnings: tuple[Issue, ...]
    subjects: int
    options: dict[str, Any]
    _buckets: list[list[str]]  # per rank range, the spilled pieces
    _spill: Spill | None
    owners: frozenset[str] = frozenset()  # the event log's owners (``options["events"]``)

    def parts(self) -> Iterator[tuple[Appraisal, Any]]:
        """The appraisal in parts, in the ranked order of the whole run."""
        import polars as pl  # noqa: PLC0415

        sliced = sum(1 for names in self._buckets if names) > 1  # one range: the whole log, no index needed
        try:
            for names in self._buckets:
                if not names or self._spill is None:
                    continue
                pieces = [self._spill.get(name) for name in names]
                df = pieces[0] if len(pieces) == 1 else pl.concat(pieces, how="diagonal_relaxed")
                del pieces
                for name in names:
                    self._spill.drop(name)
                ranks = df.select(_KEY, _RANK).unique(_KEY)
                records = df.drop(_KEY, _RANK)
                del df
                elsewhere = _elsewhere(self.owners, records, self.ruleset.scorecard)
                appraisal = _appraise(self.ruleset, records, self.period, self.options, elsewhere, sliced=sliced)
                yield _with_ranks(appraisal, ranks), records
        finally:
            self.close()

    def close(self) -> None:
        """Release the spill (idempotent)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None


def _appraise(
    ruleset: Ruleset,
    records: Any,
    period: str | None,
    options: dict[str, Any],
    elsewhere: frozenset[str] = frozenset(),
    *,
    sliced: bool = False,
) -> Appraisal:
    """A batch appraised by the columnar executor (the row executor when the kernel refuses its input).

    ``elsewhere``: owners of events in ``options["events"]`` appraised by other batches (``_foreign``).
    ``sliced``: the log was read whole by an earlier batch; with an ``EventIndex`` this batch reads
    its subjects' events only.
    """
    from kpi_engine.errors import EngineRefusalError  # noqa: PLC0415
    from kpi_engine.evaluation._foreign import foreign  # noqa: PLC0415
    from kpi_engine.evaluation.engine import evaluate  # noqa: PLC0415 - the engine imports this module
    from kpi_engine.evaluation.screening import WHOLE_INPUT  # noqa: PLC0415

    given = {k: v for k, v in options.items() if k not in {_SUMS, _INDEX}}
    index = options.get(_INDEX)
    if sliced and index is not None:
        given["events"] = index.of(records, ruleset.scorecard)
    sums = options.get(_SUMS)
    token = WHOLE_INPUT.set(None if sums is None else sums.decide)  # a totals row by the whole input's sums
    try:
        with foreign(elsewhere):
            try:
                return evaluate(ruleset, records, period=period, engine="columnar", **given)
            except EngineRefusalError:
                # Valid input the kernel does not hold (a ratio above 1, a cell beyond its digits): that one
                # batch goes to the row executor, still bounded, instead of refusing the whole stream.
                return evaluate(ruleset, records, period=period, engine="row", **given)
    finally:
        WHOLE_INPUT.reset(token)


def _subject_set(df: Any, card: Any) -> set[str]:
    """The subjects of ``df``'s records (stripped text)."""
    return set(_subject_keys(df, card).drop_nulls().unique().to_list())


def _elsewhere(owners: frozenset[str], df: Any, card: Any) -> frozenset[str]:
    """The event owners that are not subjects of ``df``'s records (appraised by another batch)."""
    return owners - _subject_set(df, card) if owners else owners


def _with_ranks(appraisal: Appraisal, ranks: Any) -> Appraisal:
    """The appraisal with the global ranks (``ranks``: subject key → rank, 0 unranked), in ranked order."""
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    results = appraisal.results
    if isinstance(results, ColumnarResults):
        got = pl.DataFrame({_KEY: results.subjects}, schema={_KEY: pl.Utf8}).join(
            ranks, on=_KEY, how="left", maintain_order="left"
        )
        rank = got[_RANK].fill_null(0).to_numpy().astype(np.int64)
        results.rank = rank
        results.rank_in = np.zeros(len(rank), dtype=np.int64)
        names = np.array(results.subjects, dtype=object)
        results.order = np.lexsort((names, rank, rank == 0)) if len(rank) else np.zeros(0, dtype=np.int64)
        results._built = [None] * len(rank)  # noqa: SLF001 - nothing was built with the batch's ranks
        return attrs.evolve(appraisal, warnings=())
    table = dict(zip(ranks[_KEY].to_list(), ranks[_RANK].to_list(), strict=True))
    ranked = [attrs.evolve(r, rank=table.get(r.subject) or None, rank_in_parent=None) for r in results]
    ranked.sort(key=lambda r: (r.rank is None, r.rank or 0, r.subject))
    return attrs.evolve(appraisal, results=tuple(ranked), warnings=())


def stream(
    ruleset: Ruleset,
    batches: Iterable[Any],
    *,
    period: str | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    totals: Literal["refuse", "skip"] = "refuse",
    batch_rows: int | None = None,
    spill: Spill | None = None,
    events: Any = None,
) -> Streamed:
    """Run passes 1–3 over ``batches`` (consumed once, lazily); the parts come from ``parts()``.

    Args:
        ruleset: a loaded ruleset whose plan the streaming executor runs (``support("streaming")``).
        batches: record batches with ``subject``, ``period`` and the ruleset's inputs; consecutive
            small batches are joined up to ``batch_rows`` records (never split: a subject's rows
            stay together).
        period: the period to appraise (default: the latest, which every batch must agree on).
        strict: as ``evaluate``.
        allow_extra_columns: as ``evaluate``.
        totals: as ``evaluate`` (the column-sum evidence is the whole input's: ``_stream_totals``).
        batch_rows: records per batch evaluated at once (and twice the subjects of an output part)
            (default ``DEFAULT_BATCH_ROWS``).
        spill: where batches wait between the passes (``Spill``): default ``MemorySpill`` (compressed
            Arrow IPC in memory, a few dozen bytes a record); ``kpi_engine.io.spill.DirectorySpill``
            keeps them in a temporary directory, so that memory does not grow with the input.
        events: the event log (as ``evaluate``), held in memory whole, indexed by rep (``EventIndex``):
            the first batch reads all of it, the others their subjects' events (every batch all of
            it when a window pairs answers across reps); an owner appraised by no batch is reported
            once, as one run does.

    Raises:
        KpiError: the plan is not streamed (the reason), a subject in two batches, no record.
        DataError, EvaluationError: as ``evaluate`` (the message names the batch).
    """
    reason = refusal(ruleset)
    if reason is not None:
        raise KpiError(reason)
    batch_rows = DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows
    if batch_rows < 1:
        raise KpiError(f"batch_rows must be at least 1, not {batch_rows}")
    options: dict[str, Any] = {"strict": strict, "allow_extra_columns": allow_extra_columns, "totals": totals}
    if events is not None:
        options["events"] = events
        index = EventIndex.build(ruleset, events)
        if index is not None:
            options[_INDEX] = index
    store = spill if spill is not None else MemorySpill()
    try:
        return _passes(ruleset, batches, period, options, batch_rows, store)
    except BaseException:
        store.close()
        raise


def _passes(
    ruleset: Ruleset, batches: Iterable[Any], period: str | None, options: dict[str, Any], batch_rows: int, spill: Spill
) -> Streamed:
    """Passes 1–3 (see the module's docstring); the caller removes ``spill`` on an error."""
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    from kpi_engine._columns import Ctx, Num  # noqa: PLC0415
    from kpi_engine.plan.ops.ranks import competition_ranks  # noqa: PLC0415

    card = ruleset.scorecard
    kept: list[_Batch] = []
    hashes: list[Any] = []
    chosen: dict[str, int] = {}  # period → first batch that chose it
    warnings: list[Issue] = []
    seen_warnings: set[tuple[str, str]] = set()
    nothing: DataError | None = None  # a batch's "no subject to appraise": an error only if no batch has one
    owners = event_owners(options.get("events"))
    unseen = set(owners)  # event owners with no record in the batches so far
    first_row = 1
    for index, df in _batches(ruleset, batches, options, batch_rows, spill):
        rows = f"in_{index}"
        elsewhere = _elsewhere(owners, df, card)
        unseen &= elsewhere
        if period is not None and not _holds(df, period, card):
            # Only other periods' records (history of nobody here, or later rows): nothing to appraise,
            # as in one run; kept for the check that no subject is split.
            subjects: list[str] = []
            num, den, na = np.zeros(0, np.int64), np.ones(0, np.int64), np.zeros(0, bool)
        else:
            try:
                appraisal = _appraise(ruleset, df, period, options, elsewhere, sliced=bool(chosen))
            except DataError as exc:
                if not _nothing_to_appraise(exc, card):
                    raise _in_batch(exc, index, first_row, df.height) from None
                # Every row of the batch was left out (a totals row skipped …): its warnings, no subject.
                nothing = nothing or exc
                new = _screening_warnings(ruleset, df, period, options)
                subjects, num, den, na = [], np.zeros(0, np.int64), np.ones(0, np.int64), np.zeros(0, bool)
            except KpiError as exc:
                raise _in_batch(exc, index, first_row, df.height) from None
            else:
                chosen.setdefault(appraisal.period, index)
                new = list(appraisal.warnings)
                subjects, num, den, na = _keys(appraisal)
                del appraisal
            for w in new:
                if (w.code, w.message) not in seen_warnings:
                    seen_warnings.add((w.code, w.message))
                    warnings.append(w)
        subject_file = f"subjects_{index}"
        spill.put(subject_file, pl.DataFrame({_KEY: subjects}, schema={_KEY: pl.Utf8}))
        who = _subject_keys(df, card).drop_nulls().unique() if card.reads_history else pl.Series(subjects)
        hashes.append(who.hash(seed=0).to_numpy())
        kept.append(_Batch(index, rows, subject_file, num, den, na, first_row, len(subjects)))
        first_row += df.height
        del df, subjects, who
    if not kept:
        raise KpiError("evaluate_batches: no record batch was given")
    if not chosen:  # no batch had a subject to appraise: the run's own error
        if nothing is not None:
            raise nothing
        _appraise(ruleset, spill.get(kept[0].rows), period, options)
    if len(chosen) > 1:
        shown = ", ".join(f"{p} (batch {i + 1})" for p, i in sorted(chosen.items()))
        msg = (
            f"the record batches choose different periods ({shown}); choose the period to appraise "
            "(--period, or period=...)"
        )
        raise DataError(msg)
    the_period = next(iter(chosen))
    _check_split(kept, hashes, spill, card, whole=card.reads_history)
    if unseen:  # events of reps no batch holds: the first batch, with them as its own, says what one run says
        first = spill.get(kept[0].rows)
        _appraise(ruleset, first, the_period, options, owners - unseen - _subject_set(first, card))
    del hashes

    # Pass 2: global ranks over every exact key.
    big = any(b.num.dtype.kind == "O" or b.den.dtype.kind == "O" for b in kept)
    dtype = object if big else np.int64
    num = np.concatenate([b.num.astype(dtype) for b in kept])
    den = np.concatenate([b.den.astype(dtype) for b in kept])
    na = np.concatenate([b.na for b in kept])
    n = len(num)
    for b in kept:
        b.num = b.den = b.na = None
    ctx = Ctx(n, exact=big)
    key = Num(num, den, na if na.any() else None)
    rank = competition_ranks(ctx, key, None, lower_first=card.rank_lower_first) if n else np.zeros(0, np.int64)
    del num, den, key
    offsets = np.cumsum([0, *(b.count for b in kept)])
    bucket = _ranges(rank, max(1, batch_rows // 2), kept, offsets, spill)
    buckets: list[list[str]] = [[] for _ in range(int(bucket.max()) + 1 if n else 0)]

    # Pass 3: each batch's rows to the rank range of their subject.
    for b, start in zip(kept, offsets[:-1], strict=False):
        count = b.count
        table = spill.get(b.subjects).with_columns(
            pl.Series(_RANK, rank[start : start + count]), pl.Series(_BUCKET, bucket[start : start + count])
        )
        records = spill.get(b.rows)
        records = records.with_columns(_subject_keys(records, card)).join(
            table, on=_KEY, how="inner", maintain_order="left"
        )
        for (k,), part in records.partition_by(_BUCKET, as_dict=True, maintain_order=True).items():
            name = f"range_{int(k)}_{b.index}"
            spill.put(name, part.drop(_BUCKET))
            buckets[int(k)].append(name)
        del records, table
        spill.drop(b.rows)
        spill.drop(b.subjects)
    return Streamed(ruleset, the_period, tuple(warnings), n, {**options}, buckets, spill, owners)


def _batches(
    ruleset: Ruleset, batches: Iterable[Any], options: dict[str, Any], batch_rows: int, spill: Spill
) -> Iterator[tuple[int, Any]]:
    """The coalesced batches, each spilled as ``in_<index>``; with column sums to judge, read twice.

    A scorecard with two additive inputs can have a totals row by column sums: every batch is read
    and spilled first, its sums added up (``_stream_totals``), then the batches are read back from
    the spill, with the whole input's sums in ``options`` for every batch's screening.
    """
    from kpi_engine.evaluation._stream_totals import ColumnSums, checks_totals  # noqa: PLC0415

    if not (WHOLE_INPUT_TOTALS and checks_totals(ruleset.scorecard)):
        for index, df in enumerate(_coalesced(batches, batch_rows)):
            spill.put(f"in_{index}", df)
            yield index, df
        return
    sums = ColumnSums(ruleset.scorecard)
    count = 0
    for index, df in enumerate(_coalesced(batches, batch_rows)):
        spill.put(f"in_{index}", df)
        sums.add(df)
        count = index + 1
        del df
    sums.finish()
    options[_SUMS] = sums
    for index in range(count):
        yield index, spill.get(f"in_{index}")


def _ranges(rank: Any, part: int, kept: Sequence[Any], offsets: Any, spill: Spill) -> Any:
    """Each subject's output range (nondecreasing in the run's order: rank, then subject; unranked last).

    A run of equal ranks longer than ``part`` subjects (a tie, the unranked) is cut by subject, read
    from the spill for those subjects only; any other run stays whole in the range where it starts.
    """
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    n = len(rank)
    if not n:
        return np.zeros(0, dtype=np.int64)
    group = np.where(rank > 0, rank, int(rank.max()) + 1)  # the unranked come last
    counts = np.bincount(group)
    first = np.cumsum(counts) - counts  # each group's first position in the run's order
    bucket = first[group] // part
    long = counts[group] > part
    if long.any():  # positions within the long groups, by subject
        pieces = []
        for b, start in zip(kept, offsets[:-1], strict=False):
            mine = np.flatnonzero(long[start : start + b.count])
            if len(mine):
                names = spill.get(b.subjects)[_KEY].gather(mine)
                pieces.append(pl.DataFrame({"g": group[start + mine], "s": names, "at": start + mine}))
        tied = pl.concat(pieces).sort("g", "s")
        g, at = tied["g"].to_numpy(), tied["at"].to_numpy()
        within = np.arange(len(g)) - np.searchsorted(g, g)  # position within its group
        bucket[at] = (first[g] + within) // part
    return bucket


def _nothing_to_appraise(exc: DataError, card: Any) -> bool:
    """Whether a batch's error only says that it holds no subject to appraise (the run may hold some)."""
    text = str(exc.args[0]) if exc.args else ""
    return text.startswith(("no records to evaluate", f"no {card.subject} has data for period"))


def _screening_warnings(ruleset: Ruleset, df: Any, period: str | None, options: dict[str, Any]) -> list[Issue]:
    """The warnings screening gives a batch (rows left out), as its run would have given them."""
    from kpi_engine.evaluation.engine import screen_inputs  # noqa: PLC0415 - the engine imports this module
    from kpi_engine.evaluation.screening import WHOLE_INPUT  # noqa: PLC0415

    sums = options.get(_SUMS)
    token = WHOLE_INPUT.set(None if sums is None else sums.decide)
    try:
        screened = screen_inputs(
            ruleset, df, None, None, period, options["allow_extra_columns"], options["totals"], "error"
        )
    except KpiError:
        return []
    finally:
        WHOLE_INPUT.reset(token)
    return list(screened.warnings)


def _holds(df: Any, period: str, card: Any) -> bool:
    """Whether a batch may hold records of ``period`` (``False`` only when every period cell reads as another)."""
    import polars as pl  # noqa: PLC0415

    from kpi_engine.time.periods import Period  # noqa: PLC0415

    column = _column(card, "period")
    if column not in df.columns:
        return True
    try:
        wanted = Period.parse(period, card.period)
        texts = df[column].cast(pl.Utf8).str.strip_chars().unique().to_list()
        return any(t is None or t == "" or Period.parse(t, card.period) == wanted for t in texts)
    except (ValueError, pl.exceptions.PolarsError):
        return True  # a cell the engine will report


def _in_batch(exc: KpiError, index: int, first_row: int, rows: int) -> KpiError:
    """The batch's error, saying which batch (rows are counted within it)."""
    where = f" (in record batch {index + 1}: records {first_row}–{first_row + rows - 1}; rows counted within the batch)"
    try:
        exc.args = (f"{exc.args[0]}{where}", *exc.args[1:]) if exc.args else (where,)
    except (AttributeError, TypeError):  # pragma: no cover - an error class with fixed arguments
        return exc
    return exc


def _check_split(kept: Sequence[_Batch], hashes: list[Any], spill: Spill, card: Any, *, whole: bool) -> None:
    """A subject in two batches is refused (``whole``: any record; else an appraised subject)."""
    import numpy as np  # noqa: PLC0415

    if len(hashes) < 2:  # noqa: PLR2004 - one batch cannot split a subject
        return
    every = np.concatenate(hashes)
    h = np.sort(every)
    dup = np.flatnonzero(h[1:] == h[:-1])
    if not len(dup):
        return
    suspects = set(h[dup].tolist())
    found: dict[str, list[int]] = {}
    for b in kept:  # a hash collision is not a split: confirm by name
        source = spill.get(b.rows) if whole else spill.get(b.subjects)
        names = (_subject_keys(source, card) if whole else source[_KEY]).drop_nulls().unique()
        hit = names.filter(names.hash(seed=0).is_in(list(suspects)))
        for s in hit.to_list():
            found.setdefault(s, []).append(b.index + 1)
    split = {s: where for s, where in found.items() if len(where) > 1}
    if not split:
        return
    shown = "; ".join(f"'{s}' in batches {', '.join(map(str, w))}" for s, w in sorted(split.items())[:5])
    more = f" and {len(split) - 5} more" if len(split) > 5 else ""  # noqa: PLR2004
    need = "every record of a subject" if whole else "each appraised subject"
    msg = (
        f"the streaming engine needs {need} in one record batch: {shown}{more}; "
        "group the records by subject (or use evaluate(..., engine='streaming'), which does)"
    )
    raise KpiError(msg)


def partition_by_subject(records: Any, batch_rows: int | None = None, card: Any = None) -> Iterator[Any]:
    """A whole table as batches of about ``batch_rows`` records, every subject's rows in one batch."""
    df = _frame(records)
    parts = max(1, -(-df.height // (batch_rows or DEFAULT_BATCH_ROWS)))
    if parts == 1:
        yield df
        return
    keys = _subject_keys(df, card).fill_null("") if card is not None else _subject_keys(df, _NoMap).fill_null("")
    group = (keys.hash(seed=0) % parts).alias(_BUCKET)
    for part in df.with_columns(group).partition_by(_BUCKET, maintain_order=True):
        yield part.drop(_BUCKET)


class _Chained(Sequence[SubjectResult]):
    """The parts' results read as one sequence, in ranked order."""

    def __init__(self, parts: list[Sequence[SubjectResult]]) -> None:
        self.parts = parts
        self.starts = [0]
        for p in parts:
            self.starts.append(self.starts[-1] + len(p))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        import bisect  # noqa: PLC0415

        p = bisect.bisect_right(self.starts, i) - 1
        return self.parts[p][i - self.starts[p]]

    def __iter__(self) -> Iterator[SubjectResult]:
        for p in self.parts:
            yield from p

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def appraise(
    ruleset: Ruleset,
    records: Any,
    *,
    period: str | None = None,
    strict: bool = False,
    allow_extra_columns: bool = False,
    totals: Literal["refuse", "skip"] = "refuse",
    batch_rows: int | None = None,
    members: Any = None,
    unlisted: Literal["error", "exclude"] = "error",
    events: Any = None,
) -> Appraisal:
    """A whole table (a frame, Python rows, row tables) partitioned by subject, streamed, held as one appraisal.

    What ``evaluate(..., engine="streaming")`` runs; ``batch_rows`` as ``stream``. With ``members``,
    the records are grouped by membership tree (``_stream_trees``).
    """
    frame = records if is_frame(records) and not isinstance(records, list | tuple) else _text_frame(records)
    if members is not None:
        from kpi_engine.evaluation._stream_trees import stream_trees  # noqa: PLC0415

        roster = roster_frame(members)
        if frame is None or roster is None:
            given: dict[str, Any] = {"strict": strict, "allow_extra_columns": allow_extra_columns, "totals": totals}
            return _appraise(
                ruleset, records, period, {**given, "members": members, "unlisted": unlisted, "events": events}
            )
        rows = DEFAULT_BATCH_ROWS if batch_rows is None else batch_rows
        options: dict[str, Any] = {
            "strict": strict,
            "allow_extra_columns": allow_extra_columns,
            "totals": totals,
            "unlisted": unlisted,
        }
        if events is not None:
            options["events"] = events
        spill = MemorySpill()
        try:
            _, _, appraisal = stream_trees(
                ruleset, [frame], roster, period=period, options=options, batch_rows=rows, spill=spill, keep=True
            )
        finally:
            spill.close()
        result: Appraisal = appraisal
        return result
    if frame is None:  # a cell no table holds exactly: the columnar run reports it where it is
        return _appraise(ruleset, records, period, {"strict": strict, "allow_extra_columns": allow_extra_columns,
                                                    "totals": totals, "events": events})  # fmt: skip
    run = stream(
        ruleset, partition_by_subject(frame, batch_rows, ruleset.scorecard), period=period, strict=strict,
        allow_extra_columns=allow_extra_columns, totals=totals, batch_rows=batch_rows, events=events,
    )  # fmt: skip
    return streamed_appraisal(run)


def roster_frame(members: Any) -> Any:
    """Membership rows (a frame, Python rows, a row table) as a Polars frame; ``None``: a cell has no text."""
    return _frame(members) if is_frame(members) and not isinstance(members, list | tuple) else _text_frame(members)


def _text_frame(records: Any) -> Any:
    """Python rows or row tables as a Polars frame of cell text (as a CSV holds them); ``None``: a cell has no text."""
    import polars as pl  # noqa: PLC0415

    from kpi_engine.evaluation.frames import Frame, cell_text  # noqa: PLC0415

    if isinstance(records, Frame):
        return records.data
    if isinstance(records, Table):
        records = [records]
    tables = records if isinstance(records, list | tuple) and records and isinstance(records[0], Table) else None
    rows = [r for t in tables for _, r in t.rows] if tables else [r for _, r in Table.from_rows(records).rows]
    columns: dict[str, None] = {}
    for r in rows:
        columns.update(dict.fromkeys(r))
    try:
        data = {c: [cell_text(r.get(c)) for r in rows] for c in columns}
    except ValueError:
        return None
    return pl.DataFrame(data, schema=dict.fromkeys(columns, pl.Utf8))


def streamed_appraisal(streamed: Streamed) -> Appraisal:
    """Every part of a streaming run held as one ``Appraisal`` (``evaluate(..., engine="streaming")``)."""
    parts = [a for a, _ in streamed.parts()]
    if len(parts) == 1:
        return attrs.evolve(parts[0], warnings=streamed.warnings)
    if not parts:  # pragma: no cover - a run appraises at least one subject
        raise KpiError("no subject was appraised")
    return attrs.evolve(parts[0], results=_Chained([p.results for p in parts]), warnings=streamed.warnings)
