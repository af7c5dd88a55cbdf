"""Who may see and decide tool calls, and see model usage: anonymous, another user, the owner.

Every route of the management API and the approval page, each asked by all three. Another
user's objects are indistinguishable from missing ones (404, or absent from lists).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from tests.factories import rpc_send_task
from tests.tools.helpers import pending_approval, settled
from tools.models import ToolCall

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("offline_assistant"),
]


@pytest.fixture
async def waiting(rpc, api_key, site):
    """Alice's task that waits for approval of one http_request call."""
    task, call_id = await pending_approval(rpc, api_key, site)
    return {"task": task["id"], "call": call_id}


def _bearer(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/tool-calls/"),
        ("get", "/api/tool-calls/{call}/"),
        ("post", "/api/tool-calls/{call}/approve/"),
        ("post", "/api/tool-calls/{call}/reject/"),
        ("get", "/api/llm-calls/"),
        ("get", "/api/llm-calls/usage/"),
    ],
)
async def test_anonymous_callers_are_asked_to_authenticate(
    async_client: AsyncClient, waiting, method, path
):
    response = await getattr(async_client, method)(path.format(**waiting))

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert (await ToolCall.objects.aget(pk=waiting["call"])).decision == ""


async def test_wrong_credentials_are_refused_not_treated_as_anonymous(async_client, waiting):
    response = await async_client.get("/api/tool-calls/", headers=_bearer("wcp_not-a-key"))
    assert response.status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/tool-calls/{call}/",
        "/api/tool-calls/{call}/approve/",
        "/api/tool-calls/{call}/reject/",
    ],
)
async def test_another_user_finds_nothing(async_client, other_api_key, waiting, path):
    url, headers = path.format(**waiting), _bearer(other_api_key)
    if path.count("/") == 4:
        response = await async_client.get(url, headers=headers)
    else:
        response = await async_client.post(url, headers=headers, content_type="application/json")

    assert response.status_code == 404
    assert (await ToolCall.objects.aget(pk=waiting["call"])).decision == ""


async def test_another_user_lists_none_of_the_owners_rows(async_client, other_api_key, waiting):
    headers = _bearer(other_api_key)
    for path in (
        "/api/tool-calls/",
        "/api/tool-calls/?status=awaiting-approval",
        f"/api/tool-calls/?task={waiting['task']}",
        "/api/llm-calls/",
        f"/api/llm-calls/?task={waiting['task']}",
    ):
        body = (await async_client.get(path, headers=headers)).json()
        assert (body["count"], body["results"]) == (0, []), path
    usage = (
        await async_client.get(f"/api/llm-calls/usage/?task={waiting['task']}", headers=headers)
    ).json()
    assert usage == {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": "0.000000"}


async def test_the_owner_lists_reads_and_decides(async_client, api_key, waiting):
    headers = _bearer(api_key)
    listed = (
        await async_client.get("/api/tool-calls/?status=awaiting-approval", headers=headers)
    ).json()
    assert set(listed) == {"count", "next", "previous", "results"}
    assert [c["id"] for c in listed["results"]] == [waiting["call"]]
    one = (await async_client.get(f"/api/tool-calls/{waiting['call']}/", headers=headers)).json()
    assert (one["task"], one["tool"], one["status"]) == (
        waiting["task"],
        "http_request",
        "awaiting-approval",
    )

    decided = await async_client.post(
        f"/api/tool-calls/{waiting['call']}/approve/",
        headers={"X-API-Key": api_key},
        content_type="application/json",
    )

    assert decided.status_code == 200
    assert decided.json()["decided_by"] == "alice"


async def test_the_owner_sees_the_model_usage_of_a_task(rpc, async_client, api_key):
    task = await rpc_send_task(rpc, api_key, "what is 12*7?")
    headers = _bearer(api_key)

    calls = (await async_client.get(f"/api/llm-calls/?task={task['id']}", headers=headers)).json()
    usage = (
        await async_client.get(f"/api/llm-calls/usage/?task={task['id']}", headers=headers)
    ).json()

    # One turn asks for the calculator, the next answers with its result.
    assert [(c["model"], c["purpose"], c["outcome"]) for c in calls["results"]] == [
        ("webcap/offline", "turn", "ok")
    ] * 2
    assert usage["calls"] == 2
    assert usage["prompt_tokens"] == sum(c["prompt_tokens"] for c in calls["results"]) > 0
    assert usage["completion_tokens"] == sum(c["completion_tokens"] for c in calls["results"])
    assert Decimal(usage["cost_usd"]) == 0  # the offline model is free
    one = await async_client.get(f"/api/llm-calls/{calls['results'][0]['id']}/", headers=headers)
    assert one.status_code == 200


async def test_a_task_filter_that_is_not_an_id_matches_nothing(async_client, api_key, waiting):
    body = (await async_client.get("/api/tool-calls/?task=nope", headers=_bearer(api_key))).json()
    assert body["count"] == 0
    bad = await async_client.get("/api/tool-calls/?status=sleeping", headers=_bearer(api_key))
    assert bad.status_code == 400
    assert "awaiting-approval" in bad.json()["status"][0]


# --- the approval page ---------------------------------------------------------------------------


async def test_the_page_sends_anonymous_visitors_to_log_in(waiting):
    page = AsyncClient()
    listing = await page.get("/approvals/")
    assert listing.status_code == 302
    assert listing["Location"].startswith("/accounts/login/")
    posted = await page.post("/approvals/", {"tool_call": waiting["call"], "decision": "approve"})
    assert posted.status_code == 302
    assert (await ToolCall.objects.aget(pk=waiting["call"])).decision == ""


async def test_the_page_shows_another_user_nothing_and_refuses_their_decision(other_user, waiting):
    page = AsyncClient()
    await sync_to_async(page.force_login)(other_user)
    listing = await page.get("/approvals/")
    assert listing.status_code == 200
    assert waiting["call"] not in listing.content.decode()

    posted = await page.post(
        "/approvals/", {"tool_call": waiting["call"], "decision": "approve"}, follow=True
    )

    assert posted.status_code == 200
    assert "not found." in posted.content.decode()
    assert (await ToolCall.objects.aget(pk=waiting["call"])).decision == ""


async def test_the_page_lets_the_owner_decide(rpc, api_key, user, waiting):
    page = AsyncClient()
    await sync_to_async(page.force_login)(user)
    assert waiting["call"] in (await page.get("/approvals/")).content.decode()

    posted = await page.post(
        "/approvals/", {"tool_call": waiting["call"], "decision": "reject", "reason": "no"}
    )

    assert posted.status_code == 302
    done = await settled(rpc, api_key, waiting["task"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
