"""Streams at scale: many SSE and WebSocket subscribers of one task on one web process.

Starts the production topology with one web process (tests/cluster.py: PostgreSQL, Redis,
one daphne, one Celery worker, beat; the echo agent, one artifact chunk per word every
``--interval-ms``), starts a task with thousands of words and lets ``--clients`` client
processes (asyncio + aiohttp) subscribe to it: ``--sse`` SubscribeToTask streams over SSE
(JSON-RPC), then ``--ws`` over the WebSocket binding (/ws/a2a, one socket each). Once all
are in, events flow for ``--measure`` seconds, then the task is canceled, which ends every
stream with its final event. Then ``--idle`` WebSockets that only connect and stay open.

It prints:

- whether every subscriber got every event after its snapshot, in order, up to the final
  one (per-task sequence numbers: SSE ``id:``, WebSocket ``seq``), and how many were dropped;
- fan-out latency p50/p99 over the events every subscriber got live: the time each
  subscriber received an event minus the time the first subscriber received it, and minus
  the time the event was stored (TaskEvent.created_at, the worker's clock: same machine);
- the web process's resident memory (VmRSS) at baseline, with the SSE and then the
  WebSocket subscribers connected, and a few seconds after they closed, and what each
  connection costs; the same for the idle WebSockets;
- the targets (zero dropped, fan-out p99 < 50 ms) as met / not met.

Everything is on 127.0.0.1, bounded in time, and every process is stopped by PID, also on
Ctrl-C, SIGTERM or an exception.

    .venv/bin/python -m bench.streams [--sse 1000] [--ws 1000] [--idle 10000]
    .venv/bin/python -m bench.streams --smoke    # 20 + 20 subscribers, 200 idle sockets
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import httpx

from bench.harness import (
    bench_cluster,
    mib,
    out_dir,
    percentile,
    print_targets,
    raise_open_files,
    rss_bytes,
)
from tests.cluster import Cluster
from tests.live.server import run_python

FINAL_STATES = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED", "TASK_STATE_CANCELED"}
# How long the server may take to free what closed connections held before it is measured.
SETTLE_SECONDS = 5.0


@dataclass
class Received:
    """What one subscriber saw: the snapshot's sequence number, then each live event."""

    kind: str
    snapshot_seq: int = -1
    seqs: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    final_state: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Spec:
    url: str
    key: str
    task_id: str
    concurrency: int
    connect_timeout: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "A2A-Version": "1.0"}

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/a2a"

    def subscribe(self, request_id: str) -> dict[str, Any]:
        params = {"id": self.task_id}
        return {"jsonrpc": "2.0", "id": request_id, "method": "SubscribeToTask", "params": params}


# --- The client processes: an asyncio loop each, driven over a pipe. ---


def _event_seen(received: Received, seq: int, result: dict[str, Any], now: float) -> None:
    if received.snapshot_seq < 0:
        if "task" not in result:
            raise ValueError(f"the first event is not the task snapshot: {str(result)[:200]}")
        received.snapshot_seq = seq
    else:
        received.seqs.append(seq)
        received.times.append(now)
    update = result.get("statusUpdate") or result.get("task") or {}
    received.final_state = update.get("status", {}).get("state", received.final_state)


async def _sse_subscriber(
    session: aiohttp.ClientSession, spec: Spec, received: Received, ready: asyncio.Event
) -> None:
    headers = {**spec.headers, "Accept": "text/event-stream"}
    async with session.post(
        f"{spec.url}/a2a/jsonrpc", json=spec.subscribe("s"), headers=headers
    ) as response:
        if response.status != 200:
            raise ValueError(f"HTTP {response.status}: {(await response.text())[:200]}")
        event_id, data = -1, ""
        async for raw in response.content:
            now = time.time()
            line = raw.decode().rstrip("\r\n")
            if line.startswith("id:"):
                event_id = int(line[3:])
            elif line.startswith("data:"):
                data = line[5:]
            elif not line and data:
                body = json.loads(data)
                if "error" in body:
                    raise ValueError(f"error event: {str(body['error'])[:200]}")
                _event_seen(received, event_id, body["result"], now)
                ready.set()
                data = ""


