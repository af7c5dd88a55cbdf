"""Delegation between real processes on 127.0.0.1: webcap A (the assistant on the offline
model) delegates to webcap B (echo, slow), webcap C (the assistant, which asks before it
reads a file) and the a2a-sdk 1.3.0 reference server, through A's real SSE endpoint."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.servers import Reference
from tests.live.server import LiveServer
from tests.live.sse import sse_events, stream_request

pytestmark = [pytest.mark.live]

META = "webcap.delegation"
FINAL = {
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_INPUT_REQUIRED",
}


@dataclass
class Net:
    a: LiveServer
    b: LiveServer
    c: LiveServer
    reference: Reference
    alice: str  # A's caller
    b_key: str  # what A stores for B (user from-a on B)
    c_key: str  # what A stores for C (user from-a on C)
    op_a: str  # operators, who read the audit logs
    op_c: str


def _register(server: LiveServer, operator: str, **body: Any) -> None:
    response = httpx.post(
        f"{server.url}/api/agents/",
        json=body,
        headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def _card(server: LiveServer | Reference) -> str:
    return f"{server.url}/.well-known/agent-card.json"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
    files = tmp_path_factory.mktemp("c-files")
    (files / "notes.txt").write_text("the launch code is swordfish\n")
    local = {"WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS": "127.0.0.1"}
    # A short run lease: after A is killed, its restart takes the task over within seconds.
    a = LiveServer(
        tmp_path_factory.mktemp("a"),
        WEBCAP_AGENT="assistant",
        WEBCAP_RUN_LEASE_SECONDS="3",
        **local,
    )
    b = LiveServer(tmp_path_factory.mktemp("b"), WEBCAP_AGENT="echo", WEBCAP_ECHO_DELAY_MS="250")
    c = LiveServer(
        tmp_path_factory.mktemp("c"),
        WEBCAP_AGENT="assistant",
        WEBCAP_FILES_ROOT=str(files),
        **local,
    )
    reference = Reference(Path(tmp_path_factory.mktemp("reference")))
    with ThreadPoolExecutor(4) as pool:
        for started in [pool.submit(s.start) for s in (a, b, c, reference)]:
            started.result()
    try:
        operator_a = a.manage("apikey", "create", "ops", "--create-user", "--role", "operator")
        operator_c = c.manage("apikey", "create", "ops", "--create-user", "--role", "operator")
        op_a, op_c = operator_a.strip().splitlines()[-1], operator_c.strip().splitlines()[-1]
        net = Net(
            a=a,
            b=b,
            c=c,
            reference=reference,
            alice=a.create_key("alice"),
            b_key=b.create_key("from-a"),
            c_key=c.create_key("from-a"),
            op_a=op_a,
            op_c=op_c,
        )
        # A and C are federated: each calls the other with a key of its own account there,
        # and each knows which of its accounts is the other's (client_user).
        from_c_key = a.create_key("from-c")
        timeouts = {"task_timeout_seconds": 30, "stream_idle_seconds": 10}
        for name, server, key, policy, client_user in [
            ("b", b, net.b_key, "never", None),
            ("b2", b, net.b_key, "untrusted", None),
            ("c", c, net.c_key, "never", "from-c"),
        ]:
            _register(
                a,
                op_a,
                name=name,
                card_url=_card(server),
                approval_policy=policy,
                credential_kind="bearer",
                credential_secret=key,
                client_user=client_user,
                **timeouts,
            )
        _register(a, op_a, name="ref", card_url=_card(reference), approval_policy="never")
        _register(
            c,
            op_c,
            name="a",
            card_url=_card(a),
            approval_policy="never",
            credential_kind="bearer",
            credential_secret=from_c_key,
            client_user="from-a",
            **timeouts,
        )
        yield net
    finally:
        for server in (a, b, c):
            server.stop()
        reference.stop()


def _message(text: str, **extra: Any) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "role": "ROLE_USER", "parts": [{"text": text}], **extra}


def _stream(server: LiveServer, key: str, text: str) -> list[tuple[float, dict[str, Any]]]:
    """SendStreamingMessage; return (seconds since sent, StreamResponse) until it closes."""
    started = time.monotonic()
    received = []
    with stream_request(server.url, key, "SendStreamingMessage", {"message": _message(text)}) as r:
        assert r.status_code == 200
        for event in sse_events(r):
            received.append((time.monotonic() - started, event["data"]["result"]))
    return received


def _answer(task: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in task["artifacts"][-1]["parts"])


def _send(server: LiveServer, key: str, text: str, **extra: Any) -> dict[str, Any]:
    body = server.rpc(key, "SendMessage", {"message": _message(text, **extra)})
    assert "result" in body, body
    task: dict[str, Any] = body["result"]["task"]
    return task


def _send_now(server: LiveServer, key: str, text: str) -> dict[str, Any]:
    """SendMessage with returnImmediately: the task as created, while it runs."""
    params = {"message": _message(text), "configuration": {"returnImmediately": True}}
    task: dict[str, Any] = server.rpc(key, "SendMessage", params)["result"]["task"]
    return task


def _wait_artifact(server: LiveServer, key: str, task_id: str, prefix: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = server.rpc(key, "GetTask", {"id": task_id})["result"]
        for artifact in task.get("artifacts", []):
            if artifact["artifactId"].startswith(prefix):
                found: dict[str, Any] = artifact
                return found
        time.sleep(0.1)
    raise AssertionError(f"no artifact {prefix}* on {task_id}")


def test_a_streams_bs_chunks_in_order_while_b_works_with_their_origin(net: Net):
    events = _stream(net.a, net.alice, "ask b to one two three four five")
    chunks = [(t, e["artifactUpdate"]) for t, e in events if "artifactUpdate" in e]
    forwarded = [(t, u) for t, u in chunks if u["artifact"]["artifactId"] == "b/echo"]
    assert [u["artifact"]["parts"][0]["text"] for _, u in forwarded] == [
        "one",
        " two",
        " three",
        " four",
        " five",
    ]
    assert [bool(u.get("append")) for _, u in forwarded] == [False, True, True, True, True]
    assert forwarded[-1][1]["lastChunk"] is True
    origin = forwarded[0][1]["artifact"]["metadata"][META]
    assert origin["agent"] == "b"
    assert origin["remoteArtifactId"] == "echo"
    # While B works: its chunks reach A's client one by one (B waits 250 ms per word).
    assert forwarded[-1][0] - forwarded[0][0] > 0.6
    statuses = [e["statusUpdate"]["status"] for _, e in events if "statusUpdate" in e]
    working = [
        s for s in statuses if s.get("message", {}).get("metadata", {}).get(META, {}).get("agent")
    ]
    assert working
    assert working[0]["message"]["parts"][0]["text"] == "b is working."
    assert statuses[-1]["state"] == "TASK_STATE_COMPLETED"
    task = net.a.rpc(net.alice, "GetTask", {"id": events[0][1]["task"]["id"]})["result"]
    assert _answer(task) == "b answered: one two three four five"

    # Only the key A stores for B went to B: B's task belongs to that key's user.
    remote_task_id = origin["remoteTaskId"]
    on_b = net.b.rpc(net.b_key, "GetTask", {"id": remote_task_id})
    assert on_b["result"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (
        net.b.rpc(net.b.create_key("someone"), "GetTask", {"id": remote_task_id})["error"]["code"]
        == -32001
    )


def test_bs_question_reaches_as_client_and_the_answer_reaches_b(net: Net):
    events = _stream(net.a, net.alice, "ask c to read notes.txt")
    last = events[-1][1]["statusUpdate"]["status"]
    assert last["state"] == "TASK_STATE_INPUT_REQUIRED"
    question = last["message"]
    assert question["parts"][0]["text"].startswith("c asks: ")
    assert "read_file" in question["parts"][0]["text"]
    remote = question["metadata"][META]
    assert (remote["agent"], remote["remoteState"]) == ("c", "TASK_STATE_INPUT_REQUIRED")
    on_c = net.c.rpc(net.c_key, "GetTask", {"id": remote["remoteTaskId"]})["result"]
    assert on_c["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"

    task_id = events[0][1]["task"]["id"]
    answered = _send(net.a, net.alice, "yes", taskId=task_id)
    assert answered["status"]["state"] == "TASK_STATE_COMPLETED", answered
    assert "swordfish" in _answer(answered)
    on_c = net.c.rpc(net.c_key, "GetTask", {"id": remote["remoteTaskId"]})["result"]
    assert on_c["status"]["state"] == "TASK_STATE_COMPLETED"


def test_cancelling_as_task_cancels_bs(net: Net):
    words = " ".join(f"w{i}" for i in range(40))
    task = _send_now(net.a, net.alice, f"ask b to {words}")
    artifact = _wait_artifact(net.a, net.alice, task["id"], "b/")
    remote_task_id = artifact["metadata"][META]["remoteTaskId"]
    canceled = net.a.rpc(net.alice, "CancelTask", {"id": task["id"]})["result"]
    assert canceled["status"]["state"] == "TASK_STATE_CANCELED"
    on_b = net.b.wait_for_state(net.b_key, remote_task_id, {"TASK_STATE_CANCELED"}, timeout=15)
    assert on_b["status"]["state"] == "TASK_STATE_CANCELED"


def test_an_untrusted_agent_waits_for_approval_before_it_is_called(net: Net):
    task = _send(net.a, net.alice, "ask b2 to approved words")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    pending = [p["data"] for p in task["status"]["message"]["parts"] if "data" in p]
    assert "delegate" in str(pending)
    # Nothing reached B yet: none of from-a's tasks on B has these words.
    listed = net.b.rpc(net.b_key, "ListTasks", {"includeArtifacts": True})["result"]["tasks"]
    assert not [t for t in listed if "approved" in str(t.get("artifacts"))]
    done = _send(net.a, net.alice, "yes", taskId=task["id"])
    assert done["status"]["state"] == "TASK_STATE_COMPLETED", done
    assert _answer(done) == "b2 answered: approved words"


def test_delegation_to_the_sdk_reference_server(net: Net):
    task = _send(net.a, net.alice, "ask ref to alpha beta gamma")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    assert _answer(task) == "ref answered: alpha beta gamma"


def test_mutual_delegation_stops_at_the_depth_limit(net: Net):
    # A -> C -> A -> C, and C's next hop back to A would be the fourth (the limit is 3).
    task = _send(net.a, net.alice, "ask c to ask a to ask c to ask a to hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    answer = _answer(task)
    assert "chain of 4 delegations" in answer
    assert "the limit is 3" in answer


def _audit_rows(server: LiveServer, operator: str, **query: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.url}/api/audit/",
        params=query,
        headers={"Authorization": f"Bearer {operator}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["results"]
    return rows


def test_federated_webcaps_delegate_both_ways_name_each_other_and_report_the_tree(net: Net):
    # A -> C -> A: each webcap calls the other as its own account there.
    task = _send(net.a, net.alice, "ask c to ask a to federated hello")
    assert task["status"]["state"] == "TASK_STATE_COMPLETED", task
    assert "federated hello" in _answer(task)

    # A's task lists its sub-task at C, and C's own at A, with their states.
    shown = net.a.rpc(net.alice, "GetTask", {"id": task["id"]})["result"]
    [at_c] = shown["metadata"]["webcap.delegations"]
    assert (at_c["agent"], at_c["state"]) == ("c", "TASK_STATE_COMPLETED")
    [back_at_a] = at_c["subtasks"]
    assert (back_at_a["agent"], back_at_a["state"]) == ("a", "TASK_STATE_COMPLETED")
    assert back_at_a["subtasks"] == []

    # Each side's audit rows name the agent that called it.
    on_c = _audit_rows(net.c, net.op_c, action="task.create", actor="from-a")
    assert [r["target_id"] for r in on_c if r["target_id"] == at_c["taskId"]]
    assert {r["extra"].get("callingAgent") for r in on_c} == {"a"}
    on_a = _audit_rows(net.a, net.op_a, action="task.create", actor="from-c")
    assert [r["target_id"] for r in on_a if r["target_id"] == back_at_a["taskId"]]
    assert {r["extra"].get("callingAgent") for r in on_a} == {"c"}
    # Alice is a person, not an agent: her rows carry no such name.
    mine = _audit_rows(net.a, net.op_a, action="task.create", actor="alice")
    assert mine
    assert not [r for r in mine if "callingAgent" in r["extra"]]


def test_a_killed_mid_delegation_resumes_bs_stream_without_repeating_a_chunk(net: Net):
    words = " ".join(f"r{i}" for i in range(40))
    task = _send_now(net.a, net.alice, f"ask b to {words}")
    _wait_artifact(net.a, net.alice, task["id"], "b/")
    net.a.stop(signal.SIGKILL)
    net.a.start(migrate=False)
    ended = net.a.wait_for_state(
        net.alice, task["id"], {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, timeout=40
    )
    assert ended["status"]["state"] == "TASK_STATE_COMPLETED", ended
    [echoed] = [a for a in ended["artifacts"] if a["artifactId"] == "b/echo"]
    # Resubscribed after the last event A stored: every word once, in order.
    assert "".join(p["text"] for p in echoed["parts"]) == words
    assert _answer(ended) == f"b answered: {words}"


def test_b_killed_mid_stream_fails_as_task_clearly_and_in_time(net: Net):
    words = " ".join(f"k{i}" for i in range(60))
    task = _send_now(net.a, net.alice, f"ask b to {words}")
    _wait_artifact(net.a, net.alice, task["id"], "b/")
    killed = time.monotonic()
    net.b.stop(signal.SIGKILL)
    ended = net.a.wait_for_state(
        net.alice, task["id"], {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}, timeout=30
    )
    assert time.monotonic() - killed < 30
    text = _answer(ended) if ended["status"]["state"] == "TASK_STATE_COMPLETED" else str(ended)
    assert "b could not be reached or did not answer in time" in text
