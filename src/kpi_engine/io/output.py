"""The output edge: writing a result file safely (the only module that creates files).

``write_file`` replaces a regular file atomically: the text goes to a temporary file in the same
directory (``.NAME.<pid>.<random>.tmp``), is flushed and ``fsync``-ed, takes the mode of the file
it replaces (or ``0666 & ~umask`` for a new one) and is renamed over the target, so a reader sees
the old or the new content, never half of it, and a full disk leaves the old file untouched.

- A symbolic link is followed on purpose: the file it points to is replaced, the link is kept.
- A device or a named pipe (``/dev/null``, ``/dev/stdout``, a FIFO) is written through, never
  replaced by a regular file.
- Temporary files of ours left by a killed run (their process id no longer runs) are removed
  before writing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from kpi_engine.errors import KpiError

_TMP_SUFFIX = ".tmp"


def write_file(path: str | os.PathLike[str], text: str | bytes | Iterable[str] | Iterable[bytes]) -> None:
    """Write ``text`` (UTF-8) to ``path``: atomically for a regular file, through for a device or FIFO.

    ``text`` may be an iterable of pieces (a streamed appraisal; text or bytes): they are written
    as they come, so a large output is never held whole in memory.

    Raises:
        KpiError: with a one-line reason (no space left, permission denied, a directory, …);
            an existing regular file is then unchanged and no temporary file is left.
    """
    shown = os.fspath(path)
    if isinstance(text, bytes):
        data: Iterable[bytes] = [text]
    else:
        pieces: Iterable[str | bytes] = [text] if isinstance(text, str) else text
        data = (piece if isinstance(piece, bytes) else piece.encode("utf-8") for piece in pieces)
    try:
        try:
            info = Path(path).stat()  # through links: what would be written
        except FileNotFoundError:
            info = None  # a new file, or a link to one
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise KpiError(f"cannot write {shown}: is a directory")
        if info is not None and not stat.S_ISREG(info.st_mode):
            _write_through(Path(path), data)  # opened by the name given: /dev/stdout on a pipe has no real path
            return
        target = Path(os.path.realpath(path))  # a link: write to what it points to, keep the link
        clean_stale_temporaries(target)
        _replace(target, data, None if info is None else stat.S_IMODE(info.st_mode))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "no space left on the device; the previous file (if any) is unchanged"
        raise KpiError(f"cannot write {shown}: {reason}") from None


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file next to ``path`` for a writer that opens files by name (XlsxWriter, openpyxl, pyarrow).

    When the block ends without an error the file takes the place of ``path`` exactly as
    ``write_file`` would put it there (atomically for a regular file, copied through to a device or
    FIFO); on an error it is removed and ``path`` is untouched.

    Raises:
        KpiError: with a one-line reason when the file cannot be written or put in place.
    """
    shown = os.fspath(path)
    try:
        info: os.stat_result | None = Path(path).stat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise KpiError(f"cannot write {shown}: {exc.strerror or exc}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise KpiError(f"cannot write {shown}: is a directory")
    regular = info is None or stat.S_ISREG(info.st_mode)
    target = Path(os.path.realpath(path)) if regular else Path(path)
    folder = target.parent if regular else Path(tempfile.gettempdir())
    try:
        clean_stale_temporaries(target)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.{os.getpid()}.", suffix=_TMP_SUFFIX)
        os.close(fd)
    except OSError as exc:
        raise KpiError(f"cannot write {shown}: {exc.strerror or exc}") from None
    written = Path(tmp)
    try:
        yield written
        if regular:
            with written.open("rb+") as fh:
                os.fsync(fh.fileno())
            mode = None if info is None else stat.S_IMODE(info.st_mode)
            if mode is None:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            written.chmod(mode)
            written.replace(target)
            _sync_directory(target.parent)
        else:
            with written.open("rb") as fh:
                _write_through(target, iter(lambda: fh.read(1 << 20), b""))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            reason = "no space left on the device; the previous file (if any) is unchanged"
        raise KpiError(f"cannot write {shown}: {reason}") from None
    finally:
        written.unlink(missing_ok=True)


def _write_through(target: Path, data: Iterable[bytes]) -> None:
    with target.open("wb", buffering=0) as fh:
        for chunk in data:
            view = memoryview(chunk)
            while view:
                written = fh.write(view)
                view = view[written or 0 :]


def _replace(target: Path, data: Iterable[bytes], mode: int | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            for chunk in data:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        Path(tmp).chmod(mode)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def _sync_directory(folder: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def clean_stale_temporaries(target: Path) -> list[Path]:
    """Remove ``.NAME.<pid>.*.tmp`` files next to ``target`` whose writing process no longer runs.

    Returns:
        The files removed.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.[^/]*{re.escape(_TMP_SUFFIX)}")
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a name we cannot judge: leave it
    return True
