"""A real webcap server process on 127.0.0.1 for tests: migrate, make users, serve, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


# The prefixes of the environment variables webcap's settings read: a webcap process started
# by a test must not inherit the caller's (a developer's REDIS_URL, a CI DATABASE_URL).
# A developer's own settings never reach a test's webcap process.
SETTINGS_PREFIXES = (
    "WEBCAP_",
    "DJANGO_",
    "REDIS_",
    "DATABASE_",
    "CELERY_",
    "LOG_",
    "METRICS_",
    "PROMETHEUS_",
    "HEALTH_",
    "ARTIFACT_",
    "AWS_",
)


def webcap_env(var_dir: Path, **overrides: str) -> dict[str, str]:
    """This environment without webcap's settings, for a webcap process of its own: the
    ordinary settings module, var_dir for its state, then overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_PREFIXES)}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", WEBCAP_VAR_DIR=str(var_dir))
    env.update(overrides)
    return env


def run_python(
    env: dict[str, str], code: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code`` in env from the project root (a fresh settings load)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_manage(
    env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py args`` in env from the project root; return the finished process."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manage_stdout(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    """Run ``manage.py args`` in env; return its stdout, raise RuntimeError if it failed."""
    result = run_manage(env, *args, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(
    process: subprocess.Popen[bytes], url: str, timeout: float = START_TIMEOUT
) -> None:
    """Poll url until it answers 200; RuntimeError if process exits or timeout passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited at start (code {process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"did not answer {url} in {timeout}s")


def stop_process(
    process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 20.0
) -> None:
    """Send sig to a process still running and wait for it; SIGKILL after timeout."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


class LiveServer:
    """``manage.py runembedded`` with its own database and var/ folder in a temp directory."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/a2a"
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.env = webcap_env(workdir, PYTHONUNBUFFERED="1", **env)

    def manage(self, *args: str) -> str:
        """Run a management command against this server's database; return its stdout."""
        return manage_stdout(self.env, *args, timeout=120)

    def create_key(self, username: str) -> str:
        """Create the user if needed and return a fresh API key (the command's last line)."""
        return self.manage("apikey", "create", username, "--create-user").strip().splitlines()[-1]

    def start(self, *, migrate: bool = True) -> None:
        """Migrate (unless told not to: a restart on the same database) and serve."""
        if migrate:
            self.manage("migrate", "--noinput", "-v", "0")
        with self.log_path.open("ab") as log:
            # The child keeps its own copy of the descriptor.
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "runembedded", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_serving(self.process, f"{self.url}/health")
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"webcap {exc}:\n{self.log()}") from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """Stop the server (SIGTERM waits for running jobs; SIGKILL does not)."""
        stop_process(self.process, sig, timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rpc(self, key: str, method: str, params: dict[str, Any], request_id: Any = 1) -> Any:
        """Call one JSON-RPC method and return the decoded body."""
        response = httpx.post(
            f"{self.url}/a2a/jsonrpc",
            json={"jsonrpc": "2.0", "id": request_id, "method": method, "params": params},
            headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
            timeout=30,
        )
        return response.json()

    def wait_for_state(self, key: str, task_id: str, states: set[str], timeout: float = 20) -> Any:
        """Poll GetTask until the task is in one of states; return the task."""
        deadline = time.monotonic() + timeout
        task = None
        while time.monotonic() < deadline:
            body = self.rpc(key, "GetTask", {"id": task_id})
            if "result" not in body:
                # A long wait (a lease to expire) at this pace stays under the per-key rate
                # limit; should it not, wait as the server says, like any client must.
                error = body["error"]
                assert error["code"] == -32029, body
                time.sleep(min(float(error["data"][0]["metadata"]["retryAfter"]), 5.0))
                continue
            task = body["result"]
            if task["status"]["state"] in states:
                return task
            time.sleep(0.2)
        raise AssertionError(f"task {task_id} still {task and task['status']['state']}")
