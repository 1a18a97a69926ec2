"""When Polars may be used for lead logs, and one lock so that only one thread uses it at a time.

Polars (Rust) aborts the whole process — SIGABRT, nothing Python can catch — when an allocation
fails. Under an address-space limit (``ulimit -v``, ``RLIMIT_AS``) that happens early: importing
Polars and starting its thread pool reserves about 1 GB of address space on a 2-core machine
before any data is read. So under a finite limit below ``POLARS_MIN_ADDRESS_SPACE`` the column-wise
paths are not used at all: logs are streamed by the pure-Python parser and walked by the reference
engine (a ``MemoryError`` there is a clean ``KpiError``). Above it, a log is read column-wise only
when ``POLARS_BYTES_PER_LOG_BYTE`` times its size fits in the limit.

Several threads reading large logs at once each hold a whole column-wise log; the lock serialises
them, so that memory is that of one log at a time (the work is CPU-bound: little is lost).
"""

from __future__ import annotations

import os
import resource
import threading

POLARS_MIN_ADDRESS_SPACE = 4 << 30  # bytes: Polars' own reservations, with room for a log
POLARS_BYTES_PER_LOG_BYTE = 24  # measured peak address space per byte of CSV, with a margin
POLARS_LOCK = threading.RLock()


def address_space_limit() -> int | None:
    """The soft ``RLIMIT_AS`` of this process in bytes, or ``None`` when unlimited."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else soft


def polars_allowed(log_bytes: int = 0) -> bool:
    """True when a log of ``log_bytes`` may be processed with Polars without risking an abort."""
    limit = address_space_limit()
    if limit is None:
        return True
    return limit >= POLARS_MIN_ADDRESS_SPACE and log_bytes * POLARS_BYTES_PER_LOG_BYTE <= limit


def frugal_polars() -> None:
    """Before Polars is first imported under a finite limit, ask it for a single worker thread.

    Each worker reserves its own stack and allocator arenas; one thread keeps the reservation
    small. An explicit ``POLARS_MAX_THREADS`` is respected.
    """
    if address_space_limit() is not None:
        os.environ.setdefault("POLARS_MAX_THREADS", "1")
