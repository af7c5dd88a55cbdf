"""Wire compatibility with the unmodified npm `capnweb` client (Node) over a real WebSocket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from capnweb import RemoteStub, RpcError, RpcSession, RpcTarget
from tests.capnweb.node_client import NODE_DIR, ensure_capnweb, node_binary

pytestmark = pytest.mark.live


class Profile(RpcTarget):
    @property
    def name(self) -> str:
        return "alice"


class Account(RpcTarget):
    def __init__(self) -> None:
        self._profile = Profile()

    @property
    def profile(self) -> Profile:
        return self._profile

    async def whoami(self) -> dict[str, Any]:
        return {"user": "alice", "roles": ["member"]}

    def greet(self, greeting: str) -> str:
        return f"{greeting}, alice"


class Api(RpcTarget):
    def __init__(self) -> None:
        self.background: set[asyncio.Task[None]] = set()

    async def authenticate(self, token: str) -> Account:
        if token != "good":
            raise RpcError("Error", "Invalid credentials.")
        return Account()

    async def echo(self, value: Any) -> Any:
        return value

    async def boom(self) -> None:
        raise RuntimeError("secret internals")

    async def coded(self) -> None:
        raise RpcError("Error", "Task not found.", {"code": -32001})

    def _secret(self) -> str:
        return "never"

    async def notify(self, listener: RemoteStub, events: list[Any]) -> list[Any]:
        return [await listener.call("onStatusUpdate", [event]) for event in events]

    async def notifyFunction(self, function: RemoteStub) -> Any:
        return await function.invoke([{"seq": 4}])

    async def subscribe(self, listener: RemoteStub, count: int) -> str:
        kept = listener.dup()

        async def push_later() -> None:
            for seq in range(1, count + 1):
                await kept.call("onStatusUpdate", [{"seq": seq, "state": "working"}])
            kept.release()

        task = asyncio.get_running_loop().create_task(push_later())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return "subscribed"


async def test_the_npm_client_pipelines_and_takes_callbacks():
    node = node_binary()
    capnweb_dir = await asyncio.to_thread(ensure_capnweb)
    frames: list[tuple[str, Any]] = []
    sessions: list[RpcSession] = []

    async def handler(connection: ServerConnection) -> None:
        async def send(text: str) -> None:
            frames.append(("out", json.loads(text)))
            await connection.send(text)

        session = RpcSession(Api(), send)
        sessions.append(session)
        try:
            async for message in connection:
                frames.append(("in", json.loads(message)))
                await session.feed(message)
                if session.closed:
                    break
        except ConnectionClosed:
            pass  # capnweb closes with code 3000; how the client leaves is not under test
        finally:
            session.close("The WebSocket closed.")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            node,
            "--experimental-websocket",
            str(NODE_DIR / "client.mjs"),
            str(capnweb_dir),
            f"ws://127.0.0.1:{port}/",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert process.returncode == 0, stderr.decode()
    out = json.loads(stdout.decode().strip().splitlines()[-1])

    assert out["pipelined"] == {
        "whoami": {"user": "alice", "roles": ["member"]},
        "greeting": "Hi, alice",
    }
    assert out["pipelinedProperty"] == "alice"
    # The pipelined calls reached us before any answer went out: one round trip.
    first_out = next(i for i, (direction, _) in enumerate(frames) if direction == "out")
    assert [message for _, message in frames[:first_out]][:3] == [
        ["push", ["pipeline", 0, ["authenticate"], ["good"]]],
        ["push", ["pipeline", 1, ["whoami"], []]],
        ["push", ["pipeline", 1, ["greet"], ["Hi"]]],
    ]

    assert out["badAuth"] == {"name": "Error", "message": "Invalid credentials.", "code": None}
    assert out["boom"] == {"name": "Error", "message": "Internal error", "code": None}
    assert out["missing"] == {
        "name": "TypeError",
        "message": "method not found: 'nope'",
        "code": None,
    }
    assert out["private"] == {
        "name": "TypeError",
        "message": "method not found: '_secret'",
        "code": None,
    }
    assert out["coded"] == {"name": "Error", "message": "Task not found.", "code": -32001}
    assert "secret internals" not in json.dumps(frames)

    assert out["echo"] == {
        "date": 1749342170815,
        "bytes": [1, 2, 3, 255],
        "hasMissing": False,
        "nested": [1, [2, "three"], {"four": None}],
        "big": "18446744073709551616",
        "inf": True,
    }

    assert out["notify"] == ["ack 1", "ack 2"]
    assert out["notifyEvents"] == [{"seq": 1}, {"seq": 2}]
    assert out["notifyFunction"] == 40
    assert out["functionEvents"] == [{"seq": 4}]
    assert out["subscribe"] == "subscribed"
    assert out["laterEvents"] == [{"seq": n, "state": "working"} for n in (1, 2, 3)]
    assert out["laterDisposed"] is True
    # Every stub the client passed in was released (the kept one by its owner).
    released = {
        message[1]
        for direction, message in frames
        if direction == "out" and message[0] == "release" and message[1] < 0
    }
    introduced = {
        id_ for direction, message in frames if direction == "in" for id_ in _exports_in(message)
    }
    assert introduced == released == {-1, -2, -3}
    assert all(session.closed for session in sessions)


def _exports_in(value: Any) -> list[int]:
    if isinstance(value, list):
        if len(value) == 2 and value[0] == "export" and isinstance(value[1], int):
            return [value[1]]
        return [id_ for item in value for id_ in _exports_in(item)]
    if isinstance(value, dict):
        return [id_ for item in value.values() for id_ in _exports_in(item)]
    return []
