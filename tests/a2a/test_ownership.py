"""Who may do what with a task: the role and ownership matrix, from selectors to bindings.

The cast is in tests/a2a/people.py: an owner, a stranger, an operator, an approver with an
"approve" share, an approver without one, a viewer and a user ("reader") with "view" shares,
and an admin. A task a caller may not read answers exactly like a missing one (-32001, 404);
a task it may read but not act on answers -32040 (403).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from a2a.models import Message, PushConfig, Task, TaskGroupObjectPermission, TaskState
from a2a.protocol import types as wire
from a2a.protocol.errors import PermissionDeniedError, TaskNotFoundError
from a2a.selectors import (
    APPROVE,
    CANCEL,
    CHANGE,
    MANAGE_SHARES,
    VIEW,
    task_get_for_user,
    tasks_list_for_user,
    tasks_visible_to,
)
from a2a.services.tasks import message_send, task_transition
from accounts.roles import roles_of
from tests.a2a.conftest import sse_frames
from tests.a2a.people import NAMES, Cast, cast_people, same_error
from tests.factories import message_params, send, wire_message
from tests.tools.helpers import pending_approval
from tests.webhook import WebhookReceiver
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

OK, MISSING, DENIED = "ok", "missing", "denied"


@pytest.fixture
def cast(db: None) -> Cast:
    return cast_people()


@pytest.fixture
def quiet(settings: Any) -> None:
    """Jobs are queued but never run: tasks stay where the test puts them."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


def _shared_task(cast: Cast, text: str = "hello world") -> Task:
    result = send(cast.users["owner"], text)
    cast.share(str(result.task_id))
    return Task.objects.get(pk=result.task_id)


@pytest.fixture
def task(cast: Cast, quiet: None) -> Task:
    """The owner's task, submitted, shared with approver (approve), viewer and reader (view)."""
    return _shared_task(cast)


# --- The selectors ---------------------------------------------------------------------------

#            read     change   cancel   approve  manage shares
MATRIX = {
    "owner": (OK, OK, OK, OK, OK),
    "stranger": (MISSING,) * 5,
    "operator": (OK, DENIED, OK, DENIED, DENIED),
    "approver": (OK, DENIED, DENIED, OK, DENIED),
    "lone_approver": (MISSING,) * 5,
    "viewer": (OK, DENIED, DENIED, DENIED, DENIED),
    "reader": (OK, DENIED, DENIED, DENIED, DENIED),
    "admin": (OK,) * 5,
}
PERMISSIONS = (VIEW, CHANGE, CANCEL, APPROVE, MANAGE_SHARES)


def _outcome(call: Any) -> str:
    try:
        call()
    except TaskNotFoundError:
        return MISSING
    except PermissionDeniedError:
        return DENIED
    return OK


@pytest.mark.parametrize("name", NAMES)
def test_who_may_do_what_with_a_task(cast, task, name):
    user = cast.users[name]
    outcomes = tuple(
        _outcome(lambda p=p: task_get_for_user(user=user, task_id=str(task.id), permission=p))
        for p in PERMISSIONS
    )
    assert outcomes == MATRIX[name]


def test_a_foreign_task_fails_exactly_like_a_missing_one(cast, task):
    stranger = cast.users["stranger"]
    missing = str(uuid.uuid4())
    errors = []
    for task_id in (str(task.id), missing):
        # select_for_update needs a transaction on PostgreSQL, as in every caller.
        with pytest.raises(TaskNotFoundError) as caught, transaction.atomic():
            task_get_for_user(user=stranger, task_id=task_id, for_update=True, permission=CANCEL)
        errors.append(
            (
                caught.value.code,
                caught.value.message.replace(task_id, "<id>"),
                caught.value.metadata,
            )
        )
    assert errors[0][:2] == errors[1][:2] == (-32001, "Task '<id>' not found")
    assert errors[0][2] == {"taskId": str(task.id)}
    assert errors[1][2] == {"taskId": missing}


