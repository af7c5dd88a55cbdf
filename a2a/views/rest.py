"""The HTTP+JSON binding (A2A §11) under /a2a/rest/, with an optional /{tenant} prefix.

Each route maps HTTP verbs to A2A operations; path segments, the query string (GET, DELETE)
or the JSON body (POST) become the operation's params, and the same dispatcher and handlers
as the JSON-RPC binding run them. Responses are ``application/a2a+json``; errors are
``{"error": google.rpc.Status}`` with the HTTP status of the error table; streams are SSE
whose data is a bare StreamResponse, and an error inside a stream is an ``event: error``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from a2a.bindings import call_context, public_base_url
from a2a.protocol.dispatcher import dispatch
from a2a.protocol.errors import (
    A2AError,
    InvalidRequestError,
    JSONParseError,
    PayloadTooLargeError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from a2a.protocol.jsonrpc import dumps, loads
from a2a.protocol.versions import HEADER
from a2a.streams import ResultStream
from a2a.views.sse import sse_response
from accounts.auth import AUTH_CHALLENGE
from common.database import retry_after

logger = logging.getLogger(__name__)

A2A_JSON = "application/a2a+json"
JSON = "application/json"
Response = HttpResponse | StreamingHttpResponse
RestView = Callable[..., Coroutine[Any, Any, Response]]


class RouteNotFoundError(InvalidRequestError):
    http_status = 404
    grpc_status = "NOT_FOUND"
    reason = "ROUTE_NOT_FOUND"
    default_message = "No such A2A HTTP+JSON route"


class VerbNotAllowedError(InvalidRequestError):
    http_status = 405
    reason = "METHOD_NOT_ALLOWED"


def _content_type(request: HttpRequest) -> str:
    # Answer in plain JSON only to a client that asks for nothing else.
    accept = request.headers.get("Accept", "")
    return JSON if JSON in accept and A2A_JSON not in accept else A2A_JSON


def _error(request: HttpRequest, error: A2AError) -> HttpResponse:
    internal = error.http_status >= 500 and error.http_status != 503
    (logger.error if internal else logger.warning)(
        "HTTP+JSON %s %s: %s (%s) %s",
        request.method,
        request.path,
        error.http_status,
        error.reason,
        error.message,
    )
    response = HttpResponse(
        dumps(error.rest_error()), content_type=_content_type(request), status=error.http_status
    )
    if isinstance(error, UnauthenticatedError):
        response["WWW-Authenticate"] = AUTH_CHALLENGE
    if (wait := retry_after(error)) is not None:
        response["Retry-After"] = wait
    return response


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        raw = request.body
    except RequestDataTooBig as exc:
        raise PayloadTooLargeError("Request body too large") from exc
    if not raw.strip():
        return {}
    content_type = request.content_type or ""
    if content_type not in (JSON, A2A_JSON) and not content_type.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type {content_type or '(none)'!r} is not supported; send {A2A_JSON}"
        )
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JSONParseError(f"Invalid JSON payload: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object")
    return body


def _query(request: HttpRequest) -> dict[str, Any]:
    params = request.GET.dict()
    params.pop(HEADER, None)
    return params


async def _serve(
    request: HttpRequest, operations: dict[str, str], path_params: dict[str, str]
) -> HttpResponse | StreamingHttpResponse:
    operation = operations.get(request.method or "")
    if operation is None:
        allowed = ", ".join(sorted(operations))
        response = _error(
            request, VerbNotAllowedError(f"{request.method} is not allowed here; use {allowed}")
        )
        response["Allow"] = allowed
        return response
    try:
        params = _query(request) if request.method in ("GET", "DELETE") else _body(request)
        # Path segments name the resource; they win over anything in the query or body.
        params.update(path_params)
        ctx = await call_context(
            headers=request.headers,
            query_version=request.GET.get(HEADER),
            binding="rest",
            base_url=public_base_url(request.scheme or "http", request.get_host()),
        )
        result = await dispatch(ctx, operation, params)
    except A2AError as error:
        return _error(request, error)
    if isinstance(result, ResultStream):

        def error_event(error: A2AError) -> bytes:
            return b"event: error\ndata: %s\n\n" % dumps(error.rest_error())

        return sse_response(result, render=lambda payload: payload, render_error=error_event)
    # Every answer is the caller's own (tasks, the extended agent card): no shared cache,
    # whatever credential header carried the request, may keep it.
    return HttpResponse(
        dumps(result),
        content_type=_content_type(request),
        headers={"Cache-Control": "private, no-store"},
    )


def endpoint(operations: dict[str, str]) -> RestView:
    """Return the view of one route: HTTP verb -> A2A operation; URL kwargs become params."""

    @csrf_exempt
    async def view(
        request: HttpRequest, **path_params: str
    ) -> HttpResponse | StreamingHttpResponse:
        return await _serve(request, operations, path_params)

    return view


@csrf_exempt
async def not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /a2a/rest/: a 404 in the binding's error shape."""
    return _error(
        request, RouteNotFoundError(f"No A2A HTTP+JSON route for {request.method} {request.path}")
    )
