"""The production topology on one machine: PostgreSQL, Redis (AOF), web processes, workers.

``make run-cluster`` runs it by hand (``python -m tests.cluster``); the fault tests of the
production topology drive the same class. Everything listens on 127.0.0.1 on free ports,
keeps its data in one folder and is stopped by PID.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any, TypedDict

import httpx

from tests.live.server import ROOT, free_port, manage_stdout, webcap_env
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer


class Cluster:
    """PostgreSQL + Redis + ``webs`` daphne processes + ``workers`` Celery workers + beat."""

    def __init__(self, workdir: Path, *, webs: int = 2, workers: int = 1, **env: str) -> None:
        self.workdir = workdir
        self.webs = webs
        self.workers = workers
        self.extra_env = env
        self.web_ports: list[int] = []
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self.env: dict[str, str] = {}
        self._stack = ExitStack()

    @property
    def web_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.web_ports]

    def start(self) -> None:
        # PostgreSQL runs as the postgres user when we are root: it must reach its folder.
        self.workdir.chmod(0o755)
        self.postgres = postgres = PostgresServer(self.workdir / "postgres")
        (self.workdir / "postgres").mkdir(parents=True, exist_ok=True)
        postgres.start()
        self._stack.callback(postgres.stop)
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir(exist_ok=True)
        self.redis = RedisServer(redis_dir, appendonly=True)
        self.redis.start()
        self._stack.callback(self.redis.stop)
        redis_url = self.redis.url
        self.env = webcap_env(
            self.workdir / "var",
            DATABASE_URL=postgres.url,
            REDIS_URL=redis_url,
            DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # One host: every process writes its metrics here, each /metrics adds them up.
            PROMETHEUS_MULTIPROC_DIR=str(self.workdir / "prometheus"),
            **self.extra_env,
        )
        self._stack.callback(self.stop_processes)
        self.manage("migrate", "--noinput")
        # Emptied before the web and worker processes start, as the Procfile does.
        self.manage("metrics_dir_reset")
        for index in range(self.webs):
            self.start_web(index)
        for index in range(self.workers):
            self.start_worker(index)
        self._spawn(
            "beat",
            "celery",
            "--app",
            "config",
            "beat",
            "--loglevel",
            "WARNING",
            "--schedule",
            str(self.workdir / "celerybeat-schedule"),
        )
        for url in self.web_urls:
            self.wait_healthy(url)

    def start_web(self, index: int) -> None:
        if index >= len(self.web_ports):
            self.web_ports.append(free_port())
        port = self.web_ports[index]
        limit = self.env.get("WEBCAP_MAX_REQUEST_BYTES", "12233388")
        # The Procfile's web line, on loopback.
        self._spawn(
            f"web{index}",
            "daphne",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--websocket-max-message-size",
            limit,
            "--websocket-max-frame-size",
            limit,
            "config.asgi:application",
        )

    def start_worker(self, index: int) -> None:
        self._spawn(
            f"worker{index}",
            "celery",
            "--app",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            "2",
            "--hostname",
            f"worker{index}@%h",
        )

    def _spawn(self, name: str, program: str, *args: str) -> None:
        binary = str(Path(sys.executable).parent / program)
        log = self._logs[name] = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [binary, *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send sig to one process (e.g. "web0", "worker0") and wait for it to end."""
        process = self.processes.pop(name)
        process.send_signal(sig)
        process.wait(timeout=30)
        self._logs.pop(name).close()

    def manage(self, *args: str) -> str:
        return manage_stdout(self.env, *args)

    def create_key(self, username: str) -> str:
        out = self.manage("apikey", "create", username, "--create-user", "--name", "cluster")
        return out.strip().splitlines()[-1]

    @staticmethod
    def rpc(url: str, key: str, method: str, params: dict[str, Any]) -> Any:
        """Call one JSON-RPC method on the web process at url; return the decoded body."""
        response = httpx.post(
            f"{url}/a2a/jsonrpc",
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
            headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
            timeout=30,
        )
        return response.json()

    @staticmethod
    def wait_healthy(url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{url} did not become healthy")

    def stop_processes(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def stop(self) -> None:
        self._stack.close()


class _Recovery(TypedDict):
    WEBCAP_RUN_LEASE_SECONDS: str
    WEBCAP_ORPHAN_SWEEP_SECONDS: str


# A killed worker's task is found within seconds, not after the visibility timeout.
FAST_RECOVERY: _Recovery = {"WEBCAP_RUN_LEASE_SECONDS": "4", "WEBCAP_ORPHAN_SWEEP_SECONDS": "2"}


@contextmanager
def running_cluster(*, workdir: Path | None = None, **kwargs: object) -> Iterator[Cluster]:
    """Start a cluster in workdir, or in a fresh temp folder removed afterwards."""
    # Not pytest's tmp_path: its 0700 parents keep out the postgres user PostgreSQL runs as.
    folder = workdir or Path(tempfile.mkdtemp(prefix="webcap-cluster-"))
    cluster = Cluster(folder, **kwargs)  # type: ignore[arg-type]
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webs", type=int, default=2, help="web processes (default 2)")
    parser.add_argument("--workers", type=int, default=1, help="Celery workers (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder afterwards")
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="webcap-cluster-"))
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        with running_cluster(
            workdir=workdir, webs=options.webs, workers=options.workers
        ) as cluster:
            key = cluster.create_key("demo")
            print(f"webcap cluster in {workdir} (logs: *.log there)")
            print(f"  PostgreSQL {cluster.env['DATABASE_URL']}")
            print(f"  Redis      {cluster.env['REDIS_URL']} (append-only file on)")
            for url in cluster.web_urls:
                print(f"  web        {url}")
            print(f"  workers    {options.workers}, and celery beat")
            print(f"\nAPI key of the user demo: {key}")
            print(
                f"curl -s {cluster.web_urls[0]}/a2a/jsonrpc -H 'Authorization: Bearer {key}' "
                "-H 'A2A-Version: 1.0' -H 'Content-Type: application/json' -d "
                '\'{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}\''
            )
            print("\nCtrl-C stops everything.", flush=True)
            while not stopping:
                time.sleep(0.5)
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
