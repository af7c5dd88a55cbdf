"""RpcTarget: the objects a Cap'n Web peer may call, and what of them it may reach."""

from __future__ import annotations

import inspect
from typing import Any

from capnweb.errors import RpcError
from capnweb.serialize import UNDEFINED
from capnweb.stubs import PathPart, RemoteStub

# Echoed names are cut so a hostile peer cannot make our error messages large.
_NAME_ECHO = 64


class RpcTarget:
    """Base class of objects passed by reference over Cap'n Web.

    Public methods (sync or async) defined on subclasses are callable by name; public
    `property` objects are readable. Everything else — names starting with "_", instance
    attributes, methods inherited from RpcTarget or object — is refused. Sync methods run on the
    event loop and must not block.
    """

    def _rpc_dispose(self) -> None:
        """Called when the peer released its last reference, or the session ended."""


_MEMBERS: dict[type, tuple[frozenset[str], frozenset[str]]] = {}


def rpc_members(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """Return the (methods, properties) a peer may use on instances of `cls`."""
    cached = _MEMBERS.get(cls)
    if cached is not None:
        return cached
    methods: set[str] = set()
    properties: set[str] = set()
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is RpcTarget or klass is object:
            continue
        for name, attr in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            if name.startswith("_"):
                continue
            if isinstance(attr, property):
                properties.add(name)
            elif inspect.isfunction(attr):
                methods.add(name)
    members = _MEMBERS[cls] = (frozenset(methods), frozenset(properties))
    return members


class BoundMethod:
    """A method reached by a property path, waiting to be called."""

    __slots__ = ("name", "target")

    def __init__(self, target: RpcTarget, name: str) -> None:
        self.target = target
        self.name = name

    async def call(self, args: list[Any]) -> Any:
        """Call the method with positional `args`, awaiting it when it is a coroutine."""
        # A trailing `undefined` is an omitted argument: Python defaults apply.
        while args and args[-1] is UNDEFINED:
            args = args[:-1]
        args = [None if arg is UNDEFINED else arg for arg in args]
        method = getattr(self.target, self.name)
        try:
            inspect.signature(method).bind(*args)
        except TypeError as exc:
            message = f"wrong arguments for '{_echo(self.name)}': {exc}"
            raise RpcError("TypeError", message) from None
        result = method(*args)
        if inspect.isawaitable(result):
            result = await result
        return result


def target_member(target: RpcTarget, name: str | int, *, calling: bool) -> Any:
    """Return the method (as a BoundMethod) or the declared property `name` of `target`."""
    methods, properties = rpc_members(type(target))
    if isinstance(name, str) and name in methods:
        return BoundMethod(target, name)
    if isinstance(name, str) and name in properties and not calling:
        return getattr(target, name)
    kind = "method" if calling else "property"
    raise RpcError("TypeError", f"{kind} not found: '{_echo(str(name))}'")


def _echo(name: str) -> str:
    return name if len(name) <= _NAME_ECHO else name[:_NAME_ECHO] + "..."


async def follow_path(value: Any, path: list[PathPart], args: list[Any] | None) -> Any:
    """Walk `path` from `value`, then call the result with `args` (when not None)."""
    for index, part in enumerate(path):
        if isinstance(value, RemoteStub):
            return await value.forward(path[index:], args)
        if isinstance(value, RpcTarget):
            calling = args is not None and index == len(path) - 1
            value = target_member(value, part, calling=calling)
            if inspect.iscoroutine(value):
                value = await value
        elif isinstance(value, dict):
            value = value.get(part, UNDEFINED) if isinstance(part, str) else UNDEFINED
        elif isinstance(value, list | tuple):
            in_range = _is_index(part) and 0 <= int(part) < len(value)
            value = value[int(part)] if in_range else UNDEFINED
        elif value is None or value is UNDEFINED:
            raise RpcError("TypeError", "Cannot read properties of null or undefined.")
        else:
            # protocol.md: plain values have no remotely readable properties.
            value = UNDEFINED
    if args is None:
        if isinstance(value, BoundMethod):
            raise RpcError("TypeError", "A method cannot be read as a property.")
        return value
    if isinstance(value, BoundMethod):
        return await value.call(args)
    if isinstance(value, RemoteStub):
        return await value.forward([], args)
    raise RpcError("TypeError", "The called property is not a function.")


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
