"""Idempotency keys of tool calls: one stable key per call, counted attempts, the
Idempotency-Key header of http_request, and what runs again after a crash.

A worker that dies while a tool runs leaves its call ``executing``. The tests play that
worker: they claim the call and run the tool once, as the dead worker did, then let the next
step (a new worker) recover it. The model is the fake OpenAI server on 127.0.0.1, the
downstream of http_request a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from a2a import jobs
from a2a.models import Task, TaskState
from audit.models import AuditEvent
from tests.factories import make_user, send
from tests.fakellm import Text, ToolCalls
from tests.tools.downstream import Downstream
from tools import registry
from tools.checks import tools_configured
from tools.models import ToolCall, ToolCallStatus
from tools.registry import CallContext, calling, current_call, tool, tool_get
from tools.runs import MAX_ATTEMPTS, _claim, _execute, _finish_if_executing
from tools.services import tool_call_decide

pytestmark = pytest.mark.django_db(transaction=True)

# What each run of the keyed tools saw: (label, the call it served).
RUNS: list[tuple[str, CallContext | None]] = []
# Holds the slow tool until the test ends.
SLOW = threading.Event()


@pytest.fixture
def keyed_tool() -> Iterator[None]:
    """Register tools with side effects that record the call they serve: ``keyed`` (at
    most once unless configured), ``keyed_retry`` (declares ``retry_with_key``) and ``slow``
    (runs out of its 0.3 s)."""
    RUNS.clear()
    SLOW.clear()
    registry.tools_load()  # the built-ins first: they register once per process
    before = dict(registry.REGISTRY)

    @tool(description="Change something, recording the call.", side_effects=True)
    def keyed(label: str) -> str:
        RUNS.append((label, current_call()))
        return f"changed {label}"

    @tool(description="Change something safely again.", side_effects=True, retry_with_key=True)
    def keyed_retry(label: str) -> str:
        RUNS.append((label, current_call()))
        return f"changed {label}"

    @tool(description="Change something slowly.", side_effects=True, timeout=0.3)
    def slow(label: str) -> str:
        RUNS.append((label, current_call()))
        SLOW.wait(timeout=10)
        return f"changed {label}"

    yield
    SLOW.set()
    registry.REGISTRY.clear()
    registry.REGISTRY.update(before)


def _step(task_id: str) -> None:
    jobs.task_run_job.apply(args=(task_id,))


def _killed_mid_run(task_id: str) -> ToolCall:
    """Play the worker that claimed the task's call, ran its tool, and died before storing."""
    [scheduled] = ToolCall.objects.filter(task_id=task_id, status=ToolCallStatus.SCHEDULED)
    call = _claim(scheduled.pk)
    assert call is not None
    found = tool_get(call.tool)
    assert found is not None
    context = CallContext(
        call_id=str(call.pk),
        task_id=str(call.task_id),
        idempotency_key=call.idempotency_key,
        attempt=call.attempts,
    )
    with calling(context):
        found.run(found.validate(call.arguments))
    return call


def _started(fake: Any, tool_name: str) -> str:
    """A task whose model asked for one call of tool_name, stored and scheduled."""
    fake.script(ToolCalls([("k1", tool_name, {"label": "order"})]), Text("Done."))
    task_id = str(send(make_user(), "change something").task_id)
    _step(task_id)  # the model turn: the call is stored, scheduled
    return task_id


# --- The key and the attempts ---------------------------------------------------------------------


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_each_call_has_its_own_key_and_one_attempt_per_run(fake):
    fake.script(
        ToolCalls([("k1", "keyed", {"label": "a"}), ("k2", "keyed", {"label": "b"})]),
        Text("Both done."),
    )
    owner = make_user()
    task_id = str(send(owner, "change two things").task_id)
    _step(task_id)
    stored = {c.llm_call_id: c.idempotency_key for c in ToolCall.objects.filter(task_id=task_id)}
    assert all(c.attempts == 0 for c in ToolCall.objects.filter(task_id=task_id))

    _step(task_id)  # runs both
    _step(task_id)  # the answer

    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    calls = {c.llm_call_id: c for c in ToolCall.objects.filter(task_id=task_id)}
    assert {k: (c.status, c.attempts) for k, c in calls.items()} == {
        "k1": (ToolCallStatus.SUCCESS, 1),
        "k2": (ToolCallStatus.SUCCESS, 1),
    }
    assert {k: c.idempotency_key for k, c in calls.items()} == stored  # never changes
    assert len(set(stored.values())) == 2
    seen = dict(RUNS)
    assert set(seen) == {"a", "b"}
    for label, llm_id in (("a", "k1"), ("b", "k2")):
        assert seen[label] == CallContext(
            call_id=str(calls[llm_id].pk),
            task_id=task_id,
            idempotency_key=stored[llm_id],
            attempt=1,
        )
        context = seen[label]
        assert context is not None
        assert context.caller == owner.username  # on whose behalf the call runs
    assert current_call() is None  # nothing leaks out of the tool's run


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_by_default_an_interrupted_call_with_effects_is_not_run_again(fake):
    task_id = _started(fake, "keyed")
    killed = _killed_mid_run(task_id)

    _step(task_id)  # the new worker: recovers the call without running it, asks the model

    call = ToolCall.objects.get(pk=killed.pk)
    assert (call.status, call.attempts) == (ToolCallStatus.ERROR, 1)
    assert call.error == (
        "interrupted by a restart before it finished; not run again because it may have had effects"
    )
    assert [(label, c.attempt if c else None) for label, c in RUNS] == [("order", 1)]
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    [executed] = AuditEvent.objects.filter(action="toolcall.execute", target_id=str(call.pk))
    assert (executed.outcome, executed.extra["error"]) == ("failure", call.error)


