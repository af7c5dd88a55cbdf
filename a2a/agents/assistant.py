"""The assistant: an LLM that plans, calls tools, asks before risky ones run, and answers.

It is a state machine over stored rows, not a coroutine that waits. Each job does one short
step, decided from the database alone, and asks for the next one (CONTINUE):

1. take the task's new user messages into the context's transcript;
2. calls that wait for a person: ask (input-required, the calls in a DataPart); no worker
   waits, a decision from any channel queues the task again;
3. calls that are approved or need no approval: run them (in parallel), store the results;
4. otherwise ask the model for the next turn, streaming its text as an artifact; a turn
   with tool calls stores them (validated) and continues, a turn without ends the task.

A killed step runs again from the same rows: a model turn not yet stored is asked again
(its artifact starts over), a tool call left executing runs again only if it has no side
effects. Conversations continue across the tasks of one context; when the prompt outgrows
the model's window, older turns are folded into a summary kept on the context.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from a2a.agents.base import Agent, StepResult, TaskRun
from a2a.models import Context, Message, Role, Task, TaskState
from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError, TaskNotFoundError, UnsupportedOperationError
from accounts.models import User
from assistant import llm
from tools.models import EntryRole, ToolCall, ToolCallStatus, TranscriptEntry
from tools.registry import tools_available
from tools.services import (
    DecisionRefused,
    RequestedCall,
    assistant_turn_store,
    tool_call_decide_locked,
    tool_calls_cancel,
    tool_calls_pending,
    tool_calls_recover,
    tool_calls_run,
    tool_result_message,
    transcript_next_position,
)

logger = logging.getLogger(__name__)

DECISION_SHAPE = (
    '{"toolCallDecision": {"toolCallId": "<id>", "approved": true | false, '
    '"reason": "<optional text>"}}'
)
SUMMARY_PROMPT = (
    "Summarize the conversation so far for your own later use: the user's goals, facts "
    "learned, tool results that matter, and open questions. Be brief and factual."
)
# Stream text in chunks of about this many characters, or at least this often (seconds).
FLUSH_CHARS = 48
FLUSH_SECONDS = 0.25


class ToolCallDecision(BaseModel):
    """The DataPart a client sends to approve or reject a pending tool call."""

    model_config = ConfigDict(extra="forbid")

    toolCallId: str = Field(min_length=1, max_length=64)
    approved: StrictBool
    reason: str | None = Field(default=None, max_length=2000)


def decisions_in(message: wire.Message) -> list[ToolCallDecision]:
    """Return the tool-call decisions a message carries; malformed ones are -32602."""
    decisions = []
    for index, part in enumerate(message.parts):
        if not isinstance(part.data, dict) or "toolCallDecision" not in part.data:
            continue
        try:
            decisions.append(ToolCallDecision.model_validate(part.data["toolCallDecision"]))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'toolCallDecision'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise InvalidParamsError.for_fields(
                [
                    (
                        f"message.parts[{index}].data.toolCallDecision",
                        f"expected {DECISION_SHAPE} ({problems})",
                    )
                ]
            ) from exc
    return decisions


def _is_decision(part: dict[str, Any]) -> bool:
    return isinstance(part.get("data"), dict) and "toolCallDecision" in part["data"]


class ArtifactWriter:
    """Streams a model turn's text into one artifact, a chunk every few dozen characters."""

    def __init__(self, run: TaskRun, artifact_id: str) -> None:
        self.run = run
        self.artifact_id = artifact_id
        self.pending = ""
        self.sent = False
        self.flushed_at = time.monotonic()

    def write(self, text: str) -> None:
        self.pending += text
        if len(self.pending) >= FLUSH_CHARS or time.monotonic() - self.flushed_at > FLUSH_SECONDS:
            # Send up to the last word boundary and keep the rest, so chunks end between words
            # and the last chunk (lastChunk) always carries text rather than arriving empty.
            cut = max(self.pending.rfind(" "), self.pending.rfind("\n"))
            if cut <= 0:
                cut = len(self.pending) - 1
            if cut > 0:
                self._emit(self.pending[:cut], last=False)
                self.pending = self.pending[cut:]

    def restart(self) -> None:
        """The model is asked again: the next chunk replaces what was sent."""
        self.pending, self.sent = "", False

    def close(self) -> None:
        if self.pending or self.sent:
            self._emit(self.pending, last=True)
            self.pending = ""

    def _emit(self, text: str, *, last: bool) -> None:
        self.run.artifact(
            artifact_id=self.artifact_id,
            name="response",
            parts=[{"text": text}],
            append=self.sent,
            last_chunk=last,
        )
        self.sent, self.flushed_at = True, time.monotonic()


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
            call_id = _uuid_or_none(decision.toolCallId)
            call = (
                ToolCall.objects.select_for_update().filter(pk=call_id, task=task).first()
                if call_id is not None
                else None
            )
            if call is None:
                raise TaskNotFoundError(
                    f"Tool call {decision.toolCallId!r} not found in task {task.id}",
                    metadata={"taskId": str(task.id), "toolCallId": decision.toolCallId},
                )
            try:
                tool_call_decide_locked(
                    task=task,
                    call=call,
                    user=decider,
                    approved=decision.approved,
                    reason=decision.reason or "",
                )
            except DecisionRefused as exc:
                raise UnsupportedOperationError(exc.message) from exc
        return not tool_calls_pending(task=task)

    def on_cancel(self, task: Task) -> None:
        tool_calls_cancel(task=task)

    def warm_up(self) -> None:
        # Importing litellm takes seconds; without this the first task waits for it.
        llm.preload()

    def run(self, run: TaskRun) -> StepResult | None:
        return AssistantStep(run).run()


