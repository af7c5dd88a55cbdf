"""Cap'n Web value encodings (protocol.md, "Expressions"): Python values to wire trees and back.

`Devaluator` turns an application value into a JSON-ready tree; `Evaluator` turns a parsed
wire tree into Python values. Both are plain: references to capabilities (`export`, `import`,
`pipeline`, `promise`) are left to the session through the `reference` and `special` hooks.
"""

from __future__ import annotations

import base64
import binascii
import enum
import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from capnweb.errors import DecodeError, ProtocolError, RpcError

logger = logging.getLogger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS: Final = timedelta(milliseconds=1)
# Integers beyond this lose precision as a JavaScript number: they travel as ["bigint", ...].
_MAX_SAFE_INTEGER: Final = 2**53 - 1
_MAX_BIGINT_DIGITS: Final = 1000
# Byte containers whose elements are single bytes arrive as `bytes`; multi-byte typed arrays
# would need an element type Python does not have, so they are refused rather than guessed.
_BYTE_MARKERS: Final = frozenset(
    {"ArrayBuffer", "DataView", "Int8Array", "Uint8Array", "Uint8ClampedArray"}
)
_MULTIBYTE_MARKERS: Final = frozenset(
    {
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "BigInt64Array",
        "BigUint64Array",
        "Float32Array",
        "Float64Array",
    }
)
# Types the protocol defines that this implementation refuses (protocol.md lists them all).
_UNSUPPORTED: Final = frozenset(
    {"url", "headers", "request", "response", "blob", "readable", "writable", "remap"}
)
_REFERENCES: Final = frozenset({"import", "pipeline", "export", "promise"})


class Undefined(enum.Enum):
    """JavaScript's `undefined`, distinct from `null` (None)."""

    UNDEFINED = "undefined"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = Undefined.UNDEFINED

INTERNAL_ERROR: Final = RpcError("Error", "Internal error")


def error_expression(error: RpcError, devaluate_prop: Any = None) -> list[Any]:
    """Encode an RpcError as ["error", name, message] (never a stack; props when present)."""
    if not error.props:
        return ["error", error.name, error.message]
    props: dict[str, Any] = {}
    for key, value in error.props.items():
        try:
            props[str(key)] = (devaluate_prop or Devaluator().devaluate)(value)
        except (TypeError, ValueError):
            # protocol.md: a property that cannot be represented is dropped, the error is not.
            continue
    return ["error", error.name, error.message, None, props]


