"""HTTP bindings: the JSON-RPC endpoint (with SSE for streams) and the agent card.

Views parse, authenticate, call the dispatcher and render; all behaviour is in the handlers.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from a2a.bindings import call_context, public_base_url
from a2a.card import rendered_card
from a2a.protocol import jsonrpc
from a2a.protocol.dispatcher import dispatch
from a2a.protocol.errors import (
    A2AError,
    InternalError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from a2a.protocol.versions import HEADER
from a2a.streams import TaskEventStream
from accounts.auth import AUTH_CHALLENGE

logger = logging.getLogger(__name__)

JSON = "application/json"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Errors that are about the HTTP exchange itself keep their HTTP status; A2A and JSON-RPC
# errors travel with 200 (A2A §9.5).
TRANSPORT_STATUSES = frozenset({401, 405, 413, 415, 503})


def _rpc_error(request_id: jsonrpc.RequestId, error: A2AError) -> HttpResponse:
    status = error.http_status if error.http_status in TRANSPORT_STATUSES else 200
    log = logger.error if error.code == InternalError.code and status != 503 else logger.warning
    log(
        "JSON-RPC error %s (%s) for request %r: %s",
        error.code,
        error.reason,
        request_id,
        error.message,
    )
    response = HttpResponse(
        jsonrpc.dumps(jsonrpc.failure(request_id, error)), content_type=JSON, status=status
    )
    if isinstance(error, UnauthenticatedError):
        response["WWW-Authenticate"] = AUTH_CHALLENGE
    return response


async def _sse(request_id: jsonrpc.RequestId, stream: TaskEventStream) -> AsyncIterator[bytes]:
    """Render a task stream as SSE: one JSON-RPC response per event, ids = sequence numbers."""
    try:
        async for item in stream.events():
            if item is None:
                yield b": keepalive\n\n"
                continue
            frame = jsonrpc.dumps(jsonrpc.success(request_id, item.payload))
            yield b"id: %d\ndata: %s\n\n" % (item.seq, frame)
    except A2AError as error:
        yield b"data: %s\n\n" % jsonrpc.dumps(jsonrpc.failure(request_id, error))
    except Exception:
        logger.exception("Stream of task %s failed", stream.task_id)
        yield b"data: %s\n\n" % jsonrpc.dumps(jsonrpc.failure(request_id, InternalError()))


@csrf_exempt
async def jsonrpc_endpoint(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """POST /a2a/jsonrpc: one JSON-RPC 2.0 request; streaming methods answer with SSE."""
    if request.method != "POST":
        response = _rpc_error(
            None,
            _MethodNotAllowed("Send a JSON-RPC 2.0 request object with POST"),
        )
        response["Allow"] = "POST"
        return response
    content_type = request.content_type or ""
    if content_type != JSON and not content_type.endswith("+json"):
        return _rpc_error(
            None,
            UnsupportedMediaTypeError(
                f"Content-Type {content_type or '(none)'!r} is not supported; send {JSON}"
            ),
        )
    try:
        rpc = jsonrpc.parse_request(request.body)
    except jsonrpc.EnvelopeError as exc:
        return _rpc_error(exc.request_id, exc.error)
    except RequestDataTooBig:
        # The ASGI middleware refuses these first; this covers other ASGI servers' setups.
        return _rpc_error(None, PayloadTooLargeError("Request body too large"))
    try:
        ctx = await call_context(
            headers=request.headers,
            query_version=request.GET.get(HEADER),
            binding="jsonrpc",
            base_url=public_base_url(request.scheme or "http", request.get_host()),
        )
        result = await dispatch(ctx, rpc.method, rpc.params)
    except A2AError as error:
        return _rpc_error(rpc.id, error)
    except Exception:
        logger.exception("JSON-RPC method %s failed", rpc.method)
        return _rpc_error(rpc.id, InternalError())
    if isinstance(result, TaskEventStream):
        return StreamingHttpResponse(
            _sse(rpc.id, result), content_type="text/event-stream", headers=SSE_HEADERS
        )
    return HttpResponse(jsonrpc.dumps(jsonrpc.success(rpc.id, result)), content_type=JSON)


class _MethodNotAllowed(InvalidRequestError):
    http_status = 405
    reason = "METHOD_NOT_ALLOWED"


async def agent_card(request: HttpRequest) -> HttpResponse:
    """GET /.well-known/agent-card.json with Cache-Control, ETag and Last-Modified (A2A §8.6)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD"})
    card = rendered_card(public_base_url(request.scheme or "http", request.get_host()))
    headers: dict[str, Any] = {
        "Cache-Control": "public, max-age=300",
        "ETag": card.etag,
        "Last-Modified": card.last_modified,
        # The card is public: any origin may read it.
        "Access-Control-Allow-Origin": "*",
    }
    if card.etag in _etags(request.headers.get("If-None-Match", "")):
        return HttpResponseNotModified(headers=headers)
    return HttpResponse(card.body, content_type=JSON, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
