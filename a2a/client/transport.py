"""The two bindings of A2A 1.0 on one guarded httpx client: requests, answers, SSE, errors.

A binding turns an operation and its params (ProtoJSON, as the server's handlers take them)
into an HTTP request, and the answer into the result's JSON or a typed exception. Each call
runs under a deadline; each stream under an idle timeout and an optional overall deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from a2a.client.errors import (
    BY_HTTP_STATUS,
    A2AClientError,
    MalformedResponse,
    RemoteError,
    RequestTimeout,
    TransportError,
    UnsafeURL,
    remote_error,
)
from a2a.client.sse import sse_events
from a2a.protocol.jsonrpc import dumps, loads
from a2a.protocol.versions import HEADER
from common.netguard import (
    MAX_RESPONSE_BYTES,
    DeliveryError,
    ResponseTooLargeError,
    UnsafeURLError,
)

JSON = "application/json"
A2A_JSON = "application/a2a+json"
EVENT_STREAM = "text/event-stream"
# How much of an unexpected body an error message quotes.
QUOTE_CHARS = 200


@dataclass(frozen=True)
class Call:
    """One call of an operation: its name and the id of its JSON-RPC request."""

    operation: str
    request_id: int


_request_ids = itertools.count(1)


@dataclass(frozen=True)
class StreamLimits:
    """A stream's bounds: seconds without a byte (keep-alive comments count), an optional
    overall deadline in seconds, and the largest single event in bytes."""

    idle_timeout: float
    deadline: float | None
    max_event_bytes: int


def _check_seconds(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of seconds, not {value}")


@contextlib.contextmanager
def _guard_errors(where: str) -> Iterator[None]:
    """Turn the guard's and httpx's exceptions into the client's."""
    try:
        yield
    except UnsafeURLError as exc:
        raise UnsafeURL(f"{where}: refused by the SSRF guard: {exc}") from exc
    except ResponseTooLargeError as exc:
        raise MalformedResponse(f"{where}: {exc}") from exc
    except DeliveryError as exc:
        raise TransportError(f"{where}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise RequestTimeout(f"{where}: timed out ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise TransportError(f"{where}: {type(exc).__name__}: {exc}") from exc


async def guarded_call(
    http: httpx.AsyncClient,
    request: httpx.Request,
    *,
    where: str,
    deadline: float,
    max_bytes: int,
) -> httpx.Response:
    """Send request and read its whole body (at most max_bytes) within deadline seconds."""
    _check_seconds("deadline", deadline)
    request.extensions[MAX_RESPONSE_BYTES] = max_bytes
    try:
        async with asyncio.timeout(deadline):
            with _guard_errors(where):
                response = await http.send(request)
    except TimeoutError:
        raise RequestTimeout(f"{where}: no complete answer within {deadline} s") from None
    return response


def _quote(body: bytes) -> str:
    text = body[:QUOTE_CHARS].decode("utf-8", "replace")
    return repr(text) + ("..." if len(body) > QUOTE_CHARS else "")


def _decode(body: bytes, *, where: str, status: int) -> Any:
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedResponse(
            f"{where}: HTTP {status} with a body that is not JSON: {_quote(body)}", status=status
        ) from None


def _try_decode(body: bytes) -> Any:
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _decode_event(where: str, data: str) -> Any:
    try:
        return loads(data)
    except ValueError:
        raise MalformedResponse(
            f"{where}: an SSE event is not JSON: {data[:QUOTE_CHARS]!r}"
        ) from None


def _status_error(where: str, status: int, body: bytes, *, expected: str) -> A2AClientError:
    """What an unexpected HTTP status without a readable A2A error means."""
    error_type = BY_HTTP_STATUS.get(status)
    if error_type is not None:
        return error_type(f"{where}: HTTP {status}", http_status=status)
    return MalformedResponse(
        f"{where}: HTTP {status} where {expected} was expected: {_quote(body)}", status=status
    )


class Binding:
    """One interface of a remote agent: its URL, binding, version and the headers of a call."""

    name = ""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        version: str,
        tenant: str | None,
        headers: Callable[[str], Mapping[str, str]],
        max_response_bytes: int,
    ) -> None:
        self.http = http
        self.url = url
        self.version = version
        self.tenant = tenant
        self._headers = headers
        self.max_response_bytes = max_response_bytes

    def where(self, operation: str) -> str:
        return f"{operation} at {self.url} ({self.name})"

    def headers(self, operation: str, *, accept: str, last_event_id: str | None) -> httpx.Headers:
        """The caller's headers (hook, then credentials), then the protocol's, which win."""
        headers = httpx.Headers(self._headers(operation))
        headers[HEADER] = self.version
        headers["Accept"] = accept
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return headers

    def build(
        self, call: Call, params: dict[str, Any], *, streaming: bool, last_event_id: str | None
    ) -> httpx.Request:
        raise NotImplementedError

    def result(self, call: Call, status: int, body: bytes) -> Any:
        """The result of a unary answer, or the typed exception it reports."""
        raise NotImplementedError

    def event(self, call: Call, event: str, data: str) -> dict[str, Any]:
        """The StreamResponse JSON of one SSE event, or the typed exception it reports."""
        raise NotImplementedError

    async def call(self, operation: str, params: dict[str, Any], *, deadline: float) -> Any:
        """Run a unary operation; return its result's JSON."""
        call = Call(operation, next(_request_ids))
        request = self.build(call, params, streaming=False, last_event_id=None)
        response = await guarded_call(
            self.http,
            request,
            where=self.where(operation),
            deadline=deadline,
            max_bytes=self.max_response_bytes,
        )
        return self.result(call, response.status_code, response.content)

    async def stream(
        self,
        operation: str,
        params: dict[str, Any],
        *,
        limits: StreamLimits,
        last_event_id: str | None = None,
    ) -> AsyncGenerator[tuple[str | None, dict[str, Any]]]:
        """Run a streaming operation; yield (SSE id, StreamResponse JSON) as events arrive."""
        _check_seconds("idle_timeout", limits.idle_timeout)
        _check_seconds("deadline", limits.deadline)
        where = self.where(operation)
        call = Call(operation, next(_request_ids))
        request = self.build(call, params, streaming=True, last_event_id=last_event_id)
        # The body of a stream has no overall bound; each event has (sse_events).
        request.extensions[MAX_RESPONSE_BYTES] = None
        loop = asyncio.get_running_loop()
        ends_at = None if limits.deadline is None else loop.time() + limits.deadline

        def budget() -> tuple[float, str]:
            if ends_at is not None and ends_at - loop.time() < limits.idle_timeout:
                return ends_at - loop.time(), f"the stream's deadline of {limits.deadline} s"
            return limits.idle_timeout, f"{limits.idle_timeout} s without a byte"

        async def timed(awaitable: Any) -> Any:
            seconds, what = budget()
            try:
                if seconds <= 0:
                    raise TimeoutError
                async with asyncio.timeout(seconds):
                    with _guard_errors(where):
                        return await awaitable
            except TimeoutError:
                with contextlib.suppress(Exception):
                    awaitable.close()
                raise RequestTimeout(f"{where}: timed out after {what}") from None

        response = await timed(self.http.send(request, stream=True))
        try:
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            if response.status_code != 200 or content_type != EVENT_STREAM:
                # An error before the stream started comes as an ordinary answer.
                body = await timed(_read_bounded(response, self.max_response_bytes))
                self.result(call, response.status_code, body)
                raise MalformedResponse(
                    f"{where}: expected an SSE stream ({EVENT_STREAM}), got HTTP "
                    f"{response.status_code} {content_type or '(no Content-Type)'}",
                    status=response.status_code,
                )
            raw = response.aiter_raw()

            async def chunks() -> AsyncIterator[bytes]:
                while True:
                    try:
                        chunk = await timed(anext(raw))
                    except StopAsyncIteration:
                        return
                    yield chunk

            async for sse in sse_events(
                chunks(), max_event_bytes=limits.max_event_bytes, where=where
            ):
                yield sse.id, self.event(call, sse.event, sse.data)
        finally:
            await response.aclose()


