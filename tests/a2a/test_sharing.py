"""Sharing a task through the management API: who may list, add and end shares.

``/api/tasks/{id}/shares/`` belongs to the task's owner and to admins. Anyone else who may
read the task gets 403, anyone who may not gets 404 exactly as for a missing task, and an
anonymous caller 401; a refused request changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from a2a.models import Task
from a2a.selectors import task_shares
from accounts.services import api_key_create
from tests.a2a.people import NAMES, Cast, cast_people
from tests.factories import make_access_token, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def cast(db: None) -> Cast:
    return cast_people()


@pytest.fixture
def task(cast: Cast, settings: Any) -> Task:
    """The owner's task, shared with approver (approve), viewer and reader (view)."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    result = send(cast.users["owner"], "hello world")
    cast.share(str(result.task_id))
    return Task.objects.get(pk=result.task_id)


BEFORE = [("approver", "approve"), ("reader", "view"), ("viewer", "view")]


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def _shares(task: Task) -> list[tuple[str, str]]:
    shares = await sync_to_async(task_shares)(task=task)
    return [(s.username, s.permission) for s in shares]


def _requests(task_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = f"/api/tasks/{task_id}/shares/"
    return [
        ("get", base, None),
        ("post", base, {"username": "stranger", "permission": "view"}),
        ("delete", f"{base}reader/", None),
    ]


async def _call(client: Any, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if method == "post":
        return await client.post(path, body, content_type="application/json", headers=headers)
    return await getattr(client, method)(path, headers=headers)


async def test_anonymous_callers_are_asked_to_authenticate(async_client, task):
    for method, path, body in _requests(str(task.id)):
        response = await _call(async_client, method, path, body, {})
        assert response.status_code == 401, (method, path)
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert await _shares(task) == BEFORE


#           owner, stranger, operator, approver, lone_approver, viewer, reader, admin
MANAGE = dict(zip(NAMES, (None, 404, 403, 403, 404, 403, 403, None), strict=True))


@pytest.mark.parametrize("name", [n for n in NAMES if MANAGE[n] is not None])
async def test_only_the_owner_and_admins_manage_shares(async_client, cast, task, name):
    headers = _bearer(cast.keys[name])
    missing = str(uuid.uuid4())
    for method, path, body in _requests(str(task.id)):
        response = await _call(async_client, method, path, body, headers)
        assert response.status_code == MANAGE[name], (method, path)
        if MANAGE[name] == 404:
            other = await _call(
                async_client, method, path.replace(str(task.id), missing), body, headers
            )
            assert other.status_code == 404
            assert response.json()["detail"].replace(str(task.id), "<id>") == other.json()[
                "detail"
            ].replace(missing, "<id>")
            assert response.json()["code"] == "TASK_NOT_FOUND"
        else:
            assert response.json() == {
                "detail": f"You may read task {task.id} but not manage the shares of it",
                "code": "PERMISSION_DENIED",
            }
    assert await _shares(task) == BEFORE


@pytest.mark.parametrize("name", ["owner", "admin"])
async def test_the_owner_and_admins_list_add_change_and_end_shares(async_client, cast, task, name):
    headers = _bearer(cast.keys[name])
    base = f"/api/tasks/{task.id}/shares/"

    listed = await async_client.get(base, headers=headers)
    added = await async_client.post(
        base,
        {"username": "stranger", "permission": "view"},
        content_type="application/json",
        headers=headers,
    )
    upgraded = await async_client.post(
        base,
        {"username": "lone_approver", "permission": "approve"},
        content_type="application/json",
        headers=headers,
    )
    downgraded = await async_client.post(
        base,
        {"username": "approver", "permission": "view"},
        content_type="application/json",
        headers=headers,
    )
    ended = await async_client.delete(f"{base}reader/", headers=headers)

    assert listed.status_code == 200
    assert listed.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [{"username": u, "permission": p} for u, p in BEFORE],
    }
    assert (added.status_code, added.json()) == (
        201,
        {"username": "stranger", "permission": "view"},
    )
    assert upgraded.status_code == 201
    assert (downgraded.status_code, downgraded.json()) == (
        200,
        {"username": "approver", "permission": "view"},
    )
    assert (ended.status_code, ended.content) == (204, b"")
    assert await _shares(task) == [
        ("approver", "view"),
        ("lone_approver", "approve"),
        ("stranger", "view"),
        ("viewer", "view"),
    ]


async def test_a_share_opens_the_task_and_ending_it_closes_it_again(async_client, rpc, cast, task):
    base = f"/api/tasks/{task.id}/shares/"
    owner = _bearer(make_access_token(cast.users["owner"]))  # a JWT works like a key
    before = (await rpc("GetTask", {"id": str(task.id)}, key=cast.keys["stranger"])).json()

    shared = await async_client.post(
        base,
        {"username": "stranger", "permission": "view"},
        content_type="application/json",
        headers=owner,
    )
    during = (await rpc("GetTask", {"id": str(task.id)}, key=cast.keys["stranger"])).json()
    ended = await async_client.delete(f"{base}stranger/", headers=owner)
    after = (await rpc("GetTask", {"id": str(task.id)}, key=cast.keys["stranger"])).json()

    assert shared.status_code == 201
    assert ended.status_code == 204
    assert before["error"]["code"] == after["error"]["code"] == -32001
    assert during["result"]["id"] == str(task.id)


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        # The share names a user who cannot hold it: a conflict, naming the field.
        (
            {"username": "reader", "permission": "approve"},
            409,
            "permission",
            "reader does not have the approver role; share with them to view only.",
        ),
        ({"username": "owner", "permission": "view"}, 409, "username", None),
        # No such user: what the share points at is not found.
        (
            {"username": "nobody", "permission": "view"},
            404,
            "username",
            "There is no active user named 'nobody'.",
        ),
        # Malformed: a 400 with the field and its rule.
        (
            {"username": "reader", "permission": "edit"},
            400,
            "permission",
            ['"edit" is not a valid choice.'],
        ),
        ({"permission": "view"}, 400, "username", ["This field is required."]),
        (
            {"username": "x" * 151, "permission": "view"},
            400,
            "username",
            ["Ensure this field has no more than 150 characters."],
        ),
    ],
)
async def test_shares_that_cannot_exist_are_refused(
    async_client, cast, task, body, status, field, message
):
    response = await async_client.post(
        f"/api/tasks/{task.id}/shares/",
        body,
        content_type="application/json",
        headers=_bearer(cast.keys["owner"]),
    )

    assert response.status_code == status
    if message is None:
        message = f"owner owns task {task.id}; an owner has every right already."
    if status == 400:
        assert response.json()[field] == message
    else:
        assert response.json() == {"detail": message, "extra": {"field": field}}
    assert await _shares(task) == BEFORE


