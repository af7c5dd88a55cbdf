"""A remote that answers garbage, refuses, or never answers gives the model a clear tool
error, and the task ends: the assistant in-process (eager jobs), the remote a tiny local
HTTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from a2a.models import Task, TaskState
from a2a.services.tasks import SendResult, message_send
from audit.models import AuditEvent
from remote_agents.models import Delegation, RemoteAgent
from tests.factories import make_user, wire_message
from tools.models import ToolCall, ToolCallStatus

pytestmark = pytest.mark.django_db(transaction=True)


class _Remote(BaseHTTPRequestHandler):
    """POST answers by path: /garbage (not JSON), /refuse (a JSON-RPC error), /silent."""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if self.path.startswith("/silent"):
            time.sleep(3)
            return
        if self.path.startswith("/refuse"):
            error = {"code": -32004, "message": "no streaming here"}
            body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}).encode()
            content_type = "application/json"
        else:
            body, content_type = b"<html>hello</html>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def remote() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def assistant(settings: Any) -> None:
    settings.WEBCAP_AGENT, settings.WEBCAP_MODEL = "assistant", ""
    settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS = ["127.0.0.1"]


def _delegate_to(remote: str, path: str) -> tuple[Task, ToolCall]:
    RemoteAgent.objects.create(
        name="r",
        card_url=f"{remote}/.well-known/agent-card.json",
        interface_url=f"{remote}{path}",
        interface_binding="JSONRPC",
        interface_version="1.0",
        approval_policy="never",
        request_timeout_seconds=2,
        stream_idle_seconds=1,
        task_timeout_seconds=2,
    )
    result = message_send(owner=make_user(), message=wire_message("ask r to do it"))
    assert isinstance(result, SendResult)
    task = Task.objects.get(pk=result.task_id)
    [call] = ToolCall.objects.filter(task=task)
    return task, call


@pytest.mark.usefixtures("assistant")
@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/garbage", "r answered something that is not valid A2A"),
        ("/refuse", "r refused the message (unsupported operation)"),
        ("/silent", "r could not be reached or did not answer in time"),
    ],
)
def test_a_bad_remote_is_a_clear_tool_error_and_the_task_ends(remote, path, error):
    started = time.monotonic()
    task, call = _delegate_to(remote, path)
    assert time.monotonic() - started < 15
    assert task.state == TaskState.COMPLETED
    assert call.status == ToolCallStatus.ERROR
    assert call.error.startswith(error), call.error
    [delegation] = Delegation.objects.all()
    assert delegation.finished_at is not None
    assert delegation.error == call.error
    # The delegate call's audit rows name the agent; the delegation's own row how it ended.
    executed = AuditEvent.objects.get(action="toolcall.execute")
    assert executed.extra["agent"] == "r"
    assert executed.extra["delegationId"] == str(delegation.id)
    ended = AuditEvent.objects.get(target_type="remote_agents.delegation")
    assert (ended.outcome, ended.extra["agent"]) == ("failure", "r")
