"""The unmodified npm ``capnweb`` client (Node) against a live webcap at /ws/capnweb.

The client is installed by tests/capnweb/node_client.py (``npm ci`` of the pinned lock file
into the ignored .node-capnweb/); every scenario is one run of ``a2a_client.mjs``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.capnweb.node_client import ensure_capnweb, node_binary
from tests.fakellm import FakeLLM, Text, ToolCalls
from tests.live.server import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.interop]

HERE = Path(__file__).resolve().parent
# Long enough that the echo agent (25 ms per chunk) is still running when the client leaves.
LONG_TEXT = " ".join(f"word{n}" for n in range(40))

NodeRun = Callable[..., Any]


@pytest.fixture(scope="module")
def node() -> Callable[[LiveServer], NodeRun]:
    binary = node_binary()
    capnweb_dir = ensure_capnweb()

    def runner(server: LiveServer) -> NodeRun:
        def run(scenario: str, **args: Any) -> Any:
            result = subprocess.run(
                [
                    binary,
                    "--experimental-websocket",
                    str(HERE / "a2a_client.mjs"),
                    str(capnweb_dir),
                    f"ws://127.0.0.1:{server.port}/ws/capnweb",
                    scenario,
                    json.dumps(args),
                ],
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert result.returncode == 0, result.stderr + server.log()[-3000:]
            return json.loads(result.stdout.strip().splitlines()[-1])

        return run

    return runner


@pytest.fixture(scope="module")
def echo(node, webcap_server: LiveServer) -> tuple[NodeRun, str]:
    return node(webcap_server), webcap_server.create_key("capnweb-alice")


def test_pipelined_authenticate_and_card_in_one_round_trip(echo):
    run, key = echo
    out = run("pipeline", key=key)

    assert {
        "url": f"{out['interfaces'][0]['url'].split('/a2a/')[0].replace('http', 'ws')}/ws/capnweb",
        "protocolBinding": "urn:webcap:binding:capnweb:v1",
        "protocolVersion": "1.0",
    } in out["interfaces"]
    frames = out["frames"]
    first_in = next(i for i, (direction, _) in enumerate(frames) if direction == "in")
    sent_first = [message for _, message in frames[:first_in]]
    assert sent_first[:2] == [
        ["push", ["pipeline", 0, ["authenticate"], [{"type": "apiKey", "apiKey": key}]]],
        ["push", ["pipeline", 1, ["getAgentCard"], []]],
    ]
    assert ["pull", 2] in sent_first
    assert out["badAuth"] == {"name": "Error", "message": "Invalid credentials", "code": -32000}
    assert out["badToken"]["code"] == -32000
    assert out["badToken"]["message"].startswith("Invalid credentials: Token refused")
    assert out["anonymous"] == {
        "name": "TypeError",
        "message": "method not found: 'getTask'",
        "code": None,
    }


def _states(summary: dict[str, Any]) -> list[str]:
    return [e["value"] for e in summary["events"] if e["kind"] == "status"]


def test_streaming_callback_sees_the_whole_turn_after_the_call_returned(echo):
    run, key = echo
    out = run("stream", key=key, text="alpha beta gamma")

    events = out["listener"]["events"]
    assert _states(out["listener"]) == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    assert [e["kind"] for e in events] == ["status", "artifact", "artifact", "artifact", "status"]
    assert "".join(e["value"] for e in events if e["kind"] == "artifact") == "alpha beta gamma"
    # The Task (event 1) is what the call returned; the callback gets every event after it.
    assert [e["seq"] for e in events] == [2, 3, 4, 5, 6]
    # The call returned while the task was still running: the turn arrived through the
    # callback afterwards (the first event may race the answer inside the client).
    assert [e["afterReturn"] for e in events][2:] == [True, True, True]
    assert {e["taskId"] for e in events} == {out["taskId"]}
    # The server released the callback once the task ended.
    assert out["listener"]["disposed"] is True
    assert out["isFinalState"] is True
    assert out["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_two_concurrent_streams_on_one_connection(echo):
    run, key = echo
    out = run("concurrent", key=key, texts=["one two three four", "five six"])

    first, second = out["listeners"]
    assert len(set(out["taskIds"])) == 2
    for summary, task_id, text in zip(
        out["listeners"], out["taskIds"], ["one two three four", "five six"], strict=True
    ):
        assert {e["taskId"] for e in summary["events"]} == {task_id}
        assert _states(summary)[-1] == "TASK_STATE_COMPLETED"
        seqs = [e["seq"] for e in summary["events"]]
        assert seqs == list(range(2, 2 + len(seqs)))
        assert "".join(e["value"] for e in summary["events"] if e["kind"] == "artifact") == text
        assert summary["disposed"] is True
    assert len(first["events"]) == 6
    assert len(second["events"]) == 4


def test_a_client_leaving_mid_stream_leaves_the_task_running(echo):
    run, key = echo
    out = run("disconnect", key=key, text=LONG_TEXT)

    assert out["state"] == "TASK_STATE_COMPLETED"
    assert out["answer"] == LONG_TEXT
    # Seen from a second connection: every event is in the log, the terminal one last.
    replay = out["replay"]["events"]
    assert out["seenBeforeClose"] < len(replay)
    assert [e["seq"] for e in replay] == list(range(2, 2 + len(replay)))
    assert _states(out["replay"]) == ["TASK_STATE_WORKING", "TASK_STATE_COMPLETED"]
    assert len(replay) == 2 + len(LONG_TEXT.split())


@pytest.fixture(scope="module")
def assistant(
    node, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[NodeRun, str, FakeLLM]]:
    """A live webcap running the assistant on a scripted model, with a file to read."""
    files = tmp_path_factory.mktemp("capnweb-files")
    (files / "notes.txt").write_text("remember the milk")
    fake = FakeLLM()
    server = LiveServer(
        tmp_path_factory.mktemp("webcap-capnweb"),
        WEBCAP_AGENT="assistant",
        WEBCAP_MODEL="openai/fake-model",
        WEBCAP_MODEL_API_BASE=fake.base_url,
        WEBCAP_MODEL_API_KEY="test-key",
        WEBCAP_FILES_ROOT=str(files),
    )
    try:
        server.start()
        yield node(server), server.create_key("capnweb-carol"), fake
    finally:
        server.stop()
        fake.close()


def test_approving_a_tool_call_resumes_the_task(assistant):
    run, key, fake = assistant
    fake.script(
        ToolCalls([("r1", "read_file", {"path": "notes.txt"})]),
        Text("Your notes say: remember the milk."),
    )
    out = run("approval", key=key, text="read my notes")

    assert out["sentState"] == "TASK_STATE_INPUT_REQUIRED"
    (pending,) = out["pending"]
    assert (pending["tool"], pending["arguments"]) == ("read_file", {"path": "notes.txt"})
    assert out["decision"]["decision"] == "approved"
    assert out["decision"]["reason"] == "fine"
    assert out["state"] == "TASK_STATE_COMPLETED"
    assert "remember the milk" in out["answer"]
    assert out["pendingAfter"] == []
    # The model saw the file's content as the tool's result.
    tool_messages = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_messages[0]["content"]) == {"result": "remember the milk"}
