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
  Loops that pile up rows look themselves (``watched``), so the fastest-growing work never
  outruns the watcher; and should the main thread reach the cap anyway and spin there holding the
  interpreter lock (no Python thread can then run), faulthandler's watchdog, a C thread that
  needs no lock, ends the process after ``_BACKSTOP`` seconds without a poll.
"""

from __future__ import annotations

import contextlib
import ctypes  # a light module; its C library is opened only under a limit
import faulthandler
import itertools
import mmap
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

_T = TypeVar("_T")

POLARS_RESERVE = 512 << 20
"""Bytes of address space Polars (and NumPy) take for themselves once started under ``prepare()``'s
settings: about 380 MB measured for a small read, with a margin."""
POLARS_BYTES_PER_INPUT_BYTE = 24
"""Peak address space of the lead-log column paths per byte of CSV read (attribution), with a margin."""
KERNEL_BYTES_PER_INPUT_BYTE = 48
"""Peak address space of ``kpi evaluate`` on the kernel per byte of CSV (about 45 measured: 200,000
S1 records, 12 MB, peaked at 969 MB under a 1 GiB cap), with a margin."""
NOT_ENOUGH_MEMORY = "not enough memory for this input (raise the memory limit, or split the input)"
_EXIT_LINE = f"kpi: {NOT_ENOUGH_MEMORY}\n".encode()
try:
    import resource
except ImportError:  # pragma: no cover - Windows: no address-space limits to read
    resource = None  # type: ignore[assignment]
_M_ARENA_MAX = -8  # glibc's mallopt parameter
_GUARD_INTERVAL = 0.01  # seconds between two looks at the address space
_GRACE_POLLS = 250  # polls (2.5 s) at the cap after the MemoryError before the process gives up; <= 256,
# so that counting them uses CPython's cached small integers and allocates nothing
_BALLAST = 4 << 20  # address space the guard holds back and lets go of at the cap
_BACKSTOP = 30  # seconds without a poll (the interpreter lock held at the cap) before faulthandler ends the run
_REARM_POLLS = 100  # the backstop's timer is re-armed every this many polls below the cap (1 s)
_WATCH_EVERY = 4096  # items between two looks of ``watched`` (4,096 CSV rows: a few MB)


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
    """A daemon thread that raises ``MemoryError`` in one thread when the address space nears the limit.

    The watcher lives at the cap it watches for, so its loop is written to need no memory there:
    a look at the address space that itself fails with ``MemoryError`` counts as being at the cap
    (CI once saw the watcher die of one, printing a traceback before the run's one line); the
    polls at the cap are counted in small integers, which CPython never allocates; the exit line
    is encoded in advance. On reaching the cap the watcher first lets go of a small ballast of
    address space held since it started, so that raising the ``MemoryError`` and the run's
    one-line answer have room.
    """

    def __init__(self, limit: int, thread_id: int) -> None:
        self.threshold = limit - _margin(limit)
        self.stopped = False  # a plain flag: setting it allocates nothing, unlike an Event
        self.polls = 0  # polls at the cap so far (0 below it)
        self.fired = False
        self.ballast: mmap.mmap | None = None
        with contextlib.suppress(OSError):  # already at the cap: no ballast to hold
            self.ballast = mmap.mmap(-1, _BALLAST)  # untouched pages: address space only
        self.target = ctypes.c_ulong(thread_id)
        self.exception = ctypes.py_object(MemoryError)
        self.raise_in = ctypes.pythonapi.PyThreadState_SetAsyncExc
        self.since_arm = 0  # polls below the cap since the backstop was last armed
        _arm_backstop()
        size = threading.stack_size(256 << 10)  # the watcher needs next to no stack
        try:
            self.thread = threading.Thread(target=self._watch, name="kpi-memory-guard", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(size)

    def stop(self) -> None:
        """End the watcher and disarm the backstop it armed (left armed, it would end the process later)."""
        self.stopped = True
        self.thread.join()
        faulthandler.cancel_dump_traceback_later()

    def _watch(self) -> None:
        while not self.stopped:
            try:
                at_cap = self._near_cap()
            except MemoryError:  # no memory even to look: that is the cap
                at_cap = True
            try:  # noqa: SIM105 - suppress() would build an object, at the cap
                self._step(at_cap=at_cap)
            except MemoryError:  # firing needed memory there was none of: the next poll tries again
                pass
            time.sleep(_GUARD_INTERVAL)

    def _near_cap(self) -> bool:
        used = address_space_used()
        return used is not None and used >= self.threshold

    def _step(self, *, at_cap: bool) -> None:
        if not at_cap:
            self.polls = 0
            self.fired = False
            self.since_arm += 1
            if self.since_arm >= _REARM_POLLS:  # the watcher is alive: push the backstop back
                self.since_arm = 0
                _arm_backstop()
            return
        if self.polls > _GRACE_POLLS:  # the MemoryError did not free anything: stuck at the cap
            os.write(2, _EXIT_LINE)
            os._exit(1)
        self.polls += 1
        if not self.fired:
            self.ballast = None  # unmapped at once: room for what follows
            self.raise_in(self.target, self.exception)
            self.fired = True


def _arm_backstop() -> None:
    """(Re)start faulthandler's watchdog: unless re-armed within ``_BACKSTOP`` s, it ends the process.

    Its report (the threads' stacks, on standard error) is the one multi-line answer a capped run
    can give, and only when the interpreter itself is stuck at the cap; re-arming only below the
    cap means a failed re-arm (a new thread needs address space) never happens where it matters.
    """
    with contextlib.suppress(RuntimeError, OSError, ValueError, MemoryError):
        faulthandler.dump_traceback_later(_BACKSTOP, exit=True, file=2)


def watched(items: Iterable[_T], every: int = _WATCH_EVERY) -> Iterable[_T]:
    """``items``, with a look at the address space after every ``every`` of them under a limit.

    Near the limit (within the guard's margin) the loop gets ``MemoryError`` from the look, in its
    own thread and in time to unwind: loops that pile up rows use it so that their growth never
    outruns ``memory_guard``'s watcher. Without a limit, or where the address space in use cannot
    be read, ``items`` is returned as it is, at no cost.
    """
    limit = address_space_limit()
    if limit is None or address_space_used() is None:
        return items
    return _watching(iter(items), limit - _margin(limit), every)


def _watching(items: Iterator[_T], threshold: int, every: int) -> Iterator[_T]:
    while True:
        taken = 0
        for taken, item in enumerate(itertools.islice(items, every), start=1):  # noqa: B007 - counted
            yield item
        if taken < every:
            return
        used = address_space_used()
        if used is not None and used >= threshold:
            raise MemoryError


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
        guard.stop()
        # A MemoryError raised as the block ended must not surface after it: clear it (NULL clears).
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
