"""Turn untrusted JSON into wire objects, or into -32602 errors that name the bad fields.

Every request passes two checks before a handler runs: a walk over the whole params that
refuses values no database or UTF-8 response can hold (NUL characters, unpaired surrogates,
NaN and infinite numbers), then the wire type's own validation with the configured limits
(``limits.py``) in its context.
"""

from __future__ import annotations

import itertools
from typing import Any, TypeVar

from pydantic import ValidationError

from a2a.protocol import limits as lim
from a2a.protocol.errors import InvalidParamsError
from a2a.protocol.types import WireModel

M = TypeVar("M", bound=WireModel)

# An error names at most this many fields; a request with thousands of bad values gets a
# readable answer of bounded size.
MAX_VIOLATIONS = 20


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            # Dict keys come from the client: escaped so the error itself is valid UTF-8.
            segment = lim.printable_key(part)
            path += f".{segment}" if path else segment
    return path or "params"


def violations(exc: ValidationError, *, prefix: str = "") -> list[tuple[str, str]]:
    """Return (field, description) pairs for every error pydantic found."""
    pairs = []
    for error in exc.errors(include_url=False, include_input=False):
        field = _field_path(error["loc"])
        if prefix:
            field = f"{prefix}.{field}" if field != "params" else prefix
        message = error["msg"].removeprefix("Value error, ")
        pairs.append((field, message))
    return pairs


def _bounded(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(pairs) <= MAX_VIOLATIONS:
        return pairs
    more = len(pairs) - MAX_VIOLATIONS + 1
    return [*pairs[: MAX_VIOLATIONS - 1], ("params", f"and {more} more invalid fields")]


def parse_params(model: type[M], params: Any) -> M:
    """Validate request params against model; raise InvalidParamsError naming each bad field.

    The limits are read from the settings on every call, so a changed setting (or a test's
    ``override_settings``) applies to the next request.
    """
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParamsError.for_fields([("params", "must be a JSON object")])
    unstorable = list(itertools.islice(lim.unstorable_values(params), MAX_VIOLATIONS + 1))
    if unstorable:
        raise InvalidParamsError.for_fields(_bounded(unstorable))
    try:
        return model.model_validate(params, context={lim.CONTEXT_KEY: lim.current_limits()})
    except ValidationError as exc:
        raise InvalidParamsError.for_fields(_bounded(violations(exc))) from exc
