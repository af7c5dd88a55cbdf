"""Capabilities the peer exported to us: import-table entries and the stubs that hold them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from capnweb.errors import RpcError

PathPart = str | int


class ImportEntry:
    """One row of our import table (protocol.md "Imports and exports").

    `remote_refcount` counts how many times the peer introduced the id (plus one for our own
    push), which is what the eventual `release` must carry; `local_refs` counts live stubs.
    `resolution` is set for promises: our pushes and the peer's `promise` expressions.
    """

    __slots__ = ("id", "local_refs", "remote_refcount", "resolution")

    def __init__(self, import_id: int, resolution: asyncio.Future[Any] | None = None) -> None:
        self.id = import_id
        self.remote_refcount = 0
        self.local_refs = 0
        self.resolution = resolution


class StubSession(Protocol):
    """What a stub needs of the session that holds its import (StubSession is the one)."""

    close_error: RpcError

    @property
    def closed(self) -> bool: ...

    async def call_remote(
        self, entry: ImportEntry, path: list[PathPart], args: list[Any] | None
    ) -> Any: ...

    def release_import(self, entry: ImportEntry) -> None: ...


class RemoteStub:
    """A reference to an object the peer exported (a callback it passed in, its main object).

    Stubs received as call arguments are released when the call returns: `dup()` one to keep
    it, and `release()` the copy when done (capnweb's disposal rules). Calls raise RpcError
    when the peer rejects them, the stub was released, or the session ended.
    """

    __slots__ = ("_entry", "_session")

    def __init__(self, session: StubSession, entry: ImportEntry) -> None:
        self._session: StubSession | None = session
        self._entry = entry
        entry.local_refs += 1

    @property
    def import_id(self) -> int:
        """The id of this stub on our import table."""
        return self._entry.id

    @property
    def released(self) -> bool:
        """True once release() was called on this stub or its session ended."""
        return self._session is None or self._session.closed

    def owned_by(self, session: object) -> bool:
        """True when this is a live stub of `session`."""
        return self._session is not None and self._session is session and not self._session.closed

    async def call(self, method: str, args: Sequence[Any] = ()) -> Any:
        """Call `method` on the remote object with positional `args`; return its result."""
        return await self._live().call_remote(self._entry, [method], list(args))

    async def invoke(self, args: Sequence[Any] = ()) -> Any:
        """Call the remote object itself (a function the peer passed in)."""
        return await self._live().call_remote(self._entry, [], list(args))

    async def forward(self, path: list[PathPart], args: list[Any] | None) -> Any:
        """Call (or read, when `args` is None) `path` on the remote object."""
        return await self._live().call_remote(self._entry, path, args)

    def dup(self) -> RemoteStub:
        """Return another stub on the same import, released independently."""
        return RemoteStub(self._live(), self._entry)

    def release(self) -> None:
        """Drop this reference; the peer gets `release` when the last one goes."""
        session, self._session = self._session, None
        if session is not None:
            session.release_import(self._entry)

    def _live(self) -> StubSession:
        if self._session is None:
            raise RpcError("Error", "This stub was released.")
        if self._session.closed:
            raise self._session.close_error.copy()
        return self._session

    def __repr__(self) -> str:
        state = "released" if self.released else "live"
        return f"<RemoteStub import={self._entry.id} {state}>"
