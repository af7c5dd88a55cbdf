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
from django.http import HttpRequest, HttpResponseBase
from django.urls import get_resolver, set_script_prefix
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from django_structlog.middlewares.request import RequestMiddleware as RequestLogMiddleware

from common.database import connections_close_broken

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


class A2AFastPath:
    """ASGI app: the A2A HTTP paths through an inline middleware chain, the rest to Django."""

    def __init__(self, django: ASGIHandler) -> None:
        self.django = django
        self.lanes = _Lanes(settings.WEBCAP_DB_THREADS)
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
