"""/metrics: who may scrape it, what a failing source does, and the folder reset command."""

from __future__ import annotations

import logging

import httpx
import pytest
from django.core.management import call_command

from config.celery import app
from observability.worker_server import worker_metrics_serve

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-metrics-token"


def test_no_protection_configured_serves_everyone(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE webcap_a2a_requests_total counter" in response.content


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-token", 401),
        (f"Basic {TOKEN}", 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN}", 200),
        (f"bearer {TOKEN}", 200),
    ],
)
def test_token_matrix(client, settings, authorization, status):
    settings.METRICS_TOKEN = TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
        assert b"webcap_" not in response.content
        assert TOKEN.encode() not in response.content


@pytest.mark.parametrize(
    ("allowed", "status"),
    [
        (["10.0.0.0/8"], 403),
        (["192.0.2.7"], 403),
        (["10.0.0.0/8", "127.0.0.1"], 200),
        (["127.0.0.0/8"], 200),
        (["::1", "127.0.0.1/32"], 200),
    ],
)
def test_allowed_addresses(client, settings, allowed, status):
    settings.METRICS_ALLOWED_IPS = allowed
    assert client.get("/metrics").status_code == status


def test_allowed_addresses_honour_num_proxies(client, settings):
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]
    # No trusted proxy: the header is anyone's to send and is ignored.
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    assert client.get("/metrics", headers=forwarded).status_code == 403
    settings.NUM_PROXIES = 1
    assert client.get("/metrics", headers=forwarded).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 403


def test_address_and_token_together(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    settings.METRICS_ALLOWED_IPS = ["10.0.0.1"]
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_only_get(client, method):
    response = getattr(client, method)("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_a_source_that_fails_leaves_out_its_family_only(client, monkeypatch, caplog):
    monkeypatch.setattr(app.conf, "broker_url", "amqp://guest@127.0.0.1:1//")
    with caplog.at_level(logging.WARNING, logger="observability.collector"):
        response = client.get("/metrics")
    assert response.status_code == 200
    assert b"webcap_queue_depth" not in response.content
    assert b"webcap_tasks{" in response.content
    assert any("queue depth" in record.getMessage() for record in caplog.records)


def test_the_heartbeat_appears_once_a_worker_ran_it(client):
    from observability.jobs import worker_heartbeat_job

    assert b"webcap_worker_heartbeat_timestamp_seconds" not in client.get("/metrics").content
    worker_heartbeat_job.delay()
    assert b"webcap_worker_heartbeat_timestamp_seconds " in client.get("/metrics").content


def test_production_without_protection_warns(settings, caplog):
    from observability.scrape import metrics_public_warn

    settings.EMBEDDED = False
    with caplog.at_level(logging.WARNING, logger="observability.scrape"):
        metrics_public_warn()
        settings.METRICS_TOKEN = TOKEN
        metrics_public_warn()
    assert [r.getMessage() for r in caplog.records] == [
        "/metrics is public: set METRICS_TOKEN or METRICS_ALLOWED_IPS to restrict it"
    ]


def test_metrics_dir_reset_empties_the_folder(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "prometheus"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    call_command("metrics_dir_reset")
    assert folder.is_dir()
    (folder / "counter_123.db").write_bytes(b"x")
    (folder / "gauge_livesum_123.db").write_bytes(b"x")
    (folder / "keep.txt").write_text("not ours")
    call_command("metrics_dir_reset")
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert "Removed 2 metric file(s)" in capsys.readouterr().out


def test_a_bad_allowed_address_stops_the_start(tmp_path):
    from tests.live.server import run_manage, webcap_env

    result = run_manage(webcap_env(tmp_path, METRICS_ALLOWED_IPS="10.0.0.0/8,not-an-ip"), "check")
    assert result.returncode != 0
    assert "METRICS_ALLOWED_IPS: 'not-an-ip' is not an IP address or CIDR network." in result.stderr
    ok = run_manage(webcap_env(tmp_path, METRICS_ALLOWED_IPS="10.0.0.0/8, ::1"), "check")
    assert ok.returncode == 0, ok.stderr


# --- The endpoint a worker on a host of its own serves (METRICS_WORKER_PORT) --------------------


@pytest.fixture
def worker_endpoint():
    server = worker_metrics_serve(0, host="127.0.0.1")  # a free port
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_worker_endpoint_serves_stored_values_with_the_same_protection(
    worker_endpoint, settings
):
    settings.METRICS_TOKEN = TOKEN
    refused = httpx.get(f"{worker_endpoint}/metrics", timeout=5)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "webcap_" not in refused.text
    wrong = httpx.get(f"{worker_endpoint}/metrics", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401

    scraped = httpx.get(
        f"{worker_endpoint}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    )
    assert scraped.status_code == 200
    assert scraped.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE webcap_jobs_total counter" in scraped.text
    # The families read from the database come from the web processes only (no double count).
    assert "webcap_tasks{" not in scraped.text
    assert "webcap_approvals_pending" not in scraped.text

    missing = httpx.get(f"{worker_endpoint}/other", timeout=5)
    assert missing.status_code == 404


def test_the_worker_endpoint_refuses_other_addresses(worker_endpoint, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert httpx.get(f"{worker_endpoint}/metrics", timeout=5).status_code == 403
