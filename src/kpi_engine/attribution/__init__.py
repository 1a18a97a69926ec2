"""Lead registration and deal credit (S3): policy, event log, engine, output."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kpi_engine._lazy import lazy_names
from kpi_engine.attribution._engine import (
    EVENT_TYPES,
    REASONS,
    Attribution,
    Credit,
    FollowUp,
    FrameLog,
    LeadEvent,
    attribute,
    parse_events,
    vectorised_available,
)
from kpi_engine.attribution._feed import CREDIT_FIELDS, merge_credit_rows, merge_records
from kpi_engine.attribution._policy import PolicySpec, parse_policy, policy_schema
from kpi_engine.attribution.rotation import (
    FloorEvent,
    QueueState,
    Reception,
    Rotation,
    parse_floor_events,
    rotate,
)

if TYPE_CHECKING:
    from kpi_engine.io.loading import load_policy, read_event_frame, read_events, read_floor_events, read_log

__all__ = [
    "CREDIT_FIELDS",
    "EVENT_TYPES",
    "REASONS",
    "Attribution",
    "Credit",
    "FloorEvent",
    "FollowUp",
    "FrameLog",
    "LeadEvent",
    "PolicySpec",
    "QueueState",
    "Reception",
    "Rotation",
    "attribute",
    "format_attribution",
    "format_rotation",
    "iter_attribution_json",
    "load_policy",
    "merge_credit_rows",
    "merge_records",
    "parse_events",
    "parse_floor_events",
    "parse_policy",
    "policy_schema",
    "read_event_frame",
    "read_events",
    "read_floor_events",
    "read_log",
    "rotate",
    "vectorised_available",
]

# The readers of policies and logs live in io/ (the only place that reads files); their old names stay here.
_READERS = ("load_policy", "read_event_frame", "read_events", "read_floor_events", "read_log")
__getattr__, __dir__ = lazy_names(__name__, globals(), dict.fromkeys(_READERS, "kpi_engine.io.loading"), __all__)


def iter_attribution_json(result: Attribution) -> Iterator[str]:
    """The text of ``format_attribution(result, "json")`` in chunks, without holding it whole.

    A result of the vectorised engine is written column-wise (no ``Credit`` object is built);
    the text is the same, byte for byte.
    """
    p = result.policy
    policy = {"id": p.policy, "version": p.version, "timezone": p.timezone}
    head = '{\n  "policy": ' + json.dumps(policy, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    if result.columns is not None:
        chunks = result.columns.json_chunks(head)
        if chunks is not None:
            yield from chunks
            return
    # Object results (the reference walk) too, a chunk of records at a time: json.dumps of the
    # whole mapping held the text of every credit at once (a MemoryError under ulimit -v).
    yield head + ',\n  "credits": '
    yield from _json_array(c.to_dict() for c in result.credits)
    yield ',\n  "violations": '
    yield from _json_array(v.to_dict() for v in result.violations)
    yield "\n}\n"


def _json_array(items: Iterable[dict[str, Any]], chunk: int = 5000) -> Iterator[str]:
    """A list of mappings as ``json.dumps(indent=2)`` writes it two levels deep, in pieces."""
    pieces: list[str] = []
    first = True
    for item in items:
        text = json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    ")
        pieces.append(("[\n    " if first else ",\n    ") + text)
        first = False
        if len(pieces) >= chunk:
            yield "".join(pieces)
            pieces = []
    yield "".join(pieces) + ("[]" if first else "\n  ]")


def format_attribution(result: Attribution, fmt: str) -> str:
    """Render as ``json`` (credits and violations), ``csv`` (credits) or a ``table``.

    Ids come from the log: in ``csv`` a cell that a spreadsheet would run as a formula
    (``=HYPERLINK(…)``) is written as text (``spreadsheet_safe``); in a ``table`` control and escape
    characters are shown as visible escapes (``terminal_safe``). JSON carries them exactly.
    """
    from kpi_engine.report._view import CsvWriter, spreadsheet_safe, terminal_safe  # noqa: PLC0415 - these formats

    if fmt == "json":
        return "".join(iter_attribution_json(result))
    data = result.to_dict()
    columns = ["deal_id", "customer", "closer", "credited_to", "amount", "reason", "date", "owner", "decided_by"]
    if fmt == "csv":
        buf = io.StringIO()
        writer = CsvWriter(buf)
        writer.writerow(columns)
        for c in data["credits"]:
            writer.writerow([spreadsheet_safe(" ".join(c[k]) if k == "decided_by" else (c[k] or "")) for k in columns])
        return buf.getvalue()
    lines = ["credits:"]
    rows = [columns] + [
        [terminal_safe(" ".join(c[k]) if k == "decided_by" else str(c[k] or "-")) for k in columns]
        for c in data["credits"]
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append(f"violations (R3, first follow-up due within {result.policy.first_follow_up_days} days):")
    if not data["violations"]:
        lines.append("  none")
    lines.extend(
        terminal_safe(
            f"  {v['owner']} registered {v['customer']} on {v['registration_date']} ({v['registration_event']}), "
            f"due {v['due_date']}, first follow-up {v['first_follow_up'] or 'none'}"
        )
        for v in data["violations"]
    )
    return "\n".join(lines) + "\n"


def format_rotation(result: Rotation, fmt: str, queue: QueueState | None = None) -> str:
    """Render a rotation as ``json``, ``csv`` (one row per reception) or a ``table``.

    The table lists every reception with its verdict and reason, the receptions out of turn once
    more with the events that decided them, a summary per rep and, with ``queue``, the queue at
    that moment. Ids from the log are made safe as in ``format_attribution``.
    """
    from kpi_engine.report._view import CsvWriter, spreadsheet_safe, terminal_safe  # noqa: PLC0415 - these formats

    tz = result.policy.tz
    if fmt == "json":
        data = result.to_dict()
        if queue is not None:
            data["queue_at"] = queue.to_dict(tz)
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    columns = ["event_id", "at", "customer", "visitor", "receiver", "expected", "in_turn", "reason", "turn",
               "courtesy", "decided_by"]  # fmt: skip
    rows = []
    for r in result.receptions:
        d = r.to_dict(tz)
        d["decided_by"] = " ".join(d["decided_by"])
        rows.append(
            ["" if d[k] is None else str(d[k]).lower() if isinstance(d[k], bool) else str(d[k]) for k in columns]
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = CsvWriter(buf)
        writer.writerow(columns)
        writer.writerows([spreadsheet_safe(c) for c in row] for row in rows)
        return buf.getvalue()
    shown = ["at", "customer", "visitor", "receiver", "expected", "reason"]
    table = [["", *shown]]
    for r, row in zip(result.receptions, rows, strict=True):
        cells = dict(zip(columns, row, strict=True))
        cells["at"] = r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        table.append(["!" if not r.in_turn else " ", *[terminal_safe(cells[k] or "-") for k in shown]])
    widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
    lines = [f"receptions ({len(result.receptions)}; ! out of turn):"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)).rstrip() for t in table]
    out = result.out_of_turn
    lines.append(f"out of turn ({len(out)}):")
    lines += [terminal_safe("  " + r.explain(tz)) for r in out] or ["  none"]
    lines.append("per rep: receptions, turns taken, courtesy receptions, out of turn")
    lines += [
        terminal_safe(f"  {s['rep']}: {s['receptions']}, {s['turns']}, {s['courtesy']}, {s['out_of_turn']}")
        for s in result.summary()
    ]
    if queue is not None:
        nobody = "nobody free"
        when = f"{queue.at.astimezone(tz):%Y-%m-%d %H:%M}"
        lines.append(
            f"queue at {when} (next new visitor: {queue.next_rep or nobody}; courtesy: {queue.courtesy_rep or nobody}):"
        )
        for i, e in enumerate(queue.entries, start=1):
            until = "" if e.until is None else f" until {e.until.astimezone(tz):%H:%M}"
            state = "free" if e.free else f"with {e.customer}{until}"
            lines.append(terminal_safe(f"  {i}. {e.rep} — {state}"))
        if not queue.entries:
            lines.append("  nobody on duty")
    return "\n".join(lines) + "\n"
