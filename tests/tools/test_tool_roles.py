"""Which roles may cause a tool to run (WEBCAP_TOOL_ROLES), and tools that always wait.

The model is offered only the tools the task owner's roles allow; a call it makes anyway of
another tool is stored rejected with the reason, the model reads it, and the task goes on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from accounts.services import user_ensure
from audit.models import AuditEvent
from tests.factories import make_key, rpc_send_task, task_answer
from tests.fakellm import Text, ToolCalls
from tools.checks import tools_configured
from tools.models import ToolCall, ToolCallStatus

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake(fake, settings):
    """The shared fake model (tests/tools/conftest.py), without retries."""
    settings.WEBCAP_MODEL_MAX_RETRIES = 0
    return fake


@sync_to_async
def _key(username: str, role: str | None) -> str:
    return make_key(user_ensure(username=username, role=role))


def _offered(request: dict[str, Any]) -> list[str]:
    return sorted(t["function"]["name"] for t in request.get("tools", []))


@pytest.mark.parametrize(
    ("role", "offered"),
    [
        (None, ["calculator", "current_time", "echo"]),
        ("approver", ["calculator", "current_time", "echo", "http_request"]),
        ("operator", ["calculator", "current_time", "echo"]),
        ("admin", ["calculator", "current_time", "echo", "http_request", "read_file"]),
    ],
)
async def test_the_model_is_offered_the_tools_the_owners_roles_allow(
    rpc, fake, settings, role, offered
):
    settings.WEBCAP_TOOL_ROLES = {"http_request": ["admin", "approver"], "read_file": ["admin"]}
    key = await _key("someone", role)
    fake.script(Text("Hello."))

    task = await rpc_send_task(rpc, key, "hi")

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert _offered(fake.requests[0]) == offered


async def test_unlisted_tools_run_for_everyone_but_viewers_and_an_empty_list_for_nobody(
    rpc, fake, settings
):
    settings.WEBCAP_TOOL_ROLES = {"echo": []}
    fake.script(Text("Hello."), Text("Hello."))

    for role in (None, "admin"):
        await rpc_send_task(rpc, await _key(f"u-{role}", role), "hi")

    assert [_offered(r) for r in fake.requests] == [
        ["calculator", "current_time", "http_request", "read_file"]
    ] * 2


async def test_a_call_of_a_tool_the_owner_may_not_run_is_refused_and_the_task_goes_on(
    rpc, fake, settings
):
    settings.WEBCAP_TOOL_ROLES = {"calculator": ["admin"]}
    key = await _key("alice", None)
    fake.script(
        ToolCalls(
            [("call_1", "calculator", {"expression": "6*7"}), ("call_2", "echo", {"text": "x"})]
        ),
        Text("I may not compute that."),
    )

    task = await rpc_send_task(rpc, key, "compute 6*7")

    assert task["status"]["state"] == "TASK_STATE_COMPLETED"
    assert task_answer(task) == "I may not compute that."
    assert "calculator" not in _offered(fake.requests[0])
    refused, echoed = [
        c async for c in ToolCall.objects.filter(task_id=task["id"]).order_by("position")
    ]
    reason = "calculator may be run for the roles admin; the task owner has user"
    assert (
        refused.status,
        refused.decision,
        refused.decided_by_id,
        refused.decided_at,
        refused.decision_reason,
        refused.error,
        refused.started_at,
    ) == (ToolCallStatus.CANCELLED, "rejected", None, None, reason, f"refused: {reason}", None)
    assert echoed.status == ToolCallStatus.SUCCESS
    told = {
        m["tool_call_id"]: json.loads(m["content"])
        for m in fake.requests[1]["messages"]
        if m["role"] == "tool"
    }
    assert told == {
        "call_1": {
            "error": "calculator is not allowed for this user",
            "rejected": True,
            "reason": reason,
        },
        "call_2": {"result": "x"},
    }
    row = await AuditEvent.objects.aget(action="toolcall.reject")
    assert (row.actor_id, row.outcome, row.target_type, row.target_id, row.extra) == (
        None,
        "denied",
        "tools.toolcall",
        str(refused.id),
        {"tool": "calculator", "taskId": task["id"], "reason": reason},
    )


async def test_require_approval_makes_any_tool_wait_for_a_person(rpc, settings):
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""
    settings.WEBCAP_TOOLS_REQUIRE_APPROVAL = ["calculator"]  # needs no approval by default
    key = await _key("alice", None)

    task = await rpc_send_task(rpc, key, "what is 12*7?")

    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    [call] = [c async for c in ToolCall.objects.filter(task_id=task["id"])]
    assert (call.tool, call.status, call.requires_approval, call.approval_reason) == (
        "calculator",
        ToolCallStatus.AWAITING_APPROVAL,
        True,
        "calculator needs approval.",
    )


def test_the_system_checks_name_unknown_tools_and_roles_in_tool_roles(settings):
    settings.WEBCAP_TOOL_ROLES = {"calculator": ["admin"], "echo": ["user", "viewer"]}
    assert tools_configured(None) == []

    settings.WEBCAP_TOOL_ROLES = {
        "calculator": ["admin", "wizard"],
        "teleport": ["user"],
        "echo": ["root"],
    }
    assert [(e.id, e.msg) for e in tools_configured(None)] == [
        ("webcap.E011", "WEBCAP_TOOL_ROLES names tools this server does not have: teleport."),
        ("webcap.E012", "WEBCAP_TOOL_ROLES names roles that do not exist: root, wizard."),
    ]
