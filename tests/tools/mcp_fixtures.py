"""Real MCP servers for the tool-source tests: tests/tools/mcp_server.py over streamable HTTP
on 127.0.0.1 (a subprocess on a free port) and over stdio (webcap starts it per session)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.live.server import free_port

ROOT = Path(__file__).resolve().parents[2]
STDIO_COMMAND = sys.executable
STDIO_ARGS = ["-m", "tests.tools.mcp_server"]


class McpHttpServer:
    """tests/tools/mcp_server.py over streamable HTTP; ``restart(variant=...)`` on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, variant: str = "1") -> None:
        env = {**os.environ, "MCP_DEMO_VARIANT": variant}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.tools.mcp_server", "--http", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("the MCP test server exited") from None
                time.sleep(0.05)
        raise RuntimeError("the MCP test server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, *, variant: str) -> None:
        self.stop()
        self.start(variant=variant)
