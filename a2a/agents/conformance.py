"""The conformance agent: the scripted behaviours the A2A TCK drives by messageId prefix.

The TCK (a2aproject/a2a-tck, branch 1.0-dev) sends messages whose ``messageId`` starts with
a scenario name, e.g. ``tck-complete-task-3fa85f64``; its ``scenarios/*.feature`` files say
what each must do. The longest matching prefix wins (``tck-artifact-file-url`` before
``tck-artifact-file``). Unknown prefixes complete at once, naming the id. Run it with
``WEBCAP_AGENT=conformance`` (and ``WEBCAP_PUBLIC_AGENT_USER``, since the TCK sends no
credentials); ``docs/conformance.md`` has the whole procedure.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from a2a.agents.base import Agent, TaskRun, TaskStopped
from a2a.protocol import types as wire

TEXT_FILE = {"raw": "dGNr", "mediaType": "text/plain", "filename": "output.txt"}  # b"tck"
URL_FILE = {
    "url": "https://example.com/output.txt",
    "mediaType": "text/plain",
    "filename": "output.txt",
}
# How long the task meant for subscribe/resubscribe tests stays working, in seconds.
SLOW_TASK_SECONDS = 4.0


def _artifact(run: TaskRun, part: dict[str, Any]) -> None:
    run.artifact(artifact_id=str(uuid.uuid4()), parts=[part])


def _complete(run: TaskRun) -> None:
    run.complete("Hello from TCK")


def _artifact_then_complete(part: dict[str, Any]) -> Callable[[TaskRun], None]:
    def scenario(run: TaskRun) -> None:
        _artifact(run, part)
        run.complete()

    return scenario


def _stream(part: dict[str, Any]) -> Callable[[TaskRun], None]:
    def scenario(run: TaskRun) -> None:
        run.working()
        _artifact(run, part)
        run.complete()

    return scenario


def _stream_chunked(run: TaskRun) -> None:
    run.working()
    artifact_id = str(uuid.uuid4())
    run.artifact(artifact_id=artifact_id, parts=[{"text": "chunk-1 "}])
    run.artifact(artifact_id=artifact_id, parts=[{"text": "chunk-2"}], append=True, last_chunk=True)
    run.complete()


def _slow(run: TaskRun) -> None:
    run.working()
    deadline = time.monotonic() + SLOW_TASK_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if run.state() != "working":
            raise TaskStopped("canceled while waiting")
    run.complete()


SCENARIOS: dict[str, Callable[[TaskRun], None]] = {
    "tck-complete-task": _complete,
    "tck-artifact-text": _artifact_then_complete({"text": "Generated text content"}),
    "tck-artifact-file-url": _artifact_then_complete(URL_FILE),
    "tck-artifact-file": _artifact_then_complete(TEXT_FILE),
    "tck-artifact-data": _artifact_then_complete({"data": {"key": "value", "count": 42}}),
    "tck-input-required": lambda run: run.input_required(),
    "tck-reject-task": lambda run: run.reject("rejected"),
    "tck-stream-001": _stream({"text": "Stream hello from TCK"}),
    "tck-stream-002": lambda run: run.complete(),
    "tck-stream-003": _stream({"text": "Stream task lifecycle"}),
    "tck-stream-ordering-001": _stream({"text": "Ordered output"}),
    "tck-stream-artifact-text": _stream({"text": "Streamed text content"}),
    "tck-stream-artifact-file": _stream(TEXT_FILE),
    "tck-stream-artifact-chunked": _stream_chunked,
    "test-resubscribe-message-id": _slow,
}
# Longest first, so a prefix never shadows a longer one that starts with it.
PREFIXES = sorted(SCENARIOS, key=len, reverse=True)
DIRECT_REPLY_PREFIX = "tck-message-response"


def scenario_for(message_id: str) -> str | None:
    """Return the scenario prefix a messageId selects, if any."""
    return next((prefix for prefix in PREFIXES if message_id.startswith(prefix)), None)


class ConformanceAgent(Agent):
    name = "conformance"
    description = "Scripted behaviours for the A2A conformance kit, chosen by messageId prefix."
    skills = [
        {
            "id": "tck-scenarios",
            "name": "TCK scenarios",
            "description": "Completes, asks for input, rejects, streams and returns artifacts "
            "of every part kind, as the A2A TCK's scenario files define by messageId prefix.",
            "tags": ["conformance", "tck", "test"],
            "examples": ["messageId tck-complete-task-1", "messageId tck-artifact-file-2"],
        }
    ]
    input_modes = ["text/plain", "application/json"]
    output_modes = ["text/plain", "application/json"]
    # The messageId names the scenario, not the message: the kit sends the same one (with
    # other text) for every task of a scenario in a run, each meant as new work.
    repeated_message_id_is_retry = False

    def reply(self, message: wire.Message) -> list[dict[str, Any]] | None:
        if message.message_id.startswith(DIRECT_REPLY_PREFIX):
            return [{"text": "Direct message response"}]
        return None

    def run(self, run: TaskRun) -> None:
        latest = run.latest_user_message()
        message_id = latest.message_id if latest is not None else ""
        prefix = scenario_for(message_id)
        if prefix is None:
            run.complete(f"Unhandled messageId prefix: {message_id}")
            return
        SCENARIOS[prefix](run)