def test_what_each_role_can_read(cast, quiet):
    own = _shared_task(cast)
    unshared = Task.objects.get(pk=send(cast.users["owner"]).task_id)
    strangers = Task.objects.get(pk=send(cast.users["stranger"]).task_id)

    def visible(name: str) -> set[uuid.UUID]:
        return set(tasks_visible_to(user=cast.users[name]).values_list("pk", flat=True))

    assert visible("owner") == {own.pk, unshared.pk}
    assert visible("stranger") == {strangers.pk}
    assert visible("viewer") == visible("reader") == visible("approver") == {own.pk}
    assert visible("lone_approver") == set()
    assert visible("operator") == visible("admin") == {own.pk, unshared.pk, strangers.pk}


def test_a_permission_granted_to_a_group_reaches_its_members(cast, quiet):
    task = Task.objects.get(pk=send(cast.users["owner"]).task_id)
    team = Group.objects.create(name="support")
    cast.users["stranger"].groups.add(team)

    assign_perm("a2a.view_task", team, task)

    # guardian wrote the grant into the direct-FK table the selectors join on.
    assert TaskGroupObjectPermission.objects.filter(group=team, content_object=task).count() == 1
    found = task_get_for_user(user=cast.users["stranger"], task_id=str(task.id))
    assert found.pk == task.pk
    with pytest.raises(PermissionDeniedError):
        task_get_for_user(user=cast.users["stranger"], task_id=str(task.id), permission=CANCEL)


def test_list_tasks_pages_through_own_and_shared_tasks_newest_first(cast, quiet):
    reader = cast.users["reader"]
    mine = [send(reader, f"mine {i}").task_id for i in range(2)]
    shared = [_shared_task(cast, f"shared {i}").id for i in range(2)]
    send(cast.users["stranger"], "not shared")
    newest_first = [
        str(t.pk)
        for t in Task.objects.filter(pk__in=[*mine, *shared]).order_by("-status_timestamp", "-id")
    ]

    pages, token = [], ""
    while True:
        request = wire.ListTasksRequest.model_validate({"pageSize": 3, "pageToken": token})
        page = tasks_list_for_user(user=reader, request=request)
        pages.append([t["id"] for t in page["tasks"]])
        assert page["totalSize"] == 4
        token = page["nextPageToken"]
        if not token:
            break

    assert pages == [newest_first[:3], newest_first[3:]]
    everything = tasks_list_for_user(
        user=cast.users["operator"], request=wire.ListTasksRequest.model_validate({})
    )
    assert everything["totalSize"] == Task.objects.count() == 5


def test_shares_cost_no_extra_query_when_listing(cast, quiet):
    for _ in range(3):
        _shared_task(cast)
    request = wire.ListTasksRequest.model_validate({"historyLength": 0})
    seen = []
    for name in ("reader", "stranger"):
        user = cast.users[name]
        roles_of(user)  # cached per request, like a binding does
        with CaptureQueriesContext(connection) as queries:
            listed = tasks_list_for_user(user=user, request=request)
        seen.append((len(listed["tasks"]), len(queries)))
    # The count and the page: shares are joined in, not looked up one by one.
    assert seen == [(3, 2), (0, 2)]


# --- JSON-RPC ----------------------------------------------------------------------------------


def _error_code(body: dict[str, Any]) -> int | None:
    return body["error"]["code"] if "error" in body else None


EXPECTED_CODE = {OK: None, MISSING: -32001, DENIED: -32040}


