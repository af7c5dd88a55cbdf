"""ListTasks and resuming streams from the event log, over the JSON-RPC binding."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from a2a.models import Task
from a2a.services.tasks import task_transition
from tests.a2a.conftest import sse_frames
from tests.factories import message_params

pytestmark = pytest.mark.django_db(transaction=True)


async def _send(rpc, key, text="hello world", **kwargs):
    return (await rpc("SendMessage", message_params(text, **kwargs), key=key)).json()["result"][
        "task"
    ]


async def _list(rpc, key, **params):
    body = (await rpc("ListTasks", params, key=key)).json()
    assert "result" in body, body
    return body["result"]


# --- ListTasks ---------------------------------------------------------------------------------


async def test_list_is_owner_scoped_newest_first_with_totals(rpc, api_key, other_api_key):
    ids = [(await _send(rpc, api_key, f"task {i}"))["id"] for i in range(3)]
    await _send(rpc, other_api_key, "not yours")
    result = await _list(rpc, api_key)
    assert [t["id"] for t in result["tasks"]] == list(reversed(ids))
    assert (result["nextPageToken"], result["pageSize"], result["totalSize"]) == ("", 50, 3)
    assert all("artifacts" not in t for t in result["tasks"])
    assert result["tasks"][0]["history"][0]["parts"] == [{"text": "task 2"}]


async def test_paging_walks_every_task_once_even_with_inserts_between_pages(rpc, api_key):
    ids = [(await _send(rpc, api_key, f"t{i}"))["id"] for i in range(5)]
    first = await _list(rpc, api_key, pageSize=2)
    assert [t["id"] for t in first["tasks"]] == [ids[4], ids[3]]
    assert first["nextPageToken"]
    assert (first["pageSize"], first["totalSize"]) == (2, 5)
    newcomer = (await _send(rpc, api_key, "late"))["id"]
    second = await _list(rpc, api_key, pageSize=2, pageToken=first["nextPageToken"])
    assert [t["id"] for t in second["tasks"]] == [ids[2], ids[1]]
    third = await _list(rpc, api_key, pageSize=2, pageToken=second["nextPageToken"])
    assert [t["id"] for t in third["tasks"]] == [ids[0]]
    assert third["nextPageToken"] == ""
    assert third["totalSize"] == 6
    assert newcomer not in {t["id"] for page in (second, third) for t in page["tasks"]}


async def test_page_exactly_full_has_no_next_token(rpc, api_key):
    for i in range(2):
        await _send(rpc, api_key, f"t{i}")
    result = await _list(rpc, api_key, pageSize=2)
    assert (len(result["tasks"]), result["nextPageToken"]) == (2, "")


async def test_filters(rpc, api_key, settings):
    a = await _send(rpc, api_key, "in context", context_id="ctx-a")
    b = await _send(rpc, api_key, "elsewhere")
    settings.CELERY_TASK_ALWAYS_EAGER = False
    c = (
        await rpc(
            "SendMessage",
            message_params("waiting", configuration={"returnImmediately": True}),
            key=api_key,
        )
    ).json()["result"]["task"]
    await sync_to_async(task_transition)(task_id=c["id"], state="input-required")

    assert [t["id"] for t in (await _list(rpc, api_key, contextId="ctx-a"))["tasks"]] == [a["id"]]
    assert [
        t["id"] for t in (await _list(rpc, api_key, status="TASK_STATE_INPUT_REQUIRED"))["tasks"]
    ] == [c["id"]]
    completed = await _list(rpc, api_key, status="TASK_STATE_COMPLETED")
    assert {t["id"] for t in completed["tasks"]} == {a["id"], b["id"]}
    assert completed["totalSize"] == 2
    assert (await _list(rpc, api_key, status="TASK_STATE_UNSPECIFIED"))["totalSize"] == 3

    await Task.objects.filter(pk=a["id"]).aupdate(
        status_timestamp=timezone.now() - timedelta(days=2)
    )
    after = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    recent = await _list(rpc, api_key, statusTimestampAfter=after)
    assert {t["id"] for t in recent["tasks"]} == {b["id"], c["id"]}


async def test_artifacts_and_history_options(rpc, api_key):
    task = await _send(rpc, api_key, "one two")
    with_artifacts = (await _list(rpc, api_key, includeArtifacts=True, historyLength=0))["tasks"][0]
    assert with_artifacts["artifacts"] == task["artifacts"]
    assert "history" not in with_artifacts
    assert len((await _list(rpc, api_key, historyLength=1))["tasks"][0]["history"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 101}, "pageSize"),
        ({"pageToken": "forged"}, "pageToken"),
        ({"historyLength": -1}, "historyLength"),
        ({"status": "DONE"}, "status"),
        ({"statusTimestampAfter": "yesterday"}, "statusTimestampAfter"),
        ({"statusTimestampAfter": "2026-01-01T00:00:00"}, "statusTimestampAfter"),
    ],
)
async def test_invalid_list_params(rpc, api_key, params, field):
    error = (await rpc("ListTasks", params, key=api_key)).json()["error"]
    assert error["code"] == -32602
    assert field in error["message"]


async def test_another_users_page_token_lists_only_your_own_tasks(rpc, api_key, other_api_key):
    for i in range(3):
        await _send(rpc, api_key, f"a{i}")
    token = (await _list(rpc, api_key, pageSize=1))["nextPageToken"]
    result = await _list(rpc, other_api_key, pageToken=token)
    assert (result["tasks"], result["totalSize"]) == ([], 0)


# --- Resuming streams ----------------------------------------------------------------------------


async def test_resume_with_last_event_id_replays_exactly_the_missed_events(rpc, api_key):
    task = await _send(rpc, api_key, "a b c")  # events 1..6, completed
    response = await rpc(
        "SubscribeToTask", {"id": task["id"]}, key=api_key, headers={"Last-Event-ID": "3"}
    )
    frames = await sse_frames(response)
    assert [f["id"] for f in frames] == ["4", "5", "6"]
    assert frames[-1]["data"]["result"]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"


async def test_resume_of_a_finished_stream_with_nothing_missed_is_an_error(rpc, api_key):
    # Not an empty stream: a JSON-RPC client needs a response, and an EventSource would
    # reconnect after an empty stream forever; a JSON answer stops it.
    task = await _send(rpc, api_key, "a")
    response = await rpc(
        "SubscribeToTask", {"id": task["id"]}, key=api_key, headers={"Last-Event-ID": "4"}
    )
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == -32004
    assert "nothing more to send" in error["message"]


async def test_resume_needs_a_numeric_last_event_id(rpc, api_key):
    task = await _send(rpc, api_key, "a")
    body = (
        await rpc(
            "SubscribeToTask", {"id": task["id"]}, key=api_key, headers={"Last-Event-ID": "x"}
        )
    ).json()
    assert body["error"]["code"] == -32602
    assert "Last-Event-ID" in body["error"]["message"]


async def test_resume_of_another_users_task_is_not_found(rpc, api_key, other_api_key):
    task = await _send(rpc, api_key, "a")
    body = (
        await rpc(
            "SubscribeToTask", {"id": task["id"]}, key=other_api_key, headers={"Last-Event-ID": "1"}
        )
    ).json()
    assert body["error"]["code"] == -32001


async def test_lastEventSeq_param_resumes_too(rpc, api_key):
    task = await _send(rpc, api_key, "a b")
    response = await rpc("SubscribeToTask", {"id": task["id"], "lastEventSeq": 4}, key=api_key)
    frames = await sse_frames(response)
    assert [f["id"] for f in frames] == ["5"]


async def test_resending_a_streaming_follow_up_with_last_event_id_resumes_it(
    rpc, api_key, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the first turn is left waiting for input
    task = await _send(rpc, api_key, "a", configuration={"returnImmediately": True})
    await sync_to_async(task_transition)(task_id=task["id"], state="input-required")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    params = message_params("x y", message_id="answer-1", task_id=task["id"])
    # Events: 1 task, 2 input-required, 3 submitted (the answer), 4 working, 5-6 chunks,
    # 7 completed. The job ran before the stream opened, so it starts with a final snapshot.
    first = await sse_frames(await rpc("SendStreamingMessage", params, key=api_key))
    assert [f["id"] for f in first] == ["7"]
    assert first[0]["data"]["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    again = await sse_frames(
        await rpc("SendStreamingMessage", params, key=api_key, headers={"Last-Event-ID": "4"})
    )
    assert [f["id"] for f in again] == ["5", "6", "7"]
    assert await Task.objects.acount() == 1
