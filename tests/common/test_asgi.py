"""The ASGI guards, driven with raw ASGI messages (the Django test client bypasses them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from common.asgi import BodySizeLimitMiddleware


async def _echo_app(scope, receive, send):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _call(
    path: str,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]],
    **scope_extra: str,
) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "headers": headers, "method": "POST", **scope_extra}
    await BodySizeLimitMiddleware(_echo_app)(scope, receive, send)
    return sent


@pytest.fixture
def small_limit(settings):
    settings.WEBCAP_MAX_REQUEST_BYTES = 10


async def test_declared_length_over_the_limit_is_413_before_reading(small_limit):
    sent = await _call("/a2a/jsonrpc", [b"x" * 11], [(b"content-length", b"11")])
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["error"]["code"] == -32600
    assert body["error"]["message"] == "Request body exceeds the limit of 10 bytes"
    assert body["error"]["data"][0]["reason"] == "PAYLOAD_TOO_LARGE"


async def test_streamed_body_over_the_limit_is_cut_off(small_limit):
    sent = await _call("/other", [b"x" * 6, b"x" * 6], [])
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == 413


async def test_body_within_the_limit_passes(small_limit):
    sent = await _call("/a2a/jsonrpc", [b"12345", b"67890"], [(b"content-length", b"10")])
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"1234567890"


async def test_http2_body_without_a_length_is_counted(small_limit):
    # HTTP/2 has no Transfer-Encoding: a body of no declared length streams in DATA frames.
    sent = await _call("/other", [b"x" * 12], [], http_version="2")
    assert sent[0]["status"] == 413
