"""The process's memory limits: Polars and NumPy kept small under a cap, and a guard against the cap itself.

Under an address-space limit (``ulimit -v``, ``RLIMIT_AS``) two things used to go wrong:

- **Polars aborted the process** (SIGABRT, nothing Python can catch) or hung. Its thread pools and
  their C allocator arenas reserve address space: on a 2-core machine, importing Polars and reading
  a 1 KB CSV reserved about 1.1 GB, of which 0.7 GB were glibc's per-thread malloc arenas (64 MiB
  each) and most of the rest worker stacks. ``prepare()`` runs when ``kpi_engine`` is first
  imported, before anything can import Polars or NumPy, and under a finite limit asks for one
  worker thread and one malloc arena; the same read then reserves about 0.4 GB. Whether Polars
  may run at all for a given input is ``polars_allowed``: a Rust allocation failure cannot be
  caught, so Polars is used only when its estimated need fits with room to spare.
- **The interpreter spun at the cap for ever.** When the heap is exhausted by many small
  objects, CPython 3.11 needs a small allocation to unwind the exception out of a ``with`` block
  (it boxes the frame's instruction offset) and, when that fails too, retries the unwinding
  endlessly (CPython gh-132508): a 2 GB CSV under 1 GiB sat at the cap at full CPU for 300 s.
  ``memory_guard()`` (the ``kpi`` command runs inside it) polls the address space in use and
  raises ``MemoryError`` in the main thread while there is still room to unwind (1/32 below the
  limit), so the run ends at once with one line; if it is still at the cap seconds later, it exits.
"""

from __future__ import annotations

import contextlib
import ctypes  # a light module; its C library is opened only under a limit
import os
import sys
import threading
import time
from collections.abc import Iterator

POLARS_RESERVE = 512 << 20
"""Bytes of address space Polars (and NumPy) take for themselves once started under ``prepare()``'s
settings: about 380 MB measured for a small read, with a margin."""
POLARS_BYTES_PER_INPUT_BYTE = 24
"""Peak address space of the lead-log column paths per byte of CSV read (attribution), with a margin."""
KERNEL_BYTES_PER_INPUT_BYTE = 48
"""Peak address space of ``kpi evaluate`` on the kernel per byte of CSV (about 45 measured: 200,000
S1 records, 12 MB, peaked at 969 MB under a 1 GiB cap), with a margin."""
NOT_ENOUGH_MEMORY = "not enough memory for this input (raise the memory limit, or split the input)"
try:
    import resource
except ImportError:  # pragma: no cover - Windows: no address-space limits to read
    resource = None  # type: ignore[assignment]
_M_ARENA_MAX = -8  # glibc's mallopt parameter
_GUARD_INTERVAL = 0.05  # seconds between two looks at the address space
_GUARD_GRACE = 3.0  # seconds at the cap after the MemoryError before the process gives up


def address_space_limit() -> int | None:
    """The soft ``RLIMIT_AS`` of this process in bytes, or ``None`` when unlimited (or unknown)."""
    if resource is None:  # pragma: no cover - Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def address_space_used() -> int | None:
    """The address space this process maps now (``VmSize``) in bytes, or ``None`` where unknown."""
    try:
        with open("/proc/self/statm", "rb") as fh:  # noqa: PTH123 - a kernel file read on a hot path
            pages = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def prepare() -> None:
    """Under a finite limit, before Polars or NumPy is first imported: one worker thread, one malloc arena.

    Explicit ``POLARS_MAX_THREADS`` / ``OPENBLAS_NUM_THREADS`` / ``OMP_NUM_THREADS`` settings are
    respected. Nothing changes without a limit. Safe to call more than once.
    """
    if address_space_limit() is None:
        return
    for name in ("POLARS_MAX_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    if sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl has no mallopt): nothing to do
            ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 1)


def polars_allowed(input_bytes: int = 0, *, started: bool = False, per_byte: int = POLARS_BYTES_PER_INPUT_BYTE) -> bool:
    """True when Polars may process ``input_bytes`` of CSV in this process without risking an abort.

    Without a limit, always. Under one, when the room left (the limit less the address space in
    use now) holds Polars' own reservation (unless ``started``: the caller knows Polars has
    already run in this process, e.g. it holds a Polars frame) and ``per_byte`` times the input.
    """
    limit = address_space_limit()
    if limit is None:
        return True
    used = address_space_used()
    if used is None:  # not Linux: no way to tell how much is left, so do not risk it
        return False
    reserve = 0 if started else POLARS_RESERVE
    return limit - used >= reserve + input_bytes * per_byte


def _margin(limit: int) -> int:
    """Room kept free below the limit for unwinding, reporting and exiting (1/32 of it, at least 32 MiB).

    Python allocates far less than this in one poll interval; the address space counted includes
    reservations never touched, so a wider margin would refuse runs that fit.
    """
    return max(32 << 20, limit // 32)


class _Guard:
    """A daemon thread that raises ``MemoryError`` in one thread when the address space nears the limit."""

    def __init__(self, limit: int, thread_id: int) -> None:
        self.limit = limit
        self.thread_id = thread_id
        self.stop = threading.Event()
        self.fired_at: float | None = None
        size = threading.stack_size(256 << 10)  # the watcher needs next to no stack
        try:
            self.thread = threading.Thread(target=self._watch, name="kpi-memory-guard", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(size)

    def _watch(self) -> None:
        threshold = self.limit - _margin(self.limit)
        while not self.stop.wait(_GUARD_INTERVAL):
            used = address_space_used()
            if used is None or used < threshold:
                self.fired_at = None
                continue
            now = time.monotonic()
            if self.fired_at is None:
                self.fired_at = now
                exc = ctypes.py_object(MemoryError)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread_id), exc)
            elif now - self.fired_at > _GUARD_GRACE:  # the MemoryError did not free anything: stuck at the cap
                os.write(2, f"kpi: {NOT_ENOUGH_MEMORY}\n".encode())
                os._exit(1)


@contextlib.contextmanager
def memory_guard() -> Iterator[None]:
    """Within the block, nearing the address-space limit raises ``MemoryError`` in this thread (Linux only).

    Without a limit, or where the address space in use cannot be read, this does nothing. Meant
    for a command-line run, whose answer to ``MemoryError`` is one line and an exit: the
    exception may arrive between any two bytecodes of the calling thread.
    """
    limit = address_space_limit()
    if limit is None or address_space_used() is None:
        yield
        return
    thread_id = threading.get_ident()
    guard = _Guard(limit, thread_id)
    try:
        yield
    finally:
        guard.stop.set()
        guard.thread.join()
        # A MemoryError raised as the block ended must not surface after it: clear it (NULL clears).
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
