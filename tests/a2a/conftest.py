"""Helpers for calling the A2A bindings in-process."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from django.test import AsyncClient

RpcCall = Callable[..., Coroutine[Any, Any, Any]]


@pytest.fixture
def async_client() -> AsyncClient:
    return AsyncClient()


@pytest.fixture
def rpc(async_client: AsyncClient) -> RpcCall:
    """POST one JSON-RPC request to /a2a/jsonrpc; returns the response."""

    async def call(
        method: str,
        params: Any = None,
        *,
        key: str | None = None,
        request_id: Any = 1,
        version: str | None = "1.0",
        headers: dict[str, str] | None = None,
        path: str = "/a2a/jsonrpc",
    ) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        sent = dict(headers or {})
        if version is not None:
            sent.setdefault("A2A-Version", version)
        if key is not None:
            sent.setdefault("Authorization", f"Bearer {key}")
        return await async_client.post(
            path, data=json.dumps(body), content_type="application/json", headers=sent
        )

    return call


async def sse_frames(response: Any) -> list[dict[str, Any]]:
    """Read a streaming response to the end; return each SSE event as {id, data}."""
    if response.streaming:
        raw = b"".join([chunk async for chunk in response.streaming_content]).decode()
    else:
        raw = response.content.decode()
    frames = []
    for block in raw.split("\n\n"):
        if not block.strip() or block.startswith(":"):
            continue
        frame: dict[str, Any] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            frame[field] = json.loads(value) if field == "data" else value
        frames.append(frame)
    return frames
