"""The assistant's loop: one short step of a task per job, decided from stored rows.

The assistant is a state machine over stored rows, not a coroutine that waits. Each job
does one short step, decided from the database alone, and asks for the next one (CONTINUE):

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
from typing import Any

from django.conf import settings

from a2a.agents.base import StepResult, TaskRun
from a2a.models import Context, Message, Role, Task, TaskState
from assistant import llm
from assistant.decisions import approval_prompt, is_decision
from assistant.outcomes import outcome_part
from assistant.services import (
    assistant_turn_store,
    context_summary_store,
    transcript_user_messages_add,
)
from tools.models import Decision, EntryRole, ToolCall, ToolCallStatus, TranscriptEntry
from tools.registry import tools_available
from tools.runs import tool_calls_recover, tool_calls_run
from tools.services import RequestedCall, tool_calls_pending

logger = logging.getLogger(__name__)

SUMMARY_PROMPT = (
    "Summarize the conversation so far for your own later use: the user's goals, facts "
    "learned, tool results that matter, and open questions. Be brief and factual."
)
# Stream text in chunks of about this many characters, or at least this often (seconds).
FLUSH_CHARS = 48
FLUSH_SECONDS = 0.25


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
            self._complete()
            return StepResult.DONE
        turns = TranscriptEntry.objects.filter(task=self.task, role=EntryRole.ASSISTANT).count()
        if turns >= settings.WEBCAP_AGENT_MAX_STEPS:
            self._fail(f"Stopped after {turns} model turns without a final answer.")
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
        # Only the message that opened the task: the follow-ups answer approval prompts (the
        # only question this agent asks), and what they decide reaches the model as the
        # calls' results, with the reasons (AssistantAgent.on_follow_up).
        opening = Message.objects.filter(task=self.task, role=Role.USER).order_by("position")[:1]
        fresh = [
            m for m in opening if m.pk not in known and any(not is_decision(p) for p in m.parts)
        ]
        if not fresh:
            return
        transcript_user_messages_add(task=self.task, messages=fresh)

    def _ask(self, pending: list[ToolCall]) -> None:
        self.run_.input_required(parts=approval_prompt(pending))

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
            self._fail(str(exc))
            return StepResult.DONE
        writer.close()
        requested = [
            RequestedCall(llm_call_id=c.id, name=c.name, arguments=c.arguments)
            for c in completion.tool_calls
        ]
        assistant_turn_store(task=self.task, text=completion.text, requested=requested)
        if requested:
            return StepResult.CONTINUE
        self._complete()
        return StepResult.DONE

    # --- Endings: the status message carries the outcome (assistant/outcomes.py) -------------

    def _complete(self) -> None:
        self.run_.complete(parts=[outcome_part(task=self.task, completed=True)])

    def _fail(self, text: str) -> None:
        self.run_.fail(parts=[{"text": text}, outcome_part(task=self.task, completed=False)])

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
            if is_decision(part):
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
        context_summary_store(context=context, summary=summary.text, folded=older)
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


def tool_result_message(call: ToolCall) -> dict[str, Any]:
    """Return what the model reads back for a finished call: its result or its error."""
    if call.status == ToolCallStatus.SUCCESS:
        payload: dict[str, Any] = {"result": call.result}
    elif call.decision == Decision.REJECTED:
        # Nobody decided a call refused by WEBCAP_TOOL_ROLES: the owner may not run the tool.
        refused = call.decided_at is None
        payload = {
            "error": f"{call.tool} is not allowed for this user"
            if refused
            else f"{call.tool} was not approved",
            "rejected": True,
            "reason": call.decision_reason or "no reason given",
        }
    else:
        payload = {"error": call.error or call.status}
    return {
        "role": "tool",
        "tool_call_id": call.llm_call_id,
        "content": json.dumps(payload, ensure_ascii=False, default=str),
    }
