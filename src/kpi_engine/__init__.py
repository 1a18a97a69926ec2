"""kpi_engine: declarative YAML scorecards → exact, explainable appraisals and deal credit.

The public API. Everything else is internal and may change.
"""

from kpi_engine.build import Ruleset, parse_ruleset
from kpi_engine.errors import (
    DataError,
    EvaluationError,
    ExpressionError,
    Issue,
    KpiError,
    Location,
    RulesetError,
)
from kpi_engine.evaluate import evaluate
from kpi_engine.loading import load_ruleset, read_table
from kpi_engine.records import Table
from kpi_engine.results import Appraisal, KpiResult, SubjectResult

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
