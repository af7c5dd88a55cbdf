"""The built-in tools: calculator, current_time, echo, read_file and http_request."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from pydantic import Field

from common.arithmetic import ExpressionError, expression_evaluate
from common.netguard import DeliveryError, UnsafeURLError, check_url, guarded_request
from tools.registry import ToolError, current_call, tool

# --- calculator -------------------------------------------------------------------------------

MAX_EXPRESSION = 200


@tool(
    description=(
        "Evaluate an arithmetic expression: + - * / // ** (or ^), parentheses, sqrt(x); "
        "% is the remainder before a number (10 % 3) and a percentage anywhere else "
        "(240 * 15%, 200 + 10%)."
    )
)
def calculator(
    expression: Annotated[str, Field(description="e.g. (3 + 4) * 2", max_length=MAX_EXPRESSION)],
) -> int | float:
    try:
        return expression_evaluate(expression)
    except ExpressionError as exc:
        raise ToolError(str(exc)) from exc


# --- current_time and echo ----------------------------------------------------------------------


@tool(description="Return the current date and time, in UTC or an IANA time zone.")
def current_time(
    timezone: Annotated[str, Field(description="IANA zone, e.g. Europe/Paris")] = "UTC",
) -> str:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(f"unknown time zone {timezone!r}") from exc
    return datetime.now(UTC).astimezone(zone).isoformat(timespec="seconds")


@tool(description="Return the given text unchanged.")
def echo(text: Annotated[str, Field(max_length=10_000)]) -> str:
    return text


# --- read_file ----------------------------------------------------------------------------------


def _files_root() -> Path:
    return Path(settings.WEBCAP_FILES_ROOT).resolve()


def _confined(path: str) -> Path:
    """Return the file path inside WEBCAP_FILES_ROOT, refusing anything that escapes it."""
    root = _files_root()
    # resolve() follows symbolic links, so a link pointing out of the root is caught too.
    target = (root / path).resolve()
    if target != root and root not in target.parents:
        raise ToolError(f"{path!r} is outside the files folder")
    return target


def _missing(path: str) -> ToolError:
    """The error for a file that is not there: which folder was searched, how to fill it."""
    root = _files_root()
    if root.is_dir():
        problem = f"no file {path!r} in the files folder {root}: copy the file there"
    else:
        problem = (
            f"no file {path!r}: the files folder {root} does not exist; "
            "create it and copy the file there"
        )
    return ToolError(f"{problem} (the setting WEBCAP_FILES_ROOT names the folder)")


def _check_read(params: Any) -> None:
    # A missing file is reported at once: nobody needs to approve reading nothing.
    if not _confined(params.path).is_file():
        raise _missing(params.path)


@tool(
    description="Read a text file from the server's files folder (WEBCAP_FILES_ROOT).",
    requires_approval=True,
    approval_reason="read_file reads files on the server.",
    check=_check_read,
)
def read_file(
    path: Annotated[str, Field(description="Path relative to the files folder", max_length=1024)],
) -> str:
    target = _confined(path)
    if not target.is_file():
        raise _missing(path)
    limit: int = settings.WEBCAP_READ_FILE_MAX_BYTES
    with target.open("rb") as handle:
        data = handle.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text + ("\n[truncated]" if len(data) > limit else "")


# --- http_request -------------------------------------------------------------------------------

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
SAFE_METHODS = frozenset({"GET", "HEAD"})


def _idempotency_headers(method: str) -> dict[str, str]:
    """Return the Idempotency-Key header of the running call, for a method with effects.

    draft-ietf-httpapi-idempotency-key-header §2: an Item Structured Header whose value is
    a String (RFC 8941 §3.3.3), so the key is sent in double quotes.
    """
    call = current_call()
    if method in SAFE_METHODS or call is None:
        return {}
    return {"Idempotency-Key": f'"{call.idempotency_key}"'}


def _check_url(params: Any) -> None:
    # Scheme, credentials and literal addresses now; names are resolved and the address
    # checked and pinned when the approved call runs.
    try:
        check_url(params.url, allowed_hosts=settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS)
    except UnsafeURLError as exc:
        raise ToolError(f"refused URL: {exc}") from exc


@tool(
    description="Make an HTTP request to a public URL and return the status, headers and body.",
    requires_approval=True,
    approval_reason="http_request reaches the network on your behalf.",
    timeout=30.0,
    side_effects=lambda params: params.method not in SAFE_METHODS,
    check=_check_url,
)
def http_request(
    url: Annotated[str, Field(description="An http or https URL", max_length=2048)],
    method: HttpMethod = "GET",
    body: Annotated[str | None, Field(description="Request body for POST/PUT/PATCH")] = None,
) -> dict[str, Any]:
    limit: int = settings.WEBCAP_TOOL_HTTP_MAX_BYTES
    try:
        response = guarded_request(
            method,
            url,
            headers=_idempotency_headers(method),
            content=body.encode("utf-8") if body is not None else None,
            timeout=settings.WEBCAP_TOOL_HTTP_TIMEOUT,
            max_response_bytes=limit + 1,
            allowed_hosts=settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS,
        )
    except UnsafeURLError as exc:
        raise ToolError(f"refused URL: {exc}") from exc
    except DeliveryError as exc:
        raise ToolError(f"request failed: {exc}") from exc
    kept = ("content-type", "content-length", "location", "last-modified")
    return {
        "status": response.status,
        "headers": {k: v for k, v in response.headers.items() if k in kept},
        "body": response.body[:limit].decode("utf-8", errors="replace"),
        "truncated": len(response.body) > limit,
    }
