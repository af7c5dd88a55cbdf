"""The admin as the management dashboard: the task list, a task's page and the analytics page.

Who may open them (anonymous people and non-staff go to the sign-in page, staff without the
permission get 403), what the filters return, that protocol data cannot be edited, that a
task's page shows its bounded trail, and exact per-day numbers on the analytics page.
"""

from __future__ import annotations

import base64
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from a2a.models import Task, TaskState
from a2a.services.tasks import task_artifact_update
from accounts.models import User
from assistant.services import assistant_turn_store
from tests.admin_people import (
    EXPECTED,
    admin_people,
    assert_matrix_answer,
    make_staff,
    signed_in,
)
from tests.factories import make_user, send
from tools.models import LLMCall, ToolCall, ToolCallStatus
from tools.runs import INTERRUPTED
from tools.services import RequestedCall

pytestmark = pytest.mark.django_db

TASKS = "/admin/a2a/task/"
ANALYTICS = "/admin/analytics/"


@pytest.fixture
def people(db: None) -> dict[str, User | None]:
    return admin_people()


@pytest.fixture
def task(db: None) -> Task:
    return Task.objects.get(pk=send(make_user("alice"), "hello admin").task_id)


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("page", ["list", "detail", "analytics"])
def test_authorization_matrix(people, task, who, page):
    path = {"list": TASKS, "detail": f"{TASKS}{task.pk}/change/", "analytics": ANALYTICS}[page]

    response = signed_in(people[who]).get(path)

    assert_matrix_answer(response, who, path)


