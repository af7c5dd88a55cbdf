"""Reading the request: the fields of the messages and tools litellm hands the model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _get(obj: object, key: str) -> Any:
    """Read a field from a dict or from an object (litellm hands either)."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _text(content: object) -> str:
    """Return the text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [_get(part, "text") for part in content if _get(part, "type") == "text"]
        return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _brief(text: str, limit: int) -> str:
    """Collapse whitespace and cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _tool_names(tools: object) -> set[str] | None:
    """Return the names of the offered function tools, or None when no tools were passed."""
    if not isinstance(tools, list):
        return None
    names: set[str] = set()
    for spec in tools:
        name = _get(_get(spec, "function"), "name") or _get(spec, "name")
        if isinstance(name, str):
            names.add(name)
    return names


def _arguments(raw: object) -> dict[str, Any]:
    """Return a tool call's arguments as a dict, whatever form they came in."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}
