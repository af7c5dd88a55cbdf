"""The authorization matrix of the approval page and its live feed, for every kind of caller.

The page and the feed use the session of a signed-in person (the management API's matrix, for
keys and tokens, is tests/tools/test_management_matrix.py). The owner has a task waiting for
one call, shared for viewing with ``viewer_shared`` and for approval with ``approver_shared``.
Only those who may decide the call see it, on the page and in the feed; a decision by anyone
else is refused (403 for those who may read the task, 404 otherwise) and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from a2a.models import TaskUserObjectPermission
from a2a.services.shares import task_share_set
from accounts.services import api_key_create, user_ensure
from tests.tools.feed import FeedReader
from tests.tools.helpers import pending_approval
from tests.tools.test_management_matrix import DECIDES, SEES
from tests.tools.test_management_matrix import ROLE_OF as MANAGEMENT_ROLE_OF
from tools.models import ToolCall

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("offline_assistant"),
]

# The callers of the management API's matrix, and the owner: who may read the owner's task
# and who may decide its tool calls are the same there (accounts/roles.py).
ROLE_OF = {"owner": "user", **MANAGEMENT_ROLE_OF}
CALLERS = ("anonymous", *ROLE_OF)


def _snapshot() -> tuple[Any, ...]:
    return (
        sorted(ToolCall.objects.values_list("id", "status", "decision", "decision_reason")),
        sorted(TaskUserObjectPermission.objects.values_list("user_id", "permission_id")),
    )


async def _world(rpc: Any, site: Any) -> dict[str, Any]:
    """Every caller's user, and the owner's task waiting for one call, shared twice."""

    def users() -> dict[str, Any]:
        return {name: user_ensure(username=name, role=role) for name, role in ROLE_OF.items()}

    people = await sync_to_async(users)()
    _, owner_key = await sync_to_async(api_key_create)(user=people["owner"], name="own")
    task, call = await pending_approval(rpc, owner_key, site)
    for username, permission in (("viewer_shared", "view"), ("approver_shared", "approve")):
        await sync_to_async(task_share_set)(
            user=people["owner"], task_id=task["id"], username=username, permission=permission
        )
    return {"people": people, "task": task["id"], "call": call}


async def _client(world: dict[str, Any], caller: str) -> AsyncClient:
    client = AsyncClient()
    if caller != "anonymous":
        await sync_to_async(client.force_login)(world["people"][caller])
    return client


@pytest.mark.parametrize("caller", CALLERS)
async def test_the_page_lists_the_call_only_to_those_who_decide_it(rpc, site, caller):
    world = await _world(rpc, site)
    client = await _client(world, caller)

    response = await client.get("/approvals/")

    if caller == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/approvals/"
        return
    assert response.status_code == 200
    assert (f'id="call-{world["call"]}"' in response.content.decode()) == (caller in DECIDES)


@pytest.mark.parametrize("caller", CALLERS)
async def test_the_feed_sends_the_call_only_to_those_who_decide_it(rpc, site, caller):
    world = await _world(rpc, site)
    client = await _client(world, caller)

    response = await client.get("/approvals/events/")

    if caller == "anonymous":
        assert response.status_code == 401
        return
    feed = FeedReader(response)
    try:
        first = await feed.next()
    finally:
        await feed.close()
    expected = [world["call"]] if caller in DECIDES else []
    assert first["ids"] == list(first["cards"]) == expected


@pytest.mark.parametrize("caller", CALLERS)
async def test_a_decision_from_the_page_only_by_those_who_may_decide(rpc, site, caller):
    world = await _world(rpc, site)
    client = await _client(world, caller)
    before = await sync_to_async(_snapshot)()

    response = await client.post(
        "/approvals/",
        {"tool_call": world["call"], "decision": "reject", "reason": "not now"},
        headers={"Accept": "application/json"},
    )

    if caller == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/approvals/"
    elif caller in DECIDES:
        assert response.status_code == 200
        call = await ToolCall.objects.aget(pk=world["call"])
        assert (call.decision, call.decision_reason) == ("rejected", "not now")
        assert call.decided_by_id == world["people"][caller].pk
        return
    elif caller in SEES:
        assert (response.status_code, response.json()) == (
            403,
            {"error": f"You may see tool call {world['call']} but not decide it."},
        )
    else:
        assert (response.status_code, response.json()) == (
            404,
            {"error": f"Tool call {world['call']!r} not found."},
        )
    assert await sync_to_async(_snapshot)() == before
