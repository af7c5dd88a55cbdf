"""The load generator of bench/compare.py: one implementation for webcap and the reference.

asyncio and aiohttp with HTTP/1.1 keep-alive: ``concurrency`` workers, each with its own
connection from one pool, send requests back to back for a warm-up and then a fixed time.
Only requests that end after the warm-up and before the deadline are timed. Every
response is checked (status, JSON-RPC shape, task state, the echoed text); a failed check is
an error, counted and kept as a sample, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CARD_PATH = "/.well-known/agent-card.json"
COMPLETED = "TASK_STATE_COMPLETED"
TERMINAL = {COMPLETED, "TASK_STATE_FAILED", "TASK_STATE_CANCELED", "TASK_STATE_REJECTED"}
REQUEST_TIMEOUT = 30.0
# Error samples kept per measurement; every error is counted.
ERROR_SAMPLES = 5


class CheckFailed(Exception):
    """A response that is not what the operation must answer."""


@dataclass(frozen=True)
class Target:
    """One server as the load generator sees it: where to send and which headers."""

    name: str
    base_urls: list[str]
    jsonrpc_urls: list[str]
    headers: dict[str, str]


@dataclass
class Sample:
    """What one measurement saw: latencies (s) of the timed requests, errors, task ids."""

    latencies: list[float] = field(default_factory=list)
    # For streams: send -> first event, per timed request.
    firsts: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(message[:300])

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile in ms (inclusive method); NaN without values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


def message(text: str) -> dict[str, Any]:
    return {"messageId": f"bench-{uuid.uuid4()}", "role": "ROLE_USER", "parts": [{"text": text}]}


def envelope(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": uuid.uuid4().hex[:12], "method": method, "params": params}


def result_of(body: Any) -> dict[str, Any]:
    """The result of a JSON-RPC response; CheckFailed for an error or a bad envelope."""
    if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
        raise CheckFailed(f"not a JSON-RPC response: {str(body)[:200]}")
    if "error" in body:
        raise CheckFailed(f"JSON-RPC error: {json.dumps(body['error'])[:200]}")
    result = body.get("result")
    if not isinstance(result, dict):
        raise CheckFailed(f"no result object: {str(body)[:200]}")
    return result


def artifact_text(task: dict[str, Any]) -> str:
    return "".join(
        part.get("text", "") for artifact in task.get("artifacts", []) for part in artifact["parts"]
    )


def check_task(task: Any, *, states: set[str], text: str | None = None) -> str:
    """Check a Task object's shape, state and echoed text; return its id."""
    if not isinstance(task, dict) or not isinstance(task.get("id"), str):
        raise CheckFailed(f"not a task: {str(task)[:200]}")
    state = task.get("status", {}).get("state")
    if state not in states:
        raise CheckFailed(f"task {task['id']} is {state}, expected one of {sorted(states)}")
    if text is not None and artifact_text(task) != text:
        raise CheckFailed(f"task {task['id']} echoed {artifact_text(task)!r}, not {text!r}")
    return str(task["id"])


# --- the operations: each sends one request and checks the answer --------------------------

# An operation answers the id of the task it made (or None) and, for a stream, the seconds
# from sending to the first event (or None).
Outcome = tuple[str | None, float | None]
Operation = Callable[[aiohttp.ClientSession, int], Awaitable[Outcome]]


async def _post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, Any]
) -> Any:
    async with session.post(url, json=body, headers=headers) as response:
        if response.status != 200:
            raise CheckFailed(f"HTTP {response.status}: {(await response.text())[:200]}")
        return await response.json(content_type=None)


def card_op(target: Target) -> Operation:
    async def call(session: aiohttp.ClientSession, worker: int) -> Outcome:
        url = target.base_urls[worker % len(target.base_urls)] + CARD_PATH
        async with session.get(url) as response:
            if response.status != 200:
                raise CheckFailed(f"HTTP {response.status}")
            card = await response.json(content_type=None)
        if (
            not isinstance(card, dict)
            or not card.get("name")
            or not card.get("supportedInterfaces")
        ):
            raise CheckFailed(f"not an agent card: {str(card)[:200]}")
        return None, None

    return call


def send_op(target: Target, *, immediate: bool) -> Operation:
    """SendMessage: to completion (the echoed text is checked) or returnImmediately."""

    async def call(session: aiohttp.ClientSession, worker: int) -> Outcome:
        text = f"hi-{uuid.uuid4().hex[:8]}"
        params: dict[str, Any] = {"message": message(text)}
        if immediate:
            params["configuration"] = {"returnImmediately": True}
        url = target.jsonrpc_urls[worker % len(target.jsonrpc_urls)]
        body = await _post(session, url, target.headers, envelope("SendMessage", params))
        task = result_of(body).get("task")
        if immediate:
            states = {"TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", COMPLETED}
            return check_task(task, states=states), None
        return check_task(task, states={COMPLETED}, text=text), None

    return call


