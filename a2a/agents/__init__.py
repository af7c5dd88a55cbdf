"""The agents webcap ships (echo, conformance) and the base every agent builds on.

Agents are registered in their app's ``ready()`` and found through a2a.registry; ``AGENTS``
and ``agent_get`` are that registry's, here for the callers that know them from this package.
"""

from __future__ import annotations

from a2a.agents.base import Agent, FollowUp, StepResult, TaskRun, TaskStopped
from a2a.registry import AGENTS, agent_get

__all__ = ["AGENTS", "Agent", "FollowUp", "StepResult", "TaskRun", "TaskStopped", "agent_get"]
