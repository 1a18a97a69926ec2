"""The streaming executor with membership rows: records regrouped by membership tree, ranks global.

With ``members`` (team, department and company scorecards, or reps ranked within their team), a
subject's figures need its whole subtree (members' records, rollups, member shares, each period's
membership), and its rank within the parent needs its parent's other members. The membership
rows are held in memory (one row per member and period); records are streamed:

1. The membership graph's connected components (every period's rows: a rep who moved between
   teams joins both) are found by label propagation over integer node ids. A component is a whole
   tree (a department with its teams and reps, or a company), so evaluating it alone gives the
   same figures as one run, ranks within the parent included.
2. Pass 0: each record batch is split by component into ``K`` groups (about ``batch_rows`` nodes
   each) and spilled; a record whose subject is on no membership row goes to the first group, whose
   roster judges it as one run would (unlisted, a totals row).
3. Pass 1: each group, with its membership rows, is appraised by the columnar executor; its
   subjects' exact rank keys are kept, and its results (the long table for ``evaluate_batches``,
   the result objects for ``evaluate``) are kept with the rank within the parent as computed.
4. Pass 2: the global ranks (``competition_ranks`` over every key), then the output in the run's
   order: the long tables' rows are redistributed by range of that order and each range sorted.

An event log is held whole and given to every group (windows pair across the whole log); the
events of reps of other groups' trees are not orphans in a group, and those of reps on no
membership row are judged with the first group, as their records are.

Memory: the membership rows (and the event log) plus one group; a component larger than a group (a company tree) is
one group, so bounded by the largest tree.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

from kpi_engine.errors import DataError, Issue, KpiError
from kpi_engine.evaluation.results import Appraisal, SubjectResult
from kpi_engine.language.build import Ruleset

_KEY = "__kpi_stream_key"
_PART = "__kpi_stream_part"
_MAX_ROUNDS = 200  # label propagation: a tree of depth 16 settles in well under this


def components(members: Any) -> Any:
    """Node (text) → component id (int64) of the membership rows ``member``, ``parent`` (any period)."""
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    m = members["member"].cast(pl.Utf8).str.strip_chars()
    u = members["parent"].cast(pl.Utf8).str.strip_chars()
    nodes = pl.concat([m, u]).drop_nulls().unique().sort()
    index = pl.DataFrame({_KEY: nodes, "i": pl.int_range(len(nodes), eager=True)})
    edges = pl.DataFrame({"m": m, "u": u}).drop_nulls()
    mi = edges.join(index, left_on="m", right_on=_KEY, how="left", maintain_order="left")["i"].to_numpy()
    ui = edges.join(index, left_on="u", right_on=_KEY, how="left", maintain_order="left")["i"].to_numpy()
    label = np.arange(len(nodes), dtype=np.int64)
    for _ in range(_MAX_ROUNDS):
        low = np.minimum(label[mi], label[ui])
        before = label.copy()
        np.minimum.at(label, mi, low)
        np.minimum.at(label, ui, low)
        label = label[label]  # jump: a label's own label (halves the rounds on long chains)
        if np.array_equal(label, before):
            break
    return index.with_columns(pl.Series("c", label)).drop("i")


@attrs.define
class _Group:
    index: int
    pieces: list[str]
    members: Any
    subjects: str = ""
    output: str = ""
    num: Any = None
    den: Any = None
    na: Any = None
    count: int = 0
    appraisal: Appraisal | None = None


def stream_trees(
    ruleset: Ruleset,
    batches: Iterable[Any],
    members: Any,
    *,
    period: str | None,
    options: dict[str, Any],
    batch_rows: int,
    spill: Any,
    keep: bool,
) -> tuple[str, tuple[Issue, ...], Any]:
    """Passes 0–2; returns the period, the warnings and the output (``keep``: an ``Appraisal``, else parts).

    ``options`` are ``evaluate``'s (strict, allow_extra_columns, totals, unlisted).
    """
    import numpy as np  # noqa: PLC0415
    import polars as pl  # noqa: PLC0415

    from kpi_engine._columns import Ctx, Num  # noqa: PLC0415
    from kpi_engine.evaluation import streaming as st  # noqa: PLC0415
    from kpi_engine.plan.ops.ranks import competition_ranks  # noqa: PLC0415

    card = ruleset.scorecard
    roster = st._frame(members)  # noqa: SLF001
    for column in ("member", "parent"):
        if column not in roster.columns:  # the engine's own error for membership rows
            st._appraise(ruleset, [], period, {**options, "members": members})  # noqa: SLF001
            raise KpiError(f"membership rows need a '{column}' column")
    comp = components(roster)
    owners = st.event_owners(options.get("events"))
    # Events of a rep on no membership row are judged with the first tree, as its records are.
    listed = set(comp[_KEY].to_list()) if owners else set()
    groups_n = max(1, -(-comp.height // batch_rows))
    comp = comp.with_columns((pl.col("c") % groups_n).alias(_PART)).drop("c")
    member_part = (
        roster["member"]
        .cast(pl.Utf8)
        .str.strip_chars()
        .to_frame(_KEY)
        .join(comp, on=_KEY, how="left", maintain_order="left")[_PART]
    )
    member_part = member_part.fill_null(0)  # a blank member: the engine reports it, in the first group
    groups = [_Group(k, [], roster.filter(member_part == k)) for k in range(groups_n)]

    # Pass 0: records to the group of their subject's tree.
    seen = False
    for index, item in enumerate(batches):
        df = st._frame(item)  # noqa: SLF001
        seen = True
        if not df.height:
            continue
        keys = st._subject_keys(df, card)  # noqa: SLF001
        part = keys.to_frame().join(comp, on=_KEY, how="left", maintain_order="left")[_PART]
        # A subject on no membership row goes with the first tree: the roster there judges it as one run
        # would (an unlisted subject, a totals row, a row of the level above).
        df = df.with_columns(part.fill_null(0).alias(_PART))
        for (k,), piece in df.partition_by(_PART, as_dict=True, maintain_order=True).items():
            name = f"g{int(k)}_{index}"
            spill.put(name, piece.drop(_PART))
            groups[int(k)].pieces.append(name)
    if not seen:
        raise KpiError("evaluate_batches: no record batch was given")

    # Pass 1: each group appraised with its membership rows.
    chosen: dict[str, int] = {}
    warnings: list[Issue] = []
    nothing: DataError | None = None
    live: list[_Group] = []
    for g in groups:
        if not g.pieces:
            continue
        frames = [spill.get(name) for name in g.pieces]
        records = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
        for name in g.pieces:
            spill.drop(name)
        own = st._subject_set(records, card) | set(pl.concat([  # noqa: SLF001
            g.members["member"].cast(pl.Utf8), g.members["parent"].cast(pl.Utf8)
        ]).str.strip_chars().drop_nulls().to_list()) if owners else set()  # fmt: skip
        if g is live_first(groups):
            own |= owners - listed
        elsewhere = frozenset(owners - own)
        try:
            roster_rows = g.members.to_dicts()  # membership rows as the engines take them
            appraisal = st._appraise(ruleset, records, period, {**options, "members": roster_rows}, elsewhere)  # noqa: SLF001
        except DataError as exc:
            if not st._nothing_to_appraise(exc, card):  # noqa: SLF001
                raise
            nothing = nothing or exc
            continue
        chosen.setdefault(appraisal.period, g.index)
        for w in appraisal.warnings:
            if w not in warnings:
                warnings.append(w)
        subjects, g.num, g.den, g.na = st._keys(appraisal)  # noqa: SLF001
        g.count = len(subjects)
        g.subjects = f"s{g.index}"
        spill.put(g.subjects, pl.DataFrame({_KEY: subjects}, schema={_KEY: pl.Utf8}))
        if keep:
            g.appraisal = appraisal
        else:
            from kpi_engine.evaluation.columnar._batches import long_table  # noqa: PLC0415

            g.output = f"o{g.index}"
            spill.put(g.output, long_table(appraisal).with_row_index("__kpi_stream_row"))
        live.append(g)
        del appraisal, records
    if not chosen:
        if nothing is not None:
            raise nothing
        st._appraise(ruleset, [], period, {**options, "members": members})  # noqa: SLF001
        raise KpiError("no subject was appraised")
    if len(chosen) > 1:
        shown = ", ".join(sorted(chosen))
        raise DataError(f"the membership trees choose different periods ({shown}); choose the period to appraise")
    the_period = next(iter(chosen))

    # Pass 2: global ranks.
    big = any(g.num.dtype.kind == "O" or g.den.dtype.kind == "O" for g in live)
    dtype = object if big else np.int64
    num = np.concatenate([g.num.astype(dtype) for g in live])
    den = np.concatenate([g.den.astype(dtype) for g in live])
    na = np.concatenate([g.na for g in live])
    n = len(num)
    key = Num(num, den, na if na.any() else None)
    rank = competition_ranks(Ctx(n, exact=big), key, None, lower_first=card.rank_lower_first)
    del num, den, key
    offsets = np.cumsum([0, *(g.count for g in live)])
    if keep:
        parts = []
        for g, start in zip(live, offsets[:-1], strict=False):
            assert g.appraisal is not None
            parts.append(_ranked(g.appraisal, rank[start : start + g.count]))
        first = parts[0]
        merged = _Merged([p.results for p in parts])
        return the_period, tuple(warnings), attrs.evolve(first, results=merged, warnings=tuple(warnings))
    bucket = st._ranges(rank, max(1, batch_rows // 2), live, offsets, spill)  # noqa: SLF001
    ranges: list[list[str]] = [[] for _ in range(int(bucket.max()) + 1 if n else 0)]
    for g, start in zip(live, offsets[:-1], strict=False):
        table = spill.get(g.subjects).with_columns(
            pl.Series("__kpi_stream_rank", rank[start : start + g.count]),
            pl.Series(_PART, bucket[start : start + g.count]),
        )
        rows = spill.get(g.output).join(
            table, left_on="subject", right_on=_KEY, how="left", maintain_order="left"
        )  # fmt: skip
        for (k,), piece in rows.partition_by(_PART, as_dict=True, maintain_order=True).items():
            name = f"r{int(k)}_{g.index}"
            spill.put(name, piece.drop(_PART))
            ranges[int(k)].append(name)
        spill.drop(g.output)
        spill.drop(g.subjects)
    return the_period, tuple(warnings), _parts(ranges, spill)


def live_first(groups: Sequence[_Group]) -> _Group | None:
    """The first group holding records (where records and events of reps on no membership row go)."""
    return next((g for g in groups if g.pieces), None)


def _parts(ranges: list[list[str]], spill: Any) -> Iterator[Any]:
    """Each range's long-table rows in the run's order (unranked last, rank, subject, KPI), with ranks."""
    import polars as pl  # noqa: PLC0415

    try:
        for names in ranges:
            if not names:
                continue
            pieces = [spill.get(name) for name in names]
            for name in names:
                spill.drop(name)
            rows = pl.concat(pieces, how="diagonal_relaxed")
            rank = pl.col("__kpi_stream_rank")
            yield (
                rows.sort(rank == 0, rank, "subject", "__kpi_stream_row")
                .with_columns(pl.when(rank > 0).then(rank.cast(pl.Utf8)).otherwise(pl.lit("")).alias("rank"))
                .drop("__kpi_stream_rank", "__kpi_stream_row")
            )
    finally:
        spill.close()


def _ranked(appraisal: Appraisal, rank: Any) -> Appraisal:
    """The group's appraisal with the global ranks (the rank within the parent is the group's own)."""
    import numpy as np  # noqa: PLC0415

    from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

    results = appraisal.results
    if isinstance(results, ColumnarResults):
        results.rank = np.asarray(rank, dtype=np.int64)
        names = np.array(results.subjects, dtype=object)
        results.order = np.lexsort((names, results.rank, results.rank == 0)) if len(names) else results.order
        results._built = [None] * len(names)  # noqa: SLF001 - nothing was built with the group's ranks
        return appraisal
    by_subject = dict(zip([r.subject for r in results], rank.tolist(), strict=True))  # ``_keys``' order
    ranked = [attrs.evolve(r, rank=by_subject[r.subject] or None) for r in results]
    ranked.sort(key=lambda r: (r.rank is None, r.rank or 0, r.subject))
    return attrs.evolve(appraisal, results=tuple(ranked))


class _Merged(Sequence[SubjectResult]):
    """The groups' results merged into the run's order (unranked last, rank, subject)."""

    def __init__(self, parts: list[Sequence[SubjectResult]]) -> None:
        self.parts = parts

        def keyed(p: int) -> Iterator[tuple[bool, int, str, int, int]]:
            from kpi_engine.evaluation.columnar._results import ColumnarResults  # noqa: PLC0415

            results = parts[p]
            if isinstance(results, ColumnarResults):  # from the columns: no result object built
                ranks = results.rank[results.order].tolist()
                names = [results.subjects[j] for j in results.order.tolist()]
                for j, (rank, name) in enumerate(zip(ranks, names, strict=True)):
                    yield (rank == 0, rank, name, p, j)
                return
            for j, r in enumerate(results):
                yield (r.rank is None, r.rank or 0, r.subject, p, j)

        self.at = [(p, j) for *_, p, j in heapq.merge(*(keyed(p) for p in range(len(parts))))]

    def __len__(self) -> int:
        return len(self.at)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(len(self))))
        p, j = self.at[i]
        return self.parts[p][j]

    def __iter__(self) -> Iterator[SubjectResult]:
        for p, j in self.at:
            yield self.parts[p][j]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]
