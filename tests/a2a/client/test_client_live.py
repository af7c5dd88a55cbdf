"""The A2A client against a real webcap (the shared echo server) over both bindings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from a2a.client import (
    HTTP_JSON,
    JSONRPC,
    A2AClient,
    AuthenticationFailed,
    ClientOptions,
    Credentials,
    StreamEvent,
    TaskNotCancelable,
    TaskNotFound,
    UnsafeURL,
    UnsupportedOperation,
    cache_max_age,
    card_fetch,
    interface_select,
)
from a2a.protocol.types import (
    AgentInterface,
    SendMessageConfiguration,
    Task,
    TaskPushNotificationConfig,
)
from common.netguard import guarded_async_client
from tests.factories import wire_message
from tests.live.server import LiveServer

pytestmark = pytest.mark.live

BINDINGS = [JSONRPC, HTTP_JSON]
# The shared server's echo agent pauses 25 ms per word: 40 words run about a second.
LONG = " ".join(f"w{i}" for i in range(40))


def _options(server: LiveServer, credentials: Credentials | None = None) -> ClientOptions:
    """Options that let the SSRF guard reach this server (its port only)."""
    return ClientOptions(credentials=credentials, allowed_hosts=(f"127.0.0.1:{server.port}",))


@pytest.fixture(params=BINDINGS)
async def agent(request, webcap_server: LiveServer, live_keys) -> AsyncIterator[A2AClient]:
    """A client of the live server on one binding, as alice."""
    client = await A2AClient.connect(
        webcap_server.url,
        _options(webcap_server, Credentials.bearer(live_keys["alice"])),
        preference=[(request.param, "1.0")],
    )
    assert client.interface.protocol_binding == request.param
    async with client:
        yield client


async def _task(agent: A2AClient, text: str, *, immediately: bool = False) -> Task:
    configuration = SendMessageConfiguration(return_immediately=immediately)
    task = await agent.send_message(wire_message(text), configuration=configuration)
    assert isinstance(task, Task)
    return task


def _text(events: list[StreamEvent]) -> str:
    return "".join(
        part.text or ""
        for e in events
        if e.response.artifact_update is not None
        for part in e.response.artifact_update.artifact.parts
    )


async def test_card_fetch_revalidates_with_etag(webcap_server: LiveServer):
    async with guarded_async_client(allowed_hosts=_options(webcap_server).allowed_hosts) as http:
        first = await card_fetch(http, webcap_server.url)
        again = await card_fetch(http, first.url, etag=first.etag)
        by_date = await card_fetch(http, first.url, last_modified=first.last_modified)
    assert first.card is not None
    # The JSON as served, signatures and all, for verify_card; and the card's freshness.
    assert first.raw is not None
    assert first.raw["name"] == first.card.name
    assert first.raw["signatures"]
    assert first.max_age == 300
    assert again.raw is None
    assert first.url == f"{webcap_server.url}/.well-known/agent-card.json"
    assert first.etag
    assert first.last_modified
    assert (again.not_modified, again.etag) == (True, first.etag)
    assert by_date.not_modified
    chosen = interface_select(first.card)
    assert (chosen.protocol_binding, chosen.url) == (JSONRPC, f"{webcap_server.url}/a2a/jsonrpc")
    rest = interface_select(first.card, [(HTTP_JSON, "1.0")])
    assert rest.url == f"{webcap_server.url}/a2a/rest"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("public, max-age=300", 300),
        ('max-age="60"', 60),
        ("max-age=-5", 0),
        ("max-age=soon", None),
        ("private, no-cache", 0),
        ("no-store, max-age=600", 0),
    ],
)
def test_cache_max_age_reads_cache_control(header, seconds):
    assert cache_max_age(header) == seconds


async def test_send_returns_the_finished_task(agent: A2AClient):
    task = await _task(agent, "hello there")
    assert task.status.state == "TASK_STATE_COMPLETED"
    assert [p.text for a in task.artifacts or [] for p in a.parts] == ["hello", " there"]


async def test_stream_is_whole_and_in_order(agent: A2AClient):
    events = [e async for e in agent.send_streaming_message(wire_message("one two three"))]
    assert [e.kind for e in events] == [
        "task",
        "statusUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "statusUpdate",
    ]
    assert _text(events) == "one two three"
    ids = [int(e.event_id or "") for e in events]
    assert ids == sorted(set(ids))
    assert events[-1].final
    last = events[-1].response.status_update
    assert last is not None
    assert last.status.state == "TASK_STATE_COMPLETED"


async def test_get_and_list(agent: A2AClient):
    task = await _task(agent, "listed task")
    got = await agent.get_task(task.id, history_length=1)
    assert (got.id, got.status.state) == (task.id, "TASK_STATE_COMPLETED")
    assert len(got.history or []) == 1
    page = await agent.list_tasks(context_id=task.context_id, include_artifacts=True)
    assert [t.id for t in page.tasks] == [task.id]
    assert (page.total_size, page.next_page_token) == (1, "")
    assert page.tasks[0].artifacts
    completed = await agent.list_tasks(status="TASK_STATE_COMPLETED", page_size=1)
    assert len(completed.tasks) == 1


async def test_cancel_a_running_task_then_it_is_not_cancelable(agent: A2AClient):
    task = await _task(agent, LONG, immediately=True)
    canceled = await agent.cancel_task(task.id)
    assert canceled.status.state == "TASK_STATE_CANCELED"
    with pytest.raises(TaskNotCancelable) as refused:
        await agent.cancel_task(task.id)
    assert refused.value.code == -32002
    assert refused.value.reason == "TASK_NOT_CANCELABLE"
    assert refused.value.metadata.get("taskId", task.id) == task.id


async def test_unknown_task_is_task_not_found(agent: A2AClient):
    with pytest.raises(TaskNotFound) as missing:
        await agent.get_task("no-such-task")
    assert missing.value.reason == "TASK_NOT_FOUND"
    assert "GetTask at http://127.0.0.1:" in str(missing.value)


async def test_extended_card_the_server_does_not_declare_is_unsupported(agent: A2AClient):
    assert agent.card is not None
    assert not agent.card.capabilities.extended_agent_card
    with pytest.raises(UnsupportedOperation, match="no extended agent card"):
        await agent.get_extended_card()


async def test_subscribe_to_a_finished_task_is_unsupported(agent: A2AClient):
    task = await _task(agent, "done")
    with pytest.raises(UnsupportedOperation):
        [e async for e in agent.subscribe_to_task(task.id)]


async def test_resume_after_a_dropped_stream_misses_and_repeats_nothing(agent: A2AClient):
    task = await _task(agent, LONG, immediately=True)
    first: list[StreamEvent] = []
    stream = agent.subscribe_to_task(task.id)
    async for event in stream:
        first.append(event)
        if len(first) == 5:
            break
    await stream.aclose()  # the connection is dropped mid-task
    assert first[0].kind == "task"
    rest = [e async for e in agent.subscribe_to_task(task.id, last_event_id=first[-1].event_id)]
    ids = [int(e.event_id or "") for e in first[1:] + rest]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # contiguous: no gap, no repeat
    assert rest[-1].final
    # The snapshot holds the chunks sent before it; the updates after it hold the rest.
    snapshot = first[0].response.task
    assert snapshot is not None
    before = "".join(p.text or "" for a in snapshot.artifacts or [] for p in a.parts)
    assert before + _text(first[1:] + rest) == LONG


async def test_push_config_round_trip(agent: A2AClient):
    task = await _task(agent, "push")
    created = await agent.create_push_config(
        TaskPushNotificationConfig(task_id=task.id, url="http://127.0.0.1:9/hook", token="t")
    )
    assert created.id
    assert created.task_id == task.id
    got = await agent.get_push_config(task.id, created.id)
    assert got.url == "http://127.0.0.1:9/hook"
    assert [c.id for c in await agent.list_push_configs(task.id)] == [created.id]
    await agent.delete_push_config(task.id, created.id)
    assert await agent.list_push_configs(task.id) == []


@pytest.mark.parametrize("binding", BINDINGS)
async def test_bad_key_is_an_authentication_error_without_the_key(
    webcap_server: LiveServer, binding: str
):
    secret = "wck_not-a-real-key-0123456789"
    async with await A2AClient.connect(
        webcap_server.url,
        _options(webcap_server, Credentials.api_key(secret)),
        preference=[(binding, "1.0")],
    ) as client:
        with pytest.raises(AuthenticationFailed) as refused:
            await client.get_task("anything")
        assert refused.value.http_status == 401
        assert secret not in str(refused.value)
        assert secret not in repr(refused.value)
        assert secret not in repr(client)
        assert secret not in repr(client.options)
        assert "***" in repr(Credentials.api_key(secret))


async def test_loopback_without_allowlist_and_metadata_address_are_refused(
    webcap_server: LiveServer,
):
    with pytest.raises(UnsafeURL, match=r"host 127\.0\.0\.1 is a loopback address"):
        await A2AClient.connect(webcap_server.url)
    with pytest.raises(UnsafeURL, match=r"169\.254\.169\.254 is a link-local address"):
        await A2AClient.connect("http://169.254.169.254/")


async def test_a2a_0_3_jsonrpc_send_stream_get_cancel(webcap_server: LiveServer, live_keys):
    interface = AgentInterface(
        url=f"{webcap_server.url}/a2a/jsonrpc", protocol_binding=JSONRPC, protocol_version="0.3"
    )
    async with A2AClient(
        interface, _options(webcap_server, Credentials.bearer(live_keys["alice"]))
    ) as agent:
        task = await _task(agent, "old times")
        assert task.status.state == "TASK_STATE_COMPLETED"
        assert [m.role for m in task.history or []][:1] == ["ROLE_USER"]
        assert "".join(p.text or "" for a in task.artifacts or [] for p in a.parts) == "old times"
        got = await agent.get_task(task.id, history_length=0)
        assert (got.id, got.history) == (task.id, None)

        events = [e async for e in agent.send_streaming_message(wire_message("a b"))]
        assert [e.kind for e in events] == [
            "task",
            "statusUpdate",
            "artifactUpdate",
            "artifactUpdate",
            "statusUpdate",
        ]
        assert _text(events) == "a b"
        assert events[-1].final

        running = await _task(agent, LONG, immediately=True)
        assert (await agent.cancel_task(running.id)).status.state == "TASK_STATE_CANCELED"
        with pytest.raises(TaskNotCancelable):
            await agent.cancel_task(running.id)
        with pytest.raises(TaskNotFound):
            await agent.get_task("no-such-task")