def _uuid_or_none(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class AssistantStep:
    """One step of the loop for one task."""

    def __init__(self, run: TaskRun) -> None:
        self.run_ = run
        self.task = Task.objects.select_related("context", "owner").get(pk=run.task_id)

    def run(self) -> StepResult | None:
        if self.task.state == TaskState.SUBMITTED:
            self.run_.working()
        self._ingest()
        tool_calls_recover(task=self.task)
        pending = tool_calls_pending(task=self.task)
        if pending:
            self._ask(pending)
            return StepResult.DONE
        ready = list(
            ToolCall.objects.filter(task=self.task, status=ToolCallStatus.SCHEDULED).order_by(
                "created_at", "position"
            )
        )
        if ready:
            self.run_.working("Running " + ", ".join(call.tool for call in ready) + ".")
            tool_calls_run(calls=ready)
            return StepResult.CONTINUE
        last = (
            TranscriptEntry.objects.filter(context=self.task.context).order_by("-position").first()
        )
        final_stored = (
            last is not None
            and last.role == EntryRole.ASSISTANT
            and last.task_id == self.task.id
            and not last.tool_calls.exists()
        )
        if final_stored:
            # The final answer was stored, then the worker died before completing.
            self.run_.complete()
            return StepResult.DONE
        turns = TranscriptEntry.objects.filter(task=self.task, role=EntryRole.ASSISTANT).count()
        if turns >= settings.WEBCAP_AGENT_MAX_STEPS:
            self.run_.fail(f"Stopped after {turns} model turns without a final answer.")
            return StepResult.DONE
        return self._model_turn(turns + 1)

    # --- Steps ----------------------------------------------------------------------------------

    def _ingest(self) -> None:
        """Add the task's user messages that are not in the transcript yet."""
        known = set(
            TranscriptEntry.objects.filter(task=self.task, role=EntryRole.USER).values_list(
                "message_id", flat=True
            )
        )
        fresh = [
            m
            for m in Message.objects.filter(task=self.task, role=Role.USER).order_by("position")
            if m.pk not in known and any(not _is_decision(p) for p in m.parts)
        ]
        if not fresh:
            return
        with transaction.atomic():
            Task.objects.select_for_update().filter(pk=self.task.pk).first()
            position = transcript_next_position(context_id=self.task.context_id)
            for offset, message in enumerate(fresh):
                TranscriptEntry.objects.create(
                    context_id=self.task.context_id,
                    task=self.task,
                    position=position + offset,
                    role=EntryRole.USER,
                    content="\n".join(p["text"] for p in message.parts if "text" in p),
                    message=message,
                )

    def _ask(self, pending: list[ToolCall]) -> None:
        described = "; ".join(f"{c.tool}({json.dumps(c.arguments)})" for c in pending)
        self.run_.input_required(
            parts=[
                {
                    "text": f"Approval needed before running: {described}. Approve or reject "
                    "with a toolCallDecision data part, the approval page or the REST API."
                },
                {
                    "data": {
                        "pendingToolCalls": [
                            {
                                "toolCallId": str(c.id),
                                "tool": c.tool,
                                "arguments": c.arguments,
                                "reason": c.approval_reason,
                            }
                            for c in pending
                        ]
                    }
                },
            ]
        )

    def _model_turn(self, turn: int) -> StepResult:
        messages = self._prompt()
        writer = ArtifactWriter(self.run_, f"response-{turn}")
        try:
            completion = llm.complete(
                messages=messages,
                # Only the tools the owner's roles may cause to run (WEBCAP_TOOL_ROLES).
                tools=[t.spec() for t in tools_available(user=self.task.owner)],
                on_text=writer.write,
                on_restart=writer.restart,
                task_id=self.task.id,
            )
        except llm.LLMError as exc:
            self.run_.fail(str(exc))
            return StepResult.DONE
        writer.close()
        requested = [
            RequestedCall(llm_call_id=c.id, name=c.name, arguments=c.arguments)
            for c in completion.tool_calls
        ]
        assistant_turn_store(task=self.task, text=completion.text, requested=requested)
        if requested:
            return StepResult.CONTINUE
        self.run_.complete()
        return StepResult.DONE

    # --- The prompt -------------------------------------------------------------------------------

    def _prompt(self) -> list[dict[str, Any]]:
        messages = self._messages()
        budget = llm.context_window() * settings.WEBCAP_SUMMARY_THRESHOLD
        if llm.count_tokens(messages) > budget and self._summarize():
            messages = self._messages()
        return messages

    def _messages(self) -> list[dict[str, Any]]:
        context = Context.objects.get(pk=self.task.context_id)
        system = settings.WEBCAP_SYSTEM_PROMPT
        if context.summary:
            system += f"\n\nSummary of the earlier conversation:\n{context.summary}"
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        for entry in self._live_entries():
            messages.extend(self._entry_messages(entry))
        return messages

    def _live_entries(self) -> list[TranscriptEntry]:
        return list(
            TranscriptEntry.objects.filter(context_id=self.task.context_id, summarized=False)
            .select_related("message")
            .prefetch_related("tool_calls")
            .order_by("position")
        )

    def _entry_messages(self, entry: TranscriptEntry) -> list[dict[str, Any]]:
        if entry.role == EntryRole.USER:
            return [{"role": "user", "content": self._user_content(entry)}]
        calls = sorted(entry.tool_calls.all(), key=lambda c: c.position)
        message: dict[str, Any] = {"role": "assistant", "content": entry.content or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.llm_call_id,
                    "type": "function",
                    "function": {
                        "name": c.tool,
                        "arguments": c.arguments.get("_raw") or json.dumps(c.arguments),
                    },
                }
                for c in calls
            ]
        return [message, *(tool_result_message(c) for c in calls)]

    def _user_content(self, entry: TranscriptEntry) -> str | list[dict[str, Any]]:
        if entry.message is None:
            return entry.content
        contents: list[dict[str, Any]] = []
        for part in entry.message.parts:
            if _is_decision(part):
                continue
            contents.append(_part_content(part))
        if all(c["type"] == "text" for c in contents):
            return "\n".join(c["text"] for c in contents)
        return contents

    def _summarize(self) -> bool:
        """Fold every live turn before the newest user message into the context's summary."""
        entries = self._live_entries()
        newest_user = max((i for i, e in enumerate(entries) if e.role == EntryRole.USER), default=0)
        older = entries[:newest_user]
        if not older:
            return False
        context = Context.objects.get(pk=self.task.context_id)
        lines = [f"Earlier summary: {context.summary}"] if context.summary else []
        for entry in older:
            for message in self._entry_messages(entry):
                content = message.get("content")
                text = content if isinstance(content, str) else json.dumps(content, default=str)
                if message.get("tool_calls"):
                    text = (text or "") + " [tool calls: " + json.dumps(message["tool_calls"]) + "]"
                lines.append(f"{message['role']}: {text}")
        try:
            summary = llm.complete(
                messages=[
                    {"role": "system", "content": SUMMARY_PROMPT},
                    {"role": "user", "content": "\n".join(lines)},
                ],
                task_id=self.task.id,
                purpose="summary",
            )
        except llm.LLMError:
            logger.warning(
                "Task %s: summarizing failed; sending the whole transcript", self.task.id
            )
            return False
        with transaction.atomic():
            Context.objects.filter(pk=context.pk).update(summary=summary.text)
            TranscriptEntry.objects.filter(pk__in=[e.pk for e in older]).update(summarized=True)
        logger.info("Task %s: folded %d turns into the context summary", self.task.id, len(older))
        return True


