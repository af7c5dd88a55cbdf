"""Virtualenvs of their own for programs that must not share webcap's: the official a2a-sdk
also imports as ``a2a`` (tests/interop, bench/reference).

A venv is made with the pinned pip of requirements/bootstrap.txt (as the Makefile's
.installed-pip step does), then one hash-locked requirements file is installed into it. A
stamp of both files' hashes lets the next run reuse it; a change of either rebuilds it.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from pathlib import Path

from tests.live.server import ROOT

# The pinned pip every webcap venv installs first (the Makefile's .installed-pip step).
BOOTSTRAP = ROOT / "requirements" / "bootstrap.txt"


def _pip_install(python: Path, requirements: Path, *extra: str) -> None:
    """Install a hash-locked requirements file into the venv of python."""
    pip = [str(python), "-m", "pip", "install", "--quiet", "--require-hashes"]
    subprocess.run(
        [*pip, *extra, "-r", str(requirements)],
        check=True,
        timeout=600,
    )


def ensure_venv(venv: Path, requirements: Path) -> Path:
    """Create or reuse venv with the hash-locked requirements installed; return its python."""
    python = venv / "bin" / "python"
    stamp = venv / ".requirements-sha256"
    wanted = hashlib.sha256(BOOTSTRAP.read_bytes() + requirements.read_bytes()).hexdigest()
    venv.parent.mkdir(exist_ok=True)
    # Processes (xdist workers) may share the folder: one creates it, the others wait.
    with venv.with_name(f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            _pip_install(python, BOOTSTRAP, "--no-deps", "--disable-pip-version-check")
            _pip_install(python, requirements)
            stamp.write_text(wanted)
    return python
