"""The A2A fast path (a2a/asgi.py): the same answers as Django's handler, without its hops.

Each request here goes through ``config.asgi.application`` itself, as daphne sends it, and
is compared with what Django's own handler (the test client) answers for the same request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import HttpCommunicator
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client import REGISTRY

from a2a.asgi import CARD_ANSWERS, A2AFastPath
from a2a.services.shares import task_share_set
from accounts.services import user_ensure
from config.asgi import application, django_asgi_app
from tests.factories import make_key, message_params, send

pytestmark = pytest.mark.django_db(transaction=True)

# Django's handler and daphne add these themselves; the rest must be the same.
VARYING = {"x-request-id", "date", "server"}


async def _fast(
    method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    sent = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    sent.append((b"host", b"testserver"))
    communicator = HttpCommunicator(application, method, path, body=body, headers=sent)
    response = await communicator.get_response(timeout=10)
    # The client leaves, as a real one does, and the app finishes.
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)
    response["headers"] = {k.decode().lower(): v.decode() for k, v in response["headers"]}
    return dict(response)


def _rpc(method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def _rpc_headers(key: str, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "A2A-Version": "1.0",
        "Authorization": f"Bearer {key}",
        **extra,
    }


async def test_the_card_is_answered_with_the_same_headers_and_body_as_django(async_client):
    fast = await _fast("GET", "/.well-known/agent-card.json")
    django = await async_client.get("/.well-known/agent-card.json")
    assert fast["status"] == django.status_code == 200
    assert fast["body"] == django.content
    assert set(fast["headers"]) - VARYING == {k.lower() for k in django.headers} - VARYING
    for name in ("x-content-type-options", "referrer-policy", "x-frame-options", "etag"):
        assert fast["headers"][name] == django.headers[name]


async def test_a_learned_card_answer_is_replayed_whole(caplog):
    CARD_ANSWERS.forget()
    caplog.set_level("INFO", logger="django_structlog.middlewares.request")
    first = await _fast("GET", "/.well-known/agent-card.json", headers={"X-Request-ID": "r-1"})
    assert len(CARD_ANSWERS.answers) == 1
    again = await _fast("GET", "/.well-known/agent-card.json", headers={"X-Request-ID": "r-2"})
    assert again["status"] == first["status"] == 200
    assert again["body"] == first["body"]
    assert {k: v for k, v in again["headers"].items() if k not in VARYING} == {
        k: v for k, v in first["headers"].items() if k not in VARYING
    }
    assert again["headers"]["x-request-id"] == "r-2"
    assert int(again["headers"]["content-length"]) == len(again["body"])
    # The replayed answer has the same request log line as the full path's.
    lines = {
        r.msg["request_id"]: r.msg
        for r in caplog.records
        if r.name == "django_structlog.middlewares.request"
    }
    assert set(lines["r-2"]) == set(lines["r-1"])
    for field in ("event", "code", "request", "level"):
        assert lines["r-2"][field] == lines["r-1"][field]


async def test_requests_that_may_differ_take_the_full_path():
    CARD_ANSWERS.forget()
    first = await _fast("GET", "/.well-known/agent-card.json")
    etag = first["headers"]["etag"]
    # A conditional request: 304 from the card view, never the kept 200.
    revalidated = await _fast(
        "GET", "/.well-known/agent-card.json", headers={"If-None-Match": etag}
    )
    assert revalidated["status"] == 304
    assert revalidated["body"] == b""
    # HEAD is answered by Django, which sends no body.
    head = await _fast("HEAD", "/.well-known/agent-card.json")
    assert head["status"] == 200
    # Another Host is another key: a host not allowed is still refused.
    communicator = HttpCommunicator(
        application, "GET", "/.well-known/agent-card.json", headers=[(b"host", b"evil.example")]
    )
    refused = await communicator.get_response(timeout=10)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)
    assert refused["status"] == 400
    assert len(CARD_ANSWERS.answers) == 1


async def test_a_changed_setting_forgets_the_learned_card(settings):
    CARD_ANSWERS.forget()
    await _fast("GET", "/.well-known/agent-card.json")
    settings.WEBCAP_AGENT_NAME = "renamed"
    assert CARD_ANSWERS.answers == {}
    card = json.loads((await _fast("GET", "/.well-known/agent-card.json"))["body"])
    assert card["name"] == "renamed"


async def test_get_task_over_the_fast_path_echoes_the_request_id(user, api_key):
    task_id = str((await _sync_send(user)).task_id)
    response = await _fast(
        "POST",
        "/a2a/jsonrpc",
        body=_rpc("GetTask", {"id": task_id}),
        headers=_rpc_headers(api_key, **{"X-Request-ID": "fast-path-1"}),
    )
    assert response["status"] == 200
    assert response["headers"]["x-request-id"] == "fast-path-1"
    assert response["headers"]["x-content-type-options"] == "nosniff"
    assert json.loads(response["body"])["result"]["id"] == task_id


async def test_rest_send_and_errors_keep_their_shapes(user, api_key, other_api_key):
    sent = await _fast(
        "POST",
        "/a2a/rest/message:send",
        body=json.dumps(
            {**message_params(), "configuration": {"returnImmediately": True}}
        ).encode(),
        headers=_rpc_headers(api_key),
    )
    assert sent["status"] == 200
    task_id = json.loads(sent["body"])["task"]["id"]
    # Another user's task looks exactly like a missing one.
    foreign = await _fast("GET", f"/a2a/rest/tasks/{task_id}", headers=_rpc_headers(other_api_key))
    assert foreign["status"] == 404
    assert json.loads(foreign["body"])["error"]["status"] == "NOT_FOUND"
    anonymous = await _fast("GET", f"/a2a/rest/tasks/{task_id}", headers={"A2A-Version": "1.0"})
    assert anonymous["status"] == 401
    assert anonymous["headers"]["www-authenticate"] == 'Bearer realm="webcap"'


async def test_a_host_not_allowed_is_400_as_in_django():
    communicator = HttpCommunicator(
        application,
        "GET",
        "/.well-known/agent-card.json",
        headers=[(b"host", b"evil.example")],
    )
    response = await communicator.get_response(timeout=10)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)
    assert response["status"] == 400


async def test_cors_preflight_and_headers(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]
    preflight = await _fast(
        "OPTIONS",
        "/a2a/jsonrpc",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight["status"] == 200
    assert preflight["headers"]["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in preflight["headers"]["access-control-allow-headers"]


async def test_requests_are_counted_by_django_prometheus_per_view():
    def count() -> float:
        value = REGISTRY.get_sample_value(
            "django_http_requests_total_by_view_transport_method_total",
            {"view": "agent-card", "transport": "http", "method": "GET"},
        )
        return value or 0.0

    before = count()
    await _fast("GET", "/.well-known/agent-card.json")
    assert count() == before + 1
    # A replayed answer (a2a/asgi.py CardAnswers) is counted the same way.
    await _fast("GET", "/.well-known/agent-card.json")
    assert count() == before + 2


async def test_other_paths_go_to_django(async_client):
    response = await _fast("GET", "/health/live")
    assert response["status"] == 200
    assert json.loads(response["body"]) == {"status": "ok"}


def test_an_unknown_middleware_refuses_to_start(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.a2a.test_asgi.UnknownMiddleware"]
    with pytest.raises(ImproperlyConfigured, match="UnknownMiddleware"):
        A2AFastPath(django_asgi_app)


class UnknownMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response


async def _sync_send(user: Any) -> Any:
    from asgiref.sync import sync_to_async

    return await sync_to_async(send)(user)


# --- Queries per operation ---------------------------------------------------------------------
# In the test's own transaction: the jobs a send queues wait for a commit that never comes,
# so only the request's queries are counted.


def _count(client: Any, key: str, method: str, params: Callable[[], dict[str, Any]]) -> int:
    """Queries an operation runs once the caller's key is cached (one warm-up call first)."""

    def call() -> Any:
        return client.post(
            "/a2a/jsonrpc",
            _rpc(method, params()),
            content_type="application/json",
            headers=_rpc_headers(key),
        )

    call()
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200
    assert "error" not in response.json(), response.json()
    return len(queries)


