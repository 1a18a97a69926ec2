"""Files around run records and ruleset versions.

Reading records, resolving inputs kept by digest, naming tables by a path relative to the
record, and loading a folder of ruleset versions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.records import Table
from kpi_engine.io.arrow import DUCKDB_PREFIX
from kpi_engine.io.loading import MAX_FILE_BYTES, MAX_YAML_FILE_BYTES, _read_text, read_capped, read_table

RULESET_SUFFIXES = (".yaml", ".yml")


def read_text(path: str | Path) -> str:
    """A ruleset, policy or record as text (UTF-8, a BOM dropped, newlines as read by ``load_ruleset``).

    Raises:
        KpiError: if the file cannot be read.
    """
    return _read_text(Path(path))


def read_record(path: str | Path) -> bytes:
    """The bytes of a run record file (at most ``MAX_FILE_BYTES``: a device such as ``/dev/zero`` is cut short).

    Raises:
        KpiError: if the file cannot be read or is larger than the cap.
    """
    p = Path(path)
    try:
        data = read_capped(p, MAX_FILE_BYTES)
    except FileNotFoundError:
        raise KpiError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KpiError(f"{path}: is a directory, not a record file") from None
    except OSError as exc:
        raise KpiError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise KpiError(f"{path}: larger than {MAX_FILE_BYTES} bytes: not a run record this version reads")
    return data


def is_run_record(path: str | Path) -> bool:
    """Whether ``path`` is a run record file: JSON naming a run record format near its start.

    A record's keys are sorted, so ``format`` follows ``created``, ``digests`` and ``engine``
    within its first kilobyte. Reads at most 4 KiB; a folder or an unreadable path is not a record.
    """
    p = Path(path)
    if not p.is_file():
        return False
    try:
        with p.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b'"kpi_engine.run-record/' in head


def resolver(record_path: str | Path, inputs: str | Path | None = None) -> Callable[[str], Table]:
    """Read an input kept by digest, by its path relative to ``inputs`` (default: the record's folder).

    The record is someone else's data, so the path is checked before anything is opened: it must
    be relative, with no ``..`` part (``input_path_problem``), and lead, after every symbolic
    link, to a regular file below that folder: never a FIFO (it is opened without blocking, so a
    FIFO cannot hang the replay), a device, a directory or a file elsewhere.

    Raises:
        KpiError: (from the returned function) naming the path and why it is refused or unreadable.
    """
    from kpi_engine.audit.record import input_path_problem  # noqa: PLC0415 - the record layer, only when replaying

    folder = Path(inputs) if inputs is not None else Path(record_path).parent

    def resolve(relative: str) -> Table:
        problem = input_path_problem(relative)
        if problem is not None:
            raise KpiError(f"input path {relative!r} is refused: {problem}")
        return _read_below(folder, relative)

    return resolve


def _read_below(folder: Path, relative: str) -> Table:
    """The table at ``folder/relative`` if it is a regular file whose real path lies below the folder's."""
    base = os.path.realpath(folder)
    target = os.path.realpath(Path(base) / relative)
    if os.path.commonpath([base, target]) != base:
        raise KpiError(f"input path {relative!r} is refused: a symbolic link leads outside {folder}")
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except FileNotFoundError:
        msg = f"{relative}: no such file in {folder} (kpi replay --inputs DIR reads the inputs from DIR)"
        raise KpiError(msg) from None
    except OSError as exc:
        raise KpiError(f"{relative}: cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KpiError(f"input path {relative!r} is refused: {_kind(info.st_mode)}, not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise KpiError(f"{relative}: file is larger than {MAX_FILE_BYTES} bytes")
        table = read_table(target, name=relative)
        now = Path(target).stat()
        if (now.st_dev, now.st_ino) != (info.st_dev, info.st_ino):
            raise KpiError(f"{relative}: the file was replaced while it was read")
    finally:
        os.close(fd)
    return table


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def relative_to_record(table: Table, source: str | Path, record_path: str | Path) -> Table:
    """The same table named by the path of its file below the record's folder (``/`` separators).

    Only what ``kpi replay`` can read back is accepted, so that no record is written that could
    not be replayed.

    Raises:
        KpiError: naming the reason: a DuckDB query or a stream rather than a regular file, or a
            file that is not below the record's folder (after symbolic links).
    """
    shown = str(source)
    if shown.startswith(DUCKDB_PREFIX):
        raise KpiError(f"{shown}: a DuckDB query is not a file a record can refer to; use --record-inputs inline")
    try:
        info = Path(source).stat()
    except OSError as exc:
        raise KpiError(f"{shown}: cannot refer to it in a record: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KpiError(
            f"{shown}: {_kind(info.st_mode)}, not a regular file: replay could not read it again; "
            "use --record-inputs inline"
        )
    folder = os.path.realpath(Path(record_path).parent)
    real = os.path.realpath(source)
    if os.path.commonpath([folder, real]) != folder:
        raise KpiError(
            f"{shown}: not below the record's folder {Path(record_path).parent or '.'}; a record kept by digest "
            "names its inputs by a path below its folder: keep the record next to them, or use --record-inputs inline"
        )
    return attrs.evolve(table, name=Path(os.path.relpath(real, folder)).as_posix())


def ruleset_files(path: str | Path) -> Iterator[tuple[str, str]]:
    """The ``(file, text)`` of every ruleset in a folder (``*.yaml``, ``*.yml``), sorted by name, one at a time.

    Raises:
        KpiError: if the folder holds no ruleset or a file cannot be read.
    """
    folder = Path(path)
    try:
        entries = sorted(
            (e.name, e.path) for e in os.scandir(folder) if e.name.lower().endswith(RULESET_SUFFIXES) and e.is_file()
        )
    except OSError as exc:
        raise KpiError(f"{folder}: cannot read the folder: {exc.strerror or exc}") from None
    if not entries:
        raise KpiError(f"{folder}: no ruleset files (*.yaml, *.yml) in this folder")
    for _, file in entries:
        yield file, _read_text(Path(file), MAX_YAML_FILE_BYTES)
