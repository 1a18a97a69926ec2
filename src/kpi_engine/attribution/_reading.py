"""Reading lead logs from CSV text line by line (an edge: the engine itself never parses files)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from operator import itemgetter

from kpi_engine._perf import paused_gc
from kpi_engine.attribution._engine import COLUMNS, KEYS, LeadEvent, Values, parse_values
from kpi_engine.attribution._policy import PolicySpec
from kpi_engine.errors import DataError, Issue, Location


def stream_csv(policy: PolicySpec, lines: Iterable[str], name: str) -> list[LeadEvent]:
    """Validate a CSV lead log read line by line, without holding the whole table in memory.

    Raises:
        DataError: naming each bad row and why.
    """
    issues: list[Issue] = []
    reader = csv.reader(lines, strict=True)  # an unclosed quote must not swallow rows
    try:
        header = [c.strip() for c in next(reader)]
    except StopIteration:
        return []
    except csv.Error as exc:
        raise DataError.from_issues([Issue("bad_csv", str(exc), "", Location(name, 1))], name) from None
    columns = {c: i for i, c in enumerate(header, start=1)}
    issues.extend(
        Issue("unknown_column", f"column '{c}' is not part of the event log", c, Location(name, 1, i))
        for c, i in columns.items()
        if c not in COLUMNS
    )
    width = len(header)
    picks = itemgetter(*(columns.get(k, width + 1) - 1 for k in KEYS))
    pad = ("",) * (width + 1)

    def values() -> Iterator[tuple[int, Values]]:
        for cells in reader:
            if len(cells) != width:
                if len(cells) > width:
                    message = f"row has {len(cells)} cells but the header has {width}"
                    issues.append(Issue("bad_csv", message, "", Location(name, reader.line_num, width + 1)))
                    continue
                if not "".join(cells).strip():
                    continue
                cells = [*cells, *pad[len(cells) :]]  # noqa: PLW2901 - padded copy of a short row
            else:
                cells.append("")
            yield reader.line_num, tuple([v.strip() or None for v in picks(cells)])

    with paused_gc():
        try:
            return parse_values(policy, name, columns, values(), issues)
        except csv.Error as exc:
            issues.append(Issue("bad_csv", str(exc), "", Location(name, reader.line_num)))
            raise DataError.from_issues(issues, name) from None