def get_task_op(target: Target, task_ids: list[str]) -> Operation:
    counter = iter(range(1 << 62))

    async def call(session: aiohttp.ClientSession, worker: int) -> Outcome:
        task_id = task_ids[next(counter) % len(task_ids)]
        url = target.jsonrpc_urls[worker % len(target.jsonrpc_urls)]
        body = await _post(session, url, target.headers, envelope("GetTask", {"id": task_id}))
        task = result_of(body)
        if check_task(task, states={COMPLETED}) != task_id:
            raise CheckFailed(f"asked for task {task_id}, got {task['id']}")
        return None, None

    return call


LIST_PAGE_SIZE = 20


def list_tasks_op(target: Target) -> Operation:
    async def call(session: aiohttp.ClientSession, worker: int) -> Outcome:
        url = target.jsonrpc_urls[worker % len(target.jsonrpc_urls)]
        params = {"pageSize": LIST_PAGE_SIZE}
        result = result_of(await _post(session, url, target.headers, envelope("ListTasks", params)))
        tasks = result.get("tasks")
        if not isinstance(tasks, list) or not 0 < len(tasks) <= LIST_PAGE_SIZE:
            raise CheckFailed(f"ListTasks answered {str(tasks)[:200]}")
        for task in tasks:
            check_task(task, states=TERMINAL | {"TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"})
        return None, None

    return call


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """Yield the decoded ``data:`` of each SSE event (comments and ids are skipped)."""
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield json.loads("\n".join(data))
            data = []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield json.loads("\n".join(data))


