"""Membership rows for the kernel: validation, heights, the appraised subjects and their parents.

The row executor (``records.prepare_members``, ``row.RowRun``) is the reference. Membership
rows are checked here over whole columns; whatever the row path would report as an error (a
cycle, a chain deeper than ``MAX_HIERARCHY_DEPTH``, an unknown member, an orphan record or event)
raises ``UnusualError`` so that the row path reports it with its location. A node's height in a
period is 0 without members, else one more than its highest member; the subjects of a run are
the nodes (a record, or members, in the period) whose height is the scorecard's level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kpi_engine._columns import Arr, UnusualError
from kpi_engine.errors import Issue
from kpi_engine.evaluation import checks
from kpi_engine.evaluation.records import MAX_HIERARCHY_DEPTH
from kpi_engine.language.model import Scorecard
from kpi_engine.time.periods import Period


class Hierarchy:
    """Validated membership rows (``member``, ``parent``, canonical period text) of every period."""

    def __init__(self, member: Any, parent: Any, period: Any, known: Any) -> None:
        """Validate the rows the way ``prepare_members`` does; ``known``: subjects with a record in any period.

        Raises:
            UnusualError: for anything the row path reports (it gives the located message).
        """
        import polars as pl  # noqa: PLC0415

        self.rows = pl.DataFrame({"m": member, "u": parent, "k": period})
        unknown = ~self.rows["m"].is_in(known.unique().implode()) & ~self.rows["m"].is_in(self.rows["u"].implode())
        if unknown.any():
            raise UnusualError("a member with no record and no members")
        self._by_period: dict[str, Any] = {}
        self._check_chains()

    def _check_chains(self) -> None:
        """No cycle and no chain longer than ``MAX_HIERARCHY_DEPTH`` (pointer jumping over all periods)."""
        import polars as pl  # noqa: PLC0415

        if not self.rows.height:
            return
        keyed = self.rows.select(
            (pl.col("m") + "\x1f" + pl.col("k")).alias("a"), (pl.col("u") + "\x1f" + pl.col("k")).alias("b")
        )
        names = pl.concat([keyed["a"], keyed["b"]]).unique().to_frame("x").with_row_index("id")
        ids = keyed.join(names.rename({"x": "a", "id": "ia"}), on="a")
        ids = ids.join(names.rename({"x": "b", "id": "ib"}), on="b")
        up = np.full(names.height, -1, dtype=np.int64)
        up[ids["ia"].to_numpy()] = ids["ib"].to_numpy()
        cur = np.arange(names.height, dtype=np.int64)
        for _ in range(MAX_HIERARCHY_DEPTH + 1):  # a 17th ancestor: deeper than allowed, or a cycle
            cur = np.where(cur >= 0, up[np.maximum(cur, 0)], -1)
        if (cur >= 0).any():
            raise UnusualError("a membership cycle or an over-deep chain")

    def at(self, period: Period) -> Any:
        """The rows of ``period`` as a frame ``m`` (member), ``u`` (parent)."""
        import polars as pl  # noqa: PLC0415

        key = str(period)
        if key not in self._by_period:
            self._by_period[key] = self.rows.filter(pl.col("k") == key).select("m", "u")
        return self._by_period[key]

    def pointers(self, period: Period, nodes: list[str]) -> tuple[Any, Arr, Arr]:
        """Integer codes of every name in ``period``: the names, each code's parent (-1: none), the nodes' codes."""
        import polars as pl  # noqa: PLC0415

        rows = self.at(period)
        given = pl.Series(nodes, dtype=pl.Utf8)
        names = pl.concat([given, rows["m"], rows["u"]]).unique().to_frame("x").with_row_index("id")
        ids = rows.join(names.rename({"x": "m", "id": "c"}), on="m").join(names.rename({"x": "u", "id": "p"}), on="u")
        up = np.full(names.height, -1, dtype=np.int64)
        up[ids["c"].to_numpy().astype(np.int64)] = ids["p"].to_numpy().astype(np.int64)
        mine = given.to_frame("x").with_row_index("i").join(names, on="x").sort("i")["id"].to_numpy()
        return names["x"], up, mine.astype(np.int64)

    def heights(self, period: Period, nodes: list[str]) -> dict[str, int]:
        """Each node's height in ``period`` (members are found through the period's rows)."""
        _, up, mine = self.pointers(period, nodes)
        child = np.flatnonzero(up >= 0)
        h = np.zeros(len(up), dtype=np.int64)
        for _ in range(MAX_HIERARCHY_DEPTH + 1):
            new = h.copy()
            np.maximum.at(new, up[child], h[child] + 1)
            if (new == h).all():
                break
            h = new
        return dict(zip(nodes, h[mine].tolist(), strict=True))

    def parents(self, period: Period) -> dict[str, str]:
        rows = self.at(period)
        return dict(zip(rows["m"].to_list(), rows["u"].to_list(), strict=True))


def subjects_at(card: Scorecard, hierarchy: Hierarchy | None, period: Period, with_record: list[str]) -> list[str]:
    """The subjects the row path appraises in ``period`` (``RowRun.subjects``), sorted."""
    level = checks.LEVELS.index(card.subject)
    if hierarchy is None:
        return sorted(with_record) if level == 0 else []
    rows = hierarchy.at(period)
    nodes = set(with_record) | set(rows["u"].to_list())
    if level == 0:
        return sorted(nodes - set(rows["u"].to_list()))
    heights = hierarchy.heights(period, sorted(nodes))
    return sorted(n for n, h in heights.items() if h == level)


def reaches(hierarchy: Hierarchy | None, period: Period, nodes: list[str], appraised: set[str]) -> list[bool]:
    """Whether each node is appraised or rolls up into an appraised subject (``RowRun.check_orphans``)."""
    if hierarchy is None:
        return [node in appraised for node in nodes]
    names, up, cur = hierarchy.pointers(period, nodes)
    target = names.is_in(sorted(appraised)).to_numpy()
    ok = target[cur] if len(cur) else np.zeros(0, dtype=bool)
    for _ in range(MAX_HIERARCHY_DEPTH + 1):  # chains are checked: no cycle, at most this deep
        cur = np.where(ok | (cur < 0), cur, up[np.maximum(cur, 0)])
        ok |= (cur >= 0) & target[np.maximum(cur, 0)]
    result: list[bool] = ok.tolist()
    return result


def roster_warnings(hierarchy: Hierarchy | None, period: Period, with_record: set[str]) -> list[Issue]:
    """The row path's ``no_record`` warnings: roster members with neither a record nor members."""
    if hierarchy is None:
        return []
    rows = hierarchy.at(period)
    parents = set(rows["u"].to_list())
    lonely = [
        (m, u)
        for m, u in zip(rows["m"].to_list(), rows["u"].to_list(), strict=True)
        if m not in with_record and m not in parents
    ]
    return checks.roster_warnings(period, lonely)
