"""Auditing: run records, replay, ruleset versions, rule diffs and the impact of a new version.

Pure: records go in and out as bytes or mappings; reading and writing files is ``kpi_engine.io``'s.
"""

from kpi_engine.audit.diff import RuleChange, compare, ruleset_changes
from kpi_engine.audit.impact import Impact, SubjectImpact, impact, undated
from kpi_engine.audit.record import FORMAT, RunRecord, record_appraisal, record_attribution
from kpi_engine.audit.replay import Finding, ReplayReport, load_record, replay
from kpi_engine.audit.versions import check_versions, choose_version

__all__ = [
    "FORMAT",
    "Finding",
    "Impact",
    "ReplayReport",
    "RuleChange",
    "RunRecord",
    "SubjectImpact",
    "check_versions",
    "choose_version",
    "compare",
    "impact",
    "load_record",
    "record_appraisal",
    "record_attribution",
    "replay",
    "ruleset_changes",
    "undated",
]
