"""Schema validation of loaded YAML data into pydantic models, with located issues."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kpi_engine._yaml import PathKey, SourceMap, format_path
from kpi_engine.errors import Issue, did_you_mean

M = TypeVar("M", bound=BaseModel)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'"
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def validate_model(
    model: type[M], data: object, smap: SourceMap, known_keys: Collection[str]
) -> tuple[M | None, list[Issue]]:
    """Validate ``data`` as ``model``; on failure return every error located via ``smap``."""
    if not isinstance(data, dict):
        loc = smap.locate(())
        return None, [Issue("bad_document", "the document must be a mapping of keys to values", "", loc)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        issues: list[Issue] = []
        for err in exc.errors():
            path: PathKey = tuple(p for p in err["loc"] if isinstance(p, int | str))
            missing = err["type"] == "missing"
            extra = err["type"] == "extra_forbidden"
            loc = smap.locate(path[:-1] if missing else path, key=extra)
            code = {"missing": "missing_key", "extra_forbidden": "unknown_key"}.get(err["type"], "bad_value")
            hint = did_you_mean(str(path[-1]), known_keys) if extra and path else None
            issues.append(Issue(code, _message(err), format_path(path), loc, "error", hint))
        issues.sort(key=lambda i: (i.location.line, i.location.col) if i.location else (0, 0))
        return None, issues
