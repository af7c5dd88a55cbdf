"""Every response carries the security headers and a Content-Security-Policy; NUL is refused.

Before, the admin and the approvals page had no policy and ``/health/live`` (answered before
Django's SecurityMiddleware) had none of the headers.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from common.security import DATA_POLICY, PAGE_POLICY
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _check(response, policy: str) -> None:
    for name, value in HEADERS.items():
        assert response[name] == value, name
    assert response["Content-Security-Policy"] == policy


@pytest.mark.parametrize(
    "path",
    ["/", "/admin/login/", "/accounts/login/", "/api/docs/", "/api/redoc/", "/does-not-exist"],
)
def test_pages_carry_the_page_policy(path):
    _check(Client().get(path), PAGE_POLICY)


def test_the_approvals_page_and_the_admin_carry_it_signed_in():
    admin = make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = Client()
    client.force_login(admin)
    for path in ("/approvals/", "/admin/", "/admin/a2a/task/", "/admin/analytics/"):
        response = client.get(path)
        assert response.status_code == 200, path
        _check(response, PAGE_POLICY)


@pytest.mark.parametrize(
    "path",
    [
        "/health/live",
        "/health/ready",
        "/health",
        "/metrics",
        "/api/",
        "/api/schema/",
        "/api/keys/",
        "/.well-known/agent-card.json",
    ],
)
def test_everything_else_carries_the_data_policy(path):
    _check(Client().get(path), DATA_POLICY)


def test_a2a_answers_and_errors_carry_the_headers():
    key = make_key(make_user("ada"))
    response = Client().post(
        "/a2a/jsonrpc",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "x"}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
    )
    assert response.json()["error"]["code"] == -32001
    _check(response, DATA_POLICY)


@pytest.mark.parametrize(
    "url",
    ["/api/audit/?actor=a%00b", "/api/tasks/a%00b/shares/", "/a2a/rest/tasks?contextId=%00"],
)
def test_a_nul_in_the_url_is_a_400(url):
    key = make_key(make_user("ada"))
    response = Client().get(url, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    _check(response, DATA_POLICY)
