"""Cap'n Web (cloudflare/capnweb protocol.md) for Python: a transport-agnostic session layer."""

from capnweb.errors import RpcError
from capnweb.limits import Limits
from capnweb.serialize import UNDEFINED
from capnweb.session import RpcSession
from capnweb.stubs import RemoteStub
from capnweb.target import RpcTarget

__all__ = ["UNDEFINED", "Limits", "RemoteStub", "RpcError", "RpcSession", "RpcTarget"]
