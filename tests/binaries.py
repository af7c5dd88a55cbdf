"""Programs the tests start (redis-server, PostgreSQL, promtool, node, chromium): found, or the
test skips on a developer's machine and FAILS under ``CI=true``, where ``.ci/run`` installs
them."""

from __future__ import annotations

import os
import shutil

import pytest


def binaries_require(*names: str, hint: str) -> dict[str, str]:
    """Return the path of each program; skip the calling test (fail under CI) if any is missing."""
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = f"not installed: {', '.join(missing)} ({hint})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return {name: path for name, path in found.items() if path is not None}
