"""A temporary directory for the streaming executor's spill (``evaluation.streaming.Spill``).

The streaming executor keeps each batch's records between its passes; ``DirectorySpill`` writes
them as Arrow IPC files (LZ4-compressed) in a directory of its own under the system's temporary
directory (or ``workdir``), deleted piece by piece as they are read and wholly at ``close()``,
at exit, or when the object is collected.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from kpi_engine.errors import KpiError

__all__ = ["DirectorySpill"]


class DirectorySpill:
    """Frames kept as Arrow IPC files in a temporary directory (``path``)."""

    def __init__(self, workdir: str | Path | None = None) -> None:
        try:
            self.path = Path(tempfile.mkdtemp(prefix="kpi-stream-", dir=workdir))
        except OSError as exc:
            raise KpiError(f"cannot make a temporary directory for the streaming engine: {exc}") from None
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.path, ignore_errors=True)

    def _file(self, name: str) -> Path:
        return self.path / f"{name}.arrow"

    def put(self, name: str, frame: Any) -> None:
        try:
            frame.write_ipc(self._file(name), compression="lz4")
        except OSError as exc:
            raise KpiError(f"cannot write the streaming engine's spill in {self.path}: {exc}") from None

    def get(self, name: str) -> Any:
        import polars as pl  # noqa: PLC0415

        return pl.read_ipc(self._file(name))

    def drop(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def close(self) -> None:
        self._cleanup()
