"""Fuzzing POST /a2a/jsonrpc with hypothesis: whatever arrives, the answer is well-formed.

Three kinds of input, each drawn by hypothesis from a fixed seed (``derandomize``) so CI runs
the same examples every time:

- random JSON-RPC envelopes: jsonrpc versions, ids of every JSON type, the method names of
  A2A 1.0 and 0.3 and random ones, params as random JSON;
- A2A objects with a valid structure and random mutations: messages with random parts,
  roles and metadata; GetTask, CancelTask, ListTasks, push-config params with ids of the
  caller's tasks, of another user's task and random ones;
- raw bodies: arbitrary bytes, non-UTF-8, bad content types, other A2A versions.

For every request: never a 5xx; the body is a JSON-RPC 2.0 response (or an SSE stream of
them) carrying the request's id whenever the id was readable; every error code is one the
server documents, never an internal error; and when the answer is an error, no row of the
task store changed. Valid requests may create tasks (the echo agent runs inline).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from a2a.models import Artifact, Context, Message, PushConfig, PushDelivery, Task, TaskEvent
from a2a.protocol import v03
from a2a.protocol.dispatcher import OPERATIONS
from a2a.protocol.errors import InternalError
from a2a.protocol.types import TaskPushNotificationConfig
from a2a.services.push import push_config_create
from tests.conftest import sse_frames
from tests.factories import make_key, make_user, send
from tools.models import ToolCall

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

ENDPOINT = "/a2a/jsonrpc"
# Every JSON-RPC error code the server documents (a2a/protocol/errors.py, docs/security.md).
DOCUMENTED_CODES = frozenset(
    {
        -32700,  # parse error
        -32600,  # invalid request
        -32601,  # method not found
        -32602,  # invalid params
        *range(-32009, -32000),  # the A2A errors, TaskNotFound .. VersionNotSupported
        -32000,  # unauthenticated
        -32029,  # rate limited
        -32040,  # permission denied
    }
)
TRANSPORT_STATUSES = frozenset({401, 413, 415, 429})
STORE = (Context, Task, Message, TaskEvent, Artifact, PushConfig, PushDelivery, ToolCall)
METHODS = sorted(OPERATIONS) + sorted(v03.METHODS)

# Placeholders for ids that exist, replaced per run by the ids of the fixture's rows.
OWN_TASK, FOREIGN_TASK, OWN_CONFIG, OWN_CONTEXT = "@own-task", "@foreign", "@config", "@context"


# --- The world the requests hit -----------------------------------------------------------------


@pytest.fixture
def world(settings: Any, user: Any, api_key: str) -> dict[str, str]:
    """Alice (with a key), one finished task of hers with a webhook, and one task of Bob's."""
    settings.WEBCAP_RATE_LIMIT_USER = 0
    settings.WEBCAP_RATE_LIMIT_KEY = 0
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    own = send(user, "one finished task")
    foreign = send(make_user("mallory"), "not yours")
    config = push_config_create(
        user=user,
        task_id=str(own.task_id),
        config=TaskPushNotificationConfig(url="http://127.0.0.1:9/hook", id="hook-1"),
    )
    own_task = Task.objects.select_related("context").get(pk=own.task_id)
    # From here on webhooks on 127.0.0.1 are refused like any private address: a fuzzed
    # webhook that passed would be delivered to, and with jobs run eagerly a failing
    # delivery reschedules itself inline without waiting, recursing until the stack overflows.
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = []
    return {
        "key": api_key,
        "other_key": make_key(make_user("eve")),
        OWN_TASK: str(own.task_id),
        FOREIGN_TASK: str(foreign.task_id),
        OWN_CONFIG: config.config_id,
        OWN_CONTEXT: own_task.context.key,
    }


def _filled(value: Any, world: dict[str, str]) -> Any:
    """Replace the id placeholders anywhere in value by the ids of real rows."""
    if isinstance(value, str):
        return world.get(value, value) if value.startswith("@") else value
    if isinstance(value, list):
        return [_filled(v, world) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, world) for k, v in value.items()}
    return value


