"""Auditing: run records, replay, ruleset versions, rule diffs and the impact of a new version.

Pure: records go in and out as bytes or mappings; reading and writing files is ``kpi_engine.io``'s.

The names are imported on first use (PEP 562): the CLI imports ``audit.diff`` for ``kpi diff``,
and that must not load run records, replay and attribution into every ``kpi evaluate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kpi_engine._lazy import lazy_names

if TYPE_CHECKING:
    from kpi_engine.audit.diff import RuleChange, compare, ruleset_changes
    from kpi_engine.audit.impact import Impact, SubjectImpact, impact, undated
    from kpi_engine.audit.record import FORMAT, RunRecord, record_appraisal, record_attribution
    from kpi_engine.audit.replay import Finding, ReplayReport, load_record, replay
    from kpi_engine.audit.versions import check_versions, choose_version

_HOMES = {
    "RuleChange": "kpi_engine.audit.diff",
    "compare": "kpi_engine.audit.diff",
    "ruleset_changes": "kpi_engine.audit.diff",
    "Impact": "kpi_engine.audit.impact",
    "SubjectImpact": "kpi_engine.audit.impact",
    "impact": "kpi_engine.audit.impact",
    "undated": "kpi_engine.audit.impact",
    "FORMAT": "kpi_engine.audit.record",
    "RunRecord": "kpi_engine.audit.record",
    "record_appraisal": "kpi_engine.audit.record",
    "record_attribution": "kpi_engine.audit.record",
    "Finding": "kpi_engine.audit.replay",
    "ReplayReport": "kpi_engine.audit.replay",
    "load_record": "kpi_engine.audit.replay",
    "replay": "kpi_engine.audit.replay",
    "check_versions": "kpi_engine.audit.versions",
    "choose_version": "kpi_engine.audit.versions",
}

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


__getattr__, __dir__ = lazy_names(__name__, globals(), _HOMES, __all__)
