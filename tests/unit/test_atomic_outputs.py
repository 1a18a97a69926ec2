"""Every output of every command is atomic: a writer killed or failing half-way leaves the old file intact.

Each command's writer is made slow half-way (the producer of its bytes, not the atomic writer
itself), its process killed with SIGKILL while the new file is half written, and the previous file
is then checked byte for byte. Writers at once in several threads leave one complete, readable file.
"""

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from kpi_engine.cli import main
from kpi_engine.io.output import replacing, write_file

S1 = ["rulesets/sales_rep_monthly.yaml", "--records", "examples/sales_rep_monthly/records.csv"]
PLAN = ["plan", "examples/plan/plan_2026.yaml"]

# In the child: writers that need a path (openpyxl, pyarrow, XlsxWriter through io.output.replacing)
# are cut to half their bytes, then wait to be killed; writers of text (everything through
# io.output.write_file) get their text half, then wait.
SLOW_HALF = """
import contextlib, os, sys, time
from pathlib import Path

def stall(path=None):
    if path is not None:
        data = Path(path).read_bytes()
        Path(path).write_bytes(data[: len(data) // 2])
    sys.stdout.write("half\\n")
    sys.stdout.flush()
    time.sleep(600)

from kpi_engine.io import output
real_replacing, real_write_file = output.replacing, output.write_file

@contextlib.contextmanager
def slow_replacing(path):
    with real_replacing(path) as tmp:
        yield tmp
        stall(tmp)

def slow_file(path, text):
    given = [text] if isinstance(text, (str, bytes)) else list(text)  # pieces of text or of bytes
    data = given[0][:0].join(given) if given else ""
    def pieces():
        yield data[: len(data) // 2]
        stall()
        yield data[len(data) // 2 :]
    real_write_file(path, pieces())

output.replacing, output.write_file = slow_replacing, slow_file
import kpi_engine.io.arrow, kpi_engine.io.targets, kpi_engine.cli._common, kpi_engine.cli.appraise
kpi_engine.io.arrow.replacing = kpi_engine.io.targets.replacing = slow_replacing
kpi_engine.cli.appraise.replacing = slow_replacing
kpi_engine.cli._common.write_file = slow_file
from kpi_engine.cli import main
sys.exit(main(sys.argv[1:]))
"""

COMMANDS = {
    "plan.xlsx": [*PLAN, "--format", "xlsx"],
    "plan.csv": PLAN,
    "report.parquet": ["evaluate", *S1, "--format", "parquet"],
    "report.xlsx": ["evaluate", *S1, "--format", "xlsx"],
    "report.html": ["evaluate", *S1, "--format", "html"],
    "report.csv": ["evaluate", *S1, "--format", "csv"],
    "report.json": ["evaluate", *S1, "--format", "json"],
    "credits.json": ["attribute", "examples/attribution/policy.yaml", "--events", "examples/attribution/events.csv"],
    "alerts.csv": ["alerts", "rulesets/sales_dashboard_monthly.yaml", "--records",
                   "examples/sales_dashboard_monthly/records.csv", "--events",
                   "examples/sales_dashboard_monthly/events.csv", "--period", "2026-05", "--format", "csv"],
    "calendar.txt": ["calendar", "2026"],
    "track.csv": ["track", "examples/year/plan_2026.yaml", "--actuals", "examples/year/actuals_2026.csv",
                  "examples/year/company_spend_2026.csv", "--format", "csv"],
    "year.html": ["track", "examples/year/plan_2026.yaml", "--actuals", "examples/year/actuals_2026.csv",
                  "examples/year/company_spend_2026.csv", "--risks", "examples/year/risks_2026.yaml",
                  "--format", "html"],
    "risks.txt": ["risks", "examples/year/risks_2026.yaml", "--as-of", "2026-06-30"],
    "territories.json": ["territories", "examples/year/accounts_2026.csv", "--design",
                         "examples/year/territories_2026.yaml", "--format", "json"],
    "rotation.csv": ["rotation", "examples/attribution/policy.yaml", "--events", "examples/attribution/floor.csv",
                     "--format", "csv"],
    "alerts.log.csv": ["alerts", "rulesets/sales_dashboard_monthly.yaml", "--records",
                       "examples/sales_dashboard_monthly/records.csv", "--period", "2026-05", "--log"],
    "record.json": ["evaluate", *S1, "--record"],
    "schema.json": ["schema"],
}  # fmt: skip


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_writer_killed_half_way_leaves_the_old_file_intact(root, tmp_path, name):
    """SIGKILL while the new output is half written: the previous file is unchanged, byte for byte."""
    if name.endswith((".xlsx", ".parquet")):
        pytest.importorskip("openpyxl" if name == "plan.xlsx" else "pyarrow")
    target = tmp_path / name
    into = name in {"record.json", "alerts.log.csv"}  # the command's last option names the file
    argv = [*COMMANDS[name], str(target)] if into else [*COMMANDS[name], "--out", str(target)]
    assert main(argv) == 0
    if name == "alerts.log.csv":  # a log keeps its rows: start from a log of one alert, then add the others
        target.write_text(target.read_text(encoding="utf-8").split("\n", 2)[0] + "\n", encoding="utf-8")
    old = target.read_bytes()
    with subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", textwrap.dedent(SLOW_HALF), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=root,
    ) as child:
        try:
            line = child.stdout.readline()
            assert line == "half\n", child.stderr.read()
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=60)
    assert target.read_bytes() == old


def test_a_failing_path_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    """A producer that writes half a file and raises: the old file is intact and no temporary is left."""
    target = tmp_path / "book.xlsx"
    target.write_bytes(b"old workbook")

    def produce():
        with replacing(target) as tmp:
            tmp.write_bytes(b"half a new wor")
            raise RuntimeError("disk pulled")

    with pytest.raises(RuntimeError, match="disk pulled"):
        produce()
    assert target.read_bytes() == b"old workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.xlsx"]


def test_a_path_writer_goes_through_to_a_device():
    """A path writer aimed at /dev/null writes through, leaving the device a device."""
    with replacing("/dev/null") as tmp:
        tmp.write_bytes(b"x" * 10)
    assert Path("/dev/null").is_char_device()


def test_parquet_writers_at_once_leave_one_readable_file(tmp_path):
    """Eight threads writing the same Parquet file five times: each time one complete, readable file."""
    pq = pytest.importorskip("pyarrow.parquet")
    from kpi_engine import evaluate, load_ruleset, read_table
    from kpi_engine.io.arrow import write_parquet

    appraisal = evaluate(load_ruleset(S1[0]), read_table(S1[2]))
    target = tmp_path / "same.parquet"
    for _ in range(5):
        threads = [threading.Thread(target=write_parquet, args=(appraisal, target)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pq.read_table(target).num_rows == 44
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.parquet"]


def test_text_writers_at_once_leave_one_complete_file(tmp_path):
    """Eight threads writing different JSON to one file: it parses and is one writer's whole text."""
    target = tmp_path / "out.json"
    texts = [json.dumps({"writer": i, "pad": "x" * 200_000}) for i in range(8)]
    threads = [threading.Thread(target=write_file, args=(target, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_text(encoding="utf-8") in texts
