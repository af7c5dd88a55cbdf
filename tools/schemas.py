"""JSON Schema helpers of the tool registry: the schema the model sees, and checking against
a schema a tool source published."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]  # (no stubs in the lock)
from jsonschema import Draft202012Validator


def strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [strip_titles(v) for v in schema]
    return schema


def jsonschema_problem(schema: dict[str, Any], instance: Any) -> str | None:
    """Return what is wrong with instance under a JSON schema, or None when it is valid."""
    validator_class = jsonschema.validators.validator_for(schema, default=Draft202012Validator)
    try:
        error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(instance))
    except jsonschema.exceptions.SchemaError as exc:
        return f"the tool's schema is invalid: {exc.message}"
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "arguments"
    return f"{where}: {error.message}"