async def _ws_subscriber(
    session: aiohttp.ClientSession, spec: Spec, received: Received, ready: asyncio.Event
) -> None:
    async with session.ws_connect(spec.ws_url, headers=spec.headers, max_msg_size=0) as ws:
        await ws.send_str(json.dumps(spec.subscribe("w")))
        async for message in ws:
            now = time.time()
            body = json.loads(message.data)
            if body.get("method") == "StreamResponse":
                params = body["params"]
                _event_seen(received, params["seq"], params["result"], now)
                ready.set()
            elif "error" in body:
                raise ValueError(f"error response: {str(body['error'])[:200]}")
            elif "result" in body:
                return  # {"done": true, "lastSeq": n}: the stream ended
        raise ValueError(f"the socket closed before the stream ended ({ws.close_code})")


async def _idle_socket(
    session: aiohttp.ClientSession, spec: Spec, received: Received, ready: asyncio.Event
) -> None:
    async with session.ws_connect(spec.ws_url, headers=spec.headers) as ws:
        ready.set()
        async for _ in ws:  # answers the server's pings until closed
            pass


Connect = Callable[[aiohttp.ClientSession, Spec, Received, asyncio.Event], Awaitable[None]]
CONNECTORS: dict[str, Connect] = {
    "sse": _sse_subscriber,
    "ws": _ws_subscriber,
    "idle": _idle_socket,
}


