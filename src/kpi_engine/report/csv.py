"""CSV of an appraisal, safe to open in Excel: one row per subject and KPI, or one per subject (wide).

The header row is in the chosen language (English: the stable column keys ``period``,
``subject`` …; Chinese: 期间, 考核对象 …). Titles (KPI, grade) and names from the records ride in
their own columns. Reported numbers are rounded to the ruleset's places; metric values to the
ruleset's places + 2 decimals (``View.value``: the exact values are in the JSON). Every text cell
that a spreadsheet could run as a formula is prefixed with ``'``. A UTF-8 byte-order mark
(``bom=True``) makes Excel on Chinese Windows read UTF-8.

``layout="wide"`` writes one row per subject (``evaluation.frames.WIDE_COLUMNS``, then a value and a score column
per KPI: ``<kpi>_value``, ``<kpi>_score`` in English, ``<title> 数值``, ``<title> 得分`` in Chinese),
the shape HR opens in Excel; ``layout="long"`` (the default) one row per subject and KPI.

This module writes every CSV of an appraisal: through the result objects (``render_csv``,
``iter_csv``), and straight from the columnar kernel's columns (``columnar_csv``,
``columnar_csv_wide``, chosen by ``report.columnar.columnar_text``), with the same bytes (a
differential test checks it: ``tests/unit/test_report_columnar.py``).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from kpi_engine.evaluation.frames import WIDE_COLUMNS
from kpi_engine.report._i18n import Messages
from kpi_engine.report._view import CsvWriter, View, exact_text, fired_gates, spreadsheet_safe

if TYPE_CHECKING:
    from kpi_engine.evaluation.columnar._results import ColumnarResults
    from kpi_engine.evaluation.results import Appraisal
    from kpi_engine.language.model import Scorecard
    from kpi_engine.report.columnar import _Figures as Figures

COLUMNS = (
    "period",
    "subject",
    "name",
    "parent",
    "total",
    "grade",
    "grade_title",
    "bonus_multiplier",
    "rank",
    "kpi",
    "kpi_title",
    "value",
    "score",
    "weight",
    "contribution",
    "status",
    "flags",
    "total_before_gates",
    "contributions_residue",
)
KPI_CELLS = ("{kpi}_value", "{kpi}_score")  # per KPI in the wide layout (csv context: "{kpi} 数值" in Chinese)
LAYOUTS = ("long", "wide")
_FORMULA = r"^[=+\-@\t\r]"  # a cell a spreadsheet would run (``spreadsheet_safe``), as a regular expression
_PLAIN = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?$"  # a plain number, which stays as it is


def wide_header(msg: Messages, kpis: Sequence[tuple[str, str | None]], *, ids: bool = False) -> list[str]:
    """The header of the wide layout: ``WIDE_COLUMNS`` then two cells per KPI (id, title), in ``msg``'s language.

    English keeps stable keys (``target_completion_value``); Chinese names each KPI by its title
    (``销售目标完成率 数值``), or by its id with ``ids=True``.
    """
    english = msg.lang == "en" or ids
    header = [msg.pt("csv", c) for c in WIDE_COLUMNS]
    for kid, title in kpis:
        header += [msg.pt("csv", cell, kpi=kid if english or not title else title) for cell in KPI_CELLS]
    return header


def kpi_heads(view: View) -> list[tuple[str, str | None]]:
    """(id, title) of each KPI in the scorecard's order, titles as the view shows them."""
    card = view.appraisal.scorecard
    if card is not None:
        return [(k.id, view.scorecard_title(k.id) or k.title) for k in card.kpis]
    first = view.appraisal.results[0].kpis if len(view.appraisal.results) else ()
    return [(k.id, k.title) for k in first]


def render_csv(view: View, *, bom: bool = False, layout: str = "long") -> str:
    r"""Render an appraisal as CSV text.

    Args:
        view: the appraisal with its titles, names and language.
        bom: start with a UTF-8 byte-order mark (U+FEFF), for Excel.
        layout: ``long`` (a row per subject and KPI) or ``wide`` (a row per subject).

    Returns:
        The CSV text (``\n`` line ends; the caller writes it as UTF-8).
    """
    return "".join(iter_csv(view, bom=bom, layout=layout))


