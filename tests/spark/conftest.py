"""A local Spark session for the Spark tests: local[2], few shuffle partitions, quiet logs.

The tests skip when pyspark is not importable here; CI installs ``.[test,spark]`` and Java, so
they run there (``.ci/run``).
"""

import os
import sys

import pytest

if os.environ.get("CI"):
    import pyspark  # noqa: F401 - CI installs the spark extra: a missing pyspark fails there, never skips
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[spark]')")

# PySpark warns about pandas >= 3 on every Arrow call; the Spark path itself does not use pandas.
SPARK_WARNINGS = [
    "ignore:PySpark does not yet fully support pandas:FutureWarning",
    "ignore::ResourceWarning",
    "ignore::DeprecationWarning:pyspark.*",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/spark/" in str(item.fspath).replace(os.sep, "/"):
            for spec in SPARK_WARNINGS:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for every Spark test."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("kpi_engine tests")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
