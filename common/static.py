"""Static files (the admin's, DRF's) served by webcap itself, with WhiteNoise.

``StaticFilesStorage`` gives hashed, compressed names (cached for a year) once collectstatic
has written its manifest, and plain names before that, so a checkout renders its pages
without a collectstatic step.

WhiteNoise's own middleware is synchronous: in Django's async (ASGI) stack every request,
static or not, would cross into a worker thread and back for it, and a blocking SendMessage
would hold that thread for as long as it waits. This subclass is async: a request for
anything else costs one dict lookup (WhiteNoise builds its file table at start), and only a
static file's read runs in a thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from whitenoise.middleware import WhiteNoiseMiddleware
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's hashed, compressed storage that tolerates a missing manifest."""

    def stored_name(self, name: str) -> str:
        # No manifest yet (collectstatic has not run): the plain name, which WhiteNoise serves
        # from the apps' folders (WHITENOISE_USE_FINDERS). With a manifest, a name missing
        # from it is still an error: the collected files are out of date.
        if not self.manifest_hash:
            return name
        stored: str = super().stored_name(name)
        return stored


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """Serve STATIC_ROOT under STATIC_URL (hashed names cached for a year), async."""

    sync_capable = False
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        super().__init__(get_response)
        self.get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = get_response
        markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:
            # DEBUG: files are looked up (and may change) on every request.
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is None:
            return await self.get_response(request)
        return await sync_to_async(_serve, thread_sensitive=False)(static_file, request)


def _serve(static_file: Any, request: HttpRequest) -> HttpResponse:
    """Return WhiteNoise's answer (200, 206, 304, 405 with its headers) as a plain response.

    The bytes are read here, in a thread: a FileResponse would be iterated synchronously by
    the ASGI handler. Static files are small (the largest admin file is ~300 KB).
    """
    answer = static_file.get_response(request.method, request.META)
    body = b""
    if answer.file is not None:
        with answer.file as handle:
            body = handle.read()
    response = HttpResponse(body, status=int(answer.status))
    # WhiteNoise sets Content-Type (and every other header) itself.
    del response["Content-Type"]
    for name, value in answer.headers:
        response[name] = value
    return response
