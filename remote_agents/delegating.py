"""One run of a delegation: start, resume or answer the remote task; end, pause or fail.

Called by the ``delegate`` tool (remote_agents/tools.py) inside a tool call of a parent
task. The first run checks the chain's depth and sends the sub-task; the events are
forwarded by ``Forwarder`` (remote_agents/forwarding.py). A remote question suspends the
call (``ToolSuspended``): the parent's next message is sent to the remote task when the call
runs again. A run after a crash resubscribes after the saved event id; a dropped stream is
resumed the same way a few times, within the agent's timeout. The remote's final answer is
the call's result; every failure is a ToolError that names the agent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings

from a2a.agents.base import TaskRun, TaskStopped
from a2a.client import (
    A2AClientError,
    MalformedResponse,
    NoCompatibleInterface,
    RemoteError,
    TransportError,
    UnsafeURL,
    UnsupportedOperation,
)
from a2a.models import Message, Role, Task
from a2a.protocol import types as wire
from a2a.protocol.states import INTERRUPTED_STATES, state_from_wire
from a2a.protocol.types import Part
from common.sealing import CredentialUnreadable
from remote_agents.delegation import (
    METADATA_KEY,
    TREE_KEY,
    delegation_finish,
    delegation_for_call,
    delegation_start,
    subtasks_clean,
    task_chain,
)
from remote_agents.forwarding import QUESTION, Forwarder, message_id
from remote_agents.models import Delegation, RemoteAgent
from remote_agents.runner import (
    Opening,
    parts_data,
    parts_text,
    remote_stream,
    remote_task_cancel,
    remote_task_get,
)
from tools.registry import CallContext, ToolError, ToolSuspended

logger = logging.getLogger(__name__)

# Resubscribing after a dropped stream: this many times, waiting this long before each.
RESUME_DELAYS = (0.5, 1.0, 2.0)


def _answer(run: TaskRun, delegation: Delegation) -> list[Message]:
    """Return the parent's user messages sent after it asked the delegation's question."""
    asked_at = None
    for message in Message.objects.filter(task_id=run.task_id).order_by("-position"):
        meta = (message.metadata or {}).get(METADATA_KEY) or {}
        if (
            message.role == Role.AGENT
            and meta.get("delegationId") == str(delegation.id)
            and meta.get("kind") == QUESTION
        ):
            asked_at = message.position
            break
    if asked_at is None:
        return []
    return list(
        Message.objects.filter(task_id=run.task_id, role=Role.USER, position__gt=asked_at).order_by(
            "position"
        )
    )


def _opening_message(
    delegation: Delegation, text: str, data: Any, metadata: dict[str, Any]
) -> wire.Message:
    parts = [Part(text=text)]
    if data is not None:
        parts.append(Part(data=data))
    return wire.Message(
        message_id=message_id(delegation, "opening"),
        role=wire.Role.USER,
        parts=parts,
        metadata=metadata,
    )


def _answer_message(delegation: Delegation, answers: list[Message]) -> wire.Message | None:
    # Only text and data travel to the remote: files and URLs the parent's client sent stay
    # here (the remote never asked to be given them).
    parts = [
        Part.model_validate(part)
        for message in answers
        for part in message.parts
        if "text" in part or "data" in part
    ]
    if not parts:
        return None
    return wire.Message(
        message_id=message_id(delegation, f"answer/{answers[-1].message_id}"),
        role=wire.Role.USER,
        task_id=delegation.remote_task_id,
        context_id=delegation.remote_context_id or None,
        parts=parts,
    )


def delegation_run(
    *, call: CallContext, agent: RemoteAgent, text: str, data: Any
) -> dict[str, Any]:
    """Run (or resume) the delegation of call: return its result, or raise ToolError/Suspended."""
    task = Task.objects.select_related("context").get(pk=call.task_id)
    run = TaskRun(task)
    delegation = delegation_for_call(tool_call_id=call.call_id)
    if delegation is None:
        chain = task_chain(task_id=call.task_id)
        depth = chain.depth + 1
        limit = settings.WEBCAP_DELEGATION_MAX_DEPTH
        if depth > limit:
            raise ToolError(
                f"refused: delegating to {agent.name} would make a chain of {depth} "
                f"delegations (origin {chain.origin}); the limit is {limit} "
                "(WEBCAP_DELEGATION_MAX_DEPTH). Answer without delegating."
            )
        delegation = delegation_start(
            task_id=call.task_id, tool_call_id=call.call_id, agent=agent, depth=depth
        )
        opening = Opening(
            message=_opening_message(delegation, text, data, chain.next_hop(str(call.task_id)))
        )
    elif delegation.finished_at is not None:
        return _settled(delegation)
    elif state_from_wire(delegation.state) in INTERRUPTED_STATES:
        answer = _answer_message(delegation, _answer(run, delegation))
        if answer is None:
            # Resumed without an answer for the remote: ask again, and wait again.
            Forwarder(run=run, delegation=delegation).ask(
                wire.TaskStatus(state=delegation.state), delegation.last_event_id or None
            )
            raise ToolSuspended()
        opening = Opening(message=answer)
    elif delegation.remote_task_id:
        opening = Opening(task_id=delegation.remote_task_id, last_event_id=_event_id(delegation))
    else:
        # A crash before the remote named its task: the same message again (same messageId).
        chain = task_chain(task_id=call.task_id)
        opening = Opening(
            message=_opening_message(delegation, text, data, chain.next_hop(str(call.task_id)))
        )
    return _stream(run, delegation, opening)


def _event_id(delegation: Delegation) -> str | None:
    return delegation.last_event_id or None


def _stream(run: TaskRun, delegation: Delegation, opening: Opening) -> dict[str, Any]:
    agent = delegation.remote_agent
    name = agent.name
    forwarder = Forwarder(run=run, delegation=delegation)
    deadline = time.monotonic() + agent.task_timeout_seconds
    resumes = list(RESUME_DELAYS)
    while True:
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TransportError(f"no final answer within {agent.task_timeout_seconds} s")
            remote_stream(agent=agent, opening=opening, handle=forwarder.handle, seconds=remaining)
            break
        except TaskStopped:
            # The parent was canceled (or ended) meanwhile: the remote task was canceled.
            delegation_finish(
                delegation=delegation, state=delegation.state, error="the parent task ended"
            )
            raise ToolError(f"{name}: the task was canceled") from None
        except UnsupportedOperation as exc:
            if opening.message is not None or not delegation.remote_task_id:
                _fail(delegation, f"{name} refused the message (unsupported operation): {exc}")
            # A resubscription to a task that ended while nobody listened (a crash): read how
            # it ended, and give the parent its artifacts whole (the chunks it missed).
            forwarder.final = _get_or_fail(delegation)
            forwarder.whole(forwarder.final)
            break
        except TransportError as exc:
            if delegation.remote_task_id and resumes and deadline - time.monotonic() > 1:
                delay = resumes.pop(0)
                logger.warning(
                    "Delegation %s: the stream from %s broke (%s); resuming in %.1f s",
                    delegation.id,
                    name,
                    exc,
                    delay,
                )
                time.sleep(delay)
                opening = Opening(
                    task_id=delegation.remote_task_id, last_event_id=_event_id(delegation)
                )
                continue
            if delegation.remote_task_id:
                _cancel_quietly(delegation)
            _fail(delegation, f"{name} could not be reached or did not answer in time: {exc}")
        except MalformedResponse as exc:
            _fail(delegation, f"{name} answered something that is not valid A2A: {exc}")
        except (UnsafeURL, NoCompatibleInterface) as exc:
            _fail(delegation, f"{name} cannot be called: {exc}")
        except RemoteError as exc:
            _fail(delegation, f"{name} refused the request: {exc}")
        except CredentialUnreadable as exc:
            _fail(delegation, f"{name}: its stored credential cannot be read: {exc}")
        except A2AClientError as exc:
            _fail(delegation, f"{name} failed: {exc}")
    if forwarder.asked:
        raise ToolSuspended()
    return _result(delegation, forwarder)


def _fail(delegation: Delegation, error: str) -> None:
    delegation_finish(delegation=delegation, state=delegation.state, error=error)
    raise ToolError(error)


def _cancel_quietly(delegation: Delegation) -> None:
    try:
        remote_task_cancel(agent=delegation.remote_agent, task_id=delegation.remote_task_id)
    except Exception as exc:
        logger.warning("Delegation %s: CancelTask failed: %s", delegation.id, exc)


def _get_or_fail(delegation: Delegation) -> wire.Task:
    try:
        return remote_task_get(agent=delegation.remote_agent, task_id=delegation.remote_task_id)
    except A2AClientError as exc:
        _fail(delegation, f"{delegation.remote_agent.name} failed: {exc}")
        raise  # unreachable: _fail raises


def _settled(delegation: Delegation) -> dict[str, Any]:
    """The result of a delegation that ended before the call stored it (a crash between)."""
    if delegation.error:
        raise ToolError(delegation.error)
    forwarder = Forwarder(run=TaskRun(delegation.parent_task), delegation=delegation)
    forwarder.final = _get_or_fail(delegation)
    return _result(delegation, forwarder)


def _result(delegation: Delegation, forwarder: Forwarder) -> dict[str, Any]:
    """Return the tool result of an ended remote task, or raise a ToolError naming the agent."""
    name = delegation.remote_agent.name
    limit = settings.WEBCAP_DELEGATION_RESULT_CHARS
    if forwarder.reply is not None and forwarder.final is None:
        text = parts_text(forwarder.reply.parts)
        delegation_finish(delegation=delegation, state="TASK_STATE_COMPLETED")
        return {
            "agent": name,
            "state": "completed",
            "text": text[:limit],
            "data": parts_data(forwarder.reply.parts),
        }
    final = forwarder.final
    if final is None:
        _fail(delegation, f"{name} closed its stream without a final answer")
        raise AssertionError  # unreachable: _fail raises
    state = str(final.status.state)
    said = parts_text(final.status.message.parts if final.status.message else None).strip()
    stored = state_from_wire(state)
    if stored != "completed":
        _fail(
            delegation,
            f"{name}'s task {delegation.remote_task_id} ended {stored or state}"
            + (f": {said}" if said else " without saying why"),
        )
    if final.artifacts is None:
        # A stream that ended with a status: the task itself has every artifact whole, also
        # the chunks a run before a crash forwarded.
        try:
            final = remote_task_get(agent=delegation.remote_agent, task_id=final.id)
        except A2AClientError as exc:
            logger.info("Delegation %s: GetTask after the end failed: %s", delegation.id, exc)
    artifacts: dict[str, list[wire.Part]] = dict(forwarder.chunks)
    for artifact in final.artifacts or []:
        artifacts[artifact.artifact_id] = list(artifact.parts)
    texts = [parts_text(parts) for parts in artifacts.values()]
    text = "\n".join(t for t in [*texts, said] if t)
    data = [value for parts in artifacts.values() for value in parts_data(parts)]
    # The remote's own delegations (a webcap lists them in its task's metadata): the tree.
    subtasks = subtasks_clean((final.metadata or {}).get(TREE_KEY))
    delegation_finish(delegation=delegation, state=state, subtasks=subtasks)
    result: dict[str, Any] = {
        "agent": name,
        "state": "completed",
        "remoteTaskId": delegation.remote_task_id,
        "text": text[:limit] + (" [truncated]" if len(text) > limit else ""),
    }
    if data:
        result["data"] = data[:50]
    return result
