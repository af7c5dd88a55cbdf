"""The tool SDK: schemas from type hints, and run_tool running a call the way the worker does."""

from __future__ import annotations

import time
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from tests.tools import sandboxed
from tools.registry import tool_get
from tools.sdk import CallContext, Sandbox, ToolError, current_call, tool
from tools.testing import run_tool


class Place(BaseModel):
    city: str
    country: str = "CH"


def _register_forecast() -> None:
    @tool(description="Forecast the weather.", name="sdk_forecast")
    def forecast(
        place: Place,
        days: list[int],
        unit: Literal["C", "F"] = "C",
        note: str | None = None,
    ) -> dict[str, Any]:
        return {"city": place.city, "days": days, "unit": unit, "note": note}


def test_the_schema_comes_from_the_type_hints(restored_registry):
    _register_forecast()
    found = tool_get("sdk_forecast")
    assert found is not None
    parameters = found.spec()["function"]["parameters"]
    assert parameters["required"] == ["place", "days"]
    assert parameters["additionalProperties"] is False
    assert parameters["properties"]["days"] == {"type": "array", "items": {"type": "integer"}}
    assert parameters["properties"]["unit"] == {
        "enum": ["C", "F"],
        "type": "string",
        "default": "C",
    }
    assert parameters["properties"]["note"] == {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
    }
    assert parameters["properties"]["place"] == {"$ref": "#/$defs/Place"}
    assert parameters["$defs"]["Place"] == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string", "default": "CH"}},
        "required": ["city"],
    }


def test_run_tool_returns_the_result_as_the_worker_stores_it(restored_registry):
    _register_forecast()
    assert run_tool("sdk_forecast", {"place": {"city": "Bern"}, "days": [1, 2]}) == {
        "city": "Bern",
        "days": [1, 2],
        "unit": "C",
        "note": None,
    }


def test_run_tool_says_what_the_model_would_read_of_bad_arguments(restored_registry):
    _register_forecast()
    with pytest.raises(ToolError) as raised:
        run_tool("sdk_forecast", {"place": {}, "days": ["x"], "unit": "K", "extra": 1})
    assert str(raised.value) == (
        "invalid arguments: place.city: Field required; "
        "days.0: Input should be a valid integer, unable to parse string as an integer; "
        "unit: Input should be 'C' or 'F'; extra: Extra inputs are not permitted"
    )


def test_run_tool_sets_the_call_context(restored_registry):
    seen: list[CallContext | None] = []

    @tool(description="Look at the call.", name="sdk_look")
    def look() -> str:
        seen.append(current_call())
        return "ok"

    before = time.monotonic()
    assert run_tool(look, {}, task_id="t-1", owner="ada", idempotency_key="k-1", attempt=2) == "ok"
    (context,) = seen
    assert context is not None
    assert (context.task_id, context.caller, context.idempotency_key, context.attempt) == (
        "t-1",
        "ada",
        "k-1",
        2,
    )
    assert context.deadline is not None
    assert before + 10.0 <= context.deadline <= time.monotonic() + 10.0
    assert not context.stopped()
    assert current_call() is None


def test_run_tool_stops_a_call_at_its_deadline(restored_registry):
    stops: list[bool] = []

    @tool(description="Wait until told to stop.", name="sdk_wait", timeout=0.2)
    def wait() -> str:
        call = current_call()
        assert call is not None
        while not call.stop.is_set():
            time.sleep(0.01)
        stops.append(True)
        raise ToolError("stopped")

    started = time.monotonic()
    with pytest.raises(ToolError, match=r"^timed out after 0\.2 s$"):
        run_tool(wait, {})
    assert time.monotonic() - started < 1.0
    time.sleep(0.1)
    assert stops == [True]


def test_run_tool_turns_an_unexpected_exception_into_the_workers_error(restored_registry):
    @tool(description="Break.", name="sdk_break")
    def broken() -> str:
        raise KeyError("x")

    with pytest.raises(ToolError, match=r"^the tool failed: KeyError$") as raised:
        run_tool("sdk_break", {})
    assert isinstance(raised.value.__cause__, KeyError)


def test_run_tool_runs_a_sandboxed_tool_in_its_child(restored_registry):
    tool(description="Count words.", name="sdk_words", sandbox=Sandbox())(sandboxed.words)
    assert run_tool("sdk_words", {"text": "three little words"}) == 3
    tool(description="Nap.", name="sdk_nap", timeout=0.5, sandbox=Sandbox())(sandboxed.nap)
    started = time.monotonic()
    with pytest.raises(ToolError, match="stopped after"):
        run_tool("sdk_nap", {"seconds": 10})
    assert time.monotonic() - started < 2.5


def test_run_tool_names_an_unknown_tool():
    with pytest.raises(ToolError, match=r"^unknown tool: 'no_such_tool'$"):
        run_tool("no_such_tool", {})
