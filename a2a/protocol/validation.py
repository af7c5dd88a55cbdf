"""Turn untrusted JSON into wire objects, or into -32602 errors that name the bad fields.

Every request passes three checks before a handler runs: a walk over the whole params that
refuses values no database or UTF-8 response can hold (NUL characters, unpaired surrogates,
NaN and infinite numbers); a walk that refuses the unknown fields that are mistakes; then
the wire type's own validation with the configured limits (``limits.py``) in its context.

A field the request type does not have is refused when it is a mistake webcap can name: a
field of A2A 0.3 sent in a 1.0 request (a 0.3 ``pushNotificationConfig`` sent as 1.0 would
register no webhook) or a misspelling of a real field (``configuraton``). Dropping those
would fail silently. Any other unknown field is ignored, as A2A §5.7 asks ("SHOULD ignore
unrecognized fields") and the TCK checks (DM-SERIAL-005): a newer client's additions keep
working. Free-form values are not walked: ``metadata`` (a Struct, where extensions put their data,
A2A §4.6) and a data part's ``data``. The wire types themselves ignore unknown fields, so
objects the server builds or reads elsewhere are unaffected.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import types
from collections.abc import Iterator
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from a2a.protocol import limits as lim
from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError
from a2a.protocol.types import WireModel

M = TypeVar("M", bound=WireModel)

# An error names at most this many fields; a request with thousands of bad values gets a
# readable answer of bounded size.
MAX_VIOLATIONS = 20
# Unknown keys looked at for a mistake per request; the rest are ignored like any other.
MAX_EXAMINED = 200


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


# Fields of A2A 0.3 (and of 1.0's drafts) that a 1.0 request may carry by mistake, and what
# 1.0 sends instead. A 0.3 request never meets these: v03.py translates it first.
RENAMED: dict[type[WireModel], dict[str, str]] = {
    wire.SendMessageConfiguration: {
        "pushNotificationConfig": "A2A 0.3's name, in A2A 1.0 it is taskPushNotificationConfig",
        "blocking": (
            "A2A 0.3's name: A2A 1.0 waits by default, and returnImmediately: true answers at once"
        ),
    },
    wire.Message: {"kind": "A2A 0.3's, an A2A 1.0 message has no kind"},
    wire.Part: {
        "kind": "A2A 0.3's, an A2A 1.0 part has no kind: it holds one of text, raw, url or data",
        "file": (
            "A2A 0.3's file part: A2A 1.0 sends raw (base64) or url, with mediaType and "
            "filename beside it"
        ),
        "mimeType": "A2A 1.0 calls it mediaType",
    },
    wire.TaskPushNotificationConfig: {
        "pushNotificationConfig": (
            "A2A 0.3's wrapper: A2A 1.0 sends its url, token, authentication and id at the "
            "top level, beside taskId"
        ),
    },
    wire.AuthenticationInfo: {"schemes": "A2A 0.3's list: A2A 1.0 sends one scheme, a string"},
    wire.GetTaskPushNotificationConfigRequest: {
        "pushNotificationConfigId": "A2A 0.3's name: in A2A 1.0 the config is id, its task taskId"
    },
}
# How alike a misspelt field and a real one must be for "did you mean" (0..1, difflib's ratio).
CLOSE_MATCH = 0.8

# The shape of a field that holds wire objects: one, a list of them, or a map to them.
Shape = tuple[str, type[WireModel]]


def _shape(annotation: Any) -> Shape | None:
    """Return how a field holds wire objects (None: a scalar or a free-form value)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _shape(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        shapes = [_shape(arg) for arg in get_args(annotation) if arg is not type(None)]
        return shapes[0] if len(shapes) == 1 else None
    if origin is list:
        inner = _shape(get_args(annotation)[0])
        return ("list", inner[1]) if inner is not None and inner[0] == "one" else None
    if origin is dict:
        inner = _shape(get_args(annotation)[1])
        return ("map", inner[1]) if inner is not None and inner[0] == "one" else None
    if isinstance(annotation, type) and issubclass(annotation, WireModel):
        return ("one", annotation)
    return None


@functools.cache
def _fields(model: type[WireModel]) -> dict[str, Shape | None]:
    """Every name a field of model is accepted under (camelCase and snake_case) -> its shape."""
    names: dict[str, Shape | None] = {}
    for name, field in model.model_fields.items():
        shape = _shape(field.annotation)
        names[name] = shape
        if field.alias:
            names[field.alias] = shape
    return names


def _mistake(model: type[WireModel], key: str) -> str | None:
    """Say what an unknown field was meant to be: A2A 1.0's name for it, or the field it
    resembles; None when it resembles nothing (such a field is ignored)."""
    camel = to_camel(key)
    for klass in model.__mro__:
        hint = RENAMED.get(klass, {}).get(camel)
        if hint is not None:
            return hint
    wire_names = [field.alias or name for name, field in model.model_fields.items()]
    close = difflib.get_close_matches(camel, wire_names, n=1, cutoff=CLOSE_MATCH)
    return f"did you mean {close[0]}?" if close else None


def unknown_fields(model: type[WireModel], params: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (field, description) for every unknown field of params that is a mistake.

    At most MAX_EXAMINED unknown keys are looked at: a flood of them costs bounded work.
    """
    found: list[tuple[str, str]] = []
    for owner, loc in itertools.islice(_unknown_keys(model, params, ()), MAX_EXAMINED):
        hint = _mistake(owner, str(loc[-1]))
        if hint is not None:
            found.append((_field_path(loc), f"unknown field ({hint})"))
    return found


def _unknown_keys(
    model: type[WireModel], params: dict[str, Any], loc: tuple[int | str, ...]
) -> Iterator[tuple[type[WireModel], tuple[int | str, ...]]]:
    """Yield (the type, the path) of every key under params its type does not have."""
    fields = _fields(model)
    for key, value in params.items():
        here = (*loc, key)
        if key not in fields:
            yield model, here
            continue
        shape = fields[key]
        if shape is None:
            continue  # a scalar, or free-form (metadata, a data part's data)
        kind, inner = shape
        if kind == "one" and isinstance(value, dict):
            yield from _unknown_keys(inner, value, here)
        elif kind == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _unknown_keys(inner, item, (*here, index))
        elif kind == "map" and isinstance(value, dict):
            for name, item in value.items():
                if isinstance(item, dict):
                    yield from _unknown_keys(inner, item, (*here, name))


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
    unknown = unknown_fields(model, params)
    try:
        request = model.model_validate(params, context={lim.CONTEXT_KEY: lim.current_limits()})
    except ValidationError as exc:
        # Unknown fields first: a misspelt field is often why a required one is missing.
        raise InvalidParamsError.for_fields(_bounded(unknown + violations(exc))) from exc
    if unknown:
        raise InvalidParamsError.for_fields(_bounded(unknown))
    return request
