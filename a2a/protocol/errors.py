"""The one error table of the protocol (A2A §3.3.2, §5.4, §9.5, §11.6).

Each error knows its JSON-RPC code, HTTP status, gRPC-style status and ErrorInfo reason, and
renders itself for the JSON-RPC binding (``error`` member) and the HTTP+JSON binding
(``{"error": google.rpc.Status}``). Bindings never build error bodies by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
A2A_DOMAIN = "a2a-protocol.org"
# The JSON-RPC codes an A2A 0.3 client knows; newer ones reach it as an internal error.
V03_CODES = frozenset({-32700, -32600, -32601, -32602, -32603, *range(-32007, -32000)})
WEBCAP_DOMAIN = "webcap"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class A2AError(Exception):
    """An error a handler reports to the client; subclasses fill in the table row."""

    code: ClassVar[int] = -32603
    http_status: ClassVar[int] = 500
    grpc_status: ClassVar[str] = "INTERNAL"
    reason: ClassVar[str] = "INTERNAL"
    domain: ClassVar[str] = A2A_DOMAIN
    default_message: ClassVar[str] = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        metadata: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.metadata = metadata or {}
        self.details = details or []
        super().__init__(self.message)

    def error_details(self) -> list[dict[str, Any]]:
        """Return the ``@type``-tagged detail objects: ErrorInfo first, then any others."""
        info = {
            "@type": ERROR_INFO_TYPE,
            "reason": self.reason,
            "domain": self.domain,
            "metadata": {**self.metadata, "timestamp": _now()},
        }
        return [info, *self.details]

    def jsonrpc_error(self, *, legacy: bool = False) -> dict[str, Any]:
        """Return the JSON-RPC 2.0 error object (for an A2A 0.3 client when legacy).

        1.0 carries ``@type``-tagged details in ``data`` (A2A §9.5); 0.3 has no detail
        array, knows fewer codes, and gets the error's metadata object as ``data``.
        """
        if not legacy:
            return {"code": self.code, "message": self.message, "data": self.error_details()}
        body: dict[str, Any] = {
            "code": self.code if self.code in V03_CODES else InternalError.code,
            "message": self.message,
        }
        if self.metadata:
            body["data"] = dict(self.metadata)
        return body

    def rest_error(self) -> dict[str, Any]:
        """Return the HTTP+JSON error body (google.rpc.Status in ProtoJSON)."""
        return {
            "error": {
                "code": self.http_status,
                "status": self.grpc_status,
                "message": self.message,
                "details": self.error_details(),
            }
        }


# --- JSON-RPC 2.0 standard errors -------------------------------------------------------------


class JSONParseError(A2AError):
    code = -32700
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    reason = "PARSE_ERROR"
    default_message = "Invalid JSON payload"


class InvalidRequestError(A2AError):
    code = -32600
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    reason = "INVALID_REQUEST"
    default_message = "Request payload validation error"


class MethodNotFoundError(A2AError):
    code = -32601
    http_status = 404
    grpc_status = "UNIMPLEMENTED"
    reason = "METHOD_NOT_FOUND"
    default_message = "Method not found"


class InvalidParamsError(A2AError):
    code = -32602
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    reason = "INVALID_PARAMS"
    default_message = "Invalid parameters"

    @classmethod
    def for_fields(cls, violations: list[tuple[str, str]]) -> InvalidParamsError:
        """Build the error from (field, description) pairs, naming them in the message."""
        message = "Invalid parameters: " + "; ".join(f"{f}: {d}" for f, d in violations)
        bad_request = {
            "@type": BAD_REQUEST_TYPE,
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        }
        return cls(message, details=[bad_request])


class InternalError(A2AError):
    pass


# --- A2A errors (§5.4) -------------------------------------------------------------------------


class TaskNotFoundError(A2AError):
    code = -32001
    http_status = 404
    grpc_status = "NOT_FOUND"
    reason = "TASK_NOT_FOUND"
    default_message = "Task not found"


class TaskNotCancelableError(A2AError):
    code = -32002
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "TASK_NOT_CANCELABLE"
    default_message = "Task cannot be canceled"


class PushNotificationNotSupportedError(A2AError):
    code = -32003
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "PUSH_NOTIFICATION_NOT_SUPPORTED"
    default_message = "Push notifications are not supported"


class UnsupportedOperationError(A2AError):
    code = -32004
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "UNSUPPORTED_OPERATION"
    default_message = "This operation is not supported"


class ContentTypeNotSupportedError(A2AError):
    code = -32005
    http_status = 400
    grpc_status = "INVALID_ARGUMENT"
    reason = "CONTENT_TYPE_NOT_SUPPORTED"
    default_message = "Incompatible content types"


class InvalidAgentResponseError(A2AError):
    code = -32006
    http_status = 500
    grpc_status = "INTERNAL"
    reason = "INVALID_AGENT_RESPONSE"
    default_message = "Invalid agent response"


class ExtendedAgentCardNotConfiguredError(A2AError):
    code = -32007
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "EXTENDED_AGENT_CARD_NOT_CONFIGURED"
    default_message = "Extended agent card is not configured"


class ExtensionSupportRequiredError(A2AError):
    code = -32008
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "EXTENSION_SUPPORT_REQUIRED"
    default_message = "Extension support required"


class VersionNotSupportedError(A2AError):
    code = -32009
    http_status = 400
    grpc_status = "FAILED_PRECONDITION"
    reason = "VERSION_NOT_SUPPORTED"
    default_message = "Version not supported"


# --- webcap errors outside the A2A table --------------------------------------------------------


class UnauthenticatedError(A2AError):
    """Missing or invalid credentials (A2A §7.4): HTTP 401 with a challenge on every binding."""

    code = -32000
    http_status = 401
    grpc_status = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"
    domain = WEBCAP_DOMAIN
    default_message = "Authentication required"


class PayloadTooLargeError(InvalidRequestError):
    http_status = 413
    reason = "PAYLOAD_TOO_LARGE"
    domain = WEBCAP_DOMAIN
    default_message = "Request body too large"


class UnsupportedMediaTypeError(ContentTypeNotSupportedError):
    """The request body's own Content-Type: -32005 like a part's media type, with HTTP 415."""

    http_status = 415
    default_message = "Unsupported Content-Type"


class ServiceUnavailableError(A2AError):
    """A dependency (database, broker) is down; the client may retry."""

    code = -32603
    http_status = 503
    grpc_status = "UNAVAILABLE"
    reason = "UNAVAILABLE"
    domain = WEBCAP_DOMAIN
    default_message = "Service temporarily unavailable"


class PermissionDeniedError(A2AError):
    """The caller is known but its role or its API key's scopes do not allow the operation.

    Only for operations, never for a particular task: a task the caller may not see is
    reported as TaskNotFoundError, so ids of other users' tasks cannot be probed.
    """

    code = -32040
    http_status = 403
    grpc_status = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"
    domain = WEBCAP_DOMAIN
    default_message = "Permission denied"


class RateLimitedError(A2AError):
    """Too many requests in the current window: HTTP 429 with Retry-After on every binding.

    ``retry_after`` (seconds) is also in the ErrorInfo metadata as ``retryAfter``.
    """

    code = -32029
    http_status = 429
    grpc_status = "RESOURCE_EXHAUSTED"
    reason = "RATE_LIMITED"
    domain = WEBCAP_DOMAIN
    default_message = "Rate limit exceeded"

    def __init__(self, message: str | None = None, *, retry_after: int, limit: int) -> None:
        super().__init__(message, metadata={"retryAfter": str(retry_after), "limit": str(limit)})
        self.retry_after = retry_after
