"""The servers bench/compare.py drives: webcap embedded, webcap's production topology and the
a2a-sdk reference, each on 127.0.0.1, started and stopped by PID.

Each has ``start()``, ``stop()``, ``target()`` (what the load generator needs) and
``set_echo_delay(ms)``: the fan-out measurement needs tasks that live long enough to subscribe
to, so the echo agent of both sides is restarted with a pause before each chunk.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx

from bench.load import CARD_PATH, Target
from tests.cluster import Cluster
from tests.live.server import ROOT, LiveServer, free_port, stop_process, wait_serving
from tests.venvs import ensure_venv

REFERENCE = ROOT / "bench" / "reference"
REFERENCE_VENV = ROOT / ".venv-bench-reference"
JSONRPC_PATH = "/a2a/jsonrpc"
# The A2A rate limits (requests per window per user and per key) would answer -32029 within
# the first second of a c=64 run: 0 turns them off. Everything else is webcap's default.
WEBCAP_ENV = {
    "WEBCAP_AGENT": "echo",
    "WEBCAP_RATE_LIMIT_USER": "0",
    "WEBCAP_RATE_LIMIT_KEY": "0",
}


def webcap_target(name: str, urls: list[str], key: str) -> Target:
    return Target(
        name=name,
        base_urls=urls,
        jsonrpc_urls=[f"{url}{JSONRPC_PATH}" for url in urls],
        headers={
            "Authorization": f"Bearer {key}",
            "A2A-Version": "1.0",
            "Content-Type": "application/json",
        },
    )


class Reference:
    """bench/reference/server.py in .venv-bench-reference (made or reused on start)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.delay_ms = 0

    def start(self) -> None:
        python = ensure_venv(REFERENCE_VENV, REFERENCE / "requirements.txt")
        # Nothing of webcap's path: the SDK's ``a2a`` must not meet webcap's.
        env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
        with (self.workdir / f"reference-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(python),
                    str(REFERENCE / "server.py"),
                    "--port",
                    str(self.port),
                    "--echo-delay-ms",
                    str(self.delay_ms),
                ],
                cwd=REFERENCE,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_serving(self.process, self.url + CARD_PATH)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"the reference server {exc}; see {self.workdir}") from None

    def stop(self) -> None:
        stop_process(self.process, timeout=15)

    def target(self) -> Target:
        """The reference as the load generator sees it; its JSON-RPC URL is from its card."""
        card = httpx.get(self.url + CARD_PATH, timeout=10).json()
        urls = [
            i["url"] for i in card["supportedInterfaces"] if i.get("protocolBinding") == "JSONRPC"
        ]
        if not urls:
            raise RuntimeError(f"the reference card lists no JSONRPC interface: {card}")
        return Target(
            name="reference",
            base_urls=[self.url],
            jsonrpc_urls=urls[:1],
            headers={"A2A-Version": "1.0", "Content-Type": "application/json"},
        )

    def set_echo_delay(self, ms: int) -> None:
        self.stop()
        self.delay_ms = ms
        self.start()


class WebcapEmbedded:
    """``manage.py runembedded`` (tests/live/server.py) with the echo agent and its SQLite."""

    def __init__(self, workdir: Path) -> None:
        self.server = LiveServer(workdir, **WEBCAP_ENV)
        self.key = ""

    def start(self) -> None:
        self.server.start()
        self.key = self.server.create_key("bench")

    def stop(self) -> None:
        self.server.stop()

    def target(self) -> Target:
        return webcap_target("webcap", [self.server.url], self.key)

    def set_echo_delay(self, ms: int) -> None:
        # The worker runs inside the server process: restart it (same port and database).
        self.server.stop()
        self.server.env["WEBCAP_ECHO_DELAY_MS"] = str(ms)
        self.server.start(migrate=False)


class WebcapCluster:
    """The production topology (tests/cluster.py): PostgreSQL, Redis, web processes, one
    worker and beat; starts with one web process, ``add_web()`` starts another."""

    def __init__(self, workdir: Path) -> None:
        self.cluster = Cluster(workdir, webs=1, workers=1, **WEBCAP_ENV)
        self.key = ""

    def start(self) -> None:
        self.cluster.start()
        self.key = self.cluster.create_key("bench")

    def stop(self) -> None:
        self.cluster.stop()

    def add_web(self) -> None:
        index = len(self.cluster.web_ports)
        self.cluster.start_web(index)
        self.cluster.wait_healthy(self.cluster.web_urls[index])

    def target(self) -> Target:
        return webcap_target("webcap", self.cluster.web_urls, self.key)

    def set_echo_delay(self, ms: int) -> None:
        # The agent runs in the worker: restart it with the pause.
        self.cluster.kill("worker0", signal.SIGTERM)
        self.cluster.env["WEBCAP_ECHO_DELAY_MS"] = str(ms)
        self.cluster.start_worker(0)
