"""Audit: comparing appraisals, and (as it lands) run records, replay and impact of a ruleset change."""
