"""Pay operations: each one's row kernel (exact, per person, with its trace) and column kernel side by side.

==================  ===========================================================================
``ops.tiers``       step, marginal and interpolated curves; thresholds and measure caps
``ops.money``       correct rounding; parts that add up to their whole (largest remainder)
``ops.proration``   working days employed of a period's working days
==================  ===========================================================================

The row executor (``payout.engine``) calls the row kernels person by person and builds each
line's trace from the same values; the columnar executor (``payout.columnar``) calls the column
kernels over every person at once, in int64 numerators over common denominators, every product
checked (Python integers where int64 could overflow). NumPy is imported on first use of a column
kernel, so the row path never loads it.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


class LazyModule:
    """A module imported when one of its attributes is first read (NumPy for the column kernels)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = import_module(self._name)
        return getattr(self._module, attr)
