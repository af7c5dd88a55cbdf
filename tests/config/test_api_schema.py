"""/api/schema/ says what the management API really takes and gives, errors included.

Each test here failed on the schema before it was corrected (issue: "the API description
tells the truth"); tests/live/test_live_openapi.py then fuzzes the whole description.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup: Any, django_db_blocker: Any) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(response.json())


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _body(schema: dict[str, Any], path: str, method: str, status: str | None = None) -> Any:
    operation = schema["paths"][path][method]
    if status is None:
        content = operation["requestBody"]["content"]
    else:
        content = operation["responses"][status]["content"]
    return _resolve(schema, content["application/json"]["schema"])


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def test_creating_a_key_documents_its_inputs_and_the_key_shown_once(schema):
    request = _body(schema, "/api/keys/", "post")
    assert set(request["properties"]) == {"name", "expires_at", "scopes"}
    assert request["required"] == ["name"]
    assert not any(p.get("readOnly") for p in request["properties"].values())
    created = _body(schema, "/api/keys/", "post", "201")
    assert "key" in created["properties"]
    assert set(created["properties"]) >= {"id", "name", "prefix", "scopes", "expires_at"}


def test_usage_documents_the_sums_it_returns(schema):
    usage = _body(schema, "/api/llm-calls/usage/", "get", "200")
    assert set(usage["properties"]) == {"calls", "prompt_tokens", "completion_tokens", "cost_usd"}
    params = {p["name"] for p in schema["paths"]["/api/llm-calls/usage/"]["get"]["parameters"]}
    assert "task" in params


def test_every_operation_documents_its_errors(schema):
    for path, method, operation in _operations(schema):
        codes = set(operation["responses"])
        where = f"{method.upper()} {path}"
        assert {"400", "401", "503"} <= codes, where
        if "{" in path:
            assert "404" in codes, where
        if "requestBody" in operation:
            assert {"413", "415"} <= codes, where
        for code in codes - {"200", "201", "204", "302", "304"}:
            error = operation["responses"][code]
            assert error["description"], where
            assert "application/json" in error["content"], where
    assert "429" in schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/tool-calls/{id}/approve/"]["post"]["responses"]
    assert "409" not in schema["paths"]["/api/tool-calls/"]["get"]["responses"]


def test_request_bodies_are_json_only(schema):
    for path, _method, operation in _operations(schema):
        if "requestBody" in operation:
            assert list(operation["requestBody"]["content"]) == ["application/json"], path


def test_text_fields_say_what_validation_refuses(schema):
    sign_in = _body(schema, "/api/auth/token/", "post")
    for name in ("username", "password"):
        field = sign_in["properties"][name]
        assert field["minLength"] == 1
        assert "\\s" in field["pattern"]  # whitespace alone is blank
    share = _body(schema, "/api/tasks/{task_id}/shares/", "post")
    assert share["properties"]["username"]["minLength"] == 1
    decision = _body(schema, "/api/tool-calls/{id}/approve/", "post")
    assert "minLength" not in decision["properties"]["reason"]  # a reason may be empty


def test_query_parameters_match_their_validation(schema):
    audit = {p["name"]: p["schema"] for p in schema["paths"]["/api/audit/"]["get"]["parameters"]}
    assert "auth.login" in audit["action"]["enum"]
    assert audit["outcome"]["enum"] == ["success", "failure", "denied"]
    assert audit["page_size"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert "anyOf" in audit["since"]  # a date or a time
    keys = {p["name"]: p["schema"] for p in schema["paths"]["/api/keys/"]["get"]["parameters"]}
    assert keys["page"]["minimum"] == 1
    calls = schema["paths"]["/api/tool-calls/"]["get"]["parameters"]
    status = next(p for p in calls if p["name"] == "status")
    assert "awaiting-approval" in status["schema"]["enum"]


def test_tool_calls_document_undecided_calls(schema):
    call = _resolve(schema, schema["components"]["schemas"]["ToolCall"])
    assert call["properties"]["decided_by"]["nullable"] is True
    decision = call["properties"]["decision"]
    options = [_resolve(schema, o) for o in decision.get("oneOf", [decision])]
    assert any("" in o.get("enum", []) for o in options)


# --- What the schema says is now what the server does ------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/auth/token/", {"username": " ", "password": "x"}, "username"),
        ("/api/auth/token/", {"username": 7, "password": "x"}, "username"),
        ("/api/auth/refresh/", {"refresh": ""}, "refresh"),
        ("/api/keys/", {"name": 0}, "name"),
    ],
)
def test_a_body_the_schema_refuses_is_refused_naming_the_field(path, body, field):
    key = make_key(make_user("ada"))
    response = Client().post(
        path,
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 400
    assert field in response.json()


def test_a_form_body_is_415_not_parsed():
    key = make_key(make_user("ada"))
    response = Client().post(
        "/api/keys/", {"name": "x"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/nope/", "/a2a/files/not-a-uuid", "/.well-known/nope"])
def test_a_path_that_matches_nothing_is_a_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": f"Nothing is at {path}"}


def test_a_page_past_the_last_is_404_and_a_page_of_zero_is_400():
    key = make_key(make_user("ada"))
    headers = {"Authorization": f"Bearer {key}"}
    assert Client().get("/api/keys/?page=2", headers=headers).status_code == 404
    assert Client().get("/api/keys/?page=" + "9" * 40, headers=headers).status_code == 404
    zero = Client().get("/api/keys/?page=0", headers=headers)
    assert zero.status_code == 400
    assert zero.json() == {"page": ["must be a whole number from 1; got 0"]}
