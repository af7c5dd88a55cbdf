"""The unmodified npm `capnweb` client under Node, installed into .node-capnweb/ (ignored).

`npm ci` installs exactly what node/package-lock.json pins, with its integrity hashes; xdist
workers share the folder, so one installs while the others wait on a lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

from tests.binaries import binaries_require
from tests.live.server import ROOT

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_DIR = ROOT / ".node-capnweb"


def node_binary() -> str:
    """Return the node path (Node 20 or newer), or skip (fail under CI) when it is missing."""
    return binaries_require("node", "npm", hint="Node 20 or newer")["node"]


def ensure_capnweb() -> Path:
    """Install the pinned capnweb package (once per lock-file content); return its folder."""
    lock = (NODE_DIR / "package-lock.json").read_bytes()
    wanted = hashlib.sha256(lock + (NODE_DIR / "package.json").read_bytes()).hexdigest()
    stamp = INSTALL_DIR / ".lock-sha256"
    INSTALL_DIR.mkdir(exist_ok=True)
    with (ROOT / ".node-capnweb.lock").open("w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (stamp.exists() and stamp.read_text() == wanted):
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(NODE_DIR / name, INSTALL_DIR / name)
            subprocess.run(
                ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=INSTALL_DIR,
                check=True,
                timeout=300,
                capture_output=True,
            )
            stamp.write_text(wanted)
    return INSTALL_DIR / "node_modules" / "capnweb"
