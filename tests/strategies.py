"""Shared hypothesis strategies: the public ones from kpi_engine.testing, plus test-only ones."""

from kpi_engine.testing import exact_decimals, ruleset_texts, rulesets, rulesets_with_records

__all__ = ["exact_decimals", "ruleset_texts", "rulesets", "rulesets_with_records"]
