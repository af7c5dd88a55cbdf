"""A lost database answers 503 with Retry-After on every interface, never a 500.

The database errors are raised where the first query of a request runs (the caller's API key
lookup, a DRF authentication, a page's selector); tests/topology/test_database_outage.py
stops a real PostgreSQL instead.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from a2a.views.sse import sse_response
from common.asgi import CLOSE_TRY_AGAIN_LATER, WebSocketDatabaseGuard
from common.database import (
    RETRY_AFTER_SECONDS,
    DatabaseUnavailableMiddleware,
    database_unavailable,
)
from config.asgi import application
from tests.a2a.conftest import sse_frames
from tests.factories import message_params

MESSAGE = f"The database is unavailable; retry in {RETRY_AFTER_SECONDS} s"
WAIT = str(RETRY_AFTER_SECONDS)
DOWN = OperationalError('connection failed: connection to server at "127.0.0.1" refused')


def _websocket(app: Any, key: str, **kwargs: Any) -> WebsocketCommunicator:
    headers = [(b"host", b"testserver"), (b"a2a-version", b"1.0")]
    headers.append((b"authorization", f"Bearer {key}".encode()))
    return WebsocketCommunicator(app, "/ws/a2a", headers=headers, **kwargs)


def _error_info(details: list[dict[str, Any]]) -> dict[str, Any]:
    (info,) = [d for d in details if d["@type"].endswith("ErrorInfo")]
    return info


def test_database_errors_become_the_unavailable_error(caplog):
    for exc in (DOWN, InterfaceError("connection already closed")):
        error = database_unavailable(exc)
        assert (error.code, error.http_status, error.grpc_status) == (-32603, 503, "UNAVAILABLE")
        assert error.message == MESSAGE
        assert error.metadata == {"retryAfter": WAIT, "dependency": "database"}
    assert [r.getMessage() for r in caplog.records] == [
        "Database unavailable: OperationalError: connection failed: connection to server at "
        '"127.0.0.1" refused',
        "Database unavailable: InterfaceError: connection already closed",
    ]


@pytest.mark.django_db
async def test_jsonrpc_answers_503_with_retry_after(rpc, api_key):
    with mock.patch("a2a.bindings.identify", side_effect=DOWN):
        response = await rpc("SendMessage", message_params(), key=api_key, request_id=7)
    assert response.status_code == 503
    assert response["Retry-After"] == WAIT
    body = response.json()
    assert body["id"] == 7
    assert (body["error"]["code"], body["error"]["message"]) == (-32603, MESSAGE)
    info = _error_info(body["error"]["data"])
    assert info["reason"] == "UNAVAILABLE"
    assert info["metadata"]["retryAfter"] == WAIT
    assert info["metadata"]["dependency"] == "database"


@pytest.mark.django_db
async def test_jsonrpc_legacy_stream_gets_the_error_as_an_event(rpc, api_key):
    with mock.patch("a2a.bindings.identify", side_effect=DOWN):
        response = await rpc("message/stream", message_params(), key=api_key, version=None)
    assert response.status_code == 200
    assert response["Retry-After"] == WAIT
    (frame,) = await sse_frames(response)
    assert frame["data"]["error"] == {
        "code": -32603,
        "message": MESSAGE,
        "data": {"retryAfter": WAIT, "dependency": "database"},
    }


@pytest.mark.django_db
async def test_rest_answers_503_with_retry_after(async_client, api_key):
    with mock.patch("a2a.bindings.identify", side_effect=InterfaceError("closed")):
        response = await async_client.get(
            "/a2a/rest/tasks", headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"}
        )
    assert response.status_code == 503
    assert response["Retry-After"] == WAIT
    error = response.json()["error"]
    assert (error["code"], error["status"], error["message"]) == (503, "UNAVAILABLE", MESSAGE)
    assert _error_info(error["details"])["metadata"]["retryAfter"] == WAIT


async def test_a_stream_that_loses_the_database_ends_with_the_error():
    class Events:
        def __aiter__(self) -> Events:
            return self

        async def __anext__(self) -> Any:
            raise DOWN

    class Stream:
        task_id = "t-1"

        def events(self) -> Events:
            return Events()

    response = sse_response(
        Stream(),  # type: ignore[arg-type]
        render=lambda payload: payload,
        render_error=lambda error: b"data: %s\n\n" % json.dumps(error.rest_error()).encode(),
    )
    (frame,) = await sse_frames(response)
    assert frame["data"]["error"]["code"] == 503
    assert frame["data"]["error"]["message"] == MESSAGE


@pytest.mark.django_db(transaction=True)
async def test_websocket_request_gets_an_error_frame(api_key):
    ws = _websocket(application, api_key)
    connected, _ = await ws.connect()
    assert connected
    with mock.patch("a2a.protocol.handlers.tasks_list_for_user", side_effect=DOWN):
        await ws.send_to(
            text_data=json.dumps({"jsonrpc": "2.0", "id": 3, "method": "ListTasks", "params": {}})
        )
        reply = json.loads(await ws.receive_from(timeout=5))
    assert reply["id"] == 3
    assert (reply["error"]["code"], reply["error"]["message"]) == (-32603, MESSAGE)
    assert _error_info(reply["error"]["data"])["metadata"]["retryAfter"] == WAIT
    await ws.disconnect()


@pytest.mark.django_db
def test_drf_api_answers_503_with_retry_after(client, api_key):
    with mock.patch("accounts.authentication.WebcapAuthentication.authenticate", side_effect=DOWN):
        response = client.get("/api/tool-calls/", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 503
    assert response["Retry-After"] == WAIT
    assert response.json() == {
        "detail": MESSAGE,
        "code": "UNAVAILABLE",
        "retryAfter": RETRY_AFTER_SECONDS,
    }


@pytest.mark.django_db
def test_a_page_answers_503_through_the_middleware(client, user):
    client.force_login(user)
    with mock.patch("tools.views.pending_approvals", side_effect=DOWN):
        response = client.get("/approvals/")
    assert response.status_code == 503
    assert response["Retry-After"] == WAIT
    assert response.json()["detail"] == MESSAGE


def test_the_middleware_leaves_other_errors_alone():
    middleware = DatabaseUnavailableMiddleware(lambda request: None)  # type: ignore[arg-type]
    request = RequestFactory().get("/")
    assert middleware.process_exception(request, ValueError("bug")) is None
    response = middleware.process_exception(request, DOWN)
    assert response is not None
    assert response.status_code == 503


@pytest.mark.django_db(transaction=True)
async def test_websocket_handshake_is_closed_with_try_again_later(api_key):
    guarded = WebSocketDatabaseGuard(application)
    ws = _websocket(guarded, api_key, subprotocols=["a2a.v1"])
    with mock.patch("accounts.middleware._identify", side_effect=DOWN):
        connected, subprotocol = await ws.connect()
        closed = await ws.receive_output(timeout=5)
    assert (connected, subprotocol) == (True, "a2a.v1")
    assert closed["type"] == "websocket.close"
    assert closed["code"] == CLOSE_TRY_AGAIN_LATER == 1013


@pytest.mark.django_db(transaction=True)
async def test_websocket_guard_passes_a_working_handshake(api_key):
    ws = _websocket(WebSocketDatabaseGuard(application), api_key)
    connected, _ = await ws.connect()
    assert connected
    await ws.send_to(
        text_data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}})
    )
    assert json.loads(await ws.receive_from(timeout=5))["result"]["tasks"] == []
    await ws.disconnect()
