"""The task states: one list, the groups, and the two spellings mapped both ways."""

from __future__ import annotations

import pytest

from a2a import models
from a2a.protocol import v03_shapes
from a2a.protocol.states import (
    INTERRUPTED_STATES,
    TERMINAL_STATES,
    TaskState,
    WireTaskState,
    state_from_wire,
    state_to_wire,
)
from a2a.protocol.types import ListTasksRequest
from a2a.protocol.validation import parse_params


def test_the_model_layer_uses_the_one_definition():
    assert models.TaskState is TaskState
    assert models.TERMINAL_STATES is TERMINAL_STATES
    assert models.INTERRUPTED_STATES is INTERRUPTED_STATES


def test_the_wire_enum_is_a2a_protos_in_its_order():
    assert [state.value for state in WireTaskState] == [
        "TASK_STATE_UNSPECIFIED",
        "TASK_STATE_SUBMITTED",
        "TASK_STATE_WORKING",
        "TASK_STATE_COMPLETED",
        "TASK_STATE_FAILED",
        "TASK_STATE_CANCELED",
        "TASK_STATE_INPUT_REQUIRED",
        "TASK_STATE_REJECTED",
        "TASK_STATE_AUTH_REQUIRED",
    ]


@pytest.mark.parametrize("state", list(TaskState))
def test_every_state_maps_to_its_wire_name_and_back(state):
    wire_name = state_to_wire(state)
    assert wire_name == "TASK_STATE_" + state.name
    assert state_from_wire(wire_name) == state
    # A2A 0.3 spells a state as it is stored.
    assert v03_shapes.state_out(wire_name) == state.value


def test_unspecified_is_no_state():
    assert state_from_wire(WireTaskState.UNSPECIFIED) is None
    assert v03_shapes.state_out(WireTaskState.UNSPECIFIED) == "unknown"
    assert parse_params(ListTasksRequest, {"status": "TASK_STATE_UNSPECIFIED"}).status is (
        WireTaskState.UNSPECIFIED
    )


def test_the_groups():
    assert {s.value for s in TERMINAL_STATES} == {"completed", "failed", "canceled", "rejected"}
    assert {s.value for s in INTERRUPTED_STATES} == {"input-required", "auth-required"}
    assert "completed" in TERMINAL_STATES  # stored strings are looked up as they are
