"""JSON Schema of the ruleset language, generated from the pydantic models, for YAML editors."""

from __future__ import annotations

from typing import Any

from kpi_engine.spec import RulesetSpec

SCHEMA_ID = "https://kpi-engine.invalid/schema/ruleset.json"


def ruleset_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a ruleset file."""
    schema = RulesetSpec.model_json_schema(mode="validation")
    patterns = schema["properties"]["metrics"]["patternProperties"]
    for key, value in patterns.items():
        patterns[key] = {"anyOf": [{"type": "string", "description": "shorthand for {formula: ...}"}, value]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