@pytest.mark.parametrize("name", NAMES)
async def test_get_task(rpc, cast, task, name):
    body = (await rpc("GetTask", {"id": str(task.id)}, key=cast.keys[name])).json()

    expected = MATRIX[name][0]
    assert _error_code(body) == EXPECTED_CODE[expected]
    if expected == OK:
        assert body["result"]["id"] == str(task.id)
    else:
        missing = str(uuid.uuid4())
        other = (await rpc("GetTask", {"id": missing}, key=cast.keys[name])).json()
        assert same_error(body, str(task.id), missing) == same_error(other, str(task.id), missing)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("GetTask", {"id": "{id}"}),
        ("CancelTask", {"id": "{id}"}),
        ("SubscribeToTask", {"id": "{id}"}),
        ("ListTaskPushNotificationConfigs", {"taskId": "{id}"}),
        ("GetTaskPushNotificationConfig", {"taskId": "{id}", "id": "c-1"}),
        ("DeleteTaskPushNotificationConfig", {"taskId": "{id}", "id": "c-1"}),
        (
            "CreateTaskPushNotificationConfig",
            {"taskId": "{id}", "url": "https://hooks.example.com/x"},
        ),
        ("SendMessage", None),
    ],
)
async def test_a_strangers_answer_is_the_answer_for_a_missing_task(rpc, cast, task, method, params):
    missing = str(uuid.uuid4())
    bodies = []
    for task_id in (str(task.id), missing):
        if params is None:
            sent = message_params("more", task_id=task_id, message_id="m-same")
        else:
            sent = {k: v.format(id=task_id) for k, v in params.items()}
        bodies.append((await rpc(method, sent, key=cast.keys["stranger"])).json())

    assert bodies[0]["error"]["code"] == -32001
    assert same_error(bodies[0], str(task.id), missing) == same_error(
        bodies[1], str(task.id), missing
    )


async def test_list_tasks(rpc, cast, quiet):
    task = await sync_to_async(_shared_task)(cast)
    strangers = await sync_to_async(send)(cast.users["stranger"])

    async def listed(name: str) -> set[str]:
        body = (await rpc("ListTasks", {}, key=cast.keys[name])).json()
        return {t["id"] for t in body["result"]["tasks"]}

    ours, theirs = str(task.id), str(strangers.task_id)
    assert await listed("owner") == {ours}
    assert await listed("stranger") == {theirs}
    for name in ("approver", "viewer", "reader"):
        assert await listed(name) == {ours}, name
    assert await listed("lone_approver") == set()
    assert await listed("operator") == await listed("admin") == {ours, theirs}


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
CANCEL_CODES = dict(
    zip(NAMES, (None, -32001, None, -32040, -32001, -32040, -32040, None), strict=True)
)


@pytest.mark.parametrize("name", NAMES)
async def test_cancel_task(rpc, cast, task, name):
    body = (await rpc("CancelTask", {"id": str(task.id)}, key=cast.keys[name])).json()

    assert _error_code(body) == CANCEL_CODES[name]
    await task.arefresh_from_db()
    if CANCEL_CODES[name] is None:
        assert body["result"]["status"]["state"] == "TASK_STATE_CANCELED"
        assert task.state == TaskState.CANCELED
    else:
        assert task.state == TaskState.SUBMITTED  # nothing changed


FOLLOW_UP_CODES = dict(
    zip(NAMES, (None, -32001, -32040, -32040, -32001, -32040, -32040, None), strict=True)
)


@pytest.mark.parametrize("name", NAMES)
async def test_follow_up_message(rpc, cast, task, name):
    await sync_to_async(task_transition)(task_id=task.id, state=TaskState.INPUT_REQUIRED)
    params = message_params(
        "here is more", task_id=str(task.id), configuration={"returnImmediately": True}
    )

    body = (await rpc("SendMessage", params, key=cast.keys[name])).json()

    assert _error_code(body) == FOLLOW_UP_CODES[name]
    messages = await Message.objects.filter(task=task).acount()
    await task.arefresh_from_db()
    if FOLLOW_UP_CODES[name] is None:
        assert (messages, task.state) == (2, TaskState.SUBMITTED)
    else:
        assert (messages, task.state) == (1, TaskState.INPUT_REQUIRED)


def test_a_reader_is_told_it_may_not_write_not_that_the_task_is_missing(cast, task):
    """The decision of the brief: -32040 with a message naming what is refused."""
    task_transition(task_id=task.id, state=TaskState.INPUT_REQUIRED)

    with pytest.raises(PermissionDeniedError) as caught:
        message_send(owner=cast.users["reader"], message=wire_message("x", task_id=str(task.id)))

    assert caught.value.message == (
        f"You may read task {task.id} but not send messages to or change it"
    )
    assert caught.value.metadata == {"taskId": str(task.id), "permission": "change_task"}


