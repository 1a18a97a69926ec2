"""The columnar executor: the plan's column kernels over every appraised subject at once, exactly.

``evaluate(..., engine="columnar")`` (``evaluation.engine``) runs it when the plan allows it
(``lower(card).support("columnar")``). It ingests records and events as Polars/Arrow columns
(``_ingest``, ``_decimals``, ``_events``), resolves every metric of every layer of subjects
through its op's column kernel (``_layers``), walks the plan's scoring, weights and gates
(``_kernel``), and builds the same ``Appraisal`` the row executor builds (``_results``). Whatever
the vectorised readers leave aside — an unusual or invalid cell, a strict run meeting an N/A, a
row whose magnitudes could leave the exact int64 range — is handed to the row executor, which
reports the located error or computes the result; so both executors agree on every input.

This package imports no NumPy or Polars: the ``columnar`` extra (polars, pyarrow, numpy) is
needed only when the executor runs.
"""

from __future__ import annotations

from kpi_engine.evaluation.columnar._batches import LONG_COLUMNS, evaluate_batches, long_table
from kpi_engine.evaluation.frames import Frame

__all__ = ["LONG_COLUMNS", "Frame", "available", "evaluate_batches", "long_table"]


def available() -> bool:
    """True when the ``columnar`` extra (polars and numpy) is installed."""
    try:
        import numpy  # noqa: F401, PLC0415, ICN001
        import polars  # noqa: F401, PLC0415, ICN001
    except ImportError:
        return False
    return True
