"""Structured logs: the request id of X-Request-ID on every record, the ids of the caller, the
task and the job, the formats, and redaction of secrets (common/logging.py)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from channels.testing import WebsocketCommunicator
from django.test import Client

from common.logging import REDACTED, formatter, redact, redact_text
from config.asgi import application
from tests.conftest import sse_frames
from tests.factories import message_params
from tests.live.server import run_python, webcap_env

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
KEY = "wcp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0u1v"


class Records:
    """The JSON lines the production formatter writes, parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def raw(self) -> str:
        return self.stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw.splitlines() if line.strip()]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [record for record in self.all() if record["event"] == event]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def records() -> Iterator[Records]:
    """Every record of the test, rendered by the JSON formatter of production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter("json"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield Records(stream)
    finally:
        root.removeHandler(handler)


# --- Redaction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("authorization", True),
        ("Authorization", True),
        ("x-api-key", True),
        ("api_key", True),
        ("apikey", True),
        ("token", True),
        ("access", True),
        ("refresh", True),
        ("access_token", True),
        ("csrftoken", True),
        ("password", True),
        ("new_password", True),
        ("client_secret", True),
        ("cookie", True),
        ("set-cookie", True),
        ("session", True),
        ("ticket", True),
        ("prompt_tokens", False),
        ("max_tokens", False),
        ("request_id", False),
        ("task_id", False),
        ("user_id", False),
        ("state", False),
        ("path", False),
    ],
)
def test_keys_named_like_secrets_are_masked(key, secret):
    out = redact(None, "info", {"event": "e", key: "value-1"})
    assert out[key] == (REDACTED if secret else "value-1")


def test_masking_reaches_nested_values_and_keeps_the_rest():
    out = redact(
        None,
        "info",
        {
            "event": "call",
            "headers": {"Authorization": "Bearer x", "Accept": "text/plain"},
            "items": [{"password": "p"}, "plain", ("Bearer abc",)],
            "count": 3,
        },
    )
    assert out == {
        "event": "call",
        "headers": {"Authorization": REDACTED, "Accept": "text/plain"},
        "items": [{"password": REDACTED}, "plain", [f"Bearer {REDACTED}"]],
        "count": 3,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"used key {KEY} now", f"used key wcp_{REDACTED} now"),
        ("Authorization: Bearer abc.def-ghi", f"Authorization: Bearer {REDACTED}"),
        ("authorization=basic dXNlcjpwYXNz", f"authorization=basic {REDACTED}"),
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl!",
            f"jwt {REDACTED}!",
        ),
        ("GET /x?token=abc123&page=2", f"GET /x?token={REDACTED}&page=2"),
        ('{"password": "hunter2"}', f'{{"password": "{REDACTED}"}}'),
        ("X-API-Key: k-123", f"X-API-Key: {REDACTED}"),
        # A key's display prefix (10 characters, as audit rows show it) stays readable.
        ("Refused api_key credential wcp_A1b2C3… ", "Refused api_key credential wcp_A1b2C3… "),
        ("used 12 prompt tokens: fine", "used 12 prompt tokens: fine"),
    ],
)
def test_secrets_inside_strings_are_masked(text, expected):
    assert redact_text(text) == expected


def test_a_logged_exception_is_masked_too(records):
    try:
        raise ValueError(f"refused {KEY}")
    except ValueError:
        logging.getLogger("tests.logging").exception("Call failed with Bearer %s", "tok-1")
    (record,) = records.all()
    assert record["event"] == f"Call failed with Bearer {REDACTED}"
    assert f"ValueError: refused wcp_{REDACTED}" in record["exception"]
    assert KEY not in records.raw
    assert "tok-1" not in records.raw


# --- Format -----------------------------------------------------------------------------------


def test_a_json_record_has_the_fixed_fields_first_and_omits_unknown_ids(records):
    with structlog.contextvars.bound_contextvars(request_id="r-1", user_id=None, task_id=""):
        logging.getLogger("tests.logging").warning("Hello %s", "there")
    (record,) = records.all()
    assert list(record) == ["timestamp", "level", "logger", "event", "request_id"]
    assert TIMESTAMP.match(record["timestamp"]), record["timestamp"]
    assert record["level"] == "warning"
    assert record["logger"] == "tests.logging"
    assert record["event"] == "Hello there"
    assert record["request_id"] == "r-1"


def _probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, logging; django.setup(); from django.conf import settings; "
        "print(settings.LOG_FORMAT, flush=True); logging.getLogger('probe').warning('hi')"
    )
    return run_python(webcap_env(tmp_path, **env), code)


def test_log_format_defaults_by_mode_and_a_bad_value_is_refused(tmp_path):
    embedded = _probe(tmp_path, LOG_FORMAT="")
    assert embedded.returncode == 0, embedded.stderr
    assert embedded.stdout.strip() == "console"
    assert "[warning  ] hi" in embedded.stderr
    production = _probe(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", DJANGO_SECRET_KEY="x" * 50)
    assert production.returncode == 0, production.stderr
    assert production.stdout.strip() == "json"
    line = json.loads(production.stderr.strip().splitlines()[-1])
    assert (line["level"], line["logger"], line["event"]) == ("warning", "probe", "hi")
    bad = _probe(tmp_path, LOG_FORMAT="xml")
    assert bad.returncode != 0
    assert "LOG_FORMAT must be json or console." in bad.stderr
    bad_level = _probe(tmp_path, LOG_LEVEL="loud")
    assert bad_level.returncode != 0
    assert "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL." in bad_level.stderr


# --- Requests, callers, tasks and jobs --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_every_record_of_a_request_carries_its_x_request_id(rpc, user, api_key, records):
    response = await rpc(
        "SendMessage",
        message_params("hello logs", configuration={"returnImmediately": False}),
        key=api_key,
        headers={"X-Request-ID": "test-req-abc"},
    )
    assert response.status_code == 200
    assert response["X-Request-ID"] == "test-req-abc"
    task_id = response.json()["result"]["task"]["id"]
    context_id = response.json()["result"]["task"]["contextId"]
    lines = records.all()
    assert {line["request_id"] for line in lines} == {"test-req-abc"}
    assert len(lines) == 4, lines
    (created,) = [line for line in lines if line["event"].startswith("Task ")]
    assert created["event"] == f"Task {task_id} created in context {context_id}"
    assert (created["user_id"], created["task_id"], created["context_id"]) == (
        str(user.pk),
        task_id,
        context_id,
    )
    # The job ran eagerly inside the request: its records carry the request's ids and its own.
    (started,) = records.named("job_started")
    (finished,) = records.named("job_finished")
    for job_line in (started, finished):
        assert job_line["logger"] == "common.logging"
        assert job_line["job"] == "a2a.jobs.task_run_job"
        assert job_line["task_id"] == task_id
        assert job_line["context_id"] == context_id
        assert job_line["user_id"] == str(user.pk)
        assert len(job_line["job_id"]) == 36
    assert finished["state"] == "SUCCESS"
    assert isinstance(finished["duration_ms"], int)
    # After the job, the request's records have the request's context back (no job ids).
    (done,) = records.named("request_finished")
    assert done["logger"] == "django_structlog.middlewares.request"
    assert (done["code"], done["request"]) == (200, "POST /a2a/jsonrpc")
    assert (done["task_id"], done["user_id"]) == (task_id, str(user.pk))
    assert "job_id" not in done
    assert api_key not in records.raw


@pytest.mark.django_db(transaction=True)
async def test_a_request_without_a_sane_id_gets_a_generated_one_in_header_and_records(
    rpc, api_key, records
):
    for sent in (None, "bad id\nforged=1"):
        records.clear()
        headers = {"X-Request-ID": sent} if sent is not None else {}
        response = await rpc("ListTasks", {}, key=api_key, headers=headers)
        assert response.status_code == 200
        generated = response["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
        lines = records.all()
        assert lines
        assert {line["request_id"] for line in lines} == {generated}
        assert "forged" not in records.raw


@pytest.mark.django_db(transaction=True)
def test_user_id_is_bound_once_authenticated_and_nothing_leaks_to_the_next_request(
    user, api_key, records
):
    client = Client()
    response = client.get(
        "/api/tool-calls/", HTTP_AUTHORIZATION=f"Bearer {api_key}", HTTP_X_REQUEST_ID="drf-1"
    )
    assert response.status_code == 200
    (done,) = records.named("request_finished")
    assert (done["request_id"], done["user_id"], done["code"]) == ("drf-1", str(user.pk), 200)
    assert structlog.contextvars.get_contextvars() == {}
    records.clear()
    response = client.get("/api/tool-calls/", HTTP_X_REQUEST_ID="anon-1")
    assert response.status_code == 401
    (done,) = records.named("request_finished")
    assert done["request_id"] == "anon-1"
    assert done["level"] == "warning"
    assert "user_id" not in done
    assert "task_id" not in done
    # Django logs the 4xx after the middleware; the record still names the request.
    (refused,) = [line for line in records.all() if line["logger"] == "django.request"]
    assert (refused["event"], refused["request_id"], refused["code"]) == (
        "Unauthorized: /api/tool-calls/",
        "anon-1",
        401,
    )
    assert api_key not in records.raw


@pytest.mark.django_db(transaction=True)
async def test_a_refused_key_is_logged_without_the_key(rpc, records):
    response = await rpc("ListTasks", {}, key=KEY, headers={"X-Request-ID": "bad-key-1"})
    assert response.status_code == 401
    (refused,) = [line for line in records.all() if line["event"].startswith("Refused")]
    assert refused["event"] == "Refused api_key credential wcp_A1b2C3…: Invalid credentials."
    assert refused["request_id"] == "bad-key-1"
    assert "user_id" not in refused
    assert KEY not in records.raw


@pytest.mark.django_db(transaction=True)
async def test_sse_stream_records_keep_the_request_and_task_ids(rpc, api_key, records):
    response = await rpc(
        "SendStreamingMessage",
        message_params("hello stream"),
        key=api_key,
        headers={"X-Request-ID": "sse-1"},
    )
    frames = await sse_frames(response)
    task_id = frames[0]["data"]["result"]["task"]["id"]
    (finished,) = records.named("streaming_finished")
    assert (finished["request_id"], finished["task_id"]) == ("sse-1", task_id)
    assert {line["request_id"] for line in records.all()} == {"sse-1"}


@pytest.mark.django_db(transaction=True)
async def test_websocket_records_carry_the_handshake_request_id_user_and_method(
    user, api_key, records
):
    communicator = WebsocketCommunicator(
        application,
        "/ws/a2a",
        headers=[
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {api_key}".encode()),
            (b"a2a-version", b"1.0"),
            (b"x-request-id", b"ws-req-1"),
        ],
    )
    connected, _ = await communicator.connect()
    assert connected
    params = message_params("over ws", configuration={"returnImmediately": False})
    frame = {"jsonrpc": "2.0", "id": 7, "method": "SendMessage", "params": params}
    await communicator.send_to(text_data=json.dumps(frame))
    answer = json.loads(await communicator.receive_from(timeout=10))
    await communicator.disconnect()
    task_id = answer["result"]["task"]["id"]
    (created,) = [line for line in records.all() if line["event"].startswith("Task ")]
    assert created["request_id"] == "ws-req-1"
    assert created["user_id"] == str(user.pk)
    assert created["rpc_method"] == "SendMessage"
    assert created["task_id"] == task_id
    (started,) = records.named("job_started")
    assert (started["request_id"], started["task_id"]) == ("ws-req-1", task_id)
    assert api_key not in records.raw