def test_nothing_of_a_task_can_be_edited_and_only_superusers_delete(people, task):
    before = list(Task.objects.values())
    admin_role = make_staff("ada", "admin")
    for user in (people["operator"], admin_role, people["superuser"]):
        client = signed_in(user)
        assert client.get(f"{TASKS}add/").status_code == 403
        page = client.get(f"{TASKS}{task.pk}/change/")
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        posted = client.post(f"{TASKS}{task.pk}/change/", {"state": "completed"})
        assert posted.status_code == 403
    assert list(Task.objects.values()) == before
    for user in (people["operator"], admin_role):
        assert signed_in(user).get(f"{TASKS}{task.pk}/delete/").status_code == 403
    superuser = signed_in(people["superuser"])
    assert superuser.get(f"{TASKS}{task.pk}/delete/").status_code == 200
    assert superuser.post(f"{TASKS}{task.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Task.objects.filter(pk=task.pk).exists()


def _listed(client: Client, **query: str) -> list[str]:
    response = client.get(TASKS, query)
    assert response.status_code == 200, response.content.decode()[:2000]
    return [str(t.pk) for t in response.context["cl"].result_list]


def _moved(task_id: Any, *, state: str | None = None, created: datetime | None = None) -> str:
    """Set a task's state or creation time (scripted test data) and return its id."""
    fields: dict[str, Any] = {}
    if state is not None:
        fields["state"] = state
    if created is not None:
        fields["created_at"] = created
    Task.objects.filter(pk=task_id).update(**fields)
    return str(task_id)


def test_filters_and_search_return_the_right_tasks(people):
    alice, bob = make_user("alice"), make_user("bob")
    first = send(alice, "one")
    a1 = _moved(first.task_id, state=TaskState.COMPLETED)
    context_key = Task.objects.get(pk=a1).context.key
    a2 = str(send(alice, "two", context_id=context_key).task_id)
    b1 = _moved(send(bob, "three").task_id, created=timezone.now() - timedelta(days=40))
    client = signed_in(people["operator"])

    assert sorted(_listed(client)) == sorted([a1, a2, b1])
    assert _listed(client, state__exact="completed") == [a1]
    assert sorted(_listed(client, owner="alice")) == sorted([a1, a2])
    assert _listed(client, owner="bob", state__exact="submitted") == [b1]
    assert _listed(client, owner="nobody") == []
    assert sorted(_listed(client, context=context_key)) == sorted([a1, a2])
    assert _listed(client, q=a2) == [a2]
    assert _listed(client, q=a2[:8]) == [a2]
    assert sorted(_listed(client, q=context_key)) == sorted([a1, a2])
    old = timezone.localdate() - timedelta(days=40)
    assert _listed(
        client,
        created_at__year=str(old.year),
        created_at__month=str(old.month),
        created_at__day=str(old.day),
    ) == [b1]
    # The text box keeps the other filters (hidden inputs) and shows what was typed.
    body = client.get(TASKS, {"owner": "alice", "state__exact": "completed"}).content.decode()
    assert '<input type="hidden" name="state__exact" value="completed">' in body
    assert 'name="owner" value="alice"' in body
    # The counts next to each choice ("Show counts") work with the text boxes too.
    assert client.get(TASKS, {"_facets": "True", "owner": "alice"}).status_code == 200
    # Very long or odd input is no error.
    assert _listed(client, owner="x" * 5000, context="'\"<>") == []


def test_a_staff_member_without_a_role_lists_only_the_tasks_they_may_read(people):
    sam = people["staff_without_permission"]
    assert sam is not None
    sam.user_permissions.add(Permission.objects.get(codename="view_task"))
    own = str(send(sam, "mine").task_id)
    send(make_user("alice"), "not mine")

    assert _listed(signed_in(User.objects.get(pk=sam.pk))) == [own]


def test_the_list_shows_the_columns_without_a_query_per_row(people, django_assert_max_num_queries):
    owners = [make_user(f"owner{i}") for i in range(5)]
    for i in range(50):
        send(owners[i % 5], f"task {i}")
    client = signed_in(people["superuser"])
    client.get(TASKS)  # warm the session and content types

    with django_assert_max_num_queries(8):
        response = client.get(TASKS)

    assert len(response.context["cl"].result_list) == 50
    body = response.content.decode()
    assert "owner4" in body
    assert "so far" in body  # the duration of tasks still open


def _picture(task: Task, data: bytes, *, append: bool = False) -> None:
    part = {"raw": base64.b64encode(data).decode(), "mediaType": "image/png", "filename": "p.png"}
    task_artifact_update(
        task_id=task.id,
        artifact={"artifactId": "picture", "name": "picture", "parts": [part]},
        append=append,
        last_chunk=True,
    )


@pytest.mark.usefixtures("artifact_folder")
def test_a_task_page_shows_messages_artifacts_calls_and_events(people, task, monkeypatch):
    _picture(task, b"first version")
    _picture(task, b"second version")  # replaces: version 2, version 1 kept
    assistant_turn_store(
        task=task,
        text="",
        requested=[RequestedCall("c1", "read_file", '{"path": "notes.txt"}')],
    )
    call = ToolCall.objects.get(task=task)
    LLMCall.objects.create(task=task, model="m", prompt_tokens=11, completion_tokens=4)
    task.refresh_from_db()
    files = {f.version: f for f in task.artifact_files.all()}

    response = signed_in(people["operator"]).get(f"{TASKS}{task.pk}/change/")

    assert response.status_code == 200
    trail = response.context["trail"]
    assert [m["summary"] for m in trail["messages"]] == ["hello admin"]
    [artifact] = trail["artifacts"]
    assert artifact["row"].version == 2
    assert [f.pk for f in artifact["files"]] == [files[2].pk]
    assert [(v["row"].version, [f.pk for f in v["files"]]) for v in artifact["versions"]] == [
        (1, [files[1].pk])
    ]
    assert [c["row"].pk for c in trail["tool_calls"]] == [call.pk]
    assert [e.seq for e in trail["events"]] == list(range(1, task.last_seq + 1))
    assert trail["usage"]["prompt_tokens"] == 11
    body = response.content.decode()
    assert f'href="/a2a/files/{files[2].pk}"' in body
    assert f'href="/a2a/files/{files[1].pk}"' in body
    assert f'href="/admin/tools/toolcall/{call.pk}/change/"' in body
    assert f"Event log ({task.last_seq})" in body
    assert "read_file" in body
    assert "notes.txt" in body
    # The operator may download the file the link names.
    download = signed_in(people["operator"]).get(f"/a2a/files/{files[2].pk}")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"second version"  # type: ignore[attr-defined]


def test_a_task_page_shows_only_the_newest_events(people, task, monkeypatch):
    monkeypatch.setattr("a2a.admin.DETAIL_LIMIT", 2)
    for text in ("a", "b", "c"):
        _picture(task, text.encode(), append=False)
    task.refresh_from_db()
    assert task.last_seq > 2

    response = signed_in(people["superuser"]).get(f"{TASKS}{task.pk}/change/")

    trail = response.context["trail"]
    assert [e.seq for e in trail["events"]] == [task.last_seq - 1, task.last_seq]
    assert f"Event log ({task.last_seq}, the newest 2 shown)" in response.content.decode()


# --- Analytics --------------------------------------------------------------------------------


def _at(day: Any, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


def _call(task: Task, tool: str, arguments: str, created: datetime, **fields: Any) -> None:
    _, [call] = assistant_turn_store(
        task=task, text="", requested=[RequestedCall("", tool, arguments)]
    )
    ToolCall.objects.filter(pk=call.pk).update(created_at=created, **fields)


def _llm(prompt: int, completion: int, created: datetime, **fields: Any) -> None:
    row = LLMCall.objects.create(
        model="m", prompt_tokens=prompt, completion_tokens=completion, **fields
    )
    LLMCall.objects.filter(pk=row.pk).update(created_at=created)


@pytest.fixture
def scripted(db: None, files_folder: Path) -> dict[str, Any]:
    """Tasks, tool calls and model calls over yesterday and today, and one 3 days ago."""
    (files_folder / "a.txt").write_text("a")  # read_file asks a person about files that exist
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    alice = make_user("alice")
    tasks = []
    for day, hour, state in [
        (yesterday, 1, TaskState.COMPLETED),
        (yesterday, 23, TaskState.COMPLETED),
        (yesterday, 12, TaskState.FAILED),
        (today, 0, TaskState.WORKING),
        (today, 0, TaskState.COMPLETED),
        (today - timedelta(days=3), 12, TaskState.CANCELED),
    ]:
        task_id = _moved(send(alice, "x").task_id, state=state, created=_at(day, hour))
        tasks.append(Task.objects.get(pk=task_id))
    calc, read = ("calculator", '{"expression": "1+1"}'), ("read_file", '{"path": "a.txt"}')
    _call(tasks[0], *calc, _at(yesterday, 2), status=ToolCallStatus.SUCCESS)
    _call(tasks[0], *read, _at(yesterday, 3), status="cancelled", decision="rejected")
    _call(tasks[3], *read, _at(today, 0))  # awaiting approval
    _call(tasks[3], *calc, _at(today, 0), status="error", error=f"{INTERRUPTED}: twice")
    _call(tasks[4], *calc, _at(today, 0), status="error", error="the tool failed")
    _call(tasks[4], *calc, _at(today, 0), status="cancelled")
    _call(tasks[5], *calc, _at(today - timedelta(days=3), 1), status="success")
    _llm(100, 10, _at(yesterday, 5), task=tasks[0])
    _llm(50, 5, _at(yesterday, 6), outcome="timeout")
    _llm(7, 3, _at(today, 0), task=tasks[3])
    _llm(1000, 1000, _at(today - timedelta(days=3), 1))
    return {"today": today, "yesterday": yesterday}


def _by_day(series: Any) -> dict[Any, dict[str, int]]:
    """The non-zero values of a series by day (days without any row left out)."""
    return {
        day: {key: n for key, n in values.items() if n}
        for day, values in series.values.items()
        if any(values.values())
    }


def test_analytics_counts_each_day_exactly(people, scripted, django_assert_max_num_queries):
    today, yesterday = scripted["today"], scripted["yesterday"]
    client = signed_in(people["operator"])
    client.get(ANALYTICS)  # warm the session

    # The session, the person, the roles, the permissions, then one query per series.
    with django_assert_max_num_queries(8):
        response = client.get(ANALYTICS, {"days": "2"})

    assert response.status_code == 200
    tasks, calls, tokens = response.context["series"]
    assert tasks.days == (yesterday, today)
    assert _by_day(tasks) == {
        yesterday: {"completed": 2, "failed": 1},
        today: {"working": 1, "completed": 1},
    }
    assert _by_day(calls) == {
        yesterday: {"success": 1, "rejected": 1},
        today: {"pending": 1, "interrupted": 1, "error": 1, "cancelled": 1},
    }
    assert _by_day(tokens) == {
        yesterday: {"prompt": 150, "completion": 15},
        today: {"prompt": 7, "completion": 3},
    }
    assert tasks.totals()["completed"] == 3
    body = response.content.decode()
    assert f"<td>{yesterday:%Y-%m-%d}</td>" in body
    assert 'style="width: 100%"' in body  # the busiest day's bar


def test_analytics_window_and_bad_days(people, scripted):
    client = signed_in(people["superuser"])
    thirty = client.get(ANALYTICS)
    assert thirty.status_code == 200
    assert len(thirty.context["series"][0].days) == 30
    assert thirty.context["series"][0].totals()["canceled"] == 1  # 3 days ago
    assert client.get(ANALYTICS, {"days": "366"}).status_code == 200
    for bad in ("0", "367", "-1", "abc", "", "1e3"):
        response = client.get(ANALYTICS, {"days": bad})
        assert response.status_code == 400, bad
        assert "days must be a whole number from 1 to 366." in response.content.decode()


def test_analytics_counts_only_what_the_viewer_may_read(people, scripted):
    sam = people["staff_without_permission"]
    assert sam is not None
    sam.user_permissions.add(Permission.objects.get(codename="view_task"))
    send(sam, "mine")

    response = signed_in(User.objects.get(pk=sam.pk)).get(ANALYTICS, {"days": "1"})

    assert response.status_code == 200
    tasks, calls, tokens = response.context["series"]
    assert _by_day(tasks) == {scripted["today"]: {"submitted": 1}}
    assert _by_day(calls) == {}
    assert _by_day(tokens) == {}


def test_the_admin_index_links_to_the_dashboard(people):
    operator = signed_in(people["operator"]).get("/admin/").content.decode()
    assert f'href="{ANALYTICS}"' in operator
    assert 'href="/admin/tools/toolcall/?status__exact=awaiting-approval"' in operator
    bare = signed_in(people["staff_without_permission"]).get("/admin/").content.decode()
    assert ANALYTICS not in bare
