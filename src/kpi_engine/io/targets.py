"""Reading target plan files (YAML) and writing their results (CSV, JSON; xlsx when openpyxl is installed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from kpi_engine.errors import KpiError
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text
from kpi_engine.io.output import replacing
from kpi_engine.time.targets import LEVELS, TargetPlan, TargetPlanResult, parse_plan

COLUMNS = ("item", "kind", "field", "subject", "parent", "level", "period", "value")


def read_plan(path: str | Path) -> TargetPlan:
    """Read and validate a plan file.

    Raises:
        RulesetError: for an invalid plan, every problem located. KpiError: if the file cannot be read.
    """
    p = Path(path)
    return parse_plan(_read_text(p, MAX_YAML_FILE_BYTES), str(p))


def plan_csv(result: TargetPlanResult, levels: tuple[str, ...] = LEVELS) -> str:
    """The allocations as CSV: one row per item, subject and period (values as exact decimal text)."""
    from kpi_engine.report._view import CsvWriter, spreadsheet_safe  # noqa: PLC0415 - names must not run as formulas

    buf = io.StringIO()
    writer = CsvWriter(buf)
    writer.writerow(COLUMNS)
    for row in result.rows(levels):
        writer.writerow(["" if row[k] is None else spreadsheet_safe(str(row[k])) for k in COLUMNS])
    return buf.getvalue()


def plan_json(result: TargetPlanResult, levels: tuple[str, ...] = LEVELS) -> str:
    """The allocations as JSON with the plan's id, version, year and calendar."""
    spec = result.plan.spec
    doc = {
        "plan": {"id": spec.plan, "version": spec.version, "title": spec.title, "sha256": result.plan.sha256},
        "year": spec.year,
        "calendar": result.plan.calendar.name,
        "allocations": result.rows(levels),
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def write_plan_xlsx(result: TargetPlanResult, path: str | Path, levels: tuple[str, ...] = LEVELS) -> None:
    """Write the allocations to an xlsx workbook, one sheet per level (needs openpyxl).

    Raises:
        KpiError: if openpyxl is not installed.
    """
    try:
        from openpyxl import Workbook  # type: ignore[import-not-found, import-untyped, unused-ignore] # noqa: PLC0415
    except ImportError:
        msg = "xlsx output needs openpyxl: pip install openpyxl"
        raise KpiError(msg) from None
    from kpi_engine.report._view import spreadsheet_safe  # noqa: PLC0415 - names must not run as formulas

    book = Workbook()
    book.remove(book.active)
    for level in levels:
        rows = result.rows((level,))
        if not rows:
            continue
        sheet = book.create_sheet(level)
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append(["" if row[c] is None else spreadsheet_safe(str(row[c])) for c in COLUMNS])
    with replacing(path) as tmp:
        book.save(str(tmp))
