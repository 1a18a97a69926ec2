"""Appraisals people can read: terminal table, CSV, self-contained HTML and xlsx, in Chinese or English.

Rendering only: pure functions from an ``Appraisal`` (with the ruleset for titles, the names from
the records and a language) to text or bytes. The CLI writes the files. Every user-facing string
goes through one message catalogue (``messages(lang)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kpi_engine.evaluation.results import Appraisal
from kpi_engine.language.build import Ruleset
from kpi_engine.language.spec import MetricSpec
from kpi_engine.report._i18n import LANGS, Lang, Messages, language_from_env, messages
from kpi_engine.report._view import CsvWriter, View, names_from_tables, reported, spreadsheet_safe, terminal_safe
from kpi_engine.report.issues import render_issue, translate_issue

FORMATS = ("table", "csv", "html", "xlsx")


def view_of(
    appraisal: Appraisal,
    *,
    ruleset: Ruleset | None = None,
    names: Mapping[str, str] | None = None,
    lang: Lang = "en",
    ids: bool = False,
) -> View:
    """The ``View`` every renderer reads: the appraisal with titles, names and the language's catalogue."""
    titles: dict[str, str] = {}
    if ruleset is not None:
        spec = ruleset.spec
        titles |= {name: i.title for name, i in spec.inputs.items() if i.title}
        titles |= {name: m.title for name, m in spec.metrics.items() if isinstance(m, MetricSpec) and m.title}
    return View(
        appraisal,
        messages(lang),
        ruleset.scorecard if ruleset is not None else None,
        dict(names or {}),
        ids=ids,
        titles=titles,
    )


def render(
    appraisal: Appraisal,
    fmt: str,
    *,
    ruleset: Ruleset | None = None,
    names: Mapping[str, str] | None = None,
    lang: Lang = "en",
    ids: bool = False,
    bom: bool = False,
    history: Sequence[Appraisal] = (),
    layout: str = "long",
    width: int | None = None,
    kpis: Sequence[str] | None = None,
) -> str | bytes:
    """Render an appraisal in one of ``FORMATS``.

    Args:
        appraisal: the evaluated appraisal.
        fmt: ``table``, ``csv``, ``html`` (text) or ``xlsx`` (bytes).
        ruleset: the ruleset it came from, for KPI, section and grade titles.
        names: subject → name (see ``names_from_tables``).
        lang: ``en`` or ``zh``.
        ids: show KPI ids instead of titles (table, HTML, xlsx).
        bom: start CSV with a UTF-8 byte-order mark.
        history: appraisals of earlier periods with the same ruleset (HTML trends).
        layout: ``long`` (CSV: a row per subject and KPI; xlsx: with the KPI detail sheet) or
            ``wide`` (a row per subject with a value and a score column per KPI).
        width: table: fit this many terminal cells (titles wrap, columns fold into panels).
        kpis: table: the ids of the KPI columns to show, in order.

    Returns:
        Text for ``table``, ``csv`` and ``html``; bytes for ``xlsx``.

    Raises:
        ValueError: for an unknown format.
    """
    view = view_of(appraisal, ruleset=ruleset, names=names, lang=lang, ids=ids)
    if fmt == "table":
        from kpi_engine.report.table import render_table  # noqa: PLC0415

        return render_table(view, width=width, kpis=kpis)
    if fmt == "csv":
        from kpi_engine.report.csv import render_csv  # noqa: PLC0415

        return render_csv(view, bom=bom, layout=layout)
    if fmt == "html":
        from kpi_engine.report.html import render_html  # noqa: PLC0415

        return render_html(view, history=history)
    if fmt == "xlsx":
        from kpi_engine.report.xlsx import render_xlsx  # noqa: PLC0415

        return render_xlsx(view, layout=layout)
    msg = f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}"
    raise ValueError(msg)


__all__ = [
    "FORMATS",
    "LANGS",
    "CsvWriter",
    "Lang",
    "Messages",
    "View",
    "language_from_env",
    "messages",
    "names_from_tables",
    "render",
    "render_issue",
    "reported",
    "spreadsheet_safe",
    "terminal_safe",
    "translate_issue",
    "view_of",
]
