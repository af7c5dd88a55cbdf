"""A tiny HTTP server on 127.0.0.1 that serves agent cards (and JWK sets) the test controls.

Each path serves a JSON document with an ETag derived from its bytes and answers 304 to a
matching If-None-Match; ``down`` makes every request fail with 503.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CardSite:
    """Documents by path; ``requests`` records (path, If-None-Match) of every GET."""

    def __init__(self) -> None:
        self.documents: dict[str, bytes] = {}
        self.cache_control = "max-age=300"
        self.down = False
        self.requests: list[tuple[str, str | None]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append((self.path, self.headers.get("If-None-Match")))
                body = site.documents.get(self.path)
                if site.down:
                    self._send(503, b'{"error": "down"}')
                elif body is None:
                    self._send(404, b"{}")
                else:
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers.get("If-None-Match") == etag:
                        self._send(304, b"", etag=etag)
                    else:
                        self._send(200, body, etag=etag)

            def _send(self, status: int, body: bytes, etag: str | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Cache-Control", site.cache_control)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def put(self, path: str, document: Any) -> str:
        """Serve document (JSON) at path; return its URL."""
        self.documents[path] = json.dumps(document).encode()
        return self.url + path

    def start(self) -> CardSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def card(url: str, *, name: str = "Helper", description: str = "Helps.") -> dict[str, Any]:
    """A minimal valid A2A 1.0 card whose JSON-RPC interface is at url."""
    return {
        "name": name,
        "description": description,
        "version": "1.0.0",
        "capabilities": {"streaming": True},
        "supportedInterfaces": [
            {"url": f"{url}/a2a/jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}
        ],
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [
            {
                "id": "summarise",
                "name": "Summarise",
                "description": "Summarises a text.",
                "tags": ["text"],
                "examples": ["summarise this"],
            }
        ],
    }
