"""io.output.write_file: atomic replacement, modes, links, devices, FIFOs, stale temporaries, full disks."""

import errno
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kpi_engine.errors import KpiError
from kpi_engine.io import output
from kpi_engine.io.output import clean_stale_temporaries, write_file


def test_new_file_gets_the_umask_mode_and_the_text(tmp_path):
    """A new file holds the text and has mode 0666 less the umask."""
    target = tmp_path / "out.txt"
    write_file(target, "héllo\n")
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text(encoding="utf-8") == "héllo\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_existing_file_keeps_its_mode(tmp_path):
    """Replacing a 0600 file keeps it 0600."""
    target = tmp_path / "secret.json"
    target.write_text("old")
    target.chmod(0o600)
    write_file(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_symlink_is_kept_and_its_target_written(tmp_path):
    """--out through a symbolic link writes the file it points to and keeps the link."""
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_file(link, "new")
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_dev_null_stays_a_device():
    """Writing to /dev/null writes through and leaves the device in place."""
    write_file("/dev/null", "anything")
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def test_fifo_is_written_through(tmp_path):
    """A named pipe receives the text and stays a pipe."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_file(fifo, "through the pipe")
    reader.join(timeout=30)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_full_device_is_a_clean_error():
    """/dev/full (ENOSPC on write) gives a one-line KpiError naming the lack of space."""
    with pytest.raises(KpiError, match="no space left"):
        write_file("/dev/full", "x" * 10_000)


def test_enospc_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    """A full disk while writing keeps the previous file intact and removes the temporary."""
    target = tmp_path / "report.csv"
    target.write_text("previous")

    def full(_fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", full)
    with pytest.raises(KpiError, match="no space left"):
        write_file(target, "new content")
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]


def test_directory_target_is_refused(tmp_path):
    """A directory as --out is an error, not a crash."""
    with pytest.raises(KpiError, match="is a directory"):
        write_file(tmp_path, "x")


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    """.NAME.<pid>.*.tmp of a process that no longer runs is removed; a live one's is kept."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    pid = int(dead.stdout)
    target = tmp_path / "out.json"
    stale = tmp_path / f".out.json.{pid}.abc123.tmp"
    live = tmp_path / f".out.json.{os.getpid()}.xyz.tmp"
    other = tmp_path / ".other.json.1.abc.tmp"
    for p in (stale, live, other):
        p.write_text("partial")
    assert clean_stale_temporaries(target) == [stale]
    write_file(target, "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.json", live.name, other.name])


def test_dev_stdout_on_a_pipe_is_written_through():
    """--out /dev/stdout works when stdout is a pipe (its link has no real path to replace)."""
    script = "from kpi_engine.io.output import write_file; write_file('/dev/stdout', 'piped')"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)  # noqa: S603 - our interpreter
    assert done.stdout == "piped"


def test_dangling_link_creates_its_target(tmp_path):
    """A link to a file that does not exist yet gets that file; the link stays."""
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "new.txt")
    write_file(link, "made")
    assert link.is_symlink()
    assert (tmp_path / "new.txt").read_text() == "made"
