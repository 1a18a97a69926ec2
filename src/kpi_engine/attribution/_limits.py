"""When Polars may be used for lead logs, and one lock so that only one thread uses it at a time.

The process-wide settings (one Polars worker and one malloc arena under an address-space limit)
are made once, when ``kpi_engine`` is first imported (``kpi_engine._limits``). Attribution keeps
its own, more cautious rule: under a finite limit below ``POLARS_MIN_ADDRESS_SPACE`` the
column-wise paths are not used at all (logs are streamed by the pure-Python parser and walked by
the reference engine, where a ``MemoryError`` is a clean ``KpiError``); above it, a log is read
column-wise only when ``POLARS_BYTES_PER_LOG_BYTE`` times its size fits in the limit.

Several threads reading large logs at once each hold a whole column-wise log; the lock serialises
them, so that memory is that of one log at a time (the work is CPU-bound: little is lost).
"""

from __future__ import annotations

import threading

from kpi_engine._limits import POLARS_BYTES_PER_INPUT_BYTE, address_space_limit, prepare

POLARS_MIN_ADDRESS_SPACE = 4 << 30  # bytes: Polars' own reservations, with room for a log
POLARS_BYTES_PER_LOG_BYTE = POLARS_BYTES_PER_INPUT_BYTE
POLARS_LOCK = threading.RLock()

__all__ = ["POLARS_LOCK", "address_space_limit", "frugal_polars", "polars_allowed"]


def polars_allowed(log_bytes: int = 0) -> bool:
    """True when a log of ``log_bytes`` may be processed with Polars without risking an abort."""
    limit = address_space_limit()
    if limit is None:
        return True
    return limit >= POLARS_MIN_ADDRESS_SPACE and log_bytes * POLARS_BYTES_PER_LOG_BYTE <= limit


def frugal_polars() -> None:
    """The process-wide settings for Polars under a limit (already made on import; kept for callers)."""
    prepare()
