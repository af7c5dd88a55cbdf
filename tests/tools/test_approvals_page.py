"""The approval page: what a waiting call's card shows, deciding by form and by the page's
script, and the live feed (GET /approvals/events/) that keeps the list current.

The authorization matrix of the page and its feed is in tests/tools/test_approvals_matrix.py;
the page in a real browser in tests/browser/.
"""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Permission
from django.test import AsyncClient

from accounts.models import User
from accounts.services import user_ensure
from tests.tools.feed import FeedReader
from tests.tools.helpers import pending_approval, settled
from tools.models import Decision, ToolCall, ToolCallStatus

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("offline_assistant"),
]

JSON = {"Accept": "application/json"}


async def _signed_in(user: User) -> AsyncClient:
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    return client


@pytest.fixture
async def waiting(rpc, api_key, site) -> dict[str, Any]:
    """Alice's task that waits for approval of one http_request call."""
    task, call_id = await pending_approval(rpc, api_key, site)
    return {"task": task["id"], "call": call_id, "url": site.url}


async def test_a_card_shows_the_tool_its_json_arguments_why_and_the_conversation(user, waiting):
    page = await _signed_in(user)

    body = (await page.get("/approvals/")).content.decode()

    assert 'id="pending-count">(1)</span>' in body
    card = body[body.index(f'<article class="module approval" id="call-{waiting["call"]}"') :]
    card = card[: card.index("</article>")]
    assert '<span class="tool">http_request</span>' in card
    # Indented JSON, escaped, in the order the model wrote it; never a Python repr.
    arguments = json.dumps({"url": waiting["url"], "method": "GET"}, indent=2)
    assert f'<pre class="arguments">{html.escape(arguments)}</pre>' in card
    assert "&#x27;url&#x27;" not in card
    assert "<strong>Why it waits:</strong> http_request reaches the network on your behalf." in card
    assert f'<blockquote class="request">fetch {waiting["url"]}</blockquote>' in card
    # The recent conversation: the agent's question, without the request again.
    conversation = card[card.index('<ol class="conversation">') :]
    assert conversation.count("<li ") == 1
    assert '<li class="agent"><span class="role">agent</span>' in conversation
    assert "Approval needed before running: http_request(" in conversation
    # Its data part (the pending calls, shown in full above) is named, not dumped.
    assert "\n[data]</span></li>" in conversation
    assert "pendingToolCalls" not in conversation
    # Alice may not use the admin: the task id is shown, not linked.
    assert f"<code>{waiting['task']}</code>" in card
    assert "/admin/" not in card
    # One form per decision; the rejection's reason is required.
    assert card.count('<input type="hidden" name="decision" value="approve">') == 1
    assert 'name="reason" required maxlength="2000"' in card
    assert card.count("csrfmiddlewaretoken") == 2


async def test_staff_who_may_read_tasks_in_the_admin_get_a_link_to_the_task(waiting):
    def admin_user() -> User:
        person = user_ensure(username="root", role="admin")
        person.is_staff = True
        person.save(update_fields=["is_staff"])
        person.user_permissions.add(Permission.objects.get(codename="view_task"))
        return User.objects.get(pk=person.pk)

    page = await _signed_in(await sync_to_async(admin_user)())

    body = (await page.get("/approvals/")).content.decode()

    link = f'<a href="/admin/a2a/task/{waiting["task"]}/change/">{waiting["task"]}</a>'
    assert link in body
    assert ", of <strong>alice</strong>" in body  # not their own task
    assert '<a href="/admin/">Admin</a>' in body


async def test_the_page_is_the_admins_look_with_its_own_script_and_stylesheet(user):
    body = (await (await _signed_in(user)).get("/approvals/")).content.decode()

    for static in (
        '<link rel="stylesheet" href="/static/admin/css/base.css">',
        '<link rel="stylesheet" href="/static/tools/approvals.css">',
        '<script src="/static/tools/approvals.js" defer></script>',
    ):
        assert static in body
    assert 'data-feed="/approvals/events/"' in body
    assert "<kbd>j</kbd> / <kbd>k</kbd>" in body
    assert '<p id="approvals-empty">Nothing waits for your approval.</p>' in body
    assert "Signed in as <strong>alice</strong>." in body
    for name in ("approvals.css", "approvals.js"):
        served = await AsyncClient().get(f"/static/tools/{name}")
        assert served.status_code == 200, name


