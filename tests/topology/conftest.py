"""One production-topology cluster (tests/cluster.py) shared by the tests of this folder."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """PostgreSQL, Redis (AOF), two web processes, one worker, beat; the echo agent, slowed
    to 60 ms per chunk so a stream is still running while processes are killed."""
    # Not pytest's tmp_path: its 0700 parents keep out the postgres user PostgreSQL runs as.
    workdir = Path(tempfile.mkdtemp(prefix="webcap-cluster-"))
    try:
        with running_cluster(
            workdir,
            webs=2,
            workers=1,
            WEBCAP_AGENT="echo",
            WEBCAP_ECHO_DELAY_MS="60",
            # A killed worker's task is found within seconds, not after the visibility timeout.
            WEBCAP_RUN_LEASE_SECONDS="4",
            WEBCAP_ORPHAN_SWEEP_SECONDS="2",
        ) as running:
            yield running
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster_key(cluster: Cluster) -> str:
    return cluster.create_key("alice")
