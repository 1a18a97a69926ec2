"""Files around run records and ruleset versions.

Reading records, resolving inputs kept by digest, naming tables by a path relative to the
record, and loading a folder of ruleset versions.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import attrs

from kpi_engine.errors import KpiError
from kpi_engine.evaluation.records import Table
from kpi_engine.io.loading import MAX_YAML_FILE_BYTES, _read_text, read_table

RULESET_SUFFIXES = (".yaml", ".yml")


def read_text(path: str | Path) -> str:
    """A ruleset, policy or record as text (UTF-8, a BOM dropped, newlines as read by ``load_ruleset``).

    Raises:
        KpiError: if the file cannot be read.
    """
    return _read_text(Path(path))


def read_record(path: str | Path) -> bytes:
    """The bytes of a run record file.

    Raises:
        KpiError: if the file cannot be read.
    """
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KpiError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KpiError(f"{path}: is a directory, not a record file") from None


def resolver(record_path: str | Path) -> Callable[[str], Table]:
    """Read an input kept by digest from its path relative to the record's folder."""
    folder = Path(record_path).parent

    def resolve(relative: str) -> Table:
        return read_table(folder / relative, name=relative)

    return resolve


def relative_to_record(table: Table, source: str | Path, record_path: str | Path) -> Table:
    """The same table named by the path of its file relative to the record's folder (``/`` separators).

    Raises:
        KpiError: if the file has no relative path from there (another drive).
    """
    try:
        rel = os.path.relpath(Path(source).resolve(), Path(record_path).resolve().parent)
    except ValueError:
        raise KpiError(f"{source}: no relative path from the record's folder; use --record-inputs inline") from None
    return attrs.evolve(table, name=Path(rel).as_posix())


def ruleset_files(path: str | Path) -> list[tuple[str, str]]:
    """The ``(file, text)`` of every ruleset in a folder (``*.yaml``, ``*.yml``), sorted by name.

    Raises:
        KpiError: if the folder holds no ruleset or a file cannot be read.
    """
    folder = Path(path)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in RULESET_SUFFIXES and p.is_file())
    if not files:
        raise KpiError(f"{folder}: no ruleset files (*.yaml, *.yml) in this folder")
    return [(str(p), _read_text(p, MAX_YAML_FILE_BYTES)) for p in files]
