"""A scripted Cap'n Web peer for the session tests, and a toy API to call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from capnweb import Limits, RemoteStub, RpcError, RpcSession, RpcTarget


class Peer:
    """Plays the client: feeds real JSON messages and records what the session sends."""

    def __init__(self, main: RpcTarget | None, limits: Limits | None = None, **options: Any):
        self.sent: list[Any] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self.session = RpcSession(main, self._send, limits=limits, **options)

    async def _send(self, text: str) -> None:
        assert "\n" not in text  # one line per message (the HTTP batch framing)
        message = json.loads(text)
        self.sent.append(message)
        self._queue.put_nowait(message)

    async def feed(self, *messages: Any) -> None:
        for message in messages:
            await self.session.feed(message if isinstance(message, str) else json.dumps(message))

    async def next(self, timeout: float = 5.0) -> Any:
        """The next message the session sends (waits for it, bounded)."""
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def settle(self) -> list[Any]:
        """Wait for the pulled answers, then return and forget every message sent so far."""
        await asyncio.wait_for(self.session.drain(), 5)
        messages = []
        while not self._queue.empty():
            messages.append(self._queue.get_nowait())
        return messages


class Profile(RpcTarget):
    def __init__(self, name: str, disposed: list[str] | None = None) -> None:
        self._name = name
        self._disposed = disposed

    @property
    def name(self) -> str:
        return self._name

    async def greet(self, greeting: str = "Hello") -> str:
        return f"{greeting}, {self._name}"

    def _rpc_dispose(self) -> None:
        if self._disposed is not None:
            self._disposed.append(self._name)


class Api(RpcTarget):
    """The toy main object."""

    def __init__(self) -> None:
        self.secret = "instance attributes are never reachable"
        self.disposed: list[str] = []
        self.me = Profile("alice", self.disposed)
        self.kept: list[RemoteStub] = []
        self.gate = asyncio.Event()

    async def authenticate(self, token: str) -> Profile:
        if token != "good":
            raise RpcError("Error", "Invalid credentials.")
        return self.me

    def add(self, a: int, b: int) -> int:
        return a + b

    async def echo(self, value: Any = "nothing") -> Any:
        return value

    async def session(self) -> dict[str, Any]:
        return {"profile": Profile("bob", self.disposed), "tags": ["a", "b"]}

    async def notify(self, callback: RemoteStub, event: Any) -> Any:
        return await callback.call("onStatusUpdate", [event])

    async def keep(self, *callbacks: RemoteStub) -> int:
        self.kept.extend(callback.dup() for callback in callbacks)
        return len(callbacks)

    async def wait(self) -> str:
        await self.gate.wait()
        return "released"

    async def boom(self) -> None:
        raise ValueError("connection to db failed: password=hunter2")

    def _private(self) -> str:
        return "never"
