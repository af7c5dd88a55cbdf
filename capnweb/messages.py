"""What one incoming message turns into: table rows, pipelined references, stubs to release.

The session-aware halves of the codec live here: `MessageEvaluator` decodes an expression
against the session's tables, `SessionDevaluator` encodes a value and exports the objects in it.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from capnweb.errors import DecodeError, ProtocolError, RpcError
from capnweb.limits import Limits
from capnweb.serialize import Devaluator, Evaluator
from capnweb.stubs import ImportEntry, PathPart, RemoteStub
from capnweb.target import RpcTarget


class ExportEntry:
    """One row of our export table: a call result or an object we passed the peer."""

    __slots__ = ("handles", "pulled", "refcount", "result", "target")

    def __init__(self, result: asyncio.Future[Any] | None, target: RpcTarget | None = None) -> None:
        self.refcount = 1
        # None only while the push creating it is being set up.
        self.result: asyncio.Future[Any] = result  # type: ignore[assignment]
        self.target = target
        self.pulled = False
        # Stubs introduced by the push itself (outside any call's arguments).
        self.handles: list[RemoteStub] = []


class Node:
    """A pipelined reference found in a message: a call, a property read, or a peer promise."""

    __slots__ = ("args", "entry", "future", "handles", "owner", "path", "promise")

    def __init__(
        self,
        entry: ExportEntry | None,
        path: list[PathPart],
        args: list[Any] | None,
        promise: ImportEntry | None = None,
    ) -> None:
        self.entry = entry
        self.path = path
        self.args = args
        self.promise = promise
        self.handles: list[RemoteStub] = []
        self.future: asyncio.Future[Any] | None = None
        # The push whose whole result this node is (stubs it returns live as long as it).
        self.owner: ExportEntry | None = None


def settled(value: Any = None, error: BaseException | None = None) -> asyncio.Future[Any]:
    """Return an already settled future (a rejection counts as observed)."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
        future.exception()  # retrieved: a never-used rejection is not worth a warning
    return future


def checked_id(value: Any) -> int:
    """Return `value` as a table id, or raise ProtocolError."""
    if not is_id(value):
        raise ProtocolError("malformed id")
    return int(value)


def is_id(value: Any) -> bool:
    """True for a JSON integer (JSON booleans are not ids)."""
    return isinstance(value, int) and not isinstance(value, bool)


class CodecSession(Protocol):
    """What the message codecs need of the session's tables (RpcSession is the one)."""

    limits: Limits

    def import_stub(self, import_id: int) -> RemoteStub: ...

    def import_promise(self, import_id: int) -> ImportEntry: ...

    def export_entry(self, export_id: int) -> ExportEntry: ...

    def export_target(self, target: RpcTarget) -> int: ...

    def unexport(self, export_ids: list[int]) -> None: ...

    def to_rpc_error(self, exc: BaseException) -> RpcError: ...


class MessageEvaluator(Evaluator):
    """Evaluates one incoming expression against the session's tables."""

    def __init__(self, session: CodecSession) -> None:
        super().__init__(session.limits.max_depth)
        self.session = session
        self.nodes: list[Node] = []  # in delivery order: arguments before their call
        self.handles: list[RemoteStub] = []
        self._owners: list[list[RemoteStub]] = [self.handles]
        self._all: list[RemoteStub] = []

    def reference(self, kind: str, value: list[Any], depth: int) -> Any:
        if kind in ("export", "promise"):
            if len(value) != 2 or not is_id(value[1]):
                raise ProtocolError(f"malformed {kind} expression")
            if kind == "promise":
                node = Node(None, [], None, promise=self.session.import_promise(value[1]))
                self.nodes.append(node)
                return node
            return self._own(self.session.import_stub(value[1]))
        # "import" / "pipeline": ["pipeline", importId, propertyPath?, callArguments?]
        if not 2 <= len(value) <= 4 or not is_id(value[1]):
            raise ProtocolError(f"malformed {kind} expression")
        entry = self.session.export_entry(value[1])
        path: list[PathPart] = []
        if len(value) >= 3:
            path = value[2]
            if not isinstance(path, list) or not all(
                isinstance(part, str) or is_id(part) for part in path
            ):
                raise ProtocolError(f"malformed {kind} path")
        result = entry.result
        if len(value) == 2 and result.done() and not result.cancelled() and not result.exception():
            return result.result()
        args: list[Any] | None = None
        handles: list[RemoteStub] = []
        if len(value) == 4:
            if not isinstance(value[3], list):
                raise ProtocolError(f"malformed {kind} arguments")
            self._owners.append(handles)
            try:
                args = [self.evaluate(arg, depth + 1) for arg in value[3]]
            finally:
                self._owners.pop()
        node = Node(entry, path, args)
        node.handles = handles
        self.nodes.append(node)
        return node

    def unsupported(self, kind: str, value: list[Any], depth: int) -> None:
        # The peer counts on a release for the stubs it sent along; import them to release.
        if kind == "writable" and len(value) == 2 and is_id(value[1]):
            self._own(self.session.import_stub(value[1]))
        if kind == "remap" and len(value) == 5 and isinstance(value[3], list):
            for capture in value[3]:
                if isinstance(capture, list) and capture[:1] == ["export"] and len(capture) == 2:
                    self._own(self.session.import_stub(checked_id(capture[1])))

    def rollback(self) -> None:
        """Release every stub this evaluation introduced (its push is rejected)."""
        for handle in self._all:
            handle.release()

    def _own(self, handle: RemoteStub) -> RemoteStub:
        self._owners[-1].append(handle)
        self._all.append(handle)
        return handle