@sync_to_async
def _snapshot() -> dict[str, Any]:
    """Row counts of the task store, and every task's state and last change."""
    counts = {model.__name__: model.objects.count() for model in STORE}
    tasks = list(Task.objects.order_by("id").values_list("id", "state", "updated_at"))
    configs = list(PushConfig.objects.order_by("id").values_list("id", "updated_at"))
    return {"counts": counts, "tasks": tasks, "configs": configs}


# --- Strategies ----------------------------------------------------------------------------------


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draw from good about three times in four: mutations, but enough valid requests too."""
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: good if ok else bad)


# Text without unpaired surrogates, so most requests get past JSON decoding; test_raw_bodies
# adds them, and the server refuses such a body as a parse error.
text = st.text(max_size=24)
surrogates = st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)
ids = st.one_of(
    st.sampled_from([OWN_TASK, FOREIGN_TASK, OWN_CONFIG, OWN_CONTEXT]),
    st.uuids().map(str),
    text,
    st.text(min_size=250, max_size=300),
    json_values,
)
request_ids = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.lists(st.integers(), max_size=2),
    st.dictionaries(text, st.integers(), max_size=2),
)
media_types = st.one_of(
    st.sampled_from(
        [
            "text/plain",
            "text/plain; charset=latin-1",
            "image/png",
            "application/pdf",
            "application/json",
            "application/octet-stream",
            "text",
            "",
            "a/b;",
        ]
    ),
    text,
)
PNG = b"\x89PNG\r\n\x1a\n"
raw_bytes = st.one_of(
    st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()),
    st.sampled_from(["iVBORw0KGgo=", "JVBERi0=", "aGk", "-_8=", "not base64!"]),
    text,
)
part_content = st.one_of(
    st.fixed_dictionaries({"text": st.one_of(text, json_values)}),
    st.fixed_dictionaries({"raw": raw_bytes}),
    st.fixed_dictionaries(
        {"url": st.one_of(st.sampled_from(["https://example.com/a", "data:,x", "ftp://x"]), text)}
    ),
    st.fixed_dictionaries({"data": json_values}),
    st.just({}),
    st.fixed_dictionaries({"text": text, "url": text}),
)
parts = st.builds(
    lambda content, extra: {**content, **extra},
    part_content,
    st.fixed_dictionaries(
        {},
        optional={
            "mediaType": media_types,
            "filename": st.one_of(text, st.sampled_from(["a.txt", "../x", "a\x00b"])),
            "metadata": json_values,
            "kind": st.sampled_from(["text", "file", "data", "bogus"]),
        },
    ),
)
roles = st.one_of(
    st.sampled_from(["ROLE_USER", "ROLE_AGENT", "ROLE_UNSPECIFIED", "user", "agent", ""]), text
)
text_parts = st.fixed_dictionaries(
    {"text": st.text(min_size=1, max_size=40)}, optional={"kind": st.just("text")}
)
messages = st.fixed_dictionaries(
    {
        "messageId": mostly(st.uuids().map(str), ids),
        "role": mostly(st.sampled_from(["ROLE_USER", "user"]), roles),
        "parts": mostly(
            st.lists(mostly(text_parts, parts), min_size=1, max_size=4),
            st.one_of(st.lists(parts, max_size=5), json_values),
        ),
    },
    optional={
        "contextId": ids,
        "taskId": ids,
        "metadata": json_values,
        "extensions": mostly(
            st.lists(st.just("https://example.com/ext/v1"), max_size=2),
            st.one_of(st.lists(text, max_size=3), json_values),
        ),
        "referenceTaskIds": mostly(
            st.lists(st.uuids().map(str), max_size=2),
            st.one_of(st.lists(ids, max_size=3), json_values),
        ),
        "kind": st.just("message"),
    },
)
push_configs = st.fixed_dictionaries(
    {"url": st.one_of(st.sampled_from(["http://127.0.0.1:9/h", "https://10.0.0.1/"]), text)},
    optional={
        "taskId": ids,
        "id": ids,
        "token": text,
        "authentication": st.one_of(
            st.fixed_dictionaries({"scheme": text, "credentials": text}), json_values
        ),
    },
)
send_params = st.fixed_dictionaries(
    {"message": mostly(messages, json_values)},
    optional={
        "configuration": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "acceptedOutputModes": st.one_of(
                        st.lists(media_types, max_size=3), json_values
                    ),
                    "historyLength": st.one_of(st.integers(), json_values),
                    "returnImmediately": st.one_of(st.booleans(), json_values),
                    "taskPushNotificationConfig": st.one_of(push_configs, json_values),
                    "blocking": st.booleans(),
                },
            ),
            json_values,
        ),
        "metadata": json_values,
        "tenant": text,
    },
)
task_params = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from([OWN_TASK, FOREIGN_TASK]), ids)},
    optional={
        "historyLength": st.one_of(st.integers(min_value=-5, max_value=2**40), json_values),
        "metadata": json_values,
        # Past the last event of a finished task the stream is empty: test_fixed_bodies.
        "lastEventSeq": st.one_of(st.integers(min_value=-5, max_value=3), json_values),
    },
)
list_params = st.fixed_dictionaries(
    {},
    optional={
        "pageSize": st.one_of(st.integers(min_value=-5, max_value=500), json_values),
        "pageToken": st.one_of(text, json_values),
        "status": st.one_of(st.sampled_from(["TASK_STATE_COMPLETED", "completed"]), text),
        "contextId": ids,
        "statusTimestampAfter": st.one_of(
            st.sampled_from(
                ["2020-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"]
            ),
            text,
            json_values,
        ),
        "historyLength": st.one_of(st.integers(min_value=-5, max_value=2**40), json_values),
        "includeArtifacts": st.one_of(st.booleans(), json_values),
    },
)
config_ref_params = st.fixed_dictionaries(
    {"taskId": mostly(st.just(OWN_TASK), ids), "id": mostly(st.just(OWN_CONFIG), ids)},
    optional={"pageSize": st.one_of(st.integers(), json_values), "pageToken": text},
)
# Params shaped for each operation (1.0 names; 0.3 names get 1.0 shapes too, and vice versa).
A2A_PARAMS = {
    "SendMessage": send_params,
    "SendStreamingMessage": send_params,
    "message/send": send_params,
    "message/stream": send_params,
    "GetTask": task_params,
    "CancelTask": task_params,
    "SubscribeToTask": task_params,
    "tasks/get": task_params,
    "tasks/cancel": task_params,
    "tasks/resubscribe": task_params,
    "ListTasks": list_params,
    "CreateTaskPushNotificationConfig": push_configs,
    "tasks/pushNotificationConfig/set": st.fixed_dictionaries(
        {"taskId": ids, "pushNotificationConfig": st.one_of(push_configs, json_values)}
    ),
    "GetTaskPushNotificationConfig": config_ref_params,
    "DeleteTaskPushNotificationConfig": config_ref_params,
    "ListTaskPushNotificationConfigs": config_ref_params,
    "tasks/pushNotificationConfig/get": config_ref_params,
    "tasks/pushNotificationConfig/delete": config_ref_params,
    "tasks/pushNotificationConfig/list": config_ref_params,
}
SENDS = ["SendMessage", "SendStreamingMessage", "message/send", "message/stream"]
versions = st.sampled_from(["1.0"] * 6 + ["0.3", "1.0.9", "2.0", "", "v1", None])
content_types = st.sampled_from(
    ["application/json"] * 8
    + ["application/json; charset=utf-8", "application/a2a+json", "text/plain", "", "x/y"]
)


@st.composite
def a2a_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed envelope around an operation's params with random mutations."""
    # Sends are drawn more often: they are the requests that write.
    method = draw(st.sampled_from(SENDS * 3 + sorted(A2A_PARAMS)))
    # 0.3 method names are for 0.3 clients, which send no version header (mostly).
    legacy = method in v03.METHODS
    version = draw(mostly(st.just(None if legacy else "1.0"), versions))
    envelope: dict[str, Any] = {
        "jsonrpc": "2.0",
        "id": draw(st.one_of(st.integers(min_value=0, max_value=10**6), text)),
        "method": method,
        "params": draw(A2A_PARAMS[method]),
    }
    return {"envelope": envelope, "version": version}


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON-RPC envelope with random members, each sometimes missing."""
    envelope = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "jsonrpc": mostly(st.just("2.0"), st.sampled_from(["1.0", "2", 2.0, None, ""])),
                "id": mostly(st.integers(min_value=0, max_value=1000), request_ids),
                "method": mostly(st.sampled_from(METHODS), st.one_of(text, json_values)),
                "params": json_values,
            },
        )
    )
    return envelope


# --- Sending and checking ------------------------------------------------------------------------


def _readable_id(body: bytes, content_type: str) -> tuple[bool, Any]:
    """Return (True, id) when the server can read the request's id, as JSON-RPC defines it."""
    essence = content_type.split(";")[0].strip().lower()
    if essence != "application/json" and not essence.endswith("+json"):
        return False, None
    try:
        data = json.loads(body)
        # Text with an unpaired surrogate ("\ud800") is JSON Python reads, but not Unicode:
        # the server refuses such a body as a parse error.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeDecodeError, UnicodeEncodeError, RecursionError):
        return False, None
    if not isinstance(data, dict):
        return False, None
    request_id = data.get("id")
    if request_id is None or (
        isinstance(request_id, str | int) and not isinstance(request_id, bool)
    ):
        return True, request_id
    return False, None