def iter_csv(view: View, *, bom: bool = False, layout: str = "long") -> Iterator[str]:
    """``render_csv`` in pieces: the header, then one piece per subject (large appraisals stream)."""
    buf = io.StringIO()
    writer = CsvWriter(buf)

    def flush() -> str:
        text = buf.getvalue()
        buf.seek(0)
        buf.truncate()
        return text

    if layout == "wide":
        writer.writerow([spreadsheet_safe(cell) for cell in wide_header(view.msg, kpi_heads(view), ids=view.ids)])
        yield ("\ufeff" if bom else "") + flush()
        for row in wide_rows(view):
            writer.writerow([spreadsheet_safe(cell) for cell in row])
            yield flush()
        return
    a, msg = view.appraisal, view.msg
    writer.writerow([msg.pt("csv", c) for c in COLUMNS])
    yield ("\ufeff" if bom else "") + flush()
    titled = attrs.evolve(view, ids=False)  # the id has its own column
    titles = {g.grade: g.title for g in view.scorecard.grades} if view.scorecard else {}
    for r in a.results:
        gates = [f"gate:{g}" for g in fired_gates(r)]
        subject = [
            a.period,
            r.subject,
            view.name(r.subject),
            r.parent or "",
            view.rt(r.total_exact) if r.total_exact is not None else "",
            r.grade or "",
            titles.get(r.grade or "") or "",
            "" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f"),
            str(r.rank or ""),
        ]
        for k in r.kpis:
            flags = [*k.flags, *gates]
            row = [
                *subject,
                k.id,
                titled.kpi_title(k),
                view.value(k.value),
                "" if k.score_exact is None else view.rt(k.score_exact),
                exact_text(k.weight),
                view.contribution(r, k),
                k.status,
                " ".join(flags),
                view.rt(r.total_before_gates_exact) if r.total_before_gates_exact is not None else "",
                format(view.residue(r), "f"),
            ]
            writer.writerow([spreadsheet_safe(cell) for cell in row])
        yield flush()


def wide_rows(view: View) -> Iterator[list[str]]:
    """The cells of the wide layout, a subject at a time (the header is ``wide_header``)."""
    a = view.appraisal
    titles = {g.grade: g.title for g in view.scorecard.grades} if view.scorecard else {}
    for r in a.results:
        flags = [*r.flags, *(f"{k.id}:{f}" for k in r.kpis for f in k.flags)]
        cells = {
            "period": a.period,
            "subject": r.subject,
            "name": view.name(r.subject),
            "parent": r.parent or "",
            "total": "" if r.total_exact is None else view.rt(r.total_exact),
            "total_before_gates": "" if r.total_before_gates_exact is None else view.rt(r.total_before_gates_exact),
            "grade": r.grade or "",
            "grade_title": titles.get(r.grade or "") or "",
            "bonus_multiplier": "" if r.bonus_multiplier is None else format(r.bonus_multiplier, "f"),
            "rank": str(r.rank or ""),
            "rank_in_parent": str(r.rank_in_parent or ""),
            "flags": " ".join(flags),
        }
        row = [cells[c] for c in WIDE_COLUMNS]
        for k in r.kpis:
            row += [view.value(k.value), "" if k.score_exact is None else view.rt(k.score_exact)]
        yield row


# ------------------------------------------------------------------- from the columnar kernel's columns


def _safe(expr: Any) -> Any:
    """``spreadsheet_safe`` then CSV quoting (``CsvWriter``: quote when , " or a line break is in the cell)."""
    import polars as pl  # noqa: PLC0415

    risky = expr.str.contains(_FORMULA)
    safe = pl.when(risky & ~expr.str.contains(_PLAIN)).then(pl.lit("'") + expr).otherwise(expr)
    quoted = pl.lit('"') + safe.str.replace_all('"', '""', literal=True) + pl.lit('"')
    return pl.when(safe.str.contains('[,"\n\r]')).then(quoted).otherwise(safe)


def _safe_text(text: str) -> str:
    """``spreadsheet_safe`` then CSV quoting, for one cell."""
    cell = spreadsheet_safe(text)
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n\r') else cell


