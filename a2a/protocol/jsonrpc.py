"""The JSON-RPC 2.0 envelope, shared by the HTTP and WebSocket bindings."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from a2a.protocol.errors import A2AError, InvalidRequestError, JSONParseError
from common.jsontext import json_loads

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
    """Encode compactly, keeping non-ASCII text as UTF-8.

    A lone surrogate (which only a JSON escape such as a client's ``"\\ud800"`` can produce)
    has no UTF-8 form; ``backslashreplace`` writes it back as that same JSON escape, so an
    echoed id or method name never turns an answer into a 500.
    """
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


# A JSON escape of a UTF-16 surrogate; only then can decoded text hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def loads(body: bytes | str) -> Any:
    """Decode a JSON request body, refusing what cannot be stored or answered.

    Raises ValueError for invalid JSON, nesting deeper than the parser's recursion limit and
    text with unpaired surrogates (a valid pair, such as an escaped emoji, is fine).
    """
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    data = json_loads(raw)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("text holds an unpaired UTF-16 surrogate") from exc
    return data


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def parse_request(body: bytes | str) -> RpcRequest:
    """Parse one JSON-RPC request object or raise EnvelopeError (-32700 / -32600)."""
    try:
        data = loads(body)
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
