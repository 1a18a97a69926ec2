"""The terminal table of an appraisal: one row per subject, aligned by display width, fitted to the terminal.

Columns: rank, subject, name (when the records have one), parent (when any), total, grade with its
title, bonus multiplier (when the grades have one), markers, then each KPI's score under its title
(``ids=True`` for ids; ``kpis`` picks and orders them). CJK characters take two terminal cells;
widths are counted with ``wcwidth`` so columns line up with Chinese names and titles. Every text
from data is made terminal-safe.

With ``width`` (the terminal's columns) the table fits it: KPI titles wrap onto several header
lines (at spaces, or between CJK characters), and when the columns still do not fit they are
folded into panels printed one under the other, each repeating the rank, subject and name
columns, so that every score stays on screen without the terminal wrapping lines. The notes under
the table wrap too. Without ``width`` (a file, a pipe) each row is one line, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from kpi_engine.errors import KpiError
from kpi_engine.report._view import (
    View,
    adjustment_rule,
    applied_adjustments,
    changed_gates,
    display_width,
    markers,
    terminal_safe,
)

MIN_TITLE = 8  # cells a wrapped KPI title may take even when its scores are narrower
GAP = 2  # cells between columns


def _pad(text: str, width: int, *, right: bool) -> str:
    gap = " " * (width - display_width(text))
    return gap + text if right else text + gap


def aligned(rows: list[list[str]], right: set[int] | frozenset[int] = frozenset()) -> str:
    """Lay out rows (the first is the header) in columns two cells apart, underlining the header.

    Args:
        rows: cells as text, already terminal-safe; every row has the same length.
        right: indexes of columns aligned right (numbers).

    Returns:
        The lines, each ending with a newline, trailing spaces removed.
    """
    return _layout([[cell] for cell in rows[0]], rows[1:], right)


def _layout(header: list[list[str]], rows: list[list[str]], right: set[int] | frozenset[int]) -> str:
    """Columns with a header of several lines per column (bottom-aligned), the body one line per row."""
    count = len(header)
    widths = [
        max([display_width(line) for line in header[i]] + [display_width(r[i]) for r in rows]) for i in range(count)
    ]
    depth = max((len(h) for h in header), default=1)
    lines = []
    for level in range(depth):
        cells = [h[level - (depth - len(h))] if level >= depth - len(h) else "" for h in header]
        lines.append(cells)
    lines.append(["-" * w for w in widths])
    lines.extend(rows)
    sep = " " * GAP
    text = [
        sep.join(_pad(c, w, right=i in right) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in lines
    ]
    return "".join(line.rstrip() + "\n" for line in text)


def wrap(text: str, cells: int) -> list[str]:
    """``text`` in lines of at most ``cells`` display cells: broken at spaces, or between wide characters.

    A word longer than a line is cut where it must be. Always at least one line.
    """
    if display_width(text) <= cells:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if display_width(candidate) <= cells:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        for char in word:  # CJK text has no spaces: break between characters
            if display_width(line + char) > cells and line:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines or [""]


def pick_kpis(view: View, chosen: Sequence[str] | None) -> list[int]:
    """Positions of the KPIs to show: all, or those named by id in ``chosen``, in that order.

    Raises:
        KpiError: naming an unknown id and listing the known ones.
    """
    a = view.appraisal
    first = a.results[0].kpis if len(a.results) else ()
    ids = [k.id for k in first] or ([k.id for k in a.scorecard.kpis] if a.scorecard is not None else [])
    if not chosen:
        return list(range(len(ids)))
    unknown = [k for k in chosen if k not in ids]
    if unknown:
        known = ", ".join(ids)
        raise KpiError(view.msg.t("unknown KPI {kpis}; the KPIs are: {known}", kpis=", ".join(unknown), known=known))
    return [ids.index(k) for k in chosen]


def render_table(view: View, *, width: int | None = None, kpis: Sequence[str] | None = None) -> str:
    """Render an appraisal as a terminal table with a heading and a legend of markers.

    Args:
        view: the appraisal with its titles, names and language.
        width: the terminal's width in cells: titles wrap and columns fold into panels to fit it
            (``None``: one line per row, however wide).
        kpis: ids of the KPI columns to show, in order (default: every KPI).

    Returns:
        The text to print.

    Raises:
        KpiError: for an id in ``kpis`` that is not a KPI of the scorecard.
    """
    a, msg = view.appraisal, view.msg
    safe = terminal_safe
    head = msg.t(
        "{title} — {id} {version} — period {period}",
        title=safe(a.title),
        id=safe(a.ruleset_id),
        version=safe(a.version),
        period=safe(a.period),
    )
    shown = pick_kpis(view, kpis)
    card = view.scorecard or a.scorecard
    first = a.results[0].kpis if len(a.results) else ()
    header = [msg.t("rank"), msg.t("subject")]
    if view.has_names:
        header.append(msg.t("name"))
    keys = len(header)  # columns every panel repeats
    if view.has_parent:
        header.append(msg.t("parent"))
    header += [msg.t("total"), msg.t("grade")]
    if view.has_bonus:
        header.append(msg.t("bonus"))
    header.append(msg.t("marks"))
    numeric = {0, header.index(msg.t("total"))}
    if view.has_bonus:
        numeric.add(header.index(msg.t("bonus")))
    first_kpi = len(header)
    header += [safe(view.kpi_title(first[i])) for i in shown]
    numeric |= set(range(first_kpi, len(header)))
    # Flags the ruleset publishes (e.g. eligible_for_promotion): a last column when any subject has one.
    names = {name for name, _ in a.scorecard.flags} if a.scorecard is not None else set()
    published = {r.subject: [f for f in r.flags if f in names] for r in a.results}
    if any(published.values()):
        header.append(msg.t("flags"))

    rows = []
    notes: list[str] = []
    for r in a.results:
        row = [str(r.rank) if r.rank else "-", safe(r.subject)]
        if view.has_names:
            row.append(safe(view.name(r.subject)) or "-")
        if view.has_parent:
            row.append(safe(r.parent or "-"))
        row += [view.rt(r.total_exact), safe(view.grade_title(r.grade))]
        if view.has_bonus:
            row.append("-" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f"))
        row.append(markers(r, card) or "")
        kpi_results = r.kpis
        row += [
            view.rt(kpi_results[i].score_exact) if kpi_results[i].status == "scored" else msg.t("N/A") for i in shown
        ]
        if any(published.values()):
            row.append(safe(" ".join(published[r.subject])))
        rows.append(row)
        notes.extend(_notes(view, r))
    if width is None:
        text = head + "\n" + aligned([header, *rows], numeric)
    else:
        text = wrap_lines(head, width) + _fitted(header, rows, numeric, keys, first_kpi, width)
    if notes:
        text += "\n" + "".join(n + "\n" if width is None else wrap_lines(n, width, indent=2) for n in notes)
    return text


def wrap_lines(text: str, width: int, *, indent: int = 0) -> str:
    """``text`` wrapped to ``width`` cells (continuation lines indented), each line ending with a newline."""
    lines = wrap(text, max(width, 20))
    rest = [" " * indent + line for part in lines[1:] for line in wrap(part, max(width - indent, 10))]
    return "".join(line + "\n" for line in [lines[0], *rest])


def _notes(view: View, r: object) -> list[str]:
    from kpi_engine.evaluation.results import SubjectResult  # noqa: PLC0415 - typing of the loop variable

    assert isinstance(r, SubjectResult)
    msg, safe = view.msg, terminal_safe
    card = view.scorecard or view.appraisal.scorecard
    out = []
    who = safe(view.label(r.subject))
    for g in changed_gates(r, card):
        reason = f" — {safe(g.reason)}" if g.reason else ""
        out.append(
            msg.t("G {who}: gate {gate} applied: {effect}{reason}", who=who, gate=safe(g.id),
                  effect=safe(view.gate_effect(g)), reason=reason)
        )  # fmt: skip
    for adj in r.adjustments:
        if adj.id in applied_adjustments(r):
            kpi = next((k for k in r.kpis if k.id == adj.kpi), None)
            title = view.kpi_title(kpi) if kpi else adj.kpi
            reason = adjustment_rule(view.appraisal, adj.id)[1]
            out.append(
                msg.t("A {who}: adjustment {id} sets {kpi} — {reason}", who=who, id=safe(adj.id),
                      kpi=safe(title), reason=safe(reason))
            )  # fmt: skip
    excluded = [safe(view.kpi_title(k)) for k in r.kpis if k.status == "excluded"]
    if excluded:
        out.append(msg.t("N {who}: not applicable, excluded: {kpis}", who=who, kpis=", ".join(excluded)))
    residue = view.residue(r)
    if residue:
        out.append(
            msg.t("R {who}: the KPI contributions are each rounded and differ from the total by {residue}",
                  who=who, residue=residue)
        )  # fmt: skip
    return out


def _fitted(header: list[str], rows: list[list[str]], numeric: set[int], keys: int, first_kpi: int, width: int) -> str:
    """The table fitted to ``width``: KPI titles wrapped, then columns folded into panels if still too wide."""
    count = len(header)
    data = [max((display_width(r[i]) for r in rows), default=0) for i in range(count)]
    heads: list[list[str]] = []
    for i, title in enumerate(header):
        room = max(data[i], MIN_TITLE) if i >= first_kpi else max(data[i], display_width(title))
        heads.append(wrap(title, room))
    widths = [max([data[i]] + [display_width(line) for line in heads[i]]) for i in range(count)]

    def span(columns: Sequence[int]) -> int:
        return sum(widths[i] for i in columns) + GAP * (len(columns) - 1)

    panels: list[list[int]] = []
    current = list(range(keys))
    for i in range(keys, count):
        if span([*current, i]) > width and len(current) > keys:
            panels.append(current)
            current = list(range(keys))
        current.append(i)
    panels.append(current)
    out = []
    for columns in panels:
        right = {j for j, i in enumerate(columns) if i in numeric}
        out.append(_layout([heads[i] for i in columns], [[r[i] for i in columns] for r in rows], right))
    return "\n".join(out)
