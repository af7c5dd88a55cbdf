"""Wire types, validation, the error table, versions and the JSON-RPC envelope."""

from __future__ import annotations

import pytest

from a2a.protocol import errors, jsonrpc
from a2a.protocol import types as wire
from a2a.protocol.validation import parse_params
from a2a.protocol.versions import negotiate, require_supported

MESSAGE = {"messageId": "m-1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}


def test_send_request_parses_camel_and_snake_case_and_ignores_unknown_fields():
    request = parse_params(
        wire.SendMessageRequest,
        {
            "message": {**MESSAGE, "context_id": "ctx", "futureField": 1},
            "configuration": {"historyLength": 2, "return_immediately": True},
            "unknown": {"x": 1},
        },
    )
    assert request.message.context_id == "ctx"
    assert request.configuration is not None
    assert request.configuration.history_length == 2
    assert request.configuration.return_immediately is True
    assert request.dump()["message"] == {
        "messageId": "m-1",
        "contextId": "ctx",
        "role": "ROLE_USER",
        "parts": [{"text": "hi"}],
    }


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        (
            {"message": {"role": "ROLE_USER", "parts": [{"text": "a"}]}},
            "message.messageId",
            "Field required",
        ),
        ({"message": {**MESSAGE, "parts": []}}, "message.parts", "at least 1 item"),
        ({"message": {**MESSAGE, "role": "USER"}}, "message.role", "ROLE_USER"),
        (
            {"message": {**MESSAGE, "parts": [{}]}},
            "message.parts[0]",
            "exactly one of text, raw, url or data",
        ),
        (
            {"message": {**MESSAGE, "parts": [{"text": "a", "url": "http://x"}]}},
            "message.parts[0]",
            "(got text, url)",
        ),
        (
            {"message": {**MESSAGE, "parts": [{"raw": "not base64!"}]}},
            "message.parts[0].raw",
            "base64",
        ),
        ({"message": {**MESSAGE, "parts": [{"text": 5}]}}, "message.parts[0].text", "valid string"),
        (
            {"message": MESSAGE, "configuration": {"historyLength": -1}},
            "configuration.historyLength",
            "greater than or equal to 0",
        ),
        ({}, "message", "Field required"),
    ],
)
def test_invalid_params_name_the_field(params, field, text):
    with pytest.raises(errors.InvalidParamsError) as caught:
        parse_params(wire.SendMessageRequest, params)
    error = caught.value
    assert error.code == -32602
    assert field in error.message
    assert text in error.message
    violations = error.error_details()[1]["fieldViolations"]
    assert any(v["field"] == field and text in v["description"] for v in violations)


def test_params_must_be_an_object():
    with pytest.raises(errors.InvalidParamsError, match="params: must be a JSON object"):
        parse_params(wire.GetTaskRequest, ["a"])


def test_raw_part_accepts_standard_and_url_safe_base64_without_padding():
    assert wire.Part.model_validate({"raw": "aGk"}).raw == "aGk"
    assert wire.Part.model_validate({"raw": "-_8="}).raw == "-_8="


@pytest.mark.parametrize(
    ("error_class", "code", "status", "reason"),
    [
        (errors.TaskNotFoundError, -32001, 404, "TASK_NOT_FOUND"),
        (errors.TaskNotCancelableError, -32002, 400, "TASK_NOT_CANCELABLE"),
        (errors.PushNotificationNotSupportedError, -32003, 400, "PUSH_NOTIFICATION_NOT_SUPPORTED"),
        (errors.UnsupportedOperationError, -32004, 400, "UNSUPPORTED_OPERATION"),
        (errors.ContentTypeNotSupportedError, -32005, 400, "CONTENT_TYPE_NOT_SUPPORTED"),
        (errors.InvalidAgentResponseError, -32006, 500, "INVALID_AGENT_RESPONSE"),
        (
            errors.ExtendedAgentCardNotConfiguredError,
            -32007,
            400,
            "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
        ),
        (errors.ExtensionSupportRequiredError, -32008, 400, "EXTENSION_SUPPORT_REQUIRED"),
        (errors.VersionNotSupportedError, -32009, 400, "VERSION_NOT_SUPPORTED"),
        (errors.JSONParseError, -32700, 400, "PARSE_ERROR"),
        (errors.InvalidRequestError, -32600, 400, "INVALID_REQUEST"),
        (errors.MethodNotFoundError, -32601, 404, "METHOD_NOT_FOUND"),
        (errors.InvalidParamsError, -32602, 400, "INVALID_PARAMS"),
        (errors.InternalError, -32603, 500, "INTERNAL"),
    ],
)
def test_error_table(error_class, code, status, reason):
    error = error_class(metadata={"taskId": "t-1"})
    body = error.jsonrpc_error()
    assert body["code"] == code
    assert body["message"] == error_class.default_message
    info = body["data"][0]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == reason
    assert info["domain"] == "a2a-protocol.org"
    assert info["metadata"]["taskId"] == "t-1"
    assert info["metadata"]["timestamp"].endswith("Z")
    rest = error.rest_error()["error"]
    assert rest["code"] == status
    assert rest["details"][0]["reason"] == reason


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [
        ("1.0", None, "1.0"),
        ("1.0.3", None, "1.0"),
        (" 1.0 ", None, "1.0"),
        (None, "1.0", "1.0"),
        ("", "1.0", "1.0"),
        (None, None, "0.3"),
        ("", "", "0.3"),
        ("0.3", None, "0.3"),
        ("2.1", None, "2.1"),
    ],
)
def test_negotiate(header, query, expected):
    assert negotiate(header, query) == expected


