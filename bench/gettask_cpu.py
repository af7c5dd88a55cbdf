"""Measure the CPU one GetTask costs webcap's process, in-process, with its queries.

A fresh database is migrated and given one finished task shaped like the echo agent's (the
user's message, an artifact sent in chunks, a status message at the end); then GetTask of
that task is sent through ``config.asgi.application`` (the A2A fast path, as daphne calls
it) with an API key, many times. CPU is the process's own (``time.process_time``: every
thread, so the database thread's work counts too), per request, so a shared, noisy machine
changes the figure far less than it changes throughput. Compare figures from one machine.

    .venv/bin/python -m bench.gettask_cpu [--requests N] [--rounds R] [--history-length H]
        [--postgres]

Nothing outside a fresh temporary folder is written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

from bench.authz_reads import ROOT, _stop_on_sigterm, throwaway_database


def seed() -> tuple[str, str]:
    """Make a user, their API key and one finished echo-like task; return (key, task id)."""
    from a2a.protocol import types as wire
    from a2a.services.tasks import message_send, task_artifact_update, task_transition
    from accounts.services import api_key_create, user_ensure

    user = user_ensure(username="bench")
    _, key = api_key_create(user=user, name="bench")
    sent = message_send(
        owner=user,
        message=wire.Message.model_validate(
            {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "one two three four"}]}
        ),
    )
    task_id = str(sent.task_id)  # type: ignore[union-attr]
    task_transition(task_id=task_id, state="working")
    for i, word in enumerate(["one", "two", "three", "four"]):
        task_artifact_update(
            task_id=task_id,
            artifact={"artifactId": "echo", "parts": [{"text": word + " "}]},
            append=i > 0,
            last_chunk=i == 3,
        )
    task_transition(task_id=task_id, state="completed", message_parts=[{"text": "done"}])
    return key, task_id


async def _call(app: Any, body: bytes, key: str) -> bytes:
    """Send one POST /a2a/jsonrpc through the ASGI app; return the response body."""
    # The client stays until the answer is sent (a disconnect would cancel the request).
    sent: list[dict[str, Any]] = [{"type": "http.request", "body": body, "more_body": False}]
    received: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not sent:
            await asyncio.Event().wait()
        return sent.pop(0)

    async def send(message: dict[str, Any]) -> None:
        received.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/a2a/jsonrpc",
        "raw_path": b"/a2a/jsonrpc",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"a2a-version", b"1.0"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    status = next((m["status"] for m in received if m["type"] == "http.response.start"), None)
    if status is None:
        raise SystemExit(f"no response: {received!r}")
    payload = b"".join(m.get("body", b"") for m in received if m["type"] == "http.response.body")
    if status != 200 or b'"result"' not in payload:
        raise SystemExit(f"GetTask answered {status}: {payload[:300]!r}")
    return payload


async def measure(
    *, key: str, task_id: str, requests: int, rounds: int, history_length: int | None
) -> tuple[list[float], int, dict[str, Any]]:
    """Return the CPU ms per request of each round, the queries of one request, the answer."""
    from django.db.backends.utils import CursorWrapper

    from config.asgi import application

    params: dict[str, Any] = {"id": task_id}
    if history_length is not None:
        params["historyLength"] = history_length
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": params}).encode()
    for _ in range(50):  # warm: imports, the cached key, prepared statements
        answer = await _call(application, body, key)
    # The queries run on the fast path's database threads, each with its own connection:
    # count every cursor's statements for one request.
    queries = 0
    execute = CursorWrapper.execute

    def counted(self: CursorWrapper, *args: Any, **kwargs: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(self, *args, **kwargs)

    CursorWrapper.execute = counted  # type: ignore[method-assign]
    try:
        await _call(application, body, key)
    finally:
        CursorWrapper.execute = execute  # type: ignore[method-assign]
    per_request: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(requests):
            await _call(application, body, key)
        per_request.append((time.process_time() - started) * 1000 / requests)
    return per_request, queries, json.loads(answer)["result"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--history-length", type=int, default=None)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    options = parser.parse_args(argv)
    _stop_on_sigterm()
    sys.path.insert(0, str(ROOT))
    environment = {
        "WEBCAP_AGENT": "echo",
        # Counted against the rate limits, the loop would be refused after 300 calls.
        "WEBCAP_RATE_LIMIT_USER": "0",
        "WEBCAP_RATE_LIMIT_KEY": "0",
        "LOG_LEVEL": "WARNING",
    }
    with throwaway_database(postgres=options.postgres, environment=environment):
        key, task_id = seed()
        rounds, queries, answer = asyncio.run(
            measure(
                key=key,
                task_id=task_id,
                requests=options.requests,
                rounds=options.rounds,
                history_length=options.history_length,
            )
        )
    database = "PostgreSQL" if options.postgres else "SQLite"
    print(
        f"GetTask on {database}: {len(answer.get('history', []))} messages, "
        f"{len(answer.get('artifacts', []))} artifact(s), {queries} queries per request"
    )
    print(
        f"CPU ms per request over {options.rounds} rounds of {options.requests}: median "
        f"{statistics.median(rounds):.3f}, min {min(rounds):.3f}, max {max(rounds):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
