"""The ``kpi`` console script: import the CLI, then run it.

Importing the CLI loads most of the package (and, for some commands, Polars) and takes a large
part of a second; a Ctrl-C in that time must end like one later on, with one line and exit
130, not a traceback. ``kpi_engine/__init__`` imports nothing heavy, so this module is reached
before any of that work starts.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130


def main() -> int:
    """Run ``kpi`` with ``sys.argv``; a Ctrl-C while the CLI is still loading exits 130."""
    try:
        from kpi_engine.cli import main as run  # noqa: PLC0415 - the import is what may be interrupted
    except KeyboardInterrupt:
        sys.stderr.write("kpi: interrupted\n")
        return INTERRUPTED
    return run()
