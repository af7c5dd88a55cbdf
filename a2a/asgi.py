"""The lean ASGI path of the A2A HTTP bindings and the agent card.

Django's ASGI handler is general: it gives every request a thread of its own
(``ThreadSensitiveContext``), sends ``request_started`` and ``request_finished`` through
``sync_to_async``, and runs each hook of every ``MiddlewareMixin`` middleware through
``sync_to_async`` as well: a dozen thread hand-offs for a request whose own work is a
cached card or one indexed read. Profiles of the card and GetTask under load showed those
hand-offs, not webcap's code, as nearly all of the time.

``A2AFastPath`` sits in front of Django for ``/a2a/jsonrpc``, ``/a2a/rest/`` and the
``/.well-known`` cards, and serves them with the same views, the same URL patterns and the
same middleware classes from ``settings.MIDDLEWARE``, with their hooks called inline on the
event loop (they only read headers and set headers, metrics and log context). The
middleware that has nothing to do on these paths is skipped, each for a stated reason;
a middleware this module does not know refuses to start rather than being silently left
out. Database work still happens in ``sync_to_async`` calls from the views; each request
runs them on one of ``WEBCAP_DB_THREADS`` long-lived threads (taken in turn), each with its
own connection, instead of a new thread and connection per request. A connection an error
left unusable is closed after the request that met it.

The public card is the path most often asked for and the same bytes every time: an
unconditional ``GET`` of it is answered by ``CardAnswers`` from the answer the full path gave
the first such request (same status, headers and body), without building a Django request;
only the request id, the metrics and the request log line are made per request.

Every other path (the admin, the management API, pages, health, metrics, files) goes to
Django's own handler unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest, get_script_prefix
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import ResolverMatch, get_resolver, set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from django_prometheus.middleware import (  # type: ignore[import-untyped]
    PrometheusAfterMiddleware,
    PrometheusBeforeMiddleware,
)
from django_structlog.middlewares.request import RequestMiddleware as RequestLogMiddleware
from django_structlog.middlewares.request import logger as request_logger

from common.database import connections_close_broken
from common.request_context import RequestInfo, bound, client_ip_from, request_id_from

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Handler = Callable[[HttpRequest], Awaitable[HttpResponseBase]]

# The paths served here: the A2A HTTP bindings (A2A §9, §11) and the public cards (§8.2).
PREFIXES = ("/a2a/jsonrpc", "/a2a/rest", "/.well-known/agent-card.json", "/.well-known/agent.json")

# Middleware with nothing to do on those paths, and why. Everything else in MIDDLEWARE runs.
SKIPPED = {
    "observability.health.HealthProbeMiddleware": "it answers only /health/live and /health/ready",
    "common.static.StaticFilesMiddleware": "it answers only /static/",
    "django.contrib.sessions.middleware.SessionMiddleware": (
        "A2A calls carry a bearer credential or API key, never a session"
    ),
    "django.middleware.csrf.CsrfViewMiddleware": "the A2A views are csrf_exempt",
    "django.contrib.auth.middleware.AuthenticationMiddleware": (
        "A2A authenticates from its own headers (a2a.bindings.authenticate_caller)"
    ),
    "django.contrib.messages.middleware.MessageMiddleware": "A2A answers carry no messages",
}

# The public cards (§8.2): an unconditional GET of one is answered by CardAnswers.
CARD_PATHS = frozenset(("/.well-known/agent-card.json", "/.well-known/agent.json"))
# Request headers after which the card's answer may differ (a 304, CORS headers): such a
# request takes the full path.
_CARD_FULL_PATH_HEADERS = frozenset((b"if-none-match", b"if-modified-since", b"origin"))
# Request headers Django may read to tell the card's base URL and whether the request is
# secure (Host, the proxy headers): part of the key of a learned answer.
_CARD_KEY_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-port", b"x-forwarded-proto")
# Response headers made per request, never replayed.
_PER_REQUEST_HEADERS = frozenset(("x-request-id", "set-cookie", "date", "content-length"))

# Middleware whose async mode already does no thread hop: used as they are.
HOP_FREE = (
    "common.request_context.RequestContextMiddleware",
    "corsheaders.middleware.CorsMiddleware",
)


class _Hooks:
    """A MiddlewareMixin middleware with its request and response hooks called inline."""

    def __init__(self, middleware: MiddlewareMixin, get_response: Handler) -> None:
        self.middleware = middleware
        self.get_response = get_response

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self.middleware, "process_request", None)
        if process_request is not None:
            response = process_request(request)
        if response is None:
            response = await self.get_response(request)
        process_response = getattr(self.middleware, "process_response", None)
        if process_response is not None:
            response = process_response(request, response)
        return cast(HttpResponseBase, response)


class _RequestLog:
    """django-structlog's request_started / request_finished lines, logged inline."""

    def __init__(self, middleware: RequestLogMiddleware, get_response: Handler) -> None:
        self.middleware = middleware
        self.get_response = get_response

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        self.middleware.prepare(request)
        response = await self.get_response(request)
        self.middleware.handle_response(request, response)  # type: ignore[arg-type]
        return response


