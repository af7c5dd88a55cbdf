"""The mixed A2A load of bench/loadtest.py, for locust (run it through bench/loadtest.py).

Each simulated user holds one of the benchmark's API keys and one of the web processes
(keys and hosts are dealt round robin, so both web processes get the same share) and does,
with the weights of WEIGHTS, one operation at a time with a think time between:

- ``SendMessage (blocking)``: "hello" until the task is completed;
- ``SendMessage returnImmediately``: task creation; the task as submitted comes back;
- ``SendStreamingMessage``: SSE read to the final event (every event checked, in order);
  its row is the time to the final event, ``SendStreamingMessage first event`` the time to
  the first one;
- ``GetTask`` of one of the user's tasks, ``ListTasks`` of the owner's newest 20;
- ``approve``: "echo ..." (the echo tool waits for approval, WEBCAP_TOOLS_REQUIRE_APPROVAL)
  is sent blocking and comes back TASK_STATE_INPUT_REQUIRED (row ``SendMessage (blocking,
  to input-required)``), then the pending tool call is approved through
  ``POST /api/tool-calls/{id}/approve/`` (row ``approve``).

Every answer is checked (HTTP status, JSON-RPC error, the shape and state of the result);
anything wrong is a locust failure with the reason. The configuration (hosts, keys, one
task per key to read from the start, think times) is the JSON file named by
``WEBCAP_LOAD_CONFIG``, which bench/loadtest.py writes. Never import this module from a process
that is not locust: locust monkey-patches the standard library with gevent.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser, ResponseContextManager

CONFIG: dict[str, Any] = json.loads(Path(os.environ["WEBCAP_LOAD_CONFIG"]).read_text())
_HOSTS = itertools.cycle(CONFIG["hosts"])
_KEYS = itertools.cycle(CONFIG["keys"])
WEIGHTS: dict[str, int] = CONFIG["weights"]
# With first_in_turn (smoke runs), user n starts with operation n modulo their number.
_FIRST = itertools.cycle(sorted(WEIGHTS))
FINAL_STATES = {
    "TASK_STATE_COMPLETED",
    "TASK_STATE_FAILED",
    "TASK_STATE_CANCELED",
    "TASK_STATE_REJECTED",
    "TASK_STATE_INPUT_REQUIRED",
    "TASK_STATE_AUTH_REQUIRED",
}
# A check returns what is wrong with a result, or None.
Check = Callable[[Any], str | None]


def _message(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "role": "ROLE_USER",
        "parts": [{"text": text}],
        **extra,
    }


def _task_in(*states: str) -> Check:
    def check(result: Any) -> str | None:
        task_ = result.get("task") if isinstance(result, dict) else None
        if not isinstance(task_, dict) or not isinstance(task_.get("id"), str):
            return f"no task in the result: {str(result)[:200]}"
        state = task_.get("status", {}).get("state")
        return None if state in states else f"task {task_['id']} is {state}, not {states}"

    return check


def _sse_events(lines: Iterator[bytes]) -> Iterator[tuple[str | None, Any]]:
    """Yield (id, decoded data) per SSE event of a stream of lines."""
    event_id: str | None = None
    data: list[str] = []
    for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event_id, json.loads("\n".join(data))
            event_id, data = None, []
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


class A2AUser(FastHttpUser):
    """One client of the agent: a key, a web process, the ids of the tasks it made."""

    host = CONFIG["hosts"][0]
    wait_time = between(CONFIG["wait_min"], CONFIG["wait_max"])
    # Blocking sends wait for the agent: allow them as long as a client would.
    network_timeout = 120.0
    connection_timeout = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.host = next(_HOSTS)
        super().__init__(*args, **kwargs)
        self.key: str = next(_KEYS)
        self.task_ids: list[str] = [CONFIG["seed_tasks"][self.key]]
        self.headers = {"Authorization": f"Bearer {self.key}", "A2A-Version": "1.0"}

    def on_start(self) -> None:
        if CONFIG.get("first_in_turn"):
            getattr(self, next(_FIRST))()

    def _rpc(self, name: str, method: str, params: dict[str, Any], check: Check) -> Any:
        """One JSON-RPC call as the row name; return the result, or None after a failure."""
        envelope = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        with self.client.post(
            "/a2a/jsonrpc", name=name, json=envelope, headers=self.headers, catch_response=True
        ) as response:
            result, problem = self._json_result(response)
            if problem is None:
                problem = check(result)
            if problem is not None:
                response.failure(problem)
                return None
            response.success()
            return result

    @staticmethod
    def _json_result(response: ResponseContextManager) -> tuple[Any, str | None]:
        if response.status_code != 200:
            return None, f"HTTP {response.status_code}: {(response.text or '')[:200]}"
        try:
            body = response.json()
        except ValueError:
            return None, f"not JSON: {(response.text or '')[:200]}"
        if "error" in body:
            error = body["error"]
            return None, f"JSON-RPC error {error.get('code')}: {error.get('message')}"
        if "result" not in body:
            return None, f"no result: {str(body)[:200]}"
        return body["result"], None

    def _remember(self, result: Any) -> None:
        self.task_ids.append(result["task"]["id"])
        del self.task_ids[:-20]

    @task(WEIGHTS["send_blocking"])
    def send_blocking(self) -> None:
        params = {"message": _message("hello")}
        result = self._rpc(
            "SendMessage (blocking)", "SendMessage", params, _task_in("TASK_STATE_COMPLETED")
        )
        if result is not None:
            self._remember(result)

    @task(WEIGHTS["send_immediate"])
    def send_immediate(self) -> None:
        params = {"message": _message("hello"), "configuration": {"returnImmediately": True}}
        states = ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_COMPLETED")
        result = self._rpc(
            "SendMessage returnImmediately", "SendMessage", params, _task_in(*states)
        )
        if result is not None:
            self._remember(result)

    @task(WEIGHTS["get_task"])
    def get_task(self) -> None:
        task_id = random.choice(self.task_ids)

        def check(result: Any) -> str | None:
            ok = isinstance(result, dict) and result.get("id") == task_id
            return None if ok and "status" in result else f"not task {task_id}: {result}"[:200]

        self._rpc("GetTask", "GetTask", {"id": task_id, "historyLength": 2}, check)

    @task(WEIGHTS["list_tasks"])
    def list_tasks(self) -> None:
        def check(result: Any) -> str | None:
            ok = isinstance(result, dict) and isinstance(result.get("tasks"), list)
            ok = ok and isinstance(result.get("totalSize"), int) and len(result["tasks"]) <= 20
            return None if ok else f"not a page of tasks: {str(result)[:200]}"

        self._rpc("ListTasks", "ListTasks", {"pageSize": 20}, check)

    @task(WEIGHTS["stream"])
    def stream(self) -> None:
        envelope = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendStreamingMessage",
            "params": {"message": _message("hello")},
        }
        headers = {**self.headers, "Accept": "text/event-stream", "Accept-Encoding": "identity"}
        start = time.perf_counter()
        with self.client.post(
            "/a2a/jsonrpc",
            name="SendStreamingMessage",
            json=envelope,
            headers=headers,
            stream=True,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            problem = self._read_stream(response, start)
            response.request_meta["response_time"] = (time.perf_counter() - start) * 1000
            if problem is not None:
                response.failure(problem)
            else:
                response.success()

    def _read_stream(self, response: ResponseContextManager, start: float) -> str | None:
        """Read the SSE stream to its end; return what is wrong with it, or None."""
        seqs: list[int] = []
        state = None
        try:
            # Line by line as they arrive (iter_content would wait for whole 4 KiB blocks).
            raw = response._response
            assert raw is not None
            for event_id, data in _sse_events(iter(lambda: raw.readline(b"\n"), b"")):
                if not seqs:
                    self.environment.events.request.fire(
                        request_type="SSE",
                        name="SendStreamingMessage first event",
                        response_time=(time.perf_counter() - start) * 1000,
                        response_length=0,
                        exception=None,
                        context={},
                    )
                if "error" in data:
                    return f"error event: {str(data['error'])[:200]}"
                result = data.get("result", {})
                if not seqs and "task" not in result:
                    return f"the first event is not the task: {str(result)[:200]}"
                seqs.append(int(event_id or 0))
                if "task" in result:
                    self._remember(result)
                update = result.get("statusUpdate") or result.get("task") or {}
                state = update.get("status", {}).get("state", state)
        except Exception as exc:
            return f"stream broken after {len(seqs)} events: {exc!r}"
        if seqs != list(range(seqs[0] if seqs else 1, (seqs[0] if seqs else 1) + len(seqs))):
            return f"events out of order or missing: {seqs}"
        if state != "TASK_STATE_COMPLETED":
            return f"stream ended at {state} after {len(seqs)} events"
        return None

    @task(WEIGHTS["approve"])
    def approve(self) -> None:
        params = {"message": _message("echo approved by the load test")}
        result = self._rpc(
            "SendMessage (blocking, to input-required)",
            "SendMessage",
            params,
            _task_in("TASK_STATE_INPUT_REQUIRED"),
        )
        if result is None:
            return
        self._remember(result)
        parts = (result["task"]["status"].get("message") or {}).get("parts", [])
        pending = [c for p in parts for c in (p.get("data") or {}).get("pendingToolCalls", [])]
        with self.client.post(
            f"/api/tool-calls/{pending[0]['toolCallId'] if pending else 'none'}/approve/",
            name="approve",
            headers={"Authorization": f"Bearer {self.key}"},
            catch_response=True,
        ) as response:
            if not pending:
                response.failure(f"no pending tool call in {str(parts)[:200]}")
            elif response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
            elif response.json().get("decision") != "approved":
                response.failure(f"not approved: {(response.text or '')[:200]}")
            else:
                response.success()
