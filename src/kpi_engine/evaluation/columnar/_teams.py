"""Membership rows for the kernel: validation, heights, the appraised subjects and their parents.

The row path (``records.prepare_members``, ``engine._Evaluator``) is the reference. Membership
rows are checked here over whole columns; whatever the row path would report as an error (a
cycle, a chain deeper than ``MAX_HIERARCHY_DEPTH``, an unknown member, an orphan record or event)
raises ``UnusualError`` so that the row path reports it with its location. A node's height in a
period is 0 without members, else one more than its highest member; the subjects of a run are
the nodes (a record, or members, in the period) whose height is the scorecard's level.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kpi_engine.errors import Issue
from kpi_engine.evaluation.columnar._ingest import UnusualError
from kpi_engine.evaluation.records import MAX_HIERARCHY_DEPTH
from kpi_engine.language.model import Scorecard
from kpi_engine.time.periods import Period

LEVELS = ("rep", "team", "department", "company")


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

    def heights(self, period: Period, nodes: list[str]) -> dict[str, int]:
        """Each node's height in ``period`` (members are found through the period's rows)."""
        rows = self.at(period)
        names = sorted(set(nodes) | set(rows["m"].to_list()) | set(rows["u"].to_list()))
        code = {name: i for i, name in enumerate(names)}
        child = np.array([code[x] for x in rows["m"].to_list()], dtype=np.int64)
        up = np.array([code[x] for x in rows["u"].to_list()], dtype=np.int64)
        h = np.zeros(len(names), dtype=np.int64)
        for _ in range(MAX_HIERARCHY_DEPTH + 1):
            new = h.copy()
            np.maximum.at(new, up, h[child] + 1)
            if (new == h).all():
                break
            h = new
        return {name: int(h[code[name]]) for name in nodes}

    def parents(self, period: Period) -> dict[str, str]:
        rows = self.at(period)
        return dict(zip(rows["m"].to_list(), rows["u"].to_list(), strict=True))


def subjects_at(card: Scorecard, hierarchy: Hierarchy | None, period: Period, with_record: list[str]) -> list[str]:
    """The subjects the row path appraises in ``period`` (``_Evaluator.subjects``), sorted."""
    level = LEVELS.index(card.subject)
    if hierarchy is None:
        return sorted(with_record) if level == 0 else []
    rows = hierarchy.at(period)
    nodes = set(with_record) | set(rows["u"].to_list())
    if level == 0:
        return sorted(nodes - set(rows["u"].to_list()))
    heights = hierarchy.heights(period, sorted(nodes))
    return sorted(n for n, h in heights.items() if h == level)


def reaches(hierarchy: Hierarchy | None, period: Period, nodes: list[str], appraised: set[str]) -> list[bool]:
    """Whether each node is appraised or rolls up into an appraised subject (``_Evaluator._reaches``)."""
    up = hierarchy.parents(period) if hierarchy is not None else {}
    out = []
    for node in nodes:
        cur, seen = node, set()
        while cur not in appraised and cur in up and cur not in seen:
            seen.add(cur)
            cur = up[cur]
        out.append(cur in appraised)
    return out


def roster_warnings(hierarchy: Hierarchy | None, period: Period, with_record: set[str]) -> list[Issue]:
    """The row path's ``no_record`` warnings: roster members with neither a record nor members."""
    from kpi_engine.evaluation.engine import _roster_without_records  # noqa: PLC0415 - engine imports columnar
    from kpi_engine.evaluation.records import Inputs  # noqa: PLC0415

    if hierarchy is None:
        return []
    rows = hierarchy.at(period)
    parents = set(rows["u"].to_list())
    lonely = {
        (m, period): u
        for m, u in zip(rows["m"].to_list(), rows["u"].to_list(), strict=True)
        if m not in with_record and m not in parents
    }
    return _roster_without_records(Inputs({}, lonely, {}, {}), period)
