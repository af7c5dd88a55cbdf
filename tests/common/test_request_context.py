"""Request ids and client addresses: echoed, generated, and not spoofable through headers."""

from __future__ import annotations

import re

import pytest
from channels.testing import HttpCommunicator
from django.test import Client, override_settings

from common.request_context import client_ip_from, request_id_from
from config.asgi import application
from tests.a2a.test_asgi import _fast

pytestmark = pytest.mark.django_db


def test_a_sane_request_id_is_echoed_and_a_missing_one_generated():
    client = Client()
    response = client.get("/.well-known/agent-card.json", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"
    generated = client.get("/.well-known/agent-card.json")["X-Request-ID"]
    assert len(generated) == 32
    assert generated != client.get("/.well-known/agent-card.json")["X-Request-ID"]


@pytest.mark.parametrize("value", ["", "a b", "x" * 129, "line\nbreak", "<script>"])
def test_an_unsafe_request_id_is_replaced(value):
    assert request_id_from(value) != value


@override_settings(NUM_PROXIES=0)
def test_without_proxies_x_forwarded_for_is_ignored():
    assert client_ip_from(peer="10.0.0.7", forwarded_for="1.2.3.4") == "10.0.0.7"


@override_settings(NUM_PROXIES=1)
def test_with_one_proxy_the_rightmost_address_counts():
    # The client prepended a fake address; our proxy appended the real one.
    assert client_ip_from(peer="10.0.0.1", forwarded_for="1.2.3.4, 203.0.113.9") == "203.0.113.9"
    assert client_ip_from(peer="10.0.0.1", forwarded_for="203.0.113.9") == "203.0.113.9"


@override_settings(NUM_PROXIES=2)
def test_with_two_proxies_the_second_from_the_right_counts():
    chain = "6.6.6.6, 203.0.113.9, 10.0.0.2"
    assert client_ip_from(peer="10.0.0.1", forwarded_for=chain) == "203.0.113.9"
    # Fewer entries than proxies: the leftmost there is (no index error).
    assert client_ip_from(peer="10.0.0.1", forwarded_for="203.0.113.9") == "203.0.113.9"


@override_settings(NUM_PROXIES=1)
def test_garbage_in_x_forwarded_for_falls_back_to_the_peer():
    assert client_ip_from(peer="10.0.0.1", forwarded_for="not-an-ip") == "10.0.0.1"
    assert client_ip_from(peer="10.0.0.1", forwarded_for=" , ") == "10.0.0.1"


# --- Every response echoes it, whichever part of the stack answers ----------------------------

# (method, path, body, needs a key, status): one request of each family, through
# config.asgi.application as daphne sends it (the A2A fast path, the probe middleware, the
# static files, Django's handler).
FAMILIES = [
    ("GET", "/health/live", b"", False, 200),
    ("HEAD", "/health/live", b"", False, 200),
    ("GET", "/health/ready", b"", False, 200),
    ("GET", "/health", b"", False, 200),
    ("GET", "/metrics", b"", False, 200),
    (
        "POST",
        "/a2a/jsonrpc",
        b'{"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}',
        True,
        200,
    ),
    ("POST", "/a2a/jsonrpc", b"{not json", True, 200),
    ("GET", "/a2a/rest/tasks", b"", True, 200),
    ("GET", "/a2a/rest/tasks", b"", False, 401),
    ("GET", "/.well-known/agent-card.json", b"", False, 200),
    ("GET", "/admin/login/", b"", False, 200),
    ("GET", "/api/keys/", b"", True, 200),
    ("GET", "/api/keys/", b"", False, 401),
    ("GET", "/static/admin/css/base.css", b"", False, 200),
    ("GET", "/", b"", False, 200),
    ("GET", "/api/", b"", False, 200),
    ("GET", "/api/docs/", b"", False, 200),
    ("GET", "/no/such/page", b"", False, 404),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "body", "keyed", "status"), FAMILIES)
async def test_every_path_family_echoes_a_sane_request_id(
    method, path, body, keyed, status, api_key
):
    headers = {"X-Request-ID": "family-1", "A2A-Version": "1.0"}
    if keyed:
        headers["Authorization"] = f"Bearer {api_key}"
    if body:
        headers["Content-Type"] = "application/json"
    response = await _fast(method, path, body=body, headers=headers)
    assert response["status"] == status
    assert response["headers"]["x-request-id"] == "family-1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "body", "keyed", "status"), FAMILIES)
async def test_every_path_family_generates_an_id_for_a_missing_or_unsafe_one(
    method, path, body, keyed, status, api_key
):
    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {api_key}"} if keyed else {}
    if body:
        headers["Content-Type"] = "application/json"
    for sent in ({}, {"X-Request-ID": "bad id\nforged=1"}):
        response = await _fast(method, path, body=body, headers={**headers, **sent})
        assert response["status"] == status
        assert re.fullmatch(r"[0-9a-f]{32}", response["headers"]["x-request-id"])


async def test_a_probe_from_a_pod_address_echoes_it():
    # The probe middleware answers before host validation: a Host that ALLOWED_HOSTS does not
    # list still gets its id back.
    communicator = HttpCommunicator(
        application,
        "GET",
        "/health/live",
        headers=[(b"host", b"10.1.2.3:8000"), (b"x-request-id", b"kubelet-7")],
    )
    response = await communicator.get_response(timeout=10)
    await communicator.wait(timeout=10)
    assert response["status"] == 200
    headers = {name.lower(): value for name, value in response["headers"]}
    assert headers[b"x-request-id"] == b"kubelet-7"


def test_probes_echo_it_in_a_synchronous_stack_too():
    # The test client runs the middleware synchronously (WSGI), the probe through async_to_sync.
    client = Client()
    for path in ("/health/live", "/health/ready"):
        response = client.get(path, headers={"X-Request-ID": "sync-probe"})
        assert response.status_code == 200
        assert response["X-Request-ID"] == "sync-probe"


async def test_a_body_refused_before_django_echoes_it(settings):
    settings.WEBCAP_MAX_REQUEST_BYTES = 10
    response = await _fast(
        "POST", "/a2a/jsonrpc", body=b"x" * 11, headers={"X-Request-ID": "too-big-1"}
    )
    assert response["status"] == 413
    assert response["headers"]["x-request-id"] == "too-big-1"
    generated = await _fast("POST", "/api/keys/", body=b"x" * 11)
    assert generated["status"] == 413
    assert re.fullmatch(r"[0-9a-f]{32}", generated["headers"]["x-request-id"])
