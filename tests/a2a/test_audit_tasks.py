"""The audit rows of tasks, tool calls and shares, each asserted whole.

Every row is written in the transaction of the change it records: a change that rolls back
leaves no row. Rows name the actor (None when the agent or the policy acted), the target as
``app_label.model`` and primary key, the outcome and the details in ``extra``.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from a2a.models import Task
from audit.models import AuditEvent
from tests.a2a.people import Cast, cast_people
from tests.factories import message_params
from tests.tools.helpers import pending_approval, settled
from tests.webhook import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)

ACTIONS = (
    "task.create",
    "task.cancel",
    "task.state",
    "toolcall.request",
    "toolcall.approve",
    "toolcall.reject",
    "toolcall.execute",
    "permission.grant",
    "permission.revoke",
)


@pytest.fixture
def cast(db: None) -> Cast:
    return cast_people()


async def _rows(**filters: Any) -> list[tuple[Any, ...]]:
    """The audit rows of this test's actions, oldest first, without id and time."""
    events = AuditEvent.objects.filter(action__in=ACTIONS, **filters).order_by("id")
    return [
        (
            e.action,
            e.actor_username or None,
            e.target_type,
            e.target_id,
            e.outcome,
            e.extra,
        )
        async for e in events
    ]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_task_is_created_then_changes_state(rpc, cast):
    response = await rpc(
        "SendMessage",
        message_params("hello world", context_id="ctx-1"),
        key=cast.keys["owner"],
        headers={"X-Request-ID": "req-create-1"},
    )
    task_id = response.json()["result"]["task"]["id"]

    task = ("a2a.task", task_id)
    assert await _rows() == [
        ("task.create", "owner", *task, "success", {"contextId": "ctx-1"}),
        ("task.state", None, *task, "success", {"from": "submitted", "to": "working"}),
        ("task.state", None, *task, "success", {"from": "working", "to": "completed"}),
    ]
    created = await AuditEvent.objects.select_related("actor").aget(action="task.create")
    assert (created.actor, created.request_id, created.client_ip, created.auth_method) == (
        cast.users["owner"],
        "req-create-1",
        "127.0.0.1",
        "",
    )


