"""webcap's metrics after a scripted workload: exact increments, every family of the contract.

Each test reads /metrics before and after its workload (the values are process-wide and other
tests move them too) and asserts the difference.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from a2a.models import DeliveryStatus, PushDelivery, TaskState
from tests.a2a.conftest import sse_frames
from tests.factories import message_params, rpc_send_task
from tests.fakellm import Text, ToolCalls
from tests.tools import conftest as tools_fixtures
from tests.webhook import WebhookReceiver
from tools.models import LLMCall

pytestmark = pytest.mark.django_db(transaction=True)

# The scripted OpenAI-compatible model of the tools tests (tests/tools/conftest.py).
fake = tools_fixtures.fake

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

# Every family of the contract (docs/operations.md, "Metrics"), by the name the parser gives
# it (counters without "_total"), and django-prometheus's request families.
FAMILIES = {
    "webcap_a2a_requests",
    "webcap_a2a_request_duration_seconds",
    "webcap_tasks",
    "webcap_task_oldest_age_seconds",
    "webcap_task_transitions",
    "webcap_task_duration_seconds",
    "webcap_tool_calls",
    "webcap_tool_call_duration_seconds",
    "webcap_approval_wait_seconds",
    "webcap_approvals_pending",
    "webcap_open_streams",
    "webcap_stream_disconnects",
    "webcap_stream_overflows",
    "webcap_llm_requests",
    "webcap_llm_request_duration_seconds",
    "webcap_llm_tokens",
    "webcap_llm_cost_usd",
    "webcap_push_deliveries",
    "webcap_jobs",
    "webcap_job_duration_seconds",
    "webcap_queue_depth",
    "webcap_worker_heartbeat_timestamp_seconds",
    "webcap_process_resident_memory_bytes",
    "webcap_process_cpu_seconds_total",
    "webcap_build_info",
    "django_http_requests_total_by_view_transport_method",
    "django_http_responses_total_by_status_view_method",
    "django_http_requests_latency_seconds_by_view_method",
}


async def scrape(async_client: Any) -> tuple[set[str], Samples]:
    """GET /metrics; return the family names and every sample by (name, labels)."""
    response = await async_client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.content.decode()))
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }
    return {family.name for family in families}, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_a2a_calls_tasks_and_jobs_are_counted_exactly(async_client, rpc, api_key):
    _, before = await scrape(async_client)
    first = await rpc_send_task(rpc, api_key, "hello metrics")
    second = await rpc_send_task(rpc, api_key, "and again")
    rest = await async_client.post(
        "/a2a/rest/message:send",
        data=json.dumps(message_params("over rest")),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"},
    )
    assert rest.status_code == 200
    missing = await rpc("GetTask", {"id": "00000000-0000-4000-8000-000000000000"}, key=api_key)
    assert missing.json()["error"]["code"] == -32001
    unknown = await rpc("NoSuchMethod", {}, key=api_key)
    assert unknown.json()["error"]["code"] == -32601
    _, after = await scrape(async_client)

    assert first["status"]["state"] == second["status"]["state"] == "TASK_STATE_COMPLETED"
    requests = "webcap_a2a_requests_total"
    assert delta(before, after, requests, method="SendMessage", binding="jsonrpc", code="ok") == 2
    assert delta(before, after, requests, method="SendMessage", binding="rest", code="ok") == 1
    assert delta(before, after, requests, method="GetTask", binding="jsonrpc", code="-32001") == 1
    assert delta(before, after, requests, method="unknown", binding="jsonrpc", code="-32601") == 1
    duration = "webcap_a2a_request_duration_seconds_count"
    assert delta(before, after, duration, method="SendMessage", binding="jsonrpc") == 2
    assert delta(before, after, duration, method="GetTask", binding="jsonrpc") == 1

    transitions = "webcap_task_transitions_total"
    assert delta(before, after, transitions, from_state="submitted", to_state="working") == 3
    assert delta(before, after, transitions, from_state="working", to_state="completed") == 3
    assert delta(before, after, "webcap_task_duration_seconds_count", state="completed") == 3
    assert delta(before, after, "webcap_jobs_total", job="task_run_job", outcome="success") == 3
    assert delta(before, after, "webcap_job_duration_seconds_count", job="task_run_job") == 3
    assert value(after, "webcap_tasks", state="completed") == 3
    assert value(after, "webcap_tasks", state="working") == 0
    assert value(after, "webcap_task_oldest_age_seconds", state="working") == 0
    assert value(after, "webcap_build_info", version="0.1.0", mode="embedded") == 1


async def test_sse_streams_are_counted_open_then_complete(async_client, rpc, api_key):
    _, before = await scrape(async_client)
    response = await rpc("SendStreamingMessage", message_params("stream me"), key=api_key)
    frames = await sse_frames(response)
    _, after = await scrape(async_client)
    assert frames[-1]["data"]["result"]["statusUpdate"]["status"]["state"] == (
        "TASK_STATE_COMPLETED"
    )
    assert (
        delta(before, after, "webcap_stream_disconnects_total", binding="sse", reason="complete")
        == 1
    )
    assert value(after, "webcap_open_streams", binding="sse") == value(
        before, "webcap_open_streams", binding="sse"
    )
    requests = "webcap_a2a_requests_total"
    assert (
        delta(before, after, requests, method="SendStreamingMessage", binding="jsonrpc", code="ok")
        == 1
    )


async def test_push_deliveries_are_counted_by_outcome(async_client, rpc, api_key, settings):
    hook = WebhookReceiver()
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    try:
        _, before = await scrape(async_client)
        params = message_params(
            "a b", configuration={"taskPushNotificationConfig": {"url": hook.url}}
        )
        task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
        _, after = await scrape(async_client)
    finally:
        hook.close()
    delivered = await PushDelivery.objects.filter(
        task_id=task["id"], status=DeliveryStatus.DELIVERED
    ).acount()
    assert delivered > 0
    assert delta(before, after, "webcap_push_deliveries_total", outcome="delivered") == delivered
    assert delta(before, after, "webcap_push_deliveries_total", outcome="failed") == 0


async def test_tool_call_with_approval_and_model_calls(
    async_client, rpc, api_key, fake, settings, tmp_path
):
    (tmp_path / "notes.txt").write_text("remember the milk")
    settings.WEBCAP_FILES_ROOT = str(tmp_path)
    fake.script(ToolCalls([("r1", "read_file", {"path": "notes.txt"})]), Text("Milk."))
    _, before = await scrape(async_client)
    task = await rpc_send_task(rpc, api_key, "read my notes")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    _, waiting = await scrape(async_client)
    assert value(waiting, "webcap_approvals_pending") == 1
    assert value(waiting, "webcap_tasks", state=TaskState.INPUT_REQUIRED) == 1
    pending = task["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    approved = await async_client.post(
        f"/api/tool-calls/{pending[0]['toolCallId']}/approve/",
        headers={"Authorization": f"Bearer {api_key}"},
        content_type="application/json",
    )
    assert approved.status_code == 200
    _, after = await scrape(async_client)

    assert value(after, "webcap_approvals_pending") == 0
    tool = {"tool": "read_file"}
    assert delta(before, after, "webcap_tool_calls_total", **tool, outcome="success") == 1
    assert delta(before, after, "webcap_tool_call_duration_seconds_count", **tool) == 1
    assert (
        delta(before, after, "webcap_approval_wait_seconds_count", **tool, decision="approved") == 1
    )
    model = {"model": "openai/fake-model"}
    assert delta(before, after, "webcap_llm_requests_total", **model, outcome="ok") == 2
    assert delta(before, after, "webcap_llm_request_duration_seconds_count", **model) == 2
    calls = [call async for call in LLMCall.objects.filter(task_id=task["id"])]
    prompt = sum(call.prompt_tokens for call in calls)
    completion = sum(call.completion_tokens for call in calls)
    assert prompt > 0
    assert completion > 0
    assert delta(before, after, "webcap_llm_tokens_total", **model, kind="prompt") == prompt
    assert delta(before, after, "webcap_llm_tokens_total", **model, kind="completion") == completion
    transitions = "webcap_task_transitions_total"
    assert delta(before, after, transitions, from_state="working", to_state="input-required") == 1
    assert delta(before, after, transitions, from_state="input-required", to_state="submitted") == 1


async def test_a_rejected_call_and_a_canceled_wait_are_counted(async_client, rpc, api_key, fake):
    fake.script(
        ToolCalls([("h1", "http_request", {"url": "https://example.com"})]),
        ToolCalls([("h2", "http_request", {"url": "https://example.com"})]),
        Text("Not fetched."),
    )
    _, before = await scrape(async_client)
    first = await rpc_send_task(rpc, api_key, "fetch it")
    pending = first["status"]["message"]["parts"][1]["data"]["pendingToolCalls"]
    rejected = await async_client.post(
        f"/api/tool-calls/{pending[0]['toolCallId']}/reject/",
        {"reason": "no"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert rejected.status_code == 200
    second = (await rpc("GetTask", {"id": first["id"]}, key=api_key)).json()["result"]
    assert second["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    await rpc("CancelTask", {"id": first["id"]}, key=api_key)
    _, after = await scrape(async_client)
    tool = {"tool": "http_request"}
    assert delta(before, after, "webcap_tool_calls_total", **tool, outcome="rejected") == 1
    assert delta(before, after, "webcap_tool_calls_total", **tool, outcome="cancelled") == 1
    wait = "webcap_approval_wait_seconds_count"
    assert delta(before, after, wait, **tool, decision="rejected") == 1
    assert delta(before, after, wait, **tool, decision="expired") == 1
    assert delta(before, after, "webcap_task_duration_seconds_count", state="canceled") == 1


async def test_every_family_of_the_contract_is_exposed(async_client, rpc, api_key, fake, settings):
    from observability.jobs import worker_heartbeat_job

    fake.script(Text("Hi."))
    await rpc_send_task(rpc, api_key, "hello")
    await async_client.get("/health")
    worker_heartbeat_job.delay()
    # A tool call, an approval wait and a stream, so their families have samples.
    fake.script(ToolCalls([("c1", "http_request", {"url": "https://example.com"})]))
    waiting = await rpc_send_task(rpc, api_key, "fetch")
    await rpc("CancelTask", {"id": waiting["id"]}, key=api_key)
    fake.script(ToolCalls([("c2", "calculator", {"expression": "1+1"})]), Text("2"))
    await rpc_send_task(rpc, api_key, "add")
    await sse_frames(await rpc("SendStreamingMessage", message_params("x"), key=api_key))
    hook = WebhookReceiver()
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    try:
        fake.script(Text("pushed"))
        params = message_params(
            "p", configuration={"taskPushNotificationConfig": {"url": hook.url}}
        )
        await rpc("SendMessage", params, key=api_key)
    finally:
        hook.close()
    names, samples = await scrape(async_client)
    assert FAMILIES - names == set()
    assert value(samples, "webcap_queue_depth", queue="celery") == 0
    assert value(samples, "webcap_worker_heartbeat_timestamp_seconds") > 0
    assert value(samples, "webcap_process_resident_memory_bytes", role="web") > 0
