"""Sign-in tokens: /api/auth/token/, refresh with rotation, logout, and every bad token refused.

Tokens are used on the A2A JSON-RPC and REST bindings and the management API exactly like
API keys; a refused token is a 401 with a challenge and changes nothing.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from a2a.models import Task
from audit.models import AuditEvent
from tests.factories import make_access_token, make_password_user, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(
        path, data=json.dumps(body), content_type="application/json", headers=headers
    )


def _list_tasks(client: Client, token: str) -> Any:
    return client.post(
        "/a2a/jsonrpc",
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
    )


def _sign_in(client: Client, username: str = "ada") -> dict[str, str]:
    response = _post(client, "/api/auth/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    body: dict[str, str] = response.json()
    return body


def test_sign_in_returns_tokens_with_pinned_claims():
    user = make_password_user("ada", PASSWORD)
    body = _sign_in(Client())
    claims = jwt.decode(
        body["access"],
        settings.JWT_SIGNING_KEY,
        algorithms=["HS256"],
        audience=settings.JWT_AUDIENCE,
        issuer=settings.JWT_ISSUER,
    )
    assert claims["user_id"] == str(user.pk) or claims["user_id"] == user.pk
    assert claims["token_type"] == "access"
    assert claims["exp"] - claims["iat"] == settings.JWT_ACCESS_MINUTES * 60
    event = AuditEvent.objects.get(action="auth.login")
    assert (event.actor, event.outcome, event.auth_method) == (user, "success", "jwt")


def test_access_token_works_on_jsonrpc_rest_and_the_management_api():
    make_password_user("ada", PASSWORD)
    client = Client()
    access = _sign_in(client)["access"]
    assert _list_tasks(client, access).json()["result"]["tasks"] == []
    rest = client.get(
        "/a2a/rest/tasks", headers={"Authorization": f"Bearer {access}", "A2A-Version": "1.0"}
    )
    assert rest.status_code == 200, rest.content
    keys = client.get("/api/keys/", headers={"Authorization": f"Bearer {access}"})
    assert keys.status_code == 200


def test_wrong_password_is_a_401_with_an_audit_row():
    user = make_password_user("ada", PASSWORD)
    response = _post(Client(), "/api/auth/token/", {"username": "ada", "password": "nope"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    event = AuditEvent.objects.get(action="auth.failure")
    assert (event.actor, event.outcome, event.auth_method) == (user, "failure", "password")
    assert event.extra["username"] == "ada"
    assert "nope" not in json.dumps(event.extra)


def test_sign_in_with_a_malformed_body_is_a_400():
    response = _post(Client(), "/api/auth/token/", {"user": "ada"})
    assert response.status_code == 400
    assert "username" in response.json()


def test_refresh_rotates_and_blacklists_the_old_refresh_token():
    user = make_password_user("ada", PASSWORD)
    client = Client()
    first = _sign_in(client)
    response = _post(client, "/api/auth/token/refresh/", {"refresh": first["refresh"]})
    assert response.status_code == 200
    second = response.json()
    assert second["refresh"] != first["refresh"]
    assert _list_tasks(client, second["access"]).status_code == 200
    # The old refresh token was blacklisted by the rotation.
    again = _post(client, "/api/auth/refresh/", {"refresh": first["refresh"]})
    assert again.status_code == 401
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "outcome"))
    assert ("auth.refresh", "success") in actions
    assert actions[-1] == ("auth.failure", "failure")
    assert AuditEvent.objects.filter(action="auth.refresh", actor=user).count() == 1


def test_logout_revokes_the_refresh_token():
    user = make_password_user("ada", PASSWORD)
    client = Client()
    tokens = _sign_in(client)
    response = _post(client, "/api/auth/logout/", {"refresh": tokens["refresh"]})
    assert response.status_code == 204
    refused = _post(client, "/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    assert refused.status_code == 401
    assert AuditEvent.objects.filter(action="auth.logout", actor=user).count() == 1
    assert _post(client, "/api/auth/logout/", {"refresh": "garbage"}).status_code == 401


def _forge(claims: dict[str, Any], *, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.JWT_SIGNING_KEY, algorithm=algorithm)


def _claims(user: Any, **changes: Any) -> dict[str, Any]:
    token = AccessToken.for_user(user)
    claims = dict(token.payload)
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _alg_none(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _tampered(user: Any, victim: Any) -> str:
    header, _, signature = make_access_token(user).split(".")
    claims = _claims(user, user_id=victim.pk)
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


BAD_TOKENS = {
    "expired": lambda u, v: _forge(_claims(u, exp=1_600_000_000, iat=1_599_999_000)),
    "wrong audience": lambda u, v: _forge(_claims(u, aud="someone-else")),
    "no audience": lambda u, v: _forge({k: x for k, x in _claims(u).items() if k != "aud"}),
    "wrong issuer": lambda u, v: _forge(_claims(u, iss="https://evil.example")),
    "alg none": lambda u, v: _alg_none(_claims(u)),
    "other algorithm": lambda u, v: _forge(_claims(u), algorithm="HS512"),
    "wrong key": lambda u, v: _forge(_claims(u), key="not-the-signing-key-" * 3),
    "tampered": _tampered,
    "refresh as access": lambda u, v: str(RefreshToken.for_user(u)),
    "garbage": lambda u, v: "a.b.c",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
def test_bad_tokens_are_refused_everywhere_and_change_nothing(kind):
    user = make_user("ada")
    victim = make_user("victim")
    token = BAD_TOKENS[kind](user, victim)
    client = Client()
    before = Task.objects.count()
    response = client.post(
        "/a2a/jsonrpc",
        data=json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "SendMessage",
                "params": {
                    "message": {
                        "messageId": "m1",
                        "role": "ROLE_USER",
                        "parts": [{"text": "hello"}],
                    }
                },
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"},
    )
    assert response.status_code == 401, (kind, response.content)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == -32000
    assert client.get("/api/keys/", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    rest = client.get(
        "/a2a/rest/tasks", headers={"Authorization": f"Bearer {token}", "A2A-Version": "1.0"}
    )
    assert rest.status_code == 401
    assert Task.objects.count() == before
    assert AuditEvent.objects.filter(action="auth.failure", outcome="failure").exists()


def test_an_inactive_users_token_is_refused():
    user = make_user("ada")
    token = make_access_token(user)
    user.is_active = False
    user.save()
    assert _list_tasks(Client(), token).status_code == 401


def test_token_lifetime_is_short():
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    assert isinstance(lifetime, timedelta)
    assert lifetime <= timedelta(minutes=15)
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"
