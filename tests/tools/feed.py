"""Reading the approval page's live feed (Server-Sent Events that never end by themselves)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


class FeedReader:
    """The ``approvals`` events of one feed response, one at a time."""

    def __init__(self, response: Any) -> None:
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "text/event-stream"
        self._chunks = aiter(response.streaming_content)
        self._buffer = ""

    async def next(self, timeout: float = 15.0) -> dict[str, Any]:
        """Return the data of the next ``approvals`` event; fail after timeout seconds."""
        while True:
            block, separator, rest = self._buffer.partition("\n\n")
            if separator:
                self._buffer = rest
                if block.startswith("event: approvals\n"):
                    data: dict[str, Any] = json.loads(block.partition("\ndata: ")[2])
                    return data
                continue
            chunk = await asyncio.wait_for(anext(self._chunks), timeout)
            self._buffer += chunk.decode()

    async def close(self) -> None:
        """Disconnect, as a browser leaving the page does: the feed leaves its group."""
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()
