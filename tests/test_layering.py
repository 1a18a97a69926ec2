"""The architecture, checked: a functional core with I/O and the CLI at the edges."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "kpi_engine"
IO_MODULES = {"argparse", "csv", "tempfile", "sys", "subprocess", "socket", "urllib", "pathlib", "shutil"}
CORE = {"evaluate.py", "scoring.py", "checks.py", "build.py", "model.py", "spec.py", "results.py", "records.py",
        "expr/_parse.py", "expr/_compile.py", "expr/_ir.py", "attribution/_engine.py", "attribution/_policy.py"}  # fmt: skip


def imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_modules_do_no_io():
    """Core modules import no file, process or network modules and never the CLI."""
    for rel in CORE:
        found = set(imports(SRC / rel))
        assert not {m.split(".")[0] for m in found} & IO_MODULES, rel
        assert "kpi_engine.cli" not in found, rel
        assert "kpi_engine.loading" not in found, rel


def test_only_the_cli_prints():
    """print() appears only in cli.py."""
    for path in SRC.rglob("*.py"):
        if path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "print"]
        assert not calls, path


def test_public_api_is_sorted_and_complete():
    """kpi_engine.__all__ is sorted and every name in it exists."""
    import kpi_engine

    assert list(kpi_engine.__all__) == sorted(kpi_engine.__all__)
    for name in kpi_engine.__all__:
        assert hasattr(kpi_engine, name)
