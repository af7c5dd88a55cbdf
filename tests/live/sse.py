"""A small SSE reader over httpx for the live tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def sse_events(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Yield {"id": str | None, "data": decoded JSON} per event; comments are skipped."""
    event: dict[str, Any] = {}
    for line in response.iter_lines():
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            event[field] = json.loads(value) if field == "data" else value


def stream_request(
    url: str, key: str, method: str, params: dict[str, Any], request_id: Any = 1
) -> Any:
    """Open a streaming JSON-RPC request; use as a context manager."""
    return httpx.stream(
        "POST",
        f"{url}/a2a/jsonrpc",
        json={"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "Accept": "text/event-stream",
        },
        timeout=30,
    )