def _event(name: str) -> None:
    # Outside a hypothesis example (the fixed-body tests) there are no statistics to feed.
    if currently_in_test_context():
        event(name)


def _check_response_object(obj: Any, *, expected_id: tuple[bool, Any], legacy: bool) -> bool:
    """Assert obj is a JSON-RPC 2.0 response; return whether it is an error."""
    assert isinstance(obj, dict), obj
    assert obj.get("jsonrpc") == "2.0", obj
    assert "id" in obj, obj
    readable, request_id = expected_id
    assert obj["id"] == (request_id if readable else None), (obj, expected_id)
    assert ("result" in obj) != ("error" in obj), obj
    if "result" in obj:
        _event("result")
        return False
    error = obj["error"]
    # What was reached shows in --hypothesis-show-statistics.
    _event(f"error {error['code']}")
    assert isinstance(error["code"], int), error
    assert isinstance(error["message"], str), error
    if legacy and error["code"] == InternalError.code:
        # A 0.3 client cannot read newer codes; they reach it as -32603 with their message.
        assert error["message"] != InternalError.default_message, error
    else:
        assert error["code"] in DOCUMENTED_CODES, error
    if not legacy:
        assert error["data"][0]["reason"] != "INTERNAL", error
    return True


async def _post_and_check(
    world: dict[str, str],
    body: bytes,
    *,
    content_type: str = "application/json",
    version: str | None = "1.0",
    auth: str = "key",
) -> None:
    headers: dict[str, str] = {}
    if version is not None:
        headers["A2A-Version"] = version
    if auth == "key":
        headers["Authorization"] = f"Bearer {world['key']}"
    elif auth == "x-api-key":
        headers["X-API-Key"] = world["other_key"]
    elif auth == "bad":
        headers["Authorization"] = "Bearer wcp_not-a-real-key"
    before = await _snapshot()
    client = AsyncClient()

    response = await client.post(ENDPOINT, data=body, content_type=content_type, headers=headers)

    assert response.status_code < 500, response.content[:500]
    assert response.status_code == 200 or response.status_code in TRANSPORT_STATUSES
    expected_id = _readable_id(body, content_type)
    legacy = not (version or "").strip() or (version or "").strip().startswith("0.")
    if response["Content-Type"].startswith("text/event-stream"):
        frames = await asyncio.wait_for(sse_frames(response), timeout=20)
        assert frames, "an empty stream"
        errors = [
            _check_response_object(f["data"], expected_id=expected_id, legacy=legacy)
            for f in frames
        ]
        failed = all(errors)
    else:
        assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
        answer = json.loads(response.content)
        answers = answer if isinstance(answer, list) else [answer]
        errors = [
            _check_response_object(a, expected_id=expected_id, legacy=legacy) for a in answers
        ]
        failed = all(errors)
    if failed:
        assert await _snapshot() == before, body[:300]


