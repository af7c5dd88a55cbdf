"""Limits that agree with each other: ids refuse what file names refuse, the largest inline
file fits in the largest body, parse errors name the problem, one credential per request.

Each test failed before: a push config id with U+202E was stored, an 8 MiB file part got the
body's 413, a 5,000-digit number answered "use sys.set_int_max_str_digits()", and
Authorization beside X-API-Key was accepted.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import Client

from a2a.models import PushConfig, Task
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db

RLO = "\u202e"
# In a test's transaction the agent's job never starts: answer at once.
IMMEDIATE = {"returnImmediately": True}


def _rpc(key: str | None, method: str, params: dict[str, Any], **headers: str) -> Any:
    if key is not None:
        headers.setdefault("Authorization", f"Bearer {key}")
    return Client().post(
        "/a2a/jsonrpc",
        json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
        content_type="application/json",
        headers={"A2A-Version": "1.0", **headers},
    )


def _violations(response) -> list[dict[str, str]]:
    """The field violations of a JSON-RPC -32602 error."""
    error = response.json()["error"]
    assert error["code"] == -32602, error
    [bad] = [d for d in error["data"] if d["@type"].endswith("google.rpc.BadRequest")]
    return list(bad["fieldViolations"])


def _message(**fields: Any) -> dict[str, Any]:
    return {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}], **fields}


@pytest.fixture
def key() -> str:
    return make_key(make_user("ada"))


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"message": _message(messageId=f"evil{RLO}gnp.exe")}, "message.messageId"),
        ({"message": _message(contextId=f"ctx{RLO}")}, "message.contextId"),
        ({"message": _message(contextId="a\x07b")}, "message.contextId"),
        ({"message": _message(referenceTaskIds=[f"t{RLO}"])}, "message.referenceTaskIds[0]"),
    ],
)
def test_ids_with_bidi_or_control_characters_are_refused(key, params, field):
    [violation] = _violations(_rpc(key, "SendMessage", params))
    assert violation["field"] == field
    assert "bidirectional overrides" in violation["description"]
    assert Task.objects.count() == 0


def test_a_push_config_id_with_a_bidi_override_is_not_stored(key):
    sent = _rpc(key, "SendMessage", {"message": _message(), "configuration": IMMEDIATE})
    task_id = sent.json()["result"]["task"]["id"]
    response = _rpc(
        key,
        "CreateTaskPushNotificationConfig",
        {"taskId": task_id, "id": f"hook{RLO}", "url": "https://hooks.example/a"},
    )
    assert [v["field"] for v in _violations(response)] == ["id"]
    assert PushConfig.objects.count() == 0


def test_the_largest_inline_file_fits_in_the_largest_body(settings, key):
    limit = settings.WEBCAP_MAX_FILE_BYTES
    assert 4 * -(-limit // 3) < settings.WEBCAP_MAX_REQUEST_BYTES
    part = {"raw": base64.b64encode(b"a" * limit).decode(), "mediaType": "text/plain"}
    response = _rpc(
        key, "SendMessage", {"message": _message(parts=[part]), "configuration": IMMEDIATE}
    )
    assert response.status_code == 200
    assert "result" in response.json(), response.json().get("error")


def test_a_body_limit_that_hides_the_file_limit_is_a_check_warning(settings):
    settings.WEBCAP_MAX_REQUEST_BYTES = 10 * 1024 * 1024
    assert [m.id for m in run_checks() if m.id == "webcap.W004"] == ["webcap.W004"]
    settings.WEBCAP_MAX_REQUEST_BYTES = 12 * 1024 * 1024
    assert [m.id for m in run_checks() if m.id == "webcap.W004"] == []


HUGE = b'{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"n": ' + b"9" * 5000 + b"}}"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/a2a/jsonrpc", "application/json"),
        ("/a2a/rest/message:send", "application/json"),
        ("/api/keys/", "application/json"),
    ],
)
def test_a_parse_error_names_the_problem_without_implementation_hints(key, path, content_type):
    response = Client().post(
        path,
        HUGE,
        content_type=content_type,
        headers={"Authorization": f"Bearer {key}", "A2A-Version": "1.0"},
    )
    text = response.content.decode()
    assert "sys." not in text
    assert "set_int_max_str_digits" not in text
    assert "a number has more than 4300 digits" in text


# --- One credential per request ------------------------------------------------------------------


@pytest.mark.parametrize(
    "second",
    ["same", "other", ""],
    ids=["the-same-key-twice", "another-key", "an-empty-x-api-key"],
)
def test_authorization_and_x_api_key_together_are_refused(key, second):
    other = make_key(make_user("bob"))
    x_api_key = {"same": key, "other": other, "": ""}[second]
    headers = {"Authorization": f"Bearer {key}", "X-API-Key": x_api_key}
    expected = "Send exactly one credential: Authorization or X-API-Key, not both."

    rpc = _rpc(None, "ListTasks", {}, **headers)
    assert rpc.status_code == 401
    assert rpc.json()["error"]["message"] == expected
    api = Client().get("/api/keys/", headers=headers)
    assert api.status_code == 401
    assert api.json() == {"detail": expected}
    rest = Client().get("/a2a/rest/tasks", headers={**headers, "A2A-Version": "1.0"})
    assert rest.status_code == 401


def test_an_empty_authorization_header_is_refused_not_ignored():
    response = Client().get("/api/keys/", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json() == {"detail": "Authorization must be 'Bearer <token or API key>'."}