class Client:
    """One client process's connections, opened at most spec.concurrency at a time."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.gate = asyncio.Semaphore(spec.concurrency)
        self.running: dict[str, list[tuple[Received, asyncio.Task[None]]]] = {}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=spec.connect_timeout),
        )

    async def _one(self, kind: str, received: Received, opened: asyncio.Event) -> None:
        ready = asyncio.Event()
        try:
            async with self.gate:
                run = asyncio.ensure_future(
                    CONNECTORS[kind](self.session, self.spec, received, ready)
                )
                waiter = asyncio.ensure_future(ready.wait())
                await asyncio.wait({run, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
            opened.set()
            await run
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            received.error = received.error or f"{type(exc).__name__}: {exc}"[:300]
        finally:
            opened.set()

    async def open(self, kind: str, count: int) -> tuple[int, list[str]]:
        """Open count connections of kind; return how many are in (first frame seen for
        subscribers, handshake done for idle sockets) and the first errors."""
        opened = [asyncio.Event() for _ in range(count)]
        entries = [Received(kind) for _ in range(count)]
        tasks = [
            asyncio.ensure_future(self._one(kind, r, e))
            for r, e in zip(entries, opened, strict=True)
        ]
        self.running[kind] = list(zip(entries, tasks, strict=True))
        waits = [asyncio.ensure_future(e.wait()) for e in opened]
        await asyncio.wait(waits, timeout=self.spec.connect_timeout)
        for wait in waits:
            wait.cancel()
        errors = [r.error for r in entries if r.error]
        in_ = sum(1 for r, t in self.running[kind] if r.error is None and opened_ok(r, t))
        return in_, errors[:3]

    async def finish(self, kinds: list[str], wait: float) -> list[Received]:
        """Wait for the streams of kinds to end (cancel the rest); return what each saw."""
        tasks = [t for kind in kinds for _, t in self.running.get(kind, [])]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=wait)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        return [r for kind in kinds for r, _ in self.running.pop(kind, [])]

    async def close(self, kind: str) -> None:
        for _, task in self.running.pop(kind, []):
            task.cancel()
        await asyncio.sleep(0)


def opened_ok(received: Received, task: asyncio.Task[None]) -> bool:
    return (received.kind == "idle" and not task.done()) or received.snapshot_seq >= 0


async def _serve(conn: Connection, spec: Spec) -> None:
    loop = asyncio.get_running_loop()
    client = Client(spec)
    try:
        while True:
            command, argument = await loop.run_in_executor(None, conn.recv)
            if command == "open":
                kind, count = argument
                conn.send(await client.open(kind, count))
            elif command == "finish":
                kinds, timeout = argument
                conn.send(await client.finish(kinds, timeout))
            elif command == "close":
                await client.close(argument)
                conn.send(None)
            else:
                return
    finally:
        for kind in list(client.running):
            await client.close(kind)
        await client.session.close()


def client_process(conn: Connection, spec: Spec, open_files: int) -> None:
    raise_open_files(open_files)
    asyncio.run(_serve(conn, spec))


# --- The harness. ---


class Clients:
    """The client processes (spawned, stopped by PID) and their pipes."""

    def __init__(self, count: int, spec: Spec, open_files: int) -> None:
        self.spec = spec
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(
                target=client_process, args=(child, spec, open_files), daemon=True
            )
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def ask(self, command: str, arguments: list[Any], timeout: float) -> list[Any]:
        """Send each process its command; return their answers in order."""
        for pipe, argument in zip(self.pipes, arguments, strict=True):
            pipe.send((command, argument))
        answers = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"a client process did not answer {command!r} in {timeout} s")
            answers.append(pipe.recv())
        return answers

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("quit", None))
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def open_all(clients: Clients, kind: str, total: int, timeout: float) -> tuple[int, list[str]]:
    counts = split(total, len(clients.pipes))
    answers = clients.ask("open", [(kind, n) for n in counts], timeout + 30)
    errors = [error for _, first in answers for error in first]
    return sum(n for n, _ in answers), errors[:3]


_STORED_SCRIPT = """
import json, django
django.setup()
from a2a.models import TaskEvent
rows = TaskEvent.objects.filter(task_id="{task_id}").values_list("seq", "created_at")
print(json.dumps({{seq: at.isoformat() for seq, at in rows}}))
"""


def stored_times(cluster: Cluster, task_id: str) -> dict[int, float]:
    """When each event of the task was stored (TaskEvent.created_at), as epoch seconds."""
    script = textwrap.dedent(_STORED_SCRIPT).format(task_id=task_id)
    result = run_python(cluster.env, script, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"reading the event log failed:\n{result.stderr}")
    stored = json.loads(result.stdout.strip().splitlines()[-1])
    return {int(seq): datetime.fromisoformat(at).timestamp() for seq, at in stored.items()}


@dataclass(frozen=True)
class Delivery:
    subscribers: int
    complete: int
    dropped: int
    failed: Counter[str]
    final_seq: int
    live_events: int
    spread_ms: list[float]
    end_to_end_ms: list[float]


def check_delivery(results: list[Received], stored: dict[int, float]) -> Delivery:
    """Did every subscriber get every event after its snapshot, in order, to the final one?"""
    final_seq = max(stored, default=0)
    complete, dropped = 0, 0
    failed: Counter[str] = Counter()
    for received in results:
        expected = list(range(received.snapshot_seq + 1, final_seq + 1))
        if received.snapshot_seq >= 0 and received.seqs == expected and received.error is None:
            complete += 1
            continue
        if received.snapshot_seq < 0:
            failed[f"{received.kind}: no snapshot: {received.error}"] += 1
            continue
        missing = len(set(expected) - set(received.seqs))
        dropped += missing
        got = f"{len(received.seqs)} of {len(expected)} events ({missing} missing)"
        failed[f"{received.kind}: {got}, ended {received.final_state}: {received.error}"] += 1
    # Fan-out over the events every subscriber received live (after the last snapshot).
    live_from = max((r.snapshot_seq for r in results), default=0) + 1
    arrivals: dict[int, list[float]] = {}
    for received in results:
        for seq, moment in zip(received.seqs, received.times, strict=True):
            if seq >= live_from:
                arrivals.setdefault(seq, []).append(moment)
    spread: list[float] = []
    end_to_end: list[float] = []
    for seq, moments in arrivals.items():
        first = min(moments)
        spread.extend((moment - first) * 1000 for moment in moments)
        if seq in stored:
            end_to_end.extend((moment - stored[seq]) * 1000 for moment in moments)
    return Delivery(
        subscribers=len(results),
        complete=complete,
        dropped=dropped,
        failed=failed,
        final_seq=final_seq,
        live_events=len(arrivals),
        spread_ms=spread,
        end_to_end_ms=end_to_end,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sse", type=int, default=1000, help="SSE subscribers (1000)")
    parser.add_argument("--ws", type=int, default=1000, help="WebSocket subscribers (1000)")
    parser.add_argument("--idle", type=int, default=10000, help="idle WebSockets (10000)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (4)")
    parser.add_argument("--interval-ms", type=int, default=200, help="between events (200)")
    parser.add_argument("--measure", type=float, default=20, help="seconds all connected (20)")
    parser.add_argument("--concurrency", type=int, default=50, help="connects at once, per client")
    parser.add_argument(
        "--connect-timeout", type=float, default=240, help="seconds to open each group (240)"
    )
    parser.add_argument(
        "--db-pool",
        type=int,
        help="DATABASE_POOL_MAX_SIZE of the web process (default: the production default, 10)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="20 + 20 subscribers, 200 idle, a pool of 60"
    )
    options = parser.parse_args(argv)
    if options.smoke:
        options.sse, options.ws, options.idle, options.clients = 20, 20, 200, 2
        options.measure, options.connect_timeout = 2, 20
        # A smoke run checks the harness, not the default pool (which holds 10 streams).
        options.db_pool = options.db_pool or 60
    return options


def run(options: argparse.Namespace) -> bool:
    open_files = raise_open_files(options.idle + options.sse + options.ws + 2048)
    print(f"open-file limit: {open_files} (this process, the web process and the clients)")
    folder = out_dir("streams-smoke" if options.smoke else "streams")
    with bench_cluster(
        webs=1,
        workers=1,
        logs_to=folder,
        WEBCAP_AGENT="echo",
        WEBCAP_ECHO_DELAY_MS=str(options.interval_ms),
        **({"DATABASE_POOL_MAX_SIZE": str(options.db_pool)} if options.db_pool else {}),
    ) as cluster:
        web_pid = cluster.processes["web0"].pid
        key = cluster.create_key("streams")
        url = cluster.web_urls[0]
        pool = options.db_pool or "default"
        print(f"cluster: 1 web process (pid {web_pid}) at {url}, 1 worker, the echo agent, ")
        print(f"  one event every {options.interval_ms} ms, database pool per process: {pool}")
        # Enough words to outlast connecting and measuring; the cancel ends it sooner.
        words = int((2 * options.connect_timeout + options.measure) * 1000 / options.interval_ms)
        text = " ".join(f"w{index}" for index in range(words))
        params = {
            "message": {"messageId": "streams", "role": "ROLE_USER", "parts": [{"text": text}]},
            "configuration": {"returnImmediately": True},
        }
        time.sleep(2)  # the web process at rest before its baseline is read
        baseline = rss_bytes(web_pid)
        task_id = Cluster.rpc(url, key, "SendMessage", params)["result"]["task"]["id"]
        spec = Spec(url, key, task_id, options.concurrency, options.connect_timeout)
        clients = Clients(options.clients, spec, open_files)
        try:
            streams_ok = subscribers(options, cluster, clients, web_pid, baseline)
            idle(options, clients, web_pid)
        finally:
            clients.stop()
    return streams_ok


def subscribers(
    options: argparse.Namespace, cluster: Cluster, clients: Clients, web_pid: int, baseline: int
) -> bool:
    """SSE then WebSocket subscribers of the task; cancel it; check and time what came."""
    spec = clients.spec
    started = time.monotonic()
    sse_in, sse_errors = open_all(clients, "sse", options.sse, options.connect_timeout)
    with_sse = rss_bytes(web_pid)
    ws_in, ws_errors = open_all(clients, "ws", options.ws, options.connect_timeout)
    with_all = rss_bytes(web_pid)
    print(
        f"subscribed: {sse_in}/{options.sse} SSE, {ws_in}/{options.ws} WebSocket "
        f"in {time.monotonic() - started:.1f} s"
    )
    for error in sse_errors + ws_errors:
        print(f"  e.g. {error}")
    time.sleep(options.measure)
    try:
        Cluster.rpc(spec.url, spec.key, "CancelTask", {"id": spec.task_id})
    except httpx.HTTPError as exc:
        # An overloaded web process may not answer in time: the subscribers then miss the
        # final event, and the delivery check below counts it; the run still reports.
        print(f"CancelTask failed ({exc!r}): the web process did not answer in time")
    answers = clients.ask("finish", [(["sse", "ws"], 60.0)] * len(clients.pipes), 120)
    results: list[Received] = [received for answer in answers for received in answer]
    time.sleep(SETTLE_SECONDS)
    after = rss_bytes(web_pid)
    delivery = check_delivery(results, stored_times(cluster, spec.task_id))

    print(
        f"\nDelivery: {delivery.complete}/{delivery.subscribers} subscribers got every event "
        f"after their snapshot, in order, to the final one (seq {delivery.final_seq}); "
        f"{delivery.dropped} events dropped"
    )
    for line, count in delivery.failed.most_common(5):
        print(f"  {count} x {line}")
    spread50, spread99 = percentile(delivery.spread_ms, 0.5), percentile(delivery.spread_ms, 0.99)
    e2e50, e2e99 = percentile(delivery.end_to_end_ms, 0.5), percentile(delivery.end_to_end_ms, 0.99)
    print(
        f"Fan-out over {delivery.live_events} events every subscriber got live "
        f"({len(delivery.spread_ms)} deliveries):\n"
        f"  after the first subscriber: p50 {spread50:.1f} ms, p99 {spread99:.1f} ms\n"
        f"  after the event was stored: p50 {e2e50:.1f} ms, p99 {e2e99:.1f} ms"
    )
    print("\nMemory of the web process (VmRSS):")
    memory_row("baseline", baseline)
    memory_row(f"+ {sse_in} SSE subscribers", with_sse, per(with_sse - baseline, sse_in))
    memory_row(f"+ {ws_in} WebSocket subscribers", with_all, per(with_all - with_sse, ws_in))
    memory_row("after they closed", after, f"baseline {signed(after - baseline)}")
    incomplete = delivery.subscribers - delivery.complete
    everyone = delivery.subscribers == options.sse + options.ws == sse_in + ws_in
    return print_targets(
        [
            (
                "zero dropped (every subscriber, every event)",
                f"{delivery.dropped} dropped, {incomplete} incomplete",
                everyone and delivery.dropped == 0 and not delivery.failed,
            ),
            (
                "fan-out p99 < 50 ms (after the first subscriber)",
                f"{spread99:.1f} ms",
                spread99 < 50,
            ),
        ]
    )


def idle(options: argparse.Namespace, clients: Clients, web_pid: int) -> None:
    """Idle WebSockets: connected and authenticated, nothing subscribed."""
    before = rss_bytes(web_pid)
    started = time.monotonic()
    opened, errors = open_all(clients, "idle", options.idle, options.connect_timeout)
    seconds = time.monotonic() - started
    time.sleep(2)
    held = rss_bytes(web_pid)
    clients.ask("close", ["idle"] * len(clients.pipes), 120)
    time.sleep(SETTLE_SECONDS)
    after = rss_bytes(web_pid)
    print(f"\nIdle WebSockets: {opened}/{options.idle} open in {seconds:.1f} s")
    for error in errors:
        print(f"  e.g. {error}")
    memory_row("before", before)
    memory_row(f"with {opened} open", held, per(held - before, opened))
    memory_row("after they closed", after, f"before {signed(after - before)}")


def memory_row(label: str, rss: int, note: str = "") -> None:
    print(f"  {label:<34}{mib(rss):>12}  {note}")


def per(grown: int, count: int) -> str:
    return f"{grown / count / 1024:.1f} KiB each" if count else "none connected"


def signed(delta: int) -> str:
    return f"{'+' if delta >= 0 else '-'}{mib(abs(delta))}"


def main(argv: list[str] | None = None) -> int:
    return 0 if run(parse_args(argv)) else 1


if __name__ == "__main__":
    sys.exit(main())
