"""JSON Schema of the ruleset language, generated from the pydantic models, for YAML editors."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from kpi_engine.language.spec import RulesetSpec

SCHEMA_ID = "https://kpi-engine.invalid/schema/ruleset.json"


def ruleset_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a ruleset file."""
    schema = RulesetSpec.model_json_schema(mode="validation")
    patterns = schema["properties"]["metrics"]["patternProperties"]
    for key, value in patterns.items():
        patterns[key] = {"anyOf": [{"type": "string", "description": "shorthand for {formula: ...}"}, value]}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _json_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"`{prop['$ref'].rsplit('/', 1)[-1]}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        if "exact number" in str(prop.get("description", "")) or any(
            "%" in str(o.get("pattern", "")) for o in prop["anyOf"]
        ):
            kinds = [o for o in prop["anyOf"] if o.get("type") != "null"]
            base = "number or percent" if all("items" not in o for o in kinds) else "number or [lo, hi]"
            return base + (" (optional)" if any(o.get("type") == "null" for o in prop["anyOf"]) else "")
        parts = [_json_type(o) for o in prop["anyOf"] if o.get("type") != "null"]
        optional = any(o.get("type") == "null" for o in prop["anyOf"])
        return " or ".join(parts) + (" (optional)" if optional else "")
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_json_type(prop.get('items', {}))}"
    if kind == "object":
        values: Any = prop.get("additionalProperties") or next(iter(prop.get("patternProperties", {}).values()), {})
        return f"map of name → {_json_type(values)}" if isinstance(values, dict) and values else "map"
    if prop.get("format") == "date":
        return "date"
    return {"string": "text", "integer": "whole number", "boolean": "true/false", "number": "number"}.get(
        str(kind), "any"
    )


def _default(value: object) -> str:
    if value is None or value in ([], {}):
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "model_dump"):
        return ", ".join(f"{k}: {v}" for k, v in value.model_dump().items())
    return f"`{value}`"


def reference_markdown() -> str:
    """The language reference, generated from the models (``docs/reference.md``)."""
    from kpi_engine.attribution._policy import PolicySpec  # noqa: PLC0415 - avoid an import cycle
    from kpi_engine.language import spec  # noqa: PLC0415

    models: list[type[BaseModel]] = [
        spec.RulesetSpec, spec.InputSpec, spec.MetricSpec, spec.AggregateSpec, spec.PreviousSpec, spec.MembersSpec,
        spec.SectionSpec, spec.KpiSpec, spec.BandSpec, spec.GateSpec, spec.AdjustmentSpec, spec.GradeSpec,
        spec.RoundingSpec, spec.EffectiveSpec, spec.CaseSpec, spec.ExpectSpec, PolicySpec,
    ]  # fmt: skip
    lines = [
        "# Language reference",
        "",
        "Generated from the models by `kpi schema --reference`; a test keeps it fresh.",
        "Semantics and the choices behind them: [language.md](language.md).",
    ]
    for model in models:
        lines += ["", f"## `{model.__name__}`", "", (model.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        properties = model.model_json_schema()["properties"]
        if model is spec.RulesetSpec:
            properties = ruleset_schema()["properties"]
        for name, field in model.model_fields.items():
            key = field.alias or name
            default = "required" if field.is_required() else _default(field.get_default(call_default_factory=True))
            meaning = (field.description or "").replace("|", "\\|")
            lines.append(f"| `{key}` | {_json_type(properties[key])} | {default} | {meaning} |")
    return "\n".join(lines) + "\n"