def _encode(envelope: Any) -> bytes:
    return json.dumps(envelope).encode()


# --- The tests -----------------------------------------------------------------------------------


def _rpc(request_id: Any, method: str, params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


SEND = {"message": {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "a b"}]}}
SEND_03 = {
    "message": {
        "kind": "message",
        "messageId": "m-03",
        "role": "user",
        "parts": [{"kind": "text", "text": "hello"}],
    }
}


@FUZZ
@given(envelope=envelopes(), version=versions)
async def test_random_envelopes(world, envelope, version):
    await _post_and_check(world, _encode(_filled(envelope, world)), version=version)


@FUZZ
@given(
    request=a2a_requests(),
    auth=st.sampled_from(["key"] * 12 + ["x-api-key", "bad", "none"]),
)
@example(request={"envelope": _rpc(1, "SendMessage", SEND), "version": "1.0"}, auth="key")
@example(
    request={"envelope": _rpc("s", "SendStreamingMessage", SEND), "version": "1.0"}, auth="key"
)
@example(request={"envelope": _rpc(2, "message/send", SEND_03), "version": None}, auth="key")
@example(request={"envelope": _rpc(3, "message/stream", SEND_03), "version": None}, auth="key")
@example(
    request={"envelope": _rpc(4, "CancelTask", {"id": OWN_TASK}), "version": "1.0"}, auth="key"
)
@example(
    request={"envelope": _rpc(5, "GetTask", {"id": FOREIGN_TASK}), "version": "1.0"}, auth="key"
)
async def test_mutated_a2a_requests(world, request, auth):
    body = _encode(_filled(request["envelope"], world))
    await _post_and_check(world, body, version=request["version"], auth=auth)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=40).map(lambda b: b"\xff\xfe" + b),
        json_values.map(_encode),
        st.lists(envelopes(), max_size=3).map(_encode),
        st.text(max_size=60).map(lambda t: t.encode("utf-16")),
        st.builds(lambda env, junk: {**env, "junk": junk}, envelopes(), surrogates).map(_encode),
    ),
    content_type=content_types,
    version=versions,
)
async def test_raw_bodies(world, body, content_type, version):
    await _post_and_check(world, body, content_type=content_type, version=version)


