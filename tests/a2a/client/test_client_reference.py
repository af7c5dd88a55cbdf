"""The A2A client against a server nobody here wrote: a2a-sdk 1.3.0's (bench/reference)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from a2a.client import HTTP_JSON, JSONRPC, A2AClient, ClientOptions
from a2a.protocol.types import Task
from bench.servers import Reference
from tests.factories import wire_message

pytestmark = [pytest.mark.live, pytest.mark.interop]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """The reference server in .venv-bench-reference (made from its lock file if missing)."""
    server = Reference(Path(tmp_path_factory.mktemp("reference")))
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("binding", [JSONRPC, HTTP_JSON])
async def test_send_stream_and_get_against_the_sdk_server(reference: Reference, binding: str):
    options = ClientOptions(allowed_hosts=(f"127.0.0.1:{reference.port}",))
    async with await A2AClient.connect(
        reference.url, options, preference=[(binding, "1.0")]
    ) as agent:
        assert agent.interface.protocol_binding == binding
        task = await agent.send_message(wire_message("alpha beta"))
        assert isinstance(task, Task)
        assert task.status.state == "TASK_STATE_COMPLETED"

        events = [e async for e in agent.send_streaming_message(wire_message("one two three"))]
        kinds = [e.kind for e in events]
        assert kinds[0] == "task"
        assert kinds[-1] == "statusUpdate"
        assert events[-1].final
        chunks = [
            part.text
            for e in events
            if e.response.artifact_update is not None
            for part in e.response.artifact_update.artifact.parts
        ]
        assert "".join(c or "" for c in chunks) == "one two three"

        got = await agent.get_task(task.id)
        assert (got.id, got.status.state) == (task.id, "TASK_STATE_COMPLETED")
        assert "".join(p.text or "" for a in got.artifacts or [] for p in a.parts) == "alpha beta"