class SessionDevaluator(Devaluator):
    """Encodes values for one session: targets are exported, the peer's stubs referenced."""

    def __init__(self, session: CodecSession) -> None:
        super().__init__(session.limits.max_depth)
        self.session = session
        self.exported: list[int] = []

    def special(self, value: Any) -> Any:
        if isinstance(value, RpcTarget):
            export_id = self.session.export_target(value)
            self.exported.append(export_id)
            return ["export", export_id]
        if isinstance(value, RemoteStub):
            if not value.owned_by(self.session):
                raise TypeError("Cannot send a released stub or one of another session.")
            return ["import", value.import_id]
        return super().special(value)

    def to_rpc_error(self, exc: BaseException) -> RpcError:
        return self.session.to_rpc_error(exc)

    def encode(self, value: Any) -> Any:
        """Devaluate `value`; on failure undo the exports made for it and re-raise."""
        try:
            return self.devaluate(value)
        except BaseException:
            self.session.unexport(self.exported)
            raise


def reject_constant(name: str) -> Any:
    """Refuse NaN and Infinity literals, which JSON does not have (json.loads accepts them)."""
    raise ProtocolError(f"{name} is not JSON")


def has_nodes(tree: Any) -> bool:
    """True when a decoded value still holds pipelined references."""
    if isinstance(tree, Node):
        return True
    if isinstance(tree, dict):
        return any(has_nodes(value) for value in tree.values())
    if isinstance(tree, list):
        return any(has_nodes(value) for value in tree)
    return False


def decode_error(expression: Any, max_depth: int) -> RpcError:
    """Decode the error of a reject or abort message (plain data only, no stubs)."""
    try:
        value = Evaluator(max_depth).evaluate(expression, 1)
    except DecodeError:
        return RpcError("Error", "The peer sent an error this server cannot decode.")
    if isinstance(value, RpcError):
        return value
    if isinstance(value, str):
        return RpcError("Error", value[:200])
    return RpcError("Error", "The peer rejected with a value that is not an error.")


def chain(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    """Settle `target` like `source` (unless it already settled)."""
    if target.done():
        return
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())  # type: ignore[arg-type]
        target.exception()
    else:
        target.set_result(source.result())


def settle_tree(tree: Any) -> asyncio.Future[Any]:
    """Return a future of the decoded value with its pipelined references resolved."""
    if isinstance(tree, Node):
        assert tree.future is not None
        return tree.future
    if not has_nodes(tree):
        return settled(tree)
    task = asyncio.get_running_loop().create_task(resolve_tree(tree))
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


async def resolve_tree(tree: Any) -> Any:
    """Replace the pipelined references in a decoded value by their results."""
    if isinstance(tree, Node):
        assert tree.future is not None
        return await asyncio.shield(tree.future)
    if isinstance(tree, dict):
        return {key: await resolve_tree(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [await resolve_tree(value) for value in tree]
    return tree


def stubs_in(value: Any, max_depth: int, depth: int = 0) -> set[int]:
    """Return the identities of the RemoteStubs inside a plain value."""
    if depth >= max_depth:
        return set()
    if isinstance(value, RemoteStub):
        return {id(value)}
    found: set[int] = set()
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            found |= stubs_in(item, max_depth, depth + 1)
    return found
