"""What a client is configured with: credentials, timeouts, bounds, a headers hook."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from common.netguard import UnsafeURLError
from common.netguard.client import header_check

HeadersHook = Callable[[str], Mapping[str, str]]

DEFAULT_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_MAX_RESPONSE_BYTES = 8 * 1_048_576
DEFAULT_MAX_EVENT_BYTES = 8 * 1_048_576


class Credentials:
    """One credential header sent on every A2A call; its value never appears in a repr."""

    __slots__ = ("_header", "_value")

    def __init__(self, header: str, value: str) -> None:
        # Checked here, so no HTTP library ever quotes the value in an error of its own.
        try:
            header_check(header, value)  # its messages name the header, never the value
        except UnsafeURLError as exc:
            raise ValueError(f"invalid credential: {exc}") from None
        if not value or not value.isascii():
            raise ValueError(f"the {header} credential must be non-empty ASCII")
        self._header = header
        self._value = value

    @classmethod
    def bearer(cls, token: str) -> Credentials:
        """``Authorization: Bearer <token>`` (an access token or, for webcap, an API key)."""
        return cls("Authorization", f"Bearer {token}")

    @classmethod
    def api_key(cls, key: str, header: str = "X-API-Key") -> Credentials:
        """An API key in a header of its own (``X-API-Key`` unless the card says otherwise)."""
        return cls(header, key)

    def headers(self) -> dict[str, str]:
        return {self._header: self._value}

    def __repr__(self) -> str:
        return f"Credentials(header={self._header!r}, value='***')"


@dataclass(frozen=True)
class Timeouts:
    """Seconds: ``request`` is the total deadline of a unary call; a stream fails after
    ``stream_idle`` without a byte (keep-alives count) or after ``stream_deadline`` in all."""

    request: float = DEFAULT_TIMEOUT
    stream_idle: float = DEFAULT_IDLE_TIMEOUT
    stream_deadline: float | None = None


@dataclass(frozen=True)
class ClientOptions:
    """How a client talks to one remote agent; a registry keeps one per agent.

    ``allowed_hosts`` lets the SSRF guard reach the local hosts it names (``"127.0.0.1"``,
    ``"127.0.0.1:8000"``); never fill it from user input. ``headers_hook(operation)``
    returns extra headers for each request; the protocol's headers and the credential win
    over them. ``verify`` is httpx's TLS verification (False, or an ``ssl.SSLContext``
    with a private CA).
    """

    credentials: Credentials | None = None
    allowed_hosts: tuple[str, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    headers_hook: HeadersHook | None = None
    verify: ssl.SSLContext | bool = True

    def call_headers(self, operation: str) -> dict[str, str]:
        """The hook's headers for operation, then the credential's."""
        headers = dict(self.headers_hook(operation)) if self.headers_hook else {}
        if self.credentials is not None:
            headers.update(self.credentials.headers())
        return headers


# Immutable: one instance serves as every default.
DEFAULT_OPTIONS = ClientOptions()
