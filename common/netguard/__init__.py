"""Outbound HTTP to user-supplied URLs without server-side request forgery (SSRF).

Threat
------
Users give us URLs (A2A push-notification webhooks now, an ``http_request`` agent tool later)
and our servers then make requests to them. Without care, a user can point such a URL at
something only our servers can reach: the cloud metadata service (169.254.169.254, which hands
out instance credentials), loopback services (Redis, Postgres, the Django admin), or hosts on
the private network. They can also use a DNS name that resolves to such an address, answer the
first lookup with a public address and the second with a private one (DNS rebinding), redirect
a permitted request to a forbidden one, or smuggle extra header lines into the request.

Defences
--------
* ``check_url`` (static, no DNS; run when a URL is configured and again before each request):
  only ``http``/``https``; a host is required; no ``user:password@``; port 1..65535; no
  control, whitespace or invisible formatting characters anywhere (so no CR/LF injection and
  no parser disagreements about where the host ends); at most 2048 characters; the host must be
  ASCII (IDNA names in their ``xn--`` form), so Unicode look-alikes such as fullwidth digits
  cannot be normalised into an address later.
* IP literal hosts must be public unicast addresses. Refused: unspecified, "this network",
  loopback, private (RFC 1918, fc00::/7), link-local, multicast, broadcast, reserved, shared
  address space (100.64.0.0/10), benchmarking, documentation, IETF protocol assignments,
  deprecated ranges (site-local, 6to4 relay anycast, IPv4-compatible), the cloud metadata
  addresses, anything outside 2000::/3 for IPv6, and anything ``ipaddress`` says is not
  ``is_global``. IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64
  64:ff9b::/96, 6to4 2002::/16) are judged by the embedded address too. The tables are explicit
  rather than left to ``ipaddress`` alone because its lists vary between Python releases (3.11.7
  calls 192.0.0.192, a metadata address, global).
* Non-canonical IPv4 spellings (``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``, ``127.1``),
  which ``inet_aton``/``getaddrinfo`` accept but ``ipaddress`` does not, are refused outright;
  the message names the address they stand for. A host whose last label is numeric but which is
  not a valid address is refused too.
* Names that are local by definition (``localhost``, ``*.localhost``, ``*.local``,
  ``*.internal``, ``*.localdomain``, ``*.home.arpa``) and single-label names (resolved through
  local search domains) are refused.
* ``resolve`` looks the host up once and refuses it if *any* address is not public, so a name
  with one public and one private record cannot be used to reach the private one. IPv4-mapped
  results are unwrapped before they are checked.
* ``guarded_request`` connects only to the first checked address: the URL handed to httpx
  carries the IP literal, so httpx does no lookup of its own (no rebinding window), while the
  ``Host`` header and, for https, the TLS SNI name and certificate check use the real host
  name. A trace hook also checks that httpcore connects to exactly that address.
* Redirects are never followed (a 3xx is returned to the caller), so a permitted host cannot
  bounce the request elsewhere. Environment proxies are ignored and cookies are not kept.
* Method, header names and header values are validated (no CR, LF, NUL or other control
  characters; names must be RFC 9110 tokens); callers may not set ``Host``,
  ``Content-Length`` or ``Transfer-Encoding`` themselves.
* ``timeout`` is a total deadline: connect, TLS, sending and reading all share it. A watchdog
  shuts the socket down when it expires, so a server that trickles bytes cannot hold a worker
  indefinitely (httpx's own timeouts apply to each read separately). Time spent in DNS counts
  against the deadline, but a lookup in progress cannot be interrupted; the system resolver's
  own timeouts bound it. At most ``max_response_bytes`` of the body are read; the rest is never
  received into memory. The body is not content-decoded (``Accept-Encoding: identity`` is sent
  by default), so a compressed response cannot expand beyond the limit.

Async path
----------
``GuardedAsyncTransport`` (``aio.py``) keeps every defence above for ``httpx.AsyncClient``
callers that hold a connection pool, stream bodies (SSE) or need cancellation;
``guarded_async_client`` builds the client with the settings it relies on.

* Each request's URL goes through the same ``url_checked``, its headers through the same name
  and value checks, and its host through the same ``host_resolve`` (once per request, in a
  thread, so the event loop never blocks on DNS). httpx receives the URL with the first
  checked address as an IP literal, so it looks nothing up; ``Host`` and the TLS SNI name and
  certificate check keep the real name, and the same trace check proves the connection goes
  to that address. Connections are pooled per (scheme, host name, port, address): a TLS
  connection verified for one name is never reused for another.
* The transport never follows redirects; the client is made with ``follow_redirects=False``,
  and a hop a caller chooses to follow passes through the same checks as the first request.
  Environment proxies are ignored (``trust_env=False``), and the cookie jar refuses every
  cookie.
* The body is bounded while it is read (``max_response_bytes``, per request with the
  ``netguard.max_response_bytes`` extension, ``None`` for a long-lived stream whose reader
  bounds each event itself): past it ``ResponseTooLargeError`` and the rest is never received.
  ``Accept-Encoding: identity`` is sent and a ``Content-Encoding`` header is dropped from the
  response, so a compressed body reaches the caller as bytes and is never expanded.
* Deadlines are the caller's: ``asyncio.timeout`` around a call cancels it at once, wherever
  it waits (a DNS lookup already running in its thread finishes on its own). httpx's own
  timeouts bound each phase. Transport failures are ``DeliveryError``, refusals
  ``UnsafeURLError``, from the request and from each read of a streamed body alike.

``allowed_hosts`` is an explicit allowlist that switches off the non-public checks for the hosts
it names (exact, case-insensitive; ``"host:port"`` restricts the entry to that port). It exists
for tests (a webhook receiver on 127.0.0.1) and for trusted internal hosts chosen by operators.
It must never be filled from user input.

Errors: ``UnsafeURLError`` (a ``ValueError``) means the URL or request is refused and retrying
will not help. ``DeliveryError`` means a transport failure (DNS failure, connection refused,
timeout, TLS error, connection dropped) and the caller may retry later; its subclass
``ResponseTooLargeError`` (async path) means the body passed its bound.
"""

from __future__ import annotations

from common.netguard.addresses import MAX_URL_LENGTH, check_url, resolve
from common.netguard.aio import MAX_RESPONSE_BYTES, GuardedAsyncTransport, guarded_async_client
from common.netguard.client import GuardedResponse, guarded_request
from common.netguard.errors import DeliveryError, ResponseTooLargeError, UnsafeURLError

__all__ = [
    "MAX_RESPONSE_BYTES",
    "MAX_URL_LENGTH",
    "DeliveryError",
    "GuardedAsyncTransport",
    "GuardedResponse",
    "ResponseTooLargeError",
    "UnsafeURLError",
    "check_url",
    "guarded_async_client",
    "guarded_request",
    "resolve",
]