# The most each operation may run; lower them when an operation gets cheaper, never raise them
# without a reason in the commit.
# CancelTask: 9, and one for the cancel hooks (remote_agents: the live delegations to end).
MAX_QUERIES = {"GetTask": 1, "ListTasks": 2, "SendMessage": 12, "CancelTask": 10}


@pytest.mark.django_db
def test_get_task_reads_only_the_task_once_the_key_is_cached(client, user, api_key):
    task_id = str(send(user).task_id)
    # The task row, joined with its context and status message: it carries its history and
    # artifacts in wire form (Task.wire_history, wire_artifacts).
    assert _count(client, api_key, "GetTask", lambda: {"id": task_id}) == MAX_QUERIES["GetTask"]


@pytest.mark.django_db
def test_get_task_of_a_shared_reader_asks_once_more(client, user, other_user, other_api_key):
    task_id = str(send(user).task_id)
    task_share_set(user=user, task_id=task_id, username=other_user.username, permission="view")
    # The task row, then whether it is shared with the reader: only someone who neither owns
    # the task nor sees every task (admins, operators) pays for that second query.
    count = _count(client, other_api_key, "GetTask", lambda: {"id": task_id})
    assert count == MAX_QUERIES["GetTask"] + 1


@pytest.mark.django_db
def test_get_task_of_an_admin_reads_only_the_task(client, user):
    task_id = str(send(user).task_id)
    admin_key = make_key(user_ensure(username="ada", role="admin"))
    # The admin's roles come with the cached credential: no shares to look up.
    count = _count(client, admin_key, "GetTask", lambda: {"id": task_id})
    assert count == MAX_QUERIES["GetTask"]


@pytest.mark.django_db
def test_list_tasks_queries(client, user, api_key):
    send(user)
    send(user)
    # The count, the page (each task's history and artifacts come with its row).
    assert _count(client, api_key, "ListTasks", dict) == MAX_QUERIES["ListTasks"]


@pytest.mark.django_db
def test_send_message_queries(client, user, api_key):
    count = _count(
        client,
        api_key,
        "SendMessage",
        lambda: message_params(configuration={"returnImmediately": True}),
    )
    # A retry's look-up (owner + messageId), context, task, owner permissions (2), audit,
    # message, first event, task seq, in one transaction (BEGIN, COMMIT); then the answer's
    # task row (with its history and artifacts). PostgreSQL also takes the retry's advisory
    # lock (SQLite's write transaction already serialises two sends).
    advisory_lock = 1 if connection.vendor == "postgresql" else 0
    assert count == MAX_QUERIES["SendMessage"] + advisory_lock


@pytest.mark.django_db
def test_cancel_task_queries(client, user, api_key):
    tasks = iter([str(send(user).task_id) for _ in range(2)])
    count = _count(client, api_key, "CancelTask", lambda: {"id": next(tasks)})
    assert count == MAX_QUERIES["CancelTask"]
