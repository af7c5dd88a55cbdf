"""/health/live, /health/ready and /health, with each dependency really unavailable.

A dependency is made unavailable the way it fails in production: the cache, the channel
layer and the broker point at a closed port on 127.0.0.1 (or at a socket that accepts and
never answers), the database at a second alias on a closed port, the migrations at an empty
database, the storage at a folder that cannot exist and at a real S3 API without the bucket.
"""

from __future__ import annotations

import concurrent.futures
import re
import socket
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from django.db import OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.utils import load_backend

from a2a.services.tasks import task_transition
from common import health
from tests.factories import send
from tests.live.server import free_port
from tests.s3_server import BUCKET, CREDENTIALS, REGION, s3_server

CHECKS = ["database", "cache", "channel_layer", "broker", "migrations", "storage"]
OK = {"ok": True, "error": None}


@pytest.fixture(autouse=True)
def _fresh_health_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no check failing and none still running from another test."""
    monkeypatch.setattr(health, "_failing", {})
    yield
    concurrent.futures.wait(list(health._inflight.values()), timeout=30)


def _redis_url(port: int, password: str = "") -> str:
    return f"redis://{':' + password + '@' if password else ''}127.0.0.1:{port}/0"


def _redis_cache(port: int) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(port),
        }
    }


def _redis_layer(port: int) -> dict[str, Any]:
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [_redis_url(port)]},
        }
    }


def _failed(body: dict[str, Any]) -> dict[str, str]:
    return {name: check["error"] for name, check in body["checks"].items() if not check["ok"]}


def _assert_shape(body: dict[str, Any]) -> None:
    assert list(body["checks"]) == CHECKS
    for check in body["checks"].values():
        assert set(check) == {"ok", "ms", "error"}
        assert isinstance(check["ms"], float)
        assert check["ms"] >= 0
        assert (check["error"] is None) == check["ok"]


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connections are refused at once."""
    return free_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers a byte."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])
    # Closing the listener resets the connections waiting in its backlog: hung checks end.


def _shared_connection(alias: str, **overrides: Any) -> BaseDatabaseWrapper:
    """A database connection outside DATABASES that the check's pool thread may use."""
    settings_dict = {**connections.settings["default"], **overrides}
    wrapper: BaseDatabaseWrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(
        settings_dict, alias
    )
    wrapper.inc_thread_sharing()
    return wrapper