@pytest.mark.parametrize(
    ("tool_name", "configured"),
    [("keyed", ["keyed"]), ("keyed_retry", [])],
    ids=["WEBCAP_TOOLS_RETRY_WITH_KEY", "retry_with_key"],
)
@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_an_opted_in_call_runs_again_with_the_same_key(fake, settings, tool_name, configured):
    settings.WEBCAP_TOOLS_RETRY_WITH_KEY = configured
    task_id = _started(fake, tool_name)
    killed = _killed_mid_run(task_id)

    _step(task_id)  # recovered and run again
    _step(task_id)  # the answer

    call = ToolCall.objects.get(pk=killed.pk)
    assert (call.status, call.attempts, call.result) == (
        ToolCallStatus.SUCCESS,
        2,
        "changed order",
    )
    assert call.idempotency_key == killed.idempotency_key
    assert [(label, c.idempotency_key, c.attempt) for label, c in RUNS if c] == [
        ("order", killed.idempotency_key, 1),
        ("order", killed.idempotency_key, 2),
    ]
    assert Task.objects.get(pk=task_id).state == TaskState.COMPLETED
    [executed] = AuditEvent.objects.filter(action="toolcall.execute", target_id=str(call.pk))
    assert (executed.outcome, executed.extra["attempt"]) == ("success", 2)


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_a_call_interrupted_too_often_is_not_run_again(fake):
    task_id = _started(fake, "keyed_retry")
    ToolCall.objects.filter(task_id=task_id).update(
        status=ToolCallStatus.EXECUTING, attempts=MAX_ATTEMPTS
    )

    _step(task_id)

    call = ToolCall.objects.get(task_id=task_id)
    assert call.status == ToolCallStatus.ERROR
    assert call.error == (
        f"interrupted by a restart before it finished; not run again: interrupted "
        f"{MAX_ATTEMPTS} times"
    )
    assert RUNS == []


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_two_workers_claiming_one_call_run_it_once(fake):
    task_id = _started(fake, "keyed")
    [call] = ToolCall.objects.filter(task_id=task_id)
    ready = threading.Barrier(2, timeout=10)

    def worker() -> None:
        ready.wait()  # both claim at the same moment
        _execute(call.pk)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    call.refresh_from_db()
    assert (call.status, call.attempts) == (ToolCallStatus.SUCCESS, 1)
    assert [(label, c.attempt if c else None) for label, c in RUNS] == [("order", 1)]
    # A third claim, after the call ended, does nothing either.
    _execute(call.pk)
    assert len(RUNS) == 1


@pytest.mark.usefixtures("keyed_tool")
def test_the_late_result_of_a_recovered_attempt_is_ignored(fake, manual_jobs, settings):
    settings.WEBCAP_TOOLS_RETRY_WITH_KEY = ["keyed"]
    task_id = _started(fake, "keyed")
    stale = _killed_mid_run(task_id)  # attempt 1 "died" (its worker only stalled)
    # The new worker recovers and claims attempt 2; attempt 1 then reports late.
    ToolCall.objects.filter(pk=stale.pk).update(status=ToolCallStatus.SCHEDULED)
    assert _claim(stale.pk) is not None
    assert not _finish_if_executing(
        stale, attempt=1, status=ToolCallStatus.ERROR, error="late failure"
    )
    assert _finish_if_executing(stale, attempt=2, status=ToolCallStatus.SUCCESS, result="ok")
    call = ToolCall.objects.get(pk=stale.pk)
    assert (call.status, call.attempts, call.result) == (ToolCallStatus.SUCCESS, 2, "ok")


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_a_run_again_that_times_out_is_audited_with_its_attempt(fake, settings):
    settings.WEBCAP_TOOLS_RETRY_WITH_KEY = ["slow"]
    task_id = _started(fake, "slow")
    # Attempt 1 was cut off by a crash.
    ToolCall.objects.filter(task_id=task_id).update(status=ToolCallStatus.EXECUTING, attempts=1)

    _step(task_id)  # recovered, claimed as attempt 2, out of time

    call = ToolCall.objects.get(task_id=task_id)
    assert (call.status, call.attempts, call.error) == (
        ToolCallStatus.ERROR,
        2,
        "timed out after 0.3 s",
    )
    assert [(label, c.attempt if c else None) for label, c in RUNS] == [("order", 2)]
    [executed] = AuditEvent.objects.filter(action="toolcall.execute", target_id=str(call.pk))
    assert (executed.outcome, executed.extra["attempt"]) == ("failure", 2)


