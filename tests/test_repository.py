"""Every document in the repository stands on its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The team's design notes live outside the checkout; nothing inside may send a reader there.
OUTSIDE = re.compile(r"\.\./shared|shared/(?:DESIGN|HOUSE_STYLE|A2A_NOTES|EMBEDDED_MODE)\b")


def test_no_file_points_at_design_notes_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.suffix not in {".md", ".py", ".txt", ".toml", ".yml", ".yaml", ".cfg", ""}:
            continue
        if path == Path(__file__).resolve() or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{name.decode()}:{number}: {line.strip()}")
    assert offenders == []
