"""Turn untrusted JSON into wire objects, or into -32602 errors that name the bad fields."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from a2a.protocol.errors import InvalidParamsError
from a2a.protocol.types import WireModel

M = TypeVar("M", bound=WireModel)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "params"


def violations(exc: ValidationError, *, prefix: str = "") -> list[tuple[str, str]]:
    """Return (field, description) pairs for every error pydantic found."""
    pairs = []
    for error in exc.errors(include_url=False):
        field = _field_path(error["loc"])
        if prefix:
            field = f"{prefix}.{field}" if field != "params" else prefix
        message = error["msg"].removeprefix("Value error, ")
        pairs.append((field, message))
    return pairs


def parse_params(model: type[M], params: Any) -> M:
    """Validate request params against model; raise InvalidParamsError naming each bad field."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParamsError.for_fields([("params", "must be a JSON object")])
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise InvalidParamsError.for_fields(violations(exc)) from exc