class Devaluator:
    """Encode application values for the wire; subclasses handle capabilities in `special`."""

    def __init__(self, max_depth: int = 64) -> None:
        self.max_depth = max_depth

    def devaluate(self, value: Any) -> Any:
        """Return the wire tree of `value`; TypeError when something cannot be encoded."""
        return self._devaluate(value, 0)

    def special(self, value: Any) -> Any:
        """Encode a value that is not plain data (stubs, targets); the base refuses it."""
        raise TypeError(f"Cannot serialize a value of type {type(value).__name__}.")

    def to_rpc_error(self, exc: BaseException) -> RpcError:
        """Map an exception to what the peer may see; unknown exceptions hide their details."""
        if isinstance(exc, RpcError):
            return exc
        logger.error("capnweb: unexpected error sent as an internal error", exc_info=exc)
        return INTERNAL_ERROR

    def _devaluate(self, value: Any, depth: int) -> Any:
        if depth >= self.max_depth:
            raise TypeError("Serialization exceeded the maximum depth (does the value loop?).")
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            if abs(value) > _MAX_SAFE_INTEGER:
                return ["bigint", str(value)]
            return value
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            if math.isnan(value):
                return ["nan"]
            return ["inf"] if value > 0 else ["-inf"]
        if value is UNDEFINED:
            return ["undefined"]
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError("Cannot serialize a dict with a non-string key.")
                result[key] = self._devaluate(item, depth + 1)
            return result
        if isinstance(value, list | tuple):
            # protocol.md "array": a literal array is escaped in a one-element array.
            return [[self._devaluate(item, depth + 1) for item in value]]
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise TypeError("Cannot serialize a naive datetime; use an aware one.")
            return ["date", (value - _EPOCH) // _ONE_MS]
        if isinstance(value, bytes | bytearray | memoryview):
            encoded = base64.b64encode(bytes(value)).decode("ascii").rstrip("=")
            return ["bytes", encoded]
        if isinstance(value, BaseException):
            return error_expression(
                self.to_rpc_error(value), lambda v: self._devaluate(v, depth + 1)
            )
        return self.special(value)


class Evaluator:
    """Decode a parsed wire tree; subclasses resolve capability references in `reference`.

    Protocol violations raise ProtocolError (the session aborts); well-formed values this side
    refuses raise DecodeError (only the enclosing push is rejected).
    """

    def __init__(self, max_depth: int = 64) -> None:
        self.max_depth = max_depth

    def evaluate(self, value: Any, depth: int = 0) -> Any:
        """Return the Python value of the expression `value` found at nesting `depth`."""
        if depth >= self.max_depth:
            raise ProtocolError(f"message nesting exceeds {self.max_depth} levels")
        if isinstance(value, dict):
            result: dict[str, Any] = {}
            for key, item in value.items():
                decoded = self.evaluate(item, depth + 1)
                # A JavaScript property holding undefined is an absent key in Python.
                if decoded is not UNDEFINED:
                    result[key] = decoded
            return result
        if isinstance(value, list):
            return self._evaluate_array(value, depth)
        return value

    def evaluate_array_items(self, items: list[Any], depth: int) -> list[Any]:
        """Evaluate the elements of an escaped array (undefined elements become None)."""
        decoded = [self.evaluate(item, depth + 1) for item in items]
        return [None if item is UNDEFINED else item for item in decoded]

    def reference(self, kind: str, value: list[Any], depth: int) -> Any:
        """Resolve an import/pipeline/export/promise expression; plain data has none."""
        raise ProtocolError(f"'{kind}' is not allowed here")

    def unsupported(self, kind: str, value: list[Any], depth: int) -> None:
        """Hook called before refusing an unsupported expression (to release its stubs)."""

    def _evaluate_array(self, value: list[Any], depth: int) -> Any:
        if len(value) == 1 and isinstance(value[0], list):
            return self.evaluate_array_items(value[0], depth)
        kind = value[0] if value else None
        if not isinstance(kind, str):
            raise ProtocolError("unknown special value")
        if kind == "undefined" and len(value) == 1:
            return UNDEFINED
        if kind == "inf":
            return math.inf
        if kind == "-inf":
            return -math.inf
        if kind == "nan":
            return math.nan
        if kind == "date" and len(value) == 2:
            return _decode_date(value[1])
        if kind == "bytes" and len(value) in (2, 3):
            return _decode_bytes(value)
        if kind == "bigint" and len(value) == 2 and isinstance(value[1], str):
            return _decode_bigint(value[1])
        if kind == "error" and len(value) >= 3:
            return self._decode_error(value, depth)
        if kind in _REFERENCES:
            return self.reference(kind, value, depth)
        if kind in _UNSUPPORTED:
            self.unsupported(kind, value, depth)
            raise DecodeError(f"'{kind}' values are not supported by this server")
        raise ProtocolError("unknown special value")

    def _decode_error(self, value: list[Any], depth: int) -> RpcError:
        name, message = value[1], value[2]
        if not isinstance(name, str) or not isinstance(message, str):
            raise ProtocolError("malformed error expression")
        props: dict[str, Any] | None = None
        if len(value) >= 5:
            if not isinstance(value[4], dict):
                raise ProtocolError("malformed error expression")
            props = self.evaluate(value[4], depth + 1)
        # The stack (value[3]) is deliberately dropped: peers' traces are not ours to keep.
        return RpcError(name, message, props or None)


def _decode_date(ms: Any) -> datetime | None:
    if ms is None:
        # An invalid JavaScript Date (getTime() is NaN) has no Python value.
        return None
    if isinstance(ms, bool) or not isinstance(ms, int | float):
        raise ProtocolError("malformed date expression")
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except (OverflowError, ValueError) as exc:
        raise DecodeError("date out of range") from exc


def _decode_bytes(value: list[Any]) -> bytes:
    encoded = value[1]
    if not isinstance(encoded, str):
        raise ProtocolError("malformed bytes expression")
    if len(value) == 3:
        marker = value[2]
        if not isinstance(marker, str):
            raise ProtocolError("malformed bytes expression")
        if marker in _MULTIBYTE_MARKERS:
            raise DecodeError(f"'{marker}' byte containers are not supported by this server")
        if marker not in _BYTE_MARKERS:
            raise ProtocolError("unknown bytes type marker")
    # Senders omit the padding (capnweb uses toBase64({omitPadding: true})).
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("invalid base64 in bytes value") from exc


def _decode_bigint(digits: str) -> int:
    body = digits[1:] if digits.startswith("-") else digits
    if not body or len(body) > _MAX_BIGINT_DIGITS or not body.isascii() or not body.isdigit():
        raise DecodeError("invalid or too long bigint")
    return int(digits)
