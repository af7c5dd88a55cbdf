"""Every shape limit of incoming wire objects, at its boundary, over JSON-RPC and HTTP+JSON.

The limits are set small with ``override_settings`` (they are read when a request is
validated, not at import). Exactly the limit is accepted; one over is -32602 (HTTP 400 on
the REST binding) naming the field, and nothing is stored. File parts whose bytes contradict
their declared media type are refused the same way.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import override_settings

from a2a.models import Artifact, Context, Message, PushConfig, Task, TaskEvent
from tests.factories import send

pytestmark = pytest.mark.django_db(transaction=True)

LIMITS = {
    "WEBCAP_MAX_PARTS": 3,
    "WEBCAP_MAX_TEXT_CHARS": 20,
    "WEBCAP_MAX_FILE_BYTES": 12,
    "WEBCAP_MAX_METADATA_BYTES": 64,
    "WEBCAP_MAX_METADATA_DEPTH": 3,
    "WEBCAP_MAX_PAGE_SIZE": 5,
    "WEBCAP_MAX_LIST_ITEMS": 4,
}
STORED = (Context, Task, Message, TaskEvent, Artifact, PushConfig)
REST = "/a2a/rest"


@pytest.fixture(autouse=True)
def small_limits() -> Iterator[None]:
    with override_settings(**LIMITS, WEBCAP_PUSH_ALLOWED_HOSTS=["127.0.0.1"]):
        yield


async def _counts() -> dict[str, int]:
    return {model.__name__: await model.objects.acount() for model in STORED}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _nested(depth: int) -> Any:
    """An object nested depth levels deep: {"k": {"k": ... 1}}."""
    value: Any = 1
    for _ in range(depth):
        value = {"k": value}
    return value


def _sized(size: int) -> dict[str, str]:
    """An object that is exactly size bytes as compact JSON: {"k":"xxx..."}."""
    return {"k": "x" * (size - len('{"k":""}'))}


def _send_params(parts: list[dict[str, Any]] | None = None, **message: Any) -> dict[str, Any]:
    request = message.pop("request", {})
    body = {
        "messageId": message.pop("messageId", f"msg-{uuid.uuid4()}"),
        "role": "ROLE_USER",
        "parts": parts if parts is not None else [{"text": "hello"}],
        **message,
    }
    return {"message": body, **request}


@dataclass(frozen=True)
class Limit:
    """One limit: the field it names, and SendMessage params at (False) or over (True) it."""

    field: str
    params: Callable[[bool], dict[str, Any]]


# Each limit's boundary as it reaches SendMessage; `over` adds exactly one unit.
SEND_LIMITS = {
    "parts per message": Limit(
        "message.parts", lambda over: _send_params([{"text": "a"}] * (3 + over))
    ),
    "text part length": Limit(
        "message.parts[0].text", lambda over: _send_params([{"text": "x" * (20 + over)}])
    ),
    "inline file size": Limit(
        "message.parts[0].raw",
        lambda over: _send_params(
            [{"raw": _b64(b"\x00" * (12 + over)), "mediaType": "application/octet-stream"}]
        ),
    ),
    "message metadata size": Limit(
        "message.metadata", lambda over: _send_params(metadata=_sized(64 + over))
    ),
    "message metadata depth": Limit(
        "message.metadata", lambda over: _send_params(metadata=_nested(3 + over))
    ),
    "request metadata depth": Limit(
        "metadata", lambda over: _send_params(request={"metadata": _nested(3 + over)})
    ),
    "part metadata size": Limit(
        "message.parts[0].metadata",
        lambda over: _send_params([{"text": "a", "metadata": _sized(64 + over)}]),
    ),
    "data part depth": Limit(
        "message.parts[0].data", lambda over: _send_params([{"data": _nested(3 + over)}])
    ),
    "data part size": Limit(
        "message.parts[0].data", lambda over: _send_params([{"data": _sized(64 + over)}])
    ),
    "media type length": Limit(
        "message.parts[0].mediaType",
        lambda over: _send_params(
            [{"text": "a", "mediaType": "text/plain; x=" + "y" * (255 - 14 + over)}]
        ),
    ),
    "file name length": Limit(
        "message.parts[0].filename",
        lambda over: _send_params(
            [
                {
                    "raw": _b64(b"hi"),
                    "mediaType": "text/plain",
                    "filename": "n" * (255 - 4 + over) + ".txt",
                }
            ]
        ),
    ),
    "url length": Limit(
        "message.parts[0].url",
        lambda over: _send_params([{"url": "https://example.com/" + "a" * (2048 - 20 + over)}]),
    ),
    "message id length": Limit(
        "message.messageId", lambda over: _send_params(messageId="m" * (256 + over))
    ),
    "extensions count": Limit(
        "message.extensions",
        lambda over: _send_params(
            extensions=[f"https://example.com/ext/{i}" for i in range(4 + over)]
        ),
    ),
    "reference task ids count": Limit(
        "message.referenceTaskIds",
        lambda over: _send_params(referenceTaskIds=[str(uuid.uuid4()) for _ in range(4 + over)]),
    ),
    "accepted output modes count": Limit(
        "configuration.acceptedOutputModes",
        lambda over: _send_params(
            request={"configuration": {"acceptedOutputModes": ["text/plain"] * (4 + over)}}
        ),
    ),
}


async def _post_rest(async_client: Any, path: str, body: Any, key: str) -> Any:
    return await async_client.post(
        REST + path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"A2A-Version": "1.0", "Authorization": f"Bearer {key}"},
    )


def _rpc_violations(response: Any) -> tuple[int, list[dict[str, str]]]:
    """Return the JSON-RPC error code and its BadRequest field violations."""
    assert response.status_code == 200
    error = response.json()["error"]
    bad_request = [d for d in error["data"] if d["@type"].endswith("google.rpc.BadRequest")]
    return error["code"], bad_request[0]["fieldViolations"] if bad_request else []


def _rest_violations(response: Any) -> tuple[int, list[dict[str, str]]]:
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (response.status_code, "INVALID_ARGUMENT")
    bad_request = [d for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    return response.status_code, bad_request[0]["fieldViolations"]


@pytest.mark.parametrize("name", list(SEND_LIMITS))
async def test_send_message_at_each_limit_is_accepted_over_jsonrpc(rpc, api_key, name):
    before = await _counts()

    response = await rpc("SendMessage", SEND_LIMITS[name].params(False), key=api_key)

    body = response.json()
    assert "result" in body, body
    assert body["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (await _counts())["Task"] == before["Task"] + 1


@pytest.mark.parametrize("name", list(SEND_LIMITS))
async def test_send_message_one_over_each_limit_is_refused_over_jsonrpc(rpc, api_key, name):
    limit = SEND_LIMITS[name]
    before = await _counts()

    response = await rpc("SendMessage", limit.params(True), key=api_key)

    code, violations = _rpc_violations(response)
    assert code == -32602
    assert [v["field"] for v in violations] == [limit.field]
    assert limit.field in response.json()["error"]["message"]
    assert await _counts() == before


@pytest.mark.parametrize("name", list(SEND_LIMITS))
async def test_send_message_at_and_over_each_limit_over_rest(async_client, api_key, name):
    limit = SEND_LIMITS[name]
    before = await _counts()

    refused = await _post_rest(async_client, "/message:send", limit.params(True), api_key)

    assert refused.status_code == 400
    _, violations = _rest_violations(refused)
    assert [v["field"] for v in violations] == [limit.field]
    assert await _counts() == before

    accepted = await _post_rest(async_client, "/message:send", limit.params(False), api_key)

    assert accepted.status_code == 200, accepted.content
    assert (await _counts())["Task"] == before["Task"] + 1


# --- Lists, cancels and push configs --------------------------------------------------------------


@pytest.fixture
async def task_id(user) -> str:
    result = await sync_to_async(send)(user, "done already")
    return str(result.task_id)


async def test_list_tasks_page_size_follows_the_setting(rpc, async_client, api_key):
    at_limit = (await rpc("ListTasks", {"pageSize": 5}, key=api_key)).json()
    assert at_limit["result"]["pageSize"] == 5

    code, violations = _rpc_violations(await rpc("ListTasks", {"pageSize": 6}, key=api_key))
    assert code == -32602
    assert violations == [{"field": "pageSize", "description": "must be at most 5"}]

    headers = {"A2A-Version": "1.0", "Authorization": f"Bearer {api_key}"}
    rest_ok = await async_client.get(REST + "/tasks", {"pageSize": "5"}, headers=headers)
    assert rest_ok.status_code == 200
    rest_over = await async_client.get(REST + "/tasks", {"pageSize": "6"}, headers=headers)
    assert rest_over.status_code == 400
    assert _rest_violations(rest_over)[1] == [
        {"field": "pageSize", "description": "must be at most 5"}
    ]


async def test_the_page_size_cap_is_read_per_request(rpc, api_key):
    with override_settings(WEBCAP_MAX_PAGE_SIZE=200):
        raised = (await rpc("ListTasks", {"pageSize": 200}, key=api_key)).json()
    assert raised["result"]["pageSize"] == 200
    code, _ = _rpc_violations(await rpc("ListTasks", {"pageSize": 200}, key=api_key))
    assert code == -32602


async def test_list_push_configs_page_size_follows_the_setting(rpc, api_key, task_id):
    ok = await rpc(
        "ListTaskPushNotificationConfigs", {"taskId": task_id, "pageSize": 5}, key=api_key
    )
    assert "result" in ok.json()
    over = await rpc(
        "ListTaskPushNotificationConfigs", {"taskId": task_id, "pageSize": 6}, key=api_key
    )
    assert _rpc_violations(over) == (
        -32602,
        [{"field": "pageSize", "description": "must be at most 5"}],
    )


async def test_cancel_metadata_is_bounded(rpc, api_key, task_id):
    before = await _counts()
    over = await rpc("CancelTask", {"id": task_id, "metadata": _nested(4)}, key=api_key)
    code, violations = _rpc_violations(over)
    assert (code, [v["field"] for v in violations]) == (-32602, ["metadata"])

    # At the limit the request is valid; the finished task is simply not cancelable.
    at_limit = await rpc("CancelTask", {"id": task_id, "metadata": _nested(3)}, key=api_key)
    assert at_limit.json()["error"]["code"] == -32002
    assert await _counts() == before


PUSH_LIMITS = {
    "url length": ("url", lambda over: {"url": "http://127.0.0.1/" + "a" * (2048 - 17 + over)}),
    "token length": (
        "token",
        lambda over: {"url": "http://127.0.0.1/hook", "token": "t" * (1024 + over)},
    ),
    "credentials length": (
        "authentication.credentials",
        lambda over: {
            "url": "http://127.0.0.1/hook",
            "authentication": {"scheme": "Bearer", "credentials": "c" * (4096 + over)},
        },
    ),
}


@pytest.mark.parametrize("name", list(PUSH_LIMITS))
async def test_push_config_strings_are_bounded_on_both_bindings(
    rpc, async_client, api_key, task_id, name
):
    field, params = PUSH_LIMITS[name]
    before = await _counts()

    over = await rpc(
        "CreateTaskPushNotificationConfig", {"taskId": task_id, **params(True)}, key=api_key
    )
    code, violations = _rpc_violations(over)
    assert (code, [v["field"] for v in violations]) == (-32602, [field])
    rest_over = await _post_rest(
        async_client, f"/tasks/{task_id}/pushNotificationConfigs", params(True), api_key
    )
    assert rest_over.status_code == 400
    assert [v["field"] for v in _rest_violations(rest_over)[1]] == [field]
    assert await _counts() == before

    accepted = await rpc(
        "CreateTaskPushNotificationConfig", {"taskId": task_id, **params(False)}, key=api_key
    )
    assert "result" in accepted.json(), accepted.json()
    assert await PushConfig.objects.acount() == before["PushConfig"] + 1


@pytest.mark.parametrize(
    ("url", "description"),
    [
        ("ftp://127.0.0.1/hook", "must be a URL with one of the schemes http, https"),
        ("data:,hello", "must be a URL with one of the schemes http, https"),
        ("http:///nohost", "must name a host"),
        ("http://127.0.0.1/a b", "must not contain spaces or control characters"),
    ],
)
async def test_push_config_urls_must_be_http(rpc, api_key, task_id, url, description):
    response = await rpc(
        "CreateTaskPushNotificationConfig", {"taskId": task_id, "url": url}, key=api_key
    )
    assert _rpc_violations(response) == (-32602, [{"field": "url", "description": description}])
    assert await PushConfig.objects.acount() == 0


# --- Shapes of strings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "field", "description"),
    [
        ({"text": "a", "mediaType": "text"}, "mediaType", "must be a media type such as"),
        ({"text": "a", "mediaType": "text/plain;"}, "mediaType", "must be a media type such as"),
        ({"text": "a", "mediaType": "te xt/plain"}, "mediaType", "must be a media type such as"),
        (
            {"raw": _b64(b"hi"), "mediaType": "text/plain", "filename": "../etc/passwd"},
            "filename",
            "without path separators",
        ),
        ({"raw": _b64(b"hi"), "filename": "C:\\boot.ini"}, "filename", "without path separators"),
        ({"raw": _b64(b"hi"), "filename": ".."}, "filename", "must name a file"),
        ({"raw": _b64(b"hi"), "filename": "a\x07b"}, "filename", "control characters"),
        ({"raw": _b64(b"hi"), "filename": "evil\u202egnp.exe"}, "filename", "control characters"),
        ({"url": "file:///etc/passwd"}, "url", "schemes data, http, https"),
        ({"url": "javascript:alert(1)"}, "url", "schemes data, http, https"),
        ({"url": "https://"}, "url", "must name a host"),
        ({"url": "data:text/plain"}, "url", "must be a data URL"),
        ({"raw": "not base64!"}, "raw", "must be base64-encoded bytes"),
        ({"text": "nul \x00 inside"}, "text", "must not contain NUL characters"),
    ],
)
async def test_part_strings_must_have_their_shape(rpc, api_key, part, field, description):
    before = await _counts()

    response = await rpc("SendMessage", _send_params([{"text": "ok"}, part]), key=api_key)

    code, violations = _rpc_violations(response)
    assert code == -32602
    assert [v["field"] for v in violations] == [f"message.parts[1].{field}"]
    assert description in violations[0]["description"]
    assert await _counts() == before


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("message.extensions[0]", _send_params(extensions=["not a uri"])),
        (
            "configuration.acceptedOutputModes[0]",
            _send_params(request={"configuration": {"acceptedOutputModes": ["text\n"]}}),
        ),
        ("tenant", _send_params(request={"tenant": "t" * 257})),
        # JSON that Python reads but PostgreSQL cannot store: NUL in text, NaN.
        ("message.metadata.a\\x00b", _send_params(metadata={"a\x00b": 1})),
        ("metadata.score", _send_params(request={"metadata": {"score": float("nan")}})),
        ("message.referenceTaskIds[0]", _send_params(referenceTaskIds=["r" * 257])),
    ],
)
async def test_other_message_fields_are_checked(rpc, api_key, field, params):
    before = await _counts()

    response = await rpc("SendMessage", params, key=api_key)

    code, violations = _rpc_violations(response)
    assert (code, [v["field"] for v in violations]) == (-32602, [field])
    assert await _counts() == before


# --- File parts against their declared media type ------------------------------------------------


@pytest.fixture
def roomy_files() -> Iterator[None]:
    """Room for the sample files below (the small limits allow 12 bytes)."""
    with override_settings(WEBCAP_MAX_FILE_BYTES=1024):
        yield


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


@pytest.mark.parametrize(
    ("media_type", "data", "problem"),
    [
        ("image/png", PNG, None),
        ("image/png", b"GIF89a...", "declared image/png, but the bytes are not a PNG image"),
        ("IMAGE/PNG", b"<svg/>", "declared image/png, but the bytes are not a PNG image"),
        ("image/jpeg", b"\xff\xd8\xff\xe0", None),
        ("image/jpeg", PNG, "declared image/jpeg, but the bytes are not a JPEG image"),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", None),
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt ", "not a WebP image"),
        ("application/pdf", PDF, None),
        ("application/pdf", b"<html>", "declared application/pdf, but the bytes are not a PDF"),
        ("application/zip", b"PK\x03\x04", None),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            b"%PDF-",
            "the bytes are not a ZIP archive",
        ),
        ("text/plain", "héllo".encode(), None),
        ("text/plain", b"\xff\xfe\xfd", "declared text/plain, but the bytes are not valid utf-8"),
        ("text/plain; charset=latin-1", b"\xff\xfe\xfd", None),
        ("text/plain; charset=klingon", b"a", "with the unknown charset 'klingon'"),
        ("text/csv; charset=rot13", b"a", "which is not a text charset"),
        ("application/json", b'{"a": "\xc3\xa9"}', None),
        ("application/ld+json", b"\xc3", "the bytes are not valid utf-8 text"),
        # Opaque or unknown types are taken as declared.
        ("application/octet-stream", PNG + b"\xff", None),
        ("application/x-webcap-custom", b"\x00\x01", None),
        ("audio/mpeg", b"anything", None),
    ],
)
@pytest.mark.usefixtures("roomy_files")
async def test_file_bytes_must_not_contradict_the_media_type(
    rpc, api_key, media_type, data, problem
):
    before = await _counts()
    part = {"raw": _b64(data), "mediaType": media_type, "filename": "upload"}

    response = await rpc("SendMessage", _send_params([{"text": "see file"}, part]), key=api_key)

    if problem is None:
        assert "result" in response.json(), response.json()
        stored = await Message.objects.filter(role="user").order_by("-created_at").afirst()
        assert stored is not None
        assert stored.parts[1] == part
        return
    code, violations = _rpc_violations(response)
    assert code == -32602
    # The part as a whole is named: its bytes and its media type disagree.
    assert [v["field"] for v in violations] == ["message.parts[1]"]
    assert problem in violations[0]["description"]
    assert await _counts() == before


@pytest.mark.usefixtures("roomy_files")
async def test_a_mismatched_file_over_rest_and_in_a_03_message(async_client, rpc, api_key):
    part = {"raw": _b64(b"not a png"), "mediaType": "image/png"}
    before = await _counts()

    rest = await _post_rest(async_client, "/message:send", _send_params([part]), api_key)

    assert rest.status_code == 400
    assert [v["field"] for v in _rest_violations(rest)[1]] == ["message.parts[0]"]

    legacy = await rpc(
        "message/send",
        {
            "message": {
                "kind": "message",
                "messageId": "legacy-1",
                "role": "user",
                "parts": [
                    {
                        "kind": "file",
                        "file": {"bytes": _b64(b"nope"), "mimeType": "application/pdf"},
                    }
                ],
            }
        },
        key=api_key,
        version=None,
    )

    error = legacy.json()["error"]
    assert error["code"] == -32602
    assert "message.parts[0]: declared application/pdf" in error["message"]
    assert await _counts() == before
