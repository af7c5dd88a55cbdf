"""Tool sources with real MCP servers (written with the ``mcp`` package): registered at run
time through /api/tools/, called by the assistant (the fake model), versions published,
pinned and retired, and a server stopped mid-call.

The HTTP server is a subprocess on 127.0.0.1; the stdio one is started by webcap for each
session. Jobs are run step by step, as a worker would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from a2a import jobs
from a2a.models import Task, TaskState
from accounts.services import user_ensure
from audit.models import AuditEvent
from tests.factories import make_key, make_user, send
from tests.fakellm import Text, ToolCalls
from tests.tools.mcp_fixtures import STDIO_ARGS, STDIO_COMMAND, McpHttpServer
from tools.models import ToolCall, ToolCallStatus, ToolVersion, VersionState
from tools.registry import Tool, tool_get, tools_available

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mcp_http(settings) -> Iterator[McpHttpServer]:
    settings.WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    server = McpHttpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def manual_jobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    queued: list[str] = []
    monkeypatch.setattr(jobs.task_run_job, "delay", lambda task_id: queued.append(str(task_id)))
    return queued


@pytest.fixture
def admin_client() -> Client:
    admin = user_ensure(username="root", role="admin")
    return Client(headers={"Authorization": f"Bearer {make_key(admin)}"})


def _tool(name: str) -> Tool:
    found = tool_get(name)
    assert found is not None
    return found


def _run(task_id: str) -> Task:
    """Run the task's steps until it stops (a worker taking each queued job)."""
    for _ in range(6):
        jobs.task_run_job.apply(args=(task_id,))
        task = Task.objects.get(pk=task_id)
        if task.state in (TaskState.COMPLETED, TaskState.FAILED, TaskState.INPUT_REQUIRED):
            return task
    return task


def _register(client: Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/tools/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _entry(client: Client, name: str) -> dict[str, Any]:
    response = client.get(f"/api/tools/{name}/")
    assert response.status_code == 200, response.content
    return dict(response.json())


def _offered(fake: Any, request: int = 0) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in fake.requests[request]["tools"]}


@pytest.mark.usefixtures("manual_jobs")
def test_an_mcp_server_over_http_registered_at_run_time_is_called_by_the_assistant(
    fake, mcp_http, admin_client
):
    source = _register(admin_client, name="demo", kind="mcp_http", url=mcp_http.url)
    assert (source["kind"], source["url"], source["created_by"]) == (
        "mcp_http",
        mcp_http.url,
        "root",
    )

    add = _entry(admin_client, "demo__add")
    assert (add["kind"], add["source"]["name"], add["current_version"]) == ("mcp_http", "demo", "1")
    assert (add["requires_approval"], add["added_by"]) == (False, "root")
    assert [(v["number"], v["state"]) for v in add["versions"]] == [(1, "active")]
    assert add["versions"][0]["annotations"] == {"readOnlyHint": True}
    # destructiveHint: calls wait for a person by default.
    assert _entry(admin_client, "demo__delete_note")["requires_approval"] is True
    names = [row["name"] for row in admin_client.get("/api/tools/").json()]
    assert {"echo", "demo__add", "demo__slow", "demo__delete_note"} <= set(names)

    fake.script(ToolCalls([("c1", "demo__add", {"a": 2, "b": 3})]), Text("It is 5."))
    task = _run(str(send(make_user(), "add 2 and 3").task_id))

    assert task.state == TaskState.COMPLETED
    offered = _offered(fake)
    assert offered["demo__add"]["description"] == "Add two integers."
    assert offered["demo__add"]["parameters"]["required"] == ["a", "b"]
    [call] = ToolCall.objects.filter(task=task)
    assert (call.status, call.result, call.tool_version) == (ToolCallStatus.SUCCESS, 5, "1")
    assert call.source_version == ToolVersion.objects.get(offered_name="demo__add", number=1)
    assert fake.requests[1]["messages"][-1]["content"] == '{"result": 5}'
    assert AuditEvent.objects.filter(action="toolsource.register").count() == 1


@pytest.mark.usefixtures("manual_jobs")
def test_an_mcp_server_over_stdio_is_called_and_bad_arguments_are_the_models_to_read(
    fake, admin_client
):
    _register(admin_client, name="local", kind="mcp_stdio", command=STDIO_COMMAND, args=STDIO_ARGS)
    fake.script(
        ToolCalls([("c1", "local__add", {"a": 40, "b": 2}), ("c2", "local__add", {"a": "x"})]),
        Text("42."),
    )
    task = _run(str(send(make_user(), "add").task_id))
    assert task.state == TaskState.COMPLETED
    calls = {c.llm_call_id: c for c in ToolCall.objects.filter(task=task)}
    assert (calls["c1"].status, calls["c1"].result) == (ToolCallStatus.SUCCESS, 42)
    assert calls["c2"].status == ToolCallStatus.ERROR
    assert calls["c2"].error.startswith("invalid arguments: ")


