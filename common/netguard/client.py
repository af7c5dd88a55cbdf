"""One HTTP request to a checked, DNS-pinned address, with a total deadline."""

from __future__ import annotations

import contextlib
import math
import re
import socket
import threading
import time
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from common.netguard.addresses import DEFAULT_PORTS, allowlist_parse, host_resolve, url_checked
from common.netguard.errors import DeliveryError, UnsafeURLError

# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})


@dataclass(frozen=True)
class GuardedResponse:
    """A response: status, headers (lowercase names, repeats joined by ", "), raw body."""

    status: int
    headers: dict[str, str]
    body: bytes


def _check_header(name: str, value: str) -> None:
    if name.lower() in _RESERVED_HEADERS:
        raise UnsafeURLError(f"header {name} is set by guarded_request and may not be supplied")
    header_check(name, value)


def header_check(name: str, value: str) -> None:
    """Refuse a header name that is not an RFC 9110 token and a value with control characters."""
    if not _TOKEN.fullmatch(name):
        raise UnsafeURLError(f"header name {name!r} is not a valid HTTP token")
    for char in value:
        if char in "\r\n\x00":
            raise UnsafeURLError(f"header {name} value contains CR, LF or NUL")
        if char != "\t" and unicodedata.category(char) == "Cc":
            raise UnsafeURLError(
                f"header {name} value contains a control character (U+{ord(char):04X})"
            )


class _Watchdog:
    """Enforces the total deadline and the pinned address from httpcore's trace hook.

    When the connection opens, a duplicate of its socket descriptor is kept; when the deadline
    passes, ``shutdown`` on it wakes whatever read or write is blocked, on the plain or the TLS
    socket alike (they share the TCP connection), and the request fails promptly.
    """

    def __init__(self, pinned_ip: str, seconds: float) -> None:
        self._pinned_ip = pinned_ip
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._closed = False
        self.fired = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.started" and info.get("host") != self._pinned_ip:
            raise UnsafeURLError(
                f"HTTP client tried to connect to {info.get('host')!r}, "
                f"not the checked address {self._pinned_ip}"
            )
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if isinstance(sock, socket.socket):
                with self._lock:
                    if not self._closed:
                        self._sock = sock.dup()
                        if self.fired:
                            self._shutdown()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            if not self._closed:
                self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._closed = True
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def guarded_request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    max_response_bytes: int = 1_048_576,
    allowed_hosts: Collection[str] = (),
) -> GuardedResponse:
    """Send one HTTP request to a checked, DNS-pinned public address; never follow redirects."""
    if not _TOKEN.fullmatch(method):
        raise UnsafeURLError(f"HTTP method {method!r} is not a valid token")
    request_headers = dict(headers or {})
    for name, value in request_headers.items():
        _check_header(name, value)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    if max_response_bytes < 0:
        raise ValueError(f"max_response_bytes must not be negative, not {max_response_bytes}")

    allow = allowlist_parse(allowed_hosts)
    parts, host, port = url_checked(url, allow)
    deadline = time.monotonic() + timeout
    pinned = host_resolve(host, port, allow)[0]
    remaining = deadline - time.monotonic()
    authority = host.text if ":" not in host.text else f"[{host.text}]"
    if port != DEFAULT_PORTS[parts.scheme]:
        authority = f"{authority}:{port}"
    where = f"{method} {parts.scheme}://{authority} (address {pinned})"
    if remaining <= 0:
        raise DeliveryError(f"{where} timed out after {timeout} s (during DNS resolution)")

    pinned_literal = pinned if ":" not in pinned else f"[{pinned}]"
    target = f"{parts.scheme}://{pinned_literal}:{port}{parts.path or '/'}"
    if parts.query:
        target += f"?{parts.query}"
    if not any(name.lower() == "accept-encoding" for name in request_headers):
        request_headers["Accept-Encoding"] = "identity"
    request_headers["Host"] = authority
    watchdog = _Watchdog(pinned, remaining)
    extensions: dict[str, Any] = {"trace": watchdog.trace}
    if parts.scheme == "https" and host.ip is None:
        extensions["sni_hostname"] = host.key

    client = httpx.Client(
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(remaining),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
    )
    try:
        watchdog.start()
        request = client.build_request(
            method, target, headers=request_headers, content=content, extensions=extensions
        )
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            body = bytearray()
            if max_response_bytes > 0:
                for chunk in response.iter_raw():
                    body += chunk[: max_response_bytes - len(body)]
                    if len(body) >= max_response_bytes:
                        break
                    if time.monotonic() > deadline:
                        raise DeliveryError(f"{where} timed out after {timeout} s")
            return GuardedResponse(
                status=response.status_code,
                headers=dict(response.headers.items()),
                body=bytes(body),
            )
        finally:
            response.close()
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"{where} timed out after {timeout} s: {exc}") from exc
    except httpx.LocalProtocolError as exc:
        raise UnsafeURLError(f"{where} was rejected by the HTTP client: {exc}") from exc
    except httpx.TransportError as exc:
        if watchdog.fired:
            raise DeliveryError(f"{where} timed out after {timeout} s") from exc
        kind = "connection failed" if isinstance(exc, httpx.ConnectError) else "failed"
        raise DeliveryError(f"{where} {kind}: {type(exc).__name__}: {exc}") from exc
    finally:
        watchdog.close()
        client.close()