@pytest.mark.parametrize("name", NAMES)
async def test_subscribe_to_task(rpc, cast, task, name):
    response = await rpc("SubscribeToTask", {"id": str(task.id)}, key=cast.keys[name])

    if MATRIX[name][0] == OK:
        chunks = aiter(response.streaming_content)
        first = await anext(chunks)
        await chunks.aclose()
        assert first.startswith(b"id: 1\ndata: ")
        assert str(task.id).encode() in first
    else:
        assert response.json()["error"]["code"] == -32001


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
PUSH_CODES = dict(
    zip(NAMES, (None, -32001, -32040, -32040, -32001, -32040, -32040, None), strict=True)
)


@pytest.fixture
def push_task(cast, task, settings):
    """The shared task with one webhook of its owner's ("c-1")."""
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    from a2a.services.push import push_config_create

    push_config_create(
        user=cast.users["owner"],
        task_id=str(task.id),
        config=wire.TaskPushNotificationConfig.model_validate(
            {"taskId": str(task.id), "id": "c-1", "url": "http://127.0.0.1:9/hook", "token": "s"}
        ),
    )
    return task


@pytest.mark.parametrize("name", NAMES)
async def test_push_configs(rpc, cast, push_task, name):
    """Configs hold the webhook's secrets: only those who may change the task see them."""
    key, task_id = cast.keys[name], str(push_task.id)
    expected = PUSH_CODES[name]
    new = {"taskId": task_id, "id": f"by-{name}", "url": "http://127.0.0.1:9/other"}

    got = await rpc("GetTaskPushNotificationConfig", {"taskId": task_id, "id": "c-1"}, key=key)
    listed = await rpc("ListTaskPushNotificationConfigs", {"taskId": task_id}, key=key)
    created = await rpc("CreateTaskPushNotificationConfig", new, key=key)
    configs_after_create = await PushConfig.objects.filter(task=push_task).acount()
    deleted = await rpc(
        "DeleteTaskPushNotificationConfig", {"taskId": task_id, "id": "c-1"}, key=key
    )

    codes = [_error_code(r.json()) for r in (got, listed, created, deleted)]
    assert codes == [expected] * 4
    remaining = [
        c
        async for c in PushConfig.objects.filter(task=push_task).values_list("config_id", flat=True)
    ]
    if expected is None:
        assert got.json()["result"]["token"] == "s"
        assert configs_after_create == 2
        assert remaining == [f"by-{name}"]
    else:
        assert (configs_after_create, remaining) == (1, ["c-1"])


# --- Tool-call decisions ----------------------------------------------------------------------


@pytest.fixture
def site(settings):
    """The assistant on the offline model, and a page on 127.0.0.1 it may fetch."""
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""
    settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
async def waiting(rpc, cast, site):
    """The owner's task waiting for approval of one http_request call, shared as usual."""
    task, call_id = await pending_approval(rpc, cast.keys["owner"], site)
    await sync_to_async(cast.share)(task["id"])
    return {"task": task["id"], "call": call_id}


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
DECIDE_CODES = dict(
    zip(NAMES, (None, -32001, -32040, None, -32001, -32040, -32040, None), strict=True)
)


async def _decided_by(call_id: str) -> tuple[str, str | None]:
    call = await ToolCall.objects.select_related("decided_by").aget(pk=call_id)
    return call.decision, call.decided_by.username if call.decided_by else None


@pytest.mark.parametrize("name", NAMES)
async def test_decide_with_an_a2a_follow_up(rpc, cast, waiting, name):
    decision = {"toolCallDecision": {"toolCallId": waiting["call"], "approved": False}}
    params = message_params(
        "",
        task_id=waiting["task"],
        parts=[{"data": decision}],
        configuration={"returnImmediately": True},
    )

    body = (await rpc("SendMessage", params, key=cast.keys[name])).json()

    assert _error_code(body) == DECIDE_CODES[name]
    if DECIDE_CODES[name] is None:
        assert await _decided_by(waiting["call"]) == ("rejected", name)
    else:
        assert await _decided_by(waiting["call"]) == ("", None)


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
REST_DECIDE = dict(zip(NAMES, (200, 404, 403, 200, 404, 403, 403, 200), strict=True))


