"""Asynchronous outbound HTTP through the same checks: an httpx transport that pins each request.

``GuardedAsyncTransport`` is the async counterpart of ``guarded_request`` for callers that
keep a client open (the A2A client), stream bodies (SSE) or need cancellation. Each request
is checked with ``url_checked``, its host resolved once with ``host_resolve`` in a thread, and
sent to the first checked address; ``guarded_async_client`` wraps it in an ``httpx.AsyncClient``
with the settings the guard relies on.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Mapping
from typing import Any

import httpx

from common.netguard.addresses import allowlist_parse, host_resolve, url_checked
from common.netguard.client import header_check
from common.netguard.errors import DeliveryError, ResponseTooLargeError, UnsafeURLError

# A request may lower or raise the transport's bound on its body with this extension.
MAX_RESPONSE_BYTES = "netguard.max_response_bytes"
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576
# Connection pools kept at once, one per (scheme, host name, port, pinned address).
MAX_POOLS = 16

PoolKey = tuple[str, str, int, str]


class _BoundedStream(httpx.AsyncByteStream):
    """The response body as it came (never decoded), at most limit bytes, failures as
    DeliveryError."""

    def __init__(self, inner: httpx.AsyncByteStream, limit: int | None, where: str) -> None:
        self._inner = inner
        self._limit = limit
        self._where = where
        self._received = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._received += len(chunk)
                if self._limit is not None and self._received > self._limit:
                    raise ResponseTooLargeError(
                        f"{self._where}: the response body is larger than {self._limit} bytes"
                    )
                yield chunk
        except httpx.TransportError as exc:
            raise _delivery_error(self._where, exc) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


def _delivery_error(where: str, exc: httpx.TransportError) -> Exception:
    if isinstance(exc, httpx.LocalProtocolError):
        return UnsafeURLError(f"{where} was rejected by the HTTP client: {exc}")
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(f"{where} timed out: {type(exc).__name__}")
    kind = "connection failed" if isinstance(exc, httpx.ConnectError) else "failed"
    return DeliveryError(f"{where} {kind}: {type(exc).__name__}: {exc}")


class GuardedAsyncTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request only to a checked, pinned public address.

    Refusals raise ``UnsafeURLError``, transport failures ``DeliveryError`` and a body over
    its bound ``ResponseTooLargeError``, from ``send`` or while the body is read.
    """

    def __init__(
        self,
        *,
        allowed_hosts: Collection[str] = (),
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if max_response_bytes is not None and max_response_bytes < 0:
            raise ValueError(f"max_response_bytes must not be negative, not {max_response_bytes}")
        self._allow = allowlist_parse(allowed_hosts)
        self._max_response_bytes = max_response_bytes
        self._verify = verify
        self._pools: OrderedDict[PoolKey, httpx.AsyncHTTPTransport] = OrderedDict()

    def _pool(self, key: PoolKey) -> httpx.AsyncHTTPTransport:
        # One pool per host name and pinned address: a TLS connection verified for one name
        # is never reused for another name that happens to share the address.
        pool = self._pools.get(key)
        if pool is None:
            pool = httpx.AsyncHTTPTransport(verify=self._verify, trust_env=False)
            self._pools[key] = pool
            while len(self._pools) > MAX_POOLS:
                _key, oldest = self._pools.popitem(last=False)
                asyncio.get_running_loop().create_task(oldest.aclose())
        self._pools.move_to_end(key)
        return pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        parts, host, port = url_checked(str(request.url), self._allow)
        for name, value in request.headers.items():
            header_check(name, value)
        addresses = await asyncio.to_thread(host_resolve, host, port, self._allow)
        pinned = addresses[0]
        authority = request.url.netloc.decode()
        where = f"{request.method} {parts.scheme}://{authority} (address {pinned})"
        limit = request.extensions.get(MAX_RESPONSE_BYTES, self._max_response_bytes)
        caller_trace = request.extensions.get("trace")

        async def trace(event: str, info: dict[str, Any]) -> None:
            # httpx got an IP literal and looks nothing up; this proves it connects there.
            if event == "connection.connect_tcp.started" and info.get("host") != pinned:
                raise UnsafeURLError(
                    f"HTTP client tried to connect to {info.get('host')!r}, "
                    f"not the checked address {pinned}"
                )
            if caller_trace is not None:
                await caller_trace(event, info)

        extensions = {k: v for k, v in request.extensions.items() if k != MAX_RESPONSE_BYTES}
        extensions["trace"] = trace
        if parts.scheme == "https" and host.ip is None:
            extensions["sni_hostname"] = host.key
        # The Host header httpx wrote from the real URL stays; only the address changes.
        request.url = request.url.copy_with(host=pinned)
        request.extensions = extensions
        pool = self._pool((parts.scheme, host.key, port, pinned))
        try:
            response = await pool.handle_async_request(request)
        except httpx.TransportError as exc:
            raise _delivery_error(where, exc) from exc
        assert isinstance(response.stream, httpx.AsyncByteStream)
        # Content-Encoding is dropped: httpx would otherwise expand a compressed body past
        # any bound; the caller gets the bytes as they came.
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
        return httpx.Response(
            response.status_code,
            headers=headers,
            stream=_BoundedStream(response.stream, limit, where),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            await pool.aclose()


def guarded_async_client(
    *,
    allowed_hosts: Collection[str] = (),
    max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """Return an AsyncClient on GuardedAsyncTransport: no redirects, no environment proxies,
    no cookies kept, ``Accept-Encoding: identity``.

    timeout is httpx's per-phase timeout (each connect, read, write); a total deadline is the
    caller's, with ``asyncio.timeout`` around the call: cancellation stops it at once.
    """
    no_cookies = http.cookiejar.CookieJar(
        policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
    )
    return httpx.AsyncClient(
        transport=GuardedAsyncTransport(
            allowed_hosts=allowed_hosts, max_response_bytes=max_response_bytes, verify=verify
        ),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
        headers={"Accept-Encoding": "identity", **(headers or {})},
        cookies=no_cookies,
    )