async def _read_bounded(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > limit:
            raise ResponseTooLargeError(f"the response body is larger than {limit} bytes")
    return bytes(body)


class JsonRpcBinding(Binding):
    """JSON-RPC 2.0 over HTTP (A2A §9): POST the envelope; errors travel with HTTP 200."""

    name = "JSONRPC"

    def method(self, call: Call, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The method name and params of the request (1.0: as they are)."""
        return call.operation, params

    def build(
        self, call: Call, params: dict[str, Any], *, streaming: bool, last_event_id: str | None
    ) -> httpx.Request:
        if self.tenant and "tenant" not in params:
            params = {**params, "tenant": self.tenant}
        method, params = self.method(call, params)
        envelope = {"jsonrpc": "2.0", "id": call.request_id, "method": method, "params": params}
        accept = EVENT_STREAM if streaming else JSON
        headers = self.headers(call.operation, accept=accept, last_event_id=last_event_id)
        headers["Content-Type"] = JSON
        return self.http.build_request("POST", self.url, content=dumps(envelope), headers=headers)

    def error_details(self, data: Any) -> list[Any]:
        """The ``@type``-tagged details of an error's data (1.0: an array of them)."""
        return data if isinstance(data, list) else []

    def _envelope(self, call: Call, data: Any, *, status: int | None) -> Any:
        where = self.where(call.operation)
        if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
            raise MalformedResponse(f"{where}: not a JSON-RPC 2.0 response object", status=status)
        if data.get("id") not in (call.request_id, None):
            raise MalformedResponse(
                f"{where}: the response's id {data.get('id')!r} is not the request's "
                f"({call.request_id})",
                status=status,
            )
        if "error" in data:
            error = data["error"]
            if not isinstance(error, dict) or not isinstance(error.get("code"), int):
                raise MalformedResponse(f"{where}: a JSON-RPC error without a code", status=status)
            raise remote_error(
                message=str(error.get("message", "")),
                code=error["code"],
                details=self.error_details(error.get("data")),
                http_status=status if status != 200 else None,
                where=where,
            )
        if "result" not in data:
            raise MalformedResponse(
                f"{where}: a JSON-RPC response with neither result nor error", status=status
            )
        return data["result"]

    def result(self, call: Call, status: int, body: bytes) -> Any:
        where = self.where(call.operation)
        if status != 200:
            data = _try_decode(body)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                self._envelope(call, data, status=status)
            raise _status_error(where, status, body, expected="200 with a JSON-RPC response")
        return self._envelope(call, _decode(body, where=where, status=status), status=status)

    def event(self, call: Call, event: str, data: str) -> dict[str, Any]:
        where = self.where(call.operation)
        result = self._envelope(call, _decode_event(where, data), status=None)
        if not isinstance(result, dict):
            raise MalformedResponse(f"{where}: a stream event's result is not an object")
        return result


# HTTP+JSON routes (A2A §11.3): operation -> (verb, path template); {name} comes from params.
REST_ROUTES: dict[str, tuple[str, str]] = {
    "SendMessage": ("POST", "/message:send"),
    "SendStreamingMessage": ("POST", "/message:stream"),
    "GetTask": ("GET", "/tasks/{id}"),
    "ListTasks": ("GET", "/tasks"),
    "CancelTask": ("POST", "/tasks/{id}:cancel"),
    "SubscribeToTask": ("GET", "/tasks/{id}:subscribe"),
    "CreateTaskPushNotificationConfig": ("POST", "/tasks/{taskId}/pushNotificationConfigs"),
    "GetTaskPushNotificationConfig": ("GET", "/tasks/{taskId}/pushNotificationConfigs/{id}"),
    "ListTaskPushNotificationConfigs": ("GET", "/tasks/{taskId}/pushNotificationConfigs"),
    "DeleteTaskPushNotificationConfig": (
        "DELETE",
        "/tasks/{taskId}/pushNotificationConfigs/{id}",
    ),
    "GetExtendedAgentCard": ("GET", "/extendedAgentCard"),
}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RestBinding(Binding):
    """HTTP+JSON (A2A §11): a route per operation; errors are google.rpc.Status bodies."""

    name = "HTTP+JSON"

    def build(
        self, call: Call, params: dict[str, Any], *, streaming: bool, last_event_id: str | None
    ) -> httpx.Request:
        verb, template = REST_ROUTES[call.operation]
        rest = dict(params)
        tenant = rest.pop("tenant", None) or self.tenant
        path = template
        for name in ("taskId", "id"):
            if "{" + name + "}" in path:
                segment = urllib.parse.quote(str(rest.pop(name)), safe="")
                path = path.replace("{" + name + "}", segment)
        if tenant:
            path = "/" + urllib.parse.quote(tenant, safe="") + path
        accept = EVENT_STREAM if streaming else f"{A2A_JSON}, {JSON}"
        headers = self.headers(call.operation, accept=accept, last_event_id=last_event_id)
        url = self.url.rstrip("/") + path
        if verb in ("GET", "DELETE"):
            query = {k: _query_value(v) for k, v in rest.items() if v is not None}
            return self.http.build_request(verb, url, params=query, headers=headers)
        headers["Content-Type"] = A2A_JSON
        return self.http.build_request(verb, url, content=dumps(rest), headers=headers)

    def _error(self, call: Call, data: Any, status: int | None) -> RemoteError | None:
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return None
        details = error.get("details")
        return remote_error(
            message=str(error.get("message", "")),
            code=None,
            details=details if isinstance(details, list) else [],
            http_status=status,
            where=self.where(call.operation),
        )

    def result(self, call: Call, status: int, body: bytes) -> Any:
        where = self.where(call.operation)
        if 200 <= status < 300:
            return _decode(body, where=where, status=status) if body.strip() else {}
        error = self._error(call, _try_decode(body), status)
        if error is not None:
            raise error
        raise _status_error(where, status, body, expected="an A2A error body")

    def event(self, call: Call, event: str, data: str) -> dict[str, Any]:
        where = self.where(call.operation)
        decoded = _decode_event(where, data)
        if event == "error":
            error = self._error(call, decoded, None)
            if error is None:
                raise MalformedResponse(f"{where}: an error event without an error object")
            raise error
        if not isinstance(decoded, dict):
            raise MalformedResponse(f"{where}: a stream event is not a JSON object")
        return decoded