# --- Fixed bodies: hostile ones hypothesis is kept from generating, and a known gap ------------

RESUME_PAST_THE_END = (
    b'{"jsonrpc": "2.0", "id": 5, "method": "SubscribeToTask", '
    b'"params": {"id": "@own-task", "lastEventSeq": 99}}'
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": "\\ud800"}}',
            id="surrogate in params",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": '
            b'{"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "a\\u0000b"}]}}}',
            id="NUL in text",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"metadata": '
            b'{"x": Infinity}, "message": {"messageId": "m", "role": "ROLE_USER", '
            b'"parts": [{"text": "a"}]}}}',
            id="Infinity in metadata",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"metadata": '
            + b'{"a": ' * 500
            + b"1"
            + b"}" * 500
            + b', "message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "a"}]}}}',
            id="metadata 500 levels deep",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": 1, "method": "\\ud800"}', id="surrogate method name"
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": "\\ud800", "method": "GetTask", "params": {"id": "x"}}',
            id="surrogate request id",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="JSON nested 100000 deep"),
        pytest.param(RESUME_PAST_THE_END, id="resume a finished task after its last event"),
    ],
)
async def test_fixed_bodies(world, body):
    await _post_and_check(world, body.replace(b"@own-task", world[OWN_TASK].encode()))


async def test_a_valid_message_creates_one_completed_task(world):
    """The fuzzed path the other tests may or may not hit: a valid send really runs."""
    before = await _snapshot()
    envelope = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "SendMessage",
        "params": {
            "message": {
                "messageId": str(uuid.uuid4()),
                "role": "ROLE_USER",
                "parts": [{"text": "x"}],
            }
        },
    }

    response = await AsyncClient().post(
        ENDPOINT,
        data=_encode(envelope),
        content_type="application/json",
        headers={"A2A-Version": "1.0", "Authorization": f"Bearer {world['key']}"},
    )

    assert response.json()["result"]["task"]["status"]["state"] == "TASK_STATE_COMPLETED"
    assert (await _snapshot())["counts"]["Task"] == before["counts"]["Task"] + 1
