"""What can go wrong talking to a remote agent, one exception type per cause.

Every exception derives from ``A2AClientError``. An error the remote agent reported in the
protocol's own terms is a ``RemoteError`` subclass, found by its JSON-RPC code or by the
ErrorInfo reason of an HTTP+JSON error body, both read from the server's error table
(``a2a/protocol/errors.py``): the codes are not written down twice. Messages never hold
credentials: they name the operation and the remote's base URL, never headers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from a2a.protocol import errors as table


class A2AClientError(Exception):
    """Anything the A2A client raises."""


class UnsafeURL(A2AClientError):
    """The SSRF guard refused the URL (not public and not allowlisted, malformed, ...)."""


class TransportError(A2AClientError):
    """The request or the stream failed in transit (DNS, connect, TLS, dropped); retryable."""


class RequestTimeout(TransportError):
    """A deadline passed: the call's total deadline, or a stream's idle or overall one."""


class MalformedResponse(A2AClientError):
    """The remote answered something that is not A2A: not JSON, a wrong envelope, objects
    that are not valid wire types, an SSE event that cannot be parsed, an unexpected status,
    or a body larger than allowed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class InvalidAgentCard(MalformedResponse):
    """The agent card is not a valid A2A 1.0 card; the message names what is wrong."""


class NoCompatibleInterface(A2AClientError):
    """The card lists no interface (binding and version) this client is willing to use."""


class RemoteError(A2AClientError):
    """An error the remote agent reported: its code, reason, HTTP status and details.

    Subclasses stand for one row of the error table each; a code or reason outside the
    table is a plain RemoteError.
    """

    protocol_error: ClassVar[type[table.A2AError]] = table.InternalError

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        reason: str | None = None,
        http_status: int | None = None,
        details: list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.protocol_error.code
        self.reason = reason if reason is not None else self.protocol_error.reason
        self.http_status = http_status
        self.details = details or []

    @property
    def metadata(self) -> dict[str, str]:
        """The ErrorInfo metadata (``taskId``, ``retryAfter``, ...), when the remote sent one."""
        for detail in self.details:
            if isinstance(detail, dict) and detail.get("@type") == table.ERROR_INFO_TYPE:
                found = detail.get("metadata")
                if isinstance(found, dict):
                    return {str(k): str(v) for k, v in found.items()}
        return {}


# --- JSON-RPC 2.0 standard errors -------------------------------------------------------------


class ParseError(RemoteError):
    protocol_error = table.JSONParseError


class InvalidRequest(RemoteError):
    protocol_error = table.InvalidRequestError


class MethodNotFound(RemoteError):
    protocol_error = table.MethodNotFoundError


class InvalidParams(RemoteError):
    protocol_error = table.InvalidParamsError


class InternalError(RemoteError):
    protocol_error = table.InternalError


# --- A2A errors (§5.4) -------------------------------------------------------------------------


class TaskNotFound(RemoteError):
    protocol_error = table.TaskNotFoundError


class TaskNotCancelable(RemoteError):
    protocol_error = table.TaskNotCancelableError


class PushNotificationNotSupported(RemoteError):
    protocol_error = table.PushNotificationNotSupportedError


class UnsupportedOperation(RemoteError):
    protocol_error = table.UnsupportedOperationError


class ContentTypeNotSupported(RemoteError):
    protocol_error = table.ContentTypeNotSupportedError


class InvalidAgentResponse(RemoteError):
    protocol_error = table.InvalidAgentResponseError


class ExtendedAgentCardNotConfigured(RemoteError):
    protocol_error = table.ExtendedAgentCardNotConfiguredError


class ExtensionSupportRequired(RemoteError):
    protocol_error = table.ExtensionSupportRequiredError


class VersionNotSupported(RemoteError):
    protocol_error = table.VersionNotSupportedError


# --- Outside the A2A table: the HTTP exchange itself ------------------------------------------


class AuthenticationFailed(RemoteError):
    """The remote refused the credentials (HTTP 401) or the operation for them (HTTP 403)."""

    protocol_error = table.UnauthenticatedError


class RateLimited(RemoteError):
    """HTTP 429 or webcap's -32029; ``retry_after`` in seconds when the remote said."""

    protocol_error = table.RateLimitedError

    @property
    def retry_after(self) -> float | None:
        value = self.metadata.get("retryAfter")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServiceUnavailable(RemoteError):
    """HTTP 503: the remote is up but a dependency is not; retryable."""

    protocol_error = table.ServiceUnavailableError


_TABLE: tuple[type[RemoteError], ...] = (
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    TaskNotFound,
    TaskNotCancelable,
    PushNotificationNotSupported,
    UnsupportedOperation,
    ContentTypeNotSupported,
    InvalidAgentResponse,
    ExtendedAgentCardNotConfigured,
    ExtensionSupportRequired,
    VersionNotSupported,
    AuthenticationFailed,
    RateLimited,
)
BY_CODE: dict[int, type[RemoteError]] = {cls.protocol_error.code: cls for cls in _TABLE}
BY_REASON: dict[str, type[RemoteError]] = {cls.protocol_error.reason: cls for cls in _TABLE}
BY_REASON[table.PermissionDeniedError.reason] = AuthenticationFailed
BY_REASON[table.ServiceUnavailableError.reason] = ServiceUnavailable
BY_CODE[table.PermissionDeniedError.code] = AuthenticationFailed
# HTTP statuses that mean the same whatever the body says (or when it says nothing useful).
BY_HTTP_STATUS: dict[int, type[RemoteError]] = {
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    429: RateLimited,
    503: ServiceUnavailable,
}


def _reason(details: list[Any]) -> str | None:
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == table.ERROR_INFO_TYPE:
            reason = detail.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def remote_error(
    *,
    message: str,
    code: int | None,
    details: list[Any],
    http_status: int | None,
    where: str,
) -> RemoteError:
    """Build the typed exception for an error the remote reported; where names the call."""
    reason = _reason(details)
    cls: type[RemoteError] | None = BY_HTTP_STATUS.get(http_status or 0)
    if cls is None and reason is not None:
        cls = BY_REASON.get(reason)
    if cls is None and code is not None:
        cls = BY_CODE.get(code)
    shown = f" {code}" if code is not None else ""
    return (cls or RemoteError)(
        f"{where}: the remote agent answered error{shown} ({reason or 'no reason'}): {message}",
        code=code,
        reason=reason,
        http_status=http_status,
        details=details,
    )
