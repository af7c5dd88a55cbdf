"""Tool definitions (the specs the model is offered) are built once per registered tool."""

from __future__ import annotations

import dataclasses

import pytest

from tools import registry
from tools.registry import tool, tool_get, tools_available


@pytest.fixture
def own_registry(monkeypatch):
    """A copy of the registry for this test only."""
    registry.tools_load()
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))


def _count_schema_builds(monkeypatch, found: registry.Tool) -> list[int]:
    builds: list[int] = []
    original = found.params.model_json_schema

    def counting(*args, **kwargs):
        builds.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(found.params, "model_json_schema", counting)
    return builds


@pytest.mark.usefixtures("own_registry")
def test_a_tools_schema_is_built_once(monkeypatch, db):
    @tool(description="Add two numbers.")
    def adder(a: int, b: int = 2) -> int:
        return a + b

    found = tool_get("adder")
    assert found is not None
    builds = _count_schema_builds(monkeypatch, found)
    first = found.spec()
    assert found.spec() == first
    assert next(t for t in tools_available() if t.name == "adder").spec() == first
    assert len(builds) == 1
    assert first == {
        "type": "function",
        "function": {
            "name": "adder",
            "description": "Add two numbers.",
            "parameters": {
                "additionalProperties": False,
                "properties": {"a": {"type": "integer"}, "b": {"default": 2, "type": "integer"}},
                "required": ["a"],
                "type": "object",
            },
        },
    }


@pytest.mark.usefixtures("own_registry")
def test_a_caller_editing_a_spec_does_not_change_the_next_one():
    found = tool_get("calculator")
    assert found is not None
    spec = found.spec()
    spec["function"]["parameters"]["properties"].clear()
    spec["function"]["name"] = "edited"
    again = found.spec()
    assert again["function"]["name"] == "calculator"
    assert again["function"]["parameters"]["properties"] != {}


@pytest.mark.usefixtures("own_registry")
def test_replacing_or_removing_a_tool_replaces_its_spec(db):
    @tool(description="First words.", name="changing")
    def first(text: str) -> str:
        return text

    assert registry.REGISTRY["changing"].spec()["function"]["description"] == "First words."

    # Removed and registered again with another signature: the new tool's spec.
    del registry.REGISTRY["changing"]
    assert "changing" not in {t.name for t in tools_available()}

    @tool(description="Second words.", name="changing")
    def second(count: int) -> int:
        return count

    spec = registry.REGISTRY["changing"].spec()["function"]
    assert spec["description"] == "Second words."
    assert list(spec["parameters"]["properties"]) == ["count"]

    # Replaced in place (as configuration or a test may do): the new object's spec.
    current = registry.REGISTRY["changing"]
    registry.REGISTRY["changing"] = dataclasses.replace(current, description="Third words.")
    assert registry.REGISTRY["changing"].spec()["function"]["description"] == "Third words."
    assert current.spec()["function"]["description"] == "Second words."