def _csv_flags(results: ColumnarResults, names: list[str], span: int, code: int) -> str:
    from kpi_engine.report.columnar import _fired, _names_of  # noqa: PLC0415

    return _safe_text(" ".join(_names_of(code // span, names) + _fired(results, code % span)))


def columnar_csv(
    appraisal: Appraisal,
    figures: Figures,
    msg: Messages,
    scorecard: Scorecard | None,
    names: Mapping[str, str],
    *,
    bom: bool,
) -> Iterator[str]:
    """``render_csv`` (the long layout) from the kernel's columns: a chunk of subjects at a time."""
    import numpy as np  # noqa: PLC0415 - the columnar extra
    import polars as pl  # noqa: PLC0415

    from kpi_engine._columns import Num  # noqa: PLC0415
    from kpi_engine.report.columnar import _Chunk, _chunks, _coded, _flag_codes, _gate_codes  # noqa: PLC0415

    r = figures.results
    card = r.card
    places = figures.places
    header = ",".join(_safe_text(msg.pt("csv", c)) for c in COLUMNS) + "\n"
    yield ("\ufeff" if bom else "") + header
    titles = {g.grade: g.title for g in scorecard.grades} if scorecard is not None else {}
    kpi_titles = []
    for kpi in card.kpis:
        title = next((k.title for k in scorecard.kpis if k.id == kpi.id and k.title), None) if scorecard else None
        kpi_titles.append(title or kpi.title or kpi.id)
    grade_cells: dict[tuple[str | None, Decimal | None], str] = {}  # (grade, bonus) → safe cells: grade, title, bonus

    def grade_cell(grade: str | None, bonus: Decimal | None) -> str:
        key = (grade, bonus)
        if key not in grade_cells:
            cells = (grade or "", titles.get(grade or "") or "", "" if bonus is None else format(bonus, "f"))
            grade_cells[key] = ",".join(_safe_text(t) for t in cells)
        return grade_cells[key]

    subjects_all = np.array(r.subjects, dtype=object)
    span = 3 ** len(card.gates)
    for part in _chunks(len(r)):
        rows = r.order[part]
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        c = _Chunk()
        parents = [r.parent.get(s) or "" for s in subjects]
        prefix = pl.concat_str(
            [
                pl.lit(_safe_text(appraisal.period)),
                _safe(c.text("subject", subjects)),
                _safe(c.text("name", [names.get(s, "") for s in subjects])) if names else pl.lit(""),
                _safe(c.text("parent", parents)) if any(parents) else pl.lit(""),
                c.fixed("total", f.total[0], places, f.total[1]).fill_null(""),
                c.text("grade", list(map(grade_cell, r.grade[rows].tolist(), r.bonus[rows].tolist()))),
                pl.when(c.ints("rank", r.rank[rows]) > 0).then(pl.col("rank").cast(pl.Utf8)).otherwise(pl.lit("")),
            ],
            separator=",",
        )
        suffix = pl.concat_str(
            [
                c.fixed("before", f.before[0], places, f.before[1]).fill_null(""),
                c.fixed("residue", f.residue, places),
            ],
            separator=",",
        )
        gate_code = _gate_codes(r, rows)
        lines = []
        for i, kpi in enumerate(card.kpis):
            col = r.scored.kpis[kpi.id]
            score, score_na = f.scores[i]
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            value = c.value(f"v{i}", col.value, rows, places + 2, figures.mode)
            if not isinstance(col.value, Num):
                value = _safe(value)  # numbers are plain: never a formula, never quoted
            flags = _coded(flag_code * span + gate_code, functools.partial(_csv_flags, r, flag_names, span))
            c.data[f"f{i}"] = flags
            lines.append(
                pl.concat_str(
                    [
                        pl.col("prefix"),
                        pl.lit(_safe_text(kpi.id) + "," + _safe_text(kpi_titles[i])),
                        value.fill_null(""),
                        c.fixed(f"s{i}", score, places, score_na).fill_null(""),
                        pl.lit(_safe_text(exact_text(kpi.weight))),
                        c.fixed(f"c{i}", f.contributions[i], places),
                        pl.when(pl.col(f"s{i}").is_null()).then(pl.lit("excluded")).otherwise(pl.lit("scored")),
                        pl.col(f"f{i}"),
                        pl.col("suffix"),
                    ],
                    separator=",",
                )
            )
        if not lines:
            continue
        frame = c.frame().with_columns(prefix.alias("prefix"), suffix.alias("suffix"))
        text = frame.select(pl.concat_str(lines, separator="\n").str.join("\n").alias("t")).item()
        del frame, c
        yield text + "\n"


def columnar_csv_wide(
    appraisal: Appraisal,
    figures: Figures,
    msg: Messages,
    scorecard: Scorecard | None,
    names: Mapping[str, str],
    *,
    bom: bool,
    ids: bool,
) -> Iterator[str]:
    """``render_csv(layout="wide")`` from the kernel's columns: one line per subject."""
    import numpy as np  # noqa: PLC0415 - the columnar extra
    import polars as pl  # noqa: PLC0415

    from kpi_engine._columns import Num  # noqa: PLC0415
    from kpi_engine.report.columnar import _Chunk, _chunks, _fired, _flag_codes, _gate_codes, _names_of  # noqa: PLC0415

    r = figures.results
    card = r.card
    places = figures.places
    heads = []
    for kpi in card.kpis:
        title = next((k.title for k in scorecard.kpis if k.id == kpi.id and k.title), None) if scorecard else None
        heads.append((kpi.id, title or kpi.title))
    yield ("\ufeff" if bom else "") + ",".join(_safe_text(h) for h in wide_header(msg, heads, ids=ids)) + "\n"
    titles = {g.grade: g.title for g in scorecard.grades} if scorecard is not None else {}
    grade_cells: dict[str | None, tuple[str, str]] = {}
    bonus_cells: dict[Decimal | None, str] = {}

    def grade_cell(grade: str | None) -> tuple[str, str]:  # grade, grade title
        if grade not in grade_cells:
            grade_cells[grade] = (_safe_text(grade or ""), _safe_text(titles.get(grade or "") or ""))
        return grade_cells[grade]

    def bonus_cell(bonus: Decimal | None) -> str:
        if bonus not in bonus_cells:
            bonus_cells[bonus] = "" if bonus is None else _safe_text(format(bonus, "f"))
        return bonus_cells[bonus]

    span = 3 ** len(card.gates)
    published = [name for name, _ in r.published]

    def subject_flags(code: int) -> str:  # gate outcomes, then no_kpi_applies, then the published flags
        gates, rest = code % span, code // span
        return " ".join(_fired(r, gates) + (["no_kpi_applies"] if rest & 1 else []) + _names_of(rest >> 1, published))

    def kpi_flags(kpi_id: str, names: list[str], code: int) -> str:
        return " ".join(f"{kpi_id}:{name}" for name in _names_of(code, names))

    subjects_all = np.array(r.subjects, dtype=object)
    for part in _chunks(len(r)):
        rows = r.order[part]
        f = figures.at(rows)
        subjects = subjects_all[rows].tolist()
        c = _Chunk()
        parents = [r.parent.get(s) or "" for s in subjects]
        code = _gate_codes(r, rows) + span * f.total[1].astype(np.int64)
        for i, (_, mask) in enumerate(r.published):
            code += span * 2 * (np.asarray(mask, dtype=bool)[rows].astype(np.int64) << i)
        # One code per part (the subject's flags, each KPI's); each distinct row of codes is written once.
        parts = [code]
        writers: list[Callable[[int], str]] = [subject_flags]
        for kpi in card.kpis:
            flag_code, flag_names = _flag_codes(r, kpi.id, rows)
            parts.append(flag_code)
            writers.append(functools.partial(kpi_flags, kpi.id, flag_names))
        combos, where = np.unique(np.stack(parts, axis=1), axis=0, return_inverse=True)
        texts = [
            _safe_text(" ".join(t for t in (w(int(x)) for w, x in zip(writers, combo, strict=True)) if t))
            for combo in combos.tolist()
        ]
        c.data["flags"] = pl.Series(texts, dtype=pl.Utf8).gather(where.reshape(-1))
        flags = pl.col("flags")
        graded = [grade_cell(g) for g in r.grade[rows].tolist()]
        fixed = {
            "period": pl.lit(_safe_text(appraisal.period)),
            "subject": _safe(c.text("subject", subjects)),
            "name": _safe(c.text("name", [names.get(s, "") for s in subjects])) if names else pl.lit(""),
            "parent": _safe(c.text("parent", parents)) if any(parents) else pl.lit(""),
            "total": c.fixed("total", f.total[0], places, f.total[1]).fill_null(""),
            "total_before_gates": c.fixed("before", f.before[0], places, f.before[1]).fill_null(""),
            "grade": c.text("grade", [g for g, _ in graded]),
            "grade_title": c.text("grade_title", [t for _, t in graded]),
            "bonus_multiplier": c.text("bonus", list(map(bonus_cell, r.bonus[rows].tolist()))),
            "rank": pl.when(c.ints("rank", r.rank[rows]) > 0).then(pl.col("rank").cast(pl.Utf8)).otherwise(pl.lit("")),
            "rank_in_parent": pl.when(c.ints("rank_in", r.rank_in[rows]) > 0)
            .then(pl.col("rank_in").cast(pl.Utf8))
            .otherwise(pl.lit("")),
            "flags": flags,
        }
        cells = [fixed[name] for name in WIDE_COLUMNS]
        for i, kpi in enumerate(card.kpis):
            col = r.scored.kpis[kpi.id]
            score, score_na = f.scores[i]
            value = c.value(f"v{i}", col.value, rows, places + 2, figures.mode)
            if not isinstance(col.value, Num):
                value = _safe(value)
            cells += [value.fill_null(""), c.fixed(f"s{i}", score, places, score_na).fill_null("")]
        frame = c.frame()
        text = frame.select(pl.concat_str(cells, separator=",").str.join("\n").alias("t")).item()
        del frame, c
        if text:
            yield text + "\n"