async def test_a_rejection_from_the_page_needs_a_reason(user, waiting):
    page = await _signed_in(user)

    plain = await page.post(
        "/approvals/", {"tool_call": waiting["call"], "decision": "reject"}, follow=True
    )
    scripted = await page.post(
        "/approvals/",
        {"tool_call": waiting["call"], "decision": "reject", "reason": "   "},
        headers=JSON,
    )

    assert "Say why you reject the call: the agent reads your reason." in plain.content.decode()
    assert scripted.status_code == 400
    assert scripted.json() == {"error": "Say why you reject the call: the agent reads your reason."}
    call = await ToolCall.objects.aget(pk=waiting["call"])
    assert (call.status, call.decision) == (ToolCallStatus.AWAITING_APPROVAL, "")


async def test_the_script_decides_and_hears_the_outcome_as_json(rpc, api_key, user, waiting):
    page = await _signed_in(user)

    rejected = await page.post(
        "/approvals/",
        {"tool_call": waiting["call"], "decision": "reject", "reason": "not that host"},
        headers=JSON,
    )
    again = await page.post(
        "/approvals/", {"tool_call": waiting["call"], "decision": "approve"}, headers=JSON
    )
    unknown = await page.post(
        "/approvals/", {"tool_call": "nope", "decision": "approve"}, headers=JSON
    )

    assert (rejected.status_code, rejected.json()) == (
        200,
        {"message": f"Rejected http_request for task {waiting['task']}."},
    )
    # The task went on at once (jobs run inline here) and has ended.
    assert again.status_code == 409
    refusal = again.json()["error"]
    assert refusal.startswith(f"Task {waiting['task']} is ")
    assert refusal.endswith("; its tool calls are closed.")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Tool call 'nope' not found."})
    call = await ToolCall.objects.aget(pk=waiting["call"])
    assert (call.decision, call.decision_reason) == (Decision.REJECTED, "not that host")
    assert (await settled(rpc, api_key, waiting["task"]))["status"]["state"] != "TASK_STATE_WORKING"


# --- The live feed --------------------------------------------------------------------------------


async def test_the_feed_sends_the_waiting_calls_then_arrivals_and_decisions(
    rpc, api_key, user, site, settings
):
    # No re-reads on a timer during the test: what arrives is rung by the channel layer.
    settings.WEBCAP_STREAM_POLL_INTERVAL = 30.0
    page = await _signed_in(user)
    response = await page.get("/approvals/events/")
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    feed = FeedReader(response)
    try:
        assert await feed.next() == {"ids": [], "cards": {}}

        task, call_id = await pending_approval(rpc, api_key, site)
        arrived = await feed.next()
        assert arrived["ids"] == [call_id]
        card = arrived["cards"][call_id]
        assert card.strip().startswith(f'<article class="module approval" id="call-{call_id}"')
        assert html.escape(json.dumps({"url": site.url, "method": "GET"}, indent=2)) in card
        assert 'name="csrfmiddlewaretoken"' in card

        decided = await page.post(
            "/approvals/", {"tool_call": call_id, "decision": "approve"}, headers=JSON
        )
        assert decided.status_code == 200
        # Gone from the list; the card is not sent again.
        assert await feed.next() == {"ids": [], "cards": {}}
    finally:
        await feed.close()
    assert (await settled(rpc, api_key, task["id"]))["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_the_feed_sends_a_card_once_and_only_the_ids_after_that(
    rpc, api_key, user, site, waiting
):
    page = await _signed_in(user)
    feed = FeedReader(await page.get("/approvals/events/"))
    try:
        first = await feed.next()
        assert list(first["cards"]) == first["ids"] == [waiting["call"]]

        _, second_call = await pending_approval(rpc, api_key, site)
        second = await feed.next()
    finally:
        await feed.close()

    assert second["ids"] == [waiting["call"], second_call]
    assert list(second["cards"]) == [second_call]


async def test_the_feed_answers_401_to_visitors_who_are_not_signed_in():
    response = await AsyncClient().get("/approvals/events/")

    assert response.status_code == 401
    assert response.content == b"Sign in first: /accounts/login/"