def test_the_retry_setting_names_known_tools(settings):
    settings.WEBCAP_TOOLS_RETRY_WITH_KEY = ["http_request", "teleport"]
    assert [(e.id, e.msg) for e in tools_configured(None)] == [
        (
            "webcap.E011",
            "WEBCAP_TOOLS_RETRY_WITH_KEY names tools this server does not have: teleport.",
        )
    ]
    found = tool_get("http_request")
    assert found is not None
    assert found.retries_with_key()
    settings.WEBCAP_TOOLS_RETRY_WITH_KEY = []
    assert not found.retries_with_key()


# --- The Idempotency-Key header of http_request -------------------------------------------------


@pytest.fixture
def downstream(settings) -> Iterator[Downstream]:
    """The system http_request changes, on 127.0.0.1."""
    server = Downstream()
    settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    yield server
    server.close()


def _http(url: str, method: str) -> Any:
    found = tool_get("http_request")
    assert found is not None
    return found.run(found.validate({"url": url, "method": method, "body": None}))


def test_http_request_sends_the_key_on_methods_with_effects(downstream):
    context = CallContext(
        call_id="c", task_id="t", idempotency_key="8e03978e-40d5-43e8-bc93-6894a57f9324", attempt=2
    )
    with calling(context):
        for method in ("POST", "PUT", "PATCH", "DELETE", "GET", "HEAD"):
            assert _http(downstream.url, method)["status"] == 200

    # draft-ietf-httpapi-idempotency-key-header §2: an sf-string, so in double quotes.
    assert [(s.method, s.headers.get("idempotency-key")) for s in downstream.seen] == [
        ("POST", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'),
        ("PUT", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'),
        ("PATCH", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'),
        ("DELETE", '"8e03978e-40d5-43e8-bc93-6894a57f9324"'),
        ("GET", None),
        ("HEAD", None),
    ]


def test_http_request_outside_a_call_sends_no_key(downstream):
    assert _http(downstream.url, "POST")["status"] == 200
    assert [(s.method, s.headers.get("idempotency-key")) for s in downstream.seen] == [
        ("POST", None)
    ]


def test_an_approved_post_carries_its_stored_key(fake, downstream, manual_jobs):
    fake.script(
        ToolCalls(
            [("k1", "http_request", {"url": downstream.url, "method": "POST", "body": "{}"})]
        ),
        Text("Posted."),
    )
    user = make_user()
    task_id = str(send(user, "post an order").task_id)
    _step(task_id)  # the model turn: the call waits for a person
    call = ToolCall.objects.get(task_id=task_id)
    assert call.status == ToolCallStatus.AWAITING_APPROVAL
    tool_call_decide(user=user, tool_call_id=str(call.pk), approved=True)
    assert manual_jobs == [task_id, task_id]  # queued again once decided
    _step(task_id)

    call.refresh_from_db()
    assert (call.status, call.attempts) == (ToolCallStatus.SUCCESS, 1)
    assert [(s.method, s.headers.get("idempotency-key"), s.body) for s in downstream.seen] == [
        ("POST", f'"{call.idempotency_key}"', b"{}")
    ]


@pytest.mark.usefixtures("keyed_tool", "manual_jobs")
def test_the_api_shows_and_the_admin_finds_a_call_by_its_key(fake, client):
    fake.script(ToolCalls([("k1", "keyed", {"label": "a"}), ("k2", "keyed", {"label": "b"})]))
    user = make_user()
    task_id = str(send(user, "change two things").task_id)
    _step(task_id)
    call, other = ToolCall.objects.filter(task_id=task_id).order_by("position")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)

    shown = client.get(f"/api/tool-calls/{call.pk}/").json()
    assert (shown["idempotency_key"], shown["attempts"]) == (call.idempotency_key, 0)
    listing = client.get("/admin/tools/toolcall/", {"q": call.idempotency_key})
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert [c.pk for c in listing.context["cl"].result_list] == [call.pk]
    assert str(other.pk) not in listing.content.decode()