@pytest.mark.parametrize("name", NAMES)
async def test_decide_through_the_rest_api(async_client, cast, waiting, name):
    path = f"/api/tool-calls/{waiting['call']}/approve/"

    response = await async_client.post(
        path, headers=_headers(cast.keys[name]), content_type="application/json"
    )

    assert response.status_code == REST_DECIDE[name]
    if REST_DECIDE[name] == 200:
        assert response.json()["decided_by"] == name
    else:
        assert await _decided_by(waiting["call"]) == ("", None)
    if REST_DECIDE[name] == 404:
        missing = str(uuid.uuid4())
        other = await async_client.post(
            f"/api/tool-calls/{missing}/approve/",
            headers=_headers(cast.keys[name]),
            content_type="application/json",
        )
        assert other.status_code == 404
        assert response.json()["detail"].replace(waiting["call"], "<id>") == other.json()[
            "detail"
        ].replace(missing, "<id>")
    if REST_DECIDE[name] == 403:
        assert response.json()["detail"] == (
            f"You may see tool call {waiting['call']} but not decide it."
        )


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
REST_SEES = dict(zip(NAMES, (True, False, True, True, False, True, True, True), strict=True))


@pytest.mark.parametrize("name", NAMES)
async def test_tool_calls_and_model_usage_are_listed_for_those_who_read_the_task(
    async_client, cast, waiting, name
):
    headers = _headers(cast.keys[name])
    calls = (await async_client.get("/api/tool-calls/", headers=headers)).json()
    one = await async_client.get(f"/api/tool-calls/{waiting['call']}/", headers=headers)
    usage = (
        await async_client.get(f"/api/llm-calls/?task={waiting['task']}", headers=headers)
    ).json()

    sees = REST_SEES[name]
    assert [c["id"] for c in calls["results"]] == ([waiting["call"]] if sees else [])
    assert one.status_code == (200 if sees else 404)
    assert (usage["count"] > 0) is sees


#             owner, stranger, operator, approver, lone_approver, viewer, reader, admin
PAGE_LISTS = dict(zip(NAMES, (True, False, False, True, False, False, False, True), strict=True))


@pytest.mark.parametrize("name", NAMES)
async def test_the_approval_page_lists_what_the_user_may_decide(cast, waiting, name):
    page = AsyncClient()
    await sync_to_async(page.force_login)(cast.users[name])

    listing = (await page.get("/approvals/")).content.decode()
    posted = await page.post(
        "/approvals/", {"tool_call": waiting["call"], "decision": "approve"}, follow=True
    )

    assert (waiting["call"] in listing) is PAGE_LISTS[name]
    text = posted.content.decode()
    if PAGE_LISTS[name]:
        assert await _decided_by(waiting["call"]) == ("approved", name)
    else:
        assert await _decided_by(waiting["call"]) == ("", None)
        assert ("not found." in text) is (REST_DECIDE[name] == 404)
        assert ("but not decide it." in text) is (REST_DECIDE[name] == 403)


async def test_frames_of_a_shared_task_stream_to_its_reader(rpc, cast, task, settings):
    """The SSE stream of a finished task reaches a reader with a share, like its owner."""
    await sync_to_async(task_transition)(task_id=task.id, state=TaskState.WORKING)
    await sync_to_async(task_transition)(task_id=task.id, state=TaskState.COMPLETED)
    response = await rpc(
        "SubscribeToTask",
        {"id": str(task.id)},
        key=cast.keys["reader"],
        headers={"Last-Event-ID": "1"},
    )
    frames = await sse_frames(response)
    assert [f["id"] for f in frames] == ["2", "3"]
