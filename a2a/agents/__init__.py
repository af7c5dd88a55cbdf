"""The agents webcap can run, by the name ``WEBCAP_AGENT`` uses."""

from __future__ import annotations

from a2a.agents.base import Agent, StepResult, TaskRun, TaskStopped
from a2a.agents.conformance import ConformanceAgent
from a2a.agents.echo import EchoAgent

AGENTS: dict[str, type[Agent]] = {agent.name: agent for agent in (EchoAgent, ConformanceAgent)}


def agent_get(name: str) -> Agent:
    """Return an instance of the named agent (KeyError when there is none)."""
    return AGENTS[name]()


__all__ = ["AGENTS", "Agent", "StepResult", "TaskRun", "TaskStopped", "agent_get"]
