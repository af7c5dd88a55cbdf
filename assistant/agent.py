"""The assistant agent: an LLM that plans, calls tools, asks before risky ones run, and answers.

This is what webcap registers under the name ``assistant``: the hooks the task services call
(a follow-up with decisions, a cancel) and the entry of each job's step (``assistant.step``).
"""

from __future__ import annotations

from a2a.agents.base import Agent, StepResult, TaskRun
from a2a.models import Task
from a2a.protocol import types as wire
from accounts.models import User
from assistant import llm
from assistant.decisions import decisions_in
from assistant.services import assistant_decision_apply
from assistant.step import AssistantStep
from tools.services import tool_calls_cancel, tool_calls_pending


class AssistantAgent(Agent):
    name = "assistant"
    description = (
        "An LLM agent that calls tools (calculator, time, echo, files, HTTP) and asks a person "
        "before risky tools run."
    )
    skills = [
        {
            "id": "assistant",
            "name": "Assistant",
            "description": "Answers questions and does small jobs with tools; file and network "
            "access wait for a person's approval.",
            "tags": ["assistant", "tools", "approval"],
            "examples": ["what is 12*7?", "what time is it?", "fetch https://example.com"],
        }
    ]
    input_modes = ["text/plain", "application/json", "image/png", "image/jpeg"]
    output_modes = ["text/plain"]

    def on_follow_up(self, task: Task, message: wire.Message, *, sender: User) -> bool:
        # The sender, not always the owner: an approver or an admin decides in their name.
        # message_send checked that the sender may decide before calling this.
        decider = sender
        for decision in decisions_in(message):
            assistant_decision_apply(
                task=task,
                tool_call_id=decision.toolCallId,
                user=decider,
                approved=decision.approved,
                reason=decision.reason or "",
            )
        return not tool_calls_pending(task=task)

    def on_cancel(self, task: Task) -> None:
        tool_calls_cancel(task=task)

    def warm_up(self) -> None:
        # Importing litellm takes seconds; without this the first task waits for it.
        llm.preload()

    def run(self, run: TaskRun) -> StepResult | None:
        return AssistantStep(run).run()
