"""The outcome a client can read: the taskOutcome DataPart of the assistant's final status.

Every final status message of an assistant task (completed, failed, canceled) carries one
data part, ``{"taskOutcome": {"completedRequest": ..., "toolCalls": [...]}}``, so a client
learns from data, not prose, whether the request was done and how each tool call ended
(docs/agent.md, "Outcomes").
"""

from __future__ import annotations

from typing import Any

from a2a.models import Task
from tools.selectors import tool_call_outcomes

OUTCOME_KEY = "taskOutcome"


def outcome_part(*, task: Task, completed: bool) -> dict[str, Any]:
    """Return the taskOutcome part of a task that ends completed (or not).

    ``completedRequest`` is true only when the task completed and every tool call it made
    succeeded: a call that failed, was rejected or expired means the agent could not do all
    it set out to do, even when its answer works around it.
    """
    calls = tool_call_outcomes(task=task)
    done = completed and all(call["outcome"] == "succeeded" for call in calls)
    return {
        "data": {OUTCOME_KEY: {"completedRequest": done, "toolCalls": calls}},
        "mediaType": "application/json",
    }
