"""kpi_engine: declarative YAML scorecards → exact, explainable appraisals and deal credit.

The public API. Everything else is internal and may change.

Importing the package first settles how Polars and NumPy start under a memory cap
(``kpi_engine._limits``). The names are imported on first use (PEP 562), so that ``import kpi_engine`` and the ``kpi``
command's entry point stay light: a Ctrl-C while the CLI is still importing its modules is
then caught by the entry point (``kpi_engine._entry``) and reported in one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_engine._lazy import lazy_names
from kpi_engine._limits import prepare

prepare()  # under a memory cap, before anything imports Polars or NumPy: one thread, one malloc arena

if TYPE_CHECKING:
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
    from kpi_engine.io.loading import load_pay_plan, load_ruleset, read_table
    from kpi_engine.language.build import Ruleset, parse_ruleset
    from kpi_engine.payout.build import parse_pay_plan
    from kpi_engine.payout.engine import pay
    from kpi_engine.payout.model import PayPlan
    from kpi_engine.payout.results import PayRun
    from kpi_engine.report.results_table import ResultSchema, result_schema

_HOMES = {
    "__version__": "kpi_engine._version",
    "DataError": "kpi_engine.errors",
    "EvaluationError": "kpi_engine.errors",
    "ExpressionError": "kpi_engine.errors",
    "Issue": "kpi_engine.errors",
    "KpiError": "kpi_engine.errors",
    "Location": "kpi_engine.errors",
    "RulesetError": "kpi_engine.errors",
    "evaluate": "kpi_engine.evaluation.engine",
    "Table": "kpi_engine.evaluation.records",
    "Appraisal": "kpi_engine.evaluation.results",
    "KpiResult": "kpi_engine.evaluation.results",
    "SubjectResult": "kpi_engine.evaluation.results",
    "load_ruleset": "kpi_engine.io.loading",
    "read_table": "kpi_engine.io.loading",
    "load_pay_plan": "kpi_engine.io.loading",
    "parse_pay_plan": "kpi_engine.payout.build",
    "pay": "kpi_engine.payout.engine",
    "PayPlan": "kpi_engine.payout.model",
    "PayRun": "kpi_engine.payout.results",
    "Ruleset": "kpi_engine.language.build",
    "parse_ruleset": "kpi_engine.language.build",
    "ResultSchema": "kpi_engine.report.results_table",
    "result_schema": "kpi_engine.report.results_table",
}

__all__ = [
    "Appraisal",
    "DataError",
    "EvaluationError",
    "ExpressionError",
    "Issue",
    "KpiError",
    "KpiResult",
    "Location",
    "PayPlan",
    "PayRun",
    "ResultSchema",
    "Ruleset",
    "RulesetError",
    "SubjectResult",
    "Table",
    "evaluate",
    "load_pay_plan",
    "load_ruleset",
    "parse_pay_plan",
    "parse_ruleset",
    "pay",
    "read_table",
    "result_schema",
]


__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES, __all__)
