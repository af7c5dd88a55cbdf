"""What a Cap'n Web peer sees of webcap's errors, and the session limits from the settings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from a2a.protocol import limits as lim
from a2a.protocol.errors import A2AError, InternalError, InvalidParamsError
from capnweb import Limits, RemoteStub, RpcError

logger = logging.getLogger(__name__)

# The JavaScript error name every A2A error arrives under; `code` tells them apart.
ERROR_NAME = "Error"


def session_limits() -> Limits:
    """Return the per-connection limits (WEBCAP_CAPNWEB_*), read on every new session."""
    return Limits(
        max_message_bytes=settings.WEBCAP_CAPNWEB_MAX_MESSAGE_BYTES,
        max_depth=settings.WEBCAP_CAPNWEB_MAX_DEPTH,
        max_outstanding_calls=settings.WEBCAP_CAPNWEB_MAX_CALLS,
        max_exports=settings.WEBCAP_CAPNWEB_MAX_EXPORTS,
        max_imports=settings.WEBCAP_CAPNWEB_MAX_IMPORTS,
    )


def rpc_error(error: A2AError) -> RpcError:
    """Return the A2A error as the peer sees it: its message, with `code` and `reason`.

    The JavaScript client puts the properties on the Error it throws (`error.code`), the same
    codes the JSON-RPC binding sends.
    """
    internal = error.code == InternalError.code and error.http_status != 503
    (logger.error if internal else logger.warning)(
        "Cap'n Web call error %s (%s): %s", error.code, error.reason, error.message
    )
    props: dict[str, Any] = {"code": error.code, "reason": error.reason}
    if error.metadata:
        props["metadata"] = dict(error.metadata)
    return RpcError(ERROR_NAME, error.message, props)


def error_mapper(exc: BaseException) -> RpcError | None:
    """Map A2A errors; anything else the session answers as its own "Internal error" (logged).

    The dispatcher and the service's other operations (``a2a_errors``) let nothing else out.
    """
    return rpc_error(exc) if isinstance(exc, A2AError) else None


def json_params(value: Any, field: str) -> Any:
    """Return value as plain JSON for the wire types: dates become RFC 3339 strings.

    Bytes, stubs and other values JSON cannot hold are refused (-32602) instead of failing
    when the message is stored.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict):
        return {
            key: json_params(item, f"{field}.{lim.printable_key(key)}")
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [json_params(item, f"{field}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    kind = "a stub" if isinstance(value, RemoteStub) else type(value).__name__
    raise InvalidParamsError.for_fields([(field, f"must be JSON, not {kind}")])
