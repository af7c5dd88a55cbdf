"""The assistant agent: an LLM that plans, calls tools, asks before risky ones run, and answers.

This is what webcap registers under the name ``assistant``: the hooks the task services call
(a follow-up with decisions, a cancel) and the entry of each job's step (``assistant.step``).
"""

from __future__ import annotations

from typing import Any

from a2a.agents.base import Agent, FollowUp, StepResult, TaskRun
from a2a.models import Task
from a2a.protocol import types as wire
from a2a.selectors import APPROVE, task_require
from accounts.models import User
from assistant import llm
from assistant.decisions import approval_prompt, decisions_in, message_text, plain_decision
from assistant.outcomes import outcome_part
from assistant.services import assistant_decision_apply
from assistant.step import AssistantStep
from tools.services import tool_calls_cancel, tool_calls_pending

# How much of an unclear reply the question about it quotes.
QUOTED_CHARS = 120


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

    def on_follow_up(self, task: Task, message: wire.Message, *, sender: User) -> FollowUp:
        # The sender, not always the owner: an approver or an admin decides in their name.
        # message_send checked that the sender may decide (a data part) or send input (text);
        # words that decide need both, checked below.
        decisions = decisions_in(message)
        for decision in decisions:
            assistant_decision_apply(
                task=task,
                tool_call_id=decision.toolCallId,
                user=sender,
                approved=decision.approved,
                reason=decision.reason or "",
            )
        pending = tool_calls_pending(task=task)
        if decisions or not pending:
            return FollowUp(resume=not pending)
        # A reply in words. It answers the question the task asked, so it is read as a
        # decision (the reason reaches the model in the call's result), never as a new
        # request; one that is not clearly a yes or a no for one call is asked again.
        text = message_text(message).strip()
        plain = plain_decision(text)
        if plain is None or len(pending) > 1:
            quoted = text if len(text) <= QUOTED_CHARS else text[: QUOTED_CHARS - 3] + "..."
            return FollowUp(resume=False, ask=approval_prompt(pending, unclear=quoted))
        task_require(user=sender, task=task, permission=APPROVE)
        assistant_decision_apply(
            task=task,
            tool_call_id=str(pending[0].id),
            user=sender,
            approved=plain.approved,
            reason=plain.reason,
        )
        return FollowUp(resume=True)

    def on_cancel(self, task: Task) -> None:
        tool_calls_cancel(task=task)

    def outcome_parts(self, task: Task) -> list[dict[str, Any]]:
        return [outcome_part(task=task, completed=False)]

    def warm_up(self) -> None:
        # Importing litellm takes seconds; without this the first task waits for it.
        llm.preload()

    def run(self, run: TaskRun) -> StepResult | None:
        return AssistantStep(run).run()
