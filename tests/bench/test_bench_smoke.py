"""`make bench-smoke` keeps working: every metric measured on both servers, no error.

Runs ``python -m bench.compare --smoke`` (both topologies, tiny durations) as a subprocess
and reads its JSON. No timing is asserted: figures from a shared test machine mean nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.binaries import binaries_require
from tests.live.server import ROOT
from tests.postgres_server import BINARIES

pytestmark = pytest.mark.live

REQUESTS = {"card", "send_complete", "send_immediate", "get_task", "list_tasks", "create", "stream"}
# The fan-out runs once per webcap server: embedded, and the production topology at 2 webs.
EXPECTED = {
    "embedded": REQUESTS | {"fanout"},
    "production, 1 web": REQUESTS,
    "production, 2 webs": REQUESTS | {"fanout"},
}


@pytest.mark.timeout(900)
def test_bench_smoke_measures_every_metric_on_both_servers(tmp_path: Path) -> None:
    # The production topology needs them; under CI=true a missing one fails the test.
    binaries_require(*BINARIES, "redis-server", hint="PostgreSQL 15 server and redis-server")
    result = subprocess.run(
        [sys.executable, "-m", "bench.compare", "--smoke", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    output = f"{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    assert result.returncode == 0, output
    (path,) = tmp_path.glob("bench-*.json")
    assert len(list(tmp_path.glob("bench-*.html"))) == 1
    data = json.loads(path.read_text())

    assert data["errors"] == 0, output
    assert set(data["topologies"]) == set(EXPECTED)
    for name, metrics in EXPECTED.items():
        topology = data["topologies"][name]
        assert set(topology["metrics"]) == metrics, name
        for metric, sides in topology["metrics"].items():
            for side in ("webcap", "reference"):
                assert sides[side]["errors"] == 0, (name, metric, side, sides[side])
                assert sides[side]["timed"] > 0, (name, metric, side)
        for row in topology["rows"]:
            assert row["webcap"] is not None, (name, row)
            assert row["reference"] is not None, (name, row)
    assert {row["label"].split(" (")[0] for row in data["scaling"]} >= {"agent card", "GetTask"}
