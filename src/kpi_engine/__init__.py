"""kpi_engine: declarative YAML scorecards → exact, explainable appraisals and deal credit.

The public API. Everything else is internal and may change.
"""

from kpi_engine._version import __version__ as __version__
from kpi_engine.errors import (
    DataError,
    EvaluationError,
    ExpressionError,
    Issue,
    KpiError,
    Location,
    RulesetError,
)
from kpi_engine.evaluation.engine import evaluate
from kpi_engine.evaluation.records import Table
from kpi_engine.evaluation.results import Appraisal, KpiResult, SubjectResult
from kpi_engine.io.loading import load_ruleset, read_table
from kpi_engine.language.build import Ruleset, parse_ruleset

__all__ = [
    "Appraisal",
    "DataError",
    "EvaluationError",
    "ExpressionError",
    "Issue",
    "KpiError",
    "KpiResult",
    "Location",
    "Ruleset",
    "RulesetError",
    "SubjectResult",
    "Table",
    "evaluate",
    "load_ruleset",
    "parse_ruleset",
    "read_table",
]
