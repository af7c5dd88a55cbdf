"""An HTTP receiver on 127.0.0.1 for tests: records POSTs (can fail them on purpose) and
answers GET with a small page."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class WebhookReceiver:
    """Answers 500 to the first ``fail_first`` POSTs, 200 after that; keeps what arrived."""

    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    attempts: int = 0
    # GET answers this page and records the path.
    page: str = "<html><head><title>Test Page</title></head><body>Hello.</body></html>"
    gets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.requests.append(
                            Received(
                                path=self.path,
                                headers={k.lower(): v for k, v in self.headers.items()},
                                body=json.loads(raw),
                            )
                        )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                body = receiver.page.encode()
                with receiver._lock:
                    receiver.gets.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """Wait until count notifications were accepted; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"only {len(self.requests)} of {count} notifications arrived")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
