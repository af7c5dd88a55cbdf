"""Many streams at once on the embedded default (`make run`): do they all finish, whole?

Starts ``manage.py runembedded`` (SQLite, the in-process worker, the echo agent) on a free
127.0.0.1 port in a temporary folder and opens ``--streams`` SendStreamingMessage requests
at the same moment, each a new task. Every stream must end with the completed status and
carry every word of its message back, in order; anything else (an HTTP error, a JSON-RPC
error such as a 503 for a locked database, a dropped connection, a stream that ends early)
is counted and shown. Prints the time to the final event (p50, p99), the server's resident
memory before, at the end and after ``--idle`` seconds, and exits 1 on any failure.

    .venv/bin/python -m bench.embedded_streams [--streams 500] [--words 5] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.harness import mib, percentile, rss_bytes
from tests.live.server import LiveServer


@dataclass
class Outcome:
    """What the streams ended with."""

    seconds: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def fail(self, kind: str, detail: str) -> None:
        self.failures[kind] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{kind}: {detail[:300]}")


async def _stream(
    session: aiohttp.ClientSession, url: str, key: str, words: list[str], outcome: Outcome
) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "SendStreamingMessage",
        "params": {
            "message": {
                "messageId": str(uuid.uuid4()),
                "role": "ROLE_USER",
                "parts": [{"text": " ".join(words)}],
            }
        },
    }
    headers = {"Authorization": f"Bearer {key}", "A2A-Version": "1.0"}
    started = time.monotonic()
    text, state, seqs = [], None, []
    try:
        async with session.post(f"{url}/a2a/jsonrpc", json=body, headers=headers) as response:
            if response.status != 200:
                outcome.fail(f"http {response.status}", await response.text())
                return
            async for line in response.content:
                if line.startswith(b"id:"):
                    seqs.append(int(line[3:]))
                if not line.startswith(b"data:"):
                    continue
                frame = json.loads(line[5:])
                if "error" in frame:
                    outcome.fail(f"rpc {frame['error']['code']}", json.dumps(frame["error"]))
                    return
                result = frame["result"]
                for part in result.get("artifactUpdate", {}).get("artifact", {}).get("parts", []):
                    text.append(part["text"])
                if "statusUpdate" in result:
                    state = result["statusUpdate"]["status"]["state"]
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.fail("connection", repr(exc))
        return
    if state != "TASK_STATE_COMPLETED":
        outcome.fail("incomplete", f"last state {state}")
    elif "".join(text).split() != words:
        outcome.fail("wrong text", "".join(text))
    elif seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        outcome.fail("out of order", str(seqs))
    else:
        outcome.seconds.append(time.monotonic() - started)


async def _run(url: str, key: str, streams: int, words: list[str]) -> Outcome:
    outcome = Outcome()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(_stream(session, url, key, words, outcome) for _ in range(streams)))
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--words", type=int, default=5, help="words per message (chunks)")
    parser.add_argument(
        "--idle", type=float, default=30, help="seconds to wait before the last RSS"
    )
    args = parser.parse_args(argv)
    words = [f"w{i}" for i in range(args.words)]
    with tempfile.TemporaryDirectory(prefix="webcap-bench-") as folder:
        # The embedded default, with only the echo agent (no model) and no per-key limit.
        server = LiveServer(
            Path(folder), WEBCAP_AGENT="echo", WEBCAP_RATE_LIMIT_USER="0", WEBCAP_RATE_LIMIT_KEY="0"
        )
        server.start()
        try:
            key = server.create_key("bench")
            assert server.process is not None
            pid = server.process.pid
            before = rss_bytes(pid)
            started = time.monotonic()
            outcome = asyncio.run(_run(server.url, key, args.streams, words))
            elapsed = time.monotonic() - started
            at_end = rss_bytes(pid)
            time.sleep(args.idle)
            idle = rss_bytes(pid)
            locked = server.log().count("database is locked")
        finally:
            server.stop()
    done = outcome.seconds
    print(f"{args.streams} concurrent streams of {args.words} chunks on the embedded default")
    print(f"finished whole: {len(done)} of {args.streams} in {elapsed:.1f} s")
    if done:
        print(
            f"send -> final event: p50 {percentile(done, 0.5):.2f} s, "
            f"p99 {percentile(done, 0.99):.2f} s"
        )
    print(
        f"RSS: {mib(before)} before, {mib(at_end)} at the end, "
        f"{mib(idle)} after {args.idle:g} s idle"
    )
    print(f"'database is locked' in the server log: {locked}")
    for kind, count in outcome.failures.most_common():
        print(f"FAILED {kind}: {count}")
    for sample in outcome.samples:
        print(f"  {sample}")
    return 0 if not outcome.failures and len(done) == args.streams else 1


if __name__ == "__main__":
    sys.exit(main())
