"""The MCP client: list and call the tools of an MCP server over streamable HTTP or stdio.

The worker is synchronous, so every session runs on one long-lived event loop per process
(``common/loops.py``, loop ``"mcp"``), opened and closed inside one coroutine: a call holds no
connection after it returns, and a server that went away costs one failed call, not a broken
pool. A URL is checked by the SSRF guard (``WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS`` for local
servers) before each session; a stdio server gets the ``mcp`` package's minimal environment
(PATH, HOME, ...), never webcap's secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
from django.conf import settings
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from common.loops import loop_run
from common.netguard import DeliveryError, UnsafeURLError, check_url, resolve

LOOP = "mcp"
# The backstop beyond a coroutine's own deadline, for a session that ignores cancellation.
GRACE_SECONDS = 5.0


class McpFailure(Exception):
    """The MCP server could not be reached, failed, or answered with an error."""


@dataclass(frozen=True)
class Endpoint:
    """Where an MCP server is and how to reach it."""

    kind: str  # "mcp_http" or "mcp_stdio"
    url: str = ""
    command: str = ""
    args: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Discovered:
    """One tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]


def url_guard(url: str) -> None:
    """Refuse a URL the SSRF guard refuses (private, metadata, ...); McpFailure says why."""
    allowed = settings.WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS
    try:
        parts = check_url(url, allowed_hosts=allowed)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        resolve(parts.hostname or "", port, allowed_hosts=allowed)
    except (UnsafeURLError, DeliveryError) as exc:
        raise McpFailure(f"refused URL: {exc}") from exc


def _reason(exc: BaseException) -> str:
    """The innermost error of an anyio exception group, as one line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextlib.asynccontextmanager
async def _session(endpoint: Endpoint) -> AsyncIterator[ClientSession]:
    async with contextlib.AsyncExitStack() as stack:
        if endpoint.kind == "mcp_http":
            await asyncio.to_thread(url_guard, endpoint.url)
            client = await stack.enter_async_context(
                httpx2.AsyncClient(headers=dict(endpoint.headers), follow_redirects=False)
            )
            read, write = await stack.enter_async_context(
                streamable_http_client(endpoint.url, http_client=client)
            )
        elif endpoint.kind == "mcp_stdio":
            parameters = StdioServerParameters(command=endpoint.command, args=list(endpoint.args))
            read, write = await stack.enter_async_context(stdio_client(parameters))
        else:
            raise McpFailure(f"not an MCP source: {endpoint.kind}")
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        yield session


async def _list(endpoint: Endpoint, limit: float) -> list[Discovered]:
    found: list[Discovered] = []
    with anyio.fail_after(limit):
        async with _session(endpoint) as session:
            cursor: str | None = None
            while True:
                params = None if cursor is None else {"cursor": cursor}
                page = await session.list_tools(params=params)  # type: ignore[arg-type]
                for item in page.tools:
                    dumped = item.model_dump(mode="json", by_alias=True, exclude_none=True)
                    found.append(
                        Discovered(
                            name=item.name,
                            description=item.description or "",
                            input_schema=dumped.get("inputSchema") or {"type": "object"},
                            annotations=dumped.get("annotations") or {},
                        )
                    )
                cursor = page.next_cursor
                if not cursor:
                    return found


async def _call(endpoint: Endpoint, name: str, arguments: dict[str, Any], limit: float) -> Any:
    with anyio.fail_after(limit):
        async with _session(endpoint) as session:
            result = await session.call_tool(name, arguments)
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if result.is_error:
        raise McpFailure("; ".join(texts) or "the tool reported an error")
    if result.structured_content is not None:
        structured = result.structured_content
        # A tool that returns a plain value is wrapped as {"result": value} by MCP servers.
        if set(structured) == {"result"}:
            return structured["result"]
        return structured
    if len(texts) == len(result.content):
        return "\n".join(texts)
    return [
        block.model_dump(mode="json", by_alias=True, exclude_none=True) for block in result.content
    ]


def _run(coroutine: Any, timeout: float) -> Any:
    try:
        return loop_run(LOOP, coroutine, timeout=timeout + GRACE_SECONDS)
    except McpFailure:
        raise
    except TimeoutError as exc:
        raise McpFailure(f"no answer within {timeout:g} s") from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise McpFailure(_reason(exc)) from exc


def mcp_tools_list(endpoint: Endpoint, *, timeout: float) -> list[Discovered]:
    """Return the tools the server lists (all pages); McpFailure if it cannot be asked."""
    result: list[Discovered] = _run(_list(endpoint, timeout), timeout)
    return result


def mcp_tool_call(
    endpoint: Endpoint, *, name: str, arguments: dict[str, Any], timeout: float
) -> Any:
    """Call one tool in its own session; return its result, McpFailure for any failure."""
    return _run(_call(endpoint, name, arguments, timeout), timeout)
