"""The official a2a-sdk client, installed into its own virtualenv (it also imports as ``a2a``)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.live.server import ROOT, LiveServer

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
# The pinned pip every webcap venv installs first (the Makefile's .installed-pip step).
BOOTSTRAP = ROOT / "requirements" / "bootstrap.txt"
VENV = ROOT / ".venv-interop"


def _pip_install(python: Path, requirements: Path, *extra: str) -> None:
    """Install a hash-locked requirements file into the venv of python."""
    pip = [str(python), "-m", "pip", "install", "--quiet", "--require-hashes"]
    subprocess.run(
        [*pip, *extra, "-r", str(requirements)],
        check=True,
        timeout=600,
    )


def _ensure_sdk_venv() -> Path:
    """Create or reuse .venv-interop with the hash-locked a2a-sdk; return its python."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements-sha256"
    wanted = hashlib.sha256(BOOTSTRAP.read_bytes() + REQUIREMENTS.read_bytes()).hexdigest()
    VENV.parent.mkdir(exist_ok=True)
    # xdist workers share the folder: one creates it, the others wait.
    with (ROOT / ".venv-interop.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
            _pip_install(python, BOOTSTRAP, "--no-deps", "--disable-pip-version-check")
            _pip_install(python, REQUIREMENTS)
            stamp.write_text(wanted)
    return python


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    return _ensure_sdk_venv()


SdkCall = Callable[..., Any]


def sdk_runner(sdk_python: Path, server: LiveServer) -> SdkCall:
    """Return a function that runs one sdk_client.py scenario against server.

    Running a script puts only its own folder on sys.path, so webcap's ``a2a`` package in
    the checkout root cannot shadow the SDK's.
    """

    def call(key: str, scenario: str, **args: Any) -> Any:
        result = subprocess.run(
            [
                str(sdk_python),
                str(HERE / "sdk_client.py"),
                server.url,
                key,
                scenario,
                json.dumps(args),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    return call


@pytest.fixture(scope="session")
def sdk(sdk_python: Path, webcap_server: LiveServer) -> SdkCall:
    """The SDK against the shared echo-agent server."""
    return sdk_runner(sdk_python, webcap_server)


@pytest.fixture(scope="session")
def assistant_sdk(sdk_python: Path, assistant_server: LiveServer) -> SdkCall:
    """The SDK against the assistant server."""
    return sdk_runner(sdk_python, assistant_server)
