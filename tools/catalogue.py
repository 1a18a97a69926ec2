"""Maintain the message catalogue: list the msgids the code uses, and compile the .po files with Babel.

python tools/catalogue.py check     # every msgid used in code has a Chinese translation
python tools/catalogue.py compile   # kpi.po -> kpi.mo (needs Babel: the dev and test extras)
"""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "kpi_engine"
LOCALE = SRC / "report" / "locale"
SOURCES = [
    *sorted((SRC / "report").glob("*.py")),
    *sorted((SRC / "cli").glob("*.py")),
    SRC / "evaluation" / "explain.py",
]
PAY_TRACES = [SRC / "payout" / "engine.py", SRC / "payout" / "model.py"]  # w("…") templates, context "pay trace"


def used_msgids() -> set[tuple[str, str]]:
    """(context, msgid) of every t("...")/pt("ctx", "...") call with literal text, plus the issue templates."""
    found: set[tuple[str, str]] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = [a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None for a in node.args]
            if name == "t" and args and args[0] is not None:
                found.add(("", args[0]))
            elif name == "pt" and len(args) > 1 and args[0] is not None and args[1] is not None:
                found.add((args[0], args[1]))
    found |= {("pay trace", template) for template in pay_trace_templates()}
    sys.path.insert(0, str(ROOT / "src"))
    from kpi_engine.report._trace import AGGREGATES, COMPARES, METHODS
    from kpi_engine.report._view import KPI_FLAGS, LEVELS, ROUNDING_WORDS
    from kpi_engine.report.csv import COLUMNS, KPI_CELLS, WIDE_COLUMNS
    from kpi_engine.report.issues import DETAILS, MESSAGES, PERIOD_KINDS, SUGGESTIONS, TEMPLATES

    found |= {("csv", c) for c in (*COLUMNS, *WIDE_COLUMNS, *KPI_CELLS)}
    found |= {("flag", f) for f in KPI_FLAGS}
    found |= {("level", level) for level in LEVELS}
    found |= {("method", m) for m in METHODS} | {("compare", c) for c in COMPARES}
    found |= {("aggregate", a) for a in AGGREGATES}
    found |= {("rounding", words) for words in ROUNDING_WORDS.values()}
    found |= {(f"issue:{code}", text) for code, texts in TEMPLATES.items() for text in texts}
    found |= {("suggestion", text) for text in SUGGESTIONS}
    found |= {("detail", text) for text in DETAILS} | {("message", text) for text in MESSAGES}
    found |= {("period kind", kind) for kind in PERIOD_KINDS}
    return found


def pay_trace_templates() -> set[str]:
    """The templates of pay traces: the literal first argument of every ``w("…")`` and ``Joined("…")`` call."""
    found: set[str] = set()
    for path in PAY_TRACES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in {"w", "Joined"} and node.args:
                first = node.args[0]
                # a template of mathematical signs only (the " + " between parts) reads the same in every language
                if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value.strip(" +×→=/"):
                    found.add(first.value)
    return found


def read_po(path: Path):  # noqa: ANN201
    from babel.messages.pofile import read_po as babel_read_po

    with path.open("rb") as fh:
        return babel_read_po(fh)


def compiled(path: Path) -> bytes:
    """The .mo bytes Babel compiles from a .po file."""
    from babel.messages.mofile import write_mo

    buf = io.BytesIO()
    write_mo(buf, read_po(path))
    return buf.getvalue()


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "check"
    pos = sorted(LOCALE.glob("*/LC_MESSAGES/kpi.po"))
    if command == "compile":
        for po in pos:
            po.with_suffix(".mo").write_bytes(compiled(po))
            print(f"compiled {po.relative_to(ROOT)}")
        return 0
    missing = 0
    for po in pos:
        catalog = read_po(po)
        for context, msgid in sorted(used_msgids()):
            entry = catalog.get(msgid, context=context or None)
            if entry is None or not entry.string:
                missing += 1
                print(f"{po.relative_to(ROOT)}: no translation of [{context}] {msgid!r}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