async def test_cancel_names_who_canceled(rpc, cast, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the task stays submitted
    params = message_params("hello", configuration={"returnImmediately": True})
    task_id = (await rpc("SendMessage", params, key=cast.keys["owner"])).json()["result"]["task"][
        "id"
    ]

    body = (await rpc("CancelTask", {"id": task_id}, key=cast.keys["operator"])).json()

    assert body["result"]["status"]["state"] == "TASK_STATE_CANCELED"
    task = ("a2a.task", task_id)
    assert (await _rows())[1:] == [
        ("task.cancel", "operator", *task, "success", {"from": "submitted"}),
        ("task.state", "operator", *task, "success", {"from": "submitted", "to": "canceled"}),
    ]


async def test_a_refused_cancel_and_a_rolled_back_send_leave_no_row(rpc, cast, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = message_params("hello", configuration={"returnImmediately": True})
    task_id = (await rpc("SendMessage", params, key=cast.keys["owner"])).json()["result"]["task"][
        "id"
    ]
    before = await _rows()

    refused = (await rpc("CancelTask", {"id": task_id}, key=cast.keys["stranger"])).json()
    # The task and its task.create row are written, then the inline webhook is refused
    # (a private address): the whole send rolls back, its audit row with it.
    rolled_back = (
        await rpc(
            "SendMessage",
            message_params(
                "again",
                configuration={"taskPushNotificationConfig": {"url": "http://10.0.0.1/hook"}},
            ),
            key=cast.keys["owner"],
        )
    ).json()

    assert refused["error"]["code"] == -32001
    assert rolled_back["error"]["code"] == -32602
    assert await Task.objects.acount() == 1
    assert await _rows() == before


@pytest.fixture
def site(settings):
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""
    settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


async def test_a_call_is_requested_approved_and_executed(async_client, rpc, cast, site):
    task, call_id = await pending_approval(rpc, cast.keys["owner"], site)
    await sync_to_async(cast.share)(task["id"])
    call = ("tools.toolcall", call_id)
    details = {"tool": "http_request", "taskId": task["id"]}

    approved = await async_client.post(
        f"/api/tool-calls/{call_id}/approve/",
        {"reason": "looks fine"},
        content_type="application/json",
        headers=_bearer(cast.keys["approver"]),
    )
    await settled(rpc, cast.keys["owner"], task["id"])

    assert approved.status_code == 200
    rows = [r for r in await _rows() if r[0].startswith("toolcall.")]
    assert rows == [
        (
            "toolcall.request",
            "owner",
            *call,
            "success",
            {**details, "reason": "http_request reaches the network on your behalf."},
        ),
        ("toolcall.approve", "approver", *call, "success", {**details, "reason": "looks fine"}),
        ("toolcall.execute", "owner", *call, "success", details),
    ]
    resumed = ("task.state", "approver", "a2a.task", task["id"], "success")
    assert (*resumed, {"from": "input-required", "to": "submitted"}) in await _rows()


async def test_a_rejection_through_a_follow_up_names_the_decider(rpc, cast, site):
    task, call_id = await pending_approval(rpc, cast.keys["owner"], site)
    decision = {"toolCallDecision": {"toolCallId": call_id, "approved": False, "reason": "no"}}

    body = (
        await rpc(
            "SendMessage",
            message_params("", task_id=task["id"], parts=[{"data": decision}]),
            key=cast.keys["owner"],
        )
    ).json()

    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    rows = [r for r in await _rows() if r[0].startswith("toolcall.")]
    assert rows[1:] == [
        (
            "toolcall.reject",
            "owner",
            "tools.toolcall",
            call_id,
            "success",
            {"tool": "http_request", "taskId": task["id"], "reason": "no"},
        )
    ]
    assert site.gets == []


async def test_a_failed_execution_is_audited_as_a_failure(rpc, cast, settings):
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""

    task = (await rpc("SendMessage", message_params("what is 1/0?"), key=cast.keys["owner"])).json()

    task_id = task["result"]["task"]["id"]
    [row] = [r for r in await _rows() if r[0] == "toolcall.execute"]
    call_id = row[3]
    assert row == (
        "toolcall.execute",
        "owner",
        "tools.toolcall",
        call_id,
        "failure",
        {"tool": "calculator", "taskId": task_id, "error": "division by zero"},
    )


async def test_sharing_and_unsharing_are_audited(async_client, rpc, cast, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    params = message_params("hello", configuration={"returnImmediately": True})
    task_id = (await rpc("SendMessage", params, key=cast.keys["owner"])).json()["result"]["task"][
        "id"
    ]
    base = f"/api/tasks/{task_id}/shares/"
    owner, admin = _bearer(cast.keys["owner"]), _bearer(cast.keys["admin"])

    async def post(headers: dict[str, str], username: str, permission: str) -> int:
        body = {"username": username, "permission": permission}
        response = await async_client.post(
            base, body, content_type="application/json", headers=headers
        )
        return int(response.status_code)

    statuses = [
        await post(owner, "approver", "approve"),
        await post(owner, "approver", "approve"),  # unchanged: no row
        await post(admin, "approver", "view"),  # approve is taken back
        await post(owner, "reader", "approve"),  # refused: reader is no approver
        (await async_client.delete(f"{base}approver/", headers=owner)).status_code,
    ]

    assert statuses == [201, 200, 200, 409, 204]
    task = ("a2a.task", task_id)
    assert [r for r in await _rows() if r[0].startswith("permission.")] == [
        (
            "permission.grant",
            "owner",
            *task,
            "success",
            {"username": "approver", "permission": "approve"},
        ),
        (
            "permission.revoke",
            "admin",
            *task,
            "success",
            {"username": "approver", "permission": "approve"},
        ),
        (
            "permission.revoke",
            "owner",
            *task,
            "success",
            {"username": "approver", "permission": "view"},
        ),
    ]
