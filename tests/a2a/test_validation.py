"""Unknown request fields, field by field: refused by name, with what A2A 1.0 calls them.

The bindings' answers (JSON-RPC -32602, HTTP+JSON 400, WebSocket, Cap'n Web) are in
tests/a2a/test_unknown_fields.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from a2a.protocol import types as wire
from a2a.protocol.dispatcher import OPERATIONS
from a2a.protocol.errors import InvalidParamsError
from a2a.protocol.validation import MAX_EXAMINED, parse_params, unknown_fields

MESSAGE = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
WEBHOOK = {"url": "https://hooks.example.com/a2a", "token": "t"}


def _refused(model: type[wire.WireModel], params: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidParamsError) as refused:
        parse_params(model, params)
    details = refused.value.details[0]
    assert details["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    return [(v["field"], v["description"]) for v in details["fieldViolations"]]


@pytest.mark.parametrize(
    ("model", "params", "field", "description"),
    [
        # SendMessage: the configuration
        (
            wire.SendMessageRequest,
            {"message": MESSAGE, "configuration": {"pushNotificationConfig": WEBHOOK}},
            "configuration.pushNotificationConfig",
            "unknown field (A2A 0.3's name, in A2A 1.0 it is taskPushNotificationConfig)",
        ),
        (
            wire.SendMessageRequest,
            {"message": MESSAGE, "configuration": {"push_notification_config": WEBHOOK}},
            "configuration.push_notification_config",
            "unknown field (A2A 0.3's name, in A2A 1.0 it is taskPushNotificationConfig)",
        ),
        (
            wire.SendMessageRequest,
            {"message": MESSAGE, "configuration": {"blocking": False}},
            "configuration.blocking",
            "unknown field (A2A 0.3's name: A2A 1.0 waits by default, and "
            "returnImmediately: true answers at once)",
        ),
        (
            wire.SendMessageRequest,
            {"message": MESSAGE, "configuraton": {"returnImmediately": True}},
            "configuraton",
            "unknown field (did you mean configuration?)",
        ),
        (
            wire.SendMessageRequest,
            {"message": MESSAGE, "configuration": {"historylength": 2}},
            "configuration.historylength",
            "unknown field (did you mean historyLength?)",
        ),
        (
            wire.SendMessageRequest,
            {
                "message": MESSAGE,
                "configuration": {
                    "taskPushNotificationConfig": {
                        **WEBHOOK,
                        "authentication": {"scheme": "Bearer", "schemes": ["Bearer"]},
                    }
                },
            },
            "configuration.taskPushNotificationConfig.authentication.schemes",
            "unknown field (A2A 0.3's list: A2A 1.0 sends one scheme, a string)",
        ),
        # SendMessage: the message and its parts
        (
            wire.SendMessageRequest,
            {"message": {**MESSAGE, "kind": "message"}},
            "message.kind",
            "unknown field (A2A 0.3's, an A2A 1.0 message has no kind)",
        ),
        (
            wire.SendMessageRequest,
            {"message": {**MESSAGE, "parts": [{"text": "a"}, {"kind": "text", "text": "b"}]}},
            "message.parts[1].kind",
            "unknown field (A2A 0.3's, an A2A 1.0 part has no kind: it holds one of text, raw, "
            "url or data)",
        ),
        (
            wire.SendMessageRequest,
            {"message": {**MESSAGE, "parts": [{"text": "a", "mimeType": "text/plain"}]}},
            "message.parts[0].mimeType",
            "unknown field (A2A 1.0 calls it mediaType)",
        ),
        (
            wire.SendMessageRequest,
            {"message": {**MESSAGE, "mesageId": "m-2"}},
            "message.mesageId",
            "unknown field (did you mean messageId?)",
        ),
        # The other operations
        (
            wire.GetTaskRequest,
            {"id": "t", "historyLenght": 2},
            "historyLenght",
            "unknown field (did you mean historyLength?)",
        ),
        (
            wire.ListTasksRequest,
            {"statusTimestampAfter": "2026-01-01T00:00:00Z", "pagesize": 5},
            "pagesize",
            "unknown field (did you mean pageSize?)",
        ),
        (
            wire.GetTaskPushNotificationConfigRequest,
            {"taskId": "t", "id": "c", "pushNotificationConfigId": "c"},
            "pushNotificationConfigId",
            "unknown field (A2A 0.3's name: in A2A 1.0 the config is id, its task taskId)",
        ),
        (
            wire.DeleteTaskPushNotificationConfigRequest,
            {"taskId": "t", "id": "c", "pushNotificationConfigId": "c"},
            "pushNotificationConfigId",
            "unknown field (A2A 0.3's name: in A2A 1.0 the config is id, its task taskId)",
        ),
    ],
)
def test_an_unknown_field_is_refused_by_name(model, params, field, description):
    assert _refused(model, params) == [(field, description)]


def test_a_0_3_push_config_sent_as_1_0_names_the_wrapper_and_the_missing_url():
    violations = _refused(
        wire.TaskPushNotificationConfig, {"taskId": "t", "pushNotificationConfig": WEBHOOK}
    )
    assert violations == [
        (
            "pushNotificationConfig",
            "unknown field (A2A 0.3's wrapper: A2A 1.0 sends its url, token, authentication "
            "and id at the top level, beside taskId)",
        ),
        ("url", "Field required"),
    ]


def test_every_unknown_field_of_a_request_is_named_at_once():
    params = {
        "message": {**MESSAGE, "kind": "message", "parts": [{"kind": "text", "text": "x"}]},
        "configuration": {"blocking": True, "pushNotificationConfig": WEBHOOK},
        "extra": 1,
    }
    assert [field for field, _ in _refused(wire.SendMessageRequest, params)] == [
        "message.parts[0].kind",  # in the order they were sent
        "message.kind",
        "configuration.blocking",
        "configuration.pushNotificationConfig",
    ]


IGNORED = [
    (
        wire.SendMessageRequest,
        {
            "message": MESSAGE,
            "configuration": {"taskPushNotificationConfig": {**WEBHOOK, "secret": "s"}},
        },
    ),
    (wire.SendMessageRequest, {"message": MESSAGE, "tckExtraParam": 42}),
    (wire.ListTasksRequest, {"cursor": "abc"}),
    (wire.CancelTaskRequest, {"id": "t", "reason": "no"}),
    (wire.SubscribeToTaskRequest, {"id": "t", "since": 3}),
    (wire.ListTaskPushNotificationConfigsRequest, {"taskId": "t", "limit": 5}),
    (wire.TenantRequest, {"extended": True}),
    (wire.GetTaskRequest, {"id": "t", "x" * 100: 1, "tab\there": 2}),
]


@pytest.mark.parametrize(("model", "params"), IGNORED)
def test_a_field_that_resembles_no_field_is_ignored(model, params):
    """A2A §5.7: unrecognized fields SHOULD be ignored (the TCK's DM-SERIAL-005)."""
    assert unknown_fields(model, params) == []
    parse_params(model, params)


def test_a_flood_of_unknown_fields_costs_bounded_work():
    misspelt = {f"f{i}": i for i in range(MAX_EXAMINED)} | {"historyLenght": 2}
    # The misspelling comes after MAX_EXAMINED unknown keys: it is not looked at.
    assert unknown_fields(wire.GetTaskRequest, {"id": "t", **misspelt}) == []
    first = {"historyLenght": 2} | {f"f{i}": i for i in range(500)}
    assert unknown_fields(wire.GetTaskRequest, {"id": "t", **first}) == [
        ("historyLenght", "unknown field (did you mean historyLength?)")
    ]


def test_free_form_values_hold_any_keys():
    """metadata is a Struct (where extensions put their data, A2A §4.6), data is a Value."""
    extension = "https://example.com/extensions/geolocation/v1"
    location = {extension: {"latitude": 37.7, "accuracy": {"meters": 10}}}
    params: dict[str, Any] = {
        "message": {
            **MESSAGE,
            "parts": [{"data": {"anything": {"nested": [{"at": "all"}]}}, "metadata": {"k": 1}}],
            "extensions": [extension],
            "metadata": location,
        },
        "configuration": {
            "taskPushNotificationConfig": {**WEBHOOK, "authentication": {"scheme": "Bearer"}}
        },
        "metadata": {"kind": "not the 0.3 field", "pushNotificationConfig": "just a key"},
    }
    request = parse_params(wire.SendMessageRequest, params)
    assert request.metadata == params["metadata"]
    assert request.message.metadata == location
    assert request.message.parts[0].data == {"anything": {"nested": [{"at": "all"}]}}


def test_every_field_of_every_request_type_is_known_in_both_spellings():
    """What the official SDK sends (proto field names in camelCase) and their snake_case."""
    for operation in OPERATIONS.values():
        fields = operation.request.model_fields
        camel = {field.alias or name: None for name, field in fields.items()}
        snake = dict.fromkeys(fields)
        assert unknown_fields(operation.request, camel) == [], operation.method
        assert unknown_fields(operation.request, snake) == [], operation.method


def test_a_wrong_type_where_an_object_belongs_is_a_type_error_not_unknown_fields():
    violations = _refused(wire.SendMessageRequest, {"message": MESSAGE, "configuration": "x"})
    assert violations == [
        (
            "configuration",
            "Input should be a valid dictionary or instance of SendMessageConfiguration",
        )
    ]
