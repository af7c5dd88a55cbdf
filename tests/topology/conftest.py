"""One production-topology cluster (tests/cluster.py) shared by the tests of this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster import FAST_RECOVERY, Cluster, running_cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """PostgreSQL, Redis (AOF), two web processes, one worker, beat; the echo agent, slowed
    to 60 ms per chunk so a stream is still running while processes are killed."""
    with running_cluster(
        webs=2, workers=1, WEBCAP_AGENT="echo", WEBCAP_ECHO_DELAY_MS="60", **FAST_RECOVERY
    ) as running:
        yield running


@pytest.fixture(scope="module")
def cluster_key(cluster: Cluster) -> str:
    return cluster.create_key("alice")
