"""Excel workbooks (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``) through python-calamine (the ``excel`` extra).

The first row of the sheet is the header; row numbers are the sheet's own (the header is row 1),
so a message points at the cell a user sees. Numbers arrive as binary floats (Excel stores
doubles) and are read by their shortest repr under the rule of ``_numbers.float_text``; dates
become ISO text. A location reads ``book.xlsx[Sheet1]:3:2``.
"""

from __future__ import annotations

from pathlib import Path

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.frames import rows_table
from kpi_engine.evaluation.records import Table

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})


def read_excel(path: Path, sheet: str | None = None, name: str | None = None) -> Table:
    """Read one sheet (default: the first) of a workbook into a ``Table``.

    Raises:
        KpiError: when the reader is not installed, the file cannot be read or the sheet does not
            exist (naming the sheets). DataError: naming each bad cell.
    """
    try:
        from python_calamine import CalamineWorkbook  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError(f"{path}: reading Excel needs python-calamine: pip install 'kpi_engine[excel]'") from None
    if not path.is_file():
        raise KpiError(f"{path}: no such file")
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for a damaged file
        raise KpiError(f"{path}: not a readable workbook ({exc})") from None
    names = list(book.sheet_names)
    chosen = sheet if sheet is not None else (names[0] if names else None)
    if chosen is None or chosen not in names:
        shown = ", ".join(names) or "none"
        raise KpiError(f"{path}: no sheet named '{chosen}' (sheets: {shown}); name one with --sheet")
    rows = book.get_sheet_by_name(chosen).to_python(skip_empty_area=False)
    label = name or f"{path}[{chosen}]"
    if not rows:
        return Table(label, ())
    header = list(rows[0])
    while header and (header[-1] is None or header[-1] == ""):
        header.pop()  # trailing empty columns of the sheet's used area
    width = len(header)
    return rows_table(header, ((i, row[:width]) for i, row in enumerate(rows[1:], start=2)), label)
