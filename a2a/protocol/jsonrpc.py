"""The JSON-RPC 2.0 envelope, shared by the HTTP and WebSocket bindings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from a2a.protocol.errors import A2AError, InvalidRequestError, JSONParseError

RequestId = str | int | None


@dataclass(frozen=True)
class RpcRequest:
    id: RequestId
    method: str
    params: Any


class EnvelopeError(Exception):
    """A request that is not a valid JSON-RPC 2.0 request object, with the id if one was read."""

    def __init__(self, request_id: RequestId, error: A2AError) -> None:
        super().__init__(error.message)
        self.request_id = request_id
        self.error = error


def dumps(value: Any) -> bytes:
    """Encode compactly, keeping non-ASCII text as UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def parse_request(body: bytes | str) -> RpcRequest:
    """Parse one JSON-RPC request object or raise EnvelopeError (-32700 / -32600)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EnvelopeError(None, JSONParseError(f"Invalid JSON payload: {exc}")) from exc
    if isinstance(data, list):
        raise EnvelopeError(
            None,
            InvalidRequestError("Batch requests are not supported; send one request object"),
        )
    if not isinstance(data, dict):
        raise EnvelopeError(None, InvalidRequestError("The request must be a JSON object"))
    request_id = data.get("id")
    if not _valid_id(request_id):
        raise EnvelopeError(None, InvalidRequestError("'id' must be a string, an integer or null"))
    if data.get("jsonrpc") != "2.0":
        raise EnvelopeError(request_id, InvalidRequestError("'jsonrpc' must be exactly \"2.0\""))
    method = data.get("method")
    if not isinstance(method, str) or not method:
        raise EnvelopeError(request_id, InvalidRequestError("'method' must be a non-empty string"))
    params = data.get("params")
    if params is not None and not isinstance(params, dict | list):
        raise EnvelopeError(request_id, InvalidRequestError("'params' must be an object"))
    return RpcRequest(id=request_id, method=method, params=params)


def success(request_id: RequestId, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def failure(request_id: RequestId, error: A2AError, *, legacy: bool = False) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.jsonrpc_error(legacy=legacy)}
