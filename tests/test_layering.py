"""The architecture, checked: a functional core with I/O and the CLI at the edges."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "kpi_engine"
IO_MODULES = {"argparse", "csv", "tempfile", "sys", "subprocess", "socket", "urllib", "pathlib", "shutil"}
# The functional core: every module of these stage packages, plus the attribution engine and policy.
CORE_PACKAGES = ("language", "expr", "plan", "evaluation", "time", "audit", "management", "payout")
CORE_MODULES = (
    "attribution/_engine.py",
    "attribution/_feed.py",
    "attribution/_policy.py",
    "attribution/rotation.py",
    "_numbers.py",
    "_columns.py",
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


def runtime_imports(path):
    """(module, names) of every import that runs (``if TYPE_CHECKING:`` blocks are left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skipped.update(id(n) for child in node.body for n in ast.walk(child))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from ((a.name, ()) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, tuple(a.name for a in node.names)


def module_level_imports(path):
    """Imports at the top level of a module (not inside functions), outside ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_the_plan_imports_no_executor():
    """plan/ (the meaning of a scorecard) imports nothing of evaluation/ (the executors that run it)."""
    files = sorted((SRC / "plan").rglob("*.py"))
    assert len(files) > 10
    for path in files:
        found = [m for m, _ in runtime_imports(path) if m.startswith("kpi_engine.evaluation")]
        assert not found, (path, found)


def test_columnar_code_imports_no_private_name_of_the_row_executor():
    """The columnar executor reaches the row executor only through its public names."""
    files = sorted((SRC / "evaluation" / "columnar").rglob("*.py"))
    assert files
    for path in files:
        for module, names in runtime_imports(path):
            if module in {"kpi_engine.evaluation.row", "kpi_engine.evaluation.engine"}:
                assert not [n for n in names if n.startswith("_")], (path, module, names)


def test_the_row_executor_never_loads_numpy_or_polars_at_import():
    """The plan, the expression kernels, the exact columns and the row executor import no heavy library at load."""
    heavy = {"numpy", "polars", "pyarrow", "pandas", "duckdb"}
    files = [*sorted((SRC / "plan").rglob("*.py")), *sorted((SRC / "expr").rglob("*.py"))]
    files += [SRC / "_columns.py", SRC / "evaluation" / "row.py", SRC / "evaluation" / "engine.py"]
    files += [SRC / "evaluation" / "columnar" / "__init__.py", SRC / "evaluation" / "columnar" / "_batches.py"]
    for path in files:
        found = {m.split(".")[0] for m in module_level_imports(path)} & heavy
        assert not found, (path, found)
