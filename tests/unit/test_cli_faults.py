"""The kpi command under faults: one line and a distinct exit code for internal errors and Ctrl-C."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kpi_engine import cli


@pytest.fixture(autouse=True)
def at_root(root, monkeypatch):
    monkeypatch.chdir(root)


def _boom(_args):
    raise ValueError("something unexpected\nsecond line")


def _interrupt(_args):
    raise KeyboardInterrupt


def test_internal_error_exits_70_with_one_line(capsys, monkeypatch):
    """An unexpected exception exits 70 with one line asking for a report, no traceback."""
    monkeypatch.setattr(cli.rulesets, "cmd_schema", _boom)
    monkeypatch.delenv("KPI_DEBUG", raising=False)
    assert cli.main(["schema"]) == 70
    err = capsys.readouterr().err
    assert err == (
        "kpi: internal error (ValueError): something unexpected — please report this with the command and input\n"
    )


def test_kpi_debug_shows_the_traceback(capsys, monkeypatch):
    """KPI_DEBUG=1 prints the traceback before the one-line message."""
    monkeypatch.setattr(cli.rulesets, "cmd_schema", _boom)
    monkeypatch.setenv("KPI_DEBUG", "1")
    assert cli.main(["schema"]) == 70
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.rstrip().endswith("please report this with the command and input")


def test_keyboard_interrupt_exits_130(capsys, monkeypatch):
    """Ctrl-C (KeyboardInterrupt) prints 'kpi: interrupted' and exits 130."""
    monkeypatch.setattr(cli.rulesets, "cmd_schema", _interrupt)
    monkeypatch.delenv("KPI_DEBUG", raising=False)
    assert cli.main(["schema"]) == 130
    assert capsys.readouterr().err == "kpi: interrupted\n"


def test_sigint_to_a_running_process_exits_130():
    """A real SIGINT to a running kpi gives one line and exit code 130."""
    script = (
        "import sys, time\n"
        "from kpi_engine import cli\n"
        "def slow(args):\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "cli.rulesets.cmd_schema = slow\n"
        "sys.exit(cli.main(['schema']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KPI_DEBUG"}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err == "kpi: interrupted\n"


def test_an_interrupt_raised_again_while_reporting_still_exits_130(capsys, monkeypatch):
    """A second KeyboardInterrupt while the first is reported (Polars re-raises Ctrl-C) ends in one line, 130."""
    report = cli._fail
    calls = []

    def interrupted_again(message, code):
        calls.append(message)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return report(message, code)

    monkeypatch.setattr(cli.rulesets, "cmd_schema", _interrupt)
    monkeypatch.setattr(cli, "_fail", interrupted_again)
    assert cli.main(["schema"]) == 130
    assert capsys.readouterr().err == "kpi: interrupted\n"
    assert calls == ["kpi: interrupted"] * 2


def test_memory_error_is_one_line_and_exit_1(capsys, monkeypatch):
    """Running out of memory (ulimit -v) is the environment: one line saying so, exit 1, not 70."""

    def exhausted(_args):
        raise MemoryError

    monkeypatch.setattr(cli.rulesets, "cmd_schema", exhausted)
    assert cli.main(["schema"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kpi: not enough memory")
    assert err.count("\n") == 1


def test_validate_caps_the_file_size(tmp_path, capsys, monkeypatch):
    """kpi validate refuses a file over the size cap like evaluate, without reading it."""
    from kpi_engine.io import loading

    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.yaml"
    big.write_text("ruleset: x\n" + "#" * 200 + "\n")
    assert cli.main(["validate", str(big)]) == 1
    assert "file is larger than 100 bytes" in capsys.readouterr().err


def test_directory_as_events_is_a_clean_error(tmp_path, capsys):
    """A directory given as --events is a one-line error, exit 1."""
    code = cli.main(["attribute", "examples/attribution/policy.yaml", "--events", str(tmp_path)])
    assert code == 1
    assert capsys.readouterr().err.strip() == f"{tmp_path}: is a directory, not a file"


def test_out_to_a_full_disk_exits_1_without_a_traceback(capsys):
    """--out /dev/full (ENOSPC) is a clean one-line error, exit 1."""
    assert cli.main(["schema", "--out", "/dev/full"]) == 1
    err = capsys.readouterr().err
    assert "no space left" in err
    assert "Traceback" not in err


def test_endless_device_is_capped(capsys, monkeypatch):
    """A device that never ends (/dev/zero reports size 0) is read up to the cap, then refused."""
    from kpi_engine.io import loading

    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    assert cli.main(["validate", "/dev/zero"]) == 1
    assert "file is larger than 1000 bytes" in capsys.readouterr().err


def test_a_flood_of_problems_is_cut_short(tmp_path, capsys):
    """A log with 3,000 bad rows prints 1,000 located lines and how many more there are."""
    log = tmp_path / "events.csv"
    rows = "".join(f"e{i},teleport,2026-03-02T10:00:00,a,c1,,\n" for i in range(3000))
    log.write_text("event_id,type,at,rep,customer,deal_id,amount\n" + rows, encoding="utf-8")
    assert cli.main(["attribute", "examples/attribution/policy.yaml", "--events", str(log)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1001
    assert lines[-1] == "… and 2000 more problem(s) not shown (3000 in all)"


def test_escape_sequences_in_a_header_are_shown_as_text(tmp_path, capsys):
    """A CSV header holding an ANSI escape is reported with it shown as \\x1b, never raw."""
    records = tmp_path / "r.csv"
    records.write_text("subject,period,x\x1b[2J\x1b]0;pwned\x07\nr1,2026-03,1\n", encoding="utf-8")
    events = tmp_path / "e.csv"
    events.write_text("event_id,type,at,rep,customer,bad\x1b[31m\ne1,registration,2026-03-01T09:00:00,r,c,\n")
    cli.main(["evaluate", "tests/corpus/tiny.yaml", "--records", str(records)])
    assert cli.main(["attribute", "examples/attribution/policy.yaml", "--events", str(events)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\x07" not in err
    assert "x\\x1b[2J\\x1b]0;pwned\\x07" in err
    assert "bad\\x1b[31m" in err


INJECTION = (
    "event_id,type,at,rep,customer,deal_id,amount\n"
    'e1,registration,2026-03-01T09:00:00,"=HYPERLINK(""http://x"")",=1+2+cmd|x,,\n'
    'e2,deal,2026-03-02T09:00:00,"=HYPERLINK(""http://x"")",=1+2+cmd|x,@D1,10\n'
    "e3,registration,2026-03-01T09:00:00,r\x1b[2J,c2,,\n"
)


def test_attribute_csv_writes_formula_like_ids_as_text(tmp_path, capsys):
    """kpi attribute --format csv prefixes cells a spreadsheet would run (=, +, @) with a quote."""
    log = tmp_path / "e.csv"
    log.write_text(INJECTION, encoding="utf-8")
    assert cli.main(["attribute", "examples/attribution/policy.yaml", "--events", str(log), "--format", "csv"]) == 0
    import csv
    import io

    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1][:4] == ["'@D1", "'=1+2+cmd|x", '\'=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")']
    assert rows[1][4] == "10"
    assert not [cell for row in rows for cell in row if cell[:1] in {"=", "+", "@"}]


def test_attribute_table_shows_escapes_as_text(tmp_path, capsys):
    """kpi attribute --format table shows an escape sequence in a rep id as text."""
    log = tmp_path / "e.csv"
    log.write_text(INJECTION, encoding="utf-8")
    assert cli.main(["attribute", "examples/attribution/policy.yaml", "--events", str(log), "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "r\\x1b[2J registered c2" in out


def test_alerts_and_plan_csv_write_formula_like_names_as_text(tmp_path, capsys):
    """kpi alerts --format csv and kpi plan quote a subject named like a formula."""
    records = tmp_path / "records.csv"
    text = Path("examples/sales_dashboard_monthly/records.csv").read_text(encoding="utf-8")
    records.write_text(text.replace("chen_jie", "=cmd|x"), encoding="utf-8")
    args = ["alerts", "rulesets/sales_dashboard_monthly.yaml", "--records", str(records), "--format", "csv"]
    assert cli.main([*args, "--period", "2026-05"]) == 0
    out = capsys.readouterr().out
    assert "'=cmd|x" in out
    assert ",=cmd" not in out
    plan = tmp_path / "plan.yaml"
    plan.write_text(Path("examples/plan/plan_2026.yaml").read_text(encoding="utf-8").replace("acme", "+acme"))
    assert cli.main(["plan", str(plan), "--level", "quarter"]) == 0
    out = capsys.readouterr().out
    assert "'+acme" in out
    assert ",+acme" not in out


def test_a_ctrl_c_while_the_cli_is_loading_exits_130():
    """A SIGINT while the console script is still importing the CLI gives one line and 130, not a traceback."""
    script = (
        "import importlib.abc, sys\n"
        "class Interrupt(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'kpi_engine.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from kpi_engine._entry import main\n"
        "sys.exit(main())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 130
    assert done.stderr == "kpi: interrupted\n"


def test_the_entry_point_loads_nothing_heavy_before_it_can_catch_ctrl_c():
    """Importing the console script's module imports neither the CLI nor the evaluator (so Ctrl-C is caught early)."""
    script = "import sys, kpi_engine._entry; print(sorted(m for m in sys.modules if m.startswith('kpi_engine')))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)  # noqa: S603
    assert done.stdout.strip() == "['kpi_engine', 'kpi_engine._entry', 'kpi_engine._lazy', 'kpi_engine._limits']"


def test_the_public_names_still_import_from_the_package():
    """Every name in kpi_engine.__all__ (and __version__) resolves to the object in its home module."""
    import kpi_engine
    from kpi_engine.evaluation.engine import evaluate

    assert kpi_engine.evaluate is evaluate
    assert all(getattr(kpi_engine, name) is not None for name in kpi_engine.__all__)
    assert kpi_engine.__version__
    with pytest.raises(AttributeError):
        _ = kpi_engine.no_such_name


def test_a_yaml_file_is_refused_by_its_size_past_the_yaml_limit(tmp_path, capsys):
    """A ruleset more than 4x the YAML document limit in bytes is refused by its size, not read whole first."""
    from kpi_engine.io import loading

    big = tmp_path / "big.yaml"
    with big.open("w") as fh:
        fh.write("ruleset: x\n")
        fh.truncate(loading.MAX_YAML_FILE_BYTES + 10)  # sparse: no disk used
    assert cli.main(["validate", str(big)]) == 1
    assert capsys.readouterr().err.strip() == f"{big}: file is larger than {loading.MAX_YAML_FILE_BYTES} bytes"
