"""What ``make run`` prints works as printed: each curl command, run by a shell, as is."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.live.server import LiveServer

pytestmark = pytest.mark.live


def _curl_commands(text: str) -> list[str]:
    """The curl commands in the demo's output, continuation lines joined."""
    commands, current = [], ""
    for line in text.splitlines():
        if line.startswith("curl ") or current:
            current += line
            if line.endswith("\\"):
                current = current[:-1]
                continue
            commands.append(current)
            current = ""
    return commands


def _shell(command: str) -> Any:
    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def test_the_printed_commands_work(assistant_server: LiveServer):
    output = assistant_server.manage("demo", "--port", str(assistant_server.port))

    assert "agent: assistant" in output
    assert "rule-based stand-in" in output
    ask, fetch, pending, approve = _curl_commands(output)

    answered = _shell(ask)
    assert answered["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert "84" in json.dumps(answered)

    waiting = _shell(fetch)["result"]["task"]
    assert waiting["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    listed = _shell(pending)
    ids = [c["id"] for c in listed["results"] if c["task"] == waiting["id"]]
    assert len(ids) == 1

    decided = _shell(approve.replace("TOOL_CALL_ID", ids[0]))
    assert decided["decision"] == "approved"
    key = re.search(r"API key:\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    done = assistant_server.wait_for_state(
        key, waiting["id"], {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, timeout=60
    )
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"
