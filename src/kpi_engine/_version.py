"""The installed version of kpi_engine, read once from the package metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kpi_engine")
except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
    __version__ = "0+unknown"
