"""Event owners a run leaves to another run (the streaming executor's batches share one event log).

The streaming executor gives each batch the whole event log, so that windows pair triggers and
answers across it as one run does; the events of reps appraised in *other* batches must not be
reported as orphans by this batch. ``foreign(names)`` marks those owners for the runs inside it:
the orphan-event checks of the row executor (``RowRun.check_orphans``) and of the column kernels
(``columnar._layers.prepare``) skip them. The streaming executor checks the whole log's owners
once (``streaming``: an owner appraised by no batch is reported by one run, with its own message).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

FOREIGN: ContextVar[frozenset[str]] = ContextVar("kpi_engine_foreign_event_owners", default=frozenset())


@contextmanager
def foreign(names: Iterable[str]) -> Iterator[None]:
    """Within the block, events of ``names`` belong to another run (no orphan error here)."""
    token = FOREIGN.set(frozenset(names))
    try:
        yield
    finally:
        FOREIGN.reset(token)