def stream_kind(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The StreamResponse member of one SSE event: ("task" | "statusUpdate" | ..., value)."""
    result = result_of(event)
    if len(result) != 1:
        raise CheckFailed(f"a StreamResponse has one member: {str(result)[:200]}")
    ((kind, value),) = result.items()
    return kind, value


async def read_stream(
    response: aiohttp.ClientResponse, started: float
) -> tuple[float, str, list[tuple[str, dict[str, Any]]]]:
    """Read a stream to its end: (seconds to the first event, final state, events)."""
    if response.status != 200:
        raise CheckFailed(f"HTTP {response.status}: {(await response.text())[:200]}")
    if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
        raise CheckFailed(f"not an event stream: {(await response.text())[:200]}")
    first = 0.0
    events: list[tuple[str, dict[str, Any]]] = []
    async for event in sse_events(response):
        if not events:
            first = time.perf_counter() - started
        events.append(stream_kind(event))
    if not events:
        raise CheckFailed("the stream ended without an event")
    kind, last = events[-1]
    state = (last.get("status") or {}).get("state")
    if kind not in {"statusUpdate", "task"} or state not in TERMINAL:
        raise CheckFailed(f"the stream ended at {kind} {state}")
    return first, str(state), events


def streamed_text(events: list[tuple[str, dict[str, Any]]]) -> str:
    """The artifact text a stream carried: the first task's, then the chunks after it."""
    text = ""
    for kind, value in events:
        if kind == "task":
            text = artifact_text(value)
        elif kind == "artifactUpdate":
            chunk = "".join(part.get("text", "") for part in value["artifact"]["parts"])
            text = text + chunk if value.get("append") else chunk
    return text


def stream_op(target: Target) -> Operation:
    """SendStreamingMessage: the whole lifecycle, ending completed with the echoed text."""

    async def call(session: aiohttp.ClientSession, worker: int) -> Outcome:
        text = f"hi-{uuid.uuid4().hex[:8]}"
        url = target.jsonrpc_urls[worker % len(target.jsonrpc_urls)]
        body = envelope("SendStreamingMessage", {"message": message(text)})
        headers = {**target.headers, "Accept": "text/event-stream"}
        started = time.perf_counter()
        async with session.post(url, json=body, headers=headers) as response:
            first, state, events = await read_stream(response, started)
        if events[0][0] != "task" or state != COMPLETED:
            raise CheckFailed(f"stream began with {events[0][0]} and ended {state}")
        if streamed_text(events) != text:
            raise CheckFailed(f"stream echoed {streamed_text(events)!r}, not {text!r}")
        return str(events[0][1]["id"]), first

    return call


# --- running an operation -------------------------------------------------------------------


def _session(concurrency: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    return aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    )


async def _run(operation: Operation, concurrency: int, warmup: float, seconds: float) -> Sample:
    sample = Sample()
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    deadline = begin + seconds
    # Should nothing complete in the window (a cold server in a smoke run), it is stretched
    # to the first completion, within the request timeout: a figure, never a silent zero.
    last_chance = deadline + REQUEST_TIMEOUT
    done: list[tuple[float, float, float | None]] = []  # (ended, latency, first event)

    def going() -> bool:
        now = loop.time()
        return now < deadline or (now < last_chance and not (done and done[-1][0] >= begin))

    async def worker(index: int, session: aiohttp.ClientSession) -> None:
        while going():
            started = loop.time()
            try:
                task_id, first = await operation(session, index)
            except (CheckFailed, aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                sample.error(f"{type(exc).__name__}: {exc}")
                continue
            done.append((loop.time(), loop.time() - started, first))
            if task_id:
                sample.task_ids.append(task_id)

    async with _session(concurrency) as session:
        await asyncio.gather(*(worker(i, session) for i in range(concurrency)))
    # Completions in the timed window; a request begun in the warm-up counts with its whole
    # latency (at c=64 the first ones can take longer than a smoke run).
    after = sorted(ended for ended, _, _ in done if ended >= begin)
    if not after:
        sample.error("no request completed in the timed window")
        return sample
    end = max(deadline, after[0])
    sample.seconds = end - begin
    for ended, latency, first in done:
        if begin <= ended <= end:
            sample.latencies.append(latency)
            if first is not None:
                sample.firsts.append(first)
    return sample


def measure(operation: Operation, *, concurrency: int, warmup: float, seconds: float) -> Sample:
    """Run operation with concurrency workers for warmup + seconds; return what was seen."""
    return asyncio.run(_run(operation, concurrency, warmup, seconds))


# --- SubscribeToTask fan-out ----------------------------------------------------------------


async def _fanout_round(
    session: aiohttp.ClientSession, target: Target, subscribers: int, words: int, sample: Sample
) -> None:
    """Create a slow task, subscribe to it subscribers times at once, read every stream."""
    text = " ".join(f"w{i}" for i in range(words))
    params = {"message": message(text), "configuration": {"returnImmediately": True}}
    body = await _post(
        session, target.jsonrpc_urls[0], target.headers, envelope("SendMessage", params)
    )
    task_id = check_task(
        result_of(body).get("task"), states={"TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"}
    )
    sample.task_ids.append(task_id)
    headers = {**target.headers, "Accept": "text/event-stream"}

    async def subscribe(index: int) -> float:
        url = target.jsonrpc_urls[index % len(target.jsonrpc_urls)]
        started = time.perf_counter()
        request = envelope("SubscribeToTask", {"id": task_id})
        async with session.post(url, json=request, headers=headers) as response:
            first, state, events = await read_stream(response, started)
        if events[0][0] != "task" or events[0][1].get("id") != task_id or state != COMPLETED:
            raise CheckFailed(f"subscription began with {events[0][0]} and ended {state}")
        sample.firsts.append(first)
        return time.perf_counter()

    outcomes = await asyncio.gather(
        *(subscribe(i) for i in range(subscribers)), return_exceptions=True
    )
    finals = []
    for outcome in outcomes:
        if isinstance(outcome, float):
            finals.append(outcome)
        elif isinstance(outcome, Exception):
            sample.error(f"{type(outcome).__name__}: {outcome}")
        else:
            raise outcome
    if finals:
        # How far apart the subscribers got the final event.
        sample.latencies.append(max(finals) - min(finals))


async def _fanout(
    target: Target, subscribers: int, words: int, rounds: int, seconds: float
) -> Sample:
    sample = Sample()
    started = time.perf_counter()
    async with _session(subscribers + 1) as session:
        for _ in range(rounds):
            try:
                await _fanout_round(session, target, subscribers, words, sample)
            except (CheckFailed, aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                sample.error(f"{type(exc).__name__}: {exc}")
            if time.perf_counter() - started > seconds:
                break
    sample.seconds = time.perf_counter() - started
    return sample


def fanout(target: Target, *, subscribers: int, words: int, rounds: int, seconds: float) -> Sample:
    """Rounds of one slow task with subscribers SubscribeToTask streams each, at most for
    about seconds: firsts are subscribe -> first event, latencies the spread of the final
    event over the subscribers of a round."""
    return asyncio.run(_fanout(target, subscribers, words, rounds, seconds))


async def _wait_done(target: Target, task_ids: list[str], within: float) -> list[str]:
    deadline = time.perf_counter() + within
    pending = list(task_ids)
    async with _session(4) as session:
        while pending and time.perf_counter() < deadline:
            still = []
            for task_id in pending:
                body = await _post(
                    session,
                    target.jsonrpc_urls[0],
                    target.headers,
                    envelope("GetTask", {"id": task_id}),
                )
                if result_of(body).get("status", {}).get("state") not in TERMINAL:
                    still.append(task_id)
            pending = still
            if pending:
                await asyncio.sleep(0.2)
    return pending


def wait_done(target: Target, task_ids: list[str], timeout: float) -> list[str]:
    """Poll GetTask until every task is terminal; return those that are not by timeout."""
    return asyncio.run(_wait_done(target, task_ids, timeout))