@pytest.fixture
def down_database(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The database check asks PostgreSQL on a closed port, with a password that must not
    show."""
    wrapper = _shared_connection(
        "health_down",
        ENGINE="django.db.backends.postgresql",
        NAME="webcap",
        USER="webcap",
        PASSWORD="hunter2",
        HOST="127.0.0.1",
        PORT=str(closed_port),
        OPTIONS={"connect_timeout": 2},
        CONN_MAX_AGE=0,
    )
    monkeypatch.setitem(
        health.CHECKS, "database", partial(health.database_check, connection=wrapper)
    )
    yield
    wrapper.close()
    wrapper.dec_thread_sharing()


# --- /health/live ----------------------------------------------------------------------------


def test_live_is_ok_and_touches_no_dependency(client, settings, closed_port):
    # No django_db mark: a database query would fail the test; the cache is unreachable.
    settings.CACHES = _redis_cache(closed_port)
    settings.CELERY_BROKER_URL = _redis_url(closed_port)
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


async def test_probes_answer_a_pod_address_that_allowed_hosts_do_not_list(async_client):
    # Kubernetes sends Host: <pod IP>:<port>; the probe middleware answers before Django
    # validates the host, while other paths still refuse it.
    live = await async_client.get("/health/live", headers={"Host": "10.1.2.3:8000"})
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    refused = await async_client.get("/health", headers={"Host": "10.1.2.3:8000"})
    assert refused.status_code == 400


@pytest.mark.django_db
def test_ready_from_a_pod_address(client):
    response = client.get("/health/ready", headers={"Host": "10.1.2.3:8000"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_probes_refuse_writes(client):
    for path in ("/health/live", "/health/ready", "/health"):
        assert client.post(path).status_code == 405, path


# --- /health/ready ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_ready_checks_every_dependency(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {"status", "checks", "warnings"}
    assert body["status"] == "ok"
    assert body["warnings"] == []
    _assert_shape(body)
    assert all({"ok": c["ok"], "error": c["error"]} == OK for c in body["checks"].values())


MODEL_WARNING = {
    "name": "model",
    "message": "WEBCAP_MODEL is unset: the assistant answers with the offline rule-based "
    "stand-in, not a language model. Set WEBCAP_MODEL to a litellm model name (e.g. "
    "openai/gpt-4o-mini), with WEBCAP_MODEL_API_KEY and WEBCAP_MODEL_API_BASE as its provider "
    "needs.",
}


@pytest.mark.django_db
def test_production_assistant_without_a_model_warns_but_stays_ready(client, settings):
    settings.EMBEDDED = False
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""
    for path in ("/health/ready", "/health"):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.json()
        assert body["status"] == "ok"
        assert body["warnings"] == [MODEL_WARNING]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"EMBEDDED": True, "WEBCAP_AGENT": "assistant", "WEBCAP_MODEL": ""},
        {"EMBEDDED": False, "WEBCAP_AGENT": "assistant", "WEBCAP_MODEL": "openai/gpt-4o-mini"},
        {"EMBEDDED": False, "WEBCAP_AGENT": "echo", "WEBCAP_MODEL": ""},
    ],
    ids=["make-run", "model-set", "echo-needs-none"],
)
def test_no_model_warning_where_none_is_needed(client, settings, overrides):
    for name, value in overrides.items():
        setattr(settings, name, value)
    assert client.get("/health/ready").json()["warnings"] == []


@pytest.mark.django_db
@pytest.mark.usefixtures("down_database")
def test_ready_is_503_when_the_database_is_down(client):
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    _assert_shape(body)
    assert body["status"] == "fail"
    assert _failed(body) == {"database": "OperationalError: connection refused"}
    assert "hunter2" not in response.content.decode()
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db
def test_ready_is_503_when_the_cache_is_down(client, settings, closed_port, caplog):
    settings.CACHES = _redis_cache(closed_port)
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    _assert_shape(body)
    assert _failed(body) == {"cache": "ConnectionError: connection refused"}
    assert str(closed_port) not in response.content.decode()
    # Logged once, with the driver's own words, for the operator.
    (record,) = [r for r in caplog.records if r.name == "common.health"]
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(
        "Readiness check cache failed: ConnectionError: connection refused (ConnectionError: "
    )
    # Not once per probe: a second failing probe adds no line, and Django logs no 503.
    assert client.get("/health/ready").status_code == 503
    assert [r.name for r in caplog.records] == ["common.health"]


@pytest.mark.django_db
def test_ready_is_503_when_the_broker_is_down(client, settings, closed_port, caplog):
    settings.CELERY_BROKER_URL = _redis_url(closed_port, password="hunter2")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert _failed(response.json()) == {"broker": "OperationalError: connection refused"}
    assert "hunter2" not in response.content.decode()
    assert "hunter2" not in caplog.text
    assert "Readiness check broker failed" in caplog.text


@pytest.mark.django_db
def test_ready_is_503_when_the_channel_layer_is_down(client, settings, closed_port):
    settings.CHANNEL_LAYERS = _redis_layer(closed_port)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert _failed(response.json()) == {"channel_layer": "ConnectionError: connection refused"}


@pytest.mark.django_db
def test_ready_is_503_while_migrations_are_pending(client, monkeypatch, tmp_path):
    empty = _shared_connection(
        "health_empty",
        ENGINE="django.db.backends.sqlite3",
        NAME=str(tmp_path / "empty.sqlite3"),
        OPTIONS={},
    )
    monkeypatch.setitem(
        health.CHECKS, "migrations", partial(health.migrations_check, connection=empty)
    )
    try:
        response = client.get("/health/ready")
    finally:
        empty.close()
        empty.dec_thread_sharing()
    assert response.status_code == 503
    expected = len(MigrationLoader(None, ignore_no_migrations=True).graph.nodes)
    assert _failed(response.json()) == {"migrations": f"{expected} migrations not applied"}
    assert "health_empty" not in health._migrated


@pytest.mark.django_db
def test_migrations_are_checked_once_per_process(client):
    assert client.get("/health/ready").json()["checks"]["migrations"]["ok"] is True
    assert "default" in health._migrated


@pytest.mark.django_db
def test_ready_is_503_when_the_artifact_folder_cannot_exist(client, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "artifacts")},
        },
    }
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert _failed(response.json()) == {"storage": "the artifact folder is not writable"}


@pytest.mark.django_db
def test_a_folder_not_created_yet_is_ready(client, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "not" / "yet")},
        },
    }
    assert client.get("/health/ready").status_code == 200


def _s3_storage(endpoint: str, bucket: str) -> dict[str, Any]:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": REGION,
            "access_key": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "secret_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "addressing_style": "path",
        },
    }


@pytest.mark.django_db
def test_ready_asks_the_bucket(client, settings, tmp_path):
    with s3_server(tmp_path) as server:
        settings.STORAGES = {**settings.STORAGES, "artifacts": _s3_storage(server.url, BUCKET)}
        assert client.get("/health/ready").status_code == 200
        settings.STORAGES = {**settings.STORAGES, "artifacts": _s3_storage(server.url, "gone")}
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert _failed(response.json()) == {"storage": "ClientError: HTTP 404"}


@pytest.mark.django_db
def test_checks_that_hang_time_out_together(client, settings, silent_port):
    settings.HEALTH_CHECK_TIMEOUT = 1.0
    settings.CACHES = _redis_cache(silent_port)
    settings.CHANNEL_LAYERS = _redis_layer(silent_port)
    settings.CELERY_BROKER_URL = _redis_url(silent_port)
    started = time.monotonic()
    response = client.get("/health/ready")
    took = time.monotonic() - started
    assert response.status_code == 503
    body = response.json()
    hung = ("cache", "channel_layer", "broker")
    assert _failed(body) == dict.fromkeys(hung, "timed out after 1 s")
    for name in hung:
        assert body["checks"][name]["ms"] >= 1000
    # Run at once, not one after the other (that would take 3 s or more).
    assert took < 3.0, took


@pytest.mark.django_db
def test_a_hung_check_is_not_started_twice(client, settings, silent_port):
    settings.HEALTH_CHECK_TIMEOUT = 0.3
    settings.CACHES = _redis_cache(silent_port)
    first = client.get("/health/ready").json()["checks"]["cache"]
    attempt = health._inflight["cache"]
    second = client.get("/health/ready").json()["checks"]["cache"]
    assert first["error"] == second["error"] == "timed out after 0.3 s"
    assert health._inflight["cache"] is attempt
    assert not attempt.done()


# --- /health ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_health_reports_status_and_counts(client, user):
    done = send(user).task_id
    task_transition(task_id=done, state="completed")
    send(user)
    response = client.get("/health")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] == "embedded"
    assert body["agent"] == "echo"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])
    assert body["counts"]["tasks"]["total"] == 2
    assert body["counts"]["tasks"]["byState"]["completed"] == 1
    assert body["counts"]["tasks"]["byState"]["submitted"] == 1
    assert body["counts"]["tasks"]["byState"]["failed"] == 0
    _assert_shape(body)
    assert all(check["ok"] for check in body["checks"].values())
    assert body["warnings"] == []


@pytest.mark.django_db
def test_health_is_503_when_the_database_fails(client, monkeypatch):
    def counting_fails() -> None:
        raise OperationalError("down")

    monkeypatch.setattr("observability.health._counts", counting_fails)
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["error"] == "database: OperationalError"


@pytest.mark.django_db
@pytest.mark.usefixtures("down_database")
def test_health_is_503_naming_the_database_check(client):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["error"] == "database: OperationalError: connection refused"
    assert "counts" not in body
    assert _failed(body) == {"database": "OperationalError: connection refused"}


@pytest.mark.django_db
def test_health_is_503_when_a_check_fails(client, settings, closed_port):
    settings.CACHES = _redis_cache(closed_port)
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["counts"]["tasks"]["total"] == 0
    assert "error" not in body
    assert _failed(body) == {"cache": "ConnectionError: connection refused"}


def test_describe_names_no_host():
    error = OSError(111, "Connection refused to db.internal:5432")
    assert health.describe(error) == "ConnectionRefusedError: connection refused"
    wrapped = OperationalError('connection to server at "db.internal" failed')
    wrapped.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert health.describe(wrapped) == "OperationalError: name resolution failed"
    assert health.describe(RuntimeError("secret at db.internal")) == "RuntimeError"


def test_log_detail_masks_credentials_in_urls():
    error = RuntimeError("cannot reach redis://user:hunter2@cache.internal:6379/0\nmore")
    assert health._log_detail(error) == (
        "RuntimeError: cannot reach redis://***@cache.internal:6379/0"
    )
