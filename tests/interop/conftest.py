"""The official a2a-sdk client, installed into its own virtualenv (it also imports as ``a2a``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.live.server import ROOT, LiveServer
from tests.venvs import ensure_venv

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements.txt"
VENV = ROOT / ".venv-interop"


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """Create or reuse .venv-interop with the hash-locked a2a-sdk; return its python."""
    return ensure_venv(VENV, REQUIREMENTS)


SdkCall = Callable[..., Any]


def sdk_runner(sdk_python: Path, server: LiveServer) -> SdkCall:
    """Return a function that runs one sdk_client.py scenario against server.

    Running a script puts only its own folder on sys.path, so webcap's ``a2a`` package in
    the checkout root cannot shadow the SDK's.
    """

    def call(key: str, scenario: str, **args: Any) -> Any:
        return sdk_script(sdk_python, "sdk_client.py", server.url, key, scenario, json.dumps(args))

    return call


def sdk_script(sdk_python: Path, script: str, *args: str, stdin: str | None = None) -> Any:
    """Run a script of this folder in the SDK's venv; return the JSON of its last line."""
    result = subprocess.run(
        [str(sdk_python), str(HERE / script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def sdk(sdk_python: Path, webcap_server: LiveServer) -> SdkCall:
    """The SDK against the shared echo-agent server."""
    return sdk_runner(sdk_python, webcap_server)


@pytest.fixture(scope="session")
def assistant_sdk(sdk_python: Path, assistant_server: LiveServer) -> SdkCall:
    """The SDK against the assistant server."""
    return sdk_runner(sdk_python, assistant_server)
