"""bench/loadtest.py keeps working: a short locust run (12 users, 15 s) on the production
topology, every operation with answers that passed their checks, and locust's report.

Figures are never asserted here: bench/README.md says how to read them.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from bench.loadtest import OPERATIONS
from tests.live.server import ROOT
from tests.postgres_server import require_binaries
from tests.redis_server import redis_binary

pytestmark = pytest.mark.live


def test_the_load_harness_runs_every_operation_and_keeps_its_report(tmp_path: Path):
    require_binaries()
    redis_binary()
    result = subprocess.run(
        [sys.executable, "-m", "bench.loadtest", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Targets:" in result.stdout
    assert (tmp_path / "report.html").stat().st_size > 0
    with (tmp_path / "load_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    for name in OPERATIONS:
        # At least one request of each operation got through every check.
        assert int(rows[name]["Request Count"]) > int(rows[name]["Failure Count"]), (
            name,
            (tmp_path / "load_failures.csv").read_text(),
        )