class _Lanes:
    """A fixed set of database threads; a request's thread-sensitive calls run on one of them.

    Each thread keeps its database connection from request to request (PostgreSQL: one
    connection of the pool each). Taken in turn: a stream that waits holds no thread.
    """

    def __init__(self, count: int) -> None:
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"a2a-db-{number}")
            for number in range(max(1, count))
        ]
        self._turn = itertools.cycle(self.executors)

    def context(self) -> ThreadSensitiveContext:
        return ThreadSensitiveContext(executor=next(self._turn))

    async def close_broken(self) -> None:
        """Close every thread's connection that no longer works (after a lost database)."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                loop.run_in_executor(executor, connections_close_broken)
                for executor in self.executors
            )
        )


class _CardRequest:
    """What django-prometheus's hooks read of a request, for a replayed card answer."""

    def __init__(self, scope: Scope, content_length: str | None, match: ResolverMatch) -> None:
        self.method = "GET"
        self.headers = {"content-length": content_length} if content_length else {}
        self.resolver_match = match
        self._secure = scope.get("scheme") == "https"

    def is_secure(self) -> bool:
        return self._secure


class _CardAnswer:
    """One learned answer: the full path's response to an unconditional GET of a card."""

    def __init__(self, response: HttpResponse, match: ResolverMatch, line: str) -> None:
        self.response = response
        self.match = match
        # The request log line's `request` field, as django-structlog writes it.
        self.line = line
        self.body = response.content
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.items()
            if name.lower() not in _PER_REQUEST_HEADERS
        ]
        self.headers.append((b"content-length", str(len(self.body)).encode("ascii")))


class CardAnswers:
    """The public cards' answers, learned from the full path, replayed without it.

    The first unconditional ``GET`` of a card for a given Host (and proxy headers) goes the
    full way: every middleware, the card view. A 200 answer is kept, and later requests
    with the same key get the same status, headers and body straight from ASGI, with a
    request id of their own, the same Prometheus metrics and the same ``request_finished``
    log line. A conditional request, a CORS request, any other method and any other answer
    (a 400 for a disallowed host, a redirect to HTTPS) always take the full path. What is
    kept is forgotten when a setting changes (a2a/apps.py), as the rendered card is.
    """

    LIMIT = 64

    def __init__(self) -> None:
        self.answers: dict[tuple[Any, ...], _CardAnswer] = {}
        self.before = PrometheusBeforeMiddleware(_never_called)
        self.after = PrometheusAfterMiddleware(_never_called)

    def forget(self) -> None:
        self.answers.clear()

    @staticmethod
    def key(scope: Scope) -> tuple[Any, ...] | None:
        """The key of the answer for this request, or None when it must take the full path."""
        if scope["method"] != "GET" or scope["path"] not in CARD_PATHS:
            return None
        found: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _CARD_FULL_PATH_HEADERS:
                return None
            if name in _CARD_KEY_HEADERS:
                if name in found:  # a repeated Host: whatever Django makes of it, not here
                    return None
                found[name] = value
        if b"host" not in found:
            return None
        return (
            scope["path"],
            scope.get("query_string", b""),
            scope.get("scheme"),
            scope.get("root_path", ""),
            *(found.get(name) for name in _CARD_KEY_HEADERS),
        )

    def learn(self, key: tuple[Any, ...], request: HttpRequest, response: HttpResponseBase) -> None:
        """Keep the full path's answer to an unconditional GET when it can be replayed."""
        if (
            type(response) is not HttpResponse
            or response.status_code != 200
            or response.has_header("Vary")
            or response.cookies
            or request.resolver_match is None
        ):
            return
        if len(self.answers) >= self.LIMIT:
            self.answers.clear()
        line = RequestLogMiddleware.format_request(request)
        self.answers[key] = _CardAnswer(response, request.resolver_match, line)

    async def replay(self, answer: _CardAnswer, scope: Scope, send: Send) -> None:
        headers = dict(scope["headers"])
        request = _CardRequest(scope, _latin1(headers.get(b"content-length")), answer.match)
        self.before.process_request(request)
        self.after.process_request(request)
        self.after.process_view(request, None)
        client = scope.get("client")
        info = RequestInfo(
            request_id=request_id_from(_latin1(headers.get(b"x-request-id"))),
            client_ip=client_ip_from(
                peer=client[0] if client else None,
                forwarded_for=_latin1(headers.get(b"x-forwarded-for")),
            ),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*answer.headers, (b"x-request-id", info.request_id.encode("ascii"))],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})
        self.after.process_response(request, answer.response)
        self.before.process_response(request, answer.response)
        with bound(info):
            request_logger.info("request_finished", code=200, request=answer.line)


