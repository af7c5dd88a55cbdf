"""The system http_request changes, for tests: a real HTTP server on 127.0.0.1 that records
every request and answers 200, and can hold the first ones unanswered, like a server that is
still working when the worker calling it dies."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    """One request as it arrived; header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Downstream:
    """Answers every method with an empty 200 and records the request. The first ``hold``
    requests get their answer only after ``release()`` or ``close()``."""

    def __init__(self, *, hold: int = 0) -> None:
        self.hold = hold
        self._seen: list[Seen] = []
        self._changed = threading.Condition()
        self._released = threading.Event()
        downstream = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Seen(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with downstream._changed:
                    downstream._seen.append(seen)
                    held = len(downstream._seen) <= downstream.hold
                    downstream._changed.notify_all()
                if held:
                    downstream._released.wait(timeout=300)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client went away while its request was held

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _record

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/orders"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def seen(self) -> list[Seen]:
        """The requests received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._seen)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Seen]:
        """Wait until count requests arrived and return them; fail on timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._seen) >= count, timeout):
                raise AssertionError(f"{len(self._seen)} of {count} requests in {timeout} s")
            return list(self._seen)

    def release(self) -> None:
        """Answer the held requests (and hold no more)."""
        self._released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
