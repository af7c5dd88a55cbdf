"""The JSON-RPC binding (A2A §9): POST /a2a/jsonrpc, SSE for streaming methods.

The view parses the envelope, authenticates, calls the dispatcher and renders; all behaviour
is in the handlers.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from a2a.bindings import call_context, public_base_url
from a2a.protocol import jsonrpc, v03
from a2a.protocol.dispatcher import dispatch
from a2a.protocol.errors import (
    A2AError,
    InternalError,
    InvalidRequestError,
    PayloadTooLargeError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from a2a.protocol.versions import HEADER, is_legacy
from a2a.streams import ResultStream
from a2a.views.sse import SSE_HEADERS, sse_response
from accounts.auth import AUTH_CHALLENGE
from common.database import retry_after

logger = logging.getLogger(__name__)

JSON = "application/json"
# Errors about the HTTP exchange itself keep their HTTP status (429 too, so HTTP clients and
# proxies back off by Retry-After); A2A and JSON-RPC errors travel with 200 (A2A §9.5).
TRANSPORT_STATUSES = frozenset({401, 405, 413, 415, 429, 503})


class _MethodNotAllowed(InvalidRequestError):
    http_status = 405
    reason = "METHOD_NOT_ALLOWED"


def _log(error: A2AError, where: str) -> None:
    internal = error.code == InternalError.code and error.http_status != 503
    (logger.error if internal else logger.warning)(
        "%s error %s (%s): %s", where, error.code, error.reason, error.message
    )


def _rpc_error(
    request_id: jsonrpc.RequestId, error: A2AError, *, legacy: bool = False
) -> HttpResponse:
    _log(error, f"JSON-RPC request {request_id!r}")
    status = error.http_status if error.http_status in TRANSPORT_STATUSES else 200
    body = jsonrpc.dumps(jsonrpc.failure(request_id, error, legacy=legacy))
    response = HttpResponse(body, content_type=JSON, status=status)
    if isinstance(error, UnauthenticatedError):
        response["WWW-Authenticate"] = AUTH_CHALLENGE
    if (wait := retry_after(error)) is not None:
        response["Retry-After"] = wait
    return response


def _legacy_stream_error(request_id: jsonrpc.RequestId, error: A2AError) -> HttpResponse:
    """An error before a 0.3 stream started: 0.3 clients read it only as an SSE event."""
    _log(error, f"JSON-RPC 0.3 stream {request_id!r}")
    frame = b"data: %s\n\n" % jsonrpc.dumps(jsonrpc.failure(request_id, error, legacy=True))
    response = HttpResponse(frame, content_type="text/event-stream", headers=SSE_HEADERS)
    if (wait := retry_after(error)) is not None:
        response["Retry-After"] = wait
    return response


@csrf_exempt
async def jsonrpc_endpoint(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """POST /a2a/jsonrpc: one JSON-RPC 2.0 request; streaming methods answer with SSE."""
    if request.method != "POST":
        response = _rpc_error(None, _MethodNotAllowed("Send a JSON-RPC 2.0 request with POST"))
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
    # A 0.3 method from a client speaking 0.3 gets its errors in the 0.3 shape.
    legacy = rpc.method in v03.METHODS and is_legacy(
        request.headers.get(HEADER), request.GET.get(HEADER)
    )
    legacy_stream = legacy and rpc.method in v03.STREAMING_METHODS
    try:
        ctx = await call_context(
            headers=request.headers,
            query_version=request.GET.get(HEADER),
            binding="jsonrpc",
            base_url=public_base_url(request.scheme or "http", request.get_host()),
        )
        result = await dispatch(ctx, rpc.method, rpc.params)
    except A2AError as error:
        if legacy_stream and not isinstance(error, UnauthenticatedError):
            return _legacy_stream_error(rpc.id, error)
        return _rpc_error(rpc.id, error, legacy=legacy)
    if isinstance(result, ResultStream):
        request_id = rpc.id

        def error_frame(error: A2AError) -> bytes:
            _log(error, f"JSON-RPC stream {request_id!r}")
            failure = jsonrpc.failure(request_id, error, legacy=legacy)
            return b"data: %s\n\n" % jsonrpc.dumps(failure)

        return sse_response(
            result,
            render=lambda payload: jsonrpc.success(request_id, payload),
            render_error=error_frame,
        )
    return HttpResponse(jsonrpc.dumps(jsonrpc.success(rpc.id, result)), content_type=JSON)
