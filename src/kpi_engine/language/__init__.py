"""The ruleset language: YAML with a source map → pydantic spec → semantic checks → compiled ``Scorecard``."""