async def test_ending_a_share_that_does_not_exist_is_not_found(async_client, cast, task):
    headers = _bearer(cast.keys["owner"])
    for username in ("stranger", "owner", "nobody"):
        response = await async_client.delete(
            f"/api/tasks/{task.id}/shares/{username}/", headers=headers
        )
        assert response.status_code == 404
        assert response.json()["detail"] == f"Task {task.id} is not shared with {username!r}."


async def test_an_api_key_needs_tasks_write_to_change_shares(async_client, cast, task):
    _, read_only = await sync_to_async(api_key_create)(
        user=cast.users["owner"], name="ro", scopes=["tasks:read"]
    )
    headers = {"X-API-Key": read_only}
    base = f"/api/tasks/{task.id}/shares/"

    listed = await async_client.get(base, headers=headers)
    added = await async_client.post(
        base,
        {"username": "stranger", "permission": "view"},
        content_type="application/json",
        headers=headers,
    )
    ended = await async_client.delete(f"{base}reader/", headers=headers)

    assert listed.status_code == 200
    assert (added.status_code, ended.status_code) == (403, 403)
    assert added.json() == {"detail": "This API key lacks the tasks:write scope."}
    assert await _shares(task) == BEFORE


async def test_page_size_is_bounded(async_client, cast, task, settings):
    settings.WEBCAP_MAX_PAGE_SIZE = 2
    url = f"/api/tasks/{task.id}/shares/"
    headers = _bearer(cast.keys["owner"])
    body = (await async_client.get(f"{url}?page_size=2", headers=headers)).json()
    assert (body["count"], len(body["results"])) == (3, 2)
    assert body["next"].endswith("page=2&page_size=2")
    refused = await async_client.get(f"{url}?page_size=50", headers=headers)
    assert refused.status_code == 400
    assert refused.json() == {"page_size": ["must be a whole number from 1 to 2; got 50"]}
    past = await async_client.get(f"{url}?page=9", headers=headers)
    assert past.status_code == 404
