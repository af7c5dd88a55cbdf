"""The dispatcher lets only A2A errors out: a lost database is 503, a bug a logged -32603.

Every binding renders what it gets in its own format; these tests raise the failures inside
the ListTasks handler (its selector) and read each binding's answer, the log and the metric.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.db import OperationalError

from a2a.protocol.dispatcher import a2a_errors, stream_events
from a2a.protocol.errors import InternalError, ServiceUnavailableError, TaskNotFoundError
from config.asgi import application
from tests.a2a.test_capnweb_service import call, error, signed_in
from tests.a2a.test_metrics import delta, scrape

BUG = RuntimeError("password=hunter2")
DOWN = OperationalError("connection refused")
SELECTOR = "a2a.protocol.handlers.tasks_list_for_user"


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]


def test_a2a_errors_pass_as_they_are():
    with pytest.raises(TaskNotFoundError), a2a_errors("Reading"):
        raise TaskNotFoundError()


def test_a_lost_database_is_the_unavailable_error_without_a_traceback(caplog):
    with pytest.raises(ServiceUnavailableError) as raised, a2a_errors("Reading"):
        raise DOWN
    assert raised.value.__cause__ is DOWN
    assert _tracebacks(caplog) == []


def test_a_bug_is_an_internal_error_and_its_traceback_is_logged_once(caplog):
    with pytest.raises(InternalError) as raised, a2a_errors("Reading task %s", "t-1"):
        raise BUG
    assert raised.value.message == "Internal error"
    (record,) = _tracebacks(caplog)
    assert (record.name, record.getMessage()) == (
        "a2a.protocol.dispatcher",
        "Reading task t-1 failed",
    )


async def test_a_stream_that_fails_while_read_raises_the_a2a_error(caplog):
    class Stream:
        task_id = "t-1"

        async def events(self) -> Any:
            yield None
            raise BUG

    items = stream_events(Stream())  # type: ignore[arg-type]
    assert await anext(items) is None
    with pytest.raises(InternalError):
        await anext(items)
    (record,) = _tracebacks(caplog)
    assert record.getMessage() == "Stream of task t-1 failed"


@pytest.mark.django_db(transaction=True)
async def test_jsonrpc_answers_a_bug_with_internal_error_logged_and_counted_once(
    async_client, rpc, api_key, caplog
):
    _, before = await scrape(async_client)
    with mock.patch(SELECTOR, side_effect=BUG):
        response = await rpc("ListTasks", {}, key=api_key, request_id=9)
    _, after = await scrape(async_client)
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["error"]["code"], body["error"]["message"]) == (
        9,
        -32603,
        "Internal error",
    )
    assert "hunter2" not in response.content.decode()
    (record,) = _tracebacks(caplog)
    assert record.getMessage() == "JSON-RPC method ListTasks failed"
    requests = "webcap_a2a_requests_total"
    labels = {"method": "ListTasks", "binding": "jsonrpc", "code": "-32603"}
    assert delta(before, after, requests, **labels) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "status", "message"),
    [
        (BUG, 500, "Internal error"),
        (DOWN, 503, "The database is unavailable; retry in 5 s"),
    ],
)
async def test_rest_renders_what_the_dispatcher_raised(
    async_client, api_key, failure, status, message
):
    with mock.patch(SELECTOR, side_effect=failure):
        response = await async_client.get(
            "/a2a/rest/tasks", headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"}
        )
    assert response.status_code == status
    assert response.json()["error"]["message"] == message


@pytest.mark.django_db(transaction=True)
async def test_websocket_answers_a_bug_with_an_internal_error_frame(api_key, caplog):
    headers = [(b"host", b"testserver"), (b"a2a-version", b"1.0")]
    headers.append((b"authorization", f"Bearer {api_key}".encode()))
    ws = WebsocketCommunicator(application, "/ws/a2a", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    with mock.patch(SELECTOR, side_effect=BUG):
        await ws.send_to(
            text_data=json.dumps({"jsonrpc": "2.0", "id": 4, "method": "ListTasks", "params": {}})
        )
        reply = json.loads(await ws.receive_from(timeout=5))
    await ws.disconnect()
    assert (reply["id"], reply["error"]["code"]) == (4, -32603)
    (record,) = _tracebacks(caplog)
    assert record.getMessage() == "WebSocket method ListTasks failed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (BUG, "Internal error"),
        (DOWN, "The database is unavailable; retry in 5 s"),
    ],
)
async def test_capnweb_operations_outside_the_dispatcher_fail_the_same_way(
    api_key, failure, message
):
    peer = await signed_in(api_key)
    with mock.patch("a2a.capnweb.service.tools_available", side_effect=failure):
        await peer.feed(call(1, "listTools"))
        assert await error(peer, 2) == (message, -32603)
