"""Pieces of the authorization-matrix tests: one endpoint as a row, and who gets what."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """One request of a matrix: what it is called, how it is made, and whom it answers how."""

    name: str
    method: str
    path: str
    expect: Callable[[str], int]
    body: dict[str, Any] | None = None
    # Answers anonymous callers too (the OpenAPI description holds no data).
    public: bool = False


def only(callers: Collection[str], ok: int, *, otherwise: int = 403) -> Callable[[str], int]:
    """Return who gets ok (callers) and who gets otherwise (everyone else)."""
    return lambda caller: ok if caller in callers else otherwise