@pytest.mark.usefixtures("manual_jobs")
def test_a_new_version_is_published_pinned_and_retired(fake, mcp_http, admin_client):
    source = _register(admin_client, name="demo", kind="mcp_http", url=mcp_http.url)
    unchanged = admin_client.post(f"/api/tools/sources/{source['id']}/refresh/")
    assert unchanged.json()["result"] == "unchanged"

    mcp_http.restart(variant="2")  # the server's add has a new description
    refreshed = admin_client.post(f"/api/tools/sources/{source['id']}/refresh/").json()
    assert refreshed["result"] == "changed"
    assert [(v["offered_name"], v["number"]) for v in refreshed["versions"]] == [("demo__add", 2)]
    add = _entry(admin_client, "demo__add")
    assert [(v["number"], v["state"]) for v in add["versions"]] == [
        (1, "deprecated"),
        (2, "active"),
    ]
    assert add["current_version"] == "2"
    assert _tool("demo__add").description == "Add two integers and return the sum."

    pinned = admin_client.post(
        "/api/tools/demo__add/pin/", {"version": 1}, content_type="application/json"
    ).json()
    assert (pinned["pinned_version"], pinned["current_version"]) == (1, "1")
    fake.script(ToolCalls([("c1", "demo__add", {"a": 1, "b": 1})]), Text("2."))
    task = _run(str(send(make_user(), "add 1 and 1").task_id))
    assert task.state == TaskState.COMPLETED
    assert _offered(fake)["demo__add"]["description"] == (
        "[deprecated version 1] Add two integers."
    )
    [call] = ToolCall.objects.filter(task=task)
    assert call.source_version is not None
    assert (call.status, call.result, call.source_version.number) == (ToolCallStatus.SUCCESS, 2, 1)
    executed = AuditEvent.objects.get(action="toolcall.execute", target_id=str(call.pk))
    assert executed.extra["versionState"] == "deprecated"

    v1 = ToolVersion.objects.get(offered_name="demo__add", number=1)
    retired = admin_client.post(f"/api/tools/versions/{v1.pk}/retire/")
    assert retired.json()["state"] == "retired"
    assert "demo__add" not in {t.name for t in tools_available()}
    fake.script(ToolCalls([("c1", "demo__add", {"a": 1, "b": 1})]), Text("Retired."))
    task = _run(str(send(make_user(), "add 1 and 1 again").task_id))
    [call] = ToolCall.objects.filter(task=task)
    assert call.status == ToolCallStatus.ERROR
    assert call.error == (
        "demo__add version 1 is retired and is not run; pin another version or remove the pin."
    )
    assert task.state == TaskState.COMPLETED
    again = admin_client.post(f"/api/tools/versions/{v1.pk}/publish/")
    assert again.status_code == 409
    unpinned = admin_client.post(
        "/api/tools/demo__add/pin/", {"version": None}, content_type="application/json"
    ).json()
    assert (unpinned["pinned_version"], unpinned["current_version"]) == (None, "2")
    assert AuditEvent.objects.filter(action="tool.policy").count() == 2
    assert AuditEvent.objects.filter(action="toolversion.state").count() == 1


@pytest.mark.usefixtures("manual_jobs")
def test_a_server_stopped_mid_call_is_a_clear_tool_error_and_the_task_goes_on(
    fake, mcp_http, admin_client
):
    _register(admin_client, name="demo", kind="mcp_http", url=mcp_http.url)
    fake.script(ToolCalls([("c1", "demo__slow", {"seconds": 5})]), Text("The server went away."))
    task_id = str(send(make_user(), "wait").task_id)
    stopper = threading.Timer(1.0, mcp_http.stop)
    stopper.start()
    task = _run(task_id)
    stopper.join()
    assert task.state == TaskState.COMPLETED
    [call] = ToolCall.objects.filter(task=task)
    assert call.status == ToolCallStatus.ERROR
    assert call.error.startswith("MCP server 'demo', tool 'slow': "), call.error
    # The model reads the error and answers.
    assert "MCP server 'demo', tool 'slow': " in fake.requests[1]["messages"][-1]["content"]


def test_disable_and_policy_change_what_the_assistant_is_offered(mcp_http, admin_client):
    _register(admin_client, name="demo", kind="mcp_http", url=mcp_http.url)
    assert _tool("demo__add").needs_approval() is False
    always = admin_client.post(
        "/api/tools/demo__add/policy/", {"approval": "always"}, content_type="application/json"
    )
    assert always.json()["requires_approval"] is True
    assert _tool("demo__add").needs_approval() is True
    assert admin_client.post("/api/tools/echo/disable/").json()["enabled"] is False
    assert "echo" not in {t.name for t in tools_available()}
    assert _tool("echo").refusal == "echo is disabled by an admin."
    assert admin_client.post("/api/tools/echo/enable/").json()["enabled"] is True
    assert "echo" in {t.name for t in tools_available()}
    assert AuditEvent.objects.filter(action="tool.policy").count() == 3


@pytest.mark.parametrize(
    "url",
    ["http://169.254.169.254/mcp", "http://127.0.0.1:9/mcp", "http://10.0.0.1/mcp"],
)
def test_a_private_or_metadata_url_is_refused_without_the_allowlist(url, admin_client):
    response = admin_client.post(
        "/api/tools/",
        {"name": "evil", "kind": "mcp_http", "url": url},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["url"][0].startswith("refused URL: ")
    assert not ToolVersion.objects.exists()


def test_a_server_that_cannot_be_reached_is_not_registered(settings, admin_client):
    settings.WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    response = admin_client.post(
        "/api/tools/",
        {"name": "gone", "kind": "mcp_http", "url": "http://127.0.0.1:9/mcp"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["detail"][0].startswith("could not list the server's tools: ")


def test_drafts_wait_for_an_admin_to_publish_them(settings, mcp_http, admin_client):
    settings.WEBCAP_TOOL_SOURCE_AUTOPUBLISH = False
    source = _register(admin_client, name="demo", kind="mcp_http", url=mcp_http.url)
    mcp_http.restart(variant="2")
    admin_client.post(f"/api/tools/sources/{source['id']}/refresh/")
    draft = ToolVersion.objects.get(offered_name="demo__add", number=2)
    assert draft.state == VersionState.DRAFT
    assert _tool("demo__add").version == "1"
    published = admin_client.post(f"/api/tools/versions/{draft.pk}/publish/").json()
    assert (published["state"], published["published_by"]) == ("active", "root")
    assert _tool("demo__add").version == "2"