def _never_called(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("CardAnswers calls the metrics hooks only")


def _latin1(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


CARD_ANSWERS = CardAnswers()


class A2AFastPath:
    """ASGI app: the A2A HTTP paths through an inline middleware chain, the rest to Django."""

    def __init__(self, django: ASGIHandler) -> None:
        self.django = django
        self.lanes = _Lanes(settings.WEBCAP_DB_THREADS)
        self.cards = CARD_ANSWERS
        self.view_hooks: list[Callable[..., HttpResponseBase | None]] = []
        self.exception_hooks: list[Callable[..., HttpResponseBase | None]] = []
        self.chain = self._build_chain()

    def _build_chain(self) -> Handler:
        """Wrap the view in MIDDLEWARE's classes (outermost first), as Django orders them.

        As in Django, each layer turns an exception from below into its response, so the
        layers above still add their headers to an error answer.
        """
        handler: Handler = self._guarded(self._view)
        for path in reversed(settings.MIDDLEWARE):
            if path in SKIPPED:
                continue
            cls = import_string(path)
            if path in HOP_FREE:
                handler = cls(handler)
            elif cls is RequestLogMiddleware:
                handler = _RequestLog(cls(handler), handler)
            elif issubclass(cls, MiddlewareMixin):
                middleware = cls(handler)
                if hasattr(middleware, "process_view"):
                    self.view_hooks.insert(0, middleware.process_view)
                if hasattr(middleware, "process_exception"):
                    self.exception_hooks.append(middleware.process_exception)
                handler = _Hooks(middleware, handler)
            else:
                raise ImproperlyConfigured(
                    f"{path} is in MIDDLEWARE, but the A2A fast path (a2a/asgi.py) cannot tell "
                    "whether to run it inline: add it to SKIPPED with the reason, or to HOP_FREE."
                )
            handler = self._guarded(handler)
        return handler

    @staticmethod
    def _guarded(handler: Handler) -> Handler:
        async def guarded(request: HttpRequest) -> HttpResponseBase:
            # Django turns an exception a middleware raised into its response (a disallowed
            # host into 400, anything else into a logged 500); so does this path.
            try:
                return await handler(request)
            except Exception as exc:
                return response_for_exception(request, exc)

        return guarded

    async def _view(self, request: HttpRequest) -> HttpResponseBase:
        # A path no pattern matches raises Resolver404; _guarded answers it as Django does.
        match = get_resolver().resolve(request.path_info)
        request.resolver_match = match
        for hook in self.view_hooks:
            response = hook(request, match.func, match.args, match.kwargs)
            if response is not None:
                return response
        try:
            return cast(HttpResponseBase, await match.func(request, *match.args, **match.kwargs))
        except Exception as exc:
            for hook in self.exception_hooks:
                response = hook(request, exc)
                if response is not None:
                    return response
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIXES):
            await self.django(scope, receive, send)
            return
        card_key = self.cards.key(scope)
        if card_key is not None:
            answer = self.cards.answers.get(card_key)
            if answer is not None:
                await self.cards.replay(answer, scope, send)
                return
        try:
            body = await self.django.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.django.create_request(scope, body)
        try:
            if request is None:
                assert error_response is not None
                await self.django.send_response(error_response, send)
                return
            async with self.lanes.context():
                response = await self._serve(request, receive, send)
            if card_key is not None and response is not None:
                self.cards.learn(card_key, request, response)
            if response is not None and response.status_code >= 500:
                # The request may have met a lost database: no thread may keep a connection
                # that died with it for the next request.
                await self.lanes.close_broken()
        finally:
            body.close()
        if response is not None:
            response.close()

    async def _serve(
        self, request: ASGIRequest, receive: Receive, send: Send
    ) -> HttpResponseBase | None:
        """Answer while listening for the client to leave; a departure cancels the answer."""

        async def respond() -> HttpResponseBase:
            response = await self.chain(request)
            # The client may leave while the answer is being sent.
            with contextlib.suppress(asyncio.CancelledError):
                await self.django.send_response(response, send)
            return response

        listening = asyncio.create_task(self.django.listen_for_disconnect(receive))
        answering = asyncio.create_task(respond())
        await asyncio.wait([listening, answering], return_when=asyncio.FIRST_COMPLETED)
        for task in (listening, answering):
            if task.done():
                with contextlib.suppress(RequestAborted):  # the client disconnected
                    task.result()
            else:
                # A stream ends here when its client goes away; views see CancelledError.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if answering.cancelled():
            return None
        return answering.result()