def _part_content(part: dict[str, Any]) -> dict[str, Any]:
    """Return a user message part as model content: text, inlined text files, images."""
    if "text" in part:
        return {"type": "text", "text": part["text"]}
    if "data" in part:
        return {"type": "text", "text": "```json\n" + json.dumps(part["data"]) + "\n```"}
    media_type = part.get("mediaType") or ""
    name = part.get("filename") or "a file"
    limit = settings.WEBCAP_MODEL_MAX_FILE_BYTES
    if "url" in part:
        if media_type.startswith("image/") and llm.supports_vision():
            return {"type": "image_url", "image_url": {"url": part["url"]}}
        return {"type": "text", "text": f"[{name} ({media_type or 'file'}) at {part['url']}]"}
    raw = part.get("raw", "")
    if len(raw) * 3 // 4 > limit:
        return {"type": "text", "text": f"[{name} omitted: larger than {limit} bytes]"}
    if media_type.startswith("image/"):
        if llm.supports_vision():
            return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{raw}"}}
        return {"type": "text", "text": f"[image {name} omitted: this model cannot see images]"}
    try:
        data = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_")
        text = data.decode("utf-8")
    except (binascii.Error, ValueError):
        return {"type": "text", "text": f"[{name} ({media_type or 'binary'}) omitted: not text]"}
    return {"type": "text", "text": f"File {name} ({media_type or 'text'}):\n{text}"}
