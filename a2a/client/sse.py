"""Server-Sent Events read from a byte stream (WHATWG HTML §9.2.6), each event bounded."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from a2a.client.errors import MalformedResponse


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event: its type, its data lines joined by newlines, and the last event
    id seen so far (what a reconnecting client sends back as ``Last-Event-ID``)."""

    event: str
    data: str
    id: str | None


async def sse_events(
    chunks: AsyncIterable[bytes], *, max_event_bytes: int, where: str
) -> AsyncIterator[SSEEvent]:
    """Yield the events of an SSE body; comments (keep-alives) and empty events are skipped.

    Raises MalformedResponse for an event over max_event_bytes or text that is not UTF-8.
    """
    buffer = b""
    pending = 0  # bytes of the event being read, lines included
    event, last_id = "", None
    data: list[str] = []
    async for chunk in chunks:
        buffer += chunk
        while True:
            cut = _line_end(buffer)
            if cut is None:
                break
            end, after = cut
            raw, buffer = buffer[:end], buffer[after:]
            pending += after
            if pending > max_event_bytes:
                raise MalformedResponse(f"{where}: an SSE event is over {max_event_bytes} bytes")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MalformedResponse(f"{where}: an SSE line is not UTF-8: {exc}") from exc
            if not line:
                if data:
                    yield SSEEvent(event=event or "message", data="\n".join(data), id=last_id)
                event, data, pending = "", [], 0
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id" and "\x00" not in value:
                last_id = value
        if pending + len(buffer) > max_event_bytes:
            raise MalformedResponse(f"{where}: an SSE event is over {max_event_bytes} bytes")
    # A last event without its blank line is incomplete: the stream ended mid-event.
    if data or buffer.strip():
        raise MalformedResponse(f"{where}: the SSE stream ended in the middle of an event")


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Where the first line of buffer ends and the next begins (CRLF, LF or CR), if complete."""
    lf, cr = buffer.find(b"\n"), buffer.find(b"\r")
    if cr == -1 and lf == -1:
        return None
    if cr == -1 or (lf != -1 and lf < cr):
        return lf, lf + 1
    if cr + 1 == len(buffer):
        return None  # a CR at the end may be the first half of CRLF
    return cr, cr + (2 if buffer[cr + 1 : cr + 2] == b"\n" else 1)
