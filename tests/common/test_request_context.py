"""Request ids and client addresses: echoed, generated, and not spoofable through headers."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from common.request_context import client_ip_from, request_id_from

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
