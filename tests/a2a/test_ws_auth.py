"""WebSocket sign-in: header, Sec-WebSocket-Protocol token, single-use ticket, never the URL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client, override_settings

from audit.models import AuditEvent
from config.asgi import application
from tests.factories import make_access_token, make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(
    path: str = "/ws/a2a",
    *,
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: list[str] | None = None,
) -> WebsocketCommunicator:
    sent = [(b"host", b"testserver"), (b"a2a-version", b"1.0"), *(headers or [])]
    return WebsocketCommunicator(application, path, headers=sent, subprotocols=subprotocols)


async def _list_tasks(ws: WebsocketCommunicator) -> dict[str, Any]:
    await ws.send_to(
        text_data=json.dumps({"jsonrpc": "2.0", "id": 7, "method": "ListTasks", "params": {}})
    )
    body: dict[str, Any] = json.loads(await ws.receive_from(timeout=5))
    return body


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


async def test_a_token_in_the_subprotocol_header_is_accepted_and_never_echoed():
    user = await sync_to_async(make_user)("ada")
    token = await sync_to_async(make_access_token)(user)
    ws = _communicator(subprotocols=["a2a.v1", f"bearer.{token}"])
    connected, chosen = await ws.connect()
    assert connected
    assert chosen == "a2a.v1"
    assert "result" in await _list_tasks(ws)
    await ws.disconnect()


async def test_an_api_key_in_the_subprotocol_header_works_too():
    key = await sync_to_async(make_key)(await sync_to_async(make_user)("ada"))
    ws = _communicator(subprotocols=["a2a.v1", f"bearer.{key}"])
    connected, chosen = await ws.connect()
    assert connected
    assert chosen == "a2a.v1"
    await ws.disconnect()


async def test_a_bad_subprotocol_token_is_refused():
    ws = _communicator(subprotocols=["a2a.v1", "bearer.a.b.c"])
    connected, code = await ws.connect()
    assert not connected
    assert code == 4401


def _ticket(key: str) -> dict[str, Any]:
    response = Client().post("/api/auth/ws-ticket/", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


async def test_a_ticket_opens_one_socket_once():
    user = await sync_to_async(make_user)("ada")
    key = await sync_to_async(make_key)(user)
    ticket = await sync_to_async(_ticket)(key)
    assert ticket["url"] == f"/ws/a2a?ticket={ticket['ticket']}"
    assert ticket["expiresIn"] == 30
    ws = _communicator(ticket["url"])
    connected, _ = await ws.connect()
    assert connected
    assert "result" in await _list_tasks(ws)
    await ws.disconnect()
    again = _communicator(ticket["url"])
    connected, code = await again.connect()
    assert not connected
    assert code == 4401
    assert (
        await sync_to_async(AuditEvent.objects.filter(action="auth.ws_ticket", actor=user).count)()
        == 1
    )


@override_settings(WEBCAP_WS_TICKET_SECONDS=1)
async def test_an_expired_ticket_is_refused():
    key = await sync_to_async(make_key)(await sync_to_async(make_user)("ada"))
    ticket = await sync_to_async(_ticket)(key)
    # LocMemCache honours the timeout: expire the entry as time passing would.
    await sync_to_async(cache.clear)()
    connected, code = await _communicator(ticket["url"]).connect()
    assert not connected
    assert code == 4401


async def test_a_ticket_of_a_key_revoked_since_is_refused():
    from accounts.models import ApiKey
    from accounts.services import api_key_revoke

    user = await sync_to_async(make_user)("ada")
    key = await sync_to_async(make_key)(user)
    ticket = await sync_to_async(_ticket)(key)
    api_key = await sync_to_async(ApiKey.objects.get)(user=user)
    await sync_to_async(api_key_revoke)(api_key=api_key)
    connected, _ = await _communicator(ticket["url"]).connect()
    assert not connected


async def test_a_long_lived_key_in_the_url_is_not_a_credential():
    key = await sync_to_async(make_key)(await sync_to_async(make_user)("ada"))
    for query in (f"ticket={key}", f"api_key={key}", f"token={key}"):
        connected, code = await _communicator(f"/ws/a2a?{query}").connect()
        assert not connected, query
        assert code == 4401


def test_ticket_endpoint_needs_a_caller():
    response = Client().post("/api/auth/ws-ticket/")
    assert response.status_code == 401
