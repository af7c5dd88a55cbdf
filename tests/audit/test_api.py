"""``/api/audit/``: who may read the audit log, its filters and its cursor pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import api_key_create
from audit.models import AuditEvent
from audit.services import audit_record
from common.request_context import RequestInfo, bound

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.audit.urls")]

URL = "/api/audit/"


def _key_client(user: User, scopes: list[str] | None = None) -> Client:
    _, key = api_key_create(user=user, name="audit", scopes=scopes or [])
    return Client(headers={"Authorization": f"Bearer {key}"})


def _session_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def event(user):
    with bound(RequestInfo(request_id="req-1", client_ip="198.51.100.7")):
        return audit_record(
            action="task.create",
            actor=user,
            auth_method="api_key",
            target_type="a2a.task",
            target_id="t-1",
            extra={"state": "submitted"},
        )


def test_anonymous_gets_401_with_a_challenge(event):
    for path in (URL, f"{URL}{event.pk}/"):
        response = Client().get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Bearer realm="webcap"'


def test_a_wrong_credential_gets_401(event):
    response = Client(headers={"Authorization": "Bearer wcp_not-a-key"}).get(URL)
    assert response.status_code == 401


@pytest.mark.parametrize("role", [None, "viewer", "user", "approver"])
@pytest.mark.parametrize("auth", ["key", "session"])
def test_other_roles_get_403(event, role, auth):
    from accounts.services import user_ensure

    person = user_ensure(username="someone", role=role)
    client = _key_client(person) if auth == "key" else _session_client(person)
    for path in (URL, f"{URL}{event.pk}/"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json() == {"detail": "Only admins and operators may read the audit log."}


@pytest.mark.parametrize("who", ["operator", "admin_role", "superuser"])
@pytest.mark.parametrize("auth", ["key", "scoped_key", "session"])
def test_admins_and_operators_read_it(request, event, who, auth):
    person = request.getfixturevalue(who)
    client = {
        "key": lambda: _key_client(person),
        "scoped_key": lambda: _key_client(person, ["audit:read"]),
        "session": lambda: _session_client(person),
    }[auth]()
    listing = client.get(URL, {"action": "task.create"})
    assert listing.status_code == 200
    assert [row["id"] for row in listing.json()["results"]] == [event.pk]
    detail = client.get(f"{URL}{event.pk}/")
    assert detail.status_code == 200
    assert detail.json() == {
        "id": event.pk,
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "action": "task.create",
        "outcome": "success",
        "actor": "alice",
        "actor_id": event.actor_id,
        "auth_method": "api_key",
        "target_type": "a2a.task",
        "target_id": "t-1",
        "request_id": "req-1",
        "client_ip": "198.51.100.7",
        "extra": {"state": "submitted"},
    }


@pytest.mark.parametrize("who", ["operator", "admin_role"])
def test_an_api_key_without_the_audit_scope_gets_403(request, event, who):
    client = _key_client(request.getfixturevalue(who), ["tasks:read", "tasks:write"])
    for path in (URL, f"{URL}{event.pk}/"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json() == {"detail": "This API key lacks the audit:read scope."}


def test_the_api_is_read_only(operator, event):
    client = _session_client(operator)
    before = list(AuditEvent.objects.values())
    assert client.post(URL, {"action": "task.create"}).status_code in (403, 405)
    for method in ("put", "patch", "delete"):
        response = getattr(client, method)(f"{URL}{event.pk}/", content_type="application/json")
        assert response.status_code in (403, 405), method
    assert list(AuditEvent.objects.values()) == before


def test_missing_and_malformed_ids_are_404(operator, event):
    client = _session_client(operator)
    assert client.get(f"{URL}999999/").status_code == 404
    assert client.get(f"{URL}not-a-number/").status_code == 404


# --- filters ------------------------------------------------------------------------------


def _at(when: datetime, **kwargs) -> AuditEvent:
    event = AuditEvent(created_at=when, **kwargs)
    event.save()
    return event


@pytest.fixture
def log(user, other_user):
    """Five events over five days, oldest first."""
    day = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return [
        _at(day, action="auth.login", actor=user, actor_username="alice", request_id="r1"),
        _at(
            day + timedelta(days=1),
            action="auth.failure",
            outcome="failure",
            actor_username="bob",
            actor=other_user,
        ),
        _at(
            day + timedelta(days=2),
            action="task.create",
            actor=user,
            actor_username="alice",
            target_type="a2a.task",
            target_id="t-9",
        ),
        _at(
            day + timedelta(days=3),
            action="task.cancel",
            outcome="denied",
            actor=other_user,
            actor_username="bob",
            target_type="a2a.task",
            target_id="t-9",
        ),
        _at(day + timedelta(days=4), action="limit.exceeded", outcome="denied", request_id="r5"),
    ]


def _ids(client: Client, **params: str) -> list[int]:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_filters(operator, log):
    client = _session_client(operator)
    ids = [e.pk for e in log]
    assert _ids(client) == ids[::-1]
    assert _ids(client, action="task.cancel") == [ids[3]]
    assert _ids(client, outcome="denied") == [ids[4], ids[3]]
    assert _ids(client, actor="bob") == [ids[3], ids[1]]
    assert _ids(client, target_type="a2a.task") == [ids[3], ids[2]]
    assert _ids(client, target_type="a2a.task", target_id="t-9", actor="alice") == [ids[2]]
    assert _ids(client, request_id="r5") == [ids[4]]
    assert _ids(client, since="2026-03-03T12:00:00Z") == [ids[4], ids[3], ids[2]]
    assert _ids(client, until="2026-03-03T12:00:00+00:00") == [ids[1], ids[0]]
    assert _ids(client, since="2026-03-02", until="2026-03-04") == [ids[2], ids[1]]
    # Without an offset a time is UTC; with one it is converted.
    assert _ids(client, since="2026-03-05T12:00:00") == [ids[4]]
    assert _ids(client, until="2026-03-01T13:00:00+02:00") == []
    assert _ids(client, actor="nobody") == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"since": "yesterday"}, "since", "must be an ISO 8601 date or time"),
        ({"until": "2026-13-01"}, "until", "must be an ISO 8601 date or time"),
        ({"since": "2026-02-30T10:00:00Z"}, "since", "must be an ISO 8601 date or time"),
        ({"action": "task.explode"}, "action", "must be one of auth.login, "),
        ({"outcome": "maybe"}, "outcome", "must be one of success, failure, denied"),
        ({"action": ""}, "action", "must be one of auth.login, "),
        ({"since": ""}, "since", "must be an ISO 8601 date or time"),
        ({"page_size": "true"}, "page_size", "must be a whole number from 1 to 100; got 'true'"),
        ({"page_size": "0"}, "page_size", "must be a whole number from 1 to 100; got 0"),
    ],
)
def test_bad_filters_get_400_naming_the_parameter(operator, log, params, field, message):
    response = _session_client(operator).get(URL, params)
    assert response.status_code == 400
    [text] = response.json()[field]
    assert text.startswith(message)


# --- pages --------------------------------------------------------------------------------


def test_cursor_pages_newest_first(operator, log):
    client = _session_client(operator)
    ids = [e.pk for e in log][::-1]
    first = client.get(URL, {"page_size": "2"}).json()
    assert set(first) == {"next", "previous", "results"}
    assert [row["id"] for row in first["results"]] == ids[:2]
    assert first["previous"] is None
    second = client.get(first["next"]).json()
    assert [row["id"] for row in second["results"]] == ids[2:4]
    third = client.get(second["next"]).json()
    assert [row["id"] for row in third["results"]] == ids[4:]
    assert third["next"] is None
    back = client.get(third["previous"]).json()
    assert [row["id"] for row in back["results"]] == ids[2:4]


def test_pages_keep_order_for_events_in_the_same_instant(operator):
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    same = [_at(moment, action="task.state") for _ in range(5)]
    client = _session_client(operator)
    seen: list[int] = []
    page = client.get(URL, {"page_size": "2"}).json()
    while True:
        seen += [row["id"] for row in page["results"]]
        if page["next"] is None:
            break
        page = client.get(page["next"]).json()
    assert seen == [e.pk for e in same][::-1]


def test_an_empty_window_has_no_events(operator, log):
    # until not after since: a valid question with an empty answer, not a refusal.
    client = _session_client(operator)
    response = client.get(URL, {"since": "2026-03-04", "until": "2026-03-02"})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_page_size_is_bounded_like_a2a_page_size(operator, settings):
    settings.WEBCAP_MAX_PAGE_SIZE = 3
    for _ in range(5):
        audit_record(action="task.state")
    client = _session_client(operator)
    assert len(client.get(URL).json()["results"]) == 3
    assert len(client.get(URL, {"page_size": "2"}).json()["results"]) == 2
    for refused in ("50", "4", "zero", "-1", "2.0", ""):
        response = client.get(URL, {"page_size": refused})
        assert response.status_code == 400, refused
        assert response.json()["page_size"][0].startswith("must be a whole number from 1 to 3")


def test_a_forged_cursor_is_404(operator, log):
    response = _session_client(operator).get(URL, {"cursor": "bz1hYmM="})  # "o=abc"
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid cursor"}
