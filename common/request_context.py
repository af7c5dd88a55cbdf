"""Who is asking and from where, for the duration of one request.

The request id (taken from ``X-Request-ID`` when it is a sane value, generated otherwise) and
the client address live in context variables, so the audit log and log records can name them
without every function passing them along. HTTP responses echo the id in ``X-Request-ID``.
The same id is bound in structlog's context (``request_id``, with ``ip``): it is the one id
of the request in its log records and in the jobs it enqueues (common/logging.py).

The client address honours ``NUM_PROXIES``: with 0 (the default) it is the socket peer and
``X-Forwarded-For`` is ignored, because any client can send that header; with N it is the Nth
address from the right of ``X-Forwarded-For``, the one the outermost trusted proxy appended.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# A client's id is kept if it looks like an id, not free text that could forge log lines.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class RequestInfo:
    request_id: str
    client_ip: str | None


_current: ContextVar[RequestInfo | None] = ContextVar("webcap_request", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | None) -> str:
    """Return the client's request id when it is sane, a fresh one otherwise."""
    if value and _SANE_ID.match(value):
        return value
    return new_request_id()


def _valid_ip(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip_from(*, peer: str | None, forwarded_for: str | None) -> str | None:
    """Return the client address given the socket peer and X-Forwarded-For (see module doc)."""
    proxies: int = settings.NUM_PROXIES
    if proxies <= 0 or not forwarded_for:
        return _valid_ip(peer) if peer else None
    addresses = [part.strip() for part in forwarded_for.split(",") if part.strip()]
    if not addresses:
        return _valid_ip(peer) if peer else None
    # The rightmost N entries were appended by our proxies; a client can only prepend.
    chosen = addresses[-min(proxies, len(addresses))]
    return _valid_ip(chosen) or (_valid_ip(peer) if peer else None)


def current() -> RequestInfo | None:
    """Return the request being served, or None outside a request (jobs, commands)."""
    return _current.get()


def current_request_id() -> str | None:
    info = _current.get()
    return info.request_id if info else None


def current_client_ip() -> str | None:
    info = _current.get()
    return info.client_ip if info else None


@contextmanager
def bound(info: RequestInfo) -> Iterator[RequestInfo]:
    """Make info the current request inside the block, for log records too."""
    token = _current.set(info)
    log_context = {"request_id": info.request_id}
    if info.client_ip:
        log_context["ip"] = info.client_ip
    try:
        with structlog.contextvars.bound_contextvars(**log_context):
            yield info
    finally:
        _current.reset(token)


def info_from_headers(headers: Mapping[str, str], peer: str | None) -> RequestInfo:
    """Build the request info from lower-case headers and the socket peer (WebSocket scopes)."""
    return RequestInfo(
        request_id=request_id_from(headers.get("x-request-id")),
        client_ip=client_ip_from(peer=peer, forwarded_for=headers.get("x-forwarded-for")),
    )


def _info_for(request: HttpRequest) -> RequestInfo:
    return RequestInfo(
        request_id=request_id_from(request.headers.get(HEADER)),
        client_ip=client_ip_from(
            peer=request.META.get("REMOTE_ADDR"),
            forwarded_for=request.headers.get("X-Forwarded-For"),
        ),
    )


class RequestContextMiddleware:
    """Bind the request info for the request and echo the request id in the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self.__acall__(request)
        info = _info_for(request)
        request.webcap_info = info  # type: ignore[attr-defined]
        # Nothing bound by an earlier request on this thread leaks into this one's records.
        structlog.contextvars.clear_contextvars()
        try:
            with bound(info):
                response: HttpResponse = self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response[HEADER] = info.request_id
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        info = _info_for(request)
        request.webcap_info = info  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        try:
            with bound(info):
                response: HttpResponse = await self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response[HEADER] = info.request_id
        return response
