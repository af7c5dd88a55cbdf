"""Text a client chose reaches HTML only escaped: the approval page and the admin.

A client controls the text of its messages, and through them the arguments of the tool calls
the assistant requests. Each page that shows them gets a payload that would run as script
if it were rendered raw, and must show it as text.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from accounts.models import User
from tests.factories import make_user, rpc_send_task
from tools.models import ToolCall, ToolCallStatus, TranscriptEntry

pytestmark = pytest.mark.django_db(transaction=True)

SCRIPT = "<script>alert(1)</script>"
ESCAPED = html.escape(SCRIPT)  # &lt;script&gt;alert(1)&lt;/script&gt;
# The pages' own scripts, all static files (the admin's theme switch, the approval page's).
STATIC_SCRIPT = re.compile(r'<script src="/static/[^"<>]+\.js"( defer)?></script>')


@pytest.fixture
def offline_assistant(settings: Any) -> None:
    """New tasks run the assistant on the offline model, which asks to read the file named."""
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""


@pytest.fixture
async def pending_script_call(
    rpc: Any, api_key: str, offline_assistant: None, files_folder: Path
) -> dict[str, Any]:
    """Alice asks to read a file whose name is a script tag; the call waits for approval."""
    # The name holds a "/": a folder "<script>alert(1)<" with a file "script>" in it.
    (files_folder / SCRIPT).parent.mkdir()
    (files_folder / SCRIPT).write_text("alert")
    task = await rpc_send_task(rpc, api_key, f'read "{SCRIPT}" please')
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    [pending] = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    assert (pending["tool"], pending["arguments"]) == ("read_file", {"path": SCRIPT})
    return {"task": task["id"], "call": pending["toolCallId"]}


async def _logged_in(user: User) -> AsyncClient:
    client = AsyncClient()
    await sync_to_async(client.force_login)(user)
    return client


def _assert_escaped(page: str) -> None:
    assert SCRIPT not in page
    assert "<script" not in STATIC_SCRIPT.sub("", page).lower()
    assert ESCAPED in page


async def test_the_approval_page_shows_tool_arguments_escaped(user, pending_script_call):
    page = await _logged_in(user)

    listing = await page.get("/approvals/")

    assert listing.status_code == 200
    body = listing.content.decode()
    assert pending_script_call["call"] in body
    # The arguments are shown as indented JSON, so the payload sits inside quotes.
    _assert_escaped(body)


async def test_the_approval_page_escapes_an_id_echoed_in_its_error_message(user):
    page = await _logged_in(user)

    answered = await page.post(
        "/approvals/", {"tool_call": SCRIPT, "decision": "approve"}, follow=True
    )

    assert answered.status_code == 200
    body = answered.content.decode()
    assert "not found." in body
    _assert_escaped(body)
    assert await ToolCall.objects.filter(status=ToolCallStatus.AWAITING_APPROVAL).acount() == 0


@pytest.fixture
async def admin_user(db: None) -> User:
    admin = await sync_to_async(make_user)("root")
    admin.is_staff = admin.is_superuser = True
    await admin.asave()
    return admin


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/admin/tools/toolcall/{call}/change/", id="tool call change page"),
        pytest.param("/admin/tools/transcriptentry/{entry}/change/", id="transcript entry"),
        # A search term is echoed in the search box and the result count.
        pytest.param("/admin/tools/toolcall/?q={q}", id="tool call search"),
        pytest.param("/admin/a2a/task/?q={q}", id="task search"),
        pytest.param("/admin/a2a/task/{task}/change/", id="task change page (message parts)"),
    ],
)
async def test_the_admin_shows_client_text_escaped(admin_user, pending_script_call, path):
    page = await _logged_in(admin_user)

    first_entry = await TranscriptEntry.objects.filter(task_id=pending_script_call["task"]).afirst()
    assert first_entry is not None
    values = {**pending_script_call, "entry": first_entry.pk, "q": quote(SCRIPT)}

    response = await page.get(path.format(**values))

    assert response.status_code == 200
    body = response.content.decode()
    assert SCRIPT not in body
    # The admin's own pages carry <script> tags, so only the payload itself is looked for.
    assert ESCAPED in body