SEND = "send the header 'A2A-Version: 1.0' (or the query parameter ?A2A-Version=1.0)"
ASKS_0_3 = "this request asks for A2A 0.3 (no A2A-Version header means 0.3)"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: negotiate("one", None), f"A2A-Version 'one' is not a Major.Minor version: {SEND}"),
        (lambda: require_supported("2.0"), f"A2A version 2.0 is not supported: {SEND}"),
        (
            lambda: require_supported("0.3", operation="ListTasks"),
            f"ListTasks is an A2A 1.0 operation, and {ASKS_0_3}: {SEND}; A2A 0.3 has no ListTasks",
        ),
        (
            lambda: require_supported("0.3", operation="GetTask", legacy_method="tasks/get"),
            f"GetTask is an A2A 1.0 operation, and {ASKS_0_3}: {SEND}; a client speaking A2A "
            "0.3 calls tasks/get instead",
        ),
        (
            lambda: require_supported("0.3"),
            f"This request asks for A2A 0.3 (no A2A-Version header means 0.3): {SEND}",
        ),
    ],
)
def test_every_version_error_says_what_to_send(call, message):
    with pytest.raises(errors.VersionNotSupportedError) as refused:
        call()
    assert refused.value.message == message


def test_a_supported_version_passes():
    require_supported("1.0")
    require_supported("1.0", operation="ListTasks")


@pytest.mark.parametrize(
    ("body", "request_id", "error_class", "text"),
    [
        (b"{not json", None, errors.JSONParseError, "Invalid JSON payload"),
        (b"\xff\xfe", None, errors.JSONParseError, "Invalid JSON payload"),
        (b"[]", None, errors.InvalidRequestError, "Batch requests are not supported"),
        (b'"x"', None, errors.InvalidRequestError, "must be a JSON object"),
        (
            b'{"jsonrpc":"2.0","id":true,"method":"GetTask"}',
            None,
            errors.InvalidRequestError,
            "'id'",
        ),
        (
            b'{"jsonrpc":"2.0","id":1.5,"method":"GetTask"}',
            None,
            errors.InvalidRequestError,
            "'id'",
        ),
        (
            b'{"jsonrpc":"1.0","id":3,"method":"GetTask"}',
            3,
            errors.InvalidRequestError,
            "'jsonrpc'",
        ),
        (b'{"jsonrpc":"2.0","id":"a","method":""}', "a", errors.InvalidRequestError, "'method'"),
        (
            b'{"jsonrpc":"2.0","id":"a","method":"X","params":1}',
            "a",
            errors.InvalidRequestError,
            "'params'",
        ),
    ],
)
def test_envelope_errors(body, request_id, error_class, text):
    with pytest.raises(jsonrpc.EnvelopeError) as caught:
        jsonrpc.parse_request(body)
    assert caught.value.request_id == request_id
    assert isinstance(caught.value.error, error_class)
    assert text in caught.value.error.message


def test_envelope_accepts_string_integer_and_null_ids():
    for raw_id, expected in (('"x"', "x"), ("7", 7), ("null", None)):
        request = jsonrpc.parse_request(
            f'{{"jsonrpc":"2.0","id":{raw_id},"method":"GetTask","params":{{"id":"t"}}}}'
        )
        assert (request.id, request.method, request.params) == (expected, "GetTask", {"id": "t"})
