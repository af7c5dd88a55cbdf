"""The Cap'n Web session (protocol.md): tables, push/pull/resolve/reject/release/abort.

Transport-agnostic: the binding hands each incoming message to `feed()` and supplies `send`
for outgoing ones. Every incoming call runs as its own asyncio task, so a call that calls the
peer back (a callback) never blocks the receive loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from capnweb.errors import DecodeError, ProtocolError, RpcError
from capnweb.limits import Limits
from capnweb.messages import (
    ExportEntry,
    MessageEvaluator,
    Node,
    SessionDevaluator,
    chain,
    decode_error,
    is_id,
    reject_constant,
    resolve_tree,
    settle_tree,
    settled,
    stubs_in,
)
from capnweb.serialize import INTERNAL_ERROR, error_expression
from capnweb.stubs import ImportEntry, PathPart, RemoteStub
from capnweb.target import RpcTarget, follow_path

logger = logging.getLogger(__name__)

ErrorMapper = Callable[[BaseException], RpcError | None]

_NO_MAIN: Final = RpcError("Error", "This connection has no main object.")
_STREAMS: Final = RpcError("TypeError", "Streams are not supported by this server.")


class RpcSession:
    """One Cap'n Web session over any message transport.

    Args:
        main: the object the peer reaches as import 0 (None: calls on it are rejected).
        send: coroutine sending one text message to the peer, called in order.
        limits: resource limits (see Limits).
        error_mapper: maps application exceptions to the RpcError the peer sees; exceptions it
            does not map (returns None) are logged and sent as "Internal error".
    """

    def __init__(
        self,
        main: RpcTarget | None,
        send: Callable[[str], Awaitable[None]],
        *,
        limits: Limits | None = None,
        error_mapper: ErrorMapper | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._send = send
        self._error_mapper = error_mapper
        self._exports: dict[int, ExportEntry] = {}
        self._exports[0] = ExportEntry(
            settled(main) if main is not None else settled(error=_NO_MAIN), target=main
        )
        self._target_ids: dict[int, int] = {}  # id(target) -> export id, for re-exports
        self._next_push_id = 1  # the peer's pushes take the next positive export id
        self._next_export_id = -1  # objects we pass out take the next negative export id
        self._imports: dict[int, ImportEntry] = {0: ImportEntry(0)}
        self._next_import_id = 1  # our own pushes
        self._outstanding = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pull_tasks: set[asyncio.Task[Any]] = set()
        self._outbox: deque[str] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._accepting_sends = True
        self._closed = False
        self.close_error = RpcError("Error", "RPC session closed.")
        self._remote_main = RemoteStub(self, self._imports[0])

    # ------------------------------------------------------------------ public API

    @property
    def closed(self) -> bool:
        """True once the session ended (abort sent or received, transport gone)."""
        return self._closed

    @property
    def remote_main(self) -> RemoteStub:
        """The peer's main object (import 0)."""
        return self._remote_main

    async def feed(self, message: str | bytes) -> None:
        """Handle one incoming message. Never raises: violations abort the session.

        When the session ends here, the abort message has been sent by the time this returns;
        the binding should then close the transport (check `closed`).
        """
        if self._closed:
            return
        try:
            self._handle(message)
        except ProtocolError as exc:
            logger.warning("capnweb: aborting session on a protocol violation: %s", exc)
            self._teardown(RpcError("TypeError", f"bad RPC message: {exc}"), send_abort=True)
        except Exception:
            logger.exception("capnweb: aborting session on an internal error")
            self._teardown(RpcError("Error", "Internal error"), send_abort=True)
        flusher = self._flusher
        # Backpressure: a peer that does not read its answers stops being read from; on an
        # abort, the abort message is out before the binding closes the transport.
        if flusher is not None and (self.closed or len(self._outbox) > self.limits.max_exports):
            await asyncio.shield(flusher)

    async def drain(self) -> None:
        """Wait until every pulled result was answered and every message sent."""
        while True:
            pending = [task for task in self._pull_tasks if not task.done()]
            if pending:
                await asyncio.wait(pending)
            elif self._flusher is not None and not self._flusher.done():
                await asyncio.shield(self._flusher)
            else:
                return

    async def abort(self, error: RpcError) -> None:
        """End the session from our side, telling the peer why."""
        if not self.closed:
            self._teardown(error, send_abort=True)
            if self._flusher is not None:
                await asyncio.shield(self._flusher)

    def close(self, reason: str = "RPC session closed.") -> None:
        """End the session because the transport is gone (nothing more is sent)."""
        self._teardown(RpcError("Error", reason), send_abort=False)

    def stats(self) -> dict[str, int]:
        """Table sizes and running calls, for limits checks and tests."""
        return {
            "exports": len(self._exports),
            "imports": len(self._imports),
            "outstanding_calls": self._outstanding,
        }

    # ------------------------------------------------------------------ incoming messages

    def _handle(self, message: str | bytes) -> None:
        limit = self.limits.max_message_bytes
        # The size is checked before anything is parsed (a str has at most 4 bytes a char).
        if len(message) > limit:
            raise ProtocolError(f"message larger than {limit} bytes")
        if isinstance(message, bytes):
            try:
                message = message.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError("message is not UTF-8") from None
        elif len(message) * 4 > limit and len(message.encode("utf-8", "surrogatepass")) > limit:
            raise ProtocolError(f"message larger than {limit} bytes")
        try:
            msg = json.loads(message, parse_constant=reject_constant)
        except (ValueError, RecursionError):
            raise ProtocolError("message is not JSON") from None
        if not isinstance(msg, list) or not msg or not isinstance(msg[0], str):
            raise ProtocolError("message is not a [type, ...] array")
        kind = msg[0]
        if kind == "push" and len(msg) >= 2:
            self._on_push(msg[1])
        elif kind == "pull" and len(msg) >= 2 and is_id(msg[1]):
            self._on_pull(msg[1])
        elif kind in ("resolve", "reject") and len(msg) >= 3 and is_id(msg[1]):
            self._on_settle(msg[1], msg[2], rejected=kind == "reject")
        elif kind == "release" and len(msg) >= 3 and is_id(msg[1]) and is_id(msg[2]):
            self._on_release(msg[1], msg[2])
        elif kind == "abort" and len(msg) >= 2:
            self._on_abort(msg[1])
        elif kind in ("stream", "pipe") and len(msg) >= (2 if kind == "stream" else 1):
            self._on_stream(kind)
        else:
            raise ProtocolError("unknown or malformed message")

    def _on_push(self, expression: Any) -> None:
        # protocol.md "push": the expression takes the next positive id, even if it fails.
        export_id = self._next_push_id
        self._next_push_id += 1
        self._check_export_room()
        evaluator = MessageEvaluator(self)
        try:
            tree = evaluator.evaluate(expression, 1)
        except DecodeError as exc:
            evaluator.rollback()
            self._exports[export_id] = ExportEntry(settled(error=RpcError("TypeError", str(exc))))
            return
        for node in evaluator.nodes:
            self._start(node)
        entry = ExportEntry(settle_tree(tree))
        entry.handles = evaluator.handles
        if isinstance(tree, Node):
            tree.owner = entry  # before its task first runs: tasks start on the next loop turn
        self._exports[export_id] = entry

    def _on_stream(self, kind: str) -> None:
        # Streams and pipes are refused, but they still take an id (as a push would).
        export_id = self._next_push_id
        self._next_push_id += 1
        self._check_export_room()
        self._exports[export_id] = ExportEntry(settled(error=_STREAMS))
        if kind == "stream":
            # protocol.md "stream": implicitly pulled, implicitly released once answered.
            self._enqueue(["reject", export_id, error_expression(_STREAMS)])
            del self._exports[export_id]

    def _on_pull(self, export_id: int) -> None:
        entry = self.export_entry(export_id)
        if entry.pulled:
            return
        entry.pulled = True
        task = asyncio.get_running_loop().create_task(self._answer(export_id, entry))
        self._pull_tasks.add(task)
        task.add_done_callback(self._pull_tasks.discard)

    def _on_settle(self, import_id: int, expression: Any, *, rejected: bool) -> None:
        entry = self._imports.get(import_id)
        promise = entry.resolution if entry is not None else None
        evaluator = MessageEvaluator(self)
        tree: Any = None
        error: RpcError | None = None
        if rejected:
            # protocol.md "reject": the expression may not contain stubs.
            error = decode_error(expression, self.limits.max_depth)
        else:
            try:
                tree = evaluator.evaluate(expression, 1)
            except DecodeError as exc:
                evaluator.rollback()
                error = RpcError("TypeError", str(exc))
        if entry is None or promise is None:
            # Not a promise we wait for (released already): let go of what it carried.
            evaluator.rollback()
            return
        self._release_entry(entry)
        if promise.done():  # the caller gave up waiting
            evaluator.rollback()
            return
        if error is not None:
            promise.set_exception(error)
            promise.exception()
            return
        for node in evaluator.nodes:
            self._start(node)
        settle_tree(tree).add_done_callback(lambda done: chain(done, promise))

    def _on_release(self, export_id: int, count: int) -> None:
        entry = self.export_entry(export_id)
        # protocol.md "release": the count is how many times the id was introduced.
        if count < 1 or count > entry.refcount:
            raise ProtocolError("release count does not match the export's references")
        entry.refcount -= count
        if entry.refcount == 0:
            del self._exports[export_id]
            self._dispose(export_id, entry)

    def _on_abort(self, expression: Any) -> None:
        error = decode_error(expression, self.limits.max_depth)
        logger.info("capnweb: the peer aborted the session")
        self._teardown(error, send_abort=False)

    # ------------------------------------------------------------------ running calls

    def _start(self, node: Node) -> None:
        if node.promise is not None:
            assert node.promise.resolution is not None
            node.future = node.promise.resolution
            return
        if self._outstanding >= self.limits.max_outstanding_calls:
            self._release_all(node.handles)
            node.future = settled(error=RpcError("Error", "Too many outstanding calls."))
            return
        self._outstanding += 1
        task = asyncio.get_running_loop().create_task(self._run(node))
        self._tasks.add(task)
        task.add_done_callback(self._call_done)
        node.future = task

    def _call_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._outstanding -= 1
        if not task.cancelled():
            task.exception()  # a result nobody pulls is not an unhandled error

    async def _run(self, node: Node) -> Any:
        try:
            assert node.entry is not None
            value = await asyncio.shield(node.entry.result)
            args = None if node.args is None else await resolve_tree(node.args)
            result = await follow_path(value, node.path, args)
        except RpcError:
            self._release_all(node.handles)
            raise
        except Exception as exc:
            self._release_all(node.handles)
            # Decided (and logged) once, where it happened, pulled or not.
            raise self.to_rpc_error(exc) from None
        # Argument stubs die with the call, unless the call returned them: those live as long
        # as the result does (the push's export entry).
        returned = stubs_in(result, self.limits.max_depth)
        for handle in node.handles:
            if id(handle) in returned and node.owner is not None:
                node.owner.handles.append(handle)
            else:
                handle.release()
        return result

    @staticmethod
    def _release_all(handles: list[RemoteStub]) -> None:
        for handle in handles:
            handle.release()

    async def _answer(self, export_id: int, entry: ExportEntry) -> None:
        """Send resolve or reject for a pulled export once its result settles."""
        try:
            value = await asyncio.shield(entry.result)
            failure: BaseException | None = None
        except Exception as exc:
            failure = exc
        if self.closed or self._exports.get(export_id) is not entry:
            return  # released meanwhile: protocol.md says we need not answer
        if failure is None:
            devaluator = SessionDevaluator(self)
            try:
                self._enqueue(["resolve", export_id, devaluator.encode(value)])
                return
            except (TypeError, ValueError) as exc:
                failure = RpcError("TypeError", str(exc))
        self._enqueue(["reject", export_id, error_expression(self.to_rpc_error(failure))])

    # ------------------------------------------------------------------ outgoing calls

    async def call_remote(
        self, entry: ImportEntry, path: list[PathPart], args: list[Any] | None
    ) -> Any:
        """Push a call (or property read) on an import, pull it, and return its result."""
        if self.closed:
            raise self.close_error.copy()
        if len(self._imports) >= self.limits.max_imports:
            raise RpcError("Error", "Too many calls waiting for the peer.")
        expression: list[Any] = ["pipeline", entry.id, path]
        if args is not None:
            # Call arguments are a bare array of expressions, not an escaped array literal.
            expression.append(SessionDevaluator(self).encode(args)[0])
        import_id = self._next_import_id
        self._next_import_id += 1
        resolution: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        pending = ImportEntry(import_id, resolution)
        pending.remote_refcount = 1  # protocol.md "release": +1 for an id created by push
        self._imports[import_id] = pending
        self._enqueue(["push", expression])
        self._enqueue(["pull", import_id])
        return await resolution

    # ------------------------------------------------------------------ tables

    def export_entry(self, export_id: int) -> ExportEntry:
        """Return the export the peer refers to; unknown ids abort the session."""
        entry = self._exports.get(export_id)
        if entry is None:
            raise ProtocolError("no such entry on the exports table")
        return entry

    def export_target(self, target: RpcTarget) -> int:
        """Export `target` (again): a new negative id, or one more reference to its id."""
        known = self._target_ids.get(id(target))
        if known is not None:
            self._exports[known].refcount += 1
            return known
        if len(self._exports) >= self.limits.max_exports:
            raise TypeError("Too many objects exported on this session.")
        export_id = self._next_export_id
        self._next_export_id -= 1
        self._exports[export_id] = ExportEntry(settled(target), target=target)
        self._target_ids[id(target)] = export_id
        return export_id

    def unexport(self, export_ids: list[int]) -> None:
        """Undo exports made for a message that could not be encoded."""
        for export_id in export_ids:
            entry = self._exports.get(export_id)
            if entry is not None:
                entry.refcount -= 1
                if entry.refcount <= 0:
                    del self._exports[export_id]
                    self._dispose(export_id, entry)

    def import_stub(self, import_id: int) -> RemoteStub:
        """Introduce the peer's export `import_id` (an `export` expression) as a stub."""
        entry = self._imports.get(import_id)
        if entry is None:
            if import_id >= 0:
                # The peer allocates negative ids for what it exports (protocol.md).
                raise ProtocolError("exported ids must be negative")
            self._check_import_room()
            entry = self._imports[import_id] = ImportEntry(import_id)
        elif entry.resolution is not None:
            raise ProtocolError("an export id reuses a pending promise id")
        entry.remote_refcount += 1
        return RemoteStub(self, entry)

    def import_promise(self, import_id: int) -> ImportEntry:
        """Introduce the peer's promise `import_id`; its resolve message will settle it."""
        if import_id >= 0 or import_id in self._imports:
            raise ProtocolError("a promise must use a new negative id")
        self._check_import_room()
        entry = ImportEntry(import_id, asyncio.get_running_loop().create_future())
        entry.remote_refcount = 1
        self._imports[import_id] = entry
        return entry

    def release_import(self, entry: ImportEntry) -> None:
        """One local stub of `entry` is gone; release the import when it was the last."""
        entry.local_refs -= 1
        if entry.local_refs <= 0 and not self.closed and entry.id != 0:
            self._release_entry(entry)

    def to_rpc_error(self, exc: BaseException) -> RpcError:
        """What the peer sees of `exc`: RpcError as is, mapped errors, else "Internal error"."""
        if isinstance(exc, RpcError):
            return exc
        if self._error_mapper is not None:
            mapped = self._error_mapper(exc)
            if mapped is not None:
                return mapped
        logger.error("capnweb: a call failed unexpectedly", exc_info=exc)
        return INTERNAL_ERROR

    def _release_entry(self, entry: ImportEntry) -> None:
        if self._imports.get(entry.id) is entry:
            del self._imports[entry.id]
            if entry.remote_refcount > 0:
                self._enqueue(["release", entry.id, entry.remote_refcount])

    def _check_export_room(self) -> None:
        if len(self._exports) >= self.limits.max_exports:
            raise ProtocolError("too many exports (unreleased results)")

    def _check_import_room(self) -> None:
        if len(self._imports) >= self.limits.max_imports:
            raise ProtocolError("too many imports (stubs passed to us)")

    def _dispose(self, export_id: int, entry: ExportEntry) -> None:
        for handle in entry.handles:
            handle.release()
        target = entry.target
        if target is not None:
            if self._target_ids.get(id(target)) == export_id:
                del self._target_ids[id(target)]
            try:
                target._rpc_dispose()
            except Exception:
                logger.exception("capnweb: an RpcTarget failed to dispose")

    # ------------------------------------------------------------------ sending, ending

    def _enqueue(self, message: list[Any]) -> None:
        if not self._accepting_sends:
            return
        self._outbox.append(json.dumps(message, separators=(",", ":"), allow_nan=False))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._outbox:
            text = self._outbox.popleft()
            try:
                await self._send(text)
            except Exception as exc:
                logger.warning("capnweb: sending failed, closing the session: %r", exc)
                self._outbox.clear()
                self._teardown(RpcError("Error", "The transport failed."), send_abort=False)
                return

    def _teardown(self, error: RpcError, *, send_abort: bool) -> None:
        if self.closed:
            return
        if send_abort:
            self._enqueue(["abort", error_expression(error)])
        else:
            self._outbox.clear()
        self._accepting_sends = False
        self._closed = True
        self.close_error = error
        for entry in self._imports.values():
            if entry.resolution is not None and not entry.resolution.done():
                entry.resolution.set_exception(error.copy())
                entry.resolution.exception()
        self._imports.clear()
        exports = list(self._exports.items())
        self._exports.clear()
        for export_id, export in exports:
            self._dispose(export_id, export)
