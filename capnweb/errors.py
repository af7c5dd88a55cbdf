"""Errors of the Cap'n Web session layer: what the peer sees, and what ends a session."""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    """An error as Cap'n Web carries it: a JavaScript error name, a message, optional properties.

    Raise it from an RpcTarget method to reject the call with exactly this name and message;
    outgoing calls raise it when the peer rejects them or the session ends. No stack trace is
    ever sent (protocol.md, "error": stacks are redacted by default).
    """

    def __init__(self, name: str, message: str, props: dict[str, Any] | None = None) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message
        self.props = props

    def copy(self) -> RpcError:
        """A fresh instance to raise in another task (tracebacks are per instance)."""
        return RpcError(self.name, self.message, self.props)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RpcError):
            return NotImplemented
        return (self.name, self.message, self.props) == (other.name, other.message, other.props)

    def __hash__(self) -> int:
        return hash((self.name, self.message))


class ProtocolError(Exception):
    """The peer broke the protocol: the session is aborted."""


class DecodeError(Exception):
    """A value the session cannot accept (unsupported type, bad date, bad base64): the single
    push carrying it is rejected, the session goes on."""
