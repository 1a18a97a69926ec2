"""The terminal table of an appraisal: one row per subject, aligned by display width.

Columns: rank, subject, name (when the records have one), parent (when any), total, grade with its
title, bonus multiplier (when the grades have one), markers, then each KPI's score under its title
(``ids=True`` for ids). CJK characters take two terminal cells; widths are counted with ``wcwidth``
so columns line up with Chinese names and titles. Every text from data is made terminal-safe.
"""

from __future__ import annotations

from kpi_engine.report._view import (
    View,
    adjustment_rule,
    applied_adjustments,
    display_width,
    fired_gates,
    markers,
    terminal_safe,
)


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
    widths = [max(display_width(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(_pad(c, w, right=i in right) for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "".join(line.rstrip() + "\n" for line in lines)


def render_table(view: View) -> str:
    """Render an appraisal as a terminal table with a heading and a legend of markers.

    Args:
        view: the appraisal with its titles, names and language.

    Returns:
        The text to print.
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
    kpis = a.results[0].kpis if a.results else ()
    header = [msg.t("rank"), msg.t("subject")]
    if view.has_names:
        header.append(msg.t("name"))
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
    header += [safe(view.kpi_title(k)) for k in kpis]
    numeric |= set(range(first_kpi, len(header)))
    # Flags the ruleset publishes (e.g. eligible_for_promotion): a last column when any subject has one.
    names = {name for name, _ in a.scorecard.flags} if a.scorecard is not None else set()
    published = {r.subject: [f for f in r.flags if f in names] for r in a.results}
    if any(published.values()):
        header.append(msg.t("flags"))

    rows = [header]
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
        row.append(markers(r) or "")
        row += [view.rt(k.score_exact) if k.status == "scored" else msg.t("N/A") for k in r.kpis]
        if any(published.values()):
            row.append(safe(" ".join(published[r.subject])))
        rows.append(row)
        who = safe(view.label(r.subject))
        for g in r.gates:
            if g.id in fired_gates(r):
                reason = f" — {safe(g.reason)}" if g.reason else ""
                notes.append(
                    msg.t("G {who}: gate {gate} applied ({action} {value}){reason}", who=who, gate=safe(g.id),
                          action=safe(g.action), value=safe(g.value), reason=reason)
                )  # fmt: skip
        for adj in r.adjustments:
            if adj.id in applied_adjustments(r):
                kpi = next((k for k in r.kpis if k.id == adj.kpi), None)
                title = view.kpi_title(kpi) if kpi else adj.kpi
                reason = adjustment_rule(view.appraisal, adj.id)[1]
                notes.append(
                    msg.t("A {who}: adjustment {id} sets {kpi} — {reason}", who=who, id=safe(adj.id),
                          kpi=safe(title), reason=safe(reason))
                )  # fmt: skip
        excluded = [safe(view.kpi_title(k)) for k in r.kpis if k.status == "excluded"]
        if excluded:
            notes.append(msg.t("N {who}: not applicable, excluded: {kpis}", who=who, kpis=", ".join(excluded)))
        residue = view.residue(r)
        if residue:
            notes.append(
                msg.t("R {who}: the KPI contributions are each rounded and differ from the total by {residue}",
                      who=who, residue=residue)
            )  # fmt: skip
    text = head + "\n" + aligned(rows, numeric)
    if notes:
        text += "\n" + "".join(n + "\n" for n in notes)
    return text
