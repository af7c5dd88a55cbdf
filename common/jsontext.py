"""Decode a JSON request body with errors that name the problem, never the implementation.

``json.loads`` alone answers a 5,000-digit integer with "use sys.set_int_max_str_digits()
to increase the limit": advice for the server's programmer, not the client. Every
binding's parser (A2A JSON-RPC and HTTP+JSON, the management API) decodes through here.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_loads(raw: bytes | str, *, allow_constants: bool = True) -> Any:
    """Return the decoded JSON; raise ValueError saying where and what is wrong.

    allow_constants=False also refuses ``NaN`` and ``Infinity``, which Python's parser
    accepts and JSON does not have.
    """
    try:
        if allow_constants:
            return json.loads(raw)
        return json.loads(raw, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    except ValueError as exc:
        if "digits" in str(exc):
            limit = sys.get_int_max_str_digits()
            raise ValueError(f"a number has more than {limit} digits") from None
        if "is not a JSON number" in str(exc):
            raise
        raise ValueError("the body is not valid JSON") from None
