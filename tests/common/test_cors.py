"""CORS: allowed origins may call the API from a browser; others get no CORS headers."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

ALLOWED = "https://app.example.com"


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
def test_an_allowed_origin_gets_a_preflight_answer():
    response = Client().options(
        "/a2a/jsonrpc",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, a2a-version",
        },
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    allowed_headers = response["Access-Control-Allow-Headers"]
    assert "authorization" in allowed_headers
    assert "a2a-version" in allowed_headers


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
def test_another_origin_gets_no_cors_headers():
    response = Client().options(
        "/api/keys/",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "Access-Control-Allow-Origin" not in response


@override_settings(CORS_ALLOWED_ORIGINS=[ALLOWED])
def test_the_request_id_and_retry_after_are_exposed_to_allowed_origins():
    response = Client().get("/api/keys/", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == ALLOWED
    assert "x-request-id" in response["Access-Control-Expose-Headers"]
