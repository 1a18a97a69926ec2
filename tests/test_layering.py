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


# Calls that read a file: the builtin open() and Path.open(), Path.read_text()/read_bytes(), and a
# reader of a columnar or spreadsheet library (polars, pyarrow, pandas, duckdb, openpyxl): read_*,
# scan_*, load_workbook, ParquetFile, connect.
FILE_METHODS = {"open", "read_text", "read_bytes", "write_text", "write_bytes"}
LIBRARY_READERS = ("read_", "scan_", "load_workbook", "ParquetFile", "open_input_file", "memory_map", "connect")
LIBRARIES = {"polars", "pyarrow", "pandas", "duckdb", "openpyxl"}
WRITE_MODES = set("wax")
# The only files outside io/ and cli/ that open a file, and why it is not an input.
OPENS_ALLOWED = {
    "_limits.py": "/proc/self/statm: the process's own address space, read by the memory guard",
    "report/_i18n.py": "the package's own message catalogue (.mo), read from its resources",
}


def _library_aliases(tree):
    """Local names bound to one of LIBRARIES (``import polars as pl``, ``from pyarrow import parquet``)."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update({a.asname or a.name.split(".")[0]: a.name for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    return {name for name, module in names.items() if module.split(".")[0] in LIBRARIES}


def _writes(call):
    """Whether an open() call names a write mode (``"w"``, ``"ab"``, ``mode="x"``…) as a constant."""
    modes = [k.value for k in call.keywords if k.arg == "mode"]
    position = 0 if isinstance(call.func, ast.Attribute) else 1  # Path.open(mode) / open(file, mode)
    if len(call.args) > position:
        modes.append(call.args[position])
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & WRITE_MODES for m in modes)


def file_calls(source):
    """(line, what) of every call in ``source`` that opens, reads or writes a file."""
    tree = ast.parse(source)
    libraries = _library_aliases(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            yield node.lineno, "open (write)" if _writes(node) else "open"
        elif isinstance(func, ast.Name) and func.id in libraries and func.id.startswith(LIBRARY_READERS):
            yield node.lineno, func.id
        elif isinstance(func, ast.Attribute) and func.attr in FILE_METHODS:
            write = func.attr.startswith("write_") or (func.attr == "open" and _writes(node))
            yield node.lineno, f"{func.attr} (write)" if write else func.attr
        elif isinstance(func, ast.Attribute) and func.attr.startswith(LIBRARY_READERS):
            root = func.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in libraries:
                yield node.lineno, f"{root.id}.{func.attr}"


def test_the_file_check_sees_reads_and_writes():
    """The check finds open(), Path reads and library readers, and tells a write from a read."""
    source = (
        "import polars as pl\nimport pyarrow.parquet as pq\nfrom pathlib import Path\n"
        "open(p)\nPath(p).read_text()\np.read_bytes()\npl.read_csv(p)\npl.scan_parquet(p)\npq.read_table(p)\n"
        "open(p, 'w')\np.open(mode='ab')\np.write_text(t)\nparse(text)\nrows.read_table(p)\n"
    )
    found = [what for _, what in file_calls(source)]
    assert found == [
        "open", "read_text", "read_bytes", "pl.read_csv", "pl.scan_parquet", "pq.read_table",
        "open (write)", "open (write)", "write_text (write)",
    ]  # fmt: skip


def test_only_io_and_the_cli_open_files():
    """Files are read only under io/ and cli/; report/ may write its output but reads no file."""
    checked = 0
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("io/", "cli/")):
            continue
        calls = list(file_calls(path.read_text(encoding="utf-8")))
        checked += 1
        if rel in OPENS_ALLOWED:
            assert calls, (rel, "no longer opens a file: drop it from OPENS_ALLOWED")
            continue
        if rel.startswith("report/"):
            calls = [c for c in calls if not c[1].endswith("(write)")]
        assert not calls, (rel, calls)
    assert checked > 100


def test_only_the_edges_call_the_readers_of_io():
    """Outside io/, cli/ and the case harnesses, no module imports io/ when it runs (it takes values)."""
    harnesses = {"conformance.py", "testing.py"}  # they read case files and fixtures through io/
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(("io/", "cli/")) or rel in harnesses:
            continue
        found = [m for m, _ in runtime_imports(path) if m.startswith("kpi_engine.io")]
        assert not found, (rel, found)
