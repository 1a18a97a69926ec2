"""The architecture, checked: a functional core with I/O and the CLI at the edges."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "kpi_engine"
IO_MODULES = {"argparse", "csv", "tempfile", "sys", "subprocess", "socket", "urllib", "pathlib", "shutil"}
# The functional core: every module of these stage packages, plus the attribution engine and policy.
CORE_PACKAGES = ("language", "expr", "evaluation", "time", "audit", "management", "payout")
CORE_MODULES = (
    "attribution/_engine.py",
    "attribution/_feed.py",
    "attribution/_policy.py",
    "attribution/rotation.py",
)
EDGE = ("kpi_engine.cli", "kpi_engine.io", "kpi_engine.report")


def core_files():
    for package in CORE_PACKAGES:
        yield from sorted((SRC / package).rglob("*.py"))
    for rel in CORE_MODULES:
        yield SRC / rel


def imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_modules_do_no_io():
    """Core modules import no file, process or network modules and never the CLI."""
    files = list(core_files())
    assert len(files) > 20
    for path in files:
        found = set(imports(path))
        assert not {m.split(".")[0] for m in found} & IO_MODULES, path
        assert not [m for m in found if m.startswith(EDGE)], path


def test_only_the_cli_prints():
    """print() appears only in the cli package."""
    for path in SRC.rglob("*.py"):
        if path.parent.name == "cli":
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
