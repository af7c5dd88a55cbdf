"""The client's pieces without a network: SSE parsing, interface choice, credentials."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from a2a.client import (
    HTTP_JSON,
    JSONRPC,
    Credentials,
    MalformedResponse,
    NoCompatibleInterface,
    card_parse,
    card_url,
    interface_select,
)
from a2a.client.sse import SSEEvent, sse_events
from a2a.protocol.types import AgentCard


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _events(*parts: bytes, limit: int = 1000) -> list[SSEEvent]:
    return [e async for e in sse_events(_chunks(*parts), max_event_bytes=limit, where="here")]


async def test_sse_line_endings_comments_ids_and_split_chunks():
    events = await _events(
        b": keepalive\n\nid: 1\r\ndata: a\r\ndata: b\r\n\r",
        b"\nevent: error\rdata: c\r\rdata: d\n",
        b"\n",
    )
    assert events == [
        SSEEvent(event="message", data="a\nb", id="1"),
        SSEEvent(event="error", data="c", id="1"),  # the last id carries over
        SSEEvent(event="message", data="d", id="1"),
    ]


async def test_sse_event_over_the_bound_is_malformed():
    with pytest.raises(MalformedResponse, match="an SSE event is over 10 bytes"):
        await _events(b"data: " + b"x" * 20, limit=10)
    with pytest.raises(MalformedResponse, match="not UTF-8"):
        await _events(b"data: \xff\n\n")


def _card(*interfaces: tuple[str, str, str]) -> AgentCard:
    return AgentCard.model_validate(
        {
            "name": "agent",
            "description": "d",
            "version": "1",
            "capabilities": {},
            "supportedInterfaces": [
                {"url": url, "protocolBinding": binding, "protocolVersion": version}
                for url, binding, version in interfaces
            ],
            "defaultInputModes": [],
            "defaultOutputModes": [],
            "skills": [],
        }
    )


def test_interface_choice_follows_the_preference_then_the_card():
    card = _card(
        ("http://a.io/old", JSONRPC, "0.3"),
        ("http://a.io/rest", HTTP_JSON, "1.0.1"),
        ("http://a.io/rpc", JSONRPC, "1.0"),
        ("http://a.io/rpc2", JSONRPC, "1.0"),
    )
    assert interface_select(card).url == "http://a.io/rpc"
    assert interface_select(card, [(HTTP_JSON, "1.0"), (JSONRPC, "1.0")]).url == "http://a.io/rest"
    old_only = _card(("http://a.io/old", JSONRPC, "0.3.0"))
    assert interface_select(old_only).url == "http://a.io/old"
    with pytest.raises(NoCompatibleInterface, match=r"offers JSONRPC 0\.3\.0; this client uses"):
        interface_select(old_only, [(JSONRPC, "1.0")])
    with pytest.raises(ValueError, match="does not speak"):
        interface_select(card, [("GRPC", "1.0")])


def test_card_url_and_credentials_repr():
    assert card_url("https://a.io/") == "https://a.io/.well-known/agent-card.json"
    assert card_url("https://a.io/cards/x.json") == "https://a.io/cards/x.json"
    assert repr(Credentials.bearer("s3cret")) == "Credentials(header='Authorization', value='***')"
    with pytest.raises(ValueError, match="header Authorization value contains CR") as bad:
        Credentials.bearer("s3cret\r\nX-Evil: 1")
    assert "s3cret" not in str(bad.value)
    with pytest.raises(ValueError, match="non-empty ASCII"):
        Credentials.api_key("clé")


def test_a_0_3_card_is_read_as_its_interfaces():
    card = card_parse(
        {
            "name": "old agent",
            "description": "d",
            "version": "1",
            "protocolVersion": "0.3.0",
            "url": "https://old.io/rpc",
            "preferredTransport": "JSONRPC",
            "additionalInterfaces": [
                {"url": "https://old.io/rpc", "transport": "JSONRPC"},
                {"url": "https://old.io/grpc", "transport": "GRPC"},
            ],
            "capabilities": {"streaming": True},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [],
        },
        where="here",
    )
    assert [(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces] == [
        ("https://old.io/rpc", JSONRPC, "0.3.0"),
        ("https://old.io/grpc", "GRPC", "0.3.0"),
    ]
    assert interface_select(card).url == "https://old.io/rpc"
