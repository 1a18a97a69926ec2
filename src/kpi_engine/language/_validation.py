"""Schema validation of loaded YAML data into pydantic models, with located issues."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kpi_engine.errors import Issue, did_you_mean
from kpi_engine.language._yaml import PathKey, SourceMap, format_path

M = TypeVar("M", bound=BaseModel)


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return f"missing required key '{err['loc'][-1]}'"
    if kind == "extra_forbidden":
        return f"unknown key '{err['loc'][-1]}'"
    if kind == "bool_type":
        return f"expected true or false, not {err['input']!r} (YAML's yes/no/on/off are not booleans here)"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _without(data: Any, path: PathKey) -> Any:
    """A copy of ``data`` with the key at ``path`` removed."""
    if not path:
        return data
    head, rest = path[0], path[1:]
    if isinstance(data, dict):
        if not rest:
            return {k: v for k, v in data.items() if k != head}
        return {k: (_without(v, rest) if k == head else v) for k, v in data.items()}
    if isinstance(data, list) and isinstance(head, int):
        return [(_without(v, rest) if i == head else v) for i, v in enumerate(data)]
    return data


def validate_model(
    model: type[M], data: object, smap: SourceMap, known_keys: Collection[str]
) -> tuple[M | None, list[Issue]]:
    """Validate ``data`` as ``model``; on failure return every error located via ``smap``.

    When the only errors are unknown keys, the model is validated again without them and
    returned along with the issues, so that later checks still run and every problem of the
    file is reported at once.
    """
    if not isinstance(data, dict):
        loc = smap.locate(())
        return None, [Issue("bad_document", "the document must be a mapping of keys to values", "", loc)]
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        issues = _issues(exc, smap, known_keys)
        unknown = [tuple(e["loc"]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if len(unknown) != len(exc.errors()):
            return None, issues
        stripped: Any = data
        for path in unknown:
            stripped = _without(stripped, path)
        try:
            return model.model_validate(stripped), issues
        except ValidationError as again:  # e.g. a model-level rule that only runs once fields pass
            return None, sorted(issues + _issues(again, smap, known_keys), key=_position)


def _position(issue: Issue) -> tuple[int, int]:
    return (issue.location.line, issue.location.col) if issue.location else (0, 0)


def _issues(exc: ValidationError, smap: SourceMap, known_keys: Collection[str]) -> list[Issue]:
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
    return issues
