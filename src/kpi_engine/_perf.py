"""Performance helpers for the loops that build millions of small objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector, restoring its previous state on exit.

    The loops that use this create acyclic tuples and dicts only, so nothing is left for the
    collector to find; without the pause, repeated full collections over millions of live
    objects cost more than the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
