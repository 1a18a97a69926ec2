"""Performance helpers: a paused collector, and a cache of what is derived from a scorecard alone.

The collector is paused around the loops that build millions of small objects; ``per_card`` keeps
what a compiled scorecard determines (its plan, checks at the door) while the card lives.
"""

from __future__ import annotations

import functools
import gc
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from kpi_engine.language.model import Scorecard


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


_T = TypeVar("_T")
_PER_CARD: dict[tuple[int, str], tuple[weakref.ref[Any], Any]] = {}


def per_card(card: Scorecard, what: str, build: Callable[[], _T]) -> _T:
    """``build()`` once per compiled scorecard and ``what``, then the same object while the card lives.

    A compiled scorecard is immutable, so what is derived from it alone (checks at the door,
    scoring constants, gate results) is computed on the first evaluation and reused; the entry
    goes when the card does.
    """
    key = (id(card), what)
    entry = _PER_CARD.get(key)
    if entry is not None and entry[0]() is card:
        result: _T = entry[1]
        return result
    result = build()
    # The dict is bound in the callback: at interpreter exit the module's globals may be gone first.
    forget = functools.partial(_forget, _PER_CARD, key)
    _PER_CARD[key] = (weakref.ref(card, forget), result)
    return result


def _forget(cache: dict[tuple[int, str], Any], key: tuple[int, str], _ref: object) -> None:
    cache.pop(key, None)
