"""Published flags (``flags:``): a named flag per subject where its condition holds; row and column kernels.

A condition that is N/A does not publish the flag (a strict run refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping

from kpi_engine._columns import Arr, Bool, Column, Ctx
from kpi_engine.language.model import Scorecard
from kpi_engine.plan.ops.gates import Condition


class Flags:
    """The scorecard's published flags, in order."""

    def __init__(self, card: Scorecard) -> None:
        self.flags = card.flags

    def row(self, condition: Condition, subject: str) -> list[str]:
        """The names of the flags one subject carries."""
        return [name for name, when in self.flags if condition(subject, when, None, None) is True]

    def column(self, ctx: Ctx, env: Mapping[str, Column]) -> list[tuple[str, Arr, bool]]:
        """Per flag: its name, the rows that carry it, and whether its condition is N/A on any row."""
        out = []
        for name, when in self.flags:
            holds = when.evaluate_columns(ctx, env)
            assert isinstance(holds, Bool)
            rows = holds.val & ~holds.na if holds.na is not None else holds.val
            out.append((name, rows, holds.na is not None and bool(holds.na.any())))
        return out
