"""Metrics with several processes: two web processes and a worker share one
PROMETHEUS_MULTIPROC_DIR (tests/cluster.py), so a scrape of either web process shows the
calls both served and the jobs the worker ran, and two scrapes agree.
"""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import Cluster
from tests.factories import message_params

pytestmark = pytest.mark.live

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SEND_OK = (
    "webcap_a2a_requests_total",
    frozenset({"method": "SendMessage", "binding": "jsonrpc", "code": "ok"}.items()),
)
JOBS_OK = (
    "webcap_jobs_total",
    frozenset({"job": "task_run_job", "outcome": "success"}.items()),
)


def _scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _send(url: str, key: str, text: str) -> None:
    body = Cluster.rpc(url, key, "SendMessage", message_params(text))
    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED", body


def test_every_web_process_shows_the_calls_and_jobs_of_the_whole_host(
    cluster: Cluster, cluster_key: str
):
    web_a, web_b = cluster.web_urls
    sent_a, sent_b = 3, 2
    for index in range(sent_a):
        _send(web_a, cluster_key, f"via a {index}")
    for index in range(sent_b):
        _send(web_b, cluster_key, f"via b {index}")

    # The worker counts a job after it ends, a moment after the answer went out.
    deadline = time.monotonic() + 20
    while _scrape(web_a).get(JOBS_OK, 0) < sent_a + sent_b and time.monotonic() < deadline:
        time.sleep(0.2)
    first_a, first_b = _scrape(web_a), _scrape(web_b)
    second_a, second_b = _scrape(web_a), _scrape(web_b)

    for samples in (first_a, first_b, second_a, second_b):
        assert samples[SEND_OK] == sent_a + sent_b
        assert samples[JOBS_OK] >= sent_a + sent_b
    # Beat keeps running its periodic jobs between the scrapes: those counters may move, and
    # so does every process's CPU time (serving the scrape itself costs some).
    totals = {
        key: value
        for key, value in first_a.items()
        if key[0].startswith("webcap_")
        and key[0].endswith(("_total", "_count"))
        and not key[0].startswith("webcap_job")
        and key[0] != "webcap_process_cpu_seconds_total"
    }
    totals[JOBS_OK] = first_a[JOBS_OK]
    assert {key: second_b[key] for key in totals} == totals
    roles = {
        dict(labels)["role"]
        for (name, labels) in first_b
        if name == "webcap_process_resident_memory_bytes"
    }
    assert roles == {"web", "worker"}
    completed = frozenset({"state": "completed"}.items())
    assert first_b[("webcap_tasks", completed)] == sent_a + sent_b


def test_beat_has_a_worker_store_its_heartbeat(cluster: Cluster):
    heartbeat: tuple[str, frozenset[tuple[str, str]]] = (
        "webcap_worker_heartbeat_timestamp_seconds",
        frozenset(),
    )
    # Beat runs the job every 15 s, the first time 15 s after it started.
    deadline = time.monotonic() + 30
    while heartbeat not in (samples := _scrape(cluster.web_urls[1])):
        assert time.monotonic() < deadline, "no heartbeat within 30 s"
        time.sleep(0.5)
    assert abs(samples[heartbeat] - time.time()) < 30
